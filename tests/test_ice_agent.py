"""Two RFC 8445 agents on a virtual network: connect, nominate, roles, NATs, restart, consent."""

from __future__ import annotations

import pytest

from rtcstack.common import InvalidStateError, SeededRandom, TraceRecorder
from rtcstack.ice.agent import (
    CandidateGathered,
    GatheringComplete,
    IceAgent,
    IceState,
    PairState,
    SelectedPairChanged,
    ServerFailed,
    StateChanged,
)
from rtcstack.ice.candidate import CandidateType
from tests.ice_harness import Nat, Peer, VirtualNetwork

STUN = ("203.0.113.1", 3478)


def agent(controlling: bool, seed: int, **kw: object) -> IceAgent:
    return IceAgent(controlling=controlling, random_bytes=SeededRandom(seed), **kw)  # type: ignore[arg-type]


def pair_up(net: VirtualNetwork, a_kw: dict | None = None, b_kw: dict | None = None,
            a_addr: list | None = None, b_addr: list | None = None,
            a_nat: Nat | None = None, b_nat: Nat | None = None,
            trickle: bool = True) -> tuple[Peer, Peer]:
    a = net.add_peer(agent(True, 1, **(a_kw or {})), a_addr or [("192.0.2.1", 5000)], a_nat)
    b = net.add_peer(agent(False, 2, **(b_kw or {})), b_addr or [("192.0.2.2", 6000)], b_nat)
    net.connect(a, b, trickle=trickle)
    return a, b


def both_selected(a: Peer, b: Peer) -> bool:
    return a.agent.selected_pair is not None and b.agent.selected_pair is not None


def states(peer: Peer) -> list[IceState]:
    return [e.state for e in peer.events if isinstance(e, StateChanged)]


def test_host_to_host_connects_and_nominates_the_same_pair() -> None:
    net = VirtualNetwork()
    a, b = pair_up(net)
    assert net.run(lambda: both_selected(a, b), duration=5)
    pa, pb = a.agent.selected_pair, b.agent.selected_pair
    assert pa is not None and pb is not None
    assert (pa.local.addr, pa.remote.addr) == (pb.remote.addr, pb.local.addr)
    assert pa.nominated and pb.nominated
    # one round trip for the check, one for the triggered check, one for the nomination
    assert net.now <= 0.1
    assert states(a)[:2] == [IceState.CHECKING, IceState.CONNECTED]
    assert IceState.COMPLETED in states(a) or net.run(
        lambda: a.agent.state is IceState.COMPLETED, duration=1)
    a.agent.send(b"hello", now=net.now)
    net.run(lambda: b.received == [b"hello"], duration=1)
    assert b.received == [b"hello"]
    b.agent.send(b"back", now=net.now)
    net.run(lambda: a.received == [b"back"], duration=1)
    assert a.received == [b"back"]


def test_no_trickle_connects_too() -> None:
    net = VirtualNetwork()
    a, b = pair_up(net, trickle=False)
    assert net.run(lambda: both_selected(a, b), duration=5)


def test_events_in_order_and_gathering_complete_without_servers() -> None:
    net = VirtualNetwork()
    a, b = pair_up(net)
    net.run(lambda: both_selected(a, b), duration=5)
    kinds = [type(e) for e in a.events]
    assert kinds.index(CandidateGathered) < kinds.index(GatheringComplete)
    assert SelectedPairChanged in kinds


def test_send_before_selection_is_a_usage_error() -> None:
    a = agent(True, 1)
    with pytest.raises(InvalidStateError):
        a.send(b"x", now=0.0)


def test_connects_with_heavy_loss() -> None:
    net = VirtualNetwork(loss=0.3, seed=7)
    a, b = pair_up(net)
    assert net.run(lambda: both_selected(a, b), duration=30)
    assert net.dropped > 0


