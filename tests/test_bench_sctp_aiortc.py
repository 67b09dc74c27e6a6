"""The aiortc side of the SCTP data-channel benchmark runs and delivers everything (loopback only).

No timing is asserted (bench/README.md): only that B received every byte / message, and that
aioice's host-address lookup is restored afterwards.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is a top-level package of the checkout, not installed
    sys.path.insert(0, str(ROOT))

pytest.importorskip("aiortc", reason="the SCTP benchmark's reference: pip install aiortc")

import aioice.ice  # noqa: E402

from bench import sctp_aiortc  # noqa: E402


def _no_other_tasks() -> list[asyncio.Task[object]]:
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not current]


def test_bulk_delivers_every_byte() -> None:
    original = aioice.ice.get_host_addresses

    async def run() -> tuple[tuple[float, float, int], list[asyncio.Task[object]]]:
        result = await sctp_aiortc.aiortc_bulk(1024 * 1024, 16 * 1024, timeout=30)
        return result, _no_other_tasks()

    (wall, cpu, received), leftover = asyncio.run(run())
    assert received == 1024 * 1024
    assert wall > 0 and cpu > 0
    assert leftover == []
    assert aioice.ice.get_host_addresses is original


def test_bulk_with_a_short_last_message() -> None:
    wall, _, received = asyncio.run(sctp_aiortc.aiortc_bulk(100_000, 16 * 1024, timeout=30))
    assert received == 100_000
    assert wall > 0


def test_small_delivers_every_message() -> None:
    original = aioice.ice.get_host_addresses

    async def run() -> tuple[tuple[float, float, int], list[asyncio.Task[object]]]:
        result = await sctp_aiortc.aiortc_small(200, timeout=30)
        return result, _no_other_tasks()

    (wall, cpu, messages), leftover = asyncio.run(run())
    assert messages == 200
    assert wall > 0 and cpu > 0
    assert leftover == []
    assert aioice.ice.get_host_addresses is original


def test_pair_offers_loopback_only_and_restores_the_lookup() -> None:
    original = aioice.ice.get_host_addresses

    async def run() -> list[str]:
        pair = await sctp_aiortc.aiortc_pair(timeout=30)
        try:
            assert pair.channel_a.readyState == "open"
            assert pair.channel_b.readyState == "open"
            assert pair.channel_a.ordered and pair.channel_b.ordered
            assert pair.channel_a.maxRetransmits is None
            assert pair.channel_a.maxPacketLifeTime is None
            description = pair.a.localDescription
            assert description is not None
            return [line for line in description.sdp.splitlines()
                    if line.startswith("a=candidate:")]
        finally:
            await pair.close()

    candidates = asyncio.run(run())
    assert candidates
    assert all(" 127.0.0.1 " in line for line in candidates), candidates
    assert aioice.ice.get_host_addresses is original


def test_message_size_is_checked() -> None:
    with pytest.raises(ValueError):
        asyncio.run(sctp_aiortc.aiortc_bulk(1024, sctp_aiortc.MAX_MESSAGE_SIZE + 1))


def test_a_transfer_that_overruns_its_limit_raises_and_cleans_up() -> None:
    original = aioice.ice.get_host_addresses

    async def run() -> list[asyncio.Task[object]]:
        with pytest.raises(sctp_aiortc.AiortcBenchTimeout, match="B received"):
            await sctp_aiortc.aiortc_bulk(64 * 1024 * 1024, 16 * 1024, timeout=0.3)
        return _no_other_tasks()

    assert asyncio.run(run()) == []
    assert aioice.ice.get_host_addresses is original
