"""json.loads for text that did not come from us (peers, HTTP bodies, socket lines, user files).

Why: CPython's C JSON scanner recurses once per nesting level and only stops at the
interpreter's recursion limit. Libraries we load raise that limit (py_ecc, pulled in by web3,
sets 10000; torch._dynamo raises it too), so a 16 KiB body of "[[[[..." overflows the C stack
and the whole process dies with a segfault (seen in this project's test run) instead of a
clean error. Nesting is checked first, on the text with string literals removed.
"""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_MAX_DEPTH = 64

_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET_RE = re.compile(r"[\[\]{}]")


class TooDeep(ValueError):
    pass


def without_strings(text: str) -> str:
    """The JSON text's structure: string literals removed."""
    return _STRING_RE.sub("", text)


def check_depth(text: str, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Raise TooDeep when JSON text nests deeper than max_depth (cheap: no parsing)."""
    depth = 0
    for m in _BRACKET_RE.finditer(without_strings(text)):
        if m.group() in "[{":
            depth += 1
            if depth > max_depth:
                raise TooDeep(f"JSON nested deeper than {max_depth} levels")
        else:
            depth -= 1


def loads(text: str | bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """json.loads that refuses deep nesting with TooDeep (a ValueError, like JSONDecodeError)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    check_depth(text, max_depth)
    return json.loads(text)
