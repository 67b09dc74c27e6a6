"""Real DTLS 1.2 peers (OpenSSL ``s_server``/``s_client``, GnuTLS ``gnutls-serv``/``gnutls-cli``)
for interop tests, and a synchronous UDP driver for :class:`rtcstack.dtls.DtlsConnection`.

See /work/shared/INTEROP.md for the command lines.  Usage::

    files = write_credentials(tmp_path, "peer", Certificate.generate("ecdsa-p256"))
    with start_peer(openssl_server_command(port, files, ...)) as peer:
        peer.wait_for(READY_OPENSSL_SERVER)                 # deadline, never a fixed sleep
        with DtlsUdpEndpoint(DtlsConnection(config, "client"), peer=("127.0.0.1", port)) as ep:
            ep.handshake()
            peer.wait_for(KEYING_MATERIAL_OPENSSL)          # "Keying material: <hex>"
            ep.send(b"ping"); peer.wait_for(re.escape("ping"))
            peer.write(b"pong\\n"); ep.receive_until(b"pong")

Every peer process runs with a piped stdin (closing it makes s_server/s_client quit), its stdout
and stderr merged and read by a thread into :attr:`PeerProcess.lines`; :meth:`PeerProcess.stop`
ends it by its PID (SIGTERM, then SIGKILL).  :func:`require_binary` skips the calling test when a
program is missing, naming the Debian package.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from rtcstack.dtls import AlertDescription, DtlsConnection
from rtcstack.dtls.certificate import Certificate
from rtcstack.dtls.connection import ApplicationData, Closed, Event, HandshakeComplete

Address = tuple[str, int]

#: What each tool prints once it listens / once the handshake is done.
READY_OPENSSL_SERVER = r"^ACCEPT"
READY_GNUTLS_SERVER = r"listening on IPv4 .*done"  # gnutls-serv binds 0.0.0.0 and ::
KEYING_MATERIAL_OPENSSL = r"Keying material: ([0-9A-Fa-f]+)"
KEYING_MATERIAL_GNUTLS = r"- Key material: ([0-9A-Fa-f]+)"

#: rtcstack SRTP profile id -> (OpenSSL name, GnuTLS name or None when GnuTLS 3.7 lacks it).
SRTP_PROFILE_NAMES: dict[int, tuple[str, str | None]] = {
    0x0001: ("SRTP_AES128_CM_SHA1_80", "SRTP_AES128_CM_HMAC_SHA1_80"),
    0x0002: ("SRTP_AES128_CM_SHA1_32", "SRTP_AES128_CM_HMAC_SHA1_32"),
    0x0007: ("SRTP_AEAD_AES_128_GCM", None),
    0x0008: ("SRTP_AEAD_AES_256_GCM", None),
}

#: rtcstack cipher suite -> its OpenSSL name (for ``-cipher`` and what s_server/s_client print).
OPENSSL_CIPHER_NAMES: dict[int, str] = {
    0xC02B: "ECDHE-ECDSA-AES128-GCM-SHA256",
    0xC02C: "ECDHE-ECDSA-AES256-GCM-SHA384",
    0xCCA9: "ECDHE-ECDSA-CHACHA20-POLY1305",
    0xC02F: "ECDHE-RSA-AES128-GCM-SHA256",
    0xC030: "ECDHE-RSA-AES256-GCM-SHA384",
    0xCCA8: "ECDHE-RSA-CHACHA20-POLY1305",
}


def require_binary(name: str, package: str) -> str:
    """The path of ``name``, or skip the test naming the Debian package that provides it."""
    import pytest

    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}")
                                  else None)
    if path is None:
        pytest.skip(f"{name} is not installed: install the Debian package {package}")
    return path


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port that is free now (the peer binds it right after; a lost race shows up as a
    start-up failure, not a hang)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Credentials:
    """A certificate written as PEM files for a peer program, and its fingerprint."""

    certificate: Certificate
    cert_path: Path
    key_path: Path

    @property
    def fingerprint(self) -> tuple[str, str]:
        return ("sha-256", self.certificate.fingerprint("sha-256"))


def write_credentials(directory: Path, name: str, certificate: Certificate) -> Credentials:
    """Write ``certificate`` (:meth:`Certificate.to_pem`) to ``<name>.crt`` / ``<name>.key``."""
    cert_pem, key_pem = certificate.to_pem()
    cert_path = directory / f"{name}.crt"
    key_path = directory / f"{name}.key"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(key_pem)
    os.chmod(key_path, 0o600)
    return Credentials(certificate, cert_path, key_path)


# --- command lines ------------------------------------------------------------------------------


def openssl_server_command(
    port: int, creds: Credentials, *, srtp: str | None, cookie: bool, mtu: int | None = None,
    cipher: str | None = None, groups: str | None = None, keymat_length: int = 60,
) -> list[str]:
    """``openssl s_server`` for one DTLS 1.2 connection that requests a client certificate."""
    args = [require_binary("openssl", "openssl"), "s_server", "-dtls1_2",
            "-accept", f"127.0.0.1:{port}", "-cert", str(creds.cert_path),
            "-key", str(creds.key_path), "-verify", "1", "-naccept", "1",
            "-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen", str(keymat_length)]
    if srtp:
        args += ["-use_srtp", srtp]
    if cookie:
        args.append("-listen")
    if mtu:
        args += ["-mtu", str(mtu)]
    if cipher:
        args += ["-cipher", cipher]
    if groups:
        args += ["-groups", groups]
    return args


def openssl_client_command(
    port: int, creds: Credentials, *, srtp: str | None, mtu: int | None = None,
    cipher: str | None = None, groups: str | None = None, keymat_length: int = 60,
) -> list[str]:
    """``openssl s_client`` connecting to 127.0.0.1:``port`` with a client certificate."""
    args = [require_binary("openssl", "openssl"), "s_client", "-dtls1_2",
            "-connect", f"127.0.0.1:{port}", "-cert", str(creds.cert_path),
            "-key", str(creds.key_path),
            "-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen", str(keymat_length)]
    if srtp:
        args += ["-use_srtp", srtp]
    if mtu:
        args += ["-mtu", str(mtu)]
    if cipher:
        args += ["-cipher", cipher]
    if groups:
        args += ["-groups", groups]
    return args


GNUTLS_DTLS12 = "NORMAL:-VERS-ALL:+VERS-DTLS1.2"


def gnutls_server_command(
    port: int, creds: Credentials, *, srtp: str | None, cookie: bool, mtu: int | None = None,
    priority: str = GNUTLS_DTLS12, keymat_length: int = 60,
) -> list[str]:
    """``gnutls-serv --udp --echo`` requiring a client certificate (not CA-verified)."""
    args = [require_binary("gnutls-serv", "gnutls-bin"), "--udp", "--echo",
            "--port", str(port), "--x509certfile", str(creds.cert_path),
            "--x509keyfile", str(creds.key_path), "--require-client-cert",
            "--priority", priority,
            "--keymatexport", "EXTRACTOR-dtls_srtp", "--keymatexportsize", str(keymat_length)]
    if srtp:
        args += ["--srtp-profiles", srtp]
    if not cookie:
        args.append("--nocookie")
    if mtu:
        args += ["--mtu", str(mtu)]
    return args


def gnutls_client_command(
    port: int, creds: Credentials, *, srtp: str | None, mtu: int | None = None,
    priority: str = GNUTLS_DTLS12, keymat_length: int = 60,
) -> list[str]:
    """``gnutls-cli --udp`` to 127.0.0.1:``port`` with a client certificate."""
    args = [require_binary("gnutls-cli", "gnutls-bin"), "--udp", "--port", str(port),
            "--insecure", "--x509certfile", str(creds.cert_path),
            "--x509keyfile", str(creds.key_path), "--priority", priority,
            "--keymatexport", "EXTRACTOR-dtls_srtp", "--keymatexportsize", str(keymat_length)]
    if srtp:
        args += ["--srtp-profiles", srtp]
    if mtu:
        args += ["--mtu", str(mtu)]
    return [*args, "127.0.0.1"]


# --- peer process -------------------------------------------------------------------------------


class PeerProcess:
    """A running peer program: its output lines (read by a thread) and its stdin."""

    def __init__(self, command: Sequence[str], cwd: Path | None = None) -> None:
        self.command = list(command)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, cwd=cwd, bufsize=0)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stdout = self.process.stdout
        if stdout is None:
            return
        for raw in iter(stdout.readline, b""):
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 5.0, start: int = 0) -> re.Match[str]:
        """The first output line (from index ``start``) matching ``pattern``; raises
        TimeoutError with the output so far when none comes before the deadline or the
        program ends."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        index = start
        with self._cond:
            while True:
                while index < len(self.lines):
                    found = regex.search(self.lines[index])
                    if found:
                        return found
                    index += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._eof:
                    why = "exited" if self._eof else f"printed nothing matching in {timeout} s"
                    raise TimeoutError(f"{self.command[0]} {why} (want {pattern!r}); output:\n"
                                       + "\n".join(self.lines[-60:]))
                self._cond.wait(remaining)

    def write(self, data: bytes) -> None:
        stdin = self.process.stdin
        if stdin is None:
            raise RuntimeError("no stdin")
        stdin.write(data)
        stdin.flush()

    def stop(self) -> None:
        """End the process by its PID: close stdin, SIGTERM, then SIGKILL after 3 s."""
        proc = self.process
        if proc.stdin is not None:
            with suppress(OSError):
                proc.stdin.close()
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=3)
        self._reader.join(timeout=3)
        if proc.stdout is not None:
            proc.stdout.close()


