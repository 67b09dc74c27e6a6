"""Audio and video codecs behind two small protocols: :class:`Encoder` and :class:`Decoder`.

An encoder takes ``av.AudioFrame`` / ``av.VideoFrame`` of any format, size and rate and returns
:class:`EncodedFrame` values (one RTP payload-format frame each: an Opus packet, a G.711
payload, a VP8/VP9 frame, an H.264 access unit in Annex B) stamped in the codec clock.  A
decoder takes those back and returns av frames; fed garbage, or a frame whose references were
lost, it returns ``[]`` and counts the error (``errors``), never raising: its input comes from
the network (STYLE.md rule 5).

- Opus (RFC 6716, RFC 7587): libopus through ``opuslib`` (loaded on first use), 48 kHz, 20 ms,
  in-band FEC on; :meth:`OpusDecoder.conceal` and :meth:`OpusDecoder.decode_fec` are the hooks
  for loss recovery.
- G.711 PCMU/PCMA (ITU-T G.711, RFC 3551 §4.5.14): numpy tables (:mod:`rtcstack.media.g711`),
  8 kHz, 20 ms.
- VP8 (RFC 6386), VP9 and H.264 (ITU-T H.264, constrained baseline for ``profile-level-id
  42e01f``): libvpx, libvpx-vp9 and libx264 through PyAV's ``CodecContext``, real-time settings,
  key frames on request, ``target_bitrate`` applied; FFmpeg's native decoders.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol

import av
import numpy as np
from av.audio.resampler import AudioResampler
from av.video.frame import PictureType

from rtcstack.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "SUPPORTED",
    "Decoder",
    "EncodedFrame",
    "Encoder",
    "G711Decoder",
    "G711Encoder",
    "OpusDecoder",
    "OpusEncoder",
    "VideoDecoder",
    "VideoEncoder",
    "create_decoder",
    "create_encoder",
    "psnr",
]

logger = logging.getLogger(__name__)

VIDEO_CLOCK = 90000
_VIDEO_TIME_BASE = Fraction(1, VIDEO_CLOCK)

# Decoders catch what FFmpeg, libopus and PyAV raise for bad input.
_DECODE_ERRORS: tuple[type[Exception], ...] = (av.FFmpegError, ValueError, OverflowError)


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded frame, the unit an RTP payload format packetizes.

    ``timestamp`` is in the codec clock (48000 for Opus, 8000 for G.711, 90000 for video).
    """

    data: bytes
    timestamp: int
    keyframe: bool = False


class Encoder(Protocol):
    target_bitrate: int  # bits/s; may be set at any time

    def encode(
        self, frame: av.AudioFrame | av.VideoFrame, *, force_keyframe: bool = False
    ) -> list[EncodedFrame]: ...


class Decoder(Protocol):
    def decode(self, frame: EncodedFrame) -> list[av.AudioFrame | av.VideoFrame]: ...


def _timestamp(frame: av.AudioFrame | av.VideoFrame, clock_rate: int) -> int | None:
    """The frame's pts converted to ``clock_rate``, or None when it carries none."""
    if frame.pts is None or frame.time_base is None:
        return None
    return round(frame.pts * frame.time_base * clock_rate)


# --- audio ------------------------------------------------------------------------------------


