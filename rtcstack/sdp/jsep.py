"""JSEP offer/answer (RFC 9429 §5, RFC 3264) as pure functions over descriptions and values.

The local side is described by values (:class:`LocalSpec` with its :class:`TransceiverSpec`\\ s,
:class:`DataChannelSpec`, :class:`IceParameters` and :class:`DtlsParameters`); the functions
build descriptions from them and read negotiated results back:

- :func:`create_offer` -- RFC 9429 §5.2.1 initial and §5.2.2 subsequent offers;
- :func:`create_answer` -- RFC 9429 §5.3.1 (with :func:`plan_answer` saying why a section is
  rejected);
- :func:`negotiate` / :func:`apply_answer` -- RFC 9429 §5.8-§5.11: check a remote description
  against ours and return a :class:`Negotiated` value (codecs, extensions, directions, BUNDLE
  transports, ICE and DTLS parameters, DTLS role).

Nothing here touches a clock, a socket or ``random``: ICE credentials, session ids, SSRCs and
msids are passed in or drawn from an injected ``random_bytes`` by :meth:`LocalSpec.default`.

Deliberate choices:

- Answers repeat the ICE and DTLS attributes in every accepted section of a BUNDLE group (as
  Chromium and Firefox do in their own answers) so that either browser accepts them; offers
  repeat them (without candidates) in ``a=bundle-only`` sections too, against RFC 9429
  §5.2.1 ("Bundle-only m= sections MUST NOT contain any ICE credentials"): without them
  Firefox 153 never answers the offer, and Chromium 156 rejects every data section that
  follows one (its answer's BUNDLE transport then has no fingerprint, so UDP/DTLS/SCTP counts
  as insecure).
- One :class:`IceParameters` serves the whole description: sections that are not bundled share
  it (RFC 9429 §5.2.1 asks for unique credentials per unbundled section; rtcstack always uses
  one transport per peer connection).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Literal

from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.common.values import value
from rtcstack.sdp.attributes import (
    DIRECTIONS,
    Candidate,
    ExtMap,
    Fingerprint,
    Group,
    MediaLine,
    Msid,
    Origin,
    Rid,
    SctpPort,
    Simulcast,
    SimulcastRid,
    Ssrc,
    SsrcGroup,
)
from rtcstack.sdp.codecs import (
    AUDIO_HEADER_EXTENSIONS,
    VIDEO_HEADER_EXTENSIONS,
    Codec,
    assign_payload_types,
    codecs_from_section,
    codecs_match,
    default_codecs,
    intersect_codecs,
)
from rtcstack.sdp.description import MediaSection, SessionDescription
from rtcstack.sdp.errors import NegotiationError

__all__ = [
    "AnswerPlan",
    "DataChannelSpec",
    "DtlsParameters",
    "HeaderExtension",
    "IceParameters",
    "LocalSpec",
    "Negotiated",
    "NegotiatedSection",
    "RemoteTransport",
    "SectionPlan",
    "TransceiverSpec",
    "apply_answer",
    "create_answer",
    "create_offer",
    "negotiate",
    "plan_answer",
    "reverse_direction",
    "session_id",
]

RTP_PROTOCOL = "UDP/TLS/RTP/SAVPF"
SCTP_PROTOCOL = "UDP/DTLS/SCTP"
_DTLS_RTP_PROTOCOLS = ("UDP/TLS/RTP/SAVPF", "TCP/TLS/RTP/SAVPF", "UDP/TLS/RTP/SAVP",
                       "TCP/TLS/RTP/SAVP", "TCP/DTLS/RTP/SAVPF", "TCP/DTLS/RTP/SAVP")
_SCTP_PROTOCOLS = ("UDP/DTLS/SCTP", "TCP/DTLS/SCTP", "DTLS/SCTP")
_TRANSPORT_ATTRIBUTES = ("ice-ufrag", "ice-pwd", "ice-options", "fingerprint", "setup",
                         "tls-id", "candidate", "end-of-candidates", "rtcp", "rtcp-mux",
                         "rtcp-mux-only", "rtcp-rsize")
BundlePolicy = Literal["max-bundle", "balanced", "max-compat"]


# --- directions (RFC 3264 §6.1, RFC 8866 §6.7) -------------------------------------------------


def _bits(direction: str) -> tuple[bool, bool]:
    """``(send, recv)`` for a direction attribute."""
    return direction in ("sendrecv", "sendonly"), direction in ("sendrecv", "recvonly")


def _direction(send: bool, recv: bool) -> str:
    return ("inactive", "recvonly", "sendonly", "sendrecv")[send * 2 + recv]


def reverse_direction(direction: str) -> str:
    """RFC 3264 §6.1: what an answer may say to ``direction`` at most (sendonly <-> recvonly)."""
    send, recv = _bits(direction)
    return _direction(recv, send)


# --- the local side as values ---------------------------------------------------------------


@value
class HeaderExtension:
    """An RFC 8285 header extension we support; ``direction`` restricts it (§5, rarely used)."""

    uri: str
    direction: str | None = None


def _default_extensions(kind: str) -> tuple[HeaderExtension, ...]:
    table = AUDIO_HEADER_EXTENSIONS if kind == "audio" else VIDEO_HEADER_EXTENSIONS
    return tuple(HeaderExtension(uri) for _, uri in table)


_PREFERRED_EXTMAP_IDS = {uri: i for i, uri in AUDIO_HEADER_EXTENSIONS + VIDEO_HEADER_EXTENSIONS}


@value
class TransceiverSpec:
    """One RtpTransceiver (RFC 9429 §3.4.1): kind, direction and what it can do.

    ``codecs``/``header_extensions`` None means the defaults for the kind
    (:func:`rtcstack.sdp.codecs.default_codecs`).  For sending: ``msid`` (RFC 8830), ``ssrc``
    and ``rtx_ssrc`` with ``cname`` (RFC 5576 ``a=ssrc`` and ``a=ssrc-group:FID``), or
    ``send_rids`` for simulcast (RFC 8851/8853; no ``a=ssrc`` lines then).  ``mid`` None lets
    the offer choose one; ``stopped`` rejects the section (RFC 9429 §5.2.2).
    """

    kind: str
    direction: str = "sendrecv"
    codecs: tuple[Codec, ...] | None = None
    header_extensions: tuple[HeaderExtension, ...] | None = None
    mid: str | None = None
    msid: Msid | None = None
    ssrc: int | None = None
    rtx_ssrc: int | None = None
    cname: str | None = None
    send_rids: tuple[str, ...] = ()
    stopped: bool = False

    @property
    def effective_codecs(self) -> tuple[Codec, ...]:
        return default_codecs(self.kind) if self.codecs is None else self.codecs

    @property
    def effective_extensions(self) -> tuple[HeaderExtension, ...]:
        if self.header_extensions is None:
            return _default_extensions(self.kind)
        return self.header_extensions


@value
class DataChannelSpec:
    """The data channel section (RFC 8841 §5 ``sctp-port``, §6 ``max-message-size``)."""

    sctp_port: int = 5000
    max_message_size: int = 262144
    mid: str | None = None


def _ice_chars(random_bytes: RandomBytes, count: int) -> str:
    """``count`` RFC 8839 §5.4 ice-chars (``A-Za-z0-9+/``) from the injected randomness."""
    return base64.b64encode(random_bytes((count * 3 + 3) // 4)).decode()[:count]


@value
class IceParameters:
    """RFC 8839 §5.4 credentials (ufrag 4-256 chars, pwd 22-256), §5.3 ``ice-lite`` and §5.6
    ``ice-options``."""

    ufrag: str
    pwd: str
    lite: bool = False
    options: tuple[str, ...] = ("trickle",)

    @classmethod
    def generate(cls, random_bytes: RandomBytes = default_random_bytes, *, lite: bool = False,
                 options: tuple[str, ...] = ("trickle",)) -> IceParameters:
        """Fresh credentials: "at least 24 bits of randomness in the ufrag and at least 128
        bits in the password" (RFC 8839 §5.4) -- 8 and 24 ice-chars here (48 and 144 bits)."""
        return cls(_ice_chars(random_bytes, 8), _ice_chars(random_bytes, 24), lite, options)


@value
class DtlsParameters:
    """RFC 8122 §5 fingerprints of our certificate(s) and our RFC 8842 ``setup`` preference:
    ``actpass`` in offers; in answers ``actpass`` lets the answerer choose ``active``
    (RFC 9429 §5.3.1), ``passive`` or ``active`` force that role when the offer allows it."""

    fingerprints: tuple[Fingerprint, ...]
    setup: str = "actpass"


