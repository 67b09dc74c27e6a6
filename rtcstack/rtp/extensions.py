"""Typed values for the RTP header extensions WebRTC uses (RFC 8285 elements).

Each class has ``URI`` (what ``a=extmap`` names it by, RFC 8285 §5), ``decode(data)`` (raises
:class:`ParseError`) and ``encode() -> bytes``.  An :class:`ExtensionMap` binds the local IDs a
session negotiated to these classes, so a packet's ``(id, data)`` elements can be read and
written by type.

=========================  =====================================================================
class                      specification
=========================  =====================================================================
:class:`Mid`               RFC 9143 §15 (BUNDLE ``sdes:mid``), RFC 7941 §4 (SDES item in RTP)
:class:`Rid`               RFC 8852 §3.1 (``sdes:rtp-stream-id``)
:class:`RepairedRid`       RFC 8852 §3.2 (``sdes:repaired-rtp-stream-id``)
:class:`AbsSendTime`       webrtc.org abs-send-time: 6.18 fixed-point seconds, 24 bits
:class:`TransportSequenceNumber`  draft-holmer-rmcat-transport-wide-cc-extensions-01 §2
:class:`AudioLevel`        RFC 6464 §3 (client-to-mixer audio level)
:class:`VideoOrientation`  3GPP TS 26.114 §7.4.5 (CVO)
:class:`PlayoutDelay`      webrtc.org playout-delay: 12-bit min and max, in 10 ms units
:class:`AbsCaptureTime`    webrtc.org abs-capture-time: NTP Q32.32, optional clock offset
=========================  =====================================================================
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import ClassVar, Protocol, TypeVar

from rtcstack.common.errors import ParseError
from rtcstack.common.values import value

__all__ = [
    "REGISTRY",
    "AbsCaptureTime",
    "AbsSendTime",
    "AudioLevel",
    "ExtensionMap",
    "ExtensionValue",
    "Mid",
    "PlayoutDelay",
    "RepairedRid",
    "Rid",
    "TransportSequenceNumber",
    "VideoOrientation",
]

_Q = struct.Struct("!Q")
_Qq = struct.Struct("!Qq")


class ExtensionValue(Protocol):
    URI: ClassVar[str]

    def encode(self) -> bytes: ...


_E = TypeVar("_E")


def _wrong_size(name: str, data: bytes, *sizes: int) -> ParseError:
    # Callers test the length inline (a call per element is measurable: bench/bench_rtp.py)
    # and build the error only when it is wrong.
    want = " or ".join(str(s) for s in sizes)
    return ParseError(f"{name} extension: {len(data)} bytes, expected {want}", 0)


_TextValue = TypeVar("_TextValue", "Mid", "Rid", "RepairedRid")
_TEXT_CACHE_LIMIT = 64


def _text_value(
    cls: type[_TextValue], cache: dict[bytes, _TextValue], name: str, data: bytes
) -> _TextValue:
    # A session sends a handful of distinct MIDs/RIDs on every packet, and the values are
    # immutable, so decoded ones are shared (bounded: a peer sending garbage cannot grow it).
    hit = cache.get(data)
    if hit is not None:
        return hit
    result = cls(_text(name, data))
    if len(cache) >= _TEXT_CACHE_LIMIT:
        cache.clear()
    cache[bytes(data)] = result
    return result


def _text(name: str, data: bytes) -> str:
    # RFC 7941 §4.1 / RFC 8852 §3: the SDES item value as in RTCP, UTF-8 text of 1-255 bytes.
    # Some senders pad the value with NUL bytes; they are not part of the identifier.
    data = data.rstrip(b"\x00")
    if not data:
        raise ParseError(f"{name} extension: empty value", 0)
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise ParseError(f"{name} extension: not UTF-8", exc.start) from None


def _encode_text(name: str, text: str) -> bytes:
    data = text.encode()
    if not 1 <= len(data) <= 255:
        raise ValueError(f"{name} must be 1-255 bytes of UTF-8, got {len(data)}")
    return data


@value
class Mid:
    """RFC 9143 §15.2 / RFC 7941 §4: the media identification (``a=mid``) of the packet."""

    URI: ClassVar[str] = "urn:ietf:params:rtp-hdrext:sdes:mid"
    value: str

    @classmethod
    def decode(cls, data: bytes) -> Mid:
        return _text_value(cls, _MID_CACHE, "mid", data)

    def encode(self) -> bytes:
        return _encode_text("mid", self.value)


@value
class Rid:
    """RFC 8852 §3.1: the RtpStreamId (``a=rid``) of a simulcast layer."""

    URI: ClassVar[str] = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
    value: str

    @classmethod
    def decode(cls, data: bytes) -> Rid:
        return _text_value(cls, _RID_CACHE, "rid", data)

    def encode(self) -> bytes:
        return _encode_text("rid", self.value)


@value
class RepairedRid:
    """RFC 8852 §3.2: the RtpStreamId a repair (RTX, FEC) stream repairs."""

    URI: ClassVar[str] = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
    value: str

    @classmethod
    def decode(cls, data: bytes) -> RepairedRid:
        return _text_value(cls, _REPAIREDRID_CACHE, "repaired-rid", data)

    def encode(self) -> bytes:
        return _encode_text("repaired-rid", self.value)


@value
class AbsSendTime:
    """webrtc.org abs-send-time: send time as 24-bit 6.18 fixed-point seconds (wraps at 64 s).

    ``value`` is the raw 24-bit field; :meth:`from_seconds` / :attr:`seconds` convert.
    """

    URI: ClassVar[str] = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
    value: int

    @classmethod
    def from_seconds(cls, seconds: float) -> AbsSendTime:
        return cls(round(seconds * (1 << 18)) & 0xFFFFFF)

    @property
    def seconds(self) -> float:
        return self.value / (1 << 18)

    @classmethod
    def decode(cls, data: bytes) -> AbsSendTime:
        if len(data) != 3:
            raise _wrong_size("abs-send-time", data, 3)
        return cls(int.from_bytes(data, "big"))

    def encode(self) -> bytes:
        if not 0 <= self.value <= 0xFFFFFF:
            raise ValueError(f"abs-send-time {self.value} is not 24 bits")
        return self.value.to_bytes(3, "big")


@value
class TransportSequenceNumber:
    """draft-holmer-rmcat-transport-wide-cc-extensions-01 §2: a 16-bit transport-wide sequence
    number, counted over every packet of the transport (all SSRCs)."""

    URI: ClassVar[str] = (
        "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
    )
    value: int

    @classmethod
    def decode(cls, data: bytes) -> TransportSequenceNumber:
        if len(data) != 2:
            raise _wrong_size("transport-wide sequence number", data, 2)
        return cls((data[0] << 8) | data[1])

    def encode(self) -> bytes:
        if not 0 <= self.value <= 0xFFFF:
            raise ValueError(f"transport-wide sequence number {self.value} is not 16 bits")
        return self.value.to_bytes(2, "big")


@value
class AudioLevel:
    """RFC 6464 §3: voice activity flag V and the level in -dBov (0 loudest, 127 silence).

    "The audio level is expressed in -dBov, with values from 0 to 127 representing 0 to -127
    dBov."
    """

    URI: ClassVar[str] = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
    voice: bool
    level: int

    @classmethod
    def decode(cls, data: bytes) -> AudioLevel:
        # RFC 6464 §3: one byte in the one-byte form; the two-byte form may carry padding.
        if not data:
            raise ParseError("audio level extension: empty", 0)
        return cls(data[0] > 0x7F, data[0] & 0x7F)

    def encode(self) -> bytes:
        if not 0 <= self.level <= 127:
            raise ValueError(f"audio level {self.level} is not 0-127 (-dBov)")
        return bytes(((0x80 if self.voice else 0) | self.level,))


@value
class VideoOrientation:
    """3GPP TS 26.114 §7.4.5 coordination of video orientation: bits ``0 0 0 0 C F R1 R0``.

    ``rotation`` in degrees clockwise (0, 90, 180, 270), ``flip`` horizontal, ``back_camera``.
    """

    URI: ClassVar[str] = "urn:3gpp:video-orientation"
    rotation: int = 0
    flip: bool = False
    back_camera: bool = False

    @classmethod
    def decode(cls, data: bytes) -> VideoOrientation:
        if not data:
            raise ParseError("video orientation extension: empty", 0)
        b = data[0]
        return cls((b & 3) * 90, bool(b & 4), bool(b & 8))

    def encode(self) -> bytes:
        if self.rotation not in (0, 90, 180, 270):
            raise ValueError(f"rotation {self.rotation} is not 0, 90, 180 or 270")
        b = self.rotation // 90 | (4 if self.flip else 0) | (8 if self.back_camera else 0)
        return bytes((b,))


@value
class PlayoutDelay:
    """webrtc.org playout-delay: 12-bit minimum and maximum delay in units of 10 ms."""

    URI: ClassVar[str] = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
    min_delay: int
    max_delay: int

    @classmethod
    def decode(cls, data: bytes) -> PlayoutDelay:
        if len(data) != 3:
            raise _wrong_size("playout delay", data, 3)
        v = int.from_bytes(data, "big")
        return cls(v >> 12, v & 0xFFF)

    def encode(self) -> bytes:
        if not (0 <= self.min_delay <= 0xFFF and 0 <= self.max_delay <= 0xFFF):
            raise ValueError("playout delays are 12-bit values (units of 10 ms)")
        return ((self.min_delay << 12) | self.max_delay).to_bytes(3, "big")


@value
class AbsCaptureTime:
    """webrtc.org abs-capture-time: the capture time as a 64-bit NTP timestamp (Q32.32) and,
    optionally, the estimated capture clock offset (signed Q32.32 seconds)."""

    URI: ClassVar[str] = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"
    ntp_timestamp: int
    clock_offset: int | None = None

    @classmethod
    def decode(cls, data: bytes) -> AbsCaptureTime:
        if len(data) == 8:
            return cls(_Q.unpack(data)[0])
        if len(data) != 16:
            raise _wrong_size("abs-capture-time", data, 8, 16)
        ntp, offset = _Qq.unpack(data)
        return cls(ntp, offset)

    def encode(self) -> bytes:
        if self.clock_offset is None:
            return _Q.pack(self.ntp_timestamp)
        return _Qq.pack(self.ntp_timestamp, self.clock_offset)


_MID_CACHE: dict[bytes, Mid] = {}
_RID_CACHE: dict[bytes, Rid] = {}
_REPAIREDRID_CACHE: dict[bytes, RepairedRid] = {}

REGISTRY: dict[str, type[ExtensionValue]] = {
    kind.URI: kind
    for kind in (
        Mid,
        Rid,
        RepairedRid,
        AbsSendTime,
        TransportSequenceNumber,
        AudioLevel,
        VideoOrientation,
        PlayoutDelay,
        AbsCaptureTime,
    )
}
"""Extension URI (``a=extmap``) -> value class."""


class ExtensionMap:
    """The negotiated ``a=extmap`` IDs of one session (RFC 8285 §5), by type.

    >>> extmap = ExtensionMap({1: Mid.URI, 3: TransportSequenceNumber.URI})
    >>> extmap.encode([Mid("0"), TransportSequenceNumber(7)])
    ((1, b'0'), (3, b'\\x00\\x07'))
    >>> extmap.get(((3, b'\\x00\\x07'),), TransportSequenceNumber)
    TransportSequenceNumber(value=7)
    """

    __slots__ = ("_by_id", "_by_kind", "uris")

    def __init__(self, uris: Mapping[int, str]) -> None:
        self.uris = dict(uris)
        self._by_id: dict[int, type[ExtensionValue]] = {}
        self._by_kind: dict[type[ExtensionValue], int] = {}
        for ident, uri in self.uris.items():
            if not 1 <= ident <= 255:
                raise ValueError(f"extension ID {ident} is not in 1-255 (RFC 8285 §5)")
            kind = REGISTRY.get(uri)
            if kind is not None:
                self._by_id[ident] = kind
                self._by_kind[kind] = ident

    def id_of(self, kind: type[ExtensionValue]) -> int | None:
        return self._by_kind.get(kind)

    def get(self, extensions: Iterable[tuple[int, bytes]], kind: type[_E]) -> _E | None:
        """The decoded value of type ``kind`` in ``extensions``, or ``None`` if absent."""
        ident = self._by_kind.get(kind)  # type: ignore[arg-type]
        if ident is None:
            return None
        for i, data in extensions:
            if i == ident:
                return kind.decode(data)  # type: ignore[attr-defined, no-any-return]
        return None

    def decode(self, extensions: Iterable[tuple[int, bytes]]) -> dict[int, object]:
        """Every element by ID: a typed value when its URI is known, else the raw bytes."""
        out: dict[int, object] = {}
        for ident, data in extensions:
            kind = self._by_id.get(ident)
            out[ident] = kind.decode(data) if kind is not None else data  # type: ignore[attr-defined]
        return out

    def encode(self, values: Iterable[ExtensionValue]) -> tuple[tuple[int, bytes], ...]:
        """``(id, data)`` elements for ``values``; ValueError for a type not negotiated."""
        out = []
        for v in values:
            ident = self._by_kind.get(type(v))
            if ident is None:
                raise ValueError(f"{type(v).__name__} ({v.URI}) has no negotiated extension ID")
            out.append((ident, v.encode()))
        return tuple(out)
