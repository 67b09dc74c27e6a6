"""RTCP packets and compound packets.

RFC 3550 §6.4-6.6 (SR, RR, SDES, BYE, APP) and §6.1 (compound packets); RFC 5506 reduced-size
RTCP (a compound may hold any packets, in any order: :func:`parse_rtcp` does not require SR/RR
first); RFC 3611 §4.4-4.5 XR (RRTR, DLRR); RFC 4585 §6 feedback (generic NACK, PLI, SLI);
RFC 5104 §4 (TMMBR, TMMBN, FIR); draft-holmer-rmcat-transport-wide-cc-extensions-01 §3
(transport-wide congestion control feedback); draft-alvestrand-rmcat-remb-03 (REMB).

Every packet is a frozen value with ``serialize()``; :func:`parse_rtcp` returns a list of them.
Packets of unknown types (and unknown feedback formats, XR blocks) are kept byte for byte, not
fatal.  Padding (the P bit) is accepted on any packet and dropped from the value.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import TypeAlias

from rtcstack.common.errors import ParseError
from rtcstack.common.values import value

__all__ = [
    "APP",
    "BYE",
    "PSFB",
    "RR",
    "RTPFB",
    "SDES",
    "SR",
    "XR",
    "App",
    "Bye",
    "Dlrr",
    "DlrrItem",
    "Feedback",
    "Fir",
    "FirItem",
    "Nack",
    "Pli",
    "ReceiverReport",
    "Remb",
    "ReportBlock",
    "Rrtr",
    "RtcpPacket",
    "Sdes",
    "SdesChunk",
    "SdesItemType",
    "SenderReport",
    "Sli",
    "SliItem",
    "TmmbItem",
    "Tmmbn",
    "Tmmbr",
    "TransportCc",
    "UnknownRtcp",
    "UnknownXrBlock",
    "Xr",
    "XrBlock",
    "is_rtcp",
    "parse_rtcp",
    "serialize_rtcp",
]

SR, RR, SDES, BYE, APP, RTPFB, PSFB, XR = 200, 201, 202, 203, 204, 205, 206, 207

_HDR = struct.Struct("!BBH")
_I = struct.Struct("!I")
_II = struct.Struct("!II")
_HH = struct.Struct("!HH")
_SR = struct.Struct("!IQIII")
_BLOCK = struct.Struct("!IIIIII")
_III = struct.Struct("!III")
_IQ = struct.Struct("!IQ")


def _header(count: int, packet_type: int, body: bytes) -> bytes:
    if len(body) & 3:
        raise ValueError(f"RTCP packet body of {len(body)} bytes is not a whole number of words")
    if not 0 <= count <= 31:
        raise ValueError(f"RTCP count {count} is not 0-31 (RFC 3550 §6.4.1)")
    return _HDR.pack(0x80 | count, packet_type, len(body) >> 2) + body


def _pad4(data: bytes) -> bytes:
    return data + bytes(-len(data) & 3)


class SdesItemType:
    """RFC 3550 §6.5 SDES item types."""

    END, CNAME, NAME, EMAIL, PHONE, LOC, TOOL, NOTE, PRIV = range(9)


# --- SR, RR ---------------------------------------------------------------------------------


@value
class ReportBlock:
    """RFC 3550 §6.4.1 reception report block.

    ``cumulative_lost`` is signed (24 bits): "this value can be negative if duplicates".
    ``lsr`` and ``dlsr`` are the middle 32 bits of an NTP timestamp and a delay in 1/65536 s.
    """

    ssrc: int
    fraction_lost: int = 0
    cumulative_lost: int = 0
    highest_sequence: int = 0
    jitter: int = 0
    lsr: int = 0
    dlsr: int = 0

    def serialize(self) -> bytes:
        if not 0 <= self.fraction_lost <= 255:
            raise ValueError(f"fraction lost {self.fraction_lost} is not 8 bits")
        if not -0x800000 <= self.cumulative_lost <= 0x7FFFFF:
            raise ValueError(f"cumulative lost {self.cumulative_lost} is not a signed 24-bit")
        return _BLOCK.pack(
            self.ssrc,
            (self.fraction_lost << 24) | (self.cumulative_lost & 0xFFFFFF),
            self.highest_sequence,
            self.jitter,
            self.lsr,
            self.dlsr,
        )

    @classmethod
    def _parse(cls, data: bytes, pos: int) -> ReportBlock:
        ssrc, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, pos)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        return cls(ssrc, lost >> 24, cumulative, highest, jitter, lsr, dlsr)


def _report_blocks(data: bytes, pos: int, end: int, count: int) -> tuple[ReportBlock, ...]:
    if pos + 24 * count > end:
        raise ParseError(f"RTCP: {count} report blocks run past the packet", pos)
    return tuple(ReportBlock._parse(data, pos + 24 * i) for i in range(count))


@value
class SenderReport:
    """RFC 3550 §6.4.1 SR: sender info, report blocks and an optional profile extension."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    def serialize(self) -> bytes:
        body = _SR.pack(
            self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count,
            self.octet_count,
        )
        body += b"".join(r.serialize() for r in self.reports) + self.extension
        return _header(len(self.reports), SR, body)


