"""The setup wizard's view. All logic (steps, validation, result) is tui.model.wizard.Wizard."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, RadioButton, RadioSet, Select, Static

from core.base.constants import DEMO_MODEL, TINY_MODEL
from tui.model.i18n import error_text, t, text
from tui.model.wizard import MODELS, NETWORKS, QUANTS, Wizard, WizardError
from tui.widgets.common import translate_bindings


class WizardScreen(Screen[str | None]):
    """Dismisses with the new profile's name, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "back", "keys.back"),
        Binding("ctrl+x", "cancel", "keys.cancel", priority=True),  # Input binds ctrl+x to cut
        Binding("ctrl+n", "next", "keys.next", priority=True),
    ]

    def __init__(self, wizard: Wizard, first_run: bool = False, configure_existing: bool = False):
        super().__init__()
        translate_bindings(self)
        self.wizard = wizard
        self.first_run = first_run
        self.configure_existing = configure_existing

    def compose(self) -> ComposeResult:
        with Vertical(id="wizard"):
            yield Static("", id="wizard-title", classes="dialog-title")
            yield VerticalScroll(id="step-body")
            yield Static("", id="wizard-error", classes="error")
            with Horizontal(id="wizard-buttons"):
                yield Button(t("wizard.back"), id="back")
                yield Button(t("wizard.next"), id="next", variant="primary")
                yield Button(t("wizard.cancel"), id="cancel", variant="error")
        yield Footer()

    async def on_mount(self) -> None:
        await self.show_step()

    # -- rendering a step ------------------------------------------------------------------
    async def show_step(self) -> None:
        w = self.wizard
        i, n = w.position()
        self.query_one("#wizard-title", Static).update(
            t("wizard.title", i=i, n=n, step=t(f"wizard.step.{w.step}")))
        self.query_one("#wizard-error", Static).update("")
        self.query_one("#back", Button).disabled = not w.can_go_back()
        self.query_one("#next", Button).label = t("wizard.finish") if w.step == "confirm" else t("wizard.next")
        body = self.query_one("#step-body", VerticalScroll)
        await body.remove_children()
        await body.mount_all(list(self._widgets(w.step)))
        focusable = [x for x in body.query("Input, RadioSet, Select")]
        (focusable[0] if focusable else self.query_one("#next", Button)).focus()

    def _radio(self, id: str, options: list[tuple[str, str]], current: str) -> RadioSet:
        return StepRadioSet(*[ChoiceButton(label, value=(key == current), name=key) for key, label in options], id=id)

    def _widgets(self, step: str):
        v = self.wizard.values
        hw = self.wizard.hardware
        yield Static(t(f"wizard.help.{step}"), classes="hint")
        if step == "name":
            yield Label(t("wizard.field.name"))
            yield Input(value=v["name"], id="name", placeholder="main")
        elif step == "network":
            yield self._radio("network", [(k, t(f"wizard.network.{k}")) for k in NETWORKS], v["network"])
        elif step == "custom":
            for key, ph in (("custom_name", "myswarm"), ("rpc_url", "http://10.0.0.5:8545"), ("chain_id", "31337"),
                            ("coordinator", "0x…"), ("bootnodes", "/ip4/10.0.0.5/tcp/38331/p2p/Qm…")):
                yield Label(t(f"wizard.field.{key}"))
                yield Input(value=str(v[key]), id=key, placeholder=ph)
        elif step == "participation":
            yield self._radio("participate", [("Y", t("wizard.participate.yes")), ("N", t("wizard.participate.no"))],
                              "Y" if v["participate"] else "N")
        elif step == "hardware":
            yield Static(self._hardware_report(), id="hw-report")
            rec, choice = self.wizard.recommended_model(), self.wizard.model_choice()
            models = list(dict.fromkeys([rec, choice, *MODELS]))
            yield Label(t("wizard.field.model"))
            yield StepSelect([(self._model_label(m) + (" ★" if m == rec else ""), m) for m in models],
                             value=choice, allow_blank=False, id="model")
            yield Label(t("wizard.field.quant"))
            yield StepSelect([(q + (" ★" if q == hw.recommended_quant else ""), q) for q in QUANTS],
                             value=v["quant"], allow_blank=False, id="quant")
            if hw.gpus:
                yield Label(t("wizard.field.gpus"))
                yield Input(value=",".join(map(str, v["gpus"])), id="gpus")
        elif step == "hf":
            yield Label(t("wizard.field.hf_token"))
            # password=True: the token is never echoed; an existing token shows only as "set"
            yield Input(value="", password=True, id="hf_token",
                        placeholder=t("wizard.token_set") if v["hf_token"] else t("wizard.token_optional"))
            yield Label(t("wizard.field.hf_repo"))
            yield Input(value=v["hf_repo"], id="hf_repo", placeholder="user/my-swarm-adapter")
        elif step == "ports":
            yield Label(t("wizard.field.login_port"))
            yield Input(value=str(v["login_port"]), id="login_port", type="integer")
            yield Label(t("wizard.field.dht_port"))
            yield Input(value=str(v["dht_port"]), id="dht_port", type="integer")
        elif step == "confirm":
            txt = Text()
            for key, val in self.wizard.summary():
                if key == "hf_token":
                    val = t("wizard.token_set") if val == "set" else t("wizard.token_not_set")
                elif key == "model" and val in (TINY_MODEL, DEMO_MODEL):
                    val = t("wizard.model_tiny" if val == TINY_MODEL else "wizard.model_demo")
                elif key == "dht_port" and val == "random":
                    val = t("wizard.port_random")
                elif key == "gpus" and val == "cpu":
                    val = t("wizard.gpus_none")
                elif key == "model_why":
                    val = t(f"wizard.model_why.{val}", reason=self.wizard.hardware.cpu_mode_reason or "")
                txt.append(f"{t('wizard.field.' + key):<26}", style="bold")
                txt.append(f" {val}\n")
            yield Static(txt, id="summary")

    @staticmethod
    def _model_label(m: str) -> str:
        if m in (TINY_MODEL, DEMO_MODEL):
            return f"{m}: " + t("wizard.model_tiny" if m == TINY_MODEL else "wizard.model_demo")
        return m

    def _hardware_report(self) -> Text:
        hw = self.wizard.hardware
        txt = Text()
        if hw.gpus:
            for g in hw.gpus:
                txt.append(f"GPU{g['index']}: {g['name']}  {g['vram_gib']} GiB\n")
        else:
            txt.append(t("dash.cpu_mode"), style="bold yellow")
            txt.append(" " + t("dash.cpu_mode_reason", reason=hw.cpu_mode_reason or t("common.na")) + "\n")
        if hw.ram_gib:
            txt.append(t("wizard.ram", gib=hw.ram_gib) + "\n")
        for note in hw.notes:
            txt.append("· " + text(note) + "\n", style="dim")
        txt.append(t("wizard.recommended", model=self._model_label(self.wizard.recommended_model()),
                     quant=hw.recommended_quant), style="bold")
        return txt

    # -- collecting answers ---------------------------------------------------------------
    def _answers(self) -> dict:
        step = self.wizard.step
        out: dict = {}
        for inp in self.query("#step-body Input").results(Input):
            if inp.id == "hf_token":
                if inp.value.strip():
                    out["hf_token"] = inp.value
            else:
                out[inp.id] = inp.value
        for sel in self.query("#step-body Select").results(Select):
            out[sel.id] = sel.value
        for rs in self.query("#step-body RadioSet").results(RadioSet):
            name = rs.chosen() if isinstance(rs, StepRadioSet) else getattr(rs.pressed_button, "name", None)
            if name is not None:
                out[rs.id] = name
        if step == "participation" and "participate" in out:
            out["participate"] = out["participate"] == "Y"
        return out

    async def action_next(self) -> None:
        try:
            self.wizard.answer(self._answers())
        except WizardError as e:
            what, _, fix = e.localized()
            msg = what + (f" — {fix}" if fix else "")
            self.query_one("#wizard-error", Static).update(Text("✗ " + msg, style="bold red"))
            try:
                self.query_one(f"#{e.field}").focus()
            except Exception:
                pass
            return
        if self.wizard.status == "done":
            self.finish()
            return
        await self.show_step()

    def finish(self) -> None:
        res = self.wizard.result()
        try:
            self.app.backend.create_profile(res, configure_existing=self.configure_existing)
        except Exception as e:
            self.query_one("#wizard-error", Static).update(Text("✗ " + error_text(e), style="bold red"))
            self.wizard.status = "active"  # let the user fix and retry
            return
        self.dismiss(res.name)

    async def action_back(self) -> None:
        if self.wizard.can_go_back():
            self.wizard.back()
            await self.show_step()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        if self.wizard.status == "active":
            self.wizard.cancel()
        self.dismiss(None)

    async def on_button_pressed(self, ev: Button.Pressed) -> None:
        if ev.button.id == "next":
            await self.action_next()
        elif ev.button.id == "back":
            await self.action_back()
        elif ev.button.id == "cancel":
            self.action_cancel()

    async def on_input_submitted(self, ev: Input.Submitted) -> None:
        await self.action_next()


