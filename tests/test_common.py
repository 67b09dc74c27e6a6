"""rtcstack.common: buffer reader, errors, seeded randomness, tracing, @value."""

from __future__ import annotations

import dataclasses

import pytest

import rtcstack
from rtcstack.common import ParseError, Reader, SeededRandom, TraceRecorder, Transmit
from rtcstack.common.trace import NULL_TRACE, logging_trace
from rtcstack.common.values import value


def test_parse_error_is_value_error_with_offset() -> None:
    err = ParseError("bad thing", 7)
    assert isinstance(err, ValueError)
    assert isinstance(err, rtcstack.RtcstackError)
    assert (err.reason, err.offset, str(err)) == ("bad thing", 7, "offset 7: bad thing")
    assert str(ParseError("x")) == "x"


def test_reader_reads_and_bounds_checks() -> None:
    r = Reader(b"\x01\x00\x02\x00\x00\x00\x03" + bytes(8) + b"tail", base=100)
    assert (r.u8(), r.u16(), r.u32(), r.u64()) == (1, 2, 3, 0)
    assert r.remaining() == 4
    with pytest.raises(ParseError) as info:
        r.take(5, "field")
    assert info.value.offset == 115
    assert r.take(2) == b"ta"
    with pytest.raises(ParseError):
        r.expect_end("record")
    assert r.rest() == b"il"
    assert r.eof()
    with pytest.raises(ParseError):
        r.u8()
    with pytest.raises(ParseError):
        Reader(b"").take(-1)


def test_seeded_random_is_deterministic_and_seed_dependent() -> None:
    a, b, c = SeededRandom(1), SeededRandom(1), SeededRandom(2)
    first = a(12) + a(40)
    assert first == b(52)
    assert first != c(52)
    assert len(SeededRandom("x")(100)) == 100
    assert SeededRandom(b"k")(3) == SeededRandom(b"k")(3)


def test_trace_recorder_and_logging_trace(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    rec = TraceRecorder()
    rec("stun.drop", reason="bad")
    assert rec.names() == ["stun.drop"]
    assert rec.events[0][1] == {"reason": "bad"}
    NULL_TRACE("ignored", x=1)
    logger = logging.getLogger("rtcstack.test")
    with caplog.at_level(logging.DEBUG, logger="rtcstack.test"):
        logging_trace(logger)("evt", a=1)
    assert "evt a=1" in caplog.text


def test_value_decorator() -> None:
    @value
    class Point:
        x: int
        y: int = 0

    p = Point(1)
    assert p == Point(1, 0) and hash(p) == hash(Point(1, 0)) and repr(p).endswith("Point(x=1, y=0)")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 2  # type: ignore[misc]
    assert dataclasses.replace(p, y=5) == Point(1, 5)
    with pytest.raises(TypeError):

        @value
        class Bad:
            x: list[int] = dataclasses.field(default_factory=list)


def test_transmit_defaults() -> None:
    t = Transmit(b"x", ("127.0.0.1", 1))
    assert t.source is None and t.transport == "udp"
