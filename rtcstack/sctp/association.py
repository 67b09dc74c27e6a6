"""The SCTP association (RFC 9260), sans-IO, as WebRTC runs it over DTLS (RFC 8261).

One :class:`Association` is one endpoint of one association.  It speaks the drive loop:

- ``connect(now=)`` starts the four-way handshake (active open); without it the association
  answers a peer's INIT (passive open).  Over DTLS both sides usually connect at once: the INIT
  collision is resolved as RFC 9260 §5.2.1 and §5.2.4 say.
- ``handle_packet(data, now=)``: one SCTP packet (one DTLS record's payload).  Nothing a peer
  sends raises: bad packets are counted in :attr:`Association.stats` and traced.
- ``handle_timeout(now=)``, ``poll_timeout()``: T1-init, T1-cookie, T2-shutdown, T3-rtx, the
  delayed SACK, heartbeats and the RE-CONFIG retransmission, all behind one deadline.
- ``poll_transmit() -> bytes | None``: SCTP packets to hand to DTLS, bundled up to ``mtu``.
- ``poll_event()``: :class:`Connected`, :class:`MessageReceived`, :class:`StreamsReset`,
  :class:`BufferedAmountLow`, :class:`Closed`.
- user actions queue work and take ``now=`` (timers start from it): :meth:`Association.send`,
  :meth:`Association.reset_streams`, :meth:`Association.shutdown`, :meth:`Association.abort`.

What it implements: the handshake with an HMAC-protected state cookie (§5.1, §5.1.3), the
verification-tag rules (§8.5), retransmission with RFC 9260 §6.3 RTO estimation and Karn's
rule, fast retransmit and fast recovery (§7.2.4), slow start and congestion avoidance (§7.2),
the peer's receive window and zero-window probes (§6.1), delayed SACKs with gap blocks and
duplicate TSNs (§6.2, §6.7), bundling (§6.10), fragmentation and reassembly (§6.9), ordered and
unordered delivery (§6.6), heartbeats (§8.3), graceful shutdown (§9.2) and abort (§9.1);
partial reliability by lifetime or retransmission count with FORWARD-TSN (RFC 3758); message
interleaving with I-DATA and I-FORWARD-TSN when both sides support it (RFC 8260), with a
weighted fair queueing scheduler across streams (§3.6); stream reset (RFC 6525 §5.1.2,
§5.2.2) and zero checksums over DTLS (RFC 9653).

Internally TSNs, SSNs and MIDs are *unwrapped* to plain Python integers (RFC 1982 serial
arithmetic applied once, where a number comes off the wire), so every comparison in the state
machine is an ordinary ``<``.
"""

from __future__ import annotations

import heapq
import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import cast

from cryptography.hazmat.primitives import constant_time, hashes, hmac

from rtcstack.common.errors import InvalidStateError, ParseError
from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.sctp.chunks import (
    AbortChunk,
    CauseCode,
    Chunk,
    ChunkType,
    CookieAckChunk,
    CookieEchoChunk,
    DataChunk,
    ErrorCause,
    ErrorChunk,
    ForwardTsnChunk,
    HeartbeatAckChunk,
    HeartbeatChunk,
    IDataChunk,
    IForwardTsnChunk,
    IncomingSsnResetRequest,
    InitAckChunk,
    InitChunk,
    OutgoingSsnResetRequest,
    Parameter,
    ParamType,
    ReconfigChunk,
    ReconfigResponse,
    ReconfigResult,
    SackChunk,
    ShutdownAckChunk,
    ShutdownChunk,
    ShutdownCompleteChunk,
    UnknownChunk,
    parse_chunks,
)
from rtcstack.sctp.crc32c import check_checksum, with_checksum

__all__ = [
    "Association",
    "AssociationState",
    "BufferedAmountLow",
    "Closed",
    "Connected",
    "Event",
    "MessageReceived",
    "SctpConfig",
    "SctpStats",
    "StreamsReset",
]

MASK32 = 0xFFFFFFFF
EDMID_DTLS = 1  # RFC 9653 §6: SCTP over DTLS is the alternate error detection method
_HEADER = struct.Struct("!HHII")
_DATA_HEADER = struct.Struct("!BBHIHHI")
_IDATA_HEADER = struct.Struct("!BBHIHHII")
_CHUNK_HEADER = struct.Struct("!BBH")
_COOKIE = struct.Struct("!IIIIIHHBdII")  # see _make_cookie
_COOKIE_MAC_LEN = 16
_HB_INFO = struct.Struct("!dI")
_PADDING = (b"", b"\x00", b"\x00\x00", b"\x00\x00\x00")


# Hot-path constants: plain ints compare faster than enum members looked up on their class.
_DATA = int(ChunkType.DATA)
_I_DATA = int(ChunkType.I_DATA)
_SACK = int(ChunkType.SACK)
_DATA_TYPES = frozenset((_DATA, _I_DATA))
# First chunks with no verification-tag exception (RFC 9260 §8.5.1).
_ORDINARY_FIRST = frozenset(int(t) for t in (
    ChunkType.DATA, ChunkType.I_DATA, ChunkType.SACK, ChunkType.HEARTBEAT,
    ChunkType.HEARTBEAT_ACK, ChunkType.FORWARD_TSN, ChunkType.I_FORWARD_TSN,
    ChunkType.RE_CONFIG, ChunkType.SHUTDOWN, ChunkType.ERROR, ChunkType.COOKIE_ACK,
    ChunkType.INIT_ACK))


class AssociationState(IntEnum):
    """RFC 9260 §4 states, in protocol order."""

    CLOSED = 0
    COOKIE_WAIT = 1
    COOKIE_ECHOED = 2
    ESTABLISHED = 3
    SHUTDOWN_PENDING = 4
    SHUTDOWN_SENT = 5
    SHUTDOWN_RECEIVED = 6
    SHUTDOWN_ACK_SENT = 7


# States whose outstanding data a SACK still acknowledges.
_SENDING_STATES = frozenset((AssociationState.ESTABLISHED, AssociationState.SHUTDOWN_PENDING,
                             AssociationState.SHUTDOWN_RECEIVED, AssociationState.SHUTDOWN_SENT))
_UNESTABLISHED_STATES = frozenset((AssociationState.CLOSED, AssociationState.COOKIE_WAIT,
                                   AssociationState.COOKIE_ECHOED))
# send() is refused once shutdown started (RFC 9260 §9.2) and after close.
_ACCEPTS_SEND = frozenset((AssociationState.COOKIE_WAIT, AssociationState.COOKIE_ECHOED,
                           AssociationState.ESTABLISHED))
# New data still goes out while a shutdown waits for the queue to drain.
_NEW_DATA_STATES = frozenset((AssociationState.ESTABLISHED, AssociationState.SHUTDOWN_PENDING,
                              AssociationState.SHUTDOWN_RECEIVED))
_DRAINING_STATES = frozenset((AssociationState.SHUTDOWN_PENDING,
                              AssociationState.SHUTDOWN_RECEIVED))
# States in which DATA is accepted (RFC 9260 §9.2: until our SHUTDOWN was acknowledged).
_RECEIVING_STATES = frozenset((AssociationState.ESTABLISHED, AssociationState.SHUTDOWN_PENDING,
                               AssociationState.SHUTDOWN_SENT))


@dataclass(frozen=True, slots=True)
class SctpConfig:
    """What one endpoint offers and how its timers run.

    ``mtu`` is the largest SCTP packet (WebRTC's 1200 keeps a DTLS record in one unfragmented
    UDP datagram on any path).  ``receive_window`` bounds the bytes held for reassembly and
    ordering.  ``max_message_size`` is the largest message accepted; a peer that sends a larger
    one is aborted (RFC 8841 §6: the SDP ``max-message-size`` tells the peer the limit).
    ``zero_checksum`` announces RFC 9653 with the DTLS method: turn it on only over DTLS.

    The timers follow RFC 9260 §16 except ``rto_min`` (0.3 s, not 1 s) and ``rto_max`` (10 s,
    not 60 s), values like other WebRTC stacks', so that a lost packet costs a fraction of a
    second.  ``rto_min`` stays above the peer's 0.2 s delayed SACK: at 0.2 s the last packet
    of a burst was retransmitted just as its delayed SACK arrived.
    """

    local_port: int = 5000
    remote_port: int = 5000
    mtu: int = 1200
    receive_window: int = 1024 * 1024
    max_message_size: int = 256 * 1024
    outbound_streams: int = 65535
    inbound_streams: int = 65535
    interleaving: bool = True
    partial_reliability: bool = True
    zero_checksum: bool = False
    rto_initial: float = 1.0
    rto_min: float = 0.3
    rto_max: float = 10.0
    max_init_retransmits: int = 8
    max_retransmits: int = 10
    sack_delay: float = 0.2
    heartbeat_interval: float | None = 30.0
    cookie_lifetime: float = 60.0


@dataclass
class SctpStats:
    """Counters for what the association did and dropped."""

    packets_received: int = 0
    packets_sent: int = 0
    packets_dropped: int = 0  # unparseable, bad checksum, wrong verification tag, wrong state
    data_chunks_received: int = 0
    data_chunks_sent: int = 0
    duplicate_tsns: int = 0
    retransmissions: int = 0
    fast_retransmissions: int = 0
    t3_expirations: int = 0
    abandoned_messages: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    sacks_sent: int = 0
    sacks_received: int = 0


@dataclass(frozen=True, slots=True)
class Connected:
    """The association is established: what the two sides agreed on."""

    outbound_streams: int
    inbound_streams: int
    interleaving: bool  # I-DATA in use (RFC 8260)
    partial_reliability: bool  # FORWARD-TSN (RFC 3758) in use
    stream_reset: bool  # the peer supports RE-CONFIG (RFC 6525)
    zero_checksum: bool  # we send zero checksums (the peer accepts them, RFC 9653)
    peer_receive_window: int


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """One whole user message, reassembled, in the order the stream's rules say."""

    stream_id: int
    ppid: int
    data: bytes
    ordered: bool = True


@dataclass(frozen=True, slots=True)
class StreamsReset:
    """Streams were reset (RFC 6525): ``incoming`` ones by the peer's request, or our
    outgoing ones once the peer performed our request (``success`` False if it refused)."""

    stream_ids: tuple[int, ...]
    incoming: bool
    success: bool = True


