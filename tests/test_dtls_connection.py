"""The DTLS connection state machine: two rtcstack endpoints on a virtual clock (RFC 6347)."""

from __future__ import annotations

import functools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtcstack.common.errors import InvalidStateError
from rtcstack.common.trace import TraceRecorder
from rtcstack.dtls.certificate import Certificate
from rtcstack.dtls.connection import DtlsConfig, DtlsConnection, DtlsState
from rtcstack.dtls.constants import AlertDescription, CipherSuite, NamedGroup, SrtpProfileId
from tests.dtls_harness import Link, Outcome, run


@functools.cache
def cert(kind: str = "ecdsa-p256") -> Certificate:
    return Certificate.generate(kind)


def seeded(seed: int) -> random.Random:
    return random.Random(seed)


def pair(
    *,
    client_cert: str = "ecdsa-p256",
    server_cert: str = "ecdsa-p256",
    fingerprints: bool = True,
    seed: int = 7,
    client: dict[str, object] | None = None,
    server: dict[str, object] | None = None,
    trace: TraceRecorder | None = None,
) -> tuple[DtlsConnection, DtlsConnection]:
    ccert, scert = cert(client_cert), cert(server_cert)
    rng = seeded(seed)

    def rand(n: int) -> bytes:
        return rng.randbytes(n)

    cconf = DtlsConfig(ccert, [("sha-256", scert.fingerprint("sha-256"))] if fingerprints
                       else None, random_bytes=rand, **(client or {}))  # type: ignore[arg-type]
    sconf = DtlsConfig(scert, [("sha-256", ccert.fingerprint("sha-256"))] if fingerprints
                       else None, random_bytes=rand, **(server or {}))  # type: ignore[arg-type]
    kwargs = {"trace": trace} if trace is not None else {}
    return DtlsConnection(cconf, "client", **kwargs), DtlsConnection(sconf, "server")


def assert_connected(c: DtlsConnection, s: DtlsConnection, out: Outcome) -> None:
    assert out.closed("client") is None and out.closed("server") is None, (
        out.closed("client"), out.closed("server"))
    done_c, done_s = out.completed("client"), out.completed("server")
    assert done_c is not None and done_s is not None
    assert done_c.cipher_suite == done_s.cipher_suite
    assert done_c.srtp_profile == done_s.srtp_profile
    assert c.state is DtlsState.CONNECTED and s.state is DtlsState.CONNECTED
    assert done_c.peer_certificate == s.config.certificate.der
    assert done_s.peer_certificate == c.config.certificate.der
    assert c.srtp_keying_material() == s.srtp_keying_material()
    assert c.export_keying_material(b"label", 40, b"ctx") == s.export_keying_material(
        b"label", 40, b"ctx")


def test_handshake_defaults_ecdsa() -> None:
    c, s = pair()
    out = run(c, s, Link())
    assert_connected(c, s, out)
    done = out.completed("client")
    assert done is not None
    assert done.cipher_suite == CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    assert done.srtp_profile == SrtpProfileId.SRTP_AEAD_AES_128_GCM
    assert done.group == NamedGroup.X25519 == out.completed("server").group  # type: ignore[union-attr]
    assert len(c.srtp_keying_material()) == 56  # RFC 5764 §4.2: 2 * (16 + 12)
    # With the cookie exchange: CH, HVR, CH, flight 4, flight 5, flight 6 -> 3 round trips.
    assert out.now == pytest.approx(0.06)


@pytest.mark.parametrize("suite", list(CipherSuite))
def test_every_cipher_suite(suite: CipherSuite) -> None:
    kind = "ecdsa-p256" if "ECDSA" in suite.name else "rsa-2048"
    c, s = pair(server_cert=kind, client={"cipher_suites": (suite,)})
    out = run(c, s, Link())
    assert_connected(c, s, out)
    assert c.cipher_suite == suite == s.cipher_suite
    c.send(b"ping")
    s.send(b"pong" * 1000)
    out = run(c, s, Link(), start=False,
              stop=lambda o: bool(o.data("server")) and len(b"".join(o.data("client"))) >= 4000)
    assert out.data("server") == [b"ping"]
    assert b"".join(out.data("client")) == b"pong" * 1000


@pytest.mark.parametrize("profile", list(SrtpProfileId))
def test_every_srtp_profile(profile: SrtpProfileId) -> None:
    c, s = pair(client={"srtp_profiles": (profile,)})
    out = run(c, s, Link())
    assert_connected(c, s, out)
    assert c.srtp_profile == profile
    key, salt = {1: (16, 14), 2: (16, 14), 7: (16, 12), 8: (32, 12)}[profile]
    assert len(c.srtp_keying_material()) == 2 * (key + salt)


