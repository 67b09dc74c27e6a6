"""SCTP packets for ``rtcstack decode --sctp``: the common header and every chunk, field by field.

An SCTP packet has no first-byte marker (RFC 9260 §3.1 starts with the source port), so it is
never picked by RFC 9443 §3 classification: it is decoded as SCTP only when ``--sctp`` asks.
:func:`describe_sctp` parses the packet with :class:`rtcstack.sctp.chunks.Packet` and returns a
JSON-friendly ``dict``:

- the common header (RFC 9260 §3.1): ports, verification tag, and the checksum with its verdict
  -- a correct CRC32c (§6.8), zero (RFC 9653 §5, accepted only when both ends announced Zero
  Checksum Acceptable) or incorrect, with the CRC32c it should have held;
- each chunk with its offset, type by name, RFC section, flags and length, then its fields:
  DATA / I-DATA (U, B, E, I flags, TSN, stream, SSN or MID/FSN, PPID by its RFC 8831 §8 name,
  the payload; a whole PPID 50 message decoded as DCEP, RFC 8832 §5), INIT / INIT ACK and their
  parameters by name, SACK with its gap blocks as absolute TSN ranges, HEARTBEAT (ACK), ABORT /
  ERROR causes by name, SHUTDOWN*, COOKIE ECHO / ACK, FORWARD-TSN, I-FORWARD-TSN, RE-CONFIG
  parameters (RFC 6525 §4) and unknown chunks as type + hex.

Malformed packets raise :class:`~rtcstack.sctp.chunks.SctpParseError` (reason and offset).  A
malformed value the chunk codec keeps opaque (a DCEP message, an address parameter of the wrong
size) is shown as an ``error`` on its item and listed in ``errors`` with its offset (the command
then exits with status 1).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any, Final

from rtcstack.cli.decode_dtls import DecodeErrors
from rtcstack.sctp.chunks import (
    AbortChunk,
    Chunk,
    CookieEchoChunk,
    DataChunk,
    ErrorCause,
    ErrorChunk,
    ForwardTsnChunk,
    HeartbeatChunk,
    IDataChunk,
    IForwardTsnChunk,
    IncomingSsnResetRequest,
    InitChunk,
    OutgoingSsnResetRequest,
    Packet,
    Parameter,
    ReconfigChunk,
    ReconfigResponse,
    ReconfigResult,
    SackChunk,
    SctpParseError,
    ShutdownChunk,
    ShutdownCompleteChunk,
    UnknownChunk,
)
from rtcstack.sctp.crc32c import check_checksum, packet_checksum

__all__ = [
    "CAUSE_NAMES",
    "CHUNK_NAMES",
    "PARAMETER_NAMES",
    "PPID_NAMES",
    "describe_sctp",
    "failure_lines",
    "render_human",
]

_HEX_LIMIT = 64  # bytes of an opaque value shown in hex before "..."

#: RFC 9260 §3.2 chunk types (IANA "Chunk Types"): name and the section defining the chunk.
CHUNK_NAMES: Final[dict[int, tuple[str, str]]] = {
    0: ("DATA", "RFC 9260 §3.3.1"),
    1: ("INIT", "RFC 9260 §3.3.2"),
    2: ("INIT ACK", "RFC 9260 §3.3.3"),
    3: ("SACK", "RFC 9260 §3.3.4"),
    4: ("HEARTBEAT", "RFC 9260 §3.3.5"),
    5: ("HEARTBEAT ACK", "RFC 9260 §3.3.6"),
    6: ("ABORT", "RFC 9260 §3.3.7"),
    7: ("SHUTDOWN", "RFC 9260 §3.3.8"),
    8: ("SHUTDOWN ACK", "RFC 9260 §3.3.9"),
    9: ("ERROR", "RFC 9260 §3.3.10"),
    10: ("COOKIE ECHO", "RFC 9260 §3.3.11"),
    11: ("COOKIE ACK", "RFC 9260 §3.3.12"),
    12: ("ECNE", "RFC 9260 Appendix A"),
    13: ("CWR", "RFC 9260 Appendix A"),
    14: ("SHUTDOWN COMPLETE", "RFC 9260 §3.3.13"),
    15: ("AUTH", "RFC 4895 §4.1"),
    64: ("I-DATA", "RFC 8260 §2.1"),
    128: ("ASCONF-ACK", "RFC 5061 §5.1.2"),
    130: ("RE-CONFIG", "RFC 6525 §3.1"),
    132: ("PAD", "RFC 4820 §3"),
    192: ("FORWARD-TSN", "RFC 3758 §3.2"),
    193: ("ASCONF", "RFC 5061 §5.1.1"),
    194: ("I-FORWARD-TSN", "RFC 8260 §2.3.1"),
}

#: RFC 9260 §3.2.1 parameter types (IANA "Chunk Parameter Types"): name and section.
PARAMETER_NAMES: Final[dict[int, tuple[str, str]]] = {
    1: ("Heartbeat Info", "RFC 9260 §3.3.5"),
    5: ("IPv4 Address", "RFC 9260 §3.3.2.1.1"),
    6: ("IPv6 Address", "RFC 9260 §3.3.2.1.2"),
    7: ("State Cookie", "RFC 9260 §3.3.3.1"),
    8: ("Unrecognized Parameter", "RFC 9260 §3.3.3.1"),
    9: ("Cookie Preservative", "RFC 9260 §3.3.2.1.3"),
    11: ("Host Name Address (deprecated)", "RFC 9260 §3.3.2.1.4"),
    12: ("Supported Address Types", "RFC 9260 §3.3.2.1.5"),
    13: ("Outgoing SSN Reset Request", "RFC 6525 §4.1"),
    14: ("Incoming SSN Reset Request", "RFC 6525 §4.2"),
    15: ("SSN/TSN Reset Request", "RFC 6525 §4.3"),
    16: ("Re-configuration Response", "RFC 6525 §4.4"),
    17: ("Add Outgoing Streams Request", "RFC 6525 §4.5"),
    18: ("Add Incoming Streams Request", "RFC 6525 §4.6"),
    0x8000: ("ECN Capable", "RFC 9260 Appendix A"),
    0x8001: ("Zero Checksum Acceptable", "RFC 9653 §4"),
    0x8002: ("Random", "RFC 4895 §3.1"),
    0x8003: ("Chunk List", "RFC 4895 §3.2"),
    0x8004: ("Requested HMAC Algorithm", "RFC 4895 §3.3"),
    0x8005: ("Padding", "RFC 4820 §4"),
    0x8008: ("Supported Extensions", "RFC 5061 §4.2.7"),
    0xC000: ("Forward-TSN-Supported", "RFC 3758 §3.1"),
    0xC001: ("Add IP Address", "RFC 5061 §4.2.1"),
    0xC002: ("Delete IP Address", "RFC 5061 §4.2.2"),
    0xC003: ("Error Cause Indication", "RFC 5061 §4.2.3"),
    0xC004: ("Set Primary Address", "RFC 5061 §4.2.4"),
    0xC005: ("Success Indication", "RFC 5061 §4.2.5"),
    0xC006: ("Adaptation Layer Indication", "RFC 5061 §4.2.6"),
}

#: RFC 9260 §3.3.10 error cause codes (IANA "Error Cause Codes"): name and section.
CAUSE_NAMES: Final[dict[int, tuple[str, str]]] = {
    1: ("Invalid Stream Identifier", "RFC 9260 §3.3.10.1"),
    2: ("Missing Mandatory Parameter", "RFC 9260 §3.3.10.2"),
    3: ("Stale Cookie Error", "RFC 9260 §3.3.10.3"),
    4: ("Out of Resource", "RFC 9260 §3.3.10.4"),
    5: ("Unresolvable Address", "RFC 9260 §3.3.10.5"),
    6: ("Unrecognized Chunk Type", "RFC 9260 §3.3.10.6"),
    7: ("Invalid Mandatory Parameter", "RFC 9260 §3.3.10.7"),
    8: ("Unrecognized Parameters", "RFC 9260 §3.3.10.8"),
    9: ("No User Data", "RFC 9260 §3.3.10.9"),
    10: ("Cookie Received While Shutting Down", "RFC 9260 §3.3.10.10"),
    11: ("Restart of an Association with New Addresses", "RFC 9260 §3.3.10.11"),
    12: ("User-Initiated Abort", "RFC 9260 §3.3.10.12"),
    13: ("Protocol Violation", "RFC 9260 §3.3.10.13"),
    0x00A0: ("Request to Delete Last Remaining IP Address", "RFC 5061 §5.2"),
    0x00A1: ("Operation Refused Due to Resource Shortage", "RFC 5061 §5.2"),
    0x00A2: ("Request to Delete Source IP Address", "RFC 5061 §5.2"),
    0x00A3: ("Association Aborted Due to Illegal ASCONF-ACK", "RFC 5061 §5.2"),
    0x00A4: ("Request Refused - No Authorization", "RFC 5061 §5.2"),
    0x0105: ("Unsupported HMAC Identifier", "RFC 4895 §4.1"),
}

#: RFC 8831 §8 / RFC 8832 §8.1 Payload Protocol Identifiers of WebRTC data channels.
PPID_NAMES: Final[dict[int, str]] = {
    0: "unspecified",
    50: "WebRTC DCEP",
    51: "WebRTC String",
    52: "WebRTC Binary Partial (deprecated)",
    53: "WebRTC Binary",
    54: "WebRTC String Partial (deprecated)",
    56: "WebRTC String Empty",
    57: "WebRTC Binary Empty",
}

#: RFC 9260 §3.2: what a receiver does with a chunk type it does not know (upper two bits).
_UNKNOWN_ACTION: Final = (
    "stop processing the packet and discard it",
    "stop, discard, and report it in an ERROR chunk (Unrecognized Chunk Type)",
    "skip it and continue",
    "skip it, continue, and report it in an ERROR chunk (Unrecognized Chunk Type)",
)
#: RFC 9260 §3.2.1: the same for an unknown parameter.
_UNKNOWN_PARAM_ACTION: Final = (
    "stop processing this chunk and discard it",
    "stop, discard, and report it as an Unrecognized Parameter",
    "skip it and continue",
    "skip it, continue, and report it as an Unrecognized Parameter",
)
#: RFC 8831 §6.4 priorities.
_PRIORITIES: Final = {128: "below normal", 256: "normal", 512: "high", 1024: "extra high"}
#: RFC 9653 §9 Error Detection Method Identifiers.
_EDMIDS: Final = {0: "reserved", 1: "SCTP over DTLS (RFC 9653 §6, RFC 8261)"}


def _hex(value: bytes) -> str:
    if len(value) > _HEX_LIMIT:
        return value[:_HEX_LIMIT].hex() + "..."
    return value.hex() or "(empty)"


def _tag(value: int) -> str:
    return f"0x{value:08x}"


def _named(table: dict[int, tuple[str, str]], value: int, what: str) -> tuple[str, str | None]:
    found = table.get(value)
    if found is None:
        return f"unknown {what}", None
    return found


def describe_sctp(data: bytes) -> dict[str, Any]:
    """Every field of one SCTP packet; :class:`SctpParseError` for a malformed packet."""
    try:
        packet = Packet.parse(data)
    except SctpParseError as exc:
        if exc.offset is None:  # the common header itself is short
            raise SctpParseError(exc.reason, 0) from None
        raise
    errors = DecodeErrors()
    out: dict[str, Any] = {
        "source_port": packet.source_port,
        "destination_port": packet.destination_port,
        "verification_tag": _tag(packet.verification_tag),
        "checksum": f"0x{data[8:12].hex()}",
    }
    out.update(_checksum(data))
    chunks: list[dict[str, Any]] = []
    for (offset, kind, flags, length), chunk in zip(_headers(data), packet.chunks, strict=True):
        name, rfc = _named(CHUNK_NAMES, kind, "chunk")
        item: dict[str, Any] = {
            "offset": offset,
            "type": kind,
            "name": name,
            "rfc": rfc,
            "flags": f"0x{flags:02x}",
            "length": length,
        }
        item.update(_chunk_fields(chunk, offset, errors))
        chunks.append(item)
    out["chunks"] = chunks
    out["errors"] = errors.items
    return out


def _checksum(data: bytes) -> dict[str, Any]:
    """RFC 9260 §6.8: CRC32c stored least-significant byte first (RFC 9260 Appendix A)."""
    expected = packet_checksum(data)
    wire = f"0x{expected.to_bytes(4, 'little').hex()}"
    if check_checksum(data):
        return {"checksum_valid": True,
                "checksum_status": "correct CRC32c (RFC 9260 §6.8)"}
    if data[8:12] == b"\x00\x00\x00\x00":
        return {"checksum_valid": None,
                "checksum_status": "zero checksum (RFC 9653 §5: accepted only when both ends "
                f"sent Zero Checksum Acceptable; the CRC32c would be {wire})"}
    return {"checksum_valid": False,
            "checksum_status": f"INCORRECT: the CRC32c is {wire} (RFC 9260 §6.8)"}


def _headers(data: bytes) -> list[tuple[int, int, int, int]]:
    """``(offset, type, flags, length)`` of each chunk, once :meth:`Packet.parse` accepted it."""
    out = []
    pos = 12
    while pos < len(data):
        kind, flags, length = struct.unpack_from("!BBH", data, pos)
        out.append((pos, kind, flags, length))
        pos += length + (-length & 3)
    return out


def _chunk_fields(chunk: Chunk, offset: int, errors: DecodeErrors) -> dict[str, Any]:
    if isinstance(chunk, DataChunk | IDataChunk):
        return _data(chunk, offset, errors)
    if isinstance(chunk, InitChunk):  # and INIT ACK
        return {
            "initiate_tag": _tag(chunk.initiate_tag),
            "a_rwnd": chunk.a_rwnd,
            "outbound_streams": chunk.outbound_streams,
            "inbound_streams": chunk.inbound_streams,
            "initial_tsn": chunk.initial_tsn,
            "parameters": _parameters(chunk.params, offset + 20, errors),
        }
    if isinstance(chunk, SackChunk):
        return _sack(chunk)
    if isinstance(chunk, HeartbeatChunk):  # and HEARTBEAT ACK
        return {"heartbeat_info": {"length": len(chunk.info), "hex": _hex(chunk.info)}}
    if isinstance(chunk, AbortChunk):
        return {"T": chunk.tag_reflected, "verification_tag": _t_flag(chunk.tag_reflected),
                "causes": _causes(chunk.causes, offset + 4, errors)}
    if isinstance(chunk, ErrorChunk):
        return {"causes": _causes(chunk.causes, offset + 4, errors)}
    if isinstance(chunk, ShutdownChunk):
        return {"cumulative_tsn_ack": chunk.cumulative_tsn}
    if isinstance(chunk, ShutdownCompleteChunk):
        return {"T": chunk.tag_reflected, "verification_tag": _t_flag(chunk.tag_reflected)}
    if isinstance(chunk, CookieEchoChunk):
        return {"cookie_length": len(chunk.cookie), "cookie": _hex(chunk.cookie)}
    if isinstance(chunk, ForwardTsnChunk):
        return {"new_cumulative_tsn": chunk.new_cumulative_tsn,
                "streams": [{"stream": sid, "ssn": ssn} for sid, ssn in chunk.streams]}
    if isinstance(chunk, IForwardTsnChunk):
        return {"new_cumulative_tsn": chunk.new_cumulative_tsn,
                "streams": [{"stream": sid, "unordered": unordered, "mid": mid}
                            for sid, unordered, mid in chunk.streams]}
    if isinstance(chunk, ReconfigChunk):
        return {"parameters": [_reconfig(param) for param in chunk.params]}
    if isinstance(chunk, UnknownChunk):
        return {"value_length": len(chunk.value), "value": _hex(chunk.value),
                "if_unrecognized": f"{_UNKNOWN_ACTION[chunk.type >> 6]} (RFC 9260 §3.2)"}
    return {}  # COOKIE ACK, SHUTDOWN ACK: no value


def _t_flag(reflected: bool) -> str:
    if reflected:
        return "reflected: the sender's own tag, not the receiver's (RFC 9260 §8.5.1)"
    return "the tag the receiver expects (T clear)"


def _data(chunk: DataChunk | IDataChunk, offset: int, errors: DecodeErrors) -> dict[str, Any]:
    idata = isinstance(chunk, IDataChunk)
    out: dict[str, Any] = {
        "U": chunk.unordered,
        "B": chunk.beginning,
        "E": chunk.ending,
        "I": chunk.immediate,
        "tsn": chunk.tsn,
        "stream": chunk.stream_id,
    }
    if isinstance(chunk, IDataChunk):
        out["mid"] = chunk.mid
        if chunk.beginning:  # RFC 8260 §2.1: the first fragment carries the PPID, FSN 0
            out["fsn"] = 0
        else:
            out["fsn"] = chunk.fsn
    else:
        out["ssn"] = chunk.ssn
    whole = chunk.beginning and chunk.ending
    out["fragment"] = "whole message" if whole else (
        "first fragment" if chunk.beginning else "last fragment" if chunk.ending
        else "middle fragment")
    if isinstance(chunk, DataChunk) or chunk.beginning:
        out["ppid"] = f"{chunk.ppid} ({PPID_NAMES.get(chunk.ppid, 'unknown')}, RFC 8831 §8)"
    else:
        out["ppid"] = "- (not carried: the word holds the FSN, RFC 8260 §2.1)"
    payload = chunk.user_data
    start = offset + (20 if idata else 16)
    out["payload_length"] = len(payload)
    if not payload:
        out["payload"] = "(empty: RFC 9260 §6.2 answers it with an ABORT, No User Data)"
        return out
    has_ppid = isinstance(chunk, DataChunk) or chunk.beginning
    ppid = chunk.ppid if has_ppid else None
    if ppid in (56, 57):
        out["payload"] = f"{payload.hex()} (an empty message: RFC 8831 §6.6, the byte is ignored)"
    elif ppid in (51, 54):
        text = payload[:_HEX_LIMIT].decode("utf-8", "replace")
        out["text"] = text + ("..." if len(payload) > _HEX_LIMIT else "")
    else:
        out["payload"] = _hex(payload)
    if ppid == 50:
        if whole:
            out["dcep"] = _dcep(payload, start, errors)
        else:
            out["dcep"] = "a fragment of a DCEP message: not decoded"
    return out


def _dcep(payload: bytes, start: int, errors: DecodeErrors) -> dict[str, Any]:
    """RFC 8832 §5 DATA_CHANNEL_OPEN / DATA_CHANNEL_ACK."""
    from rtcstack.sctp.dcep import DataChannelOpen, DcepParseError, parse_dcep

    try:
        message = parse_dcep(payload)
    except DcepParseError as exc:
        where = None if exc.offset is None else start + exc.offset
        return {"error": errors.add("DCEP", exc.reason, where)}
    out: dict[str, Any] = message.describe()
    if isinstance(message, DataChannelOpen):
        out["rfc"] = "RFC 8832 §5.1"
        name = _PRIORITIES.get(message.priority)
        out["priority_meaning"] = name or "not one of RFC 8831 §6.4's values"
        if message.max_retransmits is not None:
            out["reliability"] = f"at most {message.max_retransmits} retransmissions"
        elif message.max_packet_life_time is not None:
            out["reliability"] = f"retransmitted for at most {message.max_packet_life_time} ms"
        else:
            out["reliability"] = "reliable (the reliability parameter is ignored)"
    else:
        out["rfc"] = "RFC 8832 §5.2"
    return out


def _sack(chunk: SackChunk) -> dict[str, Any]:
    cum = chunk.cumulative_tsn
    gaps = []
    for start, end in chunk.gaps:
        first, last = (cum + start) & 0xFFFFFFFF, (cum + end) & 0xFFFFFFFF
        gaps.append({"start": start, "end": end, "tsns": f"{first}-{last}"})
    return {
        "cumulative_tsn_ack": cum,
        "a_rwnd": chunk.a_rwnd,
        "gap_ack_blocks": gaps,
        "duplicate_tsns": list(chunk.duplicates),
    }


def _parameters(params: list[Parameter], base: int, errors: DecodeErrors) -> list[dict[str, Any]]:
    out = []
    pos = base
    for param in params:
        out.append(_parameter(param, pos, errors))
        length = 4 + len(param.value)
        pos += length + (-length & 3)
    return out


def _parameter(param: Parameter, offset: int, errors: DecodeErrors) -> dict[str, Any]:
    name, rfc = _named(PARAMETER_NAMES, param.type, "parameter")
    out: dict[str, Any] = {"name": name, "type": f"0x{param.type:04x}", "rfc": rfc,
                           "length": 4 + len(param.value)}
    value, kind = param.value, param.type

    def bad(reason: str) -> None:
        out["error"] = errors.add(f"parameter {name}", reason, offset)

    if kind == 0x8008:
        out["chunk_types"] = [
            f"{_named(CHUNK_NAMES, t, 'chunk')[0]} ({t})" for t in value]
    elif kind == 0x8001:
        if len(value) == 4:
            edmid = int.from_bytes(value, "big")
            out["edmid"] = f"{edmid} ({_EDMIDS.get(edmid, 'unknown')})"
        else:
            bad(f"{len(value)} bytes of value, not 4 (the EDMID)")
    elif kind in (0xC000, 0x8000):
        if value:
            bad(f"{len(value)} bytes of value, expected none")
    elif kind == 7:
        out["cookie_length"] = len(value)
        out["cookie"] = _hex(value)
    elif kind == 5 or kind == 6:
        size = 4 if kind == 5 else 16
        if len(value) == size:
            out["address"] = str(ipaddress.ip_address(value))
        else:
            bad(f"{len(value)} bytes of value, not {size}")
    elif kind == 9 and len(value) == 4:
        out["lifespan_increment_ms"] = int.from_bytes(value, "big")
    elif kind == 12 and len(value) % 2 == 0:
        out["address_types"] = [int.from_bytes(value[i : i + 2], "big")
                                for i in range(0, len(value), 2)]
    elif kind == 8 and len(value) >= 4:
        inner = int.from_bytes(value[:2], "big")
        out["unrecognized"] = (f"{_named(PARAMETER_NAMES, inner, 'parameter')[0]} "
                               f"(0x{inner:04x}): {_hex(value[4:])}")
    elif kind == 11:
        out["host_name"] = value.rstrip(b"\x00").decode("utf-8", "replace")
    else:
        out["value"] = _hex(value)
        if rfc is None:
            out["if_unrecognized"] = f"{_UNKNOWN_PARAM_ACTION[kind >> 14]} (RFC 9260 §3.2.1)"
    return out


def _causes(causes: list[ErrorCause], base: int, errors: DecodeErrors) -> list[dict[str, Any]]:
    out = []
    pos = base
    for cause in causes:
        out.append(_cause(cause, pos, errors))
        length = 4 + len(cause.info)
        pos += length + (-length & 3)
    return out


def _cause(cause: ErrorCause, offset: int, errors: DecodeErrors) -> dict[str, Any]:
    name, rfc = _named(CAUSE_NAMES, cause.code, "cause")
    out: dict[str, Any] = {"name": name, "code": cause.code, "rfc": rfc,
                           "length": 4 + len(cause.info)}
    info, code = cause.info, cause.code
    if code in (12, 13):
        out["reason"] = info.decode("utf-8", "replace") or "(none)"
    elif code == 1 and len(info) == 4:
        out["stream"] = int.from_bytes(info[:2], "big")
    elif code == 3 and len(info) == 4:
        out["staleness_us"] = int.from_bytes(info, "big")
    elif code == 9 and len(info) == 4:
        out["tsn"] = int.from_bytes(info, "big")
    elif code == 2 and len(info) >= 4:
        out["missing"] = [
            _named(PARAMETER_NAMES, int.from_bytes(info[i : i + 2], "big"), "parameter")[0]
            for i in range(4, len(info) - 1, 2)]
    elif code == 6 and len(info) >= 4:
        kind = info[0]
        out["chunk"] = f"{_named(CHUNK_NAMES, kind, 'chunk')[0]} ({kind}): {_hex(info)}"
    elif code == 8:
        out["parameters"] = _hex(info)
    elif info:
        out["info"] = _hex(info)
    return out


def _reconfig(param: object) -> dict[str, Any]:
    if isinstance(param, OutgoingSsnResetRequest):
        return {"name": "Outgoing SSN Reset Request", "type": "0x000d", "rfc": "RFC 6525 §4.1",
                "request_sequence": param.request_sequence,
                "response_sequence": param.response_sequence,
                "last_assigned_tsn": param.last_tsn,
                "streams": list(param.streams), "all_streams": not param.streams}
    if isinstance(param, IncomingSsnResetRequest):
        return {"name": "Incoming SSN Reset Request", "type": "0x000e", "rfc": "RFC 6525 §4.2",
                "request_sequence": param.request_sequence,
                "streams": list(param.streams), "all_streams": not param.streams}
    if isinstance(param, ReconfigResponse):
        try:
            result = f"{ReconfigResult(param.result).name} ({param.result})"
        except ValueError:
            result = f"unknown ({param.result})"
        out: dict[str, Any] = {"name": "Re-configuration Response", "type": "0x0010",
                               "rfc": "RFC 6525 §4.4",
                               "response_sequence": param.response_sequence, "result": result}
        if param.sender_next_tsn is not None:
            out["sender_next_tsn"] = param.sender_next_tsn
            out["receiver_next_tsn"] = param.receiver_next_tsn
        return out
    assert isinstance(param, Parameter)
    name, rfc = _named(PARAMETER_NAMES, param.type, "parameter")
    out = {"name": name, "type": f"0x{param.type:04x}", "rfc": rfc}
    value = param.value
    if param.type in (15, 17, 18) and len(value) >= 4:
        out["request_sequence"] = int.from_bytes(value[:4], "big")
        if param.type != 15 and len(value) >= 6:
            out["new_streams"] = int.from_bytes(value[4:6], "big")
    else:
        out["value"] = _hex(value)
    return out


# --- human output ---------------------------------------------------------------------------


def _scalar(value: object) -> str:
    from rtcstack.cli.decode_payloads import _scalar as scalar

    if isinstance(value, list):
        return ", ".join(scalar(v) for v in value) or "(none)"
    return scalar(value)


def render_human(decoded: dict[str, Any], indent: int = 1) -> list[str]:
    """The header fields, then one block per chunk: ``[offset] NAME (type N, RFC ...)``."""
    pad = "  " * indent
    lines = [
        f"{pad}source_port: {decoded['source_port']}",
        f"{pad}destination_port: {decoded['destination_port']}",
        f"{pad}verification_tag: {decoded['verification_tag']}",
        f"{pad}checksum: {decoded['checksum']} -- {decoded['checksum_status']}",
    ]
    if not decoded["chunks"]:
        lines.append(f"{pad}chunks: (none)")
    for chunk in decoded["chunks"]:
        rfc = chunk["rfc"] or "RFC 9260 §3.2"
        bits = [b for b in ("U", "B", "E", "I", "T") if chunk.get(b) is True]
        flags = chunk["flags"] + (f" ({' '.join(bits)})" if bits else "")
        lines.append(f"{pad}[{chunk['offset']}] {chunk['name']} (type {chunk['type']}, {rfc}) "
                     f"flags {flags}, length {chunk['length']}")
        skip = {"offset", "type", "name", "rfc", "flags", "length", "U", "B", "E", "I", "T"}
        _block({k: v for k, v in chunk.items() if k not in skip}, indent + 1, lines)
    return lines


def _block(value: dict[str, Any], indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{pad}{key}:")
            _block(item, indent + 1, lines)
        elif isinstance(item, list) and any(isinstance(v, dict) for v in item):
            lines.append(f"{pad}{key}:")
            for entry in item:
                _entry(entry, indent + 1, lines)
        else:
            lines.append(f"{pad}{key}: {_scalar(item)}")


def _entry(entry: Any, indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    if not isinstance(entry, dict):
        lines.append(f"{pad}- {_scalar(entry)}")
        return
    if "name" in entry:  # a parameter or an error cause: "Name (0xTYPE, RFC ...)"
        code = entry.get("type", entry.get("code"))
        head = ", ".join(str(x) for x in (code, entry.get("rfc")) if x is not None)
        rest = {k: v for k, v in entry.items() if k not in ("name", "type", "code", "rfc")}
        lines.append(f"{pad}- {entry['name']} ({head})")
        _block(rest, indent + 2, lines)
        return
    lines.append(f"{pad}- " + ", ".join(f"{k}={_scalar(v)}" for k, v in entry.items()))


def failure_lines(decoded: dict[str, Any]) -> list[str]:
    """One ``malformed sctp ...`` line per problem :func:`describe_sctp` found in a value."""
    lines = []
    for error in decoded.get("errors", ()):
        where = "" if error["offset"] is None else f" (at byte offset {error['offset']})"
        lines.append(f"malformed sctp {error['where']}: {error['reason']}{where}")
    return lines
