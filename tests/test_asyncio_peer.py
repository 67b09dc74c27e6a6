"""rtcstack's asyncio RTCPeerConnection against itself over real loopback UDP: the W3C API.

Two peers in one event loop (``addresses=["127.0.0.1"], loopback=True``) and the behaviour a web
application relies on (W3C WebRTC 1.0, https://w3c.github.io/webrtc-pc/): the signaling state
machine and its errors (§4.3.1, §4.4.1.5-6), implicit descriptions, pranswer and rollback,
trickle ICE through ``icecandidate`` (§4.8), transceivers and ``replaceTrack`` (§5), data
channels with every RTCDataChannelInit member (§6), ``getStats`` (webrtc-stats), and ``close()``
leaving no task, socket or timer behind.  Negotiation-needed, perfect negotiation and ICE restart
are in ``test_asyncio_peer_negotiation.py``.

Nothing here depends on timing beyond generous deadlines: every wait is for a condition.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from rtcstack.asyncio.peer import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceCandidate,
    RTCPeerConnection,
    RTCSessionDescription,
    RTCTrackEvent,
)
from rtcstack.common.errors import InvalidStateError
from rtcstack.media import ToneTrack, VideoPatternTrack, pattern_frame_number
from tests.helpers import run

# --- helpers shared by the RTCPeerConnection tests (imported by the other two files) ----------

LOOPBACK: dict[str, Any] = {"addresses": ["127.0.0.1"], "loopback": True}
STATE_EVENTS = {
    "signalingstatechange": "signalingState",
    "icegatheringstatechange": "iceGatheringState",
    "iceconnectionstatechange": "iceConnectionState",
    "connectionstatechange": "connectionState",
}


def make_pc(configuration: RTCConfiguration | None = None, **options: Any) -> RTCPeerConnection:
    return RTCPeerConnection(configuration, **{**LOOPBACK, **options})


class Recorder:
    """What a page's listeners would log: every state event with the attribute read in the
    handler, negotiationneeded, track and datachannel events, trickled candidates."""

    def __init__(self, pc: RTCPeerConnection) -> None:
        self.pc = pc
        self.states: dict[str, list[str]] = {name: [] for name in STATE_EVENTS}
        self.negotiationneeded = 0
        self.tracks: list[RTCTrackEvent] = []
        self.channels: list[RTCDataChannel] = []
        self.candidates: list[RTCIceCandidate | None] = []
        for name, attribute in STATE_EVENTS.items():
            pc.on(name, lambda n=name, a=attribute: self.states[n].append(getattr(pc, a)))
        pc.on("negotiationneeded", self._on_negotiationneeded)
        self.track_states: list[str] = []  # signalingState as each track handler saw it
        pc.on("track", self._on_track)
        pc.on("datachannel", self.channels.append)
        pc.on("icecandidate", self.candidates.append)

    def _on_negotiationneeded(self) -> None:
        self.negotiationneeded += 1

    def _on_track(self, event: RTCTrackEvent) -> None:
        self.tracks.append(event)
        self.track_states.append(self.pc.signalingState)


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0,
                   what: str = "condition") -> None:
    """Poll ``condition`` until it holds (a wait for a condition, never a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def settle() -> None:
    """Let queued callbacks (negotiationneeded is fired from a queued task) run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def exchange(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    """One offer/answer with implicit descriptions (candidates in the SDP)."""
    await offerer.setLocalDescription()
    assert offerer.localDescription is not None
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription()
    assert answerer.localDescription is not None
    await offerer.setRemoteDescription(answerer.localDescription)


async def connect(offerer: RTCPeerConnection, answerer: RTCPeerConnection,
                  timeout: float = 10.0) -> None:
    await exchange(offerer, answerer)
    await asyncio.gather(offerer.wait_connected(timeout), answerer.wait_connected(timeout))


def trickle(a: RTCPeerConnection, b: RTCPeerConnection) -> None:
    """Forward each side's ``icecandidate`` events to the other's addIceCandidate, buffering
    those that arrive before the remote description (what an application does)."""
    for source, target in ((a, b), (b, a)):
        buffered: list[RTCIceCandidate | None] = []

        async def deliver(candidate: RTCIceCandidate | None, target: RTCPeerConnection = target,
                          buffered: list[RTCIceCandidate | None] = buffered) -> None:
            if target.connectionState == "closed":
                return
            buffered.append(candidate)
            if target.remoteDescription is None:
                return  # flushed by the next candidate after setRemoteDescription
            while buffered:
                await target.addIceCandidate(buffered.pop(0))

        async def flush(target: RTCPeerConnection = target,
                        buffered: list[RTCIceCandidate | None] = buffered) -> None:
            while buffered and target.remoteDescription is not None \
                    and target.connectionState != "closed":
                await target.addIceCandidate(buffered.pop(0))

        source.on("icecandidate", deliver)
        target.on("signalingstatechange", flush)


async def frame_numbers(track: Any, count: int, timeout: float = 10.0) -> list[int | None]:
    """The pattern numbers of the next ``count`` video frames of a received track."""
    async def take() -> list[int | None]:
        return [pattern_frame_number(await track.recv()) for _ in range(count)]
    return await asyncio.wait_for(take(), timeout)


async def next_frame(track: Any, timeout: float = 10.0) -> Any:
    return await asyncio.wait_for(track.recv(), timeout)


async def received_sizes(track: Any, count: int, timeout: float = 10.0) -> set[tuple[int, int]]:
    sizes = set()
    for _ in range(count):
        frame = await next_frame(track, timeout)
        sizes.add((frame.width, frame.height))
    return sizes


def udp_socket_inodes() -> set[str]:
    """The inodes of this process's open UDP sockets (``/proc/self/fd`` against
    ``/proc/net/udp{,6}``)."""
    udp: set[str] = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                next(f)
                udp.update(line.split()[9] for line in f if line.strip())
        except OSError:
            pass
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match and match.group(1) in udp:
            mine.add(match.group(1))
    return mine


def scheduled_handles(loop: asyncio.AbstractEventLoop) -> set[asyncio.TimerHandle]:
    """Live timer handles of the loop (``loop._scheduled``, CPython's base event loop)."""
    scheduled = getattr(loop, "_scheduled", [])
    return {h for h in scheduled if not h.cancelled()}


async def raises(error: type[BaseException], action: Awaitable[Any] | Callable[[], Any]) -> None:
    with pytest.raises(error):
        result = action() if callable(action) else action
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            await result


# --- signaling (W3C §4.3.1, §4.4.1.5, §4.4.1.6) ----------------------------------------------


def test_signaling_state_machine_errors_and_events() -> None:
    """The states an offer/answer walks through, the InvalidStateErrors of JSEP §5.5/5.6 for a
    description of the wrong type, and the events fired for each change."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra, rb = Recorder(a), Recorder(b)
        assert (a.signalingState, a.iceGatheringState, a.iceConnectionState,
                a.connectionState) == ("stable", "new", "new", "new")
        assert a.localDescription is None and a.remoteDescription is None
        # nothing to answer in stable
        await raises(InvalidStateError, a.createAnswer())
        await raises(InvalidStateError, a.setLocalDescription({"type": "answer", "sdp": ""}))
        a.addTransceiver("audio")
        offer = await a.createOffer()
        assert offer.type == "offer" and offer.sdp.startswith("v=0")
        await raises(InvalidStateError, a.setRemoteDescription(
            RTCSessionDescription(offer.sdp, "answer")))
        await a.setLocalDescription(offer)
        assert a.signalingState == "have-local-offer"
        assert a.localDescription is not None and a.localDescription.type == "offer"
        assert a.pendingLocalDescription is not None and a.currentLocalDescription is None
        # W3C §4.4.1.6 (JSEP §5.5): a local answer needs a remote offer
        await raises(InvalidStateError, a.setLocalDescription({"type": "answer",
                                                               "sdp": offer.sdp}))
        await b.setRemoteDescription(a.localDescription)
        assert b.signalingState == "have-remote-offer"
        assert b.remoteDescription is not None and b.remoteDescription.type == "offer"
        # W3C §4.4.1.6: the answerer's track event comes with the offer, after the state event
        assert [e.track.kind for e in rb.tracks] == ["audio"]
        assert rb.track_states == ["have-remote-offer"]
        b.addTrack(ToneTrack())  # takes the transceiver the offer made: the answer sends too
        # JSEP §5.2: no offer from have-remote-offer; no remote answer there either
        await raises(InvalidStateError, b.createOffer())
        await raises(InvalidStateError, b.setRemoteDescription(
            RTCSessionDescription(offer.sdp, "answer")))
        answer = await b.createAnswer()
        assert answer.type == "answer"
        await b.setLocalDescription(answer)
        assert b.signalingState == "stable"
        assert b.currentLocalDescription is not None
        await a.setRemoteDescription(answer)
        assert a.signalingState == "stable"
        assert a.currentLocalDescription is not None and a.pendingLocalDescription is None
        # the offerer's track event comes with the answer, after signalingstatechange
        assert [e.track.kind for e in ra.tracks] == ["audio"] and ra.track_states == ["stable"]
        await raises(InvalidStateError, a.setRemoteDescription(answer))  # stable again
        await asyncio.gather(a.wait_connected(10), b.wait_connected(10))
        await settle()
        assert ra.states["signalingstatechange"] == ["have-local-offer", "stable"]
        assert rb.states["signalingstatechange"] == ["have-remote-offer", "stable"]
        for r in (ra, rb):
            assert r.states["icegatheringstatechange"] == ["gathering", "complete"]
            ice = r.states["iceconnectionstatechange"]
            assert ice[0] == "checking" and ice[-1] in ("connected", "completed")
            assert "connected" in ice and len(ice) == len(set(ice))
            assert r.states["connectionstatechange"] == ["connecting", "connected"]
        await a.close()
        await b.close()
        assert a.signalingState == "closed" and a.connectionState == "closed"
        assert a.iceConnectionState == "closed"
        # every method of a closed connection raises InvalidStateError (W3C §4.4.1.1)
        await raises(InvalidStateError, a.createOffer())
        await raises(InvalidStateError, a.setLocalDescription())
        await raises(InvalidStateError, a.setRemoteDescription(answer))
        await raises(InvalidStateError, a.addIceCandidate(None))
        await raises(InvalidStateError, lambda: a.addTransceiver("video"))
        await raises(InvalidStateError, lambda: a.createDataChannel("x"))
        await raises(InvalidStateError, lambda: a.addTrack(ToneTrack()))
        a.restartIce()  # W3C: no exception, nothing happens
        assert a.signalingState == "closed"
    run(main(), 30)


def test_implicit_set_local_description_offer_and_answer() -> None:
    """W3C §4.4.1.6: setLocalDescription() creates the offer or answer the state calls for;
    descriptions given as dictionaries are accepted."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        a.createDataChannel("x")
        await a.setLocalDescription()
        assert a.signalingState == "have-local-offer" and a.localDescription is not None
        assert a.localDescription.type == "offer"
        await b.setRemoteDescription(a.localDescription.to_json())
        await b.setLocalDescription()
        assert b.signalingState == "stable" and b.localDescription is not None
        assert b.localDescription.type == "answer"
        await a.setRemoteDescription({"type": "answer", "sdp": b.localDescription.sdp})
        await asyncio.gather(a.wait_connected(10), b.wait_connected(10))
        # a second implicit offer in have-local-offer is allowed too
        a.addTransceiver("audio")
        await a.setLocalDescription()
        await a.setLocalDescription()
        assert a.signalingState == "have-local-offer"
        await a.close()
        await b.close()
    run(main(), 30)


def test_pranswer_then_answer() -> None:
    """A provisional answer (W3C have-local-pranswer / have-remote-pranswer) connects, then the
    final answer: both sides end stable and connected."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra, rb = Recorder(a), Recorder(b)
        a.addTransceiver("audio")
        a.createDataChannel("x")
        await a.setLocalDescription()
        assert a.localDescription is not None
        await b.setRemoteDescription(a.localDescription)
        answer = await b.createAnswer()
        await b.setLocalDescription(RTCSessionDescription(answer.sdp, "pranswer"))
        assert b.signalingState == "have-local-pranswer"
        assert b.localDescription is not None and b.localDescription.type == "pranswer"
        await a.setRemoteDescription(b.localDescription)
        assert a.signalingState == "have-remote-pranswer"
        # W3C §4.4.1.6 (webrtc-pc #2235): no rollback from the pranswer states
        rollback = RTCSessionDescription("", "rollback")
        await raises(InvalidStateError, b.setLocalDescription(rollback))
        await raises(InvalidStateError, a.setRemoteDescription(rollback))
        assert (a.signalingState, b.signalingState) == ("have-remote-pranswer",
                                                        "have-local-pranswer")
        # the provisional answer already starts ICE, DTLS and SCTP (W3C §4.4.1.6)
        await asyncio.gather(a.wait_connected(10), b.wait_connected(10))
        # an answer can still come; createAnswer works in have-local-pranswer
        await b.setLocalDescription()
        assert b.localDescription is not None and b.localDescription.type == "answer"
        await a.setRemoteDescription(b.localDescription)
        assert a.signalingState == b.signalingState == "stable"
        await asyncio.gather(a.wait_connected(10), b.wait_connected(10))
        await settle()
        assert ra.states["signalingstatechange"] == [
            "have-local-offer", "have-remote-pranswer", "stable"]
        assert rb.states["signalingstatechange"] == [
            "have-remote-offer", "have-local-pranswer", "stable"]
        await a.close()
        await b.close()
    run(main(), 30)


# --- trickle ICE (W3C §4.8.1, RFC 8838) --------------------------------------------------------


def _without_candidates(sdp: str) -> str:
    return "".join(line + "\r\n" for line in sdp.splitlines()
                   if not line.startswith(("a=candidate:", "a=end-of-candidates")))


def test_trickle_ice_through_icecandidate_events_only() -> None:
    """Descriptions travel without candidates; candidates only as ``icecandidate`` events over
    an ordered signaling channel, where they arrive before the description they belong to --
    the receiver buffers them as applications do (addIceCandidate before setRemoteDescription
    is an InvalidStateError), then the ``None`` end-of-candidates."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra, rb = Recorder(a), Recorder(b)
        channel = a.createDataChannel("trickle")
        a.addTransceiver("audio")
        pending: dict[RTCPeerConnection, list[RTCIceCandidate | None]] = {a: [], b: []}
        added: dict[RTCPeerConnection, list[RTCIceCandidate | None]] = {a: [], b: []}

        async def deliver_candidate(to: RTCPeerConnection, c: RTCIceCandidate | None) -> None:
            if to.remoteDescription is None:
                with pytest.raises(InvalidStateError):
                    await to.addIceCandidate(c)
                pending[to].append(c)
                return
            await to.addIceCandidate(c)
            added[to].append(c)

        async def deliver_description(to: RTCPeerConnection,
                                      d: RTCSessionDescription) -> None:
            await to.setRemoteDescription(d)
            buffered, pending[to] = pending[to], []
            for c in buffered:
                await to.addIceCandidate(c)
                added[to].append(c)

        # the signaling channel: what each side produced, in order
        outbox: dict[RTCPeerConnection, list[Any]] = {a: [], b: []}
        for pc in (a, b):
            pc.on("icecandidate", lambda c, pc=pc: outbox[pc].append(c))

        offer = await a.createOffer()
        assert "a=candidate" not in offer.sdp
        await a.setLocalDescription(offer)
        assert not outbox[a]  # W3C: candidates come in later tasks, after the call returns
        await wait_for(lambda: None in outbox[a], what="a's end of candidates")
        assert a.iceGatheringState == "complete"
        # a signaling channel may deliver them before the offer: the receiver buffers them
        for c in outbox[a]:
            await deliver_candidate(b, c)
        assert pending[b] and pending[b][-1] is None
        await deliver_description(b, RTCSessionDescription(offer.sdp, "offer"))
        answer = await b.createAnswer()
        assert "a=candidate" not in answer.sdp
        await b.setLocalDescription(answer)
        await wait_for(lambda: None in outbox[b], what="b's end of candidates")
        # the answer first this time, then b's candidates
        await deliver_description(a, RTCSessionDescription(_without_candidates(answer.sdp),
                                                           "answer"))
        for c in outbox[b]:
            await deliver_candidate(a, c)
        await asyncio.gather(a.wait_connected(10), b.wait_connected(10))
        await channel.wait_open(10)
        for r, pc in ((ra, a), (rb, b)):
            real = [c for c in r.candidates if c is not None]
            assert real and r.candidates[-1] is None and r.candidates.count(None) == 1
            assert pc.localDescription is not None
            sdp = pc.localDescription.sdp
            ufrag = re.search(r"a=ice-ufrag:(\S+)", sdp)
            first_mid = re.search(r"a=mid:(\S+)", sdp)
            assert ufrag and first_mid
            for c in real:
                assert c.candidate.startswith("candidate:") and " typ host" in c.candidate
                assert (c.sdpMid, c.sdpMLineIndex) == (first_mid.group(1), 0)
                assert c.usernameFragment == ufrag.group(1)
                # localDescription carries every candidate gathered so far (W3C §4.4.1.2)
                assert "a=" + c.candidate in sdp
            assert "a=end-of-candidates" in sdp
        assert added[b][-1] is None and added[a][-1] is None
        # the selected pair uses the trickled candidates
        stats = await a.getStats()
        transport = next(s for s in stats.values() if s.type == "transport")
        pair = stats[transport.selectedCandidatePairId]
        remote = stats[pair.remoteCandidateId]
        assert any(f" {remote.port} typ host" in c.candidate for c in outbox[b] if c)
        await a.close()
        await b.close()
    run(main(), 30)


# --- transceivers (W3C §5) ---------------------------------------------------------------------


async def goes_quiet(read: Callable[[], Awaitable[int]], period: float = 0.3,
                     timeout: float = 5.0) -> int:
    """Wait until ``read()`` stops increasing for ``period`` s (what is in flight lands);
    TimeoutError if it keeps increasing -- absence can only be seen over a quiet period."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value = await read()
    while True:
        await asyncio.sleep(period)
        now = await read()
        if now == value:
            return now
        if loop.time() > deadline:
            raise TimeoutError(f"still increasing: {value} -> {now}")
        value = now


async def packets_received(pc: RTCPeerConnection, kind: str) -> int:
    stats = await pc.getStats()
    return sum(s.packetsReceived for s in stats.values()
               if s.type == "inbound-rtp" and s.kind == kind)


async def packets_sent(pc: RTCPeerConnection, kind: str) -> int:
    stats = await pc.getStats()
    return sum(s.packetsSent for s in stats.values()
               if s.type == "outbound-rtp" and s.kind == kind)


def test_add_transceiver_every_direction_and_the_answer() -> None:
    """addTransceiver with each direction (and a track): the answerer's transceivers, their
    directions and currentDirections, the track events, getSenders/getReceivers."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra, rb = Recorder(a), Recorder(b)
        tone = ToneTrack()
        video = VideoPatternTrack(width=160, height=120, fps=15)
        offered = [
            a.addTransceiver(tone, direction="sendrecv"),
            a.addTransceiver(video, direction="sendonly"),
            a.addTransceiver("audio", direction="recvonly"),
            a.addTransceiver("video", direction="inactive"),
        ]
        assert [t.mid for t in offered] == [None] * 4  # not associated before an offer
        assert [t.direction for t in offered] == ["sendrecv", "sendonly", "recvonly",
                                                  "inactive"]
        assert offered[0].sender.track is tone and offered[1].sender.track is video
        assert offered[2].sender.track is None
        assert a.getSenders() == [t.sender for t in offered]
        assert a.getReceivers() == [t.receiver for t in offered]
        assert [r.track.kind for r in a.getReceivers()] == ["audio", "video", "audio", "video"]
        with pytest.raises(ValueError):
            a.addTransceiver("audio", direction="sideways")
        with pytest.raises(ValueError):
            a.addTransceiver("text")
        await connect(a, b)
        mids = [t.mid for t in offered]
        assert None not in mids and len(set(mids)) == 4
        remote = b.getTransceivers()
        assert [t.mid for t in remote] == mids
        assert [t.kind for t in remote] == ["audio", "video", "audio", "video"]
        # created by the offer, with no track to send: recvonly (W3C §4.4.1.6)
        assert [t.direction for t in remote] == ["recvonly"] * 4
        assert [t.currentDirection for t in remote] == ["recvonly", "recvonly", "inactive",
                                                        "inactive"]
        assert [t.currentDirection for t in offered] == ["sendonly", "sendonly", "inactive",
                                                         "inactive"]
        # a track event for each receiving transceiver, none for the rest
        assert [e.transceiver.mid for e in rb.tracks] == mids[:2]
        assert [e.track.kind for e in rb.tracks] == ["audio", "video"]
        assert all(e.track is e.receiver.track and e.transceiver.receiver is e.receiver
                   for e in rb.tracks)
        assert not ra.tracks
        audio_frame = await next_frame(rb.tracks[0].track)
        video_frame = await next_frame(rb.tracks[1].track)
        assert audio_frame.sample_rate == 48000
        assert (video_frame.width, video_frame.height) == (160, 120)
        # the answerer adds a track to the recvonly audio transceiver: it becomes sendrecv
        sender = b.addTrack(ToneTrack())
        assert sender is remote[0].sender and remote[0].direction == "sendrecv"
        await settle()
        assert rb.negotiationneeded == 1
        await exchange(b, a)
        assert remote[0].currentDirection == "sendrecv"
        assert offered[0].currentDirection == "sendrecv"
        assert [e.transceiver for e in ra.tracks] == [offered[0]]
        await next_frame(ra.tracks[0].track)
        await a.close()
        await b.close()
    run(main(), 40)


def test_remove_track_and_add_a_track_mid_call() -> None:
    """removeTrack stops sending at once and, after renegotiation, the transceivers become
    recvonly/inactive and the other side receives nothing more; a track added mid-call
    arrives after its renegotiation."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra, rb = Recorder(a), Recorder(b)
        channel = a.createDataChannel("x")
        await connect(a, b)
        await channel.wait_open(10)
        await settle()
        assert ra.negotiationneeded == 1
        # mid-call: a video track, then renegotiation
        sender = a.addTrack(VideoPatternTrack(width=160, height=120, fps=15))
        await settle()
        assert ra.negotiationneeded == 2
        await exchange(a, b)
        assert len(rb.tracks) == 1 and rb.tracks[0].track.kind == "video"
        await frame_numbers(rb.tracks[0].track, 3)
        transceiver = a.getTransceivers()[0]
        assert transceiver.currentDirection == "sendonly"
        # removeTrack
        a.removeTrack(sender)
        assert sender.track is None and transceiver.direction == "recvonly"
        await settle()
        assert ra.negotiationneeded == 3
        await exchange(a, b)
        assert transceiver.currentDirection == "inactive"
        remote = b.getTransceivers()[0]
        assert remote.currentDirection == "inactive"
        # nothing more is sent or received
        sent = await goes_quiet(lambda: packets_sent(a, "video"))
        received = await goes_quiet(lambda: packets_received(b, "video"))
        assert await packets_sent(a, "video") == sent
        assert await packets_received(b, "video") == received
        # the data channel kept working through both renegotiations
        got: list[Any] = []
        rb.channels[0].on("message", got.append)
        channel.send("still here")
        await wait_for(lambda: got == ["still here"], what="a message")
        await a.close()
        await b.close()
    run(main(), 40)


def test_replace_track_switches_video_without_renegotiation() -> None:
    """RTCRtpSender.replaceTrack (W3C §5.2): the receiver sees the new source's frames (told
    apart by size), no negotiationneeded fires, the signaling state stays stable; a track of
    the other kind is refused; replaceTrack(None) stops sending."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra, rb = Recorder(a), Recorder(b)
        small = VideoPatternTrack(width=160, height=120, fps=15)
        large = VideoPatternTrack(width=320, height=240, fps=15)
        sender = a.addTrack(small)
        await connect(a, b)
        track = rb.tracks[0].track
        assert (160, 120) in await received_sizes(track, 3)
        await settle()
        before = ra.negotiationneeded
        await sender.replaceTrack(large)
        assert sender.track is large
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while (frame := await next_frame(track)).width != 320:
            assert loop.time() < deadline
        assert (frame.width, frame.height) == (320, 240)
        assert await received_sizes(track, 3) == {(320, 240)}
        await settle()
        assert ra.negotiationneeded == before and a.signalingState == "stable"
        with pytest.raises(TypeError):
            await sender.replaceTrack(ToneTrack())
        await sender.replaceTrack(None)
        assert sender.track is None
        await goes_quiet(lambda: packets_sent(a, "video"))
        # and back: sending resumes with no negotiation
        await sender.replaceTrack(small)
        await wait_for(lambda: small.readyState == "live", what="live")
        while (frame := await next_frame(track)).width != 160:
            assert loop.time() < deadline + 10
        assert ra.negotiationneeded == before
        await a.close()
        await b.close()
    run(main(), 40)


