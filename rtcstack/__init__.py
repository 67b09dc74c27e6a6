"""rtcstack: a WebRTC protocol stack written from scratch in Python.

Each layer is a sans-IO package that stands alone (``rtcstack.stun``, ...); ``rtcstack.asyncio``
is the only code that touches sockets and the clock.  The error base classes are exported here so
that callers can catch any layer's parse failure as ``rtcstack.ParseError``.
"""

from rtcstack.common.errors import InvalidStateError, ParseError, RtcstackError

__all__ = ["InvalidStateError", "ParseError", "RtcstackError"]
__version__ = "0.1.0"
