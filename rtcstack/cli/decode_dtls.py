"""DTLS datagrams for ``rtcstack decode``: every record, and the plaintext handshake in full.

A datagram whose first byte is 20-63 is DTLS (RFC 7983 §7, RFC 9443 §3).  :func:`describe_dtls`
walks its records (RFC 6347 §4.1.1: "Multiple DTLS records may be placed in a single
datagram") and returns a JSON-friendly ``dict``:

- every record header (RFC 6347 §4.1): content type by name, version, epoch, sequence number,
  length, and the offset of the record in the datagram;
- epoch 0 records in full: handshake fragments (RFC 6347 §4.2.2 header: type by name, length,
  message_seq, fragment offset and length), and for a whole message every field of its body
  (RFC 5246 §7.4, RFC 6347 §4.2.1 HelloVerifyRequest, RFC 8422 §5 ECDHE): cipher suites, groups,
  signature schemes and SRTP profiles by their IANA names, each hello extension by name with its
  decoded value (unknown ones as type + hex), certificates through ``cryptography``'s x509
  (subject, issuer, validity, RFC 8122 §5 sha-256 fingerprint); a piece of a larger message is
  shown as ``fragment (offset/length of total)``; ChangeCipherSpec (RFC 5246 §7.1) and
  plaintext Alerts (RFC 5246 §7.2);
- records of epoch > 0 as their header and ``encrypted, N bytes`` (RFC 6347 §4.1: protected
  by the epoch's keys, which the decoder does not have);
- a DTLS 1.3 unified header (RFC 9147 §4: first byte ``001CSLEE``) as its flags.

Malformed input is never raised: what was decoded before the problem is kept, the failing
element carries an ``"error"`` line, and the result's ``"errors"`` lists every problem with its
byte offset in the datagram (the command exits with status 1 when it is not empty).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any, Final

from rtcstack.common.buffer import Reader
from rtcstack.common.errors import ParseError

__all__ = [
    "CIPHER_SUITE_NAMES",
    "EXTENSION_NAMES",
    "GROUP_NAMES",
    "SIGNATURE_SCHEME_NAMES",
    "SRTP_PROFILE_NAMES",
    "describe_dtls",
    "failure_lines",
    "suite_name",
]

_RECORD_HEADER = 13
_HANDSHAKE_HEADER = 12

#: IANA TLS Cipher Suites registry names of the suites DTLS 1.2 stacks offer (OpenSSL, GnuTLS,
#: BoringSSL, NSS), plus the TLS 1.3 suites and the signalling values.
CIPHER_SUITE_NAMES: Final[dict[int, str]] = {
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x1304: "TLS_AES_128_CCM_SHA256",
    0x1305: "TLS_AES_128_CCM_8_SHA256",
    0x5600: "TLS_FALLBACK_SCSV",
    0xC008: "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xC09C: "TLS_RSA_WITH_AES_128_CCM",
    0xC09D: "TLS_RSA_WITH_AES_256_CCM",
    0xC09E: "TLS_DHE_RSA_WITH_AES_128_CCM",
    0xC09F: "TLS_DHE_RSA_WITH_AES_256_CCM",
    0xC0AC: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
    0xC0AD: "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
    0xC0AE: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
    0xC0AF: "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}

#: IANA TLS Supported Groups registry (RFC 8422 §5.1.1, RFC 7919, RFC 8446 §4.2.7, hybrids).
GROUP_NAMES: Final[dict[int, str]] = {
    21: "secp224r1", 22: "secp256k1", 23: "secp256r1", 24: "secp384r1", 25: "secp521r1",
    26: "brainpoolP256r1", 27: "brainpoolP384r1", 28: "brainpoolP512r1",
    29: "x25519", 30: "x448",
    256: "ffdhe2048", 257: "ffdhe3072", 258: "ffdhe4096", 259: "ffdhe6144", 260: "ffdhe8192",
    0x11EB: "SecP256r1MLKEM768", 0x11EC: "X25519MLKEM768", 0x11ED: "SecP384r1MLKEM1024",
    0x6399: "X25519Kyber768Draft00",
}

#: IANA TLS SignatureScheme registry (RFC 8446 §4.2.3); RFC 5246 §7.4.1.4.1 pairs without an
#: RFC 8446 name are named ``<signature>_<hash>`` by :func:`_scheme`.
SIGNATURE_SCHEME_NAMES: Final[dict[int, str]] = {
    0x0201: "rsa_pkcs1_sha1", 0x0203: "ecdsa_sha1",
    0x0401: "rsa_pkcs1_sha256", 0x0501: "rsa_pkcs1_sha384", 0x0601: "rsa_pkcs1_sha512",
    0x0403: "ecdsa_secp256r1_sha256", 0x0503: "ecdsa_secp384r1_sha384",
    0x0603: "ecdsa_secp521r1_sha512",
    0x0804: "rsa_pss_rsae_sha256", 0x0805: "rsa_pss_rsae_sha384", 0x0806: "rsa_pss_rsae_sha512",
    0x0807: "ed25519", 0x0808: "ed448",
    0x0809: "rsa_pss_pss_sha256", 0x080A: "rsa_pss_pss_sha384", 0x080B: "rsa_pss_pss_sha512",
    0x081A: "ecdsa_brainpoolP256r1tls13_sha256", 0x081B: "ecdsa_brainpoolP384r1tls13_sha384",
    0x081C: "ecdsa_brainpoolP512r1tls13_sha512",
}
_HASHES: Final = {0: "none", 1: "md5", 2: "sha1", 3: "sha224", 4: "sha256", 5: "sha384",
                  6: "sha512"}
_SIGNATURES: Final = {0: "anonymous", 1: "rsa", 2: "dsa", 3: "ecdsa"}

#: RFC 5764 §4.1.2 and RFC 7714 §14.2 SRTPProtectionProfile names (IANA DTLS-SRTP registry).
SRTP_PROFILE_NAMES: Final[dict[int, str]] = {
    0x0001: "SRTP_AES128_CM_HMAC_SHA1_80", 0x0002: "SRTP_AES128_CM_HMAC_SHA1_32",
    0x0005: "SRTP_NULL_HMAC_SHA1_80", 0x0006: "SRTP_NULL_HMAC_SHA1_32",
    0x0007: "SRTP_AEAD_AES_128_GCM", 0x0008: "SRTP_AEAD_AES_256_GCM",
    0x0009: "DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM",
    0x000A: "DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM",
}

#: IANA TLS ExtensionType Values registry names.
EXTENSION_NAMES: Final[dict[int, str]] = {
    0: "server_name", 1: "max_fragment_length", 5: "status_request", 10: "supported_groups",
    11: "ec_point_formats", 13: "signature_algorithms", 14: "use_srtp", 15: "heartbeat",
    16: "application_layer_protocol_negotiation", 18: "signed_certificate_timestamp",
    21: "padding", 22: "encrypt_then_mac", 23: "extended_master_secret",
    27: "compress_certificate", 28: "record_size_limit", 35: "session_ticket",
    41: "pre_shared_key", 42: "early_data", 43: "supported_versions", 44: "cookie",
    45: "psk_key_exchange_modes", 47: "certificate_authorities", 49: "post_handshake_auth",
    50: "signature_algorithms_cert", 51: "key_share", 53: "connection_id (deprecated)",
    54: "connection_id", 17513: "application_settings", 0xFF01: "renegotiation_info",
}

_VERSIONS: Final = {0xFEFF: "DTLS 1.0", 0xFEFD: "DTLS 1.2", 0xFEFC: "DTLS 1.3",
                    0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
_POINT_FORMATS: Final = {0: "uncompressed", 1: "ansiX962_compressed_prime",
                         2: "ansiX962_compressed_char2"}
_CERTIFICATE_TYPES: Final = {1: "rsa_sign", 2: "dss_sign", 3: "rsa_fixed_dh",
                             4: "dss_fixed_dh", 64: "ecdsa_sign"}
_COMPRESSION: Final = {0: "null", 1: "DEFLATE"}


class _Content(IntEnum):
    """RFC 5246 §6.2.1 ContentType (names as :class:`rtcstack.dtls.constants.ContentType`),
    with RFC 6520 heartbeat, RFC 9146 tls12_cid and RFC 9147 ack."""

    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23
    HEARTBEAT = 24
    TLS12_CID = 25
    ACK = 26


def _grease(value: int) -> bool:
    # RFC 8701 §2: 0x0A0A, 0x1A1A, ... 0xFAFA.
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


def _name(table: dict[int, str], value: int, width: int = 4) -> str:
    name = table.get(value)
    if name is not None:
        return name
    if width == 4 and _grease(value):
        return f"GREASE 0x{value:04x}"
    return f"unknown 0x{value:0{width}x}"


def suite_name(value: int) -> str:
    """The IANA name of a cipher suite, ``GREASE 0x..`` or ``unknown 0x....``."""
    return _name(CIPHER_SUITE_NAMES, value)


def _scheme(value: int) -> str:
    name = SIGNATURE_SCHEME_NAMES.get(value)
    if name is not None:
        return name
    hash_name, sig_name = _HASHES.get(value >> 8), _SIGNATURES.get(value & 0xFF)
    if hash_name is not None and sig_name is not None:
        return f"{sig_name}_{hash_name}"
    return _name({}, value)


def _group(value: int) -> str:
    return _name(GROUP_NAMES, value)


def _version(value: int) -> str:
    return f"{_VERSIONS.get(value, 'unknown')} (0x{value:04x})"


def _enum_name(enum: type[IntEnum], value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return f"unknown ({value})"


# --- the walk -------------------------------------------------------------------------------


class DecodeErrors:
    """Collects the failures of one datagram, each with its offset in the datagram."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, where: str, reason: str, offset: int | None) -> str:
        self.items.append({"where": where, "reason": reason, "offset": offset})
        return reason if offset is None else f"{reason} (at byte offset {offset})"

    def parse_error(self, where: str, exc: ParseError, base: int) -> str:
        return self.add(where, exc.reason, None if exc.offset is None else base + exc.offset)


