"""The asyncio STUN client against tiny in-test responders on 127.0.0.1 (UDP and TCP)."""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from rtcstack.asyncio.stun import (
    StunConnectionError,
    StunErrorResponse,
    StunResolveError,
    StunResponseError,
    StunTimeoutError,
    binding,
    get_mapped_address,
    open_tcp_client,
    open_udp_client,
    parse_server,
)
from rtcstack.common import Address
from rtcstack.stun import (
    ErrorCode,
    IntegrityError,
    LongTermCredentials,
    Message,
    MessageClass,
    Method,
    Nonce,
    Realm,
    Username,
    XorMappedAddress,
    long_term_key,
)
from rtcstack.stun.channeldata import ChannelData

Handler = Callable[[Message, Address], "list[bytes]"]


def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (no pytest plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), timeout=20))

    return wrapper


def binding_ok(request: Message, addr: Address) -> list[bytes]:
    return [request.success_response(XorMappedAddress(addr)).serialize(fingerprint=True)]


class Responder(asyncio.DatagramProtocol):
    """Answers each STUN request with whatever ``handler`` returns (possibly nothing)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.received: list[tuple[float, Message]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        request = Message.parse(data)
        self.received.append((asyncio.get_running_loop().time(), request))
        for reply in self.handler(request, (addr[0], addr[1])):
            assert self.transport is not None
            self.transport.sendto(reply, addr)


async def udp_responder(handler: Handler, host: str = "127.0.0.1") -> tuple[Responder, Address]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: Responder(handler), local_addr=(host, 0)
    )
    sockname = transport.get_extra_info("sockname")
    return protocol, (sockname[0], sockname[1])


@run_async
async def test_get_mapped_address_udp() -> None:
    responder, addr = await udp_responder(binding_ok)
    try:
        mapped = await get_mapped_address(f"127.0.0.1:{addr[1]}", timeout=5)
        assert mapped[0] == "127.0.0.1" and mapped[1] > 0
        assert len(responder.received) == 1
        assert responder.received[0][1].check_fingerprint()
    finally:
        assert responder.transport is not None
        responder.transport.close()


@run_async
async def test_get_mapped_address_udp_ipv6() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        responder, addr = await udp_responder(binding_ok, host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        mapped = await get_mapped_address(f"[::1]:{addr[1]}", timeout=5, family=socket.AF_INET6)
        assert mapped[0] == "::1"
    finally:
        assert responder.transport is not None
        responder.transport.close()


@run_async
async def test_retransmits_on_the_rfc_schedule_until_answered() -> None:
    def drop_two(request: Message, addr: Address) -> list[bytes]:
        return binding_ok(request, addr) if len(responder.received) >= 3 else []

    responder, addr = await udp_responder(drop_two)
    client = await open_udp_client(("127.0.0.1", 0))
    try:
        request = Message.new(Method.BINDING, MessageClass.REQUEST)
        response, source = await client.request(request, addr, rto=0.05)
        assert source == addr and response.get(XorMappedAddress) is not None
        times = [t for t, _ in responder.received]
        assert len(times) == 3
        # Sends at 0, RTO, 3 RTO (RFC 8489 §6.2.1), driven by one call_at timer.
        # (never early; the upper bounds only guard against polling, loosely for a busy CI)
        assert 0.03 <= times[1] - times[0] < 0.5
        assert 0.07 <= times[2] - times[1] < 0.6
        assert client.local_address[0] == "127.0.0.1"
    finally:
        client.close()
        assert responder.transport is not None
        responder.transport.close()


@run_async
async def test_timeout_raises() -> None:
    responder, addr = await udp_responder(lambda r, a: [])
    client = await open_udp_client(("127.0.0.1", 0))
    try:
        request = Message.new(Method.BINDING, MessageClass.REQUEST)
        with pytest.raises(StunTimeoutError):
            await client.request(request, addr, rto=0.01, rc=3, rm=2)
        assert len(responder.received) == 3
        assert client.client.pending == 0
    finally:
        client.close()
        assert responder.transport is not None
        responder.transport.close()


@run_async
async def test_concurrent_requests_and_error_response_returned() -> None:
    def handler(request: Message, addr: Address) -> list[bytes]:
        if request.get(Username) is not None:
            return [request.error_response(400).serialize()]
        return binding_ok(request, addr)

    responder, addr = await udp_responder(handler)
    client = await open_udp_client(("127.0.0.1", 0))
    try:
        requests = [Message.new(Method.BINDING, MessageClass.REQUEST) for _ in range(5)]
        requests.append(Message.new(Method.BINDING, MessageClass.REQUEST, [Username("x")]))
        results = await asyncio.gather(*(client.request(r, addr) for r in requests))
        for request, (response, _) in zip(requests, results, strict=True):
            assert response.transaction_id == request.transaction_id
        assert results[-1][0].error_code == 400  # returned, not raised
    finally:
        client.close()
        assert responder.transport is not None
        responder.transport.close()


@run_async
async def test_long_term_auth_over_asyncio() -> None:
    realm, nonce = "example.org", "n0nce"
    key = long_term_key("u", realm, "p")

    def handler(request: Message, addr: Address) -> list[bytes]:
        if not request.has_integrity:
            return [request.error_response(401, "", Realm(realm), Nonce(nonce)).serialize()]
        if not request.check_integrity(key):
            return [request.error_response(401, "", Realm(realm), Nonce(nonce)).serialize()]
        return [request.success_response(XorMappedAddress(addr)).serialize(integrity_key=key)]

    responder, addr = await udp_responder(handler)
    client = await open_udp_client(("127.0.0.1", 0))
    try:
        request = Message.new(Method.BINDING, MessageClass.REQUEST)
        response, _ = await client.request(request, addr, credentials=LongTermCredentials("u", "p"))
        assert response.message_class is MessageClass.SUCCESS and response.check_integrity(key)
        bad = LongTermCredentials("u", "wrong")
        request2 = Message.new(Method.BINDING, MessageClass.REQUEST)
        response2, _ = await client.request(request2, addr, credentials=bad)
        assert response2.error_code == 401
    finally:
        client.close()
        assert responder.transport is not None
        responder.transport.close()


@run_async
async def test_only_forged_responses_raise_integrity_error() -> None:
    responder, addr = await udp_responder(
        lambda r, a: [r.success_response().serialize(integrity_key=b"forged")]
    )
    client = await open_udp_client(("127.0.0.1", 0))
    try:
        request = Message.new(Method.BINDING, MessageClass.REQUEST, [Username("a:b")])
        with pytest.raises(IntegrityError):
            await client.request(request, addr, integrity_key=b"right", rto=0.01, rc=2, rm=1)
        assert client.client.stats.integrity_failures == 2
    finally:
        client.close()
        assert responder.transport is not None
        responder.transport.close()


@run_async
async def test_garbage_is_ignored_and_cancellation_cleans_up() -> None:
    responder, addr = await udp_responder(lambda r, a: [b"\xff" * 30, b"junk"])
    client = await open_udp_client(("127.0.0.1", 0))
    try:
        task = asyncio.create_task(
            client.request(Message.new(Method.BINDING, MessageClass.REQUEST), addr)
        )
        while client.client.stats.parse_errors < 2:
            await asyncio.sleep(0)  # yield to the loop until the garbage arrived
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client.client.pending == 0 and client.client.poll_timeout() is None
    finally:
        client.close()
        assert responder.transport is not None
        responder.transport.close()


@run_async
async def test_close_fails_waiting_requests() -> None:
    responder, addr = await udp_responder(lambda r, a: [])
    client = await open_udp_client(("127.0.0.1", 0))
    task = asyncio.create_task(
        client.request(Message.new(Method.BINDING, MessageClass.REQUEST), addr)
    )
    while not responder.received:
        await asyncio.sleep(0)
    client.close()
    with pytest.raises(StunConnectionError):
        await task
    assert responder.transport is not None
    responder.transport.close()


# --- TCP ----------------------------------------------------------------------------------------


async def tcp_responder(
    handler: Handler, *, chunk: int = 3, extra: bytes = b""
) -> tuple[asyncio.Server, Address]:
    """Answers over TCP, writing each reply in ``chunk``-byte pieces (fragmentation)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            while True:
                head = await reader.readexactly(20)
                body = await reader.readexactly(int.from_bytes(head[2:4], "big"))
                request = Message.parse(head + body)
                out = extra + b"".join(handler(request, (peer[0], peer[1])))
                for i in range(0, len(out), chunk):
                    writer.write(out[i : i + chunk])
                    await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    sockname = server.sockets[0].getsockname()
    return server, (sockname[0], sockname[1])


