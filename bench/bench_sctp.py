"""Data channels: bulk transfer and small-message rate, rtcstack vs aiortc, over loopback.

The issue #7 targets, "between two in-process endpoints over loopback UDP with DTLS, side by
side with two aiortc peers in the same run": bulk (64 MiB in 16 KiB messages, reliable
ordered) at least 4x aiortc, and 100-byte messages at least 5x aiortc.

rtcstack: a DTLS client and server (:func:`~rtcstack.asyncio.dtls.connect_dtls` /
:func:`~rtcstack.asyncio.dtls.accept_dtls` with ``batched=True``) on 127.0.0.1 with an
:class:`~rtcstack.asyncio.sctp.SctpTransport` each and one in-band reliable ordered channel.
aiortc: two ``RTCPeerConnection`` on 127.0.0.1 with one in-band channel
(:mod:`bench.sctp_aiortc`).  Both sides are set up (handshakes, channel open) off the clock.
On the clock: A sends with back-pressure (at most about 1 MiB queued, refilled below 256 KiB,
the same rule on both sides) until B has received every message; B keeps a running CRC of
what it received in order, checked against what A sent, so a lost, duplicated or reordered
message fails the row instead of speeding it up.

Rows: wall time of the transfer (what the targets are about) and the process's CPU time over
the same interval (both peers run in this one process, so it is the total work), for the bulk
transfer and for the small messages.  Each operation runs in a fresh event loop.

``python -m bench sctp`` prints the table; ``python -m bench.bench_sctp`` prints one transfer
per side with MB/s, messages/s and CPU seconds per MB.
"""

from __future__ import annotations

import asyncio
import sys
import time
import zlib
from collections.abc import Callable

from bench.harness import Case, Timed
from bench.sctp_aiortc import HIGH_WATER, LOW_WATER, REFERENCE, aiortc_bulk, aiortc_small
from bench.sctp_aiortc import _plan as plan_messages
from rtcstack.asyncio.dtls import accept_dtls, connect_dtls
from rtcstack.asyncio.sctp import SctpTransport
from rtcstack.dtls import Certificate, DtlsConfig

__all__ = ["REFERENCE", "TARGET_RATIO", "cases", "rtcstack_bulk", "rtcstack_small"]

TARGET_RATIO = 4.0
SMALL_TARGET = 5.0
MIB = 1024 * 1024
BULK = (64 * MIB, 16 * 1024)
SMALL = (20000, 100)
QUICK_BULK = (1 * MIB, 16 * 1024)
QUICK_SMALL = (500, 100)
LOOPBACK = "127.0.0.1"
TIMEOUT = 120.0

_CERTIFICATES: list[Certificate] = []


def _certificates() -> tuple[Certificate, Certificate]:
    while len(_CERTIFICATES) < 2:  # generated once: key generation is not what is measured
        _CERTIFICATES.append(Certificate.generate())
    return _CERTIFICATES[0], _CERTIFICATES[1]


async def _transfer(total_bytes: int, message_size: int) -> tuple[float, float, int, int]:
    """(wall s, CPU s, bytes received, messages received), checked against what was sent."""
    pool, full, crc, tail = plan_messages(total_bytes, message_size)
    messages = [pool[i % len(pool)] for i in range(full)] + ([tail] if tail else [])
    ca, cb = _certificates()
    server = await accept_dtls(DtlsConfig(cb, [("sha-256", ca.fingerprint())]),
                               (LOOPBACK, 0), batched=True)
    client = await connect_dtls(DtlsConfig(ca, [("sha-256", cb.fingerprint())]),
                                server.local_address, batched=True)
    a = b = None
    try:
        await asyncio.wait_for(asyncio.gather(client.handshake(), server.handshake()), 10)
        a, b = SctpTransport(client), SctpTransport(server)
        await asyncio.gather(a.start(), b.start())
        channel = a.create_channel("bench")
        await channel.wait_open()
        peer = await asyncio.wait_for(b.accept_channel(), 10)
        done = asyncio.get_running_loop().create_future()
        got = [0, 0, 0]  # bytes, messages, crc

        def on_message(message: bytes | str) -> None:
            data = message if isinstance(message, bytes) else message.encode()
            got[0] += len(data)
            got[1] += 1
            got[2] = zlib.crc32(data, got[2])
            if got[1] == len(messages) and not done.done():
                done.set_result(None)

        peer.on_message = on_message
        wall, cpu = time.perf_counter(), time.process_time()
        for message in messages:
            if channel.buffered_amount + len(message) > HIGH_WATER:
                await channel.drain(LOW_WATER)
            channel.send(message)
        await asyncio.wait_for(done, TIMEOUT)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        if a is not None and b is not None:
            await asyncio.gather(a.close(), b.close())
        client.close()
        server.close()
    if (got[0], got[1], got[2]) != (total_bytes, len(messages), crc):
        raise RuntimeError(f"B received {got[1]} messages, {got[0]} bytes, CRC {got[2]:#x}; "
                           f"A sent {len(messages)}, {total_bytes}, {crc:#x}")
    return wall, cpu, got[0], got[1]


