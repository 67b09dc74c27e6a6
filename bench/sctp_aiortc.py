"""The aiortc side of the SCTP data-channel benchmark (issue #7): bulk and small messages.

Two aiortc ``RTCPeerConnection`` in one process, connected over loopback UDP (127.0.0.1 only, no
ICE servers: nothing leaves the machine), with one in-band data channel (reliable, ordered)
open on both sides.  The operations time sending from A to B until B has received everything:

- :func:`aiortc_bulk` -- ``total_bytes`` in ``message_size``-byte binary messages;
- :func:`aiortc_small` -- ``count`` binary messages of ``size`` bytes.

Both return ``(wall seconds, CPU seconds of the process, what B received)``.  The pair is set up
and closed off the clock.  On the clock: A's sends, respecting back-pressure (at most about
:data:`HIGH_WATER` bytes queued in the channel, refilled on ``bufferedamountlow`` below
:data:`LOW_WATER`), everything aiortc does in between (SCTP, DTLS, UDP, both peers' event-loop
work) and B's receive handler, which counts the bytes and messages and keeps a running
``zlib.crc32`` of the messages in order; once B has everything, the count and the CRC are
compared with what A sent (the expected CRC is computed off the clock).  The messages are taken
in turn from a pool of distinct random blocks, so a reordered, dropped or corrupted message
changes the CRC.

Loopback: aioice (which aiortc uses for ICE) leaves 127.0.0.1 out of its host addresses, so
while the two peers gather their candidates (``setLocalDescription``) ``aioice.ice``'s
``get_host_addresses`` is replaced by a function returning only ``["127.0.0.1"]``; the original
is restored as soon as both have gathered (and in every error path).  The replacement is
reference-counted, so pairs set up concurrently restore it correctly.

``python -m bench.sctp_aiortc`` prints the figures for 64 MiB in 16 KiB messages and for
20000 messages of 100 bytes (``--help`` for other sizes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection

__all__ = [
    "HIGH_WATER",
    "LOOPBACK",
    "LOW_WATER",
    "MAX_MESSAGE_SIZE",
    "REFERENCE",
    "TIMEOUT",
    "AiortcBenchTimeout",
    "AiortcPair",
    "aiortc_bulk",
    "aiortc_pair",
    "aiortc_small",
    "main",
]

REFERENCE = f"aiortc {version('aiortc')}"
LOOPBACK = "127.0.0.1"
#: Default limit, in seconds, for setting a pair up, for one timed transfer, and for closing.
TIMEOUT = 120.0
#: Back-pressure: A sends while the channel's bufferedAmount stays at or below this ...
HIGH_WATER = 1024 * 1024
#: ... and, once above, waits for 'bufferedamountlow' (bufferedAmountLowThreshold).
LOW_WATER = 256 * 1024
#: The largest message aiortc accepts from an aiortc peer (what it advertises in its SDP).
MAX_MESSAGE_SIZE = 262_144
#: Distinct blocks the messages are taken from in turn.
_POOL = 61


class AiortcBenchTimeout(TimeoutError):
    """A set-up, transfer or close did not finish within its time limit."""


# --- loopback candidates ------------------------------------------------------------------------

_patch_depth = 0
_original_get_host_addresses: Any = None  # aioice.ice.get_host_addresses while replaced


def _loopback_only(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return [LOOPBACK]


def _offer_loopback() -> Callable[[], None]:
    """Make aioice gather 127.0.0.1 only; returns an idempotent function that undoes it."""
    global _patch_depth, _original_get_host_addresses
    if _patch_depth == 0:
        _original_get_host_addresses = aioice.ice.get_host_addresses
        aioice.ice.get_host_addresses = _loopback_only
    _patch_depth += 1
    released = False

    def release() -> None:
        global _patch_depth, _original_get_host_addresses
        nonlocal released
        if released:
            return
        released = True
        _patch_depth -= 1
        if _patch_depth == 0 and _original_get_host_addresses is not None:
            aioice.ice.get_host_addresses = _original_get_host_addresses
            _original_get_host_addresses = None

    return release


@asynccontextmanager
async def _deadline(seconds: float, what: Callable[[], str]) -> AsyncIterator[None]:
    """``asyncio.timeout(seconds)``, its TimeoutError turned into a clear error."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        if isinstance(exc, AiortcBenchTimeout):
            raise
        raise AiortcBenchTimeout(f"aiortc: {what()} (limit {seconds:g} s)") from exc


