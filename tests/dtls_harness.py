"""Two sans-IO DTLS endpoints on a virtual clock through an emulated link (STYLE.md rule 7):
loss, duplication, reordering and delay from a seeded RNG, so every run is reproducible."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from rtcstack.dtls.connection import (
    ApplicationData,
    Closed,
    DtlsConnection,
    Event,
    HandshakeComplete,
)


@dataclass
class Link:
    """Delivers datagrams after ``delay`` (+ up to ``jitter``, which reorders), losing a
    ``loss`` fraction and duplicating a ``duplicate`` fraction."""

    loss: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.01
    jitter: float = 0.0
    seed: int = 1
    tamper: Callable[[str, bytes], bytes | None] | None = None  # (sender, data) -> data | None
    sent: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    _queue: list[tuple[float, int, str, bytes]] = field(default_factory=list)
    _counter: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def send(self, sender: str, data: bytes, now: float) -> None:
        self.sent[sender] += 1
        if self.tamper is not None:
            changed = self.tamper(sender, data)
            if changed is None:
                return
            data = changed
        copies = 2 if self._rng.random() < self.duplicate else 1
        for _ in range(copies):
            if self._rng.random() < self.loss:
                continue
            at = now + self.delay + self._rng.random() * self.jitter
            self._counter += 1
            heapq.heappush(self._queue, (at, self._counter, sender, data))

    def next_time(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def pop_due(self, now: float) -> list[tuple[str, bytes]]:
        out = []
        while self._queue and self._queue[0][0] <= now:
            _, _, sender, data = heapq.heappop(self._queue)
            out.append((sender, data))
        return out


@dataclass
class Outcome:
    client_events: list[Event]
    server_events: list[Event]
    now: float

    def completed(self, who: str) -> HandshakeComplete | None:
        events = self.client_events if who == "client" else self.server_events
        return next((e for e in events if isinstance(e, HandshakeComplete)), None)

    def closed(self, who: str) -> Closed | None:
        events = self.client_events if who == "client" else self.server_events
        return next((e for e in events if isinstance(e, Closed)), None)

    def data(self, who: str) -> list[bytes]:
        events = self.client_events if who == "client" else self.server_events
        return [e.data for e in events if isinstance(e, ApplicationData)]


def run(
    client: DtlsConnection,
    server: DtlsConnection,
    link: Link,
    *,
    limit: float = 120.0,
    stop: Callable[[Outcome], bool] | None = None,
    start: bool = True,
) -> Outcome:
    """Run both endpoints until both completed (or closed), nothing is left to do, or the
    virtual clock passes ``limit`` seconds."""
    now = 0.0
    outcome = Outcome([], [], now)
    peers = {"client": client, "server": server}
    if start:
        client.connect(now=now)

    def flush() -> None:
        for name, conn in peers.items():
            while (data := conn.poll_transmit()) is not None:
                link.send(name, data, now)
            events = outcome.client_events if name == "client" else outcome.server_events
            while (event := conn.poll_event()) is not None:
                events.append(event)

    def done() -> bool:
        if stop is not None:
            return stop(outcome)
        return all(outcome.completed(w) or outcome.closed(w) for w in ("client", "server"))

    flush()
    while now <= limit and not done():
        times = [t for t in (link.next_time(), client.poll_timeout(), server.poll_timeout())
                 if t is not None]
        if not times:
            break
        now = max(now, min(times))
        outcome.now = now
        for sender, data in link.pop_due(now):
            receiver = peers["server" if sender == "client" else "client"]
            receiver.handle_datagram(data, now=now)
        for conn in peers.values():
            timeout = conn.poll_timeout()
            if timeout is not None and timeout <= now:
                conn.handle_timeout(now=now)
        flush()
    outcome.now = now
    return outcome
