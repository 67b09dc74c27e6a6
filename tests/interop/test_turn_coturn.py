"""The TURN client (rtcstack.ice.turn through rtcstack.asyncio.turn) against coturn (Debian
``coturn``), started once per module on 127.0.0.1 with UDP, TCP and TLS (a self-signed
certificate) listeners; see tests/interop/coturn.py.

- RFC 8656 §7.1 / §7.3 Allocate over UDP, TCP and TLS; a wrong password fails with 401 (§7.4);
  a certificate that does not verify fails before anything is sent;
- relay to a local UDP echo and back: by Send/Data indications (§11) and by ChannelData on a
  bound channel (§12), over every transport (ChannelData padded over streams, §12.5);
- two allocations at once on one server, relaying to each other;
- Refresh (§8): with a 1 s lifetime the allocation still relays after 1.6 s, while an
  allocation nobody refreshes is gone;
- deallocate on close: coturn answers the Refresh LIFETIME=0 with success and logs it;
- ``rtcstack turn`` end to end as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from rtcstack.asyncio.stun import open_udp_client
from rtcstack.asyncio.turn import (
    TurnAllocationError,
    TurnClosedError,
    TurnConnection,
    TurnConnectionError,
)
from rtcstack.cli.turn import UdpEcho
from rtcstack.common.types import Address
from rtcstack.ice.turn import TurnServer, TurnState
from rtcstack.stun import (
    Lifetime,
    LongTermCredentials,
    Message,
    MessageClass,
    Method,
    RequestedTransport,
)

from .coturn import Coturn, CoturnConfig, running_coturn

pytestmark = pytest.mark.interop

T = TypeVar("T")
TRANSPORTS = ["udp", "tcp", "tls"]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout=20))


@pytest.fixture(scope="module")
def coturn() -> Iterator[Coturn]:
    # --verbose: coturn logs each request it processed (the deallocation test reads it).
    config = CoturnConfig(listening_ips=["127.0.0.1"], tls=True, extra_args=["--verbose"])
    with running_coturn(config) as server:
        yield server


def turn_server(coturn: Coturn, transport: str, password: str | None = None) -> TurnServer:
    host, port = coturn.tls_address if transport == "tls" else coturn.address
    cfg = coturn.config
    return TurnServer(host, port, transport, cfg.user, cfg.password if password is None else
                      password)


async def open_conn(coturn: Coturn, transport: str, **kwargs: Any) -> TurnConnection:
    return await TurnConnection.open(
        turn_server(coturn, transport), verify=False, connect_timeout=5, **kwargs
    )


async def start_echo() -> tuple[UdpEcho, Address]:
    loop = asyncio.get_running_loop()
    transport, echo = await loop.create_datagram_endpoint(UdpEcho, local_addr=("127.0.0.1", 0))
    return echo, transport.get_extra_info("sockname")[:2]


async def relay_round_trips(conn: TurnConnection, peer: Address, count: int) -> None:
    for i in range(count):
        payload = b"round trip %d " % i + os.urandom(16) * (i + 1)
        conn.send(payload, peer)
        async with asyncio.timeout(2):
            data, source = await conn.recv()
        assert (data, source) == (payload, peer)


# --- Allocate ---------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_allocate(coturn: Coturn, transport: str) -> None:
    async def go() -> None:
        conn = await open_conn(coturn, transport)
        try:
            allocated = await conn.allocate(timeout=2)
            assert conn.state is TurnState.ALLOCATED
            relayed_ip, relayed_port = allocated.relayed
            assert relayed_ip == "127.0.0.1"
            assert coturn.config.min_port <= relayed_port <= coturn.config.max_port
            assert conn.relayed_address == allocated.relayed
            # Loopback has no NAT: the server saw our own socket's address.
            assert allocated.mapped == conn.local_address == conn.mapped_address
            assert allocated.lifetime == 600
        finally:
            closed = await conn.close(timeout=2)
        assert closed.reason == "deallocated" and conn.closed

    run(go())


def test_wrong_password_fails_with_401(coturn: Coturn) -> None:
    async def go() -> None:
        conn = await TurnConnection.open(turn_server(coturn, "udp", password="wrong"))
        try:
            with pytest.raises(TurnAllocationError) as info:
                await conn.allocate(timeout=2)
            assert info.value.code == 401
            assert str(info.value).startswith("allocation failed: 401")
            assert conn.state is TurnState.FAILED
            with pytest.raises(TurnAllocationError):
                conn.send(b"x", ("127.0.0.1", 9))
        finally:
            await conn.close(timeout=1)

    run(go())


def test_tls_certificate_is_verified_by_default(coturn: Coturn) -> None:
    async def go() -> None:
        with pytest.raises(
            TurnConnectionError,
            match=r"TLS with 127\.0\.0\.1:\d+ failed: the server's certificate does not verify",
        ):
            await TurnConnection.open(turn_server(coturn, "tls"), connect_timeout=5)

    run(go())


# --- relaying ---------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [True, False], ids=["channel", "indication"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_relay_to_an_echo_and_back(coturn: Coturn, transport: str, channels: bool) -> None:
    async def go() -> None:
        echo, echo_addr = await start_echo()
        conn = await open_conn(coturn, transport, channels=channels)
        try:
            allocated = await conn.allocate(timeout=2)
            await relay_round_trips(conn, echo_addr, 4)
            assert set(echo.sources) == {allocated.relayed}
            stats = conn.client.stats
            if channels:  # §12: the first datagram waited for ChannelBind, then all on it
                assert (stats.channel_binds, stats.permission_requests) == (1, 0)
                assert (stats.sent_channel_data, stats.sent_indications) == (4, 0)
                assert (stats.channel_data_in, stats.data_indications) == (4, 0)
                assert conn.client.channel_for(echo_addr) is not None
            else:  # §11: CreatePermission, then Send and Data indications
                assert (stats.channel_binds, stats.permission_requests) == (0, 1)
                assert (stats.sent_channel_data, stats.sent_indications) == (0, 4)
                assert (stats.channel_data_in, stats.data_indications) == (0, 4)
            assert stats.garbage == stats.parse_errors == stats.no_permission == 0
        finally:
            await conn.close(timeout=2)
            assert echo.transport is not None
            echo.transport.close()

    run(go())


def test_two_allocations_relay_to_each_other(coturn: Coturn) -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        to_b: asyncio.Future[tuple[bytes, Address]] = loop.create_future()
        a = await open_conn(coturn, "udp")
        b = await open_conn(  # b takes its data through the callback instead of recv()
            coturn, "tcp", channels=False, on_data=lambda data, peer: to_b.set_result((data, peer))
        )
        try:
            got_a, got_b = await asyncio.gather(a.allocate(timeout=2), b.allocate(timeout=2))
            assert got_a.relayed != got_b.relayed
            # Each side lets the other's relayed address in (RFC 8656 §9), then they talk.
            b.create_permission([got_a.relayed[0]])
            async with asyncio.timeout(2):  # no event says "installed": poll, with a deadline
                while not b.client.has_permission(got_a.relayed[0]):
                    await asyncio.sleep(0.005)
            a.send(b"a to b", got_b.relayed)
            async with asyncio.timeout(2):
                assert await to_b == (b"a to b", got_a.relayed)
            b.send(b"b to a", got_a.relayed)
            async with asyncio.timeout(2):
                assert await a.recv() == (b"b to a", got_b.relayed)
        finally:
            await asyncio.gather(a.close(timeout=2), b.close(timeout=2))

    run(go())


# --- Refresh and deallocation -----------------------------------------------------------------


async def raw_allocate(coturn: Coturn, local: Address, lifetime: int | None = None) -> Message:
    """One Allocate from ``local`` with the plain STUN client (not the TurnClient)."""
    client = await open_udp_client(local)
    try:
        attrs: list[Any] = [RequestedTransport(17)]
        if lifetime is not None:
            attrs.append(Lifetime(lifetime))
        request = Message.new(Method.ALLOCATE, MessageClass.REQUEST, attrs)
        creds = LongTermCredentials(coturn.config.user, coturn.config.password)
        response, _ = await client.request(request, coturn.address, credentials=creds)
        return response
    finally:
        client.close()
        await asyncio.sleep(0)  # the transport closes its socket on the next loop iteration


def free_udp_port() -> Address:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return ("127.0.0.1", int(s.getsockname()[1]))


def refreshes_to_zero(coturn: Coturn) -> int:
    """How many "refreshed ... lifetime=0" (deallocation) lines coturn --verbose has logged."""
    return sum(
        1
        for line in coturn.log().splitlines()
        if ": refreshed, realm=<" in line and (line + ",").count(", lifetime=0,") == 1
    )


async def wait_for_log(coturn: Coturn, count: int, deadline: float = 2.0) -> int:
    """Poll coturn's log (a file it writes as it goes) until ``count`` deallocations show."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while (seen := refreshes_to_zero(coturn)) < count and loop.time() < end:
        await asyncio.sleep(0.02)
    return seen


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_close_deallocates(coturn: Coturn, transport: str) -> None:
    async def go() -> None:
        conn = await open_conn(coturn, transport)
        await conn.allocate(timeout=2)
        before = refreshes_to_zero(coturn)
        closed = await conn.close(timeout=2)
        # "deallocated" is reported only for a success response to Refresh LIFETIME=0
        # (RFC 8656 §8.1), and coturn logs that it processed it.
        assert closed.reason == "deallocated"
        assert conn.state is TurnState.CLOSED and conn.closed
        assert await wait_for_log(coturn, before + 1) == before + 1
        with pytest.raises(TurnClosedError):
            conn.send(b"after close", ("127.0.0.1", 9))
        with pytest.raises(TurnClosedError):
            await conn.recv()

    run(go())


