"""Real browsers complete a DTLS 1.2 handshake with rtcstack's :class:`DtlsConnection` (issue #5).

Chromium and Firefox ESR (headless, loopback) offer ``audio-only`` (so ``use_srtp`` is offered);
rtcstack answers with ``a=ice-lite``, its ice-ufrag/pwd, the fingerprint of its certificate and one
host candidate 127.0.0.1:PORT, a UDP socket the test owns (:class:`tests.interop.ice_lite.
IceLitePeer`: it answers the browser's connectivity checks and feeds DTLS to the connection).
The browser's ``connectionState`` becomes "connected" only once it has verified our certificate
against our SDP fingerprint; our side verifies the browser's against its offer's ``a=fingerprint``
(``remote_fingerprints``) and emits ``HandshakeComplete`` with an SRTP profile.

- ``a=setup:passive``: the browser is the DTLS client, rtcstack the server (with cookie exchange).
- ``a=setup:active``: rtcstack is the DTLS client.
- A wrong fingerprint in our answer: the browser reaches "failed" and our side sees no
  successful handshake (an alert from the browser, or a Closed).

Firefox gathers 127.0.0.1 candidates only inside a network namespace with only ``lo``
(``open_session(..., isolated=True)``); the peer's socket is then made in that namespace too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from rtcstack.dtls import (
    AlertDescription,
    Certificate,
    CipherSuite,
    Closed,
    ContentType,
    DtlsAlert,
    DtlsConfig,
    DtlsConnection,
    HandshakeComplete,
    HandshakeType,
    NamedGroup,
    SrtpProfileId,
    parse_datagram,
)
from rtcstack.dtls.messages import parse_handshake_fragments
from rtcstack.sdp import Fingerprint, SessionDescription
from rtcstack.sdp.attributes import Candidate
from rtcstack.sdp.jsep import DtlsParameters, IceParameters, LocalSpec, create_answer
from tests.interop.browser import BrowserSession, ConnectResult, open_session
from tests.interop.ice_lite import IceLitePeer

pytestmark = pytest.mark.interop

BROWSERS = ("chromium", "firefox")
WAIT = 8.0  # seconds the page waits for "connected"/"failed"


@pytest.fixture(scope="module", params=BROWSERS)
def session(request: pytest.FixtureRequest) -> Iterator[BrowserSession]:
    with open_session(request.param, isolated=request.param == "firefox") as opened:
        yield opened


@dataclass
class Run:
    result: ConnectResult
    peer: IceLitePeer
    keylog: list[str]

    def describe(self) -> str:
        """What happened, for assertion messages: states, our events, the datagram log."""
        lines = [f"browser: {self.result.connection_state} via {self.result.states} "
                 f"(ice {self.result.ice_connection_state}, error {self.result.error})",
                 f"ours: state {self.peer.dtls.state.value}, events {self.peer.events}, "
                 f"dropped {self.peer.dtls.dropped}, checks {self.peer.checks}, "
                 f"rejected {self.peer.rejected[:5]}, loop error {self.peer.error!r}"]
        for d in self.peer.log[:40]:
            lines.append(f"  {d.direction:3} {d.kind:5} {d.address} {len(d.data):5} "
                         f"{d.data[:24].hex()}")
        lines.append("answer:\n" + self.result.answer)
        return "\n".join(lines)


def _remote_fingerprints(offer: SessionDescription) -> list[tuple[str, str]]:
    section = next(m for m in offer.media if m.port != 0)
    prints = offer.fingerprints_for(section)
    assert prints, "the browser's offer has no a=fingerprint"
    return [(f.algorithm, f.value) for f in prints]


def _connect(session: BrowserSession, *, setup: str, wrong_fingerprint: bool = False,
             wrong_remote: bool = False, key_type: str = "ecdsa-p256",
             options: dict[str, Any] | None = None) -> Run:
    """The browser offers audio-only; we answer as an ICE-lite peer with ``a=setup:<setup>``.
    ``wrong_fingerprint``: our answer advertises another certificate's fingerprint;
    ``wrong_remote``: we expect another certificate than the one the browser's offer names.
    ``key_type`` is our certificate's; ``options`` go to :class:`DtlsConfig`."""
    certificate = Certificate.generate(key_type)
    advertised = Certificate.generate() if wrong_fingerprint else certificate
    ice = IceParameters.generate(lite=True)
    keylog: list[str] = []
    peers: list[IceLitePeer] = []

    def answerer(offer_text: str) -> str:
        offer = SessionDescription.parse(offer_text)
        expected = _remote_fingerprints(offer)
        if wrong_remote:
            expected = [("sha-256", Certificate.generate().fingerprint("sha-256"))]
        config = DtlsConfig(certificate, remote_fingerprints=expected, keylog=keylog.append,
                            **(options or {}))
        role = "server" if setup == "passive" else "client"
        peer = IceLitePeer(ice.ufrag, ice.pwd, DtlsConnection(config, role),
                           netns=session.server.netns)
        peers.append(peer)
        section = next(m for m in offer.media if m.port != 0)
        ufrag, _ = offer.ice_credentials(section)
        peer.remote_ufrag = ufrag or ""
        peer.start()
        candidate = Candidate("1", 1, "udp", 2130706431, "127.0.0.1", peer.port, "host")
        fingerprint = Fingerprint.parse(f"sha-256 {advertised.fingerprint('sha-256')}")
        spec = LocalSpec.default(ice=ice, dtls=DtlsParameters((fingerprint,), setup=setup),
                                 kinds=("audio",), data_channel=False)
        spec = dataclasses.replace(spec, candidates=(candidate,), end_of_candidates=True)
        return create_answer(offer, spec).serialize()

    try:
        result = session.connects("audio-only", answerer, wait=WAIT)
        assert peers, "the answerer was not called"
        peer = peers[0]
        # The browser's state is final; give our side a moment to see the last flight/alert.
        peer.wait_for(lambda p: p.dtls.state.value in ("connected", "closed"), timeout=2.0)
    finally:
        for p in peers:
            p.close()
    return Run(result, peers[0], keylog)


