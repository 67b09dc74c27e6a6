"""RFC 8445 the ICE agent, sans-IO: gathering, checks, nomination, trickle, consent, restart.

:class:`IceAgent` owns no socket and reads no clock.  The driver (``rtcstack.asyncio.ice`` or a
test) tells it which local transport addresses it has opened (:meth:`IceAgent.add_host_address`),
feeds every datagram that arrives on them (:meth:`IceAgent.handle_datagram`), sends what
:meth:`IceAgent.poll_transmit` returns from ``Transmit.source``, and calls
:meth:`IceAgent.handle_timeout` at :meth:`IceAgent.poll_timeout`.

What it does, and where the RFC says so:

- Candidates (RFC 8445 §5.1): host candidates for the addresses the driver opened; server-reflexive
  candidates from every configured STUN server (§5.1.1.2); relayed candidates from every
  configured TURN server through :class:`rtcstack.ice.turn.TurnClient` (RFC 8656); peer-reflexive
  candidates learned from checks (§7.2.5.3.1, §7.3.1.3).  Redundant candidates are dropped
  (§5.1.3).  Each candidate surfaces as a :class:`CandidateGathered` event the moment it is known
  (trickle, RFC 8838 §4), then :class:`GatheringComplete`.
- Checks (§6.1.2 - §7.3): pairs formed as candidates arrive from either side, pruned (§6.1.2.4),
  frozen/waiting by foundation (§6.1.2.6), one ordinary or triggered check every Ta (§6.1.4.2),
  the first at once; responses checked for symmetric addresses (§7.2.5.2.1); role conflicts
  resolved by tie-breaker and 487 (§7.3.1.1, §7.2.5.1); peer-reflexive candidates learned.
- Nomination (§8.1.1): as controlling agent, regular nomination of the best valid pair -- at once
  when no better pair can still succeed, else after ``nomination_delay``; as controlled agent,
  USE-CANDIDATE is honoured on whichever pair it arrives (which also accepts aggressive
  nomination from older peers).  ICE-lite peers (§2.5) are always checked and nominated by us;
  ``lite=True`` runs this agent as ICE-lite (host candidates only, never checks, controlled).
- Consent freshness (RFC 7675): a check on the selected pair every 4-6 s (randomised, §5.1);
  :attr:`IceState.DISCONNECTED` after ``disconnected_timeout`` without an answer, FAILED (and
  sending stops) after 30 s.
- ICE restart (RFC 8445 §9): :meth:`IceAgent.restart` makes new credentials and re-gathers; data
  stays on the old selected pair until a pair of the new generation is nominated.

Scope: one component (WebRTC bundles and multiplexes RTCP, RFC 8843 / RFC 5761), UDP candidates
(TCP candidates of RFC 6544 are ignored when received; TURN servers may be reached over TCP or
TLS).  mDNS names are resolved by the driver before :meth:`IceAgent.add_remote_candidate`
(:mod:`rtcstack.ice.mdns`); an unresolved ``.local`` candidate is ignored.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

from rtcstack.common.errors import InvalidStateError, ParseError
from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.common.types import Address, Transmit
from rtcstack.common.values import value
from rtcstack.ice.candidate import (
    Candidate,
    CandidateType,
    candidate_priority,
    foundation_for,
    local_preference,
    pair_priority,
)
from rtcstack.ice.turn import Allocated, AllocationFailed, TurnClient, TurnClosed, TurnServer
from rtcstack.stun.attributes import (
    IceControlled,
    IceControlling,
    Priority,
    UseCandidate,
    Username,
    XorMappedAddress,
)
from rtcstack.stun.client import RequestFailed, RequestTimedOut, ResponseReceived, StunClient
from rtcstack.stun.errors import BAD_REQUEST, ROLE_CONFLICT, UNAUTHENTICATED
from rtcstack.stun.message import Message, MessageClass, Method, is_stun

__all__ = [
    "AgentStats",
    "CandidateGathered",
    "CandidatePair",
    "GatheringComplete",
    "IceAgent",
    "IceEvent",
    "IceState",
    "PairState",
    "SelectedPairChanged",
    "ServerFailed",
    "StateChanged",
]

_ICE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
MAX_PAIRS = 100  # RFC 8445 §6.1.2.5: "a default of 100"


class IceState(Enum):
    """The agent's overall state (W3C ``RTCIceConnectionState``), in protocol order."""

    NEW = "new"
    CHECKING = "checking"
    CONNECTED = "connected"
    COMPLETED = "completed"
    DISCONNECTED = "disconnected"
    FAILED = "failed"
    CLOSED = "closed"


class PairState(Enum):
    """RFC 8445 §6.1.2.6 candidate pair states."""

    FROZEN = "frozen"
    WAITING = "waiting"
    IN_PROGRESS = "in-progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# --- events -----------------------------------------------------------------------------------


@value
class CandidateGathered:
    """A local candidate to signal to the peer (trickle, RFC 8838 §4)."""

    candidate: Candidate


@value
class GatheringComplete:
    """Every local candidate has been gathered: signal end-of-candidates (RFC 8838 §4.1)."""


@value
class StateChanged:
    state: IceState


@value
class SelectedPairChanged:
    """Data now goes over ``local`` -> ``remote`` (a nominated pair, RFC 8445 §8.1.1 / §8.2)."""

    local: Candidate
    remote: Candidate


@value
class ServerFailed:
    """A STUN or TURN server did not give a candidate; gathering goes on without it."""

    server: str
    reason: str


IceEvent: TypeAlias = (
    CandidateGathered | GatheringComplete | StateChanged | SelectedPairChanged | ServerFailed
)


@dataclass(slots=True)
class AgentStats:
    """What the agent received and dropped (each drop is also traced)."""

    datagrams: int = 0
    stun_parse_errors: int = 0
    stun_requests: int = 0
    bad_requests: int = 0  # no USERNAME / MESSAGE-INTEGRITY / wrong ufrag / bad integrity
    role_conflicts: int = 0
    checks_sent: int = 0
    checks_succeeded: int = 0
    checks_failed: int = 0
    non_symmetric: int = 0
    consent_sent: int = 0
    unexpected: int = 0  # datagrams from an address that is not a candidate's (dropped)


