"""Properties of ICE candidates (STYLE.md rule 8; RFC 8445 §5.1.2, §6.1.2.3; RFC 8839 §5.1).

- Any text, and any mutation of the RFC and browser candidate lines, gives a Candidate or a
  ParseError -- never another exception; what parses serializes and parses back to itself.
- Generated candidates: ``parse(serialize(c)) == c``; generated lines (any spelling of the
  transport and type) come back byte for byte.
- The priority formula is monotone in type preference and local preference, decreasing in the
  component ID, injective, and within 1..2**31-1; the pair priority is ordered by MIN(G,D) first
  and its role rule is symmetric: swapping the roles changes only the (G>D?1:0) bit.
"""

from __future__ import annotations

import string
from ipaddress import IPv4Address, IPv6Address

from hypothesis import assume, example, given
from hypothesis import strategies as st

from rtcstack.common.errors import ParseError
from rtcstack.ice.candidate import (
    Candidate,
    CandidateType,
    candidate_priority,
    foundation_for,
    pair_priority,
)
from rtcstack.vectors import all_vectors

SEEDS = [c["line"] for v in all_vectors() if v.kind == "ice-candidate" for c in v.cases]
SEEDS.append("a=candidate:1054610674 1 udp 2122267903 ::1 52702 typ host generation 0 "
             "network-id 4 network-cost 50")  # Chromium 156 capture
SEEDS.append("a=candidate:0 1 UDP 2122187007 22436cfb-9469-4888-afbf-796e7b02271b.local 58221 "
             "typ host")  # Firefox ESR 153 capture

