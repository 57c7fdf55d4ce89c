"""core.identity.profiles with real dirs: create/list/use/rename/archive/import and every bad-input case."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from core.config import settings as config
from core.identity import files as identity
from core.base import paths
from core.identity import profiles
from core.base.errors import IdentityError, ProfileError


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_create_profile_layout_and_config():
    prof = profiles.create_profile("gpu1", gpus=[1], dht_port=38331, quant="4bit")
    assert mode(prof.paths.root) == 0o700 and mode(prof.paths.identity_dir) == 0o700
    assert mode(prof.paths.swarm_pem) == 0o600
    assert prof.settings.gpus == (1,) and prof.settings.quant == "4bit" and prof.network.kind == "local"
    cfg = config.load_config()
    assert "gpu1" in cfg.profile_names()
    assert cfg.current_profile == "default"  # the example's default profile stays current
    assert [p.name for p in profiles.list_profiles()] == ["default", "gpu1"]
    assert profiles.read_state("gpu1")["created_at"]


@pytest.mark.parametrize("name", ["../x", "", "a/b", ".hidden", "x" * 33, "with space", "-dash", "..", "é"])
def test_bad_names_rejected_nothing_created(name):
    before = sorted(p.name for p in paths.profiles_dir().iterdir()) if paths.profiles_dir().exists() else []
    with pytest.raises(ProfileError) as ei:
        profiles.create_profile(name)
    assert ei.value.fix
    after = sorted(p.name for p in paths.profiles_dir().iterdir()) if paths.profiles_dir().exists() else []
    assert after == before
    assert not (paths.data_dir().parent / "x").exists()
    assert name not in config.load_config().profile_names()


def test_duplicate_name_rejected_identity_kept():
    prof = profiles.create_profile("a")
    pem = prof.paths.swarm_pem.read_bytes()
    with pytest.raises(ProfileError, match="already exists"):
        profiles.create_profile("a")
    assert prof.paths.swarm_pem.read_bytes() == pem


def test_leftover_dir_is_not_reused():
    d = paths.ProfilePaths("old").identity_dir
    d.mkdir(parents=True)
    (d / "swarm.pem").write_bytes(b"someone's key")
    with pytest.raises(ProfileError, match="not empty"):
        profiles.create_profile("old")
    assert (d / "swarm.pem").read_bytes() == b"someone's key"


def test_use_and_load_current():
    profiles.create_profile("b", login_port=3005)
    assert profiles.load_profile().name == "default"
    profiles.use_profile("b")
    prof = profiles.load_profile()
    assert prof.name == "b" and prof.network.login_url == "http://127.0.0.1:3005"
    with pytest.raises(ProfileError, match="does not exist"):
        profiles.use_profile("nope")


def test_rename_moves_dir_keeps_identity():
    prof = profiles.create_profile("a")
    pid = identity.peer_id_from_pem(prof.paths.swarm_pem)
    profiles.use_profile("a")
    new = profiles.rename_profile("a", "b")
    assert not prof.paths.root.exists() and identity.peer_id_from_pem(new.paths.swarm_pem) == pid
    cfg = config.load_config()
    assert "a" not in cfg.profile_names() and cfg.current_profile == "b"
    with pytest.raises(ProfileError):
        profiles.rename_profile("b", "../evil")


def test_rename_and_archive_refused_while_running():
    prof = profiles.create_profile("a")
    with identity.NodeLock(prof.paths):
        with pytest.raises(ProfileError, match="running node"):
            profiles.rename_profile("a", "b")
        with pytest.raises(ProfileError, match="running node"):
            profiles.archive_profile("a")
    assert prof.paths.swarm_pem.exists()


def test_archive_moves_never_deletes():
    prof = profiles.create_profile("a")
    identity.write_user_data(prof.paths.identity_dir, "org", "0x1", "u")
    files = {p.name: p.read_bytes() for p in prof.paths.identity_dir.iterdir()}
    dest = profiles.archive_profile("a")
    assert not prof.paths.root.exists()
    assert dest.parent == paths.archive_dir()
    assert {p.name: p.read_bytes() for p in (dest / "identity").iterdir()} == files
    assert (dest / "profile.toml").exists()
    assert "a" not in config.load_config().profile_names()
    # the name can be used again; a second archive of it does not collide
    profiles.create_profile("a")
    dest2 = profiles.archive_profile("a")
    assert dest2 != dest and dest.exists()


def make_rlswarm(root: Path, *, with_login=True, pem: bytes | None = None, org="org-7") -> Path:
    """An rl-swarm checkout: swarm.pem at the top, login files in modal-login/temp-data/."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "swarm.pem").write_bytes(pem or identity.new_swarm_pem_bytes())
    os.chmod(root / "swarm.pem", 0o400)
    if with_login:
        td = root / "modal-login" / "temp-data"
        td.mkdir(parents=True)
        (td / "userData.json").write_text(json.dumps({org: {"orgId": org, "address": "0xA", "userId": "u"}}))
        (td / "userApiKey.json").write_text(json.dumps({org: [{"publicKey": "0xP", "privateKey": "0xS",
                                                               "createdAt": "t", "activated": True}]}))
    return root


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


