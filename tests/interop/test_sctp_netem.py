"""SCTP data channels (rtcstack.asyncio.sctp over DTLS) across a real, impaired kernel link.

Two network namespaces made here (``sctpnetem-srv``, ``sctpnetem-cli``) are joined by a veth
pair with 198.18.50.1/24 (server) and 198.18.50.2/24 (client) -- a part of the RFC 2544
benchmarking range no other test uses (netns.py has 198.18.0.0/24, the NAT lab 198.18.1-2 and
198.18.100).  Both ends' egress is impaired, so data and SACKs are lost alike.  Each side is its
own Python process started with ``ip netns exec`` (``python -m tests.interop.test_sctp_netem
peer ROLE``), driven by JSON lines through :class:`tests.interop.nat_lab.LabProcess`, as the NAT
lab's peers are.

Impairment: ``tc qdisc add dev IF root netem ...`` when the kernel has netem.  A kernel built
without it (``CONFIG_NET_SCH_NETEM`` unset, as in some CI VMs) gets the same impairment from
netfilter in the namespaces instead: loss by ``-m statistic --mode random -j DROP``, duplication
by ``-j TEE --gateway PEER`` on a random fraction, and delay, jitter and reordering by
``-j NFQUEUE``: the kernel holds every packet until this test's thread issues its verdict after
``delay +- jitter`` (uniform, as netem's default; a ``reorder`` fraction goes at once, as netem's
``reorder``).  The output says which one ran.

Per profile (5 % loss; 2 % loss + 30 ms +- 10 ms with reordering + 1 % duplicates) one
association proves: (1) a reliable ordered channel carries 4 MiB of 1 B..64 KiB messages each
way, byte for byte and in order; (2) an unordered ``maxRetransmits=0`` channel delivers a subset,
uncorrupted and without duplicates, while a reliable channel on the same association delivers
everything; (3) a channel closed by one side closes on both; (4) an SCTP shutdown ends both
sides without error.  The SCTP counters and the transfer times are printed (``-s``).

Needs root, ``ip`` and ``tc`` (iproute2), and netem or iptables; skips otherwise.  The
namespaces are deleted by name whatever happens (:func:`tests.interop.netns.network_namespace`).
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import itertools
import json
import os
import random
import select
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.interop.nat_lab import REPO_ROOT, LabProcess, require_iptables
from tests.interop.netns import Netns, NetnsError, network_namespace, require_netns

pytestmark = pytest.mark.interop

SERVER_IP = "198.18.50.1"
CLIENT_IP = "198.18.50.2"
PREFIX = 24
VETH = ("sctpn-srv", "sctpn-cli")  # the server's end, the client's end
BULK_BYTES = 4 * 1024 * 1024
PARTIAL_COUNT = 400  # messages per channel in (2)
PARTIAL_SIZE = 1000
NFQUEUE_NUM = 50


@dataclass(frozen=True)
class Impairment:
    """What each end's egress does (netem's words)."""

    loss: float  # percent
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    reorder: float = 0.0  # percent sent without the delay
    duplicate: float = 0.0  # percent

    def netem_args(self) -> list[str]:
        args = ["loss", f"{self.loss:g}%"]
        if self.delay_ms:
            args += ["delay", f"{self.delay_ms:g}ms", f"{self.jitter_ms:g}ms"]
            if self.reorder:
                args += ["reorder", f"{self.reorder:g}%", "50%"]
        if self.duplicate:
            args += ["duplicate", f"{self.duplicate:g}%"]
        return args


PROFILES = {
    "loss5": Impairment(loss=5),
    "loss2-delay30ms-jitter10ms-reorder-dup1": Impairment(
        loss=2, delay_ms=30, jitter_ms=10, reorder=10, duplicate=1
    ),
}


# --- availability -----------------------------------------------------------------------------


_netem_checked: list[str | None] = []


def netem_unavailable() -> str | None:
    """Why ``tc ... netem`` cannot be used here, or None (probed once in a namespace)."""
    if not _netem_checked:
        reason = None
        with network_namespace("sctpnetem-probe") as ns:
            done = subprocess.run(
                ["tc", "-n", ns.name, "qdisc", "add", "dev", "lo", "root", "netem", "loss", "1%"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            if done.returncode != 0:
                reason = f"tc netem: {done.stderr.strip()} (kernel without CONFIG_NET_SCH_NETEM?)"
        _netem_checked.append(reason)
    return _netem_checked[0]


@pytest.fixture(autouse=True)
def _requirements() -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces and netem need root")
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            pytest.skip(f"the {tool} command is missing: install the Debian package iproute2")
    require_netns()
    if netem_unavailable() is not None:
        require_iptables()  # the netfilter fallback


# --- the impaired link ------------------------------------------------------------------------


class NfqueueDelay:
    """Delay, jitter and reordering for packets an ``NFQUEUE`` rule hands to userspace.

    A netlink socket (``NETLINK_NETFILTER``, nfnetlink_queue, linux/netfilter/nfnetlink_queue.h)
    made inside ``ns`` binds queue ``num`` in metadata-only mode; a thread answers each packet
    with NF_ACCEPT when its time comes (the kernel holds the packet until then).
    """

    NFNL_SUBSYS_QUEUE = 3
    MSG_PACKET, MSG_VERDICT, MSG_CONFIG = 0, 1, 2
    CFG_CMD, CFG_PARAMS = 1, 2
    CMD_BIND, COPY_META = 1, 1
    ATTR_PACKET_HDR, ATTR_VERDICT_HDR = 1, 2
    NF_ACCEPT = 1
    NLMSG_ERROR = 2

    def __init__(self, ns: Netns, num: int, impairment: Impairment, seed: int) -> None:
        self.num = num
        self.impairment = impairment
        self.rng = random.Random(seed)
        self.queued = 0
        self.reordered = 0
        self.max_held = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._seq = 0
        self.sock = ns.call(self._open)
        self._thread = threading.Thread(target=self._run, name=f"nfqueue-{ns.name}", daemon=True)
        self._thread.start()

    def _message(self, msg: int, flags: int, attrs: list[tuple[int, bytes]]) -> bytes:
        body = struct.pack("!BBH", socket.AF_UNSPEC, 0, self.num)  # nfgenmsg, res_id big-endian
        for kind, payload in attrs:
            attr = struct.pack("=HH", 4 + len(payload), kind) + payload
            body += attr + b"\0" * (-len(attr) % 4)
        self._seq += 1
        return (
            struct.pack(
                "=IHHII",
                16 + len(body),
                (self.NFNL_SUBSYS_QUEUE << 8) | msg,
                1 | flags,
                self._seq,
                0,
            )
            + body
        )  # NLM_F_REQUEST | flags

    def _open(self) -> socket.socket:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
        try:
            sock.setsockopt(socket.SOL_SOCKET, 33, 4 * 1024 * 1024)  # SO_RCVBUFFORCE
            sock.bind((0, 0))
            sock.settimeout(5)
            for attrs in (
                [(self.CFG_CMD, struct.pack("!BBH", self.CMD_BIND, 0, socket.AF_INET))],
                [(self.CFG_PARAMS, struct.pack("!IB", 0, self.COPY_META))],
            ):
                sock.send(self._message(self.MSG_CONFIG, 4, attrs))  # NLM_F_ACK
                reply = sock.recv(65536)
                _, kind, _, _, _ = struct.unpack_from("=IHHII", reply)
                if kind == self.NLMSG_ERROR:
                    (error,) = struct.unpack_from("=i", reply, 16)
                    if error:
                        raise NetnsError(f"nfqueue {self.num} config: {os.strerror(-error)}")
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def _delay(self) -> float:
        imp = self.impairment
        if imp.reorder and self.rng.random() * 100 < imp.reorder:
            self.reordered += 1
            return 0.0
        low, high = imp.delay_ms - imp.jitter_ms, imp.delay_ms + imp.jitter_ms
        return max(0.0, self.rng.uniform(low, high)) / 1000

    def _run(self) -> None:
        held: list[tuple[float, int, int]] = []  # (release time, arrival order, packet id)
        order = 0
        while not self._stop.is_set():
            now = time.monotonic()
            while held and held[0][0] <= now:
                _, _, packet_id = heapq.heappop(held)
                verdict = struct.pack("!II", self.NF_ACCEPT, packet_id)
                try:
                    self.sock.send(
                        self._message(self.MSG_VERDICT, 0, [(self.ATTR_VERDICT_HDR, verdict)])
                    )
                except OSError as exc:
                    self.errors.append(f"verdict: {exc}")
            wait = min(held[0][0] - now, 0.05) if held else 0.05
            try:
                readable, _, _ = select.select([self.sock], [], [], max(wait, 0))
            except (OSError, ValueError):
                return
            if not readable:
                continue
            while True:
                try:
                    data = self.sock.recv(1 << 20)
                except BlockingIOError:
                    break
                except OSError as exc:  # ENOBUFS: the kernel dropped what it could not queue
                    self.errors.append(f"recv: {exc}")
                    break
                offset = 0
                arrived = time.monotonic()
                while offset + 16 <= len(data):
                    length, kind, _, _, _ = struct.unpack_from("=IHHII", data, offset)
                    if length < 16:
                        break
                    if kind == (self.NFNL_SUBSYS_QUEUE << 8) | self.MSG_PACKET:
                        at = offset + 20
                        while at + 4 <= offset + length:
                            alen, akind = struct.unpack_from("=HH", data, at)
                            if alen < 4:
                                break
                            if akind & 0x7FFF == self.ATTR_PACKET_HDR:
                                (packet_id,) = struct.unpack_from("!I", data, at + 4)
                                order += 1
                                self.queued += 1
                                heapq.heappush(held, (arrived + self._delay(), order, packet_id))
                                break
                            at += (alen + 3) & ~3
                    offset += (length + 3) & ~3
            self.max_held = max(self.max_held, len(held))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@dataclass
class Link:
    """The two namespaces and what impairs the veth between them."""

    server: Netns
    client: Netns
    impairment: Impairment
    mechanism: str
    delays: list[NfqueueDelay] = field(default_factory=list)

    def kernel_counters(self) -> dict[str, dict[str, int]]:
        """Per namespace: packets the impairment dropped / duplicated / delayed (netfilter: on
        what the namespace receives; netem: on what it sends)."""
        out: dict[str, dict[str, int]] = {}
        for ns, dev in ((self.server, VETH[0]), (self.client, VETH[1])):
            counts: dict[str, int] = {}
            if self.mechanism == "netem":
                stats = subprocess.run(
                    ["tc", "-n", ns.name, "-s", "qdisc", "show", "dev", dev],
                    capture_output=True,
                    text=True,
                    timeout=10,
                ).stdout
                words = stats.replace("(", " ").replace(")", " ").replace(",", " ").split()
                for key in ("pkt", "dropped"):
                    if key in words:
                        index = words.index(key)
                        value = words[index - 1] if key == "pkt" else words[index + 1]
                        counts["sent" if key == "pkt" else "dropped"] = int(value)
            else:
                saved = subprocess.run(
                    [*ns.exec_prefix, "iptables-save", "-c"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                ).stdout
                for line in saved.splitlines():
                    if not line.startswith("["):
                        continue
                    packets = int(line[1:].split(":", 1)[0])
                    if "-j DROP" in line:
                        counts["dropped"] = packets
                    elif "-j TEE" in line:
                        counts["duplicated"] = packets
                    elif "-j NFQUEUE" in line:
                        counts["delayed"] = packets
            out[ns.name.split("-")[1]] = counts
        for delay, side in zip(self.delays, ("srv", "cli"), strict=False):
            out[side].update(reordered=delay.reordered, max_held=delay.max_held)
        return out


def _netfilter_rules(imp: Impairment, dev: str, peer_ip: str) -> str:
    """Loss and delay on what ``dev`` receives (a DROP in OUTPUT would fail the sender's
    ``sendto`` with EPERM, which no network does), duplicates on what it sends."""
    lines = ["*filter", ":INPUT ACCEPT [0:0]"]
    if imp.loss:
        lines.append(
            f"-A INPUT -i {dev} -p udp -m statistic --mode random "
            f"--probability {imp.loss / 100:.4f} -j DROP"
        )
    lines += ["COMMIT", "*mangle", ":PREROUTING ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]"]
    if imp.duplicate:
        lines.append(
            f"-A POSTROUTING -o {dev} -p udp -m statistic --mode random "
            f"--probability {imp.duplicate / 100:.4f} -j TEE --gateway {peer_ip}"
        )
    if imp.delay_ms:
        lines.append(
            f"-A PREROUTING -i {dev} -p udp -j NFQUEUE --queue-num {NFQUEUE_NUM} --queue-bypass"
        )
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


@contextmanager
def impaired_link(imp: Impairment) -> Iterator[Link]:
    """Two namespaces joined by a veth pair whose both ends are impaired by ``imp``."""
    with ExitStack() as stack:
        server = stack.enter_context(network_namespace("sctpnetem-srv"))
        client = stack.enter_context(network_namespace("sctpnetem-cli"))
        server.ip(
            "link", "add", VETH[0], "type", "veth", "peer", "name", VETH[1], "netns", client.name
        )
        mechanism = "netem" if netem_unavailable() is None else "netfilter"
        link = Link(server, client, imp, mechanism)
        for ns, dev, ip, peer_ip in (
            (server, VETH[0], SERVER_IP, CLIENT_IP),
            (client, VETH[1], CLIENT_IP, SERVER_IP),
        ):
            ns.ip("addr", "add", f"{ip}/{PREFIX}", "dev", dev)
            ns.ip("link", "set", dev, "up")
            if mechanism == "netem":
                subprocess.run(
                    [
                        "tc",
                        "-n",
                        ns.name,
                        "qdisc",
                        "add",
                        "dev",
                        dev,
                        "root",
                        "netem",
                        *imp.netem_args(),
                    ],
                    check=True,
                    capture_output=True,
                    timeout=10,
                )
                continue
            done = subprocess.run(
                [*ns.exec_prefix, "iptables-restore"],
                input=_netfilter_rules(imp, dev, peer_ip),
                capture_output=True,
                text=True,
                timeout=10,
            )
            if done.returncode != 0:
                raise NetnsError(f"iptables-restore in {ns.name}: {done.stderr.strip()}")
            if imp.delay_ms:
                delay = NfqueueDelay(ns, NFQUEUE_NUM, imp, seed=len(link.delays) + 1)
                stack.callback(delay.close)
                link.delays.append(delay)
        yield link


# --- the test -----------------------------------------------------------------------------


def start_peer(ns: Netns, role: str) -> LabProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    argv = [
        *ns.exec_prefix,
        sys.executable,
        "-u",
        "-m",
        "tests.interop.test_sctp_netem",
        "peer",
        role,
    ]
    return LabProcess(argv, name=f"{role} in {ns.name}", env=env)


def both(
    server: LabProcess,
    client: LabProcess,
    command: dict[str, Any],
    server_extra: dict[str, Any],
    client_extra: dict[str, Any],
    timeout: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Send ``command`` (plus each side's extra keys) to both peers; both replies."""
    server.send({**command, **server_extra, "timeout": timeout})
    client.send({**command, **client_extra, "timeout": timeout})
    replies = server.recv(timeout + 10), client.recv(timeout + 10)
    failures = [
        f"{process.name}: {command['op']}: {reply['error']}\n--- stderr ---\n"
        f"{process.stderr_text()[-3000:]}"
        for process, reply in zip((server, client), replies, strict=True)
        if "error" in reply
    ]
    if failures:
        pytest.fail("\n".join([*failures, f"replies: {json.dumps(replies)[:3000]}"]))
    return replies


