"""What a WebRTC peer rejects in a session description, and what breaks interop.

:func:`check_description` runs every rule in :data:`RULES` over a parsed
:class:`~rtcstack.sdp.SessionDescription` and returns one :class:`Problem` per finding, with the
1-based line number it concerns (``None`` when the problem is something missing from the
session part).  ``error`` means Chromium or Firefox refuses the description (or the call cannot
work); ``warning`` means a peer accepts it but something will not behave as written.

Each rule is a row of :data:`RULES`: an id (what ``rtcstack sdp check`` prints in brackets), the
RFC section it enforces, a summary and the function.  ``docs`` list the table from there.

Transport attributes (ICE credentials, fingerprint, ``setup``, ``rtcp-mux``) are required in the
media sections that own a transport: every active section that is not bundled behind another
one.  RFC 9143 §7.1.3 / §7.3.1 put them only in the tagged (first) section of a BUNDLE group,
and the other bundled sections use that section's transport; session-level values count for
every section (RFC 8866 §6).  A section is *active* unless its port is 0 without
``a=bundle-only`` (RFC 3264 §6, RFC 9143 §6).

This module is sans-IO: it reads the description and returns values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from rtcstack.sdp.attributes import (
    DIRECTIONS,
    Candidate,
    ExtMap,
    Fmtp,
    Group,
    Rid,
    RtpMap,
    Simulcast,
)
from rtcstack.sdp.description import MediaSection, Section, SessionDescription
from rtcstack.sdp.errors import SdpParseError

__all__ = ["RULES", "Problem", "Rule", "check_description"]

Severity = Literal["error", "warning"]
Role = Literal["offer", "answer"]

#: RFC 3551 §6: payload types 0-34 are statically assigned; every other type needs an rtpmap.
_STATIC_PT_MAX = 34
#: RFC 8285 §4.2: a one-byte header element carries 1-16 bytes, so a longer mid cannot be
#: sent in the MID header extension (RFC 9143 §15) that BUNDLE demultiplexing relies on.
_MID_MAX = 16


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: ``line`` (1-based, or None), ``severity``, ``message`` and the ``rule`` id."""

    line: int | None
    severity: Severity
    message: str
    rule: str = ""

    def __str__(self) -> str:
        where = "session" if self.line is None else f"line {self.line}"
        tag = f" [{self.rule}]" if self.rule else ""
        return f"{where}: {self.severity}: {self.message}{tag}"


@dataclass(slots=True)
class _Context:
    """What every rule needs, computed once: typed attributes per section, BUNDLE membership."""

    desc: SessionDescription
    role: Role | None
    #: per section (0: session, i + 1: media[i]) -> name -> [(line, typed value)], parse
    #: failures left out (the ``grammar`` rule reports them)
    attrs: list[dict[str, list[tuple[int | None, object]]]] = field(default_factory=list)
    bundle: list[tuple[int | None, tuple[str, ...]]] = field(default_factory=list)
    by_mid: dict[str, int] = field(default_factory=dict)

    def section(self, index: int) -> Section:
        return self.desc.session if index == 0 else self.desc.media[index - 1]

    def typed(self, index: int, name: str) -> list[tuple[int | None, object]]:
        return self.attrs[index].get(name, [])

    def media_line(self, i: int) -> int | None:
        return self.desc.media[i].line_number(0)

    def active(self, i: int) -> bool:
        media = self.desc.media[i]
        return media.port != 0 or media.bundle_only

    def bundle_of(self, i: int) -> tuple[str, ...] | None:
        mid = self.desc.media[i].mid
        if mid is None:
            return None
        for _, mids in self.bundle:
            if mid in mids:
                return mids
        return None

    def owns_transport(self, i: int) -> bool:
        """Active and not bundled behind another section (RFC 9143 §7.1.3)."""
        if not self.active(i):
            return False
        group = self.bundle_of(i)
        return group is None or group[0] == self.desc.media[i].mid

    def payload_types(self, i: int) -> list[int]:
        media = self.desc.media[i]
        if not media.media.is_rtp:
            return []
        return [int(f) for f in media.formats if f.isdigit() and int(f) <= 127]


