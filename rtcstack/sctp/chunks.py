"""SCTP packets, chunks, parameters and error causes: a symmetric codec.

RFC 9260 §3 defines the packet (a 12-byte common header and chunks, each padded to four bytes),
§3.3 the chunks of the base protocol and §3.3.10 the error causes.  The extensions WebRTC uses
add FORWARD-TSN (RFC 3758 §3.2), RE-CONFIG and its parameters (RFC 6525 §3-4), I-DATA and
I-FORWARD-TSN (RFC 8260 §2.1, §2.3.1), the Supported Extensions parameter (RFC 5061 §4.2.7) and
Zero Checksum Acceptable (RFC 9653 §4).

Every chunk class has ``encode() -> bytes`` (header and value, without the trailing padding,
which :class:`Packet` adds) and a ``decode(flags, value)`` class method; :func:`parse_chunks`
walks the chunks of a packet.  Unknown chunk types are kept as :class:`UnknownChunk`, unknown
parameters as :class:`Parameter`, byte for byte, so the association can answer them as RFC 9260
§3.2 and §3.2.1 require (by the upper two bits of the type).  Any malformed input raises
:class:`SctpParseError` (a :class:`~rtcstack.common.errors.ParseError`, so a ``ValueError``).

The data chunks are plain slotted dataclasses (not frozen): frozen dataclasses set every field
through ``object.__setattr__``, which doubles the cost of building the thousands of DATA chunks
a bulk transfer makes each second.
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar

from rtcstack.common.errors import ParseError
from rtcstack.sctp.crc32c import check_checksum, with_checksum

__all__ = [
    "AbortChunk",
    "CauseCode",
    "Chunk",
    "ChunkType",
    "CookieAckChunk",
    "CookieEchoChunk",
    "DataChunk",
    "ErrorCause",
    "ErrorChunk",
    "ForwardTsnChunk",
    "HeartbeatAckChunk",
    "HeartbeatChunk",
    "IDataChunk",
    "IForwardTsnChunk",
    "IncomingSsnResetRequest",
    "InitAckChunk",
    "InitChunk",
    "OutgoingSsnResetRequest",
    "Packet",
    "ParamType",
    "Parameter",
    "ReconfigChunk",
    "ReconfigParam",
    "ReconfigResponse",
    "ReconfigResult",
    "SackChunk",
    "SctpParseError",
    "ShutdownAckChunk",
    "ShutdownChunk",
    "ShutdownCompleteChunk",
    "UnknownChunk",
    "parse_chunks",
]


class SctpParseError(ParseError):
    """Bytes that are not a valid SCTP packet, chunk or parameter."""


class ChunkType(IntEnum):
    """RFC 9260 §3.2 chunk types, with those of RFC 3758, 4820, 4895, 5061, 6525 and 8260."""

    DATA = 0
    INIT = 1
    INIT_ACK = 2
    SACK = 3
    HEARTBEAT = 4
    HEARTBEAT_ACK = 5
    ABORT = 6
    SHUTDOWN = 7
    SHUTDOWN_ACK = 8
    ERROR = 9
    COOKIE_ECHO = 10
    COOKIE_ACK = 11
    ECNE = 12
    CWR = 13
    SHUTDOWN_COMPLETE = 14
    AUTH = 15
    I_DATA = 64
    ASCONF_ACK = 0x80
    RE_CONFIG = 130
    PAD = 132
    FORWARD_TSN = 192
    ASCONF = 193
    I_FORWARD_TSN = 194


class ParamType(IntEnum):
    """RFC 9260 §3.3.2.1 parameter types, with RFC 3758, 5061, 6525 and 9653."""

    HEARTBEAT_INFO = 1
    IPV4_ADDRESS = 5
    IPV6_ADDRESS = 6
    STATE_COOKIE = 7
    UNRECOGNIZED_PARAMETER = 8
    COOKIE_PRESERVATIVE = 9
    HOST_NAME_ADDRESS = 11
    SUPPORTED_ADDRESS_TYPES = 12
    OUTGOING_SSN_RESET_REQUEST = 13
    INCOMING_SSN_RESET_REQUEST = 14
    SSN_TSN_RESET_REQUEST = 15
    RECONFIG_RESPONSE = 16
    ADD_OUTGOING_STREAMS_REQUEST = 17
    ADD_INCOMING_STREAMS_REQUEST = 18
    ECN_CAPABLE = 0x8000
    ZERO_CHECKSUM_ACCEPTABLE = 0x8001
    RANDOM = 0x8002
    CHUNK_LIST = 0x8003
    HMAC_ALGORITHM = 0x8004
    PADDING = 0x8005
    SUPPORTED_EXTENSIONS = 0x8008
    FORWARD_TSN_SUPPORTED = 0xC000


class CauseCode(IntEnum):
    """RFC 9260 §3.3.10 error cause codes."""

    INVALID_STREAM_IDENTIFIER = 1
    MISSING_MANDATORY_PARAMETER = 2
    STALE_COOKIE = 3
    OUT_OF_RESOURCE = 4
    UNRESOLVABLE_ADDRESS = 5
    UNRECOGNIZED_CHUNK_TYPE = 6
    INVALID_MANDATORY_PARAMETER = 7
    UNRECOGNIZED_PARAMETERS = 8
    NO_USER_DATA = 9
    COOKIE_WHILE_SHUTTING_DOWN = 10
    RESTART_WITH_NEW_ADDRESSES = 11
    USER_INITIATED_ABORT = 12
    PROTOCOL_VIOLATION = 13


class ReconfigResult(IntEnum):
    """RFC 6525 §4.4 Table 3: the Result of a Re-configuration Response."""

    SUCCESS_NOTHING_TO_DO = 0
    SUCCESS_PERFORMED = 1
    DENIED = 2
    ERROR_WRONG_SSN = 3
    ERROR_REQUEST_IN_PROGRESS = 4
    ERROR_BAD_SEQUENCE_NUMBER = 5
    IN_PROGRESS = 6


_HEADER = struct.Struct("!HHII")
_CHUNK_HEADER = struct.Struct("!BBH")
_DATA_HEADER = struct.Struct("!BBHIHHI")  # type, flags, length, TSN, SID, SSN, PPID
_IDATA_HEADER = struct.Struct("!BBHIHHII")  # type, flags, length, TSN, SID, res, MID, PPID|FSN
_DATA_FIELDS = struct.Struct("!IHHI")  # TSN, SID, SSN, PPID
_IDATA_FIELDS = struct.Struct("!IHHII")  # TSN, SID, reserved, MID, PPID|FSN
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U16_U16 = struct.Struct("!HH")
_INIT_FIXED = struct.Struct("!IIHHI")
_SACK_FIXED = struct.Struct("!IIHH")
_PARAM_HEADER = struct.Struct("!HH")

# RFC 9260 §3.3.1 DATA flags (and RFC 7053 §3 I, RFC 8260 §2.1 for I-DATA).
FLAG_END = 0x01
FLAG_BEGINNING = 0x02
FLAG_UNORDERED = 0x04
FLAG_IMMEDIATE = 0x08
FLAG_T = 0x01  # RFC 9260 §3.3.7, §3.3.13: the verification tag is reflected


def _pad(n: int) -> int:
    return -n & 3


def _chunk(kind: int, flags: int, value: bytes) -> bytes:
    return _CHUNK_HEADER.pack(kind, flags, 4 + len(value)) + value


def _need(value: bytes, n: int, what: str) -> None:
    if len(value) < n:
        raise SctpParseError(f"{what}: {len(value)} bytes, at least {n} needed")


# --- parameters and error causes ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parameter:
    """RFC 9260 §3.2.1 a type-length-value parameter, kept byte for byte."""

    type: int
    value: bytes = b""

    def encode(self) -> bytes:
        return _PARAM_HEADER.pack(self.type, 4 + len(self.value)) + self.value

    @staticmethod
    def supported_extensions(chunk_types: list[int]) -> Parameter:
        """RFC 5061 §4.2.7 Supported Extensions: the chunk types the sender understands."""
        return Parameter(ParamType.SUPPORTED_EXTENSIONS, bytes(chunk_types))

    @staticmethod
    def zero_checksum_acceptable(edmid: int) -> Parameter:
        """RFC 9653 §4 Zero Checksum Acceptable; EDMID 1 is SCTP over DTLS (§6)."""
        return Parameter(ParamType.ZERO_CHECKSUM_ACCEPTABLE, _U32.pack(edmid))


def _join_padded(items: list[bytes]) -> bytes:
    """TLVs each padded to four bytes but the last: RFC 9260 §3.2, the Chunk Length "does
    include padding of any variable-length parameter except the last parameter in the chunk"
    (the packet pads the chunk).  A receiver accepts it either way, as §3.2 asks."""
    if not items:
        return b""
    return b"".join([item + bytes(_pad(len(item))) for item in items[:-1]] + [items[-1]])


def _encode_params(params: list[Parameter]) -> bytes:
    return _join_padded([param.encode() for param in params])


def _parse_tlvs(data: bytes, what: str) -> list[tuple[int, bytes]]:
    """Type-length-value items padded to four bytes (parameters and error causes alike)."""
    items = []
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < 4:
            raise SctpParseError(f"{what}: {end - pos} stray bytes", pos)
        kind, length = _PARAM_HEADER.unpack_from(data, pos)
        if length < 4 or pos + length > end:
            raise SctpParseError(f"{what} type {kind}: bad length {length}", pos)
        items.append((kind, data[pos + 4 : pos + length]))
        pos += length + _pad(length)
    return items


def _parse_params(data: bytes) -> list[Parameter]:
    return [Parameter(kind, value) for kind, value in _parse_tlvs(data, "parameter")]


@dataclass(frozen=True, slots=True)
class ErrorCause:
    """RFC 9260 §3.3.10 an error cause: a code and its cause-specific information."""

    code: int
    info: bytes = b""

    def encode(self) -> bytes:
        return _PARAM_HEADER.pack(self.code, 4 + len(self.info)) + self.info

    def describe(self) -> str:
        try:
            name = CauseCode(self.code).name
        except ValueError:
            name = f"cause {self.code}"
        if self.code == CauseCode.PROTOCOL_VIOLATION or self.code == CauseCode.USER_INITIATED_ABORT:
            text = self.info.decode("utf-8", "replace")
            return f"{name}: {text}" if text else name
        return name


def _encode_causes(causes: list[ErrorCause]) -> bytes:
    return _join_padded([cause.encode() for cause in causes])


def _parse_causes(data: bytes) -> list[ErrorCause]:
    return [ErrorCause(code, info) for code, info in _parse_tlvs(data, "error cause")]


# --- RE-CONFIG parameters (RFC 6525 §4) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutgoingSsnResetRequest:
    """RFC 6525 §4.1: reset the sender's outgoing (the receiver's incoming) streams."""

    request_sequence: int
    response_sequence: int
    last_tsn: int
    streams: tuple[int, ...] = ()

    def encode(self) -> bytes:
        value = struct.pack("!III", self.request_sequence, self.response_sequence, self.last_tsn)
        value += b"".join(_U16.pack(s) for s in self.streams)
        return Parameter(ParamType.OUTGOING_SSN_RESET_REQUEST, value).encode()


@dataclass(frozen=True, slots=True)
class IncomingSsnResetRequest:
    """RFC 6525 §4.2: ask the peer to reset its outgoing streams."""

    request_sequence: int
    streams: tuple[int, ...] = ()

    def encode(self) -> bytes:
        value = _U32.pack(self.request_sequence) + b"".join(_U16.pack(s) for s in self.streams)
        return Parameter(ParamType.INCOMING_SSN_RESET_REQUEST, value).encode()


@dataclass(frozen=True, slots=True)
class ReconfigResponse:
    """RFC 6525 §4.4: the answer to a request; the TSNs only answer an SSN/TSN reset."""

    response_sequence: int
    result: int
    sender_next_tsn: int | None = None
    receiver_next_tsn: int | None = None

    def encode(self) -> bytes:
        value = struct.pack("!II", self.response_sequence, self.result)
        if self.sender_next_tsn is not None and self.receiver_next_tsn is not None:
            value += struct.pack("!II", self.sender_next_tsn, self.receiver_next_tsn)
        return Parameter(ParamType.RECONFIG_RESPONSE, value).encode()


ReconfigParam = OutgoingSsnResetRequest | IncomingSsnResetRequest | ReconfigResponse | Parameter


def _streams(value: bytes, start: int) -> tuple[int, ...]:
    if (len(value) - start) % 2:
        raise SctpParseError("stream list: odd length")
    return tuple(_U16.unpack_from(value, i)[0] for i in range(start, len(value), 2))


def _parse_reconfig_param(kind: int, value: bytes) -> ReconfigParam:
    if kind == ParamType.OUTGOING_SSN_RESET_REQUEST:
        _need(value, 12, "Outgoing SSN Reset Request")
        req, resp, last = struct.unpack_from("!III", value)
        return OutgoingSsnResetRequest(req, resp, last, _streams(value, 12))
    if kind == ParamType.INCOMING_SSN_RESET_REQUEST:
        _need(value, 4, "Incoming SSN Reset Request")
        return IncomingSsnResetRequest(_U32.unpack_from(value)[0], _streams(value, 4))
    if kind == ParamType.RECONFIG_RESPONSE:
        if len(value) not in (8, 16):
            raise SctpParseError(f"Re-configuration Response: {len(value)} bytes, not 8 or 16")
        seq, result = struct.unpack_from("!II", value)
        if len(value) == 16:
            sender, receiver = struct.unpack_from("!II", value, 8)
            return ReconfigResponse(seq, result, sender, receiver)
        return ReconfigResponse(seq, result)
    return Parameter(kind, value)


# --- chunks --------------------------------------------------------------------------------------


class Chunk(ABC):
    """Base of every chunk: ``TYPE`` is its RFC 9260 §3.2 type.  Each concrete chunk also has
    a ``decode(flags, value)`` class method, its inverse."""

    __slots__ = ()
    TYPE: ClassVar[int] = -1

    @abstractmethod
    def encode(self) -> bytes:
        """The chunk header and value, without the trailing padding."""


class _Fragment(Chunk):
    """The flags DATA and I-DATA share: RFC 9260 §3.3.1 U, B, E and RFC 7053 §3 I."""

    __slots__ = ()
    unordered: bool
    beginning: bool
    ending: bool
    immediate: bool

    @property
    def flags(self) -> int:
        return (
            (FLAG_END if self.ending else 0)
            | (FLAG_BEGINNING if self.beginning else 0)
            | (FLAG_UNORDERED if self.unordered else 0)
            | (FLAG_IMMEDIATE if self.immediate else 0)
        )


@dataclass(slots=True)
class DataChunk(_Fragment):
    """RFC 9260 §3.3.1 DATA: one fragment of a user message (B/E mark its first/last).

    ``immediate`` is RFC 7053 §3's I bit: the receiver should SACK at once.
    """

    TYPE: ClassVar[int] = ChunkType.DATA
    tsn: int
    stream_id: int
    ssn: int
    ppid: int
    user_data: bytes
    unordered: bool = False
    beginning: bool = True
    ending: bool = True
    immediate: bool = False

    def encode(self) -> bytes:
        data = self.user_data
        return _DATA_HEADER.pack(
            0, self.flags, 16 + len(data), self.tsn, self.stream_id, self.ssn, self.ppid
        ) + data

    @classmethod
    def decode(cls, flags: int, value: bytes) -> DataChunk:
        return cls.decode_at(flags, value, 0, len(value))

    @classmethod
    def decode_at(cls, flags: int, data: bytes, start: int, end: int) -> DataChunk:
        """Decode the value at ``data[start:end]`` (so the user data is copied only once)."""
        # RFC 9260 §6.2: a DATA chunk with no user data is answered with an ABORT; the
        # association checks that, the codec only needs the fixed fields.
        if end - start < 12:
            raise SctpParseError(f"DATA: {end - start} bytes, at least 12 needed")
        tsn, sid, ssn, ppid = _DATA_FIELDS.unpack_from(data, start)
        return cls(
            tsn, sid, ssn, ppid, data[start + 12 : end], bool(flags & FLAG_UNORDERED),
            bool(flags & FLAG_BEGINNING), bool(flags & FLAG_END), bool(flags & FLAG_IMMEDIATE),
        )


@dataclass(slots=True)
class IDataChunk(_Fragment):
    """RFC 8260 §2.1 I-DATA: a fragment named by (stream, MID, FSN), so messages interleave.

    The fifth word carries the PPID in the first fragment (whose FSN is 0 by definition) and
    the FSN in the others; ``ppid`` is 0 and meaningless in a non-first fragment.
    """

    TYPE: ClassVar[int] = ChunkType.I_DATA
    tsn: int
    stream_id: int
    mid: int
    ppid: int
    fsn: int
    user_data: bytes
    unordered: bool = False
    beginning: bool = True
    ending: bool = True
    immediate: bool = False

    def encode(self) -> bytes:
        data = self.user_data
        last = self.ppid if self.beginning else self.fsn
        return _IDATA_HEADER.pack(
            64, self.flags, 20 + len(data), self.tsn, self.stream_id, 0, self.mid, last
        ) + data

    @classmethod
    def decode(cls, flags: int, value: bytes) -> IDataChunk:
        return cls.decode_at(flags, value, 0, len(value))

    @classmethod
    def decode_at(cls, flags: int, data: bytes, start: int, end: int) -> IDataChunk:
        """Decode the value at ``data[start:end]`` (so the user data is copied only once)."""
        if end - start < 16:
            raise SctpParseError(f"I-DATA: {end - start} bytes, at least 16 needed")
        tsn, sid, _reserved, mid, last = _IDATA_FIELDS.unpack_from(data, start)
        beginning = bool(flags & FLAG_BEGINNING)
        return cls(
            tsn, sid, mid, last if beginning else 0, 0 if beginning else last,
            data[start + 16 : end], bool(flags & FLAG_UNORDERED), beginning,
            bool(flags & FLAG_END), bool(flags & FLAG_IMMEDIATE),
        )


@dataclass(slots=True)
class InitChunk(Chunk):
    """RFC 9260 §3.3.2 INIT: the initiate tag, window, stream counts, initial TSN, parameters."""

    TYPE: ClassVar[int] = ChunkType.INIT
    initiate_tag: int
    a_rwnd: int
    outbound_streams: int
    inbound_streams: int
    initial_tsn: int
    params: list[Parameter] = field(default_factory=list)

    def encode(self) -> bytes:
        fixed = _INIT_FIXED.pack(
            self.initiate_tag, self.a_rwnd, self.outbound_streams, self.inbound_streams,
            self.initial_tsn,
        )
        return _chunk(self.TYPE, 0, fixed + _encode_params(self.params))

    @classmethod
    def decode(cls, flags: int, value: bytes) -> InitChunk:
        _need(value, 16, ChunkType(cls.TYPE).name)
        tag, rwnd, out_streams, in_streams, tsn = _INIT_FIXED.unpack_from(value)
        return cls(tag, rwnd, out_streams, in_streams, tsn, _parse_params(value[16:]))

    def param(self, kind: int) -> Parameter | None:
        """The first parameter of ``kind``, or None."""
        for param in self.params:
            if param.type == kind:
                return param
        return None

    @property
    def supported_extensions(self) -> frozenset[int]:
        """RFC 5061 §4.2.7: the chunk types listed in Supported Extensions."""
        param = self.param(ParamType.SUPPORTED_EXTENSIONS)
        return frozenset(param.value) if param is not None else frozenset()

    @property
    def zero_checksum_edmid(self) -> int | None:
        """RFC 9653 §4: the Error Detection Method the sender accepts zero checksums for."""
        param = self.param(ParamType.ZERO_CHECKSUM_ACCEPTABLE)
        if param is None or len(param.value) != 4:
            return None
        return int(_U32.unpack(param.value)[0])

    @property
    def state_cookie(self) -> bytes | None:
        param = self.param(ParamType.STATE_COOKIE)
        return param.value if param is not None else None


@dataclass(slots=True)
class InitAckChunk(InitChunk):
    """RFC 9260 §3.3.3 INIT ACK: an INIT's fields plus the State Cookie parameter."""

    TYPE: ClassVar[int] = ChunkType.INIT_ACK


