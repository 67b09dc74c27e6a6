"""SRTP errors: what ``unprotect_*`` raises, each for one reason (RFC 3711 §3.3).

Unprotecting network input raises exactly one of:

- :class:`~rtcstack.common.ParseError` -- the bytes are too short or not an RTP/RTCP packet;
- :class:`SrtpReplayError` -- the packet index was already received, or lags behind the replay
  window (RFC 3711 §3.3.2);
- :class:`SrtpAuthenticationError` -- the authentication tag (HMAC-SHA1, RFC 3711 §4.2, or the
  AEAD tag, RFC 7714 §5.2.2) does not verify: tampered, wrong key, or another context's packet.

Both verification errors derive from :class:`SrtpError`; none of them is a ``ParseError``.
"""

from __future__ import annotations

from rtcstack.common.errors import RtcstackError

__all__ = ["SrtpAuthenticationError", "SrtpError", "SrtpReplayError"]


class SrtpError(RtcstackError):
    """A packet that parses but must be discarded (RFC 3711 §3.3 steps 3 and 5)."""


class SrtpAuthenticationError(SrtpError):
    """RFC 3711 §3.3 step 5: "If the result is 'AUTHENTICATION FAILURE' (see Section 4.2), the
    packet MUST be discarded"."""


class SrtpReplayError(SrtpError):
    """RFC 3711 §3.3.2: the index was received before or lags behind the window.

    Also raised by ``protect_rtp`` for a sequence number that was already protected (re-using
    an index re-uses keystream; libsrtp refuses the same way unless repeats are allowed).
    """
