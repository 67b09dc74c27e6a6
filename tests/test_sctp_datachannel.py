"""Data channels over SCTP (RFC 8831), the DCEP open handshake (RFC 8832) and max-message-size
(RFC 8841), driven as two :class:`DataChannels` on a virtual clock through an emulated link.

Every run is deterministic: the associations take their randomness from ``SeededRandom`` and
the link (``tests/dtls_harness.Link``) from a seeded ``random.Random``.  The wire is inspected
by the link's ``tamper`` hook, which parses every SCTP packet it carries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtcstack.common.errors import InvalidStateError
from rtcstack.common.randomness import SeededRandom
from rtcstack.sctp.association import AssociationState, SctpConfig
from rtcstack.sctp.chunks import DataChunk, IDataChunk, ReconfigChunk, parse_chunks
from rtcstack.sctp.datachannel import (
    ChannelBufferedAmountLow,
    ChannelClosed,
    ChannelMessage,
    ChannelOpened,
    DataChannel,
    DataChannelEvent,
    DataChannels,
    DataChannelState,
    TransportClosed,
    TransportConnected,
)
from rtcstack.sctp.dcep import (
    PRIORITY_BELOW_NORMAL,
    PRIORITY_EXTRA_HIGH,
    PRIORITY_HIGH,
    PRIORITY_NORMAL,
    DataChannelOpen,
    Ppid,
)
from tests.dtls_harness import Link

SIDES = ("client", "server")
E = TypeVar("E")


def state(channel: DataChannel) -> DataChannelState:
    """The channel's state, read through a call (so mypy does not narrow it across actions)."""
    return channel.ready_state


@dataclass
class WireChunk:
    """One DATA or I-DATA chunk seen on the link (first fragments carry the PPID)."""

    sender: str
    stream_id: int
    ppid: int | None
    unordered: bool
    beginning: bool
    payload: bytes


@dataclass
class Pair:
    """A client and a server :class:`DataChannels` joined by a :class:`Link`.

    ``run()`` moves the virtual clock from one deadline (a packet due on the link or a timer)
    to the next, feeding packets and timeouts in and draining transmits and events out.
    """

    client: DataChannels
    server: DataChannels
    link: Link
    now: float = 0.0
    events: dict[str, list[DataChannelEvent]] = field(
        default_factory=lambda: {"client": [], "server": []})
    wire: list[WireChunk] = field(default_factory=list)
    drop: Callable[[str, bytes], bool] | None = None  # (sender, packet) -> drop it?

    @classmethod
    def make(cls, *, link: Link | None = None, seed: int = 1,
             client_config: SctpConfig | None = None, server_config: SctpConfig | None = None,
             client_remote_max: int | None = None,
             server_remote_max: int | None = None) -> Pair:
        client_config = client_config or SctpConfig(zero_checksum=True)
        server_config = server_config or SctpConfig(zero_checksum=True)
        client = DataChannels(
            "client", client_config, random_bytes=SeededRandom(f"client-{seed}"),
            remote_max_message_size=(server_config.max_message_size
                                     if server_remote_max is None else server_remote_max))
        server = DataChannels(
            "server", server_config, random_bytes=SeededRandom(f"server-{seed}"),
            remote_max_message_size=(client_config.max_message_size
                                     if client_remote_max is None else client_remote_max))
        pair = cls(client, server, link or Link(delay=0.005, seed=seed))
        pair.link.tamper = pair._inspect
        return pair

    def _inspect(self, sender: str, data: bytes) -> bytes | None:
        for chunk in parse_chunks(data):
            if isinstance(chunk, (DataChunk, IDataChunk)):
                self.wire.append(WireChunk(sender, chunk.stream_id,
                                           chunk.ppid if chunk.beginning else None,
                                           chunk.unordered, chunk.beginning, chunk.user_data))
        if self.drop is not None and self.drop(sender, data):
            return None
        return data

    def peer(self, side: str) -> DataChannels:
        return self.client if side == "client" else self.server

    def flush(self) -> None:
        for side in SIDES:
            dc = self.peer(side)
            while (packet := dc.poll_transmit()) is not None:
                self.link.send(side, packet, self.now)
            while (event := dc.poll_event()) is not None:
                self.events[side].append(event)

    def connect(self, *, both: bool = True) -> None:
        self.client.connect(now=self.now)
        if both:
            self.server.connect(now=self.now)
        self.run(until=lambda: self.connected("client") and self.connected("server"))
        assert self.connected("client") and self.connected("server")

    def connected(self, side: str) -> bool:
        return any(isinstance(e, TransportConnected) for e in self.events[side])

    def run(self, until: Callable[[], bool] | None = None, duration: float = 30.0) -> None:
        """Until ``until()`` holds, or nothing is due before ``duration`` virtual seconds."""
        end = self.now + duration
        self.flush()
        while until is None or not until():
            times = [t for t in (self.link.next_time(), self.client.poll_timeout(),
                                 self.server.poll_timeout()) if t is not None]
            if not times or min(times) > end:
                break
            self.now = max(self.now, min(times))
            for sender, data in self.link.pop_due(self.now):
                receiver = self.server if sender == "client" else self.client
                receiver.handle_packet(data, now=self.now)
            for side in SIDES:
                dc = self.peer(side)
                deadline = dc.poll_timeout()
                if deadline is not None and deadline <= self.now:
                    dc.handle_timeout(now=self.now)
            self.flush()

    def settle(self, duration: float = 2.0) -> None:
        """Run ``duration`` virtual seconds (enough for every SACK and retransmission)."""
        self.run(duration=duration)

    # --- event views ---------------------------------------------------------------------------

    def of(self, side: str, kind: type[E]) -> list[E]:
        return [e for e in self.events[side] if isinstance(e, kind)]

    def messages(self, side: str, channel_id: int | None = None) -> list[bytes | str]:
        return [e.data for e in self.of(side, ChannelMessage)
                if channel_id is None or e.channel.id == channel_id]

    def remote_channel(self, side: str, channel_id: int, label: str | None = None
                       ) -> DataChannel:
        opened = [e.channel for e in self.of(side, ChannelOpened)
                  if e.remote and e.channel.id == channel_id
                  and (label is None or e.channel.label == label)]
        assert len(opened) == 1, f"{side} saw {len(opened)} remote opens of {channel_id}"
        return opened[0]

    def closed_ids(self, side: str) -> list[int]:
        return [e.channel.id for e in self.of(side, ChannelClosed)]

    def dcep_on_wire(self) -> list[WireChunk]:
        return [c for c in self.wire if c.ppid == Ppid.DCEP]


