"""Receive path of video: RTP packets -> whole encoded frames, rtcstack vs aiortc (issue #4,
target >= 2x aiortc).

One operation is a whole stream of 30 frames of about 6 kB (MTU 1200: 6 packets per frame,
180 packets), delivered in order, from a fresh receiver state:

- rtcstack: ``RtpPacket.parse`` + :class:`FrameAssembler` with the codec's depacketizer
  (``Vp8Depacketizer`` / ``H264Depacketizer``), frames drained with ``pop_frame``;
- aiortc 1.16: ``RtpPacket.parse`` + the codec's depayload function (``vp8_depayload``, which
  parses ``VpxPayloadDescriptor``; ``h264_depayload``, which is ``H264PayloadDescriptor.parse``)
  + ``JitterBuffer(capacity=512, is_video=True).add``, exactly what ``RTCRtpReceiver`` does
  per packet.

Both return the 30 frames' bytes, checked against the encoder's frames before timing (H.264
as an Annex B stream with 4-byte start codes, which both sides write).  Asymmetries:

- aiortc's jitter buffer hands a frame out only when the first packet of the *next* timestamp
  arrives (it ignores the marker bit), so the stream ends with one extra single-packet frame
  that both sides receive; rtcstack also emits that 31st frame and the row keeps the first 30.
- rtcstack also tells frame starts and key frames apart (VP8 S/PID and P bit, H.264 IDR), keeps
  loss statistics and a reorder window; aiortc's buffer does none of that.
- The packets have no header extensions (aiortc would decode them into typed values on parse,
  rtcstack would not; ``bench_rtp`` measures that).
"""

from __future__ import annotations

from collections.abc import Callable

from aiortc.codecs.h264 import h264_depayload
from aiortc.codecs.vpx import vp8_depayload
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import HeaderExtensionsMap
from aiortc.rtp import RtpPacket as AiortcPacket

from bench.harness import Case
from rtcstack.rtp import RtpPacket
from rtcstack.rtp.formats import (
    Depacketizer,
    FrameAssembler,
    H264Depacketizer,
    H264Packetizer,
    Vp8Depacketizer,
    Vp8Packetizer,
)

REFERENCE = "aiortc 1.16"
TARGET_RATIO = 2.0

FRAMES = 30
FRAME_SIZE = 6000
MTU = 1200
SSRC = 0x1234ABCD
AIORTC_MAP = HeaderExtensionsMap()


def _vp8_frame(index: int) -> bytes:
    """A VP8 frame (RFC 6386 §9.1 frame tag, key frame start code on frame 0) then filler."""
    key = index == 0
    tag = (0 if key else 1) | (1 << 4) | (200 << 5)  # shown, first partition 200 bytes
    head = bytes((tag & 0xFF, (tag >> 8) & 0xFF, tag >> 16))
    if key:
        head += b"\x9d\x01\x2a\x80\x02\xe0\x01"  # start code, 640x480
    return head + bytes((i * 7 + index) & 0xFF for i in range(FRAME_SIZE - len(head)))


def _h264_access_unit(index: int) -> bytes:
    """One slice NAL unit (IDR on frame 0) of FRAME_SIZE bytes: FU-A fragments at MTU 1200."""
    header = 0x65 if index == 0 else 0x41
    body = bytes(((i * 5 + index) & 0xFF) or 1 for i in range(FRAME_SIZE - 1))
    return b"\x00\x00\x00\x01" + bytes((header,)) + body


def _stream(payloads: list[list[tuple[bytes, bool]]]) -> list[bytes]:
    """Serialized RTP packets, 90 kHz timestamps 3000 apart, sequence numbers across 65535."""
    out = []
    seq = 65500
    for index, frame in enumerate(payloads):
        for payload, marker in frame:
            packet = RtpPacket(96, seq & 0xFFFF, index * 3000, SSRC, payload, marker)
            out.append(packet.serialize())
            seq += 1
    return out


def _vp8_stream() -> tuple[list[bytes], list[bytes]]:
    packetizer = Vp8Packetizer(MTU, picture_id=1000)
    frames = [_vp8_frame(i) for i in range(FRAMES + 1)]
    payloads = [packetizer.packetize(f) for f in frames[:FRAMES]]
    payloads.append(packetizer.packetize(frames[FRAMES][:500]))  # the closing 1-packet frame
    return _stream(payloads), frames[:FRAMES]


def _h264_stream() -> tuple[list[bytes], list[bytes]]:
    packetizer = H264Packetizer(MTU)
    frames = [_h264_access_unit(i) for i in range(FRAMES)]
    payloads = [packetizer.packetize(f) for f in frames]
    if not all(p[0] & 0x1F == 28 for frame in payloads for p, _ in frame):
        raise AssertionError("expected FU-A packets only")
    payloads.append(packetizer.packetize(b"\x00\x00\x00\x01\x41" + bytes(range(1, 200))))
    return _stream(payloads), frames


VP8_PACKETS, VP8_FRAMES = _vp8_stream()
H264_PACKETS, H264_FRAMES = _h264_stream()


def _ours(packets: list[bytes], depacketizer: Depacketizer) -> list[bytes]:
    assembler = FrameAssembler(depacketizer)
    push = assembler.push
    pop = assembler.pop_frame
    parse = RtpPacket.parse
    frames: list[bytes] = []
    for data in packets:
        packet = parse(data)
        push(packet.sequence_number, packet.timestamp, packet.marker, packet.payload)
        while (frame := pop()) is not None:
            frames.append(frame.data)
    return frames[:FRAMES]


def _aiortc(packets: list[bytes], depayload: Callable[[bytes], bytes]) -> list[bytes]:
    buffer = JitterBuffer(capacity=512, is_video=True)
    add = buffer.add
    parse = AiortcPacket.parse
    frames: list[bytes] = []
    for data in packets:
        packet = parse(data, AIORTC_MAP)
        packet._data = depayload(packet.payload)  # type: ignore[attr-defined]
        _, frame = add(packet)
        if frame is not None:
            frames.append(frame.data)
    return frames


def _ours_vp8() -> list[bytes]:
    return _ours(VP8_PACKETS, Vp8Depacketizer())


def _aiortc_vp8() -> list[bytes]:
    return _aiortc(VP8_PACKETS, vp8_depayload)


def _ours_h264() -> list[bytes]:
    return _ours(H264_PACKETS, H264Depacketizer())


def _aiortc_h264() -> list[bytes]:
    return _aiortc(H264_PACKETS, h264_depayload)


def cases() -> list[Case]:
    per = f"{FRAMES} frames of {FRAME_SIZE // 1000} kB, MTU {MTU}"
    return [
        Case(f"VP8 {per} ({len(VP8_PACKETS)} packets): parse + depacketize + assemble",
             _ours_vp8, _aiortc_vp8, expect=VP8_FRAMES),
        Case(f"H.264 FU-A {per} ({len(H264_PACKETS)} packets): parse + depacketize + assemble",
             _ours_h264, _aiortc_h264, expect=H264_FRAMES),
    ]
