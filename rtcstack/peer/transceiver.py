"""Transceivers: the RTP half of a peer connection (W3C WebRTC §5.4, RFC 9429 §3.4.1), sans-IO.

A :class:`Transceiver` pairs what we send (a sender: SSRCs, CNAME, msid, the negotiated send
codec and its :class:`~rtcstack.rtp.session.RtpSendStream`) with what we receive (a receiver:
the remote SSRCs learnt from the SDP or from the MID header extension and one
:class:`~rtcstack.rtp.session.RtpReceiveStream` per remote SSRC).  Media is handed in and out as
encoded frames; codecs live in :mod:`rtcstack.media` and are the asyncio adapter's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache, lru_cache

from rtcstack.rtp.extensions import ExtensionMap
from rtcstack.rtp.remb import RembEstimator
from rtcstack.rtp.session import RtpReceiveStream, RtpSendStream
from rtcstack.sdp.attributes import Msid
from rtcstack.sdp.codecs import Codec, default_codecs
from rtcstack.sdp.jsep import HeaderExtension, TransceiverSpec

__all__ = ["DIRECTIONS", "SUPPORTED_CODECS", "Transceiver", "receives", "sends", "supported_codecs"]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive", "stopped")

#: The encoding names rtcstack can packetize (``rtcstack.rtp.session``) -- and, with
#: ``rtcstack.media``, encode and decode.  Others offered by a peer are not answered.
SUPPORTED_CODECS = frozenset({"opus", "pcmu", "pcma", "vp8", "vp9", "h264", "rtx"})

#: RFC 8285 extensions rtcstack writes or reads.  transport-wide-cc is left out on purpose: a
#: peer that negotiates it expects transport feedback for its bandwidth estimate (a later issue).
AUDIO_EXTENSIONS = (
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
)
VIDEO_EXTENSIONS = (
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
)


def _supported(codec: Codec) -> bool:
    name = codec.name.lower()
    if name == "vp9":
        return codec.param("profile-id", "0") == "0"  # profile 2 is 10-bit
    if name == "h264":  # what the encoder makes: (constrained) baseline
        return (codec.param("profile-level-id") or "42e01f").lower()[:2] == "42"
    return name in SUPPORTED_CODECS


@lru_cache(maxsize=64)  # every offer and answer asks again, mostly for the default codecs
def supported_codecs(codecs: tuple[Codec, ...]) -> tuple[Codec, ...]:
    """The codecs of ``codecs`` rtcstack can send and receive, with RTX only for those kept,
    and without transport-cc feedback (see :data:`AUDIO_EXTENSIONS`)."""
    kept = [c for c in codecs if not c.is_rtx and _supported(c)]
    numbers = {str(c.payload_type) for c in kept}
    rtx = [c for c in codecs if c.is_rtx and c.param("apt") in numbers]
    chosen = [c for c in codecs if c in kept or c in rtx]
    return tuple(replace(c, rtcp_feedback=tuple(f for f in c.rtcp_feedback
                                                 if f[0] != "transport-cc"))
                 for c in chosen)


@cache
def _default_supported_codecs(kind: str) -> tuple[Codec, ...]:
    return supported_codecs(default_codecs(kind))


def sends(direction: str | None) -> bool:
    return direction in ("sendrecv", "sendonly")


def receives(direction: str | None) -> bool:
    return direction in ("sendrecv", "recvonly")


@dataclass(eq=False)
class Transceiver:
    """One RtpTransceiver.  ``direction`` is the W3C ``direction`` (what we want);
    ``current_direction`` what the last completed negotiation gave (None before)."""

    kind: str
    direction: str
    ssrc: int
    rtx_ssrc: int | None
    cname: str
    msid: Msid
    #: the W3C sender has a track (the adapter owns the track itself)
    has_track: bool = False
    #: made by addTrack (not addTransceiver): only such a transceiver takes an m-section of a
    #: remote offer it is not associated with (RFC 9429 §5.10)
    added_by_track: bool = False
    send_rids: tuple[str, ...] = ()
    codec_preferences: tuple[Codec, ...] | None = None
    mid: str | None = None
    index: int | None = None  # the m-line it is associated with
    current_direction: str | None = None
    stopped: bool = False
    #: created by setRemoteDescription (removed again by a rollback, W3C §4.4.1.5)
    from_remote: bool = False
    #: the id the receiver's track gets (the remote msid's track id once known)
    receiver_track_id: str = ""
    #: the remote stream ids (msid) of the received track
    remote_stream_ids: tuple[str, ...] = ()
    # --- what negotiation set up ---------------------------------------------------------
    send_codec: Codec | None = None
    send_rtx_payload_type: int | None = None
    receive_codecs: tuple[Codec, ...] = ()
    extensions: ExtensionMap = field(default_factory=lambda: ExtensionMap({}))
    rtcp_rsize: bool = False
    #: the streams sent: one (key None), or one per simulcast rid (RFC 8853)
    send_streams: dict[str | None, RtpSendStream] = field(default_factory=dict)
    #: (SSRC, RTX SSRC) of each simulcast layer we send
    rid_ssrcs: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    receive_streams: dict[int, RtpReceiveStream] = field(default_factory=dict)
    #: the simulcast layers the remote sends us (RFC 8853), and the rid of each receive SSRC
    receive_rids: tuple[str, ...] = ()
    rid_of_ssrc: dict[int, str] = field(default_factory=dict)
    #: the REMB estimate for what we receive (when goog-remb was negotiated)
    remb: RembEstimator | None = None
    remb_sent: bool = False
    remote_ssrcs: tuple[int, ...] = ()
    remote_rtx_ssrcs: dict[int, int] = field(default_factory=dict)  # rtx -> primary
    track_announced: bool = False

    @property
    def send_stream(self) -> RtpSendStream | None:
        """The first (or only) stream sent."""
        return next(iter(self.send_streams.values()), None)

    def spec(self) -> TransceiverSpec:
        """What this transceiver brings to an offer or answer."""
        uris = AUDIO_EXTENSIONS if self.kind == "audio" else VIDEO_EXTENSIONS
        return TransceiverSpec(
            self.kind, "inactive" if self.stopped else self.direction,
            codecs=self._codecs(), header_extensions=tuple(HeaderExtension(u) for u in uris),
            mid=self.mid, msid=self.msid if self.has_track else None,
            ssrc=None if self.send_rids else self.ssrc,
            rtx_ssrc=None if self.send_rids else self.rtx_ssrc, cname=self.cname,
            send_rids=self.send_rids, stopped=self.stopped)

    def _codecs(self) -> tuple[Codec, ...] | None:
        if self.codec_preferences:
            return supported_codecs(self.codec_preferences)
        return _default_supported_codecs(self.kind)

    @property
    def sending(self) -> bool:
        return sends(self.current_direction) and not self.stopped

    @property
    def receiving(self) -> bool:
        return receives(self.current_direction) and not self.stopped
