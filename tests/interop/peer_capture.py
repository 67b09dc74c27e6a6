"""A live capture of a call's UDP ports on ``lo`` with tshark, and tshark run over the file.

:class:`LoopbackCapture` starts ``tshark -i lo -f "udp port P or ..."`` (its own process, stopped
by its PID) before the traffic.  tshark prints "Capturing on" before the kernel filter is
attached, so :meth:`~LoopbackCapture.mark` sends a probe datagram between two sockets of the
capture's own (a port the filter also takes) until that datagram is in the file: the capture is
live.  Marking again after the traffic proves that everything sent before it was written.

:func:`merge_endpoints` renames the peer's other endpoints to one (see there);
:func:`tshark_fields` / :func:`tshark_text` read the file back with the options a test gives
(decode-as, heuristics, key log).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import struct
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

__all__ = [
    "LoopbackCapture",
    "merge_endpoints",
    "require_tshark",
    "tshark_fields",
    "tshark_text",
]

Endpoint = tuple[str, int]


def require_tshark() -> str:
    """tshark's path, or skip (the Debian package, and root or the wireshark group to capture)."""
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed: apt-get install tshark")
    if os.geteuid() != 0:
        pytest.skip("capturing on lo needs root or the wireshark group")
    return tshark


class LoopbackCapture:
    """tshark writing ``udp port P`` for each of ``ports`` (and the probe's port) on ``lo`` to
    ``workdir/name`` as a classic pcap file (link type Ethernet, what ``lo`` gives);
    :meth:`start` with :meth:`mark`, then :meth:`stop` (by PID)."""

    def __init__(self, tshark: str, ports: Sequence[int], workdir: Path,
                 name: str = "call.pcap") -> None:
        self.tshark = tshark
        self.ports = list(ports)
        self.pcap = workdir / name
        self.log = workdir / (name + ".log")
        self.probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.probe.bind(("127.0.0.1", 0))
        self.probe.setblocking(False)
        self.probe_port: int = self.probe.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        capture_filter = " or ".join(f"udp port {p}" for p in [*self.ports, self.probe_port])
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [self.tshark, "-q", "-i", "lo", "-f", capture_filter, "-F", "pcap",
                 "-w", str(self.pcap)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out)

    async def mark(self, marker: bytes, timeout: float = 10.0) -> None:
        """Send ``marker`` to the probe port until it is in the file."""
        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + timeout
        while not (self.pcap.exists() and marker in self.pcap.read_bytes()):
            assert self.proc.poll() is None, self.log.read_text("utf-8", "replace")
            assert time.monotonic() < deadline, (
                f"{marker!r} never reached the capture: {self.log.read_text('utf-8', 'replace')}")
            if b"Capturing on" in self.log.read_bytes():
                self.probe.sendto(marker, ("127.0.0.1", self.probe_port))
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM to tshark's PID (it closes the file), then wait; SIGKILL if it hangs."""
        self.probe.close()
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def merge_endpoints(source: Path, target: Path, local: Endpoint, remote: Endpoint
                    ) -> Counter[Endpoint]:
    """Copy the classic pcap ``source`` to ``target`` with every other UDP endpoint that talks
    to ``local`` renamed ``remote`` (IPv4 header checksum recomputed, UDP checksum zeroed, RFC
    768 "no checksum"); returns how many datagrams each renamed endpoint had.

    A browser checks and sends from each of its host candidates (here 127.0.0.1 and the
    machine's other address) until the nomination reaches it, so one DTLS handshake can span
    two UDP conversations; tshark keeps a DTLS session per conversation and then decrypts
    neither.  Merging the peer's endpoints makes the call one conversation again."""
    data = bytearray(source.read_bytes())
    magic, _major, _minor, _zone, _sigfigs, _snaplen, linktype = struct.unpack_from(
        "<IHHiIII", data, 0)
    if magic != 0xA1B2C3D4 or linktype != 1:
        raise ValueError(f"{source}: expected a little-endian Ethernet pcap, got "
                         f"{magic:#x} / link type {linktype}")
    renamed: Counter[Endpoint] = Counter()
    offset = 24
    while offset + 16 <= len(data):
        captured = struct.unpack_from("<I", data, offset + 8)[0]
        frame = offset + 16
        offset = frame + captured
        if captured < 14 + 20 + 8 or data[frame + 12:frame + 14] != b"\x08\x00":
            continue
        ip = frame + 14
        ihl = (data[ip] & 0x0F) * 4
        if data[ip + 9] != 17:  # UDP
            continue
        udp = ip + ihl
        src = (socket.inet_ntoa(bytes(data[ip + 12:ip + 16])),
               struct.unpack_from("!H", data, udp)[0])
        dst = (socket.inet_ntoa(bytes(data[ip + 16:ip + 20])),
               struct.unpack_from("!H", data, udp + 2)[0])
        if src == local and dst != remote:
            renamed[dst] += 1
            data[ip + 16:ip + 20] = socket.inet_aton(remote[0])
            struct.pack_into("!H", data, udp + 2, remote[1])
        elif dst == local and src != remote:
            renamed[src] += 1
            data[ip + 12:ip + 16] = socket.inet_aton(remote[0])
            struct.pack_into("!H", data, udp, remote[1])
        else:
            continue
        struct.pack_into("!H", data, udp + 6, 0)
        struct.pack_into("!H", data, ip + 10, 0)
        struct.pack_into("!H", data, ip + 10, _ip_checksum(bytes(data[ip:ip + ihl])))
    target.write_bytes(bytes(data))
    return renamed


def _ip_checksum(header: bytes) -> int:
    """RFC 791 header checksum (RFC 1071's one's complement sum)."""
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def tshark_text(pcap: Path, options: Sequence[str], *args: str) -> str:
    """``tshark -n -r pcap <options> <args>``; its standard output (failing on an error)."""
    result = subprocess.run(["tshark", "-n", "-r", str(pcap), *options, *args],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def tshark_fields(pcap: Path, options: Sequence[str], display_filter: str,
                  *fields: str) -> list[list[str]]:
    """One row per frame matching ``display_filter``: each field's values joined by ``|``."""
    args = ["-Y", display_filter, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
    for name in fields:
        args += ["-e", name]
    out = tshark_text(pcap, options, *args)
    return [line.split("\t") for line in out.splitlines()]