def _negotiated_group(run: Run) -> str:
    """The ECDHE group, read from the ServerKeyExchange (RFC 8422 §5.4: curve_type named_curve
    (3), then the NamedGroup) in the log of plaintext datagrams."""
    for datagram in run.peer.log:
        if datagram.kind != "dtls":
            continue
        records, _ = parse_datagram(datagram.data)
        for record in records:
            if record.epoch != 0 or record.content_type != ContentType.HANDSHAKE:
                continue
            for fragment in parse_handshake_fragments(record.fragment):
                body = fragment.body
                if (fragment.msg_type == HandshakeType.SERVER_KEY_EXCHANGE
                        and fragment.fragment_offset == 0 and len(body) >= 3 and body[0] == 3):
                    return NamedGroup(int.from_bytes(body[1:3], "big")).name
    return "?"


def _transport_stats(run: Run) -> dict[str, object]:
    return next((s for s in run.result.stats if s.get("type") == "transport"), {})


def _check_connected(run: Run) -> HandshakeComplete:
    assert run.result.accepted, f"the browser refused our answer: {run.result.error}"
    assert run.peer.error is None, run.describe()
    complete = [e for e in run.peer.events if isinstance(e, HandshakeComplete)]
    assert complete, "rtcstack saw no HandshakeComplete\n" + run.describe()
    assert run.result.connection_state == "connected", run.describe()
    # The page closes its RTCPeerConnection once it has reported: a close_notify, Closed(None).
    assert not [e for e in run.peer.events if isinstance(e, Closed) and e.error], run.describe()
    event = complete[0]
    assert event.srtp_profile is not None, "no SRTP profile negotiated (the offer has audio)"
    assert event.extended_master_secret
    assert len(run.keylog) == 1 and run.keylog[0].startswith("CLIENT_RANDOM ")
    return event