# --- the pair -----------------------------------------------------------------------------------


@dataclass
class AiortcPair:
    """Two connected aiortc peers and the open data channel between them (A opened it)."""

    a: RTCPeerConnection
    b: RTCPeerConnection
    channel_a: RTCDataChannel
    channel_b: RTCDataChannel
    _release: Callable[[], None] = field(repr=False)
    _closed: bool = field(default=False, repr=False)

    async def close(self, timeout: float = 10.0) -> None:
        """Close both peers (each even if the other fails) and restore aioice's host lookup."""
        if self._closed:
            return
        self._closed = True
        try:
            await _close_peers(self.a, self.b, timeout)
        finally:
            self._release()


async def _close_peers(a: RTCPeerConnection, b: RTCPeerConnection, timeout: float) -> None:
    try:
        async with _deadline(timeout, lambda: "closing peer A timed out"):
            await a.close()
    finally:
        async with _deadline(timeout, lambda: "closing peer B timed out"):
            await b.close()
    # Let the tasks aiortc spawned while stopping (the SCTP and DTLS ends) run to completion.
    for _ in range(3):
        await asyncio.sleep(0)


async def aiortc_pair(timeout: float = 30.0, label: str = "bench") -> AiortcPair:
    """Two aiortc peers over loopback UDP with an in-band data channel open on both sides.

    The channel is reliable and ordered (aiortc's defaults), created by A before the offer;
    B gets it through its 'datachannel' event.  Raises :class:`AiortcBenchTimeout` if the
    channel is not open on both sides within ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    config = RTCConfiguration(iceServers=[])  # None would mean aiortc's default STUN server
    a = RTCPeerConnection(configuration=config)
    b = RTCPeerConnection(configuration=config)
    release = _offer_loopback()
    done = False
    try:
        a_open: asyncio.Future[None] = loop.create_future()
        b_channel: asyncio.Future[RTCDataChannel] = loop.create_future()
        channel_a = a.createDataChannel(label, ordered=True)

        @channel_a.on("open")
        def _on_open() -> None:
            if not a_open.done():
                a_open.set_result(None)

        @b.on("datachannel")
        def _on_datachannel(channel: RTCDataChannel) -> None:
            if not b_channel.done():
                b_channel.set_result(channel)

        async with _deadline(timeout, lambda: f"data channel not open: A {channel_a.readyState}"
                             f", ICE A {a.iceConnectionState} / B {b.iceConnectionState}"):
            await a.setLocalDescription(await a.createOffer())  # gathers A's candidates
            await b.setRemoteDescription(a.localDescription)
            await b.setLocalDescription(await b.createAnswer())  # gathers B's candidates
            release()  # both have gathered: aioice's lookup is no longer needed
            await a.setRemoteDescription(b.localDescription)
            await a_open
            channel_b = await b_channel
            if channel_b.readyState != "open":
                b_open: asyncio.Future[None] = loop.create_future()

                def _on_b_open() -> None:
                    if not b_open.done():
                        b_open.set_result(None)

                channel_b.once("open", _on_b_open)
                if channel_b.readyState != "open":
                    await b_open
        done = True
        return AiortcPair(a, b, channel_a, channel_b, release)
    finally:
        if not done:
            try:
                await _close_peers(a, b, 10.0)
                await _stop_late_consent(a, b)
            finally:
                release()


async def _stop_late_consent(*peers: RTCPeerConnection) -> None:
    """Closing a peer while ICE is checking can let aioice's ``connect()`` finish afterwards
    and start its consent-freshness task on the closed connection; closing the aioice
    connection again (aiortc keeps it in ``RTCIceGatherer._connection``) cancels that task."""
    await asyncio.sleep(0.1)
    for peer in peers:
        sctp = peer.sctp
        if sctp is not None:
            connection = sctp.transport.transport.iceGatherer._connection
            async with _deadline(5.0, lambda: "re-closing the aioice connection timed out"):
                await connection.close()


# --- the transfers ------------------------------------------------------------------------------


def _pool(size: int) -> list[bytes]:
    return [os.urandom(size) for _ in range(_POOL)]


def _plan(total_bytes: int, message_size: int) -> tuple[list[bytes], int, int, bytes | None]:
    """(pool, full messages, expected CRC, last partial message or None); off the clock."""
    pool = _pool(message_size)
    full, rest = divmod(total_bytes, message_size)
    crc = 0
    for i in range(full):
        crc = zlib.crc32(pool[i % _POOL], crc)
    tail = os.urandom(rest) if rest else None
    if tail is not None:
        crc = zlib.crc32(tail, crc)
    return pool, full, crc, tail


class _Receiver:
    """B's message handler: counts, checksums, and signals when everything has arrived."""

    def __init__(self, channel: RTCDataChannel, want_bytes: int, want_messages: int) -> None:
        self.bytes = 0
        self.messages = 0
        self.crc = 0
        self.bad: object = None
        self._want_bytes = want_bytes
        self._want_messages = want_messages
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        channel.on("message", self._on_message)

    def _on_message(self, message: bytes | str) -> None:
        if not isinstance(message, bytes):
            self.bad = message
            message = message.encode()
        self.bytes += len(message)
        self.messages += 1
        self.crc = zlib.crc32(message, self.crc)
        if (self.bytes >= self._want_bytes and self.messages >= self._want_messages
                and not self.done.done()):
            self.done.set_result(None)


