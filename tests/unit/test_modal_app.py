"""core.login.modal_app's pure parts: .env by key, the port read-back, key merging, app dir checks."""

from __future__ import annotations

import json
import os
import stat

import pytest

from core.login import modal_app
from core.login.modal_app import AppError, _merge_keys, _port_from_log, read_env, resolve_app_dir, write_env

OFFICIAL_ENV = ("NEXT_PUBLIC_ALCHEMY_API_KEY=abc\nNEXT_PUBLIC_PAYMASTER_POLICY_ID=4c37\n"
                "SWARM_CONTRACT_ADDRESS=0x7745a8FE4b8D2D2c3BB103F8dCae822746F35Da0\n\n\n")


def test_env_value_is_replaced_by_key_wherever_the_line_is(tmp_path):
    (tmp_path / ".env").write_text("# my note\n" + OFFICIAL_ENV)  # a line-number edit ("3s/…/") would hit line 3
    os.chmod(tmp_path / ".env", 0o640)
    assert write_env(tmp_path, {"SWARM_CONTRACT_ADDRESS": "0x2fC68a233EF9E9509f034DD551FF90A79a0B8F82"})
    lines = (tmp_path / ".env").read_text().splitlines()
    assert lines[:3] == ["# my note", "NEXT_PUBLIC_ALCHEMY_API_KEY=abc", "NEXT_PUBLIC_PAYMASTER_POLICY_ID=4c37"]
    assert lines[3] == "SWARM_CONTRACT_ADDRESS=0x2fC68a233EF9E9509f034DD551FF90A79a0B8F82"
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o640  # the file keeps its mode
    assert not write_env(tmp_path, {"SWARM_CONTRACT_ADDRESS": "0x2fC68a233EF9E9509f034DD551FF90A79a0B8F82"})


def test_env_missing_key_is_appended_export_prefix_kept_and_new_file_private(tmp_path):
    (tmp_path / ".env").write_text("export FOO = 1\nBAR=2")
    write_env(tmp_path, {"FOO": "9", "SWARM_CONTRACT_ADDRESS": "0xabc"})
    assert (tmp_path / ".env").read_text() == "export FOO = 9\nBAR=2\nSWARM_CONTRACT_ADDRESS=0xabc\n"
    assert read_env(tmp_path) == {"FOO": "9", "BAR": "2", "SWARM_CONTRACT_ADDRESS": "0xabc"}
    new = tmp_path / "new"
    new.mkdir()
    write_env(new, {"A": "1"})
    assert stat.S_IMODE((new / ".env").stat().st_mode) == 0o600


@pytest.mark.parametrize("output, port", [
    ("  ▲ Next.js 14.2.35\n  - Local:        http://localhost:3001\n\n ✓ Starting...\n ✓ Ready in 312ms\n", 3001),
    ("ready - started server on 0.0.0.0:3002, url: http://localhost:3002\n", 3002),
    ("  - Local:        http://127.0.0.1:40123\n", 40123),
    ("yarn run v1.22.22\n$ next start -p 3000\n", None),  # the command line is not the answer
])
def test_port_is_read_back_from_the_apps_own_output(tmp_path, output, port):
    log = tmp_path / "app.log"
    log.write_text("- Local:        http://localhost:9999 (an earlier run)\n")
    offset = log.stat().st_size
    with open(log, "a") as f:
        f.write(output)
    assert _port_from_log(log, offset) == port


def test_key_merge_keeps_every_key_updates_activation_and_puts_new_ones_last():
    ours = [{"publicKey": "0xA", "activated": True}, {"publicKey": "0xB", "activated": False}]
    theirs = [{"publicKey": "0xb", "activated": True, "accountAddress": "0x1"}, {"publicKey": "0xC", "activated": False}]
    assert _merge_keys(ours, theirs) == [{"publicKey": "0xA", "activated": True},
                                         {"publicKey": "0xb", "activated": True, "accountAddress": "0x1"},
                                         {"publicKey": "0xC", "activated": False}]
    assert _merge_keys(ours, []) == ours  # the app forgetting its keys (deleted temp-data) loses nothing


