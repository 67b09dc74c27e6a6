"""mDNS for ICE (rtcstack.ice.mdns): codec vectors both ways, a real Chromium packet, properties,
and the resolver and responder on a virtual clock."""

from __future__ import annotations

import contextlib
import doctest
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rtcstack.ice.mdns as mdns_module
from rtcstack.common import ParseError, SeededRandom, TraceRecorder
from rtcstack.ice.mdns import (
    FLAG_AA,
    FLAG_QR,
    MDNS_IPV4_GROUP,
    DnsMessage,
    DnsQuestion,
    DnsRecord,
    DnsType,
    MdnsResolver,
    MdnsResponder,
    Resolved,
    ResolveFailed,
    build_query,
    build_response,
    decode_name,
    encode_name,
    is_mdns_name,
    parse_message,
    random_mdns_name,
)

NAME = "ee2ccdb4-911a-4168-9a4a-108fd01290fa.local"
# RFC 1035 §3.1: a length byte before each label, a zero byte at the end.
NAME_WIRE = "24" + NAME.split(".")[0].encode().hex() + "05" + b"local".hex() + "00"
QUERIER = ("198.18.0.9", 5353)

# Captured 2026-11-21 from Chromium 156.0.8078.79 (Debian 12), headless, inside a test network
# namespace (tests/interop/browser.py open_session("chromium", mdns=True), scenario
# data-only-mdns): its answer to our query for NAME (questions A and AAAA).  An A answer with
# the cache-flush bit and TTL 120, and in the additional section an NSEC record (RFC 6762 §6.1)
# whose next-domain name is a compression pointer to the record's own name at offset 70.
CHROMIUM_RESPONSE = bytes.fromhex(
    "000084000000000100000001" + NAME_WIRE + "0001800100000078" + "0004c6120001"
    + NAME_WIRE + "002f8001000000780005" + "c046000140"
)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --- codec: exact bytes both ways ---------------------------------------------------------------


def test_build_query_exact_bytes() -> None:
    # RFC 1035 §4.1.1 header: ID, flags 0 (QR=0 query, opcode 0), QDCOUNT 1, other counts 0;
    # §4.1.2 question: QNAME, QTYPE A (1), QCLASS IN (1).
    expected = h("1234 0000 0001 0000 0000 0000") + h(NAME_WIRE) + h("0001 0001")
    assert build_query(NAME, transaction_id=0x1234) == expected
    # AAAA (28), and the QU bit (RFC 6762 §5.4: top bit of QCLASS).
    expected6 = h("0000 0000 0001 0000 0000 0000") + h(NAME_WIRE) + h("001c 8001")
    assert build_query(NAME, ipv6=True, unicast_response=True) == expected6
    message = parse_message(expected6)
    assert message.questions == (DnsQuestion(NAME, DnsType.AAAA, 1, True),)
    assert not message.is_response and message.transaction_id == 0


def test_build_response_exact_bytes() -> None:
    # Flags 0x8400: QR (response) and AA (RFC 6762 §18.4); one answer: NAME A IN with the
    # cache-flush bit (0x8001), TTL 120, RDLENGTH 4, 192.0.2.7.
    expected = (
        h("0000 8400 0000 0001 0000 0000") + h(NAME_WIRE) + h("0001 8001 00000078 0004 c0000207")
    )
    assert build_response(NAME, "192.0.2.7") == expected
    message = parse_message(expected)
    assert message.is_response and message.authoritative and message.opcode == 0
    (record,) = message.answers
    assert record == DnsRecord(NAME, DnsType.A, 120, h("c0000207"), 1, True)
    assert record.address == "192.0.2.7"
    assert message.serialize() == expected


def test_build_response_aaaa() -> None:
    data = build_response(NAME, "2001:db8::1", ttl=10, cache_flush=False)
    assert data[-26:] == h("001c 0001 0000000a 0010 20010db8000000000000000000000001")
    assert parse_message(data).answers[0].address == "2001:db8::1"