def connected_pair(**kwargs: object) -> Pair:
    pair = Pair.make(**kwargs)  # type: ignore[arg-type]
    pair.connect()
    return pair


def payload(n: int, tag: int = 0) -> bytes:
    """``n`` deterministic, position-dependent bytes (so a swapped fragment shows)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (tag, counter)).digest()
        counter += 1
    return bytes(out[:n])


# --- stream ids, opening --------------------------------------------------------------------------


def test_client_takes_even_ids_server_odd() -> None:
    """RFC 8832 §6: "the DTLS client ... MUST use streams with even stream identifiers, the
    DTLS server ... odd"."""
    pair = connected_pair()
    client_ids = [pair.client.create_channel(f"c{i}", now=pair.now).id for i in range(4)]
    server_ids = [pair.server.create_channel(f"s{i}", now=pair.now).id for i in range(4)]
    assert client_ids == [0, 2, 4, 6]
    assert server_ids == [1, 3, 5, 7]
    pair.settle()
    assert sorted(e.channel.id for e in pair.of("server", ChannelOpened) if e.remote) == client_ids
    assert sorted(e.channel.id for e in pair.of("client", ChannelOpened) if e.remote) == server_ids


def test_role_is_checked() -> None:
    with pytest.raises(ValueError):
        DataChannels("peer")


def test_channel_before_connect_opens_when_transport_connects() -> None:
    pair = Pair.make()
    early = pair.client.create_channel("early", now=0.0)
    assert early.ready_state == DataChannelState.CONNECTING
    with pytest.raises(InvalidStateError):
        early.send("too soon", now=0.0)
    pair.flush()
    assert pair.of("client", ChannelOpened) == []
    pair.connect()
    client_events = pair.events["client"]
    connected_at = next(i for i, e in enumerate(client_events)
                        if isinstance(e, TransportConnected))
    opened_at = next(i for i, e in enumerate(client_events) if isinstance(e, ChannelOpened))
    assert connected_at < opened_at, "the transport connects before its channels open"
    assert state(early) == DataChannelState.OPEN
    early.send("hello", now=pair.now)
    pair.settle()
    assert pair.remote_channel("server", early.id).label == "early"
    assert pair.messages("server") == ["hello"]


def test_channel_after_connect_opens_at_once() -> None:
    pair = connected_pair()
    channel = pair.server.create_channel("late", now=pair.now)
    assert channel.ready_state == DataChannelState.OPEN
    pair.flush()
    assert [e.channel for e in pair.of("server", ChannelOpened)] == [channel]
    assert not pair.of("server", ChannelOpened)[0].remote
    channel.send(b"\x01\x02", now=pair.now)  # usable before the ACK arrives
    pair.settle()
    assert pair.messages("client") == [b"\x01\x02"]


@pytest.mark.parametrize(("options", "expected"), [
    ({}, (True, None, None, PRIORITY_NORMAL)),
    ({"ordered": False}, (False, None, None, PRIORITY_NORMAL)),
    ({"max_retransmits": 0}, (True, 0, None, PRIORITY_NORMAL)),
    ({"ordered": False, "max_retransmits": 7, "priority": PRIORITY_HIGH},
     (False, 7, None, PRIORITY_HIGH)),
    ({"max_packet_life_time": 1500, "priority": PRIORITY_EXTRA_HIGH},
     (True, None, 1500, PRIORITY_EXTRA_HIGH)),
    ({"ordered": False, "max_packet_life_time": 0, "priority": PRIORITY_BELOW_NORMAL},
     (False, None, 0, PRIORITY_BELOW_NORMAL)),
])
def test_remote_sees_the_channel_as_created(options: dict[str, object],
                                            expected: tuple[object, ...]) -> None:
    """RFC 8832 §5.1: label, protocol, channel type, reliability parameter and priority travel
    in DATA_CHANNEL_OPEN; W3C: the peer's ``datachannel`` event carries them."""
    pair = connected_pair()
    local = pair.client.create_channel("chät ✓", protocol="proto/ü", now=pair.now,
                                       **options)  # type: ignore[arg-type]
    pair.settle()
    remote = pair.remote_channel("server", local.id)
    got = (remote.ordered, remote.max_retransmits, remote.max_packet_life_time, remote.priority)
    assert got == expected
    assert (remote.label, remote.protocol, remote.negotiated) == ("chät ✓", "proto/ü", False)
    assert remote.ready_state == DataChannelState.OPEN
    assert (local.ordered, local.max_retransmits, local.max_packet_life_time,
            local.priority) == expected
    # one OPEN out, one ACK back, both reliable and ordered on the channel's stream
    dcep = pair.dcep_on_wire()
    assert [(c.sender, c.stream_id, c.payload[0], c.unordered) for c in dcep] == [
        ("client", local.id, 0x03, False), ("server", local.id, 0x02, False)]
    assert local.acked


