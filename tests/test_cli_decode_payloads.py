"""``rtcstack decode --rtpmap``: RTP payload descriptors (VP8, VP9, H.264, Opus, G.711, RTX)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcstack.cli.decode import decode, format_human
from rtcstack.cli.decode_payloads import PayloadFormat, parse_rtpmap
from rtcstack.cli.main import main
from rtcstack.rtp import RtpPacket, rtx_wrap
from rtcstack.rtp.formats import (
    G711Packetizer,
    H264Packetizer,
    OpusPacketizer,
    Vp8Packetizer,
    Vp8PayloadDescriptor,
    Vp9Packetizer,
    Vp9PayloadDescriptor,
    Vp9PictureGroupEntry,
    Vp9ScalabilityStructure,
)
from rtcstack.srtp import Profile, create_context


def _rtp(pt: int, payload: bytes, **kw: Any) -> bytes:
    return RtpPacket(pt, 4660, 90000, 0x11223344, payload, **kw).serialize()


def _human(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    status = main(["decode", *args])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    status = main(["decode", "--json", *args])
    out, err = capsys.readouterr()
    return status, json.loads(out), err


def _descriptor(capsys: pytest.CaptureFixture[str], packet: bytes, *args: str) -> dict[str, Any]:
    status, out, err = _json(capsys, packet.hex(), *args)
    assert status == 0, err
    assert err == ""
    desc: dict[str, Any] = out["decoded"]["payload_descriptor"]
    return desc


# --- VP8 (RFC 7741) --------------------------------------------------------------------------

# RFC 7741 §4.6.1 "Key Frame in a Single RTP Packet": X = 1; S = 1; PID = 0 | I = 1 |
# PictureID = 17 | Size0|H=1|VER=0|P=0, Size1, Size2 -- followed here by the RFC 6386 §9.1 key
# frame start code 9d 01 2a and 640x480 (14-bit sizes, scale 0, little-endian).
RFC7741_4_6_1 = bytes.fromhex("90 80 11" "50 02 00" "9d 01 2a" "80 02" "e0 01") + bytes(20)
# RFC 7741 §4.6.2: X = 0; S = 1; PID = 0 | Size0|H=1|VER=0|P=1 ...
RFC7741_4_6_2 = bytes.fromhex("10" "31 00 00") + bytes(10)
# RFC 7741 §4.6.3, second packet: X = 1; S = 1; PID = 1 | I = 1 | PictureID = 17 | partition 2
RFC7741_4_6_3_B = bytes.fromhex("91 80 11") + bytes(10)


def test_vp8_rfc7741_key_frame_human(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines, err = _human(capsys, _rtp(96, RFC7741_4_6_1, marker=True).hex(),
                                "--rtpmap", "96=VP8/90000")
    assert status == 0, err
    start = lines.index("  payload_descriptor:")
    assert lines[start - 2:start] == [
        "  payload_size: 33", f"  payload_head: {RFC7741_4_6_1[:16].hex()}"]
    block = lines[start + 1:]
    assert block == [
        "    format: VP8",
        "    rfc: RFC 7741 §4.2",
        "    mapping: --rtpmap",
        "    descriptor_size: 3",
        "    X: 1",
        "    N: 0",
        "    S: 1",
        "    PID: 0",
        "    I: 1",
        "    L: 0",
        "    T: 0",
        "    K: 0",
        "    picture_id: 17",
        "    picture_id_bits: 7",
        "    data_size: 30",
        "    payload_header:",
        "      P: 0",
        "      keyframe: yes",
        "      version: 0",
        "      show_frame: yes",
        "      first_partition_size: 18",
        "      width: 640",
        "      height: 480",
        "      horizontal_scale: 0",
        "      vertical_scale: 0",
    ]


def test_vp8_rfc7741_interframe_and_second_partition(capsys: pytest.CaptureFixture[str]) -> None:
    desc = _descriptor(capsys, _rtp(96, RFC7741_4_6_2), "--rtpmap", "96=vp8")
    assert (desc["X"], desc["S"], desc["PID"], desc["descriptor_size"]) == (0, 1, 0, 1)
    assert "I" not in desc and "picture_id" not in desc
    assert desc["payload_header"] == {"P": 1, "keyframe": False, "version": 0,
                                      "show_frame": True, "first_partition_size": 1}
    desc = _descriptor(capsys, _rtp(96, RFC7741_4_6_3_B), "--rtpmap", "96=VP8")
    assert (desc["S"], desc["PID"], desc["picture_id"]) == (1, 1, 17)
    assert "payload_header" not in desc  # RFC 7741 §4.3: only with S = 1 and PID = 0


def test_vp8_every_extension_field(capsys: pytest.CaptureFixture[str]) -> None:
    head = Vp8PayloadDescriptor(start_of_partition=False, partition_index=3, non_reference=True,
                                picture_id=0x1234, long_picture_id=True, tl0_pic_idx=200,
                                tid=2, layer_sync=True, key_idx=9).serialize()
    desc = _descriptor(capsys, _rtp(100, head + b"xyz"), "--rtpmap", "100=VP8")
    assert {k: desc[k] for k in ("X", "N", "S", "PID", "I", "L", "T", "K", "picture_id",
                                 "picture_id_bits", "TL0PICIDX", "TID", "Y", "KEYIDX")} == {
        "X": 1, "N": 1, "S": 0, "PID": 3, "I": 1, "L": 1, "T": 1, "K": 1,
        "picture_id": 0x1234, "picture_id_bits": 15, "TL0PICIDX": 200, "TID": 2, "Y": 1,
        "KEYIDX": 9,
    }
    assert desc["descriptor_size"] == 6 and desc["data_size"] == 3


def test_vp8_packetizer_packets(capsys: pytest.CaptureFixture[str]) -> None:
    frame = RFC7741_4_6_1[3:] + bytes(range(256)) * 4
    payloads = Vp8Packetizer(300, picture_id=0x7FFF).packetize(frame)
    descs = [_descriptor(capsys, _rtp(96, p, marker=m), "--rtpmap", "96=VP8")
             for p, m in payloads]
    assert [(d["S"], d["PID"]) for d in descs][:2] == [(1, 0), (1, 1)]  # partition-aware
    assert all(d["picture_id"] == 0x7FFF and d["picture_id_bits"] == 15 for d in descs)
    assert descs[0]["payload_header"]["keyframe"] is True
    assert descs[0]["payload_header"]["width"] == 640
    assert all("payload_header" not in d for d in descs[1:])
    assert sum(d["data_size"] for d in descs) == len(frame)


# --- VP9 (RFC 9628) --------------------------------------------------------------------------


def _vp9_key_frame(width: int, height: int) -> bytes:
    """A VP9 profile 0 key frame uncompressed header (VP9 bitstream §6.2) and some data."""
    bits = "10" "0" "0" "0" "0" "1" "0"  # frame_marker, profile 0, !show_existing, KEY, show
    bits += f"{0x498342:024b}" "000" "0"  # sync code, color_space CS_UNKNOWN, color_range
    bits += f"{width - 1:016b}{height - 1:016b}"
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big") + bytes(range(200))


def test_vp9_packetizer_key_frame_with_ss(capsys: pytest.CaptureFixture[str]) -> None:
    frame = _vp9_key_frame(1280, 720)
    payloads = Vp9Packetizer(120, picture_id=300).packetize(frame)
    first = _descriptor(capsys, _rtp(98, payloads[0][0]), "--rtpmap", "98=VP9/90000")
    assert {k: first[k] for k in "IPLFBEVZ"} == {
        "I": 1, "P": 0, "L": 0, "F": 0, "B": 1, "E": 0, "V": 1, "Z": 0}
    assert (first["mode"], first["picture_id"], first["picture_id_bits"]) == (
        "non-flexible", 300, 15)
    assert first["SS"] == {"N_S": 0, "spatial_layers": 1, "Y": 1, "G": 0,
                           "resolutions": ["1280x720"]}
    assert first["keyframe_start"] is True
    assert first["frame_header"] == {"keyframe": True, "show_frame": True,
                                     "width": 1280, "height": 720}
    last = _descriptor(capsys, _rtp(98, payloads[-1][0], marker=True), "--rtpmap", "98=vp9")
    assert (last["B"], last["E"], last["V"]) == (0, 1, 0)
    assert "SS" not in last and "frame_header" not in last


# Hand-written RFC 9628 §4.2 flexible mode: I|P|L|F|B|E = 0xfc, M=0 PictureID 5,
# TID=2 U=1 SID=1 D=0 (0x52), P_DIFF 3 with N=1 (0x07), P_DIFF 5 with N=0 (0x0a), then an
# inter frame's uncompressed header (frame_marker 2, profile 0, non-key, show_frame: 0x86).
VP9_FLEXIBLE = bytes.fromhex("fc 05 52 07 0a" "86") + b"data"


def test_vp9_flexible_mode_p_diffs(capsys: pytest.CaptureFixture[str]) -> None:
    desc = _descriptor(capsys, _rtp(98, VP9_FLEXIBLE), "--rtpmap", "98=VP9")
    assert (desc["mode"], desc["picture_id"], desc["picture_id_bits"]) == ("flexible", 5, 7)
    assert (desc["TID"], desc["U"], desc["SID"], desc["D"]) == (2, 1, 1, 0)
    assert "TL0PICIDX" not in desc
    assert desc["P_DIFF"] == [3, 5]
    assert desc["keyframe_start"] is False
    assert desc["frame_header"] == {"keyframe": False, "show_frame": True}


def test_vp9_scalability_structure_with_picture_group(capsys: pytest.CaptureFixture[str]) -> None:
    ss = Vp9ScalabilityStructure(
        2, ((320, 180), (640, 360)),
        (Vp9PictureGroupEntry(0, False, (4,)), Vp9PictureGroupEntry(1, True, (1, 2))),
    )
    head = Vp9PayloadDescriptor(end_of_frame=True, picture_id=9, long_picture_id=False, tid=0,
                                sid=1, inter_layer_dependency=True, tl0_pic_idx=77,
                                ss=ss).serialize()
    status, lines, err = _human(capsys, _rtp(98, head + b"\x00").hex(), "--rtpmap", "98=VP9")
    assert status == 0, err
    for line in [
        "    TID: 0", "    SID: 1", "    D: 1", "    TL0PICIDX: 77", "    SS:",
        "      N_S: 1", "      resolutions: 320x180, 640x360", "      N_G: 2",
        "        - TID=0, U=0, R=1, P_DIFF=[4]", "        - TID=1, U=1, R=2, P_DIFF=[1 2]",
    ]:
        assert line in lines


# --- H.264 (RFC 6184) ------------------------------------------------------------------------

SPS = bytes.fromhex("67 42 c0 1f 8c 8d 40")
PPS = bytes.fromhex("68 ce 3c 80")
IDR = bytes.fromhex("65 88 84") + bytes(range(256)) * 8


def test_h264_packetizer_stap_a_and_fu_a(capsys: pytest.CaptureFixture[str]) -> None:
    payloads = H264Packetizer(1000).packetize([SPS, PPS, IDR])
    descs = [_descriptor(capsys, _rtp(102, p, marker=m), "--rtpmap", "102=H264/90000")
             for p, m in payloads]
    stap = descs[0]
    assert stap["packet"] == "STAP-A (RFC 6184 §5.7.1)" and stap["type"] == 24
    assert stap["nal_units"] == [
        {"type": 7, "name": "SPS", "F": 0, "NRI": 3, "size": len(SPS)},
        {"type": 8, "name": "PPS", "F": 0, "NRI": 3, "size": len(PPS)},
    ]
    assert stap["marks"] == ["SPS", "PPS"] and stap["keyframe"] is False
    fus = descs[1:]
    assert len(fus) == 3
    assert [(d["S"], d["E"]) for d in fus] == [(1, 0), (0, 0), (0, 1)]
    assert all(d["nal_type"] == 5 and d["name"] == "IDR slice" and d["marks"] == ["IDR"]
               and d["keyframe"] is True for d in fus)
    assert sum(d["fragment_size"] for d in fus) == len(IDR) - 1


def test_h264_hand_written_packets(capsys: pytest.CaptureFixture[str]) -> None:
    desc = _descriptor(capsys, _rtp(102, SPS), "--rtpmap", "102=h264")
    assert (desc["packet"], desc["name"], desc["NRI"], desc["marks"]) == (
        "single NAL unit (RFC 6184 §5.6)", "SPS", 3, ["SPS"])
    # STAP-A (0x78) holding an SEI (size 2) and an access unit delimiter (size 2)
    status, lines, err = _human(capsys, _rtp(102, bytes.fromhex("78 0002 0605 0002 0910")).hex(),
                                "--rtpmap", "102=H264")
    assert status == 0, err
    assert "      - type=6, name=SEI, F=0, NRI=0, size=2" in lines
    assert "      - type=9, name=access unit delimiter, F=0, NRI=0, size=2" in lines
    assert "    marks: (none)" in lines
    # FU-A end fragment of a non-IDR slice: indicator 0x5c (NRI 2), header E=1 type 1
    desc = _descriptor(capsys, _rtp(102, bytes.fromhex("5c 41 aa bb")), "--rtpmap", "102=H264")
    assert (desc["S"], desc["E"], desc["nal_type"], desc["name"], desc["fragment_size"]) == (
        0, 1, 1, "non-IDR slice", 2)
    # interleaved-mode packets are named, not decoded
    desc = _descriptor(capsys, _rtp(102, bytes.fromhex("19 0000")), "--rtpmap", "102=H264")
    assert desc["packet"] == "STAP-B" and "not decoded" in desc["note"]


# --- Opus (RFC 7587, RFC 6716) and G.711 (RFC 3551) -------------------------------------------


@pytest.mark.parametrize(("payload", "expected"), [
    # config 31: CELT-only FB 20 ms; s = 1; c = 0
    (bytes.fromhex("fc") + bytes(40), {
        "TOC": "0xfc", "config": 31, "mode": "CELT-only", "bandwidth": "FB (fullband, 20 kHz)",
        "frame_size_ms": 20, "s": 1, "channels": "stereo", "c": 0, "frames": "1 frame",
        "samples_48k": 960, "duration_ms": 20}),
    # config 1: SILK-only NB 20 ms, mono, code 1 (two equal frames): 40 ms
    (bytes.fromhex("09 aa bb"), {"config": 1, "mode": "SILK-only", "frame_size_ms": 20,
                                 "c": 1, "duration_ms": 40}),
    # config 16: CELT-only NB 2.5 ms, code 3 with v = 1, p = 0, M = 3
    (bytes.fromhex("83 83 01 02 03"), {"config": 16, "frame_size_ms": 2.5, "c": 3, "v": 1,
                                       "p": 0, "M": 3, "samples_48k": 360,
                                       "duration_ms": 7.5}),
])
def test_opus_toc(capsys: pytest.CaptureFixture[str], payload: bytes,
                  expected: dict[str, Any]) -> None:
    desc = _descriptor(capsys, _rtp(111, payload), "--rtpmap", "111=opus/48000/2")
    assert {k: desc[k] for k in expected} == expected


def test_opus_packetizer(capsys: pytest.CaptureFixture[str]) -> None:
    (payload, marker), = OpusPacketizer(1200).packetize(bytes([0x70]) + bytes(60),
                                                        talkspurt_start=True)
    desc = _descriptor(capsys, _rtp(111, payload, marker=marker), "--rtpmap", "111=OPUS")
    assert (desc["mode"], desc["bandwidth"], desc["duration_ms"]) == (
        "Hybrid", "FB (fullband, 20 kHz)", 10)


def test_g711_static_and_mapped(capsys: pytest.CaptureFixture[str]) -> None:
    (payload, _), = G711Packetizer(160).packetize(bytes(160))
    desc = _descriptor(capsys, _rtp(0, payload))  # RFC 3551 §6: PT 0 is PCMU
    assert (desc["format"], desc["mapping"], desc["samples"], desc["duration_ms"]) == (
        "PCMU", "static, RFC 3551 §6", 160, 20)
    desc = _descriptor(capsys, _rtp(8, bytes(80)))
    assert (desc["format"], desc["duration_ms"]) == ("PCMA", 10)
    desc = _descriptor(capsys, _rtp(110, bytes(240)), "--rtpmap", "110=pcma/8000")
    assert (desc["format"], desc["mapping"], desc["samples"], desc["duration_ms"]) == (
        "PCMA", "--rtpmap", 240, 30)


# --- RTX (RFC 4588), unknown formats, options -------------------------------------------------


def test_rtx_shows_osn_and_the_original_descriptor(capsys: pytest.CaptureFixture[str]) -> None:
    original = RtpPacket(96, 777, 90000, 1, RFC7741_4_6_1, True)
    rtx = rtx_wrap(original, 97, 5, 2).serialize()
    desc = _descriptor(capsys, rtx, "--rtpmap", "96=VP8", "--rtpmap", "97=rtx/96")
    assert (desc["format"], desc["apt"], desc["OSN"]) == ("rtx", 96, 777)
    assert desc["original_payload_size"] == len(RFC7741_4_6_1)
    assert desc["original"]["picture_id"] == 17
    assert desc["original"]["payload_header"]["keyframe"] is True
    # rtx/90000 is a clock rate (as in a=rtpmap): the OSN still shows, the original is not typed
    desc = _descriptor(capsys, rtx, "--rtpmap", "97=RTX/90000")
    assert (desc["apt"], desc["OSN"]) == (None, 777) and "original" not in desc
    # apt without a mapping of its own
    desc = _descriptor(capsys, rtx, "--rtpmap", "97=rtx/96")
    assert "original" not in desc and "96" in desc["note"]


def test_unknown_payload_type_shows_length_only(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _json(capsys, _rtp(96, b"abc").hex())
    assert status == 0 and "payload_descriptor" not in out["decoded"]
    assert out["decoded"]["payload_size"] == 3
    status, lines, _ = _human(capsys, _rtp(96, b"abc").hex(), "--rtpmap", "97=VP8")
    assert status == 0 and "  payload_descriptor:" not in lines
    desc = _descriptor(capsys, _rtp(96, b"abc"), "--rtpmap", "96=AV1/90000")
    assert desc == {"format": "AV1", "mapping": "--rtpmap", "note": "no payload decoder for AV1"}


@pytest.mark.parametrize(("option", "message"), [
    ("VP8", "is not PT=NAME"),
    ("x=VP8", "is not PT=NAME"),
    ("96=", "is not PT=NAME"),
    ("128=VP8", "is not 0-127"),
])
def test_bad_rtpmap(capsys: pytest.CaptureFixture[str], option: str, message: str) -> None:
    status, lines, err = _human(capsys, _rtp(96, b"abc").hex(), "--rtpmap", option)
    assert status == 1 and lines == []
    assert err.startswith("rtcstack decode: --rtpmap") and message in err


def test_parse_rtpmap() -> None:
    formats = parse_rtpmap(["96=vp8/90000", "97=rtx/96", "0=opus/48000/2"])
    assert formats[96] == PayloadFormat("VP8")
    assert formats[97] == PayloadFormat("rtx", 96)
    assert formats[0] == PayloadFormat("opus")  # an option overrides the static PT
    assert formats[8].name == "PCMA"
    with pytest.raises(ValueError, match="rtx too"):
        parse_rtpmap(["97=rtx/98", "98=rtx"])


# --- malformed descriptors -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "payload", "reason", "payload_offset"), [
    ("VP8", b"\x80", "VP8 payload descriptor: X set but no extension octet", 1),
    ("VP8", bytes.fromhex("80 80 8f"), "VP8 payload descriptor: truncated 15-bit picture ID", 2),
    ("VP8", bytes.fromhex("90 80 11 50 02 00 9d 01"), "VP8 key frame header: need 10 bytes, got 5",
     3),
    ("VP8", bytes.fromhex("10 50 02 00 12 34 56 80 02 e0 01"),
     "VP8 key frame header: start code is not 9d 01 2a", 4),
    ("VP9", bytes.fromhex("d0 05"), "VP9 payload descriptor: P and F set but no P_DIFF", 2),
    ("VP9", bytes.fromhex("02 f0 00"), "VP9 SS: truncated resolutions of 8 layers", 2),
    ("VP9", bytes.fromhex("08 00"), "VP9 uncompressed header: frame_marker is not 2", 1),
    ("H264", bytes.fromhex("78 00 05 67"), "STAP-A: NAL unit of 5 bytes overruns the packet", 1),
    ("H264", bytes.fromhex("7c c5 00"), "FU-A: Start and End bits both set", 1),
    ("opus", bytes.fromhex("03"), "Opus packet: code 3 without frame count byte", 1),
    ("opus", bytes.fromhex("03 00"), "Opus packet: 0 frames of 480 samples", 1),
])
def test_malformed_descriptor_is_a_failure_line(
    capsys: pytest.CaptureFixture[str], name: str, payload: bytes, reason: str,
    payload_offset: int,
) -> None:
    # a CSRC and an extension move the payload: offsets are in the datagram and the payload
    packet = RtpPacket(100, 1, 2, 3, payload, csrcs=(9,), extensions=((1, b"0"),)).serialize()
    start = len(packet) - len(payload)
    status, lines, err = _human(capsys, packet.hex(), "--rtpmap", f"100={name}")
    assert status == 1
    failure = (f"malformed {name} payload: {reason} (at byte offset {start + payload_offset}, "
               f"payload byte {payload_offset})")
    assert err == f"rtcstack decode: {failure}\n"
    assert lines[-1] == f"    {failure}"
    assert "  sequence_number: 1" in lines and "    format: " + name in lines
    status, out, _ = _json(capsys, packet.hex(), "--rtpmap", f"100={name}")
    assert status == 1
    assert out["decoded"]["payload_descriptor"]["error"] == {
        "format": name, "reason": reason, "offset": start + payload_offset,
        "payload_offset": payload_offset}


def test_fields_before_the_problem_still_appear(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines, _ = _human(capsys, _rtp(96, bytes.fromhex("90 80 11 50 02")).hex(),
                              "--rtpmap", "96=VP8")
    assert status == 1
    assert "    picture_id: 17" in lines
    assert lines[-1].startswith("    malformed VP8 payload: VP8 payload header: need 3 bytes")


def test_malformed_inside_rtx_and_g711(capsys: pytest.CaptureFixture[str]) -> None:
    rtx = _rtp(97, bytes.fromhex("0309 80"))  # OSN 777, then a truncated VP8 descriptor
    status, out, err = _json(capsys, rtx.hex(), "--rtpmap", "96=VP8", "--rtpmap", "97=rtx/96")
    assert status == 1 and out["decoded"]["payload_descriptor"]["OSN"] == 777
    assert out["decoded"]["payload_descriptor"]["original"]["error"]["payload_offset"] == 3
    assert "malformed VP8 payload" in err and "(at byte offset 15, payload byte 3)" in err
    status, _, err = _human(capsys, _rtp(97, b"\x01").hex(), "--rtpmap", "97=rtx/96")
    assert status == 1 and "malformed rtx payload: RTX: payload of 1 bytes" in err
    status, _, err = _human(capsys, _rtp(0, b"").hex())
    assert status == 1 and "malformed PCMU payload: G.711 payload: empty" in err


def test_srtp_payload_is_decrypted_then_described(capsys: pytest.CaptureFixture[str]) -> None:
    key, salt = bytes(range(16)), bytes(range(100, 114))
    sender = create_context(Profile.AES128_CM_HMAC_SHA1_80, key, salt, backend="pure")
    protected = sender.protect_rtp(_rtp(96, RFC7741_4_6_1))
    desc = _descriptor(capsys, protected, "--srtp-key", (key + salt).hex(), "--rtpmap", "96=VP8")
    assert desc["payload_header"]["width"] == 640


def test_help_mentions_rtpmap(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["decode", "--help"])
    assert "--rtpmap PT=NAME" in capsys.readouterr().out


# --- arbitrary payloads never raise ----------------------------------------------------------

RTPMAP = ["96=VP8", "98=VP9", "102=H264", "111=opus", "110=PCMA", "97=rtx/96", "99=rtx/102",
          "100=rtx"]
PAYLOAD_TYPES = [0, 8, 96, 97, 98, 99, 100, 102, 110, 111]


@given(st.sampled_from(PAYLOAD_TYPES), st.binary(max_size=64), st.integers(0, 3))
def test_arbitrary_payloads_never_raise(pt: int, payload: bytes, padding: int) -> None:
    packet = RtpPacket(pt, 1, 2, 3, payload, padding=padding).serialize()
    args = argparse.Namespace(rtpmap=RTPMAP)
    result = decode(packet, args)
    desc = result["decoded"]["payload_descriptor"]
    assert desc["format"]
    error = desc.get("error") or (desc.get("original") or {}).get("error")
    if error is not None and error["offset"] is not None:
        assert 12 <= error["offset"] <= len(packet)
    json.dumps(result)
    text = format_human(result, packet)
    assert "payload_descriptor:" in text
