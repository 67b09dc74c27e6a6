"""RFC 8489 §9 credentials: keys for MESSAGE-INTEGRITY(-SHA256), USERHASH, string preparation.

- Short-term (§9.1.1): ``key = OpaqueString(password)`` -- ICE uses this with the remote ice-pwd.
- Long-term (§9.2.2): ``key = MD5(username ":" OpaqueString(realm) ":" OpaqueString(password))``,
  or SHA-256 of the same string when PASSWORD-ALGORITHM says SHA-256 (§18.5.1.2).
- USERHASH (§14.4): ``SHA-256(OpaqueString(username) ":" OpaqueString(realm))``.

String preparation: RFC 8489 uses the PRECIS OpaqueString profile (RFC 8265 §4.2); RFC 5389 and
the RFC 5769 test vectors used SASLprep (RFC 4013).  Both are here: :func:`opaque_string` and
:func:`saslprep`.  For ASCII passwords -- almost all real ones -- both are the identity.
"""

from __future__ import annotations

import hashlib
import stringprep
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from rtcstack.stun.attributes import PasswordAlgorithmId

__all__ = [
    "LongTermCredentials",
    "long_term_key",
    "opaque_string",
    "saslprep",
    "short_term_key",
    "userhash",
]


def saslprep(text: str, *, allow_unassigned: bool = True) -> str:
    """RFC 4013 SASLprep (a stringprep profile, RFC 3454), as RFC 5389 §15.3 used it.

    Non-ASCII spaces map to SPACE, "commonly mapped to nothing" characters are removed, NFKC is
    applied, then prohibited and bidirectional rules are checked (ValueError on failure).
    ``allow_unassigned`` is True for stored strings (queries) as RFC 5389 did.
    """
    if text.isascii() and all(0x20 <= ord(c) < 0x7F for c in text):
        return text  # fast path: printable ASCII is unchanged by every step
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c)
    )
    norm = unicodedata.normalize("NFKC", mapped)
    if not norm:
        return norm
    prohibited = (
        stringprep.in_table_c12,
        stringprep.in_table_c21,
        stringprep.in_table_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
    )
    for c in norm:
        for table in prohibited:
            if table(c):
                raise ValueError(f"SASLprep: prohibited character U+{ord(c):04X}")
        if not allow_unassigned and stringprep.in_table_a1(c):
            raise ValueError(f"SASLprep: unassigned code point U+{ord(c):04X}")
    # RFC 3454 §6 bidirectional rules.
    if any(stringprep.in_table_d1(c) for c in norm):
        if any(stringprep.in_table_d2(c) for c in norm):
            raise ValueError("SASLprep: mixes right-to-left and left-to-right characters")
        if not (stringprep.in_table_d1(norm[0]) and stringprep.in_table_d1(norm[-1])):
            raise ValueError("SASLprep: right-to-left text must start and end with RandALCat")
    return norm


def _precis_freeform_allowed(c: str) -> bool:
    """RFC 8264 §9 FreeformClass: is code point ``c`` PVALID or FREE_PVAL (approximately, from
    unicodedata's general categories)?"""
    cp = ord(c)
    if 0x21 <= cp <= 0x7E:
        return True
    category = unicodedata.category(c)
    if category in ("Cc", "Cs", "Co", "Cn"):  # controls, surrogates, private use, unassigned
        return False
    # Default_Ignorable_Code_Point (RFC 8264 §9.13), e.g. SOFT HYPHEN, ZWJ, variation selectors.
    if category == "Cf" or 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:
        return False
    return not (0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE)  # noncharacters


def opaque_string(text: str) -> str:
    """RFC 8265 §4.2 OpaqueString: non-ASCII spaces -> SPACE, NFC, FreeformClass check.

    Raises ValueError for an empty result or a disallowed code point (RFC 8265 §4.2.3).
    """
    if text.isascii() and all(0x20 <= ord(c) < 0x7F for c in text):
        if not text:
            raise ValueError("OpaqueString: empty string")
        return text
    mapped = "".join(" " if unicodedata.category(c) == "Zs" else c for c in text)
    norm = unicodedata.normalize("NFC", mapped)
    if not norm:
        raise ValueError("OpaqueString: empty string")
    for c in norm:
        if c != " " and not _precis_freeform_allowed(c):
            raise ValueError(f"OpaqueString: disallowed code point U+{ord(c):04X}")
    return norm


def short_term_key(password: str) -> bytes:
    """RFC 8489 §9.1.1: the HMAC key of a short-term credential."""
    return opaque_string(password).encode()


def long_term_key(
    username: str,
    realm: str,
    password: str,
    algorithm: int = PasswordAlgorithmId.MD5,
    *,
    prepare: Callable[[str], str] = opaque_string,
) -> bytes:
    """RFC 8489 §9.2.2 / §18.5.1: the long-term HMAC key for ``algorithm`` (MD5 or SHA-256).

    ``username`` is used as it stands in USERNAME; ``realm`` and ``password`` go through
    ``prepare`` (OpaqueString; pass :func:`saslprep` for RFC 5389 peers and RFC 5769 vectors).
    """
    material = f"{username}:{prepare(realm)}:{prepare(password)}".encode()
    if algorithm == PasswordAlgorithmId.MD5:
        return hashlib.md5(material, usedforsecurity=False).digest()
    if algorithm == PasswordAlgorithmId.SHA256:
        return hashlib.sha256(material).digest()
    raise ValueError(f"unsupported password algorithm 0x{algorithm:04x}")


def userhash(username: str, realm: str, *, prepare: Callable[[str], str] = opaque_string) -> bytes:
    """RFC 8489 §14.4 USERHASH value."""
    return hashlib.sha256(f"{prepare(username)}:{prepare(realm)}".encode()).digest()


@dataclass(frozen=True, slots=True)
class LongTermCredentials:
    """A username and password for the long-term mechanism (TURN servers use these)."""

    username: str
    password: str

    def key(self, realm: str, algorithm: int = PasswordAlgorithmId.MD5) -> bytes:
        return long_term_key(self.username, realm, self.password, algorithm)