@dataclass(slots=True)
class SackChunk(Chunk):
    """RFC 9260 §3.3.4 SACK: cumulative TSN, window, gap ack blocks and duplicate TSNs.

    Gap blocks are ``(start, end)`` offsets from ``cumulative_tsn``, as on the wire.
    """

    TYPE: ClassVar[int] = ChunkType.SACK
    cumulative_tsn: int
    a_rwnd: int
    gaps: list[tuple[int, int]] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)

    def encode(self) -> bytes:
        parts = [_SACK_FIXED.pack(self.cumulative_tsn, self.a_rwnd, len(self.gaps),
                                  len(self.duplicates))]
        parts.extend(_U16_U16.pack(start, end) for start, end in self.gaps)
        parts.extend(_U32.pack(tsn) for tsn in self.duplicates)
        return _chunk(self.TYPE, 0, b"".join(parts))

    @classmethod
    def decode(cls, flags: int, value: bytes) -> SackChunk:
        _need(value, 12, "SACK")
        cum, rwnd, ngaps, ndups = _SACK_FIXED.unpack_from(value)
        if len(value) != 12 + 4 * ngaps + 4 * ndups:
            raise SctpParseError(
                f"SACK: {len(value)} bytes for {ngaps} gap blocks and {ndups} duplicates"
            )
        gaps = [_U16_U16.unpack_from(value, 12 + 4 * i) for i in range(ngaps)]
        base = 12 + 4 * ngaps
        dups = [_U32.unpack_from(value, base + 4 * i)[0] for i in range(ndups)]
        return cls(cum, rwnd, gaps, dups)