def test_answer_with_the_track_the_offer_brought() -> None:
    """The echo pattern (aiortc's server examples): the answerer's track handler runs during
    setRemoteDescription(offer) and adds the received track back; the answer carries it, and
    the offerer receives its own video pattern back (numbers survive decode and re-encode)."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra = Recorder(a)
        a.addTrack(VideoPatternTrack(width=160, height=120, fps=15))
        b.on("track", lambda event: b.addTrack(event.track))
        await a.setLocalDescription()
        assert a.localDescription is not None
        await b.setRemoteDescription(a.localDescription)
        assert [s.track is not None for s in b.getSenders()] == [True]
        await b.setLocalDescription()
        assert b.localDescription is not None
        assert re.search(r"^a=sendrecv", b.localDescription.sdp, re.M)
        await a.setRemoteDescription(b.localDescription)
        await asyncio.gather(a.wait_connected(10), b.wait_connected(10))
        assert [e.track.kind for e in ra.tracks] == ["video"]
        echoed = await frame_numbers(ra.tracks[0].track, 3)
        assert None not in echoed and echoed == sorted(echoed)
        await settle()
        assert b.signalingState == "stable" and not b._core.negotiation_needed
        await a.close()
        await b.close()
    run(main(), 30)


def test_transceiver_stop_rejects_its_section() -> None:
    """transceiver.stop() (W3C §5.4): negotiation needed; the next offer rejects the section
    with port 0; afterwards both sides' transceivers are stopped and gone from
    getTransceivers(), and the other transceiver keeps its media."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra, rb = Recorder(a), Recorder(b)
        audio = a.addTransceiver(ToneTrack())
        video = a.addTransceiver(VideoPatternTrack(width=160, height=120, fps=15))
        await connect(a, b)
        await settle()
        nn = ra.negotiationneeded
        remote_audio = next(e.track for e in rb.tracks if e.track.kind == "audio")
        audio.stop()
        assert audio.direction == "stopped"
        # W3C §5.4: sending and receiving stop at once; the receiver's track ends, the
        # application's own track does not
        assert audio.receiver.track.readyState == "ended"
        assert audio.sender.track is not None and audio.sender.track.readyState == "live"
        assert remote_audio.readyState == "live"  # until the negotiation rejects the section
        await settle()
        assert ra.negotiationneeded == nn + 1
        offer = await a.createOffer()
        m_lines = [line for line in offer.sdp.splitlines() if line.startswith("m=")]
        assert m_lines[0].startswith("m=audio 0 ") and not m_lines[1].startswith("m=video 0 ")
        await exchange(a, b)
        assert audio.currentDirection == "stopped"
        assert a.getTransceivers() == [video]
        assert remote_audio.readyState == "ended"
        assert [t.mid for t in b.getTransceivers()] == [video.mid]
        assert b.remoteDescription is not None
        assert re.search(r"^m=audio 0 ", b.remoteDescription.sdp, re.M)
        await settle()
        assert ra.negotiationneeded == nn + 1 and rb.negotiationneeded == 0
        video_track = next(e.track for e in rb.tracks if e.track.kind == "video")
        await frame_numbers(video_track, 2)
        with pytest.raises(InvalidStateError):
            audio.direction = "sendrecv"
        await a.close()
        await b.close()
    run(main(), 40)


