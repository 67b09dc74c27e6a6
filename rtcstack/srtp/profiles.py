"""SRTP protection profiles: RFC 5764 §4.1.2 and RFC 7714 §14.2.

A :class:`Profile` is the DTLS-SRTP profile identifier (the two bytes of the ``use_srtp``
extension) and carries the transform parameters the RFCs list for it: cipher, key and salt
lengths, authentication key and tag lengths (separately for SRTCP where they differ).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["Profile", "ProfileParams", "split_keying_material"]


@dataclass(frozen=True, slots=True)
class ProfileParams:
    """The transform parameters of one profile, in bytes (the RFCs list them in bits)."""

    name: str
    aead: bool  # AES-GCM (RFC 7714) rather than AES-CM + HMAC-SHA1 (RFC 3711)
    key_length: int  # master key = session encryption key length
    salt_length: int  # master salt = session salt length
    auth_key_length: int  # HMAC-SHA1 session key (0 for AEAD)
    rtp_tag_length: int
    rtcp_tag_length: int


class Profile(IntEnum):
    """RFC 5764 §4.1.2 / RFC 7714 §14.2 SRTPProtectionProfile values."""

    AES128_CM_HMAC_SHA1_80 = 0x0001
    AES128_CM_HMAC_SHA1_32 = 0x0002
    AEAD_AES_128_GCM = 0x0007
    AEAD_AES_256_GCM = 0x0008

    @property
    def params(self) -> ProfileParams:
        return _PARAMS[self]

    @property
    def key_length(self) -> int:
        return _PARAMS[self].key_length

    @property
    def salt_length(self) -> int:
        return _PARAMS[self].salt_length

    @property
    def aead(self) -> bool:
        return _PARAMS[self].aead

    @property
    def rtp_tag_length(self) -> int:
        return _PARAMS[self].rtp_tag_length

    @property
    def rtcp_tag_length(self) -> int:
        return _PARAMS[self].rtcp_tag_length

    @property
    def auth_key_length(self) -> int:
        return _PARAMS[self].auth_key_length

    @classmethod
    def from_name(cls, name: str) -> Profile:
        """``"SRTP_AEAD_AES_128_GCM"`` or ``"AEAD_AES_128_GCM"`` (case-insensitive)."""
        key = name.strip().upper().removeprefix("SRTP_")
        key = key.replace("AES_CM_128", "AES128_CM")  # RFC 4568 SDES spelling
        try:
            return cls[key]
        except KeyError:
            known = ", ".join(p.name for p in cls)
            raise ValueError(f"unknown SRTP profile {name!r} (known: {known})") from None


_PARAMS: dict[Profile, ProfileParams] = {
    # RFC 5764 §4.1.2: cipher_key_length 128, cipher_salt_length 112, auth_key_length 160,
    # auth_tag_length 80 (or 32, with "RTCP auth_tag_length: 80").
    Profile.AES128_CM_HMAC_SHA1_80: ProfileParams(
        "SRTP_AES128_CM_HMAC_SHA1_80", False, 16, 14, 20, 10, 10
    ),
    Profile.AES128_CM_HMAC_SHA1_32: ProfileParams(
        "SRTP_AES128_CM_HMAC_SHA1_32", False, 16, 14, 20, 4, 10
    ),
    # RFC 7714 §14.2: cipher_salt_length 96 bits, aead_auth_tag_length 16 octets.
    Profile.AEAD_AES_128_GCM: ProfileParams("SRTP_AEAD_AES_128_GCM", True, 16, 12, 0, 16, 16),
    Profile.AEAD_AES_256_GCM: ProfileParams("SRTP_AEAD_AES_256_GCM", True, 32, 12, 0, 16, 16),
}


def split_keying_material(
    profile: Profile, material: bytes
) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    """RFC 5764 §4.2: ``((client_key, client_salt), (server_key, server_salt))``.

    The exporter output is "client_write_SRTP_master_key[SRTPSecurityParams.master_key_len];
    server_write_SRTP_master_key[...]; client_write_SRTP_master_salt[...];
    server_write_SRTP_master_salt[...]".
    """
    k, s = profile.key_length, profile.salt_length
    if len(material) != 2 * (k + s):
        raise ValueError(f"{profile.name} needs {2 * (k + s)} bytes of keying material")
    return (material[:k], material[2 * k : 2 * k + s]), (material[k : 2 * k], material[2 * k + s :])
