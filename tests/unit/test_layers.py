"""core/ never imports textual or tui (a headless node, supervisor or CLI must run without the UI).

.importlinter enforces all the layers (`just test` runs lint-imports first); this keeps the most
important rule inside pytest too, by reading every import statement, those inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
FORBIDDEN = ("textual", "tui")


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def test_core_never_imports_textual_or_tui():
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 50  # the walk found the package
    bad = [f"{p.relative_to(CORE.parent)}:{line}: import {mod}" for p in files for line, mod in _imports(p)
           if mod.split(".")[0] in FORBIDDEN]
    assert not bad, "core must not depend on the UI:\n" + "\n".join(bad)


def test_the_check_sees_a_lazy_import(tmp_path):
    # the test above must be able to fail: an import inside a function is found too
    p = tmp_path / "m.py"
    p.write_text("def f():\n    from textual.app import App\n    return App\n")
    assert _imports(p) == [(2, "textual.app")]
