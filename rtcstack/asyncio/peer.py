"""``RTCPeerConnection`` for asyncio: the W3C WebRTC API around :mod:`rtcstack.peer`.

The names follow W3C WebRTC (and aiortc, so that code ports by renaming little)::

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[RTCIceServer("stun:stun.example.org")]))
    pc.addTrack(VideoPatternTrack())
    channel = pc.createDataChannel("chat")

    @pc.on("icecandidate")
    def on_candidate(candidate):          # RTCIceCandidate, or None at the end (trickle)
        signaling.send(candidate)

    await pc.setLocalDescription()        # implicit createOffer
    signaling.send(pc.localDescription)
    await pc.setRemoteDescription(answer)
    ...
    await pc.close()

What this module adds to the sans-IO core: the UDP sockets (through
:class:`~rtcstack.asyncio.ice.IceTransport`: host gathering, TURN over UDP/TCP/TLS, mDNS
resolution), one ``loop.call_at`` timer at the core's ``poll_timeout()``, the codecs of
:mod:`rtcstack.media` (a task per sending track encodes; frames received are decoded into the
receiver's track), and event dispatch (``pc.on(name, handler)``; coroutine handlers run as tasks).
Encoding and decoding of video run in the default thread pool (PyAV releases the GIL).

``close()`` always finishes promptly (TURN deallocations get at most a second) and leaves no
task, socket or timer behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, overload

from rtcstack.asyncio.ice import IceTransport
from rtcstack.asyncio.timer import Waiters
from rtcstack.common.errors import InvalidStateError
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.common.types import Address
from rtcstack.dtls import Certificate
from rtcstack.ice import Candidate, TurnServer
from rtcstack.ice.agent import CandidateGathered, GatheringComplete, SelectedPairChanged
from rtcstack.ice.agent import StateChanged as IceStateChanged
from rtcstack.ice.turn import parse_turn_uri
from rtcstack.peer import (
    DataChannelRequest,
    FrameReceived,
    KeyframeRequested,
    NegotiationNeeded,
    PeerConfig,
    PeerConnection,
    RemoteCandidate,
    StateChange,
    TrackAdded,
    TrackEnded,
    Transceiver,
)
from rtcstack.peer.stats import collect_stats
from rtcstack.sctp import (
    ChannelBufferedAmountLow,
    ChannelClosed,
    ChannelMessage,
    ChannelOpened,
    DataChannel,
    TransportClosed,
)
from rtcstack.sdp.codecs import Codec

__all__ = [
    "EventEmitter",
    "RTCCertificate",
    "RTCConfiguration",
    "RTCDataChannel",
    "RTCIceCandidate",
    "RTCIceServer",
    "RTCPeerConnection",
    "RTCRtpReceiver",
    "RTCRtpSender",
    "RTCRtpTransceiver",
    "RTCSessionDescription",
    "RTCStatsReport",
    "RTCTrackEvent",
]


# --- small W3C dictionaries ------------------------------------------------------------------


@dataclass
class RTCIceServer:
    """W3C RTCIceServer: ``urls`` (one or a list of ``stun:``, ``turn:``, ``turns:``)."""

    urls: str | list[str]
    username: str | None = None
    credential: str | None = None


@dataclass
class RTCConfiguration:
    """W3C RTCConfiguration."""

    iceServers: list[RTCIceServer] | None = None
    iceTransportPolicy: str = "all"
    bundlePolicy: str = "balanced"
    certificates: list[RTCCertificate] | None = None


@dataclass
class RTCCertificate:
    """W3C RTCCertificate (``RTCCertificate.generate()``; RTCPeerConnection.generateCertificate
    in JS)."""

    certificate: Certificate

    @classmethod
    def generate(cls, key_type: str = "ecdsa-p256") -> RTCCertificate:
        return cls(Certificate.generate(key_type))

    def getFingerprints(self) -> list[dict[str, str]]:
        return [{"algorithm": "sha-256", "value": self.certificate.fingerprint("sha-256")}]


@dataclass
class RTCSessionDescription:
    sdp: str
    type: str

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "sdp": self.sdp}


@dataclass
class RTCIceCandidate:
    """W3C RTCIceCandidateInit (``candidate`` is the ``candidate:...`` text, "" at the end)."""

    candidate: str
    sdpMid: str | None = None
    sdpMLineIndex: int | None = None
    usernameFragment: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"candidate": self.candidate, "sdpMid": self.sdpMid,
                "sdpMLineIndex": self.sdpMLineIndex, "usernameFragment": self.usernameFragment}


class RTCStatsReport(dict[str, "RTCStats"]):
    """W3C RTCStatsReport: stats objects by id."""


class RTCStats(dict[str, Any]):
    """One stats dictionary; fields read as keys (JS style) or attributes (aiortc style)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# --- events ---------------------------------------------------------------------------------

_Handler = TypeVar("_Handler", bound=Callable[..., Any])


