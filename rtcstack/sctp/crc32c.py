"""RFC 9260 §6.8 / Appendix A: the CRC32c checksum of an SCTP packet.

The CRC itself (Castagnoli polynomial 0x1EDC6F41, reflected, initial value and final XOR
0xFFFFFFFF) comes from the C implementation in ``google_crc32c``: a pure-Python table loop costs
~100 µs per 1200-byte packet, the C call well under 1 µs.  :func:`crc32c_reference` is the RFC
9260 Appendix A table algorithm in plain Python, kept only as an independent oracle for tests.

Byte order on the wire (RFC 9260 Appendix A, RFC 7143 §13.1 and A.4)
--------------------------------------------------------------------

The reflected ("mirrored") algorithm leaves the CRC in a register whose *least*-significant byte
holds the coefficients x^31..x^24, which Appendix A maps to byte 0 of the checksum field.  The
RFC's sample code says the same thing in C: ``generate_crc32c`` byte-swaps the register and
``insert_crc32`` then stores it with ``htonl``; the two swaps cancel, so the register goes onto
the wire least-significant byte first -- ``struct.pack("<I", crc)``, *not* network order like
every other SCTP field.  RFC 7143 Appendix A.4 prints its CRC32c examples as the digest bytes
in wire order: 32 zero bytes give ``aa 36 91 8a``, which is the register value 0x8A9136AA
(:func:`crc32c`'s return value) stored little-endian.

Speed: ``google_crc32c`` accepts only ``bytes`` (not ``memoryview`` nor ``bytearray``), and
one C call over a concatenated copy (``head + zeros + tail``) measured faster than chaining
``extend()`` over the three pieces (each C call costs more than copying 1200 bytes): about
0.25-0.35 µs against 0.35-0.45 µs for 16-1200 bytes.  A packet whose checksum field is already
zero (how a sender builds one) is checksummed in place, without the copy.
"""

from __future__ import annotations

import struct

from google_crc32c import extend as _extend
from google_crc32c import value as _value

__all__ = [
    "CHECKSUM_OFFSET",
    "COMMON_HEADER_SIZE",
    "check_checksum",
    "crc32c",
    "crc32c_extend",
    "crc32c_reference",
    "packet_checksum",
    "with_checksum",
]

#: RFC 9260 §3.1: source port, destination port, verification tag, checksum.
COMMON_HEADER_SIZE = 12
#: The checksum field is bytes 8..12 of the common header (RFC 9260 §3.1).
CHECKSUM_OFFSET = 8

_ZERO = b"\x00\x00\x00\x00"
_LE32 = struct.Struct("<I")
_pack_le32 = _LE32.pack
_unpack_le32 = _LE32.unpack_from


def crc32c(data: bytes) -> int:
    """RFC 9260 Appendix A CRC32c of ``data`` as the reflected register value.

    ``crc32c(bytes(32)) == 0x8A9136AA``; on the wire this is ``aa 36 91 8a`` (see the module
    docstring).
    """
    return int(_value(data))


def crc32c_extend(crc: int, data: bytes) -> int:
    """Continue a CRC32c: ``crc32c_extend(crc32c(a), b) == crc32c(a + b)``."""
    return int(_extend(crc, data))


def packet_checksum(packet: bytes) -> int:
    """RFC 9260 §6.8 CRC32c of an SCTP packet with its checksum field (bytes 8..12) taken as 0.

    The packet must hold at least the 12-byte common header (``ValueError`` otherwise).  The
    result is the register value; :func:`with_checksum` writes it least-significant byte first.
    """
    if len(packet) < COMMON_HEADER_SIZE:
        raise ValueError(f"SCTP packet of {len(packet)} bytes, shorter than the common header")
    if packet[8:12] == _ZERO:
        return int(_value(packet))
    return int(_value(packet[:8] + _ZERO + packet[12:]))


def with_checksum(packet: bytes) -> bytes:
    """RFC 9260 §6.8 sender steps 1-3: ``packet`` with its CRC32c in bytes 8..12.

    Whatever the checksum field holds on input is ignored (taken as zero).  The CRC is stored
    least-significant byte first (``struct '<I'``), as RFC 9260 Appendix A prescribes.
    """
    if len(packet) < COMMON_HEADER_SIZE:
        raise ValueError(f"SCTP packet of {len(packet)} bytes, shorter than the common header")
    head = packet[:8]
    tail = packet[12:]
    if packet[8:12] == _ZERO:  # how a sender builds it (§6.8 step 1): no copy to compute over
        return head + _pack_le32(_value(packet)) + tail
    return head + _pack_le32(_value(head + _ZERO + tail)) + tail


def check_checksum(packet: bytes) -> bool:
    """RFC 9260 §6.8 receiver steps 1-3: does the checksum field match the packet's CRC32c?

    A packet shorter than the common header is not valid: ``False``.  (RFC 9653's zero
    checksum, when negotiated, is the association's decision, not this function's.)
    """
    if len(packet) < COMMON_HEADER_SIZE:
        return False
    return bool(
        _unpack_le32(packet, CHECKSUM_OFFSET)[0] == _value(packet[:8] + _ZERO + packet[12:])
    )


# --- the RFC 9260 Appendix A algorithm, in plain Python (a test oracle, ~100x slower) ---------

_POLY = 0x1EDC6F41  # RFC 9260 Appendix A CRC32C_POLY


def _reflect32(b: int) -> int:
    """Appendix A ``reflect_32``: bit i moves to bit 31 - i."""
    rw = 0
    for i in range(32):
        if b & 1:
            rw |= 1 << (31 - i)
        b >>= 1
    return rw


def _table_entry(index: int) -> int:
    """Appendix A ``build_crc_table``: the reflected table entry for one byte value."""
    rb = _reflect32(index)
    for _ in range(8):
        rb = ((rb << 1) ^ _POLY) & 0xFFFFFFFF if rb & 0x80000000 else (rb << 1) & 0xFFFFFFFF
    return _reflect32(rb)


_TABLE = tuple(_table_entry(i) for i in range(256))


def crc32c_reference(data: bytes) -> int:
    """RFC 9260 Appendix A ``generate_crc32c`` without its final byte swap, in plain Python.

    Register initialised to all ones, one table step per byte (``CRC32C(c, d)``), complemented.
    The RFC then byte-swaps and stores with ``htonl``; returning the register before that swap
    gives the same integer as :func:`crc32c`.  For tests only.
    """
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFFFFFF
