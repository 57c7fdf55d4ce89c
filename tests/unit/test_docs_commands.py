"""Every `swarmdeck …` command line shown in README.md and docs/ still exists: each is parsed by the real
argument parser (tui.cli.build_parser), so a renamed command or a removed option fails here.

Lines come from fenced code blocks (`$ ` prompts and env prefixes allowed) and from inline code spans.
The docs' notation is expanded before parsing: `[-p NAME]` (optional: parsed with it), `a|b` and
`restart | stop` (each alternative parsed), `...` / `…` (dropped), `# comments`, `&&` chains. Placeholders
of numbers (N, PORT) become numbers, COMMAND every command; other placeholders are parsed as the strings they are.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from tui.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
NUMBERS = {"N": "1", "PORT": "3000", "MINUTES": "1", "SECONDS": "1"}
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]*(?:\n[^`\n]*)?)`")


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _is_swarmdeck(tok: str) -> bool:
    return tok == "swarmdeck" or tok.endswith("/swarmdeck")


def command_lines(text: str) -> list[str]:
    """The `swarmdeck …` commands a markdown text shows (each as written, comment stripped)."""
    out: list[str] = []
    for block in FENCE.findall(text):
        lines = re.sub(r"\\\n\s*", " ", block).splitlines()  # shell line continuations joined
        if any(ln.startswith("$ ") for ln in lines):  # a session: the prompts are commands, the rest output
            lines = [ln for ln in lines if ln.startswith("$ ")]
        for line in lines:
            out += _commands_in(line)
    prose = FENCE.sub("", text)
    for span in INLINE.findall(prose):
        out += _commands_in(" ".join(span.split()))
    return out


def _commands_in(line: str) -> list[str]:
    line = re.sub(r"^\s*\$\s+", "", line)
    line = re.sub(r"\s#.*$", "", line) if not line.lstrip().startswith("#") else ""
    found = []
    for part in re.split(r"&&|;", line):
        words = part.split()
        for i, w in enumerate(words):
            if _is_swarmdeck(w):
                found.append(" ".join(["swarmdeck", *words[i + 1:]]))
                break
    return found


def variants(cmd: str, commands: set[str]) -> list[list[str]]:
    """argv lists to parse for one documented line."""
    # `swarmdeck restart | stop | stop --now`: alternatives that are commands; `| head` is a shell pipe
    segs = [s.strip() for s in re.split(r"\s\|\s", cmd)]
    lines = [segs[0]] + [f"swarmdeck {s}" for s in segs[1:] if s.split() and s.split()[0] in commands]
    out = []
    for line in lines:
        line = line.replace("[", " ").replace("]", " ")
        try:
            toks = shlex.split(line)
        except ValueError:
            toks = line.split()
        toks = [NUMBERS.get(t, t) for t in toks[1:] if t not in ("...", "…")]
        alts = [i for i, t in enumerate(toks) if "|" in t and not t.startswith(("'", '"'))]
        if "COMMAND" in toks:  # `swarmdeck COMMAND --help`: every command
            out += [[c if t == "COMMAND" else t for t in toks] for c in sorted(commands)]
            continue
        if not alts:
            out.append(toks)
        for i in alts:  # each alternative of each a|b token (the others at their first)
            for choice in toks[i].split("|"):
                out.append([(choice if j == i else (t.split("|")[0] if j in alts else t)) for j, t in enumerate(toks)])
    return out


def parse_error(argv: list[str]) -> str | None:
    """None when the real parser accepts argv (or prints --help), else its message."""
    parser = build_parser()
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
    except SystemExit as e:
        if e.code not in (0, None):
            return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else f"exit {e.code}"
    return None


def _top_commands() -> set[str]:
    p = build_parser()
    [sub] = [a for a in p._actions if a.dest == "command"]
    return set(sub.choices)


def test_docs_show_commands_at_all():
    found = {f.name: command_lines(f.read_text(encoding="utf-8")) for f in doc_files()}
    assert sum(len(v) for v in found.values()) > 60, found  # the extraction itself works
    for name in ("running-nodes.md", "hosting.md", "operators.md", "configuration.md"):
        assert found[name], f"docs/{name} shows no swarmdeck command"


def test_every_documented_command_line_parses():
    commands = _top_commands()
    bad = []
    for f in doc_files():
        for cmd in command_lines(f.read_text(encoding="utf-8")):
            for argv in variants(cmd, commands):
                msg = parse_error(argv)
                if msg:
                    bad.append(f"{f.relative_to(ROOT)}: `{cmd}` -> swarmdeck {' '.join(argv)}: {msg}")
    assert not bad, "documented command lines the parser refuses:\n" + "\n".join(bad)


@pytest.mark.parametrize("text", ["```sh\nswarmdeck frobnicate --now\n```\n",
                                  "Use `swarmdeck status --no-such-option` to see.\n",
                                  "```\n$ swarmdeck start | stop --never\n```\n"])
def test_the_check_catches_a_line_that_no_longer_exists(text):
    commands = _top_commands()
    cmds = command_lines(text)
    assert cmds
    assert any(parse_error(argv) for c in cmds for argv in variants(c, commands))
