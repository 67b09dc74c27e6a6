"""A real browser as the other end of a call: one ``RTCPeerConnection`` in a headless Chromium or
Firefox ESR, driven from an asyncio test, with trickle ICE both ways (loopback only).

The Python peer is whatever the test brings (aiortc today, ``rtcstack.asyncio.peer`` later); the
harness deals in SDP text, candidate dicts (``RTCIceCandidateInit``: ``candidate``, ``sdpMid``,
``sdpMLineIndex``, ``usernameFragment``) and JSON stats, never in a stack's objects::

    async with open_call("chromium") as call:
        offer = await call.browser_offer(audio=True, video=True, data=True)
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        task = call.forward_candidates(lambda c: add_to_pc(pc, c))   # browser -> Python
        await pc.setLocalDescription(await pc.createAnswer())
        await call.set_remote(pc.localDescription.sdp, "answer")
        await call.wait_connection_state("connected")
        report = await call.wait_inbound("video", 30)                  # framesDecoded > 30
        await call.browser_send("chat", b"\\x00" * 65536)

Pieces (see each method):

- :func:`open_call` -> :class:`BrowserCall`, a context manager (``with`` or ``async with``)
  that serves ``call_page.html`` on 127.0.0.1 (:class:`~tests.interop.browser.PageServer`),
  launches the browser with a fresh profile and fake camera + microphone
  (:func:`~tests.interop.browser.launch_browser`: Chromium's ``--use-fake-device-for-media-
  stream --use-fake-ui-for-media-stream``, Firefox's ``media.navigator.streams.fake``,
  ``media.navigator.permission.disabled``, ``media.peerconnection.ice.loopback``) and creates the
  page's ``RTCPeerConnection`` with ``iceServers`` and ``iceTransportPolicy`` ("relay" when
  ``relay_only``).  On exit the page closes its connection and the browser is stopped by its PID.
  Skips the test, naming the Debian package, when the browser is missing.
- Signaling: :meth:`BrowserCall.browser_offer`, :meth:`~BrowserCall.browser_answer`,
  :meth:`~BrowserCall.set_remote`, :meth:`~BrowserCall.browser_add_track`,
  :meth:`~BrowserCall.browser_restart_ice`.  The SDP returned is ``pc.localDescription.sdp``
  right after ``setLocalDescription`` (trickle: few or no candidates yet) unless
  ``complete=True`` waits for ICE gathering to finish first.
- Trickle: the browser's candidates (``None`` marks the end of a gathering round) via
  :meth:`~BrowserCall.local_candidates` (async iterator), :meth:`~BrowserCall.next_candidate`
  or :meth:`~BrowserCall.forward_candidates` (a task calling a function for each); every one
  ever gathered is in :attr:`~BrowserCall.candidates`.  :meth:`~BrowserCall.add_candidate`
  hands the browser one of ours (``None``: end of candidates); the page keeps those that arrive
  before a remote description and adds them after it.
- State and media: :meth:`~BrowserCall.connection_state`,
  :meth:`~BrowserCall.wait_connection_state`, :meth:`~BrowserCall.stats` (``getStats()`` as a
  list of dicts), :meth:`~BrowserCall.wait_inbound` (polls ``inbound-rtp``),
  :attr:`~BrowserCall.tracks` (the page's ``track`` events; it plays each received track in a
  muted element).
- Data channels: every channel of the page (its own "chat", those it creates with
  :meth:`~BrowserCall.browser_create_channel`, and every one the Python side opens) echoes each
  message it receives, text as text and binary as binary; :meth:`~BrowserCall.browser_send`,
  :meth:`~BrowserCall.browser_channel_info`, :meth:`~BrowserCall.wait_channel`,
  :meth:`~BrowserCall.browser_messages` (what the page received, by size and type).
- TURN: :func:`coturn_ice_servers` turns a running :class:`tests.interop.coturn.Coturn` into the
  ``iceServers`` for ``open_call(..., relay_only=True)``.

Every wait has a deadline; a failure raises :class:`~tests.interop.browser.BrowserError` with the
browser's own error text, the connection's states, the page's log and the tail of the browser's
output.  All waits poll (5 ms), so any event loop -- or none, for :meth:`BrowserCall.close` --
works; the page server runs in its own threads.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import queue
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .browser import Browser, BrowserError, PageServer, launch_browser, require_browser

__all__ = [
    "BrowserCall",
    "BrowserError",
    "coturn_ice_servers",
    "open_call",
]

PAGE_PATH = Path(__file__).with_name("call_page.html")

JSON = Any
Candidate = dict[str, JSON]

#: getUserMedia constraints per kind: a small picture keeps three codecs' CPU use down on the
#: two cores here (the fake devices honour ``ideal`` sizes).
DEFAULT_MEDIA: Mapping[str, JSON] = {
    "audio": True,
    "video": {"width": {"ideal": 320}, "height": {"ideal": 240}, "frameRate": {"ideal": 30}},
}

_POLL = 0.005  # seconds between checks while waiting


def coturn_ice_servers(server: Any, transport: str = "udp") -> list[dict[str, JSON]]:
    """``iceServers`` for a running :class:`tests.interop.coturn.Coturn` (its long-term
    credentials), ``turn:`` over ``transport`` ("udp" or "tcp")."""
    host, port = server.address
    return [{
        "urls": f"turn:{host}:{port}?transport={transport}",
        "username": server.config.user,
        "credential": server.config.password,
    }]


class _Command:
    def __init__(self, id: int, action: str, args: Mapping[str, JSON]) -> None:
        self.id = id
        self.action = action
        self.message: dict[str, JSON] = {"id": id, "action": action, "args": dict(args)}
        self.done = threading.Event()
        self.report: dict[str, JSON] | None = None


class BrowserCall:
    """One browser with one ``RTCPeerConnection`` on the call page; see the module docstring.

    Create with :func:`open_call`; entering (``with`` or ``async with``) launches the browser.
    """

    def __init__(
        self,
        browser: str,
        *,
        ice_servers: Sequence[Mapping[str, JSON]] | None = None,
        relay_only: bool = False,
        echo: bool = True,
        media: Mapping[str, JSON] | None = None,
        timeout: float = 10.0,
        startup_timeout: float = 30.0,
    ) -> None:
        self.name = browser
        self.config: dict[str, JSON] = {
            "iceServers": [dict(s) for s in ice_servers or ()],
            "iceTransportPolicy": "relay" if relay_only else "all",
        }
        self.echo = echo
        self.media = dict(DEFAULT_MEDIA if media is None else media)
        self.timeout = timeout
        self.startup_timeout = startup_timeout
        self.server: PageServer | None = None
        self.browser: Browser | None = None
        self.user_agent = ""
        self.startup_seconds: float | None = None
        #: Every candidate the browser gathered, in order; None ends a gathering round.
        self.candidates: list[Candidate | None] = []
        #: ``icecandidateerror`` events (e.g. a TURN server refusing the credentials).
        self.candidate_errors: list[dict[str, JSON]] = []
        #: The page's ``track`` events: kind, id, mid, streams.
        self.tracks: list[dict[str, JSON]] = []
        #: The last info the page reported per data channel, keyed ``(label, id)``.
        self.channels: dict[tuple[str, int | None], dict[str, JSON]] = {}
        #: Every state change: ``(seconds since launch, event name, snapshot)``.
        self.state_history: list[tuple[float, str, dict[str, JSON]]] = []
        self.page_log: list[str] = []
        self._state: dict[str, JSON] = {"connectionState": "new"}
        self._messages: list[dict[str, JSON]] = []
        self._unread = 0  # index in self.candidates of the next one to hand out
        self._commands: dict[int, _Command] = {}
        self._pending: queue.Queue[dict[str, JSON]] = queue.Queue()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._page_seen = threading.Event()
        self._closed = False
        self._stack = contextlib.ExitStack()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> BrowserCall:
        """Serve the page, launch the browser, create the page's connection (blocking)."""
        require_browser(self.name)
        page = PAGE_PATH.read_text(encoding="utf-8")
        try:
            self.server = self._stack.enter_context(PageServer(page))
            self.server.route("/next", self._route_next)
            self.server.route("/events", self._route_events)
            init = self._submit("init", {"config": self.config, "echo": self.echo,
                                         "media": self.media})
            self.browser = self._stack.enter_context(launch_browser(self.name, self.server.url))
            deadline = self.browser.launched_at + self.startup_timeout
            while not self._page_seen.wait(0.05):
                self._check_alive("loading the page")
                if time.monotonic() > deadline:
                    raise BrowserError(
                        f"{self.name} did not load {self.server.url} within "
                        f"{self.startup_timeout} s\n{self.diagnostics()}"
                    )
            self.startup_seconds = time.monotonic() - self.browser.launched_at
            result = self._wait_sync(init, deadline - time.monotonic())
            self.user_agent = str(result.get("userAgent", ""))
        except BaseException:
            self._shutdown()
            raise
        return self

    def close(self) -> None:
        """Close the page's connection (bounded wait), stop the browser and the server."""
        if self._closed:
            return
        try:
            if self.browser is not None and self.browser.alive() and self._page_seen.is_set():
                with contextlib.suppress(BrowserError):
                    self._wait_sync(self._submit("close", {}), 3.0)
        finally:
            self._shutdown()

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop."""
        if self._closed:
            return
        try:
            if self.browser is not None and self.browser.alive() and self._page_seen.is_set():
                with contextlib.suppress(BrowserError):
                    await self._command("close", {}, timeout=3.0)
        finally:
            await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        self._closed = True
        self._pending.put({"action": "stop"})
        self._stack.close()  # the browser is stopped by PID, then the server

    def __enter__(self) -> BrowserCall:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> BrowserCall:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    # --- routes (server threads) --------------------------------------------------------------

    def _route_next(self, _body: JSON) -> JSON:
        self._page_seen.set()
        if self._closed:
            return {"action": "stop"}
        try:
            return self._pending.get(timeout=5)
        except queue.Empty:
            return {"action": "stop" if self._closed else "wait"}

    def _route_events(self, body: JSON) -> JSON:
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise ValueError(f"expected {{'events': [...]}}, got {body!r}")
        with self._lock:
            for event in events:
                if isinstance(event, dict):
                    self._event(event)
        return {}

    def _event(self, event: dict[str, JSON]) -> None:
        kind = event.get("type")
        if kind == "result":
            report = event.get("report") or {}
            command = self._commands.get(report.get("id"))
            if command is not None:
                command.report = report
                command.done.set()
        elif kind == "candidate":
            self.candidates.append(event.get("candidate"))
        elif kind == "state":
            self._state = dict(event.get("state") or {})
            self.state_history.append((self._since_launch(), str(event.get("event")),
                                       self._state))
        elif kind == "track":
            self.tracks.append({k: v for k, v in event.items() if k not in ("type", "t")})
        elif kind == "channel":
            info = event.get("channel") or {}
            self.channels[(str(info.get("label")), info.get("id"))] = info
        elif kind == "message":
            self._messages.append({k: v for k, v in event.items() if k != "type"})
            if event.get("error"):
                self.page_log.append(f"echo on {event.get('label')!r} failed: {event['error']}")
        elif kind == "candidate_error":
            error = {k: v for k, v in event.items() if k != "type"}
            self.candidate_errors.append(error)
            self.page_log.append(f"icecandidateerror {error}")
        elif kind == "log":
            self.page_log.append(str(event.get("message")))
        else:
            self.page_log.append(f"unknown event {event!r}")

    def _since_launch(self) -> float:
        return 0.0 if self.browser is None else time.monotonic() - self.browser.launched_at

    # --- commands -----------------------------------------------------------------------------

    def _submit(self, action: str, args: Mapping[str, JSON]) -> _Command:
        if self._closed:
            raise BrowserError(f"{self.name}: the call is closed ({action})")
        command = _Command(next(self._ids), action, args)
        with self._lock:
            self._commands[command.id] = command
        self._pending.put(command.message)
        return command

    def _finish(self, command: _Command) -> dict[str, JSON]:
        with self._lock:
            self._commands.pop(command.id, None)
        report = command.report or {}
        if not report.get("ok"):
            raise BrowserError(
                f"{self.name}: {command.action} failed in the page: {report.get('error')}\n"
                f"stack: {report.get('stack')}\n{self.diagnostics()}"
            )
        result = report.get("result")
        return result if isinstance(result, dict) else {"value": result}

    def _timed_out(self, command: _Command, limit: float) -> BrowserError:
        with self._lock:
            self._commands.pop(command.id, None)
        return BrowserError(f"{self.name}: {command.action} gave no result within {limit:g} s"
                            f"\n{self.diagnostics()}")

    def _wait_sync(self, command: _Command, limit: float) -> dict[str, JSON]:
        deadline = time.monotonic() + limit
        while not command.done.wait(0.05):
            self._check_alive(command.action)
            if time.monotonic() > deadline:
                raise self._timed_out(command, limit)
        return self._finish(command)

    async def _command(self, action: str, args: Mapping[str, JSON],
                       timeout: float | None = None) -> dict[str, JSON]:
        limit = self.timeout if timeout is None else timeout
        command = self._submit(action, args)
        deadline = time.monotonic() + limit
        while not command.done.is_set():
            self._check_alive(action)
            if time.monotonic() > deadline:
                raise self._timed_out(command, limit)
            await asyncio.sleep(_POLL)
        return self._finish(command)

    def _check_alive(self, doing: str) -> None:
        if self.browser is not None and not self.browser.alive():
            raise BrowserError(f"{self.name} exited ({self.browser.process.returncode}) while "
                               f"{doing}\n{self.diagnostics()}")

    async def _until(self, predicate: Callable[[], bool], timeout: float | None,
                     what: Callable[[], str]) -> None:
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while not predicate():
            self._check_alive(what())
            if time.monotonic() > deadline:
                raise BrowserError(f"{self.name}: {what()} (limit {limit:g} s)\n"
                                   f"{self.diagnostics()}")
            await asyncio.sleep(_POLL)

    def diagnostics(self) -> str:
        """The connection's states, the page's log, server errors and the browser output tail."""
        parts = [f"states: {self._state}"]
        if self.page_log:
            parts.append("page log:\n  " + "\n  ".join(self.page_log[-30:]))
        if self.server is not None and self.server.errors:
            parts.append("server errors:\n  " + "\n  ".join(self.server.errors[-10:]))
        if self.browser is not None:
            parts.append(f"{self.name} output (tail):\n{self.browser.log_tail()}")
        return "\n".join(parts)

    # --- signaling ----------------------------------------------------------------------------

    async def browser_offer(self, audio: bool = True, video: bool = True, data: bool = True, *,
                            receive: Iterable[str] = (), ice_restart: bool = False,
                            codecs: Mapping[str, Sequence[str]] | None = None,
                            simulcast: Sequence[Mapping[str, JSON]] | None = None,
                            complete: bool = False, timeout: float | None = None) -> str:
        """The browser adds what is asked and not there yet -- a fake-microphone track
        (``audio``), a fake-camera track (``video``), the data channel "chat" (``data``), a
        recvonly transceiver per kind in ``receive`` -- then ``createOffer`` (with
        ``iceRestart`` when asked), ``setLocalDescription``, and returns the offer SDP (after
        ICE gathering completed when ``complete``).  Call it again to renegotiate (it adds
        nothing already there).  ``codecs`` (``{"video": ["video/VP9"]}``; an entry may add
        fmtp parameters that must match: ``"video/H264;packetization-mode=1"``) calls
        ``setCodecPreferences`` on every transceiver of that kind first, with those codecs in
        that order and rtx.  ``simulcast`` (``[{"rid": "q", "scaleResolutionDownBy": 4},
        ...]``) first adds a sendonly video transceiver with those sendEncodings."""
        result = await self._command("offer", {
            "audio": audio, "video": video, "data": data, "receive": list(receive),
            "ice_restart": ice_restart, "complete": complete,
            "codecs": {k: list(v) for k, v in (codecs or {}).items()},
            "simulcast": [dict(e) for e in simulcast] if simulcast else None,
            "gather_ms": int(1000 * (timeout or self.timeout)),
        }, timeout)
        return _sdp(result)

    async def browser_answer(self, offer_sdp: str, *, audio: bool = True, video: bool = True,
                             complete: bool = False, timeout: float | None = None) -> str:
        """The browser applies ``offer_sdp``, sends a fake-device track on every new audio
        (``audio``) / video (``video``) transceiver the offer made (direction sendrecv),
        answers, ``setLocalDescription``, and returns the answer SDP (after ICE gathering when
        ``complete``)."""
        result = await self._command("answer", {
            "sdp": offer_sdp, "audio": audio, "video": video, "complete": complete,
            "gather_ms": int(1000 * (timeout or self.timeout)),
        }, timeout)
        return _sdp(result)

    async def set_remote(self, sdp: str, type: str, *, timeout: float | None = None) -> None:
        """``setRemoteDescription({type, sdp})`` in the browser ("answer", "offer", "pranswer",
        "rollback"), then the candidates Python added before it."""
        await self._command("set_remote", {"sdp": sdp, "type": type}, timeout)

    async def browser_add_track(self, kind: str, *, timeout: float | None = None) -> str:
        """Mid-call: a new fake-device track of ``kind`` ("audio"/"video") added with
        ``addTrack`` (a new transceiver); returns its id.  Negotiate next (browser_offer)."""
        result = await self._command("add_track", {"kind": kind}, timeout)
        return str(result["id"])

    async def browser_restart_ice(self, *, complete: bool = False,
                                  timeout: float | None = None) -> str:
        """``restartIce()``, a new offer (new ufrag/pwd) set locally; returns its SDP.  The new
        round's candidates arrive like the first ones."""
        result = await self._command("restart_ice", {
            "complete": complete, "gather_ms": int(1000 * (timeout or self.timeout))}, timeout)
        return _sdp(result)

    # --- trickle ------------------------------------------------------------------------------

    async def add_candidate(self, candidate: Mapping[str, JSON] | None, *,
                            timeout: float | None = None) -> None:
        """``addIceCandidate`` in the browser: an ``RTCIceCandidateInit`` dict (``candidate``
        and ``sdpMid`` and/or ``sdpMLineIndex``), or None for end-of-candidates.  Held in the
        page until a remote description is set."""
        await self._command("add_candidate",
                            {"candidate": None if candidate is None else dict(candidate)},
                            timeout)

    async def next_candidate(self, timeout: float | None = None) -> Candidate | None:
        """The browser's next candidate not handed out yet (None: its gathering round ended)."""
        await self._until(lambda: self._unread < len(self.candidates), timeout,
                          lambda: "the browser gathered no further ICE candidate")
        with self._lock:
            candidate = self.candidates[self._unread]
            self._unread += 1
        return candidate

    async def local_candidates(self, timeout: float | None = None
                               ) -> AsyncIterator[Candidate | None]:
        """The browser's candidates not handed out yet, up to and including the None that ends
        the gathering round; ``timeout`` bounds the wait for each one."""
        while True:
            candidate = await self.next_candidate(timeout)
            yield candidate
            if candidate is None:
                return

    def forward_candidates(
        self, fn: Callable[[Candidate | None], Awaitable[object] | object]
    ) -> asyncio.Task[None]:
        """A task that calls ``fn`` (sync or async) with each browser candidate, None included,
        for as long as the call lasts (ICE restarts too); cancel it when done.  An exception
        from ``fn`` ends the task with it (``await task`` re-raises)."""

        async def run() -> None:
            while not self._closed:
                try:
                    candidate = await self.next_candidate(timeout=3600)
                except BrowserError:
                    if self._closed:
                        return
                    raise
                outcome = fn(candidate)
                if asyncio.iscoroutine(outcome) or isinstance(outcome, asyncio.Future):
                    await outcome

        return asyncio.ensure_future(run())

    # --- state --------------------------------------------------------------------------------

    def connection_state(self) -> str:
        """The page's last reported ``pc.connectionState``."""
        return str(self._state.get("connectionState"))

    def state(self) -> dict[str, JSON]:
        """The last snapshot: connectionState, iceConnectionState, iceGatheringState,
        signalingState, sctpState."""
        return dict(self._state)

    async def wait_connection_state(self, state: str = "connected",
                                    timeout: float | None = None) -> float:
        """Wait until ``pc.connectionState`` is ``state``; returns the seconds waited.  Fails at
        once on "failed" or "closed" when waiting for something else."""
        start = time.monotonic()
        bad = {"failed", "closed"} - {state}

        def reached() -> bool:
            current = self.connection_state()
            if current in bad:
                raise BrowserError(f"{self.name}: connectionState became {current!r} while "
                                   f"waiting for {state!r}\n{self.diagnostics()}")
            return current == state

        await self._until(reached, timeout,
                          lambda: f"connectionState is {self.connection_state()!r}, not {state!r}")
        return time.monotonic() - start

    async def wait_gathering_complete(self, timeout: float | None = None) -> None:
        """Wait until the page reports ``iceGatheringState`` "complete"."""
        await self._until(lambda: self._state.get("iceGatheringState") == "complete", timeout,
                          lambda: f"iceGatheringState is {self._state.get('iceGatheringState')}")

    # --- media --------------------------------------------------------------------------------

    async def stats(self, timeout: float | None = None) -> list[dict[str, JSON]]:
        """``pc.getStats()`` in the browser, every report as a dict."""
        result = await self._command("stats", {}, timeout)
        return [s for s in result.get("stats") or () if isinstance(s, dict)]

    async def wait_inbound(self, kind: str, count: int, timeout: float | None = None, *,
                           metric: str | None = None, interval: float = 0.25
                           ) -> dict[str, JSON]:
        """Poll ``getStats`` until an ``inbound-rtp`` report of ``kind`` has ``metric`` above
        ``count``; return that report.  The default metric is ``framesDecoded`` for video and
        ``packetsReceived`` for audio (``totalSamplesReceived`` is another choice)."""
        metric = metric or ("framesDecoded" if kind == "video" else "packetsReceived")
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        seen: list[dict[str, JSON]] = []
        while True:
            stats = await self.stats(timeout=max(1.0, deadline - time.monotonic()))
            seen = [s for s in stats if s.get("type") == "inbound-rtp"
                    and (s.get("kind") or s.get("mediaType")) == kind]
            for report in seen:
                value = report.get(metric)
                if isinstance(value, (int, float)) and value > count:
                    return report
            if time.monotonic() > deadline:
                summary = [{k: s.get(k) for k in ("mid", "ssrc", "packetsReceived", metric,
                                                  "codecId", "bytesReceived")} for s in seen]
                raise BrowserError(f"{self.name}: no inbound-rtp {kind} with {metric} > {count}"
                                   f" within {limit:g} s: {summary}\n{self.diagnostics()}")
            await asyncio.sleep(interval)

    # --- data channels ------------------------------------------------------------------------

    async def browser_send(self, label: str, data: str | bytes,
                           timeout: float | None = None) -> dict[str, JSON]:
        """Send ``data`` (str: a text message; bytes: binary) on the page's channel ``label``
        (the last one opened with that label); returns the channel's info after ``send``."""
        if isinstance(data, str):
            args: dict[str, JSON] = {"label": label, "text": data}
        else:
            args = {"label": label, "binary": base64.b64encode(bytes(data)).decode("ascii")}
        return await self._command("send", args, timeout)

    async def browser_create_channel(self, label: str, timeout: float | None = None,
                                     **options: JSON) -> dict[str, JSON]:
        """``pc.createDataChannel(label, options)`` in the page (e.g. ``ordered=False``,
        ``maxRetransmits=0``, ``negotiated=True, id=5``, ``protocol="x"``); it echoes too."""
        return await self._command("create_channel", {"label": label, "options": options},
                                   timeout)

    async def browser_channel_info(self, timeout: float | None = None) -> list[dict[str, JSON]]:
        """Every channel the page has: label, id, state, protocol, ordered, maxRetransmits,
        maxPacketLifeTime, negotiated, bufferedAmount, origin ("local"/"remote"), received,
        sent, and ``maxMessageSize`` (``pc.sctp.maxMessageSize``)."""
        result = await self._command("channel_info", {}, timeout)
        return list(result.get("channels") or ())

    async def wait_channel(self, label: str, state: str = "open",
                           timeout: float | None = None) -> dict[str, JSON]:
        """Wait until a page channel ``label`` reports ``readyState`` ``state``; its info."""
        def find() -> dict[str, JSON] | None:
            with self._lock:
                for (name, _), info in self.channels.items():
                    if name == label and info.get("state") == state:
                        return info
            return None

        await self._until(lambda: find() is not None, timeout,
                          lambda: f"no channel {label!r} in state {state!r}: "
                                  f"{list(self.channels.values())}")
        info = find()
        assert info is not None
        return info

    def browser_messages(self, label: str | None = None) -> list[dict[str, JSON]]:
        """What the page received (and echoed): label, id, binary, size (UTF-8 bytes for
        text), echoed, error, t (page ms)."""
        with self._lock:
            return [m for m in self._messages if label is None or m.get("label") == label]


