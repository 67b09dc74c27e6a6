"""RFC 3550 Appendix A statistics: probation, wraparound, loss, jitter, LSR/DLSR, RTT, A.7."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcstack.rtp.rtcp import ReportBlock
from rtcstack.rtp.stats import (
    ReceiverStatistics,
    SenderStatistics,
    ntp_compact,
    round_trip_time,
    rtcp_interval,
)


def _feed(stats: ReceiverStatistics, seqs: list[int], clock: int = 8000) -> list[bool]:
    # constant 20 ms spacing, RTP timestamps in step: zero jitter
    return [stats.receive(seq, 160 * i, now=i * 0.02) for i, seq in enumerate(seqs)]


def test_probation_then_counting() -> None:
    stats = ReceiverStatistics(1, 8000)
    assert _feed(stats, [100, 101, 102, 103]) == [False, True, True, True]
    assert (stats.base_seq, stats.extended_max, stats.received) == (101, 103, 3)
    assert stats.expected == 3 and stats.lost == 0


def test_out_of_order_start_restarts_probation() -> None:
    stats = ReceiverStatistics(1, 8000)
    assert _feed(stats, [10, 50, 51]) == [False, False, True]
    assert stats.base_seq == 51


def test_wraparound_counts_cycles() -> None:
    stats = ReceiverStatistics(1, 8000)
    seqs = [65533, 65534, 65535, 0, 1]
    assert all(_feed(stats, seqs)[1:])
    assert stats.cycles == 65536 and stats.extended_max == 65536 + 1
    assert stats.expected == 4 and stats.lost == 0


def test_loss_and_fraction_lost() -> None:
    stats = ReceiverStatistics(7, 8000)
    _feed(stats, [0, 1, 2, 4, 5, 8, 9, 10])  # 1 counted from seq 1; 3, 6, 7 lost
    block = stats.report_block(now=1.0)
    assert stats.expected == 10 and stats.received == 7 and block.cumulative_lost == 3
    assert block.fraction_lost == (3 << 8) // 10
    assert block.highest_sequence == 10 and block.ssrc == 7
    # a new interval with no loss reports fraction 0, cumulative loss stays
    stats.receive(11, 1760, now=1.1)
    block = stats.report_block(now=1.2)
    assert block.fraction_lost == 0 and block.cumulative_lost == 3


def test_duplicates_make_loss_negative_not_fraction() -> None:
    stats = ReceiverStatistics(7, 8000)
    _feed(stats, [0, 1, 2, 2, 2])
    block = stats.report_block(now=1.0)
    assert block.cumulative_lost == -2 and block.fraction_lost == 0


def test_large_jump_needs_confirmation() -> None:
    stats = ReceiverStatistics(7, 8000)
    _feed(stats, [0, 1, 2])
    assert stats.receive(40000, 0, now=1.0) is False       # a jump: not yet accepted
    assert stats.receive(40001, 160, now=1.02) is True     # confirmed: sequence re-initialised
    assert stats.base_seq == 40001 and stats.received == 1


def test_jitter_follows_a_8() -> None:
    stats = ReceiverStatistics(1, 8000)
    _feed(stats, [0, 1])
    # every later packet arrives 10 ms (80 timestamp units) late relative to the previous one
    stats.receive(2, 320, now=0.05)
    assert stats.jitter == pytest.approx(80 / 16)
    stats.receive(3, 480, now=0.08)
    assert stats.jitter == pytest.approx(80 / 16 + (80 - 80 / 16) / 16)


def test_lsr_dlsr_and_rtt() -> None:
    stats = ReceiverStatistics(1, 8000)
    _feed(stats, [0, 1])
    sr_ntp_time = 3_900_000_000.25
    from rtcstack.rtp.stats import ntp_timestamp
    stats.receive_sender_report(ntp_timestamp(sr_ntp_time), now=10.0)
    block = stats.report_block(now=10.5)
    assert block.lsr == ntp_compact(sr_ntp_time)
    assert block.dlsr == 32768  # 0.5 s in 1/65536 s
    # the report arrives back 0.5 s + 40 ms RTT after the SR was sent
    rtt = round_trip_time(block, sr_ntp_time + 0.5 + 0.04)
    assert rtt == pytest.approx(0.04, abs=1 / 65536 * 2)
    assert round_trip_time(ReportBlock(1), sr_ntp_time) is None


def test_sender_info() -> None:
    sender = SenderStatistics(5, 90000)
    sender.sent(1000, 1200, now=1.0)
    sender.sent(4000, 800, now=1.033)
    ntp, rtp, packets, octets = sender.sender_info(now=1.133, ntp_time=3_900_000_000.0)
    assert (packets, octets) == (2, 2000)
    assert rtp == 4000 + 9000 and ntp == 3_900_000_000 << 32


def test_rtcp_interval_a7() -> None:
    # two members, both senders (more than 25% senders: no split), 200-byte reports
    t = rtcp_interval(members=2, senders=2, rtcp_bandwidth=500.0, we_sent=True,
                      avg_rtcp_size=200.0, initial=False, random=0.5)
    assert t == pytest.approx(5.0 / (2.718281828459045 - 1.5))  # the 5 s minimum dominates
    big = rtcp_interval(members=1000, senders=1, rtcp_bandwidth=500.0, we_sent=False,
                        avg_rtcp_size=200.0, initial=False, random=0.0)
    assert big == pytest.approx(200 * 999 / (500 * 0.75) * 0.5 / (2.718281828459045 - 1.5))
    initial = rtcp_interval(members=2, senders=0, rtcp_bandwidth=500.0, we_sent=False,
                            avg_rtcp_size=200.0, initial=True, random=0.0)
    assert initial == pytest.approx(2.5 * 0.5 / (2.718281828459045 - 1.5))
    with pytest.raises(ValueError):
        rtcp_interval(members=2, senders=0, rtcp_bandwidth=1.0, we_sent=False,
                      avg_rtcp_size=1.0, initial=True, random=1.0)


@given(st.integers(0, 65535), st.lists(st.integers(0, 40), min_size=3, max_size=200))
def test_in_order_stream_with_gaps_counts_exact_loss(start: int, gaps: list[int]) -> None:
    """Any in-order stream (with losses up to 40 in a row) across wraparound: expected minus
    received is exactly the number of sequence numbers skipped after the first counted one."""
    stats = ReceiverStatistics(1, 8000)
    seqs = [start, start + 1]
    skipped = 0
    for gap in gaps:
        seqs.append(seqs[-1] + 1 + gap)
        skipped += gap
    for i, seq in enumerate(seqs):
        stats.receive(seq & 0xFFFF, i * 160, now=i * 0.02)
    assert stats.received == len(seqs) - 1
    assert stats.lost == skipped
    assert stats.extended_max - stats.base_seq == seqs[-1] - seqs[1]
