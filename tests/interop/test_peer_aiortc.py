"""rtcstack's ``RTCPeerConnection`` calls aiortc 1.16 (an independent Python WebRTC stack: its own
ICE, DTLS, SRTP, SCTP and codecs) in the same process, on one asyncio loop, over loopback.

1. A call with audio, video and data, in both offer directions, for VP8 + Opus and H.264 +
   PCMU (the offerer's ``setCodecPreferences`` picks them; the answer must agree):

   - aiortc offers: its offer carries every candidate (aiortc never trickles); rtcstack answers
     with the description it has once gathering is complete (candidates and
     ``a=end-of-candidates`` inside).
   - rtcstack offers: its offer goes out with the candidate lines cut, and each candidate
     reaches aiortc through rtcstack's ``icecandidate`` events and aiortc's
     ``addIceCandidate`` (trickle), the None at the end too.

   Then: media decodes on both sides (aiortc's ``track.recv()`` frames, rtcstack's); the frame
   numbers drawn by rtcstack's :class:`VideoPatternTrack`, read back from the pictures aiortc
   decodes, increase; each side opens a data channel and the other echoes text (1- to 4-byte
   UTF-8) and binary of 1 B .. 64 KiB byte for byte; rtcstack's stats agree with what was
   negotiated and happened (inbound-rtp framesDecoded, the codec, remote-inbound-rtp
   roundTripTime from aiortc's receiver reports, the selected pair, the DTLS and SRTP
   ciphers, data-channel counters).

2. Renegotiation without an ICE or DTLS restart: a call of audio + data, then rtcstack
   re-offers adding video (both send it), then aiortc re-offers.  aiortc writes every re-offer
   from its own defaults (Opus 96, VP8 97 + rtx 98, H.264 99-102; MID extension 1,
   abs-send-time 3), whatever was negotiated: payload types and extension IDs that rtcstack
   numbered (everything when rtcstack started the call, the video section it added when aiortc
   did) change meaning, which RFC 3264 §8.3.2 forbids.  Its RTP senders keep the numbers of
   the first negotiation, and its receivers keep their first payload-type table
   (``RTCRtpReceiver.receive`` configures them only once).  rtcstack must cope:

   - its re-offer numbers the new video so that no payload type of the BUNDLE group names two
     codecs (RFC 9143 §7.5; VP8 used to take 96, aiortc's Opus);
   - its answer to aiortc's re-offer takes aiortc's numbers, and it keeps sending on the same
     SSRCs with the payload types of that answer, sequence numbers going on (it used to restart
     them at random under the same SSRC: a replay to SRTP, and ``SrtpReplayError`` ended the
     send loop);
   - it keeps decoding aiortc's media, whose stale payload type may now name rtx (its frames
     went to no decoder) -- the stream's own codec decides.

   aiortc goes on decoding only the kinds whose numbers its re-offer kept (checked for those;
   the others are printed).

aioice leaves 127.0.0.1 out of its host candidates; the tests make it offer only that.
aiortc does not know ``a=bundle-only``: a second section of a kind already in the call, which
rtcstack's re-offer adds bundle-only (port 0; RFC 9143 §7.3 leaves that or a new transport),
gets no receiver started in aiortc, whose router then hands that SSRC to the first video
receiver (two streams in one decoder).  The re-offers here add a new kind only.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

pytest.importorskip("aiortc", reason="aiortc is the peer here: pip install aiortc")

import aioice.ice
from aiortc import RTCPeerConnection as AiortcPeerConnection
from aiortc import RTCRtpSender as AiortcSender
from aiortc import RTCSessionDescription as AiortcDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from aiortc.mediastreams import MediaStreamError as AiortcStreamError
from aiortc.sdp import candidate_from_sdp

from rtcstack.asyncio.peer import (
    RTCDataChannel,
    RTCIceCandidate,
    RTCPeerConnection,
    RTCSessionDescription,
    RTCTrackEvent,
)
from rtcstack.media import MediaStreamError, ToneTrack, VideoPatternTrack, pattern_frame_number
from rtcstack.sdp.codecs import Codec, default_codecs
from tests.interop.call_checks import bytes_of, lines_with, text_of

pytestmark = pytest.mark.interop

SIZES = [1, 1200, 16384, 65536]
STEP = 10.0  # seconds for any one wait
TEST_LIMIT = 30.0  # seconds for a whole test
CODECS = {"vp8-opus": ("VP8", "opus"), "h264-pcmu": ("H264", "PCMU")}


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice leaves 127.0.0.1 out of its host candidates: make it offer only that."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6:
                        ["127.0.0.1"] if use_ipv4 else [])


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(scenario, TEST_LIMIT))




async def until(ready: Callable[[], bool], what: Callable[[], str], timeout: float = STEP
                ) -> None:
    """Poll ``ready`` (every 20 ms) until it holds; fail with ``what()`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, what()
        await asyncio.sleep(0.02)


def strip_candidates(sdp: str) -> str:
    return "".join(line + "\r\n" for line in sdp.split("\r\n") if line and not line.startswith(
        ("a=candidate:", "a=end-of-candidates")))


def local_sdp(pc: RTCPeerConnection) -> str:
    description = pc.localDescription
    assert description is not None
    return description.sdp



def first_codecs(sdp: str) -> dict[str, str]:
    """kind -> the encoding name of the first format of each RTP m-section."""
    out: dict[str, str] = {}
    for section in sdp.split("\r\nm=")[1:]:
        kind, _port, _proto, *formats = section.split("\r\n", 1)[0].split()
        if kind in ("audio", "video"):
            rtpmap = lines_with(section, f"a=rtpmap:{formats[0]} ")[0]
            out[kind] = rtpmap.split(" ", 1)[1].split("/")[0]
    return out


def check_payload_types(sdp: str) -> None:
    """RFC 9143 §7.5: in one BUNDLE group a payload type names one codec configuration."""
    seen: dict[str, set[str]] = {}
    for line in lines_with(sdp, "a=rtpmap:"):
        pt, encoding = line[len("a=rtpmap:"):].split(" ", 1)
        seen.setdefault(pt, set()).add(encoding.lower())
    assert all(len(v) == 1 for v in seen.values()), {k: v for k, v in seen.items() if len(v) > 1}


def extension_ids(sdp: str) -> dict[str, dict[str, str]]:
    """The ``a=extmap`` IDs of each m-section: kind -> URI -> ID."""
    out: dict[str, dict[str, str]] = {}
    for section in sdp.split("\r\nm=")[1:]:
        ids = out.setdefault(section.split(" ", 1)[0], {})
        for line in lines_with(section, "a=extmap:"):
            ident, uri = line[len("a=extmap:"):].split(" ")[:2]
            ids[uri] = ident.split("/")[0]
    return out


def rtcstack_preferences(kind: str, name: str) -> list[Codec]:
    """rtcstack's default codecs of ``kind`` named ``name`` (the first profile) and its rtx."""
    codecs = default_codecs(kind)
    primary = [c for c in codecs if c.name.lower() == name.lower()][:1]
    pts = {str(c.payload_type) for c in primary}
    return primary + [c for c in codecs if c.is_rtx and c.param("apt") in pts]


def aiortc_preferences(kind: str, name: str) -> list[Any]:
    codecs = AiortcSender.getCapabilities(kind).codecs
    return [c for c in codecs if c.mimeType.lower() in (f"{kind}/{name}".lower(),
                                                        f"{kind}/rtx")]


# --- the two peers ------------------------------------------------------------------------------


class Side:
    """What both wrappers keep: frames decoded per kind, the channels each side opened or was
    offered, and what arrived on each; every channel the other side opens is echoed."""

    name = ""

    def __init__(self) -> None:
        self.frames: Counter[str] = Counter()
        self.channels: dict[str, Any] = {}
        self.inboxes: dict[str, asyncio.Queue[str | bytes]] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def keep(self, channel: Any, *, echo: bool) -> Any:
        inbox: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.inboxes[channel.label] = inbox
        self.channels[channel.label] = channel

        def on_message(message: str | bytes) -> None:
            inbox.put_nowait(message)
            if echo:
                channel.send(message)

        channel.on("message", on_message)
        return channel

    async def wait_frames(self, kind: str, count: int) -> None:
        await until(lambda: self.frames[kind] >= count,
                    lambda: f"{self.name} decoded {self.frames[kind]} {kind} frames, "
                            f"not {count}")

    async def echo(self, label: str, sizes: list[int]) -> None:
        """Send each size as text and as binary on our channel ``label``; the other side
        echoes it: it must come back equal, text as text and binary as binary."""
        channel = self.channels[label]
        await until(lambda: channel.readyState == "open",
                    lambda: f"{self.name}: channel {label!r} is {channel.readyState}")
        for size in sizes:
            for message in (text_of(size), bytes_of(size)):
                channel.send(message)
                got = await asyncio.wait_for(self.inboxes[label].get(), STEP)
                assert type(got) is type(message), (self.name, label, size, type(got))
                assert got == message, f"{self.name}: the echo of {size} B on {label} differs"

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()


class Rtcstack(Side):
    name = "rtcstack"

    def __init__(self) -> None:
        super().__init__()
        self.pc = RTCPeerConnection(addresses=["127.0.0.1"], loopback=True)
        self.candidates: list[RTCIceCandidate | None] = []
        self.pc.on("icecandidate", self.candidates.append)
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", lambda channel: self.keep(channel, echo=True))

    def _on_track(self, event: RTCTrackEvent) -> None:
        track = event.track

        async def drain() -> None:
            while True:
                try:
                    await track.recv()
                except MediaStreamError:
                    return
                self.frames[track.kind] += 1

        self.tasks.append(asyncio.ensure_future(drain()))

    def open_channel(self, label: str) -> RTCDataChannel:
        channel = self.pc.createDataChannel(label)
        self.keep(channel, echo=False)
        return channel

    def add_media(self, kinds: tuple[str, ...], codecs: tuple[str, str] | None = None) -> None:
        for kind in kinds:
            track = ToneTrack() if kind == "audio" else VideoPatternTrack(width=320, height=240)
            transceiver = self.pc.addTransceiver(track)
            if codecs is not None:
                name = codecs[1] if kind == "audio" else codecs[0]
                transceiver.setCodecPreferences(rtcstack_preferences(kind, name))

    def answer_media(self) -> None:
        """Send on every transceiver the remote offer made that has no track yet."""
        for transceiver in self.pc.getTransceivers():
            if transceiver.sender.track is None:
                self.pc.addTrack(ToneTrack() if transceiver.kind == "audio"
                                 else VideoPatternTrack(width=320, height=240))

    async def stats(self) -> dict[str, list[dict[str, Any]]]:
        by_type: dict[str, list[dict[str, Any]]] = {}
        for report in (await self.pc.getStats()).values():
            by_type.setdefault(report["type"], []).append(dict(report))
        return by_type

    async def close(self) -> None:
        self.cancel()
        await self.pc.close()


class Aiortc(Side):
    name = "aiortc"

    def __init__(self) -> None:
        super().__init__()
        self.pc = AiortcPeerConnection()
        self.patterns: dict[str, list[int | None]] = {}  # video track id -> frame numbers
        self.track_frames: Counter[str] = Counter()  # track id -> frames decoded
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", lambda channel: self.keep(channel, echo=True))

    def _on_track(self, track: Any) -> None:
        async def drain() -> None:
            while True:
                try:
                    frame = await track.recv()
                except AiortcStreamError:
                    return
                self.frames[track.kind] += 1
                self.track_frames[track.id] += 1
                if track.kind == "video":
                    self.patterns.setdefault(track.id, []).append(pattern_frame_number(frame))

        self.tasks.append(asyncio.ensure_future(drain()))

    def open_channel(self, label: str) -> Any:
        return self.keep(self.pc.createDataChannel(label), echo=False)

    def add_media(self, kinds: tuple[str, ...], codecs: tuple[str, str] | None = None) -> None:
        for kind in kinds:
            sender = self.pc.addTrack(AudioStreamTrack() if kind == "audio"
                                      else VideoStreamTrack())
            if codecs is not None:
                name = codecs[1] if kind == "audio" else codecs[0]
                transceiver = next(t for t in self.pc.getTransceivers() if t.sender is sender)
                transceiver.setCodecPreferences(aiortc_preferences(kind, name))

    def answer_media(self) -> None:
        for transceiver in self.pc.getTransceivers():
            if transceiver.sender.track is None and transceiver.kind in ("audio", "video"):
                self.pc.addTrack(AudioStreamTrack() if transceiver.kind == "audio"
                                 else VideoStreamTrack())

    async def add_candidate(self, candidate: RTCIceCandidate | None) -> None:
        if candidate is None:
            await self.pc.addIceCandidate(None)
            return
        parsed = candidate_from_sdp(candidate.candidate.split(":", 1)[1])
        parsed.sdpMid, parsed.sdpMLineIndex = candidate.sdpMid, candidate.sdpMLineIndex
        await self.pc.addIceCandidate(parsed)

    async def close(self) -> None:
        self.cancel()
        await self.pc.close()


# --- signaling ----------------------------------------------------------------------------------


async def aiortc_offers(a: Aiortc, r: Rtcstack) -> str:
    """aiortc offers (every candidate inside); rtcstack answers with its complete description.
    Returns the answer."""
    await a.pc.setLocalDescription(await a.pc.createOffer())
    offer = a.pc.localDescription.sdp
    assert lines_with(offer, "a=candidate:"), "aiortc's offer has no candidate"
    await r.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    r.answer_media()
    await r.pc.setLocalDescription(await r.pc.createAnswer())
    await r.pc.wait_gathering_complete(STEP)
    answer = local_sdp(r.pc)
    assert lines_with(answer, "a=candidate:") and "a=end-of-candidates" in answer, answer
    await a.pc.setRemoteDescription(AiortcDescription(answer, "answer"))
    return answer


async def rtcstack_offers(r: Rtcstack, a: Aiortc, *, trickle: bool = True) -> str:
    """rtcstack offers; with ``trickle``, its candidates reach aiortc only through
    ``icecandidate`` events and ``addIceCandidate``.  Returns aiortc's answer."""
    first = len(r.candidates)
    await r.pc.setLocalDescription(await r.pc.createOffer())
    offer = local_sdp(r.pc)
    await a.pc.setRemoteDescription(AiortcDescription(
        strip_candidates(offer) if trickle else offer, "offer"))
    a.answer_media()
    await a.pc.setLocalDescription(await a.pc.createAnswer())
    answer = a.pc.localDescription.sdp
    await r.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    if trickle:
        await until(lambda: None in r.candidates[first:],
                    lambda: f"rtcstack's gathering did not end: {r.candidates}")
        trickled = r.candidates[first:]
        assert trickled[-1] is None and trickled[:-1], trickled
        for candidate in trickled:
            assert candidate is None or (candidate.sdpMid is not None
                                         and candidate.sdpMLineIndex is not None
                                         and candidate.usernameFragment), candidate
            await a.add_candidate(candidate)
    return answer


async def connected(r: Rtcstack, a: Aiortc) -> float:
    start = time.monotonic()
    await r.pc.wait_connected(STEP)
    await until(lambda: a.pc.connectionState == "connected",
                lambda: f"aiortc is {a.pc.connectionState}")
    return time.monotonic() - start


def codec_of(stats: dict[str, list[dict[str, Any]]], report: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in stats["codec"] if c["id"] == report["codecId"])


def outbound_by_mid(stats: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """mid -> its outbound-rtp report, with the codec's payload type as ``pt``."""
    return {s["mid"]: {**s, "pt": int(codec_of(stats, s)["payloadType"])}
            for s in stats["outbound-rtp"]}


def section_of(sdp: str, mid: str) -> str:
    return next(section for section in sdp.split("\r\nm=")[1:]
                if f"\r\na=mid:{mid}\r\n" in section + "\r\n")


async def wait_rtt(r: Rtcstack, kinds: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    """rtcstack's stats once a remote-inbound-rtp report per kind has a roundTripTime."""
    found: dict[str, list[dict[str, Any]]] = {}

    async def poll() -> bool:
        found.update(await r.stats())
        with_rtt = {s["kind"] for s in found.get("remote-inbound-rtp", [])
                    if s.get("roundTripTime") is not None}
        return set(kinds) <= with_rtt

    deadline = time.monotonic() + STEP
    while not await poll():
        assert time.monotonic() < deadline, f"no roundTripTime: {found.get('remote-inbound-rtp')}"
        await asyncio.sleep(0.2)
    return found


# --- 1. a call in each direction, for each codec pair -------------------------------------------


@pytest.mark.parametrize("codecs", list(CODECS), ids=list(CODECS))
@pytest.mark.parametrize("offerer", ["aiortc", "rtcstack"])
def test_call(offerer: str, codecs: str) -> None:
    run(_call(offerer, CODECS[codecs]))


async def _call(offerer: str, codecs: tuple[str, str]) -> None:
    video_name, audio_name = codecs
    start = time.monotonic()
    r, a = Rtcstack(), Aiortc()
    try:
        if offerer == "aiortc":
            a.add_media(("audio", "video"), codecs)
            a.open_channel("from-aiortc")
            answer = await aiortc_offers(a, r)
        else:
            r.add_media(("audio", "video"), codecs)
            r.open_channel("from-rtcstack")
            answer = await rtcstack_offers(r, a)
        # The answer puts the codec the offerer preferred first in each section.
        assert first_codecs(answer) == {"audio": audio_name, "video": video_name}, answer
        connect_s = await connected(r, a)
        # Each side opens a channel in-band once the call is up (its own DCEP, no offer).
        if offerer == "aiortc":
            r.open_channel("from-rtcstack")
        else:
            a.open_channel("from-aiortc")

        await r.echo("from-rtcstack", SIZES)
        await a.echo("from-aiortc", SIZES)
        await a.wait_frames("video", 30)
        await a.wait_frames("audio", 30)
        await r.wait_frames("video", 30)
        await r.wait_frames("audio", 30)

        # The pictures aiortc decoded carry rtcstack's frame numbers, increasing.
        (numbers,) = [list(n) for n in a.patterns.values()]
        assert None not in numbers, numbers
        assert numbers == sorted(set(numbers)), numbers  # type: ignore[type-var]
        assert len(numbers) >= 30 and numbers[-1] - numbers[0] >= 29, numbers  # type: ignore[operator]

        stats = await wait_rtt(r, ("audio", "video"))
        check_call_stats(stats, video_name, audio_name, r)
        elapsed = time.monotonic() - start
        inbound = {s["kind"]: s for s in stats["inbound-rtp"]}
        print(f"\n{offerer} offers {video_name}+{audio_name}: connected "
              f"{connect_s * 1000:.0f} ms after the answer; rtcstack decoded "
              f"{inbound['video']['framesDecoded']} video frames, aiortc {a.frames['video']} "
              f"(pattern {numbers[0]}..{numbers[-1]}); "
              f"rtt {[round(s['roundTripTime'] * 1000, 2) for s in stats['remote-inbound-rtp']]}"
              f" ms; {elapsed:.1f} s in all")
    finally:
        await a.close()
        await r.close()


def check_call_stats(stats: dict[str, list[dict[str, Any]]], video_name: str, audio_name: str,
                     r: Rtcstack) -> None:
    inbound = {s["kind"]: s for s in stats["inbound-rtp"]}
    outbound = {s["kind"]: s for s in stats["outbound-rtp"]}
    assert set(inbound) == set(outbound) == {"audio", "video"}, stats.keys()
    video, audio = inbound["video"], inbound["audio"]
    assert video["framesDecoded"] >= 30 and video["keyFramesDecoded"] >= 1, video
    assert video["frameWidth"] == 640 and video["frameHeight"] == 480, video  # aiortc's size
    assert audio["packetsReceived"] >= 30, audio
    for report in inbound.values():
        assert report["packetsLost"] == 0 or report["packetsLost"] < report["packetsReceived"]
        assert report["jitter"] >= 0 and report["bytesReceived"] > 0
    assert codec_of(stats, video)["mimeType"].lower() == f"video/{video_name}".lower()
    assert codec_of(stats, audio)["mimeType"].lower() == f"audio/{audio_name}".lower()
    for kind, report in outbound.items():
        assert report["packetsSent"] > 0 and report["bytesSent"] > 0, report
        assert codec_of(stats, report)["mimeType"] == codec_of(stats, inbound[kind])["mimeType"]
    assert outbound["video"]["framesEncoded"] >= 30, outbound["video"]
    assert outbound["video"]["frameWidth"] == 320, outbound["video"]
    for remote in stats["remote-inbound-rtp"]:
        assert 0 < remote["roundTripTime"] < 1.0, remote
        assert remote["localId"] in {s["id"] for s in stats["outbound-rtp"]}
    (transport,) = stats["transport"]
    assert transport["dtlsState"] == "connected" and transport["srtpCipher"], transport
    pairs = {p["id"]: p for p in stats["candidate-pair"]}
    selected = pairs[transport["selectedCandidatePairId"]]
    assert selected["state"] == "succeeded" and selected["nominated"], selected
    local = next(c for c in stats["local-candidate"] if c["id"] == selected["localCandidateId"])
    remote_c = next(c for c in stats["remote-candidate"]
                    if c["id"] == selected["remoteCandidateId"])
    assert local["address"] == remote_c["address"] == "127.0.0.1", (local, remote_c)
    channels = {c["label"]: c for c in stats["data-channel"]}
    assert {"from-rtcstack", "from-aiortc"} <= set(channels), channels
    ours = channels["from-rtcstack"]
    assert ours["messagesSent"] == ours["messagesReceived"] == 2 * len(SIZES), ours
    assert ours["state"] == "open"
    assert r.pc.sctp is not None and r.pc.sctp.maxMessageSize >= 65536


# --- 2. renegotiation: rtcstack adds video, then aiortc re-offers ------------------------------


@pytest.mark.parametrize("starter", ["aiortc", "rtcstack"])
def test_renegotiation(starter: str) -> None:
    run(_renegotiation(starter))


async def _renegotiation(starter: str) -> None:
    start = time.monotonic()
    r, a = Rtcstack(), Aiortc()
    try:
        if starter == "aiortc":
            a.add_media(("audio",))
            a.open_channel("from-aiortc")
            await aiortc_offers(a, r)
        else:
            r.add_media(("audio",))
            r.open_channel("from-rtcstack")
            await rtcstack_offers(r, a)
        await connected(r, a)
        if starter == "aiortc":
            r.open_channel("from-rtcstack")
        else:
            a.open_channel("from-aiortc")
        await r.echo("from-rtcstack", [1])
        await r.wait_frames("audio", 10)
        await a.wait_frames("audio", 10)
        ufrags = set(lines_with(local_sdp(r.pc), "a=ice-ufrag:"))

        # rtcstack adds video: a new kind, one more m-section in the same BUNDLE transport
        # (not bundle-only: see the module docstring).
        r.add_media(("video",))
        second = await rtcstack_offers(r, a, trickle=False)
        check_payload_types(local_sdp(r.pc))  # VP8 used to take aiortc's Opus 96
        assert [m.split()[0] for m in lines_with(second, "m=")] == [
            "m=audio", "m=application", "m=video"], second
        await r.wait_frames("video", 30)
        await until(lambda: sum(map(len, a.patterns.values())) >= 30,
                    lambda: f"aiortc decoded {dict(a.frames)}")
        (numbers,) = a.patterns.values()
        assert None not in numbers and numbers == sorted(numbers), numbers  # type: ignore[type-var]

        # aiortc re-offers what is there.
        before = await r.stats()
        received = dict(r.frames)
        await a.pc.setLocalDescription(await a.pc.createOffer())
        reoffer = a.pc.localDescription.sdp
        await r.pc.setRemoteDescription(RTCSessionDescription(reoffer, "offer"))
        await r.pc.setLocalDescription(await r.pc.createAnswer())
        answer = local_sdp(r.pc)
        check_payload_types(answer)
        await a.pc.setRemoteDescription(AiortcDescription(answer, "answer"))
        assert r.pc.signalingState == "stable"
        renumbered = extension_ids(reoffer) != extension_ids(second)
        # rtcstack answers with the offer's numbers (RFC 8285 §6, RFC 3264 §6.1).
        assert set(lines_with(answer, "a=extmap:")) <= set(lines_with(reoffer, "a=extmap:"))
        offered_pts = {line.split()[0] for line in lines_with(reoffer, "a=rtpmap:")}
        assert {line.split()[0] for line in lines_with(answer, "a=rtpmap:")} <= offered_pts

        # No ICE restart, no new DTLS: the channel still echoes, the state never left connected.
        assert set(lines_with(answer, "a=ice-ufrag:")) == ufrags
        await r.echo("from-rtcstack", [1200, 65536])
        await a.echo("from-aiortc", [1200])
        # rtcstack keeps decoding aiortc's media ...
        await until(lambda: all(r.frames[k] >= received.get(k, 0) + 30 for k in
                                ("audio", "video")),
                    lambda: f"rtcstack decoded {dict(r.frames)} after aiortc's re-offer, "
                            f"{received} before")
        # ... and keeps sending on the same SSRCs, with the payload types of the new answer.
        await asyncio.sleep(0.5)
        old, new = outbound_by_mid(before), outbound_by_mid(await r.stats())
        assert set(old) == set(new) and len(new) == 2, new.keys()
        for mid, report in new.items():
            assert report["ssrc"] == old[mid]["ssrc"], mid
            assert report["packetsSent"] > old[mid]["packetsSent"] + 10, (mid, report)
            assert f"a=rtpmap:{report['pt']} " in section_of(answer, mid), (mid, report["pt"])
        assert r.pc.connectionState == "connected"
        # aiortc goes on decoding a section whose payload type its re-offer kept; it drops the
        # others (its receivers keep their first payload-type table).
        kept = [mid for mid in new if new[mid]["pt"] == old[mid]["pt"]]
        tracks = {t.mid: t.receiver.track.id for t in a.pc.getTransceivers()
                  if t.kind in ("audio", "video")}
        got = dict(a.track_frames)
        await until(lambda: all(a.track_frames[tracks[m]] >= got[tracks[m]] + 10 for m in kept),
                    lambda: f"aiortc decoded {dict(a.track_frames)}, {got} before")
        changed = {f"{new[m]['kind']} {m}": (old[m]["pt"], new[m]["pt"])
                   for m in new if m not in kept}
        print(f"\n{starter} started: re-offer by aiortc "
              f"{'renumbered' if renumbered else 'kept'} the extension IDs, payload types "
              f"changed {changed}; rtcstack decoded "
              f"{dict(r.frames)}, aiortc {dict(a.frames)}; {time.monotonic() - start:.1f} s")
    finally:
        await a.close()
        await r.close()
