"""The aiortc side of the peer-connection benchmark (issue #8): set up connected pairs.

Imports aiortc (and nothing of rtcstack), so that a child process measuring memory
(:mod:`bench.peer_child`) holds one stack only.

A pair is two aiortc ``RTCPeerConnection`` in this process over loopback UDP (127.0.0.1 only, no
ICE servers: nothing leaves the machine), with the same work as :mod:`bench.peer_rtcstack`:
A creates one data channel (reliable, ordered) and two transceivers, audio and video, both
``recvonly`` (no track: no codec runs), before the clock starts.  On the clock: A's
``createOffer`` + ``setLocalDescription`` (aiortc gathers there and puts every candidate in the
SDP: it does not trickle), B's ``setRemoteDescription`` + ``createAnswer`` +
``setLocalDescription``, A's ``setRemoteDescription``, until both ``connectionState`` are
``"connected"``, A's channel is open and B has it (``datachannel``) open too.  Waits are
event-driven (``connectionstatechange``, ``open``, ``datachannel``), never polled.

Both stacks use their default bundle policy ("balanced"): aiortc's offerer gathers one ICE
transport per media kind and one for the data channel (three sockets) and the answerer
accepts the BUNDLE group; rtcstack gathers once for the bundle.

Loopback: aioice leaves 127.0.0.1 out of its host addresses, so while a pair gathers its
``get_host_addresses`` returns only ``["127.0.0.1"]`` (:func:`bench.sctp_aiortc._offer_loopback`,
restored as soon as both peers have gathered).
"""

from __future__ import annotations

import asyncio
import time
from importlib.metadata import version

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection

from bench.sctp_aiortc import _offer_loopback

__all__ = ["EXPECT", "REFERENCE", "Outcome", "Pair", "aiortc_pair", "aiortc_setup"]

REFERENCE = f"aiortc {version('aiortc')}"
#: (A's connectionState, B's, A's channel readyState, B's channel readyState)
Outcome = tuple[str, str, str, str]
EXPECT: Outcome = ("connected", "connected", "open", "open")


class Pair:
    """Two connected aiortc peers and the data channel, as seen by each (kept for memory)."""

    def __init__(self, a: RTCPeerConnection, b: RTCPeerConnection, channel_a: RTCDataChannel,
                 channel_b: RTCDataChannel | None) -> None:
        self.a, self.b, self.channel_a, self.channel_b = a, b, channel_a, channel_b

    def outcome(self) -> Outcome:
        b_state = self.channel_b.readyState if self.channel_b is not None else "none"
        return (self.a.connectionState, self.b.connectionState, self.channel_a.readyState,
                b_state)

    async def close(self) -> None:
        try:
            await self.a.close()
        finally:
            await self.b.close()
        for _ in range(3):  # let the tasks aiortc spawned while stopping finish
            await asyncio.sleep(0)


async def aiortc_pair(timeout: float = 30.0) -> tuple[Pair, float, float]:
    """A connected pair, and the (wall, CPU of this thread) seconds its setup took."""
    loop = asyncio.get_running_loop()
    config = RTCConfiguration(iceServers=[])  # None would mean aiortc's default STUN server
    a = RTCPeerConnection(configuration=config)
    b = RTCPeerConnection(configuration=config)
    channel_a = a.createDataChannel("bench", ordered=True)
    a.addTransceiver("audio", direction="recvonly")
    a.addTransceiver("video", direction="recvonly")
    pair = Pair(a, b, channel_a, None)
    done: asyncio.Future[None] = loop.create_future()

    def check() -> None:
        if not done.done() and pair.outcome() == EXPECT:
            done.set_result(None)

    def on_state() -> None:
        if "failed" in (a.connectionState, b.connectionState) and not done.done():
            done.set_exception(ConnectionError(f"aiortc: A {a.connectionState}, "
                                               f"B {b.connectionState}"))
        check()

    def on_datachannel(channel: RTCDataChannel) -> None:
        pair.channel_b = channel
        channel.on("open", check)
        check()

    a.on("connectionstatechange", on_state)
    b.on("connectionstatechange", on_state)
    channel_a.on("open", check)
    b.on("datachannel", on_datachannel)
    release = _offer_loopback()
    ok = False
    try:
        async with asyncio.timeout(timeout):
            wall, cpu = time.perf_counter(), time.thread_time()
            await a.setLocalDescription(await a.createOffer())  # gathers A's candidates
            await b.setRemoteDescription(a.localDescription)
            await b.setLocalDescription(await b.createAnswer())  # gathers B's candidates
            release()
            await a.setRemoteDescription(b.localDescription)
            check()
            await done
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        ok = True
    finally:
        release()
        if not ok:
            await pair.close()
    return pair, wall, cpu


async def aiortc_setup() -> tuple[float, float, Outcome]:
    """One setup, closed afterwards (off the clock): (wall s, CPU s, outcome)."""
    pair, wall, cpu = await aiortc_pair()
    try:
        outcome = pair.outcome()
    finally:
        await pair.close()
    return wall, cpu, outcome