def test_import_copies_verifies_and_leaves_originals(tmp_path):
    src = make_rlswarm(tmp_path / "rl-swarm")
    before = snapshot(src)
    want_pid = identity.peer_id_from_pem(src / "swarm.pem")
    prof = profiles.import_profile("imported", src)
    assert snapshot(src) == before  # originals untouched (bytes, mode, mtime)
    assert identity.peer_id_from_pem(prof.paths.swarm_pem) == want_pid
    for f in identity.IDENTITY_FILES:
        assert mode(prof.paths.identity_dir / f) == 0o600
    st = profiles.read_state("imported")
    assert st["imported_sha256"]["swarm.pem"] == hashlib.sha256(before["swarm.pem"][0]).hexdigest()
    assert identity.read_login(prof.paths.identity_dir).org_id == "org-7"


def test_import_missing_files_creates_nothing(tmp_path):
    src = make_rlswarm(tmp_path / "rl", with_login=False)
    with pytest.raises(ProfileError) as ei:
        profiles.import_profile("imp", src)
    assert "userData.json" in ei.value.what and "--pem-only" in ei.value.fix
    assert not paths.ProfilePaths("imp").root.exists()
    assert "imp" not in config.load_config().profile_names()
    prof = profiles.import_profile("imp", src, pem_only=True)
    assert prof.paths.swarm_pem.exists() and not prof.paths.user_data.exists()


def test_import_from_empty_dir_and_non_dir(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProfileError, match="swarm.pem"):
        profiles.import_profile("imp", tmp_path / "empty", pem_only=True)
    with pytest.raises(ProfileError, match="not a directory"):
        profiles.import_profile("imp", tmp_path / "missing")
    assert not paths.ProfilePaths("imp").root.exists()


def test_import_garbage_pem_or_bad_json_creates_nothing(tmp_path):
    src = make_rlswarm(tmp_path / "rl")
    os.chmod(src / "swarm.pem", 0o600)
    (src / "swarm.pem").write_bytes(b"\x00garbage")
    with pytest.raises(IdentityError, match="not a valid libp2p identity"):
        profiles.import_profile("imp", src)
    src2 = make_rlswarm(tmp_path / "rl2")
    (src2 / "modal-login" / "temp-data" / "userApiKey.json").write_text("{not json")
    with pytest.raises(IdentityError, match="not valid JSON"):
        profiles.import_profile("imp", src2)
    assert not paths.ProfilePaths("imp").root.exists()


def test_import_same_identity_twice_refused(tmp_path):
    src = make_rlswarm(tmp_path / "rl")
    profiles.import_profile("one", src)
    with pytest.raises(IdentityError, match="already uses this peer id"):
        profiles.import_profile("two", src)
    other = make_rlswarm(tmp_path / "rl2", org="org-7")  # new key, same account
    with pytest.raises(IdentityError, match="orgId org-7"):
        profiles.import_profile("three", other)
    assert not paths.ProfilePaths("two").root.exists()


def test_import_login_files_into_existing_profile(tmp_path):
    prof = profiles.create_profile("tn", network="gensyn-testnet")
    pem_before = prof.paths.swarm_pem.read_bytes()
    src = tmp_path / "temp-data"
    src.mkdir()
    make = make_rlswarm(tmp_path / "x")  # take only its login files
    for f in ("userData.json", "userApiKey.json"):
        (src / f).write_bytes((make / "modal-login" / "temp-data" / f).read_bytes())
    profiles.import_profile("tn", src)
    assert prof.paths.swarm_pem.read_bytes() == pem_before
    assert identity.read_login(prof.paths.identity_dir).org_id == "org-7"
    # a different swarm.pem for a profile that has one: refused, nothing overwritten
    (src / "swarm.pem").write_bytes(identity.new_swarm_pem_bytes())
    with pytest.raises(IdentityError, match="never overwrites"):
        profiles.import_profile("tn", src)
    assert prof.paths.swarm_pem.read_bytes() == pem_before


def test_no_profile_selected():
    cfg = config.load_config()
    cfg.remove_profile("default")
    cfg.save()
    with pytest.raises(ProfileError, match="no profile is selected"):
        profiles.load_profile()
