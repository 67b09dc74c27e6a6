"""tshark (Wireshark 4.0, Debian package ``tshark``) dissects rtcstack's data channels.

A live capture on ``lo`` of two rtcstack endpoints (a DTLS client and server on UDP, an
:class:`~rtcstack.asyncio.sctp.SctpTransport` on each) is decrypted with the NSS key log the
client writes (``DtlsConfig(keylog=...)``, as in ``test_dtls_tshark``), and tshark's SCTP and
WebRTC data channel (``rtcdc``) dissectors read it without a malformed frame or an expert error.

The traffic covers the life of an association: INIT / INIT ACK / COOKIE ECHO / COOKIE ACK (both
sides start it, so each chunk is seen twice: an initialization collision, RFC 9260 §5.2.1), a
DCEP OPEN and ACK for each channel type (reliable ordered with a label and a protocol, unordered
with maxRetransmits, ordered with maxPacketLifeTime, unordered reliable opened by the DTLS
server), a negotiated channel (no DCEP), string / binary / empty string / empty binary messages
(PPIDs 51 / 53 / 56 / 57), a 100 KiB message in ~90 fragments that tshark reassembles, SACKs,
a channel closed by a stream reset both ways (RE-CONFIG), and SHUTDOWN / SHUTDOWN ACK / SHUTDOWN
COMPLETE.

Two variants: rtcstack's default, RFC 8260 I-DATA (both ends support it), and interleaving off,
so that the same traffic travels in DATA chunks.  tshark 4.0 dissects I-DATA completely: the
PPID of a first fragment, DCEP inside I-DATA, and reassembly of fragmented I-DATA messages.

How tshark is pointed at SCTP inside DTLS: see :func:`_tshark`.

Checksums: over DTLS rtcstack negotiates RFC 9653 zero checksum (tshark 4.0 shows its INIT
parameter 0x8001 as "Unknown parameter"), so every packet after COOKIE ECHO carries a checksum of
0.  tshark's ``sctp.checksum`` preference is ``None`` (no verification) by default; the test
pins it, and checks separately with CRC-32c verification on that INIT, INIT ACK and COOKIE ECHO
carry a correct CRC32c and that only packets whose checksum is 0 fail it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from rtcstack.asyncio.dtls import DtlsEndpoint, accept_dtls, connect_dtls
from rtcstack.asyncio.sctp import Channel, SctpTransport, SctpTransportError
from rtcstack.dtls import Certificate, DtlsConfig
from rtcstack.sctp.association import SctpConfig
from tests.helpers import run

pytestmark = pytest.mark.interop

BIG = bytes(range(256)) * 400  # 100 KiB: ~90 fragments
NEGOTIATED_ID = 100
PROBE = b"rtcstack sctp capture probe"

# SCTP chunk types (RFC 9260 §3.2, RFC 6525, RFC 8260)
DATA, INIT, INIT_ACK, SACK, SHUTDOWN, SHUTDOWN_ACK = 0, 1, 2, 3, 7, 8
COOKIE_ECHO, COOKIE_ACK, SHUTDOWN_COMPLETE, I_DATA, RE_CONFIG = 10, 11, 14, 64, 130
# Payload protocol identifiers (RFC 8831 §8)
PPID_DCEP, PPID_STRING, PPID_BINARY, PPID_STRING_EMPTY, PPID_BINARY_EMPTY = 50, 51, 53, 56, 57
# DCEP (RFC 8832 §5)
OPEN, ACK = 3, 2
RELIABLE, RELIABLE_UNORDERED = 0x00, 0x80
REXMIT_UNORDERED, TIMED = 0x81, 0x02


@dataclass
class Capture:
    pcap: Path
    keylog: Path
    dummy_key: Path  # see _tshark
    server_port: int  # every captured DTLS datagram has it at one end
    client_port: int
    interleaving: bool
    ids: dict[str, int] = field(default_factory=dict)  # channel label -> stream id


class Sniffer:
    """tshark capturing ``udp port P`` on ``lo``; started before the traffic, stopped by PID.

    "Capturing on" is printed before the kernel filter is attached (the first ClientHello was
    missed that way), so :meth:`mark` sends a probe datagram between two sockets of its own, on a
    port the capture filter also takes, until it is in the file: the capture is live.  Marking
    again after the traffic shows every earlier datagram is in the file."""

    def __init__(self, tshark: str, port: int, workdir: Path) -> None:
        self.probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.probe.bind(("127.0.0.1", 0))
        self.probe.setblocking(False)
        self.probe_port = self.probe.getsockname()[1]
        self.pcap, self.log = workdir / "sctp.pcapng", workdir / "tshark.log"
        capture_filter = f"udp port {port} or udp port {self.probe_port}"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [tshark, "-q", "-i", "lo", "-f", capture_filter, "-w", str(self.pcap)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out)

    async def mark(self, marker: bytes, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not (self.pcap.exists() and marker in self.pcap.read_bytes()):
            assert self.proc.poll() is None, self.log.read_text("utf-8", "replace")
            assert time.monotonic() < deadline, f"{marker!r} never reached the capture"
            if b"Capturing on" in self.log.read_bytes():
                self.probe.sendto(marker, ("127.0.0.1", self.probe_port))
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        self.probe.close()
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM to this PID: tshark closes the file
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


async def _recv(channel: Channel) -> bytes | str:
    return await asyncio.wait_for(channel.recv(), 5)


async def _accept(sctp: SctpTransport, count: int) -> dict[str, Channel]:
    channels = [await asyncio.wait_for(sctp.accept_channel(), 5) for _ in range(count)]
    for channel in channels:
        await channel.wait_open()
    return {channel.label: channel for channel in channels}


async def _session(tshark: str, workdir: Path, interleaving: bool) -> Capture:
    keylog = workdir / "keys.txt"
    keylog.write_text("")

    def log_key(line: str) -> None:
        with open(keylog, "a") as out:
            out.write(line + "\n")

    ccert, scert = Certificate.generate(), Certificate.generate()
    server = await accept_dtls(DtlsConfig(scert, [("sha-256", ccert.fingerprint())]),
                               ("127.0.0.1", 0))
    port = server.local_address[1]
    sniffer = Sniffer(tshark, port, workdir)
    client: DtlsEndpoint | None = None
    try:
        await sniffer.mark(PROBE + b" start")
        client = await connect_dtls(DtlsConfig(ccert, [("sha-256", scert.fingerprint())],
                                               keylog=log_key), ("127.0.0.1", port))
        await asyncio.gather(client.handshake(5), server.handshake(5))
        configs: list[SctpConfig | None] = [None, None]
        if not interleaving:
            configs = [SctpConfig(zero_checksum=True, interleaving=False,
                                  mtu=dtls.connection.max_application_payload)
                       for dtls in (client, server)]
        csctp = SctpTransport(client, config=configs[0])
        ssctp = SctpTransport(server, config=configs[1])
        await asyncio.gather(csctp.start(5), ssctp.start(5))
        assert csctp.association.interleaving is interleaving

        reliable = csctp.create_channel("reliable chat", protocol="chat/v1")
        rexmit = csctp.create_channel("unordered rexmit", ordered=False, max_retransmits=3,
                                      protocol="acks")
        timed = csctp.create_channel("lifetime", max_packet_life_time=1500)
        negotiated = csctp.create_channel("negotiated", negotiated=True, id=NEGOTIATED_ID)
        negotiated_peer = ssctp.create_channel("negotiated", negotiated=True, id=NEGOTIATED_ID)
        backward = ssctp.create_channel("from server", ordered=False)
        remote = await _accept(ssctp, 3)
        from_server = (await _accept(csctp, 1))["from server"]
        for channel in (reliable, rexmit, timed, negotiated, negotiated_peer, backward):
            await channel.wait_open()

        messages: list[bytes | str] = ["hello", b"\x00\xffbinary", "", b"", BIG, "after"]
        for message in messages:
            reliable.send(message)
        rexmit.send("unordered")
        timed.send(b"timed")
        negotiated.send("negotiated")
        negotiated_peer.send(b"negotiated back")
        backward.send("from the server")
        assert [await _recv(remote["reliable chat"]) for _ in messages] == messages
        assert await _recv(remote["unordered rexmit"]) == "unordered"
        assert await _recv(remote["lifetime"]) == b"timed"
        assert await _recv(negotiated_peer) == "negotiated"
        assert await _recv(negotiated) == b"negotiated back"
        assert await _recv(from_server) == "from the server"

        reliable.close()  # the stream is reset both ways (RE-CONFIG)
        with pytest.raises(SctpTransportError):
            await _recv(remote["reliable chat"])
        await csctp.close()  # SHUTDOWN / SHUTDOWN ACK / SHUTDOWN COMPLETE, then close_notify
        await ssctp.close()
        assert csctp.error is None and ssctp.error is None
        await sniffer.mark(PROBE + b" end")  # everything sent before it is in the file
        capture = Capture(sniffer.pcap, keylog, workdir / "dummy-rsa.pem", port,
                          client.local_address[1], interleaving,
                          {c.label: c.id for c in (reliable, rexmit, timed, backward,
                                                   negotiated)})
    finally:
        if client is not None:
            client.close()
        server.close()
        sniffer.stop()
    capture.dummy_key.write_bytes(rsa.generate_private_key(65537, 1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return capture


@pytest.fixture(scope="module", params=[True, False], ids=["i-data", "data"])
def capture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Capture:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed: apt-get install tshark")
    if os.geteuid() != 0:
        pytest.skip("capturing on lo needs root or the wireshark group")
    workdir = tmp_path_factory.mktemp("sctp-tshark")
    result: Capture = run(_session(tshark, workdir, request.param), timeout=20)
    return result


# --- reading the capture back -----------------------------------------------------------------


def _tshark(capture: Capture, *args: str, checksum: str = "None") -> str:
    """tshark on the capture: the server's UDP port is DTLS, decrypted with the key log.

    tshark 4.0 has no command-line way to say "this DTLS carries SCTP": ``-d dtls.port==P,sctp``
    is refused (sctp is not a decode-as choice of ``dtls.port``) and no heuristic finds SCTP in
    DTLS application data.  An entry of the DTLS "RSA keys" table (``dtlsdecrypttablefile``:
    address, port, protocol, key file, password) is what registers ``sctp`` on ``dtls.port`` P;
    its key file must hold an RSA key that loads, so a throwaway one is given.  It decrypts
    nothing (the handshake is ECDHE): the NSS key log does."""
    rsa_keys = (f'uat:dtlsdecrypttablefile:"127.0.0.1","{capture.server_port}","sctp",'
                f'"{capture.dummy_key}",""')
    command = ["tshark", "-n", "-r", str(capture.pcap),
               "-o", f"tls.keylog_file:{capture.keylog}", "-o", rsa_keys,
               "-o", f"sctp.checksum:{checksum}",
               "-d", f"udp.port=={capture.server_port},dtls", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _lines(capture: Capture, display_filter: str, *fields: str, checksum: str = "None"
           ) -> list[list[str]]:
    args = ["-Y", display_filter, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
    for name in fields:
        args += ["-e", name]
    out = _tshark(capture, *args, checksum=checksum)
    return [line.split("\t") for line in out.splitlines()]


@dataclass
class Chunk:
    frame: int
    sender: str  # "client" or "server"
    fields: dict[str, list[str]]  # every field inside the chunk: name -> shown values

    def get(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None

    @property
    def type(self) -> int:
        return int(self.fields["sctp.chunk_type"][0])


@dataclass
class Dcep:
    sender: str
    sid: int
    fields: dict[str, str]


@dataclass
class Dissected:
    chunks: list[Chunk]
    dcep: list[Dcep]
    data_lengths: list[int]  # data.len of every payload tshark handed to "data" (reassembled)


def _collect(element: ET.Element) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for item in element.iter("field"):
        if item.get("name"):
            found[item.get("name", "")].append(item.get("show", ""))
    return found


def _dissect(capture: Capture) -> Dissected:
    """Every SCTP chunk and DCEP message tshark shows, from its PDML output.  Each DCEP message is
    paired with the chunk that carried it: in a frame, the rtcdc protocols come after the SCTP
    chunks that carry them (tshark splits the SCTP tree around each payload it dissects), one per
    PPID 50 chunk, in order."""
    root = ET.fromstring(_tshark(capture, "-Y", "sctp", "-T", "pdml"))
    chunks: list[Chunk] = []
    dcep: list[Dcep] = []
    data_lengths: list[int] = []
    dcep_tsns: set[tuple[str, str]] = set()
    for packet in root.iter("packet"):
        protos = packet.findall("proto")
        names = {p.get("name"): p for p in protos}
        number = int(_collect(names["frame"])["frame.number"][0])
        sport = int(_collect(names["udp"])["udp.srcport"][0])
        sender = "client" if sport == capture.client_port else "server"
        carriers: list[Chunk] = []
        for proto in protos:
            if proto.get("name") == "sctp":
                for item in proto.findall("field"):
                    if item.find("field[@name='sctp.chunk_type']") is None:
                        continue
                    chunk = Chunk(number, sender, _collect(item))
                    chunks.append(chunk)
                    if chunk.get("sctp.data_payload_proto_id") == str(PPID_DCEP):
                        carriers.append(chunk)
            elif proto.get("name") == "rtcdc":
                assert carriers, f"frame {number}: DCEP without a PPID 50 chunk"
                carrier = carriers.pop(0)
                tsn = carrier.get("sctp.data_tsn_raw") or ""
                if (sender, tsn) in dcep_tsns:
                    continue  # a retransmission
                dcep_tsns.add((sender, tsn))
                values = {k: v[0] for k, v in _collect(proto).items()}
                dcep.append(Dcep(sender, int(carrier.get("sctp.data_sid") or "", 16), values))
        # Payloads handed to the "data" dissector (PDML wraps them in a "fake-field-wrapper").
        data_lengths += [int(v) for v in _collect(packet).get("data.len", [])]
    return Dissected(chunks, dcep, data_lengths)


@pytest.fixture(scope="module")
def dissected(capture: Capture) -> Dissected:
    return _dissect(capture)


# --- the checks -------------------------------------------------------------------------------


def test_nothing_malformed(capture: Capture) -> None:
    flagged = _tshark(capture, "-Y", "_ws.malformed || _ws.expert.severity >= error")
    assert flagged.strip() == "", flagged
    bad = ("sctp.chunk_length.bad || sctp.checksum_bad.expert || rtcdc.message_type.unknown"
           " || rtcdc.channel_type.unknown || rtcdc.reliability_parameter.non_zero"
           " || rtcdc.inconsistent_label_and_parameter_length || rtcdc.message_too_long")
    flagged = _tshark(capture, "-Y", bad)
    assert flagged.strip() == "", flagged


def test_every_record_decrypts_to_sctp(capture: Capture) -> None:
    # Application data records (content type 23) that tshark did not turn into SCTP.
    opaque = _lines(capture, "dtls.record.content_type == 23 && !sctp", "frame.number")
    assert opaque == [], opaque
    assert len(_lines(capture, "sctp", "frame.number")) > 100


def test_chunk_types(capture: Capture, dissected: Dissected) -> None:
    types = {chunk.type for chunk in dissected.chunks}
    user_data = I_DATA if capture.interleaving else DATA
    other = DATA if capture.interleaving else I_DATA
    assert {INIT, INIT_ACK, COOKIE_ECHO, COOKIE_ACK, user_data, SACK, RE_CONFIG, SHUTDOWN,
            SHUTDOWN_ACK, SHUTDOWN_COMPLETE} <= types, types
    assert other not in types
    # Both ends start the association (an initialization collision): each handshake chunk once
    # from each side, then the graceful shutdown in its order, the client starting it.
    for kind in (INIT, INIT_ACK, COOKIE_ECHO, COOKIE_ACK):
        assert sorted(c.sender for c in dissected.chunks if c.type == kind) == ["client",
                                                                                 "server"]
    ending = [(c.type, c.sender) for c in dissected.chunks
              if c.type in (SHUTDOWN, SHUTDOWN_ACK, SHUTDOWN_COMPLETE)]
    assert list(dict.fromkeys(ending)) == [(SHUTDOWN, "client"), (SHUTDOWN_ACK, "server"),
                                           (SHUTDOWN_COMPLETE, "client")], ending
    assert ending[-1] == (SHUTDOWN_COMPLETE, "client")
    init = next(c for c in dissected.chunks if c.type == INIT)
    supported = set(init.fields["sctp.supported_chunk_type"])
    assert {str(RE_CONFIG), "192"} <= supported  # RE-CONFIG, FORWARD-TSN
    assert (str(I_DATA) in supported) is capture.interleaving


def test_stream_reset(capture: Capture, dissected: Dissected) -> None:
    # RFC 8831 §6.7: closing resets the stream both ways; each side's outgoing SSN reset
    # request names the channel's stream and is answered "Performed" (1).
    sid = str(capture.ids["reliable chat"])
    reconfig = [c for c in dissected.chunks if c.type == RE_CONFIG]
    for side in ("client", "server"):
        sent = [c for c in reconfig if c.sender == side]
        assert any("0x000d" in c.fields["sctp.parameter_type"]
                   and c.fields["sctp.parameter_reconfig_sid"] == [sid] for c in sent), sent
        assert any("0x0010" in c.fields["sctp.parameter_type"] for c in sent), sent
    results = {r for c in reconfig for r in c.fields.get("sctp.parameter_reconfig_response_result",
                                                         [])}
    assert results == {"1"}, results


def test_dcep_open_and_ack(capture: Capture, dissected: Dissected) -> None:
    ids = capture.ids
    opens = sorted((d.sender, d.sid, int(d.fields["rtcdc.channel_type"]),
                    int(d.fields["rtcdc.reliability_parameter"]), int(d.fields["rtcdc.priority"]),
                    d.fields["rtcdc.label"], d.fields.get("rtcdc.protocol", ""))
                   for d in dissected.dcep if d.fields["rtcdc.message_type"] == str(OPEN))
    assert opens == sorted([
        ("client", ids["reliable chat"], RELIABLE, 0, 256, "reliable chat", "chat/v1"),
        ("client", ids["unordered rexmit"], REXMIT_UNORDERED, 3, 256, "unordered rexmit", "acks"),
        ("client", ids["lifetime"], TIMED, 1500, 256, "lifetime", ""),
        ("server", ids["from server"], RELIABLE_UNORDERED, 0, 256, "from server", ""),
    ])
    for d in dissected.dcep:
        if d.fields["rtcdc.message_type"] == str(OPEN):
            label, protocol = d.fields["rtcdc.label"], d.fields.get("rtcdc.protocol", "")
            assert int(d.fields["rtcdc.label_length"]) == len(label.encode())
            assert int(d.fields["rtcdc.protocol_length"]) == len(protocol.encode())
    acks = sorted((d.sender, d.sid) for d in dissected.dcep
                  if d.fields["rtcdc.message_type"] == str(ACK))
    assert acks == sorted([("server", ids["reliable chat"]), ("server", ids["unordered rexmit"]),
                           ("server", ids["lifetime"]), ("client", ids["from server"])])
    assert NEGOTIATED_ID not in {d.sid for d in dissected.dcep}


def test_user_message_ppids(capture: Capture, dissected: Dissected) -> None:
    # The PPID of each message (its first fragment), per sender and stream, first transmissions
    # only (a retransmission repeats a TSN).  There is one in every run: the last packet of the
    # transfer goes unacknowledged until the receiver's delayed SACK (0.2 s) and the sender's
    # T3-rtx timer (RTO.min, 0.2 s) fires at the same moment, so it is resent just as the SACK
    # arrives (tshark: "Retransmitted TSN", a note; the SACK then reports duplicate TSNs).
    seen: set[tuple[str, str]] = set()
    ppids: dict[tuple[str, int], list[int]] = defaultdict(list)
    for chunk in dissected.chunks:
        if chunk.type not in (DATA, I_DATA):
            continue
        tsn = (chunk.sender, chunk.get("sctp.data_tsn_raw") or "")
        if tsn in seen:
            continue
        seen.add(tsn)
        if chunk.get("sctp.data_b_bit") == "1":
            sid = int(chunk.get("sctp.data_sid") or "", 16)
            ppids[chunk.sender, sid].append(int(chunk.get("sctp.data_payload_proto_id") or ""))
            if chunk.get("sctp.data_payload_proto_id") in (str(PPID_STRING_EMPTY),
                                                            str(PPID_BINARY_EMPTY)):
                # RFC 8831 §6.6: an empty message is sent as one zero byte.
                header = 20 if chunk.type == I_DATA else 16
                assert chunk.get("sctp.chunk_length") == str(header + 1)
    ids = capture.ids
    assert dict(ppids) == {
        ("client", ids["reliable chat"]): [PPID_DCEP, PPID_STRING, PPID_BINARY, PPID_STRING_EMPTY,
                                           PPID_BINARY_EMPTY, PPID_BINARY, PPID_STRING],
        ("client", ids["unordered rexmit"]): [PPID_DCEP, PPID_STRING],
        ("client", ids["lifetime"]): [PPID_DCEP, PPID_BINARY],
        ("client", NEGOTIATED_ID): [PPID_STRING],
        ("client", ids["from server"]): [PPID_DCEP],
        ("server", ids["reliable chat"]): [PPID_DCEP],
        ("server", ids["unordered rexmit"]): [PPID_DCEP],
        ("server", ids["lifetime"]): [PPID_DCEP],
        ("server", NEGOTIATED_ID): [PPID_BINARY],
        ("server", ids["from server"]): [PPID_DCEP, PPID_STRING],
    }
    # tshark reassembles the fragmented 100 KiB message (DATA and I-DATA alike).
    assert len(BIG) in dissected.data_lengths, dissected.data_lengths


def test_zero_checksum(capture: Capture) -> None:
    rows = _lines(capture, "sctp", "sctp.checksum", "sctp.checksum.status", "sctp.chunk_type",
                  checksum="CRC-32c")
    first_types = set()
    for checksum, status, types in rows:
        if int(checksum, 16) == 0:
            assert status == "0"  # "Bad" only when verification is forced on
        else:
            assert status == "1", (checksum, types)  # a nonzero checksum is a correct CRC32c
            first_types.add(int(types.split("|")[0]))
    assert {INIT, INIT_ACK} <= first_types
    zero = [r for r in rows if int(r[0], 16) == 0]
    assert len(zero) > len(rows) // 2  # the data and everything after it
