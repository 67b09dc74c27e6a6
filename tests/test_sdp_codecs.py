"""Codec values, RFC 6184 §8.1 profile-level-id, and RFC 3264 §6.1 codec matching."""

from __future__ import annotations

import pytest

from rtcstack.sdp import SessionDescription
from rtcstack.sdp.codecs import (
    H264_LEVEL_1B,
    Codec,
    assign_payload_types,
    codecs_from_section,
    codecs_match,
    default_audio_codecs,
    default_codecs,
    default_video_codecs,
    h264_answer_profile_level_id,
    intersect_codecs,
    parse_h264_profile_level_id,
)


def h264(plid: str | None, mode: str | None = "1", asym: bool = True,
         pt: int | None = None) -> Codec:
    params: list[tuple[str, str | None]] = []
    if asym:
        params.append(("level-asymmetry-allowed", "1"))
    if mode is not None:
        params.append(("packetization-mode", mode))
    if plid is not None:
        params.append(("profile-level-id", plid))
    return Codec("video", "H264", 90000, None, tuple(params), (), pt)


# --- RFC 6184 §8.1 Table 5 -----------------------------------------------------------------


@pytest.mark.parametrize(("text", "profile", "level"), [
    ("42e01f", "constrained-baseline", 31),
    ("42c01f", "constrained-baseline", 31),   # x1xx0000 with constraint_set0 set
    ("42401f", "constrained-baseline", 31),   # x1xx0000 without constraint_set0
    ("4de01f", "constrained-baseline", 31),   # Main with 1xxx0000
    ("58c01f", "constrained-baseline", 31),   # Extended with 11xx0000
    ("42001f", "baseline", 31),
    ("42801e", "baseline", 30),
    ("58801f", "baseline", 31),
    ("4d001f", "main", 31),
    ("4d0028", "main", 40),
    ("58001f", "extended", 31),
    ("64001f", "high", 31),
    ("640c1f", "constrained-high", 31),
    ("6e001f", "high-10", 31),
    ("7a0033", "high-422", 51),
    ("f4001f", "high-444", 31),
    ("6e101f", "high-10-intra", 31),
    ("2c101f", "cavlc-444-intra", 31),
    ("42f00b", "constrained-baseline", H264_LEVEL_1B),  # level 11 + constraint_set3 = 1b
    ("42e00b", "constrained-baseline", 11),             # level 1.1 without the flag
    ("640009", "high", H264_LEVEL_1B),
])
def test_profile_level_id_table(text: str, profile: str, level: int) -> None:
    parsed = parse_h264_profile_level_id(text)
    assert parsed is not None
    assert (parsed.profile, parsed.level) == (profile, level)
    assert parsed.serialize() == text


@pytest.mark.parametrize("text", ["4d201f", "640100", "ff001f", "42e0", "zzzzzz", "42e01f00"])
def test_profile_level_id_unknown(text: str) -> None:
    assert parse_h264_profile_level_id(text) is None


def test_profile_level_id_absent_means_baseline_level_1() -> None:
    # RFC 6184 §8.1: "If no profile-level-id is present, the Baseline profile, without
    # additional constraints at Level 1, MUST be inferred."
    parsed = parse_h264_profile_level_id(None)
    assert parsed is not None and (parsed.profile, parsed.level) == ("baseline", 10)


def test_with_level_handles_level_1b() -> None:
    cb = parse_h264_profile_level_id("42e01f")
    assert cb is not None
    assert cb.with_level(H264_LEVEL_1B).serialize() == "42f00b"
    assert cb.with_level(H264_LEVEL_1B).with_level(31).serialize() == "42e01f"
    high = parse_h264_profile_level_id("64001f")
    assert high is not None and high.with_level(H264_LEVEL_1B).serialize() == "640009"


# --- matching -------------------------------------------------------------------------------


@pytest.mark.parametrize(("ours", "theirs", "match"), [
    (h264("42e01f"), h264("42e01f"), True),
    (h264("42e01f"), h264("42c01f"), True),        # the same CB sub-profile written twice
    (h264("42e01f"), h264("42401f"), True),
    (h264("42e01f"), h264("4de01f"), True),
    (h264("42e01f"), h264("42e034"), True),        # level differs: still the same config
    (h264("42e01f"), h264("42001f"), False),       # CB vs Baseline
    (h264("42001f"), h264("4d001f"), False),       # Baseline vs Main
    (h264("4d001f"), h264("64001f"), False),       # Main vs High
    (h264("42e01f", "1"), h264("42e01f", "0"), False),
    (h264("42e01f", "0"), h264("42e01f", None), True),   # packetization-mode default 0
    (h264("42001f"), h264(None), True),            # absent = Baseline
    (h264("42e01f"), h264("ff001f"), False),       # unknown profile never matches
])
def test_h264_matching(ours: Codec, theirs: Codec, match: bool) -> None:
    assert codecs_match(ours, theirs) is match
    assert codecs_match(theirs, ours) is match