def test_server_preference_picks_the_srtp_profile() -> None:
    c, s = pair(server={"srtp_profiles": (SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_80,)})
    out = run(c, s, Link())
    assert_connected(c, s, out)
    assert c.srtp_profile == SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_80


def test_no_common_srtp_profile_completes_without_srtp() -> None:
    c, s = pair(client={"srtp_profiles": (SrtpProfileId.SRTP_AEAD_AES_256_GCM,)},
                server={"srtp_profiles": (SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_80,)})
    out = run(c, s, Link())
    assert out.completed("client") is not None and c.srtp_profile is None
    with pytest.raises(InvalidStateError):
        c.srtp_keying_material()


def test_rsa_client_certificate() -> None:
    c, s = pair(client_cert="rsa-2048")
    assert_connected(c, s, run(c, s, Link()))


def test_without_cookie_exchange_two_round_trips() -> None:
    c, s = pair(server={"require_cookie": False})
    out = run(c, s, Link())
    assert_connected(c, s, out)
    assert out.now == pytest.approx(0.04)


@pytest.mark.parametrize("mtu", [256, 500, 1500])
def test_fragmented_handshake_at_small_mtu(mtu: int) -> None:
    sizes: list[int] = []
    c, s = pair(server_cert="rsa-2048", client={"mtu": mtu}, server={"mtu": mtu})
    link = Link(tamper=lambda who, data: sizes.append(len(data)) or data)  # type: ignore[func-returns-value]
    assert_connected(c, s, run(c, s, link))
    assert max(sizes) <= mtu


@pytest.mark.parametrize("loss", [0.1, 0.2, 0.5])
@pytest.mark.parametrize("seed", range(4))
def test_handshake_survives_loss(loss: float, seed: int) -> None:
    c, s = pair(seed=seed, client={"max_retransmissions": 12},
                server={"max_retransmissions": 12})
    out = run(c, s, Link(loss=loss, seed=seed), limit=3600)
    assert_connected(c, s, out)


@pytest.mark.parametrize("seed", range(6))
def test_handshake_survives_reordering_and_duplication(seed: int) -> None:
    c, s = pair(seed=seed, client={"mtu": 300}, server={"mtu": 300})
    out = run(c, s, Link(duplicate=0.3, jitter=0.05, seed=seed))
    assert_connected(c, s, out)


def test_retransmission_timer_doubles() -> None:
    """RFC 6347 §4.2.4.1: initial 1 s, doubling at each retransmission."""
    c, _ = pair()
    c.connect(now=0.0)
    sent = [c.poll_transmit()]
    assert c.poll_transmit() is None and c.poll_timeout() == 1.0
    deadlines = []
    now = 0.0
    for _ in range(5):
        now = c.poll_timeout() or 0.0
        c.handle_timeout(now=now)
        sent.append(c.poll_transmit())
        deadlines.append(c.poll_timeout())
    assert deadlines == [3.0, 7.0, 15.0, 31.0, 63.0]
    assert all(d is not None for d in sent)
    # Each retransmission is the same ClientHello in a record with a new sequence number.
    assert len({d[13:] for d in sent if d}) == 1 and len({d[5:11] for d in sent if d}) == 6


def test_gives_up_after_max_retransmissions() -> None:
    c, s = pair(client={"max_retransmissions": 3})
    out = run(c, s, Link(loss=1.0), limit=1000)
    closed = out.closed("client")
    assert closed is not None and closed.error is not None
    assert c.state is DtlsState.CLOSED


def test_wrong_fingerprint_aborts_both_sides() -> None:
    ccert, scert = cert(), cert("rsa-2048")
    c = DtlsConnection(DtlsConfig(ccert, [("sha-256", "00:" * 31 + "00")]), "client")
    s = DtlsConnection(DtlsConfig(scert, [("sha-256", ccert.fingerprint())]), "server")
    out = run(c, s, Link())
    closed_c, closed_s = out.closed("client"), out.closed("server")
    assert closed_c is not None and closed_c.error is not None
    assert closed_c.error.description == AlertDescription.BAD_CERTIFICATE
    assert closed_s is not None and closed_s.error is not None and closed_s.error.remote
    assert closed_s.error.description == AlertDescription.BAD_CERTIFICATE
    assert out.completed("client") is None and out.completed("server") is None


