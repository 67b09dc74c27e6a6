"""Capture the DCEP messages (RFC 8832 §5) aiortc sends, as a ``dcep-message`` vector:
``rfc-vectors/captures/aiortc-<version>/dcep-open-ack.json``.

    .venv/bin/python rfc-vectors/capture_aiortc_dcep.py [--out DIR]

Two aiortc ``RTCPeerConnection``s in this process (no ICE servers: host candidates only, nothing
leaves the machine) connect through an offer/answer exchange; the offerer opens three data
channels with different options.  aiortc's public API only produces the bytes: the payload of
every SCTP user message sent with PPID 50 (DCEP) is recorded by wrapping aiortc's
``RTCSctpTransport._send``.  ``fields`` of each case are written from the options each channel
was created with (and aiortc's observed priority, 0), not from rtcstack's parser.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent

# label, createDataChannel options, the fields RFC 8832 §5.1 says the OPEN must carry
CHANNELS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("chat", {}, {"channel_type": "RELIABLE", "reliability_parameter": 0,
                  "max_retransmits": None, "max_packet_life_time": None, "subprotocol": ""}),
    ("unordered-rexmit", {"ordered": False, "maxRetransmits": 3, "protocol": "proto"},
     {"channel_type": "PARTIAL_RELIABLE_REXMIT_UNORDERED", "reliability_parameter": 3,
      "max_retransmits": 3, "max_packet_life_time": None, "subprotocol": "proto"}),
    ("timed", {"maxPacketLifeTime": 1500},
     {"channel_type": "PARTIAL_RELIABLE_TIMED", "reliability_parameter": 1500,
      "max_retransmits": None, "max_packet_life_time": 1500, "subprotocol": ""}),
]


async def _run() -> list[tuple[int, bytes]]:
    from aiortc import RTCPeerConnection
    from aiortc.rtcsctptransport import RTCSctpTransport

    seen: list[tuple[int, bytes]] = []
    original = RTCSctpTransport._send

    async def spy(self: Any, stream_id: int, pp_id: int, user_data: bytes,
                  *args: Any, **kwargs: Any) -> None:
        if pp_id == 50:  # RFC 8832 §8.1 WebRTC DCEP
            seen.append((stream_id, bytes(user_data)))
        await original(self, stream_id, pp_id, user_data, *args, **kwargs)

    RTCSctpTransport._send = spy  # type: ignore[method-assign]
    try:
        pc1, pc2 = RTCPeerConnection(), RTCPeerConnection()
        opened = asyncio.Event()
        remote: list[Any] = []
        for label, options, _ in CHANNELS:
            pc1.createDataChannel(label, **options)

        @pc2.on("datachannel")  # type: ignore[misc]
        def _on_channel(channel: Any) -> None:
            remote.append(channel)
            if len(remote) == len(CHANNELS):
                opened.set()

        await pc1.setLocalDescription(await pc1.createOffer())
        await pc2.setRemoteDescription(pc1.localDescription)
        await pc2.setLocalDescription(await pc2.createAnswer())
        await pc1.setRemoteDescription(pc2.localDescription)
        await asyncio.wait_for(opened.wait(), 30)
        await asyncio.sleep(0.5)  # let the ACKs go out
        await pc1.close()
        await pc2.close()
    finally:
        RTCSctpTransport._send = original  # type: ignore[method-assign]
    return seen


def _rows(data: bytes) -> list[str]:
    return [data[i : i + 16].hex(" ") for i in range(0, len(data), 16)]


def main() -> None:
    import aiortc

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "captures")
    args = parser.parse_args()
    seen = asyncio.run(_run())
    date = datetime.date.today().isoformat()
    opens = [(s, d) for s, d in seen if d[:1] == b"\x03"]
    acks = [(s, d) for s, d in seen if d[:1] == b"\x02"]
    if len(opens) != len(CHANNELS) or len(acks) != len(CHANNELS):
        raise SystemExit(f"expected {len(CHANNELS)} OPENs and ACKs, saw {seen!r}")
    cases: list[dict[str, Any]] = []
    for (stream, data), (label, _, fields) in zip(opens, CHANNELS, strict=True):
        cases.append({"name": f"open-{label}", "stream_id": stream, "hex": _rows(data),
                      "fields": {"message_type": "DATA_CHANNEL_OPEN", "label": label,
                                 "priority": data[2] << 8 | data[3], **fields}})
    for stream, data in acks:
        cases.append({"name": f"ack-stream-{stream}", "stream_id": stream, "hex": _rows(data),
                      "fields": {"message_type": "DATA_CHANNEL_ACK"}})
    doc = {
        "schema": "rtcstack-vector/1",
        "rfc": 8832,
        "section": "5",
        "title": "DCEP messages sent by aiortc",
        "layer": "sctp",
        "kind": "dcep-message",
        "source": f"aiortc {aiortc.__version__}, two in-process RTCPeerConnections on this "
                  f"machine, captured {date} by capture_aiortc_dcep.py",
        "hex": [],
        "inputs": {"program": "aiortc", "version": aiortc.__version__, "date": date,
                   "channels": [{"label": lb, "options": o} for lb, o, _ in CHANNELS]},
        "cases": cases,
        "notes": "Payloads of the SCTP user messages aiortc sent with PPID 50: the offerer's "
                 "three DATA_CHANNEL_OPENs (in createDataChannel order) and the answerer's "
                 "DATA_CHANNEL_ACKs.  aiortc writes priority 0 (RFC 8831 §6.4 says SHOULD be "
                 "128/256/512/1024; bytes unedited).  The offerer is the DTLS server here, so "
                 "its stream ids are odd (RFC 8832 §6).  `fields` come from the options each "
                 "channel was created with, not from rtcstack.",
    }
    out = args.out / f"aiortc-{aiortc.__version__}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "dcep-open-ack.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(out / "dcep-open-ack.json")


if __name__ == "__main__":
    main()
