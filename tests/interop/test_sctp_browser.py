"""Real browsers open WebRTC data channels to rtcstack's SCTP (issue #7).

Chromium and Firefox ESR (headless, loopback) create an RTCPeerConnection with one data channel
and offer (``m=application ... UDP/DTLS/SCTP webrtc-datachannel``, ``a=sctp-port``,
``a=max-message-size``).  rtcstack answers as in ``test_dtls_browser``: ``a=ice-lite``, its
fingerprint, one host candidate 127.0.0.1:PORT (:class:`tests.interop.ice_lite.IceLitePeer`),
``a=sctp-port:5000`` and ``a=max-message-size:262144``.  Once DTLS is up the peer drives a
:class:`~rtcstack.sctp.DataChannels` (role = our DTLS role, ``SctpConfig(zero_checksum=True,
mtu=connection.max_application_payload)``) on top of it (:class:`Echo`, the peer's
``application``): packets are the DTLS application data, one record each (RFC 8261 §5).

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

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from rtcstack.dtls import (
    ApplicationData,
    Certificate,
    DtlsConfig,
    DtlsConnection,
    Event,
    HandshakeComplete,
)
from rtcstack.dtls import Closed as DtlsClosed
from rtcstack.sctp import (
    DEFAULT_REMOTE_MAX_MESSAGE_SIZE,
    AbortChunk,
    CauseCode,
    ChannelClosed,
    ChannelMessage,
    ChannelOpened,
    ChunkType,
    DataChannel,
    DataChannelEvent,
    DataChannels,
    InitAckChunk,
    InitChunk,
    Packet,
    SctpConfig,
    SctpParseError,
    TransportClosed,
    TransportConnected,
)
from rtcstack.sdp import Fingerprint, SessionDescription
from rtcstack.sdp.attributes import Candidate
from rtcstack.sdp.jsep import DtlsParameters, IceParameters, LocalSpec, create_answer
from tests.interop.browser import BrowserSession, open_session
from tests.interop.ice_lite import IceLitePeer

pytestmark = pytest.mark.interop

BROWSERS = ("chromium", "firefox")
OUR_MAX_MESSAGE_SIZE = 262144  # what our answer advertises (DataChannelSpec's default)
SIZES = [1, 1000, 1200, 16384, 65536]
LABEL, PROTOCOL = "echo", "rtcstack-echo"
OUR_LABEL, OUR_PROTOCOL = "rtcstack-opened", "rtcstack-proto"
GREETING, REPLY = "hello from rtcstack \u20ac", "hello back from the browser \U0001f600"
BURST, BURST_SIZE = 40, 1000
# Our socket's receive buffer: with the default (~208 KiB) a 256 KiB message from the browser
# overflows it on loopback (RcvbufErrors in /proc/net/snmp) while Python catches up, and SCTP
# retransmits (correctly, but a T3 expiry costs a second).
RECEIVE_BUFFER = 4 * 1024 * 1024


@pytest.fixture(scope="module", params=BROWSERS)
def session(request: pytest.FixtureRequest) -> Iterator[BrowserSession]:
    with open_session(request.param, isolated=request.param == "firefox") as opened:
        yield opened


@dataclass
class Echo:
    """rtcstack's side: a :class:`DataChannels` on the peer's DTLS connection that echoes every
    message on the browser's channels, opens a channel of its own once the association is up
    (greets, closes it when the browser replied), and records every packet and event.

    Runs on the :class:`IceLitePeer` loop's thread (its ``application`` hook)."""

    dtls: DtlsConnection
    remote_max_message_size: int
    channels: DataChannels | None = None
    events: list[DataChannelEvent] = field(default_factory=list)
    packets: list[tuple[str, float, bytes]] = field(default_factory=list)  # direction, at, data
    ours: DataChannel | None = None
    replies: list[str | bytes] = field(default_factory=list)
    echoed: int = 0
    errors: list[str] = field(default_factory=list)
    _out: list[bytes] = field(default_factory=list)

    # the ApplicationLayer hook ---------------------------------------------------------------

    def handle_dtls_event(self, event: Event, *, now: float) -> None:
        if isinstance(event, HandshakeComplete):
            role = "client" if self.dtls.is_client else "server"
            config = SctpConfig(zero_checksum=True, mtu=self.dtls.max_application_payload)
            self.channels = DataChannels(role, config,
                                         remote_max_message_size=self.remote_max_message_size)
            self.channels.connect(now=now)
        elif isinstance(event, ApplicationData):
            self.packets.append(("in", now, event.data))
            if self.channels is None:
                self.errors.append("application data before the handshake completed")
                return
            self.channels.handle_packet(event.data, now=now)
        elif isinstance(event, DtlsClosed):
            return
        self._pump(now)

    def handle_timeout(self, *, now: float) -> None:
        if self.channels is not None:
            self.channels.handle_timeout(now=now)
            self._pump(now)

    def poll_timeout(self) -> float | None:
        return None if self.channels is None else self.channels.poll_timeout()

    def poll_transmit(self) -> bytes | None:
        return self._out.pop(0) if self._out else None

    # ----------------------------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        """Drain packets before events (the manual's order); what the events cause is sent
        in the same pass."""
        side = self.channels
        assert side is not None
        while True:
            moved = False
            while (packet := side.poll_transmit()) is not None:
                self.packets.append(("out", now, packet))
                self._out.append(packet)
                moved = True
            while (event := side.poll_event()) is not None:
                self.events.append(event)
                self._on_event(event, now)
                moved = True
            if not moved:
                return

    def _on_event(self, event: DataChannelEvent, now: float) -> None:
        side = self.channels
        assert side is not None
        if isinstance(event, TransportConnected):
            self.ours = side.create_channel(OUR_LABEL, protocol=OUR_PROTOCOL, now=now)
            self.ours.send(GREETING, now=now)
        elif isinstance(event, ChannelMessage):
            if event.channel is self.ours:
                self.replies.append(event.data)
                event.channel.close(now=now)
            else:
                try:
                    event.channel.send(event.data, now=now)
                    self.echoed += 1
                except Exception as exc:  # reported to the test
                    self.errors.append(f"echo of {len(event.data)} on {event.channel}: {exc!r}")

    def shutdown(self, now: float) -> None:
        """RFC 9260 §9.2 graceful shutdown of the association (every channel closes)."""
        assert self.channels is not None
        self.channels.close(now=now)
        self._pump(now)

    # what the test reads ---------------------------------------------------------------------

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def browser_init(self) -> InitChunk | None:
        """The browser's INIT (or, if it never sent one, its INIT ACK)."""
        found: InitChunk | None = None
        for direction, _, data in self.packets:
            if direction != "in":
                continue
            for chunk in _chunks(data):
                if type(chunk) is InitChunk:
                    return chunk
                if isinstance(chunk, InitAckChunk) and found is None:
                    found = chunk
        return found

    def aborts(self) -> list[tuple[str, AbortChunk]]:
        return [(direction, chunk) for direction, _, data in self.packets
                for chunk in _chunks(data) if isinstance(chunk, AbortChunk)]

    def describe(self) -> str:
        lines = [f"events: {self.events[:30]}", f"errors: {self.errors}",
                 f"echoed {self.echoed}, replies {self.replies}"]
        if self.channels is not None:
            lines.append(f"stats: {self.channels.association.stats}, "
                         f"dropped messages {self.channels.dropped_messages}")
        shown = self.packets if len(self.packets) <= 60 else [*self.packets[:40],
                                                               *self.packets[-20:]]
        for direction, at, data in shown:
            names = ",".join(ChunkType(c.TYPE).name if c.TYPE in ChunkType._value2member_map_
                             else str(c.TYPE) for c in _chunks(data))
            lines.append(f"  {direction:3} {at:.3f} {len(data):5} {names}")
        return "\n".join(lines)


