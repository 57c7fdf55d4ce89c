"""safejson in a process with a raised recursion limit (moved from tests/unit: it starts a process)."""

from __future__ import annotations

import subprocess
import sys


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
