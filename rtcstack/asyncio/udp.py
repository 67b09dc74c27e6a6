"""A UDP datagram transport that reads every datagram waiting, then says the batch is over.

asyncio's own datagram transport reads one datagram per wake-up of the event loop, so a burst
of N packets costs N ``select()`` calls and N rounds of "handle, then send what the protocol
answered".  :class:`BatchedDatagramTransport` drains the socket (up to ``MAX_BATCH``
datagrams) each time it is readable and then calls the protocol's ``batch_received()`` (when
it has one): a protocol like SCTP acknowledges once per burst instead of once per packet
(RFC 9260 §6.2 lets a receiver delay its SACK; it never sends more than one per packet).

It implements the part of :class:`asyncio.DatagramTransport` rtcstack's drivers use:
``sendto``, ``close``, ``abort``, ``is_closing``, ``get_extra_info`` (``socket``,
``sockname``, ``peername``).  Sends that would block are queued and flushed when the socket
is writable again.  Errors reach ``error_received`` (an ICMP "port unreachable" on a
connected socket surfaces as ``ConnectionRefusedError``, as with asyncio's transport).
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

from rtcstack.common.types import Address

__all__ = ["MAX_BATCH", "BatchedDatagramTransport", "create_batched_endpoint"]

MAX_BATCH = 256


class BatchedDatagramTransport(asyncio.DatagramTransport):
    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 protocol: asyncio.DatagramProtocol, connected: bool) -> None:
        super().__init__()
        self._loop = loop
        self._sock = sock
        self._protocol = protocol
        self._connected = connected
        self._closing = False
        self._backlog: deque[tuple[bytes, Any]] = deque()
        self._batch_end: Callable[[], None] | None = getattr(protocol, "batch_received", None)
        self._extra = {
            "socket": sock,
            "sockname": sock.getsockname(),
            "peername": sock.getpeername() if connected else None,
        }
        loop.add_reader(sock.fileno(), self._read_ready)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def is_closing(self) -> bool:
        return self._closing

    def _read_ready(self) -> None:
        sock, protocol = self._sock, self._protocol
        received = False
        for _ in range(MAX_BATCH):
            if self._closing:
                break
            try:
                data, addr = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                protocol.error_received(exc)
                break
            received = True
            protocol.datagram_received(data, addr)
        if received and self._batch_end is not None and not self._closing:
            self._batch_end()

    def sendto(self, data: Any, addr: Any = None) -> None:
        if self._closing:
            return
        if self._backlog:
            self._backlog.append((bytes(data), addr))
        elif not self._send_one(data, addr):
            self._backlog.append((bytes(data), addr))
            self._loop.add_writer(self._sock.fileno(), self._write_ready)

    def _send_one(self, data: Any, addr: Any) -> bool:
        """Send one datagram; False if the socket would block (an error counts as sent)."""
        try:
            if self._connected:
                self._sock.send(data)
            else:
                self._sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self._protocol.error_received(exc)
        return True

    def _write_ready(self) -> None:
        while self._backlog:
            data, addr = self._backlog[0]
            if not self._send_one(data, addr):
                return
            self._backlog.popleft()
        self._loop.remove_writer(self._sock.fileno())

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._sock.fileno())
        if self._backlog:
            self._loop.remove_writer(self._sock.fileno())
            self._backlog.clear()
        self._loop.call_soon(self._finish_close)

    def abort(self) -> None:
        self.close()

    def _finish_close(self) -> None:
        try:
            self._protocol.connection_lost(None)
        finally:
            self._sock.close()


async def create_batched_endpoint(
    protocol_factory: Callable[[], asyncio.DatagramProtocol], *,
    local_addr: Address | None = None, remote_addr: Address | None = None,
) -> tuple[BatchedDatagramTransport, asyncio.DatagramProtocol]:
    """Like ``loop.create_datagram_endpoint``, with a :class:`BatchedDatagramTransport`."""
    loop = asyncio.get_running_loop()
    host = (remote_addr or local_addr or ("0.0.0.0", 0))[0]
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    family = infos[0][0] if infos else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        if local_addr is not None:
            sock.bind(local_addr)
        if remote_addr is not None:
            resolved = await loop.getaddrinfo(remote_addr[0], remote_addr[1], family=family,
                                              type=socket.SOCK_DGRAM)
            sock.connect(resolved[0][4])
    except OSError:
        sock.close()
        raise
    protocol = protocol_factory()
    transport = BatchedDatagramTransport(loop, sock, protocol, remote_addr is not None)
    protocol.connection_made(transport)
    return transport, protocol
