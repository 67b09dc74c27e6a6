"""RTP packets (RFC 3550 §5.1), RFC 8285 header extensions, typed extension values, RTX."""

from __future__ import annotations

import doctest
from typing import Any

import pytest

import rtcstack.rtp
import rtcstack.rtp.extensions
from rtcstack import ParseError
from rtcstack.rtp import (
    AbsCaptureTime,
    AbsSendTime,
    AudioLevel,
    ExtensionMap,
    Mid,
    PlayoutDelay,
    RepairedRid,
    Rid,
    RtpPacket,
    TransportSequenceNumber,
    VideoOrientation,
    rtx_unwrap,
    rtx_wrap,
)

# Written out field by field from RFC 3550 §5.1 Figure 1 and RFC 8285 §4.2/§4.3.
PLAIN = bytes.fromhex("80 60 1234 00010203 deadbeef") + b"payload"
FULL = bytes.fromhex(
    "b2 e0 ffff 80000000 00000001"  # V=2 P=1 X=1 CC=2, M=1 PT=96, seq, ts, ssrc
    "11111111 22222222"  # CSRCs
    "bede 0002"  # one-byte extensions, 2 words
    "10 61"  # id 1, 1 byte: "a"
    "00"  # padding byte between elements (RFC 8285 §4.1.2)
    "22 000102"  # id 2, 3 bytes
    "00"  # padding to the word
) + b"xy" + bytes.fromhex("000003")


def test_plain_packet_fields_and_bytes() -> None:
    p = RtpPacket.parse(PLAIN)
    assert (p.payload_type, p.sequence_number, p.timestamp, p.ssrc) == (96, 0x1234, 0x10203,
                                                                        0xDEADBEEF)
    assert (p.marker, p.csrcs, p.extensions, p.padding, p.payload) == (False, (), (), 0,
                                                                        b"payload")
    assert p.serialize() == PLAIN
    assert p == RtpPacket(96, 0x1234, 0x10203, 0xDEADBEEF, b"payload")


def test_full_packet_with_csrcs_extensions_and_padding() -> None:
    p = RtpPacket.parse(FULL)
    assert p.marker and p.payload_type == 96 and p.sequence_number == 0xFFFF
    assert p.csrcs == (0x11111111, 0x22222222)
    assert p.extensions == ((1, b"a"), (2, b"\x00\x01\x02"))
    assert p.extension_profile is None  # one-byte is what serialize() picks by itself
    assert p.padding == 3 and p.payload == b"xy"
    assert p.extension(2) == b"\x00\x01\x02" and p.extension(9) is None
    # While the extensions are untouched, serialize() writes the block exactly as parsed
    # (padding between elements included); once they change, the elements are encoded again
    # and the padding byte between elements is not kept.
    assert p.serialize() == FULL
    again = p.copy(extensions=tuple(p.extensions)[:1] + tuple(p.extensions)[1:]).serialize()
    assert RtpPacket.parse(again) == p
    assert again == FULL.replace(bytes.fromhex("1061 00 22000102 00"),
                                 bytes.fromhex("1061 22000102 0000"))
    assert p.copy(extension_profile=0x1000).serialize() != FULL  # the profile changed: encoded


def test_serialize_reencodes_changed_extensions() -> None:
    p = RtpPacket.parse(FULL)
    changed = p.with_extension(2, b"\x07")
    assert changed.extension(2) == b"\x07"
    assert RtpPacket.parse(changed.serialize()).extensions == ((1, b"a"), (2, b"\x07"))
    p.extensions = ((1, b"b"),)  # assigning a new tuple invalidates the parsed block too
    assert RtpPacket.parse(p.serialize()).extensions == ((1, b"b"),)


def test_two_byte_form_and_mixed_elements() -> None:
    ext = ((1, b"x"), (20, b""), (3, bytes(17)))
    p = RtpPacket(100, 1, 2, 3, b"p", extensions=ext)
    data = p.serialize()
    assert data[12:14] == b"\x10\x00"  # RFC 8285 §4.3 profile 0x100 + appbits 0
    body = data[16:]
    assert body[:3] == b"\x01\x01x" and body[3:5] == b"\x14\x00" and body[5:7] == b"\x03\x11"
    assert RtpPacket.parse(data) == p


