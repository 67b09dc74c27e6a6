"""RFC 5769 and RFC 8489 Appendix B STUN vectors, RFC 2202 HMAC-SHA1, and the vector loader.

Each STUN vector is checked in both directions: parse -> every expected field, integrity and
fingerprint (and their failure on a wrong key or a flipped byte); fields + key + padding byte ->
serialize -> the exact bytes of the RFC.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from rtcstack import ParseError
from rtcstack.cli.vectors import (
    CHECKERS,
    attribute_from_description,
    check_vector,
    decode_case_bytes,
    vector_key,
)
from rtcstack.stun import (
    IceControlled,
    Message,
    MessageClass,
    Method,
    Nonce,
    PasswordAlgorithm,
    PasswordAlgorithmId,
    Priority,
    Realm,
    Software,
    Userhash,
    Username,
    XorMappedAddress,
    long_term_key,
    saslprep,
    userhash,
)
from rtcstack.stun import message as message_module
from rtcstack.vectors import SCHEMA, Vector, VectorError, all_vectors, load, load_file

STUN_VECTORS = [v for v in all_vectors() if v.kind == "stun-message"]
INTEGRITY_NAMES = ("MESSAGE-INTEGRITY", "MESSAGE-INTEGRITY-SHA256", "FINGERPRINT")
KATAKANA_USER = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9"  # マトリックス, RFC 5769 §2.4
RFC_PASSWORD = "The\u00adM\u00aatr\u2168"  # "The<U+00AD>M<U+00AA>tr<U+2168>"


def _ids(vectors: list[Vector]) -> list[str]:
    return [f"rfc{v.rfc}-{v.name}" for v in vectors]


def _message(v: Vector) -> Message:
    return Message.parse(v.data)


def _covered_end(v: Vector, msg: Message) -> int:
    """End of the bytes covered by the first integrity attribute (its start offset)."""
    return next(off for off in msg.offsets[:2] if off >= 0)


def test_the_expected_vectors_are_present() -> None:
    names = {(v.rfc, v.name) for v in all_vectors()}
    assert {
        (5769, "sample-request"),
        (5769, "sample-ipv4-response"),
        (5769, "sample-ipv6-response"),
        (5769, "sample-request-long-term"),
        (8489, "b1-as-published"),
        (8489, "b1-errata-6268"),
        (2202, "hmac-sha1"),
    } <= names


@pytest.mark.parametrize("vector", all_vectors(), ids=_ids(all_vectors()))
def test_every_vector_passes_its_checker(vector: Vector) -> None:
    assert vector.kind in CHECKERS, f"{vector.path}: no checker for kind {vector.kind!r}"
    assert check_vector(vector) == []


# --- parse direction --------------------------------------------------------------------------


@pytest.mark.parametrize("vector", STUN_VECTORS, ids=_ids(STUN_VECTORS))
def test_parse_gives_every_expected_field(vector: Vector) -> None:
    msg = _message(vector)
    exp = vector.expected
    assert msg.method == Method[exp["method"]]
    assert msg.message_class == MessageClass[exp["class"]]
    assert msg.transaction_id == bytes.fromhex(exp["transaction_id"])
    want = tuple(attribute_from_description(a["name"], a["value"]) for a in exp["attributes"])
    assert msg.attributes == want
    assert msg.ignored == ()
    assert msg.raw == vector.data


def test_sample_request_fields_by_hand() -> None:
    """RFC 5769 §2.1, spelled out with the typed API rather than the vector file's form."""
    msg = _message(load(5769, "sample-request"))
    assert msg.get(Software) == Software("STUN test client")
    assert msg.get(Priority) == Priority(0x6E0001FF)
    assert msg.get(IceControlled) == IceControlled(0x932FF9B151263B36)
    assert msg.get(Username) == Username("evtj:h6vY")


