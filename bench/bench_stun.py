"""STUN hot path: an ICE connectivity check, rtcstack vs aioice (issue #2, target >= 3x aioice).

The message is the one every ICE agent sends many times a second (RFC 8445 §7.1.1): a Binding
request with USERNAME, PRIORITY, ICE-CONTROLLING, MESSAGE-INTEGRITY (RFC 8489 §14.5, short-term
key) and FINGERPRINT (§14.7).  Both sides do the same work in every row:

- both build the message from the same attribute values and produce byte-identical output;
- both verify FINGERPRINT on parse (aioice's ``parse_message`` always does; rtcstack's parse
  does not, so its side calls ``check_fingerprint()`` explicitly) and both verify
  MESSAGE-INTEGRITY where the row says so.

aioice's ``add_message_integrity`` appends FINGERPRINT itself, so its side does not call
``add_fingerprint`` again (that would compute the CRC twice).
"""

from __future__ import annotations

import itertools

from aioice import stun as aioice_stun

from bench.harness import Case
from rtcstack.stun import (
    IceControlling,
    Message,
    MessageClass,
    Method,
    Priority,
    Username,
    XorMappedAddress,
    short_term_key,
)

REFERENCE = "aioice"
TARGET_RATIO = 3.0

# RFC 5769 §2.1's credentials and priority, so the figures use realistic sizes.
USERNAME = "evtj:h6vY"
KEY = short_term_key("VOkJxbRl1RmTxUk/WvJxBt")
PRIORITY = 0x6E0001FF
TIE_BREAKER = 0x932FF9B151263B36
TID = bytes.fromhex("b7e7a701bc34d686fa87dfae")
MAPPED = ("192.0.2.1", 32853)


def _ours_request() -> bytes:
    message = Message(
        Method.BINDING,
        MessageClass.REQUEST,
        TID,
        (Username(USERNAME), Priority(PRIORITY), IceControlling(TIE_BREAKER)),
    )
    return message.serialize(integrity_key=KEY, fingerprint=True)


def _aioice_request() -> bytes:
    message = aioice_stun.Message(
        message_method=aioice_stun.Method.BINDING,
        message_class=aioice_stun.Class.REQUEST,
        transaction_id=TID,
    )
    message.attributes["USERNAME"] = USERNAME
    message.attributes["PRIORITY"] = PRIORITY
    message.attributes["ICE-CONTROLLING"] = TIE_BREAKER
    message.add_message_integrity(KEY)  # appends FINGERPRINT too
    return bytes(message)


def _ours_round_trip() -> bool:
    message = Message.parse(_ours_request())
    return message.check_integrity(KEY) and message.check_fingerprint()


def _aioice_round_trip() -> bool:
    message = aioice_stun.parse_message(_aioice_request())  # raises on a bad FINGERPRINT
    return message.check_message_integrity(KEY)


REQUEST = _ours_request()


def _ours_parse() -> bool:
    message = Message.parse(REQUEST)
    return message.check_fingerprint() and message.transaction_id == TID


def _aioice_parse() -> bool:
    return aioice_stun.parse_message(REQUEST).transaction_id == TID


# Parsing memoises decoded attributes by value (ICE peers repeat the same USERNAME, PRIORITY and
# ICE-CONTROLLING in every check), which the rows above benefit from.  This row defeats that:
# every message carries a different USERNAME and PRIORITY, so almost every lookup misses.
_VARIED = [
    Message(
        Method.BINDING,
        MessageClass.REQUEST,
        TID,
        (Username(f"u{i:05d}:h6vY"), Priority(PRIORITY - i), IceControlling(TIE_BREAKER + i)),
    ).serialize(integrity_key=KEY, fingerprint=True)
    for i in range(4096)
]
_varied_ours = itertools.cycle(_VARIED)
_varied_theirs = itertools.cycle(_VARIED)


def _ours_parse_varied() -> bool:
    message = Message.parse(next(_varied_ours))
    return message.check_integrity(KEY) and message.check_fingerprint()


def _aioice_parse_varied() -> bool:
    return aioice_stun.parse_message(next(_varied_theirs)).check_message_integrity(KEY)


RESPONSE = Message(
    Method.BINDING, MessageClass.SUCCESS, TID, (XorMappedAddress(MAPPED),)
).serialize(integrity_key=KEY, fingerprint=True)


def _ours_response() -> tuple[str, int] | None:
    message = Message.parse(RESPONSE)
    if not (message.check_integrity(KEY) and message.check_fingerprint()):
        return None
    mapped = message.get(XorMappedAddress)
    return mapped.address if mapped is not None else None


def _aioice_response() -> tuple[str, int] | None:
    message = aioice_stun.parse_message(RESPONSE)
    if not message.check_message_integrity(KEY):
        return None
    address: tuple[str, int] | None = message.attributes.get("XOR-MAPPED-ADDRESS")
    return address


def cases() -> list[Case]:
    return [
        Case("ICE Binding request: serialize + parse + integrity", _ours_round_trip,
             _aioice_round_trip, expect=True),
        Case("ICE Binding request: serialize only", _ours_request, _aioice_request,
             expect=REQUEST),
        Case("ICE Binding request: parse + FINGERPRINT", _ours_parse, _aioice_parse,
             expect=True),
        Case("ICE Binding request, new values each time: parse + integrity",
             _ours_parse_varied, _aioice_parse_varied, expect=True),
        Case("Binding success (XOR-MAPPED-ADDRESS): parse + integrity", _ours_response,
             _aioice_response, expect=MAPPED),
    ]
