"""Stream framing for STUN over TCP and TLS (RFC 8489 §6.2.2) and TURN ChannelData (RFC 8656 §12.5).

A byte stream carries back-to-back frames with no other delimiter.  The first two bits of each
frame say what it is: ``00`` a STUN message (its length field counts the attributes after the
20-byte header), ``01`` a ChannelData message (RFC 8656 §12.5: "the actual size ... (including
padding) is (4 + Length) rounded up to the nearest multiple of 4").  Anything else at a frame
boundary means the stream has lost its framing; nothing can resynchronise it, so the decoder
raises :class:`~rtcstack.common.errors.ParseError` and stays broken (the connection must be
closed, RFC 8489 §6.2.2: a failed connection fails its transactions).

:class:`StreamDecoder` takes the stream in chunks of any size -- a frame split over many reads,
or many frames in one read -- and returns whole frames::

    >>> from rtcstack.stun import Message, MessageClass, Method
    >>> wire = Message(Method.BINDING, MessageClass.REQUEST, b"0123456789ab").serialize()
    >>> wire += ChannelData(0x4000, b"abc").serialize(pad=True)
    >>> decoder = StreamDecoder()
    >>> decoder.feed(wire[:7]), len(decoder.feed(wire[7:]))
    ([], 2)
"""

from __future__ import annotations

from typing import TypeAlias

from rtcstack.common.buffer import U16
from rtcstack.common.errors import ParseError
from rtcstack.stun.channeldata import ChannelData, frame_size
from rtcstack.stun.message import HEADER_SIZE, Message

__all__ = ["Frame", "StreamDecoder", "frame_length", "parse_frame"]

Frame: TypeAlias = Message | ChannelData


def frame_length(head: bytes) -> int | None:
    """The total size of the frame starting with ``head`` (at least 4 bytes), or ``None`` when
    the first two bits are neither ``00`` (STUN) nor ``01`` (ChannelData)."""
    kind = head[0] >> 6
    length = int(U16.unpack_from(head, 2)[0])
    if kind == 0:
        return HEADER_SIZE + length
    if kind == 1:
        return frame_size(length)
    return None


class StreamDecoder:
    """Split a TCP/TLS byte stream into STUN messages and (padded) ChannelData frames.

    :meth:`feed` returns the frames completed by ``data``, parsed.  A frame that is correctly
    delimited but malformed inside (a STUN message with a bad attribute, say) does not break the
    stream: it is skipped and counted in :attr:`malformed`, and its error kept in
    :attr:`last_error`.  A frame boundary whose first two bits are ``10`` or ``11`` cannot be
    recovered from: :meth:`feed` raises :class:`ParseError` then and on every later call.
    ``max_buffer`` bounds the memory a peer can make us hold (a frame is at most 65 555 bytes).
    """

    __slots__ = ("_buffer", "_error", "last_error", "malformed", "max_buffer", "offset")

    def __init__(self, *, max_buffer: int = 1 << 20) -> None:
        self._buffer = bytearray()
        self._error: ParseError | None = None
        self.max_buffer = max_buffer
        self.malformed = 0
        self.last_error: ParseError | None = None
        self.offset = 0  # stream offset of the start of the buffer

    @property
    def broken(self) -> bool:
        return self._error is not None

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet form a whole frame."""
        return len(self._buffer)

    def feed_raw(self, data: bytes) -> list[bytes]:
        """Like :meth:`feed`, but return each frame's bytes unparsed."""
        if self._error is not None:
            raise self._error
        buf = self._buffer
        buf += data
        frames: list[bytes] = []
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            size = frame_length(bytes(buf[pos : pos + 4]))
            if size is None:
                self._error = ParseError(
                    f"stream: first byte 0x{buf[pos]:02x} at a frame boundary is neither STUN "
                    "nor ChannelData; the stream cannot be resynchronised",
                    self.offset + pos,
                )
                del buf[:pos]
                self.offset += pos
                raise self._error
            if n - pos < size:
                break
            frames.append(bytes(buf[pos : pos + size]))
            pos += size
        if pos:
            del buf[:pos]
            self.offset += pos
        if len(buf) > self.max_buffer:
            self._error = ParseError(
                f"stream: {len(buf)} bytes buffered without a whole frame", self.offset
            )
            raise self._error
        return frames

    def feed(self, data: bytes) -> list[Frame]:
        """Add ``data`` from the stream; return the frames it completed, in order."""
        out: list[Frame] = []
        for raw in self.feed_raw(data):
            try:
                out.append(parse_frame(raw))
            except ParseError as exc:
                self.malformed += 1
                self.last_error = exc
        return out


def parse_frame(raw: bytes) -> Frame:
    """Parse one delimited frame: STUN when the first two bits are 00, ChannelData for 01."""
    if raw and raw[0] >> 6 == 1:
        return ChannelData.parse(raw)
    return Message.parse(raw)
