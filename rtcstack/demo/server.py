"""The demo server: the page, the signaling WebSocket and the built-in Python echo peer, on one
port.  See :mod:`rtcstack.demo` for what a user sees and the conventions the page follows."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import ssl as _ssl
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rtcstack import __version__
from rtcstack.asyncio.signaling import SignalingClient, SignalingError, SignalingServer

__all__ = [
    "ECHO_NAME",
    "DemoServer",
    "EchoCall",
    "EchoPeer",
    "StatsSummary",
    "self_signed_context",
    "summarize_stats",
]

#: The display name the echo peer joins with (the page shows it in the presence list).
ECHO_NAME = "rtcstack echo peer"

#: URL path -> (file under rtcstack/demo/static, content type).
STATIC_FILES: Mapping[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/demo.js": ("demo.js", "text/javascript; charset=utf-8"),
    "/demo.css": ("demo.css", "text/css; charset=utf-8"),
}

#: The page's negotiated data channels (both sides create them: no creation race).
CHAT_CHANNEL = ("chat", 0)
STATS_CHANNEL = ("stats", 1)

# An echo call that has not connected within this many seconds is given up.
CONNECT_TIMEOUT = 30.0


# --- stats ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatsSummary:
    """What the live line shows, from one W3C stats report (any side's: the fields are the
    webrtc-stats names, so a browser's report reads the same)."""

    timestamp_ms: float
    bytes_sent: int  # RTP payload+header bytes of every outbound-rtp
    bytes_received: int  # of every inbound-rtp
    rtt_ms: float | None  # the selected candidate pair's currentRoundTripTime
    frames_decoded: int  # video inbound-rtp framesDecoded

    def bitrates(self, earlier: StatsSummary | None) -> tuple[float, float]:
        """(send, receive) in bit/s since ``earlier`` (0, 0 without one)."""
        if earlier is None or self.timestamp_ms <= earlier.timestamp_ms:
            return 0.0, 0.0
        seconds = (self.timestamp_ms - earlier.timestamp_ms) / 1000
        return ((self.bytes_sent - earlier.bytes_sent) * 8 / seconds,
                (self.bytes_received - earlier.bytes_received) * 8 / seconds)


def summarize_stats(report: Mapping[str, Mapping[str, Any]]) -> StatsSummary:
    """Reduce a getStats report (id -> stats object) to a :class:`StatsSummary`."""
    sent = received = frames = 0
    timestamp = 0.0
    pair_id: str | None = None
    for stats in report.values():
        kind = stats.get("type")
        timestamp = max(timestamp, float(stats.get("timestamp") or 0))
        if kind == "outbound-rtp":
            sent += int(stats.get("bytesSent") or 0)
        elif kind == "inbound-rtp":
            received += int(stats.get("bytesReceived") or 0)
            if stats.get("kind") == "video":
                frames += int(stats.get("framesDecoded") or 0)
        elif kind == "transport" and stats.get("selectedCandidatePairId"):
            pair_id = str(stats["selectedCandidatePairId"])
    rtt = report.get(pair_id, {}).get("currentRoundTripTime") if pair_id else None
    return StatsSummary(timestamp, sent, received,
                        None if rtt is None else float(rtt) * 1000, frames)


# --- the echo peer -------------------------------------------------------------------------------


@dataclass
class EchoCall:
    """The state of one echo call, as ``/status`` and the live line show it."""

    room: str
    state: str = "joining"  # joining, waiting, then the connectionState, then "ended: why"
    started: float = field(default_factory=time.time)
    send_bps: float = 0.0
    recv_bps: float = 0.0
    rtt_ms: float | None = None
    tracks_echoed: int = 0
    chat_messages: int = 0
    stats_sent: int = 0
    frames_decoded: int = 0

    def line(self) -> str:
        rtt = "-" if self.rtt_ms is None else f"{self.rtt_ms:.1f} ms"
        return (f"{self.room} {self.state}  up {self.send_bps / 1e6:.2f} Mbit/s  "
                f"down {self.recv_bps / 1e6:.2f} Mbit/s  rtt {rtt}")


class EchoPeer:
    """The built-in Python peer for one room.

    It joins ``room`` through the demo's own signaling server (a real WebSocket client, the
    same as any other member), answers the browser already there with W3C perfect negotiation
    (it is the polite side: it joined second), sends every track it receives back to it
    (decoded and encoded again by rtcstack: what the browser shows has been through the whole
    stack twice), answers each chat message, and sends its own getStats report over the
    ``stats`` channel once a second.  The call ends when the browser leaves, the connection
    fails or closes, it does not connect within 30 s, or :meth:`stop` is called.
    """

    def __init__(self, url: str, room: str, *, ssl: _ssl.SSLContext | None = None,
                 ice_servers: Sequence[Mapping[str, Any]] = (),
                 peer_options: Mapping[str, Any] | None = None,
                 stats_interval: float = 1.0) -> None:
        self.url = url
        self.room = room
        self.ssl = ssl
        self.ice_servers = list(ice_servers)
        self.peer_options = dict(peer_options or {})
        self.stats_interval = stats_interval
        self.call = EchoCall(room)
        self.pc: Any = None  # the RTCPeerConnection, once made
        self._ended = asyncio.Event()
        self._reason = "hung up"
        self._channels: dict[str, Any] = {}

    def stop(self, reason: str = "stopped") -> None:
        self._end(reason)

    def _end(self, reason: str) -> None:
        if not self._ended.is_set():
            self._reason = reason
            self._ended.set()

    async def run(self) -> None:
        """Join, call, echo until the call ends; always leaves the room and closes everything."""
        client = SignalingClient()
        try:
            await client.connect(self.url, ssl=self.ssl)
            try:
                _, peers = await client.join(self.room, name=ECHO_NAME)
            except SignalingError as exc:
                self.call.state = f"ended: {exc.reason}"
                return
            others = [p for p in peers if p.get("name") != ECHO_NAME]
            if not others:
                self.call.state = "ended: the caller left first"
                return
            await self._call(client, str(others[0]["id"]))
        finally:
            await client.close()

    async def _call(self, client: SignalingClient, peer_id: str) -> None:
        from rtcstack.asyncio.peer import RTCConfiguration, RTCIceServer, RTCPeerConnection
        from rtcstack.asyncio.signaling import pair_with_peer_connection

        servers = [RTCIceServer(**dict(s)) for s in self.ice_servers]
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers or None),
                                         **self.peer_options)
        self.call.state = "waiting"

        def on_message(message: dict[str, Any]) -> None:
            if message.get("type") == "peer-left" and message.get("id") == peer_id:
                self._end("the caller left")

        negotiation = pair_with_peer_connection(
            client, pc, polite=True, peer_id=peer_id, on_message=on_message,
            on_disconnect=lambda: self._end("signaling closed"))
        pc.on("track", self._on_track)
        pc.on("signalingstatechange", self._on_signaling_state)
        pc.on("connectionstatechange", self._on_connection_state)
        reporter = asyncio.ensure_future(self._report())
        try:
            try:
                await asyncio.wait_for(self._ended.wait(), CONNECT_TIMEOUT)
            except TimeoutError:
                if pc.connectionState != "connected":
                    self._end(f"not connected within {CONNECT_TIMEOUT:.0f} s")
                await self._ended.wait()
        finally:
            self.call.state = f"ended: {self._reason}"
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
            await negotiation.close()
            await pc.close()
            with contextlib.suppress(Exception):
                await client.leave()

    # --- events --------------------------------------------------------------------------------

    def _on_track(self, event: Any) -> None:
        """Send the browser's own track back (W3C addTrack reuses the transceiver the offer
        made, so the answer is sendrecv and needs no second round)."""
        self.pc.addTrack(event.track)
        self.call.tracks_echoed += 1

    def _on_signaling_state(self) -> None:
        # The channels are made once the browser's offer (which has the m=application section
        # they need) is in: made earlier, they would have this side offer too, into glare.
        if self.pc.signalingState == "have-remote-offer" and not self._channels:
            for label, stream in (CHAT_CHANNEL, STATS_CHANNEL):
                self._channels[label] = self.pc.createDataChannel(label, negotiated=True,
                                                                  id=stream)
            self._channels["chat"].on("message", self._on_chat)

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if not self._ended.is_set():
            self.call.state = state
        if state in ("failed", "closed"):
            self._end(f"connection {state}")

    def _on_chat(self, data: str | bytes) -> None:
        try:
            message = json.loads(data)
            text = str(message["text"])
        except (ValueError, KeyError, TypeError):
            return  # not the page's format: nothing to answer
        self.call.chat_messages += 1
        self._send("chat", {"text": f"rtcstack heard: {text}", "name": "rtcstack"})

    def _send(self, label: str, message: dict[str, Any]) -> bool:
        """Send on channel ``label`` if it is open; whether it was."""
        channel = self._channels.get(label)
        if channel is None or channel.readyState != "open":
            return False
        message["sent"] = time.time() * 1000
        channel.send(json.dumps(message, default=str, separators=(",", ":")))
        return True

    async def _report(self) -> None:
        """Once a second: the status numbers, and the whole report to the page."""
        previous: StatsSummary | None = None
        while True:
            await asyncio.sleep(self.stats_interval)
            report = await self.pc.getStats()
            summary = summarize_stats(report)
            self.call.send_bps, self.call.recv_bps = summary.bitrates(previous)
            self.call.rtt_ms = summary.rtt_ms
            self.call.frames_decoded = summary.frames_decoded
            previous = summary
            if self._send("stats", {"stats": list(report.values()), "from": "rtcstack"}):
                self.call.stats_sent += 1