def test_app_dir_accepts_the_checkout_or_the_app_and_explains_anything_else(tmp_path):
    app = tmp_path / "rl-swarm" / "modal-login"
    app.mkdir(parents=True)
    (app / "package.json").write_text(json.dumps({"scripts": {"build": "next build", "start": "next start"}}))
    assert resolve_app_dir(tmp_path / "rl-swarm") == app.resolve()
    assert resolve_app_dir(app) == app.resolve()
    with pytest.raises(AppError) as e:
        resolve_app_dir(tmp_path / "nope")
    assert "does not exist" in e.value.what and "--clone" in e.value.fix
    with pytest.raises(AppError) as e:
        resolve_app_dir(tmp_path)
    assert "no package.json" in e.value.what
    (tmp_path / "package.json").write_text(json.dumps({"scripts": {"dev": "x"}}))
    with pytest.raises(AppError) as e:
        resolve_app_dir(tmp_path)
    assert "build / start" in e.value.what
    (tmp_path / "package.json").write_text("{not json")
    with pytest.raises(AppError) as e:
        resolve_app_dir(tmp_path)
    assert "cannot read" in e.value.what


def test_missing_yarn_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(modal_app, "__file__", str(tmp_path / "core" / "login" / "modal_app.py"))
    with pytest.raises(AppError) as e:
        modal_app.find_yarn()
    assert "npm install -g yarn" in e.value.fix


def test_doctor_reports_the_sign_in_app_and_sign_in_state(tmp_path):
    import shutil
    from pathlib import Path

    from core.identity import files as identity
    from core.identity import signin
    from core.config.settings import config_lock, load_config
    from core.identity.profiles import create_profile
    from core.doctor.signin_app import check_signin_app

    def checks():
        return {c.id: c for c in check_signin_app("tn")}

    def set_app(v):
        with config_lock():
            cfg = load_config()
            cfg.set_profile_value("tn", "login_app", v)
            cfg.save()

    create_profile("tn", network="gensyn-testnet")
    create_profile("home", network="local")
    assert check_signin_app("home") == []  # the local network signs in at swarmdeck's own page
    c = checks()
    assert c["yarn"].status == "ok"
    assert c["signin_app"].status == "warn" and "--clone" in c["signin_app"].fix
    assert c["signed_in"].status == "warn" and c["signed_in"].fix == "swarmdeck login -p tn"
    set_app(str(tmp_path / "gone"))
    assert checks()["signin_app"].status == "fail" and "does not exist" in checks()["signin_app"].detail
    app = tmp_path / "modal-login"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "modal-login-standin", app)
    set_app(str(app))
    assert checks()["signin_app"].status == "ok" and "not running" in checks()["signin_app"].detail
    from core.identity.profiles import load_profile

    ident = load_profile("tn").paths.identity_dir
    identity.write_user_data(ident, "org-1", "0x" + "ab" * 20, "u1", "zoe@example.org")
    identity.append_user_api_key(ident, "org-1", {"publicKey": "0x01", "privateKey": "0x02", "activated": True})
    assert checks()["signed_in"].status == "ok" and "zoe@example.org" in checks()["signed_in"].detail
    signin.mark_required("tn", "500 api key not found")
    assert checks()["signed_in"].status == "fail" and "sign in again" in checks()["signed_in"].detail


def test_a_half_written_app_file_is_looked_at_again_then_reported(tmp_path, monkeypatch):
    import threading

    from core.login.modal_app import AppFilesUnreadable, AppInfo, wait_for_sign_in
    from core.identity.profiles import create_profile

    prof = create_profile("tn", network="gensyn-testnet")
    tmp = tmp_path / "temp-data"
    tmp.mkdir()
    (tmp / "userData.json").write_text('{"org-1": {"orgId": "org-1", "addr')  # the app is mid-write
    app = AppInfo("http://127.0.0.1:9", 9, 0, str(tmp_path), False)
    monkeypatch.setattr(modal_app, "UNREADABLE_GRACE_S", 0.5)
    with pytest.raises(AppFilesUnreadable) as e:
        wait_for_sign_in(prof, app, poll=0.1, timeout=30)
    assert e.value.where.endswith("temp-data/userData.json:1:30") and "move temp-data/ aside" in e.value.fix
    assert not (prof.paths.identity_dir / "userData.json").exists()  # nothing half-read was copied
    # finished writing in time: no error, the sign-in goes on (here: stopped by the caller)
    monkeypatch.setattr(modal_app, "UNREADABLE_GRACE_S", 30)
    stop = threading.Event()
    threading.Timer(0.5, lambda: (tmp / "userData.json").write_text(
        json.dumps({"org-1": {"orgId": "org-1", "address": "0x" + "ab" * 20, "userId": "u"}}))).start()
    threading.Timer(1.5, stop.set).start()
    assert wait_for_sign_in(prof, app, poll=0.1, stop=stop) is None
    assert (prof.paths.identity_dir / "userData.json").exists()


