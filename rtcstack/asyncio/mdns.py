"""An asyncio mDNS service for ICE: resolve remote ``.local`` candidates, publish our own.

It owns one UDP socket on port 5353 (``SO_REUSEADDR`` + ``SO_REUSEPORT``, so several processes
on one host can each run one; multicast is delivered to every one of them) that has joined the
group 224.0.0.251 (RFC 6762 §3) on the given interface addresses, and drives one sans-IO
:class:`~rtcstack.ice.mdns.MdnsResolver` and one :class:`~rtcstack.ice.mdns.MdnsResponder`::

    service = await MdnsService.open(interfaces=["192.168.1.20"])
    name = service.publish("192.168.1.20")              # "<uuid4>.local", answered from now on
    address = await service.resolve("f1b2...-....local", timeout=5.0)
    service.close()                                     # goodbyes for our names, socket closed

Every datagram is fed to both machines with ``loop.time()`` as ``now``; one ``loop.call_at``
timer is armed at the earlier of their ``poll_timeout()``.  The service sends only to the mDNS
group, or (a unicast answer) to the source of the query being answered: any other destination
is refused and traced.

Unicast datagrams to port 5353 reach only one of the processes sharing the port (Linux balances
``SO_REUSEPORT`` sockets), so the resolver never sets the QU bit; multicast reaches all.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Sequence
from typing import Any

from rtcstack.asyncio.timer import DeadlineTimer
from rtcstack.common.errors import InvalidStateError, RtcstackError
from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.common.types import Address
from rtcstack.ice.mdns import (
    MDNS_IPV4_GROUP,
    MDNS_PORT,
    MdnsResolver,
    MdnsResponder,
    Resolved,
    ResolveFailed,
    name_key,
    random_mdns_name,
)

__all__ = ["MdnsResolveError", "MdnsService", "open_mdns_socket"]


class MdnsResolveError(RtcstackError, TimeoutError):
    """No mDNS answer for the name before the timeout (or the service was closed)."""


def open_mdns_socket(
    interfaces: Sequence[str] = (), *, port: int = MDNS_PORT, group: str = MDNS_IPV4_GROUP[0]
) -> socket.socket:
    """A non-blocking IPv4 UDP socket bound to ``0.0.0.0:port`` that has joined ``group`` on
    each of ``interfaces`` (local IPv4 addresses; none: the kernel's default interface).

    Multicast loop is on (other processes on this host, and our own resolver, see what we
    send); the multicast TTL and unicast TTL are 255 (RFC 6762 §11: "All Multicast DNS responses
    (including responses sent via unicast) SHOULD be sent with IP TTL set to 255").  Outgoing
    multicast leaves through the first interface.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("0.0.0.0", port))
        group_packed = socket.inet_aton(group)
        for iface in interfaces or ("0.0.0.0",):
            mreq = struct.pack("4s4s", group_packed, socket.inet_aton(iface))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        if interfaces:
            sock.setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interfaces[0])
            )
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.service: MdnsService | None = None  # set right after the endpoint is made

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.service is not None:
            self.service._on_datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        if self.service is not None:
            self.service._trace("mdns.service.socket_error", error=str(exc))


