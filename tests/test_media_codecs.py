"""rtcstack.media codecs: G.711 against ITU-T G.711 values, round trips of every codec, key
frames on request, bit rate changes, and decoders that survive any input."""

from __future__ import annotations

import doctest
import importlib
import itertools
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcstack.media import (
    SUPPORTED,
    EncodedFrame,
    OpusDecoder,
    VideoEncoder,
    VideoPatternTrack,
    create_decoder,
    create_encoder,
    g711,
    pattern_frame_number,
    psnr,
)
from rtcstack.rtp.formats import split_annexb

VIDEO = ["video/VP8", "video/VP9", "video/H264"]


def test_layer_manual_examples_run() -> None:
    result = doctest.testmod(importlib.import_module("rtcstack.media"))
    assert result.attempted > 0
    assert result.failed == 0


# --- G.711 ------------------------------------------------------------------------------------
# ITU-T G.711 (11/1988) Table 2a/2b (µ-law) and 1a/1b (A-law): the character signals at zero
# and at the ends of the range, and the decoder output values of the end segments.


@pytest.mark.parametrize(
    ("sample", "ulaw", "alaw"),
    [
        (0, 0xFF, 0xD5),  # µ-law: "all ones" is +0; A-law: +0 is 1101 0101 (even bits inverted)
        (-1, 0x7E, 0x55),  # -1 is a 14-bit step below -0 in µ-law; A-law -0 is 0101 0101
        (32767, 0x80, 0xAA),  # largest positive: µ-law 1000 0000, A-law 1010 1010
        (-32768, 0x00, 0x2A),  # most negative: µ-law 0000 0000, A-law 0010 1010
    ],
)
def test_g711_encode_table_values(sample: int, ulaw: int, alaw: int) -> None:
    samples = np.array([sample], dtype=np.int16)
    assert g711.ulaw_encode(samples) == bytes([ulaw])
    assert g711.alaw_encode(samples) == bytes([alaw])


def test_g711_decode_table_values() -> None:
    # µ-law decision/decoder values in 14-bit units times 4 (16-bit): 8031 * 4 = 32124.
    assert list(g711.ulaw_decode(bytes([0x80, 0x00, 0xFF, 0x7F, 0xFE, 0xF0]))) == [
        32124, -32124, 0, 0, 8, 120,  # 0xF0: 30 in 14-bit units
    ]
    # A-law decoder values in 13-bit units times 8: 4032 * 8 = 32256; 1 * 8 = 8.
    assert list(g711.alaw_decode(bytes([0xAA, 0x2A, 0xD5, 0x55]))) == [32256, -32256, 8, -8]


def test_g711_every_code_round_trips() -> None:
    codes = bytes(range(256))
    assert g711.alaw_encode(g711.alaw_decode(codes)) == codes
    ulaw = g711.ulaw_encode(g711.ulaw_decode(codes))
    # µ-law has two zeros (0xFF = +0, 0x7F = -0); 16-bit PCM has one, which encodes as +0.
    assert ulaw == codes[:0x7F] + b"\xff" + codes[0x80:]


def test_g711_matches_audioop_where_it_exists() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # gone in Python 3.13
    samples = np.arange(-32768, 32768, dtype=np.int16)
    assert g711.ulaw_encode(samples) == audioop.lin2ulaw(samples.tobytes(), 2)
    assert g711.alaw_encode(samples) == audioop.lin2alaw(samples.tobytes(), 2)
    codes = bytes(range(256))
    assert g711.ulaw_decode(codes).tobytes() == audioop.ulaw2lin(codes, 2)
    assert g711.alaw_decode(codes).tobytes() == audioop.alaw2lin(codes, 2)


def test_g711_is_monotonic() -> None:
    """Encoding then decoding any 16-bit sample never reorders samples."""
    samples = np.arange(-32768, 32768, dtype=np.int16)
    laws = [(g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)]
    for encode, decode in laws:
        back = decode(encode(samples)).astype(np.int32)
        assert np.all(np.diff(back) >= 0)
        assert np.max(np.abs(back - samples)) <= 1024  # the widest step at the top segment


# --- audio round trips ------------------------------------------------------------------------


