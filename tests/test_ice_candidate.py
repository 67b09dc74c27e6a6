"""ICE candidates: RFC 8445 §5.1 priorities and foundations, RFC 8839 §5.1 text form.

- Every ICE vector (``rfc-vectors/rfc8445``, ``rfc8839``, ``rfc6544``, ``rfc8421``) passes its
  checker, the files are what ``rfc-vectors/extract_ice.py`` copies out of the RFC texts, and the
  checkers do catch a wrong number or a wrong rule.
- Every candidate line in the Chromium 156 and Firefox ESR 153 captures parses into the fields a
  plain split reads and serializes back byte for byte.
- The spelling, ``tcptype`` and validation rules of :class:`rtcstack.ice.candidate.Candidate`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rtcstack.cli.vectors import CHECKERS, check_vector
from rtcstack.common.errors import ParseError
from rtcstack.ice.candidate import (
    TYPE_PREFERENCE,
    Candidate,
    CandidateType,
    candidate_priority,
    foundation_for,
    local_preference,
    pair_priority,
)
from rtcstack.ice.vectors import CHECKERS as ICE_CHECKERS
from rtcstack.ice.vectors import candidate_fields
from rtcstack.vectors import Vector, all_vectors, load, vectors_dir

ICE_VECTORS = [v for v in all_vectors() if v.layer == "ice"]
RFCS = Path("/work/shared/rfcs")
CAPTURES = vectors_dir() / "captures"
PROGRAMS = ("chromium-156", "firefox-esr-153")


# --- the vectors --------------------------------------------------------------------------------


def test_the_ice_vectors_are_there() -> None:
    names = {(v.rfc, v.name, v.kind) for v in ICE_VECTORS}
    assert names == {
        (8445, "candidate-priority", "ice-candidate-priority"),
        (8445, "pair-priority", "ice-pair-priority"),
        (8445, "foundation", "ice-foundation"),
        (8839, "candidate-lines", "ice-candidate"),
        (6544, "candidate-lines", "ice-candidate"),
        (8421, "dual-stack-priorities", "ice-candidate-priority-table"),
    }
    assert all(CHECKERS[v.kind] is ICE_CHECKERS[v.kind] for v in ICE_VECTORS)


@pytest.mark.parametrize("vector", ICE_VECTORS, ids=lambda v: f"rfc{v.rfc}-{v.name}")
def test_vector_passes(vector: Vector) -> None:
    assert vector.cases
    assert check_vector(vector) == []


@pytest.mark.skipif(not (RFCS / "rfc8445.txt").is_file(), reason="no RFC texts in /work/shared")
def test_vectors_are_what_extract_ice_copies_from_the_rfcs() -> None:
    script = vectors_dir() / "extract_ice.py"
    result = subprocess.run([sys.executable, str(script), "--check", "--rfcs", str(RFCS)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rfc_lines_are_all_there() -> None:
    """RFC 8839 prints 6 candidate lines (§4.2.6, §5.1, App. A), RFC 6544 App. C 18."""
    lines = [c["line"] for c in load(8839, "candidate-lines").cases]
    assert lines[2] == ("a=candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr "
                        "203.0.113.141 rport 8998")
    assert len(lines) == 6
    tcp = load(6544, "candidate-lines").cases
    assert len(tcp) == 18
    assert Counter(c["fields"]["tcptype"] for c in tcp) == {
        "active": 6, "passive": 6, "so": 3, None: 3}


def test_rfc_quoted_priorities() -> None:
    """RFC 5245 §17: "the priority of the host candidate is 2130706431 and for the server
    reflexive candidate is 1694498815"; RFC 8421 §4 row 1 is 2129289471."""
    assert candidate_priority(CandidateType.HOST) == 2130706431
    assert candidate_priority(CandidateType.SERVER_REFLEXIVE) == 1694498815
    assert candidate_priority(CandidateType.HOST, 60000, 1) == 2129289471
    # RFC 6544 App. C: a TCP active host candidate, direction-pref 6, other-pref 8191.
    assert candidate_priority(CandidateType.HOST, (1 << 13) * 6 + 8191) == 2128609279
    assert candidate_priority(CandidateType.HOST, 57343, type_preference=125) == 2111832063
    assert pair_priority(2130706431, 1694498815) == 7277816997797167103


