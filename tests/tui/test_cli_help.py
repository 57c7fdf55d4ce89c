"""`swarmdeck --help` and every sub-command's --help in the user's language (tui/cli_help.py).

In-process for the whole parser tree (fast); the real `python -m tui` in a subprocess for the top level
and two sub-commands under LANG=ru_RU.UTF-8 and C.UTF-8."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

import pytest

from tui import cli, cli_help
from tui.model import i18n
from tui.model.i18n import load_catalog

WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:[.\-/@][A-Za-z0-9_]+)*")
# Names that stay as they are in Russian: products, protocols, file names, values the user types.
NAMES = {
    "AES-256-GCM", "CUDA", "Ctrl-C", "DHT", "EVM", "GPU", "GPU/CPU", "HTTP", "Host", "Hugging", "Face", "IPv4",
    "JSON", "OOM", "Prometheus", "QR", "README.md", "RL", "RPC", "SSH", "TCP", "anvil", "apprise", "auto", "bak",
    "docs", "env", "gensyn-testnet", "hex", "install/build", "local", "loopback", "modal-login",
    "modal-login/temp-data", "myswarm", "networks.NAME", "poll_seconds", "rl-swarm", "scrypt", "ssh/config",
    "stdin", "swarm.pem", "swarm.pem.replaced-TIME", "swarmdeck", "swarmdeck-metrics.service",
    "swarmdeck-fleet-watch.service", "systemd", "tmux", "torch", "userApiKey.json", "userData.json",
    "config.toml", "config.example.toml", "yarn", "NAME-node", "user", "bit", "modal", "ssh", "rl",
}


def walk(parser: argparse.ArgumentParser):
    yield parser
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for child in a.choices.values():
                yield from walk(child)


def allowed_words(parser: argparse.ArgumentParser) -> set[str]:
    """Command names, option flags, metavars, dests and choices: the parts a user types, never translated."""
    out = set(NAMES)
    for p in walk(parser):
        out |= set(WORD.findall(p.prog))
        for a in p._actions:
            for s in a.option_strings:
                out.add(s.lstrip("-"))
            for v in (a.dest, a.metavar, *(a.choices or ())):
                if isinstance(v, str):
                    out |= set(WORD.findall(v))
    return out


def english_left(text: str, allowed: set[str]) -> list[str]:
    return sorted({w for w in WORD.findall(text) if w not in allowed and not w.isupper()})


@pytest.fixture
def language():
    yield i18n.set_language
    i18n.set_language("en")


def test_every_help_text_has_its_key_and_the_english_entry_is_the_code_text(language):
    language("en")
    en, ru = load_catalog("en"), load_catalog("ru")
    found = list(cli_help.texts(cli.build_parser()))
    assert len(found) > 150
    wrong = {key: (getattr(owner, attr), en.get(key)) for key, owner, attr in found if en.get(key) != getattr(owner, attr)}
    assert wrong == {}, "a help text changed in the code: update its [cli.help] entry in en.toml and ru.toml"
    assert [key for key, _, _ in found if key not in ru] == []
    keys = {key for key, _, _ in found}
    stale = sorted(k for k in en if k.startswith(cli_help.PREFIX) and k not in keys)
    assert stale == [], "[cli.help] keys no parser uses any more"


def test_every_parser_help_is_russian(language):
    language("ru")
    parser = cli.build_parser()
    allowed = allowed_words(parser)
    left = {p.prog: english_left(p.format_help(), allowed) for p in walk(parser)}
    assert {prog: words for prog, words in left.items() if words} == {}
    assert "использование:" in parser.format_help() and "показать эту справку и выйти" in parser.format_help()


def test_english_help_is_the_code_text(language):
    language("en")
    parser = cli.build_parser()
    text = parser.format_help()
    assert text.startswith("usage: swarmdeck") and "show this help message and exit" in text
    assert "options:" in text and "show program's version number and exit" in text
    assert not re.search(r"[а-яА-Я]", "".join(p.format_help() for p in walk(parser)))


def swarmdeck(*argv: str, lang: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LANG": lang}
    env.pop("LC_ALL", None)
    env.pop("LC_MESSAGES", None)
    return subprocess.run([sys.executable, "-m", "tui", *argv], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("argv", [["--help"], ["profile", "new", "--help"], ["identity", "backup", "--help"]])
def test_the_real_command_prints_help_in_the_locale_language(argv, language):
    language("en")
    allowed = allowed_words(cli.build_parser())
    ru = swarmdeck(*argv, lang="ru_RU.UTF-8")
    assert ru.returncode == 0, ru.stderr
    assert ru.stdout.startswith("использование: swarmdeck") and "параметры:" in ru.stdout
    assert "показать эту справку и выйти" in ru.stdout
    assert english_left(ru.stdout, allowed) == []
    en = swarmdeck(*argv, lang="C.UTF-8")
    assert en.returncode == 0 and en.stdout.startswith("usage: swarmdeck") and "options:" in en.stdout
    assert "show this help message and exit" in en.stdout and not re.search(r"[а-яА-Я]", en.stdout)


def test_a_usage_error_is_russian_too():
    ru = swarmdeck("profile", "bogus", lang="ru_RU.UTF-8")
    assert ru.returncode == 2
    assert "ошибка:" in ru.stderr and "недопустимый выбор: 'bogus'" in ru.stderr
    en = swarmdeck("profile", "bogus", lang="C.UTF-8")
    assert en.returncode == 2 and "error:" in en.stderr and "invalid choice: 'bogus'" in en.stderr


def test_argparse_counted_messages_go_through_the_catalog(language):
    language("ru")
    p = argparse.ArgumentParser(prog="x")
    cli_help.install_argparse_gettext()
    p.add_argument("--pair", nargs=2)
    with pytest.raises(SystemExit), __import__("contextlib").redirect_stderr(__import__("io").StringIO()) as err:
        p.parse_args(["--pair", "a"])
    assert "ожидается аргументов: 2" in err.getvalue()
