"""A hosted swarm's bootnode identity is backed up like a profile's (issue 19): real encrypted
archives, the key deleted and restored (same peer id, computed from the key the way the bootnode
loads it), a different key never replaced without an explicit yes, archives of the two kinds not
mixed up, and `swarm status` warning NO BACKUP until a verified backup exists."""

from __future__ import annotations

import json
import stat

import pytest

from core.base import paths
from core.base.errors import IdentityError
from core.hosting import bootnode as boot
from core.hosting import bootnode_backup as bb
from core.hosting.host import HostError, HostSettings, save_settings
from core.identity import backup
from core.identity import files as identity
from core.usecases import swarm_hosting as sh
from tests.helpers.identity import signed_in
from tui.cli import main

FAST = 2**14
PW = "correct horse battery"
NAME = "h2swarm"


def _mode(p) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_backup_delete_restore_gives_the_same_peer_id(tmp_path):
    peer = boot.migrate_identity(NAME, None)  # what the host does: the bootnode's key, made once
    pem = boot.identity_file(NAME)
    original = pem.read_bytes()
    assert bb.backup_state(NAME)["state"] == "none"
    info = bb.create(NAME, tmp_path, PW, scrypt_n=FAST)
    assert info.archive.parent == tmp_path and info.peer_id == peer and _mode(info.archive) == 0o600
    assert original not in info.archive.read_bytes()  # encrypted, not just packed
    assert bb.backup_state(NAME)["state"] == "verified"
    assert _mode(bb.state_file(NAME)) == 0o600 and original not in bb.state_file(NAME).read_bytes()

    pem.unlink()  # the disaster
    assert bb.backup_state(NAME)["state"] == "outdated"
    r = sh.restore_bootnode(info.archive, PW)  # the swarm's name comes from the archive
    assert r["backup"].action == "written" and r["backup"].swarm == NAME
    assert pem.read_bytes() == original and _mode(pem) == 0o600 and _mode(pem.parent) == 0o700
    # the peer id the bootnode will announce: from the key, loaded as the bootnode loads it
    assert identity.peer_id_from_pem(pem) == peer == boot.migrate_identity(NAME, None)
    assert bb.backup_state(NAME)["state"] == "verified"
    # restoring again over the same key writes nothing and is not an error
    assert sh.restore_bootnode(info.archive, PW, NAME)["backup"].action == "same"


def test_restore_never_replaces_a_different_key_without_confirmation(tmp_path):
    boot.migrate_identity(NAME, None)
    pem = boot.identity_file(NAME)
    old = pem.read_bytes()
    info = bb.create(NAME, tmp_path / "b.sdbackup", PW, scrypt_n=FAST)
    pem.unlink()
    new_peer = boot.migrate_identity(NAME, None)  # e.g. the host restarted after the loss: a new key
    new = pem.read_bytes()
    assert new != old and new_peer != info.peer_id
    with pytest.raises(bb.KeyDiffers) as e:
        bb.restore(info.archive, PW, NAME)
    assert new_peer in str(e.value) and info.peer_id in str(e.value) and "--replace" in e.value.fix
    assert pem.read_bytes() == new
    # confirmed, but the host still runs (its bootnode holds the current key): refused too
    with pytest.raises(IdentityError, match="running"):
        bb.restore(info.archive, PW, NAME, replace=True, host_running=lambda n: True)
    assert pem.read_bytes() == new and list(pem.parent.glob("swarm.pem.replaced-*")) == []
    # confirmed and stopped: replaced, and the replaced key is kept, not deleted
    r = bb.restore(info.archive, PW, NAME, replace=True, host_running=lambda n: False)
    assert r.action == "replaced" and pem.read_bytes() == old
    assert r.replaced_kept.read_bytes() == new and _mode(r.replaced_kept) == 0o600
    assert identity.peer_id_from_pem(pem) == info.peer_id


def test_archives_of_profiles_and_bootnodes_are_not_mixed_up(tmp_path):
    boot.migrate_identity(NAME, None)
    signed_in("main")
    b_arch = bb.create(NAME, tmp_path / "boot.sdbackup", PW, scrypt_n=FAST).archive
    p_arch = backup.create_backup("main", tmp_path / "main.sdbackup", PW, scrypt_n=FAST).archive
    with pytest.raises(IdentityError, match="bootnode identity, not of a profile") as e:
        backup.restore_backup(b_arch, PW, "fromboot")
    assert "swarm restore" in e.value.fix and not paths.ProfilePaths("fromboot").swarm_pem.exists()
    with pytest.raises(IdentityError, match="profile's identity backup"):
        bb.restore(p_arch, PW, "other")
    assert not boot.identity_file("other").exists()
    with pytest.raises(IdentityError, match="wrong passphrase"):
        bb.restore(b_arch, "not the passphrase", NAME)
    boot.identity_file(NAME).unlink()
    boot.migrate_identity(NAME, None)
    with pytest.raises(IdentityError, match="not swarm h2swarm's current bootnode identity"):
        bb.verify(b_arch, PW, NAME)
    assert bb.verify(b_arch, PW).swarm == NAME  # without a swarm to compare: the archive is intact


