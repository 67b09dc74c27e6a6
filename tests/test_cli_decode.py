"""``rtcstack decode``: classification (RFC 9443 §3), every STUN / ChannelData field, bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rtcstack.cli.decode import DECODERS, InputError, parse_hex
from rtcstack.cli.main import main
from rtcstack.demux import PacketKind

# RFC 5769 §2.1 Sample Request, the hex lines as printed in the RFC (comment column removed).
# https://www.rfc-editor.org/rfc/rfc5769#section-2.1 -- password "VOkJxbRl1RmTxUk/WvJxBt".
RFC5769_REQUEST_LINES = [
    "00 01 00 58", "21 12 a4 42", "b7 e7 a7 01", "bc 34 d6 86", "fa 87 df ae",
    "80 22 00 10", "53 54 55 4e", "20 74 65 73", "74 20 63 6c", "69 65 6e 74",
    "00 24 00 04", "6e 00 01 ff", "80 29 00 08", "93 2f f9 b1", "51 26 3b 36",
    "00 06 00 09", "65 76 74 6a", "3a 68 36 76", "59 20 20 20", "00 08 00 14",
    "9a ea a7 0c", "bf d8 cb 56", "78 1e f2 b5", "b2 d3 f2 49", "c1 b5 71 a2",
    "80 28 00 04", "e5 7a 3b cf",
]
RFC5769_REQUEST_TEXT = "\n".join(RFC5769_REQUEST_LINES)
RFC5769_REQUEST = bytes.fromhex("".join(RFC5769_REQUEST_LINES))
PASSWORD = "VOkJxbRl1RmTxUk/WvJxBt"

CHANNEL_DATA = bytes.fromhex("4001 0005 68656c6c6f 000000")  # channel 0x4001, "hello", padded


def decode(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["decode", *args])
    out, err = capsys.readouterr()
    return status, out, err


# --- STUN ------------------------------------------------------------------------------------


def test_rfc5769_request_human(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = decode(capsys, RFC5769_REQUEST_TEXT)
    assert status == 0, err
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == "stun: 108 bytes (first byte 0x00, RFC 9443 §3)"
    for expected in [
        "  method: BINDING",
        "  class: REQUEST",
        "  transaction_id: b7e7a701bc34d686fa87dfae",
        "  length: 88",
        "    SOFTWARE (0x8022): STUN test client",
        f"    PRIORITY (0x0024): {0x6E0001FF}",
        f"    ICE-CONTROLLED (0x8029): {0x932FF9B151263B36}",
        "    USERNAME (0x0006): evtj:h6vY",
        "    MESSAGE-INTEGRITY (0x0008): 9aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2",
        f"    FINGERPRINT (0x8028): {0xE57A3BCF}",
        "  FINGERPRINT check: valid",
    ]:
        assert expected in lines, (expected, out)
    assert "integrity" not in out  # no --password: not checked


def test_rfc5769_request_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = decode(capsys, RFC5769_REQUEST.hex(), "--json", "--password", PASSWORD)
    assert status == 0
    result = json.loads(out)
    assert result["kind"] == "stun" and result["size"] == 108
    d = result["decoded"]
    assert (d["method"], d["class"], d["transaction_id"]) == (
        "BINDING", "REQUEST", "b7e7a701bc34d686fa87dfae"
    )
    assert [(a["name"], a["type"]) for a in d["attributes"]] == [
        ("SOFTWARE", "0x8022"), ("PRIORITY", "0x0024"), ("ICE-CONTROLLED", "0x8029"),
        ("USERNAME", "0x0006"), ("MESSAGE-INTEGRITY", "0x0008"), ("FINGERPRINT", "0x8028"),
    ]
    assert d["attributes"][0]["value"] == "STUN test client"
    assert d["attributes"][3]["value"] == "evtj:h6vY"
    assert d["fingerprint_valid"] is True
    assert d["integrity_valid"] is True


def test_wrong_password_and_broken_fingerprint(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = decode(capsys, RFC5769_REQUEST.hex(), "--json", "--password", "wrong")
    assert status == 0 and json.loads(out)["decoded"]["integrity_valid"] is False
    broken = RFC5769_REQUEST[:-1] + bytes([RFC5769_REQUEST[-1] ^ 1])
    status, out, _ = decode(capsys, broken.hex())
    assert status == 0
    assert "  FINGERPRINT check: INVALID" in out.splitlines()


def test_message_without_fingerprint(capsys: pytest.CaptureFixture[str]) -> None:
    # A bare Binding request: header only.
    status, out, _ = decode(capsys, "0001 0000 2112a442 000102030405060708090a0b")
    assert status == 0
    assert "  FINGERPRINT check: absent" in out.splitlines()
    status, out, _ = decode(capsys, "0001 0000 2112a442 000102030405060708090a0b", "--json")
    assert json.loads(out)["decoded"]["fingerprint_valid"] is None


def test_hex_forms(capsys: pytest.CaptureFixture[str]) -> None:
    colons = ":".join(f"{b:02X}" for b in RFC5769_REQUEST)
    for form in (colons, "0x" + RFC5769_REQUEST.hex(), RFC5769_REQUEST.hex()):
        status, out, _ = decode(capsys, form, "--json")
        assert status == 0 and json.loads(out)["decoded"]["transaction_id"].startswith("b7e7")


def test_unquoted_words_are_joined(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = decode(capsys, *RFC5769_REQUEST_LINES, "--json")
    assert status == 0 and json.loads(out)["size"] == 108


def test_stdin_hex_and_raw(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for payload in (RFC5769_REQUEST_TEXT.encode() + b"\n", RFC5769_REQUEST):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(payload)))
        status, out, err = decode(capsys, "-", "--json")
        assert status == 0, err
        assert json.loads(out)["size"] == 108


def test_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "request.bin"
    path.write_bytes(RFC5769_REQUEST)
    status, out, _ = decode(capsys, "--file", str(path), "--json")
    assert status == 0 and json.loads(out)["decoded"]["method"] == "BINDING"
    status, _, err = decode(capsys, "--file", str(tmp_path / "missing.bin"))
    assert status == 1 and err.startswith("rtcstack decode: cannot read")


# --- ChannelData -----------------------------------------------------------------------------


def test_channel_data(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = decode(capsys, CHANNEL_DATA.hex(), "--json")
    assert status == 0, err
    result = json.loads(out)
    assert result["kind"] == "channel-data" and result["size"] == 12
    from rtcstack.stun.channeldata import ChannelData

    assert result["decoded"] == ChannelData.parse(CHANNEL_DATA).describe()
    described = json.dumps(result["decoded"]).lower()
    assert "16385" in described or "0x4001" in described  # the channel number
    assert "68656c6c6f" in described or "hello" in described  # the data
    status, out, _ = decode(capsys, CHANNEL_DATA.hex())
    assert status == 0
    assert out.splitlines()[0] == "channel-data: 12 bytes (first byte 0x40, RFC 9443 §3)"
    assert len(out.splitlines()) > 1


def test_malformed_channel_data(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = decode(capsys, "4001 0010 6869")  # says 16 bytes, 2 follow
    assert status == 1 and out == ""
    assert err.startswith("rtcstack decode: malformed channel-data: ")
    assert len(err.splitlines()) == 1


# --- other kinds and bad input ---------------------------------------------------------------


def test_kinds_without_decoder(capsys: pytest.CaptureFixture[str]) -> None:
    for hex_text, kind in [("80e0000100000000", "rtp"), ("81c80006", "rtcp"),
                           ("16fefd0000", "dtls"), ("05", "unknown")]:
        if PacketKind(kind) in DECODERS:
            continue  # a later layer registered a decoder
        status, out, _ = decode(capsys, hex_text)
        assert status == 0
        assert out.splitlines()[1] == f"  no decoder for {kind} yet"
        status, out, _ = decode(capsys, hex_text, "--json")
        result = json.loads(out)
        assert result["kind"] == kind and result["decoded"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not hex"], "rtcstack decode: not hex: 'n' after 0 hex digits"),
        (["0001 00zz"], "rtcstack decode: not hex: 'z' after 6 hex digits"),
        (["000"], "rtcstack decode: odd number of hex digits (3)"),
        ([" : "], "rtcstack decode: no input bytes"),
        ([], "rtcstack decode: give the datagram as HEX, '-' (stdin) or --file PATH"),
    ],
)
def test_bad_input(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    status, out, err = decode(capsys, *args)
    assert (status, out, err) == (1, "", message + "\n")


@pytest.mark.parametrize(
    ("length", "reason"),
    [
        (0, None),
        (1, "STUN: 1 bytes, shorter than the 20-byte header (at byte offset 0)"),
        (19, "STUN: 19 bytes, shorter than the 20-byte header (at byte offset 0)"),
        (20, "STUN: length field says 88 but 0 bytes follow (at byte offset 2)"),
        (107, "STUN: length field says 88 but 87 bytes follow (at byte offset 2)"),
    ],
)
def test_truncated_stun(
    capsys: pytest.CaptureFixture[str], length: int, reason: str | None
) -> None:
    status, out, err = decode(capsys, RFC5769_REQUEST[:length].hex())
    assert status == 1 and out == ""
    if reason is None:  # nothing at all
        assert err == "rtcstack decode: no input bytes\n"
    else:
        assert err == f"rtcstack decode: malformed stun: {reason}\n"


def test_truncated_stun_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = decode(capsys, RFC5769_REQUEST[:-4].hex(), "--json")
    assert status == 1
    result = json.loads(out)
    assert result["kind"] == "stun" and result["size"] == 104
    assert "length field says 88" in result["error"] and result["offset"] == 2
    assert err.startswith("rtcstack decode: malformed stun:")


def test_attribute_running_past_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    # Fix the header length to match a cut in the middle of the SOFTWARE value.
    cut = RFC5769_REQUEST[:32]
    data = cut[:2] + (len(cut) - 20).to_bytes(2, "big") + cut[4:]
    status, _, err = decode(capsys, data.hex())
    assert status == 1
    assert err == (
        "rtcstack decode: malformed stun: STUN: SOFTWARE length 16 runs past the message"
        " (at byte offset 20)\n"
    )


def test_garbage_never_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    for first in range(256):
        data = bytes([first]) + bytes(range(1, 40))
        status, _, err = decode(capsys, data.hex())
        assert status in (0, 1), first
        assert "Traceback" not in err
        assert len(err.splitlines()) <= 1


def test_parse_hex() -> None:
    assert parse_hex("0a:0B 0c\n0d") == b"\x0a\x0b\x0c\x0d"
    with pytest.raises(InputError):
        parse_hex("0g")


def test_installed_command(tmp_path: Path) -> None:
    """Once through a real process: exit status and output on stdout, errors on stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "rtcstack.cli", "decode", "-"],
        input=RFC5769_REQUEST, capture_output=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"USERNAME (0x0006): evtj:h6vY" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "rtcstack.cli", "decode", "00010000"],
        capture_output=True, timeout=60, check=False,
    )
    assert done.returncode == 1 and done.stdout == b""
    assert b"Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