# --- data channels (W3C §6) ----------------------------------------------------------------------


def test_data_channel_init_members_reach_the_other_side() -> None:
    """Every RTCDataChannelInit member: the remote channel (from DCEP, RFC 8832) has the same
    label, protocol, ordered, maxRetransmits, maxPacketLifeTime, priority and id; the ids are
    odd on the DTLS server and even on the client (RFC 8832 §6); a negotiated channel with the
    same id on both sides opens without a datachannel event."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra, rb = Recorder(a), Recorder(b)
        made = [
            a.createDataChannel("plain"),
            a.createDataChannel("unordered", ordered=False, maxRetransmits=0),
            a.createDataChannel("lifetime", ordered=False, maxPacketLifeTime=500),
            a.createDataChannel("proto", protocol="chat.v1", priority="high"),
            a.createDataChannel("rexmit", maxRetransmits=3, priority="very-low"),
        ]
        negotiated_a = a.createDataChannel("neg", negotiated=True, id=7, protocol="p")
        negotiated_b = b.createDataChannel("neg", negotiated=True, id=7, protocol="p")
        assert negotiated_a.id == 7 and negotiated_a.negotiated
        assert all(ch.readyState == "connecting" for ch in made)
        assert made[0].id is None  # W3C: null until the DTLS role is known
        with pytest.raises(ValueError):
            a.createDataChannel("both", maxRetransmits=1, maxPacketLifeTime=1)
        with pytest.raises(ValueError):
            a.createDataChannel("no id", negotiated=True)
        await connect(a, b)
        for ch in [*made, negotiated_a, negotiated_b]:
            await ch.wait_open(10)
        await wait_for(lambda: len(rb.channels) == len(made), what="datachannel events")
        assert not ra.channels
        stats = await a.getStats()
        role = next(s for s in stats.values() if s.type == "transport").dtlsRole
        parity = 1 if role == "server" else 0  # RFC 8832 §6: the client takes even ids
        remote = {ch.label: ch for ch in rb.channels}
        assert set(remote) == {ch.label for ch in made}
        for ch in made:
            other = remote[ch.label]
            assert other.readyState == "open" and not other.negotiated
            assert ch.id is not None and ch.id % 2 == parity and other.id == ch.id
            assert (other.protocol, other.ordered, other.maxRetransmits,
                    other.maxPacketLifeTime, other.priority) == (
                ch.protocol, ch.ordered, ch.maxRetransmits, ch.maxPacketLifeTime, ch.priority)
        assert (made[1].ordered, made[1].maxRetransmits) == (False, 0)
        assert made[2].maxPacketLifeTime == 500
        assert (made[3].protocol, made[3].priority) == ("chat.v1", "high")
        assert made[4].priority == "very-low" and made[0].priority == "low"
        assert len({ch.id for ch in made}) == len(made)
        # every channel carries messages both ways, the negotiated pair too
        pairs = [(ch, remote[ch.label]) for ch in made] + [(negotiated_a, negotiated_b)]
        for x, y in pairs:
            got_y: list[Any] = []
            got_x: list[Any] = []
            y.on("message", got_y.append)
            x.on("message", got_x.append)
            x.send(f"to b on {x.label}")
            y.send(f"to a on {y.label}".encode())
            await wait_for(lambda gx=got_x, gy=got_y: bool(gx and gy), what="messages")
            assert got_y == [f"to b on {x.label}"] and got_x == [f"to a on {y.label}".encode()]
        await a.close()
        await b.close()
    run(main(), 30)


def test_data_channels_opened_mid_call_and_closed_before_connecting() -> None:
    """A channel created during the call opens on both sides with no renegotiation (DCEP on
    the existing association, W3C §6.1); one closed before the SCTP transport existed is
    never opened on the wire."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        ra, rb = Recorder(a), Recorder(b)
        first = a.createDataChannel("first")
        stillborn = a.createDataChannel("stillborn")
        stillborn.close()
        assert stillborn.readyState == "closed"
        await connect(a, b)
        await first.wait_open(10)
        await settle()
        count = ra.negotiationneeded
        late = a.createDataChannel("late")
        from_b = b.createDataChannel("from b")
        await late.wait_open(10)
        await from_b.wait_open(10)
        await wait_for(lambda: len(rb.channels) == 2 and len(ra.channels) == 1,
                       what="datachannel events")
        assert [c.label for c in rb.channels] == ["first", "late"]
        assert [c.label for c in ra.channels] == ["from b"]
        assert late.id is not None and from_b.id is not None and late.id % 2 != from_b.id % 2
        await settle()
        assert ra.negotiationneeded == count and rb.negotiationneeded == 0
        assert stillborn.readyState == "closed"
        await a.close()
        await b.close()
    run(main(), 30)


