"""STUN over TCP/TLS stream framing (RFC 8489 §6.2.2) with TURN ChannelData padded to 4 bytes
(RFC 8656 §12.5: https://www.rfc-editor.org/rfc/rfc8656#section-12.5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcstack.common import ParseError
from rtcstack.stun import Message, MessageClass, Method, Software, XorMappedAddress
from rtcstack.stun.channeldata import ChannelData
from rtcstack.stun.framing import Frame, StreamDecoder, frame_length


def stun(i: int, text: str = "") -> Message:
    attrs = [XorMappedAddress(("192.0.2.1", 1000 + i))] + ([Software(text)] if text else [])
    return Message(Method.BINDING, MessageClass.SUCCESS, i.to_bytes(12, "big"), tuple(attrs))


frames_strategy = st.lists(
    st.one_of(
        st.builds(stun, st.integers(0, 1000), st.text(max_size=20)),
        st.builds(ChannelData, st.integers(0x4000, 0x4FFF), st.binary(max_size=70)),
    ),
    max_size=8,
)


def wire_of(frames: list[Frame]) -> bytes:
    return b"".join(
        f.serialize(pad=True) if isinstance(f, ChannelData) else f.serialize() for f in frames
    )


@given(frames_strategy, st.lists(st.integers(min_value=1, max_value=50), max_size=60))
def test_any_fragmentation_gives_the_same_frames(frames: list[Frame], cuts: list[int]) -> None:
    wire = wire_of(frames)
    decoder = StreamDecoder()
    out: list[Frame] = []
    pos = 0
    for size in cuts:
        out += decoder.feed(wire[pos : pos + size])
        pos += size
    out += decoder.feed(wire[pos:])
    assert out == frames
    assert decoder.buffered == 0 and decoder.malformed == 0


def test_coalesced_and_byte_by_byte() -> None:
    frames: list[Frame] = [stun(1), ChannelData(0x4000, b"x"), stun(2, "abc")]
    wire = wire_of(frames)
    assert StreamDecoder().feed(wire) == frames
    decoder = StreamDecoder()
    out: list[Frame] = []
    for b in wire:
        out += decoder.feed(bytes([b]))
    assert out == frames
    raw = StreamDecoder().feed_raw(wire)
    assert [len(r) for r in raw] == [32, 8, 40]


def test_parsed_messages_keep_raw_bytes_for_integrity() -> None:
    key = b"k"
    wire = stun(1).serialize(integrity_key=key, fingerprint=True)
    (message,) = StreamDecoder().feed(wire)
    assert isinstance(message, Message)
    assert message.check_integrity(key) and message.check_fingerprint()


@pytest.mark.parametrize("first", [0x80, 0xC0, 0xFF])
def test_unsynchronisable_stream_raises_and_stays_broken(first: int) -> None:
    decoder = StreamDecoder()
    good = stun(1).serialize()
    with pytest.raises(ParseError, match="cannot be resynchronised") as info:
        decoder.feed(good + bytes([first, 0, 0, 0]))
    assert info.value.offset == len(good)
    assert decoder.broken
    with pytest.raises(ParseError):
        decoder.feed(good)


def test_malformed_but_delimited_frame_is_skipped() -> None:
    bad = bytearray(stun(1).serialize())
    bad[4] ^= 0xFF  # wrong magic cookie: delimited, but not STUN
    decoder = StreamDecoder()
    frames = decoder.feed(bytes(bad) + stun(2).serialize())
    assert frames == [stun(2)]
    assert decoder.malformed == 1 and decoder.last_error is not None


def test_buffer_limit() -> None:
    decoder = StreamDecoder(max_buffer=100)
    decoder.feed(b"\x00\x01\x01\x00")  # a STUN header announcing 256 bytes
    with pytest.raises(ParseError, match="buffered"):
        decoder.feed(b"\x00" * 200)


def test_frame_length() -> None:
    assert frame_length(b"\x00\x01\x00\x08") == 28
    assert frame_length(b"\x40\x00\x00\x05") == 12
    assert frame_length(b"\x40\x00\x00\x04") == 8
    assert frame_length(b"\x80\x00\x00\x00") is None
