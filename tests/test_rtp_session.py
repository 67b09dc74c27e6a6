"""rtcstack.rtp.session: a send stream and a receive stream through an emulated network.

The link is seeded (loss, duplication, reordering by random extra delay) and time is virtual:
the test advances ``now`` in 1 ms steps and drives both streams the way a peer connection
would (packets one way, RTCP feedback and reports the other way, keyframe requests to the
"encoder").
"""

from __future__ import annotations

import doctest
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

import rtcstack.rtp.session
from rtcstack.common.randomness import SeededRandom
from rtcstack.rtp import (
    AbsSendTime,
    ExtensionMap,
    Fir,
    FirItem,
    Mid,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    RepairedRid,
    ReportBlock,
    Rid,
    RtpPacket,
    TransportSequenceNumber,
    parse_rtcp,
    serialize_rtcp,
)
from rtcstack.rtp.formats import Frame
from rtcstack.rtp.session import (
    RtpReceiveStream,
    RtpSendStream,
    create_depacketizer,
    create_packetizer,
)
from rtcstack.rtp.stats import ntp_compact

SSRC, RTX_SSRC, LOCAL_SSRC = 0x11111111, 0x22222222, 0x33333333

# --- frames ----------------------------------------------------------------------------------


def vp8_frame(rng: random.Random, key: bool, size: int) -> bytes:
    """A VP8 frame: RFC 6386 §9.1 frame tag (P bit 0 on key frames, show_frame, a small first
    partition), the key frame start code and size, then noise."""
    first_partition = 20
    tag = (0 if key else 1) | 0x10 | (first_partition << 5)
    head = tag.to_bytes(3, "little")
    if key:
        head += b"\x9d\x01\x2a" + (320).to_bytes(2, "little") + (240).to_bytes(2, "little")
    return head + rng.randbytes(max(1, size - len(head)))


def _nal_body(rng: random.Random, size: int) -> bytes:
    # No zero bytes: no start code emulation inside a NAL unit.
    return bytes(rng.randrange(1, 256) for _ in range(size))


def h264_frame(rng: random.Random, key: bool, size: int) -> bytes:
    """An Annex B access unit: SPS, PPS and an IDR slice, or one non-IDR slice."""
    start = b"\x00\x00\x00\x01"
    if key:
        return (start + b"\x67" + _nal_body(rng, 12) + start + b"\x68" + _nal_body(rng, 4)
                + start + b"\x65" + _nal_body(rng, size))
    return start + b"\x41" + _nal_body(rng, size)


def opus_frame(rng: random.Random, key: bool, size: int) -> bytes:
    return b"\xfc" + rng.randbytes(size)


# --- the network -----------------------------------------------------------------------------


@dataclass
class Link:
    """One direction of an emulated network: delay, random extra delay (jitter, which also
    reorders), loss, duplication; the first ``spare`` packets are neither lost nor delayed
    more than ``delay`` (so RFC 3550 A.1 probation ends on them); ``drop`` is a
    predicate on the packet index for deterministic losses."""

    rng: random.Random
    delay: float = 0.02
    jitter: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0
    spare: int = 0
    drop: Callable[[int], bool] | None = None
    queue: list[tuple[float, int, bytes]] = field(default_factory=list)
    count: int = 0
    sent: int = 0
    lost: int = 0
    lost_ssrcs: list[int] = field(default_factory=list)

    def lose(self, data: bytes) -> None:
        self.lost += 1
        self.lost_ssrcs.append(int.from_bytes(data[8:12], "big"))

    def lost_of(self, ssrc: int) -> int:
        return self.lost_ssrcs.count(ssrc)

    def send(self, data: bytes, now: float) -> None:
        index = self.sent
        self.sent += 1
        if self.drop is not None and self.drop(index):
            self.lose(data)
            return
        if index >= self.spare and self.rng.random() < self.loss:
            self.lose(data)
            return
        copies = 2 if self.rng.random() < self.duplicate else 1
        for _ in range(copies):
            extra = self.rng.random() * self.jitter
            at = now + self.delay + (extra if index >= self.spare else 0.0)
            self.count += 1
            heapq.heappush(self.queue, (at, self.count, data))

    def deliver(self, now: float) -> list[bytes]:
        out = []
        while self.queue and self.queue[0][0] <= now + 1e-9:
            out.append(heapq.heappop(self.queue)[2])
        return out