def test_server_checks_the_client_fingerprint() -> None:
    ccert, scert = cert(), cert()
    other = cert("rsa-2048")
    c = DtlsConnection(DtlsConfig(ccert, [("sha-256", scert.fingerprint())]), "client")
    s = DtlsConnection(DtlsConfig(scert, [("sha-256", other.fingerprint())]), "server")
    out = run(c, s, Link())
    closed_s = out.closed("server")
    assert closed_s is not None and closed_s.error is not None
    assert closed_s.error.description == AlertDescription.BAD_CERTIFICATE
    closed_c = out.closed("client")
    assert closed_c is not None and closed_c.error is not None and closed_c.error.remote


def test_no_common_cipher_suite() -> None:
    c, s = pair(client={"cipher_suites": (CipherSuite.ECDHE_RSA_WITH_AES_128_GCM_SHA256,)})
    out = run(c, s, Link())
    closed_s = out.closed("server")
    assert closed_s is not None and closed_s.error is not None
    assert closed_s.error.description == AlertDescription.HANDSHAKE_FAILURE
    closed_c = out.closed("client")
    assert closed_c is not None and closed_c.error is not None and closed_c.error.remote


def test_tampered_finished_is_rejected() -> None:
    """Flipping a bit inside the encrypted Finished makes the record fail authentication: it
    is dropped (RFC 6347 §4.1.2.7), so the handshake never completes on that side."""
    def tamper(sender: str, data: bytes) -> bytes:
        if sender == "client" and data[0] == 22 and len(data) > 200:
            out = bytearray(data)
            out[-3] ^= 1  # inside the last record: the epoch-1 Finished
            return bytes(out)
        return data

    c, s = pair(client={"max_retransmissions": 2}, server={"max_retransmissions": 2})
    out = run(c, s, Link(tamper=tamper), limit=100)
    assert out.completed("server") is None and out.completed("client") is None
    assert s.dropped.get("unprotect", 0) >= 1
    # Each side gives up on its own timer; the retransmissions answering retransmissions are
    # rate-limited (no storm).
    assert c.state is DtlsState.CLOSED and s.state is DtlsState.CLOSED
    assert out.now < 20
    limited = "retransmission-rate-limited"
    assert s.dropped.get(limited, 0) + c.dropped.get(limited, 0) > 0


def test_wrong_finished_verify_data_gets_decrypt_error() -> None:
    """A Finished that authenticates as a record but carries the wrong verify_data (RFC 5246
    §7.4.9: "Recipients of Finished messages MUST verify that the contents are correct") ends
    the handshake with decrypt_error on both sides."""
    c, s = pair()
    real = c._verify_data

    def wrong(label: bytes) -> bytes:
        data = real(label)
        return bytes([data[0] ^ 1]) + data[1:] if label == b"client finished" else data

    c._verify_data = wrong  # type: ignore[method-assign]
    out = run(c, s, Link())
    closed_s, closed_c = out.closed("server"), out.closed("client")
    assert closed_s is not None and closed_s.error is not None
    assert closed_s.error.description == AlertDescription.DECRYPT_ERROR
    assert closed_c is not None and closed_c.error is not None and closed_c.error.remote
    assert closed_c.error.description == AlertDescription.DECRYPT_ERROR
    assert out.completed("client") is None and out.completed("server") is None


def test_close_notify_both_ways() -> None:
    c, s = pair()
    assert_connected(c, s, run(c, s, Link()))
    c.close()
    out = run(c, s, Link(), start=False, stop=lambda o: o.closed("server") is not None)
    assert out.closed("client") is not None and out.closed("client").error is None  # type: ignore[union-attr]
    closed_s = out.closed("server")
    assert closed_s is not None and closed_s.error is None
    assert s.state is DtlsState.CLOSED
    with pytest.raises(InvalidStateError):
        s.send(b"x")


def test_replayed_application_data_is_dropped() -> None:
    c, s = pair()
    assert_connected(c, s, run(c, s, Link()))
    c.send(b"once")
    data = c.poll_transmit()
    assert data is not None
    s.handle_datagram(data, now=10.0)
    s.handle_datagram(data, now=10.1)
    events = []
    while (e := s.poll_event()) is not None:
        events.append(e)
    assert [getattr(e, "data", None) for e in events] == [b"once"]
    assert s.dropped.get("unprotect", 0) == 1


def test_keylog_lines() -> None:
    lines: list[str] = []
    c, s = pair(client={"keylog": lines.append})
    assert_connected(c, s, run(c, s, Link()))
    assert len(lines) == 1 and lines[0].startswith("CLIENT_RANDOM ")
    assert len(lines[0].split()) == 3


