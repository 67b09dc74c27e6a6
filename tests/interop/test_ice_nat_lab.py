"""rtcstack ICE agents behind real kernel NATs (the NAT lab: network namespaces + iptables).

Each peer is ``tests/interop/ice_lab_peer.py`` running inside its namespace with its own
interfaces, STUN/TURN server (coturn on the lab's public segment) and NAT; the test relays the
signaling (credentials and trickled candidates) between the two programs and asserts what RFC 8445
predicts for each topology:

- cone <-> cone: direct, through server-reflexive candidates (no relay);
- symmetric <-> symmetric: only through the TURN relay;
- both behind firewalls that drop UDP: through TURN over TCP;
- a network change in the middle of a call (the NAT's public address changes): the side that
  loses its path sees consent fail, an ICE restart finds the new path, data flows again.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.interop.nat_lab import (
    LabProcess,
    LabProcessError,
    NatKind,
    NatLab,
    nat_lab,
    require_iptables,
)
from tests.interop.netns import require_netns

pytestmark = pytest.mark.interop


class Peer:
    def __init__(self, lab: NatLab, side: str) -> None:
        self.side = side
        self.process: LabProcess = lab.run_python(
            f"peer-{side}", ["-m", "tests.interop.ice_lab_peer"], name=f"ice-{side}")
        self.events: list[dict[str, Any]] = []
        self.partner: Peer | None = None

    def poll(self) -> list[dict[str, Any]]:
        out = []
        while True:
            try:
                event = self.process.recv(timeout=0.005)
            except LabProcessError:
                if self.process.poll() is not None:
                    raise
                return out
            if event.get("ev") == "error":
                raise AssertionError(f"peer {self.side}: {event['error']}")
            self.events.append(event)
            out.append(event)

    def last(self, kind: str) -> dict[str, Any] | None:
        for event in reversed(self.events):
            if event.get("ev") == kind:
                return event
        return None

    @property
    def state(self) -> str | None:
        event = self.last("state")
        return None if event is None else str(event["state"])


def relay(a: Peer, b: Peer, until: Any, timeout: float) -> bool:
    """Carry signaling between the peers until ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for me, other in ((a, b), (b, a)):
            for event in me.poll():
                if event["ev"] == "credentials":
                    other.process.send({"op": "remote", "ufrag": event["ufrag"],
                                        "pwd": event["pwd"]})
                elif event["ev"] == "candidate":
                    other.process.send({"op": "candidate", "candidate": event["candidate"]})
        if until():
            return True
    return False


def start(lab: NatLab, transport: str = "udp", **options: Any) -> tuple[Peer, Peer]:
    assert lab.coturn is not None
    turn = [{"host": lab.turn_address[0], "port": lab.turn_address[1], "transport": transport,
             "username": lab.coturn.config.user, "password": lab.coturn.config.password}]
    a, b = Peer(lab, "a"), Peer(lab, "b")
    for peer, controlling in ((a, True), (b, False)):
        peer.process.send({"op": "start", "controlling": controlling,
                           "stun": [list(lab.stun_servers[0])], "turn": turn, **options})
    return a, b


def connected(*peers: Peer) -> bool:
    return all(p.last("selected") is not None and p.state in ("connected", "completed")
               for p in peers)


def exchange(a: Peer, b: Peer, text: str) -> None:
    a.process.send({"op": "send", "data": text})
    assert relay(a, b, lambda: any(e.get("data") == text for e in b.events), 5), \
        f"{text!r} did not arrive"


@pytest.fixture
def lab_ready() -> None:
    require_netns()
    require_iptables()




def test_cone_to_cone_connects_directly_via_server_reflexive(lab_ready: None) -> None:
    with nat_lab(NatKind.CONE, NatKind.CONE) as lab:
        a, b = start(lab)
        assert relay(a, b, lambda: connected(a, b), 15), (a.events, b.events)
        selected = a.last("selected")
        assert selected is not None
        # a's base is its host address; the peer it reached is b's NAT mapping (srflx), and no
        # relay is involved on either side.
        assert selected["local"]["type"] == "host"
        assert selected["remote"]["type"] in ("srflx", "prflx")
        assert selected["remote"]["address"] == lab.side("b").public_ip
        assert b.last("selected")["local"]["type"] == "host"  # type: ignore[index]
        exchange(a, b, "direct a->b")
        exchange(b, a, "direct b->a")


def test_symmetric_to_symmetric_connects_only_through_the_relay(lab_ready: None) -> None:
    with nat_lab(NatKind.SYMMETRIC, NatKind.SYMMETRIC) as lab:
        a, b = start(lab)
        assert relay(a, b, lambda: connected(a, b), 20), (a.events, b.events)
        for peer in (a, b):
            selected = peer.last("selected")
            assert selected is not None
            assert "relay" in (selected["local"]["type"], selected["remote"]["type"]), selected
        exchange(a, b, "relayed a->b")
        exchange(b, a, "relayed b->a")


def test_udp_blocked_firewalls_connect_through_turn_over_tcp(lab_ready: None) -> None:
    with nat_lab(NatKind.FIREWALL_UDP_BLOCKED, NatKind.FIREWALL_UDP_BLOCKED) as lab:
        a, b = start(lab, transport="tcp")
        assert relay(a, b, lambda: connected(a, b), 20), (a.events, b.events)
        for peer in (a, b):
            selected = peer.last("selected")
            assert selected is not None and selected["local"]["type"] == "relay", selected
        exchange(a, b, "over tcp a->b")
        exchange(b, a, "over tcp b->a")


def test_network_change_recovers_through_ice_restart(lab_ready: None) -> None:
    with nat_lab(NatKind.CONE, NatKind.CONE) as lab:
        a, b = start(lab)
        assert relay(a, b, lambda: connected(a, b), 15), (a.events, b.events)
        exchange(a, b, "before")
        new_ip = lab.rebind("a", "address")
        # b keeps sending consent checks to a's old mapping: it notices first.
        assert relay(a, b, lambda: b.state == "disconnected", 15), b.events
        b.process.send({"op": "restart"})
        a.process.send({"op": "restart"})
        assert relay(a, b, lambda: b.last("selected") is not None
                     and b.last("selected")["remote"]["address"] == new_ip  # type: ignore[index]
                     and connected(a, b), 20), (a.events[-10:], b.events[-10:])
        exchange(a, b, "after a->b")
        exchange(b, a, "after b->a")
