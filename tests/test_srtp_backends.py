"""The two SRTP backends agree, and the replay window holds its invariants (Hypothesis).

- pure and libsrtp give byte-identical SRTP/SRTCP for random keys, payloads and sequence
  walks that cross the 65535 -> 0 wrap several times (ROC 0..3), and each decrypts the other's;
- tampered and replayed packets raise the same error class in both;
- any bytes given to ``unprotect_*`` give a value or ParseError / SrtpReplayError /
  SrtpAuthenticationError, nothing else;
- the replay window never accepts a duplicate and never rejects an in-window first arrival.
"""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtcstack.common import ParseError
from rtcstack.srtp import (
    LibsrtpContext,
    Profile,
    PureSrtpContext,
    ReplayWindow,
    SrtpAuthenticationError,
    SrtpContext,
    SrtpError,
    SrtpReplayError,
    create_context,
)

pytest.importorskip("pylibsrtp", reason="install the libsrtp extra (pip install pylibsrtp)")

PROFILES = list(Profile)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _contexts(profile: Profile, key: bytes, salt: bytes) -> dict[str, SrtpContext]:
    return {
        "pure_tx": PureSrtpContext(profile, key, salt),
        "lib_tx": LibsrtpContext(profile, key, salt),
        "pure_rx": PureSrtpContext(profile, key, salt),
        "lib_rx": LibsrtpContext(profile, key, salt),
    }


@st.composite
def _session(draw: st.DrawFn) -> tuple[Profile, bytes, bytes]:
    profile = draw(st.sampled_from(PROFILES))
    key = draw(st.binary(min_size=profile.key_length, max_size=profile.key_length))
    salt = draw(st.binary(min_size=profile.salt_length, max_size=profile.salt_length))
    return profile, key, salt


def _rtp(seq: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, 0xE0 if marker else 0x60, seq, seq * 960, ssrc) + payload


@SETTINGS
@given(
    session=_session(),
    ssrc=st.integers(0, 0xFFFFFFFF),
    start=st.integers(0, 0xFFFF),
    # Forward steps below 2^15 keep the ROC estimate right (RFC 3711 §3.3.1); a walk of
    # a few big steps crosses the wrap several times.
    steps=st.lists(st.integers(1, 0x7FFF), min_size=1, max_size=12),
    payloads=st.lists(st.binary(max_size=1200), min_size=1, max_size=4),
)
def test_backends_agree_on_rtp(
    session: tuple[Profile, bytes, bytes], ssrc: int, start: int, steps: list[int],
    payloads: list[bytes],
) -> None:
    profile, key, salt = session
    c = _contexts(profile, key, salt)
    index = start
    for n, step in enumerate([0, *steps]):
        index += step
        packet = _rtp(index & 0xFFFF, ssrc, payloads[n % len(payloads)])
        ours, theirs = c["pure_tx"].protect_rtp(packet), c["lib_tx"].protect_rtp(packet)
        assert ours == theirs, (profile, index)
        assert c["pure_rx"].unprotect_rtp(theirs) == packet
        assert c["lib_rx"].unprotect_rtp(ours) == packet
    pure_tx = c["pure_tx"]
    assert isinstance(pure_tx, PureSrtpContext)
    assert pure_tx.roc(ssrc, outbound=True) == index >> 16


