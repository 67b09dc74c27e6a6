"""RTP reception and transmission statistics (RFC 3550 §6.4 and Appendix A), sans-IO.

- :class:`ReceiverStatistics` -- one per received SSRC: sequence number validation with
  probation and the extended highest sequence number (A.1), expected / lost / fraction lost
  (A.3), interarrival jitter (A.8), and the report block to send (§6.4.1) including LSR/DLSR from
  the last sender report received.
- :class:`SenderStatistics` -- packet and octet counts of a sender, and its SR sender info.
- :func:`round_trip_time` -- RTT from a report block's LSR/DLSR (§6.4.1).
- :func:`rtcp_interval` -- the RTCP transmission interval (A.7), with the randomisation factor
  passed in, so that a caller (or a test) controls it.

Time comes in as ``now`` (seconds on the caller's monotonic clock); wallclock for NTP
timestamps comes in as ``ntp_time`` (seconds since 1900, as a float).
"""

from __future__ import annotations

import math

from rtcstack.rtp.rtcp import ReportBlock

__all__ = [
    "ReceiverStatistics",
    "SenderStatistics",
    "ntp_compact",
    "ntp_timestamp",
    "round_trip_time",
    "rtcp_interval",
]

RTP_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000  # RFC 3550 A.1
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2


def ntp_timestamp(ntp_time: float) -> int:
    """A 64-bit NTP timestamp (RFC 3550 §4: seconds since 1900 in 32.32 fixed point)."""
    return int(ntp_time * (1 << 32)) & 0xFFFF_FFFF_FFFF_FFFF


def ntp_compact(ntp_time: float) -> int:
    """The middle 32 bits of the NTP timestamp (RFC 3550 §6.4.1, LSR and "A")."""
    return (ntp_timestamp(ntp_time) >> 16) & 0xFFFF_FFFF


def round_trip_time(block: ReportBlock, ntp_time: float) -> float | None:
    """RFC 3550 §6.4.1: RTT = A - LSR - DLSR, in seconds, where A is the arrival time of the
    report in compact NTP; None when the block carries no LSR (no SR received yet)."""
    if block.lsr == 0:
        return None
    rtt = (ntp_compact(ntp_time) - block.lsr - block.dlsr) & 0xFFFF_FFFF
    if rtt >= 1 << 31:  # negative: clocks or reports out of order
        return 0.0
    return rtt / 65536


