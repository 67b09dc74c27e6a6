"""Hypothesis properties of the RTP and RTCP codecs (STYLE.md rule 8).

- Generated RTP packets (CSRCs, one-byte / two-byte / mixed / foreign-profile extensions,
  padding) and every RTCP packet type round-trip: ``parse(serialize(x)) == x``, and
  ``serialize(parse(b)) == b`` for bytes we produced.
- Any bytes -- random, and mutations of valid packets -- give a value or a ``ParseError``.
- Generic NACK: ``lost`` inverts ``from_lost`` on sorted distinct sequence numbers.
"""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from rtcstack import ParseError
from rtcstack.rtp import RtpPacket, rtx_unwrap, rtx_wrap
from rtcstack.rtp import rtcp as R

U8 = st.integers(0, 0xFF)
U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)
U64 = st.integers(0, 0xFFFFFFFFFFFFFFFF)

one_byte_ext = st.lists(
    st.tuples(st.integers(1, 14), st.binary(min_size=1, max_size=16)), max_size=6
).map(tuple)
two_byte_ext = st.lists(
    st.tuples(st.integers(1, 255), st.binary(max_size=40)), min_size=1, max_size=6
).map(tuple)


@st.composite
def rtp_packets(draw: st.DrawFn) -> RtpPacket:
    kind = draw(st.sampled_from(["none", "one", "two", "forced-two", "foreign"]))
    profile = None
    extensions: tuple[tuple[int, bytes], ...] = ()
    if kind == "one":
        extensions = draw(one_byte_ext)
    elif kind == "two":
        extensions = draw(two_byte_ext)
    elif kind == "forced-two":
        extensions = draw(one_byte_ext)
        profile = draw(st.integers(0x1000, 0x100F))
    elif kind == "foreign":
        profile = draw(st.integers(0, 0xFFFF).filter(lambda p: p != 0xBEDE and p >> 4 != 0x100))
        extensions = ((0, draw(st.binary(max_size=12).map(lambda b: b + bytes(-len(b) % 4)))),)
    packet = RtpPacket(
        draw(st.integers(0, 127)),
        draw(U16),
        draw(U32),
        draw(U32),
        draw(st.binary(max_size=64)),
        draw(st.booleans()),
        tuple(draw(st.lists(U32, max_size=15))),
        extensions,
        draw(st.integers(0, 255)),
        profile,
    )
    # A one-byte extension block with no elements is explicit (0xBEDE), not "auto".
    if kind == "one" and not extensions and draw(st.booleans()):
        packet.extension_profile = 0xBEDE
    return packet


@given(rtp_packets())
def test_rtp_round_trip(packet: RtpPacket) -> None:
    data = packet.serialize()
    parsed = RtpPacket.parse(data)
    assert parsed == packet
    assert parsed.serialize() == data


@given(rtp_packets(), st.integers(0, 127), U16, U32)
def test_rtx_round_trip(packet: RtpPacket, pt: int, seq: int, ssrc: int) -> None:
    packet.padding = 0
    rtx = RtpPacket.parse(rtx_wrap(packet, pt, seq, ssrc).serialize())
    assert rtx_unwrap(rtx, packet.payload_type, packet.ssrc) == packet


@given(st.binary(max_size=200))
def test_rtp_any_bytes_give_a_packet_or_parse_error(data: bytes) -> None:
    try:
        RtpPacket.parse(b"\x80" + data)
        RtpPacket.parse(bytes([0x90 | (data[0] & 0x2F) if data else 0x90]) + data[1:])
    except ParseError:
        pass


@given(rtp_packets(), st.data())
def test_rtp_mutations_give_a_packet_or_parse_error(packet: RtpPacket, data: st.DataObject) -> None:
    wire = bytearray(packet.serialize())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(wire) - 1))
        wire[i] = data.draw(U8)
    cut = data.draw(st.integers(0, len(wire)))
    with contextlib.suppress(ParseError):
        RtpPacket.parse(bytes(wire[:cut]))


report_blocks = st.builds(R.ReportBlock, U32, U8, st.integers(-0x800000, 0x7FFFFF), U32, U32,
                          U32, U32)
words = st.binary(max_size=16).map(lambda b: b + bytes(-len(b) % 4))
tmmb_items = st.builds(R.TmmbItem, U32, st.integers(0, 63), st.integers(0, (1 << 17) - 1),
                       st.integers(0, 511))
