"""JSEP offer/answer (RFC 9429 §5, RFC 3264): create_offer, create_answer, negotiate."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from rtcstack.common.randomness import SeededRandom
from rtcstack.sdp import (
    Candidate,
    Fingerprint,
    NegotiationError,
    Rid,
    SessionDescription,
    Simulcast,
)
from rtcstack.sdp.codecs import Codec, codecs_from_section
from rtcstack.sdp.jsep import (
    DataChannelSpec,
    DtlsParameters,
    IceParameters,
    LocalSpec,
    TransceiverSpec,
    apply_answer,
    create_answer,
    create_offer,
    negotiate,
    plan_answer,
    reverse_direction,
)
from rtcstack.vectors import load

FP_A = (Fingerprint.from_digest("sha-256", bytes(range(32))),)
FP_B = (Fingerprint.from_digest("sha-256", bytes(range(32, 64))),)


def spec(seed: int, fp: tuple[Fingerprint, ...] = FP_A, **kwargs: object) -> LocalSpec:
    rng = SeededRandom(seed)
    defaults = {"kinds": ("audio", "video"), "data_channel": True, "bundle_policy": "max-bundle"}
    defaults.update(kwargs)
    return LocalSpec.default(ice=IceParameters.generate(rng), dtls=DtlsParameters(fp),
                             random_bytes=rng, **defaults)  # type: ignore[arg-type]


def roundtrip(description: SessionDescription) -> SessionDescription:
    text = description.serialize()
    parsed = SessionDescription.parse(text)
    assert parsed.serialize() == text
    assert parsed.parse_errors() == []
    return parsed


# --- round trip -------------------------------------------------------------------------------


def test_offer_answer_apply_audio_video_data() -> None:
    alice, bob = spec(1), spec(2, FP_B)
    offer = roundtrip(create_offer(alice))
    answer = roundtrip(create_answer(offer, bob))
    assert [s.kind for s in offer.media] == ["audio", "video", "application"]
    assert [s.mid for s in answer.media] == [s.mid for s in offer.media] == ["0", "1", "2"]
    assert answer.bundle_groups() == [("0", "1", "2")]
    assert not any(s.bundle_only for s in answer.media)
    assert all(s.setup == "active" for s in answer.media)
    assert all(s.ice_ufrag == bob.ice.ufrag for s in answer.media)
    for side in (apply_answer(offer, answer), negotiate(answer, offer, local_is_offerer=False)):
        assert [s.rejected for s in side.sections] == [False, False, False]
        assert [s.direction for s in side.sections] == ["sendrecv"] * 3
        assert all(s.transport_mid == "0" for s in side.sections)
        assert len(side.transports) == 1
        audio, video, data = side.sections
        assert audio.send_codecs[0].name == "opus" and audio.send_codecs[0].payload_type == 111
        assert [c.payload_type for c in audio.send_codecs] == [
            c.payload_type for c in audio.receive_codecs]
        assert ("nack", "pli") in video.send_codecs[0].rtcp_feedback
        assert audio.rtcp_mux and audio.rtcp_rsize
        assert {e.uri for e in audio.header_extensions} >= {
            "urn:ietf:params:rtp-hdrext:sdes:mid"}
        assert data.sctp_port == data.remote_sctp_port == 5000
        assert data.max_message_size == 262144
        assert video.remote_ssrc_groups and video.remote_ssrc_groups[0].semantics == "FID"
    offerer = apply_answer(offer, answer)
    answerer = negotiate(answer, offer, local_is_offerer=False)
    assert offerer.transports[0].ice_ufrag == bob.ice.ufrag
    assert answerer.transports[0].ice_ufrag == alice.ice.ufrag
    assert answerer.transports[0].fingerprints == FP_A
    assert (offerer.dtls_role, answerer.dtls_role) == ("server", "client")
    assert (offerer.ice_controlling, answerer.ice_controlling) == (True, False)
    assert offerer.sections[1].remote_msids[0] == bob.transceivers[1].msid


def test_offer_follows_jsep_initial_offer_rules() -> None:
    alice = spec(1)
    offer = create_offer(alice)
    text = offer.serialize()
    assert text.startswith("v=0\r\no=- ")
    assert offer.origin.session_id == alice.session_id and offer.origin.session_version == 1
    audio, video, data = offer.media
    # §5.2.1: first section carries the transport; max-bundle marks the others bundle-only
    assert (audio.port, video.port, data.port) == (9, 0, 0)
    assert (audio.bundle_only, video.bundle_only, data.bundle_only) == (False, True, True)
    # ... and, against §5.2.1 (for Firefox and Chromium, see the module docstring), repeats the
    # ICE and DTLS attributes there, without candidates
    assert video.ice_ufrag == audio.ice_ufrag and video.fingerprints == audio.fingerprints
    assert not video.candidates and not data.candidates
    assert audio.setup == "actpass" and audio.attribute("rtcp") == "9 IN IP4 0.0.0.0"
    assert audio.has("rtcp-mux-only")
    assert audio.connection is not None and audio.connection.address == "0.0.0.0"
    assert data.protocol == "UDP/DTLS/SCTP" and data.formats == ("webrtc-datachannel",)
    # one id per extension URI across the description (RFC 8285, shared RTP session)
    ids: dict[str, int] = {}
    for section in (audio, video):
        for ext in section.extmaps:
            assert ids.setdefault(ext.uri, ext.id) == ext.id
            assert 1 <= ext.id <= 14
    assert len(set(ids.values())) == len(ids)


def test_balanced_and_max_compat_bundle_only() -> None:
    alice = spec(1)
    two_audio = replace(alice, transceivers=(alice.transceivers[0],
                                             TransceiverSpec("audio"), alice.transceivers[1]))
    balanced = create_offer(replace(two_audio, bundle_policy="balanced"))
    assert [s.bundle_only for s in balanced.media] == [False, True, False, False]
    compat = create_offer(replace(two_audio, bundle_policy="max-compat"))
    assert not any(s.bundle_only for s in compat.media)
    assert all(s.ice_ufrag for s in compat.media)
    with pytest.raises(ValueError, match="bundle_policy"):
        create_offer(replace(alice, bundle_policy="must-bundle"))


def test_candidates_and_end_of_candidates() -> None:
    cand = Candidate.parse("1 1 udp 2113937151 192.0.2.7 50000 typ host")
    mdns = Candidate.parse("2 1 udp 2113937151 0d5b6e6a-aaaa.local 50001 typ host")
    alice = replace(spec(1), candidates=(mdns, cand), end_of_candidates=True)
    offer = roundtrip(create_offer(alice))
    first = offer.media[0]
    assert first.candidates == [mdns, cand] and first.end_of_candidates
    assert first.port == 50000 and first.connection is not None
    assert first.connection.address == "192.0.2.7"        # default candidate, not mDNS
    assert offer.media[1].candidates == []                 # bundle-only: none
    answer = create_answer(offer, spec(2, FP_B))
    n = negotiate(answer, offer, local_is_offerer=False)
    assert n.transports[0].candidates == (mdns, cand) and n.transports[0].end_of_candidates
    assert n.sections[2].remote_candidates == (mdns, cand)


# --- directions (RFC 3264 §6.1) --------------------------------------------------------------


@pytest.mark.parametrize(("offered", "local", "answered", "offerer_view"), [
    ("sendrecv", "sendrecv", "sendrecv", "sendrecv"),
    ("sendonly", "sendrecv", "recvonly", "sendonly"),
    ("recvonly", "sendrecv", "sendonly", "recvonly"),
    ("sendrecv", "recvonly", "recvonly", "sendonly"),
    ("sendrecv", "sendonly", "sendonly", "recvonly"),
    ("sendonly", "sendonly", "inactive", "inactive"),
    ("inactive", "sendrecv", "inactive", "inactive"),
])
def test_direction_negotiation(offered: str, local: str, answered: str,
                               offerer_view: str) -> None:
    alice = spec(1, kinds=("audio",), data_channel=False, direction=offered)
    bob = spec(2, FP_B, kinds=("audio",), data_channel=False, direction=local)
    offer = create_offer(alice)
    answer = create_answer(offer, bob)
    assert answer.media[0].direction == answered
    assert apply_answer(offer, answer).sections[0].direction == offerer_view
    has_sender = answered in ("sendrecv", "sendonly")
    assert bool(answer.media[0].get(Rid) or answer.media[0].attribute("msid")) is has_sender
    assert reverse_direction(reverse_direction(offered)) == offered


def test_answer_direction_not_allowed_is_an_error() -> None:
    alice = spec(1, kinds=("audio",), data_channel=False, direction="sendonly")
    offer = create_offer(alice)
    answer = create_answer(offer, spec(2, FP_B, kinds=("audio",), data_channel=False))
    answer.media[0].direction = "sendrecv"
    with pytest.raises(NegotiationError, match=r"m-section 0 mid '0'.*sendrecv.*sendonly"):
        apply_answer(offer, answer)


# --- DTLS roles (RFC 8842) -------------------------------------------------------------------


@pytest.mark.parametrize(("offered", "preference", "answered", "answerer_role"), [
    ("actpass", "actpass", "active", "client"),
    ("actpass", "passive", "passive", "server"),
    ("active", "actpass", "passive", "server"),
    ("active", "active", "passive", "server"),   # the offer decides
    ("passive", "actpass", "active", "client"),
])
def test_setup_role_table(offered: str, preference: str, answered: str,
                          answerer_role: str) -> None:
    alice = spec(1, kinds=("audio",))
    offer = create_offer(replace(alice, dtls=DtlsParameters(FP_A, offered)))
    bob = spec(2, FP_B, kinds=("audio",))
    answer = create_answer(offer, replace(bob, dtls=DtlsParameters(FP_B, preference)))
    assert {s.setup for s in answer.media} == {answered}
    answerer = negotiate(answer, offer, local_is_offerer=False)
    offerer = apply_answer(offer, answer)
    assert answerer.dtls_role == answerer_role
    assert offerer.dtls_role == {"client": "server", "server": "client"}[answerer_role]


def test_answer_with_actpass_is_an_error() -> None:
    offer = create_offer(spec(1, kinds=("audio",)))
    answer = create_answer(offer, spec(2, FP_B, kinds=("audio",)))
    answer.media[0].set_attribute("setup", "actpass")
    with pytest.raises(NegotiationError, match="MUST NOT use the actpass"):
        apply_answer(offer, answer)


def test_answer_with_same_role_is_an_error() -> None:
    offer = create_offer(replace(spec(1, kinds=("audio",)), dtls=DtlsParameters(FP_A, "active")))
    answer = create_answer(offer, spec(2, FP_B, kinds=("audio",)))
    answer.media[0].set_attribute("setup", "active")
    answer.media[1].set_attribute("setup", "active")
    with pytest.raises(NegotiationError, match="both sides say a=setup:active"):
        apply_answer(offer, answer)


# --- rejection (port 0) ----------------------------------------------------------------------

BASE = """v=0\r
o=- 1 1 IN IP4 0.0.0.0\r
s=-\r
t=0 0\r
a=group:BUNDLE a v\r
a=ice-ufrag:abcd\r
a=ice-pwd:abcdefghijklmnopqrstuvwx\r
a=fingerprint:sha-256 {fp}\r
a=setup:actpass\r
"""


def offer_text(*sections: str) -> SessionDescription:
    return SessionDescription.parse(BASE.format(fp=FP_A[0].value) + "".join(sections))


AUDIO = ("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:a\r\na=rtcp-mux\r\n"
         "a=rtpmap:111 opus/48000/2\r\n")


@pytest.mark.parametrize(("section", "reason"), [
    ("m=text 9 UDP/TLS/RTP/SAVPF 98\r\na=mid:t\r\na=rtpmap:98 t140/1000\r\n",
     "media kind 'text' is not supported"),
    ("m=video 9 UDP/TLS/RTP/SAVPF 98\r\na=mid:v\r\na=rtcp-mux\r\na=rtpmap:98 VP9/90000\r\n"
     "a=fmtp:98 profile-id=1\r\n", "no common codec"),
    ("m=video 9 RTP/AVP 96\r\na=mid:v\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n",
     "is not DTLS-SRTP"),
    ("m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:v\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n",
     "the offer disabled the section"),
    ("m=application 9 UDP/SCTP webrtc-datachannel\r\na=mid:v\r\n", "is not DTLS/SCTP"),
])
def test_rejection_reasons(section: str, reason: str) -> None:
    offer = offer_text(AUDIO, section)
    bob = spec(2, FP_B)
    plan = plan_answer(offer, bob)
    assert plan.sections[0].accepted
    assert plan.sections[1].reason is not None and reason in plan.sections[1].reason
    answer = roundtrip(create_answer(offer, bob))
    assert answer.media[0].port == 9 and answer.media[1].port == 0
    assert answer.media[1].mid == offer.media[1].mid
    assert answer.bundle_groups() == [("a",)]       # rejected sections leave the group
    n = apply_answer(offer, answer)
    assert [s.rejected for s in n.sections] == [False, True]
    if "disabled" not in reason:
        with pytest.raises(NegotiationError, match=re.escape(reason)) as info:
            create_answer(offer, bob, strict=True)
        assert info.value.index == 1


def test_rtcp_mux_required() -> None:
    offer = offer_text(AUDIO.replace("a=rtcp-mux\r\n", ""))
    plan = plan_answer(offer, spec(2, FP_B))
    assert plan.sections[0].reason is not None and "RFC 8858" in plan.sections[0].reason
    accepted = plan_answer(offer, replace(spec(2, FP_B), rtcp_mux_policy="negotiate"))
    assert accepted.sections[0].accepted
    answer = create_answer(offer, replace(spec(2, FP_B), rtcp_mux_policy="negotiate"))
    assert not answer.media[0].rtcp_mux and answer.media[0].attribute("rtcp") == "9 IN IP4 0.0.0.0"


def test_missing_ice_or_fingerprint_rejects() -> None:
    no_fp = SessionDescription.parse(offer_text(AUDIO).serialize().replace(
        f"a=fingerprint:sha-256 {FP_A[0].value}\r\n", ""))
    assert "fingerprint" in (plan_answer(no_fp, spec(2)).sections[0].reason or "")
    no_ice = SessionDescription.parse(offer_text(AUDIO).serialize().replace(
        "a=ice-ufrag:abcd\r\n", ""))
    assert "ice-ufrag" in (plan_answer(no_ice, spec(2)).sections[0].reason or "")


def test_vp9_profile_mismatch_rejected_and_h264_level_answered() -> None:
    video = ("m=video 9 UDP/TLS/RTP/SAVPF 98 102 103\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\n"
             "a=rtcp-mux\r\na=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=1\r\n"
             "a=rtpmap:102 H264/90000\r\n"
             "a=fmtp:102 packetization-mode=1;profile-level-id=42c034\r\n"
             "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n")
    offer = offer_text(AUDIO, video)
    answer = create_answer(offer, spec(2, FP_B))
    section = answer.media[1]
    assert section.formats == ("102", "103")          # VP9 profile 1 not answered
    # no level-asymmetry-allowed in the offer: the lower level (ours, 3.1), offered form kept
    assert section.fmtps[102].params["profile-level-id"] == "42c01f"
    assert section.fmtps[103].params == {"apt": "102"}


def test_answer_codec_checks() -> None:
    offer = create_offer(spec(1, kinds=("audio",), data_channel=False))
    good = create_answer(offer, spec(2, FP_B, kinds=("audio",), data_channel=False))
    bad = good.copy()
    bad.media[0].lines = [line.replace("opus/48000/2", "G722/8000") for line in
                          bad.media[0].lines]
    with pytest.raises(NegotiationError, match="maps payload type 111 to G722"):
        apply_answer(offer, bad)
    extra = good.copy()
    extra.media[0].media = replace(extra.media[0].media,
                                   formats=(*extra.media[0].formats, "120"))
    extra.media[0].add_attribute("rtpmap", "120 AMR/8000")
    with pytest.raises(NegotiationError, match="AMR/8000 was not offered"):
        apply_answer(offer, extra)


def test_answer_structure_checks() -> None:
    offer = create_offer(spec(1))
    answer = create_answer(offer, spec(2, FP_B))
    more = answer.copy()
    more.media.append(answer.media[0])
    with pytest.raises(NegotiationError, match="has 4 m-sections but the offer has 3"):
        apply_answer(offer, more)
    renamed = answer.copy()
    renamed.media[1].mid = "x"
    with pytest.raises(NegotiationError, match="does not echo the offered mid"):
        apply_answer(offer, renamed)
    stray = answer.copy()
    stray.media[0].remove("extmap")
    stray.media[0].add_attribute("extmap", "9 urn:example:not-offered")
    with pytest.raises(NegotiationError, match="extmap 9"):
        apply_answer(offer, stray)
    unbundled = answer.copy()
    unbundled.session.remove("group")
    with pytest.raises(NegotiationError, match="bundle-only section was accepted outside"):
        apply_answer(offer, unbundled)
    no_mux = answer.copy()
    for s in no_mux.media:
        s.set_flag("rtcp-mux", False)
    with pytest.raises(NegotiationError, match="requires rtcp-mux"):
        apply_answer(offer, no_mux)


# --- BUNDLE ----------------------------------------------------------------------------------


def test_bundle_only_sections_answered_in_group() -> None:
    offer = create_offer(spec(1))
    assert offer.media[1].bundle_only and offer.media[1].port == 0
    bob = replace(spec(2, FP_B), data_channel=None)     # we cannot take the data section
    answer = roundtrip(create_answer(offer, bob))
    assert [s.port for s in answer.media] == [9, 9, 0]
    assert answer.bundle_groups() == [("0", "1")]
    n = apply_answer(offer, answer)
    assert n.section("1") is not None and n.section("1").transport_mid == "0"  # type: ignore[union-attr]
    assert n.transport_for("1") == n.transport_for("0")
    assert n.section("2").rejected  # type: ignore[union-attr]


def test_tagged_section_rejected_moves_tag() -> None:
    # RFC 9143 §7.3.1: the answerer picks the next mid when it rejects the first one.
    video = ("m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\na=rtcp-mux\r\n"
             "a=rtpmap:96 VP8/90000\r\n")
    offer = offer_text(AUDIO.replace("opus/48000/2", "AMR/8000"), video)
    answer = create_answer(offer, spec(2, FP_B))
    assert [s.port for s in answer.media] == [0, 9]
    assert answer.bundle_groups() == [("v",)]
    assert apply_answer(offer, answer).sections[1].transport_mid == "v"


def test_bundle_only_rejected_when_group_fails() -> None:
    bundle_only_video = ("m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\n"
                         "a=bundle-only\r\na=rtpmap:96 VP8/90000\r\n")
    offer = offer_text(AUDIO.replace("opus/48000/2", "AMR/8000"), bundle_only_video)
    plan = plan_answer(offer, spec(2, FP_B))
    assert "bundle-only" in (plan.sections[1].reason or "")
    assert plan.bundle == ()


def test_max_bundle_answerer_rejects_unbundled_sections() -> None:
    video = ("m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\na=rtcp-mux\r\n"
             "a=rtpmap:96 VP8/90000\r\n")
    offer = SessionDescription.parse(offer_text(AUDIO, video).serialize().replace(
        "a=group:BUNDLE a v\r\n", ""))
    plan = plan_answer(offer, spec(2, FP_B))
    assert plan.sections[0].accepted and "bundle policy max-bundle" in (
        plan.sections[1].reason or "")
    compat = plan_answer(offer, replace(spec(2, FP_B), bundle_policy="max-compat"))
    assert all(s.accepted for s in compat.sections)
    answer = create_answer(offer, replace(spec(2, FP_B), bundle_policy="max-compat"))
    n = apply_answer(offer, answer)
    assert [s.transport_mid for s in n.sections] == ["a", "v"] and len(n.transports) == 2


# --- simulcast (RFC 8853 §5.3) ---------------------------------------------------------------


def test_simulcast_answer_mirrors_rids_and_paused() -> None:
    alice = spec(1, kinds=("video",), data_channel=False)
    alice = replace(alice, transceivers=(replace(alice.transceivers[0],
                                                 send_rids=("h", "m", "l")),))
    offer = create_offer(alice)
    section = offer.media[0]
    assert [r.id for r in section.get(Rid)] == ["h", "m", "l"]
    assert section.first(Simulcast) == Simulcast.parse("send h;m;l")
    assert section.attribute("ssrc") is None
    # pause "m" in the offer, restrict "l" to a format, as a browser could
    section.set_attribute("simulcast", "send h;~m;l")
    section.remove(Rid, lambda r: r.id == "l")
    section.add(Rid("l", "send", (96,), (("max-width", "320"),)))
    answer = roundtrip(create_answer(offer, spec(2, FP_B, kinds=("video",),
                                                 data_channel=False)))
    a = answer.media[0]
    assert a.first(Simulcast) == Simulcast.parse("recv h;~m;l")
    assert [(r.id, r.direction, r.payload_types) for r in a.get(Rid)] == [
        ("h", "recv", ()), ("m", "recv", ()), ("l", "recv", (96,))]
    assert a.get(Rid)[2].restrictions == (("max-width", "320"),)
    n = apply_answer(offer, answer)
    assert [(r.rid, r.paused) for r in n.sections[0].send_rids] == [
        ("h", False), ("m", True), ("l", False)]
    assert negotiate(answer, offer, local_is_offerer=False).sections[0].receive_rids == (
        n.sections[0].send_rids)


def test_rfc9429_offer_b2_simulcast() -> None:
    offer = SessionDescription.parse(OFFER_B2)
    answer = roundtrip(create_answer(offer, spec(3, FP_B, kinds=("audio",))))
    v1 = answer.media[2]
    assert v1.mid == "v1" and v1.port == 9
    assert v1.first(Simulcast) == Simulcast.parse("recv 1;2;3")
    assert [r.serialize() for r in v1.get(Rid)] == ["1 recv", "2 recv", "3 recv"]
    assert v1.direction == "recvonly"       # no local video transceiver: recvonly, like §7.2
    assert answer.media[3].first(Simulcast) is None
    assert [s.mid for s in answer.media] == ["a1", "d1", "v1", "v2"]
    # offer-B2 says a=setup:actpass again; flexfec-03 is not supported and is dropped
    assert "104" not in v1.formats
    n = negotiate(answer, offer, local_is_offerer=False)
    assert [r.rid for r in n.sections[2].receive_rids] == ["1", "2", "3"]


# --- subsequent offers (RFC 9429 §5.2.2) ------------------------------------------------------


def test_ice_restart_keeps_mids_and_changes_credentials() -> None:
    alice, bob = spec(1), spec(2, FP_B)
    offer = create_offer(alice)
    answer = create_answer(offer, bob)
    again = create_offer(alice, previous_local=offer, previous_remote=answer)
    assert again.origin.session_id == offer.origin.session_id
    assert again.origin.session_version == offer.origin.session_version + 1
    assert again.media[0].ice_ufrag == alice.ice.ufrag
    with pytest.raises(ValueError, match="new ICE credentials"):
        create_offer(alice, previous_local=offer, previous_remote=answer, ice_restart=True)
    new_ice = IceParameters.generate(SeededRandom(99))
    restart = roundtrip(create_offer(replace(alice, ice=new_ice), previous_local=offer,
                                     previous_remote=answer, ice_restart=True))
    assert [s.mid for s in restart.media] == [s.mid for s in offer.media]
    assert restart.media[0].ice_ufrag == new_ice.ufrag != alice.ice.ufrag
    assert restart.media[0].ice_pwd == new_ice.pwd
    # negotiated BUNDLE: no bundle-only any more; bundled sections repeat the ICE/DTLS
    # attributes as browsers do (Firefox refuses an offer that drops them) but no candidates
    assert not any(s.bundle_only for s in restart.media)
    assert restart.media[1].port == 9 and restart.media[1].ice_ufrag == new_ice.ufrag
    assert restart.media[1].candidates == []
    assert not restart.media[0].has("rtcp-mux-only") and restart.media[0].attribute("rtcp") is None
    # the answerer sees the restart
    bob_new = replace(bob, ice=IceParameters.generate(SeededRandom(100)))
    answer2 = create_answer(restart, bob_new, previous_local=answer)
    assert answer2.origin.session_version == answer.origin.session_version + 1
    n = negotiate(answer2, restart, local_is_offerer=False, previous_remote=offer)
    assert n.ice_restart
    assert not negotiate(answer, offer, local_is_offerer=False,
                         previous_remote=offer).ice_restart
    assert apply_answer(restart, answer2, previous_remote=answer).ice_restart


def test_renegotiation_appends_and_keeps_order() -> None:
    alice, bob = spec(1), spec(2, FP_B)
    offer = create_offer(alice)
    answer = create_answer(offer, bob)
    extra = TransceiverSpec("video", "sendonly")
    alice2 = replace(alice, transceivers=(*alice.transceivers, extra))
    offer2 = roundtrip(create_offer(alice2, previous_local=offer, previous_remote=answer))
    assert [(s.kind, s.mid) for s in offer2.media] == [
        ("audio", "0"), ("video", "1"), ("application", "2"), ("video", "3")]
    assert offer2.bundle_groups() == [("0", "1", "2", "3")]
    # payload types and extmap ids keep their numbers (RFC 3264 §8.3.2)
    assert offer2.media[1].formats == offer.media[1].formats
    assert offer2.media[1].extmaps == offer.media[1].extmaps
    answer2 = create_answer(offer2, bob, previous_local=answer)
    n = apply_answer(offer2, answer2)
    assert [s.direction for s in n.sections] == ["sendrecv", "sendrecv", "sendrecv", "sendonly"]
    assert n.sections[3].transport_mid == "0"


def test_stopped_transceiver_and_recycling() -> None:
    alice, bob = spec(1), spec(2, FP_B)
    offer = create_offer(alice)
    answer = create_answer(offer, bob)
    audio = replace(alice.transceivers[0], mid="0")
    video = replace(alice.transceivers[1], mid="1", stopped=True)
    alice2 = replace(alice, transceivers=(audio, video))
    offer2 = roundtrip(create_offer(alice2, previous_local=offer, previous_remote=answer))
    assert [s.port for s in offer2.media] == [9, 0, 9]
    assert offer2.media[1].mid == "1" and offer2.media[1].attribute("msid") is None
    assert offer2.bundle_groups() == [("0", "2")]
    answer2 = create_answer(offer2, bob, previous_local=answer)
    assert answer2.media[1].port == 0
    # a new transceiver recycles the rejected index with a new mid
    alice3 = replace(alice, transceivers=(audio, TransceiverSpec("audio", "recvonly")))
    offer3 = create_offer(alice3, previous_local=offer2, previous_remote=answer2)
    # the recycled section is new in this offer: written as in an initial offer (§5.2.1), so
    # bundle-only under max-bundle
    assert [(s.kind, s.port, s.bundle_only) for s in offer3.media] == [
        ("audio", 9, False), ("audio", 0, True), ("application", 9, False)]
    assert offer3.media[1].mid not in ("0", "1", "2")


def test_subsequent_offer_keeps_payload_types_of_an_answered_offer() -> None:
    # We answered a browser whose numbers differ from our defaults; our next offer keeps them.
    chrome = SessionDescription.parse(CHROME_OFFER)
    bob = spec(2, FP_B)
    answer = create_answer(chrome, bob)
    offer = create_offer(bob, previous_local=answer, previous_remote=chrome)
    before = {c.payload_type: (c.name, c.param("apt")) for c in codecs_from_section(
        answer.media[1])}
    after = {c.payload_type: (c.name, c.param("apt")) for c in codecs_from_section(
        offer.media[1])}
    assert all(after[pt] == before[pt] for pt in before)
    assert [s.mid for s in offer.media] == ["0", "1", "2"]
    assert apply_answer(offer, create_answer(offer, spec(5))).sections[1].send_codecs


# --- real descriptions -----------------------------------------------------------------------

# RFC 9429 §7 offers, as unfolded into rfc-vectors/rfc9429/ by rfc-vectors/extract_sdp.py.
OFFER_A1 = load(9429, "offer-a1").text
OFFER_B1 = load(9429, "offer-b1").text
OFFER_B2 = load(9429, "offer-b2").text





def test_rfc9429_vectors_unfold_to_valid_descriptions() -> None:
    text = OFFER_B2
    parsed = SessionDescription.parse(text)
    assert parsed.parse_errors() == []
    assert parsed.media[0].fingerprints[0].value.startswith("7B:8B:F0")
    assert parsed.media[0].candidates[1].related_port == 10200


def test_rfc9429_offer_a1() -> None:
    offer = SessionDescription.parse(OFFER_A1)
    answer = roundtrip(create_answer(offer, spec(2, FP_B, data_channel=False)))
    audio, video = answer.media
    # §7.1 answer-A1: same formats in the offer's order, mids echoed, setup active, BUNDLE
    assert audio.formats == ("96", "0", "8", "97", "98")
    assert video.formats == ("100", "101", "102", "103")
    assert video.fmtps[101].params["profile-level-id"] == "42e01f"
    assert [e.serialize() for e in audio.extmaps] == [
        "1 urn:ietf:params:rtp-hdrext:sdes:mid", "2 urn:ietf:params:rtp-hdrext:ssrc-audio-level"]
    assert [fb.serialize() for fb in video.rtcp_fbs] == ["100 ccm fir", "100 nack",
                                                         "100 nack pli"]
    assert answer.bundle_groups() == [("a1", "v1")]
    assert audio.setup == video.setup == "active"
    assert audio.has("rtcp-rsize") and audio.rtcp_mux
    assert answer.session.ice_options == ("trickle",)
    n = negotiate(answer, offer, local_is_offerer=False)
    assert len(n.transports) == 1 and n.transports[0].ice_ufrag == "ETEn"
    assert len(n.transports[0].candidates) == 2
    assert n.sections[1].transport_mid == "a1"
    # the offerer's side of the same exchange
    assert apply_answer(offer, answer).dtls_role == "server"


def test_rfc9429_offer_b1_bundle_only_data() -> None:
    offer = SessionDescription.parse(OFFER_B1)
    answer = roundtrip(create_answer(offer, spec(2, FP_B, kinds=("audio",))))
    _audio, data = answer.media
    assert data.port == 9 and not data.bundle_only     # bundle-only port 0 is not a rejection
    assert data.attribute("sctp-port") == "5000"
    assert answer.bundle_groups() == [("a1", "d1")]
    n = apply_answer(offer, answer)
    assert n.sections[1].remote_sctp_port == 5000 and n.sections[1].max_message_size == 262144
    assert negotiate(answer, offer, local_is_offerer=False).sections[1].max_message_size == 65536


CHROME_OFFER = (
    "v=0\r\n"
    "o=- 6418327151318743040 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1 2\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS 4b2c6e2a-3b1e-4f5a-9c7d-0e1f2a3b4c5d\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:Zk3q\r\n"
    "a=ice-pwd:o8uY0cS5rJq3nU9kBl7tW2xF\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 " + FP_A[0].value + "\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=sendrecv\r\n"
    "a=msid:4b2c6e2a-3b1e-4f5a-9c7d-0e1f2a3b4c5d 1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:63 red/48000/2\r\n"
    "a=fmtp:63 111/111\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:13 CN/8000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\n"
    "a=ssrc:2970218633 cname:Hk3M0wW2oBb9RZ1p\r\n"
    "a=ssrc:2970218633 msid:4b2c6e2a-3b1e-4f5a-9c7d-0e1f2a3b4c5d "
    "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 103 104 107 108 109 114 115 116 117 118 39 40 45 46 "
    "98 99 100 101 119 120 123 124 125\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:Zk3q\r\n"
    "a=ice-pwd:o8uY0cS5rJq3nU9kBl7tW2xF\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 " + FP_A[0].value + "\r\n"
    "a=setup:actpass\r\n"
    "a=mid:1\r\n"
    "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset\r\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=extmap:13 urn:3gpp:video-orientation\r\n"
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\n"
    "a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type\r\n"
    "a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing\r\n"
    "a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
    "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n"
    "a=sendrecv\r\n"
    "a=msid:4b2c6e2a-3b1e-4f5a-9c7d-0e1f2a3b4c5d 6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
    "a=rtcp-fb:96 goog-remb\r\n"
    "a=rtcp-fb:96 transport-cc\r\n"
    "a=rtcp-fb:96 ccm fir\r\n"
    "a=rtcp-fb:96 nack\r\n"
    "a=rtcp-fb:96 nack pli\r\n"
    "a=rtpmap:97 rtx/90000\r\n"
    "a=fmtp:97 apt=96\r\n"
    "a=rtpmap:103 H264/90000\r\n"
    "a=rtcp-fb:103 goog-remb\r\n"
    "a=rtcp-fb:103 transport-cc\r\n"
    "a=rtcp-fb:103 ccm fir\r\n"
    "a=rtcp-fb:103 nack\r\n"
    "a=rtcp-fb:103 nack pli\r\n"
    "a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"
    "a=rtpmap:104 rtx/90000\r\n"
    "a=fmtp:104 apt=103\r\n"
    "a=rtpmap:107 H264/90000\r\n"
    "a=rtcp-fb:107 goog-remb\r\n"
    "a=rtcp-fb:107 nack pli\r\n"
    "a=fmtp:107 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\n"
    "a=rtpmap:108 rtx/90000\r\n"
    "a=fmtp:108 apt=107\r\n"
    "a=rtpmap:109 H264/90000\r\n"
    "a=rtcp-fb:109 goog-remb\r\n"
    "a=rtcp-fb:109 transport-cc\r\n"
    "a=rtcp-fb:109 ccm fir\r\n"
    "a=rtcp-fb:109 nack\r\n"
    "a=rtcp-fb:109 nack pli\r\n"
    "a=fmtp:109 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
    "a=rtpmap:114 rtx/90000\r\n"
    "a=fmtp:114 apt=109\r\n"
    "a=rtpmap:115 H264/90000\r\n"
    "a=fmtp:115 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\n"
    "a=rtpmap:116 rtx/90000\r\n"
    "a=fmtp:116 apt=115\r\n"
    "a=rtpmap:117 H264/90000\r\n"
    "a=fmtp:117 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f\r\n"
    "a=rtpmap:118 rtx/90000\r\n"
    "a=fmtp:118 apt=117\r\n"
    "a=rtpmap:39 H264/90000\r\n"
    "a=fmtp:39 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f\r\n"
    "a=rtpmap:40 rtx/90000\r\n"
    "a=fmtp:40 apt=39\r\n"
    "a=rtpmap:45 AV1/90000\r\n"
    "a=rtcp-fb:45 goog-remb\r\n"
    "a=rtcp-fb:45 transport-cc\r\n"
    "a=rtcp-fb:45 ccm fir\r\n"
    "a=rtcp-fb:45 nack\r\n"
    "a=rtcp-fb:45 nack pli\r\n"
    "a=fmtp:45 level-idx=5;profile=0;tier=0\r\n"
    "a=rtpmap:46 rtx/90000\r\n"
    "a=fmtp:46 apt=45\r\n"
    "a=rtpmap:98 VP9/90000\r\n"
    "a=rtcp-fb:98 goog-remb\r\n"
    "a=rtcp-fb:98 transport-cc\r\n"
    "a=rtcp-fb:98 ccm fir\r\n"
    "a=rtcp-fb:98 nack\r\n"
    "a=rtcp-fb:98 nack pli\r\n"
    "a=fmtp:98 profile-id=0\r\n"
    "a=rtpmap:99 rtx/90000\r\n"
    "a=fmtp:99 apt=98\r\n"
    "a=rtpmap:100 VP9/90000\r\n"
    "a=fmtp:100 profile-id=2\r\n"
    "a=rtpmap:101 rtx/90000\r\n"
    "a=fmtp:101 apt=100\r\n"
    "a=rtpmap:119 H264/90000\r\n"
    "a=fmtp:119 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f\r\n"
    "a=rtpmap:120 rtx/90000\r\n"
    "a=fmtp:120 apt=119\r\n"
    "a=rtpmap:123 red/90000\r\n"
    "a=rtpmap:124 rtx/90000\r\n"
    "a=fmtp:124 apt=123\r\n"
    "a=rtpmap:125 ulpfec/90000\r\n"
    "a=ssrc-group:FID 1206383394 2913125516\r\n"
    "a=ssrc:1206383394 cname:Hk3M0wW2oBb9RZ1p\r\n"
    "a=ssrc:1206383394 msid:4b2c6e2a-3b1e-4f5a-9c7d-0e1f2a3b4c5d "
    "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d\r\n"
    "a=ssrc:2913125516 cname:Hk3M0wW2oBb9RZ1p\r\n"
    "a=ssrc:2913125516 msid:4b2c6e2a-3b1e-4f5a-9c7d-0e1f2a3b4c5d "
    "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:Zk3q\r\n"
    "a=ice-pwd:o8uY0cS5rJq3nU9kBl7tW2xF\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 " + FP_A[0].value + "\r\n"
    "a=setup:actpass\r\n"
    "a=mid:2\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:262144\r\n"
)


def test_chrome_offer() -> None:
    offer = SessionDescription.parse(CHROME_OFFER)
    assert offer.serialize() == CHROME_OFFER
    bob = spec(7, FP_B)
    answer = roundtrip(create_answer(offer, bob))
    audio, video, data = answer.media
    assert audio.formats == ("111", "63", "0", "8", "110", "126")   # G722 and CN unsupported
    assert audio.fmtps[63].params == {"111/111": None}
    # every offered video format we support, Chrome's numbers, rtx following each apt
    assert video.formats == ("96", "97", "103", "104", "107", "108", "109", "114", "115",
                             "116", "117", "118", "39", "40", "45", "46", "98", "99", "100",
                             "101", "119", "120", "123", "124", "125")
    assert video.fmtps[104].params == {"apt": "103"}
    assert [fb.serialize() for fb in video.rtcp_fbs if fb.payload_type == 107] == [
        "107 goog-remb", "107 nack pli"]
    assert all(s.setup == "active" and s.ice_ufrag == bob.ice.ufrag for s in answer.media)
    assert audio.has("rtcp-rsize") and audio.attribute("rtcp") is None
    assert answer.extmap_allow_mixed
    assert video.get(Rid) == [] and len(video.attribute_values("ssrc")) == 4
    assert data.attribute("max-message-size") == "262144"
    offerer = apply_answer(offer, answer)
    assert offerer.sections[1].send_codecs[0] == Codec(
        "video", "VP8", 90000, None, (), (("goog-remb", None), ("transport-cc", None),
                                          ("ccm", "fir"), ("nack", None), ("nack", "pli")), 96)
    answerer = negotiate(answer, offer, local_is_offerer=False)
    assert answerer.sections[0].remote_ssrcs[0].ssrc == 2970218633
    assert answerer.dtls_role == "client"


def test_create_answer_on_own_answer_and_offer_does_not_crash() -> None:
    bob = spec(2, FP_B)
    for description in (create_offer(spec(1)), SessionDescription.parse(CHROME_OFFER),
                        SessionDescription.parse(OFFER_A1)):
        answer = create_answer(description, bob)
        again = roundtrip(create_answer(answer, bob))
        assert len(again.media) == len(answer.media)
        roundtrip(create_answer(create_offer(bob), bob))


def test_old_dtls_sctp_data_section() -> None:
    data = ("m=application 9 DTLS/SCTP 5000\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\n"
            "a=sctpmap:5000 webrtc-datachannel 1024\r\n")
    offer = offer_text(AUDIO, data)
    answer = roundtrip(create_answer(offer, spec(2, FP_B)))
    assert answer.media[1].formats == ("5000",)
    assert answer.media[1].attribute("sctpmap") == "5000 webrtc-datachannel 1024"
    assert apply_answer(offer, answer).sections[1].remote_sctp_port == 5000


def test_ice_lite_and_spec_checks() -> None:
    lite = replace(spec(2, FP_B), ice=IceParameters.generate(SeededRandom(3), lite=True))
    offer = create_offer(spec(1))
    answer = create_answer(offer, lite)
    assert answer.ice_lite
    n = apply_answer(offer, answer)
    assert n.ice_controlling and n.transports[0].ice_lite
    assert not negotiate(answer, offer, local_is_offerer=False).ice_controlling
    with pytest.raises(ValueError, match="fingerprint"):
        create_offer(replace(spec(1), dtls=DtlsParameters(())))
    with pytest.raises(ValueError, match="share a mid"):
        create_offer(replace(spec(1), transceivers=(TransceiverSpec("audio", mid="x"),),
                             data_channel=DataChannelSpec(mid="x")))
    with pytest.raises(ValueError, match="RFC 8839"):
        create_offer(replace(spec(1), ice=IceParameters("ab", "short")))


def test_new_section_avoids_payload_types_the_bundle_uses_for_another_codec() -> None:
    # aiortc numbers Opus 96 (Chromium, and we, VP8): a video section we add later must not
    # reuse 96 in the same BUNDLE group (RFC 9143 §7.5: one codec configuration per number).
    opus96 = Codec("audio", "opus", 48000, 2, (("minptime", "10"),), (), 96)
    alice = spec(1, kinds=("audio",), data_channel=False)
    alice = replace(alice, transceivers=(replace(alice.transceivers[0], codecs=(opus96,)),))
    bob = spec(2, FP_B, kinds=("audio",), data_channel=False)
    offer = create_offer(alice)
    answer = create_answer(offer, bob)
    assert [c.payload_type for c in codecs_from_section(answer.media[0])] == [96]
    bob2 = replace(bob, transceivers=(replace(bob.transceivers[0], mid="0"),
                                      TransceiverSpec("video", "sendrecv")))
    offer2 = roundtrip(create_offer(bob2, previous_local=answer, previous_remote=offer))
    audio, video = (codecs_from_section(s) for s in offer2.media)
    assert (audio[0].payload_type, audio[0].name) == (96, "opus")
    assert 96 not in {c.payload_type for c in video}
    vp8 = next(c for c in video if c.name == "VP8")
    assert any(c.is_rtx and c.apt == vp8.payload_type for c in video)
    assert apply_answer(offer2, create_answer(offer2, spec(5, kinds=("audio", "video"),
                                                          data_channel=False))).sections
