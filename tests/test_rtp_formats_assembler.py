"""Packetizers (MTU bounds, marker, S/PID, B/E, SS, STAP-A/FU-A, mode 0, parameter sets) and
the frame assembler (reorder, sequence wraparound, loss, duplicates, bounded memory)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcstack.rtp.formats import (
    Depacketizer,
    Frame,
    FrameAssembler,
    G711Depacketizer,
    G711Packetizer,
    H264Depacketizer,
    H264Packetizer,
    OpusDepacketizer,
    OpusPacketizer,
    StapA,
    Vp8Depacketizer,
    Vp8Packetizer,
    Vp8PayloadDescriptor,
    Vp9Depacketizer,
    Vp9Packetizer,
    Vp9PayloadDescriptor,
    split_annexb,
)

SPS = b"\x67\x42\xc0\x1f\xda\x01\x40\x16\xe8\x40"
PPS = b"\x68\xce\x3c\x80"


def vp8_frame(size: int, key: bool) -> bytes:
    """A VP8 frame tag (RFC 6386 §9.1) with first partition size 40, then filler."""
    first = 40
    tag = (0 if key else 1) | (1 << 4) | (first << 5)
    head = bytes([tag & 0xFF, (tag >> 8) & 0xFF, (tag >> 16) & 0xFF])
    if key:
        head += b"\x9d\x01\x2a" + bytes([0x80, 0x02, 0xE0, 0x01])
    return head + bytes((i * 7 + size) & 0xFF for i in range(size - len(head)))


def vp9_frame(size: int, key: bool) -> bytes:
    if key:
        bits = "10000010" + format(0x498342, "024b") + "0010"
        bits += format(319, "016b") + format(239, "016b")
        bits += "0" * (-len(bits) % 8)
        head = int(bits, 2).to_bytes(len(bits) // 8, "big")
    else:
        head = bytes([0b10000110])
    return head + bytes((i * 3 + size) & 0xFF for i in range(size - len(head)))


def h264_au(sizes: list[int], idr: bool, with_ps: bool = True) -> bytes:
    nals = [SPS, PPS] if idr and with_ps else []
    for i, size in enumerate(sizes):
        head = 0x65 if idr else 0x41
        nals.append(bytes([head]) + bytes((j + i + 1) & 0xFF or 1 for j in range(size - 1)))
    return b"".join(b"\x00\x00\x00\x01" + n for n in nals)


def feed(asm: FrameAssembler, packets: list[tuple[int, int, bool, bytes]]) -> list[Frame]:
    out = []
    for p in packets:
        asm.push(*p)
        while (f := asm.pop_frame()) is not None:
            out.append(f)
    return out


def stream(
    packetize: Callable[[bytes], list[tuple[bytes, bool]]],
    frames: list[bytes],
    seq0: int,
    step: int = 3000,
) -> list[tuple[int, int, bool, bytes]]:
    packets = []
    seq = seq0
    for i, frame in enumerate(frames):
        for payload, marker in packetize(frame):
            packets.append((seq & 0xFFFF, (i * step) & 0xFFFFFFFF, marker, payload))
            seq += 1
    return packets


# --- packetizers -------------------------------------------------------------------------------


def test_vp8_packetizer_bounds_and_bits() -> None:
    frame = vp8_frame(3000, key=True)
    pk = Vp8Packetizer(1000, picture_id=0x7FFF)
    out = pk.packetize(frame)
    assert all(len(p) <= 1000 for p, _ in out)
    assert [m for _, m in out] == [False] * (len(out) - 1) + [True]
    descs = [Vp8PayloadDescriptor.parse(p)[0] for p, _ in out]
    assert {d.picture_id for d in descs} == {0x7FFF}
    assert pk.picture_id == 0  # MUST wrap to 0
    # partition 0 (10 + 40 bytes) alone, then the rest with PID 1, S on each partition start
    assert [(d.start_of_partition, d.partition_index) for d in descs] == [(True, 0), (True, 1)] + [
        (False, 1)
    ] * (len(out) - 2)
    assert len(out[0][0]) == 4 + 50
    assert b"".join(p[4:] for p, _ in out) == frame


def test_vp8_packetizer_not_partition_aware() -> None:
    out = Vp8Packetizer(500, partition_aware=False).packetize(vp8_frame(1200, key=False))
    descs = [Vp8PayloadDescriptor.parse(p)[0] for p, _ in out]
    assert [d.start_of_partition for d in descs] == [True, False, False]
    assert {d.partition_index for d in descs} == {0}


def test_vp9_packetizer_bits_and_ss() -> None:
    frame = vp9_frame(2500, key=True)
    out = Vp9Packetizer(1200, picture_id=4000).packetize(frame)
    assert all(len(p) <= 1200 for p, _ in out)
    parsed = [Vp9PayloadDescriptor.parse(p) for p, _ in out]
    first = parsed[0][0]
    assert first.start_of_frame and not first.end_of_frame and first.is_keyframe_start
    assert first.ss is not None and first.ss.resolutions == ((320, 240),)
    assert all(d.ss is None for d, _ in parsed[1:])
    assert parsed[-1][0].end_of_frame and out[-1][1]
    assert {d.picture_id for d, _ in parsed} == {4000}
    assert b"".join(p[n:] for (p, _), (_, n) in zip(out, parsed, strict=True)) == frame
    inter = Vp9Packetizer(1200).packetize(vp9_frame(100, key=False))
    d, _ = Vp9PayloadDescriptor.parse(inter[0][0])
    assert d.inter_picture_predicted and d.start_of_frame and d.end_of_frame and d.ss is None


def test_h264_packetizer_stap_single_fu() -> None:
    au = h264_au([3000, 500], idr=True)
    out = H264Packetizer(1200).packetize(au)
    assert all(len(p) <= 1200 for p, _ in out)
    kinds = [p[0] & 0x1F for p, _ in out]
    assert kinds == [24, 28, 28, 28, 5]
    assert StapA.parse(out[0][0]).nal_units == (SPS, PPS)
    assert [m for _, m in out] == [False] * 4 + [True]


def test_h264_parameter_sets_out_of_band() -> None:
    pk = H264Packetizer(1200, parameter_sets=[SPS, PPS])
    out = pk.packetize(h264_au([300], idr=True, with_ps=False))
    assert StapA.parse(out[0][0]).nal_units == (SPS, PPS, out_nal(out))
    # a P frame gets none
    assert [p[0] & 0x1F for p, _ in pk.packetize(h264_au([300], idr=False))] == [1]


def out_nal(out: list[tuple[bytes, bool]]) -> bytes:
    return StapA.parse(out[0][0]).nal_units[-1]


def test_h264_parameter_sets_learned_in_band() -> None:
    pk = H264Packetizer(1200)
    pk.packetize(h264_au([100], idr=True))
    out = pk.packetize(h264_au([2000], idr=True, with_ps=False))
    assert StapA.parse(out[0][0]).nal_units == (SPS, PPS)


def test_h264_mode_0() -> None:
    pk = H264Packetizer(1200, packetization_mode=0)
    out = pk.packetize(h264_au([1000], idr=True))
    assert [p[0] & 0x1F for p, _ in out] == [7, 8, 5]
    with pytest.raises(ValueError, match="packetization-mode 0"):
        pk.packetize(h264_au([1201], idr=False))


def test_audio_packetizers() -> None:
    assert OpusPacketizer(1200).packetize(b"\xf8ab", talkspurt_start=True) == [(b"\xf8ab", True)]
    assert G711Packetizer(160).packetize(bytes(160)) == [(bytes(160), False)]
    for pk in (OpusPacketizer(10), G711Packetizer(10)):
        with pytest.raises(ValueError):
            pk.packetize(bytes(11))


# --- the assembler -----------------------------------------------------------------------------

PacketizeFn = Callable[[bytes], list[tuple[bytes, bool]]]
CODECS: dict[
    str,
    tuple[
        Callable[[], PacketizeFn], Callable[[], Depacketizer], Callable[[int, bool], bytes] | None
    ],
] = {
    "vp8": (lambda: Vp8Packetizer(300, picture_id=5).packetize, Vp8Depacketizer, vp8_frame),
    "vp9": (lambda: Vp9Packetizer(300).packetize, Vp9Depacketizer, vp9_frame),
    "h264": (lambda: H264Packetizer(300).packetize, H264Depacketizer, None),
}


def make_frames(codec: str, rng: random.Random, count: int) -> list[bytes]:
    frames = []
    for i in range(count):
        size = rng.randrange(60, 1500)
        key = i % 10 == 0
        if codec == "h264":
            frames.append(h264_au([size, rng.randrange(2, 80)], idr=key))
        else:
            make = CODECS[codec][2]
            assert make is not None
            frames.append(make(size, key))
    return frames


def expected(codec: str, frame: bytes) -> bytes:
    if codec == "h264":  # the depacketizer writes 4-byte start codes
        return b"".join(b"\x00\x00\x00\x01" + n for n in split_annexb(frame))
    return frame


def local_shuffle(items: list, rng: random.Random, span: int) -> list:  # type: ignore[type-arg]
    keyed = [(i + rng.uniform(0, span), x) for i, x in enumerate(items)]
    return [x for _, x in sorted(keyed, key=lambda k: k[0])]


@pytest.mark.parametrize("codec", sorted(CODECS))
@pytest.mark.parametrize("seed", range(3))
def test_shuffle_round_trip_across_wraparound(codec: str, seed: int) -> None:
    rng = random.Random(seed)
    frames = make_frames(codec, rng, 40)
    packets = stream(CODECS[codec][0](), frames, seq0=65500)
    shuffled = local_shuffle(packets, rng, 20)
    dup = rng.randrange(len(shuffled) - 5)
    shuffled.insert(dup + 5, shuffled[dup])  # a duplicate shortly after the original
    asm = FrameAssembler(CODECS[codec][1]())
    got = feed(asm, shuffled)
    assert [f.data for f in got] == [expected(codec, f) for f in frames]
    assert [f.keyframe for f in got] == [i % 10 == 0 for i in range(40)]
    assert [f.timestamp for f in got] == [i * 3000 for i in range(40)]
    assert asm.frames_dropped == 0 and asm.pending_packets == 0
    assert asm.packets_duplicate + asm.packets_late == 1


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_lost_packet_gives_no_corrupt_frame(codec: str) -> None:
    rng = random.Random(7)
    frames = make_frames(codec, rng, 30)
    packets = stream(CODECS[codec][0](), frames, seq0=100)
    lost = {5, 17, 18, 40}
    kept = [p for i, p in enumerate(packets) if i not in lost]
    asm = FrameAssembler(CODECS[codec][1](), reorder_window=8)
    got = feed(asm, local_shuffle(kept, rng, 4))
    asm.flush()
    while (f := asm.pop_frame()) is not None:
        got.append(f)
    want = {
        f_ts: expected(codec, fr) for f_ts, fr in zip(range(0, 90000, 3000), frames, strict=True)
    }
    hit = {packets[i][1] for i in lost}
    for f in got:
        assert f.data == want[f.timestamp]  # every frame handed out is exact
        assert f.timestamp not in hit
    assert len(got) == len(frames) - len(hit)
    assert asm.frames_dropped == len(hit)
    assert asm.packets_lost == len(lost)
    assert [f.timestamp for f in got] == sorted(f.timestamp for f in got)


def test_audio_every_packet_is_a_frame() -> None:
    pk = OpusPacketizer(1200)
    packets = [(s, s * 960, False, bytes([0xF8, s])) for s in range(20)]
    del packets[3]
    asm = FrameAssembler(OpusDepacketizer(), reorder_window=4)
    got = feed(asm, packets)
    assert [f.data[1] for f in got] == [s for s in range(20) if s != 3][: len(got)]
    assert asm.frames_dropped == 1 and asm.packets_lost == 1
    assert pk.packetize(b"\xf8") == [(b"\xf8", False)]
    asm2 = FrameAssembler(G711Depacketizer())
    asm2.push(1, 160, True, bytes(160))
    frame = asm2.pop_frame()
    assert frame is not None and frame.keyframe and frame.data == bytes(160)


def test_malformed_duplicate_and_late_are_counted() -> None:
    asm = FrameAssembler(Vp8Depacketizer())
    asm.push(1, 0, True, b"")
    assert asm.packets_malformed == 1
    payload = Vp8Packetizer(100).packetize(vp8_frame(50, key=True))[0][0]
    asm.push(2, 0, True, payload)
    asm.push(2, 0, True, payload)
    assert asm.pop_frame() is not None
    assert asm.packets_late == 1  # already handed out
    assert asm.pop_frame() is None


def test_memory_is_bounded() -> None:
    asm = FrameAssembler(Vp8Depacketizer(), reorder_window=10_000, max_packets=50)
    body = Vp8Packetizer(100, partition_aware=False)
    for seq in range(1, 500):  # seq 0 (the start of a huge frame) never arrives
        asm.push(seq, 0, False, body.packetize(b"\x01\x00\x00xxxx")[0][0][0:1] + b"\x00zz")
        assert asm.pending_packets <= 50
    assert asm.frames_dropped >= 1


@settings(max_examples=30, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, 0xFFFF))
def test_property_vp8_reorder_any_start(rng: random.Random, seq0: int) -> None:
    frames = [vp8_frame(rng.randrange(20, 700), i == 0) for i in range(8)]
    packets = stream(Vp8Packetizer(200).packetize, frames, seq0=seq0)
    got = feed(FrameAssembler(Vp8Depacketizer()), local_shuffle(packets, rng, 6))
    assert [f.data for f in got] == frames