def test_create_channel_argument_checks() -> None:
    pair = connected_pair()
    now = pair.now
    with pytest.raises(ValueError):
        pair.client.create_channel("x", now=now, max_retransmits=1, max_packet_life_time=1)
    with pytest.raises(ValueError):
        pair.client.create_channel("x", now=now, negotiated=True)
    with pytest.raises(ValueError):
        pair.client.create_channel("x", now=now, id=65535)
    with pytest.raises(ValueError):
        pair.client.create_channel("x" * 65536, now=now)
    pair.client.create_channel("a", now=now, negotiated=True, id=10)
    with pytest.raises(ValueError):
        pair.client.create_channel("b", now=now, negotiated=True, id=10)
    assert list(pair.client.channels) == [10]


# --- negotiated channels, collisions --------------------------------------------------------------


def test_negotiated_channels_exchange_data_without_dcep() -> None:
    """RFC 8831 §6.5 / W3C ``negotiated``: both sides create the channel with the same id out of
    band; no DATA_CHANNEL_OPEN is sent (RFC 8832 is not used)."""
    pair = Pair.make()
    a = pair.client.create_channel("neg", negotiated=True, id=5, now=0.0)  # odd: any id goes
    b = pair.server.create_channel("neg", negotiated=True, id=5, ordered=False, now=0.0)
    pair.connect()
    assert a.ready_state == b.ready_state == DataChannelState.OPEN
    late_a = pair.client.create_channel("neg2", negotiated=True, id=300, now=pair.now)
    late_b = pair.server.create_channel("neg2", negotiated=True, id=300, now=pair.now)
    a.send("ping", now=pair.now)
    b.send(b"pong", now=pair.now)  # unordered at once: no ACK to wait for
    late_a.send(b"x" * 3000, now=pair.now)
    late_b.send("y", now=pair.now)
    pair.settle()
    assert pair.messages("server", 5) == ["ping"]
    assert pair.messages("client", 5) == [b"pong"]
    assert pair.messages("server", 300) == [b"x" * 3000]
    assert pair.messages("client", 300) == ["y"]
    assert pair.dcep_on_wire() == []
    assert [c.unordered for c in pair.wire if c.sender == "server" and c.stream_id == 5] == [True]
    assert not any(e.remote for side in SIDES for e in pair.of(side, ChannelOpened))
    assert pair.client.dropped_messages == pair.server.dropped_messages == 0


def test_open_for_a_stream_in_use_is_dropped_and_counted() -> None:
    """RFC 8832 §6: a DATA_CHANNEL_OPEN for a stream already in use is not a new channel."""
    pair = connected_pair()
    negotiated = pair.client.create_channel("neg", negotiated=True, id=1, now=pair.now)
    in_band = pair.server.create_channel("collides", now=pair.now)
    assert in_band.id == 1
    pair.settle()
    assert pair.client.dropped_messages == 1
    assert not any(e.remote for e in pair.of("client", ChannelOpened))
    assert pair.client.channels[1] is negotiated
    assert negotiated.label == "neg"
    # a forged OPEN on a stream the client's own channel uses: dropped too
    mine = pair.client.create_channel("mine", now=pair.now)
    pair.settle()
    forged = DataChannelOpen.create("forged").serialize()
    pair.server.association.send(mine.id, forged, Ppid.DCEP, now=pair.now)
    pair.settle()
    assert pair.client.dropped_messages == 2
    assert pair.client.channels[mine.id] is mine and mine.label == "mine"
    mine.send("still fine", now=pair.now)
    pair.settle()
    assert pair.messages("server", mine.id) == ["still fine"]


def test_messages_before_the_ack_go_ordered() -> None:
    """RFC 8832 §6: "the initiating peer MUST send user messages ordered until it has received
    the DATA_CHANNEL_ACK" (so they cannot overtake the OPEN)."""
    pair = connected_pair()
    channel = pair.client.create_channel("u", ordered=False, now=pair.now)
    assert not channel.acked
    for i in range(3):
        channel.send(f"early {i}", now=pair.now)
    pair.settle()
    assert channel.acked
    for i in range(3):
        channel.send(f"late {i}", now=pair.now)
    pair.settle()
    user = [c for c in pair.wire if c.sender == "client" and c.stream_id == channel.id
            and c.ppid == Ppid.STRING]
    assert [(c.payload.decode(), c.unordered) for c in user] == (
        [(f"early {i}", False) for i in range(3)] + [(f"late {i}", True) for i in range(3)])
    assert sorted(pair.messages("server")) == sorted(
        [f"early {i}" for i in range(3)] + [f"late {i}" for i in range(3)])
    # the acceptor sends unordered from the start: it has seen the OPEN
    remote = pair.remote_channel("server", channel.id)
    remote.send("back", now=pair.now)
    pair.settle()
    assert [c.unordered for c in pair.wire
            if c.sender == "server" and c.ppid == Ppid.STRING] == [True]


