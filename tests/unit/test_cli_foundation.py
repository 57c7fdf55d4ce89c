"""The foundation's CLI verbs end to end (real files under the temp home): output, exit codes
(0 ok, 1 user error), messages without tracebacks, and no secret in status/identity output."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from core.identity import files as identity
from core.base import paths
from tui.cli import main

SECRET = "0xSESSIONPRIVATEKEY1234567890"


def run(capsys, *argv, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        import io

        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    rc = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


def test_config_path_and_validate(capsys):
    rc, out, _ = run(capsys, "config", "path")
    assert rc == 0 and out.splitlines()[0] == str(paths.config_file()) and "created from" in out
    rc, out, _ = run(capsys, "config", "validate")
    assert rc == 0 and "OK" in out
    paths.config_file().write_text('current_profile = "x"\nfoo = 1\n[profiles.x]\ndht_port = "abc"\n')
    rc, out, _ = run(capsys, "config", "validate")
    assert rc == 1
    assert "3 problems" in out or "2 problems" in out
    assert ":2: foo: unknown key" in out and ":4: profiles.x.dht_port: must be an integer" in out
    rc, out, _ = run(capsys, "config", "validate", "--json")
    data = json.loads(out)
    assert rc == 1 and not data["ok"] and {p["line"] for p in data["problems"]} == {2, 4}


def test_corrupt_config_is_a_clear_error_for_other_commands(capsys):
    paths.config_file().parent.mkdir(parents=True)
    paths.config_file().write_text("[profiles.a\n")
    rc, out, err = run(capsys, "profile", "new", "b")
    assert rc == 1 and "not valid TOML" in err and f"{paths.config_file()}:1" in err
    rc, out, err = run(capsys, "config", "reset")
    assert rc == 0 and "moved the old config" in out
    baks = list(paths.config_dir().glob("config.toml.bak-*"))
    assert len(baks) == 1 and baks[0].read_text() == "[profiles.a\n"  # nothing lost
    assert run(capsys, "config", "validate")[0] == 0


def test_profile_verbs(capsys, tmp_path):
    rc, out, err = run(capsys, "profile", "new", "gpu1", "--gpus", "1", "--dht-port", "38331")
    assert rc == 0 and "peer id: Qm" in out and "identity backup" in out
    pid = identity.peer_id_from_pem(paths.ProfilePaths("gpu1").swarm_pem)
    assert pid in out and identity.display_name(pid) in out
    for bad in ("../x", "", "a/b"):
        rc, out, err = run(capsys, "profile", "new", bad)
        assert rc == 1 and "profile name" in err and "fix:" in err
    rc, out, err = run(capsys, "profile", "new", "gpu1")
    assert rc == 1 and "already exists" in err
    rc, out, err = run(capsys, "profile", "new", "clash", "--dht-port", "38331")
    assert rc == 1 and "also the dht_port of profile 'gpu1'" in err
    rc, out, _ = run(capsys, "profile", "list")
    assert rc == 0 and "* default" in out and "gpu1" in out and identity.display_name(pid) in out
    assert run(capsys, "profile", "use", "gpu1")[0] == 0
    rc, out, _ = run(capsys, "profile", "list", "--json")
    assert [p["name"] for p in json.loads(out) if p["current"]] == ["gpu1"]
    rc, out, _ = run(capsys, "profile", "rename", "gpu1", "second")
    assert rc == 0
    rc, out, _ = run(capsys, "profile", "archive", "second")
    assert rc == 0 and "moved to" in out and "nothing was deleted" in out
    arch = Path(out.split("moved to ")[1].split()[0])
    assert identity.peer_id_from_pem(arch / "identity" / "swarm.pem") == pid
    rc, _, err = run(capsys, "profile", "use", "second")
    assert rc == 1 and "does not exist" in err


def test_profile_import(capsys, tmp_path):
    src = tmp_path / "rl-swarm"
    (src / "modal-login" / "temp-data").mkdir(parents=True)
    (src / "swarm.pem").write_bytes(identity.new_swarm_pem_bytes())
    rc, out, err = run(capsys, "profile", "import", str(src))
    assert rc == 1 and "userData.json, userApiKey.json not found" in err and "--pem-only" in err
    assert not paths.ProfilePaths("rl-swarm").root.exists()
    identity.write_user_data(src / "modal-login" / "temp-data", "org", "0xA", "u")
    identity.append_user_api_key(src / "modal-login" / "temp-data", "org", {"publicKey": "0xP", "privateKey": SECRET})
    rc, out, err = run(capsys, "profile", "import", str(src))
    assert rc == 0 and "imported into profile 'rl-swarm'" in out
    assert identity.peer_id_from_pem(src / "swarm.pem") in out
    rc, out, err = run(capsys, "profile", "import", str(src), "-p", "again")
    assert rc == 1 and "already uses this peer id" in err


def test_status_json_never_has_secrets(capsys):
    run(capsys, "profile", "new", "main", "--use")
    d = paths.ProfilePaths("main").identity_dir
    identity.write_user_data(d, "org-1", "0xA", "u", "me@example.org")
    identity.append_user_api_key(d, "org-1", {"publicKey": "0xP", "privateKey": SECRET, "activated": True})
    rc, out, _ = run(capsys, "status", "--json")
    st = json.loads(out)
    assert rc == 0 and SECRET not in out and "privateKey" not in out and "private" not in out
    main_p = next(p for p in st["profiles"] if p["name"] == "main")
    assert main_p["current"] and main_p["identity"]["peer_id"].startswith("Qm")
    assert main_p["identity"]["display_name"] and main_p["identity"]["backup"]["state"] == "none"
    assert main_p["identity"]["login"]["activated"] is True and main_p["running"] is False
    rc, out, _ = run(capsys, "status")
    assert rc == 0 and "NO BACKUP" in out and "me@example.org" in out and SECRET not in out
    rc, out, _ = run(capsys, "identity", "show", "--json")
    assert rc == 0 and SECRET not in out and json.loads(out)["profile"] == "main"


def test_identity_backup_verify_restore_cli(capsys, monkeypatch, tmp_path):
    run(capsys, "profile", "new", "main", "--use")
    pw = tmp_path / "pw"
    pw.write_text("correct horse battery\n")
    rc, out, err = run(capsys, "identity", "backup", str(tmp_path), "--passphrase-file", str(pw))
    assert rc == 0 and "backup written and verified" in out and "deriving the key" in err  # progress shown
    archive = Path(out.split("verified: ")[1].split()[0])
    rc, out, _ = run(capsys, "identity", "show")
    assert "backup:    verified" in out
    rc, out, err = run(capsys, "identity", "verify", str(archive), stdin="wrong passphrase\n", monkeypatch=monkeypatch)
    assert rc == 1 and "wrong passphrase" in err
    rc, out, _ = run(capsys, "identity", "verify", str(archive), "--passphrase-file", str(pw))
    assert rc == 0 and "OK" in out
    rc, out, err = run(capsys, "identity", "restore", str(archive), "-p", "main", "--passphrase-file", str(pw))
    assert rc == 1 and "never overwrites" in err
    rc, out, err = run(capsys, "identity", "restore", str(archive), "--passphrase-file", str(pw))
    assert rc == 1 and "-p NEW_NAME" in err


def test_identity_permissions_warning_and_fix(capsys):
    run(capsys, "profile", "new", "main", "--use")
    pem = paths.ProfilePaths("main").swarm_pem
    os.chmod(pem, 0o644)
    rc, out, err = run(capsys, "identity", "show")
    assert "UNPROTECTED IDENTITY FILES" in err and "swarmdeck identity fix-perms -p main" in err
    rc, out, _ = run(capsys, "status")
    assert "fix-perms" in out
    rc, out, _ = run(capsys, "identity", "fix-perms")
    assert rc == 0 and "0o644 -> 0o600" in out
    assert oct(os.stat(pem).st_mode & 0o777) == "0o600"


def test_identity_damaged_pem_is_reported(capsys):
    run(capsys, "profile", "new", "main", "--use")
    pem = paths.ProfilePaths("main").swarm_pem
    pem.write_bytes(pem.read_bytes()[:100])
    rc, out, _ = run(capsys, "identity", "show")
    assert rc == 1 and "not a valid libp2p identity" in out and "restore" in out
    rc, out, _ = run(capsys, "status", "--json")
    assert rc == 0 and json.loads(out)["profiles"][1]["identity"]["errors"]


def test_doctor_json_and_text(capsys):
    rc, out, _ = run(capsys, "doctor", "--json", "--no-torch")
    rep = json.loads(out)
    assert rc == (0 if rep["ok"] else 1)
    assert {c["id"] for c in rep["checks"]} >= {"arch", "python", "ram", "gpu", "disk", "port", "session", "colors"}
    assert rep["recommendation"]["model"]
    rc, out, err = run(capsys, "doctor", "--no-torch")
    assert "Recommended: model" in out and "probing GPUs" in err


def test_profile_import_on_the_testnet_adopts_the_checkouts_sign_in_app(capsys, tmp_path):
    import shutil

    from core.identity.profiles import load_profile

    src = tmp_path / "rl-swarm"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "modal-login-standin", src / "modal-login")
    (src / "swarm.pem").write_bytes(identity.new_swarm_pem_bytes())
    identity.write_user_data(src / "modal-login" / "temp-data", "org", "0xA", "u")
    identity.append_user_api_key(src / "modal-login" / "temp-data", "org", {"publicKey": "0xP", "privateKey": SECRET})
    rc, out, err = run(capsys, "profile", "import", str(src), "-p", "tn", "--network", "gensyn-testnet")
    assert rc == 0, err
    assert f"sign-in app: {(src / 'modal-login').resolve()}" in out
    assert load_profile("tn").settings.login_app == str((src / "modal-login").resolve())
    # the local network signs in at swarmdeck's own page: nothing adopted there
    src2 = tmp_path / "other"
    shutil.copytree(src, src2)
    (src2 / "swarm.pem").write_bytes(identity.new_swarm_pem_bytes())
    for f in ("userData.json", "userApiKey.json"):
        (src2 / "modal-login" / "temp-data" / f).unlink()
    identity.write_user_data(src2 / "modal-login" / "temp-data", "org2", "0xB", "u2")
    identity.append_user_api_key(src2 / "modal-login" / "temp-data", "org2", {"publicKey": "0xQ", "privateKey": SECRET})
    rc, out, err = run(capsys, "profile", "import", str(src2), "-p", "home", "--network", "local")
    assert rc == 0, err
    assert "sign-in app" not in out and load_profile("home").settings.login_app == ""


def test_profile_option_is_accepted_after_every_command(capsys):
    """`status -p NAME` was refused while `start -p NAME` worked: -p goes before or after any command."""
    run(capsys, "profile", "new", "one", "--use")
    run(capsys, "profile", "new", "two")
    for argv in (("status", "-p", "two"), ("-p", "two", "status")):
        rc, out, err = run(capsys, *argv)
        assert rc == 0, err
        assert " two " in out and " one " not in out
    rc, out, _ = run(capsys, "status", "--json", "-p", "two")
    assert rc == 0 and [p["name"] for p in json.loads(out)["profiles"]] == ["two"]
    rc, _, err = run(capsys, "status", "-p", "nope")
    assert rc == 1 and "no profile named 'nope'" in err and "fix:" in err
    from tui.cli import build_parser

    for argv in (["identity", "show", "-p", "two"], ["config", "path", "-p", "two"], ["logs", "-p", "two"],
                 ["network", "status", "-p", "two"], ["profile", "list", "-p", "two"], ["doctor", "-p", "two"]):
        assert build_parser().parse_args(argv).profile == "two", argv
    assert build_parser().parse_args(["-p", "two", "logs"]).profile == "two"


def test_status_with_a_broken_config_says_so_and_where(capsys):
    """It said 'no profiles yet: create one' although profiles existed on disk."""
    run(capsys, "profile", "new", "kept", "--use")
    cfg = paths.config_file()
    cfg.write_text(cfg.read_text() + "\n[profiles.kept\n")
    line = len(cfg.read_text().splitlines())
    rc, out, err = run(capsys, "status")
    assert "no profiles yet" not in out
    assert f"CONFIG BROKEN at {cfg}:{line}" in out and "not valid TOML" in out and "fix:" in out
    assert "profiles on disk" in out and "kept" in out
    rc, out, _ = run(capsys, "status", "--json")
    st = json.loads(out)
    assert st["config_broken"] and st["profiles_on_disk"] == ["kept"] and st["config_problems"][0]["line"] == line


def test_status_names_the_file_line_and_key_of_a_wrong_value_and_fails(capsys):
    """Issue 20: a wrong value printed only the line, not the file and key, and status exited 0."""
    run(capsys, "profile", "new", "kept", "--use")
    cfg = paths.config_file()
    text = cfg.read_text()
    cfg.write_text(text + "\n[profiles.kept.daemon]\nstall_timeout = \"soon\"\n")
    line = len(cfg.read_text().splitlines())
    rc, out, err = run(capsys, "status")
    assert rc == 1, (out, err)
    assert f"{cfg}:{line}" in out and "stall_timeout" in out, out
    rc_v, out_v, _ = run(capsys, "config", "validate")
    assert rc_v == 1 and f"{cfg}:{line}" in out_v  # the same place as `config validate` names
    rc, out, _ = run(capsys, "status", "--json")
    assert rc == 1 and json.loads(out)["config_problems"][0]["key"].endswith("stall_timeout")
    # and a config that does not parse at all: non-zero too
    cfg.write_text(text + "\n[profiles.kept\n")
    rc, out, _ = run(capsys, "status")
    assert rc == 1 and "CONFIG BROKEN" in out


def test_doctor_recommends_what_a_local_profile_runs(capsys):
    """Issue 20: one model recommendation everywhere. On a machine without a GPU, a local-network profile's
    `auto` runs the locally built model: doctor recommends that one for it, as the wizard does."""
    from core.base.constants import local_cpu_model

    run(capsys, "profile", "new", "loc", "--network", "local", "--use")
    rc, out, _ = run(capsys, "doctor", "--json", "--no-torch")
    rec = json.loads(out)["recommendation"]
    want = local_cpu_model() if rec["cpu_mode"] else rec["model"]
    assert rec["for_profile"] == {"profile": "loc", "network": "local", "model": want}
    rc, out, _ = run(capsys, "doctor", "--no-torch")
    assert f"Recommended: model {want}" in out