@value
class ReceiverReport:
    """RFC 3550 §6.4.2 RR: report blocks and an optional profile extension."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    def serialize(self) -> bytes:
        body = _I.pack(self.ssrc) + b"".join(r.serialize() for r in self.reports)
        return _header(len(self.reports), RR, body + self.extension)


# --- SDES, BYE, APP -------------------------------------------------------------------------


@value
class SdesChunk:
    """RFC 3550 §6.5: an SSRC/CSRC and its ``(type, value)`` items (CNAME is type 1)."""

    ssrc: int
    items: tuple[tuple[int, bytes], ...] = ()

    def serialize(self) -> bytes:
        out = bytearray(_I.pack(self.ssrc))
        for kind, text in self.items:
            if not 1 <= kind <= 255 or len(text) > 255:
                raise ValueError(f"SDES item type {kind} / {len(text)} bytes is out of range")
            out.append(kind)
            out.append(len(text))
            out += text
        # RFC 3550 §6.5: "The list of items in each chunk MUST be terminated by one or more
        # null octets ... followed by ... padding until the next 32-bit boundary."
        out += bytes(4 - (len(out) & 3))
        return bytes(out)

    def get(self, kind: int) -> bytes | None:
        for k, text in self.items:
            if k == kind:
                return text
        return None


@value
class Sdes:
    """RFC 3550 §6.5 SDES: source description chunks."""

    chunks: tuple[SdesChunk, ...] = ()

    def serialize(self) -> bytes:
        return _header(len(self.chunks), SDES, b"".join(c.serialize() for c in self.chunks))


@value
class Bye:
    """RFC 3550 §6.6 BYE: the sources leaving, and an optional reason (``None``: absent)."""

    ssrcs: tuple[int, ...] = ()
    reason: bytes | None = None

    def serialize(self) -> bytes:
        body = b"".join(_I.pack(s) for s in self.ssrcs)
        if self.reason is not None:
            if len(self.reason) > 255:
                raise ValueError("BYE reason longer than 255 bytes")
            body += _pad4(bytes((len(self.reason),)) + self.reason)
        return _header(len(self.ssrcs), BYE, body)


@value
class App:
    """RFC 3550 §6.7 APP: subtype, SSRC, 4-character name and application data."""

    subtype: int
    ssrc: int
    name: bytes
    data: bytes = b""

    def serialize(self) -> bytes:
        if len(self.name) != 4:
            raise ValueError("APP name must be 4 bytes (RFC 3550 §6.7)")
        return _header(self.subtype, APP, _I.pack(self.ssrc) + self.name + self.data)


# --- XR -------------------------------------------------------------------------------------


@value
class Rrtr:
    """RFC 3611 §4.4 Receiver Reference Time Report block (BT=4)."""

    ntp_timestamp: int

    def serialize(self) -> bytes:
        return struct.pack("!BBHQ", 4, 0, 2, self.ntp_timestamp)


@value
class DlrrItem:
    """RFC 3611 §4.5: one receiver's last RR time (LRR) and delay since it (DLRR)."""

    ssrc: int
    lrr: int
    dlrr: int


