"""asyncio drivers: the only code in rtcstack that touches sockets, the event loop and the clock.

Every protocol layer is sans-IO (STYLE.md): it is fed bytes and ``now=`` and asked for output
with ``poll_transmit()`` / ``poll_event()`` / ``poll_timeout()``.  The modules here own a socket,
feed what it receives into a layer with ``loop.time()`` as ``now``, send what the layer asks to
send, and keep exactly one ``loop.call_at()`` timer armed at the layer's ``poll_timeout()``.
They never poll with sleeps.

- :mod:`rtcstack.asyncio.stun`: a STUN client over UDP, TCP and TLS, and
  :func:`~rtcstack.asyncio.stun.get_mapped_address`, the one-line helper;
  :mod:`rtcstack.asyncio.stun_server` and :mod:`rtcstack.asyncio.nat` (RFC 5780 discovery).
- :mod:`rtcstack.asyncio.dtls`: a DTLS 1.2 client or server on one UDP socket.
- :mod:`rtcstack.asyncio.ice`: :class:`~rtcstack.asyncio.ice.IceTransport`, an ICE agent with
  its sockets, host-address gathering, TURN streams and mDNS.
- :mod:`rtcstack.asyncio.turn`: one TURN allocation over UDP, TCP or TLS.
- :mod:`rtcstack.asyncio.mdns`: resolve and publish ``.local`` names (multicast DNS).
- :mod:`rtcstack.asyncio.sctp`: data channels over one DTLS endpoint (``SctpTransport``).
- :mod:`rtcstack.asyncio.peer`: ``RTCPeerConnection``, the W3C API around the sans-IO
  :class:`rtcstack.peer.PeerConnection` (sockets through ``IceTransport``, codecs from
  :mod:`rtcstack.media`).
- :mod:`rtcstack.asyncio.signaling`: a WebSocket signaling server (rooms, presence, relay), its
  client, and W3C perfect negotiation over it (extra ``rtcstack[signal]``); the browser demo,
  :mod:`rtcstack.demo`, is built on it.

Import the submodule you need (``from rtcstack.asyncio.stun import get_mapped_address``); this
package imports none of them, so that using one does not load the others.
"""
