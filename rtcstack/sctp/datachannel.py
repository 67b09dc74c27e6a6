"""WebRTC data channels (RFC 8831) with the DCEP open handshake (RFC 8832), sans-IO.

:class:`DataChannels` is the SCTP transport of a peer connection: one :class:`Association`
and the channels on it.  It takes and gives SCTP packets (the payload of DTLS application data
records, RFC 8261) and speaks the drive loop of every rtcstack layer:
``connect(now=)``, ``handle_packet(data, now=)``, ``handle_timeout(now=)``,
``poll_transmit() -> bytes | None``, ``poll_event()``, ``poll_timeout()``.

The W3C RTCDataChannel model, minus the event loop:

- :meth:`DataChannels.create_channel` with every RTCDataChannelInit option (``ordered``,
  ``max_retransmits``, ``max_packet_life_time`` in milliseconds, ``protocol``, ``negotiated``,
  ``id``, ``priority``).  Stream ids follow RFC 8832 §6: the DTLS client takes even ids, the
  server odd ones.  An in-band channel sends DATA_CHANNEL_OPEN and is usable at once (messages
  go ordered until the DATA_CHANNEL_ACK arrives, RFC 8832 §6); a negotiated one sends nothing.
- :class:`ChannelOpened` (``remote`` for the peer's in-band channels: W3C's ``datachannel``),
  :class:`ChannelMessage` (``str`` for PPID 51/56, ``bytes`` for 53/57, RFC 8831 §8),
  :class:`ChannelBufferedAmountLow`, :class:`ChannelClosed`, and :class:`TransportConnected` /
  :class:`TransportClosed` for the association.
- :attr:`DataChannel.buffered_amount` (bytes queued, not yet sent) and
  :attr:`DataChannel.buffered_amount_low_threshold` for back-pressure.
- closing resets the channel's outgoing stream (RFC 8831 §6.7); the peer resets its own in
  answer; when both directions are reset the channel is closed and its id free again.
- ``max_message_size``: what we accept (sent to the peer in SDP, RFC 8841 §6) and
  :attr:`DataChannels.remote_max_message_size`, the peer's limit, which :meth:`DataChannel.send`
  enforces (64 KiB until set, RFC 8841 §6.1's default when the SDP says nothing).

A channel's priority (RFC 8831 §6.4, carried in DATA_CHANNEL_OPEN) weighs its stream in the
association's weighted fair queueing scheduler (RFC 8260 §3.6): a high-priority channel gets
twice a normal one's share of a congested association.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum

from rtcstack.common.errors import InvalidStateError, ParseError
from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.sctp.association import (
    Association,
    AssociationState,
    BufferedAmountLow,
    Closed,
    Connected,
    MessageReceived,
    SctpConfig,
    StreamsReset,
)
from rtcstack.sctp.dcep import (
    PRIORITY_NORMAL,
    DataChannelAck,
    DataChannelOpen,
    Ppid,
    parse_dcep,
)

__all__ = [
    "ChannelBufferedAmountLow",
    "ChannelClosed",
    "ChannelMessage",
    "ChannelOpened",
    "DataChannel",
    "DataChannelEvent",
    "DataChannelState",
    "DataChannels",
    "TransportClosed",
    "TransportConnected",
]

DEFAULT_REMOTE_MAX_MESSAGE_SIZE = 65536  # RFC 8841 §6.1: no max-message-size attribute


class DataChannelState(IntEnum):
    """W3C RTCDataChannelState."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class DataChannel:
    """One data channel.  Created by :meth:`DataChannels.create_channel` or by the peer."""

    def __init__(self, owner: DataChannels, stream_id: int, label: str, protocol: str, *,
                 ordered: bool, max_retransmits: int | None, max_packet_life_time: int | None,
                 negotiated: bool, priority: int) -> None:
        self._owner = owner
        self.id = stream_id
        self.label = label
        self.protocol = protocol
        self.ordered = ordered
        self.max_retransmits = max_retransmits
        self.max_packet_life_time = max_packet_life_time
        self.negotiated = negotiated
        self.priority = priority
        self.ready_state = DataChannelState.CONNECTING
        #: RFC 8832 §6: until the peer's DATA_CHANNEL_ACK arrives, messages go ordered.
        self.acked = negotiated
        self._threshold = 0
        # W3C: bufferedamountlow fires when bufferedAmount falls to the threshold, 0 at first.
        owner.association.set_buffered_amount_low_threshold(stream_id, 0)
        self._reset_out = False  # our outgoing stream was reset (or is being)
        self._reset_in = False  # the peer reset its outgoing stream
        self._out_done = False  # the peer performed our reset
        self.messages_sent = 0
        self.messages_received = 0
        self.bytes_sent = 0
        self.bytes_received = 0

    def __repr__(self) -> str:
        return (f"DataChannel(id={self.id}, label={self.label!r}, "
                f"state={self.ready_state.name})")

    @property
    def buffered_amount(self) -> int:
        """Bytes given to :meth:`send` and not yet sent (W3C bufferedAmount).

        An empty message adds nothing, and the DCEP messages on the stream are not counted
        (the association is told not to count them).
        """
        return self._owner.association.buffered_amount(self.id)

    @property
    def buffered_amount_low_threshold(self) -> int:
        return self._threshold

    @buffered_amount_low_threshold.setter
    def buffered_amount_low_threshold(self, value: int) -> None:
        if value < 0:
            raise ValueError("bufferedAmountLowThreshold must not be negative")
        self._threshold = value
        # W3C: the event is for a *decrease* from above the threshold to at or below it, which
        # is what the association reports.
        self._owner.association.set_buffered_amount_low_threshold(self.id, value)

    def send(self, data: bytes | bytearray | memoryview | str, *, now: float) -> None:
        """Queue one message: ``str`` goes as a string (PPID 51), bytes as binary (PPID 53).

        RFC 8831 §6.6: an empty message goes as one zero byte with PPID 56 or 57.
        """
        if self.ready_state != DataChannelState.OPEN:
            raise InvalidStateError(f"send() on a {self.ready_state.name} data channel")
        if isinstance(data, str):
            payload = data.encode("utf-8")
            ppid = Ppid.STRING if payload else Ppid.STRING_EMPTY
        else:
            payload = bytes(data)
            ppid = Ppid.BINARY if payload else Ppid.BINARY_EMPTY
        limit = self._owner.remote_max_message_size
        if limit and len(payload) > limit:
            raise ValueError(f"message of {len(payload)} bytes exceeds the peer's "
                             f"max-message-size {limit}")
        self._owner._send(self, payload or b"\x00", ppid, now=now, counted=bool(payload))
        self.messages_sent += 1
        self.bytes_sent += len(payload)

    def close(self, *, now: float) -> None:
        """Start closing (RFC 8831 §6.7): queued messages are sent, then the stream reset."""
        if self.ready_state in (DataChannelState.CLOSING, DataChannelState.CLOSED):
            return
        self._owner._close_channel(self, now=now)


