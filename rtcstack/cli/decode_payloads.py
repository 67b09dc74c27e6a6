"""RTP payload descriptors for ``rtcstack decode``: which format a payload type carries, and
every field of its payload descriptor / header.

The payload type is mapped to a format by ``--rtpmap PT=NAME`` options (NAME as in an SDP
``a=rtpmap`` line, RFC 8866 §6.6, case-insensitive; a trailing ``/clock-rate[/channels]`` is
ignored) or, for PCMU (0) and PCMA (8), by the static assignment of RFC 3551 §6.  ``rtx/APT``
(RFC 4588 §8.1: ``apt`` is the original payload type) shows the OSN and decodes the original
payload as APT's format.

:func:`describe_payload` returns a JSON-friendly ``dict`` and never raises for malformed
payloads: the fields decoded before the problem are kept and ``"error"`` holds the
:class:`~rtcstack.common.ParseError` reason and offset (from the start of the RTP payload).
:func:`render_human` lays the dict out as indented ``key: value`` lines.

Formats (from :mod:`rtcstack.rtp.formats`): VP8 (RFC 7741 §4.2 descriptor, §4.3 payload header,
RFC 6386 §9.1 key frame size), VP9 (RFC 9628 §4.2 descriptor, §4.2.1 scalability structure,
the frame's uncompressed header), H.264 (RFC 6184 §5.6 single NAL unit, §5.7.1 STAP-A, §5.8
FU-A), Opus (RFC 6716 §3.1 TOC, RFC 7587), G.711 PCMU/PCMA (RFC 3551 §4.5.14).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rtcstack.common.errors import ParseError

__all__ = [
    "STATIC_PAYLOAD_TYPES",
    "PayloadFormat",
    "describe_payload",
    "find_error",
    "parse_rtpmap",
    "render_human",
]

# NAME (lower case) -> canonical SDP encoding name
_NAMES = {
    "vp8": "VP8",
    "vp9": "VP9",
    "h264": "H264",
    "opus": "opus",
    "pcmu": "PCMU",
    "pcma": "PCMA",
    "rtx": "rtx",
}


@dataclass(frozen=True, slots=True)
class PayloadFormat:
    """What a payload type carries: the SDP encoding ``name`` (canonical spelling, or as given
    when rtcstack has no decoder for it), the RTX ``apt`` and where the mapping came from."""

    name: str
    apt: int | None = None
    source: str = "--rtpmap"


STATIC_PAYLOAD_TYPES: dict[int, PayloadFormat] = {
    # RFC 3551 §6 Table 4
    0: PayloadFormat("PCMU", source="static, RFC 3551 §6"),
    8: PayloadFormat("PCMA", source="static, RFC 3551 §6"),
}


def parse_rtpmap(items: Iterable[str]) -> dict[int, PayloadFormat]:
    """``PT=NAME[/rate[/channels]]`` and ``PT=rtx/APT`` options -> payload type map (the static
    PCMU/PCMA entries included, overridden by an option for the same PT).

    Raises ``ValueError`` naming the bad option.
    """
    result = dict(STATIC_PAYLOAD_TYPES)
    for item in items:
        pt_text, eq, spec = item.partition("=")
        pt_text = pt_text.strip()
        if not eq or not pt_text.isdigit() or not spec.strip():
            raise ValueError(f"--rtpmap {item!r} is not PT=NAME")
        pt = int(pt_text)
        if pt > 127:
            raise ValueError(f"--rtpmap {item!r}: payload type {pt} is not 0-127")
        name, *params = spec.strip().split("/")
        canonical = _NAMES.get(name.lower(), name)
        apt: int | None = None
        if canonical == "rtx" and params and params[0].isdigit() and int(params[0]) <= 127:
            # rtx/96: the associated payload type (a clock rate such as rtx/90000 is ignored)
            apt = int(params[0])
        result[pt] = PayloadFormat(canonical, apt)
    for pt, fmt in result.items():
        if fmt.apt is not None and fmt.apt in result and result[fmt.apt].name == "rtx":
            raise ValueError(f"--rtpmap {pt}=rtx/{fmt.apt}: the original format is rtx too")
    return result


def find_error(desc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``"error"`` of a :func:`describe_payload` result (also inside an RTX original)."""
    while desc is not None:
        error = desc.get("error")
        if error is not None:
            return dict(error)
        desc = desc.get("original")
    return None


