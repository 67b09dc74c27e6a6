"""``rtcstack decode HEX|- [--json]``: classify one datagram and print every field.

The datagram is classified by its first byte (RFC 7983 §7 / RFC 9443 §3, :mod:`rtcstack.demux`)
and handed to the decoder registered for its kind in :data:`DECODERS`.  A decoder takes the
bytes and returns a JSON-friendly ``dict`` (``describe()``), raising :class:`rtcstack.ParseError`
for malformed input.  Later layers add theirs to the table (DTLS records, RTP, RTCP, ...); a kind
without a decoder is reported as such, with its length.

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

from rtcstack.common.errors import ParseError
from rtcstack.demux import PacketKind, classify

__all__ = ["DECODERS", "InputError", "configure", "decode", "parse_hex", "read_input", "run"]

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
DECODERS: dict[PacketKind, Decoder] = {
    PacketKind.STUN: _decode_stun,
    PacketKind.CHANNEL_DATA: _decode_channel_data,
}

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


def _scalar(value: object) -> str:
    if value is None:
        return "-"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


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
    lines = [f"{result['kind']}: {result['size']} bytes (first byte 0x{data[0]:02x}, RFC 9443 §3)"]
    decoded = result.get("decoded")
    if decoded is None:
        lines.append(f"  {result['note']}")
        return "\n".join(lines)
    body = dict(decoded)
    fingerprint = body.pop("fingerprint_valid", ...)
    _render(body, 1, lines)
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


def run(args: argparse.Namespace) -> int:
    try:
        data = read_input(args)
    except InputError as exc:
        return _fail(args, f"rtcstack decode: {exc}", {"error": str(exc)})
    try:
        result = decode(data, args)
    except ParseError as exc:
        kind = classify(data).value
        where = "" if exc.offset is None else f" (at byte offset {exc.offset})"
        return _fail(
            args,
            f"rtcstack decode: malformed {kind}: {exc.reason}{where}",
            {"kind": kind, "size": len(data), "error": exc.reason, "offset": exc.offset},
        )
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(format_human(result, data))
    return 0


def _fail(args: argparse.Namespace, line: str, payload: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(payload, ensure_ascii=False))
    print(line, file=sys.stderr)
    return 1
