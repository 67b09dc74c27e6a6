"""``rtcstack decode`` on DTLS datagrams (RFC 6347 §4.1 records, §4.2 handshake): captured
OpenSSL and GnuTLS flights, flights of a :class:`DtlsConnection` pair, malformed input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcstack.cli.decode import decode
from rtcstack.cli.decode_dtls import describe_dtls, suite_name
from rtcstack.cli.main import main
from rtcstack.dtls.certificate import Certificate, certificate_fingerprint
from rtcstack.dtls.connection import DtlsConfig, DtlsConnection
from rtcstack.dtls.constants import HandshakeType
from rtcstack.dtls.messages import Certificate as CertificateMessage
from rtcstack.dtls.messages import ClientHello, fragment_handshake, parse_handshake_body
from rtcstack.dtls.record import Record

CAPTURES = Path(__file__).resolve().parent.parent / "rfc-vectors" / "captures"
VECTORS = sorted([*CAPTURES.glob("openssl-*/dtls-*.json"), *CAPTURES.glob("gnutls-*/dtls-*.json")])


def _load(path: Path) -> tuple[bytes, dict[str, Any]]:
    doc = json.loads(path.read_text())
    (case,) = doc["cases"]
    return bytes.fromhex("".join(case["hex"]).replace(" ", "")), doc


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    status = main(["decode", "--json", *args])
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return status, out


def _messages(decoded: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for r in decoded["records"] for f in r.get("fragments", ())]


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_captured_datagrams_match_their_vectors(capsys: pytest.CaptureFixture[str],
                                                path: Path) -> None:
    data, doc = _load(path)
    assert VECTORS, "no DTLS captures found"
    status, out = _json(capsys, data.hex())
    assert status == 0 and out["kind"] == "dtls"
    decoded = out["decoded"]
    assert decoded["errors"] == []
    (case,) = doc["cases"]
    assert len(decoded["records"]) == len(case["records"])
    for got, want in zip(decoded["records"], case["records"], strict=True):
        assert got["content_type"] == "HANDSHAKE" and want["content_type"] == 22
        assert got["version"].endswith(f"(0x{want['version']})")
        assert (got["epoch"], got["sequence_number"], got["length"]) == (
            want["epoch"], want["sequence_number"], want["length"])
        for frag, wfrag in zip(got["fragments"], want["fragments"], strict=True):
            assert frag["msg_type"] == HandshakeType(wfrag["msg_type"]).name
            for key in ("length", "message_seq", "fragment_offset", "fragment_length"):
                assert frag[key] == wfrag[key]
    fragments = _messages(decoded)
    for frag, message in zip(fragments, doc["expected"]["messages"], strict=True):
        assert frag["msg_type"] == message["msg_type"]
        fields, shown = message["fields"], frag["message"]
        for key in ("random", "cookie"):
            if key in fields:
                assert shown[key] == (fields[key] or "(empty)")
        if "cipher_suites" in fields:
            assert shown["cipher_suites"] == [suite_name(s) for s in fields["cipher_suites"]]
            assert not any(s.startswith("unknown") for s in shown["cipher_suites"])
        if "extensions" in fields:
            assert [e["type"] for e in shown["extensions"]] == [
                e["type"] for e in fields["extensions"]]
        if "certificates" in fields:
            der = bytes.fromhex(fields["certificates"][0])
            assert shown["count"] == 1
            cert = shown["certificates"][0]
            assert cert["sha-256"] == certificate_fingerprint(der)
            assert cert["subject"] == "CN=rtcstack-capture" == cert["issuer"]
            assert cert["not_before"].startswith("2026-11-21")
            assert cert["public_key"] == "EC secp256r1"


def test_openssl_client_hello_extensions_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = _load(CAPTURES / "openssl-3.0.22" / "dtls-client-hello.json")
    _, out = _json(capsys, data.hex())
    (frag,) = _messages(out["decoded"])
    hello = frag["message"]
    assert hello["client_version"] == "DTLS 1.2 (0xfefd)"
    assert hello["cipher_suites"][0] == "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
    assert hello["cipher_suites"][-1] == "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"
    assert hello["compression_methods"] == ["null"]
    ext = {e["name"]: e["value"] for e in hello["extensions"]}
    assert ext["supported_groups"] == ["x25519", "secp256r1", "x448", "secp521r1", "secp384r1"]
    assert ext["use_srtp"] == {"profiles": ["SRTP_AES128_CM_HMAC_SHA1_80",
                                            "SRTP_AEAD_AES_128_GCM"], "mki": "(empty)"}
    assert ext["extended_master_secret"] is True
    assert ext["ec_point_formats"][0] == "uncompressed"
    assert ext["signature_algorithms"][:2] == ["ecdsa_secp256r1_sha256", "ecdsa_secp384r1_sha384"]
    # human output names them too
    assert main(["decode", data.hex()]) == 0
    text = capsys.readouterr().out
    assert "use_srtp (14):" in text and "SRTP_AEAD_AES_128_GCM" in text
    assert "msg_type: CLIENT_HELLO" in text


def test_gnutls_unknown_extension_is_type_and_hex(capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = _load(CAPTURES / "gnutls-3.7.9" / "dtls-client-hello.json")
    _, out = _json(capsys, data.hex())
    (frag,) = _messages(out["decoded"])
    ext = {e["type"]: e for e in frag["message"]["extensions"]}
    assert ext[5] == {"name": "status_request", "type": 5, "value": "0100000000"}
    assert ext[28]["value"] == 16384  # record_size_limit
    assert ext[0xFF01]["value"] == {"renegotiated_connection": "(empty)"}


def test_server_flight_key_exchange_and_request(capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = _load(CAPTURES / "openssl-3.0.22" / "dtls-server-flight.json")
    _, out = _json(capsys, data.hex())
    by_type = {f["msg_type"]: f["message"] for f in _messages(out["decoded"])}
    assert by_type["SERVER_HELLO"]["cipher_suite"] == "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
    ske = by_type["SERVER_KEY_EXCHANGE"]
    assert (ske["named_group"], ske["public_key_size"], ske["signature_scheme"]) == (
        "x25519", 32, "ecdsa_secp256r1_sha256")
    assert by_type["CERTIFICATE_REQUEST"]["certificate_types"] == [
        "rsa_sign", "dss_sign", "ecdsa_sign"]
    assert by_type["SERVER_HELLO_DONE"] == {"body": "(empty)"}
    assert [r["offset"] for r in out["decoded"]["records"]] == [0, 95, 525, 661, 734]


# --- flights of a DtlsConnection pair ---------------------------------------------------------


@pytest.fixture(scope="module")
def flights() -> list[tuple[str, bytes]]:
    """Every datagram of an in-memory handshake (cookie exchange on) and one application
    record, in order, tagged with its sender."""
    ccert, scert = Certificate.generate(), Certificate.generate()
    client = DtlsConnection(DtlsConfig(ccert, [("sha-256", scert.fingerprint("sha-256"))]),
                            "client")
    server = DtlsConnection(DtlsConfig(scert, [("sha-256", ccert.fingerprint("sha-256"))]),
                            "server")
    sent: list[tuple[str, bytes]] = []
    client.connect(now=0.0)
    peers = {"client": (client, server), "server": (server, client)}
    for _ in range(10):
        moved = False
        for name, (src, dst) in peers.items():
            while (datagram := src.poll_transmit()) is not None:
                sent.append((name, datagram))
                dst.handle_datagram(datagram, now=0.0)
                moved = True
        if not moved:
            break
    client.send(b"hello")
    datagram = client.poll_transmit()
    assert datagram is not None
    sent.append(("client", datagram))
    return sent


def test_connection_pair_flights(flights: list[tuple[str, bytes]]) -> None:
    decoded = [describe_dtls(d) for _, d in flights]
    assert all(d["errors"] == [] for d in decoded)
    types = [f["msg_type"] for d in decoded for f in _messages(d)]
    assert types[:3] == ["CLIENT_HELLO", "HELLO_VERIFY_REQUEST", "CLIENT_HELLO"]
    for expected in ("SERVER_HELLO", "CERTIFICATE", "SERVER_KEY_EXCHANGE", "CERTIFICATE_REQUEST",
                     "SERVER_HELLO_DONE", "CLIENT_KEY_EXCHANGE", "CERTIFICATE_VERIFY"):
        assert expected in types
    frags = {f["msg_type"]: f for d in decoded for f in _messages(d)}
    assert frags["CLIENT_KEY_EXCHANGE"]["message"]["point_format"] in ("uncompressed", "raw")
    assert frags["CERTIFICATE_VERIFY"]["message"]["signature_scheme"] == "ecdsa_secp256r1_sha256"
    second_hello = [f for d in decoded for f in _messages(d)][2]["message"]
    assert second_hello["cookie"] != "(empty)"
    records = [r for d in decoded for r in d["records"]]
    ccs = [r for r in records if r["content_type"] == "CHANGE_CIPHER_SPEC"]
    assert len(ccs) == 2 and all(r["change_cipher_spec"] == "change_cipher_spec (1)" for r in ccs)
    encrypted = [r for r in records if r["epoch"] > 0]
    # both Finished messages and the application record
    assert len(encrypted) == 3
    for r in encrypted:
        assert r["payload"] == f"encrypted, {r['length']} bytes" and "fragments" not in r
    assert encrypted[-1]["content_type"] == "APPLICATION_DATA"


def test_fragmented_certificate_shows_pieces(flights: list[tuple[str, bytes]]) -> None:
    # RFC 6347 §4.2.3: the server's Certificate split into 200-byte fragments, one per record
    body = next(
        f["message"] for _, d in flights for f in _messages(describe_dtls(d))
        if f["msg_type"] == "CERTIFICATE"
    )
    assert body["count"] == 1
    der = Certificate.generate().der
    msg = CertificateMessage((der,)).serialize()
    pieces = fragment_handshake(int(HandshakeType.CERTIFICATE), 2, msg, 200)
    assert len(pieces) > 1
    datagram = b"".join(Record(22, 0xFEFD, 0, i, p).serialize() for i, p in enumerate(pieces))
    out = describe_dtls(datagram)
    assert out["errors"] == []
    frags = _messages(out)
    assert frags[0]["fragment"] == f"fragment (0/188 of {len(msg)})"
    assert all("message" not in f for f in frags)
    # a whole message in one record decodes fully
    whole = Record(22, 0xFEFD, 0, 0, fragment_handshake(11, 2, msg, 5000)[0]).serialize()
    (frag,) = _messages(describe_dtls(whole))
    assert frag["message"]["certificates"][0]["sha-256"] == certificate_fingerprint(der)


def test_alert_and_unknown_values() -> None:
    alert = Record(21, 0xFEFD, 0, 7, b"\x02\x28").serialize()
    (record,) = describe_dtls(alert)["records"]
    assert record["alert"] == {"level": "FATAL", "description": "HANDSHAKE_FAILURE"}
    odd = Record(21, 0xFEFD, 0, 8, b"\x09\xee").serialize()
    assert describe_dtls(odd)["records"][0]["alert"] == {
        "level": "unknown (9)", "description": "unknown (238)"}
    encrypted_alert = Record(21, 0xFEFD, 1, 0, bytes(26)).serialize()
    assert describe_dtls(encrypted_alert)["records"][0]["payload"] == "encrypted, 26 bytes"
    hello = ClientHello(0xFEFD, bytes(32), b"", b"", (0x1A1A, 0xC02B, 0x9999), b"\x00",
                        ((0x2A2A, b""), (0x7777, b"\x01\x02"), (51, bytes.fromhex(
                            "0024001d0020") + bytes(32)))).serialize()
    body = Record(22, 0xFEFD, 0, 0, fragment_handshake(1, 0, hello, 5000)[0]).serialize()
    (frag,) = _messages(describe_dtls(body))
    msg = frag["message"]
    assert msg["cipher_suites"] == ["GREASE 0x1a1a", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                                    "unknown 0x9999"]
    assert msg["extensions"][0]["name"] == "GREASE"
    assert msg["extensions"][1] == {"name": "unknown", "type": 0x7777, "value": "0102"}
    assert msg["extensions"][2]["value"] == ["x25519: 32 bytes"]
    assert isinstance(parse_handshake_body(1, hello), ClientHello)


def test_dtls13_unified_header() -> None:
    # RFC 9147 §4: 0b001 C=0 S=1 L=1 EE=3, 16-bit sequence, 16-bit length
    datagram = bytes([0x2F, 0x12, 0x34, 0x00, 0x05]) + bytes(5)
    out = describe_dtls(datagram)
    (record,) = out["records"]
    assert record["encrypted_sequence_number"] == 0x1234 and record["epoch_low_bits"] == 3
    assert record["payload"] == "encrypted, 5 bytes" and out["errors"] == []


# --- malformed input: failure lines, never exceptions -----------------------------------------


def test_truncated_record_keeps_earlier_records(capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = _load(CAPTURES / "openssl-3.0.22" / "dtls-server-flight.json")
    cut = data[:600]
    assert main(["decode", cut.hex()]) == 1
    captured = capsys.readouterr()
    assert "SERVER_HELLO" in captured.out and "CERTIFICATE" in captured.out
    assert "malformed dtls record: length 123 but 62 bytes follow (at byte offset 536)" in (
        captured.err)
    status, out = _json(capsys, cut.hex())
    assert status == 1 and len(out["decoded"]["records"]) == 3
    assert out["decoded"]["errors"] == [
        {"where": "record", "reason": "length 123 but 62 bytes follow", "offset": 536}]


def test_bad_body_is_located() -> None:
    data, _ = _load(CAPTURES / "openssl-3.0.22" / "dtls-hello-verify-request.json")
    bad = bytearray(data)
    bad[27] = 0x30  # cookie length 48 > the 20 bytes left
    out = describe_dtls(bytes(bad))
    (error,) = out["errors"]
    assert error["where"] == "HELLO_VERIFY_REQUEST" and error["offset"] == 28
    assert "error" in _messages(out)[0]["message"]
    out = describe_dtls(bytes([22]) + bytes(5))
    assert out["errors"][0]["reason"].startswith("DTLS record header truncated")
    ccs = describe_dtls(Record(20, 0xFEFD, 0, 0, b"\x02").serialize())
    assert ccs["errors"][0]["where"] == "ChangeCipherSpec"


def test_bad_extension_is_reported() -> None:
    hello = ClientHello(0xFEFD, bytes(32), b"", b"", (0xC02B,), b"\x00",
                        ((10, b"\x00\x03\x00"), (23, b"x"))).serialize()
    out = describe_dtls(Record(22, 0xFEFD, 0, 0,
                               fragment_handshake(1, 0, hello, 5000)[0]).serialize())
    assert [e["where"] for e in out["errors"]] == [
        "extension supported_groups", "extension extended_master_secret"]
    value = _messages(out)[0]["message"]["extensions"][1]["value"]
    assert value["data"] == "78" and "must be empty" in value["error"]


@settings(max_examples=400, deadline=None)
@given(st.integers(20, 63), st.binary(max_size=300))
def test_arbitrary_dtls_bytes_never_raise(first: int, rest: bytes) -> None:
    data = bytes([first]) + rest
    result = decode(data)
    assert result["kind"] == "dtls"
    json.dumps(result)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_captures_never_raise(data: st.DataObject) -> None:
    raw, _ = _load(data.draw(st.sampled_from(VECTORS)))
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(buf)))
    buf[0] = 22
    out = describe_dtls(bytes(buf[:cut]))
    json.dumps(out)
