"""The SCTP chunk and packet codec, against layouts built by hand from the RFC figures:
RFC 9260 §3 (packet, chunks, parameters, causes), RFC 3758 §3.2 (FORWARD TSN), RFC 6525 §3-4
(RE-CONFIG), RFC 8260 §2.1/§2.3.1 (I-DATA, I-FORWARD-TSN), RFC 5061 §4.2.7 and RFC 9653 §4."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcstack.sctp.chunks import (
    AbortChunk,
    CauseCode,
    Chunk,
    ChunkType,
    CookieAckChunk,
    CookieEchoChunk,
    DataChunk,
    ErrorCause,
    ErrorChunk,
    ForwardTsnChunk,
    HeartbeatAckChunk,
    HeartbeatChunk,
    IDataChunk,
    IForwardTsnChunk,
    IncomingSsnResetRequest,
    InitAckChunk,
    InitChunk,
    OutgoingSsnResetRequest,
    Packet,
    Parameter,
    ParamType,
    ReconfigChunk,
    ReconfigResponse,
    ReconfigResult,
    SackChunk,
    SctpParseError,
    ShutdownAckChunk,
    ShutdownChunk,
    ShutdownCompleteChunk,
    UnknownChunk,
    parse_chunks,
)
from rtcstack.sctp.crc32c import check_checksum

HEADER = bytes.fromhex("1388 1389 01020304 00000000")  # ports 5000 -> 5001, tag 0x01020304


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def roundtrip(chunk: Chunk, wire: bytes) -> None:
    """``chunk`` encodes to ``wire`` (without padding), and ``wire`` padded decodes back."""
    assert chunk.encode() == wire
    padded = wire + bytes(-len(wire) & 3)
    assert parse_chunks(HEADER + padded) == [chunk]


# --- RFC 9260 §3.3.1 DATA ------------------------------------------------------------------------


@pytest.mark.parametrize(("flags", "fields"), [
    (0x03, {}),  # B and E: an unfragmented message
    (0x02, {"ending": False}),
    (0x01, {"beginning": False}),
    (0x00, {"beginning": False, "ending": False}),
    (0x07, {"unordered": True}),
    (0x0B, {"immediate": True}),
])
def test_data_flags(flags: int, fields: dict[str, bool]) -> None:
    chunk = DataChunk(tsn=0x11223344, stream_id=7, ssn=0x0102, ppid=51, user_data=b"hello",
                      **fields)
    wire = h("00") + bytes([flags]) + h("0015 11223344 0007 0102 00000033") + b"hello"
    roundtrip(chunk, wire)


def test_data_padding_is_not_counted_in_the_length() -> None:
    chunk = DataChunk(1, 0, 0, 0, b"a")
    packet = Packet(1, 2, 3, [chunk, DataChunk(2, 0, 1, 0, b"bc")])
    data = packet.serialize()
    # §3.2: length 17, then 3 bytes of padding before the next chunk
    assert data[12:16] == h("0003 0011") and data[29:32] == bytes(3)
    assert Packet.parse(data).chunks == packet.chunks


def test_missing_padding_on_the_last_chunk_is_accepted() -> None:
    wire = DataChunk(1, 0, 0, 0, b"abcde").encode()
    assert len(wire) % 4
    assert parse_chunks(HEADER + wire) == [DataChunk(1, 0, 0, 0, b"abcde")]


def test_data_shorter_than_its_header_is_an_error() -> None:
    with pytest.raises(SctpParseError):
        parse_chunks(HEADER + h("0003 000c 00000001 0000 0000"))


# --- RFC 8260 §2.1 I-DATA ------------------------------------------------------------------------


def test_idata_first_fragment_carries_the_ppid() -> None:
    chunk = IDataChunk(tsn=5, stream_id=2, mid=0x01020304, ppid=53, fsn=0, user_data=b"xyz",
                       ending=False)
    wire = h("40 02 0017 00000005 0002 0000 01020304 00000035") + b"xyz"
    roundtrip(chunk, wire)


def test_idata_middle_fragment_carries_the_fsn() -> None:
    chunk = IDataChunk(tsn=6, stream_id=2, mid=9, ppid=0, fsn=3, user_data=b"abcd",
                       beginning=False, ending=False, unordered=True)
    wire = h("40 04 0018 00000006 0002 0000 00000009 00000003") + b"abcd"
    roundtrip(chunk, wire)


# --- RFC 9260 §3.3.2, §3.3.3 INIT and INIT ACK ------------------------------------------------


def test_init_with_extension_parameters() -> None:
    params = [
        Parameter.supported_extensions([ChunkType.RE_CONFIG, ChunkType.FORWARD_TSN,
                                        ChunkType.I_DATA]),
        Parameter(ParamType.FORWARD_TSN_SUPPORTED),
        Parameter.zero_checksum_acceptable(1),
    ]
    chunk = InitChunk(0xAABBCCDD, 0x00100000, 65535, 1024, 0x01020304, params)
    wire = h("""
        01 00 0028
        aabbccdd 00100000 ffff 0400 01020304
        8008 0007 82c040 00
        c000 0004
        8001 0008 00000001
    """)
    assert chunk.encode() == wire
    assert parse_chunks(HEADER + wire) == [chunk]
    assert chunk.supported_extensions == {ChunkType.RE_CONFIG, ChunkType.FORWARD_TSN,
                                          ChunkType.I_DATA}
    assert chunk.zero_checksum_edmid == 1
    assert chunk.param(ParamType.FORWARD_TSN_SUPPORTED) == Parameter(0xC000)
    assert chunk.state_cookie is None


def test_init_ack_with_cookie() -> None:
    cookie = bytes(range(10))
    chunk = InitAckChunk(1, 2, 3, 4, 5, [Parameter(ParamType.STATE_COOKIE, cookie)])
    wire = h("02 00 0022 00000001 00000002 0003 0004 00000005 0007 000e") + cookie
    roundtrip(chunk, wire)
    # RFC 9260 §3.2: the length may include the last parameter's padding; accept it too
    longer = h("02 00 0024") + wire[4:] + bytes(2)
    parsed = parse_chunks(HEADER + longer)
    assert parsed == [chunk] and isinstance(parsed[0], InitAckChunk)
    assert chunk.state_cookie == cookie


def test_init_too_short() -> None:
    with pytest.raises(SctpParseError):
        parse_chunks(HEADER + h("01 00 0010 00000001 00000002 0003 0004"))


def test_parameter_with_a_bad_length() -> None:
    with pytest.raises(SctpParseError):
        parse_chunks(HEADER + h("01 00 0018 00000001 00000002 0003 0004 00000005 c000 0003"))


# --- RFC 9260 §3.3.4 SACK ------------------------------------------------------------------------


def test_sack_with_gaps_and_duplicates() -> None:
    chunk = SackChunk(0x10, 0x8000, [(2, 3), (6, 6)], [0x0E, 0x0F, 0x0A])
    wire = h("03 00 0024 00000010 00008000 0002 0003 0002 0003 0006 0006 "
             "0000000e 0000000f 0000000a")
    roundtrip(chunk, wire)


def test_sack_counts_must_match_the_length() -> None:
    with pytest.raises(SctpParseError):
        parse_chunks(HEADER + h("03 00 0014 00000010 00008000 0002 0000 0002 0003"))


# --- heartbeats, abort, shutdown, error, cookies ------------------------------------------------


def test_heartbeat_and_ack() -> None:
    roundtrip(HeartbeatChunk(b"info!"), h("04 00 000d 0001 0009") + b"info!")
    roundtrip(HeartbeatAckChunk(b"info"), h("05 00 000c 0001 0008") + b"info")
    with pytest.raises(SctpParseError):  # §3.3.5: exactly one Heartbeat Info parameter
        parse_chunks(HEADER + h("04 00 0008 0002 0004"))


def test_abort_with_t_bit_and_causes() -> None:
    chunk = AbortChunk([ErrorCause(CauseCode.USER_INITIATED_ABORT, b"bye"),
                        ErrorCause(CauseCode.PROTOCOL_VIOLATION, b"")], tag_reflected=True)
    wire = h("06 01 0010 000c 0007") + b"bye" + h("00 000d 0004")
    roundtrip(chunk, wire)
    assert chunk.causes[0].describe() == "USER_INITIATED_ABORT: bye"
    roundtrip(AbortChunk(), h("06 00 0004"))


def test_shutdown_chunks() -> None:
    roundtrip(ShutdownChunk(0xDEADBEEF), h("07 00 0008 deadbeef"))
    roundtrip(ShutdownAckChunk(), h("08 00 0004"))
    roundtrip(ShutdownCompleteChunk(), h("0e 00 0004"))
    roundtrip(ShutdownCompleteChunk(tag_reflected=True), h("0e 01 0004"))
    with pytest.raises(SctpParseError):
        parse_chunks(HEADER + h("07 00 0006 0000"))


def test_error_chunk() -> None:
    cause = ErrorCause(CauseCode.INVALID_STREAM_IDENTIFIER, h("0007 0000"))
    roundtrip(ErrorChunk([cause, ErrorCause(CauseCode.STALE_COOKIE, h("000003e8"))]),
              h("09 00 0014 0001 0008 0007 0000 0003 0008 000003e8"))
    assert ErrorCause(99).describe() == "cause 99"


def test_cookie_echo_and_ack() -> None:
    roundtrip(CookieEchoChunk(b"\x01\x02\x03\x04\x05"), h("0a 00 0009 0102030405"))
    roundtrip(CookieAckChunk(), h("0b 00 0004"))


# --- RFC 3758 §3.2 FORWARD TSN, RFC 8260 §2.3.1 I-FORWARD-TSN -----------------------------------


def test_forward_tsn() -> None:
    roundtrip(ForwardTsnChunk(0x100, [(1, 5), (3, 0xFFFF)]),
              h("c0 00 0010 00000100 0001 0005 0003 ffff"))
    with pytest.raises(SctpParseError):
        parse_chunks(HEADER + h("c0 00 000a 00000100 0001"))


def test_i_forward_tsn() -> None:
    roundtrip(IForwardTsnChunk(0x100, [(1, False, 5), (2, True, 0x01020304)]),
              h("c2 00 0018 00000100 0001 0000 00000005 0002 0001 01020304"))


# --- RFC 6525 RE-CONFIG --------------------------------------------------------------------------


def test_reconfig_outgoing_request() -> None:
    param = OutgoingSsnResetRequest(0x11, 0x22, 0x33, (4, 5, 6))
    roundtrip(ReconfigChunk([param]),
              h("82 00 001a 000d 0016 00000011 00000022 00000033 0004 0005 0006"))


def test_reconfig_incoming_request_and_response() -> None:
    roundtrip(ReconfigChunk([IncomingSsnResetRequest(7, (1,)),
                             ReconfigResponse(9, ReconfigResult.SUCCESS_PERFORMED)]),
              h("82 00 001c 000e 000a 00000007 0001 0000 0010 000c 00000009 00000001"))


def test_reconfig_response_with_tsns_and_other_params() -> None:
    roundtrip(ReconfigChunk([ReconfigResponse(1, ReconfigResult.IN_PROGRESS, 10, 20)]),
              h("82 00 0018 0010 0014 00000001 00000006 0000000a 00000014"))
    roundtrip(ReconfigChunk([Parameter(ParamType.ADD_OUTGOING_STREAMS_REQUEST,
                                       h("00000001 0002 0000"))]),
              h("82 00 0010 0011 000c 00000001 0002 0000"))
    with pytest.raises(SctpParseError):  # §3.1: one or two parameters
        parse_chunks(HEADER + h("82 00 0004"))
    with pytest.raises(SctpParseError):
        parse_chunks(HEADER + h("82 00 000e 0010 000a 00000001 0000"))


# --- unknown chunks and the packet ---------------------------------------------------------------


def test_unknown_chunk_is_kept_byte_for_byte() -> None:
    wire = h("fe 5a 0007 abcdef")
    [chunk] = parse_chunks(HEADER + wire)
    assert chunk == UnknownChunk(0xFE, 0x5A, h("abcdef"))
    assert chunk.encode() == wire
    # a known type the codec has no class for (ECNE) is unknown too
    assert parse_chunks(HEADER + h("0c 00 0008 00000001")) == [UnknownChunk(12, 0, h("00000001"))]


@pytest.mark.parametrize("tail", [h("00"), h("0000 00"), h("00 00 0003"), h("00 00 0010 0000")])
def test_bad_chunk_lengths(tail: bytes) -> None:
    with pytest.raises(SctpParseError):
        parse_chunks(HEADER + CookieAckChunk().encode() + tail)


def test_packet_checksum() -> None:
    packet = Packet(5000, 5001, 0x01020304,
                    [DataChunk(1, 0, 0, 51, b"x"), SackChunk(9, 1000)])
    data = packet.serialize()
    assert data[:12] != HEADER and data[:8] == h("1388 1389 01020304")
    assert check_checksum(data)
    parsed = Packet.parse(data, verify=True)
    assert parsed.chunks == packet.chunks
    assert parsed.checksum == struct.unpack_from("!I", data, 8)[0] != 0
    zero = packet.serialize(zero_checksum=True)
    assert zero[8:12] == bytes(4) and zero[12:] == data[12:]
    assert Packet.parse(zero).checksum == 0
    with pytest.raises(SctpParseError):
        Packet.parse(zero, verify=True)
    with pytest.raises(SctpParseError):
        Packet.parse(data[:11])


# --- properties ----------------------------------------------------------------------------------

u8, u16, u32 = (st.integers(0, 2**n - 1) for n in (8, 16, 32))
blob = st.binary(max_size=40)
nonempty = st.binary(min_size=1, max_size=40)
flags4 = st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans())


def _parameter() -> st.SearchStrategy[Parameter]:
    return st.builds(Parameter, u16, blob)


def _cause() -> st.SearchStrategy[ErrorCause]:
    return st.builds(ErrorCause, u16, blob)


def _idata(tsn: int, sid: int, mid: int, ppid: int, fsn: int, data: bytes,
           f: tuple[bool, bool, bool, bool]) -> IDataChunk:
    unordered, beginning, ending, immediate = f
    return IDataChunk(tsn, sid, mid, ppid if beginning else 0, 0 if beginning else fsn, data,
                      unordered, beginning, ending, immediate)


_reconfig_param = st.one_of(
    st.builds(OutgoingSsnResetRequest, u32, u32, u32, st.lists(u16, max_size=5).map(tuple)),
    st.builds(IncomingSsnResetRequest, u32, st.lists(u16, max_size=5).map(tuple)),
    st.builds(ReconfigResponse, u32, u32),
    st.builds(ReconfigResponse, u32, u32, u32, u32),
    st.builds(Parameter, st.sampled_from([15, 17, 18, 99]), blob),
)

chunks: st.SearchStrategy[Chunk] = st.one_of(
    st.builds(lambda t, s, n, p, d, f: DataChunk(t, s, n, p, d, *f), u32, u16, u16, u32,
              nonempty, flags4),
    st.builds(_idata, u32, u16, u32, u32, u32, nonempty, flags4),
    st.builds(InitChunk, u32, u32, u16, u16, u32, st.lists(_parameter(), max_size=4)),
    st.builds(InitAckChunk, u32, u32, u16, u16, u32, st.lists(_parameter(), max_size=4)),
    st.builds(SackChunk, u32, u32, st.lists(st.tuples(u16, u16), max_size=5),
              st.lists(u32, max_size=5)),
    st.builds(HeartbeatChunk, blob),
    st.builds(HeartbeatAckChunk, blob),
    st.builds(AbortChunk, st.lists(_cause(), max_size=3), st.booleans()),
    st.builds(ErrorChunk, st.lists(_cause(), max_size=3)),
    st.builds(ShutdownChunk, u32),
    st.just(ShutdownAckChunk()),
    st.just(CookieAckChunk()),
    st.builds(ShutdownCompleteChunk, st.booleans()),
    st.builds(CookieEchoChunk, blob),
    st.builds(ForwardTsnChunk, u32, st.lists(st.tuples(u16, u16), max_size=5)),
    st.builds(IForwardTsnChunk, u32, st.lists(st.tuples(u16, st.booleans(), u32), max_size=5)),
    st.builds(ReconfigChunk, st.lists(_reconfig_param, min_size=1, max_size=2)),
    st.builds(UnknownChunk, st.integers(0, 255).filter(lambda t: t not in (
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 64, 130, 192, 194)), u8, blob),
)


@given(chunks)
def test_every_chunk_round_trips(chunk: Chunk) -> None:
    encoded = chunk.encode()
    assert parse_chunks(HEADER + encoded) == [chunk]
    assert parse_chunks(HEADER + encoded + bytes(-len(encoded) & 3)) == [chunk]


@given(u16, u16, u32, st.lists(chunks, max_size=5), st.booleans())
def test_packet_round_trips(src: int, dst: int, tag: int, items: list[Chunk],
                            zero: bool) -> None:
    packet = Packet(src, dst, tag, items)
    data = packet.serialize(zero_checksum=zero)
    assert len(data) % 4 == 0
    parsed = Packet.parse(data, verify=not zero)
    assert (parsed.source_port, parsed.destination_port, parsed.verification_tag) == (
        src, dst, tag)
    assert parsed.chunks == items
    assert parsed.serialize(zero_checksum=zero) == data


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_parse_error(data: bytes) -> None:
    with contextlib.suppress(SctpParseError):
        Packet.parse(data)


@given(st.lists(chunks, min_size=1, max_size=3), st.data())
def test_mutated_packets_parse_or_raise_parse_error(items: list[Chunk], data: st.DataObject,
                                                    ) -> None:
    raw = bytearray(Packet(1, 2, 3, items).serialize())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(12, len(raw) - 1))
        raw[pos] = data.draw(u8)
    cut = data.draw(st.integers(12, len(raw)))
    with contextlib.suppress(SctpParseError):
        Packet.parse(bytes(raw[:cut]))


def test_last_parameter_padding_is_not_in_the_chunk_length() -> None:
    """Regression: the codec counted the last parameter's (and cause's) padding in the Chunk
    Length, which RFC 9260 §3.2 leaves out; the packet pads the chunk instead."""
    chunk = InitChunk(1, 2, 3, 4, 5, [Parameter(0x8123, b"abc")])
    assert chunk.encode()[2:4] == h("001b")
    assert ErrorChunk([ErrorCause(1, b"x")]).encode()[2:4] == h("0009")
    data = Packet(1, 2, 3, [chunk, CookieAckChunk()]).serialize()
    assert len(data) == 12 + 28 + 4
    assert Packet.parse(data).chunks == [chunk, CookieAckChunk()]