@value
class Dlrr:
    """RFC 3611 §4.5 DLRR report block (BT=5)."""

    items: tuple[DlrrItem, ...] = ()

    def serialize(self) -> bytes:
        body = b"".join(_III.pack(i.ssrc, i.lrr, i.dlrr) for i in self.items)
        return struct.pack("!BBH", 5, 0, 3 * len(self.items)) + body


@value
class UnknownXrBlock:
    """An XR block of a type not decoded here (RFC 3611 §3), kept byte for byte."""

    block_type: int
    type_specific: int
    data: bytes

    def serialize(self) -> bytes:
        if len(self.data) & 3:
            raise ValueError("XR block data is not a whole number of words")
        return struct.pack("!BBH", self.block_type, self.type_specific, len(self.data) >> 2) + (
            self.data
        )


XrBlock: TypeAlias = Rrtr | Dlrr | UnknownXrBlock


@value
class Xr:
    """RFC 3611 §2 XR packet: the sender's SSRC and report blocks."""

    ssrc: int
    blocks: tuple[XrBlock, ...] = ()

    def serialize(self) -> bytes:
        return _header(0, XR, _I.pack(self.ssrc) + b"".join(b.serialize() for b in self.blocks))


def _parse_xr(data: bytes, pos: int, end: int) -> Xr:
    if pos + 4 > end:
        raise ParseError("RTCP XR: no SSRC", pos)
    ssrc = _I.unpack_from(data, pos)[0]
    pos += 4
    blocks: list[XrBlock] = []
    while pos < end:
        if pos + 4 > end:
            raise ParseError("RTCP XR: block header runs past the packet", pos)
        bt, specific, words = struct.unpack_from("!BBH", data, pos)
        start = pos + 4
        stop = start + 4 * words
        if stop > end:
            raise ParseError(f"RTCP XR: block type {bt} runs past the packet", pos)
        if bt == 4 and words == 2:
            blocks.append(Rrtr(struct.unpack_from("!Q", data, start)[0]))
        elif bt == 5 and words % 3 == 0:
            blocks.append(
                Dlrr(tuple(DlrrItem(*_III.unpack_from(data, p)) for p in range(start, stop, 12)))
            )
        elif bt in (4, 5):
            raise ParseError(f"RTCP XR: block type {bt} has a bad length of {words} words", pos)
        else:
            blocks.append(UnknownXrBlock(bt, specific, data[start:stop]))
        pos = stop
    return Xr(ssrc, tuple(blocks))


# --- feedback (RFC 4585 §6.1 common format) -------------------------------------------------


def _fb(fmt: int, pt: int, sender: int, media: int, fci: bytes) -> bytes:
    return _header(fmt, pt, _II.pack(sender, media) + fci)


