"""tshark (Wireshark's dissector, Debian package ``tshark``) reads the RTP and RTCP rtcstack
writes without a malformed flag, and dissects the fields we put in.

The capture is a classic pcap file written here by hand (global header, then per packet a
record header and Ethernet/IPv4/UDP headers around our datagram); tshark is told which UDP
port carries RTP and which RTCP with ``-d udp.port==P,rtp``.  Nothing touches the network.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from rtcstack.rtp import (
    AbsSendTime,
    AudioLevel,
    ExtensionMap,
    Mid,
    RtpPacket,
    TransportSequenceNumber,
    rtx_wrap,
)
from rtcstack.rtp import rtcp as R

pytestmark = pytest.mark.interop

RTP_PORT = 40000
RTCP_PORT = 40002


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def _frame(payload: bytes, dport: int, sport: int = 50000) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ether = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
    return ether + ip + udp


def write_pcap(path: Path, datagrams: list[tuple[bytes, int]] | list[tuple[bytes, int, int]]
               ) -> None:
    """Classic libpcap format: magic a1b2c3d4, v2.4, snaplen 65535, linktype 1 (Ethernet).
    Each datagram is ``(payload, destination port)`` or ``(payload, destination port, source
    port)``, all on 127.0.0.1."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, (payload, port, *source) in enumerate(datagrams):
        frame = _frame(payload, port, *source)
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


EXTMAP = ExtensionMap({1: Mid.URI, 2: AbsSendTime.URI, 3: TransportSequenceNumber.URI,
                       4: AudioLevel.URI})


def _rtp_packets() -> list[RtpPacket]:
    packets = []
    for i in range(5):
        ext = EXTMAP.encode([Mid("0"), AbsSendTime(0x12345 + i), TransportSequenceNumber(100 + i),
                             AudioLevel(True, 40)])
        packets.append(RtpPacket(111, 1000 + i, 48000 * i, 0x11223344, bytes(160),
                                 i == 0, extensions=ext))
    packets.append(RtpPacket(96, 7, 90000, 0x55667788, b"\x01" * 1100, True, (1, 2),
                             ((1, b"1"), (20, b"two-byte id"), (3, bytes(20))), padding=4))
    packets.append(rtx_wrap(packets[-1], 97, 1, 0x99AABBCC))
    return packets


def _rtcp_compounds() -> list[bytes]:
    block = R.ReportBlock(0x55667788, 10, 3, 0x10005, 120, 0x12345678, 0x8000)
    return [
        R.serialize_rtcp([
            R.SenderReport(0x11223344, 0xE8A1B2C3_40000000, 96000, 5, 800, (block,)),
            R.Sdes((R.SdesChunk(0x11223344, ((1, b"rtcstack@example"),)),)),
        ]),
        R.serialize_rtcp([
            R.ReceiverReport(0x01020304, (block,)),
            R.Sdes((R.SdesChunk(0x01020304, ((1, b"cname"),)),)),
            R.Nack.from_lost(0x01020304, 0x55667788, [10, 11, 13, 40]),
            R.Pli(0x01020304, 0x55667788),
            R.Fir(0x01020304, (R.FirItem(0x55667788, 3),)),
            R.Remb(0x01020304, 1_500_000 >> 3 << 3, (0x55667788,)),
            R.TransportCc(0x01020304, 0x55667788, 100, 12345, 1,
                          (4, None, 300, -8, *([2] * 20), None, 250)),
            R.Tmmbr(0x01020304, (R.TmmbItem.from_bitrate(0x55667788, 512_000, 40),)),
            R.Xr(0x01020304, (R.Rrtr(0xE8A1B2C3_40000000),
                              R.Dlrr((R.DlrrItem(0x11223344, 0x12345678, 0x100),)))),
            R.Bye((0x01020304,), b"bye"),
        ]),
        R.App(1, 0x01020304, b"TEST", b"data").serialize(),
    ]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed: install the Debian package tshark")
    path = tmp_path_factory.mktemp("pcap") / "rtcstack.pcap"
    datagrams = [(p.serialize(), RTP_PORT) for p in _rtp_packets()]
    datagrams += [(c, RTCP_PORT) for c in _rtcp_compounds()]
    write_pcap(path, datagrams)
    return path


def _tshark(path: Path, *args: str) -> str:
    result = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-d", f"udp.port=={RTP_PORT},rtp",
         "-d", f"udp.port=={RTCP_PORT},rtcp", "-o", "rtp.heuristic_rtp:FALSE", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_nothing_is_malformed(capture: Path) -> None:
    everything = _tshark(capture)
    assert len(everything.splitlines()) == 10, everything
    flagged = _tshark(capture, "-Y", "_ws.malformed || _ws.expert.severity >= error")
    assert flagged.strip() == "", flagged


def test_rtp_fields(capture: Path) -> None:
    out = _tshark(capture, "-Y", "rtp", "-T", "fields", "-E", "separator=,", "-e", "rtp.seq",
                  "-e", "rtp.p_type", "-e", "rtp.ssrc", "-e", "rtp.marker", "-e",
                  "rtp.padding", "-e", "rtp.ext.profile")
    rows = [line.split(",") for line in out.splitlines()]
    assert [r[0] for r in rows] == ["1000", "1001", "1002", "1003", "1004", "7", "1"]
    assert rows[0][1:4] == ["111", "0x11223344", "1"]
    assert rows[5][1:3] == ["96", "0x55667788"]
    assert rows[0][5] == "0xbede" and rows[5][5] == "0x1000"


def test_rtcp_fields(capture: Path) -> None:
    out = _tshark(capture, "-Y", "rtcp", "-T", "fields", "-E", "aggregator=,", "-e",
                  "rtcp.pt", "-e", "rtcp.sdes.text", "-e", "rtcp.rtpfb.nack_pid", "-e",
                  "rtcp.psfb.remb.fci.br_mantissa", "-e", "rtcp.psfb.remb.fci.br_exp", "-e",
                  "rtcp.rtpfb.transportcc.baseseq", "-e", "rtcp.rtpfb.transportcc.statuscount",
                  "-e", "rtcp.rtpfb.transportcc.recv_delta", "-e", "rtcp.rtpfb.tmmbr.fci.mantissa",
                  "-e", "rtcp.psfb.fir.fci.csn", "-e", "rtcp.rtpfb.tmmbr.fci.exp", "-e",
                  "rtcp.rtpfb.tmmbr.fci.measuredoverhead")
    rows = out.splitlines()
    assert rows[0].split("\t")[0] == "200,202"
    assert rows[0].split("\t")[1] == "rtcstack@example"
    second = rows[1].split("\t")
    assert second[0] == "201,202,205,206,206,206,205,205,207,203"
    assert second[2] == "10,11,13,40"  # tshark lists every lost packet the BLPs name
    assert int(second[3]) << int(second[4]) == 1_500_000 >> 3 << 3
    assert second[5:7] == ["100", "26"]
    deltas = [int(d, 16) for d in second[7].split(",")]
    assert [d - 0x10000 if d > 0x7FFF else d for d in deltas] == [4, 300, -8, *[2] * 20, 250]
    assert int(second[8]) << int(second[10]) == 512_000 and second[11] == "40"
    assert second[9] == "3"
    bad = _tshark(capture, "-Y", "rtcp.rtpfb.transportcc_bad")
    assert bad.strip() == ""