# --- message content ------------------------------------------------------------------------------


def test_string_binary_and_empty_messages_keep_their_types() -> None:
    """RFC 8831 §6.6 and §8: PPID 51 string, 53 binary, 56/57 for empty ones (sent as one zero
    byte, which the receiver ignores)."""
    pair = connected_pair()
    channel = pair.client.create_channel("types", now=pair.now)
    sent: list[bytes | bytearray | memoryview | str] = [
        "text", b"bytes", "", b"", bytearray(b"ba"), memoryview(b"mv"), "\x00", b"\x00",
        "héllo wörld ✓ 😀 中文", "😀" * 1000]
    for item in sent:
        channel.send(item, now=pair.now)
    pair.settle()
    got = pair.messages("server", channel.id)
    expected = [bytes(x) if not isinstance(x, str) else x for x in sent]
    assert got == expected
    assert [type(x) for x in got] == [type(x) for x in expected]
    first = [c for c in pair.wire if c.sender == "client" and c.beginning
             and c.ppid != Ppid.DCEP]
    assert [c.ppid for c in first] == [51, 53, 56, 57, 53, 53, 51, 53, 51, 51]
    assert first[2].payload == first[3].payload == b"\x00"
    remote = pair.remote_channel("server", channel.id)
    assert remote.messages_received == len(sent)
    assert channel.bytes_sent == sum(len(x.encode() if isinstance(x, str) else bytes(x))
                                     for x in sent)


def test_a_string_that_is_not_utf8_is_dropped() -> None:
    pair = connected_pair()
    channel = pair.client.create_channel("s", now=pair.now)
    pair.settle()
    pair.client.association.send(channel.id, b"\xff\xfe", Ppid.STRING, now=pair.now)
    channel.send("after", now=pair.now)
    pair.settle()
    assert pair.messages("server") == ["after"]
    assert pair.server.dropped_messages == 1


SIZES = [1, 2, 3, 100, 1151, 1152, 1153, 1200, 4096, 65535, 65536, 65537, 100_000,
         262_143, 262_144]


@pytest.mark.parametrize("ordered", [True, False])
def test_every_size_up_to_max_message_size_byte_for_byte(ordered: bool) -> None:
    """RFC 8841 §6: max-message-size (here our 256 KiB default) is the largest message the
    peer must accept; reassembly gives back exactly what was sent."""
    pair = connected_pair()
    assert pair.server.max_message_size == 256 * 1024
    channel = pair.client.create_channel("big", now=pair.now, ordered=ordered)
    back = pair.server.create_channel("big-back", now=pair.now)
    for i, size in enumerate(SIZES):
        channel.send(payload(size, i), now=pair.now)
        back.send(payload(size, 100 + i), now=pair.now)
    pair.run(until=lambda: len(pair.messages("server")) == len(SIZES)
             and len(pair.messages("client")) == len(SIZES))
    got = pair.messages("server", channel.id)
    if not ordered:
        got = sorted(got, key=len)
    assert got == [payload(size, i) for i, size in enumerate(SIZES)]
    assert pair.messages("client", back.id) == [payload(size, 100 + i)
                                               for i, size in enumerate(SIZES)]


def test_send_above_the_remote_max_message_size_raises() -> None:
    """RFC 8841 §6.1: a sender MUST NOT send a message larger than the peer's limit; the W3C
    send() throws TypeError there (a ValueError here) and queues nothing."""
    pair = connected_pair(server_remote_max=1000)
    channel = pair.client.create_channel("limited", now=pair.now)
    pair.settle()
    with pytest.raises(ValueError):
        channel.send(b"x" * 1001, now=pair.now)
    with pytest.raises(ValueError):
        channel.send("é" * 501, now=pair.now)  # 1002 bytes of UTF-8
    assert channel.buffered_amount == 0
    assert channel.messages_sent == 0 and channel.bytes_sent == 0
    channel.send(b"y" * 1000, now=pair.now)
    channel.send("é" * 500, now=pair.now)
    pair.settle()
    assert pair.messages("server", channel.id) == [b"y" * 1000, "é" * 500]
    assert channel.messages_sent == 2


def test_default_remote_max_message_size_is_64k() -> None:
    """RFC 8841 §6.1: without a max-message-size attribute the peer takes 64 KiB."""
    client = DataChannels("client")
    assert client.remote_max_message_size == 65536


