"""Media tracks, sources and sinks: the W3C Media Capture model as aiortc shapes it in Python.

A :class:`MediaStreamTrack` hands out ``av.AudioFrame`` / ``av.VideoFrame`` through
``await track.recv()`` until it ends (then :class:`MediaStreamError`).  Sources:
:class:`VideoPatternTrack`, :class:`ToneTrack`, :class:`MediaPlayer` (a file or a device via
PyAV), :class:`QueuedTrack` (frames pushed in: what a peer connection's receiver gives).  Sinks
take tracks with ``addTrack`` and run between ``await start()`` and ``await stop()``:
:class:`MediaBlackhole`, :class:`FrameCallback`, :class:`MediaRecorder`.  :class:`MediaRelay`
lets several consumers read one track.

This is the asyncio side of the stack: pacing sleeps on the event loop's clock, and
:class:`MediaPlayer` demuxes and decodes in one thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from av.audio.resampler import AudioResampler

from rtcstack.common.errors import RtcstackError

__all__ = [
    "AudioStreamTrack",
    "FrameCallback",
    "MediaBlackhole",
    "MediaPlayer",
    "MediaRecorder",
    "MediaRelay",
    "MediaStreamError",
    "MediaStreamTrack",
    "QueuedTrack",
    "ToneTrack",
    "VideoPatternTrack",
    "VideoStreamTrack",
    "frame_to_ndarray",
    "on_frame",
    "pattern_frame_number",
]

logger = logging.getLogger(__name__)

Frame = av.AudioFrame | av.VideoFrame

VIDEO_CLOCK_RATE = 90000
AUDIO_PTIME = 0.020  # seconds of audio per frame a source produces


# Coroutine event handlers running in the background (a reference keeps them alive).
_background: set[asyncio.Future[Any]] = set()


class MediaStreamError(RtcstackError):
    """``recv()`` on a track that has ended."""


class MediaStreamTrack(ABC):
    """A track: ``kind`` ("audio" or "video"), ``id`` (a UUID), ``readyState`` ("live" or
    "ended"), ``await recv()`` for the next frame, ``stop()``, and an ``"ended"`` event.

    Subclasses implement :meth:`recv`.
    """

    kind: str = "unknown"

    def __init__(self) -> None:
        self.id = str(uuid.uuid4())
        self._ended = False
        self._handlers: dict[str, list[Callable[..., Any]]] = {}

    @property
    def readyState(self) -> str:  # the W3C name
        return "ended" if self._ended else "live"

    @abstractmethod
    async def recv(self) -> Frame:
        """The next frame (MediaStreamError once the track has ended)."""

    def stop(self) -> None:
        """End the track; ``recv()`` raises :class:`MediaStreamError` from now on."""
        if not self._ended:
            self._ended = True
            self.emit("ended")

    def on(
        self, event: str, handler: Callable[..., Any] | None = None
    ) -> Callable[..., Any]:
        """Register ``handler`` for ``event``; without a handler, a decorator."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._handlers.setdefault(event, []).append(fn)
            return fn

        return register(handler) if handler is not None else register

    def emit(self, event: str, *args: Any) -> None:
        """Call the handlers of ``event``; a coroutine handler is scheduled as a task."""
        for handler in list(self._handlers.get(event, ())):
            result = handler(*args)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                _background.add(task)
                task.add_done_callback(_background.discard)

    def _check_live(self) -> None:
        if self._ended:
            raise MediaStreamError(f"{self.kind} track {self.id} has ended")


