"""Ephemeral ECDH for the DTLS 1.2 ECDHE key exchange: RFC 8422 §5.4 (ServerECDHParams,
signed ``client_random + server_random + params``), §5.10 (the premaster secret), §5.11
(public key validation); X25519 per RFC 7748 §6.1.

The private key is made from the injected ``random_bytes`` (so a seeded source replays a whole
handshake); the arithmetic is ``cryptography``'s.
"""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.dtls.constants import AlertDescription, NamedGroup
from rtcstack.dtls.errors import DtlsAlert

__all__ = [
    "CURVE_ORDERS",
    "SUPPORTED_GROUPS",
    "KeyExchange",
    "scalar_from_random",
    "server_ecdh_params",
    "signed_params",
]

#: The groups rtcstack offers, in order of preference (X25519 first, as browsers do).
SUPPORTED_GROUPS: Final = (NamedGroup.X25519, NamedGroup.SECP256R1, NamedGroup.SECP384R1)

#: The group order n of each NIST curve, by ``cryptography`` curve name (SEC 2 §2.4.2, §2.5.1).
CURVE_ORDERS: Final[dict[str, int]] = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
                     "C7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16),
}

_CURVES: Final[dict[NamedGroup, tuple[type[ec.EllipticCurve], int, int]]] = {
    # group: (curve, coordinate length, group order n)
    NamedGroup.SECP256R1: (ec.SECP256R1, 32, CURVE_ORDERS["secp256r1"]),
    NamedGroup.SECP384R1: (ec.SECP384R1, 48, CURVE_ORDERS["secp384r1"]),
}

#: RFC 8422 §5.4 ECCurveType named_curve.
NAMED_CURVE: Final = 3


def scalar_from_random(random_bytes: RandomBytes, order: int) -> int:
    """A private scalar in [1, n-1]: 64 more random bits than n has, reduced mod n-1, plus 1
    (the bias is below 2^-64; FIPS 186-4 §B.4.1 "extra random bits")."""
    nbytes = (order.bit_length() + 7) // 8 + 8
    return int.from_bytes(random_bytes(nbytes), "big") % (order - 1) + 1


class KeyExchange:
    """One ephemeral ECDHE key pair of ``group``: :meth:`generate`, send :meth:`public_bytes`,
    then :meth:`shared_secret` of the peer's public value is the premaster secret."""

    __slots__ = ("_private", "_public", "group")

    group: NamedGroup

    def __init__(self, group: NamedGroup,
                 private: x25519.X25519PrivateKey | ec.EllipticCurvePrivateKey) -> None:
        self.group = group
        self._private = private
        if isinstance(private, x25519.X25519PrivateKey):
            self._public = private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        else:
            self._public = private.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

    @classmethod
    def generate(cls, group: NamedGroup | int,
                 random_bytes: RandomBytes = default_random_bytes) -> KeyExchange:
        """A fresh key pair.  X25519: the 32 random bytes are the private key (clamped by the
        X25519 function, RFC 7748 §5); P-256 / P-384: the scalar from :func:`scalar_from_random`.
        ``ValueError`` for a group rtcstack does not implement."""
        if group == NamedGroup.X25519:
            private_key: x25519.X25519PrivateKey | ec.EllipticCurvePrivateKey
            private_key = x25519.X25519PrivateKey.from_private_bytes(random_bytes(32))
            return cls(NamedGroup.X25519, private_key)
        if group in _CURVES:
            named = NamedGroup(group)
            curve, _, order = _CURVES[named]
            scalar = scalar_from_random(random_bytes, order)
            return cls(named, ec.derive_private_key(scalar, curve()))
        raise ValueError(f"unsupported ECDHE group {group!r}")

    def public_bytes(self) -> bytes:
        """The ECPoint to send: X25519 the raw 32 bytes (RFC 8422 §5.4.1); the NIST curves the
        uncompressed point ``04 || x || y`` (RFC 8422 §5.4.1, the only format left)."""
        return self._public

    def shared_secret(self, peer_public: bytes) -> bytes:
        """The premaster secret (RFC 8422 §5.10: the x coordinate for the NIST curves, the
        X25519 output).  An invalid peer value raises ``DtlsAlert(ILLEGAL_PARAMETER)``."""
        if isinstance(self._private, x25519.X25519PrivateKey):
            return self._x25519(self._private, peer_public)
        _, size, _ = _CURVES[self.group]
        # RFC 8422 §5.4.1: "this specification deprecates all but the uncompressed format".
        if len(peer_public) != 1 + 2 * size or peer_public[0] != 4:
            raise DtlsAlert(AlertDescription.ILLEGAL_PARAMETER,
                            f"{self.group.name}: the peer's point is not an uncompressed point of "
                            f"{1 + 2 * size} bytes")
        # RFC 8422 §5.11: "A receiving party MUST check that the x and y parameters from the
        # peer's public value satisfy the curve equation" (from_encoded_point does).
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(self._private.curve, peer_public)
            return self._private.exchange(ec.ECDH(), peer)
        except ValueError:
            raise DtlsAlert(AlertDescription.ILLEGAL_PARAMETER,
                            f"{self.group.name}: the peer's point is not on the curve") from None

    @staticmethod
    def _x25519(private: x25519.X25519PrivateKey, peer_public: bytes) -> bytes:
        if len(peer_public) != 32:
            raise DtlsAlert(AlertDescription.ILLEGAL_PARAMETER,
                            "X25519: the peer's public value is not 32 bytes")
        try:
            secret = private.exchange(x25519.X25519PublicKey.from_public_bytes(peer_public))
        except ValueError:  # OpenSSL refuses the all-zero output itself
            secret = bytes(32)
        # RFC 8422 §5.11: "With X25519 and X448, a receiving party MUST check whether the
        # computed premaster secret is the all-zero value and abort the handshake if so".
        if not any(secret):
            raise DtlsAlert(AlertDescription.ILLEGAL_PARAMETER,
                            "X25519: the shared secret is all zeros (a low-order peer point)")
        return secret


def server_ecdh_params(group: NamedGroup | int, public: bytes) -> bytes:
    """RFC 8422 §5.4 ServerECDHParams: ``ECParameters`` (curve_type named_curve (3), the
    NamedCurve) followed by the ECPoint as ``opaque point <1..2^8-1>``."""
    if not 1 <= len(public) <= 255:
        raise ValueError("an ECPoint is 1 to 255 bytes")
    return bytes([NAMED_CURVE]) + int(group).to_bytes(2, "big") + bytes([len(public)]) + public


def signed_params(client_random: bytes, server_random: bytes, params: bytes) -> bytes:
    """RFC 8422 §5.4: what the ServerKeyExchange signature covers, ``ClientHello.random +
    ServerHello.random + ServerKeyExchange.params``."""
    if len(client_random) != 32 or len(server_random) != 32:
        raise ValueError("client_random and server_random are 32 bytes each")
    return client_random + server_random + params
