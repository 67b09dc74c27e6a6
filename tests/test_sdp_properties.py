"""Properties of the SDP parser (STYLE.md rule 8).

- Generated descriptions round-trip byte for byte and read back the typed values they were
  built from.
- Typed attributes: ``parse(serialize(x)) == x``.
- Arbitrary text gives a SessionDescription or an SdpParseError with a line number and reason --
  never another exception -- and so does every typed accessor on whatever was parsed.
"""

from __future__ import annotations

import contextlib
import string

from hypothesis import given
from hypothesis import strategies as st

from rtcstack.common import SeededRandom
from rtcstack.sdp import (
    REGISTRY,
    Candidate,
    DtlsParameters,
    ExtMap,
    Fingerprint,
    Fmtp,
    IceParameters,
    LocalSpec,
    MediaLine,
    MediaSection,
    NegotiationError,
    Origin,
    Rid,
    RtcpFb,
    RtpMap,
    SdpParseError,
    SessionDescription,
    Simulcast,
    SimulcastRid,
    Ssrc,
    apply_answer,
    check_description,
    create_answer,
    negotiate,
)

TOKEN = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=12)
RID_ID = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=8)
ICE_CHARS = st.text(string.ascii_letters + string.digits + "+/", min_size=1, max_size=32)
PT = st.integers(0, 127)
HOST = st.one_of(
    st.ip_addresses().map(str),
    st.uuids().map(lambda u: f"{u}.local"),
)
# Free text for values rtcstack keeps but does not interpret: no CR, LF or NUL.
VALUE_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=30)

rtpmaps = st.builds(RtpMap, PT, TOKEN, st.integers(1, 200000), st.none() | st.integers(1, 8))
fmtps = st.builds(Fmtp, PT, st.text(string.ascii_letters + "=;-/0123456789", min_size=1,
                                   max_size=30).filter(lambda t: t.strip() == t and " " not in t))
rtcp_fbs = st.builds(RtcpFb, st.none() | PT, TOKEN, st.none() | TOKEN)
extmaps = st.builds(
    ExtMap, st.integers(1, 255) | st.integers(4096, 4351), TOKEN.map(lambda t: f"urn:x:{t}"),
    st.none() | st.sampled_from(["sendrecv", "sendonly", "recvonly", "inactive"]),
    st.none() | TOKEN)
candidates = st.builds(
    Candidate, ICE_CHARS, st.integers(1, 256), st.sampled_from(["udp", "tcp", "UDP"]),
    st.integers(0, 2**32 - 1), HOST, st.integers(0, 65535),
    st.sampled_from(["host", "srflx", "prflx", "relay"]),
    st.none() | HOST, st.none() | st.integers(0, 65535),
    st.lists(st.tuples(TOKEN.filter(lambda t: t not in ("raddr", "rport")), TOKEN),
             max_size=4).map(tuple),
)
fingerprints = st.builds(
    Fingerprint.from_digest, st.sampled_from(["sha-256", "sha-1", "SHA-512"]),
    st.binary(min_size=1, max_size=64))
rids = st.builds(
    Rid, RID_ID, st.sampled_from(["send", "recv"]), st.lists(PT, max_size=3).map(tuple),
    st.lists(st.tuples(TOKEN.filter(lambda t: t != "pt"), st.none() | TOKEN),
             max_size=3).map(tuple))
_streams = st.lists(st.lists(st.builds(SimulcastRid, RID_ID, st.booleans()), min_size=1,
                             max_size=3).map(tuple), min_size=1, max_size=3).map(tuple)
simulcasts = st.one_of(
    st.builds(Simulcast, _streams, st.just(()), st.just(False)),
    st.builds(Simulcast, st.just(()), _streams, st.just(False)),
    st.builds(Simulcast, _streams, _streams, st.booleans()),
)
ssrcs = st.builds(Ssrc, st.integers(0, 2**32 - 1), TOKEN, st.none() | TOKEN)
TYPED = st.one_of(rtpmaps, fmtps, rtcp_fbs, extmaps, candidates, fingerprints, rids, simulcasts,
                  ssrcs)


