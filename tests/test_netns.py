"""The network-namespace helper of the browser tests (tests/interop/netns.py).

Needs root and ``ip`` (Debian ``iproute2``); skips otherwise.  Nothing here sends a packet
outside the namespaces these tests create.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.interop.netns import Netns, NetnsError, network_namespace, require_netns


@pytest.fixture(autouse=True)
def _netns() -> None:
    require_netns()


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def own_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


def test_loopback_only_namespace_is_made_and_deleted() -> None:
    with network_namespace("rtcstack-t") as ns, network_namespace("rtcstack-t") as other:
        assert ns.name != other.name and ns.name.startswith("rtcstack-t-")
        assert ns.name in namespaces()
        assert ns.links() == ["lo"]
        assert "UP" in ns.ip("-o", "link", "show", "lo")
        assert "MULTICAST" in ns.ip("-o", "link", "show", "lo")
        routes = ns.ip("route")
        assert "default dev lo scope link src 127.0.0.1" in routes
        assert "224.0.0.0/4 dev lo" in routes
        assert ns.address == "127.0.0.1"
        assert ns.exec_prefix == ["ip", "netns", "exec", ns.name]
        assert ns.pids() == set()
    assert ns.name not in namespaces() and other.name not in namespaces()


def test_inner_link_has_both_veth_ends_inside() -> None:
    with network_namespace("rtcstack-t", inner_link=True) as ns:
        assert sorted(ns.links()) == ["lo", "test0", "test1"]
        # The peer shows by name ("test0@test1"), not as "@ifN" in another namespace.
        assert "test0@test1:" in ns.ip("-o", "link", "show", "test0")
        assert "inet 198.18.0.1/24" in ns.ip("-o", "addr", "show", "test0")
        assert "default dev test0" in ns.ip("route")
        assert ns.address == "198.18.0.1"
    assert ns.name not in namespaces()


def test_call_creates_sockets_inside_and_leaves_the_caller_outside() -> None:
    before = own_netns()
    with network_namespace("rtcstack-t") as ns:
        inside = ns.call(own_netns)
        assert inside != before
        assert own_netns() == before, "only the helper thread entered the namespace"
        server = ns.call(lambda: socket.create_server(("127.0.0.1", 0)))
        with server:
            port = server.getsockname()[1]
            client = subprocess.Popen(
                [
                    *ns.exec_prefix,
                    sys.executable,
                    "-c",
                    f"import socket; socket.create_connection(('127.0.0.1', {port})).send(b'hi')",
                ],
            )
            server.settimeout(10)
            conn, _ = server.accept()  # served from this thread, outside the namespace
            with conn:
                assert conn.recv(2) == b"hi"
            assert client.wait(timeout=10) == 0


def test_call_reraises_and_unknown_namespace_fails() -> None:
    with network_namespace("rtcstack-t") as ns, pytest.raises(ZeroDivisionError):
        ns.call(lambda: 1 // 0)
    with pytest.raises(FileNotFoundError):
        ns.call(lambda: None)  # deleted: /run/netns/NAME is gone
    with pytest.raises(NetnsError, match="ip -n"):
        Netns("rtcstack-no-such-namespace").links()


def test_processes_left_inside_are_killed_on_exit() -> None:
    with network_namespace("rtcstack-t") as ns:
        proc = subprocess.Popen([*ns.exec_prefix, "sleep", "60"], start_new_session=True)
        try:
            deadline = time.monotonic() + 5
            while proc.pid not in ns.pids() and time.monotonic() < deadline:
                assert proc.poll() is None
            assert proc.pid in ns.pids(), "ip netns exec keeps the PID"
        except BaseException:
            proc.kill()
            raise
    assert proc.wait(timeout=5) == -signal.SIGKILL
    assert ns.name not in namespaces()


def test_an_exception_inside_still_deletes_the_namespace() -> None:
    with pytest.raises(ZeroDivisionError), network_namespace("rtcstack-t") as ns:
        1 // 0  # noqa: B018
    assert ns.name not in namespaces()