def describe_dtls(data: bytes) -> dict[str, Any]:
    """RFC 6347 §4.1 every record of one datagram; never raises for malformed bytes."""
    errors = DecodeErrors()
    records: list[dict[str, Any]] = []
    out: dict[str, Any] = {"records": records}
    pos = 0
    if data and data[0] & 0xE0 == 0x20:
        unified, pos = _unified_header(data, errors)
        records.append(unified)
    _walk(data, pos, records, errors)
    out["errors"] = errors.items
    return out


def _unified_header(data: bytes, errors: DecodeErrors) -> tuple[dict[str, Any], int]:
    """RFC 9147 §4 the DTLS 1.3 unified header: ``0 0 1 C S L E E``, then the connection ID
    (not decodable without its negotiated length), a 8- or 16-bit sequence number and an
    optional 16-bit length; the rest of the record is encrypted."""
    first = data[0]
    has_cid, long_seq, has_length = bool(first & 0x10), bool(first & 0x08), bool(first & 0x04)
    out: dict[str, Any] = {
        "offset": 0,
        "header": "DTLS 1.3 unified header (RFC 9147 §4)",
        "connection_id_present": has_cid,
        "epoch_low_bits": first & 0x03,
    }
    if has_cid:
        out["note"] = "the connection ID length was negotiated; the rest cannot be split"
        out["payload"] = f"encrypted, {len(data) - 1} bytes"
        return out, len(data)
    seq_size = 2 if long_seq else 1
    need = 1 + seq_size + (2 if has_length else 0)
    if len(data) < need:
        out["error"] = errors.add("DTLS 1.3 unified header",
                                  f"truncated: {len(data)} of {need} bytes", 0)
        return out, len(data)
    out["sequence_number_bits"] = 8 * seq_size
    out["encrypted_sequence_number"] = int.from_bytes(data[1 : 1 + seq_size], "big")
    length = len(data) - need
    if has_length:
        length = int.from_bytes(data[1 + seq_size : need], "big")
        if need + length > len(data):
            out["length"] = length
            out["error"] = errors.add(
                "DTLS 1.3 unified header",
                f"length {length} but {len(data) - need} bytes follow", 1 + seq_size)
            return out, len(data)
    out["length"] = length
    out["payload"] = f"encrypted, {length} bytes"
    return out, need + length