class _AudioBuffer:
    """Resamples any audio frames to interleaved s16 at one rate and cuts whole frames.

    The timestamp of the buffered audio follows the first frame's pts and then counts samples
    (an RTP stream's timestamp advances by the samples sent); when the buffer is empty and a
    frame's pts jumps by more than a frame, it resynchronises to it (a source that paused).
    """

    def __init__(self, rate: int, frame_samples: int) -> None:
        self.rate = rate
        self.frame_samples = frame_samples
        self.channels = 0  # chosen from the first frame
        self._resampler: AudioResampler | None = None
        self._pending = np.zeros(0, dtype=np.int16)
        self._timestamp: int | None = None

    def push(
        self, frame: av.AudioFrame, max_channels: int
    ) -> list[tuple[npt.NDArray[np.int16], int]]:
        if self._resampler is None:
            self.channels = max(1, min(max_channels, frame.layout.nb_channels))
            self._resampler = AudioResampler(
                format="s16", layout="stereo" if self.channels == 2 else "mono", rate=self.rate
            )
        ts = _timestamp(frame, self.rate)
        if ts is not None and (
            self._timestamp is None
            or (len(self._pending) == 0 and abs(ts - self._timestamp) > self.frame_samples)
        ):
            self._timestamp = ts
        if self._timestamp is None:
            self._timestamp = 0
        for out in self._resampler.resample(frame):
            samples = out.to_ndarray().reshape(-1)  # packed s16: (1, samples * channels)
            self._pending = np.concatenate([self._pending, samples])
        step = self.frame_samples * self.channels
        frames: list[tuple[npt.NDArray[np.int16], int]] = []
        while len(self._pending) >= step:
            frames.append((self._pending[:step], self._timestamp))
            self._pending = self._pending[step:]
            self._timestamp += self.frame_samples
        return frames


def _audio_frame(
    samples: npt.NDArray[np.int16], channels: int, rate: int, pts: int
) -> av.AudioFrame:
    layout = "stereo" if channels == 2 else "mono"
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=layout)
    frame.sample_rate = rate
    frame.pts = pts
    frame.time_base = Fraction(1, rate)
    return frame


def _opuslib() -> Any:  # opuslib is untyped
    """libopus through opuslib, imported on first use so that a missing libopus fails Opus only."""
    import opuslib  # type: ignore[import-untyped]

    return opuslib


class OpusEncoder:
    """RFC 7587 Opus: 48 kHz, 20 ms frames, in-band FEC (RFC 6716 §2.1.7) on.

    The channel count is the first frame's (1 or 2, capped by ``channels``): WebRTC always
    signals ``opus/48000/2`` and an Opus packet says itself whether it is stereo.
    """

    clock_rate = 48000
    frame_samples = 960  # 20 ms

    def __init__(self, *, channels: int = 2, target_bitrate: int | None = None) -> None:
        self.max_channels = channels
        self._target_bitrate = target_bitrate
        self._packet_loss_percent = 10
        self._buffer = _AudioBuffer(self.clock_rate, self.frame_samples)
        self._encoder: Any = None  # opuslib.Encoder

    @property
    def target_bitrate(self) -> int:
        if self._target_bitrate is not None:
            return self._target_bitrate
        return 64000 if self._buffer.channels == 2 else 32000

    @target_bitrate.setter
    def target_bitrate(self, value: int) -> None:
        self._target_bitrate = max(6000, min(510000, int(value)))
        if self._encoder is not None:
            self._encoder.bitrate = self._target_bitrate

    @property
    def packet_loss_percent(self) -> int:
        """The loss the encoder expects; FEC data is sent only when this is above 0."""
        return self._packet_loss_percent

    @packet_loss_percent.setter
    def packet_loss_percent(self, value: int) -> None:
        self._packet_loss_percent = max(0, min(100, int(value)))
        if self._encoder is not None:
            self._encoder.packet_loss_perc = self._packet_loss_percent

    def _create(self) -> None:
        opuslib = _opuslib()
        channels = self._buffer.channels
        application = "voip" if channels == 1 else "audio"
        self._encoder = opuslib.Encoder(self.clock_rate, channels, application)
        # opuslib's inband_fec setter forgets its value argument: call the CTL directly.
        opuslib.api.encoder.encoder_ctl(
            self._encoder.encoder_state, opuslib.api.ctl.set_inband_fec, 1
        )
        self._encoder.packet_loss_perc = self._packet_loss_percent
        self._encoder.bitrate = self.target_bitrate

    def encode(
        self, frame: av.AudioFrame | av.VideoFrame, *, force_keyframe: bool = False
    ) -> list[EncodedFrame]:
        if not isinstance(frame, av.AudioFrame):
            raise TypeError("an audio encoder takes av.AudioFrame")
        out: list[EncodedFrame] = []
        for samples, ts in self._buffer.push(frame, self.max_channels):
            if self._encoder is None:
                self._create()
            data = self._encoder.encode(samples.tobytes(), self.frame_samples)
            out.append(EncodedFrame(bytes(data), ts & 0xFFFFFFFF))
        return out