def _broken(vector: Vector, mutate: Any) -> Vector:
    cases = copy.deepcopy([dict(c) for c in vector.cases])
    mutate(cases)
    return dataclasses.replace(vector, cases=tuple(cases))


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def mutate(cases: list[Any]) -> None:
        target = cases
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


@pytest.mark.parametrize(("rfc", "name", "path", "value", "problem"), [
    (8445, "candidate-priority", (0, "priority"), 2130706430, "expected 2130706430"),
    (8445, "candidate-priority", (-1, "error"), "nope", "refused"),
    (8445, "pair-priority", (1, "swapped"), 1, "roles swapped"),
    (8445, "pair-priority", (0, "pair_priority"), 2, "expected 2"),
    (8445, "foundation", (0, "same"), False, "should be different"),
    (8445, "foundation", (3, "same"), True, "should be equal"),
    (8839, "candidate-lines", (0, "fields", "port"), 8999, "port"),
    (8839, "candidate-lines", (0, "line"), "a=candidate:1 1 UDP 2130706431 x 1 typ bogus",
     "rejected"),
    (8839, "candidate-lines", (0, "priority_from", "local_preference"), 65534,
     "candidate_priority gives"),
    (6544, "candidate-lines", (0, "priority_from", "other_pref"), 8190, "(2^13)*6 + 8190"),
    (6544, "candidate-lines", (0, "fields", "tcptype"), "so", "tcptype"),
    (8421, "dual-stack-priorities", (0, "priority"), 2129289470, "RFC 2129289470"),
    (8421, "dual-stack-priorities", (2, "family"), "IPv6", "local_preference() ranks"),
])
def test_checkers_catch_a_wrong_vector(rfc: int, name: str, path: tuple[Any, ...], value: Any,
                                       problem: str) -> None:
    vector = _broken(load(rfc, name), _set(path, value))
    problems = check_vector(vector)
    assert any(problem in p for p in problems), problems


# --- real captures --------------------------------------------------------------------------------


def _capture_lines() -> list[tuple[str, str, str]]:
    out = []
    for program in PROGRAMS:
        for path in sorted((CAPTURES / program).glob("*.sdp")):
            text = path.read_bytes().decode("utf-8")
            for line in text.split("\r\n"):
                if line.startswith("a=candidate:"):
                    out.append((program, path.name, line))
    return out


CAPTURE_LINES = _capture_lines()


def _split_fields(line: str) -> dict[str, Any]:
    """A plain reading of a browser candidate line (no raddr in these captures)."""
    f = line.removeprefix("a=candidate:").split(" ")
    rest = list(zip(f[8::2], f[9::2], strict=True))
    tcptype = rest.pop(0)[1] if rest and rest[0][0] == "tcptype" else None
    return {"foundation": f[0], "component": int(f[1]), "transport": f[2].lower(),
            "priority": int(f[3]), "address": f[4], "port": int(f[5]), "type": f[7],
            "related_address": None, "related_port": None, "tcptype": tcptype,
            "extensions": [list(p) for p in rest]}


def test_captures_cover_what_browsers_send() -> None:
    """Both programs, host UDP and TCP (tcptype), IPv4, IPv6 and mDNS names, and Chromium's
    generation / network-id / network-cost extensions.  No srflx: the captures ran with no
    ICE servers (rfc-vectors/captures/*/captures.json)."""
    assert {p for p, _, _ in CAPTURE_LINES} == set(PROGRAMS)
    parsed = [Candidate.parse(line) for _, _, line in CAPTURE_LINES]
    assert len(parsed) >= 250
    assert {c.type for c in parsed} == {CandidateType.HOST}
    assert {c.transport for c in parsed} == {"udp", "tcp"}
    assert {c.tcptype for c in parsed} == {None, "active"}
    assert any(c.is_mdns for c in parsed) and any(":" in c.address for c in parsed)
    names = {name for c in parsed for name, _ in c.extensions}
    assert names == {"generation", "network-id", "network-cost"}
    spellings = {line.split(" ")[2] for _, _, line in CAPTURE_LINES}
    assert spellings == {"udp", "tcp", "UDP", "TCP"}  # Chromium lower-case, Firefox upper