def _walk(data: bytes, pos: int, records: list[dict[str, Any]], errors: DecodeErrors) -> None:
    end = len(data)
    while pos < end:
        if end - pos < _RECORD_HEADER:
            errors.add("record header",
                       f"DTLS record header truncated: {end - pos} of 13 bytes", pos)
            records.append({"offset": pos, "error": f"truncated header: {data[pos:].hex()}"})
            return
        content_type, version = data[pos], int.from_bytes(data[pos + 1 : pos + 3], "big")
        epoch = int.from_bytes(data[pos + 3 : pos + 5], "big")
        seq = int.from_bytes(data[pos + 5 : pos + 11], "big")
        length = int.from_bytes(data[pos + 11 : pos + 13], "big")
        record: dict[str, Any] = {
            "offset": pos,
            "content_type": _enum_name(_Content, content_type),
            "version": _version(version),
            "epoch": epoch,
            "sequence_number": seq,
            "length": length,
        }
        records.append(record)
        start = pos + _RECORD_HEADER
        if start + length > end:
            record["error"] = errors.add(
                "record", f"length {length} but {end - start} bytes follow", pos + 11)
            return
        if content_type not in (20, 21, 22, 23):
            record["error"] = errors.add(
                "record", f"content type {content_type} is not one DTLS 1.2 defines", pos)
        elif version not in (0xFEFF, 0xFEFD):
            # RFC 6347 §4.1: DTLS 1.0 {254, 255} and DTLS 1.2 {254, 253}.
            record["error"] = errors.add(
                "record", f"record version 0x{version:04x} is not DTLS 1.0/1.2", pos + 1)
        _record_body(content_type, epoch, data[start : start + length], start, record, errors)
        pos = start + length


