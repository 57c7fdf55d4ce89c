"""Deeply nested JSON from outside is a clean error, never a segfault (even with a raised recursion limit)."""

import pytest

from core.base import safejson


def test_deep_nesting_is_refused_and_strings_do_not_count():
    with pytest.raises(safejson.TooDeep):
        safejson.loads("[" * 65 + "]" * 65)
    assert safejson.loads('{"s": "' + "[" * 500 + '", "a": [[1]]}')["a"] == [[1]]
    assert safejson.loads(b'{"x": 1}') == {"x": 1}