def test_a_peer_sending_above_our_max_message_size_is_aborted() -> None:
    """RFC 8841 §6: our limit is what we told the peer; a larger message is a protocol
    violation, and the association is aborted (every channel closes with it)."""
    big = SctpConfig(zero_checksum=True, max_message_size=1 << 20)
    pair = connected_pair(client_config=big, server_remote_max=0)  # the client ignores limits
    channel = pair.client.create_channel("too big", now=pair.now)
    channel.send(b"ok", now=pair.now)
    pair.settle()
    remote = pair.remote_channel("server", channel.id)
    channel.send(payload(256 * 1024 + 1), now=pair.now)
    pair.run(until=lambda: bool(pair.of("client", TransportClosed)))
    [closed] = pair.of("server", TransportClosed)
    assert closed.error and "max-message-size" in closed.error and not closed.remote
    [peer_closed] = pair.of("client", TransportClosed)
    assert peer_closed.error and peer_closed.remote
    assert pair.messages("server") == [b"ok"]
    assert remote.ready_state == channel.ready_state == DataChannelState.CLOSED
    assert pair.closed_ids("server") == pair.closed_ids("client") == [channel.id]
    with pytest.raises(InvalidStateError):
        pair.client.create_channel("after", now=pair.now)


# --- back-pressure --------------------------------------------------------------------------------


def test_buffered_amount_counts_user_bytes_and_low_fires_once() -> None:
    """W3C bufferedAmount: the bytes of application data queued by send() and not yet sent;
    ``bufferedamountlow`` fires when it falls from above the threshold to at or below it."""
    pair = connected_pair()
    channel = pair.client.create_channel("bp", now=pair.now)
    assert channel.buffered_amount == 0, "the DATA_CHANNEL_OPEN is not application data"
    channel.buffered_amount_low_threshold = 5000
    with pytest.raises(ValueError):
        channel.buffered_amount_low_threshold = -1
    for i in range(20):
        channel.send(payload(1000, i), now=pair.now)
        assert channel.buffered_amount == 1000 * (i + 1)
    channel.send("", now=pair.now)  # an empty message adds nothing (its zero byte is framing)
    channel.send(b"", now=pair.now)
    assert channel.buffered_amount == 20_000
    seen: list[int] = []

    def watch() -> bool:
        seen.append(channel.buffered_amount)
        return False

    pair.run(until=watch, duration=5.0)
    assert channel.buffered_amount == 0
    assert seen == sorted(seen, reverse=True)
    assert seen[0] > 5000, "data drains over several round trips (congestion window)"
    assert len(pair.of("client", ChannelBufferedAmountLow)) == 1
    assert len(pair.messages("server")) == 22


def test_buffered_amount_low_default_threshold_zero_fires_when_drained() -> None:
    """W3C: bufferedAmountLowThreshold is initially 0, so the event fires when everything queued
    has gone out."""
    pair = connected_pair()
    channel = pair.client.create_channel("bp0", now=pair.now)
    pair.settle()
    assert pair.of("client", ChannelBufferedAmountLow) == [], "the OPEN alone fires nothing"
    channel.send(payload(30_000), now=pair.now)
    pair.settle()
    assert [e.channel for e in pair.of("client", ChannelBufferedAmountLow)] == [channel]
    channel.send(b"small", now=pair.now)
    pair.settle()
    assert len(pair.of("client", ChannelBufferedAmountLow)) == 2


def test_raising_the_threshold_above_the_buffer_does_not_fire() -> None:
    pair = connected_pair()
    channel = pair.client.create_channel("bp", now=pair.now)
    channel.buffered_amount_low_threshold = 100
    channel.send(payload(5000), now=pair.now)
    channel.buffered_amount_low_threshold = 10_000  # no decrease crosses it
    pair.settle()
    assert pair.of("client", ChannelBufferedAmountLow) == []


def test_lowering_the_threshold_below_the_buffer_fires_on_the_way_down() -> None:
    """After one event at a high threshold, a lower one (what an asyncio drain(low=0) does)
    still fires once the amount falls to it."""
    pair = connected_pair()
    channel = pair.client.create_channel("bp", now=pair.now)
    pair.settle()
    channel.buffered_amount_low_threshold = 60_000
    channel.send(payload(200_000), now=pair.now)

    def fired() -> bool:
        return bool(pair.of("client", ChannelBufferedAmountLow))

    pair.run(until=fired)
    assert 0 < channel.buffered_amount <= 60_000
    channel.buffered_amount_low_threshold = 0
    pair.run(until=lambda: len(pair.of("client", ChannelBufferedAmountLow)) == 2, duration=5)
    assert channel.buffered_amount == 0
    assert len(pair.of("client", ChannelBufferedAmountLow)) == 2


# --- many channels --------------------------------------------------------------------------------


def test_fifty_channels_interleaved_each_in_order() -> None:
    pair = connected_pair()
    channels = [pair.client.create_channel(f"ch{i}", now=pair.now,
                                           ordered=i % 3 != 0) for i in range(25)]
    channels += [pair.server.create_channel(f"ch{i}", now=pair.now) for i in range(25, 50)]
    assert len({c.id for c in channels}) == 50
    rounds = 20
    for r in range(rounds):
        for i, channel in enumerate(channels):
            size = 1 + (r * 37 + i * 101) % 3000
            channel.send(f"{i}:{r}:" + "z" * size, now=pair.now)
        if r % 5 == 4:
            pair.run(duration=0.05)
    pair.run(until=lambda: len(pair.messages("server")) + len(pair.messages("client"))
             == 50 * rounds)
    for i, channel in enumerate(channels):
        receiver = "server" if i < 25 else "client"
        got = [m for m in pair.messages(receiver, channel.id)]
        assert all(isinstance(m, str) and m.startswith(f"{i}:") for m in got)
        numbers = [int(str(m).split(":")[1]) for m in got]
        if channel.ordered:
            assert numbers == list(range(rounds))
        else:
            assert sorted(numbers) == list(range(rounds))
    assert len(pair.of("server", ChannelOpened)) == 50
    assert len(pair.of("client", ChannelOpened)) == 50


