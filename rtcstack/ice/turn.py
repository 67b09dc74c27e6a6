"""RFC 8656 a sans-IO TURN client: one allocation on one server, its permissions and channels.

:class:`TurnClient` allocates a relayed transport address (RFC 8656 §7), keeps it alive with
Refresh (§8), installs permissions with CreatePermission (§9, §10), binds channels (§12), and
relays application data with Send/Data indications (§11) or ChannelData (§12.4-12.6).  Requests
go through :class:`rtcstack.stun.client.StunClient`, which does the long-term credential
mechanism (RFC 8489 §9.2: 401 / 438 retries, SHA-256 password algorithm, USERHASH, integrity),
retransmission over UDP and the single send with timeout Ti over TCP/TLS (§6.2.2).

One client owns one 5-tuple: the driver gives it every datagram (UDP) or every whole frame
(TCP/TLS, split with :class:`rtcstack.stun.framing.StreamDecoder`) that arrives from the server,
and sends every :class:`~rtcstack.common.Transmit` it polls.  :attr:`TurnServer.addr` may hold a
host name; resolving it is the driver's job.  The drive loop::

    >>> from rtcstack.common import SeededRandom
    >>> from rtcstack.stun import Message, MessageClass, XorMappedAddress, XorRelayedAddress
    >>> client = TurnClient(TurnServer("192.0.2.1", 3478), random_bytes=SeededRandom(1))
    >>> client.allocate(now=0.0)
    >>> request = Message.parse(client.poll_transmit().data)
    >>> reply = request.success_response(XorRelayedAddress(("192.0.2.1", 50000)),
    ...                                  XorMappedAddress(("198.51.100.2", 40000)))
    >>> client.handle_datagram(reply.serialize(), now=0.05) is None
    True
    >>> client.poll_event()
    Allocated(relayed=('192.0.2.1', 50000), mapped=('198.51.100.2', 40000), lifetime=600)
    >>> client.state, client.poll_timeout()  # the Refresh is due one minute before expiry
    (<TurnState.ALLOCATED: 'allocated'>, 540.05)

Out of scope: TCP allocations (RFC 6062), dual-stack allocations (REQUESTED-ADDRESS-FAMILY /
ADDITIONAL-ADDRESS-FAMILY), EVEN-PORT / RESERVATION-TOKEN, following ALTERNATE-SERVER (a 300 is
reported in :class:`AllocationFailed` and :attr:`TurnClient.alternate_server`; a new client for
that server is the caller's choice), retrying 437 with a new 5-tuple (sans-IO has no sockets),
ICMP attributes in Data indications (counted and dropped).
"""

from __future__ import annotations

import ipaddress
import struct
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeAlias

from rtcstack.common.buffer import U16_U16
from rtcstack.common.errors import InvalidStateError, ParseError
from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.common.types import Address, Transmit
from rtcstack.common.values import value
from rtcstack.stun.attributes import (
    AlternateServer,
    Attribute,
    AttrType,
    ChannelNumber,
    Data,
    DontFragment,
    ErrorCode,
    Lifetime,
    Nonce,
    PasswordAlgorithm,
    PasswordAlgorithmId,
    PasswordAlgorithms,
    PasswordAlgorithmSpec,
    Realm,
    RequestedTransport,
    Software,
    UnknownAttributes,
    Username,
    XorMappedAddress,
    XorPeerAddress,
    XorRelayedAddress,
)
from rtcstack.stun.channeldata import CHANNEL_MAX, CHANNEL_MIN, ChannelData
from rtcstack.stun.client import (
    ClientEvent,
    ClientStats,
    RequestFailed,
    RequestTimedOut,
    ResponseReceived,
    StunClient,
)
from rtcstack.stun.credentials import LongTermCredentials, long_term_key
from rtcstack.stun.errors import ALLOCATION_MISMATCH, TRY_ALTERNATE, UNKNOWN_ATTRIBUTE
from rtcstack.stun.message import Message, MessageClass, Method

__all__ = [
    "CHANNEL_LIFETIME",
    "CHANNEL_REFRESH",
    "CHECKERS",
    "DEFAULT_LIFETIME",
    "PERMISSION_LIFETIME",
    "PERMISSION_REFRESH",
    "Allocated",
    "AllocationFailed",
    "PermissionFailed",
    "TurnClient",
    "TurnClosed",
    "TurnEvent",
    "TurnServer",
    "TurnState",
    "TurnStats",
    "check_example_flow",
    "parse_turn_uri",
]

DEFAULT_LIFETIME = 600  # RFC 8656 §3.2 / §7.2: the default allocation lifetime, 10 minutes
PERMISSION_LIFETIME = 300  # §9: "The Permission Lifetime MUST be 300 seconds (= 5 minutes)."
PERMISSION_REFRESH = 240  # refreshed one minute before it would expire
CHANNEL_LIFETIME = 600  # §12: "A channel binding lasts for 10 minutes unless refreshed."
CHANNEL_REFRESH = 540
CHANNEL_QUARANTINE = 300  # §12: "the client MUST wait 5 minutes after the channel binding expires"
REFRESH_MARGIN = 60  # §8: "refresh the allocation roughly 1 minute before it expires"
DEALLOCATE_RC = 3  # Refresh LIFETIME=0 over UDP: sends at 0, RTO, 3 RTO; give up 4 RTO later
DEALLOCATE_RM = 4
MAX_PEERS_PER_REQUEST = 32  # XOR-PEER-ADDRESS attributes per CreatePermission (MTU-safe)

_UDP = 17  # §18.7: REQUESTED-TRANSPORT "17 (UDP)"
_TRANSPORTS = ("udp", "tcp", "tls")
_DEFAULT_PORTS = {"turn": 3478, "turns": 5349}


# --- configuration -----------------------------------------------------------------------------


@value
class TurnServer:
    """One configured TURN server (like an ``RTCIceServer`` entry with one URL)."""

    host: str
    port: int
    transport: str = "udp"  # "udp" | "tcp" | "tls" (TLS over TCP)
    username: str = ""
    password: str = ""

    @property
    def addr(self) -> Address:
        return (self.host, self.port)