def test_api_misuse() -> None:
    c, s = pair()
    with pytest.raises(InvalidStateError):
        s.connect(now=0)
    with pytest.raises(InvalidStateError):
        c.send(b"x")
    with pytest.raises(InvalidStateError):
        c.export_keying_material(b"x", 10)
    c.connect(now=0)
    with pytest.raises(InvalidStateError):
        c.connect(now=0)
    with pytest.raises(ValueError):
        DtlsConnection(c.config, "peer")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=st.lists(st.binary(max_size=300), max_size=6),
       prefix=st.sampled_from([b"", bytes([22, 0xFE, 0xFD]), bytes([22, 0xFE, 0xFF, 0, 0]),
                               bytes([21, 0xFE, 0xFD, 0, 1]), bytes([23, 0xFE, 0xFD, 0, 1])]))
def test_garbage_never_raises_and_never_breaks_a_later_handshake(
    garbage: list[bytes], prefix: bytes
) -> None:
    c, s = pair()
    for conn in (c, s):
        for junk in garbage:
            conn.handle_datagram(prefix + junk, now=0.0)
        while conn.poll_transmit() is not None:
            pass
    # Garbage that happens to be an alert could close a fresh connection; anything else must
    # leave both able to complete.
    if c.state is DtlsState.CLOSED or s.state is DtlsState.CLOSED:
        return
    assert_connected(c, s, run(c, s, Link()))


def test_garbage_during_the_handshake_in_every_state() -> None:
    rng = random.Random(5)
    c, s = pair()

    def tamper(sender: str, data: bytes) -> bytes:
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80)))
        target = s if sender == "client" else c
        target.handle_datagram(bytes([22, 0xFE, 0xFD]) + junk, now=0.0)
        target.handle_datagram(junk, now=0.0)
        return data

    assert_connected(c, s, run(c, s, Link(tamper=tamper)))


def test_config_rejects_what_it_cannot_negotiate() -> None:
    with pytest.raises(ValueError, match="cipher suite"):
        DtlsConfig(cert(), cipher_suites=(0x002F,))
    with pytest.raises(ValueError, match="SRTP profile"):
        DtlsConfig(cert(), srtp_profiles=(0x0003,))
    with pytest.raises(ValueError, match="group"):
        DtlsConfig(cert(), groups=(0x11EC,))
    with pytest.raises(ValueError, match="mtu"):
        DtlsConfig(cert(), mtu=200)
    with pytest.raises(ValueError, match="empty"):
        DtlsConfig(cert(), cipher_suites=())


def _rewrite_server_hello(offset: int, value: bytes) -> object:
    """A Link tamper hook that rewrites bytes of the ServerHello body (first record of the
    server's flight 4: 13-byte record header, 12-byte handshake header, then the body)."""
    def tamper(sender: str, data: bytes) -> bytes:
        if sender == "server" and data[0] == 22 and data[13] == 2:
            out = bytearray(data)
            out[25 + offset : 25 + offset + len(value)] = value
            return bytes(out)
        return data
    return tamper


def test_downgrade_to_dtls_1_0_is_refused() -> None:
    c, s = pair()
    out = run(c, s, Link(tamper=_rewrite_server_hello(0, b"\xfe\xff")))  # type: ignore[arg-type]
    closed_c = out.closed("client")
    assert closed_c is not None and closed_c.error is not None
    assert closed_c.error.description == AlertDescription.PROTOCOL_VERSION
    closed_s = out.closed("server")
    assert closed_s is not None and closed_s.error is not None and closed_s.error.remote


def test_a_cipher_suite_not_offered_is_refused() -> None:
    c, s = pair(client={"cipher_suites": (CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,)})
    # ServerHello body: version (2), random (32), session_id length (1, empty), cipher suite.
    tamper = _rewrite_server_hello(35, b"\xc0\x2c")
    out = run(c, s, Link(tamper=tamper))  # type: ignore[arg-type]
    closed_c = out.closed("client")
    assert closed_c is not None and closed_c.error is not None
    assert closed_c.error.description == AlertDescription.ILLEGAL_PARAMETER


def test_client_hello_without_extended_master_secret_is_refused() -> None:
    from rtcstack.dtls.constants import ExtensionType

    c, s = pair()
    offered = c._client_extensions
    c._client_extensions = lambda: tuple(  # type: ignore[method-assign]
        e for e in offered() if e[0] != ExtensionType.EXTENDED_MASTER_SECRET)
    out = run(c, s, Link())
    closed_s = out.closed("server")
    assert closed_s is not None and closed_s.error is not None
    assert closed_s.error.description == AlertDescription.HANDSHAKE_FAILURE
    assert "extended_master_secret" in str(closed_s.error)
    closed_c = out.closed("client")
    assert closed_c is not None and closed_c.error is not None and closed_c.error.remote


