"""A NAT lab: two peers, each behind its own real kernel NAT (iptables), a public segment with
coturn, all in network namespaces this module creates and deletes (Linux, root, Debian
``iproute2`` and ``iptables``).

Topology (``with nat_lab(NatKind.CONE, NatKind.SYMMETRIC) as lab:``)::

    peer-a 10.0.1.2 --lan-- nat-a --wan 198.18.100.10--+
                                                        |-- public: bridge "seg",
    peer-b 10.0.2.2 --lan-- nat-b --wan 198.18.100.20--+   198.18.100.1 and .2 (coturn)

- ``public``: a bridge joining the routers' WAN links; coturn listens on :data:`PUBLIC_IP` and
  :data:`PUBLIC_IP_2` (port 3478 each, alternate port 3479: RFC 5780 works), relays on
  :data:`PUBLIC_IP`.  198.18.0.0/15 is the RFC 2544 benchmarking range, never routed outside;
  nothing here is connected to the machine's own namespace, so no packet can leave the lab.
- ``nat-a`` / ``nat-b``: routers (``ip_forward``), default route to the public namespace.
- ``peer-a`` / ``peer-b``: one host each, ``eth0`` with the default route via its router.  With
  ``same_lan=True`` both LANs are 10.0.0.0/24 and both peers are 10.0.0.2 -- the realistic,
  harder case (each peer's host candidate is the other's address too).

What each :class:`NatKind` does on its router:

- ``NONE``: plain forwarding, no NAT: the peer's LAN is a public subnet (198.18.1.0/24 for a,
  198.18.2.0/24 for b, routed by the public namespace and the other router), so the peer's host
  address is its public address.
- ``CONE``: ``iptables -t nat -A POSTROUTING -o wan -j MASQUERADE``.  Linux keeps the source port
  whenever the resulting tuple is unique, so one local socket keeps one public ip:port for every
  destination: endpoint-independent mapping (RFC 4787 §4.1).  Filtering is what conntrack gives:
  only replies to flows the inside opened (address-and-port-dependent, RFC 4787 §5), which is
  what makes hole punching need both sides to send.  Unsolicited packets from the WAN are
  dropped (``-A INPUT/FORWARD -i wan -m conntrack --ctstate NEW,INVALID -j DROP``), as a home
  router does; this also keeps them from leaving conntrack entries that would collide with --
  and so move -- the mapping the inside is about to create, which breaks hole punching.
- ``SYMMETRIC``: ``MASQUERADE --random-fully``: every new flow (per destination ip:port) gets a
  random public port: address-and-port-dependent mapping.  A peer's server-reflexive address is
  useless to anyone but the STUN server; two of these connect only through a relay.
- ``FIREWALL_UDP_BLOCKED``: ``CONE`` plus a forwarding filter that drops every UDP datagram
  except to coturn's main address (:data:`PUBLIC_IP` port 3478) and replies to it; TCP passes.
  Only TURN (over UDP to that one address, or TCP) gets through.

:meth:`NatLab.rebind` simulates a network change mid-call; see there.

Programs: :meth:`NatLab.run_python` starts ``sys.executable`` inside a namespace and speaks
line-based JSON with it (:class:`LabProcess`); :meth:`NatLab.start_peer` starts this module's
own UDP peer (``python -m tests.interop.nat_lab peer``: STUN Binding with
:class:`rtcstack.asyncio.stun.StunUdpClient`, hole punching, datagrams) on one socket.

Teardown, whatever happened: every process started here is killed by PID, coturn stopped by PID,
then every namespace has its remaining processes killed by PID and is deleted by name
(:func:`tests.interop.netns.network_namespace`).  The host's own routes and iptables are never
touched: every ``ip`` and ``iptables`` command runs with ``-n NAME`` / ``ip netns exec NAME``.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import queue
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtcstack.common import Address
from tests.interop.coturn import Coturn, CoturnConfig, require_turnserver
from tests.interop.netns import Netns, NetnsError, network_namespace

__all__ = [
    "PUBLIC_IP",
    "PUBLIC_IP_2",
    "TURN_PORT",
    "LabProcess",
    "LabProcessError",
    "NatKind",
    "NatLab",
    "Side",
    "iptables_unavailable",
    "nat_lab",
    "require_iptables",
]

REPO_ROOT = Path(__file__).resolve().parents[2]

PUBLIC_PREFIX = "198.18.100"  # the public segment, 198.18.100.0/24 (RFC 2544 range)
PUBLIC_IP = f"{PUBLIC_PREFIX}.1"  # coturn's main address, also its relay address
PUBLIC_IP_2 = f"{PUBLIC_PREFIX}.2"  # coturn's second address (RFC 5780 "other address")
TURN_PORT = 3478  # a fresh namespace: the standard ports are free
TURN_ALT_PORT = 3479
_WAN_BASE = {"a": 10, "b": 20}  # nat-a's WAN is .10, after rebinds .11, .12, ...
_PUBLIC_LAN = {"a": "198.18.1", "b": "198.18.2"}  # NONE: the peer's LAN is public
_PRIVATE_LAN = {"a": "10.0.1", "b": "10.0.2"}
_SAME_LAN = "10.0.0"
_UDP_PORTS_AFTER_REBIND = (20000, 29999)  # ``rebind(how="port")``: outside the ephemeral range


class NatKind(enum.Enum):
    """What the router in front of a peer does (see the module docstring for the rules)."""

    NONE = "none"
    CONE = "cone"
    SYMMETRIC = "symmetric"
    FIREWALL_UDP_BLOCKED = "firewall-udp-blocked"


class LabProcessError(RuntimeError):
    """A lab process died, answered an error, or did not answer in time (message has its
    stderr)."""


# --- availability -----------------------------------------------------------------------------


_iptables_checked: list[str | None] = []


def iptables_unavailable() -> str | None:
    """Why the lab's NAT rules cannot be made here, or None (checked once: the ``iptables``
    commands exist and a MASQUERADE ``--random-fully`` rule loads in a probe namespace)."""
    if _iptables_checked:
        return _iptables_checked[0]
    reason: str | None = None
    if shutil.which("iptables") is None or shutil.which("iptables-restore") is None:
        reason = "the iptables command is missing: install the Debian package iptables"
    else:
        try:
            with network_namespace("natlab-probe") as ns:
                _iptables_restore(ns, _nat_rules(NatKind.SYMMETRIC, ports=None))
        except NetnsError as exc:
            reason = f"iptables NAT rules do not load in a namespace here: {exc}"
    _iptables_checked.append(reason)
    return reason


def require_iptables() -> None:
    """Skip the test (``pytest.skip``) when :func:`iptables_unavailable` gives a reason."""
    import pytest

    reason = iptables_unavailable()
    if reason is not None:
        pytest.skip(reason)


# --- rules ------------------------------------------------------------------------------------


def _nat_rules(kind: NatKind, ports: tuple[int, int] | None) -> str:
    """The ``iptables-restore`` input for a router of ``kind``; ``ports`` restricts the UDP
    mapping to a port range (after ``rebind(how="port")``)."""
    if kind is NatKind.NONE:
        return "*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n"
    masquerade = "-j MASQUERADE" + (" --random-fully" if kind is NatKind.SYMMETRIC else "")
    lines = ["*nat", ":POSTROUTING ACCEPT [0:0]"]
    if ports is not None:
        lines.append(f"-A POSTROUTING -o wan -p udp {masquerade} --to-ports {ports[0]}-{ports[1]}")
    lines += [f"-A POSTROUTING -o wan {masquerade}", "COMMIT", "*filter", ":FORWARD ACCEPT [0:0]"]
    # A home router drops what nobody inside asked for.  Without this a hole-punching packet
    # that arrives first would leave a conntrack entry behind (Linux confirms entries for
    # delivered-or-rejected packets) whose reply tuple is the very mapping the inside is about
    # to create: the NAT would then give the inside a new port and the punch would fail.
    # A packet dropped in the filter table never confirms its entry.
    lines += [
        ":INPUT ACCEPT [0:0]",
        "-A INPUT -i wan -m conntrack --ctstate NEW,INVALID -j DROP",
        "-A FORWARD -i wan -m conntrack --ctstate NEW,INVALID -j DROP",
    ]
    if kind is NatKind.FIREWALL_UDP_BLOCKED:
        lines += [
            "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            f"-A FORWARD -i lan -o wan -p udp -d {PUBLIC_IP} --dport {TURN_PORT} -j ACCEPT",
            "-A FORWARD -p udp -j DROP",
        ]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _iptables_restore(ns: Netns, rules: str) -> None:
    """Replace the nat and filter tables of ``ns`` (never the host's) with ``rules``."""
    command = [*ns.exec_prefix, "iptables-restore"]
    try:
        done = subprocess.run(command, input=rules, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsError(f"{' '.join(command)}: {exc}") from exc
    if done.returncode != 0:
        raise NetnsError(f"{' '.join(command)} failed: {done.stderr.strip()}\n{rules}")


def _write_sysctl(ns: Netns, key: str, value: str) -> None:
    """Write ``/proc/sys/KEY`` as seen from inside ``ns`` (net sysctls are per namespace)."""

    def write() -> None:
        Path("/proc/sys", key.replace(".", "/")).write_text(value)

    ns.call(write)


def _flush_conntrack() -> None:
    """``conntrack -F`` for IPv4 in the calling thread's namespace, by netlink (the Debian
    ``conntrack`` tool is not needed): an IPCTNL_MSG_CT_DELETE without attributes deletes every
    entry (linux/netfilter/nfnetlink_conntrack.h)."""
    netlink_netfilter, nfnl_subsys_ctnetlink, ipctnl_msg_ct_delete = 12, 1, 2
    nlm_f_request, nlm_f_ack, nlmsg_error = 1, 4, 2
    nfgenmsg = struct.pack("=BBH", socket.AF_INET, 0, 0)  # family, version 0, res_id
    header = struct.pack(
        "=IHHII",
        16 + len(nfgenmsg),
        (nfnl_subsys_ctnetlink << 8) | ipctnl_msg_ct_delete,
        nlm_f_request | nlm_f_ack,
        1,
        0,
    )
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, netlink_netfilter) as s:
        s.settimeout(5)
        s.bind((0, 0))
        s.send(header + nfgenmsg)
        reply = s.recv(4096)
    _, kind, _, _, _ = struct.unpack_from("=IHHII", reply)
    if kind == nlmsg_error:
        (error,) = struct.unpack_from("=i", reply, 16)
        if error not in (0, -2):  # -ENOENT: the table was already empty
            raise NetnsError(f"conntrack flush: {os.strerror(-error)}")


# --- processes --------------------------------------------------------------------------------


class LabProcess(subprocess.Popen[str]):
    """A program inside a lab namespace speaking line-based JSON on stdin/stdout.

    :meth:`send` writes one object as one line; :meth:`recv` returns the next line's object
    (a reader thread queues them, so a test can wait on two processes with deadlines);
    :meth:`call` does both.  stderr goes to a file, quoted in every :class:`LabProcessError`.
    """

    def __init__(self, argv: list[str], *, name: str, env: dict[str, str]) -> None:
        self.name = name
        self._stderr_file = tempfile.TemporaryFile(prefix="natlab-")  # noqa: SIM115 (closed in stop)
        super().__init__(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            text=True,
            bufsize=1,
            cwd=REPO_ROOT,
            env=env,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"natlab-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stream = self.stdout
        if stream is not None:
            with contextlib.suppress(ValueError, OSError):  # closed by stop()
                for line in stream:
                    self._lines.put(line)
        self._lines.put(None)  # end of output

    def stderr_text(self) -> str:
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode("utf-8", "replace")

    def _fail(self, what: str) -> LabProcessError:
        return LabProcessError(f"{self.name}: {what}\n--- stderr ---\n{self.stderr_text()[-3000:]}")

    def send(self, message: dict[str, Any]) -> None:
        if self.stdin is None or self.poll() is not None:
            raise self._fail(f"cannot send {message!r}: the process has exited")
        try:
            self.stdin.write(json.dumps(message) + "\n")
            self.stdin.flush()
        except OSError as exc:
            raise self._fail(f"cannot send {message!r}: {exc}") from exc

    def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise self._fail(f"no output within {timeout} s") from None
        if line is None:
            self._lines.put(None)
            raise self._fail(f"the process exited ({self.wait(timeout=5)})")
        try:
            value = json.loads(line)
        except ValueError:
            raise self._fail(f"not a JSON line: {line!r}") from None
        if not isinstance(value, dict):
            raise self._fail(f"not a JSON object: {line!r}")
        return value

    def call(self, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        self.send(message)
        return self.recv(timeout)

    def stop(self) -> None:
        """Kill by PID (SIGKILL: nothing to save) and reap; idempotent."""
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.wait(timeout=5)
        for stream in (self.stdin, self.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._reader.join(timeout=5)
        self._stderr_file.close()


class _LabCoturn(Coturn):
    """coturn started with ``ip netns exec`` and probed for readiness from inside ``ns``."""

    def __init__(self, config: CoturnConfig, binary: str, ns: Netns) -> None:
        self.ns = ns
        super().__init__(config, binary)

    def command(self) -> list[str]:
        return [*self.ns.exec_prefix, *super().command()]

    def _wait_ready(self) -> None:
        self.ns.call(super()._wait_ready)


# --- the lab ----------------------------------------------------------------------------------


@dataclass
class Side:
    """One side of the lab: a peer host behind its router (addresses change on rebind)."""

    name: str  # "a" or "b"
    kind: NatKind
    router: Netns
    peer: Netns
    lan_prefix: str  # "10.0.1": the LAN is LAN_PREFIX.0/24, router .1
    wan_ip: str  # the router's address on the public segment
    peer_ip: str  # the peer's own (host) address
    rebinds: int = 0
    port_range: tuple[int, int] | None = None  # after rebind(how="port")

    @property
    def router_lan_ip(self) -> str:
        return f"{self.lan_prefix}.1"

    @property
    def public_ip(self) -> str:
        """The address the public segment sees the peer's traffic come from."""
        return self.peer_ip if self.kind is NatKind.NONE else self.wan_ip


@dataclass
class NatLab:
    """The built lab (valid inside ``with nat_lab(...)``); see the module docstring."""

    public: Netns
    sides: dict[str, Side]
    same_lan: bool
    coturn: Coturn | None = None
    public_ip: str = PUBLIC_IP
    processes: list[LabProcess] = field(default_factory=list)

    def ns(self, name: str) -> Netns:
        """``"public"``, ``"nat-a"``, ``"nat-b"``, ``"peer-a"`` or ``"peer-b"``."""
        if name == "public":
            return self.public
        role, _, side = name.partition("-")
        if side in self.sides and role in ("nat", "peer"):
            return self.sides[side].router if role == "nat" else self.sides[side].peer
        raise KeyError(f"no namespace {name!r} in the lab (public, nat-a/b, peer-a/b)")

    def side(self, name: str) -> Side:
        return self.sides[name]

    @property
    def stun_servers(self) -> list[Address]:
        """coturn's two STUN addresses (two destinations for mapping tests)."""
        return [(PUBLIC_IP, TURN_PORT), (PUBLIC_IP_2, TURN_PORT)]

    @property
    def turn_address(self) -> Address:
        return (PUBLIC_IP, TURN_PORT)

    # programs

    def run_python(
        self, ns: Netns | str, code_or_args: str | Sequence[str], *, name: str | None = None
    ) -> LabProcess:
        """Start ``sys.executable`` in ``ns`` (``ip netns exec``): ``-c CODE`` for a string,
        else the arguments (``["-m", "module", ...]``); cwd and PYTHONPATH are the repository
        root.  Killed by PID when the lab closes."""
        netns = self.ns(ns) if isinstance(ns, str) else ns
        args = ["-c", code_or_args] if isinstance(code_or_args, str) else list(code_or_args)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        argv = [*netns.exec_prefix, sys.executable, "-u", *args]
        process = LabProcess(argv, name=name or netns.name, env=env)
        self.processes.append(process)
        return process

    def start_peer(self, side: str, port: int = 0, timeout: float = 10.0) -> PeerHandle:
        """This module's UDP peer in ``peer-SIDE`` on one socket (``0.0.0.0:PORT``), ready."""
        return self.start_peers(side, port=port, timeout=timeout)[0]

    def start_peers(self, *sides: str, port: int = 0, timeout: float = 10.0) -> list[PeerHandle]:
        """One peer per name in ``sides`` (``"a"``, ``"b"``, or a namespace name), started
        together (Python starts in parallel), each ready."""
        processes = [
            self.run_python(
                side if "-" in side else f"peer-{side}",
                ["-m", "tests.interop.nat_lab", "peer", "--port", str(port)],
                name=side if "-" in side else f"peer-{side}",
            )
            for side in sides
        ]
        handles = []
        for process in processes:
            hello = process.recv(timeout)
            if "local" not in hello:
                raise LabProcessError(f"{process.name} did not start: {hello!r}")
            handles.append(PeerHandle(process, (str(hello["local"][0]), int(hello["local"][1]))))
        return handles

    def stop_processes(self) -> None:
        for process in self.processes:
            process.stop()
        self.processes.clear()

    # network changes

    def rebind(self, side: str, how: str = "address") -> str:
        """Simulate a network change under side ``side``'s peer, mid-call; returns its new
        public IP.

        - ``how="address"`` (default): the NAT's public address changes, as when the uplink
          moves to another network or gets a new lease.  The router's WAN address goes from
          198.18.100.10 to .11 (.12, ...; b: .20, .21, ...); deleting an address makes the kernel
          drop every MASQUERADE conntrack entry that used it, so existing flows (same local
          socket) come out with a new mapped address -- same port when the NAT keeps ports.
          With ``NatKind.NONE`` the peer host's own address changes instead (198.18.1.2 ->
          .3, ...), and sockets bound to 0.0.0.0 send from the new one.
        - ``how="port"``: a NAT rebinding as after a mapping timeout -- same public IP, new
          ports: UDP masquerading is restricted to ports 20000-29999 (outside Linux's
          ephemeral range, so no local port can be kept) and every conntrack entry is deleted
          (netlink ``conntrack -F``).  The NAT stays of its kind: CONE keeps one port per local
          socket for every destination (the kernel reuses a source's existing mapping),
          SYMMETRIC randomises per flow.  Not possible with ``NatKind.NONE`` (ValueError).

        Packets in flight during the change may be lost, as in life.
        """
        s = self.sides[side]
        if how == "port":
            if s.kind is NatKind.NONE:
                raise ValueError("a host without NAT has no mapping to rebind: use how='address'")
            s.port_range = _UDP_PORTS_AFTER_REBIND
            _iptables_restore(s.router, _nat_rules(s.kind, s.port_range))
            s.router.call(_flush_conntrack)
            s.rebinds += 1
            return s.public_ip
        if how != "address":
            raise ValueError(f"how must be 'address' or 'port', not {how!r}")
        if s.rebinds >= 9:
            raise ValueError("at most 9 rebinds per side")
        s.rebinds += 1
        if s.kind is NatKind.NONE:
            new = f"{s.lan_prefix}.{2 + s.rebinds}"
            s.peer.ip("addr", "del", f"{s.peer_ip}/24", "dev", "eth0")
            s.peer.ip("addr", "add", f"{new}/24", "dev", "eth0")
            s.peer.ip("route", "replace", "default", "via", s.router_lan_ip)
            s.peer_ip = new
        else:
            new = f"{PUBLIC_PREFIX}.{_WAN_BASE[side] + s.rebinds}"
            s.router.ip("addr", "del", f"{s.wan_ip}/24", "dev", "wan")
            s.router.ip("addr", "add", f"{new}/24", "dev", "wan")
            s.router.ip("route", "replace", "default", "via", PUBLIC_IP)
            s.wan_ip = new
        return s.public_ip


@dataclass
class PeerHandle:
    """A running ``nat_lab peer`` (see :func:`_peer_main` for its commands)."""

    process: LabProcess
    local: Address

    def binding(self, server: Address, timeout: float = 2.0) -> Address:
        """The mapped address ``server`` reports for the peer's socket (STUN Binding)."""
        reply = self.process.call(
            {"op": "binding", "server": list(server), "timeout": timeout}, timeout + 5
        )
        if "mapped" not in reply:
            raise LabProcessError(f"{self.process.name}: Binding to {server}: {reply!r}")
        return (str(reply["mapped"][0]), int(reply["mapped"][1]))

    def try_binding(self, server: Address, timeout: float = 2.0) -> dict[str, Any]:
        """The raw reply: ``{"mapped": ...}`` or ``{"error": "timeout"}``."""
        return self.process.call(
            {"op": "binding", "server": list(server), "timeout": timeout}, timeout + 5
        )

    def start_punch(self, to: Address | None, timeout: float = 2.0) -> None:
        """Begin hole punching towards ``to`` (None: answer whoever punches first);
        :meth:`punch_result` collects the outcome."""
        self.process.send({"op": "punch", "to": list(to) if to else None, "timeout": timeout})

    def punch_result(self, timeout: float = 10.0) -> dict[str, Any]:
        """``{"received": bool, "confirmed": bool, "source": [ip, port] | None}``."""
        return self.process.recv(timeout)


def _configure_side(public: Netns, side: Side) -> None:
    name = side.name
    public.ip("link", "add", f"to-{name}", "type", "veth", "peer", "name", "wan",
              "netns", side.router.name)  # fmt: skip
    public.ip("link", "set", f"to-{name}", "master", "seg", "up")
    router, peer = side.router, side.peer
    router.ip("addr", "add", f"{side.wan_ip}/24", "dev", "wan")
    router.ip("link", "set", "wan", "up")
    router.ip("link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", peer.name)
    router.ip("addr", "add", f"{side.router_lan_ip}/24", "dev", "lan")
    router.ip("link", "set", "lan", "up")
    router.ip("route", "replace", "default", "via", PUBLIC_IP)
    _write_sysctl(router, "net.ipv4.ip_forward", "1")
    _iptables_restore(router, _nat_rules(side.kind, None))
    peer.ip("addr", "add", f"{side.peer_ip}/24", "dev", "eth0")
    peer.ip("link", "set", "eth0", "up")
    peer.ip("route", "replace", "default", "via", side.router_lan_ip)


@contextmanager
def nat_lab(
    a: NatKind, b: NatKind, *, same_lan: bool = False, turn: bool = True
) -> Iterator[NatLab]:
    """Build the lab: peer-a behind a NAT of kind ``a``, peer-b behind ``b``; coturn in
    ``public`` unless ``turn=False`` (then ``lab.coturn`` is None).  ``same_lan``: both private
    LANs are 10.0.0.0/24 with both peers at 10.0.0.2.  Everything is removed on exit (see the
    module docstring).  Raises :class:`NetnsError` when a namespace or rule cannot be made
    (call :func:`tests.interop.netns.require_netns` and :func:`require_iptables` first)."""
    binary = require_turnserver() if turn else ""
    with ExitStack() as stack:
        public = stack.enter_context(network_namespace("natlab-public"))
        sides: dict[str, Side] = {}
        for name, kind in (("a", a), ("b", b)):
            router = stack.enter_context(network_namespace(f"natlab-nat-{name}"))
            peer = stack.enter_context(network_namespace(f"natlab-peer-{name}"))
            if kind is NatKind.NONE:
                lan = _PUBLIC_LAN[name]
            else:
                lan = _SAME_LAN if same_lan else _PRIVATE_LAN[name]
            wan = f"{PUBLIC_PREFIX}.{_WAN_BASE[name]}"
            sides[name] = Side(name, kind, router, peer, lan, wan, f"{lan}.2")
        lab = NatLab(public, sides, same_lan)
        stack.callback(lab.stop_processes)

        public.ip("link", "add", "seg", "type", "bridge")
        public.ip("addr", "add", f"{PUBLIC_IP}/24", "dev", "seg")
        public.ip("addr", "add", f"{PUBLIC_IP_2}/24", "dev", "seg")
        public.ip("link", "set", "seg", "up")
        for side in sides.values():
            _configure_side(public, side)
        for side in sides.values():  # a public LAN is routed by everyone on the segment
            if side.kind is NatKind.NONE:
                route = ("route", "add", f"{side.lan_prefix}.0/24", "via", side.wan_ip)
                public.ip(*route)
                for other in sides.values():
                    if other is not side:
                        other.router.ip(*route)
        if turn:
            config = CoturnConfig(
                listening_ips=[PUBLIC_IP, PUBLIC_IP_2],
                port=TURN_PORT,
                alt_port=TURN_ALT_PORT,
                relay_ip=PUBLIC_IP,
            )
            server = _LabCoturn(config, binary, public)
            server.start()
            stack.callback(server.stop)
            lab.coturn = server
        yield lab


# --- the peer program (runs inside a namespace) -------------------------------------------


def _short(addr: Any) -> Address:
    return (str(addr[0]), int(addr[1]))


async def _peer_main(port: int) -> None:
    """``python -m tests.interop.nat_lab peer --port P``: one UDP socket on 0.0.0.0:P.

    Prints ``{"local": [ip, port]}``, then answers one JSON line per command line:

    - ``{"op": "binding", "server": [ip, port], "timeout": s}`` -> ``{"mapped": [ip, port],
      "source": [ip, port]}`` or ``{"error": "timeout" | reason}`` (RFC 8489 Binding through
      :class:`rtcstack.asyncio.stun.StunUdpClient`, on the shared socket);
    - ``{"op": "punch", "to": [ip, port] | null, "timeout": s}`` -> ``{"received": bool,
      "confirmed": bool, "source": [ip, port] | null}``: every 50 ms send ``{"punch": 1,
      "got": <received anything yet>}`` to ``to``, until a punch came in (``received``) and one
      said the peer got ours (``confirmed``), or the timeout; with ``"to": null`` wait for
      the first punch and answer its source (as a public host learns a peer's mapping);
    - ``{"op": "send", "to": [ip, port], "text": t}`` -> ``{"ok": true}`` and ``{"op":
      "recv", "timeout": s}`` -> ``{"text": t, "source": [ip, port]}`` or ``{"error":
      "timeout"}``: application datagrams;
    - ``{"op": "exit"}``.
    """
    import asyncio

    from rtcstack.asyncio.stun import StunError, StunUdpClient
    from rtcstack.stun import Message, MessageClass, Method
    from rtcstack.stun.attributes import MappedAddress, XorMappedAddress

    class Peer(StunUdpClient):
        """STUN responses go to the STUN client; JSON datagrams (``{``) to ``inbox``."""

        def __init__(self) -> None:
            super().__init__()
            self.inbox: asyncio.Queue[tuple[dict[str, Any], Address]] = asyncio.Queue()
            self.udp: asyncio.DatagramTransport | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self.udp = transport  # type: ignore[assignment]

        def datagram_received(self, data: bytes, addr: Any) -> None:
            if data[:1] != b"{":
                super().datagram_received(data, addr)
                return
            with contextlib.suppress(ValueError):
                message = json.loads(data)
                if isinstance(message, dict):
                    self.inbox.put_nowait((message, _short(addr)))

        def send_json(self, message: dict[str, Any], addr: Address) -> None:
            if self.udp is not None:
                self.udp.sendto(json.dumps(message).encode(), addr)

    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(Peer, local_addr=("0.0.0.0", port))
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def out(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    async def binding(command: dict[str, Any]) -> dict[str, Any]:
        server = _short(command["server"])
        request = Message.new(Method.BINDING, MessageClass.REQUEST)
        try:
            async with asyncio.timeout(float(command.get("timeout", 2.0))):
                response, source = await peer.request(request, server, rto=0.1)
        except TimeoutError:
            return {"error": "timeout"}
        except StunError as exc:
            return {"error": str(exc)}
        attr = response.get(XorMappedAddress) or response.get(MappedAddress)
        if response.message_class is not MessageClass.SUCCESS or attr is None:
            return {"error": f"unusable response {response!r}"}
        return {"mapped": list(attr.address), "source": list(source)}

    async def punch(command: dict[str, Any]) -> dict[str, Any]:
        to = _short(command["to"]) if command.get("to") else None
        deadline = loop.time() + float(command.get("timeout", 2.0))
        source: Address | None = None
        confirmed = False
        while not peer.inbox.empty():  # nothing stale from an earlier exchange
            peer.inbox.get_nowait()
        while loop.time() < deadline and not (source and confirmed):
            if to is not None:
                peer.send_json({"punch": 1, "got": source is not None}, to)
            next_send = min(loop.time() + 0.05, deadline)
            while (left := next_send - loop.time()) > 0:
                try:
                    message, addr = await asyncio.wait_for(peer.inbox.get(), left)
                except TimeoutError:
                    break
                if "punch" in message:
                    source = addr
                    to = to or addr  # "to": null answers whoever punched first
                    confirmed = confirmed or bool(message.get("got"))
        if source is not None and to is not None:
            peer.send_json({"punch": 1, "got": True}, to)  # the other side may still wait
        return {"received": source is not None, "confirmed": confirmed,
                "source": list(source) if source else None}  # fmt: skip

    async def recv(command: dict[str, Any]) -> dict[str, Any]:
        try:
            async with asyncio.timeout(float(command.get("timeout", 2.0))):
                while True:
                    message, addr = await peer.inbox.get()
                    if "text" in message:
                        return {"text": message["text"], "source": list(addr)}
        except TimeoutError:
            return {"error": "timeout"}

    out({"local": list(_short(peer.udp.get_extra_info("sockname") if peer.udp else ("", 0)))})
    while line := await reader.readline():
        command = json.loads(line)
        op = command.get("op")
        if op == "binding":
            out(await binding(command))
        elif op == "punch":
            out(await punch(command))
        elif op == "send":
            peer.send_json({"text": command["text"]}, _short(command["to"]))
            out({"ok": True})
        elif op == "recv":
            out(await recv(command))
        elif op == "exit":
            break
        else:
            out({"error": f"unknown op {op!r}"})
    peer.close()


def _main(argv: Sequence[str]) -> int:
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(prog="python -m tests.interop.nat_lab")
    commands = parser.add_subparsers(dest="command", required=True)
    peer = commands.add_parser("peer", help="a UDP peer driven by JSON lines on stdin")
    peer.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(_peer_main(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
