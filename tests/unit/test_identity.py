"""core.identity against real files (and hivemind itself for the key format / peer id)."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from core.identity import files as identity
from core.identity.names import ADJECTIVES, ANIMALS
from core.base.errors import IdentityError
from core.base.paths import ProfilePaths


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_created_pem_matches_hivemind_peer_id(tmp_path):
    from hivemind.p2p.p2p_daemon_bindings.datastructures import PeerID

    pi = identity.create_swarm_pem(tmp_path / "id" / "swarm.pem")
    raw = (tmp_path / "id" / "swarm.pem").read_bytes()
    assert pi.peer_id.startswith("Qm") and len(pi.peer_id) == 46
    assert PeerID.from_identity(raw).to_base58() == pi.peer_id
    assert mode(tmp_path / "id" / "swarm.pem") == 0o600
    assert mode(tmp_path / "id") == 0o700
    assert identity.peer_id_from_pem(tmp_path / "id" / "swarm.pem") == pi.peer_id


def test_hivemind_written_identity_loads(tmp_path):
    from hivemind.p2p import P2P
    from hivemind.p2p.p2p_daemon_bindings.datastructures import PeerID

    path = tmp_path / "swarm.pem"
    P2P.generate_identity(str(path))  # exactly what DHT(identity_path=...) writes when missing
    assert identity.peer_id_from_pem(path) == PeerID.from_identity(path.read_bytes()).to_base58()


def test_display_name_scheme():
    pid = "QmXa1SeM3NSbjkcnXAhpGCpeNwhGs1J7hBhdjyE86rVjdv"
    # the public scheme, written independently: md5 hex in 2-digit chunks; [2],[1] adjectives, [0] animal
    h = hashlib.md5(pid.encode()).hexdigest()
    ints = [int(h[i : i + 2], 16) for i in range(0, len(h), 2)]
    want = f"{ADJECTIVES[ints[2] % len(ADJECTIVES)]} {ADJECTIVES[ints[1] % len(ADJECTIVES)]} {ANIMALS[ints[0] % len(ANIMALS)]}"
    assert identity.display_name(pid) == want
    assert len(ADJECTIVES) == 245 and len(ANIMALS) == 220  # changing the lists renames every node
    assert identity.display_name(pid) == identity.display_name(pid)


def test_never_overwrites_existing_pem(tmp_path):
    p = tmp_path / "swarm.pem"
    first = identity.create_swarm_pem(p)
    before = p.read_bytes()
    with pytest.raises(IdentityError, match="never overwrites"):
        identity.create_swarm_pem(p)
    assert p.read_bytes() == before
    assert identity.load_or_create_swarm_pem(p).peer_id == first.peer_id


@pytest.mark.parametrize("content", [b"", b"garbage that is not a key", b"\x08\x00\x12\xff\x01abc", "truncated"])
def test_bad_pem_is_a_clear_error_and_never_replaced(tmp_path, content):
    p = tmp_path / "swarm.pem"
    if content == "truncated":
        content = identity.new_swarm_pem_bytes()[:300]
    p.write_bytes(content)
    with pytest.raises(IdentityError) as ei:
        identity.load_or_create_swarm_pem(p)
    assert "swarm.pem" in ei.value.what and ei.value.fix
    assert str(p) in ei.value.where
    assert p.read_bytes() == content  # a damaged identity is reported, never regenerated


def test_pem_with_wrong_key_type(tmp_path):
    raw = identity.new_swarm_pem_bytes()
    p = tmp_path / "swarm.pem"
    p.write_bytes(b"\x08\x01" + raw[2:])  # Ed25519 type tag with RSA data
    with pytest.raises(IdentityError, match="type 1"):
        identity.peer_id_from_pem(p)


def test_missing_pem(tmp_path):
    with pytest.raises(IdentityError, match="does not exist"):
        identity.peer_id_from_pem(tmp_path / "nope.pem")


def test_login_files_shapes_and_modes(tmp_path):
    d = tmp_path / "identity"
    identity.write_user_data(d, "org-1", "0xabc", "user-1", "a@b.c")
    identity.append_user_api_key(d, "org-1", {"publicKey": "0xPUB1", "privateKey": "0xSECRET1",
                                             "createdAt": "2026-01-01T00:00:00Z", "activated": False})
    identity.append_user_api_key(d, "org-1", {"publicKey": "0xPUB2", "privateKey": "0xSECRET2",
                                             "createdAt": "2026-01-02T00:00:00Z", "activated": False})
    assert json.loads((d / "userData.json").read_text()) == {
        "org-1": {"orgId": "org-1", "address": "0xabc", "userId": "user-1", "email": "a@b.c"}}
    keys = json.loads((d / "userApiKey.json").read_text())
    assert [e["publicKey"] for e in keys["org-1"]] == ["0xPUB1", "0xPUB2"]
    assert mode(d / "userData.json") == 0o600 and mode(d / "userApiKey.json") == 0o600 and mode(d) == 0o700
    info = identity.read_login(d)
    assert (info.org_id, info.email, info.api_public_key, info.activated) == ("org-1", "a@b.c", "0xPUB2", False)
    assert info.api_private_key == "0xSECRET2"
    assert identity.set_api_key_activated(d, "org-1", "0xpub2")
    assert identity.read_login(d).activated
    # the secret never shows in what is meant for display
    assert "SECRET" not in repr(info) and "SECRET" not in json.dumps(info.public_dict())


def test_user_data_for_another_account_is_refused(tmp_path):
    d = tmp_path / "identity"
    identity.write_user_data(d, "org-1", "0xabc", "user-1")
    before = (d / "userData.json").read_bytes()
    with pytest.raises(IdentityError, match="another account"):
        identity.write_user_data(d, "org-2", "0xdef", "user-2")
    assert (d / "userData.json").read_bytes() == before
    identity.write_user_data(d, "org-1", "0xabc", "user-1", "new@mail")  # same account: update is fine


def test_api_key_file_not_json_is_a_clear_error(tmp_path):
    d = tmp_path / "identity"
    identity.write_user_data(d, "org-1", "0xabc", "user-1")
    (d / "userApiKey.json").write_text('{"org-1": [ {"publicKey": ')
    with pytest.raises(IdentityError) as ei:
        identity.read_login(d)
    assert "not valid JSON" in ei.value.what and "userApiKey.json:1:" in ei.value.where
    with pytest.raises(IdentityError):
        identity.append_user_api_key(d, "org-1", {"publicKey": "x"})
    assert (d / "userApiKey.json").read_text() == '{"org-1": [ {"publicKey": '  # nothing lost


def test_api_key_file_wrong_shape(tmp_path):
    d = tmp_path / "identity"
    identity.write_user_data(d, "org-1", "0xabc", "user-1")
    (d / "userApiKey.json").write_text('["not", "a", "mapping"]')
    with pytest.raises(IdentityError, match="shape"):
        identity.read_login(d)


def test_not_signed_in(tmp_path):
    assert identity.read_login(tmp_path) is None


def test_node_lock_is_exclusive_and_released(tmp_path):
    pp = ProfilePaths("a")
    with identity.NodeLock(pp) as lock:
        assert lock.held and identity.is_locked(pp)
        with pytest.raises(IdentityError, match="already in use"):
            identity.NodeLock(pp).acquire()
    assert not identity.is_locked(pp)
    identity.NodeLock(pp).acquire().release()


def _profile_with(name, pem: bytes | None = None, org=None, pub=None):
    from core.identity import profiles

    profiles.create_profile(name, identity=False)  # in the config, without a key yet
    pp = ProfilePaths(name)
    if pem is not None:
        (pp.identity_dir / "swarm.pem").write_bytes(pem)
    if org:
        identity.write_user_data(pp.identity_dir, org, "0x1", "u")
        identity.append_user_api_key(pp.identity_dir, org, {"publicKey": pub, "privateKey": "0xS", "activated": True})
    return pp


def test_find_duplicates_peer_org_session():
    pem = identity.new_swarm_pem_bytes()
    _profile_with("a", pem, "org-1", "0xKEY")
    _profile_with("b", pem)  # same swarm.pem copied
    _profile_with("c", identity.new_swarm_pem_bytes(), "org-1", "0xkey")  # same account + session key
    _profile_with("d", identity.new_swarm_pem_bytes(), "org-2", "0xOTHER")
    dups = {(d.kind, d.profiles) for d in identity.find_duplicates()}
    assert ("peer_id", ("a", "b")) in dups
    assert ("org_id", ("a", "c")) in dups
    assert ("session_key", ("a", "c")) in dups
    assert not any("d" in p for _, p in dups)
    with pytest.raises(IdentityError, match="refusing to start"):
        identity.assert_no_duplicates("b")
    identity.assert_no_duplicates("d")


def test_permissions_warn_and_fix(tmp_path):
    d = tmp_path / "identity"
    identity.create_swarm_pem(d / "swarm.pem")
    identity.write_user_data(d, "o", "0x1", "u")
    os.chmod(d / "swarm.pem", 0o644)
    os.chmod(d, 0o755)
    probs = identity.check_permissions(d)
    assert {p.path.name for p in probs} == {"identity", "swarm.pem"}
    msg = identity.permission_warning(d, "main")
    assert "UNPROTECTED" in msg and "swarmdeck identity fix-perms -p main" in msg
    fixed = identity.fix_permissions(d)
    assert len(fixed) == 2 and mode(d / "swarm.pem") == 0o600 and mode(d) == 0o700
    assert identity.check_permissions(d) == [] and identity.permission_warning(d) is None


def test_a_shared_account_blocks_only_the_profile_that_signed_in_later():
    """Both profiles were refused at start ("neither can start"), although the first ran fine."""
    for name, when, pub in (("first", "2026-01-01T00:00:00Z", "0xA1"), ("later", "2026-02-01T00:00:00Z", "0xB2")):
        pp = _profile_with(name, identity.new_swarm_pem_bytes())
        identity.write_user_data(pp.identity_dir, "org-1", "0x1", "u", "ada@example.org")
        identity.append_user_api_key(pp.identity_dir, "org-1", {"publicKey": pub, "privateKey": "0xS",
                                                                "activated": True, "createdAt": when})
    (dup,) = identity.find_duplicates()
    assert dup.kind == "org_id" and identity.first_holder(dup) == "first"
    identity.assert_no_duplicates("first")  # had the account first: keeps running
    with pytest.raises(IdentityError, match="refusing to start") as e:
        identity.assert_no_duplicates("later")
    assert "swarmdeck profile archive later" in e.value.fix and "one email per node" in e.value.fix
    from core.usecases.profile_state import build_status
    from tui.commands.status_cmd import render_text

    assert "only first (signed in first) can start" in render_text(build_status())
