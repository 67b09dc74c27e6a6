"""Certificates for DTLS-SRTP: self-signed, authenticated by the SDP fingerprint.

RFC 8827 §6.5: "Implementations MUST support ... self-signed certificates" matched by the
``a=fingerprint`` of RFC 8122 §5 (RFC 8826 §4.3.2.3: the certificate is bound to the session by
the fingerprint, not by a CA), so a peer certificate is never chain-validated here: the checks
are the fingerprint (:func:`check_fingerprint`) and the handshake signatures
(:func:`verify_signature`, RFC 5246 §7.4.3 ServerKeyExchange and §7.4.8 CertificateVerify, with
the RFC 8446 §4.2.3 signature scheme code points).  Validity dates are not checked (the sans-IO
core has no clock, and browsers do not check them for DTLS-SRTP either).

Randomness for the ECDSA key and the serial number comes from the injected ``random_bytes``;
RSA key generation uses OpenSSL's generator (``cryptography`` offers no seeded RSA keygen).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.dtls.constants import AlertDescription, SignatureScheme
from rtcstack.dtls.ecdhe import CURVE_ORDERS, scalar_from_random
from rtcstack.dtls.errors import DtlsAlert

__all__ = [
    "FINGERPRINT_ALGORITHMS",
    "SUPPORTED_SIGNATURE_SCHEMES",
    "Certificate",
    "certificate_fingerprint",
    "check_fingerprint",
    "verify_signature",
]

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey: TypeAlias = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

#: RFC 8122 §5 hash-func names rtcstack computes, strongest first: the order in which
#: :func:`check_fingerprint` prefers them ("its most preferred hash function").
FINGERPRINT_ALGORITHMS: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "sha-512": hashes.SHA512,
    "sha-384": hashes.SHA384,
    "sha-256": hashes.SHA256,
    "sha-224": hashes.SHA224,
    "sha-1": hashes.SHA1,
}

_S = SignatureScheme
#: scheme: (kind, hash, ECDSA curve name or None).
_SCHEMES: Final[dict[SignatureScheme, tuple[str, type[hashes.HashAlgorithm], str | None]]] = {
    _S.ECDSA_SECP256R1_SHA256: ("ecdsa", hashes.SHA256, "secp256r1"),
    _S.ECDSA_SECP384R1_SHA384: ("ecdsa", hashes.SHA384, "secp384r1"),
    _S.ECDSA_SECP521R1_SHA512: ("ecdsa", hashes.SHA512, "secp521r1"),
    _S.RSA_PSS_RSAE_SHA256: ("pss", hashes.SHA256, None),
    _S.RSA_PSS_RSAE_SHA384: ("pss", hashes.SHA384, None),
    _S.RSA_PSS_RSAE_SHA512: ("pss", hashes.SHA512, None),
    _S.RSA_PKCS1_SHA256: ("pkcs1", hashes.SHA256, None),
    _S.RSA_PKCS1_SHA384: ("pkcs1", hashes.SHA384, None),
    _S.RSA_PKCS1_SHA512: ("pkcs1", hashes.SHA512, None),
}

#: The schemes rtcstack signs and verifies, in the order to offer them (signature_algorithms,
#: CertificateRequest).  SHA-1 schemes are left out (RFC 9155 §2: "Clients MUST NOT include
#: MD5 and SHA-1 in the signature_algorithms extension").
SUPPORTED_SIGNATURE_SCHEMES: Final = (
    _S.ECDSA_SECP256R1_SHA256,
    _S.RSA_PSS_RSAE_SHA256,
    _S.RSA_PKCS1_SHA256,
    _S.ECDSA_SECP384R1_SHA384,
    _S.RSA_PSS_RSAE_SHA384,
    _S.RSA_PKCS1_SHA384,
    _S.ECDSA_SECP521R1_SHA512,
    _S.RSA_PSS_RSAE_SHA512,
    _S.RSA_PKCS1_SHA512,
)

_KEY_TYPES: Final = ("ecdsa-p256", "ecdsa-p384", "rsa-2048")


def _fingerprint(der: bytes, algorithm: str) -> str:
    try:
        algo = FINGERPRINT_ALGORITHMS[algorithm.lower()]
    except KeyError:
        raise ValueError(f"unknown fingerprint algorithm {algorithm!r}; expected one of "
                         f"{list(FINGERPRINT_ALGORITHMS)}") from None
    h = hashes.Hash(algo())
    h.update(der)
    # RFC 8122 §5: fingerprint = 2UHEX *(":" 2UHEX), "Each byte in upper-case hex, separated by
    # colons."
    return h.finalize().hex(":").upper()


def _schemes_for(key: PrivateKey | PublicKey) -> tuple[SignatureScheme, ...]:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return tuple(s for s in SUPPORTED_SIGNATURE_SCHEMES if _SCHEMES[s][2] == key.curve.name)
    return tuple(s for s in SUPPORTED_SIGNATURE_SCHEMES if _SCHEMES[s][0] != "ecdsa")


def _pss(algorithm: hashes.HashAlgorithm) -> padding.PSS:
    # RFC 8446 §4.2.3: "The length of the Salt MUST be equal to the length of the output of the
    # digest algorithm."
    return padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)


@dataclass(frozen=True, slots=True, eq=False)
class Certificate:
    """A certificate and its private key (immutable; reuse it across connections).

    Build it with :meth:`generate` or :meth:`from_pem`.
    """

    certificate: x509.Certificate
    private_key: PrivateKey = field(repr=False)
    der: bytes = field(repr=False)

    @classmethod
    def generate(cls, key_type: str = "ecdsa-p256", *, common_name: str = "rtcstack",
                 lifetime_days: int = 30, now: datetime.datetime | None = None,
                 random_bytes: RandomBytes = default_random_bytes) -> Certificate:
        """A self-signed certificate (RFC 8827 §6.5) with a ``key_type`` of ``"ecdsa-p256"``
        (the default, what browsers make), ``"ecdsa-p384"`` or ``"rsa-2048"``; signed with
        SHA-256.  Browsers accept any subject, so ``common_name`` is free.  ``notBefore`` is a
        day before ``now`` (clock skew); ``notAfter`` ``lifetime_days`` after it.  ``now``
        defaults to the current UTC time (read here, at setup, never on a packet path)."""
        if key_type not in _KEY_TYPES:
            raise ValueError(f"key_type must be one of {_KEY_TYPES}, not {key_type!r}")
        if lifetime_days <= 0:
            raise ValueError("lifetime_days must be positive")
        if now is None:
            now = datetime.datetime.now(datetime.UTC)
        elif now.tzinfo is None:
            now = now.replace(tzinfo=datetime.UTC)
        key: PrivateKey
        if key_type == "rsa-2048":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            curve: ec.EllipticCurve = ec.SECP256R1() if key_type == "ecdsa-p256" else ec.SECP384R1()
            order = CURVE_ORDERS[curve.name]
            key = ec.derive_private_key(scalar_from_random(random_bytes, order), curve)
        # RFC 5280 §4.1.2.2: a positive integer of at most 20 octets; 127 random bits.
        serial = (int.from_bytes(random_bytes(16), "big") >> 1) or 1
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=lifetime_days))
            .sign(key, hashes.SHA256())
        )
        return cls._make(cert, key)

    @classmethod
    def from_pem(cls, cert_pem: bytes | str, key_pem: bytes | str,
                 password: bytes | None = None) -> Certificate:
        """Load a PEM certificate and its PEM private key (PKCS#8 or traditional).
        ``ValueError`` if either does not load, the key is neither EC nor RSA, or the key is not
        the certificate's."""
        cert = x509.load_pem_x509_certificate(_b(cert_pem))
        key = serialization.load_pem_private_key(_b(key_pem), password)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"unsupported private key type {type(key).__name__}: ECDSA or RSA")
        pub = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        if key.public_key().public_bytes(der, pub) != cert.public_key().public_bytes(der, pub):
            raise ValueError("the private key does not belong to the certificate")
        return cls._make(cert, key)

    @classmethod
    def _make(cls, cert: x509.Certificate, key: PrivateKey) -> Certificate:
        return cls(cert, key, cert.public_bytes(serialization.Encoding.DER))

    def to_pem(self) -> tuple[bytes, bytes]:
        """(certificate PEM, unencrypted PKCS#8 private key PEM)."""
        key = self.private_key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
        return self.certificate.public_bytes(serialization.Encoding.PEM), key

    def fingerprint(self, algorithm: str = "sha-256") -> str:
        """RFC 8122 §5 fingerprint of the DER certificate, ``"AB:CD:..."``."""
        return _fingerprint(self.der, algorithm)

    @property
    def key_type(self) -> str:
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return f"rsa-{self.private_key.key_size}"
        return {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384",
                "secp521r1": "ecdsa-p521"}.get(self.private_key.curve.name, "ecdsa")

    @property
    def signature_schemes(self) -> tuple[SignatureScheme, ...]:
        """The schemes this key signs with, best first (an ECDSA key: the one scheme of its
        curve; RSA: PSS-RSAE then PKCS#1 v1.5 for SHA-256, SHA-384, SHA-512)."""
        return _schemes_for(self.private_key)

    def sign(self, scheme: SignatureScheme | int, data: bytes) -> bytes:
        """Sign ``data`` (the message, not a digest) with ``scheme``: ECDSA gives the DER
        ``ECDSA-Sig-Value`` (RFC 8422 §5.4), RSA PKCS#1 v1.5 or PSS with the salt as long as
        the hash (RFC 8446 §4.2.3).  ``ValueError`` if this key cannot sign with ``scheme``."""
        if scheme not in self.signature_schemes:
            raise ValueError(f"a {self.key_type} key cannot sign with scheme {scheme!r}")
        kind, algo, _ = _SCHEMES[SignatureScheme(scheme)]
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(algo()))
        pad = _pss(algo()) if kind == "pss" else padding.PKCS1v15()
        return key.sign(data, pad, algo())