def _record_body(content_type: int, epoch: int, body: bytes, base: int,
                 record: dict[str, Any], errors: DecodeErrors) -> None:
    if epoch > 0:
        # RFC 6347 §4.1: records of epoch > 0 are protected with the keys of that epoch.
        record["payload"] = f"encrypted, {len(body)} bytes"
        return
    if content_type == 22:
        record["fragments"] = _fragments(body, base, errors)
    elif content_type == 20:
        # RFC 5246 §7.1: "The message consists of a single byte of value 1."
        if body == b"\x01":
            record["change_cipher_spec"] = "change_cipher_spec (1)"
        else:
            record["error"] = errors.add(
                "ChangeCipherSpec", f"is {body.hex() or 'empty'}, expected 01", base)
    elif content_type == 21:
        if len(body) == 2:
            from rtcstack.dtls.constants import AlertDescription, AlertLevel

            record["alert"] = {"level": _enum_name(AlertLevel, body[0]),
                               "description": _enum_name(AlertDescription, body[1])}
        else:
            record["error"] = errors.add("Alert", f"{len(body)} bytes, expected 2", base)
    else:
        record["payload"] = f"{len(body)} bytes: {body[:32].hex()}" + (
            "..." if len(body) > 32 else "")
        if content_type == 23:
            # RFC 6347 §4.1 / RFC 5246 §7.4.9: application data is only sent once a handshake
            # has installed keys, so it never travels in epoch 0.
            record["error"] = errors.add(
                "record", "application data in epoch 0 (not protected)", base - 13)


