"""The UI thread never waits on I/O: message and timer handlers do no file or socket I/O and each
returns within a frame (16 ms), with 4 profiles refreshing, switching tabs and opening the switcher.

An audit hook (sys.addaudithook) records I/O events raised on the main thread while any handler
runs (Textual's message dispatch and timer callbacks, ours included); swarmdeck's own handlers
are timed in UI-thread CPU time, which a loaded machine does not inflate. Textual's own work
(layout, repaint) is reported, not asserted. Workers run in their own threads and may do I/O."""

from __future__ import annotations

import functools
import inspect
import statistics
import sys
import threading
import time

import pytest
import textual.timer
from textual.message_pump import MessagePump

from core.identity import files as identity
from core.base.paths import ProfilePaths
from tests.helpers.tui import FrozenTelemetry, flat_text, node_history, until, write_events
from tui.app import SwarmdeckApp, make_app
from tui.backend import CoreBackend
from tui.screens.backup import BackupScreen
from tui.screens.dialogs import ConfirmScreen, SwitcherScreen
from tui.screens.login import LoginScreen
from tui.screens.main import MainScreen
from tui.widgets.dashboard import ProfileDashboard

FRAME_S = 0.016
WATCHED = {"open", "socket.connect", "socket.bind", "os.listdir", "os.scandir", "os.remove", "os.rename",
           "subprocess.Popen", "os.system", "shutil.copyfile", "os.mkdir"}


class Audit:
    """Handler timings and main-thread I/O events raised inside handlers, while `on`."""

    def __init__(self) -> None:
        self.on = False
        self.depth = 0
        self.current = ""
        self.times: list[tuple[float, str]] = []
        self.wall: list[float] = []
        self.io: list[tuple[str, str, str]] = []
        self.main = threading.main_thread()

    def hook(self, event: str, args) -> None:
        if self.on and self.depth and event in WATCHED and threading.current_thread() is self.main:
            self.io.append((self.current, event, repr(args[:1])[:120]))

    def timed(self, name: str):
        audit = self

        class Span:
            def __enter__(self):
                self.prev = audit.current
                audit.depth += 1
                audit.current = name
                self.t0, self.c0 = time.perf_counter(), time.thread_time()

            def __exit__(self, *exc):
                # CPU time of the UI thread: what the handler costs, whatever else loads the machine
                # (blocking waits cost no CPU time; the audit hook catches the I/O behind them)
                dt = time.thread_time() - self.c0
                audit.wall.append(time.perf_counter() - self.t0)
                audit.depth -= 1
                audit.current = self.prev
                if audit.on:
                    audit.times.append((dt, name))

        return Span()


def _timed(fn, label: str, out: list):
    @functools.wraps(fn)
    def wrapper(*args, **kw):
        c0 = time.thread_time()
        try:
            with AUDIT.timed(label):
                return fn(*args, **kw)
        finally:
            if AUDIT.on:
                out.append((time.thread_time() - c0, label))

    return wrapper


AUDIT = Audit()
sys.addaudithook(AUDIT.hook)  # hooks cannot be removed: this one only records while AUDIT.on


