"""``rtcstack vectors``: list the RFC test vectors in ``rfc-vectors/`` and check each one.

Every vector has a ``kind``; :data:`CHECKERS` maps a kind to a function that returns the list of
problems found (empty: the implementation agrees with the RFC).  A kind without a checker is
reported as such, never as a pass.  The checkers are plain functions so that tests reuse them:
:func:`check_vector` is what ``tests/test_stun_vectors.py`` calls.

Kinds:

- ``stun-message``: RFC 8489 §5-6 / RFC 5769.  Parse; compare method, class, transaction ID and
  every attribute; verify MESSAGE-INTEGRITY (§14.5), MESSAGE-INTEGRITY-SHA256 (§14.6) and
  FINGERPRINT (§14.7) with the key derived from ``inputs`` (and that a wrong key fails); build
  the message again from the expected fields with the key and padding byte and compare the
  bytes; re-serialize the parsed attributes and compare again.
- ``stun-message-published-erratum``: a vector printed wrongly in its RFC (RFC 8489 Appendix
  B.1).  The parser must reject it with the expected reason; the parts that do reproduce are
  checked (see the vector's notes).
- ``hmac-sha1``: RFC 2202 §3 cases for HMAC-SHA1, the MESSAGE-INTEGRITY primitive.
- ``sdp-description``: a whole session description as text (RFC 8866 and the WebRTC RFCs).
  Parse; compare the expected fields (sections, mids, codecs, candidates, rids, simulcast,
  BUNDLE groups, ICE and DTLS attributes); serialize and compare the exact text; re-serialize
  every typed attribute and compare its value; run ``rtcstack.sdp.check`` and compare the rule
  ids it reports.  ``expected.parse_error`` instead: the parser must reject the text.
- ``sdp-attribute``: single attribute lines (``a=name:value``, or trickled ``name:value``):
  parse with the typed class, compare the fields, serialize back to the exact value.
"""

from __future__ import annotations

import argparse
import dataclasses
import hmac
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rtcstack.dtls.kat import CHECKERS as DTLS_KAT_CHECKERS
from rtcstack.dtls.vectors import CHECKERS as DTLS_CHECKERS
from rtcstack.ice.turn import CHECKERS as TURN_CHECKERS
from rtcstack.ice.vectors import CHECKERS as ICE_CHECKERS
from rtcstack.rtp.formats.vectors import CHECKERS as RTP_PAYLOAD_CHECKERS
from rtcstack.sctp.vectors import CHECKERS as SCTP_CHECKERS
from rtcstack.srtp.vectors import CHECKERS as SRTP_CHECKERS
from rtcstack.vectors import Vector, VectorError, all_vectors

__all__ = [
    "CHECKERS",
    "attribute_from_description",
    "check_sdp_attribute",
    "check_sdp_description",
    "check_vector",
    "configure",
    "decode_case_bytes",
    "run",
    "vector_key",
]


# --- attributes from their JSON description ---------------------------------------------------


