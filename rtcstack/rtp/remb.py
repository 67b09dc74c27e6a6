"""A receiver's maximum-bitrate estimate for REMB (draft-alvestrand-rmcat-remb-03), sans-IO.

REMB tells a sender the most it should send to us.  This estimate is deliberately simple: a
loss-driven ceiling (additive-increase / multiplicative-decrease on what arrives), not the
delay-based receive-side estimator of GCC (draft-ietf-rmcat-gcc-02 §4), which needs arrival-time
filtering of every packet.  It only ever limits: the sender's own loss-based controller still
governs its rate.  What it gives a browser sender is a number to start from -- Chromium, with
REMB and no transport-wide feedback, adopts a higher REMB during its first two seconds when
nothing is lost, which is what lets a 640x480 simulcast layer start at once instead of after a
ramp-up from 300 kbit/s.

The rules (per :meth:`RembEstimator.update`, called about once a second with the counters of
the streams it covers):

- loss above 10 %: the estimate drops to the received rate times ``1 - loss / 2`` (as RFC 8083 §4
  circuit breakers and TFRC-like controllers back off with loss);
- loss below 2 %: it grows by 8 % (at least to 1.5 x the received rate), up to ``maximum``;
- between: it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RembEstimator"]


@dataclass
class RembEstimator:
    """``initial``, ``minimum`` and ``maximum`` are bit/s."""

    initial: int = 2_500_000
    minimum: int = 100_000
    maximum: int = 10_000_000
    estimate: int = 0
    _at: float | None = None
    _bytes: int = 0
    _expected: int = 0
    _lost: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.minimum <= self.initial <= self.maximum:
            raise ValueError("need 0 < minimum <= initial <= maximum")
        self.estimate = self.initial

    def update(self, *, now: float, bytes_received: int, packets_expected: int,
               packets_lost: int) -> int:
        """Fold in the cumulative counters of the streams covered; returns the estimate."""
        if self._at is None:
            self._at, self._bytes = now, bytes_received
            self._expected, self._lost = packets_expected, packets_lost
            return self.estimate
        elapsed = now - self._at
        if elapsed < 0.2:
            return self.estimate
        rate = 8 * (bytes_received - self._bytes) / elapsed
        expected = packets_expected - self._expected
        lost = packets_lost - self._lost
        loss = min(1.0, max(0.0, lost / expected)) if expected > 0 else 0.0
        if loss > 0.10:
            self.estimate = int(rate * (1 - loss / 2))
        elif loss < 0.02:
            self.estimate = int(max(self.estimate * 1.08, rate * 1.5))
        self.estimate = max(self.minimum, min(self.maximum, self.estimate))
        self._at, self._bytes = now, bytes_received
        self._expected, self._lost = packets_expected, packets_lost
        return self.estimate