def tone_frames(
    rate: int, channels: int, seconds: float = 1.0, chunk: int = 1024, freq: float = 440
) -> tuple[list[av.AudioFrame], np.ndarray]:
    n = int(rate * seconds)
    t = np.arange(n) / rate
    wave = (np.sin(2 * np.pi * freq * t) * 12000).astype(np.int16)
    interleaved = np.repeat(wave[:, None], channels, axis=1)
    frames = []
    for start in range(0, n, chunk):
        part = interleaved[start : start + chunk]
        frame = av.AudioFrame.from_ndarray(
            part.reshape(1, -1), format="s16", layout="stereo" if channels == 2 else "mono"
        )
        frame.sample_rate = rate
        frame.pts, frame.time_base = start, Fraction(1, rate)
        frames.append(frame)
    return frames, wave


def best_correlation(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    """Normalised correlation of a and b, at the best delay of b up to max_lag samples."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    best = -1.0
    for lag in range(max_lag + 1):
        n = min(len(a), len(b) - lag)
        x, y = a[:n], b[lag : lag + n]
        denom = np.sqrt(np.sum(x * x) * np.sum(y * y))
        if denom:
            best = max(best, float(np.sum(x * y) / denom))
    return best


@pytest.mark.parametrize(
    ("mime", "rate", "in_rate", "in_channels", "out_channels"),
    [
        ("audio/opus", 48000, 48000, 1, 2),
        ("audio/opus", 48000, 48000, 2, 2),
        ("audio/opus", 48000, 44100, 2, 1),
        ("audio/PCMU", 8000, 48000, 1, 1),
        ("audio/PCMA", 8000, 16000, 2, 1),
    ],
)
def test_audio_round_trip(
    mime: str, rate: int, in_rate: int, in_channels: int, out_channels: int
) -> None:
    encoder = create_encoder(mime, clock_rate=rate, channels=2)
    decoder = create_decoder(mime, clock_rate=rate, channels=out_channels)
    frames, _ = tone_frames(in_rate, in_channels)
    encoded = [e for f in frames for e in encoder.encode(f)]
    frame_samples = rate // 50
    assert len(encoded) >= 45  # about a second of 20 ms frames
    timestamps = [e.timestamp for e in encoded]
    assert timestamps[0] == 0
    assert all(b - a == frame_samples for a, b in itertools.pairwise(timestamps))
    if mime == "audio/opus":
        assert all((e.data[0] >> 2) & 1 == (in_channels == 2) for e in encoded)  # TOC s bit
    else:
        assert all(len(e.data) == frame_samples for e in encoded)
    decoded = [d for e in encoded for d in decoder.decode(e)]
    assert len(decoded) == len(encoded)
    assert decoded[3].pts == encoded[3].timestamp
    assert decoded[0].sample_rate == rate
    assert decoded[0].layout.nb_channels == out_channels
    assert decoded[0].samples == frame_samples
    got = np.concatenate([d.to_ndarray().reshape(-1, out_channels)[:, 0] for d in decoded])
    # The reference: the same tone at the codec rate.
    t = np.arange(len(got)) / rate
    reference = np.sin(2 * np.pi * 440 * t) * 12000
    skip = frame_samples * 3  # codec and resampler start-up
    assert best_correlation(reference[skip:-skip], got[skip:], max_lag=rate // 100) > 0.95


def test_opus_bitrate_changes_packet_size() -> None:
    encoder = create_encoder("audio/opus", clock_rate=48000, channels=2)
    frames, _ = tone_frames(48000, 2, seconds=2.0)
    encoder.target_bitrate = 16000
    low = [e for f in frames[:45] for e in encoder.encode(f)]
    encoder.target_bitrate = 96000
    high = [e for f in frames[45:] for e in encoder.encode(f)]
    mean = lambda xs: sum(len(e.data) for e in xs[5:]) / len(xs[5:])  # noqa: E731
    assert mean(high) > 2 * mean(low)


def test_opus_concealment_and_fec() -> None:
    encoder = create_encoder("audio/opus", clock_rate=48000, channels=1)
    encoder.packet_loss_percent = 20  # type: ignore[attr-defined]
    frames, _ = tone_frames(48000, 1)
    encoded = [e for f in frames for e in encoder.encode(f)]
    decoder = create_decoder("audio/opus", clock_rate=48000, channels=1)
    assert isinstance(decoder, OpusDecoder)
    for e in encoded[:20]:
        decoder.decode(e)
    # packet 20 is lost: recover it from packet 21's FEC, then decode 21 normally
    recovered = decoder.decode_fec(encoded[21])
    assert recovered.samples == 960
    assert recovered.pts == encoded[20].timestamp
    assert np.abs(recovered.to_ndarray()).max() > 1000  # sound, not silence
    assert len(decoder.decode(encoded[21])) == 1
    concealed = decoder.conceal(960, timestamp=encoded[22].timestamp)
    assert concealed.samples == 960
    assert concealed.pts == encoded[22].timestamp
    assert decoder.errors == 0


# --- video ------------------------------------------------------------------------------------


def pattern(width: int = 320, height: int = 240) -> VideoPatternTrack:
    return VideoPatternTrack(width=width, height=height)


def pictures(count: int, width: int = 320, height: int = 240) -> list[av.VideoFrame]:
    track = pattern(width, height)
    out = []
    for i in range(count):
        frame = track.draw(i)
        frame.pts, frame.time_base = i, Fraction(1, 30)
        out.append(frame)
    return out


@pytest.mark.parametrize("mime", VIDEO)
def test_video_round_trip_keeps_picture_and_frame_numbers(mime: str) -> None:
    encoder = create_encoder(mime, clock_rate=90000)
    decoder = create_decoder(mime, clock_rate=90000)
    sources = pictures(20)
    encoded = [e for f in sources for e in encoder.encode(f)]
    assert len(encoded) == 20  # no lookahead: one frame out per frame in
    assert [e.timestamp for e in encoded] == [i * 3000 for i in range(20)]
    assert encoded[0].keyframe and not any(e.keyframe for e in encoded[1:])
    decoded = [d for e in encoded for d in decoder.decode(e)]
    assert len(decoded) == 20
    assert decoder.errors == 0  # type: ignore[attr-defined]
    for i, (source, got) in enumerate(zip(sources, decoded, strict=True)):
        assert got.pts == i * 3000
        assert (got.width, got.height) == (320, 240)
        assert pattern_frame_number(got) == i
        y_in = source.to_ndarray(format="gray")
        y_out = got.to_ndarray(format="gray")
        assert psnr(y_in, y_out) > 28, i


@pytest.mark.parametrize("mime", VIDEO)
def test_encoder_reformats_any_picture(mime: str) -> None:
    encoder = create_encoder(mime, clock_rate=90000)
    decoder = create_decoder(mime, clock_rate=90000)
    rgb = np.zeros((121, 161, 3), dtype=np.uint8)  # odd sizes: cropped to even
    rgb[:, :80] = (200, 30, 30)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    [encoded] = encoder.encode(frame)  # no pts: timestamps start at 0
    assert encoded.timestamp == 0
    [got] = decoder.decode(encoded)
    assert (got.width, got.height) == (160, 120)
    assert psnr(got.to_ndarray(format="rgb24"), rgb[:120, :160]) > 30


@pytest.mark.parametrize("mime", VIDEO)
def test_keyframe_on_request(mime: str) -> None:
    encoder = create_encoder(mime, clock_rate=90000)
    sources = pictures(12)
    flags = []
    for i, frame in enumerate(sources):
        [encoded] = encoder.encode(frame, force_keyframe=i in (5, 9))
        flags.append(encoded.keyframe)
        if encoded.keyframe and i > 0:
            # a decoder that starts here decodes on its own
            decoder = create_decoder(mime, clock_rate=90000)
            [got] = decoder.decode(encoded)
            assert pattern_frame_number(got) == i
        if mime == "video/H264" and encoded.keyframe:
            types = [nal[0] & 0x1F for nal in split_annexb(encoded.data)]
            assert types[:2] == [7, 8] and 5 in types  # SPS, PPS, then the IDR slice
    assert [i for i, key in enumerate(flags) if key] == [0, 5, 9]
    assert sources[5].pict_type == av.video.frame.PictureType.NONE  # the caller's frame untouched


def test_h264_is_constrained_baseline_annexb() -> None:
    encoder = create_encoder(
        "video/H264", clock_rate=90000,
        parameters={"profile-level-id": "42e01f", "packetization-mode": "1"},
    )
    [encoded] = encoder.encode(pictures(1)[0])
    assert encoded.data.startswith(b"\x00\x00\x00\x01") or encoded.data.startswith(b"\x00\x00\x01")
    sps = next(n for n in split_annexb(encoded.data) if n[0] & 0x1F == 7)
    profile_idc, constraints, level_idc = sps[1], sps[2], sps[3]
    assert profile_idc == 66  # Baseline
    assert constraints & 0x40  # constraint_set1_flag: constrained baseline (H.264 A.2.1.1)
    assert level_idc <= 31


def encoded_size(mime: str, bitrates: list[int], frames_each: int = 40) -> list[float]:
    """Mean frame size under each bit rate, set on one running encoder in turn."""
    encoder = create_encoder(mime, clock_rate=90000)
    if isinstance(encoder, VideoEncoder):
        encoder.min_reopen_frames = 10
    rng = np.random.default_rng(7)
    track = pattern(320, 240)
    sizes = []
    n = 0
    for bitrate in bitrates:
        encoder.target_bitrate = bitrate
        got = []
        for _ in range(frames_each):
            frame = track.draw(n)
            noisy = frame.to_ndarray() + rng.integers(0, 5, (360, 320), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(noisy.astype(np.uint8), format="yuv420p")
            frame.pts, frame.time_base = n, Fraction(1, 30)
            n += 1
            got.extend(len(e.data) for e in encoder.encode(frame))
        sizes.append(sum(got[frames_each // 2 :]) / len(got[frames_each // 2 :]))
    return sizes


@pytest.mark.parametrize("mime", VIDEO)
def test_bitrate_change_has_an_effect(mime: str) -> None:
    high, low = encoded_size(mime, [1_500_000, 150_000])
    assert low < high / 2, (high, low)
    # and the rate is roughly honoured: 150 kbit/s at 30 fps is 625 bytes a frame
    assert low < 625 * 2.5, low


# --- decoders fed garbage ---------------------------------------------------------------------


@pytest.mark.parametrize("mime", VIDEO)
def test_video_decoder_survives_loss_and_garbage(mime: str) -> None:
    encoder = create_encoder(mime, clock_rate=90000)
    decoder = create_decoder(mime, clock_rate=90000)
    encoded = [e for f in pictures(10) for e in encoder.encode(f)]
    # starts without the key frame, and gets truncated frames: no exception
    for e in encoded[1:5]:
        decoder.decode(e)
    for e in encoded[5:8]:
        decoder.decode(EncodedFrame(e.data[: len(e.data) // 3], e.timestamp))
    assert decoder.decode(EncodedFrame(b"", 0)) == []
    key = encoder.encode(pictures(11)[10], force_keyframe=True)[0]
    assert key.keyframe
    got = decoder.decode(key)
    assert len(got) == 1 and pattern_frame_number(got[0]) == 10
    assert decoder.keyframe_needed is False  # type: ignore[attr-defined]


DECODERS = {
    mime: create_decoder(mime, clock_rate=90000 if mime.startswith("video") else
                         (48000 if mime == "audio/opus" else 8000), channels=2)
    for mime in sorted(SUPPORTED)
}


@pytest.mark.parametrize("mime", sorted(SUPPORTED))
@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=3000), keyframe=st.booleans())
def test_decoders_never_raise(mime: str, data: bytes, keyframe: bool) -> None:
    decoder = DECODERS[mime]
    got = decoder.decode(EncodedFrame(data, 1234, keyframe))
    assert isinstance(got, list)
    for frame in got:
        assert isinstance(frame, av.AudioFrame | av.VideoFrame)


@pytest.mark.parametrize("mime", VIDEO)
@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8))
def test_video_decoders_survive_mutated_frames(mime: str, cuts: list[tuple[int, int]]) -> None:
    """Real frames with bytes overwritten: frames or [], never an exception."""
    encoded = MUTATION_SEEDS[mime]
    decoder = create_decoder(mime, clock_rate=90000)
    for e in encoded:
        data = bytearray(e.data)
        for offset, value in cuts:
            data[offset % len(data)] = value
        decoder.decode(EncodedFrame(bytes(data), e.timestamp, e.keyframe))


def _seed(mime: str) -> list[EncodedFrame]:
    encoder = create_encoder(mime, clock_rate=90000)
    return [e for f in pictures(3, 160, 120) for e in encoder.encode(f)]


MUTATION_SEEDS = {mime: _seed(mime) for mime in VIDEO}


# --- lookup -----------------------------------------------------------------------------------


def test_lookup_is_case_insensitive_and_checks_rate() -> None:
    assert {m.lower() for m in SUPPORTED} >= {
        "audio/opus", "audio/pcmu", "audio/pcma", "video/vp8", "video/vp9", "video/h264",
    }
    create_encoder("VIDEO/vp8", clock_rate=90000)
    create_decoder("audio/OPUS", clock_rate=48000, channels=2)
    with pytest.raises(ValueError, match="unsupported"):
        create_encoder("video/AV1", clock_rate=90000)
    with pytest.raises(ValueError, match="48000"):
        create_encoder("audio/opus", clock_rate=8000)
