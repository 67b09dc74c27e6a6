"""The sans-IO StunServer fed crafted requests: RFC 8489 §6.3 (https://www.rfc-editor.org/rfc/rfc8489#section-6.3),
§9.1.3 / §9.2.4 authentication, RFC 5780 §6 (https://www.rfc-editor.org/rfc/rfc5780#section-6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcstack.common import SeededRandom, TraceRecorder, Transmit
from rtcstack.stun import (
    AttrType,
    ChangeRequest,
    ErrorCode,
    Fingerprint,
    LongTermCredentials,
    MappedAddress,
    Message,
    MessageClass,
    MessageIntegrity,
    MessageIntegritySha256,
    Method,
    Nonce,
    OtherAddress,
    Padding,
    PasswordAlgorithm,
    PasswordAlgorithmId,
    PasswordAlgorithms,
    PasswordAlgorithmSpec,
    Realm,
    ResponseOrigin,
    ResponsePort,
    Software,
    UnknownAttribute,
    UnknownAttributes,
    Userhash,
    Username,
    XorMappedAddress,
    long_term_key,
    short_term_key,
    userhash,
)
from rtcstack.stun.attributes import FEATURE_PASSWORD_ALGORITHMS, FEATURE_USERNAME_ANONYMITY
from rtcstack.stun.server import LongTermAuth, ShortTermAuth, StunServer

A1, A2, P1, P2 = "192.0.2.1", "192.0.2.2", 3478, 3479
PRIMARY = (A1, P1)
ALTERNATE = (A2, P2)
CLIENT = ("198.51.100.7", 40000)
TID = b"0123456789ab"


def request(*attrs: object, method: int = Method.BINDING) -> Message:
    return Message(method, MessageClass.REQUEST, TID, tuple(attrs))  # type: ignore[arg-type]


def ask(
    server: StunServer,
    data: bytes,
    *,
    addr: tuple[str, int] = CLIENT,
    local: tuple[str, int] = PRIMARY,
    now: float = 0.0,
    transport: str = "udp",
) -> Transmit | None:
    server.handle_datagram(data, addr, now=now, local=local, transport=transport)
    out = server.poll_transmit()
    assert server.poll_transmit() is None, "one request, at most one answer"
    return out


def answer(server: StunServer, data: bytes, **kw: object) -> tuple[Transmit, Message]:
    out = ask(server, data, **kw)  # type: ignore[arg-type]
    assert out is not None
    response = Message.parse(out.data)
    assert response.transaction_id == TID and response.method == Method.BINDING
    return out, response


# --- RFC 8489 §6.3: basic Binding ----------------------------------------------------------


def test_binding_success_has_xor_mapped_address_and_goes_back_from_local() -> None:
    server = StunServer(PRIMARY)
    out, response = answer(server, request().serialize())
    assert response.message_class is MessageClass.SUCCESS
    assert response.get(XorMappedAddress) == XorMappedAddress(CLIENT)
    # RFC 8489 §6.3.1.2: destination = the request's source, source = its destination.
    assert (out.addr, out.source, out.transport) == (CLIENT, PRIMARY, "udp")
    # A plain server (no alternate, no RFC 5780 attribute in the request) adds nothing else.
    assert [a.type for a in response.attributes] == [AttrType.XOR_MAPPED_ADDRESS]
    assert not response.has_fingerprint
    assert server.stats.requests == 1 and server.stats.success == 1


def test_binding_ipv6_client() -> None:
    server = StunServer(("2001:db8::1", 3478))
    client = ("2001:db8::99", 5555)
    _, response = answer(server, request().serialize(), addr=client, local=("2001:db8::1", 3478))
    assert response.get(XorMappedAddress) == XorMappedAddress(client)


def test_mapped_address_software_and_fingerprint_when_requested() -> None:
    server = StunServer(PRIMARY, software="rtcstack test", mapped_address=True)
    _, response = answer(server, request().serialize(fingerprint=True))
    assert response.get(MappedAddress) == MappedAddress(CLIENT)
    assert response.get(Software) == Software("rtcstack test")
    assert response.check_fingerprint()


def test_wildcard_primary_answers_from_wherever_the_request_arrived() -> None:
    server = StunServer(("0.0.0.0", 3478))
    out, _ = answer(server, request().serialize(), local=("0.0.0.0", 3478))
    assert out.source == ("0.0.0.0", 3478)
    server = StunServer()
    out, _ = answer(server, request().serialize(), local=("10.1.1.1", 9))
    assert out.source == ("10.1.1.1", 9)


def test_unknown_comprehension_required_gets_420_with_unknown_attributes() -> None:
    server = StunServer(PRIMARY, software="s")
    data = request(UnknownAttribute(0x7F01, b"abcd"), UnknownAttribute(0x0042, b"")).serialize(
        fingerprint=True
    )
    _, response = answer(server, data)
    assert response.message_class is MessageClass.ERROR
    assert response.error_code == 420
    assert response.get(UnknownAttributes) == UnknownAttributes((0x7F01, 0x0042))
    assert response.get(Software) is not None and response.check_fingerprint()
    assert server.stats.errors == {420: 1}


def test_unknown_comprehension_optional_is_ignored() -> None:
    server = StunServer(PRIMARY)
    _, response = answer(server, request(UnknownAttribute(0xC001, b"x")).serialize())
    assert response.message_class is MessageClass.SUCCESS


def test_indication_is_absorbed_silently() -> None:
    server = StunServer(PRIMARY)
    ind = Message(Method.BINDING, MessageClass.INDICATION, TID)
    assert ask(server, ind.serialize()) is None
    assert server.stats.indications == 1
    bad = Message(Method.BINDING, MessageClass.INDICATION, TID, (UnknownAttribute(0x0042, b""),))
    assert ask(server, bad.serialize()) is None
    assert server.stats.indications_dropped == 1


@pytest.mark.parametrize("klass", [MessageClass.SUCCESS, MessageClass.ERROR])
def test_responses_are_dropped_and_counted(klass: MessageClass) -> None:
    server = StunServer(PRIMARY)
    attrs = (ErrorCode(400, "x"),) if klass is MessageClass.ERROR else ()
    assert ask(server, Message(Method.BINDING, klass, TID, attrs).serialize()) is None
    assert server.stats.responses_dropped == 1 and server.stats.dropped == 1


def test_unsupported_method_is_dropped() -> None:
    server = StunServer(PRIMARY)
    assert ask(server, request(method=Method.ALLOCATE).serialize()) is None
    assert server.stats.unsupported_method == 1


def test_bad_fingerprint_is_dropped() -> None:
    server = StunServer(PRIMARY)
    data = bytearray(request(Software("x")).serialize(fingerprint=True))
    data[-1] ^= 1
    assert ask(server, bytes(data)) is None
    assert server.stats.bad_fingerprint == 1


def test_garbage_is_dropped_counted_and_traced() -> None:
    trace = TraceRecorder()
    server = StunServer(PRIMARY, trace=trace)
    for data in (b"", b"\x00" * 19, b"hello world, not STUN at all", b"\x17\xfe\xfd" + b"\0" * 40):
        assert ask(server, data) is None
    assert server.stats.malformed == 4 and server.stats.received == 4
    assert trace.names() == ["stun.server.drop"] * 4


def test_responses_are_traced() -> None:
    trace = TraceRecorder()
    server = StunServer(PRIMARY, trace=trace)
    answer(server, request().serialize())
    name, fields = trace.events[-1]
    assert name == "stun.server.response" and fields["code"] == 0 and fields["addr"] == CLIENT


# --- RFC 8489 §9.1.3: short-term credentials ------------------------------------------------

SHORT = ShortTermAuth.from_users({"alice": "secret-password"})
SHORT_KEY = short_term_key("secret-password")


def test_short_term_without_integrity_is_400() -> None:
    server = StunServer(PRIMARY, short_term=SHORT)
    _, response = answer(server, request(Username("alice")).serialize())
    assert response.error_code == 400 and not response.has_integrity
    # MESSAGE-INTEGRITY without USERNAME is also 400.
    _, response = answer(server, request().serialize(integrity_key=SHORT_KEY))
    assert response.error_code == 400


def test_short_term_unknown_user_and_bad_integrity_are_401_unsigned() -> None:
    server = StunServer(PRIMARY, short_term=SHORT)
    _, response = answer(server, request(Username("bob")).serialize(integrity_key=SHORT_KEY))
    assert response.error_code == 401 and not response.has_integrity
    _, response = answer(server, request(Username("alice")).serialize(integrity_key=b"wrong"))
    assert response.error_code == 401
    # §9.1.3: "a server MUST NOT include a MESSAGE-INTEGRITY-SHA256, MESSAGE-INTEGRITY, or
    # USERNAME attribute in the error response."
    assert not response.has_integrity and response.get(Username) is None


def test_short_term_success_is_signed_like_the_request() -> None:
    server = StunServer(PRIMARY, short_term=SHORT)
    _, response = answer(server, request(Username("alice")).serialize(integrity_key=SHORT_KEY))
    assert response.message_class is MessageClass.SUCCESS
    assert response.check_integrity(SHORT_KEY) and response.offsets[1] < 0
    assert response.get(Username) is None
    data = request(Username("alice")).serialize(integrity_sha256_key=SHORT_KEY, fingerprint=True)
    _, response = answer(server, data)
    assert response.check_integrity_sha256(SHORT_KEY) and response.offsets[0] < 0
    assert response.check_fingerprint()


def test_short_term_420_after_authentication_is_signed() -> None:
    server = StunServer(PRIMARY, short_term=SHORT)
    data = request(Username("alice"), UnknownAttribute(0x0042, b"")).serialize(
        integrity_key=SHORT_KEY
    )
    _, response = answer(server, data)
    assert response.error_code == 420 and response.check_integrity(SHORT_KEY)


def test_short_term_unauthenticated_indication_is_dropped() -> None:
    server = StunServer(PRIMARY, short_term=SHORT)
    ind = Message(Method.BINDING, MessageClass.INDICATION, TID, (Username("alice"),))
    assert ask(server, ind.serialize(integrity_key=b"wrong")) is None
    assert server.stats.indications_dropped == 1
    assert ask(server, ind.serialize(integrity_key=SHORT_KEY)) is None
    assert server.stats.indications == 1


# --- RFC 8489 §9.2.4: long-term credentials ---------------------------------------------------

REALM = "example.org"
USERS = {"user": "pass", "マトリックス": "TheMatrIX"}


def long_term_server(seed: int = 1) -> StunServer:
    auth = LongTermAuth.from_users(REALM, USERS, nonce_lifetime=60.0)
    return StunServer(PRIMARY, long_term=auth, random_bytes=SeededRandom(seed))


def challenge(server: StunServer, now: float = 0.0, addr: tuple[str, int] = CLIENT) -> Message:
    _, response = answer(server, request().serialize(), now=now, addr=addr)
    assert response.error_code == 401
    return response


ALGS = PasswordAlgorithms(
    (
        PasswordAlgorithmSpec(PasswordAlgorithmId.SHA256),
        PasswordAlgorithmSpec(PasswordAlgorithmId.MD5),
    )
)


def authed(
    nonce: str,
    *,
    user: str = "user",
    password: str = "pass",
    algorithm: int | None = PasswordAlgorithmId.SHA256,
    algorithms: PasswordAlgorithms | None = ALGS,
    sha256: bool = True,
    extra: tuple[object, ...] = (),
    identity: object | None = None,
) -> tuple[bytes, bytes]:
    attrs: list[object] = [identity if identity is not None else Username(user), Realm(REALM)]
    attrs.append(Nonce(nonce))
    if algorithms is not None:
        attrs.append(algorithms)
    if algorithm is not None:
        attrs.append(PasswordAlgorithm(algorithm))
    attrs.extend(extra)
    key = long_term_key(user, REALM, password, algorithm or PasswordAlgorithmId.MD5)
    msg = request(*attrs)
    if sha256:
        return msg.serialize(integrity_sha256_key=key), key
    return msg.serialize(integrity_key=key), key


def test_long_term_first_request_gets_401_with_realm_nonce_cookie_and_algorithms() -> None:
    response = challenge(long_term_server())
    assert response.get(Realm) == Realm(REALM)
    assert response.get(PasswordAlgorithms) == ALGS
    nonce = response.get(Nonce)
    assert nonce is not None and len(nonce.value) < 128
    assert nonce.security_features == FEATURE_PASSWORD_ALGORITHMS | FEATURE_USERNAME_ANONYMITY
    assert not response.has_integrity and response.get(Username) is None


def test_long_term_nonces_differ_per_client_address() -> None:
    server = long_term_server()
    n1 = challenge(server, addr=("198.51.100.7", 1)).get(Nonce)
    n2 = challenge(server, addr=("198.51.100.7", 2)).get(Nonce)
    assert n1 != n2


def test_long_term_sha256_success_is_signed_with_sha256() -> None:
    server = long_term_server()
    nonce = challenge(server).get(Nonce)
    assert nonce is not None
    data, key = authed(nonce.value)
    _, response = answer(server, data, now=1.0)
    assert response.message_class is MessageClass.SUCCESS
    assert response.get(XorMappedAddress) == XorMappedAddress(CLIENT)
    assert response.check_integrity_sha256(key) and response.offsets[0] < 0


def test_long_term_md5_without_algorithms_is_signed_with_message_integrity() -> None:
    server = long_term_server()
    nonce = challenge(server).get(Nonce)
    assert nonce is not None
    data, key = authed(nonce.value, algorithm=None, algorithms=None, sha256=False)
    _, response = answer(server, data, now=1.0)
    assert response.message_class is MessageClass.SUCCESS
    # §9.2.4: "the MESSAGE-INTEGRITY attribute MUST be used instead of the MESSAGE-INTEGRITY-
    # SHA256 attribute" when processed as MD5.
    assert response.check_integrity(key) and response.offsets[1] < 0


def test_long_term_md5_chosen_explicitly() -> None:
    server = long_term_server()
    nonce = challenge(server).get(Nonce)
    assert nonce is not None
    data, key = authed(nonce.value, algorithm=PasswordAlgorithmId.MD5, sha256=False)
    _, response = answer(server, data, now=1.0)
    assert response.message_class is MessageClass.SUCCESS
    assert response.check_integrity_sha256(key)


def test_long_term_userhash() -> None:
    server = long_term_server()
    nonce = challenge(server).get(Nonce)
    assert nonce is not None
    name = "マトリックス"
    data, key = authed(
        nonce.value, user=name, password="TheMatrIX", identity=Userhash(userhash(name, REALM))
    )
    _, response = answer(server, data, now=1.0)
    assert response.message_class is MessageClass.SUCCESS and response.check_integrity_sha256(key)


def test_long_term_missing_nonce_or_realm_is_400() -> None:
    server = long_term_server()
    key = long_term_key("user", REALM, "pass")
    data = request(Username("user"), Realm(REALM)).serialize(integrity_key=key)
    _, response = answer(server, data)
    assert response.error_code == 400 and response.get(Nonce) is None and not response.has_integrity


@pytest.mark.parametrize(
    "algorithm, algorithms",
    [
        # PASSWORD-ALGORITHMS stripped to MD5 by an attacker (bid-down).
        (PasswordAlgorithmId.MD5, PasswordAlgorithms((PasswordAlgorithmSpec(1),))),
        # PASSWORD-ALGORITHM without PASSWORD-ALGORITHMS.
        (PasswordAlgorithmId.SHA256, None),
        # PASSWORD-ALGORITHMS without PASSWORD-ALGORITHM.
        (None, ALGS),
        # An algorithm that is not in the list.
        (0x0003, ALGS),
    ],
)
def test_long_term_bid_down_is_400(
    algorithm: int | None, algorithms: PasswordAlgorithms | None
) -> None:
    server = long_term_server()
    nonce = challenge(server).get(Nonce)
    assert nonce is not None
    key = long_term_key("user", REALM, "pass")
    attrs: list[object] = [Username("user"), Realm(REALM), Nonce(nonce.value)]
    if algorithms is not None:
        attrs.append(algorithms)
    if algorithm is not None:
        attrs.append(PasswordAlgorithm(algorithm))
    _, response = answer(server, request(*attrs).serialize(integrity_key=key), now=1.0)
    assert response.error_code == 400


def test_long_term_unknown_user_is_401_with_challenge() -> None:
    server = long_term_server()
    nonce = challenge(server).get(Nonce)
    assert nonce is not None
    data, _ = authed(nonce.value, user="mallory")
    _, response = answer(server, data, now=1.0)
    assert response.error_code == 401
    assert response.get(Realm) and response.get(Nonce) and response.get(PasswordAlgorithms)
    assert not response.has_integrity


def test_long_term_wrong_password_is_401_unsigned() -> None:
    server = long_term_server()
    nonce = challenge(server).get(Nonce)
    assert nonce is not None
    data, _ = authed(nonce.value, password="wrong")
    _, response = answer(server, data, now=1.0)
    assert response.error_code == 401 and response.get(Realm) and response.get(Nonce)
    assert not response.has_integrity


def test_long_term_stale_nonce_is_438_signed_then_the_new_nonce_works() -> None:
    server = long_term_server()
    nonce = challenge(server, now=0.0).get(Nonce)
    assert nonce is not None
    data, key = authed(nonce.value)
    _, response = answer(server, data, now=61.0)  # the nonce lived 60 s
    assert response.error_code == 438
    assert response.get(Realm) and response.get(PasswordAlgorithms) == ALGS
    fresh = response.get(Nonce)
    assert fresh is not None and fresh != nonce
    assert response.check_integrity_sha256(key)
    data, key = authed(fresh.value)
    _, response = answer(server, data, now=62.0)
    assert response.message_class is MessageClass.SUCCESS


@pytest.mark.parametrize("kind", ["other-address", "forged", "no-cookie", "other-server"])
def test_long_term_foreign_nonces_are_stale(kind: str) -> None:
    server = long_term_server()
    nonce = challenge(server).get(Nonce)
    assert nonce is not None
    value = nonce.value
    addr = CLIENT
    if kind == "other-address":
        addr = ("198.51.100.8", 40000)
    elif kind == "forged":
        value = value[:-3] + ("AAA" if value[-3:] != "AAA" else "BBB")
    elif kind == "no-cookie":
        value = "plain-nonce"
    else:
        value = challenge(long_term_server(seed=2)).get(Nonce).value  # type: ignore[union-attr]
    data, _ = authed(value)
    _, response = answer(server, data, addr=addr, now=1.0)
    assert response.error_code == 438


def test_long_term_interop_with_rtcstack_client() -> None:
    """The sans-IO StunClient's §9.2.5 flow against this server, on a virtual clock."""
    from rtcstack.stun.client import ResponseReceived, StunClient

    server = long_term_server()
    client = StunClient(random_bytes=SeededRandom(3))
    creds = LongTermCredentials("user", "pass")
    now = 0.0
    for _ in range(2):  # the second request reuses the cached nonce (§9.2.3.2)
        msg = Message.new(Method.BINDING, MessageClass.REQUEST, random_bytes=SeededRandom(int(now)))
        client.request(msg, PRIMARY, now=now, credentials=creds)
        for _ in range(4):
            while (t := client.poll_transmit()) is not None:
                server.handle_datagram(t.data, CLIENT, now=now, local=PRIMARY)
            while (r := server.poll_transmit()) is not None:
                client.handle_datagram(r.data, PRIMARY, now=now)
        event = client.poll_event()
        assert isinstance(event, ResponseReceived), event
        assert event.response.get(XorMappedAddress) == XorMappedAddress(CLIENT)
        now += 1.0
    assert server.stats.errors == {401: 1} and server.stats.success == 2


