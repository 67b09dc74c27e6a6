"""RFC 8832 Data Channel Establishment Protocol (DCEP) messages and RFC 8831 §8 PPIDs.

DCEP has two messages, both sent reliably and in order with PPID 50 on the stream of the data
channel they open (RFC 8832 §6): DATA_CHANNEL_OPEN (§5.1) and DATA_CHANNEL_ACK (§5.2).
:func:`parse_dcep` reads either one from the payload of an SCTP user message; every malformed
input raises :class:`DcepParseError` (a :class:`~rtcstack.common.errors.ParseError`, so a
``ValueError``) with the reason and the offset.  RFC 8832 §6: an OPEN that "is not well formed"
makes the receiver close the data channel and send no ACK -- that decision is the data channel
layer's, this module only tells well-formed from not.

Out of scope here: stream identifier rules (even/odd, §6), the ordered-until-ACK rule (§6) and
closing channels (RFC 8831 §6.7); they belong to the data channel state machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeAlias

from rtcstack.common.buffer import Reader
from rtcstack.common.errors import ParseError

__all__ = [
    "OPEN_HEADER_SIZE",
    "PRIORITY_BELOW_NORMAL",
    "PRIORITY_EXTRA_HIGH",
    "PRIORITY_HIGH",
    "PRIORITY_NORMAL",
    "ChannelType",
    "DataChannelAck",
    "DataChannelOpen",
    "DcepMessage",
    "DcepParseError",
    "MessageType",
    "Ppid",
    "parse_dcep",
]


class DcepParseError(ParseError):
    """RFC 8832 §5: bytes that are not a well-formed DCEP message (reason and offset)."""


class Ppid(IntEnum):
    """RFC 8831 §8 / RFC 8832 §8.1 SCTP Payload Protocol Identifiers of WebRTC data channels.

    RFC 8831 §6.6: an empty message is sent as one zero byte with ``STRING_EMPTY`` or
    ``BINARY_EMPTY``, and the receiver ignores that byte.  ``BINARY_PARTIAL`` (52) and
    ``STRING_PARTIAL`` (54) are deprecated (PPID-based fragmentation): decode only, never send.
    """

    DCEP = 50  # "WebRTC DCEP" (RFC 8832 §8.1)
    STRING = 51  # "WebRTC String"
    BINARY_PARTIAL = 52  # "WebRTC Binary Partial (deprecated)"
    BINARY = 53  # "WebRTC Binary"
    STRING_PARTIAL = 54  # "WebRTC String Partial (deprecated)"
    STRING_EMPTY = 56  # "WebRTC String Empty"
    BINARY_EMPTY = 57  # "WebRTC Binary Empty"


class MessageType(IntEnum):
    """RFC 8832 §8.2.1 Message Types (0x00, 0x01 and 0xff are reserved)."""

    DATA_CHANNEL_ACK = 0x02
    DATA_CHANNEL_OPEN = 0x03


# RFC 8831 §6.4: "For use in WebRTC, the values used SHOULD be one of 128 ("below normal"), 256
# ("normal"), 512 ("high"), or 1024 ("extra high")."  (W3C RTCPriorityType very-low/low map to
# below normal and normal, medium to high, high to extra high.)
PRIORITY_BELOW_NORMAL = 128
PRIORITY_NORMAL = 256
PRIORITY_HIGH = 512
PRIORITY_EXTRA_HIGH = 1024

_UNORDERED = 0x80


class ChannelType(IntEnum):
    """RFC 8832 §5.1 / §8.2.2 Channel Type of a DATA_CHANNEL_OPEN.

    The low bits choose the reliability (reliable, limited retransmissions, limited lifetime);
    0x80 marks an unordered channel.
    """

    RELIABLE = 0x00
    RELIABLE_UNORDERED = 0x80
    PARTIAL_RELIABLE_REXMIT = 0x01
    PARTIAL_RELIABLE_REXMIT_UNORDERED = 0x81
    PARTIAL_RELIABLE_TIMED = 0x02
    PARTIAL_RELIABLE_TIMED_UNORDERED = 0x82

    @classmethod
    def of(
        cls,
        ordered: bool,
        max_retransmits: int | None = None,
        max_packet_life_time: int | None = None,
    ) -> ChannelType:
        """The channel type for the W3C ``RTCDataChannelInit`` options.

        At most one of ``max_retransmits`` (RFC 8832 §5.1 "Number of RTX") and
        ``max_packet_life_time`` (milliseconds) may be given; ``ValueError`` otherwise.
        """
        if max_retransmits is not None and max_packet_life_time is not None:
            raise ValueError("give max_retransmits or max_packet_life_time, not both")
        if max_retransmits is not None:
            base = cls.PARTIAL_RELIABLE_REXMIT
        elif max_packet_life_time is not None:
            base = cls.PARTIAL_RELIABLE_TIMED
        else:
            base = cls.RELIABLE
        return cls(base if ordered else base | _UNORDERED)

    @property
    def ordered(self) -> bool:
        """Whether user messages are delivered in order (the 0x80 bit is clear)."""
        return not self & _UNORDERED

    @property
    def reliable(self) -> bool:
        """Fully reliable: RELIABLE or RELIABLE_UNORDERED."""
        return not self & 0x7F

    def reliability(self, reliability_parameter: int) -> tuple[int | None, int | None]:
        """``(max_retransmits, max_packet_life_time)`` from the Reliability Parameter.

        RFC 8832 §5.1 Table 1: ignored for reliable channels, the number of retransmissions for
        ``*_REXMIT``, the lifetime in milliseconds for ``*_TIMED``.
        """
        kind = self & 0x7F
        if kind == ChannelType.PARTIAL_RELIABLE_REXMIT:
            return reliability_parameter, None
        if kind == ChannelType.PARTIAL_RELIABLE_TIMED:
            return None, reliability_parameter
        return None, None


_CHANNEL_TYPES = frozenset(int(t) for t in ChannelType)
#: RFC 8832 §5.1: type, channel type, priority, reliability parameter, label and protocol length.
OPEN_HEADER_SIZE = 12


@dataclass(frozen=True, slots=True)
class DataChannelOpen:
    """RFC 8832 §5.1 DATA_CHANNEL_OPEN.

    ``reliability_parameter`` is kept as sent even for reliable channels (RFC 8832 §5.1: "MUST
    be set to 0 on the sending side and MUST be ignored on the receiving side"), so that parsing
    and serializing round-trip; :meth:`create` writes 0 for them.  ``label`` and ``protocol``
    are UTF-8 on the wire (RFC 3629), each at most 65535 bytes.
    """

    channel_type: ChannelType
    priority: int
    reliability_parameter: int
    label: str
    protocol: str

    message_type = MessageType.DATA_CHANNEL_OPEN

    @classmethod
    def create(
        cls,
        label: str = "",
        protocol: str = "",
        *,
        ordered: bool = True,
        max_retransmits: int | None = None,
        max_packet_life_time: int | None = None,
        priority: int = PRIORITY_NORMAL,
    ) -> DataChannelOpen:
        """The OPEN for W3C ``createDataChannel(label, {ordered, maxRetransmits, ...})``."""
        channel_type = ChannelType.of(ordered, max_retransmits, max_packet_life_time)
        parameter = max_retransmits if max_retransmits is not None else max_packet_life_time
        return cls(channel_type, priority, parameter or 0, label, protocol)

    @property
    def ordered(self) -> bool:
        return self.channel_type.ordered

    @property
    def max_retransmits(self) -> int | None:
        """RFC 8832 §5.1 Table 1: the number of retransmissions, for ``*_REXMIT`` channels."""
        return self.channel_type.reliability(self.reliability_parameter)[0]

    @property
    def max_packet_life_time(self) -> int | None:
        """RFC 8832 §5.1 Table 1: the lifetime in milliseconds, for ``*_TIMED`` channels."""
        return self.channel_type.reliability(self.reliability_parameter)[1]

    @classmethod
    def parse(cls, data: bytes) -> DataChannelOpen:
        """Parse one DATA_CHANNEL_OPEN; :class:`DcepParseError` unless that is what it is."""
        message = parse_dcep(data)
        if not isinstance(message, DataChannelOpen):
            raise DcepParseError("DCEP: a DATA_CHANNEL_ACK, expected DATA_CHANNEL_OPEN", 0)
        return message

    def serialize(self) -> bytes:
        """RFC 8832 §5.1 wire form.  ``ValueError`` for a field that does not fit."""
        label = self.label.encode("utf-8")
        protocol = self.protocol.encode("utf-8")
        if not 0 <= self.priority <= 0xFFFF:
            raise ValueError(f"DCEP priority {self.priority} does not fit 2 bytes")
        if not 0 <= self.reliability_parameter <= 0xFFFFFFFF:
            raise ValueError(
                f"DCEP reliability parameter {self.reliability_parameter} does not fit 4 bytes"
            )
        if len(label) > 0xFFFF or len(protocol) > 0xFFFF:
            raise ValueError("DCEP label and protocol are at most 65535 bytes each in UTF-8")
        return (
            bytes((MessageType.DATA_CHANNEL_OPEN, ChannelType(self.channel_type)))
            + self.priority.to_bytes(2, "big")
            + self.reliability_parameter.to_bytes(4, "big")
            + len(label).to_bytes(2, "big")
            + len(protocol).to_bytes(2, "big")
            + label
            + protocol
        )

    def __bytes__(self) -> bytes:
        return self.serialize()

    def describe(self) -> dict[str, Any]:
        """Every field as JSON-friendly values."""
        return {
            "protocol": "DCEP",
            "message_type": MessageType.DATA_CHANNEL_OPEN.name,
            "channel_type": self.channel_type.name,
            "ordered": self.ordered,
            "priority": self.priority,
            "reliability_parameter": self.reliability_parameter,
            "max_retransmits": self.max_retransmits,
            "max_packet_life_time": self.max_packet_life_time,
            "label": self.label,
            "subprotocol": self.protocol,
        }


@dataclass(frozen=True, slots=True)
class DataChannelAck:
    """RFC 8832 §5.2 DATA_CHANNEL_ACK: one byte, 0x02."""

    message_type = MessageType.DATA_CHANNEL_ACK

    @classmethod
    def parse(cls, data: bytes) -> DataChannelAck:
        """Parse one DATA_CHANNEL_ACK; :class:`DcepParseError` unless that is what it is."""
        message = parse_dcep(data)
        if not isinstance(message, DataChannelAck):
            raise DcepParseError("DCEP: a DATA_CHANNEL_OPEN, expected DATA_CHANNEL_ACK", 0)
        return message

    def serialize(self) -> bytes:
        return _ACK_BYTES

    def __bytes__(self) -> bytes:
        return _ACK_BYTES

    def describe(self) -> dict[str, Any]:
        return {"protocol": "DCEP", "message_type": MessageType.DATA_CHANNEL_ACK.name}


DcepMessage: TypeAlias = DataChannelOpen | DataChannelAck
_ACK_BYTES = bytes((MessageType.DATA_CHANNEL_ACK,))


def parse_dcep(data: bytes) -> DataChannelOpen | DataChannelAck:
    """RFC 8832 §5: parse the payload of one SCTP user message sent with PPID 50.

    Raises :class:`DcepParseError` for an empty payload, a message type other than OPEN (0x03)
    or ACK (0x02) (§8.2.1), a channel type not in §8.2.2, lengths past the end, bytes after the
    message, and a label or protocol that is not UTF-8 (§5.1, RFC 3629).
    """
    try:
        return _parse(bytes(data))
    except DcepParseError:
        raise
    except ParseError as exc:  # a short read in Reader: same reason and offset, DCEP's type
        raise DcepParseError(exc.reason, exc.offset) from None


def _parse(data: bytes) -> DataChannelOpen | DataChannelAck:
    reader = Reader(data)
    kind = reader.u8("DCEP message type")
    if kind == MessageType.DATA_CHANNEL_ACK:
        reader.expect_end("DATA_CHANNEL_ACK")  # §5.2: the message is the one type byte
        return DataChannelAck()
    if kind != MessageType.DATA_CHANNEL_OPEN:
        raise DcepParseError(f"DCEP: unknown message type 0x{kind:02x}", 0)
    channel_type = reader.u8("DATA_CHANNEL_OPEN channel type")
    if channel_type not in _CHANNEL_TYPES:
        raise DcepParseError(f"DATA_CHANNEL_OPEN: unknown channel type 0x{channel_type:02x}", 1)
    priority = reader.u16("DATA_CHANNEL_OPEN priority")
    parameter = reader.u32("DATA_CHANNEL_OPEN reliability parameter")
    label_length = reader.u16("DATA_CHANNEL_OPEN label length")
    protocol_length = reader.u16("DATA_CHANNEL_OPEN protocol length")
    label = _utf8(reader, label_length, "label")
    protocol = _utf8(reader, protocol_length, "protocol")
    reader.expect_end("DATA_CHANNEL_OPEN")
    return DataChannelOpen(ChannelType(channel_type), priority, parameter, label, protocol)


def _utf8(reader: Reader, length: int, what: str) -> str:
    start = reader.position
    raw = reader.take(length, f"DATA_CHANNEL_OPEN {what} ({length} bytes)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DcepParseError(
            f"DATA_CHANNEL_OPEN: {what} is not UTF-8 ({exc.reason})", start + exc.start
        ) from None
