"""RTCP packets and compounds (RFC 3550 §6, RFC 3611, RFC 4585, RFC 5104, RFC 5506, transport-cc,
REMB), checked against hand-written wire images and against aiortc's independent codec."""

from __future__ import annotations

import pytest

from rtcstack import ParseError
from rtcstack.rtp.rtcp import (
    App,
    Bye,
    Dlrr,
    DlrrItem,
    Feedback,
    Fir,
    FirItem,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    Rrtr,
    RtcpPacket,
    Sdes,
    SdesChunk,
    SenderReport,
    Sli,
    SliItem,
    TmmbItem,
    Tmmbn,
    Tmmbr,
    TransportCc,
    UnknownRtcp,
    UnknownXrBlock,
    Xr,
    is_rtcp,
    parse_rtcp,
    serialize_rtcp,
)

aiortc_rtp = pytest.importorskip("aiortc.rtp", reason="cross-check: pip install aiortc")

BLOCK = ReportBlock(0x22222222, 12, -3, 0x0001FFFF, 77, 0x12345678, 0x10000)
ALL: list[RtcpPacket] = [
    SenderReport(0x11111111, 0xE0000000_80000000, 90000, 10, 12000, (BLOCK,)),
    ReceiverReport(0x11111111, (BLOCK, BLOCK), b"ext!"),
    Sdes((SdesChunk(0x11111111, ((1, b"user@host"), (6, b"rtcstack"))), SdesChunk(2, ()))),
    Bye((1, 2), b"done"),
    Bye(),
    App(5, 1, b"TEST", b"12345678"),
    Xr(1, (Rrtr(0x0102030405060708), Dlrr((DlrrItem(7, 8, 9), DlrrItem(10, 11, 12))),
           UnknownXrBlock(42, 3, b"abcd"))),
    Nack.from_lost(1, 2, [100, 101, 116, 117, 65535, 0]),
    Tmmbr(1, (TmmbItem.from_bitrate(3, 2_500_000, 40),)),
    Tmmbn(1, (TmmbItem(3, 4, 5, 6), TmmbItem(4, 0, 1, 0))),
    TransportCc(1, 2, 65530, -2, 9, (4, None, 300, -1, *([7] * 20), None, None, 255, 256)),
    TransportCc(1, 2, 0, 0, 0, ()),
    Pli(1, 2),
    Sli(1, 2, (SliItem(1, 2, 3), SliItem(8191, 8191, 63))),
    Fir(1, (FirItem(5, 6), FirItem(7, 255))),
    Remb(1, 3_000_000 >> 4 << 4, (5, 6)),
    Feedback(205, 9, 1, 2, b"zzzz"),
    UnknownRtcp(210, 3, b"1234"),
]


@pytest.mark.parametrize("packet", ALL, ids=lambda p: type(p).__name__)
def test_each_packet_round_trips(packet: RtcpPacket) -> None:
    data = packet.serialize()
    assert is_rtcp(data)
    assert parse_rtcp(data) == [packet]
    assert parse_rtcp(data)[0].serialize() == data


def test_compound_round_trips_in_order() -> None:
    data = serialize_rtcp(ALL)
    assert parse_rtcp(data) == ALL


def test_sender_report_wire_image() -> None:
    # RFC 3550 §6.4.1 Figure: V=2 P=0 RC=1 PT=200 length=12 words.
    data = SenderReport(0x11111111, 0x0102030405060708, 0x0A0B0C0D, 3, 4, (BLOCK,)).serialize()
    assert data.hex(" ", 4) == (
        "81c8000c 11111111 01020304 05060708 0a0b0c0d 00000003 00000004 "
        "22222222 0cfffffd 0001ffff 0000004d 12345678 00010000"
    )


def test_sdes_bye_app_wire_images() -> None:
    # RFC 3550 §6.5: items, a null octet, padding to 32 bits.
    assert Sdes((SdesChunk(1, ((1, b"ab"),)),)).serialize().hex(" ", 4) == (
        "81ca0003 00000001 01026162 00000000"
    )
    # RFC 3550 §6.6: the reason is padded to 32 bits.
    assert Bye((1,), b"x").serialize().hex(" ", 4) == "81cb0002 00000001 01780000"
    assert App(2, 1, b"abcd").serialize().hex(" ", 4) == "82cc0002 00000001 61626364"


def test_feedback_wire_images() -> None:
    # RFC 4585 §6.2.1: PID 100 and BLP with bits for 101 and 116.
    nack = Nack.from_lost(1, 2, [100, 101, 116])
    assert nack.serialize().hex(" ", 4) == "81cd0003 00000001 00000002 00648001"
    assert nack.lost == [100, 101, 116]
    assert Pli(1, 2).serialize().hex(" ", 4) == "81ce0002 00000001 00000002"
    # draft-alvestrand-rmcat-remb-03 §2.2: "REMB", num SSRC, exp 6 bits, mantissa 18 bits.
    remb = Remb(1, 0x3FFFF << 2, (9,)).serialize()
    assert remb.hex(" ", 4) == "8fce0005 00000001 00000000 52454d42 010bffff 00000009"
    # RFC 5104 §4.3.1.1: SSRC, seq nr, 24 reserved bits.
    assert Fir(1, (FirItem(5, 6),)).serialize().hex(" ", 4) == (
        "84ce0004 00000001 00000000 00000005 06000000"
    )