# --- RFC 5780 §6 ----------------------------------------------------------------------------

OTHER = {(A1, P1): (A2, P2), (A1, P2): (A2, P1), (A2, P1): (A1, P2), (A2, P2): (A1, P1)}


def test_rfc5780_local_addresses() -> None:
    server = StunServer(PRIMARY, ALTERNATE)
    assert server.local_addresses == [(A1, P1), (A1, P2), (A2, P1), (A2, P2)]


@pytest.mark.parametrize("local", list(OTHER))
@pytest.mark.parametrize(
    "change_ip, change_port", [(False, False), (True, False), (False, True), (True, True)]
)
def test_rfc5780_table_1(local: tuple[str, int], change_ip: bool, change_port: bool) -> None:
    server = StunServer(PRIMARY, ALTERNATE)
    data = request(ChangeRequest(change_ip, change_port)).serialize()
    out, response = answer(server, data, local=local)
    ca, cp = OTHER[local]
    expected = (ca if change_ip else local[0], cp if change_port else local[1])
    assert out.source == expected and out.addr == CLIENT
    assert response.get(ResponseOrigin) == ResponseOrigin(expected)
    assert response.get(OtherAddress) == OtherAddress((ca, cp))
    assert response.get(MappedAddress) == MappedAddress(CLIENT)
    assert response.get(XorMappedAddress) == XorMappedAddress(CLIENT)