def attribute_from_description(name: str, value: Any) -> Any:
    """The attribute whose ``attribute_name`` is ``name`` and whose ``describe()`` is ``value``.

    The inverse of ``{"name": attribute_name(a.type), "value": a.describe()}``, the form vector
    files use for expected attributes.  Unknown types are written ``"0x1234"`` with a hex value.
    PASSWORD-ALGORITHM(S) accept ``"SHA256"`` (no parameters) or
    ``{"algorithm": "SHA256", "parameters": "<hex>"}``.
    """
    from rtcstack.stun import attributes as A

    by_name = {cls.NAME: cls for cls in A.REGISTRY.values()}
    cls = by_name.get(name)
    if cls is None:
        if name.lower().startswith("0x"):
            return A.UnknownAttribute(int(name, 16), bytes.fromhex(value))
        raise ValueError(f"unknown attribute name {name!r}")
    if cls is A.PasswordAlgorithm:
        algorithm, parameters = _algorithm_spec(value)
        return A.PasswordAlgorithm(algorithm, parameters)
    if cls is A.PasswordAlgorithms:
        specs = (A.PasswordAlgorithmSpec(*_algorithm_spec(v)) for v in value)
        return A.PasswordAlgorithms(tuple(specs))
    if cls is A.UnknownAttributes:
        return A.UnknownAttributes(tuple(int(t, 16) for t in value))
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if not fields:  # a flag such as USE-CANDIDATE: describe() is True
        if value is not True:
            raise ValueError(f"{name}: a flag attribute is written as true, not {value!r}")
        return cls()
    if isinstance(value, dict):
        kwargs = {
            f.name: (bytes.fromhex(value[f.name]) if f.type == "bytes" else value[f.name])
            for f in fields
            if f.name in value
        }
        return cls(**kwargs)
    (only,) = fields
    if only.type == "Address":
        host, _, port = str(value).rpartition(":")
        return cls((host.strip("[]"), int(port)))  # type: ignore[call-arg]
    if only.type == "bytes":
        return cls(bytes.fromhex(value))  # type: ignore[call-arg]
    if only.name == "family":
        return cls(int(A.AddressFamily[value]))  # type: ignore[call-arg]
    return cls(value)  # type: ignore[call-arg]


def _algorithm_spec(value: Any) -> tuple[int, bytes]:
    from rtcstack.stun.attributes import PasswordAlgorithmId

    if isinstance(value, dict):
        name, parameters = value["algorithm"], bytes.fromhex(value.get("parameters", ""))
    else:
        name, parameters = value, b""
    if name.lower().startswith("0x"):
        return int(name, 16), parameters
    return int(PasswordAlgorithmId[name]), parameters


# --- keys -----------------------------------------------------------------------------------


def _preparation(inputs: Mapping[str, Any]) -> Callable[[str], str]:
    from rtcstack.stun.credentials import opaque_string, saslprep

    name = inputs.get("prepare", "opaque_string")
    table: dict[str, Callable[[str], str]] = {"saslprep": saslprep, "opaque_string": opaque_string}
    if name not in table:
        raise ValueError(f"inputs.prepare is {name!r}; expected one of {sorted(table)}")
    return table[name]


def vector_key(vector: Vector) -> bytes:
    """The HMAC key the vector's ``inputs`` describe (RFC 8489 §9.1.1 short-term, §9.2.2
    long-term with ``algorithm`` MD5 or SHA256, passwords prepared by ``prepare``)."""
    from rtcstack.stun.attributes import PasswordAlgorithmId
    from rtcstack.stun.credentials import long_term_key

    inputs = vector.inputs
    prepare = _preparation(inputs)
    credential = inputs.get("credential")
    if credential == "short-term":
        return prepare(inputs["password"]).encode()
    if credential == "long-term":
        algorithm = PasswordAlgorithmId[inputs.get("algorithm", "MD5")]
        return long_term_key(
            inputs["username"], inputs["realm"], inputs["password"], algorithm, prepare=prepare
        )
    raise ValueError(f"inputs.credential is {credential!r}; expected short-term or long-term")


# --- checkers -------------------------------------------------------------------------------


def _first_difference(got: bytes, want: bytes) -> str:
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return f"first difference at byte {i}: got {a:02x}, RFC has {b:02x}"
    return f"lengths differ: got {len(got)} bytes, RFC has {len(want)}"


