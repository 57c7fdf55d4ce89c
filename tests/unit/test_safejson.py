"""Deeply nested JSON from outside is a clean error, never a segfault (even with a raised recursion limit)."""

import subprocess
import sys

import pytest

from core.base import safejson


def test_deep_nesting_is_refused_and_strings_do_not_count():
    with pytest.raises(safejson.TooDeep):
        safejson.loads("[" * 65 + "]" * 65)
    assert safejson.loads('{"s": "' + "[" * 500 + '", "a": [[1]]}')["a"] == [[1]]
    assert safejson.loads(b'{"x": 1}') == {"x": 1}


def test_hostile_bodies_do_not_crash_a_process_with_a_raised_recursion_limit(tmp_path):
    # py_ecc (a web3 dependency) raises the limit to 10000; plain json.loads would segfault here.
    code = (
        "import sys; sys.setrecursionlimit(3000000)\n"
        "from core.base import safejson; import core.supervisor as control; from core.identity import files as identity\n"
        "from pathlib import Path\n"
        "deep = '[' * 1000000 + ']' * 1000000\n"
        "try:\n    safejson.loads(deep)\nexcept safejson.TooDeep:\n    pass\n"
        "try:\n    control.parse_request(('[' * 30000 + ']' * 30000).encode())\nexcept control.ProtocolError as e:\n    assert e.code == 'bad_json'\n"
        f"d = Path({str(tmp_path)!r}); (d / 'userApiKey.json').write_text(deep); (d / 'userData.json').write_text('{{\"org\": {{\"orgId\": \"org\", \"address\": \"0x1\"}}}}')\n"
        "try:\n    identity.read_login(d)\nexcept Exception as e:\n    assert type(e).__name__ == 'IdentityError', e\n"
        "print('survived')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "survived" in out.stdout, out.stderr[-2000:]
