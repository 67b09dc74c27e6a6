"""A virtual network for ICE agents: virtual clock, loss, latency, emulated NATs, STUN servers.

Everything is deterministic: loss comes from a seeded generator, time only moves when the
network says so.  A :class:`Nat` emulates the two behaviours the NAT lab builds with iptables:
``cone`` (endpoint-independent mapping and filtering by address: a Linux MASQUERADE with a
stable port) and ``symmetric`` (a new public port per destination, filtering by address and
port).  Agents behind a NAT see private addresses; a STUN server on the "public" side reports
the NAT's mapping.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from rtcstack.common import Address, Transmit
from rtcstack.ice.agent import CandidateGathered, IceAgent, IceEvent
from rtcstack.ice.candidate import Candidate
from rtcstack.stun.server import StunServer


@dataclass
class Nat:
    """An emulated NAT with one public IP."""

    public_ip: str
    kind: str = "cone"  # "cone" | "symmetric"
    next_port: int = 40000
    out: dict[tuple[Address, Address | None], Address] = field(default_factory=dict)
    back: dict[Address, Address] = field(default_factory=dict)
    allowed: set[tuple[Address, str | Address]] = field(default_factory=set)

    def outbound(self, src: Address, dst: Address) -> Address:
        key = (src, None if self.kind == "cone" else dst)
        mapped = self.out.get(key)
        if mapped is None:
            mapped = (self.public_ip, self.next_port)
            self.next_port += 7 if self.kind == "symmetric" else 1
            self.out[key] = mapped
            self.back[mapped] = src
        # Filtering: cone lets the destination's IP answer; symmetric only its IP and port.
        self.allowed.add((mapped, dst[0] if self.kind == "cone" else dst))
        return mapped

    def inbound(self, src: Address, dst: Address) -> Address | None:
        private = self.back.get(dst)
        if private is None:
            return None
        if (dst, src[0] if self.kind == "cone" else src) not in self.allowed:
            return None
        return private

    def rebind(self) -> None:
        """Forget every mapping (a NAT reboot / rebinding): old public ports stop working."""
        self.out.clear()
        self.back.clear()
        self.allowed.clear()
        self.next_port += 1000


class _Loss:
    def __init__(self, seed: int) -> None:
        self._counter = itertools.count()
        self._seed = seed

    def __call__(self) -> float:
        digest = hashlib.sha256(f"{self._seed}:{next(self._counter)}".encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32


@dataclass
class Peer:
    agent: IceAgent
    addresses: list[Address]
    nat: Nat | None = None
    events: list[IceEvent] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)
    partner: Peer | None = None
    trickle: bool = True
    candidates: list[Candidate] = field(default_factory=list)


class VirtualNetwork:
    """Peers, STUN servers and NATs on one virtual clock."""

    def __init__(self, *, latency: float = 0.01, loss: float = 0.0, seed: int = 0) -> None:
        self.now = 0.0
        self.latency = latency
        self.loss = loss
        self._random = _Loss(seed)
        self._queue: list[tuple[float, int, Transmit, Address]] = []  # (time, seq, tx, from)
        self._seq = itertools.count()
        self.peers: list[Peer] = []
        self.servers: dict[Address, StunServer] = {}
        self.down: set[str] = set()  # IPs whose traffic is dropped (cut links)
        self.delivered = 0
        self.dropped = 0
        self.tap: Callable[[Transmit, Address], None] | None = None

    # --- topology --------------------------------------------------------------------------

    def add_peer(self, agent: IceAgent, addresses: list[Address], nat: Nat | None = None) -> Peer:
        peer = Peer(agent, addresses, nat)
        for address in addresses:
            agent.add_host_address(address)
        self.peers.append(peer)
        return peer

    def add_stun_server(self, address: Address) -> StunServer:
        server = StunServer(address)
        self.servers[address] = server
        return server

    def connect(self, a: Peer, b: Peer, *, trickle: bool = True) -> None:
        """Exchange credentials (as signaling would) and relay candidates as they surface."""
        a.partner, b.partner = b, a
        a.trickle = b.trickle = trickle
        a.agent.set_remote_credentials(*b.agent.local_credentials, lite=b.agent.lite)
        b.agent.set_remote_credentials(*a.agent.local_credentials, lite=a.agent.lite)
        for peer in (a, b):
            peer.agent.gather(now=self.now)

    # --- running ---------------------------------------------------------------------------

    def _pump(self, peer: Peer) -> None:
        agent = peer.agent
        while (event := agent.poll_event()) is not None:
            peer.events.append(event)
            partner = peer.partner
            if isinstance(event, CandidateGathered):
                peer.candidates.append(event.candidate)
                if partner is not None and peer.trickle:
                    partner.agent.add_remote_candidate(event.candidate, now=self.now)
            elif type(event).__name__ == "GatheringComplete" and partner is not None:
                if not peer.trickle:
                    for c in peer.candidates:
                        partner.agent.add_remote_candidate(c, now=self.now)
                partner.agent.add_remote_candidate(None, now=self.now)
        while (tx := agent.poll_transmit()) is not None:
            self._send(tx, peer)

    def _send(self, tx: Transmit, peer: Peer | None) -> None:
        src = tx.source
        if src is None:
            raise AssertionError(f"transmit without a source: {tx}")
        if peer is not None and peer.nat is not None:
            src = peer.nat.outbound(src, tx.addr)
        if self.tap is not None:
            self.tap(tx, src)
        if src[0] in self.down or tx.addr[0] in self.down or (
            self.loss and self._random() < self.loss
        ):
            self.dropped += 1
            return
        heapq.heappush(self._queue, (self.now + self.latency, next(self._seq), tx, src))

    def _deliver(self, tx: Transmit, src: Address) -> None:
        dst = tx.addr
        server = self.servers.get(dst)
        if server is not None:
            server.handle_datagram(tx.data, src, now=self.now, local=dst)
            while (out := server.poll_transmit()) is not None:
                self._send(Transmit(out.data, out.addr, out.source or dst), None)
            return
        for peer in self.peers:
            local = None
            if peer.nat is not None and dst[0] == peer.nat.public_ip:
                local = peer.nat.inbound(src, dst)
                if local is None:
                    self.dropped += 1
                    return
            elif dst in peer.addresses:
                local = dst
            if local is not None:
                self.delivered += 1
                payload = peer.agent.handle_datagram(tx.data, src, local=local, now=self.now)
                if payload is not None:
                    peer.received.append(payload)
                self._pump(peer)
                return
        self.dropped += 1

    def step(self, limit: float = float("inf")) -> bool:
        """Advance to the next event (not past ``limit``); False when there is none before it."""
        for peer in self.peers:
            self._pump(peer)
        times = [t for p in self.peers if (t := p.agent.poll_timeout()) is not None]
        if self._queue:
            times.append(self._queue[0][0])
        if not times or min(times) > limit:
            self.now = max(self.now, min(limit, self.now if not times else min(times)))
            return False
        self.now = max(self.now, min(times))
        while self._queue and self._queue[0][0] <= self.now:
            _, _, tx, src = heapq.heappop(self._queue)
            self._deliver(tx, src)
        for peer in self.peers:
            deadline = peer.agent.poll_timeout()
            if deadline is not None and deadline <= self.now:
                peer.agent.handle_timeout(self.now)
            self._pump(peer)
        return True

    def run(self, until: Callable[[], bool] | None = None, *, duration: float = 60.0,
            max_steps: int = 200_000) -> bool:
        """Step until ``until()`` holds (True) or ``duration`` virtual seconds pass (False)."""
        end = self.now + duration
        for _ in range(max_steps):
            if until is not None and until():
                return True
            if not self.step(end):
                self.now = max(self.now, end)
                return until() if until is not None else True
        raise AssertionError(f"no progress after {max_steps} steps at t={self.now}")
