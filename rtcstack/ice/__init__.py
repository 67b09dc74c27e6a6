"""ICE: Interactive Connectivity Establishment (RFC 8445) with its TURN client (RFC 8656), sans-IO.

The layer finds a working path between two agents through NATs and firewalls -- directly when it
can, through a TURN relay when it must -- keeps it alive, and moves to a new one when the network
changes.  It reads no clock and owns no socket; :mod:`rtcstack.asyncio.ice` is its driver.

- :mod:`~rtcstack.ice.candidate`: :class:`Candidate` (RFC 8445 §5.1, its RFC 8839 §5.1 text
  form), priorities (§5.1.2), foundations (§5.1.1.3), pair priority (§6.1.2.3), RFC 8421 local
  preference.
- :mod:`~rtcstack.ice.agent`: :class:`IceAgent` -- host, server-reflexive, relayed and
  peer-reflexive candidates; checklists, Ta pacing, triggered checks, role conflicts (487);
  regular nomination, aggressive nomination accepted; ICE-lite both ways; trickle (RFC 8838);
  consent freshness (RFC 7675); ICE restart (§9).
- :mod:`~rtcstack.ice.turn`: :class:`TurnClient` -- Allocate with long-term credentials,
  Refresh, CreatePermission, ChannelBind, Send/Data indications and ChannelData, over UDP, TCP
  or TLS (the driver owns the stream).
- :mod:`~rtcstack.ice.mdns`: the multicast DNS messages and state machines that resolve and
  publish ``<uuid>.local`` host candidates (RFC 6762 subset).

Two agents in memory, the drive loop::

    >>> from rtcstack.common import SeededRandom
    >>> a = IceAgent(controlling=True, random_bytes=SeededRandom(1))
    >>> b = IceAgent(controlling=False, random_bytes=SeededRandom(2))
    >>> host_a = a.add_host_address(("192.0.2.1", 5000))
    >>> host_b = b.add_host_address(("192.0.2.2", 6000))
    >>> a.set_remote_credentials(*b.local_credentials)
    >>> b.set_remote_credentials(*a.local_credentials)
    >>> a.add_remote_candidate(Candidate.parse(host_b.to_ice_string()), now=0.0)
    >>> b.add_remote_candidate(host_a, now=0.0)
    >>> now, agents = 0.0, {("192.0.2.1", 5000): a, ("192.0.2.2", 6000): b}
    >>> while a.selected_pair is None or b.selected_pair is None:
    ...     for agent in (a, b):
    ...         if (t := agent.poll_timeout()) is not None and t <= now:
    ...             agent.handle_timeout(now)
    ...         while (tx := agent.poll_transmit()) is not None:
    ...             agents[tx.addr].handle_datagram(tx.data, tx.source, local=tx.addr, now=now)
    ...     now += 0.001
    >>> str(a.selected_pair.remote), a.state.value
    ('host udp 192.0.2.2:6000', 'connected')
    >>> a.send(b"hello", now=now)
    >>> tx = a.poll_transmit()
    >>> b.handle_datagram(tx.data, tx.source, local=tx.addr, now=now)  # not STUN: for DTLS/SRTP
    b'hello'

Out of scope: more than one component (WebRTC multiplexes RTP and RTCP on one, RFC 5761),
ICE-TCP candidates (RFC 6544: received TCP candidates are ignored), TURN TCP allocations
(RFC 6062), ICE renomination drafts.
"""

from rtcstack.ice.agent import (
    AgentStats,
    CandidateGathered,
    CandidatePair,
    GatheringComplete,
    IceAgent,
    IceEvent,
    IceState,
    PairState,
    SelectedPairChanged,
    ServerFailed,
    StateChanged,
)
from rtcstack.ice.candidate import (
    Candidate,
    CandidateType,
    candidate_priority,
    foundation_for,
    local_preference,
    pair_priority,
)
from rtcstack.ice.turn import (
    Allocated,
    AllocationFailed,
    PermissionFailed,
    TurnClient,
    TurnClosed,
    TurnEvent,
    TurnServer,
    TurnState,
    parse_turn_uri,
)

__all__ = [
    "AgentStats",
    "Allocated",
    "AllocationFailed",
    "Candidate",
    "CandidateGathered",
    "CandidatePair",
    "CandidateType",
    "GatheringComplete",
    "IceAgent",
    "IceEvent",
    "IceState",
    "PairState",
    "PermissionFailed",
    "SelectedPairChanged",
    "ServerFailed",
    "StateChanged",
    "TurnClient",
    "TurnClosed",
    "TurnEvent",
    "TurnServer",
    "TurnState",
    "candidate_priority",
    "foundation_for",
    "local_preference",
    "pair_priority",
    "parse_turn_uri",
]
