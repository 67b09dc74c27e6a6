"""FFmpeg's RTP muxer and demuxer (libavformat, through PyAV) as a real peer for the payload
formats: packets nobody here wrote, and a depacketizer nobody here wrote.

- FFmpeg -> rtcstack: PyAV encodes synthetic video (a moving stripe pattern; key frames at the
  start and every ``GOP`` frames) or audio and muxes it with ``format="rtp"`` to a UDP socket on
  127.0.0.1 owned by the test.  ``RtpPacket.parse`` + our depacketizer + ``FrameAssembler``
  rebuild the frames; they must equal what the encoder gave FFmpeg, with the same key frames,
  and PyAV must decode them.
- rtcstack -> FFmpeg: our packetizers send to a UDP port on which PyAV opened an SDP
  (``format="sdp"``) in a thread; FFmpeg's RTP demuxer and the decoder must give every frame
  back at the right size.

libavformat's payload formats here: ``rtpenc_vp8.c`` (RFC 7741, 15-bit PictureID, no partition
splitting), ``rtpenc_vp9.c`` (B/E bits only: no picture ID, no P bit, no SS -- it is still
flagged experimental, hence ``strict=experimental``), ``rtpenc_h264_hevc.c`` (packetization-mode
1: STAP-A for SPS+PPS, FU-A), ``rtpenc.c`` for Opus (one packet per payload) and PCMU
(aggregated samples).
"""

from __future__ import annotations

import errno
import itertools
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from rtcstack.rtp import RtpPacket
from rtcstack.rtp.formats import (
    Depacketizer,
    Frame,
    FrameAssembler,
    FuA,
    G711Depacketizer,
    G711Packetizer,
    H264Depacketizer,
    H264Packetizer,
    OpusDepacketizer,
    OpusPacketizer,
    Vp8Depacketizer,
    Vp8Packetizer,
    Vp8PayloadDescriptor,
    Vp9Depacketizer,
    Vp9Packetizer,
    Vp9PayloadDescriptor,
    opus_packet_samples,
    split_annexb,
    vp9_frame_info,
)

pytestmark = pytest.mark.interop

av = pytest.importorskip("av", reason="PyAV (the 'av' package) is needed to drive FFmpeg")

WIDTH, HEIGHT, COUNT, GOP, FPS = 320, 240, 30, 10, 30
PKT_SIZE = 1200  # FFmpeg's max RTP packet size (header included): rtp://...?pkt_size=
AUDIO_PACKETS = 50  # 1 s of 20 ms packets
DEADLINE = 10.0

VIDEO = {  # name -> (encoder, decoder, SDP encoding name)
    "vp8": ("libvpx", "vp8", "VP8"),
    "vp9": ("libvpx-vp9", "vp9", "VP9"),
    "h264": ("libx264", "h264", "H264"),
}


def need(encoder: str, *, muxer: bool = True) -> None:
    """Skip unless this PyAV build has the encoder, and the rtp muxer / sdp demuxer."""
    wanted = {"rtp", "sdp"} if muxer else set()
    missing = sorted(wanted - set(av.formats_available))
    if missing:
        pytest.skip(f"PyAV's FFmpeg lacks the {', '.join(missing)} format(s)")
    if encoder not in av.codecs_available:
        pytest.skip(f"PyAV's FFmpeg lacks the {encoder} encoder")


# --- synthetic sources ------------------------------------------------------------------------


