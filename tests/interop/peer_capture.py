"""A live capture of a call's UDP ports on ``lo`` with tshark, and tshark run over the file.

:class:`LoopbackCapture` starts ``tshark -i lo -f "udp port P or ..."`` (its own process, stopped
by its PID) before the traffic.  tshark prints "Capturing on" before the kernel filter is
attached, so :meth:`~LoopbackCapture.mark` sends a probe datagram between two sockets of the
capture's own (a port the filter also takes) until that datagram is in the file: the capture is
live.  Marking again after the traffic proves that everything sent before it was written.

:func:`tshark_fields` / :func:`tshark_pdml` read the file back with the options a test gives
(decode-as, heuristics, key log).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import pytest

__all__ = ["LoopbackCapture", "require_tshark", "tshark_fields", "tshark_pdml", "tshark_text"]


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
    ``workdir/name``; :meth:`start` with :meth:`mark`, then :meth:`stop` (by PID)."""

    def __init__(self, tshark: str, ports: Sequence[int], workdir: Path,
                 name: str = "call.pcapng") -> None:
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
                [self.tshark, "-q", "-i", "lo", "-f", capture_filter, "-w", str(self.pcap)],
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


def tshark_pdml(pcap: Path, options: Sequence[str], display_filter: str) -> ET.Element:
    """The PDML tree (``-T pdml``) of the frames matching ``display_filter``."""
    return ET.fromstring(tshark_text(pcap, options, "-Y", display_filter, "-T", "pdml"))
