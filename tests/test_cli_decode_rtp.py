"""``rtcstack decode`` on RTP, RTCP and their SRTP/SRTCP forms."""

from __future__ import annotations

import json

import pytest

from rtcstack.cli.main import main
from rtcstack.rtp import RtpPacket
from rtcstack.rtp.rtcp import Pli, ReceiverReport, ReportBlock, serialize_rtcp
from rtcstack.srtp import Profile, create_context

MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
TWCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
PACKET = RtpPacket(111, 1000, 12345, 0xDEADBEEF, b"opus-frame", True,
                   extensions=((1, b"0"), (3, b"\x00\x07"))).serialize()
RTCP = serialize_rtcp([ReceiverReport(1, (ReportBlock(2, 10, 3, 1000),)), Pli(1, 2)])
KEY, SALT = bytes(range(16)), bytes(range(100, 114))


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    status = main(["decode", "--json", *args])
    return status, json.loads(capsys.readouterr().out)


def test_rtp_header_and_typed_extensions(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = _json(capsys, PACKET.hex(), "--extmap", f"1={MID}", "--extmap", f"3={TWCC}")
    assert status == 0 and out["kind"] == "rtp"
    decoded = out["decoded"]
    assert isinstance(decoded, dict)
    assert (decoded["payload_type"], decoded["sequence_number"], decoded["ssrc"]) == (
        111, 1000, "0xdeadbeef")
    assert decoded["extensions"] == [
        {"id": 1, "uri": MID, "value": {"type": "Mid", "value": "0"}},
        {"id": 3, "uri": TWCC, "value": {"type": "TransportSequenceNumber", "value": 7}},
    ]
    # without an extmap the elements are shown raw
    status, out = _json(capsys, PACKET.hex())
    assert out["decoded"]["extensions"][0] == {"id": 1, "uri": None, "value": "30"}  # type: ignore[index]


def test_rtcp_compound(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = _json(capsys, RTCP.hex())
    assert status == 0 and out["kind"] == "rtcp"
    packets = out["decoded"]["packets"]  # type: ignore[index]
    assert [p["type"] for p in packets] == ["ReceiverReport", "Pli"]
    assert packets[0]["reports"][0]["cumulative_lost"] == 3


@pytest.mark.parametrize("profile", list(Profile))
def test_srtp_and_srtcp_are_decrypted_first(capsys: pytest.CaptureFixture[str],
                                            profile: Profile) -> None:
    key = bytes(range(profile.params.key_length))
    salt = bytes(range(100, 100 + profile.params.salt_length))
    sender = create_context(profile, key, salt, backend="pure")
    material = (key + salt).hex()
    status, out = _json(capsys, sender.protect_rtp(PACKET).hex(), "--srtp-key", material,
                        "--profile", profile.name)
    assert status == 0 and out["decoded"]["sequence_number"] == 1000  # type: ignore[index]
    status, out = _json(capsys, sender.protect_rtcp(RTCP).hex(), "--srtp-key", material,
                        "--profile", profile.name)
    assert status == 0 and len(out["decoded"]["packets"]) == 2  # type: ignore[index]


def test_srtp_failures_are_reported_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    sender = create_context(Profile.AES128_CM_HMAC_SHA1_80, KEY, SALT, backend="pure")
    tampered = bytearray(sender.protect_rtp(PACKET))
    tampered[-1] ^= 1
    assert main(["decode", tampered.hex(), "--srtp-key", (KEY + SALT).hex()]) == 1
    assert "rtcstack decode:" in capsys.readouterr().err
    assert main(["decode", PACKET.hex(), "--srtp-key", "00"]) == 1
    assert "needs 16 key + 14 salt bytes" in capsys.readouterr().err
    assert main(["decode", PACKET.hex(), "--srtp-key", (KEY + SALT).hex(),
                 "--profile", "NOPE"]) == 1
    assert "unknown SRTP profile" in capsys.readouterr().err
    assert main(["decode", PACKET.hex(), "--extmap", "x"]) == 1
    assert "ID=URI" in capsys.readouterr().err


def test_malformed_rtp_names_the_offset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", PACKET[:14].hex()]) == 1
    assert "malformed rtp" in capsys.readouterr().err