@dataclass(slots=True)
class HeartbeatChunk(Chunk):
    """RFC 9260 §3.3.5 HEARTBEAT: one Heartbeat Info parameter, opaque to the receiver."""

    TYPE: ClassVar[int] = ChunkType.HEARTBEAT
    info: bytes

    def encode(self) -> bytes:
        return _chunk(self.TYPE, 0, Parameter(ParamType.HEARTBEAT_INFO, self.info).encode())

    @classmethod
    def decode(cls, flags: int, value: bytes) -> HeartbeatChunk:
        params = _parse_params(value)
        if len(params) != 1 or params[0].type != ParamType.HEARTBEAT_INFO:
            raise SctpParseError(f"{ChunkType(cls.TYPE).name}: no single Heartbeat Info")
        return cls(params[0].value)


@dataclass(slots=True)
class HeartbeatAckChunk(HeartbeatChunk):
    """RFC 9260 §3.3.6 HEARTBEAT ACK: the Heartbeat Info sent back unchanged."""

    TYPE: ClassVar[int] = ChunkType.HEARTBEAT_ACK


@dataclass(slots=True)
class AbortChunk(Chunk):
    """RFC 9260 §3.3.7 ABORT, with its error causes; T set when the tag is reflected."""

    TYPE: ClassVar[int] = ChunkType.ABORT
    causes: list[ErrorCause] = field(default_factory=list)
    tag_reflected: bool = False

    def encode(self) -> bytes:
        return _chunk(self.TYPE, FLAG_T if self.tag_reflected else 0,
                      _encode_causes(self.causes))

    @classmethod
    def decode(cls, flags: int, value: bytes) -> AbortChunk:
        return cls(_parse_causes(value), bool(flags & FLAG_T))


