"""An asyncio driver for one sans-IO :class:`~rtcstack.dtls.DtlsConnection` over a UDP socket.

::

    client = await connect_dtls(DtlsConfig(Certificate.generate()), ("127.0.0.1", 4433))
    done = await client.handshake()              # HandshakeComplete, or raises
    client.send(b"hello")
    reply = await client.receive()               # bytes; None once the peer closed cleanly
    material = client.connection.srtp_keying_material()   # RFC 5764 §4.2
    client.close()

    server = await accept_dtls(DtlsConfig(cert), ("127.0.0.1", 0))
    print(server.local_address)                  # the bound port
    await server.handshake()

One endpoint is one association with one peer (RFC 6347 over a plain UDP socket, no ICE):

- the client's socket is *connected* to ``remote``, so only that peer's datagrams reach it and
  an ICMP "port unreachable" ends the handshake at once (:class:`DtlsConnectionError`);
- the server's socket is bound to ``local`` and learns its peer from the first datagram that
  carries a DTLS handshake record (first byte 22, RFC 6347 §4.1 ContentType handshake); from
  then on datagrams from any other address are ignored (counted in :attr:`DtlsEndpoint.ignored`)
  and everything is sent to that peer.  Datagrams that are not a handshake record before the
  peer is known are ignored too, so stray traffic cannot capture the server.

The driver feeds every datagram into the connection with ``loop.time()`` as ``now``, sends what
``poll_transmit()`` returns, and keeps exactly one ``loop.call_at`` timer armed at
``poll_timeout()`` (re-armed after every input): the RFC 6347 §4.2.4 retransmission schedule
runs as the connection computes it, with no polling.

Errors: :meth:`DtlsEndpoint.handshake` and :meth:`DtlsEndpoint.receive` raise the
:class:`~rtcstack.dtls.DtlsAlert` the connection ended with (sent or received; its message says
which), :class:`DtlsTimeoutError` when the caller's timeout runs out, and
:class:`DtlsConnectionError` when the socket fails or the endpoint was closed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from rtcstack.asyncio.timer import DeadlineTimer
from rtcstack.asyncio.udp import BatchedDatagramTransport, create_batched_endpoint
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.common.types import Address, format_address
from rtcstack.dtls.connection import (
    ApplicationData,
    Closed,
    DtlsConfig,
    DtlsConnection,
    DtlsState,
    HandshakeComplete,
)
from rtcstack.dtls.constants import ContentType
from rtcstack.dtls.errors import DtlsError

__all__ = [
    "DtlsConnectionError",
    "DtlsEndpoint",
    "DtlsTimeoutError",
    "accept_dtls",
    "connect_dtls",
]


class DtlsTimeoutError(DtlsError, TimeoutError):
    """The handshake did not complete within the caller's timeout."""


class DtlsConnectionError(DtlsError, ConnectionError):
    """The socket failed (ICMP port unreachable, closed) or the endpoint was closed locally."""


def _short(addr: Any) -> Address:
    """asyncio gives IPv6 addresses as 4-tuples; rtcstack uses (host, port)."""
    return (str(addr[0]), int(addr[1]))


