"""``rtcstack decode HEX|- [--json]``: classify one datagram and print every field.

The datagram is classified by its first byte (RFC 7983 §7 / RFC 9443 §3, :mod:`rtcstack.demux`)
and handed to the decoder registered for its kind in :data:`DECODERS`.  A decoder takes the
bytes and returns a JSON-friendly ``dict`` (``describe()``), raising :class:`rtcstack.ParseError`
for malformed input.  Later layers add theirs to the table (DTLS records, RTP, RTCP, ...); a kind
without a decoder is reported as such, with its length.

RTP payloads are described for the formats named by ``--rtpmap PT=NAME`` (VP8, VP9, H264, opus,
PCMU, PCMA, ``rtx/APT``; PT 0 and 8 are PCMU and PCMA without it, RFC 3551 §6): every payload
descriptor field (:mod:`rtcstack.cli.decode_payloads`).  A malformed descriptor is shown after
the fields decoded before it, as a failure line, and the exit status is 1.

An SCTP packet (RFC 9260 §3) has no first-byte marker, so it is decoded only when ``--sctp``
asks: the common header with its checksum verdict and every chunk with its parameters, the DCEP
message of a PPID 50 DATA chunk included (:mod:`rtcstack.cli.decode_sctp`).

Input: hex digits (whitespace, colons and a leading ``0x`` are ignored), ``-`` for stdin (hex
text, or the raw datagram when stdin is not text), or ``--file PATH`` for a raw binary file.
Bad input prints one line naming the problem and its offset and exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtcstack.cli.decode_payloads import _scalar
from rtcstack.common import RtcstackError
from rtcstack.common.errors import ParseError
from rtcstack.demux import PacketKind, classify

__all__ = [
    "DECODERS", "SCTP", "InputError", "configure", "decode", "parse_hex", "read_input", "run",
]

Decoder = Callable[[bytes, argparse.Namespace], dict[str, Any]]


class InputError(Exception):
    """The command-line input is not a datagram (not hex, empty, unreadable file)."""


def _decode_stun(data: bytes, args: argparse.Namespace) -> dict[str, Any]:
    """RFC 8489 §5: every field; FINGERPRINT (§14.7) verified, MESSAGE-INTEGRITY (§14.5, §14.6)
    verified when ``--password`` gives the short-term password (§9.1.1)."""
    from rtcstack.stun import Message, short_term_key

    message = Message.parse(data)
    out = message.describe()
    out["fingerprint_valid"] = message.check_fingerprint() if message.has_fingerprint else None
    password: str | None = getattr(args, "password", None)
    if password is not None:
        key = short_term_key(password)
        if message.offsets[0] >= 0:
            out["integrity_valid"] = message.check_integrity(key)
        if message.offsets[1] >= 0:
            out["integrity_sha256_valid"] = message.check_integrity_sha256(key)
        if message.offsets[0] < 0 and message.offsets[1] < 0:
            out["integrity_valid"] = None
    return out


def _decode_channel_data(data: bytes, args: argparse.Namespace) -> dict[str, Any]:
    """RFC 8656 §12.4 TURN ChannelData."""
    from rtcstack.stun.channeldata import ChannelData

    return ChannelData.parse(data).describe()


# kind -> decoder.  Add a layer's decoder here; import its package inside the function so that
# ``rtcstack decode`` only loads the layer it needs.
def _plain(value: object) -> Any:
    """JSON-friendly data for decoded values: dataclass fields, bytes as hex, tuples as lists."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"type": type(value).__name__}
        for f in dataclasses.fields(value):
            out[f.name] = _plain(getattr(value, f.name))
        return out
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and hasattr(value, "name"):
        return str(value.name)  # IntEnum
    return value


