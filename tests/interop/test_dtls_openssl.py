"""DTLS 1.2 interop with OpenSSL (Debian ``openssl``): rtcstack client <-> ``s_server`` and
``s_client`` <-> rtcstack server, on 127.0.0.1 (issue #5).

The matrix: both roles x cookie exchange on/off x MTU 500 (fragmented flights) or default x all
four SRTP profiles x ECDSA/RSA certificate on each side; then every cipher suite rtcstack has,
forced on the OpenSSL side with ``-cipher``, with each group forced with ``-groups``.  Each case
checks that OpenSSL's printed ``EXTRACTOR-dtls_srtp`` keying material equals ours, that
application data flows both ways, that each side saw the other's certificate (we verify the
fingerprint of the PEM we generated for the peer; OpenSSL prints ours), and that the negotiated
suite / profile are the forced ones.  A wrong fingerprint makes rtcstack send bad_certificate,
which OpenSSL reports.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtcstack.dtls.certificate import Certificate
from rtcstack.dtls.connection import (
    SRTP_KEY_SALT_LENGTHS,
    DtlsConfig,
    DtlsConnection,
    HandshakeComplete,
)
from rtcstack.dtls.constants import AlertDescription, CipherSuite, NamedGroup, SrtpProfileId
from tests.interop.dtls_peers import (
    KEYING_MATERIAL_OPENSSL,
    OPENSSL_CIPHER_NAMES,
    READY_OPENSSL_SERVER,
    SRTP_PROFILE_NAMES,
    Credentials,
    DtlsUdpEndpoint,
    PeerProcess,
    free_udp_port,
    openssl_client_command,
    openssl_server_command,
    require_binary,
    start_peer,
    write_credentials,
)

pytestmark = pytest.mark.interop

KEY_TYPES = ("ecdsa-p256", "rsa-2048")
TIMEOUT = 5.0


def _keymat_length(profile: int) -> int:
    """RFC 5764 §4.2: 2 * (master key + master salt) bytes for the profile."""
    key, salt = SRTP_KEY_SALT_LENGTHS[profile]
    return 2 * (key + salt)


@pytest.fixture(scope="module")
def creds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, str], Credentials]]:
    """("ours" | "peer", key type) -> a certificate written as PEM (generated once)."""
    require_binary("openssl", "openssl")
    directory: Path = tmp_path_factory.mktemp("dtls-openssl")
    yield {
        (who, key_type): write_credentials(directory, f"{who}-{key_type}",
                                           Certificate.generate(key_type, common_name=who))
        for who in ("ours", "peer")
        for key_type in KEY_TYPES
    }


def _check_connected(ep: DtlsUdpEndpoint, peer_output: str, ours: Credentials,
                     peer: Credentials, profile: int | None, keymat_hex: str) -> None:
    hc = next(e for e in ep.events if isinstance(e, HandshakeComplete))
    assert hc.peer_certificate == peer.certificate.der
    assert hc.srtp_profile == profile
    assert ep.conn.srtp_profile == profile
    expected = (ep.conn.srtp_keying_material() if profile is not None
                else ep.conn.export_keying_material(b"EXTRACTOR-dtls_srtp", 60))
    assert keymat_hex.lower() == expected.hex()
    # OpenSSL prints the certificate it received from us as PEM.
    our_pem = ours.certificate.to_pem()[0].decode()
    body = "".join(our_pem.strip().splitlines()[1:-1])
    assert body in "".join(peer_output.splitlines())


def _exchange_data(ep: DtlsUdpEndpoint, peer: PeerProcess) -> None:
    ep.send(b"hello-from-rtcstack\n")
    peer.wait_for("hello-from-rtcstack", TIMEOUT)
    peer.write(b"hello-from-openssl\n")
    ep.run_until(b"hello-from-openssl\n", TIMEOUT)


MATRIX = [
    pytest.param(cookie, mtu, profile, our_key, peer_key,
                 id=f"{'cookie' if cookie else 'nocookie'}-mtu{mtu}-"
                    f"{SrtpProfileId(profile).name}-ours_{our_key}-peer_{peer_key}")
    for cookie, mtu, profile, our_key, peer_key in itertools.product(
        (True, False), (500, 1200), tuple(SRTP_PROFILE_NAMES), KEY_TYPES, KEY_TYPES)
]


@pytest.mark.parametrize(("cookie", "mtu", "profile", "our_key", "peer_key"), MATRIX)
def test_rtcstack_client_openssl_server(
    creds: dict[tuple[str, str], Credentials], cookie: bool, mtu: int, profile: int,
    our_key: str, peer_key: str,
) -> None:
    ours, peer = creds["ours", our_key], creds["peer", peer_key]
    port = free_udp_port()
    command = openssl_server_command(port, peer, srtp=SRTP_PROFILE_NAMES[profile][0],
                                     cookie=cookie, mtu=mtu if mtu != 1200 else None,
                                     keymat_length=_keymat_length(profile))
    with start_peer(command) as server:
        server.wait_for(READY_OPENSSL_SERVER, TIMEOUT)
        config = DtlsConfig(ours.certificate, remote_fingerprints=[peer.fingerprint], mtu=mtu)
        with DtlsUdpEndpoint(DtlsConnection(config, "client"), ("127.0.0.1", port)) as ep:
            ep.handshake(TIMEOUT)
            keymat = server.wait_for(KEYING_MATERIAL_OPENSSL, TIMEOUT).group(1)
            _check_connected(ep, server.output(), ours, peer, profile, keymat)
            _exchange_data(ep, server)
            assert ep.max_datagram_out <= mtu
            if mtu == 500:  # the peer ran with -mtu 500 too
                assert ep.max_datagram_in <= mtu


@pytest.mark.parametrize(("cookie", "mtu", "profile", "our_key", "peer_key"), MATRIX)
def test_openssl_client_rtcstack_server(
    creds: dict[tuple[str, str], Credentials], cookie: bool, mtu: int, profile: int,
    our_key: str, peer_key: str,
) -> None:
    ours, peer = creds["ours", our_key], creds["peer", peer_key]
    config = DtlsConfig(ours.certificate, remote_fingerprints=[peer.fingerprint], mtu=mtu,
                        require_cookie=cookie)
    with DtlsUdpEndpoint(DtlsConnection(config, "server")) as ep:
        command = openssl_client_command(ep.address[1], peer, srtp=SRTP_PROFILE_NAMES[profile][0],
                                         mtu=mtu if mtu != 1200 else None,
                                         keymat_length=_keymat_length(profile))
        with start_peer(command) as client:
            ep.handshake(TIMEOUT)
            keymat = client.wait_for(KEYING_MATERIAL_OPENSSL, TIMEOUT).group(1)
            _check_connected(ep, client.output(), ours, peer, profile, keymat)
            _exchange_data(ep, client)
            assert ep.max_datagram_out <= mtu
            if mtu == 500:  # the peer ran with -mtu 500 too
                assert ep.max_datagram_in <= mtu


SUITES = [
    pytest.param(suite, group, id=f"{suite.name}-{group.name}")
    for suite in CipherSuite
    for group in NamedGroup
]
_GROUP_NAMES = {NamedGroup.X25519: "X25519", NamedGroup.SECP256R1: "P-256",
                NamedGroup.SECP384R1: "P-384"}
_OPENSSL_TEMP_KEY = {NamedGroup.X25519: "X25519", NamedGroup.SECP256R1: "prime256v1",
                     NamedGroup.SECP384R1: "secp384r1"}


def _key_for(suite: CipherSuite) -> str:
    return "ecdsa-p256" if "ECDSA" in suite.name else "rsa-2048"


@pytest.mark.parametrize(("suite", "group"), SUITES)
def test_cipher_suites_rtcstack_client(
    creds: dict[tuple[str, str], Credentials], suite: CipherSuite, group: NamedGroup
) -> None:
    # Our certificate is RSA here: OpenSSL also requires a client's ECDSA certificate to be on a
    # curve of its -groups list (illegal_parameter otherwise), which would defeat forcing X25519
    # or P-384.  ECDSA client certificates are covered by the main matrix.
    ours, peer = creds["ours", "rsa-2048"], creds["peer", _key_for(suite)]
    port = free_udp_port()
    command = openssl_server_command(port, peer, srtp="SRTP_AEAD_AES_128_GCM", cookie=True,
                                     cipher=OPENSSL_CIPHER_NAMES[suite],
                                     groups=_GROUP_NAMES[group], keymat_length=56)
    with start_peer(command) as server:
        server.wait_for(READY_OPENSSL_SERVER, TIMEOUT)
        config = DtlsConfig(ours.certificate, remote_fingerprints=[peer.fingerprint])
        with DtlsUdpEndpoint(DtlsConnection(config, "client"), ("127.0.0.1", port)) as ep:
            ep.handshake(TIMEOUT)
            keymat = server.wait_for(KEYING_MATERIAL_OPENSSL, TIMEOUT).group(1)
            assert ep.conn.cipher_suite == suite
            server.wait_for(f"CIPHER is {OPENSSL_CIPHER_NAMES[suite]}$", TIMEOUT)
            _check_connected(ep, server.output(), ours, peer,
                             SrtpProfileId.SRTP_AEAD_AES_128_GCM, keymat)
            _exchange_data(ep, server)


@pytest.mark.parametrize(("suite", "group"), SUITES)
def test_cipher_suites_rtcstack_server(
    creds: dict[tuple[str, str], Credentials], suite: CipherSuite, group: NamedGroup
) -> None:
    ours, peer = creds["ours", _key_for(suite)], creds["peer", "rsa-2048"]
    # The group is forced on our side; the client also offers P-256, the curve of our ECDSA
    # certificate (RFC 8422 §5.3; see test_server_ecdsa_curve_not_offered_by_client).
    config = DtlsConfig(ours.certificate, remote_fingerprints=[peer.fingerprint],
                        groups=(group,))
    client_groups = (_GROUP_NAMES[group] if group == NamedGroup.SECP256R1
                     else f"{_GROUP_NAMES[group]}:P-256")
    with DtlsUdpEndpoint(DtlsConnection(config, "server")) as ep:
        command = openssl_client_command(ep.address[1], peer, srtp="SRTP_AEAD_AES_256_GCM",
                                         cipher=OPENSSL_CIPHER_NAMES[suite],
                                         groups=client_groups, keymat_length=88)
        with start_peer(command) as client:
            ep.handshake(TIMEOUT)
            keymat = client.wait_for(KEYING_MATERIAL_OPENSSL, TIMEOUT).group(1)
            assert ep.conn.cipher_suite == suite
            client.wait_for(f"Cipher is {OPENSSL_CIPHER_NAMES[suite]}$", TIMEOUT)
            # s_client reports the server's ephemeral key: our ECDHE group.
            client.wait_for(f"Server Temp Key: .*{_OPENSSL_TEMP_KEY[group]}", TIMEOUT)
            _check_connected(ep, client.output(), ours, peer,
                             SrtpProfileId.SRTP_AEAD_AES_256_GCM, keymat)
            _exchange_data(ep, client)


def test_wrong_fingerprint_rtcstack_client(creds: dict[tuple[str, str], Credentials]) -> None:
    ours, peer = creds["ours", "ecdsa-p256"], creds["peer", "ecdsa-p256"]
    wrong = creds["peer", "rsa-2048"].fingerprint
    port = free_udp_port()
    command = openssl_server_command(port, peer, srtp="SRTP_AES128_CM_SHA1_80", cookie=False)
    with start_peer(command) as server:
        server.wait_for(READY_OPENSSL_SERVER, TIMEOUT)
        config = DtlsConfig(ours.certificate, remote_fingerprints=[wrong])
        with DtlsUdpEndpoint(DtlsConnection(config, "client"), ("127.0.0.1", port)) as ep:
            ep.expect_bad_certificate(TIMEOUT)
            server.wait_for(r"(?i)alert.*bad certificate|SSL alert number 42", TIMEOUT)


def test_wrong_fingerprint_rtcstack_server(creds: dict[tuple[str, str], Credentials]) -> None:
    ours, peer = creds["ours", "ecdsa-p256"], creds["peer", "ecdsa-p256"]
    wrong = creds["peer", "rsa-2048"].fingerprint
    config = DtlsConfig(ours.certificate, remote_fingerprints=[wrong])
    with DtlsUdpEndpoint(DtlsConnection(config, "server")) as ep:
        command = openssl_client_command(ep.address[1], peer, srtp="SRTP_AES128_CM_SHA1_80")
        with start_peer(command) as client:
            ep.expect_bad_certificate(TIMEOUT)
            client.wait_for(r"(?i)alert.*bad certificate|SSL alert number 42", TIMEOUT)


def test_server_ecdsa_curve_not_offered_by_client(
    creds: dict[tuple[str, str], Credentials]
) -> None:
    """RFC 8422 §5.3: "If the client has used a Supported Elliptic Curves Extension, the public
    key in the server's certificate MUST respect the client's choice of elliptic curves".  A
    client offering only X25519 cannot be served with a P-256 ECDSA certificate: the server
    must refuse (handshake_failure), not send it and have OpenSSL reject it with
    illegal_parameter."""
    ours, peer = creds["ours", "ecdsa-p256"], creds["peer", "rsa-2048"]
    config = DtlsConfig(ours.certificate, remote_fingerprints=[peer.fingerprint])
    with DtlsUdpEndpoint(DtlsConnection(config, "server")) as ep:
        command = openssl_client_command(ep.address[1], peer, srtp="SRTP_AES128_CM_SHA1_80",
                                         groups="X25519")
        with start_peer(command):
            closed = ep.run_until_closed(TIMEOUT)
            assert closed.error is not None
            assert not closed.error.remote, closed.error
            assert closed.error.description == AlertDescription.HANDSHAKE_FAILURE


@pytest.mark.parametrize("role", ["server", "client"])
def test_renegotiation_is_refused(creds: dict[tuple[str, str], Credentials], role: str) -> None:
    """RFC 5246 §7.2.2: no_renegotiation is "Sent by the client in response to a hello request
    or by the server in response to a client hello after initial handshaking"; RFC 6347 §4.2.2:
    "in the case of a rehandshake ... the HelloRequest will have message_seq = 0" (OpenSSL's
    renegotiation ClientHello also has message_seq 0).  An "R" line makes s_client / s_server
    renegotiate."""
    ours, peer = creds["ours", "ecdsa-p256"], creds["peer", "ecdsa-p256"]
    config = DtlsConfig(ours.certificate, remote_fingerprints=[peer.fingerprint])
    if role == "server":
        with DtlsUdpEndpoint(DtlsConnection(config, "server")) as ep:
            command = openssl_client_command(ep.address[1], peer, srtp="SRTP_AES128_CM_SHA1_80")
            with start_peer(command) as other:
                ep.handshake(TIMEOUT)
                other.wait_for(KEYING_MATERIAL_OPENSSL, TIMEOUT)
                _renegotiate(ep, other)
    else:
        port = free_udp_port()
        command = openssl_server_command(port, peer, srtp="SRTP_AES128_CM_SHA1_80", cookie=False)
        with start_peer(command) as other:
            other.wait_for(READY_OPENSSL_SERVER, TIMEOUT)
            with DtlsUdpEndpoint(DtlsConnection(config, "client"), ("127.0.0.1", port)) as ep:
                ep.handshake(TIMEOUT)
                other.wait_for(KEYING_MATERIAL_OPENSSL, TIMEOUT)
                _renegotiate(ep, other)


def _renegotiate(ep: DtlsUdpEndpoint, other: PeerProcess) -> None:
    """OpenSSL prints nothing when it gets no_renegotiation (a warning), so the check is on our
    side: exactly one datagram (the alert) answers the renegotiation message, and it is not
    taken for a retransmission of the last flight."""
    sent_before = ep.datagrams_out
    other.write(b"R\n")
    other.wait_for("(?i)renegotiat", TIMEOUT)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline and ep.closed() is None:
        ep.step(deadline)
    closed = ep.closed()  # OpenSSL may end it with handshake_failure: its choice, not ours
    assert closed is None or (closed.error is not None and closed.error.remote), closed
    assert "retransmission-rate-limited" not in ep.conn.dropped, ep.conn.dropped
    assert ep.datagrams_out == sent_before + 1, (ep.datagrams_out - sent_before, ep.conn.dropped)