class OpusDecoder:
    """Opus packets → s16 frames at 48 kHz with ``channels`` channels (default 2).

    Loss recovery: :meth:`conceal` synthesises audio for a lost packet (packet loss
    concealment); :meth:`decode_fec` recovers a lost packet from the FEC data carried in the
    packet that follows it.
    """

    clock_rate = 48000
    max_frame_samples = 5760  # 120 ms, the longest Opus packet

    def __init__(self, *, channels: int = 2) -> None:
        self.channels = channels
        self._decoder: Any = _opuslib().Decoder(self.clock_rate, channels)  # opuslib.Decoder
        self.errors = 0
        self._last_samples = 960

    def _frame(self, pcm: bytes, pts: int) -> av.AudioFrame:
        samples = np.frombuffer(pcm, dtype=np.int16)
        return _audio_frame(samples, self.channels, self.clock_rate, pts)

    def decode(self, frame: EncodedFrame) -> list[av.AudioFrame | av.VideoFrame]:
        try:
            pcm = self._decoder.decode(frame.data, self.max_frame_samples)
        except Exception:  # opuslib.OpusError (untyped module) and ctypes errors
            self.errors += 1
            return []
        if not pcm:
            return []
        self._last_samples = len(pcm) // (2 * self.channels)
        return [self._frame(pcm, frame.timestamp)]

    def conceal(self, samples: int = 960, *, timestamp: int = 0) -> av.AudioFrame:
        """Packet loss concealment: ``samples`` per channel (a multiple of 2.5 ms) of audio
        extrapolated from what was decoded before."""
        pcm = self._decoder.decode(b"", samples)
        return self._frame(pcm, timestamp)

    def decode_fec(self, next_frame: EncodedFrame, samples: int = 960) -> av.AudioFrame:
        """The lost packet just before ``next_frame``, from ``next_frame``'s in-band FEC (or
        concealment when it carries none); ``next_frame`` must then be decoded normally."""
        try:
            pcm = self._decoder.decode(next_frame.data, samples, decode_fec=True)
        except Exception:  # opuslib.OpusError
            self.errors += 1
            pcm = self._decoder.decode(b"", samples)
        return self._frame(pcm, (next_frame.timestamp - samples) & 0xFFFFFFFF)


class G711Encoder:
    """ITU-T G.711 µ-law (PCMU) or A-law (PCMA): 8 kHz mono, 20 ms (160 bytes) per frame."""

    clock_rate = 8000
    frame_samples = 160

    def __init__(self, law: str) -> None:
        if law not in ("ulaw", "alaw"):
            raise ValueError(f"G.711 law must be 'ulaw' or 'alaw', not {law!r}")
        self.law = law
        self._encode = ulaw_encode if law == "ulaw" else alaw_encode
        self._buffer = _AudioBuffer(self.clock_rate, self.frame_samples)
        self.target_bitrate = 64000  # fixed by the codec; settable for the protocol's sake

    def encode(
        self, frame: av.AudioFrame | av.VideoFrame, *, force_keyframe: bool = False
    ) -> list[EncodedFrame]:
        if not isinstance(frame, av.AudioFrame):
            raise TypeError("an audio encoder takes av.AudioFrame")
        return [
            EncodedFrame(self._encode(samples), ts & 0xFFFFFFFF)
            for samples, ts in self._buffer.push(frame, 1)
        ]