def _fragments(body: bytes, base: int, errors: DecodeErrors) -> list[dict[str, Any]]:
    """RFC 6347 §4.2.2 each handshake fragment of one record payload."""
    from rtcstack.dtls.constants import HandshakeType

    out: list[dict[str, Any]] = []
    if not body:
        # RFC 5246 §6.2.1: "Implementations MUST NOT send zero-length fragments of Handshake".
        errors.add("handshake record", "empty handshake record", base)
        return out
    pos, end = 0, len(body)
    while pos < end:
        if end - pos < _HANDSHAKE_HEADER:
            out.append({"error": errors.add(
                "handshake header", f"need 12 bytes, {end - pos} left", base + pos)})
            return out
        msg_type = body[pos]
        length = int.from_bytes(body[pos + 1 : pos + 4], "big")
        seq = int.from_bytes(body[pos + 4 : pos + 6], "big")
        offset = int.from_bytes(body[pos + 6 : pos + 9], "big")
        flen = int.from_bytes(body[pos + 9 : pos + 12], "big")
        item: dict[str, Any] = {
            "msg_type": _enum_name(HandshakeType, msg_type),
            "length": length,
            "message_seq": seq,
            "fragment_offset": offset,
            "fragment_length": flen,
        }
        out.append(item)
        start = pos + _HANDSHAKE_HEADER
        if offset + flen > length:
            item["error"] = errors.add(
                "handshake fragment",
                f"fragment {offset}+{flen} extends past the message length {length}",
                base + pos + 6)
            return out
        if start + flen > end:
            item["error"] = errors.add(
                "handshake fragment", f"need {flen} bytes, {end - start} left", base + start)
            return out
        piece = body[start : start + flen]
        if offset == 0 and flen == length:
            item["message"] = _message(msg_type, piece, base + start, errors)
        else:
            # RFC 6347 §4.2.3: a message larger than the record is sent in fragments.
            item["fragment"] = f"fragment ({offset}/{flen} of {length})"
        pos = start + flen
    return out


# --- handshake message bodies ---------------------------------------------------------------


def _message(msg_type: int, body: bytes, base: int, errors: DecodeErrors) -> dict[str, Any]:
    from rtcstack.dtls.constants import HandshakeType
    from rtcstack.dtls.messages import parse_handshake_body

    name = _enum_name(HandshakeType, msg_type)
    try:
        message = parse_handshake_body(msg_type, body)
    except ParseError as exc:
        return {"error": errors.parse_error(name, exc, base), "body": body[:64].hex()}
    describe = _DESCRIBERS.get(type(message).__name__)
    if describe is None:  # HelloRequest, ServerHelloDone: empty bodies
        return {"body": "(empty)"}
    return describe(message, base, errors)


def _hex(data: bytes) -> str:
    return data.hex() if data else "(empty)"


def _client_hello(m: Any, base: int, errors: DecodeErrors) -> dict[str, Any]:
    """RFC 6347 §4.2.1 / RFC 5246 §7.4.1.2 ClientHello."""
    return {
        "client_version": _version(m.client_version),
        "random": m.random.hex(),
        "session_id": _hex(m.session_id),
        "cookie": _hex(m.cookie),
        "cipher_suites": [suite_name(s) for s in m.cipher_suites],
        "compression_methods": [_name(_COMPRESSION, c, 2) for c in m.compression_methods],
        "extensions": _extensions(m.extensions, "client", errors),
    }


def _server_hello(m: Any, base: int, errors: DecodeErrors) -> dict[str, Any]:
    """RFC 5246 §7.4.1.3 ServerHello."""
    return {
        "server_version": _version(m.server_version),
        "random": m.random.hex(),
        "session_id": _hex(m.session_id),
        "cipher_suite": suite_name(m.cipher_suite),
        "compression_method": _name(_COMPRESSION, m.compression_method, 2),
        "extensions": _extensions(m.extensions, "server", errors),
    }


def _hello_verify_request(m: Any, base: int, errors: DecodeErrors) -> dict[str, Any]:
    """RFC 6347 §4.2.1 HelloVerifyRequest."""
    return {"server_version": _version(m.server_version), "cookie": _hex(m.cookie)}


def _certificate(m: Any, base: int, errors: DecodeErrors) -> dict[str, Any]:
    """RFC 5246 §7.4.2 Certificate, each one read with ``cryptography``'s x509."""
    return {
        "count": len(m.certificates),
        "certificates": [_x509(der, errors) for der in m.certificates],
    }


