"""``rtcstack dtls client|server``: option parsing, the client in-process against an asyncio
server, and both sides as real processes on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rtcstack.asyncio.dtls import accept_dtls
from rtcstack.cli import dtls as cli
from rtcstack.dtls import Certificate, CipherSuite, DtlsConfig, SrtpProfileId
from tests.helpers import read_first_line, run

STARTUP = 10.0
COMMAND = [sys.executable, "-m", "rtcstack.cli", "dtls"]
KEYS = ("version", "cipher-suite", "srtp-profile", "local-fingerprint", "peer-fingerprint",
        "keying-material")


# --- option parsing ---------------------------------------------------------------------------


def test_srtp_profile_names_openssl_and_rfc() -> None:
    assert cli.parse_srtp_profiles("SRTP_AES128_CM_SHA1_80,srtp_aead_aes_128_gcm") == (
        SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_80, SrtpProfileId.SRTP_AEAD_AES_128_GCM)
    assert cli.parse_srtp_profiles("SRTP_AES128_CM_HMAC_SHA1_32, SRTP_AES128_CM_SHA1_32") == (
        SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_32,) * 2
    assert cli.parse_srtp_profiles("none") == ()
    with pytest.raises(ValueError, match="unknown SRTP profile 'SRTP_NULL'"):
        cli.parse_srtp_profiles("SRTP_NULL")


def test_cipher_suite_names() -> None:
    assert cli.parse_cipher_suites(
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,ECDHE-RSA-CHACHA20-POLY1305,0xC02B,"
        "ecdhe_rsa_with_aes_128_gcm_sha256") == (
        CipherSuite.ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        CipherSuite.ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CipherSuite.ECDHE_RSA_WITH_AES_128_GCM_SHA256)
    with pytest.raises(ValueError, match="unknown cipher suite 'AES128-SHA'"):
        cli.parse_cipher_suites("AES128-SHA")


def test_fingerprint_argument() -> None:
    cert = Certificate.generate()
    value = cert.fingerprint()
    assert cli.parse_fingerprint(f"SHA-256={value.lower()}") == ("sha-256", value)
    assert cli.parse_fingerprint(f"sha-256 {value}") == ("sha-256", value)
    with pytest.raises(ValueError, match="expected ALG=VALUE"):
        cli.parse_fingerprint(value)
    with pytest.raises(ValueError, match="unknown fingerprint algorithm"):
        cli.parse_fingerprint(f"md5={value}")
    with pytest.raises(ValueError, match="95 characters"):
        cli.parse_fingerprint("sha-256=AB:CD")


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    return parser.parse_args(argv)


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _args("client", "127.0.0.1:4433", "--srtp-profiles", "SRTP_BOGUS")
    assert exc.value.code == 2
    assert "unknown SRTP profile" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _args("server")  # --listen is required
    assert cli.run(_args("client", "127.0.0.1:4433", "--cert", "/nonexistent.pem",
                         "--key", "/nonexistent.pem")) == 2
    assert "cannot load the certificate" in capsys.readouterr().err


# --- the client in-process ----------------------------------------------------------------------


def _lines(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key in (*KEYS, "listening"):
            out[key] = value
    return out


def test_client_in_process_against_asyncio_server(capsys: pytest.CaptureFixture[str]) -> None:
    server_cert = Certificate.generate()

    async def main() -> tuple[int, bytes]:
        server = await accept_dtls(DtlsConfig(server_cert), ("127.0.0.1", 0))
        host, port = server.local_address
        args = _args("client", f"{host}:{port}", "--once", "--srtp-profiles",
                     "SRTP_AES128_CM_SHA1_80", "--fingerprint",
                     f"sha-256={server_cert.fingerprint()}")
        status, _ = await asyncio.gather(cli._session(args), server.handshake(5))
        material = server.srtp_keying_material
        server.close()
        assert material is not None
        return status, material

    status, material = run(main())
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    assert [line.split(": ")[0] for line in lines] == list(KEYS)
    got = _lines(out)
    assert got["version"] == "DTLS 1.2"
    assert got["cipher-suite"] == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    assert got["srtp-profile"] == "SRTP_AES128_CM_HMAC_SHA1_80"
    assert got["peer-fingerprint"] == f"sha-256 {server_cert.fingerprint()}"
    assert got["keying-material"] == material.hex()
    assert len(material) == 60


# --- real processes -----------------------------------------------------------------------------


class Server:
    def __init__(self, proc: subprocess.Popen[bytes], address: str) -> None:
        self.proc = proc
        self.address = address

    def finish(self, timeout: float = STARTUP) -> tuple[int, str, str]:
        if self.proc.stdin is not None and self.proc.stdin.closed:
            self.proc.stdin = None  # the test ended it already
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out.decode(), err.decode()


@contextmanager
def dtls_server(*args: str, stdin: int | None = subprocess.DEVNULL) -> Iterator[Server]:
    """Start ``rtcstack dtls server --listen 127.0.0.1:0 ARGS``; wait for its listening line
    (an event, not a sleep); kill it by PID if the test did not wait for it."""
    proc = subprocess.Popen([*COMMAND, "server", "--listen", "127.0.0.1:0", *args],
                            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = read_first_line(proc, STARTUP)
        key, _, address = first.partition(": ")
        assert key == "listening"
        assert address.startswith("127.0.0.1:") and not address.endswith(":0")
        yield Server(proc, address)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=STARTUP)
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            if stream is not None:
                stream.close()


def client(*args: str, input: bytes = b"", timeout: float = STARTUP,
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, "client", *args], input=input.decode(),
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_processes_agree_on_keying_material(tmp_path: Path) -> None:
    keylog = tmp_path / "keys.txt"
    with dtls_server("--once", "--srtp-profiles", "SRTP_AES128_CM_HMAC_SHA1_80",
                     "--mtu", "500", "--timeout", "8") as server:
        result = client(server.address, "--once", "--keylog", str(keylog),
                        "--srtp-profiles", "SRTP_AEAD_AES_128_GCM,SRTP_AES128_CM_SHA1_80")
        status, out, err = server.finish()
    assert result.returncode == 0, result.stderr
    assert status == 0, err
    mine, theirs = _lines(result.stdout), _lines(out)
    assert list(mine) == list(KEYS)
    assert list(theirs) == list(KEYS)  # after the listening line
    assert mine["srtp-profile"] == theirs["srtp-profile"] == "SRTP_AES128_CM_HMAC_SHA1_80"
    assert mine["cipher-suite"] == theirs["cipher-suite"]
    assert len(mine["keying-material"]) == 120
    assert mine["keying-material"] == theirs["keying-material"]
    assert mine["local-fingerprint"] == theirs["peer-fingerprint"]
    assert mine["peer-fingerprint"] == theirs["local-fingerprint"]
    assert mine["local-fingerprint"] != mine["peer-fingerprint"]
    log = keylog.read_text().splitlines()
    assert len(log) == 1 and log[0].startswith("CLIENT_RANDOM ")


def read_until(proc: subprocess.Popen[bytes], wanted: bytes, seen: bytearray) -> None:
    """Read ``proc``'s stdout into ``seen`` until it holds ``wanted`` (deadline: STARTUP)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        deadline = time.monotonic() + STARTUP
        while wanted not in seen:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"{wanted!r} not printed in time; got {bytes(seen)!r}")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError(f"exited before printing {wanted!r}; got {bytes(seen)!r}")
            seen += chunk