@value
class Nack:
    """RFC 4585 §6.2.1 generic NACK (RTPFB FMT 1): ``(PID, BLP)`` pairs.

    :meth:`from_lost` and :attr:`lost` convert from and to the list of lost sequence numbers.
    """

    sender_ssrc: int
    media_ssrc: int
    items: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_lost(cls, sender_ssrc: int, media_ssrc: int, lost: Iterable[int]) -> Nack:
        """Pack lost sequence numbers (in send order, wrap-around allowed) into PID/BLP pairs."""
        items: list[tuple[int, int]] = []
        pid = blp = -1
        for seq in lost:
            seq &= 0xFFFF
            if pid >= 0:
                diff = (seq - pid) & 0xFFFF
                if 1 <= diff <= 16:
                    blp |= 1 << (diff - 1)
                    continue
                if diff == 0:
                    continue
                items.append((pid, blp))
            pid, blp = seq, 0
        if pid >= 0:
            items.append((pid, blp))
        return cls(sender_ssrc, media_ssrc, tuple(items))

    @property
    def lost(self) -> list[int]:
        """RFC 4585 §6.2.1: each PID and every PID+i+1 whose BLP bit i is set."""
        out = []
        for pid, blp in self.items:
            out.append(pid)
            out.extend((pid + i + 1) & 0xFFFF for i in range(16) if blp >> i & 1)
        return out

    def serialize(self) -> bytes:
        return _fb(1, RTPFB, self.sender_ssrc, self.media_ssrc,
                   b"".join(_HH.pack(p, b) for p, b in self.items))


@value
class TmmbItem:
    """RFC 5104 §4.2.1.1 FCI entry: SSRC, bitrate (bit/s) as exponent and 17-bit mantissa, and
    the measured per-packet overhead (9 bits)."""

    ssrc: int
    exponent: int
    mantissa: int
    overhead: int = 0

    @classmethod
    def from_bitrate(cls, ssrc: int, bitrate: int, overhead: int = 0) -> TmmbItem:
        """The largest representable bitrate not above ``bitrate``."""
        exp, mantissa = _float_bits(bitrate, 17)
        return cls(ssrc, exp, mantissa, overhead)

    @property
    def bitrate(self) -> int:
        return self.mantissa << self.exponent

    def serialize(self) -> bytes:
        if not (0 <= self.exponent < 64 and 0 <= self.mantissa < 1 << 17
                and 0 <= self.overhead < 512):
            raise ValueError("TMMB exponent/mantissa/overhead out of range (6/17/9 bits)")
        return _II.pack(self.ssrc, self.exponent << 26 | self.mantissa << 9 | self.overhead)


def _float_bits(number: int, bits: int) -> tuple[int, int]:
    if number < 0:
        raise ValueError(f"bitrate {number} is negative")
    exp = max(0, number.bit_length() - bits)
    if exp > 63:
        raise ValueError(f"bitrate {number} is too large")
    return exp, number >> exp


def _parse_tmmb(fci: bytes, pos: int) -> tuple[TmmbItem, ...]:
    if len(fci) % 8:
        raise ParseError("RTCP TMMBR/TMMBN: FCI is not a multiple of 8 bytes", pos)
    out = []
    for p in range(0, len(fci), 8):
        ssrc, v = _II.unpack_from(fci, p)
        out.append(TmmbItem(ssrc, v >> 26, (v >> 9) & 0x1FFFF, v & 0x1FF))
    return tuple(out)


@value
class Tmmbr:
    """RFC 5104 §4.2.1 Temporary Maximum Media Stream Bit Rate Request (RTPFB FMT 3)."""

    sender_ssrc: int
    items: tuple[TmmbItem, ...] = ()
    media_ssrc: int = 0

    def serialize(self) -> bytes:
        return _fb(3, RTPFB, self.sender_ssrc, self.media_ssrc,
                   b"".join(i.serialize() for i in self.items))


@value
class Tmmbn:
    """RFC 5104 §4.2.2 Temporary Maximum Media Stream Bit Rate Notification (RTPFB FMT 4)."""

    sender_ssrc: int
    items: tuple[TmmbItem, ...] = ()
    media_ssrc: int = 0

    def serialize(self) -> bytes:
        return _fb(4, RTPFB, self.sender_ssrc, self.media_ssrc,
                   b"".join(i.serialize() for i in self.items))