ICE_CHARS = string.ascii_letters + string.digits + "+/"
TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`{|}~"
TYPE_PREFS = st.integers(0, 126)
LOCAL_PREFS = st.integers(0, 65535)
COMPONENTS = st.integers(1, 256)
PRIORITIES = st.integers(1, 2**31 - 1)


def _parse_or_error(text: str) -> Candidate | None:
    try:
        candidate = Candidate.parse(text)
    except ParseError:
        return None
    again = Candidate.parse(candidate.serialize())
    assert again == candidate
    assert again.serialize() == candidate.serialize()
    return candidate


@given(st.text(max_size=200))
@example("1 1 udp 1 1.2.3.4 5 typ host raddr")
@example("1 1 udp 1 1.2.3.4 5 typ host rport x")
@example("1 1 udp 1 1.2.3.4 5 typ host tcptype")
def test_any_text_parses_or_raises_parse_error(text: str) -> None:
    _parse_or_error(text)


@given(st.sampled_from(SEEDS), st.data())
def test_mutated_lines_parse_or_raise_parse_error(line: str, data: st.DataObject) -> None:
    words = line.split(" ")
    i = data.draw(st.integers(0, len(words) - 1))
    action = data.draw(st.sampled_from(["replace", "drop", "insert", "chars"]))
    if action == "replace":
        words[i] = data.draw(st.text(alphabet=string.printable, max_size=12))
    elif action == "drop":
        del words[i]
    elif action == "insert":
        words.insert(i, data.draw(st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=8)))
    else:
        pos = data.draw(st.integers(0, len(line)))
        line = line[:pos] + data.draw(st.text(max_size=4)) + line[pos:]
        words = [line]
    _parse_or_error(" ".join(words))


def _token(alphabet: str = TOKEN_CHARS, max_size: int = 10) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=1, max_size=max_size)


ADDRESSES = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.uuids(version=4).map(lambda u: f"{u}.local"),
)
EXTENSION_NAMES = _token().filter(lambda n: n not in ("raddr", "rport", "tcptype"))


@st.composite
def candidates(draw: st.DrawFn) -> Candidate:
    kind = draw(st.sampled_from(list(CandidateType)))
    transport = draw(st.sampled_from(["udp", "tcp"]))
    related = kind is not CandidateType.HOST and draw(st.booleans())
    return Candidate(
        foundation=draw(_token(ICE_CHARS, 32)),
        component=draw(COMPONENTS),
        transport=transport,
        priority=draw(st.integers(0, 2**32 - 1)),
        address=draw(ADDRESSES),
        port=draw(st.integers(0, 65535)),
        type=kind,
        related_address=draw(ADDRESSES) if related else None,
        related_port=draw(st.integers(0, 65535)) if related else None,
        tcptype=draw(st.sampled_from(["active", "passive", "so"])) if transport == "tcp" else None,
        extensions=tuple(draw(st.lists(st.tuples(EXTENSION_NAMES, _token(max_size=8)),
                                       max_size=4))),
    )


@given(candidates())
def test_generated_candidates_round_trip(candidate: Candidate) -> None:
    text = candidate.serialize()
    assert Candidate.parse(text) == candidate
    assert Candidate.parse(candidate.to_ice_string()) == candidate
    assert Candidate.parse(text).serialize() == text


def _case_variants(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda flags: "".join(c.upper() if f else c for c, f in zip(word, flags, strict=True)))


@given(candidates(), st.data())
def test_any_spelling_of_transport_and_type_comes_back(candidate: Candidate,
                                                       data: st.DataObject) -> None:
    words = candidate.serialize().split(" ")
    words[2] = data.draw(_case_variants(words[2]))
    words[7] = data.draw(_case_variants(words[7]))
    text = " ".join(words)
    parsed = Candidate.parse(text)
    assert parsed == candidate
    assert parsed.serialize() == text


@given(TYPE_PREFS, TYPE_PREFS, LOCAL_PREFS, COMPONENTS)
def test_priority_is_monotone_in_type_preference(a: int, b: int, local: int,
                                                 component: int) -> None:
    assume(a < b and (a, local, component) != (0, 0, 256))
    kind = CandidateType.HOST
    low = candidate_priority(kind, local, component, type_preference=a)
    high = candidate_priority(kind, local, component, type_preference=b)
    assert low < high
    # Any local preference and component: the type preference dominates.
    assert candidate_priority(kind, 65535, 1, type_preference=a) < candidate_priority(
        kind, 0, 256, type_preference=b)


@given(TYPE_PREFS, LOCAL_PREFS, LOCAL_PREFS, COMPONENTS, COMPONENTS)
def test_priority_is_injective_and_within_31_bits(tp: int, la: int, lb: int, ca: int,
                                                  cb: int) -> None:
    assume((tp, la, ca) != (0, 0, 256) and (tp, lb, cb) != (0, 0, 256))
    pa = candidate_priority(CandidateType.HOST, la, ca, type_preference=tp)
    pb = candidate_priority(CandidateType.HOST, lb, cb, type_preference=tp)
    assert 1 <= pa <= 2**31 - 1 and 1 <= pb <= 2**31 - 1
    assert (pa == pb) == ((la, ca) == (lb, cb))
    if la != lb:
        assert (pa < pb) == (la < lb)  # local preference outranks the component
    elif ca != cb:
        assert (pa < pb) == (ca > cb)  # a lower component ID has the higher priority


@given(st.sampled_from(list(CandidateType)), LOCAL_PREFS, COMPONENTS)
def test_recommended_type_order(kind: CandidateType, local: int, component: int) -> None:
    """RFC 8445 §5.1.2.2: host > prflx > srflx > relay for any local preference/component."""
    assume((local, component) != (0, 256))
    order = [CandidateType.RELAYED, CandidateType.SERVER_REFLEXIVE,
             CandidateType.PEER_REFLEXIVE, CandidateType.HOST]
    mine = candidate_priority(kind, local, component)
    for other in order[order.index(kind) + 1:]:
        assert mine < candidate_priority(other, 0, 256)


@given(PRIORITIES, PRIORITIES)
def test_pair_priority_role_rule_is_symmetric(g: int, d: int) -> None:
    """RFC 8445 §6.1.2.3: both agents compute one value for a pair (G is always the
    controlling agent's candidate), and swapping the roles changes only the last bit."""
    value, swapped = pair_priority(g, d), pair_priority(d, g)
    assert value - swapped == (g > d) - (g < d)
    assert value >> 32 == min(g, d)
    assert (value & 0xFFFFFFFF) >> 1 == max(g, d)
    assert value & 1 == (g > d)
    assert 0 < value < 2**63


@given(PRIORITIES, PRIORITIES, PRIORITIES, PRIORITIES)
def test_pair_priority_orders_by_min_then_max(g1: int, d1: int, g2: int, d2: int) -> None:
    a, b = pair_priority(g1, d1), pair_priority(g2, d2)
    key1 = (min(g1, d1), max(g1, d1), g1 > d1)
    key2 = (min(g2, d2), max(g2, d2), g2 > d2)
    assert (a < b) == (key1 < key2) and (a == b) == (key1 == key2)


@given(st.sampled_from(list(CandidateType)), st.ip_addresses(), st.ip_addresses(),
       st.sampled_from(["udp", "tcp", "UDP", "TCP"]))
def test_foundations_are_ice_chars_and_follow_the_inputs(
        kind: CandidateType, base: IPv4Address | IPv6Address,
        server: IPv4Address | IPv6Address, transport: str) -> None:
    f = foundation_for(kind, str(base), str(server), transport)
    assert 1 <= len(f) <= 32 and all(c in ICE_CHARS for c in f)
    assert f == foundation_for(kind, str(base), str(server), transport.lower())
    assert f == foundation_for(kind, base.exploded, str(server), transport)
    assert f != foundation_for(kind, str(base), str(server),
                               "tcp" if transport.lower() == "udp" else "udp")
