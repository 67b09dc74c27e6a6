"""A remote ICE restart's trickled candidates (sans-IO peer connection, virtual clock)."""

from __future__ import annotations

from tests.peer_harness import ADDR_B, PeerPair


def _without_candidates(sdp: str) -> str:
    return "".join(line + "\r\n" for line in sdp.split("\r\n")
                   if line and not line.startswith(("a=candidate:", "a=end-of-candidates")))


def test_candidates_of_a_restart_offer_before_the_answer_are_kept() -> None:
    """W3C addIceCandidate: after setRemoteDescription(restart offer) and before our answer, a
    candidate belongs to the offer's new ICE generation.  The agent switches generations only
    when we answer: handed over at once it was dropped ("old generation", Chromium's lines
    carry the ufrag) or forgotten by the restart (Firefox's do not)."""
    pair = PeerPair()
    pair.a.create_data_channel("chat")
    pair.negotiate("a")
    assert pair.run(pair.connected, seconds=10)
    old_ufrag = pair.a.ice.remote_ufrag

    pair.b.restart_ice()
    pair.b.set_local_description(now=pair.now)
    assert pair.run(lambda: bool(pair.b.local_candidates), seconds=1)
    offer = pair.b.local_description
    assert offer is not None and offer[0] == "offer"
    [candidate] = [c.to_ice_string() for c in pair.b.local_candidates]
    pair.a.set_remote_description("offer", _without_candidates(offer[1]), now=pair.now)
    pair.a.add_ice_candidate(candidate, now=pair.now)
    pair.a.add_ice_candidate(None, now=pair.now)
    assert pair.a.ice.remote_ufrag == old_ufrag  # nothing switched before the answer
    pair.a.set_local_description(now=pair.now)
    pair.drain()
    assert pair.a.ice.remote_ufrag != old_ufrag
    assert [c.addr for c in pair.a.ice.remote_candidates] == [ADDR_B]
