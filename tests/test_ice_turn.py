"""The sans-IO TURN client (RFC 8656) against a small scripted in-test TURN server, on a
virtual clock (https://www.rfc-editor.org/rfc/rfc8656).

``FakeTurnServer`` (below) is scripted by attributes the test sets (``fail`` maps a method to an
error response, ``stale_nonce`` makes the next signed request get a 438, ``drop`` swallows
requests) and records what it received.  Long-term credentials follow RFC 8489 §9.2.4: 401 with
REALM/NONCE (and PASSWORD-ALGORITHMS when ``algorithms`` is set), integrity checked with the key
for the algorithm the client chose, responses signed the same way.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

import pytest

from rtcstack.common import Address, InvalidStateError, SeededRandom, TraceRecorder
from rtcstack.ice.turn import (
    CHECKERS,
    Allocated,
    AllocationFailed,
    PermissionFailed,
    TurnClient,
    TurnClosed,
    TurnServer,
    TurnState,
    check_example_flow,
    parse_turn_uri,
)
from rtcstack.stun import (
    AlternateServer,
    ChannelNumber,
    Data,
    DontFragment,
    Lifetime,
    Message,
    MessageClass,
    MessageIntegritySha256,
    Method,
    Nonce,
    PasswordAlgorithm,
    PasswordAlgorithmId,
    PasswordAlgorithms,
    PasswordAlgorithmSpec,
    Realm,
    RequestedTransport,
    UnknownAttributes,
    Username,
    XorMappedAddress,
    XorPeerAddress,
    XorRelayedAddress,
    long_term_key,
    make_nonce_cookie,
)
from rtcstack.stun.attributes import Attribute
from rtcstack.stun.channeldata import ChannelData
from rtcstack.vectors import load

USER, PASSWORD, REALM = "george", "s3cret", "example.org"
SERVER: Address = ("192.0.2.1", 3478)
RELAYED: Address = ("192.0.2.1", 50000)
MAPPED: Address = ("198.51.100.2", 40000)


@dataclass
class FakeTurnServer:
    algorithms: tuple[int, ...] = ()  # offered in PASSWORD-ALGORITHMS (empty: none, MD5)
    lifetime: int | None = 600  # granted; None: leave LIFETIME out of responses
    nonce_count: int = 0
    stale_nonce: bool = False
    fail: dict[int, tuple[int, tuple[Attribute, ...]]] = field(default_factory=dict)
    fail_once: set[int] = field(default_factory=set)  # methods whose ``fail`` applies once
    drop: set[int] = field(default_factory=set)
    requests: list[Message] = field(default_factory=list)
    sent: list[tuple[Address, bytes]] = field(default_factory=list)  # Send indications
    channel_data: list[tuple[int, bytes]] = field(default_factory=list)
    permissions: set[str] = field(default_factory=set)
    channels: dict[int, Address] = field(default_factory=dict)
    stream: bool = False  # TCP/TLS: ChannelData arrives padded

    def __post_init__(self) -> None:
        self.nonce = self._new_nonce()

    def _new_nonce(self) -> str:
        self.nonce_count += 1
        prefix = make_nonce_cookie(1 << 23) if self.algorithms else ""
        return f"{prefix}nonce{self.nonce_count:04d}"

    def _challenge_attrs(self) -> list[Attribute]:
        attrs: list[Attribute] = [Realm(REALM), Nonce(self.nonce)]
        if self.algorithms:
            specs = tuple(PasswordAlgorithmSpec(a) for a in self.algorithms)
            attrs.append(PasswordAlgorithms(specs))
        return attrs

    def handle(self, data: bytes) -> list[bytes]:
        """Process one datagram from the client; return the server's replies."""
        if 0x40 <= data[0] <= 0x4F:
            if self.stream:
                assert len(data) % 4 == 0, "ChannelData over TCP/TLS must be padded"
            frame = ChannelData.parse(data)
            self.channel_data.append((frame.channel, frame.data))
            return []
        message = Message.parse(data)
        if message.message_class is MessageClass.INDICATION:
            assert message.method == Method.SEND
            peer, payload = message.get(XorPeerAddress), message.get(Data)
            assert peer is not None and payload is not None
            if peer.address[0] in self.permissions:
                self.sent.append((peer.address, payload.value))
            return []
        self.requests.append(message)
        if message.method in self.drop:
            return []
        username = message.get(Username)
        if username is None:
            return [message.error_response(401, "", *self._challenge_attrs()).serialize()]
        chosen = message.get(PasswordAlgorithm)
        algorithm = chosen.algorithm if chosen is not None else PasswordAlgorithmId.MD5
        key = long_term_key(USER, REALM, PASSWORD, algorithm)
        sha = chosen is not None
        ok = message.check_integrity_sha256(key) if sha else message.check_integrity(key)
        if username.value != USER or not ok:
            return [message.error_response(401, "", *self._challenge_attrs()).serialize()]
        nonce = message.get(Nonce)
        if self.stale_nonce or nonce is None or nonce.value != self.nonce:
            self.stale_nonce = False
            self.nonce = self._new_nonce()
            return [self._sign(message.error_response(438, "", *self._challenge_attrs()), key, sha)]
        if message.method in self.fail:
            code, extra = self.fail[message.method]
            if message.method in self.fail_once:
                del self.fail[message.method]
            return [self._sign(message.error_response(code, "", *extra), key, sha)]
        return [self._sign(self._success(message), key, sha)]

    def _success(self, message: Message) -> Message:
        method = message.method
        if method == Method.ALLOCATE:
            attrs: list[Attribute] = [XorRelayedAddress(RELAYED), XorMappedAddress(MAPPED)]
            if self.lifetime is not None:
                attrs.append(Lifetime(self.lifetime))
            return message.success_response(*attrs)
        if method == Method.REFRESH:
            asked = message.get(Lifetime)
            granted = 0 if asked is not None and asked.value == 0 else (self.lifetime or 600)
            return message.success_response(Lifetime(granted))
        if method == Method.CREATE_PERMISSION:
            for peer in message.get_all(XorPeerAddress):
                self.permissions.add(peer.address[0])
            return message.success_response()
        if method == Method.CHANNEL_BIND:
            number, peer = message.get(ChannelNumber), message.get(XorPeerAddress)
            assert number is not None and peer is not None
            self.channels[number.number] = peer.address
            self.permissions.add(peer.address[0])
            return message.success_response()
        raise AssertionError(f"unexpected request {message}")

    @staticmethod
    def _sign(message: Message, key: bytes, sha: bool) -> bytes:
        if sha:
            return message.serialize(integrity_sha256_key=key, fingerprint=True)
        return message.serialize(integrity_key=key, fingerprint=True)

    # --- server -> client ---------------------------------------------------------------------

    def data_indication(self, peer: Address, payload: bytes) -> bytes:
        return Message(
            Method.DATA,
            MessageClass.INDICATION,
            b"D" * 12,
            (XorPeerAddress(peer), Data(payload)),
        ).serialize()

    def channel_message(self, peer: Address, payload: bytes) -> bytes:
        number = next(n for n, p in self.channels.items() if p == peer)
        return ChannelData(number, payload).serialize(pad=self.stream)


