"""ITU-T G.711 (11/1988) µ-law and A-law companding, as numpy lookup tables.

``audioop`` left the standard library in Python 3.13, so the tables are computed here from the
segment rules of G.711 Tables 1a/1b (A-law) and 2a/2b (µ-law), in the form of the reference
implementation that ships with the ITU-T Software Tool Library (G.191, ``g711.c``): linear
samples are 16-bit, µ-law works on the top 14 bits and A-law on the top 13.

- µ-law: "the character signal ... is inverted": 0 encodes as 0xFF, the largest positive
  sample as 0x80, the most negative as 0x00.  Both 0xFF and 0x7F decode to 0 (G.711 has a
  positive and a negative zero; 16-bit PCM has one), so 0x7F encodes back as 0xFF.
- A-law: "even bits inverted" (XOR 0x55): 0 encodes as 0xD5, the largest positive sample as
  0xAA, the most negative as 0x2A; no code decodes to 0, and every code round-trips.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["alaw_decode", "alaw_encode", "ulaw_decode", "ulaw_encode"]

_ULAW_BIAS = 0x84  # 132: makes the segment boundaries powers of two (G.711 Table 2a, note)
_ULAW_CLIP = 8159  # the largest 14-bit magnitude µ-law encodes (8158 + 1)


def _build_ulaw_decode() -> npt.NDArray[np.int16]:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    t = ((code & 0x0F) << 3) + _ULAW_BIAS
    t <<= (code & 0x70) >> 4
    return np.where(code & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _build_alaw_decode() -> npt.NDArray[np.int16]:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    t = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(code & 0x80, t, -t).astype(np.int16)


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2  # 14-bit
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    # segment = index of the first end point >= magnitude (0x3F, 0x7F, ..., 0x1FFF)
    ends = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    seg = np.searchsorted(ends, magnitude, side="left")
    value = (seg << 4) | ((magnitude >> (seg + 1)) & 0x0F)
    value = np.where(seg >= 8, 0x7F, value)
    return ((value ^ mask) & 0xFF).astype(np.uint8)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3  # 13-bit
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    ends = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    seg = np.searchsorted(ends, magnitude, side="left")
    shift = np.where(seg < 2, 1, seg)
    value = (seg << 4) | ((magnitude >> shift) & 0x0F)
    value = np.where(seg >= 8, 0x7F, value)
    return ((value ^ mask) & 0xFF).astype(np.uint8)


ULAW_TO_LINEAR = _build_ulaw_decode()
ALAW_TO_LINEAR = _build_alaw_decode()
# Indexed by the 16-bit sample + 32768.
LINEAR_TO_ULAW = _build_ulaw_encode()
LINEAR_TO_ALAW = _build_alaw_encode()


def ulaw_encode(samples: npt.NDArray[np.int16]) -> bytes:
    """16-bit linear samples → one µ-law byte each."""
    return LINEAR_TO_ULAW[samples.astype(np.int32) + 32768].tobytes()


def alaw_encode(samples: npt.NDArray[np.int16]) -> bytes:
    """16-bit linear samples → one A-law byte each."""
    return LINEAR_TO_ALAW[samples.astype(np.int32) + 32768].tobytes()


def ulaw_decode(data: bytes) -> npt.NDArray[np.int16]:
    """µ-law bytes → 16-bit linear samples."""
    return ULAW_TO_LINEAR[np.frombuffer(data, dtype=np.uint8)]


def alaw_decode(data: bytes) -> npt.NDArray[np.int16]:
    """A-law bytes → 16-bit linear samples."""
    return ALAW_TO_LINEAR[np.frombuffer(data, dtype=np.uint8)]