@dataclass(slots=True, eq=False)
class CandidatePair:
    """RFC 8445 §6.1.2 a pair of a local (host or relayed: a base) and a remote candidate."""

    local: Candidate
    remote: Candidate
    priority: int
    state: PairState = PairState.FROZEN
    nominated: bool = False
    use_candidate: bool = False  # the check in flight carries USE-CANDIDATE
    nominate_on_success: bool = False  # §7.3.1.5: USE-CANDIDATE arrived before our check succeeded
    transaction_id: bytes | None = None
    generation: int = 0
    local_ufrag: str = ""
    remote_ufrag: str = ""
    remote_pwd: str = ""
    last_consent: float | None = None  # RFC 7675: when the peer last answered a check here
    next_consent: float | None = None
    consent_tid: bytes | None = None
    rtt: float | None = None
    sent_at: float = 0.0

    @property
    def foundation(self) -> tuple[str, str]:
        return (self.local.foundation, self.remote.foundation)

    def __repr__(self) -> str:
        return f"<pair {self.local} -> {self.remote} {self.state.value}" + (
            " nominated>" if self.nominated else ">"
        )


@dataclass(slots=True)
class _Relay:
    client: TurnClient
    candidate: Candidate | None = None
    gathering: bool = True


@dataclass(slots=True)
class _Pending:
    """What an agent-owned STUN transaction is for."""

    kind: str  # "srflx" | "check" | "consent"
    base: Address
    server: Address | None = None
    pair: CandidatePair | None = None


def _base_of(candidate: Candidate) -> Address:
    """RFC 8445 §5.1.1.1-2: a server-reflexive candidate's base is the host address it was
    gathered from (its related address); host and relayed candidates are their own base."""
    if candidate.type is CandidateType.SERVER_REFLEXIVE and candidate.related_address is not None:
        return (candidate.related_address, candidate.related_port or 0)
    return candidate.addr


@functools.lru_cache(maxsize=1024)
def _family(address: str) -> int:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).version
    except ValueError:
        return 0


@dataclass(slots=True)
class _Config:
    ta: float
    check_rto: float
    nomination_delay: float
    consent_interval: float
    disconnected_timeout: float
    consent_timeout: float
    failed_timeout: float
    policy: str
    lite: bool