class ReceiverStatistics:
    """RFC 3550 Appendix A.1, A.3 and A.8 for one source.

    Feed every received packet with :meth:`receive`; call :meth:`report_block` when sending
    an RTCP report.  ``clock_rate`` is the RTP clock of the payload (jitter is in its units).
    """

    __slots__ = (
        "_expected_prior",
        "_initialised",
        "_received_prior",
        "_transit",
        "bad_seq",
        "base_seq",
        "clock_rate",
        "cycles",
        "jitter",
        "last_sr",
        "last_sr_time",
        "max_seq",
        "probation",
        "received",
        "ssrc",
    )

    def __init__(self, ssrc: int, clock_rate: int) -> None:
        if clock_rate <= 0:
            raise ValueError("clock_rate must be positive")
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.max_seq = 0
        self.cycles = 0
        self.base_seq = 0
        self.bad_seq = RTP_SEQ_MOD + 1
        self.probation = MIN_SEQUENTIAL
        self.received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._transit: float | None = None
        self.jitter = 0.0
        self.last_sr = 0  # compact NTP of the last SR's timestamp (LSR)
        self.last_sr_time: float | None = None  # ``now`` when it arrived
        self._initialised = False

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self._received_prior = 0
        self._expected_prior = 0

    def receive(self, sequence_number: int, timestamp: int, now: float) -> bool:
        """RFC 3550 A.1 ``update_seq`` and A.8 jitter.  Returns False when the packet is not
        counted (during probation, or a jump the source has not confirmed)."""
        seq = sequence_number & 0xFFFF
        if not self._initialised:
            self._init_seq(seq)
            self.max_seq = (seq - 1) & 0xFFFF
            self.probation = MIN_SEQUENTIAL
            self._initialised = True
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation:
            # "packet is in sequence": source is valid after MIN_SEQUENTIAL packets
            if seq == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    self._jitter(timestamp, now)
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:  # wrapped: count another 64K cycle
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            # a very large jump: accept it only if the next packet follows it
            if seq == self.bad_seq:
                self._init_seq(seq)
            else:
                self.bad_seq = (seq + 1) & (RTP_SEQ_MOD - 1)
                return False
        # else: duplicate or reordered packet, counted below
        self.received += 1
        self._jitter(timestamp, now)
        return True

    def _jitter(self, timestamp: int, now: float) -> None:
        """RFC 3550 A.8: J += (|D| - J) / 16, D the change in relative transit time."""
        arrival = now * self.clock_rate
        transit = arrival - timestamp
        if self._transit is not None:
            d = transit - self._transit
            # RTP timestamps wrap at 2^32: take the shortest distance
            d = (d + 2**31) % 2**32 - 2**31
            self.jitter += (abs(d) - self.jitter) / 16
        self._transit = transit

    @property
    def extended_max(self) -> int:
        """The extended highest sequence number received (A.3)."""
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost, clamped to the 24-bit signed field (A.3)."""
        lost = self.expected - self.received
        return max(-0x800000, min(0x7FFFFF, lost))

    def receive_sender_report(self, ntp: int, now: float) -> None:
        """Remember an SR from this source for LSR/DLSR (RFC 3550 §6.4.1)."""
        self.last_sr = (ntp >> 16) & 0xFFFF_FFFF
        self.last_sr_time = now

    def report_block(self, now: float) -> ReportBlock:
        """The §6.4.1 report block for this source; starts a new fraction-lost interval."""
        expected = self.expected
        expected_interval = expected - self._expected_prior
        self._expected_prior = expected
        received_interval = self.received - self._received_prior
        self._received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = (lost_interval << 8) // expected_interval
        dlsr = 0
        if self.last_sr_time is not None:
            dlsr = min(0xFFFF_FFFF, max(0, int((now - self.last_sr_time) * 65536)))
        return ReportBlock(self.ssrc, min(fraction, 255), self.lost,
                           self.extended_max & 0xFFFF_FFFF, int(self.jitter), self.last_sr,
                           dlsr)


class SenderStatistics:
    """What a sender counts for its SR (RFC 3550 §6.4.1 sender info)."""

    __slots__ = ("clock_rate", "last_rtp_timestamp", "last_sent", "octets", "packets", "ssrc")

    def __init__(self, ssrc: int, clock_rate: int) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.packets = 0
        self.octets = 0
        self.last_rtp_timestamp: int | None = None
        self.last_sent: float | None = None

    def sent(self, timestamp: int, payload_size: int, now: float) -> None:
        """Count one packet ("octet count": payload octets only, §6.4.1)."""
        self.packets = (self.packets + 1) & 0xFFFF_FFFF
        self.octets = (self.octets + payload_size) & 0xFFFF_FFFF
        self.last_rtp_timestamp = timestamp
        self.last_sent = now

    def sender_info(self, now: float, ntp_time: float) -> tuple[int, int, int, int]:
        """``(ntp_timestamp, rtp_timestamp, packet_count, octet_count)`` for an SR sent now:
        the RTP timestamp is the last one sent advanced by the time since (§6.4.1: "the same
        time as the NTP timestamp ... in the same units ... as RTP timestamps")."""
        rtp = 0
        if self.last_rtp_timestamp is not None and self.last_sent is not None:
            rtp = (self.last_rtp_timestamp
                   + round((now - self.last_sent) * self.clock_rate)) & 0xFFFF_FFFF
        return ntp_timestamp(ntp_time), rtp, self.packets, self.octets


def rtcp_interval(*, members: int, senders: int, rtcp_bandwidth: float, we_sent: bool,
                  avg_rtcp_size: float, initial: bool, random: float,
                  minimum: float = 5.0) -> float:
    """RFC 3550 A.7 ``rtcp_interval``: seconds until the next report.

    ``rtcp_bandwidth`` in octets per second (5% of the session bandwidth), ``avg_rtcp_size`` in
    octets (with UDP/IP overhead), ``random`` uniform in [0, 1) -- it becomes the [0.5, 1.5]
    randomisation factor.  ``minimum`` is 5 s (halved for the initial report, §6.2); RFC 8108 /
    WebRTC implementations often use a smaller one.
    """
    if not 0.0 <= random < 1.0:
        raise ValueError("random must be in [0, 1)")
    rtcp_min_time = minimum / 2 if initial else minimum
    n = members
    if senders <= members * 0.25:  # RTCP_SENDER_BW_FRACTION
        if we_sent:
            rtcp_bandwidth *= 0.25
            n = senders
        else:
            rtcp_bandwidth *= 0.75
            n -= senders
    t = avg_rtcp_size * n / rtcp_bandwidth if rtcp_bandwidth > 0 else math.inf
    t = max(t, rtcp_min_time)
    t *= random + 0.5
    return t / (math.e - 1.5)  # COMPENSATION = e - 3/2
