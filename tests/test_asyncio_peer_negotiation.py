"""rtcstack's asyncio RTCPeerConnection against itself: negotiation (W3C WebRTC 1.0).

``negotiationneeded`` (W3C §4.7.3) for every kind of change and never after the exchange that
reflects it; rollback of a local and of a remote offer (§4.4.1.5); glare resolved by the W3C
"Perfect negotiation example" (§10.7) with a polite and an impolite peer, in several orderings;
and an ICE restart in the middle of a call (RFC 8445 §9, W3C ``restartIce``).

Real UDP on 127.0.0.1; every wait is for a condition, with generous deadlines.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from rtcstack.asyncio.negotiation import PerfectNegotiator
from rtcstack.asyncio.peer import (
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from rtcstack.common.errors import InvalidStateError
from rtcstack.media import ToneTrack, VideoPatternTrack
from tests.helpers import run
from tests.test_asyncio_peer import (
    Recorder,
    connect,
    exchange,
    frame_numbers,
    make_pc,
    next_frame,
    settle,
    wait_for,
)


def ufrag(sdp: str) -> str:
    found = re.search(r"^a=ice-ufrag:(\S+)", sdp, re.M)
    assert found is not None
    return found.group(1)


# --- negotiationneeded (W3C §4.7.3) --------------------------------------------------------------


def test_negotiationneeded_for_each_change_and_not_after_the_exchange() -> None:
    """addTrack, addTransceiver, the first createDataChannel (not the second), a direction
    change (not setting the same one), removeTrack and restartIce each fire one
    negotiationneeded; none fires once the exchange that carries the change completes."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra, rb = Recorder(a), Recorder(b)

        async def fires(action: Any, count: int = 1) -> None:
            before = ra.negotiationneeded
            action()
            await settle()
            assert ra.negotiationneeded == before + count, action
            if count:
                await exchange(a, b)
                await settle()
                assert ra.negotiationneeded == before + count  # not after the exchange
                assert not a._core.negotiation_needed

        await settle()
        assert ra.negotiationneeded == 0
        tone = ToneTrack()
        holder: dict[str, Any] = {}
        await fires(lambda: holder.update(sender=a.addTrack(tone)))
        await asyncio.gather(a.wait_connected(10), b.wait_connected(10))
        await fires(lambda: holder.update(video=a.addTransceiver("video",
                                                                 direction="recvonly")))
        await fires(lambda: a.createDataChannel("first"))
        await fires(lambda: a.createDataChannel("second"), count=0)
        video = holder["video"]
        await fires(lambda: setattr(video, "direction", "inactive"))
        await fires(lambda: setattr(video, "direction", "inactive"), count=0)
        await fires(lambda: a.removeTrack(holder["sender"]))
        await fires(a.restartIce)
        # several changes at once: one event (W3C: the flag is set, the task is queued once)
        await fires(lambda: (a.addTransceiver("audio"), a.addTransceiver("video")))
        # the answerer never needed to negotiate
        assert rb.negotiationneeded == 0
        assert a.signalingState == b.signalingState == "stable"
        await a.close()
        await b.close()
    run(main(), 40)


def test_negotiationneeded_waits_for_stable() -> None:
    """A change while an offer is outstanding fires nothing until the signaling state is
    stable again; then it fires, because the completed exchange did not carry it."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra = Recorder(a)
        a.addTransceiver("audio")
        await a.setLocalDescription()
        await settle()
        count = ra.negotiationneeded
        a.addTransceiver("video")  # not in the outstanding offer
        await settle()
        assert ra.negotiationneeded == count
        assert a.localDescription is not None
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription()
        assert b.localDescription is not None
        await a.setRemoteDescription(b.localDescription)
        await settle()
        assert ra.negotiationneeded == count + 1
        await exchange(a, b)
        await settle()
        assert ra.negotiationneeded == count + 1
        assert [t.currentDirection for t in b.getTransceivers()] == ["recvonly", "recvonly"]
        await a.close()
        await b.close()
    run(main(), 30)


# --- rollback (W3C §4.4.1.5, JSEP §4.1.10.2) ---------------------------------------------------


def test_rollback_of_a_local_offer() -> None:
    """setLocalDescription({type: "rollback"}) in have-local-offer: back to stable with no
    local description; our transceivers stay (unassociated again); negotiation is still
    needed; a rollback in stable is an InvalidStateError; the next offer works."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra, rb = Recorder(a), Recorder(b)
        await pytest_raises(InvalidStateError, a.setLocalDescription({"type": "rollback",
                                                                       "sdp": ""}))
        transceiver = a.addTransceiver(ToneTrack())
        channel = a.createDataChannel("x")
        await a.setLocalDescription()
        assert a.signalingState == "have-local-offer" and transceiver.mid is not None
        await settle()
        count = ra.negotiationneeded
        await a.setLocalDescription(RTCSessionDescription("", "rollback"))
        assert a.signalingState == "stable" and a.localDescription is None
        assert a.getTransceivers() == [transceiver] and transceiver.mid is None
        await settle()
        assert ra.negotiationneeded == count + 1  # still needed, so it fires again
        assert ra.states["signalingstatechange"] == ["have-local-offer", "stable"]
        await pytest_raises(InvalidStateError, a.setRemoteDescription({"type": "rollback",
                                                                        "sdp": ""}))
        await connect(a, b)
        await channel.wait_open(10)
        await next_frame(rb.tracks[0].track)
        await a.close()
        await b.close()
    run(main(), 30)


