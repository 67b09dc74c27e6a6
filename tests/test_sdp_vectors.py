"""SDP examples from the RFCs as text vectors: parse -> the expected fields, serialize -> the
exact text, and the vector checker fails when either side is wrong."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

from rtcstack.cli.vectors import check_sdp_attribute, check_sdp_description, check_vector
from rtcstack.sdp import Candidate, Rid, SdpParseError, SessionDescription, Simulcast
from rtcstack.vectors import Vector, VectorError, all_vectors, load, load_file, vectors_dir

SDP_VECTORS = [v for v in all_vectors() if v.layer == "sdp"]
DESCRIPTIONS = [v for v in SDP_VECTORS if v.kind == "sdp-description"]
RFCS_DIR = Path(os.environ.get("RFC_DIR", "/work/shared/rfcs"))


def _ids(vectors: list[Vector]) -> list[str]:
    return [f"rfc{v.rfc}-{v.name}" for v in vectors]


def test_every_rfc_the_issue_names_has_vectors() -> None:
    assert {v.rfc for v in DESCRIPTIONS} >= {8866, 9429, 8839, 9143, 8853, 3264}
    assert {v.rfc for v in SDP_VECTORS if v.kind == "sdp-attribute"} >= {8839, 8851, 9429}
    assert sum(v.rfc == 9429 for v in DESCRIPTIONS) == 10  # every offer and answer of §7


@pytest.mark.parametrize("vector", SDP_VECTORS, ids=_ids(SDP_VECTORS))
def test_every_sdp_vector_passes_its_checker(vector: Vector) -> None:
    assert vector.is_text and vector.line_ending == "crlf"
    assert vector.source.startswith(f"RFC {vector.rfc} §{vector.section}, https://")
    assert check_vector(vector) == []


@pytest.mark.parametrize("vector", DESCRIPTIONS, ids=_ids(DESCRIPTIONS))
def test_descriptions_round_trip_byte_for_byte(vector: Vector) -> None:
    if "parse_error" in vector.expected:
        with pytest.raises(SdpParseError) as info:
            SessionDescription.parse(vector.text)
        assert vector.expected["parse_error"] in str(info.value)
        assert info.value.line is not None
        return
    desc = SessionDescription.parse(vector.text)
    assert desc.serialize() == vector.text
    assert desc.normalised == ()
    # LF-only input reads the same and says it was normalised.
    lf = SessionDescription.parse(vector.text.replace("\r\n", "\n"))
    assert lf.serialize() == vector.text and lf.normalised


def test_jsep_offer_a1_by_name() -> None:
    v = load(9429, "offer-a1")
    desc = SessionDescription.parse(v.text)
    assert [m.mid for m in desc.media] == ["a1", "v1"]
    assert desc.bundle_groups() == [("a1", "v1")]
    audio, video = desc.media
    assert audio.rtpmaps[96].encoding == "opus" and audio.rtpmaps[96].channels == 2
    assert video.fmtps[102].params == {"apt": "100"}
    assert [c.component for c in audio.candidates] == [1, 2]
    fp = desc.fingerprints_for(audio)[0]
    assert fp.algorithm == "sha-256" and len(fp.digest) == 32  # the unfolded fingerprint


def test_jsep_offer_b2_simulcast_and_bundle_only_b1() -> None:
    b2 = SessionDescription.parse(load(9429, "offer-b2").text)
    v1 = b2.section("v1")
    assert v1 is not None
    sim = v1.first(Simulcast)
    assert sim is not None and [[r.rid for r in s] for s in sim.send] == [["1"], ["2"], ["3"]]
    assert [r.id for r in v1.get(Rid)] == ["1", "2", "3"]
    b1 = SessionDescription.parse(load(9429, "offer-b1").text)
    assert b1.media[1].port == 0 and b1.media[1].bundle_only


def test_rfc8853_paused_alternatives_and_rfc8839_ipv6_candidates() -> None:
    multi = SessionDescription.parse(load(8853, "multisource-offer").text)
    sim = multi.media[1].first(Simulcast)
    assert sim is not None
    assert [[r.serialize() for r in s] for s in sim.send] == [["1"], ["2"], ["~4", "3"]]
    offer = SessionDescription.parse(load(8839, "appendix-a-offer").text)
    cands = offer.media[0].get(Candidate)
    assert cands[1].address == "2001:db8:8101:3a55:4858:a2a9:22ff:99b9"
    assert cands[1].related_address == "fe80::6676:baff:fe9c:ee4a"


def _mutated(vector: Vector, **changes: Any) -> Vector:
    return dataclasses.replace(vector, **changes)


def test_description_checker_fails_on_wrong_fields_and_text() -> None:
    v = load(9429, "offer-a1")
    expected = json.loads(json.dumps(v.expected))
    expected["media"][1]["codecs"]["100"] = "VP9/90000"
    assert any("codecs" in p for p in check_sdp_description(_mutated(v, expected=expected)))
    expected = json.loads(json.dumps(v.expected))
    expected["session"]["bundle_groups"] = [["a1"]]
    assert check_sdp_description(_mutated(v, expected=expected))
    expected = json.loads(json.dumps(v.expected))
    expected["check"]["errors"] = ["fingerprint"]
    assert check_sdp_description(_mutated(v, expected=expected))
    assert check_sdp_description(_mutated(v, expected={**v.expected, "media_count": 3}))
    # Expecting a parse error of text that parses is a failure too.
    assert check_sdp_description(_mutated(v, expected={"parse_error": "port"}))
    # A text that does not parse fails without parse_error.
    bad = _mutated(v, text_lines=("v=0", "o=- x"), expected=v.expected)
    assert check_sdp_description(bad)


def test_attribute_checker_fails_on_wrong_fields() -> None:
    v = load(8839, "candidate-srflx")
    attrs = json.loads(json.dumps(v.expected["attributes"]))
    attrs[0]["fields"]["related_port"] = 1
    assert check_sdp_attribute(_mutated(v, expected={"attributes": attrs}))
    assert check_sdp_attribute(_mutated(v, expected={"attributes": []}))
    sim = load(8851, "scalable-layers-simulcast")
    assert check_sdp_attribute(sim) == []
    fine = _mutated(sim, text_lines=("a=simulcast:send 0;1",))
    assert check_sdp_attribute(fine)  # parses, but the vector expects a rejection


def test_unknown_kind_is_never_a_pass() -> None:
    v = _mutated(load(8866, "example"), kind="sdp-something-else")
    assert check_vector(v) == ["no checker for kind 'sdp-something-else'"]


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "rfc8866" / "x.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_loader_text_vectors(tmp_path: Path) -> None:
    base = json.loads(load(8866, "example").path.read_text(encoding="utf-8"))
    v = load_file(_write(tmp_path, base))
    assert v.text.startswith("v=0\r\no=jdoe ") and v.text.endswith("h263-1998/90000\r\n")
    assert v.data == v.text.encode() and v.hex_lines == ()
    lf = load_file(_write(tmp_path, {**base, "line_ending": "lf"}))
    assert lf.text == v.text.replace("\r\n", "\n")
    for bad, message in (
        ({**base, "hex": []}, "exactly one of"),
        ({k: val for k, val in base.items() if k != "text"}, "exactly one of"),
        ({**base, "line_ending": "cr"}, "line_ending"),
        ({**base, "text": []}, "non-empty"),
        ({**base, "text": ["v=0\r\n"]}, "without CR/LF"),
    ):
        with pytest.raises(VectorError, match=message):
            load_file(_write(tmp_path, bad))


@pytest.mark.skipif(not (RFCS_DIR / "rfc9429.txt").is_file(), reason="no RFC texts here")
def test_extract_sdp_reproduces_every_file() -> None:
    """The vector files are exactly what rfc-vectors/extract_sdp.py copies from the RFCs."""
    spec = importlib.util.spec_from_file_location("extract_sdp",
                                                  vectors_dir() / "extract_sdp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check", "--rfcs", str(RFCS_DIR)]) == 0
    names = {s["name"] for s in module.SPECS} | {s["name"] for s in module.ATTRIBUTE_SPECS}
    assert {v.name for v in SDP_VECTORS} == names