def describe_payload(
    payload: bytes, payload_type: int, formats: dict[int, PayloadFormat], offset: int = 0
) -> dict[str, Any] | None:
    """The descriptor of ``payload`` for its payload type, or None when the PT is unmapped.

    ``offset`` is where the payload starts in the datagram: an ``"error"`` gives its
    ``"offset"`` in the datagram and its ``"payload_offset"`` in the RTP payload.
    """
    fmt = formats.get(payload_type)
    if fmt is None:
        return None
    return _describe(payload, fmt, formats, 0, offset)


def _describe(
    payload: bytes, fmt: PayloadFormat, formats: dict[int, PayloadFormat], base: int, start: int
) -> dict[str, Any]:
    out: dict[str, Any] = {"format": fmt.name}
    decoder = _DECODERS.get(fmt.name)
    if decoder is None and fmt.name != "rtx":
        out["mapping"] = fmt.source
        out["note"] = f"no payload decoder for {fmt.name}"
        return out
    try:
        if fmt.name == "rtx":
            out["rfc"] = "RFC 4588 §4"
            out["mapping"] = fmt.source
            _rtx(payload, fmt, formats, base, start, out)
        elif decoder is not None:
            rfc, function = decoder
            out["rfc"] = rfc
            out["mapping"] = fmt.source
            function(payload, out)
    except ParseError as exc:
        where = None if exc.offset is None else base + exc.offset
        out["error"] = {
            "format": fmt.name,
            "reason": exc.reason,
            "offset": None if where is None else start + where,
            "payload_offset": where,
        }
    return out


def _rtx(
    payload: bytes,
    fmt: PayloadFormat,
    formats: dict[int, PayloadFormat],
    base: int,
    start: int,
    out: dict[str, Any],
) -> None:
    """RFC 4588 §4 Figure 2: the 2-byte original sequence number, then the original payload."""
    out["apt"] = fmt.apt
    if len(payload) < 2:
        raise ParseError(
            f"RTX: payload of {len(payload)} bytes has no original sequence number", 0
        )
    out["OSN"] = (payload[0] << 8) | payload[1]
    original = payload[2:]
    out["original_payload_size"] = len(original)
    if fmt.apt is None:
        out["note"] = "give --rtpmap PT=rtx/APT to decode the original payload"
        return
    inner = formats.get(fmt.apt)
    if inner is None:
        out["note"] = f"original payload type {fmt.apt} has no --rtpmap"
        return
    if not original:
        out["note"] = "no original payload (e.g. a padding-only bandwidth probe)"
        return
    out["original"] = _describe(original, inner, formats, base + 2, start)


# --- VP8 -------------------------------------------------------------------------------------


def _vp8(payload: bytes, out: dict[str, Any]) -> None:
    """RFC 7741 §4.2 descriptor, §4.3 payload header, RFC 6386 §9.1 key frame start code and
    size."""
    from rtcstack.rtp.formats import Vp8PayloadDescriptor, Vp8PayloadHeader

    desc, size = Vp8PayloadDescriptor.parse(payload)
    b0 = payload[0]
    out["descriptor_size"] = size
    out["X"] = b0 >> 7
    out["N"] = (b0 >> 5) & 1
    out["S"] = (b0 >> 4) & 1
    out["PID"] = b0 & 0x07
    if b0 & 0x80:
        b1 = payload[1]
        out["I"], out["L"], out["T"], out["K"] = (b1 >> 7, (b1 >> 6) & 1, (b1 >> 5) & 1,
                                                  (b1 >> 4) & 1)
        if desc.picture_id is not None:
            out["picture_id"] = desc.picture_id
            out["picture_id_bits"] = 15 if desc.long_picture_id else 7
        if desc.tl0_pic_idx is not None:
            out["TL0PICIDX"] = desc.tl0_pic_idx
        if desc.tid is not None:
            out["TID"] = desc.tid
        if b1 & 0x30:
            out["Y"] = int(desc.layer_sync)
        if desc.key_idx is not None:
            out["KEYIDX"] = desc.key_idx
    body = payload[size:]
    out["data_size"] = len(body)
    if not body:
        raise ParseError("VP8 payload: descriptor without frame data", size)
    if not (desc.start_of_partition and desc.partition_index == 0):
        return
    # RFC 7741 §4.3: the payload header "is present only in packets that have the S bit equal
    # to one and the PID equal to zero in the payload descriptor."
    try:
        header = Vp8PayloadHeader.parse(body)
    except ParseError as exc:
        raise ParseError(exc.reason, size + (exc.offset or 0)) from None
    head: dict[str, Any] = {
        "P": 0 if header.keyframe else 1,
        "keyframe": header.keyframe,
        "version": header.version,
        "show_frame": header.show_frame,
        "first_partition_size": header.first_partition_size,
    }
    out["payload_header"] = head
    if header.keyframe:
        # RFC 6386 §9.1: start code 0x9d 0x01 0x2a, then 14-bit width and height, each with a
        # 2-bit scale, little-endian.
        if len(body) < 10:
            raise ParseError(f"VP8 key frame header: need 10 bytes, got {len(body)}", size)
        if body[3:6] != b"\x9d\x01\x2a":
            raise ParseError("VP8 key frame header: start code is not 9d 01 2a", size + 3)
        w = body[6] | (body[7] << 8)
        h = body[8] | (body[9] << 8)
        head["width"] = w & 0x3FFF
        head["height"] = h & 0x3FFF
        head["horizontal_scale"] = w >> 14
        head["vertical_scale"] = h >> 14


