"""What `swarmdeck login` prints around the URL: the SSH tunnel line and the QR code."""

from __future__ import annotations

from core.login.hints import qr_text, ssh_tunnel_command


def test_ssh_line_from_ssh_connection():
    env = {"SSH_CONNECTION": "198.51.100.7 50123 192.0.2.10 22", "USER": "alice"}
    assert ssh_tunnel_command(3000, env) == "ssh -L 3000:localhost:3000 alice@192.0.2.10"
    env = {"SSH_CONNECTION": "2001:db8::7 50123 2001:db8::10 2222", "USER": "bob"}
    assert ssh_tunnel_command(3001, env) == "ssh -L 3001:localhost:3001 -p 2222 bob@[2001:db8::10]"
    assert ssh_tunnel_command(3000, {}) is None
    assert ssh_tunnel_command(3000, {"SSH_CONNECTION": "garbage"}) is None


def test_qr_is_half_blocks_and_fits_80_columns():
    qr = qr_text("http://localhost:3000")
    lines = qr.rstrip("\n").splitlines()
    assert set("".join(lines)) <= set("█▀▄ ")
    assert max(len(x) for x in lines) <= 40 and len(lines) <= 20
