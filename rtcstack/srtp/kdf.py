"""SRTP key derivation: RFC 3711 §4.3 with the AES-CM PRF (§4.3.3; RFC 6188 §7.2 for AES-256).

The session keys of one master key are derived once (key_derivation_rate 0, which DTLS-SRTP
uses: RFC 5764 §4.1.2 profiles fix no rate, and RFC 3711 §4.3.1 says "for a
key_derivation_rate of 0, the application of the key derivation SHALL take place exactly
once").  :func:`derive_key` takes ``index`` and ``rate`` for completeness and for the vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from rtcstack.srtp.profiles import Profile

__all__ = ["Label", "SessionKeys", "derive_key", "derive_session_keys", "prf_input_block"]


class Label(IntEnum):
    """RFC 3711 §4.3.1 and §4.3.2 key derivation labels."""

    SRTP_ENCRYPTION = 0x00
    SRTP_AUTHENTICATION = 0x01
    SRTP_SALT = 0x02
    SRTCP_ENCRYPTION = 0x03
    SRTCP_AUTHENTICATION = 0x04
    SRTCP_SALT = 0x05


def prf_input_block(master_salt: bytes, label: int, index: int = 0, rate: int = 0) -> bytes:
    """RFC 3711 §4.3.1 ``x * 2^16``: the first counter block of the AES-CM PRF.

    "Let r = index DIV key_derivation_rate", "key_id = <label> || r" (r is 48 bits),
    "x = key_id XOR master_salt, where key_id and master_salt are aligned so that their least
    significant bits agree".  A 12-byte master salt (AES-GCM, RFC 7714 §11) is padded on the
    right with two zero octets to the 14 octets of the PRF input, as libsrtp does.
    """
    if len(master_salt) not in (12, 14):
        raise ValueError("master salt must be 14 (AES-CM) or 12 (AES-GCM) bytes")
    if not 0 <= label <= 0xFF:
        raise ValueError("label is one octet")
    r = index // rate if rate else 0
    salt = int.from_bytes(master_salt.ljust(14, b"\0"))
    key_id = (label << 48) | (r & 0xFFFF_FFFF_FFFF)
    return ((salt ^ key_id) << 16).to_bytes(16)


def derive_key(
    master_key: bytes, master_salt: bytes, label: int, length: int, index: int = 0, rate: int = 0
) -> bytes:
    """RFC 3711 §4.3.3: "PRF_n(k_master,x) SHALL be AES in Counter Mode ... applied to key
    k_master, and IV equal to (x*2^16), and with the output keystream truncated to the n first
    (left-most) bits"."""
    if len(master_key) not in (16, 24, 32):
        raise ValueError("master key must be 16, 24 or 32 bytes (AES-128/192/256)")
    iv = prf_input_block(master_salt, label, index, rate)
    encryptor = Cipher(algorithms.AES(master_key), modes.CTR(iv)).encryptor()
    return encryptor.update(bytes(length)) + encryptor.finalize()


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The six session keys of RFC 3711 §4.3.1-§4.3.2 (auth keys empty for AEAD profiles)."""

    rtp_key: bytes
    rtp_auth_key: bytes
    rtp_salt: bytes
    rtcp_key: bytes
    rtcp_auth_key: bytes
    rtcp_salt: bytes


def derive_session_keys(profile: Profile, master_key: bytes, master_salt: bytes) -> SessionKeys:
    """All session keys of ``profile`` from one master key and salt (RFC 3711 §4.3;
    RFC 7714 §11: "AEAD_AES_128_GCM algorithm MUST use the (128-bit) AES_CM PRF KDF described in
    [RFC3711].  AEAD_AES_256_GCM MUST use the AES_256_CM_PRF KDF described in [RFC6188]")."""
    p = profile.params
    if len(master_key) != p.key_length:
        raise ValueError(f"{profile.name}: master key must be {p.key_length} bytes")
    if len(master_salt) != p.salt_length:
        raise ValueError(f"{profile.name}: master salt must be {p.salt_length} bytes")

    def d(label: Label, n: int) -> bytes:
        return derive_key(master_key, master_salt, label, n) if n else b""

    return SessionKeys(
        rtp_key=d(Label.SRTP_ENCRYPTION, p.key_length),
        rtp_auth_key=d(Label.SRTP_AUTHENTICATION, p.auth_key_length),
        rtp_salt=d(Label.SRTP_SALT, p.salt_length),
        rtcp_key=d(Label.SRTCP_ENCRYPTION, p.key_length),
        rtcp_auth_key=d(Label.SRTCP_AUTHENTICATION, p.auth_key_length),
        rtcp_salt=d(Label.SRTCP_SALT, p.salt_length),
    )