# --- closing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("closer", ["client", "server"])
def test_closing_either_end_closes_both_and_frees_the_id(closer: str) -> None:
    """RFC 8831 §6.7: closing resets the outgoing stream; the peer resets its own in answer;
    messages sent before close() are delivered first; the id can then be used again."""
    pair = connected_pair()
    local = pair.client.create_channel("closing", now=pair.now)
    pair.settle()
    remote = pair.remote_channel("server", local.id)
    ours = local if closer == "client" else remote
    theirs = remote if closer == "client" else local
    other = "server" if closer == "client" else "client"
    for i in range(5):
        ours.send(payload(2000, i), now=pair.now)
    ours.close(now=pair.now)
    assert ours.ready_state == DataChannelState.CLOSING
    with pytest.raises(InvalidStateError):
        ours.send(b"after close", now=pair.now)
    ours.close(now=pair.now)  # again: nothing more
    pair.settle()
    assert pair.messages(other, theirs.id) == [payload(2000, i) for i in range(5)]
    last_message = max(i for i, e in enumerate(pair.events[other])
                       if isinstance(e, ChannelMessage))
    closed_at = next(i for i, e in enumerate(pair.events[other])
                     if isinstance(e, ChannelClosed))
    assert last_message < closed_at
    assert local.ready_state == remote.ready_state == DataChannelState.CLOSED
    assert pair.closed_ids("client") == pair.closed_ids("server") == [local.id]
    assert pair.client.channels == {} and pair.server.channels == {}
    with pytest.raises(InvalidStateError):
        theirs.send(b"x", now=pair.now)
    # the id is free again, on both sides, and the streams start afresh
    again = pair.client.create_channel("again", now=pair.now)
    assert again.id == local.id
    again.send("fresh", now=pair.now)
    pair.settle()
    assert pair.remote_channel("server", again.id, "again").ready_state == DataChannelState.OPEN
    assert pair.messages("server", again.id)[-1] == "fresh"
    assert pair.client.dropped_messages == pair.server.dropped_messages == 0


def test_closing_both_ends_at_once() -> None:
    pair = connected_pair()
    local = pair.client.create_channel("both", now=pair.now)
    keep = pair.client.create_channel("keep", now=pair.now)
    pair.settle()
    remote = pair.remote_channel("server", local.id)
    local.send("from client", now=pair.now)
    remote.send("from server", now=pair.now)
    local.close(now=pair.now)
    remote.close(now=pair.now)
    pair.settle()
    assert pair.messages("server", local.id) == ["from client"]
    assert pair.messages("client", local.id) == ["from server"]
    assert pair.closed_ids("client") == pair.closed_ids("server") == [local.id]
    assert local.ready_state == remote.ready_state == DataChannelState.CLOSED
    keep.send("unaffected", now=pair.now)
    pair.settle()
    assert pair.messages("server", keep.id) == ["unaffected"]


def test_closing_a_channel_before_connect() -> None:
    pair = Pair.make()
    channel = pair.client.create_channel("never", now=0.0)
    channel.close(now=0.0)
    assert channel.ready_state == DataChannelState.CLOSED
    pair.connect()
    pair.settle()
    assert pair.closed_ids("client") == [channel.id]
    assert pair.dcep_on_wire() == []
    assert pair.client.create_channel("next", now=pair.now).id == channel.id


def test_id_reused_while_the_peer_still_waits_for_its_reset_answer() -> None:
    """The closing side is done once the peer has reset its stream; the RE-CONFIG response that
    tells the peer so can be lost while the OPEN of a new channel on the same id arrives.  The
    peer's direction is already reset, so the OPEN is a new channel, not a collision."""
    pair = connected_pair()
    local = pair.client.create_channel("first", now=pair.now)
    pair.settle()
    remote = pair.remote_channel("server", local.id)
    local.close(now=pair.now)
    dropped: list[bytes] = []

    def lose_client_reconfig(sender: str, data: bytes) -> bool:
        if sender == "client" and not dropped and any(
                isinstance(c, ReconfigChunk) for c in parse_chunks(data)) \
                and local.ready_state == DataChannelState.CLOSED:
            dropped.append(data)
            return True
        return False

    pair.drop = lose_client_reconfig
    pair.run(until=lambda: local.ready_state == DataChannelState.CLOSED)
    assert remote.ready_state == DataChannelState.CLOSING
    assert dropped, "the client's RE-CONFIG response was lost"
    again = pair.client.create_channel("second", now=pair.now)
    assert again.id == local.id
    again.send("on the new channel", now=pair.now)
    pair.settle(5.0)
    assert state(remote) == DataChannelState.CLOSED
    assert pair.remote_channel("server", again.id, "second").ready_state == DataChannelState.OPEN
    assert pair.messages("server", again.id) == ["on the new channel"]
    assert pair.server.dropped_messages == 0


# --- the transport --------------------------------------------------------------------------------