def _compare_message(msg: Any, expected: Mapping[str, Any]) -> list[str]:
    """Header fields and every attribute, in the ``describe()`` form the vector files use."""
    problems: list[str] = []
    desc = msg.describe()
    for key in ("method", "class", "transaction_id"):
        if key in expected and desc[key] != expected[key]:
            problems.append(f"{key}: got {desc[key]!r}, expected {expected[key]!r}")
    got = [(a["name"], a["value"]) for a in desc["attributes"]]
    want = [(a["name"], a["value"]) for a in expected.get("attributes", [])]
    if got != want:
        for i in range(max(len(got), len(want))):
            g = got[i] if i < len(got) else None
            w = want[i] if i < len(want) else None
            if g != w:
                problems.append(f"attribute {i}: got {g!r}, expected {w!r}")
    if msg.ignored:
        problems.append(f"{len(msg.ignored)} attributes after the integrity attributes")
    return problems


def _check_userhash(msg: Any, vector: Vector) -> list[str]:
    from rtcstack.stun import Userhash, userhash

    attr = msg.get(Userhash)
    want = userhash(vector.inputs["username"], vector.inputs["realm"])
    if attr is None:
        return ["USERHASH: absent"]
    if attr.value != want:
        return [f"USERHASH: {attr.value.hex()} is not SHA-256(username:realm) = {want.hex()}"]
    return []


_INTEGRITY_NAMES = ("MESSAGE-INTEGRITY", "MESSAGE-INTEGRITY-SHA256", "FINGERPRINT")


def check_stun_message(vector: Vector) -> list[str]:
    """Kind ``stun-message``: both directions, exact bytes (see the module docstring)."""
    from rtcstack.common.errors import ParseError
    from rtcstack.stun import Message, MessageClass, Method

    exp, inputs = vector.expected, vector.inputs
    try:
        msg = Message.parse(vector.data)
    except ParseError as exc:
        return [f"parse failed: {exc}"]
    problems = _compare_message(msg, exp)
    key = vector_key(vector) if "credential" in inputs else None
    if "password_prepared" in inputs:
        prepared = _preparation(inputs)(inputs["password"])
        if prepared != inputs["password_prepared"]:
            want = inputs["password_prepared"]
            problems.append(f"password prepares to {prepared!r}, not {want!r}")

    checks: list[tuple[str, str, Callable[[bytes], bool]]] = [
        ("integrity", "MESSAGE-INTEGRITY", msg.check_integrity),
        ("integrity_sha256", "MESSAGE-INTEGRITY-SHA256", msg.check_integrity_sha256),
    ]
    for flag, label, check in checks:
        want = bool(exp.get(flag, False))
        if key is None:
            if want:
                problems.append(f"{label}: expected, but inputs give no credential")
            continue
        if check(key) != want:
            problems.append(f"{label}: verification {'failed' if want else 'passed unexpectedly'}")
        # Not key + b"\0": HMAC pads short keys with zeros, so that key is equivalent.
        if want and check(key[:-1] + bytes([key[-1] ^ 1])):
            problems.append(f"{label}: verifies with a wrong key")
    if msg.check_fingerprint() != bool(exp.get("fingerprint", False)):
        problems.append(f"FINGERPRINT: check_fingerprint() is {msg.check_fingerprint()}")
    if exp.get("userhash"):
        problems += _check_userhash(msg, vector)

    # The other direction: build the message from the expected fields alone.
    padding = bytes.fromhex(inputs.get("padding", "00"))
    mi256 = [a for a in exp.get("attributes", []) if a["name"] == "MESSAGE-INTEGRITY-SHA256"]
    options: dict[str, Any] = {
        "integrity_key": key if exp.get("integrity") else None,
        "integrity_sha256_key": key if exp.get("integrity_sha256") else None,
        "sha256_length": len(mi256[0]["value"]) // 2 if mi256 else 32,
        "fingerprint": bool(exp.get("fingerprint")),
        "padding": padding,
    }
    try:
        built = Message(
            Method[exp["method"]],
            MessageClass[exp["class"]],
            bytes.fromhex(exp["transaction_id"]),
            tuple(
                attribute_from_description(a["name"], a["value"])
                for a in exp.get("attributes", [])
                if a["name"] not in _INTEGRITY_NAMES
            ),
        ).serialize(**options)
    except (KeyError, ValueError) as exc:
        problems.append(f"cannot build the message from the expected fields: {exc!r}")
    else:
        if built != vector.data:
            problems.append("serialized from fields: " + _first_difference(built, vector.data))
    # And the parsed values serialize back to the same bytes.
    again = Message(
        msg.method,
        msg.message_class,
        msg.transaction_id,
        tuple(a for a in msg.attributes if a.NAME not in _INTEGRITY_NAMES),
    ).serialize(**options)
    if again != vector.data:
        problems.append("re-serialized after parsing: " + _first_difference(again, vector.data))
    return problems


