"""Checker for DTLS handshake vectors: datagrams captured from real DTLS 1.2 programs
(``rfc-vectors/captures/<program>-<version>/dtls-*.json``, written by
``rfc-vectors/capture_dtls_hello.py``).

Kind ``dtls-handshake`` (RFC 6347 §4.1 records, §4.2 handshake messages):

- ``cases``: the datagrams in the order they were received, each with ``hex`` (rows of byte
  pairs) and ``records``: per record the RFC 6347 §4.1 header fields (``content_type``,
  ``version`` as hex, ``epoch``, ``sequence_number``, ``length``) and, for plaintext handshake
  records, the ``fragments`` headers (RFC 6347 §4.2.2).
- ``inputs.first_message_seq``: the message_seq reassembly starts at (1 for a server's flight
  after a HelloVerifyRequest; 0 when absent).
- ``expected.messages``: the handshake messages reassembled from all the datagrams, each with
  ``msg_type`` (a ``HandshakeType`` name), ``message_seq``, ``length`` and ``fields`` (what
  :func:`describe_message` gives: ints, hex strings, lists; extensions as
  ``{"type", "name", "data", "value"}`` with the typed value for the known ones).

The checker parses every record header and fragment and compares the fields, re-serializes the
fragments to the exact record payload, reassembles the messages, parses each body and compares
its fields, serializes the parsed message back to the exact body, builds the message again from
the expected fields alone and compares the bytes, and decodes and re-encodes every known
extension.  Returns the problems found, ``[]`` for a pass.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rtcstack.common.errors import ParseError
from rtcstack.dtls import messages as M
from rtcstack.dtls.constants import ContentType, ExtensionType, HandshakeType

__all__ = [
    "CHECKERS",
    "RECORD_HEADER_SIZE",
    "check_dtls_handshake",
    "describe_extension",
    "describe_message",
    "describe_records",
    "message_from_description",
    "split_records",
]

#: RFC 6347 §4.1: type(1) version(2) epoch(2) sequence_number(6) length(2).
RECORD_HEADER_SIZE = 13
_RECORD = struct.Struct("!BHHHIH")


def split_records(datagram: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """RFC 6347 §4.1.1: "Multiple DTLS records may be placed in a single datagram": each
    record's header fields and payload (a local parse; the record layer has its own)."""
    out: list[tuple[dict[str, Any], bytes]] = []
    pos = 0
    while pos < len(datagram):
        if len(datagram) - pos < RECORD_HEADER_SIZE:
            raise ParseError("truncated record header", pos)
        ctype, version, epoch, seq_hi, seq_lo, length = _RECORD.unpack_from(datagram, pos)
        start = pos + RECORD_HEADER_SIZE
        if start + length > len(datagram):
            raise ParseError(f"record of {length} bytes, {len(datagram) - start} left", start)
        header = {
            "content_type": ctype,
            "version": f"{version:04x}",
            "epoch": epoch,
            "sequence_number": seq_hi << 32 | seq_lo,
            "length": length,
        }
        out.append((header, datagram[start : start + length]))
        pos = start + length
    return out


def _record_header(header: Mapping[str, Any]) -> bytes:
    seq = int(header["sequence_number"])
    return _RECORD.pack(
        int(header["content_type"]), int(header["version"], 16), int(header["epoch"]),
        seq >> 32, seq & 0xFFFFFFFF, int(header["length"]),
    )


def _fragment_fields(f: M.HandshakeFragment) -> dict[str, int]:
    return {
        "msg_type": f.msg_type,
        "length": f.length,
        "message_seq": f.message_seq,
        "fragment_offset": f.fragment_offset,
        "fragment_length": f.fragment_length,
    }


def describe_records(datagram: bytes) -> list[dict[str, Any]]:
    """The ``records`` entry of a case: header fields, and fragment headers of plaintext
    handshake records (``change_cipher_spec`` / ``alert`` for those, ``encrypted`` past
    epoch 0)."""
    out: list[dict[str, Any]] = []
    for header, payload in split_records(datagram):
        row = dict(header)
        if header["epoch"] != 0:
            row["encrypted"] = True
        elif header["content_type"] == ContentType.HANDSHAKE:
            row["fragments"] = [_fragment_fields(f) for f in M.parse_handshake_fragments(payload)]
        elif header["content_type"] == ContentType.CHANGE_CIPHER_SPEC:
            M.ChangeCipherSpec.parse(payload)
            row["change_cipher_spec"] = True
        elif header["content_type"] == ContentType.ALERT:
            alert = M.Alert.parse(payload)
            row["alert"] = [alert.level, alert.description]
        out.append(row)
    return out