def test_forced_forms_and_appbits_round_trip() -> None:
    small = ((1, b"x"),)
    for profile in (0x1000, 0x100F):
        p = RtpPacket(100, 1, 2, 3, b"", extensions=small, extension_profile=profile)
        data = p.serialize()
        assert int.from_bytes(data[12:14], "big") == profile
        assert RtpPacket.parse(data) == p
    empty = RtpPacket(100, 1, 2, 3, extension_profile=0xBEDE)
    assert empty.serialize()[12:16] == b"\xbe\xde\x00\x00"
    assert RtpPacket.parse(empty.serialize()) == empty
    with pytest.raises(ValueError, match="1-14"):
        RtpPacket(100, 1, 2, 3, extensions=((15, b"x"),), extension_profile=0xBEDE).serialize()


def test_foreign_extension_profile_is_kept_opaque() -> None:
    data = bytes.fromhex("90 00 0001 00000002 00000003 abcd 0001 01020304") + b"z"
    p = RtpPacket.parse(data)
    assert p.extension_profile == 0xABCD and p.extensions == ((0, b"\x01\x02\x03\x04"),)
    assert p.serialize() == data


def test_id_15_and_id_0_with_length_stop_one_byte_parsing() -> None:
    # RFC 8285 §4.2: "If the ID value 15 is encountered ... processing of the entire extension
    # MUST terminate at that point"; §4.1.2 likewise for ID 0 with a non-zero length.
    for stop in (0xF3, 0x05):
        data = bytes.fromhex(f"90 00 0001 00000002 00000003 bede 0001 1061 {stop:02x} 00")
        assert RtpPacket.parse(data).extensions == ((1, b"a"),)


@pytest.mark.parametrize(
    ("data", "offset", "reason"),
    [
        (bytes(11), 0, "shorter than the 12-byte header"),
        (bytes.fromhex("40 00 0000 00000000 00000000"), 0, "version 1"),
        (bytes.fromhex("81 00 0000 00000000 00000000 0000"), 12, "CSRCs run past"),
        (bytes.fromhex("90 00 0000 00000000 00000000 bede"), 12, "extension header"),
        (bytes.fromhex("90 00 0000 00000000 00000000 bede 0002 00000000"), 12, "2 words"),
        (bytes.fromhex("90 00 0000 00000000 00000000 bede 0001 3f000000"), 16, "runs past"),
        (bytes.fromhex("90 00 0000 00000000 00000000 1000 0001 000005ff"), 18, "runs past"),
        (bytes.fromhex("90 00 0000 00000000 00000000 1000 0001 00000007"), 19, "no length"),
        (bytes.fromhex("a0 00 0000 00000000 00000000 0000"), 13, "padding count is 0"),
        (bytes.fromhex("a0 00 0000 00000000 00000000 0003"), 13, "exceeds the payload"),
    ],
)
def test_malformed_packets_raise_parse_error_with_offset(
    data: bytes, offset: int, reason: str
) -> None:
    with pytest.raises(ParseError, match=reason) as info:
        RtpPacket.parse(data)
    assert info.value.offset == offset


def test_serialize_rejects_out_of_range_fields() -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"payload_type": 128}, "payload type"),
        ({"sequence_number": 65536}, "sequence number"),
        ({"timestamp": -1}, "timestamp"),
        ({"csrcs": tuple(range(16))}, "CSRCs"),
        ({"padding": 256}, "padding"),
    ]
    for kwargs, match in cases:
        p = RtpPacket(96, 0, 0, 0).copy(**kwargs)
        with pytest.raises(ValueError, match=match):
            p.serialize()
    with pytest.raises(TypeError, match="no attribute"):
        RtpPacket(96, 0, 0, 0).copy(bogus=1)


def test_bytearray_and_memoryview_input() -> None:
    assert RtpPacket.parse(bytearray(PLAIN)) == RtpPacket.parse(memoryview(PLAIN))