def exchange(client: TurnClient, server: FakeTurnServer, now: float) -> list[tuple[bytes, Address]]:
    """Deliver everything the client sends to the server and every reply back, until quiet.
    Returns the peer data the client surfaced."""
    out: list[tuple[bytes, Address]] = []
    while (tx := client.poll_transmit()) is not None:
        for reply in server.handle(tx.data):
            got = client.handle_datagram(reply, now=now)
            if got is not None:
                out.append(got)
    return out


def events(client: TurnClient) -> list[object]:
    out = []
    while (event := client.poll_event()) is not None:
        out.append(event)
    return out


# --- helpers -----------------------------------------------------------------------------------

PEER_A: Address = ("203.0.113.5", 6000)
PEER_B: Address = ("203.0.113.9", 7000)


def make_client(
    transport: str = "udp", trace: TraceRecorder | None = None, **options: object
) -> TurnClient:
    server = TurnServer(SERVER[0], SERVER[1], transport, USER, PASSWORD)
    kwargs: dict[str, object] = {"random_bytes": SeededRandom(7), "source": ("10.0.0.2", 5000)}
    if trace is not None:
        kwargs["trace"] = trace
    kwargs.update(options)
    return TurnClient(server, **kwargs)  # type: ignore[arg-type]


def allocated(
    server: FakeTurnServer | None = None, **options: object
) -> tuple[TurnClient, FakeTurnServer]:
    server = server or FakeTurnServer()
    client = make_client(**options)
    client.allocate(now=0.0)
    exchange(client, server, 0.0)
    assert [type(e) for e in events(client)] == [Allocated]
    return client, server


def sent(client: TurnClient) -> list[bytes]:
    out = []
    while (tx := client.poll_transmit()) is not None:
        out.append(tx.data)
    return out


