"""The setup wizard state machine, driven directly and through an injected prompter (no terminal)."""

from __future__ import annotations

import stat

import pytest

from core.base.paths import ProfilePaths
from tui.model.wizard import BACK, CANCEL, Hardware, Wizard, WizardClosed, WizardError, apply_result, store_hf_token

GPU_HW = Hardware(gpus=[{"index": 0, "name": "RTX 4090", "vram_gib": 24.0}, {"index": 1, "name": "RTX 3090",
                                                                             "vram_gib": 24.0}],
                  ram_gib=64, recommended_model="Qwen/Qwen2.5-1.5B-Instruct", recommended_quant="4bit")
CPU_HW = Hardware(cpu_mode_reason="no NVIDIA driver found", recommended_model="Qwen/Qwen2.5-0.5B-Instruct",
                  recommended_quant="fp32")
TOKEN = "hf_" + "a1B2" * 8


class Script:
    """A prompter that replays answers per step and records what it was asked."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.asked = []
        self.errors = []

    def ask(self, wizard, step):
        self.asked.append(step)
        return self.answers.pop(0)

    def error(self, wizard, e):
        self.errors.append((wizard.step, e.field))


def test_local_happy_path_defaults_to_the_recommendation():
    w = Wizard(GPU_HW, name="main")
    assert w.active_steps() == ["network", "hardware", "hf", "ports", "confirm"]
    assert w.answer({"network": "local"}) == "hardware"
    assert w.values["model"] == "Qwen/Qwen2.5-1.5B-Instruct" and w.values["quant"] == "4bit"
    w.answer({})
    w.answer({})
    w.answer({})
    w.answer({})
    assert w.status == "done"
    r = w.result()
    assert r.name == "main"
    assert r.settings == {"network": "local", "model": "Qwen/Qwen2.5-1.5B-Instruct", "quant": "4bit",
                          "gpus": [0, 1], "dht_port": 0, "login_port": 3000, "backend": "modal-login",
                          "hf_repo": ""}
    assert r.custom_network is None and r.hf_token is None and r.participate is True


def test_testnet_asks_participation_like_the_seed_enter_means_yes():
    w = Wizard(CPU_HW, name="main")
    w.answer({"network": "gensyn-testnet"})
    assert w.step == "participation"
    w.answer({"participate": ""})  # just Enter
    assert w.values["participate"] is True
    w.back()
    w.answer({"participate": "n"})
    assert w.values["participate"] is False
    w.back()
    with pytest.raises(WizardError) as e:
        w.answer({"participate": "maybe"})
    assert e.value.field == "participate" and w.step == "participation"


def test_override_model_quant_gpus_and_reject_bad_ones():
    w = Wizard(GPU_HW, name="main")
    w.answer({"network": "local"})
    for bad, field in (({"quant": "3bit"}, "quant"), ({"gpus": "0,7"}, "gpus"), ({"gpus": "x"}, "gpus"),
                       ({"model": "not a model!"}, "model")):
        with pytest.raises(WizardError) as e:
            w.answer(bad)
        assert e.value.field == field and e.value.fix and w.step == "hardware"
    w.answer({"model": "Qwen/Qwen2.5-7B-Instruct", "quant": "8bit", "gpus": "1"})
    assert (w.values["model"], w.values["quant"], w.values["gpus"]) == ("Qwen/Qwen2.5-7B-Instruct", "8bit", [1])


def test_custom_network_validates_every_field():
    w = Wizard(CPU_HW, name="priv")
    w.answer({"network": "custom"})
    assert w.step == "custom"
    good = {"custom_name": "lab", "rpc_url": "http://10.0.0.5:8545", "chain_id": "31337",
            "coordinator": "0x" + "ab" * 20, "bootnodes": "/ip4/10.0.0.5/tcp/38331/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"}
    for key, bad in (("custom_name", "../x"), ("custom_name", "local"), ("rpc_url", "ftp://x"),
                     ("chain_id", "-1"), ("coordinator", "0x12"), ("bootnodes", "10.0.0.5:38331"),
                     ("bootnodes", "/ip4/10.0.0.5/tcp/38331/p2p/QmNotAPeerId")):
        with pytest.raises(WizardError) as e:
            w.answer({**good, key: bad})
        assert e.value.field == key
    w.answer(good)
    for _ in range(4):
        w.answer({})
    r = w.result()
    assert r.settings["network"] == "lab" and r.settings["backend"] == "web3"
    assert r.custom_network == {"rpc_url": "http://10.0.0.5:8545", "chain_id": 31337,
                                "coordinator": "0x" + "ab" * 20, "bootnodes": ["/ip4/10.0.0.5/tcp/38331/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"]}


def test_hf_token_is_validated_kept_secret_and_optional():
    w = Wizard(CPU_HW, name="main")
    w.answer({"network": "local"})
    w.answer({})
    with pytest.raises(WizardError):
        w.answer({"hf_token": "password123"})
    with pytest.raises(WizardError):
        w.answer({"hf_repo": "no-slash"})
    w.answer({"hf_token": TOKEN, "hf_repo": "ada/adapter"})
    # going back and leaving the field empty keeps the stored token
    w.back()
    w.answer({"hf_repo": "ada/adapter"})
    assert w.values["hf_token"] == TOKEN
    w.answer({})
    summary = dict(w.summary())
    assert summary["hf_token"] == "set" and TOKEN not in repr(w.summary())
    w.answer({})
    r = w.result()
    assert r.hf_token == TOKEN and TOKEN not in repr(r)


def test_ports_are_checked():
    w = Wizard(CPU_HW, name="b", taken_ports={3000})
    assert w.values["login_port"] == 3001  # the first port no other profile uses
    w.answer({"network": "local"})
    w.answer({})
    w.answer({})
    for bad, field in (({"login_port": "80"}, "login_port"), ({"login_port": "70000"}, "login_port"),
                       ({"login_port": "abc"}, "login_port"), ({"login_port": "3000"}, "login_port"),
                       ({"dht_port": "3001"}, "dht_port"), ({"dht_port": "-5"}, "dht_port")):
        with pytest.raises(WizardError) as e:
            w.answer(bad)
        assert e.value.field == field
    w.answer({"login_port": "3005", "dht_port": "38331"})
    assert (w.values["login_port"], w.values["dht_port"]) == (3005, 38331)


def test_name_step_for_new_profiles():
    w = Wizard(CPU_HW, existing_profiles=["main"])
    assert w.step == "name" and not w.can_go_back()
    for bad in ("", "../x", "main", "a" * 40, "has space"):
        with pytest.raises(WizardError):
            w.answer({"name": bad})
    w.answer({"name": "gpu1"})
    assert w.step == "network"


def test_back_walks_history_and_cancel_closes():
    w = Wizard(CPU_HW, name="main")
    w.answer({"network": "gensyn-testnet"})
    w.answer({"participate": "y"})
    w.answer({"quant": "bf16"})
    assert w.step == "hf"
    assert w.back() == "hardware" and w.values["quant"] == "bf16"  # answers survive going back
    assert w.back() == "participation"
    assert w.back() == "network"
    assert w.back() == "network"  # first step: stays
    w.answer({"network": "local"})  # changing the network drops the participation step
    assert w.step == "hardware" and "participation" not in w.active_steps()
    w.cancel()
    assert w.status == "cancelled"
    with pytest.raises(WizardClosed):
        w.answer({})
    with pytest.raises(WizardClosed):
        w.result()


def test_prompter_flow_with_errors_back_and_cancel():
    s = Script([{"name": "../bad"}, {"name": "n1"}, {"network": "gensyn-testnet"}, BACK,
                {"network": "local"}, {}, {"hf_token": ""}, {"login_port": 3002}, {}])
    r = Wizard(CPU_HW).run(s)
    assert s.errors == [("name", "name")]
    assert s.asked == ["name", "name", "network", "participation", "network", "hardware", "hf", "ports", "confirm"]
    assert r.name == "n1" and r.settings["login_port"] == 3002 and r.hf_token is None
    assert Wizard(CPU_HW).run(Script([{"name": "x"}, CANCEL])) is None


def test_apply_result_creates_the_profile_and_stores_the_token_0600():
    from core.config.settings import load_config
    from core.identity.profiles import load_profile

    w = Wizard(CPU_HW, existing_profiles=["default"])
    w.run(Script([{"name": "w1"}, {"network": "local"}, {"quant": "fp32"},
                  {"hf_token": TOKEN, "hf_repo": "ada/a"}, {"login_port": 3010}, {}]))
    apply_result(w.result())
    p = load_profile("w1")
    assert (p.settings.quant, p.settings.login_port, p.settings.hf_repo) == ("fp32", 3010, "ada/a")
    tok = ProfilePaths("w1").secrets_dir / "hf_token"
    assert tok.read_text().strip() == TOKEN
    assert stat.S_IMODE(tok.stat().st_mode) == 0o600
    assert stat.S_IMODE(tok.parent.stat().st_mode) == 0o700
    assert TOKEN not in load_config().path.read_text()
    store_hf_token("w1", TOKEN + "x")  # replacing keeps 0600
    assert stat.S_IMODE(tok.stat().st_mode) == 0o600


def test_summary_shows_the_model_that_will_really_run_and_why():
    """A CPU local profile said 'Model Qwen/Qwen2.5-0.5B-Instruct', but model = "auto" runs the tiny model."""
    w = Wizard(CPU_HW, name="main")
    w.answer({"network": "local"})
    w.answer({}), w.answer({}), w.answer({})
    rows = dict(w.summary())
    assert rows["model"] == "tiny" and rows["model_why"] == "cpu_local"
    # what the summary promises is what the node's rule picks for the stored value
    from core.usecases.profile_setup import planned_model

    assert planned_model(w.values["model"], "local", CPU_HW.recommended_model, True).stored == "auto"
    # an explicit other model is run as picked
    w2 = Wizard(CPU_HW, name="x")
    w2.answer({"network": "local"})
    w2.answer({"model": "Qwen/Qwen2.5-1.5B-Instruct"})
    w2.answer({}), w2.answer({})
    assert dict(w2.summary())["model"] == "Qwen/Qwen2.5-1.5B-Instruct" and "model_why" not in dict(w2.summary())
    # the testnet, and a GPU on the local network, run the recommendation
    for hw, net in ((CPU_HW, "gensyn-testnet"), (GPU_HW, "local")):
        w3 = Wizard(hw, name="y")
        w3.answer({"network": net})
        while w3.step != "confirm":
            w3.answer({})
        assert dict(w3.summary())["model"] == hw.recommended_model and "model_why" not in dict(w3.summary())