def _sdp(result: Mapping[str, JSON]) -> str:
    sdp = result.get("sdp")
    if not isinstance(sdp, str):
        raise BrowserError(f"the page reported sdp={sdp!r}, expected SDP text")
    return sdp


def open_call(
    browser: str,
    *,
    ice_servers: Sequence[Mapping[str, JSON]] | None = None,
    relay_only: bool = False,
    echo: bool = True,
    media: Mapping[str, JSON] | None = None,
    timeout: float = 10.0,
    startup_timeout: float = 30.0,
) -> BrowserCall:
    """A :class:`BrowserCall` for ``browser`` ("chromium" or "firefox"): use it as a context
    manager (``with`` / ``async with``), which launches the browser and creates the page's
    ``RTCPeerConnection({iceServers: ice_servers, iceTransportPolicy: relay_only ? "relay" :
    "all"})``.  ``echo`` turns the data-channel echo on/off; ``media`` overrides the
    getUserMedia constraints per kind (:data:`DEFAULT_MEDIA`); ``timeout`` is the default
    deadline of each step, ``startup_timeout`` that of the launch."""
    return BrowserCall(browser, ice_servers=ice_servers, relay_only=relay_only, echo=echo,
                       media=media, timeout=timeout, startup_timeout=startup_timeout)