def test_with_extension_replaces_or_appends() -> None:
    p = RtpPacket(96, 0, 0, 0, extensions=((1, b"a"), (2, b"b")))
    assert p.with_extension(1, b"z").extensions == ((1, b"z"), (2, b"b"))
    assert p.with_extension(3, b"c").extensions == ((1, b"a"), (2, b"b"), (3, b"c"))
    assert p.extensions == ((1, b"a"), (2, b"b"))


def test_rtx_wrap_and_unwrap() -> None:
    # RFC 4588 §4: the RTX payload is the original sequence number followed by the payload.
    original = RtpPacket(96, 0xABCD, 90000, 0x1111, b"frame", True, extensions=((1, b"0"),))
    rtx = rtx_wrap(original, 97, 7, 0x2222)
    assert rtx.payload == b"\xab\xcdframe" and rtx.ssrc == 0x2222 and rtx.sequence_number == 7
    assert rtx.timestamp == 90000 and rtx.marker and rtx.extensions == original.extensions
    assert rtx_unwrap(RtpPacket.parse(rtx.serialize()), 96, 0x1111) == original
    with pytest.raises(ParseError, match="original sequence number"):
        rtx_unwrap(RtpPacket(97, 1, 1, 1, b"\x00"), 96, 1)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (Mid("audio0"), b"audio0"),
        (Rid("hi"), b"hi"),
        (RepairedRid("lo"), b"lo"),
        (AbsSendTime(0xABCDEF), b"\xab\xcd\xef"),
        (TransportSequenceNumber(0x1234), b"\x12\x34"),
        (AudioLevel(True, 127), b"\xff"),
        (AudioLevel(False, 5), b"\x05"),
        (VideoOrientation(270, True, True), b"\x0f"),
        (VideoOrientation(90), b"\x01"),
        (PlayoutDelay(0x123, 0x456), b"\x12\x34\x56"),
        (AbsCaptureTime(0x0102030405060708), bytes(range(1, 9))),
        (AbsCaptureTime(1, -1), bytes(7) + b"\x01" + b"\xff" * 8),
    ],
)
def test_typed_extension_values(value: object, wire: bytes) -> None:
    assert value.encode() == wire  # type: ignore[attr-defined]
    assert type(value).decode(wire) == value  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        (Mid, b""),
        (Mid, b"\xff"),
        (AbsSendTime, b"\x00\x01"),
        (TransportSequenceNumber, b"\x01"),
        (AudioLevel, b""),
        (VideoOrientation, b""),
        (PlayoutDelay, b"\x00"),
        (AbsCaptureTime, bytes(9)),
    ],
)
def test_typed_extension_values_reject_malformed(kind: Any, data: bytes) -> None:
    with pytest.raises(ParseError):
        kind.decode(data)


def test_abs_send_time_seconds() -> None:
    assert AbsSendTime.from_seconds(1.5).value == 0x60000
    assert AbsSendTime.from_seconds(64.25).seconds == 0.25  # wraps every 64 s
    assert Mid.decode(b"1\x00\x00") == Mid("1")  # NUL padding is not part of the MID


def test_extension_map() -> None:
    extmap = ExtensionMap({1: Mid.URI, 5: AudioLevel.URI, 9: "urn:example:unknown"})
    assert extmap.id_of(AudioLevel) == 5 and extmap.id_of(Rid) is None
    ext = (*extmap.encode([Mid("v"), AudioLevel(False, 40)]), (9, b"?"))
    assert extmap.decode(ext) == {1: Mid("v"), 5: AudioLevel(False, 40), 9: b"?"}
    assert extmap.get(ext, Rid) is None and extmap.get(((1, b"v"),), AudioLevel) is None
    with pytest.raises(ValueError, match="no negotiated"):
        extmap.encode([Rid("x")])
    with pytest.raises(ValueError, match="1-255"):
        ExtensionMap({0: Mid.URI})


@pytest.mark.parametrize("module", [rtcstack.rtp, rtcstack.rtp.extensions])
def test_manual_examples_run(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0