# --- VP9 -------------------------------------------------------------------------------------


def _vp9(payload: bytes, out: dict[str, Any]) -> None:
    """RFC 9628 §4.2 descriptor, §4.2.1 SS; on B = 1 the VP9 uncompressed header (frame type,
    show_frame, key frame size)."""
    from rtcstack.rtp.formats import Vp9PayloadDescriptor, vp9_frame_info

    desc, size = Vp9PayloadDescriptor.parse(payload)
    b0 = payload[0]
    out["descriptor_size"] = size
    for i, name in enumerate("IPLFBEVZ"):
        out[name] = (b0 >> (7 - i)) & 1
    out["mode"] = "flexible" if desc.flexible else "non-flexible"
    if desc.picture_id is not None:
        out["picture_id"] = desc.picture_id
        out["picture_id_bits"] = 15 if desc.long_picture_id else 7
    if desc.tid is not None:
        out["TID"] = desc.tid
        out["U"] = int(desc.switching_up)
        out["SID"] = desc.sid
        out["D"] = int(desc.inter_layer_dependency)
        if desc.tl0_pic_idx is not None:
            out["TL0PICIDX"] = desc.tl0_pic_idx
    if desc.p_diffs:
        out["P_DIFF"] = list(desc.p_diffs)
    if desc.ss is not None:
        ss = desc.ss
        ss_out: dict[str, Any] = {
            "N_S": ss.spatial_layers - 1,
            "spatial_layers": ss.spatial_layers,
            "Y": int(ss.resolutions is not None),
            "G": int(ss.picture_group is not None),
        }
        if ss.resolutions is not None:
            ss_out["resolutions"] = [f"{w}x{h}" for w, h in ss.resolutions]
        if ss.picture_group is not None:
            ss_out["N_G"] = len(ss.picture_group)
            ss_out["PG"] = [
                {"TID": e.tid, "U": int(e.switching_up), "R": len(e.p_diffs),
                 "P_DIFF": list(e.p_diffs)}
                for e in ss.picture_group
            ]
        out["SS"] = ss_out
    out["keyframe_start"] = desc.is_keyframe_start
    body = payload[size:]
    out["data_size"] = len(body)
    if not body:
        raise ParseError("VP9 payload: descriptor without frame data", size)
    if desc.start_of_frame:
        try:
            info = vp9_frame_info(body)
        except ParseError as exc:
            raise ParseError(exc.reason, size + (exc.offset or 0)) from None
        frame: dict[str, Any] = {"keyframe": info.keyframe, "show_frame": info.show_frame}
        if info.width is not None:
            frame["width"] = info.width
            frame["height"] = info.height
        out["frame_header"] = frame


# --- H.264 -----------------------------------------------------------------------------------