@value
class TransportCc:
    """draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1 (RTPFB FMT 15).

    ``deltas`` has one entry per packet from ``base_sequence`` on: ``None`` for "packet not
    received", else its receive delta in 250 µs ticks (the first relative to
    ``reference_time``, in 64 ms units; each next one to the previous received packet).
    Deltas 0-255 are sent as "small" (8 bits), others as "large" (16 bits, signed).
    """

    sender_ssrc: int
    media_ssrc: int
    base_sequence: int
    reference_time: int
    feedback_count: int
    deltas: tuple[int | None, ...] = ()

    def serialize(self) -> bytes:
        deltas = self.deltas
        count = len(deltas)
        if count > 0xFFFF:
            raise ValueError("transport-cc feedback for more than 65535 packets")
        if not -0x800000 <= self.reference_time <= 0x7FFFFF:
            raise ValueError(f"reference time {self.reference_time} is not a signed 24-bit")
        symbols = []
        recv = bytearray()
        for d in deltas:
            if d is None:
                symbols.append(0)
            elif 0 <= d <= 255:
                symbols.append(1)
                recv.append(d)
            elif -0x8000 <= d <= 0x7FFF:
                symbols.append(2)
                recv += (d & 0xFFFF).to_bytes(2, "big")
            else:
                raise ValueError(f"receive delta {d} does not fit 16 bits: start a new feedback")
        chunks = bytearray()
        i = 0
        while i < count:
            s = symbols[i]
            run = 1
            while i + run < count and symbols[i + run] == s and run < 0x1FFF:
                run += 1
            if run >= 14 or (i + run == count and run >= 7):
                chunk = (s << 13) | run  # §3.1.3 run length chunk
                i += run
            else:
                window = symbols[i : i + 14]
                if max(window) <= 1:  # §3.1.4 one-bit vector: 0 not received, 1 small delta
                    chunk = 0x8000
                    for k, sym in enumerate(window):
                        chunk |= sym << (13 - k)
                    i += len(window)
                else:  # two-bit vector, 7 symbols
                    window = symbols[i : i + 7]
                    chunk = 0xC000
                    for k, sym in enumerate(window):
                        chunk |= sym << (12 - 2 * k)
                    i += len(window)
            chunks += chunk.to_bytes(2, "big")
        fci = struct.pack(
            "!HHI", self.base_sequence, count,
            (self.reference_time & 0xFFFFFF) << 8 | self.feedback_count,
        ) + chunks + recv
        return _fb(15, RTPFB, self.sender_ssrc, self.media_ssrc, _pad4(bytes(fci)))


def _parse_transport_cc(sender: int, media: int, fci: bytes, base: int) -> TransportCc:
    n = len(fci)
    if n < 8:
        raise ParseError("RTCP transport-cc: FCI shorter than 8 bytes", base)
    base_seq, count, ref = struct.unpack_from("!HHI", fci)
    reference = ref >> 8
    if reference & 0x800000:
        reference -= 0x1000000
    symbols: list[int] = []
    pos = 8
    while len(symbols) < count:
        if pos + 2 > n:
            raise ParseError("RTCP transport-cc: packet status chunks run past the packet",
                             base + pos)
        chunk = (fci[pos] << 8) | fci[pos + 1]
        if not chunk & 0x8000:
            run = chunk & 0x1FFF
            symbols.extend([(chunk >> 13) & 3] * min(run, count - len(symbols)))
        elif not chunk & 0x4000:
            symbols.extend((chunk >> (13 - k)) & 1 for k in range(14))
        else:
            symbols.extend((chunk >> (12 - 2 * k)) & 3 for k in range(7))
        pos += 2
    deltas: list[int | None] = []
    for sym in symbols[:count]:
        if sym == 0:
            deltas.append(None)
        elif sym == 1:
            if pos >= n:
                raise ParseError("RTCP transport-cc: receive deltas run past the packet",
                                 base + pos)
            deltas.append(fci[pos])
            pos += 1
        elif sym == 2:
            if pos + 2 > n:
                raise ParseError("RTCP transport-cc: receive deltas run past the packet",
                                 base + pos)
            d = (fci[pos] << 8) | fci[pos + 1]
            deltas.append(d - 0x10000 if d & 0x8000 else d)
            pos += 2
        else:
            raise ParseError("RTCP transport-cc: reserved packet status symbol 11", base + pos)
    return TransportCc(sender, media, base_seq, reference, ref & 0xFF, tuple(deltas))