STAT_KEYS = (
    "retransmissions",
    "fast_retransmissions",
    "t3_expirations",
    "packets_dropped",
    "duplicate_tsns",
    "abandoned_messages",
    "packets_sent",
    "packets_received",
)


def stats_line(name: str, stats: dict[str, int]) -> str:
    return f"    {name}: " + ", ".join(f"{key} {stats[key]}" for key in STAT_KEYS)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_data_channels_over_an_impaired_kernel_link(profile: str) -> None:
    imp = PROFILES[profile]
    started = time.monotonic()
    report = [f"\nSCTP over {profile} ({' '.join(imp.netem_args())})"]
    names: list[str] = []
    with impaired_link(imp) as link:
        names = [link.server.name, link.client.name]
        report[0] += f", impaired by {link.mechanism}"
        server, client = start_peer(link.server, "server"), start_peer(link.client, "client")
        try:
            s_hello, c_hello = server.recv(15), client.recv(15)
            port = server.call(
                {"op": "listen", "host": SERVER_IP, "peer_fp": c_hello["fingerprint"]}, 10
            )["port"]
            _, c_up = both(
                server,
                client,
                {"op": "connect"},
                {},
                {"remote": [SERVER_IP, port], "peer_fp": s_hello["fingerprint"]},
                timeout=15,
            )
            report.append(f"  DTLS + SCTP up in {c_up['ms']:.0f} ms")

            # (1) 4 MiB each way on one reliable ordered channel, mixed sizes, both at once.
            s_bulk, c_bulk = both(
                server,
                client,
                {"op": "bulk", "total": BULK_BYTES},
                {"create": False, "seed_send": 2, "seed_recv": 1},
                {"create": True, "seed_send": 1, "seed_recv": 2},
                timeout=45,
            )
            for name, mine, theirs in (("server", s_bulk, c_bulk), ("client", c_bulk, s_bulk)):
                assert mine["mismatch"] is None, f"{name} got a wrong message: {mine['mismatch']}"
                assert mine["recv_bytes"] == BULK_BYTES, (name, mine)
                assert mine["recv_count"] == theirs["sent_count"], (name, mine, theirs)
                assert mine["recv_hash"] == theirs["sent_hash"], f"{name}: hash differs"
            report.append(
                f"  (1) 4 MiB each way, {c_bulk['sent_count']} + {s_bulk['sent_count']} messages "
                f"of 1 B..64 KiB: client->server {s_bulk['recv_s']:.2f} s, server->client "
                f"{c_bulk['recv_s']:.2f} s ({2 * BULK_BYTES / max(s_bulk['recv_s'], c_bulk['recv_s']) / 1e6:.2f} MB/s total)"  # noqa: E501
            )
            report += [stats_line("client", c_bulk["stats"]), stats_line("server", s_bulk["stats"])]

            # (2) unordered maxRetransmits=0 next to a reliable channel on the same association.
            s_part, c_part = both(
                server, client, {"op": "partial", "count": PARTIAL_COUNT}, {}, {}, timeout=20
            )
            lossy = s_part["lossy"]
            assert s_part["reliable"] == {
                "received": PARTIAL_COUNT,
                "in_order": True,
                "corrupt": 0,
            }, s_part
            assert lossy["corrupt"] == 0 and lossy["duplicates"] == 0, lossy
            assert 0 < lossy["received"] < PARTIAL_COUNT, lossy  # lossy: some, never all
            abandoned = (
                c_part["stats"]["abandoned_messages"] - c_bulk["stats"]["abandoned_messages"]
            )
            assert abandoned > 0, c_part["stats"]
            report.append(
                f"  (2) unordered maxRetransmits=0: {lossy['received']}/{PARTIAL_COUNT} delivered "
                f"({lossy['out_of_order']} out of order, 0 duplicates, 0 corrupt), "
                f"sender abandoned "
                f"{abandoned}; reliable: {PARTIAL_COUNT}/{PARTIAL_COUNT} in order; "
                f"{c_part['sent_s']:.2f} s"
            )

            # (3) a channel closed by the client closes on both sides.
            s_close, c_close = both(
                server,
                client,
                {"op": "close_channel"},
                {"create": False, "close": False},
                {"create": True, "close": True},
                timeout=10,
            )
            assert s_close["state"] == c_close["state"] == "CLOSED", (s_close, c_close)
            report.append(
                f"  (3) channel closed by the client: CLOSED on the client in "
                f"{c_close['ms']:.0f} ms, on the server in {s_close['ms']:.0f} ms"
            )

            # (4) graceful SCTP shutdown from the client.
            server.send({"op": "shutdown", "initiate": False, "timeout": 5})
            client.send({"op": "shutdown", "initiate": True, "timeout": 5})
            s_end, c_end = server.recv(15), client.recv(15)
            for end, process in ((s_end, server), (c_end, client)):
                assert "error" not in end, (process.name, end, process.stderr_text()[-2000:])
            for name, end in (("server", s_end), ("client", c_end)):
                assert end["sctp_error"] is None, (name, end)
                assert end["association"] == "CLOSED", (name, end)
                assert end["dtls_closed"] and end["dtls_error"] in (None, "closed locally"), (
                    name,
                    end,
                )
            report.append(f"  (4) shutdown: both CLOSED without error in {c_end['ms']:.0f} ms")
            report += [
                stats_line("client total", c_end["stats"]),
                stats_line("server total", s_end["stats"]),
            ]
            report.append(f"  kernel: {json.dumps(link.kernel_counters())}")
            for delay in link.delays:
                assert not delay.errors, delay.errors[:5]
            for process in (server, client):
                process.send({"op": "exit"})
                process.wait(timeout=5)
                assert process.returncode == 0, process.stderr_text()[-3000:]
        finally:
            server.stop()
            client.stop()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert names and not any(name in listed for name in names)
    report.append(f"  total {time.monotonic() - started:.1f} s (namespaces removed)")
    print("\n".join(report))