def test_role_conflict_both_controlling_resolves_by_tie_breaker() -> None:
    net = VirtualNetwork()
    trace = TraceRecorder()
    a, b = pair_up(net, a_kw={"tie_breaker": 5, "trace": trace},
                   b_kw={"controlling": True, "tie_breaker": 9} if False else {"tie_breaker": 9})
    b.agent.controlling = True  # both think they control
    assert net.run(lambda: both_selected(a, b), duration=10)
    # RFC 8445 §7.3.1.1: the larger tie-breaker keeps the controlling role.
    assert b.agent.controlling and not a.agent.controlling
    assert a.agent.stats.role_conflicts + b.agent.stats.role_conflicts >= 1


def test_role_conflict_both_controlled() -> None:
    net = VirtualNetwork()
    a, b = pair_up(net, a_kw={"tie_breaker": 100}, b_kw={"tie_breaker": 3})
    a.agent.controlling = False
    assert net.run(lambda: both_selected(a, b), duration=10)
    assert a.agent.controlling and not b.agent.controlling


def test_server_reflexive_through_cone_nats() -> None:
    net = VirtualNetwork()
    net.add_stun_server(STUN)
    a, b = pair_up(net, a_kw={"stun_servers": [STUN]}, b_kw={"stun_servers": [STUN]},
                   a_addr=[("10.0.0.2", 5000)], b_addr=[("10.0.0.2", 6000)],
                   a_nat=Nat("198.51.100.1"), b_nat=Nat("198.51.100.2"))
    assert net.run(lambda: both_selected(a, b), duration=10)
    srflx = [c for c in a.candidates if c.type is CandidateType.SERVER_REFLEXIVE]
    assert srflx and srflx[0].address == "198.51.100.1"
    assert srflx[0].related_address == "10.0.0.2"
    pair = a.agent.selected_pair
    assert pair is not None and pair.remote.address == "198.51.100.2"
    assert pair.local.type is CandidateType.HOST  # srflx is replaced by its base (§6.1.2.2)


def test_symmetric_nats_do_not_connect_without_a_relay() -> None:
    net = VirtualNetwork()
    net.add_stun_server(STUN)
    a, b = pair_up(net, a_kw={"stun_servers": [STUN], "failed_timeout": 10},
                   b_kw={"stun_servers": [STUN], "failed_timeout": 10},
                   a_addr=[("10.0.0.2", 5000)], b_addr=[("10.0.0.3", 6000)],
                   a_nat=Nat("198.51.100.1", "symmetric"), b_nat=Nat("198.51.100.2", "symmetric"))
    net.run(lambda: a.agent.state is IceState.FAILED and b.agent.state is IceState.FAILED,
            duration=60)
    assert a.agent.state is IceState.FAILED and b.agent.state is IceState.FAILED
    assert a.agent.selected_pair is None


def test_symmetric_to_public_learns_peer_reflexive() -> None:
    net = VirtualNetwork()
    net.add_stun_server(STUN)
    a, b = pair_up(net, a_kw={"stun_servers": [STUN]},
                   a_addr=[("10.0.0.2", 5000)], b_addr=[("192.0.2.2", 6000)],
                   a_nat=Nat("198.51.100.1", "symmetric"))
    assert net.run(lambda: both_selected(a, b), duration=10)
    pair = b.agent.selected_pair
    assert pair is not None and pair.remote.type is CandidateType.PEER_REFLEXIVE


def test_unreachable_stun_server_is_reported_and_gathering_completes() -> None:
    net = VirtualNetwork()
    a, b = pair_up(net, a_kw={"stun_servers": [("203.0.113.99", 3478)]})
    net.run(lambda: any(isinstance(e, GatheringComplete) for e in a.events), duration=60)
    assert any(isinstance(e, ServerFailed) for e in a.events)
    assert both_selected(a, b)  # connection setup was not held back by the dead server
    first_selected = min(i for i, e in enumerate(a.events) if isinstance(e, SelectedPairChanged))
    done = min(i for i, e in enumerate(a.events) if isinstance(e, GatheringComplete))
    assert first_selected < done


