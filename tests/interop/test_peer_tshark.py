"""tshark (Wireshark 4.0, Debian package ``tshark``) reads a real rtcstack <-> Chromium call.

A short call between rtcstack's ``RTCPeerConnection`` and headless Chromium (the browser call
harness, ``tests/interop/call.py``) -- audio, video and a data channel each way -- is captured
live on ``lo``, filtered to rtcstack's UDP port (:class:`~tests.interop.peer_capture.
LoopbackCapture`, started before the first STUN check and stopped by its PID after rtcstack's
``close()``), once with rtcstack offering (Chromium answers ``a=setup:active``: rtcstack is the
DTLS server) and once with Chromium offering (rtcstack is the DTLS client).  rtcstack's
``keylog=`` writes the NSS key log, so tshark decrypts the DTLS records.  Two passes read the
file:

- the RTP pass: ``-d udp.port==P,rtp``.  tshark's RTP dissector demultiplexes the port itself
  (RFC 7983: STUN, DTLS, and RTCP by its packet type under rtcp-mux), the key log decrypts the
  Finished messages and alerts, and once the handshake negotiated ``use_srtp`` tshark marks the
  port SRTP/SRTCP ("Stream setup by DTLS-SRTP").  (Its RTP and RTCP *heuristics* do not do:
  SRTCP fails the RTCP heuristic's length walk, and then falls to the port's dissector.)
- the SCTP pass: an entry of the DTLS "RSA keys" table registers ``sctp`` inside DTLS on the
  port (as in ``test_sctp_tshark``: tshark 4.0 has no other way), with
  ``udp.try_heuristic_first`` so that STUN is still found first; the key log decrypts the
  association and the DCEP messages.

SRTP payloads stay encrypted: the headers are what is checked.

Chromium also gathers the machine's other address and checks and sends from it until the
nomination reaches it, so a handshake can start on one UDP conversation and end on another;
tshark follows a DTLS session within one conversation only.  The passes therefore read a copy
of the file in which Chromium's other endpoints are renamed to its end of rtcstack's selected
pair (:func:`~tests.interop.peer_capture.merge_endpoints`); the file as captured shows that
rtcstack itself sends only on its selected pair.

Checked on the capture:

- nothing is malformed and no expert info has severity error; the only expert infos at all
  are tshark's "Encrypted RTCP Payload - not dissected" and, under load, "New fragment overlaps
  old data (retransmission?)" on a ClientHello fragment the browser sent again (the test checks
  that it repeats an earlier fragment); every datagram is STUN, DTLS, RTP or RTCP (nothing
  left as undissected data);
- rtcstack sends everything but STUN on its selected pair only;
- STUN Binding requests and success responses both ways, each with USERNAME,
  MESSAGE-INTEGRITY and a FINGERPRINT tshark verifies; rtcstack's requests carry PRIORITY and
  its role (ICE-CONTROLLING when it offered), USE-CANDIDATE when it controls; its responses
  XOR-MAPPED-ADDRESS, with the transaction ID of the request;
- the DTLS 1.2 handshake in full (ClientHello .. both Finished, decrypted), ``use_srtp``
  (extension 14) in the ClientHello and rtcstack's or Chromium's ServerHello with one profile
  the ClientHello offered, every application-data record decrypting to SCTP, and rtcstack's
  close_notify at the end;
- rtcstack's RTP: only its SSRCs (media and RTX), each with its negotiated payload type, the
  MID header extension on every packet with the ID and value of the SDP, sequence numbers
  without a gap or a repeat per SSRC;
- rtcstack's SRTCP: compound packets opening with an SR (or RR) from its SSRCs -- or a REMB
  alone (reduced size, RFC 5506) -- the E flag set and the SRTCP index counting up by one per
  SSRC (RFC 3711 §3.4);
- the data channel inside DTLS: SCTP INIT from both sides, rtcstack's DCEP OPEN with its label
  and Chromium's ACK (and the other way for Chromium's channel), text (PPID 51) and binary
  (PPID 53) messages both ways.

tshark 4.0 reads SRTCP under the AEAD_AES_*_GCM profiles (RFC 7714 §9: E flag and index
*after* the tag) as if the tag followed the index (RFC 3711's layout): its ``srtcp.index`` is
then four bytes of the tag, and when the bit it takes for the E flag is clear it parses the
ciphertext as more RTCP packets and may call them malformed (about one run in three here; the
INTEROP notes say so too).  The test does not count what tshark flags in SRTCP under GCM and
reads the trailer itself from the last four bytes of the datagram.

tshark reads the padding count of an RTP packet with the P bit from the last byte of its
payload, which SRTP encrypts (and GCM's tag ends): Chromium's padding-only probes (RTX, P set)
then come out "Malformed" now and then.  Those frames are not counted when Chromium sent them
(rtcstack sends no padding; were one of its packets flagged, the test would fail).

tshark also cannot read a REMB in SRTCP under any profile: REMB is an application-layer
feedback (PSFB FMT 15) known by the four bytes "REMB" at the start of its FCI, which SRTCP
encrypts, so tshark calls it an unknown feedback type and malformed.  Those frames (PT 206)
are not counted either.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from rtcstack.asyncio.peer import RTCPeerConnection, RTCSessionDescription, RTCTrackEvent
from rtcstack.media import MediaStreamError, ToneTrack, VideoPatternTrack
from tests.interop.call import open_call
from tests.interop.peer_capture import (
    LoopbackCapture,
    merge_endpoints,
    require_tshark,
    tshark_fields,
    tshark_text,
)

pytestmark = pytest.mark.interop

STEP = 10.0  # seconds for any one wait
CALL_LIMIT = 30.0  # seconds for the whole call
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
MESSAGES: list[str | bytes] = ["hello from rtcstack", b"\x00\x01\xfe\xffbinary", "é€😀" * 100,
                               bytes(range(256)) * 20]

# STUN attribute types (RFC 8489 §18.3, RFC 8445 §16.1)
USERNAME, MESSAGE_INTEGRITY, XOR_MAPPED_ADDRESS = 0x0006, 0x0008, 0x0020
PRIORITY, USE_CANDIDATE, FINGERPRINT = 0x0024, 0x0025, 0x8028
ICE_CONTROLLED, ICE_CONTROLLING = 0x8029, 0x802A
# DTLS handshake types (RFC 5246 §7.4, RFC 6347 §4.3.2) and the use_srtp extension (RFC 5764)
CLIENT_HELLO, SERVER_HELLO, CERTIFICATE, SERVER_KEY_EXCHANGE = 1, 2, 11, 12
CERTIFICATE_REQUEST, SERVER_HELLO_DONE, CERTIFICATE_VERIFY = 13, 14, 15
CLIENT_KEY_EXCHANGE, FINISHED, USE_SRTP = 16, 20, 14
CHANGE_CIPHER_SPEC, ALERT, APPLICATION_DATA = 20, 21, 23
# tshark's expert infos that are no fault of the sender
ENCRYPTED_RTCP = "Encrypted RTCP Payload - not dissected"
AFB_UNKNOWN = "Unknown Application Layer Feedback Type"
RETRANSMITTED = "New fragment overlaps old data (retransmission?)"


@dataclass
class CallCapture:
    """What one captured call left: the files and what rtcstack negotiated."""

    offerer: str
    pcap: Path
    keylog: Path
    dummy_key: Path
    port: int  # rtcstack's UDP port: every captured datagram has it at one end
    dtls_role: str
    srtp_cipher: str
    payload_types: dict[int, int] = field(default_factory=dict)  # our SSRC -> payload type
    mids: dict[int, str] = field(default_factory=dict)  # our SSRC -> mid
    mid_ids: dict[str, int] = field(default_factory=dict)  # mid -> MID extension ID
    primary: list[int] = field(default_factory=list)  # our media SSRCs (not RTX)
    labels: tuple[str, str] = ("", "")  # (our channel, Chromium's channel)
    seconds: float = 0.0
    raw: Path = Path()  # the capture as written; ``pcap`` has Chromium's endpoints merged
    remote: tuple[str, int] = ("", 0)  # Chromium's end of rtcstack's selected pair
    renamed: dict[tuple[str, int], int] = field(default_factory=dict)  # merged: datagrams

    def options(self, sctp: bool = False) -> list[str]:
        """tshark's options for one of the two passes (see the module docstring)."""
        keylog = ["-o", f"tls.keylog_file:{self.keylog}"]
        if not sctp:
            return [*keylog, "-d", f"udp.port=={self.port},rtp"]
        rsa_keys = (f'uat:dtlsdecrypttablefile:"127.0.0.1","{self.port}","sctp",'
                    f'"{self.dummy_key}",""')
        return [*keylog, "-o", rsa_keys, "-o", "udp.try_heuristic_first:TRUE"]

    def fields(self, display_filter: str, *names: str, sctp: bool = False) -> list[list[str]]:
        return tshark_fields(self.pcap, self.options(sctp), f"udp.port == {self.port} && "
                             f"({display_filter})", *names)

    def text(self, *args: str, sctp: bool = False) -> str:
        return tshark_text(self.pcap, self.options(sctp), *args)