def test_ipv4_and_ipv6_mapped_addresses() -> None:
    v4 = _message(load(5769, "sample-ipv4-response")).get(XorMappedAddress)
    v6 = _message(load(5769, "sample-ipv6-response")).get(XorMappedAddress)
    assert v4 == XorMappedAddress(("192.0.2.1", 32853))
    assert v6 == XorMappedAddress(("2001:db8:1234:5678:11:2233:4455:6677", 32853))


@pytest.mark.parametrize("vector", STUN_VECTORS, ids=_ids(STUN_VECTORS))
def test_integrity_verifies_and_a_wrong_key_fails(vector: Vector) -> None:
    msg, key, exp = _message(vector), vector_key(vector), vector.expected
    wrong_keys = [key[:-1] + bytes([key[-1] ^ 1]), b"", key + b"x", b"\xff" + key[1:]]
    for flag, check in (
        ("integrity", msg.check_integrity),
        ("integrity_sha256", msg.check_integrity_sha256),
    ):
        assert check(key) is bool(exp[flag])
        for wrong in wrong_keys:
            assert check(wrong) is False
    assert msg.check_fingerprint() is bool(exp["fingerprint"])


@pytest.mark.parametrize("vector", STUN_VECTORS, ids=_ids(STUN_VECTORS))
def test_a_flipped_covered_byte_breaks_integrity(vector: Vector) -> None:
    """RFC 8489 §14.5/§14.6: every byte before the integrity attribute is covered (the length
    field is replaced, so bytes 2-3 are excluded here)."""
    msg, key = _message(vector), vector_key(vector)
    check = "check_integrity" if vector.expected["integrity"] else "check_integrity_sha256"
    parsed = 0
    for pos in [0, 1, *range(4, _covered_end(vector, msg))]:
        data = bytearray(vector.data)
        data[pos] ^= 0x01
        try:
            mutated = Message.parse(bytes(data))
        except ParseError:
            continue
        parsed += 1
        assert getattr(mutated, check)(key) is False, f"flipped byte {pos} still verifies"
    assert parsed > 0


@pytest.mark.parametrize(
    "vector", [v for v in STUN_VECTORS if v.expected["fingerprint"]], ids=lambda v: v.name
)
def test_a_flipped_byte_breaks_the_fingerprint(vector: Vector) -> None:
    fp = _message(vector).offsets[2]
    parsed = 0
    for pos in range(len(vector.data)):
        if pos in (2, 3) or fp <= pos < fp + 4:
            continue  # the length field is rewritten; the FINGERPRINT header is checked by type
        data = bytearray(vector.data)
        data[pos] ^= 0x80
        try:
            mutated = Message.parse(bytes(data))
        except ParseError:
            continue
        parsed += 1
        assert mutated.check_fingerprint() is False, f"flipped byte {pos}"
    assert parsed > 0


# --- serialize direction ----------------------------------------------------------------------


@pytest.mark.parametrize("vector", STUN_VECTORS, ids=_ids(STUN_VECTORS))
def test_serialize_from_fields_gives_the_exact_bytes(vector: Vector) -> None:
    exp, key = vector.expected, vector_key(vector)
    attributes = [
        attribute_from_description(a["name"], a["value"])
        for a in exp["attributes"]
        if a["name"] not in INTEGRITY_NAMES
    ]
    message = Message(
        Method[exp["method"]],
        MessageClass[exp["class"]],
        bytes.fromhex(exp["transaction_id"]),
        tuple(attributes),
    )
    data = message.serialize(
        integrity_key=key if exp["integrity"] else None,
        integrity_sha256_key=key if exp["integrity_sha256"] else None,
        fingerprint=exp["fingerprint"],
        padding=bytes.fromhex(vector.inputs["padding"]),
    )
    assert data.hex() == vector.data.hex()


