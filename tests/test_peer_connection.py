"""The sans-IO peer connection: two :class:`PeerConnection`\\ s on a virtual clock
(``tests/peer_harness.py``), clean and through an impaired link (loss, reorder, jitter,
duplication), plus garbage fed to a connected peer."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtcstack.common.errors import InvalidStateError
from rtcstack.peer import (
    FrameReceived,
    KeyframeRequested,
    NegotiationNeeded,
    PeerConnection,
    StateChange,
    TrackAdded,
)
from rtcstack.sctp import ChannelMessage, ChannelOpened
from tests.dtls_harness import Link
from tests.peer_harness import ADDR_A, PeerPair


def _vp8_frame(n: int, key: bool, size: int = 2500) -> bytes:
    """A VP8 payload the packetizer and the key-frame detection accept (RFC 6386 §9.1: bit 0 of
    the first byte is 0 for a key frame), with a recognisable body."""
    body = hashlib.sha256(n.to_bytes(4, "big")).digest() * (size // 32 + 1)
    return bytes([0x10 if key else 0x11, 0x02, 0x00]) + n.to_bytes(4, "big") + body[:size]


def _call(link: Link, *, seed: int = 1) -> tuple[PeerPair, dict[str, object]]:
    pp = PeerPair(link=link, seed=seed)
    video_a = pp.a.add_transceiver("video", has_track=True)
    audio_a = pp.a.add_transceiver("audio", has_track=True)
    video_b = pp.b.add_transceiver("video", has_track=True)
    request = pp.a.create_data_channel("reliable")
    pp.negotiate("a")
    return pp, {"video_a": video_a, "audio_a": audio_a, "video_b": video_b, "chat": request}


def test_clean_call_connects_and_flows() -> None:
    pp, t = _call(Link(delay=0.005))
    assert pp.run(pp.connected, seconds=5), (pp.a.connection_state, pp.b.connection_state)
    # the answerer saw the offerer's tracks; the offerer saw the answerer's video
    assert len(pp.of("b", TrackAdded)) == 2 and len(pp.of("a", TrackAdded)) == 1
    sent = {"n": 0}

    def tick(now: float) -> None:
        sent["n"] += 1
        n = sent["n"]
        pp.a.send_frame(t["video_a"], _vp8_frame(n, n == 1), n * 3000, keyframe=n == 1, now=now)
        pp.a.send_frame(t["audio_a"], b"\xfc" + bytes([n % 256]) * 60, n * 960, now=now)
    pp.every(1 / 30, tick)
    pp.run(seconds=3)
    frames = pp.of("b", FrameReceived)
    video = [e.frame.data for e in frames if e.transceiver.kind == "video"]
    audio = [e for e in frames if e.transceiver.kind == "audio"]
    assert video == [_vp8_frame(n, n == 1) for n in range(1, len(video) + 1)]
    assert len(video) >= sent["n"] - 2 and len(audio) >= sent["n"] - 2
    assert pp.a.stats.srtp_errors == pp.b.stats.srtp_errors == 0
    assert pp.b.stats.unroutable_rtp == 0


def test_impaired_link_call_continues_and_reliable_data_arrives() -> None:
    """5 % loss, 1 % duplication, 20-40 ms delay that reorders: video recovers through
    NACK/RTX (and PLI when it must), the reliable channel delivers every message in order."""
    link = Link(loss=0.05, duplicate=0.01, delay=0.02, jitter=0.02, seed=7)
    pp, t = _call(link, seed=5)
    assert pp.run(pp.connected, seconds=20)
    chat = t["chat"]
    assert pp.run(lambda: chat.channel is not None  # type: ignore[attr-defined]
                  and chat.channel.ready_state.name == "OPEN", seconds=10)  # type: ignore[attr-defined]
    rng = random.Random(3)
    messages = [rng.randbytes(rng.choice([1, 100, 1200, 5000, 40000])) for _ in range(120)]
    for m in messages:
        chat.channel.send(m, now=pp.now)  # type: ignore[attr-defined]
    pp.a.pump()
    sent = {"n": 0}
    keyframes: list[int] = []

    def tick(now: float) -> None:
        sent["n"] += 1
        n = sent["n"]
        key = n == 1 or bool(keyframes)
        keyframes.clear()
        pp.a.send_frame(t["video_a"], _vp8_frame(n, key), n * 3000, keyframe=key, now=now)
    pp.every(1 / 30, tick)
    pp.on_event = lambda who, e: keyframes.append(1) if (
        who == "a" and isinstance(e, KeyframeRequested)) else None
    pp.run(seconds=20)
    assert pp.connected()
    received = [e.data for e in pp.of("b", ChannelMessage)]
    assert received == messages
    video = [e.frame.data for e in pp.of("b", FrameReceived) if e.transceiver.kind == "video"]
    # every frame handed out is one that was sent, in order, and nearly all arrived
    numbers = [int.from_bytes(f[3:7], "big") for f in video]
    assert numbers == sorted(numbers)
    assert all(f == _vp8_frame(n, f[0] & 1 == 0) for n, f in zip(numbers, video, strict=True))
    assert len(video) >= 0.9 * sent["n"], (len(video), sent["n"])
    send_stats = t["video_a"].send_stream.stats  # type: ignore[attr-defined]
    assert send_stats.retransmitted_packets_sent > 0 and send_stats.nack_count > 0
    assert send_stats.rtt is not None and 0.03 < send_stats.rtt < 0.2


def test_offer_answer_state_errors() -> None:
    pc = PeerConnection()
    with pytest.raises(InvalidStateError):
        pc.create_answer()
    with pytest.raises(InvalidStateError):
        pc.set_remote_description("answer", "v=0\r\n", now=0.0)
    with pytest.raises(InvalidStateError):
        pc.add_ice_candidate(None, now=0.0)
    pc.add_transceiver("audio")
    assert isinstance(pc.poll_event(), NegotiationNeeded)
    pc.set_local_description(now=0.0)
    assert pc.signaling_state.value == "have-local-offer"
    pc.set_local_description("rollback", now=0.0)
    assert pc.signaling_state.value == "stable"
    pc.close(now=0.0)
    with pytest.raises(InvalidStateError):
        pc.create_offer()
    assert pc.poll_timeout() is None


def test_remote_offer_rollback_removes_its_transceivers() -> None:
    pp = PeerPair()
    pp.a.add_transceiver("video")
    pp.a.set_local_description(now=0.0)
    mine = pp.b.add_transceiver("audio", has_track=True)
    pp.b.set_remote_description(*pp.a.local_description, now=0.0)  # type: ignore[misc]
    assert len(pp.b.transceivers) == 2
    pp.b.set_remote_description("rollback", now=0.0)
    assert pp.b.transceivers == [mine] and mine.mid is None
    assert pp.b.signaling_state.value == "stable"


def _connected_pair() -> PeerPair:
    pp, _ = _call(Link(delay=0.002), seed=11)
    assert pp.run(lambda: pp.connected() and any(pp.of("b", ChannelOpened)), seconds=5)
    return pp


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.binary(max_size=300),
    # plausible headers: STUN, DTLS, RTP and RTCP first bytes with random rest
    st.tuples(st.sampled_from([0x00, 0x01, 0x16, 0x17, 0x15, 0x80, 0x90, 0xBF]),
              st.sampled_from([0x00, 0x60, 0x6F, 0xC8, 0xC9, 0xCD, 0xCE, 0xFE]),
              st.binary(max_size=200)).map(lambda t: bytes([t[0], t[1]]) + t[2]),
), max_size=20))
def test_garbage_never_raises_and_the_call_survives(datagrams: list[bytes]) -> None:
    pp = _connected_pair()
    for data in datagrams:
        pp.b.handle_datagram(data, ADDR_A, local=("192.0.2.2", 6000), now=pp.now)
        pp.b.handle_payload(data, now=pp.now)
    pp.drain()
    chat = next(e for e in pp.of("b", ChannelOpened)).channel
    chat.send(b"still there", now=pp.now)
    pp.b.pump()
    pp.drain()
    assert pp.run(lambda: any(e.data == b"still there" for e in pp.of("a", ChannelMessage)),
                  seconds=5)
    assert pp.b.connection_state.value == "connected"


def test_state_events_in_order() -> None:
    pp, _ = _call(Link(delay=0.003))
    pp.run(pp.connected, seconds=5)
    states = [(e.what, e.state) for e in pp.of("a", StateChange)]
    connection = [s for w, s in states if w == "connection"]
    assert connection[:2] == ["connecting", "connected"]
    ice = [s for w, s in states if w == "ice-connection"]
    assert ice[0] == "checking" and "connected" in ice
    signaling = [s for w, s in states if w == "signaling"]
    assert signaling == ["have-local-offer", "stable"]
