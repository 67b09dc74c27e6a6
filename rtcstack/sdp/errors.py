"""SDP errors: a description that cannot be parsed, and an offer that cannot be answered.

- :class:`SdpParseError` -- the text is not a well-formed session description, or one of its
  lines does not follow the grammar of its attribute.  It carries the 1-based line number (when it
  is known) and the reason, so ``rtcstack sdp check`` and a user can point at the line.
- :class:`NegotiationError` -- a well-formed description that offer/answer (RFC 3264, RFC 9429)
  cannot accept: it names the media section (index and mid) and why.
"""

from __future__ import annotations

from rtcstack.common import ParseError, RtcstackError


class SdpParseError(ParseError):
    """RFC 8866 §9: text that does not follow the SDP grammar.

    ``line`` is the 1-based line number in the text given to the parser (``None`` when the error
    comes from parsing one attribute value on its own); ``reason`` says what is wrong.
    """

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.line = line
        ParseError.__init__(self, reason)
        self.args = (reason if line is None else f"line {line}: {reason}",)

    def __str__(self) -> str:
        return str(self.args[0])

    def at_line(self, line: int | None) -> SdpParseError:
        """The same error with a line number attached (the error itself when it has one)."""
        if self.line is not None or line is None:
            return self
        return SdpParseError(self.reason, line)


class NegotiationError(RtcstackError, ValueError):
    """A description offer/answer cannot accept; ``index``/``mid`` name the media section."""

    def __init__(self, reason: str, *, index: int | None = None, mid: str | None = None) -> None:
        self.reason = reason
        self.index = index
        self.mid = mid
        where = []
        if index is not None:
            where.append(f"m-section {index}")
        if mid is not None:
            where.append(f"mid {mid!r}")
        super().__init__(f"{' '.join(where)}: {reason}" if where else reason)
