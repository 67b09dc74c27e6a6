"""Error base classes shared by every layer.

Errors follow where the problem came from (STYLE.md, rule 5):

- :class:`ParseError` -- the bytes came from the network and are not a valid message.  It is a
  ``ValueError`` so that generic code can catch it, and it carries the offset of the problem.
  State machines catch it, count and trace the datagram, and drop it.
- :class:`InvalidStateError` -- the caller used an API at the wrong time.  Raised at once.
"""

from __future__ import annotations


class RtcstackError(Exception):
    """Base class of every exception rtcstack raises on purpose."""


class ParseError(RtcstackError, ValueError):
    """Input bytes that do not form a valid message of the layer.

    ``reason`` says what is wrong, ``offset`` where (in bytes from the start of the input the
    parser was given), when it is known.
    """

    def __init__(self, reason: str, offset: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        super().__init__(reason if offset is None else f"offset {offset}: {reason}")


class InvalidStateError(RtcstackError, RuntimeError):
    """An API was called in a state where it cannot be honoured (a local programming error)."""