def _summary(session: BrowserSession, run: Run, event: HandshakeComplete) -> str:
    stats = _transport_stats(run)
    return (f"{session.browser.name} {session.browser.version}: suite "
            f"{CipherSuite(event.cipher_suite).name}, group {_negotiated_group(run)}, SRTP "
            f"{SrtpProfileId(event.srtp_profile or 0).name}, browser stats "
            f"dtlsCipher={stats.get('dtlsCipher')} srtpCipher={stats.get('srtpCipher')} "
            f"tlsVersion={stats.get('tlsVersion')} tlsGroup={stats.get('tlsGroup')} "
            f"dtlsRole={stats.get('dtlsRole')}, {run.result.elapsed_ms:.0f} ms")


def test_browser_connects_to_rtcstack_dtls_server(session: BrowserSession) -> None:
    run = _connect(session, setup="passive")
    event = _check_connected(run)
    stats = _transport_stats(run)
    if "dtlsRole" in stats:
        assert stats["dtlsRole"] == "client"
    if "tlsVersion" in stats:
        assert stats["tlsVersion"] == "FEFD"  # DTLS 1.2
    print(_summary(session, run, event))


def test_browser_connects_to_rtcstack_dtls_client(session: BrowserSession) -> None:
    run = _connect(session, setup="active")
    event = _check_connected(run)
    stats = _transport_stats(run)
    if "dtlsRole" in stats:
        assert stats["dtlsRole"] == "server"
    print(_summary(session, run, event))


# One non-default choice each: what the browser must accept when rtcstack (server) picks it, or
# offers only it (client).  (key type, DtlsConfig options, expected suite, group, SRTP profile.)
VARIANTS: dict[str, tuple[str, dict[str, Any], CipherSuite, NamedGroup, SrtpProfileId]] = {
    "p256": ("ecdsa-p256", {"groups": (NamedGroup.SECP256R1,)},
             CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, NamedGroup.SECP256R1,
             SrtpProfileId.SRTP_AEAD_AES_128_GCM),
    "p384": ("ecdsa-p256", {"groups": (NamedGroup.SECP384R1,)},
             CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, NamedGroup.SECP384R1,
             SrtpProfileId.SRTP_AEAD_AES_128_GCM),
    "chacha": ("ecdsa-p256",
               {"cipher_suites": (CipherSuite.ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,)},
               CipherSuite.ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, NamedGroup.X25519,
               SrtpProfileId.SRTP_AEAD_AES_128_GCM),
    "rsa": ("rsa-2048", {}, CipherSuite.ECDHE_RSA_WITH_AES_128_GCM_SHA256, NamedGroup.X25519,
            SrtpProfileId.SRTP_AEAD_AES_128_GCM),
    "srtp-gcm256": ("ecdsa-p256", {"srtp_profiles": (SrtpProfileId.SRTP_AEAD_AES_256_GCM,)},
                    CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, NamedGroup.X25519,
                    SrtpProfileId.SRTP_AEAD_AES_256_GCM),
    "srtp-cm80": ("ecdsa-p256",
                  {"srtp_profiles": (SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_80,)},
                  CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, NamedGroup.X25519,
                  SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_80),
    "mtu300": ("ecdsa-p256", {"mtu": 300}, CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
               NamedGroup.X25519, SrtpProfileId.SRTP_AEAD_AES_128_GCM),
    "no-cookie": ("ecdsa-p256", {"require_cookie": False},
                  CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, NamedGroup.X25519,
                  SrtpProfileId.SRTP_AEAD_AES_128_GCM),
}


