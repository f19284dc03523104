"""Whether a listen address stays on this machine: the services that speak plain HTTP or an
unauthenticated WebSocket (the emotion service, the records API, the QA console) do so only there."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; a host name could resolve anywhere, so False."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False  # "" or None is every interface; a name may resolve to a public address