@value
class Pli:
    """RFC 4585 §6.3.1 Picture Loss Indication (PSFB FMT 1, no FCI)."""

    sender_ssrc: int
    media_ssrc: int

    def serialize(self) -> bytes:
        return _fb(1, PSFB, self.sender_ssrc, self.media_ssrc, b"")


@value
class SliItem:
    """RFC 4585 §6.3.2.1: first macroblock (13 bits), number (13 bits), picture ID (6 bits)."""

    first: int
    number: int
    picture_id: int


@value
class Sli:
    """RFC 4585 §6.3.2 Slice Loss Indication (PSFB FMT 2)."""

    sender_ssrc: int
    media_ssrc: int
    items: tuple[SliItem, ...] = ()

    def serialize(self) -> bytes:
        fci = b""
        for i in self.items:
            if not (0 <= i.first < 8192 and 0 <= i.number < 8192 and 0 <= i.picture_id < 64):
                raise ValueError("SLI first/number/picture ID out of range (13/13/6 bits)")
            fci += _I.pack(i.first << 19 | i.number << 6 | i.picture_id)
        return _fb(2, PSFB, self.sender_ssrc, self.media_ssrc, fci)


@value
class FirItem:
    """RFC 5104 §4.3.1.1: the SSRC asked for a decoder refresh and the command sequence number."""

    ssrc: int
    sequence: int


@value
class Fir:
    """RFC 5104 §4.3.1 Full Intra Request (PSFB FMT 4); "the media source SSRC ... SHALL be 0"."""

    sender_ssrc: int
    items: tuple[FirItem, ...] = ()
    media_ssrc: int = 0

    def serialize(self) -> bytes:
        fci = b"".join(_II.pack(i.ssrc, (i.sequence & 0xFF) << 24) for i in self.items)
        return _fb(4, PSFB, self.sender_ssrc, self.media_ssrc, fci)


@value
class Remb:
    """draft-alvestrand-rmcat-remb-03 §2.2 Receiver Estimated Max Bitrate (PSFB FMT 15, "REMB").

    ``bitrate`` in bit/s; it is sent as a 6-bit exponent and 18-bit mantissa, so
    :meth:`serialize` rounds it down to the nearest representable value.
    """

    sender_ssrc: int
    bitrate: int
    ssrcs: tuple[int, ...] = ()
    media_ssrc: int = 0

    def serialize(self) -> bytes:
        exp, mantissa = _float_bits(self.bitrate, 18)
        if len(self.ssrcs) > 255:
            raise ValueError("REMB lists at most 255 SSRCs")
        fci = b"REMB" + _I.pack(len(self.ssrcs) << 24 | exp << 18 | mantissa)
        fci += b"".join(_I.pack(s) for s in self.ssrcs)
        return _fb(15, PSFB, self.sender_ssrc, self.media_ssrc, fci)


@value
class Feedback:
    """An RFC 4585 §6.1 feedback message of a format not decoded here, kept byte for byte."""

    packet_type: int
    fmt: int
    sender_ssrc: int
    media_ssrc: int
    fci: bytes = b""

    def serialize(self) -> bytes:
        return _fb(self.fmt, self.packet_type, self.sender_ssrc, self.media_ssrc, self.fci)


@value
class UnknownRtcp:
    """An RTCP packet of a type not decoded here (RFC 3550 §6.1: kept, not fatal)."""

    packet_type: int
    count: int
    body: bytes = b""

    def serialize(self) -> bytes:
        return _header(self.count, self.packet_type, self.body)


