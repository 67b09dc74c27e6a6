"""An asyncio driver for one sans-IO :class:`~rtcstack.ice.IceAgent`: sockets, gathering, mDNS.

::

    ice = IceTransport(controlling=True, stun_servers=[("198.51.100.1", 3478)])
    ice.on_candidate = lambda c: signal(c.to_ice_string() if c else None)   # trickle
    await ice.gather()                       # host sockets open; more candidates trickle out
    ice.set_remote_credentials(ufrag, pwd)   # from the peer's description
    await ice.add_remote_candidate("candidate:1 1 udp 2130706431 192.0.2.7 40000 typ host")
    pair = await ice.connect(timeout=30)     # a nominated pair (or IceConnectionError)
    ice.send(b"...")                         # over the selected pair (through TURN if relayed)
    data = await ice.recv()                  # whatever is not STUN: DTLS, SRTP, ...
    await ice.close()

What the driver owns and the agent does not: one UDP socket per local address (every usable
interface address by default -- IPv4 and IPv6, loopback only with ``loopback=True`` or when
named in ``addresses``), TCP or TLS connections to TURN servers that ask for them (frames split
with :class:`rtcstack.stun.framing.StreamDecoder`), the clock (``loop.time()``), one
``loop.call_at`` timer re-armed from ``poll_timeout()`` after every input, and mDNS: remote
``<uuid>.local`` candidates are resolved with :class:`rtcstack.asyncio.mdns.MdnsService` before
the agent sees them, and with ``mdns=True`` our host candidates are published under random names
as browsers do (RFC 8828 mode 2; draft-ietf-mmusic-mdns-ice-candidates §3.1.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from rtcstack.asyncio.nat import route_source
from rtcstack.asyncio.timer import DeadlineTimer
from rtcstack.common.errors import RtcstackError
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.common.types import Address, Transmit
from rtcstack.ice.agent import (
    CandidateGathered,
    CandidatePair,
    GatheringComplete,
    IceAgent,
    IceEvent,
    IceState,
    SelectedPairChanged,
    StateChanged,
)
from rtcstack.ice.candidate import Candidate, CandidateType
from rtcstack.ice.turn import TurnServer
from rtcstack.stun.framing import StreamDecoder

__all__ = ["IceConnectionError", "IceTransport", "local_addresses"]


class IceConnectionError(RtcstackError, ConnectionError):
    """ICE failed, timed out, or the transport was closed."""


def _short(addr: Any) -> Address:
    return (str(addr[0]), int(addr[1]))


def local_addresses(*, ipv6: bool = True, loopback: bool = False,
                    link_local: bool = False) -> list[str]:
    """The host's unicast interface addresses (Linux: ``/proc/net/if_inet6`` and the IPv4
    ``SIOCGIFADDR`` ioctl per interface), best first: the default-route addresses, then the
    rest.  Link-local IPv6 and loopback are left out unless asked for (RFC 8445 §5.1.1.1:
    "addresses from a loopback interface ... MUST NOT be included" unless both agents are on
    the same host)."""
    found: list[str] = []
    for _, name in socket.if_nameindex():
        with contextlib.suppress(OSError):
            found.append(_ipv4_of(name))
    if ipv6:
        with contextlib.suppress(OSError), open("/proc/net/if_inet6") as table:
            for line in table:
                hexaddr = line.split()[0]
                found.append(str(ipaddress.IPv6Address(bytes.fromhex(hexaddr))))
    out: list[str] = []
    for text in found:
        ip = ipaddress.ip_address(text)
        if ip.is_loopback and not loopback:
            continue
        if ip.version == 6 and ip.is_link_local and not link_local:
            continue
        if ip.is_multicast or ip.is_unspecified or text in out:
            continue
        out.append(text)
    preferred = [route_source(("192.0.2.1", 9)), route_source(("2001:db8::1", 9))]
    return sorted(out, key=lambda a: 0 if a in preferred else 1)


def _ipv4_of(interface: str) -> str:
    import fcntl
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("256s", interface.encode()[:15])
        answer = fcntl.ioctl(probe.fileno(), 0x8915, request)  # SIOCGIFADDR
        return socket.inet_ntoa(answer[20:24])


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: IceTransport, local: Address) -> None:
        self.owner = owner
        self.local = local
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner._input(data, _short(addr), self.local)

    def error_received(self, exc: Exception) -> None:
        self.owner._trace("ice.socket-error", local=self.local, error=str(exc))


class _Stream(asyncio.Protocol):
    """A TCP or TLS connection to a TURN server (RFC 8656 §3.1); frames go to the agent."""

    def __init__(self, owner: IceTransport, server: Address) -> None:
        self.owner = owner
        self.server = server
        self.decoder = StreamDecoder()
        self.transport: asyncio.Transport | None = None
        self.backlog: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport = stream
        for data in self.backlog:
            stream.write(data)
        self.backlog.clear()

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.decoder.feed_raw(data)
        except ValueError as exc:
            self.owner._trace("ice.turn-stream-broken", server=self.server, error=str(exc))
            if self.transport is not None:
                self.transport.close()
            return
        for frame in frames:
            self.owner._input(frame, self.server, None)

    def write(self, data: bytes) -> None:
        if self.transport is None:
            self.backlog.append(data)
        elif not self.transport.is_closing():
            self.transport.write(data)


class IceTransport:
    """One ICE agent with its sockets (see the module docstring).

    ``addresses``: local IPs to gather host candidates on (default: every usable interface);
    ``turn_ssl``: the TLS context for ``turns:`` servers (default: verify as a browser would);
    ``agent``: drive this agent instead of making one (the peer connection's); other keyword
    arguments go to :class:`~rtcstack.ice.IceAgent`.
    """

    def __init__(
        self,
        *,
        controlling: bool,
        stun_servers: Sequence[Address] = (),
        turn_servers: Sequence[TurnServer] = (),
        addresses: Sequence[str] | None = None,
        loopback: bool = False,
        ipv6: bool = True,
        mdns: bool = False,
        turn_ssl: ssl.SSLContext | None = None,
        trace: Trace = NULL_TRACE,
        agent: IceAgent | None = None,
        **agent_options: Any,
    ) -> None:
        self.agent = agent if agent is not None else IceAgent(
            controlling=controlling, stun_servers=stun_servers, turn_servers=turn_servers,
            trace=trace, **agent_options)
        self._addresses = list(addresses) if addresses is not None else None
        self._loopback = loopback
        self._ipv6 = ipv6
        self._mdns_enabled = mdns
        self._mdns: Any = None  # rtcstack.asyncio.mdns.MdnsService, opened on first use
        self._turn_ssl = turn_ssl
        self._trace = trace
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sockets: dict[Address, _Udp] = {}
        self._streams: dict[tuple[Address, str], _Stream] = {}
        self._timer: DeadlineTimer | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self._resolving: set[asyncio.Future[None]] = set()
        self._received: deque[bytes] = deque()
        self._waiters: list[asyncio.Future[None]] = []
        self._gathered: list[Candidate] = []
        self._gathering_done = False
        self._published: dict[str, str] = {}  # IP -> mDNS name
        self._closed = False
        self.on_candidate: Callable[[Candidate | None], None] | None = None
        self.on_state: Callable[[IceState], None] | None = None
        self.on_data: Callable[[bytes], None] | None = None

    # --- gathering ---------------------------------------------------------------------------

    async def gather(self) -> None:
        """Open one UDP socket per local address and start server gathering; candidates
        surface through :attr:`on_candidate` (``None`` at the end) and
        :meth:`gathering_complete`."""
        loop = await self.open_sockets()
        self.agent.gather(now=loop.time())
        await self._service()

    async def open_sockets(self) -> asyncio.AbstractEventLoop:
        """Open one UDP socket per local address and give each to the agent as a host address
        (:meth:`gather` does this first; a driver that starts gathering itself calls it)."""
        loop = self._loop = asyncio.get_running_loop()
        if self._sockets:
            return loop
        addresses = self._addresses
        if addresses is None:
            addresses = local_addresses(ipv6=self._ipv6, loopback=self._loopback)
        if self._mdns_enabled:
            await self._mdns_service()  # host candidates must never surface unpublished
        for ip in addresses:
            try:
                transport, protocol = await loop.create_datagram_endpoint(
                    lambda: _Udp(self, ("", 0)), local_addr=(ip, 0))
            except OSError as exc:
                self._trace("ice.bind-failed", address=ip, error=str(exc))
                continue
            local = _short(transport.get_extra_info("sockname"))
            protocol.local = local
            self._sockets[local] = protocol
            self.agent.add_host_address(local)
        if not self._sockets:
            raise IceConnectionError(f"could not open a UDP socket on any of {addresses}")
        return loop

    async def gathering_complete(self, timeout: float | None = None) -> list[Candidate]:
        """Wait for the end of gathering; every local candidate (as signalled)."""
        await self._wait(lambda: self._gathering_done, timeout, "gathering")
        return list(self._gathered)

    @property
    def local_candidates(self) -> list[Candidate]:
        return list(self._gathered)

    @property
    def local_credentials(self) -> tuple[str, str]:
        return self.agent.local_credentials

    # --- the remote side ---------------------------------------------------------------------

    def set_remote_credentials(self, ufrag: str, pwd: str, *, lite: bool = False) -> None:
        self.agent.set_remote_credentials(ufrag, pwd, lite=lite)

    async def add_remote_candidate(self, candidate: Candidate | str | None) -> None:
        """A trickled candidate (``candidate:...`` text or a :class:`Candidate`); ``None`` or
        ``""`` is end-of-candidates.  ``.local`` UDP candidates are resolved by mDNS in the
        background and reach the agent when resolved; one that does not resolve is dropped
        (traced), as browsers do."""
        if isinstance(candidate, str):
            candidate = Candidate.parse(candidate) if candidate.strip() else None
        if candidate is not None and candidate.is_mdns and candidate.transport == "udp":
            # Resolved in the background: one silent name must not hold back the others (or
            # the caller); end-of-candidates waits for the resolutions still running.
            task = asyncio.ensure_future(self._resolve_and_add(candidate))
            self._resolving.add(task)
            task.add_done_callback(self._resolving.discard)
            return
        if candidate is None and self._resolving:
            pending = list(self._resolving)
            task = asyncio.ensure_future(self._end_after(pending))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self.agent.add_remote_candidate(candidate, now=self._now())
        await self._service()

    async def _resolve_and_add(self, candidate: Candidate) -> None:
        resolved = await self._resolve(candidate)
        if resolved is not None and not self._closed:
            self.agent.add_remote_candidate(resolved, now=self._now())
            self._kick()

    async def _end_after(self, pending: list[asyncio.Future[None]]) -> None:
        await asyncio.gather(*pending, return_exceptions=True)
        if not self._closed:
            self.agent.add_remote_candidate(None, now=self._now())
            self._kick()

    async def _resolve(self, candidate: Candidate) -> Candidate | None:
        try:
            service = await self._mdns_service()
            address = await service.resolve(candidate.address, timeout=5.0)
        except (OSError, TimeoutError, RtcstackError) as exc:
            self._trace("ice.mdns-unresolved", name=candidate.address, error=str(exc))
            return None
        return replace(candidate, address=address)

    async def _mdns_service(self) -> Any:
        if self._mdns is None:
            from rtcstack.asyncio.mdns import MdnsService

            interfaces = [ip for ip, _ in self._sockets if ":" not in ip]
            if not interfaces and self._addresses:
                interfaces = [ip for ip in self._addresses if ":" not in ip]
            self._mdns = await MdnsService.open(interfaces)
        return self._mdns

    # --- connecting and data ------------------------------------------------------------------

    async def connect(self, timeout: float | None = 30.0) -> CandidatePair:
        """Wait until a pair is selected; :class:`IceConnectionError` on failure or timeout."""
        await self._wait(lambda: self.agent.selected_pair is not None
                         and self.agent.state in (IceState.CONNECTED, IceState.COMPLETED),
                         timeout, "connecting")
        pair = self.agent.selected_pair
        if pair is None:  # pragma: no cover - _wait checked
            raise IceConnectionError("no selected pair")
        return pair

    @property
    def state(self) -> IceState:
        return self.agent.state

    @property
    def selected_pair(self) -> CandidatePair | None:
        return self.agent.selected_pair

    def send(self, data: bytes) -> None:
        """Send over the selected pair (InvalidStateError before one is selected)."""
        self.agent.send(data, now=self._now())
        self._flush()

    async def recv(self, timeout: float | None = None) -> bytes:
        """The next datagram that is not for ICE (DTLS, SRTP ...)."""
        await self._wait(lambda: bool(self._received), timeout, "receiving", fail_on_ice=False)
        return self._received.popleft()

    def restart(self) -> tuple[str, str]:
        """ICE restart (RFC 8445 §9): new credentials, candidates surface again."""
        self._gathering_done = False
        self._gathered.clear()
        credentials = self.agent.restart(now=self._now())
        self._kick()
        return credentials

    async def close(self) -> None:
        if self._closed:
            return
        self.agent.close(now=self._now())
        self._flush()
        self._arm()
        # Let TURN deallocations finish (RFC 8656 §8: Refresh with LIFETIME 0), at most 1 s:
        # the agent is idle once it asks for no more timeouts.
        with contextlib.suppress(IceConnectionError):
            await self._wait(lambda: self.agent.poll_timeout() is None, 1.0, "closing",
                             fail_on_ice=False)
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        for proto in self._sockets.values():
            if proto.transport is not None:
                proto.transport.close()
        for stream in self._streams.values():
            if stream.transport is not None:
                stream.transport.close()
        for task in (*self._resolving, *self._tasks):
            task.cancel()
        if self._mdns is not None:
            self._mdns.close()
        self._wake()

    # --- the drive loop -----------------------------------------------------------------------

    def _now(self) -> float:
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        return loop.time()

    def _input(self, data: bytes, addr: Address, local: Address | None) -> None:
        if self._closed:
            return
        payload = self.agent.handle_datagram(data, addr, local=local, now=self._now())
        if payload is not None:
            if self.on_data is not None:
                self.on_data(payload)
            else:
                self._received.append(payload)
                self._wake()
        self._kick()

    def _kick(self) -> None:
        """Flush output and events and re-arm the timer (synchronous part of _service)."""
        self._flush()
        while (event := self.agent.poll_event()) is not None:
            self._dispatch(event)
        self._arm()
        self._wake()

    async def _service(self) -> None:
        self._kick()

    def _dispatch(self, event: IceEvent) -> None:
        if isinstance(event, CandidateGathered):
            candidate = self._presentable(event.candidate)
            self._gathered.append(candidate)
            if self.on_candidate is not None:
                self.on_candidate(candidate)
        elif isinstance(event, GatheringComplete):
            self._gathering_done = True
            if self.on_candidate is not None:
                self.on_candidate(None)
        elif isinstance(event, StateChanged):
            if self.on_state is not None:
                self.on_state(event.state)
        elif isinstance(event, SelectedPairChanged):
            self._trace("ice.adapter.selected", local=str(event.local), remote=str(event.remote))
        self._wake()

    def _presentable(self, candidate: Candidate) -> Candidate:
        """With ``mdns=True`` host addresses are replaced by published ``.local`` names and
        related addresses hidden (draft-ietf-mmusic-mdns-ice-candidates §3.1.2.2)."""
        if not self._mdns_enabled:
            return candidate
        if candidate.type is CandidateType.HOST:
            name = self._published.get(candidate.address)
            if name is None:
                name = self._publish(candidate.address)
            return replace(candidate, address=name) if name else candidate
        if candidate.related_address is not None:
            zero = "::" if ":" in candidate.related_address else "0.0.0.0"
            return replace(candidate, related_address=zero, related_port=9)
        return candidate

    def _publish(self, address: str) -> str | None:
        if self._mdns is None:  # gather() opens the service before any host candidate
            return None
        name = str(self._mdns.publish(address))
        self._published[address] = name
        return name

    def _flush(self) -> None:
        while (tx := self.agent.poll_transmit()) is not None:
            self._transmit(tx)

    def _transmit(self, tx: Transmit) -> None:
        if tx.transport == "udp":
            proto = self._sockets.get(tx.source) if tx.source is not None else None
            if proto is None or proto.transport is None:
                self._trace("ice.adapter.no-socket", source=tx.source)
                return
            proto.transport.sendto(tx.data, tx.addr)
            return
        key = (tx.addr, tx.transport)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(self, tx.addr)
            self._tasks.add(task := asyncio.ensure_future(self._open_stream(stream, tx.transport)))
            task.add_done_callback(self._tasks.discard)
        stream.write(tx.data)

    async def _open_stream(self, stream: _Stream, transport: str) -> None:
        loop = asyncio.get_running_loop()
        context: ssl.SSLContext | None = None
        hostname: str | None = None
        if transport == "tls":
            context = self._turn_ssl or ssl.create_default_context()
            hostname = next((s.host for s in self.agent.turn_servers
                             if s.addr == stream.server), stream.server[0])
        try:
            await loop.create_connection(lambda: stream, stream.server[0], stream.server[1],
                                         ssl=context, server_hostname=hostname)
        except (OSError, ssl.SSLError) as exc:
            self._trace("ice.turn-connect-failed", server=stream.server, error=str(exc))

    def _arm(self) -> None:
        if self._closed:
            return
        if self._timer is None:
            self._loop = self._loop or asyncio.get_running_loop()
            self._timer = DeadlineTimer(self._loop, self._on_timer)
        self._timer.arm(self._driven().poll_timeout())

    def _on_timer(self, now: float) -> None:
        if self._closed:
            return
        self._driven().handle_timeout(now)
        self._kick()

    def _driven(self) -> Any:
        """What the timer drives: the agent (a driver over a larger sans-IO object that owns
        the agent, such as the peer connection, returns that)."""
        return self.agent

    # --- waiting -------------------------------------------------------------------------------

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def _wait(self, ready: Callable[[], bool], timeout: float | None, what: str,
                    *, fail_on_ice: bool = True) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not ready():
            if self._closed:
                raise IceConnectionError(f"closed while {what}")
            if fail_on_ice and self.agent.state is IceState.FAILED:
                raise IceConnectionError(f"ICE failed while {what}")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise IceConnectionError(f"timed out {what}")
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                raise IceConnectionError(f"timed out {what}") from None

    def __repr__(self) -> str:
        return f"<IceTransport {self.agent.state.value} {len(self._sockets)} sockets>"

