"""Two rtcstack ICE agents connect through coturn with relay-only policy (RFC 8445 + RFC 8656).

coturn (Debian ``coturn``) is started on 127.0.0.1 by the module fixture with a self-signed
certificate for TLS.  Each agent allocates a relayed address, signals only relay candidates, and
the checks, the nomination and the data all go through the relay: the selected pair is
relay <-> relay and coturn's own log shows the allocations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from rtcstack.asyncio.ice import IceTransport
from rtcstack.ice import CandidateType, IceState, TurnServer
from tests.helpers import insecure_tls_client
from tests.interop.coturn import Coturn, CoturnConfig, require_turnserver, running_coturn

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def coturn() -> Iterator[Coturn]:
    require_turnserver()
    with running_coturn(CoturnConfig(tls=True)) as server:
        yield server


def _server(coturn: Coturn, transport: str) -> TurnServer:
    port = coturn.tls_port if transport == "tls" else coturn.port
    return TurnServer("127.0.0.1", port, transport, coturn.config.user, coturn.config.password)


async def _relay_call(a_server: TurnServer, b_server: TurnServer) -> tuple[str, str]:
    a = IceTransport(controlling=True, addresses=["127.0.0.1"], turn_servers=[a_server],
                     policy="relay", turn_ssl=insecure_tls_client())
    b = IceTransport(controlling=False, addresses=["127.0.0.1"], turn_servers=[b_server],
                     policy="relay", turn_ssl=insecure_tls_client())
    try:
        a.on_candidate = lambda c: asyncio.ensure_future(b.add_remote_candidate(c))
        b.on_candidate = lambda c: asyncio.ensure_future(a.add_remote_candidate(c))
        a.set_remote_credentials(*b.local_credentials)
        b.set_remote_credentials(*a.local_credentials)
        await asyncio.gather(a.gather(), b.gather())
        gathered = await asyncio.gather(a.gathering_complete(5), b.gathering_complete(5))
        for candidates in gathered:
            assert candidates, "no relay candidate: allocation failed"
            assert {c.type for c in candidates} == {CandidateType.RELAYED}
        pa, pb = await asyncio.gather(a.connect(10), b.connect(10))
        assert pa.local.type is CandidateType.RELAYED and pa.remote.type is CandidateType.RELAYED
        assert pb.local.addr == pa.remote.addr
        for i in range(20):
            a.send(b"ping %d" % i)
            assert await b.recv(2) == b"ping %d" % i
            b.send(b"pong %d" % i)
            assert await a.recv(2) == b"pong %d" % i
        assert a.state in (IceState.CONNECTED, IceState.COMPLETED)
        return str(pa.local), str(pb.local)
    finally:
        await asyncio.gather(a.close(), b.close())


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_relay_only_agents_connect_through_coturn(coturn: Coturn, transport: str) -> None:
    server = _server(coturn, transport)
    local_a, local_b = asyncio.run(_relay_call(server, server))
    assert local_a != local_b
    assert "relay udp 127.0.0.1:" in local_a


def test_mixed_transports_udp_and_tls(coturn: Coturn) -> None:
    asyncio.run(_relay_call(_server(coturn, "udp"), _server(coturn, "tls")))


def test_wrong_password_gives_no_relay_candidate(coturn: Coturn) -> None:
    async def run() -> None:
        bad = TurnServer("127.0.0.1", coturn.port, "udp", coturn.config.user, "wrong")
        a = IceTransport(controlling=True, addresses=["127.0.0.1"], turn_servers=[bad],
                         policy="relay")
        try:
            await a.gather()
            assert await a.gathering_complete(10) == []
        finally:
            await a.close()

    asyncio.run(run())
