"""tshark (Debian package ``tshark``) decrypts a DTLS capture with the NSS key log rtcstack
writes (``DtlsConfig(keylog=...)``): the handshake dissects without a malformed flag, the
Finished messages and the application data decrypt, and the data is what was sent.

The capture is written by hand as a pcap (``test_rtp_tshark.write_pcap``) from the datagrams
two sans-IO endpoints exchange on a virtual link: nothing touches the network.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from rtcstack.dtls import Certificate, DtlsConfig, DtlsConnection
from tests.dtls_harness import Link, run
from tests.interop.test_rtp_tshark import write_pcap

pytestmark = pytest.mark.interop

CLIENT_PORT, SERVER_PORT = 50000, 4444


def test_tshark_decrypts_with_our_key_log(tmp_path: Path) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark not found: install the Debian package tshark")
    lines: list[str] = []
    ccert, scert = Certificate.generate(), Certificate.generate()
    client = DtlsConnection(DtlsConfig(ccert, [("sha-256", scert.fingerprint())],
                                       keylog=lines.append), "client")
    server = DtlsConnection(DtlsConfig(scert, [("sha-256", ccert.fingerprint())]), "server")
    captured: list[tuple[bytes, int, int]] = []

    def record(sender: str, data: bytes) -> bytes:
        ports = (SERVER_PORT, CLIENT_PORT) if sender == "client" else (CLIENT_PORT, SERVER_PORT)
        captured.append((data, *ports))
        return data

    link = Link(tamper=record)
    out = run(client, server, link)
    assert out.completed("client") and out.completed("server")
    client.send(b"hello from rtcstack")
    server.send(b"and back")
    run(client, server, link, start=False, stop=lambda o: bool(o.data("server") and
                                                               o.data("client")))
    pcap, keylog = tmp_path / "dtls.pcap", tmp_path / "keys.txt"
    write_pcap(pcap, captured)
    keylog.write_text("\n".join(lines) + "\n")
    common = [tshark, "-r", str(pcap), "-o", f"tls.keylog_file:{keylog}",
              "-d", f"udp.port=={SERVER_PORT},dtls"]
    malformed = subprocess.run([*common, "-Y", "_ws.malformed || _ws.expert.severity >= error"],
                               capture_output=True, text=True, timeout=60, check=True)
    assert malformed.stdout.strip() == "", malformed.stdout
    fields = subprocess.run(
        [*common, "-T", "fields", "-e", "dtls.handshake.type", "-e", "dtls.app_data",
         "-e", "data.data"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    decrypted = subprocess.run([*common, "-x"], capture_output=True, text=True, timeout=60,
                               check=True).stdout
    # Both Finished (type 20) decrypt; the application data decrypts to what was sent.
    handshake_types = {t for line in fields.splitlines() for t in line.split("\t")[0].split(",")}
    assert {"1", "2", "11", "12", "13", "14", "15", "16", "20"} <= handshake_types, fields
    assert "Decrypted DTLS" in decrypted, decrypted[-2000:]
    joined = "".join(line[6:54].replace(" ", "") for line in decrypted.splitlines()
                     if len(line) > 6 and line[:4].strip().isalnum())
    assert b"hello from rtcstack".hex() in joined and b"and back".hex() in joined