def _x509(der: bytes, errors: DecodeErrors) -> dict[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    from rtcstack.dtls.certificate import certificate_fingerprint

    out: dict[str, Any] = {"size": len(der)}
    try:
        cert = x509.load_der_x509_certificate(der)
        out["subject"] = cert.subject.rfc4514_string()
        out["issuer"] = cert.issuer.rfc4514_string()
        out["not_before"] = cert.not_valid_before_utc.isoformat()
        out["not_after"] = cert.not_valid_after_utc.isoformat()
        out["serial_number"] = f"0x{cert.serial_number:x}"
        key = cert.public_key()
        if isinstance(key, ec.EllipticCurvePublicKey):
            out["public_key"] = f"EC {key.curve.name}"
        elif isinstance(key, rsa.RSAPublicKey):
            out["public_key"] = f"RSA {key.key_size} bits"
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            out["public_key"] = type(key).__name__.removesuffix("PublicKey")
        else:
            out["public_key"] = type(key).__name__
        oid = cert.signature_algorithm_oid
        out["signature_algorithm"] = getattr(oid, "_name", None) or oid.dotted_string
    except Exception as exc:  # cryptography raises ValueError and others on bad DER
        out["error"] = errors.add("certificate", f"not a DER X.509 certificate: {exc}", None)
    out["sha-256"] = certificate_fingerprint(der, "sha-256")
    return out


def _server_key_exchange(m: Any, base: int, errors: DecodeErrors) -> dict[str, Any]:
    """RFC 8422 §5.4 ServerKeyExchange (ECDHE, named curve)."""
    return {
        "curve_type": "named_curve (3)",
        "named_group": _group(m.named_group),
        "public_key_size": len(m.public_key),
        "point_format": _point(m.public_key),
        "signature_scheme": _scheme(m.signature_scheme),
        "signature_size": len(m.signature),
    }


def _point(point: bytes) -> str:
    # RFC 8422 §5.4.1 UncompressedPointRepresentation: legacy_form 4; X25519/X448 raw keys.
    if point[:1] == b"\x04" and len(point) % 2 == 1:
        return "uncompressed"
    if point[:1] in (b"\x02", b"\x03"):
        return "compressed"
    return "raw"


def _certificate_request(m: Any, base: int, errors: DecodeErrors) -> dict[str, Any]:
    """RFC 5246 §7.4.4 CertificateRequest."""
    return {
        "certificate_types": [_name(_CERTIFICATE_TYPES, t, 2) for t in m.certificate_types],
        "signature_algorithms": [_scheme(s) for s in m.signature_schemes],
        # DistinguishedName: a DER X.501 Name (RFC 5246 §7.4.4), shown as hex
        "certificate_authorities": [f"{len(dn)} bytes: {dn.hex()}"
                                    for dn in m.certificate_authorities],
    }


def _client_key_exchange(m: Any, base: int, errors: DecodeErrors) -> dict[str, Any]:
    """RFC 8422 §5.7 ClientKeyExchange (ECDHE)."""
    return {"public_key_size": len(m.public_key), "point_format": _point(m.public_key)}


def _certificate_verify(m: Any, base: int, errors: DecodeErrors) -> dict[str, Any]:
    """RFC 5246 §7.4.8 CertificateVerify."""
    return {"signature_scheme": _scheme(m.signature_scheme), "signature_size": len(m.signature)}


def _finished(m: Any, base: int, errors: DecodeErrors) -> dict[str, Any]:
    """RFC 5246 §7.4.9 Finished."""
    return {"verify_data": m.verify_data.hex()}


_DESCRIBERS: Final[dict[str, Callable[[Any, int, DecodeErrors], dict[str, Any]]]] = {
    "ClientHello": _client_hello,
    "ServerHello": _server_hello,
    "HelloVerifyRequest": _hello_verify_request,
    "Certificate": _certificate,
    "ServerKeyExchange": _server_key_exchange,
    "CertificateRequest": _certificate_request,
    "ClientKeyExchange": _client_key_exchange,
    "CertificateVerify": _certificate_verify,
    "Finished": _finished,
}


# --- extensions ------------------------------------------------------------------------------


def _extensions(extensions: tuple[tuple[int, bytes], ...], side: str,
                errors: DecodeErrors) -> list[dict[str, Any]]:
    """RFC 5246 §7.4.1.4 each extension by name with its decoded value."""
    out: list[dict[str, Any]] = []
    for ext_type, data in extensions:
        name = EXTENSION_NAMES.get(ext_type)
        if name is None:
            name = "GREASE" if _grease(ext_type) else "unknown"
        decoder = _EXTENSIONS.get(ext_type)
        value: Any
        if decoder is None:
            value = _hex(data)
        else:
            try:
                value = decoder(data, side)
            except ParseError as exc:
                where = "" if exc.offset is None else f" (at byte {exc.offset} of its data)"
                value = {"error": errors.add(f"extension {name}", exc.reason + where, None),
                         "data": _hex(data)}
        out.append({"name": name, "type": ext_type, "value": value})
    return out


def _u16s(r: Reader, what: str, low: int = 0) -> list[int]:
    block = r.take(_len16(r, what, low), what)
    if len(block) % 2:
        raise ParseError(f"{what}: odd length {len(block)}", r.position - len(block))
    return [block[i] << 8 | block[i + 1] for i in range(0, len(block), 2)]


def _len16(r: Reader, what: str, low: int = 0) -> int:
    n = r.u16(what)
    if n < low:
        raise ParseError(f"{what}: length {n} below {low}", r.position - 2)
    return n


def _ext_groups(data: bytes, side: str) -> Any:
    """RFC 8422 §5.1.1 supported_groups."""
    r = Reader(data)
    out = [_group(g) for g in _u16s(r, "named_group_list", 2)]
    r.expect_end("supported_groups")
    return out


def _ext_point_formats(data: bytes, side: str) -> Any:
    """RFC 8422 §5.1.2 ec_point_formats."""
    from rtcstack.dtls.messages import decode_ec_point_formats

    return [_name(_POINT_FORMATS, f, 2) for f in decode_ec_point_formats(data)]


def _ext_signature_algorithms(data: bytes, side: str) -> Any:
    """RFC 5246 §7.4.1.4.1 signature_algorithms (and RFC 8446 §4.2.3 _cert)."""
    from rtcstack.dtls.messages import decode_signature_algorithms

    return [_scheme(s) for s in decode_signature_algorithms(data)]


def _ext_use_srtp(data: bytes, side: str) -> Any:
    """RFC 5764 §4.1.1 use_srtp."""
    from rtcstack.dtls.messages import decode_use_srtp

    use = decode_use_srtp(data)
    return {"profiles": [_name(SRTP_PROFILE_NAMES, p) for p in use.profiles],
            "mki": _hex(use.mki)}


def _ext_empty(data: bytes, side: str) -> Any:
    """RFC 7627 §5.1 extended_master_secret, RFC 7366 encrypt_then_mac, RFC 8446 §4.2.6
    post_handshake_auth: "The extension_data field of this extension is empty"."""
    if data:
        raise ParseError(f"{len(data)} bytes, must be empty", 0)
    return True


def _ext_renegotiation_info(data: bytes, side: str) -> Any:
    """RFC 5746 §3.2 renegotiation_info."""
    from rtcstack.dtls.messages import decode_renegotiation_info

    return {"renegotiated_connection": _hex(decode_renegotiation_info(data))}


def _ext_supported_versions(data: bytes, side: str) -> Any:
    """RFC 8446 §4.2.1 supported_versions (client list or server selection)."""
    from rtcstack.dtls.messages import (
        decode_supported_versions_client,
        decode_supported_versions_server,
    )

    if side == "server":
        return _version(decode_supported_versions_server(data))
    return [_version(v) if not _grease(v) else f"GREASE 0x{v:04x}"
            for v in decode_supported_versions_client(data)]


def _ext_key_share(data: bytes, side: str) -> Any:
    """RFC 8446 §4.2.8 key_share: the client's shares (group + key size), or the server's."""
    r = Reader(data)
    shares: list[str] = []
    if side == "client":
        inner = Reader(r.take(r.u16("client_shares"), "client_shares"), 2)
        while not inner.eof():
            group = inner.u16("group")
            key = inner.take(_len16(inner, "key_exchange", 1), "key_exchange")
            shares.append(f"{_group(group)}: {len(key)} bytes")
    else:
        group = r.u16("group")
        if r.eof():  # RFC 8446 §4.2.8 HelloRetryRequest form: the selected group only
            return f"{_group(group)} (HelloRetryRequest)"
        key = r.take(_len16(r, "key_exchange", 1), "key_exchange")
        shares.append(f"{_group(group)}: {len(key)} bytes")
    r.expect_end("key_share")
    return shares


def _ext_alpn(data: bytes, side: str) -> Any:
    """RFC 7301 §3.1 application_layer_protocol_negotiation."""
    r = Reader(data)
    inner = Reader(r.take(_len16(r, "protocol_name_list", 2), "protocol_name_list"), 2)
    r.expect_end("ALPN")
    names: list[str] = []
    while not inner.eof():
        n = inner.u8("ProtocolName")
        names.append(inner.take(n, "ProtocolName").decode("ascii", "backslashreplace"))
    return names


def _ext_server_name(data: bytes, side: str) -> Any:
    """RFC 6066 §3 server_name (empty in a ServerHello)."""
    if not data:
        return True
    r = Reader(data)
    inner = Reader(r.take(_len16(r, "server_name_list", 1), "server_name_list"), 2)
    r.expect_end("server_name")
    names: list[str] = []
    while not inner.eof():
        kind = inner.u8("name_type")
        name = inner.take(inner.u16("HostName"), "HostName")
        names.append(name.decode("ascii", "backslashreplace") if kind == 0
                     else f"type {kind}: {name.hex()}")
    return names


def _ext_u16(what: str) -> Callable[[bytes, str], Any]:
    def decode(data: bytes, side: str) -> Any:
        r = Reader(data)
        out = r.u16(what)
        r.expect_end(what)
        return out

    decode.__doc__ = f"one 16-bit {what}"
    return decode


def _ext_session_ticket(data: bytes, side: str) -> Any:
    """RFC 5077 §3.2 SessionTicket: empty asks for (or agrees to send) a ticket."""
    return "(empty)" if not data else f"ticket, {len(data)} bytes"


def _ext_padding(data: bytes, side: str) -> Any:
    """RFC 7685 §3 padding."""
    return f"{len(data)} bytes" + ("" if not any(data) else " (not all zero)")


def _ext_connection_id(data: bytes, side: str) -> Any:
    """RFC 9146 §3 connection_id: ``opaque cid<0..2^8-1>``."""
    r = Reader(data)
    cid = r.take(r.u8("cid"), "cid")
    r.expect_end("connection_id")
    return _hex(cid)


def _ext_u8_list(what: str) -> Callable[[bytes, str], Any]:
    def decode(data: bytes, side: str) -> Any:
        r = Reader(data)
        out = list(r.take(r.u8(what), what))
        r.expect_end(what)
        return out

    return decode


_EXTENSIONS: Final[dict[int, Callable[[bytes, str], Any]]] = {
    0: _ext_server_name,
    10: _ext_groups,
    11: _ext_point_formats,
    13: _ext_signature_algorithms,
    14: _ext_use_srtp,
    16: _ext_alpn,
    21: _ext_padding,
    22: _ext_empty,
    23: _ext_empty,
    28: _ext_u16("record_size_limit"),
    35: _ext_session_ticket,
    43: _ext_supported_versions,
    45: _ext_u8_list("psk_key_exchange_modes"),
    49: _ext_empty,
    50: _ext_signature_algorithms,
    51: _ext_key_share,
    54: _ext_connection_id,
    0xFF01: _ext_renegotiation_info,
}


def failure_lines(decoded: dict[str, Any]) -> list[str]:
    """One ``malformed dtls: ...`` line per problem found by :func:`describe_dtls`."""
    lines = []
    for error in decoded.get("errors", ()):
        where = "" if error["offset"] is None else f" (at byte offset {error['offset']})"
        lines.append(f"malformed dtls {error['where']}: {error['reason']}{where}")
    return lines