async def test_ui_thread_handlers_do_no_io_and_fit_a_frame(profiles, monkeypatch):
    names = profiles("main", "gpu1", "gpu2", "gpu3")
    for n in names:
        write_events(n, node_history(6))
        d = ProfilePaths(n).identity_dir
        identity.write_user_data(d, f"org-{n}", "0xA", "u", f"{n}@example.org")
        identity.append_user_api_key(d, f"org-{n}", {"publicKey": "0x" + "2" * 40, "privateKey": "0x" + "3" * 64,
                                                    "activated": True})

    real_dispatch = MessagePump._dispatch_message
    real_invoke = textual.timer.invoke

    async def dispatch(self, message):
        with AUDIT.timed(f"{type(self).__name__}.{message.handler_name}"):
            return await real_dispatch(self, message)

    async def invoke(callback, *args):
        with AUDIT.timed(f"timer:{getattr(callback, '__qualname__', callback)}"):
            return await real_invoke(callback, *args)

    monkeypatch.setattr(MessagePump, "_dispatch_message", dispatch)
    monkeypatch.setattr(textual.timer, "invoke", invoke)
    # Our handlers, timed on their own (a framework span that awaits also counts what ran meanwhile)
    ours: list[tuple[float, str]] = []
    for cls in (SwarmdeckApp, MainScreen, ProfileDashboard, SwitcherScreen):
        for name, fn in list(vars(cls).items()):
            if (callable(fn) and not inspect.iscoroutinefunction(fn)
                    and (name.startswith(("on_", "action_")) or name in ("tick", "refresh_states"))):
                monkeypatch.setattr(cls, name, _timed(fn, f"{cls.__name__}.{name}", ours))

    app = make_app(refresh=0.05, telemetry=FrozenTelemetry(), startup_flows=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)  # the first refresh has landed; from here on, measure
        assert isinstance(app.screen, MainScreen)
        AUDIT.on = True
        try:
            for key in ("2", "3", "4", "1", "right_square_bracket", "left_square_bracket"):
                await pilot.press(key)
                await pilot.pause(0.3)  # a few refresh ticks (a states refresh every 5th) per profile
            app.screen.refresh_states()
            await pilot.pause(0.3)
            await pilot.press("p")  # the switcher: states from the last refresh, no I/O
            await pilot.pause(0.1)
            await pilot.press("escape")
            await pilot.pause(0.3)
        finally:
            AUDIT.on = False
        await app.workers.wait_for_complete()
        assert app.screen.states and set(app.screen.states) == set(names)

    for what, spans in (("swarmdeck handlers", ours), ("all Textual dispatches and timers", AUDIT.times)):
        times = sorted(t for t, _ in spans)
        worst = max(spans)
        print(f"\n{what}: {len(times)}, max {worst[0] * 1000:.1f} ms ({worst[1]}), "
              f"p95 {times[int(0.95 * (len(times) - 1))] * 1000:.1f} ms, "
              f"median {statistics.median(times) * 1000:.2f} ms (UI-thread CPU time)")
    assert not AUDIT.io, f"I/O on the UI thread inside handlers: {AUDIT.io[:10]}"
    assert {n for _, n in ours} >= {"MainScreen.on_states_loaded", "MainScreen.on_tick_loaded", "MainScreen.tick"}
    slow = sorted(((t, n) for t, n in ours if t > FRAME_S), reverse=True)
    assert not slow, f"handlers over {FRAME_S * 1000:.0f} ms: {[(round(t * 1000, 1), n) for t, n in slow[:10]]}"


async def test_app_start_up_reads_profiles_in_workers(profiles, monkeypatch):
    """From the first frame: the app's start-up (which screen first: set up, sign in, back up) and the
    backup screen it opens read the profiles' files in workers, never inside a handler of ours."""
    names = profiles("main", "gpu1")
    for n in names:
        write_events(n, node_history(3))
        identity.write_user_data(ProfilePaths(n).identity_dir, f"org-{n}", "0xA", "u", f"{n}@example.org")
        identity.append_user_api_key(ProfilePaths(n).identity_dir, f"org-{n}",
                                     {"publicKey": "0x" + "2" * 40, "privateKey": "0x" + "3" * 64, "activated": True})
    ours: list[tuple[float, str]] = []
    for cls in (SwarmdeckApp, MainScreen, ProfileDashboard, BackupScreen):
        for name, fn in list(vars(cls).items()):
            if (callable(fn) and not inspect.iscoroutinefunction(fn)
                    and (name.startswith(("on_", "action_", "_open", "_next", "_after"))
                         or name in ("run_flows", "profile_opened", "refresh_state"))):
                monkeypatch.setattr(cls, name, _timed(fn, f"{cls.__name__}.{name}", ours))
    AUDIT.io.clear()
    app = make_app(refresh=0.05, telemetry=FrozenTelemetry())  # start-up flows on: signed in, no backup yet
    AUDIT.on = True
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, BackupScreen), 10, "the backup warning", app)
            await app.workers.wait_for_complete()
            await pilot.pause(0.2)
            assert "No verified backup yet" in flat_text(app)  # drawn from the backup screen's worker
    finally:
        AUDIT.on = False
    called = {n for _, n in ours}
    assert {"SwarmdeckApp.on_mount", "SwarmdeckApp._open_first_screen", "SwarmdeckApp.run_flows",
            "SwarmdeckApp._next_flow", "BackupScreen.on_mount"} <= called
    io = [x for x in AUDIT.io if x[0] in called]
    assert not io, f"I/O on the UI thread in start-up handlers: {io[:10]}"