def test_close_before_allocating_sends_nothing(coturn: Coturn) -> None:
    async def go() -> None:
        conn = await open_conn(coturn, "udp")
        closed = await conn.close(timeout=2)
        assert conn.client.stats.allocate_requests == 0 and conn.closed
        assert closed.reason == "closed before the allocation existed"

    run(go())


@pytest.fixture(scope="module")
def short_lived() -> Iterator[Coturn]:
    """coturn granting at most 1 s (RFC 8656 §7.2: the server picks the lifetime)."""
    config = CoturnConfig(listening_ips=["127.0.0.1"], extra_args=["--max-allocate-lifetime=1"])
    with running_coturn(config) as server:
        yield server


def test_refresh_keeps_the_allocation_alive(short_lived: Coturn) -> None:
    async def go() -> None:
        echo, echo_addr = await start_echo()
        conn = await open_conn(short_lived, "udp")
        try:
            allocated = await conn.allocate(timeout=2)
            assert allocated.lifetime == 1
            control_local = free_udp_port()
            control = await raw_allocate(short_lived, control_local)
            assert control.get(Lifetime) == Lifetime(1)
            await asyncio.sleep(1.6)  # the lifetime passing, not synchronisation
            assert conn.state is TurnState.ALLOCATED
            # §8: refreshed at half the lifetime when it is that short -- three times by now.
            assert conn.client.stats.refreshes >= 2
            await relay_round_trips(conn, echo_addr, 1)
            # Nobody refreshed the control allocation: it expired, so the same 5-tuple
            # allocates again instead of getting 437.
            after = await raw_allocate(short_lived, control_local)
            assert after.message_class is MessageClass.SUCCESS, after.error_code
        finally:
            await conn.close(timeout=2)
            assert echo.transport is not None
            echo.transport.close()

    run(go())