async def rtcstack_bulk(total_bytes: int, message_size: int) -> tuple[float, float, int]:
    wall, cpu, received, _ = await _transfer(total_bytes, message_size)
    return wall, cpu, received


async def rtcstack_small(count: int, size: int = 100) -> tuple[float, float, int]:
    wall, cpu, _, messages = await _transfer(count * size, size)
    return wall, cpu, messages


Run = Callable[[], tuple[float, float, int]]


def _row(run: Run, index: int) -> Callable[[], Timed]:
    def timed() -> Timed:
        sample = run()
        return Timed(sample[2], sample[index])

    return timed


def cases(quick: bool = False) -> list[Case]:
    total, size = QUICK_BULK if quick else BULK
    count, small = QUICK_SMALL if quick else SMALL
    bulk_name = f"{total // MIB} MiB in {size // 1024} KiB messages"
    small_name = f"{count} messages of {small} B"

    def ours_bulk() -> tuple[float, float, int]:
        return asyncio.run(rtcstack_bulk(total, size))

    def theirs_bulk() -> tuple[float, float, int]:
        return asyncio.run(aiortc_bulk(total, size))

    def ours_small() -> tuple[float, float, int]:
        return asyncio.run(rtcstack_small(count, small))

    def theirs_small() -> tuple[float, float, int]:
        return asyncio.run(aiortc_small(count, small))

    rows = [
        (f"bulk {bulk_name}, wall time", ours_bulk, theirs_bulk, 0, total, TARGET_RATIO),
        (f"bulk {bulk_name}, CPU time", ours_bulk, theirs_bulk, 1, total, TARGET_RATIO),
        (f"{small_name}, wall time", ours_small, theirs_small, 0, count, SMALL_TARGET),
        (f"{small_name}, CPU time", ours_small, theirs_small, 1, count, SMALL_TARGET),
    ]
    return [Case(name, _row(ours, index), _row(theirs, index), expect=expect, target=target,
                 self_timed=True, max_iterations=1)
            for name, ours, theirs, index, expect, target in rows]


def _report(label: str, nbytes: int, messages: int,
            sides: list[tuple[str, tuple[float, float, int]]]) -> None:
    walls = []
    for side, (wall, cpu, _) in sides:
        walls.append(wall)
        print(f"{label:24} {side:14} {wall:7.2f} s  {nbytes / wall / 1e6:7.1f} MB/s  "
              f"{messages / wall:9.0f} msg/s  {cpu / (nbytes / 1e6):.4f} CPU s/MB")
    print(f"{label:24} ratio (wall) {walls[1] / walls[0]:.2f}x")


def main() -> int:
    """One transfer per side and row: MB/s, messages/s, CPU seconds per MB."""
    total, size = BULK
    count, small = SMALL
    _report(f"bulk {total // MIB} MiB / {size} B", total, total // size, [
        ("rtcstack", asyncio.run(rtcstack_bulk(total, size))),
        (REFERENCE, asyncio.run(aiortc_bulk(total, size)))])
    _report(f"small {count} x {small} B", count * small, count, [
        ("rtcstack", asyncio.run(rtcstack_small(count, small))),
        (REFERENCE, asyncio.run(aiortc_small(count, small)))])
    return 0


if __name__ == "__main__":
    sys.exit(main())