class ChoiceButton(RadioButton):
    """A radio choice drawn `(•)` / `( )`: the picked one is visible without colour (NO_COLOR, monochrome
    terminals, screen readers of the text). Textual's own `▐●▌` is the same on every line; only its
    colour tells them apart (issue 20)."""

    @property
    def _button(self) -> Content:
        return Content.assemble(("(•)" if self.value else "( )", self.get_visual_style("toggle--button")))


class StepSelect(Select):
    """A wizard choice list where Enter goes on with the value shown (as "Next (Enter)" promises; issue
    20: Enter on the hardware step opened the model list instead). Space, Up or Down open the list."""

    BINDINGS = [Binding("enter", "next_step", show=False)]

    async def action_next_step(self) -> None:
        await self.screen.run_action("next")


class StepRadioSet(RadioSet):
    """A wizard choice where Enter picks the highlighted option and goes on, as the Next button
    ("Next (Enter)") promises; Space only picks. A new user's first key on the first screen is
    Enter: it must not look like nothing happened."""

    BINDINGS = [Binding("enter", "pick_and_next", show=False)]

    _picked: str | None = None

    def chosen(self) -> str | None:
        """The picked option's name. RadioSet learns of a press through a message, so right
        after a keyboard pick `pressed_button` may still be the old one: ours is immediate."""
        if self._picked is not None:
            return self._picked
        return getattr(self.pressed_button, "name", None)

    def on_radio_set_changed(self, ev: RadioSet.Changed) -> None:
        self._picked = ev.pressed.name

    async def action_pick_and_next(self) -> None:
        idx = self._selected
        if idx is not None:
            btn = self._nodes[idx]
            if isinstance(btn, RadioButton):
                self._picked = btn.name
                if not btn.value:
                    btn.value = True
        await self.screen.run_action("next")