@given(TYPED)
def test_typed_attributes_round_trip(attr: object) -> None:
    cls = type(attr)
    text = attr.serialize()  # type: ignore[attr-defined]
    assert cls.parse(text) == attr  # type: ignore[attr-defined]


def _unknown_attribute() -> st.SearchStrategy[str]:
    name = TOKEN.filter(lambda n: n not in REGISTRY)
    return st.one_of(name.map(lambda n: f"a={n}"),
                     st.tuples(name, VALUE_TEXT).map(lambda t: f"a={t[0]}:{t[1]}"))


@st.composite
def descriptions(draw: st.DrawFn) -> tuple[str, list[list[object]]]:
    """Text of a random well-formed description and the typed attributes of each section."""
    origin = Origin(draw(TOKEN), draw(st.integers(0, 2**63)), draw(st.integers(0, 2**32)))
    lines = ["v=0", f"o={origin.serialize()}", f"s={draw(VALUE_TEXT.filter(bool))}", "t=0 0"]
    lines += draw(st.lists(_unknown_attribute(), max_size=3))
    typed: list[list[object]] = []
    for _ in range(draw(st.integers(0, 4))):
        media = draw(st.builds(MediaLine, st.sampled_from(["audio", "video", "application"]),
                               st.integers(0, 65535), st.just("UDP/TLS/RTP/SAVPF"),
                               st.lists(PT.map(str), min_size=1, max_size=5).map(tuple)))
        lines.append("m=" + media.serialize())
        attrs = draw(st.lists(TYPED, max_size=6))
        typed.append(attrs)
        extra = draw(st.lists(_unknown_attribute(), max_size=3))
        for attr in attrs:
            lines.append(f"a={attr.NAME}:{attr.serialize()}")  # type: ignore[attr-defined]
        lines += extra
    return "\r\n".join(lines) + "\r\n", typed


@given(descriptions())
def test_generated_descriptions_round_trip(case: tuple[str, list[list[object]]]) -> None:
    text, typed = case
    sdp = SessionDescription.parse(text)
    assert sdp.serialize() == text
    assert len(sdp.media) == len(typed)
    assert sdp.parse_errors() == []
    for section, attrs in zip(sdp.media, typed, strict=True):
        for cls in {type(a) for a in attrs}:
            assert section.get(cls) == [a for a in attrs if type(a) is cls]  # type: ignore[arg-type]
    lf = SessionDescription.parse(text.replace("\r\n", "\n"))
    assert lf.serialize() == text


def _exercise(sdp: SessionDescription) -> None:
    """Every typed accessor: each gives a value or an SdpParseError (caught by the caller)."""
    for getter in (lambda: sdp.origin, lambda: sdp.timing, lambda: sdp.groups,
                   lambda: sdp.session.connection, lambda: sdp.session.bandwidths):
        with contextlib.suppress(SdpParseError):
            getter()
    for section in sdp.media:
        for cls in REGISTRY.values():
            try:
                section.get(cls)
            except SdpParseError as error:
                assert error.line is not None
        for name in ("media", "rtpmaps", "fmtps", "candidates", "connection", "bandwidths",
                     "fingerprints", "extmaps", "ice_options"):
            try:
                getattr(section, name)
            except SdpParseError as error:
                assert error.line is not None
    sdp.parse_errors()
    sdp.describe()


LINEISH = st.one_of(
    st.sampled_from(["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "c=IN IP4 0.0.0.0",
                     "b=AS:30", "m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=video 0 RTP/AVP 96"]),
    st.sampled_from(sorted(REGISTRY)).flatmap(
        lambda name: VALUE_TEXT.map(lambda v: f"a={name}:{v}")),
    VALUE_TEXT,
)


@given(st.lists(LINEISH, max_size=25), st.sampled_from(["\r\n", "\n"]))
def test_arbitrary_lines_parse_or_raise_sdp_parse_error(lines: list[str], ending: str) -> None:
    text = ending.join(["v=0", *lines]) + ending
    try:
        sdp = SessionDescription.parse(text)
    except SdpParseError as error:
        assert error.line is not None and error.reason
        return
    assert sdp.serialize() == text.replace("\r\n", "\n").replace("\n", "\r\n")
    _exercise(sdp)