# --- RFC 7065 URIs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "host", "port", "transport"),
    [
        ("turn:example.org", "example.org", 3478, "udp"),
        ("turn:example.org?transport=udp", "example.org", 3478, "udp"),
        ("turn:example.org?transport=tcp", "example.org", 3478, "tcp"),
        ("turns:example.org", "example.org", 5349, "tls"),
        ("turns:example.org?transport=tcp", "example.org", 5349, "tls"),
        ("TURN:192.0.2.1:3479", "192.0.2.1", 3479, "udp"),
        ("turn:[2001:db8::1]:3480?transport=tcp", "2001:db8::1", 3480, "tcp"),
        ("turns:[2001:db8::1]", "2001:db8::1", 5349, "tls"),
    ],
)
def test_parse_turn_uri(uri: str, host: str, port: int, transport: str) -> None:
    server = parse_turn_uri(uri, "u", "p")
    assert server == TurnServer(host, port, transport, "u", "p")
    assert server.addr == (host, port)


@pytest.mark.parametrize(
    "uri",
    [
        "stun:example.org",
        "turn:",
        "turn://example.org",
        "turn:example.org:0",
        "turn:example.org:99999",
        "turn:example.org:x",
        "turn:2001:db8::1",
        "turn:[2001:db8::1",
        "turn:[example.org]",
        "turn:example.org?transport=sctp",
        "turns:example.org?transport=udp",
        "turn:example.org?foo=bar",
        "example.org",
    ],
)
def test_parse_turn_uri_rejects(uri: str) -> None:
    with pytest.raises(ValueError):
        parse_turn_uri(uri)


# --- Allocate (RFC 8656 §7) --------------------------------------------------------------------


def test_allocate_with_401_challenge_md5() -> None:
    trace = TraceRecorder()
    server = FakeTurnServer()
    client = make_client(trace=trace, software="rtcstack-test")
    assert client.state is TurnState.NEW
    client.allocate(now=0.0)
    assert client.state is TurnState.ALLOCATING
    tx = client.poll_transmit()
    assert tx is not None
    assert (tx.addr, tx.source, tx.transport) == (SERVER, ("10.0.0.2", 5000), "udp")
    first = Message.parse(tx.data)
    assert first.method == Method.ALLOCATE and first.message_class is MessageClass.REQUEST
    # §7.1: "The client MUST include a REQUESTED-TRANSPORT attribute"; §9.2.3.1: no credentials
    assert first.get(RequestedTransport) == RequestedTransport(17)
    assert first.get(Lifetime) == Lifetime(600)
    assert first.get(Username) is None and not first.has_integrity
    for reply in server.handle(tx.data):
        assert client.handle_datagram(reply, now=0.01) is None
    exchange(client, server, 0.02)
    second = server.requests[-1]
    assert second.get(Username) == Username(USER) and second.get(Realm) == Realm(REALM)
    assert second.check_integrity(long_term_key(USER, REALM, PASSWORD))
    assert second.transaction_id != first.transaction_id
    assert events(client) == [Allocated(RELAYED, MAPPED, 600)]
    assert client.state is TurnState.ALLOCATED
    assert (client.relayed_address, client.mapped_address) == (RELAYED, MAPPED)
    states = [f["new"] for name, f in trace.events if name == "ice.turn.state"]
    assert states == ["allocating", "allocated"]


def test_allocate_uses_sha256_when_offered() -> None:
    server = FakeTurnServer(algorithms=(PasswordAlgorithmId.SHA256, PasswordAlgorithmId.MD5))
    client, _ = allocated(server)
    signed = server.requests[-1]
    assert signed.get(PasswordAlgorithm) == PasswordAlgorithm(PasswordAlgorithmId.SHA256)
    assert signed.get(MessageIntegritySha256) is not None
    key = long_term_key(USER, REALM, PASSWORD, PasswordAlgorithmId.SHA256)
    assert signed.check_integrity_sha256(key)
    # later requests on the allocation reuse the cached realm/nonce/algorithm (RFC 8489 §9.2.3.2)
    client.create_permission([PEER_A[0]], now=1.0)
    exchange(client, server, 1.0)
    perm = server.requests[-1]
    assert perm.method == Method.CREATE_PERMISSION and perm.check_integrity_sha256(key)
    assert PEER_A[0] in server.permissions


def test_allocate_dont_fragment_and_420_retry_without_it() -> None:
    server = FakeTurnServer(fail_once={Method.ALLOCATE})
    server.fail[Method.ALLOCATE] = (420, (UnknownAttributes((0x001A,)),))
    client = make_client(dont_fragment=True)
    client.allocate(now=0.0)
    exchange(client, server, 0.0)
    assert server.requests[1].get(DontFragment) is not None
    # §7.4 420: "MAY choose to retry the Allocate request without the DONT-FRAGMENT attribute"
    assert server.requests[-1].get(DontFragment) is None
    assert server.requests[-1].method == Method.ALLOCATE
    assert [type(e) for e in events(client)] == [Allocated]
    assert client.dont_fragment is False
    # a second 420 for the retry (no DONT-FRAGMENT in it) is final
    server = FakeTurnServer()
    server.fail[Method.ALLOCATE] = (420, (UnknownAttributes((0x001A,)),))
    client = make_client(dont_fragment=True)
    client.allocate(now=0.0)
    exchange(client, server, 0.0)
    assert events(client) == [AllocationFailed("420 Unknown Attribute", 420)]