# --- extensions -------------------------------------------------------------------------------

_ExtCodec = tuple[Callable[[bytes], Any], Callable[[Any], bytes]]


def _ext_codecs(msg_type: int) -> dict[int, _ExtCodec]:
    versions: _ExtCodec = (
        (lambda d: list(M.decode_supported_versions_client(d)),
         lambda v: M.encode_supported_versions_client(v))
        if msg_type == HandshakeType.CLIENT_HELLO
        else (M.decode_supported_versions_server, M.encode_supported_versions_server)
    )
    return {
        ExtensionType.SUPPORTED_GROUPS: (
            lambda d: list(M.decode_supported_groups(d)), M.encode_supported_groups),
        ExtensionType.EC_POINT_FORMATS: (
            lambda d: list(M.decode_ec_point_formats(d)), M.encode_ec_point_formats),
        ExtensionType.SIGNATURE_ALGORITHMS: (
            lambda d: list(M.decode_signature_algorithms(d)), M.encode_signature_algorithms),
        ExtensionType.USE_SRTP: (
            lambda d: _use_srtp_value(M.decode_use_srtp(d)),
            lambda v: M.encode_use_srtp(v["profiles"], bytes.fromhex(v["mki"]))),
        ExtensionType.EXTENDED_MASTER_SECRET: (
            _ems_value,
            lambda v: M.encode_extended_master_secret()),
        ExtensionType.RENEGOTIATION_INFO: (
            lambda d: M.decode_renegotiation_info(d).hex(),
            lambda v: M.encode_renegotiation_info(bytes.fromhex(v))),
        ExtensionType.SUPPORTED_VERSIONS: versions,
    }


def _ems_value(data: bytes) -> bool:
    M.decode_extended_master_secret(data)
    return True


def _use_srtp_value(u: M.UseSrtp) -> dict[str, Any]:
    return {"profiles": list(u.profiles), "mki": u.mki.hex()}


def describe_extension(msg_type: int, ext_type: int, data: bytes) -> dict[str, Any]:
    """``{"type", "name", "data"}`` and ``value`` for the extensions with a typed codec."""
    name = ExtensionType(ext_type).name if ext_type in ExtensionType._value2member_map_ else None
    row: dict[str, Any] = {"type": ext_type, "name": name, "data": data.hex()}
    codec = _ext_codecs(msg_type).get(ext_type)
    if codec is not None:
        row["value"] = codec[0](data)
    return row


# --- messages ---------------------------------------------------------------------------------


