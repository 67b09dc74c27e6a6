"""Hypothesis properties of the STUN codec (STYLE.md rule 8).

- Generated messages with every attribute class round-trip: ``parse(serialize(m)) == m``, with
  and without MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT (then ``check_*``).
- Any bytes -- random, random attribute soups behind a valid header, mutations of valid
  messages and of the RFC vectors -- give a ``Message`` or a ``ParseError``, nothing else.
- A flipped byte in the integrity-covered region makes ``check_integrity`` False.
- Every attribute's ``describe()`` form (what vector files and ``rtcstack decode`` show) maps
  back to the attribute.
"""

from __future__ import annotations

import ipaddress
import json
import struct
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rtcstack import ParseError
from rtcstack.cli.vectors import attribute_from_description
from rtcstack.stun import Message, MessageClass
from rtcstack.stun import attributes as A
from rtcstack.stun.attributes import REGISTRY, Attribute, attribute_name
from rtcstack.vectors import all_vectors

U8 = st.integers(0, 0xFF)
U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)
U64 = st.integers(0, 0xFFFFFFFFFFFFFFFF)

ipv4 = st.ip_addresses(v=4).map(str)
# The decoder formats IPv6 with ipaddress's canonical (compressed) text; generate the same.
ipv6 = st.ip_addresses(v=6).map(lambda a: str(ipaddress.IPv6Address(a.packed)))
addresses = st.tuples(st.one_of(ipv4, ipv6), U16)


def utf8_text(max_bytes: int) -> st.SearchStrategy[str]:
    """Strings whose UTF-8 encoding fits ``max_bytes`` (a character takes at most 4 bytes)."""
    return st.text(max_size=max_bytes // 4) | st.text(
        st.characters(max_codepoint=0x7F), max_size=max_bytes
    )


def _algorithm_specs(max_parameters: int) -> st.SearchStrategy[A.PasswordAlgorithmSpec]:
    return st.builds(
        A.PasswordAlgorithmSpec,
        st.sampled_from([1, 2]) | U16,
        st.binary(max_size=max_parameters),
    )


def attribute_strategies(max_parameters: int = 12) -> dict[type[Attribute], st.SearchStrategy[Any]]:
    """A strategy of valid values for every registered attribute class."""
    return {
        A.MappedAddress: st.builds(A.MappedAddress, addresses),
        A.AlternateServer: st.builds(A.AlternateServer, addresses),
        A.ResponseOrigin: st.builds(A.ResponseOrigin, addresses),
        A.OtherAddress: st.builds(A.OtherAddress, addresses),
        A.XorMappedAddress: st.builds(A.XorMappedAddress, addresses),
        A.XorPeerAddress: st.builds(A.XorPeerAddress, addresses),
        A.XorRelayedAddress: st.builds(A.XorRelayedAddress, addresses),
        A.Username: st.builds(A.Username, utf8_text(508)),
        A.Realm: st.builds(A.Realm, utf8_text(763)),
        A.Nonce: st.builds(A.Nonce, utf8_text(763)),
        A.Software: st.builds(A.Software, utf8_text(763)),
        A.AlternateDomain: st.builds(A.AlternateDomain, utf8_text(255)),
        A.Priority: st.builds(A.Priority, U32),
        A.Lifetime: st.builds(A.Lifetime, U32),
        A.Fingerprint: st.builds(A.Fingerprint, U32),
        A.IceControlled: st.builds(A.IceControlled, U64),
        A.IceControlling: st.builds(A.IceControlling, U64),
        A.ChannelNumber: st.builds(A.ChannelNumber, U16),
        A.ResponsePort: st.builds(A.ResponsePort, U16),
        A.ChangeRequest: st.builds(A.ChangeRequest, st.booleans(), st.booleans()),
        A.RequestedAddressFamily: st.builds(A.RequestedAddressFamily, st.sampled_from([1, 2])),
        A.AdditionalAddressFamily: st.builds(A.AdditionalAddressFamily, st.sampled_from([1, 2])),
        A.RequestedTransport: st.builds(A.RequestedTransport, U8),
        A.EvenPort: st.builds(A.EvenPort, st.booleans()),
        A.UseCandidate: st.just(A.UseCandidate()),
        A.DontFragment: st.just(A.DontFragment()),
        A.Data: st.builds(A.Data, st.binary(max_size=80)),
        A.Padding: st.builds(A.Padding, st.binary(max_size=80)),
        A.ReservationToken: st.builds(A.ReservationToken, st.binary(min_size=8, max_size=8)),
        A.Userhash: st.builds(A.Userhash, st.binary(min_size=32, max_size=32)),
        A.MessageIntegrity: st.builds(A.MessageIntegrity, st.binary(min_size=20, max_size=20)),
        A.MessageIntegritySha256: st.sampled_from([16, 20, 24, 28, 32]).flatmap(
            lambda n: st.builds(A.MessageIntegritySha256, st.binary(min_size=n, max_size=n))
        ),
        A.ErrorCode: st.builds(A.ErrorCode, st.integers(300, 699), utf8_text(508)),
        A.AddressErrorCode: st.builds(
            A.AddressErrorCode, st.sampled_from([1, 2]), st.integers(300, 699), utf8_text(508)
        ),
        # RFC 8656 §18.13: a 7-bit ICMP type and a 9-bit code share one 16-bit word.
        A.Icmp: st.builds(A.Icmp, st.integers(0, 0x7F), st.integers(0, 0x1FF), U32),
        A.UnknownAttributes: st.builds(A.UnknownAttributes, st.lists(U16, max_size=16).map(tuple)),
        A.PasswordAlgorithms: st.builds(
            A.PasswordAlgorithms,
            st.lists(_algorithm_specs(max_parameters), max_size=4).map(tuple),
        ),
        A.PasswordAlgorithm: st.builds(
            A.PasswordAlgorithm, st.sampled_from([1, 2]) | U16, st.binary(max_size=max_parameters)
        ),
    }


