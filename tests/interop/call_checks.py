"""Checks shared by the call tests (``test_call_harness_aiortc``, ``test_peer_browser``,
``test_peer_aiortc``, ``test_peer_simulcast``): messages of exact sizes, SDP line picking, and
data-channel echoes through the browser call harness (:mod:`tests.interop.call`)."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from tests.interop.call import BrowserCall

STEP = 10.0  # seconds for any one step


class EchoPeer(Protocol):
    """A Python peer (rtcstack's or aiortc's) as the call tests wrap it: its channels by label
    and an inbox of what each received."""

    inboxes: dict[str, asyncio.Queue[Any]]

    async def channel(self, label: str) -> Any: ...


def text_of(size: int) -> str:
    """A string of exactly ``size`` UTF-8 bytes mixing 1- to 4-byte characters."""
    return "aé€😀" * (size // 10) + "x" * (size % 10)


def bytes_of(size: int) -> bytes:
    return bytes((i * 131 + size) & 0xFF for i in range(size))


def lines_with(sdp: str, prefix: str) -> list[str]:
    return [line for line in sdp.split("\r\n") if line.startswith(prefix)]


async def echo(peer: EchoPeer, label: str, sizes: list[int], step: float = STEP) -> None:
    """Each size as text and as binary on ``label``: the browser's echo must equal it."""
    channel = await peer.channel(label)
    inbox = peer.inboxes[label]
    for size in sizes:
        for message in (text_of(size), bytes_of(size)):
            channel.send(message)
            got = await asyncio.wait_for(inbox.get(), step)
            assert type(got) is type(message), f"{label} {size}: sent {type(message).__name__}"
            assert got == message, f"{label}: the echo of {len(message)} differs"


async def browser_sends(call: BrowserCall, peer: EchoPeer, label: str, size: int,
                        step: float = STEP) -> None:
    """The browser sends ``size`` bytes as text and as binary; the peer gets them exactly."""
    inbox = peer.inboxes[label]
    for message in (text_of(size), bytes_of(size)):
        await call.browser_send(label, message)
        got = await asyncio.wait_for(inbox.get(), step)
        assert type(got) is type(message) and got == message