@dataclass(frozen=True, slots=True)
class TransportConnected:
    """The SCTP association is up; ``interleaving`` etc. say what was negotiated."""

    info: Connected


@dataclass(frozen=True, slots=True)
class TransportClosed:
    """The SCTP association ended (``error`` None after a graceful shutdown)."""

    error: str | None
    remote: bool = False


@dataclass(frozen=True, slots=True)
class ChannelOpened:
    """A channel is open: ours once the association is up, or the peer's (``remote``)."""

    channel: DataChannel
    remote: bool


@dataclass(frozen=True, slots=True)
class ChannelMessage:
    channel: DataChannel
    data: bytes | str


@dataclass(frozen=True, slots=True)
class ChannelBufferedAmountLow:
    channel: DataChannel


@dataclass(frozen=True, slots=True)
class ChannelClosed:
    channel: DataChannel


DataChannelEvent = (TransportConnected | TransportClosed | ChannelOpened | ChannelMessage
                    | ChannelBufferedAmountLow | ChannelClosed)


class DataChannels:
    """The data channels of one peer connection over one SCTP association.

    ``role`` is the DTLS role (``"client"`` or ``"server"``), which picks even or odd stream
    ids (RFC 8832 §6).  ``config`` defaults to WebRTC's SCTP settings with zero checksums
    offered (RFC 9653: the DTLS layer below already protects every packet).
    """

    def __init__(self, role: str, config: SctpConfig | None = None, *,
                 remote_max_message_size: int = DEFAULT_REMOTE_MAX_MESSAGE_SIZE,
                 random_bytes: RandomBytes = default_random_bytes,
                 trace: Trace = NULL_TRACE) -> None:
        if role not in ("client", "server"):
            raise ValueError(f"role must be 'client' or 'server', not {role!r}")
        self.role = role
        # RFC 8261 §5: one SCTP packet per DTLS record.  A 1200-byte DTLS datagram with an
        # AES-GCM record carries 1163 bytes; 1160 leaves room for every suite rtcstack offers.
        self.association = Association(config or SctpConfig(zero_checksum=True, mtu=1160),
                                       random_bytes=random_bytes, trace=trace)
        #: The largest message the peer accepts (its SDP ``a=max-message-size``; 0: no limit).
        self.remote_max_message_size = remote_max_message_size
        self.channels: dict[int, DataChannel] = {}
        self._trace = trace
        self._events: deque[DataChannelEvent] = deque()
        self._connected = False
        self._closed = False
        self._now = 0.0
        #: Messages dropped: unknown stream, bad DCEP, a string that is not UTF-8.
        self.dropped_messages = 0
        # Messages on a stream whose old channel is still closing while the peer, done with
        # it, already opened a new channel there (see _on_dcep); replayed once it has closed.
        self._held: dict[int, list[MessageReceived]] = {}

    # --- the drive loop ------------------------------------------------------------------------

    def connect(self, *, now: float) -> None:
        """Start the association (both WebRTC peers do; RFC 8261 §6.1 allows the collision)."""
        self._now = now
        self.association.connect(now=now)

    def handle_packet(self, data: bytes, *, now: float) -> None:
        self._now = now
        self.association.handle_packet(data, now=now)
        self._pump()

    def handle_timeout(self, *, now: float) -> None:
        self._now = now
        self.association.handle_timeout(now=now)
        self._pump()

    def poll_transmit(self) -> bytes | None:
        return self.association.poll_transmit()

    def poll_timeout(self) -> float | None:
        return self.association.poll_timeout()

    def poll_event(self) -> DataChannelEvent | None:
        if not self._events:
            self._pump()
        return self._events.popleft() if self._events else None

    def lower_layer_closed(self, *, now: float) -> None:
        """The DTLS connection carrying the association ended (see
        :meth:`Association.lower_layer_closed`); every channel closes."""
        self._now = now
        self.association.lower_layer_closed(now=now)
        self._pump()

    # --- user actions --------------------------------------------------------------------------

    @property
    def max_message_size(self) -> int:
        """The largest message we accept: advertise it in SDP (``a=max-message-size``)."""
        return self.association.config.max_message_size

    def create_channel(self, label: str = "", *, now: float, ordered: bool = True,
                       max_retransmits: int | None = None,
                       max_packet_life_time: int | None = None, protocol: str = "",
                       negotiated: bool = False, id: int | None = None,
                       priority: int = PRIORITY_NORMAL) -> DataChannel:
        """W3C createDataChannel.  ``max_packet_life_time`` is in milliseconds."""
        self._now = now
        if self._closed:
            raise InvalidStateError("the SCTP transport is closed")
        if self._connected and self.association.state != AssociationState.ESTABLISHED:
            raise InvalidStateError(f"the SCTP transport is {self.association.state.name}")
        if max_retransmits is not None and max_packet_life_time is not None:
            raise ValueError("maxRetransmits and maxPacketLifeTime are mutually exclusive")
        if len(label.encode()) > 65535 or len(protocol.encode()) > 65535:
            raise ValueError("label and protocol are limited to 65535 bytes")
        if negotiated and id is None:
            raise ValueError("a negotiated channel needs an id")
        if id is None:
            stream_id = self._free_id()
        else:
            if not 0 <= id <= 65534:
                raise ValueError(f"id {id} is not in 0-65534")
            if id in self.channels:
                raise ValueError(f"id {id} is in use")
            stream_id = id
        channel = DataChannel(self, stream_id, label, protocol, ordered=ordered,
                              max_retransmits=max_retransmits,
                              max_packet_life_time=max_packet_life_time, negotiated=negotiated,
                              priority=priority)
        self.channels[stream_id] = channel
        self._weigh(channel)
        if self._connected:
            self._open_local(channel, now)
        return channel

    def close(self, *, now: float) -> None:
        """Close the association gracefully (RFC 9260 §9.2); every channel closes with it."""
        self._now = now
        if self.association.state == AssociationState.CLOSED:
            self._closed = True
            return
        for channel in self.channels.values():
            if channel.ready_state == DataChannelState.OPEN:
                channel.ready_state = DataChannelState.CLOSING  # no more sends (RFC 9260 §9.2)
        self.association.shutdown(now=now)

    # --- internals -----------------------------------------------------------------------------

    def _free_id(self) -> int:
        sid = 0 if self.role == "client" else 1
        limit = min(self.association.outbound_streams, 65535) if self._connected else 65535
        while sid < limit:
            if sid not in self.channels:
                return sid
            sid += 2
        raise InvalidStateError("no free stream id for a new data channel")

    def _weigh(self, channel: DataChannel) -> None:
        """The channel's priority weighs its stream in the association's scheduler (RFC 8831
        §6.4); a peer's priority of 0 (aiortc sends it) counts as normal."""
        if channel.priority > 0:
            self.association.set_stream_priority(channel.id, channel.priority)

    def _open_local(self, channel: DataChannel, now: float) -> None:
        if not channel.negotiated:
            open_message = DataChannelOpen.create(
                channel.label, channel.protocol, ordered=channel.ordered,
                max_retransmits=channel.max_retransmits,
                max_packet_life_time=channel.max_packet_life_time, priority=channel.priority)
            data = open_message.serialize()
            self.association.send(channel.id, data, Ppid.DCEP, now=now, counted=False)
        channel.ready_state = DataChannelState.OPEN
        self._events.append(ChannelOpened(channel, remote=False))

    def _send(self, channel: DataChannel, payload: bytes, ppid: int, *, now: float,
              counted: bool) -> None:
        self._now = now
        lifetime = (channel.max_packet_life_time / 1000.0
                    if channel.max_packet_life_time is not None else None)
        self.association.send(channel.id, payload, ppid, now=now,
                              ordered=channel.ordered or not channel.acked,
                              max_retransmits=channel.max_retransmits, lifetime=lifetime,
                              counted=counted)

    def _close_channel(self, channel: DataChannel, *, now: float) -> None:
        self._now = now
        channel.ready_state = DataChannelState.CLOSING
        if self.association.state != AssociationState.ESTABLISHED:
            self._finish_close(channel)
            return
        if not channel._reset_out:
            channel._reset_out = True
            self.association.reset_streams([channel.id], now=now)

    def _finish_close(self, channel: DataChannel) -> None:
        if channel.ready_state == DataChannelState.CLOSED:
            return
        channel.ready_state = DataChannelState.CLOSED
        if self.channels.get(channel.id) is channel:
            del self.channels[channel.id]
        self._events.append(ChannelClosed(channel))
        held = self._held.pop(channel.id, None)
        if held and not self._closed:
            for event in held:
                self._on_message(event)

    def _pump(self) -> None:
        """Turn association events into channel events."""
        assoc = self.association
        while (event := assoc.poll_event()) is not None:
            if isinstance(event, MessageReceived):
                self._on_message(event)
            elif isinstance(event, BufferedAmountLow):
                channel = self.channels.get(event.stream_id)
                if channel is not None:
                    self._events.append(ChannelBufferedAmountLow(channel))
            elif isinstance(event, StreamsReset):
                self._on_streams_reset(event)
            elif isinstance(event, Connected):
                if self._connected:
                    # RFC 9260 §5.2.4 case A: the peer restarted.  Its streams, and so every
                    # channel, began anew: the old channels are gone (their state with them).
                    self._trace("datachannel.peer_restart", channels=len(self.channels))
                    for channel in list(self.channels.values()):
                        self._finish_close(channel)
                self._connected = True
                self._events.append(TransportConnected(event))
                for channel in list(self.channels.values()):
                    if channel.ready_state != DataChannelState.CONNECTING:
                        continue
                    if channel.id >= event.outbound_streams:
                        # W3C: a channel whose id the negotiated stream count cannot carry
                        # is closed (RFC 8831 §6.2: streams are what the INITs agreed).
                        self._trace("datachannel.id_out_of_range", stream=channel.id,
                                    streams=event.outbound_streams)
                        self._finish_close(channel)
                        continue
                    self._open_local(channel, self._now)
            elif isinstance(event, Closed):
                self._closed = True
                for channel in list(self.channels.values()):
                    self._finish_close(channel)
                self._events.append(TransportClosed(event.error, event.remote))

    def _on_message(self, event: MessageReceived) -> None:
        sid, ppid = event.stream_id, event.ppid
        held = self._held.get(sid)
        if held is not None:
            held.append(event)
            return
        if ppid == Ppid.DCEP:
            self._on_dcep(event)
            return
        channel = self.channels.get(sid)
        if channel is None or channel.ready_state == DataChannelState.CLOSED:
            self.dropped_messages += 1
            self._trace("datachannel.drop", stream=sid, reason="no channel")
            return
        channel.acked = True  # RFC 8832 §6: user data implies the OPEN arrived
        data: bytes | str
        if ppid in (Ppid.STRING, Ppid.STRING_PARTIAL):
            try:
                data = event.data.decode("utf-8")
            except UnicodeDecodeError:
                self.dropped_messages += 1
                self._trace("datachannel.drop", stream=sid, reason="string not UTF-8")
                return
        elif ppid == Ppid.STRING_EMPTY:
            data = ""
        elif ppid == Ppid.BINARY_EMPTY:
            data = b""
        else:
            data = event.data
        channel.messages_received += 1
        channel.bytes_received += len(event.data)
        self._events.append(ChannelMessage(channel, data))

    def _on_dcep(self, event: MessageReceived) -> None:
        sid = event.stream_id
        try:
            message = parse_dcep(event.data)
        except ParseError as exc:
            self.dropped_messages += 1
            self._trace("datachannel.bad_dcep", stream=sid, error=str(exc))
            return
        if isinstance(message, DataChannelAck):
            channel = self.channels.get(sid)
            if channel is not None:
                channel.acked = True
            return
        old = self.channels.get(sid)
        if old is not None and old._reset_in:
            # The peer reset its direction of the old channel and, having seen ours reset too,
            # reuses the id (RFC 8831 §6.7) before our reset is confirmed (its RE-CONFIG
            # response may be lost or late): keep the OPEN and what follows it until the old
            # channel has closed, then open the new one.
            self._held[sid] = [event]
            self._trace("datachannel.open_held", stream=sid)
            return
        if old is not None:
            # RFC 8832 §6: an OPEN for a stream in use is an error; the stream is not reused.
            self.dropped_messages += 1
            self._trace("datachannel.open_in_use", stream=sid)
            return
        channel = DataChannel(self, sid, message.label, message.protocol,
                              ordered=message.ordered, max_retransmits=message.max_retransmits,
                              max_packet_life_time=message.max_packet_life_time,
                              negotiated=False, priority=message.priority)
        channel.acked = True
        self.channels[sid] = channel
        self._weigh(channel)
        if self.association.state == AssociationState.ESTABLISHED:
            ack = DataChannelAck().serialize()
            self.association.send(sid, ack, Ppid.DCEP, now=self._now, counted=False)
        channel.ready_state = DataChannelState.OPEN
        self._events.append(ChannelOpened(channel, remote=True))

    def _on_streams_reset(self, event: StreamsReset) -> None:
        for sid in event.stream_ids:
            channel = self.channels.get(sid)
            if channel is None:
                continue
            if event.incoming:
                # The peer closed its direction: close ours too (RFC 8831 §6.7).
                channel._reset_in = True
                if not channel._reset_out:
                    channel.ready_state = DataChannelState.CLOSING
                    channel._reset_out = True
                    if self.association.state != AssociationState.ESTABLISHED:
                        self._finish_close(channel)
                        continue
                    self.association.reset_streams([sid], now=self._now)
            else:
                if not event.success:
                    self._trace("datachannel.reset_refused", stream=sid)
                channel._out_done = True
                if not event.success:
                    self._finish_close(channel)
                    continue
            if channel._reset_in and channel._out_done:
                self._finish_close(channel)
