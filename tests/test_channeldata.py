"""RFC 8656 §12.4-12.5 ChannelData: https://www.rfc-editor.org/rfc/rfc8656#section-12.4"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcstack.common import ParseError
from rtcstack.demux import PacketKind, classify
from rtcstack.stun.channeldata import ChannelData, frame_size, is_valid_channel

channels = st.integers(min_value=0x4000, max_value=0x4FFF)


def test_wire_format() -> None:
    frame = ChannelData(0x4001, b"hello")
    assert frame.serialize() == bytes.fromhex("4001 0005") + b"hello"
    assert frame.serialize(pad=True) == bytes.fromhex("4001 0005") + b"hello\0\0\0"
    assert bytes(frame) == frame.serialize()
    assert ChannelData(0x4FFF, b"").serialize(pad=True) == bytes.fromhex("4fff0000")
    assert ChannelData(0x4000, b"abcd").serialize(pad=True) == bytes.fromhex("40000004") + b"abcd"
    assert classify(frame.serialize()) is PacketKind.CHANNEL_DATA


@given(channels, st.binary(max_size=300), st.booleans())
def test_round_trip_with_and_without_padding(channel: int, data: bytes, pad: bool) -> None:
    frame = ChannelData(channel, data)
    wire = frame.serialize(pad=pad)
    assert len(wire) == (frame_size(len(data)) if pad else 4 + len(data))
    assert ChannelData.parse(wire) == frame


@given(st.binary(max_size=80))
def test_any_bytes_give_channeldata_or_parse_error(data: bytes) -> None:
    try:
        frame = ChannelData.parse(data)
    except ParseError as exc:
        assert exc.reason
        return
    assert is_valid_channel(frame.channel)
    assert ChannelData.parse(frame.serialize()) == frame


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"", "shorter than"),
        (b"\x40\x00\x00", "shorter than"),
        (bytes.fromhex("3fff0000"), "outside"),
        (bytes.fromhex("50000000"), "outside"),  # 0x5000-0xFFFF reserved (§12)
        (bytes.fromhex("ffff0000"), "outside"),
        (bytes.fromhex("40000005") + b"abcd", "length field says 5"),
        (bytes.fromhex("40000001") + b"ab", "after the data"),  # 1 stray byte, not padding
        (bytes.fromhex("40000001") + b"a\0\0\0\0", "after the data"),  # too much padding
        (bytes.fromhex("40000004") + b"abcd\0\0\0\0", "after the data"),
    ],
)
def test_bad_input(wire: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        ChannelData.parse(wire)


def test_padding_bytes_are_ignored_whatever_their_value() -> None:
    assert ChannelData.parse(bytes.fromhex("40000001") + b"a\xff\xff\xff").data == b"a"


def test_serialize_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        ChannelData(0x5000, b"").serialize()
    with pytest.raises(ValueError):
        ChannelData(0x4000, b"x" * 0x10000).serialize()


def test_describe_is_json_friendly() -> None:
    d = ChannelData(0x4001, b"\x01\x02").describe()
    assert json.loads(json.dumps(d)) == {
        "protocol": "TURN ChannelData",
        "channel": "0x4001",
        "channel_number": 0x4001,
        "length": 2,
        "data": "0102",
    }
