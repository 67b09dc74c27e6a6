"""RFC 9628 RTP payload format for VP9: the payload descriptor (flexible and non-flexible
modes), the scalability structure, packetizer and depacketizer.

:class:`Vp9PayloadDescriptor` is the value of RFC 9628 §4.2 and :class:`Vp9ScalabilityStructure`
of §4.2.1, both with ``parse``/``serialize``.  :class:`Vp9Packetizer` sends one spatial layer in
non-flexible mode with a 15-bit picture ID, B/E bits, and the SS (with the resolution read from
the frame's uncompressed header) on the first packet of every key frame.
:func:`vp9_frame_info` reads that header (VP9 bitstream spec §6.2: frame type and size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rtcstack.common.errors import ParseError
from rtcstack.rtp.formats.vp8 import parse_picture_id

__all__ = [
    "Vp9Depacketizer",
    "Vp9FrameInfo",
    "Vp9Packetizer",
    "Vp9PayloadDescriptor",
    "Vp9PictureGroupEntry",
    "Vp9ScalabilityStructure",
    "vp9_frame_info",
]


@dataclass(frozen=True, slots=True)
class Vp9PictureGroupEntry:
    """RFC 9628 §4.2.1: one picture of the picture group (PG): ``TID``, ``U`` and its P_DIFFs."""

    tid: int
    switching_up: bool
    p_diffs: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Vp9ScalabilityStructure:
    """RFC 9628 §4.2.1 Scalability Structure (SS).

    ``spatial_layers`` is N_S + 1; ``resolutions`` holds one ``(width, height)`` per spatial
    layer when the Y bit is set, else ``None``; ``picture_group`` is the PG description when the
    G bit is set (possibly empty: N_G = 0), else ``None``.
    """

    spatial_layers: int = 1
    resolutions: tuple[tuple[int, int], ...] | None = None
    picture_group: tuple[Vp9PictureGroupEntry, ...] | None = None

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> tuple[Vp9ScalabilityStructure, int]:
        """The SS starting at ``data[offset]``; returns it and the offset just after it."""
        n = len(data)
        if offset >= n:
            raise ParseError("VP9 SS: missing", offset)
        b = data[offset]
        pos = offset + 1
        layers = (b >> 5) + 1
        resolutions: tuple[tuple[int, int], ...] | None = None
        if b & 0x10:  # Y
            if pos + 4 * layers > n:
                raise ParseError(f"VP9 SS: truncated resolutions of {layers} layers", pos)
            resolutions = tuple(
                (
                    (data[pos + 4 * i] << 8) | data[pos + 4 * i + 1],
                    (data[pos + 4 * i + 2] << 8) | data[pos + 4 * i + 3],
                )
                for i in range(layers)
            )
            pos += 4 * layers
        group: tuple[Vp9PictureGroupEntry, ...] | None = None
        if b & 0x08:  # G
            if pos >= n:
                raise ParseError("VP9 SS: G set but no N_G", pos)
            count = data[pos]
            pos += 1
            entries: list[Vp9PictureGroupEntry] = []
            for _ in range(count):
                if pos >= n:
                    raise ParseError("VP9 SS: truncated picture group", pos)
                e = data[pos]
                refs = (e >> 2) & 0x03
                if pos + 1 + refs > n:
                    raise ParseError("VP9 SS: truncated P_DIFFs", pos + 1)
                diffs = tuple(data[pos + 1 : pos + 1 + refs])
                entries.append(Vp9PictureGroupEntry(e >> 5, bool(e & 0x10), diffs))
                pos += 1 + refs
            group = tuple(entries)
        return cls(layers, resolutions, group), pos

    def serialize(self) -> bytes:
        """RFC 9628 §4.2.1 wire form (reserved bits zero)."""
        if not 1 <= self.spatial_layers <= 8:
            raise ValueError(f"VP9 SS: {self.spatial_layers} spatial layers is not 1-8")
        b = (self.spatial_layers - 1) << 5
        out = bytearray(1)
        if self.resolutions is not None:
            if len(self.resolutions) != self.spatial_layers:
                raise ValueError("VP9 SS: one resolution per spatial layer")
            b |= 0x10
            for w, h in self.resolutions:
                if not (0 <= w <= 0xFFFF and 0 <= h <= 0xFFFF):
                    raise ValueError(f"VP9 SS: resolution {w}x{h} out of range")
                out += bytes((w >> 8, w & 0xFF, h >> 8, h & 0xFF))
        if self.picture_group is not None:
            if len(self.picture_group) > 255:
                raise ValueError("VP9 SS: more than 255 pictures in the PG")
            b |= 0x08
            out.append(len(self.picture_group))
            for e in self.picture_group:
                if not 0 <= e.tid <= 7 or len(e.p_diffs) > 3:
                    raise ValueError(f"VP9 SS: bad PG entry {e}")
                out.append((e.tid << 5) | (0x10 if e.switching_up else 0) | (len(e.p_diffs) << 2))
                for d in e.p_diffs:
                    if not 0 <= d <= 0xFF:
                        raise ValueError(f"VP9 SS: P_DIFF {d} out of range")
                    out.append(d)
        out[0] = b
        return bytes(out)


@dataclass(frozen=True, slots=True)
class Vp9PayloadDescriptor:
    """RFC 9628 §4.2 VP9 payload descriptor.

    Flags: ``inter_picture_predicted`` (P), ``flexible`` (F), ``start_of_frame`` (B),
    ``end_of_frame`` (E), ``not_reference_for_upper`` (Z).  ``picture_id`` is ``None`` when I is
    clear; ``long_picture_id`` is the M bit.  The layer indices (L) are present when ``tid`` is
    not ``None`` (then ``sid``, ``switching_up`` (U) and ``inter_layer_dependency`` (D) count too,
    and in non-flexible mode ``tl0_pic_idx``).  ``p_diffs`` are the reference indices (flexible
    mode with P set: one to three).  ``ss`` is the scalability structure when V is set.
    """

    start_of_frame: bool = False
    end_of_frame: bool = False
    inter_picture_predicted: bool = False
    flexible: bool = False
    not_reference_for_upper: bool = False
    picture_id: int | None = None
    long_picture_id: bool = True
    tid: int | None = None
    switching_up: bool = False
    sid: int = 0
    inter_layer_dependency: bool = False
    tl0_pic_idx: int | None = None
    p_diffs: tuple[int, ...] = ()
    ss: Vp9ScalabilityStructure | None = None

    @property
    def is_keyframe_start(self) -> bool:
        """RFC 9628 §4.2 (F): the first packet of a key picture "will have its P bit equal to
        zero, SID or L bit ... equal to zero, and B bit ... equal to one"."""
        return self.start_of_frame and not self.inter_picture_predicted and self.sid == 0

    @classmethod
    def parse(cls, data: bytes) -> tuple[Vp9PayloadDescriptor, int]:
        """RFC 9628 §4.2: the descriptor at the start of ``data`` and its length in bytes."""
        n = len(data)
        if n == 0:
            raise ParseError("VP9 payload descriptor: empty payload", 0)
        b0 = data[0]
        pos = 1
        picture_id: int | None = None
        long_pid = True
        if b0 & 0x80:  # I
            picture_id, long_pid, pos = parse_picture_id(data, pos, "VP9")
        # RFC 9628 §4.2 (F): "if the I bit is set to zero, then this bit MUST also be set to
        # zero and ignored by receivers."
        flexible = bool(b0 & 0x10) and picture_id is not None
        predicted = bool(b0 & 0x40)
        tid: int | None = None
        sid = 0
        up = dep = False
        tl0: int | None = None
        if b0 & 0x20:  # L
            if pos >= n:
                raise ParseError("VP9 payload descriptor: L set but no layer indices", pos)
            b = data[pos]
            pos += 1
            tid, up, sid, dep = b >> 5, bool(b & 0x10), (b >> 1) & 0x07, bool(b & 0x01)
            if not flexible:
                if pos >= n:
                    raise ParseError("VP9 payload descriptor: non-flexible L but no TL0PICIDX", pos)
                tl0 = data[pos]
                pos += 1
        p_diffs: tuple[int, ...] = ()
        if flexible and predicted:
            diffs: list[int] = []
            while True:
                if pos >= n:
                    raise ParseError("VP9 payload descriptor: P and F set but no P_DIFF", pos)
                b = data[pos]
                if b >> 1 == 0:
                    # RFC 9628 §4.2: "A P_DIFF value of zero is invalid."
                    raise ParseError("VP9 payload descriptor: P_DIFF of zero", pos)
                diffs.append(b >> 1)
                pos += 1
                if not b & 0x01:
                    break
                if len(diffs) == 3:
                    raise ParseError("VP9 payload descriptor: more than three P_DIFFs", pos - 1)
            p_diffs = tuple(diffs)
        ss: Vp9ScalabilityStructure | None = None
        if b0 & 0x02:  # V
            ss, pos = Vp9ScalabilityStructure.parse(data, pos)
        desc = cls(
            bool(b0 & 0x08),
            bool(b0 & 0x04),
            predicted,
            flexible,
            bool(b0 & 0x01),
            picture_id,
            long_pid,
            tid,
            up,
            sid,
            dep,
            tl0,
            p_diffs,
            ss,
        )
        return desc, pos

    def serialize(self) -> bytes:
        """RFC 9628 §4.2 wire form."""
        b0 = 0
        if self.start_of_frame:
            b0 |= 0x08
        if self.end_of_frame:
            b0 |= 0x04
        if self.inter_picture_predicted:
            b0 |= 0x40
        if self.not_reference_for_upper:
            b0 |= 0x01
        out = bytearray(1)
        pid = self.picture_id
        if pid is not None:
            b0 |= 0x80
            if self.long_picture_id:
                if not 0 <= pid <= 0x7FFF:
                    raise ValueError(f"VP9 15-bit picture ID {pid} out of range")
                out += bytes((0x80 | (pid >> 8), pid & 0xFF))
            else:
                if not 0 <= pid <= 0x7F:
                    raise ValueError(f"VP9 7-bit picture ID {pid} out of range")
                out.append(pid)
        if self.flexible:
            if pid is None:
                # RFC 9628 §4.2: "This bit MUST only be set to one if the I bit is also set to one"
                raise ValueError("VP9 flexible mode needs a picture ID")
            b0 |= 0x10
        if self.tid is not None:
            if not (0 <= self.tid <= 7 and 0 <= self.sid <= 7):
                raise ValueError(f"VP9 TID {self.tid} / SID {self.sid} out of range")
            b0 |= 0x20
            out.append(
                (self.tid << 5)
                | (0x10 if self.switching_up else 0)
                | (self.sid << 1)
                | (1 if self.inter_layer_dependency else 0)
            )
            if not self.flexible:
                if self.tl0_pic_idx is None or not 0 <= self.tl0_pic_idx <= 0xFF:
                    raise ValueError("VP9 non-flexible layer indices need a TL0PICIDX (0-255)")
                out.append(self.tl0_pic_idx)
            elif self.tl0_pic_idx is not None:
                raise ValueError("VP9 TL0PICIDX exists only in non-flexible mode")
        elif self.tl0_pic_idx is not None or self.sid or self.switching_up:
            raise ValueError("VP9 layer fields need a TID (the L bit)")
        if self.p_diffs or (self.flexible and self.inter_picture_predicted):
            if not (self.flexible and self.inter_picture_predicted):
                raise ValueError("VP9 P_DIFFs exist only with both P and F set")
            if not 1 <= len(self.p_diffs) <= 3:
                # RFC 9628 §4.2: "at least one reference index MUST be specified"
                raise ValueError("VP9 flexible inter picture needs one to three P_DIFFs")
            last = len(self.p_diffs) - 1
            for i, d in enumerate(self.p_diffs):
                if not 1 <= d <= 0x7F:
                    raise ValueError(f"VP9 P_DIFF {d} is not 1-127")
                out.append((d << 1) | (1 if i < last else 0))
        if self.ss is not None:
            b0 |= 0x02
            out += self.ss.serialize()
        out[0] = b0
        return bytes(out)


