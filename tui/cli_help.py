"""`swarmdeck --help` in the user's language.

The parsers in tui/commands/*.py keep their English help texts in the code (they read well there and
`swarmdeck --help` in English is exactly what they say); this module gives each text a catalog key
from its place in the parser tree and, once the tree is built, swaps it for the current language's
entry. Keys (tui/i18n/<lang>.toml, section [cli.help]):
    <path>.description / <path>.epilog      a parser's own texts (path: "swarmdeck", "profile.new", ...)
    <path>.about                            the one-line help of a sub-command in its parent's list
    <path>.arg_<dest>                       an argument's help
    profile_option                          the `-p/--profile` help every command repeats
argparse's own words ("usage: ", "options", "show this help message and exit", its error messages)
are looked up through argparse's gettext hook by their English text in [cli.argparse].
tests/tui/test_cli_help.py checks that every text in the tree has its key and that the English
entry is the text in the code (so a changed help text cannot silently keep an old translation).
"""

from __future__ import annotations

import argparse
from typing import Iterator

from core.base import i18n as core_i18n

PREFIX = "cli.help."
ARGPARSE_PREFIX = "cli.argparse."
PROFILE_HELP = "profile to act on (default: the current profile)"


def _argparse_gettext(message: str) -> str:
    """argparse's `_()`: its English message -> the current language's catalog entry (same %-fields)."""
    key = _argparse_keys().get(message)
    if key is None:
        return message
    tr = core_i18n.current()
    return tr(key) if tr.has(key) else message


_reverse: tuple[int, dict[str, str]] = (0, {})


def _argparse_keys() -> dict[str, str]:
    """{English text: key} of [cli.argparse], rebuilt only when the catalog is reloaded."""
    global _reverse
    cat = core_i18n.load_catalog(core_i18n.DEFAULT_LANGUAGE)
    if _reverse[0] != id(cat):
        _reverse = (id(cat), {v: k for k, v in cat.items() if k.startswith(ARGPARSE_PREFIX)})
    return _reverse[1]


def _argparse_ngettext(singular: str, plural: str, n: int) -> str:
    return _argparse_gettext(singular if n == 1 else plural)


def install_argparse_gettext() -> None:
    """Route argparse's built-in words through the catalog; call before any parser is built (the -h
    help text is fixed when a parser is created)."""
    argparse._ = _argparse_gettext  # argparse looks `_` up in its module globals on every call
    argparse.ngettext = _argparse_ngettext


def texts(parser: argparse.ArgumentParser, path: str = "swarmdeck") -> Iterator[tuple[str, object, str]]:
    """(key, owner, attribute) for every translatable text in the tree under `parser`."""
    if parser.description:
        yield PREFIX + path + ".description", parser, "description"
    if parser.epilog:
        yield PREFIX + path + ".epilog", parser, "epilog"
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            pseudo = {c.dest: c for c in a._choices_actions}
            for name, child in a.choices.items():
                sub = name if path == "swarmdeck" else f"{path}.{name}"
                if name in pseudo and pseudo[name].help:
                    yield PREFIX + sub + ".about", pseudo[name], "help"
                yield from texts(child, sub)
        elif a.help and a.help is not argparse.SUPPRESS and not isinstance(
                a, (argparse._HelpAction, argparse._VersionAction)):
            if a.dest == "profile" and a.help == PROFILE_HELP:
                yield PREFIX + "profile_option", a, "help"
            else:
                yield PREFIX + f"{path}.arg_{a.dest}", a, "help"


def translate(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Swap every help text for the current language's catalog entry (English: the same words)."""
    tr = core_i18n.current()
    if tr.lang == core_i18n.DEFAULT_LANGUAGE:
        return parser
    _translate_version_help(parser)
    for key, owner, attr in texts(parser):
        if tr.has(key):
            setattr(owner, attr, tr(key))
    return parser


def _translate_version_help(parser: argparse.ArgumentParser) -> None:
    """--version's help is a default argument of argparse's _VersionAction, not passed through `_()`."""
    for a in parser._actions:
        if isinstance(a, argparse._VersionAction) and a.help:
            a.help = _argparse_gettext(a.help)
