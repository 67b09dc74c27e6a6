"""The DTLS 1.2 code points: RFC 6347 and the TLS 1.2 registries it inherits (RFC 5246 §A,
RFC 8422, RFC 7627, RFC 5764, RFC 7714, RFC 7905, RFC 8446 §4.2 for the 1.3 extensions a 1.2
server must recognise).

Every enum is an ``IntEnum`` so that values compare and serialize as plain integers; a peer may
send values outside an enum (a parser keeps them as ``int``), so code that reads a received
value must not assume it is a member.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "DTLS_1_0",
    "DTLS_1_2",
    "DTLS_1_3",
    "AlertDescription",
    "AlertLevel",
    "CipherSuite",
    "ContentType",
    "ExtensionType",
    "HandshakeType",
    "NamedGroup",
    "SignatureScheme",
    "SrtpProfileId",
]

#: RFC 6347 §4.1: "the version number is the 1's complement of the version on the wire":
#: DTLS 1.0 is {254, 255}, DTLS 1.2 is {254, 253}.  DTLS 1.3 (RFC 9147 §5.3) is {254, 252}.
DTLS_1_0 = 0xFEFF
DTLS_1_2 = 0xFEFD
DTLS_1_3 = 0xFEFC


class ContentType(IntEnum):
    """RFC 5246 §6.2.1 ContentType (RFC 6347 §4.1 keeps them)."""

    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23


class HandshakeType(IntEnum):
    """RFC 5246 §7.4 HandshakeType, plus RFC 6347 §4.3.2 hello_verify_request (3)."""

    HELLO_REQUEST = 0
    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    HELLO_VERIFY_REQUEST = 3
    CERTIFICATE = 11
    SERVER_KEY_EXCHANGE = 12
    CERTIFICATE_REQUEST = 13
    SERVER_HELLO_DONE = 14
    CERTIFICATE_VERIFY = 15
    CLIENT_KEY_EXCHANGE = 16
    FINISHED = 20


class AlertLevel(IntEnum):
    """RFC 5246 §7.2 AlertLevel."""

    WARNING = 1
    FATAL = 2


class AlertDescription(IntEnum):
    """RFC 5246 §7.2 AlertDescription (and RFC 8446 §6 for the ones a 1.2 stack may meet)."""

    CLOSE_NOTIFY = 0
    UNEXPECTED_MESSAGE = 10
    BAD_RECORD_MAC = 20
    RECORD_OVERFLOW = 22
    HANDSHAKE_FAILURE = 40
    BAD_CERTIFICATE = 42
    UNSUPPORTED_CERTIFICATE = 43
    CERTIFICATE_REVOKED = 44
    CERTIFICATE_EXPIRED = 45
    CERTIFICATE_UNKNOWN = 46
    ILLEGAL_PARAMETER = 47
    UNKNOWN_CA = 48
    ACCESS_DENIED = 49
    DECODE_ERROR = 50
    DECRYPT_ERROR = 51
    PROTOCOL_VERSION = 70
    INSUFFICIENT_SECURITY = 71
    INTERNAL_ERROR = 80
    INAPPROPRIATE_FALLBACK = 86
    USER_CANCELED = 90
    NO_RENEGOTIATION = 100
    MISSING_EXTENSION = 109
    UNSUPPORTED_EXTENSION = 110


class CipherSuite(IntEnum):
    """The cipher suites rtcstack negotiates (RFC 5289 §3.2 GCM, RFC 7905 §2 ChaCha20-Poly1305),
    in its order of preference: ECDSA first, AES-128-GCM first (WebRTC's mandatory suite,
    RFC 8827 §6.5: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")."""

    ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = 0xC02B
    ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 = 0xC02C
    ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 = 0xCCA9
    ECDHE_RSA_WITH_AES_128_GCM_SHA256 = 0xC02F
    ECDHE_RSA_WITH_AES_256_GCM_SHA384 = 0xC030
    ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 = 0xCCA8


#: RFC 5746 §3.3: the signalling cipher suite value a client may send instead of the empty
#: renegotiation_info extension.
TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF


class NamedGroup(IntEnum):
    """RFC 8422 §5.1.1 / RFC 8446 §4.2.7 named groups rtcstack does ECDHE on."""

    SECP256R1 = 23
    SECP384R1 = 24
    X25519 = 29


class SignatureScheme(IntEnum):
    """RFC 5246 §7.4.1.4.1 SignatureAndHashAlgorithm pairs as the RFC 8446 §4.2.3 code points
    (hash << 8 | signature): the ones browsers send for DTLS 1.2."""

    ECDSA_SECP256R1_SHA256 = 0x0403
    ECDSA_SECP384R1_SHA384 = 0x0503
    ECDSA_SECP521R1_SHA512 = 0x0603
    RSA_PSS_RSAE_SHA256 = 0x0804
    RSA_PSS_RSAE_SHA384 = 0x0805
    RSA_PSS_RSAE_SHA512 = 0x0806
    RSA_PKCS1_SHA256 = 0x0401
    RSA_PKCS1_SHA384 = 0x0501
    RSA_PKCS1_SHA512 = 0x0601
    ECDSA_SHA1 = 0x0203
    RSA_PKCS1_SHA1 = 0x0201


class ExtensionType(IntEnum):
    """TLS ExtensionType values rtcstack reads or writes."""

    SUPPORTED_GROUPS = 10  # RFC 8422 §5.1.1 (was elliptic_curves)
    EC_POINT_FORMATS = 11  # RFC 8422 §5.1.2
    SIGNATURE_ALGORITHMS = 13  # RFC 5246 §7.4.1.4.1
    USE_SRTP = 14  # RFC 5764 §4.1.1
    ALPN = 16  # RFC 7301
    EXTENDED_MASTER_SECRET = 23  # RFC 7627 §5.1
    SESSION_TICKET = 35  # RFC 5077
    SUPPORTED_VERSIONS = 43  # RFC 8446 §4.2.1 (DTLS 1.3 offers)
    KEY_SHARE = 51  # RFC 8446 §4.2.8 (DTLS 1.3 offers)
    RENEGOTIATION_INFO = 0xFF01  # RFC 5746 §3.2


class SrtpProfileId(IntEnum):
    """RFC 5764 §4.1.2 SRTPProtectionProfile values, with RFC 7714 §14.2's GCM profiles."""

    SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001
    SRTP_AES128_CM_HMAC_SHA1_32 = 0x0002
    SRTP_AEAD_AES_128_GCM = 0x0007
    SRTP_AEAD_AES_256_GCM = 0x0008
