"""An asyncio driver for one sans-IO :class:`~rtcstack.ice.turn.TurnClient` (RFC 8656) over UDP,
TCP or TLS to the TURN server.

::

    server = parse_turn_uri("turn:turn.example.org?transport=tcp", "user", "secret")
    conn = await TurnConnection.open(server)
    allocated = await conn.allocate(timeout=5)       # Allocated, or raises TurnAllocationError
    print(allocated.relayed, allocated.mapped)
    conn.send(b"hello", ("192.0.2.7", 4000))          # permission / channel installed on demand
    payload, peer = await conn.recv()                  # what peers send to the relayed address
    await conn.close()                                 # Refresh LIFETIME=0 (RFC 8656 §8.1)

Transports (RFC 8656 §3.1): ``"udp"`` opens a UDP socket *connected* to the server (so an ICMP
"port unreachable" fails the connection at once) unless a socket is given (``sock=``, e.g. one
an ICE agent gathers host candidates on; datagrams from other addresses are then ignored and
counted in :attr:`TurnConnection.ignored`); ``"tcp"`` and ``"tls"`` open one stream connection
and cut it into STUN messages and ChannelData frames with
:class:`~rtcstack.stun.framing.StreamDecoder` (RFC 8656 §12.5 -- the client pads ChannelData to
4 bytes over a stream itself).  TLS verifies the server's certificate and name with the default
context unless ``ssl=`` gives another context or ``verify=False`` (self-signed test servers).

The driver feeds every datagram or frame into the client with ``loop.time()`` as ``now``, sends
what ``poll_transmit()`` returns, and keeps exactly one ``loop.call_at`` timer armed at
``poll_timeout()``: retransmissions, Refresh before expiry, permission and channel refreshes all
run as the client schedules them, with no polling.

Application data from peers (Data indications and ChannelData) goes to the ``on_data`` callback
when one is given, else into a bounded queue read with :meth:`TurnConnection.recv` (when it is
full the oldest datagram is dropped and counted in :attr:`TurnConnection.dropped`).  Every event
also goes to ``on_event``; :class:`~rtcstack.ice.turn.PermissionFailed` events are kept in
:attr:`TurnConnection.permission_failures`.

Errors: :class:`TurnAllocationError` (the server refused the allocation, or it timed out: its
``code`` is the STUN error code or ``None``), :class:`TurnTimeoutError` (the caller's timeout),
:class:`TurnConnectionError` (resolution, connect, TLS, a closed or failed transport),
:class:`TurnClosedError` (:meth:`TurnConnection.recv` after the allocation ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import ssl as _ssl
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, cast

from rtcstack.asyncio.timer import DeadlineTimer
from rtcstack.common.errors import ParseError, RtcstackError
from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.common.types import Address, Transmit, format_address
from rtcstack.ice.turn import (
    Allocated,
    AllocationFailed,
    PermissionFailed,
    TurnClient,
    TurnClosed,
    TurnEvent,
    TurnServer,
    TurnState,
)
from rtcstack.stun.framing import StreamDecoder

__all__ = [
    "TurnAllocationError",
    "TurnClosedError",
    "TurnConnection",
    "TurnConnectionError",
    "TurnError",
    "TurnTimeoutError",
    "resolve_server",
]

#: How many received datagrams :meth:`TurnConnection.recv` keeps before dropping the oldest.
DEFAULT_QUEUE_SIZE = 1024


class TurnError(RtcstackError):
    """Base class of the errors of this module."""


class TurnAllocationError(TurnError):
    """The allocation failed (RFC 8656 §7.4): an error response (``code``, e.g. 401 for wrong
    credentials, 486 allocation quota reached) or no response (``code`` is ``None``)."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        self.reason = reason
        self.code = code
        text = reason if code is None or reason.startswith(str(code)) else f"{code} {reason}"
        super().__init__(f"allocation failed: {text}".rstrip())


class TurnTimeoutError(TurnError, TimeoutError):
    """The caller's timeout ran out."""


class TurnConnectionError(TurnError, ConnectionError):
    """The server could not be resolved or reached, TLS failed, or the transport closed."""


class TurnClosedError(TurnError):
    """The allocation has ended (closed locally, deallocated, expired or failed)."""


def _short(addr: Any) -> Address:
    """asyncio gives IPv6 addresses as 4-tuples; rtcstack uses (host, port)."""
    return (str(addr[0]), int(addr[1]))