def test_data_channel_messages_of_every_kind_and_size() -> None:
    """Text, binary and empty messages up to the SCTP transport's maxMessageSize arrive whole
    and with their type; a larger one is a TypeError (W3C §6.2 send())."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        rb = Recorder(b)
        channel = a.createDataChannel("sizes")
        await connect(a, b)
        await channel.wait_open(10)
        await wait_for(lambda: bool(rb.channels), what="datachannel")
        peer = rb.channels[0]
        assert a.sctp is not None
        limit = a.sctp.maxMessageSize
        assert limit >= 65536
        got: list[Any] = []
        peer.on("message", got.append)
        sent: list[str | bytes] = ["hello", "", b"", "héllo ✓", b"\x00", os.urandom(1200),
                                   os.urandom(65536), "x" * 100_000, os.urandom(limit)]
        for message in sent:
            channel.send(message)
        with pytest.raises(TypeError):
            channel.send(b"\x00" * (limit + 1))
        await wait_for(lambda: len(got) == len(sent), 20, "every message")
        for message, received in zip(sent, got, strict=True):
            assert received == message and type(received) is type(message)
        await a.close()
        await b.close()
    run(main(), 40)


def test_buffered_amount_and_bufferedamountlow() -> None:
    """bufferedAmount counts what send() queued and not yet sent; it falls to 0 and
    bufferedamountlow fires once it crosses the threshold (W3C §6.2)."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        rb = Recorder(b)
        channel = a.createDataChannel("bulk")
        await connect(a, b)
        await channel.wait_open(10)
        await wait_for(lambda: bool(rb.channels), what="datachannel")
        received = []
        rb.channels[0].on("message", lambda m: received.append(len(m)))
        channel.bufferedAmountLowThreshold = 64 * 1024
        assert channel.bufferedAmountLowThreshold == 64 * 1024
        low: list[int] = []
        channel.on("bufferedamountlow", lambda: low.append(channel.bufferedAmount))
        chunk = os.urandom(16 * 1024)
        for _ in range(64):
            channel.send(chunk)
        assert channel.bufferedAmount > 64 * 1024  # a megabyte cannot leave at once
        assert channel.bufferedAmount <= 64 * len(chunk)
        await wait_for(lambda: bool(low), 20, "bufferedamountlow")
        assert low[0] <= 64 * 1024
        await channel.drain(0, 20)
        assert channel.bufferedAmount == 0
        await wait_for(lambda: len(received) == 64, 20, "all of it")
        assert len(low) == 1
        await a.close()
        await b.close()
    run(main(), 40)