def vp9(profile: str | None) -> Codec:
    return Codec("video", "VP9", 90000, None, () if profile is None else (("profile-id", profile),))


def test_vp9_profile() -> None:
    assert codecs_match(vp9("0"), vp9(None))
    assert codecs_match(vp9("2"), vp9("2"))
    assert not codecs_match(vp9("0"), vp9("2"))
    assert not codecs_match(vp9(None), vp9("1"))


def test_av1_profile() -> None:
    av1 = Codec("video", "AV1", 90000)
    assert codecs_match(av1, av1.with_parameters({"profile": "0"}))
    assert not codecs_match(av1, av1.with_parameters({"profile": "1"}))


def test_name_rate_channels() -> None:
    opus = Codec("audio", "opus", 48000, 2)
    assert codecs_match(opus, Codec("audio", "OPUS", 48000, 2))           # case-insensitive
    assert not codecs_match(opus, Codec("audio", "opus", 48000, 1))
    assert not codecs_match(opus, Codec("audio", "opus", 16000, 2))
    pcmu = Codec("audio", "PCMU", 8000)
    assert codecs_match(pcmu, Codec("audio", "PCMU", 8000, 1))             # absent = 1 channel
    assert not codecs_match(pcmu, Codec("video", "PCMU", 8000))
    # Opus parameters are receiver hints, not part of the configuration (RFC 7587 §7).
    assert codecs_match(opus, opus.with_parameters({"stereo": "1", "useinbandfec": "1"}))


# --- answer level (RFC 6184 §8.2.2) -------------------------------------------------------------


@pytest.mark.parametrize(("ours", "theirs", "expected"), [
    (h264("42e01f"), h264("42e01f"), "42e01f"),
    # both allow asymmetry: the answer states our own receive level
    (h264("42e01f"), h264("42e00d"), "42e01f"),
    (h264("42e00d"), h264("42e034"), "42e00d"),
    # asymmetry not allowed by one side: the lower of the two levels
    (h264("42e01f"), h264("42e00d", asym=False), "42e00d"),
    (h264("42e034", asym=False), h264("42e01f"), "42e01f"),
    (h264("42e00a", asym=False), h264("42e01f"), "42e00a"),
    # the offered form of the profile is kept (RFC 6184: "maintain all configuration parameters")
    (h264("42e01f", asym=False), h264("42c034"), "42c01f"),
    # level 1b lies between 1 and 1.1
    (h264("42e01f", asym=False), h264("42f00b"), "42f00b"),
    (h264("42e00a", asym=False), h264("42f00b"), "42e00a"),
])
def test_h264_answer_level(ours: Codec, theirs: Codec, expected: str) -> None:
    assert h264_answer_profile_level_id(ours, theirs) == expected


# --- intersection ---------------------------------------------------------------------------

OFFER = """v=0\r
o=- 1 1 IN IP4 0.0.0.0\r
s=-\r
t=0 0\r
m=video 9 UDP/TLS/RTP/SAVPF 100 101 102 103 104 105 106 107 108\r
a=rtpmap:100 VP9/90000\r
a=fmtp:100 profile-id=2\r
a=rtpmap:101 rtx/90000\r
a=fmtp:101 apt=100\r
a=rtpmap:102 H264/90000\r
a=fmtp:102 packetization-mode=1;profile-level-id=42e034;level-asymmetry-allowed=1\r
a=rtpmap:103 rtx/90000\r
a=fmtp:103 apt=102\r
a=rtpmap:104 VP8/90000\r
a=rtpmap:105 rtx/90000\r
a=fmtp:105 apt=104\r
a=rtpmap:106 red/90000\r
a=rtpmap:107 rtx/90000\r
a=fmtp:107 apt=106\r
a=rtpmap:108 flexfec-03/90000\r
a=rtcp-fb:* nack\r
a=rtcp-fb:104 goog-remb\r
a=rtcp-fb:104 x-unknown\r
"""


def offered_codecs() -> list[Codec]:
    return codecs_from_section(SessionDescription.parse(OFFER).media[0])


def test_codecs_from_section_reads_wildcard_feedback() -> None:
    codecs = offered_codecs()
    assert [c.payload_type for c in codecs] == [100, 101, 102, 103, 104, 105, 106, 107, 108]
    vp8 = codecs[4]
    assert vp8.rtcp_feedback == (("goog-remb", None), ("x-unknown", None), ("nack", None))
    assert codecs[0].rtcp_feedback == (("nack", None),)


