"""The sans-IO StunClient: matching, drops, and the RFC 8489 §9.2 long-term mechanism against an
in-test fake server (https://www.rfc-editor.org/rfc/rfc8489#section-9.2.5)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcstack.common import SeededRandom, Transmit
from rtcstack.stun import (
    ErrorCode,
    LongTermCredentials,
    Message,
    MessageClass,
    Method,
    Nonce,
    PasswordAlgorithm,
    PasswordAlgorithmId,
    PasswordAlgorithms,
    PasswordAlgorithmSpec,
    Realm,
    RequestedTransport,
    UnknownAttribute,
    Userhash,
    Username,
    XorMappedAddress,
    long_term_key,
    make_nonce_cookie,
    userhash,
)
from rtcstack.stun.attributes import FEATURE_PASSWORD_ALGORITHMS, FEATURE_USERNAME_ANONYMITY
from rtcstack.stun.client import (
    FailureReason,
    RequestFailed,
    RequestTimedOut,
    ResponseReceived,
    StunClient,
)

SERVER = ("192.0.2.1", 3478)
CLIENT_ADDR = ("198.51.100.7", 40000)
USER, PASSWORD, REALM = "alice", "s3cret", "example.org"


@dataclass
class FakeServer:
    """A minimal RFC 8489 §9.2.4 long-term server, enough to exercise every client branch."""

    realm: str = REALM
    features: int | None = None  # nonce cookie features; None: no cookie (RFC 5389 style)
    algorithms: tuple[int, ...] | None = None  # PASSWORD-ALGORITHMS to offer
    password: str = PASSWORD
    nonce_counter: int = 0
    stale: set[str] = field(default_factory=set)  # nonces to answer with 438
    seen: list[Message] = field(default_factory=list)
    sign_with_wrong_key: bool = False

    def nonce(self) -> str:
        self.nonce_counter += 1
        cookie = make_nonce_cookie(self.features) if self.features is not None else ""
        return f"{cookie}nonce{self.nonce_counter}"

    def challenge(self, request: Message, code: int) -> Message:
        attrs: list[object] = [Realm(self.realm), Nonce(self.nonce())]
        if self.algorithms is not None:
            attrs.append(
                PasswordAlgorithms(tuple(PasswordAlgorithmSpec(a) for a in self.algorithms))
            )
        return request.error_response(code, "", *attrs)  # type: ignore[arg-type]

    def key_for(self, request: Message) -> bytes:
        alg = request.get(PasswordAlgorithm)
        algorithm = alg.algorithm if alg is not None else PasswordAlgorithmId.MD5
        username = request.get(Username)
        name = username.value if username is not None else USER
        return long_term_key(name, self.realm, self.password, algorithm)

    def handle(self, data: bytes) -> bytes:
        request = Message.parse(data)
        self.seen.append(request)
        if not request.has_integrity:
            return self.challenge(request, 401).serialize(fingerprint=True)
        nonce = request.get(Nonce)
        if nonce is not None and nonce.value in self.stale:
            return self.challenge(request, 438).serialize(fingerprint=True)
        key = self.key_for(request)
        sha256 = request.offsets[1] >= 0
        ok = request.check_integrity_sha256(key) if sha256 else request.check_integrity(key)
        if not ok:
            return self.challenge(request, 401).serialize(fingerprint=True)
        response = request.success_response(XorMappedAddress(CLIENT_ADDR))
        sign = b"wrong key" if self.sign_with_wrong_key else key
        if sha256:
            return response.serialize(integrity_sha256_key=sign, fingerprint=True)
        return response.serialize(integrity_key=sign, fingerprint=True)


def exchange(client: StunClient, server: FakeServer, now: float = 0.0, limit: int = 10) -> int:
    """Carry every transmit to ``server`` and its answer back; return how many were sent."""
    sent = 0
    while (tx := client.poll_transmit()) is not None and sent < limit:
        sent += 1
        client.handle_datagram(server.handle(tx.data), tx.addr, now=now)
    return sent


_TIDS = SeededRandom("requests")


def binding() -> Message:
    return Message.new(Method.BINDING, MessageClass.REQUEST, random_bytes=_TIDS)


def make_client(**kwargs: object) -> StunClient:
    return StunClient(random_bytes=SeededRandom(7), **kwargs)  # type: ignore[arg-type]


# --- plain requests, matching and drops -----------------------------------------------------


def test_binding_success_event_carries_id_request_and_source() -> None:
    client = make_client()
    request = binding()
    tid = client.request(request, SERVER, now=0.0)
    assert tid == request.transaction_id
    tx = client.poll_transmit()
    assert isinstance(tx, Transmit) and tx.addr == SERVER
    sent = Message.parse(tx.data)
    assert sent.transaction_id == tid and sent.check_fingerprint()
    response = sent.success_response(XorMappedAddress(CLIENT_ADDR))
    other_addr = ("192.0.2.2", 3479)  # RFC 5780 CHANGE-REQUEST answers come from elsewhere
    client.handle_datagram(response.serialize(), other_addr, now=0.1)
    event = client.poll_event()
    assert isinstance(event, ResponseReceived)
    assert event.transaction_id == tid and event.request is request and event.addr == other_addr
    assert event.response.get(XorMappedAddress) == XorMappedAddress(CLIENT_ADDR)
    assert client.poll_event() is None and client.pending == 0 and client.poll_timeout() is None
    assert client.stats.responses == 1


def test_error_response_without_credentials_is_a_failure() -> None:
    client = make_client()
    client.request(binding(), SERVER, now=0.0)
    sent = Message.parse(client.poll_transmit().data)  # type: ignore[union-attr]
    client.handle_datagram(sent.error_response(420).serialize(), SERVER, now=0.1)
    event = client.poll_event()
    assert isinstance(event, RequestFailed)
    assert event.reason is FailureReason.ERROR_RESPONSE and event.error_code == 420
    assert "420" in event.detail


def test_garbage_unmatched_and_requests_are_dropped_and_counted() -> None:
    client = make_client()
    client.request(binding(), SERVER, now=0.0)
    sent = Message.parse(client.poll_transmit().data)  # type: ignore[union-attr]
    client.handle_datagram(b"\x00\x01garbage", SERVER, now=0.1)
    client.handle_datagram(b"", SERVER, now=0.1)
    stranger = Message(Method.BINDING, MessageClass.SUCCESS, b"\x01" * 12)
    client.handle_datagram(stranger.serialize(), SERVER, now=0.1)
    client.handle_datagram(sent.serialize(), SERVER, now=0.1)  # a request, not a response
    bad_fp = bytearray(sent.success_response().serialize(fingerprint=True))
    bad_fp[-1] ^= 1
    client.handle_datagram(bytes(bad_fp), SERVER, now=0.1)
    assert client.poll_event() is None and client.pending == 1
    s = client.stats
    assert (s.datagrams, s.parse_errors, s.unmatched, s.not_responses, s.bad_fingerprint) == (
        5,
        2,
        1,
        1,
        1,
    )
    # The genuine response still completes it; a duplicate afterwards is unmatched.
    good = sent.success_response().serialize(fingerprint=True)
    client.handle_datagram(good, SERVER, now=0.2)
    assert isinstance(client.poll_event(), ResponseReceived)
    client.handle_datagram(good, SERVER, now=0.3)
    assert client.stats.unmatched == 2 and client.poll_event() is None


@given(st.binary(max_size=200))
def test_any_bytes_never_raise(data: bytes) -> None:
    client = make_client()
    client.request(binding(), SERVER, now=0.0)
    client.handle_datagram(data, SERVER, now=0.1)
    client.handle_datagram(b"\x01\x01\x00\x00\x21\x12\xa4\x42" + data[:12].ljust(12), SERVER, now=0)


def test_many_transactions_on_one_loop() -> None:
    client = make_client()
    rng = SeededRandom("many")
    ids = [
        client.request(
            Message.new(Method.BINDING, MessageClass.REQUEST, random_bytes=rng),
            SERVER,
            now=float(i),
            rto=0.5,
            rc=2,
            rm=2,
        )
        for i in range(3)
    ]
    assert len({client.poll_transmit() for _ in range(3)}) == 3  # type: ignore[misc]
    assert client.poll_transmit() is None
    assert client.poll_timeout() == 0.5
    client.handle_timeout(0.5)  # first retransmits
    tx = client.poll_transmit()
    assert tx is not None and Message.parse(tx.data).transaction_id == ids[0]
    # Answer the second one; time out the others.
    msg = Message(Method.BINDING, MessageClass.REQUEST, ids[1])
    client.handle_datagram(msg.success_response().serialize(), SERVER, now=1.2)
    now = 1.2
    events = [client.poll_event()]
    while (deadline := client.poll_timeout()) is not None:
        now = deadline
        client.handle_timeout(now)
        while client.poll_transmit() is not None:
            pass
        while (e := client.poll_event()) is not None:
            events.append(e)
    kinds = {e.transaction_id: type(e) for e in events if e is not None}
    assert kinds == {ids[0]: RequestTimedOut, ids[1]: ResponseReceived, ids[2]: RequestTimedOut}
    assert now == 2.0 + 0.5 + 1.0  # third started at 2.0: sends at 2.0, 2.5; fails 2*0.5 later


def test_duplicate_transaction_id_is_refused() -> None:
    client = make_client()
    request = binding()
    client.request(request, SERVER, now=0.0)
    with pytest.raises(Exception, match="already in progress"):
        client.request(request, SERVER, now=0.0)
    with pytest.raises(ValueError):
        client.request(request.success_response(), SERVER, now=0.0)
    with pytest.raises(ValueError):
        client.request(
            binding(),
            SERVER,
            now=0.0,
            credentials=LongTermCredentials(USER, PASSWORD),
            integrity_key=b"k",
        )


def test_cancel_and_abort() -> None:
    client = make_client()
    a = client.request(binding(), SERVER, now=0.0)
    assert client.cancel(a) and not client.cancel(a)
    assert client.poll_timeout() is None and client.poll_event() is None
    b = client.request(binding(), SERVER, now=0.0, reliable=True)
    client.abort("connection reset")
    event = client.poll_event()
    assert isinstance(event, RequestFailed) and event.transaction_id == b
    assert event.reason is FailureReason.ABORTED and event.detail == "connection reset"


def test_unknown_comprehension_required_attribute_fails() -> None:
    client = make_client()
    client.request(binding(), SERVER, now=0.0)
    sent = Message.parse(client.poll_transmit().data)  # type: ignore[union-attr]
    response = sent.success_response(UnknownAttribute(0x7F01, b"\x00\x00\x00\x00"))
    client.handle_datagram(response.serialize(), SERVER, now=0.1)
    event = client.poll_event()
    assert isinstance(event, RequestFailed)
    assert event.reason is FailureReason.UNKNOWN_ATTRIBUTES and "0x7f01" in event.detail


# --- short-term credentials (§9.1) ------------------------------------------------------------


def test_short_term_signs_and_verifies() -> None:
    key = b"remote-ice-pwd"
    client = make_client()
    request = Message.new(
        Method.BINDING, MessageClass.REQUEST, [Username("a:b")], random_bytes=SeededRandom(3)
    )
    client.request(request, SERVER, now=0.0, integrity_key=key)
    sent = Message.parse(client.poll_transmit().data)  # type: ignore[union-attr]
    assert sent.get(Username) == Username("a:b") and sent.check_integrity(key)
    unsigned = sent.success_response().serialize()
    forged = sent.success_response().serialize(integrity_key=b"other")
    client.handle_datagram(unsigned, SERVER, now=0.1)
    client.handle_datagram(forged, SERVER, now=0.1)
    assert client.poll_event() is None and client.stats.integrity_failures == 2
    client.handle_datagram(sent.success_response().serialize(integrity_key=key), SERVER, now=0.2)
    assert isinstance(client.poll_event(), ResponseReceived)


def test_only_forged_responses_signal_integrity_violation_not_timeout() -> None:
    key = b"k"
    client = make_client()
    client.request(binding(), SERVER, now=0.0, integrity_key=key, rc=2, rm=1)
    sent = Message.parse(client.poll_transmit().data)  # type: ignore[union-attr]
    client.handle_datagram(sent.success_response().serialize(integrity_key=b"x"), SERVER, now=0)
    client.handle_timeout(0.5)
    client.handle_timeout(1.0)
    event = client.poll_event()
    assert isinstance(event, RequestFailed) and event.reason is FailureReason.INTEGRITY_VIOLATED


def test_reliable_transport_ends_at_once_on_integrity_failure() -> None:
    client = make_client()
    client.request(binding(), SERVER, now=0.0, integrity_key=b"k", reliable=True)
    sent = Message.parse(client.poll_transmit().data)  # type: ignore[union-attr]
    client.handle_datagram(sent.success_response().serialize(integrity_key=b"x"), SERVER, now=0)
    event = client.poll_event()
    assert isinstance(event, RequestFailed) and event.reason is FailureReason.INTEGRITY_VIOLATED
    assert event.response is not None and client.pending == 0


# --- long-term credentials (§9.2) -------------------------------------------------------------


def test_long_term_classic_md5_flow_and_cache() -> None:
    server = FakeServer()
    client = make_client()
    creds = LongTermCredentials(USER, PASSWORD)
    tid = client.request(binding(), SERVER, now=0.0, credentials=creds)
    assert exchange(client, server) == 2
    first, second = server.seen
    # §9.2.3.1: the first request carries no credentials at all.
    assert [a.NAME for a in first.attributes] == ["FINGERPRINT"] and not first.has_integrity
    # §9.2.5: the retry is a new transaction with USERNAME, REALM, NONCE, MESSAGE-INTEGRITY.
    assert second.transaction_id != tid
    assert second.get(Username) == Username(USER) and second.get(Realm) == Realm(REALM)
    assert second.get(Nonce) == Nonce("nonce1")
    assert second.get(PasswordAlgorithm) is None and second.get(PasswordAlgorithms) is None
    assert second.check_integrity(long_term_key(USER, REALM, PASSWORD))
    assert second.offsets[1] < 0
    event = client.poll_event()
    assert isinstance(event, ResponseReceived) and event.transaction_id == tid
    assert event.response.transaction_id == second.transaction_id
    assert client.stats.retries == 1
    # §9.2.3.2: a subsequent request goes out signed with the cached realm and nonce at once.
    allocate = Message.new(
        Method.ALLOCATE,
        MessageClass.REQUEST,
        [RequestedTransport(17)],
        random_bytes=SeededRandom("a"),
    )
    client.request(allocate, SERVER, now=1.0, credentials=creds)
    assert exchange(client, server) == 1
    third = server.seen[-1]
    assert third.get(Nonce) == Nonce("nonce1") and third.get(RequestedTransport) is not None
    assert isinstance(client.poll_event(), ResponseReceived)


def test_sha256_chosen_and_password_algorithms_echoed() -> None:
    features = FEATURE_PASSWORD_ALGORITHMS
    server = FakeServer(
        features=features, algorithms=(PasswordAlgorithmId.SHA256, PasswordAlgorithmId.MD5)
    )
    client = make_client()
    client.request(binding(), SERVER, now=0.0, credentials=LongTermCredentials(USER, PASSWORD))
    assert exchange(client, server) == 2
    retry = server.seen[1]
    challenge_algs = PasswordAlgorithms(
        (PasswordAlgorithmSpec(PasswordAlgorithmId.SHA256), PasswordAlgorithmSpec(1))
    )
    assert retry.get(PasswordAlgorithms) == challenge_algs  # echoed exactly (bid-down check)
    assert retry.get(PasswordAlgorithm) == PasswordAlgorithm(PasswordAlgorithmId.SHA256)
    key = long_term_key(USER, REALM, PASSWORD, PasswordAlgorithmId.SHA256)
    assert retry.offsets[0] < 0 and retry.check_integrity_sha256(key)
    assert retry.get(Nonce).value.startswith(make_nonce_cookie(features))  # type: ignore[union-attr]
    assert isinstance(client.poll_event(), ResponseReceived)


def test_first_supported_algorithm_on_the_list_is_picked() -> None:
    server = FakeServer(
        features=FEATURE_PASSWORD_ALGORITHMS,
        algorithms=(0x7777, PasswordAlgorithmId.MD5, PasswordAlgorithmId.SHA256),
    )
    client = make_client()
    client.request(binding(), SERVER, now=0.0, credentials=LongTermCredentials(USER, PASSWORD))
    exchange(client, server)
    retry = server.seen[1]
    assert retry.get(PasswordAlgorithm) == PasswordAlgorithm(PasswordAlgorithmId.MD5)
    # With PASSWORD-ALGORITHMS present the request uses MESSAGE-INTEGRITY-SHA256 (§9.2.5).
    assert retry.check_integrity_sha256(long_term_key(USER, REALM, PASSWORD))
    assert isinstance(client.poll_event(), ResponseReceived)


def test_no_supported_algorithm_means_no_retry() -> None:
    server = FakeServer(features=FEATURE_PASSWORD_ALGORITHMS, algorithms=(0x7777,))
    client = make_client()
    client.request(binding(), SERVER, now=0.0, credentials=LongTermCredentials(USER, PASSWORD))
    assert exchange(client, server) == 1
    event = client.poll_event()
    assert isinstance(event, RequestFailed) and event.error_code == 401
    assert "algorithm" in event.detail


def test_bid_down_detected_no_retry() -> None:
    # The cookie announces PASSWORD-ALGORITHMS but an attacker stripped the attribute.
    server = FakeServer(features=FEATURE_PASSWORD_ALGORITHMS, algorithms=None)
    client = make_client()
    client.request(binding(), SERVER, now=0.0, credentials=LongTermCredentials(USER, PASSWORD))
    assert exchange(client, server) == 1
    event = client.poll_event()
    assert isinstance(event, RequestFailed) and event.error_code == 401
    assert "bid-down" in event.detail and client.stats.ignored_bid_down == 1


def test_username_anonymity_uses_userhash() -> None:
    server = FakeServer(features=FEATURE_USERNAME_ANONYMITY)
    client = make_client()
    client.request(binding(), SERVER, now=0.0, credentials=LongTermCredentials(USER, PASSWORD))
    exchange(client, server)
    retry = server.seen[1]
    assert retry.get(Username) is None
    assert retry.get(Userhash) == Userhash(userhash(USER, REALM))
    assert isinstance(client.poll_event(), ResponseReceived)


def test_wrong_password_retries_401_only_once() -> None:
    server = FakeServer(password="not-the-one")
    client = make_client()
    client.request(binding(), SERVER, now=0.0, credentials=LongTermCredentials(USER, PASSWORD))
    assert exchange(client, server) == 2
    event = client.poll_event()
    assert isinstance(event, RequestFailed)
    assert event.reason is FailureReason.ERROR_RESPONSE and event.error_code == 401
    assert client.pending == 0 and client.poll_transmit() is None


def test_401_without_credentials_is_delivered() -> None:
    client = make_client()
    client.request(binding(), SERVER, now=0.0)
    assert exchange(client, FakeServer()) == 1
    event = client.poll_event()
    assert isinstance(event, RequestFailed) and event.error_code == 401


def test_stale_nonce_retried_once_with_new_nonce() -> None:
    server = FakeServer(stale={"nonce1"})  # the nonce of the 401 is already stale
    client = make_client()
    client.request(binding(), SERVER, now=0.0, credentials=LongTermCredentials(USER, PASSWORD))
    assert exchange(client, server) == 3
    nonces = [m.get(Nonce) for m in server.seen]
    assert nonces == [None, Nonce("nonce1"), Nonce("nonce2")]
    assert isinstance(client.poll_event(), ResponseReceived)
    assert client.stats.retries == 2


def test_second_stale_nonce_is_a_failure() -> None:
    server = FakeServer()
    server.stale = {"nonce1", "nonce2", "nonce3"}
    client = make_client()
    client.request(binding(), SERVER, now=0.0, credentials=LongTermCredentials(USER, PASSWORD))
    assert exchange(client, server) == 3
    event = client.poll_event()
    assert isinstance(event, RequestFailed) and event.error_code == 438


def test_forged_response_to_long_term_request_is_dropped() -> None:
    server = FakeServer(sign_with_wrong_key=True)
    client = make_client()
    client.request(
        binding(), SERVER, now=0.0, credentials=LongTermCredentials(USER, PASSWORD), rc=2, rm=1
    )
    exchange(client, server)
    assert client.poll_event() is None and client.stats.integrity_failures == 1
    assert client.pending == 1  # retransmissions continue (§9.2.5)
    client.handle_timeout(0.5)
    tx = client.poll_transmit()
    assert tx is not None
    server.sign_with_wrong_key = False
    client.handle_datagram(server.handle(tx.data), SERVER, now=0.6)
    assert isinstance(client.poll_event(), ResponseReceived)


def test_unsigned_400_to_long_term_request_is_discarded() -> None:
    server = FakeServer()
    client = make_client()
    client.request(binding(), SERVER, now=0.0, credentials=LongTermCredentials(USER, PASSWORD))
    first = client.poll_transmit()
    assert first is not None
    client.handle_datagram(server.handle(first.data), SERVER, now=0.0)  # 401 -> retry
    retry = client.poll_transmit()
    assert retry is not None
    bad = Message.parse(retry.data).error_response(400)
    client.handle_datagram(bad.serialize(), SERVER, now=0.1)
    assert client.poll_event() is None and client.pending == 1


def test_error_response_signed_is_delivered() -> None:
    server = FakeServer()
    client = make_client()
    creds = LongTermCredentials(USER, PASSWORD)
    client.request(binding(), SERVER, now=0.0, credentials=creds)
    first = client.poll_transmit()
    client.handle_datagram(server.handle(first.data), SERVER, now=0.0)  # type: ignore[union-attr]
    retry = Message.parse(client.poll_transmit().data)  # type: ignore[union-attr]
    key = long_term_key(USER, REALM, PASSWORD)
    err = retry.error_response(437).serialize(integrity_key=key)
    client.handle_datagram(err, SERVER, now=0.1)
    event = client.poll_event()
    assert isinstance(event, RequestFailed) and event.error_code == 437
    assert event.response is not None and event.response.get(ErrorCode) is not None


def test_cache_is_not_used_with_another_password() -> None:
    server = FakeServer()
    client = make_client()
    client.request(binding(), SERVER, now=0.0, credentials=LongTermCredentials(USER, PASSWORD))
    exchange(client, server)
    assert isinstance(client.poll_event(), ResponseReceived)
    client.request(binding(), SERVER, now=1.0, credentials=LongTermCredentials(USER, "other"))
    first = client.poll_transmit()
    assert first is not None and not Message.parse(first.data).has_integrity  # a first request