def video_frames(count: int = COUNT, width: int = WIDTH, height: int = HEIGHT) -> Iterator[Any]:
    """Diagonal stripes moving right by 6 pixels per frame, with a little fixed texture."""
    for i in range(count):
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane in frame.planes:
            w = plane.line_size
            row = bytes((((x + i * 6) // 16) % 2) * 160 + 40 + (x * 7 % 13) for x in range(w))
            rows = (row[(y * 2) % w :] + row[: (y * 2) % w] for y in range(plane.height))
            plane.update(b"".join(rows))
        frame.pts = i
        yield frame


def audio_frames(rate: int, samples: int, count: int = AUDIO_PACKETS) -> Iterator[Any]:
    """A 440 Hz tone, mono s16, ``samples`` per frame."""
    for i in range(count):
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        start = i * samples
        frame.planes[0].update(
            b"".join(
                int(8000 * math.sin(2 * math.pi * 440 * (start + k) / rate)).to_bytes(
                    2, "little", signed=True
                )
                for k in range(samples)
            )
        )
        frame.sample_rate = rate
        frame.pts = start
        yield frame


def configure_video(ctx: Any, encoder: str) -> None:
    ctx.width, ctx.height, ctx.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    ctx.time_base = Fraction(1, FPS)
    ctx.framerate = Fraction(FPS, 1)
    ctx.gop_size = GOP
    ctx.bit_rate = 300_000
    if encoder == "libx264":
        # no scene-cut I frames: key frames exactly every GOP frames
        ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "x264-params": "scenecut=0"}
    else:
        ctx.options = {"deadline": "realtime", "lag-in-frames": "0", "cpu-used": "8"}


# --- FFmpeg -> rtcstack -----------------------------------------------------------------------


def ffmpeg_rtp_datagrams(
    encoder: str,
    *,
    pkt_size: int = PKT_SIZE,
    video_size: tuple[int, int] | None = None,
    count: int | None = None,
) -> tuple[list[tuple[bytes, bool]], list[bytes]]:
    """Encode with PyAV and mux with FFmpeg's RTP muxer to a socket of ours on 127.0.0.1.

    Returns the encoded packets FFmpeg was given (bytes, key frame flag) and the RTP datagrams
    it sent, in order.  Loopback UDP is delivered on ``sendto``, so the socket is drained after
    every ``mux`` (no waiting, no receive-buffer overflow).
    """
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    port = rx.getsockname()[1]
    datagrams: list[bytes] = []
    encoded: list[tuple[bytes, bool]] = []

    def drain() -> None:
        while True:
            try:
                datagrams.append(rx.recv(65536))
            except BlockingIOError:
                return

    url = f"rtp://127.0.0.1:{port}?pkt_size={pkt_size}"
    out = av.open(url, "w", format="rtp", options={"strict": "experimental"})
    try:
        if encoder in ("libopus", "pcm_mulaw"):
            rate, samples = (48000, 960) if encoder == "libopus" else (8000, 160)
            stream = out.add_stream(encoder, rate=rate)
            stream.codec_context.layout = "mono"
            source: Iterator[Any] = audio_frames(rate, samples, count or AUDIO_PACKETS)
        else:
            stream = out.add_stream(encoder, rate=FPS)
            configure_video(stream.codec_context, encoder)
            if video_size is not None:
                stream.codec_context.width, stream.codec_context.height = video_size
            w, h = video_size or (WIDTH, HEIGHT)
            source = video_frames(count or COUNT, w, h)
        for frame in [*source, None]:
            for packet in stream.encode(frame):
                encoded.append((bytes(packet), bool(packet.is_keyframe)))
                out.mux(packet)
                drain()
    finally:
        out.close()
        drain()
        rx.close()
    return encoded, datagrams


def reassemble(datagrams: list[bytes], depacketizer: Depacketizer) -> tuple[list[Frame], Any]:
    asm = FrameAssembler(depacketizer)
    frames: list[Frame] = []
    for data in datagrams:
        packet = RtpPacket.parse(data)
        asm.push(packet.sequence_number, packet.timestamp, packet.marker, packet.payload)
        while (f := asm.pop_frame()) is not None:
            frames.append(f)
    asm.flush()
    while (f := asm.pop_frame()) is not None:
        frames.append(f)
    assert asm.packets_malformed == 0 and asm.frames_dropped == 0 and asm.packets_lost == 0
    return frames, asm


def decode_video(decoder: str, frames: list[bytes]) -> int:
    ctx = av.CodecContext.create(decoder, "r")
    pictures = 0
    for data in [*frames, None]:
        for picture in ctx.decode(av.Packet(data) if data is not None else None):
            assert (picture.width, picture.height) == (WIDTH, HEIGHT)
            pictures += 1
    return pictures


def test_ffmpeg_vp8_to_rtcstack() -> None:
    need("libvpx", muxer=False)
    encoded, datagrams = ffmpeg_rtp_datagrams("libvpx")
    packets = [RtpPacket.parse(d) for d in datagrams]
    assert all(len(d) <= PKT_SIZE for d in datagrams)
    assert {p.payload_type for p in packets} == {96}
    # FFmpeg's descriptor: X=1, I=1, 15-bit PictureID incrementing per frame; S on the first packet.
    firsts = [Vp8PayloadDescriptor.parse(p.payload)[0] for p in packets]
    assert all(d.picture_id is not None and d.long_picture_id for d in firsts)
    frames, _ = reassemble(datagrams, Vp8Depacketizer())
    assert len(frames) == len(encoded) == COUNT
    assert [f.data for f in frames] == [d for d, _ in encoded]
    assert [f.keyframe for f in frames] == [k for _, k in encoded]
    assert sum(k for _, k in encoded) == COUNT // GOP
    ts = [f.timestamp for f in frames]
    assert all((b - a) & 0xFFFFFFFF == 90000 // FPS for a, b in itertools.pairwise(ts))
    assert any(f.packet_count > 1 for f in frames)
    assert decode_video("vp8", [f.data for f in frames]) == COUNT


def test_ffmpeg_vp9_to_rtcstack() -> None:
    need("libvpx-vp9", muxer=False)
    encoded, datagrams = ffmpeg_rtp_datagrams("libvpx-vp9")
    packets = [RtpPacket.parse(d) for d in datagrams]
    descriptors = [Vp9PayloadDescriptor.parse(p.payload)[0] for p in packets]
    # rtpenc_vp9.c writes a one-octet descriptor: B and E only (no I, P, L, V).
    assert all(d.picture_id is None and d.ss is None and d.tid is None for d in descriptors)
    assert not any(d.inter_picture_predicted for d in descriptors)
    frames, _ = reassemble(datagrams, Vp9Depacketizer())
    assert len(frames) == len(encoded) == COUNT
    assert [f.data for f in frames] == [d for d, _ in encoded]
    # The key frames are known from the bitstream, not the descriptor: FFmpeg never sets P, so
    # per RFC 9628 §4.2 every frame start looks like a key picture (P = 0, SID = 0, B = 1) and
    # our depacketizer flags every frame.  The real key frames must be among them, and the
    # frame's uncompressed header must agree with the encoder.
    assert [vp9_frame_info(f.data).keyframe for f in frames] == [k for _, k in encoded]
    assert all(f.keyframe for f, (_, k) in zip(frames, encoded, strict=True) if k)
    assert sum(k for _, k in encoded) == COUNT // GOP
    assert decode_video("vp9", [f.data for f in frames]) == COUNT


def test_ffmpeg_h264_to_rtcstack() -> None:
    need("libx264", muxer=False)
    encoded, datagrams = ffmpeg_rtp_datagrams("libx264")
    packets = [RtpPacket.parse(d) for d in datagrams]
    kinds = [p.payload[0] & 0x1F for p in packets]
    assert 24 in kinds and 28 in kinds  # STAP-A (SPS + PPS) and FU-A
    fus = [FuA.parse(p.payload) for p in packets if p.payload[0] & 0x1F == 28]
    assert any(f.start for f in fus) and any(f.end for f in fus)
    assert any(not f.start and not f.end for f in fus)
    frames, _ = reassemble(datagrams, H264Depacketizer())
    assert len(frames) == len(encoded) == COUNT
    # Annex B start codes may differ (3 vs 4 octets); the NAL units must not.
    assert [split_annexb(f.data) for f in frames] == [split_annexb(d) for d, _ in encoded]
    assert [f.keyframe for f in frames] == [k for _, k in encoded]
    assert sum(k for _, k in encoded) == COUNT // GOP
    assert decode_video("h264", [f.data for f in frames]) == COUNT


def test_ffmpeg_opus_to_rtcstack() -> None:
    need("libopus", muxer=False)
    encoded, datagrams = ffmpeg_rtp_datagrams("libopus")
    packets = [RtpPacket.parse(d) for d in datagrams]
    frames, _ = reassemble(datagrams, OpusDepacketizer())
    assert len(frames) == len(encoded) >= AUDIO_PACKETS
    assert [f.data for f in frames] == [d for d, _ in encoded]
    for a, b in itertools.pairwise(packets):
        assert (b.timestamp - a.timestamp) & 0xFFFFFFFF == opus_packet_samples(a.payload)
    ctx = av.CodecContext.create("opus", "r")
    samples = sum(fr.samples for f in frames for fr in ctx.decode(av.Packet(f.data)))
    assert samples == sum(opus_packet_samples(f.data) for f in frames)


def test_ffmpeg_pcmu_to_rtcstack() -> None:
    need("pcm_mulaw", muxer=False)
    encoded, datagrams = ffmpeg_rtp_datagrams("pcm_mulaw")
    packets = [RtpPacket.parse(d) for d in datagrams]
    assert {p.payload_type for p in packets} == {0}  # RFC 3551 static payload type
    frames, _ = reassemble(datagrams, G711Depacketizer())
    assert len(frames) == len(packets)
    assert b"".join(f.data for f in frames) == b"".join(d for d, _ in encoded)
    assert len(b"".join(f.data for f in frames)) == AUDIO_PACKETS * 160
    for a, b in itertools.pairwise(packets):
        assert (b.timestamp - a.timestamp) & 0xFFFFFFFF == len(a.payload)  # RFC 3551 §4.5.14
    ctx = av.CodecContext.create("pcm_mulaw", "r")
    ctx.sample_rate, ctx.layout = 8000, "mono"
    samples = sum(fr.samples for f in frames for fr in ctx.decode(av.Packet(f.data)))
    assert samples == AUDIO_PACKETS * 160


# --- rtcstack -> FFmpeg -----------------------------------------------------------------------


def _free_port_pair() -> int:
    """An even port whose odd neighbour (FFmpeg's RTCP port) is free too, on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1]) & ~1
        if not _bound(port) and not _bound(port + 1):
            return port
    raise RuntimeError("no free even/odd UDP port pair on 127.0.0.1")


def _bound(port: int) -> bool:
    """Whether some socket holds 127.0.0.1:port (our bind fails with EADDRINUSE)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(("127.0.0.1", port))
    except OSError as exc:
        return exc.errno == errno.EADDRINUSE
    finally:
        probe.close()
    return False


def ffmpeg_receive(
    tmp_path: Path,
    media: str,
    rtpmap: str,
    fmtp: str | None,
    expected: int,
    send: Callable[[Callable[[bytes], None]], None],
) -> list[Any]:
    """Open an SDP in PyAV (FFmpeg's RTP demuxer) in a thread, wait until it holds the port,
    run ``send(transmit)``, and return the decoded frames (video) / audio frames.

    The receiver stops once it has ``expected`` frames (video) or samples (audio), or when
    nothing arrives for a second (PyAV's read timeout ends the stream)."""
    port = _free_port_pair()
    pt = int(rtpmap.split()[0])
    lines = [
        "v=0",
        "o=- 0 0 IN IP4 127.0.0.1",
        "s=rtcstack",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m={media} {port} RTP/AVP {pt}",
        f"a=rtpmap:{rtpmap}",
    ]
    if fmtp:
        lines.append(f"a=fmtp:{pt} {fmtp}")
    sdp = tmp_path / "peer.sdp"
    sdp.write_text("\r\n".join(lines) + "\r\n")
    got: list[Any] = []
    errors: list[BaseException] = []

    def receive() -> None:
        try:
            with av.open(
                str(sdp),
                format="sdp",
                options={"protocol_whitelist": "file,udp,rtp"},
                timeout=(DEADLINE, 1.0),
            ) as container:
                total = 0
                for frame in container.decode(container.streams[0]):
                    got.append(frame)
                    total += frame.samples if media == "audio" else 1
                    if total >= expected:
                        return
        except av.error.ExitError:
            pass  # the read timeout: no more packets
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=receive, name="ffmpeg-receiver", daemon=True)
    thread.start()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        end = time.monotonic() + DEADLINE
        while not _bound(port):
            if not thread.is_alive() or time.monotonic() > end:
                raise AssertionError(f"FFmpeg never bound 127.0.0.1:{port}: {errors}")
            time.sleep(0.005)  # polling for the bind, with a deadline

        def transmit(datagram: bytes) -> None:
            tx.sendto(datagram, ("127.0.0.1", port))

        send(transmit)
        thread.join(DEADLINE + 2)
        assert not thread.is_alive(), "FFmpeg's receiver did not finish"
    finally:
        tx.close()
    if errors:
        raise errors[0]
    return got


def encode_video(encoder: str) -> list[tuple[bytes, bool]]:
    ctx = av.CodecContext.create(encoder, "w")
    configure_video(ctx, encoder)
    out: list[tuple[bytes, bool]] = []
    for frame in [*video_frames(), None]:
        out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(frame)]
    return out


PACKETIZERS: dict[str, Callable[[], Callable[[bytes], list[tuple[bytes, bool]]]]] = {
    "vp8": lambda: Vp8Packetizer(1100, picture_id=0x7FF0).packetize,  # through the wrap
    "vp9": lambda: Vp9Packetizer(1100, picture_id=0x7FF0).packetize,
    "h264": lambda: H264Packetizer(1100).packetize,
}


@pytest.mark.parametrize("name", sorted(VIDEO))
def test_rtcstack_video_to_ffmpeg(name: str, tmp_path: Path) -> None:
    encoder, _, encoding = VIDEO[name]
    need(encoder)
    encoded = encode_video(encoder)
    assert len(encoded) == COUNT and encoded[0][1]
    packetize = PACKETIZERS[name]()

    def send(transmit: Callable[[bytes], None]) -> None:
        seq = 65500  # through the sequence number wrap
        for i, (data, _) in enumerate(encoded):
            for payload, marker in packetize(data):
                transmit(RtpPacket(96, seq & 0xFFFF, 1234 + i * 3000, 0x1234ABCD, payload,
                                   marker).serialize())
                seq += 1

    fmtp = "packetization-mode=1" if name == "h264" else None
    pictures = ffmpeg_receive(tmp_path, "video", f"96 {encoding}/90000", fmtp, COUNT, send)
    assert len(pictures) == COUNT
    assert {(p.width, p.height) for p in pictures} == {(WIDTH, HEIGHT)}


def test_rtcstack_opus_to_ffmpeg(tmp_path: Path) -> None:
    need("libopus")
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate, ctx.layout, ctx.format = 48000, "mono", "s16"
    encoded = [bytes(p) for f in [*audio_frames(48000, 960), None] for p in ctx.encode(f)]
    assert len(encoded) >= AUDIO_PACKETS
    total = sum(opus_packet_samples(p) for p in encoded)
    packetizer = OpusPacketizer(1100)

    def send(transmit: Callable[[bytes], None]) -> None:
        ts = 0
        for i, data in enumerate(encoded):
            ((payload, marker),) = packetizer.packetize(data, talkspurt_start=i == 0)
            transmit(RtpPacket(111, 7 + i, ts, 0x0BADCAFE, payload, marker).serialize())
            ts += opus_packet_samples(data)

    frames = ffmpeg_receive(tmp_path, "audio", "111 opus/48000/2", None, total, send)
    assert len(frames) == len(encoded)
    assert sum(f.samples for f in frames) == total
    assert {f.sample_rate for f in frames} == {48000}


def test_rtcstack_pcmu_to_ffmpeg(tmp_path: Path) -> None:
    need("pcm_mulaw")
    ctx = av.CodecContext.create("pcm_mulaw", "w")
    ctx.sample_rate, ctx.layout, ctx.format = 8000, "mono", "s16"
    samples = b"".join(bytes(p) for f in [*audio_frames(8000, 160), None] for p in ctx.encode(f))
    assert len(samples) == AUDIO_PACKETS * 160
    packetizer = G711Packetizer(160)

    def send(transmit: Callable[[bytes], None]) -> None:
        for i in range(AUDIO_PACKETS):
            chunk = samples[i * 160 : (i + 1) * 160]
            ((payload, marker),) = packetizer.packetize(chunk, talkspurt_start=i == 0)
            transmit(RtpPacket(0, 300 + i, 5000 + i * 160, 0x600DF00D, payload, marker).serialize())

    frames = ffmpeg_receive(tmp_path, "audio", "0 PCMU/8000", None, len(samples), send)
    assert sum(f.samples for f in frames) == len(samples)
    assert {f.sample_rate for f in frames} == {8000}
    decoded = b"".join(bytes(f.planes[0])[: f.samples * 2] for f in frames)
    reference = av.CodecContext.create("pcm_mulaw", "r")
    reference.sample_rate, reference.layout = 8000, "mono"
    want = b"".join(
        bytes(f.planes[0])[: f.samples * 2] for f in reference.decode(av.Packet(samples))
    )
    assert decoded == want
