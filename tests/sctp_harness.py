"""Two sans-IO SCTP associations on a virtual clock through an emulated link (STYLE.md rule 7).

The link is :class:`tests.dtls_harness.Link` (loss, duplication, delay, jitter that reorders, a
tamper hook, all from a seed); the two sides are named "client" and "server" as it expects.
:meth:`Pair.run_until` advances the clock to the earliest of the link's next delivery and each
association's ``poll_timeout()``, fires due timers, delivers due packets and drains every
transmit and event.  A deadline that does not let time advance (a timer still due right after
``handle_timeout``) is a busy loop and fails the test at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from rtcstack.common.randomness import SeededRandom
from rtcstack.sctp.association import (
    Association,
    Closed,
    Connected,
    Event,
    MessageReceived,
    SctpConfig,
    StreamsReset,
)
from rtcstack.sctp.chunks import ChunkType, Packet, SctpParseError
from tests.dtls_harness import Link

SIDES = ("client", "server")


class BusyLoop(AssertionError):
    """An association asked to be woken at a time that does not advance the clock."""


def chunk_types(data: bytes) -> list[int]:
    """The chunk types of one packet (empty if it does not parse)."""
    try:
        packet = Packet.parse(data)
    except SctpParseError:
        return []
    return [c.TYPE if c.TYPE >= 0 else getattr(c, "type", -1) for c in packet.chunks]


def drop_first(*kinds: ChunkType,
               sender: str | None = None) -> Callable[[str, bytes], bytes | None]:
    """A tamper hook dropping the first packet carrying each of ``kinds`` (from ``sender``)."""
    remaining = set(int(k) for k in kinds)

    def tamper(who: str, data: bytes) -> bytes | None:
        if sender is not None and who != sender:
            return data
        hit = remaining.intersection(chunk_types(data))
        if hit:
            remaining.difference_update(hit)
            return None
        return data

    return tamper


@dataclass
class Pair:
    """A client and a server association wired through ``link``."""

    client: Association
    server: Association
    link: Link
    now: float = 0.0
    events: dict[str, list[Event]] = field(default_factory=lambda: {s: [] for s in SIDES})
    captured: list[tuple[str, bytes]] = field(default_factory=list)
    capture: bool = False
    iterations: int = 0

    @classmethod
    def create(cls, client_config: SctpConfig | None = None,
               server_config: SctpConfig | None = None, *, link: Link | None = None,
               seed: int = 1) -> Pair:
        client = Association(client_config or SctpConfig(), random_bytes=SeededRandom(seed))
        server = Association(server_config or SctpConfig(), random_bytes=SeededRandom(seed + 1000))
        return cls(client, server, link or Link(seed=seed))

    def side(self, name: str) -> Association:
        return self.client if name == "client" else self.server

    def peer_of(self, name: str) -> str:
        return "server" if name == "client" else "client"

    # --- the loop ------------------------------------------------------------------------------

    def flush(self) -> None:
        for name in SIDES:
            assoc = self.side(name)
            while (data := assoc.poll_transmit()) is not None:
                if self.capture:
                    self.captured.append((name, data))
                self.link.send(name, data, self.now)
            while (event := assoc.poll_event()) is not None:
                self.events[name].append(event)

    def step(self, max_time: float) -> bool:
        """One turn of the loop; False when nothing is left to wait for or time ran out."""
        self.flush()
        times: list[float] = []
        for name in SIDES:
            deadline = self.side(name).poll_timeout()
            if deadline is not None:
                if math.isnan(deadline):
                    raise BusyLoop(f"{name}: poll_timeout() is NaN")
                times.append(deadline)
        link_next = self.link.next_time()
        if link_next is not None:
            times.append(link_next)
        if not times:
            return False
        at = max(self.now, min(times))
        if at > max_time:
            self.now = max_time
            return False
        self.now = at
        self.iterations += 1
        for sender, data in self.link.pop_due(self.now):
            self.side(self.peer_of(sender)).handle_packet(data, now=self.now)
        for name in SIDES:
            assoc = self.side(name)
            deadline = assoc.poll_timeout()
            if deadline is not None and deadline <= self.now:
                assoc.handle_timeout(now=self.now)
                after = assoc.poll_timeout()
                if after is not None and not after > self.now:
                    raise BusyLoop(
                        f"{name}: poll_timeout() {after!r} does not advance past now={self.now!r} "
                        f"after handle_timeout (state {assoc.state.name})")
        self.flush()
        return True

    def run_until(self, condition: Callable[[Pair], bool] | None = None,
                  max_time: float = 60.0) -> bool:
        """Run until ``condition(self)`` holds (True), or nothing is pending or the virtual clock
        would pass ``max_time`` (False).  Without a condition, run until quiet."""
        self.flush()
        while True:
            if condition is not None and condition(self):
                return True
            if not self.step(max_time):
                return condition(self) if condition is not None else True

    # --- convenience -------------------------------------------------------------------------

    def connect(self, *, both: bool = False, max_time: float = 60.0) -> None:
        self.client.connect(now=self.now)
        if both:
            self.server.connect(now=self.now)
        if not self.run_until(lambda p: p.connected("client") and p.connected("server"),
                              max_time):
            raise AssertionError(f"not connected: {self.client.state.name} "
                                 f"{self.server.state.name}")

    def connected(self, name: str) -> Connected | None:
        return next((e for e in self.events[name] if isinstance(e, Connected)), None)

    def closed(self, name: str) -> Closed | None:
        return next((e for e in self.events[name] if isinstance(e, Closed)), None)

    def messages(self, name: str, stream_id: int | None = None) -> list[MessageReceived]:
        return [e for e in self.events[name] if isinstance(e, MessageReceived)
                and (stream_id is None or e.stream_id == stream_id)]

    def resets(self, name: str) -> list[StreamsReset]:
        return [e for e in self.events[name] if isinstance(e, StreamsReset)]

    def both_closed(self) -> bool:
        return self.closed("client") is not None and self.closed("server") is not None
