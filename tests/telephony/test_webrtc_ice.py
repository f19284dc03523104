"""Which addresses browser calls offer as ICE host candidates: the configured ones, else the
console's own specific address, else aioice's own choice; and aioice really offers only those."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import aioice
import aioice.ice
import pytest

from telephony.webrtc_ice import host_addresses_for, use_host_addresses

AIOICE_OWN = aioice.ice.get_host_addresses


@pytest.fixture(autouse=True)
def aioice_restored() -> Iterator[None]:
    """Each test may swap aioice's address lookup; the next test (and file) gets aioice's own back."""
    before = aioice.ice.get_host_addresses
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = before


def test_configured_addresses_win_over_the_console_host() -> None:
    assert host_addresses_for("127.0.0.1", ["192.0.2.7", "2001:db8::7"]) == ["192.0.2.7", "2001:db8::7"]
    assert host_addresses_for("0.0.0.0", ["192.0.2.7"]) == ["192.0.2.7"]


@pytest.mark.parametrize(("host", "expected"), [
    ("127.0.0.1", ["127.0.0.1"]),
    ("localhost", ["127.0.0.1"]),
    ("192.0.2.10", ["192.0.2.10"]),
    ("::1", ["::1"]),
])
def test_a_console_on_a_specific_address_offers_that_address(host: str, expected: list[str]) -> None:
    assert host_addresses_for(host, []) == expected


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "::0", "0:0:0:0:0:0:0:0"])
def test_a_console_on_every_interface_leaves_the_choice_to_aioice(host: str) -> None:
    assert host_addresses_for(host, []) == []


def test_a_console_host_given_by_name_leaves_the_choice_to_aioice() -> None:
    assert host_addresses_for("console.clinic.example", []) == []


def test_the_chosen_addresses_replace_aioices_lookup_filtered_by_family() -> None:
    use_host_addresses(["192.0.2.1", "2001:db8::1", "127.0.0.1"])
    lookup = aioice.ice.get_host_addresses
    assert lookup is not AIOICE_OWN
    assert lookup(use_ipv4=True, use_ipv6=True) == ["192.0.2.1", "2001:db8::1", "127.0.0.1"]
    assert lookup(use_ipv4=True, use_ipv6=False) == ["192.0.2.1", "127.0.0.1"]
    assert lookup(use_ipv4=False, use_ipv6=True) == ["2001:db8::1"]
    assert lookup(use_ipv4=False, use_ipv6=False) == []


def test_addresses_are_offered_in_their_canonical_form() -> None:
    use_host_addresses(["2001:0db8:0000::0001"])
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["2001:db8::1"]


def test_a_later_choice_replaces_an_earlier_one() -> None:
    use_host_addresses(["192.0.2.1"])
    use_host_addresses(["192.0.2.2"])
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["192.0.2.2"]


def test_an_empty_choice_gives_aioice_its_own_lookup_back() -> None:
    use_host_addresses(["127.0.0.1"])
    use_host_addresses([])
    assert aioice.ice.get_host_addresses is AIOICE_OWN
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)  # aioice skips loopback


@pytest.mark.parametrize("bad", ["console.clinic.example", "127.0.0.1:5000", "300.1.1.1", ""])
def test_something_that_is_not_an_ip_address_is_refused_and_changes_nothing(bad: str) -> None:
    use_host_addresses(["192.0.2.1"])
    with pytest.raises(ValueError):
        use_host_addresses(["127.0.0.1", bad])
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["192.0.2.1"]


async def test_aioice_gathers_host_candidates_on_the_chosen_loopback_address_only() -> None:
    use_host_addresses(["127.0.0.1"])
    connection = aioice.Connection(ice_controlling=True)
    try:
        await connection.gather_candidates()
        candidates = connection.local_candidates
        assert candidates, "no candidates gathered"
        assert {(c.type, c.host) for c in candidates} == {("host", "127.0.0.1")}
        assert all(ipaddress.ip_address(c.host).is_loopback for c in candidates)
    finally:
        await connection.close()


async def test_aioice_on_its_own_choice_never_offers_loopback() -> None:
    use_host_addresses([])
    connection = aioice.Connection(ice_controlling=True, use_ipv6=False)
    try:
        await connection.gather_candidates()
        assert all(c.host != "127.0.0.1" for c in connection.local_candidates)
    finally:
        await connection.close()


@pytest.mark.parametrize("address", ["0.0.0.0", "::"])
def test_every_interface_is_not_an_address_to_offer(address: str) -> None:
    with pytest.raises(ValueError, match="every interface"):
        use_host_addresses([address])
