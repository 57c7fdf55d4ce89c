"""doctor knows swarmdeck's own services (issue 20: it warned that the login port was in use by
swarmdeck's own login service). A real login service of a real profile holds the port."""

from __future__ import annotations

from core.base.paths import ProfilePaths
from core.chain.devnet import free_port
from core.doctor import checks
from core.identity import profiles
from core.login.service import ensure_service, running_service, stop_service


def test_the_login_port_held_by_swarmdecks_own_login_service_is_not_a_warning():
    port = free_port()
    profiles.create_profile("own", network="local", login_port=port)
    pp = ProfilePaths("own")
    try:
        ensure_service(pp, port=port, network="local")
        c = checks.check_port(port, "own")
        assert c.status == "ok", c
        assert "login service of profile own" in c.detail
    finally:
        stop_service(pp)
    assert running_service(pp) is None