# --- the server ----------------------------------------------------------------------------------

EventCallback = Callable[[str, dict[str, Any]], None]


class DemoServer:
    """The page, ``/config``, ``/status`` and the signaling WebSocket (``/ws``) on one port,
    and an :class:`EchoPeer` for every room whose name starts with ``echo_prefix``.

    ``ice_servers``: RTCIceServer dicts (``urls``, ``username``, ``credential``) the page
    offers by default and the echo peer uses.  ``ssl``: serve ``https://`` and ``wss://``
    (browsers allow the camera only on https pages, or on localhost).  ``peer_options``:
    keyword arguments for the echo peer's RTCPeerConnection.  ``on_event(event, fields)``:
    ``join``, ``leave`` (from the signaling server), ``echo-start``, ``echo-end``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, *,
                 ice_servers: Sequence[Mapping[str, Any]] = (),
                 ssl: _ssl.SSLContext | None = None, echo_prefix: str = "echo-",
                 max_echo_calls: int = 8, peer_options: Mapping[str, Any] | None = None,
                 on_event: EventCallback | None = None, max_room_size: int = 16,
                 max_rooms: int = 1000) -> None:
        self.ice_servers = [dict(s) for s in ice_servers]
        self.echo_prefix = echo_prefix
        self.max_echo_calls = max_echo_calls
        self.peer_options = dict(peer_options if peer_options is not None
                                 else {"loopback": True})
        self.on_event = on_event
        self.ssl = ssl
        self.signaling = SignalingServer(host, port, path="/ws", http=self._http, ssl=ssl,
                                         on_event=self._on_signaling_event,
                                         max_room_size=max_room_size, max_rooms=max_rooms)
        self.echo_calls: dict[EchoPeer, asyncio.Task[None]] = {}
        self.echo_calls_total = 0
        self.ended: list[EchoCall] = []  # the last few, for /status
        self._closing = False

    async def start(self) -> None:
        await self.signaling.start()

    async def close(self) -> None:
        """Stop every echo call (each leaves its room), then the server."""
        self._closing = True
        for peer in list(self.echo_calls):
            peer.stop("server stopping")
        if self.echo_calls:
            await asyncio.gather(*self.echo_calls.values(), return_exceptions=True)
        await self.signaling.close()

    async def __aenter__(self) -> DemoServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        return self.signaling.port

    @property
    def url(self) -> str:
        """The page's URL (``http://`` or ``https://``)."""
        host = self.signaling.host
        if host in ("0.0.0.0", "::", ""):
            host = "localhost"
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.ssl else 'http'}://{host}:{self.port}/"

    def status(self) -> dict[str, Any]:
        """What ``/status`` answers: rooms, connections, echo calls (live and recent)."""
        return {
            "version": __version__,
            "signaling": self.signaling.stats.as_dict(),
            "rooms": self.signaling.rooms(),
            "echo_calls": [asdict(p.call) for p in self.echo_calls],
            "echo_calls_total": self.echo_calls_total,
            "echo_calls_ended": [asdict(c) for c in self.ended],
        }

    # --- HTTP ----------------------------------------------------------------------------------

    def _http(self, path: str) -> tuple[int, str, bytes] | None:
        if path in STATIC_FILES:  # read per request: a few KB, and edits show on reload
            name, ctype = STATIC_FILES[path]
            return 200, ctype, _read_static(name)
        if path == "/config":
            config = {"iceServers": self.ice_servers, "echoPrefix": self.echo_prefix,
                      "version": __version__}
            return 200, "application/json", json.dumps(config).encode()
        if path == "/status":
            return 200, "application/json", json.dumps(self.status(), default=str).encode()
        return None

    # --- echo calls ----------------------------------------------------------------------------

    def _on_signaling_event(self, event: str, fields: dict[str, Any]) -> None:
        self._event(event, fields)
        room = str(fields["room"])
        if (event == "join" and room.startswith(self.echo_prefix) and fields["size"] == 1
                and fields.get("name") != ECHO_NAME and not self._closing):
            if len(self.echo_calls) >= self.max_echo_calls:
                self._event("echo-refused", {"room": room, "reason": "too many echo calls"})
                return
            self._start_echo(room)

    def _start_echo(self, room: str) -> None:
        ssl = None
        if self.ssl is not None:  # our own certificate, on our own address
            ssl = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
            ssl.check_hostname = False
            ssl.verify_mode = _ssl.CERT_NONE
        peer = EchoPeer(self._internal_url(), room, ssl=ssl, ice_servers=self.ice_servers,
                        peer_options=self.peer_options)
        self.echo_calls_total += 1
        task = asyncio.ensure_future(peer.run())
        self.echo_calls[peer] = task
        self._event("echo-start", {"room": room})

        def done(_: asyncio.Task[None]) -> None:
            self.echo_calls.pop(peer, None)
            self.ended = [*self.ended[-9:], peer.call]
            if not task.cancelled() and task.exception() is not None:
                peer.call.state = f"ended: {task.exception()!r}"
            self._event("echo-end", {"room": room, "state": peer.call.state})

        task.add_done_callback(done)

    def _internal_url(self) -> str:
        host = self.signaling.host
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
        host = f"[{host}]" if ":" in host else host
        return f"{'wss' if self.ssl else 'ws'}://{host}:{self.port}/ws"

    def _event(self, event: str, fields: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event, fields)


def _read_static(name: str) -> bytes:
    return resources.files("rtcstack.demo").joinpath("static", name).read_bytes()


# --- https -----------------------------------------------------------------------------------


def self_signed_context(hosts: Sequence[str] = ("localhost", "127.0.0.1"),
                        *, lifetime_days: int = 30) -> _ssl.SSLContext:
    """A TLS server context with a fresh self-signed certificate for ``hosts`` (DNS names and
    IP addresses, in the subjectAltName browsers check).  Browsers warn once; accept it to
    reach the page from another machine (the camera needs https away from localhost)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rtcstack demo")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=lifetime_days))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(key, hashes.SHA256()))
    with tempfile.TemporaryDirectory(prefix="rtcstack-demo-") as tmp:
        cert_path, key_path = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = _ssl.SSLContext(_ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)  # ssl loads certificates from files only
    return context