def _chunks(data: bytes) -> list[Any]:
    try:
        return list(Packet.parse(data).chunks)
    except SctpParseError:
        return []


@dataclass
class Run:
    result: dict[str, Any]
    peer: IceLitePeer
    echo: Echo
    offer: SessionDescription
    seconds: float

    def describe(self) -> str:
        r = {k: v for k, v in self.result.items() if k not in ("offer", "answer", "stats")}
        dtls = [type(e).__name__ for e in self.peer.events if not isinstance(e, ApplicationData)]
        return (f"page: {r}\nours: {self.echo.describe()}\ndtls events {dtls}, "
                f"loop error {self.peer.error!r}, rejected {self.peer.rejected[:5]}\n"
                f"answer:\n{self.result.get('answer')}")


def _run(session: BrowserSession, *, setup: str) -> Run:
    certificate = Certificate.generate()
    ice = IceParameters.generate(lite=True)
    peers: list[IceLitePeer] = []
    echoes: list[Echo] = []
    offers: list[SessionDescription] = []

    def answerer(data: Any) -> Any:
        offer = SessionDescription.parse(data["offer"])
        offers.append(offer)
        section = next(m for m in offer.media if m.port != 0)
        assert section.media.kind == "application" and section.media.is_sctp, data["offer"]
        assert section.attribute("sctp-port") == "5000", data["offer"]
        prints = offer.fingerprints_for(section)
        config = DtlsConfig(certificate, remote_fingerprints=[(f.algorithm, f.value)
                                                              for f in prints])
        dtls = DtlsConnection(config, "server" if setup == "passive" else "client")
        size = section.attribute("max-message-size")
        echo = Echo(dtls, int(size) if size is not None else DEFAULT_REMOTE_MAX_MESSAGE_SIZE)
        peer = IceLitePeer(ice.ufrag, ice.pwd, dtls, netns=session.server.netns,
                           application=echo, receive_buffer=RECEIVE_BUFFER)
        peers.append(peer)
        echoes.append(echo)
        ufrag, _ = offer.ice_credentials(section)
        peer.remote_ufrag = ufrag or ""
        peer.start()
        candidate = Candidate("1", 1, "udp", 2130706431, "127.0.0.1", peer.port, "host")
        fingerprint = Fingerprint.parse(f"sha-256 {certificate.fingerprint('sha-256')}")
        spec = LocalSpec.default(ice=ice, dtls=DtlsParameters((fingerprint,), setup=setup),
                                 kinds=(), data_channel=True)
        spec = dataclasses.replace(spec, candidates=(candidate,), end_of_candidates=True)
        return {"answer": create_answer(offer, spec).serialize()}

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
    init = run.echo.browser_init()
    connected = run.echo.of(TransportConnected)
    info = connected[0].info if connected else None
    offer_section = next(m for m in run.offer.media if m.port != 0)
    ext = sorted(ChunkType(t).name if t in ChunkType._value2member_map_ else hex(t)
                 for t in (init.supported_extensions if init else ()))
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
    aborts = echo.aborts()
    assert not [chunk for direction, chunk in aborts if direction == "out"], run.describe()
    browser_aborts = [chunk for direction, chunk in aborts if direction == "in"]
    assert len(browser_aborts) <= 1, run.describe()
    if browser_aborts:
        last_in = [data for direction, _, data in echo.packets if direction == "in"][-1]
        assert browser_aborts[0] in _chunks(last_in), run.describe()
        codes = [cause.code for cause in browser_aborts[0].causes]
        assert codes in ([], [CauseCode.USER_INITIATED_ABORT]), run.describe()

    # The association and the browser's in-band channel.
    # What was negotiated follows what the browser's INIT offers (Chromium 156: neither I-DATA
    # nor zero checksum; Firefox 153: I-DATA, no zero checksum; both FORWARD-TSN, RE-CONFIG).
    [connected] = echo.of(TransportConnected)
    init = echo.browser_init()
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