RtcpPacket: TypeAlias = (
    SenderReport | ReceiverReport | Sdes | Bye | App | Xr | Nack | Tmmbr | Tmmbn | TransportCc
    | Pli | Sli | Fir | Remb | Feedback | UnknownRtcp
)


def _parse_feedback(pt: int, fmt: int, data: bytes, pos: int, end: int) -> RtcpPacket:
    if pos + 8 > end:
        raise ParseError("RTCP feedback: shorter than the sender and media SSRCs", pos)
    sender, media = _II.unpack_from(data, pos)
    base = pos + 8
    fci = data[base:end]
    if pt == RTPFB:
        if fmt == 1:
            if len(fci) & 3:
                raise ParseError("RTCP NACK: FCI is not a whole number of words", base)
            return Nack(sender, media, tuple(_HH.unpack_from(fci, p)
                                             for p in range(0, len(fci), 4)))
        if fmt == 3:
            return Tmmbr(sender, _parse_tmmb(fci, base), media)
        if fmt == 4:
            return Tmmbn(sender, _parse_tmmb(fci, base), media)
        if fmt == 15:
            return _parse_transport_cc(sender, media, fci, base)
    else:
        if fmt == 1:
            # RFC 4585 §6.3.1: "There MUST be exactly one PLI contained in the FCI field"
            # -- PLI has no FCI.
            return Pli(sender, media)
        if fmt == 2:
            items = []
            for p in range(0, len(fci) - 3, 4):
                v = _I.unpack_from(fci, p)[0]
                items.append(SliItem(v >> 19, (v >> 6) & 0x1FFF, v & 0x3F))
            return Sli(sender, media, tuple(items))
        if fmt == 4:
            if len(fci) % 8:
                raise ParseError("RTCP FIR: FCI is not a multiple of 8 bytes", base)
            return Fir(sender, tuple(FirItem(s, v >> 24) for s, v in
                                     (_II.unpack_from(fci, p) for p in range(0, len(fci), 8))),
                       media)
        if fmt == 15 and fci[:4] == b"REMB":
            if len(fci) < 8:
                raise ParseError("RTCP REMB: shorter than 8 bytes of FCI", base)
            v = _I.unpack_from(fci, 4)[0]
            num = v >> 24
            if 8 + 4 * num > len(fci):
                raise ParseError(f"RTCP REMB: {num} SSRCs run past the packet", base + 4)
            ssrcs = tuple(_I.unpack_from(fci, 8 + 4 * k)[0] for k in range(num))
            return Remb(sender, (v & 0x3FFFF) << ((v >> 18) & 0x3F), ssrcs, media)
    return Feedback(pt, fmt, sender, media, fci)


def _parse_sdes(data: bytes, pos: int, end: int, count: int) -> Sdes:
    chunks = []
    for _ in range(count):
        if pos + 4 > end:
            raise ParseError("RTCP SDES: chunk runs past the packet", pos)
        ssrc = _I.unpack_from(data, pos)[0]
        start = pos
        pos += 4
        items = []
        while True:
            if pos >= end:
                raise ParseError("RTCP SDES: item list has no terminating null octet", pos)
            kind = data[pos]
            if kind == 0:
                pos += 1
                pos += -(pos - start) & 3
                break
            if pos + 2 > end or pos + 2 + data[pos + 1] > end:
                raise ParseError(f"RTCP SDES: item type {kind} runs past the packet", pos)
            size = data[pos + 1]
            items.append((kind, data[pos + 2 : pos + 2 + size]))
            pos += 2 + size
        chunks.append(SdesChunk(ssrc, tuple(items)))
    return Sdes(tuple(chunks))