class _Pacer:
    """Real-time pacing for a source: timestamps advance by ``step`` ticks of ``clock_rate``
    per frame, and each frame waits (``asyncio.sleep``) until its due time on the loop clock.
    A consumer that falls more than ``max_lag`` seconds behind is not made to catch up in a
    burst: the schedule moves forward, the timestamps stay regular."""

    max_lag = 0.5

    def __init__(self, clock_rate: int, step: int) -> None:
        self.clock_rate = clock_rate
        self.step = step
        self.timestamp = 0
        self._start: float | None = None

    async def next(self) -> int:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
            return self.timestamp
        self.timestamp += self.step
        due = self._start + self.timestamp / self.clock_rate
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -self.max_lag:
            self._start -= wait  # late: shift the schedule instead of bursting
        return self.timestamp


class VideoStreamTrack(MediaStreamTrack):
    """Base of video sources: :meth:`next_timestamp` paces frames at ``fps`` on a 90 kHz clock.

    ``recv()`` gives black ``width``x``height`` frames; subclasses draw something else.
    """

    kind = "video"

    def __init__(self, *, width: int = 640, height: int = 480, fps: float = 30) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._pacer = _Pacer(VIDEO_CLOCK_RATE, round(VIDEO_CLOCK_RATE / fps))

    async def next_timestamp(self) -> tuple[int, Fraction]:
        """Wait until the next frame is due; its pts and time base."""
        self._check_live()
        pts = await self._pacer.next()
        self._check_live()
        return pts, Fraction(1, VIDEO_CLOCK_RATE)

    async def recv(self) -> Frame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for plane, value in zip(frame.planes, (16, 128, 128), strict=True):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        return frame


class AudioStreamTrack(MediaStreamTrack):
    """Base of audio sources: :meth:`next_timestamp` paces 20 ms frames at ``sample_rate``.

    ``recv()`` gives silence (s16); subclasses make sound.
    """

    kind = "audio"

    def __init__(self, *, sample_rate: int = 48000, channels: int = 1) -> None:
        super().__init__()
        if channels not in (1, 2):
            raise ValueError("channels must be 1 or 2")
        self.sample_rate, self.channels = sample_rate, channels
        self.samples_per_frame = round(sample_rate * AUDIO_PTIME)
        self._pacer = _Pacer(sample_rate, self.samples_per_frame)

    async def next_timestamp(self) -> tuple[int, Fraction]:
        self._check_live()
        pts = await self._pacer.next()
        self._check_live()
        return pts, Fraction(1, self.sample_rate)

    def _frame(self, samples: npt.NDArray[np.int16], pts: int) -> av.AudioFrame:
        """An s16 frame from ``samples`` shaped (samples, channels)."""
        layout = "stereo" if self.channels == 2 else "mono"
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples).reshape(1, -1), format="s16", layout=layout
        )
        frame.sample_rate = self.sample_rate
        frame.pts, frame.time_base = pts, Fraction(1, self.sample_rate)
        return frame

    async def recv(self) -> Frame:
        pts, _ = await self.next_timestamp()
        silence = np.zeros((self.samples_per_frame, self.channels), dtype=np.int16)
        return self._frame(silence, pts)


# --- synthetic sources ------------------------------------------------------------------------

_PATTERN_BLOCKS = 24  # marker (2) + frame number (16) + check (4) + margin (2), across the top
_PATTERN_BITS = 16


def _pattern_bits(number: int) -> list[int]:
    data = [(number >> (15 - i)) & 1 for i in range(_PATTERN_BITS)]
    check = (sum((number >> s) & 0xF for s in (0, 4, 8, 12)) + 5) & 0xF
    return [1, 0, *data, *((check >> (3 - i)) & 1 for i in range(4))]


def pattern_frame_number(frame: av.VideoFrame) -> int | None:
    """The frame number :class:`VideoPatternTrack` drew into ``frame`` (modulo 65536), read
    back from the luma of the block code in its top-left corner; ``None`` when the code is not
    there or does not check (blocks that are neither clearly black nor clearly white, a bad
    marker or check nibble).  Survives lossy coding and scaling (the blocks are 1/24 of the
    width)."""
    gray = frame.to_ndarray(format="gray")
    height, width = gray.shape
    block = width // _PATTERN_BLOCKS
    if block < 4 or height < block:
        return None
    margin = block // 4
    bits: list[int] = []
    for i in range(22):
        patch = gray[margin : block - margin, i * block + margin : (i + 1) * block - margin]
        mean = float(patch.mean())
        if 80 <= mean <= 170:
            return None
        bits.append(1 if mean > 170 else 0)
    number = 0
    for bit in bits[2:18]:
        number = number << 1 | bit
    return number if bits == _pattern_bits(number) else None


