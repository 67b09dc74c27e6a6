"""rtcstack.media tracks, sources and sinks on a real event loop (small rates, generous bounds:
these check pacing, not a scheduler's precision)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from rtcstack.media import (
    FrameCallback,
    MediaBlackhole,
    MediaPlayer,
    MediaRecorder,
    MediaRelay,
    MediaStreamError,
    QueuedTrack,
    ToneTrack,
    VideoPatternTrack,
    VideoStreamTrack,
    on_frame,
    pattern_frame_number,
)


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(fn(), timeout=20))


def test_pattern_track_paces_and_numbers_frames() -> None:
    async def main() -> None:
        track = VideoPatternTrack(width=192, height=96, fps=20)
        assert track.kind == "video" and track.readyState == "live"
        start = time.monotonic()
        frames = [await track.recv() for _ in range(7)]
        elapsed = time.monotonic() - start
        assert 6 / 20 * 0.8 <= elapsed < 3.0
        assert [f.pts for f in frames] == [i * 4500 for i in range(7)]
        assert all(f.time_base == Fraction(1, 90000) for f in frames)
        assert [pattern_frame_number(f) for f in frames] == list(range(7))
        assert (frames[0].width, frames[0].height) == (192, 96)
        assert not np.array_equal(frames[1].to_ndarray(), frames[2].to_ndarray())  # it moves

    run(main)


def test_pattern_frame_number_rejects_other_pictures() -> None:
    assert pattern_frame_number(av.VideoFrame(640, 480, "yuv420p")) is None
    frame = av.VideoFrame.from_ndarray(
        np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8), format="rgb24"
    )
    assert pattern_frame_number(frame) is None
    big = VideoPatternTrack().draw(65535)
    assert pattern_frame_number(big) == 65535
    assert pattern_frame_number(big.reformat(width=320, height=240)) == 65535


def test_tone_track() -> None:
    async def main() -> None:
        track = ToneTrack(frequency=1000, channels=2)
        frames = [await track.recv() for _ in range(5)]
        assert [f.pts for f in frames] == [i * 960 for i in range(5)]
        assert all(f.samples == 960 and f.sample_rate == 48000 for f in frames)
        assert frames[0].layout.nb_channels == 2 and frames[0].format.name == "s16"
        samples = np.concatenate([f.to_ndarray().reshape(-1, 2) for f in frames])
        assert np.array_equal(samples[:, 0], samples[:, 1])
        spectrum = np.abs(np.fft.rfft(samples[:, 0]))
        assert np.argmax(spectrum) * 48000 / len(samples) == pytest.approx(1000, abs=20)

    run(main)


def test_stop_ends_recv_and_fires_ended() -> None:
    async def main() -> None:
        track = VideoStreamTrack(width=64, height=48, fps=10)
        seen: list[str] = []

        @track.on("ended")
        def ended() -> None:
            seen.append("ended")

        frame = await track.recv()
        assert frame.width == 64
        waiting = asyncio.ensure_future(track.recv())  # sleeping until the next frame is due
        await asyncio.sleep(0.01)
        track.stop()
        track.stop()  # once only
        with pytest.raises(MediaStreamError):
            await waiting
        with pytest.raises(MediaStreamError):
            await track.recv()
        assert seen == ["ended"]
        assert track.readyState == "ended"

    run(main)


def test_queued_track() -> None:
    async def main() -> None:
        track = QueuedTrack("video", maxsize=3)
        frames = [av.VideoFrame(16, 16, "yuv420p") for _ in range(5)]
        for i, f in enumerate(frames):
            f.pts = i
            track.put_frame(f)
        assert track.dropped == 2
        assert [(await track.recv()).pts for _ in range(3)] == [2, 3, 4]
        waiting = asyncio.ensure_future(track.recv())
        await asyncio.sleep(0)
        assert not waiting.done()
        track.put_frame(frames[0])
        assert (await waiting).pts == 0
        track.put_frame(frames[1])
        track.end()  # the queued frame first, then the end
        assert (await track.recv()).pts == 1
        with pytest.raises(MediaStreamError):
            await track.recv()
        assert track.readyState == "ended"
        track.put_frame(frames[2])  # ignored

        other = QueuedTrack("audio")
        waiting = asyncio.ensure_future(other.recv())
        await asyncio.sleep(0)
        other.stop()
        with pytest.raises(MediaStreamError):
            await waiting
        with pytest.raises(ValueError):
            QueuedTrack("data")

    run(main)


def write_media(path: Path, video_frames: int = 10, audio_seconds: float = 0.3) -> None:
    """A small WebM file (VP8 160x120 at 30 fps + Opus) written with PyAV."""
    pattern = VideoPatternTrack(width=160, height=120)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libvpx", rate=30)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = container.add_stream("libopus", rate=48000)
        audio.layout = "mono"
        for i in range(video_frames):
            frame = pattern.draw(i)
            frame.pts = i
            frame.time_base = Fraction(1, 30)
            for packet in video.encode(frame):
                container.mux(packet)
        samples = int(48000 * audio_seconds)
        tone = (np.sin(np.arange(samples) * 2 * np.pi * 440 / 48000) * 10000).astype(np.int16)
        for start in range(0, samples, 960):
            frame = av.AudioFrame.from_ndarray(
                tone[None, start : start + 960], format="s16", layout="mono"
            )
            frame.sample_rate = 48000
            frame.pts, frame.time_base = start, Fraction(1, 48000)
            for packet in audio.encode(frame):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                container.mux(packet)


async def drain(track: Any, limit: int = 10_000) -> list[Any]:
    frames = []
    while len(frames) < limit:
        try:
            frames.append(await track.recv())
        except MediaStreamError:
            break
    return frames


def test_media_player_plays_a_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.webm"
    write_media(path)

    async def main() -> None:
        player = MediaPlayer(path)
        assert player.audio is not None and player.video is not None
        start = time.monotonic()
        video, audio = await asyncio.gather(drain(player.video), drain(player.audio))
        elapsed = time.monotonic() - start
        assert len(video) == 10
        assert [pattern_frame_number(f) for f in video] == list(range(10))
        assert 0.2 <= elapsed < 5  # 10 frames at 30 fps, paced
        assert sum(f.samples for f in audio) >= 48000 * 0.25
        assert player.video.readyState == "ended"
        player.stop()

    run(main)


def test_media_player_loops_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "clip.webm"
    write_media(path, video_frames=6, audio_seconds=0.1)

    async def main() -> None:
        player = MediaPlayer(path, loop=True)
        assert player.video is not None
        video = await drain(player.video, limit=14)
        assert len(video) == 14
        seconds = [float(f.pts * f.time_base) for f in video]
        assert all(b > a for a, b in itertools.pairwise(seconds))
        assert [pattern_frame_number(f) for f in video[:8]] == [0, 1, 2, 3, 4, 5, 0, 1]
        player.stop()
        with pytest.raises(MediaStreamError):
            await player.video.recv()

    run(main)


def test_media_player_without_audio(tmp_path: Path) -> None:
    path = tmp_path / "video.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame(160, 120, "yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    player = MediaPlayer(path)
    assert player.audio is None and player.video is not None
    assert len(run(lambda: drain(player.video))) == 3
    player.stop()


@pytest.mark.parametrize("suffix", ["mp4", "webm"])
def test_media_recorder_writes_a_readable_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out.{suffix}"

    async def main() -> None:
        recorder = MediaRecorder(path)
        recorder.addTrack(VideoPatternTrack(width=160, height=120, fps=30))
        recorder.addTrack(ToneTrack())
        await recorder.start()
        await asyncio.sleep(0.6)
        await recorder.stop()
        assert recorder.frames > 20

    run(main)
    with av.open(str(path)) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
        frames = list(container.decode(video=0))
    assert len(frames) >= 8
    assert (frames[0].width, frames[0].height) == (160, 120)
    numbers = [pattern_frame_number(f) for f in frames]
    assert numbers[0] == 0
    known = [n for n in numbers if n is not None]
    assert len(known) >= len(numbers) - 2 and known == sorted(known)


def test_blackhole_callback_and_relay() -> None:
    async def main() -> None:
        video = VideoPatternTrack(width=96, height=64, fps=50)
        audio = ToneTrack()
        relay = MediaRelay()
        hole = MediaBlackhole()
        hole.addTrack(relay.subscribe(video))
        hole.addTrack(audio)
        shapes: list[tuple[int, ...]] = []
        dtypes: list[Any] = []
        callback = FrameCallback(lambda array, frame: (shapes.append(array.shape),
                                                       dtypes.append(array.dtype)))
        callback.addTrack(relay.subscribe(video))
        await hole.start()
        await callback.start()
        audio_sink = await on_frame(ToneTrack(channels=2), lambda a, f: shapes.append(a.shape))
        await asyncio.sleep(0.3)
        await hole.stop()
        await callback.stop()
        await audio_sink.stop()
        assert hole.frames_by_kind["video"] >= 5 and hole.frames_by_kind["audio"] >= 5
        assert hole.frames == sum(hole.frames_by_kind.values())
        assert callback.frames >= 5
        assert (64, 96, 3) in shapes and (960, 2) in shapes
        assert dtypes[0] == np.uint8

    run(main)
