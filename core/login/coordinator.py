"""The profile's Coordinator with the login URL filled in: core.chain builds coordinators but
must not import core.login, so the lookup of "where does this profile sign its writes" lives here."""

from __future__ import annotations

from core.base.constants import DEFAULT_LOGIN_PORT
from core.chain import make_coordinator as _chain_make_coordinator
from core.login.modal_app import running_app
from core.login.service import service_url


def find_login_url(profile) -> str:
    """Where the profile's modal-login writes go: on a public network the official app swarmdeck
    runs for it (its port may not be the default), else the network's login_url; otherwise (and on
    the local network) the profile's own login service."""
    net = getattr(profile, "network", None)
    settings = getattr(profile, "settings", None)
    net_name = getattr(net, "name", None) or getattr(settings, "network", None) or "local"
    net_kind = getattr(net, "kind", None) or ("local" if net_name == "local" else "custom")
    if net_kind != "local":
        app = running_app(profile.paths)
        url = app.url if app is not None else getattr(net, "login_url", None)
        if url:
            return url
    return service_url(profile.paths, default_port=getattr(settings, "login_port", None) or DEFAULT_LOGIN_PORT)


def make_coordinator(profile, *, backend: str | None = None, login_url: str | None = None, **kw):
    """core.chain.make_coordinator(profile, ...) with `login_url` looked up for the modal-login backend."""
    settings = getattr(profile, "settings", None)
    if login_url is None and (backend or getattr(settings, "backend", None) or "modal-login") == "modal-login":
        login_url = find_login_url(profile)
    return _chain_make_coordinator(profile, backend=backend, login_url=login_url, **kw)