@pytest.mark.parametrize(("program", "file", "line"), CAPTURE_LINES,
                         ids=[f"{p}/{f}:{i}" for i, (p, f, _) in enumerate(CAPTURE_LINES)])
def test_capture_line_round_trips(program: str, file: str, line: str) -> None:
    candidate = Candidate.parse(line)
    assert candidate_fields(candidate) == _split_fields(line)
    value = line.removeprefix("a=candidate:")
    assert candidate.serialize() == value
    assert candidate.to_ice_string() == "candidate:" + value
    assert Candidate.parse(candidate.to_ice_string()) == candidate
    # RFC 8445 §5.1.2.1: the low byte is 256 - component ID; UDP hosts use type preference 126.
    assert candidate.priority & 0xFF == 256 - candidate.component
    if candidate.transport == "udp":
        assert candidate.priority >> 24 == TYPE_PREFERENCE[CandidateType.HOST]
    if candidate.is_mdns:
        assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\.local", candidate.address)


# --- the text form ----------------------------------------------------------------------------


def test_prefixes_and_whitespace() -> None:
    text = "1 1 udp 2130706431 192.0.2.7 40000 typ host"
    for form in (text, "candidate:" + text, "a=candidate:" + text, f"  {text}\r\n"):
        assert Candidate.parse(form).serialize() == text


def test_trickled_candidate_with_ufrag() -> None:
    """The W3C ``RTCIceCandidate.candidate`` form browsers trickle, with ``ufrag``."""
    text = ("candidate:842163049 1 udp 1677729535 203.0.113.5 61234 typ srflx raddr 0.0.0.0 "
            "rport 0 generation 0 ufrag 4ZcD network-cost 999")
    c = Candidate.parse(text)
    assert (c.type, c.related_address, c.related_port, c.ufrag) == (
        CandidateType.SERVER_REFLEXIVE, "0.0.0.0", 0, "4ZcD")
    assert c.to_ice_string() == text


def test_transport_and_type_spelling_is_kept_but_not_compared() -> None:
    upper = Candidate.parse("1 1 UDP 2130706431 10.0.1.1 8998 typ HOST")
    lower = Candidate.parse("1 1 udp 2130706431 10.0.1.1 8998 typ host")
    assert upper == lower and hash(upper) == hash(lower)
    assert (upper.transport, upper.type) == ("udp", CandidateType.HOST)
    assert upper.serialize() == "1 1 UDP 2130706431 10.0.1.1 8998 typ HOST"
    assert "spelling" not in repr(upper)
    # Once the field changes, the old spelling no longer applies.
    tcp = dataclasses.replace(upper, transport="tcp", type=CandidateType.SERVER_REFLEXIVE,
                              related_address="10.0.0.1", related_port=9)
    assert tcp.serialize() == "1 1 tcp 2130706431 10.0.1.1 8998 typ srflx raddr 10.0.0.1 rport 9"
    port = dataclasses.replace(upper, port=1)
    assert port.serialize() == "1 1 UDP 2130706431 10.0.1.1 1 typ HOST"


@pytest.mark.parametrize(("text", "tcptype", "extensions"), [
    ("1 1 TCP 2128609279 10.0.1.1 9 typ host tcptype active", "active", ()),
    ("1 1 tcp 1518280447 ::1 9 typ host tcptype passive generation 0", "passive",
     (("generation", "0"),)),
    ("1 1 tcp 1 ::1 9 typ host generation 0 tcptype so", "so",
     (("generation", "0"), ("tcptype", "so"))),
    ("1 1 tcp 1 ::1 9 typ host tcptype so tcptype so", "so", (("tcptype", "so"),) * 2),
    ("1 1 tcp 1 ::1 9 typ host tcptype so tcptype active", "so",
     (("tcptype", "so"), ("tcptype", "active"))),
])
def test_tcptype_position_is_kept(text: str, tcptype: str,
                                  extensions: tuple[tuple[str, str], ...]) -> None:
    c = Candidate.parse(text)
    assert (c.tcptype, c.extensions) == (tcptype, extensions)
    assert c.serialize() == text
    assert Candidate.parse(c.serialize()) == c