@dataclass(slots=True)
class ErrorChunk(Chunk):
    """RFC 9260 §3.3.10 ERROR: causes that do not end the association."""

    TYPE: ClassVar[int] = ChunkType.ERROR
    causes: list[ErrorCause] = field(default_factory=list)

    def encode(self) -> bytes:
        return _chunk(self.TYPE, 0, _encode_causes(self.causes))

    @classmethod
    def decode(cls, flags: int, value: bytes) -> ErrorChunk:
        return cls(_parse_causes(value))


@dataclass(slots=True)
class ShutdownChunk(Chunk):
    """RFC 9260 §3.3.8 SHUTDOWN: the cumulative TSN received so far."""

    TYPE: ClassVar[int] = ChunkType.SHUTDOWN
    cumulative_tsn: int

    def encode(self) -> bytes:
        return _chunk(self.TYPE, 0, _U32.pack(self.cumulative_tsn))

    @classmethod
    def decode(cls, flags: int, value: bytes) -> ShutdownChunk:
        if len(value) != 4:
            raise SctpParseError(f"SHUTDOWN: {len(value)} bytes of value, not 4")
        return cls(_U32.unpack(value)[0])


@dataclass(slots=True)
class _EmptyChunk(Chunk):
    def encode(self) -> bytes:
        return _CHUNK_HEADER.pack(self.TYPE, 0, 4)

    @classmethod
    def decode(cls, flags: int, value: bytes) -> Chunk:
        # RFC 9260 §3.2: extra bytes in a chunk with no value are not worth a dropped packet.
        return cls()


