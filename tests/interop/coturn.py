"""Start and stop a real coturn ``turnserver`` for interop tests (see /work/shared/INTEROP.md).

Usage::

    with running_coturn(CoturnConfig(listening_ips=["127.0.0.1"])) as server:
        server.address          # ("127.0.0.1", port): STUN/TURN over UDP and TCP
        server.config.user, server.config.password, server.config.realm

    # RFC 5780 (NAT behaviour discovery) needs two addresses and an alternate port:
    with running_coturn(CoturnConfig(listening_ips=["127.0.0.1", "127.0.0.2"], rfc5780=True)):
        ...

    # TURN over TLS (RFC 8656 §3.1): a self-signed P-256 certificate made with openssl;
    # server.tls_address is the TLS port (the client must not verify the certificate).
    with running_coturn(CoturnConfig(tls=True)) as server:
        server.tls_address, server.cert_path

The server runs with ``-n`` (no /etc config), on free ports chosen here, its userdb, pid and log
files in a temporary directory.  Readiness is detected by probing -- a STUN Binding request over
UDP to every listening address until each answers (and a TCP connect when TCP is on) -- never by
sleeping a fixed time.  It is stopped by its PID (SIGTERM, then SIGKILL) in :meth:`Coturn.stop`.
:func:`require_turnserver` skips the calling test when the Debian package is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rtcstack.common import Address
from rtcstack.stun import Message, MessageClass, Method

TURNSERVER = "turnserver"


def require_turnserver() -> str:
    """The turnserver binary path, or skip the test (pytest.skip) naming the Debian package."""
    import pytest

    path = shutil.which(TURNSERVER) or (
        "/usr/bin/turnserver" if os.path.exists("/usr/bin/turnserver") else None
    )
    if path is None:
        pytest.skip("coturn's turnserver is not installed: install the Debian package coturn")
    return path


def free_port_pair(ips: list[str], count: int = 2, attempts: int = 200) -> int:
    """A port P such that P .. P+count-1 are free for UDP and TCP on every address in ``ips``.

    (coturn's alternate port for RFC 5780 is P+1 by default.)  There is an unavoidable race
    between this check and coturn binding; the readiness probe catches a lost race.
    """
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((ips[0], 0))
            base = int(probe.getsockname()[1])
        if base + count > 65535:
            continue
        if all(_is_free(ip, base + i) for ip in ips for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports on {ips}")


def _is_free(ip: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(family, kind) as s:
            try:
                s.bind((ip, port))
            except OSError:
                return False
    return True


@dataclass
class CoturnConfig:
    """How to run coturn.  ``port``/``alt_port`` 0 means: choose free ones."""

    listening_ips: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    port: int = 0
    alt_port: int = 0  # RFC 5780 alternate port (coturn: --alt-listening-port); 0: port + 1
    user: str = "rtcstack"
    password: str = "interop-secret"
    realm: str = "rtcstack.test"
    relay_ip: str = "127.0.0.1"
    min_port: int = 50000
    max_port: int = 50100
    tcp: bool = True
    rfc5780: bool = True  # False adds --no-rfc5780
    fingerprint: bool = True
    tls: bool = False  # True: a self-signed certificate and a TLS listener (else --no-tls)
    tls_port: int = 0  # 0: choose a free one (its alternate, tls_port + 1, must be free too)
    extra_args: list[str] = field(default_factory=list)
    startup_timeout: float = 10.0


class Coturn:
    """One turnserver process; use :func:`running_coturn` to get one that is ready."""

    def __init__(self, config: CoturnConfig, binary: str = TURNSERVER) -> None:
        self.config = config
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None
        self.workdir = tempfile.mkdtemp(prefix="rtcstack-coturn-")
        self.log_path = os.path.join(self.workdir, "turnserver.log")
        self.port = config.port or free_port_pair(config.listening_ips)
        self.alt_port = config.alt_port or self.port + 1
        self.tls_port = 0
        self.cert_path = os.path.join(self.workdir, "cert.pem")
        self.key_path = os.path.join(self.workdir, "key.pem")
        if config.tls:
            taken = {self.port, self.alt_port}
            self.tls_port = config.tls_port
            while not self.tls_port or {self.tls_port, self.tls_port + 1} & taken:
                self.tls_port = free_port_pair(config.listening_ips)

    @property
    def address(self) -> Address:
        """The primary STUN/TURN address (first listening IP, main port)."""
        return (self.config.listening_ips[0], self.port)

    @property
    def tls_address(self) -> Address:
        """The TURN-over-TLS address (first listening IP, TLS port); only with ``tls=True``."""
        if not self.config.tls:
            raise RuntimeError("coturn runs without TLS (CoturnConfig(tls=True) enables it)")
        return (self.config.listening_ips[0], self.tls_port)

    @property
    def addresses(self) -> list[Address]:
        return [(ip, self.port) for ip in self.config.listening_ips]

    def command(self) -> list[str]:
        c = self.config
        args = [self.binary, "-n"]
        args += [f"--listening-ip={ip}" for ip in c.listening_ips]
        args += [
            f"--listening-port={self.port}",
            f"--alt-listening-port={self.alt_port}",
            f"--relay-ip={c.relay_ip}",
            f"--min-port={c.min_port}",
            f"--max-port={c.max_port}",
            "--allow-loopback-peers",
            "--lt-cred-mech",
            f"--user={c.user}:{c.password}",
            f"--realm={c.realm}",
            "--no-dtls",
            "--no-cli",
            "--no-software-attribute",
            "--no-dynamic-ip-list",
            "--no-dynamic-realms",
            f"--userdb={os.path.join(self.workdir, 'turndb')}",
            f"--pidfile={os.path.join(self.workdir, 'turnserver.pid')}",
            "--log-file=stdout",
            "--simple-log",
        ]
        if c.tls:
            args += [
                f"--cert={self.cert_path}",
                f"--pkey={self.key_path}",
                f"--tls-listening-port={self.tls_port}",
                f"--alt-tls-listening-port={self.tls_port + 1}",
            ]
        else:
            args.append("--no-tls")
        if c.fingerprint:
            args.append("--fingerprint")
        if not c.tcp:
            args.append("--no-tcp")
        if not c.rfc5780:
            args.append("--no-rfc5780")
        return args + c.extra_args

    def start(self) -> None:
        """Start the process and return once every listening address answers a Binding."""
        if self.config.tls:
            make_self_signed_certificate(self.cert_path, self.key_path)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.config.startup_timeout
        pending = list(self.addresses)
        while pending:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"turnserver exited during startup:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"turnserver did not answer on {pending} within "
                    f"{self.config.startup_timeout} s:\n{self.log()[-3000:]}"
                )
            if _probe_udp(pending[0], timeout=0.05):
                pending.pop(0)
        if self.config.tcp:
            for addr in self.addresses:
                with socket.create_connection(addr, timeout=self.config.startup_timeout):
                    pass
        if self.config.tls:
            for ip in self.config.listening_ips:
                _wait_tcp((ip, self.tls_port), deadline)

    def stop(self) -> None:
        """Stop the process by its PID: SIGTERM, then SIGKILL after 5 s."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def make_self_signed_certificate(cert_path: str, key_path: str) -> None:
    """A self-signed P-256 certificate and its unencrypted key, PEM (``openssl req -x509``)."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-subj", "/CN=x", "-days", "2", "-keyout", key_path, "-out", cert_path],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _wait_tcp(addr: Address, deadline: float) -> None:
    """Connect to ``addr`` until it accepts (a listener opened a little after the UDP one)."""
    while True:
        try:
            with socket.create_connection(addr, timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"turnserver does not accept TCP on {addr}") from None
            time.sleep(0.01)


def _probe_udp(addr: Address, timeout: float) -> bool:
    """One Binding request; True when a response with the same transaction ID comes back."""
    request = Message.new(Method.BINDING, MessageClass.REQUEST)
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(request.serialize(), addr)
            data, _ = s.recvfrom(2048)
        except OSError:  # timeout, or ICMP port unreachable before the server binds
            return False
    try:
        return Message.parse(data).transaction_id == request.transaction_id
    except ValueError:
        return False


@contextmanager
def running_coturn(config: CoturnConfig | None = None) -> Iterator[Coturn]:
    """A ready turnserver for the ``with`` block (skips the test when coturn is missing)."""
    binary = require_turnserver()
    server = Coturn(config or CoturnConfig(), binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()