@pytest.mark.parametrize("code", [437, 441, 442, 486, 508, 403, 400])
def test_allocate_error_codes_fail(code: int) -> None:
    server = FakeTurnServer()
    server.fail[Method.ALLOCATE] = (code, ())
    client = make_client()
    client.allocate(now=0.0)
    exchange(client, server, 0.0)
    [event] = events(client)
    assert isinstance(event, AllocationFailed) and event.code == code
    assert str(code) in event.reason
    assert client.state is TurnState.FAILED and client.poll_timeout() is None
    client.send(b"x", PEER_A, now=1.0)  # no allocation: dropped and counted, not raised
    assert client.stats.send_dropped == 1 and client.poll_transmit() is None


def test_allocate_300_reports_the_alternate_server() -> None:
    server = FakeTurnServer()
    server.fail[Method.ALLOCATE] = (300, (AlternateServer(("192.0.2.99", 3478)),))
    client = make_client()
    client.allocate(now=0.0)
    exchange(client, server, 0.0)
    [event] = events(client)
    assert isinstance(event, AllocationFailed) and event.code == 300
    assert "192.0.2.99:3478" in event.reason
    assert client.alternate_server == ("192.0.2.99", 3478)


def test_allocate_rejected_credentials_fail_with_401() -> None:
    server = FakeTurnServer()
    client = TurnClient(
        TurnServer(SERVER[0], SERVER[1], "udp", USER, "wrong"), random_bytes=SeededRandom(1)
    )
    client.allocate(now=0.0)
    exchange(client, server, 0.0)
    [event] = events(client)
    assert isinstance(event, AllocationFailed) and event.code == 401


def test_allocate_timeout_over_udp_retransmits_then_fails() -> None:
    server = FakeTurnServer(drop={Method.ALLOCATE})
    client = make_client()
    client.allocate(now=0.0)
    times = []
    now = 0.0
    while (deadline := client.poll_timeout()) is not None:
        now = deadline
        client.handle_timeout(now)
        exchange(client, server, now)
        times.append(now)
    assert len(server.requests) == 7  # RFC 8489 §6.2.1: Rc = 7
    [event] = events(client)
    assert event == AllocationFailed("timed out", None)
    assert now == pytest.approx(39.5)


def test_tcp_sends_once_and_times_out_after_ti() -> None:
    client = make_client("tcp")
    client.allocate(now=0.0)
    tx = client.poll_transmit()
    assert tx is not None and tx.transport == "tcp" and client.poll_transmit() is None
    assert client.poll_timeout() == pytest.approx(39.5)  # RFC 8489 §6.2.2 Ti
    client.handle_timeout(39.5)
    assert client.poll_transmit() is None
    assert events(client) == [AllocationFailed("timed out", None)]


def test_allocate_success_without_relayed_address_fails() -> None:
    client = make_client()
    client.allocate(now=0.0)
    exchange(client, FakeTurnServer(), 0.0)  # 401 round; now answer the signed request badly
    client2 = make_client()
    client2.allocate(now=0.0)
    request = Message.parse(client2.poll_transmit().data)  # type: ignore[union-attr]
    client2.handle_datagram(request.success_response(Lifetime(600)).serialize(), now=0.1)
    [event] = events(client2)
    assert isinstance(event, AllocationFailed) and "XOR-RELAYED-ADDRESS" in event.reason


def test_api_misuse_raises() -> None:
    client, _ = allocated()
    with pytest.raises(InvalidStateError):
        client.allocate(now=1.0)
    with pytest.raises(ValueError):
        client.create_permission(["example.org"], now=1.0)
    with pytest.raises(ValueError):
        client.send(b"x", ("not-an-ip", 1), now=1.0)
    with pytest.raises(ValueError):
        TurnClient(TurnServer("192.0.2.1", 3478, "sctp"))
    with pytest.raises(ValueError):
        TurnClient(TurnServer("192.0.2.1", 3478), lifetime=0)


# --- Refresh (RFC 8656 §8) ---------------------------------------------------------------------


