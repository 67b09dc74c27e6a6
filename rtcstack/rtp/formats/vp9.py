"""RFC 9628 RTP payload format for VP9: the payload descriptor (flexible and non-flexible
modes), the scalability structure, packetizer, depacketizer and layered picture reassembly.

:class:`Vp9PayloadDescriptor` is the value of RFC 9628 §4.2 and :class:`Vp9ScalabilityStructure`
of §4.2.1, both with ``parse``/``serialize``.  :class:`Vp9Packetizer` sends single-layer frames
(:meth:`~Vp9Packetizer.packetize`) or pictures of several spatial-layer frames
(:meth:`~Vp9Packetizer.packetize_picture`, :class:`Vp9LayerFrame`), in non-flexible mode
(TL0PICIDX, SS picture group) or flexible mode (P_DIFF reference indices).
:func:`vp9_frame_info` reads the uncompressed header (VP9 bitstream spec §6.2).

Receiving, two designs on one :class:`~rtcstack.rtp.formats.FrameAssembler`:

- ``FrameAssembler(Vp9Depacketizer())``: one frame per picture (RTP timestamp), the layer
  frames concatenated in SID order, the way a decoder takes a superframe;
- :class:`Vp9PictureAssembler`: the same pictures cut at the B/E bounds into
  :class:`Vp9ReceivedLayerFrame` values, each with the descriptor the sender wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rtcstack.common.errors import ParseError
from rtcstack.rtp.formats.assembler import FrameAssembler
from rtcstack.rtp.formats.vp8 import parse_picture_id

__all__ = [
    "Vp9Depacketizer",
    "Vp9FrameInfo",
    "Vp9LayerFrame",
    "Vp9Packetizer",
    "Vp9PayloadDescriptor",
    "Vp9Picture",
    "Vp9PictureAssembler",
    "Vp9PictureGroupEntry",
    "Vp9ReceivedLayerFrame",
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


_B, _E, _V = 0x08, 0x04, 0x02


@dataclass(frozen=True, slots=True)
class Vp9LayerFrame:
    """One spatial-layer frame of a picture, for :meth:`Vp9Packetizer.packetize_picture`.

    RFC 9628 §3: "a picture consists of one or more frames, encoding different spatial layers".
    ``data`` is the encoded frame (opaque to the packetizer); ``sid``/``tid``/``switching_up``
    (U)/``inter_layer_dependency`` (D)/``not_reference_for_upper`` (Z) go into the layer
    indices and first octet (RFC 9628 §4.2).  ``p_diffs`` are the flexible-mode reference
    indices (``None``: one P_DIFF of 1, the previous picture, except on key pictures).
    ``inter_picture_predicted`` (P) is derived when ``None``: in flexible mode it is
    ``bool(p_diffs)``, in non-flexible mode it is "not a key picture".
    """

    data: bytes
    sid: int = 0
    tid: int = 0
    switching_up: bool = False
    inter_layer_dependency: bool = False
    p_diffs: tuple[int, ...] | None = None
    inter_picture_predicted: bool | None = None
    not_reference_for_upper: bool = False


class Vp9Packetizer:
    """RFC 9628 §4 VP9 packetizer, non-flexible (default) or flexible mode (``flexible=True``).

    Every payload has I = 1 with a 15-bit picture ID (``picture_id`` is the first; RFC 9628
    §4.2: it "SHOULD start on a random number and MUST wrap after reaching the maximum ID"),
    and the picture ID advances by one per picture.  RFC 9628 §4.3: each frame is "beginning
    with a packet with the B bit set and ending with a packet with the E bit set".  On the first
    packet of a key picture the SS (RFC 9628 §4.2.1: "the SS data SHOULD be included in the
    first packet of every key frame"): ``scalability`` when given, else one built from the
    frame headers.

    :meth:`packetize` (the :class:`~rtcstack.rtp.formats.Packetizer` protocol) sends one frame
    as one single-layer picture without layer indices: P = 0 on key frames (read from the
    uncompressed header), and in flexible mode one P_DIFF of 1 (the previous picture) on the
    others.  :meth:`packetize_picture` sends a picture of several spatial-layer frames with the
    layer indices (L) on every packet; in non-flexible mode with TL0PICIDX (``tl0_pic_idx`` is
    the value of the next picture with TID 0), checked against the SS picture group.

    Marker bit, RFC 9628 §4.1: "This bit MUST be set to one for the final packet of the highest
    spatial-layer frame (the final packet of the picture); otherwise, it is zero."
    """

    __slots__ = ("_key_pid", "_max", "_pg", "flexible", "picture_id", "scalability", "tl0_pic_idx")

    def __init__(
        self,
        max_payload_size: int,
        *,
        picture_id: int = 0,
        flexible: bool = False,
        tl0_pic_idx: int = 0,
        scalability: Vp9ScalabilityStructure | None = None,
    ) -> None:
        if max_payload_size < 12:
            raise ValueError("VP9 max_payload_size must leave room for the descriptor and SS")
        if not 0 <= picture_id <= 0x7FFF:
            raise ValueError(f"VP9 picture ID {picture_id} out of range")
        if not 0 <= tl0_pic_idx <= 0xFF:
            raise ValueError(f"VP9 TL0PICIDX {tl0_pic_idx} out of range")
        if scalability is not None:
            scalability.serialize()  # validates it now rather than on the first key frame
        self._max = max_payload_size
        self.picture_id = picture_id
        self.flexible = flexible
        self.tl0_pic_idx = tl0_pic_idx
        self.scalability = scalability
        self._pg: tuple[Vp9PictureGroupEntry, ...] = ()  # the PG in force (non-flexible)
        self._key_pid = 0  # the picture ID of the last key picture: the PG's first entry

    def packetize(self, frame: bytes) -> list[tuple[bytes, bool]]:
        """Payloads for one encoded frame (or superframe) as one single-layer picture."""
        if not frame:
            raise ValueError("VP9 frame is empty")
        info = vp9_frame_info(frame)
        pid = self.picture_id
        # RFC 9628 §4.2 first octet I, P (inter frames), F; then the 15-bit PID, and in flexible
        # mode on inter frames one P_DIFF of 1 with N = 0 (the previous picture).
        b0 = 0x80 if info.keyframe else 0xC0
        tail = bytes((0x80 | (pid >> 8), pid & 0xFF))
        if self.flexible:
            b0 |= 0x10
            if not info.keyframe:
                tail += b"\x02"
        ss = b""
        if info.keyframe:
            structure = self.scalability
            if structure is None and info.width is not None and info.height is not None:
                structure = Vp9ScalabilityStructure(1, ((info.width, info.height),))
            if structure is not None:
                b0 |= _V
                ss = structure.serialize()
        head = bytes((b0,)) + tail + ss
        if len(head) >= self._max:
            raise ValueError(f"VP9 descriptor of {len(head)} bytes leaves no room for data")
        self.picture_id = (pid + 1) & 0x7FFF
        out: list[tuple[bytes, bool]] = []
        self._fragment(frame, head, len(ss), out)
        last, _ = out[-1]
        out[-1] = (last, True)
        return out

    def packetize_picture(
        self,
        layers: Sequence[Vp9LayerFrame],
        *,
        keyframe: bool = False,
        ss: Vp9ScalabilityStructure | None = None,
    ) -> list[tuple[bytes, bool]]:
        """Payloads for one picture: its spatial-layer frames in increasing SID order.

        ``keyframe``: a key picture (RFC 9628 §4.2 F: "a picture whose base spatial-layer frame
        is a keyframe"): no inter-picture references, TID 0, and the SS (``ss``, else the
        packetizer's ``scalability``, else N_S from the layers and resolutions read from the
        frames' headers when they all parse) on its first packet.  The marker bit is set on the
        last packet only.  Raises ValueError for a picture RFC 9628 §4.2 does not allow.
        """
        if not layers or len(layers) > 8:
            raise ValueError("a VP9 picture has 1 to 8 spatial-layer frames")
        flexible = self.flexible
        prev_sid = -1
        for lf in layers:
            if not lf.data:
                raise ValueError(f"VP9 layer frame S{lf.sid} is empty")
            if not (0 <= lf.sid <= 7 and 0 <= lf.tid <= 7):
                raise ValueError(f"VP9 TID {lf.tid} / SID {lf.sid} out of range")
            if lf.sid <= prev_sid:
                # RFC 9628 §4.2 SID: "Different frames of the same picture MUST have distinct
                # spatial-layer IDs, and frames' spatial layers MUST appear in increasing order"
                raise ValueError("VP9 layer frames need distinct SIDs in increasing order")
            if lf.inter_layer_dependency and (lf.sid == 0 or prev_sid != lf.sid - 1):
                # RFC 9628 §4.2 D: "D MUST be set to one if and only if the current spatial-
                # layer SID frame depends on spatial-layer SID-1 frame of the same picture";
                # "For the base-layer frame (with SID equal to zero), the D bit MUST be set to
                # zero."
                below = f"no S{lf.sid - 1} frame before it" if lf.sid else "it is the base layer"
                raise ValueError(f"VP9 S{lf.sid}: D set but {below}")
            prev_sid = lf.sid
        if keyframe and layers[0].sid != 0:
            raise ValueError("a VP9 key picture starts with its base layer (SID 0)")
        tid = layers[0].tid
        if not flexible and any(lf.tid != tid for lf in layers):
            raise ValueError("VP9 non-flexible mode: every frame of a picture has the PG's TID")
        # Nothing changes in the packetizer's state until the whole picture is checked.
        pid = self.picture_id
        pg, key_pid = self._pg, self._key_pid
        if keyframe:
            if ss is None:
                ss = self.scalability if self.scalability is not None else _default_ss(layers)
            if not flexible:
                # RFC 9628 §4.2 PID: "the PID of the keyframe corresponds to the first
                # specified frame in the PG"
                pg, key_pid = ss.picture_group or (), pid
        elif ss is not None:
            raise ValueError("VP9 SS is sent on key pictures only")
        ss_size = len(ss.serialize()) if ss is not None else 0
        tl0: int | None = None
        next_tl0 = self.tl0_pic_idx
        if not flexible:
            if pg:
                entry = pg[((pid - key_pid) & 0x7FFF) % len(pg)]
                if entry.tid != tid:
                    # RFC 9628 §4.2 TID: "the value of the TID MUST match the corresponding TID
                    # value of the mapped picture in the PG"
                    raise ValueError(f"VP9 picture TID {tid} but the PG says {entry.tid}")
            if tid == 0:
                # RFC 9628 §4.2: "TL0PICIDX MUST be incremented by one when the TID is equal to
                # zero" and "MUST restart at zero after reaching the maximum number 255"
                tl0 = next_tl0
                next_tl0 = (tl0 + 1) & 0xFF
            else:
                tl0 = (next_tl0 - 1) & 0xFF
        heads: list[bytes] = []
        for i, lf in enumerate(layers):
            if flexible:
                refs = lf.p_diffs if lf.p_diffs is not None else (() if keyframe else (1,))
                predicted = bool(refs)
                if (
                    lf.inter_picture_predicted is not None
                    and lf.inter_picture_predicted != predicted
                ):
                    # RFC 9628 §4.2: "When P and F are both set to one ... at least one reference
                    # index MUST be specified"; "When either P or F is set to zero, then no
                    # reference index is specified."
                    raise ValueError(f"VP9 S{lf.sid}: P must be set exactly when P_DIFFs are")
            else:
                if lf.p_diffs:
                    raise ValueError("VP9 P_DIFFs exist only in flexible mode (use the SS PG)")
                refs = ()
                predicted = (
                    lf.inter_picture_predicted
                    if lf.inter_picture_predicted is not None
                    else not keyframe
                )
            if keyframe and predicted:
                raise ValueError("a VP9 key picture has no inter-picture prediction")
            if not predicted and lf.tid != 0:
                # RFC 9628 §4.2 P: "When P is set to zero, the Temporal-layer ID (TID) field
                # (described below) MUST also be set to zero (if present)."
                raise ValueError(f"VP9 S{lf.sid}: P = 0 needs TID 0, not {lf.tid}")
            desc = Vp9PayloadDescriptor(
                inter_picture_predicted=predicted,
                flexible=flexible,
                not_reference_for_upper=lf.not_reference_for_upper,
                picture_id=pid,
                tid=lf.tid,
                switching_up=lf.switching_up,
                sid=lf.sid,
                inter_layer_dependency=lf.inter_layer_dependency,
                tl0_pic_idx=tl0,
                p_diffs=refs,
                ss=ss if i == 0 else None,
            )
            head = desc.serialize()
            if len(head) >= self._max:
                raise ValueError(f"VP9 descriptor of {len(head)} bytes leaves no room for data")
            heads.append(head)
        self.picture_id = (pid + 1) & 0x7FFF
        self.tl0_pic_idx = next_tl0
        self._pg, self._key_pid = pg, key_pid
        out: list[tuple[bytes, bool]] = []
        for i, (lf, head) in enumerate(zip(layers, heads, strict=True)):
            self._fragment(lf.data, head, ss_size if i == 0 else 0, out)
        last, _ = out[-1]
        out[-1] = (last, True)
        return out

    def _fragment(
        self, data: bytes, first: bytes, ss_size: int, out: list[tuple[bytes, bool]]
    ) -> None:
        """Append the payloads of one layer frame.  ``first`` is its descriptor (B and E clear)
        ending in ``ss_size`` bytes of SS, which only the first packet carries; B goes on the
        first packet, E on the last; sizes as equal as the MTU allows."""
        b0 = first[0]
        first_tail = first[1:]
        rest_tail = first[1 : len(first) - ss_size]
        total = len(data)
        first_room = self._max - len(first)
        room = self._max - 1 - len(rest_tail)
        if first_room < 1:
            raise ValueError(f"VP9 descriptor of {len(first)} bytes leaves no room for data")
        count = 1 if total <= first_room else 1 + -(-(total - first_room) // room)
        first_size = min(first_room, -(-total // count))
        sizes = [first_size]
        if total > first_size:
            sizes += _split(total - first_size, room)
        pos = 0
        last_index = len(sizes) - 1
        for i, size in enumerate(sizes):
            e = _E if i == last_index else 0
            if i == 0:
                head = bytes((b0 | _B | e,)) + first_tail
            else:
                head = bytes(((b0 & ~_V) | e,)) + rest_tail
            out.append((head + data[pos : pos + size], False))
            pos += size


def _default_ss(layers: Sequence[Vp9LayerFrame]) -> Vp9ScalabilityStructure:
    """The SS of a key picture nobody described: N_S from the highest SID, and the resolutions
    when the layers are S0..Sn whose uncompressed headers give a size (VP9 bitstream §6.2)."""
    count = layers[-1].sid + 1
    sizes: list[tuple[int, int]] = []
    if len(layers) == count:
        for lf in layers:
            try:
                info = vp9_frame_info(lf.data)
            except ParseError:
                break
            if info.width is None or info.height is None:
                break
            sizes.append((info.width, info.height))
    return Vp9ScalabilityStructure(count, tuple(sizes) if len(sizes) == count else None)


class Vp9Depacketizer:
    """RFC 9628 §4.3 reassembly for :class:`~rtcstack.rtp.formats.FrameAssembler`: one frame
    per *picture* (RTP timestamp), its spatial-layer frames concatenated in SID order (which
    libvpx decodes as it would a superframe).

    A packet starts a picture when B = 1 and SID = 0; a B packet of a higher spatial layer may
    start one too (when the lower layers were not sent), so it answers ``None`` (the assembler
    then decides by the previous picture's end).  Key frame: RFC 9628 §4.2 (F) the first packet
    of a key picture "will have its P bit equal to zero, SID or L bit ... equal to zero, and B
    bit ... equal to one".  ``last_descriptor`` is the descriptor of the last payload accepted
    (for :class:`Vp9PictureAssembler`, which splits pictures at the B/E layer frame bounds).
    """

    __slots__ = ("last_body_size", "last_descriptor")

    single_packet_frames: ClassVar[bool] = False

    def __init__(self) -> None:
        self.last_descriptor: Vp9PayloadDescriptor | None = None
        self.last_body_size = 0

    def depacketize(self, payload: bytes) -> tuple[bytes, bool | None, bool]:
        """``(frame bytes in this payload, starts a frame, key frame)``; ParseError if bad."""
        desc, size = Vp9PayloadDescriptor.parse(payload)
        body = payload[size:]
        if not body:
            raise ParseError("VP9 payload: descriptor without frame data", size)
        self.last_descriptor = desc
        self.last_body_size = len(body)
        if not desc.start_of_frame:
            return body, False, False
        if desc.sid:
            return body, None, False
        return body, True, not desc.inter_picture_predicted


@dataclass(frozen=True, slots=True)
class Vp9ReceivedLayerFrame:
    """One spatial-layer frame of a received picture: the descriptor of its first packet (the
    one with B = 1: SID, TID, U, D, P, P_DIFFs, TL0PICIDX, Z, picture ID, SS) and its bytes."""

    descriptor: Vp9PayloadDescriptor
    data: bytes


@dataclass(frozen=True, slots=True)
class Vp9Picture:
    """A received picture (RFC 9628 §3): its layer frames in SID order, the RTP timestamp, the
    key picture flag, and the 16-bit sequence numbers of its first and last packet."""

    timestamp: int
    layers: tuple[Vp9ReceivedLayerFrame, ...]
    keyframe: bool
    first_sequence: int
    last_sequence: int

    @property
    def data(self) -> bytes:
        """The layer frames concatenated (what :class:`Vp9Depacketizer` alone gives)."""
        return b"".join(layer.data for layer in self.layers)

    @property
    def picture_id(self) -> int | None:
        return self.layers[0].descriptor.picture_id


class Vp9PictureAssembler:
    """Pictures split into their spatial-layer frames, from reordered RTP packets.

    A :class:`~rtcstack.rtp.formats.FrameAssembler` over a :class:`Vp9Depacketizer` does the
    reordering and loss handling (a picture is handed out whole or not at all); this class
    keeps each packet's descriptor and cuts the picture at the layer frame bounds (RFC 9628
    §4.3: "beginning with a packet with the B bit set and ending with a packet with the E bit
    set").  A picture whose packets do not form whole layer frames in increasing SID order is
    dropped and counted in ``pictures_malformed``.  ``assembler`` is the inner FrameAssembler
    (its counters: frames_dropped, packets_lost, ...).
    """

    __slots__ = ("_dep", "_info", "_limit", "_next", "assembler", "pictures_malformed")

    def __init__(self, *, reorder_window: int = 64, max_packets: int = 1024) -> None:
        self._dep = Vp9Depacketizer()
        self.assembler = FrameAssembler(
            self._dep, reorder_window=reorder_window, max_packets=max_packets
        )
        # 16-bit sequence number -> (descriptor, body length), for packets the assembler holds
        self._info: dict[int, tuple[Vp9PayloadDescriptor, int]] = {}
        self._next: int | None = None  # sequence number after the last picture handed out
        self._limit = max_packets
        self.pictures_malformed = 0

    def push(self, sequence_number: int, timestamp: int, marker: bool, payload: bytes) -> None:
        """Feed one RTP packet (as :meth:`FrameAssembler.push`; never raises on bad input)."""
        dep = self._dep
        dep.last_descriptor = None
        self.assembler.push(sequence_number, timestamp, marker, payload)
        desc = dep.last_descriptor
        if desc is not None:
            info = self._info
            seq = sequence_number & 0xFFFF
            info[seq] = (desc, dep.last_body_size)
            if len(info) > 2 * self._limit:
                # More than the assembler can hold (no picture completed for a long time): keep
                # the newest.  Forgetting one it still holds only costs that picture (dropped
                # as malformed), never a wrong split.
                keep = sorted(info, key=lambda s: (seq - s) & 0xFFFF)[: self._limit]
                self._info = {s: info[s] for s in keep}

    @property
    def pending_descriptors(self) -> int:
        """How many packets' descriptors are kept for pictures not handed out yet."""
        return len(self._info)

    def flush(self) -> None:
        """Give up on every incomplete picture now (:meth:`FrameAssembler.flush`)."""
        self.assembler.flush()

    def pop_picture(self) -> Vp9Picture | None:
        """The next complete picture in decode order, or ``None``."""
        while (frame := self.assembler.pop_frame()) is not None:
            first, last = frame.first_sequence, frame.last_sequence
            if first != self._next:
                self._forget_before(first)  # packets the assembler discarded
            self._next = (last + 1) & 0xFFFF
            picture = self._split(frame.timestamp, frame.data, frame.keyframe, first, last)
            if picture is not None:
                return picture
            self.pictures_malformed += 1
        return None

    def _forget_before(self, first: int) -> None:
        info = self._info
        for seq in [s for s in info if 0 < ((first - s) & 0xFFFF) < 0x8000]:
            del info[seq]

    def _split(
        self, timestamp: int, data: bytes, keyframe: bool, first: int, last: int
    ) -> Vp9Picture | None:
        info = self._info
        layers: list[Vp9ReceivedLayerFrame] = []
        start: Vp9PayloadDescriptor | None = None
        begin = pos = 0
        ok = True
        prev_sid = -1
        pid = -1
        count = ((last - first) & 0xFFFF) + 1
        for k in range(count):
            entry = info.pop((first + k) & 0xFFFF, None)
            if entry is None:
                ok = False
                continue
            desc, size = entry
            if k == 0:
                pid = desc.picture_id if desc.picture_id is not None else -1
            elif (desc.picture_id if desc.picture_id is not None else -1) != pid:
                ok = False  # RFC 9628 §4.2: "All frames of the same picture MUST have the same
                # PID value."
            if desc.start_of_frame:
                if start is not None or desc.sid <= prev_sid:
                    ok = False  # a new frame before E, or SIDs not increasing
                start, begin, prev_sid = desc, pos, desc.sid
            elif start is None or desc.sid != start.sid:
                ok = False
            pos += size
            if desc.end_of_frame and start is not None:
                layers.append(Vp9ReceivedLayerFrame(start, data[begin:pos]))
                start = None
        if not ok or start is not None or not layers or pos != len(data):
            return None
        return Vp9Picture(timestamp, tuple(layers), keyframe, first, last)
