"""The lossless SDP model: framing, typed attributes, editing that leaves other lines alone."""

from __future__ import annotations

import pytest

from rtcstack.sdp import (
    Bandwidth,
    Candidate,
    Connection,
    ExtMap,
    Fingerprint,
    Fmtp,
    Group,
    IceOptions,
    MediaLine,
    MediaSection,
    Msid,
    MsidSemantic,
    Origin,
    Rid,
    Rtcp,
    RtcpFb,
    RtpMap,
    SctpMap,
    SdpParseError,
    SessionDescription,
    Simulcast,
    SimulcastRid,
    Ssrc,
    SsrcGroup,
    parse_format_parameters,
)

LINES = [
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1 2",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS stream",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 0",
    "c=IN IP4 0.0.0.0",
    "b=AS:64",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=candidate:1467250027 1 udp 2122260223 192.168.0.196 46243 typ host generation 0"
    " network-id 1 network-cost 10",
    "a=candidate:2 1 tcp 1518280447 ::1 9 typ host tcptype active generation 0",
    "a=candidate:3 1 udp 1686052607 1.2.3.4 46243 typ srflx raddr 192.168.0.196 rport 46243",
    "a=candidate:4 1 udp 2122260223 0c1a4c34-1b3e-4f4b-8b5b-2a4d3f8c9e11.local 54321 typ host",
    "a=ice-ufrag:8hhY",
    "a=ice-pwd:asd88fgpdd777uzjYhagZg",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24"
    ":C2:43:F0:A1:58:D0:A1:2C:19:08",
    "a=setup:actpass",
    "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:2/recvonly http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=sendrecv",
    "a=msid:stream track",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2",
    "a=fmtp:63 111/111",
    "a=rtpmap:0 PCMU/8000",
    "a=ssrc:1001 cname:abc",
    "a=ssrc-group:FID 1001 1002",
    "a=x-unknown-attribute:kept as is ",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
    "c=IN IP4 0.0.0.0",
    "b=TIAS:1000000",
    "a=mid:1",
    "a=bundle-only",
    "a=rtcp-fb:* nack",
    "a=rtcp-fb:96 nack pli",
    "a=rid:q send pt=96;max-width=320;max-height=180",
    "a=rid:h send",
    "a=simulcast:send q;~h",
    "a=rtpmap:96 VP8/90000",
    "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=96",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "c=IN IP4 0.0.0.0",
    "a=mid:2",
    "a=sctp-port:5000",
    "a=max-message-size:262144",
    "y=an unknown line type is kept",
]
TEXT = "\r\n".join(LINES) + "\r\n"


@pytest.fixture
def sdp() -> SessionDescription:
    return SessionDescription.parse(TEXT)


def test_round_trip_is_byte_exact(sdp: SessionDescription) -> None:
    assert sdp.serialize() == TEXT
    assert str(sdp) == TEXT
    assert sdp.normalised == ()
    assert sdp.parse_errors() == []


def test_lf_input_is_normalised_and_says_so() -> None:
    lf = SessionDescription.parse(TEXT.replace("\r\n", "\n"))
    assert lf.serialize() == TEXT
    assert lf.normalised == ("LF line endings were written as CRLF",)
    mixed = SessionDescription.parse(TEXT.replace("\r\n", "\n", 3))
    assert mixed.serialize() == TEXT
    assert mixed.normalised == ("mixed CRLF/LF line endings were written as CRLF",)
    unterminated = SessionDescription.parse(TEXT[:-2])
    assert unterminated.serialize() == TEXT
    assert unterminated.normalised == ("a line ending was added after the last line",)


def test_sections_and_session_fields(sdp: SessionDescription) -> None:
    assert [m.kind for m in sdp.media] == ["audio", "video", "application"]
    assert [m.mid for m in sdp.media] == ["0", "1", "2"]
    assert sdp.origin == Origin("-", 4611731400430051336, 2, "IN", "IP4", "127.0.0.1")
    assert sdp.session_name == "-"
    assert sdp.timing is not None and (sdp.timing.start, sdp.timing.stop) == (0, 0)
    assert sdp.bundle_groups() == [("0", "1", "2")]
    assert sdp.groups == [Group("BUNDLE", ("0", "1", "2"))]
    assert sdp.extmap_allow_mixed and not sdp.ice_lite
    assert sdp.session.first(MsidSemantic) == MsidSemantic("WMS", ("stream",))
    assert sdp.section("1") is sdp.media[1] and sdp.section("9") is None
    # line numbers are those of the text as parsed
    assert sdp.media[0].first_line == LINES.index("m=audio 9 UDP/TLS/RTP/SAVPF 111 63 0") + 1