def test_sample_request_serialized_by_hand() -> None:
    """RFC 5769 §2.1 from its parameters: padding 0x20, short-term password."""
    request = Message(
        Method.BINDING,
        MessageClass.REQUEST,
        bytes.fromhex("b7e7a701bc34d686fa87dfae"),
        (
            Software("STUN test client"),
            Priority(0x6E0001FF),
            IceControlled(0x932FF9B151263B36),
            Username("evtj:h6vY"),
        ),
    )
    data = request.serialize(
        integrity_key=b"VOkJxbRl1RmTxUk/WvJxBt", fingerprint=True, padding=b"\x20"
    )
    assert data == load(5769, "sample-request").data


def test_long_term_sasl_prep_steps() -> None:
    """RFC 5769 §2.4: the password is "TheMatrIX" after SASLprep (RFC 4013): U+00AD is mapped
    to nothing, U+00AA and U+2168 are NFKC-normalised to "a" and "IX"."""
    assert saslprep("\u00ad") == ""
    assert saslprep("\u00aa") == "a"
    assert saslprep("\u2168") == "IX"
    assert saslprep(RFC_PASSWORD) == "TheMatrIX"
    assert saslprep(KATAKANA_USER) == KATAKANA_USER
    vector = load(5769, "sample-request-long-term")
    material = f"{KATAKANA_USER}:example.org:TheMatrIX".encode()
    assert vector_key(vector) == hashlib.md5(material, usedforsecurity=False).digest()
    assert vector_key(vector) == long_term_key(
        KATAKANA_USER, "example.org", RFC_PASSWORD, prepare=saslprep
    )


# --- RFC 8489 Appendix B.1 and Errata ID 6268 -------------------------------------------------


def _sha256_key() -> bytes:
    return long_term_key(KATAKANA_USER, "example.org", "TheMatrIX", PasswordAlgorithmId.SHA256)


def test_rfc8489_b1_as_published_is_rejected_for_its_length() -> None:
    """RFC 8489 §6.3: the length field must match; the printed dump says 156 for 136 bytes."""
    data = load(8489, "b1-as-published").data
    assert len(data) == 156 and data[2:4] == b"\x00\x9c"
    with pytest.raises(ParseError) as info:
        Message.parse(data)
    assert info.value.offset == 2
    assert "156" in info.value.reason and "136" in info.value.reason


def test_rfc8489_b1_as_published_userhash_and_hmac_reproduce() -> None:
    data = load(8489, "b1-as-published").data
    # USERHASH value: bytes 24..56 (after its 4-byte header at 20).
    assert data[20:24] == b"\x00\x1e\x00\x20"
    assert data[24:56] == userhash(KATAKANA_USER, "example.org")
    # MESSAGE-INTEGRITY-SHA256 is the last attribute; its HMAC covers the header *as printed*.
    off = len(data) - 36
    assert data[off : off + 4] == b"\x00\x1c\x00\x20"
    assert hmac.digest(_sha256_key(), data[:off], "sha256") == data[off + 4 :]
    # With the length corrected the published HMAC no longer verifies: the bytes really are wrong.
    fixed = Message.parse(data[:2] + (len(data) - 20).to_bytes(2, "big") + data[4:])
    assert fixed.check_integrity_sha256(_sha256_key()) is False


def test_rfc8489_errata_6268_built_by_our_serializer() -> None:
    """Errata ID 6268: PASSWORD-ALGORITHM (SHA-256) after REALM, length 0x90, new HMAC."""
    vector = load(8489, "b1-errata-6268")
    request = Message(
        Method.BINDING,
        MessageClass.REQUEST,
        bytes.fromhex("78ad3433c6ad72c029da412e"),
        (
            Userhash(userhash(KATAKANA_USER, "example.org")),
            Nonce("obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA"),
            Realm("example.org"),
            PasswordAlgorithm(PasswordAlgorithmId.SHA256),
        ),
    )
    data = request.serialize(integrity_sha256_key=_sha256_key())
    assert data[2:4] == b"\x00\x90"
    assert data[-44:-36] == bytes.fromhex("001d000400020000")
    assert data.hex() == vector.data.hex()
    # Everything but the length, PASSWORD-ALGORITHM and the HMAC is the published dump.
    published = load(8489, "b1-as-published").data
    assert data[4:120] == published[4:120]
    assert data[128:132] == published[120:124]
    assert Message.parse(data).check_integrity_sha256(_sha256_key())