def test_refresh_one_minute_before_expiry_and_438_stale_nonce() -> None:
    client, server = allocated()
    assert client.poll_timeout() == pytest.approx(540.0)
    client.handle_timeout(539.0)
    assert client.poll_transmit() is None
    server.stale_nonce = True
    client.handle_timeout(540.0)
    exchange(client, server, 540.0)
    refreshes = [m for m in server.requests if m.method == Method.REFRESH]
    assert len(refreshes) == 2  # 438, then the retry with the new nonce (RFC 8489 §9.2.5)
    assert refreshes[1].get(Nonce) == Nonce(server.nonce)
    assert refreshes[0].get(Lifetime) == Lifetime(600)
    assert events(client) == []
    assert client.state is TurnState.ALLOCATED
    assert client.poll_timeout() == pytest.approx(1080.0)


def test_short_lifetime_refreshes_at_half() -> None:
    client, _ = allocated(FakeTurnServer(lifetime=100))
    assert client.allocation_lifetime == 100
    assert client.poll_timeout() == pytest.approx(50.0)


def test_refresh_failure_closes() -> None:
    client, server = allocated()
    server.fail[Method.REFRESH] = (437, ())
    client.handle_timeout(540.0)
    exchange(client, server, 540.0)
    [event] = events(client)
    assert isinstance(event, TurnClosed) and "437" in event.reason
    assert client.state is TurnState.CLOSED and client.poll_timeout() is None


def test_refresh_timeout_closes_before_expiry() -> None:
    client, server = allocated()
    server.drop.add(Method.REFRESH)
    now = 540.0
    client.handle_timeout(now)
    while client.state is TurnState.ALLOCATED:
        deadline = client.poll_timeout()
        assert deadline is not None and deadline <= 600.0
        now = deadline
        client.handle_timeout(now)
        exchange(client, server, now)
    assert events(client) == [TurnClosed("refresh failed: timed out")]
    assert now == pytest.approx(579.5)


def test_close_deallocates() -> None:
    trace = TraceRecorder()
    client, server = allocated(trace=trace)
    client.close(now=10.0)
    assert client.state is TurnState.CLOSING
    exchange(client, server, 10.0)
    refresh = server.requests[-1]
    assert refresh.method == Method.REFRESH and refresh.get(Lifetime) == Lifetime(0)
    assert events(client) == [TurnClosed("deallocated")]
    assert client.state is TurnState.CLOSED and client.poll_timeout() is None
    client.close(now=11.0)  # idempotent
    assert client.poll_transmit() is None and events(client) == []
    states = [f["new"] for name, f in trace.events if name == "ice.turn.state"]
    assert states == ["allocating", "allocated", "closing", "closed"]


def test_close_437_counts_as_deallocated() -> None:
    client, server = allocated()
    server.fail[Method.REFRESH] = (437, ())
    client.close(now=10.0)
    exchange(client, server, 10.0)
    assert events(client) == [TurnClosed("deallocated")]


def test_close_unanswered_gives_up_quickly() -> None:
    client, server = allocated()
    server.drop.add(Method.REFRESH)
    client.close(now=10.0)
    now = 10.0
    while (deadline := client.poll_timeout()) is not None:
        now = deadline
        client.handle_timeout(now)
        exchange(client, server, now)
    [event] = events(client)
    assert isinstance(event, TurnClosed) and "timed out" in event.reason
    assert now - 10.0 < 5.0


def test_close_before_allocation() -> None:
    client = make_client()
    client.allocate(now=0.0)
    client.close(now=0.1)
    assert client.state is TurnState.CLOSED
    assert [type(e) for e in events(client)] == [TurnClosed]
    assert client.poll_timeout() is None


# --- permissions, Send/Data indications (RFC 8656 §9-11) ---------------------------------------


def test_create_permission_several_peers_in_one_request() -> None:
    client, server = allocated()
    client.create_permission([PEER_A[0], PEER_B[0], "2001:DB8::1"], now=1.0)
    [data] = sent(client)
    request = Message.parse(data)
    assert request.method == Method.CREATE_PERMISSION
    peers = [a.address for a in request.get_all(XorPeerAddress)]
    assert peers == [(PEER_A[0], 0), (PEER_B[0], 0), ("2001:db8::1", 0)]
    for reply in server.handle(data):
        client.handle_datagram(reply, now=1.0)
    assert client.has_permission(PEER_A[0]) and client.has_permission("2001:db8:0::1")


def test_permission_before_allocation_waits_for_it() -> None:
    server = FakeTurnServer()
    client = make_client()
    client.create_permission([PEER_A[0]], now=0.0)
    assert client.poll_transmit() is None
    client.allocate(now=0.0)
    exchange(client, server, 0.0)
    assert PEER_A[0] in server.permissions and client.has_permission(PEER_A[0])


