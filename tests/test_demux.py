"""RFC 7983 §7 / RFC 9443 §3 first-byte demultiplexing (``rtcstack.demux.classify``).

RFC 9443 §3 (the updated RFC 5764 §5.1.2 text)::

    [0..3] -+--> forward to STUN          [64..79]  -+--> forward to TURN Channel
    [4..15] -+--> DROP                    [80..127] -+--> forward to QUIC
    [16..19] -+--> forward to ZRTP        [128..191] -+--> forward to RTP/RTCP
    [20..63] -+--> forward to DTLS        [192..255] -+--> forward to QUIC

"If the value does not match any known range, then the packet MUST be dropped" (RFC 7983 §7).
RTCP is told from RTP by the packet type in the second byte: RFC 5761 §4 reserves RTP payload
types 64-95, i.e. RTCP packet types 192-223.
"""

from __future__ import annotations

import pytest

from rtcstack.demux import PacketKind, classify

K = PacketKind

# (first inclusive value, last inclusive value, kind) -- every range of RFC 9443 §3.
RANGES = [
    (0, 3, K.STUN),
    (4, 15, K.UNKNOWN),
    (16, 19, K.ZRTP),
    (20, 63, K.DTLS),
    (64, 79, K.CHANNEL_DATA),
    (80, 127, K.QUIC),
    (128, 191, K.RTP),  # with an RTP payload type in the second byte
    (192, 255, K.QUIC),
]


def test_ranges_cover_every_byte_once() -> None:
    covered = [b for lo, hi, _ in RANGES for b in range(lo, hi + 1)]
    assert covered == list(range(256))


@pytest.mark.parametrize(("lo", "hi", "kind"), RANGES, ids=[f"{r[0]}-{r[1]}" for r in RANGES])
def test_range_boundaries(lo: int, hi: int, kind: PacketKind) -> None:
    # The second byte 0x60 (96, a typical dynamic RTP payload type with the marker bit clear).
    for first in (lo, hi, (lo + hi) // 2):
        assert classify(bytes([first, 96]) + bytes(18)) is kind, first
    if lo > 0:
        assert classify(bytes([lo - 1, 96])) is not kind
    if hi < 255:
        assert classify(bytes([hi + 1, 96])) is not kind


def test_every_first_byte() -> None:
    expected = {b: kind for lo, hi, kind in RANGES for b in range(lo, hi + 1)}
    for b in range(256):
        assert classify(bytes([b, 0]) + bytes(10)) is expected[b], b


@pytest.mark.parametrize("first", [128, 0x80, 0x90, 0xA0, 191])
def test_rtcp_by_packet_type(first: int) -> None:
    for second in range(256):
        kind = classify(bytes([first, second]) + bytes(6))
        assert kind is (K.RTCP if 192 <= second <= 223 else K.RTP), (first, second)


@pytest.mark.parametrize(
    ("second", "kind"),
    [(191, K.RTP), (192, K.RTCP), (200, K.RTCP), (201, K.RTCP), (223, K.RTCP), (224, K.RTP)],
)
def test_rtcp_packet_type_boundaries(second: int, kind: PacketKind) -> None:
    # 200 = SR, 201 = RR (RFC 3550 §6.4); 192 (FIR, RFC 2032) and 223 bound the reserved range.
    assert classify(bytes([0x80, second, 0, 1])) is kind


def test_real_packets() -> None:
    stun = bytes.fromhex("000100002112a442") + bytes(12)  # Binding request header
    assert classify(stun) is K.STUN
    assert classify(bytes.fromhex("0101") + bytes(18)) is K.STUN  # Binding success
    assert classify(bytes.fromhex("16fefd") + bytes(10)) is K.DTLS  # handshake record, DTLS 1.2
    assert classify(bytes.fromhex("17fefd") + bytes(10)) is K.DTLS  # application data
    assert classify(bytes.fromhex("40000004deadbeef")) is K.CHANNEL_DATA  # channel 0x4000
    assert classify(bytes.fromhex("4fff0000")) is K.CHANNEL_DATA  # channel 0x4FFF
    assert classify(bytes.fromhex("80e0") + bytes(10)) is K.RTP  # PT 96 with marker
    assert classify(bytes.fromhex("81c80006") + bytes(24)) is K.RTCP  # SR, one report block


def test_empty_input_is_dropped() -> None:
    assert classify(b"") is K.UNKNOWN


def test_single_byte() -> None:
    assert classify(b"\x00") is K.STUN
    assert classify(b"\x16") is K.DTLS
    # No second byte to read a packet type from: classified as RTP (the RTP parser then rejects
    # the 1-byte packet).
    assert classify(b"\x80") is K.RTP