async def _send_all(channel: RTCDataChannel, messages: Iterator[bytes]) -> None:
    """Send every message, keeping bufferedAmount around HIGH_WATER at most."""
    low = asyncio.Event()
    channel.bufferedAmountLowThreshold = LOW_WATER
    channel.on("bufferedamountlow", low.set)
    try:
        for message in messages:
            while (channel.bufferedAmount + len(message) > HIGH_WATER
                   and channel.bufferedAmount > LOW_WATER):
                low.clear()
                await low.wait()
            channel.send(message)
    finally:
        channel.remove_listener("bufferedamountlow", low.set)


def _messages(pool: list[bytes], full: int, tail: bytes | None) -> Iterator[bytes]:
    for i in range(full):
        yield pool[i % _POOL]
    if tail is not None:
        yield tail


async def _transfer(
    what: str, pool: list[bytes], full: int, tail: bytes | None, want_bytes: int, crc: int,
    timeout: float,
) -> tuple[float, float, int, int]:
    """Pair, timed transfer A -> B, checks, close: (wall, cpu, bytes, messages)."""
    want_messages = full + (tail is not None)
    pair = await aiortc_pair(timeout=min(timeout, 30.0))
    try:
        receiver = _Receiver(pair.channel_b, want_bytes, want_messages)
        sender: asyncio.Task[None] | None = None
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            async with _deadline(timeout, lambda: f"{what}: B received {receiver.messages}/"
                                 f"{want_messages} messages, {receiver.bytes}/{want_bytes} bytes"):
                sender = asyncio.create_task(
                    _send_all(pair.channel_a, _messages(pool, full, tail)))
                await asyncio.wait({sender, receiver.done},
                                   return_when=asyncio.FIRST_EXCEPTION)
                await sender  # re-raises a send error
                await receiver.done
        finally:
            if sender is not None and not sender.done():
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        # Nothing more may arrive: a duplicate would show up here.
        await asyncio.sleep(0)
    finally:
        await pair.close()
    if receiver.bad is not None:
        raise RuntimeError(f"{what}: B received a text message")
    if (receiver.bytes, receiver.messages, receiver.crc) != (want_bytes, want_messages, crc):
        raise RuntimeError(
            f"{what}: B received {receiver.messages} messages, {receiver.bytes} bytes, "
            f"CRC {receiver.crc:#010x}; A sent {want_messages}, {want_bytes}, {crc:#010x}")
    return wall, cpu, receiver.bytes, receiver.messages


