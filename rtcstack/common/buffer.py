"""Bounds-checked big-endian reading, the one way layers pull integers out of bytes.

Every read past the end raises :class:`~rtcstack.common.errors.ParseError` with the offset, so a
parser built on :class:`Reader` cannot fail with ``struct.error`` or ``IndexError``.  The
precompiled ``struct.Struct`` objects are exported for the hot paths that pack and unpack
fixed headers directly.
"""

from __future__ import annotations

import struct

from rtcstack.common.errors import ParseError

U8 = struct.Struct("!B")
U16 = struct.Struct("!H")
U32 = struct.Struct("!I")
U64 = struct.Struct("!Q")
U16_U16 = struct.Struct("!HH")


class Reader:
    """A cursor over ``data``; ``base`` is added to offsets reported in errors."""

    __slots__ = ("_data", "_pos", "base")

    def __init__(self, data: bytes, base: int = 0) -> None:
        self._data = data
        self._pos = 0
        self.base = base

    @property
    def position(self) -> int:
        return self._pos

    def remaining(self) -> int:
        return len(self._data) - self._pos

    def eof(self) -> bool:
        return self._pos >= len(self._data)

    def _need(self, n: int, what: str) -> int:
        pos = self._pos
        if pos + n > len(self._data):
            raise ParseError(
                f"{what}: need {n} bytes, {len(self._data) - pos} left", self.base + pos
            )
        self._pos = pos + n
        return pos

    def u8(self, what: str = "u8") -> int:
        return self._data[self._need(1, what)]

    def u16(self, what: str = "u16") -> int:
        return int(U16.unpack_from(self._data, self._need(2, what))[0])

    def u32(self, what: str = "u32") -> int:
        return int(U32.unpack_from(self._data, self._need(4, what))[0])

    def u64(self, what: str = "u64") -> int:
        return int(U64.unpack_from(self._data, self._need(8, what))[0])

    def take(self, n: int, what: str = "bytes") -> bytes:
        if n < 0:
            raise ParseError(f"{what}: negative length {n}", self.base + self._pos)
        pos = self._need(n, what)
        return self._data[pos : pos + n]

    def rest(self) -> bytes:
        pos = self._pos
        self._pos = len(self._data)
        return self._data[pos:]

    def expect_end(self, what: str) -> None:
        if self._pos != len(self._data):
            raise ParseError(
                f"{what}: {len(self._data) - self._pos} unexpected trailing bytes",
                self.base + self._pos,
            )
