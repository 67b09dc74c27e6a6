"""Peer connection: setup time, memory per connected pair, import cost; rtcstack vs aiortc.

The issue #8 targets, for two in-process peers over loopback UDP (127.0.0.1): connection setup
(``createOffer`` until both are connected and the data channel is open) in at most a quarter of
aiortc's time (ratio >= 4), and at most half of aiortc's memory per connected pair (ratio >= 2).

Rows:

- **setup, wall time** -- one pair (:mod:`bench.peer_rtcstack`, :mod:`bench.peer_aiortc`: the
  same work on both sides): A has one data channel and an audio and a video transceiver
  (``recvonly``, no track, so no codec runs) before the clock starts; on the clock, the whole
  offer/answer with full SDPs (every candidate in the description: aiortc does not trickle, so
  rtcstack waits for its gathering to complete before handing a description over), until both
  ``connectionState`` are ``"connected"``, A's channel is open and B has it open.  Creating the
  ``RTCPeerConnection`` objects (certificate generation) and closing them are off the clock.
  Each stack uses its default bundle policy ("balanced"; aiortc's offerer gathers three ICE
  transports, one per kind, and the answer bundles them).  Median of per-loop means; ``python -m
  bench.bench_peer`` prints the median and minimum of single setups.
- **setup, CPU time** of the event-loop thread (``time.thread_time``) over the same interval:
  the work both peers did.  Thread time, not process time: rtcstack's media transceivers load
  numpy, whose OpenBLAS threads burn CPU of their own that is no work of either stack.
- **memory per connected pair** -- in a fresh child process per stack and sample
  (:mod:`bench.peer_child`), one pair is set up and kept open first (imports, caches), then
  ``N`` more; the RSS growth divided by ``N`` (``python -m bench.bench_peer`` also prints the
  Python heap per pair, from ``tracemalloc``).
- **import + data-channel-only peer**, wall time and RSS growth in a fresh interpreter:
  ``import rtcstack.asyncio.peer`` / ``import aiortc``, an ``RTCPeerConnection`` with one data
  channel and ``createOffer``.  The rtcstack child fails if ``av``, ``numpy`` or ``opuslib`` got
  imported (aiortc imports ``av``).  Children write bytecode to a cache outside the checkout so
  that both stacks import from bytecode once warm.  No target in the issue: >= 1x is the aim.

A media throughput row (RTP send path) is not here: aiortc has no send path without its
encoder task and transport (``RTCRtpSender._run_rtp`` pulls frames from a track, encodes and
sends in one coroutine), so a fair packets/s comparison would time a re-assembly of aiortc's
internals rather than aiortc; ``bench_rtp``, ``bench_srtp`` and ``bench_depacketize`` already
compare the pieces.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.harness import BenchError, Case, Timed
from bench.peer_aiortc import REFERENCE, aiortc_setup
from bench.peer_child import child_env
from bench.peer_rtcstack import EXPECT, Outcome, rtcstack_setup

__all__ = ["REFERENCE", "TARGET_RATIO", "cases", "child", "main"]

TARGET_RATIO = 4.0
MEMORY_TARGET = 2.0
IMPORT_TARGET = 1.0
PAIRS = 20
QUICK_PAIRS = 5
ROOT = Path(__file__).resolve().parents[1]
CHILD_TIMEOUT = 300.0

Sample = tuple[float, float, Outcome]


def _setup(run: Callable[[], Any], cpu: bool) -> Callable[[], Timed]:
    def timed() -> Timed:
        wall, thread, outcome = asyncio.run(run())
        return Timed(outcome, thread if cpu else wall)

    return timed


def child(*args: str) -> dict[str, Any]:
    """Run ``python -m bench.peer_child ARGS`` in a fresh interpreter; its JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.peer_child", *args], capture_output=True, text=True,
        timeout=CHILD_TIMEOUT, check=False, cwd=ROOT, env=child_env())
    if done.returncode != 0:
        raise BenchError(f"peer_child {' '.join(args)} failed ({done.returncode}):\n"
                         f"{done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _memory(stack: str, pairs: int) -> Callable[[], Timed]:
    def measured() -> Timed:
        result = child("memory", stack, str(pairs))
        return Timed(result["pairs"], float(result["per_pair"]))

    return measured


def _import(stack: str, key: str) -> Callable[[], Timed]:
    def measured() -> Timed:
        result = child("import", stack)
        return Timed("offer with a data channel", float(result[key]))

    return measured


def cases(quick: bool = False) -> list[Case]:
    pairs = QUICK_PAIRS if quick else PAIRS
    setup = "setup: offer -> connected + channel open (channel, audio, video)"
    dc_only = "import + data-channel-only RTCPeerConnection + offer (no codec lib loaded)"
    return [
        Case(f"{setup}, wall", _setup(rtcstack_setup, False), _setup(aiortc_setup, False),
             expect=EXPECT, self_timed=True),
        Case(f"{setup}, CPU", _setup(rtcstack_setup, True), _setup(aiortc_setup, True),
             expect=EXPECT, self_timed=True),
        Case(f"memory: RSS per connected pair ({pairs} pairs held open)",
             _memory("rtcstack", pairs), _memory("aiortc", pairs), expect=pairs,
             target=MEMORY_TARGET, self_timed=True, max_iterations=1, unit="B"),
        Case(f"{dc_only}, wall", _import("rtcstack", "seconds"), _import("aiortc", "seconds"),
             expect="offer with a data channel", target=IMPORT_TARGET, self_timed=True,
             max_iterations=1),
        Case(f"{dc_only}, RSS", _import("rtcstack", "rss"), _import("aiortc", "rss"),
             expect="offer with a data channel", target=IMPORT_TARGET, self_timed=True,
             max_iterations=1, unit="B"),
    ]


# --- python -m bench.bench_peer -------------------------------------------------------------------


def _ms(values: Sequence[float]) -> str:
    return (f"median {statistics.median(values) * 1e3:7.2f} ms, "
            f"min {min(values) * 1e3:7.2f} ms")


def main(argv: Sequence[str] | None = None) -> int:
    """Single setups (median and minimum), memory (RSS and Python heap), import cost."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_peer", description=__doc__)
    parser.add_argument("-n", type=int, default=30, help="setups per side (30)")
    parser.add_argument("--pairs", type=int, default=PAIRS, help=f"pairs held open ({PAIRS})")
    args = parser.parse_args(argv)
    sides: dict[str, Callable[[], Any]] = {"rtcstack": rtcstack_setup, REFERENCE: aiortc_setup}
    samples: dict[str, list[Sample]] = {name: [] for name in sides}
    for _ in range(args.n):  # alternating, so that machine noise hits both alike
        for name, run in sides.items():
            samples[name].append(asyncio.run(run()))
    print(f"setup: offer -> connected + channel open, {args.n} setups per side")
    medians = {}
    for name, got in samples.items():
        if any(outcome != EXPECT for _, _, outcome in got):
            raise BenchError(f"{name}: a setup ended as {[s[2] for s in got]}")
        walls = [wall for wall, _, _ in got]
        medians[name] = statistics.median(walls)
        print(f"  {name:12} wall {_ms(walls)};  CPU {_ms([cpu for _, cpu, _ in got])}")
    print(f"  ratio (median wall) {medians[REFERENCE] / medians['rtcstack']:.2f}x "
          f"(target >= {TARGET_RATIO:g}x)")
    print(f"memory per connected pair ({args.pairs} pairs held open, fresh process per stack)")
    per_pair: dict[str, dict[str, float]] = {}
    for stack in ("rtcstack", "aiortc"):
        rss = child("memory", stack, str(args.pairs))
        heap = child("memory", stack, str(args.pairs), "--tracemalloc")
        per_pair[stack] = {"rss": rss["per_pair"], "heap": heap["per_pair"]}
        print(f"  {stack:12} RSS {rss['per_pair'] / 1024:7.1f} KiB, Python heap "
              f"{heap['per_pair'] / 1024:7.1f} KiB (codec libraries loaded: {rss['codecs']})")
    for what in ("rss", "heap"):
        ratio = per_pair["aiortc"][what] / per_pair["rtcstack"][what]
        print(f"  ratio ({what}) {ratio:.2f}x (target >= {MEMORY_TARGET:g}x)")
    print("import + data-channel-only RTCPeerConnection + createOffer, fresh interpreter")
    for stack in ("rtcstack", "aiortc"):
        child("import", stack)  # warm the bytecode cache
        runs = [child("import", stack) for _ in range(5)]
        print(f"  {stack:12} wall {_ms([r['seconds'] for r in runs])}; RSS "
              f"{statistics.median(r['rss'] for r in runs) / 2**20:.1f} MiB; modules "
              f"{runs[0]['modules']}; codec libraries loaded: {runs[0]['codecs']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