def test_tcptype_field_is_written_first() -> None:
    c = Candidate("1", 1, "tcp", 5, "192.0.2.1", 9, CandidateType.HOST, tcptype="active",
                  extensions=(("generation", "0"),))
    assert c.serialize() == "1 1 tcp 5 192.0.2.1 9 typ host tcptype active generation 0"


@pytest.mark.parametrize("text", [
    "", "candidate:", "1 1 udp 2130706431 10.0.1.1 8998 typ",
    "1 1 udp 2130706431 10.0.1.1 8998 typ unknown",
    "1 1 udp 2130706431 10.0.1.1 8998 type host",
    "1 0 udp 2130706431 10.0.1.1 8998 typ host",
    "1 257 udp 2130706431 10.0.1.1 8998 typ host",
    "1 1 udp 4294967296 10.0.1.1 8998 typ host",
    "1 1 udp 1 10.0.1.1 65536 typ host",
    "1 1 udp 1 10.0.1.1 1 typ host generation",
    "foundation-with-dash 1 udp 1 10.0.1.1 1 typ host",
    "1 1 udp 1 10.0.1.1 1 typ srflx raddr 10.0.0.1 rport 99999",
])
def test_bad_lines_raise_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        Candidate.parse(text)


# --- priorities and foundations ---------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"local_pref": 65536}, "local preference"),
    ({"local_pref": -1}, "local preference"),
    ({"component": 0}, "component ID"),
    ({"component": 257}, "component ID"),
    ({"type_preference": 127}, "type preference"),
    ({"type_preference": -1}, "type preference"),
])
def test_candidate_priority_refuses_out_of_range(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        candidate_priority(CandidateType.HOST, **kwargs)


def test_zero_priority_is_refused() -> None:
    """RFC 8445 §5.1.2: "MUST be a positive integer between 1 and (2**31 - 1)"."""
    with pytest.raises(ValueError, match="positive integer"):
        candidate_priority(CandidateType.RELAYED, 0, 256)
    assert candidate_priority(CandidateType.RELAYED, 0, 255) == 1


def test_type_preferences_are_the_recommended_ones() -> None:
    """RFC 8445 §5.1.2.2 values; §5.1.2.1: "The type preference for peer-reflexive candidates
    MUST be higher than that of server-reflexive candidates"."""
    assert TYPE_PREFERENCE == {CandidateType.HOST: 126, CandidateType.PEER_REFLEXIVE: 110,
                               CandidateType.SERVER_REFLEXIVE: 100, CandidateType.RELAYED: 0}
    assert len(set(TYPE_PREFERENCE.values())) == 4


def test_local_preference_interleaves_families() -> None:
    """RFC 8421 §4 with IPv6 first: v6#0 > v4#0 > v6#1 > v4#1, all unique."""
    prefs = [local_preference("2001:db8::1", 0), local_preference("192.0.2.1", 0),
             local_preference("fe80::1%eth0", 1), local_preference("10.0.0.1", 1)]
    assert prefs == sorted(prefs, reverse=True) and len(set(prefs)) == 4
    assert prefs[0] == 65535
    assert local_preference("192.0.2.1", 0, ipv6_first=False) == 65535


def test_foundation_spelling_of_addresses() -> None:
    """RFC 8445 §5.1.1.3 compares IP addresses, not their text."""
    a = foundation_for(CandidateType.SERVER_REFLEXIVE, "2001:db8::3", "2001:DB8::9")
    b = foundation_for(CandidateType.SERVER_REFLEXIVE, "2001:0db8:0:0::3", "2001:db8::0:9")
    assert a == b
    assert foundation_for(CandidateType.HOST, "10.0.0.1", transport="UDP") == foundation_for(
        CandidateType.HOST, "10.0.0.1")
    assert foundation_for(CandidateType.HOST, "10.0.0.1") != foundation_for(
        CandidateType.PEER_REFLEXIVE, "10.0.0.1")


def test_vector_json_is_ascii_and_stable() -> None:
    """The files are written with ensure_ascii and a trailing newline, like the others."""
    for v in ICE_VECTORS:
        text = v.path.read_text(encoding="utf-8")
        assert text.isascii() and text.endswith("}\n")
        assert json.loads(text)["layer"] == "ice"
