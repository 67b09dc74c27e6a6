"""Capture DTLS 1.2 handshake datagrams from real programs as ``dtls-handshake`` vectors:
``rfc-vectors/captures/openssl-<ver>/dtls-*.json`` and ``gnutls-<ver>/dtls-*.json``.

    .venv/bin/python rfc-vectors/capture_dtls_hello.py [--out DIR]

- ``openssl s_client -dtls1_2`` and ``gnutls-cli --udp`` connect to a UDP socket this script
  holds on 127.0.0.1; the datagrams that carry their first ClientHello are kept
  (``dtls-client-hello.json``).
- ``openssl s_server -dtls1_2 -listen`` (which demands a cookie, RFC 6347 §4.2.1) is sent
  OpenSSL's captured ClientHello: its HelloVerifyRequest is kept
  (``dtls-hello-verify-request.json``); the ClientHello is then sent again with the cookie
  (message_seq 1, built with rtcstack's serializer) and the server's flight up to
  ServerHelloDone is kept (``dtls-server-flight.json``).

``expected`` is rtcstack's own reading of the bytes (``rtcstack.dtls.vectors``): the files pin
the bytes the programs send and our reading of them; the checker also rebuilds every message from
the fields and compares the bytes.  Randoms, keys and cookies differ on every run.  Nothing is
sent anywhere but 127.0.0.1; every program is stopped by its PID.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rtcstack.dtls import messages as M  # noqa: E402
from rtcstack.dtls.constants import HandshakeType  # noqa: E402
from rtcstack.dtls.vectors import (  # noqa: E402
    describe_message,
    describe_records,
    split_records,
)

SRTP_OPENSSL = "SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM"


def _rows(data: bytes) -> list[str]:
    return [" ".join(f"{b:02x}" for b in data[i : i + 16]) for i in range(0, len(data), 16)]


def _version(cmd: list[str]) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].strip()


class Collector:
    """Reassembles the handshake messages in received datagrams."""

    def __init__(self, next_seq: int = 0) -> None:
        self.next_seq = next_seq
        self.datagrams: list[bytes] = []
        self.reassembler = M.HandshakeReassembler(next_seq, max_messages_ahead=64)
        self.messages: list[tuple[int, int, bytes]] = []

    def feed(self, datagram: bytes) -> None:
        self.datagrams.append(datagram)
        for header, payload in split_records(datagram):
            if header["epoch"] == 0 and header["content_type"] == 22:
                for f in M.parse_handshake_fragments(payload):
                    self.reassembler.add(f)
        while (message := self.reassembler.pop()) is not None:
            self.messages.append(message)

    def has(self, msg_type: int) -> bool:
        return any(t == msg_type for t, _, _ in self.messages)


def _receive_until(sock: socket.socket, collector: Collector, msg_type: int,
                   deadline: float) -> tuple[str, int]:
    addr: tuple[str, int] = ("", 0)
    while not collector.has(msg_type):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        if time.monotonic() > deadline:
            raise TimeoutError(f"no handshake message {msg_type} before the deadline")
        data, addr = sock.recvfrom(65536)
        collector.feed(data)
    return addr


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _client_hello(command: list[str], port_index: int) -> tuple[Collector, list[str]]:
    """Run a DTLS client against our socket; the datagrams of its first ClientHello."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    cmd = [c.replace("{port}", str(port)) for c in command]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    collector = Collector()
    try:
        _receive_until(sock, collector, HandshakeType.CLIENT_HELLO, time.monotonic() + 10)
    finally:
        _stop(proc)
        sock.close()
    return collector, cmd


def _vector(title: str, section: str, source: str, inputs: dict[str, Any],
            collector: Collector, upto: int, notes: str) -> dict[str, Any]:
    keep: list[bytes] = []
    check = Collector(collector.next_seq)
    for d in collector.datagrams:
        keep.append(d)
        check.feed(d)
        if check.has(upto):
            break
    messages = [
        {
            "msg_type": HandshakeType(t).name,
            "message_seq": seq,
            "length": len(body),
            "fields": describe_message(M.parse_handshake_body(t, body)),
        }
        for t, seq, body in check.messages
    ]
    return {
        "schema": "rtcstack-vector/1",
        "rfc": 6347,
        "section": section,
        "title": title,
        "layer": "dtls",
        "kind": "dtls-handshake",
        "source": source,
        "hex": [],
        "inputs": {**inputs, "first_message_seq": collector.next_seq},
        "cases": [
            {"name": f"datagram-{i + 1}", "hex": _rows(d), "records": describe_records(d)}
            for i, d in enumerate(keep)
        ],
        "expected": {"messages": messages},
        "notes": notes,
    }