@run_async
async def test_get_mapped_address_tcp() -> None:
    server, addr = await tcp_responder(binding_ok)
    async with server:
        mapped = await get_mapped_address(f"127.0.0.1:{addr[1]}", transport="tcp", timeout=5)
        assert mapped[0] == "127.0.0.1"


@run_async
async def test_tcp_client_several_requests_skips_channeldata() -> None:
    frame = ChannelData(0x4000, b"x").serialize(pad=True)
    server, addr = await tcp_responder(binding_ok, chunk=1, extra=frame)
    async with server:
        client = await open_tcp_client(addr)
        try:
            requests = [Message.new(Method.BINDING, MessageClass.REQUEST) for _ in range(3)]
            results = await asyncio.gather(*(client.request(r) for r in requests))
            assert [r.transaction_id for r, _ in results] == [r.transaction_id for r in requests]
            assert all(source == addr for _, source in results)
        finally:
            client.close()


@run_async
async def test_tcp_connection_closed_fails_request() -> None:
    server, addr = await tcp_responder(lambda r, a: [b"\xc0\x00\x00\x00"])  # unframeable
    async with server:
        client = await open_tcp_client(addr)
        with pytest.raises(StunConnectionError):
            await client.request(Message.new(Method.BINDING, MessageClass.REQUEST))


