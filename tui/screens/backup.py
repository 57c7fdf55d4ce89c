"""Identity backup warning: why it matters (as the seed explains), back up, verify, remind later.

Also shows duplicate identities across profiles and identity files with loose permissions.
Passphrases live only in the two password inputs and are cleared after every attempt.
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static

from tui.model.i18n import error_text, t
from tui.widgets.common import translate_bindings


class BackupScreen(Screen[str]):
    """Dismisses with 'verified' or 'later'."""

    AUTO_FOCUS = "#pass1"  # Textual focuses it on activation (a query in on_mount raced an app closing)
    BINDINGS = [
        Binding("escape", "later", "keys.remind_later"),
        # priority: the focused Input binds several ctrl keys for editing
        Binding("ctrl+b", "backup", "keys.backup_now", priority=True),
        Binding("ctrl+k", "verify", "keys.verify", priority=True),
        Binding("ctrl+f", "fix_perms", "keys.fix_perms", priority=True),
    ]

    def __init__(self, profile: str):
        super().__init__()
        translate_bindings(self)
        self.profile = profile
        self.result_state = "later"

    def compose(self) -> ComposeResult:
        be = self.app.backend
        with VerticalScroll(id="backup"):
            yield Static(t("backup.title", name=self.profile), classes="dialog-title")
            yield Static(t("backup.explain"), id="explain")
            yield Static("", id="backup-state")
            yield Static("", id="backup-result")
            yield Static("", id="identity-warnings", classes="warnings")
            with Horizontal(classes="field"):
                yield Label(t("backup.path"))
                yield Input(value=be.default_backup_path(self.profile, now=self.app.now()), id="path")
            with Horizontal(classes="field"):
                yield Label(t("backup.passphrase"))
                yield Input(password=True, id="pass1")
            with Horizontal(classes="field"):
                yield Label(t("backup.passphrase_again"))
                yield Input(password=True, id="pass2")
            with Horizontal(classes="buttons"):
                yield Button(t("backup.do_backup"), id="do-backup", variant="primary")
                yield Button(t("backup.do_verify"), id="do-verify")
                yield Button(t("backup.later"), id="later")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_state()

    def refresh_state(self) -> None:
        """The backup record, shared identities and loose permissions, read in a worker (parsing every
        swarm.pem costs tens of ms) and drawn when they arrive."""
        self._read_state()

    @work(thread=True, exclusive=True, group="backup-state")
    def _read_state(self) -> None:
        be = self.app.backend
        at = be.backup_verified_at(self.profile)
        dups = [d.what for d in be.duplicates() if self.profile in d.profiles]
        perms = be.permission_problems(self.profile)
        self.app.call_from_thread(self._draw_state, at, dups, perms)

    def _draw_state(self, at: str | None, dups: list[str], perms: list[str]) -> None:
        st = self.query_one("#backup-state", Static)
        if at:
            st.update(Text("✔ " + t("backup.verified_at", at=at), style="bold green"))
        else:
            st.update(Text("⚠ " + t("backup.none"), style="bold yellow"))
        warns = [t("warn.duplicate", what=what) for what in dups]
        if perms:
            warns.append(t("backup.perms", files="; ".join(perms)))
        w = self.query_one("#identity-warnings", Static)
        w.update("\n".join("⚠ " + x for x in warns))
        w.display = bool(warns)

    def _say(self, msg: str, ok: bool) -> None:
        self.query_one("#backup-result", Static).update(
            Text(("✔ " if ok else "✗ ") + msg, style="bold green" if ok else "bold red"))

    def _take_passphrases(self) -> tuple[str, str]:
        p1, p2 = self.query_one("#pass1", Input), self.query_one("#pass2", Input)
        a, b = p1.value, p2.value
        p1.value = p2.value = ""
        return a, b

    def action_backup(self) -> None:
        a, b = self._take_passphrases()
        if not a:
            self._say(t("backup.err_empty"), False)
            self.query_one("#pass1", Input).focus()
            return
        if a != b:
            self._say(t("backup.err_mismatch"), False)
            self.query_one("#pass1", Input).focus()  # both fields are cleared: type it again from the first
            return
        self._say(t("backup.working"), True)
        self._run("backup", self.query_one("#path", Input).value.strip(), a)

    def action_verify(self) -> None:
        a, _ = self._take_passphrases()
        if not a:
            self._say(t("backup.err_empty"), False)
            return
        self._say(t("backup.working"), True)
        self._run("verify", self.query_one("#path", Input).value.strip(), a)

    @work(thread=True, exclusive=True, group="backup")
    def _run(self, what: str, path: str, passphrase: str) -> None:
        be = self.app.backend
        try:
            if what == "backup":
                path = be.backup(self.profile, self._fresh_name(path), passphrase)
            # a backup only counts once it decrypts and matches: verify right after writing it
            be.verify(self.profile, path, passphrase)
        except Exception as e:
            self.app.call_from_thread(self._say, error_text(e), False)
            return
        finally:
            passphrase = ""
        self.result_state = "verified"
        key = "backup.done" if what == "backup" else "backup.verified"
        self.app.call_from_thread(self._say, t(key, path=path), True)

        self.app.call_from_thread(self.refresh_state)

    def _fresh_name(self, path: str) -> str:
        """A second backup with the proposed (timestamped) name kept: a new timestamp, never the existing
        file (a backup never overwrites). A name the user typed is left as it is (and refused if it exists).
        Runs in the worker: it looks at the disk."""
        p = Path(path).expanduser()
        if not p.exists() or not re.fullmatch(rf"swarmdeck-{re.escape(self.profile)}-\d{{8}}T\d{{6}}Z(-\d+)?\.sdbackup",
                                                p.name):
            return path
        fresh = Path(self.app.backend.default_backup_path(self.profile)).expanduser().name
        out, n = p.with_name(fresh), 1
        while out.exists():
            n += 1
            out = p.with_name(fresh.replace(".sdbackup", f"-{n}.sdbackup"))
        self.app.call_from_thread(setattr, self.query_one("#path", Input), "value", str(out))
        return str(out)

    def action_fix_perms(self) -> None:
        self._fix_perms()

    @work(thread=True, exclusive=True, group="backup-fix")
    def _fix_perms(self) -> None:
        n = self.app.backend.fix_permissions(self.profile)
        self.app.call_from_thread(self._say, t("backup.perms_fixed", n=n), True)
        self.app.call_from_thread(self.refresh_state)

    def action_later(self) -> None:
        self.dismiss(self.result_state)

    def on_button_pressed(self, ev: Button.Pressed) -> None:
        {"do-backup": self.action_backup, "do-verify": self.action_verify, "later": self.action_later}[ev.button.id]()

    def on_input_submitted(self, ev: Input.Submitted) -> None:
        if ev.input.id == "pass1":
            self.query_one("#pass2", Input).focus()
        elif ev.input.id == "pass2":
            self.action_backup()
