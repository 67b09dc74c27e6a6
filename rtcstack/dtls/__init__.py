"""DTLS 1.2 (RFC 6347 over RFC 5246) for DTLS-SRTP (RFC 5764), written here on ``cryptography``.

``cryptography`` supplies only the primitives (ECDHE, ECDSA/RSA signatures, AES-GCM,
ChaCha20-Poly1305, HMAC, hashes, X.509); the records, handshake, key schedule and state machine
are this package:

==========================  ===============================================================
module                      what
==========================  ===============================================================
:mod:`.constants`           code points (content, handshake and alert types, suites, groups,
                            signature schemes, extensions, SRTP profile IDs)
:mod:`.record`              RFC 6347 §4.1 records, AEAD protection (RFC 5288, RFC 7905),
                            epochs, replay windows (§4.1.2.6)
:mod:`.messages`            RFC 5246 §7.4 handshake messages and extensions, RFC 6347 §4.2.3
                            fragmentation and reassembly
:mod:`.keys`                RFC 5246 §5 PRF, RFC 7627 extended master secret, key block,
                            Finished, RFC 5705 exporter, NSS key log lines
:mod:`.ecdhe`               X25519, P-256, P-384 key exchange (RFC 8422)
:mod:`.certificate`         self-signed ECDSA/RSA certificates, RFC 8122 fingerprints,
                            signatures
:mod:`.connection`          :class:`DtlsConnection`, client and server, flights and timers
==========================  ===============================================================

A connection speaks the drive loop every stateful rtcstack layer speaks: ``connect(now=)``
(client), ``handle_datagram(data, now=)``, ``handle_timeout(now=)``, ``poll_transmit()``,
``poll_event()`` (:class:`HandshakeComplete`, :class:`ApplicationData`, :class:`Closed`),
``poll_timeout()``.  Nothing the network sends raises; a fatal problem sends an alert and ends
in ``Closed(error)``.  WebRTC's rules are the defaults: extended master secret required,
mutual authentication with certificates checked against the SDP fingerprints, use_srtp with
the GCM and AES-CM profiles, renegotiation refused.

Out of scope: DTLS 1.3 (a 1.3 offer is answered with 1.2), session resumption and tickets,
renegotiation, PSK and non-ECDHE key exchange, CBC suites, ALPN, connection IDs (RFC 9146).

Two endpoints in memory (a real driver is :mod:`rtcstack.asyncio.dtls`):

>>> from rtcstack.dtls import Certificate, DtlsConfig, DtlsConnection, HandshakeComplete
>>> alice_cert, bob_cert = Certificate.generate(), Certificate.generate()
>>> client = DtlsConnection(DtlsConfig(alice_cert, [("sha-256", bob_cert.fingerprint())]),
...                         "client")
>>> server = DtlsConnection(DtlsConfig(bob_cert, [("sha-256", alice_cert.fingerprint())]),
...                         "server")
>>> client.connect(now=0.0)
>>> flights = 0
>>> while client.poll_timeout() is not None and flights < 10:
...     for sender, receiver in ((client, server), (server, client)):
...         while (datagram := sender.poll_transmit()) is not None:
...             receiver.handle_datagram(datagram, now=0.0)
...     flights += 1
>>> event = client.poll_event()
>>> isinstance(event, HandshakeComplete), event.srtp_profile.name
(True, 'SRTP_AEAD_AES_128_GCM')
>>> client.srtp_keying_material() == server.srtp_keying_material()
True
>>> client.send(b"hello")
>>> server.handle_datagram(client.poll_transmit(), now=0.0)
>>> server.poll_event(), server.poll_event()  # its HandshakeComplete, then the data
(HandshakeComplete(...), ApplicationData(data=b'hello'))
"""

from __future__ import annotations

from rtcstack.dtls.certificate import (
    Certificate,
    certificate_fingerprint,
    check_fingerprint,
    verify_signature,
)
from rtcstack.dtls.connection import (
    ApplicationData,
    Closed,
    DtlsConfig,
    DtlsConnection,
    DtlsState,
    Event,
    HandshakeComplete,
)
from rtcstack.dtls.constants import (
    DTLS_1_0,
    DTLS_1_2,
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ContentType,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    SignatureScheme,
    SrtpProfileId,
)
from rtcstack.dtls.errors import DtlsAlert, DtlsAuthenticationError, DtlsError
from rtcstack.dtls.record import Record, RecordCipher, RecordLayer, parse_datagram

__all__ = [
    "DTLS_1_0",
    "DTLS_1_2",
    "AlertDescription",
    "AlertLevel",
    "ApplicationData",
    "Certificate",
    "CipherSuite",
    "Closed",
    "ContentType",
    "DtlsAlert",
    "DtlsAuthenticationError",
    "DtlsConfig",
    "DtlsConnection",
    "DtlsError",
    "DtlsState",
    "Event",
    "ExtensionType",
    "HandshakeComplete",
    "HandshakeType",
    "NamedGroup",
    "Record",
    "RecordCipher",
    "RecordLayer",
    "SignatureScheme",
    "SrtpProfileId",
    "certificate_fingerprint",
    "check_fingerprint",
    "parse_datagram",
    "verify_signature",
]