@SETTINGS
@given(
    session=_session(),
    ssrcs=st.lists(st.integers(0, 0xFFFFFFFF), min_size=1, max_size=3),
    bodies=st.lists(st.binary(max_size=400).map(lambda b: b[: len(b) // 4 * 4]), min_size=1,
                    max_size=8),
)
def test_backends_agree_on_rtcp(
    session: tuple[Profile, bytes, bytes], ssrcs: list[int], bodies: list[bytes]
) -> None:
    profile, key, salt = session
    c = _contexts(profile, key, salt)
    for n, body in enumerate(bodies):
        ssrc = ssrcs[n % len(ssrcs)]
        packet = struct.pack("!BBHI", 0x81, 200, 1 + len(body) // 4, ssrc) + body
        ours, theirs = c["pure_tx"].protect_rtcp(packet), c["lib_tx"].protect_rtcp(packet)
        assert ours == theirs
        assert c["pure_rx"].unprotect_rtcp(theirs) == packet
        assert c["lib_rx"].unprotect_rtcp(ours) == packet


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_reordered_traffic_across_the_wrap_is_accepted_by_both(profile: Profile) -> None:
    key, salt = bytes(range(profile.key_length)), bytes(profile.salt_length)
    tx = PureSrtpContext(profile, key, salt)
    seqs = [(65500 + i) & 0xFFFF for i in range(80)]
    sent = [tx.protect_rtp(_rtp(s, 7, b"x" * 40)) for s in seqs]
    order = list(range(80))
    for i in range(0, 78, 3):  # swap neighbours: late packets on both sides of the wrap
        order[i], order[i + 2] = order[i + 2], order[i]
    for rx in (PureSrtpContext(profile, key, salt), LibsrtpContext(profile, key, salt)):
        assert [rx.unprotect_rtp(sent[i]) for i in order] == [
            _rtp(seqs[i], 7, b"x" * 40) for i in order
        ]


def _outcome(fn: object, packet: bytes) -> object:
    try:
        return fn(packet)  # type: ignore[operator]
    except (ParseError, SrtpError) as exc:
        return type(exc)


@SETTINGS
@given(
    session=_session(),
    payload=st.binary(min_size=1, max_size=200),
    position=st.integers(0, 10_000),
    bit=st.integers(0, 7),
    rtcp=st.booleans(),
)
def test_tampered_and_replayed_packets_give_the_same_error_in_both(
    session: tuple[Profile, bytes, bytes], payload: bytes, position: int, bit: int, rtcp: bool
) -> None:
    profile, key, salt = session
    c = _contexts(profile, key, salt)
    if rtcp:
        packet = struct.pack("!BBHI", 0x80, 201, 1, 99)
        protected = c["pure_tx"].protect_rtcp(packet)
        name = "unprotect_rtcp"
    else:
        packet = _rtp(1234, 99, payload)
        protected = c["pure_tx"].protect_rtp(packet)
        name = "unprotect_rtp"
    # Flip one bit past the SSRC (the header start decides the stream, tested elsewhere).
    where = 12 + position % (len(protected) - 12) if not rtcp else 8 + position % (
        len(protected) - 8
    )
    bad = bytearray(protected)
    bad[where] ^= 1 << bit
    pure, lib = getattr(c["pure_rx"], name), getattr(c["lib_rx"], name)
    assert _outcome(pure, bytes(bad)) == _outcome(lib, bytes(bad)) == SrtpAuthenticationError
    assert _outcome(pure, protected) == _outcome(lib, protected) == packet
    assert _outcome(pure, protected) == _outcome(lib, protected) == SrtpReplayError


@settings(max_examples=300, deadline=None)
@given(profile=st.sampled_from(PROFILES), data=st.binary(max_size=120), rtcp=st.booleans())
def test_arbitrary_bytes_give_a_value_or_a_layer_error(
    profile: Profile, data: bytes, rtcp: bool
) -> None:
    context = PureSrtpContext(profile, bytes(profile.key_length), bytes(profile.salt_length))
    fn = context.unprotect_rtcp if rtcp else context.unprotect_rtp
    with contextlib.suppress(ParseError, SrtpReplayError, SrtpAuthenticationError):
        fn(data)


@settings(max_examples=100, deadline=None)
@given(profile=st.sampled_from(PROFILES), data=st.binary(max_size=120), rtcp=st.booleans())
def test_arbitrary_bytes_to_libsrtp_give_a_value_or_a_layer_error(
    profile: Profile, data: bytes, rtcp: bool
) -> None:
    context = LibsrtpContext(profile, bytes(profile.key_length), bytes(profile.salt_length))
    fn = context.unprotect_rtcp if rtcp else context.unprotect_rtp
    with contextlib.suppress(ParseError, SrtpReplayError, SrtpAuthenticationError):
        fn(data)


def test_default_backend_is_chosen_per_profile() -> None:
    from rtcstack.srtp import DEFAULT_BACKEND

    for profile in PROFILES:
        context = create_context(profile, bytes(profile.key_length), bytes(profile.salt_length))
        assert context.backend == DEFAULT_BACKEND[profile]


# --- the replay window (RFC 3711 §3.3.2) -------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    size=st.sampled_from([64, 128, 1024]),
    indices=st.lists(st.integers(0, 3000), max_size=200),
)
def test_replay_window_never_accepts_a_duplicate_nor_rejects_a_fresh_in_window_index(
    size: int, indices: list[int]
) -> None:
    window = ReplayWindow(size)
    seen: set[int] = set()
    top = -1
    for index in indices:
        accepted = window.check(index)
        if index in seen:
            assert not accepted, "a duplicate was accepted"
        elif index > top - size:  # ahead of the window or inside it: a first arrival
            assert accepted, "an in-window first arrival was rejected"
        else:
            assert not accepted, "an index behind the window was accepted"
        if accepted:
            window.add(index)
            seen.add(index)
            top = max(top, index)


def test_replay_window_size_limits() -> None:
    with pytest.raises(ValueError, match="at least 64"):
        ReplayWindow(63)
    with pytest.raises(TypeError):
        ReplayWindow(True)
    w = ReplayWindow(64)
    w.add(100)
    assert w.check(37) and not w.check(36) and not w.check(100) and w.check(101)