class IceAgent:
    """An RFC 8445 agent for one component (see the module docstring).

    ``controlling`` is the initial role (JSEP: the offerer controls, RFC 8829 §5.2.1 / 5.3.1);
    ``stun_servers``/``turn_servers`` are where server-reflexive/relayed candidates come from;
    ``policy="relay"`` uses relayed candidates only (W3C ``iceTransportPolicy``).
    """

    def __init__(
        self,
        *,
        controlling: bool,
        ufrag: str | None = None,
        pwd: str | None = None,
        stun_servers: Sequence[Address] = (),
        turn_servers: Sequence[TurnServer] = (),
        policy: str = "all",
        lite: bool = False,
        ta: float = 0.05,
        check_rto: float = 0.5,
        nomination_delay: float = 0.5,
        consent_interval: float = 5.0,
        disconnected_timeout: float = 7.5,
        consent_timeout: float = 30.0,
        failed_timeout: float = 39.5,
        tie_breaker: int | None = None,
        software: str | None = None,
        random_bytes: RandomBytes = default_random_bytes,
        trace: Trace = NULL_TRACE,
    ) -> None:
        if policy not in ("all", "relay"):
            raise ValueError(f"policy must be 'all' or 'relay', not {policy!r}")
        self._random_bytes = random_bytes
        self._trace = trace
        self._cfg = _Config(ta, check_rto, nomination_delay, consent_interval,
                            disconnected_timeout, consent_timeout, failed_timeout, policy, lite)
        # RFC 8445 §6.1.1: an ICE-lite agent is always controlled.
        self.controlling = controlling and not lite
        self.tie_breaker = (
            tie_breaker if tie_breaker is not None else int.from_bytes(random_bytes(8), "big")
        )
        self.ufrag = ufrag if ufrag is not None else self._ice_chars(4)
        self.pwd = pwd if pwd is not None else self._ice_chars(22)
        self._old_local: tuple[str, str] | None = None  # accepted until a new pair is selected
        self.remote_ufrag: str | None = None
        self.remote_pwd: str | None = None
        self.remote_lite = False
        self.stun_servers = list(stun_servers)
        self.turn_servers = list(turn_servers)
        self.state = IceState.NEW
        self.stats = AgentStats()
        self.generation = 0
        self._stun = StunClient(random_bytes=random_bytes, software=software, trace=trace)
        self._software = software
        self._pending: dict[bytes, _Pending] = {}
        self._hosts: dict[Address, Candidate] = {}
        self._relays: dict[Address, _Relay] = {}  # by relayed address once allocated
        self._relay_list: list[_Relay] = []
        self._local: list[Candidate] = []  # every signalled local candidate
        self._remote: list[Candidate] = []
        self._remote_by_addr: dict[Address, Candidate] = {}
        self._pairs: list[CandidatePair] = []
        self._pair_by_key: dict[tuple[Address, Address], CandidatePair] = {}
        self._triggered: deque[CandidatePair] = deque()
        self._selected: CandidatePair | None = None
        self._transmits: deque[Transmit] = deque()
        self._events: deque[IceEvent] = deque()
        self._gathering_started = False
        self._gathering_done = False
        self._remote_done = False
        self._next_check: float = 0.0  # pacing: no ordinary/triggered check before this
        self._first_valid: float | None = None
        self._checking_since: float | None = None
        self._closed = False

    # --- credentials and roles -------------------------------------------------------------

    def _ice_chars(self, count: int) -> str:
        """RFC 8445 §5.3: ufrag >= 24 bits, pwd >= 128 bits of randomness, from ice-chars."""
        return "".join(_ICE_CHARS[b & 63] for b in self._random_bytes(count))

    @property
    def local_credentials(self) -> tuple[str, str]:
        return (self.ufrag, self.pwd)

    @property
    def lite(self) -> bool:
        """Whether this agent runs as ICE-lite (signal ``a=ice-lite``, RFC 8839 §5.3)."""
        return self._cfg.lite

    def set_remote_credentials(self, ufrag: str, pwd: str, *, lite: bool = False) -> None:
        """The peer's ``ice-ufrag``/``ice-pwd`` (and ``ice-lite``).  New values from a peer that
        already gave some mean the peer restarted ICE (RFC 8445 §9): its old candidates and
        pairs go; data stays on the selected pair until a new one is nominated."""
        if not ufrag or not pwd:
            raise ValueError("remote ufrag and pwd must not be empty")
        if self.remote_ufrag is not None and (ufrag, pwd) != (self.remote_ufrag, self.remote_pwd):
            self._forget_remote()
        self.remote_ufrag, self.remote_pwd, self.remote_lite = ufrag, pwd, lite
        if lite and self._cfg.lite:
            raise InvalidStateError("two ICE-lite agents cannot connect (RFC 8445 §2.5)")
        if lite and not self.controlling:
            # RFC 8445 §6.1.1: "a full agent MUST take the controlling role" against a lite one.
            self._set_role(True, "remote is ICE-lite")
        for pair in self._pairs:
            if pair.generation == self.generation and not pair.remote_pwd:
                pair.remote_ufrag, pair.remote_pwd = ufrag, pwd

    def _set_role(self, controlling: bool, why: str) -> None:
        if controlling == self.controlling:
            return
        self.controlling = controlling
        self._trace("ice.role", controlling=controlling, why=why)
        # RFC 8445 §7.3.1.1: "the agent ... MUST ... recompute the pair priorities".
        for pair in self._pairs:
            pair.priority = self._pair_priority(pair.local, pair.remote)
        self._pairs.sort(key=lambda p: p.priority, reverse=True)

    def _pair_priority(self, local: Candidate, remote: Candidate) -> int:
        if self.controlling:
            return pair_priority(local.priority, remote.priority)
        return pair_priority(remote.priority, local.priority)

    # --- local candidates ------------------------------------------------------------------

    def add_host_address(self, address: Address) -> Candidate:
        """Register a UDP socket the driver opened (RFC 8445 §5.1.1.1 host candidate).  Its
        candidate surfaces at once (unless ``policy="relay"``); pairs form with every remote
        candidate of the same family."""
        if self._closed:
            raise InvalidStateError("the agent is closed")
        if address in self._hosts:
            return self._hosts[address]
        family = _family(address[0])
        if family == 0:
            raise ValueError(f"{address[0]!r} is not an IP address")
        index = sum(1 for a in self._hosts if _family(a[0]) == family)
        prio = candidate_priority(CandidateType.HOST, local_preference(address[0], index))
        candidate = Candidate(foundation_for(CandidateType.HOST, address[0]), 1, "udp", prio,
                              address[0], address[1], CandidateType.HOST)
        self._hosts[address] = candidate
        if self._cfg.policy == "all":
            self._surface(candidate)
            self._pair_local(candidate)
        return candidate

    @property
    def local_candidates(self) -> list[Candidate]:
        return list(self._local)

    @property
    def remote_candidates(self) -> list[Candidate]:
        return list(self._remote)

    def gather(self, *, now: float) -> None:
        """Start server-reflexive and relayed gathering from the host addresses added so far
        (RFC 8445 §5.1.1.2); :class:`GatheringComplete` follows when every server answered or
        timed out.  Call once, after the :meth:`add_host_address` calls."""
        if self._gathering_started:
            raise InvalidStateError("gather() was already called (use restart() to re-gather)")
        self._gathering_started = True
        if not self._cfg.lite:
            self._start_server_gathering(now, with_relays=True)
        self._check_gathering_done()

    def _start_server_gathering(self, now: float, *, with_relays: bool) -> None:
        self._gathering_done = False
        if self._cfg.policy == "all":
            for base in self._hosts:
                for server in self.stun_servers:
                    if _family(server[0]) == _family(base[0]):
                        message = Message(Method.BINDING, MessageClass.REQUEST,
                                          self._random_bytes(12))
                        tid = self._stun.request(message, server, now=now, source=base)
                        self._pending[tid] = _Pending("srflx", base, server)
        if with_relays:
            for turn_server in self.turn_servers:
                client = TurnClient(turn_server, source=self._base_for_server(turn_server),
                                    software=self._software, random_bytes=self._random_bytes,
                                    trace=self._trace)
                relay = _Relay(client)
                self._relay_list.append(relay)
                client.allocate(now=now)
                self._drain_relay(relay, now)
        self._drain_stun(now)

    def _base_for_server(self, server: TurnServer) -> Address | None:
        """UDP to a TURN server leaves from the first host address of its family."""
        if server.transport != "udp":
            return None
        family = _family(server.host) or 4
        for base in self._hosts:
            if _family(base[0]) == family:
                return base
        return None

    def _surface(self, candidate: Candidate) -> None:
        # RFC 8445 §5.1.3: a candidate is redundant if "its transport address equals another
        # candidate, and its base equals the base of that other candidate".
        # The one already known has the higher priority: host candidates surface first and a
        # server-reflexive one shares its host's base.
        for c in self._local:
            if c.addr == candidate.addr and _base_of(c) == _base_of(candidate):
                self._trace("ice.redundant", candidate=candidate, kept=c)
                return
        self._local.append(candidate)
        self._trace("ice.gathered", candidate=candidate)
        self._events.append(CandidateGathered(candidate))

    def _check_gathering_done(self) -> None:
        if not self._gathering_started or self._gathering_done or self._closed:
            return
        if any(p.kind == "srflx" for p in self._pending.values()):
            return
        if any(r.gathering for r in self._relay_list):
            return
        self._gathering_done = True
        self._trace("ice.gathering-complete", candidates=len(self._local))
        self._events.append(GatheringComplete())
        self._update_state(None)

    # --- remote candidates -----------------------------------------------------------------

    def add_remote_candidate(self, candidate: Candidate | None, *, now: float) -> None:
        """A trickled remote candidate; ``None`` is end-of-candidates (RFC 8838 §13)."""
        if self._closed:
            return
        if candidate is None:
            self._remote_done = True
            self._trace("ice.remote-end-of-candidates")
            self._update_state(now)
            return
        if candidate.transport != "udp" or candidate.component != 1:
            self._trace("ice.remote-ignored", candidate=candidate, why="not UDP component 1")
            return
        if candidate.is_mdns or _family(candidate.address) == 0:
            self._trace("ice.remote-ignored", candidate=candidate, why="unresolved name")
            return
        if candidate.ufrag is not None and self.remote_ufrag is not None \
                and candidate.ufrag != self.remote_ufrag:
            self._trace("ice.remote-ignored", candidate=candidate, why="old generation")
            return
        known = self._remote_by_addr.get(candidate.addr)
        if known is not None:
            if known.type is not CandidateType.PEER_REFLEXIVE:
                return
            # RFC 8445 §7.3.1.3 / RFC 8838 §11: a signalled candidate replaces the prflx one.
            self._remote.remove(known)
        self._remote.append(candidate)
        self._remote_by_addr[candidate.addr] = candidate
        self._trace("ice.remote-candidate", candidate=candidate)
        for local in self._pair_locals():
            self._add_pair(local, candidate, now)
        self._start_checking(now)

    def _pair_locals(self) -> list[Candidate]:
        # RFC 8445 §6.1.2.2: server-reflexive candidates are replaced by their bases, so pairs
        # are made from host and relayed candidates only.
        out = list(self._hosts.values()) if self._cfg.policy == "all" else []
        out += [r.candidate for r in self._relay_list if r.candidate is not None]
        return out

    def _pair_local(self, local: Candidate) -> None:
        for remote in self._remote:
            self._add_pair(local, remote, None)

    def _add_pair(self, local: Candidate, remote: Candidate, now: float | None) -> \
            CandidatePair | None:
        if _family(local.address) != _family(remote.address):
            return None
        key = (local.addr, remote.addr)
        existing = self._pair_by_key.get(key)
        if existing is not None:
            if existing.remote is not remote:
                existing.remote = remote
                existing.priority = self._pair_priority(local, remote)
            return existing
        if len(self._pairs) >= MAX_PAIRS:
            lowest = self._pairs[-1]
            if lowest.state not in (PairState.FROZEN, PairState.WAITING):
                return None
            self._drop_pair(lowest)
        pair = CandidatePair(local, remote, self._pair_priority(local, remote),
                             generation=self.generation)
        pair.local_ufrag = self.ufrag
        pair.remote_ufrag = self.remote_ufrag or ""
        pair.remote_pwd = self.remote_pwd or ""
        # RFC 8445 §6.1.2.6 / RFC 8838 §10: a new pair is Waiting unless a pair with the same
        # foundation is already Waiting or In-Progress, then Frozen.
        busy = any(p.foundation == pair.foundation and p.state in
                   (PairState.WAITING, PairState.IN_PROGRESS) for p in self._pairs)
        pair.state = PairState.FROZEN if busy else PairState.WAITING
        self._pair_by_key[key] = pair
        self._insert_sorted(pair)
        self._trace("ice.pair", pair=pair, priority=pair.priority)
        return pair

    def _insert_sorted(self, pair: CandidatePair) -> None:
        pairs = self._pairs
        i = len(pairs)
        while i > 0 and pairs[i - 1].priority < pair.priority:
            i -= 1
        pairs.insert(i, pair)

    def _drop_pair(self, pair: CandidatePair) -> None:
        self._pairs.remove(pair)
        self._pair_by_key.pop((pair.local.addr, pair.remote.addr), None)
        if pair in self._triggered:
            self._triggered.remove(pair)

    def _forget_remote(self) -> None:
        """A restart (ours or the peer's): a new checklist generation.  The peer's candidates
        and every pair go, except the selected pair, which carries data (and consent checks,
        with the old credentials) until a pair of the new generation is nominated (§9)."""
        self.generation += 1
        self._trace("ice.new-generation", generation=self.generation, old=self.remote_ufrag)
        self._remote.clear()
        self._remote_by_addr.clear()
        self._remote_done = False
        keep = self._selected
        for pair in self._pairs:
            if pair is not keep and pair.transaction_id is not None:
                self._stun.cancel(pair.transaction_id)
                self._pending.pop(pair.transaction_id, None)
        self._pairs = []
        self._pair_by_key.clear()
        self._triggered.clear()
        self._first_valid = None
        self._checking_since = None
        if self.state is IceState.FAILED:
            self._selected = None
            self._set_state(IceState.NEW)
        elif keep is None and self.state is IceState.CHECKING:
            self._set_state(IceState.NEW)

    # --- the user's data -------------------------------------------------------------------

    @property
    def selected_pair(self) -> CandidatePair | None:
        return self._selected

    @property
    def pairs(self) -> list[CandidatePair]:
        return list(self._pairs)

    def send(self, data: bytes, *, now: float) -> None:
        """Queue ``data`` to the peer over the selected pair (through TURN when it is relayed).
        RFC 7675 §5.1: nothing may be sent once consent expired (state FAILED)."""
        pair = self._selected
        if pair is None or self.state in (IceState.FAILED, IceState.CLOSED):
            raise InvalidStateError(f"no selected pair to send on (state {self.state.value})")
        self._send_from(pair.local.addr, pair.remote.addr, data, now)

    def _send_from(self, source: Address | None, addr: Address, data: bytes, now: float) -> None:
        """Send from a local candidate's base: through its TURN allocation when it is a relayed
        address (RFC 8656 §10-§12), else straight from the host socket."""
        relay = self._relays.get(source) if source is not None else None
        if relay is not None:
            relay.client.send(data, addr, now=now)
            self._drain_relay(relay, now)
        else:
            self._transmits.append(Transmit(data, addr, source))

    # --- input ------------------------------------------------------------------------------

    def handle_datagram(
        self, data: bytes, addr: Address, *, local: Address | None, now: float
    ) -> bytes | None:
        """Feed one datagram that arrived at ``local`` from ``addr``.  STUN for the agent and
        everything from a TURN server is consumed (None returned); any other datagram -- or
        the payload a TURN server relayed -- is returned for the layers above (DTLS, SRTP).

        Over TCP/TLS to a TURN server, pass each whole frame with ``local=None``."""
        self.stats.datagrams += 1
        for relay in self._relays_for(addr, local):
            client = relay.client
            if is_stun(data):
                tid = data[8:20]
                if tid in self._pending:  # our own srflx Binding to this server
                    self._handle_stun(data, addr, local, now)
                    return None
            received = client.handle_datagram(data, now=now)
            self._drain_relay(relay, now)
            if received is None:
                return None
            payload, peer = received
            relayed = client.relayed_address
            return self._handle_from(payload, peer, relayed, now)
        return self._handle_from(data, addr, local, now)

    def _relays_for(self, addr: Address, local: Address | None) -> list[_Relay]:
        """The allocation a datagram from a TURN server belongs to: a frame from a TCP/TLS
        stream (``local`` None) to a TCP/TLS allocation, a UDP datagram to the UDP allocation
        from that ``local`` socket -- one server may have both (``turn:h:p`` and
        ``turn:h:p?transport=tcp``); a caller that passes UDP with ``local=None`` (one socket)
        still finds its allocation."""
        matching = [r for r in self._relay_list if addr == r.client.server.addr
                    and (local is None or local == r.client.source)]
        exact = [r for r in matching if (r.client.server.transport != "udp") == (local is None)]
        return (exact or matching)[:1]

    def _handle_from(
        self, data: bytes, addr: Address, local: Address | None, now: float
    ) -> bytes | None:
        if data and data[0] < 4 and is_stun(data):
            self._handle_stun(data, addr, local, now)
            return None
        return data

    def _handle_stun(
        self, data: bytes, addr: Address, local: Address | None, now: float
    ) -> None:
        try:
            message = Message.parse(data)
        except ParseError as exc:
            self.stats.stun_parse_errors += 1
            self._trace("ice.drop", why="stun-parse-error", reason=exc.reason, addr=addr)
            return None
        if self._closed:
            return None
        cls = message.message_class
        if cls is MessageClass.REQUEST:
            if message.method == Method.BINDING and local is not None:
                self._handle_request(message, addr, local, now)
            else:
                self.stats.unexpected += 1
            return None
        if cls is MessageClass.INDICATION:
            return None  # RFC 8445 §11: keepalive Binding indications need no answer
        pending = self._pending.get(message.transaction_id)
        if pending is None:
            self.stats.unexpected += 1
            self._trace("ice.drop", why="unmatched-response", addr=addr)
            return None
        if pending.kind == "srflx" and (addr != pending.server or local != pending.base):
            # Only the server we asked, answering at the socket we asked from, may tell us our
            # mapped address (RFC 8489 §6.3: a response is matched to its request).
            self.stats.unexpected += 1
            self._trace("ice.drop", why="srflx-response-from-elsewhere", addr=addr, local=local)
            return None
        if pending.kind in ("check", "consent") and (
            local != pending.base or (pending.pair is not None and addr != pending.pair.remote.addr)
        ):
            # RFC 8445 §7.2.5.2.1: "the ICE agent MUST check that the source and destination
            # transport addresses in the Binding request and response are symmetric" -- else
            # "the agent MUST set the candidate pair state to Failed".
            self.stats.non_symmetric += 1
            self._trace("ice.drop", why="non-symmetric", addr=addr, local=local)
            # RFC 8489 §9.1.4: a response failing the integrity check "MUST be discarded, as if
            # it had never been received" -- a forged one must not fail the pair.
            if pending.pair is not None and pending.kind == "check" \
                    and message.check_integrity(pending.pair.remote_pwd.encode()):
                self._stun.cancel(message.transaction_id)
                self._pending.pop(message.transaction_id, None)
                self._pair_failed(pending.pair, now, "non-symmetric response")
            return None
        self._stun.handle_message(message, addr, now=now)
        self._drain_stun(now)
        return None

    # --- incoming checks (RFC 8445 §7.3) ----------------------------------------------------

    def _handle_request(self, message: Message, addr: Address, local: Address, now: float) -> None:
        self.stats.stun_requests += 1
        via_relay = local in self._relays
        if not via_relay and (local not in self._hosts or self._cfg.policy == "relay"):
            self.stats.unexpected += 1
            self._trace("ice.drop", why="request-to-unknown-base", local=local)
            return
        username = message.get(Username)
        if username is None or not message.has_integrity:
            # RFC 8489 §9.1.3: missing USERNAME or MESSAGE-INTEGRITY -> 400.
            self.stats.bad_requests += 1
            self._respond(message.error_response(BAD_REQUEST), addr, local, None, now)
            return
        target, _, _ = username.value.partition(":")
        pwd = None
        if target == self.ufrag:
            pwd = self.pwd
        elif self._old_local is not None and target == self._old_local[0] \
                and self._selected is not None and addr == self._selected.remote.addr:
            # the pre-restart credentials serve the consent of the pair still carrying the data
            # (§9), nothing else: Chromium validates and nominates new paths with them, and we
            # would never reach the new generation
            pwd = self._old_local[1]
        if pwd is None or not message.check_integrity(pwd.encode()):
            # §9.1.3: unknown username or a bad MAC -> 401, without integrity.
            self.stats.bad_requests += 1
            self._trace("ice.drop", why="bad-credentials", addr=addr, username=username.value)
            self._respond(message.error_response(UNAUTHENTICATED), addr, local, None, now)
            return
        key = pwd.encode()
        if message.has_fingerprint and not message.check_fingerprint():
            self.stats.bad_requests += 1
            return
        # RFC 8445 §7.3.1.1 role conflicts.
        theirs_controlling = message.get(IceControlling)
        theirs_controlled = message.get(IceControlled)
        if self.controlling and theirs_controlling is not None:
            self.stats.role_conflicts += 1
            if self.tie_breaker >= theirs_controlling.value:
                self._respond(message.error_response(ROLE_CONFLICT), addr, local, key, now)
                return
            self._set_role(False, "487 rule: their tie-breaker is larger")
        elif not self.controlling and theirs_controlled is not None:
            self.stats.role_conflicts += 1
            if self.tie_breaker >= theirs_controlled.value:
                self._set_role(True, "487 rule: our tie-breaker is larger")
            else:
                self._respond(message.error_response(ROLE_CONFLICT), addr, local, key, now)
                return
        self._respond(message.success_response(XorMappedAddress(addr)), addr, local, key, now)
        if target != self.ufrag:
            return  # a consent check on the pre-restart pair: answered, nothing to learn
        # §7.3.1.3: learn a peer-reflexive remote candidate.
        remote = self._remote_by_addr.get(addr)
        if remote is None:
            priority = message.get(Priority)
            prio = priority.value if priority is not None else 0
            remote = Candidate(foundation_for(CandidateType.PEER_REFLEXIVE, addr[0]), 1, "udp",
                               prio, addr[0], addr[1], CandidateType.PEER_REFLEXIVE)
            self._remote.append(remote)
            self._remote_by_addr[addr] = remote
            self._trace("ice.prflx-remote", candidate=remote)
        local_candidate = self._relays[local].candidate if via_relay else self._hosts[local]
        if local_candidate is None:
            return
        pair = self._pair_by_key.get((local, addr))
        if pair is None:
            pair = self._add_pair(local_candidate, remote, now)
            if pair is None:
                return
        use_candidate = message.get(UseCandidate) is not None and not self.controlling
        if self._cfg.lite:
            # A lite agent never checks: a valid request is enough (RFC 8445 §2.5).
            if pair.state is not PairState.SUCCEEDED:
                pair.state = PairState.SUCCEEDED
                pair.last_consent = now
            if use_candidate:
                self._nominated(pair, now)
            self._start_checking(now)
            return
        # §7.3.1.4 triggered checks.
        if pair.state is PairState.SUCCEEDED:
            if use_candidate:
                self._nominated(pair, now)
        else:
            if use_candidate:
                pair.nominate_on_success = True
            if pair.state is not PairState.IN_PROGRESS:
                pair.state = PairState.WAITING
                if pair not in self._triggered:
                    self._triggered.append(pair)
        self._start_checking(now)

    def _respond(
        self, response: Message, addr: Address, local: Address, key: bytes | None, now: float
    ) -> None:
        self._send_from(local, addr, response.serialize(integrity_key=key, fingerprint=True),
                        now)

    # --- outgoing checks (RFC 8445 §6.1.4, §7.2) -------------------------------------------

    def _start_checking(self, now: float | None) -> None:
        if self.state is IceState.NEW and self._pairs:
            self._set_state(IceState.CHECKING)
        if self._checking_since is None and self._pairs and now is not None:
            self._checking_since = now

    def _next_pair(self) -> CandidatePair | None:
        """§6.1.4.2: a triggered check first, else the best Waiting pair, else unfreeze."""
        while self._triggered:
            pair = self._triggered.popleft()
            if pair.state is PairState.WAITING and pair in self._pairs:
                return pair
        best_frozen = None
        for pair in self._pairs:  # sorted by priority
            if pair.state is PairState.WAITING:
                return pair
            if pair.state is PairState.FROZEN and best_frozen is None:
                best_frozen = pair
        return best_frozen

    def _can_check(self) -> bool:
        return (not self._cfg.lite and self.remote_pwd is not None and not self._closed
                and self.state is not IceState.FAILED)

    def _check_request(self, pair: CandidatePair, nominate: bool) -> Message:
        """RFC 8445 §7.1: a Binding request for a connectivity (or consent) check."""
        attrs = [
            Username(f"{pair.remote_ufrag}:{pair.local_ufrag}"),
            # §7.1.1: PRIORITY is that of a peer-reflexive candidate from this base.
            Priority(candidate_priority(CandidateType.PEER_REFLEXIVE,
                                        (pair.local.priority >> 8) & 0xFFFF)),
            IceControlling(self.tie_breaker) if self.controlling else IceControlled(
                self.tie_breaker),
        ]
        if nominate:
            attrs.append(UseCandidate())  # §7.1.2
        return Message(Method.BINDING, MessageClass.REQUEST, self._random_bytes(12),
                       tuple(attrs))

    def _send_check(self, pair: CandidatePair, now: float, *, nominate: bool = False) -> None:
        message = self._check_request(pair, nominate)
        # §14.3: "RTO = MAX (500ms, Ta * (Num-Waiting + Num-In-Progress))".
        busy = sum(1 for p in self._pairs if p.state in (PairState.WAITING, PairState.IN_PROGRESS))
        rto = max(self._cfg.check_rto, self._cfg.ta * busy)
        tid = self._stun.request(message, pair.remote.addr, now=now,
                                 integrity_key=pair.remote_pwd.encode(), source=pair.local.addr,
                                 rto=rto)
        if not (nominate and pair.state is PairState.SUCCEEDED):
            # A nomination re-checks a valid pair: it stays valid (RFC 8445 keeps the valid list
            # apart from the checklist) whatever becomes of the nominating check.
            pair.state = PairState.IN_PROGRESS
        pair.transaction_id = tid
        pair.use_candidate = nominate
        pair.sent_at = now
        self._pending[tid] = _Pending("check", pair.local.addr, pair=pair)
        self.stats.checks_sent += 1
        self._trace("ice.check", pair=pair, nominate=nominate, now=now)
        self._drain_stun(now)

    def _check_response(self, pending: _Pending, event: ResponseReceived, now: float) -> None:
        pair = pending.pair
        if pair is None or pair.transaction_id != event.transaction_id:
            return
        pair.transaction_id = None
        pair.rtt = now - pair.sent_at
        self.stats.checks_succeeded += 1
        mapped = event.response.get(XorMappedAddress)
        if mapped is not None and pair.local.type is CandidateType.HOST \
                and self._cfg.policy == "all" \
                and not any(c.addr == mapped.address for c in self._local):
            # §7.2.5.3.1: a mapped address that is no local candidate is a new peer-reflexive
            # local candidate; it is never signalled (§5.1.1.4) and shares the host's base.
            self._trace("ice.prflx-local", address=mapped.address, base=pair.local.addr)
        first = pair.state is not PairState.SUCCEEDED
        pair.state = PairState.SUCCEEDED
        pair.last_consent = now
        if first:
            self._trace("ice.valid", pair=pair, rtt=pair.rtt)
            # §7.2.5.3.3: unfreeze the pairs with the same foundation.
            for other in self._pairs:
                if other.state is PairState.FROZEN and other.foundation == pair.foundation:
                    other.state = PairState.WAITING
            if self._first_valid is None:
                self._first_valid = now
        if pair.use_candidate if self.controlling else pair.nominate_on_success:
            self._nominated(pair, now)
        self._maybe_nominate(now)
        self._update_state(now)

    def _check_failed(self, pending: _Pending, event: RequestFailed | RequestTimedOut,
                      now: float) -> None:
        pair = pending.pair
        if pair is None or pair.transaction_id != event.transaction_id:
            return
        pair.transaction_id = None
        if isinstance(event, RequestFailed) and event.error_code == ROLE_CONFLICT:
            # §7.2.5.1: "the agent MUST switch to the controlled role if it sent ICE-CONTROLLING
            # ... and vice versa ... and MUST enqueue the candidate pair whose check generated
            # the 487 into the triggered-check queue" (state Waiting).
            self.stats.role_conflicts += 1
            sent_controlling = event.request.get(IceControlling) is not None
            self._set_role(not sent_controlling, "487 response")
            pair.state = PairState.WAITING
            self._triggered.append(pair)
            return
        reason = event.detail if isinstance(event, RequestFailed) else "timed out"
        self._pair_failed(pair, now, reason)

    def _pair_failed(self, pair: CandidatePair, now: float, why: str) -> None:
        self.stats.checks_failed += 1
        pair.transaction_id = None
        if pair.state is not PairState.SUCCEEDED:
            pair.state = PairState.FAILED
        self._trace("ice.pair-failed", pair=pair, why=why)
        self._update_state(now)

    # --- nomination (RFC 8445 §8) -----------------------------------------------------------

    def _nominated(self, pair: CandidatePair, now: float) -> None:
        pair.nominated = True
        if pair.generation != self.generation and self._selected is not None:
            return
        current = self._selected
        if current is not None and current.generation == pair.generation \
                and current.nominated and current.priority >= pair.priority:
            return
        self._select(pair, now)

    def _select(self, pair: CandidatePair, now: float) -> None:
        self._selected = pair
        self._old_local = None  # §9: the new generation took over
        pair.last_consent = now if pair.last_consent is None else pair.last_consent
        pair.next_consent = now + self._consent_delay()
        self._trace("ice.selected", pair=pair)
        self._events.append(SelectedPairChanged(pair.local, pair.remote))
        self._update_state(now)

    def _nomination_pending(self) -> bool:
        """Controlling, a valid pair of this generation, none nominated or being nominated."""
        if not self.controlling or self._first_valid is None or not self._can_check():
            return False
        if self._selected is not None and self._selected.generation == self.generation:
            return False
        if not any(p.generation == self.generation and p.state is PairState.SUCCEEDED
                   for p in self._pairs):
            return False  # the valid pair failed since (a nomination check failed): no timer
        return not any(p.use_candidate and p.transaction_id is not None for p in self._pairs)

    def _maybe_nominate(self, now: float) -> None:
        """§8.1.1 regular nomination: re-check the best valid pair with USE-CANDIDATE."""
        if not self._nomination_pending():
            return
        best = None
        for pair in self._pairs:
            if pair.generation == self.generation and pair.state is PairState.SUCCEEDED:
                best = pair
                break
        if best is None:
            return
        better_pending = any(
            p.priority > best.priority and p.state in
            (PairState.FROZEN, PairState.WAITING, PairState.IN_PROGRESS) for p in self._pairs
        )
        if better_pending and self._first_valid is not None \
                and now < self._first_valid + self._cfg.nomination_delay:
            return
        self._send_check(best, now, nominate=True)

    # --- consent (RFC 7675) ------------------------------------------------------------------

    def _consent_delay(self) -> float:
        # RFC 7675 §5.1: "randomized interval ... uniformly distributed between 0.8 and 1.2
        # times the basic period".
        r = int.from_bytes(self._random_bytes(2), "big") / 65535
        return self._cfg.consent_interval * (0.8 + 0.4 * r)

    def _send_consent(self, pair: CandidatePair, now: float) -> None:
        # RFC 7675 §5.1: a consent check is an ICE connectivity check on the selected pair.
        message = self._check_request(pair, False)
        tid = self._stun.request(message, pair.remote.addr, now=now,
                                 integrity_key=pair.remote_pwd.encode(), source=pair.local.addr,
                                 rto=self._cfg.check_rto, rc=3)
        pair.consent_tid = tid
        self._pending[tid] = _Pending("consent", pair.local.addr, pair=pair)
        self.stats.consent_sent += 1
        self._drain_stun(now)

    # --- state ------------------------------------------------------------------------------

    def _set_state(self, state: IceState) -> None:
        if state is self.state:
            return
        self._trace("ice.state", old=self.state.value, new=state.value)
        self.state = state
        self._events.append(StateChanged(state))

    def _update_state(self, now: float | None) -> None:
        if self._closed or self.state is IceState.FAILED:
            return
        pair = self._selected
        if pair is not None:
            if now is not None and pair.last_consent is not None and not self._cfg.lite:
                # Deadlines are compared as poll_timeout() computes them (last + timeout): as
                # ``now - last >= timeout`` float rounding can miss its own deadline (busy loop).
                if now >= pair.last_consent + self._cfg.consent_timeout:
                    # RFC 7675 §5.1: consent expired -> stop sending.
                    self._trace("ice.consent-expired", pair=pair)
                    self._set_state(IceState.FAILED)
                    return
                if now >= pair.last_consent + self._cfg.disconnected_timeout:
                    self._set_state(IceState.DISCONNECTED)
                    return
            done = (self._gathering_done or self._cfg.lite) and self._remote_done and \
                not any(p.state in (PairState.WAITING, PairState.IN_PROGRESS, PairState.FROZEN)
                        for p in self._pairs if p.generation == self.generation)
            if self.state is not IceState.COMPLETED:
                self._set_state(IceState.CONNECTED)  # connected comes first, as in browsers
            if done and pair.generation == self.generation:
                self._set_state(IceState.COMPLETED)
            return
        if self.state is IceState.NEW:
            return
        # No selected pair: fail when nothing can succeed any more (§8.1.2), or when checks
        # ran ``failed_timeout`` without a valid pair (RFC 8863 ICE PAC's patience).
        alive = any(p.state is not PairState.FAILED for p in self._pairs)
        exhausted = not alive and self._remote_done and (self._gathering_done or self._cfg.lite)
        impatient = (now is not None and self._checking_since is not None
                     and now >= self._checking_since + self._cfg.failed_timeout
                     and not any(p.state is PairState.SUCCEEDED for p in self._pairs))
        if exhausted or impatient:
            self._set_state(IceState.FAILED)

    # --- restart (RFC 8445 §9) ---------------------------------------------------------------

    def restart(self, *, now: float, ufrag: str | None = None,
                pwd: str | None = None) -> tuple[str, str]:
        """New local credentials (``ufrag``/``pwd`` if given, e.g. those a JSEP offer already
        carries; otherwise drawn here) and a new generation of candidates; returns (ufrag, pwd).
        The peer must get them with our candidates again; data stays on the selected pair
        until a pair of the new generation is nominated."""
        if self._closed:
            raise InvalidStateError("the agent is closed")
        self._old_local = (self.ufrag, self.pwd) if self._selected is not None else None
        self.ufrag = ufrag if ufrag is not None else self._ice_chars(4)
        self.pwd = pwd if pwd is not None else self._ice_chars(22)
        self._trace("ice.restart", ufrag=self.ufrag)
        # The peer answers a restart with new credentials too (RFC 8839 §4.4.1.1.2); until
        # set_remote_credentials() brings them, the old ones are kept for nothing but consent.
        self._forget_remote()
        # Candidates are signalled again; reflexive ones are gathered again (the NAT mapping may
        # be what changed).
        old_local = self._local
        self._local = []
        for c in old_local:
            if c.type in (CandidateType.HOST, CandidateType.RELAYED):
                self._surface(c)
        if self._gathering_started and not self._cfg.lite:
            self._start_server_gathering(now, with_relays=False)
        self._check_gathering_done()
        return self.ufrag, self.pwd

    def close(self, *, now: float) -> None:
        """Stop: deallocate TURN allocations, no more checks or consent (state CLOSED)."""
        if self._closed:
            return
        for relay in self._relay_list:
            relay.client.close(now=now)
            self._drain_relay(relay, now)
        for tid in list(self._pending):
            self._stun.cancel(tid)
        self._pending.clear()
        self._set_state(IceState.CLOSED)
        self._closed = True

    # --- drive loop ---------------------------------------------------------------------------

    def handle_timeout(self, now: float) -> None:
        self._stun.handle_timeout(now)
        self._drain_stun(now)
        for relay in self._relay_list:
            deadline = relay.client.poll_timeout()
            if deadline is not None and deadline <= now:
                relay.client.handle_timeout(now)
                self._drain_relay(relay, now)
        if self._closed:
            return
        self._run_checks(now)
        pair = self._selected
        if pair is not None and not self._cfg.lite and self.state is not IceState.FAILED \
                and pair.next_consent is not None and now >= pair.next_consent:
            pair.next_consent = now + self._consent_delay()
            if pair.consent_tid is None:
                self._send_consent(pair, now)
        self._update_state(now)

    def _run_checks(self, now: float) -> None:
        if not self._can_check():
            return
        if now >= self._next_check:
            pair = self._next_pair()
            if pair is not None:
                self._send_check(pair, now)
                self._next_check = now + self._cfg.ta
        self._maybe_nominate(now)

    def poll_transmit(self) -> Transmit | None:
        return self._transmits.popleft() if self._transmits else None

    def poll_event(self) -> IceEvent | None:
        return self._events.popleft() if self._events else None

    def poll_timeout(self) -> float | None:
        times = [t for t in (self._stun.poll_timeout(),
                             *(r.client.poll_timeout() for r in self._relay_list))
                 if t is not None]
        if self._closed:  # only TURN deallocations remain
            return min(times, default=None)
        if self._can_check():
            if self._triggered or any(
                    p.state in (PairState.WAITING, PairState.FROZEN) for p in self._pairs):
                times.append(self._next_check)
            if self._nomination_pending():
                times.append(self._first_valid + self._cfg.nomination_delay
                             if self._first_valid is not None else self._next_check)
        pair = self._selected
        if pair is not None and not self._cfg.lite and self.state is not IceState.FAILED:
            if pair.next_consent is not None:
                times.append(pair.next_consent)
            if pair.last_consent is not None:
                if self.state is not IceState.DISCONNECTED:
                    times.append(pair.last_consent + self._cfg.disconnected_timeout)
                times.append(pair.last_consent + self._cfg.consent_timeout)
        if self._selected is None and self._checking_since is not None \
                and self.state is IceState.CHECKING \
                and not any(p.state is PairState.SUCCEEDED for p in self._pairs):
            # Only while _update_state() can act on it: with a valid pair it never fails on
            # this timer, and a deadline it does not act on would be a busy loop.
            times.append(self._checking_since + self._cfg.failed_timeout)
        return min(times, default=None)

    # --- internals ----------------------------------------------------------------------------

    def _drain_stun(self, now: float) -> None:
        stun = self._stun
        while (tx := stun.poll_transmit()) is not None:
            self._send_from(tx.source, tx.addr, tx.data, now)
        while (event := stun.poll_event()) is not None:
            pending = self._pending.pop(event.transaction_id, None)
            if pending is None:
                continue
            if pending.kind == "srflx":
                self._srflx_done(pending, event)
            elif pending.kind == "check":
                if isinstance(event, ResponseReceived):
                    self._check_response(pending, event, now)
                else:
                    self._check_failed(pending, event, now)
            else:
                self._consent_done(pending, event, now)
        self._check_gathering_done()

    def _srflx_done(self, pending: _Pending,
                    event: ResponseReceived | RequestFailed | RequestTimedOut) -> None:
        server = f"stun:{pending.server[0]}:{pending.server[1]}" if pending.server else "stun"
        if not isinstance(event, ResponseReceived):
            reason = event.detail if isinstance(event, RequestFailed) else "timed out"
            self._trace("ice.server-failed", server=server, reason=reason)
            self._events.append(ServerFailed(server, reason))
            return
        mapped = event.response.get(XorMappedAddress)
        if mapped is None:
            self._events.append(ServerFailed(server, "response without XOR-MAPPED-ADDRESS"))
            return
        host = self._hosts.get(pending.base)
        if host is None or self._closed:
            return
        local_pref = (host.priority >> 8) & 0xFFFF
        candidate = Candidate(
            foundation_for(CandidateType.SERVER_REFLEXIVE, host.address,
                           pending.server[0] if pending.server else None),
            1, "udp", candidate_priority(CandidateType.SERVER_REFLEXIVE, local_pref),
            mapped.address[0], mapped.address[1], CandidateType.SERVER_REFLEXIVE,
            host.address, host.port)
        self._surface(candidate)

    def _consent_done(self, pending: _Pending,
                      event: ResponseReceived | RequestFailed | RequestTimedOut,
                      now: float) -> None:
        pair = pending.pair
        if pair is None:
            return
        pair.consent_tid = None
        if isinstance(event, ResponseReceived):
            pair.last_consent = now
            self._update_state(now)
        elif isinstance(event, RequestFailed) and event.error_code == ROLE_CONFLICT:
            sent_controlling = event.request.get(IceControlling) is not None
            self._set_role(not sent_controlling, "487 response to consent")
        else:
            self._trace("ice.consent-lost", pair=pair)

    def _drain_relay(self, relay: _Relay, now: float) -> None:
        client = relay.client
        while (tx := client.poll_transmit()) is not None:
            self._transmits.append(tx)
        while (event := client.poll_event()) is not None:
            server = f"turn:{client.server.host}:{client.server.port}"
            if isinstance(event, Allocated):
                relayed = event.relayed
                prio = candidate_priority(CandidateType.RELAYED,
                                          local_preference(relayed[0], len(self._relays)))
                mapped = event.mapped
                candidate = Candidate(
                    foundation_for(CandidateType.RELAYED, relayed[0], client.server.host,
                                   client.server.transport),
                    1, "udp", prio, relayed[0], relayed[1], CandidateType.RELAYED,
                    mapped[0] if mapped else None, mapped[1] if mapped else None)
                relay.candidate = candidate
                relay.gathering = False
                self._relays[relayed] = relay
                self._surface(candidate)
                self._pair_local(candidate)
                if self._remote:
                    self._start_checking(now)
                # RFC 8656 §9: permissions for every remote candidate address checks will use.
                ips = {c.address for c in self._remote if _family(c.address) == _family(
                    relayed[0])}
                if ips:
                    client.create_permission(sorted(ips), now=now)
            elif isinstance(event, AllocationFailed):
                relay.gathering = False
                self._trace("ice.server-failed", server=server, reason=event.reason)
                self._events.append(ServerFailed(server, event.reason))
            elif isinstance(event, TurnClosed):
                relay.gathering = False
                self._trace("ice.relay-closed", server=server, reason=event.reason)
        while (tx := client.poll_transmit()) is not None:
            self._transmits.append(tx)
        self._check_gathering_done()