def test_rfc5780_plain_request_still_gets_other_address_and_origin() -> None:
    server = StunServer(PRIMARY, ALTERNATE)
    out, response = answer(server, request().serialize())
    assert out.source == PRIMARY
    assert response.get(OtherAddress) == OtherAddress(ALTERNATE)
    assert response.get(ResponseOrigin) == ResponseOrigin(PRIMARY)


def test_change_request_without_alternate_is_420() -> None:
    server = StunServer(PRIMARY)
    _, response = answer(server, request(ChangeRequest(False, False)).serialize())
    assert response.error_code == 420
    assert response.get(UnknownAttributes) == UnknownAttributes((AttrType.CHANGE_REQUEST,))
    assert response.get(OtherAddress) is None


def test_change_request_on_an_unconfigured_local_address_is_420() -> None:
    server = StunServer(PRIMARY, ALTERNATE)
    _, response = answer(server, request(ChangeRequest(True, True)).serialize(), local=(A1, 9999))
    assert response.error_code == 420


def test_response_port_redirects_the_answer() -> None:
    server = StunServer(PRIMARY)  # RESPONSE-PORT works without an alternate (RFC 5780 §5)
    out, response = answer(server, request(ResponsePort(5060)).serialize())
    assert out.addr == (CLIENT[0], 5060) and out.source == PRIMARY
    assert response.get(XorMappedAddress) == XorMappedAddress(CLIENT)
    assert response.get(ResponseOrigin) == ResponseOrigin(PRIMARY)