def _context(desc: SessionDescription, role: Role | None) -> _Context:
    ctx = _Context(desc, role)
    index_of = {id(s): n for n, s in enumerate(desc.sections())}
    ctx.attrs = [{} for _ in index_of]
    for section, index, name, _val, typed in desc.typed_attributes():
        if isinstance(typed, SdpParseError):
            continue
        slot = ctx.attrs[index_of[id(section)]]
        slot.setdefault(name, []).append((section.line_number(index), typed))
    for line, group in ctx.typed(0, "group"):
        if isinstance(group, Group) and group.semantics == "BUNDLE":
            ctx.bundle.append((line, group.mids))
    for i, media in enumerate(desc.media):
        mid = media.mid
        if mid is not None:
            ctx.by_mid.setdefault(mid, i)
    return ctx


def _problem(line: int | None, severity: Severity, message: str) -> Problem:
    return Problem(line, severity, message)


RuleFunction = Callable[[_Context], Iterator[Problem]]


# --- the rules ------------------------------------------------------------------------------


def _grammar(ctx: _Context) -> Iterator[Problem]:
    """RFC 8866 §9: every line follows the grammar of its type or attribute."""
    for error in ctx.desc.parse_errors():
        yield _problem(error.line, "error", error.reason)
    for i, media in enumerate(ctx.desc.media):
        if media.media.is_rtp:
            bad = [f for f in media.formats if not f.isdigit() or int(f) > 127]
            if bad:
                yield _problem(ctx.media_line(i), "error",
                               f"RTP format(s) {' '.join(bad)} are not payload types 0-127 "
                               "(RFC 8866 §5.14)")


def _session_lines(ctx: _Context) -> Iterator[Problem]:
    """RFC 8866 §5: "The set of type letters ... v, o, s, t are mandatory"."""
    present = {line[0] for line in ctx.desc.session.lines}
    for kind, what in (("o", "origin"), ("s", "session name"), ("t", "timing")):
        if kind not in present:
            yield _problem(None, "error", f"there is no {kind}= ({what}) line; RFC 8866 §5 "
                           "makes v=, o=, s= and t= mandatory")


def _protocol(ctx: _Context) -> Iterator[Problem]:
    """RFC 9429 §5.1.3 / RFC 8827 §6.5: media is secured with DTLS-SRTP; data uses DTLS/SCTP."""
    for i, media in enumerate(ctx.desc.media):
        if not ctx.active(i):
            continue
        proto = media.protocol
        if media.media.is_rtp and "SAVP" not in proto:
            yield _problem(ctx.media_line(i), "error",
                           f"protocol {proto} is not secured: WebRTC requires "
                           "UDP/TLS/RTP/SAVPF (RFC 9429 §5.1.2, RFC 8827 §6.5)")
        elif media.kind == "application" and not media.media.is_sctp:
            yield _problem(ctx.media_line(i), "error",
                           f"application protocol {proto} is not UDP/DTLS/SCTP "
                           "(RFC 8841 §4.1)")
        elif media.media.is_sctp and proto == "DTLS/SCTP":
            yield _problem(ctx.media_line(i), "warning",
                           "DTLS/SCTP is the pre-RFC 8841 draft syntax; peers expect "
                           "UDP/DTLS/SCTP (RFC 8841 §4.1)")


def _fingerprint(ctx: _Context) -> Iterator[Problem]:
    """RFC 8842 §5.2/§5.3: the offerer and the answerer "MUST insert ... one or more SDP
    'fingerprint' attributes" (media or session level, RFC 8122 §5)."""
    for i, media in enumerate(ctx.desc.media):
        if ctx.owns_transport(i) and not (ctx.typed(i + 1, "fingerprint")
                                          or ctx.typed(0, "fingerprint")):
            yield _problem(ctx.media_line(i), "error",
                           f"{_name(media)} has no a=fingerprint (RFC 8842 §5.2: DTLS needs "
                           "the certificate fingerprint)")