@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_else(text: str) -> None:
    try:
        sdp = SessionDescription.parse(text)
    except SdpParseError as error:
        assert error.line is not None and error.reason
        return
    _exercise(sdp)


@given(st.sampled_from(sorted(REGISTRY)), st.text(max_size=60))
def test_every_attribute_parser_raises_only_sdp_parse_error(name: str, text: str) -> None:
    try:
        REGISTRY[name].parse(text)
    except SdpParseError as error:
        assert error.reason


@given(st.builds(MediaLine, st.sampled_from(["audio", "video"]), st.integers(0, 65535),
                 TOKEN, st.lists(TOKEN, max_size=4).map(tuple), st.none() | st.integers(1, 9)))
def test_media_line_round_trips(media: MediaLine) -> None:
    assert MediaLine.parse(media.serialize()) == media
    assert MediaSection.new(media).media == media


_FIELD = st.one_of(TOKEN, st.sampled_from(["raddr", "rport", "typ", "99999", "0", "*", "/", ""]),
                   st.integers(0, 2**33).map(str))


@given(st.lists(_FIELD, min_size=1, max_size=14).map(" ".join), st.sampled_from(
    ["Candidate", "RtpMap", "RtcpFb", "ExtMap"]))
def test_fast_paths_agree_with_the_field_parsers(text: str, name: str) -> None:
    """The one-regex fast paths must accept exactly what the field-by-field parsers accept,
    with the same result."""
    cls = {"Candidate": Candidate, "RtpMap": RtpMap, "RtcpFb": RtcpFb, "ExtMap": ExtMap}[name]
    slow = cls._parse_fields  # type: ignore[attr-defined]
    try:
        fast_result: object = cls.parse(text)
    except SdpParseError:
        fast_result = SdpParseError
    try:
        slow_result: object = slow(text)
    except SdpParseError:
        slow_result = SdpParseError
    assert fast_result == slow_result
    if fast_result is not SdpParseError:
        assert cls.parse(fast_result.serialize()) == fast_result  # type: ignore[attr-defined]


_SPEC = LocalSpec.default(
    ice=IceParameters.generate(SeededRandom(1)), random_bytes=SeededRandom(2),
    dtls=DtlsParameters((Fingerprint.from_digest("sha-256", bytes(32)),)))
_OFFER_LINES = st.one_of(
    LINEISH,
    st.sampled_from([
        "a=group:BUNDLE 0 1", "a=mid:0", "a=mid:1", "a=bundle-only", "a=rtcp-mux",
        "a=setup:actpass", "a=setup:active", "a=ice-ufrag:abcd", "a=ice-pwd:" + "p" * 22,
        "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=rtpmap:111 opus/48000/2",
        "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
        "a=fmtp:102 profile-level-id=42e01f;packetization-mode=1", "a=rtpmap:102 H264/90000",
        "a=rid:q send", "a=simulcast:send q;~h", "a=sendonly", "a=inactive",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid", "a=sctp-port:5000",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
        "m=audio 0 UDP/TLS/RTP/SAVPF 111", "m=video 9 UDP/TLS/RTP/SAVPF 102",
    ]),
)


@given(st.lists(_OFFER_LINES, max_size=30))
def test_checker_and_negotiation_never_raise_anything_else(lines: list[str]) -> None:
    """Whatever a peer sends: the checker lists problems, and answering it gives a description
    or a NegotiationError / SdpParseError that says why -- never another exception."""
    text = "\r\n".join(["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", *lines]) + "\r\n"
    try:
        offer = SessionDescription.parse(text)
    except SdpParseError:
        return
    for role in ("offer", "answer", None):
        for problem in check_description(offer, role=role):  # type: ignore[arg-type]
            assert problem.message and problem.severity in ("error", "warning")
    try:
        answer = create_answer(offer, _SPEC)
    except (NegotiationError, SdpParseError) as error:
        assert str(error)
        return
    assert SessionDescription.parse(answer.serialize()).serialize() == answer.serialize()
    try:
        negotiate(answer, offer, local_is_offerer=False)
        apply_answer(offer, answer)
    except (NegotiationError, SdpParseError) as error:
        assert str(error)