def _srtp_context(args: argparse.Namespace) -> Any:
    """An SRTP context from ``--srtp-key`` (master key + salt, hex or base64) and
    ``--profile`` (RFC 5764 §4.1.2 name), or None when no key was given."""
    key_text = getattr(args, "srtp_key", None)
    if not key_text:
        return None
    import base64
    import binascii

    from rtcstack.srtp import Profile, create_context

    profile = Profile.from_name(getattr(args, "profile", None) or "AES128_CM_HMAC_SHA1_80")
    params = profile.params
    try:
        material = bytes.fromhex(key_text.replace(":", ""))
    except ValueError:
        try:
            material = base64.b64decode(key_text, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("--srtp-key is neither hex nor base64") from None
    if len(material) != params.key_length + params.salt_length:
        raise InputError(f"--srtp-key has {len(material)} bytes; {profile.name} needs "
                         f"{params.key_length} key + {params.salt_length} salt bytes")
    return create_context(profile, material[:params.key_length], material[params.key_length:],
                          backend="pure")


def _extmap(args: argparse.Namespace) -> dict[int, str]:
    """``--extmap ID=URI`` options (RFC 8285 §5, as in an SDP ``a=extmap`` line)."""
    result: dict[int, str] = {}
    for item in getattr(args, "extmap", None) or ():
        ident, eq, uri = item.partition("=")
        if not eq or not ident.isdigit():
            raise InputError(f"--extmap {item!r} is not ID=URI")
        result[int(ident)] = uri
    return result


def _rtpmap(args: argparse.Namespace) -> dict[int, Any]:
    """``--rtpmap PT=NAME`` options (as in an SDP ``a=rtpmap`` line, RFC 8866 §6.6) and the
    static payload types of RFC 3551 §6."""
    from rtcstack.cli.decode_payloads import parse_rtpmap

    try:
        return dict(parse_rtpmap(getattr(args, "rtpmap", None) or ()))
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _decode_rtp(data: bytes, args: argparse.Namespace) -> dict[str, Any]:
    """RFC 3550 §5.1 header, RFC 8285 extensions (typed by ``--extmap``), the payload descriptor
    of the format ``--rtpmap`` names; SRTP (RFC 3711, RFC 7714) is decrypted first when
    ``--srtp-key`` is given."""
    from rtcstack.cli.decode_payloads import describe_payload
    from rtcstack.rtp import RtpPacket
    from rtcstack.rtp.extensions import ExtensionMap

    formats = _rtpmap(args)
    out: dict[str, Any] = {}
    context = _srtp_context(args)
    if context is not None:
        data = context.unprotect_rtp(data)
        out["srtp"] = "authenticated and decrypted"
    packet = RtpPacket.parse(data)
    extmap = ExtensionMap(_extmap(args))
    typed = extmap.decode(packet.extensions)
    out.update({
        "version": 2,
        "padding": packet.padding,
        "marker": packet.marker,
        "payload_type": packet.payload_type,
        "sequence_number": packet.sequence_number,
        "timestamp": packet.timestamp,
        "ssrc": f"0x{packet.ssrc:08x}",
        "csrcs": [f"0x{c:08x}" for c in packet.csrcs],
        "extension_profile": (None if packet.extension_profile is None
                              else f"0x{packet.extension_profile:04x}"),
        "extensions": [
            {"id": ident, "uri": extmap.uris.get(ident), "value": _plain(typed[ident])}
            for ident, _ in packet.extensions
        ],
        "payload_size": len(packet.payload),
        "payload_head": packet.payload[:16].hex(),
    })
    start = len(data) - packet.padding - len(packet.payload)
    descriptor = describe_payload(packet.payload, packet.payload_type, formats, start)
    if descriptor is not None:
        out["payload_descriptor"] = descriptor
    return out


def _decode_rtcp(data: bytes, args: argparse.Namespace) -> dict[str, Any]:
    """RFC 3550 §6 compound RTCP, every packet (feedback RFC 4585/5104, XR RFC 3611, TWCC,
    REMB); SRTCP is decrypted first when ``--srtp-key`` is given."""
    from rtcstack.rtp.rtcp import parse_rtcp

    out: dict[str, Any] = {}
    context = _srtp_context(args)
    if context is not None:
        data = context.unprotect_rtcp(data)
        out["srtcp"] = "authenticated and decrypted"
    out["packets"] = [_plain(p) for p in parse_rtcp(data)]
    return out


def _decode_sctp(data: bytes, args: argparse.Namespace) -> dict[str, Any]:
    """RFC 9260 §3 one SCTP packet, chunk by chunk (:mod:`.decode_sctp`); only with --sctp."""
    from rtcstack.cli.decode_sctp import describe_sctp

    return describe_sctp(data)


def _decode_dtls(data: bytes, args: argparse.Namespace) -> dict[str, Any]:
    """RFC 6347 §4.1 every record; the epoch-0 handshake in full (:mod:`.decode_dtls`)."""
    from rtcstack.cli.decode_dtls import describe_dtls

    return describe_dtls(data)


DECODERS: dict[PacketKind, Decoder] = {
    PacketKind.STUN: _decode_stun,
    PacketKind.DTLS: _decode_dtls,
    PacketKind.CHANNEL_DATA: _decode_channel_data,
    PacketKind.RTP: _decode_rtp,
    PacketKind.RTCP: _decode_rtcp,
}

#: The kind of a datagram decoded with ``--sctp`` (not one RFC 9443 §3 classifies).
SCTP = "sctp"

_SEPARATORS = re.compile(r"[\s:]+")
_NOT_HEX = re.compile(r"[^0-9a-fA-F]")
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | frozenset(b"\t\n\r\f\v")


def parse_hex(text: str) -> bytes:
    """Hex digits to bytes; whitespace, ``:`` separators and a leading ``0x`` are ignored."""
    digits = _SEPARATORS.sub("", text)
    if digits[:2] in ("0x", "0X"):
        digits = digits[2:]
    if not digits:
        raise InputError("no input bytes")
    bad = _NOT_HEX.search(digits)
    if bad is not None:
        raise InputError(f"not hex: {bad.group()!r} after {bad.start()} hex digits")
    if len(digits) % 2:
        raise InputError(f"odd number of hex digits ({len(digits)})")
    return bytes.fromhex(digits)


def read_input(args: argparse.Namespace) -> bytes:
    """The datagram named by the command line (see the module docstring)."""
    words: list[str] = list(args.input or [])
    if args.file is not None:
        if words:
            raise InputError("give either HEX/- or --file, not both")
        try:
            data = Path(args.file).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {args.file}: {exc.strerror or exc}") from None
        if not data:
            raise InputError(f"{args.file} is empty")
        return data
    if not words:
        raise InputError("give the datagram as HEX, '-' (stdin) or --file PATH")
    if words != ["-"]:
        return parse_hex(" ".join(words))
    stream = getattr(sys.stdin, "buffer", None)
    raw: bytes = stream.read() if stream is not None else sys.stdin.read().encode()
    if raw and all(b in _TEXT_BYTES for b in raw):
        return parse_hex(raw.decode("ascii"))
    if not raw:
        raise InputError("no input bytes on stdin")
    return raw  # not text: the datagram itself


def decode(data: bytes, args: argparse.Namespace | None = None) -> dict[str, Any]:
    """Classify ``data`` and decode it: ``{"kind", "size", "decoded", ...}``.

    Raises :class:`ParseError` when the kind's decoder rejects the bytes.
    """
    if args is not None and getattr(args, "sctp", False):
        return {"kind": SCTP, "size": len(data), "decoded": _decode_sctp(data, args)}
    kind = classify(data)
    out: dict[str, Any] = {"kind": kind.value, "size": len(data)}
    decoder = DECODERS.get(kind)
    if decoder is None:
        out["decoded"] = None
        out["note"] = f"no decoder for {kind.value} yet"
        return out
    out["decoded"] = decoder(data, args if args is not None else argparse.Namespace())
    return out


# --- human output ---------------------------------------------------------------------------




def _is_flat(value: object) -> bool:
    return isinstance(value, dict) and all(
        not isinstance(v, dict | list) for v in value.values()
    )


def _inline(value: object) -> str | None:
    """A one-line rendering of scalars and flat dicts/lists, or None if it needs a block."""
    if isinstance(value, dict):
        if not _is_flat(value):
            return None
        return ", ".join(f"{k}={_scalar(v)}" for k, v in value.items()) or "{}"
    if isinstance(value, list):
        if any(isinstance(v, dict | list) for v in value):
            return None
        return ", ".join(_scalar(v) for v in value) or "(none)"
    return _scalar(value)


def _render(value: object, indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            text = _inline(item)
            if text is not None:
                lines.append(f"{pad}{key}: {text}")
            else:
                lines.append(f"{pad}{key}:")
                _render(item, indent + 1, lines)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and {"name", "type", "value"} <= item.keys():
                # An attribute / TLV: "NAME (0xTYPE): value"
                head = f"{pad}{item['name']} ({item['type']})"
                text = _inline(item["value"])
                if text is not None:
                    lines.append(f"{head}: {text}")
                else:
                    lines.append(f"{head}:")
                    _render(item["value"], indent + 1, lines)
            elif (text := _inline(item)) is not None:
                lines.append(f"{pad}- {text}")
            else:
                lines.append(f"{pad}-")
                _render(item, indent + 1, lines)
    else:
        lines.append(f"{pad}{_scalar(value)}")


def format_human(result: dict[str, Any], data: bytes) -> str:
    if result["kind"] == SCTP:
        from rtcstack.cli import decode_sctp

        head = f"sctp: {result['size']} bytes (decoded as SCTP as --sctp asks, RFC 9260 §3)"
        return "\n".join([head, *decode_sctp.render_human(result["decoded"], 1)])
    lines = [f"{result['kind']}: {result['size']} bytes (first byte 0x{data[0]:02x}, RFC 9443 §3)"]
    decoded = result.get("decoded")
    if decoded is None:
        lines.append(f"  {result['note']}")
        return "\n".join(lines)
    body = dict(decoded)
    fingerprint = body.pop("fingerprint_valid", ...)
    descriptor = body.pop("payload_descriptor", None)
    _render(body, 1, lines)
    if descriptor is not None:
        from rtcstack.cli.decode_payloads import render_human

        lines.append("  payload_descriptor:")
        lines += render_human(descriptor, 2)
        error = _payload_error(result)
        if error is not None:
            lines.append(f"    {_payload_error_text(error)}")
    if fingerprint is not ...:
        verdict = {True: "valid", False: "INVALID", None: "absent"}[fingerprint]
        lines.append(f"  FINGERPRINT check: {verdict}")
    return "\n".join(lines)


# --- the command ----------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input", nargs="*", metavar="HEX|-",
        help="the datagram in hex (spaces and colons allowed, several words are joined), "
        "or '-' to read stdin",
    )
    parser.add_argument("--file", metavar="PATH", help="read the raw datagram from a file")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--password", help="STUN short-term password: also verify MESSAGE-INTEGRITY"
    )
    parser.add_argument(
        "--srtp-key", metavar="KEY",
        help="SRTP/SRTCP master key followed by the master salt (hex or base64): decrypt first",
    )
    parser.add_argument(
        "--profile", metavar="NAME",
        help="SRTP profile for --srtp-key (default AES128_CM_HMAC_SHA1_80; also "
        "AES128_CM_HMAC_SHA1_32, AEAD_AES_128_GCM, AEAD_AES_256_GCM)",
    )
    parser.add_argument(
        "--extmap", metavar="ID=URI", action="append",
        help="an RTP header extension mapping (as in a=extmap), to type the extension (repeat)",
    )
    parser.add_argument(
        "--rtpmap", metavar="PT=NAME", action="append",
        help="the RTP payload format of a payload type (as in a=rtpmap: VP8, VP9, H264, opus, "
        "PCMU, PCMA, or rtx/APT for retransmissions of APT; case-insensitive; repeat) to show "
        "its payload descriptor; PT 0 (PCMU) and 8 (PCMA) are known without it",
    )
    parser.add_argument(
        "--sctp", action="store_true",
        help="decode the bytes as one SCTP packet (RFC 9260; no first byte marks one): the "
        "common header and checksum, every chunk and parameter, DCEP messages",
    )