def _ice_credentials(ctx: _Context) -> Iterator[Problem]:
    """RFC 8839 §4.3.1: the offerer "MUST include an SDP 'ice-ufrag' attribute, an SDP
    'ice-pwd' attribute" (media or session level, §5.4)."""
    for i, media in enumerate(ctx.desc.media):
        if not ctx.owns_transport(i):
            continue
        for name in ("ice-ufrag", "ice-pwd"):
            if not (ctx.typed(i + 1, name) or ctx.typed(0, name)):
                yield _problem(ctx.media_line(i), "error",
                               f"{_name(media)} has no a={name} (RFC 8839 §5.4)")


def _ice_credential_length(ctx: _Context) -> Iterator[Problem]:
    """RFC 8839 §5.4: "the 'ice-ufrag' attribute will be at least 4 characters long, and the
    'ice-pwd' at least 22 characters long ... up to 256 characters"."""
    limits = {"ice-ufrag": 4, "ice-pwd": 22}
    for index in range(len(ctx.attrs)):
        for name, low in limits.items():
            for line, typed in ctx.typed(index, name):
                text = str(getattr(typed, "value", typed))
                if not low <= len(text) <= 256:
                    yield _problem(line, "error",
                                   f"a={name} is {len(text)} characters; RFC 8839 §5.4 needs "
                                   f"{low}-256")


def _setup(ctx: _Context) -> Iterator[Problem]:
    """RFC 4145 §4.1: an offer's ``actpass`` is answered with ``active`` or ``passive``;
    RFC 8842 §5.3: the answerer "MUST insert in the answer an SDP 'setup' attribute"."""
    for index in range(len(ctx.attrs)):
        for line, typed in ctx.typed(index, "setup"):
            if ctx.role == "answer" and getattr(typed, "role", None) == "actpass":
                yield _problem(line, "error", "a=setup:actpass in an answer: the answerer "
                               "picks active or passive (RFC 4145 §4.1, RFC 8842 §5.3)")
    for i, media in enumerate(ctx.desc.media):
        if ctx.owns_transport(i) and not (ctx.typed(i + 1, "setup") or ctx.typed(0, "setup")):
            yield _problem(ctx.media_line(i), "warning" if ctx.role != "answer" else "error",
                           f"{_name(media)} has no a=setup (RFC 8842 §5.2/§5.3; a peer "
                           "then assumes active/actpass)")


def _bundle_group(ctx: _Context) -> Iterator[Problem]:
    """RFC 5888 §6 / RFC 9143 §7.1: a BUNDLE group names existing, accepted sections, each
    once and in one group only."""
    seen: dict[str, int | None] = {}
    for line, mids in ctx.bundle:
        if not mids and ctx.desc.media:
            yield _problem(line, "warning", "a=group:BUNDLE lists no mid")
        for mid in mids:
            if mid in seen:
                yield _problem(line, "error", f"mid {mid!r} is in a BUNDLE group twice "
                               "(RFC 9143 §7.1: an m= section is in at most one BUNDLE group)")
                continue
            seen[mid] = line
            i = ctx.by_mid.get(mid)
            if i is None:
                yield _problem(line, "error", f"BUNDLE group names mid {mid!r}, which no m= "
                               "section has (RFC 5888 §6)")
            elif not ctx.active(i):
                yield _problem(line, "error", f"BUNDLE group names mid {mid!r}, whose m= "
                               "section is rejected (port 0); RFC 9143 §7.3.3 / §7.5.3 take "
                               "rejected sections out of the group")


