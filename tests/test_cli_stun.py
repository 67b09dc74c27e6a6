"""``rtcstack stun`` against a small UDP/TCP responder thread on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from rtcstack.cli import stun as cli_stun
from rtcstack.cli.main import main
from rtcstack.stun import Message, XorMappedAddress

Reply = Callable[[Message, tuple[str, int]], bytes | None]


def ok(request: Message, addr: tuple[str, int]) -> bytes | None:
    return request.success_response(XorMappedAddress(addr)).serialize(fingerprint=True)


@contextmanager
def udp_responder(reply: Reply = ok) -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.05)
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(2048)
            except TimeoutError:
                continue
            out = reply(Message.parse(data), addr)
            if out is not None:
                sock.sendto(out, addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        sock.close()


@contextmanager
def tcp_responder() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, addr = listener.accept()
            except TimeoutError:
                continue
            with conn:
                data = b""
                while len(data) < 20 or len(data) < 20 + int.from_bytes(data[2:4], "big"):
                    chunk = conn.recv(2048)
                    if not chunk:
                        break
                    data += chunk
                reply = ok(Message.parse(data), addr)
                assert reply is not None
                conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_udp_plain_output(capsys: pytest.CaptureFixture[str]) -> None:
    with udp_responder() as port:
        assert main(["stun", f"127.0.0.1:{port}"]) == 0
    out = capsys.readouterr().out.strip()
    host, _, mapped_port = out.rpartition(":")
    assert host == "127.0.0.1" and int(mapped_port) > 0


def test_udp_json_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    with udp_responder() as port:
        assert main(["stun", f"127.0.0.1:{port}", "--json", "-v", "-4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["transport"] == "udp"
    assert out["server"] == {"host": "127.0.0.1", "port": port}
    assert out["mapped_address"]["port"] == out["local_address"]["port"]  # no NAT on lo
    assert out["request"]["method"] == "BINDING" and out["request"]["class"] == "REQUEST"
    names = [a["name"] for a in out["response"]["attributes"]]
    assert "XOR-MAPPED-ADDRESS" in names


def test_tcp_verbose_text(capsys: pytest.CaptureFixture[str]) -> None:
    with tcp_responder() as port:
        assert main(["stun", f"127.0.0.1:{port}", "--tcp", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "over tcp" in out and "XOR-MAPPED-ADDRESS" in out and "mapped address 127.0.0.1:" in out


def test_error_response_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with udp_responder(lambda r, a: r.error_response(403).serialize()) as port:
        status = main(["stun", f"127.0.0.1:{port}", "--json"])
    assert status == cli_stun.EXIT_ERROR_RESPONSE
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "403 Forbidden" in captured.err
    assert json.loads(captured.out)["code"] == 403


def test_timeout_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with udp_responder(lambda r, a: None) as port:
        status = main(["stun", f"127.0.0.1:{port}", "--timeout", "0.3"])
    assert status == cli_stun.EXIT_TIMEOUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no response" in err and "0.3 s" in err


def test_dns_failure_exit_status(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)  # no DNS traffic from tests
    assert main(["stun", "stun.example.invalid"]) == cli_stun.EXIT_RESOLVE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot resolve 'stun.example.invalid'" in err


def test_connection_refused_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert main(["stun", f"127.0.0.1:{port}", "--tcp"]) == cli_stun.EXIT_CONNECTION
    assert "cannot connect" in capsys.readouterr().err


def test_bad_server_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stun", "[::1"]) == cli_stun.EXIT_USAGE
    assert "missing ']'" in capsys.readouterr().err
