"""rtcstack's side of the SCTP data-channel interop tests (``test_sctp_browser``,
``test_sctp_aiortc``): the answer to the peer's offer and the application on top of the
ICE-lite peer's DTLS connection.

:func:`answer` answers an offer of one ``m=application ... UDP/DTLS/SCTP webrtc-datachannel``
section: ``a=ice-lite``, our fingerprint, one host candidate 127.0.0.1:PORT
(:class:`tests.interop.ice_lite.IceLitePeer`, started), ``a=sctp-port:5000`` and
``a=max-message-size:262144``, in the DTLS role that ``setup`` says.

:class:`EchoApp` is the peer's ``application``: once DTLS is up it drives a
:class:`~rtcstack.sctp.DataChannels` (role = our DTLS role, ``SctpConfig(zero_checksum=True,
mtu=connection.max_application_payload)``) whose packets are the DTLS application data, one
record each (RFC 8261 §5).  It echoes every message on the peer's channels, opens a channel of
its own once the association is up (greets; closes it when the peer replied), and records every
packet, event and what each channel received.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rtcstack.dtls import (
    ApplicationData,
    Certificate,
    DtlsConfig,
    DtlsConnection,
    Event,
    HandshakeComplete,
)
from rtcstack.sctp import (
    DEFAULT_REMOTE_MAX_MESSAGE_SIZE,
    AbortChunk,
    ChannelClosed,
    ChannelMessage,
    ChannelOpened,
    ChunkType,
    DataChannel,
    DataChannelEvent,
    DataChannels,
    InitAckChunk,
    InitChunk,
    Packet,
    SctpConfig,
    SctpParseError,
    TransportConnected,
)
from rtcstack.sdp import Fingerprint, SessionDescription
from rtcstack.sdp.attributes import Candidate
from rtcstack.sdp.jsep import DtlsParameters, IceParameters, LocalSpec, create_answer
from tests.interop.ice_lite import IceLitePeer
from tests.interop.netns import Netns

OUR_MAX_MESSAGE_SIZE = 262144  # what our answer advertises (DataChannelSpec's default)
OUR_PROTOCOL = "rtcstack-proto"  # the protocol of the channel rtcstack opens
BURST, BURST_SIZE = 40, 1000  # the unordered maxRetransmits 0 channel's burst
# Our socket's receive buffer: with the default (~208 KiB) a 256 KiB message from the peer
# overflows it on loopback (RcvbufErrors in /proc/net/snmp) while Python catches up, and SCTP
# retransmits (correctly, but a T3 expiry costs a second).
RECEIVE_BUFFER = 4 * 1024 * 1024


def chunks(data: bytes) -> list[Any]:
    """The chunks of one SCTP packet ([] if it does not parse)."""
    try:
        return list(Packet.parse(data).chunks)
    except SctpParseError:
        return []


def chunk_type_names(types: Iterable[int]) -> list[str]:
    """Chunk types by name (hex where unknown), sorted."""
    return sorted(ChunkType(t).name if t in ChunkType._value2member_map_ else hex(t)
                  for t in types)


def digest(message: str | bytes) -> tuple[str, int, int]:
    """A message's type name, UTF-8 length and CRC-32."""
    raw = message.encode() if isinstance(message, str) else message
    return type(message).__name__, len(raw), zlib.crc32(raw)


