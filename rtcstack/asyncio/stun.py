"""An asyncio STUN client over UDP, TCP and TLS: a thin driver for the sans-IO StunClient.

One line for "what is my public address"::

    host, port = await get_mapped_address("stun.example.org")        # UDP, port 3478
    host, port = await get_mapped_address("[2001:db8::1]:3478", transport="tcp")

Several requests on one socket (RFC 5780 discovery does this)::

    client = await open_udp_client(("0.0.0.0", 0))
    response, source = await client.request(message, ("192.0.2.1", 3478))
    client.close()

The driver feeds every datagram (or, over a stream, every frame cut out by
:class:`~rtcstack.stun.framing.StreamDecoder`) into the sans-IO client with ``loop.time()`` as
``now``, sends what it asks to send, and keeps one ``loop.call_at`` timer armed at its
``poll_timeout()``: retransmissions follow RFC 8489 §6.2.1 exactly, with no polling.

Errors are exception types a program can report in one line: :class:`StunTimeoutError`,
:class:`StunErrorResponse` (from :func:`get_mapped_address`; :meth:`StunUdpClient.request`
returns error responses), :class:`StunResolveError`, :class:`StunConnectionError`,
:class:`StunResponseError`, and :class:`rtcstack.stun.IntegrityError`.
"""

from __future__ import annotations

import abc
import asyncio
import socket
import ssl as _ssl
from dataclasses import dataclass
from typing import Any, cast

from rtcstack.asyncio.timer import DeadlineTimer
from rtcstack.common.errors import InvalidStateError, ParseError, RtcstackError
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.common.types import Address, Transmit, parse_address
from rtcstack.stun.attributes import ErrorCode, MappedAddress, XorMappedAddress
from rtcstack.stun.client import (
    ClientEvent,
    FailureReason,
    RequestFailed,
    RequestTimedOut,
    ResponseReceived,
    StunClient,
)
from rtcstack.stun.credentials import LongTermCredentials
from rtcstack.stun.errors import IntegrityError
from rtcstack.stun.framing import StreamDecoder
from rtcstack.stun.message import Message, MessageClass, Method

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TLS_PORT",
    "BindingResult",
    "StunConnectionError",
    "StunError",
    "StunErrorResponse",
    "StunResolveError",
    "StunResponseError",
    "StunTcpClient",
    "StunTimeoutError",
    "StunUdpClient",
    "binding",
    "get_mapped_address",
    "open_tcp_client",
    "open_udp_client",
    "parse_server",
    "raise_for_error",
    "resolve",
]

DEFAULT_PORT = 3478  # RFC 8489 §8.1: "The default port for STUN requests is 3478"
DEFAULT_TLS_PORT = 5349  # "... for STUN over TLS and STUN over DTLS requests is 5349"


# --- errors -----------------------------------------------------------------------------------


class StunError(RtcstackError):
    """Base class of the errors of this module."""


class StunTimeoutError(StunError, TimeoutError):
    """No response: the RFC 8489 §6.2.1 schedule (or Ti over TCP, or the caller's timeout) ran
    out."""


class StunErrorResponse(StunError):
    """The server answered with an error response (RFC 8489 §6.3.4)."""

    def __init__(self, code: int, reason: str, response: Message | None = None) -> None:
        self.code = code
        self.reason = reason
        self.response = response
        super().__init__(f"error response {code} {reason}".rstrip())


class StunResolveError(StunError, OSError):
    """The server's host name could not be resolved."""


class StunConnectionError(StunError, ConnectionError):
    """The TCP/TLS connection failed or closed before the response (RFC 8489 §6.2.2)."""


class StunResponseError(StunError):
    """A response that cannot be used: unknown comprehension-required attributes (RFC 8489
    §6.3.3), or a Binding success without a mapped address."""


# --- the driver -------------------------------------------------------------------------------


def _outcome(event: ClientEvent) -> tuple[Message, Address]:
    """Map a client event to request()'s result or exception."""
    if isinstance(event, ResponseReceived):
        return event.response, event.addr
    if isinstance(event, RequestTimedOut):
        raise StunTimeoutError("no response from the STUN server (timed out)")
    if isinstance(event, RequestFailed):
        if (
            event.reason is FailureReason.ERROR_RESPONSE
            and event.response is not None
            and event.addr is not None
        ):
            return event.response, event.addr
        if event.reason is FailureReason.INTEGRITY_VIOLATED:
            raise IntegrityError(f"STUN response integrity check failed: {event.detail}")
        if event.reason is FailureReason.ABORTED:
            raise StunConnectionError(f"STUN transaction aborted: {event.detail}")
        raise StunResponseError(f"unusable STUN response: {event.detail}")
    raise TypeError(f"unexpected event {event!r}")  # pragma: no cover - exhaustive above