def test_send_before_permission_is_queued_then_flushed_send_indications() -> None:
    client, server = allocated(channels=False)
    client.send(b"one", PEER_A, now=1.0)
    client.send(b"two", PEER_A, now=1.0)
    out = sent(client)
    assert len(out) == 1 and Message.parse(out[0]).method == Method.CREATE_PERMISSION
    assert client.stats.queued == 2
    for reply in server.handle(out[0]):
        client.handle_datagram(reply, now=1.1)
    exchange(client, server, 1.1)
    assert server.sent == [(PEER_A, b"one"), (PEER_A, b"two")]
    client.send(b"three", PEER_A, now=2.0)
    exchange(client, server, 2.0)
    assert server.sent[-1] == (PEER_A, b"three") and client.stats.sent_indications == 3
    # §11.4: a Data indication from a permitted peer is delivered ...
    got = client.handle_datagram(server.data_indication(PEER_A, b"back"), now=2.1)
    assert got == (b"back", PEER_A)
    # ... and one from a peer without a permission is dropped and counted
    assert client.handle_datagram(server.data_indication(PEER_B, b"x"), now=2.1) is None
    assert client.stats.no_permission == 1 and client.stats.data_indications == 1


def test_send_indication_carries_dont_fragment_when_asked() -> None:
    client, server = allocated(channels=False, dont_fragment=True)
    client.create_permission([PEER_A[0]], now=1.0)
    exchange(client, server, 1.0)
    client.send(b"df", PEER_A, now=1.0)
    [data] = sent(client)
    message = Message.parse(data)
    assert message.message_class is MessageClass.INDICATION and message.method == Method.SEND
    assert message.get(DontFragment) is not None and message.get(Data) == Data(b"df")
    assert not message.has_integrity


def test_permission_failure_reports_and_drops_queued_data() -> None:
    client, server = allocated(channels=False)
    server.fail[Method.CREATE_PERMISSION] = (403, ())
    client.send(b"x", PEER_A, now=1.0)
    client.send(b"y", PEER_A, now=1.0)
    exchange(client, server, 1.0)
    [event] = events(client)
    assert isinstance(event, PermissionFailed) and event.peer_ip == PEER_A[0]
    assert "403" in event.reason
    assert client.stats.queue_dropped == 2 and server.sent == []
    assert client.state is TurnState.ALLOCATED


def test_send_queue_is_bounded() -> None:
    client, server = allocated(channels=False, max_queue=3)
    server.drop.add(Method.CREATE_PERMISSION)
    for i in range(5):
        client.send(bytes([i]), PEER_A, now=1.0)
    assert client.stats.queued == 3 and client.stats.queue_overflow == 2


def test_permission_refreshed_while_in_use_and_lapses_when_idle() -> None:
    client, server = allocated(channels=False)
    client.create_permission([PEER_A[0], PEER_B[0]], now=0.0)
    exchange(client, server, 0.0)
    client.send(b"a", PEER_A, now=100.0)  # only A is used
    exchange(client, server, 100.0)
    assert client.poll_timeout() == pytest.approx(240.0)
    client.handle_timeout(240.0)
    [data] = sent(client)
    request = Message.parse(data)
    assert [a.address[0] for a in request.get_all(XorPeerAddress)] == [PEER_A[0]]
    for reply in server.handle(data):
        client.handle_datagram(reply, now=240.0)
    client.handle_timeout(300.0)  # B was never used: it lapses like the server's (§9)
    assert client.has_permission(PEER_A[0]) and not client.has_permission(PEER_B[0])


# --- channels (RFC 8656 §12) -------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_channel_bind_and_channel_data_both_ways(transport: str) -> None:
    server = FakeTurnServer(stream=transport != "udp")
    client, _ = allocated(server, transport=transport)
    client.send(b"hello", PEER_A, now=1.0)  # queued; ChannelBind installs channel + permission
    [data] = sent(client)
    bind = Message.parse(data)
    assert bind.method == Method.CHANNEL_BIND
    assert bind.get(ChannelNumber) == ChannelNumber(0x4000)
    assert bind.get(XorPeerAddress) == XorPeerAddress(PEER_A)
    for reply in server.handle(data):
        client.handle_datagram(reply, now=1.1)
    txs = []
    while (tx := client.poll_transmit()) is not None:
        txs.append(tx)
    [tx] = txs
    assert tx.transport == transport and tx.addr == SERVER
    # §12.5: "Over TCP and TLS-over-TCP, the ChannelData message MUST be padded"
    assert tx.data == b"\x40\x00\x00\x05hello" + (b"\x00\x00\x00" if transport != "udp" else b"")
    server.handle(tx.data)
    assert server.channel_data == [(0x4000, b"hello")]
    assert client.channel_for(PEER_A) == 0x4000 and client.has_permission(PEER_A[0])
    got = client.handle_datagram(server.channel_message(PEER_A, b"world!"), now=1.2)
    assert got == (b"world!", PEER_A)
    assert client.stats.channel_data_in == 1 and client.stats.sent_channel_data == 1