# --- the command ------------------------------------------------------------------------------


def rtcstack_exe() -> str:
    exe = os.path.join(os.path.dirname(sys.executable), "rtcstack")
    if not os.path.exists(exe):
        pytest.skip(f"{exe} is not installed (pip install -e .)")
    return exe


@pytest.mark.parametrize(
    ("transport", "extra"),
    [("udp", []), ("tcp", ["--no-channel"]), ("tls", ["--insecure"])],
)
def test_cli_end_to_end(coturn: Coturn, transport: str, extra: list[str]) -> None:
    host, port = coturn.tls_address if transport == "tls" else coturn.address
    server = f"turns:{host}:{port}" if transport == "tls" else f"{host}:{port}"
    args = [server, "--user", coturn.config.user, "--password", coturn.config.password]
    if transport == "tcp":
        args += ["--transport", "tcp"]
    proc = subprocess.run(
        [rtcstack_exe(), "turn", *args, *extra, "--count", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] is True and out["transport"] == transport
    assert out["server"] == {"host": host, "port": port}
    assert out["relayed_address"]["host"] == "127.0.0.1"
    assert out["mapped_address"] == out["local_address"]
    assert out["relay"] == ("indication" if "--no-channel" in extra else "channel")
    assert len(out["rtt_ms"]) == 2 and all(0 < r < 2000 for r in out["rtt_ms"])
    assert out["deallocated"] is True


def test_cli_text_output_and_wrong_password(coturn: Coturn) -> None:
    host, port = coturn.address
    base = [rtcstack_exe(), "turn", f"turn:{host}:{port}", "--user", coturn.config.user]
    proc = subprocess.run(
        [*base, "--password", coturn.config.password],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "relayed address  127.0.0.1:" in proc.stdout
    assert "round trips" in proc.stdout
    bad = subprocess.run(
        [*base, "--password", "wrong"], capture_output=True, text=True, timeout=30, check=False
    )
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("rtcstack turn: turn:127.0.0.1:")
    assert "401" in bad.stderr and bad.stderr.count("\n") == 1


def test_cli_refuses_an_unverified_certificate(coturn: Coturn) -> None:
    host, port = coturn.tls_address
    proc = subprocess.run(
        [rtcstack_exe(), "turn", f"turns:{host}:{port}", "-u", coturn.config.user,
         "-p", coturn.config.password],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert "certificate does not verify" in proc.stderr and "--insecure" in proc.stderr
    assert proc.stderr.count("\n") == 1
