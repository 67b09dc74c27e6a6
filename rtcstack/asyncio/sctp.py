"""Data channels over DTLS on a UDP socket: the asyncio driver of :mod:`rtcstack.sctp`.

::

    dtls = await connect_dtls(DtlsConfig(cert, [("sha-256", peer_fingerprint)]), remote)
    await dtls.handshake()
    sctp = SctpTransport(dtls)                        # the DTLS role picks even/odd stream ids
    await sctp.start()                                # the association is up
    chat = sctp.create_channel("chat")
    await chat.wait_open()
    chat.send("hello")                                # str -> string message, bytes -> binary
    reply = await chat.recv()
    await sctp.close()                                # graceful SCTP shutdown, then DTLS close

    peer_channel = await sctp.accept_channel()        # the peer's in-band channels

Each :class:`Channel` either queues its messages for :meth:`Channel.recv` or, with
``channel.on_message = callback``, hands each to the callback as it is reassembled (no queue,
no task per message).  Back-pressure follows the W3C model: :attr:`Channel.buffered_amount`
and ``await channel.drain(low)``, which waits until it is at most ``low`` bytes.

The driver feeds each DTLS application record to :class:`~rtcstack.sctp.DataChannels` with
``loop.time()`` as ``now``, sends the SCTP packets it produces as DTLS records in one batch,
and keeps one :class:`~rtcstack.asyncio.timer.DeadlineTimer` at the association's deadline.
It enlarges the socket's receive buffer (a congestion window of SCTP packets arrives as one
burst on loopback; the kernel default of ~200 KiB would drop most of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

from rtcstack.asyncio.dtls import DtlsEndpoint
from rtcstack.asyncio.timer import DeadlineTimer
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.sctp.association import Association, Connected, SctpConfig
from rtcstack.sctp.datachannel import (
    ChannelBufferedAmountLow,
    ChannelClosed,
    ChannelMessage,
    ChannelOpened,
    DataChannel,
    DataChannels,
    DataChannelState,
    TransportClosed,
    TransportConnected,
)

__all__ = ["Channel", "SctpTransport", "SctpTransportError"]

SOCKET_BUFFER = 4 * 1024 * 1024


class SctpTransportError(ConnectionError):
    """The association failed (aborted, timed out) or was closed."""


def enlarge_socket_buffers(sock: Any, size: int = SOCKET_BUFFER) -> None:
    """Ask for ``size``-byte send and receive buffers on ``sock`` (a socket, or asyncio's
    wrapper of one); as root they may exceed net.core.rmem_max / wmem_max."""
    for option, force in ((socket.SO_RCVBUF, getattr(socket, "SO_RCVBUFFORCE", None)),
                          (socket.SO_SNDBUF, getattr(socket, "SO_SNDBUFFORCE", None))):
        try:
            if force is not None:
                sock.setsockopt(socket.SOL_SOCKET, force, size)
                continue
        except OSError:
            pass  # not root: the unforced option, capped at net.core.*mem_max
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, size)


class _Signal:
    """Wakes every coroutine waiting for a change, however many there are."""

    __slots__ = ("_loop", "_waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiters: set[asyncio.Future[None]] = set()

    async def wait(self) -> None:
        waiter = self._loop.create_future()
        self._waiters.add(waiter)
        try:
            await waiter
        finally:
            self._waiters.discard(waiter)

    def fire(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)


class Channel:
    """An asyncio face of one :class:`~rtcstack.sctp.DataChannel`."""

    def __init__(self, transport: SctpTransport, channel: DataChannel) -> None:
        self._transport = transport
        self.channel = channel
        self._on_message: Callable[[bytes | str], None] | None = None
        self._messages: deque[bytes | str] = deque()
        self._incoming = _Signal(transport._loop)  # a message arrived, or the channel closed
        self._drained = _Signal(transport._loop)  # the buffered amount fell, or it closed
        self._opened = transport._loop.create_future()
        self._closed_future: asyncio.Future[None] = transport._loop.create_future()

    def __repr__(self) -> str:
        return f"Channel({self.channel!r})"

    @property
    def on_message(self) -> Callable[[bytes | str], None] | None:
        """When set, every message is passed here as it arrives instead of being queued for
        :meth:`recv`; messages already queued (they may arrive with the channel's opening)
        are passed on at once, in order."""
        return self._on_message

    @on_message.setter
    def on_message(self, callback: Callable[[bytes | str], None] | None) -> None:
        self._on_message = callback
        while callback is not None and self._messages:
            callback(self._messages.popleft())

    @property
    def id(self) -> int:
        return self.channel.id

    @property
    def label(self) -> str:
        return self.channel.label

    @property
    def ready_state(self) -> DataChannelState:
        return self.channel.ready_state

    @property
    def buffered_amount(self) -> int:
        return self.channel.buffered_amount

    async def wait_open(self) -> None:
        await asyncio.shield(self._opened)

    def send(self, data: bytes | bytearray | memoryview | str) -> None:
        """Queue one message (W3C send: returns at once; see :meth:`drain`)."""
        self.channel.send(data, now=self._transport._loop.time())
        self._transport._flush()

    async def drain(self, low: int = 0) -> None:
        """Wait until :attr:`buffered_amount` is at most ``low`` bytes."""
        while self.channel.buffered_amount > low:
            if self.channel.ready_state == DataChannelState.CLOSED:
                raise SctpTransportError(f"{self!r} closed with data queued")
            self.channel.buffered_amount_low_threshold = low
            await self._drained.wait()

    async def recv(self) -> bytes | str:
        """The next message; :class:`SctpTransportError` once the channel is closed.  Any
        number of coroutines may wait; each message goes to one of them."""
        while not self._messages:
            if self.channel.ready_state == DataChannelState.CLOSED:
                raise SctpTransportError(f"{self!r} is closed")
            await self._incoming.wait()
        return self._messages.popleft()

    async def wait_closed(self) -> None:
        """Wait until the channel is closed (both directions reset, or the association
        ended)."""
        await asyncio.shield(self._closed_future)

    def close(self) -> None:
        self.channel.close(now=self._transport._loop.time())
        self._transport._flush()

    # --- driven by the transport ------------------------------------------------------------

    def _deliver(self, data: bytes | str) -> None:
        if self._on_message is not None:
            self._on_message(data)
            return
        self._messages.append(data)
        self._wake()

    def _wake(self) -> None:
        self._incoming.fire()

    def _wake_drain(self) -> None:
        self._drained.fire()

    def _closed(self) -> None:
        self._wake()
        self._wake_drain()
        if not self._closed_future.done():
            self._closed_future.set_result(None)
        if not self._opened.done():
            self._opened.set_exception(SctpTransportError(f"{self!r} closed before opening"))
            self._opened.exception()


class SctpTransport:
    """:class:`~rtcstack.sctp.DataChannels` over a connected :class:`DtlsEndpoint`.

    ``role`` defaults to the DTLS connection's role (client: even stream ids).
    """

    def __init__(self, dtls: DtlsEndpoint, *, role: str | None = None,
                 config: SctpConfig | None = None, remote_max_message_size: int = 262144,
                 trace: Trace = NULL_TRACE) -> None:
        self._loop = asyncio.get_running_loop()
        self.dtls = dtls
        if config is None:
            # RFC 8261 §5: one SCTP packet per DTLS record, so no bigger than a record can be.
            config = SctpConfig(zero_checksum=True, mtu=dtls.connection.max_application_payload)
        self.channels = DataChannels(role or dtls.connection.role, config,
                                     remote_max_message_size=remote_max_message_size,
                                     trace=trace)
        self._channels: dict[int, Channel] = {}
        self._accepted: deque[Channel] = deque()
        self._accepting = _Signal(self._loop)  # a channel arrived, or the transport closed
        #: What the association negotiated (I-DATA, zero checksum, ...), once it is up.
        self.connected: Connected | None = None
        self._flushing = False
        self._flush_again = False
        self._connected: asyncio.Future[None] = self._loop.create_future()
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._timer = DeadlineTimer(self._loop, self._on_timer)
        self.error: str | None = None
        transport = dtls._transport
        if transport is not None and (sock := transport.get_extra_info("socket")) is not None:
            enlarge_socket_buffers(sock)
        dtls.on_application_data = self._on_record
        # With a batched transport, answer a burst of packets once (one SACK, one flush).
        self._per_record = not dtls.batched
        if dtls.batched:
            dtls.on_batch_end = self._flush
        dtls.on_closed = self._on_dtls_closed

    @property
    def association(self) -> Association:
        return self.channels.association

    async def start(self, timeout: float | None = 10.0) -> None:
        """Start the association (both sides call this) and wait until it is up."""
        self.channels.connect(now=self._loop.time())
        self._flush()
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._connected)

    def create_channel(self, label: str = "", **options: Any) -> Channel:
        """W3C createDataChannel; options as :meth:`DataChannels.create_channel`."""
        channel = self.channels.create_channel(label, now=self._loop.time(), **options)
        wrapper = self._channels[channel.id] = Channel(self, channel)
        self._flush()
        return wrapper

    async def accept_channel(self) -> Channel:
        """The next channel the peer opened in band."""
        while not self._accepted:
            if self._closed.done():
                raise SctpTransportError(self.error or "the SCTP transport is closed")
            await self._accepting.wait()
        return self._accepted.popleft()

    async def wait_closed(self) -> None:
        """Wait until the association has ended (shutdown by either side, abort, or the DTLS
        connection below closing); :attr:`error` then says why, None after a shutdown."""
        await asyncio.shield(self._closed)

    async def close(self, timeout: float = 5.0) -> None:
        """SCTP shutdown (RFC 9260 §9.2), then close DTLS; abort if the peer does not answer."""
        if not self._closed.done():
            self.channels.close(now=self._loop.time())
            self._flush()
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._closed)
            except TimeoutError:
                self.association.abort("shutdown timed out", now=self._loop.time())
                self._flush()
        self._timer.cancel()
        self.dtls.close()

    # --- the drive loop ---------------------------------------------------------------------

    def _on_record(self, data: bytes) -> None:
        self.channels.handle_packet(data, now=self._loop.time())
        if self._per_record:
            self._flush()

    def _on_dtls_closed(self, error: object) -> None:
        self.channels.lower_layer_closed(now=self._loop.time())
        self._flush()

    def _on_timer(self, now: float) -> None:
        self.channels.handle_timeout(now=now)
        self._flush()

    def _flush(self) -> None:
        """Send what the association has, dispatch its events, re-arm the timer.  A callback
        that sends (an echo from ``on_message``) calls this again from inside: that call only
        asks for another round, so a burst does not recurse once per message."""
        if self._flushing:
            self._flush_again = True
            return
        self._flushing = True
        try:
            channels = self.channels
            while True:
                self._flush_again = False
                packets = []
                while (packet := channels.poll_transmit()) is not None:
                    packets.append(packet)
                if packets and not self.dtls.closed:
                    self.dtls.send_many(packets)
                while (event := channels.poll_event()) is not None:
                    self._dispatch(event)
                if not self._flush_again:
                    break
            self._timer.arm(channels.poll_timeout())
        finally:
            self._flushing = False

    def _dispatch(self, event: object) -> None:
        if isinstance(event, ChannelMessage):
            wrapper = self._channels.get(event.channel.id)
            if wrapper is not None and wrapper.channel is event.channel:
                wrapper._deliver(event.data)
        elif isinstance(event, ChannelOpened):
            wrapper = self._channels.get(event.channel.id)
            if wrapper is None or wrapper.channel is not event.channel:
                wrapper = self._channels[event.channel.id] = Channel(self, event.channel)
            if not wrapper._opened.done():
                wrapper._opened.set_result(None)
            if event.remote:
                self._accepted.append(wrapper)
                self._accepting.fire()
        elif isinstance(event, ChannelBufferedAmountLow):
            wrapper = self._channels.get(event.channel.id)
            if wrapper is not None:
                wrapper._wake_drain()
        elif isinstance(event, ChannelClosed):
            wrapper = self._channels.get(event.channel.id)
            if wrapper is not None and wrapper.channel is event.channel:
                del self._channels[event.channel.id]
                wrapper._closed()
        elif isinstance(event, TransportConnected):
            self.connected = event.info
            if not self._connected.done():
                self._connected.set_result(None)
        elif isinstance(event, TransportClosed):
            self.error = event.error
            if not self._connected.done():
                self._connected.set_exception(SctpTransportError(event.error or "closed"))
                self._connected.exception()
            if not self._closed.done():
                self._closed.set_result(None)
            self._accepting.fire()

