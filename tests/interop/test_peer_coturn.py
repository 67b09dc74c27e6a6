"""Two rtcstack RTCPeerConnections relayed through a real coturn (RFC 8656), relay only.

coturn (Debian ``coturn``) runs on 127.0.0.1 with a self-signed certificate for TLS
(``tests/interop/coturn.py``).  Both peers have ``iceTransportPolicy="relay"`` and one TURN
server each -- ``turn:`` over UDP, ``turn:?transport=tcp`` over TCP, ``turns:`` over TLS
(W3C RTCConfiguration, RFC 7065 URIs): they gather and signal relay candidates only, the selected
pair is relay <-> relay, audio, video and a data channel flow both ways through the relay, and
close() deallocates (coturn logs each Refresh with lifetime 0, RFC 8656 §7.2/§8).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest

from rtcstack.asyncio.peer import (
    RTCCertificate,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
)
from rtcstack.media import ToneTrack, VideoPatternTrack
from tests.helpers import insecure_tls_client, run
from tests.interop.coturn import Coturn, CoturnConfig, require_turnserver, running_coturn
from tests.test_asyncio_peer import (
    Recorder,
    connect,
    frame_numbers,
    next_frame,
    trickle,
    udp_socket_inodes,
    wait_for,
)

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def coturn() -> Iterator[Coturn]:
    require_turnserver()
    # --verbose: coturn logs each request it processed (the deallocations are read from it)
    with running_coturn(CoturnConfig(tls=True, extra_args=["--verbose"])) as server:
        yield server


def _url(coturn: Coturn, transport: str) -> str:
    if transport == "tls":
        host, port = coturn.tls_address
        return f"turns:{host}:{port}?transport=tcp"
    host, port = coturn.address
    return f"turn:{host}:{port}" + ("?transport=tcp" if transport == "tcp" else "")


def _relay_pc(coturn: Coturn, transport: str) -> RTCPeerConnection:
    server = RTCIceServer(_url(coturn, transport), coturn.config.user, coturn.config.password)
    return RTCPeerConnection(RTCConfiguration(iceServers=[server], iceTransportPolicy="relay"),
                             addresses=["127.0.0.1"], loopback=True,
                             turn_ssl=insecure_tls_client())  # coturn's is self-signed


def deallocations(coturn: Coturn) -> int:
    """How many Refresh requests with lifetime 0 coturn --verbose has logged."""
    return sum(1 for line in coturn.log().splitlines()
               if ": refreshed, realm=<" in line and (line + ",").count(", lifetime=0,") == 1)


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_relay_only_call_through_coturn(coturn: Coturn, transport: str) -> None:
    async def main() -> None:
        a, b = _relay_pc(coturn, transport), _relay_pc(coturn, transport)
        ra, rb = Recorder(a), Recorder(b)
        for pc in (a, b):
            pc.addTrack(ToneTrack())
        a.addTrack(VideoPatternTrack(width=160, height=120, fps=15))
        channel = a.createDataChannel("relayed")
        trickle(a, b)  # relay candidates come after setLocalDescription returns
        before = deallocations(coturn)
        try:
            await connect(a, b, timeout=20)
            for pc, r in ((a, ra), (b, rb)):
                assert pc.localDescription is not None
                lines = re.findall(r"^a=candidate:.*$", pc.localDescription.sdp, re.M)
                assert lines and all(" typ relay " in line for line in lines), lines
                trickled = [c for c in r.candidates if c is not None]
                assert trickled and all(" typ relay " in c.candidate for c in trickled)
            # the selected pair is relay <-> relay on both sides, through coturn's relay ports
            for pc in (a, b):
                report = await pc.getStats()
                transport_stats = next(s for s in report.values() if s.type == "transport")
                pair = report[transport_stats.selectedCandidatePairId]
                local = report[pair.localCandidateId]
                remote = report[pair.remoteCandidateId]
                assert (local.candidateType, remote.candidateType) == ("relay", "relay")
                cfg = coturn.config
                assert cfg.min_port <= local.port <= cfg.max_port
                assert cfg.min_port <= remote.port <= cfg.max_port
            # data both ways
            await channel.wait_open(15)
            await wait_for(lambda: bool(rb.channels), 10, "datachannel")
            got_b: list[Any] = []
            got_a: list[Any] = []
            rb.channels[0].on("message", got_b.append)
            channel.on("message", got_a.append)
            payload = bytes(range(256)) * 200  # fragmented by SCTP, relayed in pieces
            channel.send(payload)
            rb.channels[0].send("back through the relay")
            await wait_for(lambda: bool(got_a and got_b), 15, "relayed messages")
            assert got_b == [payload] and got_a == ["back through the relay"]
            # media both ways
            video = next(e.track for e in rb.tracks if e.track.kind == "video")
            assert None not in await frame_numbers(video, 3, 15)
            await next_frame(next(e.track for e in rb.tracks if e.track.kind == "audio"), 15)
            await next_frame(next(e.track for e in ra.tracks if e.track.kind == "audio"), 15)
            report = await a.getStats()
            sent = sum(s.packetsSent for s in report.values() if s.type == "outbound-rtp")
            assert sent > 0
        finally:
            sockets = udp_socket_inodes()
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.gather(a.close(), b.close())
            assert loop.time() - started < 3  # TURN deallocations get at most a second
        # RFC 8656 §7.2: close() sent Refresh LIFETIME=0 for both allocations
        await wait_for(lambda: deallocations(coturn) >= before + 2, 5, "coturn's log")
        assert deallocations(coturn) == before + 2
        assert not udp_socket_inodes() - sockets
    run(main(), 60)


def test_several_ice_servers_and_a_given_certificate(coturn: Coturn) -> None:
    """W3C RTCConfiguration with several iceServers (a ``stun:`` URL and two ``turn:`` URLs in
    one entry) and ``certificates``: every kind of candidate is gathered -- host, relayed over
    UDP and over TCP -- the given certificate's fingerprint is the one in the SDP, and the peer
    sees that certificate in its stats."""
    async def main() -> None:
        host, port = coturn.address
        certificate = RTCCertificate.generate()
        servers = [RTCIceServer(f"stun:{host}:{port}"),
                   RTCIceServer([f"turn:{host}:{port}", f"turn:{host}:{port}?transport=tcp"],
                                coturn.config.user, coturn.config.password)]
        a = RTCPeerConnection(RTCConfiguration(iceServers=servers, certificates=[certificate]),
                              addresses=["127.0.0.1"], loopback=True)
        b = RTCPeerConnection(addresses=["127.0.0.1"], loopback=True)
        ra = Recorder(a)
        a.createDataChannel("x")
        trickle(a, b)
        try:
            await connect(a, b, timeout=20)
            await wait_for(lambda: a.iceGatheringState == "complete", 10,
                           f"gathering ({ra.candidates})")
            lines = [c.candidate for c in ra.candidates if c is not None]
            relay_ports = {int(line.split()[5]) for line in lines if " typ relay " in line}
            assert any(line.endswith(" typ host") for line in lines), lines
            # one relayed candidate per TURN transport (coturn allocates a port for each)
            assert len(relay_ports) == 2, lines
            fingerprint = certificate.getFingerprints()[0]["value"]
            assert a.localDescription is not None
            assert f"a=fingerprint:sha-256 {fingerprint}" in a.localDescription.sdp
            report = await b.getStats()
            transport = next(s for s in report.values() if s.type == "transport")
            remote = report[transport.remoteCertificateId]
            assert remote.fingerprint == fingerprint
        finally:
            await a.close()
            await b.close()

    run(main(), timeout=40)
