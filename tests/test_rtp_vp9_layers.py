"""VP9 (RFC 9628) flexible mode and spatial/temporal layers: the packetizer's descriptors
checked field by field against an independent model of the stream, layered pictures through
loss and reordering, descriptor round trips, and libvpx-vp9 output through flexible mode."""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, replace
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcstack.rtp.formats import Frame, FrameAssembler, Packetizer
from rtcstack.rtp.formats.vp9 import (
    Vp9Depacketizer,
    Vp9LayerFrame,
    Vp9Packetizer,
    Vp9PayloadDescriptor,
    Vp9Picture,
    Vp9PictureAssembler,
    Vp9PictureGroupEntry,
    Vp9ScalabilityStructure,
)

Packet = tuple[int, int, bool, bytes]


def vp9_frame(size: int, key: bool, width: int = 320, height: int = 240) -> bytes:
    """A VP9 uncompressed header (profile 0, BT.601) of a key or inter frame, then filler."""
    if key:
        bits = "10000010" + format(0x498342, "024b") + "0010"
        bits += format(width - 1, "016b") + format(height - 1, "016b")
        bits += "0" * (-len(bits) % 8)
        head = int(bits, 2).to_bytes(len(bits) // 8, "big")
    else:
        head = bytes([0b10000110])
    return head + bytes((i * 3 + size) & 0xFF for i in range(size - len(head)))


def parse(payload: bytes) -> tuple[Vp9PayloadDescriptor, bytes]:
    desc, size = Vp9PayloadDescriptor.parse(payload)
    return desc, payload[size:]


def local_shuffle(items: list[Packet], rng: random.Random, span: int) -> list[Packet]:
    keyed = [(i + rng.uniform(0, span), x) for i, x in enumerate(items)]
    return [x for _, x in sorted(keyed, key=lambda k: k[0])]


def pictures_of(asm: Vp9PictureAssembler, packets: list[Packet]) -> list[Vp9Picture]:
    out = []
    for p in packets:
        asm.push(*p)
        while (pic := asm.pop_picture()) is not None:
            out.append(pic)
    return out


def frames_of(asm: FrameAssembler, packets: list[Packet]) -> list[Frame]:
    out = []
    for p in packets:
        asm.push(*p)
        while (f := asm.pop_frame()) is not None:
            out.append(f)
    return out


# --- flexible mode, single layer -----------------------------------------------------------------


def test_packetizer_protocol_still_holds() -> None:
    for flexible in (False, True):
        pk: Packetizer = Vp9Packetizer(1200, flexible=flexible)
        assert pk.packetize(vp9_frame(100, key=True))[-1][1]


def test_non_flexible_packetize_is_unchanged() -> None:
    # The bytes of the single-layer non-flexible mode, written out by hand: I|P|B|E, 15-bit PID.
    out = Vp9Packetizer(1200, picture_id=0x1234).packetize(vp9_frame(50, key=False))
    assert out == [(bytes([0xCC, 0x92, 0x34]) + vp9_frame(50, key=False), True)]
    key = vp9_frame(50, key=True)
    out = Vp9Packetizer(1200, picture_id=0x7FFF).packetize(key)
    # I|B|E|V, PID 0x7FFF, SS: N_S=0 Y=1, 320x240
    ss = bytes([0x10, 0x01, 0x40, 0x00, 0xF0])
    assert out == [(bytes([0x8E, 0xFF, 0xFF]) + ss + key, True)]


def test_flexible_single_layer_descriptors() -> None:
    pk = Vp9Packetizer(400, picture_id=0x7FFE, flexible=True)
    key = pk.packetize(vp9_frame(1000, key=True))
    inter = pk.packetize(vp9_frame(900, key=False))
    assert pk.picture_id == 0  # wrapped (RFC 9628 §4.2: "MUST wrap")
    descs = [parse(p)[0] for p, _ in key]
    assert len(key) == 3 and all(len(p) <= 400 for p, _ in key + inter)
    for i, d in enumerate(descs):
        assert d.flexible and d.picture_id == 0x7FFE and d.long_picture_id
        assert not d.inter_picture_predicted and d.p_diffs == () and d.tid is None
        assert (d.start_of_frame, d.end_of_frame) == (i == 0, i == 2)
        assert (d.ss is not None) == (i == 0)
    assert descs[0].ss == Vp9ScalabilityStructure(1, ((320, 240),))
    assert descs[0].is_keyframe_start
    # RFC 9628 §4.2: P and F set -> P_DIFF 1 refers to the previous picture (0x7FFF)
    for i, (payload, marker) in enumerate(inter):
        d = parse(payload)[0]
        assert d.flexible and d.inter_picture_predicted and d.p_diffs == (1,)
        assert d.picture_id == 0x7FFF and d.ss is None
        assert marker == d.end_of_frame == (i == len(inter) - 1)
    assert [m for _, m in key] == [False, False, True]


@pytest.mark.parametrize("seed", range(3))
def test_flexible_round_trip_reordered(seed: int) -> None:
    rng = random.Random(seed)
    frames = [vp9_frame(rng.randrange(20, 1500), key=i % 8 == 0) for i in range(30)]
    pk = Vp9Packetizer(300, picture_id=rng.randrange(0x8000), flexible=True)
    packets: list[Packet] = []
    seq = 65500
    for i, frame in enumerate(frames):
        for payload, marker in pk.packetize(frame):
            packets.append((seq & 0xFFFF, i * 3000, marker, payload))
            seq += 1
    shuffled = local_shuffle(packets, rng, 12)
    shuffled.insert(20, shuffled[3])
    asm = FrameAssembler(Vp9Depacketizer())
    got = frames_of(asm, shuffled)
    assert [f.data for f in got] == frames
    assert [f.keyframe for f in got] == [i % 8 == 0 for i in range(30)]
    assert asm.frames_dropped == 0 and asm.pending_packets == 0


def test_depacketizer_start_and_keyframe_flags() -> None:
    dep = Vp9Depacketizer()

    def flags(**kw: object) -> tuple[bool | None, bool]:
        desc = Vp9PayloadDescriptor(picture_id=9, tid=0, tl0_pic_idx=1, **kw)  # type: ignore[arg-type]
        _, start, key = dep.depacketize(desc.serialize() + b"data")
        assert dep.last_descriptor == desc and dep.last_body_size == 4
        return start, key

    assert flags(start_of_frame=True) == (True, True)  # B, P = 0, SID 0: a key picture
    assert flags(start_of_frame=True, inter_picture_predicted=True) == (True, False)
    # a higher layer's B may or may not start the picture: the assembler decides
    assert flags(start_of_frame=True, sid=1, inter_layer_dependency=True) == (None, False)
    assert flags(end_of_frame=True) == (False, False)


# --- the 3 spatial x 3 temporal layer stream of RFC 9628 §4.5.1 -----------------------------


# RFC 9628 §4.5.1 Table 1: a PG of four pictures with TIDs 0, 2, 1, 2.  Inter-picture references
# as picture distances: T0 -> the T0 picture 4 back, T2 -> 1 back, T1 -> the T0 2 back, T2 -> the
# T1 1 back.  "This structure is constructed such that the U bit can always be set."
PG = (
    Vp9PictureGroupEntry(0, True, (4,)),
    Vp9PictureGroupEntry(2, True, (1,)),
    Vp9PictureGroupEntry(1, True, (2,)),
    Vp9PictureGroupEntry(2, True, (1,)),
)
RESOLUTIONS = ((320, 180), (640, 360), (1280, 720))
SS_NONFLEX = Vp9ScalabilityStructure(3, RESOLUTIONS, PG)
SS_FLEX = Vp9ScalabilityStructure(3, RESOLUTIONS, None)
KEY_EVERY = 8  # pictures; a multiple of the PG length
SIZES = (800, 1500, 2200)  # bytes per layer frame S0, S1, S2
MTU = 700


@dataclass
class Sent:
    timestamp: int
    keyframe: bool
    layers: list[tuple[Vp9PayloadDescriptor, bytes]]  # expected first-packet descriptor, bytes


def layered_stream(
    flexible: bool, count: int, seed: int, seq0: int = 0
) -> tuple[list[Packet], list[Sent]]:
    """Packets of ``count`` 3x3 pictures, and an independent model of what each layer frame's
    first packet must carry."""
    rng = random.Random(seed)
    pid0, tl0_start = rng.randrange(0x8000), rng.randrange(256)
    pk = Vp9Packetizer(
        MTU,
        picture_id=pid0,
        flexible=flexible,
        tl0_pic_idx=tl0_start,
        scalability=SS_FLEX if flexible else SS_NONFLEX,
    )
    packets: list[Packet] = []
    sent: list[Sent] = []
    seq = seq0
    tl0_count = 0
    for i in range(count):
        key = i % KEY_EVERY == 0
        entry = PG[i % len(PG)]
        tid = entry.tid
        tl0 = (tl0_start + tl0_count - (0 if tid == 0 else 1)) & 0xFF
        if tid == 0:
            tl0_count += 1
        layers = []
        model = []
        for sid in range(3):
            data = rng.randbytes(SIZES[sid] + rng.randrange(-50, 50))
            refs = () if key else entry.p_diffs
            z = sid == 2  # the top layer is never a reference for upper layers
            layers.append(
                Vp9LayerFrame(
                    data,
                    sid=sid,
                    tid=tid,
                    switching_up=entry.switching_up,
                    inter_layer_dependency=sid > 0,
                    p_diffs=refs if flexible else None,
                    not_reference_for_upper=z,
                )
            )
            model.append(
                (
                    Vp9PayloadDescriptor(
                        start_of_frame=True,
                        end_of_frame=False,
                        inter_picture_predicted=not key,
                        flexible=flexible,
                        not_reference_for_upper=z,
                        picture_id=(pid0 + i) & 0x7FFF,
                        tid=tid,
                        switching_up=entry.switching_up,
                        sid=sid,
                        inter_layer_dependency=sid > 0,
                        tl0_pic_idx=None if flexible else tl0,
                        p_diffs=refs if flexible else (),
                        ss=(SS_FLEX if flexible else SS_NONFLEX) if key and sid == 0 else None,
                    ),
                    data,
                )
            )
        ts = (i * 3000 + 0xFFFF0000) & 0xFFFFFFFF
        for payload, marker in pk.packetize_picture(layers, keyframe=key):
            packets.append((seq & 0xFFFF, ts, marker, payload))
            seq += 1
        sent.append(Sent(ts, key, model))
    return packets, sent


@pytest.mark.parametrize("flexible", [False, True])
def test_layered_stream_on_the_wire(flexible: bool) -> None:
    packets, sent = layered_stream(flexible, 16, seed=1)
    by_ts: dict[int, list[Packet]] = {}
    for p in packets:
        by_ts.setdefault(p[1], []).append(p)
    assert all(len(p[3]) <= MTU for p in packets)
    for pic in sent:
        pkts = by_ts[pic.timestamp]
        # RFC 9628 §4.1: M "MUST be set to one for the final packet of the highest spatial-layer
        # frame (the final packet of the picture); otherwise, it is zero."
        assert [p[2] for p in pkts] == [False] * (len(pkts) - 1) + [True]
        parsed = [parse(p[3]) for p in pkts]
        for want, data in pic.layers:
            mine = [(d, b) for d, b in parsed if d.sid == want.sid]
            assert len(mine) > 1  # every layer frame here needs several packets
            assert b"".join(b for _, b in mine) == data
            for k, (d, _) in enumerate(mine):
                # B only on the first, E only on the last packet of the layer frame (§4.3), the
                # SS only on the first packet of the key picture, all else as in the model.
                assert d.start_of_frame == (k == 0)
                assert d.end_of_frame == (k == len(mine) - 1)
                assert d == replace(
                    want,
                    start_of_frame=k == 0,
                    end_of_frame=k == len(mine) - 1,
                    ss=want.ss if k == 0 else None,
                )
        assert [d.sid for d, _ in parsed] == sorted(d.sid for d, _ in parsed)
        assert parsed[0][0].is_keyframe_start == pic.keyframe


@pytest.mark.parametrize("flexible", [False, True])
@pytest.mark.parametrize("seed", range(2))
def test_layered_stream_reordered_across_wraparound(flexible: bool, seed: int) -> None:
    packets, sent = layered_stream(flexible, 24, seed=seed, seq0=65450)
    rng = random.Random(seed + 10)
    shuffled = local_shuffle(packets, rng, 15)
    shuffled.insert(40, shuffled[30])  # a duplicate
    asm = Vp9PictureAssembler()
    got = pictures_of(asm, shuffled)
    assert len(got) == len(sent)
    for pic, want in zip(got, sent, strict=True):
        assert pic.timestamp == want.timestamp and pic.keyframe == want.keyframe
        assert [layer.data for layer in pic.layers] == [d for _, d in want.layers]
        for layer, (desc, _) in zip(pic.layers, want.layers, strict=True):
            # every field the receiver sees, except E (the first packet has no E here)
            assert not layer.descriptor.end_of_frame
            assert layer.descriptor == desc
        assert pic.picture_id == want.layers[0][0].picture_id
        assert pic.data == b"".join(d for _, d in want.layers)
    assert asm.assembler.frames_dropped == 0 and asm.pictures_malformed == 0
    assert asm.assembler.packets_duplicate + asm.assembler.packets_late == 1
    assert asm.pending_descriptors == 0  # nothing left behind


@pytest.mark.parametrize("flexible", [False, True])
def test_superframe_mode_one_frame_per_picture(flexible: bool) -> None:
    packets, sent = layered_stream(flexible, 12, seed=5)
    asm = FrameAssembler(Vp9Depacketizer())
    got = frames_of(asm, local_shuffle(packets, random.Random(2), 10))
    assert [f.data for f in got] == [b"".join(d for _, d in s.layers) for s in sent]
    assert [f.keyframe for f in got] == [s.keyframe for s in sent]
    assert [f.timestamp for f in got] == [s.timestamp for s in sent]


@pytest.mark.parametrize("flexible", [False, True])
@pytest.mark.parametrize("layer", [0, 1, 2])
def test_lost_layer_frame_packet_drops_that_picture_only(flexible: bool, layer: int) -> None:
    packets, sent = layered_stream(flexible, 12, seed=3)
    target_ts = sent[5].timestamp
    # the second packet of the layer frame S<layer> of picture 5
    mine = [i for i, p in enumerate(packets) if p[1] == target_ts and parse(p[3])[0].sid == layer]
    lost = mine[1]
    kept = [p for i, p in enumerate(packets) if i != lost]
    asm = Vp9PictureAssembler(reorder_window=8)
    got = pictures_of(asm, local_shuffle(kept, random.Random(4), 4))
    asm.flush()
    while (pic := asm.pop_picture()) is not None:
        got.append(pic)
    assert [p.timestamp for p in got] == [s.timestamp for s in sent if s.timestamp != target_ts]
    want = {s.timestamp: [d for _, d in s.layers] for s in sent}
    for pic in got:
        assert [layer.data for layer in pic.layers] == want[pic.timestamp]
    assert asm.assembler.frames_dropped == 1 and asm.assembler.packets_lost == 1
    assert asm.pictures_malformed == 0 and asm.pending_descriptors == 0


def test_lost_key_picture_base_layer_is_not_handed_out() -> None:
    packets, sent = layered_stream(False, 12, seed=6)
    # lose every packet of S0 of the key picture 8: its S1/S2 (D=1) must not come out
    key_ts = sent[8].timestamp
    kept = [p for p in packets if not (p[1] == key_ts and parse(p[3])[0].sid == 0)]
    asm = Vp9PictureAssembler(reorder_window=8)
    got = pictures_of(asm, kept)
    asm.flush()
    while (pic := asm.pop_picture()) is not None:
        got.append(pic)
    assert key_ts not in {p.timestamp for p in got}
    assert len(got) == 11


def test_picture_without_base_layer_starts_at_its_lowest_layer() -> None:
    # S0 at half the frame rate: odd pictures carry S1 (D=0) only.  RFC 9628 §4.2 B: "Note that
    # this frame might not be the first frame of a picture" -- nor the base layer.
    pk = Vp9Packetizer(500, flexible=True)
    packets: list[Packet] = []
    pictures = []
    for i in range(10):
        key = i == 0
        if i % 2 == 0:
            layers = [
                Vp9LayerFrame(bytes([i]) * 700, sid=0, p_diffs=None if key else (2,)),
                Vp9LayerFrame(bytes([i + 100]) * 900, sid=1, inter_layer_dependency=True),
            ]
        else:
            layers = [Vp9LayerFrame(bytes([i + 100]) * 900, sid=1, tid=1, p_diffs=(1,))]
        pictures.append(layers)
        for payload, marker in pk.packetize_picture(layers, keyframe=key):
            packets.append((len(packets), i * 3000, marker, payload))
    asm = Vp9PictureAssembler()
    got = pictures_of(asm, local_shuffle(packets, random.Random(1), 5))
    assert [[x.data for x in p.layers] for p in got] == [[x.data for x in ls] for ls in pictures]
    assert [[x.descriptor.sid for x in p.layers] for p in got] == [
        [x.sid for x in ls] for ls in pictures
    ]
    assert [p.keyframe for p in got] == [True] + [False] * 9
    # S1 of a key picture: P = 0 with D = 1 (inter-layer prediction only)
    s1 = got[0].layers[1].descriptor
    assert not s1.inter_picture_predicted and s1.inter_layer_dependency and s1.p_diffs == ()


def test_marker_on_the_highest_layer_sent() -> None:
    # RFC 9628 §4.1: "this bit MUST be set to one for the target spatial-layer frame if a stream
    # is being rewritten to remove higher spatial layers" -- a picture of S0 and S1 only.
    pk = Vp9Packetizer(200, scalability=Vp9ScalabilityStructure(3, RESOLUTIONS, PG))
    out = pk.packetize_picture(
        [Vp9LayerFrame(b"a" * 300), Vp9LayerFrame(b"b" * 300, sid=1, inter_layer_dependency=True)],
        keyframe=True,
    )
    descs = [parse(p)[0] for p, _ in out]
    assert [m for _, m in out] == [False] * (len(out) - 1) + [True]
    assert descs[-1].sid == 1 and descs[-1].end_of_frame
    assert [d.end_of_frame for d in descs].count(True) == 2


def test_default_ss_reads_layer_resolutions() -> None:
    layers = [
        Vp9LayerFrame(vp9_frame(200, True, w, h), sid=s, inter_layer_dependency=s > 0)
        for s, (w, h) in enumerate(RESOLUTIONS)
    ]
    out = Vp9Packetizer(1200).packetize_picture(layers, keyframe=True)
    first = parse(out[0][0])[0]
    assert first.ss == Vp9ScalabilityStructure(3, RESOLUTIONS, None)
    assert first.tl0_pic_idx == 0 and first.tid == 0
    # opaque layer data: N_S only
    out = Vp9Packetizer(1200).packetize_picture(
        [Vp9LayerFrame(b"x"), Vp9LayerFrame(b"y", sid=2)], keyframe=True
    )
    assert parse(out[0][0])[0].ss == Vp9ScalabilityStructure(3, None, None)


def test_tl0picidx_wraps() -> None:
    pk = Vp9Packetizer(1200, tl0_pic_idx=254)
    seen = []
    for i in range(4):
        tid = 0 if i % 2 == 0 else 1
        out = pk.packetize_picture([Vp9LayerFrame(b"z", tid=tid)], keyframe=i == 0)
        seen.append(parse(out[0][0])[0].tl0_pic_idx)
    # RFC 9628 §4.2: "MUST restart at zero after reaching the maximum number 255"
    assert seen == [254, 254, 255, 255]
    out = pk.packetize_picture([Vp9LayerFrame(b"z")])
    assert parse(out[0][0])[0].tl0_pic_idx == 0


@pytest.mark.parametrize(
    ("flexible", "layers", "keyframe", "match"),
    [
        (False, [Vp9LayerFrame(b"a", inter_layer_dependency=True)], False, "D set"),
        (False, [Vp9LayerFrame(b"a", sid=1), Vp9LayerFrame(b"b", sid=1)], False, "increasing"),
        (
            False,
            [Vp9LayerFrame(b"a"), Vp9LayerFrame(b"b", sid=2, inter_layer_dependency=True)],
            False,
            "D set",
        ),
        (False, [Vp9LayerFrame(b"a", p_diffs=(1,))], False, "flexible"),
        (False, [Vp9LayerFrame(b"a", tid=1, inter_picture_predicted=False)], False, "TID 0"),
        (False, [Vp9LayerFrame(b"a"), Vp9LayerFrame(b"b", sid=1, tid=1)], False, "TID"),
        (False, [Vp9LayerFrame(b"a", sid=1)], True, "base layer"),
        (True, [Vp9LayerFrame(b"a", p_diffs=(1,))], True, "key picture"),
        (True, [Vp9LayerFrame(b"a", tid=2, p_diffs=())], False, "TID 0"),
        (True, [Vp9LayerFrame(b"a", p_diffs=(), inter_picture_predicted=True)], False, "P must"),
        (True, [Vp9LayerFrame(b"a", p_diffs=(128,))], False, "P_DIFF"),
        (True, [Vp9LayerFrame(b"a", p_diffs=(1, 2, 3, 4))], False, "P_DIFF"),
        (True, [Vp9LayerFrame(b"")], False, "empty"),
        (True, [], False, "1 to 8"),
    ],
)
def test_packetize_picture_rejects(
    flexible: bool, layers: list[Vp9LayerFrame], keyframe: bool, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        Vp9Packetizer(1200, flexible=flexible).packetize_picture(layers, keyframe=keyframe)


def test_rejected_picture_leaves_the_packetizer_unchanged() -> None:
    pk = Vp9Packetizer(1200, picture_id=10, tl0_pic_idx=3, scalability=SS_NONFLEX)
    pk.packetize_picture([Vp9LayerFrame(b"k")], keyframe=True)
    bad = [Vp9LayerFrame(b"a"), Vp9LayerFrame(b"b", sid=1, p_diffs=(1,))]  # P_DIFF, non-flexible
    with pytest.raises(ValueError):
        pk.packetize_picture(bad)
    assert (pk.picture_id, pk.tl0_pic_idx) == (11, 4)
    big = Vp9ScalabilityStructure(8, ((1, 1),) * 8, PG)
    pk2 = Vp9Packetizer(30, picture_id=5, scalability=big)
    with pytest.raises(ValueError, match="no room"):
        pk2.packetize(vp9_frame(40, key=True))
    assert pk2.picture_id == 5
    # the next picture (PG entry 1, TID 2) still follows the PG of the key picture
    out = pk.packetize_picture([Vp9LayerFrame(b"c", tid=2, switching_up=True)])
    d = parse(out[0][0])[0]
    assert (d.picture_id, d.tid, d.tl0_pic_idx) == (11, 2, 3)


def test_non_flexible_tid_must_follow_the_picture_group() -> None:
    pk = Vp9Packetizer(1200, scalability=SS_NONFLEX)
    pk.packetize_picture([Vp9LayerFrame(b"k")], keyframe=True)
    pk.packetize_picture([Vp9LayerFrame(b"t2", tid=2, switching_up=True)])
    # RFC 9628 §4.2 TID: "the value of the TID MUST match the corresponding TID value of the
    # mapped picture in the PG" -- the third picture of the PG has TID 1
    with pytest.raises(ValueError, match="PG says 1"):
        pk.packetize_picture([Vp9LayerFrame(b"t2", tid=2)])
    with pytest.raises(ValueError, match="key pictures only"):
        pk.packetize_picture([Vp9LayerFrame(b"t1", tid=1)], ss=SS_NONFLEX)


def test_tiny_mtu_with_big_ss_is_rejected() -> None:
    ss = Vp9ScalabilityStructure(8, ((1, 1),) * 8, None)
    with pytest.raises(ValueError, match="no room"):
        Vp9Packetizer(20, scalability=ss).packetize_picture([Vp9LayerFrame(b"a")], keyframe=True)


def test_malformed_layer_structure_is_counted_not_raised() -> None:
    # A picture whose layer frame never ends (no E), then one with two picture IDs.
    d_mid = Vp9PayloadDescriptor(picture_id=1, tid=0, tl0_pic_idx=0).serialize()
    d_start = replace(Vp9PayloadDescriptor.parse(d_mid)[0], start_of_frame=True).serialize()
    asm = Vp9PictureAssembler()
    asm.push(0, 0, True, d_start + b"one")  # B, no E, marker: a picture, but no layer end
    asm.push(1, 3000, True, b"\xff")  # malformed descriptor
    assert asm.pop_picture() is None
    assert asm.assembler.packets_malformed == 1
    good = Vp9Packetizer(1200).packetize_picture([Vp9LayerFrame(b"two")], keyframe=True)
    # two layer frames of one timestamp with different picture IDs
    s0 = Vp9Packetizer(1200, picture_id=5).packetize_picture([Vp9LayerFrame(b"x")])
    s1 = Vp9Packetizer(1200, picture_id=6).packetize_picture([Vp9LayerFrame(b"y", sid=1)])
    asm.push(3, 4000, False, s0[0][0])
    asm.push(4, 4000, True, s1[0][0])
    asm.push(5, 6000, True, good[0][0])
    asm.flush()  # stop waiting for sequence number 1
    pic = asm.pop_picture()
    assert pic is not None and pic.data == b"two" and pic.keyframe
    assert asm.pictures_malformed == 2 and asm.pending_descriptors == 0


def test_descriptor_memory_is_bounded_when_no_picture_completes() -> None:
    packets, _ = layered_stream(True, 60, seed=8)
    # every picture loses its last packet: nothing ever completes
    last_of_picture = {i for i, p in enumerate(packets) if p[2]}
    asm = Vp9PictureAssembler(reorder_window=8, max_packets=32)
    got = pictures_of(asm, [p for i, p in enumerate(packets) if i not in last_of_picture])
    assert got == [] and asm.pending_descriptors <= 64 and asm.assembler.pending_packets <= 32
    # then a clean key picture comes out whole
    out = Vp9Packetizer(700, flexible=True).packetize_picture(
        [Vp9LayerFrame(b"s0" * 500), Vp9LayerFrame(b"s1" * 500, sid=1)], keyframe=True
    )
    seq = packets[-1][0] + 1
    tail = [((seq + i) & 0xFFFF, 999_000, m, p) for i, (p, m) in enumerate(out)]
    got = pictures_of(asm, tail)
    asm.flush()
    while (pic := asm.pop_picture()) is not None:
        got.append(pic)
    assert [[x.data for x in p.layers] for p in got] == [[b"s0" * 500, b"s1" * 500]]


# --- hypothesis: descriptors in both modes with every optional field ------------------------


@st.composite
def full_descriptors(draw: st.DrawFn, flexible: bool) -> Vp9PayloadDescriptor:
    long_pid = draw(st.booleans())
    predicted = draw(st.booleans())
    n = draw(st.integers(1, 8))
    res = st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
    entry = st.builds(
        Vp9PictureGroupEntry,
        st.integers(0, 7),
        st.booleans(),
        st.lists(st.integers(0, 255), max_size=3).map(tuple),
    )
    ss = Vp9ScalabilityStructure(
        n,
        tuple(draw(st.lists(res, min_size=n, max_size=n))),
        tuple(draw(st.lists(entry, max_size=8))),
    )
    return Vp9PayloadDescriptor(
        start_of_frame=draw(st.booleans()),
        end_of_frame=draw(st.booleans()),
        inter_picture_predicted=predicted,
        flexible=flexible,
        not_reference_for_upper=draw(st.booleans()),
        picture_id=draw(st.integers(0, 0x7FFF if long_pid else 0x7F)),
        long_picture_id=long_pid,
        tid=draw(st.integers(0, 7)),
        switching_up=draw(st.booleans()),
        sid=draw(st.integers(0, 7)),
        inter_layer_dependency=draw(st.booleans()),
        tl0_pic_idx=None if flexible else draw(st.integers(0, 255)),
        p_diffs=(
            tuple(draw(st.lists(st.integers(1, 127), min_size=1, max_size=3)))
            if flexible and predicted
            else ()
        ),
        ss=draw(st.none() | st.just(ss)),
    )


@given(st.booleans().flatmap(full_descriptors), st.binary(max_size=8))
def test_descriptor_round_trip_both_modes(desc: Vp9PayloadDescriptor, tail: bytes) -> None:
    wire = desc.serialize()
    # size: 1 + PID + L (+ TL0PICIDX) + P_DIFFs + SS
    size = 1 + (2 if desc.long_picture_id else 1) + (1 if desc.flexible else 2)
    size += len(desc.p_diffs)
    if desc.ss is not None:
        size += len(desc.ss.serialize())
    assert len(wire) == size
    assert Vp9PayloadDescriptor.parse(wire + tail) == (desc, len(wire))
    assert bool(wire[0] & 0x10) == desc.flexible


@st.composite
def pictures(draw: st.DrawFn) -> tuple[bool, bool, list[Vp9LayerFrame]]:
    flexible = draw(st.booleans())
    key = draw(st.booleans())
    sids = sorted(draw(st.sets(st.integers(0, 7), min_size=1, max_size=4)))
    if key:
        sids[0] = 0
        sids = sorted(set(sids))
    tid = 0 if key else draw(st.integers(0, 7))
    layers = []
    prev = -1
    for sid in sids:
        refs = () if key else tuple(draw(st.lists(st.integers(1, 127), min_size=1, max_size=3)))
        layers.append(
            Vp9LayerFrame(
                draw(st.binary(min_size=1, max_size=600)),
                sid=sid,
                tid=tid if (flexible or not key) else 0,
                switching_up=draw(st.booleans()),
                inter_layer_dependency=sid > 0 and prev == sid - 1 and draw(st.booleans()),
                p_diffs=refs if flexible else None,
                not_reference_for_upper=draw(st.booleans()),
            )
        )
        prev = sid
    return flexible, key, layers


@given(pictures(), st.integers(40, 1500), st.integers(0, 0x7FFF))
def test_picture_round_trip(
    picture: tuple[bool, bool, list[Vp9LayerFrame]], mtu: int, pid: int
) -> None:
    flexible, key, layers = picture
    pk = Vp9Packetizer(mtu, picture_id=pid, flexible=flexible, tl0_pic_idx=7)
    out = pk.packetize_picture(layers, keyframe=key)
    assert all(len(p) <= mtu for p, _ in out)
    assert [m for _, m in out] == [False] * (len(out) - 1) + [True]
    asm = Vp9PictureAssembler()
    got = pictures_of(asm, [(i, 90, m, p) for i, (p, m) in reversed(list(enumerate(out)))])
    asm.flush()  # a lone inter picture: the assembler waits for earlier packets at stream start
    while (pic := asm.pop_picture()) is not None:
        got.append(pic)
    assert len(got) == 1 and got[0].keyframe == key
    assert len(got[0].layers) == len(layers)
    for rx, tx in zip(got[0].layers, layers, strict=True):
        d = rx.descriptor
        assert rx.data == tx.data
        assert (d.sid, d.tid, d.switching_up) == (tx.sid, tx.tid, tx.switching_up)
        assert d.inter_layer_dependency == tx.inter_layer_dependency
        assert d.not_reference_for_upper == tx.not_reference_for_upper
        assert d.picture_id == pid and d.flexible == flexible
        assert d.inter_picture_predicted == (not key)
        assert d.p_diffs == (tx.p_diffs or () if flexible else ())
        assert d.tl0_pic_idx == (None if flexible else 7 if tx.tid == 0 else 6)
        assert (d.ss is not None) == (key and tx is layers[0])


# --- a real encoder ------------------------------------------------------------------------


WIDTH, HEIGHT, COUNT = 320, 240, 20


@functools.cache
def libvpx_vp9_frames() -> tuple[tuple[bytes, bool], ...]:
    """20 libvpx-vp9 frames (key frame every 8) and the encoder's key frame flags."""
    av = pytest.importorskip("av")
    try:
        ctx = av.CodecContext.create("libvpx-vp9", "w")
    except (av.error.FFmpegError, ValueError) as exc:  # pragma: no cover - depends on the build
        pytest.skip(f"PyAV has no libvpx-vp9: {exc}")
    ctx.width, ctx.height, ctx.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    ctx.time_base = Fraction(1, 30)
    ctx.framerate = Fraction(30, 1)
    ctx.gop_size = 8
    ctx.bit_rate = 600_000
    ctx.options = {"deadline": "realtime", "lag-in-frames": "0", "cpu-used": "8"}
    rng = random.Random(2)
    encoded: list[tuple[bytes, bool]] = []
    for i in range(COUNT):
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        for plane in frame.planes:
            size = plane.line_size * plane.height
            noise = rng.randbytes(size // 4) * 4
            plane.update(bytes((b + i * 5) & 0xFF for b in noise[:size]))
        frame.pts = i
        encoded += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(frame)]
    encoded += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(None)]
    return tuple(encoded)


def decode_vp9(frames: list[bytes]) -> int:
    av = pytest.importorskip("av")
    dec = av.CodecContext.create("vp9", "r")
    decoded = 0
    for data in frames:
        for picture in dec.decode(av.Packet(data)):
            assert (picture.width, picture.height) == (WIDTH, HEIGHT)
            decoded += 1
    return decoded


def test_libvpx_vp9_through_flexible_mode() -> None:
    encoded = libvpx_vp9_frames()
    assert len(encoded) == COUNT and encoded[0][1]
    pk = Vp9Packetizer(1000, picture_id=0x7FF0, flexible=True)
    packets: list[Packet] = []
    for i, (data, key) in enumerate(encoded):
        for payload, marker in pk.packetize(data):
            d = parse(payload)[0]
            assert d.flexible and d.p_diffs == (() if key else (1,))
            packets.append((len(packets), i * 3000, marker, payload))
    assert len(packets) > 2 * COUNT  # frames span several packets
    asm = FrameAssembler(Vp9Depacketizer())
    frames = frames_of(asm, local_shuffle(packets, random.Random(3), 6))
    assert [f.data for f in frames] == [d for d, _ in encoded]
    assert [f.keyframe for f in frames] == [k for _, k in encoded]
    assert decode_vp9([f.data for f in frames]) == COUNT


@pytest.mark.parametrize("flexible", [False, True])
def test_libvpx_vp9_as_layered_pictures(flexible: bool) -> None:
    # One spatial layer sent through packetize_picture: layer indices on every packet, the SS
    # resolution read from the key frames' headers, and the picture assembler's layer frames.
    encoded = libvpx_vp9_frames()
    pk = Vp9Packetizer(1000, picture_id=3, flexible=flexible, tl0_pic_idx=250)
    packets: list[Packet] = []
    for i, (data, key) in enumerate(encoded):
        out = pk.packetize_picture([Vp9LayerFrame(data, switching_up=True)], keyframe=key)
        base = len(packets)
        packets += [(base + k, i * 3000, m, p) for k, (p, m) in enumerate(out)]
    asm = Vp9PictureAssembler()
    got = pictures_of(asm, local_shuffle(packets, random.Random(4), 6))
    assert [p.data for p in got] == [d for d, _ in encoded]
    assert [p.keyframe for p in got] == [k for _, k in encoded]
    for i, pic in enumerate(got):
        (layer,) = pic.layers
        d = layer.descriptor
        assert (d.picture_id, d.tid, d.sid, d.switching_up) == (3 + i, 0, 0, True)
        assert d.tl0_pic_idx == (None if flexible else (250 + i) & 0xFF)
        assert d.ss == (Vp9ScalabilityStructure(1, ((WIDTH, HEIGHT),)) if pic.keyframe else None)
    assert decode_vp9([p.data for p in got]) == COUNT