def test_media_line_and_connection(sdp: SessionDescription) -> None:
    audio, video, data = sdp.media
    assert audio.media == MediaLine("audio", 9, "UDP/TLS/RTP/SAVPF", ("111", "63", "0"))
    assert audio.media.payload_types == (111, 63, 0) and audio.media.is_rtp
    assert data.media.is_sctp and data.formats == ("webrtc-datachannel",)
    assert audio.connection == Connection("IN", "IP4", "0.0.0.0")
    assert audio.bandwidth("AS") == 64 and video.bandwidth("TIAS") == 1_000_000
    assert video.bandwidths == [Bandwidth("TIAS", 1_000_000)]
    assert not audio.rejected
    assert sdp.connection_for(audio) == Connection("IN", "IP4", "0.0.0.0")


def test_codecs_feedback_and_extensions(sdp: SessionDescription) -> None:
    audio, video, _ = sdp.media
    assert audio.rtpmaps[111] == RtpMap(111, "opus", 48000, 2)
    assert audio.rtpmaps[0] == RtpMap(0, "PCMU", 8000)
    assert audio.fmtps[111].params == {"minptime": "10", "useinbandfec": "1"}
    assert audio.fmtps[63].params == {"111/111": None}
    assert video.fmtps[97] == Fmtp(97, "apt=96")
    assert audio.rtcp_fbs == [RtcpFb(111, "transport-cc")]
    assert video.rtcp_fbs == [RtcpFb(None, "nack"), RtcpFb(96, "nack", "pli")]
    assert audio.extmaps == [
        ExtMap(1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
        ExtMap(2, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", "recvonly"),
    ]
    assert audio.get(Ssrc) == [Ssrc(1001, "cname", "abc")]
    assert audio.get(SsrcGroup) == [SsrcGroup("FID", (1001, 1002))]
    assert audio.first(Msid) == Msid("stream", "track")
    assert audio.first(Rtcp) == Rtcp(9, "IN", "IP4", "0.0.0.0")
    assert audio.rtcp_mux and audio.has("rtcp-rsize") and video.bundle_only


def test_candidates(sdp: SessionDescription) -> None:
    host, tcp, srflx, mdns = sdp.media[0].candidates
    assert (host.foundation, host.component, host.transport, host.priority) == (
        "1467250027", 1, "udp", 2122260223)
    assert (host.address, host.port, host.type) == ("192.168.0.196", 46243, "host")
    assert (host.generation, host.network_id, host.network_cost) == (0, 1, 10)
    assert tcp.tcptype == "active" and tcp.address == "::1" and not tcp.is_udp
    assert (srflx.related_address, srflx.related_port) == ("192.168.0.196", 46243)
    assert srflx.extensions == () and srflx.ufrag is None
    assert mdns.is_mdns and not host.is_mdns
    for candidate in (host, tcp, srflx, mdns):
        assert Candidate.parse(candidate.serialize()) == candidate
        assert Candidate.from_ice_string(candidate.to_ice_string()) == candidate


def test_ice_dtls_and_fallbacks(sdp: SessionDescription) -> None:
    audio, video, _ = sdp.media
    assert sdp.ice_credentials(audio) == ("8hhY", "asd88fgpdd777uzjYhagZg")
    assert sdp.ice_credentials(video) == (None, None)
    assert audio.ice_options == ("trickle",)
    (fingerprint,) = audio.fingerprints
    assert fingerprint.algorithm == "sha-256" and len(fingerprint.digest) == 32
    assert fingerprint.matches(fingerprint.digest, "SHA-256")
    assert Fingerprint.from_digest("sha-256", fingerprint.digest) == fingerprint
    assert sdp.setup_for(audio) == "actpass" and sdp.setup_for(video) is None
    assert sdp.direction_for(audio) == "sendrecv" and audio.direction == "sendrecv"
    assert video.direction is None and sdp.direction_for(video) == "sendrecv"
    sdp.session.add(IceOptions(("ice2",)))
    assert sdp.ice_options_for(video) == ("ice2",) and sdp.ice_options_for(audio) == ("trickle",)


def test_rid_and_simulcast(sdp: SessionDescription) -> None:
    video = sdp.media[1]
    assert video.get(Rid) == [
        Rid("q", "send", (96,), (("max-width", "320"), ("max-height", "180"))),
        Rid("h", "send"),
    ]
    simulcast = video.first(Simulcast)
    assert simulcast == Simulcast(send=((SimulcastRid("q"),), (SimulcastRid("h", True),)))
    assert simulcast.reversed().serialize() == "recv q;~h"


def test_data_channel_section(sdp: SessionDescription) -> None:
    data = sdp.media[2]
    assert data.attribute("sctp-port") == "5000"
    assert data.attribute("max-message-size") == "262144"
    old = SctpMap.parse("5000 webrtc-datachannel 1024")
    assert old == SctpMap(5000, "webrtc-datachannel", 1024) and old.serialize() == (
        "5000 webrtc-datachannel 1024")


def test_editing_rewrites_only_what_it_touches(sdp: SessionDescription) -> None:
    audio = sdp.media[0]
    audio.direction = "recvonly"
    audio.set(Msid("other", "t2"))
    audio.remove(Candidate, where=lambda c: c.type == "srflx")
    audio.add(RtpMap(8, "PCMA", 8000))
    audio.set_flag("rtcp-rsize", False)
    audio.set_flag("end-of-candidates")
    expected = list(LINES)
    expected[expected.index("a=sendrecv")] = "a=recvonly"
    expected[expected.index("a=msid:stream track")] = "a=msid:other t2"
    expected.remove("a=candidate:3 1 udp 1686052607 1.2.3.4 46243 typ srflx raddr 192.168.0.196"
                    " rport 46243")
    expected.insert(expected.index("a=rtpmap:0 PCMU/8000") + 1, "a=rtpmap:8 PCMA/8000")
    expected.remove("a=rtcp-rsize")
    expected.insert(expected.index("m=video 9 UDP/TLS/RTP/SAVPF 96 97"), "a=end-of-candidates")
    assert sdp.serialize() == "\r\n".join(expected) + "\r\n"
    sdp.media[1].media = MediaLine("video", 0, "UDP/TLS/RTP/SAVPF", ("96",))
    assert sdp.media[1].rejected


def test_copy_is_independent(sdp: SessionDescription) -> None:
    other = sdp.copy()
    assert other == sdp
    other.media[0].mid = "audio"
    assert sdp.media[0].mid == "0" and other != sdp


def test_new_description_and_media() -> None:
    sdp = SessionDescription.new(Origin("-", 1, 1))
    section = MediaSection.new(MediaLine("audio", 9, "UDP/TLS/RTP/SAVPF", ("111",)))
    section.mid = "a"
    section.add(RtpMap(111, "opus", 48000, 2))
    sdp.media.append(section)
    sdp.origin = Origin("-", 1, 2)
    assert sdp.serialize() == (
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\na=rtpmap:111 opus/48000/2\r\n")
    assert SessionDescription.parse(sdp.serialize()) == sdp


def test_describe_types_every_known_line(sdp: SessionDescription) -> None:
    model = sdp.describe()
    origin = model["session"][1]
    assert origin["fields"]["session_id"] == 4611731400430051336
    rtpmap = next(e for e in model["media"][0] if e.get("name") == "rtpmap")
    assert rtpmap["fields"] == {"payload_type": 111, "encoding": "opus", "clock_rate": 48000,
                                "channels": 2}
    unknown = next(e for e in model["media"][0] if e.get("name") == "x-unknown-attribute")
    assert unknown["value"] == "kept as is " and "fields" not in unknown
    assert model["media"][2][-1] == {"line": len(LINES), "type": "y",
                                     "value": "an unknown line type is kept"}


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", 1, "empty"),
        ("v=1\r\n", 1, "v=0"),
        ("x\r\n", 1, "v=0"),
        ("v=0\r\no=- 1 1 IN IP4 ::1\r\n\r\ns=-\r\n", 3, "empty line"),
        ("v=0\r\nbad line\r\n", 2, "<letter>=<value>"),
        ("v=0\r\nA=upper case type\r\n", 2, "<letter>=<value>"),
        ("v=0\r\ns=a\rb\r\n", 2, "CR"),
        ("v=0\r\ns=a\x00b\r\n", 2, "NUL"),
        ("v=0\r\nm=audio\r\n", 2, "m="),
        ("v=0\r\nm=audio 99999 RTP/AVP 0\r\n", 2, "port"),
        ("v=0\r\nm=audio x RTP/AVP 0\r\n", 2, "port"),
    ],
)
def test_broken_framing_names_the_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(SdpParseError) as caught:
        SessionDescription.parse(text)
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"line {line}: ")


