"""DTLS 1.2 handshake: one full in-memory handshake, both sides, ECDSA P-256 certificates.

rtcstack: a client and a server :class:`~rtcstack.dtls.connection.DtlsConnection`
(``require_cookie=False``, as aiortc's server sends no HelloVerifyRequest; the remote
fingerprints configured, so each side checks the peer's certificate against its RFC 8122 §5
sha-256 fingerprint; SRTP profiles in aiortc's order), datagrams handed from one to the other
until both report ``HandshakeComplete``, then the RFC 5764 §4.2 SRTP keying material of each.

Reference -- what is measured: **pyOpenSSL's DTLS directly**, not ``aiortc.RTCDtlsTransport``.
The transport object cannot run without an ``RTCIceTransport`` and an asyncio loop (its
handshake loop awaits ICE datagrams), so the reference runs the same steps aiortc's transport
runs, without the ICE plumbing: ``SSL.Connection`` on aiortc's own context
(``RTCCertificate._create_ssl_context(SRTP_PROFILES)``: ``DTLS_METHOD``, no tickets, peer
verification required, aiortc's cipher list and SRTP profiles), memory BIOs, ``do_handshake``
on both sides with the datagrams moved by ``bio_read``/``bio_write`` until both finish, then
aiortc's fingerprint check (``certificate_digest`` of the peer certificate) and
``export_keying_material(b"EXTRACTOR-dtls_srtp", ...)`` on each side.  That is aiortc's
handshake cost minus its asyncio and ICE overhead, so the comparison favours the reference.

Certificates and keys are generated once, outside the timed part.  Both sides return the
negotiated suite and SRTP profile, which must be the same, and whether both ends derived the
same keying material.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiortc.rtcdtlstransport import (
    SRTP_PROFILES,
    RTCCertificate,
    certificate_digest,
)
from OpenSSL import SSL

from bench.harness import Case
from rtcstack.dtls.certificate import Certificate
from rtcstack.dtls.connection import DtlsConfig, DtlsConnection, HandshakeComplete
from rtcstack.dtls.constants import CipherSuite, SrtpProfileId

REFERENCE = "pyOpenSSL DTLS as aiortc sets it up"
TARGET_RATIO = 1.0

#: aiortc's SRTP profile order (``SRTP_PROFILES``), as rtcstack code points.
_SRTP_ORDER = {
    b"SRTP_AEAD_AES_256_GCM": SrtpProfileId.SRTP_AEAD_AES_256_GCM,
    b"SRTP_AEAD_AES_128_GCM": SrtpProfileId.SRTP_AEAD_AES_128_GCM,
    b"SRTP_AES128_CM_SHA1_80": SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_80,
}
_OPENSSL_SUITES = {"ECDHE-ECDSA-AES128-GCM-SHA256": "ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}
Outcome = tuple[str, str, bool]


def _ours() -> Callable[[], Outcome]:
    client_cert, server_cert = Certificate.generate(), Certificate.generate()
    profiles = tuple(_SRTP_ORDER[p.openssl_profile] for p in SRTP_PROFILES)
    client_config = DtlsConfig(client_cert, [("sha-256", server_cert.fingerprint())],
                               srtp_profiles=profiles, require_cookie=False)
    server_config = DtlsConfig(server_cert, [("sha-256", client_cert.fingerprint())],
                               srtp_profiles=profiles, require_cookie=False)

    def handshake() -> Outcome:
        client = DtlsConnection(client_config, "client")
        server = DtlsConnection(server_config, "server")
        client.connect(now=0.0)
        done: dict[str, HandshakeComplete] = {}
        pairs = (("client", client, server), ("server", server, client))
        for _ in range(20):
            for name, src, dst in pairs:
                while (datagram := src.poll_transmit()) is not None:
                    dst.handle_datagram(datagram, now=0.0)
                while (event := src.poll_event()) is not None:
                    if isinstance(event, HandshakeComplete):
                        done[name] = event
            if len(done) == 2:
                break
        else:
            raise RuntimeError("the rtcstack handshake did not complete")
        suite = CipherSuite(done["client"].cipher_suite).name
        profile = SrtpProfileId(done["client"].srtp_profile or 0).name
        same = client.srtp_keying_material() == server.srtp_keying_material()
        return suite, profile, same

    return handshake


def _theirs() -> Callable[[], Outcome]:
    client_cert = RTCCertificate.generateCertificate()
    server_cert = RTCCertificate.generateCertificate()
    expected = {
        "client": server_cert.getFingerprints()[0],
        "server": client_cert.getFingerprints()[0],
    }
    by_name = {p.openssl_profile: p for p in SRTP_PROFILES}

    def pump(src: Any, dst: Any) -> bool:
        moved = False
        while True:
            try:
                dst.bio_write(src.bio_read(65536))
            except SSL.WantReadError:
                return moved
            moved = True

    def handshake() -> Outcome:
        client = SSL.Connection(client_cert._create_ssl_context(srtp_profiles=SRTP_PROFILES))
        server = SSL.Connection(server_cert._create_ssl_context(srtp_profiles=SRTP_PROFILES))
        client.set_connect_state()
        server.set_accept_state()
        finished = {"client": False, "server": False}
        sides = (("client", client, server), ("server", server, client))
        for _ in range(20):
            for name, side, peer in sides:
                if not finished[name]:
                    try:
                        side.do_handshake()
                        finished[name] = True
                    except SSL.WantReadError:
                        pass
                pump(side, peer)
            if all(finished.values()):
                break
        else:
            raise RuntimeError("the pyOpenSSL handshake did not complete")
        keys = []
        for name, side, _ in sides:
            # aiortc's _validate_peer_identity and _setup_srtp
            peer_cert = side.get_peer_certificate(as_cryptography=True)
            fingerprint = expected[name]
            if peer_cert is None or (
                certificate_digest(peer_cert, fingerprint.algorithm) != fingerprint.value
            ):
                raise RuntimeError("fingerprint mismatch")
            profile = by_name[side.get_selected_srtp_profile()]
            keys.append(side.export_keying_material(
                b"EXTRACTOR-dtls_srtp", 2 * (profile.key_length + profile.salt_length)))
        suite = _OPENSSL_SUITES.get(client.get_cipher_name() or "", "?")
        return suite, _SRTP_ORDER[profile.openssl_profile].name, keys[0] == keys[1]

    return handshake


def cases() -> list[Case]:
    return [
        Case(
            name="full handshake, both sides, ECDSA P-256, no cookie",
            rtcstack=_ours(),
            reference=_theirs(),
            expect=("ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "SRTP_AEAD_AES_256_GCM", True),
        )
    ]
