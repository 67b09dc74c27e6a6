"""The NAT lab (tests/interop/nat_lab.py): real kernel NATs in network namespaces, coturn on the
public segment, and our STUN client inside the peers' namespaces.

What the lab must show before ICE runs in it: the mapped address is the NAT's public address;
the cone NAT keeps one mapping for every destination (RFC 4787 §4.1 endpoint-independent), the
symmetric one does not; cone <-> cone hole punching works, symmetric <-> symmetric does not; the
firewall lets only TURN through; a rebind changes the mapping of a live socket.  Needs root,
``ip`` (iproute2), ``iptables`` and coturn; skips otherwise.  Nothing leaves the lab's
namespaces.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rtcstack.common import Address
from tests.interop.coturn import require_turnserver
from tests.interop.nat_lab import (
    PUBLIC_IP,
    PUBLIC_IP_2,
    TURN_PORT,
    NatKind,
    NatLab,
    PeerHandle,
    nat_lab,
    require_iptables,
)
from tests.interop.netns import require_netns

pytestmark = pytest.mark.interop


@pytest.fixture(autouse=True)
def _requirements() -> None:
    require_netns()
    require_iptables()
    require_turnserver()


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def host_state() -> tuple[str, str, str]:
    """The host namespace's routes, addresses and iptables rules (read-only commands)."""
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    rules = "\n".join(line for line in rules.splitlines() if not line.startswith("#"))
    return routes, links, rules


@pytest.fixture
def cone_symmetric() -> Iterator[NatLab]:
    with nat_lab(NatKind.CONE, NatKind.SYMMETRIC) as lab:
        yield lab


