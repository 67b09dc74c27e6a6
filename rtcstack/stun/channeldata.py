"""RFC 8656 §12.4 TURN ChannelData messages.

A 4-byte header -- channel number, then the length of the application data -- followed by the
data.  Channel numbers 0x4000-0x4FFF are valid (RFC 8656 §12: "0x5000 through 0xFFFF" are
reserved, and §12.6 discards them); a first byte in 64-79 is how RFC 7983 / RFC 9443 tell
ChannelData from STUN, DTLS and RTP on one port.

Padding (RFC 8656 §12.5): "Over TCP and TLS-over-TCP, the ChannelData message MUST be padded to
a multiple of four bytes ... Over UDP, the padding is not required but MAY be included."
:meth:`ChannelData.parse` therefore accepts a datagram with or without the padding;
:meth:`ChannelData.serialize` adds it when asked (``pad=True`` for streams).

    >>> frame = ChannelData(0x4001, b"hello").serialize()
    >>> frame.hex()
    '4001000568656c6c6f'
    >>> ChannelData.parse(frame + b"\\0\\0\\0")
    ChannelData(channel=16385, data=b'hello')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rtcstack.common.buffer import U16_U16
from rtcstack.common.errors import ParseError

__all__ = [
    "CHANNEL_MAX",
    "CHANNEL_MIN",
    "HEADER_SIZE",
    "ChannelData",
    "frame_size",
    "is_valid_channel",
]

HEADER_SIZE = 4
CHANNEL_MIN = 0x4000
CHANNEL_MAX = 0x4FFF


def is_valid_channel(channel: int) -> bool:
    """RFC 8656 §12: channel numbers are 0x4000 through 0x4FFF."""
    return CHANNEL_MIN <= channel <= CHANNEL_MAX


def frame_size(length: int) -> int:
    """RFC 8656 §12.5: the size of a padded frame, "(4 + Length) rounded up to the nearest
    multiple of 4"."""
    return (HEADER_SIZE + length + 3) & ~3


@dataclass(frozen=True, slots=True)
class ChannelData:
    """RFC 8656 §12.4 one ChannelData message."""

    channel: int
    data: bytes

    @classmethod
    def parse(cls, data: bytes) -> ChannelData:
        """Parse one whole ChannelData message (padding optional); raise :class:`ParseError`."""
        n = len(data)
        if n < HEADER_SIZE:
            raise ParseError(f"ChannelData: {n} bytes, shorter than the 4-byte header", 0)
        channel, length = U16_U16.unpack_from(data)
        if not is_valid_channel(channel):
            raise ParseError(
                f"ChannelData: channel number 0x{channel:04x} is outside 0x4000-0x4FFF", 0
            )
        end = HEADER_SIZE + length
        if end > n:
            # §12.6: "too short to contain the claimed length ... silently discarded"
            raise ParseError(
                f"ChannelData: length field says {length} but {n - HEADER_SIZE} bytes follow", 2
            )
        if n != end and n != frame_size(length):
            raise ParseError(
                f"ChannelData: {n - end} bytes after the data, expected none or "
                f"{frame_size(length) - end} bytes of padding",
                end,
            )
        return cls(channel, bytes(data[HEADER_SIZE:end]))

    def serialize(self, *, pad: bool = False) -> bytes:
        """The wire form; ``pad=True`` pads to a multiple of 4 (required over TCP/TLS)."""
        if not is_valid_channel(self.channel):
            raise ValueError(f"channel number 0x{self.channel:04x} is outside 0x4000-0x4FFF")
        length = len(self.data)
        if length > 0xFFFF:
            raise ValueError(f"ChannelData: {length} bytes of data, at most 65535")
        out = U16_U16.pack(self.channel, length) + self.data
        if pad and length & 3:
            out += b"\x00" * (4 - (length & 3))
        return out

    def __bytes__(self) -> bytes:
        return self.serialize()

    def describe(self) -> dict[str, Any]:
        """Every field as JSON-friendly values (used by ``rtcstack decode``)."""
        return {
            "protocol": "TURN ChannelData",
            "channel": f"0x{self.channel:04X}",
            "channel_number": self.channel,
            "length": len(self.data),
            "data": self.data.hex(),
        }
