"""Injected randomness.

Every layer that needs random bytes (transaction IDs, ICE credentials, DTLS randoms) takes a
``random_bytes`` callable, ``os.urandom`` by default.  Tests pass :class:`SeededRandom` so that a
run can be replayed byte for byte.  (The stdlib ``random`` module is not used anywhere in the
sans-IO core: it is neither cryptographically strong nor injectable.)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import TypeAlias

RandomBytes: TypeAlias = Callable[[int], bytes]

default_random_bytes: RandomBytes = os.urandom


class SeededRandom:
    """A deterministic byte source: SHA-256 in counter mode over ``seed``.

    Not for production keys; for reproducible tests and transcripts only.
    """

    __slots__ = ("_buffer", "_counter", "_seed")

    def __init__(self, seed: bytes | int | str = 0) -> None:
        if isinstance(seed, int):
            seed = seed.to_bytes(16, "big", signed=True)
        elif isinstance(seed, str):
            seed = seed.encode()
        self._seed = seed
        self._counter = 0
        self._buffer = b""

    def __call__(self, n: int) -> bytes:
        while len(self._buffer) < n:
            block = hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
            self._buffer += block
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out
