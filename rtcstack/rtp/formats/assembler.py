"""Frame assembly: encoded frames from reordered RTP packets, for every payload format.

:class:`FrameAssembler` is sans-IO: ``push(sequence_number, timestamp, marker, payload)`` feeds
one packet (RTP header fields and the payload after the RTP header), ``pop_frame()`` drains the
frames completed so far, in decode (sequence) order.  The payload format is a *depacketizer*
(:class:`Depacketizer`) that turns a payload into its share of the frame's bytes and says
whether the packet starts a frame and whether the frame is a key frame.

Frame boundaries (RFC 3551 §4.1 / RFC 3550 §5.1 marker; RFC 7741 §4.5.1 S and PID; RFC 9628
§4.3 B; RFC 6184 §5.1 marker): a frame is the run of consecutive sequence numbers that starts
with a packet the depacketizer marks as a start (or, for H.264, that follows the end of the
previous frame) and ends with the marker bit (or just before the timestamp changes).

Loss: a frame is only handed out whole.  When the oldest pending frame is still incomplete
once ``reorder_window`` newer sequence numbers have arrived (or the buffer holds
``max_packets``), its packets are discarded up to the next clean frame start;
``frames_dropped`` counts the incomplete frames discarded (distinct timestamps) and
``packets_lost`` the sequence numbers that never arrived.  :meth:`FrameAssembler.flush` gives
up on everything incomplete at once (end of stream, or a timeout the caller keeps).

Cost: packets are kept in a dict keyed by extended sequence number.  The frame being assembled
remembers how far it has been verified (contiguous, same timestamp, no marker yet), so each
packet is looked at once; a packet that arrives in order and continues that frame, or starts
the next one, is handled without any scan (O(1)).  Reordering, loss and the stream start take
the general path, which gives the same results.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import ClassVar, Protocol

from rtcstack.common.errors import ParseError

__all__ = ["Depacketizer", "Frame", "FrameAssembler", "Packetizer"]


class Packetizer(Protocol):
    """What every packetizer offers: one encoded frame -> ``[(payload, marker), ...]``."""

    def packetize(self, frame: bytes) -> list[tuple[bytes, bool]]: ...


class Depacketizer(Protocol):
    """The payload-format half of :class:`FrameAssembler`.

    ``depacketize(payload)`` returns ``(body, start, keyframe)``: the bytes this packet adds to
    the frame, whether it starts a frame (``None``: the payload cannot say), and whether it
    shows the frame is a key frame.  It raises ParseError for a malformed payload.
    ``single_packet_frames`` is true for audio formats, where each packet is one frame.
    """

    single_packet_frames: ClassVar[bool]

    def depacketize(self, payload: bytes) -> tuple[bytes, bool | None, bool]: ...


@dataclass(frozen=True, slots=True)
class Frame:
    """One reassembled frame: RTP timestamp, bytes, key frame flag, and the 16-bit sequence
    numbers of its first and last packet."""

    timestamp: int
    data: bytes
    keyframe: bool
    first_sequence: int
    last_sequence: int

    @property
    def packet_count(self) -> int:
        return ((self.last_sequence - self.first_sequence) & 0xFFFF) + 1


# A stored packet: (timestamp, marker, body, start, keyframe)
_Packet = tuple[int, bool, bytes, "bool | None", bool]

_new = object.__new__
_set = object.__setattr__


def _frame(ts: int, data: bytes, key: bool, first: int, last: int) -> Frame:
    # Frame(...) of a frozen dataclass costs a call and five object.__setattr__ behind an
    # __init__; this is the same object built with ~40 % less work (one per frame handed out).
    frame: Frame = _new(Frame)
    _set(frame, "timestamp", ts)
    _set(frame, "data", data)
    _set(frame, "keyframe", key)
    _set(frame, "first_sequence", first)
    _set(frame, "last_sequence", last)
    return frame


class FrameAssembler:
    """Rebuilds frames from RTP packets that may arrive reordered, duplicated or not at all.

    ``reorder_window``: how many sequence numbers past a missing packet to wait before the
    incomplete frame is given up.  ``max_packets``: the most packets held at once (memory
    bound); reaching it gives up the oldest incomplete frame at once.
    """

    __slots__ = (
        "_boundary",
        "_dep",
        "_highest",
        "_last_dropped",
        "_max_packets",
        "_next",
        "_packets",
        "_ready",
        "_scan_base",
        "_scan_end",
        "_scan_key",
        "_scan_next",
        "_scan_parts",
        "_scan_ts",
        "_single",
        "_startup",
        "_window",
        "frames_completed",
        "frames_dropped",
        "packets_duplicate",
        "packets_late",
        "packets_lost",
        "packets_malformed",
    )

    def __init__(
        self, depacketizer: Depacketizer, *, reorder_window: int = 64, max_packets: int = 1024
    ) -> None:
        if reorder_window < 1 or max_packets < 1:
            raise ValueError("reorder_window and max_packets must be positive")
        self._dep = depacketizer
        self._single = depacketizer.single_packet_frames
        self._window = reorder_window
        self._startup = min(reorder_window, 16)
        self._max_packets = max_packets
        self._packets: dict[int, _Packet] = {}
        self._highest: int | None = None  # highest extended sequence number seen
        self._next: int | None = None  # extended sequence number of the next frame's start
        self._boundary = True  # whether _next is known to start a frame
        self._ready: deque[Frame] = deque()
        self._last_dropped: int | None = None  # timestamp of the last packet discarded
        # Scan cache: the frame starting at _scan_base is present and unterminated (same
        # timestamp _scan_ts, no marker) from _scan_base to _scan_end; its bodies so far are
        # _scan_parts.  _scan_next is _scan_end + 1 when _scan_base is _next (the in-order fast
        # path may extend it), else None.  Emitting or skipping a frame resets it.
        self._scan_base: int | None = None
        self._scan_end = 0
        self._scan_next: int | None = None
        self._scan_ts = 0
        self._scan_parts: list[bytes] = []
        self._scan_key = False
        self.frames_completed = 0
        self.frames_dropped = 0
        self.packets_lost = 0
        self.packets_duplicate = 0
        self.packets_late = 0
        self.packets_malformed = 0

    def push(self, sequence_number: int, timestamp: int, marker: bool, payload: bytes) -> None:
        """Feed one RTP packet.  Malformed payloads, duplicates and packets older than the last
        frame handed out are dropped and counted, never raised."""
        highest = self._highest
        if highest is None:
            ext = highest = sequence_number
            self._highest = ext
        else:
            delta = (sequence_number - highest) & 0xFFFF
            ext = highest + delta - 0x10000 if delta >= 0x8000 else highest + delta
            if ext > highest:
                self._highest = highest = ext
        nxt = self._next
        if nxt is not None and ext < nxt:
            self.packets_late += 1
            return
        packets = self._packets
        if ext in packets:
            self.packets_duplicate += 1
            return
        try:
            body, start, key = self._dep.depacketize(payload)
        except ParseError:
            self.packets_malformed += 1
            return
        if ext == self._scan_next and timestamp == self._scan_ts:
            # In order: the next packet of the frame being assembled (everything before it is
            # here and checked).  The general path would walk to here and stop, or emit.
            self._scan_parts.append(body)
            if key:
                self._scan_key = True
            if marker:
                self._emit_scanned(ext)
                if packets:
                    self._drain(force=False)
                return
            packets[ext] = (timestamp, marker, body, start, key)
            self._scan_end = ext
            self._scan_next = ext + 1
            # Nothing newer held and room left: the frame just waits for ext + 1.
            if ext != highest or len(packets) >= self._max_packets:
                self._drain(force=False)
            return
        if ext == nxt and (start or (start is None and self._boundary)):
            # In order: the first packet of the next frame, at a known frame boundary.
            if marker or self._single:
                self._next = ext + 1
                self._boundary = True
                self.frames_completed += 1
                self._ready.append(_frame(timestamp, body, key, ext & 0xFFFF, ext & 0xFFFF))
                if packets:
                    self._drain(force=False)
                return
            if ext == highest:  # so nothing else is held (all of it would be < ext)
                packets[ext] = (timestamp, marker, body, start, key)
                self._scan_base = self._scan_end = ext
                self._scan_next = ext + 1
                self._scan_ts = timestamp
                self._scan_parts = [body]
                self._scan_key = key
                if len(packets) >= self._max_packets:
                    self._drain(force=False)
                return
        packets[ext] = (timestamp, marker, body, start, key)
        self._drain(force=False)

    def pop_frame(self) -> Frame | None:
        """The next completed frame in decode order, or ``None``."""
        return self._ready.popleft() if self._ready else None

    def flush(self) -> None:
        """Give up on every incomplete frame now; complete frames after them become ready."""
        self._drain(force=True)

    @property
    def pending_packets(self) -> int:
        return len(self._packets)

    # --- internals ------------------------------------------------------------------------

    def _drain(self, *, force: bool) -> None:
        packets = self._packets
        while packets:
            base = self._next if self._next is not None else min(packets)
            waiting_for = self._emit_from(base, force)
            if waiting_for is None:
                continue
            highest = self._highest if self._highest is not None else base
            if (
                not force
                and highest - waiting_for < self._window
                and len(packets) < self._max_packets
            ):
                return
            self._skip(base)

    def _emit_from(self, base: int, force: bool) -> int | None:
        """Hand out the frame starting at ``base`` if all of it is here: ``None``.  Otherwise
        the sequence number it waits for (the first missing one, or ``base`` itself)."""
        packets = self._packets
        first = packets.get(base)
        if first is None:
            return base
        ts, marker, body, start, key = first
        # Stream start: earlier packets of the stream may still be on their way, so wait a
        # little (``min(reorder_window, 16)`` sequence numbers) before deciding where the
        # stream begins -- unless the frame is a key frame that says it starts a frame.
        highest = self._highest if self._highest is not None else base
        at_start = self._next is None and not force and highest - base < self._startup
        if not start and (start is False or at_start or not (self._boundary or self._next is None)):
            return base
        if self._scan_base == base:  # resume the walk where it stopped (a missing packet)
            end = self._scan_end
            parts = self._scan_parts
            key = self._scan_key
            marker = False
        else:
            end = base
            parts = [body]
        if not self._single:
            while not marker:
                nxt = packets.get(end + 1)
                if nxt is None:
                    self._scan_base = base
                    self._scan_end = end
                    self._scan_next = end + 1 if base == self._next else None
                    self._scan_ts = ts
                    self._scan_parts = parts
                    self._scan_key = key
                    return end + 1
                if nxt[0] != ts:
                    break  # the timestamp changed: the frame ended without a marker bit
                end += 1
                _, marker, body, _, k = nxt
                parts.append(body)
                key = key or k
        if at_start and not key:
            self._scan_base = self._scan_next = None  # ``parts`` may have grown past the cache
            return base
        if len(packets) == end + 1 - base:  # base..end are all present, so that is all of it
            packets.clear()
        else:
            for seq in range(base, end + 1):
                del packets[seq]
        self._scan_base = self._scan_next = None
        self._next = end + 1
        self._boundary = True
        self.frames_completed += 1
        self._ready.append(
            _frame(
                ts,
                parts[0] if len(parts) == 1 else b"".join(parts),
                key,
                base & 0xFFFF,
                end & 0xFFFF,
            )
        )
        return None

    def _emit_scanned(self, end: int) -> None:
        """Hand out the cached frame, whose last packet ``end`` (the marker) has just arrived
        in order (and is not stored)."""
        packets = self._packets
        parts = self._scan_parts  # one body per packet from the frame's start to ``end``
        base = end + 1 - len(parts)
        if len(packets) == end - base:
            packets.clear()
        else:
            for seq in range(base, end):
                del packets[seq]
        self._scan_base = self._scan_next = None
        self._next = end + 1
        self._boundary = True
        self.frames_completed += 1
        self._ready.append(
            _frame(self._scan_ts, b"".join(parts), self._scan_key, base & 0xFFFF, end & 0xFFFF)
        )

    def _skip(self, base: int) -> None:
        """Discard the incomplete frame at ``base``: every packet up to the next clean start."""
        packets = self._packets
        self._scan_base = self._scan_next = None
        order = sorted(packets)
        dropped_ts: set[int] = set()
        prev_seq: int | None = None
        prev: _Packet | None = None
        resume: int | None = None
        discarded = 0
        for seq in order:
            pkt = packets[seq]
            start = pkt[3]
            if seq > base and (
                start
                or (
                    start is None
                    and prev is not None
                    and prev_seq == seq - 1
                    and (prev[1] or prev[0] != pkt[0])
                )
            ):
                resume = seq
                break
            dropped_ts.add(pkt[0])
            del packets[seq]
            discarded += 1
            prev_seq, prev = seq, pkt
        if resume is None:
            last = prev_seq if prev_seq is not None else base
            resume = max(last, self._highest if self._highest is not None else last) + 1
            self._boundary = False
        else:
            self._boundary = True
        self.packets_lost += max(0, resume - base - discarded)
        # A frame given up in pieces (its tail still arriving after the first discard) counts once.
        if self._last_dropped is not None:
            dropped_ts.discard(self._last_dropped)
        # Nothing discarded: whole packets are missing before a clean start (a lost frame).
        self.frames_dropped += len(dropped_ts) if discarded else 1
        if prev is not None:
            self._last_dropped = prev[0]
        self._next = resume