STRATEGIES = attribute_strategies()
TRAILER_TYPES = (A.MessageIntegrity, A.MessageIntegritySha256, A.Fingerprint)
unknown_attributes = st.builds(
    A.UnknownAttribute,
    U16.filter(lambda t: t not in REGISTRY),
    st.binary(max_size=40),
)
body_attributes = st.one_of(
    *(s for cls, s in STRATEGIES.items() if cls not in TRAILER_TYPES), unknown_attributes
)
headers = st.tuples(
    st.integers(0, 0xFFF), st.sampled_from(list(MessageClass)), st.binary(min_size=12, max_size=12)
)


@st.composite
def messages(draw: st.DrawFn, trailers: bool = True) -> Message:
    """Valid messages; with ``trailers``, MESSAGE-INTEGRITY, -SHA256 and FINGERPRINT with
    arbitrary values may follow the body, in the order RFC 8489 §14.5-14.7 allow."""
    method, klass, tid = draw(headers)
    attrs = draw(st.lists(body_attributes, max_size=10))
    if trailers:
        for cls in TRAILER_TYPES:
            if draw(st.booleans()):
                attrs.append(draw(STRATEGIES[cls]))
    return Message(method, klass, tid, tuple(attrs))


def test_every_attribute_class_has_a_strategy() -> None:
    assert set(REGISTRY.values()) <= set(STRATEGIES), "add a strategy for the new attribute"


# --- round trips ------------------------------------------------------------------------------


@given(messages())
def test_round_trip(message: Message) -> None:
    data = message.serialize()
    parsed = Message.parse(data)
    assert parsed == message
    assert parsed.raw == data
    assert parsed.ignored == ()
    assert parsed.serialize() == data


@given(messages(trailers=False), st.data())
def test_round_trip_with_integrity_and_fingerprint(message: Message, data: st.DataObject) -> None:
    key = data.draw(st.binary(min_size=1, max_size=64), label="key")
    use_sha1, use_sha256, use_fp = data.draw(st.tuples(st.booleans(), st.booleans(), st.booleans()))
    sha256_length = data.draw(st.sampled_from([16, 20, 24, 28, 32]))
    padding = data.draw(st.binary(min_size=1, max_size=1))
    wire = message.serialize(
        integrity_key=key if use_sha1 else None,
        integrity_sha256_key=key if use_sha256 else None,
        sha256_length=sha256_length,
        fingerprint=use_fp,
        padding=padding,
    )
    parsed = Message.parse(wire)
    n = len(message.attributes)
    assert parsed.attributes[:n] == message.attributes
    assert [type(a) for a in parsed.attributes[n:]] == [
        cls for cls, used in zip(TRAILER_TYPES, (use_sha1, use_sha256, use_fp), strict=True) if used
    ]
    assert parsed.check_integrity(key) is use_sha1
    assert parsed.check_integrity_sha256(key) is use_sha256
    assert parsed.check_fingerprint() is use_fp
    if use_sha256:
        mac = parsed.get(A.MessageIntegritySha256)
        assert mac is not None and len(mac.value) == sha256_length
    wrong = bytes([key[0] ^ 0x01]) + key[1:]
    assert parsed.check_integrity(wrong) is False
    assert parsed.check_integrity_sha256(wrong) is False


@given(st.one_of(*(s for cls, s in attribute_strategies(max_parameters=0).items())))
def test_describe_maps_back_to_the_attribute(attribute: Attribute) -> None:
    """The JSON form of vector files: ``attribute_from_description(name, describe())``.
    (PASSWORD-ALGORITHM(S) are generated without parameters here: describe() shows names only.)
    """
    value = json.loads(json.dumps(attribute.describe()))
    assert attribute_from_description(attribute_name(attribute.type), value) == attribute