def test_response_port_zero_is_400() -> None:
    _, response = answer(StunServer(PRIMARY), request(ResponsePort(0)).serialize())
    assert response.error_code == 400


@pytest.mark.parametrize("size", [0, 4, 5, 1500])
def test_padding_is_answered_with_as_much(size: int) -> None:
    server = StunServer(PRIMARY, ALTERNATE)
    _, response = answer(server, request(Padding(b"\xab" * size)).serialize())
    padding = response.get(Padding)
    assert padding is not None and len(padding.value) == size - size % 4


def test_huge_padding_stays_within_64k() -> None:
    server = StunServer(PRIMARY, ALTERNATE, software="x" * 100)
    data = request(Padding(b"\0" * 65400)).serialize(fingerprint=True)
    out, response = answer(server, data)
    assert len(out.data) <= 65507 and response.get(Padding) is not None


def test_padding_with_response_port_is_400() -> None:
    server = StunServer(PRIMARY, ALTERNATE)
    _, response = answer(server, request(Padding(b"\0" * 8), ResponsePort(9)).serialize())
    assert response.error_code == 400


def test_tcp_answers_on_the_connection_and_refuses_change_and_response_port() -> None:
    server = StunServer(PRIMARY, ALTERNATE)
    out, response = answer(server, request().serialize(), transport="tcp")
    assert (out.transport, out.source, out.addr) == ("tcp", PRIMARY, CLIENT)
    assert response.message_class is MessageClass.SUCCESS
    for attr in (ChangeRequest(True, False), ResponsePort(7)):
        out, response = answer(server, request(attr).serialize(), transport="tcp")
        assert response.error_code == 400 and out.transport == "tcp"
    # A CHANGE-REQUEST without flags asks for nothing and is fine.
    _, response = answer(server, request(ChangeRequest()).serialize(), transport="tcp")
    assert response.message_class is MessageClass.SUCCESS


