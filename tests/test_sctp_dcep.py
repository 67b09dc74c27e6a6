"""RFC 8832 DCEP messages and RFC 8831 §8 PPIDs.

No RFC prints DCEP bytes: the layouts below are written out by hand from the RFC 8832 §5.1 and
§5.2 figures, field by field.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcstack.common.errors import ParseError
from rtcstack.sctp.dcep import (
    PRIORITY_BELOW_NORMAL,
    PRIORITY_EXTRA_HIGH,
    PRIORITY_HIGH,
    PRIORITY_NORMAL,
    ChannelType,
    DataChannelAck,
    DataChannelOpen,
    DcepParseError,
    MessageType,
    Ppid,
    parse_dcep,
)

# RFC 8832 §5.1: Message Type 0x03 | Channel Type | Priority (2) | Reliability Parameter (4) |
# Label Length (2) | Protocol Length (2) | Label | Protocol
OPEN_CHAT = bytes.fromhex(
    "03"  # DATA_CHANNEL_OPEN (§8.2.1)
    "00"  # DATA_CHANNEL_RELIABLE
    "0100"  # priority 256, "normal" (RFC 8831 §6.4)
    "00000000"  # reliability parameter: 0 for a reliable channel
    "0004"  # label length 4
    "0000"  # protocol length 0
    "63686174"  # "chat"
)
ACK = b"\x02"  # §5.2


def test_ppids_and_message_types() -> None:
    assert (Ppid.DCEP, Ppid.STRING, Ppid.BINARY, Ppid.STRING_EMPTY, Ppid.BINARY_EMPTY) == (
        50, 51, 53, 56, 57,
    )
    # RFC 8831 §8 Table 1: 52 is "WebRTC Binary Partial", 54 "WebRTC String Partial".
    assert (Ppid.BINARY_PARTIAL, Ppid.STRING_PARTIAL) == (52, 54)
    assert (MessageType.DATA_CHANNEL_ACK, MessageType.DATA_CHANNEL_OPEN) == (2, 3)
    assert (PRIORITY_BELOW_NORMAL, PRIORITY_NORMAL, PRIORITY_HIGH, PRIORITY_EXTRA_HIGH) == (
        128, 256, 512, 1024,
    )


def test_open_chat_by_hand() -> None:
    message = parse_dcep(OPEN_CHAT)
    assert message == DataChannelOpen(ChannelType.RELIABLE, 256, 0, "chat", "")
    assert isinstance(message, DataChannelOpen)
    assert message.ordered and message.max_retransmits is None
    assert message.max_packet_life_time is None
    assert message.serialize() == OPEN_CHAT == bytes(message)
    assert DataChannelOpen.create("chat") == message
    assert DataChannelOpen.parse(OPEN_CHAT) == message
    assert message.describe() == {
        "protocol": "DCEP", "message_type": "DATA_CHANNEL_OPEN", "channel_type": "RELIABLE",
        "ordered": True, "priority": 256, "reliability_parameter": 0, "max_retransmits": None,
        "max_packet_life_time": None, "label": "chat", "subprotocol": "",
    }
    json.dumps(message.describe())


def test_ack_by_hand() -> None:
    assert parse_dcep(ACK) == DataChannelAck()
    assert DataChannelAck().serialize() == ACK == bytes(DataChannelAck())
    assert DataChannelAck.parse(ACK) == DataChannelAck()
    assert DataChannelAck().describe() == {"protocol": "DCEP", "message_type": "DATA_CHANNEL_ACK"}
    with pytest.raises(DcepParseError, match="expected DATA_CHANNEL_OPEN"):
        DataChannelOpen.parse(ACK)
    with pytest.raises(DcepParseError, match="expected DATA_CHANNEL_ACK"):
        DataChannelAck.parse(OPEN_CHAT)


# (channel type byte, priority, reliability parameter, label, protocol, hand-written bytes,
#  ordered, max_retransmits, max_packet_life_time)
EACH_TYPE = [
    (ChannelType.RELIABLE, 256, 0, "a", "",
     "03 00 0100 00000000 0001 0000 61", True, None, None),
    (ChannelType.RELIABLE_UNORDERED, 128, 0, "a", "",
     "03 80 0080 00000000 0001 0000 61", False, None, None),
    (ChannelType.PARTIAL_RELIABLE_REXMIT, 512, 3, "a", "b",
     "03 01 0200 00000003 0001 0001 61 62", True, 3, None),
    (ChannelType.PARTIAL_RELIABLE_REXMIT_UNORDERED, 1024, 0, "", "",
     "03 81 0400 00000000 0000 0000", False, 0, None),
    (ChannelType.PARTIAL_RELIABLE_TIMED, 256, 1500, "ab", "",
     "03 02 0100 000005dc 0002 0000 61 62", True, None, 1500),
    (ChannelType.PARTIAL_RELIABLE_TIMED_UNORDERED, 256, 0xFFFFFFFF, "", "proto",
     "03 82 0100 ffffffff 0000 0005 70 72 6f 74 6f", False, None, 0xFFFFFFFF),
]


@pytest.mark.parametrize("case", EACH_TYPE, ids=lambda c: c[0].name)
def test_each_channel_type_by_hand(case: tuple[object, ...]) -> None:
    ctype, priority, parameter, label, protocol, hexed, ordered, rexmit, lifetime = case
    assert isinstance(ctype, ChannelType) and isinstance(hexed, str)
    data = bytes.fromhex(hexed.replace(" ", ""))
    message = parse_dcep(data)
    assert message == DataChannelOpen(ctype, priority, parameter, label, protocol)  # type: ignore[arg-type]
    assert isinstance(message, DataChannelOpen)
    assert message.serialize() == data
    assert (message.ordered, message.max_retransmits, message.max_packet_life_time) == (
        ordered, rexmit, lifetime,
    )
    assert ChannelType.of(ordered, rexmit, lifetime) is ctype  # type: ignore[arg-type]
    assert ctype.ordered is ordered
    assert ctype.reliability(parameter) == (rexmit, lifetime)  # type: ignore[arg-type]


def test_channel_type_of() -> None:
    assert ChannelType.of(True) is ChannelType.RELIABLE
    assert ChannelType.of(False) is ChannelType.RELIABLE_UNORDERED
    assert ChannelType.of(False, max_retransmits=0) is ChannelType.PARTIAL_RELIABLE_REXMIT_UNORDERED
    assert ChannelType.of(True, max_packet_life_time=0) is ChannelType.PARTIAL_RELIABLE_TIMED
    with pytest.raises(ValueError, match="not both"):
        ChannelType.of(True, 1, 1)
    assert ChannelType.RELIABLE_UNORDERED.reliable
    assert not ChannelType.PARTIAL_RELIABLE_TIMED.reliable
    # §5.1: the parameter "MUST be ignored on the receiving side" for reliable channels
    assert ChannelType.RELIABLE.reliability(7) == (None, None)


def test_create() -> None:
    m = DataChannelOpen.create("x", "p", ordered=False, max_retransmits=5, priority=PRIORITY_HIGH)
    assert m == DataChannelOpen(ChannelType.PARTIAL_RELIABLE_REXMIT_UNORDERED, 512, 5, "x", "p")
    m = DataChannelOpen.create(max_packet_life_time=100)
    assert m == DataChannelOpen(ChannelType.PARTIAL_RELIABLE_TIMED, 256, 100, "", "")


def test_a_reliable_channel_keeps_a_nonzero_parameter_as_sent() -> None:
    data = bytes.fromhex("03 00 0100 00000009 0000 0000".replace(" ", ""))
    message = parse_dcep(data)
    assert isinstance(message, DataChannelOpen)
    assert message.reliability_parameter == 9 and message.max_retransmits is None
    assert message.serialize() == data


def test_utf8_label_and_protocol() -> None:
    message = DataChannelOpen(ChannelType.RELIABLE, 256, 0, "caf\u00e9 \U0001f600", "\u00e9")
    data = message.serialize()
    assert data[8:12] == bytes.fromhex("000a 0002")  # lengths in bytes, not characters
    assert parse_dcep(data) == message


@pytest.mark.parametrize(
    ("data", "reason", "offset"),
    [
        ("", "message type", 0),
        ("00", "unknown message type 0x00", 0),
        ("01", "unknown message type 0x01", 0),
        ("ff", "unknown message type 0xff", 0),
        ("0200", "trailing", 1),
        ("03", "channel type", 1),
        ("0303", "unknown channel type 0x03", 1),
        ("037f", "unknown channel type 0x7f", 1),
        ("0300 01", "priority", 2),
        ("0300 0100 000000", "reliability parameter", 4),
        ("0300 0100 00000000 00", "label length", 8),
        ("0300 0100 00000000 0004 00", "protocol length", 10),
        ("0300 0100 00000000 0004 0000 636861", "label (4 bytes): need 4 bytes, 3 left", 12),
        ("0300 0100 00000000 0000 0002 61", "protocol (2 bytes)", 12),
        ("0300 0100 00000000 0000 0000 00", "trailing", 12),
        ("0300 0100 00000000 0002 0000 61ff", "label is not UTF-8", 13),
        ("0300 0100 00000000 0000 0002 c328", "protocol is not UTF-8", 12),
        ("0300 0100 00000000 0003 0000 eda080", "label is not UTF-8", 12),  # a surrogate
    ],
)
def test_malformed(data: str, reason: str, offset: int) -> None:
    with pytest.raises(DcepParseError) as info:
        parse_dcep(bytes.fromhex(data.replace(" ", "")))
    assert reason in info.value.reason
    assert info.value.offset == offset
    assert isinstance(info.value, ParseError) and isinstance(info.value, ValueError)


def test_serialize_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="priority"):
        DataChannelOpen(ChannelType.RELIABLE, 0x10000, 0, "", "").serialize()
    with pytest.raises(ValueError, match="reliability"):
        DataChannelOpen(ChannelType.RELIABLE, 0, -1, "", "").serialize()
    with pytest.raises(ValueError, match="65535"):
        DataChannelOpen(ChannelType.RELIABLE, 0, 0, "x" * 65536, "").serialize()
    # the maximum lengths (RFC 8832 §7) are fine
    big = DataChannelOpen(ChannelType.RELIABLE, 0, 0, "x" * 65535, "y" * 65535)
    assert parse_dcep(big.serialize()) == big


OPENS = st.builds(
    DataChannelOpen,
    channel_type=st.sampled_from(ChannelType),
    priority=st.integers(0, 0xFFFF),
    reliability_parameter=st.integers(0, 0xFFFFFFFF),
    label=st.text(max_size=40),
    protocol=st.text(max_size=20),
)
MESSAGES = st.one_of(OPENS, st.just(DataChannelAck()))


@given(MESSAGES)
def test_every_message_round_trips(message: DataChannelOpen | DataChannelAck) -> None:
    data = message.serialize()
    assert parse_dcep(data) == message
    assert parse_dcep(data).serialize() == data
    json.dumps(message.describe())


@given(st.binary(max_size=64))
def test_any_bytes_give_a_message_or_dcep_parse_error(data: bytes) -> None:
    try:
        message = parse_dcep(data)
    except DcepParseError:
        return
    assert message.serialize() == data  # what parses is canonical: it serializes back


@given(OPENS, st.data())
def test_mutated_opens_never_raise_anything_else(
    message: DataChannelOpen, data: st.DataObject
) -> None:
    raw = bytearray(message.serialize())
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    for candidate in (bytes(raw), bytes(raw[:cut]), bytes(raw) + b"\x00"):
        with contextlib.suppress(DcepParseError):
            parse_dcep(candidate)


CAPTURES = sorted(Path(__file__).resolve().parents[1].glob("rfc-vectors/captures/*/dcep-*.json"))


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_captured_dcep_messages(path: Path) -> None:
    from rtcstack.sctp.vectors import check_dcep_message
    from rtcstack.vectors import load_file

    vector = load_file(path)
    assert vector.kind == "dcep-message" and vector.cases
    assert check_dcep_message(vector) == []
