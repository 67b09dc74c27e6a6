"""RFC 5780 §4 NAT behaviour discovery over one UDP socket.

Drives the sans-IO :class:`rtcstack.stun.behavior.NatBehaviorDiscovery` with the asyncio STUN
client (:func:`rtcstack.asyncio.stun.open_udp_client`): every probe leaves from the same local
port (RFC 5780 §4.1), one transaction at a time, paced (§5: "A client SHOULD NOT generate more
than ten new STUN transactions per second").  A timed-out filtering probe is a result, not an
error, so those probes use the short retransmission settings the state machine gives.

    result = await discover_nat_behavior("stun.example.org:3478")
    print(result.summary())
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from rtcstack.common.types import Address
from rtcstack.stun.behavior import NatBehavior, NatBehaviorDiscovery

__all__ = ["discover_nat_behavior", "route_source"]


def route_source(server: Address) -> str | None:
    """The local IP the kernel would send from to reach ``server`` (a connected UDP socket sends
    nothing; it only asks the routing table), or ``None``."""
    family = socket.AF_INET6 if ipaddress.ip_address(server[0]).version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(server)
            return str(probe.getsockname()[0])
    except OSError:
        return None


async def discover_nat_behavior(
    server: Address,
    *,
    local: Address | None = None,
    mapping: bool = True,
    filtering: bool = True,
    rto: float = 0.5,
    rc: int = 7,
    rm: int = 16,
    filtering_rto: float = 0.25,
    filtering_rc: int = 3,
    filtering_rm: int = 4,
    pace: float = 0.1,
) -> NatBehavior:
    """Run the RFC 5780 §4.3 mapping and §4.4 filtering tests against ``server`` (an IP
    address and port; :func:`rtcstack.asyncio.stun.resolve` resolves names) from one UDP
    socket bound to ``local`` (default: any address of the server's family, any port)."""
    from rtcstack.asyncio.stun import StunTimeoutError, open_udp_client

    version = ipaddress.ip_address(server[0]).version
    if local is None:
        local = ("::", 0) if version == 6 else ("0.0.0.0", 0)
    client = await open_udp_client(local)
    try:
        bound = client.local_address
        host = bound[0]
        if ipaddress.ip_address(host).is_unspecified:
            # §4.3 compares the mapped address with "the local IP address and port of the
            # socket used to send the request": find the IP the route to the server uses.
            routed = route_source(server)
            known: Address | None = (routed, bound[1]) if routed is not None else None
        else:
            known = (host, bound[1])
        discovery = NatBehaviorDiscovery(
            server,
            known,
            mapping=mapping,
            filtering=filtering,
            rto=rto,
            rc=rc,
            rm=rm,
            filtering_rto=filtering_rto,
            filtering_rc=filtering_rc,
            filtering_rm=filtering_rm,
        )
        loop = asyncio.get_running_loop()
        last_start: float | None = None
        while (probe := discovery.next_probe()) is not None:
            if last_start is not None and pace > 0:
                delay = last_start + pace - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            last_start = loop.time()
            try:
                response, source = await client.request(
                    probe.message,
                    probe.destination,
                    fingerprint=True,
                    rto=probe.rto,
                    rc=probe.rc,
                    rm=probe.rm,
                )
            except StunTimeoutError:
                discovery.handle_response(None)
            else:
                discovery.handle_response(response, source)
        return discovery.result()
    finally:
        client.close()
