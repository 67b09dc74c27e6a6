"""``rtcstack loopback``: the main job -- two rtcstack peers call each other on this machine.

Alice and Bob are two :class:`~rtcstack.asyncio.peer.RTCPeerConnection`\\ s in one process.  They
exchange an offer and an answer and trickle their ICE candidates to each other in memory (the
signaling a real application does over a server), then connect over real UDP sockets on
127.0.0.1: ICE checks, the DTLS handshake, SRTP keys, the SCTP association and a data channel,
and audio (a tone) and video (a moving test pattern) each way, encoded and decoded.  The command
prints a timeline of what each layer did, in order, with the time since the offer was made,
and a summary of both sides' ``getStats()`` at the end.  No browser, no network beyond loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from rtcstack.dtls.constants import HandshakeType

_VIDEO = {"vp8": ("VP8", None), "vp9": ("VP9", "0"), "h264": ("H264", None)}
_AUDIO = {"opus": "opus", "pcmu": "PCMU", "pcma": "PCMA"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="how long the call runs once connected (default 4)")
    parser.add_argument("--video", choices=sorted(_VIDEO), default="vp8",
                        help="the video codec (default vp8)")
    parser.add_argument("--audio", choices=sorted(_AUDIO), default="opus",
                        help="the audio codec (default opus)")
    parser.add_argument("--size", default="320x240", help="video size WxH (default 320x240)")
    parser.add_argument("--no-media", action="store_true", help="a data channel only")
    parser.add_argument("--verbose", action="store_true",
                        help="every ICE check and DTLS message, not only the first ones")
    parser.add_argument("--json", action="store_true",
                        help="print the timeline and the stats as one JSON document")


class Timeline:
    """Trace events of both peers, as readable lines with the time since ``start``."""

    def __init__(self, verbose: bool) -> None:
        self.start = time.perf_counter()
        self.verbose = verbose
        self.entries: list[dict[str, Any]] = []
        self._counts: dict[tuple[str, str], int] = {}

    def add(self, who: str, layer: str, text: str, **fields: Any) -> None:
        ms = (time.perf_counter() - self.start) * 1000
        self.entries.append({"ms": round(ms, 2), "peer": who, "layer": layer, "text": text,
                             **{k: str(v) for k, v in fields.items()}})

    def once(self, who: str, key: str, limit: int = 1) -> bool:
        n = self._counts.get((who, key), 0)
        self._counts[(who, key)] = n + 1
        return self.verbose or n < limit

    def trace_for(self, who: str) -> Callable[..., None]:
        def trace(event: str, /, **f: Any) -> None:
            self._on_trace(who, event, f)
        return trace

    def _on_trace(self, who: str, event: str, f: dict[str, Any]) -> None:
        if event == "ice.gathered":
            self.add(who, "ice", f"gathered {f.get('candidate')}")
        elif event == "ice.check" and self.once(who, "check", 2):
            pair = f.get("pair")
            nominate = " USE-CANDIDATE" if f.get("nominate") else ""
            self.add(who, "ice", f"check {_pair(pair)}{nominate}")
        elif event == "ice.valid" and self.once(who, "valid"):
            rtt = f.get("rtt")
            self.add(who, "ice", f"valid pair {_pair(f.get('pair'))}"
                     + (f" rtt {rtt * 1000:.2f} ms" if isinstance(rtt, float) else ""))
        elif event == "ice.selected":
            self.add(who, "ice", f"selected {_pair(f.get('pair'))}")
        elif event == "ice.state":
            self.add(who, "ice", f"{f.get('old')} -> {f.get('new')}")
        elif event == "peer.dtls-start":
            self.add(who, "dtls", f"start as {f['role']}")
        elif event == "dtls.message" and self.once(who, f"dtls{f.get('type')}"):
            try:
                name = HandshakeType(int(f["type"])).name
            except (ValueError, KeyError, TypeError):
                name = str(f.get("type"))
            self.add(who, "dtls", f"<- {name}")
        elif event == "dtls.retransmit":
            self.add(who, "dtls", "flight retransmitted")
        elif event == "dtls.connected":
            self.add(who, "dtls", "handshake complete")
        elif event == "peer.srtp-keys":
            self.add(who, "srtp", f"keys exported: {f['profile']}")
        elif event == "sctp.state":
            self.add(who, "sctp", f"{f['old']} -> {f['new']}")
        elif event == "peer.rtp-first-sent":
            self.add(who, "rtp", f"first {f['kind']} frame sent: {f['codec']} ssrc {f['ssrc']} "
                     f"({f['packets']} packets)")
        elif event == "peer.rtp-first-received":
            self.add(who, "rtp", f"first {f['kind']} packet received: ssrc {f['ssrc']} "
                     f"pt {f['pt']}")
        elif event == "peer.rtcp-first-sent":
            self.add(who, "rtcp", "first compound sent: " + "+".join(f["packets"]))
        elif event == "peer.rtcp-first-received":
            self.add(who, "rtcp", "first compound received: " + "+".join(f["packets"]))

    def render(self) -> str:
        return "\n".join(f"{e['ms']:9.2f} ms  {e['peer']:<5}  {e['layer']:<6}  {e['text']}"
                         for e in self.entries)


def _pair(pair: Any) -> str:
    if pair is None:
        return "?"
    try:
        return f"{pair.local.address}:{pair.local.port} -> {pair.remote.address}:{pair.remote.port}"
    except AttributeError:
        return str(pair)


def _codec_preferences(kind: str, name: str, profile: str | None) -> list[Any]:
    from rtcstack.sdp.codecs import default_codecs

    chosen = [c for c in default_codecs(kind) if c.name.lower() == name.lower()
              and (profile is None or c.param("profile-id", "0") == profile)]
    numbers = {str(c.payload_type) for c in chosen}
    return chosen + [c for c in default_codecs(kind) if c.is_rtx and c.param("apt") in numbers]


async def _call(args: argparse.Namespace, timeline: Timeline) -> dict[str, Any]:
    from rtcstack.asyncio.peer import RTCPeerConnection

    width, _, height = args.size.partition("x")
    names = ("alice", "bob")
    pcs = {who: RTCPeerConnection(addresses=["127.0.0.1"], loopback=True,
                                  trace=timeline.trace_for(who)) for who in names}
    frames: dict[str, dict[str, int]] = {who: {"audio": 0, "video": 0} for who in names}
    readers: list[asyncio.Task[None]] = []
    pending: dict[str, list[Any]] = {who: [] for who in names}
    echoes: list[float] = []
    done = asyncio.Event()

    for who in names:
        pc = pcs[who]
        other = names[1 - names.index(who)]
        if not args.no_media:
            from rtcstack.media import ToneTrack, VideoPatternTrack

            pc.addTrack(ToneTrack())
            pc.addTrack(VideoPatternTrack(width=int(width), height=int(height), fps=30))
            for t in pc.getTransceivers():
                if t.kind == "video":
                    t.setCodecPreferences(_codec_preferences("video", *_VIDEO[args.video]))
                else:
                    t.setCodecPreferences(_codec_preferences("audio", _AUDIO[args.audio], None))

        def on_state(who: str = who, pc: Any = pc) -> None:
            timeline.add(who, "peer", f"connectionState {pc.connectionState}")

        def on_signaling(who: str = who, pc: Any = pc) -> None:
            timeline.add(who, "sdp", f"signalingState {pc.signalingState}")

        async def on_candidate(candidate: Any, other: str = other) -> None:
            target = pcs[other]
            if target.remoteDescription is None:
                pending[other].append(candidate)
            else:
                await target.addIceCandidate(candidate)

        def on_track(event: Any, who: str = who) -> None:
            readers.append(asyncio.ensure_future(_read(event.track, who, frames, timeline)))

        pc.on("connectionstatechange", on_state)
        pc.on("signalingstatechange", on_signaling)
        pc.on("icecandidate", on_candidate)
        pc.on("track", on_track)

    alice, bob = pcs["alice"], pcs["bob"]
    channel = alice.createDataChannel("chat")

    @bob.on("datachannel")
    def on_datachannel(ch: Any) -> None:
        timeline.add("bob", "data", f"channel {ch.label!r} opened by the peer (id {ch.id})")
        ch.on("message", lambda message: ch.send(message))

    sent_at: dict[str, float] = {}

    def on_message(message: Any) -> None:
        echoes.append((time.perf_counter() - sent_at[message]) * 1000)
        if len(echoes) == 1:
            timeline.add("alice", "data", f"first echo back after {echoes[0]:.2f} ms")
        if len(echoes) >= 20:
            done.set()

    channel.on("message", on_message)
    channel.on("open", lambda: timeline.add("alice", "data", f"channel 'chat' open "
                                             f"(id {channel.id})"))

    try:
        timeline.start = time.perf_counter()
        # the implicit offer, then the implicit answer: each goes to the other side, which
        # then takes the candidates that trickled in before it had a remote description
        for who, other in (("alice", "bob"), ("bob", "alice")):
            await pcs[who].setLocalDescription()
            description = pcs[who].localDescription
            if description is None:  # pragma: no cover - set just above
                raise ConnectionError(f"{who} has no local description")
            timeline.add(who, "sdp", _describe(description))
            await pcs[other].setRemoteDescription(description)
            for c in pending[other]:
                await pcs[other].addIceCandidate(c)
        await asyncio.gather(alice.wait_connected(15), bob.wait_connected(15))
        await channel.wait_open(10)
        for i in range(20):
            text = f"ping {i}"
            sent_at[text] = time.perf_counter()
            channel.send(text)
            await asyncio.sleep(args.seconds / 40)
        await asyncio.wait_for(done.wait(), 10)
        if not args.no_media:
            await asyncio.sleep(max(0.0, args.seconds / 2))
        stats = {who: await pcs[who].getStats() for who in names}
    finally:
        closing = time.perf_counter()
        await asyncio.gather(alice.close(), bob.close())
        timeline.add("both", "peer", f"closed in {(time.perf_counter() - closing) * 1000:.1f} ms")
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    return {"frames": frames, "echo_ms": echoes, "stats": stats}


def _describe(description: Any) -> str:
    kinds = [line.split()[0][2:] for line in description.sdp.splitlines() if line.startswith("m=")]
    return f"{description.type}: {', '.join(kinds)} ({len(description.sdp)} bytes)"


async def _read(track: Any, who: str, frames: dict[str, dict[str, int]],
                timeline: Timeline) -> None:
    from rtcstack.media import MediaStreamError

    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        frames[who][track.kind] += 1
        if frames[who][track.kind] == 1:
            detail = (f"{frame.width}x{frame.height}" if track.kind == "video"
                      else f"{frame.samples} samples at {frame.sample_rate} Hz")
            timeline.add(who, "media", f"first {track.kind} frame decoded: {detail}")


def _summary(result: dict[str, Any], seconds: float) -> list[str]:
    lines = []
    for who, report in result["stats"].items():
        values = list(report.values())
        by_id = {s["id"]: s for s in values}
        transport: dict[str, Any] = next((s for s in values if s["type"] == "transport"), {})
        pair = by_id.get(transport.get("selectedCandidatePairId"), {})
        local = by_id.get(pair.get("localCandidateId"), {})
        remote = by_id.get(pair.get("remoteCandidateId"), {})
        lines.append(f"{who}:")
        lines.append(f"  transport  {local.get('address')}:{local.get('port')} -> "
                     f"{remote.get('address')}:{remote.get('port')}  "
                     f"{transport.get('dtlsCipher')} / {transport.get('srtpCipher')}  "
                     f"DTLS {transport.get('dtlsRole')}")
        for s in values:
            if s["type"] == "outbound-rtp":
                remote_in = by_id.get(s.get("remoteId"), {})
                rtt = remote_in.get("roundTripTime")
                lines.append(
                    f"  sent {s['kind']:<5}  {s['packetsSent']} packets, {s['bytesSent']} bytes"
                    + (f", {s.get('framesEncoded')} frames" if s["kind"] == "video" else "")
                    + (f", RTT {rtt * 1000:.2f} ms" if rtt is not None else "")
                    + (f", peer lost {remote_in.get('packetsLost')}" if remote_in else ""))
            elif s["type"] == "inbound-rtp":
                lines.append(
                    f"  recv {s['kind']:<5}  {s['packetsReceived']} packets, lost "
                    f"{s['packetsLost']}, jitter {s['jitter'] * 1000:.2f} ms, "
                    f"{s.get('framesDecoded', 0)} frames decoded")
            elif s["type"] == "data-channel":
                lines.append(f"  data '{s['label']}'  {s['messagesSent']} sent, "
                             f"{s['messagesReceived']} received")
    echoes = sorted(result["echo_ms"])
    if echoes:
        lines.append(f"data channel echo: median {echoes[len(echoes) // 2]:.2f} ms over "
                     f"{len(echoes)} messages")
    frames = result["frames"]
    lines.append("decoded: " + ", ".join(f"{who} {f['video']} video / {f['audio']} audio frames"
                                         for who, f in frames.items()))
    return lines


def run(args: argparse.Namespace) -> int:
    timeline = Timeline(args.verbose)
    try:
        result = asyncio.run(_call(args, timeline))
    except (TimeoutError, ConnectionError) as exc:
        print(timeline.render())
        print(f"the call failed: {exc!r}")
        return 1
    ok = bool(result["echo_ms"]) and (args.no_media or all(
        f["video"] > 0 and f["audio"] > 0 for f in result["frames"].values()))
    if args.json:
        print(json.dumps({"ok": ok, "timeline": timeline.entries,
                          "frames": result["frames"], "echo_ms": result["echo_ms"],
                          "stats": {who: list(r.values())
                                    for who, r in result["stats"].items()}},
                         indent=2, default=str))
    else:
        print(timeline.render())
        print()
        print("\n".join(_summary(result, args.seconds)))
        print("OK: the call worked" if ok else "FAILED: no media or no data")
    return 0 if ok else 1
