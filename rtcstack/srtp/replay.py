"""The SRTP replay list as a sliding window: RFC 3711 §3.3.2.

"Only packets with index ahead of the window, or, inside the window but not already received,
SHALL be accepted."  The window is a bitmap (as RFC 3711 suggests, after RFC 2401): bit ``k``
of ``mask`` is set when index ``top - k`` was received.  The context calls :meth:`check`
before authenticating and :meth:`add` after ("After the packet has been authenticated (if
necessary the window is first moved ahead), the replay list SHALL be updated").
"""

from __future__ import annotations

__all__ = ["DEFAULT_WINDOW_SIZE", "MIN_WINDOW_SIZE", "ReplayWindow"]

DEFAULT_WINDOW_SIZE = 128
#: RFC 3711 §3.3.2: "SRTP-WINDOW-SIZE ... MUST be at least 64".
MIN_WINDOW_SIZE = 64
#: libsrtp's limit (``window_size`` < 2^15); larger windows buy nothing for RTP.
MAX_WINDOW_SIZE = 0x7FFF


def check_window_size(size: int) -> int:
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError("replay window size must be an int")
    if not MIN_WINDOW_SIZE <= size <= MAX_WINDOW_SIZE:
        raise ValueError(
            f"replay window size must be {MIN_WINDOW_SIZE}..{MAX_WINDOW_SIZE} (RFC 3711 §3.3.2:"
            " SRTP-WINDOW-SIZE 'MUST be at least 64')"
        )
    return size


class ReplayWindow:
    """Indices received so far, remembered for the last ``size`` indices below the highest."""

    __slots__ = ("_full", "mask", "size", "top")

    def __init__(self, size: int = DEFAULT_WINDOW_SIZE) -> None:
        self.size = check_window_size(size)
        self._full = (1 << size) - 1
        self.top = -1  # highest index received; -1 before the first
        self.mask = 0

    def check(self, index: int) -> bool:
        """True when ``index`` may be accepted (ahead of the window, or in it and unseen)."""
        delta = self.top - index
        if delta < 0:
            return True
        return delta < self.size and not (self.mask >> delta) & 1

    def add(self, index: int) -> None:
        """Record ``index`` as received (moving the window ahead when it is the new highest)."""
        delta = index - self.top
        if delta > 0:
            self.mask = ((self.mask << delta) | 1) & self._full
            self.top = index
        elif -delta < self.size:
            self.mask |= 1 << -delta

    def __repr__(self) -> str:
        return f"ReplayWindow(size={self.size}, top={self.top})"