def test_rollback_of_a_remote_offer() -> None:
    """setRemoteDescription({type: "rollback"}) in have-remote-offer: the transceivers the
    offer created go away, our own transceiver stays and loses the mid the offer gave it,
    there is no remote description; an offer of our own then works."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        rb = Recorder(b)
        a.addTransceiver(ToneTrack())
        a.addTransceiver(VideoPatternTrack(width=160, height=120, fps=15))
        a.createDataChannel("from a")
        own = b.addTrack(ToneTrack())
        mine = b.getTransceivers()[0]
        await a.setLocalDescription()
        assert a.localDescription is not None
        await b.setRemoteDescription(a.localDescription)
        assert b.signalingState == "have-remote-offer"
        assert len(b.getTransceivers()) == 2  # ours took the audio section, video is new
        assert mine.mid is not None
        # W3C §4.4.1.6: the track events fire at setRemoteDescription(offer)
        assert [e.track.kind for e in rb.tracks] == ["audio", "video"]
        assert rb.tracks[0].transceiver is mine
        created = rb.tracks[1].transceiver
        await b.setRemoteDescription(RTCSessionDescription("", "rollback"))
        assert b.signalingState == "stable" and b.remoteDescription is None
        assert b.getTransceivers() == [mine] and mine.mid is None
        assert mine.sender is own and own.track is not None
        assert rb.states["signalingstatechange"] == ["have-remote-offer", "stable"]
        assert created not in b.getTransceivers()
        # b offers now; a (which rolls its own offer back) answers
        await a.setLocalDescription(RTCSessionDescription("", "rollback"))
        await connect(b, a)
        kinds = sorted(t.kind for t in a.getTransceivers())
        assert kinds == ["audio", "audio", "video"]  # a's two and b's audio
        await a.close()
        await b.close()
    run(main(), 30)


def test_an_offer_in_have_local_offer_rolls_back_implicitly() -> None:
    """W3C §4.4.1.6 setRemoteDescription: a remote offer in have-local-offer rolls the local
    offer back first (what perfect negotiation's polite peer relies on): the polite peer ends
    in have-remote-offer and its answer completes the exchange."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra = Recorder(a)
        a.addTransceiver("audio")
        b.addTransceiver("video")
        await a.setLocalDescription()
        await b.setLocalDescription()
        assert b.localDescription is not None
        await a.setRemoteDescription(b.localDescription)
        assert a.signalingState == "have-remote-offer"
        assert ra.states["signalingstatechange"] == ["have-local-offer", "stable",
                                                      "have-remote-offer"]
        await a.setLocalDescription()
        assert a.localDescription is not None
        await b.setRemoteDescription(a.localDescription)
        assert a.signalingState == b.signalingState == "stable"
        await asyncio.gather(a.wait_connected(10), b.wait_connected(10))
        await settle()
        assert ra.negotiationneeded == 2  # a's audio still needs an offer of its own
        await a.close()
        await b.close()
    run(main(), 30)


async def pytest_raises(error: type[BaseException], awaitable: Any) -> None:
    with pytest.raises(error):
        await awaitable


# --- perfect negotiation (W3C §10.7 "Perfect negotiation example") -----------------------------


@dataclass
class PerfectPeer:
    """The W3C example (:class:`rtcstack.asyncio.negotiation.PerfectNegotiator`) sending into
    an in-memory queue; ``signaling`` below carries it to the other peer."""

    name: str
    pc: RTCPeerConnection
    polite: bool
    outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    channels: list[RTCDataChannel] = field(default_factory=list)
    tracks: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.negotiator = PerfectNegotiator(self.pc, polite=self.polite,
                                            send=self.outbox.put_nowait)
        self.pc.on("datachannel", self.channels.append)
        self.pc.on("track", lambda e: self.tracks.append(e.track))

    @property
    def making_offer(self) -> bool:
        return self.negotiator.making_offer

    @property
    def ignored(self) -> int:
        return self.negotiator.ignored

    @property
    def rolled_back(self) -> int:
        return self.negotiator.rolled_back

    @property
    def errors(self) -> list[BaseException]:
        return self.negotiator.errors


async def signaling(sender: PerfectPeer, receiver: PerfectPeer, rng: random.Random,
                    max_delay: float) -> None:
    """An ordered signaling channel with a random latency per message."""
    while True:
        message = await sender.outbox.get()
        if max_delay:
            await asyncio.sleep(rng.uniform(0, max_delay))
        await receiver.negotiator.handle(message)


@pytest.mark.parametrize(("polite_first", "latency", "seed"), [
    (True, 0.0, 1), (False, 0.0, 2), (True, 0.02, 3), (False, 0.05, 4)])
def test_perfect_negotiation_resolves_glare(polite_first: bool, latency: float,
                                            seed: int) -> None:
    """Both peers add a track, a data channel and later a second track at the same moment,
    both fire negotiationneeded and offer: glare.  The impolite peer ignores the colliding
    offer, the polite one rolls back (implicitly) and answers, then its own changes are
    offered.  The call ends stable and connected, with audio, video and data both ways."""
    async def main() -> None:
        rng = random.Random(seed)
        pa, pb = make_pc(), make_pc()
        a = PerfectPeer("a", pa, polite=polite_first)
        b = PerfectPeer("b", pb, polite=not polite_first)
        links = [asyncio.ensure_future(signaling(a, b, rng, latency)),
                 asyncio.ensure_future(signaling(b, a, rng, latency))]
        try:
            # the same changes on both sides, in the same loop iteration
            order = [a, b] if seed % 2 else [b, a]
            for peer in order:
                peer.pc.addTrack(ToneTrack())
            mine = {peer.name: peer.pc.createDataChannel(f"from {peer.name}")
                    for peer in order}
            for peer in order:
                peer.pc.addTrack(VideoPatternTrack(width=160, height=120, fps=15))

            def done() -> bool:
                return all(p.pc.signalingState == "stable" and p.pc.connectionState ==
                           "connected" and not p.pc._core.negotiation_needed and
                           len(p.tracks) == 2 and p.channels and not p.making_offer
                           and p.outbox.empty() for p in (a, b))
            await wait_for(lambda: done() or bool(a.errors or b.errors), 20, "negotiation")
            assert not a.errors and not b.errors, (a.errors, b.errors)
            impolite, polite = (b, a) if polite_first else (a, b)
            assert impolite.ignored >= 1 and polite.rolled_back >= 1  # there was glare
            assert impolite.rolled_back == 0
            for peer, other in ((a, b), (b, a)):
                await mine[peer.name].wait_open(10)
                got: list[Any] = []
                [remote] = other.channels
                assert remote.label == f"from {peer.name}"
                remote.on("message", got.append)
                mine[peer.name].send(f"hello from {peer.name}")
                await wait_for(lambda g=got: bool(g), 10, "a message")
                assert got == [f"hello from {peer.name}"]
                kinds = sorted(t.kind for t in other.tracks)
                assert kinds == ["audio", "video"]
                video = next(t for t in other.tracks if t.kind == "video")
                numbers = await frame_numbers(video, 3)
                assert None not in numbers
                audio = next(t for t in other.tracks if t.kind == "audio")
                await next_frame(audio)
            # every transceiver sends and receives: two m-lines of each kind were not needed
            for peer in (a, b):
                directions = sorted((t.kind, t.currentDirection)
                                    for t in peer.pc.getTransceivers())
                assert directions == [("audio", "sendrecv"), ("video", "sendrecv")]
        finally:
            for link in links:
                link.cancel()
            await asyncio.gather(*links, return_exceptions=True)
            await pa.close()
            await pb.close()
    run(main(), 40)


# --- ICE restart (RFC 8445 §9, RFC 8839 §4.4.1.1.1, W3C restartIce) ----------------------------


@pytest.mark.parametrize("restarter", ["offerer", "answerer"])
def test_ice_restart_mid_call(restarter: str) -> None:
    """restartIce() mid-call: negotiationneeded, new ufrag/pwd in the offer and the answer,
    ICE gathers and checks again, and media and data keep flowing throughout."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra, rb = Recorder(a), Recorder(b)
        a.addTrack(VideoPatternTrack(width=160, height=120, fps=15))
        channel = a.createDataChannel("x")
        await connect(a, b)
        await channel.wait_open(10)
        await wait_for(lambda: bool(rb.channels), what="datachannel")
        video = rb.tracks[0].track
        before = await frame_numbers(video, 2)
        assert a.localDescription is not None and b.localDescription is not None
        old = (ufrag(a.localDescription.sdp), ufrag(b.localDescription.sdp))
        got: list[Any] = []
        rb.channels[0].on("message", got.append)
        initiator, responder = (a, b) if restarter == "offerer" else (b, a)
        recorder = ra if initiator is a else rb
        await settle()
        count = recorder.negotiationneeded
        initiator.restartIce()
        await settle()
        assert recorder.negotiationneeded == count + 1
        offer = await initiator.createOffer()
        assert ufrag(offer.sdp) != (old[0] if initiator is a else old[1])
        await initiator.setLocalDescription(offer)
        channel.send("during")
        assert initiator.localDescription is not None
        await responder.setRemoteDescription(initiator.localDescription)
        await responder.setLocalDescription()
        assert responder.localDescription is not None
        await initiator.setRemoteDescription(responder.localDescription)
        new = (ufrag(a.localDescription.sdp), ufrag(b.localDescription.sdp))
        assert new[0] != old[0] and new[1] != old[1]
        # each side gathered again: new candidates, with the new ufrag, then the end again
        for r, fresh in ((ra, new[0]), (rb, new[1])):
            await wait_for(lambda r=r: r.candidates.count(None) == 2, 10, "a second gathering")
            again = r.candidates[r.candidates.index(None) + 1:]
            assert again[-1] is None and again[:-1]
            assert all(c is not None and c.usernameFragment == fresh for c in again[:-1])
            assert r.states["icegatheringstatechange"] == ["gathering", "complete"] * 2
        stats = await a.getStats()
        transport = next(s for s in stats.values() if s.type == "transport")
        await wait_for(lambda: a.connectionState == b.connectionState == "connected", 10)

        async def restarted() -> bool:
            s = await a.getStats()
            t = next(x for x in s.values() if x.type == "transport")
            return bool(t.iceLocalUsernameFragment == new[0] and t.selectedCandidatePairId
                        and s[t.selectedCandidatePairId].state == "succeeded")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not await restarted():
            assert loop.time() < deadline, transport
            await asyncio.sleep(0.05)
        channel.send("after")
        await wait_for(lambda: got == ["during", "after"], 10, "messages across the restart")
        after = await frame_numbers(video, 3)
        assert None not in after and max(after) > max(n for n in before if n is not None)
        await settle()
        assert recorder.negotiationneeded == count + 1
        assert a.signalingState == b.signalingState == "stable"
        await a.close()
        await b.close()
    run(main(), 40)


def test_perfect_negotiation_both_restart_ice_at_once() -> None:
    """Glare over an ICE restart: both peers call restartIce() mid-call.  The polite peer
    rolls back an offer whose new ICE credentials its agent had already taken, answers the
    impolite peer's restart, and the call keeps its data and media on new credentials."""
    async def main() -> None:
        rng = random.Random(5)
        pa, pb = make_pc(), make_pc()
        a = PerfectPeer("a", pa, polite=True)
        b = PerfectPeer("b", pb, polite=False)
        links = [asyncio.ensure_future(signaling(a, b, rng, 0.0)),
                 asyncio.ensure_future(signaling(b, a, rng, 0.0))]
        try:
            pa.addTrack(VideoPatternTrack(width=160, height=120, fps=15))
            channel = pa.createDataChannel("x")

            def settled() -> bool:
                return (pa.connectionState == pb.connectionState == "connected"
                        and pa.signalingState == pb.signalingState == "stable"
                        and not a.making_offer and not b.making_offer
                        and a.outbox.empty() and b.outbox.empty())
            await wait_for(lambda: settled() and bool(b.channels and b.tracks), 10, "a call")
            assert pa.localDescription is not None and pb.localDescription is not None
            old = {ufrag(pa.localDescription.sdp), ufrag(pb.localDescription.sdp)}
            ignored, rolled_back = b.ignored, a.rolled_back
            pa.restartIce()
            pb.restartIce()

            def restarted() -> bool:
                if a.errors or b.errors:
                    return True
                ufrags = {ufrag(p.localDescription.sdp) for p in (pa, pb)
                          if p.localDescription is not None}
                return (settled() and b.ignored > ignored and a.rolled_back > rolled_back
                        and not ufrags & old)
            await wait_for(restarted, 15, "the restart")
            assert not a.errors and not b.errors, (a.errors, b.errors)
            got: list[Any] = []
            b.channels[0].on("message", got.append)
            channel.send("after the restart")
            await wait_for(lambda: got == ["after the restart"], 10, "a message")
            await frame_numbers(b.tracks[0], 2)
            stats = await pa.getStats()
            transport = next(s for s in stats.values() if s.type == "transport")
            assert transport.iceLocalUsernameFragment == ufrag(pa.localDescription.sdp)
        finally:
            for link in links:
                link.cancel()
            await asyncio.gather(*links, return_exceptions=True)
            await pa.close()
            await pb.close()
    run(main(), 40)