def check_published_erratum(vector: Vector) -> list[str]:
    """Kind ``stun-message-published-erratum``: the bytes as printed must be rejected with
    ``expected.parse_error``; with the length field corrected they must carry the expected
    attributes; ``userhash`` and ``integrity_sha256_over_printed_header`` are checked as the
    vector's notes explain (the HMAC is taken over the header exactly as printed)."""
    from rtcstack.common.buffer import U16
    from rtcstack.common.errors import ParseError
    from rtcstack.stun import Message

    exp, data = vector.expected, vector.data
    problems: list[str] = []
    try:
        Message.parse(data)
    except ParseError as exc:
        if exp.get("parse_error", "") not in exc.reason:
            problems.append(f"rejected for {exc.reason!r}, expected {exp.get('parse_error')!r}")
    else:
        problems.append("parsed, but the published bytes are not a valid message")
    fixed = data[:2] + U16.pack(len(data) - 20) + data[4:]
    try:
        msg = Message.parse(fixed)
    except ParseError as exc:
        return [*problems, f"still unparseable with the length field corrected: {exc}"]
    problems += _compare_message(msg, exp)
    if exp.get("userhash"):
        problems += _check_userhash(msg, vector)
    if exp.get("integrity_sha256_over_printed_header"):
        off = msg.offsets[1]
        if off < 0:
            problems.append("MESSAGE-INTEGRITY-SHA256: absent")
        else:
            n = int(U16.unpack_from(data, off + 2)[0])
            mac = hmac.digest(vector_key(vector), data[:off], "sha256")[:n]
            if mac != data[off + 4 : off + 4 + n]:
                problems.append("MESSAGE-INTEGRITY-SHA256: no match over the printed header")
    return problems


def decode_case_bytes(spec: Mapping[str, Any]) -> bytes:
    """``{"hex": "0b0b"}``, ``{"text": "Jefe"}`` or ``{"repeat": ["dd", 50]}``, as RFCs write
    keys and data."""
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    if "text" in spec:
        return str(spec["text"]).encode("ascii")
    if "repeat" in spec:
        byte, count = spec["repeat"]
        return bytes.fromhex(byte) * int(count)
    raise ValueError(f"bytes spec {spec!r} has none of hex, text, repeat")


def check_hmac_sha1(vector: Vector) -> list[str]:
    """Kind ``hmac-sha1`` (RFC 2202 §3), with the call ``rtcstack.stun.message`` makes for
    MESSAGE-INTEGRITY: ``hmac.digest(key, data, "sha1")``."""
    problems: list[str] = []
    if not vector.cases:
        return ["no cases"]
    for case in vector.cases:
        n = case.get("test_case")
        key, data = decode_case_bytes(case["key"]), decode_case_bytes(case["data"])
        if len(key) != case["key_len"] or len(data) != case["data_len"]:
            problems.append(f"case {n}: key/data lengths {len(key)}/{len(data)} disagree")
        digest = hmac.digest(key, data, "sha1").hex()
        if digest != case["digest"]:
            problems.append(f"case {n}: digest {digest}, RFC has {case['digest']}")
        if "digest_96" in case and digest[:24] != case["digest_96"]:
            problems.append(f"case {n}: truncated digest differs")
    return problems


# --- SDP ------------------------------------------------------------------------------------