class MdnsService:
    """One mDNS socket driving one resolver and one responder (see the module docstring).

    Build it with :meth:`open` (which creates the socket, or takes one made elsewhere, e.g.
    inside a network namespace).
    """

    def __init__(
        self,
        transport: asyncio.DatagramTransport,
        *,
        interfaces: Sequence[str] = (),
        resolver: MdnsResolver,
        responder: MdnsResponder,
        random_bytes: RandomBytes = default_random_bytes,
        trace: Trace = NULL_TRACE,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport = transport
        self._interfaces = tuple(interfaces)
        self.resolver = resolver
        self.responder = responder
        self._random_bytes = random_bytes
        self._trace = trace
        self._waiters: dict[str, list[asyncio.Future[str]]] = {}
        self._timer = DeadlineTimer(self._loop, self._on_timer)
        self._closed = False

    @classmethod
    async def open(
        cls,
        interfaces: Sequence[str] = (),
        *,
        sock: socket.socket | None = None,
        port: int = MDNS_PORT,
        announce: bool = True,
        query_timeout: float = 5.0,
        random_bytes: RandomBytes = default_random_bytes,
        trace: Trace = NULL_TRACE,
    ) -> MdnsService:
        """Open the socket (:func:`open_mdns_socket`) unless ``sock`` is given, and start."""
        loop = asyncio.get_running_loop()
        if sock is None:
            sock = open_mdns_socket(interfaces, port=port)
        transport, protocol = await loop.create_datagram_endpoint(_Protocol, sock=sock)
        service = cls(
            transport,
            interfaces=interfaces,
            resolver=MdnsResolver(timeout=query_timeout, trace=trace),
            responder=MdnsResponder(announce=announce, trace=trace),
            random_bytes=random_bytes,
            trace=trace,
        )
        protocol.service = service
        return service

    @property
    def local_address(self) -> Address:
        name = self._transport.get_extra_info("sockname")
        return str(name[0]), int(name[1])

    # -- API

    async def resolve(self, name: str, timeout: float = 5.0) -> str:
        """The address ``name`` (``<label>.local``) resolves to; :class:`MdnsResolveError` when
        nothing answers within ``timeout`` seconds."""
        if self._closed:
            raise InvalidStateError("the mDNS service is closed")
        cached = self.resolver.lookup(name, self._loop.time())
        if cached is not None:
            return cached
        future: asyncio.Future[str] = self._loop.create_future()
        key = name_key(name)
        self._waiters.setdefault(key, []).append(future)
        self.resolver.resolve(name, self._loop.time(), timeout=timeout)
        self._service((MDNS_IPV4_GROUP,))
        try:
            return await future
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None and future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._waiters[key]

    def publish(self, address: str) -> str:
        """Publish ``address`` under a fresh ``<uuid4>.local`` name and return the name."""
        if self._closed:
            raise InvalidStateError("the mDNS service is closed")
        name = random_mdns_name(self._random_bytes)
        self.responder.publish(name, address, now=self._loop.time())
        self._service((MDNS_IPV4_GROUP,))
        return name

    def unpublish(self, name: str) -> None:
        """Stop answering for ``name`` (and multicast a goodbye)."""
        self.responder.unpublish(name, now=self._loop.time())
        self._service((MDNS_IPV4_GROUP,))

    def close(self) -> None:
        """Say goodbye for every published name, fail pending resolutions, close the socket."""
        if self._closed:
            return
        now = self._loop.time()
        for name in list(self.responder.names):
            self.responder.unpublish(name, now=now)
        self._service((MDNS_IPV4_GROUP,))
        self._closed = True
        self._timer.cancel()
        for waiters in self._waiters.values():
            for future in waiters:
                if not future.done():
                    future.set_exception(MdnsResolveError("the mDNS service was closed"))
        self._transport.close()

    # -- driver

    def _on_datagram(self, data: bytes, addr: Address) -> None:
        if self._closed:
            return
        now = self._loop.time()
        self.resolver.handle_datagram(data, addr, now=now)
        self.responder.handle_datagram(data, addr, now=now)
        self._service((MDNS_IPV4_GROUP, addr))

    def _on_timer(self, now: float) -> None:
        self.resolver.handle_timeout(now)
        self.responder.handle_timeout(now)
        self._service((MDNS_IPV4_GROUP,))

    def _service(self, allowed: tuple[Address, ...]) -> None:
        for machine in (self.resolver, self.responder):
            while (tx := machine.poll_transmit()) is not None:
                if tx.addr not in allowed:
                    self._trace("mdns.service.refused", to=tx.addr)
                    continue
                self._send(tx.data, tx.addr)
        while (event := self.resolver.poll_event()) is not None:
            key = name_key(event.name)
            for future in self._waiters.pop(key, []):
                if future.done():
                    continue
                if isinstance(event, Resolved):
                    future.set_result(event.address)
                elif isinstance(event, ResolveFailed):
                    future.set_exception(
                        MdnsResolveError(f"no mDNS answer for {event.name} ({event.reason})")
                    )
        self._arm()

    def _send(self, data: bytes, addr: Address) -> None:
        if self._closed:
            return
        if addr == MDNS_IPV4_GROUP and len(self._interfaces) > 1:
            # One copy per interface; sendto() sends at once unless the socket is congested
            # (then a copy may leave through the interface set last).
            sock = self._transport.get_extra_info("socket")
            for iface in self._interfaces:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface))
                self._transport.sendto(data, addr)
            return
        self._transport.sendto(data, addr)

    def _arm(self) -> None:
        deadlines = [
            t
            for t in (self.resolver.poll_timeout(), self.responder.poll_timeout())
            if t is not None
        ]
        self._timer.arm(None if self._closed or not deadlines else min(deadlines))
