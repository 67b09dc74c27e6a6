"""RFC 7741 RTP payload format for VP8: the payload descriptor, payload header, packetizer and
depacketizer.

:class:`Vp8PayloadDescriptor` is the value of RFC 7741 §4.2 (``parse``/``serialize``);
:class:`Vp8PayloadHeader` reads the three octets of RFC 7741 §4.3 that start every frame.
:class:`Vp8Packetizer` splits an encoded frame into MTU-bounded payloads (partition-aware: the
first partition never shares a packet with the others, RFC 7741 §4.4), and
:class:`Vp8Depacketizer` strips the descriptor for :class:`~rtcstack.rtp.formats.FrameAssembler`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rtcstack.common.errors import ParseError

__all__ = [
    "Vp8Depacketizer",
    "Vp8Packetizer",
    "Vp8PayloadDescriptor",
    "Vp8PayloadHeader",
]


def parse_picture_id(data: bytes, pos: int, codec: str) -> tuple[int, bool, int]:
    """The 7- or 15-bit picture ID at ``pos`` (RFC 7741 §4.2 "M" bit; RFC 9628 §4.2, the same
    layout): ``(picture_id, is_15_bit, next position)``."""
    if pos >= len(data):
        raise ParseError(f"{codec} payload descriptor: I set but no picture ID", pos)
    p = data[pos]
    if not p & 0x80:
        return p, False, pos + 1
    if pos + 1 >= len(data):
        raise ParseError(f"{codec} payload descriptor: truncated 15-bit picture ID", pos)
    return ((p & 0x7F) << 8) | data[pos + 1], True, pos + 2


@dataclass(frozen=True, slots=True)
class Vp8PayloadDescriptor:
    """RFC 7741 §4.2 VP8 payload descriptor.

    ``picture_id`` is ``None`` when the I bit is clear; ``long_picture_id`` is the M bit (15-bit
    instead of 7-bit PictureID).  ``tid`` is ``None`` when the T bit is clear, ``key_idx`` when
    the K bit is clear; ``layer_sync`` is the Y bit (kept whenever the TID/Y/KEYIDX octet is).
    The X bit and the reserved bits are not stored: :meth:`serialize` sets X exactly when an
    extension is present and writes the reserved bits as zero.
    """

    start_of_partition: bool = False
    partition_index: int = 0
    non_reference: bool = False
    picture_id: int | None = None
    long_picture_id: bool = True
    tl0_pic_idx: int | None = None
    tid: int | None = None
    layer_sync: bool = False
    key_idx: int | None = None

    @classmethod
    def parse(cls, data: bytes) -> tuple[Vp8PayloadDescriptor, int]:
        """RFC 7741 §4.2: the descriptor at the start of ``data`` and its length in bytes."""
        n = len(data)
        if n == 0:
            raise ParseError("VP8 payload descriptor: empty payload", 0)
        b0 = data[0]
        if not b0 & 0x80:
            return cls(bool(b0 & 0x10), b0 & 0x07, bool(b0 & 0x20)), 1
        if n < 2:
            raise ParseError("VP8 payload descriptor: X set but no extension octet", 1)
        b1 = data[1]
        pos = 2
        picture_id: int | None = None
        long_pid = True
        if b1 & 0x80:  # I
            picture_id, long_pid, pos = parse_picture_id(data, pos, "VP8")
        tl0: int | None = None
        if b1 & 0x40:  # L
            if not b1 & 0x20:
                # RFC 7741 §4.2: "When set to 1, the TL0PICIDX MUST be present and specified as
                # below, and the T bit MUST be set to 1."
                raise ParseError("VP8 payload descriptor: L set without T", 1)
            if pos >= n:
                raise ParseError("VP8 payload descriptor: L set but no TL0PICIDX", pos)
            tl0 = data[pos]
            pos += 1
        tid: int | None = None
        key_idx: int | None = None
        sync = False
        if b1 & 0x30:  # T or K
            if pos >= n:
                raise ParseError("VP8 payload descriptor: T/K set but no TID/Y/KEYIDX", pos)
            t = data[pos]
            pos += 1
            if b1 & 0x20:
                tid = t >> 6
            if b1 & 0x10:
                key_idx = t & 0x1F
            sync = bool(t & 0x20)
        desc = cls(
            bool(b0 & 0x10),
            b0 & 0x07,
            bool(b0 & 0x20),
            picture_id,
            long_pid,
            tl0,
            tid,
            sync,
            key_idx,
        )
        return desc, pos

    def serialize(self) -> bytes:
        """RFC 7741 §4.2 wire form (reserved bits zero)."""
        if not 0 <= self.partition_index <= 7:
            raise ValueError(f"VP8 partition index {self.partition_index} is not 0-7")
        b0 = self.partition_index | (0x10 if self.start_of_partition else 0)
        if self.non_reference:
            b0 |= 0x20
        pid, tl0, tid, key_idx = self.picture_id, self.tl0_pic_idx, self.tid, self.key_idx
        if pid is None and tl0 is None and tid is None and key_idx is None:
            if self.layer_sync:
                raise ValueError("VP8 layer_sync (Y) needs the TID/Y/KEYIDX octet (tid or key_idx)")
            return bytes((b0,))
        out = bytearray((b0 | 0x80, 0))
        b1 = 0
        if pid is not None:
            b1 |= 0x80
            if self.long_picture_id:
                if not 0 <= pid <= 0x7FFF:
                    raise ValueError(f"VP8 15-bit PictureID {pid} out of range")
                out += bytes((0x80 | (pid >> 8), pid & 0xFF))
            else:
                if not 0 <= pid <= 0x7F:
                    raise ValueError(f"VP8 7-bit PictureID {pid} out of range")
                out.append(pid)
        if tl0 is not None:
            if tid is None:
                raise ValueError("VP8 TL0PICIDX needs a TID (RFC 7741 §4.2: L requires T)")
            if not 0 <= tl0 <= 0xFF:
                raise ValueError(f"VP8 TL0PICIDX {tl0} out of range")
            b1 |= 0x40
            out.append(tl0)
        if tid is not None or key_idx is not None:
            t = 0x20 if self.layer_sync else 0
            if tid is not None:
                if not 0 <= tid <= 3:
                    raise ValueError(f"VP8 TID {tid} is not 0-3")
                b1 |= 0x20
                t |= tid << 6
            if key_idx is not None:
                if not 0 <= key_idx <= 0x1F:
                    raise ValueError(f"VP8 KEYIDX {key_idx} is not 0-31")
                b1 |= 0x10
                t |= key_idx
            out.append(t)
        elif self.layer_sync:
            raise ValueError("VP8 layer_sync (Y) needs the TID/Y/KEYIDX octet (tid or key_idx)")
        out[1] = b1
        return bytes(out)


@dataclass(frozen=True, slots=True)
class Vp8PayloadHeader:
    """RFC 7741 §4.3 VP8 payload header: the first three octets of an encoded frame.

    ``keyframe`` is the inverse of the P bit ("When set to 0, the current frame is a key
    frame"); ``show_frame`` is H; ``first_partition_size`` is Size0..Size2 (RFC 6386 §9.1).
    """

    keyframe: bool
    version: int
    show_frame: bool
    first_partition_size: int

    @classmethod
    def parse(cls, data: bytes) -> Vp8PayloadHeader:
        if len(data) < 3:
            raise ParseError(f"VP8 payload header: need 3 bytes, got {len(data)}", 0)
        b0 = data[0]
        size = (b0 >> 5) | (data[1] << 3) | (data[2] << 11)
        return cls(not b0 & 0x01, (b0 >> 1) & 0x07, bool(b0 & 0x10), size)

    @property
    def size(self) -> int:
        """RFC 6386 §9.1: the uncompressed data chunk is 10 octets on key frames, else 3."""
        return 10 if self.keyframe else 3


def _split(length: int, room: int) -> list[int]:
    """Sizes of ``ceil(length / room)`` chunks as equal as possible (none above ``room``)."""
    count = max(1, -(-length // room))
    base, extra = divmod(length, count)
    return [base + 1 if i < extra else base for i in range(count)]


class Vp8Packetizer:
    """RFC 7741 §4 VP8 packetizer: frame bytes -> ``[(payload, marker), ...]``.

    Every payload starts with a descriptor carrying a 15-bit PictureID (``picture_id`` is the
    first one; RFC 7741 §4.2: it "MAY start at a random value, MUST increase by 1 for each
    subsequent frame, and MUST wrap to 0 after reaching the maximum ID"), so pass a random
    start value.  The marker is set on the last packet of the frame (RFC 7741 §4.1).

    When ``partition_aware`` (the default) and the frame header is readable, partition 0 (the
    mode/motion-vector partition with its partition-size table) and the DCT partitions never
    share a packet: the first DCT packet is labelled ``PID = 1`` with ``S = 1`` (RFC 7741 §4.4,
    §4.6.3).  Otherwise every packet has ``PID = 0`` and only the first has ``S = 1``.
    """

    __slots__ = ("_max", "_partition_aware", "picture_id")

    def __init__(
        self, max_payload_size: int, *, picture_id: int = 0, partition_aware: bool = True
    ) -> None:
        if max_payload_size < 5:
            raise ValueError("VP8 max_payload_size must leave room for a 4-byte descriptor")
        if not 0 <= picture_id <= 0x7FFF:
            raise ValueError(f"VP8 PictureID {picture_id} out of range")
        self._max = max_payload_size
        self._partition_aware = partition_aware
        self.picture_id = picture_id

    def packetize(self, frame: bytes, *, non_reference: bool = False) -> list[tuple[bytes, bool]]:
        """Payloads for one encoded frame; the PictureID advances by one per call."""
        if not frame:
            raise ValueError("VP8 frame is empty")
        pid = self.picture_id
        self.picture_id = (pid + 1) & 0x7FFF
        n0 = 0x80 | (0x20 if non_reference else 0)
        ext = bytes((0x80, 0x80 | (pid >> 8), pid & 0xFF))
        room = self._max - 4
        boundary = len(frame)
        if self._partition_aware and len(frame) >= 3:
            header = Vp8PayloadHeader.parse(frame)
            end0 = header.size + header.first_partition_size
            if end0 < len(frame):
                boundary = end0
        out: list[tuple[bytes, bool]] = []
        pos = 0
        for part, (lo, hi) in enumerate(((0, boundary), (boundary, len(frame)))):
            if lo >= hi:
                continue
            first = True
            for size in _split(hi - lo, room):
                b0 = n0 | part | (0x10 if first else 0)
                first = False
                out.append((bytes((b0,)) + ext + frame[pos : pos + size], False))
                pos += size
        last, _ = out[-1]
        out[-1] = (last, True)
        return out


class Vp8Depacketizer:
    """RFC 7741 §4.5.1 frame reconstruction: strip the descriptor; a frame starts at ``S = 1,
    PID = 0`` and is a key frame when the payload header's P bit is 0 (RFC 7741 §4.3)."""

    single_packet_frames: ClassVar[bool] = False

    def depacketize(self, payload: bytes) -> tuple[bytes, bool | None, bool]:
        """``(frame bytes in this payload, starts a frame, key frame)``; ParseError if bad."""
        # The per-packet path only needs the descriptor's length and S/PID: it measures the
        # descriptor without building a Vp8PayloadDescriptor (half the cost per packet,
        # bench/bench_depacketize.py) and leaves anything unusual to the full parser.
        n = len(payload)
        size = 0
        if n > 1:
            b0 = payload[0]
            if not b0 & 0x80:
                size = 1
            else:
                b1 = payload[1]
                size = 2
                if b1 & 0x80:  # I: 7- or 15-bit picture ID
                    size += 2 if n > 2 and payload[2] & 0x80 else 1
                if b1 & 0x40:  # L (needs T: RFC 7741 §4.2)
                    size = size + 1 if b1 & 0x20 else 0
                if size and b1 & 0x30:  # T or K
                    size += 1
        if size == 0 or size >= n:
            size = Vp8PayloadDescriptor.parse(payload)[1]
            b0 = payload[0]
        body = payload[size:]
        if not body:
            raise ParseError("VP8 payload: descriptor without frame data", size)
        start = bool(b0 & 0x10) and b0 & 0x07 == 0
        # RFC 7741 §4.3: the payload header "is present only in packets that have the S bit
        # equal to one and the PID equal to zero in the payload descriptor."
        keyframe = start and not body[0] & 0x01
        return body, start, keyframe