@pytest.mark.parametrize("closer", ["offerer", "answerer"])
def test_data_channel_close_from_either_side(closer: str) -> None:
    """RTCDataChannel.close() (W3C §6.2, RFC 8831 §6.7 stream reset): close fires on both
    sides, both end "closed", sending is refused, and the other channels stay open."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        rb = Recorder(b)
        doomed = a.createDataChannel("doomed")
        survivor = a.createDataChannel("survivor")
        await connect(a, b)
        await doomed.wait_open(10)
        await survivor.wait_open(10)
        await wait_for(lambda: len(rb.channels) == 2, what="datachannels")
        remote = {ch.label: ch for ch in rb.channels}
        ours, theirs = doomed, remote["doomed"]
        closes: list[str] = []
        ours.on("close", lambda: closes.append("a"))
        theirs.on("close", lambda: closes.append("b"))
        (ours if closer == "offerer" else theirs).close()
        assert (ours if closer == "offerer" else theirs).readyState in ("closing", "closed")
        await wait_for(lambda: sorted(closes) == ["a", "b"], 10, "close on both sides")
        assert ours.readyState == theirs.readyState == "closed"
        with pytest.raises(InvalidStateError):
            ours.send("late")
        got: list[Any] = []
        remote["survivor"].on("message", got.append)
        survivor.send("alive")
        await wait_for(lambda: got == ["alive"], what="the other channel")
        await settle()
        assert sorted(closes) == ["a", "b"]  # once each
        await a.close()
        await b.close()
    run(main(), 30)


# --- getStats (W3C webrtc-stats) ---------------------------------------------------------------

STATS_TYPES = {"peer-connection", "transport", "candidate-pair", "local-candidate",
               "remote-candidate", "certificate", "codec", "inbound-rtp", "outbound-rtp",
               "remote-inbound-rtp", "remote-outbound-rtp", "media-source", "data-channel"}
REFERENCES = ("transportId", "codecId", "localCandidateId", "remoteCandidateId",
              "selectedCandidatePairId", "localCertificateId", "remoteCertificateId",
              "mediaSourceId", "remoteId", "localId")


def test_get_stats_has_every_type_with_sane_values() -> None:
    """Audio and video both ways and a data channel: getStats has every stats type the
    webrtc-stats spec defines for them, every id it references exists, counters grow, the
    RTT is positive, and the selected pair, certificates and ciphers are the ones in use."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        rb = Recorder(b)
        for pc in (a, b):
            pc.addTrack(ToneTrack())
            pc.addTrack(VideoPatternTrack(width=160, height=120, fps=15))
        channel = a.createDataChannel("stats")
        await connect(a, b)
        await channel.wait_open(10)
        channel.send("one")
        channel.send(b"two")
        await wait_for(lambda: bool(rb.channels), what="datachannel")

        async def complete() -> bool:
            report = await a.getStats()
            types = {s.type for s in report.values()}
            outbound = sum(1 for s in report.values() if s.type == "outbound-rtp")
            remote_in = sum(1 for s in report.values() if s.type == "remote-inbound-rtp"
                            and s.get("roundTripTime"))
            remote_out = sum(1 for s in report.values() if s.type == "remote-outbound-rtp")
            return types >= STATS_TYPES and outbound == remote_in == remote_out == 2

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15  # RTCP reports go about once a second (RFC 3550 §6.2)
        while not await complete():
            assert loop.time() < deadline, sorted({s.type for s in (await a.getStats())
                                                   .values()})
            await asyncio.sleep(0.1)
        first = await a.getStats()
        for stats in first.values():
            assert stats.id and stats.type in STATS_TYPES and stats.timestamp > 0
            for key in REFERENCES:
                if stats.get(key) is not None:
                    assert stats[key] in first, f"{stats.id}.{key} = {stats[key]} is missing"
        by_type: dict[str, list[Any]] = {}
        for stats in first.values():
            by_type.setdefault(stats.type, []).append(stats)
        [transport] = by_type["transport"]
        assert transport.dtlsState == "connected" and transport.dtlsRole in ("client", "server")
        assert transport.srtpCipher and transport.dtlsCipher
        pair = first[transport.selectedCandidatePairId]
        assert pair.type == "candidate-pair" and pair.state == "succeeded" and pair.nominated
        assert pair.currentRoundTripTime > 0
        assert first[pair.localCandidateId].type == "local-candidate"
        assert first[pair.remoteCandidateId].type == "remote-candidate"
        assert first[pair.localCandidateId].address == "127.0.0.1"
        local_cert = first[transport.localCertificateId]
        assert local_cert.type == "certificate" and local_cert.fingerprintAlgorithm == "sha-256"
        assert first[transport.remoteCertificateId].type == "certificate"
        assert {c.mimeType for c in by_type["codec"]} >= {"audio/opus", "video/VP8"}
        assert {s.kind for s in by_type["media-source"]} == {"audio", "video"}
        assert {s.kind for s in by_type["inbound-rtp"]} == {"audio", "video"}
        for s in by_type["remote-inbound-rtp"]:
            assert s.roundTripTime > 0 and s.localId in first
        for s in by_type["remote-outbound-rtp"]:
            # the SR's NTP time, on the sender's (here the same) wall clock
            assert abs(s.remoteTimestamp - s.timestamp) < 60_000
        [dc] = by_type["data-channel"]
        assert (dc.label, dc.state, dc.messagesSent, dc.bytesSent) == ("stats", "open", 2, 6)
        assert by_type["peer-connection"][0].dataChannelsOpened == 1
        video_in = next(s for s in by_type["inbound-rtp"] if s.kind == "video")
        assert video_in.framesDecoded > 0 and video_in.frameWidth == 160
        # counters only grow
        sent_before = {s.id: s.packetsSent for s in by_type["outbound-rtp"]}
        received_before = {s.id: s.packetsReceived for s in by_type["inbound-rtp"]}

        async def grown() -> bool:
            report = await a.getStats()
            return all(report[k].packetsSent > v for k, v in sent_before.items()) and all(
                report[k].packetsReceived > v for k, v in received_before.items())
        while not await grown():
            assert loop.time() < deadline + 10
            await asyncio.sleep(0.05)
        later = await a.getStats()
        assert later[transport.id].bytesSent > transport.bytesSent
        assert later[transport.id].packetsReceived > transport.packetsReceived
        # the other side agrees on what crossed
        theirs = await b.getStats()
        assert {s.ssrc for s in theirs.values() if s.type == "inbound-rtp"} == {
            s.ssrc for s in later.values() if s.type == "outbound-rtp"}
        await a.close()
        await b.close()
    run(main(), 40)