@pytest.mark.parametrize("closer", ["client", "server"])
def test_shutdown_closes_every_channel(closer: str) -> None:
    """RFC 9260 §9.2 graceful shutdown: queued data goes first, then every channel closes and
    TransportClosed(None) reports a clean end on both sides."""
    pair = connected_pair()
    channels = [pair.client.create_channel(f"c{i}", now=pair.now) for i in range(3)]
    channels.append(pair.server.create_channel("s", now=pair.now))
    pair.settle()
    channels[0].send(payload(50_000), now=pair.now)
    pair.peer(closer).close(now=pair.now)
    pair.run(until=lambda: all(pair.of(s, TransportClosed) for s in SIDES))
    assert pair.messages("server", channels[0].id) == [payload(50_000)]
    for side in SIDES:
        assert [(e.error, e.remote) for e in pair.of(side, TransportClosed)] in (
            [(None, False)], [(None, True)])
        assert sorted(pair.closed_ids(side)) == sorted(c.id for c in channels)
        assert isinstance(pair.events[side][-1], TransportClosed)
        assert pair.peer(side).association.state == AssociationState.CLOSED
    assert all(c.ready_state == DataChannelState.CLOSED for c in channels)
    with pytest.raises(InvalidStateError):
        pair.client.create_channel("late", now=pair.now)
    pair.client.close(now=pair.now)  # closing again is harmless


def test_create_channel_during_shutdown_is_refused_cleanly() -> None:
    pair = connected_pair()
    busy = pair.client.create_channel("busy", now=pair.now)
    busy.send(payload(100_000), now=pair.now)
    pair.client.close(now=pair.now)
    with pytest.raises(InvalidStateError):
        pair.client.create_channel("late", now=pair.now)
    with pytest.raises(InvalidStateError):
        busy.send(b"refused", now=pair.now)  # the association refuses it: nothing counted
    assert (busy.messages_sent, busy.bytes_sent) == (1, 100_000)
    assert busy.buffered_amount <= 100_000
    assert [c.label for c in pair.client.channels.values()] == ["busy"]
    pair.run(until=lambda: bool(pair.of("client", TransportClosed)))


# --- lossy links ----------------------------------------------------------------------------------


def test_unreliable_channel_over_a_lossy_link_delivers_a_clean_subset() -> None:
    """RFC 8831 §6.1/RFC 3758: max_retransmits=0 unordered loses what the link loses, but what
    arrives is whole; a reliable channel on the same association gets everything in order."""
    link = Link(loss=0.15, duplicate=0.05, delay=0.02, jitter=0.01, seed=7)
    pair = connected_pair(link=link)
    lossy = pair.client.create_channel("lossy", ordered=False, max_retransmits=0,
                                       now=pair.now)
    reliable = pair.client.create_channel("reliable", now=pair.now)
    pair.run(until=lambda: lossy.acked and reliable.acked)
    count = 300
    for i in range(count):
        lossy.send(b"%04d" % i + payload(200 + i % 900, i), now=pair.now)
        reliable.send(f"r{i}", now=pair.now)
        pair.run(duration=0.01)
    pair.run(until=lambda: len(pair.messages("server", reliable.id)) == count, duration=120)
    pair.settle(10.0)
    assert pair.messages("server", reliable.id) == [f"r{i}" for i in range(count)]
    got = pair.messages("server", lossy.id)
    indexes = []
    for message in got:
        assert isinstance(message, bytes)
        i = int(message[:4])
        assert message == b"%04d" % i + payload(200 + i % 900, i)
        indexes.append(i)
    assert len(set(indexes)) == len(indexes), "no message is delivered twice"
    assert count // 2 < len(indexes) < count
    assert pair.client.association.stats.abandoned_messages > 0


def test_reliable_channels_over_a_lossy_reordering_link() -> None:
    link = Link(loss=0.08, duplicate=0.05, delay=0.02, jitter=0.03, seed=11)
    pair = Pair.make(link=link, seed=3)
    channels = [pair.client.create_channel(f"c{i}", now=0.0) for i in range(3)]
    pair.connect()
    channels += [pair.server.create_channel(f"s{i}", now=pair.now) for i in range(2)]
    per_channel = 60
    for r in range(per_channel):
        for k, channel in enumerate(channels):
            channel.send(payload(50 + (r * 97 + k * 1301) % 5000, r * 10 + k), now=pair.now)
        pair.run(duration=0.02)
    total = per_channel * len(channels)
    pair.run(until=lambda: len(pair.messages("server")) + len(pair.messages("client")) == total,
             duration=300)
    for k, channel in enumerate(channels):
        receiver = "server" if k < 3 else "client"
        assert pair.messages(receiver, channel.id) == [
            payload(50 + (r * 97 + k * 1301) % 5000, r * 10 + k) for r in range(per_channel)]
    stats = pair.client.association.stats
    assert stats.retransmissions + stats.fast_retransmissions > 0
    assert pair.server.association.stats.duplicate_tsns > 0


# --- garbage from the peer ------------------------------------------------------------------------