def punch(
    a: PeerHandle, b: PeerHandle, a_to: Address | None, b_to: Address | None, timeout: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both peers punch at once: ``a`` towards ``b_to``, ``b`` towards ``a_to``; both
    results."""
    a.start_punch(b_to, timeout)
    b.start_punch(a_to, timeout)
    return a.punch_result(timeout + 5), b.punch_result(timeout + 5)


def test_build_and_teardown_are_fast_and_leave_nothing() -> None:
    before = host_state()
    start = time.monotonic()
    with nat_lab(NatKind.CONE, NatKind.SYMMETRIC) as lab:
        built = time.monotonic() - start
        names = [lab.ns(n).name for n in ("public", "nat-a", "nat-b", "peer-a", "peer-b")]
        assert len(set(names)) == 5 and all(name in namespaces() for name in names)
        assert lab.coturn is not None and lab.coturn.address == (PUBLIC_IP, TURN_PORT)
        assert lab.public_ip == PUBLIC_IP
        assert lab.ns("peer-a").links() == ["lo", "eth0"]
        assert sorted(lab.ns("nat-a").links()) == ["lan", "lo", "wan"]
        assert "default via 10.0.1.1 dev eth0" in lab.ns("peer-a").ip("route")
        coturn_pid = lab.coturn.process.pid if lab.coturn.process else -1
        assert coturn_pid in lab.ns("public").pids()
        closing = time.monotonic()
    torn_down = time.monotonic() - closing
    total = time.monotonic() - start
    print(f"\nNAT lab with coturn: build {built * 1000:.0f} ms, teardown "
          f"{torn_down * 1000:.0f} ms")  # fmt: skip
    assert total < 2.0, f"build {built:.2f} s + teardown {torn_down:.2f} s"
    assert not any(name in namespaces() for name in names)
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(coturn_pid, 0)
    assert host_state() == before


@pytest.mark.parametrize("kind", [NatKind.CONE, NatKind.FIREWALL_UDP_BLOCKED])
def test_cone_maps_to_the_nat_address_with_one_port_for_every_destination(kind: NatKind) -> None:
    with nat_lab(kind, NatKind.NONE) as lab:
        (peer,) = lab.start_peers("a")
        first = peer.binding((PUBLIC_IP, TURN_PORT))
        assert first[0] == lab.side("a").wan_ip == "198.18.100.10"
        if kind is NatKind.CONE:
            second = peer.binding((PUBLIC_IP_2, TURN_PORT))
            assert second == first  # endpoint-independent mapping
            assert first[1] == peer.local[1]  # MASQUERADE keeps a free source port
        else:  # only coturn's main address is allowed through
            assert peer.try_binding((PUBLIC_IP_2, TURN_PORT), 0.5) == {"error": "timeout"}


def test_symmetric_maps_each_destination_to_its_own_port(cone_symmetric: NatLab) -> None:
    lab = cone_symmetric
    (peer,) = lab.start_peers("b")
    first = peer.binding((PUBLIC_IP, TURN_PORT))
    second = peer.binding((PUBLIC_IP_2, TURN_PORT))
    assert first[0] == second[0] == lab.side("b").wan_ip == "198.18.100.20"
    assert first[1] != second[1]  # --random-fully: a port per destination
    assert peer.binding((PUBLIC_IP, TURN_PORT)) == first  # the existing flow keeps its port


def test_no_nat_maps_to_the_host_address() -> None:
    with nat_lab(NatKind.NONE, NatKind.NONE) as lab:
        (peer,) = lab.start_peers("a")
        assert lab.side("a").public_ip == lab.side("a").peer_ip == "198.18.1.2"
        assert peer.binding((PUBLIC_IP, TURN_PORT)) == ("198.18.1.2", peer.local[1])


@pytest.mark.parametrize("same_lan", [False, True], ids=["distinct-lans", "same-lan"])
def test_cone_to_cone_hole_punching_works(same_lan: bool) -> None:
    with nat_lab(NatKind.CONE, NatKind.CONE, same_lan=same_lan) as lab:
        if same_lan:
            assert lab.side("a").peer_ip == lab.side("b").peer_ip == "10.0.0.2"
        a, b = lab.start_peers("a", "b")
        a_mapped = a.binding((PUBLIC_IP, TURN_PORT))
        b_mapped = b.binding((PUBLIC_IP, TURN_PORT))
        result_a, result_b = punch(a, b, a_mapped, b_mapped, 3.0)
        assert result_a == {"received": True, "confirmed": True, "source": list(b_mapped)}
        assert result_b == {"received": True, "confirmed": True, "source": list(a_mapped)}


def test_symmetric_to_symmetric_hole_punching_fails() -> None:
    with nat_lab(NatKind.SYMMETRIC, NatKind.SYMMETRIC) as lab:
        a, b = lab.start_peers("a", "b")
        a_mapped = a.binding((PUBLIC_IP, TURN_PORT))
        b_mapped = b.binding((PUBLIC_IP, TURN_PORT))
        result_a, result_b = punch(a, b, a_mapped, b_mapped, 1.0)
        assert result_a == {"received": False, "confirmed": False, "source": None}
        assert result_b == {"received": False, "confirmed": False, "source": None}


def test_firewall_blocks_direct_udp_even_to_a_public_host() -> None:
    with nat_lab(NatKind.FIREWALL_UDP_BLOCKED, NatKind.NONE) as lab:
        a, b = lab.start_peers("a", "b")
        a_mapped = a.binding((PUBLIC_IP, TURN_PORT))
        result_a, result_b = punch(a, b, a_mapped, ("198.18.2.2", b.local[1]), 1.0)
        assert not result_a["received"] and not result_b["received"]


def test_cone_to_public_host_works_and_symmetric_to_public_host_works() -> None:
    """A host without NAT is reachable from behind either NAT once the NATed side sends."""
    for kind in (NatKind.CONE, NatKind.SYMMETRIC):
        with nat_lab(kind, NatKind.NONE, turn=False) as lab:
            assert lab.coturn is None
            a, b = lab.start_peers("a", "b")
            b_public = ("198.18.2.2", b.local[1])
            result_a, result_b = punch(a, b, None, b_public, 2.0)
            assert result_a == {"received": True, "confirmed": True, "source": list(b_public)}
            assert result_b["received"] and result_b["confirmed"]
            assert result_b["source"][0] == "198.18.100.10"
            if kind is NatKind.CONE:
                assert result_b["source"][1] == a.local[1]


def test_rebind_address_changes_the_mapping_of_a_live_socket(cone_symmetric: NatLab) -> None:
    lab = cone_symmetric
    a, b = lab.start_peers("a", "b")
    server = (PUBLIC_IP, TURN_PORT)
    before_a, before_b = a.binding(server), b.binding(server)
    assert before_b[0] == "198.18.100.20"
    assert lab.rebind("a") == lab.side("a").wan_ip == "198.18.100.11"
    assert lab.rebind("b") == "198.18.100.21"
    after_a, after_b = a.binding(server), b.binding(server)
    assert after_a == ("198.18.100.11", before_a[1])  # the cone keeps the port
    assert after_b[0] == "198.18.100.21"
    assert lab.rebind("a") == "198.18.100.12"
    assert a.binding(server) == ("198.18.100.12", before_a[1])


def test_rebind_port_keeps_the_address_and_the_nat_kind() -> None:
    with nat_lab(NatKind.CONE, NatKind.SYMMETRIC) as lab:
        a, b = lab.start_peers("a", "b")
        before = a.binding((PUBLIC_IP, TURN_PORT))
        b_before = b.binding((PUBLIC_IP, TURN_PORT))
        assert lab.rebind("a", how="port") == "198.18.100.10"
        lab.rebind("b", how="port")
        after = a.binding((PUBLIC_IP, TURN_PORT))
        assert after[0] == before[0] and after[1] != before[1]
        assert 20000 <= after[1] <= 29999
        assert a.binding((PUBLIC_IP_2, TURN_PORT)) == after  # still endpoint-independent
        b_after = b.binding((PUBLIC_IP, TURN_PORT))
        assert b_after[0] == b_before[0] and 20000 <= b_after[1] <= 29999
        assert b.binding((PUBLIC_IP_2, TURN_PORT))[1] != b_after[1]  # still symmetric


def test_rebind_without_nat_moves_the_host() -> None:
    with nat_lab(NatKind.NONE, NatKind.CONE, turn=True) as lab:
        (a,) = lab.start_peers("a")
        assert a.binding((PUBLIC_IP, TURN_PORT)) == ("198.18.1.2", a.local[1])
        assert lab.rebind("a") == "198.18.1.3"
        assert a.binding((PUBLIC_IP, TURN_PORT)) == ("198.18.1.3", a.local[1])
        with pytest.raises(ValueError, match="no mapping"):
            lab.rebind("a", how="port")


@pytest.mark.parametrize(
    ("kind", "mapping"),
    [(NatKind.CONE, "endpoint-independent"), (NatKind.SYMMETRIC, "address-and-port-dependent")],
)
def test_rfc5780_discovery_inside_the_lab(kind: NatKind, mapping: str) -> None:
    """``rtcstack nat-type --mapping-only`` (RFC 5780 §4.3) from behind each NAT, against
    coturn's two addresses (the filtering tests would only add timeouts)."""
    with nat_lab(kind, NatKind.NONE) as lab:
        done = subprocess.run(
            [*lab.ns("peer-a").exec_prefix, sys.executable, "-m", "rtcstack.cli", "nat-type",
             f"{PUBLIC_IP}:{TURN_PORT}", "--json", "--mapping-only"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["mapping"] == mapping, result
        assert result["nat"] is True and result["mapped"].startswith("198.18.100.10:"), result
        assert result["local"].startswith("10.0.1.2:") and result["rfc5780"] is True, result


def test_json_process_in_a_namespace() -> None:
    with nat_lab(NatKind.CONE, NatKind.CONE, turn=False) as lab:
        code = (
            "import json, socket, sys\n"
            "for line in sys.stdin:\n"
            "    print(json.dumps({'echo': json.loads(line), 'host': socket.gethostname(),"
            " 'ns': open('/proc/self/net/route').read().count('eth0') > 0}), flush=True)\n"
        )
        process = lab.run_python("peer-b", code)
        assert process.call({"x": 1}) == {"echo": {"x": 1}, "host": process_host(), "ns": True}
        pid = process.pid
        assert pid in lab.ns("peer-b").pids()
    assert process.returncode is not None


def process_host() -> str:
    import socket

    return socket.gethostname()


def test_turn_relay_through_the_firewall_with_coturns_own_client() -> None:
    """coturn's ``turnutils_uclient`` behind the UDP-blocking firewall allocates on the lab's
    coturn and relays 5 datagrams to ``turnutils_peer`` on the public host and back: TURN is the
    one path out, and coturn relays to lab addresses (198.18.0.0/15 is not a denied peer)."""
    if shutil.which("turnutils_uclient") is None or shutil.which("turnutils_peer") is None:
        pytest.skip("turnutils_uclient is missing: install the Debian package coturn")
    with nat_lab(NatKind.FIREWALL_UDP_BLOCKED, NatKind.NONE) as lab:
        assert lab.coturn is not None
        config = lab.coturn.config
        peer = subprocess.Popen(
            [*lab.ns("peer-b").exec_prefix, "turnutils_peer", "-L", "198.18.2.2", "-p", "3480"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            done = subprocess.run(
                [*lab.ns("peer-a").exec_prefix, "turnutils_uclient", "-u", config.user,
                 "-w", config.password, "-e", "198.18.2.2", "-r", "3480", "-n", "5", "-m", "1",
                 "-c", PUBLIC_IP],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
        finally:
            peer.kill()
            peer.wait(timeout=5)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "tot_send_msgs=5, tot_recv_msgs=5" in done.stdout, done.stdout
        assert "Total lost packets 0 " in done.stdout, done.stdout