def _bundle_only(ctx: _Context) -> Iterator[Problem]:
    """RFC 9143 §6 / §7.2.1 / §7.3: ``bundle-only`` only inside a BUNDLE group of an offer;
    "The offerer MUST NOT suggest a bundle-only 'm=' section as the offerer-tagged 'm='
    section"; the answerer "MUST NOT include an SDP 'bundle-only' attribute"."""
    for i, media in enumerate(ctx.desc.media):
        for line, _ in ctx.typed(i + 1, "bundle-only"):
            group = ctx.bundle_of(i)
            if group is None:
                yield _problem(line, "error", f"{_name(media)} is bundle-only but in no "
                               "BUNDLE group (RFC 9143 §6)")
            elif ctx.role == "answer":
                yield _problem(line, "error", "a=bundle-only in an answer (RFC 9143 §7.3: "
                               "the answerer MUST NOT include it)")
            elif group[0] == media.mid:
                yield _problem(line, "error", f"{_name(media)} is bundle-only and the tagged "
                               "(first) mid of its BUNDLE group (RFC 9143 §7.2.1)")


def _mid_duplicate(ctx: _Context) -> Iterator[Problem]:
    """RFC 5888 §4: "The identification-tag MUST be unique within an SDP session description"."""
    first: dict[str, int | None] = {}
    for i in range(len(ctx.desc.media)):
        for line, typed in ctx.typed(i + 1, "mid"):
            mid = str(getattr(typed, "value", typed))
            if mid in first:
                yield _problem(line, "error", f"mid {mid!r} is already used at line "
                               f"{first[mid]} (RFC 5888 §4)")
            else:
                first[mid] = line
        if len(ctx.typed(i + 1, "mid")) > 1:
            yield _problem(ctx.typed(i + 1, "mid")[1][0], "error",
                           "a second a=mid in one m= section (RFC 5888 §4)")


def _mid_missing(ctx: _Context) -> Iterator[Problem]:
    """RFC 9143 §7.1 (an m= section in a BUNDLE group is named by its mid) and RFC 9429
    §5.2.1 ("an 'a=mid' line ... MUST be included" in every m= section)."""
    for i, media in enumerate(ctx.desc.media):
        if media.mid is None and not ctx.typed(i + 1, "mid"):
            severity: Severity = "error" if ctx.bundle else "warning"
            yield _problem(ctx.media_line(i), severity, f"{_name(media)} has no a=mid "
                           "(RFC 9429 §5.2.1" + (", and BUNDLE is used)" if ctx.bundle else ")"))


def _mid_length(ctx: _Context) -> Iterator[Problem]:
    """RFC 8285 §4.2 / RFC 9143 §15: the MID header extension carries at most 16 bytes."""
    for i in range(len(ctx.desc.media)):
        for line, typed in ctx.typed(i + 1, "mid"):
            mid = str(getattr(typed, "value", typed))
            if len(mid.encode()) > _MID_MAX:
                yield _problem(line, "error", f"mid {mid!r} is {len(mid.encode())} bytes; the "
                               "RTP MID header extension carries at most 16 (RFC 8285 §4.2), "
                               "and Chromium rejects longer mids")


def _payload_type_unlisted(ctx: _Context) -> Iterator[Problem]:
    """RFC 8866 §6.6 / §6.15, RFC 4585 §4.2: rtpmap, fmtp and rtcp-fb describe payload types
    of the m= line."""
    for i, media in enumerate(ctx.desc.media):
        if not media.media.is_rtp:
            continue
        listed = set(ctx.payload_types(i))
        for name in ("rtpmap", "fmtp", "rtcp-fb"):
            for line, typed in ctx.typed(i + 1, name):
                pt = getattr(typed, "payload_type", None)
                if pt is not None and pt not in listed:
                    yield _problem(line, "warning", f"a={name} for payload type {pt}, which "
                                   f"the m= line does not list (RFC 8866 §6.6)")


