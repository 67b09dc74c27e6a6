"""Shared foundations every layer may import; this package imports no other layer.

- :mod:`~rtcstack.common.errors`: ``ParseError`` (the peer sent bytes we cannot parse; a
  ``ValueError``), ``InvalidStateError`` (the caller misused an API).
- :mod:`~rtcstack.common.buffer`: bounds-checked big-endian reading and writing.
- :mod:`~rtcstack.common.types`: ``Address`` and ``Transmit``, the sans-IO output type.
- :mod:`~rtcstack.common.randomness`: ``RandomBytes``; ``os.urandom`` by default, a seeded
  deterministic source for reproducible transcripts in tests.
- :mod:`~rtcstack.common.trace`: the structured tracing hook state machines report through.
"""

from rtcstack.common.buffer import Reader
from rtcstack.common.errors import InvalidStateError, ParseError, RtcstackError
from rtcstack.common.randomness import RandomBytes, SeededRandom, default_random_bytes
from rtcstack.common.trace import NULL_TRACE, Trace, TraceRecorder
from rtcstack.common.types import Address, Transmit

__all__ = [
    "NULL_TRACE",
    "Address",
    "InvalidStateError",
    "ParseError",
    "RandomBytes",
    "Reader",
    "RtcstackError",
    "SeededRandom",
    "Trace",
    "TraceRecorder",
    "Transmit",
    "default_random_bytes",
]
