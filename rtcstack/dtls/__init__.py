"""DTLS 1.2 (RFC 6347 over RFC 5246) for DTLS-SRTP (RFC 5764), written on ``cryptography``.

Work in progress (issue #5): the code points (:mod:`rtcstack.dtls.constants`) and errors
(:mod:`rtcstack.dtls.errors`) exist; the record layer, handshake messages, key schedule and the
connection state machine are being written.
"""

from __future__ import annotations

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

__all__ = [
    "DTLS_1_0",
    "DTLS_1_2",
    "AlertDescription",
    "AlertLevel",
    "CipherSuite",
    "ContentType",
    "DtlsAlert",
    "DtlsAuthenticationError",
    "DtlsError",
    "ExtensionType",
    "HandshakeType",
    "NamedGroup",
    "SignatureScheme",
    "SrtpProfileId",
]