def _payload_type_no_rtpmap(ctx: _Context) -> Iterator[Problem]:
    """RFC 8866 §6.6 / RFC 3264 §5.1: a dynamic payload type "MUST" be bound by an rtpmap
    (RFC 3551 §6 assigns only 0-34 statically)."""
    for i in range(len(ctx.desc.media)):
        if not ctx.active(i):
            continue
        mapped = {getattr(t, "payload_type", None) for _, t in ctx.typed(i + 1, "rtpmap")}
        for pt in ctx.payload_types(i):
            if pt > _STATIC_PT_MAX and pt not in mapped:
                yield _problem(ctx.media_line(i), "error", f"payload type {pt} has no "
                               "a=rtpmap (RFC 3264 §5.1: dynamic types must be mapped)")


def _rtpmap_duplicate(ctx: _Context) -> Iterator[Problem]:
    """RFC 8866 §6.6 in one section, RFC 9143 §9.1.1 across a BUNDLE group: "all codecs
    associated with the payload type number MUST share an identical codec configuration"."""
    for i in range(len(ctx.desc.media)):
        seen: dict[int, RtpMap] = {}
        for line, typed in ctx.typed(i + 1, "rtpmap"):
            if not isinstance(typed, RtpMap):
                continue
            other = seen.setdefault(typed.payload_type, typed)
            if other is not typed:
                yield _problem(line, "error", f"payload type {typed.payload_type} is mapped "
                               "twice in one m= section (RFC 8866 §6.6)")
    for line, pt, codec, known, mid in _bundle_conflicts(
            ctx, "rtpmap", lambda t: (t.payload_type, _codec(t)) if isinstance(t, RtpMap)
            else None):
        yield _problem(line, "error", f"payload type {pt} is {codec} here but {known} in mid "
                       f"{mid!r} of the same BUNDLE group (RFC 9143 §9.1.1)")


def _bundle_conflicts(
    ctx: _Context, name: str, key_value: Callable[[object], tuple[object, str] | None],
) -> Iterator[tuple[int | None, object, str, str, str]]:
    """One BUNDLE group is one RTP session (RFC 9143 §9.1): every typed ``a=<name>`` line whose
    key (payload type, extmap id) another mid of its group maps to a different value, as
    ``(line, key, value, other value, other mid)``."""
    for _, mids in ctx.bundle:
        seen: dict[object, tuple[str, str]] = {}
        for mid in mids:
            index = ctx.by_mid.get(mid)
            if index is None or not ctx.active(index):
                continue
            for line, typed in ctx.typed(index + 1, name):
                pair = key_value(typed)
                if pair is None:
                    continue
                key, val = pair
                known = seen.setdefault(key, (val, mid))
                if known[0] != val and known[1] != mid:
                    yield line, key, val, known[0], known[1]


def _rtx_apt(ctx: _Context) -> Iterator[Problem]:
    """RFC 4588 §8.6: "The 'apt' (associated payload type) parameter MUST be used to map the
    retransmission payload type to the associated original stream payload type"."""
    for i in range(len(ctx.desc.media)):
        listed = set(ctx.payload_types(i))
        rtx = {t.payload_type for _, t in ctx.typed(i + 1, "rtpmap")
               if isinstance(t, RtpMap) and t.encoding.lower() == "rtx"}
        fmtps = {t.payload_type: (line, t) for line, t in ctx.typed(i + 1, "fmtp")
                 if isinstance(t, Fmtp)}
        for pt in sorted(rtx & listed):
            if pt not in fmtps:
                yield _problem(ctx.media_line(i), "error", f"rtx payload type {pt} has no "
                               "a=fmtp with apt= (RFC 4588 §8.6)")
                continue
            line, fmtp = fmtps[pt]
            apt = fmtp.params.get("apt")
            if apt is None or not apt.isdigit():
                yield _problem(line, "error", f"rtx payload type {pt} has no numeric apt= "
                               "(RFC 4588 §8.6)")
            elif int(apt) not in listed:
                yield _problem(line, "error", f"rtx payload type {pt} points to apt={apt}, "
                               "which the m= line does not list (RFC 4588 §8.6)")