def _b(value: bytes | str) -> bytes:
    return value.encode("ascii") if isinstance(value, str) else value


def _load_public_key(cert_der: bytes) -> PublicKey:
    try:
        cert = x509.load_der_x509_certificate(cert_der)
    except ValueError as exc:
        raise DtlsAlert(AlertDescription.BAD_CERTIFICATE,
                        f"the certificate does not parse: {exc}") from None
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise DtlsAlert(AlertDescription.UNSUPPORTED_CERTIFICATE,
                        f"the certificate's public key does not load: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise DtlsAlert(AlertDescription.UNSUPPORTED_CERTIFICATE,
                        f"{type(key).__name__} certificates are not supported (ECDSA or RSA)")
    return key


def verify_signature(cert_der: bytes, scheme: SignatureScheme | int, data: bytes,
                     signature: bytes) -> None:
    """Check the peer's signature over ``data`` with the public key of ``cert_der`` (RFC 5246
    §7.4.3 ServerKeyExchange, §7.4.8 CertificateVerify).

    Raises :class:`DtlsAlert`: ``bad_certificate`` if the DER does not parse,
    ``unsupported_certificate`` for a key that is neither ECDSA nor RSA, ``illegal_parameter``
    for a scheme rtcstack does not accept or that does not fit the key (an RSA scheme for an
    EC key or the reverse; in TLS 1.2 an ECDSA scheme may use any curve), ``decrypt_error``
    for a signature that does not verify (RFC 5246 §7.2: "A handshake cryptographic operation
    failed, including being unable to correctly verify a signature").
    """
    key = _load_public_key(cert_der)
    if scheme not in _SCHEMES:
        raise DtlsAlert(AlertDescription.ILLEGAL_PARAMETER,
                        f"signature scheme 0x{int(scheme):04x} is not supported")
    kind, algo, _ = _SCHEMES[SignatureScheme(scheme)]
    # In TLS 1.2 the code point is a (hash, signature) pair (RFC 5246 §7.4.1.4.1): "ecdsa with
    # SHA-256" does not name a curve (RFC 8446 §4.2.3 ties them only for TLS 1.3), so any ECDSA
    # scheme fits an EC key and any RSA scheme an RSA key.
    if (kind == "ecdsa") != isinstance(key, ec.EllipticCurvePublicKey):
        raise DtlsAlert(AlertDescription.ILLEGAL_PARAMETER,
                        f"signature scheme {SignatureScheme(scheme).name} does not fit the "
                        f"certificate's key")
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algo()))
        else:
            key.verify(signature, data, _pss(algo()) if kind == "pss" else padding.PKCS1v15(),
                       algo())
    except InvalidSignature:
        raise DtlsAlert(AlertDescription.DECRYPT_ERROR,
                        f"the {SignatureScheme(scheme).name} signature does not verify") from None


