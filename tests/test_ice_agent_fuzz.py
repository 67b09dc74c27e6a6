"""Hostile input to the RFC 8445 agent (issue #6: "arbitrary STUN input to the agent in any state
never raises and never breaks a later valid connection").

Two agents on the virtual network of ``tests/ice_harness.py``.  At a drawn point -- before any
credentials, while checking, connected, after an ICE restart, after close -- one of them is fed
drawn datagrams from drawn source addresses to drawn local addresses: arbitrary bytes, STUN-looking
noise, mutations of real messages, and (mostly) well-formed STUN built with ``rtcstack.stun``: any
method and class, transaction IDs copied from the agents' own requests (taken from the network
tap), USERNAME with the right, swapped, old or garbage ufrags, MESSAGE-INTEGRITY with the agent's
password, the peer's password, an old password or a wrong one, PRIORITY, ICE-CONTROLLING/
CONTROLLED with any tie-breaker, USE-CANDIDATE, XOR-MAPPED-ADDRESS, ERROR-CODE, FINGERPRINT good
or bad, unknown attributes.

Properties checked over the whole run:

- nothing raises out of ``handle_datagram``/``handle_timeout``/``poll_*``;
- no busy loop: after ``handle_timeout(t)`` with ``t >= poll_timeout()``, ``poll_timeout()`` is
  later than ``t`` or the agent queued a datagram or an event; and the agent is not woken more
  than a few times at one instant;
- afterwards the two agents connect (or stay connected) and exchange data both ways.  Input that
  was validly authenticated may legitimately change state (a signed role conflict, a signed
  nomination), so then only eventual connection within a longer time is expected;
- a closed agent stays silent: no datagram, no event, no timer.

The regression tests at the end replay, deterministically, each bug these properties found.
``RTCSTACK_FUZZ_SCALE=N`` multiplies the number of examples for a longer hunt.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtcstack.common import Address, SeededRandom, Transmit
from rtcstack.ice.agent import IceAgent, IceState, PairState, StateChanged
from rtcstack.stun import (
    ErrorCode,
    Fingerprint,
    IceControlled,
    IceControlling,
    MappedAddress,
    Message,
    MessageClass,
    MessageIntegrity,
    Method,
    Priority,
    Software,
    UnknownAttribute,
    UseCandidate,
    Username,
    XorMappedAddress,
)
from rtcstack.stun.attributes import Attribute
from rtcstack.stun.message import is_stun
from tests.ice_harness import Peer, VirtualNetwork

A_ADDR: Address = ("192.0.2.1", 5000)
B_ADDR: Address = ("192.0.2.2", 6000)
STUN: Address = ("203.0.113.1", 3478)
COOKIE = b"\x21\x12\xa4\x42"

PHASES = ("before-credentials", "checking", "connected", "restart")
OTHER_ADDRS: list[Address] = [
    ("192.0.2.99", 1234),
    ("192.0.2.2", 6001),  # the peer's IP, another port
    ("192.0.2.1", 5001),  # our IP, another port
    ("0.0.0.0", 0),
    ("198.51.100.7", 65535),
    ("2001:db8::9", 4000),
    ("255.255.255.255", 9),
]
# RTCSTACK_FUZZ_SCALE=50 for a long hunt; the default keeps the file under a few seconds.
SCALE = int(os.environ.get("RTCSTACK_FUZZ_SCALE", "1"))
U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(0, 2**64 - 1)


# --- watching the drive loop ------------------------------------------------------------------


@dataclass
class Watch:
    """Checks the no-busy-loop property on every ``handle_timeout`` the harness makes."""

    agent: IceAgent
    last_now: float | None = None
    same_instant: int = 0
    wakeups: int = 0

    def install(self) -> None:
        original = self.agent.handle_timeout

        def handle_timeout(now: float) -> None:
            agent = self.agent
            before = agent.poll_timeout()
            queued = (len(agent._transmits), len(agent._events))
            original(now)
            after = agent.poll_timeout()
            self.wakeups += 1
            if before is not None and before <= now:
                progressed = (after is None or after > now
                              or queued != (len(agent._transmits), len(agent._events)))
                if not progressed:
                    raise AssertionError(
                        f"busy loop: poll_timeout() was {before}, handle_timeout({now}) did "
                        f"nothing and poll_timeout() is now {after} (state {agent.state})")
            if now == self.last_now:
                self.same_instant += 1
                if self.same_instant > 20:
                    raise AssertionError(f"woken {self.same_instant} times at t={now}")
            else:
                self.last_now, self.same_instant = now, 0

        self.agent.handle_timeout = handle_timeout  # type: ignore[method-assign]


def make_agent(controlling: bool, seed: int) -> IceAgent:
    return IceAgent(controlling=controlling, random_bytes=SeededRandom(seed),
                    stun_servers=[STUN])


@dataclass
class Scenario:
    net: VirtualNetwork
    a: Peer
    b: Peer
    target: Peer
    partner: Peer
    # (transaction ID, source, destination) of every STUN request either agent sent
    requests: list[tuple[bytes, Address, Address]] = field(default_factory=list)
    old_credentials: list[tuple[str, str]] = field(default_factory=list)
    authenticated: bool = False  # signed with a real password: may legitimately change state
    signed_answer: bool = False  # a signed response to one of our checks: may fail its pair

    @property
    def agent(self) -> IceAgent:
        return self.target.agent


def scenario(seed: int, target_is_a: bool) -> Scenario:
    net = VirtualNetwork()
    net.add_stun_server(STUN)
    a = net.add_peer(make_agent(True, seed), [A_ADDR])
    b = net.add_peer(make_agent(False, seed + 1), [B_ADDR])
    for peer in (a, b):
        Watch(peer.agent).install()
    sc = Scenario(net, a, b, a if target_is_a else b, b if target_is_a else a)

    def tap(tx: Transmit, src: Address) -> None:
        data = tx.data
        if is_stun(data) and data[0] & 0x01 == 0 and data[1] & 0x10 == 0:  # class REQUEST
            sc.requests.append((data[8:20], src, tx.addr))

    net.tap = tap
    return sc


def both_connected(a: Peer, b: Peer) -> bool:
    ok = (IceState.CONNECTED, IceState.COMPLETED)
    for peer in (a, b):
        pair = peer.agent.selected_pair
        if pair is None or peer.agent.state not in ok or pair.generation != peer.agent.generation:
            return False
    return True


def restart_both(sc: Scenario) -> None:
    """What signaling does for an ICE restart (RFC 8445 §9): new credentials both ways."""
    a, b = sc.a, sc.b
    sc.old_credentials += [a.agent.local_credentials, b.agent.local_credentials]
    a.candidates.clear()
    b.candidates.clear()
    a.agent.restart(now=sc.net.now)
    b.agent.set_remote_credentials(*a.agent.local_credentials)
    b.agent.restart(now=sc.net.now)
    a.agent.set_remote_credentials(*b.agent.local_credentials)


def steps(sc: Scenario, count: int) -> None:
    for _ in range(count):
        sc.net.step(sc.net.now + 5.0)


# --- drawing hostile datagrams ----------------------------------------------------------------


def draw_address(data: st.DataObject, sc: Scenario, label: str) -> Address:
    choices = [sc.partner.addresses[0], sc.target.addresses[0], STUN, *OTHER_ADDRS]
    return data.draw(st.one_of(
        st.sampled_from(choices),
        st.tuples(st.ip_addresses(v=4).map(str), st.integers(0, 65535)),
    ), label=label)


def draw_username(data: st.DataObject, sc: Scenario) -> str:
    me, peer = sc.agent.ufrag, sc.partner.agent.ufrag
    choices = [f"{me}:{peer}", f"{peer}:{me}", f"{me}:", f"{me}:x", ":", "", me]
    choices += [f"{old}:{peer}" for old, _ in sc.old_credentials]
    return data.draw(st.one_of(
        st.sampled_from(choices),
        st.text(max_size=40).filter(lambda s: len(s.encode()) <= 508),
    ), label="username")


def draw_key(data: st.DataObject, sc: Scenario) -> bytes | None:
    me, peer = sc.agent.pwd, sc.partner.agent.pwd
    choices: list[str | None] = [me, peer, None, "wrong-password-0123456"]
    choices += [pwd for _, pwd in sc.old_credentials]
    key = data.draw(st.sampled_from(choices), label="integrity key")
    if key is not None and key != "wrong-password-0123456":
        sc.authenticated = True  # a real password: the message may legitimately change state
    return key.encode() if key is not None else None


def draw_attribute(data: st.DataObject, sc: Scenario) -> Attribute:
    kind = data.draw(st.sampled_from([
        "username", "priority", "controlling", "controlled", "use-candidate", "xor-mapped",
        "mapped", "error", "software", "unknown", "mi-garbage", "fingerprint-garbage",
    ]), label="attribute")
    if kind == "username":
        return Username(draw_username(data, sc))
    if kind == "priority":
        return Priority(data.draw(U32))
    if kind == "controlling":
        return IceControlling(data.draw(st.one_of(U64, st.sampled_from(
            [0, 2**64 - 1, sc.agent.tie_breaker, sc.agent.tie_breaker + 1]).filter(
                lambda v: v < 2**64))))
    if kind == "controlled":
        return IceControlled(data.draw(st.one_of(U64, st.sampled_from(
            [0, 2**64 - 1, sc.agent.tie_breaker, max(0, sc.agent.tie_breaker - 1)]))))
    if kind == "use-candidate":
        return UseCandidate()
    if kind == "xor-mapped":
        return XorMappedAddress(draw_address(data, sc, "xor-mapped"))
    if kind == "mapped":
        return MappedAddress(draw_address(data, sc, "mapped"))
    if kind == "error":
        code = data.draw(st.one_of(st.sampled_from([400, 401, 420, 438, 487, 500]),
                                   st.integers(300, 699)), label="error code")
        return ErrorCode(code, data.draw(st.text(max_size=10), label="reason"))
    if kind == "software":
        return Software(data.draw(st.text(max_size=20), label="software"))
    if kind == "unknown":
        return UnknownAttribute(data.draw(st.integers(0, 0xFFFF), label="type"),
                                data.draw(st.binary(max_size=24), label="value"))
    if kind == "mi-garbage":  # a MESSAGE-INTEGRITY in the middle: what follows is ignored
        return MessageIntegrity(data.draw(st.binary(min_size=20, max_size=20)))
    return Fingerprint(data.draw(U32))


def draw_message(data: st.DataObject, sc: Scenario) -> tuple[bytes, Address, Address | None]:
    """A well-formed STUN message, and where it comes from / arrives at."""
    method = data.draw(st.one_of(st.sampled_from(list(Method)), st.integers(0, 0xFFF)),
                       label="method")
    klass = data.draw(st.sampled_from(list(MessageClass)), label="class")
    src = draw_address(data, sc, "source")
    local: Address | None = data.draw(st.one_of(
        st.just(sc.target.addresses[0]),
        st.sampled_from([sc.partner.addresses[0], ("192.0.2.1", 5001), ("2001:db8::1", 5000)]),
        st.none(),
    ), label="local")
    tid = data.draw(st.binary(min_size=12, max_size=12), label="random tid")
    copy = bool(sc.requests) and data.draw(st.booleans(), label="copy a request's tid")
    if copy:
        tid, req_src, req_dst = data.draw(st.sampled_from(sc.requests), label="request")
        if data.draw(st.booleans(), label="answer from where the request went"):
            src, local = req_dst, req_src
    count = data.draw(st.integers(0, 6), label="attributes")
    attributes = [draw_attribute(data, sc) for _ in range(count)]
    if klass is MessageClass.REQUEST and method == Method.BINDING and data.draw(
            st.booleans(), label="ICE check shape"):
        attributes.insert(0, Username(draw_username(data, sc)))
    message = Message(method, klass, tid, tuple(attributes))
    key = draw_key(data, sc)
    if key is not None and klass in (MessageClass.SUCCESS, MessageClass.ERROR) \
            and any(tid == r[0] for r in sc.requests):
        # RFC 8445 §7.2.5.2.1: a (signed) non-symmetric answer MUST fail the pair; a signed
        # 487 switches roles.  Only an ICE restart is then sure to bring a new pair.
        sc.signed_answer = True
    fingerprint = data.draw(st.sampled_from(["none", "good", "bad"]), label="fingerprint")
    wire = message.serialize(integrity_key=key, fingerprint=fingerprint != "none")
    if fingerprint == "bad":
        wire = wire[:-1] + bytes([wire[-1] ^ 0x5A])
    return wire, src, local


def draw_datagram(data: st.DataObject, sc: Scenario) -> tuple[bytes, Address, Address | None]:
    kind = data.draw(st.sampled_from(["message"] * 6 + ["bytes", "stun-noise", "mutated"]),
                     label="datagram kind")
    if kind == "message":
        return draw_message(data, sc)
    src = draw_address(data, sc, "source")
    local = sc.target.addresses[0]
    if kind == "bytes":
        return data.draw(st.binary(max_size=120), label="bytes"), src, local
    if kind == "stun-noise":
        head = struct.pack("!HH", data.draw(st.integers(0, 0x3FFF)), data.draw(
            st.sampled_from([0, 4, 8, 12, 100, 0xFFFC])))
        tid = data.draw(st.binary(min_size=12, max_size=12))
        body = data.draw(st.binary(max_size=100), label="body")
        return head + COOKIE + tid + body, src, local
    wire, src, local_or_none = draw_message(data, sc)
    raw = bytearray(wire)
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        i = data.draw(st.integers(0, len(raw) - 1), label="at")
        raw[i] ^= data.draw(st.integers(1, 255), label="xor")
    cut = data.draw(st.integers(20, len(raw)), label="keep")
    return bytes(raw[:cut]), src, local_or_none


def inject(data: st.DataObject, sc: Scenario) -> None:
    wire, src, local = draw_datagram(data, sc)
    sc.agent.handle_datagram(wire, src, local=local, now=sc.net.now)
    sc.net._pump(sc.target)  # answers go out on the virtual network


# --- properties -------------------------------------------------------------------------------


def exchange_data(sc: Scenario, tag: bytes) -> None:
    net, a, b = sc.net, sc.a, sc.b
    a.agent.send(b"a->b " + tag, now=net.now)
    assert net.run(lambda: b"a->b " + tag in b.received, duration=2), "a's data did not arrive"
    b.agent.send(b"b->a " + tag, now=net.now)
    assert net.run(lambda: b"b->a " + tag in a.received, duration=2), "b's data did not arrive"


def run_scenario(data: st.DataObject, phase: str, seed: int, target_is_a: bool) -> Scenario:
    sc = scenario(seed, target_is_a)
    net, a, b = sc.net, sc.a, sc.b
    if phase != "before-credentials":
        net.connect(a, b)
        if phase == "checking":
            steps(sc, data.draw(st.integers(0, 6), label="steps into checking"))
        else:
            assert net.run(lambda: both_connected(a, b), duration=5)
            net.run(duration=data.draw(st.sampled_from([0.0, 0.005, 1.0, 6.0]), label="idle"))
            if phase == "restart":
                restart_both(sc)
                steps(sc, data.draw(st.integers(0, 6), label="steps into the restart"))
    for _ in range(data.draw(st.integers(1, 4), label="injections")):
        inject(data, sc)
        steps(sc, data.draw(st.integers(0, 3), label="steps between"))
    if phase == "before-credentials":
        net.connect(a, b)
        for peer in (a, b):  # host candidates surfaced before there was anyone to signal them to
            for candidate in peer.candidates:
                if peer.partner is not None:
                    peer.partner.agent.add_remote_candidate(candidate, now=net.now)
    return sc


@settings(max_examples=200 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), phase=st.sampled_from(PHASES), seed=st.integers(0, 2**16),
       target_is_a=st.booleans())
def test_hostile_input_never_raises_nor_breaks_a_later_connection(
    data: st.DataObject, phase: str, seed: int, target_is_a: bool
) -> None:
    sc = run_scenario(data, phase, seed, target_is_a)
    net, a, b = sc.net, sc.a, sc.b
    # A signed role conflict or nomination may cost a few check rounds; unsigned input, nothing.
    patience = 60.0 if sc.authenticated else 5.0
    connected = net.run(lambda: both_connected(a, b), duration=patience)
    if not connected and sc.signed_answer:
        restart_both(sc)  # what the application does when ICE fails or stalls
        connected = net.run(lambda: both_connected(a, b), duration=5)
    assert connected, (f"no connection after {patience}s: a {a.agent.state} {a.agent.pairs}, "
                       f"b {b.agent.state} {b.agent.pairs}")
    exchange_data(sc, b"after")


@settings(max_examples=60 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), phase=st.sampled_from(PHASES), seed=st.integers(0, 2**16),
       target_is_a=st.booleans())
def test_a_closed_agent_stays_silent(
    data: st.DataObject, phase: str, seed: int, target_is_a: bool
) -> None:
    sc = run_scenario(data, phase, seed, target_is_a)
    agent = sc.agent
    agent.close(now=sc.net.now)
    sc.net._pump(sc.target)
    events = len(sc.target.events)
    sent_before = len(sc.requests)
    for _ in range(data.draw(st.integers(1, 4), label="injections after close")):
        wire, src, local = draw_datagram(data, sc)
        agent.handle_datagram(wire, src, local=local, now=sc.net.now)
        assert agent.poll_transmit() is None
        assert agent.poll_event() is None
        assert agent.poll_timeout() is None
        agent.handle_timeout(sc.net.now)
        sc.net.run(duration=data.draw(st.sampled_from([0.0, 0.1, 10.0])))
    assert agent.state is IceState.CLOSED
    assert agent.poll_transmit() is None and agent.poll_event() is None
    assert len(sc.target.events) == events
    assert not [r for r in sc.requests[sent_before:] if r[1] in sc.target.addresses]



# --- regressions: the bugs these properties found in rtcstack/ice/agent.py ----------------------


def connected_scenario(seed: int = 0) -> Scenario:
    sc = scenario(seed, True)
    sc.net.connect(sc.a, sc.b)
    assert sc.net.run(lambda: both_connected(sc.a, sc.b), duration=5)
    return sc


def test_regression_closed_agent_emits_nothing_after_closed() -> None:
    """close() while the server-reflexive request was pending, then a (stale) timer: the agent
    emitted GatheringComplete after StateChanged(CLOSED)."""
    agent = make_agent(True, 1)
    agent.add_host_address(A_ADDR)
    agent.gather(now=0.0)
    agent.close(now=0.01)
    events = []
    while (event := agent.poll_event()) is not None:
        events.append(event)
    assert isinstance(events[-1], StateChanged) and events[-1].state is IceState.CLOSED
    agent.handle_timeout(0.5)
    assert agent.poll_event() is None
    assert agent.poll_timeout() is None


def test_regression_consent_deadline_is_met_despite_float_rounding() -> None:
    """poll_timeout() armed ``last_consent + 7.5`` but handle_timeout() tested
    ``now - last_consent >= 7.5``; for last_consent = 24.600246000000002 the difference rounds
    to 7.499999999999998: the agent was woken at the same instant forever (busy loop)."""
    sc = connected_scenario()
    net, a = sc.net, sc.a
    net.run(duration=24.6 - net.now)
    net.down.add(B_ADDR[0])
    pair = a.agent.selected_pair
    assert pair is not None
    last = 24.600246000000002
    assert (last + 7.5) - last < 7.5 and (last + 30.0) - last < 30.0  # the rounding in question
    pair.last_consent = last
    net.run(lambda: a.agent.state is IceState.FAILED, duration=40)  # Watch: no busy loop
    assert [s for s in (e.state for e in a.events if isinstance(e, StateChanged))][-2:] == [
        IceState.DISCONNECTED, IceState.FAILED]


def test_regression_valid_but_never_nominated_does_not_spin() -> None:
    """A controlled agent whose check succeeded but whose peer vanished before nominating:
    poll_timeout() kept returning checking_since + failed_timeout, which _update_state()
    ignores while a pair is valid (busy loop at t = 39.5)."""
    sc = scenario(1, True)
    net, a, b = sc.net, sc.a, sc.b
    net.connect(a, b)
    net.run(lambda: any(p.state is PairState.SUCCEEDED for p in b.agent.pairs), duration=5)
    assert b.agent.selected_pair is None
    net.down.add(A_ADDR[0])  # the nomination (in flight or to come) never arrives
    net._queue.clear()
    net.run(duration=60)  # Watch raises on a busy loop
    assert b.agent.selected_pair is None
    assert b.agent.poll_timeout() is None


def in_flight_check(sc: Scenario) -> tuple[bytes, Address, Address]:
    """The transaction ID, source and destination of the target's check now in flight."""
    for tid, src, dst in reversed(sc.requests):
        pending = sc.agent._pending.get(tid)
        if pending is not None and pending.kind == "check":
            return tid, src, dst
    raise AssertionError("no check in flight")