@dataclass(slots=True)
class ShutdownAckChunk(_EmptyChunk):
    """RFC 9260 §3.3.9 SHUTDOWN ACK."""

    TYPE: ClassVar[int] = ChunkType.SHUTDOWN_ACK


@dataclass(slots=True)
class CookieAckChunk(_EmptyChunk):
    """RFC 9260 §3.3.12 COOKIE ACK."""

    TYPE: ClassVar[int] = ChunkType.COOKIE_ACK


@dataclass(slots=True)
class ShutdownCompleteChunk(Chunk):
    """RFC 9260 §3.3.13 SHUTDOWN COMPLETE; T set when the tag is reflected."""

    TYPE: ClassVar[int] = ChunkType.SHUTDOWN_COMPLETE
    tag_reflected: bool = False

    def encode(self) -> bytes:
        return _CHUNK_HEADER.pack(self.TYPE, FLAG_T if self.tag_reflected else 0, 4)

    @classmethod
    def decode(cls, flags: int, value: bytes) -> ShutdownCompleteChunk:
        return cls(bool(flags & FLAG_T))


@dataclass(slots=True)
class CookieEchoChunk(Chunk):
    """RFC 9260 §3.3.11 COOKIE ECHO: the State Cookie from the INIT ACK, echoed."""

    TYPE: ClassVar[int] = ChunkType.COOKIE_ECHO
    cookie: bytes

    def encode(self) -> bytes:
        return _chunk(self.TYPE, 0, self.cookie)

    @classmethod
    def decode(cls, flags: int, value: bytes) -> CookieEchoChunk:
        return cls(value)