class EventEmitter:
    """``on(name, handler)`` (or ``@on(name)``), ``off``, and ``emit``.  A coroutine
    handler runs as a task that ``close()`` of the owner cancels."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Callable[..., Any]]] = {}
        self._handler_tasks: set[asyncio.Task[Any]] = set()

    @overload
    def on(self, event: str) -> Callable[[_Handler], _Handler]: ...

    @overload
    def on(self, event: str, handler: _Handler) -> _Handler: ...

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        if handler is None:
            def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
                self._handlers.setdefault(event, []).append(fn)
                return fn
            return decorator
        self._handlers.setdefault(event, []).append(handler)
        return handler

    def off(self, event: str, handler: Callable[..., Any]) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._handlers[event].remove(handler)

    def emit(self, event: str, *args: Any) -> None:
        for handler in list(self._handlers.get(event, ())):
            result = handler(*args)
            if asyncio.iscoroutine(result):
                task = asyncio.ensure_future(result)
                self._handler_tasks.add(task)
                task.add_done_callback(self._handler_tasks.discard)

    def _cancel_handler_tasks(self) -> None:
        for task in list(self._handler_tasks):
            task.cancel()


# --- data channels ---------------------------------------------------------------------------


class RTCDataChannel(EventEmitter):
    """W3C RTCDataChannel over the peer connection's SCTP transport.  Events: ``open``,
    ``message`` (str or bytes), ``bufferedamountlow``, ``closing``, ``close``, ``error``."""

    def __init__(self, pc: RTCPeerConnection, request: DataChannelRequest) -> None:
        super().__init__()
        self._pc = pc
        self._request = request
        self._state = "connecting"
        self._threshold = 0
        self._waiters = Waiters()

    @property
    def label(self) -> str:
        return self._request.label

    @property
    def protocol(self) -> str:
        return self._request.protocol

    @property
    def ordered(self) -> bool:
        return self._request.ordered

    @property
    def maxRetransmits(self) -> int | None:
        return self._request.max_retransmits

    @property
    def maxPacketLifeTime(self) -> int | None:
        return self._request.max_packet_life_time

    @property
    def negotiated(self) -> bool:
        return self._request.negotiated

    @property
    def id(self) -> int | None:
        channel = self._request.channel
        return channel.id if channel is not None else self._request.id

    @property
    def priority(self) -> str:
        """W3C RTCPriorityType, from the DCEP priority (RFC 8831 §6.4: 128 below normal, 256
        normal, 512 high, 1024 extra high; 0, which aiortc sends, counts as normal)."""
        value = self._request.priority or 256
        for limit, name in ((128, "very-low"), (256, "low"), (512, "medium")):
            if value <= limit:
                return name
        return "high"

    @property
    def readyState(self) -> str:
        return self._state

    @property
    def bufferedAmount(self) -> int:
        channel = self._request.channel
        return channel.buffered_amount if channel is not None else 0

    @property
    def bufferedAmountLowThreshold(self) -> int:
        return self._threshold

    @bufferedAmountLowThreshold.setter
    def bufferedAmountLowThreshold(self, value: int) -> None:
        self._threshold = value
        if self._request.channel is not None:
            self._request.channel.buffered_amount_low_threshold = value

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Queue a message (InvalidStateError unless open)."""
        channel = self._request.channel
        if self._state != "open" or channel is None:
            raise InvalidStateError(f"the data channel is {self._state}")
        try:
            channel.send(data, now=self._pc._now())
        except ValueError as exc:  # W3C §6.2 send(): larger than maxMessageSize
            raise TypeError(str(exc)) from exc
        self._pc._after_action()

    def close(self) -> None:
        channel = self._request.channel
        if self._state in ("closing", "closed"):
            return
        if channel is None:
            # closed before the SCTP transport exists: it must never be opened later
            with contextlib.suppress(ValueError):
                self._pc._core.data_channel_requests.remove(self._request)
            self._set_closed()
            return
        self._state = "closing"
        channel.close(now=self._pc._now())
        self._pc._after_action()

    async def wait_open(self, timeout: float | None = None) -> None:
        """Wait until ``open`` (an rtcstack convenience)."""
        await self._wait(lambda: self._state != "connecting", timeout)
        if self._state != "open":
            raise InvalidStateError(f"the data channel is {self._state}")

    async def drain(self, low: int = 0, timeout: float | None = None) -> None:
        """Wait until ``bufferedAmount <= low`` (an rtcstack convenience for back-pressure)."""
        await self._wait(lambda: self.bufferedAmount <= low or self._state != "open", timeout)

    async def _wait(self, ready: Callable[[], bool], timeout: float | None) -> None:
        await self._waiters.wait(ready, timeout, what=lambda: f"{self!r}")

    def _wake(self) -> None:
        self._waiters.wake()

    def _set_open(self) -> None:
        if self._state == "connecting":
            self._state = "open"
            if self._threshold and self._request.channel is not None:
                self._request.channel.buffered_amount_low_threshold = self._threshold
            self.emit("open")
        self._wake()

    def _set_closed(self) -> None:
        if self._state != "closed":
            self._state = "closed"
            self.emit("close")
        self._wake()

    def __repr__(self) -> str:
        return f"<RTCDataChannel {self.label!r} id={self.id} {self._state}>"


# --- RTP objects -----------------------------------------------------------------------------


@dataclass(eq=False)
class _SendLayer:
    """The encoder of one simulcast layer (or of the only stream)."""

    rid: str | None
    scale: float
    encoder: Any = None
    codec: Codec | None = None
    keyframe: bool = True
    frames_encoded: int = 0
    keyframes_encoded: int = 0
    total_encode_time: float = 0.0
    width: int = 0
    height: int = 0


@dataclass(eq=False)
class _ReceiveLayer:
    """The decoder of one received stream: the only one, or a simulcast layer (RFC 8853)."""

    track: Any
    decoder: Any = None
    codec: Codec | None = None
    frames_decoded: int = 0
    keyframes_decoded: int = 0
    decode_errors: int = 0
    total_decode_time: float = 0.0
    width: int = 0
    height: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # decode one at a time, in order