# --- RFC 2202 HMAC-SHA1 -----------------------------------------------------------------------


def _hmac_functions() -> list[tuple[str, object]]:
    """``hmac.digest`` and, when message.py has one, the HMAC helper it calls."""
    functions: list[tuple[str, object]] = [("hmac.digest", hmac.digest)]
    helper = getattr(message_module, "_hmac", None)
    if helper is not None:
        functions.append(("message._hmac", helper))
    return functions


@pytest.mark.parametrize("case", load(2202, "hmac-sha1").cases, ids=lambda c: str(c["test_case"]))
def test_rfc2202_hmac_sha1(case: dict[str, object]) -> None:
    key = decode_case_bytes(case["key"])  # type: ignore[arg-type]
    data = decode_case_bytes(case["data"])  # type: ignore[arg-type]
    assert (len(key), len(data)) == (case["key_len"], case["data_len"])
    for name, function in _hmac_functions():
        digest = function(key, data, "sha1")  # type: ignore[operator]
        assert digest.hex() == case["digest"], name
        if "digest_96" in case:
            assert digest[:12].hex() == case["digest_96"], name


def test_rfc2202_has_seven_cases() -> None:
    assert [c["test_case"] for c in load(2202, "hmac-sha1").cases] == [1, 2, 3, 4, 5, 6, 7]


# --- the checkers catch a wrong vector --------------------------------------------------------


def _with_expected(v: Vector, **changes: object) -> Vector:
    return dataclasses.replace(v, expected={**v.expected, **changes})


def test_checker_reports_a_wrong_attribute_value() -> None:
    v = load(5769, "sample-request")
    attrs = [dict(a) for a in v.expected["attributes"]]
    attrs[0]["value"] = "STUN test clienT"
    problems = check_vector(_with_expected(v, attributes=attrs))
    assert any("attribute 0" in p for p in problems)
    assert any("serialized from fields" in p for p in problems)


def test_checker_reports_a_flipped_byte() -> None:
    v = load(5769, "sample-ipv4-response")
    data = bytearray(v.data)
    data[30] ^= 0x01  # inside SOFTWARE
    problems = check_vector(dataclasses.replace(v, data=bytes(data)))
    assert any("MESSAGE-INTEGRITY" in p for p in problems)
    assert any("FINGERPRINT" in p for p in problems)


def test_checker_reports_a_wrong_password() -> None:
    v = load(5769, "sample-request-long-term")
    problems = check_vector(dataclasses.replace(v, inputs={**v.inputs, "password": "TheMatrIX!"}))
    assert any("MESSAGE-INTEGRITY: verification failed" in p for p in problems)


def test_checker_reports_a_published_erratum_that_parses() -> None:
    v = load(8489, "b1-errata-6268")
    erratum = dataclasses.replace(
        load(8489, "b1-as-published"), data=v.data, expected=load(8489, "b1-as-published").expected
    )
    assert any("parsed" in p for p in check_vector(erratum))


def test_checker_reports_a_wrong_hmac_case() -> None:
    v = load(2202, "hmac-sha1")
    cases = [dict(c) for c in v.cases]
    cases[1]["digest"] = "00" * 20
    assert check_vector(dataclasses.replace(v, cases=tuple(cases))) == [
        f"case 2: digest effcdf6ae5eb2fa2d27416d5f184df9c259a7c79, RFC has {'00' * 20}"
    ]


def test_unknown_kind_is_a_problem_not_a_pass() -> None:
    v = dataclasses.replace(load(5769, "sample-request"), kind="dtls-record")
    assert check_vector(v) == ["no checker for kind 'dtls-record'"]


# --- the loader -------------------------------------------------------------------------------