deltas = st.lists(st.one_of(st.none(), st.integers(-0x8000, 0x7FFF), st.integers(0, 255)),
                  max_size=100).map(tuple)
xr_blocks = st.one_of(
    st.builds(R.Rrtr, U64),
    st.builds(R.Dlrr, st.lists(st.builds(R.DlrrItem, U32, U32, U32), max_size=3).map(tuple)),
    st.builds(R.UnknownXrBlock, st.integers(6, 255), U8, words),
)

rtcp_packets = st.one_of(
    st.builds(R.SenderReport, U32, U64, U32, U32, U32,
              st.lists(report_blocks, max_size=3).map(tuple), words),
    st.builds(R.ReceiverReport, U32, st.lists(report_blocks, max_size=3).map(tuple), words),
    st.builds(R.Sdes, st.lists(st.builds(
        R.SdesChunk, U32,
        st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=20)), max_size=4).map(tuple),
    ), max_size=4).map(tuple)),
    st.builds(R.Bye, st.lists(U32, max_size=5).map(tuple),
              st.one_of(st.none(), st.binary(max_size=30))),
    st.builds(R.App, st.integers(0, 31), U32, st.binary(min_size=4, max_size=4), words),
    st.builds(R.Xr, U32, st.lists(xr_blocks, max_size=4).map(tuple)),
    st.builds(R.Nack, U32, U32, st.lists(st.tuples(U16, U16), max_size=5).map(tuple)),
    st.builds(R.Tmmbr, U32, st.lists(tmmb_items, max_size=3).map(tuple), U32),
    st.builds(R.Tmmbn, U32, st.lists(tmmb_items, max_size=3).map(tuple), U32),
    st.builds(R.TransportCc, U32, U32, U16, st.integers(-0x800000, 0x7FFFFF), U8, deltas),
    st.builds(R.Pli, U32, U32),
    st.builds(R.Sli, U32, U32, st.lists(st.builds(
        R.SliItem, st.integers(0, 8191), st.integers(0, 8191), st.integers(0, 63)),
        max_size=3).map(tuple)),
    st.builds(R.Fir, U32, st.lists(st.builds(R.FirItem, U32, U8), max_size=3).map(tuple), U32),
    st.builds(R.Remb, U32, st.builds(lambda m, e: m << e, st.integers(0, (1 << 18) - 1),
                                     st.integers(0, 45)),
              st.lists(U32, max_size=4).map(tuple), U32),
    st.builds(R.Feedback, st.sampled_from([205, 206]), st.sampled_from([5, 7, 9]), U32, U32,
              words),
    st.builds(R.UnknownRtcp, st.integers(192, 255).filter(lambda t: not 200 <= t <= 207),
              st.integers(0, 31), words),
)


@given(st.lists(rtcp_packets, min_size=1, max_size=5))
def test_rtcp_compound_round_trip(packets: list[R.RtcpPacket]) -> None:
    data = R.serialize_rtcp(packets)
    parsed = R.parse_rtcp(data)
    assert parsed == packets
    assert R.serialize_rtcp(parsed) == data


@given(st.binary(max_size=200))
def test_rtcp_any_bytes_give_packets_or_parse_error(data: bytes) -> None:
    for head in (b"", b"\x80", b"\x8f\xcd", b"\x81\xca", b"\x80\xcf"):
        with contextlib.suppress(ParseError):
            R.parse_rtcp(head + data)


@given(st.lists(rtcp_packets, min_size=1, max_size=3), st.data())
def test_rtcp_mutations_give_packets_or_parse_error(
    packets: list[R.RtcpPacket], data: st.DataObject
) -> None:
    wire = bytearray(R.serialize_rtcp(packets))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(wire) - 1))
        wire[i] = data.draw(U8)
    cut = data.draw(st.integers(0, len(wire)))
    with contextlib.suppress(ParseError):
        R.parse_rtcp(bytes(wire[:cut]))


@given(st.sets(U16, max_size=60))
def test_nack_lost_inverts_from_lost(lost: set[int]) -> None:
    seqs = sorted(lost)
    nack = R.Nack.from_lost(1, 2, seqs)
    assert nack.lost == seqs
    assert R.parse_rtcp(nack.serialize()) == [nack]