@given(unknown_attributes)
def test_describe_maps_back_unknown_attributes(attribute: A.UnknownAttribute) -> None:
    value = json.loads(json.dumps(attribute.describe()))
    assert attribute_from_description(attribute_name(attribute.type), value) == attribute


def test_icmp_bit_layout() -> None:
    """RFC 8656 §18.13 Figure 11: Reserved (16 bits), ICMP Type (7 bits), ICMP Code (9 bits)."""
    icmp = A.Icmp(icmp_type=3, icmp_code=4, error_data=1400)
    wire = icmp.encode(b"\0" * 12)
    assert wire == struct.pack("!HHI", 0, (3 << 9) | 4, 1400)
    assert A.Icmp.decode(wire, b"\0" * 12) == icmp
    assert A.Icmp.decode(struct.pack("!HHI", 0xFFFF, 0xFFFF, 7), b"\0" * 12) == A.Icmp(
        0x7F, 0x1FF, 7
    )


# --- any bytes give a Message or a ParseError -------------------------------------------------


def parse_or_parse_error(data: bytes) -> Message | None:
    """Parse ``data``; any exception other than ParseError fails the test."""
    try:
        message = Message.parse(data)
    except ParseError as exc:
        assert isinstance(exc.reason, str) and exc.reason
        return None
    assert isinstance(message, Message)
    # A parsed message can be described and re-serialized.
    message.describe()
    str(message)
    return message


def _with_length(data: bytes) -> bytes:
    """Rewrite the header length to match, so a mutation gets past the length check."""
    if len(data) < 20:
        return data
    return data[:2] + ((len(data) - 20) & 0xFFFF).to_bytes(2, "big") + data[4:]


@given(st.binary(max_size=300))
@example(b"")
@example(b"\x00\x01\x00\x00\x21\x12\xa4\x42" + b"\x00" * 12)
def test_random_bytes(data: bytes) -> None:
    parse_or_parse_error(data)
    parse_or_parse_error(_with_length(data))


@st.composite
def attribute_soups(draw: st.DrawFn) -> bytes:
    """A valid header followed by type-length-value records with arbitrary values: reaches
    every attribute decoder with garbage."""
    method, klass, tid = draw(headers)
    from rtcstack.stun.message import encode_message_type

    body = b""
    for attr_type, value in draw(
        st.lists(
            st.tuples(st.sampled_from(sorted(REGISTRY)) | U16, st.binary(max_size=40)),
            max_size=8,
        )
    ):
        body += struct.pack("!HH", attr_type, len(value)) + value + b"\0" * (-len(value) % 4)
    head = struct.pack("!HHI", encode_message_type(method, klass), len(body), 0x2112A442)
    return head + tid + body


@given(attribute_soups())
def test_random_attribute_values(data: bytes) -> None:
    parse_or_parse_error(data)


MUTATIONS = ("flip", "insert", "delete", "truncate", "overwrite")


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(MUTATIONS))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= draw(st.integers(1, 0xFF))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[pos:]
        elif op == "overwrite" and data:
            chunk = draw(st.binary(min_size=1, max_size=4))
            data[pos : pos + len(chunk)] = chunk
    if draw(st.booleans()):
        return _with_length(bytes(data))
    return bytes(data)


VECTOR_BYTES = [v.data for v in all_vectors() if v.layer == "stun" and v.data]


@given(st.data())
def test_mutated_messages(data: st.DataObject) -> None:
    message = data.draw(messages(), label="message")
    wire = message.serialize(
        integrity_key=data.draw(st.none() | st.binary(min_size=1, max_size=8)),
        fingerprint=data.draw(st.booleans()),
    )
    parse_or_parse_error(data.draw(mutated(wire), label="mutated"))


@pytest.mark.parametrize("index", range(len(VECTOR_BYTES)))
@given(data=st.data())
def test_mutated_rfc_vectors(index: int, data: st.DataObject) -> None:
    parse_or_parse_error(data.draw(mutated(VECTOR_BYTES[index]), label="mutated"))


# --- integrity covers what it should ----------------------------------------------------------


@given(messages(trailers=False), st.binary(min_size=1, max_size=32), st.data())
def test_a_flipped_covered_byte_fails_integrity(
    message: Message, key: bytes, data: st.DataObject
) -> None:
    """RFC 8489 §14.5: the HMAC covers the header (length rewritten) and every attribute
    before MESSAGE-INTEGRITY."""
    wire = message.serialize(integrity_key=key)
    offset = Message.parse(wire).offsets[0]
    pos = data.draw(st.sampled_from([0, 1, *range(4, offset)]), label="position")
    flipped = bytearray(wire)
    flipped[pos] ^= data.draw(st.integers(1, 0xFF), label="xor")
    parsed = parse_or_parse_error(bytes(flipped))
    if parsed is not None:
        assert parsed.check_integrity(key) is False