def test_second_peer_gets_next_channel_and_send_indication_meanwhile() -> None:
    client, server = allocated()
    client.create_permission([PEER_B[0]], now=1.0)
    exchange(client, server, 1.0)
    client.send(b"b1", PEER_B, now=2.0)  # permission installed: Send indication + ChannelBind
    out = sent(client)
    assert [Message.parse(d).method for d in out] == [Method.SEND, Method.CHANNEL_BIND]
    for d in out:
        for reply in server.handle(d):
            client.handle_datagram(reply, now=2.0)
    assert server.sent == [(PEER_B, b"b1")] and client.channel_for(PEER_B) == 0x4000
    client.send(b"a1", PEER_A, now=3.0)
    exchange(client, server, 3.0)
    assert client.channel_for(PEER_A) == 0x4001
    assert server.channel_data == [(0x4001, b"a1")]


def test_channel_bind_failure_falls_back_to_send_indications() -> None:
    client, server = allocated()
    server.fail[Method.CHANNEL_BIND] = (400, ())
    client.send(b"x", PEER_A, now=1.0)
    exchange(client, server, 1.0)
    assert client.channel_for(PEER_A) is None
    assert server.sent == [(PEER_A, b"x")] and events(client) == []
    client.send(b"y", PEER_A, now=2.0)
    exchange(client, server, 2.0)
    assert server.sent[-1] == (PEER_A, b"y")
    assert [m.method for m in server.requests].count(Method.CHANNEL_BIND) == 1


def test_channel_refresh_and_permission_refresh_while_in_use() -> None:
    client, server = allocated()
    client.send(b"x", PEER_A, now=0.0)
    exchange(client, server, 0.0)
    # keep the channel busy; permission refresh at 240 s, channel rebinding at 540 s
    methods: list[int] = []
    now = 0.0
    for step in range(1, 60):
        now = step * 10.0
        client.send(b"k", PEER_A, now=now)
        client.handle_timeout(now)
        before = len(server.requests)
        exchange(client, server, now)
        methods += [(now, m.method) for m in server.requests[before:]]  # type: ignore[misc]
    assert (240.0, Method.CREATE_PERMISSION) in methods
    assert (480.0, Method.CREATE_PERMISSION) in methods
    assert (540.0, Method.CHANNEL_BIND) in methods
    assert (540.0, Method.REFRESH) in methods
    assert client.channel_for(PEER_A) == 0x4000 and client.has_permission(PEER_A[0])
    assert events(client) == []


def test_idle_channel_expires_and_number_is_quarantined() -> None:
    client, server = allocated()
    client.send(b"x", PEER_A, now=0.0)  # bound at 0 and used: rebound at 540, then idle
    exchange(client, server, 0.0)
    binds = []
    now = 0.0
    while client.channel_for(PEER_A) is not None:
        deadline = client.poll_timeout()
        assert deadline is not None
        now = deadline
        client.handle_timeout(now)
        before = len(server.requests)
        exchange(client, server, now)
        binds += [now for m in server.requests[before:] if m.method == Method.CHANNEL_BIND]
    assert binds == [540.0] and now == pytest.approx(1140.0)
    # §12: "the client MUST wait 5 minutes after the channel binding expires before attempting
    # to bind the channel number to a different transport address"
    client.send(b"y", PEER_B, now=now)
    exchange(client, server, now)
    assert client.channel_for(PEER_B) == 0x4001
    # ... "or the transport address to a different channel number": A goes by Send indication
    client.send(b"z", PEER_A, now=now)
    exchange(client, server, now)
    assert client.channel_for(PEER_A) is None and server.sent[-1] == (PEER_A, b"z")
    later = now + 300.0
    client.handle_timeout(later)
    exchange(client, server, later)
    client.send(b"w", PEER_A, now=later)
    exchange(client, server, later)
    assert client.channel_for(PEER_A) is not None


