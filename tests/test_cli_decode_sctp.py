"""``rtcstack decode --sctp``: SCTP packets (RFC 9260 §3) built with :mod:`rtcstack.sctp.chunks`,
DCEP messages captured from aiortc wrapped in DATA chunks, malformed input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcstack.cli.decode import decode as decode_datagram
from rtcstack.cli.decode_sctp import describe_sctp
from rtcstack.cli.main import main
from rtcstack.sctp.chunks import (
    AbortChunk,
    CookieAckChunk,
    CookieEchoChunk,
    DataChunk,
    ErrorCause,
    ErrorChunk,
    ForwardTsnChunk,
    HeartbeatAckChunk,
    HeartbeatChunk,
    IDataChunk,
    IForwardTsnChunk,
    IncomingSsnResetRequest,
    InitAckChunk,
    InitChunk,
    OutgoingSsnResetRequest,
    Packet,
    Parameter,
    ParamType,
    ReconfigChunk,
    ReconfigResponse,
    ReconfigResult,
    SackChunk,
    SctpParseError,
    ShutdownAckChunk,
    ShutdownChunk,
    ShutdownCompleteChunk,
    UnknownChunk,
)
from rtcstack.sctp.crc32c import check_checksum
from rtcstack.sctp.dcep import DataChannelOpen

AIORTC = (Path(__file__).resolve().parent.parent / "rfc-vectors" / "captures" / "aiortc-1.16.0"
          / "dcep-open-ack.json")

OPEN = DataChannelOpen.create("chat", "proto", ordered=False, max_retransmits=3)
DATA_OPEN = Packet(5000, 5000, 0x1234ABCD, [DataChunk(7, 1, 0, 50, OPEN.serialize())]).serialize()
WEBRTC_INIT = Packet(5000, 5000, 0, [InitChunk(0xDEADBEEF, 131072, 65535, 65535, 1000, [
    Parameter(ParamType.FORWARD_TSN_SUPPORTED),
    Parameter.supported_extensions([130, 192, 64, 194]),
    Parameter.zero_checksum_acceptable(1),
])]).serialize()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["decode", "--sctp", *args])
    out, err = capsys.readouterr()
    return status, out, err


def as_json(capsys: pytest.CaptureFixture[str], data: bytes) -> dict[str, Any]:
    status, out, err = run(capsys, "--json", data.hex())
    assert status == 0, err
    result: dict[str, Any] = json.loads(out)
    assert result["kind"] == "sctp" and result["size"] == len(data)
    assert result["decoded"]["errors"] == []
    return result["decoded"]


def test_data_carrying_dcep_open_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_checksum(DATA_OPEN)
    status, out, err = run(capsys, DATA_OPEN.hex())
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"sctp: {len(DATA_OPEN)} bytes (decoded as SCTP as --sctp asks, RFC 9260 §3)"
    for expected in [
        "  source_port: 5000",
        "  destination_port: 5000",
        "  verification_tag: 0x1234abcd",
        f"  checksum: 0x{DATA_OPEN[8:12].hex()} -- correct CRC32c (RFC 9260 §6.8)",
        "  [12] DATA (type 0, RFC 9260 §3.3.1) flags 0x03 (B E), length 37",
        "    tsn: 7",
        "    stream: 1",
        "    ssn: 0",
        "    fragment: whole message",
        "    ppid: 50 (WebRTC DCEP, RFC 8831 §8)",
        "    payload_length: 21",
        "      message_type: DATA_CHANNEL_OPEN",
        "      channel_type: PARTIAL_RELIABLE_REXMIT_UNORDERED",
        "      priority: 256",
        "      priority_meaning: normal",
        "      reliability: at most 3 retransmissions",
        "      label: chat",
        "      subprotocol: proto",
    ]:
        assert expected in lines, (expected, out)


def test_data_carrying_dcep_open_json(capsys: pytest.CaptureFixture[str]) -> None:
    decoded = as_json(capsys, DATA_OPEN)
    assert decoded["checksum_valid"] is True
    (chunk,) = decoded["chunks"]
    assert (chunk["name"], chunk["type"], chunk["rfc"], chunk["offset"]) == (
        "DATA", 0, "RFC 9260 §3.3.1", 12)
    assert (chunk["U"], chunk["B"], chunk["E"], chunk["I"]) == (False, True, True, False)
    assert (chunk["tsn"], chunk["stream"], chunk["ssn"]) == (7, 1, 0)
    assert chunk["ppid"].startswith("50 (WebRTC DCEP")
    dcep = chunk["dcep"]
    assert dcep["max_retransmits"] == 3 and dcep["ordered"] is False
    assert (dcep["label"], dcep["subprotocol"], dcep["priority"]) == ("chat", "proto", 256)


def test_wrong_checksum_is_shown_not_fatal(capsys: pytest.CaptureFixture[str]) -> None:
    bad = DATA_OPEN[:8] + bytes(b ^ 0xFF for b in DATA_OPEN[8:12]) + DATA_OPEN[12:]
    status, out, _ = run(capsys, bad.hex())
    assert status == 0
    assert f"INCORRECT: the CRC32c is 0x{DATA_OPEN[8:12].hex()}" in out
    assert as_json(capsys, bad)["checksum_valid"] is False


def test_zero_checksum_packet(capsys: pytest.CaptureFixture[str]) -> None:
    data = Packet(5000, 5000, 9, [CookieAckChunk()]).serialize(zero_checksum=True)
    assert data[8:12] == bytes(4)
    status, out, _ = run(capsys, data.hex())
    assert status == 0
    assert "  checksum: 0x00000000 -- zero checksum (RFC 9653 §5" in out
    assert "  [12] COOKIE ACK (type 11, RFC 9260 §3.3.12) flags 0x00, length 4" in out
    decoded = as_json(capsys, data)
    assert decoded["checksum_valid"] is None and "RFC 9653" in decoded["checksum_status"]


def test_idata_fragment(capsys: pytest.CaptureFixture[str]) -> None:
    first = IDataChunk(20, 4, 9, 53, 0, b"\x01" * 8, unordered=True, ending=False,
                       immediate=True)
    middle = IDataChunk(21, 4, 9, 0, 1, b"\x02" * 8, beginning=False, ending=False)
    data = Packet(1, 2, 3, [first, middle]).serialize()
    status, out, _ = run(capsys, data.hex())
    assert status == 0
    assert "  [12] I-DATA (type 64, RFC 8260 §2.1) flags 0x0e (U B I), length 28" in out
    assert "    ppid: 53 (WebRTC Binary, RFC 8831 §8)" in out
    assert "    ppid: - (not carried: the word holds the FSN, RFC 8260 §2.1)" in out
    one, two = as_json(capsys, data)["chunks"]
    assert (one["mid"], one["fsn"], one["fragment"]) == (9, 0, "first fragment")
    assert (two["mid"], two["fsn"], two["fragment"], two["offset"]) == (
        9, 1, "middle fragment", 40)
    assert (two["U"], two["B"], two["E"]) == (False, False, False)


def test_init_with_webrtc_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, WEBRTC_INIT.hex())
    assert status == 0
    for expected in [
        "  [12] INIT (type 1, RFC 9260 §3.3.2) flags 0x00, length 40",
        "    initiate_tag: 0xdeadbeef",
        "    a_rwnd: 131072",
        "      - Forward-TSN-Supported (0xc000, RFC 3758 §3.1)",
        "      - Supported Extensions (0x8008, RFC 5061 §4.2.7)",
        "          chunk_types: RE-CONFIG (130), FORWARD-TSN (192), I-DATA (64), "
        "I-FORWARD-TSN (194)",
        "      - Zero Checksum Acceptable (0x8001, RFC 9653 §4)",
        "          edmid: 1 (SCTP over DTLS (RFC 9653 §6, RFC 8261))",
    ]:
        assert expected in out.splitlines(), (expected, out)
    (chunk,) = as_json(capsys, WEBRTC_INIT)["chunks"]
    assert [p["name"] for p in chunk["parameters"]] == [
        "Forward-TSN-Supported", "Supported Extensions", "Zero Checksum Acceptable"]
    assert (chunk["outbound_streams"], chunk["inbound_streams"], chunk["initial_tsn"]) == (
        65535, 65535, 1000)


def test_init_ack_cookie_and_unknown_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    data = Packet(1, 2, 0xDEADBEEF, [InitAckChunk(5, 6, 7, 8, 9, [
        Parameter(ParamType.STATE_COOKIE, bytes(range(32))),
        Parameter(ParamType.IPV4_ADDRESS, bytes([192, 0, 2, 1])),
        Parameter(0x4321, b"ab"),
    ])]).serialize()
    params = as_json(capsys, data)["chunks"][0]["parameters"]
    assert params[0]["name"] == "State Cookie" and params[0]["cookie_length"] == 32
    assert params[1]["address"] == "192.0.2.1"
    assert params[2]["name"] == "unknown parameter" and params[2]["value"] == "6162"
    assert params[2]["if_unrecognized"].startswith("stop, discard, and report")


def test_sack_with_gaps_and_duplicates(capsys: pytest.CaptureFixture[str]) -> None:
    sack = SackChunk(0xFFFFFFFE, 65536, [(2, 3), (5, 9)], [0xFFFFFFFD])
    data = Packet(1, 2, 3, [sack]).serialize()
    status, out, _ = run(capsys, data.hex())
    assert status == 0
    assert "      - start=2, end=3, tsns=0-1" in out.splitlines()
    assert "      - start=5, end=9, tsns=3-7" in out.splitlines()
    (chunk,) = as_json(capsys, data)["chunks"]
    assert chunk["cumulative_tsn_ack"] == 0xFFFFFFFE and chunk["a_rwnd"] == 65536
    assert [g["tsns"] for g in chunk["gap_ack_blocks"]] == ["0-1", "3-7"]
    assert chunk["duplicate_tsns"] == [0xFFFFFFFD]


def test_reconfig(capsys: pytest.CaptureFixture[str]) -> None:
    data = Packet(1, 2, 3, [
        ReconfigChunk([OutgoingSsnResetRequest(5, 4, 99, (1, 3)), IncomingSsnResetRequest(6)]),
        ReconfigChunk([ReconfigResponse(4, ReconfigResult.SUCCESS_PERFORMED)]),
    ]).serialize()
    status, out, _ = run(capsys, data.hex())
    assert status == 0
    assert "      - Outgoing SSN Reset Request (0x000d, RFC 6525 §4.1)" in out.splitlines()
    assert "          result: SUCCESS_PERFORMED (1)" in out.splitlines()
    one, two = as_json(capsys, data)["chunks"]
    assert one["name"] == "RE-CONFIG" and one["rfc"] == "RFC 6525 §3.1"
    out_req, in_req = one["parameters"]
    assert (out_req["request_sequence"], out_req["response_sequence"],
            out_req["last_assigned_tsn"], out_req["streams"]) == (5, 4, 99, [1, 3])
    assert (in_req["request_sequence"], in_req["streams"], in_req["all_streams"]) == (6, [], True)
    assert two["parameters"][0]["result"] == "SUCCESS_PERFORMED (1)"


def test_abort_with_cause(capsys: pytest.CaptureFixture[str]) -> None:
    abort = AbortChunk([ErrorCause(13, b"bad TSN")], tag_reflected=True)
    data = Packet(1, 2, 3, [abort]).serialize()
    status, out, _ = run(capsys, data.hex())
    assert status == 0
    assert "  [12] ABORT (type 6, RFC 9260 §3.3.7) flags 0x01 (T), length 15" in out
    assert "      - Protocol Violation (13, RFC 9260 §3.3.10.13)" in out.splitlines()
    assert "          reason: bad TSN" in out.splitlines()
    (chunk,) = as_json(capsys, data)["chunks"]
    assert chunk["T"] is True
    assert chunk["causes"] == [{"name": "Protocol Violation", "code": 13,
                                "rfc": "RFC 9260 §3.3.10.13", "length": 11, "reason": "bad TSN"}]


def test_every_other_chunk(capsys: pytest.CaptureFixture[str]) -> None:
    data = Packet(1, 2, 3, [
        HeartbeatChunk(b"\x00\x01"), HeartbeatAckChunk(b"\x00\x01"),
        ErrorChunk([ErrorCause(1, b"\x00\x07\x00\x00"), ErrorCause(99, b"\x01")]),
        ShutdownChunk(41), ShutdownAckChunk(), ShutdownCompleteChunk(),
        CookieEchoChunk(b"cookie"), ForwardTsnChunk(50, [(1, 2)]),
        IForwardTsnChunk(51, [(3, True, 4)]), UnknownChunk(0xC5, 0x07, b"abc"),
    ]).serialize()
    chunks = as_json(capsys, data)["chunks"]
    assert [c["name"] for c in chunks] == [
        "HEARTBEAT", "HEARTBEAT ACK", "ERROR", "SHUTDOWN", "SHUTDOWN ACK", "SHUTDOWN COMPLETE",
        "COOKIE ECHO", "FORWARD-TSN", "I-FORWARD-TSN", "unknown chunk"]
    assert chunks[0]["heartbeat_info"] == {"length": 2, "hex": "0001"}
    assert chunks[2]["causes"][0]["stream"] == 7
    assert chunks[2]["causes"][1]["name"] == "unknown cause"
    assert chunks[3]["cumulative_tsn_ack"] == 41
    assert chunks[5]["T"] is False
    assert chunks[6]["cookie_length"] == 6
    assert chunks[7]["streams"] == [{"stream": 1, "ssn": 2}]
    assert chunks[8]["streams"] == [{"stream": 3, "unordered": True, "mid": 4}]
    assert (chunks[9]["type"], chunks[9]["flags"], chunks[9]["value"]) == (0xC5, "0x07", "616263")
    assert "skip it, continue, and report" in chunks[9]["if_unrecognized"]
    status, out, _ = run(capsys, data.hex())
    assert status == 0 and "unknown chunk (type 197, RFC 9260 §3.2) flags 0x07" in out


def _aiortc_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(AIORTC.read_text())["cases"]
    return cases


@pytest.mark.parametrize("case", _aiortc_cases(), ids=lambda c: c["name"])
def test_aiortc_dcep_payloads(capsys: pytest.CaptureFixture[str], case: dict[str, Any]) -> None:
    # The capture holds the DCEP payloads aiortc sent, not whole SCTP packets: wrap each in the
    # DATA chunk it travelled in (PPID 50, its stream) and decode that.
    payload = bytes.fromhex("".join(case["hex"]).replace(" ", ""))
    data = Packet(5000, 5000, 1, [DataChunk(1, case["stream_id"], 0, 50, payload)]).serialize()
    (chunk,) = as_json(capsys, data)["chunks"]
    assert chunk["stream"] == case["stream_id"]
    dcep = chunk["dcep"]
    for key, value in case["fields"].items():
        assert dcep[key] == value, key
    status, out, _ = run(capsys, data.hex())
    assert status == 0 and f"      message_type: {case['fields']['message_type']}" in out


def test_malformed_dcep_is_a_failure_line(capsys: pytest.CaptureFixture[str]) -> None:
    data = Packet(1, 2, 3, [DataChunk(1, 0, 0, 50, b"\x03\x00")]).serialize()
    status, out, err = run(capsys, data.hex())
    assert status == 1
    assert "    dcep:" in out.splitlines()
    assert err.startswith("rtcstack decode: malformed sctp DCEP: ") and "(at byte offset 30)" in err


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (DATA_OPEN[:11], "11 bytes is shorter than the common header (at byte offset 0)"),
        (DATA_OPEN[:30], "chunk type 0: bad length 37 (at byte offset 12)"),
        (DATA_OPEN[:12] + b"\x00\x03\x00\x08\x00\x00",
         "chunk type 0: bad length 8 (at byte offset 12)"),
        (DATA_OPEN[:12] + b"\x00\x03\x00\x08\x00\x00\x00\x00",
         "DATA: 4 bytes, at least 12 needed (at byte offset 12)"),
        (DATA_OPEN[:12] + b"\x03\x00\x00\x0c" + bytes(8),
         "SACK: 8 bytes, at least 12 needed (at byte offset 12)"),
        (WEBRTC_INIT[:-2], "chunk type 1: bad length 40 (at byte offset 12)"),
        (WEBRTC_INIT[:47] + b"\x0c" + WEBRTC_INIT[48:],
         "parameter type 32769: bad length 12 (at byte offset 12)"),
    ],
)
def test_malformed_packets(capsys: pytest.CaptureFixture[str], data: bytes, message: str) -> None:
    status, out, err = run(capsys, data.hex())
    assert (status, out) == (1, "")
    assert err == f"rtcstack decode: malformed sctp: {message}\n"
    status, out, err = run(capsys, "--json", data.hex())
    assert status == 1 and "Traceback" not in err
    result = json.loads(out)
    assert result["kind"] == "sctp" and result["size"] == len(data)
    assert f"{result['error']} (at byte offset {result['offset']})" == message


def test_garbage_and_bad_hex(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "zz")
    assert (status, out, err) == (1, "", "rtcstack decode: not hex: 'z' after 0 hex digits\n")
    status, out, err = run(capsys, "ff" * 40)
    assert status == 1 and out == "" and err.startswith("rtcstack decode: malformed sctp: ")


def test_without_flag_sctp_is_not_guessed(capsys: pytest.CaptureFixture[str]) -> None:
    # Auto-detection stays RFC 9443 §3's: source port 5000 starts with 0x13, a ZRTP first byte.
    assert decode_datagram(DATA_OPEN)["kind"] == "zrtp"


def test_help_mentions_sctp(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["decode", "--help"])
    assert "--sctp" in capsys.readouterr().out


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    try:
        out = describe_sctp(data)
    except SctpParseError as exc:
        assert exc.offset is not None
        return
    json.dumps(out)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_packets_through_the_command(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from([DATA_OPEN, WEBRTC_INIT]))
    buf = bytearray(base)
    for _ in range(data.draw(st.integers(1, 6))):
        buf[data.draw(st.integers(12, len(buf) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(buf)))
    status = main(["decode", "--sctp", "--json", bytes(buf[:cut]).hex()])
    assert status in (0, 1)
