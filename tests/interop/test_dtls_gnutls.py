"""DTLS 1.2 interop with GnuTLS 3.7 (Debian ``gnutls-bin``): rtcstack client <-> ``gnutls-serv
--udp`` and ``gnutls-cli --udp`` <-> rtcstack server, on 127.0.0.1 (issue #5).

The matrix: both roles x cookie exchange on/off x MTU 500 (fragmented flights) or default x the
AES-CM SRTP profiles (GnuTLS 3.7 has no GCM ones) x ECDSA/RSA certificate on each side; then each
AEAD cipher and each group forced with ``--priority``.

What each side can check: gnutls-cli prints the ``EXTRACTOR-dtls_srtp`` keying material, the
negotiated suite and profile, and the certificate it received (its ``pin-sha256``), so against
gnutls-cli all of it is compared with ours.  gnutls-serv in UDP mode is a plain echo server that
prints none of that: against it we check our side (peer certificate = the PEM we gave it,
negotiated profile) and that data comes back through its keys (both directions, since it echoes).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from rtcstack.dtls.certificate import Certificate
from rtcstack.dtls.connection import (
    SRTP_KEY_SALT_LENGTHS,
    DtlsConfig,
    DtlsConnection,
    HandshakeComplete,
)
from rtcstack.dtls.constants import CipherSuite, NamedGroup, SrtpProfileId
from tests.interop.dtls_peers import (
    GNUTLS_DTLS12,
    KEYING_MATERIAL_GNUTLS,
    READY_GNUTLS_SERVER,
    SRTP_PROFILE_NAMES,
    Credentials,
    DtlsUdpEndpoint,
    free_udp_port,
    gnutls_client_command,
    gnutls_server_command,
    require_binary,
    start_peer,
    write_credentials,
)

pytestmark = pytest.mark.interop

KEY_TYPES = ("ecdsa-p256", "rsa-2048")
CM_PROFILES = (SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_80, SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_32)
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def creds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, str], Credentials]]:
    """("ours" | "peer", key type) -> a certificate written as PEM (generated once)."""
    require_binary("gnutls-serv", "gnutls-bin")
    require_binary("gnutls-cli", "gnutls-bin")
    directory: Path = tmp_path_factory.mktemp("dtls-gnutls")
    yield {
        (who, key_type): write_credentials(directory, f"{who}-{key_type}",
                                           Certificate.generate(key_type, common_name=who))
        for who in ("ours", "peer")
        for key_type in KEY_TYPES
    }


def _gnutls_name(profile: int) -> str:
    name = SRTP_PROFILE_NAMES[profile][1]
    if name is None:
        raise ValueError(f"GnuTLS has no SRTP profile {profile:#06x}")
    return name


def _keymat_length(profile: int) -> int:
    key, salt = SRTP_KEY_SALT_LENGTHS[profile]
    return 2 * (key + salt)


def _pin_sha256(certificate: Certificate) -> str:
    """GnuTLS's ``pin-sha256``: base64 SHA-256 of the SubjectPublicKeyInfo (RFC 7469 §2.4)."""
    spki = certificate.certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def _handshake_event(ep: DtlsUdpEndpoint) -> HandshakeComplete:
    return next(e for e in ep.events if isinstance(e, HandshakeComplete))


MATRIX = [
    pytest.param(cookie, mtu, profile, our_key, peer_key,
                 id=f"{'cookie' if cookie else 'nocookie'}-mtu{mtu}-"
                    f"{SrtpProfileId(profile).name}-ours_{our_key}-peer_{peer_key}")
    for cookie, mtu, profile, our_key, peer_key in itertools.product(
        (True, False), (500, 1200), CM_PROFILES, KEY_TYPES, KEY_TYPES)
]


