"""The sans-IO peer connection: every layer composed (W3C WebRTC §4, RFC 8829/9429, RFC 8835).

:class:`PeerConnection` is the state of one ``RTCPeerConnection`` without a socket or a clock:

- signaling (W3C §4.3.1 states, RFC 9429 §5 offer/answer through :mod:`rtcstack.sdp.jsep`,
  rollback, implicit descriptions, negotiation-needed);
- one ICE agent (:class:`~rtcstack.ice.IceAgent`) for the one BUNDLE transport (RFC 9143,
  rtcp-mux RFC 5761: rtcstack always bundles and muxes);
- RFC 7983 demultiplexing of what the selected pair delivers (:func:`rtcstack.demux.classify`):
  DTLS records to one :class:`~rtcstack.dtls.DtlsConnection`, SRTP and SRTCP to the contexts
  keyed from it (RFC 5764 §4.2), DTLS application data to the SCTP association and its data
  channels (RFC 8261, RFC 8831);
- RTP routed to transceivers by SSRC, then by the MID header extension (RFC 9143 §9.2), then by
  payload type; RTCP (SR/RR/SDES every ~1 s, RFC 3550 §6; NACK/PLI/FIR feedback, RFC 4585,
  RFC 5104) by SSRC to the send and receive streams of :mod:`rtcstack.rtp.session`;
- ``get_stats``: the W3C ``webrtc-stats`` objects.

The drive loop is every layer's::

    pc.handle_datagram(data, addr, local=local, now=now)   # a UDP datagram from a socket
    pc.handle_timeout(now)
    pc.poll_transmit() -> Transmit | None                    # ICE's: checks and our payloads
    pc.poll_event()    -> events (see PeerEvent)
    pc.poll_timeout()  -> float | None

and user actions (``create_offer``, ``add_transceiver``, ``send_frame``, data channel
``send``...) only queue work.  Media goes in and out as *encoded* frames: ``send_frame`` and
:class:`FrameReceived`; the asyncio adapter (:mod:`rtcstack.asyncio.peer`) runs the codecs.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rtcstack.common.errors import InvalidStateError, ParseError
from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.common.types import Address, Transmit
from rtcstack.demux import PacketKind, classify
from rtcstack.dtls import (
    ApplicationData,
    Certificate,
    DtlsConfig,
    DtlsConnection,
    HandshakeComplete,
)
from rtcstack.dtls import Closed as DtlsClosed
from rtcstack.ice import (
    Candidate,
    CandidateGathered,
    GatheringComplete,
    IceAgent,
    IceEvent,
    IceState,
    SelectedPairChanged,
    StateChanged,
    TurnServer,
)
from rtcstack.peer.transceiver import Transceiver, receives, sends
from rtcstack.rtp import (
    Bye,
    ExtensionMap,
    Feedback,
    Fir,
    Mid,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    RepairedRid,
    RtcpPacket,
    RtpPacket,
    Sdes,
    SdesChunk,
    SdesItemType,
    SenderReport,
    parse_rtcp,
    serialize_rtcp,
)
from rtcstack.rtp import Rid as RtpStreamId
from rtcstack.rtp.remb import RembEstimator
from rtcstack.rtp.session import RtpReceiveStream, RtpSendStream
from rtcstack.sctp import (
    DataChannel,
    DataChannelEvent,
    DataChannels,
    SctpConfig,
    TransportClosed,
    TransportConnected,
)
from rtcstack.sdp.attributes import Fingerprint, Msid
from rtcstack.sdp.codecs import Codec
from rtcstack.sdp.description import MediaSection, SessionDescription
from rtcstack.sdp.errors import NegotiationError
from rtcstack.sdp.jsep import (
    DataChannelSpec,
    DtlsParameters,
    IceParameters,
    LocalSpec,
    Negotiated,
    NegotiatedSection,
    create_answer,
    create_offer,
    negotiate,
    reverse_direction,
    session_id,
)
from rtcstack.srtp import Profile, SrtpContext, SrtpError, create_context, split_keying_material

__all__ = [
    "ConnectionState",
    "DataChannelRequest",
    "FrameReceived",
    "IceConnectionState",
    "IceGatheringState",
    "KeyframeRequested",
    "NegotiationNeeded",
    "PeerConfig",
    "PeerConnection",
    "PeerEvent",
    "PeerStats",
    "RemoteCandidate",
    "SignalingState",
    "StateChange",
    "TrackAdded",
    "TrackEnded",
]

_NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900 to 1970 (RFC 868)


class SignalingState(enum.StrEnum):
    """W3C WebRTC §4.3.1 RTCSignalingState."""

    STABLE = "stable"
    HAVE_LOCAL_OFFER = "have-local-offer"
    HAVE_REMOTE_OFFER = "have-remote-offer"
    HAVE_LOCAL_PRANSWER = "have-local-pranswer"
    HAVE_REMOTE_PRANSWER = "have-remote-pranswer"
    CLOSED = "closed"


class IceGatheringState(enum.StrEnum):
    NEW = "new"
    GATHERING = "gathering"
    COMPLETE = "complete"


class IceConnectionState(enum.StrEnum):
    NEW = "new"
    CHECKING = "checking"
    CONNECTED = "connected"
    COMPLETED = "completed"
    DISCONNECTED = "disconnected"
    FAILED = "failed"
    CLOSED = "closed"


class ConnectionState(enum.StrEnum):
    """W3C §4.3.3 RTCPeerConnectionState: ICE and DTLS together."""

    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    FAILED = "failed"
    CLOSED = "closed"


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateChange:
    """``what`` is ``"signaling"``, ``"ice-gathering"``, ``"ice-connection"`` or
    ``"connection"``; ``state`` the new value."""

    what: str
    state: str


@dataclass(frozen=True, slots=True)
class NegotiationNeeded:
    """W3C §4.7.3: an offer/answer exchange is needed (fired in the stable state)."""


@dataclass(frozen=True, slots=True)
class TrackAdded:
    """setRemoteDescription made a transceiver receive (W3C §4.4.1.5 "track" event)."""

    transceiver: Transceiver


@dataclass(frozen=True, slots=True)
class TrackEnded:
    """The remote side stopped sending on ``transceiver`` (direction change or rejection)."""

    transceiver: Transceiver


@dataclass(frozen=True, slots=True)
class FrameReceived:
    """One encoded frame, reassembled and in decode order (``rtcstack.rtp.formats.Frame``)."""

    transceiver: Transceiver
    codec: Codec
    frame: Any
    rid: str | None = None  # the simulcast layer (RFC 8853) it belongs to


@dataclass(frozen=True, slots=True)
class KeyframeRequested:
    """The peer asked for a key frame (PLI or FIR) on what ``transceiver`` sends (on its
    simulcast layer ``rid``)."""

    transceiver: Transceiver
    rid: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteCandidate:
    """A remote ``.local`` candidate (mDNS) the driver must resolve and give back to
    :meth:`PeerConnection.add_resolved_candidate`: a sans-IO core cannot query the network."""

    candidate: Candidate


PeerEvent = (StateChange | NegotiationNeeded | TrackAdded | TrackEnded | FrameReceived
             | KeyframeRequested | RemoteCandidate | IceEvent | DataChannelEvent)


# --- configuration ---------------------------------------------------------------------------


@dataclass
class PeerConfig:
    """What W3C RTCConfiguration says, resolved (the driver turns ``iceServers`` URLs into
    addresses): STUN and TURN servers, ``ice_transport_policy`` ``"all"``/``"relay"``,
    ``bundle_policy`` (rtcstack always bundles; the policy only shapes the offer),
    ``certificates`` (one is generated when empty)."""

    stun_servers: Sequence[Address] = ()
    turn_servers: Sequence[TurnServer] = ()
    ice_transport_policy: str = "all"
    bundle_policy: str = "balanced"
    certificates: Sequence[Certificate] = ()
    sctp_max_message_size: int = 262144
    max_payload_size: int = 1200
    #: the first REMB we send for a video stream that negotiated goog-remb (bit/s; 0: none),
    #: see rtcstack.rtp.remb
    remb_bitrate: int = 2_500_000
    keylog: Any = None  # Callable[[str], None] for NSS key log lines (tshark)
    software: str | None = None


@dataclass(eq=False)
class DataChannelRequest:
    """A data channel asked for with createDataChannel; ``channel`` is the sans-IO
    :class:`~rtcstack.sctp.DataChannel` once the SCTP transport exists (W3C: ``id`` null until
    the DTLS role is known)."""

    label: str
    ordered: bool = True
    max_retransmits: int | None = None
    max_packet_life_time: int | None = None
    protocol: str = ""
    negotiated: bool = False
    id: int | None = None
    priority: int = 256
    channel: DataChannel | None = None


@dataclass(eq=False)
class _Description:
    type: str
    sdp: SessionDescription


@dataclass
class _Snapshot:
    """What a rollback restores (W3C §4.4.1.5 "rollback")."""

    transceivers: list[Transceiver]
    mids: list[tuple[Transceiver, str | None, int | None]]
    signaling: SignalingState
    announced: list[tuple[Transceiver, bool]] = field(default_factory=list)


@dataclass
class PeerStats:
    """Counters of what the connection dropped (each drop is traced too)."""

    dtls_in: int = 0
    srtp_in: int = 0
    srtcp_in: int = 0
    srtp_errors: int = 0
    rtp_parse_errors: int = 0
    rtcp_parse_errors: int = 0
    unroutable_rtp: int = 0
    unknown_datagrams: int = 0
    early_dtls_dropped: int = 0
    bytes_sent: int = 0
    packets_sent: int = 0
    bytes_received: int = 0
    packets_received: int = 0


class PeerConnection:
    """One peer connection, sans-IO (see the module docstring)."""

    def __init__(self, config: PeerConfig | None = None, *,
                 random_bytes: RandomBytes = default_random_bytes, trace: Trace = NULL_TRACE,
                 now: float = 0.0, ice_options: dict[str, Any] | None = None) -> None:
        self.config = config or PeerConfig()
        self._random = random_bytes
        self._trace = trace
        self.certificate = (self.config.certificates[0] if self.config.certificates
                            else Certificate.generate(random_bytes=random_bytes))
        self.ice = IceAgent(controlling=True, stun_servers=self.config.stun_servers,
                            turn_servers=self.config.turn_servers,
                            policy=self.config.ice_transport_policy,
                            software=self.config.software,
                            random_bytes=random_bytes, trace=trace, **(ice_options or {}))
        self.stats = PeerStats()
        self.signaling_state = SignalingState.STABLE
        self.ice_gathering_state = IceGatheringState.NEW
        self.ice_connection_state = IceConnectionState.NEW
        self.connection_state = ConnectionState.NEW
        self.transceivers: list[Transceiver] = []
        self.data_channel_requests: list[DataChannelRequest] = []
        self.channels: DataChannels | None = None
        self.sctp_state = "new"
        self.dtls: DtlsConnection | None = None
        self.dtls_state = "new"
        self._tx_srtp: SrtpContext | None = None
        self._rx_srtp: SrtpContext | None = None
        self.srtp_profile: Profile | None = None
        self.remote_fingerprints: tuple[Fingerprint, ...] = ()
        self.dtls_role: str | None = None
        self._session_id = session_id(random_bytes)
        self._cname = _token(random_bytes, 16)
        self._stream_id = _uuid(random_bytes)
        self._ice_params = IceParameters(*self.ice.local_credentials)
        self._pending_ice: IceParameters | None = None  # an ICE restart not yet applied
        self._restart_requested = False
        #: remote candidates of a restart offer not answered yet (their generation starts then)
        self._held_candidates: list[Candidate | None] = []
        self.current_local: _Description | None = None
        self.current_remote: _Description | None = None
        self.pending_local: _Description | None = None
        self.pending_remote: _Description | None = None
        self._last_offer: SessionDescription | None = None
        self._last_answer: SessionDescription | None = None
        self.negotiated: Negotiated | None = None
        self._snapshot: _Snapshot | None = None
        self._events: deque[PeerEvent] = deque()
        self._early_dtls: list[bytes] = []
        self._waiting_payloads: list[bytes] = []
        self._negotiation_needed = False
        self._negotiation_fired = False
        self._gathering_started = False
        self._local_candidates: list[Candidate] = []
        self._gathering_complete = False
        self._ssrc_map: dict[int, tuple[Transceiver, RtpReceiveStream]] = {}
        self._send_ssrcs: dict[int, tuple[Transceiver, RtpSendStream]] = {}
        self._next_rtcp: float | None = None
        self._rtcp_seen = False
        self._heard: set[int] = set()  # SSRCs a packet arrived from
        self._created_answer: tuple[SessionDescription, str] | None = None
        # the last description with candidates built (the app may read it many times)
        self._described: tuple[tuple[_Description, int, bool], tuple[str, str]] | None = None
        self._rtcp_sent = False
        self._now = now
        self._closed = False
        self._ever_connected = False
        self.remote_max_message_size = 65536

    # ================================================================== transceivers & channels

    def add_transceiver(self, kind: str, *, direction: str = "sendrecv", has_track: bool = False,
                        send_rids: Sequence[str] = (),
                        stream_id: str | None = None, track_id: str | None = None,
                        added_by_track: bool | None = None) -> Transceiver:
        """W3C addTransceiver / addTrack (``has_track``): a new transceiver, not yet
        associated with an m-line; negotiation is needed.  ``added_by_track`` (default:
        ``has_track``) says addTrack made it, so a remote offer may take it (RFC 9429 §5.10)."""
        self._check_open()
        if kind not in ("audio", "video"):
            raise ValueError(f"kind must be 'audio' or 'video', not {kind!r}")
        if direction not in ("sendrecv", "sendonly", "recvonly", "inactive"):
            raise ValueError(f"invalid direction {direction!r}")
        t = Transceiver(kind, direction, _ssrc(self._random),
                        _ssrc(self._random) if kind == "video" else None, self._cname,
                        Msid(stream_id or self._stream_id, track_id or _uuid(self._random)),
                        has_track=has_track, send_rids=tuple(send_rids),
                        receiver_track_id=_uuid(self._random),
                        added_by_track=has_track if added_by_track is None else added_by_track)
        self.transceivers.append(t)
        self._update_negotiation_needed()
        return t

    def set_direction(self, transceiver: Transceiver, direction: str) -> None:
        self._check_open()
        if direction not in ("sendrecv", "sendonly", "recvonly", "inactive"):
            raise ValueError(f"invalid direction {direction!r}")
        if transceiver.stopped:
            # W3C §5.4 direction setter: "If transceiver.[[Stopping]] is true, throw an
            # InvalidStateError."
            raise InvalidStateError("the transceiver is stopped")
        if transceiver.direction != direction:
            transceiver.direction = direction
            self._update_negotiation_needed()

    def set_sender_track(self, transceiver: Transceiver, has_track: bool,
                         *, stream_id: str | None = None, track_id: str | None = None) -> None:
        """addTrack reusing a transceiver / removeTrack (W3C §5.1): removeTrack also stops
        sending (direction without "send")."""
        self._check_open()
        transceiver.has_track = has_track
        if stream_id or track_id:
            transceiver.msid = Msid(stream_id or transceiver.msid.stream_id,
                                    track_id or transceiver.msid.track_id or _uuid(self._random))
        if not has_track and transceiver.direction in ("sendrecv", "sendonly"):
            transceiver.direction = "recvonly" if transceiver.direction == "sendrecv" \
                else "inactive"
        elif has_track and transceiver.direction in ("recvonly", "inactive"):
            transceiver.direction = "sendrecv" if transceiver.direction == "recvonly" \
                else "sendonly"
        self._update_negotiation_needed()

    def stop_transceiver(self, transceiver: Transceiver) -> None:
        """W3C RTCRtpTransceiver.stop(): the section is rejected at the next negotiation."""
        if not transceiver.stopped:
            transceiver.stopped = True
            transceiver.direction = "inactive"
            self._update_negotiation_needed()

    def create_data_channel(self, label: str = "", *, ordered: bool = True,
                            max_retransmits: int | None = None,
                            max_packet_life_time: int | None = None, protocol: str = "",
                            negotiated: bool = False, id: int | None = None,
                            priority: int = 256) -> DataChannelRequest:
        """W3C createDataChannel (all of RTCDataChannelInit)."""
        self._check_open()
        if max_retransmits is not None and max_packet_life_time is not None:
            raise ValueError("maxRetransmits and maxPacketLifeTime are mutually exclusive")
        if negotiated and id is None:
            raise ValueError("a negotiated channel needs an id")
        if id is not None and not 0 <= id <= 65534:
            raise ValueError("id must be in 0..65534")
        request = DataChannelRequest(label, ordered, max_retransmits, max_packet_life_time,
                                     protocol, negotiated, id, priority)
        first = not self.data_channel_requests and not self._has_data_section()
        self.data_channel_requests.append(request)
        if self.channels is not None:
            self._open_request(request)
        if first:
            self._update_negotiation_needed()
        return request

    def _open_request(self, request: DataChannelRequest) -> None:
        channels = self.channels
        if channels is None:  # pragma: no cover - callers check
            raise InvalidStateError("no SCTP transport yet")
        request.channel = channels.create_channel(
            request.label, now=self._now, ordered=request.ordered,
            max_retransmits=request.max_retransmits,
            max_packet_life_time=request.max_packet_life_time, protocol=request.protocol,
            negotiated=request.negotiated, id=request.id, priority=request.priority)
        self._pump_sctp()

    def _has_data_section(self) -> bool:
        for d in (self.current_local, self.pending_local):
            if d is not None and any(m.kind == "application" and not _rejected(m)
                                     for m in d.sdp.media):
                return True
        return False

    # ================================================================== offer / answer

    def restart_ice(self) -> None:
        """W3C restartIce(): the next offer carries new ICE credentials (RFC 8445 §9)."""
        self._check_open()
        self._restart_requested = True
        self._update_negotiation_needed(force=True)

    def _spec(self, ice: IceParameters) -> LocalSpec:
        setup = "actpass"
        if self.dtls_role is not None and self.signaling_state in (
                SignalingState.HAVE_REMOTE_OFFER, SignalingState.HAVE_LOCAL_PRANSWER):
            setup = "active" if self.dtls_role == "client" else "passive"
        elif self.dtls_role is not None:
            setup = "actpass"
        fingerprint = Fingerprint.parse(f"sha-256 {self.certificate.fingerprint('sha-256')}")
        data: DataChannelSpec | None = None
        if self.data_channel_requests or self._has_data_section() or self._remote_has_data():
            data = DataChannelSpec(max_message_size=self.config.sctp_max_message_size,
                                   mid=self._data_mid())
        candidates = tuple(c.to_sdp() for c in self._local_candidates)
        return LocalSpec(tuple(t.spec() for t in self.transceivers), data, ice,
                         DtlsParameters((fingerprint,), setup=setup), self._session_id,
                         candidates=candidates, end_of_candidates=self._gathering_complete,
                         bundle_policy=self.config.bundle_policy)

    def _remote_has_data(self) -> bool:
        d = self.pending_remote or self.current_remote
        return d is not None and any(m.kind == "application" and not _rejected(m)
                                     for m in d.sdp.media)

    def _data_mid(self) -> str | None:
        for d in (self.pending_local, self.current_local, self.pending_remote,
                  self.current_remote):
            if d is not None:
                for m in d.sdp.media:
                    if m.kind == "application":
                        return m.mid
        return None

    def create_offer(self, *, ice_restart: bool = False) -> str:
        """W3C createOffer (RFC 9429 §5.2)."""
        self._check_open()
        if self.signaling_state not in (SignalingState.STABLE, SignalingState.HAVE_LOCAL_OFFER):
            raise InvalidStateError(f"cannot create an offer in {self.signaling_state}")
        ice = self._ice_params
        if ice_restart or self._restart_requested:
            ice = self._pending_ice or IceParameters.generate(self._random)
            self._pending_ice = ice
        spec = self._spec(ice)
        previous_local = self.current_local.sdp if self.current_local else None
        previous_remote = self.current_remote.sdp if self.current_remote else None
        offer = create_offer(spec, previous_local=previous_local,
                             previous_remote=previous_remote,
                             ice_restart=ice is not self._ice_params)
        return offer.serialize()

    def create_answer(self) -> str:
        """W3C createAnswer (RFC 9429 §5.3)."""
        self._check_open()
        if self.signaling_state not in (SignalingState.HAVE_REMOTE_OFFER,
                                        SignalingState.HAVE_LOCAL_PRANSWER):
            raise InvalidStateError(f"cannot create an answer in {self.signaling_state}")
        if self.pending_remote is None:  # pragma: no cover - the states imply one
            raise InvalidStateError("no remote offer")
        ice = self._pending_ice or self._ice_params
        spec = self._spec(ice)
        previous = self.current_local.sdp if self.current_local else None
        answer = create_answer(self.pending_remote.sdp, spec, previous_local=previous)
        text = answer.serialize()
        self._created_answer = (self.pending_remote.sdp, text)
        return text

    def set_local_description(self, type: str | None = None, sdp: str | None = None, *,
                              now: float) -> None:
        """W3C setLocalDescription; with no arguments (or no ``sdp``), the implicit form
        (W3C §4.4.1.5: an offer in stable/have-local-offer, else an answer)."""
        self._now = now
        self._check_open()
        if type == "rollback":
            self._rollback_local()
            return
        if type is None:
            type = ("offer" if self.signaling_state in (SignalingState.STABLE,
                                                        SignalingState.HAVE_LOCAL_OFFER)
                    else "answer")
        if not sdp:
            sdp = self.create_offer() if type == "offer" else self.create_answer()
        description = _parse(sdp)
        if type == "offer":
            if self.signaling_state not in (SignalingState.STABLE,
                                            SignalingState.HAVE_LOCAL_OFFER):
                raise InvalidStateError(f"cannot set a local offer in {self.signaling_state}")
            self._take_ice(description)
            self.pending_local = _Description("offer", description)
            self._associate_local_offer(description)
            self._set_signaling(SignalingState.HAVE_LOCAL_OFFER)
        elif type in ("answer", "pranswer"):
            if self.signaling_state not in (SignalingState.HAVE_REMOTE_OFFER,
                                            SignalingState.HAVE_LOCAL_PRANSWER):
                raise InvalidStateError(f"cannot set a local answer in {self.signaling_state}")
            if self.pending_remote is None:  # pragma: no cover - the states imply one
                raise InvalidStateError("no remote offer")
            self._take_ice(description)
            # our own createAnswer output for this offer, unmodified, is valid by construction
            made = self._created_answer
            ours = made is not None and made[0] is self.pending_remote.sdp and made[1] == sdp
            negotiated = negotiate(description, self.pending_remote.sdp, local_is_offerer=False,
                                   previous_remote=(self.current_remote.sdp
                                                    if self.current_remote else None),
                                   check=not ours)
            if type == "pranswer":
                self.pending_local = _Description("pranswer", description)
                self._set_signaling(SignalingState.HAVE_LOCAL_PRANSWER)
                # W3C §4.4.1.6: a provisional answer starts the transports (RFC 3264 §4:
                # media may flow) -- the final answer re-applies what changed
                self._apply(negotiated, description)
            else:
                self.current_local = _Description("answer", description)
                self.current_remote = self.pending_remote
                self.pending_local = self.pending_remote = None
                # W3C §4.4.1.6: signalingstatechange fires before the track events
                self._set_signaling(SignalingState.STABLE)
                self._apply(negotiated, description)
                self._update_negotiation_needed()  # W3C §4.7.3: checked once stable
        else:
            raise ValueError(f"invalid description type {type!r}")
        self._start_gathering(now)
        self._snapshot = None if self.signaling_state is SignalingState.STABLE else self._snapshot
        self._compact_descriptions()

    def _take_ice(self, description: SessionDescription) -> None:
        """Apply an ICE restart our description carries (the agent switches credentials)."""
        ufrag, pwd = _credentials(description)
        if ufrag is None or pwd is None:
            return
        if (ufrag, pwd) != self.ice.local_credentials:
            self.ice.restart(now=self._now, ufrag=ufrag, pwd=pwd)
            self._ice_params = IceParameters(ufrag, pwd)
            self._local_candidates.clear()
            self._gathering_complete = False
            self._set_gathering(IceGatheringState.GATHERING)
        self._pending_ice = None
        self._restart_requested = False

    def set_remote_description(self, type: str, sdp: str | None = None, *, now: float) -> None:
        """W3C setRemoteDescription (incl. ``"rollback"``)."""
        self._now = now
        self._check_open()
        if type == "rollback":
            self._rollback_remote()
            return
        if not sdp:
            raise ValueError("a remote description needs its SDP")
        description = _parse(sdp)
        if type == "offer":
            if self.signaling_state is SignalingState.HAVE_LOCAL_OFFER:
                # W3C §4.4.1.6 setRemoteDescription: an offer in have-local-offer rolls our
                # offer back first (implicit rollback: perfect negotiation's polite peer).
                self._rollback_local()
            if self.signaling_state not in (SignalingState.STABLE,
                                            SignalingState.HAVE_REMOTE_OFFER):
                raise InvalidStateError(f"cannot set a remote offer in {self.signaling_state}")
            if self.signaling_state is SignalingState.STABLE:
                self._snapshot = self._take_snapshot()
            previous_remote = self.current_remote.sdp if self.current_remote else None
            ufrag, _ = _credentials(description)
            if previous_remote is not None and ufrag is not None and \
                    ufrag != _credentials(previous_remote)[0]:
                # RFC 8839 §4.4.1.1.2: an ICE restart offer is answered with new credentials.
                self._pending_ice = IceParameters.generate(self._random)
            self.pending_remote = _Description("offer", description)
            self._associate_remote_offer(description)
            self._set_signaling(SignalingState.HAVE_REMOTE_OFFER)
            self._announce_remote_tracks(description)
        elif type in ("answer", "pranswer"):
            if self.signaling_state not in (SignalingState.HAVE_LOCAL_OFFER,
                                            SignalingState.HAVE_REMOTE_PRANSWER):
                raise InvalidStateError(f"cannot set a remote answer in {self.signaling_state}")
            if self.pending_local is None:  # pragma: no cover - the states imply one
                raise InvalidStateError("no local offer")
            negotiated = negotiate(self.pending_local.sdp, description, local_is_offerer=True,
                                   previous_remote=(self.current_remote.sdp
                                                    if self.current_remote else None))
            if type == "pranswer":
                self.pending_remote = _Description("pranswer", description)
                self._set_signaling(SignalingState.HAVE_REMOTE_PRANSWER)
                self._apply(negotiated, self.pending_local.sdp)  # as for a local pranswer
            else:
                self.current_local = self.pending_local
                self.current_remote = _Description("answer", description)
                self.pending_local = self.pending_remote = None
                # W3C §4.4.1.6: signalingstatechange fires before the track events
                self._set_signaling(SignalingState.STABLE)
                self._apply(negotiated, self.current_local.sdp)
                self._update_negotiation_needed()  # W3C §4.7.3: checked once stable
        else:
            raise ValueError(f"invalid description type {type!r}")
        self._snapshot = None if self.signaling_state is SignalingState.STABLE else self._snapshot
        self._compact_descriptions()

    def _compact_descriptions(self) -> None:
        """Once stable, the kept descriptions hold their lines only: the attribute index and the
        parsed values negotiation built (about half of a connected pair's memory) are rebuilt
        if something reads them again -- renegotiation does, the media path never."""
        if self.signaling_state is SignalingState.STABLE:
            for d in (self.current_local, self.current_remote):
                if d is not None:
                    d.sdp.compact()

    # --- association of transceivers with m-lines (RFC 9429 §5.10, §5.11) ---------------------

    def _take_snapshot(self) -> _Snapshot:
        return _Snapshot(list(self.transceivers),
                         [(t, t.mid, t.index) for t in self.transceivers], self.signaling_state,
                         [(t, t.track_announced) for t in self.transceivers])

    def _associate_local_offer(self, offer: SessionDescription) -> None:
        if self._snapshot is None:
            self._snapshot = self._take_snapshot()
        rtp = [m for m in offer.media if m.kind in ("audio", "video")]
        for index, section in enumerate(offer.media):
            if section.kind not in ("audio", "video") or _rejected(section):
                continue
            if any(t.mid == section.mid for t in self.transceivers):
                continue
            for t in self.transceivers:
                if t.mid is None and t.kind == section.kind and not t.stopped:
                    t.mid, t.index = section.mid, index
                    break
        del rtp

    def _associate_remote_offer(self, offer: SessionDescription) -> None:
        """W3C §4.4.1.5: each offered RTP section finds its transceiver by mid, else an unused
        one of the same kind added by addTrack, else a new recvonly one is made."""
        for index, section in enumerate(offer.media):
            if section.kind not in ("audio", "video"):
                continue
            mid = section.mid
            t = next((t for t in self.transceivers if t.mid is not None and t.mid == mid), None)
            if t is None and not _rejected(section):
                # RFC 9429 §5.10: "If the m= section is sendrecv or recvonly, and there are
                # RtpTransceivers of the same type that were added to the PeerConnection by
                # addTrack and are not associated with any m= section and are not stopped,
                # find the first ... such RtpTransceiver."
                wants = (section.direction or "sendrecv") in ("sendrecv", "recvonly")
                t = next((t for t in self.transceivers
                          if wants and t.mid is None and t.kind == section.kind
                          and not t.stopped and t.has_track and t.added_by_track), None)
                if t is None:
                    t = Transceiver(section.kind, "recvonly", _ssrc(self._random),
                                    _ssrc(self._random) if section.kind == "video" else None,
                                    self._cname, Msid(self._stream_id, _uuid(self._random)),
                                    from_remote=True, receiver_track_id=_uuid(self._random))
                    self.transceivers.append(t)
                t.mid, t.index = mid, index
            if t is not None:
                msids = [m for m in section.get(Msid)]
                if msids:
                    t.remote_stream_ids = tuple(m.stream_id for m in msids if m.stream_id != "-")

    def _announce_remote_tracks(self, offer: SessionDescription) -> None:
        """W3C §4.4.1.6 "process the addition of a remote track": a remote offer that sends
        on a section fires "track" at setRemoteDescription -- before the answer, so that an
        application can answer with a track of its own (aiortc's echo examples do)."""
        for section in offer.media:
            if section.kind not in ("audio", "video") or _rejected(section) \
                    or not sends(section.direction or "sendrecv"):
                continue
            t = next((t for t in self.transceivers if t.mid is not None
                      and t.mid == section.mid), None)
            if t is None or t.stopped or t.track_announced:
                continue
            msids = section.get(Msid)
            if msids and msids[0].track_id:
                t.receiver_track_id = msids[0].track_id
            t.track_announced = True
            self._events.append(TrackAdded(t))

    # W3C §4.4.1.6: a rollback in "stable", "have-local-pranswer" or "have-remote-pranswer"
    # is an InvalidStateError (a pranswer has set transports in motion; webrtc-pc #2235).
    # Back in stable, negotiationneeded fires again if still needed (W3C §4.7.3).

    def _rollback_local(self) -> None:
        if self.signaling_state is not SignalingState.HAVE_LOCAL_OFFER:
            raise InvalidStateError(f"nothing to roll back in {self.signaling_state}")
        self._restore()
        self.pending_local = None
        self._set_signaling(SignalingState.STABLE)
        self._negotiation_fired = False
        self._update_negotiation_needed()

    def _rollback_remote(self) -> None:
        if self.signaling_state is not SignalingState.HAVE_REMOTE_OFFER:
            raise InvalidStateError(f"nothing to roll back in {self.signaling_state}")
        self._restore()
        self.pending_remote = None
        self._pending_ice = None
        self._held_candidates.clear()
        self._set_signaling(SignalingState.STABLE)
        self._negotiation_fired = False
        self._update_negotiation_needed()

    def _restore(self) -> None:
        snap = self._snapshot
        self._snapshot = None
        if snap is None:
            return
        keep = {id(t) for t in snap.transceivers}
        # transceivers created by the rolled-back remote offer go; ones added by the user stay
        self.transceivers = [t for t in self.transceivers
                             if id(t) in keep or not t.from_remote]
        for t, mid, index in snap.mids:
            t.mid, t.index = mid, index
        for t, announced in snap.announced:
            t.track_announced = announced

    # --- applying a completed exchange ---------------------------------------------------------

    def _apply(self, negotiated: Negotiated, local: SessionDescription) -> None:
        """RFC 9429 §5.9-§5.11: set up ICE, DTLS, SCTP and the RTP streams as agreed."""
        first = self.negotiated is None
        self.negotiated = negotiated
        if first:
            self.ice.controlling = negotiated.ice_controlling
            self.dtls_role = negotiated.dtls_role
        transport = negotiated.transports[0] if negotiated.transports else None
        if transport is not None:
            self.ice.set_remote_credentials(transport.ice_ufrag, transport.ice_pwd,
                                            lite=transport.ice_lite)
            for c in transport.candidates:
                self._add_remote(Candidate.from_sdp(c))
            if transport.end_of_candidates:
                self.ice.add_remote_candidate(None, now=self._now)
            held, self._held_candidates = self._held_candidates, []
            for h in held:
                if h is None:
                    self.ice.add_remote_candidate(None, now=self._now)
                else:
                    self._add_remote(h)
            if first or not self.remote_fingerprints:
                self.remote_fingerprints = transport.fingerprints
        if first:
            self._start_dtls_if_ready()
        for section in negotiated.sections:
            if section.kind == "application":
                if not section.rejected:
                    self._setup_sctp(section)
                continue
            t = next((t for t in self.transceivers if t.mid is not None
                      and t.mid == section.mid), None)
            if t is None:
                continue
            self._apply_rtp(t, section)
        self._negotiation_fired = False
        self._update_negotiation_needed()

    def _apply_rtp(self, t: Transceiver, section: NegotiatedSection) -> None:
        was_receiving = t.receiving
        if section.rejected:
            t.current_direction = "stopped"  # W3C §5.4 currentDirection of a stopped one
            t.stopped = True  # W3C §4.4.1.5: a rejected section stops its transceiver
            self._drop_send(t)
            if was_receiving:
                self._events.append(TrackEnded(t))
            return
        t.current_direction = section.direction
        old_extensions = t.extensions.uris
        t.extensions = ExtensionMap({e.id: e.uri for e in section.header_extensions})
        t.rtcp_rsize = section.rtcp_rsize
        # send side
        media = [c for c in section.send_codecs if not c.is_rtx]
        codec = media[0] if media else None
        if t.sending and codec is not None:
            rtx = next((c for c in section.send_codecs if c.is_rtx
                        and c.param("apt") == str(codec.payload_type)), None)
            use_rtx = rtx is not None and any(f[0] == "nack" and f[1] is None
                                              for f in codec.rtcp_feedback)
            # RFC 8853: one stream per simulcast layer the answer kept (paused ones too,
            # so that they can resume), else one stream
            layers: list[tuple[str | None, int, int | None]] = [
                (r.rid, *self._rid_ssrcs(t, r.rid)) for r in section.send_rids
            ] or [(None, t.ssrc, t.rtx_ssrc)]
            if (t.send_stream is None or t.send_codec != codec
                    or t.extensions.uris != old_extensions  # a re-offer may renumber them
                    or list(t.send_streams) != [rid for rid, _, _ in layers]
                    or (use_rtx and t.send_rtx_payload_type != rtx.payload_type)):  # type: ignore[union-attr]
                previous = {s.ssrc: s for s in t.send_streams.values()}
                self._drop_send(t)
                t.send_codec = codec
                t.send_rtx_payload_type = rtx.payload_type if use_rtx and rtx else None
                for rid, ssrc, rtx_ssrc in layers:
                    stream = RtpSendStream(
                        ssrc=ssrc, payload_type=codec.payload_type or 0,
                        clock_rate=codec.clock_rate, codec=codec.name,
                        rtx_ssrc=rtx_ssrc if t.send_rtx_payload_type else None,
                        rtx_payload_type=t.send_rtx_payload_type, extensions=t.extensions,
                        mid=t.mid, rid=rid, max_payload_size=self.config.max_payload_size,
                        random_bytes=self._random)
                    if ssrc in previous:
                        stream.continue_from(previous[ssrc])
                    t.send_streams[rid] = stream
                    self._send_ssrcs[ssrc] = (t, stream)
        elif not t.sending:
            self._drop_send(t)
        # receive side
        t.receive_codecs = tuple(section.receive_codecs)
        t.receive_rids = tuple(r.rid for r in section.receive_rids)
        if t.remb is None and self.config.remb_bitrate and t.kind == "video" and any(
                ("goog-remb", None) in c.rtcp_feedback for c in t.receive_codecs):
            t.remb = RembEstimator(initial=self.config.remb_bitrate,
                                   minimum=min(100_000, self.config.remb_bitrate),
                                   maximum=max(10_000_000, self.config.remb_bitrate))
        ssrcs = [s.ssrc for s in section.remote_ssrcs]
        rtx_of: dict[int, int] = {}
        for group in section.remote_ssrc_groups:
            if group.semantics == "FID" and len(group.ssrcs) == 2:
                rtx_of[group.ssrcs[1]] = group.ssrcs[0]
        primaries = tuple(dict.fromkeys(s for s in ssrcs if s not in rtx_of))
        t.remote_ssrcs, t.remote_rtx_ssrcs = primaries, rtx_of
        msids = section.remote_msids
        if msids:
            t.remote_stream_ids = tuple(m.stream_id for m in msids if m.stream_id != "-")
            if msids[0].track_id:
                t.receiver_track_id = msids[0].track_id
        if t.receiving:
            # With simulcast the SDP's SSRCs do not say which layer each is (Firefox lists
            # them): the streams are made as packets name their RtpStreamId (RFC 8853 §5.2).
            for ssrc in primaries if not t.receive_rids else ():
                self._receive_stream(t, ssrc)
            for repair, primary in rtx_of.items():
                if primary in t.receive_streams:
                    self._ssrc_map[repair] = (t, t.receive_streams[primary])
            if not t.track_announced:
                t.track_announced = True
                self._events.append(TrackAdded(t))
        elif was_receiving:
            self._events.append(TrackEnded(t))
            t.track_announced = False

    def _rid_ssrcs(self, t: Transceiver, rid: str) -> tuple[int, int | None]:
        """The SSRC and RTX SSRC of our simulcast layer ``rid`` (drawn once)."""
        if rid not in t.rid_ssrcs:
            t.rid_ssrcs[rid] = (_ssrc(self._random),
                                _ssrc(self._random) if t.kind == "video" else None)
        return t.rid_ssrcs[rid]

    def _drop_send(self, t: Transceiver) -> None:
        for stream in t.send_streams.values():
            self._send_ssrcs.pop(stream.ssrc, None)
        t.send_streams.clear()
        t.send_codec = None

    def _receive_stream(self, t: Transceiver, ssrc: int,
                        payload_type: int | None = None) -> RtpReceiveStream | None:
        stream = t.receive_streams.get(ssrc)
        if stream is not None:
            return stream
        codecs = [c for c in t.receive_codecs if not c.is_rtx]
        codec = next((c for c in codecs if c.payload_type == payload_type), None) \
            if payload_type is not None else None
        codec = codec or (codecs[0] if codecs else None)
        if codec is None:
            return None
        rtx_pt = next((c.payload_type for c in t.receive_codecs if c.is_rtx
                       and c.param("apt") == str(codec.payload_type)), None)
        rtx_ssrc = next((r for r, p in t.remote_rtx_ssrcs.items() if p == ssrc), None)
        feedback = {f for f in codec.rtcp_feedback}
        stream = RtpReceiveStream(
            ssrc=ssrc, clock_rate=codec.clock_rate, codec=codec.name,
            payload_type=codec.payload_type, rtx_ssrc=rtx_ssrc, rtx_payload_type=rtx_pt,
            nack=("nack", None) in feedback, pli=("nack", "pli") in feedback,
            kind=t.kind, local_ssrc=t.ssrc)
        t.receive_streams[ssrc] = stream
        self._ssrc_map[ssrc] = (t, stream)
        if rtx_ssrc is not None:
            self._ssrc_map[rtx_ssrc] = (t, stream)
        return stream

    # --- SCTP ----------------------------------------------------------------------------------

    def _setup_sctp(self, section: NegotiatedSection) -> None:
        if self.channels is not None:
            return
        self.remote_max_message_size = (section.max_message_size
                                        if section.max_message_size is not None else 65536)
        role = self.dtls_role or "client"
        config = SctpConfig(zero_checksum=True, mtu=1160,
                            local_port=section.sctp_port or 5000,
                            remote_port=section.remote_sctp_port or 5000,
                            max_message_size=self.config.sctp_max_message_size)
        self.channels = DataChannels(role, config,
                                     remote_max_message_size=self.remote_max_message_size,
                                     random_bytes=self._random, trace=self._trace)
        self.sctp_state = "connecting"
        # Channels with an id of their own (negotiated) first, so that the ids chosen for the
        # others (RFC 8832 §6, by DTLS role) cannot take theirs.
        for request in sorted(self.data_channel_requests, key=lambda r: r.id is None):
            if request.channel is None:
                self._open_request(request)
        if self.dtls_state == "connected":
            self.channels.connect(now=self._now)
            self._pump_sctp()

    # ================================================================== ICE

    def _start_gathering(self, now: float) -> None:
        if not self._gathering_started:
            self._gathering_started = True
            self._set_gathering(IceGatheringState.GATHERING)
            self.ice.gather(now=now)
            self._drain_ice()

    def add_host_address(self, address: Address) -> Candidate:
        """A local address (a bound UDP socket) to gather a host candidate on."""
        return self.ice.add_host_address(address)

    def add_ice_candidate(self, candidate: str | Candidate | None, *, mid: str | None = None,
                          mline_index: int | None = None, now: float) -> None:
        """W3C addIceCandidate: ``candidate:...`` text (with or without the ``a=`` prefix),
        or None / ``""`` for end-of-candidates.  Candidates for a section outside our
        BUNDLE transport are ignored; ``.local`` ones surface as :class:`RemoteCandidate`."""
        self._now = now
        self._check_open()
        if self.current_remote is None and self.pending_remote is None:
            raise InvalidStateError("addIceCandidate before setRemoteDescription")
        if isinstance(candidate, str):
            text = candidate.strip().removeprefix("a=")
            candidate = Candidate.parse(text) if text else None
        if self._remote_restart_pending():
            # W3C: a candidate belongs to the latest remote description -- here an ICE restart
            # offer, whose generation (RFC 8445 §9) starts with our answer; given to the agent
            # now it would be dropped as the old generation's, or forgotten by the restart.
            self._held_candidates.append(candidate)
            return
        if candidate is None:
            self.ice.add_remote_candidate(None, now=now)
            return
        self._add_remote(candidate)

    def _remote_restart_pending(self) -> bool:
        pending = self.pending_remote
        if pending is None or pending.type != "offer" or self.ice.remote_ufrag is None:
            return False
        ufrag, _ = _credentials(pending.sdp)
        return ufrag is not None and ufrag != self.ice.remote_ufrag

    def _add_remote(self, candidate: Candidate) -> None:
        if candidate.transport != "udp":
            return
        if candidate.is_mdns:
            self._events.append(RemoteCandidate(candidate))
            return
        self.ice.add_remote_candidate(candidate, now=self._now)

    def add_resolved_candidate(self, candidate: Candidate, *, now: float) -> None:
        """A :class:`RemoteCandidate` the driver resolved (its address now an IP)."""
        self._now = now
        if not self._closed:
            self.ice.add_remote_candidate(candidate, now=now)

    @property
    def local_candidates(self) -> list[Candidate]:
        return list(self._local_candidates)

    def _on_ice_event(self, event: IceEvent) -> None:
        if isinstance(event, CandidateGathered):
            self._local_candidates.append(event.candidate)
        elif isinstance(event, GatheringComplete):
            self._gathering_complete = True
            self._set_gathering(IceGatheringState.COMPLETE)
        elif isinstance(event, StateChanged):
            self._update_ice_state(event.state)
        elif isinstance(event, SelectedPairChanged):
            self._start_dtls_if_ready()
            self._flush_waiting()
        self._events.append(event)

    def _update_ice_state(self, state: IceState) -> None:
        mapping = {
            IceState.NEW: IceConnectionState.NEW,
            IceState.CHECKING: IceConnectionState.CHECKING,
            IceState.CONNECTED: IceConnectionState.CONNECTED,
            IceState.COMPLETED: IceConnectionState.COMPLETED,
            IceState.DISCONNECTED: IceConnectionState.DISCONNECTED,
            IceState.FAILED: IceConnectionState.FAILED,
            IceState.CLOSED: IceConnectionState.CLOSED,
        }
        new = mapping.get(state, IceConnectionState.NEW)
        if new != self.ice_connection_state and not self._closed:
            self.ice_connection_state = new
            self._events.append(StateChange("ice-connection", new.value))
        self._update_connection_state()

    def _update_connection_state(self) -> None:
        """W3C §4.3.3: the aggregate of the ICE and DTLS transports."""
        if self._closed:
            return
        ice, dtls = self.ice_connection_state, self.dtls_state
        if ice is IceConnectionState.FAILED or dtls == "failed":
            new = ConnectionState.FAILED
        elif ice is IceConnectionState.DISCONNECTED:
            new = ConnectionState.DISCONNECTED
        elif ice in (IceConnectionState.CONNECTED, IceConnectionState.COMPLETED) \
                and dtls in ("connected", "closed"):
            # W3C §4.3.3 "connected": every DTLS transport "connected" or "closed" -- a peer's
            # close_notify does not make the connection "connecting" again; ICE consent
            # (RFC 7675) then takes it to "disconnected" and "failed".
            new = ConnectionState.CONNECTED
        elif ice is IceConnectionState.NEW and dtls in ("new", "closed"):
            new = ConnectionState.NEW
        else:
            new = ConnectionState.CONNECTING
        if new != self.connection_state:
            self.connection_state = new
            if new is ConnectionState.CONNECTED:
                self._ever_connected = True
            self._events.append(StateChange("connection", new.value))

    def _set_gathering(self, state: IceGatheringState) -> None:
        if state != self.ice_gathering_state:
            self.ice_gathering_state = state
            self._events.append(StateChange("ice-gathering", state.value))

    def _set_signaling(self, state: SignalingState) -> None:
        if state != self.signaling_state:
            self.signaling_state = state
            self._events.append(StateChange("signaling", state.value))

    # ================================================================== DTLS

    def _start_dtls_if_ready(self) -> None:
        """RFC 8842 roles: the DTLS server waits for the ClientHello; the client starts once
        ICE has a selected pair to send it on."""
        if self.dtls is not None or self.dtls_role is None or not self.remote_fingerprints:
            return
        if self.dtls_role == "server" or self.ice.selected_pair is not None:
            self._make_dtls()

    def _make_dtls(self) -> None:
        if self.dtls is not None or self.dtls_role is None:
            return
        prints = [(f.algorithm, f.value) for f in self.remote_fingerprints]
        config = DtlsConfig(self.certificate, remote_fingerprints=prints,
                            require_cookie=False, keylog=self.config.keylog,
                            random_bytes=self._random)
        self.dtls = DtlsConnection(config, self.dtls_role, trace=self._trace)
        self._trace("peer.dtls-start", role=self.dtls_role)
        self.dtls_state = "connecting"
        self._update_connection_state()
        if self.dtls_role == "client":
            self.dtls.connect(now=self._now)
        early, self._early_dtls = self._early_dtls, []
        for data in early:
            self.dtls.handle_datagram(data, now=self._now)
        self._drain_dtls()

    def _drain_dtls(self) -> None:
        dtls = self.dtls
        if dtls is None:
            return
        while (data := dtls.poll_transmit()) is not None:
            self._send_payload(data)
        while (event := dtls.poll_event()) is not None:
            if isinstance(event, ApplicationData):
                if self.channels is not None:
                    self.channels.handle_packet(event.data, now=self._now)
                    self._pump_sctp()
            elif isinstance(event, HandshakeComplete):
                self._on_handshake(event)
            elif isinstance(event, DtlsClosed):
                self.dtls_state = "closed" if event.error is None else "failed"
                self._trace("peer.dtls-closed", error=str(event.error))
                if self.channels is not None:
                    self.channels.lower_layer_closed(now=self._now)
                    self._pump_sctp()
                self._update_connection_state()

    def _on_handshake(self, event: HandshakeComplete) -> None:
        dtls = self.dtls
        if dtls is None:  # pragma: no cover - the event comes from it
            return
        self.dtls_state = "connected"
        if event.srtp_profile is not None:
            profile = Profile(event.srtp_profile)
            material = dtls.srtp_keying_material()
            client, server = split_keying_material(profile, material)
            tx, rx = (client, server) if self.dtls_role == "client" else (server, client)
            self._tx_srtp = create_context(profile, *tx)
            self._rx_srtp = create_context(profile, *rx)
            self.srtp_profile = profile
            self._trace("peer.srtp-keys", profile=profile.name)
        if self.channels is not None:
            self.channels.association.config = replace(
                self.channels.association.config, mtu=dtls.max_application_payload)
            self.channels.connect(now=self._now)
            self._pump_sctp()
        self._next_rtcp = self._now + 0.5
        self._update_connection_state()

    def _send_payload(self, data: bytes) -> None:
        """Send over the selected pair (queued until there is one)."""
        if self.ice.selected_pair is None or self.ice.state in (IceState.FAILED,
                                                                  IceState.CLOSED):
            if len(self._waiting_payloads) < 256 and not self._closed:
                self._waiting_payloads.append(data)
            return
        self.ice.send(data, now=self._now)
        self.stats.packets_sent += 1
        self.stats.bytes_sent += len(data)

    def _flush_waiting(self) -> None:
        waiting, self._waiting_payloads = self._waiting_payloads, []
        for data in waiting:
            self._send_payload(data)

    # ================================================================== SCTP

    def _pump_sctp(self) -> None:
        side = self.channels
        if side is None:
            return
        while True:
            moved = False
            while (packet := side.poll_transmit()) is not None:
                if self.dtls is not None and self.dtls_state == "connected":
                    self.dtls.send(packet)
                moved = True
            while (event := side.poll_event()) is not None:
                if isinstance(event, TransportConnected):
                    self.sctp_state = "connected"
                elif isinstance(event, TransportClosed):
                    self.sctp_state = "closed"
                self._events.append(event)
                moved = True
            if not moved:
                break
        if self.dtls is not None:
            while (data := self.dtls.poll_transmit()) is not None:
                self._send_payload(data)

    # ================================================================== media

    def send_frame(self, transceiver: Transceiver, data: bytes, timestamp: int, *,
                   keyframe: bool = False, rid: str | None = None, now: float) -> int:
        """Packetize, protect and send one encoded frame (codec clock ``timestamp``) -- of
        the simulcast layer ``rid`` when the transceiver sends simulcast (RFC 8853);
        returns the number of packets sent (0 when the transceiver is not sending, the layer
        was not negotiated, or the transport is not up yet)."""
        self._now = now
        stream = transceiver.send_streams.get(rid)
        if stream is None or self._tx_srtp is None or not transceiver.sending \
                or self.ice.selected_pair is None:
            return 0
        protect = self._tx_srtp.protect_rtp
        packets = stream.send_frame(data, timestamp, keyframe=keyframe, now=now)
        if stream.stats.frames_sent == 1:
            self._trace("peer.rtp-first-sent", mid=transceiver.mid, kind=transceiver.kind,
                        codec=transceiver.send_codec.name if transceiver.send_codec else None,
                        ssrc=stream.ssrc, rid=rid, packets=len(packets))
        for packet in packets:
            self._send_payload(protect(packet))
        return len(packets)

    def sending_codec(self, transceiver: Transceiver) -> Codec | None:
        return transceiver.send_codec if transceiver.sending else None

    def request_keyframe(self, transceiver: Transceiver, rid: str | None = None) -> None:
        """The decoder needs a key frame: PLI on every stream the transceiver receives (of
        the simulcast layer ``rid`` only, if given)."""
        for ssrc, stream in transceiver.receive_streams.items():
            if rid is not None and transceiver.rid_of_ssrc.get(ssrc) != rid:
                continue
            stream.request_keyframe()

    def _on_srtp(self, data: bytes) -> None:
        rx = self._rx_srtp
        if rx is None:
            self.stats.srtp_errors += 1
            return
        if len(data) >= 2 and 192 <= data[1] <= 223:  # RFC 5761 §4: RTCP packet types
            self.stats.srtcp_in += 1
            try:
                plain = rx.unprotect_rtcp(data)
            except (SrtpError, ParseError, ValueError) as exc:
                self.stats.srtp_errors += 1
                self._trace("peer.srtcp-drop", error=str(exc))
                return
            self._on_rtcp(plain)
            return
        self.stats.srtp_in += 1
        try:
            plain = rx.unprotect_rtp(data)
            packet = RtpPacket.parse(plain)
        except (SrtpError, ParseError, ValueError) as exc:
            self.stats.srtp_errors += 1
            self._trace("peer.srtp-drop", error=str(exc))
            return
        self._on_rtp(packet)

    def _route(self, packet: RtpPacket) -> tuple[Transceiver, RtpReceiveStream] | None:
        routed = self._ssrc_map.get(packet.ssrc)
        if routed is not None:
            return routed
        # RFC 9143 §9.2: the MID header extension names the m-line.
        mid: str | None = None
        for t in self.transceivers:
            ident = t.extensions.id_of(Mid)
            if ident is not None:
                value = packet.extension(ident)
                if value is not None:
                    mid = value.decode("ascii", "replace")
                    break
        candidates = [t for t in self.transceivers if t.receiving]
        target: Transceiver | None = None
        if mid is not None:
            target = next((t for t in candidates if t.mid == mid), None)
        if target is None:
            # by payload type, when only one receiving transceiver uses it
            owners = [t for t in candidates
                      if any(c.payload_type == packet.payload_type for c in t.receive_codecs)]
            if len(owners) == 1:
                target = owners[0]
        if target is None:
            return None
        rtx_pts = {c.payload_type: c for c in target.receive_codecs if c.is_rtx}
        rid = self._rid_of(target, packet, RepairedRid if packet.payload_type in rtx_pts
                           else RtpStreamId)
        if packet.payload_type in rtx_pts:
            # An RTX stream the SDP did not announce (no a=ssrc-group:FID): tie it to the
            # primary stream whose payload type it repairs (RFC 4588 §8.6) -- of the simulcast
            # layer its RepairedRtpStreamId names (RFC 8852 §3.2), if it names one.
            apt = rtx_pts[packet.payload_type].param("apt")
            repaired = next((s for s in target.receive_streams.values()
                             if str(s.payload_type) == apt and s.rtx_ssrc in (None, packet.ssrc)
                             and (rid is None or target.rid_of_ssrc.get(s.ssrc) == rid)),
                            None)
            if repaired is None:
                return None
            repaired.rtx_ssrc = packet.ssrc
            repaired.rtx_payload_type = packet.payload_type
            self._ssrc_map[packet.ssrc] = (target, repaired)
            return target, repaired
        if target.receive_rids:
            if rid is None or rid not in target.receive_rids:
                # RFC 8853 §5.2: a new simulcast stream is known by its RtpStreamId
                self._trace("peer.rtp-unknown-rid", ssrc=packet.ssrc, rid=rid)
                return None
            target.rid_of_ssrc[packet.ssrc] = rid
        stream = self._receive_stream(target, packet.ssrc, packet.payload_type)
        if stream is None:
            return None
        return target, stream

    def _rid_of(self, t: Transceiver, packet: RtpPacket,
                kind: type[RtpStreamId] | type[RepairedRid]) -> str | None:
        """The RFC 8852 RtpStreamId (or RepairedRtpStreamId) header extension's value."""
        ident = t.extensions.id_of(kind)
        value = packet.extension(ident) if ident is not None else None
        return value.decode("ascii", "replace") if value else None

    def _on_rtp(self, packet: RtpPacket) -> None:
        routed = self._route(packet)
        if routed is None:
            self.stats.unroutable_rtp += 1
            self._trace("peer.rtp-unroutable", ssrc=packet.ssrc, pt=packet.payload_type)
            return
        t, stream = routed
        if packet.ssrc not in self._heard:  # its first packet (one set lookup per packet)
            self._heard.add(packet.ssrc)
            self._trace("peer.rtp-first-received", mid=t.mid, kind=t.kind, ssrc=packet.ssrc,
                        pt=packet.payload_type)
            if t.remb is not None and not t.remb_sent:
                # at once: Chromium adopts a REMB above its start rate only in its first 2 s
                self._send_rtcp([self._remb(t, t.remb, self._now)], t.rtcp_rsize)
        stream.handle_packet(packet, now=self._now)
        self._drain_receive(t, stream)

    def _drain_receive(self, t: Transceiver, stream: RtpReceiveStream) -> None:
        while (frame := stream.poll_frame()) is not None:
            codec = self._codec_of(t, stream)
            if codec is not None:
                self._events.append(FrameReceived(t, codec, frame,
                                                  t.rid_of_ssrc.get(stream.ssrc)))
        feedback = stream.poll_feedback(now=self._now)
        if feedback:
            self._send_rtcp(feedback, t.rtcp_rsize)

    def _codec_of(self, t: Transceiver, stream: RtpReceiveStream) -> Codec | None:
        """The negotiated format of the stream's frames: its payload type while that still
        names the codec the stream depacketizes, else that codec under its new number (a
        re-offer may renumber, RFC 3264 §8.3.2 notwithstanding: aiortc's do, and its sender
        keeps the old number, which may now name rtx), else the first format."""
        name = stream.codec.lower()
        same = [c for c in t.receive_codecs if c.name.lower() == name]
        exact = next((c for c in same if c.payload_type == stream.payload_type), None)
        if exact is not None or same:
            return exact or same[0]
        return next((c for c in t.receive_codecs if not c.is_rtx), None)

    def _on_rtcp(self, data: bytes) -> None:
        try:
            packets = parse_rtcp(data)
        except (ParseError, ValueError) as exc:
            self.stats.rtcp_parse_errors += 1
            self._trace("peer.rtcp-drop", error=str(exc))
            return
        if not self._rtcp_seen:
            self._rtcp_seen = True
            self._trace("peer.rtcp-first-received", packets=[type(p).__name__ for p in packets])
        for packet in packets:
            self._on_rtcp_packet(packet)

    def _on_rtcp_packet(self, packet: RtcpPacket) -> None:
        now = self._now
        targets: set[int] = set()
        if isinstance(packet, SenderReport):
            routed = self._ssrc_map.get(packet.ssrc)
            if routed is not None:
                routed[1].handle_sender_report(packet, now=now)
            targets.update(b.ssrc for b in packet.reports)
        elif isinstance(packet, ReceiverReport):
            targets.update(b.ssrc for b in packet.reports)
        elif isinstance(packet, Remb):
            targets.update(packet.ssrcs)
        elif isinstance(packet, Fir):
            targets.update(item.ssrc for item in packet.items)
        elif isinstance(packet, Bye):
            return
        elif isinstance(packet, (Nack, Pli, Feedback)):
            targets.add(packet.media_ssrc)
        for ssrc in targets:
            sending = self._send_ssrcs.get(ssrc)
            if sending is None:
                continue
            t, stream = sending
            resend = stream.handle_rtcp(packet, now=now)
            if resend and self._tx_srtp is not None:
                for p in resend:
                    self._send_payload(self._tx_srtp.protect_rtp(p))
            if stream.poll_keyframe_request():
                self._events.append(KeyframeRequested(t, stream.rid))

    def _remb(self, t: Transceiver, estimator: RembEstimator, now: float) -> Remb:
        """draft-alvestrand-rmcat-remb-03 REMB for the streams ``t`` receives."""
        streams = list(t.receive_streams.values())
        received = sum(s.stats.bytes_received + s.stats.header_bytes_received for s in streams)
        lost = sum(max(0, s.stats.packets_lost) for s in streams)
        expected = sum(s.stats.packets_received for s in streams) + lost
        bitrate = estimator.update(now=now, bytes_received=received, packets_expected=expected,
                                packets_lost=lost)
        t.remb_sent = True
        return Remb(t.ssrc, bitrate, tuple(t.receive_streams))

    def _send_rtcp(self, packets: list[RtcpPacket], reduced: bool = False) -> None:
        if self._tx_srtp is None or not packets:
            return
        if not reduced and not isinstance(packets[0], (SenderReport, ReceiverReport)):
            packets = [ReceiverReport(self._rtcp_ssrc()), *packets]
        try:
            data = serialize_rtcp(packets)
        except ValueError as exc:  # pragma: no cover - our own packets
            self._trace("peer.rtcp-build-failed", error=str(exc))
            return
        self._send_payload(self._tx_srtp.protect_rtcp(data))

    def _rtcp_ssrc(self) -> int:
        return self.transceivers[0].ssrc if self.transceivers else 1

    def _rtcp_tick(self, now: float) -> None:
        """RFC 3550 §6.4: an SR for every stream we send (the report blocks of every stream we
        receive in the first one) or one RR, and SDES CNAME (§6.5), as a compound packet."""
        blocks = []
        rtts = [s.stats.rtt for t in self.transceivers for s in t.send_streams.values()
                if s.stats.rtt is not None]
        for t in self.transceivers:
            for stream in t.receive_streams.values():
                if rtts:
                    stream.update_rtt(min(r for r in rtts if r is not None))
                block = stream.report_block(now=now)
                if block is not None:
                    blocks.append(block)
        packets: list[RtcpPacket] = []
        ntp = now + _NTP_EPOCH_OFFSET + self._wallclock_offset
        for t in self.transceivers:
            for sent in t.send_streams.values():
                sr = sent.sender_report(now=now, ntp_time=ntp)
                if sr is not None:
                    if not packets and blocks:
                        sr = replace(sr, reports=tuple(blocks[:31]))
                        blocks = blocks[31:]
                    packets.append(sr)
        if not packets:
            if not blocks and not any(t.receive_streams for t in self.transceivers):
                return
            packets.append(ReceiverReport(self._rtcp_ssrc(), tuple(blocks[:31])))
        packets.extend(self._remb(t, t.remb, now) for t in self.transceivers
                       if t.remb is not None and t.receive_streams)
        ssrcs = [p.ssrc for p in packets if isinstance(p, (SenderReport, ReceiverReport))]
        packets.append(Sdes(tuple(SdesChunk(s, ((SdesItemType.CNAME, self._cname.encode()),))
                                  for s in ssrcs)))
        if not self._rtcp_sent:
            self._rtcp_sent = True
            self._trace("peer.rtcp-first-sent", packets=[type(p).__name__ for p in packets])
        self._send_rtcp(packets)

    _wallclock_offset = 0.0

    def set_wallclock(self, unix_time: float, now: float) -> None:
        """Tie ``now`` to wall-clock time for RTCP SR NTP timestamps (the driver calls it
        once; a sans-IO core reads no clock)."""
        self._wallclock_offset = unix_time - now

    # ================================================================== drive loop

    def handle_datagram(self, data: bytes, addr: Address, *, local: Address | None = None,
                        now: float) -> None:
        """A datagram from the network: STUN goes to ICE, the rest through
        :meth:`handle_payload`."""
        self._now = now
        if self._closed:
            return
        payload = self.ice.handle_datagram(data, addr, local=local, now=now)
        self._drain_ice()
        if payload is not None:
            self.handle_payload(payload, now=now)

    def handle_payload(self, data: bytes, *, now: float) -> None:
        """A non-STUN datagram ICE accepted (RFC 7983 §7 first-byte demultiplexing)."""
        self._now = now
        if self._closed:
            return
        self.stats.packets_received += 1
        self.stats.bytes_received += len(data)
        kind = classify(data)
        if kind is PacketKind.DTLS:
            self.stats.dtls_in += 1
            if self.dtls is None:
                if self.dtls_role is not None and self.remote_fingerprints:
                    self._make_dtls()
                if self.dtls is None:
                    if len(self._early_dtls) < 16:
                        self._early_dtls.append(data)
                    else:
                        self.stats.early_dtls_dropped += 1
                    return
            self.dtls.handle_datagram(data, now=now)
            self._drain_dtls()
        elif kind in (PacketKind.RTP, PacketKind.RTCP):
            self._on_srtp(data)
        else:
            self.stats.unknown_datagrams += 1
            self._trace("peer.unknown-datagram", kind=kind.name)

    def handle_timeout(self, now: float) -> None:
        self._now = now
        if self._closed:
            return
        deadline = self.ice.poll_timeout()
        if deadline is not None and deadline <= now:
            self.ice.handle_timeout(now)
            self._drain_ice()
        if self.dtls is not None:
            deadline = self.dtls.poll_timeout()
            if deadline is not None and deadline <= now:
                self.dtls.handle_timeout(now=now)
                self._drain_dtls()
        if self.channels is not None:
            deadline = self.channels.poll_timeout()
            if deadline is not None and deadline <= now:
                self.channels.handle_timeout(now=now)
                self._pump_sctp()
        for t in self.transceivers:
            for stream in t.receive_streams.values():
                deadline = stream.poll_timeout()
                if deadline is not None and deadline <= now:
                    stream.handle_timeout(now=now)
                    self._drain_receive(t, stream)
        if self._next_rtcp is not None and self._next_rtcp <= now:
            self._rtcp_tick(now)
            # RFC 3550 §6.3.5: randomised around the interval (0.5 to 1.5 of it)
            jitter = 0.5 + self._random(1)[0] / 255
            self._next_rtcp = now + 1.0 * jitter

    def poll_timeout(self) -> float | None:
        if self._closed:
            return None
        deadlines = [self.ice.poll_timeout(), self._next_rtcp]
        if self.dtls is not None:
            deadlines.append(self.dtls.poll_timeout())
        if self.channels is not None:
            deadlines.append(self.channels.poll_timeout())
        for t in self.transceivers:
            for stream in t.receive_streams.values():
                deadlines.append(stream.poll_timeout())
        known = [d for d in deadlines if d is not None]
        return min(known) if known else None

    def poll_transmit(self) -> Transmit | None:
        return self.ice.poll_transmit()

    def poll_event(self) -> PeerEvent | None:
        return self._events.popleft() if self._events else None

    def _drain_ice(self) -> None:
        while (event := self.ice.poll_event()) is not None:
            self._on_ice_event(event)

    def pump(self) -> None:
        """Collect output after a user action on a data channel or the agent."""
        self._pump_sctp()
        self._drain_ice()

    # ================================================================== negotiation needed

    def _update_negotiation_needed(self, force: bool = False) -> None:
        """W3C §4.7.3 (simplified): something is not yet reflected in the current local
        description."""
        if self._closed:
            return
        needed = force or self._restart_requested or self._check_needed()
        self._negotiation_needed = needed
        if needed and self.signaling_state is SignalingState.STABLE \
                and not self._negotiation_fired:
            self._negotiation_fired = True
            self._events.append(NegotiationNeeded())

    def _check_needed(self) -> bool:
        local = self.current_local.sdp if self.current_local else None
        if local is None:
            return bool(self.transceivers or self.data_channel_requests)
        if self.data_channel_requests and not any(m.kind == "application" and not _rejected(m)
                                                  for m in local.media):
            return True
        for t in self.transceivers:
            if t.stopped:
                if t.mid is not None and any(m.mid == t.mid and not _rejected(m)
                                             for m in local.media):
                    return True
                continue
            if t.mid is None:
                return True
            section = next((m for m in local.media if m.mid == t.mid), None)
            if section is None:
                return True
            ours = section.direction or "sendrecv"
            expected = t.direction
            if self.current_local is not None and self.current_local.type == "answer" \
                    and self.current_remote is not None:
                # W3C §4.7.3: what we would answer now -- our direction within the offer's
                theirs = next((m for m in self.current_remote.sdp.media if m.mid == t.mid), None)
                allowed = reverse_direction(theirs.direction or "sendrecv") if theirs else ours
                expected = _intersect(t.direction, allowed)
            if expected != ours:
                return True
            has_msid = bool(section.get(Msid))
            if t.has_track and not has_msid and t.direction in ("sendrecv", "sendonly"):
                return True
        return False

    @property
    def negotiation_needed(self) -> bool:
        return self._negotiation_needed

    # ================================================================== descriptions

    def _with_candidates(self, d: _Description | None) -> tuple[str, str] | None:
        if d is None:
            return None
        key = (d, len(self._local_candidates), self._gathering_complete)
        cached = self._described
        if cached is not None and cached[0][0] is d and cached[0] == key:
            return cached[1]
        sdp = d.sdp.copy()
        for section in sdp.media:
            if section.rejected:
                continue
            present = {"candidate:" + v for v in section.attribute_values("candidate")}
            for c in self._local_candidates:
                if c.to_ice_string() not in present:
                    section.add(c.to_sdp())
            if self._gathering_complete and not section.end_of_candidates:
                section.add_attribute("end-of-candidates")
        result = d.type, sdp.serialize()
        self._described = (key, result)
        return result

    @property
    def local_description(self) -> tuple[str, str] | None:
        """(type, sdp) with every candidate gathered so far (W3C localDescription)."""
        return self._with_candidates(self.pending_local or self.current_local)

    @property
    def remote_description(self) -> tuple[str, str] | None:
        d = self.pending_remote or self.current_remote
        return None if d is None else (d.type, d.sdp.serialize())

    @property
    def current_local_description(self) -> tuple[str, str] | None:
        return self._with_candidates(self.current_local)

    @property
    def pending_local_description(self) -> tuple[str, str] | None:
        return self._with_candidates(self.pending_local)

    def candidate_mid(self) -> tuple[str | None, int]:
        """The sdpMid and sdpMLineIndex a trickled local candidate belongs to (the first
        accepted section: the BUNDLE transport's)."""
        d = self.pending_local or self.current_local
        if d is not None:
            for index, m in enumerate(d.sdp.media):
                if not m.rejected:
                    return m.mid, index
        return None, 0

    # ================================================================== closing

    def close(self, *, now: float) -> None:
        """W3C close(): DTLS close_notify, ICE closed (TURN deallocations go out), every
        state "closed"; nothing is armed afterwards except ICE's last TURN refreshes."""
        if self._closed:
            return
        self._now = now
        if self.channels is not None:
            self.channels.lower_layer_closed(now=now)
            while (event := self.channels.poll_event()) is not None:
                self._events.append(event)
        if self.dtls is not None:
            self.dtls.close()
            while (data := self.dtls.poll_transmit()) is not None:
                self._send_payload(data)
        # RFC 3550 §6.6: BYE for the streams we sent
        byes = [s.ssrc for t in self.transceivers for s in t.send_streams.values()]
        if byes and self._tx_srtp is not None:
            self._send_rtcp([Bye(tuple(byes))])
        self.ice.close(now=now)
        self._drain_ice()
        self._closed = True
        # W3C §4.4.1.3 close(): the states become "closed" without firing events.
        self.signaling_state = SignalingState.CLOSED
        self.ice_connection_state = IceConnectionState.CLOSED
        self.connection_state = ConnectionState.CLOSED
        self.dtls_state = "closed"
        self.sctp_state = "closed"
        for t in self.transceivers:
            t.stopped = True
            t.current_direction = "stopped"
        self._next_rtcp = None

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidStateError("the peer connection is closed")


# --- helpers ---------------------------------------------------------------------------------


def _parse(sdp: str) -> SessionDescription:
    try:
        return SessionDescription.parse(sdp)
    except ParseError as exc:
        raise NegotiationError(f"unparsable description: {exc}") from exc


def _rejected(section: MediaSection) -> bool:
    """RFC 3264 §6 port zero -- except an RFC 8843 §6 ``a=bundle-only`` section, which has
    port zero because it shares the BUNDLE transport, and is not rejected."""
    return section.rejected and not section.bundle_only


def _credentials(description: SessionDescription) -> tuple[str | None, str | None]:
    for section in description.media:
        if not section.rejected:
            ufrag, pwd = description.ice_credentials(section)
            if ufrag:
                return ufrag, pwd
    return None, None


def _intersect(a: str, b: str) -> str:
    """The direction both allow (RFC 3264 §6.1)."""
    send, recv = sends(a) and sends(b), receives(a) and receives(b)
    return ("inactive", "recvonly", "sendonly", "sendrecv")[send * 2 + recv]


def _token(random_bytes: RandomBytes, count: int) -> str:
    import base64

    return base64.b64encode(random_bytes(count)).decode()[:count]


def _uuid(random_bytes: RandomBytes) -> str:
    b = bytearray(random_bytes(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ssrc(random_bytes: RandomBytes) -> int:
    while True:
        value = int.from_bytes(random_bytes(4), "big")
        if value:
            return value