async def resolve_server(server: TurnServer) -> TurnServer:
    """``server`` with its host resolved to an IP address (the first getaddrinfo answer),
    so that transmits and received datagrams compare by address; raises
    :class:`TurnConnectionError` when the name does not resolve."""
    loop = asyncio.get_running_loop()
    kind = socket.SOCK_DGRAM if server.transport == "udp" else socket.SOCK_STREAM
    try:
        infos = await loop.getaddrinfo(server.host, server.port, type=kind)
    except socket.gaierror as exc:
        raise TurnConnectionError(
            f"cannot resolve {server.host!r}: {exc.strerror or exc}"
        ) from exc
    if not infos:
        raise TurnConnectionError(f"cannot resolve {server.host!r}")
    ip = str(infos[0][4][0])
    return server if ip == server.host else dataclasses.replace(server, host=ip)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, owner: TurnConnection) -> None:
        self.owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.owner._attach(transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner._on_datagram(data, _short(addr))

    def error_received(self, exc: Exception) -> None:
        self.owner._on_socket_error(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._on_transport_lost(exc)


class _Stream(asyncio.Protocol):
    def __init__(self, owner: TurnConnection) -> None:
        self.owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.owner._attach(transport)

    def data_received(self, data: bytes) -> None:
        self.owner._on_stream_data(data)

    def eof_received(self) -> bool | None:
        self.owner._on_transport_lost(None, "the server closed the connection")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._on_transport_lost(exc)


class TurnConnection:
    """One TURN allocation driven on the event loop; build it with :meth:`open`."""

    def __init__(
        self,
        client: TurnClient,
        *,
        on_data: Callable[[bytes, Address], None] | None = None,
        on_event: Callable[[TurnEvent], None] | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        trace: Trace = NULL_TRACE,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.client = client
        self.server: TurnServer = client.server
        self.on_data = on_data
        self.on_event = on_event
        self.local_address: Address = ("", 0)
        #: Datagrams on a shared UDP socket that did not come from the server.
        self.ignored = 0
        #: Received datagrams dropped because :meth:`recv` did not keep up.
        self.dropped = 0
        self.permission_failures: list[PermissionFailed] = []
        self._trace = trace
        self._transport: asyncio.BaseTransport | None = None
        self._stream = False
        self._connected_socket = False
        self._decoder = StreamDecoder()
        self._timer = DeadlineTimer(self._loop, self._on_timer)
        self._allocated: asyncio.Future[Allocated] = self._loop.create_future()
        self._closed_future: asyncio.Future[TurnClosed] = self._loop.create_future()
        self._queue: deque[tuple[bytes, Address]] = deque(maxlen=max(1, queue_size))
        self._waiter: asyncio.Future[None] | None = None
        self._ended: TurnError | None = None  # why the connection can no longer be used
        self._lost: asyncio.Future[None] = self._loop.create_future()  # the socket is closed

    # --- construction -------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        server: TurnServer,
        *,
        sock: socket.socket | None = None,
        local_addr: Address | None = None,
        ssl: _ssl.SSLContext | None = None,
        verify: bool = True,
        lifetime: int = 600,
        channels: bool = True,
        software: str | None = None,
        on_data: Callable[[bytes, Address], None] | None = None,
        on_event: Callable[[TurnEvent], None] | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        connect_timeout: float | None = 10.0,
        random_bytes: RandomBytes = default_random_bytes,
        trace: Trace = NULL_TRACE,
    ) -> TurnConnection:
        """Resolve ``server`` and open its transport; nothing is sent until :meth:`allocate`.

        ``sock`` (UDP only) is a bound UDP socket to use instead of a new one (the connection
        owns it from then on: :meth:`close` closes it); ``local_addr``
        binds the new socket or connection.  ``ssl``/``verify`` apply to ``"tls"``:
        ``verify=False`` accepts any certificate (a self-signed test server).  ``lifetime``,
        ``channels`` and ``software`` go to the :class:`TurnClient`.
        """
        if server.transport not in ("udp", "tcp", "tls"):
            raise ValueError(f"transport must be udp, tcp or tls, not {server.transport!r}")
        if sock is not None and server.transport != "udp":
            raise ValueError("sock= is a UDP socket; it cannot carry TURN over TCP or TLS")
        loop = asyncio.get_running_loop()
        name = server.host
        resolved = await resolve_server(server)
        client = TurnClient(
            resolved,
            source=_short(sock.getsockname()) if sock is not None else None,
            lifetime=lifetime,
            channels=channels,
            software=software,
            random_bytes=random_bytes,
            trace=trace,
        )
        self = cls(client, on_data=on_data, on_event=on_event, queue_size=queue_size, trace=trace)
        self._stream = resolved.transport != "udp"
        self._connected_socket = sock is None and not self._stream
        try:
            async with asyncio.timeout(connect_timeout):
                if resolved.transport == "udp":
                    if sock is not None:
                        await loop.create_datagram_endpoint(
                            lambda: _Datagrams(self), sock=sock
                        )
                    else:
                        await loop.create_datagram_endpoint(
                            lambda: _Datagrams(self),
                            local_addr=local_addr,
                            remote_addr=resolved.addr,
                        )
                else:
                    context: _ssl.SSLContext | None = None
                    if resolved.transport == "tls":
                        context = ssl or _client_context(verify)
                    kwargs: dict[str, Any] = {}
                    if context is not None:
                        kwargs = {"ssl": context, "server_hostname": name}
                    await loop.create_connection(
                        lambda: _Stream(self),
                        resolved.host,
                        resolved.port,
                        local_addr=local_addr,
                        **kwargs,
                    )
        except TimeoutError:
            raise TurnConnectionError(
                f"cannot connect to {format_address(resolved.addr)} over "
                f"{resolved.transport} within {connect_timeout:g} s"
            ) from None
        except _ssl.SSLCertVerificationError as exc:
            raise TurnConnectionError(
                f"TLS with {format_address(resolved.addr)} failed: the server's certificate "
                f"does not verify ({exc.verify_message or exc.reason})"
            ) from exc
        except _ssl.SSLError as exc:
            raise TurnConnectionError(
                f"TLS with {format_address(resolved.addr)} failed: {exc.reason or exc}"
            ) from exc
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise TurnConnectionError(
                f"cannot connect to {format_address(resolved.addr)} over "
                f"{resolved.transport}: {why}"
            ) from exc
        return self

    def _attach(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        name = transport.get_extra_info("sockname")
        if name:
            self.local_address = _short(name)

    # --- the drive loop -----------------------------------------------------------------------

    def _service(self) -> None:
        client = self.client
        while (tx := client.poll_transmit()) is not None:
            self._send(tx)
        while (event := client.poll_event()) is not None:
            self._handle_event(event)
        self._arm()

    def _send(self, tx: Transmit) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._stream:
            cast(asyncio.Transport, transport).write(tx.data)
        elif self._connected_socket:
            cast(asyncio.DatagramTransport, transport).sendto(tx.data)
        else:
            cast(asyncio.DatagramTransport, transport).sendto(tx.data, tx.addr)

    def _handle_event(self, event: TurnEvent) -> None:
        self._trace("turn.asyncio.event", event=type(event).__name__)
        if isinstance(event, Allocated):
            if not self._allocated.done():
                self._allocated.set_result(event)
        elif isinstance(event, AllocationFailed):
            self._end(TurnAllocationError(event.reason, event.code))
        elif isinstance(event, PermissionFailed):
            self.permission_failures.append(event)
        elif isinstance(event, TurnClosed):
            if not self._closed_future.done():
                self._closed_future.set_result(event)
            self._end(TurnClosedError(f"the allocation ended: {event.reason}"))
        if self.on_event is not None:
            self.on_event(event)

    def _end(self, error: TurnError) -> None:
        """The allocation can no longer carry data: wake every waiter with ``error``."""
        if self._ended is None:
            self._ended = error
        if not self._allocated.done():
            self._allocated.set_exception(error)
            self._allocated.exception()  # retrieved: no "never retrieved" warning
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _arm(self) -> None:
        self._timer.arm(None if self._transport is None else self.client.poll_timeout())

    def _on_timer(self, now: float) -> None:
        self.client.handle_timeout(now)
        self._service()

    def _deliver(self, result: tuple[bytes, Address] | None) -> None:
        if result is None:
            return
        if self.on_data is not None:
            self.on_data(*result)
            return
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(result)
        self._wake()

    def _on_datagram(self, data: bytes, addr: Address) -> None:
        if not self._connected_socket and addr != self.client.server.addr:
            self.ignored += 1
            self._trace("turn.asyncio.ignored", addr=addr)
            return
        self._deliver(self.client.handle_datagram(data, now=self._loop.time()))
        self._service()

    def _on_stream_data(self, data: bytes) -> None:
        try:
            frames = self._decoder.feed_raw(data)
        except ParseError as exc:
            self._trace("turn.asyncio.unframed", reason=exc.reason)
            self._fail(f"the server's stream lost its framing ({exc.reason})")
            return
        now = self._loop.time()
        for frame in frames:
            self._deliver(self.client.handle_datagram(frame, now=now))
        self._service()

    def _on_socket_error(self, exc: Exception) -> None:
        self._trace("turn.asyncio.socket_error", error=repr(exc))
        if self._connected_socket:  # an unconnected socket's error is not the server's
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._fail(f"{format_address(self.client.server.addr)} over udp: {reason}")

    def _on_transport_lost(self, exc: Exception | None, reason: str | None = None) -> None:
        if reason is None and not self._lost.done():  # connection_lost: the socket is closed
            self._lost.set_result(None)
        if self._transport is None:
            return
        if reason is None:
            reason = f"connection lost: {exc}" if exc else "connection closed"
        self._fail(reason)

    def _fail(self, reason: str) -> None:
        """The transport failed: nothing more can be sent or received."""
        self._end(TurnConnectionError(reason))
        if not self._closed_future.done():
            self._closed_future.set_result(TurnClosed(reason))
        self._shutdown()

    def _shutdown(self) -> None:
        transport, self._transport = self._transport, None
        self._timer.cancel()
        if transport is not None:
            transport.close()

    # --- public API ---------------------------------------------------------------------------

    @property
    def state(self) -> TurnState:
        return self.client.state

    @property
    def relayed_address(self) -> Address | None:
        return self.client.relayed_address

    @property
    def mapped_address(self) -> Address | None:
        return self.client.mapped_address

    @property
    def closed(self) -> bool:
        """Whether the transport is closed (after :meth:`close` or a failure)."""
        return self._transport is None

    async def allocate(self, timeout: float | None = None) -> Allocated:
        """Send the Allocate request (RFC 8656 §7.1; the 401 round trip of RFC 8489 §9.2 is
        the client's) and wait for the allocation.  Raises :class:`TurnAllocationError`,
        :class:`TurnTimeoutError` after ``timeout`` seconds, :class:`TurnConnectionError`."""
        if self._ended is not None:
            raise self._ended
        if self.client.state is TurnState.NEW:
            self.client.allocate(now=self._loop.time())
            self._service()
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(self._allocated)
        except TimeoutError as exc:
            if isinstance(exc, TurnError):
                raise
            raise TurnTimeoutError(
                f"no allocation from {format_address(self.client.server.addr)} "
                f"within {timeout:g} s"
            ) from None

    def create_permission(self, peer_ips: Iterable[str]) -> None:
        """Install permissions for ``peer_ips`` now (RFC 8656 §9); :meth:`send` installs them
        on demand too.  A refusal surfaces as a :class:`PermissionFailed` event."""
        self._check_usable()
        self.client.create_permission(peer_ips, now=self._loop.time())
        self._service()

    def send(self, data: bytes, peer: Address) -> None:
        """Relay ``data`` to ``peer`` (RFC 8656 §11/§12): ChannelData on a bound channel, else
        a Send indication; the first datagrams to a new peer wait (bounded) for its
        permission or channel."""
        self._check_usable()
        self.client.send(data, peer, now=self._loop.time())
        self._service()

    def _check_usable(self) -> None:
        if self._ended is not None:
            raise self._ended
        if self._transport is None:
            raise TurnConnectionError("the connection is closed")

    async def recv(self) -> tuple[bytes, Address]:
        """The next ``(payload, peer)`` relayed to us (without an ``on_data`` callback).
        Raises :class:`TurnClosedError` (or the failure) once the allocation has ended and the
        queue is empty."""
        while not self._queue:
            if self._ended is not None:
                raise self._ended
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    async def close(self, timeout: float | None = 5.0) -> TurnClosed:
        """Deallocate (RFC 8656 §8.1: a Refresh with LIFETIME 0) and close the transport.

        Waits at most ``timeout`` seconds for the server's answer; the transport is closed
        either way, and its socket is closed when this returns (the port can be bound again).
        Returns the client's :class:`TurnClosed` event ("deallocated" when the server
        confirmed), or a synthetic one when the wait timed out or the allocation had already
        ended."""
        live = (TurnState.NEW, TurnState.ALLOCATING, TurnState.ALLOCATED)
        if self._transport is not None and self.client.state in live:
            self.client.close(now=self._loop.time())
            self._service()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._closed_future)
        if not self._closed_future.done():
            if self.client.state is TurnState.CLOSING:
                why = f"no answer to the deallocation within {timeout:g} s"
            else:
                why = f"closed locally ({self.client.state.value})"
            self._closed_future.set_result(TurnClosed(why))
        self._end(TurnClosedError("the connection is closed"))
        self._shutdown()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._lost)
        return self._closed_future.result()

    async def __aenter__(self) -> TurnConnection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _client_context(verify: bool) -> _ssl.SSLContext:
    context = _ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = _ssl.CERT_NONE
    return context