def _extmap(ctx: _Context) -> Iterator[Problem]:
    """RFC 8285 §5-§6: ids are unique per section, "The local identifiers MUST be unique in an
    RTP session" (one BUNDLE group is one RTP session, RFC 9143 §9.1), 15 is reserved,
    16-255 need the two-byte form, 4096-4351 are offered only for the answer to remap."""
    mixed = ctx.desc.extmap_allow_mixed
    for index in range(len(ctx.attrs)):
        section = ctx.section(index)
        allow = mixed or section.has("extmap-allow-mixed")
        ids: dict[int, str] = {}
        for line, typed in ctx.typed(index, "extmap"):
            if not isinstance(typed, ExtMap):
                continue
            if typed.id in ids:
                yield _problem(line, "error", f"extmap id {typed.id} is used twice in one "
                               "section (RFC 8285 §6)")
            ids.setdefault(typed.id, typed.uri)
            if typed.id == 15:
                yield _problem(line, "error", "extmap id 15 is reserved (RFC 8285 §4.2: it "
                               "\"MUST NOT be used as an identifier\")")
            elif 15 < typed.id <= 255 and not allow:
                yield _problem(line, "warning", f"extmap id {typed.id} needs two-byte header "
                               "extensions, but there is no a=extmap-allow-mixed (RFC 8285 §6)")
            elif typed.id >= 4096 and ctx.role == "answer":
                yield _problem(line, "error", f"extmap id {typed.id} (4096-4351) in an answer; "
                               "the answer picks an id in 1-255 (RFC 8285 §7)")
    for line, ident, uri, known, mid in _bundle_conflicts(
            ctx, "extmap", lambda t: (t.id, t.uri) if isinstance(t, ExtMap) else None):
        yield _problem(line, "error", f"extmap id {ident} is {uri} here but {known} in mid "
                       f"{mid!r} of the same BUNDLE group (RFC 8285 §6: ids are unique in an "
                       "RTP session)")


def _simulcast_rid(ctx: _Context) -> Iterator[Problem]:
    """RFC 8853 §5.1: "Simulcast streams using undefined rid-ids MUST NOT be used" and "The
    direction for a rid-id MUST be aligned with the direction specified ... on the 'a=rid'
    line"; RFC 8851 §10: a rid's ``pt=`` lists payload types of the m= line."""
    for i in range(len(ctx.desc.media)):
        rids: dict[str, Rid] = {}
        listed = set(ctx.payload_types(i))
        for line, typed in ctx.typed(i + 1, "rid"):
            if not isinstance(typed, Rid):
                continue
            rids.setdefault(typed.id, typed)
            bad = [pt for pt in typed.payload_types if pt not in listed]
            if bad:
                yield _problem(line, "error", f"rid {typed.id!r} restricts to payload "
                               f"type(s) {bad} that the m= line does not list (RFC 8851 §4)")
        for line, typed in ctx.typed(i + 1, "simulcast"):
            if not isinstance(typed, Simulcast):
                continue
            for direction, streams in (("send", typed.send), ("recv", typed.recv)):
                seen: set[str] = set()
                for alternatives in streams:
                    for sc in alternatives:
                        if sc.rid in seen:
                            yield _problem(line, "error", f"rid {sc.rid!r} occurs twice in "
                                           "a=simulcast (RFC 8853 §5.1)")
                        seen.add(sc.rid)
                        rid = rids.get(sc.rid)
                        if rid is None:
                            yield _problem(line, "error", f"simulcast {direction} rid "
                                           f"{sc.rid!r} has no a=rid line (RFC 8853 §5.1)")
                        elif rid.direction != direction:
                            yield _problem(line, "error", f"simulcast lists rid {sc.rid!r} "
                                           f"under {direction}, but its a=rid says "
                                           f"{rid.direction} (RFC 8853 §5.1)")


