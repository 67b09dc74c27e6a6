"""RFC 3551 §4.5.14 PCMA and PCMU (G.711): one octet per sample at 8000 Hz.

A payload is a run of samples (RFC 3551 §4.3, sample-based encodings; §4.5.14: "PCMA and PCMU
MUST always be transmitted as 8-bit samples"), so the RTP timestamp advances by the payload
length.
"""

from __future__ import annotations

from typing import ClassVar

from rtcstack.common.errors import ParseError

__all__ = ["G711Depacketizer", "G711Packetizer"]

CLOCK_RATE = 8000


class G711Packetizer:
    """One frame of samples (normally 20 ms: 160 octets, RFC 3551 §4.5.14) per payload.

    The marker is set on the first packet of a talkspurt (RFC 3551 §4.1), which the caller says
    with ``talkspurt_start``.  A frame larger than ``max_payload_size`` raises ``ValueError``:
    the caller chooses the packet duration (its timestamps follow the sample count).
    """

    __slots__ = ("_max",)

    def __init__(self, max_payload_size: int) -> None:
        if max_payload_size < 1:
            raise ValueError("G.711 max_payload_size must be positive")
        self._max = max_payload_size

    def packetize(self, frame: bytes, *, talkspurt_start: bool = False) -> list[tuple[bytes, bool]]:
        if not frame:
            raise ValueError("G.711 frame is empty")
        if len(frame) > self._max:
            raise ValueError(f"G.711 frame of {len(frame)} samples exceeds {self._max} bytes")
        return [(frame, talkspurt_start)]


class G711Depacketizer:
    """Each payload is a self-contained run of samples."""

    single_packet_frames: ClassVar[bool] = True

    def depacketize(self, payload: bytes) -> tuple[bytes, bool | None, bool]:
        if not payload:
            raise ParseError("G.711 payload: empty", 0)
        return payload, True, True
