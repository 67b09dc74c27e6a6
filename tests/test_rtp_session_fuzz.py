"""rtcstack.rtp.session under arbitrary input (Hypothesis).

- Arbitrary RTP packets (sequence numbers wild or nearly in order, any timestamps, markers and
  payload bytes, on the media, RTX or another SSRC) and arbitrary calls in between never make
  a receive stream raise, and its state stays bounded (held packets, missing table, frames).
- Arbitrary RTCP packets (built, or parsed from arbitrary bytes) never make a send stream
  raise; its history stays bounded and what it returns is RTP of its own SSRCs.
- A real stream, with arbitrary losses, duplicates and bounded reordering: every frame handed
  out is byte for byte one that was sent, in order -- loss may drop frames, never corrupt them.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtcstack.common.errors import ParseError
from rtcstack.common.randomness import SeededRandom
from rtcstack.rtp import (
    Bye,
    Fir,
    FirItem,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    RtcpPacket,
    RtpPacket,
    SenderReport,
    TransportCc,
    parse_rtcp,
)
from rtcstack.rtp.session import RtpReceiveStream, RtpSendStream

SSRC, RTX_SSRC, LOCAL_SSRC = 0x11111111, 0x22222222, 0x33333333
MAX_PACKETS = 40
MAX_FRAMES = 8
SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)

# --- receive stream --------------------------------------------------------------------------

vp8_payloads = st.one_of(
    st.binary(max_size=40),
    # RFC 7741 descriptors: S bit / PID, with or without a key frame tag after them
    st.tuples(st.sampled_from([b"\x10", b"\x00", b"\x90\x80\x01", b"\x11", b"\x80"]),
              st.binary(min_size=0, max_size=20)).map(lambda t: t[0] + t[1]),
)
h264_payloads = st.one_of(
    st.binary(max_size=40),
    st.tuples(st.sampled_from([b"\x65", b"\x41", b"\x7c\x85", b"\x7c\x05", b"\x7c\x45",
                               b"\x78\x00\x02\x67\x01\x00\x02\x68\x01"]),
              st.binary(max_size=20)).map(lambda t: t[0] + t[1]),
)


@st.composite
def rtp_packets(draw: st.DrawFn, payloads: st.SearchStrategy[bytes]) -> RtpPacket:
    ssrc = draw(st.sampled_from([SSRC, SSRC, SSRC, RTX_SSRC, 0x44444444]))
    pt = draw(st.sampled_from([96, 96, 97, 100]))
    payload = draw(payloads)
    if ssrc == RTX_SSRC and draw(st.booleans()):
        payload = draw(u16).to_bytes(2, "big") + payload
    return RtpPacket(pt, 0, draw(u32), ssrc, payload, draw(st.booleans()),
                     padding=draw(st.sampled_from([0, 0, 4])))


@st.composite
def receive_programs(draw: st.DrawFn, payloads: st.SearchStrategy[bytes]) -> list[tuple]:
    """Operations: ("packet", packet, seq step or absolute, dt), ("timeout", dt), ..."""
    ops: list[tuple] = []
    for _ in range(draw(st.integers(1, 120))):
        kind = draw(st.sampled_from(["packet"] * 6 + ["timeout", "feedback", "frame",
                                                      "keyframe", "sr", "rtt", "report"]))
        dt = draw(st.one_of(st.just(0.0), st.floats(0, 0.4, allow_nan=False)))
        if kind == "packet":
            step = draw(st.one_of(st.integers(-5, 6), st.integers(-40000, 40000), u16))
            absolute = draw(st.booleans()) and draw(st.booleans())
            ops.append((kind, draw(rtp_packets(payloads)), step, absolute, dt))
        else:
            ops.append((kind, dt))
    return ops


def _run_receiver(rx: RtpReceiveStream, ops: list[tuple]) -> None:
    now = 0.0
    seq = 1000
    for op in ops:
        now += op[-1]
        kind = op[0]
        if kind == "packet":
            _, packet, step, absolute, _ = op
            seq = (step if absolute else seq + step) & 0xFFFF
            if packet.ssrc == RTX_SSRC and len(packet.payload) >= 2 and not absolute:
                packet.payload = seq.to_bytes(2, "big") + packet.payload[2:]
                packet.sequence_number = (seq * 7) & 0xFFFF
            else:
                packet.sequence_number = seq
            rx.handle_packet(packet, now=now)
        elif kind == "timeout":
            deadline = rx.poll_timeout()
            assert deadline is None or isinstance(deadline, float)
            rx.handle_timeout(now=now)
        elif kind == "feedback":
            for fb in rx.poll_feedback(now=now):
                fb.serialize()  # well-formed
        elif kind == "frame":
            rx.poll_frame()
        elif kind == "keyframe":
            rx.request_keyframe()
        elif kind == "sr":
            rx.handle_sender_report(SenderReport(SSRC, int(now * 2**32), 0, 5, 500), now=now)
        elif kind == "rtt":
            rx.update_rtt(op[-1])
        elif kind == "report":
            block = rx.report_block(now=now)
            if block is not None:
                block.serialize()
        assert rx.buffered_packets <= 2 * MAX_PACKETS
        assert rx.missing_packets <= MAX_PACKETS
        assert len(rx._ready) <= MAX_FRAMES
        assert len(rx._seen) <= 2 * MAX_PACKETS + 1
        assert len(rx._aseq_real) <= MAX_PACKETS + 1
        assert rx.stats.packets_received >= 0


def _receiver(codec: str, **kwargs: object) -> RtpReceiveStream:
    return RtpReceiveStream(
        ssrc=SSRC, clock_rate=90000, codec=codec, payload_type=96, rtx_ssrc=RTX_SSRC,
        rtx_payload_type=97, local_ssrc=LOCAL_SSRC, max_packets=MAX_PACKETS,
        max_frames=MAX_FRAMES, **kwargs,  # type: ignore[arg-type]
    )


@SLOW
@given(receive_programs(vp8_payloads), st.booleans())
def test_vp8_receive_stream_never_raises_and_stays_bounded(ops: list[tuple], nack: bool) -> None:
    _run_receiver(_receiver("VP8", nack=nack), ops)


@SLOW
@given(receive_programs(h264_payloads), st.booleans())
def test_h264_receive_stream_never_raises_and_stays_bounded(ops: list[tuple],
                                                            nack: bool) -> None:
    _run_receiver(_receiver("H264", nack=nack, pli=not nack, fir=True), ops)


@SLOW
@given(receive_programs(st.binary(max_size=30)), st.booleans())
def test_opus_receive_stream_never_raises_and_stays_bounded(ops: list[tuple],
                                                            nack: bool) -> None:
    _run_receiver(_receiver("opus", nack=nack, kind="audio"), ops)


# --- send stream -----------------------------------------------------------------------------

media_ssrcs = st.sampled_from([SSRC, SSRC, RTX_SSRC, 0])
blocks = st.builds(ReportBlock, st.sampled_from([SSRC, 5]), st.integers(0, 255),
                   st.integers(-0x800000, 0x7FFFFF), u32, u32, u32, u32)
rtcp_values: st.SearchStrategy[RtcpPacket] = st.one_of(
    st.builds(Nack, u32, media_ssrcs, st.lists(st.tuples(u16, u16), max_size=20).map(tuple)),
    st.builds(Pli, u32, media_ssrcs),
    st.builds(Fir, st.sampled_from([1, 2]),
              st.lists(st.builds(FirItem, media_ssrcs, st.integers(0, 255)),
                       max_size=3).map(tuple)),
    st.builds(ReceiverReport, u32, st.lists(blocks, max_size=3).map(tuple)),
    st.builds(SenderReport, u32, st.integers(0, 2**64 - 1), u32, u32, u32,
              st.lists(blocks, max_size=3).map(tuple)),
    st.builds(Remb, u32, st.integers(0, 2**40), st.lists(media_ssrcs, max_size=3).map(tuple)),
    st.builds(TransportCc, u32, media_ssrcs, u16, st.integers(-100, 100), st.integers(0, 255)),
    st.builds(Bye, st.lists(media_ssrcs, max_size=2).map(tuple)),
)


def _parsed(data: bytes) -> list[RtcpPacket]:
    try:
        return parse_rtcp(data)
    except ParseError:
        return []


rtcp_inputs = st.one_of(
    rtcp_values.map(lambda p: [p]),
    st.binary(min_size=4, max_size=80).map(lambda b: _parsed(b"\x81\xcd" + b[2:])),
    st.binary(min_size=4, max_size=80).map(_parsed),
)


@SLOW
@given(st.lists(st.tuples(st.sampled_from(["frame", "rtcp", "sr", "key"]), rtcp_inputs,
                          st.floats(0, 0.2, allow_nan=False)), max_size=60),
       st.booleans())
def test_send_stream_never_raises_on_rtcp(ops: list[tuple[str, list[RtcpPacket], float]],
                                          rtx: bool) -> None:
    tx = RtpSendStream(ssrc=SSRC, payload_type=96, clock_rate=90000, codec="VP8",
                       rtx_ssrc=RTX_SSRC if rtx else None, rtx_payload_type=97 if rtx else None,
                       history_size=16, initial_sequence=0xFFF0, random_bytes=SeededRandom(3))
    rng = random.Random(1)
    now = 0.0
    ts = 0
    for kind, packets, dt in ops:
        now += dt
        if kind == "frame":
            ts += 3000
            tx.send_frame(b"\x11\x02\x00" + rng.randbytes(rng.randrange(1, 3000)), ts, now=now)
        elif kind == "sr":
            report = tx.sender_report(now=now, ntp_time=3.9e9 + now)
            if report is not None:
                report.serialize()
            # and a report block answering it, with a random delay since
            if report is not None:
                lsr = (report.ntp_timestamp >> 16) & 0xFFFFFFFF
                tx.handle_rtcp(ReceiverReport(2, (ReportBlock(SSRC, lsr=lsr, dlsr=100),)),
                               now=now + dt)
        elif kind == "key":
            tx.poll_keyframe_request()
        else:
            for packet in packets:
                for wire in tx.handle_rtcp(packet, now=now):
                    assert RtpPacket.parse(wire).ssrc in (SSRC, RTX_SSRC)
        assert tx.history_length <= 16
        assert tx.stats.rtt is None or tx.stats.rtt >= 0


# --- a real stream through arbitrary loss and bounded reordering ----------------------------


@SLOW
@given(st.data(), st.sampled_from(["VP8", "H264", "opus"]), st.booleans())
def test_frames_handed_out_are_never_corrupt(data: st.DataObject, codec: str,
                                             nack: bool) -> None:
    audio = codec == "opus"
    clock = 48000 if audio else 90000
    tx = RtpSendStream(ssrc=SSRC, payload_type=96, clock_rate=clock, codec=codec,
                       max_payload_size=300, random_bytes=SeededRandom(data.draw(u16)))
    rx = RtpReceiveStream(ssrc=SSRC, clock_rate=clock, codec=codec, payload_type=96,
                          nack=nack, kind="audio" if audio else "video", max_packets=64)
    rng = random.Random(data.draw(u16))
    sent: dict[int, bytes] = {}
    wires: list[bytes] = []
    for i in range(data.draw(st.integers(1, 25))):
        key = i == 0 or rng.random() < 0.2
        if codec == "VP8":
            frame = bytes([0x10 if key else 0x11, 0x02, 0x00]) + rng.randbytes(
                rng.randrange(1, 900))
        elif codec == "H264":
            body = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 900)))
            frame = b"\x00\x00\x00\x01" + (b"\x65" if key else b"\x41") + body
        else:
            frame = b"\xfc" + rng.randbytes(rng.randrange(0, 100))
        ts = i * 3000
        sent[ts] = frame
        wires.extend(tx.send_frame(frame, ts, keyframe=key, now=i * 0.033))
    # Each packet: lost, once, or twice; delivered at its index plus a bounded displacement.
    schedule: list[tuple[float, int, bytes]] = []
    for index, wire in enumerate(wires):
        copies = data.draw(st.sampled_from([0, 1, 1, 1, 2]))
        for c in range(copies):
            shift = data.draw(st.integers(0, 6))
            schedule.append((index + shift + 0.5 * c, len(schedule), wire))
    schedule.sort()
    offset: int | None = None
    got: list[int] = []
    now = 0.0
    for _, _, wire in schedule:
        now += 0.002
        rx.handle_packet(RtpPacket.parse(wire), now=now)
        rx.poll_feedback(now=now)
    rx.handle_timeout(now=now + 5)
    while (frame := rx.poll_frame()) is not None:
        if offset is None:
            first_ts = RtpPacket.parse(wires[0]).timestamp
            offset = first_ts
        ts = (frame.timestamp - offset) & 0xFFFFFFFF
        assert sent.get(ts) == frame.data
        got.append(ts)
    assert got == sorted(got)
    # Nothing waits in the sequence buffer; the assembler may hold the start of a last frame
    # whose tail was lost (no later packet shows the loss).
    assert not rx._buffer
