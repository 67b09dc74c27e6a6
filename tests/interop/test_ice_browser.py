"""Real browsers connect to rtcstack's full ICE agent (not ICE-lite) over loopback (issue #6).

The rtcstack side is :class:`tests.interop.ice_peer.IcePeer`: an :class:`IceTransport` on
127.0.0.1 (inside the browser's network namespace when the session has one) with rtcstack's
DTLS 1.2 riding on the same socket.  Each connection is data-only.

- The browser offers, rtcstack answers (controlled, RFC 8445 §6.1.1 / RFC 9429 §5.3.1) with its
  credentials, its gathered candidates, ``a=end-of-candidates``, its certificate fingerprint and
  ``a=setup:passive``: the browser's ``connectionState`` must reach "connected" (ICE and the DTLS
  handshake, both fingerprints verified), our agent must have selected a pair the browser
  nominated (USE-CANDIDATE seen on the wire and the pair flagged nominated, RFC 8445 §7.3.1.5),
  and our DTLS server must have completed its handshake.
- rtcstack offers (controlling, ``a=setup:actpass``), the browser answers through the harness's
  ``answers_offers`` job (its connection stays open while our offerer callback runs): our
  regular nomination (RFC 8445 §8.1.1) must be answered with success by the browser, and the
  DTLS handshake (the browser is the client, ``a=setup:active``) must complete.  The harness
  reports no connection state for an answering browser; the DTLS handshake is the browser's
  side of the proof (it starts DTLS only over a pair its ICE agent selected).
- Firefox ESR runs in a namespace with only ``lo`` (``isolated=True``), where it gathers
  127.0.0.1.
- mDNS: Chromium launched with ``mdns=True`` offers ``<uuid>.local`` host candidates inside its
  namespace; the transport's mDNS service (opened on the peer's thread, so in that namespace)
  resolves them and ICE connects.

Each test prints the setup times: browser candidates in -> our selected pair, first browser
check -> selected pair, and the browser's own setRemoteDescription -> "connected".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import pytest

from rtcstack.dtls import HandshakeComplete
from rtcstack.ice.agent import IceState
from rtcstack.ice.candidate import Candidate, CandidateType
from rtcstack.sdp import Fingerprint, SessionDescription
from rtcstack.sdp.description import MediaSection
from rtcstack.sdp.jsep import (
    DtlsParameters,
    IceParameters,
    LocalSpec,
    create_answer,
    create_offer,
)
from tests.interop.browser import BrowserSession, ConnectResult, open_session
from tests.interop.ice_peer import IcePeer

pytestmark = pytest.mark.interop

WAIT = 8.0  # seconds the page waits for "connected"/"failed"; our side waits as long


@pytest.fixture(scope="module", params=("chromium", "firefox"))
def session(request: pytest.FixtureRequest) -> Iterator[BrowserSession]:
    with open_session(request.param, isolated=request.param == "firefox") as opened:
        yield opened


@dataclass
class Remote:
    """The browser's transport parameters, read from its description."""

    ufrag: str
    pwd: str
    candidates: list[Candidate]
    fingerprints: list[tuple[str, str]]
    setup: str | None


def _remote(description: SessionDescription) -> Remote:
    section: MediaSection = next(m for m in description.media if m.port != 0)
    ufrag, pwd = description.ice_credentials(section)
    assert ufrag and pwd, "the browser's description has no ICE credentials"
    candidates = [Candidate.from_sdp(c) for c in section.candidates]
    prints = [(f.algorithm, f.value) for f in description.fingerprints_for(section)]
    assert prints, "the browser's description has no a=fingerprint"
    return Remote(ufrag, pwd, candidates, prints, description.setup_for(section))