@pytest.mark.parametrize(
    "primary, alternate",
    [
        (None, ALTERNATE),
        (PRIMARY, (A1, P2)),  # same IP
        (PRIMARY, (A2, P1)),  # same port
        (("0.0.0.0", P1), ALTERNATE),
        (PRIMARY, ("2001:db8::1", P2)),
        (("not-an-ip", 1), None),
    ],
)
def test_bad_configuration_is_rejected(
    primary: tuple[str, int] | None, alternate: tuple[str, int] | None
) -> None:
    with pytest.raises(ValueError):
        StunServer(primary, alternate)


def test_both_credential_kinds_are_rejected() -> None:
    with pytest.raises(ValueError):
        StunServer(PRIMARY, short_term=SHORT, long_term=LongTermAuth.from_users(REALM, USERS))


def test_integrity_attributes_in_responses_are_real_attributes() -> None:
    server = StunServer(PRIMARY, short_term=SHORT)
    _, response = answer(server, request(Username("alice")).serialize(integrity_key=SHORT_KEY))
    assert isinstance(response.attributes[-1], MessageIntegrity)
    _, response = answer(
        server,
        request(Username("alice")).serialize(integrity_sha256_key=SHORT_KEY, fingerprint=True),
    )
    assert [type(a) for a in response.attributes[-2:]] == [MessageIntegritySha256, Fingerprint]