@dataclass
class Call:
    """A sender and a receiver wired through two links, driven on a virtual clock."""

    tx: RtpSendStream
    rx: RtpReceiveStream
    forward: Link
    backward: Link
    make_frame: Callable[[random.Random, bool, int], bytes]
    fps: float = 30.0
    frame_size: int = 3000
    keyframe_every: int = 0  # 0: only the first frame and on request
    ntp_base: float = 3_900_000_000.0
    now: float = 0.0
    sent: list[tuple[int, bytes, bool]] = field(default_factory=list)  # (ts, data, key)
    received: list[Frame] = field(default_factory=list)
    feedback: list[object] = field(default_factory=list)
    feed_rtt: bool = True
    first_key: bool = True
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    _next_frame: float = 0.0
    _next_report: float = 0.0

    def step(self, sending: bool) -> None:
        now = self.now
        tx, rx = self.tx, self.rx
        if sending and now >= self._next_frame - 1e-9:
            index = len(self.sent)
            key = (index == 0 and self.first_key) or tx.poll_keyframe_request() or (
                self.keyframe_every and index % self.keyframe_every == 0)
            data = self.make_frame(self.rng, bool(key), self.frame_size)
            ts = round(index * tx.clock_rate / self.fps)
            self.sent.append((ts, data, bool(key)))
            for wire in tx.send_frame(data, ts, keyframe=bool(key), now=now):
                self.forward.send(wire, now)
            self._next_frame += 1 / self.fps
        for wire in self.forward.deliver(now):
            rx.handle_packet(RtpPacket.parse(wire), now=now)
        timeout = rx.poll_timeout()
        if timeout is not None and timeout <= now:
            rx.handle_timeout(now=now)
        packets = rx.poll_feedback(now=now)
        if now >= self._next_report:
            # RTCP reports every 100 ms (a compound SR from the sender, RR from the receiver).
            report = tx.sender_report(now=now, ntp_time=self.ntp_base + now)
            if report is not None:
                self.forward_rtcp.append((now + self.forward.delay, report))
            block = rx.report_block(now=now)
            if block is not None:
                packets.append(ReceiverReport(LOCAL_SSRC, (block,)))
            self._next_report += 0.1
        for packet in packets:
            self.feedback.append(packet)
            self.backward.send(serialize_rtcp([packet]), now)
        for data in self.backward.deliver(now):
            for packet in parse_rtcp(data):
                for wire in tx.handle_rtcp(packet, now=now):
                    self.forward.send(wire, now)
        while self.forward_rtcp and self.forward_rtcp[0][0] <= now + 1e-9:
            _, report = self.forward_rtcp.pop(0)
            rx.handle_sender_report(report, now=now)
        if self.feed_rtt and tx.stats.rtt is not None:
            rx.update_rtt(tx.stats.rtt)
        while (frame := rx.poll_frame()) is not None:
            self.received.append(frame)

    forward_rtcp: list[tuple[float, object]] = field(default_factory=list)

    def run(self, seconds: float, *, drain: float = 1.0) -> None:
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.step(True)
            self.now = round(self.now + 0.001, 6)
        end = self.now + drain
        while self.now < end - 1e-9:
            self.step(False)
            self.now = round(self.now + 0.001, 6)


def video_pair(codec: str, *, rtx: bool = True, nack: bool = True, seed: int = 1,
               **link: object) -> tuple[RtpSendStream, RtpReceiveStream]:
    clock = 48000 if codec == "opus" else 90000
    kind = "audio" if codec == "opus" else "video"
    tx = RtpSendStream(
        ssrc=SSRC, payload_type=96, clock_rate=clock, codec=codec,
        rtx_ssrc=RTX_SSRC if rtx else None, rtx_payload_type=97 if rtx else None,
        random_bytes=SeededRandom(seed),
    )
    rx = RtpReceiveStream(
        ssrc=SSRC, clock_rate=clock, codec=codec, payload_type=96,
        rtx_ssrc=RTX_SSRC if rtx else None, rtx_payload_type=97 if rtx else None,
        nack=nack, kind=kind, local_ssrc=LOCAL_SSRC,
    )
    return tx, rx


