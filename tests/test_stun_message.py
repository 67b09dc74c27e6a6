"""Unit tests of the STUN message and attribute codec (RFC 8489 §5, §6, §14)."""

from __future__ import annotations

import dataclasses

import pytest

from rtcstack import ParseError
from rtcstack.common.errors import InvalidStateError
from rtcstack.stun import (
    AdditionalAddressFamily,
    AddressErrorCode,
    AlternateDomain,
    AlternateServer,
    ChangeRequest,
    ChannelNumber,
    Data,
    DontFragment,
    ErrorCode,
    EvenPort,
    Fingerprint,
    IceControlled,
    IceControlling,
    Icmp,
    Lifetime,
    MappedAddress,
    Message,
    MessageClass,
    MessageIntegrity,
    MessageIntegritySha256,
    Method,
    Nonce,
    OtherAddress,
    Padding,
    PasswordAlgorithm,
    PasswordAlgorithms,
    PasswordAlgorithmSpec,
    Priority,
    Realm,
    RequestedAddressFamily,
    RequestedTransport,
    ReservationToken,
    ResponseOrigin,
    ResponsePort,
    Software,
    UnknownAttribute,
    UnknownAttributes,
    UseCandidate,
    Userhash,
    Username,
    XorMappedAddress,
    XorPeerAddress,
    XorRelayedAddress,
    is_stun,
    make_nonce_cookie,
    nonce_security_features,
)
from rtcstack.stun.attributes import REGISTRY, Attribute
from rtcstack.stun.message import decode_message_type, encode_message_type

TID = bytes(range(12))

EXAMPLES: list[Attribute] = [
    MappedAddress(("192.0.2.1", 32853)),
    MappedAddress(("2001:db8::1", 3478)),
    XorMappedAddress(("192.0.2.1", 32853)),
    XorMappedAddress(("2001:db8:1234:5678:11:2233:4455:6677", 32853)),
    XorPeerAddress(("10.0.0.1", 1)),
    XorRelayedAddress(("::1", 65535)),
    AlternateServer(("198.51.100.7", 3478)),
    ResponseOrigin(("127.0.0.1", 3478)),
    OtherAddress(("127.0.0.2", 3479)),
    Username("evtj:h6vY"),
    Username("\u30de\u30c8\u30ea\u30c3\u30af\u30b9"),
    Realm("example.org"),
    Nonce("obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA"),
    Software("rtcstack"),
    AlternateDomain("turn.example.org"),
    Priority(0x6E0001FF),
    Lifetime(600),
    Fingerprint(0xE57A3BCF),
    IceControlled(0x932FF9B151263B36),
    IceControlling(1),
    ChannelNumber(0x4000),
    ResponsePort(5000),
    ChangeRequest(change_ip=True, change_port=False),
    ChangeRequest(change_ip=False, change_port=True),
    RequestedAddressFamily(2),
    AdditionalAddressFamily(2),
    RequestedTransport(17),
    EvenPort(reserve=True),
    UseCandidate(),
    DontFragment(),
    Data(b"\x00\x01\x02"),
    Padding(b"\x00" * 7),
    ReservationToken(b"12345678"),
    Userhash(bytes(32)),
    MessageIntegrity(bytes(20)),
    MessageIntegritySha256(bytes(16)),
    ErrorCode(401, "Unauthenticated"),
    ErrorCode(438, "Stale Nonce"),
    AddressErrorCode(2, 440, "Address Family not Supported"),
    Icmp(3, 1, 0xDEADBEEF),
    UnknownAttributes((0x0031, 0x7FFF)),
    PasswordAlgorithms((PasswordAlgorithmSpec(1), PasswordAlgorithmSpec(2, b"xy"))),
    PasswordAlgorithm(2),
    UnknownAttribute(0xC057, b"\x00\x02\x00\x00"),
]


def test_every_registered_attribute_has_an_example() -> None:
    covered = {type(a) for a in EXAMPLES}
    missing = sorted(c.NAME for c in REGISTRY.values() if c not in covered)
    assert missing == []


@pytest.mark.parametrize("attr", EXAMPLES, ids=lambda a: f"{a.NAME}")
def test_attribute_round_trip_in_a_message(attr: Attribute) -> None:
    msg = Message(Method.BINDING, MessageClass.SUCCESS, TID, (attr,))
    data = msg.serialize()
    assert len(data) % 4 == 0
    parsed = Message.parse(data)
    assert parsed.attributes == (attr,)
    assert parsed == msg
    assert parsed.describe()["attributes"][0]["type"] == f"0x{attr.type:04X}"