def _check_size(message_size: int) -> None:
    if not 1 <= message_size <= MAX_MESSAGE_SIZE:
        raise ValueError(f"message size must be 1..{MAX_MESSAGE_SIZE} bytes, not {message_size}")


async def aiortc_bulk(
    total_bytes: int, message_size: int, timeout: float = TIMEOUT
) -> tuple[float, float, int]:
    """Send ``total_bytes`` A -> B in ``message_size``-byte messages: (wall s, CPU s, bytes).

    The last message is shorter if ``message_size`` does not divide ``total_bytes``.  Raises
    :class:`AiortcBenchTimeout` if B has not received everything within ``timeout`` seconds,
    ``RuntimeError`` if what B received differs from what A sent.
    """
    _check_size(message_size)
    if total_bytes < 1:
        raise ValueError("total_bytes must be positive")
    pool, full, crc, tail = _plan(total_bytes, message_size)
    wall, cpu, received, _ = await _transfer(
        f"bulk {total_bytes} B / {message_size} B", pool, full, tail, total_bytes, crc, timeout)
    return wall, cpu, received


async def aiortc_small(
    count: int, size: int = 100, timeout: float = TIMEOUT
) -> tuple[float, float, int]:
    """Send ``count`` messages of ``size`` bytes A -> B: (wall s, CPU s, messages received)."""
    _check_size(size)
    if count < 1:
        raise ValueError("count must be positive")
    pool, full, crc, tail = _plan(count * size, size)
    wall, cpu, _, messages = await _transfer(
        f"small {count} x {size} B", pool, full, tail, count * size, crc, timeout)
    return wall, cpu, messages


# --- command line -------------------------------------------------------------------------------

MIB = 1024 * 1024


def _report_bulk(total: int, size: int, timeout: float) -> float:
    wall, cpu, got = asyncio.run(aiortc_bulk(total, size, timeout=timeout))
    mb = got / 1e6
    print(f"bulk  {total / MIB:g} MiB in {size // 1024 if size % 1024 == 0 else size}"
          f"{' KiB' if size % 1024 == 0 else ' B'} messages: {wall:.2f} s, "
          f"{mb / wall:.2f} MB/s, CPU {cpu:.2f} s = {cpu / mb:.4f} CPU s/MB")
    return wall


def _report_small(count: int, size: int, timeout: float) -> None:
    wall, cpu, got = asyncio.run(aiortc_small(count, size, timeout=timeout))
    print(f"small {count} x {size} B messages: {wall:.2f} s, {got / wall:.0f} messages/s, "
          f"CPU {cpu:.2f} s = {cpu / (got * size / 1e6):.4f} CPU s/MB, "
          f"{cpu / got * 1e6:.1f} CPU µs/message")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sctp_aiortc",
        description=f"{REFERENCE} data channel over loopback: bulk and small-message figures")
    parser.add_argument("--mib", type=float, default=64, help="bulk size in MiB (64)")
    parser.add_argument("--message-size", type=int, default=16 * 1024,
                        help="bulk message size in bytes (16384)")
    parser.add_argument("--count", type=int, default=20_000, help="small messages (20000)")
    parser.add_argument("--size", type=int, default=100, help="small message size (100)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per transfer")
    args = parser.parse_args(argv)
    print(f"{REFERENCE}, Python {sys.version.split()[0]}; MB = 10^6 bytes")
    wall = _report_bulk(int(args.mib * MIB), args.message_size, args.timeout)
    if wall > 60 and args.mib > 8:
        _report_bulk(8 * MIB, args.message_size, args.timeout)
    _report_small(args.count, args.size, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
