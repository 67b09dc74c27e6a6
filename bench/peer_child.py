"""The child-process probes of the peer-connection benchmark (issue #8), one stack per process.

``python -m bench.peer_child memory STACK N`` -- STACK is ``rtcstack`` or ``aiortc``: one
connected pair is set up and kept open first (it pays for imports, first-use caches and the
event loop), then ``N`` more; the RSS growth over those ``N``, divided by ``N``, is the memory
of one connected pair.  ``--tracemalloc`` measures the Python heap (``tracemalloc``) instead of
the RSS (tracing costs memory of its own, so the two are never measured in one run).

``python -m bench.peer_child import STACK`` -- the data-channel-only path in a fresh
interpreter: import the stack's peer connection (``rtcstack.asyncio.peer`` /
``aiortc``), create an ``RTCPeerConnection`` with one data channel and make an offer; the wall
time and the RSS growth from before the import to after the offer, and which codec libraries
(``av``, ``numpy``, ``opuslib``) ended up in ``sys.modules``.  rtcstack must load none: the
probe fails if it does.

Each prints one JSON object on its last line of output.  This module imports nothing at module
level beyond the standard library's lightest modules, so that the import probe measures the
whole cost of the stack (``asyncio`` included).  :func:`child_env` is the environment the
parent runs it with: bytecode is written to a cache outside the checkout
(``PYTHONPYCACHEPREFIX``), so that both stacks import from bytecode once warm, whatever
``PYTHONDONTWRITEBYTECODE`` says (site-packages, where aiortc lives, ships bytecode; a checkout
run with ``PYTHONDONTWRITEBYTECODE=1`` would compile rtcstack on every start).
"""

from __future__ import annotations

import json
import os
import sys
import time

__all__ = ["CODEC_LIBRARIES", "STACKS", "child_env", "import_probe", "main", "memory_probe",
           "rss_bytes"]

STACKS = ("rtcstack", "aiortc")
CODEC_LIBRARIES = ("av", "numpy", "opuslib")
#: seconds to let the last pair's in-flight work (acks, timers) settle before measuring
SETTLE = 0.2


def rss_bytes() -> int:
    """This process's resident set size now (Linux ``/proc``; elsewhere the peak, from
    ``getrusage``)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def child_env() -> dict[str, str]:
    """The environment for a child: bytecode cached outside the checkout, for both stacks."""
    import tempfile

    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "rtcstack-bench-pycache")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _codecs_loaded() -> list[str]:
    return [name for name in CODEC_LIBRARIES if name in sys.modules]


# --- memory per connected pair ------------------------------------------------------------------


def memory_probe(stack: str, pairs: int, use_tracemalloc: bool = False) -> dict[str, object]:
    """Set up 1 + ``pairs`` connected pairs, keep them open, measure the growth per pair."""
    import asyncio
    import gc

    async def run() -> dict[str, object]:
        from collections.abc import Awaitable, Callable
        from typing import Any

        make: Callable[[], Awaitable[tuple[Any, float, float]]]
        if stack == "rtcstack":
            from bench.peer_rtcstack import EXPECT as expect
            from bench.peer_rtcstack import rtcstack_pair as make
        else:
            from bench.peer_aiortc import EXPECT as expect
            from bench.peer_aiortc import aiortc_pair as make
        held = [(await make())[0]]  # the first pair pays for imports and first-use caches
        try:
            await asyncio.sleep(SETTLE)
            gc.collect()
            if use_tracemalloc:
                import tracemalloc

                tracemalloc.start()
                before = tracemalloc.get_traced_memory()[0]
            else:
                before = rss_bytes()
            for _ in range(pairs):
                held.append((await make())[0])
            await asyncio.sleep(SETTLE)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0] if use_tracemalloc else rss_bytes()
            outcomes = sorted({pair.outcome() for pair in held})
            if outcomes != [expect]:
                raise RuntimeError(f"{stack}: pairs ended as {outcomes}, not {expect}")
        finally:
            for pair in held:
                await pair.close()
        return {"stack": stack, "pairs": pairs, "measure": "tracemalloc" if use_tracemalloc
                else "rss", "before": before, "after": after,
                "per_pair": (after - before) / pairs, "codecs": _codecs_loaded()}

    return asyncio.run(run())


# --- import + a data-channel-only peer connection -----------------------------------------------


def import_probe(stack: str) -> dict[str, object]:
    """Import the stack, create a data-channel-only peer connection and an offer."""
    rss0, t0 = rss_bytes(), time.perf_counter()
    if stack == "rtcstack":
        import asyncio

        from rtcstack.asyncio.peer import RTCPeerConnection

        async def offer() -> str:
            pc = RTCPeerConnection()
            pc.createDataChannel("chat")
            sdp = (await pc.createOffer()).sdp
            seconds[0] = time.perf_counter() - t0
            await pc.close()
            return sdp
    else:
        import asyncio

        from aiortc import RTCPeerConnection as AiortcPeerConnection

        async def offer() -> str:
            pc = AiortcPeerConnection()
            pc.createDataChannel("chat")
            sdp = (await pc.createOffer()).sdp
            seconds[0] = time.perf_counter() - t0
            await pc.close()
            return sdp

    seconds = [0.0]
    sdp = asyncio.run(offer())
    rss1 = rss_bytes()
    if "m=application" not in sdp:
        raise RuntimeError(f"{stack}: the offer has no data-channel section")
    codecs = _codecs_loaded()
    if stack == "rtcstack" and codecs:
        raise RuntimeError(f"rtcstack's data-channel-only path imported {codecs}")
    return {"stack": stack, "seconds": seconds[0], "rss": rss1 - rss0, "codecs": codecs,
            "modules": len(sys.modules)}


USAGE = "usage: python -m bench.peer_child {memory STACK [PAIRS] [--tracemalloc] | import STACK}"


def main(argv: list[str] | None = None) -> int:
    # No argparse: the import probe measures what the stack imports, and argparse would
    # load re, gettext and more before it starts.
    args = list(sys.argv[1:] if argv is None else argv)
    use_tracemalloc = "--tracemalloc" in args
    args = [a for a in args if a != "--tracemalloc"]
    if len(args) < 2 or args[1] not in STACKS or not (
            (args[0] == "memory" and len(args) <= 3) or (args[0] == "import" and len(args) == 2)):
        print(USAGE, file=sys.stderr)
        return 2
    if args[0] == "memory":
        result = memory_probe(args[1], int(args[2]) if len(args) == 3 else 20, use_tracemalloc)
    else:
        result = import_probe(args[1])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
