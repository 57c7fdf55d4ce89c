"""The setup wizard as a plain state machine (the TUI is only its view).

Steps (some are skipped depending on earlier answers):
  name           profile name (only when creating an extra profile or no name was given)
  network        local | gensyn-testnet | custom
  custom         rpc_url, chain_id, coordinator, bootnodes (only for custom)
  participation  testnet participation Y/N, as the seed asks (only for gensyn-testnet; Enter = Y)
  hardware       the doctor's hardware report + recommended model and quant mode (overridable)
  hf             optional Hugging Face token (a secret: stored 0600, never shown back) and repo
  ports          login port (default 3000) and DHT port (0 = random)
  confirm        summary; answering it finishes the wizard

Drive it with `answer(dict)`, `back()`, `cancel()`; or run a whole flow through an injected
prompter with `run(prompter)` (so flows are tested without a terminal). Invalid answers raise
WizardError naming the field and the fix, and leave the wizard on the same step.
`result()` gives the settings for core.identity.profiles.create_profile; `apply_result()` creates the
profile and stores the token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from core.base.constants import DEFAULT_LOGIN_PORT, QUANT_CHOICES as QUANTS
from core.base.errors import SwarmdeckError
from tui.model.i18n import M, Msg
from core.usecases.profile_setup import (HF_TOKEN_FILE, planned_model, recommended_model,  # noqa: F401 (re-exported)
                                         store_hf_token)
from core.base.paths import PROFILE_NAME_RE, ProfilePaths, ensure_private_dir

NETWORKS = ("local", "gensyn-testnet", "custom")
# Model choices offered as overrides (the recommendation is added when it is not among them).
MODELS = (
    "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct",
    "Qwen/Qwen3-0.6B",
    "Qwen/Qwen3-1.7B",
    "Qwen/Qwen2.5-7B-Instruct",
)
_HEX_ADDR = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HF_TOKEN = re.compile(r"^hf_[A-Za-z0-9]{20,}$")
_HF_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


class WizardError(SwarmdeckError):
    """A rejected answer; `field` names the input that was wrong."""

    def __init__(self, field: str, what: "str | Msg", fix: "str | Msg | None" = None):
        super().__init__(what, where=field, fix=fix)
        self.field = field


class WizardClosed(SwarmdeckError):
    pass


BACK = object()
CANCEL = object()


@dataclass
class Hardware:
    """What the hardware step shows. Built from the hardware probe and the doctor's checks by the caller."""

    gpus: list[dict] = field(default_factory=list)  # [{index, name, vram_gib}]
    ram_gib: float | None = None
    cpu_mode_reason: str | None = None  # why there is no GPU path (None when a GPU is usable)
    recommended_model: str = MODELS[0]
    recommended_quant: str = "auto"
    notes: list[str] = field(default_factory=list)  # doctor warnings worth showing (RAM < 24 GB ...)


@dataclass
class WizardResult:
    name: str
    settings: dict[str, Any]            # keyword arguments for create_profile
    custom_network: dict[str, Any] | None  # [networks.<name>] table for a custom network
    participate: bool                   # testnet participation (seed's Y/N); False = train without chain
    hf_token: str | None                # secret: store with store_hf_token, never display

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return (f"WizardResult(name={self.name!r}, settings={self.settings!r}, "
                f"custom_network={self.custom_network!r}, participate={self.participate!r}, "
                f"hf_token={'<set>' if self.hf_token else None})")


class Prompter(Protocol):
    def ask(self, wizard: "Wizard", step: str) -> Any:
        """Return an answer dict for `step`, or BACK / CANCEL."""


def _port(field_name: str, value: Any, allow_zero: bool) -> int:
    try:
        p = int(str(value).strip())
    except (TypeError, ValueError):
        raise WizardError(field_name, M("wizard.err.port_number", field=M("wizard.field." + field_name),
                                        value=repr(value)),
                          M("wizard.err.port_fix_zero" if allow_zero else "wizard.err.port_fix"))
    if (p == 0 and allow_zero) or 1 <= p <= 65535:
        if 0 < p < 1024:
            raise WizardError(field_name, M("wizard.err.port_privileged", field=M("wizard.field." + field_name),
                                            port=p),
                              M("wizard.err.port_fix"))
        return p
    raise WizardError(field_name, M("wizard.err.port_range", field=M("wizard.field." + field_name), port=p),
                      M("wizard.err.port_fix_zero" if allow_zero else "wizard.err.port_fix"))