def make_call(codec: str, *, rtx: bool = True, nack: bool = True, seed: int = 1,
              forward: Link | None = None, backward: Link | None = None,
              make_frame: Callable[[random.Random, bool, int], bytes] | None = None,
              **kwargs: object) -> Call:
    tx, rx = video_pair(codec, rtx=rtx, nack=nack, seed=seed)
    frames = {"vp8": vp8_frame, "h264": h264_frame, "opus": opus_frame}
    return Call(
        tx, rx,
        forward if forward is not None else Link(random.Random(seed)),
        backward if backward is not None else Link(random.Random(seed + 100)),
        make_frame if make_frame is not None else frames[codec],
        **kwargs,  # type: ignore[arg-type]
    )


def frames_equal(call: Call) -> None:
    """Every frame sent arrived, in order, byte for byte, with its key frame flag."""
    offset = (call.received[0].timestamp - call.sent[0][0]) & 0xFFFFFFFF
    video = call.rx.kind == "video"
    got = [((f.timestamp - offset) & 0xFFFFFFFF, f.data, f.keyframe if video else True)
           for f in call.received]
    assert len(got) == len(call.sent)
    assert got == [(ts, data, key if video else True) for ts, data, key in call.sent]


# --- the whole path --------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["vp8", "h264"])
@pytest.mark.parametrize("rtx", [True, False], ids=["rtx", "no-rtx"])
def test_nack_recovers_every_frame_at_5_percent_loss(codec: str, rtx: bool) -> None:
    call = make_call(
        codec, rtx=rtx, seed=3,
        forward=Link(random.Random(11), delay=0.025, jitter=0.01, loss=0.05, duplicate=0.01,
                     spare=8),
        backward=Link(random.Random(12), delay=0.025, loss=0.05),
        frame_size=4000,
    )
    call.run(4.0)
    tx, rx = call.tx, call.rx
    assert call.forward.lost > 20  # the link did lose packets...
    frames_equal(call)  # ...and every frame arrived anyway
    assert rx.stats.frames_dropped == 0
    assert rx.stats.frames_received == len(call.sent)
    assert rx.stats.keyframes_received == 1
    assert tx.stats.nack_count > 0 and rx.stats.nack_count > 0
    assert tx.stats.retransmitted_packets_sent >= call.forward.lost - tx.stats.nack_count
    assert rx.stats.pli_count == 0 and tx.stats.pli_count == 0
    if rtx:
        assert rx.stats.retransmitted_packets_received > 0
    else:
        assert rx.stats.retransmitted_packets_received == 0
    assert rx.buffered_packets == 0 and rx.missing_packets == 0


def test_without_nack_a_lost_packet_drops_its_frame_and_a_pli_brings_a_keyframe() -> None:
    # Drop packet 40 (in the middle of the stream); no NACK, so its frame cannot be repaired.
    call = make_call("vp8", rtx=False, nack=False,
                     forward=Link(random.Random(1), delay=0.02, drop=lambda i: i == 40))
    call.run(2.0)
    tx, rx = call.tx, call.rx
    assert rx.stats.frames_dropped >= 1
    plis = [p for p in call.feedback if isinstance(p, Pli)]
    assert len(plis) == 1 and plis[0] == Pli(LOCAL_SSRC, SSRC)
    assert rx.stats.pli_count == 1 and tx.stats.pli_count == 1
    assert not any(isinstance(p, Nack) for p in call.feedback)
    keys = [i for i, (_, _, key) in enumerate(call.sent) if key]
    assert len(keys) == 2  # the first frame and the answer to the PLI
    # Frames after the lost one up to the new keyframe are not decodable: dropped, not handed out.
    sent_by_ts = {ts: data for ts, data, _ in call.sent}
    offset = (call.received[0].timestamp - call.sent[0][0]) & 0xFFFFFFFF
    got_ts = [(f.timestamp - offset) & 0xFFFFFFFF for f in call.received]
    for frame, ts in zip(call.received, got_ts, strict=True):
        assert sent_by_ts[ts] == frame.data
    assert len(call.received) + rx.stats.frames_dropped == len(call.sent)
    resumed = got_ts.index(call.sent[keys[1]][0])
    assert call.received[resumed].keyframe
    assert got_ts[resumed:] == [ts for ts, _, _ in call.sent[keys[1]:]]


def test_stream_starting_without_a_keyframe_asks_for_one() -> None:
    call = make_call("vp8", rtx=False, first_key=False)
    call.run(0.5)
    rx, tx = call.rx, call.tx
    assert rx.stats.pli_count == 1 and tx.stats.pli_count == 1
    assert call.received and call.received[0].keyframe
    assert rx.stats.frames_dropped == len(call.sent) - len(call.received) > 0
    assert not call.sent[0][2] and tx.stats.keyframes_sent == 1


