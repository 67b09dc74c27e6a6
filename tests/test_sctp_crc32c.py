"""RFC 9260 §6.8 / Appendix A CRC32c: the RFC 7143 §A.4 vectors, the C implementation against
the pure-Python Appendix A algorithm, and the checksum field of an SCTP packet."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcstack.cli.vectors import check_vector
from rtcstack.sctp.crc32c import (
    _TABLE,
    check_checksum,
    crc32c,
    crc32c_extend,
    crc32c_reference,
    packet_checksum,
    with_checksum,
)
from rtcstack.sctp.vectors import case_bytes, polynomial_residue
from rtcstack.vectors import load

VECTOR = load(7143, "crc-examples")
CASES = {case["name"]: case for case in VECTOR.cases}

# RFC 9260 §3.1 common header: source port 5000, destination port 5000 (the WebRTC default),
# verification tag 0x12345678, checksum 0; then a COOKIE ACK chunk (§3.3.12): type 11, flags 0,
# length 4.
COOKIE_ACK_PACKET = bytes.fromhex("1388 1388 12345678 00000000" "0b 00 00 04".replace(" ", ""))


def test_the_vector_file_passes_its_checker() -> None:
    assert check_vector(VECTOR) == []


def test_every_rfc_7143_example_is_there() -> None:
    assert list(CASES) == [
        "zeroes", "ones", "incrementing", "decrementing", "iscsi-read-10-pdu",
    ]


@pytest.mark.parametrize("name", list(CASES))
def test_crc_of_each_example_in_wire_order(name: str) -> None:
    """RFC 7143 prints the CRC bytes in wire order: the register least-significant byte first."""
    case = CASES[name]
    data = case_bytes(case["data"])
    wire = bytes.fromhex(case["crc"])
    assert struct.pack("<I", crc32c(data)) == wire
    assert struct.pack("<I", crc32c_reference(data)) == wire
    # the other way: data + its CRC leaves RFC 7143 §13.1's constant remainder
    assert polynomial_residue(data + wire) == 0x1C2D19ED
    assert polynomial_residue(data + wire[::-1]) != 0x1C2D19ED  # network order would be wrong


def test_known_integer_values() -> None:
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 7143 §A.4 "aa 36 91 8a"
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C "check" value
    assert crc32c(b"") == 0 == crc32c_reference(b"")


def test_reference_table_matches_rfc_9260_appendix_a() -> None:
    """The first and last entries of Appendix A's printed ``crc_c[256]``."""
    assert _TABLE[:4] == (0x00000000, 0xF26B8303, 0xE13B70F7, 0x1350F3F4)
    assert _TABLE[-4:] == (0xBE2DA0A5, 0x4C4623A6, 0x5F16D052, 0xAD7D5351)


@given(st.binary(max_size=2048))
def test_c_implementation_agrees_with_the_appendix_a_algorithm(data: bytes) -> None:
    assert crc32c(data) == crc32c_reference(data)


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_extend_continues_a_crc(a: bytes, b: bytes) -> None:
    assert crc32c_extend(crc32c(a), b) == crc32c(a + b)


def test_checksum_of_a_cookie_ack_packet() -> None:
    packet = COOKIE_ACK_PACKET
    crc = crc32c_reference(packet)  # checksum field is zero: §6.8 step 1
    assert packet_checksum(packet) == crc
    signed = with_checksum(packet)
    assert signed[8:12] == struct.pack("<I", crc)
    assert signed[:8] == packet[:8] and signed[12:] == packet[12:]
    assert check_checksum(signed)
    assert not check_checksum(packet)  # a zero field is not the CRC of this packet
    # a nonzero field on input is taken as zero, for computing and for re-signing
    assert packet_checksum(signed) == crc
    assert with_checksum(signed) == signed


@given(st.binary(min_size=12, max_size=1500), st.data())
def test_any_packet_signs_and_verifies(packet: bytes, data: st.DataObject) -> None:
    signed = with_checksum(packet)
    zeroed = packet[:8] + bytes(4) + packet[12:]
    assert signed[8:12] == struct.pack("<I", crc32c_reference(zeroed))
    assert check_checksum(signed)
    assert packet_checksum(signed) == packet_checksum(packet) == crc32c(zeroed)
    # any single flipped bit is caught
    index = data.draw(st.integers(0, len(signed) - 1))
    bit = data.draw(st.integers(0, 7))
    corrupted = bytearray(signed)
    corrupted[index] ^= 1 << bit
    assert not check_checksum(bytes(corrupted))


def test_short_input() -> None:
    assert not check_checksum(b"")
    assert not check_checksum(COOKIE_ACK_PACKET[:11])
    with pytest.raises(ValueError, match="common header"):
        with_checksum(b"\x00" * 11)
    with pytest.raises(ValueError, match="common header"):
        packet_checksum(b"")
    # exactly a common header and no chunk: still checksummed
    assert check_checksum(with_checksum(bytes(12)))
