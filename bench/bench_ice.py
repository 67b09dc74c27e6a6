"""ICE connection setup: from the candidate exchange to a nominated pair on both sides.

The issue #6 target: "time from the first candidate exchange to a nominated pair for two
in-process agents over loopback UDP, side by side with aioice.  Target: at most a quarter of
aioice's time" -- a ratio of at least 4.

rtcstack: two :class:`~rtcstack.asyncio.ice.IceTransport` (one controlling, one controlled) with
a host candidate on 127.0.0.1 each, gathered before the clock starts.  The clock starts when
the credentials and candidates are handed over (``set_remote_credentials``,
``add_remote_candidate`` for each candidate, then end-of-candidates) and stops when
``connect()`` of both has returned a selected (nominated) pair.

aioice: two ``aioice.Connection(ice_controlling=..., components=1, use_ipv6=False)``, gathered
before the clock starts with aioice's host-address function patched to offer 127.0.0.1 (it
skips loopback otherwise); the clock covers ``remote_username``/``remote_password``,
``add_remote_candidate`` for each candidate and end-of-candidates, and
``asyncio.gather(a.connect(), b.connect())`` -- aioice's ``connect()`` returns when the pair is
nominated on that side.

Rows (each side's value: the selected pair's candidate types seen by the controlling agent and
whether both agents selected the same two addresses):

- loopback, **wall time**: what the issue's target is about.  Measured on a shared 2-core
  machine, so other processes add noise to both sides alike.
- loopback, **CPU time** of the process over the same interval (both agents, the event loop and
  the sockets): the work done, independent of timers and of the machine's load.
- **sans-IO**: two :class:`~rtcstack.ice.IceAgent` wired in memory (no sockets, no event loop,
  datagrams handed over at once, the virtual clock jumping to the next ``poll_timeout``), CPU
  time from the exchange to both selected.  aioice has no sans-IO core, so its reference figure
  is its CPU time over loopback (the previous row's): the comparison favours rtcstack, and the
  row shows how much of rtcstack's own loopback figure is the agent and how much is asyncio.

Each operation runs in a fresh event loop (``asyncio.run``); loop creation, gathering and
closing stay off the clock.  ``python -m bench ice`` prints the harness table (median of
per-loop means); ``python -m bench.bench_ice [-n N]`` runs N single setups per side,
alternating, and prints the median and the minimum of each.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any

import aioice
import aioice.ice

from bench.harness import Case, Result, Timed, format_table
from rtcstack.asyncio.ice import IceTransport
from rtcstack.common.types import Address
from rtcstack.ice.agent import CandidateGathered, IceAgent
from rtcstack.ice.candidate import Candidate

REFERENCE = f"aioice {version('aioice')}"
TARGET_RATIO = 4.0

LOOPBACK = "127.0.0.1"
#: (local type, remote type) of the controlling agent's selected pair, and both sides agree.
Outcome = tuple[str, str, bool]
EXPECT: Outcome = ("host", "host", True)
#: One setup: (wall seconds, CPU seconds, outcome).
Sample = tuple[float, float, Outcome]


# --- rtcstack over loopback UDP ---------------------------------------------------------------


async def _rtcstack_setup() -> Sample:
    a = IceTransport(controlling=True, addresses=[LOOPBACK])
    b = IceTransport(controlling=False, addresses=[LOOPBACK])
    try:
        await a.gather()
        await b.gather()
        a_candidates = await a.gathering_complete(timeout=5)
        b_candidates = await b.gathering_complete(timeout=5)
        wall, cpu = time.perf_counter(), time.process_time()
        a.set_remote_credentials(*b.local_credentials)
        b.set_remote_credentials(*a.local_credentials)
        for candidate in b_candidates:
            await a.add_remote_candidate(candidate)
        await a.add_remote_candidate(None)
        for candidate in a_candidates:
            await b.add_remote_candidate(candidate)
        await b.add_remote_candidate(None)
        pa, pb = await asyncio.gather(a.connect(timeout=10), b.connect(timeout=10))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await a.close()
        await b.close()
    same = pa.local.addr == pb.remote.addr and pa.remote.addr == pb.local.addr
    return wall, cpu, (pa.local.type.value, pa.remote.type.value, same)


# --- aioice over loopback UDP -----------------------------------------------------------------


@contextmanager
def _aioice_offers_loopback() -> Iterator[None]:
    """aioice's ``get_host_addresses`` leaves 127.0.0.1 out: offer it (and only it)."""
    original = aioice.ice.get_host_addresses

    def loopback_only(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [LOOPBACK]

    aioice.ice.get_host_addresses = loopback_only
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


async def _aioice_setup() -> Sample:
    a = aioice.Connection(ice_controlling=True, components=1, use_ipv6=False)
    b = aioice.Connection(ice_controlling=False, components=1, use_ipv6=False)
    try:
        with _aioice_offers_loopback():
            await a.gather_candidates()
            await b.gather_candidates()
        wall, cpu = time.perf_counter(), time.process_time()
        a.remote_username, a.remote_password = b.local_username, b.local_password
        b.remote_username, b.remote_password = a.local_username, a.local_password
        for candidate in b.local_candidates:
            await a.add_remote_candidate(candidate)
        await a.add_remote_candidate(None)
        for candidate in a.local_candidates:
            await b.add_remote_candidate(candidate)
        await b.add_remote_candidate(None)
        await asyncio.wait_for(asyncio.gather(a.connect(), b.connect()), 10)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        pa: Any = a._nominated[1]  # aioice keeps the nominated pair per component here
        pb: Any = b._nominated[1]
    finally:
        await a.close()
        await b.close()
    same = (pa.local_addr == pb.remote_addr) and (pa.remote_addr == pb.local_addr)
    return wall, cpu, (pa.local_candidate.type, pa.remote_candidate.type, same)


# --- rtcstack sans-IO, in memory --------------------------------------------------------------


def _sansio_setup() -> Sample:
    """Two agents, datagrams handed over in memory, a virtual clock: CPU per setup."""
    addr_a: Address = (LOOPBACK, 40001)
    addr_b: Address = (LOOPBACK, 40002)
    a, b = IceAgent(controlling=True), IceAgent(controlling=False)
    a.add_host_address(addr_a)
    b.add_host_address(addr_b)
    a.gather(now=0.0)
    b.gather(now=0.0)
    gathered: dict[int, list[Candidate]] = {id(a): [], id(b): []}
    for agent in (a, b):
        while (event := agent.poll_event()) is not None:
            if isinstance(event, CandidateGathered):
                gathered[id(agent)].append(event.candidate)
    by_addr = {addr_a: a, addr_b: b}
    now = 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    a.set_remote_credentials(*b.local_credentials)
    b.set_remote_credentials(*a.local_credentials)
    for candidate in gathered[id(b)]:
        a.add_remote_candidate(candidate, now=now)
    a.add_remote_candidate(None, now=now)
    for candidate in gathered[id(a)]:
        b.add_remote_candidate(candidate, now=now)
    b.add_remote_candidate(None, now=now)
    for _ in range(10_000):
        if a.selected_pair is not None and b.selected_pair is not None:
            break
        moved = False
        for agent in (a, b):
            while (tx := agent.poll_transmit()) is not None:
                if tx.source is None:
                    raise RuntimeError(f"transmit without a source: {tx}")
                by_addr[tx.addr].handle_datagram(tx.data, tx.source, local=tx.addr, now=now)
                moved = True
            while agent.poll_event() is not None:
                pass
        if not moved:
            deadlines = [t for t in (a.poll_timeout(), b.poll_timeout()) if t is not None]
            if not deadlines:
                raise RuntimeError("the sans-IO agents stalled before selecting a pair")
            now = max(now, min(deadlines))
            for agent in (a, b):
                deadline = agent.poll_timeout()
                if deadline is not None and deadline <= now:
                    agent.handle_timeout(now)
    else:
        raise RuntimeError("the sans-IO agents did not select a pair")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    pa, pb = a.selected_pair, b.selected_pair
    if pa is None or pb is None:  # pragma: no cover - the loop above checked
        raise RuntimeError("no selected pair")
    same = pa.local.addr == pb.remote.addr and pa.remote.addr == pb.local.addr
    return wall, cpu, (pa.local.type.value, pa.remote.type.value, same)


# --- rows ---------------------------------------------------------------------------------------


def _rtcstack_loopback() -> Sample:
    return asyncio.run(_rtcstack_setup())


def _aioice_loopback() -> Sample:
    return asyncio.run(_aioice_setup())


def _wall(run: Callable[[], Sample]) -> Callable[[], Timed]:
    def timed() -> Timed:
        wall, _, outcome = run()
        return Timed(outcome, wall)

    return timed


def _cpu(run: Callable[[], Sample]) -> Callable[[], Timed]:
    def timed() -> Timed:
        _, cpu, outcome = run()
        return Timed(outcome, cpu)

    return timed


ROWS: list[tuple[str, Callable[[], Sample], Callable[[], Sample], int, str | None]] = [
    # (name, rtcstack, reference, 0 = wall / 1 = CPU, reference name override)
    ("loopback UDP: candidate exchange -> both nominated, wall time",
     _rtcstack_loopback, _aioice_loopback, 0, None),
    ("loopback UDP: candidate exchange -> both nominated, CPU time",
     _rtcstack_loopback, _aioice_loopback, 1, None),
    ("sans-IO agents in memory: exchange -> both nominated, CPU time",
     _sansio_setup, _aioice_loopback, 1, f"{REFERENCE} over loopback, CPU"),
]


def cases() -> list[Case]:
    return [
        Case(name, (_cpu if cpu else _wall)(ours), (_cpu if cpu else _wall)(theirs),
             expect=EXPECT, reference_name=ref_name, self_timed=True)
        for name, ours, theirs, cpu, ref_name in ROWS
    ]


# --- median and minimum of single setups ------------------------------------------------------


def detail(samples: int) -> tuple[list[Result], list[Result]]:
    """``samples`` single setups per side and row, alternating: (medians, minimums)."""
    medians: list[Result] = []
    minimums: list[Result] = []
    for name, ours_fn, theirs_fn, index, ref_name in ROWS:
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(samples):
            for fn, into in ((ours_fn, ours), (theirs_fn, theirs)):
                sample = fn()
                if sample[2] != EXPECT:
                    raise RuntimeError(f"{name}: got {sample[2]!r}, expected {EXPECT!r}")
                into.append(sample[1] if index else sample[0])
        for out, pick in ((medians, statistics.median), (minimums, min)):
            o, t = pick(ours), pick(theirs)
            ratio = t / o if o > 0 else float("inf")
            out.append(Result("ice", name, ref_name or REFERENCE, o, t, ratio, TARGET_RATIO,
                              ratio >= TARGET_RATIO, samples, 1))
    return medians, minimums


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_ice",
                                     description="ICE connection setup, median and minimum")
    parser.add_argument("-n", "--samples", type=int, default=30, help="setups per side and row")
    args = parser.parse_args(argv)
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    medians, minimums = detail(args.samples)
    print(format_table(medians).replace("median of", "median of single setups,"))
    print()
    table = format_table(minimums).splitlines()
    table[-1] = f"minimum of {args.samples} single setups per side"
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
