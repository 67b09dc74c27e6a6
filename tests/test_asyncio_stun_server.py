"""The asyncio STUN server on loopback: UDP and TCP (RFC 8489 §6.2.1/§6.2.2), the four RFC 5780
sockets (https://www.rfc-editor.org/rfc/rfc5780#section-6), credentials, garbage, shutdown."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from rtcstack.asyncio.stun_server import AsyncStunServer, serve_stun
from rtcstack.common.types import Address
from rtcstack.stun import (
    ChangeRequest,
    LongTermCredentials,
    Message,
    MessageClass,
    Method,
    OtherAddress,
    ResponseOrigin,
    Software,
    XorMappedAddress,
)
from rtcstack.stun.server import LongTermAuth
from tests.helpers import UdpPeer, has_loopback_2, udp_peer
from tests.helpers import run as _run

TIMEOUT = 5.0


def run(coro: Awaitable[Any]) -> Any:
    return _run(coro, TIMEOUT)


async def tcp_exchange(addr: Address, data: bytes, chunks: int = 1) -> list[Message]:
    reader, writer = await asyncio.open_connection(*addr)
    step = max(1, len(data) // chunks)
    for i in range(0, len(data), step):
        writer.write(data[i : i + step])
        await writer.drain()
    out = []
    expected = 0
    pos = 0
    while pos < len(data):  # one response per request in ``data``
        expected += 1
        pos += 20 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    for _ in range(expected):
        head = await reader.readexactly(20)
        body = await reader.readexactly(int.from_bytes(head[2:4], "big"))
        out.append(Message.parse(head + body))
    writer.close()
    await writer.wait_closed()
    return out


def with_server(
    test: Callable[[AsyncStunServer], Awaitable[None]], **kw: Any
) -> Callable[[], None]:
    async def body() -> None:
        server = await serve_stun(("127.0.0.1", 0), **kw)
        try:
            await test(server)
        finally:
            server.close()
            await server.wait_closed()

    return lambda: run(body())


def test_udp_binding() -> None:
    async def test(server: AsyncStunServer) -> None:
        assert [t for t, _ in server.addresses] == ["udp", "tcp"]
        peer = await udp_peer()
        request = Message.new(Method.BINDING, MessageClass.REQUEST)
        peer.send(request.serialize(fingerprint=True), server.udp_addresses[0])
        response, source = await peer.recv()
        assert source == server.udp_addresses[0]
        assert response.transaction_id == request.transaction_id
        assert response.get(XorMappedAddress) == XorMappedAddress(peer.local)
        assert response.get(Software) == Software("rtcstack-test")
        assert response.check_fingerprint()

    with_server(test, software="rtcstack-test")()


def test_tcp_binding_fragmented_and_coalesced() -> None:
    async def test(server: AsyncStunServer) -> None:
        tcp = server.tcp_addresses[0]
        requests = [Message.new(Method.BINDING, MessageClass.REQUEST) for _ in range(3)]
        data = b"".join(r.serialize() for r in requests)
        # All three in one write, then byte by byte.
        for chunks in (1, len(data)):
            responses = await tcp_exchange(tcp, data, chunks)
            assert [r.transaction_id for r in responses] == [r.transaction_id for r in requests]
            for response in responses:
                assert response.message_class is MessageClass.SUCCESS
                mapped = response.get(XorMappedAddress)
                assert mapped is not None and mapped.address[0] == "127.0.0.1"
        assert server.stats.success == 6

    with_server(test)()


def test_garbage_never_stops_the_server() -> None:
    async def test(server: AsyncStunServer) -> None:
        peer = await udp_peer()
        udp = server.udp_addresses[0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:  # asyncio skips b""
            for junk in (b"", b"\x00", b"GET / HTTP/1.1\r\n\r\n", b"\x00\x01\x00\x00" + b"\0" * 16):
                raw.sendto(junk, udp)
        # A TCP stream that is not STUN is dropped...
        reader, writer = await asyncio.open_connection(*server.tcp_addresses[0])
        writer.write(b"\xff" * 40)
        assert await reader.read() == b""  # the server hung up
        writer.close()
        # ... and the server still answers on both transports.
        request = Message.new(Method.BINDING, MessageClass.REQUEST)
        peer.send(request.serialize(), udp)
        response, _ = await peer.recv()
        assert response.transaction_id == request.transaction_id
        (response,) = await tcp_exchange(server.tcp_addresses[0], request.serialize())
        assert response.message_class is MessageClass.SUCCESS
        assert server.stats.malformed == 5 and server.internal_errors == 0

    with_server(test)()


def test_udp_only() -> None:
    async def test(server: AsyncStunServer) -> None:
        assert server.tcp_addresses == [] and len(server.udp_addresses) == 1

    with_server(test, tcp=False)()


def test_long_term_credentials_with_the_rtcstack_client() -> None:
    async def test(server: AsyncStunServer) -> None:
        from rtcstack.asyncio.stun import open_udp_client

        client = await open_udp_client(("127.0.0.1", 0))
        try:
            request = Message.new(Method.BINDING, MessageClass.REQUEST)
            response, _ = await client.request(
                request, server.udp_addresses[0], credentials=LongTermCredentials("u", "p")
            )
            assert response.message_class is MessageClass.SUCCESS
            assert response.get(XorMappedAddress) == XorMappedAddress(client.local_address)
        finally:
            client.close()
        client = await open_udp_client(("127.0.0.1", 0))
        try:
            bad = Message.new(Method.BINDING, MessageClass.REQUEST)
            response, _ = await client.request(
                bad, server.udp_addresses[0], credentials=LongTermCredentials("u", "wrong")
            )
            assert response.error_code == 401
        finally:
            client.close()

    with_server(test, long_term=LongTermAuth.from_users("rtcstack.test", {"u": "p"}))()


@pytest.mark.skipif(not has_loopback_2(), reason="127.0.0.2 is not usable on lo")
def test_rfc5780_four_sockets_answer_from_the_right_source() -> None:
    async def body() -> None:
        server = await serve_stun(("127.0.0.1", 0), ("127.0.0.2", 0))
        try:
            udp = server.udp_addresses
            assert len(udp) == 4 and len(server.tcp_addresses) == 4
            assert server.server.local_addresses == [udp[0], udp[2], udp[1], udp[3]]
            (a1, p1), (a2, p2) = server.server.local_addresses[0], server.server.local_addresses[3]
            assert (a1, a2) == ("127.0.0.1", "127.0.0.2") and p1 != p2
            peer = await udp_peer()
            for local in server.server.local_addresses:
                for change_ip, change_port in ((0, 0), (1, 0), (0, 1), (1, 1)):
                    request = Message.new(
                        Method.BINDING,
                        MessageClass.REQUEST,
                        [ChangeRequest(bool(change_ip), bool(change_port))],
                    )
                    peer.send(request.serialize(), local)
                    response, source = await peer.recv()
                    ca = a2 if local[0] == a1 else a1
                    cp = p2 if local[1] == p1 else p1
                    expected = (ca if change_ip else local[0], cp if change_port else local[1])
                    assert source == expected
                    assert response.get(ResponseOrigin) == ResponseOrigin(expected)
                    assert response.get(OtherAddress) == OtherAddress((ca, cp))
        finally:
            server.close()
            await server.wait_closed()

    run(body())


@pytest.mark.parametrize(
    "listen, alternate",
    [
        (("0.0.0.0", 0), ("127.0.0.2", 0)),
        (("127.0.0.1", 0), ("127.0.0.1", 0)),
        (("127.0.0.1", 5000), ("127.0.0.2", 5000)),
        (("127.0.0.1", 0), ("::1", 0)),
    ],
)
def test_bad_rfc5780_configuration(listen: Address, alternate: Address) -> None:
    with pytest.raises(ValueError):
        run(serve_stun(listen, alternate))


def test_port_in_use_is_an_oserror() -> None:
    async def body() -> None:
        server = await serve_stun(("127.0.0.1", 0))
        try:
            with pytest.raises(OSError):
                await serve_stun(server.udp_addresses[0])
        finally:
            server.close()
            await server.wait_closed()

    run(body())


def test_close_drops_tcp_connections_and_is_idempotent() -> None:
    async def body() -> None:
        async with await serve_stun(("127.0.0.1", 0)) as server:
            reader, writer = await asyncio.open_connection(*server.tcp_addresses[0])
            writer.write(Message.new(Method.BINDING, MessageClass.REQUEST).serialize())
            head = await reader.readexactly(20)  # the connection is accepted and served
            await reader.readexactly(int.from_bytes(head[2:4], "big"))
            server.close()
            server.close()
            await server.wait_closed()
            assert await reader.read() == b""
            writer.close()

    run(body())


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_udp_and_tcp() -> None:
    async def body() -> None:
        server = await serve_stun(("::1", 0))
        try:
            assert server.udp_addresses[0][0] == "::1"
            loop = asyncio.get_running_loop()
            _, peer = await loop.create_datagram_endpoint(UdpPeer, local_addr=("::1", 0))
            request = Message.new(Method.BINDING, MessageClass.REQUEST)
            peer.send(request.serialize(), server.udp_addresses[0])
            response, _ = await peer.recv()
            assert response.get(XorMappedAddress) == XorMappedAddress(peer.local)
            (response,) = await tcp_exchange(server.tcp_addresses[0], request.serialize())
            mapped = response.get(XorMappedAddress)
            assert mapped is not None and mapped.address[0] == "::1"
        finally:
            server.close()
            await server.wait_closed()

    run(body())


def test_cached_long_term_key_is_not_reused_after_a_password_change() -> None:
    run(_password_change())


async def _password_change() -> None:
    """RFC 8489 §9.2.3.2 caching must key on the password too: the same client, server and
    username with a wrong password must be challenged again, not signed with the cached key."""
    from rtcstack.asyncio.stun import open_udp_client
    from rtcstack.stun import LongTermCredentials, Message, MessageClass, Method
    from rtcstack.stun.server import LongTermAuth

    server = await serve_stun(
        ("127.0.0.1", 0), tcp=False, long_term=LongTermAuth.from_users("r", {"u": "right"})
    )
    client = await open_udp_client(("127.0.0.1", 0))
    try:
        addr = server.udp_addresses[0]
        ok, _ = await client.request(
            Message.new(Method.BINDING, MessageClass.REQUEST),
            addr,
            credentials=LongTermCredentials("u", "right"),
        )
        assert ok.message_class is MessageClass.SUCCESS
        denied, _ = await client.request(
            Message.new(Method.BINDING, MessageClass.REQUEST),
            addr,
            credentials=LongTermCredentials("u", "wrong"),
        )
        assert denied.error_code == 401
    finally:
        client.close()
        server.close()
        await server.wait_closed()
