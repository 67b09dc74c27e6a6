"""RTP codecs as values, the capability lists browsers offer, and offer/answer codec matching.

A :class:`Codec` is one media format of an ``m=`` section: its ``a=rtpmap`` (name, clock rate,
channels), its ``a=fmtp`` parameters and its ``a=rtcp-fb`` feedback, with the payload type it
has in one description.  Matching follows RFC 3264 §6.1 ("the same encoding name, clock rate and
encoding parameters") plus the format parameters that decide compatibility for each codec:

- H.264 (RFC 6184 §8.2.2): the same profile -- ``profile_idc`` and ``profile-iop`` compared
  through RFC 6184 §8.1 Table 5, so that ``42e01f``, ``42c01f``, ``42401f`` and ``4de01f`` are all
  Constrained Baseline -- and the same ``packetization-mode`` (default 0).  The level is not part
  of the match; :func:`h264_answer_profile_level_id` picks the answer's level.
- VP9: the same ``profile-id`` (default 0); AV1: the same ``profile`` (default 0); H.265: the
  same ``profile-id`` (default 1).
- ``rtx`` (RFC 4588 §8.1) follows its ``apt`` to an accepted primary codec; ``red``
  (RFC 2198 §5) is accepted when every payload type it lists is accepted.

Nothing here reads a clock or draws random numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from rtcstack.common.values import value
from rtcstack.sdp.attributes import Fmtp, RtcpFb, RtpMap, serialize_format_parameters
from rtcstack.sdp.description import MediaSection

__all__ = [
    "AUDIO_HEADER_EXTENSIONS",
    "H264_LEVEL_1B",
    "H264_PROFILES",
    "STATIC_PAYLOAD_TYPES",
    "VIDEO_HEADER_EXTENSIONS",
    "Codec",
    "H264ProfileLevelId",
    "assign_payload_types",
    "codecs_from_section",
    "codecs_match",
    "default_audio_codecs",
    "default_codecs",
    "default_video_codecs",
    "h264_answer_profile_level_id",
    "h264_profile",
    "intersect_codecs",
    "parse_h264_profile_level_id",
]

Params = tuple[tuple[str, str | None], ...]

#: RFC 3551 §6 Tables 4 and 5: payload types usable without ``a=rtpmap``.
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, str, int, int | None]] = {
    0: ("audio", "PCMU", 8000, 1),
    3: ("audio", "GSM", 8000, 1),
    4: ("audio", "G723", 8000, 1),
    8: ("audio", "PCMA", 8000, 1),
    9: ("audio", "G722", 8000, 1),
    13: ("audio", "CN", 8000, 1),
    18: ("audio", "G729", 8000, 1),
    26: ("video", "JPEG", 90000, None),
    34: ("video", "H263", 90000, None),
}

_DYNAMIC = tuple(range(96, 128)) + tuple(range(35, 64))


@value
class Codec:
    """One RTP media format (RFC 8866 §6.6 rtpmap + §6.15 fmtp + RFC 4585 §4.2 rtcp-fb).

    ``parameters`` are the ``a=fmtp`` pairs in order (a value of None is a bare token such as
    RED's ``111/111``); ``rtcp_feedback`` the ``(type, parameter)`` pairs (``("nack", "pli")``).
    ``payload_type`` is the number in a given description, or None for a capability that has
    not been numbered yet.
    """

    kind: str
    name: str
    clock_rate: int
    channels: int | None = None
    parameters: Params = ()
    rtcp_feedback: tuple[tuple[str, str | None], ...] = ()
    payload_type: int | None = None

    # -- reading ---------------------------------------------------------------------------

    @property
    def mime_type(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def params(self) -> dict[str, str | None]:
        return dict(self.parameters)

    def param(self, key: str, default: str | None = None) -> str | None:
        """The value of fmtp parameter ``key`` (keys compare case-insensitively, RFC 8866 §6.15
        leaves the syntax to each format; every WebRTC codec's keys are case-insensitive)."""
        low = key.lower()
        for k, v in self.parameters:
            if k.lower() == low:
                return v
        return default

    @property
    def is_rtx(self) -> bool:
        """RFC 4588 §8.1: the retransmission format ``rtx``."""
        return self.name.lower() == "rtx"

    @property
    def is_red(self) -> bool:
        """RFC 2198 §5: redundant coding ``red``."""
        return self.name.lower() == "red"

    @property
    def is_fec(self) -> bool:
        """RFC 5109 ``ulpfec`` and RFC 8627 ``flexfec``."""
        return self.name.lower() in ("ulpfec", "flexfec", "flexfec-03")

    @property
    def is_primary(self) -> bool:
        """A codec that carries media itself (not rtx, red or FEC)."""
        return not (self.is_rtx or self.is_red or self.is_fec)

    @property
    def apt(self) -> int | None:
        """RFC 4588 §8.1 ``apt``: the payload type an ``rtx`` format retransmits."""
        text = self.param("apt")
        return int(text) if text is not None and text.isdigit() else None

    @property
    def red_payload_types(self) -> tuple[int, ...]:
        """RFC 2198 §5: the payload types of the redundant encodings (``111/111``)."""
        for key, val in self.parameters:
            if val is None and "/" in key:
                parts = key.split("/")
                if all(p.isdigit() for p in parts):
                    return tuple(int(p) for p in parts)
        return ()

    @property
    def effective_channels(self) -> int:
        """RFC 8866 §6.6: an audio format without encoding parameters has one channel."""
        if self.channels is not None:
            return self.channels
        return 1 if self.kind == "audio" else 0

    # -- changing --------------------------------------------------------------------------

    # Built directly: dataclasses.replace costs ~5 µs, and negotiation calls these per codec.
    def with_payload_type(self, payload_type: int | None) -> Codec:
        return type(self)(self.kind, self.name, self.clock_rate, self.channels, self.parameters,
                          self.rtcp_feedback, payload_type)

    def with_parameters(self, params: dict[str, str | None] | Params) -> Codec:
        items = tuple(params.items()) if isinstance(params, dict) else tuple(params)
        return type(self)(self.kind, self.name, self.clock_rate, self.channels, items,
                          self.rtcp_feedback, self.payload_type)

    def with_feedback(self, feedback: Iterable[tuple[str, str | None]]) -> Codec:
        return type(self)(self.kind, self.name, self.clock_rate, self.channels, self.parameters,
                          tuple(feedback), self.payload_type)

    # -- the SDP lines ---------------------------------------------------------------------

    def _pt(self) -> int:
        if self.payload_type is None:
            raise ValueError(f"codec {self.name} has no payload type yet")
        return self.payload_type

    def rtpmap(self) -> RtpMap:
        """RFC 8866 §6.6 ``a=rtpmap`` for this codec."""
        return RtpMap(self._pt(), self.name, self.clock_rate, self.channels)

    def fmtp(self) -> Fmtp | None:
        """RFC 8866 §6.15 ``a=fmtp``, or None when there are no parameters."""
        if not self.parameters:
            return None
        return Fmtp(self._pt(), serialize_format_parameters(dict(self.parameters)))

    def rtcp_fbs(self) -> list[RtcpFb]:
        """RFC 4585 §4.2 ``a=rtcp-fb`` lines for this payload type."""
        pt = self._pt()
        return [RtcpFb(pt, kind, param) for kind, param in self.rtcp_feedback]

    def write(self, section: MediaSection) -> None:
        """Append this codec's rtpmap, rtcp-fb and fmtp lines to ``section`` (Chrome's order)."""
        section.lines.append("a=rtpmap:" + self.rtpmap().serialize())
        section.lines.extend("a=rtcp-fb:" + fb.serialize() for fb in self.rtcp_fbs())
        fmtp = self.fmtp()
        if fmtp is not None:
            section.lines.append("a=fmtp:" + fmtp.serialize())

    def describe(self) -> str:
        text = f"{self.name}/{self.clock_rate}"
        if self.channels is not None:
            text += f"/{self.channels}"
        if self.parameters:
            text += " " + serialize_format_parameters(dict(self.parameters))
        return text if self.payload_type is None else f"{self.payload_type} {text}"


def codecs_from_section(section: MediaSection) -> list[Codec]:
    """The RTP formats of a media section in ``m=`` line order (RFC 8866 §5.14, §6.6).

    A payload type without ``a=rtpmap`` is looked up in RFC 3551's static table and skipped when
    it is not there (RFC 3264 §5.1: dynamic payload types need an rtpmap).  ``a=rtcp-fb:*``
    lines (RFC 4585 §4.2 wildcard) apply to every format.  Sections that are not RTP give ``[]``.
    Kept by the section until its lines change (negotiation reads a section's codecs often).
    """
    return list(section.cached(codecs_from_section, lambda: _codecs_from_section(section)))


def _codecs_from_section(section: MediaSection) -> tuple[Codec, ...]:
    media = section.media
    if not media.is_rtp:
        return ()
    rtpmaps = section.rtpmaps
    fmtps = section.fmtps
    feedback: dict[int | None, list[tuple[str, str | None]]] = {}
    for fb in section.rtcp_fbs:
        feedback.setdefault(fb.payload_type, []).append(fb.feedback)
    result = []
    for fmt in media.formats:
        if not fmt.isdigit() or int(fmt) > 127:
            continue
        pt = int(fmt)
        rtpmap = rtpmaps.get(pt)
        if rtpmap is not None:
            name, rate, channels = rtpmap.encoding, rtpmap.clock_rate, rtpmap.channels
        elif pt in STATIC_PAYLOAD_TYPES:
            _, name, rate, channels = STATIC_PAYLOAD_TYPES[pt]
            channels = None
        else:
            continue
        fmtp = fmtps.get(pt)
        params: Params = tuple(fmtp.params.items()) if fmtp is not None else ()
        fbs = feedback.get(pt, []) + [f for f in feedback.get(None, [])
                                      if f not in feedback.get(pt, [])]
        result.append(Codec(media.kind, name, rate, channels, params, tuple(fbs), pt))
    return tuple(result)


# --- default capabilities (what Chromium and Firefox offer) -------------------------------------

_VIDEO_FB: tuple[tuple[str, str | None], ...] = (
    ("goog-remb", None), ("transport-cc", None), ("ccm", "fir"), ("nack", None), ("nack", "pli"),
)
_AUDIO_FB: tuple[tuple[str, str | None], ...] = (("transport-cc", None),)

#: RFC 8285 header extensions browsers offer for audio, with Chrome's preferred ids.
AUDIO_HEADER_EXTENSIONS: tuple[tuple[int, str], ...] = (
    (1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
    (2, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
    (3, "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"),
    (4, "urn:ietf:params:rtp-hdrext:sdes:mid"),
)

#: RFC 8285 header extensions browsers offer for video, with Chrome's preferred ids.
VIDEO_HEADER_EXTENSIONS: tuple[tuple[int, str], ...] = (
    (14, "urn:ietf:params:rtp-hdrext:toffset"),
    (2, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
    (13, "urn:3gpp:video-orientation"),
    (3, "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"),
    (5, "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"),
    (6, "http://www.webrtc.org/experiments/rtp-hdrext/video-content-type"),
    (7, "http://www.webrtc.org/experiments/rtp-hdrext/video-timing"),
    (8, "http://www.webrtc.org/experiments/rtp-hdrext/color-space"),
    (4, "urn:ietf:params:rtp-hdrext:sdes:mid"),
    (10, "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"),
    (11, "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"),
)


def default_audio_codecs() -> tuple[Codec, ...]:
    """Audio formats as Chromium offers them (RFC 7874 §3 mandatory: Opus, PCMU, PCMA;
    RFC 4733 telephone-event; RFC 2198 red over Opus)."""
    return (
        Codec("audio", "opus", 48000, 2, (("minptime", "10"), ("useinbandfec", "1")),
              _AUDIO_FB, 111),
        Codec("audio", "red", 48000, 2, (("111/111", None),), (), 63),
        Codec("audio", "PCMU", 8000, None, (), (), 0),
        Codec("audio", "PCMA", 8000, None, (), (), 8),
        Codec("audio", "telephone-event", 48000, None, (("0-15", None),), (), 110),
        Codec("audio", "telephone-event", 8000, None, (("0-15", None),), (), 126),
    )


def _video(name: str, pt: int, rtx_pt: int, params: Params = ()) -> tuple[Codec, Codec]:
    return (Codec("video", name, 90000, None, params, _VIDEO_FB, pt),
            Codec("video", "rtx", 90000, None, (("apt", str(pt)),), (), rtx_pt))


def _h264(pt: int, rtx_pt: int, profile_level_id: str, mode: str) -> tuple[Codec, Codec]:
    return _video("H264", pt, rtx_pt, (("level-asymmetry-allowed", "1"),
                                       ("packetization-mode", mode),
                                       ("profile-level-id", profile_level_id)))


def default_video_codecs() -> tuple[Codec, ...]:
    """Video formats as Chromium offers them: VP8, VP9 profiles 0 and 2, H.264 Constrained
    Baseline / Baseline / Main / High in packetization modes 1 and 0, AV1 -- each with an
    RFC 4588 rtx format -- then red (with rtx) and ulpfec (RFC 5109)."""
    return (
        *_video("VP8", 96, 97),
        *_video("VP9", 98, 99, (("profile-id", "0"),)),
        *_video("VP9", 100, 101, (("profile-id", "2"),)),
        *_h264(109, 114, "42e01f", "1"),
        *_h264(115, 116, "42e01f", "0"),
        *_h264(103, 104, "42001f", "1"),
        *_h264(107, 108, "42001f", "0"),
        *_h264(39, 40, "4d001f", "1"),
        *_h264(41, 42, "4d001f", "0"),
        *_h264(112, 113, "64001f", "1"),
        *_video("AV1", 45, 46, (("level-idx", "5"), ("profile", "0"), ("tier", "0"))),
        Codec("video", "red", 90000, None, (), (), 117),
        Codec("video", "rtx", 90000, None, (("apt", "117"),), (), 118),
        Codec("video", "ulpfec", 90000, None, (), (), 119),
    )


def default_codecs(kind: str) -> tuple[Codec, ...]:
    """The default formats for ``"audio"`` or ``"video"`` (ValueError for other kinds)."""
    if kind == "audio":
        return default_audio_codecs()
    if kind == "video":
        return default_video_codecs()
    raise ValueError(f"no default RTP codecs for media kind {kind!r}")


def assign_payload_types(codecs: Sequence[Codec],
                         taken: Iterable[int] = ()) -> tuple[Codec, ...]:
    """Give every codec a payload type (RFC 3264 §5.1): keep the ones given, number the others
    from the dynamic range (96-127, then 35-63).  Raises ValueError on a duplicate, or on an
    ``rtx``/``red`` format that refers to a payload type not in the list."""
    used = set(taken)
    for codec in codecs:
        if codec.payload_type is not None:
            if codec.payload_type in used:
                raise ValueError(f"payload type {codec.payload_type} is used twice")
            used.add(codec.payload_type)
    free = (pt for pt in _DYNAMIC if pt not in used)
    result = []
    for codec in codecs:
        if codec.payload_type is None:
            pt = next(free, None)
            if pt is None:
                raise ValueError("no free dynamic payload type left")
            codec = codec.with_payload_type(pt)
        result.append(codec)
    numbers = {c.payload_type for c in result}
    for codec in result:
        refs = ([codec.apt] if codec.is_rtx else []) + list(codec.red_payload_types)
        for ref in refs:
            if ref is None or ref not in numbers:
                raise ValueError(f"{codec.describe()} refers to payload type {ref}, which is not "
                                 f"in the list")
    return tuple(result)


# --- H.264 profile-level-id (RFC 6184 §8.1) ----------------------------------------------------

#: Level 1b for profiles other than Baseline/Main/Extended (``level_idc`` 9, RFC 6184 §8.1);
#: this module also uses it for Level 1b written as ``level_idc`` 11 + constraint_set3_flag.
H264_LEVEL_1B = 9

#: RFC 6184 §8.1 Table 5: ``(profile name, profile_idc, profile-iop bit pattern)``; ``x`` is
#: either bit.  "Constrained High" (``640c``, constraint_set4+5 per H.264 Annex A.2.4.2) is not
#: in Table 5 but is what browsers write for it.
H264_PROFILES: tuple[tuple[str, int, str], ...] = (
    ("constrained-baseline", 0x42, "x1xx0000"),
    ("constrained-baseline", 0x4D, "1xxx0000"),
    ("constrained-baseline", 0x58, "11xx0000"),
    ("baseline", 0x42, "x0xx0000"),
    ("baseline", 0x58, "10xx0000"),
    ("main", 0x4D, "0x0x0000"),
    ("extended", 0x58, "00xx0000"),
    ("high", 0x64, "00000000"),
    ("constrained-high", 0x64, "00001100"),
    ("high-10", 0x6E, "00000000"),
    ("high-422", 0x7A, "00000000"),
    ("high-444", 0xF4, "00000000"),
    ("high-10-intra", 0x6E, "00010000"),
    ("high-422-intra", 0x7A, "00010000"),
    ("high-444-intra", 0xF4, "00010000"),
    ("cavlc-444-intra", 0x2C, "00010000"),
)


def _bits_match(pattern: str, byte: int) -> bool:
    return all(bit == "x" or int(bit) == (byte >> (7 - i)) & 1 for i, bit in enumerate(pattern))


@value
class H264ProfileLevelId:
    """RFC 6184 §8.1 ``profile-level-id``: ``profile_idc``, ``profile-iop`` and ``level_idc``.

    ``profile`` is the Table 5 sub-profile name; ``level`` is ``level_idc`` (10 = 1.0,
    31 = 3.1...) or :data:`H264_LEVEL_1B`.
    """

    profile_idc: int
    profile_iop: int
    level_idc: int
    profile: str

    @property
    def level(self) -> int:
        """RFC 6184 §8.1: Level 1b is ``level_idc`` 11 with constraint_set3_flag (bit 4 of
        profile-iop) for profile_idc 66, 77 and 88, and ``level_idc`` 9 for the others."""
        if (self.profile_idc in (0x42, 0x4D, 0x58) and self.level_idc == 11
                and self.profile_iop & 0x10):
            return H264_LEVEL_1B
        return self.level_idc

    def with_level(self, level: int) -> H264ProfileLevelId:
        """The same sub-profile at another level (RFC 6184 §8.2.2: "The level part of
        profile-level-id is changeable")."""
        iop, idc = self.profile_iop, level
        if self.profile_idc in (0x42, 0x4D, 0x58):
            iop &= ~0x10
            if level == H264_LEVEL_1B:
                iop |= 0x10
                idc = 11
        return H264ProfileLevelId(self.profile_idc, iop, idc, self.profile)

    def serialize(self) -> str:
        return f"{self.profile_idc:02x}{self.profile_iop:02x}{self.level_idc:02x}"


@lru_cache(maxsize=256)  # a pure function of a short string; codec matching calls it often
def parse_h264_profile_level_id(text: str | None) -> H264ProfileLevelId | None:
    """RFC 6184 §8.1: parse a ``profile-level-id`` (six hex digits) and name its profile.

    "If no profile-level-id is present, the Baseline profile, without additional constraints at
    Level 1, MUST be inferred" -- so None gives ``420010`` Baseline level 1.  Returns None for
    text that is not six hex digits or a profile_idc/profile-iop pair Table 5 does not list.
    """
    if text is None:
        text = "42000a"
    if len(text) != 6:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    for name, idc, pattern in H264_PROFILES:
        if raw[0] == idc and _bits_match(pattern, raw[1]):
            return H264ProfileLevelId(raw[0], raw[1], raw[2], name)
    return None


def h264_profile(codec: Codec) -> str | None:
    """The RFC 6184 §8.1 sub-profile name of an H.264 codec, or None when unrecognised."""
    parsed = parse_h264_profile_level_id(codec.param("profile-level-id"))
    return None if parsed is None else parsed.profile


def _level_rank(level: int) -> float:
    """Level order: Level 1b (level_idc 9) lies between Level 1 (10) and Level 1.1 (11)."""
    return 10.5 if level == H264_LEVEL_1B else float(level)


def h264_answer_profile_level_id(local: Codec, remote: Codec) -> str | None:
    """RFC 6184 §8.2.2: the answer's ``profile-level-id`` for H.264 codec ``remote`` (offered)
    answered with our ``local`` capability.

    The profile is kept as offered ("the answerer MUST either maintain all configuration
    parameters or remove the media format").  "If level-asymmetry-allowed is equal to 0 (or not
    present) in either the offer or the answer, ... the common level to use is equal to the
    lower value of the default level in the offer and the default level in the answer";
    otherwise the answer states the highest level we support for receiving.  None when either
    side's profile-level-id is not understood.
    """
    ours = parse_h264_profile_level_id(local.param("profile-level-id"))
    theirs = parse_h264_profile_level_id(remote.param("profile-level-id"))
    if ours is None or theirs is None:
        return None
    asymmetry = (local.param("level-asymmetry-allowed") == "1"
                 and remote.param("level-asymmetry-allowed") == "1")
    level = ours.level
    if not asymmetry and _level_rank(theirs.level) < _level_rank(level):
        level = theirs.level
    return theirs.with_level(level).serialize()


# --- matching (RFC 3264 §6.1) -------------------------------------------------------------------


def codecs_match(local: Codec, remote: Codec) -> bool:
    """RFC 3264 §6.1 and the codec's payload format: do two formats describe the same codec
    configuration?  (``rtx`` and ``red`` compare by name and clock rate only; their references
    are checked by :func:`intersect_codecs`.)"""
    if local.kind != remote.kind or local.name.lower() != remote.name.lower():
        return False
    if local.clock_rate != remote.clock_rate:
        return False
    if local.kind == "audio" and local.effective_channels != remote.effective_channels:
        return False
    name = local.name.lower()
    if name == "h264":
        # RFC 6184 §8.2.2: "The parameters identifying a media format configuration for H.264
        # are profile-level-id and packetization-mode.  These ... (except for the level part of
        # profile-level-id) MUST be used symmetrically".
        if (local.param("packetization-mode") or "0") != (remote.param("packetization-mode")
                                                          or "0"):
            return False
        ours = parse_h264_profile_level_id(local.param("profile-level-id"))
        theirs = parse_h264_profile_level_id(remote.param("profile-level-id"))
        return ours is not None and theirs is not None and ours.profile == theirs.profile
    if name == "vp9":
        return (local.param("profile-id") or "0") == (remote.param("profile-id") or "0")
    if name == "av1":
        return (local.param("profile") or "0") == (remote.param("profile") or "0")
    if name in ("h265", "hevc"):
        return (local.param("profile-id") or "1") == (remote.param("profile-id") or "1")
    return True


def _answer_parameters(local: Codec, remote: Codec) -> Params:
    """The fmtp the answer gives an accepted format: our parameters for it (they describe what
    we receive), with the references rewritten to the offerer's payload types."""
    name = local.name.lower()
    if local.is_rtx:
        params = [(k, v) for k, v in local.parameters if k.lower() != "apt"]
        return (("apt", str(remote.apt)), *params)
    if local.is_red:
        return remote.parameters
    if name == "h264":
        answer_plid = h264_answer_profile_level_id(local, remote)
        params = [(k, answer_plid if k.lower() == "profile-level-id" else v)
                  for k, v in local.parameters]
        if answer_plid is not None and not any(k.lower() == "profile-level-id"
                                               for k, _ in params):
            params.append(("profile-level-id", answer_plid))
        return tuple(params)
    return local.parameters


def intersect_codecs(local: Sequence[Codec], remote: Sequence[Codec]) -> list[Codec]:
    """RFC 3264 §6.1: the offered formats (``remote``) we support (``local``), in the offer's
    order, with the OFFERER's payload types, our answer parameters and the common rtcp-fb.

    Primary codecs match by :func:`codecs_match` (first local match wins); an ``rtx`` format is
    kept when its ``apt`` points to a kept format and we have rtx for the matching local codec
    (RFC 4588 §8.1); ``red`` when we support red and every payload type it lists is kept
    (RFC 2198 §5); FEC formats match by name and clock rate.
    """
    accepted: dict[int, Codec] = {}
    local_of: dict[int, Codec] = {}
    # codecs_match needs the same kind, name and clock rate: look only at those local codecs
    # (in local order, so the first local match still wins) instead of at every pair; and
    # every name is lower-cased once (negotiation runs this four times per audio/video pair).
    by_name: dict[tuple[str, str, int], list[Codec]] = {}
    for mine in local:
        by_name.setdefault((mine.kind, mine.name.lower(), mine.clock_rate), []).append(mine)
    offered = [(codec, codec.payload_type, codec.name.lower()) for codec in remote
               if codec.payload_type is not None]

    def candidates(codec: Codec, name: str) -> list[Codec]:
        return by_name.get((codec.kind, name, codec.clock_rate), [])

    for codec, pt, name in offered:
        if name in ("rtx", "red"):  # primary and FEC formats first
            continue
        for mine in candidates(codec, name):
            if codecs_match(mine, codec):
                local_of[pt] = mine
                accepted[pt] = codec
                break
    # red before rtx, so that rtx for red can follow it (Chrome offers rtx apt=<red>).
    for codec, pt, name in offered:
        if name != "red":
            continue
        refs = codec.red_payload_types
        if refs and not all(r in accepted for r in refs):
            continue
        for mine in candidates(codec, name):
            if codecs_match(mine, codec):
                local_of[pt] = mine
                accepted[pt] = codec
                break
    local_apt = {id(mine): mine.apt for mine in local if mine.is_rtx}  # read once, not per pair
    for codec, pt, name in offered:
        if name != "rtx":
            continue
        apt = codec.apt
        if apt not in accepted:
            continue
        primary_local = local_of[apt]
        for mine in candidates(codec, name):  # rtx at the same clock rate
            mine_apt = local_apt[id(mine)]
            if mine_apt is None or mine_apt == primary_local.payload_type:
                local_of[pt] = mine
                accepted[pt] = codec
                break
    result = []
    # RFC 4585 §4.2 / RFC 9429 §5.3.1: feedback "supported by the application and present in
    # the offer", in the offer's order.
    feedback: dict[int, set[tuple[str, str]]] = {}  # id(local codec) -> its rtcp-fb, lowered
    for codec, pt, _ in offered:
        if pt not in accepted:
            continue
        mine = local_of[pt]
        ours = feedback.get(id(mine))
        if ours is None:
            ours = feedback[id(mine)] = {(k.lower(), (p or "").lower())
                                         for k, p in mine.rtcp_feedback}
        common = tuple(fb for fb in codec.rtcp_feedback
                       if (fb[0].lower(), (fb[1] or "").lower()) in ours)
        result.append(Codec(codec.kind, codec.name, codec.clock_rate, codec.channels,
                            _answer_parameters(mine, codec), common, pt))
    return result
