"""Media: codecs, tracks, sources and sinks -- the one part of rtcstack that imports codec
libraries (PyAV, numpy; opuslib on first use of Opus, so a missing libopus fails Opus only).

What is here:

- :mod:`~rtcstack.media.codecs` -- :func:`create_encoder` / :func:`create_decoder` by SDP codec
  name (:data:`SUPPORTED`: ``audio/opus``, ``audio/PCMU``, ``audio/PCMA``, ``video/VP8``,
  ``video/VP9``, ``video/H264``; case-insensitive).  An :class:`Encoder` turns
  ``av.AudioFrame``/``av.VideoFrame`` into :class:`EncodedFrame` (the unit the RTP payload
  formats of :mod:`rtcstack.rtp.formats` packetize) with ``force_keyframe`` and a settable
  ``target_bitrate``; a :class:`Decoder` turns them back and never raises on bad input
  (``[]``, ``errors`` counted).  Specs: Opus RFC 6716 / RFC 7587 (libopus, in-band FEC,
  concealment hooks); G.711 ITU-T G.711 (tables here, :mod:`~rtcstack.media.g711`); VP8
  RFC 6386 (libvpx); VP9 (libvpx-vp9); H.264 ITU-T H.264 constrained baseline, Annex B, SPS/PPS
  before every IDR (libx264); decoders are FFmpeg's.
- :mod:`~rtcstack.media.tracks` -- the W3C Media Capture track model as aiortc has it:
  :class:`MediaStreamTrack` (``kind``, ``id``, ``readyState``, ``await recv()``, ``stop()``,
  ``on("ended")``), paced source bases :class:`AudioStreamTrack` / :class:`VideoStreamTrack`,
  synthetic :class:`VideoPatternTrack` (frame numbers readable after coding with
  :func:`pattern_frame_number`) and :class:`ToneTrack`, :class:`QueuedTrack` (frames pushed in
  by a receiver), :class:`MediaPlayer` (file or device), sinks :class:`MediaRecorder`,
  :class:`MediaBlackhole`, :class:`FrameCallback` / :func:`on_frame`, and :class:`MediaRelay`.

Out of scope: RTP itself (payload formats live in :mod:`rtcstack.rtp.formats`, sessions in
``rtcstack.rtp.session``), jitter buffers and audio/video synchronisation, simulcast and SVC
layer control, hardware codecs, AV1, RED/ULPFEC, echo cancellation and other audio
processing, and congestion control (the bandwidth estimator sets ``target_bitrate``).

>>> from fractions import Fraction
>>> import av
>>> from rtcstack.media import create_decoder, create_encoder, VideoPatternTrack
>>> from rtcstack.media import pattern_frame_number
>>> encoder = create_encoder("video/VP8", clock_rate=90000)
>>> decoder = create_decoder("video/VP8", clock_rate=90000)
>>> picture = VideoPatternTrack(width=320, height=240).draw(1234)
>>> picture.pts, picture.time_base = 3000, Fraction(1, 90000)
>>> [encoded] = encoder.encode(picture)
>>> encoded.timestamp, encoded.keyframe
(3000, True)
>>> [decoded] = decoder.decode(encoded)
>>> pattern_frame_number(decoded)
1234
"""

from rtcstack.media.codecs import (
    SUPPORTED,
    Decoder,
    EncodedFrame,
    Encoder,
    G711Decoder,
    G711Encoder,
    OpusDecoder,
    OpusEncoder,
    VideoDecoder,
    VideoEncoder,
    create_decoder,
    create_encoder,
    psnr,
)
from rtcstack.media.tracks import (
    AudioStreamTrack,
    FrameCallback,
    MediaBlackhole,
    MediaPlayer,
    MediaRecorder,
    MediaRelay,
    MediaStreamError,
    MediaStreamTrack,
    QueuedTrack,
    ToneTrack,
    VideoPatternTrack,
    VideoStreamTrack,
    frame_to_ndarray,
    on_frame,
    pattern_frame_number,
)

__all__ = [
    "SUPPORTED",
    "AudioStreamTrack",
    "Decoder",
    "EncodedFrame",
    "Encoder",
    "FrameCallback",
    "G711Decoder",
    "G711Encoder",
    "MediaBlackhole",
    "MediaPlayer",
    "MediaRecorder",
    "MediaRelay",
    "MediaStreamError",
    "MediaStreamTrack",
    "OpusDecoder",
    "OpusEncoder",
    "QueuedTrack",
    "ToneTrack",
    "VideoDecoder",
    "VideoEncoder",
    "VideoPatternTrack",
    "VideoStreamTrack",
    "create_decoder",
    "create_encoder",
    "frame_to_ndarray",
    "on_frame",
    "pattern_frame_number",
    "psnr",
]