def test_consent_expiry_disconnects_then_fails() -> None:
    net = VirtualNetwork()
    a, b = pair_up(net)
    assert net.run(lambda: both_selected(a, b), duration=5)
    net.down.add("192.0.2.2")
    net.run(lambda: a.agent.state is IceState.DISCONNECTED, duration=15)
    assert a.agent.state is IceState.DISCONNECTED
    net.run(lambda: a.agent.state is IceState.FAILED, duration=40)
    assert a.agent.state is IceState.FAILED
    with pytest.raises(InvalidStateError):
        a.agent.send(b"x", now=net.now)


def test_consent_keeps_a_quiet_connection_alive() -> None:
    net = VirtualNetwork()
    a, b = pair_up(net)
    assert net.run(lambda: both_selected(a, b), duration=5)
    net.run(duration=120)
    assert a.agent.state in (IceState.CONNECTED, IceState.COMPLETED)
    assert b.agent.state in (IceState.CONNECTED, IceState.COMPLETED)
    assert a.agent.stats.consent_sent >= 120 / 6


def test_disconnected_recovers_when_the_link_returns() -> None:
    net = VirtualNetwork()
    a, b = pair_up(net)
    assert net.run(lambda: both_selected(a, b), duration=5)
    net.down.add("192.0.2.2")
    net.run(lambda: a.agent.state is IceState.DISCONNECTED, duration=15)
    net.down.clear()
    net.run(lambda: a.agent.state in (IceState.CONNECTED, IceState.COMPLETED), duration=15)
    assert a.agent.state in (IceState.CONNECTED, IceState.COMPLETED)


def restart_both(net: VirtualNetwork, a: Peer, b: Peer) -> None:
    """What signaling does for an ICE restart (RFC 8445 §9, JSEP): new credentials both ways,
    candidates again."""
    a.candidates.clear()
    b.candidates.clear()
    a.agent.restart(now=net.now)
    b.agent.set_remote_credentials(*a.agent.local_credentials)
    b.agent.restart(now=net.now)
    a.agent.set_remote_credentials(*b.agent.local_credentials)


def test_restart_keeps_data_on_the_old_pair_until_a_new_one_is_selected() -> None:
    net = VirtualNetwork()
    a, b = pair_up(net)
    assert net.run(lambda: both_selected(a, b), duration=5)
    old = a.agent.selected_pair
    old_ufrag = a.agent.ufrag
    restart_both(net, a, b)
    assert a.agent.ufrag != old_ufrag
    assert a.agent.selected_pair is old  # media keeps flowing meanwhile
    a.agent.send(b"during", now=net.now)
    before = sum(isinstance(e, SelectedPairChanged) for e in a.events)
    assert net.run(lambda: sum(isinstance(e, SelectedPairChanged) for e in a.events) > before
                   and b.agent.selected_pair is not None
                   and b.agent.selected_pair.generation == b.agent.generation, duration=5)
    assert b"during" in b.received
    assert a.agent.selected_pair is not old


def test_old_credentials_after_restart_only_on_the_old_pair() -> None:
    """After a restart the old credentials serve the consent of the pair that still carries
    the data, nothing else: a check with them from another address is a 401, else the peer
    (Chromium 156 does) validates a new path with the old generation's credentials, nominates
    it, and we never move to the new generation."""
    from rtcstack.stun import Message, MessageClass, Method, Username

    net = VirtualNetwork()
    a, b = pair_up(net)
    assert net.run(lambda: both_selected(a, b), duration=5)
    old = a.agent.selected_pair
    assert old is not None
    old_ufrag, old_pwd = a.agent.local_credentials
    a.agent.restart(now=net.now)
    while a.agent.poll_transmit() is not None:
        pass

    def check_from(addr: tuple[str, int]) -> int | None:
        request = Message.new(Method.BINDING, MessageClass.REQUEST,
                              [Username(f"{old_ufrag}:{b.agent.ufrag}")])
        a.agent.handle_datagram(request.serialize(integrity_key=old_pwd.encode(),
                                                  fingerprint=True),
                                addr, local=old.local.addr, now=net.now)
        out = a.agent.poll_transmit()
        while out is not None and out.addr != addr:
            out = a.agent.poll_transmit()
        assert out is not None
        return Message.parse(out.data).error_code

    assert check_from(old.remote.addr) is None  # consent on the old pair: answered
    assert check_from(("192.0.2.2", 6001)) == 401