def certificate_fingerprint(cert_der: bytes, algorithm: str = "sha-256") -> str:
    """RFC 8122 §5 fingerprint of a DER certificate: upper-case hex pairs joined by colons.
    ``algorithm`` is one of sha-1, sha-224, sha-256, sha-384, sha-512 (any case)."""
    return _fingerprint(cert_der, algorithm)


def check_fingerprint(cert_der: bytes, expected: Iterable[tuple[str, str]]) -> None:
    """Check the peer's certificate against the ``a=fingerprint`` values from its SDP, as
    ``(algorithm, value)`` pairs.

    RFC 8122 §5: "An endpoint MUST select the set of fingerprints that use its most preferred
    hash function (out of those offered by the peer) and verify that each certificate used
    matches one fingerprint out of that set.  If a certificate does not match any such
    fingerprint, the endpoint MUST NOT establish the TLS connection."  rtcstack prefers the
    strongest hash (:data:`FINGERPRINT_ALGORITHMS` order); algorithm names and hex compare
    case-insensitively.  A mismatch, or no fingerprint with a known hash, raises
    ``DtlsAlert(BAD_CERTIFICATE)``.
    """
    offered: dict[str, list[str]] = {}
    for algorithm, value in expected:
        offered.setdefault(algorithm.strip().lower(), []).append(value.strip().upper())
    chosen = next((a for a in FINGERPRINT_ALGORITHMS if a in offered), None)
    if chosen is None:
        raise DtlsAlert(AlertDescription.BAD_CERTIFICATE,
                        f"no fingerprint with a supported hash function to check the certificate "
                        f"against (offered: {sorted(offered) or 'none'})")
    actual = _fingerprint(cert_der, chosen)
    if actual not in offered[chosen]:
        raise DtlsAlert(AlertDescription.BAD_CERTIFICATE,
                        f"the certificate's {chosen} fingerprint {actual} matches none of the "
                        f"{len(offered[chosen])} from the SDP")
