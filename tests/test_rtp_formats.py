"""RTP payload format values: VP8 (RFC 7741 §4.2-4.3), VP9 (RFC 9628 §4.2, §4.2.1), H.264
(RFC 6184 §5.7.1, §5.8), Opus TOC (RFC 6716 §3.1): exact bytes, round trips, and arbitrary
bytes giving a value or ParseError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcstack.common import ParseError
from rtcstack.rtp.formats import (
    FuA,
    H264Depacketizer,
    NalUnitHeader,
    OpusDepacketizer,
    StapA,
    Vp8Depacketizer,
    Vp8PayloadDescriptor,
    Vp8PayloadHeader,
    Vp9Depacketizer,
    Vp9PayloadDescriptor,
    Vp9PictureGroupEntry,
    Vp9ScalabilityStructure,
    opus_packet_samples,
    split_annexb,
    vp9_frame_info,
)

# --- VP8 ---------------------------------------------------------------------------------------


# RFC 7741 §4.6.1 and §4.6.5, transcribed from the bit diagrams.
def test_vp8_rfc7741_4_6_1_keyframe_single_packet() -> None:
    data = bytes([0b10010000, 0b10000000, 0b00010001, 0b00000000, 0x00, 0x00, 0xAA])
    desc, size = Vp8PayloadDescriptor.parse(data)
    assert size == 3
    assert desc == Vp8PayloadDescriptor(
        start_of_partition=True, partition_index=0, picture_id=17, long_picture_id=False
    )
    assert desc.serialize() == data[:3]
    header = Vp8PayloadHeader.parse(data[3:])
    assert header.keyframe and header.size == 10


def test_vp8_rfc7741_4_6_5_long_picture_id() -> None:
    data = bytes([0b10010000, 0b10000000, 0b10010010, 0b01100111])
    desc, size = Vp8PayloadDescriptor.parse(data)
    assert (size, desc.picture_id, desc.long_picture_id) == (4, 4711, True)
    assert desc.serialize() == data


def test_vp8_all_fields() -> None:
    desc = Vp8PayloadDescriptor(
        start_of_partition=False,
        partition_index=5,
        non_reference=True,
        picture_id=0x1234,
        tl0_pic_idx=200,
        tid=2,
        layer_sync=True,
        key_idx=17,
    )
    wire = desc.serialize()
    assert wire == bytes([0xA5, 0xF0, 0x92, 0x34, 200, 0b10110001])
    assert Vp8PayloadDescriptor.parse(wire + b"x") == (desc, 6)


def test_vp8_k_without_t_ignores_tid() -> None:
    # RFC 7741 §4.2: "If K ... is set to 1 but T is set to 0, ... the TID field MUST be ignored."
    desc, _ = Vp8PayloadDescriptor.parse(bytes([0x90, 0x10, 0xC5]))
    assert desc.tid is None and desc.key_idx == 5


@pytest.mark.parametrize(
    "data",
    [b"", b"\x80", b"\x80\x80", b"\x80\x80\x80", b"\x80\x40\x00", b"\x80\x60", b"\x80\x20"],
)
def test_vp8_malformed(data: bytes) -> None:
    with pytest.raises(ParseError):
        Vp8PayloadDescriptor.parse(data)


def test_vp8_reserved_bits_ignored() -> None:
    desc, _ = Vp8PayloadDescriptor.parse(bytes([0xD8, 0x80 | 0x0F, 0x05]))
    assert desc.start_of_partition and desc.picture_id == 5 and desc.partition_index == 0


def test_vp8_serialize_rejects_bad_values() -> None:
    for bad in (
        Vp8PayloadDescriptor(partition_index=8),
        Vp8PayloadDescriptor(picture_id=0x80, long_picture_id=False),
        Vp8PayloadDescriptor(tl0_pic_idx=1),
        Vp8PayloadDescriptor(layer_sync=True),
        Vp8PayloadDescriptor(tid=4),
    ):
        with pytest.raises(ValueError):
            bad.serialize()


@st.composite
def vp8_descriptors(draw: st.DrawFn) -> Vp8PayloadDescriptor:
    long_pid = draw(st.booleans())
    pid = draw(st.none() | st.integers(0, 0x7FFF if long_pid else 0x7F))
    tid = draw(st.none() | st.integers(0, 3))
    key_idx = draw(st.none() | st.integers(0, 31))
    return Vp8PayloadDescriptor(
        start_of_partition=draw(st.booleans()),
        partition_index=draw(st.integers(0, 7)),
        non_reference=draw(st.booleans()),
        picture_id=pid,
        long_picture_id=long_pid if pid is not None else True,
        tl0_pic_idx=draw(st.none() | st.integers(0, 255)) if tid is not None else None,
        tid=tid,
        layer_sync=draw(st.booleans()) if (tid is not None or key_idx is not None) else False,
        key_idx=key_idx,
    )


@given(vp8_descriptors(), st.binary(max_size=8))
def test_vp8_round_trip(desc: Vp8PayloadDescriptor, tail: bytes) -> None:
    wire = desc.serialize()
    assert Vp8PayloadDescriptor.parse(wire + tail) == (desc, len(wire))


@given(st.binary(max_size=12))
def test_vp8_arbitrary_bytes(data: bytes) -> None:
    try:
        desc, size = Vp8PayloadDescriptor.parse(data)
    except ParseError:
        return
    assert 1 <= size <= len(data)
    again = desc.serialize()
    assert Vp8PayloadDescriptor.parse(again) == (desc, len(again))
    with contextlib.suppress(ParseError):
        Vp8Depacketizer().depacketize(data)


# --- VP9 ---------------------------------------------------------------------------------------


def test_vp9_non_flexible_keyframe_with_ss() -> None:
    ss = Vp9ScalabilityStructure(
        3,
        ((320, 180), (640, 360), (1280, 720)),
        (
            Vp9PictureGroupEntry(0, False, (4,)),
            Vp9PictureGroupEntry(2, True, (1,)),
            Vp9PictureGroupEntry(1, True, (2,)),
            Vp9PictureGroupEntry(2, True, (1, 3)),
        ),
    )
    desc = Vp9PayloadDescriptor(
        start_of_frame=True, picture_id=300, tid=0, sid=0, tl0_pic_idx=9, ss=ss
    )
    wire = desc.serialize()
    # I|P|L|F|B|E|V|Z = 1 0 1 0 1 0 1 0; M=1 PID=300; TID/U/SID/D = 0; TL0PICIDX=9; SS:
    # N_S=2 Y=1 G=1 -> 0x58; resolutions; N_G=4; entries (TID|U|R).
    assert wire == bytes(
        [
            0xAA,
            0x81,
            0x2C,
            0x00,
            0x09,
            0x58,
            0x01,
            0x40,
            0x00,
            0xB4,
            0x02,
            0x80,
            0x01,
            0x68,
            0x05,
            0x00,
            0x02,
            0xD0,
            0x04,
            0x04,
            0x04,
            0x54,
            0x01,
            0x34,
            0x02,
            0x58,
            0x01,
            0x03,
        ]
    )
    assert Vp9PayloadDescriptor.parse(wire) == (desc, len(wire))
    assert desc.is_keyframe_start


def test_vp9_flexible_references() -> None:
    desc = Vp9PayloadDescriptor(
        end_of_frame=True,
        inter_picture_predicted=True,
        flexible=True,
        picture_id=5,
        long_picture_id=False,
        tid=1,
        sid=1,
        inter_layer_dependency=True,
        p_diffs=(1, 2, 3),
    )
    wire = desc.serialize()
    assert wire == bytes([0xF4, 0x05, 0x23, 0x03, 0x05, 0x06])
    assert Vp9PayloadDescriptor.parse(wire) == (desc, 6)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80",  # I without PID
        b"\x80\x80",  # truncated 15-bit PID
        b"\x20",  # L without layer byte
        b"\x20\x00",  # non-flexible L without TL0PICIDX
        b"\xd0\x01",  # flexible P without P_DIFF
        b"\xd0\x01\x00",  # P_DIFF of zero
        b"\xd0\x01\x03\x05\x07\x09",  # four P_DIFFs
        b"\x02",  # V without SS
        b"\x02\x10\x00",  # Y with a truncated resolution
        b"\x02\x08",  # G without N_G
        b"\x02\x08\x01\x04",  # PG entry with R=1 but no P_DIFF
    ],
)
def test_vp9_malformed(data: bytes) -> None:
    with pytest.raises(ParseError):
        Vp9PayloadDescriptor.parse(data)


def test_vp9_f_without_i_is_ignored() -> None:
    # RFC 9628 §4.2: F "MUST also be set to zero and ignored by receivers" when I is zero.
    desc, size = Vp9PayloadDescriptor.parse(b"\x5c")
    assert not desc.flexible and desc.p_diffs == () and size == 1


@st.composite
def vp9_descriptors(draw: st.DrawFn) -> Vp9PayloadDescriptor:
    long_pid = draw(st.booleans())
    pid = draw(st.none() | st.integers(0, 0x7FFF if long_pid else 0x7F))
    flexible = pid is not None and draw(st.booleans())
    predicted = draw(st.booleans())
    layers = draw(st.booleans())
    ss = None
    if draw(st.booleans()):
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
            draw(st.none() | st.lists(res, min_size=n, max_size=n).map(tuple)),
            draw(st.none() | st.lists(entry, max_size=5).map(tuple)),
        )
    return Vp9PayloadDescriptor(
        start_of_frame=draw(st.booleans()),
        end_of_frame=draw(st.booleans()),
        inter_picture_predicted=predicted,
        flexible=flexible,
        not_reference_for_upper=draw(st.booleans()),
        picture_id=pid,
        long_picture_id=long_pid if pid is not None else True,
        tid=draw(st.integers(0, 7)) if layers else None,
        switching_up=draw(st.booleans()) if layers else False,
        sid=draw(st.integers(0, 7)) if layers else 0,
        inter_layer_dependency=draw(st.booleans()) if layers else False,
        tl0_pic_idx=draw(st.integers(0, 255)) if layers and not flexible else None,
        p_diffs=(
            tuple(draw(st.lists(st.integers(1, 127), min_size=1, max_size=3)))
            if flexible and predicted
            else ()
        ),
        ss=ss,
    )


@given(vp9_descriptors(), st.binary(max_size=8))
def test_vp9_round_trip(desc: Vp9PayloadDescriptor, tail: bytes) -> None:
    wire = desc.serialize()
    assert Vp9PayloadDescriptor.parse(wire + tail) == (desc, len(wire))


@given(st.binary(max_size=40))
def test_vp9_arbitrary_bytes(data: bytes) -> None:
    try:
        desc, size = Vp9PayloadDescriptor.parse(data)
    except ParseError:
        pass
    else:
        assert 1 <= size <= len(data)
        again = desc.serialize()
        assert Vp9PayloadDescriptor.parse(again) == (desc, len(again))
    for call in (Vp9Depacketizer().depacketize, vp9_frame_info):
        with contextlib.suppress(ParseError):
            call(data)


def test_vp9_frame_info_keyframe() -> None:
    # frame_marker=2, profile 0, show_existing=0, frame_type=0 (key), show=1, error_res=0,
    # sync code, color_space=1 (BT601), color_range=0, width-1=639, height-1=479.
    bits = "10000010" + format(0x498342, "024b") + "0010"
    bits += format(639, "016b") + format(479, "016b")
    bits += "0" * (-len(bits) % 8)
    frame = int(bits, 2).to_bytes(len(bits) // 8, "big")
    info = vp9_frame_info(frame)
    assert (info.keyframe, info.show_frame, info.width, info.height) == (True, True, 640, 480)
    inter = int("10000110", 2).to_bytes(1, "big")
    assert not vp9_frame_info(inter).keyframe
    with pytest.raises(ParseError):
        vp9_frame_info(b"\x00")


# --- H.264 -------------------------------------------------------------------------------------


def test_nal_unit_header() -> None:
    assert NalUnitHeader.parse(0x65) == NalUnitHeader(False, 3, 5)
    assert NalUnitHeader(False, 3, 5).serialize() == 0x65


def test_stap_a_sps_pps() -> None:
    sps, pps = b"\x67\x42\x00\x1f", b"\x68\xce"
    stap = StapA.aggregate([sps, pps])
    # RFC 6184 §5.7.1 Figure 7: STAP-A NAL HDR, NALU 1 size, NALU 1, NALU 2 size, NALU 2.
    assert stap.serialize() == b"\x78\x00\x04" + sps + b"\x00\x02" + pps
    assert StapA.parse(stap.serialize()) == stap
    assert (stap.forbidden, stap.nri) == (False, 3)


@pytest.mark.parametrize(
    "data", [b"", b"\x78", b"\x78\x00", b"\x78\x00\x05\x67", b"\x78\x00\x00", b"\x61\x00\x01\x01"]
)
def test_stap_a_malformed(data: bytes) -> None:
    with pytest.raises(ParseError):
        StapA.parse(data)


def test_fu_a() -> None:
    fu = FuA(start=True, end=False, nal_type=5, fragment=b"abc", nri=3)
    wire = fu.serialize()
    # RFC 6184 §5.8 Figure 14-16: FU indicator (F|NRI|28), FU header (S|E|R|Type).
    assert wire == b"\x7c\x85abc"
    assert FuA.parse(wire) == fu
    assert fu.nal_header == 0x65
    with pytest.raises(ParseError, match="Start and End"):
        FuA.parse(b"\x7c\xc5x")
    with pytest.raises(ParseError):
        FuA.parse(b"\x7c")
    assert FuA.parse(b"\x7c\x45") == FuA(False, True, 5, b"", False, 3)  # empty FU allowed


@given(
    st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=5),
)
def test_stap_a_round_trip(units: list[bytes]) -> None:
    stap = StapA.aggregate(units)
    assert StapA.parse(stap.serialize()) == stap


@given(
    st.booleans(),
    st.booleans(),
    st.integers(0, 31),
    st.binary(max_size=20),
    st.booleans(),
    st.integers(0, 3),
)
def test_fu_a_round_trip(s: bool, e: bool, t: int, frag: bytes, f: bool, nri: int) -> None:
    if s and e:
        return
    fu = FuA(s, e, t, frag, f, nri)
    assert FuA.parse(fu.serialize()) == fu


@given(st.binary(max_size=40))
def test_h264_arbitrary_bytes(data: bytes) -> None:
    for call in (StapA.parse, FuA.parse, H264Depacketizer().depacketize):
        with contextlib.suppress(ParseError):
            call(data)


def test_h264_depacketizer_rejects_other_modes() -> None:
    for kind in (25, 26, 27, 29, 30, 31, 0):
        with pytest.raises(ParseError):
            H264Depacketizer().depacketize(bytes([kind, 0, 0, 0]))


def test_split_annexb() -> None:
    stream = b"\x00\x00\x00\x01\x67\x42\x00\x00\x01\x68\xce\x00\x00\x00\x00\x01\x65\x88\x00"
    assert split_annexb(stream) == [b"\x67\x42", b"\x68\xce", b"\x65\x88"]
    assert split_annexb(b"") == []


# --- Opus --------------------------------------------------------------------------------------


def test_opus_packet_samples() -> None:
    # RFC 6716 §3.1: config 31 (CELT FB 20 ms) code 0; config 3 (SILK NB 60 ms) code 1;
    # config 13 (hybrid 20 ms) code 3 with 6 frames.
    assert opus_packet_samples(bytes([31 << 3])) == 960
    assert opus_packet_samples(bytes([(3 << 3) | 1])) == 5760
    assert opus_packet_samples(bytes([(13 << 3) | 3, 6])) == 5760
    for bad in (b"", bytes([3]), bytes([(13 << 3) | 3, 0]), bytes([(13 << 3) | 3, 7])):
        with pytest.raises(ParseError):
            opus_packet_samples(bad)
    with pytest.raises(ParseError):
        OpusDepacketizer().depacketize(b"")
