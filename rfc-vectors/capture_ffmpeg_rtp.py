"""Regenerate rfc-vectors/captures/ffmpeg-<version>/rtp-payloads.json: RTP packets written by
FFmpeg's RTP muxer (libavformat), with the payload format fields rtcstack reads from them.

    .venv/bin/python rfc-vectors/capture_ffmpeg_rtp.py [--out DIR]

PyAV encodes a few frames of synthetic video (96x64 moving stripes) and audio (a 440 Hz tone)
with libvpx, libvpx-vp9, libx264, libopus and pcm_mulaw, and FFmpeg's ``rtp`` muxer sends them
to a UDP socket on 127.0.0.1 (``ffmpeg_rtp_datagrams`` in tests/interop/test_rtp_ffmpeg.py;
``pkt_size=300`` so that small frames still need FU-A start, middle and end packets).  A few
packets per codec are kept byte for byte; ``rtp`` and ``descriptor`` are what rtcstack's
classes read from them (``rtcstack.rtp.formats.vectors.describe_payload``), so the file pins
the bytes FFmpeg writes and our reading of them -- a reader that changes its mind, or an FFmpeg
that changes its bytes, shows up as a difference.  SSRC, sequence numbers and timestamps are
random per run (RFC 3550 §5.1): a new capture differs in those fields.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402

from rtcstack.rtp import RtpPacket  # noqa: E402
from rtcstack.rtp.formats.vectors import RTP_FIELDS, describe_payload  # noqa: E402
from tests.interop.test_rtp_ffmpeg import ffmpeg_rtp_datagrams  # noqa: E402

PKT_SIZE = 300
SIZE = (96, 64)

RFC = {"VP8": (7741, "4.2"), "VP9": (9628, "4.2"), "H264": (6184, "5.6-5.8"),
       "opus": (7587, "4.2"), "PCMU": (3551, "4.5.14")}


def _rows(data: bytes) -> list[str]:
    return [" ".join(f"{b:02x}" for b in data[i : i + 16]) for i in range(0, len(data), 16)]


def _case(name: str, codec: str, data: bytes, why: str) -> dict[str, Any]:
    packet = RtpPacket.parse(data)
    descriptor, _ = describe_payload(codec, packet.payload)
    rfc, section = RFC[codec]
    return {
        "name": name,
        "codec": codec,
        "rfc": rfc,
        "section": section,
        "what": why,
        "hex": _rows(data),
        "rtp": {k: getattr(packet, k) for k in RTP_FIELDS},
        "descriptor": descriptor,
    }


def _frames(datagrams: list[bytes]) -> list[list[bytes]]:
    """Datagrams grouped by RTP timestamp, in order."""
    out: list[list[bytes]] = []
    last: int | None = None
    for d in datagrams:
        ts = RtpPacket.parse(d).timestamp
        if ts != last:
            out.append([])
            last = ts
        out[-1].append(d)
    return out


def capture() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    _, vp8 = ffmpeg_rtp_datagrams("libvpx", pkt_size=PKT_SIZE, video_size=SIZE, count=3)
    key, delta = _frames(vp8)[:2]
    cases += [
        _case("vp8-keyframe-first", "VP8", key[0], "first packet of the key frame (S=1, P=0)"),
        _case("vp8-keyframe-continuation", "VP8", key[1], "second packet of the key frame (S=0)"),
        _case("vp8-keyframe-last", "VP8", key[-1], "last packet of the key frame (marker)"),
        _case("vp8-delta-first", "VP8", delta[0], "first packet of the next frame (P=1)"),
    ]
    _, vp9 = ffmpeg_rtp_datagrams("libvpx-vp9", pkt_size=PKT_SIZE, video_size=SIZE, count=3)
    key, delta = _frames(vp9)[:2]
    cases += [
        _case("vp9-keyframe-first", "VP9", key[0], "first packet of the key frame (B)"),
        _case("vp9-keyframe-middle", "VP9", key[1], "a middle packet (neither B nor E)"),
        _case("vp9-keyframe-last", "VP9", key[-1], "last packet of the key frame (E, marker)"),
        _case("vp9-delta-first", "VP9", delta[0], "first packet of an inter frame (P not set)"),
    ]
    _, h264 = ffmpeg_rtp_datagrams("libx264", pkt_size=PKT_SIZE, video_size=SIZE, count=3)
    kinds = [(d, RtpPacket.parse(d).payload) for d in h264]
    stap = next(d for d, p in kinds if p[0] & 0x1F == 24)
    # FU-As of the IDR slice (type 5); x264's first NAL unit is a long SEI (type 6)
    fus = [(d, p[1]) for d, p in kinds if p[0] & 0x1F == 28 and p[1] & 0x1F == 5]
    start = next(d for d, h in fus if h & 0x80)
    middle = next(d for d, h in fus if not h & 0xC0)
    end = next(d for d, h in fus if h & 0x40)
    cases += [
        _case("h264-stap-a", "H264", stap, "STAP-A: the parameter sets before the IDR picture"),
        _case("h264-fu-a-start", "H264", start, "FU-A start (S) of the IDR slice"),
        _case("h264-fu-a-middle", "H264", middle, "FU-A middle fragment"),
        _case("h264-fu-a-end", "H264", end, "FU-A end (E) fragment"),
    ]
    single = next((d for d, p in kinds if 1 <= p[0] & 0x1F <= 23), None)
    if single is not None:
        cases.append(_case("h264-single-nal", "H264", single, "single NAL unit packet"))
    _, opus = ffmpeg_rtp_datagrams("libopus", count=3)
    cases += [
        _case("opus-first", "opus", opus[0], "first packet (marker: start of talkspurt)"),
        _case("opus-second", "opus", opus[1], "second packet (timestamp + 960)"),
    ]
    _, pcmu = ffmpeg_rtp_datagrams("pcm_mulaw", count=2)
    cases.append(_case("pcmu-first", "PCMU", pcmu[0], "first packet: 160 samples, PT 0"))
    return cases


def main() -> int:
    version = av.ffmpeg_version_info
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "rfc-vectors" / "captures"
                        / f"ffmpeg-{version}")
    args = parser.parse_args()
    cases = capture()
    lav = ".".join(map(str, av.library_versions["libavformat"]))
    doc = {
        "schema": "rtcstack-vector/1",
        "rfc": 3550,
        "section": "5.1",
        "title": f"RTP packets written by FFmpeg {version}'s RTP muxer",
        "layer": "rtp",
        "kind": "rtp-payload",
        "source": (
            f"FFmpeg {version} (libavformat {lav}) through PyAV {av.__version__}, "
            f"rtp muxer to udp 127.0.0.1, captured {datetime.date.today().isoformat()} by "
            "rfc-vectors/capture_ffmpeg_rtp.py"
        ),
        "hex": [],
        "cases": cases,
        "notes": (
            f"Encoders libvpx, libvpx-vp9, libx264 (ultrafast, zerolatency), libopus, "
            f"pcm_mulaw; video {SIZE[0]}x{SIZE[1]} with pkt_size={PKT_SIZE}, audio with the "
            "default 1472.  Each case names the payload format RFC it exercises.  'rtp' and "
            "'descriptor' are rtcstack's reading of the bytes (describe_payload); the bytes "
            "are FFmpeg's, unedited.  FFmpeg's VP9 packetizer (rtpenc_vp9.c) writes only the "
            "B and E bits: no picture ID, no P bit on inter frames, no SS.  FFmpeg's STAP-A "
            "(rtpenc_h264_hevc.c) has NRI 0 although its NAL units have NRI 3; RFC 6184 §5.7 "
            "says 'The value of NRI MUST be the maximum of all the NAL units carried in the "
            "aggregation packet' -- rtcstack reads it as written."
        ),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "rtp-payloads.json"
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"wrote {path}: {len(cases)} packets")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
