"""The rtcstack side of the peer-connection benchmark (issue #8): set up connected pairs.

Imports rtcstack (and nothing of aiortc), so that a child process measuring memory
(:mod:`bench.peer_child`) holds one stack only.

A pair is two :class:`rtcstack.asyncio.peer.RTCPeerConnection` in this process, gathering on
127.0.0.1 only, with the same work as :mod:`bench.peer_aiortc`: A creates one data channel
(reliable, ordered) and two transceivers, audio and video, both ``recvonly`` (no track: no codec
runs), before the clock starts.  On the clock: A's ``createOffer`` + ``setLocalDescription``
and gathering until complete (so that the offer carries every candidate, as aiortc's does: no
trickle), B's ``setRemoteDescription`` + ``createAnswer`` + ``setLocalDescription`` and
gathering, A's ``setRemoteDescription``, until both ``connectionState`` are ``"connected"``,
A's channel is open and B has it (``datachannel``) open too.  Waits are event-driven.
"""

from __future__ import annotations

import asyncio
import time

from rtcstack.asyncio.peer import RTCDataChannel, RTCPeerConnection

__all__ = ["EXPECT", "LOOPBACK", "Outcome", "Pair", "rtcstack_pair", "rtcstack_setup"]

LOOPBACK = "127.0.0.1"
#: (A's connectionState, B's, A's channel readyState, B's channel readyState)
Outcome = tuple[str, str, str, str]
EXPECT: Outcome = ("connected", "connected", "open", "open")


class Pair:
    """Two connected rtcstack peers and the data channel, as seen by each (kept for memory)."""

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


async def rtcstack_pair(timeout: float = 30.0) -> tuple[Pair, float, float]:
    """A connected pair, and the (wall, CPU of this thread) seconds its setup took."""
    a = RTCPeerConnection(addresses=[LOOPBACK], loopback=True)
    b = RTCPeerConnection(addresses=[LOOPBACK], loopback=True)
    channel_a = a.createDataChannel("bench", ordered=True)
    a.addTransceiver("audio", direction="recvonly")
    a.addTransceiver("video", direction="recvonly")
    pair = Pair(a, b, channel_a, None)
    b_channel: asyncio.Future[RTCDataChannel] = asyncio.get_running_loop().create_future()

    def on_datachannel(channel: RTCDataChannel) -> None:
        pair.channel_b = channel
        if not b_channel.done():
            b_channel.set_result(channel)

    b.on("datachannel", on_datachannel)
    ok = False
    try:
        async with asyncio.timeout(timeout):
            wall, cpu = time.perf_counter(), time.thread_time()
            await a.setLocalDescription(await a.createOffer())
            await a.wait_gathering_complete(None)
            await b.setRemoteDescription(a.localDescription)  # type: ignore[arg-type]
            await b.setLocalDescription(await b.createAnswer())
            await b.wait_gathering_complete(None)
            await a.setRemoteDescription(b.localDescription)  # type: ignore[arg-type]
            await a.wait_connected(None)
            await b.wait_connected(None)
            await channel_a.wait_open(None)
            await (await b_channel).wait_open(None)
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        ok = True
    finally:
        if not ok:
            await pair.close()
    return pair, wall, cpu


async def rtcstack_setup() -> tuple[float, float, Outcome]:
    """One setup, closed afterwards (off the clock): (wall s, CPU s, outcome)."""
    pair, wall, cpu = await rtcstack_pair()
    try:
        outcome = pair.outcome()
    finally:
        await pair.close()
    return wall, cpu, outcome