def _spec(peer: IcePeer, candidates: list[Candidate], setup: str) -> LocalSpec:
    if peer.ice is None:
        raise RuntimeError("gather() first")
    ufrag, pwd = peer.ice.local_credentials
    fingerprint = Fingerprint.parse(f"sha-256 {peer.certificate.fingerprint('sha-256')}")
    spec = LocalSpec.default(ice=IceParameters(ufrag, pwd),
                             dtls=DtlsParameters((fingerprint,), setup=setup),
                             kinds=(), data_channel=True)
    return replace(spec, candidates=tuple(c.to_sdp() for c in candidates),
                   end_of_candidates=True)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _timings(session: BrowserSession, peer: IcePeer, what: str,
             result: ConnectResult | None = None) -> str:
    text = (f"{session.browser.version} {what}: candidates in -> selected pair "
            f"{_ms(peer.elapsed('remote_candidates', 'selected'))}, first browser check -> "
            f"selected {_ms(peer.elapsed('first_check_in', 'selected'))}, selected -> DTLS done "
            f"{_ms(peer.elapsed('selected', 'dtls_done'))}, checks in {peer.tap.requests} "
            f"(USE-CANDIDATE {peer.tap.use_candidate})")
    if result is not None and result.elapsed_ms is not None:
        text += f", browser setRemoteDescription -> {result.connection_state} " \
                f"{result.elapsed_ms:.0f} ms"
    return text


def _browser_offers(session: BrowserSession, scenario: str, *, wait_remote: bool = True,
                    settle: Callable[[IcePeer], bool] | None = None,
                    ) -> tuple[ConnectResult, IcePeer]:
    """The browser offers ``scenario``; an IcePeer (controlled, DTLS server) answers.
    ``wait_remote``: the browser's candidates are all added (``.local`` names resolved) before
    the answer goes back; else the answer goes back at once and they are added meanwhile."""
    netns = session.server.netns
    address = "127.0.0.1" if netns is None else netns.address
    peers: list[IcePeer] = []

    def answerer(offer_text: str) -> str:
        offer = SessionDescription.parse(offer_text)
        remote = _remote(offer)
        peer = IcePeer(controlling=False, address=address, netns=netns, dtls_role="server")
        peers.append(peer)
        peer.start()
        _, _, candidates = peer.gather()
        # As an RTCPeerConnection does: the remote description is applied (checks may start)
        # before the answer goes back.
        peer.set_remote(remote.ufrag, remote.pwd, remote.candidates, remote.fingerprints,
                        wait=wait_remote)
        return create_answer(offer, _spec(peer, candidates, "passive")).serialize()

    try:
        result = session.connects(scenario, answerer, wait=WAIT)
        assert peers, "the answerer was not called"
        # The browser's state is final; give our side a moment for the last DTLS flight.
        peers[0].wait_for(lambda p: p.connected(), timeout=2.0)
        if settle is not None:
            peers[0].wait_for(settle, timeout=5.0)
    finally:
        for p in peers:
            p.close()
    return result, peers[0]


def _check_browser_nominated(result: ConnectResult, peer: IcePeer) -> None:
    why = f"browser {result.connection_state} via {result.states} (ice " \
          f"{result.ice_connection_state}, error {result.error})\n{peer.describe()}\n" \
          f"answer:\n{result.answer}"
    assert result.accepted, f"the browser refused our answer: {result.error}"
    assert result.ice_connection_state in ("connected", "completed"), why
    assert result.connection_state == "connected", why
    # We are controlled: the browser controls and nominates.
    assert peer.ice is not None and not peer.ice.agent.controlling, why
    assert peer.tap.controlling > 0 and peer.tap.controlled == 0, why
    assert peer.tap.use_candidate > 0, "the browser sent no USE-CANDIDATE\n" + why
    pair = peer.selected
    assert pair is not None and pair.nominated, why
    # RFC 8445 §7.3.1.5: the pair selected is one the browser nominated.
    assert pair.remote.addr in peer.tap.use_candidate_from, why
    assert IceState.CONNECTED in peer.states, why
    assert IceState.FAILED not in peer.states, why
    assert isinstance(peer.handshake, HandshakeComplete), why
    assert not peer.errors, why


def test_browser_offers_rtcstack_answers(session: BrowserSession) -> None:
    result, peer = _browser_offers(session, "data-only")
    _check_browser_nominated(result, peer)
    pair = peer.selected
    assert pair is not None and pair.local.type is CandidateType.HOST
    assert pair.local.address == "127.0.0.1"
    print(_timings(session, peer, "offers, rtcstack controlled", result))


