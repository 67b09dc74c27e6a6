"""Checkers for the RTP payload format vectors: ``rfc-vectors/rfc7741/`` and the FFmpeg captures
in ``rfc-vectors/captures/ffmpeg-*/rtp-payloads.json``.

Each checker takes a vector (an ``rtcstack.vectors.Vector``; only its ``cases`` are read, so this
module imports nothing outside the layer) and returns the problems found, ``[]`` for a pass.
``rtcstack vectors`` registers them in its ``CHECKERS``.

Kinds:

- ``rtp-payload``: whole RTP packets (RFC 3550 §5.1) with a payload format.  Every case has
  ``codec`` (``VP8``, ``VP9``, ``H264``, ``opus``, ``PCMU``), ``hex`` (the packet), ``rtp``
  (``payload_type``, ``marker``, ``sequence_number``, ``timestamp``, ``ssrc``) and
  ``descriptor`` (the payload format's own fields, below).  The checker parses the packet and
  the descriptor and compares every field, then builds the descriptor and the RTP header back
  from the expected fields and compares the exact bytes.

  - VP8 (RFC 7741 §4.2): the :class:`Vp8PayloadDescriptor` fields; ``payload_header`` (RFC 7741
    §4.3: ``keyframe``, ``version``, ``show_frame``, ``first_partition_size``) on packets with
    S = 1 and PID = 0.
  - VP9 (RFC 9628 §4.2): the :class:`Vp9PayloadDescriptor` fields; ``ss`` as an object
    (``spatial_layers``, ``resolutions`` as ``[w, h]`` pairs, ``picture_group``) or null.
  - H264 (RFC 6184 §5.6-5.8): ``{"packet": "single", "forbidden", "nri", "type"}``,
    ``{"packet": "STAP-A", "forbidden", "nri", "nal_units": [{"forbidden", "nri", "type",
    "size"}, ...]}`` or ``{"packet": "FU-A", "start", "end", "nal_type", "forbidden", "nri",
    "fragment_size"}``.
  - opus (RFC 7587 §4.2, RFC 6716 §3.1): ``toc_config``, ``stereo``, ``code``, ``samples``.
  - PCMU (RFC 3551 §4.5.14): ``samples`` (one octet each).

- ``vp8-descriptor``: RFC 7741 §4.6's examples, transcribed from the bit diagrams: each case's
  ``hex`` is the payload descriptor alone, ``descriptor`` its fields; parse gives them and the
  descriptor's length is all of ``hex``; serialize gives the exact bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rtcstack.common.errors import ParseError
from rtcstack.rtp.formats.h264 import FuA, NalUnitHeader, StapA
from rtcstack.rtp.formats.opus import opus_packet_samples
from rtcstack.rtp.formats.vp8 import Vp8PayloadDescriptor, Vp8PayloadHeader
from rtcstack.rtp.formats.vp9 import (
    Vp9PayloadDescriptor,
    Vp9PictureGroupEntry,
    Vp9ScalabilityStructure,
)
from rtcstack.rtp.packet import RtpPacket

__all__ = [
    "CHECKERS",
    "check_rtp_payload",
    "check_vp8_descriptor",
    "describe_payload",
    "hex_value",
]

RTP_FIELDS = ("payload_type", "marker", "sequence_number", "timestamp", "ssrc")


def hex_value(value: str | Sequence[str]) -> bytes:
    """Hex as one string or a list of rows, spaces anywhere."""
    text = value if isinstance(value, str) else " ".join(value)
    return bytes.fromhex(text.replace(" ", ""))


def _plain(value: Any) -> Any:
    """A dataclass / tuple tree as JSON values (tuples become lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _ss_from(fields: Mapping[str, Any] | None) -> Vp9ScalabilityStructure | None:
    if fields is None:
        return None
    res = fields.get("resolutions")
    group = fields.get("picture_group")
    return Vp9ScalabilityStructure(
        fields["spatial_layers"],
        None if res is None else tuple((int(w), int(h)) for w, h in res),
        None
        if group is None
        else tuple(
            Vp9PictureGroupEntry(e["tid"], e["switching_up"], tuple(e["p_diffs"])) for e in group
        ),
    )


def _nal_fields(octet: int) -> dict[str, Any]:
    return _plain(NalUnitHeader.parse(octet))  # type: ignore[no-any-return]


def describe_payload(codec: str, payload: bytes) -> tuple[dict[str, Any], int]:
    """RFC 7741 / 9628 / 6184 / 7587 / 3551: the payload format fields of ``payload`` as JSON
    values (the ``descriptor`` of an ``rtp-payload`` case) and the descriptor's length.
    Raises ParseError for a malformed payload, ValueError for an unknown codec."""
    if codec == "VP8":
        desc, size = Vp8PayloadDescriptor.parse(payload)
        out: dict[str, Any] = _plain(desc)
        if desc.start_of_partition and desc.partition_index == 0:
            out["payload_header"] = _plain(Vp8PayloadHeader.parse(payload[size:]))
        return out, size
    if codec == "VP9":
        vp9, size = Vp9PayloadDescriptor.parse(payload)
        return _plain(vp9), size
    if codec == "H264":
        if not payload:
            raise ParseError("H.264 payload: empty", 0)
        kind = payload[0] & 0x1F
        if kind == 24:
            stap = StapA.parse(payload)
            units = [{**_nal_fields(u[0]), "size": len(u)} for u in stap.nal_units]
            return {"packet": "STAP-A", **_nal_fields(payload[0]), "nal_units": units}, 1
        if kind == 28:
            fu = FuA.parse(payload)
            fields = _plain(fu)
            del fields["fragment"]
            return {"packet": "FU-A", **fields, "fragment_size": len(fu.fragment)}, 2
        if 1 <= kind <= 23:
            return {"packet": "single", **_nal_fields(payload[0])}, 0
        raise ParseError(f"H.264 packet type {kind} is not single/STAP-A/FU-A", 0)
    if codec == "opus":
        samples = opus_packet_samples(payload)
        toc = payload[0]
        return {
            "toc_config": toc >> 3,
            "stereo": bool(toc & 0x04),
            "code": toc & 0x03,
            "samples": samples,
        }, 0
    if codec == "PCMU":
        if not payload:
            raise ParseError("G.711 payload: empty", 0)
        return {"samples": len(payload)}, 0
    raise ValueError(f"unknown codec {codec!r}")


def _compare(label: str, got: Mapping[str, Any], want: Mapping[str, Any]) -> list[str]:
    problems = []
    for key in sorted(set(got) | set(want)):
        if key not in want:
            problems.append(f"{label}: field {key!r} = {got[key]!r} is not in the vector")
        elif got.get(key) != want[key]:
            problems.append(f"{label}: {key} is {got.get(key)!r}, expected {want[key]!r}")
    return problems


def _rebuild(codec: str, want: Mapping[str, Any], payload: bytes, size: int) -> bytes:
    """The payload built again from the expected fields (and the parsed payload's data)."""
    body = payload[size:]
    if codec == "VP8":
        fields = {k: v for k, v in want.items() if k != "payload_header"}
        return Vp8PayloadDescriptor(**fields).serialize() + body
    if codec == "VP9":
        fields = {k: v for k, v in want.items() if k not in ("ss", "p_diffs")}
        vp9 = Vp9PayloadDescriptor(
            **fields, p_diffs=tuple(want["p_diffs"]), ss=_ss_from(want["ss"])
        )
        return vp9.serialize() + body
    if codec == "H264":
        packet = want["packet"]
        if packet == "FU-A":
            fu = FuA(want["start"], want["end"], want["nal_type"], payload[2:],
                     want["forbidden"], want["nri"])
            return fu.serialize()
        header = NalUnitHeader(want["forbidden"], want["nri"], 24 if packet == "STAP-A" else
                               want["type"]).serialize()
        if packet == "STAP-A":
            units = StapA.parse(payload).nal_units
            rebuilt = tuple(
                bytes((NalUnitHeader(u["forbidden"], u["nri"], u["type"]).serialize(),)) + n[1:]
                for u, n in zip(want["nal_units"], units, strict=True)
            )
            return StapA(rebuilt, want["forbidden"], want["nri"]).serialize()
        return bytes((header,)) + payload[1:]
    return payload


def check_rtp_payload(vector: Any) -> list[str]:
    problems: list[str] = []
    if not vector.cases:
        return ["no cases"]
    for case in vector.cases:
        name = case["name"]
        data = hex_value(case["hex"])
        try:
            packet = RtpPacket.parse(data)
        except ParseError as exc:
            problems.append(f"{name}: RTP parse fails: {exc}")
            continue
        got_rtp = {k: getattr(packet, k) for k in RTP_FIELDS}
        problems += _compare(f"{name} rtp", got_rtp, case["rtp"])
        codec = case["codec"]
        try:
            fields, size = describe_payload(codec, packet.payload)
        except (ParseError, ValueError) as exc:
            problems.append(f"{name}: {codec} payload rejected: {exc}")
            continue
        want = case["descriptor"]
        problems += _compare(f"{name} {codec}", fields, want)
        try:
            payload = _rebuild(codec, want, packet.payload, size)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{name}: cannot build the {codec} payload from the fields: {exc}")
            continue
        if payload != packet.payload:
            problems.append(f"{name}: {codec} payload rebuilt as {payload[:16].hex()}...")
        rtp = case["rtp"]
        rebuilt = RtpPacket(
            rtp["payload_type"], rtp["sequence_number"], rtp["timestamp"], rtp["ssrc"],
            payload, rtp["marker"]
        ).serialize()
        if rebuilt != data:
            problems.append(f"{name}: packet serializes as {rebuilt[:16].hex()}...")
    return problems


def check_vp8_descriptor(vector: Any) -> list[str]:
    problems: list[str] = []
    if not vector.cases:
        return ["no cases"]
    for case in vector.cases:
        label = f"§{case['section']} {case['name']}"
        data = hex_value(case["hex"])
        try:
            desc, size = Vp8PayloadDescriptor.parse(data)
        except ParseError as exc:
            problems.append(f"{label}: rejected: {exc}")
            continue
        if size != len(data):
            problems.append(f"{label}: descriptor is {size} octets, the RFC shows {len(data)}")
        problems += _compare(label, _plain(desc), case["descriptor"])
        try:
            built = Vp8PayloadDescriptor(**case["descriptor"]).serialize()
        except (TypeError, ValueError) as exc:
            problems.append(f"{label}: cannot serialize the fields: {exc}")
            continue
        if built != data:
            problems.append(f"{label}: serializes as {built.hex()}, the RFC shows {data.hex()}")
    return problems


CHECKERS: dict[str, Callable[[Any], list[str]]] = {
    "rtp-payload": check_rtp_payload,
    "vp8-descriptor": check_vp8_descriptor,
}