def test_attributes_are_frozen_and_hashable() -> None:
    attr = Username("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        attr.value = "b"  # type: ignore[misc]
    assert hash(attr) == hash(Username("a"))
    assert Priority(5) != Lifetime(5)


def test_message_type_interleaving_rfc8489_section5() -> None:
    # RFC 8489 §5: "a Binding request has class=0b00 (request) and method=0b000000000001 ...
    # encoded into the first 16 bits as 0x0001.  A Binding response has class=0b10 (success
    # response) and method=0b000000000001, and is encoded into the first 16 bits as 0x0101."
    assert encode_message_type(Method.BINDING, MessageClass.REQUEST) == 0x0001
    assert encode_message_type(Method.BINDING, MessageClass.SUCCESS) == 0x0101
    assert encode_message_type(Method.BINDING, MessageClass.ERROR) == 0x0111
    assert encode_message_type(Method.BINDING, MessageClass.INDICATION) == 0x0011
    assert encode_message_type(Method.ALLOCATE, MessageClass.REQUEST) == 0x0003
    assert encode_message_type(Method.SEND, MessageClass.INDICATION) == 0x0016
    for method in range(0x1000):
        for klass in MessageClass:
            assert decode_message_type(encode_message_type(method, klass)) == (method, klass)


def test_unknown_method_survives_round_trip() -> None:
    msg = Message(0xABC, MessageClass.INDICATION, TID, (Software("x"),))
    assert Message.parse(msg.serialize()).method == 0xABC


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "shorter than the 20-byte header"),
        (b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(11), "shorter than the 20-byte header"),
        (b"\xc0\x01\x00\x00\x21\x12\xa4\x42" + TID, "two most significant bits"),
        (b"\x00\x01\x00\x00\x00\x00\x00\x00" + TID, "magic cookie"),
        (b"\x00\x01\x00\x02\x21\x12\xa4\x42" + TID, "not a multiple of 4"),
        (b"\x00\x01\x00\x04\x21\x12\xa4\x42" + TID, "length field says 4 but 0 bytes follow"),
        (b"\x00\x01\x00\x04\x21\x12\xa4\x42" + TID + b"\x00\x06\x00\x05", "runs past the message"),
        (b"\x00\x01\x00\x08\x21\x12\xa4\x42" + TID + b"\x00\x24\x00\x03abc\x00", "PRIORITY"),
        (b"\x00\x01\x00\x08\x21\x12\xa4\x42" + TID + b"\x00\x01\x00\x04\x00\x03\x00\x01", "family"),
        (b"\x00\x01\x00\x08\x21\x12\xa4\x42" + TID + b"\x00\x06\x00\x02\xff\xfe\x00\x00", "UTF-8"),
        (b"\x00\x01\x00\x08\x21\x12\xa4\x42" + TID + b"\x00\x09\x00\x04\x00\x00\x02\x00", "class"),
    ],
)
def test_malformed_messages_raise_parse_error(data: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as info:
        Message.parse(data)
    assert isinstance(info.value, ValueError)


def test_parse_error_carries_attribute_offset() -> None:
    good = Message(Method.BINDING, MessageClass.REQUEST, TID, (Software("x"),)).serialize()
    bad = good[:2] + (len(good) - 20 + 4).to_bytes(2, "big") + good[4:] + b"\x00\x24\x00\x00"
    with pytest.raises(ParseError) as info:
        Message.parse(bad)
    assert info.value.offset == 28


def test_padding_byte_is_configurable_and_ignored_on_parse() -> None:
    msg = Message(Method.BINDING, MessageClass.REQUEST, TID, (Username("abcde"),))
    spaces = msg.serialize(padding=b" ")
    assert spaces.endswith(b"abcde   ")
    assert Message.parse(spaces) == msg
    with pytest.raises(ValueError):
        msg.serialize(padding=b"  ")


def test_integrity_and_fingerprint_are_computed_and_verified() -> None:
    key = b"key"
    msg = Message(Method.BINDING, MessageClass.REQUEST, TID, (Username("a:b"), Priority(1)))
    parsed = Message.parse(msg.serialize(integrity_key=key, fingerprint=True))
    assert parsed.check_integrity(key)
    assert not parsed.check_integrity(b"other")
    assert parsed.check_fingerprint()
    assert [type(a) for a in parsed.attributes][-2:] == [MessageIntegrity, Fingerprint]
    assert not parsed.check_integrity_sha256(key)  # absent


def test_both_integrity_attributes_in_rfc_order() -> None:
    # RFC 8489 §14.6: MESSAGE-INTEGRITY-SHA256 follows MESSAGE-INTEGRITY; FINGERPRINT is last.
    msg = Message(Method.ALLOCATE, MessageClass.REQUEST, TID, (Realm("r"),))
    data = msg.serialize(
        integrity_key=b"k1", integrity_sha256_key=b"k2", sha256_length=24, fingerprint=True
    )
    parsed = Message.parse(data)
    assert [a.NAME for a in parsed.attributes] == [
        "REALM",
        "MESSAGE-INTEGRITY",
        "MESSAGE-INTEGRITY-SHA256",
        "FINGERPRINT",
    ]
    assert parsed.check_integrity(b"k1")
    assert parsed.check_integrity_sha256(b"k2")
    assert not parsed.check_integrity_sha256(b"k1")
    assert parsed.check_fingerprint()
    with pytest.raises(ValueError):
        msg.serialize(integrity_sha256_key=b"k", sha256_length=12)


def test_every_covered_byte_is_protected() -> None:
    key = b"secret"
    data = Message(Method.BINDING, MessageClass.REQUEST, TID, (Username("u"),)).serialize(
        integrity_key=key
    )
    for i in range(len(data) - 20):  # everything before the HMAC value itself
        if 2 <= i < 4:
            continue  # the length field is rewritten for the HMAC, by design
        corrupted = bytearray(data)
        corrupted[i] ^= 0x01
        try:
            parsed = Message.parse(bytes(corrupted))
        except ParseError:
            continue
        assert not parsed.check_integrity(key), i


def test_attributes_after_integrity_are_ignored() -> None:
    # RFC 8489 §14.5: "agents MUST ignore all other attributes that follow MESSAGE-INTEGRITY,
    # with the exception of the MESSAGE-INTEGRITY-SHA256 and FINGERPRINT attributes."
    key = b"k"
    signed = Message(Method.BINDING, MessageClass.SUCCESS, TID, (Software("a"),)).serialize(
        integrity_key=key
    )
    extra = XorMappedAddress(("6.6.6.6", 666)).wire(TID)
    forged = signed[:2] + (len(signed) - 20 + len(extra)).to_bytes(2, "big") + signed[4:] + extra
    parsed = Message.parse(forged)
    assert parsed.get(XorMappedAddress) is None
    assert [a.NAME for a in parsed.ignored] == ["XOR-MAPPED-ADDRESS"]
    assert parsed.check_integrity(key)
    assert "ignored_after_integrity" in parsed.describe()


def test_attributes_after_fingerprint_are_ignored() -> None:
    data = Message(Method.BINDING, MessageClass.SUCCESS, TID, ()).serialize(fingerprint=True)
    extra = Software("late").wire(TID)
    data = data[:2] + (len(data) - 20 + len(extra)).to_bytes(2, "big") + data[4:] + extra
    parsed = Message.parse(data)
    assert parsed.get(Software) is None
    assert not parsed.check_fingerprint()  # FINGERPRINT is no longer last


def test_check_on_unparsed_message_is_a_usage_error() -> None:
    msg = Message(Method.BINDING, MessageClass.REQUEST, TID, (MessageIntegrity(bytes(20)),))
    msg.offsets = (20, -1, -1)
    with pytest.raises(InvalidStateError):
        msg.check_integrity(b"k")


def test_unknown_attributes_kept_byte_for_byte() -> None:
    raw = Message(
        Method.BINDING,
        MessageClass.REQUEST,
        TID,
        (UnknownAttribute(0x7001, b"abc"), UnknownAttribute(0xC001, b"defg")),
    ).serialize()
    parsed = Message.parse(raw)
    assert parsed.serialize() == raw
    assert parsed.unknown_comprehension_required() == (0x7001,)


def test_responses_keep_method_and_transaction() -> None:
    request = Message.new(Method.BINDING, MessageClass.REQUEST, random_bytes=lambda n: TID)
    assert request.transaction_id == TID
    ok = request.success_response(XorMappedAddress(("1.2.3.4", 5)))
    assert (ok.method, ok.message_class, ok.transaction_id) == (
        Method.BINDING,
        MessageClass.SUCCESS,
        TID,
    )
    err = request.error_response(420, "", UnknownAttributes((0x7001,)))
    assert err.message_class is MessageClass.ERROR
    assert err.error_code == 420
    assert err.get(ErrorCode) == ErrorCode(420, "Unknown Attribute")


def test_encoding_rejects_invalid_values() -> None:
    with pytest.raises(ValueError):
        ErrorCode(200).encode(TID)
    with pytest.raises(ValueError):
        XorMappedAddress(("not-an-ip", 1)).encode(TID)
    with pytest.raises(ValueError):
        MappedAddress(("1.2.3.4", 70000)).encode(TID)
    with pytest.raises(ValueError):
        Username("x" * 509).encode(TID)
    with pytest.raises(ValueError):
        Message(Method.BINDING, MessageClass.REQUEST, b"short").serialize()


def test_nonce_cookie_security_features() -> None:
    # RFC 8489 §9.2: "obMatJos2" + base64 of the 24 feature bits (bit 0 most significant).
    cookie = make_nonce_cookie(0x800000)
    assert cookie == "obMatJos2gAAA"
    assert nonce_security_features(cookie + "rest") == 0x800000
    # RFC 8489 Appendix B.1's nonce cookie "AAAC" encodes 0x000002.  §18.1 says "Bit 0 is the
    # leftmost bit", so that is unassigned bit 22; counted from the right it would be bit 1,
    # username anonymity, which B.1 does use (USERHASH).  We follow §18.1's text.
    assert Nonce("obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA").security_features == 0x000002
    assert nonce_security_features(make_nonce_cookie(0x400000)) == 0x400000  # anonymity
    assert nonce_security_features("plainnonce") is None
    assert nonce_security_features("obMatJos2!!!!x") is None


def test_is_stun_and_str() -> None:
    data = Message(Method.BINDING, MessageClass.REQUEST, TID, (Software("s"),)).serialize()
    assert is_stun(data)
    assert not is_stun(b"\x80" + data[1:])
    assert "BINDING REQUEST" in str(Message.parse(data))