def _write(directory: Path, name: str, doc: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def _free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def _server_flight(hello_datagram: bytes, workdir: Path) -> tuple[Collector, Collector, list[str]]:
    """Send OpenSSL s_server -listen a ClientHello; then again with its cookie."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-subj", "/CN=rtcstack-capture", "-days", "30",
         "-keyout", str(workdir / "k.pem"), "-out", str(workdir / "c.pem")],
        check=True, capture_output=True,
    )
    port = _free_port()
    cmd = ["openssl", "s_server", "-dtls1_2", "-listen", "-accept", f"127.0.0.1:{port}",
           "-cert", str(workdir / "c.pem"), "-key", str(workdir / "k.pem"), "-verify", "1",
           "-use_srtp", SRTP_OPENSSL, "-naccept", "1"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    hvr = Collector()
    flight = Collector(1)  # RFC 6347 §4.2.2: the ServerHello after a HelloVerifyRequest
    try:
        deadline = time.monotonic() + 10
        while not hvr.has(HandshakeType.HELLO_VERIFY_REQUEST):  # until s_server listens
            if time.monotonic() > deadline:
                raise TimeoutError("s_server sent no HelloVerifyRequest")
            sock.sendto(hello_datagram, ("127.0.0.1", port))
            sock.settimeout(0.2)
            try:
                hvr.feed(sock.recvfrom(65536)[0])
            except TimeoutError:
                continue
        (_, _, hvr_body), = [m for m in hvr.messages if m[0] == 3]
        cookie = M.HelloVerifyRequest.parse(hvr_body).cookie
        records = split_records(hello_datagram)
        payload = b"".join(r[1] for r in records)
        (hello_fragment,) = M.parse_handshake_fragments(payload)
        hello = M.ClientHello.parse(hello_fragment.body)
        again = dataclasses.replace(hello, cookie=cookie).serialize()
        fragment = M.handshake_message_bytes(1, 1, again)
        header = bytes.fromhex("16fefd0000") + (1).to_bytes(6, "big") + len(fragment).to_bytes(2)
        sock.sendto(header + fragment, ("127.0.0.1", port))
        _receive_until(sock, flight, HandshakeType.SERVER_HELLO_DONE, time.monotonic() + 10)
    finally:
        _stop(proc)
        sock.close()
    return hvr, flight, cmd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "rfc-vectors" / "captures")
    args = parser.parse_args()
    today = datetime.date.today().isoformat()
    status = 0

    if shutil.which("openssl"):
        version = _version(["openssl", "version"])
        short = version.split()[1]
        folder = args.out / f"openssl-{short}"
        command = ["openssl", "s_client", "-dtls1_2", "-connect", "127.0.0.1:{port}",
                   "-use_srtp", SRTP_OPENSSL]
        hello, cmd = _client_hello(command, 0)
        source = f"{version}, `{' '.join(cmd)}`, captured {today} by capture_dtls_hello.py"
        inputs = {"program": "openssl s_client", "version": version, "command": " ".join(cmd),
                  "date": today}
        _write(folder, "dtls-client-hello.json", _vector(
            "ClientHello from OpenSSL s_client -dtls1_2", "4.2.2", source, inputs, hello,
            HandshakeType.CLIENT_HELLO,
            "First ClientHello (empty cookie, message_seq 0) as OpenSSL sends it."))
        first = hello.datagrams[0]
        with tempfile.TemporaryDirectory() as tmp:
            hvr, flight, scmd = _server_flight(first, Path(tmp))
        inputs = {"program": "openssl s_server", "version": version, "command": " ".join(scmd),
                  "date": today, "sent": "the ClientHello of dtls-client-hello.json, then the "
                  "same with the cookie and message_seq 1 (record sequence 1)"}
        source = f"{version}, `{' '.join(scmd)}`, captured {today} by capture_dtls_hello.py"
        _write(folder, "dtls-hello-verify-request.json", _vector(
            "HelloVerifyRequest from OpenSSL s_server -listen", "4.2.1", source, inputs, hvr,
            HandshakeType.HELLO_VERIFY_REQUEST,
            "RFC 6347 §4.2.1 stateless cookie exchange; the cookie differs on every run."))
        _write(folder, "dtls-server-flight.json", _vector(
            "Server flight (ServerHello .. ServerHelloDone) from OpenSSL s_server", "4.2.4",
            source, inputs, flight, HandshakeType.SERVER_HELLO_DONE,
            "Flight 4 of RFC 6347 §4.2.4 for a ClientHello with a valid cookie: ServerHello, "
            "Certificate (a fresh self-signed P-256 certificate), ServerKeyExchange, "
            "CertificateRequest (-verify 1), ServerHelloDone."))
    else:
        print("openssl not found: install the Debian package openssl", file=sys.stderr)
        status = 1

    if shutil.which("gnutls-cli"):
        version = _version(["gnutls-cli", "--version"])
        short = version.split()[-1]
        command = ["gnutls-cli", "--udp", "--port", "{port}", "--insecure",
                   "--priority", "NORMAL:-VERS-ALL:+VERS-DTLS1.2",
                   "--srtp-profiles", "SRTP_AES128_CM_HMAC_SHA1_80", "127.0.0.1"]
        hello, cmd = _client_hello(command, 0)
        source = f"{version}, `{' '.join(cmd)}`, captured {today} by capture_dtls_hello.py"
        inputs = {"program": "gnutls-cli", "version": version, "command": " ".join(cmd),
                  "date": today}
        _write(args.out / f"gnutls-{short}", "dtls-client-hello.json", _vector(
            "ClientHello from gnutls-cli --udp", "4.2.2", source, inputs, hello,
            HandshakeType.CLIENT_HELLO, "First ClientHello as GnuTLS sends it."))
    else:
        print("gnutls-cli not found: install the Debian package gnutls-bin", file=sys.stderr)
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