class VideoPatternTrack(VideoStreamTrack):
    """A synthetic moving picture (sliding gradients and a sweeping bar) whose frame number is
    drawn as a row of large black/white blocks in the top-left corner, readable after lossy
    coding with :func:`pattern_frame_number`.  Frame numbers start at 0."""

    def __init__(self, *, width: int = 640, height: int = 480, fps: float = 30) -> None:
        if width % 2 or height % 2 or width < 96 or height < 32:
            raise ValueError("the pattern needs even dimensions, at least 96x32")
        super().__init__(width=width, height=height, fps=fps)
        self.frame_number = 0
        self._x = np.arange(width, dtype=np.int32)
        self._y = np.arange(height, dtype=np.int32)[:, None]
        self._cx = np.arange(width // 2, dtype=np.int32)
        self._cy = np.arange(height // 2, dtype=np.int32)[:, None]

    def draw(self, number: int) -> av.VideoFrame:
        """The picture of frame ``number`` (without pts)."""
        w, h = self.width, self.height
        n = number
        y_plane = ((self._x + 3 * n) // 2 + self._y // 3) & 0xFF
        bar = (8 * n) % w
        y_plane[:, bar : bar + w // 32] = 235
        u_plane = (64 + ((self._cx + 2 * n) & 0x7F)) + 0 * self._cy
        v_plane = (64 + ((self._cy + n) & 0x7F)) + 0 * self._cx
        block = w // _PATTERN_BLOCKS
        y_plane[: block + block // 2, : block * 22] = 128
        for i, bit in enumerate(_pattern_bits(number & 0xFFFF)):
            y_plane[:block, i * block : (i + 1) * block] = 235 if bit else 16
        u_plane[: (block + 1) // 2 + block // 4, : block * 11] = 128
        v_plane[: (block + 1) // 2 + block // 4, : block * 11] = 128
        yuv = np.concatenate(
            [y_plane.reshape(-1), u_plane.reshape(-1), v_plane.reshape(-1)]
        ).astype(np.uint8)
        return av.VideoFrame.from_ndarray(yuv.reshape(h * 3 // 2, w), format="yuv420p")

    async def recv(self) -> Frame:
        pts, time_base = await self.next_timestamp()
        frame = self.draw(self.frame_number)
        self.frame_number += 1
        frame.pts, frame.time_base = pts, time_base
        return frame


class ToneTrack(AudioStreamTrack):
    """A sine tone of ``frequency`` Hz at ``amplitude`` (0..1 of full scale), 20 ms frames of
    s16 samples (mono or stereo: the same tone in both channels), continuous in phase."""

    def __init__(
        self,
        *,
        frequency: float = 440,
        sample_rate: int = 48000,
        channels: int = 1,
        amplitude: float = 0.5,
    ) -> None:
        super().__init__(sample_rate=sample_rate, channels=channels)
        self.frequency, self.amplitude = frequency, amplitude
        self._sample = 0

    async def recv(self) -> Frame:
        pts, _ = await self.next_timestamp()
        n = self._sample + np.arange(self.samples_per_frame)
        self._sample += self.samples_per_frame
        wave = np.sin(2 * np.pi * self.frequency * n / self.sample_rate) * self.amplitude
        samples = np.round(wave * 32767).astype(np.int16)
        return self._frame(np.repeat(samples[:, None], self.channels, axis=1), pts)


# --- frames pushed in -------------------------------------------------------------------------


class QueuedTrack(MediaStreamTrack):
    """A track fed with :meth:`put_frame` (from the event loop's thread): what a peer
    connection hands out for received media.

    The queue holds at most ``maxsize`` frames; a full queue drops its oldest frame and counts
    it in ``dropped`` (a late consumer sees the newest media, not a growing delay).  :meth:`end`
    ends the track after the queued frames; :meth:`stop` (the consumer's) ends it at once.
    """

    def __init__(self, kind: str, *, maxsize: int = 32, id: str | None = None) -> None:
        super().__init__()
        if kind not in ("audio", "video"):
            raise ValueError(f"kind must be 'audio' or 'video', not {kind!r}")
        self.kind = kind
        if id is not None:
            self.id = id
        self.maxsize = maxsize
        self.dropped = 0
        self._queue: deque[Frame] = deque()
        self._waiters: list[asyncio.Future[None]] = []
        self._ending = False

    def put_frame(self, frame: Frame) -> None:
        if self._ended or self._ending:
            return
        if len(self._queue) >= self.maxsize:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(frame)
        self._wake()

    def end(self) -> None:
        """The source has no more frames: ``recv()`` drains the queue, then raises."""
        self._ending = True
        if not self._queue:
            self.stop()
        self._wake()

    def stop(self) -> None:
        super().stop()
        self._queue.clear()
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def recv(self) -> Frame:
        while True:
            self._check_live()
            if self._queue:
                frame = self._queue.popleft()
                if self._ending and not self._queue:
                    self.stop()
                return frame
            if self._ending:
                self.stop()
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter


# --- a file or device -------------------------------------------------------------------------


class _PlayerTrack(QueuedTrack):
    def __init__(self, player: MediaPlayer, kind: str) -> None:
        super().__init__(kind, maxsize=64)
        self._player = player

    async def recv(self) -> Frame:
        if not self._ended:
            self._player._start(self)
        return await super().recv()

    def stop(self) -> None:
        super().stop()
        self._player._track_stopped(self)


class MediaPlayer:
    """Plays a file or a capture device through PyAV: ``.audio`` and ``.video`` are tracks
    (``None`` when the source has no such stream).  One thread demuxes and decodes both
    streams, paced in real time by the frames' pts, and hands the frames to the event loop;
    it starts at the first ``recv()`` and ends when both tracks are stopped, at the end of
    the file (unless ``loop``), or on :meth:`stop`.  With ``loop`` the file plays again with
    pts continuing.
    """

    def __init__(
        self,
        file: str | Path,
        format: str | None = None,
        options: Mapping[str, str] | None = None,
        loop: bool = False,
    ) -> None:
        self.file, self.format = str(file), format
        self.options = dict(options or {})
        self.loop = loop
        self._container: Any = self._open()  # av.container.InputContainer
        self._audio_stream: Any = next(iter(self._container.streams.audio), None)
        self._video_stream: Any = next(iter(self._container.streams.video), None)
        self.audio: MediaStreamTrack | None = (
            _PlayerTrack(self, "audio") if self._audio_stream is not None else None
        )
        self.video: MediaStreamTrack | None = (
            _PlayerTrack(self, "video") if self._video_stream is not None else None
        )
        self._thread: threading.Thread | None = None
        self._quit = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> Any:  # av.container.InputContainer
        return av.open(self.file, "r", format=self.format, options=self.options)

    def _tracks(self) -> list[_PlayerTrack]:
        return [t for t in (self.audio, self.video) if isinstance(t, _PlayerTrack)]

    def _start(self, track: _PlayerTrack) -> None:
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(
                target=self._run, name=f"MediaPlayer {self.file}", daemon=True
            )
            self._thread.start()

    def _track_stopped(self, track: _PlayerTrack) -> None:
        if all(t.readyState == "ended" for t in self._tracks()):
            self._quit.set()

    def stop(self) -> None:
        """Stop playing and end both tracks."""
        self._quit.set()
        for track in self._tracks():
            track.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        with contextlib.suppress(Exception):
            self._container.close()

    def _deliver(self, track: _PlayerTrack | None, frame: Frame | None) -> None:
        loop = self._loop
        if track is None or loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            if frame is None:
                loop.call_soon_threadsafe(track.end)
            else:
                loop.call_soon_threadsafe(track.put_frame, frame)

    def _run(self) -> None:
        audio = self.audio if isinstance(self.audio, _PlayerTrack) else None
        video = self.video if isinstance(self.video, _PlayerTrack) else None
        start = time.monotonic()
        offset = 0.0  # seconds added to pts on each pass of a looped file
        container = self._container
        first: float | None = None
        while not self._quit.is_set():
            streams = [s for s in (self._audio_stream, self._video_stream) if s is not None]
            last = 0.0
            try:
                for decoded in container.decode(*streams):
                    if self._quit.is_set():
                        return
                    if decoded.pts is None or decoded.time_base is None:
                        continue
                    seconds = float(decoded.pts * decoded.time_base)
                    if first is None:
                        first = seconds
                    at = seconds - first + offset
                    last = max(last, at + self._duration(decoded))
                    wait = start + at - time.monotonic()
                    if wait > 0 and self._quit.wait(wait):
                        return
                    if offset:
                        decoded.pts += round(offset / decoded.time_base)
                    target = audio if isinstance(decoded, av.AudioFrame) else video
                    self._deliver(target, decoded)
            except av.FFmpegError as exc:
                logger.warning("MediaPlayer %s: %s", self.file, exc)
            if not self.loop or self._quit.is_set():
                break
            offset = last
            container.close()
            container = self._container = self._open()
            self._audio_stream = next(iter(container.streams.audio), None)
            self._video_stream = next(iter(container.streams.video), None)
        self._deliver(audio, None)
        self._deliver(video, None)

    @staticmethod
    def _duration(frame: Frame) -> float:
        if isinstance(frame, av.AudioFrame):
            return frame.samples / frame.sample_rate if frame.sample_rate else 0.0
        if frame.duration is not None and frame.time_base is not None:
            return float(frame.duration * frame.time_base)
        return 0.0


# --- sinks ------------------------------------------------------------------------------------


class _Sink(ABC):
    """addTrack, start, stop: one task per track reads frames until the track ends."""

    def __init__(self) -> None:
        self._tracks: list[MediaStreamTrack] = []
        self._tasks: list[asyncio.Task[None]] = []

    def addTrack(self, track: MediaStreamTrack) -> None:  # the aiortc name
        self._tracks.append(track)

    async def start(self) -> None:
        for track in self._tracks:
            self._tasks.append(asyncio.ensure_future(self._run(track)))

    async def _run(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self._consume(track, frame)

    @abstractmethod
    def _consume(self, track: MediaStreamTrack, frame: Frame) -> None:
        """What the sink does with one frame of ``track``."""

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class MediaBlackhole(_Sink):
    """Reads its tracks and discards the frames, counting them (``frames``, ``frames_by_kind``)."""

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0
        self.frames_by_kind: dict[str, int] = {"audio": 0, "video": 0}

    def _consume(self, track: MediaStreamTrack, frame: Frame) -> None:
        self.frames += 1
        self.frames_by_kind[track.kind] = self.frames_by_kind.get(track.kind, 0) + 1


def frame_to_ndarray(frame: Frame, *, video_format: str = "rgb24") -> npt.NDArray[Any]:
    """A video frame as an HxWx3 ``rgb24`` array (or ``video_format``); an audio frame as
    int16 samples shaped (samples, channels)."""
    if isinstance(frame, av.VideoFrame):
        return frame.to_ndarray(format=video_format)
    if frame.format.name != "s16":
        resampler = AudioResampler(format="s16", layout=frame.layout, rate=frame.sample_rate)
        converted = resampler.resample(frame)
        data = [f.to_ndarray().reshape(-1) for f in converted]
        flat = np.concatenate(data) if data else np.zeros(0, dtype=np.int16)
    else:
        flat = frame.to_ndarray().reshape(-1)
    channels = frame.layout.nb_channels
    return flat.astype(np.int16, copy=False).reshape(-1, channels)


class FrameCallback(_Sink):
    """Calls ``fn(array, frame)`` for every frame of its tracks: video as an ``rgb24`` HxWx3
    array, audio as int16 samples shaped (samples, channels) (see :func:`frame_to_ndarray`)."""

    def __init__(
        self, fn: Callable[[npt.NDArray[Any], Frame], Any], *, video_format: str = "rgb24"
    ) -> None:
        super().__init__()
        self.fn = fn
        self.video_format = video_format
        self.frames = 0

    def _consume(self, track: MediaStreamTrack, frame: Frame) -> None:
        self.frames += 1
        self.fn(frame_to_ndarray(frame, video_format=self.video_format), frame)


async def on_frame(
    track: MediaStreamTrack, fn: Callable[[npt.NDArray[Any], Frame], Any]
) -> FrameCallback:
    """Start a :class:`FrameCallback` on one track; ``await sink.stop()`` ends it."""
    sink = FrameCallback(fn)
    sink.addTrack(track)
    await sink.start()
    return sink


_CONTAINER_CODECS: dict[str, tuple[str, str]] = {  # format or suffix -> (video, audio)
    "webm": ("libvpx", "libopus"),
    "matroska": ("libx264", "libopus"),
    "mkv": ("libx264", "libopus"),
    "ogg": ("", "libopus"),
    "mp4": ("libx264", "aac"),
    "mov": ("libx264", "aac"),
    "m4a": ("", "aac"),
    "wav": ("", "pcm_s16le"),
    "mp3": ("", "libmp3lame"),
    "flac": ("", "flac"),
}


class MediaRecorder(_Sink):
    """Encodes its tracks into a file with PyAV.  Codecs follow the container (``format``, or
    the file's suffix): WebM VP8 + Opus; MP4/MOV H.264 + AAC; Matroska H.264 + Opus; WAV
    PCM; Ogg Opus; anything else H.264 + AAC.  Each stream is set up from its track's first
    frame (size, rate, layout), and the header is written once every track has given one (or
    after ``setup_timeout`` seconds).  Encoding runs on the event loop."""

    setup_timeout = 3.0

    def __init__(
        self, path: str | Path, format: str | None = None, options: Mapping[str, str] | None = None
    ) -> None:
        super().__init__()
        self.path, self.format = str(path), format
        self.options = dict(options or {})
        self._container: Any = None  # av.container.OutputContainer
        self._streams: dict[str, Any] = {}  # track id -> av stream
        self._origin: dict[str, float] = {}  # track id -> first frame's time (s)
        self._ready: asyncio.Event | None = None
        self._configured: set[str] = set()
        self.frames = 0

    def _codecs(self) -> tuple[str, str]:
        key = (self.format or Path(self.path).suffix.lstrip(".")).lower()
        return _CONTAINER_CODECS.get(key, ("libx264", "aac"))

    async def start(self) -> None:
        self._container = av.open(self.path, "w", format=self.format, options=self.options)
        self._ready = asyncio.Event()
        if not self._tracks:
            self._ready.set()
        await super().start()

    async def _run(self, track: MediaStreamTrack) -> None:
        try:
            first = await track.recv()
        except MediaStreamError:
            self._configured.add(track.id)
            self._check_ready()
            return
        self._setup(track, first)
        if self._ready is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), self.setup_timeout)
        self._consume(track, first)
        await super()._run(track)

    def _check_ready(self) -> None:
        if self._ready is not None and len(self._configured) >= len(self._tracks):
            self._ready.set()

    def _setup(self, track: MediaStreamTrack, frame: Frame) -> None:
        video_codec, audio_codec = self._codecs()
        container = self._container
        if isinstance(frame, av.VideoFrame) and video_codec:
            stream = container.add_stream(video_codec, rate=30)
            stream.width, stream.height = frame.width & ~1, frame.height & ~1
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = Fraction(1, VIDEO_CLOCK_RATE)
            # fast settings: the recorder encodes on the event loop
            stream.options = (
                {"preset": "veryfast"}
                if video_codec == "libx264"
                else {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
            )
            self._streams[track.id] = stream
        elif isinstance(frame, av.AudioFrame) and audio_codec:
            rate = 48000 if audio_codec == "libopus" else frame.sample_rate
            stream = container.add_stream(audio_codec, rate=rate)
            stream.layout = "stereo" if frame.layout.nb_channels >= 2 else "mono"
            self._streams[track.id] = stream
        else:
            logger.warning("MediaRecorder %s: no codec for a %s track", self.path, track.kind)
        self._configured.add(track.id)
        self._check_ready()

    def _consume(self, track: MediaStreamTrack, frame: Frame) -> None:
        stream = self._streams.get(track.id)
        if stream is None or frame.pts is None or frame.time_base is None:
            return
        seconds = float(frame.pts * frame.time_base)
        origin = self._origin.setdefault(track.id, seconds)
        if isinstance(frame, av.VideoFrame):
            if (frame.width, frame.height, frame.format.name) != (
                stream.width, stream.height, "yuv420p"
            ):
                frame = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
            frame.pts = round((seconds - origin) * VIDEO_CLOCK_RATE)
            frame.time_base = Fraction(1, VIDEO_CLOCK_RATE)
            frame.pict_type = av.video.frame.PictureType.NONE
        else:
            frame.pts = round((seconds - origin) * frame.sample_rate)
            frame.time_base = Fraction(1, frame.sample_rate)
        for packet in stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    async def stop(self) -> None:
        """Stop reading, flush the encoders and close the file."""
        await super().stop()
        if self._container is None:
            return
        for stream in self._streams.values():
            with contextlib.suppress(av.FFmpegError):
                for packet in stream.encode(None):
                    self._container.mux(packet)
        self._container.close()
        self._container = None


# --- several consumers of one track -----------------------------------------------------------


class MediaRelay:
    """``relay.subscribe(track)`` gives a new track with the same frames; one reader task per
    source feeds every subscriber's queue (``buffered=False``: keep only the newest frame, for
    consumers that want the latest picture rather than every one)."""

    def __init__(self) -> None:
        self._subscribers: dict[MediaStreamTrack, set[QueuedTrack]] = {}
        self._readers: dict[MediaStreamTrack, asyncio.Task[None]] = {}

    def subscribe(self, track: MediaStreamTrack, *, buffered: bool = True) -> MediaStreamTrack:
        proxy = QueuedTrack(track.kind, maxsize=32 if buffered else 1)
        self._subscribers.setdefault(track, set()).add(proxy)
        proxy.on("ended", lambda: self._unsubscribe(track, proxy))
        if track not in self._readers:
            self._readers[track] = asyncio.ensure_future(self._read(track))
        return proxy

    def _unsubscribe(self, track: MediaStreamTrack, proxy: QueuedTrack) -> None:
        subscribers = self._subscribers.get(track)
        if subscribers is not None:
            subscribers.discard(proxy)
            if not subscribers:
                reader = self._readers.pop(track, None)
                if reader is not None:
                    reader.cancel()
                del self._subscribers[track]

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            for proxy in list(self._subscribers.get(track, ())):
                proxy.put_frame(frame)
        for proxy in list(self._subscribers.get(track, ())):
            proxy.end()
        self._readers.pop(track, None)