@contextmanager
def start_peer(command: Sequence[str], cwd: Path | None = None) -> Iterator[PeerProcess]:
    """A :class:`PeerProcess` for the ``with`` block, stopped by PID afterwards."""
    peer = PeerProcess(command, cwd)
    try:
        yield peer
    finally:
        peer.stop()


# --- rtcstack over a UDP socket -----------------------------------------------------------------


class DtlsUdpEndpoint:
    """Runs a :class:`DtlsConnection` over a UDP socket on 127.0.0.1, synchronously.

    A client sends to ``peer``; a server learns the peer from the first datagram.  Events are
    collected in :attr:`events` (application data also in :attr:`received`).
    """

    def __init__(self, conn: DtlsConnection, peer: Address | None = None,
                 bind: Address = ("127.0.0.1", 0)) -> None:
        self.conn = conn
        self.peer = peer
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(bind)
        self.sock.setblocking(False)
        self.events: list[Event] = []
        self.received = bytearray()
        self.datagrams_in = 0
        self.datagrams_out = 0
        self.max_datagram_in = 0
        self.max_datagram_out = 0

    @property
    def address(self) -> Address:
        host, port = self.sock.getsockname()[:2]
        return (str(host), int(port))

    def __enter__(self) -> DtlsUdpEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def _flush(self) -> None:
        while (data := self.conn.poll_transmit()) is not None:
            if self.peer is None:
                raise RuntimeError("nothing to send to yet")
            self.sock.sendto(data, self.peer)
            self.datagrams_out += 1
            self.max_datagram_out = max(self.max_datagram_out, len(data))
        while (event := self.conn.poll_event()) is not None:
            self.events.append(event)
            if isinstance(event, ApplicationData):
                self.received += event.data

    def step(self, until: float) -> None:
        """Wait for one datagram or the connection's timer (whichever is first, not past
        ``until``), and feed it."""
        now = time.monotonic()
        timer = self.conn.poll_timeout()
        wake = until if timer is None else min(until, timer)
        readable, _, _ = select.select([self.sock], [], [], max(0.0, wake - now))
        if readable:
            try:
                data, addr = self.sock.recvfrom(65536)
            except (BlockingIOError, ConnectionRefusedError):
                data = b""
            if data:
                if self.peer is None:
                    self.peer = (str(addr[0]), int(addr[1]))
                if addr[:2] == self.peer:
                    self.datagrams_in += 1
                    self.max_datagram_in = max(self.max_datagram_in, len(data))
                    self.conn.handle_datagram(data, now=time.monotonic())
        now = time.monotonic()
        timer = self.conn.poll_timeout()
        if timer is not None and now >= timer:
            self.conn.handle_timeout(now=now)
        self._flush()

    def run_until(self, done: type[Event] | bytes, timeout: float = 5.0) -> None:
        """Drive the connection until an event of type ``done`` (or, for bytes, until the
        received application data contains them), or ``Closed``; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        self._flush()
        while True:
            if isinstance(done, bytes):
                if done in self.received:
                    return
            elif any(isinstance(e, done) for e in self.events):
                return
            closed = self.closed()
            if closed is not None:
                raise ConnectionError(f"DTLS connection closed: {closed.error!r}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no {done!r} within {timeout} s; state "
                                   f"{self.conn.state.value}, events {self.events}, "
                                   f"dropped {self.conn.dropped}, in/out "
                                   f"{self.datagrams_in}/{self.datagrams_out}")
            self.step(deadline)

    def closed(self) -> Closed | None:
        for e in self.events:
            if isinstance(e, Closed):
                return e
        return None

    def handshake(self, timeout: float = 5.0) -> HandshakeComplete:
        """Connect (client) or wait for the peer (server) until HandshakeComplete."""
        if self.conn.is_client:
            self.conn.connect(now=time.monotonic())
        self.run_until(HandshakeComplete, timeout)
        return next(e for e in self.events if isinstance(e, HandshakeComplete))

    def expect_bad_certificate(self, timeout: float = 5.0) -> None:
        """Drive until ``Closed``: the fingerprint check failed on our side, so we sent the
        fatal bad_certificate alert (RFC 8122 §5, RFC 5246 §7.2.2)."""
        closed = self.run_until_closed(timeout)
        assert closed.error is not None
        assert not closed.error.remote, closed.error
        assert closed.error.description == AlertDescription.BAD_CERTIFICATE

    def run_until_closed(self, timeout: float = 5.0) -> Closed:
        """Drive until ``Closed`` (e.g. after a failed fingerprint check)."""
        if self.conn.is_client and self.conn.state.value == "new":
            self.conn.connect(now=time.monotonic())
        deadline = time.monotonic() + timeout
        self._flush()
        while (closed := self.closed()) is None:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"not closed within {timeout} s; events {self.events}")
            self.step(deadline)
        return closed

    def send(self, data: bytes) -> None:
        self.conn.send(data)
        self._flush()