def test_nat_rebinding_recovers_through_restart() -> None:
    net = VirtualNetwork()
    net.add_stun_server(STUN)
    nat = Nat("198.51.100.1")
    a, b = pair_up(net, a_kw={"stun_servers": [STUN]}, a_addr=[("10.0.0.2", 5000)],
                   b_addr=[("192.0.2.2", 6000)], a_nat=nat)
    assert net.run(lambda: both_selected(a, b), duration=5)
    nat.rebind()
    nat.public_ip = "198.51.100.77"  # the address changed too
    # a's consent checks still get through (b answers the new mapping), but b's go to the old
    # address: b sees the path die, and asks for a restart.
    net.run(lambda: b.agent.state is IceState.DISCONNECTED, duration=15)
    assert b.agent.state is IceState.DISCONNECTED
    restart_both(net, b, a)
    assert net.run(lambda: b.agent.state in (IceState.CONNECTED, IceState.COMPLETED)
                   and b.agent.selected_pair is not None
                   and b.agent.selected_pair.remote.address == "198.51.100.77", duration=10)
    a.agent.send(b"after", now=net.now)
    net.run(lambda: b"after" in b.received, duration=1)
    assert b"after" in b.received


def test_restart_after_failure() -> None:
    net = VirtualNetwork()
    a, b = pair_up(net, a_kw={"consent_timeout": 10}, b_kw={"consent_timeout": 10})
    assert net.run(lambda: both_selected(a, b), duration=5)
    net.down.add("192.0.2.2")
    net.run(lambda: a.agent.state is IceState.FAILED, duration=20)
    net.down.clear()
    restart_both(net, a, b)
    assert net.run(lambda: a.agent.state in (IceState.CONNECTED, IceState.COMPLETED),
                   duration=10)


def test_lite_agent_against_full_agent() -> None:
    net = VirtualNetwork()
    a, b = pair_up(net, a_kw={"controlling": False} if False else {}, b_kw={"lite": True})
    assert net.run(lambda: both_selected(a, b), duration=5)
    assert a.agent.controlling and not b.agent.controlling
    assert b.agent.stats.checks_sent == 0  # RFC 8445 §2.5: a lite agent never checks


def test_full_agent_takes_control_against_a_lite_peer() -> None:
    net = VirtualNetwork()
    a = net.add_peer(agent(False, 1), [("192.0.2.1", 5000)])
    b = net.add_peer(agent(False, 2, lite=True), [("192.0.2.2", 6000)])
    net.connect(a, b)
    assert a.agent.controlling  # §6.1.1
    assert net.run(lambda: both_selected(a, b), duration=5)


def test_late_remote_candidates_still_pair() -> None:
    net = VirtualNetwork()
    a = net.add_peer(agent(True, 1), [("192.0.2.1", 5000)])
    b = net.add_peer(agent(False, 2), [("192.0.2.2", 6000)])
    a.agent.set_remote_credentials(*b.agent.local_credentials)
    b.agent.set_remote_credentials(*a.agent.local_credentials)
    a.agent.gather(now=0.0)
    b.agent.gather(now=0.0)
    net.run(duration=3)
    assert a.agent.state is IceState.NEW
    for c in b.agent.local_candidates:
        a.agent.add_remote_candidate(c, now=net.now)
    assert net.run(lambda: both_selected(a, b), duration=5)  # b learns a as peer-reflexive


def test_end_of_candidates_with_nothing_reachable_fails() -> None:
    net = VirtualNetwork()
    a, _b = pair_up(net, b_addr=[("192.0.2.9", 6000)])
    net.down.add("192.0.2.9")
    net.run(lambda: a.agent.state is IceState.FAILED, duration=60)
    assert a.agent.state is IceState.FAILED
    assert all(p.state is PairState.FAILED for p in a.agent.pairs)