def _plain(value: object) -> Any:
    """A typed SDP value as JSON data (dataclass fields; tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(value)))  # type: ignore[call-overload]


def _codec_text(rtpmap: Any) -> str:
    text = f"{rtpmap.encoding}/{rtpmap.clock_rate}"
    return text if rtpmap.channels is None else f"{text}/{rtpmap.channels}"


def _streams(streams: Any) -> list[list[str]]:
    return [[sc.serialize() for sc in alternatives] for alternatives in streams]


def _rid_fields(rid: Any) -> dict[str, Any]:
    return {"id": rid.id, "direction": rid.direction, "payload_types": list(rid.payload_types),
            "restrictions": dict(rid.restrictions)}


def _candidate_fields(candidate: Any) -> dict[str, Any]:
    fields = _plain(candidate)
    fields.pop("extensions", None)
    return dict(fields)


def _section_fields(section: Any, media: bool) -> dict[str, Any]:
    """The fields a vector's ``expected`` lists for one section, read through the typed API."""
    from rtcstack.sdp import (
        Candidate,
        ExtMap,
        Fingerprint,
        Fmtp,
        Rid,
        RtpMap,
        Setup,
        Simulcast,
    )

    out: dict[str, Any] = {
        "ice_ufrag": section.attribute("ice-ufrag"),
        "ice_pwd": section.attribute("ice-pwd"),
        "fingerprints": [f.serialize() for f in section.get(Fingerprint)],
    }
    if not media:
        return out
    fmtps: dict[str, str] = {}
    for fmtp in section.get(Fmtp):
        fmtps[str(fmtp.payload_type)] = fmtp.parameters
    setup = section.first(Setup)
    simulcast = section.first(Simulcast)
    extmaps = {}
    for ext in section.get(ExtMap):
        key = str(ext.id) if ext.direction is None else f"{ext.id}/{ext.direction}"
        extmaps[key] = ext.uri
    out.update({
        "kind": section.kind, "port": section.port, "protocol": section.protocol,
        "formats": list(section.formats), "mid": section.mid, "direction": section.direction,
        "codecs": {str(m.payload_type): _codec_text(m) for m in section.get(RtpMap)},
        "fmtp": fmtps,
        "candidates": [_candidate_fields(c) for c in section.get(Candidate)],
        "rids": [_rid_fields(r) for r in section.get(Rid)],
        "simulcast": None if simulcast is None else {
            "send": _streams(simulcast.send), "recv": _streams(simulcast.recv)},
        "setup": None if setup is None else setup.role,
        "extmaps": extmaps,
        "bundle_only": section.bundle_only,
        "rtcp_mux": section.rtcp_mux,
    })
    return out


def _compare(where: str, got: Mapping[str, Any], want: Mapping[str, Any]) -> list[str]:
    return [f"{where} {key}: got {got.get(key)!r}, expected {val!r}"
            for key, val in want.items() if got.get(key) != val]