# --- robustness: nothing the network sends makes the server raise -----------------------------

SEEDS = [
    request().serialize(),
    request(ChangeRequest(True, True), Padding(b"\0" * 8)).serialize(fingerprint=True),
    request(Username("alice")).serialize(integrity_key=SHORT_KEY, fingerprint=True),
    request(Username("user"), Realm(REALM), Nonce("obMatJos2AAAAxyz"), ALGS).serialize(
        integrity_sha256_key=b"k"
    ),
]


def _servers() -> list[StunServer]:
    return [
        StunServer(PRIMARY, ALTERNATE),
        StunServer(PRIMARY, short_term=SHORT),
        long_term_server(),
    ]


def _feed_all(data: bytes) -> None:
    for server in _servers():
        for transport in ("udp", "tcp"):
            server.handle_datagram(data, CLIENT, now=0.0, local=PRIMARY, transport=transport)
            while (out := server.poll_transmit()) is not None:
                Message.parse(out.data)  # every answer is a well-formed message
        stats = server.stats
        assert stats.received == 2
        assert stats.requests + stats.indications + stats.dropped == 2


@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    _feed_all(data)


@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
)
def test_mutated_requests_never_raise(seed: bytes, flips: list[tuple[int, int]]) -> None:
    data = bytearray(seed)
    for pos, value in flips:
        data[pos % len(data)] = value
    _feed_all(bytes(data))


@given(
    st.lists(
        st.sampled_from(
            [
                ChangeRequest(True, False),
                ChangeRequest(False, True),
                ResponsePort(1234),
                Padding(b"\0" * 12),
                UnknownAttribute(0x0042, b"x"),
                UnknownAttribute(0xC042, b"y"),
                Username("alice"),
                Realm(REALM),
                Nonce("n"),
                ALGS,
                PasswordAlgorithm(2),
                Software("s"),
            ]
        ),
        max_size=6,
    ),
    st.booleans(),
    st.booleans(),
)
def test_generated_requests_get_exactly_one_answer(
    attrs: list[object], integrity: bool, fingerprint: bool
) -> None:
    data = request(*attrs).serialize(
        integrity_key=SHORT_KEY if integrity else None, fingerprint=fingerprint
    )
    for server in _servers():
        out = ask(server, data)
        assert out is not None
        response = Message.parse(out.data)
        assert response.transaction_id == TID
        assert response.has_fingerprint == fingerprint
