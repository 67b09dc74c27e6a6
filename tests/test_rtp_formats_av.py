"""Real encoder output (PyAV: libvpx VP8/VP9, libx264 H.264) packetized, reordered, reassembled
and decoded again: the payload formats against the codecs' own bitstreams."""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction

import pytest

from rtcstack.rtp.formats import (
    Depacketizer,
    FrameAssembler,
    H264Depacketizer,
    H264Packetizer,
    Vp8Depacketizer,
    Vp8Packetizer,
    Vp9Depacketizer,
    Vp9Packetizer,
)

av = pytest.importorskip("av")

WIDTH, HEIGHT, COUNT = 320, 240, 24


def encode(codec: str) -> list[tuple[bytes, bool]]:
    """Encoded frames and the encoder's key frame flag."""
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    ctx.time_base = Fraction(1, 30)
    ctx.framerate = Fraction(30, 1)
    ctx.gop_size = 10
    ctx.bit_rate = 800_000
    if codec == "libx264":
        ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "slice-max-size": "1000"}
    else:
        ctx.options = {"deadline": "realtime", "lag-in-frames": "0", "cpu-used": "8"}
    rng = random.Random(1)
    out: list[tuple[bytes, bool]] = []
    for i in range(COUNT):
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        for plane in frame.planes:
            size = plane.line_size * plane.height
            noise = rng.randbytes(size // 4) * 4  # texture, so frames need several packets
            plane.update(bytes((b + i * 3) & 0xFF for b in noise[:size]))
        frame.pts = i
        for packet in ctx.encode(frame):
            out.append((bytes(packet), bool(packet.is_keyframe)))
    for packet in ctx.encode(None):
        out.append((bytes(packet), bool(packet.is_keyframe)))
    return out


def decode(codec: str, frames: list[bytes]) -> int:
    ctx = av.CodecContext.create(codec, "r")
    decoded = 0
    for data in frames:
        for picture in ctx.decode(av.Packet(data)):
            assert (picture.width, picture.height) == (WIDTH, HEIGHT)
            decoded += 1
    return decoded


CASES: dict[
    str,
    tuple[
        str,
        str,
        Callable[[], Callable[[bytes], list[tuple[bytes, bool]]]],
        Callable[[], Depacketizer],
    ],
] = {
    "vp8": (
        "libvpx",
        "vp8",
        lambda: Vp8Packetizer(1100, picture_id=1234).packetize,
        Vp8Depacketizer,
    ),
    "vp9": (
        "libvpx-vp9",
        "vp9",
        lambda: Vp9Packetizer(1100, picture_id=99).packetize,
        Vp9Depacketizer,
    ),
    "h264": ("libx264", "h264", lambda: H264Packetizer(1100).packetize, H264Depacketizer),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_encoder_round_trip(name: str) -> None:
    encoder, decoder, make_packetizer, make_depacketizer = CASES[name]
    try:
        encoded = encode(encoder)
    except (av.error.FFmpegError, ValueError) as exc:  # pragma: no cover - depends on the build
        pytest.skip(f"PyAV cannot encode with {encoder}: {exc}")
    assert encoded and encoded[0][1]
    packetize = make_packetizer()
    packets = []
    seq = 65530  # through the sequence number wraparound
    for i, (data, _) in enumerate(encoded):
        for payload, marker in packetize(data):
            assert len(payload) <= 1100
            packets.append((seq & 0xFFFF, i * 3000, marker, payload))
            seq += 1
    rng = random.Random(3)
    keyed = sorted(((i + rng.uniform(0, 6), p) for i, p in enumerate(packets)), key=lambda k: k[0])
    asm = FrameAssembler(make_depacketizer())
    frames = []
    for _, p in keyed:
        asm.push(*p)
        while (f := asm.pop_frame()) is not None:
            frames.append(f)
    assert len(frames) == len(encoded) and asm.frames_dropped == 0
    assert [f.keyframe for f in frames] == [k for _, k in encoded]
    if name != "h264":
        assert [f.data for f in frames] == [d for d, _ in encoded]
    assert decode(decoder, [f.data for f in frames]) == COUNT


def test_h264_lost_packet_frame_is_dropped_and_rest_decodes() -> None:
    try:
        encoded = encode("libx264")
    except (av.error.FFmpegError, ValueError) as exc:  # pragma: no cover
        pytest.skip(f"PyAV cannot encode with libx264: {exc}")
    packetize = H264Packetizer(1100).packetize
    packets: list[tuple[int, int, bool, bytes]] = []
    for i, (data, _) in enumerate(encoded):
        packets += [(len(packets) + j, i * 3000, m, p) for j, (p, m) in enumerate(packetize(data))]
    # lose one packet of the key frame at index 10 (gop_size 10): the frame must not come out
    target = next(p for p in packets if p[1] == 10 * 3000)
    asm = FrameAssembler(H264Depacketizer(), reorder_window=4)
    frames = []
    for p in packets:
        if p is not target:
            asm.push(*p)
        while (f := asm.pop_frame()) is not None:
            frames.append(f)
    asm.flush()
    while (f := asm.pop_frame()) is not None:
        frames.append(f)
    assert 10 * 3000 not in {f.timestamp for f in frames}
    assert asm.frames_dropped == 1
    assert decode("h264", [f.data for f in frames[:10]]) == 10