# Not as the client (setup "active"): "no-cookie" (the cookie exchange is the server's) and
# "p384": in TLS 1.2 the server's ECDSA certificate curve must be in the client's
# supported_groups (RFC 8422 §5.1), the browsers' certificates are P-256, so both refuse a
# P-384-only ClientHello with handshake_failure (BoringSSL and NSS alike).
CASES = [(setup, variant) for setup in ("passive", "active") for variant in VARIANTS
         if setup == "passive" or variant not in ("no-cookie", "p384")]


@pytest.mark.parametrize(("setup", "variant"), CASES)
def test_browser_connects_with_variant(session: BrowserSession, setup: str,
                                       variant: str) -> None:
    key_type, options, suite, group, profile = VARIANTS[variant]
    run = _connect(session, setup=setup, key_type=key_type, options=options)
    event = _check_connected(run)
    if setup == "active" and key_type == "rsa-2048":
        # The suite follows the server's (the browser's ECDSA) certificate; ours signs only the
        # CertificateVerify (rsa_pss_rsae_sha256 or rsa_pkcs1_sha256).
        suite = CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    assert event.cipher_suite == suite, run.describe()
    assert _negotiated_group(run) == group.name, run.describe()
    if setup == "passive" or "srtp_profiles" in options:
        # As the client we offer all four profiles and the browser picks (Chromium: AES-CM).
        assert event.srtp_profile == profile, run.describe()
    if "mtu" in options:
        assert max(len(d.data) for d in run.peer.log if d.direction == "out") <= options["mtu"]
    print(_summary(session, run, event))


def test_no_common_cipher_suite_fails_on_both_sides(session: BrowserSession) -> None:
    """Neither browser offers TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 in DTLS 1.2: a server
    that accepts only it answers handshake_failure, and the browser fails."""
    options = {"cipher_suites": (CipherSuite.ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,)}
    run = _connect(session, setup="passive", options=options)
    alert = _closed_with(run)
    assert not alert.remote and alert.description == AlertDescription.HANDSHAKE_FAILURE, (
        run.describe())
    assert run.result.connection_state == "failed", run.describe()


def _closed_with(run: Run) -> DtlsAlert:
    closed = [e for e in run.peer.events if isinstance(e, Closed)]
    assert closed and closed[0].error is not None, run.describe()
    return closed[0].error


@pytest.mark.parametrize("setup", ["passive", "active"])
def test_browser_rejects_wrong_fingerprint_in_our_answer(session: BrowserSession,
                                                         setup: str) -> None:
    """RFC 8827 §6.5: the browser checks our certificate against our SDP fingerprint."""
    run = _connect(session, setup=setup, wrong_fingerprint=True)
    assert run.result.accepted, f"the browser refused our answer: {run.result.error}"
    assert run.result.connection_state == "failed", run.describe()
    assert not any(isinstance(e, HandshakeComplete) for e in run.peer.events), run.describe()
    alert = _closed_with(run)
    # Chromium (BoringSSL) sends certificate_unknown, Firefox (NSS) bad_certificate.
    assert alert.remote and alert.description in (
        AlertDescription.BAD_CERTIFICATE, AlertDescription.CERTIFICATE_UNKNOWN), run.describe()
    print(f"{session.browser.name} ({setup}): {alert}")


@pytest.mark.parametrize("setup", ["passive", "active"])
def test_rtcstack_rejects_browser_certificate_not_in_offer(session: BrowserSession,
                                                           setup: str) -> None:
    """RFC 8827 §6.5 on our side: a browser certificate that matches no fingerprint we expect
    ends our handshake with bad_certificate, and the browser fails."""
    run = _connect(session, setup=setup, wrong_remote=True)
    assert run.result.accepted, f"the browser refused our answer: {run.result.error}"
    assert not any(isinstance(e, HandshakeComplete) for e in run.peer.events), run.describe()
    alert = _closed_with(run)
    assert not alert.remote and alert.description == AlertDescription.BAD_CERTIFICATE, (
        run.describe())
    assert run.result.connection_state == "failed", run.describe()
    print(f"{session.browser.name} ({setup}): {alert}")