def test_rtcstack_offers_browser_answers(session: BrowserSession) -> None:
    """rtcstack controls and nominates (regular nomination); the browser answers."""
    netns = session.server.netns
    address = "127.0.0.1" if netns is None else netns.address
    # The DTLS role is the answer's to choose (set below); until then DTLS input is kept.
    peer = IcePeer(controlling=True, address=address, netns=netns, dtls_role="server")
    offers: list[str] = []
    try:
        peer.start()
        _, _, candidates = peer.gather()

        def offerer(previous_answer: str | None) -> str | None:
            if previous_answer is None:
                offer = create_offer(_spec(peer, candidates, "actpass")).serialize()
                offers.append(offer)
                return offer
            remote = _remote(SessionDescription.parse(previous_answer))
            # RFC 8842 §5.3: the answerer chose; "active" makes us the DTLS server.
            peer.dtls_role = "server" if remote.setup == "active" else "client"
            peer.set_remote(remote.ufrag, remote.pwd, remote.candidates, remote.fingerprints)
            # The browser's connection stays open until this callback returns.
            peer.wait_for(lambda p: p.connected(), timeout=WAIT)
            return None

        rounds = session.answers_offers("data-only", offerer)
        assert len(rounds) == 1 and rounds[0].accepted, rounds
        # The page closes its connection after this; keep what we saw.
    finally:
        peer.close()
    why = f"{peer.describe()}\noffer:\n{offers[0] if offers else None}\n" \
          f"answer:\n{rounds[0].answer if rounds else None}"
    assert peer.ice is not None and peer.ice.agent.controlling, why
    assert peer.tap.controlled > 0 and peer.tap.controlling == 0, why
    assert peer.tap.use_candidate == 0, why  # the controlled browser never nominates
    pair = peer.selected
    assert pair is not None and pair.nominated, why
    # Our USE-CANDIDATE check on that pair was answered with success by the browser.
    assert pair.use_candidate, why
    nominations = [f for _, name, f in peer.traces if name == "ice.check" and f.get("nominate")]
    assert nominations, why
    assert isinstance(peer.handshake, HandshakeComplete), why
    assert not peer.errors, why
    print(_timings(session, peer, "answers, rtcstack controlling"))


def test_chromium_mdns_candidates_resolved_and_connected() -> None:
    """Chromium (mDNS on) offers ``<uuid>.local`` host candidates; rtcstack resolves them by
    mDNS inside the browser's namespace and connects to the resolved host candidate."""
    with open_session("chromium", mdns=True) as session:
        netns = session.server.netns
        assert netns is not None
        # The browser's first check may arrive before its name resolves: the pair is then
        # nominated with a peer-reflexive remote, which the resolved host candidate replaces
        # (RFC 8445 §7.3.1.3, RFC 8838 §11).
        result, peer = _browser_offers(
            session, "data-only-mdns",
            settle=lambda p: p.selected is not None
            and p.selected.remote.type is CandidateType.HOST)
    hosts = [c for c in SessionDescription.parse(result.offer).media[0].candidates
             if c.type == "host"]
    assert hosts and all(c.address.endswith(".local") for c in hosts), result.offer
    _check_browser_nominated(result, peer)
    pair = peer.selected
    # The selected remote is the resolved host candidate (not a peer-reflexive one learned
    # from the browser's checks), at the namespace's address.
    assert pair is not None and pair.remote.type is CandidateType.HOST, peer.describe()
    assert pair.remote.address == netns.address, peer.describe()
    assert pair.local.address == netns.address, peer.describe()
    print(_timings(session, peer, "offers with mDNS names, rtcstack controlled", result))


def test_firefox_mdns_candidates_connect_through_peer_reflexive() -> None:
    """Firefox ESR 153 (mDNS on) offers ``<uuid>.local`` host candidates but, in the test
    namespace, answers no mDNS query for them (none seen on ``lo`` or the veth while its
    connection is open).  Our names stay unresolved (dropped after the resolver's timeout, as
    browsers do), and ICE still connects: Firefox checks our 198.18.0.1 candidate and we learn
    its address as a peer-reflexive candidate (RFC 8445 §7.3.1.3)."""
    with open_session("firefox", mdns=True) as session:
        result, peer = _browser_offers(session, "data-only-mdns", wait_remote=False)
    hosts = [c for c in SessionDescription.parse(result.offer).media[0].candidates
             if c.type.lower() == "host"]
    assert hosts and all(c.address.endswith(".local") for c in hosts), result.offer
    _check_browser_nominated(result, peer)
    pair = peer.selected
    assert pair is not None and pair.remote.type is CandidateType.PEER_REFLEXIVE, \
        peer.describe()
    print(_timings(session, peer, "offers with mDNS names (unanswered), rtcstack controlled",
                   result))