def test_bad_attribute_values_are_kept_and_reported_with_their_line() -> None:
    text = TEXT.replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:zero PCMU/8000")
    sdp = SessionDescription.parse(text)
    assert sdp.serialize() == text
    line = LINES.index("a=rtpmap:0 PCMU/8000") + 1
    with pytest.raises(SdpParseError) as caught:
        _ = sdp.media[0].rtpmaps
    assert caught.value.line == line and "payload type" in caught.value.reason
    (error,) = sdp.parse_errors()
    assert error.line == line


@pytest.mark.parametrize(
    ("cls", "text"),
    [
        (RtpMap, "96 VP8"), (RtpMap, "300 VP8/90000"), (Fmtp, "96"), (RtcpFb, "96"),
        (ExtMap, "0 urn:x"), (ExtMap, "300 urn:x"), (ExtMap, "1/sideways urn:x"),
        (Candidate, "1 1 udp 1 1.2.3.4 5 host"), (Candidate, "1 1 udp 1 1.2.3.4 5 typ host x"),
        (Candidate, "1 0 udp 1 1.2.3.4 5 typ host"), (Candidate, "f* 1 udp 1 h 5 typ host"),
        (Fingerprint, "sha-256 AB:C"), (Fingerprint, "sha-256 ZZ:00"), (Rid, "a sideways"),
        (Rid, "a send max-width=1;pt=96"), (Simulcast, "send"), (Simulcast, "send a send b"),
        (Ssrc, "x cname:a"), (SsrcGroup, "FID"), (Rtcp, "9 IN IP4"), (Msid, "a b c"),
        (Origin, "- 1 1 IN IP4"), (Bandwidth, "AS"), (MediaLine, "audio 9"),
    ],
)
def test_attribute_grammar_errors(cls: type, text: str) -> None:
    with pytest.raises(SdpParseError):
        cls.parse(text)