def run(args: argparse.Namespace) -> int:
    try:
        data = read_input(args)
    except InputError as exc:
        return _fail(args, f"rtcstack decode: {exc}", {"error": str(exc)})
    try:
        result = decode(data, args)
    except InputError as exc:
        return _fail(args, f"rtcstack decode: {exc}", {"error": str(exc)})
    except ParseError as exc:
        kind = SCTP if getattr(args, "sctp", False) else classify(data).value
        where = "" if exc.offset is None else f" (at byte offset {exc.offset})"
        return _fail(
            args,
            f"rtcstack decode: malformed {kind}: {exc.reason}{where}",
            {"kind": kind, "size": len(data), "error": exc.reason, "offset": exc.offset},
        )
    except (RtcstackError, ValueError) as exc:
        # SRTP authentication / replay failures (RFC 3711 §3.3), an unknown --profile
        return _fail(args, f"rtcstack decode: {exc}", {"error": str(exc)})
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(format_human(result, data))
    error = _payload_error(result)
    if error is not None:
        print(f"rtcstack decode: {_payload_error_text(error)}", file=sys.stderr)
        return 1
    if result["kind"] == PacketKind.DTLS.value and result["decoded"]["errors"]:
        from rtcstack.cli.decode_dtls import failure_lines

        for line in failure_lines(result["decoded"]):
            print(f"rtcstack decode: {line}", file=sys.stderr)
        return 1
    if result["kind"] == SCTP and result["decoded"]["errors"]:
        from rtcstack.cli import decode_sctp

        for line in decode_sctp.failure_lines(result["decoded"]):
            print(f"rtcstack decode: {line}", file=sys.stderr)
        return 1
    return 0


def _payload_error(result: dict[str, Any]) -> dict[str, Any] | None:
    """The RTP payload descriptor's decode failure, if any."""
    from rtcstack.cli.decode_payloads import find_error

    decoded = result.get("decoded")
    if not isinstance(decoded, dict) or "payload_descriptor" not in decoded:
        return None
    return find_error(decoded["payload_descriptor"])


def _payload_error_text(error: dict[str, Any]) -> str:
    where = "" if error["offset"] is None else (
        f" (at byte offset {error['offset']}, payload byte {error['payload_offset']})")
    return f"malformed {error['format']} payload: {error['reason']}{where}"


def _fail(args: argparse.Namespace, line: str, payload: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(payload, ensure_ascii=False))
    print(line, file=sys.stderr)
    return 1