class RTCRtpSender:
    """W3C RTCRtpSender: the track being sent on a transceiver."""

    def __init__(self, pc: RTCPeerConnection, transceiver: RTCRtpTransceiver,
                 track: Any) -> None:
        self._pc = pc
        self._transceiver = transceiver
        self.track = track
        self.kind = transceiver.kind
        self._task: asyncio.Task[None] | None = None
        self._keyframe = False
        #: one encoder per simulcast layer (``None``: the only one), see set_encodings
        self.layers: dict[str | None, _SendLayer] = {None: _SendLayer(None, 1.0)}
        self.media_frames = 0
        self.last_frame: Any = None

    def set_encodings(self, encodings: Sequence[dict[str, Any]]) -> None:
        """W3C sendEncodings: with more than one ``rid``, a simulcast layer each, scaled by
        ``scaleResolutionDownBy`` (default 2^(n-1-i): the last layer full size, W3C §5.2)."""
        rids = [e for e in encodings if e.get("rid")]
        if len(rids) < 2:
            return
        count = len(rids)
        self.layers = {
            str(e["rid"]): _SendLayer(str(e["rid"]), float(e.get(
                "scaleResolutionDownBy", 2 ** (count - 1 - i) if self.kind == "video" else 1)))
            for i, e in enumerate(rids)}

    @property
    def frames_encoded(self) -> int:
        return sum(layer.frames_encoded for layer in self.layers.values())

    @property
    def keyframes_encoded(self) -> int:
        return sum(layer.keyframes_encoded for layer in self.layers.values())

    @property
    def total_encode_time(self) -> float:
        return sum(layer.total_encode_time for layer in self.layers.values())

    async def replaceTrack(self, track: Any) -> None:
        """W3C replaceTrack: no renegotiation; the next frame comes from ``track``."""
        if track is not None and track.kind != self.kind:
            raise TypeError(f"cannot send a {track.kind} track on a {self.kind} sender")
        self.track = track
        self._keyframe = True
        self._pc._restart_sender(self)

    def getStats(self) -> Any:
        return self._pc.getStats()

    @property
    def transport(self) -> Any:
        return None


class RTCRtpReceiver:
    """W3C RTCRtpReceiver: ``track`` is live from the start and receives decoded frames."""

    def __init__(self, kind: str, track_id: str) -> None:
        from rtcstack.media import QueuedTrack

        self.kind = kind
        self.track = QueuedTrack(kind, id=track_id)
        self._main = _ReceiveLayer(self.track)
        #: simulcast layers received (RFC 8853; an rtcstack extension: a browser never receives
        #: simulcast): a track per rid.  ``track`` gets the largest layer's frames.
        self.layers: dict[str, Any] = {}
        self._layers: dict[str, _ReceiveLayer] = {}
        self._best: tuple[int, str] | None = None  # (area, rid) of the largest layer

    def _layer(self, rid: str | None) -> _ReceiveLayer:
        if rid is None:
            return self._main
        layer = self._layers.get(rid)
        if layer is None:
            from rtcstack.media import QueuedTrack

            track = QueuedTrack(self.kind, id=f"{self.track.id}-{rid}")
            layer = self._layers[rid] = _ReceiveLayer(track)
            self.layers[rid] = track
        return layer

    def _all(self) -> list[_ReceiveLayer]:
        return [self._main, *self._layers.values()]

    @property
    def frames_decoded(self) -> int:
        return sum(layer.frames_decoded for layer in self._all())

    @property
    def keyframes_decoded(self) -> int:
        return sum(layer.keyframes_decoded for layer in self._all())

    @property
    def decode_errors(self) -> int:
        return sum(layer.decode_errors for layer in self._all())

    @property
    def total_decode_time(self) -> float:
        return sum(layer.total_decode_time for layer in self._all())

    @property
    def frame_width(self) -> int:
        return max(layer.width for layer in self._all())

    @property
    def frame_height(self) -> int:
        return max(layer.height for layer in self._all())


class RTCRtpTransceiver:
    """W3C RTCRtpTransceiver."""

    def __init__(self, pc: RTCPeerConnection, core: Transceiver, track: Any = None) -> None:
        self._pc = pc
        self._core = core
        self.kind = core.kind
        self.sender = RTCRtpSender(pc, self, track)
        self.receiver = RTCRtpReceiver(core.kind, core.receiver_track_id)

    @property
    def mid(self) -> str | None:
        return self._core.mid

    @property
    def direction(self) -> str:
        return "stopped" if self._core.stopped else self._core.direction

    @direction.setter
    def direction(self, value: str) -> None:
        self._pc._core.set_direction(self._core, value)
        self._pc._service()

    @property
    def currentDirection(self) -> str | None:
        return self._core.current_direction

    @property
    def stopped(self) -> bool:
        return self._core.stopped

    def stop(self) -> None:
        self._pc._core.stop_transceiver(self._core)
        self._pc._end_stopped()
        self._pc._service()

    def setCodecPreferences(self, codecs: Sequence[Codec]) -> None:
        self._core.codec_preferences = tuple(codecs) or None

    def __repr__(self) -> str:
        return f"<RTCRtpTransceiver {self.kind} mid={self.mid} {self.direction}>"


@dataclass
class RTCTrackEvent:
    track: Any
    receiver: RTCRtpReceiver
    transceiver: RTCRtpTransceiver
    streams: list[str] = field(default_factory=list)


# --- the ICE driver with the peer connection on top ---------------------------------------------


class _Driver(IceTransport):
    """IceTransport's sockets, TURN streams and mDNS, driving the whole peer connection: what
    the sockets receive goes to :meth:`PeerConnection.handle_datagram`, one timer follows
    :meth:`PeerConnection.poll_timeout`, and the events go to the RTCPeerConnection."""

    def __init__(self, owner: RTCPeerConnection, **options: Any) -> None:
        super().__init__(controlling=True, agent=owner._core.ice, **options)
        self._owner = owner

    def _input(self, data: bytes, addr: Address, local: Address | None) -> None:
        if self._closed:
            return
        core = self._owner._core
        if core.closed:
            # closing: TURN's answers to the deallocations (Refresh LIFETIME=0) still go to
            # the agent, else it retransmits them until close() gives up after a second
            self.agent.handle_datagram(data, addr, local=local, now=self._now())
        else:
            core.handle_datagram(data, addr, local=local, now=self._now())
        self._kick()

    def _kick(self) -> None:
        self._owner._service()

    def _driven(self) -> Any:
        # once closed, only the agent's last TURN work (deallocations) is left to drive
        core = self._owner._core
        return self.agent if core.closed else core


# --- the peer connection ---------------------------------------------------------------------


_ICE_EVENTS = (CandidateGathered, GatheringComplete, IceStateChanged, SelectedPairChanged)


