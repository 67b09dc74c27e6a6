"""``rtcstack stun-server`` and ``rtcstack nat-type`` as a user runs them: a real process on
loopback, stopped by signal (SIGTERM / SIGINT) through its PID."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from rtcstack.cli.main import main
from rtcstack.cli.serving import parse_host_port
from rtcstack.cli.stun_server import format_address
from rtcstack.common.types import Address
from rtcstack.stun import Message, MessageClass, Method, XorMappedAddress

STARTUP = 10.0


def has_loopback_2() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.2", 0))
        except OSError:
            return False
    return True


class ServerProcess:
    def __init__(self, proc: subprocess.Popen[str], addresses: list[tuple[str, Address]]):
        self.proc = proc
        self.addresses = addresses

    def udp(self, index: int = 0) -> Address:
        return [a for t, a in self.addresses if t == "udp"][index]

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        os.kill(self.proc.pid, sig)
        _, err = self.proc.communicate(timeout=STARTUP)
        return self.proc.returncode, err


@contextmanager
def stun_server(*args: str, expect: int = 2) -> Iterator[ServerProcess]:
    """Start ``rtcstack stun-server ARGS`` and wait for its ``expect`` "listening on" lines."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtcstack.cli", "stun-server", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        os.set_blocking(fd, False)
        pending = b""
        addresses: list[tuple[str, Address]] = []
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            deadline = time.monotonic() + STARTUP
            while len(addresses) < expect:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    raise AssertionError("the server did not report its addresses in time")
                chunk = os.read(fd, 4096)
                if not chunk:
                    err = proc.stderr.read() if proc.stderr else ""
                    raise AssertionError(f"the server exited: {err}")
                pending += chunk
                *lines, rest = pending.split(b"\n")
                pending = rest
                for line in lines:
                    _, _, transport, where = line.decode().split()
                    addresses.append((transport, parse_host_port(where)))
        os.set_blocking(fd, True)
        yield ServerProcess(proc, addresses)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=STARTUP)


def udp_ask(addr: Address, data: bytes) -> tuple[Message, Address]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(STARTUP)
        s.bind(("127.0.0.1", 0))
        s.sendto(data, addr)
        reply, source = s.recvfrom(65535)
        response = Message.parse(reply)
        assert response.get(XorMappedAddress) in (None, XorMappedAddress(s.getsockname()))
        return response, source


def test_parse_host_port() -> None:
    assert parse_host_port("127.0.0.1:3478") == ("127.0.0.1", 3478)
    assert parse_host_port("[::1]:5") == ("::1", 5)
    assert parse_host_port("::1", default_port=7) == ("::1", 7)
    assert parse_host_port("example.org", default_port=7) == ("example.org", 7)
    for bad in ("127.0.0.1", "[::1", "[::1]x", ":5", "h:70000", "h:x"):
        with pytest.raises(ValueError):
            parse_host_port(bad)
    assert format_address(("::1", 5)) == "[::1]:5"
    assert format_address(("1.2.3.4", 5)) == "1.2.3.4:5"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_logs_survives_garbage_and_stops_on_signal(sig: int) -> None:
    with stun_server("--listen", "127.0.0.1:0", "--software", "cli-test", "-v") as server:
        assert [t for t, _ in server.addresses] == ["udp", "tcp"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for junk in (b"", b"\xff" * 100, b"\x00\x01\x00\x08" + b"\0" * 20):
                s.sendto(junk, server.udp())
        request = Message.new(Method.BINDING, MessageClass.REQUEST)
        response, source = udp_ask(server.udp(), request.serialize())
        assert response.message_class is MessageClass.SUCCESS and source == server.udp()
        code, err = server.stop(sig)
    assert code == 0
    assert "Binding success" in err
    stats = json.loads(err.rsplit("stopped; ", 1)[1])
    assert stats["success"] == 1 and stats["malformed"] == 3


def test_long_term_user() -> None:
    with stun_server(
        "--listen", "127.0.0.1:0", "--no-tcp", "--realm", "r.test", "--user", "u:p", expect=1
    ) as server:
        response, _ = udp_ask(
            server.udp(), Message.new(Method.BINDING, MessageClass.REQUEST).serialize()
        )
        assert response.error_code == 401
        assert server.stop()[0] == 0


def test_short_term_user() -> None:
    with stun_server("--listen", "127.0.0.1:0", "--no-tcp", "--user", "u:p", expect=1) as server:
        response, _ = udp_ask(
            server.udp(), Message.new(Method.BINDING, MessageClass.REQUEST).serialize()
        )
        assert response.error_code == 400  # RFC 8489 §9.1.3: no USERNAME / MESSAGE-INTEGRITY
        assert server.stop()[0] == 0


def test_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stun-server", "--listen", "127.0.0.1:0", "--realm", "r"]) == 2
    assert "--realm needs" in capsys.readouterr().err
    assert main(["stun-server", "--listen", "0.0.0.0:0", "--alternate", "127.0.0.2:0"]) == 1
    assert "wildcard" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["stun-server", "--listen", "nonsense"])


@pytest.mark.skipif(not has_loopback_2(), reason="127.0.0.2 is not usable on lo")
def test_nat_type_against_our_server(capsys: pytest.CaptureFixture[str]) -> None:
    with stun_server(
        "--listen", "127.0.0.1:0", "--alternate", "127.0.0.2:0", "--no-tcp", expect=4
    ) as server:
        host, port = server.udp()
        assert main(["nat-type", f"{host}:{port}", "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["nat"] is False and result["rfc5780"] is True
        assert result["mapping"] == result["filtering"] == "endpoint-independent"
        assert result["other_address"] == format_address(server.udp(3))
        assert main(["nat-type", f"{host}:{port}", "--local", "127.0.0.1:0"]) == 0
        text = capsys.readouterr().out
        assert "mapping:   endpoint-independent" in text
        assert server.stop()[0] == 0


def test_nat_type_without_rfc5780(capsys: pytest.CaptureFixture[str]) -> None:
    with stun_server("--listen", "127.0.0.1:0", "--no-tcp", expect=1) as server:
        host, port = server.udp()
        assert main(["nat-type", f"{host}:{port}"]) == 1
        assert "not supported" in capsys.readouterr().out
        assert server.stop()[0] == 0


def test_nat_type_bad_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nat-type", "[::1"]) == 2
    assert "nat-type" in capsys.readouterr().err
