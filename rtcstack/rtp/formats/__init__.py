"""RTP payload formats: packetizers, depacketizers and frame assembly.

- Opus (RFC 7587) and G.711 PCMU/PCMA (RFC 3551 §4.5.14): one frame per payload.
- VP8 (RFC 7741): payload descriptor with 7/15-bit PictureID, TL0PICIDX, TID/Y/KEYIDX;
  partition-aware packetizer.
- VP9 (RFC 9628): payload descriptor in flexible and non-flexible modes, scalability structure;
  packetizer for single-layer frames (either mode) and for layered pictures (spatial and
  temporal layers, ``Vp9Packetizer.packetize_picture``), SS on key pictures;
  :class:`Vp9PictureAssembler` hands out pictures as their layer frames.
- H.264 (RFC 6184): single NAL unit packets, STAP-A, FU-A, packetization-modes 0 and 1,
  parameter sets before IDR access units.

Packetizers take an encoded frame and return ``[(payload, marker), ...]``, each payload at most
``max_payload_size`` bytes; the RTP header (sequence number, timestamp) is the caller's.
:class:`FrameAssembler` takes ``(sequence_number, timestamp, marker, payload)`` in any order and
hands out whole frames in decode order, with key frames flagged:

>>> from rtcstack.rtp.formats import FrameAssembler, Vp8Depacketizer, Vp8Packetizer
>>> frame = bytes([0x10, 0x02, 0x00]) + bytes(range(200))  # a VP8 key frame header + data
>>> payloads = Vp8Packetizer(100, picture_id=17).packetize(frame)
>>> assembler = FrameAssembler(Vp8Depacketizer())
>>> for seq, (payload, marker) in reversed(list(enumerate(payloads))):
...     assembler.push(seq, 90000, marker, payload)
>>> got = assembler.pop_frame()
>>> got.data == frame, got.keyframe, got.packet_count
(True, True, 3)

Out of scope: H.264 interleaved mode (STAP-B, MTAP, FU-B), RED/FEC (RFC 2198, RFC 5109); a
VP9 picture whose higher layer lost a packet is dropped whole (its lower layers are not
salvaged).
"""

from rtcstack.rtp.formats.assembler import Depacketizer, Frame, FrameAssembler, Packetizer
from rtcstack.rtp.formats.g711 import G711Depacketizer, G711Packetizer
from rtcstack.rtp.formats.h264 import (
    FuA,
    H264Depacketizer,
    H264Packetizer,
    NalUnitHeader,
    NalUnitType,
    StapA,
    split_annexb,
)
from rtcstack.rtp.formats.opus import OpusDepacketizer, OpusPacketizer, opus_packet_samples
from rtcstack.rtp.formats.vp8 import (
    Vp8Depacketizer,
    Vp8Packetizer,
    Vp8PayloadDescriptor,
    Vp8PayloadHeader,
)
from rtcstack.rtp.formats.vp9 import (
    Vp9Depacketizer,
    Vp9FrameInfo,
    Vp9LayerFrame,
    Vp9Packetizer,
    Vp9PayloadDescriptor,
    Vp9Picture,
    Vp9PictureAssembler,
    Vp9PictureGroupEntry,
    Vp9ReceivedLayerFrame,
    Vp9ScalabilityStructure,
    vp9_frame_info,
)

__all__ = [
    "Depacketizer",
    "Frame",
    "FrameAssembler",
    "FuA",
    "G711Depacketizer",
    "G711Packetizer",
    "H264Depacketizer",
    "H264Packetizer",
    "NalUnitHeader",
    "NalUnitType",
    "OpusDepacketizer",
    "OpusPacketizer",
    "Packetizer",
    "StapA",
    "Vp8Depacketizer",
    "Vp8Packetizer",
    "Vp8PayloadDescriptor",
    "Vp8PayloadHeader",
    "Vp9Depacketizer",
    "Vp9FrameInfo",
    "Vp9LayerFrame",
    "Vp9Packetizer",
    "Vp9PayloadDescriptor",
    "Vp9Picture",
    "Vp9PictureAssembler",
    "Vp9PictureGroupEntry",
    "Vp9ReceivedLayerFrame",
    "Vp9ScalabilityStructure",
    "opus_packet_samples",
    "split_annexb",
    "vp9_frame_info",
]