def parse_rtcp(data: bytes | bytearray | memoryview) -> list[RtcpPacket]:
    """Parse a compound RTCP packet (RFC 3550 §6.1) into its packets, in order.

    Each packet's header must say version 2 and its length must fit the datagram; a reduced-size
    packet (RFC 5506: one packet, any type) is accepted.  :class:`ParseError` otherwise.
    """
    if type(data) is not bytes:
        data = bytes(data)
    n = len(data)
    if n < 4:
        raise ParseError(f"RTCP: {n} bytes, shorter than a header", 0)
    out: list[RtcpPacket] = []
    pos = 0
    while pos < n:
        if pos + 4 > n:
            raise ParseError("RTCP: trailing bytes shorter than a header", pos)
        b0, pt, words = _HDR.unpack_from(data, pos)
        if b0 >> 6 != 2:
            raise ParseError(f"RTCP: version {b0 >> 6}, not 2 (RFC 3550 §6.4.1)", pos)
        end = pos + 4 + 4 * words
        if end > n:
            raise ParseError(f"RTCP: packet type {pt} length of {words} words runs past the data",
                             pos)
        count = b0 & 0x1F
        body_end = end
        if b0 & 0x20:
            pad = data[end - 1]
            # RFC 3550 §6.4.1: the last octet is "a count of how many padding octets should be
            # ignored, including itself (it will be a multiple of four)".
            if pad == 0 or pos + 4 + pad > end:
                raise ParseError(f"RTCP: bad padding count {pad}", end - 1)
            body_end = end - pad
        body = pos + 4
        packet: RtcpPacket
        if pt == SR:
            if body + 24 > body_end:
                raise ParseError("RTCP SR: shorter than the sender info", pos)
            ssrc, ntp, rtp_ts, packets, octets = _SR.unpack_from(data, body)
            reports = _report_blocks(data, body + 24, body_end, count)
            packet = SenderReport(ssrc, ntp, rtp_ts, packets, octets, reports,
                                  data[body + 24 + 24 * count : body_end])
        elif pt == RR:
            if body + 4 > body_end:
                raise ParseError("RTCP RR: no SSRC", pos)
            reports = _report_blocks(data, body + 4, body_end, count)
            packet = ReceiverReport(_I.unpack_from(data, body)[0], reports,
                                    data[body + 4 + 24 * count : body_end])
        elif pt == SDES:
            packet = _parse_sdes(data, body, body_end, count)
        elif pt == BYE:
            if body + 4 * count > body_end:
                raise ParseError(f"RTCP BYE: {count} SSRCs run past the packet", pos)
            ssrcs = tuple(_I.unpack_from(data, body + 4 * k)[0] for k in range(count))
            at = body + 4 * count
            reason = None
            if at < body_end:
                size = data[at]
                if at + 1 + size > body_end:
                    raise ParseError("RTCP BYE: reason runs past the packet", at)
                reason = data[at + 1 : at + 1 + size]
            packet = Bye(ssrcs, reason)
        elif pt == APP:
            if body + 8 > body_end:
                raise ParseError("RTCP APP: shorter than SSRC and name", pos)
            packet = App(count, _I.unpack_from(data, body)[0], data[body + 4 : body + 8],
                         data[body + 8 : body_end])
        elif pt in (RTPFB, PSFB):
            packet = _parse_feedback(pt, count, data, body, body_end)
        elif pt == XR:
            packet = _parse_xr(data, body, body_end)
        else:
            packet = UnknownRtcp(pt, count, data[body:body_end])
        out.append(packet)
        pos = end
    return out


def serialize_rtcp(packets: Sequence[RtcpPacket]) -> bytes:
    """A compound packet: the packets' encodings back to back (RFC 3550 §6.1)."""
    return b"".join(p.serialize() for p in packets)


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4: an RTP/RTCP datagram whose second byte is 192-223 is RTCP."""
    return len(data) >= 4 and data[0] >> 6 == 2 and 192 <= data[1] <= 223