class RTCPeerConnection(EventEmitter):
    """W3C RTCPeerConnection (see the module docstring).

    Events: ``icecandidate``, ``icegatheringstatechange``, ``iceconnectionstatechange``,
    ``connectionstatechange``, ``signalingstatechange``, ``negotiationneeded``, ``track``
    (an :class:`RTCTrackEvent`; aiortc passes the track: ``event.track``), ``datachannel``.

    rtcstack options: ``addresses`` (local IPs to gather on; default every interface),
    ``loopback`` (gather on loopback too -- needed for two peers on one machine with no other
    interface), ``turn_ssl`` (the TLS context for ``turns:`` servers; default: verify as a
    browser would), ``trace``.
    """

    def __init__(self, configuration: RTCConfiguration | None = None, *,
                 addresses: Sequence[str] | None = None, loopback: bool = False,
                 mdns: bool = False, trace: Trace = NULL_TRACE,
                 keylog: Callable[[str], None] | None = None,
                 turn_ssl: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self._configuration = configuration or RTCConfiguration()
        self._addresses = addresses
        self._loopback = loopback
        self._mdns = mdns
        self._trace = trace
        self._keylog = keylog
        self._turn_ssl = turn_ssl
        certs = [c.certificate for c in (self._configuration.certificates or [])]
        self._core = PeerConnection(PeerConfig(
            ice_transport_policy=self._configuration.iceTransportPolicy,
            bundle_policy=self._configuration.bundlePolicy, certificates=certs, keylog=keylog),
            trace=trace)
        self._core.set_wallclock(time.time(), 0.0)
        self._driver: _Driver | None = None
        self._servers_ready = False
        self._transceivers: dict[int, RTCRtpTransceiver] = {}
        self._channels: dict[int, RTCDataChannel] = {}
        self._channel_by_sctp: dict[int, RTCDataChannel] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock_set = False
        self._state_waiters = Waiters()
        self._pending_negotiation = False
        # gathering changes state in queued tasks only (_queue_state): "new" until the first
        self._reported_states: dict[str, str] = {"ice-gathering": "new"}
        self.created_at = time.time()

    # --- attributes ---------------------------------------------------------------------------

    # W3C §4.4.1.4-§4.4.1.6: each state attribute changes in the task that fires its event,
    # so a handler reads the state its event is about.  The core may have moved on within the
    # same call (gathering on loopback completes at once); the attributes report the state of
    # the last event dispatched, and the core's own value once closed or before any event.

    def _reported(self, what: str, actual: str) -> str:
        return actual if self._closed else self._reported_states.get(what, actual)

    @property
    def signalingState(self) -> str:
        return self._reported("signaling", self._core.signaling_state.value)

    @property
    def iceGatheringState(self) -> str:
        return self._reported("ice-gathering", self._core.ice_gathering_state.value)

    @property
    def iceConnectionState(self) -> str:
        return self._reported("ice-connection", self._core.ice_connection_state.value)

    @property
    def connectionState(self) -> str:
        return self._reported("connection", self._core.connection_state.value)

    def _description(self, pair: tuple[str, str] | None) -> RTCSessionDescription | None:
        return None if pair is None else RTCSessionDescription(sdp=pair[1], type=pair[0])

    @property
    def localDescription(self) -> RTCSessionDescription | None:
        return self._description(self._core.local_description)

    @property
    def remoteDescription(self) -> RTCSessionDescription | None:
        return self._description(self._core.remote_description)

    @property
    def currentLocalDescription(self) -> RTCSessionDescription | None:
        return self._description(self._core.current_local_description)

    @property
    def pendingLocalDescription(self) -> RTCSessionDescription | None:
        return self._description(self._core.pending_local_description)

    @property
    def sctp(self) -> Any:
        """The SCTP transport's W3C attributes (``maxMessageSize``, ``state``)."""
        core = self._core

        class _Sctp:
            maxMessageSize = core.remote_max_message_size
            state = core.sctp_state
        return _Sctp() if core.channels is not None else None

    def getConfiguration(self) -> RTCConfiguration:
        return self._configuration

    # --- transceivers ---------------------------------------------------------------------------

    def getTransceivers(self) -> list[RTCRtpTransceiver]:
        """W3C §4.4.1.6: a stopped transceiver whose m-section the negotiation rejected is
        removed from the set (the core keeps it: the m-line stays, rejected, in the SDP)."""
        return [self._wrap(t) for t in self._core.transceivers
                if t.current_direction != "stopped" or self._closed]

    def getSenders(self) -> list[RTCRtpSender]:
        return [t.sender for t in self.getTransceivers()]

    def getReceivers(self) -> list[RTCRtpReceiver]:
        return [t.receiver for t in self.getTransceivers()]

    def _wrap(self, core: Transceiver) -> RTCRtpTransceiver:
        wrapped = self._transceivers.get(id(core))
        if wrapped is None:
            wrapped = self._transceivers[id(core)] = RTCRtpTransceiver(self, core)
        return wrapped

    def addTrack(self, track: Any, *streams: Any) -> RTCRtpSender:
        """W3C addTrack: reuse a transceiver of the kind that never sent, else add one."""
        self._check_open()
        if any(s.track is track for s in self.getSenders()):
            raise InvalidStateError("the track is already being sent")
        stream_id = _stream_id(streams)
        for t in self._core.transceivers:
            wrapped = self._wrap(t)
            if (t.kind == track.kind and wrapped.sender.track is None and not t.stopped
                    and not t.has_track and t.current_direction not in ("sendrecv", "sendonly")):
                wrapped.sender.track = track
                self._core.set_sender_track(t, True, stream_id=stream_id, track_id=track.id)
                self._restart_sender(wrapped.sender)
                self._service()
                return wrapped.sender
        core = self._core.add_transceiver(track.kind, has_track=True, stream_id=stream_id,
                                          track_id=track.id, added_by_track=True)
        wrapped = self._transceivers[id(core)] = RTCRtpTransceiver(self, core, track)
        self._restart_sender(wrapped.sender)
        self._service()
        return wrapped.sender

    def removeTrack(self, sender: RTCRtpSender) -> None:
        self._check_open()
        if sender.track is None:
            return
        sender.track = None
        self._stop_sender(sender)
        self._core.set_sender_track(sender._transceiver._core, False)
        self._service()

    def addTransceiver(self, trackOrKind: Any, direction: str = "sendrecv",
                       sendEncodings: Sequence[dict[str, Any]] | None = None,
                       streams: Iterable[Any] = ()) -> RTCRtpTransceiver:
        """W3C addTransceiver (``sendEncodings`` with ``rid`` make a simulcast offer)."""
        self._check_open()
        track = None if isinstance(trackOrKind, str) else trackOrKind
        kind = trackOrKind if isinstance(trackOrKind, str) else trackOrKind.kind
        rids = tuple(str(e["rid"]) for e in (sendEncodings or ()) if e.get("rid"))
        core = self._core.add_transceiver(kind, direction=direction, has_track=track is not None,
                                          added_by_track=False,
                                          send_rids=rids if len(rids) > 1 else (),
                                          stream_id=_stream_id(tuple(streams)),
                                          track_id=track.id if track is not None else None)
        wrapped = self._transceivers[id(core)] = RTCRtpTransceiver(self, core, track)
        wrapped.sender.set_encodings(sendEncodings or ())
        if track is not None:
            self._restart_sender(wrapped.sender)
        self._service()
        return wrapped

    def createDataChannel(self, label: str = "", *, ordered: bool = True,
                          maxPacketLifeTime: int | None = None,
                          maxRetransmits: int | None = None,
                          protocol: str = "", negotiated: bool = False, id: int | None = None,
                          priority: str | int = "low") -> RTCDataChannel:
        """W3C createDataChannel with every RTCDataChannelInit member."""
        self._check_open()
        weight = {"very-low": 128, "low": 256, "medium": 512, "high": 1024}.get(
            priority, priority) if isinstance(priority, str) else priority
        request = self._core.create_data_channel(
            label, ordered=ordered, max_retransmits=maxRetransmits,
            max_packet_life_time=maxPacketLifeTime, protocol=protocol, negotiated=negotiated,
            id=id, priority=int(weight))
        channel = RTCDataChannel(self, request)
        self._channels[id_of(request)] = channel
        if request.channel is not None:
            self._channel_by_sctp[id_of(request.channel)] = channel
        self._service()
        return channel

    # --- offer / answer ------------------------------------------------------------------------

    async def createOffer(self, iceRestart: bool = False) -> RTCSessionDescription:
        self._check_open()
        return RTCSessionDescription(self._core.create_offer(ice_restart=iceRestart), "offer")

    async def createAnswer(self) -> RTCSessionDescription:
        self._check_open()
        return RTCSessionDescription(self._core.create_answer(), "answer")

    async def setLocalDescription(
            self, description: RTCSessionDescription | dict[str, str] | None = None) -> None:
        """W3C setLocalDescription; with no description, the implicit form."""
        self._check_open()
        type_, sdp = _unpack(description)
        await self._prepare_ice()
        self._core.set_local_description(type_, sdp, now=self._now())
        self._channels_attached()
        self._end_stopped()
        self._service()

    async def setRemoteDescription(
            self, description: RTCSessionDescription | dict[str, str]) -> None:
        self._check_open()
        type_, sdp = _unpack(description)
        if type_ is None:
            raise ValueError("the remote description needs a type")
        await self._prepare_ice()
        self._core.set_remote_description(type_, sdp, now=self._now())
        for t in self._core.transceivers:
            self._wrap(t)
        self._channels_attached()
        self._end_stopped()
        self._service()

    async def addIceCandidate(self, candidate: Any = None) -> None:
        """W3C addIceCandidate: an :class:`RTCIceCandidate`, a dict with ``candidate`` /
        ``sdpMid`` / ``sdpMLineIndex``, an aiortc candidate, a string, or None (end)."""
        self._check_open()
        text, mid, index = _candidate_fields(candidate)
        self._core.add_ice_candidate(text, mid=mid, mline_index=index, now=self._now())
        self._service()

    def restartIce(self) -> None:
        if self._closed:
            return  # W3C §4.4.1.6 restartIce: updating negotiation-needed aborts when closed
        self._core.restart_ice()
        self._service()

    async def getStats(self, selector: Any = None) -> RTCStatsReport:
        report = RTCStatsReport()
        media = {id(t): self._wrap(t) for t in self._core.transceivers}
        extra = {key: _media_extras(w) for key, w in media.items()}
        for stats in collect_stats(self._core, now=self._now(), timestamp=time.time() * 1000,
                                   media=extra,
                                   channels={id_of(c._request): c for c in
                                             self._channels.values()}):
            report[stats["id"]] = RTCStats(stats)
        return report

    # --- closing -------------------------------------------------------------------------------

    async def close(self) -> None:
        """W3C close(): stops everything at once; TURN deallocations get at most a second."""
        if self._closed:
            return
        self._closed = True
        for wrapped in list(self._transceivers.values()):
            self._stop_sender(wrapped.sender)
        now = self._now()
        self._core.close(now=now)
        self._dispatch_events()
        for channel in list(self._channels.values()):
            channel._set_closed()
        for wrapped in list(self._transceivers.values()):
            wrapped.receiver.track.end()
        if self._driver is not None:
            self._flush()
            await self._driver.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._cancel_handler_tasks()
        self._wake()

    # --- waiting helpers (rtcstack conveniences) -------------------------------------------------

    async def wait_connected(self, timeout: float | None = 30.0) -> None:
        """Wait until connectionState is ``connected`` (ConnectionError if it fails)."""
        await self._wait(lambda: self.connectionState == "connected", timeout)

    async def wait_gathering_complete(self, timeout: float | None = 30.0) -> None:
        await self._wait(lambda: self.iceGatheringState == "complete", timeout)

    async def _wait(self, ready: Callable[[], bool], timeout: float | None) -> None:
        def check() -> None:
            if self._closed or self.connectionState == "failed":
                raise ConnectionError(f"peer connection is {self.connectionState}")
        await self._state_waiters.wait(ready, timeout, check=check,
                                       what=lambda: f"the peer connection ({self.connectionState})")

    def _wake(self) -> None:
        self._state_waiters.wake()

    # --- internals -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidStateError("the RTCPeerConnection is closed")

    def _now(self) -> float:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if not self._clock_set:
            self._clock_set = True
            self._core.set_wallclock(time.time(), loop.time())
        return loop.time()

    async def _prepare_ice(self) -> None:
        """Resolve the ICE servers and open the sockets once (before the first description)."""
        if self._driver is not None:
            return
        stun, turn = await _resolve_servers(self._configuration.iceServers or [])
        self._core.ice.stun_servers = list(stun)
        self._core.ice.turn_servers = list(turn)
        driver = _Driver(self, addresses=self._addresses, loopback=self._loopback,
                         mdns=self._mdns, trace=self._trace, turn_ssl=self._turn_ssl)
        driver.on_candidate = self._on_candidate
        self._driver = driver
        await driver.open_sockets()

    def _on_candidate(self, candidate: Candidate | None) -> None:
        mid, index = self._core.candidate_mid()
        event = None
        if candidate is not None:
            ufrag = self._core.ice.local_credentials[0]
            event = RTCIceCandidate(candidate.to_ice_string(), mid, index, ufrag)

        # W3C §4.3.2: each candidate surfaces in a task of its own, so that the caller of
        # setLocalDescription() sends its description before the candidates (host candidates
        # are gathered within that call): a remote addIceCandidate before its description
        # is an InvalidStateError.
        def fire() -> None:
            if not self._closed:
                self.emit("icecandidate", event)
        asyncio.get_running_loop().call_soon(fire)

    def _after_action(self) -> None:
        self._core.pump()
        self._service()

    def _service(self) -> None:
        """Flush the core's output, dispatch its events, re-arm the timer."""
        if self._driver is None:
            self._dispatch_events()
            return
        self._flush()
        self._dispatch_events()
        self._flush()
        IceTransport._wake(self._driver)
        self._driver._arm()

    def _flush(self) -> None:
        driver = self._driver
        if driver is None:
            return
        while (tx := self._core.poll_transmit()) is not None:
            driver._transmit(tx)

    def _dispatch_events(self) -> None:
        core = self._core
        while (event := core.poll_event()) is not None:
            if isinstance(event, _ICE_EVENTS):
                if self._driver is not None:
                    IceTransport._dispatch(self._driver, event)
                continue
            self._on_event(event)
        self._wake()
        # drain() waits for bufferedAmount to fall to any level, which raises no event of its
        # own (bufferedamountlow is for the threshold only): re-check after each input.
        for channel in self._channels.values():
            if channel._waiters:
                channel._wake()

    def _on_event(self, event: Any) -> None:
        if isinstance(event, StateChange):
            name = {"signaling": "signalingstatechange",
                    "ice-gathering": "icegatheringstatechange",
                    "ice-connection": "iceconnectionstatechange",
                    "connection": "connectionstatechange"}[event.what]
            if event.what == "ice-gathering":
                # W3C §5.6: the candidates surface in tasks of their own (_on_candidate), and
                # "complete" in a task queued after them -- it was reported (and
                # wait_gathering_complete returned) before any icecandidate event had fired.
                self._queue_state(event.what, event.state, name)
                return
            self._reported_states[event.what] = event.state
            self.emit(name)
        elif isinstance(event, NegotiationNeeded):
            self._queue_negotiation_needed()
        elif isinstance(event, TrackAdded):
            wrapped = self._wrap(event.transceiver)
            self.emit("track", RTCTrackEvent(wrapped.receiver.track, wrapped.receiver, wrapped,
                                             list(event.transceiver.remote_stream_ids)))
        elif isinstance(event, TrackEnded):
            pass  # W3C: the track is muted, not ended, when the remote stops sending
        elif isinstance(event, FrameReceived):
            self._on_frame(event)
        elif isinstance(event, KeyframeRequested):
            sender = self._wrap(event.transceiver).sender
            layer = sender.layers.get(event.rid)
            if layer is not None:
                layer.keyframe = True
            else:
                sender._keyframe = True
        elif isinstance(event, RemoteCandidate):
            self._resolve(event.candidate)
        elif isinstance(event, ChannelOpened):
            self._on_channel_opened(event.channel, event.remote)
        elif isinstance(event, ChannelMessage):
            channel = self._channel_by_sctp.get(id_of(event.channel))
            if channel is not None:
                channel.emit("message", event.data)
        elif isinstance(event, ChannelBufferedAmountLow):
            channel = self._channel_by_sctp.get(id_of(event.channel))
            if channel is not None:
                channel.emit("bufferedamountlow")
                channel._wake()
        elif isinstance(event, ChannelClosed):
            channel = self._channel_by_sctp.pop(id_of(event.channel), None)
            if channel is not None:
                channel._set_closed()
        elif isinstance(event, TransportClosed):
            for channel in list(self._channels.values()):
                channel._set_closed()

    def _queue_state(self, what: str, state: str, name: str) -> None:
        """Report ``state`` and fire ``name`` in a task of its own (after those queued)."""
        def fire() -> None:
            if not self._closed:
                self._reported_states[what] = state
                self.emit(name)
                self._wake()
        asyncio.get_running_loop().call_soon(fire)

    def _queue_negotiation_needed(self) -> None:
        """W3C §4.7.3: fired from a queued task, and only if still needed then."""
        if self._pending_negotiation:
            return
        self._pending_negotiation = True

        def fire() -> None:
            self._pending_negotiation = False
            if not self._closed and self._core.negotiation_needed \
                    and self.signalingState == "stable":
                self.emit("negotiationneeded")
        asyncio.get_running_loop().call_soon(fire)

    def _channels_attached(self) -> None:
        for channel in self._channels.values():
            sctp = channel._request.channel
            if sctp is not None:
                self._channel_by_sctp.setdefault(id_of(sctp), channel)

    def _on_channel_opened(self, sctp: DataChannel, remote: bool) -> None:
        channel = self._channel_by_sctp.get(id_of(sctp))
        if channel is None:
            self._channels_attached()
            channel = self._channel_by_sctp.get(id_of(sctp))
        if channel is None and remote:
            request = DataChannelRequest(
                sctp.label, ordered=sctp.ordered, max_retransmits=sctp.max_retransmits,
                max_packet_life_time=sctp.max_packet_life_time, protocol=sctp.protocol,
                negotiated=False, id=sctp.id, priority=sctp.priority, channel=sctp)
            channel = RTCDataChannel(self, request)
            self._channels[id_of(request)] = channel
            self._channel_by_sctp[id_of(sctp)] = channel
            channel._state = "open"
            self.emit("datachannel", channel)
            channel.emit("open")
            return
        if channel is not None:
            channel._set_open()

    def _resolve(self, candidate: Candidate) -> None:
        driver = self._driver
        if driver is None:
            return

        async def resolve() -> None:
            resolved = await driver._resolve(candidate)
            if resolved is not None and not self._closed:
                self._core.add_resolved_candidate(resolved, now=self._now())
                self._service()
        self._spawn(resolve())

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- media: sending ---------------------------------------------------------------------

    def _restart_sender(self, sender: RTCRtpSender) -> None:
        if sender._task is not None and not sender._task.done():
            return  # the loop picks the new track up
        if sender.track is None or self._closed:
            return
        sender._task = self._spawn(self._send_loop(sender))

    def _stop_sender(self, sender: RTCRtpSender) -> None:
        if sender._task is not None:
            sender._task.cancel()
            sender._task = None

    def _end_stopped(self) -> None:
        """W3C §5.4 "stop sending and receiving": a stopped transceiver (stop(), or its
        m-section rejected) sends no more and its receiver's track ends at once."""
        for t in self._core.transceivers:
            if t.stopped:
                wrapped = self._wrap(t)
                self._stop_sender(wrapped.sender)
                wrapped.receiver.track.stop()

    async def _send_loop(self, sender: RTCRtpSender) -> None:
        from rtcstack.media import MediaStreamError

        loop = asyncio.get_running_loop()
        core_t = sender._transceiver._core
        while not self._closed:
            track = sender.track
            if track is None:
                return
            try:
                frame = await track.recv()
            except MediaStreamError:
                if sender.track is track:
                    return
                continue
            if sender.track is not track:
                continue  # replaceTrack while waiting: the old track's frame is not sent
            sender.media_frames += 1
            sender.last_frame = frame
            codec = self._core.sending_codec(core_t)
            if codec is None or self._core.connection_state.value != "connected":
                continue
            if sender._keyframe:
                sender._keyframe = False
                for layer in sender.layers.values():
                    layer.keyframe = True
            for layer in list(sender.layers.values()):
                if not await self._encode_layer(sender, layer, codec, frame, loop):
                    return
            self._service()

    async def _encode_layer(self, sender: RTCRtpSender, layer: _SendLayer, codec: Codec,
                            frame: Any, loop: asyncio.AbstractEventLoop) -> bool:
        """Encode ``frame`` for one layer (scaled for a simulcast layer) and send it; False
        once the connection closed."""
        from rtcstack.media import create_encoder

        if layer.encoder is None or layer.codec != codec:
            layer.encoder = create_encoder(codec.mime_type, clock_rate=codec.clock_rate,
                                           channels=codec.channels or 1,
                                           parameters=dict(
                                               (k, v or "") for k, v in codec.parameters))
            layer.codec = codec
            layer.keyframe = True
        if layer.scale > 1 and sender.kind == "video":
            width = max(16, int(frame.width / layer.scale)) & ~1
            height = max(16, int(frame.height / layer.scale)) & ~1
            scaled = frame.reformat(width=width, height=height, format="yuv420p")
            scaled.pts, scaled.time_base = frame.pts, frame.time_base
            frame = scaled
        if sender.kind == "video":
            layer.width, layer.height = frame.width, frame.height
        keyframe, layer.keyframe = layer.keyframe, False
        started = time.perf_counter()
        if sender.kind == "video":
            encoded = await loop.run_in_executor(None, _encode, layer.encoder, frame, keyframe)
        else:
            encoded = layer.encoder.encode(frame, force_keyframe=keyframe)
        layer.total_encode_time += time.perf_counter() - started
        if self._closed:
            return False
        core_t = sender._transceiver._core
        for e in encoded:
            layer.frames_encoded += 1
            layer.keyframes_encoded += e.keyframe
            self._core.send_frame(core_t, e.data, e.timestamp, keyframe=e.keyframe,
                                  rid=layer.rid, now=self._now())
        return True

    # --- media: receiving -------------------------------------------------------------------

    def _on_frame(self, event: FrameReceived) -> None:
        wrapped = self._wrap(event.transceiver)
        layer = wrapped.receiver._layer(event.rid)
        if layer.decoder is None or layer.codec != event.codec:
            from rtcstack.media import create_decoder

            codec = event.codec
            try:
                layer.decoder = create_decoder(
                    codec.mime_type, clock_rate=codec.clock_rate, channels=codec.channels or 1,
                    parameters=dict((k, v or "") for k, v in codec.parameters))
            except (ValueError, KeyError) as exc:
                self._trace("peer.no-decoder", codec=codec.mime_type, error=str(exc))
                return
            layer.codec = codec
        if wrapped.kind == "video":
            self._spawn(self._decode(wrapped, layer, event))
        else:
            started = time.perf_counter()
            frames = layer.decoder.decode(self._encoded(event))
            layer.total_decode_time += time.perf_counter() - started
            self._deliver(wrapped, layer, event, frames)

    def _encoded(self, event: FrameReceived) -> Any:
        from rtcstack.media import EncodedFrame

        f = event.frame
        return EncodedFrame(f.data, f.timestamp, f.keyframe)

    async def _decode(self, wrapped: RTCRtpTransceiver, layer: _ReceiveLayer,
                      event: FrameReceived) -> None:
        # Video frames are decoded in order: one decode at a time per stream.
        async with layer.lock:
            decoder = layer.decoder
            started = time.perf_counter()
            frames = await asyncio.get_running_loop().run_in_executor(
                None, decoder.decode, self._encoded(event))
            layer.total_decode_time += time.perf_counter() - started
            if not self._closed:
                self._deliver(wrapped, layer, event, frames)

    def _deliver(self, wrapped: RTCRtpTransceiver, layer: _ReceiveLayer,
                 event: FrameReceived, frames: list[Any]) -> None:
        receiver = wrapped.receiver
        if not frames and receiver.kind == "video":
            layer.decode_errors += 1
            self._core.request_keyframe(event.transceiver, event.rid)
            self._service()
            return
        for frame in frames:
            layer.frames_decoded += 1
            if event.frame.keyframe:
                layer.keyframes_decoded += 1
            if receiver.kind == "video":
                layer.width, layer.height = frame.width, frame.height
            layer.track.put_frame(frame)
            if event.rid is not None:
                # the receiver's own track follows the largest simulcast layer
                area = frame.width * frame.height if receiver.kind == "video" else 0
                best = receiver._best
                if best is None or area > best[0] or best[1] == event.rid:
                    receiver._best = (area, event.rid)
                    receiver.track.put_frame(frame)


# --- helpers ---------------------------------------------------------------------------------


def _encode(encoder: Any, frame: Any, keyframe: bool) -> list[Any]:
    return list(encoder.encode(frame, force_keyframe=keyframe))


def id_of(obj: object) -> int:
    return id(obj)


def _stream_id(streams: Sequence[Any]) -> str | None:
    for s in streams:
        return str(getattr(s, "id", s))
    return None


def _unpack(description: Any) -> tuple[str | None, str | None]:
    if description is None:
        return None, None
    if isinstance(description, dict):
        return description.get("type"), description.get("sdp")
    return getattr(description, "type", None), getattr(description, "sdp", None)


def _candidate_fields(candidate: Any) -> tuple[str | None, str | None, int | None]:
    if candidate is None:
        return None, None, None
    if isinstance(candidate, str):
        return candidate, None, None
    if isinstance(candidate, dict):
        return candidate.get("candidate") or None, candidate.get("sdpMid"), \
            candidate.get("sdpMLineIndex")
    if hasattr(candidate, "candidate"):
        return candidate.candidate or None, getattr(candidate, "sdpMid", None), \
            getattr(candidate, "sdpMLineIndex", None)
    # an aiortc RTCIceCandidate (component, foundation, ip, port, priority, protocol, type)
    from aiortc.sdp import candidate_to_sdp  # type: ignore[import-not-found, unused-ignore]

    return "candidate:" + candidate_to_sdp(candidate), candidate.sdpMid, candidate.sdpMLineIndex


def _media_extras(wrapped: RTCRtpTransceiver) -> dict[str, Any]:
    s, r = wrapped.sender, wrapped.receiver
    frame = s.last_frame
    extras: dict[str, Any] = {
        "track_id": getattr(s.track, "id", None), "media_frames": s.media_frames,
        "frames_encoded": s.frames_encoded, "keyframes_encoded": s.keyframes_encoded,
        "total_encode_time": s.total_encode_time,
        "frames_decoded": r.frames_decoded, "keyframes_decoded": r.keyframes_decoded,
        "total_decode_time": r.total_decode_time, "decode_errors": r.decode_errors,
        "receiver_track_id": r.track.id, "frames_dropped": getattr(r.track, "dropped", 0),
    }
    if frame is not None and wrapped.kind == "video":
        extras["width"], extras["height"] = frame.width, frame.height
    if r.frame_width:
        extras["frame_width"], extras["frame_height"] = r.frame_width, r.frame_height
    if len(s.layers) > 1 or None not in s.layers:  # simulcast: per-layer encoder counts
        extras["layers"] = {
            rid: {"frames_encoded": layer.frames_encoded,
                  "keyframes_encoded": layer.keyframes_encoded,
                  "total_encode_time": layer.total_encode_time,
                  **({"width": layer.width, "height": layer.height} if layer.width else {})}
            for rid, layer in s.layers.items()}
    extras["receive_layers"] = {
        rid: {"frames_decoded": layer.frames_decoded,
              "keyframes_decoded": layer.keyframes_decoded,
              "total_decode_time": layer.total_decode_time,
              **({"frame_width": layer.width, "frame_height": layer.height}
                 if layer.width else {})}
        for rid, layer in r._layers.items()}
    return extras


async def _resolve_servers(servers: Sequence[RTCIceServer]
                           ) -> tuple[list[Address], list[TurnServer]]:
    """iceServers URLs (RFC 7064 ``stun:``, RFC 7065 ``turn:``/``turns:``) to servers; UDP
    servers are resolved to an IP address here (TCP and TLS ones connect by name)."""
    loop = asyncio.get_running_loop()
    stun: list[Address] = []
    turn: list[TurnServer] = []

    async def ip_of(host: str, port: int) -> str:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        return str(infos[0][4][0])

    for server in servers:
        urls = [server.urls] if isinstance(server.urls, str) else list(server.urls)
        for url in urls:
            scheme = url.partition(":")[0].lower()
            if scheme in ("turn", "turns"):
                entry = parse_turn_uri(url, server.username or "", server.credential or "")
                if entry.transport == "udp":
                    entry = replace(entry, host=await ip_of(entry.host, entry.port))
                turn.append(entry)
            elif scheme == "stun":
                rest = url.partition(":")[2].partition("?")[0]
                if rest.startswith("["):
                    host, _, port_text = rest[1:].partition("]")
                    port_text = port_text.lstrip(":")
                else:
                    host, _, port_text = rest.partition(":")
                port = int(port_text) if port_text else 3478
                stun.append((await ip_of(host, port), port))
            else:
                raise ValueError(f"{url!r}: not a stun:, turn: or turns: URL")
    return stun, turn