def test_dual_stack_pairs_by_family() -> None:
    net = VirtualNetwork()
    a, b = pair_up(net, a_addr=[("2001:db8::1", 5000), ("192.0.2.1", 5000)],
                   b_addr=[("2001:db8::2", 6000), ("192.0.2.2", 6000)])
    assert net.run(lambda: both_selected(a, b), duration=5)
    assert len(a.agent.pairs) == 2  # v6-v6 and v4-v4 only
    pair = a.agent.selected_pair
    assert pair is not None and pair.local.address == "2001:db8::1"  # RFC 8421: IPv6 first


def test_bad_credentials_are_answered_401_and_counted() -> None:
    from rtcstack.stun import Message, MessageClass, Method, Username

    a = agent(False, 1)
    a.add_host_address(("192.0.2.1", 5000))
    bad = Message.new(Method.BINDING, MessageClass.REQUEST, [Username(f"{a.ufrag}:x")])
    a.handle_datagram(bad.serialize(integrity_key=b"wrong", fingerprint=True),
                      ("192.0.2.2", 6000), local=("192.0.2.1", 5000), now=0.0)
    out = a.poll_transmit()
    assert out is not None and Message.parse(out.data).error_code == 401
    assert a.stats.bad_requests == 1
    assert a.remote_candidates == []


def test_deterministic_transcript() -> None:
    def run() -> list[bytes]:
        net = VirtualNetwork()
        wire: list[bytes] = []
        net.tap = lambda tx, src: wire.append(tx.data)
        a, b = pair_up(net)
        net.run(lambda: both_selected(a, b), duration=5)
        return wire

    assert run() == run()


@pytest.mark.parametrize(("kind", "expected"), [("cone", 1), ("symmetric", 2)])
def test_several_stun_servers_and_redundancy(kind: str, expected: int) -> None:
    """RFC 8445 §5.1.3: behind a cone NAT both servers report the same mapping (one candidate
    survives); behind a symmetric NAT each reports its own."""
    net = VirtualNetwork()
    servers = [STUN, ("203.0.113.2", 3478)]
    for server in servers:
        net.add_stun_server(server)
    a, _b = pair_up(net, a_kw={"stun_servers": servers}, a_addr=[("10.0.0.2", 5000)],
                   a_nat=Nat("198.51.100.1", kind))
    net.run(lambda: any(isinstance(e, GatheringComplete) for e in a.events), duration=10)
    srflx = [c for c in a.candidates if c.type is CandidateType.SERVER_REFLEXIVE]
    assert len(srflx) == expected
    assert len({c.foundation for c in srflx}) == expected  # foundation includes the server IP


def test_server_reflexive_only_from_the_server_asked() -> None:
    from rtcstack.stun import Message, XorMappedAddress

    a = agent(True, 1, stun_servers=[STUN])
    base = ("10.0.0.2", 5000)
    a.add_host_address(base)
    a.gather(now=0.0)
    tx = a.poll_transmit()
    assert tx is not None and tx.addr == STUN and tx.source == base
    request = Message.parse(tx.data)
    forged = request.success_response(XorMappedAddress(("203.0.113.66", 1))).serialize()
    a.handle_datagram(forged, ("198.51.100.9", 3478), local=base, now=0.01)
    a.handle_datagram(forged, STUN, local=("10.0.0.3", 5000), now=0.01)
    assert not any(c.type is CandidateType.SERVER_REFLEXIVE for c in a.local_candidates)
    real = request.success_response(XorMappedAddress(("198.51.100.1", 40000))).serialize()
    a.handle_datagram(real, STUN, local=base, now=0.02)
    srflx = [c for c in a.local_candidates if c.type is CandidateType.SERVER_REFLEXIVE]
    assert [c.addr for c in srflx] == [("198.51.100.1", 40000)]
