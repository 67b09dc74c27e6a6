"""An asyncio driver for :class:`rtcstack.stun.server.StunServer`: UDP and TCP sockets.

RFC 8489 §12: a basic server "MUST support UDP and TCP".  RFC 5780 §6: with an alternate
address the server listens on the four combinations A1:P1, A1:P2, A2:P1, A2:P2 ("such that it can
send and receive datagrams using the same ports on each IP address").  The sans-IO server picks
the source of each answer (``Transmit.source``); this driver owns one UDP socket per local address
and sends from the right one.  Over TCP, STUN messages are framed by their own header (RFC 8489
§6.2.2): the 20-byte header, then ``length`` bytes (:class:`rtcstack.stun.framing.StreamDecoder`).

Embedding::

    server = await serve_stun(("127.0.0.1", 0), software="my app")
    print(server.addresses)          # [("udp", ("127.0.0.1", 40123)), ("tcp", ...)]
    ...
    server.close()
    await server.wait_closed()
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any, cast

from rtcstack.common.errors import ParseError
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.common.types import Address, Transmit
from rtcstack.stun.framing import StreamDecoder
from rtcstack.stun.server import LongTermAuth, ServerStats, ShortTermAuth, StunServer

__all__ = ["AsyncStunServer", "serve_stun"]

logger = logging.getLogger("rtcstack.stun.server")

_MAX_TCP_BUFFER = 70_000  # one STUN message is at most 20 + 65535 bytes
_BIND_ATTEMPTS = 32


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: AsyncStunServer) -> None:
        self.owner = owner
        self.local: Address = ("", 0)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (CPython's selector datagram transport does not subclass DatagramTransport.)
        self.transport = cast(asyncio.DatagramTransport, transport)
        sockname = transport.get_extra_info("sockname")
        self.local = (str(sockname[0]), int(sockname[1]))

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner._received(data, (str(addr[0]), int(addr[1])), self.local, "udp")

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable after answering a vanished client): not our problem.
        logger.debug("UDP error on %s: %s", self.local, exc)


class _TcpProtocol(asyncio.Protocol):
    """One accepted TCP connection: RFC 8489 §6.2.2 framing, an idle timeout."""

    def __init__(self, owner: AsyncStunServer) -> None:
        self.owner = owner
        self.decoder = StreamDecoder(max_buffer=_MAX_TCP_BUFFER)
        self.transport: asyncio.Transport | None = None
        self.local: Address = ("", 0)
        self.peer: Address = ("", 0)
        self.idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sockname = transport.get_extra_info("sockname")
        peername = transport.get_extra_info("peername")
        self.local = (str(sockname[0]), int(sockname[1]))
        self.peer = (str(peername[0]), int(peername[1]))
        self.owner._connections[(self.local, self.peer)] = self
        self._arm()

    def _arm(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        transport = self.transport
        if transport is not None:
            loop = asyncio.get_running_loop()
            self.idle = loop.call_later(self.owner.tcp_idle_timeout, transport.close)

    def data_received(self, data: bytes) -> None:
        self._arm()
        try:
            frames = self.decoder.feed_raw(data)
        except ParseError:
            # RFC 8489 §6.2.2 framing lost (not STUN at a frame boundary): nothing can
            # resynchronise the stream.  Let the sans-IO server count the bytes, then hang up.
            self.owner._received(data, self.peer, self.local, "tcp")
            if self.transport is not None:
                self.transport.close()
            return
        for frame in frames:
            self.owner._received(frame, self.peer, self.local, "tcp")

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self.owner._connections.pop((self.local, self.peer), None)


class AsyncStunServer:
    """Sockets around a sans-IO :class:`StunServer`; build it with :func:`serve_stun`.

    ``addresses`` lists ``(transport, (host, port))`` for every listening socket.
    ``internal_errors`` counts exceptions the sans-IO server raised (a bug, logged, never fatal).
    """

    def __init__(self, server: StunServer, *, tcp_idle_timeout: float = 60.0) -> None:
        self.server = server
        self.tcp_idle_timeout = tcp_idle_timeout
        self.internal_errors = 0
        self.addresses: list[tuple[str, Address]] = []
        self._udp: dict[Address, asyncio.DatagramTransport] = {}
        self._tcp_servers: list[asyncio.Server] = []
        self._connections: dict[tuple[Address, Address], _TcpProtocol] = {}
        self._closed = False
        self._ready = False

    @property
    def stats(self) -> ServerStats:
        return self.server.stats

    @property
    def udp_addresses(self) -> list[Address]:
        return [a for t, a in self.addresses if t == "udp"]

    @property
    def tcp_addresses(self) -> list[Address]:
        return [a for t, a in self.addresses if t == "tcp"]

    # --- data path --------------------------------------------------------------------------

    def _received(self, data: bytes, addr: Address, local: Address, transport: str) -> None:
        if not self._ready:
            return
        now = asyncio.get_running_loop().time()
        try:
            self.server.handle_datagram(data, addr, now=now, local=local, transport=transport)
        except Exception:  # the server must survive anything; this would be a bug
            self.internal_errors += 1
            logger.exception("STUN server failed on a datagram from %s", addr)
        self._flush(local)

    def _flush(self, local: Address) -> None:
        while (transmit := self.server.poll_transmit()) is not None:
            try:
                self._send(transmit, local)
            except OSError as exc:
                logger.debug("cannot send to %s: %s", transmit.addr, exc)

    def _send(self, transmit: Transmit, local: Address) -> None:
        source = transmit.source if transmit.source is not None else local
        if transmit.transport == "udp":
            udp = self._udp.get(source)
            if udp is None:
                logger.warning("no UDP socket on %s; answer to %s dropped", source, transmit.addr)
                return
            udp.sendto(transmit.data, transmit.addr)
        else:
            conn = self._connections.get((source, transmit.addr))
            if conn is not None:
                conn.write(transmit.data)

    # --- lifecycle --------------------------------------------------------------------------

    async def _bind_group(self, hosts: list[str], port: int, tcp: bool) -> int:
        """Bind UDP (and TCP) on every host at the same port; with ``port`` 0, the first bind
        picks it and a clash on another host retries with a new one.  Returns the port."""
        loop = asyncio.get_running_loop()
        last: OSError | None = None
        for _ in range(_BIND_ATTEMPTS if port == 0 else 1):
            udp: list[tuple[Address, asyncio.DatagramTransport]] = []
            servers: list[asyncio.Server] = []
            chosen = port
            try:
                for host in hosts:
                    transport, protocol = await loop.create_datagram_endpoint(
                        lambda: _UdpProtocol(self), local_addr=(host, chosen)
                    )
                    udp.append((protocol.local, transport))
                    chosen = protocol.local[1]
                if tcp:
                    for host in hosts:
                        server = await loop.create_server(
                            lambda: _TcpProtocol(self), host, chosen, reuse_address=True
                        )
                        servers.append(server)
            except OSError as exc:
                last = exc
                for _, transport in udp:
                    transport.close()
                for server in servers:
                    server.close()
                continue
            for local, transport in udp:
                self._udp[local] = transport
                self.addresses.append(("udp", local))
            for server in servers:
                for sock in server.sockets:
                    name = sock.getsockname()
                    self.addresses.append(("tcp", (str(name[0]), int(name[1]))))
            self._tcp_servers.extend(servers)
            return chosen
        if last is None:  # pragma: no cover - the loop always runs at least once
            raise OSError("cannot bind")
        raise last

    def close(self) -> None:
        """Stop listening and drop every TCP connection."""
        if self._closed:
            return
        self._closed = True
        for transport in self._udp.values():
            transport.close()
        for server in self._tcp_servers:
            server.close()
        for conn in list(self._connections.values()):
            if conn.transport is not None:
                conn.transport.close()

    async def wait_closed(self) -> None:
        for server in self._tcp_servers:
            await server.wait_closed()

    async def __aenter__(self) -> AsyncStunServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


def _check_alternate(listen: Address, alternate: Address) -> None:
    """RFC 5780 §6: two different specific IPs of one family and, if given, different ports."""
    try:
        a1, a2 = ipaddress.ip_address(listen[0]), ipaddress.ip_address(alternate[0])
    except ValueError as exc:
        raise ValueError(f"RFC 5780 needs IP addresses: {exc}") from None
    if a1.is_unspecified or a2.is_unspecified:
        raise ValueError("RFC 5780 needs specific IP addresses, not a wildcard")
    if a1 == a2 or a1.version != a2.version:
        raise ValueError("the alternate IP must differ from the primary IP, in the same family")
    if listen[1] and listen[1] == alternate[1]:
        raise ValueError("the alternate port must differ from the primary port")


async def serve_stun(
    listen: Address = ("0.0.0.0", 3478),
    alternate: Address | None = None,
    *,
    tcp: bool = True,
    software: str | None = None,
    mapped_address: bool = False,
    short_term: ShortTermAuth | None = None,
    long_term: LongTermAuth | None = None,
    tcp_idle_timeout: float = 60.0,
    trace: Trace = NULL_TRACE,
) -> AsyncStunServer:
    """Start a STUN server on ``listen`` (port 0: any free port) and, for RFC 5780, on the
    alternate IP and port as well (four UDP sockets, and four TCP listeners unless ``tcp`` is
    false).  The alternate address needs a specific IP different from the primary's."""
    if alternate is not None:
        _check_alternate(listen, alternate)
    # Sockets come first (port 0 is resolved by binding); the sans-IO server, which needs the
    # real ports, is built once they are all bound.  Until then datagrams are ignored.
    holder = AsyncStunServer(StunServer(None), tcp_idle_timeout=tcp_idle_timeout)
    try:
        if alternate is None:
            port = await holder._bind_group([listen[0]], listen[1], tcp)
            primary: Address = (holder.udp_addresses[0][0], port)
            real_alternate: Address | None = None
        else:
            p1 = await holder._bind_group([listen[0], alternate[0]], listen[1], tcp)
            p2 = await holder._bind_group([listen[0], alternate[0]], alternate[1], tcp)
            # The first group bound A1:P1 then A2:P1.
            primary = (holder.udp_addresses[0][0], p1)
            real_alternate = (holder.udp_addresses[1][0], p2)
        holder.server = StunServer(
            primary,
            real_alternate,
            software=software,
            mapped_address=mapped_address,
            short_term=short_term,
            long_term=long_term,
            trace=trace,
        )
        holder._ready = True
    except BaseException:
        holder.close()
        raise
    return holder