class G711Decoder:
    """G.711 payloads → s16 mono frames at 8 kHz (any length; every byte is a sample)."""

    clock_rate = 8000

    def __init__(self, law: str) -> None:
        if law not in ("ulaw", "alaw"):
            raise ValueError(f"G.711 law must be 'ulaw' or 'alaw', not {law!r}")
        self.law = law
        self._decode = ulaw_decode if law == "ulaw" else alaw_decode
        self.errors = 0

    def decode(self, frame: EncodedFrame) -> list[av.AudioFrame | av.VideoFrame]:
        if not frame.data:
            return []
        return [_audio_frame(self._decode(frame.data), 1, self.clock_rate, frame.timestamp)]


# --- video ------------------------------------------------------------------------------------

_VIDEO_CODECS: dict[str, tuple[str, str]] = {  # mime (lower case) -> (encoder, decoder)
    "video/vp8": ("libvpx", "vp8"),
    "video/vp9": ("libvpx-vp9", "vp9"),
    "video/h264": ("libx264", "h264"),
}


class VideoEncoder:
    """VP8, VP9 or H.264 through PyAV, tuned for real-time: no lookahead, no B-frames,
    constant bit rate, key frames only at the start, on request (``force_keyframe``) and when
    the picture size changes.

    ``target_bitrate`` may be set at any time.  libx264 takes a new rate in place (its VBV is
    on) between a quarter of the rate it was opened with and that rate; libvpx through FFmpeg
    cannot change its rate once open.  Otherwise the encoder reopens, which costs a key
    frame: changes of less than
    ``bitrate_hysteresis`` (15 %) of the rate in force, or sooner than ``min_reopen_frames``
    frames after the last reopen, wait.
    """

    bitrate_hysteresis = 0.15
    min_reopen_frames = 30

    def __init__(
        self,
        codec_name: str,
        *,
        target_bitrate: int = 1_000_000,
        framerate: int = 30,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.codec_name = codec_name  # "libvpx", "libvpx-vp9" or "libx264"
        self.framerate = framerate
        self.parameters = dict(parameters or {})
        self._target_bitrate = target_bitrate
        self._applied_bitrate = target_bitrate
        self._max_bitrate = target_bitrate
        self._ctx: Any = None  # av.VideoCodecContext (its options are untyped)
        self._frames_since_open = 0
        self._last_timestamp: int | None = None
        self.reopens = 0

    @property
    def target_bitrate(self) -> int:
        return self._target_bitrate

    @target_bitrate.setter
    def target_bitrate(self, value: int) -> None:
        self._target_bitrate = max(10_000, int(value))

    def _options(self, bitrate: int) -> dict[str, str]:
        if self.codec_name == "libx264":
            level_idc = 31
            plid = self.parameters.get("profile-level-id", "")
            if len(plid) == 6 and all(c in "0123456789abcdefABCDEF" for c in plid):
                level_idc = int(plid[4:], 16)
            options = {
                "preset": "veryfast",
                "tune": "zerolatency",
                "profile": "baseline",  # x264's baseline is constrained baseline (no FMO/ASO)
                "level": f"{level_idc // 10}.{level_idc % 10}",
                "bf": "0",
                "forced-idr": "1",
                # VBV on, so that x264 takes a new bit rate without reopening.
                "maxrate": str(self._max_bitrate),
                "bufsize": str(self._max_bitrate // 2),
            }
            if self.parameters.get("packetization-mode", "0") == "0":
                # RFC 6184 mode 0 sends each NAL unit alone: keep them under an MTU.
                options["slice-max-size"] = "1100"
            return options
        options = {
            "deadline": "realtime",
            "cpu-used": "8",  # libvpx real-time speed 8: no stalls at 640x480 on 2 cores
            "lag-in-frames": "0",
            "auto-alt-ref": "0",
            "error-resilient": "1",
            "minrate": str(bitrate),  # minrate == maxrate == bitrate: VPX_CBR
            "maxrate": str(bitrate),
            "bufsize": str(bitrate),
            "undershoot-pct": "95",
        }
        if self.codec_name == "libvpx-vp9":
            options["row-mt"] = "1"
            options["tile-columns"] = "1"
        return options

    def _open(self, width: int, height: int) -> None:
        bitrate = self._target_bitrate
        self._max_bitrate = bitrate
        ctx: Any = av.CodecContext.create(self.codec_name, "w")
        ctx.width = width
        ctx.height = height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = _VIDEO_TIME_BASE
        ctx.framerate = Fraction(self.framerate, 1)
        ctx.gop_size = 3000  # key frames when asked (RTCP PLI/FIR), not on a timer
        ctx.max_b_frames = 0
        ctx.bit_rate = bitrate
        # libvpx's VP8 encoder threads spin while they wait: on a loaded 2-core machine two of
        # them stalled frames by 100-200 ms; one thread encodes 640x480 in ~3 ms.
        ctx.thread_count = 1 if self.codec_name == "libvpx" else 2
        ctx.options = self._options(bitrate)
        ctx.open()
        self._ctx = ctx
        self._applied_bitrate = bitrate
        self._frames_since_open = 0

    def _apply_bitrate(self) -> None:
        target, applied = self._target_bitrate, self._applied_bitrate
        if target == applied or self._ctx is None:
            return
        if self.codec_name == "libx264" and self._max_bitrate // 4 <= target <= self._max_bitrate:
            self._ctx.bit_rate = target  # x264_encoder_reconfig through FFmpeg
            self._applied_bitrate = target
            return
        if (
            abs(target - applied) >= self.bitrate_hysteresis * applied
            and self._frames_since_open >= self.min_reopen_frames
        ):
            self._ctx = None  # reopened (with a key frame) on this frame
            self.reopens += 1

    def encode(
        self, frame: av.AudioFrame | av.VideoFrame, *, force_keyframe: bool = False
    ) -> list[EncodedFrame]:
        if not isinstance(frame, av.VideoFrame):
            raise TypeError("a video encoder takes av.VideoFrame")
        ts = _timestamp(frame, VIDEO_CLOCK)
        if ts is None:
            step = VIDEO_CLOCK // self.framerate
            ts = 0 if self._last_timestamp is None else self._last_timestamp + step
        if self._last_timestamp is not None and ts <= self._last_timestamp:
            ts = self._last_timestamp + 1  # encoders want strictly increasing pts
        self._last_timestamp = ts
        # 4:2:0 needs even dimensions.
        width, height = frame.width & ~1, frame.height & ~1
        if width < 2 or height < 2:
            raise ValueError(f"cannot encode a {frame.width}x{frame.height} picture")
        if frame.format.name != "yuv420p" or (width, height) != (frame.width, frame.height):
            picture = frame.reformat(width=width, height=height, format="yuv420p")
        else:
            picture = frame
        self._apply_bitrate()
        if self._ctx is not None and (self._ctx.width, self._ctx.height) != (width, height):
            self._ctx = None
        if self._ctx is None:
            self._open(width, height)
        # The caller's frame may be shared (several encoders): restore what is set on it.
        saved = (picture.pts, picture.time_base, picture.pict_type)
        picture.pts = ts
        picture.time_base = _VIDEO_TIME_BASE
        picture.pict_type = PictureType.I if force_keyframe else PictureType.NONE
        try:
            packets = self._ctx.encode(picture)
        finally:
            picture.pts, picture.pict_type = saved[0], saved[2]
            if saved[1] is not None:
                picture.time_base = saved[1]
        self._frames_since_open += 1
        return [
            EncodedFrame(
                bytes(packet),
                (packet.pts if packet.pts is not None else ts) & 0xFFFFFFFF,
                bool(packet.is_keyframe),
            )
            for packet in packets
        ]


class VideoDecoder:
    """VP8, VP9 or H.264 frames → ``av.VideoFrame`` (FFmpeg's native decoders).

    Bad input (garbage, or an inter frame whose reference was lost) gives ``[]``, adds one to
    ``errors`` and sets ``keyframe_needed`` (the receiver's cue for an RTCP PLI) until a key
    frame decodes.
    """

    def __init__(self, codec_name: str) -> None:
        self.codec_name = codec_name  # "vp8", "vp9" or "h264"
        self._ctx: Any = av.CodecContext.create(codec_name, "r")  # av.VideoCodecContext
        self._ctx.thread_count = 1  # no frame threading: it would delay every frame
        self.errors = 0
        self.keyframe_needed = False

    def decode(self, frame: EncodedFrame) -> list[av.AudioFrame | av.VideoFrame]:
        if not frame.data:
            return []
        packet = av.Packet(frame.data)
        packet.pts = frame.timestamp
        packet.time_base = _VIDEO_TIME_BASE
        try:
            pictures = self._ctx.decode(packet)
        except _DECODE_ERRORS as exc:
            self.errors += 1
            self.keyframe_needed = True
            logger.debug("%s decoder dropped a frame: %s", self.codec_name, exc)
            return []
        if pictures and frame.keyframe:
            self.keyframe_needed = False
        out: list[av.AudioFrame | av.VideoFrame] = []
        for picture in pictures:
            picture.time_base = _VIDEO_TIME_BASE
            out.append(picture)
        return out


# --- lookup -----------------------------------------------------------------------------------

SUPPORTED: frozenset[str] = frozenset(
    {"audio/opus", "audio/PCMU", "audio/PCMA", "video/VP8", "video/VP9", "video/H264"}
)


def _check(mime_type: str, clock_rate: int) -> str:
    mime = mime_type.lower()
    expected = {"audio/opus": 48000, "audio/pcmu": 8000, "audio/pcma": 8000}.get(
        mime, VIDEO_CLOCK if mime in _VIDEO_CODECS else None
    )
    if expected is None:
        raise ValueError(f"unsupported codec {mime_type!r} (supported: {sorted(SUPPORTED)})")
    if clock_rate != expected:
        raise ValueError(f"{mime_type} runs at {expected} Hz, not {clock_rate}")
    return mime


def create_encoder(
    mime_type: str, *, clock_rate: int, channels: int = 1, parameters: Mapping[str, str] = {}
) -> Encoder:
    """An encoder for an SDP codec (``a=rtpmap`` name, rate, channels; ``a=fmtp`` parameters).

    ``ValueError`` for a codec not in :data:`SUPPORTED` or a wrong clock rate.
    """
    mime = _check(mime_type, clock_rate)
    if mime == "audio/opus":
        bitrate = parameters.get("maxaveragebitrate")
        return OpusEncoder(
            channels=max(1, min(2, channels)),
            target_bitrate=int(bitrate) if bitrate and bitrate.isdigit() else None,
        )
    if mime == "audio/pcmu":
        return G711Encoder("ulaw")
    if mime == "audio/pcma":
        return G711Encoder("alaw")
    return VideoEncoder(_VIDEO_CODECS[mime][0], parameters=parameters)


def create_decoder(
    mime_type: str, *, clock_rate: int, channels: int = 1, parameters: Mapping[str, str] = {}
) -> Decoder:
    """A decoder for an SDP codec; Opus decodes to ``channels`` channels (1 or 2)."""
    mime = _check(mime_type, clock_rate)
    if mime == "audio/opus":
        return OpusDecoder(channels=max(1, min(2, channels)))
    if mime == "audio/pcmu":
        return G711Decoder("ulaw")
    if mime == "audio/pcma":
        return G711Decoder("alaw")
    return VideoDecoder(_VIDEO_CODECS[mime][1])


def psnr(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    """Peak signal-to-noise ratio of two 8-bit pictures, in dB (``inf`` when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)