def test_regression_forged_non_symmetric_answer_does_not_fail_the_pair() -> None:
    """An unauthenticated success response with the transaction ID of our check, from another
    address, failed the pair before integrity was verified (RFC 8489 §9.1.4: discard it)."""
    sc = scenario(0, True)
    sc.net.connect(sc.a, sc.b)
    sc.net.step()
    tid, src, _dst = in_flight_check(sc)
    forged = Message(Method.BINDING, MessageClass.SUCCESS, tid,
                     (XorMappedAddress(src),)).serialize(fingerprint=True)
    sc.agent.handle_datagram(forged, ("192.0.2.99", 1234), local=src, now=sc.net.now)
    assert sc.agent.stats.non_symmetric == 1
    assert all(p.state is not PairState.FAILED for p in sc.agent.pairs)
    assert sc.net.run(lambda: both_connected(sc.a, sc.b), duration=5)
    # The same answer signed with the peer's password is the RFC 8445 §7.2.5.2.1 case.
    sc = scenario(0, True)
    sc.net.connect(sc.a, sc.b)
    sc.net.step()
    tid, src, _dst = in_flight_check(sc)
    signed = Message(Method.BINDING, MessageClass.SUCCESS, tid, (XorMappedAddress(src),))
    sc.agent.handle_datagram(signed.serialize(integrity_key=sc.b.agent.pwd.encode()),
                             ("192.0.2.99", 1234), local=src, now=sc.net.now)
    assert any(p.state is PairState.FAILED for p in sc.agent.pairs)


def test_regression_failed_nomination_check_does_not_spin() -> None:
    """A nomination check on a valid pair that fails -- here by a signed non-symmetric answer
    after an ICE restart -- once left the controlling agent with ``_first_valid`` set and no
    valid pair: the nomination timer fired forever at one instant.  (The pair now stays valid
    while it is being nominated.)"""
    sc = connected_scenario()
    net, a, b = sc.net, sc.a, sc.b
    restart_both(sc)

    def nominating() -> bool:
        return any(p.use_candidate and p.transaction_id is not None for p in a.agent.pairs)

    assert net.run(nominating, duration=5)
    tid, src, _dst = in_flight_check(sc)
    signed = Message(Method.BINDING, MessageClass.SUCCESS, tid, (XorMappedAddress(src),))
    a.agent.handle_datagram(signed.serialize(integrity_key=b.agent.pwd.encode()),
                            src, local=src, now=net.now)  # from ourselves: non-symmetric
    net._pump(a)
    net.run(duration=5)  # Watch raises on a busy loop
    restart_both(sc)
    assert net.run(lambda: both_connected(a, b), duration=5)
    exchange_data(sc, b"after the failed nomination")
