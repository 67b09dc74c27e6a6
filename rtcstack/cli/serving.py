"""What the server commands share (``stun-server``, ``signal``, ``demo``): a listen-address
argument, and stopping cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from rtcstack.common.types import Address, parse_address

__all__ = ["address_arg", "parse_host_port", "stop_on_signals"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def parse_host_port(text: str, default_port: int | None = None) -> Address:
    """``HOST:PORT``, ``[V6]:PORT``, or (with ``default_port``) a bare host or IPv6 address;
    port 0 means any free port."""
    return parse_address(text, default_port, allow_port_zero=True)


def address_arg(text: str) -> Address:
    """argparse ``type=`` for ``HOST:PORT``."""
    try:
        return parse_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event that SIGINT or SIGTERM sets while the block runs (inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