# --- close() (W3C §4.4.1.3) ----------------------------------------------------------------------


class Leaks:
    """What the process has before, to compare after: tasks, UDP sockets, timer handles."""

    def __init__(self) -> None:
        self.tasks = set(asyncio.all_tasks())
        self.sockets = udp_socket_inodes()
        self.loop = asyncio.get_running_loop()
        self.handles = scheduled_handles(self.loop)  # run()'s own deadline

    async def check(self) -> None:
        await settle()
        left = set(asyncio.all_tasks()) - self.tasks
        assert not left, f"tasks left behind: {left}"
        assert udp_socket_inodes() <= self.sockets, "UDP sockets left open"
        left_timers = scheduled_handles(self.loop) - self.handles
        assert not left_timers, f"timers left behind: {left_timers}"


async def closes_promptly(pc: RTCPeerConnection, limit: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await pc.close()
    assert loop.time() - started < limit
    assert pc.signalingState == "closed" and pc.connectionState == "closed"


def test_close_in_every_state_leaves_nothing_behind() -> None:
    """close() before any description, twice, after an offer only, in the middle of the
    handshake, during a call with media and data, and with gathering still waiting for an
    unreachable STUN server: each finishes promptly and leaves no task, UDP socket or timer."""
    async def main() -> None:
        leaks = Leaks()
        # never used; twice
        idle = make_pc()
        await closes_promptly(idle)
        await closes_promptly(idle)
        await leaks.check()
        # sockets open, an offer set, no answer
        lonely = make_pc()
        lonely.addTrack(ToneTrack())
        await lonely.setLocalDescription()
        assert udp_socket_inodes() - leaks.sockets
        await closes_promptly(lonely)
        await leaks.check()
        # in the middle of the handshake (ICE checks / DTLS flights under way)
        a, b = make_pc(), make_pc()
        a.createDataChannel("x")
        a.addTrack(VideoPatternTrack(width=160, height=120, fps=15))
        await exchange(a, b)
        assert a.connectionState != "connected"
        await closes_promptly(a)
        await closes_promptly(b)
        await leaks.check()
        # a call with media and data both ways
        a, b = make_pc(), make_pc()
        rb = Recorder(b)
        for pc in (a, b):
            pc.addTrack(ToneTrack())
            pc.addTrack(VideoPatternTrack(width=160, height=120, fps=15))
        channel = a.createDataChannel("x")
        await connect(a, b)
        await channel.wait_open(10)
        await next_frame(next(e.track for e in rb.tracks if e.track.kind == "video"))
        channel.send(os.urandom(200_000))  # still in flight
        await asyncio.gather(closes_promptly(a), closes_promptly(b))
        assert channel.readyState == "closed"
        await leaks.check()
        # gathering waits for a STUN server that never answers
        loop = asyncio.get_running_loop()
        silent, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                        local_addr=("127.0.0.1", 0))
        port = silent.get_extra_info("sockname")[1]
        try:
            from rtcstack.asyncio.peer import RTCIceServer
            waiting = make_pc(RTCConfiguration(iceServers=[
                RTCIceServer(f"stun:127.0.0.1:{port}"),
                RTCIceServer(f"turn:127.0.0.1:{port}", "user", "pass")]))
            waiting.createDataChannel("x")
            await waiting.setLocalDescription()
            await settle()
            assert waiting.iceGatheringState == "gathering"
            await closes_promptly(waiting)
        finally:
            silent.close()
        await leaks.check()
    run(main(), 40)