def test_no_rtx_retransmission_is_the_original_packet_again() -> None:
    tx, _ = video_pair("vp8", rtx=False)
    wires = tx.send_frame(vp8_frame(random.Random(1), True, 3000), 0, now=0.0)
    first = RtpPacket.parse(wires[0])
    again = tx.handle_rtcp(Nack.from_lost(LOCAL_SSRC, SSRC, [first.sequence_number]), now=0.1)
    assert [RtpPacket.parse(w) for w in again] == [first]


def test_rtx_wraps_with_its_own_sequence_numbers_and_repaired_rid() -> None:
    extmap = ExtensionMap({1: Mid.URI, 2: Rid.URI, 3: RepairedRid.URI, 4: AbsSendTime.URI,
                           5: TransportSequenceNumber.URI})
    counter = iter(range(1000, 2000))
    tx = RtpSendStream(ssrc=SSRC, payload_type=96, clock_rate=90000, codec="VP8",
                       rtx_ssrc=RTX_SSRC, rtx_payload_type=97, extensions=extmap, mid="v0",
                       rid="hi", random_bytes=SeededRandom(5),
                       transport_sequence=lambda: next(counter))
    wires = tx.send_frame(vp8_frame(random.Random(1), True, 3000), 1234, now=10.0)
    packets = [RtpPacket.parse(w) for w in wires]
    for i, p in enumerate(packets):
        assert extmap.get(p.extensions, Mid) == Mid("v0")
        assert extmap.get(p.extensions, Rid) == Rid("hi")
        assert extmap.get(p.extensions, AbsSendTime) == AbsSendTime.from_seconds(10.0)
        assert extmap.get(p.extensions, TransportSequenceNumber) == \
            TransportSequenceNumber(1000 + i)
        assert p.marker == (i == len(packets) - 1)
    seqs = [p.sequence_number for p in packets]
    out = tx.handle_rtcp(Nack.from_lost(LOCAL_SSRC, SSRC, [seqs[2], seqs[0]]), now=10.2)
    rtx = [RtpPacket.parse(w) for w in out]
    assert [p.ssrc for p in rtx] == [RTX_SSRC, RTX_SSRC]
    assert [p.payload_type for p in rtx] == [97, 97]
    assert (rtx[1].sequence_number - rtx[0].sequence_number) & 0xFFFF == 1
    assert rtx[0].payload == seqs[2].to_bytes(2, "big") + packets[2].payload
    assert rtx[0].timestamp == packets[2].timestamp
    assert extmap.get(rtx[0].extensions, RepairedRid) == RepairedRid("hi")
    assert extmap.get(rtx[0].extensions, Rid) is None
    assert extmap.get(rtx[0].extensions, Mid) == Mid("v0")
    assert extmap.get(rtx[0].extensions, AbsSendTime) == AbsSendTime.from_seconds(10.2)
    assert extmap.get(rtx[0].extensions, TransportSequenceNumber) == TransportSequenceNumber(
        1000 + len(packets))
    # Rate limit: the same packet again within 10 ms (RTT unknown) is not resent.
    assert tx.handle_rtcp(Nack.from_lost(LOCAL_SSRC, SSRC, [seqs[2]]), now=10.205) == []
    assert len(tx.handle_rtcp(Nack.from_lost(LOCAL_SSRC, SSRC, [seqs[2]]), now=10.22)) == 1
    # NACKs for another SSRC and for packets no longer kept are ignored.
    assert tx.handle_rtcp(Nack.from_lost(LOCAL_SSRC, SSRC + 1, [seqs[1]]), now=11.0) == []
    assert tx.handle_rtcp(Nack.from_lost(LOCAL_SSRC, SSRC, [seqs[0] - 1]), now=11.0) == []
    assert tx.stats.retransmitted_packets_sent == 3
    assert tx.stats.nack_count == 4  # the one for another SSRC is not ours