@pytest.mark.parametrize("network", ["local", "gensyn-testnet"])
async def test_the_login_screen_reads_its_config_and_status_in_workers(profiles, monkeypatch, network, tmp_path):
    """Opening the sign-in screen and its once-a-second status poll read no file on the UI thread;
    what the workers read still reaches the screen: on the local network a sign-in that lands, on
    the testnet (no sign-in app chosen yet) the question for the app's directory, then c (the clone
    plan looks at the disk) and a path typed in (checked and saved) answered from workers."""
    profiles("main", network=network, login_port=3998)

    on_ui_thread: list[str] = []  # backend calls made from the UI thread (a stat is no audit event)

    class NoService(CoreBackend):  # the login service process is not what is measured here
        @staticmethod
        def ensure_login_service(name):
            return ("http://localhost:3998", 3998)

        def _note(self, call: str) -> None:
            if threading.current_thread() is threading.main_thread():
                on_ui_thread.append(call)

        def use_login_app(self, name, path):
            self._note("use_login_app")
            return super().use_login_app(name, path)

        def login_app_clone_plan(self, name):
            self._note("login_app_clone_plan")
            return super().login_app_clone_plan(name)

        def login_app_dir(self, name):
            self._note("login_app_dir")
            return super().login_app_dir(name)

    ours: list[tuple[float, str]] = []
    for cls in (SwarmdeckApp, LoginScreen):
        for name, fn in list(vars(cls).items()):
            if (callable(fn) and not inspect.iscoroutinefunction(fn)
                    and (name.startswith(("on_", "action_", "_open", "_next", "_status", "_draw", "_show", "_set",
                                          "_app_begin", "_ask"))
                         or name in ("run_flows", "poll", "open_login"))):
                monkeypatch.setattr(cls, name, _timed(fn, f"{cls.__name__}.{name}", ours))
    AUDIT.io.clear()
    app = make_app(refresh=0.05, telemetry=FrozenTelemetry(), backend=NoService())  # not signed in: the login screen
    AUDIT.on = True
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, LoginScreen), 10, "the login screen", app)
            if network == "local":
                assert app.screen.status == "waiting"
                d = ProfilePaths("main").identity_dir  # the browser sign-in lands
                identity.write_user_data(d, "org-main", "0xA", "u", "main@example.org")
                identity.append_user_api_key(d, "org-main", {"publicKey": "0x" + "2" * 40,
                                                             "privateKey": "0x" + "3" * 64, "activated": True})
                await until(pilot, lambda: app.screen.status == "activated", 10, "the activation, read by the poll", app)
            else:
                await until(pilot, lambda: app.screen.phase == "none" and app.screen.query_one("#app-path").display,
                            10, "the question for the sign-in app's directory", app)
                await pilot.pause(1.2)  # a poll or two
                scr = app.screen
                await pilot.press("c")
                await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the clone question", app)
                await pilot.press("n")
                await until(pilot, lambda: app.screen is scr, 10, "back on the login screen", app)
                await pilot.press("tab", *str(tmp_path / "missing"), "enter")
                await until(pilot, lambda: scr.phase == "none" and "does not exist" in flat_text(app), 10,
                            "the typed path refused", app)
    finally:
        AUDIT.on = False
    called = {n for _, n in ours}
    # (compose takes its facts from the constructor: LoginFacts, read in the opener's worker)
    assert {"SwarmdeckApp.open_login", "LoginScreen.on_mount", "LoginScreen.poll"} <= called
    if network != "local":
        assert {"LoginScreen.action_clone", "LoginScreen._ask_clone", "LoginScreen.on_input_submitted"} <= called
    io = [x for x in AUDIT.io if x[0] in called]
    assert not io, f"I/O on the UI thread in the login screen's handlers: {io[:10]}"
    assert not on_ui_thread, f"the sign-in app's files looked at on the UI thread: {on_ui_thread}"