# H.264 Table 7-1 nal_unit_type, and RFC 6184 §5.4 Table 3 for 24-29
_NAL_NAMES = {
    0: "unspecified",
    1: "non-IDR slice",
    2: "slice data partition A",
    3: "slice data partition B",
    4: "slice data partition C",
    5: "IDR slice",
    6: "SEI",
    7: "SPS",
    8: "PPS",
    9: "access unit delimiter",
    10: "end of sequence",
    11: "end of stream",
    12: "filler data",
    13: "SPS extension",
    14: "prefix NAL unit",
    15: "subset SPS",
    16: "depth parameter set",
    19: "auxiliary slice",
    20: "slice extension",
    21: "3D-AVC slice extension",
    24: "STAP-A",
    25: "STAP-B",
    26: "MTAP16",
    27: "MTAP24",
    28: "FU-A",
    29: "FU-B",
}
_MARKS = {5: "IDR", 7: "SPS", 8: "PPS"}


def _nal_name(kind: int) -> str:
    return _NAL_NAMES.get(kind, "reserved")


def _h264(payload: bytes, out: dict[str, Any]) -> None:
    """RFC 6184 §5.2-5.8: the packet type, each NAL unit's type; SPS, PPS and IDR marked."""
    from rtcstack.rtp.formats import FuA, StapA

    if not payload:
        raise ParseError("H.264 payload: empty", 0)
    b0 = payload[0]
    kind = b0 & 0x1F
    out["F"] = b0 >> 7
    out["NRI"] = (b0 >> 5) & 0x03
    out["type"] = kind
    marks: list[str] = []
    if 1 <= kind <= 23:
        out["packet"] = "single NAL unit (RFC 6184 §5.6)"
        out["name"] = _nal_name(kind)
        out["nal_size"] = len(payload)
        if kind in _MARKS:
            marks.append(_MARKS[kind])
    elif kind == 24:
        out["packet"] = "STAP-A (RFC 6184 §5.7.1)"
        stap = StapA.parse(payload)
        units = []
        for unit in stap.nal_units:
            u = unit[0]
            units.append({"type": u & 0x1F, "name": _nal_name(u & 0x1F), "F": u >> 7,
                          "NRI": (u >> 5) & 0x03, "size": len(unit)})
            if (u & 0x1F) in _MARKS and _MARKS[u & 0x1F] not in marks:
                marks.append(_MARKS[u & 0x1F])
        out["nal_units"] = units
    elif kind == 28:
        out["packet"] = "FU-A (RFC 6184 §5.8)"
        fu = FuA.parse(payload)
        out["S"] = int(fu.start)
        out["E"] = int(fu.end)
        out["R"] = (payload[1] >> 5) & 1
        out["nal_type"] = fu.nal_type
        out["name"] = _nal_name(fu.nal_type)
        out["fragment_size"] = len(fu.fragment)
        if fu.nal_type in _MARKS:
            marks.append(_MARKS[fu.nal_type])
    elif kind in (25, 26, 27, 29):
        out["packet"] = _nal_name(kind)
        out["note"] = "interleaved mode (packetization-mode 2, RFC 6184 §6.4): not decoded"
    else:
        out["packet"] = f"reserved type {kind}"
        # RFC 6184 §5.4: reserved types "MUST be ignored by a receiver"
        out["note"] = "reserved (RFC 6184 §5.4): ignored by receivers"
    out["marks"] = marks
    out["keyframe"] = "IDR" in marks


# --- Opus and G.711 --------------------------------------------------------------------------

# RFC 6716 §3.1 Table 2: (mode, bandwidth) of each group of TOC configurations
_OPUS_MODES = (
    [("SILK-only", "NB")] * 4 + [("SILK-only", "MB")] * 4 + [("SILK-only", "WB")] * 4
    + [("Hybrid", "SWB")] * 2 + [("Hybrid", "FB")] * 2
    + [("CELT-only", "NB")] * 4 + [("CELT-only", "WB")] * 4 + [("CELT-only", "SWB")] * 4
    + [("CELT-only", "FB")] * 4
)
_OPUS_FRAME_MS: tuple[int | float, ...] = tuple(
    (10, 20, 40, 60)[c % 4] if c < 12 else (10, 20)[c % 2] if c < 16 else (2.5, 5, 10, 20)[c % 4]
    for c in range(32)
)
_OPUS_BANDWIDTH = {"NB": "narrowband, 4 kHz", "MB": "medium-band, 6 kHz",
                   "WB": "wideband, 8 kHz", "SWB": "super-wideband, 12 kHz",
                   "FB": "fullband, 20 kHz"}