def test_format_parameters_tolerate_spaces() -> None:
    assert parse_format_parameters("a=1; b=2 ;c") == {"a": "1", "b": "2", "c": None}


def test_direct_edits_of_lines_are_seen_by_the_typed_views(sdp: SessionDescription) -> None:
    audio = sdp.media[0]
    assert audio.mid == "0" and len(audio.rtpmaps) == 3  # builds and caches the index
    position = audio.lines.index("a=mid:0")
    audio.lines[position] = "a=mid:edited"
    assert audio.mid == "edited"
    audio.lines.append("a=rtpmap:8 PCMA/8000")
    assert audio.rtpmaps[8] == RtpMap(8, "PCMA", 8000)
    del audio.lines[position]
    assert audio.mid is None
    audio.lines = ["m=audio 0 RTP/AVP 0", "a=mid:new"]
    assert audio.mid == "new" and audio.rejected and audio.rtpmaps == {}


def test_attributes_added_in_the_middle_keep_the_index_and_derived_values_fresh(
        sdp: SessionDescription) -> None:
    from rtcstack.sdp.codecs import codecs_from_section

    audio = sdp.media[0]
    before = [c.payload_type for c in codecs_from_section(audio)]
    assert audio.media.port != 0 and audio.mid == "0"  # index, m= line and codecs cached
    # a=rtpmap goes after the other rtpmap lines, in the middle: every later line shifts
    audio.media = MediaLine("audio", 9, "UDP/TLS/RTP/SAVPF", (*audio.media.formats, "8"))
    audio.add(RtpMap(8, "PCMA", 8000))
    audio.add_attribute("x-flag")
    audio.add_attribute("mid", "second")
    fresh = MediaSection(list(audio.lines))  # indexed from scratch
    for name in {line[2:].partition(":")[0] for line in audio.lines if line.startswith("a=")}:
        assert audio._find(name) == fresh._find(name), name
    assert audio.attribute_values("mid") == ["0", "second"] and audio.has("x-flag")
    assert [c.payload_type for c in codecs_from_section(audio)] == [*before, 8]
    assert audio.media.port == 9 and audio.rtpmaps[8] == RtpMap(8, "PCMA", 8000)
    audio.lines[0] = "m=audio 0 UDP/TLS/RTP/SAVPF 8"
    assert audio.rejected and [c.name for c in codecs_from_section(audio)] == ["PCMA"]


def test_compact_forgets_the_caches_and_the_views_still_read_right(
        sdp: SessionDescription) -> None:
    from rtcstack.sdp.codecs import codecs_from_section

    audio = sdp.media[0]
    codecs, mid, rtpmaps = codecs_from_section(audio), audio.mid, audio.rtpmaps
    sdp.compact()
    assert audio._index == {} and audio._typed == {} and audio._derived == {}
    assert codecs_from_section(audio) == codecs and audio.mid == mid
    assert audio.rtpmaps == rtpmaps and sdp.serialize() == TEXT
    sdp.compact()
    audio.add_attribute("mid", "again")  # an edit right after compact() re-indexes correctly
    assert audio.attribute_values("mid") == [mid, "again"]