def test_transport_cc_chunks_and_deltas() -> None:
    # 20 received with small deltas: one run-length chunk "0 01 0000000010100" (§3.1.3).
    tcc = TransportCc(1, 2, 10, 1, 2, (3,) * 20)
    fci = tcc.serialize()[12:]
    assert fci[:8].hex() == "000a001400000102"
    assert fci[8:10] == bytes.fromhex("2014")
    assert fci[10:30] == bytes([3] * 20) and len(fci) % 4 == 0
    # Mixed small/none: one-bit vector chunk (§3.1.4); a large delta forces two-bit vectors.
    mixed = TransportCc(1, 2, 0, 0, 0, (1, None, 2)).serialize()[12:]
    assert mixed[8:10] == bytes.fromhex("a800")  # 1 0 | 1 0 1 0 0...: symbols 1, 0, 1
    assert mixed[10:12] == b"\x01\x02"
    large = TransportCc(1, 2, 0, 0, 0, (-4,)).serialize()[12:]
    assert large[8:12] == bytes.fromhex("e000 fffc")  # 1 1 | 10 00...: a large delta of -4
    assert parse_rtcp(TransportCc(1, 2, 0, 0, 0, (-4,)).serialize()) == [
        TransportCc(1, 2, 0, 0, 0, (-4,))
    ]
    with pytest.raises(ValueError, match="new feedback"):
        TransportCc(1, 2, 0, 0, 0, (40000,)).serialize()