injections = st.lists(
    st.tuples(st.integers(0, 40), st.sampled_from([50, 50, 50, 51, 52, 53, 54, 56, 57, 0, 99,
                                                   0xFFFFFFFF]),
              st.one_of(st.binary(min_size=1, max_size=64),
                        st.builds(lambda t, rest: bytes([t]) + rest,
                                  st.sampled_from([2, 3]), st.binary(max_size=40)))),
    min_size=1, max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(injections)
def test_arbitrary_peer_messages_never_break_the_drive_loop(
        injected: list[tuple[int, int, bytes]]) -> None:
    """Anything the peer's association carries -- bytes with PPID 50 that may or may not be
    DCEP, user messages with any PPID on any stream -- is delivered, dropped or counted, never
    raised; real channels keep working afterwards."""
    pair = connected_pair()
    before = pair.client.create_channel("before", now=pair.now)
    pair.settle(0.5)
    for sid, ppid, data in injected:
        pair.server.association.send(sid, data, ppid, now=pair.now)
    pair.settle(0.5)
    before.send("still here", now=pair.now)
    after = pair.client.create_channel("after", now=pair.now)
    after.send(b"after", now=pair.now)
    server_new = pair.server.create_channel("server-new", id=99, now=pair.now)
    if server_new.ready_state == DataChannelState.OPEN:
        server_new.send("from server", now=pair.now)
    pair.settle(1.0)
    assert "still here" in pair.messages("server", before.id)
    assert b"after" in pair.messages("server", after.id)
    assert "from server" in pair.messages("client", server_new.id)
    assert pair.client.association.state == AssociationState.ESTABLISHED


def test_channel_whose_id_exceeds_the_negotiated_streams_is_closed() -> None:
    """An id chosen before connect that the agreed stream count cannot carry is closed when
    the association comes up; the other channels open as usual."""

    client = DataChannels("client", SctpConfig(zero_checksum=True, mtu=1160),
                          random_bytes=SeededRandom(1))
    server = DataChannels("server", SctpConfig(zero_checksum=True, mtu=1160,
                                               inbound_streams=16, outbound_streams=16),
                          random_bytes=SeededRandom(2))
    too_high = client.create_channel("far", now=0.0, negotiated=True, id=100)
    fine = client.create_channel("near", now=0.0)
    client.connect(now=0.0)
    server.connect(now=0.0)
    for _ in range(10):
        for sender, receiver in ((client, server), (server, client)):
            while (packet := sender.poll_transmit()) is not None:
                receiver.handle_packet(packet, now=0.0)
    events = []
    while (event := client.poll_event()) is not None:
        events.append(event)
    assert any(isinstance(e, ChannelClosed) and e.channel is too_high for e in events)
    assert any(isinstance(e, ChannelOpened) and e.channel is fine for e in events)
    assert too_high.ready_state == DataChannelState.CLOSED
    assert fine.ready_state == DataChannelState.OPEN


def test_channel_priority_weighs_its_stream() -> None:
    """RFC 8831 §6.4: a channel's priority becomes its stream's weight in the scheduler, on
    both sides (the peer learns it from DATA_CHANNEL_OPEN); 0 from a peer counts as normal."""
    client = DataChannels("client", random_bytes=SeededRandom(1))
    server = DataChannels("server", random_bytes=SeededRandom(2))
    high = client.create_channel("high", now=0.0, priority=1024)
    client.create_channel("normal", now=0.0)
    client.connect(now=0.0)
    server.connect(now=0.0)
    for _ in range(10):
        for sender, receiver in ((client, server), (server, client)):
            while (packet := sender.poll_transmit()) is not None:
                receiver.handle_packet(packet, now=0.0)
    assert client.association._sched.weights[high.id] == 1024
    assert server.association._sched.weights[high.id] == 1024
    assert server.association._sched.weights[2] == 256


def test_peer_restart_closes_the_old_channels_and_new_ones_work() -> None:
    """RFC 9260 §5.2.4 case A: the peer comes back with a new association (a new INIT while
    ours is established).  Our side restarts, its old channels close (their streams began
    anew), and channels opened afterwards carry data."""
    def pump(a: DataChannels, b: DataChannels) -> None:
        for _ in range(20):
            for sender, receiver in ((a, b), (b, a)):
                while (packet := sender.poll_transmit()) is not None:
                    receiver.handle_packet(packet, now=0.0)

    def drain(side: DataChannels) -> list[object]:
        return list(iter(side.poll_event, None))

    client = DataChannels("client", random_bytes=SeededRandom(11))
    server = DataChannels("server", random_bytes=SeededRandom(12))
    old = client.create_channel("old", now=0.0)
    client.connect(now=0.0)
    server.connect(now=0.0)
    pump(client, server)
    drain(client)
    drain(server)
    assert old.ready_state == DataChannelState.OPEN

    reborn = DataChannels("server", random_bytes=SeededRandom(13))  # the peer, restarted
    reborn.connect(now=1.0)
    pump(client, reborn)
    events = drain(client)
    assert any(isinstance(e, ChannelClosed) and e.channel is old for e in events)
    assert any(isinstance(e, TransportConnected) for e in events)
    assert old.ready_state == DataChannelState.CLOSED
    drain(reborn)

    fresh = client.create_channel("fresh", now=1.0)
    fresh.send("after the restart", now=1.0)
    pump(client, reborn)
    got = [e for e in drain(reborn) if isinstance(e, ChannelMessage)]
    assert [(m.channel.label, m.data) for m in got] == [("fresh", "after the restart")]