@dataclass(slots=True)
class ForwardTsnChunk(Chunk):
    """RFC 3758 §3.2 FORWARD TSN: move the cumulative TSN past abandoned messages.

    ``streams`` lists ``(stream_id, ssn)``: the largest SSN skipped in each ordered stream.
    """

    TYPE: ClassVar[int] = ChunkType.FORWARD_TSN
    new_cumulative_tsn: int
    streams: list[tuple[int, int]] = field(default_factory=list)

    def encode(self) -> bytes:
        value = _U32.pack(self.new_cumulative_tsn) + b"".join(
            _U16_U16.pack(sid, ssn) for sid, ssn in self.streams
        )
        return _chunk(self.TYPE, 0, value)

    @classmethod
    def decode(cls, flags: int, value: bytes) -> ForwardTsnChunk:
        _need(value, 4, "FORWARD TSN")
        if len(value) % 4:
            raise SctpParseError(f"FORWARD TSN: {len(value)} bytes is not 4 + 4n")
        streams = [_U16_U16.unpack_from(value, i) for i in range(4, len(value), 4)]
        return cls(_U32.unpack_from(value)[0], streams)


@dataclass(slots=True)
class IForwardTsnChunk(Chunk):
    """RFC 8260 §2.3.1 I-FORWARD-TSN: ``streams`` lists ``(stream_id, unordered, mid)``."""

    TYPE: ClassVar[int] = ChunkType.I_FORWARD_TSN
    new_cumulative_tsn: int
    streams: list[tuple[int, bool, int]] = field(default_factory=list)

    def encode(self) -> bytes:
        value = _U32.pack(self.new_cumulative_tsn) + b"".join(
            struct.pack("!HHI", sid, 1 if unordered else 0, mid)
            for sid, unordered, mid in self.streams
        )
        return _chunk(self.TYPE, 0, value)

    @classmethod
    def decode(cls, flags: int, value: bytes) -> IForwardTsnChunk:
        _need(value, 4, "I-FORWARD-TSN")
        if (len(value) - 4) % 8:
            raise SctpParseError(f"I-FORWARD-TSN: {len(value)} bytes is not 4 + 8n")
        streams = []
        for i in range(4, len(value), 8):
            sid, bits, mid = struct.unpack_from("!HHI", value, i)
            streams.append((sid, bool(bits & 1), mid))
        return cls(_U32.unpack_from(value)[0], streams)


