"""The sans-IO vocabulary: addresses and the datagrams a layer asks its driver to send."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

Address: TypeAlias = tuple[str, int]
"""``(host, port)`` as asyncio uses it; IPv6 hosts are written without brackets."""


@dataclass(frozen=True, slots=True)
class Transmit:
    """One datagram (or stream chunk) a layer wants sent.

    ``source`` names the local address to send from when the layer owns several (a STUN server
    answering a CHANGE-REQUEST, an ICE agent with several host candidates); ``None`` means the
    driver's only socket.
    """

    data: bytes
    addr: Address
    source: Address | None = None
    transport: str = "udp"