def test_unknown_channel_and_garbage_are_counted_not_raised() -> None:
    client, _ = allocated()
    before = client.stats.datagrams
    inputs = [
        b"",
        b"\x40",
        b"\x40\x00\x00\x10abc",  # claims 16 bytes
        b"\x50\x00\x00\x00",  # reserved channel range
        ChannelData(0x4ABC, b"nobody").serialize(),
        b"\x17\xfe\xfd" + b"\x00" * 20,  # DTLS
        b"\x00\x01\x00\x00" + b"\x00" * 16,  # bad cookie
        Message(Method.BINDING, MessageClass.REQUEST, b"r" * 12).serialize(),
        Message(Method.DATA, MessageClass.INDICATION, b"d" * 12, (Data(b"x"),)).serialize(),
        Message(Method.ALLOCATE, MessageClass.SUCCESS, b"u" * 12).serialize(),  # unmatched
    ]
    for data in inputs:
        assert client.handle_datagram(data, now=1.0) is None
    stats = client.stats
    assert stats.datagrams - before == len(inputs)
    # §12 Table 3: first bytes outside [0..3] and [64..79] "MUST be dropped" (0x50 included)
    assert stats.garbage == 3 and stats.parse_errors == 3 and stats.unknown_channel == 1
    assert stats.unexpected == 1 and stats.bad_data_indications == 1
    assert client.stun_stats.unmatched == 1
    assert client.state is TurnState.ALLOCATED and events(client) == []


def test_forged_response_is_dropped() -> None:
    client = make_client()
    server = FakeTurnServer()
    client.allocate(now=0.0)
    exchange(client, server, 0.0)
    events(client)
    client.create_permission([PEER_A[0]], now=1.0)
    [data] = sent(client)
    request = Message.parse(data)
    forged = request.success_response().serialize(integrity_key=b"wrong", fingerprint=True)
    client.handle_datagram(forged, now=1.0)
    assert client.stun_stats.integrity_failures == 1 and not client.has_permission(PEER_A[0])


# --- RFC 8656 §20 example flow -----------------------------------------------------------------


def test_example_flow_vector_builds_and_parses_back() -> None:
    vector = load(8656, "example-flow")
    assert (vector.rfc, vector.section, vector.kind) == (8656, "20", "turn-example-flow")
    assert CHECKERS["turn-example-flow"] is check_example_flow
    assert check_example_flow(vector) == []
    messages = vector.expected["messages"]
    assert [m.get("method", "ChannelData") for m in messages] == [
        "ALLOCATE", "ALLOCATE", "ALLOCATE", "ALLOCATE",
        "CREATE_PERMISSION", "CREATE_PERMISSION", "SEND", "DATA",
        "CHANNEL_BIND", "CHANNEL_BIND", "ChannelData", "ChannelData",
        "CHANNEL_BIND", "CHANNEL_BIND", "REFRESH", "REFRESH", "REFRESH", "REFRESH",
    ]  # fmt: skip


def test_example_flow_checker_catches_a_wrong_field() -> None:
    vector = load(8656, "example-flow")
    for index, attr, bad in [
        (0, 1, 70000 * 70000 * 70000),  # LIFETIME beyond 32 bits: cannot be built
        (4, 0, "2001:DB8::1:0"),  # XOR-PEER-ADDRESS in a form that does not come back
        (0, 0, None),  # SOFTWARE without a value
    ]:
        messages = copy.deepcopy(list(vector.expected["messages"]))
        messages[index]["attributes"][attr]["value"] = bad
        broken = dataclasses.replace(vector, expected={"messages": messages})
        assert check_example_flow(broken) != [], (index, attr, bad)
    messages = copy.deepcopy(list(vector.expected["messages"]))
    messages[0]["attributes"].append({"name": "PRIORITY", "value": 1})
    assert check_example_flow(dataclasses.replace(vector, expected={"messages": messages}))


def test_example_flow_client_messages_match_the_rfc_shape() -> None:
    """Drive a TurnClient through the §20 server replies: the requests it builds carry the
    attributes the RFC shows for the client side (Figures 12, 13, 15, 18)."""
    server = FakeTurnServer(algorithms=(PasswordAlgorithmId.MD5, PasswordAlgorithmId.SHA256))
    client = make_client(dont_fragment=True, lifetime=3600, software="Example client 1.03")
    client.allocate(now=0.0)
    exchange(client, server, 0.0)
    first, second = server.requests[:2]
    names = [type(a).__name__ for a in first.attributes]
    assert names[:3] == ["RequestedTransport", "Lifetime", "DontFragment"]
    assert "Software" in names and "Username" not in names
    # RFC 8489 §9.2.5: the first supported algorithm in the server's list (MD5 here)
    assert second.get(PasswordAlgorithms) is not None and second.get(PasswordAlgorithm) == (
        PasswordAlgorithm(PasswordAlgorithmId.MD5)
    )