def test_chromium_response_parses() -> None:
    message = parse_message(CHROMIUM_RESPONSE)
    assert message.transaction_id == 0
    assert message.flags == FLAG_QR | FLAG_AA
    assert message.questions == ()
    (answer,) = message.answers
    assert (answer.name, answer.rtype, answer.ttl, answer.cache_flush) == (NAME, 1, 120, True)
    assert answer.address == "198.18.0.1"
    (nsec,) = message.additionals
    assert nsec.rtype == DnsType.NSEC and nsec.cache_flush and nsec.address is None
    # Its next-domain name is compressed: it points at the NSEC record's own name.
    assert decode_name(CHROMIUM_RESPONSE, CHROMIUM_RESPONSE.index(nsec.rdata)) == (
        NAME,
        CHROMIUM_RESPONSE.index(nsec.rdata) + 2,
    )
    assert nsec.rdata[2:] == h("0001 40")  # window 0, 1 byte: type 1 (A) only
    # Our own NSEC for the same facts, uncompressed.
    ours = DnsRecord.nsec(NAME, [DnsType.A])
    assert ours.rdata == h(NAME_WIRE) + h("0001 40")
    # The capture re-serializes byte for byte (Chromium does not compress record names).
    assert message.serialize() == CHROMIUM_RESPONSE


def test_resolver_understands_chromium_response() -> None:
    resolver = MdnsResolver()
    resolver.resolve(NAME, now=0.0)
    query = parse_message(resolver.poll_transmit().data)  # type: ignore[union-attr]
    assert [(q.name, q.qtype) for q in query.questions] == [(NAME, 1), (NAME, 28)]
    resolver.handle_datagram(CHROMIUM_RESPONSE, ("198.18.0.1", 5353), now=0.8)
    assert resolver.poll_event() == Resolved(NAME, "198.18.0.1", 120)


