"""``rtcstack turn`` without a TURN server: arguments, URIs, and the failure exits.

The end-to-end runs against coturn are in tests/interop/test_turn_coturn.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from rtcstack.cli import turn as cli_turn
from rtcstack.cli.main import COMMANDS, main
from rtcstack.ice.turn import TurnServer


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_turn.configure(parser)
    return parser.parse_args(list(argv))


def server(*argv: str) -> TurnServer:
    return cli_turn.server_from_args(parse(*argv))


def test_registered() -> None:
    assert COMMANDS["turn"][0] == "rtcstack.cli.turn"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["192.0.2.1", "-u", "a", "-p", "b"], ("192.0.2.1", 3478, "udp")),
        (["192.0.2.1:3479", "--transport", "tcp"], ("192.0.2.1", 3479, "tcp")),
        (["192.0.2.1", "--transport", "tls"], ("192.0.2.1", 5349, "tls")),
        (["[2001:db8::1]:9"], ("2001:db8::1", 9, "udp")),
        (["turn:example.org"], ("example.org", 3478, "udp")),
        (["turn:example.org:3480?transport=tcp"], ("example.org", 3480, "tcp")),
        (["turns:example.org"], ("example.org", 5349, "tls")),
        (["turns:example.org", "--transport", "tls"], ("example.org", 5349, "tls")),
        (["turn:[2001:db8::2]:1234"], ("2001:db8::2", 1234, "udp")),
    ],
)
def test_server_argument(argv: list[str], expected: tuple[str, int, str]) -> None:
    s = server(*argv, "--user", "alice", "--password", "pw")
    assert (s.host, s.port, s.transport) == expected
    assert (s.username, s.password) == ("alice", "pw")


@pytest.mark.parametrize(
    "argv",
    [
        ["turn:example.org?transport=tcp", "--transport", "udp"],  # contradicts the URI
        ["turns:example.org", "--transport", "udp"],
        ["stun:example.org"],  # not a TURN URI
        ["turn:example.org?transport=sctp"],
        ["turn:"],
        ["example.org:99999"],
        ["[2001:db8::1"],
    ],
)
def test_bad_server_argument(argv: list[str]) -> None:
    with pytest.raises(ValueError):
        server(*argv)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["turn", *argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["turn:", "-u", "a", "-p", "b"], "rtcstack turn: "),
        (["127.0.0.1:1"], "--user and --password are required"),
        (["127.0.0.1:1", "-u", "a"], "--user and --password are required"),
        (["127.0.0.1:1", "-u", "a", "-p", "b", "--count", "0"], "--count must be at least 1"),
        (["127.0.0.1:1", "-u", "a", "-p", "b", "--timeout", "0"], "--timeout must be positive"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = run_cli(capsys, *argv)
    assert status == 2
    assert out == ""
    assert err.startswith("rtcstack turn: ") and message in err
    assert err.count("\n") == 1


def test_argparse_rejects_unknown_transport(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["turn", "127.0.0.1", "--transport", "sctp"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def closed_port(kind: int) -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CREDS = ["--user", "alice", "--password", "pw", "--timeout", "2"]


def test_tcp_connection_refused_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port(socket.SOCK_STREAM)
    status, out, err = run_cli(capsys, f"127.0.0.1:{port}", "--transport", "tcp", *CREDS)
    assert status == 1 and out == ""
    assert err == (
        f"rtcstack turn: cannot connect to 127.0.0.1:{port} over tcp: Connection refused\n"
    )
    assert err.count("\n") == 1


def test_udp_port_unreachable_exits_1_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port(socket.SOCK_DGRAM)
    status, out, err = run_cli(capsys, f"127.0.0.1:{port}", *CREDS, "--json")
    assert status == 1
    result = json.loads(out)
    assert result["ok"] is False and result["error"] == "TurnConnectionError"
    assert "refused" in result["message"].lower()  # ICMP port unreachable on the connected socket
    assert err.count("\n") == 1


@contextmanager
def silent_udp() -> Iterator[int]:
    """A UDP socket that receives and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def test_no_answer_times_out_with_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with silent_udp() as port:
        status, out, err = run_cli(
            capsys, f"127.0.0.1:{port}", "-u", "a", "-p", "b", "--timeout", "0.3"
        )
    assert status == 1 and out == ""
    assert "no allocation from 127.0.0.1:" in err and "within 0.3 s" in err


@contextmanager
def plain_tcp_server(send: bytes = b"") -> Iterator[int]:
    """Accepts TCP connections, writes ``send`` and closes them once the client has (or at
    once when ``send`` is empty: not a TLS server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                if send:
                    conn.sendall(send)
                    conn.settimeout(5)
                    with contextlib.suppress(OSError):
                        while conn.recv(4096):
                            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_tls_to_a_server_that_hangs_up_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with plain_tcp_server() as port:
        status, out, err = run_cli(capsys, f"turns:127.0.0.1:{port}", *CREDS)
    assert status == 1 and out == ""
    assert err.startswith("rtcstack turn: turns:127.0.0.1:")
    assert err.count("\n") == 1



def test_a_stream_that_loses_its_framing_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    # RFC 8656 §12.5 / RFC 8489 §6.2.2: first bits 11 at a frame boundary are neither STUN nor
    # ChannelData; the stream cannot be resynchronised and the connection is given up.
    with plain_tcp_server(send=b"\xff" * 24) as port:
        status, out, err = run_cli(capsys, f"127.0.0.1:{port}", "--transport", "tcp", *CREDS)
    assert status == 1 and out == ""
    assert "lost its framing" in err and err.count("\n") == 1
