"""The receiver's REMB estimate (rtcstack.rtp.remb): a loss-driven ceiling."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcstack.rtp.remb import RembEstimator


def test_starts_at_initial_and_grows_without_loss() -> None:
    est = RembEstimator(initial=1_000_000, maximum=3_000_000)
    assert est.update(now=0.0, bytes_received=0, packets_expected=0, packets_lost=0) == 1_000_000
    # 1 Mbit/s arriving, no loss: +8 % (at least 1.5x what arrives) per update, capped
    got = [est.update(now=float(i), bytes_received=125_000 * i, packets_expected=100 * i,
                      packets_lost=0) for i in range(1, 20)]
    assert got[0] == 1_500_000 and got == sorted(got) and got[-1] == 3_000_000


def test_backs_off_on_heavy_loss_and_holds_on_moderate() -> None:
    est = RembEstimator(initial=2_000_000)
    est.update(now=0.0, bytes_received=0, packets_expected=0, packets_lost=0)
    # 800 kbit/s arriving with 20 % loss: 800k x (1 - 0.1)
    assert est.update(now=1.0, bytes_received=100_000, packets_expected=100,
                      packets_lost=20) == 720_000
    # 5 % loss: hold
    assert est.update(now=2.0, bytes_received=200_000, packets_expected=200,
                      packets_lost=25) == 720_000
    # too soon after the last update: unchanged
    assert est.update(now=2.1, bytes_received=900_000, packets_expected=300,
                      packets_lost=25) == 720_000


def test_bounds() -> None:
    with pytest.raises(ValueError):
        RembEstimator(initial=10, minimum=100)
    est = RembEstimator(initial=200_000, minimum=150_000)
    est.update(now=0.0, bytes_received=0, packets_expected=0, packets_lost=0)
    assert est.update(now=1.0, bytes_received=100, packets_expected=10,
                      packets_lost=10) == 150_000


@given(st.lists(st.tuples(st.floats(0, 5), st.integers(0, 10**7), st.integers(0, 1000),
                          st.integers(-10, 1000)), max_size=30))
def test_any_counters_stay_within_bounds(steps: list[tuple[float, int, int, int]]) -> None:
    est = RembEstimator()
    now = total = expected = lost = 0
    for dt, add, more, lose in steps:
        now += dt
        total += add
        expected += more
        lost += lose
        value = est.update(now=now, bytes_received=total, packets_expected=expected,
                           packets_lost=lost)
        assert est.minimum <= value <= est.maximum
