"""The MESSAGE-INTEGRITY primitive, HMAC-SHA1 (RFC 2104; RFC 8489 §14.5), on a 100-byte message.

All variants are OpenSSL's HMAC; the rows show what each Python binding costs per call
(docs/architecture.md, "HMAC on the hot path"):

- ``rtcstack.stun.message`` keeps one keyed ``cryptography`` HMAC context per key and copies it
  for each message, which skips the per-message key schedule (the "rtcstack" column of row 1);
- the stdlib one-shot ``hmac.digest`` (the reference of row 1, the candidate of row 2);
- a fresh ``cryptography`` HMAC object per message (the reference of row 2).
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from bench.harness import Case

REFERENCE = "hmac.digest"
TARGET_RATIO = 1.0

KEY = b"VOkJxbRl1RmTxUk/WvJxBt"
DATA = bytes(range(100))
EXPECTED = hmac.digest(KEY, DATA, "sha1")
_KEYED = crypto_hmac.HMAC(KEY, hashes.SHA1())


def _keyed_copy() -> bytes:
    mac = _KEYED.copy()
    mac.update(DATA)
    return mac.finalize()


def _stdlib_digest() -> bytes:
    return hmac.digest(KEY, DATA, "sha1")


def _fresh_cryptography() -> bytes:
    mac = crypto_hmac.HMAC(KEY, hashes.SHA1())
    mac.update(DATA)
    return mac.finalize()


def cases() -> list[Case]:
    return [
        Case("HMAC-SHA1 100 B, keyed context copy", _keyed_copy, _stdlib_digest,
             expect=EXPECTED),
        Case("HMAC-SHA1 100 B, stdlib hmac.digest", _stdlib_digest, _fresh_cryptography,
             expect=EXPECTED, reference_name="new cryptography HMAC"),
    ]