@dataclass(frozen=True, slots=True)
class Vp9FrameInfo:
    """What :func:`vp9_frame_info` reads from a VP9 uncompressed header."""

    keyframe: bool
    show_frame: bool
    width: int | None = None
    height: int | None = None


class _Bits:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise ParseError("VP9 uncompressed header: truncated", byte)
            value = (value << 1) | ((self.data[byte] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value


def vp9_frame_info(frame: bytes) -> Vp9FrameInfo:
    """VP9 bitstream spec §6.2 uncompressed_header(): frame type, show_frame, and on key frames
    the frame size (``frame_width_minus_1 + 1``, ``frame_height_minus_1 + 1``).

    For a superframe this reads its first frame.  Raises ParseError on a header that is not
    VP9 (frame_marker not 2, or a key frame without the sync code 0x49 0x83 0x42).
    """
    r = _Bits(frame)
    if r.read(2) != 2:
        raise ParseError("VP9 uncompressed header: frame_marker is not 2", 0)
    profile = r.read(1) | (r.read(1) << 1)
    if profile == 3:
        r.read(1)  # reserved_zero
    if r.read(1):  # show_existing_frame: shows an earlier frame, carries no new one
        return Vp9FrameInfo(False, True)
    keyframe = r.read(1) == 0
    show = bool(r.read(1))
    r.read(1)  # error_resilient_mode
    if not keyframe:
        return Vp9FrameInfo(False, show)
    if r.read(24) != 0x498342:
        raise ParseError("VP9 uncompressed header: bad frame_sync_code", r.pos >> 3)
    if profile >= 2:
        r.read(1)  # ten_or_twelve_bit
    if r.read(3) != 7:  # color_space != CS_RGB
        r.read(1)  # color_range
        if profile in (1, 3):
            r.read(3)  # subsampling_x, subsampling_y, reserved_zero
    elif profile in (1, 3):
        r.read(1)  # reserved_zero
    width = r.read(16) + 1
    height = r.read(16) + 1
    return Vp9FrameInfo(True, show, width, height)


def _split(length: int, room: int) -> list[int]:
    """Sizes of ``ceil(length / room)`` chunks as equal as possible (none above ``room``)."""
    count = max(1, -(-length // room))
    base, extra = divmod(length, count)
    return [base + 1 if i < extra else base for i in range(count)]


class Vp9Packetizer:
    """RFC 9628 §4 VP9 packetizer for one spatial layer in non-flexible mode.

    Each payload has I = 1 with a 15-bit picture ID (``picture_id`` is the first; RFC 9628
    §4.2: it "SHOULD start on a random number and MUST wrap after reaching the maximum ID"),
    B on the first and E on the last packet of the frame, P = 0 on key frames, and on the first
    packet of a key frame the SS with N_S = 0 and the frame's resolution (RFC 9628 §4.2.1: "the
    SS data SHOULD be included in the first packet of every key frame").  The marker bit is set
    on the last packet (RFC 9628 §4.1: the last packet of the picture).
    """

    __slots__ = ("_max", "picture_id")

    def __init__(self, max_payload_size: int, *, picture_id: int = 0) -> None:
        if max_payload_size < 12:
            raise ValueError("VP9 max_payload_size must leave room for the descriptor and SS")
        if not 0 <= picture_id <= 0x7FFF:
            raise ValueError(f"VP9 picture ID {picture_id} out of range")
        self._max = max_payload_size
        self.picture_id = picture_id

    def packetize(self, frame: bytes) -> list[tuple[bytes, bool]]:
        """Payloads for one encoded frame (or superframe); the picture ID advances by one."""
        if not frame:
            raise ValueError("VP9 frame is empty")
        info = vp9_frame_info(frame)
        pid = self.picture_id
        self.picture_id = (pid + 1) & 0x7FFF
        pid_bytes = bytes((0x80 | (pid >> 8), pid & 0xFF))
        b0 = 0x80 if info.keyframe else 0xC0  # I, and P on inter frames
        ss = b""
        if info.keyframe and info.width is not None and info.height is not None:
            b0 |= 0x02
            ss = Vp9ScalabilityStructure(1, ((info.width, info.height),)).serialize()
        total = len(frame)
        first_room = self._max - 3 - len(ss)
        room = self._max - 3
        count = 1 if total <= first_room else 1 + -(-(total - first_room) // room)
        first_size = min(first_room, -(-total // count))
        sizes = [first_size]
        if total > first_size:
            sizes += _split(total - first_size, room)
        out: list[tuple[bytes, bool]] = []
        pos = 0
        last_index = len(sizes) - 1
        for i, size in enumerate(sizes):
            if i == 0:
                head = bytes((b0 | 0x08 | (0x04 if last_index == 0 else 0),)) + pid_bytes + ss
            else:
                head = bytes(((b0 & ~0x02) | (0x04 if i == last_index else 0),)) + pid_bytes
            out.append((head + frame[pos : pos + size], False))
            pos += size
        last, _ = out[-1]
        out[-1] = (last, True)
        return out


class Vp9Depacketizer:
    """RFC 9628 §4.3 frame reassembly: strip the descriptor; a frame starts at B = 1 and is a
    key frame when its first packet has P = 0 and SID = 0 (RFC 9628 §4.2, F)."""

    single_packet_frames: ClassVar[bool] = False

    def depacketize(self, payload: bytes) -> tuple[bytes, bool | None, bool]:
        """``(frame bytes in this payload, starts a frame, key frame)``; ParseError if bad."""
        desc, size = Vp9PayloadDescriptor.parse(payload)
        body = payload[size:]
        if not body:
            raise ParseError("VP9 payload: descriptor without frame data", size)
        start = desc.start_of_frame and desc.sid == 0
        return body, start, start and not desc.inter_picture_predicted
