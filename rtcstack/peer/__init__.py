"""The peer connection: where rtcstack's layers meet (W3C WebRTC §4, RFC 8829/9429, RFC 8835).

Everything here is sans-IO, like every layer below it: :class:`PeerConnection` is fed
datagrams and ``now=`` and asked for output.  It owns

- one :class:`~rtcstack.ice.IceAgent` (one BUNDLE transport, RFC 9143, with rtcp-mux, RFC 5761);
- one :class:`~rtcstack.dtls.DtlsConnection` checked against the remote ``a=fingerprint``
  (RFC 8842, RFC 8827 §6.5), whose exporter keys SRTP (RFC 5764 §4.2);
- the SRTP/SRTCP contexts (:mod:`rtcstack.srtp`);
- the data channels over one SCTP association (:class:`~rtcstack.sctp.DataChannels`);
- the transceivers (:mod:`rtcstack.peer.transceiver`) with their RTP send and receive streams
  (:mod:`rtcstack.rtp.session`: NACK/RTX, PLI/FIR, SR/RR, jitter buffer);
- the offer/answer state machine (:mod:`rtcstack.sdp.jsep` does the SDP).

What a datagram goes through (RFC 7983 §7)::

    handle_datagram ─┬─ STUN ─────────────► IceAgent (checks, consent, TURN)
                     └─ payload ─ demux ─┬─ DTLS ──► DtlsConnection ─┬─ keys ─► SRTP contexts
                                         │                          └─ data ─► SCTP ─► channels
                                         └─ RTP/RTCP ─► SRTP unprotect ─┬─ RTP ─► route by SSRC
                                                                      │        / MID / PT ─►
                                                                      │        receive stream ─►
                                                                      │        FrameReceived
                                                                      └─ RTCP ─► send/receive
                                                                               streams (NACK,
                                                                               PLI, SR/RR)

Media crosses the boundary as encoded frames (``send_frame``, :class:`FrameReceived`), so this
package needs no codec library; :mod:`rtcstack.asyncio.peer` adds sockets, a timer and the
codecs of :mod:`rtcstack.media` and gives the W3C ``RTCPeerConnection`` API.

Two peers in memory (what ``tests/peer_harness.py`` does with loss and delay added)::

    >>> from rtcstack.peer import PeerConnection
    >>> from rtcstack.common import SeededRandom
    >>> a = PeerConnection(random_bytes=SeededRandom(1))
    >>> b = PeerConnection(random_bytes=SeededRandom(2))
    >>> _ = a.add_host_address(("192.0.2.1", 5000)); _ = b.add_host_address(("192.0.2.2", 5000))
    >>> request = a.create_data_channel("chat")
    >>> a.set_local_description(now=0.0)                      # the implicit offer
    >>> b.set_remote_description(*a.local_description, now=0.0)
    >>> b.set_local_description(now=0.0)                      # the implicit answer
    >>> a.set_remote_description(*b.local_description, now=0.0)
    >>> a.signaling_state.value, b.signaling_state.value
    ('stable', 'stable')
    >>> peers = {("192.0.2.1", 5000): a, ("192.0.2.2", 5000): b}
    >>> now = 0.0
    >>> while now < 5 and not (a.connection_state.value == b.connection_state.value == "connected"
    ...                         and request.channel.ready_state.name == "OPEN"):
    ...     for pc in (a, b):
    ...         if (t := pc.poll_timeout()) is not None and t <= now:
    ...             pc.handle_timeout(now)
    ...         while (tx := pc.poll_transmit()) is not None:
    ...             peers[tx.addr].handle_datagram(tx.data, tx.source, local=tx.addr, now=now)
    ...     now += 0.005
    >>> a.connection_state.value, b.dtls_state, request.channel.ready_state.name
    ('connected', 'connected', 'OPEN')

Out of scope (said plainly in ``docs/layers/peer.md``): more than one transport (rtcstack
always bundles: ``max-compat`` and ``balanced`` shape the offer, but media runs on the first
transport), receiving simulcast, transport-wide congestion control and bandwidth estimation,
RED/ULPFEC, DTMF, identity providers (RFC 8827 §7), ICE-TCP.
"""

from rtcstack.peer.connection import (
    ConnectionState,
    DataChannelRequest,
    FrameReceived,
    IceConnectionState,
    IceGatheringState,
    KeyframeRequested,
    NegotiationNeeded,
    PeerConfig,
    PeerConnection,
    PeerEvent,
    PeerStats,
    RemoteCandidate,
    SignalingState,
    StateChange,
    TrackAdded,
    TrackEnded,
)
from rtcstack.peer.stats import collect_stats
from rtcstack.peer.transceiver import Transceiver

__all__ = [
    "ConnectionState",
    "DataChannelRequest",
    "FrameReceived",
    "IceConnectionState",
    "IceGatheringState",
    "KeyframeRequested",
    "NegotiationNeeded",
    "PeerConfig",
    "PeerConnection",
    "PeerEvent",
    "PeerStats",
    "RemoteCandidate",
    "SignalingState",
    "StateChange",
    "TrackAdded",
    "TrackEnded",
    "Transceiver",
    "collect_stats",
]