_OPUS_CODES = ("1 frame", "2 frames of equal size", "2 frames of different sizes",
               "an arbitrary number of frames")


def _ms(samples: int, rate: int) -> int | float:
    value = samples * 1000 / rate
    return int(value) if value.is_integer() else value


def _opus(payload: bytes, out: dict[str, Any]) -> None:
    """RFC 6716 §3.1 TOC byte (config, s, c), §3.2.5 frame count byte; the packet duration."""
    from rtcstack.rtp.formats import opus_packet_samples

    if not payload:
        raise ParseError("Opus packet: empty (no TOC byte)", 0)
    toc = payload[0]
    config = toc >> 3
    mode, bandwidth = _OPUS_MODES[config]
    out["TOC"] = f"0x{toc:02x}"
    out["config"] = config
    out["mode"] = mode
    out["bandwidth"] = f"{bandwidth} ({_OPUS_BANDWIDTH[bandwidth]})"
    out["frame_size_ms"] = _OPUS_FRAME_MS[config]
    out["s"] = (toc >> 2) & 1
    out["channels"] = "stereo" if toc & 0x04 else "mono"
    code = toc & 0x03
    out["c"] = code
    out["frames"] = _OPUS_CODES[code]
    if code == 3 and len(payload) >= 2:
        b = payload[1]
        out["v"] = b >> 7
        out["p"] = (b >> 6) & 1
        out["M"] = b & 0x3F
    samples = opus_packet_samples(payload)
    out["samples_48k"] = samples
    out["duration_ms"] = _ms(samples, 48000)


def _g711(payload: bytes, out: dict[str, Any]) -> None:
    """RFC 3551 §4.5.14: one 8-bit sample per octet at 8000 Hz."""
    if not payload:
        raise ParseError("G.711 payload: empty", 0)
    out["clock_rate"] = 8000
    out["samples"] = len(payload)
    out["duration_ms"] = _ms(len(payload), 8000)


_DECODERS: dict[str, tuple[str, Callable[[bytes, dict[str, Any]], None]]] = {
    "VP8": ("RFC 7741 §4.2", _vp8),
    "VP9": ("RFC 9628 §4.2", _vp9),
    "H264": ("RFC 6184 §5", _h264),
    "opus": ("RFC 7587 §4.2, RFC 6716 §3.1", _opus),
    "PCMU": ("RFC 3551 §4.5.14", _g711),
    "PCMA": ("RFC 3551 §4.5.14", _g711),
}


# --- human output ----------------------------------------------------------------------------


def _scalar(value: object) -> str:
    """One value in the human output (shared with :mod:`rtcstack.cli.decode`)."""
    if value is None:
        return "-"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def _entry(value: object) -> str:
    if isinstance(value, list):
        return "[" + " ".join(_scalar(v) for v in value) + "]"
    return _scalar(value)


def render_human(desc: dict[str, Any], indent: int) -> list[str]:
    """``key: value`` lines, one per field; nested dicts as indented blocks, lists of scalars
    on one line, lists of flat dicts as ``- k=v, ...`` lines.  The ``error`` is left out (the
    caller prints it as a failure line)."""
    lines: list[str] = []
    _block(desc, indent, lines)
    return lines


def _block(value: dict[str, Any], indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    for key, item in value.items():
        if key == "error":
            continue
        if isinstance(item, dict):
            lines.append(f"{pad}{key}:")
            _block(item, indent + 1, lines)
        elif isinstance(item, list) and any(isinstance(v, dict) for v in item):
            lines.append(f"{pad}{key}:")
            for entry in item:
                if isinstance(entry, dict):
                    text = ", ".join(f"{k}={_entry(v)}" for k, v in entry.items())
                    lines.append(f"{pad}  - {text}")
                else:
                    lines.append(f"{pad}  - {_scalar(entry)}")
        elif isinstance(item, list):
            lines.append(f"{pad}{key}: {', '.join(_scalar(v) for v in item) or '(none)'}")
        else:
            lines.append(f"{pad}{key}: {_scalar(item)}")
