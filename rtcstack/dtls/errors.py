"""DTLS errors.

- Malformed bytes from the network raise :class:`rtcstack.common.ParseError` (the connection
  answers them with a ``decode_error`` alert during the handshake, or drops the record).
- :class:`DtlsAlert` is a fatal protocol failure detected locally (a bad signature, a
  fingerprint mismatch, no common cipher suite...): it carries the RFC 5246 §7.2 alert to send.
  The connection catches it, sends the alert, and reports ``Closed(error)``; it never reaches the
  caller of ``handle_datagram``.
- :class:`DtlsAuthenticationError` is a record whose AEAD tag does not verify: RFC 6347 §4.1.2.7,
  "Invalid records SHOULD be silently discarded", so the connection counts and drops it.
"""

from __future__ import annotations

from rtcstack.common.errors import RtcstackError
from rtcstack.dtls.constants import AlertDescription

__all__ = ["DtlsAlert", "DtlsAuthenticationError", "DtlsError"]


class DtlsError(RtcstackError):
    """Base class of the DTLS layer's own errors."""


class DtlsAlert(DtlsError):
    """A fatal handshake or protocol failure: ``description`` is the alert to send (or the one
    the peer sent, when ``remote`` is true)."""

    def __init__(self, description: AlertDescription | int, reason: str, *,
                 remote: bool = False) -> None:
        if description in AlertDescription._value2member_map_:
            description = AlertDescription(description)
        self.description = description
        self.reason = reason
        self.remote = remote
        name = getattr(description, "name", str(description)).lower()
        super().__init__(f"{'peer sent ' if remote else ''}{name}: {reason}")


class DtlsAuthenticationError(DtlsError):
    """A protected record that does not authenticate (wrong key, tampered, truncated tag)."""