def check_sdp_description(vector: Vector) -> list[str]:
    """Kind ``sdp-description``: both directions, exact text (see the module docstring)."""
    from rtcstack.sdp import REGISTRY, SdpParseError, SessionDescription
    from rtcstack.sdp.check import check_description

    exp = vector.expected
    text = vector.text
    try:
        desc = SessionDescription.parse(text)
    except SdpParseError as exc:
        if "parse_error" in exp and exp["parse_error"] in str(exc):
            return []
        return [f"parse failed: {exc}"]
    if "parse_error" in exp:
        return [f"parsed, but the RFC's text must be rejected ({exp['parse_error']!r})"]
    problems: list[str] = []
    if desc.normalised:
        problems.append(f"the parser normalised the text: {list(desc.normalised)}")
    out = desc.serialize()
    if out != text:
        got_lines, want_lines = out.split("\r\n"), text.split("\r\n")
        diff = next((i for i, (a, b) in enumerate(zip(got_lines, want_lines, strict=False))
                     if a != b), min(len(got_lines), len(want_lines)))
        problems.append(f"serialize differs from the RFC's text at line {diff + 1}")
    try:
        problems += _description_fields(desc, exp)
    except SdpParseError as exc:  # a line the fields need does not follow its grammar
        problems.append(f"reading the fields: {exc}")
    # Every typed attribute serializes back to the value as written.
    for section, index, name, val, typed in desc.typed_attributes():
        if name in REGISTRY and val is not None and not isinstance(typed, SdpParseError):
            again = typed.serialize()  # type: ignore[attr-defined]
            if again != val:
                line = section.line_number(index)
                problems.append(f"line {line}: a={name} reserializes as {again!r}, not {val!r}")
    if "check" in exp:
        found = check_description(desc, role=vector.inputs.get("role"))
        for severity, key in (("error", "errors"), ("warning", "warnings")):
            got = sorted({p.rule for p in found if p.severity == severity})
            if got != sorted(exp["check"].get(key, [])):
                problems.append(f"sdp check {key}: {got}, expected {exp['check'].get(key)}")
    return problems


