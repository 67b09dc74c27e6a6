"""RTP participant logic for one send stream and one receive stream (RFC 3550, RFC 4585,
RFC 4588, RFC 5104), sans-IO.

- :class:`RtpSendStream` -- packetizes encoded frames into RTP packets (RFC 3550 §5.1: random
  initial sequence number and timestamp offset), writes the negotiated header extensions, keeps
  a history of sent packets and answers RFC 4585 §6.2.1 NACKs from it (RFC 4588 §4 RTX when an
  RTX stream is negotiated), turns PLI (RFC 4585 §6.3.1) and FIR (RFC 5104 §4.3.1) into a
  keyframe request for the encoder, reads report blocks (RFC 3550 §6.4.1: RTT, loss, jitter)
  and REMB, and builds its RFC 3550 §6.4.1 sender report.
- :class:`RtpReceiveStream` -- reception statistics (RFC 3550 Appendix A), the report block for
  our RR/SR, a small jitter buffer that reorders packets and assembles frames, generic NACK
  (RFC 4585 §6.2.1) with RTX unwrapping (RFC 4588 §4), and PLI (RFC 4585 §6.3.1) / FIR
  (RFC 5104 §4.3.1) when a keyframe is needed.

The streams never read a clock: every entry point takes ``now`` (seconds, monotonic) and the
receive stream reports its next deadline with :meth:`RtpReceiveStream.poll_timeout`.  They
never raise on network input (malformed payloads, wild sequence numbers, RTCP for other
sources): such input is dropped and counted in the stream's ``stats``.

Loopback of one video frame::

    >>> from rtcstack.common.randomness import SeededRandom
    >>> from rtcstack.rtp import RtpPacket
    >>> tx = RtpSendStream(ssrc=1111, payload_type=96, clock_rate=90000, codec="VP8",
    ...                    random_bytes=SeededRandom(1))
    >>> rx = RtpReceiveStream(ssrc=1111, clock_rate=90000, codec="VP8", local_ssrc=2222)
    >>> keyframe = bytes([0x10, 0x02, 0x00]) + bytes(3000)
    >>> for data in tx.send_frame(keyframe, 0, keyframe=True, now=0.0):
    ...     rx.handle_packet(RtpPacket.parse(data), now=0.01)
    >>> frame = rx.poll_frame()
    >>> frame.data == keyframe, frame.keyframe, frame.packet_count
    (True, True, 4)

Where later work plugs in:

- *Adaptive bitrate / congestion control* lives above the streams (one controller per
  transport): the send stream writes transport-wide sequence numbers through the
  ``transport_sequence`` callable the peer passes (a counter shared by every stream of the
  transport) and abs-send-time; the controller reads ``TransportCc`` / ``Remb`` feedback (REMB
  is also kept here as ``stats.remote_bitrate``), loss and RTT from ``stats`` and tells the
  encoder its target.  The pacer sits between :meth:`RtpSendStream.send_frame`'s return value
  and the socket.
- *FEC* (ULPFEC, FlexFEC): the sender side protects the packets ``send_frame`` returns on its
  own SSRC; on the receiving side a FEC decoder hands the media packets it recovers to
  :meth:`RtpReceiveStream.handle_recovered_packet`, the same path RTX-repaired packets take.
- *Advanced loss recovery*: NACK decisions are made in one place
  (:meth:`RtpReceiveStream.poll_feedback`, from the ``_missing`` table filled as gaps are seen);
  a reordering estimate or a loss-rate-driven policy replaces that method, and the give-up
  delay is :meth:`RtpReceiveStream.give_up_delay`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from rtcstack.common.errors import ParseError
from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.rtp.extensions import (
    AbsSendTime,
    ExtensionMap,
    Mid,
    RepairedRid,
    Rid,
    TransportSequenceNumber,
)
from rtcstack.rtp.formats import (
    Depacketizer,
    Frame,
    FrameAssembler,
    G711Depacketizer,
    G711Packetizer,
    H264Depacketizer,
    H264Packetizer,
    OpusDepacketizer,
    OpusPacketizer,
    Packetizer,
    Vp8Depacketizer,
    Vp8Packetizer,
    Vp9Depacketizer,
    Vp9Packetizer,
)
from rtcstack.rtp.packet import ONE_BYTE_PROFILE, TWO_BYTE_PROFILE, RtpPacket, rtx_unwrap, rtx_wrap
from rtcstack.rtp.rtcp import (
    Fir,
    FirItem,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    RtcpPacket,
    SenderReport,
)
from rtcstack.rtp.stats import (
    ReceiverStatistics,
    SenderStatistics,
    ntp_compact,
    round_trip_time,
)

__all__ = [
    "AUDIO_CODECS",
    "VIDEO_CODECS",
    "RtpReceiveStats",
    "RtpReceiveStream",
    "RtpSendStats",
    "RtpSendStream",
    "create_depacketizer",
    "create_packetizer",
]

AUDIO_CODECS = frozenset({"opus", "pcmu", "pcma"})
VIDEO_CODECS = frozenset({"vp8", "vp9", "h264"})

MAX_DROPOUT = 3000  # RFC 3550 A.1: a larger forward jump is a restart of the sequence
DEFAULT_RTT = 0.1  # seconds, until a measurement arrives


def _random_int(random_bytes: RandomBytes, size: int) -> int:
    return int.from_bytes(random_bytes(size), "big")


def create_packetizer(
    codec: str, max_payload_size: int = 1200, *, random_bytes: RandomBytes = default_random_bytes
) -> Packetizer:
    """The packetizer of a payload format by encoding name (case-insensitive): ``opus``
    (RFC 7587), ``PCMU``/``PCMA`` (RFC 3551 §4.5.14), ``VP8`` (RFC 7741), ``VP9`` (RFC 9628),
    ``H264`` (RFC 6184, packetization-mode 1).  VP8 and VP9 picture IDs start at a random value
    (RFC 7741 §4.2, RFC 9628 §4.2).  ``ValueError`` for another codec."""
    name = codec.lower()
    if name == "opus":
        return OpusPacketizer(max_payload_size)
    if name in ("pcmu", "pcma"):
        return G711Packetizer(max_payload_size)
    if name == "vp8":
        return Vp8Packetizer(
            max_payload_size, picture_id=_random_int(random_bytes, 2) & 0x7FFF
        )
    if name == "vp9":
        return Vp9Packetizer(
            max_payload_size, picture_id=_random_int(random_bytes, 2) & 0x7FFF
        )
    if name == "h264":
        return H264Packetizer(max_payload_size)
    raise ValueError(f"no RTP payload format for codec {codec!r}")


def create_depacketizer(codec: str) -> Depacketizer:
    """The depacketizer of a payload format by encoding name (as :func:`create_packetizer`)."""
    name = codec.lower()
    if name == "opus":
        return OpusDepacketizer()
    if name in ("pcmu", "pcma"):
        return G711Depacketizer()
    if name == "vp8":
        return Vp8Depacketizer()
    if name == "vp9":
        return Vp9Depacketizer()
    if name == "h264":
        return H264Depacketizer()
    raise ValueError(f"no RTP payload format for codec {codec!r}")


def _header_size(packet: RtpPacket) -> int:
    """The bytes of ``packet`` that are not payload: RFC 3550 §5.1 fixed header, CSRCs,
    §5.3.1 extension and padding (computed, not serialized)."""
    size = 12 + 4 * len(packet.csrcs) + packet.padding
    extensions = packet.extensions
    profile = packet.extension_profile
    if extensions or profile is not None:
        if profile is None:
            profile = ONE_BYTE_PROFILE
            for ident, data in extensions:
                if not (1 <= ident <= 14 and 1 <= len(data) <= 16):
                    profile = TWO_BYTE_PROFILE
                    break
        if profile == ONE_BYTE_PROFILE:
            body = sum(1 + len(d) for _, d in extensions)
        elif profile & 0xFFF0 == TWO_BYTE_PROFILE:
            body = sum(2 + len(d) for _, d in extensions)
        else:
            body = sum(len(d) for _, d in extensions)
        size += 4 + body + (-body & 3)
    return size


# --- sending ---------------------------------------------------------------------------------


@dataclass(slots=True)
class RtpSendStats:
    """What a send stream counts (the W3C webrtc-stats outbound-rtp and remote-inbound-rtp
    members).  ``packets_sent`` and ``bytes_sent`` (payload bytes) include retransmissions;
    ``retransmitted_*`` are that share.  ``remote_*`` and ``rtt`` come from the report blocks
    the remote sends about this SSRC (RFC 3550 §6.4.1); ``remote_jitter`` is in seconds,
    ``remote_fraction_lost`` in [0, 1]; ``remote_bitrate`` is the last REMB, in bit/s."""

    ssrc: int
    rtx_ssrc: int | None = None
    packets_sent: int = 0
    bytes_sent: int = 0
    header_bytes_sent: int = 0
    retransmitted_packets_sent: int = 0
    retransmitted_bytes_sent: int = 0
    nack_count: int = 0
    pli_count: int = 0
    fir_count: int = 0
    frames_sent: int = 0
    keyframes_sent: int = 0
    last_packet_sent_at: float | None = None
    rtt: float | None = None
    total_rtt: float = 0.0
    rtt_measurements: int = 0
    remote_jitter: float = 0.0
    remote_packets_lost: int = 0
    remote_fraction_lost: float = 0.0
    remote_report_at: float | None = None
    remote_bitrate: int | None = None


class _Sent:
    """One packet of the send history: the packet and when it was last retransmitted."""

    __slots__ = ("packet", "resent_at")

    def __init__(self, packet: RtpPacket) -> None:
        self.packet = packet
        self.resent_at: float | None = None


class RtpSendStream:
    """One outgoing RTP stream (an SSRC, and its RTX SSRC if negotiated).

    ``send_frame`` returns serialized, unprotected RTP packets (the caller protects them with
    SRTP and sends them); ``handle_rtcp`` takes feedback about this SSRC and returns the
    retransmissions to send.  The encoder polls :meth:`poll_keyframe_request`.

    ``transport_sequence``: when the extension map has the transport-wide sequence number
    (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2), its value comes from this
    callable, which the peer shares between all streams of a transport ("counted over every
    packet of the transport"); without it the stream counts on its own, which is only right
    when it is alone on its transport.  ``initial_sequence`` and ``timestamp_offset`` replace
    the random values of RFC 3550 §5.1 (for tests); otherwise ``random_bytes`` is drawn for the
    sequence number (2 bytes), the timestamp offset (4), the RTX sequence number (2) and the
    VP8/VP9 picture ID (2), in that order.
    """

    def __init__(
        self,
        *,
        ssrc: int,
        payload_type: int,
        clock_rate: int,
        codec: str,
        rtx_ssrc: int | None = None,
        rtx_payload_type: int | None = None,
        extensions: ExtensionMap | None = None,
        mid: str | None = None,
        rid: str | None = None,
        max_payload_size: int = 1200,
        history_size: int = 512,
        random_bytes: RandomBytes = default_random_bytes,
        transport_sequence: Callable[[], int] | None = None,
        initial_sequence: int | None = None,
        timestamp_offset: int | None = None,
        packetizer: Packetizer | None = None,
    ) -> None:
        if not 0 <= ssrc <= 0xFFFFFFFF:
            raise ValueError(f"SSRC {ssrc} is not 32 bits")
        if not 0 <= payload_type <= 127:
            raise ValueError(f"payload type {payload_type} is not 0-127")
        if clock_rate <= 0:
            raise ValueError("clock_rate must be positive")
        if (rtx_ssrc is None) != (rtx_payload_type is None):
            raise ValueError("RTX needs both rtx_ssrc and rtx_payload_type (RFC 4588 §8)")
        if not 1 <= history_size <= 0x8000:
            raise ValueError("history_size must be 1-32768 (half the sequence number space)")
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.codec = codec
        self.kind = "audio" if codec.lower() in AUDIO_CODECS else "video"
        self.rtx_ssrc = rtx_ssrc
        self.rtx_payload_type = rtx_payload_type
        self.mid = mid
        self.rid = rid
        self.history_size = history_size
        self._video = self.kind == "video"
        self._seq = (
            _random_int(random_bytes, 2) if initial_sequence is None else initial_sequence
        ) & 0xFFFF
        self._ts_offset = (
            _random_int(random_bytes, 4) if timestamp_offset is None else timestamp_offset
        ) & 0xFFFFFFFF
        self._rtx_seq = _random_int(random_bytes, 2)
        self._packetizer = packetizer if packetizer is not None else create_packetizer(
            codec, max_payload_size, random_bytes=random_bytes
        )
        extmap = extensions if extensions is not None else ExtensionMap({})
        # Static elements, encoded once: mid (RFC 9143 §15: on every packet, the simple and
        # always correct choice), rid (RFC 8852 §3.1) or, on RTX, repaired-rid (§3.2).
        static: list[tuple[int, bytes]] = []
        static_rtx: list[tuple[int, bytes]] = []
        mid_id = extmap.id_of(Mid)
        if mid is not None and mid_id is not None:
            static.append((mid_id, Mid(mid).encode()))
            static_rtx.append((mid_id, Mid(mid).encode()))
        rid_id = extmap.id_of(Rid)
        rrid_id = extmap.id_of(RepairedRid)
        if rid is not None and rid_id is not None:
            static.append((rid_id, Rid(rid).encode()))
        if rid is not None and rrid_id is not None:
            static_rtx.append((rrid_id, RepairedRid(rid).encode()))
        self._static = tuple(static)
        self._static_rtx = tuple(static_rtx)
        self._abs_send_time_id = extmap.id_of(AbsSendTime)
        self._tseq_id = extmap.id_of(TransportSequenceNumber)
        self._tseq_counter = 0
        self._transport_sequence = transport_sequence
        self._history: dict[int, _Sent] = {}
        self._sender = SenderStatistics(ssrc, clock_rate)
        self._rtx_sender = SenderStatistics(rtx_ssrc if rtx_ssrc is not None else 0, clock_rate)
        self._first_packet = True
        self._keyframe_requested = False
        self._fir_seen: dict[int, int] = {}  # sender SSRC -> last FIR command sequence number
        self._sr_offsets: dict[int, float] = {}  # LSR (compact NTP) of our SRs -> ntp - now
        self.stats = RtpSendStats(ssrc=ssrc, rtx_ssrc=rtx_ssrc)

    def continue_from(self, previous: RtpSendStream) -> None:
        """Go on numbering where ``previous`` (the same SSRC before a renegotiation changed its
        payload type or extension IDs) stopped: RFC 3550 §5.1 "The sequence number increments
        by one for each RTP data packet sent"; a number reused under one SSRC is a replay to
        SRTP (RFC 3711 §3.3.2) and the packet could not even be protected.  The timestamp
        offset, the RTX numbering and the SR counts (§6.4.1) carry on too."""
        if previous.ssrc != self.ssrc:
            raise ValueError("only a stream of the same SSRC can be continued")
        self._seq, self._ts_offset = previous._seq, previous._ts_offset
        if previous.rtx_ssrc == self.rtx_ssrc:
            self._rtx_seq = previous._rtx_seq
            self._rtx_sender = previous._rtx_sender
        self._sender = previous._sender
        self._sender.clock_rate = self.clock_rate
        self._first_packet = previous._first_packet
        self.stats = replace(previous.stats, rtx_ssrc=self.rtx_ssrc)

    # --- media ------------------------------------------------------------------------------

    def _extensions(self, now: float, static: tuple[tuple[int, bytes], ...]
                    ) -> tuple[tuple[int, bytes], ...]:
        ident = self._abs_send_time_id
        tseq = self._tseq_id
        if ident is None and tseq is None:
            return static
        out = list(static)
        if ident is not None:
            out.append((ident, AbsSendTime.from_seconds(now).encode()))
        if tseq is not None:
            if self._transport_sequence is not None:
                number = self._transport_sequence() & 0xFFFF
            else:
                number = self._tseq_counter
                self._tseq_counter = (number + 1) & 0xFFFF
            out.append((tseq, number.to_bytes(2, "big")))
        return tuple(out)

    def send_frame(
        self, data: bytes, timestamp: int, *, keyframe: bool = False, now: float
    ) -> list[bytes]:
        """RTP packets for one encoded frame (RFC 3550 §5.1).

        ``timestamp`` is the frame's time on the codec clock; the stream adds its random
        offset.  The marker is set on the last packet of a video frame (RFC 7741 §4.1,
        RFC 6184 §5.1, RFC 9628 §4.3) and on the first packet of an audio stream (RFC 3551 §4.1,
        the start of a talkspurt).  ``ValueError`` when the packetizer cannot take the frame
        (e.g. an empty frame, or an Opus packet larger than ``max_payload_size``).
        """
        payloads = self._packetizer.packetize(data)
        ts = (timestamp + self._ts_offset) & 0xFFFFFFFF
        # abs-send-time is the same for the whole burst; a transport-wide sequence number is
        # per packet.
        per_packet = self._tseq_id is not None
        shared = self._static if per_packet else self._extensions(now, self._static)
        out: list[bytes] = []
        last = len(payloads) - 1
        stats = self.stats
        history = self._history
        for i, (payload, marker) in enumerate(payloads):
            if self._video:
                marker = i == last
            elif self._first_packet:
                marker = True
            self._first_packet = False
            seq = self._seq
            self._seq = (seq + 1) & 0xFFFF
            extensions = self._extensions(now, self._static) if per_packet else shared
            packet = RtpPacket(
                self.payload_type, seq, ts, self.ssrc, payload, marker, (), extensions
            )
            wire = packet.serialize()
            out.append(wire)
            history.pop(seq, None)
            history[seq] = _Sent(packet)
            if len(history) > self.history_size:
                del history[next(iter(history))]
            stats.packets_sent += 1
            stats.bytes_sent += len(payload)
            stats.header_bytes_sent += len(wire) - len(payload)
            self._sender.sent(ts, len(payload), now)
        stats.frames_sent += 1
        if keyframe:
            stats.keyframes_sent += 1
        stats.last_packet_sent_at = now
        return out

    def _retransmit(self, sequence_numbers: list[int], now: float) -> list[bytes]:
        """RFC 4585 §6.2.1 / RFC 4588 §4: resend the packets still in the history, each at
        most once per ~RTT (10 ms while the RTT is unknown)."""
        rtt = self.stats.rtt
        min_interval = max(0.01, 0.85 * rtt) if rtt is not None else 0.01
        out: list[bytes] = []
        stats = self.stats
        for seq in sequence_numbers:
            entry = self._history.get(seq)
            if entry is None:
                continue
            if entry.resent_at is not None and now - entry.resent_at < min_interval:
                continue
            entry.resent_at = now
            original = entry.packet
            if self.rtx_ssrc is not None and self.rtx_payload_type is not None:
                # RFC 4588 §4: own SSRC, own sequence numbers, the OSN before the payload.
                packet = rtx_wrap(original, self.rtx_payload_type, self._rtx_seq, self.rtx_ssrc)
                self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
                packet.extensions = self._extensions(now, self._static_rtx)
                self._rtx_sender.sent(packet.timestamp, len(packet.payload), now)
            else:
                packet = original.copy(extensions=self._extensions(now, self._static))
                self._sender.sent(packet.timestamp, len(packet.payload), now)
            wire = packet.serialize()
            out.append(wire)
            stats.packets_sent += 1
            stats.bytes_sent += len(original.payload)
            stats.header_bytes_sent += len(wire) - len(original.payload)
            stats.retransmitted_packets_sent += 1
            stats.retransmitted_bytes_sent += len(original.payload)
            stats.last_packet_sent_at = now
        return out

    # --- feedback ---------------------------------------------------------------------------

    def handle_rtcp(self, packet: RtcpPacket, *, now: float) -> list[bytes]:
        """Feedback about this stream (the caller routes by media SSRC; anything about other
        sources is ignored).  Returns the retransmissions a NACK asks for, serialized.

        - ``Nack`` (RFC 4585 §6.2.1): retransmissions from the history;
        - ``Pli`` (RFC 4585 §6.3.1) and ``Fir`` (RFC 5104 §4.3.1): a keyframe request for
          :meth:`poll_keyframe_request`; a FIR whose command sequence number repeats the last
          one from that sender is a retransmission of the same request (RFC 5104 §4.3.1.2) and
          is not counted again;
        - report blocks for our SSRC in ``SenderReport`` / ``ReceiverReport`` (RFC 3550
          §6.4.1): round-trip time, fraction and cumulative lost, jitter;
        - ``Remb``: ``stats.remote_bitrate``.
        """
        stats = self.stats
        if isinstance(packet, Nack):
            if packet.media_ssrc != self.ssrc:
                return []
            stats.nack_count += 1
            return self._retransmit(packet.lost, now)
        if isinstance(packet, Pli):
            if packet.media_ssrc == self.ssrc:
                stats.pli_count += 1
                self._keyframe_requested = True
        elif isinstance(packet, Fir):
            for item in packet.items:
                if item.ssrc != self.ssrc:
                    continue
                # RFC 5104 §4.3.1.2: "the sequence number ... SHALL be increased by 1 for each
                # new command"; a repeated number is the same request sent again.
                if self._fir_seen.get(packet.sender_ssrc) == item.sequence:
                    continue
                if len(self._fir_seen) >= 64 and packet.sender_ssrc not in self._fir_seen:
                    del self._fir_seen[next(iter(self._fir_seen))]
                self._fir_seen[packet.sender_ssrc] = item.sequence
                stats.fir_count += 1
                self._keyframe_requested = True
        elif isinstance(packet, SenderReport | ReceiverReport):
            for block in packet.reports:
                if block.ssrc == self.ssrc:
                    self._report_block(block, now)
        elif isinstance(packet, Remb) and (not packet.ssrcs or self.ssrc in packet.ssrcs):
            stats.remote_bitrate = packet.bitrate
        return []

    def _report_block(self, block: ReportBlock, now: float) -> None:
        """RFC 3550 §6.4.1: what the remote receiver says about this stream."""
        stats = self.stats
        stats.remote_fraction_lost = block.fraction_lost / 256
        stats.remote_packets_lost = block.cumulative_lost
        stats.remote_jitter = block.jitter / self.clock_rate
        stats.remote_report_at = now
        # RTT = A - LSR - DLSR, A the arrival time in compact NTP: our NTP clock at ``now`` is
        # ``now`` plus the offset we had when we sent the SR the block refers to.
        offset = self._sr_offsets.get(block.lsr)
        if offset is None:
            return  # no LSR, or not one of our SRs
        rtt = round_trip_time(block, now + offset)
        if rtt is None:
            return
        stats.rtt = rtt
        stats.total_rtt += rtt
        stats.rtt_measurements += 1

    def poll_keyframe_request(self) -> bool:
        """Whether a PLI or FIR asked for a keyframe since the last call."""
        requested = self._keyframe_requested
        self._keyframe_requested = False
        return requested

    def sender_report(self, *, now: float, ntp_time: float) -> SenderReport | None:
        """RFC 3550 §6.4.1 SR for this stream, without report blocks (the caller adds those of
        its receive streams), once it has sent something; the RTP timestamp is the last one
        sent extrapolated to ``now``.  ``ntp_time`` is the wallclock (seconds since 1900)."""
        if self._sender.packets == 0:
            return None
        ntp, rtp, packets, octets = self._sender.sender_info(now, ntp_time)
        self._remember_sr(now, ntp_time)
        return SenderReport(self.ssrc, ntp, rtp, packets, octets)

    def rtx_sender_report(self, *, now: float, ntp_time: float) -> SenderReport | None:
        """The SR of the RTX stream (RFC 4588 §8: it is an RTP stream of its own), once it has
        sent a retransmission, else None."""
        if self.rtx_ssrc is None or self._rtx_sender.packets == 0:
            return None
        ntp, rtp, packets, octets = self._rtx_sender.sender_info(now, ntp_time)
        return SenderReport(self.rtx_ssrc, ntp, rtp, packets, octets)

    def _remember_sr(self, now: float, ntp_time: float) -> None:
        offsets = self._sr_offsets
        lsr = ntp_compact(ntp_time)
        offsets.pop(lsr, None)
        offsets[lsr] = ntp_time - now
        if len(offsets) > 16:
            del offsets[next(iter(offsets))]

    @property
    def history_length(self) -> int:
        """How many sent packets are kept for retransmission (at most ``history_size``)."""
        return len(self._history)


# --- receiving -------------------------------------------------------------------------------


@dataclass(slots=True)
class RtpReceiveStats:
    """What a receive stream counts (the W3C webrtc-stats inbound-rtp and remote-outbound-rtp
    members).

    ``packets_received`` counts the packets of this stream that carried media, retransmissions
    included (``retransmitted_packets_received`` is that share); ``bytes_received`` is their
    payload bytes.  ``packets_lost`` and ``jitter`` (seconds) are RFC 3550 A.3 / A.8 over the
    packets that arrived on the media SSRC itself, as in the report block we send, so a packet
    repaired by RTX still counts as lost on the network.  ``packets_discarded``: too late (its
    frame was already given up or released) or not of this stream's payload type;
    ``frames_dropped``: frames given up incomplete, or not decodable while waiting for a
    keyframe.  ``nack_count``, ``pli_count`` and ``fir_count`` are the feedback packets *sent*.
    """

    ssrc: int
    packets_received: int = 0
    bytes_received: int = 0
    header_bytes_received: int = 0
    packets_lost: int = 0
    jitter: float = 0.0
    packets_duplicated: int = 0
    packets_discarded: int = 0
    retransmitted_packets_received: int = 0
    retransmitted_bytes_received: int = 0
    nack_count: int = 0
    pli_count: int = 0
    fir_count: int = 0
    frames_received: int = 0
    keyframes_received: int = 0
    frames_dropped: int = 0
    last_packet_received_at: float | None = None
    remote_packets_sent: int = 0
    remote_bytes_sent: int = 0
    remote_report_at: float | None = None
    #: the 64-bit NTP timestamp of the last SR (the sender's clock, RFC 3550 §6.4.1)
    remote_ntp_timestamp: int | None = None


class _Missing:
    """A sequence number seen missing: when, when last NACKed, how many times."""

    __slots__ = ("detected", "sent_at", "tries")

    def __init__(self, detected: float) -> None:
        self.detected = detected
        self.sent_at: float | None = None
        self.tries = 0


# A held packet: (arrival time, timestamp, marker, payload); an empty payload is padding.
_Held = tuple[float, int, bool, bytes]


class RtpReceiveStream:
    """One incoming RTP stream (an SSRC, and its RTX SSRC if negotiated).

    Drive it with :meth:`handle_packet` (packets of the media or RTX SSRC, the caller routes),
    :meth:`handle_sender_report`, :meth:`handle_timeout` at :meth:`poll_timeout`; drain
    :meth:`poll_frame` (frames in decode order) and :meth:`poll_feedback` (NACK, PLI/FIR to
    send, with ``local_ssrc`` as their sender SSRC); put :meth:`report_block` in our RR/SR.

    **The jitter buffer.**  Packets are released in sequence-number order to a
    :class:`~rtcstack.rtp.formats.FrameAssembler`, so a frame is released when it is complete
    and every earlier frame has been released or given up.  A missing packet holds back
    everything after it until it arrives (original or RTX) or is given up: for video with NACK
    after :meth:`give_up_delay` (``max(2.5 x RTT, 150 ms)``) from when the gap was seen, or when
    ``max_packets`` are held; otherwise once ``reorder_window`` newer packets are held or after
    ``reorder_delay``.  The frame with the gap is then dropped, and video waits for a keyframe
    (frames until then are dropped too, a PLI asks for one).  The first packets are held
    ``startup_delay`` (or until ``startup_packets`` are in) so that reordering at the very start
    does not lose the first frame.  Empty payloads (RTP padding-only packets) take a sequence
    number but no place in a frame.  ``keyframe_gate=False`` hands out every complete frame
    even after a loss (for streams whose key frames the depacketizer cannot see, e.g. H.264
    intra refresh without IDR); PLIs are still sent.

    **Feedback.**  Generic NACK (RFC 4585 §6.2.1) as soon as a gap is seen, retried every RTT
    (``DEFAULT_RTT`` until :meth:`update_rtt` gives one) up to ``nack_retries`` times, dropped
    when the packet is given up or older than ``max_packets``.  PLI (RFC 4585 §6.3.1; or FIR,
    RFC 5104 §4.3.1, with ``pli=False, fir=True``) when a frame was given up, when the stream
    starts with a non-keyframe, or on :meth:`request_keyframe`: at most one per
    ``pli_interval`` (300 ms), and a request the sender has not answered with a keyframe is
    repeated every ``pli_retry_interval``.
    """

    def __init__(
        self,
        *,
        ssrc: int,
        clock_rate: int,
        codec: str,
        payload_type: int | None = None,
        rtx_ssrc: int | None = None,
        rtx_payload_type: int | None = None,
        nack: bool = True,
        pli: bool = True,
        kind: str = "video",
        local_ssrc: int = 1,
        fir: bool = False,
        depacketizer: Depacketizer | None = None,
        nack_retries: int = 10,
        max_delay: float | None = None,
        reorder_window: int | None = None,
        reorder_delay: float = 0.05,
        max_packets: int = 1024,
        startup_delay: float = 0.02,
        startup_packets: int = 3,
        pli_interval: float = 0.3,
        pli_retry_interval: float = 1.0,
        max_frames: int = 256,
        keyframe_gate: bool = True,
    ) -> None:
        if clock_rate <= 0:
            raise ValueError("clock_rate must be positive")
        if kind not in ("audio", "video"):
            raise ValueError(f"kind {kind!r} is not 'audio' or 'video'")
        if max_packets < 1 or max_frames < 1 or startup_packets < 1:
            raise ValueError("max_packets, max_frames and startup_packets must be positive")
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.codec = codec
        self.payload_type = payload_type
        self.rtx_ssrc = rtx_ssrc
        self.rtx_payload_type = rtx_payload_type
        self.nack = nack
        self.pli = pli
        self.fir = fir
        self.kind = kind
        self.local_ssrc = local_ssrc
        self.nack_retries = nack_retries
        self.max_delay = max_delay
        self.reorder_window = (
            reorder_window if reorder_window is not None else (3 if kind == "audio" else 16)
        )
        self.reorder_delay = reorder_delay
        self.max_packets = max_packets
        self.startup_delay = startup_delay
        self.startup_packets = startup_packets
        self.pli_interval = pli_interval
        self.pli_retry_interval = pli_retry_interval
        self.max_frames = max_frames
        self.rtt: float | None = None
        self._video = kind == "video"
        dep = depacketizer if depacketizer is not None else create_depacketizer(codec)
        # In-order input, so a gap reaching the assembler is one we gave up: a reorder window
        # of one makes it drop the incomplete frame at once.
        self._assembler = FrameAssembler(dep, reorder_window=1, max_packets=max_packets)
        self._assembler_dropped = 0
        self._rstats = ReceiverStatistics(ssrc, clock_rate)
        self._media_packets = 0
        # The sequence buffer, by extended sequence number; insertion order is arrival order.
        self._buffer: dict[int, _Held] = {}
        self._highest: int | None = None
        self._expected: int | None = None  # next to release; None while starting
        self._bad_seq: int | None = None
        self._seen: dict[int, None] = {}  # recent extended sequence numbers, for duplicates
        self._missing: dict[int, _Missing] = {}
        # Released to the assembler: its own contiguous numbering (padding removed, long gaps
        # shortened), and the real sequence number of each packet it holds.
        self._released: int | None = None  # extended sequence number of the last released
        self._gap = 0  # sequence numbers given up since the last packet pushed
        self._aseq = 0x10000  # assembler extended sequence number of the last push
        self._aseq_real: dict[int, int] = {}
        self._ready: deque[Frame] = deque()
        self.keyframe_gate = keyframe_gate and self._video
        self._need_keyframe = self.keyframe_gate  # video frames wait for a keyframe
        self._want_keyframe = False  # a PLI/FIR is to be sent
        self._pli_outstanding = False  # sent, and no keyframe since
        self._last_pli: float | None = None
        self._fir_seq = 0
        self._now = 0.0
        self._counters = RtpReceiveStats(ssrc=ssrc)

    @property
    def stats(self) -> RtpReceiveStats:
        """The counters (:class:`RtpReceiveStats`), with ``packets_lost`` and ``jitter`` as of
        the last packet."""
        counters = self._counters
        counters.packets_lost = self._rstats.lost
        counters.jitter = self._rstats.jitter / self.clock_rate
        return counters

    # --- input ------------------------------------------------------------------------------

    def update_rtt(self, rtt: float) -> None:
        """The round-trip time to the sender (the peer knows it from its own send streams'
        reports or from RFC 3611 XR DLRR); NACK retries and the give-up delay follow it."""
        if rtt >= 0:
            self.rtt = rtt

    def give_up_delay(self) -> float:
        """How long a gap may hold back the frames after it (seconds)."""
        if self.max_delay is not None:
            return self.max_delay
        if self.nack:
            rtt = self.rtt if self.rtt is not None else DEFAULT_RTT
            return max(2.5 * rtt, 0.15)
        return self.reorder_delay

    def handle_packet(self, packet: RtpPacket, *, now: float) -> None:
        """A packet of this stream, or of its RTX stream (unwrapped, RFC 4588 §4)."""
        self._now = now
        stats = self._counters
        if packet.ssrc != self.ssrc:
            if self.rtx_ssrc is not None and packet.ssrc == self.rtx_ssrc and (
                self.rtx_payload_type is None or packet.payload_type == self.rtx_payload_type
            ):
                self._handle_rtx(packet, now)
            return
        if self.payload_type is not None and packet.payload_type != self.payload_type:
            stats.packets_discarded += 1
            return
        payload = packet.payload
        stats.last_packet_received_at = now
        stats.header_bytes_received += _header_size(packet)
        self._rstats.receive(packet.sequence_number, packet.timestamp, now)
        self._media_packets += 1
        if payload:
            stats.packets_received += 1
            stats.bytes_received += len(payload)
        self._insert(packet.sequence_number, packet.timestamp, packet.marker, payload, now,
                     retransmission=False)

    def _handle_rtx(self, packet: RtpPacket, now: float) -> None:
        stats = self._counters
        stats.last_packet_received_at = now
        try:
            original = rtx_unwrap(packet, self.payload_type or 0, self.ssrc)
        except ParseError:  # padding only (bandwidth probing), no OSN
            stats.header_bytes_received += _header_size(packet) + len(packet.payload)
            return
        stats.header_bytes_received += _header_size(packet) + 2
        if not original.payload:
            return
        size = len(original.payload)
        stats.packets_received += 1
        stats.bytes_received += size
        stats.retransmitted_packets_received += 1
        stats.retransmitted_bytes_received += size
        self._insert(original.sequence_number, original.timestamp, original.marker,
                     original.payload, now, retransmission=True)

    def handle_recovered_packet(self, packet: RtpPacket, *, now: float) -> None:
        """A media packet of this stream recovered by a repair mechanism other than RTX (FEC,
        RFC 5109 / RFC 8627): into the jitter buffer, not the reception statistics."""
        self._now = now
        if packet.payload:
            self._insert(packet.sequence_number, packet.timestamp, packet.marker,
                         packet.payload, now, retransmission=True)

    def _insert(self, seq: int, timestamp: int, marker: bool, payload: bytes, now: float, *,
                retransmission: bool) -> None:
        stats = self._counters
        seq &= 0xFFFF
        highest = self._highest
        if highest is None:
            ext = seq + 0x10000
        else:
            delta = (seq - highest) & 0xFFFF
            ext = highest + delta - 0x10000 if delta >= 0x8000 else highest + delta
        if ext in self._seen:
            stats.packets_duplicated += 1
            return
        expected = self._expected
        if expected is not None and ext < expected:
            if expected - ext > MAX_DROPOUT and not retransmission and highest is not None:
                # RFC 3550 A.1: a jump far back is a restarted source once the next packet
                # follows it; read it as a jump forward then.
                if seq != self._bad_seq:
                    self._bad_seq = (seq + 1) & 0xFFFF
                    stats.packets_discarded += 1
                    return
                ext = highest + ((seq - highest) & 0xFFFF or 0x10000)
            else:
                stats.packets_discarded += 1
                self._missing.pop(ext, None)
                return
        self._bad_seq = None
        if highest is None or ext > highest:
            if highest is not None and ext - highest > MAX_DROPOUT:
                self._restart(ext)
            elif highest is not None and ext > highest + 1 and self.nack:
                self._mark_missing(highest + 1, ext, now)
            self._highest = ext
        if self._missing:
            self._missing.pop(ext, None)
        seen = self._seen
        seen[ext] = None
        if len(seen) > 2 * self.max_packets:
            del seen[next(iter(seen))]
        if ext == self._expected and not self._buffer:
            # In order with nothing held: straight to the assembler.
            self._expected = ext + 1
            self._push(ext, timestamp, marker, payload)
            return
        self._buffer[ext] = (now, timestamp, marker, payload)
        if self._expected is None:
            self._maybe_start(now)
        else:
            self._release()
            self._check_give_up(now)

    def _mark_missing(self, start: int, end: int, now: float) -> None:
        """RFC 4585 §6.2.1: sequence numbers ``start`` to ``end - 1`` are now known missing."""
        missing = self._missing
        limit = self.max_packets
        if end - start > limit:  # more than we would ever wait for: hopeless
            missing.clear()
            self._lost_reference()
            return
        for ext in range(start, end):
            missing[ext] = _Missing(now)
        if len(missing) > limit:
            for _ in range(len(missing) - limit):
                del missing[next(iter(missing))]
            self._lost_reference()

    def _restart(self, ext: int) -> None:
        """A jump past RFC 3550 A.1's MAX_DROPOUT: what is held is given up (released in order,
        gaps and all), NACKs stop, and the stream goes on from ``ext``."""
        self._missing.clear()
        buffer = self._buffer
        while buffer:
            self._expected = min(buffer)
            self._release()
        self._expected = ext
        self._lost_reference()

    def _maybe_start(self, now: float) -> None:
        buffer = self._buffer
        if not buffer:
            return
        first = next(iter(buffer.values()))[0]
        if len(buffer) >= self.startup_packets or now >= first + self.startup_delay:
            self._expected = min(buffer)
            for ext in [e for e in self._missing if e < self._expected]:
                del self._missing[ext]
            self._release()
            self._check_give_up(now)

    def _release(self) -> None:
        """Hand the packets from ``_expected`` on, while contiguous, to the assembler."""
        buffer = self._buffer
        expected = self._expected
        if expected is None:
            return
        while expected in buffer:
            _, timestamp, marker, payload = buffer.pop(expected)
            self._push(expected, timestamp, marker, payload)
            expected += 1
        self._expected = expected

    def _push(self, ext: int, timestamp: int, marker: bool, payload: bytes) -> None:
        """Release one packet, the next in sequence order, to the assembler."""
        released = self._released
        if released is not None and ext != released + 1:
            self._gap += ext - released - 1
        self._released = ext
        if not payload:
            return  # padding: no place in a frame
        # A gap that was given up stays a gap for the assembler (shortened: it only needs to
        # see one), so it drops the frame that lost packets.
        gap = self._gap
        if gap:
            aseq = self._aseq + 1 + min(gap, 1000)
            self._gap = 0
        else:
            aseq = self._aseq + 1
        self._aseq = aseq
        real = self._aseq_real
        real[aseq] = ext
        if len(real) > self.max_packets:
            del real[next(iter(real))]
        self._assembler.push(aseq & 0xFFFF, timestamp, marker, payload)
        self._collect()

    def _collect(self) -> None:
        """Frames from the assembler, through the keyframe gate."""
        assembler = self._assembler
        stats = self._counters
        dropped = assembler.frames_dropped
        if dropped != self._assembler_dropped:
            stats.frames_dropped += dropped - self._assembler_dropped
            self._assembler_dropped = dropped
            self._lost_reference()
        while (frame := assembler.pop_frame()) is not None:
            aseq = self._aseq
            first = aseq - ((aseq - frame.first_sequence) & 0xFFFF)
            last = aseq - ((aseq - frame.last_sequence) & 0xFFFF)
            real = self._aseq_real
            first_real = real.get(first, first)
            last_real = real.get(last, last)
            while real and next(iter(real)) <= last:
                del real[next(iter(real))]
            frame = Frame(frame.timestamp, frame.data, frame.keyframe,
                          first_real & 0xFFFF, last_real & 0xFFFF)
            if self._need_keyframe:
                if not frame.keyframe:
                    # Undecodable without its references: RFC 4585 §6.3.1 PLI.
                    stats.frames_dropped += 1
                    self._want_keyframe = True
                    continue
                self._need_keyframe = False
            if frame.keyframe:
                stats.keyframes_received += 1
                self._want_keyframe = False
                self._pli_outstanding = False
            stats.frames_received += 1
            ready = self._ready
            ready.append(frame)
            if len(ready) > self.max_frames:
                ready.popleft()
                stats.frames_dropped += 1

    def _lost_reference(self) -> None:
        """A frame was lost: video needs a keyframe before the next frame can be decoded."""
        if self._video:
            self._need_keyframe = self.keyframe_gate
            self._want_keyframe = True

    def _check_give_up(self, now: float) -> None:
        """Give up the gap at the head of the buffer once it waited too long (see class)."""
        buffer = self._buffer
        while buffer and self._expected is not None and self._highest is not None:
            first = next(iter(buffer.values()))[0]
            if self.nack and self.max_delay is None:
                window = self.max_packets
            else:
                window = self.reorder_window
            if (
                now < first + self.give_up_delay()
                and self._highest - self._expected < window
                and len(buffer) < self.max_packets
            ):
                return
            resume = min(buffer)
            missing = self._missing
            if resume - self._expected < len(missing):
                for ext in range(self._expected, resume):
                    missing.pop(ext, None)
            else:
                for ext in [e for e in missing if e < resume]:
                    del missing[ext]
            self._expected = resume
            self._lost_reference()
            self._release()

    def handle_timeout(self, *, now: float) -> None:
        """Give up what waited too long (at :meth:`poll_timeout`)."""
        self._now = now
        if self._expected is None:
            self._maybe_start(now)
        else:
            self._check_give_up(now)

    def request_keyframe(self) -> None:
        """The decoder failed: ask the sender for a keyframe (PLI at the next
        :meth:`poll_feedback`, within the rate limit)."""
        self._want_keyframe = True

    def handle_sender_report(self, report: SenderReport, *, now: float) -> None:
        """RFC 3550 §6.4.1: remember the SR (for LSR/DLSR in our next report block) and the
        sender's counts (remote-outbound-rtp)."""
        if report.ssrc != self.ssrc:
            return
        self._now = now
        self._rstats.receive_sender_report(report.ntp_timestamp, now)
        stats = self._counters
        stats.remote_packets_sent = report.packet_count
        stats.remote_bytes_sent = report.octet_count
        stats.remote_report_at = now
        stats.remote_ntp_timestamp = report.ntp_timestamp

    # --- output -----------------------------------------------------------------------------

    def poll_frame(self) -> Frame | None:
        """The next frame in decode order, or None."""
        return self._ready.popleft() if self._ready else None

    def report_block(self, *, now: float) -> ReportBlock | None:
        """RFC 3550 §6.4.1 report block about this stream for our next RR/SR (starts a new
        fraction-lost interval); None before any packet arrived."""
        if not self._media_packets:
            return None
        return self._rstats.report_block(now)

    def _nack_interval(self) -> float:
        rtt = self.rtt if self.rtt is not None else DEFAULT_RTT
        return max(0.005, rtt)

    def poll_feedback(self, *, now: float) -> list[RtcpPacket]:
        """The feedback due now: a generic NACK (RFC 4585 §6.2.1) for the missing packets
        due a first request or a retry, and a PLI (RFC 4585 §6.3.1) or FIR (RFC 5104 §4.3.1)
        when a keyframe is needed."""
        self._now = now
        out: list[RtcpPacket] = []
        missing = self._missing
        if missing and self.nack:
            interval = self._nack_interval()
            expected = self._expected
            highest = self._highest if self._highest is not None else 0
            due: list[int] = []
            for ext, entry in list(missing.items()):
                if (expected is not None and ext < expected) or highest - ext > self.max_packets:
                    del missing[ext]
                    continue
                if entry.sent_at is None or now >= entry.sent_at + interval:  # as poll_timeout adds
                    if entry.tries >= self.nack_retries:
                        del missing[ext]
                        continue
                    entry.sent_at = now
                    entry.tries += 1
                    due.append(ext)
            if due:
                due.sort()
                out.append(Nack.from_lost(self.local_ssrc, self.ssrc, due))
                self._counters.nack_count += 1
        if self._keyframe_due(now):
            self._last_pli = now
            self._pli_outstanding = True
            if self.pli:
                out.append(Pli(self.local_ssrc, self.ssrc))
                self._counters.pli_count += 1
            else:
                self._fir_seq = (self._fir_seq + 1) & 0xFF
                out.append(Fir(self.local_ssrc, (FirItem(self.ssrc, self._fir_seq),)))
                self._counters.fir_count += 1
        return out

    def _keyframe_at(self) -> float | None:
        """When the next PLI/FIR may go out, or None when none is wanted."""
        if not self._want_keyframe or not (self.pli or self.fir):
            return None
        last = self._last_pli
        if last is None:
            return self._now
        wait = self.pli_retry_interval if self._pli_outstanding else self.pli_interval
        return last + wait

    def _keyframe_due(self, now: float) -> bool:
        at = self._keyframe_at()
        return at is not None and (self._last_pli is None or now >= at)

    def poll_timeout(self) -> float | None:
        """The next deadline: a NACK retry, a gap to give up, a PLI to repeat; None if none.
        A deadline already passed is returned as the last ``now`` seen."""
        deadlines: list[float] = []
        buffer = self._buffer
        if buffer:
            first = next(iter(buffer.values()))[0]
            wait = self.startup_delay if self._expected is None else self.give_up_delay()
            deadlines.append(first + wait)
        if self.nack and self._missing:
            interval = self._nack_interval()
            soonest = min(
                (e.detected if e.sent_at is None else e.sent_at + interval)
                for e in self._missing.values()
            )
            deadlines.append(soonest)
        pli = self._keyframe_at()
        if pli is not None:
            deadlines.append(pli)
        if not deadlines:
            return None
        return max(min(deadlines), self._now)

    @property
    def buffered_packets(self) -> int:
        """Packets held by the jitter buffer (the sequence buffer and the frame assembler)."""
        return len(self._buffer) + self._assembler.pending_packets

    @property
    def missing_packets(self) -> int:
        """Sequence numbers currently waited for (NACK candidates)."""
        return len(self._missing)