def _sctp_port(ctx: _Context) -> Iterator[Problem]:
    """RFC 8841 §5 / §10.1: a data channel section carries ``a=sctp-port``."""
    for i, media in enumerate(ctx.desc.media):
        if not ctx.active(i) or not media.media.is_sctp:
            continue
        if media.protocol == "DTLS/SCTP":
            if not ctx.typed(i + 1, "sctpmap"):
                yield _problem(ctx.media_line(i), "error", "DTLS/SCTP section without "
                               "a=sctpmap (draft-ietf-mmusic-sctp-sdp-05)")
        elif not ctx.typed(i + 1, "sctp-port"):
            yield _problem(ctx.media_line(i), "error", f"{_name(media)} has no a=sctp-port "
                           "(RFC 8841 §5)")


def _rtcp_mux(ctx: _Context) -> Iterator[Problem]:
    """RFC 8834 §4.5 / RFC 9429 §5.1.3: WebRTC multiplexes RTP and RTCP; with the default
    "require" policy a browser rejects sections without ``a=rtcp-mux``."""
    for i, media in enumerate(ctx.desc.media):
        if ctx.owns_transport(i) and media.media.is_rtp and not ctx.typed(i + 1, "rtcp-mux"):
            yield _problem(ctx.media_line(i), "warning", f"{_name(media)} has no a=rtcp-mux; "
                           "browsers with the default rtcpMuxPolicy 'require' reject it "
                           "(RFC 9429 §4.1.1)")


def _direction(ctx: _Context) -> Iterator[Problem]:
    """RFC 8866 §6.7: one of sendrecv, sendonly, recvonly, inactive per section."""
    for index in range(len(ctx.attrs)):
        found = [(line, name) for name in DIRECTIONS for line, _ in ctx.typed(index, name)]
        found.sort(key=lambda item: item[0] or 0)
        for line, name in found[1:]:
            yield _problem(line, "error", f"a={name} is a second direction attribute after "
                           f"a={found[0][1]} (RFC 8866 §6.7)")


def _candidate_component(ctx: _Context) -> Iterator[Problem]:
    """RFC 8858 §3 / RFC 5761 §5.1.3: with ``rtcp-mux-only`` (or an accepted ``rtcp-mux`` in an
    answer) there is no RTCP component, so candidates are for component 1 only."""
    for i in range(len(ctx.desc.media)):
        mux_only = bool(ctx.typed(i + 1, "rtcp-mux-only"))
        muxed_answer = ctx.role == "answer" and bool(ctx.typed(i + 1, "rtcp-mux"))
        if not (mux_only or muxed_answer):
            continue
        for line, typed in ctx.typed(i + 1, "candidate"):
            if isinstance(typed, Candidate) and typed.component != 1:
                why = "rtcp-mux-only" if mux_only else "rtcp-mux in an answer"
                yield _problem(line, "error" if mux_only else "warning",
                               f"candidate for component {typed.component} with {why}: RTCP "
                               "is multiplexed on component 1 (RFC 8858 §3)")


def _name(media: MediaSection) -> str:
    mid = media.mid
    return f"m={media.kind} section" + (f" (mid {mid!r})" if mid is not None else "")


