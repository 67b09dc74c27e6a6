"""RFC 6347 §4.2 handshake messages, fragments and reassembly (rtcstack/dtls/messages.py):
round trips, any bytes -> value or ParseError, fragmentation + shuffled/duplicated/overlapping
reassembly, bounded buffering, the extension helpers, and the captured ClientHellos."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcstack.common.errors import ParseError
from rtcstack.dtls import messages as M
from rtcstack.dtls.constants import DTLS_1_2, HandshakeType

U8 = st.integers(0, 0xFF)
U16 = st.integers(0, 0xFFFF)
randoms = st.binary(min_size=32, max_size=32)
session_ids = st.binary(max_size=32)


@st.composite
def extension_lists(draw: st.DrawFn) -> M.Extensions:
    types = draw(st.lists(U16, unique=True, max_size=8))
    return tuple((t, draw(st.binary(max_size=40))) for t in types)


u16_lists = st.lists(U16, min_size=1, max_size=20).map(tuple)

STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    M.HelloRequest: st.just(M.HelloRequest()),
    M.ClientHello: st.builds(
        M.ClientHello, U16, randoms, session_ids, st.binary(max_size=255), u16_lists,
        st.binary(min_size=1, max_size=8), extension_lists(),
    ),
    M.HelloVerifyRequest: st.builds(M.HelloVerifyRequest, U16, st.binary(max_size=255)),
    M.ServerHello: st.builds(M.ServerHello, U16, randoms, session_ids, U16, U8, extension_lists()),
    M.Certificate: st.builds(
        M.Certificate, st.lists(st.binary(min_size=1, max_size=300), max_size=4).map(tuple)
    ),
    M.ServerKeyExchange: st.builds(
        M.ServerKeyExchange, U16, st.binary(min_size=1, max_size=255), U16,
        st.binary(max_size=300),
    ),
    M.CertificateRequest: st.builds(
        M.CertificateRequest, st.binary(min_size=1, max_size=8), u16_lists,
        st.lists(st.binary(min_size=1, max_size=60), max_size=4).map(tuple),
    ),
    M.ServerHelloDone: st.just(M.ServerHelloDone()),
    M.ClientKeyExchange: st.builds(M.ClientKeyExchange, st.binary(min_size=1, max_size=255)),
    M.CertificateVerify: st.builds(M.CertificateVerify, U16, st.binary(max_size=300)),
    M.Finished: st.builds(M.Finished, st.binary(min_size=12, max_size=12)),
}
handshake_messages = st.one_of(*STRATEGIES.values())


def test_every_message_class_has_a_strategy() -> None:
    assert set(M.MESSAGE_CLASSES.values()) == set(STRATEGIES)
    assert all(t == cls.msg_type for t, cls in M.MESSAGE_CLASSES.items())


@given(handshake_messages)
def test_messages_round_trip(message: M.HandshakeMessage) -> None:
    body = message.serialize()
    assert type(message).parse(body) == message
    assert M.parse_handshake_body(message.msg_type, body) == message
    assert type(message).parse(body).serialize() == body


@given(st.sampled_from(sorted(STRATEGIES, key=lambda c: c.__name__)), st.binary(max_size=200))
def test_any_bytes_parse_or_raise_parse_error(cls: Any, data: bytes) -> None:
    try:
        message = cls.parse(data)
    except ParseError:
        return
    assert type(message).parse(message.serialize()) == message


@given(handshake_messages, st.data())
def test_mutated_bodies_parse_or_raise_parse_error(message: Any, data: st.DataObject) -> None:
    body = bytearray(message.serialize())
    if body:
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] = data.draw(U8)
    cut = data.draw(st.integers(0, len(body)))
    for candidate in (bytes(body), bytes(body[:cut]), bytes(body) + b"\0"):
        try:
            parsed = type(message).parse(candidate)
        except ParseError:
            continue
        assert type(parsed).parse(parsed.serialize()) == parsed


def test_unknown_handshake_type() -> None:
    with pytest.raises(ParseError, match="unknown handshake type"):
        M.parse_handshake_body(99, b"")


# --- the checks the RFCs ask for ------------------------------------------------------------


def _hello(**changes: Any) -> M.ClientHello:
    base = M.ClientHello(DTLS_1_2, bytes(32), b"", b"", (0xC02B,), b"\0", ())
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_hello(cipher_suites=(0xC02B,)).serialize()[:-1], "compression_methods"),
        (_hello().serialize() + b"\x00", "extensions"),
        (_hello().serialize() + b"\x00\x00\x00", "trailing"),
        # session_id of 33 bytes (RFC 5246 §7.4.1.2: <0..32>)
        (b"\xfe\xfd" + bytes(32) + b"\x21" + bytes(33), "session_id"),
        # an odd cipher_suites length
        (b"\xfe\xfd" + bytes(32) + b"\x00\x00\x00\x03\xc0\x2b\x00\x01\x00", "cipher_suites"),
        # no cipher suites
        (b"\xfe\xfd" + bytes(32) + b"\x00\x00\x00\x00\x01\x00", "cipher_suites"),
        # no compression method
        (b"\xfe\xfd" + bytes(32) + b"\x00\x00\x00\x02\xc0\x2b\x00", "compression_methods"),
    ],
)
def test_client_hello_rejects(body: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        M.ClientHello.parse(body)


def test_duplicate_extensions_are_rejected() -> None:
    # RFC 5246 §7.4.1.4: "There MUST NOT be more than one extension of the same type."
    block = b"\x00\x17\x00\x00" * 2
    body = _hello().serialize() + len(block).to_bytes(2, "big") + block
    with pytest.raises(ParseError, match="twice"):
        M.ClientHello.parse(body)
    with pytest.raises(ValueError, match="duplicate"):
        _hello(extensions=((23, b""), (23, b""))).serialize()


def test_serialize_refuses_out_of_range_values() -> None:
    with pytest.raises(ValueError):
        _hello(session_id=bytes(33)).serialize()
    with pytest.raises(ValueError):
        _hello(cookie=bytes(256)).serialize()
    with pytest.raises(ValueError):
        _hello(cipher_suites=()).serialize()
    with pytest.raises(ValueError):
        _hello(compression_methods=b"").serialize()
    with pytest.raises(ValueError):
        _hello(random=bytes(31)).serialize()
    with pytest.raises(ValueError):
        M.Finished(bytes(11)).serialize()
    with pytest.raises(ValueError):
        M.ClientKeyExchange(b"").serialize()


def test_empty_extension_block_parses_to_no_extensions() -> None:
    body = _hello().serialize()
    assert M.ClientHello.parse(body + b"\x00\x00").extensions == ()


def test_server_key_exchange_signed_params() -> None:
    point = b"\x04" + bytes(range(64))
    ske = M.ServerKeyExchange(23, point, 0x0403, b"sig")
    assert ske.signed_params() == b"\x03\x00\x17\x41" + point
    assert ske.serialize() == ske.signed_params() + b"\x04\x03\x00\x03sig"
    cr, sr = bytes(range(32)), bytes(range(32, 64))
    assert ske.signed_data(cr, sr) == cr + sr + ske.signed_params()
    with pytest.raises(ParseError, match="named_curve"):
        M.ServerKeyExchange.parse(b"\x01" + ske.serialize()[1:])


def test_change_cipher_spec_and_alert() -> None:
    assert M.ChangeCipherSpec.parse(b"\x01").serialize() == b"\x01"
    for bad in (b"", b"\x02", b"\x01\x01"):
        with pytest.raises(ParseError):
            M.ChangeCipherSpec.parse(bad)
    alert = M.Alert.parse(b"\x02\x28")
    assert (alert.level, alert.description) == (2, 40)
    assert alert.serialize() == b"\x02\x28"
    for bad in (b"", b"\x02", b"\x02\x28\x00"):
        with pytest.raises(ParseError):
            M.Alert.parse(bad)


# --- extensions -----------------------------------------------------------------------------

EXTENSION_CODECS: list[tuple[str, Callable[..., bytes], Callable[[bytes], Any],
                             st.SearchStrategy[Any]]] = [
    ("supported_groups", M.encode_supported_groups, M.decode_supported_groups, u16_lists),
    ("ec_point_formats", M.encode_ec_point_formats, M.decode_ec_point_formats,
     st.lists(U8, min_size=1, max_size=8).map(tuple)),
    ("signature_algorithms", M.encode_signature_algorithms, M.decode_signature_algorithms,
     u16_lists),
    ("renegotiation_info", M.encode_renegotiation_info, M.decode_renegotiation_info,
     st.binary(max_size=255)),
    ("supported_versions_client", M.encode_supported_versions_client,
     M.decode_supported_versions_client, st.lists(U16, min_size=1, max_size=127).map(tuple)),
    ("supported_versions_server", M.encode_supported_versions_server,
     M.decode_supported_versions_server, U16),
]


@pytest.mark.parametrize("codec", EXTENSION_CODECS, ids=[c[0] for c in EXTENSION_CODECS])
def test_extension_codecs(codec: Any) -> None:
    _, encode, decode, strategy = codec

    @given(strategy, st.binary(max_size=40))
    def run(value: Any, noise: bytes) -> None:
        assert decode(encode(value)) == value
        try:
            decoded = decode(noise)
        except ParseError:
            return
        assert encode(decoded) == noise

    run()


@given(u16_lists, st.binary(max_size=255), st.binary(max_size=40))
def test_use_srtp(profiles: tuple[int, ...], mki: bytes, noise: bytes) -> None:
    data = M.encode_use_srtp(profiles, mki)
    assert M.decode_use_srtp(data) == M.UseSrtp(profiles, mki)
    try:
        value = M.decode_use_srtp(noise)
    except ParseError:
        return
    assert M.encode_use_srtp(value.profiles, value.mki) == noise


def test_extension_examples() -> None:
    # RFC 5764 §4.1.1: SRTP_AES128_CM_HMAC_SHA1_80 with no MKI.
    assert M.encode_use_srtp([1]) == bytes.fromhex("0002000100")
    assert M.encode_supported_groups([29, 23]) == bytes.fromhex("0004001d0017")
    assert M.encode_ec_point_formats([0]) == bytes.fromhex("0100")
    assert M.encode_renegotiation_info() == b"\x00"
    assert M.encode_extended_master_secret() == b""
    assert M.decode_extended_master_secret(b"") is None
    with pytest.raises(ParseError):
        M.decode_extended_master_secret(b"\x00")
    assert M.decode_supported_versions_client(bytes.fromhex("04fefcfefd")) == (0xFEFC, 0xFEFD)
    with pytest.raises(ParseError):
        M.decode_supported_groups(b"\x00\x00")  # <2..2^16-1>
    with pytest.raises(ParseError):
        M.decode_signature_algorithms(b"\x00\x03\x04\x03\x05")  # odd
    exts = ((10, b"a"), (13, b"b"))
    assert M.find_extension(exts, 13) == b"b"
    assert M.find_extension(exts, 14) is None


# --- fragments ------------------------------------------------------------------------------


def test_handshake_header_layout() -> None:
    # RFC 6347 §4.2.2: type, length(3), message_seq(2), fragment_offset(3), fragment_length(3)
    raw = M.HandshakeFragment(1, 0x010203, 0x0405, 0x060708, 0x090A0B, b"").serialize
    with pytest.raises(ValueError):
        raw()  # body length disagrees with fragment_length
    frag = M.HandshakeFragment(1, 0x30000, 0x0405, 0x10203, 3, b"abc")
    data = frag.serialize()
    assert data == bytes.fromhex("01 030000 0405 010203 000003") + b"abc"
    assert M.parse_handshake_fragments(data) == [frag]
    assert M.handshake_message_bytes(14, 3, b"") == bytes.fromhex("0e0000000003000000000000")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (bytes.fromhex("0e000000000000000000"), "header"),
        (bytes.fromhex("01000004 0000 000000 000005") + bytes(5), "past the message length"),
        (bytes.fromhex("01000004 0000 000002 000003") + bytes(3), "past the message length"),
        (bytes.fromhex("01000004 0000 000000 000004") + bytes(3), "need 4 bytes"),
    ],
)
def test_fragment_parse_errors(data: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        M.parse_handshake_fragments(data)


@given(st.binary(max_size=120))
def test_any_record_payload_parses_or_raises(data: bytes) -> None:
    try:
        fragments = M.parse_handshake_fragments(data)
    except ParseError:
        return
    assert b"".join(f.serialize() for f in fragments) == data
    reassembler = M.HandshakeReassembler()
    for f in fragments:
        try:
            reassembler.add(f)
        except ParseError:
            return
        while reassembler.pop() is not None:
            pass


def test_several_messages_in_one_record() -> None:
    payload = M.handshake_message_bytes(2, 1, b"x" * 5) + M.handshake_message_bytes(14, 2, b"")
    fragments = M.parse_handshake_fragments(payload)
    assert [(f.msg_type, f.message_seq, f.body) for f in fragments] == [
        (2, 1, b"xxxxx"), (14, 2, b""),
    ]


@given(st.binary(max_size=3000), st.integers(13, 1500))
def test_fragment_sizes(body: bytes, size: int) -> None:
    pieces = M.fragment_handshake(11, 7, body, size)
    assert all(len(p) <= size for p in pieces)
    if len(body) + 12 <= size:
        assert pieces == [M.handshake_message_bytes(11, 7, body)]
    fragments = [f for p in pieces for f in M.parse_handshake_fragments(p)]
    assert b"".join(f.body for f in fragments) == body
    assert all(f.length == len(body) and f.message_seq == 7 for f in fragments)


def test_fragment_size_too_small() -> None:
    with pytest.raises(ValueError):
        M.fragment_handshake(1, 0, b"abc", 12)


@st.composite
def flights(draw: st.DrawFn) -> tuple[list[tuple[int, int, bytes]], list[M.HandshakeFragment]]:
    """Consecutive messages, fragmented at random sizes, with overlapping extra pieces and
    duplicates, shuffled."""
    first = draw(st.integers(0, 5))
    bodies = draw(st.lists(st.binary(max_size=600), min_size=1, max_size=5))
    messages = [(draw(st.sampled_from([1, 2, 11, 12, 14, 16, 20])), first + i, b)
                for i, b in enumerate(bodies)]
    fragments: list[M.HandshakeFragment] = []
    for msg_type, seq, body in messages:
        size = draw(st.integers(13, 700))
        for piece in M.fragment_handshake(msg_type, seq, body, size):
            fragments += M.parse_handshake_fragments(piece)
        for _ in range(draw(st.integers(0, 3))):  # overlapping pieces at arbitrary offsets
            if body:
                start = draw(st.integers(0, len(body) - 1))
                end = draw(st.integers(start, len(body)))
                fragments.append(M.HandshakeFragment(
                    msg_type, len(body), seq, start, end - start, body[start:end]
                ))
    fragments += draw(st.lists(st.sampled_from(fragments), max_size=6))  # duplicates
    return messages, draw(st.permutations(fragments))


@given(flights())
def test_reassembly_in_any_order(case: Any) -> None:
    messages, fragments = case
    reassembler = M.HandshakeReassembler(messages[0][1])
    out = []
    for f in fragments:
        reassembler.add(f)
        while (message := reassembler.pop()) is not None:
            out.append(message)
    assert out == messages
    assert reassembler.buffered_messages == 0 and reassembler.buffered_bytes == 0
    before = reassembler.retransmitted
    for f in fragments[:3]:
        reassembler.add(f)
    assert reassembler.retransmitted == before + min(3, len(fragments))
    assert reassembler.pop() is None


def test_reassembly_rejects_inconsistent_fragments() -> None:
    r = M.HandshakeReassembler()
    r.add(M.HandshakeFragment(1, 10, 0, 0, 4, b"abcd"))
    with pytest.raises(ParseError, match="type"):
        r.add(M.HandshakeFragment(2, 10, 0, 4, 2, b"ef"))
    with pytest.raises(ParseError, match="length"):
        r.add(M.HandshakeFragment(1, 11, 0, 4, 2, b"ef"))
    with pytest.raises(ParseError, match="past"):
        r.add(M.HandshakeFragment(1, 10, 0, 8, 4, b"ijkl"))
    r.add(M.HandshakeFragment(1, 10, 0, 4, 6, b"efghij"))
    assert r.pop() == (1, 0, b"abcdefghij")


def test_future_messages_are_bounded() -> None:
    r = M.HandshakeReassembler(max_messages_ahead=2, max_buffered_bytes=100,
                               max_message_size=80)
    r.add(M.HandshakeFragment(11, 50, 3, 0, 1, b"x"))  # 3 ahead of 0: dropped
    assert (r.dropped, r.buffered_messages) == (1, 0)
    r.add(M.HandshakeFragment(11, 60, 2, 0, 1, b"x"))
    r.add(M.HandshakeFragment(11, 50, 1, 0, 1, b"x"))  # 60 + 50 > 100: dropped
    assert (r.dropped, r.buffered_messages, r.buffered_bytes) == (2, 1, 60)
    r.add(M.HandshakeFragment(1, 80, 0, 0, 1, b"x"))  # the next message is always taken
    assert (r.dropped, r.buffered_messages) == (2, 2)
    with pytest.raises(ParseError, match="limit"):
        r.add(M.HandshakeFragment(11, 81, 1, 0, 1, b"x"))
    r.reset(5)
    assert (r.next_seq, r.buffered_messages, r.buffered_bytes) == (5, 0, 0)
    r.add(M.HandshakeFragment(1, 2, 4, 0, 2, b"ab"))
    assert r.retransmitted == 1


def test_empty_message_completes_at_once() -> None:
    r = M.HandshakeReassembler()
    r.add(M.parse_handshake_fragments(M.handshake_message_bytes(14, 0, b""))[0])
    assert r.pop() == (14, 0, b"")
    assert r.pop() is None


# --- captured vectors -----------------------------------------------------------------------

CAPTURES = sorted(
    (Path(__file__).resolve().parent.parent / "rfc-vectors" / "captures").glob("*/dtls-*.json")
)


def test_there_are_captures() -> None:
    assert CAPTURES, "rfc-vectors/captures/*/dtls-*.json: run rfc-vectors/capture_dtls_hello.py"


@pytest.mark.parametrize("path", CAPTURES, ids=[f"{p.parent.name}/{p.stem}" for p in CAPTURES])
def test_capture_passes_its_checker(path: Path) -> None:
    from rtcstack.cli.vectors import check_vector
    from rtcstack.vectors import load_file

    vector = load_file(path)
    assert vector.kind == "dtls-handshake"
    assert check_vector(vector) == []


def test_checker_catches_a_changed_byte() -> None:
    from rtcstack.dtls.vectors import check_dtls_handshake
    from rtcstack.vectors import load_file

    if not CAPTURES:
        pytest.skip("no captures")
    vector = load_file(CAPTURES[0])
    cases = [dict(c) for c in vector.cases]
    rows = list(cases[0]["hex"])
    last = rows[-1].split()
    last[-1] = f"{int(last[-1], 16) ^ 1:02x}"
    rows[-1] = " ".join(last)
    cases[0]["hex"] = rows
    assert check_dtls_handshake(dataclasses.replace(vector, cases=tuple(cases))) != []
    fields = dict(vector.expected)
    messages = [dict(m) for m in fields["messages"]]
    messages[0]["message_seq"] += 1
    assert check_dtls_handshake(
        dataclasses.replace(vector, expected={**fields, "messages": messages})
    ) != []


def test_client_hello_type_constant() -> None:
    assert M.ClientHello.msg_type == HandshakeType.CLIENT_HELLO
