"""``rtcstack datachannel client|server``: the echo checker in-process, then both sides as real
processes on 127.0.0.1 (free ports: the server binds port 0 and prints the one it got)."""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from rtcstack.cli.datachannel import EchoChecker, make_message
from rtcstack.dtls import Certificate
from tests.helpers import read_first_line

STARTUP = 10.0
COMMAND = [sys.executable, "-m", "rtcstack.cli", "datachannel"]
NEGOTIATED = ("interleaving", "zero-checksum", "partial-reliability", "stream-reset", "streams",
              "peer-window")


# --- in-process ---------------------------------------------------------------------------------


def test_messages_carry_their_number() -> None:
    assert make_message(3, 10, text=False) == b"\x00\x00\x00\x03" + bytes(range(6))
    assert make_message(255, 12, text=True) == "000000ffabcd"
    assert make_message(7, 2, text=True) == "00"
    assert make_message(1, 0, text=False) == b""
    assert len(make_message(9, 70000, text=False)) == 70000


def test_ordered_echoes_must_come_in_order() -> None:
    checker = EchoChecker(3, 20, text=False, ordered=True)
    assert checker.check(make_message(0, 20, False))
    assert not checker.check(make_message(2, 20, False))
    assert checker.error is not None and checker.error.startswith("echo mismatch: message 1: ")
    assert checker.received == 1 and checker.done


def test_unordered_echoes_match_by_number() -> None:
    checker = EchoChecker(3, 20, text=True, ordered=False)
    for index in (2, 0, 1):
        assert checker.check(make_message(index, 20, True))
    assert checker.done and checker.error is None and checker.bytes == 60
    again = EchoChecker(2, 20, text=True, ordered=False)
    assert again.check(make_message(1, 20, True))
    assert not again.check(make_message(1, 20, True))  # a duplicate
    assert again.error is not None and "not a message sent and not echoed" in again.error


def test_a_changed_byte_or_type_is_a_mismatch() -> None:
    sent = make_message(0, 16, False)
    assert isinstance(sent, bytes)
    checker = EchoChecker(1, 16, text=False, ordered=True)
    assert not checker.check(sent[:9] + b"\xff" + sent[10:])
    assert checker.error == ("echo mismatch: message 0: byte 9 differs (sent 0x05, "
                             "echoed 0xff)")
    as_text = EchoChecker(1, 16, text=False, ordered=True)
    assert not as_text.check(sent.decode("latin-1"))
    assert as_text.error is not None and "sent binary of 16 bytes" in as_text.error
    tiny = EchoChecker(2, 1, text=False, ordered=False)  # too short to carry a number
    assert tiny.check(b"\x00") and tiny.check(b"\x00") and tiny.done
    assert not EchoChecker(1, 1, text=False, ordered=False).check(b"\x01")


# --- real processes -----------------------------------------------------------------------------


class Server:
    def __init__(self, proc: subprocess.Popen[bytes], first: str) -> None:
        self.proc = proc
        self.first = first
        if first.startswith("{"):
            self.address = json.loads(first)["address"]
        else:
            key, _, self.address = first.partition(": ")
            assert key == "listening"
        assert self.address.startswith("127.0.0.1:") and not self.address.endswith(":0")

    def finish(self, timeout: float = STARTUP) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, self.first + "\n" + out.decode(), err.decode()


@contextmanager
def dc_server(*args: str) -> Iterator[Server]:
    """Start ``rtcstack datachannel server --listen 127.0.0.1:0 ARGS`` and wait for its first
    line (an event, not a sleep); stop it by PID if the test did not wait for it."""
    proc = subprocess.Popen([*COMMAND, "server", "--listen", "127.0.0.1:0", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        first = read_first_line(proc, STARTUP)
        yield Server(proc, first)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=STARTUP)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def client(*args: str, timeout: float = STARTUP) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, "client", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, check=False)


