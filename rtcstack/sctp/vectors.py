"""Checkers for the SCTP vectors: RFC 7143 §A.4 CRC32c examples and DCEP messages.

Each checker takes a vector (an ``rtcstack.vectors.Vector``; only its ``inputs``, ``cases`` and
``expected`` are read, so this module imports nothing outside the layer) and returns the
problems found, ``[]`` for a pass.  ``rtcstack vectors`` registers them in its ``CHECKERS``.

Kinds:

- ``crc32c``: RFC 7143 §A.4 (the CRC32c of RFC 9260 §6.8 / Appendix A).  Per case: the bytes
  the RFC prints agree with ``data``; :func:`~rtcstack.sctp.crc32c.crc32c` and the pure-Python
  :func:`~rtcstack.sctp.crc32c.crc32c_reference` both give the printed CRC bytes when the
  register is stored least-significant byte first (as SCTP stores its checksum field); the
  other way, the data followed by the printed CRC leaves RFC 7143 §13.1's constant remainder
  (``inputs.residue``), and a flipped bit does not; the CRC is the same written into an SCTP
  common header by :func:`~rtcstack.sctp.crc32c.with_checksum`.
- ``dcep-message``: RFC 8832 §5 messages (captures): every case parses to its ``fields`` and
  serializes back to the exact bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rtcstack.sctp.crc32c import (
    check_checksum,
    crc32c,
    crc32c_extend,
    crc32c_reference,
    with_checksum,
)
from rtcstack.sctp.dcep import DcepParseError, parse_dcep

__all__ = ["CHECKERS", "case_bytes", "check_crc32c", "check_dcep_message", "polynomial_residue"]


def case_bytes(spec: Mapping[str, Any]) -> bytes:
    """``{"hex": "00 01" | ["00 01", ...]}`` or ``{"repeat": ["ff", 32]}`` as bytes."""
    if "hex" in spec:
        value = spec["hex"]
        text = value if isinstance(value, str) else " ".join(value)
        return bytes.fromhex(text)
    if "repeat" in spec:
        byte, count = spec["repeat"]
        return bytes.fromhex(byte) * int(count)
    raise ValueError(f"case data {dict(spec)!r}: expected 'hex' or 'repeat'")


def _reflect32(x: int) -> int:
    return int(f"{x:032b}"[::-1], 2)


def polynomial_residue(data_with_crc: bytes) -> int:
    """RFC 7143 §13.1's final remainder R(x) over data followed by its CRC, in polynomial form.

    The reflected register is complemented back (undoing the final XOR) and bit-reversed into
    the x^31..x^0 order the RFC writes polynomials in; for a correct CRC it is 0x1c2d19ed.
    """
    return _reflect32(crc32c(data_with_crc) ^ 0xFFFFFFFF)


def check_crc32c(vector: Any) -> list[str]:
    problems: list[str] = []
    residue = int(vector.inputs["residue"], 16)
    for case in vector.cases:
        name = case["name"]
        data = case_bytes(case["data"])
        if len(data) != case["data_len"]:
            problems.append(f"{name}: data is {len(data)} bytes, not {case['data_len']}")
        for row in case.get("printed_rows", ()):
            printed = bytes.fromhex(row["hex"])
            at = row["offset"]
            if data[at : at + len(printed)] != printed:
                problems.append(f"{name}: row {at} is printed {row['hex']}, data has "
                                f"{data[at : at + len(printed)].hex(' ')}")
        wire = bytes.fromhex(case["crc"])
        want = int.from_bytes(wire, "little")
        got = crc32c(data)
        if got != want:
            problems.append(f"{name}: crc32c 0x{got:08x}, RFC prints {case['crc']}"
                            f" (0x{want:08x} least-significant byte first)")
        ref = crc32c_reference(data)
        if ref != want:
            problems.append(f"{name}: crc32c_reference 0x{ref:08x}, RFC 0x{want:08x}")
        half = len(data) // 2
        if crc32c_extend(crc32c(data[:half]), data[half:]) != want:
            problems.append(f"{name}: crc32c_extend over two halves differs")
        left = polynomial_residue(data + wire)
        if left != residue:
            problems.append(f"{name}: data + printed CRC leaves remainder 0x{left:08x},"
                            f" RFC 7143 §13.1 0x{residue:08x}")
        if data:
            flipped = bytes([data[0] ^ 1]) + data[1:]
            if polynomial_residue(flipped + wire) == residue:
                problems.append(f"{name}: a flipped bit still leaves the constant remainder")
        # The same bytes behind an SCTP common header with a zero checksum field: §6.8.
        header = bytes(range(1, 9)) + bytes(4)
        packet = with_checksum(header + data)
        if packet[8:12] != crc32c(header + data).to_bytes(4, "little") or not check_checksum(
            packet
        ):
            problems.append(f"{name}: with_checksum/check_checksum disagree with crc32c")
    return problems


def check_dcep_message(vector: Any) -> list[str]:
    problems: list[str] = []
    for case in vector.cases:
        name = case.get("name", "?")
        data = case_bytes(case)
        try:
            message = parse_dcep(data)
        except DcepParseError as exc:
            problems.append(f"{name}: {exc}")
            continue
        fields = message.describe()
        for key, want in case.get("fields", {}).items():
            if fields.get(key) != want:
                problems.append(f"{name}: {key} is {fields.get(key)!r}, expected {want!r}")
        if message.serialize() != data:
            problems.append(f"{name}: serializes as {message.serialize().hex()}, not {data.hex()}")
    return problems


CHECKERS: dict[str, Callable[[Any], list[str]]] = {
    "crc32c": check_crc32c,
    "dcep-message": check_dcep_message,
}