def strip_candidates(sdp: str) -> str:
    return "".join(line + "\r\n" for line in sdp.split("\r\n") if line and not line.startswith(
        ("a=candidate:", "a=end-of-candidates")))


def candidates_of(sdp: str) -> list[dict[str, Any]]:
    """The candidate lines of ``sdp`` as RTCIceCandidateInit dicts."""
    out: list[dict[str, Any]] = []
    index, mid = -1, None
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            index, mid = index + 1, None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:"):]
        elif line.startswith("a=candidate:"):
            out.append({"candidate": line[2:], "sdpMid": mid, "sdpMLineIndex": index})
    return out


def mid_extension_ids(sdp: str) -> dict[str, int]:
    """mid -> the ``a=extmap`` ID of the MID extension in that section."""
    out: dict[str, int] = {}
    for section in sdp.split("\r\nm=")[1:]:
        lines = section.split("\r\n")
        mid = next((x[len("a=mid:"):] for x in lines if x.startswith("a=mid:")), None)
        for line in lines:
            if line.startswith("a=extmap:") and line.split()[1] == MID_URI and mid is not None:
                out[mid] = int(line[len("a=extmap:"):].split()[0].split("/")[0])
    return out


def write_dummy_key(path: Path) -> None:
    """A throwaway RSA key for the DTLS "RSA keys" table entry (see ``test_sctp_tshark``)."""
    path.write_bytes(rsa.generate_private_key(65537, 1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


async def _record_call(tshark: str, workdir: Path, offerer: str) -> CallCapture:
    keylog = workdir / "keys.txt"
    keylog.write_text("")

    def log_key(line: str) -> None:
        with open(keylog, "a") as out:
            out.write(line + "\n")

    start = time.monotonic()
    frames: Counter[str] = Counter()
    async with open_call("chromium", timeout=STEP) as call:
        pc = RTCPeerConnection(addresses=["127.0.0.1"], loopback=True, keylog=log_key)
        capture: LoopbackCapture | None = None
        tasks: list[asyncio.Task[None]] = []

        def on_track(event: RTCTrackEvent) -> None:
            async def drain() -> None:
                while True:
                    try:
                        await event.track.recv()
                    except MediaStreamError:
                        return
                    frames[event.track.kind] += 1
            tasks.append(asyncio.ensure_future(drain()))

        async def add_browser_candidate(candidate: dict[str, Any] | None) -> None:
            if candidate is None or candidate.get("candidate"):
                await pc.addIceCandidate(candidate)

        pc.on("track", on_track)
        try:
            if offerer == "rtcstack":
                pc.addTrack(ToneTrack())
                pc.addTrack(VideoPatternTrack(width=320, height=240))
                ours = pc.createDataChannel("from-rtcstack")
                await pc.setLocalDescription(await pc.createOffer())
                await pc.wait_gathering_complete(STEP)
                assert pc.localDescription is not None
                local = pc.localDescription.sdp
                capture = await _start_capture(tshark, workdir, local)
                for candidate in candidates_of(local):
                    await call.add_candidate(candidate)
                await call.add_candidate(None)
                answer = await call.browser_answer(strip_candidates(local))
                await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
                tasks.append(call.forward_candidates(add_browser_candidate))
                theirs = "chat-from-chromium"
                await call.browser_create_channel(theirs)
            else:
                offer = await call.browser_offer(audio=True, video=True, data=True)
                await pc.setRemoteDescription(RTCSessionDescription(strip_candidates(offer),
                                                                    "offer"))
                pc.addTrack(ToneTrack())
                pc.addTrack(VideoPatternTrack(width=320, height=240))
                await pc.setLocalDescription(await pc.createAnswer())
                await pc.wait_gathering_complete(STEP)
                assert pc.localDescription is not None
                local = pc.localDescription.sdp
                capture = await _start_capture(tshark, workdir, local)
                await call.set_remote(strip_candidates(local), "answer")
                for candidate in candidates_of(local):
                    await call.add_candidate(candidate)
                await call.add_candidate(None)
                for candidate in candidates_of(offer):
                    await pc.addIceCandidate(candidate)
                tasks.append(call.forward_candidates(add_browser_candidate))
                theirs = "chat"
                await pc.wait_connected(STEP)
                ours = pc.createDataChannel("from-rtcstack")
            await pc.wait_connected(STEP)

            inbox: asyncio.Queue[str | bytes] = asyncio.Queue()
            ours.on("message", inbox.put_nowait)
            await ours.wait_open(STEP)
            for message in MESSAGES:
                ours.send(message)
                assert await asyncio.wait_for(inbox.get(), STEP) == message
            await call.wait_channel(theirs, timeout=STEP)
            await call.browser_send(theirs, "from chromium")
            await call.browser_send(theirs, b"\x00from chromium")
            await call.wait_inbound("video", 30, timeout=STEP)
            await call.wait_inbound("audio", 30, timeout=STEP)
            deadline = time.monotonic() + STEP
            while not (frames["audio"] >= 30 and frames["video"] >= 20
                       and await _rtt_both(pc)):
                assert time.monotonic() < deadline, (dict(frames), "no RTCP round trip")
                await asyncio.sleep(0.2)
            stats = {s["id"]: dict(s) for s in (await pc.getStats()).values()}
            await pc.close()  # RTCP BYE, DTLS close_notify
            await capture.mark(b"rtcstack peer capture: end")
        finally:
            for task in tasks:
                task.cancel()
            await pc.close()
            if capture is not None:
                capture.stop()
    assert capture is not None
    result = CallCapture(offerer, workdir / "merged.pcap", keylog, workdir / "dummy-rsa.pem",
                         capture.ports[0], "", "", labels=("from-rtcstack", theirs),
                         raw=capture.pcap)
    _negotiated(result, stats, local)
    result.renamed = dict(merge_endpoints(result.raw, result.pcap, ("127.0.0.1", result.port),
                                          result.remote))
    write_dummy_key(result.dummy_key)
    result.seconds = time.monotonic() - start
    return result


async def _start_capture(tshark: str, workdir: Path, sdp: str) -> LoopbackCapture:
    ports = sorted({int(c["candidate"].split()[5]) for c in candidates_of(sdp)})
    assert len(ports) == 1, f"rtcstack gathered {ports}: one loopback port expected"
    capture = LoopbackCapture(tshark, ports, workdir)
    capture.start()
    await capture.mark(b"rtcstack peer capture: start")
    return capture


async def _rtt_both(pc: RTCPeerConnection) -> bool:
    kinds = {s["kind"] for s in (await pc.getStats()).values()
             if s["type"] == "remote-inbound-rtp" and s.get("roundTripTime") is not None}
    return kinds >= {"audio", "video"}


def _negotiated(capture: CallCapture, stats: dict[str, dict[str, Any]], sdp: str) -> None:
    (transport,) = [s for s in stats.values() if s["type"] == "transport"]
    capture.dtls_role = transport["dtlsRole"]
    capture.srtp_cipher = transport["srtpCipher"]
    pair = stats[transport["selectedCandidatePairId"]]
    remote = stats[pair["remoteCandidateId"]]
    capture.remote = (remote["address"], remote["port"])
    capture.mid_ids = mid_extension_ids(sdp)
    for report in stats.values():
        if report["type"] != "outbound-rtp":
            continue
        codec = stats[report["codecId"]]
        capture.payload_types[report["ssrc"]] = codec["payloadType"]
        capture.primary.append(report["ssrc"])
        capture.mids[report["ssrc"]] = report["mid"]
        if report.get("rtxSsrc"):
            section = sdp.split(f"a=mid:{report['mid']}\r\n")[1].split("\r\nm=")[0]
            rtx = [line for line in section.split("\r\n")
                   if line.startswith("a=fmtp:") and line.endswith(f"apt={codec['payloadType']}")]
            assert rtx, section
            capture.payload_types[report["rtxSsrc"]] = int(rtx[0][len("a=fmtp:"):].split()[0])
            capture.mids[report["rtxSsrc"]] = report["mid"]


@pytest.fixture(scope="module", params=["rtcstack", "chromium"], ids=["rtcstack-offers",
                                                                       "chromium-offers"])
def capture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[CallCapture]:
    tshark = require_tshark()
    workdir = tmp_path_factory.mktemp("peer-tshark")

    async def bounded() -> CallCapture:
        return await asyncio.wait_for(_record_call(tshark, workdir, request.param), CALL_LIMIT)

    result = asyncio.run(bounded())
    print(f"\n{request.param} offers: call captured in {result.seconds:.1f} s; rtcstack is the "
          f"DTLS {result.dtls_role}, {result.srtp_cipher}; Chromium's other endpoints merged "
          f"into {result.remote}: {result.renamed}")
    yield result


def _split(value: str) -> list[str]:
    return value.split("|") if value else []


def _hex(value: str) -> int:
    return int(value, 16)


# --- the checks -------------------------------------------------------------------------------


@pytest.mark.parametrize("sctp", [False, True], ids=["rtp-pass", "sctp-pass"])
def test_nothing_malformed(capture: CallCapture, sctp: bool) -> None:
    if sctp:  # this pass is for what DTLS carries; the RTP pass judges the rest
        flagged = capture.text("-Y", f"udp.port == {capture.port} && (sctp || rtcdc) && "
                                     "(_ws.malformed || _ws.expert.severity >= error)", sctp=True)
        assert flagged.strip() == "", flagged
        return
    rows = capture.fields("_ws.malformed || _ws.expert.severity >= error", "frame.number",
                          "frame.protocols", "_ws.expert.message", "rtp.padding",
                          "udp.srcport", "dtls.handshake.message_seq",
                          "dtls.handshake.fragment_offset", "dtls.handshake.fragment_length")
    fragments: dict[tuple[str, str, str, str], int] = {}  # first frame of each fragment
    for number, sport, *fragment in capture.fields(
            "dtls.handshake", "frame.number", "udp.srcport", "dtls.handshake.message_seq",
            "dtls.handshake.fragment_offset", "dtls.handshake.fragment_length"):
        for key in zip(*(_split(f) for f in fragment), strict=True):
            fragments.setdefault((sport, *key), int(number))
    tolerated: list[str] = []
    for number, protocols, messages, padding, sport, *fragment in rows:
        layers = protocols.split(":")
        if "rtp" in layers and padding in ("1", "True") and sport != str(capture.port):
            tolerated.append(f"{number}: Chromium's padded SRTP ({messages})")  # the docstring
            continue
        if "rtcp" in layers and "GCM" in capture.srtp_cipher:
            tolerated.append(f"{number}: SRTCP under GCM ({messages})")  # see the docstring
            continue
        if "rtcp" in layers and AFB_UNKNOWN in messages:
            tolerated.append(f"{number}: an encrypted REMB ({messages})")  # see the docstring
            continue
        keys = list(zip(*(_split(f) for f in fragment), strict=True))
        if set(_split(messages)) == {RETRANSMITTED} and keys and all(
                fragments[(sport, *key)] < int(number) for key in keys):
            tolerated.append(f"{number}: a retransmitted DTLS handshake fragment")
            continue
        raise AssertionError(f"frame {number} ({protocols}): {messages}")
    if tolerated:
        print(f"\n{capture.offerer} offers: tshark flagged, not counted: {tolerated}")
    # Every other expert info: tshark's notes on SRTCP and retransmissions only (under GCM
    # its misread SRTCP says anything, so RTCP frames are left out there).
    noise = " && !rtcp && !srtcp" if "GCM" in capture.srtp_cipher else " && !(rtcp.pt == 206)"
    experts = Counter(m for row in capture.fields(f"_ws.expert{noise}", "_ws.expert.message")
                      for m in _split(row[0]))
    assert all(m in (ENCRYPTED_RTCP, RETRANSMITTED)
               or m.startswith("Possible traceroute")  # a UDP port in 33434-33534
               for m in experts), experts
    # Every datagram is one of the four protocols (nothing left as bare data).
    left = capture.fields("!stun && !dtls && !rtp && !rtcp && !srtcp", "frame.number")
    assert left == [], left
    protocols = capture.text("-q", "-z", f"io,phs,udp.port=={capture.port}")
    for name in ("stun", "dtls", "rtp", "srtcp"):
        assert f" {name} " in protocols, protocols


def test_rtcstack_sends_on_its_selected_pair(capture: CallCapture) -> None:
    # From the file as captured: everything but STUN that rtcstack sends goes to Chromium's end
    # of the selected pair -- from the start when rtcstack nominates (RFC 8445 §8.1.1), and
    # once it moved there, for good, when Chromium does.
    rows = tshark_fields(capture.raw, capture.options(), f"udp.srcport == {capture.port} && "
                         "!stun", "ip.dst", "udp.dstport")
    sent = [(address, int(port)) for address, port in rows]
    assert capture.remote in sent, (capture.remote, Counter(sent))
    after = sent[sent.index(capture.remote):] if capture.offerer == "chromium" else sent
    assert set(after) == {capture.remote}, Counter(sent)


def test_stun_checks_both_ways(capture: CallCapture) -> None:
    rows = capture.fields("stun", "udp.srcport", "stun.type", "stun.id", "stun.att.type",
                          "stun.att.crc32.status")
    assert rows
    requests: dict[str, list[list[str]]] = defaultdict(list)  # sender -> rows
    responses: dict[str, list[list[str]]] = defaultdict(list)
    ids: dict[str, set[str]] = defaultdict(set)
    for sport, kind, tid, types, crc in rows:
        sender = "rtcstack" if int(sport) == capture.port else "chromium"
        attributes = {_hex(t) for t in _split(types)}
        assert {MESSAGE_INTEGRITY, FINGERPRINT} <= attributes, (sender, kind, types)
        assert crc == "1", f"{sender}'s FINGERPRINT does not verify: {crc!r}"  # 1: good
        if _hex(kind) == 0x0001:
            assert {USERNAME, PRIORITY} <= attributes, (sender, types)
            requests[sender].append([tid, types])
            ids[sender].add(tid)
        else:
            assert _hex(kind) == 0x0101, f"{sender} sent STUN {kind}: {types}"
            assert XOR_MAPPED_ADDRESS in attributes, (sender, types)
            responses[sender].append([tid, types])
    assert requests["rtcstack"] and requests["chromium"]
    assert responses["rtcstack"] and responses["chromium"]
    # Each response answers a request of the other side.
    assert {tid for tid, _ in responses["rtcstack"]} <= ids["chromium"]
    assert {tid for tid, _ in responses["chromium"]} <= ids["rtcstack"]
    ours = [{_hex(t) for t in _split(types)} for _, types in requests["rtcstack"]]
    role = ICE_CONTROLLING if capture.offerer == "rtcstack" else ICE_CONTROLLED
    assert all(role in a for a in ours), ours
    nominating = any(USE_CANDIDATE in a for a in ours)
    assert nominating is (capture.offerer == "rtcstack")


def test_dtls_handshake(capture: CallCapture) -> None:
    rows = capture.fields("dtls.record", "udp.srcport", "dtls.record.content_type",
                          "dtls.handshake.type", "dtls.handshake.extension.type",
                          "dtls.use_srtp.protection_profile", "dtls.alert_message.desc")
    server = "rtcstack" if capture.dtls_role == "server" else "chromium"
    client = "chromium" if server == "rtcstack" else "rtcstack"
    sent: dict[str, list[int]] = defaultdict(list)  # handshake types in order, per sender
    records: dict[str, list[int]] = defaultdict(list)
    profiles: dict[str, list[str]] = {}
    hello_extensions: dict[str, set[int]] = defaultdict(set)
    alerts: list[tuple[str, list[str]]] = []
    for sport, content, handshakes, extensions, srtp, alert in rows:
        sender = "rtcstack" if int(sport) == capture.port else "chromium"
        records[sender] += [int(c) for c in _split(content)]
        types = [int(t) for t in _split(handshakes)]
        sent[sender] += types
        if CLIENT_HELLO in types or SERVER_HELLO in types:  # (a first fragment has none)
            hello_extensions[sender] |= {int(e) for e in _split(extensions)}
            profiles[sender] = _split(srtp) or profiles.get(sender, [])
        if ALERT in {int(c) for c in _split(content)}:
            alerts.append((sender, _split(alert)))
    # In order; a retransmitted flight (RFC 6347 §4.2.4) would repeat types, hence fromkeys.
    assert sent[client][0] == CLIENT_HELLO, sent
    assert USE_SRTP in hello_extensions[client] and USE_SRTP in hello_extensions[server]
    sent = {side: list(dict.fromkeys(types)) for side, types in sent.items()}
    assert [t for t in sent[server] if t != CLIENT_HELLO] == [
        SERVER_HELLO, CERTIFICATE, SERVER_KEY_EXCHANGE, CERTIFICATE_REQUEST, SERVER_HELLO_DONE,
        FINISHED], sent[server]
    assert [t for t in sent[client] if t != CLIENT_HELLO] == [
        CERTIFICATE, CLIENT_KEY_EXCHANGE, CERTIFICATE_VERIFY, FINISHED], sent[client]
    for side in ("rtcstack", "chromium"):
        assert CHANGE_CIPHER_SPEC in records[side] and APPLICATION_DATA in records[side], side
    # The ServerHello picks one of the ClientHello's profiles (RFC 5764 §4.1.1).
    assert len(profiles[server]) == 1 and profiles[server][0] in profiles[client], profiles
    # Every application data record decrypts to SCTP.
    opaque = capture.fields(f"dtls.record.content_type == {APPLICATION_DATA} && !sctp",
                            "frame.number", sctp=True)
    assert opaque == [], opaque
    # rtcstack's close() ends with close_notify (RFC 5246 §7.2.1).
    assert ("rtcstack", ["0"]) in alerts, alerts


def test_rtp_from_rtcstack(capture: CallCapture) -> None:
    rows = capture.fields(f"rtp.ssrc && udp.srcport == {capture.port}", "rtp.version",
                          "rtp.ssrc", "rtp.p_type", "rtp.seq", "rtp.ext.profile",
                          "rtp.ext.rfc5285.id", "rtp.ext.rfc5285.data")
    assert len(rows) > 100, len(rows)
    last: dict[int, int] = {}
    counts: Counter[int] = Counter()
    for version, ssrc_text, pt, seq, profile, ext_ids, ext_data in rows:
        ssrc = _hex(ssrc_text)
        assert version == "2"
        assert ssrc in capture.payload_types, f"SSRC {ssrc:#x} is not rtcstack's"
        assert int(pt) == capture.payload_types[ssrc], (hex(ssrc), pt)
        assert profile == "0xbede", profile  # one-byte header extensions (RFC 8285 §4.2)
        elements = dict(zip((int(i) for i in _split(ext_ids)), _split(ext_data), strict=True))
        mid = capture.mids[ssrc]
        mid_id = capture.mid_ids[mid]
        assert bytes.fromhex(elements.get(mid_id, "").replace(":", "")) == mid.encode(), (
            hex(ssrc), elements)
        number = int(seq)
        if ssrc in last:
            assert number == (last[ssrc] + 1) & 0xFFFF, (hex(ssrc), last[ssrc], number)
        last[ssrc] = number
        counts[ssrc] += 1
    assert set(capture.primary) <= set(counts), (capture.primary, counts)  # audio and video


def test_srtcp_from_rtcstack(capture: CallCapture) -> None:
    rows = capture.fields(f"(rtcp || srtcp) && udp.srcport == {capture.port}", "rtcp.pt",
                          "rtcp.senderssrc", "srtcp.e", "srtcp.index", "udp.payload")
    assert len(rows) >= 2, rows
    gcm = "GCM" in capture.srtp_cipher
    indexes: dict[str, list[int]] = defaultdict(list)  # RFC 3711 §3.4: per SSRC
    first_types: set[int] = set()
    for pt, sender, e_flag, index, payload in rows:
        types = [int(p) for p in _split(pt)]
        first_types.add(types[0])
        # RFC 3550 §6.1: SR or RR first -- or, with rtcp-rsize (RFC 5506), a feedback packet
        # alone: rtcstack's first REMB goes out with the first media packet it receives
        assert types[0] in (200, 201, 206), types
        assert _hex(_split(sender)[0]) in capture.payload_types, sender
        if gcm:  # RFC 7714 §9: E flag and index are the last four bytes
            raw = bytes.fromhex(payload.replace(":", ""))
            trailer = int.from_bytes(raw[-4:], "big")
            assert trailer >> 31 == 1, payload
            # the first packet's header (in clear) fits before the 16-byte tag and the trailer
            assert (int.from_bytes(raw[2:4], "big") + 1) * 4 <= len(raw) - 16 - 4, payload
            indexes[_split(sender)[0]].append(trailer & 0x7FFFFFFF)
        elif types[0] == 206:  # tshark gave up on the encrypted REMB before the trailer
            raw = bytes.fromhex(payload.replace(":", ""))
            trailer = int.from_bytes(raw[-14:-10], "big")  # E|index, then the 80-bit tag
            assert trailer >> 31 == 1, payload
            indexes[_split(sender)[0]].append(trailer & 0x7FFFFFFF)
        else:
            assert e_flag == "1", (pt, e_flag)
            indexes[_split(sender)[0]].append(int(index))
    assert 200 in first_types, first_types  # rtcstack sends: SRs
    for numbers in indexes.values():
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), indexes
    # and Chromium's reports reach the same port
    theirs = capture.fields(f"(rtcp || srtcp) && udp.dstport == {capture.port}", "rtcp.pt")
    assert theirs, "no RTCP from Chromium"


def test_data_channel_inside_dtls(capture: CallCapture) -> None:
    rows = capture.fields("sctp", "udp.srcport", "sctp.chunk_type", "rtcdc.message_type",
                          "rtcdc.label", "sctp.data_payload_proto_id", sctp=True)
    chunks: dict[str, set[int]] = defaultdict(set)
    opens: dict[str, set[str]] = defaultdict(set)
    acks: Counter[str] = Counter()
    ppids: dict[str, set[int]] = defaultdict(set)
    for sport, types, dcep, label, ppid in rows:
        sender = "rtcstack" if int(sport) == capture.port else "chromium"
        chunks[sender] |= {int(t) for t in _split(types)}
        labels = iter(_split(label))  # one per DATA_CHANNEL_OPEN (3), none for an ACK (2)
        for message in _split(dcep):
            if message == "3":
                opens[sender].add(next(labels))
            elif message == "2":
                acks[sender] += 1
        ppids[sender] |= {int(p) for p in _split(ppid)}
    ours, theirs = capture.labels
    # Both ends send INIT: an initialization collision (RFC 9260 §5.2.1), usual over DTLS
    assert 1 in chunks["rtcstack"] and 1 in chunks["chromium"], chunks  # INIT
    assert 10 in chunks["rtcstack"] | chunks["chromium"], chunks  # COOKIE ECHO
    assert ours in opens["rtcstack"] and acks["chromium"] >= 1, (opens, acks)
    assert theirs in opens["chromium"] and acks["rtcstack"] >= 1, (opens, acks)
    assert {50, 51, 53} <= ppids["rtcstack"], ppids  # DCEP, string, binary
    assert {50, 51, 53} <= ppids["chromium"], ppids