@run_async
async def test_tcp_connect_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(StunConnectionError, match="cannot connect"):
            await open_tcp_client(("127.0.0.1", port))


# --- the helper's errors and server parsing -----------------------------------------------------


@run_async
async def test_error_response_raises_from_helper() -> None:
    responder, addr = await udp_responder(lambda r, a: [r.error_response(403).serialize()])
    try:
        with pytest.raises(StunErrorResponse) as info:
            await get_mapped_address(f"127.0.0.1:{addr[1]}", timeout=5)
        assert info.value.code == 403 and info.value.reason == "Forbidden"
        assert info.value.response is not None
        assert info.value.response.get(ErrorCode) == ErrorCode(403, "Forbidden")
    finally:
        assert responder.transport is not None
        responder.transport.close()


@run_async
async def test_missing_mapped_address_raises() -> None:
    responder, addr = await udp_responder(lambda r, a: [r.success_response().serialize()])
    try:
        with pytest.raises(StunResponseError, match="XOR-MAPPED-ADDRESS"):
            await binding(f"127.0.0.1:{addr[1]}")
    finally:
        assert responder.transport is not None
        responder.transport.close()


@run_async
async def test_helper_timeout() -> None:
    responder, addr = await udp_responder(lambda r, a: [])
    try:
        with pytest.raises(StunTimeoutError):
            await get_mapped_address(f"127.0.0.1:{addr[1]}", timeout=0.2)
    finally:
        assert responder.transport is not None
        responder.transport.close()


@run_async
async def test_resolution_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)  # no DNS traffic from tests
    with pytest.raises(StunResolveError, match=r"stun\.example\.invalid"):
        await get_mapped_address("stun.example.invalid", timeout=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.org", ("example.org", 3478)),
        ("example.org:19302", ("example.org", 19302)),
        ("192.0.2.1:1", ("192.0.2.1", 1)),
        ("[2001:db8::1]:3479", ("2001:db8::1", 3479)),
        ("[::1]", ("::1", 3478)),
        ("2001:db8::1", ("2001:db8::1", 3478)),
    ],
)
def test_parse_server(text: str, expected: Address) -> None:
    assert parse_server(text) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:0", "host:99999", "[::1", "[x]:1", "[::1]x"])
def test_parse_server_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_server(text)


def test_tls_default_port() -> None:
    assert parse_server("example.org", 5349) == ("example.org", 5349)


def _self_signed(tmp: str) -> tuple[str, str]:
    """A throwaway certificate for 127.0.0.1 (cryptography is the core's one dependency)."""
    import datetime
    import ipaddress
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


def test_tls_client(tmp_path: Any) -> None:
    import ssl

    cert, key = _self_signed(str(tmp_path))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=cert)

    async def go() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readexactly(20)
            body = await reader.readexactly(int.from_bytes(head[2:4], "big"))
            peer = writer.get_extra_info("peername")
            writer.write(binding_ok(Message.parse(head + body), (peer[0], peer[1]))[0])
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        async with server:
            client = await open_tcp_client(("127.0.0.1", port), ssl=client_ctx)
            try:
                response, _ = await client.request(
                    Message.new(Method.BINDING, MessageClass.REQUEST)
                )
                assert response.get(XorMappedAddress) is not None
            finally:
                client.close()
            # An untrusted certificate is a clean connection error.
            with pytest.raises(StunConnectionError, match="TLS"):
                await open_tcp_client(("127.0.0.1", port), ssl=ssl.create_default_context())

    asyncio.run(asyncio.wait_for(go(), timeout=20))
