"""Simulcast (RFC 8853, RFC 8851, RFC 8852) between rtcstack and real browsers, on loopback.

A browser can send simulcast but never receive it, so the real-peer direction is: the browser
offers a sendonly video transceiver with ``sendEncodings`` (rids ``h`` at half size and ``f`` at
full size), rtcstack answers ``a=simulcast:recv h;f`` and receives both layers: it routes each
new SSRC by its RtpStreamId header extension (and RTX by RepairedRtpStreamId), decodes each
layer into its own track (``receiver.layers``), reports an inbound-rtp per layer with its
``rid``, and its receiver's track follows the larger layer.  rtcstack's own sending side is
checked rtcstack -> rtcstack (``test_rtcstack_sends_simulcast``): three layers scaled by 4, 2
and 1, an outbound-rtp per layer.

Chromium sends at most two layers for a 640x480 camera (its simulcast table gives three from
960x540 up), which is why two layers are asked for.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

pytest.importorskip("av", reason="rtcstack's media needs PyAV: pip install rtcstack[media]")

from rtcstack.asyncio.peer import RTCPeerConnection
from rtcstack.media import MediaStreamError, VideoPatternTrack
from tests.interop.call_checks import lines_with
from tests.interop.test_peer_browser import (
    BROWSERS,
    STEP,
    Peer,
    answer_browser,
    call_and_peer,
    of_type,
    run,
)

pytestmark = pytest.mark.interop

MEDIA = {"audio": True,
         "video": {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 30}}}
LAYERS = [{"rid": "h", "scaleResolutionDownBy": 2}, {"rid": "f", "scaleResolutionDownBy": 1}]


async def _layer_sizes(receiver: Any, frames: int) -> dict[str, tuple[int, int]]:
    """Read ``frames`` frames from every simulcast layer track; the last size of each."""
    sizes: dict[str, tuple[int, int]] = {}

    async def read(rid: str, track: Any) -> None:
        for _ in range(frames):
            frame = await track.recv()
            sizes[rid] = (frame.width, frame.height)

    deadline = time.monotonic() + STEP
    while set(receiver.layers) != {"h", "f"}:
        assert time.monotonic() < deadline, f"layers received: {sorted(receiver.layers)}"
        await asyncio.sleep(0.05)
    try:
        await asyncio.wait_for(
            asyncio.gather(*(read(rid, t) for rid, t in receiver.layers.items())), STEP)
    except TimeoutError:
        counts = {rid: layer.frames_decoded for rid, layer in receiver._layers.items()}
        raise AssertionError(f"frames decoded per layer: {counts}, read: {sizes}") from None
    return sizes


@pytest.mark.parametrize("browser", BROWSERS)
def test_browser_sends_simulcast(browser: str) -> None:
    run(_browser_sends_simulcast(browser))


async def _browser_sends_simulcast(browser: str) -> None:
    async with call_and_peer(browser, media=MEDIA) as (call, peer):
        offer = await call.browser_offer(audio=False, video=False, data=False, simulcast=LAYERS)
        assert "a=simulcast:send h;f" in offer, lines_with(offer, "a=simulcast")
        answer = await answer_browser(call, peer, offer)
        assert lines_with(answer, "a=simulcast") == ["a=simulcast:recv h;f"]
        assert set(lines_with(answer, "a=rid:")) == {"a=rid:h recv", "a=rid:f recv"}
        await call.wait_connection_state("connected")
        receiver = peer.pc.getTransceivers()[0].receiver
        sizes = await _layer_sizes(receiver, 20)
        # each layer decodes at its own size: f is the camera's, h half of it
        assert sizes["f"][0] >= 1.6 * sizes["h"][0], sizes
        # the receiver's own track (drained by the Peer) follows the larger layer
        deadline = time.monotonic() + STEP
        while sizes["f"] not in peer.frame_sizes:
            assert time.monotonic() < deadline, (peer.frame_sizes, sizes)
            await asyncio.sleep(0.05)
        assert receiver._best is not None and receiver._best[1] == "f"
        report = await peer.pc.getStats()
        inbound = {s["rid"]: s for s in of_type(report, "inbound-rtp") if "rid" in s}
        assert set(inbound) == {"h", "f"}, inbound
        for rid, stats in inbound.items():
            assert stats["framesDecoded"] >= 20 and stats["frameWidth"] == sizes[rid][0]
        assert len({s["ssrc"] for s in inbound.values()}) == 2
        # the browser reports two outbound streams with those rids
        sent = {s.get("rid") for s in of_type(await call.stats(), "outbound-rtp")}
        assert {"h", "f"} <= sent, sent
        # only RTX probing ahead of its layer's first media packet (its primary is not
        # known yet) may go unrouted
        assert peer.pc._core.stats.unroutable_rtp <= 3


def test_rtcstack_sends_simulcast() -> None:
    run(_rtcstack_sends_simulcast())


async def _rtcstack_sends_simulcast() -> None:
    a = RTCPeerConnection(addresses=["127.0.0.1"], loopback=True)
    b = Peer()
    try:
        a.addTransceiver(VideoPatternTrack(width=640, height=480, fps=30), direction="sendonly",
                         sendEncodings=[{"rid": "q"}, {"rid": "h"}, {"rid": "f"}])
        await a.setLocalDescription()
        assert a.localDescription is not None
        offer = a.localDescription.sdp
        assert "a=simulcast:send q;h;f" in offer
        await b.pc.setRemoteDescription(a.localDescription)
        await b.pc.setLocalDescription()
        assert b.pc.localDescription is not None
        await a.setRemoteDescription(b.pc.localDescription)
        await asyncio.gather(a.wait_connected(STEP), b.pc.wait_connected(STEP))
        receiver = b.pc.getTransceivers()[0].receiver
        deadline = time.monotonic() + STEP
        while set(receiver.layers) != {"q", "h", "f"}:
            assert time.monotonic() < deadline, sorted(receiver.layers)
            await asyncio.sleep(0.05)
        sizes = {}
        for rid, track in receiver.layers.items():
            try:
                frame = await asyncio.wait_for(track.recv(), STEP)
            except MediaStreamError:  # pragma: no cover - reported below
                continue
            sizes[rid] = (frame.width, frame.height)
        # W3C default scaleResolutionDownBy for three layers: 4, 2, 1
        assert sizes == {"q": (160, 120), "h": (320, 240), "f": (640, 480)}, sizes
        outbound = {s["rid"]: s for s in of_type(await a.getStats(), "outbound-rtp")}
        assert set(outbound) == {"q", "h", "f"}
        assert len({s["ssrc"] for s in outbound.values()}) == 3
        assert all(s["packetsSent"] > 0 and s["framesEncoded"] > 0 for s in outbound.values())
    finally:
        await a.close()
        await b.close()