def test_pli_and_fir_requests_and_fir_dedupe() -> None:
    tx, _ = video_pair("vp8")
    assert not tx.poll_keyframe_request()
    tx.handle_rtcp(Pli(LOCAL_SSRC, SSRC), now=0.0)
    assert tx.poll_keyframe_request() and not tx.poll_keyframe_request()
    tx.handle_rtcp(Pli(LOCAL_SSRC, SSRC + 1), now=0.0)  # not ours
    assert not tx.poll_keyframe_request()
    fir = Fir(LOCAL_SSRC, (FirItem(SSRC + 1, 9), FirItem(SSRC, 4)))
    tx.handle_rtcp(fir, now=0.1)
    assert tx.poll_keyframe_request() and tx.stats.fir_count == 1
    tx.handle_rtcp(fir, now=0.2)  # RFC 5104 §4.3.1.2: a repetition, same sequence number
    assert not tx.poll_keyframe_request() and tx.stats.fir_count == 1
    tx.handle_rtcp(Fir(LOCAL_SSRC, (FirItem(SSRC, 5),)), now=0.3)
    assert tx.poll_keyframe_request() and tx.stats.fir_count == 2
    tx.handle_rtcp(Fir(LOCAL_SSRC + 1, (FirItem(SSRC, 5),)), now=0.3)  # another requester
    assert tx.poll_keyframe_request() and tx.stats.fir_count == 3
    assert tx.stats.pli_count == 1


def test_receiver_sends_fir_when_pli_is_not_negotiated() -> None:
    rx = RtpReceiveStream(ssrc=SSRC, clock_rate=90000, codec="VP8", pli=False, fir=True,
                          local_ssrc=LOCAL_SSRC)
    rx.request_keyframe()
    (fir,) = rx.poll_feedback(now=0.0)
    assert fir == Fir(LOCAL_SSRC, (FirItem(SSRC, 1),))
    assert rx.poll_feedback(now=0.1) == []
    (again,) = rx.poll_feedback(now=1.0)  # unanswered: repeated, a new command number
    assert isinstance(again, Fir) and again.items[0].sequence == 2
    assert rx.stats.fir_count == 2


def test_pli_rate_limit() -> None:
    call = make_call("vp8", rtx=False)
    call.run(0.3)
    rx = call.rx
    rx.request_keyframe()
    rx.request_keyframe()
    assert rx.poll_timeout() == pytest.approx(call.now - 0.001, abs=0.002)
    assert [type(p) for p in rx.poll_feedback(now=call.now)] == [Pli]
    assert rx.poll_feedback(now=call.now + 0.05) == []
    rx.request_keyframe()  # while the first is unanswered: not before the retry interval
    assert rx.poll_feedback(now=call.now + 0.5) == []
    assert [type(p) for p in rx.poll_feedback(now=call.now + 1.0)] == [Pli]
    assert rx.stats.pli_count == 2


def test_rtt_from_sender_report_matches_the_link_delay() -> None:
    call = make_call("vp8", forward=Link(random.Random(1), delay=0.031),
                     backward=Link(random.Random(2), delay=0.047))
    call.run(1.0)
    tx = call.tx
    assert tx.stats.rtt_measurements >= 5
    # RFC 3550 §6.4.1 A - LSR - DLSR: the two one-way delays, to the 1/65536 s of compact NTP
    # (and the 1 ms steps at which the test delivers).
    assert tx.stats.rtt == pytest.approx(0.078, abs=0.0011)
    assert tx.stats.total_rtt / tx.stats.rtt_measurements == pytest.approx(0.078, abs=0.0011)
    assert tx.stats.remote_report_at is not None
    assert call.rx.rtt == tx.stats.rtt


