"""The sans-IO vocabulary: addresses and the datagrams a layer asks its driver to send."""

from __future__ import annotations

import ipaddress
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


def parse_address(
    text: str, default_port: int | None = None, *, allow_port_zero: bool = False
) -> Address:
    """Split ``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address.

    Without a port the result uses ``default_port``; ValueError when that is ``None`` too.  Port 0
    ("any free port", for a listening address) is accepted only with ``allow_port_zero``.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty address")
    port_text: str | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r}: expected ':PORT' after ']'")
            port_text = rest[1:]
        _require_ipv6(host, f"{text!r}: {host!r} is not an IPv6 address")
    elif text.count(":") > 1:
        host = text  # a bare IPv6 address, no port
        _require_ipv6(host, f"{text!r}: not HOST:PORT (write IPv6 as [ADDR]:PORT)")
    elif ":" in text:
        host, port_text = text.split(":", 1)
    else:
        host = text
    if not host:
        raise ValueError(f"{text!r}: empty host")
    if port_text is None:
        if default_port is None:
            raise ValueError(f"{text!r}: a port is needed (HOST:PORT)")
        return host, default_port
    lowest = 0 if allow_port_zero else 1
    if not port_text.isdigit() or not lowest <= int(port_text) <= 0xFFFF:
        raise ValueError(f"{text!r}: port {port_text!r} is not a number in {lowest}-65535")
    return host, int(port_text)


def _require_ipv6(host: str, message: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise ValueError(message) from None


def format_address(addr: Address) -> str:
    """``host:port``, with IPv6 hosts in brackets."""
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
