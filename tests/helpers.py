"""Small helpers shared by the asyncio and interop tests."""

from __future__ import annotations

import asyncio
import os
import selectors
import socket
import ssl
import subprocess
import time
from collections.abc import Awaitable
from typing import Any

from rtcstack.common.types import Address
from rtcstack.stun import Message


def run(coro: Awaitable[Any], timeout: float = 10.0) -> Any:
    """Run ``coro`` on a fresh event loop, failing the test if it takes over ``timeout`` s."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def insecure_tls_client() -> ssl.SSLContext:
    """A TLS client context that accepts any certificate: for servers the tests started with
    a self-signed one (coturn, ``rtcstack demo --https``)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def has_loopback_2() -> bool:
    """Whether 127.0.0.2 can be bound (Linux's lo has all of 127/8; some systems do not)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.2", 0))
        except OSError:
            return False
    return True


class UdpPeer(asyncio.DatagramProtocol):
    """A bare UDP socket that queues what it receives."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait((data, (addr[0], addr[1])))

    @property
    def local(self) -> Address:
        if self.transport is None:
            raise RuntimeError("not connected")
        name = self.transport.get_extra_info("sockname")
        return name[0], name[1]

    def send(self, data: bytes, addr: Address) -> None:
        if self.transport is None:
            raise RuntimeError("not connected")
        self.transport.sendto(data, addr)

    async def ask(self, data: bytes, addr: Address) -> tuple[bytes, Address]:
        """Send ``data`` and return the next datagram received, raw, with its source."""
        self.send(data, addr)
        return await self.queue.get()

    async def recv(self) -> tuple[Message, Address]:
        data, addr = await self.queue.get()
        return Message.parse(data), addr


async def udp_peer(host: str = "127.0.0.1") -> UdpPeer:
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(UdpPeer, local_addr=(host, 0))
    return peer


def read_first_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The first line a started program prints (an event, not a sleep), read a byte at a time
    so the rest stays for ``communicate()``; AssertionError if it exits or is silent first."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    first = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while not first.endswith(b"\n"):
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                raise AssertionError("the server did not print its address in time")
            byte = os.read(fd, 1)
            if not byte:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise AssertionError(f"the server exited: {err}")
            first += byte
    return first.decode().strip()
