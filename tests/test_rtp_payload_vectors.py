"""RTP payload format vectors: RFC 7741 §4.6 (``rfc-vectors/rfc7741/``) and the packets FFmpeg's
RTP muxer wrote (``rfc-vectors/captures/ffmpeg-*/rtp-payloads.json``), through their checkers
in ``rtcstack/rtp/formats/vectors.py``, and proof that the checkers catch a changed byte."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rtcstack.cli.vectors import CHECKERS, check_vector
from rtcstack.rtp.formats.vectors import check_rtp_payload, check_vp8_descriptor
from rtcstack.vectors import Vector, load, load_file

CAPTURES = sorted(
    (Path(__file__).resolve().parent.parent / "rfc-vectors" / "captures").glob(
        "ffmpeg-*/rtp-payloads.json"
    )
)


def test_kinds_are_registered() -> None:
    assert CHECKERS["rtp-payload"] is check_rtp_payload
    assert CHECKERS["vp8-descriptor"] is check_vp8_descriptor


def test_rfc7741_examples_pass() -> None:
    vector = load(7741, "4.6-examples")
    assert {c["section"] for c in vector.cases} == {"4.6.1", "4.6.2", "4.6.3", "4.6.4", "4.6.5"}
    assert check_vector(vector) == []


@pytest.mark.parametrize("path", CAPTURES, ids=[p.parent.name for p in CAPTURES])
def test_ffmpeg_capture_passes(path: Path) -> None:
    vector = load_file(path)
    assert vector.kind == "rtp-payload" and "FFmpeg" in vector.source
    codecs = {c["codec"] for c in vector.cases}
    assert codecs == {"VP8", "VP9", "H264", "opus", "PCMU"}
    packets = {c["descriptor"].get("packet") for c in vector.cases if c["codec"] == "H264"}
    assert {"STAP-A", "FU-A"} <= packets
    assert check_vector(vector) == []


def test_there_is_a_capture() -> None:
    assert CAPTURES, "rfc-vectors/captures/ffmpeg-*/rtp-payloads.json is missing"


def _with_case(vector: Vector, index: int, **changes: object) -> Vector:
    cases = [dict(c) for c in vector.cases]
    cases[index].update(changes)
    return dataclasses.replace(vector, cases=tuple(cases))


def test_a_changed_byte_or_field_fails() -> None:
    vector = load(7741, "4.6-examples")
    case = vector.cases[0]
    assert check_vp8_descriptor(_with_case(vector, 0, hex="90 80 12")) != []
    fields = dict(case["descriptor"], picture_id=18)
    assert check_vp8_descriptor(_with_case(vector, 0, descriptor=fields)) != []
    for path in CAPTURES:
        capture = load_file(path)
        for i, c in enumerate(capture.cases):
            rtp = dict(c["rtp"], sequence_number=(c["rtp"]["sequence_number"] + 1) & 0xFFFF)
            assert check_rtp_payload(_with_case(capture, i, rtp=rtp)) != [], c["name"]
            if c["codec"] == "PCMU":
                continue  # any octet is a sample: only the count is a field
            rows = list(c["hex"])
            first = rows[0].split()
            first[12] = f"{int(first[12], 16) ^ 0x10:02x}"  # the payload's first octet
            changed = _with_case(capture, i, hex=[" ".join(first), *rows[1:]])
            assert check_rtp_payload(changed) != [], c["name"]