@pytest.mark.parametrize(("cookie", "mtu", "profile", "our_key", "peer_key"), MATRIX)
def test_rtcstack_client_gnutls_server(
    creds: dict[tuple[str, str], Credentials], cookie: bool, mtu: int, profile: int,
    our_key: str, peer_key: str,
) -> None:
    ours, peer = creds["ours", our_key], creds["peer", peer_key]
    port = free_udp_port()
    command = gnutls_server_command(port, peer, srtp=_gnutls_name(profile), cookie=cookie,
                                    mtu=mtu if mtu != 1200 else None)
    with start_peer(command) as server:
        server.wait_for(READY_GNUTLS_SERVER, TIMEOUT)
        config = DtlsConfig(ours.certificate, remote_fingerprints=[peer.fingerprint], mtu=mtu)
        with DtlsUdpEndpoint(DtlsConnection(config, "client"), ("127.0.0.1", port)) as ep:
            hc = ep.handshake(TIMEOUT)
            assert hc.peer_certificate == peer.certificate.der
            assert hc.srtp_profile == profile
            assert len(ep.conn.srtp_keying_material()) == _keymat_length(profile)
            # gnutls-serv echoes: our data goes out under our keys and comes back under its.
            ep.send(b"hello-from-rtcstack\n")
            ep.run_until(b"hello-from-rtcstack\n", TIMEOUT)
            server.wait_for("hello-from-rtcstack", TIMEOUT)
            assert ep.max_datagram_out <= mtu
            if mtu == 500:
                assert ep.max_datagram_in <= mtu


@pytest.mark.parametrize(("cookie", "mtu", "profile", "our_key", "peer_key"), MATRIX)
def test_gnutls_client_rtcstack_server(
    creds: dict[tuple[str, str], Credentials], cookie: bool, mtu: int, profile: int,
    our_key: str, peer_key: str,
) -> None:
    ours, peer = creds["ours", our_key], creds["peer", peer_key]
    config = DtlsConfig(ours.certificate, remote_fingerprints=[peer.fingerprint], mtu=mtu,
                        require_cookie=cookie)
    with DtlsUdpEndpoint(DtlsConnection(config, "server")) as ep:
        command = gnutls_client_command(ep.address[1], peer, srtp=_gnutls_name(profile),
                                        mtu=mtu if mtu != 1200 else None,
                                        keymat_length=_keymat_length(profile))
        with start_peer(command) as client:
            hc = ep.handshake(TIMEOUT)
            assert hc.peer_certificate == peer.certificate.der
            assert hc.srtp_profile == profile
            keymat = client.wait_for(KEYING_MATERIAL_GNUTLS, TIMEOUT).group(1)
            assert keymat.lower() == ep.conn.srtp_keying_material().hex()
            output = client.output()
            assert f'pin-sha256="{_pin_sha256(ours.certificate)}"' in output
            assert f"- SRTP profile: {_gnutls_name(profile)}" in output
            client.wait_for("Handshake was completed", TIMEOUT)
            client.write(b"hello-from-gnutls\n")
            ep.run_until(b"hello-from-gnutls\n", TIMEOUT)
            ep.send(b"hello-from-rtcstack\n")
            client.wait_for("hello-from-rtcstack", TIMEOUT)
            assert ep.max_datagram_out <= mtu
            if mtu == 500:
                assert ep.max_datagram_in <= mtu


#: rtcstack suite -> (GnuTLS cipher priority, what gnutls-cli's Description shows).
_GNUTLS_CIPHERS = {
    CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "AES-128-GCM",
    CipherSuite.ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "AES-256-GCM",
    CipherSuite.ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "CHACHA20-POLY1305",
    CipherSuite.ECDHE_RSA_WITH_AES_128_GCM_SHA256: "AES-128-GCM",
    CipherSuite.ECDHE_RSA_WITH_AES_256_GCM_SHA384: "AES-256-GCM",
    CipherSuite.ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "CHACHA20-POLY1305",
}
_GNUTLS_GROUPS = {NamedGroup.X25519: "X25519", NamedGroup.SECP256R1: "SECP256R1",
                  NamedGroup.SECP384R1: "SECP384R1"}
SUITES = [pytest.param(suite, group, id=f"{suite.name}-{group.name}")
          for suite in CipherSuite for group in NamedGroup]


def _priority(suite: CipherSuite, group: NamedGroup) -> str:
    # P-256 stays allowed: it is the curve of the ECDSA certificates (RFC 8422 §5.3); the
    # group actually used is forced on the side that picks it.
    allowed = [group] if group == NamedGroup.SECP256R1 else [group, NamedGroup.SECP256R1]
    groups = ":".join(f"+GROUP-{_GNUTLS_GROUPS[g]}" for g in allowed)
    return (f"{GNUTLS_DTLS12}:-CIPHER-ALL:+{_GNUTLS_CIPHERS[suite]}:-GROUP-ALL:{groups}")


def _key_for(suite: CipherSuite) -> str:
    return "ecdsa-p256" if "ECDSA" in suite.name else "rsa-2048"


