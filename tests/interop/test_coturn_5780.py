"""RFC 5780 NAT behaviour discovery (https://www.rfc-editor.org/rfc/rfc5780#section-4) against
coturn on two loopback addresses, and against our own server with an alternate address.

On loopback there is no NAT: the mapped address is the local address, and both the mapping and
the filtering are endpoint-independent.  Discovery must also find that every CHANGE-REQUEST was
answered from the address RFC 5780 §6.1 Table 1 prescribes (no notes)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest

from rtcstack.asyncio.nat import discover_nat_behavior
from rtcstack.asyncio.stun import StunTimeoutError, open_udp_client
from rtcstack.asyncio.stun_server import serve_stun
from rtcstack.common.types import Address
from rtcstack.stun.behavior import Behavior, NatBehavior, NatBehaviorDiscovery
from tests.helpers import has_loopback_2
from tests.helpers import run as _run
from tests.interop.coturn import CoturnConfig, running_coturn

pytestmark = pytest.mark.interop

TIMEOUT = 20.0


def run(coro: Awaitable[Any]) -> Any:
    return _run(coro, TIMEOUT)


needs_two_addresses = pytest.mark.skipif(
    not has_loopback_2(), reason="127.0.0.2 is not usable on lo"
)


def assert_no_nat(result: NatBehavior, other_ip: str) -> None:
    assert not result.udp_blocked and result.rfc5780 is True, result.summary()
    assert result.nat is False and result.mapped == result.local, result.summary()
    assert result.mapping is Behavior.ENDPOINT_INDEPENDENT
    assert result.filtering is Behavior.ENDPOINT_INDEPENDENT
    assert result.other_address is not None and result.other_address[0] == other_ip
    assert result.notes == (), result.notes


async def discover_without_local(server: Address) -> tuple[NatBehavior, list[str]]:
    """The sans-IO discovery driven by hand with ``local=None``."""
    client = await open_udp_client(("127.0.0.1", 0))
    discovery = NatBehaviorDiscovery(server, None)
    tests = []
    try:
        while (probe := discovery.next_probe()) is not None:
            tests.append(probe.test)
            try:
                response, source = await client.request(
                    probe.message, probe.destination, rto=probe.rto, rc=probe.rc, rm=probe.rm
                )
            except StunTimeoutError:
                discovery.handle_response(None)
            else:
                discovery.handle_response(response, source)
    finally:
        client.close()
    return discovery.result(), tests


@needs_two_addresses
def test_discovery_against_coturn() -> None:
    config = CoturnConfig(listening_ips=["127.0.0.1", "127.0.0.2"], rfc5780=True)
    with running_coturn(config) as coturn:
        result = run(discover_nat_behavior(coturn.address, local=("127.0.0.1", 0)))
        assert_no_nat(result, "127.0.0.2")
        assert result.other_address == ("127.0.0.2", coturn.alt_port)
        # Without the local address "no NAT" cannot be seen, so mapping test II (alternate IP,
        # primary port) runs too and must see the same mapping.
        result, tests = run(discover_without_local(coturn.address))
        assert tests == ["mapping I", "filtering II", "mapping II"]
        assert result.mapping is Behavior.ENDPOINT_INDEPENDENT
        assert result.filtering is Behavior.ENDPOINT_INDEPENDENT and result.notes == ()


def test_coturn_without_rfc5780_is_reported() -> None:
    with running_coturn(CoturnConfig(rfc5780=False)) as coturn:
        result = run(discover_nat_behavior(coturn.address, local=("127.0.0.1", 0)))
        assert result.rfc5780 is False and result.nat is False
        assert result.mapping is None and result.filtering is None


@needs_two_addresses
def test_discovery_against_our_server() -> None:
    async def body() -> NatBehavior:
        server = await serve_stun(("127.0.0.1", 0), ("127.0.0.2", 0), tcp=False)
        try:
            return await discover_nat_behavior(server.udp_addresses[0], local=("127.0.0.1", 0))
        finally:
            server.close()
            await server.wait_closed()

    assert_no_nat(run(body()), "127.0.0.2")