def _short(addr: Any) -> Address:
    """asyncio gives IPv6 addresses as 4-tuples; the sans-IO layers use (host, port)."""
    return (str(addr[0]), int(addr[1]))


class _Driver(abc.ABC):
    """Runs a StunClient on the event loop: one timer, futures resolved from events.

    Each transport (UDP, TCP/TLS) implements :meth:`_send`."""

    def __init__(self, *, reliable: bool, trace: Trace) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = StunClient(reliable=reliable, trace=trace)
        self._trace = trace
        self._futures: dict[bytes, asyncio.Future[ClientEvent]] = {}
        self._timer = DeadlineTimer(self._loop, self._on_timer)
        self._closed = False
        self.local_address: Address = ("", 0)

    @property
    def client(self) -> StunClient:
        """The sans-IO client (its ``stats`` count what was dropped)."""
        return self._client

    @abc.abstractmethod
    def _send(self, transmit: Transmit) -> None:
        """Put one datagram or framed message on this transport."""

    def _service(self) -> None:
        client = self._client
        while (tx := client.poll_transmit()) is not None:
            if not self._closed:
                self._send(tx)
        while (event := client.poll_event()) is not None:
            future = self._futures.pop(event.transaction_id, None)
            if future is not None and not future.done():
                future.set_result(event)
        self._arm()

    def _arm(self) -> None:
        self._timer.arm(None if self._closed else self._client.poll_timeout())

    def _on_timer(self, now: float) -> None:
        self._client.handle_timeout(now)
        self._service()

    def _feed(self, data: bytes, addr: Address) -> None:
        self._client.handle_datagram(data, addr, now=self._loop.time())
        self._service()

    async def _request(
        self,
        message: Message,
        addr: Address,
        *,
        integrity_key: bytes | None,
        credentials: LongTermCredentials | None,
        fingerprint: bool,
        rto: float,
        rc: int,
        rm: int,
    ) -> tuple[Message, Address]:
        if self._closed:
            raise InvalidStateError("the STUN client is closed")
        tid = self._client.request(
            message,
            addr,
            now=self._loop.time(),
            integrity_key=integrity_key,
            credentials=credentials,
            fingerprint=fingerprint,
            rto=rto,
            rc=rc,
            rm=rm,
        )
        future: asyncio.Future[ClientEvent] = self._loop.create_future()
        self._futures[tid] = future
        self._service()
        try:
            event = await future
        except asyncio.CancelledError:
            self._futures.pop(tid, None)
            self._client.cancel(tid)
            self._arm()
            raise
        return _outcome(event)

    def _shutdown(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._client.abort(reason)
        self._service()  # resolves every waiting future with an ABORTED failure
        for future in self._futures.values():
            if not future.done():
                future.set_exception(StunConnectionError(reason))
        self._futures.clear()


class StunUdpClient(_Driver, asyncio.DatagramProtocol):
    """STUN over one UDP socket (RFC 8489 §6.2.1); any number of concurrent requests.

    Responses are matched by transaction ID wherever they come from (RFC 5780 servers answer
    from another address), and :meth:`request` returns that address.
    """

    def __init__(self, *, trace: Trace = NULL_TRACE) -> None:
        _Driver.__init__(self, reliable=False, trace=trace)
        self._transport: asyncio.DatagramTransport | None = None

    # asyncio.DatagramProtocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        self.local_address = _short(transport.get_extra_info("sockname"))

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._feed(data, _short(addr))

    def error_received(self, exc: Exception) -> None:
        # An ICMP error on an unconnected socket cannot be tied to one transaction; the
        # schedule of §6.2.1 decides.  It is traced so that it is not lost.
        self._trace("stun.udp.error", error=repr(exc))

    def connection_lost(self, exc: Exception | None) -> None:
        self._shutdown("socket closed")

    def _send(self, transmit: Transmit) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(transmit.data, transmit.addr)

    async def request(
        self,
        message: Message,
        addr: Address,
        *,
        integrity_key: bytes | None = None,
        credentials: LongTermCredentials | None = None,
        fingerprint: bool = True,
        rto: float = 0.5,
        rc: int = 7,
        rm: int = 16,
    ) -> tuple[Message, Address]:
        """Send ``message`` (a request) to ``addr``; return ``(response, source address)``.

        An error response is returned, not raised (after the RFC 8489 §9.2.5 retries when
        ``credentials`` are given).  Raises :class:`StunTimeoutError` when the transaction
        times out, :class:`~rtcstack.stun.IntegrityError` when every response failed the
        integrity check, :class:`StunResponseError` for an unusable response.
        """
        return await self._request(
            message,
            addr,
            integrity_key=integrity_key,
            credentials=credentials,
            fingerprint=fingerprint,
            rto=rto,
            rc=rc,
            rm=rm,
        )

    def close(self) -> None:
        """Close the socket; requests still waiting fail with :class:`StunConnectionError`."""
        self._shutdown("client closed")
        if self._transport is not None:
            self._transport.close()


class StunTcpClient(_Driver, asyncio.Protocol):
    """STUN over one TCP or TLS connection (RFC 8489 §6.2.2): no retransmissions, Ti timeout,
    several requests in flight; ChannelData frames on the stream are skipped."""

    def __init__(self, server: Address, *, trace: Trace = NULL_TRACE) -> None:
        _Driver.__init__(self, reliable=True, trace=trace)
        self.server = server
        self._transport: asyncio.Transport | None = None
        self._decoder = StreamDecoder()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self.local_address = _short(transport.get_extra_info("sockname"))

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._decoder.feed_raw(data)
        except ParseError as exc:
            self._trace("stun.tcp.unframed", reason=exc.reason)
            self.close(f"the server's stream lost its framing ({exc.reason})")
            return
        now = self._loop.time()
        for frame in frames:
            if frame[0] >> 6 == 0:  # STUN; ChannelData (01) is not for a STUN client
                self._client.handle_datagram(frame, self.server, now=now)
        self._service()

    def eof_received(self) -> bool | None:
        self._shutdown("the server closed the connection")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._shutdown(f"connection lost: {exc}" if exc else "connection closed")

    def _send(self, transmit: Transmit) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(transmit.data)

    async def request(
        self,
        message: Message,
        addr: Address | None = None,
        *,
        integrity_key: bytes | None = None,
        credentials: LongTermCredentials | None = None,
        fingerprint: bool = True,
        rto: float = 0.5,
        rc: int = 7,
        rm: int = 16,
    ) -> tuple[Message, Address]:
        """As :meth:`StunUdpClient.request`, on the connection (``addr`` defaults to the
        server; ``rto``/``rc``/``rm`` are accepted for symmetry and unused over a stream)."""
        return await self._request(
            message,
            addr or self.server,
            integrity_key=integrity_key,
            credentials=credentials,
            fingerprint=fingerprint,
            rto=rto,
            rc=rc,
            rm=rm,
        )

    def close(self, reason: str = "client closed") -> None:
        self._shutdown(reason)
        if self._transport is not None:
            self._transport.close()


async def open_udp_client(
    local_addr: Address = ("0.0.0.0", 0), *, trace: Trace = NULL_TRACE
) -> StunUdpClient:
    """A :class:`StunUdpClient` on a UDP socket bound to ``local_addr``."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in local_addr[0] else socket.AF_INET
    _, protocol = await loop.create_datagram_endpoint(
        lambda: StunUdpClient(trace=trace), local_addr=local_addr, family=family
    )
    return protocol


async def open_tcp_client(
    server: Address,
    *,
    ssl: _ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    trace: Trace = NULL_TRACE,
) -> StunTcpClient:
    """A :class:`StunTcpClient` connected to ``server`` (TLS when ``ssl`` is given;
    ``server_hostname`` is the name to verify, by default ``server``'s host)."""
    loop = asyncio.get_running_loop()
    kwargs: dict[str, Any] = {}
    if ssl is not None:
        kwargs = {"ssl": ssl, "server_hostname": server_hostname or server[0]}
    try:
        _, protocol = await loop.create_connection(
            lambda: StunTcpClient(server, trace=trace), server[0], server[1], **kwargs
        )
    except _ssl.SSLError as exc:
        raise StunConnectionError(f"TLS with {server[0]}:{server[1]} failed: {exc}") from exc
    except OSError as exc:
        raise StunConnectionError(
            f"cannot connect to {server[0]}:{server[1]}: {exc.strerror or exc}"
        ) from exc
    return protocol


# --- the one-line helper ----------------------------------------------------------------------


def parse_server(text: str, default_port: int = DEFAULT_PORT) -> Address:
    """Split ``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address."""
    return parse_address(text, default_port)


async def resolve(
    host: str, port: int, *, family: int = 0, transport: str = "udp"
) -> list[tuple[int, Address]]:
    """``loop.getaddrinfo`` as ``[(family, (ip, port)), ...]``; :class:`StunResolveError`."""
    loop = asyncio.get_running_loop()
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    try:
        infos = await loop.getaddrinfo(host, port, family=family, type=kind)
    except socket.gaierror as exc:
        raise StunResolveError(f"cannot resolve {host!r}: {exc.strerror or exc}") from exc
    out: list[tuple[int, Address]] = []
    for fam, _, _, _, sockaddr in infos:
        addr = _short(sockaddr)
        if (fam, addr) not in out:
            out.append((int(fam), addr))
    if not out:
        raise StunResolveError(f"cannot resolve {host!r}: no address of the requested family")
    return out


def raise_for_error(response: Message) -> Message:
    """Return ``response`` if it is a success; raise :class:`StunErrorResponse` for an error
    response (RFC 8489 §6.3.4), so that ``raise_for_error(await client.request(...)[0])``
    turns a final 401 or 438 into one clean exception."""
    if response.message_class is MessageClass.ERROR:
        attr = response.get(ErrorCode)
        code, reason = (attr.code, attr.reason) if attr else (0, "error response")
        raise StunErrorResponse(code, reason, response)
    return response


@dataclass(frozen=True, slots=True)
class BindingResult:
    """One Binding transaction, for programs that want more than the mapped address."""

    mapped: Address
    request: Message
    response: Message
    server: Address  # the address the request went to
    source: Address  # the address the response came from
    local: Address
    transport: str
    rtt: float


async def binding(
    server: str,
    *,
    transport: str = "udp",
    family: int = 0,
    ssl_context: _ssl.SSLContext | None = None,
    trace: Trace = NULL_TRACE,
) -> BindingResult:
    """One RFC 8489 Binding transaction with ``server`` ("host[:port]") over ``transport``
    ("udp", "tcp" or "tls"), with the default RFC 8489 §6.2 timers.

    Raises :class:`StunErrorResponse` for an error response, :class:`StunTimeoutError`,
    :class:`StunResolveError`, :class:`StunConnectionError`, :class:`StunResponseError`.
    """
    if transport not in ("udp", "tcp", "tls"):
        raise ValueError(f"transport must be udp, tcp or tls, not {transport!r}")
    host, port = parse_server(server, DEFAULT_TLS_PORT if transport == "tls" else DEFAULT_PORT)
    fam, addr = (await resolve(host, port, family=family, transport=transport))[0]
    loop = asyncio.get_running_loop()
    request = Message.new(Method.BINDING, MessageClass.REQUEST)
    client: StunUdpClient | StunTcpClient
    if transport == "udp":
        client = await open_udp_client(
            ("::", 0) if fam == socket.AF_INET6 else ("0.0.0.0", 0), trace=trace
        )
    else:
        context = ssl_context
        if transport == "tls" and context is None:
            context = _ssl.create_default_context()
        client = await open_tcp_client(addr, ssl=context, server_hostname=host, trace=trace)
    try:
        start = loop.time()
        response, source = await client.request(request, addr)
        rtt = loop.time() - start
        local = client.local_address
    finally:
        client.close()
    raise_for_error(response)
    mapped_attr = response.get(XorMappedAddress) or response.get(MappedAddress)
    if mapped_attr is None:
        # RFC 8489 §6.3.3: "the client checks that the XOR-MAPPED-ADDRESS attribute is present"
        raise StunResponseError("the Binding response has no XOR-MAPPED-ADDRESS")
    return BindingResult(
        mapped_attr.address, request, response, addr, source, local, transport, rtt
    )


async def get_mapped_address(
    server: str, *, transport: str = "udp", timeout: float | None = None, family: int = 0
) -> Address:
    """This host's address as ``server`` ("host[:port]", default port 3478, 5349 for TLS) sees
    it, by one Binding request over ``transport`` ("udp", "tcp" or "tls").

    ``timeout`` (seconds) bounds the whole call; without it the RFC 8489 §6.2 schedule applies
    (39.5 s).  ``family`` is ``socket.AF_INET`` / ``AF_INET6`` / 0 for either.
    """
    try:
        async with asyncio.timeout(timeout):
            result = await binding(server, transport=transport, family=family)
    except TimeoutError as exc:
        if isinstance(exc, StunTimeoutError):
            raise
        raise StunTimeoutError(f"no response from {server} within {timeout} s") from None
    return result.mapped