@dataclass(repr=False)  # its packets would make a repr of megabytes
class EchoApp:
    """rtcstack's side, on the :class:`IceLitePeer` loop's thread (its ``application`` hook):
    a :class:`DataChannels` on the peer's DTLS connection that echoes every message, opens
    ``our_label`` once the association is up (sends ``greeting``; closes it when the peer
    replied), and records every packet, event and what each channel received (type, length,
    CRC-32, in order).  :meth:`setup_channels` is the hook for channels made before connecting.
    """

    dtls: DtlsConnection
    remote_max_message_size: int
    our_label: str
    greeting: str
    our_protocol: str = OUR_PROTOCOL
    channels: DataChannels | None = None
    events: list[DataChannelEvent] = field(default_factory=list)
    packets: list[tuple[str, float, bytes]] = field(default_factory=list)  # direction, at, data
    received: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)  # by label
    ours: DataChannel | None = None
    replies: list[str | bytes] = field(default_factory=list)
    echoed: int = 0
    errors: list[str] = field(default_factory=list)
    _out: list[bytes] = field(default_factory=list)
    _parsed: dict[str, tuple[int, list[Any]]] = field(default_factory=dict)

    # the ApplicationLayer hook ---------------------------------------------------------------

    def handle_dtls_event(self, event: Event, *, now: float) -> None:
        if isinstance(event, HandshakeComplete):
            role = "client" if self.dtls.is_client else "server"
            config = SctpConfig(zero_checksum=True, mtu=self.dtls.max_application_payload)
            self.channels = DataChannels(role, config,
                                         remote_max_message_size=self.remote_max_message_size)
            self.setup_channels(self.channels, now)
            self.channels.connect(now=now)
        elif isinstance(event, ApplicationData):
            self.packets.append(("in", now, event.data))
            if self.channels is None:
                self.errors.append("application data before the handshake completed")
                return
            self.channels.handle_packet(event.data, now=now)
        else:  # the DTLS connection closed
            return
        self._pump(now)

    def handle_timeout(self, *, now: float) -> None:
        if self.channels is not None:
            self.channels.handle_timeout(now=now)
            self._pump(now)

    def poll_timeout(self) -> float | None:
        return None if self.channels is None else self.channels.poll_timeout()

    def poll_transmit(self) -> bytes | None:
        return self._out.pop(0) if self._out else None

    # ----------------------------------------------------------------------------------------

    def setup_channels(self, channels: DataChannels, now: float) -> None:
        """Called once the DataChannels exist, before ``connect``: nothing here."""

    def _pump(self, now: float) -> None:
        """Drain packets before events (the manual's order); what the events cause is sent
        in the same pass."""
        side = self.channels
        assert side is not None
        while True:
            moved = False
            while (packet := side.poll_transmit()) is not None:
                self.packets.append(("out", now, packet))
                self._out.append(packet)
                moved = True
            while (event := side.poll_event()) is not None:
                self.events.append(event)
                self._on_event(event, now)
                moved = True
            if not moved:
                return

    def _on_event(self, event: DataChannelEvent, now: float) -> None:
        side = self.channels
        assert side is not None
        if isinstance(event, TransportConnected):
            self.ours = side.create_channel(self.our_label, protocol=self.our_protocol, now=now)
            self.ours.send(self.greeting, now=now)
        elif isinstance(event, ChannelMessage):
            data = event.data
            self.received.setdefault(event.channel.label, []).append(digest(data))
            if event.channel is self.ours:
                self.replies.append(data)
                event.channel.close(now=now)
                return
            try:
                event.channel.send(data, now=now)
                self.echoed += 1
            except Exception as exc:  # reported to the test
                self.errors.append(f"echo of {digest(data)[1]} on {event.channel}: {exc!r}")

    def shutdown(self, now: float) -> None:
        """RFC 9260 §9.2 graceful shutdown of the association (every channel closes)."""
        assert self.channels is not None
        self.channels.close(now=now)
        self._pump(now)

    # what the test reads (from the test's thread, after the fact or racily but read-only) ---

    def of(self, kind: type) -> list[Any]:
        return [e for e in list(self.events) if isinstance(e, kind)]

    def opened(self, label: str) -> ChannelOpened | None:
        return next((e for e in self.of(ChannelOpened) if e.channel.label == label), None)

    def closed(self, channel: DataChannel | None) -> bool:
        return channel is not None and any(e.channel is channel for e in self.of(ChannelClosed))

    def chunks(self, direction: str) -> list[Any]:
        """Every chunk sent (``"out"``) or received (``"in"``), parsed once per packet count."""
        packets = list(self.packets)
        cached = self._parsed.get(direction)
        if cached is None or cached[0] != len(packets):
            cached = self._parsed[direction] = (len(packets), [
                chunk for d, _, data in packets if d == direction for chunk in chunks(data)])
        return cached[1]

    def aborts(self, direction: str) -> list[AbortChunk]:
        return [c for c in self.chunks(direction) if isinstance(c, AbortChunk)]

    def peer_init(self) -> InitChunk | None:
        """The peer's INIT, or its INIT ACK if it never sent an INIT."""
        found: InitChunk | None = None
        for chunk in self.chunks("in"):
            if type(chunk) is InitChunk:
                return chunk
            if isinstance(chunk, InitAckChunk) and found is None:
                found = chunk
        return found

    def describe(self) -> str:
        lines = [f"events: {self.events[:40]}", f"errors: {self.errors}",
                 f"echoed {self.echoed}, replies {self.replies}"]
        if self.channels is not None:
            lines.append(f"stats: {self.channels.association.stats}, "
                         f"dropped messages {self.channels.dropped_messages}")
        packets = list(self.packets)
        shown = packets if len(packets) <= 60 else [*packets[:40], *packets[-20:]]
        for direction, at, data in shown:
            names = ",".join(ChunkType(c.TYPE).name if c.TYPE in ChunkType._value2member_map_
                             else str(c.TYPE) for c in chunks(data))
            lines.append(f"  {direction:3} {at:.3f} {len(data):5} {names}")
        return "\n".join(lines)