def _write(tmp_path: Path, rel: str, doc: object) -> Path:
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def _minimal(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "schema": SCHEMA,
        "rfc": 5769,
        "section": "2.1",
        "title": "t",
        "layer": "stun",
        "kind": "stun-message",
        "source": "RFC 5769 §2.1",
        "hex": ["00 01 00 00", "21 12 a4 42"],
    }
    doc.update(changes)
    return doc


def test_load_returns_the_fields() -> None:
    v = load(5769, "sample-request")
    assert (v.rfc, v.section, v.title, v.layer, v.kind) == (
        5769,
        "2.1",
        "Sample Request",
        "stun",
        "stun-message",
    )
    assert v.data[:4] == b"\x00\x01\x00\x58" and len(v.data) == 108
    assert v.hex_lines[0] == "00 01 00 58" and len(v.hex_lines) == 27
    assert v.inputs["password"] == "VOkJxbRl1RmTxUk/WvJxBt"
    assert "rfc5769#section-2.1" in v.source
    assert v.label == "RFC 5769 §2.1" and v.name == "sample-request"


def test_load_file_accepts_a_minimal_vector(tmp_path: Path) -> None:
    v = load_file(_write(tmp_path, "rfc5769/x.json", _minimal()))
    assert v.data == bytes.fromhex("0001000021 12a442".replace(" ", ""))
    assert v.inputs == {} and v.expected == {} and v.cases == () and v.notes == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON at line 1"),
        ("[1, 2]", "top level is list"),
        (_minimal(schema="other/1"), "schema is 'other/1'"),
        (_minimal(rfc="5769"), "field 'rfc'"),
        (_minimal(rfc=True), "field 'rfc'"),
        (_minimal(hex=["00 01 0"]), "hex[0]"),
        (_minimal(hex=["0001 0000"]), "hex[0]"),
        (_minimal(hex=[1]), "hex[0]"),
        (_minimal(inputs=[]), "'inputs' must be an object"),
        (_minimal(cases={}), "'cases' must be a list"),
        ({k: v for k, v in _minimal().items() if k != "kind"}, "missing field 'kind'"),
    ],
)
def test_malformed_files_name_the_file(tmp_path: Path, content: object, message: str) -> None:
    path = _write(tmp_path, "rfc5769/broken.json", content)
    with pytest.raises(VectorError) as info:
        load_file(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_all_vectors_reports_the_broken_file(tmp_path: Path) -> None:
    _write(tmp_path, "rfc5769/good.json", _minimal())
    bad = _write(tmp_path, "rfc5769/bad.json", "{")
    with pytest.raises(VectorError, match=str(bad)):
        all_vectors(tmp_path)


def test_a_file_under_the_wrong_rfc_folder_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "rfc8489/x.json", _minimal())
    with pytest.raises(VectorError, match="rfc8489"):
        all_vectors(tmp_path)


def test_environment_variable_selects_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, "rfc5769/only.json", _minimal(section="9.9"))
    monkeypatch.setenv("RTCSTACK_VECTORS", str(tmp_path))
    vectors = all_vectors()
    assert [(v.name, v.section) for v in vectors] == [("only", "9.9")]
    assert load(5769, "only").section == "9.9"
    with pytest.raises(FileNotFoundError):
        load(5769, "sample-request")
    monkeypatch.setenv("RTCSTACK_VECTORS", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="RTCSTACK_VECTORS"):
        all_vectors()


def test_vectors_are_sorted_by_rfc_and_section(tmp_path: Path) -> None:
    for section in ("2.10", "2.9", "B.1", "10"):
        _write(tmp_path, f"rfc5769/s{section}.json", _minimal(section=section))
    assert [v.section for v in all_vectors(tmp_path)] == ["2.9", "2.10", "10", "B.1"]


def test_layer_filter() -> None:
    assert all(v.layer == "stun" for v in all_vectors(layer="stun"))
    assert all_vectors(layer="no-such-layer") == []