@dataclass(frozen=True, slots=True)
class BufferedAmountLow:
    """The bytes queued on a stream fell to its low threshold or below."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class Closed:
    """The association ended: ``error`` is None after a graceful shutdown, else why
    (``remote`` tells whether the peer aborted)."""

    error: str | None = None
    remote: bool = False


Event = Connected | MessageReceived | StreamsReset | BufferedAmountLow | Closed


# --- internal records ----------------------------------------------------------------------------


class _OutMessage:
    """A user message waiting to be (or being) cut into chunks."""

    __slots__ = (
        "abandoned", "counted", "data", "expires", "fragments", "fsn", "max_retransmits", "mid",
        "offset", "ordered", "ppid", "stream_id", "view",
    )

    def __init__(self, stream_id: int, ppid: int, data: bytes, ordered: bool,
                 expires: float | None, max_retransmits: int | None, counted: bool) -> None:
        self.stream_id = stream_id
        self.counted = counted  # its bytes count in buffered_amount
        self.ppid = ppid
        self.data = data
        self.view = memoryview(data)
        self.ordered = ordered
        self.expires = expires
        self.max_retransmits = max_retransmits
        self.offset = 0
        self.fsn = 0
        self.mid = -1  # the SSN (DATA) or MID (I-DATA), assigned with the first fragment
        self.fragments: list[_Sent] = []
        self.abandoned = False


class _Sent:
    """One DATA or I-DATA chunk from the moment its TSN is assigned until it is acked."""

    __slots__ = (
        "abandoned", "acked", "encoded", "fast_retransmitted", "in_flight", "message", "misses",
        "retransmit", "sends", "sent_at", "size", "tsn",
    )

    def __init__(self, tsn: int, encoded: bytes, size: int, message: _OutMessage,
                 sent_at: float | None = None) -> None:
        self.tsn = tsn  # unwrapped
        self.encoded = encoded  # the whole chunk as sent
        self.size = size  # user data bytes (what flight size, cwnd and rwnd count)
        self.message = message
        sent = sent_at is not None
        self.sent_at = sent_at if sent_at is not None else 0.0
        self.sends = 1 if sent else 0
        self.acked = False  # covered by a gap block of the latest SACK
        self.in_flight = sent
        self.retransmit = False
        self.fast_retransmitted = False
        self.misses = 0
        self.abandoned = False


class _Scheduler:
    """RFC 8260 §3.6 weighted fair queueing across the streams with queued data.

    Stride scheduling: each active stream has a *pass*; the lowest pass sends next, and
    sending ``n`` bytes adds ``n * NORMAL / weight`` to it, so over time streams share the
    bandwidth in proportion to their weights (equal weights: equal bytes, RFC 8260 §3.4's fair
    capacity).  A stream that becomes active starts at the current virtual time, so an idle
    stream saves up no credit.  Weights are the data channel priorities of RFC 8831 §6.4
    (256 is normal).  A heap with lazy deletion keeps each choice O(log streams).
    """

    __slots__ = ("_active", "_counter", "_heap", "_vtime", "weights")
    NORMAL = 256

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int]] = []  # (pass, tie-break, stream)
        self._active: dict[int, float] = {}  # stream -> its current pass
        self._vtime = 0.0
        self._counter = 0
        self.weights: dict[int, int] = {}

    def __bool__(self) -> bool:
        return bool(self._active)

    def __contains__(self, sid: int) -> bool:
        return sid in self._active

    def add(self, sid: int) -> None:
        if sid not in self._active:
            self._active[sid] = self._vtime
            self._counter += 1
            heapq.heappush(self._heap, (self._vtime, self._counter, sid))

    def peek(self) -> int | None:
        heap, active = self._heap, self._active
        while heap:
            pass_, _, sid = heap[0]
            if active.get(sid) == pass_:
                return sid
            heapq.heappop(heap)  # a stale entry: the stream was removed or charged
        return None

    def charge(self, sid: int, size: int) -> None:
        """``sid`` (the stream :meth:`peek` chose) sent ``size`` bytes."""
        old = self._active[sid]
        new = old + size * self.NORMAL / self.weights.get(sid, self.NORMAL)
        self._vtime = old
        self._active[sid] = new
        self._counter += 1
        heap = self._heap
        if heap and heap[0][2] == sid and heap[0][0] == old:
            heapq.heapreplace(heap, (new, self._counter, sid))  # the usual case: it was next
        else:
            heapq.heappush(heap, (new, self._counter, sid))  # its old entry is now stale

    def remove(self, sid: int) -> None:
        self._active.pop(sid, None)

    def clear(self) -> None:
        self._heap.clear()
        self._active.clear()


class _InStream:
    """Ordered delivery state of one incoming stream."""

    __slots__ = ("expected", "pending")

    def __init__(self) -> None:
        self.expected = 0  # next SSN / MID to deliver (unwrapped)
        self.pending: dict[int, tuple[int, bytes]] = {}  # ssn -> (ppid, data)


class _Partial:
    """An I-DATA message being reassembled: fragments by FSN."""

    __slots__ = ("fragments", "last_fsn", "ppid", "size", "tsns")

    def __init__(self) -> None:
        self.fragments: dict[int, bytes] = {}
        self.last_fsn: int | None = None
        self.ppid = 0
        self.size = 0
        self.tsns: list[int] = []


@dataclass
class _PendingReset:
    """Our outgoing SSN reset request (RFC 6525 §5.1.2) while it waits for its response."""

    sequence: int
    streams: tuple[int, ...]
    last_tsn: int
    sent_at: float = 0.0
    encoded: bytes = b""


@dataclass
class _Cookie:
    my_tag: int
    peer_tag: int
    my_initial_tsn: int
    peer_initial_tsn: int
    peer_rwnd: int
    outbound_streams: int
    inbound_streams: int
    capabilities: int
    created: float
    tie_my_tag: int = 0
    tie_peer_tag: int = 0


_CAP_FORWARD_TSN = 1
_CAP_IDATA = 2
_CAP_RECONFIG = 4
_CAP_ZERO_CHECKSUM = 8


def _unwrap32(value: int, reference: int) -> int:
    """RFC 1982: the integer congruent to ``value`` mod 2**32 nearest to ``reference``."""
    diff = (value - reference) & MASK32
    if diff >= 0x80000000:
        diff -= 0x100000000
    return reference + diff


def _unwrap16(value: int, reference: int) -> int:
    diff = (value - reference) & 0xFFFF
    if diff >= 0x8000:
        diff -= 0x10000
    return reference + diff


@dataclass
class _Timers:
    t1: float | None = None  # T1-init or T1-cookie
    t2: float | None = None  # T2-shutdown
    t3: float | None = None  # T3-rtx
    sack: float | None = None  # delayed SACK
    heartbeat: float | None = None
    reconfig: float | None = None
    lifetime: float | None = None  # the earliest expiry of a partially reliable message


class Association:
    """One SCTP endpoint; see the module docstring for the drive loop."""

    def __init__(self, config: SctpConfig | None = None, *,
                 random_bytes: RandomBytes = default_random_bytes,
                 trace: Trace = NULL_TRACE) -> None:
        self.config = config or SctpConfig()
        self._random = random_bytes
        self._trace = trace
        self.state = AssociationState.CLOSED
        self.stats = SctpStats()
        self._secret = random_bytes(32)
        self._now = 0.0
        self._timers = _Timers()
        self._events: deque[Event] = deque()
        self._tx: deque[bytes] = deque()
        self._dirty = False
        self._closed_reported = False
        self._zero_checksum_announced = False
        self._reset_association(self._random_tag(), self._random_u32())

    # --- set-up of per-association state ---------------------------------------------------

    def _random_u32(self) -> int:
        return int.from_bytes(self._random(4), "big")

    def _random_tag(self) -> int:
        while True:  # RFC 9260 §5.3.1: a verification tag is never 0
            tag = self._random_u32()
            if tag:
                return tag

    def _reset_association(self, my_tag: int, initial_tsn: int) -> None:
        cfg = self.config
        self.my_tag = my_tag
        self.peer_tag = 0
        self._my_initial_tsn = initial_tsn
        self._peer_init_tag = 0  # the initiate tag of the peer's INIT (for collisions)
        # send side
        self._next_tsn = initial_tsn  # unwrapped
        self._cum_acked = initial_tsn - 1  # highest TSN cumulatively acked by the peer
        self._outstanding: deque[_Sent] = deque()
        self._rtx_pending = False  # some outstanding chunk may be marked for retransmission
        self._last_data_sent: float | None = None  # for the idle cwnd decay of §7.2.1
        self._flight = 0
        self._gap_acked_any = False
        self._cwnd = min(4 * cfg.mtu, max(2 * cfg.mtu, 4380))  # RFC 9260 §7.2.1
        self._ssthresh = cfg.receive_window
        self._partial_bytes_acked = 0
        self._fast_recovery_exit: int | None = None
        self._peer_rwnd = cfg.receive_window
        self._rto = cfg.rto_initial
        self._srtt: float | None = None
        self._rttvar = 0.0
        self._error_count = 0
        self._init_retransmits = 0
        self._streams_out: dict[int, deque[_OutMessage]] = {}
        self._sched = _Scheduler()  # streams with queued messages (RFC 8260 §3.6 WFQ)
        self._current: _OutMessage | None = None  # DATA mode: the message being fragmented
        self._next_ssn: dict[tuple[int, bool], int] = {}  # (stream, unordered) -> next SSN/MID
        self._buffered: dict[int, int] = {}
        self._low_threshold: dict[int, int] = {}
        self._advanced_peer_ack = self._cum_acked
        self._forward_tsn_needed = False
        self._abandoned_tails: list[_Sent] = []  # see _abandon
        # receive side
        self._peer_cum = 0  # unwrapped, set when the peer's initial TSN is known
        self._peer_initial_tsn = 0
        self._above: set[int] = set()
        self._highest_seen = 0
        self._dups: list[int] = []
        self._sack_now = False
        self._sack_pending = False
        self._data_packets_unacked = 0
        self._fragments: dict[int, DataChunk] = {}
        self._partials: dict[tuple[int, bool, int], _Partial] = {}
        self._in_streams: dict[int, _InStream] = {}
        self._rx_buffered = 0
        # negotiated
        self.interleaving = False
        self.partial_reliability = False
        self.stream_reset = False
        self.zero_checksum_tx = False
        self.outbound_streams = cfg.outbound_streams
        self.inbound_streams = cfg.inbound_streams
        # stream reset (RFC 6525)
        self._reconf_seq = initial_tsn  # §5.1.1: starts at the initial TSN
        self._peer_reconf_seq: int | None = None  # next request sequence expected from the peer
        self._reset_queue: list[int] = []
        self._reset_in_flight: _PendingReset | None = None
        self._paused_streams: set[int] = set()
        self._last_reconf_result: tuple[int, ReconfigResponse] | None = None
        self._deferred_reset: OutgoingSsnResetRequest | None = None
        self._control: list[bytes] = []
        self._building: list[bytes] = []
        self._building_size = 0
        self._init_packet: bytes | None = None
        self._cookie_echo: bytes | None = None
        self._shutdown_chunk_due = False
        self._heartbeat_nonce = 0

    # --- the drive loop --------------------------------------------------------------------

    def connect(self, *, now: float) -> None:
        """Active open (RFC 9260 §5.1 A): send INIT and wait for INIT ACK."""
        if self.state != AssociationState.CLOSED or self._closed_reported:
            raise InvalidStateError(f"connect() in state {self.state.name}")
        self._now = now
        init = InitChunk(self.my_tag, self.config.receive_window, self.config.outbound_streams,
                         self.config.inbound_streams, self._my_initial_tsn & MASK32,
                         self._capability_params())
        self._init_packet = self._packet([init.encode()], vtag=0, force_crc=True)
        self._set_state(AssociationState.COOKIE_WAIT)
        self._tx.append(self._init_packet)
        self._init_retransmits = 0
        self._timers.t1 = now + self._rto

    def handle_packet(self, data: bytes, *, now: float) -> None:
        """One SCTP packet from the peer; bad ones are dropped and counted, never raised."""
        self._now = now
        self.stats.packets_received += 1
        if len(data) < 16:
            self._drop("packet shorter than a header and a chunk", len(data))
            return
        vtag, checksum = _HEADER.unpack_from(data)[2:]
        # RFC 9653 §5.3: a zero checksum is accepted once we have announced that we accept it
        # (in our INIT or INIT ACK); otherwise the CRC32c must be right.
        if not (checksum == 0 and self._zero_checksum_announced) and not check_checksum(data):
            self._drop("bad CRC32c", len(data))
            return
        try:
            chunks = parse_chunks(data)
        except ParseError as exc:
            self._drop(f"unparseable: {exc}", len(data))
            return
        try:
            self._process(vtag, chunks, data)
        except ParseError as exc:
            self._drop(f"malformed: {exc}", len(data))
        self._dirty = True

    def handle_timeout(self, *, now: float) -> None:
        self._now = now
        t = self._timers
        if t.t1 is not None and now >= t.t1:
            self._on_t1()
        if t.t3 is not None and now >= t.t3:
            self._on_t3()
        if t.t2 is not None and now >= t.t2:
            self._on_t2()
        if t.sack is not None and now >= t.sack:
            t.sack = None
            self._sack_now = True
        if t.reconfig is not None and now >= t.reconfig:
            self._on_reconfig_timer()
        if t.heartbeat is not None and now >= t.heartbeat:
            self._on_heartbeat_timer()
        if t.lifetime is not None and now >= t.lifetime:
            self._expire_lifetimes()
        self._dirty = True

    def poll_timeout(self) -> float | None:
        if self._dirty:
            self._flush()
        if self.state == AssociationState.CLOSED:
            return None
        t = self._timers
        best: float | None = None
        for deadline in (t.t1, t.t2, t.t3, t.sack, t.reconfig, t.heartbeat, t.lifetime):
            if deadline is not None and (best is None or deadline < best):
                best = deadline
        return best

    def poll_transmit(self) -> bytes | None:
        if self._dirty:
            self._flush()
        if not self._tx:
            return None
        self.stats.packets_sent += 1  # counted here: a T1 retransmission reuses its packet
        return self._tx.popleft()

    def poll_event(self) -> Event | None:
        """The next event.  Events that sending causes (:class:`BufferedAmountLow` as data
        leaves) appear once :meth:`poll_transmit` has built the packets: polling events does
        not build packets, so a driver can take a burst of input before answering it."""
        return self._events.popleft() if self._events else None

    # --- user actions ------------------------------------------------------------------------

    def send(self, stream_id: int, data: bytes, ppid: int, *, now: float, ordered: bool = True,
             max_retransmits: int | None = None, lifetime: float | None = None,
             counted: bool = True) -> None:
        """Queue one user message on ``stream_id`` (RFC 9260 §10.1 SEND).

        ``max_retransmits`` and ``lifetime`` (seconds) make it partially reliable (RFC 3758):
        once either runs out the message is abandoned and the peer told with FORWARD-TSN.
        ``counted=False`` keeps the message out of :meth:`buffered_amount` (a data channel's
        DCEP messages and the one byte standing for an empty message are not application
        data, W3C bufferedAmount).
        """
        if self.state not in _ACCEPTS_SEND:
            raise InvalidStateError(f"send() in state {self.state.name}")
        if not 0 <= stream_id < 65536:
            raise ValueError(f"stream id {stream_id} out of range")
        if not data:
            raise ValueError("SCTP cannot send an empty message (RFC 9260 §6.2: no user data)")
        if stream_id in self._paused_streams or stream_id in self._reset_queue:
            raise InvalidStateError(f"stream {stream_id} is being reset")
        self._now = now
        if not self.partial_reliability:
            max_retransmits = lifetime = None
        expires = now + lifetime if lifetime is not None else None
        if expires is not None and (self._timers.lifetime is None
                                    or expires < self._timers.lifetime):
            self._timers.lifetime = expires
        message = _OutMessage(stream_id, ppid, bytes(data), ordered, expires, max_retransmits,
                              counted)
        queue = self._streams_out.get(stream_id)
        if queue is None:
            queue = self._streams_out[stream_id] = deque()
        if not queue:
            self._sched.add(stream_id)
        queue.append(message)
        if counted:
            self._buffered[stream_id] = self._buffered.get(stream_id, 0) + len(data)
        self.stats.messages_sent += 1
        self._dirty = True

    def buffered_amount(self, stream_id: int) -> int:
        """Bytes of counted messages queued on ``stream_id`` and not yet sent for the first
        time."""
        return self._buffered.get(stream_id, 0)

    def set_buffered_amount_low_threshold(self, stream_id: int, threshold: int) -> None:
        """Emit :class:`BufferedAmountLow` each time the stream's buffered amount falls from
        above ``threshold`` to at or below it."""
        self._low_threshold[stream_id] = threshold

    def reset_streams(self, stream_ids: Iterable[int], *, now: float) -> None:
        """Reset our outgoing streams (RFC 6525 §5.1.2) once their queued messages are sent;
        :class:`StreamsReset` (``incoming=False``) reports the peer's answer."""
        if self.state != AssociationState.ESTABLISHED:
            raise InvalidStateError(f"reset_streams() in state {self.state.name}")
        if not self.stream_reset:
            raise InvalidStateError("the peer does not support stream reset (RFC 6525)")
        self._now = now
        for sid in stream_ids:
            if sid not in self._reset_queue and sid not in self._paused_streams:
                self._reset_queue.append(sid)
        self._dirty = True

    def shutdown(self, *, now: float) -> None:
        """Graceful close (RFC 9260 §9.2): deliver what is queued, then SHUTDOWN."""
        self._now = now
        if self.state in (AssociationState.COOKIE_WAIT, AssociationState.COOKIE_ECHOED):
            self.abort("shutdown before the association was established", now=now)
            return
        if self.state != AssociationState.ESTABLISHED:
            return
        self._set_state(AssociationState.SHUTDOWN_PENDING)
        self._dirty = True

    def abort(self, reason: str = "", *, now: float) -> None:
        """RFC 9260 §9.1: send ABORT with a User-Initiated Abort cause and close at once."""
        self._now = now
        if self.state == AssociationState.CLOSED:
            return
        if self.peer_tag:
            cause = ErrorCause(CauseCode.USER_INITIATED_ABORT, reason.encode()[:256])
            self._tx.append(self._packet([AbortChunk([cause]).encode()], vtag=self.peer_tag))
        self._close(reason or "aborted", remote=False)

    def lower_layer_closed(self, *, now: float) -> None:
        """The transport below (DTLS, RFC 8261) ended: close without sending anything.

        In SHUTDOWN-ACK-SENT only the peer's SHUTDOWN COMPLETE was still to come, and a peer
        closes its DTLS right after sending it (the close_notify may even overtake it): that
        is a graceful end.  In any other state the association is lost.
        """
        self._now = now
        if self.state == AssociationState.CLOSED:
            return
        if self.state == AssociationState.SHUTDOWN_ACK_SENT:
            self._close(None, remote=True)
        else:
            self._close("the DTLS connection below closed", remote=True)

    # --- input ---------------------------------------------------------------------------------

    def _drop(self, reason: str, size: int) -> None:
        self.stats.packets_dropped += 1
        self._trace("sctp.drop", reason=reason, size=size)

    def _process(self, vtag: int, chunks: list[Chunk], raw: bytes) -> None:
        if not chunks:
            self._drop("no chunks", len(raw))
            return
        first = chunks[0]
        kind = first.TYPE
        if kind in _ORDINARY_FIRST:  # the common case: DATA, SACK, ... under our own tag
            if vtag != self.my_tag or self.state == AssociationState.CLOSED:
                self._drop("wrong verification tag" if self.state != AssociationState.CLOSED
                           else "out of the blue", len(raw))
                return
            self._process_chunks(chunks)
            return
        # RFC 9260 §8.5.1: the exceptions to the verification tag rule.
        if kind == ChunkType.INIT:
            if vtag != 0 or len(chunks) != 1:
                self._drop("INIT with a non-zero tag or bundled", len(raw))
                return
            first = cast(InitChunk, first)
            self._on_init(first)
            return
        if kind == ChunkType.ABORT:
            first = cast(AbortChunk, first)
            expected = self.peer_tag if first.tag_reflected else self.my_tag
            if vtag == expected and self.state != AssociationState.CLOSED:
                self._on_abort(first)
            else:
                self._drop("ABORT with a wrong verification tag", len(raw))
            return
        if kind == ChunkType.SHUTDOWN_COMPLETE:
            first = cast(ShutdownCompleteChunk, first)
            expected = self.peer_tag if first.tag_reflected else self.my_tag
            if vtag == expected and self.state == AssociationState.SHUTDOWN_ACK_SENT:
                self._close(None, remote=True)
            else:
                self._drop("unexpected SHUTDOWN COMPLETE", len(raw))
            return
        if kind == ChunkType.SHUTDOWN_ACK and self.state in (
                AssociationState.CLOSED, AssociationState.COOKIE_WAIT,
                AssociationState.COOKIE_ECHOED):
            # RFC 9260 §8.4 (5): out of the blue SHUTDOWN ACK, answered with a T-bit COMPLETE.
            self._tx.append(self._packet([ShutdownCompleteChunk(True).encode()], vtag=vtag,
                                         force_crc=True))
            return
        if kind == ChunkType.COOKIE_ECHO:
            first = cast(CookieEchoChunk, first)
            if not self._on_cookie_echo(first, vtag):
                return
            chunks = chunks[1:]
        elif vtag != self.my_tag or self.state == AssociationState.CLOSED:
            self._drop("wrong verification tag" if self.state != AssociationState.CLOSED
                       else "out of the blue", len(raw))
            return
        self._process_chunks(chunks)

    def _process_chunks(self, chunks: list[Chunk]) -> None:
        data_seen = False
        for chunk in chunks:
            kind = chunk.TYPE
            if kind in _DATA_TYPES:
                if self.state not in _RECEIVING_STATES:
                    continue
                if (kind == _I_DATA) != self.interleaving:
                    self._protocol_violation("DATA/I-DATA not as negotiated (RFC 8260 §2.2)")
                    return
                data_seen = True
                if not self._on_data(chunk):  # type: ignore[arg-type]
                    return
            elif kind == _SACK:
                self._on_sack(chunk)  # type: ignore[arg-type]
            elif kind == ChunkType.COOKIE_ACK:
                if self.state == AssociationState.COOKIE_ECHOED:
                    self._timers.t1 = None
                    self._established()
            elif kind == ChunkType.INIT_ACK:
                self._on_init_ack(chunk)  # type: ignore[arg-type]
            elif kind == ChunkType.HEARTBEAT:
                chunk = cast(HeartbeatChunk, chunk)
                self._control.append(HeartbeatAckChunk(chunk.info).encode())
            elif kind == ChunkType.HEARTBEAT_ACK:
                self._on_heartbeat_ack(chunk)  # type: ignore[arg-type]
            elif kind == ChunkType.FORWARD_TSN or kind == ChunkType.I_FORWARD_TSN:
                self._on_forward_tsn(chunk)  # type: ignore[arg-type]
            elif kind == ChunkType.RE_CONFIG:
                self._on_reconfig(chunk)  # type: ignore[arg-type]
            elif kind == ChunkType.SHUTDOWN:
                self._on_shutdown(chunk)  # type: ignore[arg-type]
            elif kind == ChunkType.SHUTDOWN_ACK:
                self._on_shutdown_ack()
            elif kind == ChunkType.ERROR:
                chunk = cast(ErrorChunk, chunk)
                self._trace("sctp.error_chunk", causes=[c.describe() for c in chunk.causes])
            elif kind == ChunkType.ABORT:
                self._on_abort(chunk)  # type: ignore[arg-type]
                return
            elif kind in (ChunkType.INIT, ChunkType.COOKIE_ECHO, ChunkType.SHUTDOWN_COMPLETE):
                # RFC 9260 §6.10: these must be alone or first; bundled later they are ignored.
                self._trace("sctp.ignored_chunk", type=kind)
            elif isinstance(chunk, UnknownChunk):
                # RFC 9260 §3.2: the upper two bits of the type say what to do.
                action = chunk.type >> 6
                if action & 1:
                    cause = ErrorCause(CauseCode.UNRECOGNIZED_CHUNK_TYPE, chunk.encode())
                    self._control.append(ErrorChunk([cause]).encode())
                if not action & 2:
                    break
            if self.state == AssociationState.CLOSED:
                return
        if data_seen:
            self._data_packets_unacked += 1
            if self.state == AssociationState.SHUTDOWN_SENT:
                # RFC 9260 §9.2: answer DATA with SHUTDOWN (and a SACK) and restart T2.
                self._shutdown_chunk_due = True
                self._sack_now = True
            elif self._data_packets_unacked >= 2:
                self._sack_now = True
            elif self._timers.sack is None:
                self._timers.sack = self._now + self.config.sack_delay
            self._sack_pending = True
            self._deliver_deferred_reset()

    # --- handshake -----------------------------------------------------------------------------

    def _capability_params(self) -> list[Parameter]:
        cfg = self.config
        extensions: list[int] = [ChunkType.RE_CONFIG]
        if cfg.partial_reliability:
            extensions.append(ChunkType.FORWARD_TSN)
        if cfg.interleaving:
            extensions += [ChunkType.I_DATA]
            if cfg.partial_reliability:
                extensions.append(ChunkType.I_FORWARD_TSN)
        params = [Parameter.supported_extensions(extensions)]
        if cfg.partial_reliability:
            params.append(Parameter(ParamType.FORWARD_TSN_SUPPORTED))
        if cfg.zero_checksum:
            params.append(Parameter.zero_checksum_acceptable(EDMID_DTLS))
            self._zero_checksum_announced = True  # the INIT or INIT ACK carrying it is sent
        return params

    def _peer_capabilities(self, init: InitChunk) -> int:
        ours = self.config
        exts = init.supported_extensions
        caps = 0
        forward = ours.partial_reliability and (
            ChunkType.FORWARD_TSN in exts or init.param(ParamType.FORWARD_TSN_SUPPORTED) is not None
        )
        if forward:
            caps |= _CAP_FORWARD_TSN
        # RFC 8260 §2.3: with partial reliability both sides must also do I-FORWARD-TSN.
        if ours.interleaving and ChunkType.I_DATA in exts and (
                not forward or ChunkType.I_FORWARD_TSN in exts):
            caps |= _CAP_IDATA
        if ChunkType.RE_CONFIG in exts:
            caps |= _CAP_RECONFIG
        if init.zero_checksum_edmid == EDMID_DTLS and ours.zero_checksum:
            caps |= _CAP_ZERO_CHECKSUM
        return caps

    def _unknown_params(self, init: InitChunk) -> tuple[bool, list[Parameter]]:
        """RFC 9260 §3.2.1: (keep the INIT?, parameters to report as unrecognized)."""
        known = {int(t) for t in ParamType}
        report = []
        for param in init.params:
            if param.type in known:
                continue
            action = param.type >> 14
            if action & 1:
                report.append(param)
            if not action & 2:
                return False, report
        return True, report

    def _on_init(self, init: InitChunk) -> None:
        if init.initiate_tag == 0 or init.outbound_streams == 0 or init.inbound_streams == 0:
            # RFC 9260 §3.3.2: a zero tag or stream count is answered with ABORT.
            cause = ErrorCause(CauseCode.INVALID_MANDATORY_PARAMETER)
            self._tx.append(self._packet([AbortChunk([cause]).encode()], vtag=init.initiate_tag,
                                         force_crc=True))
            return
        keep, unknown = self._unknown_params(init)
        if not keep:
            self._trace("sctp.init_ignored", reason="unrecognized parameter")
            return
        state = self.state
        if state in (AssociationState.COOKIE_WAIT, AssociationState.COOKIE_ECHOED):
            # RFC 9260 §5.2.1: an INIT collision; answer with the tag of our own INIT.
            my_tag, my_tsn, tie = self.my_tag, self._my_initial_tsn, (0, 0)
        elif state == AssociationState.CLOSED:
            my_tag, my_tsn, tie = self._random_tag(), self._random_u32(), (0, 0)
        else:
            # RFC 9260 §5.2.2: an unexpected INIT: a new tag, the current ones as tie tags.
            if state == AssociationState.SHUTDOWN_ACK_SENT:
                return
            my_tag, my_tsn, tie = self._random_tag(), self._random_u32(), (
                self.my_tag, self.peer_tag)
        self._peer_init_tag = init.initiate_tag
        cookie = _Cookie(
            my_tag, init.initiate_tag, my_tsn & MASK32, init.initial_tsn, init.a_rwnd,
            min(self.config.outbound_streams, init.inbound_streams),
            min(self.config.inbound_streams, init.outbound_streams),
            self._peer_capabilities(init), self._now, *tie,
        )
        params = [Parameter(ParamType.STATE_COOKIE, self._make_cookie(cookie)),
                  *self._capability_params()]
        params += [Parameter(ParamType.UNRECOGNIZED_PARAMETER, p.encode()) for p in unknown]
        ack = InitAckChunk(my_tag, self.config.receive_window, self.config.outbound_streams,
                           self.config.inbound_streams, my_tsn & MASK32, params)
        self._tx.append(self._packet([ack.encode()], vtag=init.initiate_tag, force_crc=True))
        self._trace("sctp.init_ack_sent", state=state.name)

    def _make_cookie(self, c: _Cookie) -> bytes:
        body = _COOKIE.pack(c.my_tag, c.peer_tag, c.my_initial_tsn, c.peer_initial_tsn,
                            c.peer_rwnd, c.outbound_streams, c.inbound_streams, c.capabilities,
                            c.created, c.tie_my_tag, c.tie_peer_tag)
        mac = hmac.HMAC(self._secret, hashes.SHA256())
        mac.update(body)
        return body + mac.finalize()[:_COOKIE_MAC_LEN]

    def _read_cookie(self, data: bytes) -> _Cookie | None:
        if len(data) != _COOKIE.size + _COOKIE_MAC_LEN:
            return None
        body = data[: _COOKIE.size]
        mac = hmac.HMAC(self._secret, hashes.SHA256())
        mac.update(body)
        if not constant_time.bytes_eq(mac.finalize()[:_COOKIE_MAC_LEN], data[_COOKIE.size:]):
            return None
        return _Cookie(*_COOKIE.unpack(body))

    def _on_init_ack(self, ack: InitAckChunk) -> None:
        if self.state != AssociationState.COOKIE_WAIT:
            return  # RFC 9260 §5.2.3: discarded in any other state
        cookie = ack.state_cookie
        if cookie is None or ack.initiate_tag == 0:
            self._protocol_violation("INIT ACK without a State Cookie or with a zero tag")
            return
        self._timers.t1 = None
        self._adopt_peer(ack.initiate_tag, ack.initial_tsn, ack.a_rwnd,
                         min(self.config.outbound_streams, ack.inbound_streams),
                         min(self.config.inbound_streams, ack.outbound_streams),
                         self._peer_capabilities(ack))
        self._cookie_echo = CookieEchoChunk(cookie).encode()
        self._set_state(AssociationState.COOKIE_ECHOED)
        self._tx.append(self._packet([self._cookie_echo], vtag=self.peer_tag, force_crc=True))
        self._init_retransmits = 0
        self._timers.t1 = self._now + self._rto

    def _adopt_peer(self, peer_tag: int, peer_tsn: int, peer_rwnd: int, outbound: int,
                    inbound: int, caps: int) -> None:
        self.peer_tag = peer_tag
        self._peer_cum = peer_tsn - 1  # unwrapped from here on (may be -1)
        self._peer_initial_tsn = peer_tsn
        self._highest_seen = self._peer_cum
        self._peer_rwnd = peer_rwnd
        self.outbound_streams = outbound
        self.inbound_streams = inbound
        self.partial_reliability = bool(caps & _CAP_FORWARD_TSN)
        self.interleaving = bool(caps & _CAP_IDATA)
        self.stream_reset = bool(caps & _CAP_RECONFIG)
        self.zero_checksum_tx = bool(caps & _CAP_ZERO_CHECKSUM)

    def _on_cookie_echo(self, echo: CookieEchoChunk, vtag: int) -> bool:
        """RFC 9260 §5.1.5 and §5.2.4; True when the chunks after it are to be processed."""
        cookie = self._read_cookie(echo.cookie)
        if cookie is None or vtag != cookie.my_tag:
            self._drop("COOKIE ECHO with a bad MAC or tag", len(echo.cookie))
            return False
        if self._now > cookie.created + self.config.cookie_lifetime:
            stale = int((self._now - cookie.created - self.config.cookie_lifetime) * 1e6)
            cause = ErrorCause(CauseCode.STALE_COOKIE, struct.pack("!I", min(stale, MASK32)))
            self._tx.append(self._packet([ErrorChunk([cause]).encode()], vtag=cookie.peer_tag,
                                         force_crc=True))
            return False
        state = self.state
        if state in (AssociationState.CLOSED, AssociationState.COOKIE_WAIT,
                     AssociationState.COOKIE_ECHOED):
            if state != AssociationState.CLOSED and cookie.my_tag != self.my_tag:
                self._drop("COOKIE ECHO for another INIT", 0)
                return False
            if state == AssociationState.CLOSED:
                self._reset_association(cookie.my_tag, cookie.my_initial_tsn)
            self._timers.t1 = None
            self._adopt_peer(cookie.peer_tag, cookie.peer_initial_tsn, cookie.peer_rwnd,
                             cookie.outbound_streams, cookie.inbound_streams, cookie.capabilities)
            self._control.append(CookieAckChunk().encode())
            self._established()
            return True
        if cookie.my_tag == self.my_tag and cookie.peer_tag == self.peer_tag:
            # §5.2.4 case D: our COOKIE ACK was lost; send it again.
            self._control.append(CookieAckChunk().encode())
            return True
        if (cookie.tie_my_tag == self.my_tag and cookie.tie_peer_tag == self.peer_tag
                and cookie.peer_tag != self.peer_tag):
            # §5.2.4 case A: the peer restarted.  Everything in flight is lost; start afresh.
            self._trace("sctp.restart")
            self._reset_association(cookie.my_tag, cookie.my_initial_tsn)
            self._adopt_peer(cookie.peer_tag, cookie.peer_initial_tsn, cookie.peer_rwnd,
                             cookie.outbound_streams, cookie.inbound_streams, cookie.capabilities)
            self._timers = _Timers()
            self._control.append(CookieAckChunk().encode())
            self._set_state(AssociationState.COOKIE_ECHOED)
            self._established()
            return True
        self._drop("COOKIE ECHO that matches no case of RFC 9260 §5.2.4", 0)
        return False

    def _established(self) -> None:
        self._set_state(AssociationState.ESTABLISHED)
        self._init_packet = self._cookie_echo = None
        if self.config.heartbeat_interval is not None:
            self._timers.heartbeat = self._now + self.config.heartbeat_interval + self._rto
        self._events.append(Connected(
            self.outbound_streams, self.inbound_streams, self.interleaving,
            self.partial_reliability, self.stream_reset, self.zero_checksum_tx, self._peer_rwnd,
        ))

    def _on_t1(self) -> None:
        self._timers.t1 = None
        packet: bytes | None
        if self.state == AssociationState.COOKIE_WAIT:
            packet = self._init_packet
        elif self.state == AssociationState.COOKIE_ECHOED and self._cookie_echo is not None:
            packet = self._packet([self._cookie_echo], vtag=self.peer_tag, force_crc=True)
        else:
            return
        self._init_retransmits += 1
        if self._init_retransmits > self.config.max_init_retransmits or packet is None:
            self._close("association set-up timed out (T1)", remote=False)
            return
        self._rto = min(self._rto * 2, self.config.rto_max)  # RFC 9260 §6.3.3 E2
        self._tx.append(packet)
        self._timers.t1 = self._now + self._rto
        self._trace("sctp.t1_retransmit", state=self.state.name, count=self._init_retransmits)

    # --- receiving data ------------------------------------------------------------------------

    def _on_data(self, chunk: DataChunk | IDataChunk) -> bool:
        """RFC 9260 §6.2; False when the association was aborted."""
        self.stats.data_chunks_received += 1
        if not chunk.user_data:
            cause = ErrorCause(CauseCode.NO_USER_DATA, struct.pack("!I", chunk.tsn))
            self.abort_with(cause, "DATA chunk without user data (RFC 9260 §6.2)")
            return False
        tsn = _unwrap32(chunk.tsn, self._peer_cum)
        if tsn <= self._peer_cum or tsn in self._above:
            self.stats.duplicate_tsns += 1
            if len(self._dups) < 64:
                self._dups.append(chunk.tsn)
            self._sack_now = True
            return True
        if tsn - self._peer_cum > 0xFFFF:
            # A gap no SACK can report (gap offsets are 16 bits, RFC 9260 §3.3.4), far past
            # any window: drop it rather than remember it.
            self._trace("sctp.tsn_out_of_window", tsn=chunk.tsn)
            return True
        if chunk.stream_id >= self.inbound_streams:
            # RFC 9260 §6.5: report the bad stream; the TSN still counts as received.
            cause = ErrorCause(CauseCode.INVALID_STREAM_IDENTIFIER,
                               struct.pack("!HH", chunk.stream_id, 0))
            self._control.append(ErrorChunk([cause]).encode())
            self._mark_received(tsn)
            return True
        if self._rx_buffered >= self.config.receive_window and tsn > self._peer_cum + 1:
            # RFC 9260 §6.2: no room; drop it unless it advances the cumulative TSN.
            self._trace("sctp.rwnd_drop", tsn=chunk.tsn)
            self._sack_now = True
            return True
        if chunk.immediate:
            self._sack_now = True
        if tsn != self._peer_cum + 1:
            self._sack_now = True  # RFC 9260 §6.7: report a gap at once
        elif self._above:
            self._sack_now = True  # it fills a gap
        self._mark_received(tsn)
        size = len(chunk.user_data)
        self.stats.bytes_received += size
        if isinstance(chunk, DataChunk):
            if chunk.beginning and chunk.ending:
                self._deliver(chunk.stream_id, chunk.unordered, chunk.ssn, chunk.ppid,
                              chunk.user_data, wrap16=True)
            else:
                self._fragments[tsn] = chunk
                self._rx_buffered += size
                if chunk.ending or tsn < self._highest_seen:
                    return self._reassemble_data(tsn)
        else:
            return self._on_idata(chunk, tsn)
        return True

    def _mark_received(self, tsn: int) -> None:
        if tsn == self._peer_cum + 1:
            self._peer_cum = tsn
            if self._above:
                self._advance_cum()
        else:
            self._above.add(tsn)
        if tsn > self._highest_seen:
            self._highest_seen = tsn

    def _reassemble_data(self, tsn: int) -> bool:
        """RFC 9260 §6.9: DATA fragments of one message have consecutive TSNs from B to E."""
        frags = self._fragments
        chunk = frags[tsn]
        start = tsn
        while not frags[start].beginning:
            start -= 1
            prev = frags.get(start)
            if prev is None or prev.stream_id != chunk.stream_id or prev.ending:
                return True
        end = tsn
        while not frags[end].ending:
            end += 1
            nxt = frags.get(end)
            if nxt is None or nxt.stream_id != chunk.stream_id or nxt.beginning:
                return True
        parts = [frags.pop(t) for t in range(start, end + 1)]
        data = b"".join(p.user_data for p in parts)
        self._rx_buffered -= len(data)
        if len(data) > self.config.max_message_size:
            return self._too_large(len(data))
        first = parts[0]
        self._deliver(first.stream_id, first.unordered, first.ssn, first.ppid, data, wrap16=True)
        return True

    def _on_idata(self, chunk: IDataChunk, tsn: int) -> bool:
        """RFC 8260 §2.1: fragments are named by (stream, U, MID) and FSN."""
        key = (chunk.stream_id, chunk.unordered, chunk.mid)
        if chunk.beginning and chunk.ending:
            self._deliver(chunk.stream_id, chunk.unordered, chunk.mid, chunk.ppid,
                          chunk.user_data, wrap16=False)
            return True
        partial = self._partials.get(key)
        if partial is None:
            partial = self._partials[key] = _Partial()
        fsn = chunk.fsn
        if chunk.beginning:
            partial.ppid = chunk.ppid
        if chunk.ending:
            partial.last_fsn = fsn
        if fsn in partial.fragments or (partial.last_fsn is not None and fsn > partial.last_fsn):
            self._protocol_violation("I-DATA fragment sequence inconsistent")
            return False
        partial.fragments[fsn] = chunk.user_data
        partial.tsns.append(tsn)
        size = len(chunk.user_data)
        partial.size += size
        self._rx_buffered += size
        if partial.size > self.config.max_message_size:
            return self._too_large(partial.size)
        if partial.last_fsn is not None and len(partial.fragments) == partial.last_fsn + 1:
            del self._partials[key]
            self._rx_buffered -= partial.size
            data = b"".join(partial.fragments[i] for i in range(partial.last_fsn + 1))
            self._deliver(chunk.stream_id, chunk.unordered, chunk.mid, partial.ppid, data,
                          wrap16=False)
        return True

    def _too_large(self, size: int) -> bool:
        self._protocol_violation(
            f"message of at least {size} bytes exceeds max-message-size "
            f"{self.config.max_message_size} (RFC 8841 §6)")
        return False

    def _deliver(self, sid: int, unordered: bool, number: int, ppid: int, data: bytes, *,
                 wrap16: bool) -> None:
        """RFC 9260 §6.6: unordered messages at once, ordered ones in SSN (or MID) order."""
        if unordered:
            self.stats.messages_received += 1
            self._events.append(MessageReceived(sid, ppid, data, False))
            return
        stream = self._in_streams.get(sid)
        if stream is None:
            stream = self._in_streams[sid] = _InStream()
        expected = stream.expected
        n = _unwrap16(number, expected) if wrap16 else _unwrap32(number, expected)
        if n == expected and not stream.pending:
            stream.expected = expected + 1
            self.stats.messages_received += 1
            self._events.append(MessageReceived(sid, ppid, data, True))
            return
        if n < expected:
            self._trace("sctp.stale_ssn", stream=sid, ssn=number)
            return
        stream.pending[n] = (ppid, data)
        self._rx_buffered += len(data)
        self._drain_stream(sid, stream)

    def _drain_stream(self, sid: int, stream: _InStream) -> None:
        pending = stream.pending
        while stream.expected in pending:
            ppid, data = pending.pop(stream.expected)
            self._rx_buffered -= len(data)
            stream.expected += 1
            self.stats.messages_received += 1
            self._events.append(MessageReceived(sid, ppid, data, True))

    def _on_forward_tsn(self, chunk: ForwardTsnChunk | IForwardTsnChunk) -> None:
        """RFC 3758 §3.6 and RFC 8260 §2.3.2: skip abandoned messages."""
        if not self.partial_reliability:
            return
        new_cum = _unwrap32(chunk.new_cumulative_tsn, self._peer_cum)
        self._sack_now = True
        if new_cum <= self._peer_cum:
            return
        above = self._above
        for tsn in [t for t in above if t <= new_cum]:
            above.discard(tsn)
        self._peer_cum = new_cum
        self._advance_cum()
        if new_cum > self._highest_seen:
            self._highest_seen = new_cum
        for tsn in [t for t in self._fragments if t <= new_cum]:
            self._rx_buffered -= len(self._fragments.pop(tsn).user_data)
        if isinstance(chunk, IForwardTsnChunk):
            for sid, unordered, mid in chunk.streams:
                for key in [k for k in self._partials if k[0] == sid and k[1] == unordered]:
                    if _unwrap32(key[2], mid) <= mid:
                        self._rx_buffered -= self._partials.pop(key).size
                if not unordered:
                    self._skip_ordered(sid, mid, wrap16=False)
        else:
            for sid, ssn in chunk.streams:
                self._skip_ordered(sid, ssn, wrap16=True)
        # Fragments left behind may now complete (their predecessors were skipped).
        self._deliver_deferred_reset()

    def _advance_cum(self) -> None:
        """Move the cumulative TSN over the TSNs above it that have now become contiguous."""
        cum, above = self._peer_cum, self._above
        while cum + 1 in above:
            cum += 1
            above.discard(cum)
        self._peer_cum = cum

    def _skip_ordered(self, sid: int, number: int, *, wrap16: bool) -> None:
        stream = self._in_streams.get(sid)
        if stream is None:
            stream = self._in_streams[sid] = _InStream()
        n = _unwrap16(number, stream.expected) if wrap16 else _unwrap32(number, stream.expected)
        if n >= stream.expected:
            for old in [k for k in stream.pending if k <= n]:
                self._rx_buffered -= len(stream.pending.pop(old)[1])
            stream.expected = n + 1
        self._drain_stream(sid, stream)

    def _build_sack(self) -> bytes:
        cum = self._peer_cum
        gaps: list[tuple[int, int]] = []
        if self._above:
            start = prev = -1
            for tsn in sorted(self._above):
                if tsn == prev + 1:
                    prev = tsn
                    continue
                if start >= 0:
                    gaps.append((start - cum, prev - cum))
                start = prev = tsn
            gaps.append((start - cum, prev - cum))
            gaps = [g for g in gaps if g[1] <= 0xFFFF][:100]
        rwnd = max(0, self.config.receive_window - self._rx_buffered)
        sack = SackChunk(cum & MASK32, rwnd, gaps, self._dups)
        self._dups = []
        self._sack_now = self._sack_pending = False
        self._data_packets_unacked = 0
        self._timers.sack = None
        self.stats.sacks_sent += 1
        return sack.encode()

    # --- sending data --------------------------------------------------------------------------

    def _on_sack(self, sack: SackChunk) -> None:
        """RFC 9260 §6.2.1, §7.2: acknowledgements, window, loss detection, cwnd."""
        if self.state not in _SENDING_STATES:
            return
        self.stats.sacks_received += 1
        cum = _unwrap32(sack.cumulative_tsn, self._cum_acked)
        if cum < self._cum_acked:
            return  # §6.2.1 D i): an old SACK
        if cum >= self._next_tsn:
            self._protocol_violation("SACK acknowledges a TSN never sent")
            return
        now = self._now
        outstanding = self._outstanding
        flight_before = self._flight
        bytes_acked = 0
        newly_acked_highest = -1
        rtt_sample: float | None = None
        advanced = cum > self._cum_acked
        while outstanding and outstanding[0].tsn <= cum:
            sent = outstanding.popleft()
            if not sent.acked and not sent.abandoned:
                bytes_acked += sent.size
                newly_acked_highest = sent.tsn
            if sent.in_flight:
                # cleared too: an abandoned message still lists its acked fragments
                sent.in_flight = False
                self._flight -= sent.size
            if sent.sends == 1 and not sent.abandoned:
                rtt_sample = now - sent.sent_at
        self._cum_acked = cum
        if cum > self._advanced_peer_ack:
            self._advanced_peer_ack = cum
        if sack.gaps or self._gap_acked_any:
            highest_gap = cum
            gap_set: list[tuple[int, int]] = [(cum + s, cum + e) for s, e in sack.gaps if s <= e]
            any_acked = False
            for sent in outstanding:
                tsn = sent.tsn
                inside = False
                for lo, hi in gap_set:
                    if lo <= tsn <= hi:
                        inside = True
                        break
                if inside:
                    any_acked = True
                    if not sent.acked:
                        sent.acked = True
                        if not sent.abandoned:
                            bytes_acked += sent.size
                            newly_acked_highest = max(newly_acked_highest, tsn)
                        if sent.in_flight:
                            sent.in_flight = False
                            self._flight -= sent.size
                        sent.retransmit = False
                        if sent.sends == 1:
                            rtt_sample = now - sent.sent_at
                    highest_gap = tsn
                elif sent.acked:
                    sent.acked = False  # reneged (§6.2.1 D iv)
            self._gap_acked_any = any_acked
            if any_acked:
                self._detect_losses(min(newly_acked_highest, highest_gap)
                                    if newly_acked_highest >= 0 else -1)
        if rtt_sample is not None:
            self._update_rto(rtt_sample)
        # §6.2.1 D iv: the peer's window less what is still in flight.
        self._peer_rwnd = max(0, sack.a_rwnd - self._flight)
        if bytes_acked:
            self._error_count = 0
            self._grow_cwnd(bytes_acked, flight_before, advanced)
        if self._fast_recovery_exit is not None and cum >= self._fast_recovery_exit:
            self._fast_recovery_exit = None
        # §6.3.2 R2/R3: the T3 timer follows the earliest outstanding chunk.
        if not self._flight:  # nothing in flight (the flight size counts exactly those chunks)
            self._timers.t3 = None
        elif advanced:
            self._timers.t3 = now + self._rto
        if self.partial_reliability:
            self._advance_peer_ack_point(resend=True)
        if self.state in _DRAINING_STATES:
            self._check_shutdown_progress()

    def _detect_losses(self, highest_newly_acked: int) -> None:
        """RFC 9260 §7.2.4: three miss indications trigger a fast retransmit."""
        if highest_newly_acked < 0:
            return
        lost = False
        for sent in self._outstanding:
            if sent.tsn >= highest_newly_acked:
                break
            if sent.acked or sent.abandoned or sent.fast_retransmitted:
                continue
            sent.misses += 1
            if sent.misses >= 3:
                sent.misses = 0
                sent.fast_retransmitted = True
                self._mark_retransmit(sent)
                self.stats.fast_retransmissions += 1
                lost = True
        if lost and self._fast_recovery_exit is None:
            mtu = self.config.mtu
            self._ssthresh = max(self._cwnd // 2, 4 * mtu)
            self._cwnd = self._ssthresh
            self._partial_bytes_acked = 0
            self._fast_recovery_exit = self._next_tsn - 1
            self._trace("sctp.fast_recovery", cwnd=self._cwnd)

    def _mark_retransmit(self, sent: _Sent) -> None:
        if sent.in_flight:
            sent.in_flight = False
            self._flight -= sent.size
        message = sent.message
        if message.max_retransmits is not None and sent.sends > message.max_retransmits:
            self._abandon(message)
            return
        if message.expires is not None and self._now >= message.expires:
            self._abandon(message)
            return
        sent.retransmit = True
        self._rtx_pending = True

    def _grow_cwnd(self, bytes_acked: int, flight_before: int, advanced: bool) -> None:
        mtu = self.config.mtu
        if self._fast_recovery_exit is not None:
            return  # §7.2.4: cwnd does not grow during fast recovery
        if self._cwnd <= self._ssthresh:
            # §7.2.1: slow start, when the window was in use.
            if flight_before + mtu >= self._cwnd and advanced:
                self._cwnd += min(bytes_acked, mtu)
        else:
            # §7.2.2: congestion avoidance, one MTU per window of acknowledged bytes.
            self._partial_bytes_acked += bytes_acked
            if self._partial_bytes_acked >= self._cwnd and flight_before + mtu >= self._cwnd:
                self._partial_bytes_acked -= self._cwnd
                self._cwnd += mtu

    def _update_rto(self, r: float) -> None:
        """RFC 9260 §6.3.1: SRTT, RTTVAR and RTO from one measurement (alpha 1/8, beta 1/4)."""
        cfg = self.config
        if self._srtt is None:
            self._srtt = r
            self._rttvar = r / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - r)
            self._srtt = 0.875 * self._srtt + 0.125 * r
        self._rto = min(max(self._srtt + 4 * self._rttvar, cfg.rto_min), cfg.rto_max)

    def _on_t3(self) -> None:
        """RFC 9260 §6.3.3: retransmit what is outstanding, collapse cwnd, back off."""
        self._timers.t3 = None
        if not self._outstanding:
            return
        self.stats.t3_expirations += 1
        self._error_count += 1
        if self._error_count > self.config.max_retransmits:
            self.abort_with(ErrorCause(CauseCode.PROTOCOL_VIOLATION,
                                       b"too many retransmissions"),
                            "peer unreachable: too many retransmissions (RFC 9260 §8.1)")
            return
        mtu = self.config.mtu
        self._ssthresh = max(self._cwnd // 2, 4 * mtu)
        self._cwnd = mtu
        self._partial_bytes_acked = 0
        self._fast_recovery_exit = None
        self._rto = min(self._rto * 2, self.config.rto_max)
        for sent in list(self._outstanding):
            if not sent.acked and not sent.abandoned:
                self._mark_retransmit(sent)
        if self.partial_reliability:
            self._advance_peer_ack_point(resend=True)
        self._trace("sctp.t3_expired", rto=self._rto, outstanding=len(self._outstanding))

    def _abandon(self, message: _OutMessage) -> None:
        """RFC 3758 §3.5: give up on a message; its chunks are skipped with FORWARD-TSN."""
        if message.abandoned:
            return
        message.abandoned = True
        self.stats.abandoned_messages += 1
        for sent in message.fragments:
            sent.abandoned = True
            sent.retransmit = False
            if sent.in_flight:
                sent.in_flight = False
                self._flight -= sent.size
        if message.offset < len(message.data):
            # Fragments never sent: drop them; a message already started still needs its
            # SSN skipped, which the FORWARD-TSN does.
            remaining = len(message.data) - message.offset
            message.offset = len(message.data)
            self._unbuffer(message, remaining)
            # Take it off its queue, or the scheduler would send it again with nothing left:
            # an empty DATA chunk, which the peer answers with ABORT (RFC 9260 §6.2).  Only the
            # head of a stream's queue is ever partly sent.
            queue = self._streams_out.get(message.stream_id)
            if queue and queue[0] is message:
                self._finish_message(message)
            elif self._current is message:
                self._current = None
            if message.mid >= 0:
                # The peer holds the first fragments and waits for the rest.  Give the missing
                # tail one TSN, never sent, so that the FORWARD-TSN covers this message and
                # names its SSN (MID) even if every fragment sent has been acknowledged.
                tsn = self._next_tsn
                self._next_tsn = tsn + 1
                # (Queued, not appended: the caller may be iterating the outstanding chunks.)
                tail = _Sent(tsn, b"", 0, message)
                tail.abandoned = True
                self._abandoned_tails.append(tail)
        self._forward_tsn_needed = True

    def _advance_peer_ack_point(self, *, resend: bool = False) -> None:
        """RFC 3758 §3.5 C1-C3: move past abandoned chunks; FORWARD-TSN if it moved.

        With ``resend`` (a SACK arrived, C3, or T3 expired, A5) the FORWARD-TSN goes again
        whenever the point is still ahead of the peer's cumulative TSN: the last one may have
        been lost, and nothing else would ever move the peer past the abandoned chunks.
        """
        if self._abandoned_tails:
            self._outstanding.extend(self._abandoned_tails)
            self._abandoned_tails.clear()
        point = max(self._advanced_peer_ack, self._cum_acked)
        for sent in self._outstanding:
            if sent.tsn != point + 1:
                break
            if not sent.abandoned:
                break
            point = sent.tsn
        if point > self._advanced_peer_ack or (resend and point > self._cum_acked):
            self._advanced_peer_ack = point
            self._forward_tsn_needed = True
        if self._advanced_peer_ack <= self._cum_acked:
            self._forward_tsn_needed = False

    def _build_forward_tsn(self) -> bytes:
        point = self._advanced_peer_ack
        # RFC 3758 §3.5 C4: the stream and SSN (MID) of each skipped message, i.e. of the
        # abandoned chunks up to the new cumulative TSN; later ones are not skipped yet, and
        # older ones belong to SSNs the peer is past (or to a stream reset since).
        skipped: dict[tuple[int, bool], int] = {}
        for sent in self._outstanding:
            if sent.tsn > point:
                break
            message = sent.message
            if message.mid >= 0:
                key = (message.stream_id, not message.ordered)
                if skipped.get(key, -1) < message.mid:
                    skipped[key] = message.mid
        if self.interleaving:
            streams = [(sid, unordered, mid & MASK32)
                       for (sid, unordered), mid in sorted(skipped.items())]
            chunk: Chunk = IForwardTsnChunk(point & MASK32, streams)
        else:
            chunk = ForwardTsnChunk(point & MASK32, [
                (sid, mid & 0xFFFF) for (sid, unordered), mid in
                sorted(skipped.items()) if not unordered])
        self._forward_tsn_needed = False
        if self._timers.t3 is None:
            self._timers.t3 = self._now + self._rto  # §3.5 C4: it is retransmitted on T3
        return chunk.encode()

    def _expire_lifetimes(self) -> None:
        """RFC 3758 §3.5 A2: abandon every message whose lifetime ran out, sent or not, and
        re-arm the lifetime timer at the next expiry."""
        self._timers.lifetime = None
        if not self.partial_reliability:
            return
        now = self._now
        soonest: float | None = None
        for sent in self._outstanding:
            message = sent.message
            if message.abandoned or message.expires is None or sent.acked:
                continue
            if now >= message.expires:
                self._abandon(message)
            elif soonest is None or message.expires < soonest:
                soonest = message.expires
        for sid, queue in self._streams_out.items():
            if not queue:
                continue
            keep: deque[_OutMessage] = deque()
            for message in queue:
                expires = message.expires
                if expires is None or message.mid >= 0:  # no lifetime, or being sent
                    keep.append(message)
                    if expires is not None and (soonest is None or expires < soonest):
                        soonest = expires
                elif now >= expires:
                    self.stats.abandoned_messages += 1  # never sent: nothing to skip
                    self._unbuffer(message, len(message.data))
                else:
                    keep.append(message)
                    if soonest is None or expires < soonest:
                        soonest = expires
            if len(keep) != len(queue):
                queue.clear()
                queue.extend(keep)
                if not queue:
                    self._sched.remove(sid)
        self._timers.lifetime = soonest
        self._advance_peer_ack_point()

    def _unbuffer(self, message: _OutMessage, size: int) -> None:
        """``size`` bytes of ``message`` left the queue (sent, or abandoned unsent)."""
        if not message.counted:
            return
        sid = message.stream_id
        before = self._buffered.get(sid, 0)
        after = before - size
        self._buffered[sid] = after
        threshold = self._low_threshold.get(sid)
        if threshold is not None and before > threshold >= after:
            self._events.append(BufferedAmountLow(sid))

    # --- the packet builder ------------------------------------------------------------------

    def _packet(self, chunks: list[bytes], *, vtag: int, force_crc: bool = False) -> bytes:
        parts = [_HEADER.pack(self.config.local_port, self.config.remote_port, vtag, 0)]
        for chunk in chunks:
            parts.append(chunk)
            if len(chunk) & 3:
                parts.append(_PADDING[-len(chunk) & 3])
        data = b"".join(parts)
        if self.zero_checksum_tx and not force_crc:
            return data
        return with_checksum(data)

    def _flush(self) -> None:
        """Bundle control chunks, retransmissions and new data into packets (RFC 9260 §6.10)."""
        self._dirty = False
        state = self.state
        if state in _UNESTABLISHED_STATES:
            if self._control and self.peer_tag:
                self._tx.append(self._packet(self._control, vtag=self.peer_tag))
            self._control = []
            return
        now = self._now
        for encoded in self._control:
            self._add(encoded)
        self._control = []
        if self._shutdown_chunk_due:
            self._shutdown_chunk_due = False
            self._add(ShutdownChunk(self._peer_cum & MASK32).encode())
            self._timers.t2 = now + self._rto
        if self._sack_now:
            self._add(self._build_sack())
        if self._forward_tsn_needed and self.partial_reliability:
            self._add(self._build_forward_tsn())
        self._send_reconfig()
        if self._outstanding:
            self._send_retransmissions()
        if state in _NEW_DATA_STATES and (self._sched or self._current):
            self._send_new_data()
        self._emit()
        if self._sack_pending and self._timers.sack is None and not self._sack_now:
            self._timers.sack = now + self.config.sack_delay
        if state in _DRAINING_STATES:
            self._check_shutdown_progress()
            if self._control or self._shutdown_chunk_due:
                self._flush()

    def _add(self, encoded: bytes) -> None:
        """Put one chunk into the packet being built, starting a new packet when it is full."""
        n = len(encoded) + (-len(encoded) & 3)
        if self._building_size + n > self.config.mtu - 12:
            self._emit()
        self._building.append(encoded)
        self._building_size += n

    def _emit(self) -> None:
        if self._building:
            self._tx.append(self._packet(self._building, vtag=self.peer_tag))
            self._building = []
            self._building_size = 0

    def _send_retransmissions(self) -> None:
        """Chunks marked for retransmission, oldest first (``_rtx_pending`` spares the scan of
        the outstanding queue on the common path, when nothing is marked)."""
        if not self._rtx_pending:
            return
        now = self._now
        first = True
        for sent in self._outstanding:
            if not sent.retransmit:
                continue
            # §7.2.4: the first fast retransmission goes regardless of cwnd; the rest within it.
            if not first and self._flight + sent.size > self._cwnd:
                return  # more remain marked: _rtx_pending stays set
            first = False
            sent.retransmit = False
            sent.sends += 1
            sent.sent_at = now
            sent.in_flight = True
            self._flight += sent.size
            self.stats.retransmissions += 1
            self._add(sent.encoded)
            if self._timers.t3 is None:
                self._timers.t3 = now + self._rto
        self._rtx_pending = False

    def _send_new_data(self) -> None:
        """Cut queued messages into chunks while cwnd and the peer's window allow (§6.1)."""
        now = self._now
        interleaving = self.interleaving
        header_len = 20 if interleaving else 16
        room = self.config.mtu - 12
        outstanding = self._outstanding
        stats = self.stats
        if not self._flight and self._last_data_sent is not None:
            self._decay_idle_cwnd(now)
        self._last_data_sent = now
        while True:
            # §6.1 A/B: cwnd (overshooting by at most one packet), and the peer's window, with
            # one probe chunk when it is zero and nothing is in flight.
            if self._flight >= self._cwnd:
                break
            if self._peer_rwnd <= 0 and self._flight > 0:
                break
            message = self._next_message()
            if message is None:
                break
            remaining = len(message.data) - message.offset
            space = (room - self._building_size - header_len) & ~3  # padding included
            if space < remaining and space < 256:
                # Rather than cut a sliver off the message, start the next packet.
                self._emit()
                space = (room - header_len) & ~3
            take = min(remaining, space)
            begin = message.offset == 0
            if begin:
                if interleaving or message.ordered:
                    key = (message.stream_id, not message.ordered)
                    message.mid = self._next_ssn.get(key, 0)
                    self._next_ssn[key] = message.mid + 1
                else:
                    message.mid = 0
            offset = message.offset
            message.offset = offset + take
            end = offset + take == len(message.data)
            tsn = self._next_tsn
            self._next_tsn = tsn + 1
            flags = (1 if end else 0) | (2 if begin else 0) | (0 if message.ordered else 4)
            if interleaving:
                last = message.ppid if begin else message.fsn
                header = _IDATA_HEADER.pack(64, flags, 20 + take, tsn & MASK32,
                                            message.stream_id, 0, message.mid & MASK32, last)
                message.fsn += 1
            else:
                header = _DATA_HEADER.pack(0, flags, 16 + take, tsn & MASK32,
                                           message.stream_id, message.mid & 0xFFFF,
                                           message.ppid)
            # One copy of the user data: the header joined to a view of the message.
            encoded = b"".join((header, message.view[offset : offset + take]))
            sent = _Sent(tsn, encoded, take, message, now)
            outstanding.append(sent)
            if message.max_retransmits is not None or message.expires is not None:
                message.fragments.append(sent)
            self._flight += take
            self._peer_rwnd -= take
            stats.data_chunks_sent += 1
            stats.bytes_sent += take
            self._add(encoded)
            self._sched.charge(message.stream_id, take)
            if end:
                self._finish_message(message)
            self._unbuffer(message, take)
            if self._timers.t3 is None:
                self._timers.t3 = now + self._rto

    def _decay_idle_cwnd(self, now: float) -> None:
        """RFC 9260 §7.2.1: "When the endpoint does not transmit data on a given transport
        address, the cwnd of the transport address SHOULD be adjusted to max(cwnd/2, 4*MTU)
        per RTO."  A window grown during an earlier burst does not all go out at once after a
        pause (a browser's socket overflowed on such bursts)."""
        idle = now - (self._last_data_sent or now)
        floor = 4 * self.config.mtu
        while idle >= self._rto and self._cwnd > floor:
            self._cwnd = max(self._cwnd // 2, floor)
            idle -= self._rto

    def _next_message(self) -> _OutMessage | None:
        """The scheduler's choice: with I-DATA a chunk at a time from the stream whose turn it
        is (messages interleave, RFC 8260 §2); with DATA a whole message before the next one
        is chosen (its fragments must have consecutive TSNs, RFC 9260 §6.9)."""
        if self._current is not None:
            return self._current
        sched = self._sched
        while (sid := sched.peek()) is not None:
            queue = self._streams_out.get(sid)
            if not queue:
                sched.remove(sid)
                continue
            message = queue[0]
            if not self.interleaving:
                self._current = message
            return message
        return None

    def _finish_message(self, message: _OutMessage) -> None:
        queue = self._streams_out[message.stream_id]
        queue.popleft()
        if self._current is message:
            self._current = None
        if not queue:
            self._sched.remove(message.stream_id)

    def set_stream_priority(self, stream_id: int, priority: int) -> None:
        """Weight ``stream_id`` in the scheduler (RFC 8260 §3.6): the data channel priority of
        RFC 8831 §6.4 / RFC 8832 §5.1, 256 being normal, 512 twice the share, 128 half."""
        if priority <= 0:
            raise ValueError(f"priority {priority} must be positive")
        self._sched.weights[stream_id] = priority

    # --- shutdown, abort, heartbeats ------------------------------------------------------------

    def _check_shutdown_progress(self) -> None:
        if self._outstanding or self._sched or self._current is not None:
            return
        if self.state == AssociationState.SHUTDOWN_PENDING:
            self._set_state(AssociationState.SHUTDOWN_SENT)
            self._shutdown_chunk_due = True
            self._timers.t3 = None
            self._error_count = 0
        elif self.state == AssociationState.SHUTDOWN_RECEIVED:
            self._set_state(AssociationState.SHUTDOWN_ACK_SENT)
            self._control.append(ShutdownAckChunk().encode())
            self._timers.t2 = self._now + self._rto
            self._timers.t3 = None

    def _on_shutdown(self, chunk: ShutdownChunk) -> None:
        state = self.state
        cum = _unwrap32(chunk.cumulative_tsn, self._cum_acked)
        if cum > self._cum_acked and cum < self._next_tsn:
            # §9.2: the SHUTDOWN's cumulative TSN acknowledges like a SACK.
            self._on_sack(SackChunk(chunk.cumulative_tsn, self._peer_rwnd + self._flight))
        if state in (AssociationState.ESTABLISHED, AssociationState.SHUTDOWN_PENDING):
            self._set_state(AssociationState.SHUTDOWN_RECEIVED)
            self._timers.heartbeat = None
            self._check_shutdown_progress()
        elif state == AssociationState.SHUTDOWN_SENT:
            # §9.2: both sides shut down at once.
            self._set_state(AssociationState.SHUTDOWN_ACK_SENT)
            self._control.append(ShutdownAckChunk().encode())
            self._timers.t2 = self._now + self._rto

    def _on_shutdown_ack(self) -> None:
        if self.state in (AssociationState.SHUTDOWN_SENT, AssociationState.SHUTDOWN_ACK_SENT):
            self._tx.append(self._packet([ShutdownCompleteChunk().encode()], vtag=self.peer_tag))
            self._close(None, remote=False)

    def _on_t2(self) -> None:
        self._timers.t2 = None
        self._error_count += 1
        if self._error_count > self.config.max_retransmits:
            self.abort_with(ErrorCause(CauseCode.PROTOCOL_VIOLATION, b"shutdown timed out"),
                            "shutdown timed out (T2)")
            return
        self._rto = min(self._rto * 2, self.config.rto_max)
        if self.state == AssociationState.SHUTDOWN_SENT:
            self._shutdown_chunk_due = True
        elif self.state == AssociationState.SHUTDOWN_ACK_SENT:
            self._control.append(ShutdownAckChunk().encode())
            self._timers.t2 = self._now + self._rto

    def _on_abort(self, chunk: AbortChunk) -> None:
        reason = "; ".join(c.describe() for c in chunk.causes) or "aborted by the peer"
        self._close(reason, remote=True)

    def abort_with(self, cause: ErrorCause, reason: str) -> None:
        """Send ABORT with ``cause`` and close (a protocol failure, RFC 9260 §9.1)."""
        if self.peer_tag:
            self._tx.append(self._packet([AbortChunk([cause]).encode()], vtag=self.peer_tag))
        self._close(reason, remote=False)

    def _protocol_violation(self, reason: str) -> None:
        self.abort_with(ErrorCause(CauseCode.PROTOCOL_VIOLATION, reason.encode()), reason)

    def _close(self, error: str | None, *, remote: bool) -> None:
        self._set_state(AssociationState.CLOSED)
        self._timers = _Timers()
        self._outstanding.clear()
        self._abandoned_tails.clear()
        self._streams_out.clear()
        self._sched.clear()
        self._current = None
        self._flight = 0
        self._control = []
        if not self._closed_reported:
            self._closed_reported = True
            self._events.append(Closed(error, remote))
        self._trace("sctp.closed", error=error, remote=remote)

    def _on_heartbeat_timer(self) -> None:
        interval = self.config.heartbeat_interval
        t = self._timers
        t.heartbeat = None
        if interval is None or self.state != AssociationState.ESTABLISHED:
            return
        if self._heartbeat_nonce and self._heartbeat_nonce & 1:
            # The previous heartbeat went unanswered (§8.3): count it as an error.
            self._error_count += 1
            if self._error_count > self.config.max_retransmits:
                self.abort_with(ErrorCause(CauseCode.PROTOCOL_VIOLATION, b"heartbeats lost"),
                                "peer unreachable: heartbeats unanswered (RFC 9260 §8.1)")
                return
        self._heartbeat_nonce = (self._heartbeat_nonce + 2) | 1  # odd: waiting for the ack
        info = _HB_INFO.pack(self._now, self._heartbeat_nonce)
        self._control.append(HeartbeatChunk(info).encode())
        t.heartbeat = self._now + interval + self._rto

    def _on_heartbeat_ack(self, chunk: HeartbeatAckChunk) -> None:
        if len(chunk.info) != _HB_INFO.size:
            return
        sent_at, nonce = _HB_INFO.unpack(chunk.info)
        if nonce != self._heartbeat_nonce or not self._now - sent_at >= 0.0:
            return  # (the second test is also false for a NaN, which would poison the RTO)
        self._heartbeat_nonce &= ~1
        self._error_count = 0
        self._update_rto(self._now - sent_at)

    # --- stream reset (RFC 6525) ---------------------------------------------------------------

    def _send_reconfig(self) -> None:
        if self._reset_in_flight is None and self._reset_queue:
            ready = [sid for sid in self._reset_queue
                     if not self._streams_out.get(sid)
                     and (self._current is None or self._current.stream_id != sid)]
            if ready:
                for sid in ready:
                    self._reset_queue.remove(sid)
                    self._paused_streams.add(sid)
                request = _PendingReset(self._reconf_seq, tuple(ready), self._next_tsn - 1)
                self._reconf_seq += 1
                request.encoded = self._reconfig_request(request)
                self._reset_in_flight = request
                request.sent_at = self._now
                self._add(request.encoded)
                self._timers.reconfig = self._now + self._rto

    def _reconfig_request(self, request: _PendingReset) -> bytes:
        last_peer = (self._peer_reconf_seq - 1) if self._peer_reconf_seq is not None else (
            self._peer_initial_tsn - 1)  # RFC 6525 §4.1: the peer's initial TSN - 1
        param = OutgoingSsnResetRequest(request.sequence & MASK32, last_peer & MASK32,
                                        request.last_tsn & MASK32, request.streams)
        return ReconfigChunk([param]).encode()

    def _on_reconfig_timer(self) -> None:
        self._timers.reconfig = None
        request = self._reset_in_flight
        if request is None:
            return
        self._error_count += 1
        if self._error_count > self.config.max_retransmits:
            self.abort_with(ErrorCause(CauseCode.PROTOCOL_VIOLATION, b"RE-CONFIG unanswered"),
                            "stream reset unanswered (RFC 6525 §5.1.1)")
            return
        self._control.append(request.encoded)
        # RFC 6525 §5.1.1: the request is retransmitted like DATA, with the RTO backed off.
        self._rto = min(self._rto * 2, self.config.rto_max)
        self._timers.reconfig = self._now + self._rto

    def _on_reconfig(self, chunk: ReconfigChunk) -> None:
        if self.state not in (AssociationState.ESTABLISHED, AssociationState.SHUTDOWN_PENDING,
                              AssociationState.SHUTDOWN_RECEIVED,
                              AssociationState.SHUTDOWN_SENT):
            return
        responses: list[ReconfigResponse] = []
        for param in chunk.params:
            if isinstance(param, OutgoingSsnResetRequest):
                responses.append(self._on_outgoing_reset_request(param))
            elif isinstance(param, IncomingSsnResetRequest):
                responses.append(self._reconfig_answer(param.request_sequence,
                                                       ReconfigResult.DENIED))
            elif isinstance(param, ReconfigResponse):
                self._on_reconfig_response(param)
            else:
                self._trace("sctp.reconfig_unsupported", type=param.type)
                if param.type in (ParamType.SSN_TSN_RESET_REQUEST,
                                  ParamType.ADD_OUTGOING_STREAMS_REQUEST,
                                  ParamType.ADD_INCOMING_STREAMS_REQUEST) and len(param.value) >= 4:
                    seq = struct.unpack_from("!I", param.value)[0]
                    responses.append(self._reconfig_answer(seq, ReconfigResult.DENIED))
        if responses:
            self._control.append(ReconfigChunk(list(responses[:2])).encode())

    def _reconfig_answer(self, seq: int, result: int) -> ReconfigResponse:
        expected = self._peer_reconf_seq
        if expected is None or seq == expected:
            self._peer_reconf_seq = (seq + 1) & MASK32
        return ReconfigResponse(seq, result)

    def _on_outgoing_reset_request(self, req: OutgoingSsnResetRequest) -> ReconfigResponse:
        """RFC 6525 §5.2.2: reset our incoming streams once every TSN up to last_tsn arrived."""
        seq = req.request_sequence
        expected = self._peer_reconf_seq
        if expected is not None and seq == (expected - 1) & MASK32:
            # A retransmission: answer as before, or perform it now if it was deferred.
            last = self._last_reconf_result
            if self._deferred_reset is not None and self._deferred_reset.request_sequence == seq:
                return self._perform_reset(req)
            if last is not None and last[0] == seq:
                return last[1]
            return ReconfigResponse(seq, ReconfigResult.SUCCESS_NOTHING_TO_DO)
        if expected is not None and seq != expected:
            return ReconfigResponse(seq, ReconfigResult.ERROR_BAD_SEQUENCE_NUMBER)
        self._peer_reconf_seq = (seq + 1) & MASK32
        return self._perform_reset(req)

    def _perform_reset(self, req: OutgoingSsnResetRequest) -> ReconfigResponse:
        last = _unwrap32(req.last_tsn, self._peer_cum)
        if last > self._peer_cum:
            self._deferred_reset = req
            response = ReconfigResponse(req.request_sequence, ReconfigResult.IN_PROGRESS)
        else:
            self._deferred_reset = None
            for sid in req.streams:
                stream = self._in_streams.pop(sid, None)
                if stream is not None:
                    for _, data in stream.pending.values():
                        self._rx_buffered -= len(data)
            self._events.append(StreamsReset(tuple(req.streams), incoming=True))
            response = ReconfigResponse(req.request_sequence, ReconfigResult.SUCCESS_PERFORMED)
        self._last_reconf_result = (req.request_sequence, response)
        return response

    def _deliver_deferred_reset(self) -> None:
        req = self._deferred_reset
        if req is not None and _unwrap32(req.last_tsn, self._peer_cum) <= self._peer_cum:
            response = self._perform_reset(req)
            self._control.append(ReconfigChunk([response]).encode())

    def _on_reconfig_response(self, resp: ReconfigResponse) -> None:
        request = self._reset_in_flight
        if request is None or resp.response_sequence != request.sequence & MASK32:
            return
        if resp.result == ReconfigResult.IN_PROGRESS:
            self._timers.reconfig = self._now + self._rto
            return
        self._reset_in_flight = None
        self._timers.reconfig = None
        self._error_count = 0
        ok = resp.result in (ReconfigResult.SUCCESS_PERFORMED,
                             ReconfigResult.SUCCESS_NOTHING_TO_DO)
        for sid in request.streams:
            self._paused_streams.discard(sid)
            if ok:
                self._next_ssn.pop((sid, False), None)
                self._next_ssn.pop((sid, True), None)
        self._events.append(StreamsReset(request.streams, incoming=False, success=ok))

    # --- misc --------------------------------------------------------------------------------

    def _set_state(self, state: AssociationState) -> None:
        if state != self.state:
            self._trace("sctp.state", old=self.state.name, new=state.name)
            self.state = state

    @property
    def rto(self) -> float:
        """The current retransmission timeout (RFC 9260 §6.3.1)."""
        return self._rto

    @property
    def cwnd(self) -> int:
        """The congestion window in bytes (RFC 9260 §7.2)."""
        return self._cwnd

    @property
    def flight_size(self) -> int:
        """Bytes sent and neither acknowledged nor abandoned."""
        return self._flight