def test_processes_exchange_data_both_ways(tmp_path: Path) -> None:
    cert = Certificate.generate("rsa-2048")
    cert_pem, key_pem = cert.to_pem()
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    with dtls_server("--cert", str(tmp_path / "c.pem"), "--key", str(tmp_path / "k.pem"),
                     "--no-cookie", "--timeout", "8", stdin=subprocess.PIPE) as server:
        proc = subprocess.Popen(
            [*COMMAND, "client", server.address, "--fingerprint",
             f"sha-256={cert.fingerprint()}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert proc.stdin is not None and server.proc.stdin is not None
            client_out, server_out = bytearray(), bytearray()
            read_until(proc, b"keying-material: ", client_out)
            proc.stdin.write(b"from the client\n")
            proc.stdin.flush()
            read_until(server.proc, b"from the client\n", server_out)
            server.proc.stdin.write(b"from the server\n")
            server.proc.stdin.flush()
            read_until(proc, b"from the server\n", client_out)
            server.proc.stdin.close()  # the server's stdin ends: it sends close_notify
            status, out, err = server.finish()
            proc.stdin.close()
            proc.stdin = None
            rest, client_err = proc.communicate(timeout=STARTUP)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=STARTUP)
    assert proc.returncode == 0, client_err
    assert status == 0, err
    client_text = (bytes(client_out) + rest).decode()
    assert _lines(client_text)["cipher-suite"] == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert _lines(client_text)["peer-fingerprint"] == f"sha-256 {cert.fingerprint()}"
    assert client_text.endswith("from the server\n")
    assert (bytes(server_out) + out.encode()).decode().endswith("from the client\n")


def test_wrong_fingerprint_fails_with_a_clear_line() -> None:
    other = Certificate.generate().fingerprint()
    with dtls_server("--timeout", "8") as server:
        result = client(server.address, "--fingerprint", f"sha-256={other}")
        status, out, err = server.finish()
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("rtcstack dtls: handshake failed: bad_certificate: ")
    assert "fingerprint" in result.stderr
    assert status == 1
    assert err.strip().startswith("rtcstack dtls: handshake failed: peer sent bad_certificate")
    assert out == ""  # nothing after the listening line


def test_client_timeout() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        start = time.monotonic()
        result = client(f"127.0.0.1:{port}", "--timeout", "0.5")
        elapsed = time.monotonic() - start
    assert result.returncode == 1
    assert result.stderr == "rtcstack dtls: handshake failed: no DTLS handshake within 0.5 s\n"
    assert elapsed < 3.0


def test_server_timeout_without_a_client() -> None:
    with dtls_server("--timeout", "0.3") as server:
        status, _, err = server.finish()
    assert status == 1
    assert err == "rtcstack dtls: handshake failed: no DTLS handshake within 0.3 s\n"