def test_name_compression_on_parse() -> None:
    # Question for "a.local" at offset 12, then an answer whose name is "b" + pointer to
    # "local" (offset 14) and a second one that is a bare pointer to offset 12.
    data = (
        h("0000 8400 0001 0002 0000 0000")
        + h("01 61 05 6c6f63616c 00 0001 0001")
        + h("01 62 c00e 0001 0001 00000078 0004 c0000201")
        + h("c00c 0001 0001 00000078 0004 c0000202")
    )
    message = parse_message(data)
    assert [r.name for r in message.answers] == ["b.local", "a.local"]
    assert [r.address for r in message.answers] == ["192.0.2.1", "192.0.2.2"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (h("0000 0000 0001 0000 0000 0000 c00c 0001 0001"), "does not point backwards"),
        (h("0000 0000 0001 0000 0000 0000 01 61 c00e 0001 0001"), "does not point backwards"),
        (h("0000 0000 0001 0000 0000 0000 01 61 c010 0001 0001"), "does not point backwards"),
        (h("0000 0000 0001 0000 0000 0000 01 61 c0"), "truncated compression pointer"),
        (h("0000 0000 0001 0000 0000 0000 4161"), "reserved label type"),
        (h("0000 0000 0001 0000 0000 0000 05 61"), "label runs past"),
        (h("0000 0000 0001 0000 0000 0000 01 61 00 0001"), "QCLASS"),
        (h("0000 0000 0000 0000 0000"), "header"),
        (h("0000 0000 0000 0000 0000 0000 00"), "after the last record"),
        (h("0000 8400 0000 0001 0000 0000 00 0001 0001 00000078 0003 c00002"), "A record"),
        (h("0000 8400 0000 0001 0000 0000 00 0010 0001 00000078 0005 c00002"), "runs past"),
    ],
)
def test_parse_errors(data: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_message(data)


def test_pointer_chain_terminates() -> None:
    # A long chain of backward pointers is followed; the name stays under 255 bytes.
    body = bytearray(h("0000 0000 0001 0000 0000 0000"))
    body += h("00")  # offset 12: the root
    for _ in range(200):
        at = len(body)
        body += bytes([0x01, 0x61]) + (0xC000 | (at - 4 if at > 13 else 12)).to_bytes(2, "big")
    with pytest.raises(ParseError, match="longer than 255"):
        decode_name(bytes(body), len(body) - 4)


def test_names_round_trip_with_escapes() -> None:
    assert encode_name("a\\.b.local") == h("03 612e62 05 6c6f63616c 00")
    assert decode_name(h("03 612e62 05 6c6f63616c 00"), 0) == ("a\\.b.local", 11)
    assert decode_name(h("02 ff5c 00"), 0) == ("\\255\\\\", 4)
    assert encode_name("\\255\\\\") == h("02 ff5c 00")
    assert encode_name("") == encode_name(".") == b"\x00"
    assert encode_name("x.local.") == encode_name("x.local")
    with pytest.raises(ValueError, match="empty label"):
        encode_name("a..local")
    with pytest.raises(ValueError, match="at most 63"):
        encode_name("a" * 64 + ".local")
    with pytest.raises(ValueError, match="at most 255"):
        encode_name(".".join(["a" * 60] * 5))


def test_mdns_names() -> None:
    assert is_mdns_name(NAME) and is_mdns_name(NAME.upper() + ".")
    assert not is_mdns_name("local") and not is_mdns_name("a.b.local")
    assert not is_mdns_name("example.com")
    name = random_mdns_name(SeededRandom(7))
    assert name == random_mdns_name(SeededRandom(7))
    uuid4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    assert re.fullmatch(uuid4 + r"\.local", name)
    assert random_mdns_name() != random_mdns_name()


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_parse_error(data: bytes) -> None:
    try:
        message = parse_message(data)
    except ParseError:
        return
    assert isinstance(message, DnsMessage)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_capture_parse_or_parse_error(data: st.DataObject) -> None:
    raw = bytearray(CHROMIUM_RESPONSE)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    with contextlib.suppress(ParseError):
        parse_message(bytes(raw[:cut]))


labels = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters=".\\"),
    min_size=1,
    max_size=20,
)
names = st.lists(labels, min_size=1, max_size=4).map(".".join)
questions = st.builds(
    DnsQuestion, names, st.integers(0, 0xFFFF), st.integers(0, 0x7FFF), st.booleans()
)
records = st.one_of(
    st.builds(
        DnsRecord.for_address,
        names,
        st.ip_addresses().map(str),
        st.integers(0, 2**32 - 1),
        cache_flush=st.booleans(),
    ),
    st.builds(
        DnsRecord,
        names,
        st.sampled_from([12, 16, 33, 47, 99]),
        st.integers(0, 2**32 - 1),
        st.binary(max_size=40),
        st.integers(0, 0x7FFF),
        st.booleans(),
    ),
)
messages = st.builds(
    DnsMessage,
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.lists(questions, max_size=3).map(tuple),
    st.lists(records, max_size=3).map(tuple),
    st.lists(records, max_size=2).map(tuple),
    st.lists(records, max_size=2).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(messages)
def test_serialize_parse_round_trip(message: DnsMessage) -> None:
    data = message.serialize()
    assert parse_message(data) == message
    assert parse_message(data).serialize() == data


# --- resolver on a virtual clock ----------------------------------------------------------------


def drain(machine: MdnsResolver | MdnsResponder) -> list[tuple[DnsMessage, tuple[str, int]]]:
    out = []
    while (tx := machine.poll_transmit()) is not None:
        out.append((parse_message(tx.data), tx.addr))
    return out


def run_until(resolver: MdnsResolver, end: float) -> list[float]:
    """Drive the resolver's timer up to ``end``; the times at which it sent queries."""
    sent = []
    while (at := resolver.poll_timeout()) is not None and at <= end:
        resolver.handle_timeout(at)
        sent += [at] * len(drain(resolver))
    return sent


def test_resolver_retransmits_at_1_2_4_seconds_then_fails() -> None:
    trace = TraceRecorder()
    resolver = MdnsResolver(timeout=5.0, trace=trace)
    resolver.resolve(NAME, now=10.0)
    (first, addr), = drain(resolver)
    assert addr == MDNS_IPV4_GROUP and first.transaction_id == 0 and not first.is_response
    assert run_until(resolver, 20.0) == [11.0, 13.0]  # then 17.0 is past the 15.0 deadline
    assert resolver.poll_event() == ResolveFailed(NAME)
    assert resolver.poll_timeout() is None
    assert resolver.stats.queries_sent == 3
    assert trace.names().count("mdns.resolver.query") == 3


def test_resolver_resolves_caches_and_expires() -> None:
    resolver = MdnsResolver(query_types=[DnsType.A])
    resolver.resolve(NAME.upper(), now=0.0)
    resolver.resolve(NAME, now=0.1)  # coalesced with the pending one
    assert len(drain(resolver)) == 1
    resolver.handle_datagram(build_response(NAME, "192.0.2.7", ttl=30), QUERIER, now=0.2)
    assert resolver.poll_event() == Resolved(NAME.upper(), "192.0.2.7", 30)
    assert resolver.poll_event() is None and resolver.poll_timeout() is None
    # Cached: answered without a query.
    resolver.resolve(NAME, now=10.0)
    assert drain(resolver) == []
    assert resolver.poll_event() == Resolved(NAME, "192.0.2.7", 20)
    assert resolver.lookup(NAME, now=30.2) is None  # expired (learnt at 0.2, TTL 30)
    resolver.resolve(NAME, now=30.3)
    assert len(drain(resolver)) == 1


def test_resolver_goodbye_expires_after_one_second() -> None:
    resolver = MdnsResolver()
    resolver.handle_datagram(build_response(NAME, "192.0.2.7"), QUERIER, now=0.0)
    assert resolver.lookup(NAME, now=1.0) == "192.0.2.7"  # unsolicited answers are cached
    resolver.handle_datagram(build_response(NAME, "192.0.2.7", ttl=0), QUERIER, now=2.0)
    assert resolver.lookup(NAME, now=2.5) == "192.0.2.7"
    assert resolver.lookup(NAME, now=3.0) is None


def test_resolver_ignores_what_it_must_and_never_raises() -> None:
    resolver = MdnsResolver()
    resolver.resolve(NAME, now=0.0)
    drain(resolver)
    answer = build_response(NAME, "192.0.2.7")
    resolver.handle_datagram(answer, ("198.18.0.9", 40000), now=0.1)  # source port not 5353
    bad_opcode = answer[:2] + bytes([answer[2] | 0x08]) + answer[3:]
    resolver.handle_datagram(bad_opcode, QUERIER, now=0.1)
    bad_rcode = answer[:3] + bytes([answer[3] | 0x03]) + answer[4:]
    resolver.handle_datagram(bad_rcode, QUERIER, now=0.1)
    resolver.handle_datagram(build_query(NAME), QUERIER, now=0.1)  # a query, not a response
    resolver.handle_datagram(b"\x00garbage", QUERIER, now=0.1)
    assert resolver.poll_event() is None
    assert resolver.stats.ignored == 4 and resolver.stats.parse_errors == 1
    resolver.handle_datagram(answer, QUERIER, now=0.2)
    assert resolver.poll_event() == Resolved(NAME, "192.0.2.7", 120)


def test_resolver_cancel_and_bad_names() -> None:
    resolver = MdnsResolver()
    resolver.resolve(NAME, now=0.0)
    resolver.cancel(NAME)
    assert resolver.poll_event() == ResolveFailed(NAME, "cancelled")
    assert resolver.poll_timeout() is None
    with pytest.raises(ValueError, match=r"not a \.local name"):
        resolver.resolve("example.com", now=0.0)


def test_resolver_cache_is_bounded() -> None:
    resolver = MdnsResolver(cache_size=4)
    for i in range(10):
        resolver.handle_datagram(build_response(f"n{i}.local", "192.0.2.1"), QUERIER, now=0.0)
    assert [resolver.lookup(f"n{i}.local", now=1.0) is not None for i in range(10)] == (
        [False] * 6 + [True] * 4
    )


# --- responder on a virtual clock ---------------------------------------------------------------


def published(*, announce: bool = False) -> MdnsResponder:
    responder = MdnsResponder(announce=announce)
    responder.publish(NAME, "192.0.2.7", now=0.0)
    return responder


def test_responder_announces_twice_and_says_goodbye() -> None:
    responder = published(announce=True)
    (first, addr), = drain(responder)
    assert addr == MDNS_IPV4_GROUP and first.answers[0].address == "192.0.2.7"
    assert first.answers[0].cache_flush and first.questions == ()
    assert responder.poll_timeout() == 1.0
    responder.handle_timeout(1.0)
    assert [m.answers for m, _ in drain(responder)] == [first.answers]
    assert responder.poll_timeout() is None
    responder.unpublish(NAME, now=5.0)
    (goodbye, _), = drain(responder)
    assert goodbye.answers[0].ttl == 0
    assert responder.names == {}


def test_responder_answers_multicast_and_ignores_other_names() -> None:
    responder = published()
    responder.handle_datagram(build_query("other.local"), QUERIER, now=1.0)
    assert drain(responder) == []
    responder.handle_datagram(build_query(NAME.upper()), QUERIER, now=1.0)
    (reply, addr), = drain(responder)
    assert addr == MDNS_IPV4_GROUP
    # RFC 6762 §6: "Multicast DNS responses MUST NOT contain any questions".
    assert reply.questions == () and reply.transaction_id == 0
    assert reply.flags == FLAG_QR | FLAG_AA
    assert reply.answers == (DnsRecord.for_address(NAME, "192.0.2.7"),)


def test_responder_nsec_for_missing_type() -> None:
    responder = published()
    responder.handle_datagram(build_query(NAME, ipv6=True), QUERIER, now=1.0)
    (reply, _), = drain(responder)
    (nsec,) = reply.answers
    assert nsec == DnsRecord.nsec(NAME, [DnsType.A])


def test_responder_rate_limits_multicast_by_deferring() -> None:
    responder = published()
    responder.handle_datagram(build_query(NAME), QUERIER, now=1.0)
    assert len(drain(responder)) == 1
    responder.handle_datagram(build_query(NAME), QUERIER, now=1.4)
    responder.handle_datagram(build_query(NAME), QUERIER, now=1.6)
    assert drain(responder) == []
    assert responder.poll_timeout() == 2.0 and responder.stats.deferred == 2
    responder.handle_timeout(2.0)
    assert len(drain(responder)) == 1  # one deferred answer, not two
    assert responder.poll_timeout() is None


def test_responder_qu_question_unicast_when_recently_multicast() -> None:
    responder = published()
    responder.handle_datagram(build_query(NAME, unicast_response=True), QUERIER, now=1.0)
    (reply, addr), = drain(responder)
    assert addr == MDNS_IPV4_GROUP  # never multicast yet: multicast (RFC 6762 §5.4)
    responder.handle_datagram(build_query(NAME, unicast_response=True), QUERIER, now=1.5)
    (reply, addr), = drain(responder)
    assert addr == QUERIER and reply.transaction_id == 0 and reply.questions == ()
    assert reply.answers[0].cache_flush


def test_responder_legacy_unicast() -> None:
    responder = published()
    legacy = ("198.18.0.9", 40000)
    responder.handle_datagram(build_query(NAME, transaction_id=0xBEEF), legacy, now=1.0)
    (reply, addr), = drain(responder)
    assert addr == legacy and reply.transaction_id == 0xBEEF
    assert reply.questions == (DnsQuestion(NAME, DnsType.A),)
    assert reply.answers == (DnsRecord(NAME, DnsType.A, 10, bytes([192, 0, 2, 7])),)


def test_responder_known_answer_suppression() -> None:
    responder = published()
    known = DnsRecord.for_address(NAME, "192.0.2.7", 60)
    query = DnsMessage(0, 0, (DnsQuestion(NAME, DnsType.A),), (known,)).serialize()
    responder.handle_datagram(query, QUERIER, now=1.0)
    assert drain(responder) == [] and responder.stats.suppressed == 1
    stale = DnsRecord.for_address(NAME, "192.0.2.7", 59)
    query = DnsMessage(0, 0, (DnsQuestion(NAME, DnsType.A),), (stale,)).serialize()
    responder.handle_datagram(query, QUERIER, now=1.0)
    assert len(drain(responder)) == 1


def test_responder_ignores_responses_garbage_and_bad_opcode() -> None:
    responder = published()
    responder.handle_datagram(build_response(NAME, "192.0.2.99"), QUERIER, now=1.0)
    query = build_query(NAME)
    responder.handle_datagram(query[:2] + b"\x08" + query[3:], QUERIER, now=1.0)
    responder.handle_datagram(query[:-1], QUERIER, now=1.0)
    assert drain(responder) == []
    assert responder.stats.ignored == 2 and responder.stats.parse_errors == 1
    assert responder.poll_event() is None
    with pytest.raises(ValueError):
        responder.publish("x.example", "192.0.2.1", now=0.0)
    with pytest.raises(ValueError):
        responder.publish("x.local", "not-an-address", now=0.0)


def test_resolver_and_responder_over_a_lossy_virtual_link() -> None:
    """The first query is lost; the retransmission at 1 s is answered."""
    responder, resolver = MdnsResponder(announce=False), MdnsResolver()
    responder.publish(NAME, "2001:db8::7", now=0.0)
    resolver.resolve(NAME, now=0.0)
    drain(resolver)  # lost
    now = resolver.poll_timeout()
    assert now == 1.0
    resolver.handle_timeout(now)
    for tx_message, _ in drain(resolver):
        responder.handle_datagram(tx_message.serialize(), QUERIER, now=now)
    for reply, _ in drain(responder):
        resolver.handle_datagram(reply.serialize(), ("198.18.0.7", 5353), now=now + 0.001)
    assert resolver.poll_event() == Resolved(NAME, "2001:db8::7", 120)


def test_module_docstring_examples_run() -> None:
    result = doctest.testmod(mdns_module)
    assert result.attempted > 0 and result.failed == 0
