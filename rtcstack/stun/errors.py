"""STUN error codes (RFC 8489 §14.8, RFC 8656 §19, RFC 8445 §7.3.1.1) and the verification error.

:class:`IntegrityError` is deliberately *not* a :class:`~rtcstack.common.errors.ParseError`: a
message that parses but fails MESSAGE-INTEGRITY or FINGERPRINT is well-formed and forged (or
keyed wrongly), which a caller must be able to tell apart from garbage.
"""

from __future__ import annotations

from rtcstack.common.errors import RtcstackError

TRY_ALTERNATE = 300
BAD_REQUEST = 400
UNAUTHENTICATED = 401
FORBIDDEN = 403
MOBILITY_FORBIDDEN = 405
UNKNOWN_ATTRIBUTE = 420
ALLOCATION_MISMATCH = 437
STALE_NONCE = 438
ADDRESS_FAMILY_NOT_SUPPORTED = 440
WRONG_CREDENTIALS = 441
UNSUPPORTED_TRANSPORT_PROTOCOL = 442
PEER_ADDRESS_FAMILY_MISMATCH = 443
ALLOCATION_QUOTA_REACHED = 486
ROLE_CONFLICT = 487
SERVER_ERROR = 500
INSUFFICIENT_CAPACITY = 508

REASONS: dict[int, str] = {
    TRY_ALTERNATE: "Try Alternate",
    BAD_REQUEST: "Bad Request",
    UNAUTHENTICATED: "Unauthenticated",
    FORBIDDEN: "Forbidden",
    MOBILITY_FORBIDDEN: "Mobility Forbidden",
    UNKNOWN_ATTRIBUTE: "Unknown Attribute",
    ALLOCATION_MISMATCH: "Allocation Mismatch",
    STALE_NONCE: "Stale Nonce",
    ADDRESS_FAMILY_NOT_SUPPORTED: "Address Family not Supported",
    WRONG_CREDENTIALS: "Wrong Credentials",
    UNSUPPORTED_TRANSPORT_PROTOCOL: "Unsupported Transport Protocol",
    PEER_ADDRESS_FAMILY_MISMATCH: "Peer Address Family Mismatch",
    ALLOCATION_QUOTA_REACHED: "Allocation Quota Reached",
    ROLE_CONFLICT: "Role Conflict",
    SERVER_ERROR: "Server Error",
    INSUFFICIENT_CAPACITY: "Insufficient Capacity",
}


def reason_phrase(code: int) -> str:
    """The RFC's recommended reason phrase for ``code``, or a generic one."""
    return REASONS.get(code, f"Error {code}")


class IntegrityError(RtcstackError):
    """A well-formed message whose MESSAGE-INTEGRITY(-SHA256) or FINGERPRINT does not verify,
    or that lacks one that was required."""