def test_the_other_side_sees_the_close() -> None:
    """After one side closes, the other's data channels close at once (DTLS close_notify,
    RFC 5246 §7.2.1 ends SCTP with it), its received tracks end, its DTLS transport is closed,
    and ICE consent (RFC 7675) then takes its connectionState to disconnected."""
    async def main() -> None:
        a, b = make_pc(), make_pc()
        rb = Recorder(b)
        a.addTrack(ToneTrack())
        channel = a.createDataChannel("x")
        await connect(a, b)
        await channel.wait_open(10)
        await wait_for(lambda: bool(rb.channels), what="datachannel")
        remote = rb.channels[0]
        closed = asyncio.Event()
        remote.on("close", closed.set)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await a.close()
        await asyncio.wait_for(closed.wait(), 5)
        assert loop.time() - started < 2
        assert remote.readyState == "closed"
        stats = await b.getStats()
        assert next(s for s in stats.values() if s.type == "transport").dtlsState == "closed"
        assert b.connectionState in ("connected", "disconnected", "failed")
        await wait_for(lambda: b.connectionState in ("disconnected", "failed"), 30,
                       "ICE consent to expire")
        assert rb.states["connectionstatechange"][-1] in ("disconnected", "failed")
        await b.close()
    run(main(), 45)
