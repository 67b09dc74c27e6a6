"""Two sans-IO :class:`PeerConnection`\\ s on a virtual clock through an impaired link.

The link is the DTLS tests' seeded :class:`~tests.dtls_harness.Link` (loss, duplication, delay,
jitter that reorders).  Time jumps from one deadline to the next (a peer's ``poll_timeout``, a
datagram's arrival, the next tick of a media source), so a minute of call runs in a second and
the same seed gives the same transcript.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rtcstack.common import SeededRandom
from rtcstack.peer import PeerConnection
from tests.dtls_harness import Link

ADDR_A = ("192.0.2.1", 5000)
ADDR_B = ("192.0.2.2", 6000)


@dataclass
class Ticker:
    """Calls ``fn(now)`` every ``period`` seconds of virtual time."""

    period: float
    fn: Callable[[float], None]
    next_at: float = 0.0


@dataclass
class PeerPair:
    link: Link = field(default_factory=Link)
    seed: int = 1
    now: float = 0.0
    a: PeerConnection = field(init=False)
    b: PeerConnection = field(init=False)
    events: dict[str, list[Any]] = field(default_factory=lambda: {"a": [], "b": []})
    tickers: list[Ticker] = field(default_factory=list)
    on_event: Callable[[str, Any], None] | None = None

    def __post_init__(self) -> None:
        self.a = PeerConnection(random_bytes=SeededRandom(self.seed))
        self.b = PeerConnection(random_bytes=SeededRandom(self.seed + 1000))
        self.a.add_host_address(ADDR_A)
        self.b.add_host_address(ADDR_B)

    def peer(self, name: str) -> PeerConnection:
        return self.a if name == "a" else self.b

    def negotiate(self, offerer: str = "a") -> None:
        """One offer/answer round with implicit descriptions (candidates inside)."""
        o = self.peer(offerer)
        w = self.peer("b" if offerer == "a" else "a")
        o.set_local_description(now=self.now)
        self.drain()
        assert o.local_description is not None
        w.set_remote_description(*o.local_description, now=self.now)
        w.set_local_description(now=self.now)
        self.drain()
        assert w.local_description is not None
        o.set_remote_description(*w.local_description, now=self.now)
        self.drain()

    def every(self, period: float, fn: Callable[[float], None]) -> None:
        self.tickers.append(Ticker(period, fn, self.now))

    def drain(self) -> None:
        for name, pc, label in (("a", self.a, "client"), ("b", self.b, "server")):
            while (tx := pc.poll_transmit()) is not None:
                self.link.send(label, tx.data, self.now)
            while (event := pc.poll_event()) is not None:
                self.events[name].append(event)
                if self.on_event is not None:
                    self.on_event(name, event)
            while (tx := pc.poll_transmit()) is not None:
                self.link.send(label, tx.data, self.now)

    def step(self, limit: float) -> None:
        deadlines = [self.link.next_time(), self.a.poll_timeout(), self.b.poll_timeout(),
                     *(t.next_at for t in self.tickers)]
        known = [d for d in deadlines if d is not None]
        self.now = max(self.now, min(min(known), limit)) if known else limit
        for sender, data in self.link.pop_due(self.now):
            if sender == "client":
                self.b.handle_datagram(data, ADDR_A, local=ADDR_B, now=self.now)
            else:
                self.a.handle_datagram(data, ADDR_B, local=ADDR_A, now=self.now)
        for pc in (self.a, self.b):
            deadline = pc.poll_timeout()
            if deadline is not None and deadline <= self.now:
                pc.handle_timeout(self.now)
        for ticker in self.tickers:
            if ticker.next_at <= self.now:
                ticker.fn(self.now)
                ticker.next_at += ticker.period
        self.drain()

    def run(self, until: Callable[[], bool] | None = None, *, seconds: float = 10.0) -> bool:
        """Advance up to ``seconds`` of virtual time or until ``until()``; True if it held."""
        end = self.now + seconds
        while self.now < end:
            if until is not None and until():
                return True
            self.step(end)
        return until() if until is not None else True

    def connected(self) -> bool:
        return (self.a.connection_state.value == "connected"
                and self.b.connection_state.value == "connected")

    def of(self, name: str, kind: type) -> list[Any]:
        return [e for e in self.events[name] if isinstance(e, kind)]