def test_report_block_without_our_lsr_gives_no_rtt() -> None:
    tx, _ = video_pair("vp8")
    tx.send_frame(vp8_frame(random.Random(1), True, 100), 0, now=0.0)
    tx.sender_report(now=0.0, ntp_time=1000.0)
    rr = ReceiverReport(LOCAL_SSRC, (ReportBlock(SSRC, 64, 7, 100, 900, lsr=12345, dlsr=1),))
    tx.handle_rtcp(rr, now=0.5)
    assert tx.stats.rtt is None
    assert tx.stats.remote_fraction_lost == 0.25 and tx.stats.remote_packets_lost == 7
    assert tx.stats.remote_jitter == pytest.approx(0.01)
    good = ReportBlock(SSRC, lsr=ntp_compact(1000.0), dlsr=65536 // 10)
    tx.handle_rtcp(ReceiverReport(LOCAL_SSRC, (good,)), now=0.35)
    assert tx.stats.rtt == pytest.approx(0.25, abs=1e-4)
    tx.handle_rtcp(Remb(LOCAL_SSRC, 1_500_000, (SSRC,)), now=0.4)
    assert tx.stats.remote_bitrate == 1_500_000
    tx.handle_rtcp(Remb(LOCAL_SSRC, 9_000, (SSRC + 1,)), now=0.4)
    assert tx.stats.remote_bitrate == 1_500_000


def test_statistics_on_a_lossy_jittered_link() -> None:
    call = make_call("vp8", rtx=True,
                     forward=Link(random.Random(21), delay=0.03, jitter=0.03, loss=0.05,
                                  spare=20),
                     frame_size=2500)
    call.run(3.0)
    tx, rx = call.tx, call.rx
    # Every packet arrives once (originals or RTX); RTX packets may be lost too.
    assert rx.stats.packets_received == tx.stats.packets_sent - call.forward.lost
    assert rx.stats.retransmitted_packets_received == \
        tx.stats.retransmitted_packets_sent - call.forward.lost_of(RTX_SSRC)
    assert tx.stats.frames_sent == len(call.sent) == rx.stats.frames_received
    assert tx.stats.keyframes_sent == 1
    assert tx.stats.bytes_sent > sum(len(d) for _, d, _ in call.sent)  # plus descriptors
    # RFC 3550 A.3 over the media SSRC: what the network lost of the originals.
    lost_originals = call.forward.lost_of(SSRC)
    assert lost_originals > 5
    assert rx.stats.packets_lost == lost_originals
    # A.8 interarrival jitter of i.i.d. uniform [0, 30 ms] extra delays: E|X - Y| = 10 ms.
    assert 0.006 < rx.stats.jitter < 0.014
    block = rx.report_block(now=call.now)
    assert block is not None and block.ssrc == SSRC
    assert block.cumulative_lost == lost_originals
    # The sender's view from our report blocks.
    assert tx.stats.remote_packets_lost > 0
    assert tx.stats.remote_jitter == pytest.approx(rx.stats.jitter, rel=0.3)


def test_byte_counts_of_a_clean_call() -> None:
    call = make_call("vp8", forward=Link(random.Random(1), delay=0.01), frame_size=1000)
    call.run(1.0)
    tx, rx = call.tx, call.rx
    assert tx.stats.packets_sent == rx.stats.packets_received
    assert tx.stats.bytes_sent == rx.stats.bytes_received
    assert tx.stats.header_bytes_sent == rx.stats.header_bytes_received
    assert rx.stats.packets_lost == 0 and rx.stats.jitter < 1e-3
    assert tx.stats.retransmitted_packets_sent == 0
    assert rx.stats.last_packet_received_at is not None
    assert tx.stats.last_packet_sent_at is not None
    assert rx.stats.remote_packets_sent > 0 and rx.stats.remote_report_at is not None
    frames_equal(call)


@pytest.mark.parametrize("codec", ["vp8", "opus"])
def test_sequence_number_and_timestamp_wraparound(codec: str) -> None:
    clock = 48000 if codec == "opus" else 90000
    tx = RtpSendStream(ssrc=SSRC, payload_type=96, clock_rate=clock, codec=codec,
                       rtx_ssrc=RTX_SSRC, rtx_payload_type=97, initial_sequence=0xFFFF - 40,
                       timestamp_offset=0xFFFFFFFF - 20 * clock // 30,
                       random_bytes=SeededRandom(1))
    rx = RtpReceiveStream(ssrc=SSRC, clock_rate=clock, codec=codec, rtx_ssrc=RTX_SSRC,
                          rtx_payload_type=97, kind="audio" if codec == "opus" else "video",
                          local_ssrc=LOCAL_SSRC)
    call = Call(tx, rx,
                Link(random.Random(5), delay=0.02, jitter=0.015, loss=0.05, spare=20),
                Link(random.Random(6), delay=0.02),
                vp8_frame if codec == "vp8" else opus_frame,
                fps=30 if codec == "vp8" else 50, frame_size=2000 if codec == "vp8" else 80)
    call.run(2.0)
    frames_equal(call)
    seqs = [f.first_sequence for f in call.received]
    assert min(seqs) < 100 and max(seqs) > 0xFF00  # across the sequence number wrap
    stamps = [f.timestamp for f in call.received]
    assert min(stamps) < 100_000 and max(stamps) > 0xFFFF0000  # and the timestamp wrap
    assert rx.stats.packets_lost == call.forward.lost_of(SSRC)


def test_opus_frames_come_out_in_order_despite_reordering() -> None:
    call = make_call("opus", rtx=False, nack=False,
                     forward=Link(random.Random(9), delay=0.02, jitter=0.03), fps=50,
                     frame_size=60)
    call.run(2.0)
    frames_equal(call)
    rx = call.rx
    assert rx.stats.frames_dropped == 0 and rx.stats.packets_discarded == 0
    assert all(f.keyframe for f in call.received)  # every audio frame stands alone
    assert rx.stats.pli_count == 0  # no keyframe requests for audio


def test_opus_loss_without_nack_skips_the_packet_quickly() -> None:
    call = make_call("opus", rtx=False, nack=False,
                     forward=Link(random.Random(9), delay=0.02, drop=lambda i: i in (30, 31)),
                     fps=50, frame_size=60)
    call.run(1.0)
    rx = call.rx
    assert len(call.received) == len(call.sent) - 2
    assert rx.stats.pli_count == 0 and rx.stats.nack_count == 0
    assert rx.stats.packets_lost == 2


def test_padding_only_packets_do_not_break_frames() -> None:
    tx, rx = video_pair("vp8", rtx=True)
    rng = random.Random(3)
    packets = [RtpPacket.parse(w) for w in tx.send_frame(vp8_frame(rng, True, 2500), 0, now=0)]
    last = packets[-1]
    # A padding-only packet on the media SSRC between two frames, and one on the RTX SSRC.
    pad = RtpPacket(96, (last.sequence_number + 1) & 0xFFFF, last.timestamp, SSRC, b"",
                    padding=200)
    tx._seq = (tx._seq + 1) & 0xFFFF  # the sender used that sequence number for the padding
    more = [RtpPacket.parse(w) for w in tx.send_frame(vp8_frame(rng, False, 2500), 3000, now=0)]
    rx.handle_packet(RtpPacket(97, 5, 0, RTX_SSRC, b"", padding=100), now=0.01)
    for p in [*packets, pad, *more]:
        rx.handle_packet(p, now=0.02)
    frames = [rx.poll_frame(), rx.poll_frame()]
    assert [f.keyframe for f in frames if f] == [True, False]
    assert frames[1] is not None and frames[1].first_sequence == more[0].sequence_number
    assert rx.stats.frames_dropped == 0 and rx.poll_feedback(now=0.03) == []


def test_history_is_bounded_and_old_packets_are_not_resent() -> None:
    tx = RtpSendStream(ssrc=SSRC, payload_type=111, clock_rate=48000, codec="opus",
                       history_size=100, initial_sequence=0, random_bytes=SeededRandom(1))
    for i in range(300):
        tx.send_frame(b"\xfc" + bytes(50), i * 960, now=i * 0.02)
    assert tx.history_length == 100
    assert tx.handle_rtcp(Nack.from_lost(LOCAL_SSRC, SSRC, [150]), now=7.0) == []
    assert len(tx.handle_rtcp(Nack.from_lost(LOCAL_SSRC, SSRC, [250]), now=7.0)) == 1


def test_sender_report_extrapolates_the_rtp_timestamp() -> None:
    tx = RtpSendStream(ssrc=SSRC, payload_type=111, clock_rate=48000, codec="opus",
                       timestamp_offset=1000, random_bytes=SeededRandom(1))
    assert tx.sender_report(now=0.0, ntp_time=5000.0) is None
    first = RtpPacket.parse(tx.send_frame(b"\xfc\x01", 960, now=1.0)[0])
    assert first.marker  # RFC 3551 §4.1: the first packet of a talkspurt
    assert not RtpPacket.parse(tx.send_frame(b"\xfc\x01", 1920, now=1.02)[0]).marker
    sr = tx.sender_report(now=1.52, ntp_time=5000.5)
    assert sr is not None
    assert sr.ssrc == SSRC and sr.packet_count == 2 and sr.octet_count == 4
    assert sr.rtp_timestamp == 1000 + 1920 + 24000  # 0.5 s later on a 48 kHz clock
    assert sr.ntp_timestamp == int(5000.5 * 2**32)
    assert tx.rtx_sender_report(now=1.52, ntp_time=5000.5) is None


def test_codec_factories() -> None:
    for name in ("opus", "OPUS", "PCMU", "pcma", "VP8", "vp9", "H264"):
        assert create_depacketizer(name) is not None
        assert create_packetizer(name, random_bytes=SeededRandom(1)) is not None
    with pytest.raises(ValueError):
        create_packetizer("AV1")
    with pytest.raises(ValueError):
        create_depacketizer("G722")


def test_receive_stream_ignores_other_sources_and_wrong_payload_types() -> None:
    _, rx = video_pair("vp8")
    rx.handle_packet(RtpPacket(96, 1, 0, SSRC + 5, b"\x10\x00"), now=0.0)
    rx.handle_packet(RtpPacket(100, 1, 0, SSRC, b"\x10\x00"), now=0.0)
    assert rx.stats.packets_received == 0 and rx.stats.packets_discarded == 1
    assert rx.report_block(now=0.0) is None
    assert rx.poll_timeout() is None and rx.poll_feedback(now=0.0) == []


def test_restart_after_a_huge_sequence_jump() -> None:
    _, rx = video_pair("opus")
    rx = RtpReceiveStream(ssrc=SSRC, clock_rate=48000, codec="opus", kind="audio", nack=False)
    t = 0.0
    for seq in range(100, 110):
        rx.handle_packet(RtpPacket(111, seq, seq * 960, SSRC, b"\xfc\x01"), now=t)
        t += 0.02
    for seq in range(20000, 20010):  # a jump forward past MAX_DROPOUT
        rx.handle_packet(RtpPacket(111, seq, seq * 960, SSRC, b"\xfc\x02"), now=t)
        t += 0.02
    for seq in range(5, 15):  # and far back: accepted once two follow each other (A.1)
        rx.handle_packet(RtpPacket(111, seq, seq * 960, SSRC, b"\xfc\x03"), now=t)
        t += 0.02
    rx.handle_timeout(now=t + 1)
    frames = []
    while (f := rx.poll_frame()) is not None:
        frames.append(f.data[1])
    assert frames == [1] * 10 + [2] * 10 + [3] * 9
    assert rx.missing_packets == 0 and rx.buffered_packets == 0


def test_module_example_runs() -> None:
    result = doctest.testmod(rtcstack.rtp.session)
    assert result.attempted > 0 and result.failed == 0


def test_keyframe_gate_off_hands_out_frames_after_a_loss() -> None:
    tx, _ = video_pair("vp8", rtx=False)
    rx = RtpReceiveStream(ssrc=SSRC, clock_rate=90000, codec="VP8", nack=False,
                          keyframe_gate=False, local_ssrc=LOCAL_SSRC)
    rng = random.Random(2)
    wires = []
    for i in range(4):
        wires.append(tx.send_frame(vp8_frame(rng, i == 0, 2000), i * 3000, now=i * 0.033))
    for i, frame in enumerate(wires):
        for j, wire in enumerate(frame):
            if (i, j) != (1, 1):  # lose a packet of the second frame
                rx.handle_packet(RtpPacket.parse(wire), now=0.2 + i * 0.033)
    rx.handle_timeout(now=1.0)
    got = []
    while (f := rx.poll_frame()) is not None:
        got.append(f.keyframe)
    assert got == [True, False, False]  # frames 0, 2, 3
    assert rx.stats.frames_dropped == 1
    assert [type(p) for p in rx.poll_feedback(now=1.0)] == [Pli]


def test_continue_from_keeps_numbering_across_a_renegotiation() -> None:
    # A re-offer may change the payload type and the extension IDs of an SSRC already sending
    # (aiortc renumbers both): the new stream goes on where the old one stopped (RFC 3550 §5.1).
    old = RtpSendStream(ssrc=SSRC, payload_type=111, clock_rate=48000, codec="opus",
                        extensions=ExtensionMap({4: Mid.URI}), mid="0",
                        random_bytes=SeededRandom(1))
    sent = [RtpPacket.parse(p) for p in old.send_frame(b"\x01" * 20, 960, now=0.0)]
    new = RtpSendStream(ssrc=SSRC, payload_type=96, clock_rate=48000, codec="opus",
                        extensions=ExtensionMap({1: Mid.URI}), mid="0",
                        random_bytes=SeededRandom(2))
    new.continue_from(old)
    (packet,) = [RtpPacket.parse(p) for p in new.send_frame(b"\x02" * 20, 1920, now=0.02)]
    assert packet.payload_type == 96
    assert packet.sequence_number == (sent[-1].sequence_number + 1) & 0xFFFF
    assert (packet.timestamp - sent[-1].timestamp) & 0xFFFFFFFF == 960
    assert dict(packet.extensions) == {1: b"0"}
    assert new.stats.packets_sent == 2
    with pytest.raises(ValueError):
        RtpSendStream(ssrc=SSRC + 1, payload_type=96, clock_rate=48000,
                      codec="opus").continue_from(old)