@dataclass(slots=True)
class ReconfigChunk(Chunk):
    """RFC 6525 §3.1 RE-CONFIG: one or two stream reconfiguration parameters."""

    TYPE: ClassVar[int] = ChunkType.RE_CONFIG
    params: list[ReconfigParam] = field(default_factory=list)

    def encode(self) -> bytes:
        return _chunk(self.TYPE, 0, _join_padded([param.encode() for param in self.params]))

    @classmethod
    def decode(cls, flags: int, value: bytes) -> ReconfigChunk:
        items = _parse_tlvs(value, "RE-CONFIG parameter")
        if not 1 <= len(items) <= 2:
            raise SctpParseError(f"RE-CONFIG: {len(items)} parameters, not 1 or 2")
        return cls([_parse_reconfig_param(kind, v) for kind, v in items])


@dataclass(slots=True)
class UnknownChunk(Chunk):
    """A chunk of a type this codec does not know, kept byte for byte (RFC 9260 §3.2)."""

    type: int
    flags: int
    value: bytes

    def encode(self) -> bytes:
        return _chunk(self.type, self.flags, self.value)


def _sliced(decode: Callable[[int, bytes], Chunk]) -> Callable[[int, bytes, int, int], Chunk]:
    """A ``decode(flags, value)`` as ``decode_at(flags, data, start, end)``."""

    def decode_at(flags: int, data: bytes, start: int, end: int) -> Chunk:
        return decode(flags, data[start:end])

    return decode_at