def test_transport_cc_parses_the_draft_examples() -> None:
    # §3.1.4 Example 1 (one-bit vector): 1x not received, 5x received, 3x not, 3x received,
    # 2x not.  Our encoding of that run: 8 received packets need 8 small deltas.
    fci = bytes.fromhex("0000 000e 000000 00") + bytes.fromhex("9f1c") + bytes(range(8))
    fci += bytes(-len(fci) & 3)
    data = bytes.fromhex("8fcd") + ((len(fci) + 8) // 4).to_bytes(2, "big") + bytes(8) + fci
    (tcc,) = parse_rtcp(data)
    assert isinstance(tcc, TransportCc)
    received = [d is not None for d in tcc.deltas]
    assert received == [False] + [True] * 5 + [False] * 3 + [True] * 3 + [False] * 2
    assert [d for d in tcc.deltas if d is not None] == list(range(8))


def test_padding_is_accepted_and_dropped() -> None:
    body = Pli(1, 2).serialize()
    padded = bytes([body[0] | 0x20, body[1], 0, 3]) + body[4:] + b"\x00\x00\x00\x04"
    assert parse_rtcp(padded + Bye((1,)).serialize()) == [Pli(1, 2), Bye((1,))]


def test_reduced_size_single_feedback_packet_is_accepted() -> None:
    # RFC 5506 §3.4.2: a reduced-size RTCP packet need not start with SR/RR.
    assert parse_rtcp(Nack(1, 2, ((5, 0),)).serialize()) == [Nack(1, 2, ((5, 0),))]


@pytest.mark.parametrize(
    ("data", "offset", "reason"),
    [
        (b"\x80\xc8", 0, "shorter than a header"),
        (bytes.fromhex("40c90001 00000001"), 0, "version 1"),
        (bytes.fromhex("80c90002 00000001"), 0, "runs past"),
        (bytes.fromhex("81c90001 00000001"), 8, "report blocks"),
        (bytes.fromhex("80c80001 00000001"), 0, "sender info"),
        (bytes.fromhex("a0c90001 00000000"), 7, "padding"),
        (bytes.fromhex("81ca0001 00000001"), 8, "null octet"),
        (bytes.fromhex("81ca0002 00000001 0105aaaa"), 8, "runs past"),
        (bytes.fromhex("82cb0001 00000001"), 0, "SSRCs"),
        (bytes.fromhex("81cb0002 00000001 05000000"), 8, "reason"),
        (bytes.fromhex("80cc0001 00000001"), 0, "name"),
        (bytes.fromhex("81cd0001 00000001"), 4, "SSRCs"),
        (bytes.fromhex("83cd0003 00000001 00000002 00000001"), 12, "multiple of 8"),
        (bytes.fromhex("8fcd0003 00000001 00000002 00000001"), 12, "shorter than 8"),
        (bytes.fromhex("8fcd0005 00000001 00000002 00000005 00000000 2005dead"), 24,
         "deltas run past"),
        (bytes.fromhex("8fcd0004 00000001 00000002 00000005 00000000"), 20, "chunks"),
        (bytes.fromhex("8fcd0005 00000001 00000002 00000001 00000000 60010000"), 22,
         "reserved"),
        (bytes.fromhex("8fce0004 00000001 00000000 52454d42 01000000"), 16, "SSRCs run past"),
        (bytes.fromhex("80cf0002 00000001 04000003"), 8, "runs past"),
        (bytes.fromhex("80cf0003 00000001 04000001 00000000"), 8, "bad length"),
        (bytes.fromhex("80cf0001 00000001 0400"), 8, "trailing"),
    ],
)
def test_malformed_rtcp_raises_parse_error_with_offset(
    data: bytes, offset: int, reason: str
) -> None:
    with pytest.raises(ParseError, match=reason) as info:
        parse_rtcp(data)
    assert info.value.offset == offset


def test_serialize_rejects_out_of_range_values() -> None:
    with pytest.raises(ValueError, match="count"):
        ReceiverReport(1, (BLOCK,) * 32).serialize()
    with pytest.raises(ValueError, match="24-bit"):
        ReportBlock(1, cumulative_lost=1 << 23).serialize()
    with pytest.raises(ValueError, match="4 bytes"):
        App(0, 1, b"abc").serialize()
    with pytest.raises(ValueError, match="whole number"):
        UnknownRtcp(210, 0, b"abc").serialize()


def test_bitrate_mantissa_encodings() -> None:
    item = TmmbItem.from_bitrate(1, 1_000_001)
    assert item.bitrate <= 1_000_001 and item.mantissa < 1 << 17
    assert item.bitrate > 1_000_001 - (1 << item.exponent)
    (remb,) = parse_rtcp(Remb(1, 1_000_001).serialize())
    assert isinstance(remb, Remb) and 1_000_001 - 8 < remb.bitrate <= 1_000_001


def test_nack_from_lost_handles_wraparound_and_duplicates() -> None:
    nack = Nack.from_lost(0, 0, [65534, 65535, 0, 0, 15, 200])
    assert nack.items == ((65534, 0b11), (15, 0), (200, 0))
    assert nack.lost == [65534, 65535, 0, 15, 200]


# --- cross-checks with aiortc's codec (written independently) --------------------------------


def test_aiortc_parses_our_sr_rr_sdes_bye_nack_pli_remb() -> None:
    compound = serialize_rtcp([
        SenderReport(0x11111111, 0x0102030405060708, 90000, 10, 12000, (BLOCK,)),
        ReceiverReport(5, (BLOCK,)),
        Sdes((SdesChunk(0x11111111, ((1, b"cname"),)),)),
        Nack.from_lost(1, 2, [100, 101, 116]),
        Pli(1, 2),
        Remb(1, 123456 << 3, (7, 8)),
        Bye((0x11111111,)),
    ])
    sr, rr, sdes, nack, pli, remb, bye = aiortc_rtp.RtcpPacket.parse(compound)
    assert sr.ssrc == 0x11111111 and sr.sender_info.ntp_timestamp == 0x0102030405060708
    assert sr.sender_info.rtp_timestamp == 90000 and sr.sender_info.octet_count == 12000
    block = sr.reports[0]
    assert (block.ssrc, block.fraction_lost, block.packets_lost, block.jitter) == (
        0x22222222, 12, -3, 77)
    assert (block.highest_sequence, block.lsr, block.dlsr) == (0x1FFFF, 0x12345678, 0x10000)
    assert rr.ssrc == 5 and len(rr.reports) == 1
    assert sdes.chunks[0].items == [(1, b"cname")]
    assert nack.fmt == 1 and sorted(nack.lost) == [100, 101, 116]
    assert pli.fmt == 1 and pli.media_ssrc == 2
    assert aiortc_rtp.unpack_remb_fci(remb.fci) == (123456 << 3, [7, 8])
    assert bye.sources == [0x11111111]


def test_we_parse_aiortc_packets() -> None:
    sr = aiortc_rtp.RtcpSrPacket(
        ssrc=9,
        sender_info=aiortc_rtp.RtcpSenderInfo(
            ntp_timestamp=1 << 40, rtp_timestamp=5, packet_count=6, octet_count=7),
        reports=[aiortc_rtp.RtcpReceiverInfo(
            ssrc=3, fraction_lost=4, packets_lost=-5, highest_sequence=6, jitter=7, lsr=8,
            dlsr=9)],
    )
    nack = aiortc_rtp.RtcpRtpfbPacket(fmt=1, ssrc=1, media_ssrc=2)
    nack.lost = [10, 12, 40]
    remb = aiortc_rtp.RtcpPsfbPacket(fmt=15, ssrc=1, media_ssrc=0,
                                     fci=aiortc_rtp.pack_remb_fci(2_000_000, [4]))
    ours = parse_rtcp(bytes(sr) + bytes(nack) + bytes(remb))
    assert ours[0] == SenderReport(9, 1 << 40, 5, 6, 7, (ReportBlock(3, 4, -5, 6, 7, 8, 9),))
    assert isinstance(ours[1], Nack) and ours[1].lost == [10, 12, 40]
    assert isinstance(ours[2], Remb) and ours[2].ssrcs == (4,)
    assert 2_000_000 - 8 < ours[2].bitrate <= 2_000_000
