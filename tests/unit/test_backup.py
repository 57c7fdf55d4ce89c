"""Encrypted identity backups with real archives: round trip, wrong passphrase, tampering,
restore rules, SIGTERM mid-backup. Most tests use a cheaper scrypt cost (n=2**14) for speed;
one uses the default to show the real setting works."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from core.identity import backup
from core.config import settings as config
from core.identity import files as identity
from core.base import paths
from core.identity import profiles
from core.base.errors import IdentityError
from tests.helpers.identity import files, signed_in

FAST = 2**14
PW = "correct horse battery"




def test_roundtrip_default_cost(tmp_path):
    prof = signed_in("main")
    info = backup.create_backup("main", tmp_path, PW)  # default scrypt cost
    assert info.verified and info.archive.parent == tmp_path and info.archive.suffix == ".sdbackup"
    assert stat.S_IMODE(info.archive.stat().st_mode) == 0o600
    blob = info.archive.read_bytes()
    assert b"0xSECRETKEY" not in blob and b"me@example.org" not in blob  # encrypted, not just packed
    st = backup.backup_state("main")
    assert st["state"] == "verified" and st["archive"] == str(info.archive)
    # disaster: the profile is gone; restore into a new one on a "new machine"
    pid = identity.peer_id_from_pem(prof.paths.swarm_pem)
    live = files(prof.paths.identity_dir)
    profiles.archive_profile("main")
    r = backup.restore_backup(info.archive, PW, "restored")
    assert r.peer_id == pid and r.display_name == identity.display_name(pid)
    newp = paths.ProfilePaths("restored")
    assert files(newp.identity_dir) == live
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in newp.identity_dir.iterdir())
    assert backup.backup_state("restored")["state"] == "verified"
    assert "restored" in config.load_config().profile_names()


def test_backup_state_goes_outdated_when_identity_changes(tmp_path):
    prof = signed_in("main")
    backup.create_backup("main", tmp_path / "a.sdbackup", PW, scrypt_n=FAST)
    assert backup.backup_state("main")["state"] == "verified"
    identity.append_user_api_key(prof.paths.identity_dir, "org-1", {"publicKey": "0xNEW", "privateKey": "0xS2"})
    assert backup.backup_state("main")["state"] == "outdated"
    with pytest.raises(IdentityError, match="does not match"):
        backup.verify_backup(tmp_path / "a.sdbackup", PW, profile="main")
    assert backup.backup_state("none-yet")["state"] == "none"


def test_wrong_passphrase(tmp_path):
    signed_in("main")
    info = backup.create_backup("main", tmp_path / "b.sdbackup", PW, scrypt_n=FAST)
    with pytest.raises(IdentityError, match="wrong passphrase"):
        backup.verify_backup(info.archive, "not the passphrase")
    with pytest.raises(IdentityError, match="wrong passphrase"):
        backup.restore_backup(info.archive, "not the passphrase", "other")
    assert not paths.ProfilePaths("other").root.exists()


@pytest.mark.parametrize("where", ["ciphertext", "tag", "header", "truncate", "magic"])
def test_tampered_archive(tmp_path, where):
    signed_in("main")
    info = backup.create_backup("main", tmp_path / "c.sdbackup", PW, scrypt_n=FAST)
    blob = bytearray(info.archive.read_bytes())
    hlen = int.from_bytes(blob[8:12], "big")
    if where == "ciphertext":
        blob[12 + hlen + 40] ^= 0x01
    elif where == "tag":
        blob[-1] ^= 0x80
    elif where == "header":
        i = blob.index(b'"cipher"')
        blob[i + 12] ^= 0x01  # a byte inside the (authenticated) header
    elif where == "truncate":
        blob = blob[: len(blob) // 2]
    elif where == "magic":
        blob[0:4] = b"PK\x03\x04"
    bad = tmp_path / "bad.sdbackup"
    bad.write_bytes(bytes(blob))
    with pytest.raises(IdentityError) as ei:
        backup.verify_backup(bad, PW)
    assert ("damaged" in ei.value.what or "not a swarmdeck" in ei.value.what)
    with pytest.raises(IdentityError):
        backup.restore_backup(bad, PW, "fromtamper")
    assert not (paths.ProfilePaths("fromtamper").identity_dir / "swarm.pem").exists()


def test_hostile_kdf_parameters_refused_quickly(tmp_path):
    import json

    signed_in("main")
    info = backup.create_backup("main", tmp_path / "d.sdbackup", PW, scrypt_n=FAST)
    blob = info.archive.read_bytes()
    hlen = int.from_bytes(blob[8:12], "big")
    header = json.loads(blob[12 : 12 + hlen])
    header["kdf"]["n"] = 2**30  # would need 1 TiB of RAM
    h = json.dumps(header).encode()
    (tmp_path / "e.sdbackup").write_bytes(blob[:8] + len(h).to_bytes(4, "big") + h + blob[12 + hlen :])
    t = time.time()
    with pytest.raises(IdentityError, match="damaged"):
        backup.verify_backup(tmp_path / "e.sdbackup", PW)
    assert time.time() - t < 2


def test_restore_over_existing_identity_refused(tmp_path):
    prof = signed_in("main")
    info = backup.create_backup("main", tmp_path / "f.sdbackup", PW, scrypt_n=FAST)
    other = profiles.create_profile("other")
    before = files(other.paths.identity_dir)
    with pytest.raises(IdentityError, match="never overwrites"):
        backup.restore_backup(info.archive, PW, "other")
    assert files(other.paths.identity_dir) == before
    with pytest.raises(IdentityError, match="already has an identity"):
        backup.restore_backup(info.archive, PW, "main")  # its own profile: still never overwritten
    # an existing but empty profile is fine ... unless the identity is live in another profile
    cfg = config.load_config()
    cfg.add_profile("empty")
    cfg.save()
    with pytest.raises(IdentityError, match="already holds this identity"):
        backup.restore_backup(info.archive, PW, "empty")
    profiles.archive_profile("main")
    r = backup.restore_backup(info.archive, PW, "empty")
    assert r.peer_id == identity.peer_id_from_pem(paths.ProfilePaths("empty").swarm_pem)


def test_backup_never_overwrites_and_checks_passphrase(tmp_path):
    signed_in("main")
    dest = tmp_path / "g.sdbackup"
    dest.write_bytes(b"precious")
    with pytest.raises(IdentityError, match="already exists"):
        backup.create_backup("main", dest, PW, scrypt_n=FAST)
    assert dest.read_bytes() == b"precious"
    with pytest.raises(IdentityError, match="at least"):
        backup.create_backup("main", tmp_path / "h.sdbackup", "short", scrypt_n=FAST)
    with pytest.raises(IdentityError, match="does not exist"):
        backup.create_backup("main", tmp_path / "nodir" / "x.sdbackup", PW, scrypt_n=FAST)
    with pytest.raises(IdentityError, match="no swarm.pem"):
        profiles.create_profile("bare", identity=False)
        backup.create_backup("bare", tmp_path / "i.sdbackup", PW, scrypt_n=FAST)


def test_failure_midway_removes_partial(tmp_path):
    prof = signed_in("main")
    live = files(prof.paths.identity_dir)

    def boom(msg):
        if msg == "encrypting":
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        backup.create_backup("main", tmp_path / "j.sdbackup", PW, scrypt_n=FAST, progress=boom)
    assert list(tmp_path.iterdir()) == []  # no archive, no partial
    assert files(prof.paths.identity_dir) == live