# Chunk type -> decoder of a chunk's value in place.  DATA and I-DATA, the hot path, decode
# straight from the packet (the user data is copied once); the others from their value.
_DECODERS: dict[int, Callable[[int, bytes, int, int], Chunk]] = {
    DataChunk.TYPE: DataChunk.decode_at,
    IDataChunk.TYPE: IDataChunk.decode_at,
    **{cls.TYPE: _sliced(cls.decode) for cls in (
        InitChunk, InitAckChunk, SackChunk, HeartbeatChunk, HeartbeatAckChunk, AbortChunk,
        ErrorChunk, ShutdownChunk, ShutdownAckChunk, CookieAckChunk, ShutdownCompleteChunk,
        CookieEchoChunk, ForwardTsnChunk, IForwardTsnChunk, ReconfigChunk,
    )},
}


def parse_chunks(data: bytes, start: int = 12) -> list[Chunk]:
    """The chunks of a packet from ``start`` (after the common header).

    RFC 9260 §3.2: a chunk's length excludes its padding; the padding of the last chunk may be
    missing.  A chunk whose length is below 4 or runs past the end is a parse error.
    """
    chunks: list[Chunk] = []
    pos, end = start, len(data)
    unpack = _CHUNK_HEADER.unpack_from
    decoders = _DECODERS
    while pos < end:
        if end - pos < 4:
            raise SctpParseError(f"{end - pos} stray bytes after the last chunk", pos)
        kind, flags, length = unpack(data, pos)
        if length < 4 or pos + length > end:
            raise SctpParseError(f"chunk type {kind}: bad length {length}", pos)
        decoder = decoders.get(kind)
        if decoder is None:
            chunks.append(UnknownChunk(kind, flags, data[pos + 4 : pos + length]))
        else:
            try:
                chunks.append(decoder(flags, data, pos + 4, pos + length))
            except SctpParseError as exc:
                raise SctpParseError(exc.reason, pos) from None
            except (struct.error, IndexError, ValueError) as exc:  # pragma: no cover - defence
                raise SctpParseError(f"chunk type {kind}: {exc}", pos) from None
        pos += length + _pad(length)
    return chunks


@dataclass(slots=True)
class Packet:
    """RFC 9260 §3.1 an SCTP packet: the common header and its chunks.

    ``checksum`` is the value as received (CRC32c, or 0 under RFC 9653); :meth:`serialize`
    computes it unless ``zero_checksum`` asks for the RFC 9653 zero.
    """

    source_port: int
    destination_port: int
    verification_tag: int
    chunks: list[Chunk]
    checksum: int = 0

    @classmethod
    def parse(cls, data: bytes, *, verify: bool = False) -> Packet:
        """Parse a packet; with ``verify``, a wrong CRC32c is a :class:`SctpParseError`."""
        if len(data) < 12:
            raise SctpParseError(f"{len(data)} bytes is shorter than the common header")
        src, dst, tag, checksum = _HEADER.unpack_from(data)
        if verify and not check_checksum(data):
            raise SctpParseError("CRC32c checksum mismatch", 8)
        return cls(src, dst, tag, parse_chunks(data), checksum)

    def serialize(self, *, zero_checksum: bool = False) -> bytes:
        parts = [_HEADER.pack(self.source_port, self.destination_port, self.verification_tag, 0)]
        for chunk in self.chunks:
            encoded = chunk.encode()
            parts.append(encoded)
            if len(encoded) & 3:
                parts.append(bytes(_pad(len(encoded))))
        data = b"".join(parts)
        return data if zero_checksum else with_checksum(data)