def lines(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            out.setdefault(key, value)
    return out


def test_text_echo_with_a_lifetime_channel() -> None:
    with dc_server("--timeout", "8") as server:
        result = client(server.address, "--text", "--count", "5", "--size", "40",
                        "--label", "chat", "--protocol", "echo-v1",
                        "--max-packet-life-time", "500")
        status, out, err = server.finish()
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    mine, theirs = lines(result.stdout), lines(out)
    for key in NEGOTIATED:
        assert mine[key] == theirs[key], key
    assert mine["interleaving"].startswith("yes") and mine["zero-checksum"].startswith("yes")
    assert mine["echoed"] == "5 of 5 messages, all match"
    assert mine["round-trip-ms"].startswith("min ")
    assert mine["sctp-closed"] == "graceful"
    assert "retransmissions=" in mine["stats"]
    assert mine["peer-fingerprint"] == theirs["local-fingerprint"]
    assert theirs["peer-fingerprint"] == mine["local-fingerprint"]
    assert status == 0, err
    assert theirs["channel-open"] == ('id=0 label="chat" protocol="echo-v1" ordered=yes '
                                      'reliable=no max-retransmits=none '
                                      'max-packet-life-time=500')
    assert theirs["channel-closed"] == 'id=0 label="chat" received=5 messages (200 bytes) echoed=5'
    assert theirs["sctp-closed"] == "by the peer (graceful)"
    assert "packets-sent=" in theirs["stats"]


def test_binary_batch_unordered_partial_reliability_json() -> None:
    with dc_server("--json", "--timeout", "8") as server:
        result = client(server.address, "--json", "--unordered", "--max-retransmits", "2",
                        "--count", "40", "--size", "20000")
        status, out, err = server.finish()
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["mode"] == "throughput" and summary["throughput_mbps"] > 0
    assert summary["echoed"] == 40 and summary["shutdown"] == "graceful"
    assert summary["channel"]["ordered"] is False
    assert summary["channel"]["max_retransmits"] == 2
    assert summary["sctp"]["partial_reliability"] is True
    assert summary["stats"]["bytes_sent"] >= 40 * 20000
    assert status == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["listening", "connected", "channel-open",
                                            "channel-closed", "summary"]
    opened = events[2]
    assert opened["ordered"] is False and opened["max_retransmits"] == 2
    assert opened["max_packet_life_time"] is None and opened["label"] == "rtcstack"
    assert events[1]["sctp"] == summary["sctp"]
    assert events[3]["messages_received"] == events[3]["messages_echoed"] == 40
    assert events[4]["ok"] is True and events[4]["stats"]["messages_received"] >= 40


def test_no_echo_on_both_sides() -> None:
    with dc_server("--no-echo", "--timeout", "8") as server:
        result = client(server.address, "--no-echo", "--count", "20", "--size", "3000")
        status, out, err = server.finish()
    assert result.returncode == 0, result.stderr
    assert "delivered in" in lines(result.stdout)["throughput"]
    assert status == 0, err
    assert lines(out)["channel-closed"].endswith("received=20 messages (60000 bytes) echoed=0")


def test_wrong_fingerprint_fails_cleanly() -> None:
    other = Certificate.generate().fingerprint()
    with dc_server("--timeout", "8") as server:
        result = client(server.address, "--fingerprint", f"sha-256={other}", "--json")
        status, _, err = server.finish()
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("rtcstack datachannel: handshake failed: bad_certificate: ")
    summary = json.loads(result.stdout)
    assert summary["ok"] is False and "fingerprint" in summary["error"]
    assert status == 1
    assert err.startswith("rtcstack datachannel: handshake failed: peer sent bad_certificate")


def test_no_server_fails_fast() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()  # the port is closed now: ICMP port unreachable
    result = client(f"127.0.0.1:{port}", "--timeout", "5")
    elapsed = time.monotonic() - start
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (f"rtcstack datachannel: handshake failed: 127.0.0.1:{port}: "
                             "Connection refused\n")
    assert elapsed < 4.0


@pytest.mark.parametrize("json_mode", [False, True])
def test_server_timeout_without_a_client(json_mode: bool) -> None:
    with dc_server("--timeout", "0.3", *(["--json"] if json_mode else [])) as server:
        status, out, err = server.finish()
    assert status == 1
    assert err == "rtcstack datachannel: handshake failed: no DTLS handshake within 0.3 s\n"
    if json_mode:
        assert json.loads(out.splitlines()[-1]) == {"event": "summary", "ok": False,
                                                    "error": err[22:].strip()}


def test_ctrl_c_ends_the_server_gracefully_with_its_stats() -> None:
    import signal

    with dc_server("--timeout", "8") as server:
        proc = subprocess.Popen([*COMMAND, "client", server.address, "--count", "1000000",
                                 "--size", "10", "--timeout", "5"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            assert server.proc.stdout is not None
            seen = b""
            with selectors.DefaultSelector() as sel:  # wait for the channel, then Ctrl-C
                sel.register(server.proc.stdout.fileno(), selectors.EVENT_READ)
                deadline = time.monotonic() + STARTUP
                while b"channel-open: " not in seen:
                    assert sel.select(timeout=max(0.0, deadline - time.monotonic())), seen
                    byte = os.read(server.proc.stdout.fileno(), 1)
                    assert byte, seen
                    seen += byte
            server.proc.send_signal(signal.SIGINT)
            status, out, err = server.finish()
            _, client_err = proc.communicate(timeout=STARTUP)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=STARTUP)
    assert status == 0, err
    theirs = lines(seen.decode() + out)
    assert theirs["sctp-closed"] == "by us (SIGINT)"
    assert "messages-received=" in theirs["stats"]
    assert theirs["channel-closed"].startswith('id=0 label="rtcstack" received=')
    assert proc.returncode == 1
    assert client_err.decode().startswith("rtcstack datachannel: the channel "), client_err
