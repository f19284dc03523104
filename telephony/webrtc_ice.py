"""Which of this machine's addresses browser calls offer as ICE host candidates.

aioice (under aiortc) offers every interface's address except loopback, and has no setting for
it. A console on 127.0.0.1 serves browsers on this machine, which reach it over loopback only;
a console on a clinic's LAN address should not offer a VPN's or a container bridge's address.
So the WebRTC gateway chooses the list once per process (``webrtc.ice_addresses``, by default
the console's own address) and puts it in place of aioice's module-level address lookup, the
one place aioice takes its host addresses from. ``[]`` gives aioice's own choice back."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import aioice.ice

from telephony.config import ice_host_address

_AIOICE_LOOKUP = aioice.ice.get_host_addresses


def host_addresses_for(console_host: str, configured: Sequence[str]) -> list[str]:
    """The ICE host addresses: the configured ones, else the console's own address when it is a
    specific one ([] when it listens on every interface or is a name: aioice's own choice)."""
    if configured:
        return list(configured)
    if console_host == "localhost":
        return ["127.0.0.1"]
    try:
        address = ipaddress.ip_address(console_host)
    except ValueError:
        return []
    return [] if address.is_unspecified else [str(address)]


def use_host_addresses(addresses: Sequence[str]) -> None:
    """Offer exactly ``addresses`` as host candidates from now on ([] = every interface but
    loopback, aioice's default). ValueError for something that is not an IP address."""
    chosen = [ice_host_address(a) for a in addresses]
    if not chosen:
        aioice.ice.get_host_addresses = _AIOICE_LOOKUP
        return

    def lookup(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [str(a) for a in chosen if (a.version == 4 and use_ipv4) or (a.version == 6 and use_ipv6)]

    aioice.ice.get_host_addresses = lookup


__all__ = ["host_addresses_for", "use_host_addresses"]