class DtlsEndpoint(asyncio.DatagramProtocol):
    """One :class:`DtlsConnection` on one UDP socket; see the module docstring.

    Build it with :func:`connect_dtls` (client) or :func:`accept_dtls` (server).
    """

    def __init__(self, connection: DtlsConnection, remote: Address | None, *,
                 on_handshake: Callable[[HandshakeComplete], None] | None = None,
                 trace: Trace = NULL_TRACE) -> None:
        self._loop = asyncio.get_running_loop()
        #: When set, application data goes to this callback as it is decrypted instead of to
        #: :meth:`receive` (how :mod:`rtcstack.asyncio.sctp` runs SCTP on top, with no task
        #: and no queue per record).
        self.on_application_data: Callable[[bytes], None] | None = None
        #: Called after a burst of datagrams was handled (with a batched transport, see
        #: :mod:`rtcstack.asyncio.udp`): the place to answer them all at once.
        self.on_batch_end: Callable[[], None] | None = None
        #: Called once when the connection ends, with its error (None: close_notify).
        self.on_closed: Callable[[DtlsError | None], None] | None = None
        self._batched = False
        self.connection = connection
        #: The peer: given to the client, learnt by the server from its first handshake record.
        self.remote_address: Address | None = remote
        self.local_address: Address = ("", 0)
        #: Datagrams ignored because they came from another address than the peer's.
        self.ignored = 0
        #: RFC 5764 §4.2 EXTRACTOR-dtls_srtp material of the negotiated profile, taken when the
        #: handshake completes (the connection refuses exports once it is closed, and the
        #: peer may close right away), or None (no profile, or not yet).
        self.srtp_keying_material: bytes | None = None
        self._on_handshake = on_handshake
        self._connected_socket = remote is not None
        self._trace = trace
        self._transport: asyncio.DatagramTransport | None = None
        self._timer = DeadlineTimer(self._loop, self._on_timer)
        self._handshake: asyncio.Future[HandshakeComplete] = self._loop.create_future()
        self._received: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False  # the connection ended (Closed event or local close)
        self._error: DtlsError | None = None  # why it ended, None for close_notify
        self._failure: DtlsError | None = None  # a socket error that overrides Closed(None)

    # --- asyncio.DatagramProtocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        self._batched = isinstance(transport, BatchedDatagramTransport)
        self.local_address = _short(transport.get_extra_info("sockname"))

    def datagram_received(self, data: bytes, addr: Any) -> None:
        remote = self.remote_address
        # The hot path: a connected socket (the kernel filters by peer), or the known peer.
        if self._connected_socket or (remote is not None and addr[1] == remote[1]
                                      and addr[0] == remote[0]):
            self.connection.handle_datagram(data, now=self._loop.time())
            # A batched transport calls batch_received() after the burst: re-arm the timer
            # once there rather than after every datagram.
            self._service(arm=not self._batched)
            return
        source = _short(addr)
        if self.remote_address is None:
            if not data or data[0] != ContentType.HANDSHAKE:
                self.ignored += 1
                self._trace("dtls.udp.ignored", addr=source, reason="not a handshake record")
                return
            self.remote_address = source
            self._trace("dtls.udp.peer", addr=source)
        elif source != self.remote_address:
            self.ignored += 1
            self._trace("dtls.udp.ignored", addr=source, reason="not the peer")
            return
        self.connection.handle_datagram(data, now=self._loop.time())
        self._service()

    def batch_received(self) -> None:
        """The transport handed over every datagram that was waiting."""
        if self.on_batch_end is not None:
            self.on_batch_end()
        self._arm()

    @property
    def batched(self) -> bool:
        """Whether the transport reports the end of each burst (:meth:`batch_received`)."""
        return self._batched

    def error_received(self, exc: Exception) -> None:
        self._trace("dtls.udp.error", error=repr(exc))
        if not self._connected_socket or self._closed:
            # An unconnected socket's error cannot be tied to the peer; the timer decides.
            return
        if not isinstance(exc, ConnectionRefusedError):
            # Only ICMP "port unreachable" says the peer is gone.  A local refusal (EPERM
            # from a firewall rule, ENOBUFS) loses one datagram, which retransmission covers.
            return
        where = format_address(self.remote_address) if self.remote_address else "the peer"
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        self._abort(DtlsConnectionError(f"{where}: {reason}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self._closed:
            self._abort(DtlsConnectionError(f"socket closed: {exc}" if exc else "socket closed"))

    # --- public API -------------------------------------------------------------------------

    async def handshake(self, timeout: float | None = None) -> HandshakeComplete:
        """Wait for the handshake: its :class:`HandshakeComplete`, or raise the
        :class:`DtlsAlert` it failed with, :class:`DtlsTimeoutError` after ``timeout`` seconds
        (the endpoint is then closed), :class:`DtlsConnectionError`."""
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(self._handshake)
        except TimeoutError as exc:
            if isinstance(exc, DtlsError):
                raise
            self._abort(DtlsTimeoutError(f"no DTLS handshake within {timeout:g} s"))
            raise DtlsTimeoutError(f"no DTLS handshake within {timeout:g} s") from None

    def send(self, data: bytes) -> None:
        """Send application data (after the handshake; InvalidStateError before or after
        close)."""
        self.connection.send(data)
        self._service()

    def send_many(self, records: list[bytes]) -> None:
        """Send several application data records, then service the connection once."""
        send = self.connection.send
        for data in records:
            send(data)
        self._service()

    async def receive(self) -> bytes | None:
        """The next application data, in order; ``None`` once the connection closed cleanly
        (close_notify, either side); raises the error it ended with otherwise."""
        while not self._received:
            if self._closed:
                if self._error is not None:
                    raise self._error
                return None
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._received.popleft()

    @property
    def closed(self) -> bool:
        """Whether the connection has ended (close_notify, an alert, or :meth:`close`)."""
        return self._closed

    @property
    def error(self) -> DtlsError | None:
        """Why the connection ended, or None (still open, or closed cleanly)."""
        return self._error

    def close(self) -> None:
        """Send close_notify (RFC 5246 §7.2.1) if the connection is still up, then close the
        socket (after the queued datagrams are written)."""
        if not self._closed:
            self._failure = self._failure or DtlsConnectionError("closed locally")
            self.connection.close()
            self._service()
        self._timer.cancel()
        if self._transport is not None:
            self._transport.close()

    # --- the drive loop ---------------------------------------------------------------------

    def _service(self, *, arm: bool = True) -> None:
        conn = self.connection
        while (datagram := conn.poll_transmit()) is not None:
            self._send(datagram)
        while (event := conn.poll_event()) is not None:
            if isinstance(event, ApplicationData):
                if self.on_application_data is not None:
                    self.on_application_data(event.data)
                else:
                    self._received.append(event.data)
            elif isinstance(event, HandshakeComplete):
                self._handshake_complete(event)
            elif isinstance(event, Closed):
                self._on_closed(event)
        if self._waiter is not None and not self._waiter.done() and (
                self._received or self._closed):
            self._waiter.set_result(None)
        if arm:
            self._arm()

    def _handshake_complete(self, event: HandshakeComplete) -> None:
        # Runs as the event is polled, before any later datagram (a close_notify) is handled.
        if event.srtp_profile is not None and self.connection.state is DtlsState.CONNECTED:
            self.srtp_keying_material = self.connection.srtp_keying_material()
        if self._on_handshake is not None:
            self._on_handshake(event)
        if not self._handshake.done():
            self._handshake.set_result(event)

    def _on_closed(self, event: Closed) -> None:
        self._closed = True
        error: DtlsError | None = event.error
        if error is None and self._failure is not None:
            error = self._failure
        self._error = error
        if not self._handshake.done():
            self._handshake.set_exception(
                error or DtlsConnectionError("the peer closed the connection during the handshake"))
            self._handshake.exception()  # retrieved: nobody may be waiting for it
        self._trace("dtls.udp.closed", error=str(error) if error else None)
        if self.on_closed is not None:
            self.on_closed(error)

    def _abort(self, error: DtlsError) -> None:
        """End the connection because of the socket or a timeout (no alert to send that could
        arrive: close_notify is still sent, as a courtesy, when the socket is up)."""
        if self._closed:
            return
        self._failure = error
        self.connection.close()
        self._service()
        if not self._closed:  # pragma: no cover - close() always reports Closed
            self._on_closed(Closed(None))

    def _send(self, datagram: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing() or self.remote_address is None:
            return
        if self._connected_socket:
            transport.sendto(datagram)
        else:
            transport.sendto(datagram, self.remote_address)

    def _arm(self) -> None:
        self._timer.arm(None if self._closed else self.connection.poll_timeout())

    def _on_timer(self, now: float) -> None:
        self.connection.handle_timeout(now=now)
        self._service()


async def connect_dtls(config: DtlsConfig, remote: Address, *, local: Address | None = None,
                       on_handshake: Callable[[HandshakeComplete], None] | None = None,
                       batched: bool = True, trace: Trace = NULL_TRACE) -> DtlsEndpoint:
    """A DTLS client on a UDP socket connected to ``remote`` (bound to ``local`` if given) that
    has sent its first ClientHello; ``await endpoint.handshake()`` for the result.
    ``on_handshake`` is called with the HandshakeComplete as soon as it happens, while the
    connection is certainly still up (the place to call ``export_keying_material``).
    ``batched`` (the default) reads every waiting datagram per wake-up
    (:mod:`rtcstack.asyncio.udp`), which SCTP on top turns into one acknowledgement per burst;
    ``batched=False`` uses asyncio's own datagram transport.
    ``OSError`` if the socket cannot be made (unresolvable host, address in use)."""
    loop = asyncio.get_running_loop()
    connection = DtlsConnection(config, "client", trace=trace)
    endpoint: DtlsEndpoint
    if batched:
        _, protocol = await create_batched_endpoint(
            lambda: DtlsEndpoint(connection, remote, on_handshake=on_handshake, trace=trace),
            remote_addr=remote, local_addr=local)
        endpoint = cast(DtlsEndpoint, protocol)
    else:
        _, endpoint = await loop.create_datagram_endpoint(
            lambda: DtlsEndpoint(connection, remote, on_handshake=on_handshake, trace=trace),
            remote_addr=remote,
            local_addr=local)
    endpoint.remote_address = _short(cast(asyncio.DatagramTransport,
                                          endpoint._transport).get_extra_info("peername"))
    connection.connect(now=loop.time())
    endpoint._service()
    return endpoint


async def accept_dtls(config: DtlsConfig, local: Address, *,
                      on_handshake: Callable[[HandshakeComplete], None] | None = None,
                      batched: bool = True, trace: Trace = NULL_TRACE) -> DtlsEndpoint:
    """A DTLS server on a UDP socket bound to ``local`` (port 0: any free port, see
    ``endpoint.local_address``), waiting for one client; ``await endpoint.handshake()``;
    ``on_handshake`` and ``batched`` as for :func:`connect_dtls`.
    ``OSError`` if the address cannot be bound."""
    loop = asyncio.get_running_loop()
    connection = DtlsConnection(config, "server", trace=trace)
    endpoint: DtlsEndpoint
    if batched:
        _, protocol = await create_batched_endpoint(
            lambda: DtlsEndpoint(connection, None, on_handshake=on_handshake, trace=trace),
            local_addr=local)
        endpoint = cast(DtlsEndpoint, protocol)
    else:
        _, endpoint = await loop.create_datagram_endpoint(
            lambda: DtlsEndpoint(connection, None, on_handshake=on_handshake, trace=trace),
            local_addr=local)
    return endpoint