def _description_fields(desc: Any, exp: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if exp.get("media_count") != len(desc.media):
        problems.append(f"{len(desc.media)} media sections, expected {exp.get('media_count')}")
    session = dict(_section_fields(desc.session, media=False))
    origins = desc.session.values("o")
    session["origin"] = desc.origin.serialize() if origins else None
    if origins and origins[0] != session["origin"]:
        problems.append(f"o= reserializes as {session['origin']!r}, not {origins[0]!r}")
    session["session_name"] = desc.session_name
    session["bundle_groups"] = [list(g) for g in desc.bundle_groups()]
    problems += _compare("session", session, exp.get("session", {}))
    for i, (media, want) in enumerate(zip(desc.media, exp.get("media", []), strict=False)):
        problems += _compare(f"m-section {i}", _section_fields(media, media=True), want)
    return problems


def check_sdp_attribute(vector: Vector) -> list[str]:
    """Kind ``sdp-attribute``: each line parsed by its typed class, fields compared, and the
    value serialized back exactly."""
    from rtcstack.sdp import REGISTRY, SdpParseError

    problems: list[str] = []
    wanted = vector.expected.get("attributes", [])
    if len(wanted) != len(vector.text_lines):
        return [f"{len(vector.text_lines)} lines but {len(wanted)} expected attributes"]
    for n, (line, want) in enumerate(zip(vector.text_lines, wanted, strict=True), 1):
        body = line[2:] if line.startswith("a=") else line
        name, _, val = body.partition(":")
        if name != want.get("name"):
            problems.append(f"line {n}: attribute {name!r}, expected {want.get('name')!r}")
            continue
        cls = REGISTRY.get(name)
        if cls is None:
            problems.append(f"line {n}: rtcstack has no typed class for a={name}")
            continue
        try:
            typed = cls.parse(val)
        except SdpParseError as exc:
            if "parse_error" not in want or want["parse_error"] not in exc.reason:
                problems.append(f"line {n}: a={name} rejected: {exc.reason}")
            continue
        if "parse_error" in want:
            problems.append(f"line {n}: a={name} parsed, but must be rejected")
            continue
        got = _rid_fields(typed) if name == "rid" else _plain(typed)
        problems += _compare(f"line {n}", got, want.get("fields", {}))
        if typed.serialize() != val:
            problems.append(f"line {n}: reserializes as {typed.serialize()!r}, not {val!r}")
    return problems


CHECKERS: dict[str, Callable[[Vector], list[str]]] = {
    "stun-message": check_stun_message,
    "stun-message-published-erratum": check_published_erratum,
    "hmac-sha1": check_hmac_sha1,
    "sdp-description": check_sdp_description,
    "sdp-attribute": check_sdp_attribute,
    **SRTP_CHECKERS,  # srtp-kdf, srtp-aes-cm-keystream, srtp-aead-*: rtcstack/srtp/vectors.py
    **RTP_PAYLOAD_CHECKERS,  # rtp-payload, vp8-descriptor: rtcstack/rtp/formats/vectors.py
    **DTLS_KAT_CHECKERS,  # tls12-prf: rtcstack/dtls/kat.py
    **DTLS_CHECKERS,  # dtls-handshake: rtcstack/dtls/vectors.py
    **TURN_CHECKERS,  # turn-example-flow: rtcstack/ice/turn.py
    **ICE_CHECKERS,  # ice-candidate, ice-*-priority, ice-foundation: rtcstack/ice/vectors.py
    **SCTP_CHECKERS,  # crc32c, dcep-message: rtcstack/sctp/vectors.py
}


def check_vector(vector: Vector) -> list[str]:
    """The problems found checking ``vector`` against the implementation; ``[]`` is a pass.

    A kind without a checker is a problem here (tests must not skip vectors silently); the
    command reports it separately as "no checker".
    """
    checker = CHECKERS.get(vector.kind)
    if checker is None:
        return [f"no checker for kind {vector.kind!r}"]
    return checker(vector)


# --- the command ----------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--list", action="store_true", help="list the vectors without checking")
    parser.add_argument("--rfc", type=int, action="append", help="only this RFC (repeatable)")
    parser.add_argument("--dir", type=Path, help="vector directory (default: rfc-vectors/)")


def _result(vector: Vector, check: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "rfc": vector.rfc,
        "section": vector.section,
        "title": vector.title,
        "name": vector.name,
        "kind": vector.kind,
        "layer": vector.layer,
        "path": str(vector.path),
    }
    if not check:
        return row
    if vector.kind not in CHECKERS:
        row.update(status="no checker", problems=[])
        return row
    try:
        problems = CHECKERS[vector.kind](vector)
    except Exception as exc:  # a broken vector must not hide the others
        problems = [f"checker raised {type(exc).__name__}: {exc}"]
    row.update(status="pass" if not problems else "fail", problems=problems)
    return row


def run(args: argparse.Namespace) -> int:
    try:
        vectors = all_vectors(args.dir)
    except (VectorError, FileNotFoundError) as exc:
        print(f"rtcstack vectors: {exc}", file=sys.stderr)
        return 1
    if args.rfc:
        vectors = [v for v in vectors if v.rfc in args.rfc]
    rows = [_result(v, not args.list) for v in vectors]
    counts = {s: sum(r.get("status") == s for r in rows) for s in ("pass", "fail", "no checker")}
    if args.json:
        print(json.dumps({"vectors": rows, "summary": counts}, indent=2, ensure_ascii=False))
    else:
        _print_table(rows, checked=not args.list)
        if not args.list:
            print(
                f"{len(rows)} vectors: {counts['pass']} passed, {counts['fail']} failed, "
                f"{counts['no checker']} without a checker"
            )
    return 1 if counts["fail"] else 0


def _print_table(rows: Sequence[Mapping[str, Any]], *, checked: bool) -> None:
    labels = [f"RFC {r['rfc']} §{r['section']}" for r in rows]
    w_label = max((len(s) for s in labels), default=0)
    w_name = max((len(r["name"]) for r in rows), default=0)
    w_title = min(max((len(r["title"]) for r in rows), default=0), 44)
    w_kind = max((len(r["kind"]) for r in rows), default=0)
    for label, row in zip(labels, rows, strict=True):
        title = row["title"] if len(row["title"]) <= w_title else row["title"][: w_title - 1] + "…"
        line = f"{label:<{w_label}}  {row['name']:<{w_name}}  {title:<{w_title}}"
        line += f"  {row['kind']:<{w_kind}}"
        if checked:
            line += f"  {row['status']}"
        print(line.rstrip())
        for problem in row.get("problems", []):
            print(f"    - {problem}")
