"""Side-by-side benchmarks: rtcstack and its reference, in one process, median of repeats.

A benchmark module is ``bench/bench_<name>.py`` and declares:

- ``REFERENCE: str`` -- what rtcstack is compared with (``"aioice 0.13.0"``);
- ``TARGET_RATIO: float`` -- the speed target as reference time / rtcstack time (3.0 means
  "rtcstack at least 3x faster"); a :class:`Case` may override it;
- ``cases() -> list[Case]`` -- the rows.

For every case the harness first calls both sides once and checks that each returns
``Case.expect`` (so both do the same work and neither silently fails), then runs ``repeats``
timed loops of each side, alternating rtcstack and reference so that machine noise hits both
alike, and reports the median per-operation time of each and their ratio.  Targets are
printed, never enforced: speed is judged by people reading the numbers (machines are noisy).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import pkgutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from types import ModuleType
from typing import Any, TextIO

__all__ = [
    "BenchError",
    "Case",
    "Result",
    "Settings",
    "Timed",
    "discover",
    "format_table",
    "main",
    "measure",
    "run",
    "run_module",
]

PACKAGE = "bench"
PREFIX = "bench_"


class BenchError(Exception):
    """A benchmark is broken: bad module declarations, or a side returned the wrong value."""


@dataclass(frozen=True)
class Case:
    """One row: the same operation done by rtcstack and by the reference.

    Each callable performs the operation once and returns a value that must equal ``expect``.
    With ``self_timed=True`` each callable times the part that counts itself (for operations
    with set-up that must stay off the clock, or that wait on sockets: wall time) and returns a
    :class:`Timed`; its ``value`` must equal ``expect``.
    """

    name: str
    rtcstack: Callable[[], object]
    reference: Callable[[], object]
    expect: object
    target: float | None = None  # overrides the module's TARGET_RATIO
    reference_name: str | None = None  # overrides the module's REFERENCE
    self_timed: bool = False  # the callables return Timed(value, seconds)
    max_iterations: int | None = None  # a cap for heavy rows (a 64 MiB transfer: 1 per loop)
    # "s": seconds (shown in µs); "B": a self-timed row whose Timed.seconds is a size in bytes
    # (memory per connection): per operation, lower is better, ratio = reference / rtcstack.
    unit: str = "s"


@dataclass(frozen=True)
class Timed:
    """What a self-timed side returns: its value and the seconds the operation took (or the
    bytes, in a row whose ``Case.unit`` is ``"B"``)."""

    value: object
    seconds: float


@dataclass(frozen=True)
class Result:
    """The measured figures of one case (times in seconds per operation)."""

    module: str
    name: str
    reference_name: str
    rtcstack_s: float
    reference_s: float
    ratio: float  # reference_s / rtcstack_s: > 1 means rtcstack is faster
    target: float
    met: bool
    repeats: int
    iterations: int
    unit: str = "s"  # Case.unit: rtcstack_s and reference_s are bytes when it is "B"


@dataclass(frozen=True)
class Settings:
    """How long to measure: ``repeats`` loops, each sized to last about ``min_time`` seconds."""

    repeats: int = 7
    min_time: float = 0.2
    max_iterations: int = 1_000_000
    fixed_iterations: int | None = None  # skip calibration (the quick mode)


QUICK = Settings(repeats=3, fixed_iterations=20)


def discover() -> list[str]:
    """Names of every ``bench/bench_<name>.py``, sorted: ``["hmac", "stun"]``."""
    package = importlib.import_module(PACKAGE)
    return sorted(
        info.name[len(PREFIX) :]
        for info in pkgutil.iter_modules(package.__path__)
        if info.name.startswith(PREFIX)
    )


def _load(name: str, quick: bool = False) -> tuple[ModuleType, str, float, list[Case]]:
    module_name = name if name.startswith(PREFIX) else PREFIX + name
    try:
        module = importlib.import_module(f"{PACKAGE}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{PACKAGE}.{module_name}":
            known = ", ".join(discover())
            raise BenchError(f"no benchmark {name!r} (known: {known})") from None
        raise
    reference = getattr(module, "REFERENCE", None)
    target = getattr(module, "TARGET_RATIO", None)
    factory = getattr(module, "cases", None)
    if not isinstance(reference, str):
        raise BenchError(f"{module.__name__}: REFERENCE must be a str")
    if not isinstance(target, int | float) or target <= 0:
        raise BenchError(f"{module.__name__}: TARGET_RATIO must be a positive number")
    if not callable(factory):
        raise BenchError(f"{module.__name__}: needs a cases() function")
    # A module whose cases() takes ``quick`` sizes its operations down for the smoke test.
    takes_quick = "quick" in inspect.signature(factory).parameters
    cases = factory(quick=quick) if takes_quick else factory()
    if not isinstance(cases, list) or not cases or not all(isinstance(c, Case) for c in cases):
        raise BenchError(f"{module.__name__}: cases() must return a non-empty list of Case")
    return module, reference, float(target), cases


def _time_loop(fn: Callable[[], object], iterations: int) -> float:
    # CPU time of this process, not wall time: these machines are shared, and wall time mostly
    # measures how long other processes held the two cores.  The benchmarks are single-threaded
    # and do no I/O, so CPU time is the work done.
    loop = range(iterations)
    clock = time.process_time
    start = clock()
    for _ in loop:
        fn()
    return clock() - start


def _time_self(fn: Callable[[], object], iterations: int) -> float:
    total = 0.0
    for _ in range(iterations):
        result = fn()
        if not isinstance(result, Timed):
            raise BenchError(f"a self-timed side returned {result!r}, not Timed")
        total += result.seconds
    return total


def _calibrate(
    fn: Callable[[], object], settings: Settings, timer: Callable[..., float] = _time_loop
) -> int:
    """The number of iterations that makes one loop last about ``settings.min_time``."""
    if settings.fixed_iterations is not None:
        return settings.fixed_iterations
    n = 1
    while n < settings.max_iterations:
        elapsed = timer(fn, n)
        if elapsed >= settings.min_time / 10:
            scaled = int(n * settings.min_time / max(elapsed, 1e-9))
            return max(1, min(settings.max_iterations, scaled))
        n *= 10
    return settings.max_iterations


def _check(case: Case, side: str, fn: Callable[[], object]) -> None:
    got = fn()
    if case.self_timed:
        if not isinstance(got, Timed):
            raise BenchError(f"{case.name}: {side} returned {got!r}, not Timed")
        got = got.value
    if got != case.expect:
        raise BenchError(f"{case.name}: {side} returned {got!r}, expected {case.expect!r}")


def measure(case: Case, settings: Settings) -> tuple[float, float, int]:
    """Median seconds per operation of (rtcstack, reference), and the iterations per loop.

    Both sides run the same number of iterations (calibrated on the slower one), alternating.
    """
    _check(case, "rtcstack", case.rtcstack)
    _check(case, "reference", case.reference)
    timer = _time_self if case.self_timed else _time_loop
    if case.max_iterations == 1 or case.unit != "s":
        iterations = 1  # nothing to calibrate (and a size is no duration to calibrate on)
    else:
        iterations = min(_calibrate(case.rtcstack, settings, timer),
                         _calibrate(case.reference, settings, timer))
    if case.max_iterations is not None:
        iterations = min(iterations, case.max_iterations)
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(settings.repeats):
        ours.append(timer(case.rtcstack, iterations) / iterations)
        theirs.append(timer(case.reference, iterations) / iterations)
    return statistics.median(ours), statistics.median(theirs), iterations


def run_module(name: str, settings: Settings = Settings()) -> list[Result]:
    """Measure every case of ``bench/bench_<name>.py``."""
    module, reference, module_target, cases = _load(
        name, quick=settings.fixed_iterations is not None)
    short = module.__name__.rsplit(".", 1)[-1][len(PREFIX) :]
    results = []
    for case in cases:
        ours, theirs, iterations = measure(case, settings)
        target = case.target if case.target is not None else module_target
        ratio = theirs / ours if ours > 0 else float("inf")
        results.append(
            Result(
                module=short,
                name=case.name,
                reference_name=case.reference_name or reference,
                rtcstack_s=ours,
                reference_s=theirs,
                ratio=ratio,
                target=target,
                met=ratio >= target,
                repeats=settings.repeats,
                iterations=iterations,
                unit=case.unit,
            )
        )
    return results


def run(names: Sequence[str] | None = None, settings: Settings = Settings()) -> list[Result]:
    """Measure the named benchmarks (all of them when ``names`` is empty or ``None``)."""
    results: list[Result] = []
    for name in names or discover():
        results.extend(run_module(name, settings))
    return results


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} µs"


def _figure(value: float, unit: str) -> str:
    if unit == "B":
        return f"{value / 1024:.1f} KiB" if abs(value) < 1024 * 1024 else \
            f"{value / (1024 * 1024):.2f} MiB"
    return _us(value)


def format_table(results: Sequence[Result]) -> str:
    """One row per case: rtcstack time, reference time, ratio, and the target verdict."""
    header = ("benchmark", "rtcstack", "reference", "ratio", "target")
    rows = [
        (
            f"{r.module}: {r.name}",
            _figure(r.rtcstack_s, r.unit),
            f"{_figure(r.reference_s, r.unit)} ({r.reference_name})",
            f"{r.ratio:.2f}x",
            f">= {r.target:g}x {'met' if r.met else 'NOT met'}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        numbers = [c.rjust(w) for c, w in zip(row[1:4], widths[1:4], strict=True)]
        cells = [row[0].ljust(widths[0]), *numbers]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    lines.append("ratio = reference time / rtcstack time (> 1: rtcstack is faster; for sizes, "
                 "reference / rtcstack: > 1 means rtcstack uses less); median of "
                 f"{results[0].repeats if results else 0} repeats")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """``python -m bench [NAME ...] [--quick] [--json] [--repeats N] [--min-time S]``."""
    stream = out if out is not None else sys.stdout
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="rtcstack side-by-side benchmarks"
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="a few iterations (smoke test)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--repeats", type=int, default=None, help="timed loops per side")
    parser.add_argument("--min-time", type=float, default=None, help="seconds per timed loop")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(discover()), file=stream)
        return 0
    settings = QUICK if args.quick else Settings()
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error("--repeats must be at least 1")
        settings = replace(settings, repeats=args.repeats)
    if args.min_time is not None:
        settings = replace(settings, min_time=args.min_time, fixed_iterations=None)
    try:
        results = run(args.names, settings)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    if args.json:
        payload: dict[str, Any] = {
            "settings": asdict(settings),
            "python": sys.version.split()[0],
            "results": [asdict(r) for r in results],
        }
        print(json.dumps(payload, indent=2), file=stream)
    else:
        print(format_table(results), file=stream)
    return 0
