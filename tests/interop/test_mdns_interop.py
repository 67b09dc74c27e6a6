"""mDNS over real multicast sockets, always inside a network namespace the test creates.

Multicast must never leave the test: every socket here is created inside a namespace from
:func:`tests.interop.netns.network_namespace` (``inner_link=True``: its own ``lo`` and a veth pair
with both ends inside, 198.18.0.1 on ``test0``), which has no link to anything else.

- two :class:`~rtcstack.asyncio.mdns.MdnsService` on port 5353 in one namespace (SO_REUSEPORT,
  as two processes on one host would be): one publishes, the other resolves;
- tshark, capturing inside the namespace, dissects our queries and responses as valid mDNS with
  the fields we meant;
- our service resolves a ``.local`` host candidate that Chromium publishes in its namespace.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rtcstack.asyncio.mdns import MdnsResolveError, MdnsService, open_mdns_socket
from rtcstack.ice.mdns import build_query, build_response
from tests.helpers import run

from .netns import Netns, network_namespace, require_netns

pytestmark = pytest.mark.interop


async def _publish_and_resolve(ns: Netns) -> tuple[str, str, str, str]:
    """Service A publishes two addresses; service B resolves both and a missing name."""
    socks = [ns.call(lambda: open_mdns_socket([ns.address])) for _ in range(2)]
    a = await MdnsService.open([ns.address], sock=socks[0])
    b = await MdnsService.open([ns.address], sock=socks[1])
    try:
        assert a.local_address == b.local_address == ("0.0.0.0", 5353)
        name = a.publish(ns.address)
        first = await b.resolve(name, timeout=3.0)
        # resolve() queries at once, before B's loop reads the announcement from its socket.
        other = a.publish("198.18.0.77")
        second = await b.resolve(other, timeout=3.0)
        with pytest.raises(MdnsResolveError):
            await b.resolve("00000000-0000-4000-8000-000000000000.local", timeout=1.2)
        assert b.resolver.stats.parse_errors == a.responder.stats.parse_errors == 0
        return name, first, other, second
    finally:
        a.close()
        b.close()


def test_service_resolves_a_name_another_service_publishes() -> None:
    require_netns()
    with network_namespace("rtcstack-mdns", inner_link=True) as ns:
        name, first, other, second = run(_publish_and_resolve(ns), timeout=20)
    assert name.endswith(".local") and first == ns.address
    assert other != name and second == "198.18.0.77"


class Sniffer:
    """tshark capturing UDP 5353 on every interface of a namespace; stopped by PID."""

    def __init__(self, ns: Netns, workdir: Path) -> None:
        self.pcap, self.log = workdir / "mdns.pcapng", workdir / "tshark.log"
        command = [*ns.exec_prefix, "tshark", "-q", "-i", "any", "-f", "udp port 5353"]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*command, "-w", str(self.pcap)], stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )

    def wait_capturing(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while b"Capturing on" not in self.log.read_bytes():
            assert self.proc.poll() is None, self.log.read_text("utf-8", "replace")
            assert time.monotonic() < deadline, "tshark did not start capturing"
            time.sleep(0.02)

    def seen(self, marker: bytes) -> bool:
        return self.pcap.exists() and marker in self.pcap.read_bytes()

    def wait_for(self, marker: bytes, poke: Callable[[], object] | None = None,
                 timeout: float = 10) -> None:
        """Poll (calling ``poke`` each round) until ``marker`` is in the capture file."""
        deadline = time.monotonic() + timeout
        while not self.seen(marker):
            assert time.monotonic() < deadline, f"{marker!r} never reached the capture"
            if poke is not None:
                poke()
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def _fields(pcap: Path, display_filter: str, *fields: str) -> list[list[str]]:
    command = ["tshark", "-r", str(pcap), "-Y", display_filter, "-T", "fields"]
    command += ["-E", "occurrence=a"]
    for f in fields:
        command += ["-e", f]
    out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_tshark_dissects_our_queries_and_responses(tmp_path: Path) -> None:
    require_netns()
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed: install the Debian package tshark")
    with network_namespace("rtcstack-mdns", inner_link=True) as ns:
        sniffer = Sniffer(ns, tmp_path)
        probe = ns.call(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        try:
            sniffer.wait_capturing()
            # "Capturing on" comes before the capture is live: multicast a marker query until
            # it shows up in the file.
            marker = build_query("rtcstack-capture-marker.local")
            sniffer.wait_for(b"rtcstack-capture-marker",
                             lambda: probe.sendto(marker, ("224.0.0.251", 5353)))
            name, _, other, _ = run(_publish_and_resolve(ns), timeout=20)
            goodbye = build_response(name, ns.address, ttl=0)
            sniffer.wait_for(goodbye[12:])  # the last packet we sent: its record
        finally:
            probe.close()
            sniffer.stop()
    pcap = sniffer.pcap
    assert _fields(pcap, "_ws.malformed || _ws.expert.severity >= error", "frame.number") == []
    queries = _fields(
        pcap,
        f'mdns && dns.flags.response == 0 && dns.qry.name == "{other}"',
        "dns.id", "dns.count.queries", "dns.qry.type", "dns.qry.qu", "udp.dstport", "ip.dst",
    )
    assert queries, "our query was captured"
    assert queries[0] == ["0x0000", "2", "1,28", "0,0", "5353", "224.0.0.251"]
    responses = _fields(
        pcap,
        f'mdns && dns.flags.response == 1 && dns.count.answers == 1 && dns.resp.name == "{name}"',
        "dns.id", "dns.flags.authoritative", "dns.count.queries", "dns.resp.type",
        "dns.resp.cache_flush", "dns.resp.ttl", "dns.a", "udp.srcport", "ip.dst", "ip.ttl",
    )
    assert responses, "our response was captured"
    ttls = {r[5] for r in responses}
    assert ttls == {"120", "0"}, "answers and announcements carry 120 s, the goodbye 0"
    answer = next(r for r in responses if r[5] == "120")
    assert answer == ["0x0000", "1", "0", "1", "1", "120", ns.address, "5353", "224.0.0.251",
                      "255"]


def test_resolves_a_chromium_host_candidate() -> None:
    """Chromium 156 hides its host candidates behind ``<uuid4>.local`` and answers mDNS queries
    for them; our service resolves them inside the browser's namespace."""
    from .browser import open_session, require_browser

    require_browser("chromium")
    require_netns()
    with open_session("chromium", mdns=True) as session:
        ns = session.browser.netns
        assert ns is not None
        capture = session.capture("data-only-mdns")
        hosts = sorted(
            {
                line.split()[4]
                for line in (capture.offer + capture.answer).splitlines()
                if line.startswith("a=candidate:") and " typ host" in line
            }
        )
        assert hosts and all(h.endswith(".local") for h in hosts), hosts
        sock = ns.call(lambda: open_mdns_socket([ns.address]))

        async def resolve_all() -> dict[str, str]:
            service = await MdnsService.open([ns.address], sock=sock)
            try:
                return {h: await service.resolve(h, timeout=5.0) for h in hosts}
            finally:
                service.close()

        resolved = run(resolve_all(), timeout=30)
    for address in resolved.values():
        ip = ipaddress.ip_address(address)
        assert ip.version == 6 or address == ns.address, resolved