def test_cli_swarm_backup_status_and_restore(tmp_path, capsys):
    """The CLI with the default scrypt cost, as a user runs it."""
    peer = boot.migrate_identity(NAME, None)
    save_settings(HostSettings(name=NAME, public_addr="127.0.0.1", bootnode_peer_id=peer))
    pw = tmp_path / "pw"
    pw.write_text(PW + "\n")

    assert main(["swarm", "status", "--name", NAME]) == 0
    out = capsys.readouterr().out
    assert "NO BACKUP" in out and f"swarm backup --name {NAME}" in out
    assert main(["swarm", "status", "--name", NAME, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["bootnode_backup"]["state"] == "none"

    dest = tmp_path / "arch"
    dest.mkdir()
    assert main(["swarm", "backup", "--name", NAME, str(dest), "--passphrase-file", str(pw)]) == 0
    out = capsys.readouterr().out
    arch = next(dest.iterdir())
    assert str(arch) in out and peer in out
    assert main(["swarm", "status", "--name", NAME]) == 0
    out = capsys.readouterr().out
    assert "NO BACKUP" not in out and "backup verified" in out
    # a second backup into the same file is refused (a backup never overwrites)
    assert main(["swarm", "backup", "--name", NAME, str(arch), "--passphrase-file", str(pw)]) != 0
    assert "already exists" in capsys.readouterr().err

    boot.identity_file(NAME).unlink()
    assert main(["swarm", "status", "--name", NAME]) == 0
    assert "BACKUP OUTDATED" in capsys.readouterr().out
    assert main(["swarm", "restore", str(arch), "--passphrase-file", str(pw)]) == 0
    assert peer in capsys.readouterr().out
    assert identity.peer_id_from_pem(boot.identity_file(NAME)) == peer

    boot.identity_file(NAME).unlink()
    boot.migrate_identity(NAME, None)
    other = boot.identity_file(NAME).read_bytes()
    assert main(["swarm", "restore", str(arch), "--passphrase-file", str(pw)]) != 0  # no tty, no --replace
    assert "--replace" in capsys.readouterr().err and boot.identity_file(NAME).read_bytes() == other
    assert main(["swarm", "restore", str(arch), "--replace", "--passphrase-file", str(pw)]) == 0
    out = capsys.readouterr().out
    assert "replaced" in out and identity.peer_id_from_pem(boot.identity_file(NAME)) == peer
    assert "swarm host --name" in out  # the published address must follow: host it again


def test_identity_verify_of_a_bootnode_archive_says_it_is_intact(tmp_path, capsys):
    boot.migrate_identity(NAME, None)
    main(["profile", "new", "main", "--use"])
    arch = bb.create(NAME, tmp_path / "b.sdbackup", PW, scrypt_n=FAST).archive
    pw = tmp_path / "pw"
    pw.write_text(PW + "\n")
    capsys.readouterr()
    assert main(["identity", "verify", str(arch), "--passphrase-file", str(pw)]) == 0
    assert "archive is intact" in capsys.readouterr().out
    assert main(["identity", "verify", str(arch), "-p", "main", "--passphrase-file", str(pw)]) != 0
    assert "swarm restore" in capsys.readouterr().err


@pytest.mark.parametrize("answer", ["n", "y"])
def test_cli_restore_asks_on_a_terminal_before_replacing(tmp_path, capsys, monkeypatch, answer):
    import sys

    peer = boot.migrate_identity(NAME, None)
    arch = bb.create(NAME, tmp_path / "b.sdbackup", PW, scrypt_n=FAST).archive
    boot.identity_file(NAME).unlink()
    other_peer = boot.migrate_identity(NAME, None)
    other = boot.identity_file(NAME).read_bytes()
    pw = tmp_path / "pw"
    pw.write_text(PW + "\n")
    asked = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda q: asked.append(q) or answer)
    rc = main(["swarm", "restore", str(arch), "--passphrase-file", str(pw)])
    assert len(asked) == 1 and other_peer in asked[0] and peer in asked[0]
    kept = list(boot.identity_dir(NAME).glob("swarm.pem.replaced-*"))
    if answer == "n":
        assert rc == 1 and boot.identity_file(NAME).read_bytes() == other and kept == []
    else:
        assert rc == 0 and identity.peer_id_from_pem(boot.identity_file(NAME)) == peer
        assert [k.read_bytes() for k in kept] == [other]


def test_a_lost_key_is_not_silently_replaced_by_swarm_host(tmp_path):
    """The key gone, `swarm host` refuses before it writes or starts anything, names the published peer
    id and the last backup to restore; --new-bootnode-identity is the explicit way on."""
    peer = boot.migrate_identity(NAME, None)
    save_settings(HostSettings(name=NAME, public_addr="127.0.0.1", bootnode_peer_id=peer))
    before = (paths.network_dir(NAME) / "host.json").read_bytes()
    boot.identity_file(NAME).unlink()
    with pytest.raises(HostError, match="missing") as e:
        sh.host(NAME)
    assert peer in str(e.value) and "--new-bootnode-identity" in e.value.fix
    assert not boot.identity_file(NAME).exists() and not sh.host_runs(NAME)
    assert (paths.network_dir(NAME) / "host.json").read_bytes() == before
    # with a backup made before the loss, the fix names that archive
    boot.migrate_identity(NAME, None)
    arch = bb.create(NAME, tmp_path, PW, scrypt_n=FAST).archive
    s2 = sh._migrate_bootnode(HostSettings(name=NAME, public_addr="127.0.0.1", bootnode_peer_id=peer), print)
    assert s2.bootnode_peer_id != peer  # (that key was made above: the test's own second identity)
    boot.identity_file(NAME).unlink()
    with pytest.raises(HostError, match="missing") as e:
        sh._migrate_bootnode(s2, print)
    assert f"swarm restore {arch}" in e.value.fix
    s3 = sh._migrate_bootnode(s2, print, new_identity=True)  # the user said so
    assert boot.identity_file(NAME).exists() and s3.bootnode_peer_id not in (peer, s2.bootnode_peer_id)