@value
class LocalSpec:
    """Everything the local side brings to an offer or answer (RFC 9429 §5.2, §5.3)."""

    transceivers: tuple[TransceiverSpec, ...]
    data_channel: DataChannelSpec | None
    ice: IceParameters
    dtls: DtlsParameters
    session_id: int
    session_version: int = 1
    candidates: tuple[Candidate, ...] = ()
    end_of_candidates: bool = False
    bundle_policy: str = "max-bundle"
    extmap_allow_mixed: bool = True
    rtcp_mux_policy: str = "require"

    @classmethod
    def default(cls, *, ice: IceParameters, dtls: DtlsParameters,
                kinds: Sequence[str] = ("audio", "video"), data_channel: bool = True,
                direction: str = "sendrecv", bundle_policy: str = "balanced",
                random_bytes: RandomBytes = default_random_bytes) -> LocalSpec:
        """A spec browsers accept: one transceiver per kind in ``kinds`` with the default
        codecs, an msid, an SSRC (and an RTX SSRC for video) and a CNAME drawn from
        ``random_bytes``; a data channel; BUNDLE and rtcp-mux required.

        ``bundle_policy`` defaults to ``"balanced"``, as W3C WebRTC's RTCConfiguration does:
        with ``"max-bundle"`` offers mark every section after the first ``a=bundle-only``."""
        stream = _uuid(random_bytes)
        cname = _ice_chars(random_bytes, 16)
        transceivers = []
        for kind in kinds:
            rtx = _ssrc(random_bytes) if kind == "video" else None
            transceivers.append(TransceiverSpec(
                kind, direction, msid=Msid(stream, _uuid(random_bytes)),
                ssrc=_ssrc(random_bytes), rtx_ssrc=rtx, cname=cname))
        return cls(tuple(transceivers), DataChannelSpec() if data_channel else None, ice, dtls,
                   session_id(random_bytes), bundle_policy=bundle_policy)


def session_id(random_bytes: RandomBytes = default_random_bytes) -> int:
    """RFC 9429 §5.2.1: "a 64-bit quantity with the highest bit set to zero and the remaining
    63 bits being cryptographically random", and "less than (2^63)-1"."""
    while True:
        number = int.from_bytes(random_bytes(8), "big") & ((1 << 63) - 1)
        if number < (1 << 63) - 1:
            return number


def _ssrc(random_bytes: RandomBytes) -> int:
    while True:
        number = int.from_bytes(random_bytes(4), "big")
        if number:
            return number


