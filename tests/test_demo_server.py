"""The demo server (rtcstack.demo) without a browser: the page, /config and /status over HTTP on
the signaling port, the WebSocket only on /ws, https with the self-signed certificate, and the
echo peer called by an rtcstack RTCPeerConnection that follows the page's conventions (room
``echo-*``, impolite caller, negotiated ``chat`` and ``stats`` channels): it gets its own
video back frame by frame, chat answers and rtcstack's stats, and hanging up frees everything.
The browser itself calls the demo in tests/interop/test_demo_browser.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("websockets")

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rtcstack.asyncio.signaling import SignalingClient, pair_with_peer_connection
from rtcstack.demo import ECHO_NAME, DemoServer, self_signed_context, summarize_stats
from rtcstack.demo.server import STATIC_FILES, StatsSummary, _read_static
from tests.helpers import insecure_tls_client, run
from tests.test_asyncio_peer import make_pc, wait_for


def fetch(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


async def afetch(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str, bytes]:
    return await asyncio.to_thread(fetch, url, context)


def test_page_config_status_and_websocket_path() -> None:
    async def main() -> None:
        ice = [{"urls": "stun:stun.example.org:3478"}]
        async with DemoServer("127.0.0.1", 0, ice_servers=ice) as demo:
            base = demo.url
            assert base == f"http://127.0.0.1:{demo.port}/"
            for path, (name, ctype) in STATIC_FILES.items():
                status, got_type, body = await afetch(base + path.lstrip("/"))
                assert (status, got_type) == (200, ctype), path
                assert body == _read_static(name) and body
            status, ctype, body = await afetch(base + "config")
            assert (status, ctype) == (200, "application/json")
            assert json.loads(body)["iceServers"] == ice
            assert json.loads(body)["echoPrefix"] == "echo-"
            for path in ("nope", "static/index.html", "..%2Fpyproject.toml", "ws"):
                status, _, _ = await afetch(base + path)
                assert status == 404 if path != "ws" else status in (404, 426), path
            # the WebSocket answers on /ws only
            with pytest.raises(InvalidStatus):
                async with ws_connect(f"ws://127.0.0.1:{demo.port}/other"):
                    pass
            client = await SignalingClient.open(demo.signaling.url)
            me, peers = await client.join("a-room", "me")
            assert peers == []
            status, _, body = await afetch(base + "status")
            report = json.loads(body)
            assert report["rooms"] == {"a-room": [me]} and report["echo_calls"] == []
            assert report["signaling"]["connections"] == 1
            await client.close()
    run(main(), 20)


def test_https_and_wss_with_the_self_signed_certificate() -> None:
    async def main() -> None:
        context = self_signed_context(["localhost", "127.0.0.1"])
        async with DemoServer("127.0.0.1", 0, ssl=context) as demo:
            assert demo.url.startswith("https://") and demo.signaling.url.startswith("wss://")
            status, _, body = await afetch(demo.url, insecure_tls_client())
            assert status == 200 and body == _read_static("index.html")
            # a client that checks certificates refuses it: it is self-signed
            with pytest.raises(urllib.error.URLError):
                await afetch(demo.url)
            client = await SignalingClient.open(demo.signaling.url, ssl=insecure_tls_client())
            _, peers = await client.join("tls-room")
            assert peers == []
            await client.close()
    run(main(), 20)


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    await wait_for(predicate, timeout, what)


async def call_echo(demo: DemoServer, body: Callable[..., Awaitable[None]]) -> None:
    """Call the echo peer the way the page does, run ``body(client, pc, channels, echo)``,
    then hang up the way the page does."""
    from rtcstack.media import ToneTrack, VideoPatternTrack

    client = await SignalingClient.open(demo.signaling.url)
    _, peers = await client.join("echo-0123abcd", "python caller")
    assert peers == []
    joined = await asyncio.wait_for(client.recv(), 10)
    assert joined["type"] == "peer-joined" and joined["name"] == ECHO_NAME
    pc = make_pc()
    negotiation = pair_with_peer_connection(client, pc, polite=False, peer_id=joined["id"])
    pc.addTrack(VideoPatternTrack(width=320, height=240))
    pc.addTrack(ToneTrack())
    channels = {label: pc.createDataChannel(label, negotiated=True, id=n)
                for n, label in enumerate(("chat", "stats"))}
    try:
        await body(client, pc, channels, next(iter(demo.echo_calls)))
    finally:
        await negotiation.close()
        await pc.close()
        with contextlib.suppress(ConnectionClosed):  # the server may have stopped first
            await client.leave()
        await client.close()


def test_echo_peer_sends_the_call_back_answers_chat_and_sends_its_stats() -> None:
    from rtcstack.media import pattern_frame_number

    async def main() -> None:
        events: list[str] = []
        async with DemoServer("127.0.0.1", 0,
                              on_event=lambda e, f: events.append(e)) as demo:
            async def body(client: SignalingClient, pc: Any, channels: dict[str, Any],
                           echo: Any) -> None:
                received: dict[str, list[Any]] = {"chat": [], "stats": []}
                for label, channel in channels.items():
                    channel.on("message", received[label].append)
                tracks: list[Any] = []
                pc.on("track", lambda event: tracks.append(event.track))
                await pc.wait_connected(15)
                await until(lambda: len(tracks) == 2, 10, "the echoed tracks")
                video = next(t for t in tracks if t.kind == "video")
                numbers = []
                while len(numbers) < 15:
                    frame = await asyncio.wait_for(video.recv(), 10)
                    number = pattern_frame_number(frame)
                    if number is not None:
                        numbers.append(number)
                # our own pattern, through the echo peer's decoder and encoder, in order
                assert numbers == sorted(numbers) and numbers[-1] - numbers[0] >= 10, numbers
                await channels["chat"].wait_open(5)
                channels["chat"].send(json.dumps({"text": "hello rtcstack", "name": "me"}))
                channels["chat"].send("not the page's format: no answer")
                await until(lambda: bool(received["chat"]), 10, "the chat answer")
                answer = json.loads(received["chat"][0])
                assert answer["text"] == "rtcstack heard: hello rtcstack"
                assert answer["name"] == "rtcstack" and answer["sent"] > 0
                await until(lambda: len(received["stats"]) >= 2, 10, "stats from rtcstack")
                report = json.loads(received["stats"][-1])
                assert report["from"] == "rtcstack"
                types = {s["type"] for s in report["stats"]}
                assert {"outbound-rtp", "inbound-rtp", "candidate-pair", "transport"} <= types
                summary = summarize_stats({s["id"]: s for s in report["stats"]})
                assert summary.bytes_sent > 0 and summary.bytes_received > 0
                assert summary.rtt_ms is not None and summary.frames_decoded > 0
                status = json.loads((await afetch(demo.url + "status"))[2])
                [call] = status["echo_calls"]
                assert call["room"] == "echo-0123abcd" and call["state"] == "connected"
                assert call["tracks_echoed"] == 2 and call["chat_messages"] == 1
                assert call["send_bps"] > 0 and call["recv_bps"] > 0
                assert echo.pc.connectionState == "connected"
                assert "connected" in echo.call.line()

            await call_echo(demo, body)
            # hanging up frees the echo peer, its room and its connection
            await until(lambda: not demo.echo_calls and not demo.signaling.rooms()
                        and demo.signaling.stats.connections == 0, 10, "everything freed")
            [ended] = demo.ended
            assert ended.state == "ended: the caller left"
            assert events.count("echo-start") == events.count("echo-end") == 1
    run(main(), 60)


def test_stopping_the_server_ends_a_live_echo_call() -> None:
    async def main() -> None:
        demo = DemoServer("127.0.0.1", 0)
        await demo.start()
        peers: list[Any] = []

        async def body(client: SignalingClient, pc: Any, channels: dict[str, Any],
                       echo: Any) -> None:
            await pc.wait_connected(15)
            peers.append(echo)
            await demo.close()
            assert not demo.echo_calls and echo.pc.connectionState == "closed"
            assert echo.call.state == "ended: server stopping"

        await call_echo(demo, body)
        assert peers
    run(main(), 40)


def test_echo_peer_gives_up_when_the_caller_left_first() -> None:
    async def main() -> None:
        async with DemoServer("127.0.0.1", 0) as demo:
            client = await SignalingClient.open(demo.signaling.url)
            await client.join("echo-gone", "caller")
            await client.leave()
            await until(lambda: not demo.echo_calls and not demo.signaling.rooms(), 10,
                        "the echo peer gone")
            assert demo.echo_calls_total == 1
            assert demo.ended[0].state.startswith("ended: the caller left")
            # an ordinary room gets no echo peer, and the echo peer's own join starts none
            await client.join("plain-room")
            await asyncio.sleep(0.2)
            assert demo.echo_calls_total == 1
            await client.close()
    run(main(), 20)


def test_echo_calls_are_bounded() -> None:
    async def main() -> None:
        refused: list[dict[str, Any]] = []

        def on_event(event: str, fields: dict[str, Any]) -> None:
            if event == "echo-refused":
                refused.append(fields)

        async with DemoServer("127.0.0.1", 0, max_echo_calls=0, on_event=on_event) as demo:
            client = await SignalingClient.open(demo.signaling.url)
            await client.join("echo-full")
            await until(lambda: bool(refused), 5, "the refusal")
            assert refused == [{"room": "echo-full", "reason": "too many echo calls"}]
            assert not demo.echo_calls
            await client.close()
    run(main(), 20)


def test_summarize_stats_reads_a_browser_report() -> None:
    """The page's stats and rtcstack's share webrtc-stats names; a Chromium-shaped report."""
    report = {
        "T01": {"id": "T01", "type": "transport", "timestamp": 1000.0,
                "selectedCandidatePairId": "CP1"},
        "CP1": {"id": "CP1", "type": "candidate-pair", "timestamp": 1000.0,
                "currentRoundTripTime": 0.012},
        "OT1": {"id": "OT1", "type": "outbound-rtp", "kind": "video", "bytesSent": 1000},
        "OT2": {"id": "OT2", "type": "outbound-rtp", "kind": "audio", "bytesSent": 500},
        "IT1": {"id": "IT1", "type": "inbound-rtp", "kind": "video", "bytesReceived": 800,
                "framesDecoded": 30},
        "IT2": {"id": "IT2", "type": "inbound-rtp", "kind": "audio"},
    }
    summary = summarize_stats(report)
    assert summary == StatsSummary(1000.0, 1500, 800, 12.0, 30)
    later = StatsSummary(3000.0, 1500 + 250_000, 800 + 125_000, None, 90)
    assert later.bitrates(summary) == (1_000_000.0, 500_000.0)
    assert later.bitrates(None) == (0.0, 0.0) and summary.bitrates(later) == (0.0, 0.0)
    assert summarize_stats({}) == StatsSummary(0.0, 0, 0, None, 0)


def test_cli_demo_serves_and_stops_cleanly() -> None:
    async def main() -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rtcstack.cli", "demo", "--listen", "127.0.0.1:0",
            "--ice-server", "stun:127.0.0.1:3478", "--ice-server", "turn:127.0.0.1:3478",
            "--ice-username", "u", "--ice-credential", "p",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stderr is not None
        try:
            line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
            assert line.startswith("rtcstack demo on http://127.0.0.1:"), line
            url = line.split()[3]
            status, _, body = await afetch(url)
            assert status == 200 and body == _read_static("index.html")
            config = json.loads((await afetch(url + "config"))[2])
            assert config["iceServers"] == [
                {"urls": "stun:127.0.0.1:3478"},
                {"urls": "turn:127.0.0.1:3478", "username": "u", "credential": "p"}]
            client = await SignalingClient.open(url.replace("http", "ws") + "ws")
            await client.join("cli-room", "me")
            while "joined cli-room" not in line:
                line = (await asyncio.wait_for(proc.stdout.readline(), 5)).decode()
            assert "(me) joined cli-room (1 in room)" in line
            await client.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
        assert "stopped; " in (await proc.stderr.read()).decode()
    run(main(), 30)


def test_cli_demo_rejects_a_bad_ice_url() -> None:
    result = subprocess.run([sys.executable, "-m", "rtcstack.cli", "demo", "--listen",
                             "127.0.0.1:0", "--ice-server", "http://x"],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and "not a stun:, turn: or turns: URL" in result.stderr


class _Sink:
    """Stands in for an open data channel: keeps what is sent."""

    readyState = "open"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, data: str) -> None:
        self.sent.append(data)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200),
                 st.dictionaries(st.sampled_from(["text", "name", "sent", "x"]),
                                 st.none() | st.integers() | st.text(max_size=30)
                                 | st.lists(st.integers(), max_size=3)).map(json.dumps)))
def test_the_echo_peer_answers_any_chat_message_or_ignores_it(data: str | bytes) -> None:
    """Whatever arrives on the chat channel, the echo peer answers the page's format with
    ``rtcstack heard: <text>`` and ignores everything else; it never raises."""
    from rtcstack.demo import EchoPeer

    peer = EchoPeer("ws://127.0.0.1:9/ws", "echo-fuzz")
    sink = _Sink()
    peer._channels["chat"] = sink
    peer._on_chat(data)
    try:
        message = json.loads(data)
        expected = isinstance(message, dict) and "text" in message
    except ValueError:
        expected = False
    assert len(sink.sent) == int(expected)
    if expected:
        reply = json.loads(sink.sent[0])
        assert reply["text"] == f"rtcstack heard: {message['text']}"
        assert peer.call.chat_messages == 1


def test_the_echo_call_ends_when_its_signaling_connection_closes() -> None:
    async def main() -> None:
        demo = DemoServer("127.0.0.1", 0)
        await demo.start()
        ended: list[str] = []

        async def body(client: SignalingClient, pc: Any, channels: dict[str, Any],
                       echo: Any) -> None:
            await pc.wait_connected(15)
            await demo.signaling.close()  # the WebSocket server alone goes away
            await until(lambda: not demo.echo_calls, 10, "the echo call ended")
            ended.append(echo.call.state)

        try:
            await call_echo(demo, body)
        finally:
            await demo.close()
        assert ended == ["ended: signaling closed"]
    run(main(), 40)