@pytest.mark.parametrize(("suite", "group"), SUITES)
def test_cipher_suites_gnutls_client_rtcstack_server(
    creds: dict[tuple[str, str], Credentials], suite: CipherSuite, group: NamedGroup
) -> None:
    ours, peer = creds["ours", _key_for(suite)], creds["peer", "ecdsa-p256"]
    config = DtlsConfig(ours.certificate, remote_fingerprints=[peer.fingerprint],
                        groups=(group,))
    with DtlsUdpEndpoint(DtlsConnection(config, "server")) as ep:
        command = gnutls_client_command(ep.address[1], peer, srtp="SRTP_AES128_CM_HMAC_SHA1_80",
                                        priority=_priority(suite, group))
        with start_peer(command) as client:
            ep.handshake(TIMEOUT)
            assert ep.conn.cipher_suite == suite
            keymat = client.wait_for(KEYING_MATERIAL_GNUTLS, TIMEOUT).group(1)
            assert keymat.lower() == ep.conn.srtp_keying_material().hex()
            kx = "ECDSA" if "ECDSA" in suite.name else "RSA"
            description = client.wait_for(r"- Description: (.*)", TIMEOUT).group(1)
            assert f"(ECDHE-{_GNUTLS_GROUPS[group]})" in description, description
            assert f"({_GNUTLS_CIPHERS[suite]})" in description, description
            assert kx in description, description
            client.wait_for("Handshake was completed", TIMEOUT)
            client.write(b"ping\n")
            ep.run_until(b"ping\n", TIMEOUT)


@pytest.mark.parametrize(("suite", "group"), SUITES)
def test_cipher_suites_rtcstack_client_gnutls_server(
    creds: dict[tuple[str, str], Credentials], suite: CipherSuite, group: NamedGroup
) -> None:
    ours, peer = creds["ours", "rsa-2048"], creds["peer", _key_for(suite)]
    port = free_udp_port()
    command = gnutls_server_command(port, peer, srtp="SRTP_AES128_CM_HMAC_SHA1_32", cookie=True,
                                    priority=_priority(suite, group))
    with start_peer(command) as server:
        server.wait_for(READY_GNUTLS_SERVER, TIMEOUT)
        config = DtlsConfig(ours.certificate, remote_fingerprints=[peer.fingerprint],
                            groups=(group,))
        with DtlsUdpEndpoint(DtlsConnection(config, "client"), ("127.0.0.1", port)) as ep:
            ep.handshake(TIMEOUT)
            assert ep.conn.cipher_suite == suite
            assert _handshake_event(ep).srtp_profile == SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_32
            ep.send(b"ping\n")
            ep.run_until(b"ping\n", TIMEOUT)


def test_wrong_fingerprint_rtcstack_client(creds: dict[tuple[str, str], Credentials]) -> None:
    ours, peer = creds["ours", "ecdsa-p256"], creds["peer", "ecdsa-p256"]
    wrong = creds["peer", "rsa-2048"].fingerprint
    port = free_udp_port()
    # -d 5: only gnutls-serv's debug log names the alert it receives.
    command = [*gnutls_server_command(port, peer, srtp="SRTP_AES128_CM_HMAC_SHA1_80",
                                      cookie=True), "-d", "5"]
    with start_peer(command) as server:
        server.wait_for(READY_GNUTLS_SERVER, TIMEOUT)
        config = DtlsConfig(ours.certificate, remote_fingerprints=[wrong])
        with DtlsUdpEndpoint(DtlsConnection(config, "client"), ("127.0.0.1", port)) as ep:
            ep.expect_bad_certificate(TIMEOUT)
            server.wait_for(r"Alert\[2\|42\] - Certificate is bad - was received", TIMEOUT)


def test_wrong_fingerprint_rtcstack_server(creds: dict[tuple[str, str], Credentials]) -> None:
    ours, peer = creds["ours", "ecdsa-p256"], creds["peer", "ecdsa-p256"]
    wrong = creds["peer", "rsa-2048"].fingerprint
    config = DtlsConfig(ours.certificate, remote_fingerprints=[wrong])
    with DtlsUdpEndpoint(DtlsConnection(config, "server")) as ep:
        command = gnutls_client_command(ep.address[1], peer, srtp="SRTP_AES128_CM_HMAC_SHA1_80")
        with start_peer(command) as client:
            ep.expect_bad_certificate(TIMEOUT)
            client.wait_for(r"(?i)alert.*(42|certificate is bad)", TIMEOUT)