def parse_turn_uri(uri: str, username: str = "", password: str = "") -> TurnServer:
    """RFC 7065 §3 ``turnURI``: ``turn:host[:port][?transport=udp|tcp]`` or
    ``turns:host[:port][?transport=tcp]`` (TLS over TCP).  Default ports 3478 and 5349 (§3);
    IPv6 hosts in brackets.  ``ValueError`` for anything else (``turns`` over UDP would be DTLS,
    which rtcstack does not do)."""
    scheme, sep, rest = uri.strip().partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        raise ValueError(f"{uri!r}: not a turn: or turns: URI (RFC 7065 §3)")
    if rest.startswith("//"):
        raise ValueError(f"{uri!r}: RFC 7065 URIs have no '//' after the scheme")
    hostport, qmark, query = rest.partition("?")
    transport = "tls" if scheme == "turns" else "udp"
    if qmark:
        key, eq, val = query.partition("=")
        if key.lower() != "transport" or not eq:
            raise ValueError(f"{uri!r}: the only query is ?transport=udp|tcp (RFC 7065 §3)")
        val = val.lower()
        if val == "tcp":
            transport = "tls" if scheme == "turns" else "tcp"
        elif val == "udp" and scheme == "turn":
            transport = "udp"
        elif val == "udp":
            raise ValueError(f"{uri!r}: turns over UDP (DTLS) is not supported")
        else:
            raise ValueError(f"{uri!r}: unknown transport {val!r} (udp or tcp)")
    port = _DEFAULT_PORTS[scheme]
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ValueError(f"{uri!r}: missing ']' after the IPv6 address")
        host, tail = hostport[1:end], hostport[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{uri!r}: {host!r} is not an IPv6 address") from None
    else:
        host, colon, tail = hostport.partition(":")
        tail = colon + tail
        if ":" in tail[1:]:
            raise ValueError(f"{uri!r}: write IPv6 addresses in brackets")
    if tail:
        if not tail.startswith(":") or not tail[1:].isdigit() or not 0 < int(tail[1:]) < 65536:
            raise ValueError(f"{uri!r}: bad port {tail[1:]!r}")
        port = int(tail[1:])
    if not host or any(c in host for c in "/@ ?#[]"):
        raise ValueError(f"{uri!r}: bad host {host!r}")
    return TurnServer(host, port, transport, username, password)


# --- states and events -------------------------------------------------------------------------


class TurnState(Enum):
    """The allocation's life, in protocol order."""

    NEW = "new"
    ALLOCATING = "allocating"  # Allocate sent (possibly challenged and retried)
    ALLOCATED = "allocated"
    FAILED = "failed"  # the Allocate failed: no allocation exists
    CLOSING = "closing"  # Refresh LIFETIME=0 sent
    CLOSED = "closed"


@value
class Allocated:
    """RFC 8656 §7.3: the allocation exists; ``lifetime`` is the server's (seconds)."""

    relayed: Address
    mapped: Address | None
    lifetime: int


@value
class AllocationFailed:
    """RFC 8656 §7.4: the Allocate failed (error response, timeout, integrity); state FAILED."""

    reason: str
    code: int | None


@value
class PermissionFailed:
    """RFC 8656 §10.3 / §12.3: a CreatePermission for ``peer_ip`` failed; data queued for it is
    dropped."""

    peer_ip: str
    reason: str


@value
class TurnClosed:
    """The allocation is gone: deallocated by :meth:`TurnClient.close`, expired, or a Refresh
    failed (RFC 8656 §8.3)."""

    reason: str


TurnEvent: TypeAlias = Allocated | AllocationFailed | PermissionFailed | TurnClosed


@dataclass(slots=True)
class TurnStats:
    """Counters; every drop is also traced (``ice.turn.drop``)."""

    datagrams: int = 0  # everything handed to handle_datagram
    stun_messages: int = 0
    parse_errors: int = 0
    garbage: int = 0  # neither STUN nor ChannelData by its first byte (RFC 8656 §12 Table 3)
    unexpected: int = 0  # requests, indications other than Data
    data_indications: int = 0  # delivered
    channel_data_in: int = 0  # delivered
    bad_data_indications: int = 0  # §11.4: no XOR-PEER-ADDRESS or no DATA (ICMP included)
    unknown_channel: int = 0  # §12.6: "not bound to any peer"
    no_permission: int = 0  # §11.4 / §12.6: from a peer we hold no permission for
    not_allocated: int = 0  # peer data arriving with no allocation
    sent_indications: int = 0
    sent_channel_data: int = 0
    queued: int = 0  # send() before the permission was installed
    queue_overflow: int = 0
    queue_dropped: int = 0  # queued data dropped because its permission failed or the end came
    send_dropped: int = 0  # send() with no allocation (failed or closed)
    allocate_requests: int = 0
    refreshes: int = 0
    permission_requests: int = 0
    channel_binds: int = 0


# --- bookkeeping -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Permission:
    ip: str
    installed: bool = False
    expires: float = 0.0
    pending: bool = False  # a CreatePermission for it is in flight
    used: bool = False  # data sent or received since it was last (re)installed


@dataclass(slots=True)
class _Channel:
    number: int
    peer: Address
    bound: bool = False
    expires: float = 0.0
    pending: bool = False
    used: bool = False


@dataclass(slots=True)
class _Request:
    kind: str  # "allocate" | "refresh" | "deallocate" | "permission" | "channel"
    ips: tuple[str, ...] = ()
    channel: _Channel | None = None


def _canonical_ip(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address (peers are IP addresses)") from None


def _refresh_delay(lifetime: float) -> float:
    """§8: "refresh the allocation roughly 1 minute before it expires" (half the lifetime when
    it is 2 minutes or less)."""
    return lifetime - REFRESH_MARGIN if lifetime > 2 * REFRESH_MARGIN else lifetime / 2


# --- the client --------------------------------------------------------------------------------


class TurnClient:
    """RFC 8656 client for one allocation (see the module docstring).

    ``lifetime`` is the LIFETIME asked for in Allocate and Refresh (a hint, §7.1); ``channels``
    selects ChannelData (ChannelBind per peer) rather than Send indications; ``dont_fragment``
    adds DONT-FRAGMENT to the Allocate and the Send indications (§7.1, §11.1); ``max_queue``
    bounds the data held while permissions are installed.
    """

    def __init__(
        self,
        server: TurnServer,
        *,
        source: Address | None = None,
        lifetime: int = DEFAULT_LIFETIME,
        channels: bool = True,
        software: str | None = None,
        random_bytes: RandomBytes = default_random_bytes,
        trace: Trace = NULL_TRACE,
        dont_fragment: bool = False,
        max_queue: int = 64,
    ) -> None:
        if server.transport not in _TRANSPORTS:
            raise ValueError(f"transport {server.transport!r} is not one of {_TRANSPORTS}")
        if not 0 < server.port < 65536:
            raise ValueError(f"port {server.port} out of range")
        if lifetime <= 0:
            raise ValueError("lifetime must be positive (close() deletes the allocation)")
        self.server = server
        self.source = source
        self.lifetime = lifetime
        self.channels = channels
        self.dont_fragment = dont_fragment
        self.max_queue = max_queue
        self.state = TurnState.NEW
        self.stats = TurnStats()
        self.relayed_address: Address | None = None
        self.mapped_address: Address | None = None
        self.alternate_server: Address | None = None  # from a 300 (Try Alternate)
        self.allocation_lifetime: int | None = None  # the server's last LIFETIME
        self._reliable = server.transport != "udp"
        self._credentials = (
            LongTermCredentials(server.username, server.password)
            if server.username or server.password
            else None
        )
        self._random_bytes = random_bytes
        self._trace = trace
        self._stun = StunClient(
            reliable=self._reliable, software=software, random_bytes=random_bytes, trace=trace
        )
        self._transmits: deque[Transmit] = deque()
        self._events: deque[TurnEvent] = deque()
        self._requests: dict[bytes, _Request] = {}
        self._refresh_at: float | None = None
        self._expires: float | None = None
        self._refreshing = False
        self._permissions: dict[str, _Permission] = {}
        self._by_peer: dict[Address, _Channel] = {}
        self._by_number: dict[int, _Channel] = {}
        self._quarantine: dict[int, float] = {}  # channel number -> reusable after
        self._peer_quarantine: dict[Address, float] = {}
        self._no_channel: set[Address] = set()  # ChannelBind failed: use Send indications
        self._queue: deque[tuple[bytes, Address]] = deque()
        self._next_channel = CHANNEL_MIN
        self._pumping = False

    # --- introspection ---------------------------------------------------------------------

    @property
    def stun_stats(self) -> ClientStats:
        """The transaction layer's counters (integrity failures, retries, unmatched...)."""
        return self._stun.stats

    def has_permission(self, peer_ip: str) -> bool:
        """Whether a permission for ``peer_ip`` is installed (as far as the client knows)."""
        perm = self._permissions.get(_canonical_ip(peer_ip))
        return perm is not None and perm.installed

    def channel_for(self, peer: Address) -> int | None:
        """The channel number bound to ``peer``, or ``None``."""
        channel = self._by_peer.get((_canonical_ip(peer[0]), peer[1]))
        return channel.number if channel is not None and channel.bound else None

    # --- user actions ----------------------------------------------------------------------

    def allocate(self, *, now: float) -> None:
        """RFC 8656 §7.1: send the Allocate request (REQUESTED-TRANSPORT UDP, LIFETIME, and
        DONT-FRAGMENT when asked).  Once only."""
        if self.state is not TurnState.NEW:
            raise InvalidStateError(f"allocate() in state {self.state.value}")
        self._set_state(TurnState.ALLOCATING, now, "allocate")
        self._send_allocate(now, self.dont_fragment)
        self._pump(now)

    def create_permission(self, peer_ips: Iterable[str], *, now: float) -> None:
        """RFC 8656 §10.1: install (or refresh) permissions for ``peer_ips`` in one request
        (several XOR-PEER-ADDRESS attributes).  Before the allocation exists the request waits
        for it; after the allocation has ended it is dropped (and traced)."""
        ips = [_canonical_ip(ip) for ip in peer_ips]
        if self.state not in (TurnState.NEW, TurnState.ALLOCATING, TurnState.ALLOCATED):
            self._trace("ice.turn.drop", why="permission-without-allocation", ips=ips)
            return
        fresh = []
        for ip in ips:
            perm = self._permissions.get(ip)
            if perm is None:
                perm = self._permissions[ip] = _Permission(ip)
            perm.used = True  # asked for explicitly: keep it for one period at least
            if not perm.pending:
                fresh.append(ip)
        if self.state is TurnState.ALLOCATED and fresh:
            self._send_permissions(fresh, now)
            self._pump(now)

    def send(self, data: bytes, peer: Address, *, now: float) -> None:
        """Relay ``data`` to ``peer``: ChannelData when a channel is bound, else a Send
        indication when the permission is installed (§11.1: "the client MUST ensure that there is
        a permission installed for the IP address of the peer"); otherwise queue it (bounded)
        and install the permission first -- with ChannelBind (which also installs the
        permission, §12.1) when ``channels`` is on, else with CreatePermission.  With no
        allocation (failed or closed) the data is dropped and counted."""
        state = self.state
        if state is not TurnState.ALLOCATED and state not in (TurnState.NEW, TurnState.ALLOCATING):
            self.stats.send_dropped += 1
            self._trace("ice.turn.drop", why="send-without-allocation", peer=peer)
            return
        channel = self._by_peer.get(peer)
        if channel is None or not channel.bound:
            peer = (_canonical_ip(peer[0]), peer[1])
            channel = self._by_peer.get(peer)
        if state is TurnState.ALLOCATED and self._try_send(data, peer, channel, now):
            return
        if len(self._queue) >= self.max_queue:
            self.stats.queue_overflow += 1
            self._trace("ice.turn.drop", why="queue-full", peer=peer)
            return
        self._queue.append((data, peer))
        self.stats.queued += 1
        if state is TurnState.ALLOCATED:
            self._install(peer, now)
            self._pump(now)

    def close(self, *, now: float) -> None:
        """RFC 8656 §8.1: delete the allocation (Refresh with LIFETIME 0), then
        :class:`TurnClosed` ("deallocated").  Before the allocation exists: stop at once."""
        state = self.state
        if state is TurnState.ALLOCATED:
            self._cancel_all()
            self._drop_queue("closing")
            self._set_state(TurnState.CLOSING, now, "close")
            message = Message.new(
                Method.REFRESH, MessageClass.REQUEST, [Lifetime(0)], random_bytes=self._random_bytes
            )
            self._request(message, _Request("deallocate"), now, rc=DEALLOCATE_RC, rm=DEALLOCATE_RM)
            self._pump(now)
        elif state in (TurnState.NEW, TurnState.ALLOCATING):
            self._end(TurnState.CLOSED, now, "closed before the allocation existed")

    # --- drive loop ------------------------------------------------------------------------

    def handle_datagram(self, data: bytes, *, now: float) -> tuple[bytes, Address] | None:
        """One datagram (UDP) or one whole frame (TCP/TLS) from the server.  Returns
        ``(payload, peer)`` for a Data indication or ChannelData; ``None`` for anything else.
        Never raises for network input: garbage is counted in :attr:`stats` and traced."""
        stats = self.stats
        stats.datagrams += 1
        if not data:
            stats.garbage += 1
            self._trace("ice.turn.drop", why="empty")
            return None
        first = data[0]
        if 0x40 <= first <= 0x4F:  # §12 Table 3: [64..79] TURN Channel
            return self._channel_data(data)
        if first > 3:  # [0..3] STUN; anything else "MUST be dropped"
            stats.garbage += 1
            self._trace("ice.turn.drop", why="not-stun-or-channeldata", first_byte=first)
            return None
        try:
            message = Message.parse(data)
        except ParseError as exc:
            stats.parse_errors += 1
            self._trace("ice.turn.drop", why="parse-error", reason=exc.reason)
            return None
        stats.stun_messages += 1
        klass = message.message_class
        if klass is MessageClass.SUCCESS or klass is MessageClass.ERROR:
            self._stun.handle_message(message, self.server.addr, now=now)
            self._pump(now)
            return None
        if klass is MessageClass.INDICATION and message.method == Method.DATA:
            return self._data_indication(message)
        stats.unexpected += 1
        self._trace("ice.turn.drop", why="unexpected", method=message.method, cls=klass.name)
        return None

    def handle_timeout(self, now: float) -> None:
        """Retransmissions, then the allocation, permission and channel timers due at ``now``."""
        self._stun.handle_timeout(now)
        self._pump(now)
        if self.state is not TurnState.ALLOCATED:
            return
        if self._expires is not None and now >= self._expires:
            self._end(TurnState.CLOSED, now, "expired")
            return
        if not self._refreshing and self._refresh_at is not None and now >= self._refresh_at:
            self._send_refresh(now)
        self._permission_timers(now)
        self._channel_timers(now)
        for number, until in list(self._quarantine.items()):
            if now >= until:
                del self._quarantine[number]
        for peer, until in list(self._peer_quarantine.items()):
            if now >= until:
                del self._peer_quarantine[peer]
        self._pump(now)

    def poll_transmit(self) -> Transmit | None:
        return self._transmits.popleft() if self._transmits else None

    def poll_event(self) -> TurnEvent | None:
        return self._events.popleft() if self._events else None

    def poll_timeout(self) -> float | None:
        """The earliest of: a retransmission, the allocation Refresh or expiry, a permission or
        channel refresh or expiry, the end of a channel quarantine."""
        best = self._stun.poll_timeout()
        if self.state is not TurnState.ALLOCATED:
            return best
        times: list[float] = []
        if self._expires is not None:
            times.append(self._expires)
        if not self._refreshing and self._refresh_at is not None:
            times.append(self._refresh_at)
        busy = self._channel_ips()
        for perm in self._permissions.values():
            if perm.installed:
                times.append(
                    perm.expires - (PERMISSION_LIFETIME - PERMISSION_REFRESH)
                    if (perm.used or perm.ip in busy) and not perm.pending
                    else perm.expires
                )
        for channel in self._by_number.values():
            if channel.bound:
                times.append(
                    channel.expires - (CHANNEL_LIFETIME - CHANNEL_REFRESH)
                    if channel.used and not channel.pending
                    else channel.expires
                )
        times += self._quarantine.values()
        times += self._peer_quarantine.values()
        if times:
            soonest = min(times)
            if best is None or soonest < best:
                best = soonest
        return best

    # --- internals: state ------------------------------------------------------------------

    def _set_state(self, new: TurnState, now: float, reason: str) -> None:
        old, self.state = self.state, new
        self._trace("ice.turn.state", old=old.value, new=new.value, reason=reason, now=now)

    def _end(self, state: TurnState, now: float, reason: str, code: int | None = None) -> None:
        """Leave for FAILED (AllocationFailed) or CLOSED (TurnClosed): forget everything."""
        self._cancel_all()
        self._drop_queue(reason)
        self._permissions.clear()
        self._by_peer.clear()
        self._by_number.clear()
        self._quarantine.clear()
        self._peer_quarantine.clear()
        self._refresh_at = self._expires = None
        self._refreshing = False
        self._set_state(state, now, reason)
        if state is TurnState.FAILED:
            self._events.append(AllocationFailed(reason, code))
        else:
            self._events.append(TurnClosed(reason))

    def _cancel_all(self) -> None:
        for tid in self._requests:
            self._stun.cancel(tid)
        self._requests.clear()

    def _drop_queue(self, why: str, ips: frozenset[str] | None = None) -> None:
        if ips is None:
            dropped = len(self._queue)
            self._queue.clear()
        else:
            keep = deque(item for item in self._queue if item[1][0] not in ips)
            dropped = len(self._queue) - len(keep)
            self._queue = keep
        if dropped:
            self.stats.queue_dropped += dropped
            self._trace("ice.turn.drop", why="queued-data", count=dropped, reason=why)

    # --- internals: requests ---------------------------------------------------------------

    def _request(self, message: Message, request: _Request, now: float, **options: int) -> None:
        tid = self._stun.request(
            message,
            self.server.addr,
            now=now,
            credentials=self._credentials,
            source=self.source,
            **options,  # type: ignore[arg-type]
        )
        self._requests[tid] = request

    def _send_allocate(self, now: float, dont_fragment: bool) -> None:
        attrs: list[Attribute] = [RequestedTransport(_UDP), Lifetime(self.lifetime)]
        if dont_fragment:
            attrs.append(DontFragment())
        message = Message.new(
            Method.ALLOCATE, MessageClass.REQUEST, attrs, random_bytes=self._random_bytes
        )
        self.stats.allocate_requests += 1
        self._request(message, _Request("allocate", ("df",) if dont_fragment else ()), now)

    def _send_refresh(self, now: float) -> None:
        """§8.1: a Refresh with the LIFETIME we want."""
        message = Message.new(
            Method.REFRESH,
            MessageClass.REQUEST,
            [Lifetime(self.lifetime)],
            random_bytes=self._random_bytes,
        )
        self._refreshing = True
        self.stats.refreshes += 1
        self._trace("ice.turn.refresh", now=now)
        self._request(message, _Request("refresh"), now)

    def _send_permissions(self, ips: list[str], now: float) -> None:
        """§10.1: "MUST include at least one XOR-PEER-ADDRESS attribute and MAY include more
        than one"; the port "will be ignored", so it is 0 (as in §20)."""
        for start in range(0, len(ips), MAX_PEERS_PER_REQUEST):
            batch = tuple(ips[start : start + MAX_PEERS_PER_REQUEST])
            for ip in batch:
                self._permissions[ip].pending = True
            message = Message.new(
                Method.CREATE_PERMISSION,
                MessageClass.REQUEST,
                [XorPeerAddress((ip, 0)) for ip in batch],
                random_bytes=self._random_bytes,
            )
            self.stats.permission_requests += 1
            self._trace("ice.turn.create-permission", ips=batch, now=now)
            self._request(message, _Request("permission", batch), now)

    def _send_channel_bind(self, channel: _Channel, now: float) -> None:
        """§12.1: CHANNEL-NUMBER and XOR-PEER-ADDRESS; also installs the permission."""
        channel.pending = True
        message = Message.new(
            Method.CHANNEL_BIND,
            MessageClass.REQUEST,
            [ChannelNumber(channel.number), XorPeerAddress(channel.peer)],
            random_bytes=self._random_bytes,
        )
        self.stats.channel_binds += 1
        self._trace("ice.turn.channel-bind", channel=channel.number, peer=channel.peer, now=now)
        self._request(message, _Request("channel", (channel.peer[0],), channel), now)

    def _pump(self, now: float) -> None:
        """Move the transaction layer's output here and act on its outcomes.  Not re-entrant: a
        call made while an outcome is being handled returns at once (the outer loop drains)."""
        if self._pumping:
            return
        self._pumping = True
        try:
            self._pump_loop(now)
        finally:
            self._pumping = False

    def _pump_loop(self, now: float) -> None:
        stun = self._stun
        while True:
            while (tx := stun.poll_transmit()) is not None:
                self._transmits.append(
                    Transmit(tx.data, self.server.addr, self.source, self.server.transport)
                )
            event = stun.poll_event()
            if event is None:
                return
            request = self._requests.pop(event.transaction_id, None)
            if request is not None:
                self._outcome(request, event, now)

    def _outcome(self, request: _Request, event: ClientEvent, now: float) -> None:
        kind = request.kind
        if kind == "allocate":
            self._allocate_outcome(request, event, now)
        elif kind == "refresh":
            self._refreshing = False
            if isinstance(event, ResponseReceived):
                lifetime = event.response.get(Lifetime)
                self._set_lifetime(lifetime.value if lifetime is not None else self.lifetime, now)
            elif self.state is TurnState.ALLOCATED:
                # §8.3: after a 437 "it should consider the allocation no longer exists"; any
                # other failure leaves us unable to keep it alive either.
                self._end(TurnState.CLOSED, now, "refresh failed: " + _describe(event))
        elif kind == "deallocate":
            # §8.3: "If the client receives a 437 ... to a request to delete the allocation ...
            # it should consider its request as having effectively succeeded."
            if isinstance(event, ResponseReceived) or (
                isinstance(event, RequestFailed) and event.error_code == ALLOCATION_MISMATCH
            ):
                self._end(TurnState.CLOSED, now, "deallocated")
            else:
                self._end(TurnState.CLOSED, now, "deallocate failed: " + _describe(event))
        elif kind == "permission":
            self._permission_outcome(request, event, now)
        elif kind == "channel":
            self._channel_outcome(request, event, now)

    def _allocate_outcome(self, request: _Request, event: ClientEvent, now: float) -> None:
        if isinstance(event, ResponseReceived):
            response = event.response
            relayed = response.get(XorRelayedAddress)
            if relayed is None:
                self._end(TurnState.FAILED, now, "Allocate success without XOR-RELAYED-ADDRESS")
                return
            mapped = response.get(XorMappedAddress)
            lifetime = response.get(Lifetime)
            self.relayed_address = relayed.address
            self.mapped_address = mapped.address if mapped is not None else None
            self._set_state(TurnState.ALLOCATED, now, "allocated")
            self._set_lifetime(lifetime.value if lifetime is not None else DEFAULT_LIFETIME, now)
            self._events.append(
                Allocated(relayed.address, self.mapped_address, self.allocation_lifetime or 0)
            )
            # Work that waited for the allocation: explicit permissions, then queued data.
            waiting = [ip for ip, perm in self._permissions.items() if not perm.pending]
            if waiting:
                self._send_permissions(waiting, now)
            for peer in dict.fromkeys(peer for _, peer in self._queue):
                self._install(peer, now)
            return
        code = event.error_code if isinstance(event, RequestFailed) else None
        failure = event.response if isinstance(event, RequestFailed) else None
        if (
            code == UNKNOWN_ATTRIBUTE
            and request.ips == ("df",)
            and failure is not None
            and (unknown := failure.get(UnknownAttributes)) is not None
            and AttrType.DONT_FRAGMENT in unknown.types
        ):
            # §7.4 420: "the client now knows that the server does not support the
            # DONT-FRAGMENT attribute ... MAY choose to retry the Allocate request without"
            self.dont_fragment = False
            self._trace("ice.turn.retry-without-dont-fragment", now=now)
            self._send_allocate(now, False)
            return
        reason = _describe(event)
        if code == TRY_ALTERNATE and failure is not None:
            alternate = failure.get(AlternateServer)
            if alternate is not None:
                self.alternate_server = alternate.address
                reason += f"; alternate server {alternate.address[0]}:{alternate.address[1]}"
        self._end(TurnState.FAILED, now, reason, code)

    def _set_lifetime(self, lifetime: int, now: float) -> None:
        """§8.3: "updates its copy of the allocation data structure with the time-to-expiry
        value contained in the response"."""
        self.allocation_lifetime = lifetime
        self._expires = now + lifetime
        self._refresh_at = now + _refresh_delay(lifetime)
        self._trace("ice.turn.lifetime", lifetime=lifetime, refresh_at=self._refresh_at, now=now)

    def _permission_outcome(self, request: _Request, event: ClientEvent, now: float) -> None:
        ok = isinstance(event, ResponseReceived)
        failed: list[str] = []
        for ip in request.ips:
            perm = self._permissions.get(ip)
            if perm is None:
                continue
            perm.pending = False
            if ok:
                # §10.3: "updates its data structures to indicate that the permissions have
                # been installed or refreshed"
                self._installed(perm, now)
            else:
                del self._permissions[ip]
                failed.append(ip)
        if ok:
            self._flush(now)
            return
        reason = _describe(event)
        self._drop_queue("permission failed", frozenset(failed))
        for ip in failed:
            self._trace("ice.turn.permission-failed", ip=ip, reason=reason, now=now)
            self._events.append(PermissionFailed(ip, reason))

    def _installed(self, perm: _Permission, now: float) -> None:
        perm.installed = True
        perm.expires = now + PERMISSION_LIFETIME
        perm.used = False

    def _channel_outcome(self, request: _Request, event: ClientEvent, now: float) -> None:
        channel = request.channel
        if channel is None or self._by_number.get(channel.number) is not channel:
            return
        channel.pending = False
        if isinstance(event, ResponseReceived):
            # §12.3: "record that the channel binding is now active ... [and] that the
            # corresponding permission has been installed or refreshed"
            first = not channel.bound
            channel.bound = True
            channel.expires = now + CHANNEL_LIFETIME
            channel.used = False
            ip = channel.peer[0]
            perm = self._permissions.get(ip)
            if perm is None:
                perm = self._permissions[ip] = _Permission(ip)
            self._installed(perm, now)
            if first:
                self._trace("ice.turn.channel-bound", channel=channel.number, peer=channel.peer)
            self._flush(now)
            return
        # The binding failed: forget it (quarantined, §12) and fall back to CreatePermission +
        # Send indications for this peer, which reports PermissionFailed if that fails too.
        reason = _describe(event)
        self._trace("ice.turn.channel-failed", channel=channel.number, reason=reason, now=now)
        self._unbind(channel, now)
        self._no_channel.add(channel.peer)
        if any(peer == channel.peer for _, peer in self._queue):
            self._install(channel.peer, now)

    def _unbind(self, channel: _Channel, now: float) -> None:
        self._by_number.pop(channel.number, None)
        self._by_peer.pop(channel.peer, None)
        self._quarantine[channel.number] = now + CHANNEL_QUARANTINE
        self._peer_quarantine[channel.peer] = now + CHANNEL_QUARANTINE

    # --- internals: permissions, channels, data ---------------------------------------------

    def _install(self, peer: Address, now: float) -> None:
        """Start whatever makes ``peer`` reachable: a ChannelBind, else a CreatePermission."""
        if self.channels and peer not in self._by_peer and self._can_bind(peer):
            number = self._free_channel()
            if number is not None:
                channel = _Channel(number, peer)
                self._by_peer[peer] = channel
                self._by_number[number] = channel
                self._send_channel_bind(channel, now)
                return
        if peer in self._by_peer and self._by_peer[peer].pending:
            return  # the ChannelBind in flight installs the permission
        ip = peer[0]
        perm = self._permissions.get(ip)
        if perm is None:
            perm = self._permissions[ip] = _Permission(ip)
        if not perm.installed and not perm.pending:
            self._send_permissions([ip], now)

    def _can_bind(self, peer: Address) -> bool:
        return peer not in self._no_channel and peer not in self._peer_quarantine

    def _free_channel(self) -> int | None:
        span = CHANNEL_MAX - CHANNEL_MIN + 1
        for i in range(span):
            number = CHANNEL_MIN + (self._next_channel - CHANNEL_MIN + i) % span
            if number not in self._by_number and number not in self._quarantine:
                self._next_channel = number + 1 if number < CHANNEL_MAX else CHANNEL_MIN
                return number
        return None

    def _try_send(self, data: bytes, peer: Address, channel: _Channel | None, now: float) -> bool:
        if channel is not None and channel.bound:
            # §12.5: ChannelData, padded "to a multiple of four bytes" over TCP and TLS.
            channel.used = True
            n = len(data)
            frame = U16_U16.pack(channel.number, n) + data
            if self._reliable and n & 3:
                frame += b"\x00" * (4 - (n & 3))
            self._transmits.append(
                Transmit(frame, self.server.addr, self.source, self.server.transport)
            )
            self.stats.sent_channel_data += 1
            return True
        perm = self._permissions.get(peer[0])
        if perm is None or not perm.installed:
            return False
        # §11.1: XOR-PEER-ADDRESS and DATA (and DONT-FRAGMENT if wanted); no integrity.
        perm.used = True
        attrs: list[Attribute] = [XorPeerAddress(peer), Data(data)]
        if self.dont_fragment:
            attrs.append(DontFragment())
        message = Message(
            Method.SEND, MessageClass.INDICATION, self._random_bytes(12), tuple(attrs)
        )
        self._transmits.append(
            Transmit(message.serialize(), self.server.addr, self.source, self.server.transport)
        )
        self.stats.sent_indications += 1
        if self.channels and channel is None and self._can_bind(peer):
            self._install(peer, now)  # bind a channel for the next datagrams
            self._pump(now)
        return True

    def _flush(self, now: float) -> None:
        """Send queued data whose peer became reachable, in order; keep the rest."""
        if not self._queue:
            return
        keep: deque[tuple[bytes, Address]] = deque()
        blocked: set[Address] = set()
        for data, peer in self._queue:
            if peer in blocked or not self._try_send(data, peer, self._by_peer.get(peer), now):
                blocked.add(peer)
                keep.append((data, peer))
        self._queue = keep

    def _channel_ips(self) -> set[str]:
        """IPs of peers whose channel carried data since it was last bound: their permission is
        in use too (ChannelData does not go through the permission's own counter)."""
        return {c.peer[0] for c in self._by_number.values() if c.used}

    def _permission_timers(self, now: float) -> None:
        due: list[str] = []
        busy = self._channel_ips()
        for ip, perm in list(self._permissions.items()):
            if not perm.installed:
                continue
            if now >= perm.expires:
                # Not in use: let it lapse, as the server does (§9).
                perm.installed = False
                if not perm.pending:
                    del self._permissions[ip]
                self._trace("ice.turn.permission-expired", ip=ip, now=now)
            elif (
                (perm.used or ip in busy)
                and not perm.pending
                and now >= perm.expires - (PERMISSION_LIFETIME - PERMISSION_REFRESH)
            ):
                due.append(ip)
        if due:
            self._send_permissions(due, now)

    def _channel_timers(self, now: float) -> None:
        for channel in list(self._by_number.values()):
            if not channel.bound:
                continue
            if now >= channel.expires:
                self._trace("ice.turn.channel-expired", channel=channel.number, now=now)
                self._unbind(channel, now)
            elif (
                channel.used
                and not channel.pending
                and now >= channel.expires - (CHANNEL_LIFETIME - CHANNEL_REFRESH)
            ):
                # §12: "Refreshing the binding (by the server receiving a ChannelBind request
                # rebinding the channel to the same peer) resets the time-to-expiry timer"
                self._send_channel_bind(channel, now)

    def _channel_data(self, data: bytes) -> tuple[bytes, Address] | None:
        """§12.6 receiving ChannelData."""
        stats = self.stats
        n = len(data)
        if n < 4:
            stats.parse_errors += 1
            self._trace("ice.turn.drop", why="channeldata-short", length=n)
            return None
        number, length = U16_U16.unpack_from(data)
        if number > CHANNEL_MAX:
            # "If the message uses a value in the reserved range (0x5000 through 0xFFFF), then
            # the message is silently discarded."
            stats.parse_errors += 1
            self._trace("ice.turn.drop", why="channel-reserved", channel=number)
            return None
        if 4 + length > n:
            # "too short to contain the claimed length ... silently discarded"
            stats.parse_errors += 1
            self._trace("ice.turn.drop", why="channeldata-truncated", length=length, size=n)
            return None
        channel = self._by_number.get(number)
        if channel is None:
            # "If the ChannelData message is received on a channel that is not bound to any
            # peer, then the message is silently discarded."
            stats.unknown_channel += 1
            self._trace("ice.turn.drop", why="unknown-channel", channel=number)
            return None
        if self.state is not TurnState.ALLOCATED and self.state is not TurnState.CLOSING:
            stats.not_allocated += 1
            return None
        channel.used = True
        stats.channel_data_in += 1
        return data[4 : 4 + length], channel.peer

    def _data_indication(self, message: Message) -> tuple[bytes, Address] | None:
        """§11.4 receiving a Data indication."""
        stats = self.stats
        peer = message.get(XorPeerAddress)
        payload = message.get(Data)
        if peer is None or payload is None:
            # "checks that the Data indication contains an XOR-PEER-ADDRESS attribute and
            # discards the indication if it does not" ... "either a DATA attribute or an ICMP
            # attribute" (ICMP is not reported to the caller)
            stats.bad_data_indications += 1
            self._trace("ice.turn.drop", why="data-indication-incomplete")
            return None
        if self.state is not TurnState.ALLOCATED and self.state is not TurnState.CLOSING:
            stats.not_allocated += 1
            self._trace("ice.turn.drop", why="data-without-allocation")
            return None
        ip = peer.address[0]
        perm = self._permissions.get(ip)
        if perm is None:
            # "The client SHOULD also check that the XOR-PEER-ADDRESS attribute value contains
            # an IP address with which the client believes there is an active permission and
            # discard the Data indication otherwise."
            stats.no_permission += 1
            self._trace("ice.turn.drop", why="no-permission", peer=peer.address)
            return None
        perm.used = True
        stats.data_indications += 1
        return payload.value, peer.address


def _describe(event: ClientEvent) -> str:
    if isinstance(event, RequestTimedOut):
        return "timed out"
    if isinstance(event, RequestFailed):
        return event.detail or event.reason.value
    return "succeeded"


# --- RFC 8656 §20 example flow as a vector (kind "turn-example-flow") ----------------------------


def _attribute(name: str, described: Any) -> Attribute:
    """The attribute whose ``describe()`` is ``described`` (the names the §20 example uses)."""
    if name in ("SOFTWARE", "USERNAME", "REALM", "NONCE"):
        return {"SOFTWARE": Software, "USERNAME": Username, "REALM": Realm, "NONCE": Nonce}[name](
            str(described)
        )
    if name == "LIFETIME":
        return Lifetime(int(described))
    if name == "REQUESTED-TRANSPORT":
        return RequestedTransport(int(described))
    if name == "DONT-FRAGMENT":
        return DontFragment()
    if name == "ERROR-CODE":
        return ErrorCode(int(described["code"]), str(described["reason"]))
    if name == "PASSWORD-ALGORITHMS":
        return PasswordAlgorithms(
            tuple(PasswordAlgorithmSpec(PasswordAlgorithmId[a]) for a in described)
        )
    if name == "PASSWORD-ALGORITHM":
        return PasswordAlgorithm(PasswordAlgorithmId[described])
    if name == "CHANNEL-NUMBER":
        return ChannelNumber(int(described))
    if name in ("XOR-RELAYED-ADDRESS", "XOR-MAPPED-ADDRESS", "XOR-PEER-ADDRESS"):
        host, _, port = str(described).rpartition(":")
        cls = {
            "XOR-RELAYED-ADDRESS": XorRelayedAddress,
            "XOR-MAPPED-ADDRESS": XorMappedAddress,
            "XOR-PEER-ADDRESS": XorPeerAddress,
        }[name]
        return cls((host, int(port)))
    raise ValueError(f"attribute {name!r} does not occur in RFC 8656 §20")


_MACS = ("MESSAGE-INTEGRITY", "MESSAGE-INTEGRITY-SHA256")


def check_example_flow(vector: Any) -> list[str]:
    """Check a ``turn-example-flow`` vector (RFC 8656 §20): build every TURN message from its
    fields with the stun layer (integrity where the figure shows it, with the vector's test
    password: the RFC gives none), parse the bytes back and compare every field; ChannelData
    likewise.  Returns the problems found."""
    problems: list[str] = []
    inputs: Mapping[str, Any] = vector.inputs
    messages: list[Mapping[str, Any]] = list(vector.expected.get("messages", ()))
    if not messages:
        return ["no messages"]
    payload = str(inputs.get("data", "")).encode()
    for i, want in enumerate(messages):
        where = f"message {i + 1} (Figure {want.get('figure')})"
        if want.get("type") == "channeldata":
            number = int(str(want["channel"]), 16)
            frame = ChannelData(number, payload).serialize(pad=True)
            try:
                parsed_cd = ChannelData.parse(frame)
            except ParseError as exc:
                problems.append(f"{where}: ChannelData does not parse back: {exc}")
                continue
            if parsed_cd.channel != number or parsed_cd.data != payload:
                problems.append(f"{where}: ChannelData fields differ after a round trip")
            continue
        try:
            problems += _check_stun(where, want, inputs, payload)
        except (ValueError, KeyError, TypeError, OverflowError, struct.error) as exc:
            problems.append(f"{where}: cannot be built from its fields: {exc!r}")
    return problems


def _check_stun(
    where: str, want: Mapping[str, Any], inputs: Mapping[str, Any], payload: bytes
) -> list[str]:
    problems: list[str] = []
    tid = bytes.fromhex(str(want["transaction_id"]))
    attrs: list[Attribute] = []
    macs: list[str] = []
    for spec in want["attributes"]:
        name, described = spec["name"], spec.get("value")
        if name in _MACS:
            macs.append(name)
        elif name == "DATA":
            attrs.append(Data(payload))
        else:
            attrs.append(_attribute(name, described))
    algorithm = next((a.algorithm for a in attrs if isinstance(a, PasswordAlgorithm)), None)
    if algorithm is None:
        algorithm = PasswordAlgorithmId[str(inputs.get("algorithm", "MD5"))]
    key = long_term_key(
        str(inputs["username"]), str(inputs["realm"]), str(inputs["password"]), algorithm
    )
    message = Message(
        Method[str(want["method"])], MessageClass[str(want["class"])], tid, tuple(attrs)
    )
    data = message.serialize(
        integrity_key=key if "MESSAGE-INTEGRITY" in macs else None,
        integrity_sha256_key=key if "MESSAGE-INTEGRITY-SHA256" in macs else None,
    )
    try:
        parsed = Message.parse(data)
    except ParseError as exc:
        return [f"{where}: does not parse back: {exc}"]
    if parsed.method != message.method or parsed.message_class != message.message_class:
        problems.append(f"{where}: method/class differ after a round trip")
    if parsed.transaction_id != tid:
        problems.append(f"{where}: transaction ID differs")
    got = [
        {"name": n, "value": a.describe()}
        for a in parsed.attributes
        if (n := _name(a)) not in _MACS and n != "DATA"
    ]
    expected = [
        {"name": s["name"], "value": s.get("value")}
        for s in want["attributes"]
        if s["name"] not in _MACS and s["name"] != "DATA"
    ]
    if got != expected:
        problems.append(f"{where}: attributes {got} != {expected}")
    names = [_name(a) for a in parsed.attributes]
    if [n for n in names if n in _MACS] != macs:
        problems.append(f"{where}: integrity attributes {names} != {macs}")
    if "MESSAGE-INTEGRITY" in macs and not parsed.check_integrity(key):
        problems.append(f"{where}: MESSAGE-INTEGRITY does not verify")
    if "MESSAGE-INTEGRITY-SHA256" in macs and not parsed.check_integrity_sha256(key):
        problems.append(f"{where}: MESSAGE-INTEGRITY-SHA256 does not verify")
    if "DATA" in names:
        data_attr = parsed.get(Data)
        if data_attr is None or data_attr.value != payload:
            problems.append(f"{where}: DATA differs after a round trip")
    return problems


def _name(attr: Attribute) -> str:
    return str(getattr(attr, "NAME", f"0x{attr.type:04X}"))


CHECKERS: dict[str, Callable[[Any], list[str]]] = {"turn-example-flow": check_example_flow}
