"""Real browsers open WebRTC data channels to rtcstack's SCTP (issue #7).

Chromium and Firefox ESR (headless, loopback) create an RTCPeerConnection with one data channel
and offer (``m=application ... UDP/DTLS/SCTP webrtc-datachannel``, ``a=sctp-port``,
``a=max-message-size``).  rtcstack answers as in ``test_dtls_browser``: ``a=ice-lite``, its
fingerprint, one host candidate 127.0.0.1:PORT (:class:`tests.interop.ice_lite.IceLitePeer`),
``a=sctp-port:5000`` and ``a=max-message-size:262144``.  Once DTLS is up the peer drives a
:class:`~rtcstack.sctp.DataChannels` (role = our DTLS role, ``SctpConfig(zero_checksum=True,
mtu=connection.max_application_payload)``) on top of it
(:class:`~tests.interop.sctp_app.EchoApp`, the peer's ``application``): packets are the DTLS
application data, one record each (RFC 8261 §5).

The page (``data-channels`` job of ``browser_page.html``) then checks, and reports back:

- its channel opens; rtcstack sees it as ``ChannelOpened(remote=True)`` with its label and
  protocol, on a stream id of the browser's parity (RFC 8832 §6: the DTLS client's are even);
- echoes: text (1- to 4-byte UTF-8 characters) and binary messages of 1, 1000, 1200, 16 KiB,
  64 KiB bytes and the agreed maximum (``pc.sctp.maxMessageSize``, 256 KiB: ours) come back byte
  for byte; empty messages (RFC 8831 §6.6) where the browser sends them;
- rtcstack's own in-band channel (opened at ``TransportConnected``) arrives by
  ``ondatachannel`` with its label and protocol and a greeting; the page replies; rtcstack then
  closes it and the page sees ``close``;
- an unordered ``maxRetransmits: 0`` channel echoes a burst;
- the page closes its channel: rtcstack sees ``ChannelClosed`` (both streams reset, RFC 8831
  §6.7) and the browser's channel reaches ``closed``;
- rtcstack shuts the association down (SHUTDOWN, SHUTDOWN ACK, SHUTDOWN COMPLETE) and ends with
  ``TransportClosed(None)``.  Whether the browser then closes its remaining channel is printed,
  not asserted: Firefox 153 does (``pc.sctp.state`` "closed"), Chromium 156 leaves the channel
  "open" and ``pc.sctp.state`` "connected".

The browser's bursts overflow default-sized UDP receive buffers on loopback (RcvbufErrors), so
our socket gets a large one; what the browser's socket drops, rtcstack retransmits (counted in
the printed summary).

Both DTLS roles (``a=setup:passive``: rtcstack is the DTLS server and takes odd stream ids;
``a=setup:active``: the client, even ids) for both browsers.  What each browser negotiates is
read from its INIT or INIT ACK (RFC 5061 Supported Extensions, RFC 9653 Zero Checksum
Acceptable) and from ``Connected``, and printed.

Firefox gathers 127.0.0.1 candidates only inside a network namespace with only ``lo``
(``open_session(..., isolated=True)``); the peer's socket is made in that namespace too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from rtcstack.sctp import (
    CauseCode,
    ChannelClosed,
    ChannelOpened,
    ChunkType,
    TransportClosed,
    TransportConnected,
)
from rtcstack.sdp import SessionDescription
from tests.interop.browser import BrowserSession, open_session
from tests.interop.ice_lite import IceLitePeer
from tests.interop.sctp_app import (
    BURST,
    BURST_SIZE,
    OUR_MAX_MESSAGE_SIZE,
    OUR_PROTOCOL,
    EchoApp,
    answer,
    chunk_type_names,
    chunks,
    peer_report,
)

pytestmark = pytest.mark.interop

BROWSERS = ("chromium", "firefox")
SIZES = [1, 1000, 1200, 16384, 65536]
LABEL, PROTOCOL = "echo", "rtcstack-echo"
OUR_LABEL = "rtcstack-opened"
GREETING, REPLY = "hello from rtcstack \u20ac", "hello back from the browser \U0001f600"


@pytest.fixture(scope="module", params=BROWSERS)
def session(request: pytest.FixtureRequest) -> Iterator[BrowserSession]:
    with open_session(request.param, isolated=request.param == "firefox") as opened:
        yield opened


@dataclass
class Run:
    result: dict[str, Any]
    peer: IceLitePeer
    echo: EchoApp
    offer: SessionDescription
    seconds: float

    def describe(self) -> str:
        r = {k: v for k, v in self.result.items() if k not in ("offer", "answer", "stats")}
        return (f"page: {r}\nours: {self.echo.describe()}\n{peer_report(self.peer)}\n"
                f"answer:\n{self.result.get('answer')}")


def _run(session: BrowserSession, *, setup: str) -> Run:
    peers: list[IceLitePeer] = []
    echoes: list[EchoApp] = []
    offers: list[SessionDescription] = []

    def answerer(data: Any) -> Any:
        offers.append(SessionDescription.parse(data["offer"]))
        sdp, peer, echo = answer(
            data["offer"], setup,
            lambda dtls, size: EchoApp(dtls, size, OUR_LABEL, GREETING),
            netns=session.server.netns)
        peers.append(peer)
        echoes.append(echo)
        return {"answer": sdp}

    def shutdown(_data: Any) -> Any:
        peer, echo = peers[0], echoes[0]
        peer.submit(echo.shutdown)
        done = peer.wait_for(lambda p: bool(echo.of(TransportClosed)), timeout=5.0)
        closed = echo.of(TransportClosed)
        return {"closed": done, "error": closed[0].error if closed else None,
                "remote": closed[0].remote if closed else None}

    payload = {"label": LABEL, "protocol": PROTOCOL, "sizes": SIZES,
               "max_size": OUR_MAX_MESSAGE_SIZE, "reply": REPLY, "burst": BURST,
               "burst_size": BURST_SIZE, "shutdown_wait_ms": 2000}
    start = time.monotonic()
    try:
        result = session.run("data-channels", payload, {"answer": answerer, "shutdown": shutdown},
                             timeout=45)
        assert peers, "the answerer was not called"
        peer, echo = peers[0], echoes[0]
        # The page's last step waited for its own "closed"; let our side see the last packets.
        peer.wait_for(lambda p: any(isinstance(e, ChannelClosed) and e.channel.label == LABEL
                                    for e in echo.events), timeout=2.0)
    finally:
        for p in peers:
            p.close()
    return Run(result, peers[0], echoes[0], offers[0], time.monotonic() - start)


def _stat(run: Run, name: str) -> object:
    side = run.echo.channels
    return None if side is None else getattr(side.association.stats, name)


def _summary(session: BrowserSession, run: Run, setup: str) -> str:
    init = run.echo.peer_init()
    connected = run.echo.of(TransportConnected)
    info = connected[0].info if connected else None
    offer_section = next(m for m in run.offer.media if m.port != 0)
    ext = chunk_type_names(init.supported_extensions if init else ())
    return (f"{session.browser.name} {session.browser.version} setup:{setup}: "
            f"offer max-message-size {offer_section.attribute('max-message-size')}, "
            f"pc.sctp.maxMessageSize {run.result.get('max_message_size')}; browser "
            f"{type(init).__name__ if init else '?'} extensions {ext}, zero-checksum EDMID "
            f"{init.zero_checksum_edmid if init else None}, a_rwnd {init.a_rwnd if init else None}"
            f", streams {init.outbound_streams if init else None}/"
            f"{init.inbound_streams if init else None}; Connected interleaving="
            f"{info.interleaving if info else None} zero_checksum="
            f"{info.zero_checksum if info else None} partial_reliability="
            f"{info.partial_reliability if info else None} stream_reset="
            f"{info.stream_reset if info else None}; open {run.result.get('open_ms', 0):.0f} ms,"
            f" echoes {run.result.get('echo_ms', 0):.0f} ms, empties "
            f"{run.result.get('empties')}, unordered {run.result.get('unordered')}, after our "
            f"SHUTDOWN pc.sctp.state {run.result.get('sctp_final_state')}, our retransmissions"
            f" {_stat(run, 'retransmissions')}, duplicate TSNs {_stat(run, 'duplicate_tsns')}, "
            f"whole run "
            f"{run.seconds:.1f} s")


@pytest.mark.parametrize("setup", ["passive", "active"])
def test_browser_data_channels_with_rtcstack_sctp(session: BrowserSession, setup: str) -> None:
    run = _run(session, setup=setup)
    r, echo = run.result, run.echo
    assert r["accepted"], f"the browser refused our answer: {r['error']}\n{run.describe()}"
    assert run.peer.error is None, run.describe()
    assert not echo.errors, run.describe()
    # The page's pc.close() at the end aborts the association (Chromium: User-Initiated Abort
    # "Close called"); any other ABORT, or one before the browser's last packet, is a failure.
    assert not echo.aborts("out"), run.describe()
    browser_aborts = echo.aborts("in")
    assert len(browser_aborts) <= 1, run.describe()
    if browser_aborts:
        last_in = [data for direction, _, data in echo.packets if direction == "in"][-1]
        assert browser_aborts[0] in chunks(last_in), run.describe()
        codes = [cause.code for cause in browser_aborts[0].causes]
        assert codes in ([], [CauseCode.USER_INITIATED_ABORT]), run.describe()

    # The association and the browser's in-band channel.
    # What was negotiated follows what the browser's INIT offers (Chromium 156: neither I-DATA
    # nor zero checksum; Firefox 153: I-DATA, no zero checksum; both FORWARD-TSN, RE-CONFIG).
    [connected] = echo.of(TransportConnected)
    init = echo.peer_init()
    assert init is not None, run.describe()
    info = connected.info
    assert info.interleaving == (ChunkType.I_DATA in init.supported_extensions)
    assert info.zero_checksum == (init.zero_checksum_edmid == 1)  # RFC 9653: 1 = DTLS
    assert info.partial_reliability and info.stream_reset, info
    opened = {e.channel.label: e for e in echo.of(ChannelOpened)}
    theirs = opened.get(LABEL)
    assert theirs is not None and theirs.remote, run.describe()
    assert theirs.channel.protocol == PROTOCOL and theirs.channel.ordered, run.describe()
    browser_parity = 0 if setup == "passive" else 1  # the browser is the DTLS client: even
    assert theirs.channel.id == r["echo_id"] and theirs.channel.id % 2 == browser_parity

    # Every echo came back byte for byte.
    expected_max = min(OUR_MAX_MESSAGE_SIZE, int(r["max_message_size"]))
    sizes = [e["size"] for e in r["echoes"] if e["kind"] == "binary"]
    assert sizes == [*SIZES, expected_max] if expected_max not in SIZES else SIZES, run.describe()
    bad = [e for e in r["echoes"] if not e["ok"]]
    assert not bad, f"{bad}\n{run.describe()}"
    for empty in r["empties"]:
        assert empty["error"] is None, run.describe()
        if empty["sent"]:
            assert empty["echoed"], run.describe()

    # rtcstack's own channel: opened in-band, greeted, answered, closed by rtcstack.
    ours = r["theirs"]
    assert (ours["label"], ours["protocol"], ours["negotiated"]) == (
        OUR_LABEL, OUR_PROTOCOL, False), run.describe()
    assert ours["id"] % 2 == 1 - browser_parity and ours["ordered"], run.describe()
    assert ours["greeting"] == GREETING and ours["state"] == "closed", run.describe()
    assert echo.replies == [REPLY], run.describe()
    assert echo.ours is not None and echo.ours.ready_state.name == "CLOSED", run.describe()

    # The unordered, maxRetransmits 0 channel.
    loose = opened.get("unordered")
    assert loose is not None and loose.remote, run.describe()
    assert not loose.channel.ordered and loose.channel.max_retransmits == 0, run.describe()
    assert loose.channel.id % 2 == browser_parity, run.describe()
    unordered = r["unordered"]
    # Loopback loses nothing: every message of the burst comes back.
    assert unordered["received"] == BURST and unordered["bad"] == 0, run.describe()

    # The browser closed its channel: both streams reset, the channel is gone on our side.
    closed = [e.channel for e in echo.of(ChannelClosed)]
    assert theirs.channel in closed and echo.ours in closed, run.describe()
    assert LABEL not in [c.label for c in (echo.channels.channels.values()
                                           if echo.channels else ())]

    # rtcstack shut the association down gracefully; the browser's last channel closed.
    assert echo.of(TransportClosed) == [TransportClosed(None, remote=False)], run.describe()
    assert r["shutdown"] == {"closed": True, "error": None, "remote": False}, run.describe()
    # Whether the browser closes its remaining channel when the association shuts down
    # gracefully is reported, not asserted (Chromium 156 leaves it "open").
    print(_summary(session, run, setup))