App = TypeVar("App", bound=EchoApp)


def answer(offer_sdp: str, setup: str, make_app: Callable[[DtlsConnection, int], App], *,
           netns: Netns | None = None) -> tuple[str, IceLitePeer, App]:
    """rtcstack's answer to ``offer_sdp`` (``setup``: ``"passive"``, we are the DTLS server,
    or ``"active"``), with a started :class:`IceLitePeer` (in ``netns`` if given) driving
    ``make_app(dtls, the offer's max-message-size)``; returns (answer SDP, peer, app)."""
    offer = SessionDescription.parse(offer_sdp)
    section = next(m for m in offer.media if m.port != 0)
    assert section.media.kind == "application" and section.media.is_sctp, offer_sdp
    assert section.attribute("sctp-port") == "5000", offer_sdp
    certificate = Certificate.generate()
    ice = IceParameters.generate(lite=True)
    prints = offer.fingerprints_for(section)
    config = DtlsConfig(certificate, remote_fingerprints=[(f.algorithm, f.value)
                                                          for f in prints])
    dtls = DtlsConnection(config, "server" if setup == "passive" else "client")
    size = section.attribute("max-message-size")
    app = make_app(dtls, int(size) if size is not None else DEFAULT_REMOTE_MAX_MESSAGE_SIZE)
    peer = IceLitePeer(ice.ufrag, ice.pwd, dtls, netns=netns, application=app,
                       receive_buffer=RECEIVE_BUFFER)
    ufrag, _ = offer.ice_credentials(section)
    peer.remote_ufrag = ufrag or ""
    peer.start()
    candidate = Candidate("1", 1, "udp", 2130706431, "127.0.0.1", peer.port, "host")
    fingerprint = Fingerprint.parse(f"sha-256 {certificate.fingerprint('sha-256')}")
    spec = LocalSpec.default(ice=ice, dtls=DtlsParameters((fingerprint,), setup=setup),
                             kinds=(), data_channel=True)
    spec = dataclasses.replace(spec, candidates=(candidate,), end_of_candidates=True)
    return create_answer(offer, spec).serialize(), peer, app


def peer_report(peer: IceLitePeer) -> str:
    """The ICE-lite peer's DTLS events (but application data), loop error and rejections."""
    dtls = [type(e).__name__ for e in peer.events if not isinstance(e, ApplicationData)]
    return f"dtls events {dtls}, loop error {peer.error!r}, rejected {peer.rejected[:5]}"