class Wizard:
    STEPS = ("name", "network", "custom", "participation", "hardware", "hf", "ports", "confirm")

    def __init__(self, hardware: Hardware | None = None, *, name: str | None = None,
                 existing_profiles: list[str] | tuple[str, ...] = (), ask_name: bool | None = None,
                 taken_ports: set[int] | frozenset[int] = frozenset()):
        self.hardware = hardware or Hardware()
        self.existing = set(existing_profiles)
        self.ask_name = (name is None) if ask_name is None else ask_name
        hw = self.hardware
        self.values: dict[str, Any] = {
            "name": name or ("main" if "main" not in self.existing else ""),
            "network": "local",
            "rpc_url": "", "chain_id": "", "coordinator": "", "bootnodes": "", "custom_name": "",
            "participate": True,
            "model": hw.recommended_model,
            "quant": hw.recommended_quant,
            "gpus": [g["index"] for g in hw.gpus],
            "hf_token": None, "hf_repo": "",
            # each profile needs its own login page port: default to the first one no profile uses
            "login_port": next(p for p in range(DEFAULT_LOGIN_PORT, DEFAULT_LOGIN_PORT + 100) if p not in taken_ports), "dht_port": 0,
        }
        self.taken_ports = set(taken_ports)
        self.status = "active"  # active | done | cancelled
        self._history: list[str] = []
        self.step = self._first()

    # -- navigation ---------------------------------------------------------------------
    def active_steps(self) -> list[str]:
        out = []
        for s in self.STEPS:
            if s == "name" and not self.ask_name:
                continue
            if s == "custom" and self.values["network"] != "custom":
                continue
            if s == "participation" and self.values["network"] != "gensyn-testnet":
                continue
            out.append(s)
        return out

    def _first(self) -> str:
        return self.active_steps()[0]

    def position(self) -> tuple[int, int]:
        steps = self.active_steps()
        return steps.index(self.step) + 1, len(steps)

    def _require_active(self) -> None:
        if self.status != "active":
            raise WizardClosed(f"the wizard is {self.status}")

    def back(self) -> str:
        self._require_active()
        if self._history:
            self.step = self._history.pop()
        return self.step

    def can_go_back(self) -> bool:
        return bool(self._history)

    def cancel(self) -> None:
        self._require_active()
        self.status = "cancelled"

    def answer(self, data: dict[str, Any] | None = None) -> str:
        """Validate and store the current step's answers, then advance. Returns the new step."""
        self._require_active()
        data = dict(data or {})
        getattr(self, "_answer_" + self.step)(data)
        if self.step == "confirm":
            self.status = "done"
            return self.step
        steps = self.active_steps()
        self._history.append(self.step)
        self.step = steps[steps.index(self.step) + 1]
        return self.step

    # -- per-step validation ------------------------------------------------------------
    def _answer_name(self, d: dict) -> None:
        name = str(d.get("name", self.values["name"]) or "").strip()
        if not name:
            raise WizardError("name", M("wizard.err.name_empty"), M("wizard.err.name_empty_fix"))
        if not PROFILE_NAME_RE.match(name):
            raise WizardError("name", M("wizard.err.name_bad", name=repr(name)), M("wizard.err.name_bad_fix"))
        if name in self.existing:
            raise WizardError("name", M("wizard.err.name_taken", name=repr(name)), M("wizard.err.name_taken_fix"))
        self.values["name"] = name

    def _answer_network(self, d: dict) -> None:
        net = str(d.get("network", self.values["network"]))
        if net not in NETWORKS:
            raise WizardError("network", M("wizard.err.network", network=repr(net)), M("wizard.err.network_fix"))
        self.values["network"] = net

    def _answer_custom(self, d: dict) -> None:
        v = {k: str(d.get(k, self.values[k]) or "").strip()
             for k in ("custom_name", "rpc_url", "chain_id", "coordinator", "bootnodes")}
        if not PROFILE_NAME_RE.match(v["custom_name"]) or v["custom_name"] in ("local", "gensyn-testnet"):
            raise WizardError("custom_name", M("wizard.err.custom_name", name=repr(v["custom_name"])),
                              M("wizard.err.custom_name_fix"))
        if not re.match(r"^https?://\S+$", v["rpc_url"]):
            raise WizardError("rpc_url", M("wizard.err.rpc_url", url=repr(v["rpc_url"])),
                              M("wizard.err.example", example="http://10.0.0.5:8545"))
        try:
            if int(v["chain_id"]) <= 0:
                raise ValueError
        except ValueError:
            raise WizardError("chain_id", M("wizard.err.chain_id", value=repr(v["chain_id"])),
                              M("wizard.err.chain_id_fix"))
        if not _HEX_ADDR.match(v["coordinator"]):
            raise WizardError("coordinator", M("wizard.err.coordinator", value=repr(v["coordinator"])),
                              M("wizard.err.coordinator_fix"))
        from core.config.settings import multiaddr_problem  # the config's own check, so what we accept it saves

        for addr in filter(None, (b.strip() for b in v["bootnodes"].split(","))):
            problem = multiaddr_problem(addr) if addr.startswith("/") else "it does not start with /"
            if problem or "/p2p/" not in addr:
                raise WizardError("bootnodes", M("wizard.err.bootnode", addr=repr(addr),
                                                 problem=f" ({problem})" if problem else ""),
                                  M("wizard.err.bootnode_fix"))
        self.values.update(v)

    def _answer_participation(self, d: dict) -> None:
        raw = d.get("participate", "Y")
        if isinstance(raw, bool):
            yes = raw
        else:
            s = str(raw).strip().lower()
            if s in ("", "y", "yes", "д", "да"):
                yes = True
            elif s in ("n", "no", "н", "нет"):
                yes = False
            else:
                raise WizardError("participate", M("wizard.err.participate", answer=repr(raw)),
                                  M("wizard.err.participate_fix"))
        self.values["participate"] = yes

    def _answer_hardware(self, d: dict) -> None:
        model = str(d.get("model", self.values["model"]) or "").strip()
        if not model or not re.match(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$", model):
            raise WizardError("model", M("wizard.err.model", model=repr(model)),
                              M("wizard.err.example", example="Qwen/Qwen2.5-0.5B-Instruct"))
        quant = str(d.get("quant", self.values["quant"]))
        if quant not in QUANTS:
            raise WizardError("quant", M("wizard.err.quant", quant=repr(quant)),
                              M("wizard.err.choose_one", choices=", ".join(QUANTS)))
        # 4/8-bit without a GPU is allowed: bitsandbytes runs on CPU too (slowly); the user chose it.
        gpus = d.get("gpus", self.values["gpus"])
        if isinstance(gpus, str):
            try:
                gpus = [int(x) for x in gpus.replace(" ", "").split(",") if x]
            except ValueError:
                raise WizardError("gpus", M("wizard.err.gpus", gpus=repr(gpus)), M("wizard.err.gpus_fix"))
        known = {g["index"] for g in self.hardware.gpus}
        bad = [g for g in gpus if g not in known]
        if bad:
            raise WizardError("gpus", M("wizard.err.gpu_missing", gpus=str(bad)),
                              M("wizard.err.gpu_choose", choices=", ".join(map(str, sorted(known))))
                              if known else M("wizard.err.gpu_none"))
        self.values.update(model=model, quant=quant, gpus=list(gpus))

    def _answer_hf(self, d: dict) -> None:
        token = d.get("hf_token")
        if token is not None:
            token = str(token).strip() or None
        if token is not None and not _HF_TOKEN.match(token):
            raise WizardError("hf_token", M("wizard.err.hf_token"), M("wizard.err.hf_token_fix"))
        repo = str(d.get("hf_repo", self.values["hf_repo"]) or "").strip()
        if repo and not _HF_REPO.match(repo):
            raise WizardError("hf_repo", M("wizard.err.hf_repo", repo=repr(repo)),
                              M("wizard.err.example", example="alice/my-swarm-adapter"))
        if "hf_token" in d:
            self.values["hf_token"] = token
        self.values["hf_repo"] = repo

    def _answer_ports(self, d: dict) -> None:
        lp = _port("login_port", d.get("login_port", self.values["login_port"]), allow_zero=False)
        dp = _port("dht_port", d.get("dht_port", self.values["dht_port"]), allow_zero=True)
        if lp in self.taken_ports:
            raise WizardError("login_port", f"login port {lp} is already used by another profile",
                              f"use {self.values['login_port'] if self.values['login_port'] != lp else lp + 1}")
        if dp and dp == lp:
            raise WizardError("dht_port", f"DHT port and login port are both {lp}", "use different ports")
        self.values.update(login_port=lp, dht_port=dp)

    def _answer_confirm(self, d: dict) -> None:
        pass

    # -- output -------------------------------------------------------------------------
    def network_name(self) -> str:
        v = self.values
        return v["custom_name"] if v["network"] == "custom" else v["network"]

    def recommended_model(self) -> str:
        """The model recommended for the network chosen so far (the local network without a GPU: the
        locally built demo model), the same one the summary names and the node runs for `auto`."""
        return recommended_model(self.network_name(), self.hardware.recommended_model,
                                 self.hardware.cpu_mode_reason is not None)

    def model_choice(self) -> str:
        """The hardware step's current choice: the recommendation while the user kept the default."""
        m = self.values["model"]
        return self.recommended_model() if m in ("auto", self.hardware.recommended_model) else m

    def summary(self) -> list[tuple[str, str]]:
        """(field, value) rows for the confirm step; the token only as set / not set."""
        v = self.values
        rows = [("name", v["name"]), ("network", self.network_name())]
        if v["network"] == "custom":
            rows += [("rpc_url", v["rpc_url"]), ("chain_id", v["chain_id"]), ("coordinator", v["coordinator"])]
        if v["network"] == "gensyn-testnet":
            rows.append(("participate", "Y" if v["participate"] else "N"))
        # What will really run: a kept recommendation on the local network is stored as "auto",
        # and "auto" in CPU mode runs the tiny local model, not the recommended one.
        plan = planned_model(v["model"], self.network_name(), self.hardware.recommended_model,
                             self.hardware.cpu_mode_reason is not None)
        rows.append(("model", plan.runs))
        if plan.why:
            rows.append(("model_why", plan.why))
        rows += [("quant", v["quant"]),
                 ("gpus", ",".join(map(str, v["gpus"])) or "cpu"),
                 ("hf_token", "set" if v["hf_token"] else "not set"),
                 ("hf_repo", v["hf_repo"] or "-"),
                 ("login_port", str(v["login_port"])),
                 ("dht_port", str(v["dht_port"]) if v["dht_port"] else "random")]
        return rows

    def result(self) -> WizardResult:
        if self.status != "done":
            raise WizardClosed(f"the wizard is {self.status}, not done")
        v = self.values
        net = self.network_name()
        custom = None
        if v["network"] == "custom":
            custom = {"rpc_url": v["rpc_url"], "chain_id": int(v["chain_id"]),
                      "coordinator": v["coordinator"],
                      "bootnodes": [b.strip() for b in v["bootnodes"].split(",") if b.strip()]}
        backend = "web3" if v["network"] == "custom" else "modal-login"
        settings = {"network": net, "model": v["model"], "quant": v["quant"], "gpus": list(v["gpus"]),
                    "dht_port": v["dht_port"], "login_port": v["login_port"], "backend": backend,
                    "hf_repo": v["hf_repo"]}
        return WizardResult(name=v["name"], settings=settings, custom_network=custom,
                            participate=bool(v["participate"]), hf_token=v["hf_token"])

    def run(self, prompter: Prompter) -> WizardResult | None:
        """Drive the whole flow through `prompter`; None when cancelled. Errors re-ask the step."""
        while self.status == "active":
            reply = prompter.ask(self, self.step)
            if reply is CANCEL:
                self.cancel()
            elif reply is BACK:
                self.back()
            else:
                try:
                    self.answer(reply)
                except WizardError as e:
                    on_error = getattr(prompter, "error", None)
                    if on_error:
                        on_error(self, e)
                    else:
                        raise
        return self.result() if self.status == "done" else None


def has_hf_token(name: str) -> bool:
    return (ProfilePaths(name).secrets_dir / HF_TOKEN_FILE).is_file()


def apply_result(res: WizardResult, create_profile: Callable[..., Any] | None = None) -> Any:
    """Create the profile from a finished wizard and store its token. Returns create_profile's value.

    A custom network's [networks.NAME] table and the participation answer are not profile
    settings; the caller records them (core.usecases.profile_setup writes both).
    """
    if create_profile is None:
        from core.identity.profiles import create_profile  # foundation
    out = create_profile(res.name, **res.settings)
    if res.hf_token:
        store_hf_token(res.name, res.hf_token)
    return out