def test_seeding_moves_an_unreadable_app_file_aside_and_puts_the_profiles_back(tmp_path):
    from core.identity import files as identity
    from core.identity.profiles import create_profile

    prof = create_profile("tn", network="gensyn-testnet")
    identity.write_user_data(prof.paths.identity_dir, "org-1", "0x" + "ab" * 20, "u1")
    identity.append_user_api_key(prof.paths.identity_dir, "org-1", {"publicKey": "0x01", "privateKey": "0x02",
                                                                     "activated": True})
    tmp = tmp_path / "temp-data"
    tmp.mkdir()
    (tmp / "userData.json").write_text(json.dumps({"org-1": {"orgId": "org-1", "address": "0x", "userId": "u1"}}))
    (tmp / "userApiKey.json").write_text("{broken")
    assert modal_app.seed_temp_data(prof.paths, tmp_path)
    aside = list(tmp.glob("replaced-*/userApiKey.json"))
    assert len(aside) == 1 and aside[0].read_text() == "{broken"  # kept, never deleted
    for f in modal_app.FILES:
        assert (tmp / f).read_bytes() == (prof.paths.identity_dir / f).read_bytes()


def test_the_refused_key_is_the_one_recorded_when_the_chain_refused_it():
    from core.identity import files as identity
    from core.identity import signin
    from core.identity.profiles import create_profile

    prof = create_profile("tn", network="gensyn-testnet")
    d = prof.paths.identity_dir
    identity.write_user_data(d, "org-1", "0x" + "ab" * 20, "u1")
    identity.append_user_api_key(d, "org-1", {"publicKey": "0xOLD", "privateKey": "0x02", "activated": True})
    assert signin.refused_key("tn") is None  # nothing refused: any activated key counts
    assert signin.refused_key("tn", again=True) == "0xOLD"  # `login --again`: the current one
    signin.mark_required("tn", "500 api key not found")
    # later the app's half-finished sign-in is merged in: the newest entry is not the refused one
    identity.append_user_api_key(d, "org-1", {"publicKey": "0xHALF", "privateKey": "0x03", "activated": False})
    assert signin.refused_key("tn") == "0xOLD"
    assert signin.required("tn")["key"] == "0xOLD"
    signin.mark_required("tn", "AA24")  # the same episode again keeps what was refused first
    assert signin.required("tn")["key"] == "0xOLD"


def test_two_profiles_cannot_share_one_app_dir(tmp_path):
    import shutil
    from pathlib import Path

    from core.identity.profiles import create_profile

    app = tmp_path / "rl-swarm" / "modal-login"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "modal-login-standin", app)
    create_profile("a", network="gensyn-testnet")
    create_profile("b", network="gensyn-testnet")
    create_profile("c", network="gensyn-testnet")
    modal_app.set_app_dir("a", app.resolve())
    modal_app.set_app_dir("c", tmp_path / "gone")  # a broken setting elsewhere is not our error
    modal_app.check_not_shared("a", app.resolve())  # its own dir: fine
    with pytest.raises(AppError) as e:
        modal_app.check_not_shared("b", resolve_app_dir(tmp_path / "rl-swarm"))
    assert "profile 'a' already uses" in e.value.what and "login -p b --clone" in e.value.fix
    assert e.value.where == "config.toml [profiles.b] login_app"


def test_login_app_is_checked_before_it_is_saved_by_the_cli_too(tmp_path, capsys):
    """The CLI saved `--app DIR` to config.toml first and checked 'not another profile's' later
    (the TUI checked first); both now go through core.usecases.signin.use_app_dir."""
    import shutil
    from pathlib import Path

    from core.config.settings import config_path
    from core.identity.profiles import create_profile
    from tui.cli import main

    app = tmp_path / "rl-swarm" / "modal-login"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "modal-login-standin", app)
    create_profile("a", network="gensyn-testnet")
    create_profile("b", network="gensyn-testnet")
    modal_app.set_app_dir("a", app.resolve())
    before = config_path().read_text()
    rc = main(["login", "-p", "b", "--app", str(tmp_path / "rl-swarm"), "--no-wait"])
    err = capsys.readouterr().err
    assert rc == 1 and "profile 'a' already uses the sign-in app" in err
    assert config_path().read_text() == before  # nothing saved
