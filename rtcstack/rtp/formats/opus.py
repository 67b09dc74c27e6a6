"""RFC 7587 RTP payload format for Opus: one Opus packet per RTP payload.

:func:`opus_packet_samples` reads the packet's TOC (RFC 6716 §3.1) to give its duration in
48 kHz samples, which is the RTP timestamp increment (RFC 7587 §4.2, Table 2).
"""

from __future__ import annotations

from typing import ClassVar

from rtcstack.common.errors import ParseError

__all__ = ["OpusDepacketizer", "OpusPacketizer", "opus_packet_samples"]

# RFC 6716 §3.1 Table 2: frame size (in 48 kHz samples) of each TOC configuration number.
_FRAME_SAMPLES = tuple(
    (480, 960, 1920, 2880)[c % 4]
    if c < 12
    else (480, 960)[c % 2]
    if c < 16
    else (120, 240, 480, 960)[c % 4]
    for c in range(32)
)
MAX_PACKET_SAMPLES = 5760  # 120 ms at 48 kHz


def opus_packet_samples(packet: bytes) -> int:
    """RFC 6716 §3.1-3.2: the duration of an Opus packet in 48 kHz samples.

    Raises ParseError for an empty packet, a code 3 packet without its frame-count byte or
    with M = 0, or a duration over 120 ms (RFC 6716 §3.2.5: "M MUST NOT be zero, and the audio
    duration contained within a packet MUST NOT exceed 120 ms").
    """
    if not packet:
        raise ParseError("Opus packet: empty (no TOC byte)", 0)
    toc = packet[0]
    frame = _FRAME_SAMPLES[toc >> 3]
    code = toc & 0x03
    if code == 0:
        return frame
    if code in (1, 2):
        return 2 * frame
    if len(packet) < 2:
        raise ParseError("Opus packet: code 3 without frame count byte", 1)
    count = packet[1] & 0x3F
    if count == 0 or count * frame > MAX_PACKET_SAMPLES:
        raise ParseError(f"Opus packet: {count} frames of {frame} samples", 1)
    return count * frame


class OpusPacketizer:
    """RFC 7587 §4.2: "An RTP payload MUST contain exactly one Opus packet".

    ``packetize`` returns the packet as the one payload; the marker is set on the first packet
    of a talkspurt (RFC 3551 §4.1), which the caller says with ``talkspurt_start``.  A packet
    larger than ``max_payload_size`` cannot be split: ``ValueError``.
    """

    __slots__ = ("_max",)

    def __init__(self, max_payload_size: int) -> None:
        if max_payload_size < 1:
            raise ValueError("Opus max_payload_size must be positive")
        self._max = max_payload_size

    def packetize(self, frame: bytes, *, talkspurt_start: bool = False) -> list[tuple[bytes, bool]]:
        if not frame:
            raise ValueError("Opus packet is empty (it needs at least its TOC byte)")
        if len(frame) > self._max:
            raise ValueError(
                f"Opus packet of {len(frame)} bytes exceeds {self._max}: one Opus packet per "
                "RTP payload (RFC 7587 §4.2), lower the encoder bitrate or frame duration"
            )
        return [(frame, talkspurt_start)]


class OpusDepacketizer:
    """RFC 7587 §4.2: each payload is one whole Opus packet (every one decodable)."""

    single_packet_frames: ClassVar[bool] = True

    def depacketize(self, payload: bytes) -> tuple[bytes, bool | None, bool]:
        if not payload:
            raise ParseError("Opus payload: empty", 0)
        return payload, True, True