def _uuid(random_bytes: RandomBytes) -> str:
    raw = bytearray(random_bytes(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # RFC 9562 version 4 layout, as browsers write msids
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _check_spec(spec: LocalSpec) -> None:
    """API misuse in a :class:`LocalSpec` raises ValueError/TypeError at once."""
    if spec.bundle_policy not in ("max-bundle", "balanced", "max-compat"):
        raise ValueError(f"bundle_policy {spec.bundle_policy!r} is not max-bundle, balanced or "
                         f"max-compat")
    if spec.rtcp_mux_policy not in ("require", "negotiate"):
        raise ValueError(f"rtcp_mux_policy {spec.rtcp_mux_policy!r} is not require or negotiate")
    if not 0 <= spec.session_id < (1 << 63) - 1:
        raise ValueError("session_id must be in 0 .. 2**63-2 (RFC 9429 §5.2.1)")
    if not 4 <= len(spec.ice.ufrag) <= 256 or not 22 <= len(spec.ice.pwd) <= 256:
        raise ValueError("ICE ufrag must have 4-256 and pwd 22-256 characters (RFC 8839 §5.4)")
    if not spec.dtls.fingerprints:
        raise ValueError("DtlsParameters needs at least one fingerprint (RFC 8122 §5)")
    if spec.dtls.setup not in ("actpass", "active", "passive"):
        raise ValueError(f"DTLS setup {spec.dtls.setup!r} is not actpass, active or passive")
    mids = [t.mid for t in spec.transceivers if t.mid is not None]
    if spec.data_channel is not None and spec.data_channel.mid is not None:
        mids.append(spec.data_channel.mid)
    if len(mids) != len(set(mids)):
        raise ValueError(f"two transceivers share a mid: {mids}")
    for t in spec.transceivers:
        if not isinstance(t, TransceiverSpec):
            raise TypeError(f"transceivers must be TransceiverSpec, not {type(t).__name__}")
        if t.kind not in ("audio", "video"):
            raise ValueError(f"transceiver kind {t.kind!r} is not audio or video")
        if t.direction not in DIRECTIONS:
            raise ValueError(f"transceiver direction {t.direction!r} is not one of {DIRECTIONS}")


# --- shared writers ------------------------------------------------------------------------------


def _default_address(candidates: Sequence[Candidate]) -> tuple[int, str, str]:
    """RFC 8839 §4.2.1.2 / RFC 8840 §4.1.1: port and address of the default candidate -- the
    first component-1 UDP candidate with an IP address -- else the dummy ``9`` / ``0.0.0.0``."""
    for cand in candidates:
        if cand.component == 1 and cand.is_udp and not cand.is_mdns:
            return cand.port, ("IP6" if ":" in cand.address else "IP4"), cand.address
    return 9, "IP4", "0.0.0.0"


def _write_transport(section: MediaSection, spec: LocalSpec, setup: str,
                     candidates: bool) -> None:
    """The TRANSPORT/IDENTICAL attributes of RFC 8859 that carry ICE and DTLS."""
    section.add_attribute("ice-ufrag", spec.ice.ufrag)
    section.add_attribute("ice-pwd", spec.ice.pwd)
    for fp in spec.dtls.fingerprints:
        section.add(fp)
    section.add_attribute("setup", setup)
    if candidates:
        for cand in spec.candidates:
            section.add(cand)
        if spec.end_of_candidates:
            section.add_attribute("end-of-candidates")


def _new_section(kind: str, port: int, protocol: str, formats: Iterable[str],
                 address: tuple[str, str] = ("IP4", "0.0.0.0")) -> MediaSection:
    section = MediaSection.new(MediaLine(kind, port, protocol, tuple(formats)))
    section.lines.append(f"c=IN {address[0]} {address[1]}")
    return section


def _write_sender(section: MediaSection, t: TransceiverSpec, rtx: bool) -> None:
    """RFC 8830 §2 ``a=msid`` and RFC 5576 ``a=ssrc`` / ``a=ssrc-group:FID`` for a sender."""
    if t.msid is not None:
        section.add(t.msid)
    if t.send_rids or t.ssrc is None:
        return
    ssrcs = [t.ssrc] + ([t.rtx_ssrc] if rtx and t.rtx_ssrc is not None else [])
    if len(ssrcs) == 2:
        section.add(SsrcGroup("FID", tuple(ssrcs)))
    for ssrc in ssrcs:
        if t.cname is not None:
            section.add(Ssrc(ssrc, "cname", t.cname))
        if t.msid is not None:
            section.add(Ssrc(ssrc, "msid", t.msid.serialize()))


class _ExtmapIds:
    """RFC 8285 §5: one id per URI across the description (a BUNDLE group shares one RTP
    session, RFC 9143 §9.1), preferring earlier ids, then Chrome's, then 1-14, then 15-255."""

    def __init__(self, previous: SessionDescription | None, two_byte: bool) -> None:
        self.ids: dict[str, int] = {}
        self.two_byte = two_byte
        if previous is not None:
            for section in previous.media:
                for ext in section.extmaps:
                    self.ids.setdefault(ext.uri, ext.id)

    def id_for(self, uri: str) -> int:
        if uri in self.ids:
            return self.ids[uri]
        used = set(self.ids.values())
        preferred = _PREFERRED_EXTMAP_IDS.get(uri)
        if preferred is not None and preferred not in used:
            number = preferred
        else:
            last = 255 if self.two_byte else 14
            free = [i for i in range(1, last + 1) if i not in used]
            if not free:
                raise ValueError(f"no free extmap id for {uri} (RFC 8285 §5)")
            number = free[0]
        self.ids[uri] = number
        return number


# --- create_offer (RFC 9429 §5.2) -------------------------------------------------------------

_Item = TransceiverSpec | DataChannelSpec


@value
class _Slot:
    """One m-section of an offer being built: what fills it, or a previous section kept
    rejected."""

    mid: str | None
    item: _Item | None
    previous: int | None = None  # index in previous_local
    recycled: bool = False


def _is_rejected(description: SessionDescription | None, index: int) -> bool:
    if description is None or index >= len(description.media):
        return False
    section = description.media[index]
    return section.rejected and not section.bundle_only


def _plan_offer(spec: LocalSpec, previous_local: SessionDescription | None,
                previous_remote: SessionDescription | None) -> list[_Slot]:
    """RFC 9429 §5.2.2: keep every earlier m-section at its index with its mid, recycle a
    rejected one for a new transceiver ("placing it at the same index as the m= section with
    a zero port"), and append the rest: transceivers in order, then data (§5.2.1)."""
    items: list[_Item] = [t for t in spec.transceivers]
    if spec.data_channel is not None:
        items.append(spec.data_channel)
    slots: list[_Slot] = []
    placed: set[int] = set()
    recyclable: list[int] = []
    if previous_local is not None:
        for index, section in enumerate(previous_local.media):
            mid = section.mid
            kind = section.kind
            match = None
            for n, item in enumerate(items):
                item_kind = "application" if isinstance(item, DataChannelSpec) else item.kind
                if n not in placed and item.mid == mid and item_kind == kind:
                    match = n
                    break
            if match is None and mid is not None:
                # Transceivers without a mid take the earlier section of their kind, in order.
                for n, item in enumerate(items):
                    item_kind = ("application" if isinstance(item, DataChannelSpec)
                                 else item.kind)
                    if n not in placed and item.mid is None and item_kind == kind and not (
                            _is_rejected(previous_local, index)
                            or _is_rejected(previous_remote, index)):
                        match = n
                        break
            if match is not None:
                placed.add(match)
                item = items[match]
                if isinstance(item, TransceiverSpec) and item.stopped:
                    slots.append(_Slot(mid, None, index))
                else:
                    slots.append(_Slot(mid, item, index))
                continue
            slots.append(_Slot(mid, None, index))
            if _is_rejected(previous_local, index) or _is_rejected(previous_remote, index):
                recyclable.append(len(slots) - 1)
    for n, item in enumerate(items):
        if n in placed or (isinstance(item, TransceiverSpec) and item.stopped):
            continue
        if recyclable:
            position = recyclable.pop(0)
            slots[position] = _Slot(item.mid, item, slots[position].previous, recycled=True)
        else:
            slots.append(_Slot(item.mid, item))
    # §5.2.2: a recycled section gets "a new MID value": never reuse an earlier one.
    used = {s.mid for s in slots if s.mid is not None}
    if previous_local is not None:
        used.update(m.mid for m in previous_local.media if m.mid is not None)
    counter = 0
    for index, slot in enumerate(slots):
        if slot.mid is None or (slot.recycled and slot.item is not None and slot.item.mid is None):
            while str(counter) in used:
                counter += 1
            used.add(str(counter))
            slots[index] = replace(slot, mid=str(counter))
    return slots


def _offer_codecs(t: TransceiverSpec, previous: MediaSection | None,
                  elsewhere: dict[int, Codec] | None = None) -> tuple[Codec, ...]:
    """RFC 3264 §8.3.2: payload types negotiated before keep their numbers ("the mapping from
    a payload type number to a particular codec ... MUST NOT change"), and RFC 9429 §5.2.2:
    formats stay in the order of the earlier description, new ones after.  ``elsewhere``: the
    payload types the other sections of the BUNDLE group use (perhaps numbered by the remote
    peer); RFC 9143 §7.5: "in order for a given payload type value to be used inside more than
    one bundled 'm=' section, all codecs associated with the payload type number MUST share an
    identical codec configuration", so a new format takes such a number only for the same
    format."""
    codecs = list(t.effective_codecs)
    elsewhere = elsewhere or {}
    earlier = codecs_from_section(previous) if previous is not None and not previous.rejected \
        else []
    final: dict[int, int] = {}  # index in codecs -> payload type
    position: dict[int, int] = {}  # index in codecs -> index in earlier
    taken: set[int] = set()
    renumber: dict[int, int] = {}  # our payload type -> the earlier one
    for i, codec in enumerate(codecs):
        if codec.is_rtx:
            continue
        for pos, old in enumerate(earlier):
            pt = old.payload_type
            if pt is None or pt in taken or old.is_rtx or not codecs_match(codec, old):
                continue
            taken.add(pt)
            final[i], position[i] = pt, pos
            if codec.payload_type is not None:
                renumber[codec.payload_type] = pt
            break
    for i, codec in enumerate(codecs):
        target = renumber.get(codec.apt) if codec.is_rtx and codec.apt is not None else None
        if target is None:
            continue
        for pos, old in enumerate(earlier):
            pt = old.payload_type
            if pt is not None and old.is_rtx and old.apt == target and pt not in taken:
                taken.add(pt)
                final[i], position[i] = pt, pos
                break
    free = (pt for pt in tuple(range(96, 128)) + tuple(range(35, 64))
            if pt not in taken and pt not in elsewhere)
    reserved = taken | {c.payload_type for i, c in enumerate(codecs)
                        if i not in final and c.payload_type is not None}
    for i, codec in enumerate(codecs):
        if i in final:
            continue
        pt = codec.payload_type
        if pt is None or pt in taken or (pt in elsewhere and not _same_format(codec,
                                                                           elsewhere[pt])):
            pt = next(p for p in free if p not in reserved)
        taken.add(pt)
        final[i] = pt
        if codec.payload_type is not None:
            renumber.setdefault(codec.payload_type, pt)
    result = []
    for i, codec in enumerate(codecs):
        params = tuple(
            (str(renumber.get(int(v), v)) if k.lower() == "apt" and v and v.isdigit() else v)
            if v is not None else None for k, v in codec.parameters)
        keys = tuple(
            "/".join(str(renumber.get(int(p), p)) for p in k.split("/"))
            if v is None and codec.is_red and all(p.isdigit() for p in k.split("/")) else k
            for k, v in codec.parameters)
        result.append(replace(codec, payload_type=final[i],
                              parameters=tuple(zip(keys, params, strict=True))))
    ordered = sorted(range(len(result)), key=lambda i: (i not in position,
                                                        position.get(i, 0), i))
    return assign_payload_types([result[i] for i in ordered])


def _same_format(ours: Codec, theirs: Codec) -> bool:
    """One codec configuration (RFC 9143 §7.5), rtx and red with the same references."""
    if not codecs_match(ours, theirs):
        return False
    return not (ours.is_rtx or ours.is_red) or ours.parameters == theirs.parameters


def _bundle_payload_types(descriptions: Iterable[SessionDescription | None], mid: str | None
                          ) -> dict[int, Codec]:
    """The payload types of the RTP sections other than ``mid`` in earlier descriptions."""
    found: dict[int, Codec] = {}
    for description in descriptions:
        for section in description.media if description is not None else ():
            if section.media.is_rtp and not section.rejected and section.mid != mid:
                for codec in codecs_from_section(section):
                    if codec.payload_type is not None:
                        found.setdefault(codec.payload_type, codec)
    return found


def _negotiated_bundle(previous_local: SessionDescription | None,
                       previous_remote: SessionDescription | None) -> tuple[str, ...] | None:
    """The BUNDLE group of the most recent answer, when an offer/answer exchange completed."""
    if previous_local is None or previous_remote is None:
        return None
    local_groups = previous_local.bundle_groups()
    remote_groups = previous_remote.bundle_groups()
    if not local_groups or not remote_groups:
        return None
    # The answer's group is the one whose first mid is the answerer-tagged section; either
    # description may be the answer, and both groups list the same accepted mids after it.
    shorter = min(local_groups[0], remote_groups[0], key=len)
    return shorter


def create_offer(spec: LocalSpec, *, previous_local: SessionDescription | None = None,
                 previous_remote: SessionDescription | None = None,
                 ice_restart: bool = False) -> SessionDescription:
    """RFC 9429 §5.2.1 initial offer, §5.2.2 subsequent offer.

    With ``previous_local`` (our last applied description) the ``o=`` line keeps its session id
    and its version goes up by one, every m-section keeps its index and mid, rejected sections
    are recycled for new transceivers, payload types and extmap ids keep their numbers, and the
    ICE credentials stay those of ``previous_local`` unless ``ice_restart`` -- then
    ``spec.ice`` must hold new ones (RFC 8839 §4.4.1.1.1).  ``previous_remote`` (the remote
    description of that exchange) tells which sections were rejected and which BUNDLE group
    was negotiated.
    """
    _check_spec(spec)
    if previous_local is not None:
        origin = previous_local.origin
        origin = Origin(origin.username, origin.session_id, origin.session_version + 1,
                        origin.nettype, origin.addrtype, origin.address)
    else:
        origin = Origin("-", spec.session_id, spec.session_version, "IN", "IP4", "0.0.0.0")
    ice = spec.ice
    if previous_local is not None:
        previous_ice = _first_credentials(previous_local)
        if ice_restart:
            if previous_ice is not None and previous_ice[0] == ice.ufrag:
                raise ValueError("ice_restart needs new ICE credentials in spec.ice "
                                 "(RFC 8839 §4.4.1.1.1: the ufrag and pwd MUST change)")
        elif previous_ice is not None:
            ice = replace(ice, ufrag=previous_ice[0], pwd=previous_ice[1])
    spec = replace(spec, ice=ice)

    slots = _plan_offer(spec, previous_local, previous_remote)
    alive = [s for s in slots if s.item is not None]
    negotiated = _negotiated_bundle(previous_local, previous_remote)
    bundle_only: set[str] = set()
    tagged: str | None = None
    if negotiated is not None:
        # §5.2.2: "An a=bundle-only line ... MUST NOT be added"; bundled sections simply omit
        # the IDENTICAL and TRANSPORT attributes.  The offerer-tagged section stays if alive.
        alive_mids = [s.mid for s in alive]
        tagged = next((m for m in negotiated if m in alive_mids), None)
        if tagged is None and alive:
            tagged = alive[0].mid
        # A section new in this offer is written as in an initial offer (§5.2.1): bundle-only
        # by the policy, else with its own transport attributes (RFC 9143 §7.3: a new section
        # joins the group either bundle-only or with a unique address).
        kinds_before = {_item_kind(s.item) for s in alive if not _is_new(s)}
        for slot in alive:
            if _is_new(slot):
                kind = _item_kind(slot.item)
                if spec.bundle_policy == "max-bundle" or (
                        spec.bundle_policy == "balanced" and kind in kinds_before):
                    bundle_only.add(slot.mid or "")
                kinds_before.add(kind)
    elif alive and spec.bundle_policy != "max-compat":
        tagged = alive[0].mid
        seen_kinds: set[str] = set()
        for position, slot in enumerate(alive):
            kind = _item_kind(slot.item)
            # §5.2.1: "If (1) the bundle policy ... is set to "must-bundle" and this is not the
            # first m= section or (2) ... "balanced" and this is not the first m= section for
            # this media type, an a=bundle-only line."
            if position and (spec.bundle_policy == "max-bundle" or kind in seen_kinds):
                bundle_only.add(slot.mid or "")
            seen_kinds.add(kind)
    elif alive:
        tagged = alive[0].mid

    description = SessionDescription.new(origin)
    session = description.session
    if alive:
        group_mids = [tagged or ""] + [s.mid or "" for s in alive if s.mid != tagged]
        session.add(Group("BUNDLE", tuple(group_mids)))
    if spec.extmap_allow_mixed:
        session.add_attribute("extmap-allow-mixed")
    if spec.ice.options:
        session.add_attribute("ice-options", " ".join(spec.ice.options))
    if spec.ice.lite:
        session.add_attribute("ice-lite")
    session.add_attribute("msid-semantic", " WMS")
    extmap_ids = _ExtmapIds(previous_local, spec.extmap_allow_mixed)
    rtcp_mux_negotiated = negotiated is not None
    for slot in slots:
        previous = (previous_local.media[slot.previous]
                    if previous_local is not None and slot.previous is not None else None)
        if slot.item is None:
            description.media.append(_rejected_copy(previous, slot.mid))
            continue
        # Interop: sections bundled by an earlier exchange still carry the ICE and DTLS
        # attributes (not the candidates), as Chromium and Firefox write them.  RFC 9143 §7.3
        # would leave them out, but Firefox 153 then reads the section's credentials as
        # changed ("Partial ICE restart is unsupported") and refuses the offer.
        bundled_away = negotiated is not None and slot.mid != tagged and not _is_new(slot)
        owns_transport = slot.mid not in bundle_only
        if isinstance(slot.item, DataChannelSpec):
            section = _offer_data_section(slot, spec, owns_transport, not bundled_away)
        else:
            section = _offer_rtp_section(slot, slot.item, spec, owns_transport,
                                         None if slot.recycled else previous,
                                         extmap_ids, rtcp_mux_negotiated, not bundled_away,
                                         _bundle_payload_types((previous_local,
                                                                previous_remote), slot.mid))
        if slot.mid in bundle_only:
            section.media = replace(section.media, port=0)
            section.add_attribute("bundle-only")
        description.media.append(section)
    return description


def _is_new(slot: _Slot) -> bool:
    """A section this offer adds (appended, or recycled from a rejected one)."""
    return slot.previous is None or slot.recycled


def _item_kind(item: _Item | None) -> str:
    if isinstance(item, DataChannelSpec):
        return "application"
    return "" if item is None else item.kind


def _first_credentials(description: SessionDescription) -> tuple[str, str] | None:
    for section in description.media:
        ufrag, pwd = description.ice_credentials(section)
        if ufrag is not None and pwd is not None:
            return ufrag, pwd
    return None


def _rejected_copy(previous: MediaSection | None, mid: str | None) -> MediaSection:
    """RFC 9429 §5.2.2: a stopped or unused section "with the port set to zero and all a=msid
    lines removed" (and nothing that would describe a transport)."""
    if previous is None:
        section = _new_section("audio", 0, RTP_PROTOCOL, ["0"])
    else:
        media = previous.media
        section = _new_section(media.kind, 0, media.protocol, media.formats or ("0",))
    if mid is not None:
        section.add_attribute("mid", mid)
    if previous is None or previous.media.is_rtp:
        section.add_attribute("inactive")
    return section


def _offer_rtp_section(slot: _Slot, t: TransceiverSpec, spec: LocalSpec, owns_transport: bool,
                       previous: MediaSection | None, extmap_ids: _ExtmapIds,
                       rtcp_mux_negotiated: bool, candidates: bool = True,
                       elsewhere: dict[int, Codec] | None = None) -> MediaSection:
    """RFC 9429 §5.2.1: one RTP m= section for a transceiver, lines in Chromium's order."""
    codecs = _offer_codecs(t, previous, elsewhere)
    port, addrtype, address = _default_address(spec.candidates if candidates else ())
    section = _new_section(t.kind, port, RTP_PROTOCOL,
                           [str(c.payload_type) for c in codecs], (addrtype, address))
    if owns_transport and not rtcp_mux_negotiated:
        # §5.2.1: "An a=rtcp line ... containing the default value 9 IN IP4 0.0.0.0";
        # §5.2.2: "The a=rtcp line MUST NOT be added if the most recent answer included
        # an a=rtcp-mux line".
        section.add_attribute("rtcp", "9 IN IP4 0.0.0.0")
    _write_transport(section, spec, spec.dtls.setup, candidates=candidates and owns_transport)
    section.add_attribute("mid", slot.mid or "")
    for ext in t.effective_extensions:
        section.add(ExtMap(extmap_ids.id_for(ext.uri), ext.uri, ext.direction))
    section.add_attribute(t.direction)
    send, _ = _bits(t.direction)
    if not owns_transport:
        # Interop deviation from §5.2.1, which keeps IDENTICAL-category attributes out of
        # bundle-only sections: Chromium 156 accepts such an offer but then fails to apply
        # its own answer ("rtcp-mux must be enabled when BUNDLE is enabled"), so a=rtcp-mux
        # is repeated here (RFC 9143 §7.1.3 lets an answerer ignore it; Firefox does).
        section.add_attribute("rtcp-mux")
    if owns_transport:
        section.add_attribute("rtcp-mux")
        if spec.rtcp_mux_policy == "require" and not rtcp_mux_negotiated:
            section.add_attribute("rtcp-mux-only")  # RFC 8858 §4
        section.add_attribute("rtcp-rsize")
    for codec in codecs:
        codec.write(section)
    if send:
        _write_sender(section, t, rtx=any(c.is_rtx for c in codecs))
        if t.send_rids:
            # §5.2.1: "an a=rid line for each encoding ... its direction MUST be send", and
            # with more than one, "an a=simulcast line, with direction send".
            for rid in t.send_rids:
                section.add(Rid(rid, "send"))
            if len(t.send_rids) > 1:
                section.add(Simulcast(send=tuple((SimulcastRid(r),) for r in t.send_rids)))
    return section


def _offer_data_section(slot: _Slot, spec: LocalSpec, owns_transport: bool,
                        candidates: bool = True) -> MediaSection:
    """RFC 9429 §5.2.1 / RFC 8841 §4.4: ``m=application ... UDP/DTLS/SCTP webrtc-datachannel``
    with ``a=sctp-port`` and ``a=max-message-size``."""
    data = slot.item
    if not isinstance(data, DataChannelSpec):
        raise TypeError("a data section needs a DataChannelSpec")
    port, addrtype, address = _default_address(spec.candidates if candidates else ())
    section = _new_section("application", port, SCTP_PROTOCOL, ["webrtc-datachannel"],
                           (addrtype, address))
    _write_transport(section, spec, spec.dtls.setup, candidates=candidates and owns_transport)
    section.add_attribute("mid", slot.mid or "")
    section.add_attribute("sctp-port", str(data.sctp_port))
    section.add_attribute("max-message-size", str(data.max_message_size))
    return section


# --- create_answer (RFC 9429 §5.3) ------------------------------------------------------------


@value
class SectionPlan:
    """What the answer does with one offered m-section: accept it (``reason`` None) or reject
    it with port 0 and the ``reason``; ``transport_index`` is the section whose transport it
    uses (the offerer-tagged one when bundled)."""

    index: int
    mid: str | None
    kind: str
    item: TransceiverSpec | DataChannelSpec | None
    codecs: tuple[Codec, ...] = ()
    direction: str = "inactive"
    reason: str | None = None
    bundled: bool = False
    transport_index: int | None = None

    @property
    def accepted(self) -> bool:
        return self.reason is None


@value
class AnswerPlan:
    """:func:`plan_answer`'s result: one :class:`SectionPlan` per offered section and the
    answer's BUNDLE group (answerer-tagged mid first)."""

    sections: tuple[SectionPlan, ...]
    bundle: tuple[str, ...] = ()

    @property
    def rejected(self) -> tuple[SectionPlan, ...]:
        return tuple(s for s in self.sections if not s.accepted)


def _offer_setup(offer: SessionDescription, section: MediaSection) -> str:
    """RFC 4145 §4: "The default value of the setup attribute in an offer is active"."""
    return offer.setup_for(section) or "active"


def _answer_setup(offered: str, preference: str) -> str:
    """RFC 8842 §5.2 roles: the answer to ``actpass`` is ``active`` (RFC 9429 §5.3.1: "the
    answerer SHOULD use the active role") unless we prefer ``passive``; to ``active`` it is
    ``passive``; to ``passive`` it is ``active``."""
    if offered == "actpass":
        return "passive" if preference == "passive" else "active"
    return "passive" if offered == "active" else "active"


def _transport_problem(offer: SessionDescription, section: MediaSection,
                       spec: LocalSpec) -> str | None:
    """Why ``section`` cannot carry a transport for us, or None (RFC 9429 §5.3.1: "if any
    mandatory SDP attributes are missing ... MUST cause the affected m= sections to be marked
    as rejected")."""
    ufrag, pwd = offer.ice_credentials(section)
    if not ufrag or not pwd:
        return "no a=ice-ufrag/a=ice-pwd (RFC 8839 §5.4)"
    if not offer.fingerprints_for(section):
        return "no a=fingerprint (RFC 8122 §5: DTLS-SRTP needs the certificate fingerprint)"
    setup = _offer_setup(offer, section)
    if setup == "holdconn":
        return "a=setup:holdconn asks for no connection (RFC 4145 §4)"
    if spec.rtcp_mux_policy == "require" and section.media.is_rtp and not (
            section.rtcp_mux or offer.session.has("rtcp-mux")):
        return "rtcp-mux is required but the offer has no a=rtcp-mux (RFC 8858 §3)"
    return None


def _match_item(section: MediaSection, spec: LocalSpec,
                used: set[int]) -> TransceiverSpec | DataChannelSpec | None:
    """RFC 9429 §5.10: the local transceiver for an offered section -- the one with its mid,
    else the first unused one of its kind without a mid, else a new ``recvonly`` one (as
    setRemoteDescription creates)."""
    kind, mid = section.kind, section.mid
    if kind == "application":
        return spec.data_channel
    for n, t in enumerate(spec.transceivers):
        if n not in used and t.kind == kind and mid is not None and t.mid == mid:
            used.add(n)
            return t
    for n, t in enumerate(spec.transceivers):
        if n not in used and t.kind == kind and t.mid is None:
            used.add(n)
            return t
    if kind in ("audio", "video"):
        return TransceiverSpec(kind, "recvonly", mid=mid)
    return None


def _plan_media(index: int, section: MediaSection, offer: SessionDescription,
                spec: LocalSpec, used: set[int]) -> SectionPlan:
    """RFC 3264 §6 and RFC 9429 §5.3.1 for one section, before BUNDLE is considered."""
    mid, kind = section.mid, section.kind
    media = section.media
    plan = SectionPlan(index, mid, kind, None)
    if kind not in ("audio", "video", "application"):
        return replace(plan, reason=f"media kind {kind!r} is not supported")
    if media.port == 0 and not section.bundle_only:
        # RFC 3264 §8.2 / RFC 9143 §7.5.3: a zero port without bundle-only disables it.
        return replace(plan, reason="the offer disabled the section (port 0, RFC 3264 §8.2)")
    item = _match_item(section, spec, used)
    if kind == "application":
        if media.protocol not in _SCTP_PROTOCOLS:
            return replace(plan, reason=f"protocol {media.protocol} is not DTLS/SCTP "
                                        f"(RFC 8841 §4.1)")
        if item is None:
            return replace(plan, reason="the local side has no data channel")
        return replace(plan, item=item, direction="sendrecv")
    if media.protocol not in _DTLS_RTP_PROTOCOLS:
        return replace(plan, reason=f"protocol {media.protocol} is not DTLS-SRTP "
                                    f"(RFC 8827 §6.5 requires it; RFC 5764 §8)")
    if not isinstance(item, TransceiverSpec):
        return replace(plan, reason="no transceiver")
    plan = replace(plan, item=item)
    if item.stopped:
        return replace(plan, reason="the local transceiver is stopped")
    offered = codecs_from_section(section)
    codecs = intersect_codecs(item.effective_codecs, offered)
    if not any(c.is_primary for c in codecs):
        names = ", ".join(sorted({c.name for c in offered})) or "none"
        return replace(plan, reason=f"no common codec (offered: {names}; RFC 3264 §6.1)")
    # RFC 3264 §6.1 direction, then RFC 9429 §5.3.1: "intersecting with the direction of the
    # associated RtpTransceiver".
    offer_send, offer_recv = _bits(offer.direction_for(section))
    local_send, local_recv = _bits(item.direction)
    direction = _direction(offer_recv and local_send, offer_send and local_recv)
    return replace(plan, codecs=tuple(codecs), direction=direction)


def plan_answer(offer: SessionDescription, spec: LocalSpec) -> AnswerPlan:
    """RFC 9429 §5.3.1 and RFC 9143 §7.3: decide, for every offered m-section, whether the
    answer accepts it, with which codecs and direction, and which BUNDLE group it joins."""
    _check_spec(spec)
    used: set[int] = set()
    plans = [_plan_media(i, s, offer, spec, used) for i, s in enumerate(offer.media)]
    index_of = {s.mid: i for i, s in enumerate(offer.media) if s.mid is not None}
    bundle: list[str] = []
    grouped: set[int] = set()
    for group in offer.bundle_groups():
        members = [index_of[m] for m in group if m in index_of]
        grouped.update(members)
        # RFC 9143 §7.3.1: the offerer-tagged section is the first one that we do not reject
        # and that "does not contain a zero port value".
        tagged = None
        for i in members:
            if (plans[i].accepted and offer.media[i].port != 0
                    and _transport_problem(offer, offer.media[i], spec) is None):
                tagged = i
                break
        if tagged is None or bundle:
            for i in members:
                if plans[i].accepted and offer.media[i].bundle_only:
                    plans[i] = replace(plans[i], reason="bundle-only, but its BUNDLE group "
                                       "cannot be accepted (RFC 9143 §7.3.1)")
                elif plans[i].accepted:
                    grouped.discard(i)
            continue
        bundle.append(plans[tagged].mid or "")
        for i in members:
            if not plans[i].accepted:
                continue
            if i != tagged and plans[i].mid is not None:
                bundle.append(plans[i].mid or "")
            plans[i] = replace(plans[i], bundled=True, transport_index=tagged)
    for i, plan in enumerate(plans):
        if not plan.accepted or plan.bundled:
            continue
        problem = _transport_problem(offer, offer.media[i], spec)
        if problem is not None:
            plans[i] = replace(plan, reason=problem)
        else:
            plans[i] = replace(plan, transport_index=i)
    _apply_bundle_policy(plans, spec)
    return AnswerPlan(tuple(plans), tuple(m for m in bundle
                                          if any(p.mid == m and p.accepted for p in plans)))


def _apply_bundle_policy(plans: list[SectionPlan], spec: LocalSpec) -> None:
    """RFC 9429 §5.3.1: with "must-bundle" (max-bundle) reject sections that are "not the first
    m= section or in the same bundle group as the first"; with "balanced", those that are not
    the first of their media type or bundled with it."""
    if spec.bundle_policy == "max-compat":
        return
    first_transport: dict[str, int | None] = {}
    for i, plan in enumerate(plans):
        if not plan.accepted:
            continue
        key = "" if spec.bundle_policy == "max-bundle" else plan.kind
        if key not in first_transport:
            first_transport[key] = plan.transport_index
            continue
        if plan.transport_index != first_transport[key]:
            plans[i] = replace(plan, reason=f"not bundled with the first section "
                                            f"(bundle policy {spec.bundle_policy})")


def create_answer(offer: SessionDescription, spec: LocalSpec, *,
                  previous_local: SessionDescription | None = None,
                  strict: bool = False) -> SessionDescription:
    """RFC 9429 §5.3.1: the answer to ``offer``.

    One m-section per offered one, same order, mids echoed.  Sections are rejected with port 0
    when they cannot be accepted (:func:`plan_answer` gives the reasons); with ``strict`` the
    first such reason raises :class:`NegotiationError` instead (except sections the offer
    itself disabled).  ``previous_local`` (our earlier answer) keeps the ``o=`` session id and
    increments its version (§5.3.2).
    """
    plan = plan_answer(offer, spec)
    if strict:
        for s in plan.rejected:
            if offer.media[s.index].port != 0 or offer.media[s.index].bundle_only:
                raise NegotiationError(s.reason or "rejected", index=s.index, mid=s.mid)
    if previous_local is not None:
        o = previous_local.origin
        origin = Origin(o.username, o.session_id, o.session_version + 1, o.nettype, o.addrtype,
                        o.address)
    else:
        origin = Origin("-", spec.session_id, spec.session_version, "IN", "IP4", "0.0.0.0")
    answer = SessionDescription.new(origin)
    session = answer.session
    if plan.bundle:
        session.add(Group("BUNDLE", plan.bundle))
    # RFC 8285 §6: "a=extmap-allow-mixed" in an answer only when it was offered.
    mixed = spec.extmap_allow_mixed and (offer.extmap_allow_mixed or any(
        s.extmap_allow_mixed for s in offer.media))
    if mixed:
        session.add_attribute("extmap-allow-mixed")
    # §5.3.1: ice-options "is only included if such an option was present in the offer".
    offered_options = set(offer.session.ice_options)
    for section in offer.media:
        offered_options.update(section.ice_options)
    options = [o for o in spec.ice.options if o in offered_options]
    if options:
        session.add_attribute("ice-options", " ".join(options))
    if spec.ice.lite:
        session.add_attribute("ice-lite")
    session.add_attribute("msid-semantic", " WMS")
    for s in plan.sections:
        offered = offer.media[s.index]
        if not s.accepted:
            answer.media.append(_rejected_answer(offered))
            continue
        transport = offer.media[s.transport_index if s.transport_index is not None else s.index]
        setup = _answer_setup(_offer_setup(offer, transport), spec.dtls.setup)
        owns_candidates = s.transport_index == s.index
        if isinstance(s.item, DataChannelSpec):
            answer.media.append(_answer_data_section(offered, s.item, spec, setup,
                                                     owns_candidates))
        elif isinstance(s.item, TransceiverSpec):
            answer.media.append(_answer_rtp_section(offer, offered, transport, s, s.item, spec,
                                                    setup, owns_candidates))
    return answer


def _rejected_answer(offered: MediaSection) -> MediaSection:
    """RFC 3264 §6: "An offered stream MAY be rejected in the answer, for any reason.  If a
    stream is rejected, ... the port number in the corresponding stream in the answer MUST be
    set to zero"; the formats are echoed (an m= line needs at least one)."""
    media = offered.media
    section = _new_section(media.kind, 0, media.protocol, media.formats or ("0",))
    if offered.mid is not None:
        section.add_attribute("mid", offered.mid)
    if media.is_rtp:
        section.add_attribute("inactive")
    return section


def _answer_extmaps(offer: SessionDescription, offered: MediaSection,
                    t: TransceiverSpec) -> list[ExtMap]:
    """RFC 9429 §5.3.1: extensions "supported by the application and present in the offer",
    with the offer's ids (RFC 8285 §6); a one-way extension is answered in reverse."""
    supported = {e.uri for e in t.effective_extensions}
    result = []
    for ext in offered.extmaps or offer.session.extmaps:
        if ext.uri not in supported or ext.id >= 4096:
            continue
        direction = None if ext.direction is None else reverse_direction(ext.direction)
        result.append(ExtMap(ext.id, ext.uri, direction))
    return result


def _answer_simulcast(offered: MediaSection, codecs: Sequence[Codec],
                      send: bool, recv: bool) -> tuple[list[Rid], Simulcast | None]:
    """RFC 8853 §5.3: the answer mirrors the offer's ``a=simulcast`` with send and recv
    swapped, keeping paused (``~``) streams paused, and RFC 8851 §4.2: an ``a=rid`` with the
    reversed direction for each rid it keeps (``pt=`` limited to accepted formats)."""
    offered_sc = offered.first(Simulcast)
    if offered_sc is None:
        return [], None
    accepted_pts = {c.payload_type for c in codecs}
    rids = {r.id: r for r in offered.get(Rid)}
    kept: list[Rid] = []

    def keep(streams: tuple[tuple[SimulcastRid, ...], ...],
             direction: str) -> tuple[tuple[SimulcastRid, ...], ...]:
        out = []
        for alternatives in streams:
            alts = []
            for sc in alternatives:
                rid = rids.get(sc.rid)
                if rid is None:
                    continue
                pts = tuple(p for p in rid.payload_types if p in accepted_pts)
                if rid.payload_types and not pts:
                    continue  # RFC 8851 §4.2: none of its formats is accepted
                kept.append(Rid(rid.id, direction, pts, rid.restrictions))
                alts.append(sc)
            if alts:
                out.append(tuple(alts))
        return tuple(out)

    mirrored = offered_sc.reversed()
    answer_recv = keep(mirrored.recv, "recv") if recv else ()
    answer_send = keep(mirrored.send, "send") if send else ()
    if not answer_recv and not answer_send:
        return [], None
    return kept, Simulcast(answer_send, answer_recv, mirrored.recv_first)


def _answer_rtp_section(offer: SessionDescription, offered: MediaSection,
                        transport: MediaSection, plan: SectionPlan, t: TransceiverSpec,
                        spec: LocalSpec, setup: str, owns_candidates: bool) -> MediaSection:
    """RFC 9429 §5.3.1 / RFC 3264 §6.1: one accepted RTP section."""
    media = offered.media
    port, addrtype, address = _default_address(spec.candidates)
    section = _new_section(media.kind, port, media.protocol,
                           [str(c.payload_type) for c in plan.codecs], (addrtype, address))
    mux = offered.rtcp_mux or transport.rtcp_mux or offer.session.has("rtcp-mux")
    if not mux:
        section.add_attribute("rtcp", "9 IN IP4 0.0.0.0")  # §5.3.1, RFC 3605 §2.1
    _write_transport(section, spec, setup, candidates=owns_candidates)
    if offered.mid is not None:
        section.add_attribute("mid", offered.mid)  # §5.3.1: "The MID value MUST match"
    for ext in _answer_extmaps(offer, offered, t):
        section.add(ext)
    section.add_attribute(plan.direction)
    if mux:
        section.add_attribute("rtcp-mux")
    if offered.has("rtcp-rsize") or transport.has("rtcp-rsize"):
        section.add_attribute("rtcp-rsize")  # §5.3.1: "If present in the offer"
    for codec in plan.codecs:
        codec.write(section)
    send, recv = _bits(plan.direction)
    rids, simulcast = _answer_simulcast(offered, plan.codecs, send, recv)
    if send:
        sender = t if not (simulcast and simulcast.send) else replace(t, send_rids=("-",))
        _write_sender(section, sender, rtx=any(c.is_rtx for c in plan.codecs))
    for rid in rids:
        section.add(rid)
    if simulcast is not None:
        section.add(simulcast)
    return section


def _answer_data_section(offered: MediaSection, data: DataChannelSpec, spec: LocalSpec,
                         setup: str, owns_candidates: bool) -> MediaSection:
    """RFC 9429 §5.3.1 and RFC 8841 §5-6: "the proto and fmt fields MUST be set to exactly
    match the fields in the offer", with our ``sctp-port`` and ``max-message-size``."""
    media = offered.media
    port, addrtype, address = _default_address(spec.candidates)
    section = _new_section("application", port, media.protocol, media.formats,
                           (addrtype, address))
    _write_transport(section, spec, setup, candidates=owns_candidates)
    if offered.mid is not None:
        section.add_attribute("mid", offered.mid)
    if media.protocol == "DTLS/SCTP":
        # draft-ietf-mmusic-sctp-sdp-05 peers: the fmt is the SCTP port, described by sctpmap.
        section.lines[0] = "m=" + MediaLine("application", port, media.protocol,
                                            (str(data.sctp_port),)).serialize()
        section.add_attribute("sctpmap", f"{data.sctp_port} webrtc-datachannel 1024")
    else:
        section.add_attribute("sctp-port", str(data.sctp_port))
    section.add_attribute("max-message-size", str(data.max_message_size))
    return section


# --- negotiate / apply_answer (RFC 9429 §5.8-§5.11) -------------------------------------------


@value
class RemoteTransport:
    """The remote side of one transport (an unbundled section or a BUNDLE group): RFC 8839 ICE
    parameters and candidates, RFC 8122 fingerprints and the RFC 8842 setup role."""

    mid: str | None
    index: int
    ice_ufrag: str
    ice_pwd: str
    ice_lite: bool
    ice_options: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    end_of_candidates: bool
    fingerprints: tuple[Fingerprint, ...]
    setup: str


@value
class NegotiatedSection:
    """The outcome for one m-section, from the local side's point of view.

    ``send_codecs`` use the remote description's payload types and parameters (what the peer
    receives), ``receive_codecs`` ours; each codec's ``rtcp_feedback`` is the common feedback.
    ``send_rids``/``receive_rids`` are the simulcast streams we send/receive (paused ones
    marked); ``transport_mid`` names the section whose transport this one uses.
    """

    index: int
    mid: str | None
    kind: str
    protocol: str
    rejected: bool
    direction: str = "inactive"
    send_codecs: tuple[Codec, ...] = ()
    receive_codecs: tuple[Codec, ...] = ()
    header_extensions: tuple[ExtMap, ...] = ()
    rtcp_mux: bool = False
    rtcp_rsize: bool = False
    transport_mid: str | None = None
    transport_index: int | None = None
    remote_candidates: tuple[Candidate, ...] = ()
    send_rids: tuple[SimulcastRid, ...] = ()
    receive_rids: tuple[SimulcastRid, ...] = ()
    remote_rids: tuple[Rid, ...] = ()
    sctp_port: int | None = None
    remote_sctp_port: int | None = None
    max_message_size: int | None = None
    remote_msids: tuple[Msid, ...] = ()
    remote_ssrcs: tuple[Ssrc, ...] = ()
    remote_ssrc_groups: tuple[SsrcGroup, ...] = ()


@value
class Negotiated:
    """What an offer/answer exchange agreed (RFC 9429 §5.9-§5.11)."""

    sections: tuple[NegotiatedSection, ...]
    bundle_groups: tuple[tuple[str, ...], ...]
    transports: tuple[RemoteTransport, ...]
    dtls_role: str
    ice_controlling: bool
    ice_restart: bool
    local_is_offerer: bool

    def section(self, mid: str) -> NegotiatedSection | None:
        for s in self.sections:
            if s.mid == mid:
                return s
        return None

    def transport_for(self, mid: str) -> RemoteTransport | None:
        """The remote transport parameters the section ``mid`` uses (its BUNDLE owner's)."""
        s = self.section(mid)
        if s is None or s.rejected:
            return None
        for t in self.transports:
            if t.index == s.transport_index:
                return t
        return None


def _fail(reason: str, index: int, section: MediaSection | None) -> NegotiationError:
    return NegotiationError(reason, index=index, mid=None if section is None else section.mid)


def _check_answer(offer: SessionDescription, answer: SessionDescription) -> None:
    """RFC 9429 §5.8.3 / §5.11 and RFC 3264 §6-§7: what an answer must not do."""
    if len(answer.media) != len(offer.media):
        raise NegotiationError(
            f"the answer has {len(answer.media)} m-sections but the offer has "
            f"{len(offer.media)} (RFC 3264 §6: 'The answer MUST contain exactly the same "
            f"number of m= lines as the offer')")
    offered_groups = offer.bundle_groups()
    for index, (o, a) in enumerate(zip(offer.media, answer.media, strict=True)):
        if o.kind != a.kind:
            raise _fail(f"the answer's media kind {a.kind!r} differs from the offer's {o.kind!r}"
                        f" (RFC 3264 §6)", index, o)
        if o.mid is not None and a.mid is not None and o.mid != a.mid:
            raise _fail(f"the answer's mid {a.mid!r} does not echo the offered mid {o.mid!r} "
                        f"(RFC 5888 §9.1)", index, o)
        if o.mid is not None and a.mid is None and not a.rejected:
            raise _fail("the answer does not echo the offered mid (RFC 9429 §5.3.1: 'If and "
                        "only if present in the offer, an a=mid line')", index, o)
        if a.rejected:
            continue
        if o.rejected and not o.bundle_only:
            raise _fail("the answer accepts a section the offer disabled (RFC 3264 §6: a "
                        "stream offered with port zero MUST be answered with port zero)",
                        index, o)
        if a.media.protocol != o.media.protocol:
            raise _fail(f"the answer's protocol {a.media.protocol} differs from the offered "
                        f"{o.media.protocol} (RFC 9429 §5.3.1)", index, o)
        offer_dir = offer.direction_for(o)
        answer_dir = answer.direction_for(a)
        a_send, a_recv = _bits(answer_dir)
        r_send, r_recv = _bits(reverse_direction(offer_dir))
        if (a_send and not r_send) or (a_recv and not r_recv):
            raise _fail(f"the answer's direction {answer_dir} is not allowed for an offered "
                        f"{offer_dir} (RFC 3264 §6.1)", index, o)
        if a.media.is_rtp:
            _check_answer_codecs(index, o, a)
            offered_ext = {(e.id, e.uri) for e in (o.extmaps or offer.session.extmaps)}
            for ext in a.extmaps:
                if (ext.id, ext.uri) not in offered_ext:
                    raise _fail(f"the answer's extmap {ext.id} {ext.uri} was not offered with "
                                f"that id (RFC 8285 §6)", index, o)
        if o.bundle_only and not any(a.mid in g for g in answer.bundle_groups()):
            raise _fail("a bundle-only section was accepted outside a BUNDLE group "
                        "(RFC 9143 §7.3.2)", index, o)
    for group in answer.bundle_groups():
        home = next((g for g in offered_groups if set(group) <= set(g)), None)
        if home is None:
            raise NegotiationError(f"the answer's BUNDLE group {' '.join(group)} is not part "
                                   f"of an offered group (RFC 9143 §7.3)")
        for mid in group:
            section = answer.section(mid)
            if section is None or section.rejected:
                raise NegotiationError(f"the answer's BUNDLE group lists {mid!r}, which is "
                                       f"not an accepted section (RFC 9143 §7.3.3)", mid=mid)


def _check_answer_codecs(index: int, o: MediaSection, a: MediaSection) -> None:
    offered = codecs_from_section(o)
    by_pt = {c.payload_type: c for c in offered}
    answered = codecs_from_section(a)
    if not answered:
        raise _fail("the answer accepts the section with no usable codec (RFC 3264 §6.1)",
                    index, o)
    for codec in answered:
        mine = by_pt.get(codec.payload_type)
        if mine is not None:
            if (mine.name.lower() != codec.name.lower()
                    or mine.clock_rate != codec.clock_rate):
                raise _fail(f"the answer maps payload type {codec.payload_type} to "
                            f"{codec.name}/{codec.clock_rate}, the offer to "
                            f"{mine.name}/{mine.clock_rate} (RFC 3264 §6.1)", index, o)
            if codec.is_primary and not codecs_match(mine, codec):
                raise _fail(f"the answer's {codec.describe()} does not keep the offered "
                            f"configuration {mine.describe()} (RFC 6184 §8.2.2 / RFC 3264 "
                            f"§6.1)", index, o)
        elif codec.is_primary and not any(codecs_match(c, codec) for c in offered):
            raise _fail(f"the answer's codec {codec.describe()} was not offered "
                        f"(RFC 3264 §6.1)", index, o)


def _remote_setup(description: SessionDescription, section: MediaSection) -> str:
    return description.setup_for(section) or "active"


def negotiate(local: SessionDescription, remote: SessionDescription, *,
              local_is_offerer: bool,
              previous_remote: SessionDescription | None = None,
              check: bool = True) -> Negotiated:
    """RFC 9429 §5.9-§5.11: apply an offer/answer pair and return what was agreed.

    ``local``/``remote`` are our and the peer's descriptions; ``local_is_offerer`` says which
    one is the offer.  The answer is checked (:class:`NegotiationError` names the section and
    why): same number, kinds and mids of m-sections; only offered codecs, extension ids and
    BUNDLE members; allowed directions; ``a=setup`` not ``actpass`` in the answer; ICE
    credentials and fingerprints present; rtcp-mux when the offer required it.  With
    ``previous_remote``, ``ice_restart`` tells whether the peer changed its ICE credentials.
    ``check=False`` skips checking the answer: for an answer :func:`create_answer` just made
    from this offer, valid by construction (a peer connection applying its own answer).
    """
    offer, answer = (local, remote) if local_is_offerer else (remote, local)
    if check:
        _check_answer(offer, answer)
    groups = tuple(answer.bundle_groups())
    tagged_index: dict[str, int] = {}
    for group in groups:
        tagged_section = answer.section(group[0])
        owner_index = (answer.media.index(tagged_section) if tagged_section is not None
                       else None)
        for mid in group:
            if owner_index is not None:
                tagged_index[mid] = owner_index
    transports: list[RemoteTransport] = []
    sections: list[NegotiatedSection] = []
    dtls_role: str | None = None
    require_mux = any(s.has("rtcp-mux-only") for s in offer.media)
    for index, (mine, theirs) in enumerate(zip(local.media, remote.media, strict=True)):
        a = answer.media[index]
        kind = mine.kind
        if a.rejected:
            sections.append(NegotiatedSection(index, a.mid or offer.media[index].mid, kind,
                                              offer.media[index].media.protocol, True))
            continue
        answer_mid = a.mid
        owner = tagged_index.get(answer_mid, index) if answer_mid is not None else index
        if owner == index:
            transport, role = _remote_transport(index, remote, theirs, local, mine,
                                                answer is remote)
            transports.append(transport)
            if dtls_role is None:
                dtls_role = role
        sections.append(_negotiate_section(index, owner, local, remote, mine, theirs,
                                           answer is local, require_mux))
    if dtls_role is None:
        dtls_role = "client" if _local_setup_role(local, remote, answer is remote) else "server"
    local_lite, remote_lite = local.ice_lite, remote.ice_lite
    # RFC 8445 §6.1.1: a full agent is controlling against a lite one; between two full
    # agents, "the agent that generated the offer ... MUST take the controlling role".
    controlling = not local_lite and (remote_lite or local_is_offerer)
    restart = False
    if previous_remote is not None:
        old = {t.mid: t.ice_ufrag for t in _transports_of(previous_remote)}
        restart = any(t.mid in old and old[t.mid] != t.ice_ufrag for t in transports)
    return Negotiated(tuple(sections), groups, tuple(transports), dtls_role, controlling,
                      restart, local_is_offerer)


def _transports_of(description: SessionDescription) -> list[RemoteTransport]:
    result = []
    for index, section in enumerate(description.media):
        ufrag, pwd = description.ice_credentials(section)
        if section.rejected or ufrag is None or pwd is None:
            continue
        result.append(RemoteTransport(section.mid, index, ufrag, pwd, description.ice_lite,
                                      description.ice_options_for(section), (), False,
                                      tuple(description.fingerprints_for(section)),
                                      _remote_setup(description, section)))
    return result


def _local_setup_role(local: SessionDescription, remote: SessionDescription,
                      remote_is_answer: bool) -> bool:
    """True when we are the DTLS client (our effective role is ``active``)."""
    for mine, theirs in zip(local.media, remote.media, strict=False):
        if theirs.rejected:
            continue
        ours = local.setup_for(mine) or "active"
        if ours == "actpass":
            return _remote_setup(remote, theirs) == "passive"
        return ours == "active"
    return remote_is_answer


def _remote_transport(index: int, remote: SessionDescription, theirs: MediaSection,
                      local: SessionDescription, mine: MediaSection,
                      remote_is_answer: bool) -> tuple[RemoteTransport, str]:
    """RFC 9429 §5.10 / RFC 8839 §5.4 / RFC 8842 §5.2: the peer's transport parameters for a
    section that owns a transport, and our DTLS role on it."""
    ufrag, pwd = remote.ice_credentials(theirs)
    if not ufrag or not pwd:
        raise _fail("the remote description has no a=ice-ufrag/a=ice-pwd for this transport "
                    "(RFC 8839 §5.4)", index, theirs)
    fingerprints = tuple(remote.fingerprints_for(theirs))
    if not fingerprints:
        raise _fail("the remote description has no a=fingerprint for this transport "
                    "(RFC 8122 §5)", index, theirs)
    remote_setup = _remote_setup(remote, theirs)
    local_setup = local.setup_for(mine) or "active"
    if remote_is_answer:
        if remote_setup == "actpass":
            raise _fail("the answer says a=setup:actpass (RFC 8842 §5.2: 'the answerer MUST "
                        "NOT use the actpass value')", index, theirs)
        if remote_setup == "holdconn":
            raise _fail("the answer says a=setup:holdconn", index, theirs)
        if local_setup != "actpass" and local_setup == remote_setup:
            raise _fail(f"both sides say a=setup:{local_setup} (RFC 8842 §5.2: the answer "
                        f"must take the other role)", index, theirs)
    else:
        if local_setup == "actpass":
            raise _fail("our answer says a=setup:actpass (RFC 8842 §5.2)", index, mine)
        if remote_setup != "actpass" and local_setup == remote_setup:
            raise _fail(f"both sides say a=setup:{local_setup} (RFC 8842 §5.2)", index, mine)
    if local_setup == "actpass":
        role = "server" if remote_setup == "active" else "client"
    else:
        role = "client" if local_setup == "active" else "server"
    transport = RemoteTransport(theirs.mid, index, ufrag, pwd, remote.ice_lite,
                                remote.ice_options_for(theirs), tuple(theirs.candidates),
                                theirs.end_of_candidates, fingerprints, remote_setup)
    return transport, role


def _simulcast_view(local: MediaSection, remote: MediaSection,
                    local_is_answer: bool) -> Simulcast | None:
    """RFC 8853 §5.3: the answer's ``a=simulcast`` is what was agreed; seen from the local
    side it is the answer's own view (we answered) or its reverse (we offered)."""
    answer_section = local if local_is_answer else remote
    sc = answer_section.first(Simulcast)
    if sc is None:
        return None
    return sc if local_is_answer else sc.reversed()


def _negotiate_section(index: int, owner: int, local: SessionDescription,
                       remote: SessionDescription, mine: MediaSection, theirs: MediaSection,
                       local_is_answer: bool, require_mux: bool) -> NegotiatedSection:
    """RFC 9429 §5.9-§5.11 for one accepted section."""
    kind = mine.kind
    owner_local, owner_remote = local.media[owner], remote.media[owner]
    base = NegotiatedSection(index, mine.mid or theirs.mid, kind, theirs.media.protocol, False,
                             transport_mid=owner_remote.mid or owner_local.mid,
                             transport_index=owner,
                             remote_candidates=tuple(owner_remote.candidates))
    if theirs.media.is_sctp:
        sctp_remote = theirs.first(SctpPort)
        max_size = theirs.attribute("max-message-size")
        local_port = mine.attribute("sctp-port")
        remote_port = sctp_remote.port if sctp_remote is not None else _sctpmap_port(theirs)
        if remote_port is None:
            raise _fail("the data section has no a=sctp-port (RFC 8841 §5)", index, theirs)
        return replace(base, direction="sendrecv", remote_sctp_port=remote_port,
                       sctp_port=int(local_port) if local_port is not None and
                       local_port.isdigit() else _sctpmap_port(mine),
                       # RFC 8841 §6.1: "If the SDP max-message-size attribute is not present,
                       # the default value is 64K".
                       max_message_size=int(max_size) if max_size is not None and
                       max_size.isdigit() else 65536)
    local_send, local_recv = _bits(local.direction_for(mine))
    remote_send, remote_recv = _bits(remote.direction_for(theirs))
    direction = _direction(local_send and remote_recv, local_recv and remote_send)
    local_codecs = codecs_from_section(mine)
    remote_codecs = codecs_from_section(theirs)
    sent = {c.payload_type: c for c in intersect_codecs(local_codecs, remote_codecs)}
    received = {c.payload_type: c for c in intersect_codecs(remote_codecs, local_codecs)}
    if not any(c.is_primary for c in sent.values()):
        raise _fail("no codec in common (RFC 3264 §6.1)", index, theirs)
    send_codecs = tuple(c.with_feedback(sent[c.payload_type].rtcp_feedback)
                        for c in remote_codecs if c.payload_type in sent)
    receive_codecs = tuple(c.with_feedback(received[c.payload_type].rtcp_feedback)
                           for c in local_codecs if c.payload_type in received)
    local_ext = {(e.id, e.uri) for e in (mine.extmaps or local.session.extmaps)}
    extensions = tuple(e for e in (theirs.extmaps or remote.session.extmaps)
                       if (e.id, e.uri) in local_ext)
    mux = ((owner_remote.rtcp_mux or remote.session.has("rtcp-mux") or theirs.rtcp_mux)
           and (owner_local.rtcp_mux or local.session.has("rtcp-mux") or mine.rtcp_mux))
    if require_mux and not mux:
        raise _fail("the offer requires rtcp-mux (a=rtcp-mux-only) but the answer does not "
                    "accept it (RFC 8858 §3)", index, theirs)
    rsize = ((owner_remote.has("rtcp-rsize") or theirs.has("rtcp-rsize"))
             and (owner_local.has("rtcp-rsize") or mine.has("rtcp-rsize")))
    sc = _simulcast_view(mine, theirs, local_is_answer)
    send_rids: tuple[SimulcastRid, ...] = ()
    receive_rids: tuple[SimulcastRid, ...] = ()
    if sc is not None:
        send_rids = tuple(alts[0] for alts in sc.send) if local_send else ()
        receive_rids = tuple(alts[0] for alts in sc.recv) if local_recv else ()
    return replace(base, direction=direction, send_codecs=send_codecs,
                   receive_codecs=receive_codecs, header_extensions=extensions,
                   rtcp_mux=bool(mux), rtcp_rsize=bool(rsize), send_rids=send_rids,
                   receive_rids=receive_rids, remote_rids=tuple(theirs.get(Rid)),
                   remote_msids=tuple(theirs.get(Msid)), remote_ssrcs=tuple(theirs.get(Ssrc)),
                   remote_ssrc_groups=tuple(theirs.get(SsrcGroup)))


def _sctpmap_port(section: MediaSection) -> int | None:
    """draft-ietf-mmusic-sctp-sdp-05: ``a=sctpmap:<port> webrtc-datachannel <streams>``."""
    value_ = section.attribute("sctpmap")
    if value_ is None:
        return None
    port = value_.split(" ", 1)[0]
    return int(port) if port.isdigit() else None


def apply_answer(offer: SessionDescription, answer: SessionDescription, *,
                 previous_remote: SessionDescription | None = None) -> Negotiated:
    """RFC 9429 §5.11: apply the peer's ``answer`` to our ``offer``
    (``negotiate(offer, answer, local_is_offerer=True)``)."""
    return negotiate(offer, answer, local_is_offerer=True, previous_remote=previous_remote)