def test_server_without_extended_master_secret_is_refused() -> None:
    from rtcstack.dtls import messages as m

    c, s = pair(server={"require_cookie": False})
    original = m.ServerHello.serialize

    def without_ems(self: m.ServerHello) -> bytes:
        return original(m.ServerHello(self.server_version, self.random, self.session_id,
                                      self.cipher_suite, self.compression_method,
                                      tuple(e for e in self.extensions if e[0] != 23)))

    m.ServerHello.serialize = without_ems  # type: ignore[method-assign]
    try:
        out = run(c, s, Link())
    finally:
        m.ServerHello.serialize = original  # type: ignore[method-assign]
    closed_c = out.closed("client")
    assert closed_c is not None and closed_c.error is not None
    assert closed_c.error.description == AlertDescription.HANDSHAKE_FAILURE


def test_a_dtls_1_3_offer_is_answered_with_1_2() -> None:
    """Browsers offer DTLS 1.3 next to 1.2 (supported_versions, key_share with a hybrid
    X25519MLKEM768 group); a 1.2 server answers 1.2 and ignores both (RFC 8446 §4.2.1)."""
    from rtcstack.dtls import messages as m
    from rtcstack.dtls.constants import DTLS_1_2, DTLS_1_3, ExtensionType

    c, s = pair()
    offered = c._client_extensions

    def with_13() -> tuple[tuple[int, bytes], ...]:
        share = (0x11EC).to_bytes(2, "big") + (1216).to_bytes(2, "big") + bytes(1216)
        return (*offered(),
                (ExtensionType.SUPPORTED_VERSIONS,
                 m.encode_supported_versions_client((DTLS_1_3, DTLS_1_2))),
                (ExtensionType.KEY_SHARE, len(share).to_bytes(2, "big") + share))

    c._client_extensions = with_13  # type: ignore[method-assign]
    out = run(c, s, Link())
    assert_connected(c, s, out)  # the ~1.4 kB ClientHello is fragmented at MTU 1200 too



def test_keying_material_outlives_the_connection() -> None:
    c, s = pair()
    assert_connected(c, s, run(c, s, Link()))
    before = s.srtp_keying_material()
    c.close()
    run(c, s, Link(), start=False, stop=lambda o: o.closed("server") is not None)
    assert s.state is DtlsState.CLOSED
    assert s.srtp_keying_material() == before == c.srtp_keying_material()


def test_server_refuses_an_ecdsa_certificate_on_a_curve_the_client_did_not_offer() -> None:
    """RFC 8422 §5.1: with supported_groups present, the server's ECDSA certificate must use a
    listed curve; a P-256 certificate cannot serve a client offering only X25519."""
    from rtcstack.dtls.constants import NamedGroup as G

    c, s = pair(client={"groups": (G.X25519,)})
    out = run(c, s, Link())
    closed_s = out.closed("server")
    assert closed_s is not None and closed_s.error is not None
    assert closed_s.error.description == AlertDescription.HANDSHAKE_FAILURE
    assert "curve" in str(closed_s.error)


def test_renegotiation_is_refused_with_a_warning() -> None:
    """RFC 5246 §7.2.2 no_renegotiation, for a protected ClientHello (message_seq 0, RFC 6347
    §4.2.2) after the handshake; the connection stays up."""
    from rtcstack.dtls import messages as m
    from rtcstack.dtls.constants import ContentType, HandshakeType

    c, s = pair()
    assert_connected(c, s, run(c, s, Link()))
    hello = m.ClientHello(0xFEFD, bytes(32), b"", b"", (0xC02B,), b"\x00",
                          ((23, b""),)).serialize()
    fragment = m.fragment_handshake(HandshakeType.CLIENT_HELLO, 0, hello, 1000)[0]
    s.handle_datagram(c._records.protect(ContentType.HANDSHAKE, fragment), now=5.0)
    reply = s.poll_transmit()
    assert reply is not None and s.state is DtlsState.CONNECTED
    c.handle_datagram(reply, now=5.0)
    assert c.state is DtlsState.CONNECTED  # a warning alert: still connected
    c.send(b"still here")
    s.handle_datagram(c.poll_transmit() or b"", now=5.1)
    assert getattr(s.poll_event(), "data", None) == b"still here"
