"""RFC 6184 RTP payload format for H.264: NAL unit header, STAP-A, FU-A, packetizer (modes 0
and 1) and depacketizer.

Values with ``parse``/``serialize``: :class:`NalUnitHeader` (RFC 6184 §1.3), :class:`StapA`
(§5.7.1), :class:`FuA` (§5.8).  :class:`H264Packetizer` takes an access unit (Annex B byte
stream or a list of NAL units) and returns MTU-bounded payloads: a single NAL unit packet when
it fits (§5.6), STAP-A for runs of small NAL units such as SPS+PPS, FU-A otherwise; in
packetization-mode 0 only single NAL unit packets (§6.2).  The interleaved mode (2: STAP-B,
MTAP, FU-B) is not implemented: the depacketizer rejects those packets.
:class:`H264Depacketizer` gives the Annex B byte stream back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from rtcstack.common.errors import ParseError

__all__ = [
    "ANNEXB_START_CODE",
    "FuA",
    "H264Depacketizer",
    "H264Packetizer",
    "NalUnitHeader",
    "NalUnitType",
    "StapA",
    "split_annexb",
]

ANNEXB_START_CODE = b"\x00\x00\x00\x01"


class NalUnitType(IntEnum):
    """H.264 Table 7-1 NAL unit types that matter here, and RFC 6184 §5.4 Table 3 packet types."""

    SLICE = 1
    IDR = 5
    SEI = 6
    SPS = 7
    PPS = 8
    AUD = 9
    STAP_A = 24
    STAP_B = 25
    MTAP16 = 26
    MTAP24 = 27
    FU_A = 28
    FU_B = 29


_STAP_A = 24
_FU_A = 28
_INTERLEAVED = frozenset((25, 26, 27, 29))


@dataclass(frozen=True, slots=True)
class NalUnitHeader:
    """RFC 6184 §1.3 NAL unit header octet: ``F`` (forbidden_zero_bit), ``NRI``, ``Type``."""

    forbidden: bool
    nri: int
    type: int

    @classmethod
    def parse(cls, octet: int) -> NalUnitHeader:
        return cls(bool(octet & 0x80), (octet >> 5) & 0x03, octet & 0x1F)

    def serialize(self) -> int:
        if not (0 <= self.nri <= 3 and 0 <= self.type <= 31):
            raise ValueError(f"bad NAL unit header {self}")
        return (0x80 if self.forbidden else 0) | (self.nri << 5) | self.type


@dataclass(frozen=True, slots=True)
class StapA:
    """RFC 6184 §5.7.1 STAP-A: NAL units of one NALU-time, each preceded by a 16-bit size.

    ``forbidden`` and ``nri`` are the STAP-A's own header fields; :meth:`aggregate` sets them
    as §5.7 requires: "The F bit MUST be cleared if all F bits of the aggregated NAL units are
    zero; otherwise, it MUST be set.  The value of NRI MUST be the maximum of all the NAL units
    carried in the aggregation packet."
    """

    nal_units: tuple[bytes, ...]
    forbidden: bool = False
    nri: int = 0

    @classmethod
    def aggregate(cls, nal_units: Sequence[bytes]) -> StapA:
        return cls(
            tuple(nal_units),
            any(n[0] & 0x80 for n in nal_units),
            max((n[0] >> 5) & 0x03 for n in nal_units),
        )

    @classmethod
    def parse(cls, data: bytes) -> StapA:
        if not data or data[0] & 0x1F != _STAP_A:
            raise ParseError("STAP-A: NAL unit type is not 24", 0)
        pos = 1
        n = len(data)
        units: list[bytes] = []
        while pos < n:
            if pos + 2 > n:
                raise ParseError("STAP-A: truncated NAL unit size", pos)
            size = (data[pos] << 8) | data[pos + 1]
            if size == 0:
                raise ParseError("STAP-A: NAL unit of size 0", pos)
            if pos + 2 + size > n:
                raise ParseError(f"STAP-A: NAL unit of {size} bytes overruns the packet", pos)
            units.append(data[pos + 2 : pos + 2 + size])
            pos += 2 + size
        if not units:
            # RFC 6184 §5.7.1: "consists of at least one single-time aggregation unit"
            raise ParseError("STAP-A: no aggregation unit", 1)
        return cls(tuple(units), bool(data[0] & 0x80), (data[0] >> 5) & 0x03)

    def serialize(self) -> bytes:
        if not self.nal_units:
            raise ValueError("STAP-A needs at least one NAL unit")
        out = bytearray(((0x80 if self.forbidden else 0) | (self.nri << 5) | _STAP_A,))
        for unit in self.nal_units:
            if not 1 <= len(unit) <= 0xFFFF:
                raise ValueError(f"STAP-A: NAL unit of {len(unit)} bytes")
            out += len(unit).to_bytes(2, "big")
            out += unit
        return bytes(out)


@dataclass(frozen=True, slots=True)
class FuA:
    """RFC 6184 §5.8 FU-A: FU indicator (F, NRI of the fragmented NAL unit, type 28), FU header
    (S, E, R, the NAL unit's type), and a fragment of the NAL unit's payload."""

    start: bool
    end: bool
    nal_type: int
    fragment: bytes
    forbidden: bool = False
    nri: int = 0

    @classmethod
    def parse(cls, data: bytes) -> FuA:
        if len(data) < 2:
            raise ParseError(f"FU-A: need 2 header bytes, got {len(data)}", 0)
        if data[0] & 0x1F != _FU_A:
            raise ParseError("FU-A: NAL unit type is not 28", 0)
        h = data[1]
        start, end = bool(h & 0x80), bool(h & 0x40)
        if start and end:
            # RFC 6184 §5.8: "the Start bit and End bit MUST NOT both be set to one in the same
            # FU header."
            raise ParseError("FU-A: Start and End bits both set", 1)
        return cls(start, end, h & 0x1F, data[2:], bool(data[0] & 0x80), (data[0] >> 5) & 0x03)

    def serialize(self) -> bytes:
        if self.start and self.end:
            raise ValueError("FU-A: Start and End bits must not both be set (RFC 6184 §5.8)")
        if not (0 <= self.nri <= 3 and 0 <= self.nal_type <= 31):
            raise ValueError(f"bad FU-A header {self}")
        indicator = (0x80 if self.forbidden else 0) | (self.nri << 5) | _FU_A
        header = (0x80 if self.start else 0) | (0x40 if self.end else 0) | self.nal_type
        return bytes((indicator, header)) + self.fragment

    @property
    def nal_header(self) -> int:
        """The fragmented NAL unit's header octet (F and NRI from the indicator)."""
        return (0x80 if self.forbidden else 0) | (self.nri << 5) | self.nal_type


def split_annexb(data: bytes) -> list[bytes]:
    """H.264 Annex B byte stream -> NAL units (start codes and trailing zero bytes removed)."""
    units: list[bytes] = []
    find = data.find
    i = find(b"\x00\x00\x01")
    if i < 0:
        return [data] if data else []
    while i >= 0:
        start = i + 3
        j = find(b"\x00\x00\x01", start)
        end = len(data) if j < 0 else j
        while end > start and data[end - 1] == 0:  # trailing_zero_8bits / 4-byte start codes
            end -= 1
        if end > start:
            units.append(data[start:end])
        i = j
    return units


def _split(length: int, room: int) -> list[int]:
    count = max(1, -(-length // room))
    base, extra = divmod(length, count)
    return [base + 1 if i < extra else base for i in range(count)]


class H264Packetizer:
    """RFC 6184 §5-6 H.264 packetizer: access unit -> ``[(payload, marker), ...]``.

    ``packetization_mode`` 1 (non-interleaved, §6.3) uses single NAL unit packets, STAP-A and
    FU-A; mode 0 (§6.2) only single NAL unit packets and raises ``ValueError`` for a NAL unit
    larger than ``max_payload_size`` (configure the encoder's slice size instead).  The marker
    is set on the last packet of the access unit (RFC 6184 §5.1).

    Parameter sets: the last SPS and PPS seen in the stream, or given with
    ``parameter_sets=`` / :meth:`set_parameter_sets` (an encoder with global headers gives them
    out-of-band), are sent before every IDR access unit that does not carry its own.
    """

    __slots__ = ("_max", "_mode", "_pps", "_sps")

    def __init__(
        self,
        max_payload_size: int,
        *,
        packetization_mode: int = 1,
        parameter_sets: Sequence[bytes] = (),
    ) -> None:
        if packetization_mode not in (0, 1):
            raise ValueError(f"H.264 packetization-mode {packetization_mode}: only 0 and 1")
        if max_payload_size < 3:
            raise ValueError("H.264 max_payload_size must be at least 3")
        self._max = max_payload_size
        self._mode = packetization_mode
        self._sps: bytes | None = None
        self._pps: bytes | None = None
        self.set_parameter_sets(parameter_sets)

    def set_parameter_sets(self, nal_units: Sequence[bytes] | bytes) -> None:
        """Remember SPS and PPS NAL units (a list, or an Annex B byte string)."""
        units = split_annexb(nal_units) if isinstance(nal_units, bytes) else nal_units
        for unit in units:
            kind = unit[0] & 0x1F if unit else 0
            if kind == NalUnitType.SPS:
                self._sps = bytes(unit)
            elif kind == NalUnitType.PPS:
                self._pps = bytes(unit)

    def packetize(self, access_unit: bytes | Sequence[bytes]) -> list[tuple[bytes, bool]]:
        """Payloads for one access unit (Annex B bytes or NAL units without start codes)."""
        nals = split_annexb(access_unit) if isinstance(access_unit, bytes) else list(access_unit)
        nals = [n for n in nals if n]
        if not nals:
            raise ValueError("H.264 access unit has no NAL unit")
        nals = self._with_parameter_sets(nals)
        limit = self._max
        out: list[tuple[bytes, bool]] = []
        if self._mode == 0:
            for nal in nals:
                if len(nal) > limit:
                    # RFC 6184 §6.2: in packetization-mode 0 "Only single NAL unit packets MAY
                    # be used."
                    raise ValueError(
                        f"H.264 NAL unit of {len(nal)} bytes does not fit in {limit} bytes and "
                        "packetization-mode 0 cannot fragment"
                    )
                out.append((nal, False))
        else:
            pending: list[bytes] = []
            pending_size = 1
            for nal in nals:
                size = len(nal)
                if pending and pending_size + 2 + size <= limit:
                    pending.append(nal)
                    pending_size += 2 + size
                    continue
                self._flush(pending, out)
                pending = []
                pending_size = 1
                if size <= limit:
                    pending = [nal]
                    pending_size = 3 + size
                else:
                    self._fragment(nal, out)
            self._flush(pending, out)
        last, _ = out[-1]
        out[-1] = (last, True)
        return out

    def _with_parameter_sets(self, nals: list[bytes]) -> list[bytes]:
        have_sps = have_pps = False
        for i, nal in enumerate(nals):
            kind = nal[0] & 0x1F
            if kind == NalUnitType.SPS:
                self._sps = nal
                have_sps = True
            elif kind == NalUnitType.PPS:
                self._pps = nal
                have_pps = True
            elif kind == NalUnitType.IDR:
                extra = [
                    ps
                    for ps, have in ((self._sps, have_sps), (self._pps, have_pps))
                    if ps is not None and not have
                ]
                if extra:
                    # Before the first VCL NAL unit: after any AUD / SEI in front of it.
                    return nals[:i] + extra + nals[i:]
                return nals
            elif 1 <= kind <= 5:
                return nals
        return nals

    @staticmethod
    def _flush(pending: list[bytes], out: list[tuple[bytes, bool]]) -> None:
        if len(pending) == 1:
            out.append((pending[0], False))
        elif pending:
            out.append((StapA.aggregate(pending).serialize(), False))

    def _fragment(self, nal: bytes, out: list[tuple[bytes, bool]]) -> None:
        header = nal[0]
        indicator = bytes(((header & 0xE0) | _FU_A,))
        kind = header & 0x1F
        pos = 1
        sizes = _split(len(nal) - 1, self._max - 2)
        last = len(sizes) - 1
        for i, size in enumerate(sizes):
            fu = kind | (0x80 if i == 0 else 0) | (0x40 if i == last else 0)
            out.append((indicator + bytes((fu,)) + nal[pos : pos + size], False))
            pos += size


_HEADER_BYTE = tuple(bytes((i,)) for i in range(256))


class H264Depacketizer:
    """RFC 6184 §5 depacketizer for packetization-modes 0 and 1: payload -> Annex B bytes.

    A frame is a key frame when one of its NAL units is an IDR slice (type 5).  Packets only
    say for sure that they do *not* start an access unit (an FU-A continuation); otherwise
    :class:`~rtcstack.rtp.formats.FrameAssembler` finds access-unit boundaries by the marker
    bit and timestamp changes.
    """

    single_packet_frames: ClassVar[bool] = False

    def depacketize(self, payload: bytes) -> tuple[bytes, bool | None, bool]:
        """``(Annex B bytes, starts a frame or None if unknown, has IDR)``; ParseError if bad."""
        if not payload:
            raise ParseError("H.264 payload: empty", 0)
        kind = payload[0] & 0x1F
        if 1 <= kind <= 23:
            return ANNEXB_START_CODE + payload, None, kind == NalUnitType.IDR
        if kind == _FU_A:
            # FuA.parse's checks inline (the per-packet path of every large frame).
            if len(payload) < 2:
                raise ParseError(f"FU-A: need 2 header bytes, got {len(payload)}", 0)
            h = payload[1]
            if h & 0x80:
                if h & 0x40:
                    # RFC 6184 §5.8: "the Start bit and End bit MUST NOT both be set to one in
                    # the same FU header."
                    raise ParseError("FU-A: Start and End bits both set", 1)
                nal_type = h & 0x1F
                header = _HEADER_BYTE[(payload[0] & 0xE0) | nal_type]
                return ANNEXB_START_CODE + header + payload[2:], None, nal_type == 5
            return payload[2:], False, False
        if kind == _STAP_A:
            stap = StapA.parse(payload)
            parts: list[bytes] = []
            idr = False
            for unit in stap.nal_units:
                parts.append(ANNEXB_START_CODE)
                parts.append(unit)
                idr = idr or unit[0] & 0x1F == NalUnitType.IDR
            return b"".join(parts), None, idr
        if kind in _INTERLEAVED:
            raise ParseError(f"H.264 packet type {kind} needs packetization-mode 2", 0)
        # RFC 6184 §5.4: reserved types "MUST be ignored by a receiver".
        raise ParseError(f"H.264 reserved NAL unit type {kind}", 0)