def describe_message(message: M.HandshakeMessage) -> dict[str, Any]:
    """The message's fields as JSON values: ints, hex for bytes, lists for tuples."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(message):
        v = getattr(message, f.name)
        if f.name == "extensions":
            out[f.name] = [describe_extension(message.msg_type, t, d) for t, d in v]
        elif isinstance(v, bytes):
            out[f.name] = v.hex()
        elif isinstance(v, tuple):
            out[f.name] = [x.hex() if isinstance(x, bytes) else x for x in v]
        else:
            out[f.name] = v
    return out


def message_from_description(msg_type: int, fields: Mapping[str, Any]) -> M.HandshakeMessage:
    """The inverse of :func:`describe_message`, from the expected fields alone (extensions
    from their ``data``)."""
    cls = M.MESSAGE_CLASSES[msg_type]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        v = fields[f.name]
        if f.name == "extensions":
            kwargs[f.name] = tuple((int(e["type"]), bytes.fromhex(e["data"])) for e in v)
        elif f.type == "bytes":
            kwargs[f.name] = bytes.fromhex(v)
        elif f.type == "tuple[bytes, ...]":
            kwargs[f.name] = tuple(bytes.fromhex(x) for x in v)
        elif f.type == "tuple[int, ...]":
            kwargs[f.name] = tuple(int(x) for x in v)
        else:
            kwargs[f.name] = int(v)
    return cls(**kwargs)


def _hex(rows: str | Sequence[str]) -> bytes:
    text = rows if isinstance(rows, str) else " ".join(rows)
    return bytes.fromhex(text)


def _first_difference(got: bytes, want: bytes) -> str:
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return f"first difference at byte {i}: {a:02x} vs {b:02x}"
    return f"lengths differ: {len(got)} vs {len(want)}"


def _check_extensions(label: str, msg_type: int, extensions: Sequence[Any]) -> list[str]:
    problems: list[str] = []
    codecs = _ext_codecs(msg_type)
    for ext in extensions:
        codec = codecs.get(int(ext["type"]))
        if codec is None:
            continue
        data = bytes.fromhex(ext["data"])
        try:
            encoded = codec[1](ext["value"])
        except (KeyError, ValueError) as exc:
            problems.append(f"{label}: extension {ext['name']}: cannot encode the value: {exc}")
            continue
        if encoded != data:
            problems.append(f"{label}: extension {ext['name']} encodes as {encoded.hex()}")
    return problems


def check_dtls_handshake(vector: Any) -> list[str]:
    """Kind ``dtls-handshake`` (see the module docstring)."""
    problems: list[str] = []
    first = int(vector.inputs.get("first_message_seq", 0))
    reassembler = M.HandshakeReassembler(first, max_messages_ahead=64)
    if not vector.cases:
        return ["no cases"]
    for case in vector.cases:
        name = case.get("name", "?")
        datagram = _hex(case["hex"])
        try:
            records = describe_records(datagram)
            split = split_records(datagram)
        except ParseError as exc:
            problems.append(f"{name}: does not parse: {exc}")
            continue
        if records != case["records"]:
            problems.append(f"{name}: records {records}, expected {case['records']}")
        rebuilt = b""
        for header, payload in split:
            if header["epoch"] == 0 and header["content_type"] == ContentType.HANDSHAKE:
                fragments = M.parse_handshake_fragments(payload)
                again = b"".join(f.serialize() for f in fragments)
                if again != payload:
                    problems.append(f"{name}: fragments re-serialize differently: "
                                    + _first_difference(again, payload))
                for f in fragments:
                    try:
                        reassembler.add(f)
                    except ParseError as exc:
                        problems.append(f"{name}: reassembly: {exc}")
            rebuilt += _record_header(header) + payload
        if rebuilt != datagram:
            problems.append(f"{name}: record headers re-serialize differently")
    got: list[tuple[int, int, bytes]] = []
    while (message := reassembler.pop()) is not None:
        got.append(message)
    want = vector.expected.get("messages", [])
    if len(got) != len(want):
        problems.append(f"{len(got)} messages reassembled, expected {len(want)}")
    for (msg_type, seq, body), exp in zip(got, want, strict=False):
        label = f"message {seq} {exp.get('msg_type')}"
        type_name = HandshakeType(msg_type).name if msg_type in HandshakeType._value2member_map_ \
            else str(msg_type)
        header = {"msg_type": type_name, "message_seq": seq, "length": len(body)}
        for key, value in header.items():
            if exp.get(key) != value:
                problems.append(f"{label}: {key} is {value!r}, expected {exp.get(key)!r}")
        try:
            parsed = M.parse_handshake_body(msg_type, body)
        except ParseError as exc:
            problems.append(f"{label}: does not parse: {exc}")
            continue
        fields = describe_message(parsed)
        for key in set(fields) | set(exp["fields"]):
            if fields.get(key) != exp["fields"].get(key):
                problems.append(
                    f"{label}: {key} is {fields.get(key)!r}, expected {exp['fields'].get(key)!r}"
                )
        if parsed.serialize() != body:
            problems.append(f"{label}: re-serialized: " + _first_difference(parsed.serialize(),
                                                                            body))
        try:
            built = message_from_description(msg_type, exp["fields"]).serialize()
        except (KeyError, ValueError, TypeError) as exc:
            problems.append(f"{label}: cannot build from the expected fields: {exc!r}")
        else:
            if built != body:
                problems.append(f"{label}: built from fields: " + _first_difference(built, body))
        problems += _check_extensions(label, msg_type, exp["fields"].get("extensions", []))
    return problems


CHECKERS: dict[str, Callable[[Any], list[str]]] = {"dtls-handshake": check_dtls_handshake}
