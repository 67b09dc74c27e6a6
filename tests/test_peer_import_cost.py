"""A data-channel-only peer connection loads no codec library (issue #8; STYLE.md rule 9).

``rtcstack.media`` is the only part that imports ``av``, ``numpy`` and ``opuslib``
(tests/test_architecture.py), and the peer connection imports it only inside the functions
that encode, decode or make a receiver's track.  This checks the other half in a fresh
interpreter: a whole data-channel-only session -- two ``RTCPeerConnection`` on loopback,
offer/answer, connected, a message each way, ``getStats``, close -- never imports
``rtcstack.media`` nor a codec library.  ``bench/bench_peer.py`` measures what that path costs
(import time and memory) next to aiortc's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SESSION = """
import asyncio, json, sys
from rtcstack.asyncio.peer import RTCPeerConnection

async def main():
    a = RTCPeerConnection(addresses=["127.0.0.1"], loopback=True)
    b = RTCPeerConnection(addresses=["127.0.0.1"], loopback=True)
    try:
        channel = a.createDataChannel("chat")
        got = asyncio.get_running_loop().create_future()
        b.on("datachannel", lambda c: c.on("message", lambda m: (c.send("pong:" + m),
                                                               got.set_result(m))))
        back = asyncio.get_running_loop().create_future()
        channel.on("message", back.set_result)
        await a.setLocalDescription(await a.createOffer())
        await a.wait_gathering_complete(20)
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription(await b.createAnswer())
        await b.wait_gathering_complete(20)
        await a.setRemoteDescription(b.localDescription)
        await channel.wait_open(30)
        channel.send("ping")
        await asyncio.wait_for(got, 30)
        reply = await asyncio.wait_for(back, 30)
        stats = await a.getStats()
        return reply, a.connectionState, any(s.type == "data-channel" for s in stats.values())
    finally:
        await a.close()
        await b.close()

reply, state, has_stats = asyncio.run(main())
loaded = sorted(m for m in ("av", "numpy", "opuslib", "rtcstack.media") if m in sys.modules)
print(json.dumps({"reply": reply, "state": state, "stats": has_stats, "loaded": loaded}))
"""


def test_a_data_channel_session_loads_no_codec_library() -> None:
    done = subprocess.run([sys.executable, "-c", SESSION], capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["reply"] == "pong:ping"
    assert result["state"] == "connected" and result["stats"]
    assert result["loaded"] == []


def test_importing_the_peer_connection_loads_no_codec_library() -> None:
    code = ("import sys, json\n"
            "import rtcstack.asyncio.peer, rtcstack.peer\n"
            "print(json.dumps(sorted(m for m in ('av', 'numpy', 'opuslib', 'rtcstack.media') "
            "if m in sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