def _codec(rtpmap: RtpMap) -> str:
    text = f"{rtpmap.encoding.lower()}/{rtpmap.clock_rate}"
    return text if rtpmap.channels in (None, 1) else f"{text}/{rtpmap.channels}"


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of :data:`RULES`."""

    id: str
    rfc: str
    summary: str
    function: RuleFunction


#: Every rule, in the order ``check_description`` runs them.
RULES: tuple[Rule, ...] = (
    Rule("grammar", "RFC 8866 §9", "every line follows its grammar", _grammar),
    Rule("session-lines", "RFC 8866 §5", "o=, s= and t= are present", _session_lines),
    Rule("protocol", "RFC 9429 §5.1.2", "media is UDP/TLS/RTP/SAVPF, data UDP/DTLS/SCTP",
         _protocol),
    Rule("fingerprint", "RFC 8842 §5.2", "each transport has a=fingerprint", _fingerprint),
    Rule("ice-credentials", "RFC 8839 §5.4", "each transport has a=ice-ufrag and a=ice-pwd",
         _ice_credentials),
    Rule("ice-credential-length", "RFC 8839 §5.4", "ufrag 4-256, pwd 22-256 characters",
         _ice_credential_length),
    Rule("setup", "RFC 4145 §4.1", "a=setup present; not actpass in an answer", _setup),
    Rule("bundle-group", "RFC 9143 §7.1", "BUNDLE names existing, accepted mids once",
         _bundle_group),
    Rule("bundle-only", "RFC 9143 §6", "bundle-only only inside a BUNDLE group of an offer",
         _bundle_only),
    Rule("mid-duplicate", "RFC 5888 §4", "mids are unique", _mid_duplicate),
    Rule("mid-missing", "RFC 9429 §5.2.1", "every m= section has a=mid", _mid_missing),
    Rule("mid-length", "RFC 8285 §4.2", "a mid fits the MID header extension (16 bytes)",
         _mid_length),
    Rule("payload-type-unlisted", "RFC 8866 §6.6",
         "rtpmap/fmtp/rtcp-fb name payload types of the m= line", _payload_type_unlisted),
    Rule("payload-type-no-rtpmap", "RFC 3264 §5.1", "dynamic payload types have an rtpmap",
         _payload_type_no_rtpmap),
    Rule("payload-type-conflict", "RFC 9143 §9.1.1",
         "a payload type means one codec in a section and in a BUNDLE group", _rtpmap_duplicate),
    Rule("rtx-apt", "RFC 4588 §8.6", "rtx apt= names a payload type of the m= line", _rtx_apt),
    Rule("extmap", "RFC 8285 §6", "extmap ids are valid, unique, one URI per id per BUNDLE group",
         _extmap),
    Rule("simulcast-rid", "RFC 8853 §5.1", "simulcast rids exist with the same direction",
         _simulcast_rid),
    Rule("sctp-port", "RFC 8841 §5", "a data channel section has a=sctp-port", _sctp_port),
    Rule("rtcp-mux", "RFC 9429 §5.1.3", "RTP sections multiplex RTCP (warning)", _rtcp_mux),
    Rule("direction", "RFC 8866 §6.7", "at most one direction attribute per section",
         _direction),
    Rule("candidate-component", "RFC 8858 §3", "no RTCP candidates when RTCP is multiplexed",
         _candidate_component),
)

_BY_ID = {rule.id: rule for rule in RULES}


def check_description(desc: SessionDescription, *, role: Role | None = None,
                      rules: tuple[str, ...] | None = None) -> list[Problem]:
    """Every problem :data:`RULES` find in ``desc``, ordered by line (session ones first).

    ``role`` (``"offer"`` or ``"answer"``) enables the rules that depend on it (``actpass`` and
    ``bundle-only`` in an answer...); ``rules`` limits the run to those rule ids.
    """
    if role not in (None, "offer", "answer"):
        raise ValueError(f"role must be 'offer', 'answer' or None, not {role!r}")
    if not isinstance(desc, SessionDescription):
        raise TypeError(f"check_description takes a SessionDescription, not {type(desc)!r}")
    selected = RULES
    if rules is not None:
        unknown = [r for r in rules if r not in _BY_ID]
        if unknown:
            raise ValueError(f"unknown rule id(s) {unknown}; see rtcstack.sdp.check.RULES")
        selected = tuple(_BY_ID[r] for r in rules)
    ctx = _context(desc, role)
    problems: list[Problem] = []
    for rule in selected:
        for problem in rule.function(ctx):
            problems.append(Problem(problem.line, problem.severity, problem.message, rule.id))
    problems.sort(key=lambda p: -1 if p.line is None else p.line)
    return problems