def test_static_payload_types_without_rtpmap() -> None:
    text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 8 96\r\n"
    codecs = codecs_from_section(SessionDescription.parse(text).media[0])
    # 96 has no rtpmap: a dynamic type without one is not a usable format
    assert [(c.payload_type, c.name, c.clock_rate) for c in codecs] == [
        (0, "PCMU", 8000), (8, "PCMA", 8000)]


def test_intersection_uses_offer_order_and_pts_and_rtx_follows_apt() -> None:
    result = intersect_codecs(default_video_codecs(), offered_codecs())
    described = [(c.payload_type, c.name, c.param("apt")) for c in result]
    # VP9 profile 2 accepted (we have it), H.264 CB accepted, VP8, red; each rtx follows
    # its apt; flexfec-03 (not supported) dropped.
    assert described == [
        (100, "VP9", None), (101, "rtx", "100"), (102, "H264", None), (103, "rtx", "102"),
        (104, "VP8", None), (105, "rtx", "104"), (106, "red", None), (107, "rtx", "106")]
    h = result[2]
    assert h.param("profile-level-id") == "42e01f"   # our level: asymmetry allowed both ways
    assert h.param("packetization-mode") == "1"
    # rtcp-fb: only what both support
    vp8 = result[4]
    assert vp8.rtcp_feedback == (("goog-remb", None), ("nack", None))


def test_rtx_dropped_when_primary_not_accepted() -> None:
    only_vp8 = tuple(c for c in default_video_codecs()
                     if c.name == "VP8" or (c.is_rtx and c.apt == 96))
    result = intersect_codecs(only_vp8, offered_codecs())
    assert [(c.payload_type, c.name) for c in result] == [(104, "VP8"), (105, "rtx")]


def test_vp9_profile_mismatch_gives_nothing() -> None:
    ours = (Codec("video", "VP9", 90000, None, (("profile-id", "0"),), (), 98),)
    assert intersect_codecs(ours, offered_codecs()[:2]) == []


def test_red_follows_its_listed_payload_types() -> None:
    opus = Codec("audio", "opus", 48000, 2, (), (), 109)
    red = Codec("audio", "red", 48000, 2, (("109/109", None),), (), 63)
    pcmu = Codec("audio", "PCMU", 8000, None, (), (), 0)
    assert [c.name for c in intersect_codecs(default_audio_codecs(), [opus, red, pcmu])] == [
        "opus", "red", "PCMU"]
    assert intersect_codecs(default_audio_codecs(), [opus, red])[1].params == {"109/109": None}
    # red over a codec we did not accept is dropped
    g722 = Codec("audio", "G722", 8000, None, (), (), 9)
    red_g722 = Codec("audio", "red", 48000, 2, (("9/9", None),), (), 63)
    assert [c.name for c in intersect_codecs(default_audio_codecs(), [g722, red_g722, pcmu])] == [
        "PCMU"]


def test_assign_payload_types() -> None:
    codecs = assign_payload_types([Codec("audio", "opus", 48000, 2),
                                   Codec("audio", "PCMU", 8000, payload_type=0)])
    assert [c.payload_type for c in codecs] == [96, 0]
    with pytest.raises(ValueError, match="twice"):
        assign_payload_types([Codec("audio", "a", 8000, payload_type=96),
                              Codec("audio", "b", 8000, payload_type=96)])
    with pytest.raises(ValueError, match="refers to payload type 99"):
        assign_payload_types([Codec("video", "rtx", 90000, None, (("apt", "99"),), (), 97)])


def test_defaults_are_consistent() -> None:
    for kind in ("audio", "video"):
        codecs = default_codecs(kind)
        assert assign_payload_types(codecs) == codecs
    names = {(c.name, c.param("profile-level-id"), c.param("packetization-mode"))
             for c in default_video_codecs() if c.name == "H264"}
    assert {("H264", p, m) for p in ("42e01f", "42001f", "4d001f") for m in "01"} <= names
    with pytest.raises(ValueError):
        default_codecs("application")


def test_codec_lines() -> None:
    opus = default_audio_codecs()[0]
    assert opus.rtpmap().serialize() == "111 opus/48000/2"
    fmtp = opus.fmtp()
    assert fmtp is not None and fmtp.serialize() == "111 minptime=10;useinbandfec=1"
    assert [fb.serialize() for fb in opus.rtcp_fbs()] == ["111 transport-cc"]
    with pytest.raises(ValueError):
        Codec("audio", "x", 8000).rtpmap()