# --- the peer program (runs inside a namespace) -------------------------------------------


def bulk_messages(seed: int, total: int) -> list[bytes]:
    """1 B..64 KiB messages (log-uniform sizes, both extremes first) adding up to ``total``."""
    rng = random.Random(seed)
    sizes: list[int] = []
    left = total
    while left:
        size = [1, 65536][len(sizes)] if len(sizes) < 2 else int(2 ** rng.uniform(0, 16))
        size = min(max(size, 1), left)
        sizes.append(size)
        left -= size
    return [rng.randbytes(size) for size in sizes]


def partial_message(tag: bytes, index: int) -> bytes:
    body = hashlib.sha256(tag + index.to_bytes(4, "big")).digest() * 32
    return index.to_bytes(4, "big") + body[: PARTIAL_SIZE - 4]


def check_partial(tag: bytes, data: bytes | str) -> int | None:
    """The index of a well-formed message of channel ``tag``, or None if it is corrupt."""
    if not isinstance(data, bytes) or len(data) != PARTIAL_SIZE:
        return None
    index = int.from_bytes(data[:4], "big")
    return index if index < PARTIAL_COUNT and data == partial_message(tag, index) else None


async def _peer_main(role: str) -> None:
    import asyncio
    import dataclasses

    from rtcstack.asyncio.dtls import DtlsEndpoint, accept_dtls, connect_dtls
    from rtcstack.asyncio.sctp import Channel, SctpTransport, SctpTransportError
    from rtcstack.dtls import Certificate, DtlsConfig

    loop = asyncio.get_running_loop()
    cert = Certificate.generate()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    state: dict[str, Any] = {}
    stash: dict[str, Channel] = {}

    def out(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def sctp() -> SctpTransport:
        return state["sctp"]  # type: ignore[no-any-return]

    def stats() -> dict[str, int]:
        return dataclasses.asdict(sctp().association.stats)

    async def accept(label: str) -> Channel:
        while label not in stash:
            channel = await sctp().accept_channel()
            stash[channel.label] = channel
        return stash.pop(label)

    async def channel(label: str, create: bool, **options: Any) -> Channel:
        if create:
            made = sctp().create_channel(label, **options)
            await made.wait_open()
            return made
        return await accept(label)

    async def up(endpoint: DtlsEndpoint) -> None:
        await endpoint.handshake(10)
        state["sctp"] = SctpTransport(endpoint)
        await sctp().start(timeout=10)

    async def listen(cmd: dict[str, Any]) -> dict[str, Any]:
        config = DtlsConfig(cert, [("sha-256", cmd["peer_fp"])])
        endpoint = await accept_dtls(config, (cmd["host"], 0))
        state["up"] = asyncio.ensure_future(up(endpoint))
        return {"port": endpoint.local_address[1]}

    async def connect(cmd: dict[str, Any]) -> dict[str, Any]:
        begin = loop.time()
        if role == "server":
            await state["up"]
        else:
            config = DtlsConfig(cert, [("sha-256", cmd["peer_fp"])])
            await up(await connect_dtls(config, (cmd["remote"][0], cmd["remote"][1])))
        return {"ms": (loop.time() - begin) * 1000}

    async def bulk(cmd: dict[str, Any]) -> dict[str, Any]:
        mine = bulk_messages(cmd["seed_send"], cmd["total"])
        expected = bulk_messages(cmd["seed_recv"], cmd["total"])
        ch = await channel("bulk", cmd["create"])
        begin = loop.time()
        got = state["progress"] = {"count": 0, "bytes": 0, "mismatch": None, "at": None}
        received = hashlib.sha256()
        done = loop.create_future()

        def on_message(data: bytes | str) -> None:
            i = got["count"]
            if got["mismatch"] is None and (i >= len(expected) or data != expected[i]):
                got["mismatch"] = f"message {i}: {len(data)} bytes, unexpected content"
            received.update(len(data).to_bytes(4, "big") + bytes(data))  # type: ignore[arg-type]
            got["count"] = i + 1
            got["bytes"] += len(data)
            if got["bytes"] >= cmd["total"] and not done.done():
                got["at"] = loop.time() - begin
                done.set_result(None)

        reading = consume(ch, on_message)
        sent = hashlib.sha256()
        for message in mine:
            if ch.buffered_amount > 1024 * 1024:
                await ch.drain(256 * 1024)
            ch.send(message)
            sent.update(len(message).to_bytes(4, "big") + message)
        await ch.drain(0)
        await done
        reading.cancel()
        return {
            "sent_hash": sent.hexdigest(),
            "sent_count": len(mine),
            "recv_hash": received.hexdigest(),
            "recv_count": got["count"],
            "recv_bytes": got["bytes"],
            "mismatch": got["mismatch"],
            "recv_s": got["at"],
            "stats": stats(),
        }

    async def partial(cmd: dict[str, Any]) -> dict[str, Any]:
        count = cmd["count"]
        create = role == "client"
        lossy = await channel("lossy", create, ordered=False, max_retransmits=0)
        reliable = await channel("reliable", create)
        begin = loop.time()
        if create:
            for i in range(count):
                lossy.send(partial_message(b"lossy", i))
                reliable.send(partial_message(b"reliable", i))
            await reliable.drain(0)
            reply = await asyncio.wait_for(reliable.recv(), cmd["timeout"])  # the server is done
            assert reply == "done", reply
            return {"sent_s": loop.time() - begin, "stats": stats()}
        seen: list[int] = []
        corrupt = 0
        rel = {"received": 0, "in_order": True, "corrupt": 0}
        all_in = loop.create_future()

        def on_lossy(data: bytes | str) -> None:
            nonlocal corrupt
            index = check_partial(b"lossy", data)
            if index is None:
                corrupt += 1
            else:
                seen.append(index)

        def on_reliable(data: bytes | str) -> None:
            index = check_partial(b"reliable", data)
            if index is None:
                rel["corrupt"] += 1
            elif index != rel["received"]:
                rel["in_order"] = False
            rel["received"] += 1
            if rel["received"] == count and not all_in.done():
                all_in.set_result(None)

        readers = consume(lossy, on_lossy), consume(reliable, on_reliable)
        await all_in
        await asyncio.sleep(0.5)  # stragglers of the unordered channel
        reliable.send("done")
        for reader_task in readers:
            reader_task.cancel()
        out_of_order = sum(1 for a, b in itertools.pairwise(seen) if b < a)
        return {
            "lossy": {
                "received": len(set(seen)),
                "duplicates": len(seen) - len(set(seen)),
                "corrupt": corrupt,
                "out_of_order": out_of_order,
            },
            "reliable": rel,
            "stats": stats(),
        }

    def consume(ch: Channel, handle: Callable[[bytes | str], None]) -> asyncio.Task[None]:
        """A task passing every message to ``handle`` (``on_message`` would miss those queued
        before it is set: the first ones can arrive with the DATA_CHANNEL_OPEN)."""

        async def run() -> None:
            with contextlib.suppress(SctpTransportError):
                while True:
                    handle(await ch.recv())

        return asyncio.ensure_future(run())

    async def wait_closed(ch: Channel) -> None:
        while True:
            try:
                await ch.recv()
            except SctpTransportError:
                return

    async def close_channel(cmd: dict[str, Any]) -> dict[str, Any]:
        ch = await channel("closeme", cmd["create"])
        ch.send(f"hello from {role}")
        assert await ch.recv() == f"hello from {'server' if role == 'client' else 'client'}"
        await asyncio.sleep(0.2)  # the peer has our hello too
        begin = loop.time()
        if cmd["close"]:
            ch.close()
        await wait_closed(ch)
        return {"state": ch.ready_state.name, "ms": (loop.time() - begin) * 1000}

    async def shutdown(cmd: dict[str, Any]) -> dict[str, Any]:
        transport = sctp()
        begin = loop.time()
        if cmd["initiate"]:
            await transport.close(timeout=cmd["timeout"])
        else:
            stash.clear()
            with contextlib.suppress(SctpTransportError):
                while True:
                    await transport.accept_channel()  # raises once the association ended
            await transport.close(timeout=cmd["timeout"])
        dtls = transport.dtls
        return {
            "sctp_error": transport.error,
            "association": transport.association.state.name,
            "dtls_closed": dtls.closed,
            "dtls_error": str(dtls.error) if dtls.error else None,
            "ms": (loop.time() - begin) * 1000,
            "stats": stats(),
        }

    handlers = {
        "listen": listen,
        "connect": connect,
        "bulk": bulk,
        "partial": partial,
        "close_channel": close_channel,
        "shutdown": shutdown,
    }
    out({"fingerprint": cert.fingerprint()})
    while line := await reader.readline():
        cmd = json.loads(line)
        if cmd["op"] == "exit":
            break
        try:
            async with asyncio.timeout(cmd.get("timeout", 10)):
                out(await handlers[cmd["op"]](cmd))
        except Exception as exc:  # reported to the test, which fails with it
            where = {
                "progress": state.get("progress"),
                "stats": stats() if "sctp" in state else None,
            }
            out({"error": f"{type(exc).__name__}: {exc} {json.dumps(where)}"})


if __name__ == "__main__":
    import asyncio

    if sys.argv[1:2] != ["peer"] or len(sys.argv) != 3:
        sys.exit("usage: python -m tests.interop.test_sctp_netem peer server|client")
    asyncio.run(_peer_main(sys.argv[2]))
