"""The browser demo (``rtcstack demo``): a call page, the signaling server, a Python echo peer.

``rtcstack demo`` serves, on one port (default ``http://127.0.0.1:8080/``):

- ``/`` -- the call page (``static/index.html``, ``demo.js``, ``demo.css``; no library, no
  CDN): camera and microphone, mute, camera off, hang up, chat, an ICE-server setting
  (STUN/TURN URLs for calls across NATs), and live graphs from ``getStats`` like a small
  webrtc-internals -- send/receive bitrate, RTT, packets lost, jitter, frames decoded/dropped,
  with the selected candidate pair and the DTLS/SRTP parameters -- for this browser and for
  the other side of the call;
- ``/ws`` -- the signaling WebSocket, :class:`~rtcstack.asyncio.signaling.SignalingServer`
  (its JSON protocol is documented there);
- ``/config`` -- ``{"iceServers", "echoPrefix", "version"}`` for the page;
- ``/status`` -- rooms, connections, and the echo calls with their live numbers (JSON).

Two kinds of call, both negotiated with W3C perfect negotiation over the signaling server:

- **the Python peer**: the page joins a room named ``echo-<random>``; the server sees a room
  with that prefix open and starts an :class:`EchoPeer`, which joins the room over a real
  WebSocket like any member, answers the page's offer with rtcstack's ``RTCPeerConnection``,
  sends the page's own audio and video back (decoded and re-encoded by rtcstack), answers
  every chat message, and sends its own ``getStats`` report to the page once a second so the
  page graphs rtcstack's view of the call next to the browser's;
- **another browser**: two pages join the same room name; the first one there is the
  impolite peer, the one that joins second the polite one.

Conventions shared by the page and :class:`EchoPeer`: the signal ``data`` is
``{"description": {"type", "sdp"}}`` or ``{"candidate": RTCIceCandidateInit | null}``; both
sides create two negotiated data channels, ``chat`` (id 0; messages
``{"text", "name", "sent"}``) and ``stats`` (id 1; ``{"stats": [W3C stats objects], "from",
"sent"}``).

Embedding it::

    async with DemoServer("127.0.0.1", 8080) as demo:
        print(demo.url)
        await asyncio.Event().wait()

Needs the ``signal`` extra (websockets) and, for the echo peer, ``media`` (codecs).
"""

from rtcstack.demo.server import (
    ECHO_NAME,
    DemoServer,
    EchoCall,
    EchoPeer,
    StatsSummary,
    self_signed_context,
    summarize_stats,
)

__all__ = [
    "ECHO_NAME",
    "DemoServer",
    "EchoCall",
    "EchoPeer",
    "StatsSummary",
    "self_signed_context",
    "summarize_stats",
]
