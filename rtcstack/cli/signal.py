"""``rtcstack signal``: a WebSocket signaling server (see :mod:`rtcstack.asyncio.signaling` for
the JSON protocol) until Ctrl-C.

Prints ``listening on ws://HOST:PORT`` once bound, then one line per join and per leave; stops
cleanly on SIGINT or SIGTERM (every connection closed) and prints its counters on stderr.
Needs the ``signal`` extra: ``pip install 'rtcstack[signal]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from rtcstack.cli.serving import address_arg, stop_on_signals

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        type=address_arg,
        default=("127.0.0.1", 8765),
        metavar="HOST:PORT",
        help="address to listen on (default 127.0.0.1:8765; port 0 picks a free port)",
    )
    parser.add_argument("--max-room-size", type=int, default=16, metavar="N",
                        help="members per room (default 16)")
    parser.add_argument("--max-rooms", type=int, default=1000, metavar="N",
                        help="rooms at once (default 1000)")
    parser.add_argument("--max-message-size", type=int, default=64 * 1024, metavar="BYTES",
                        help="longest message accepted (default 65536)")


def membership_line(event: str, fields: dict[str, Any]) -> str:
    """One line for a server ``join`` or ``leave`` event (also what ``rtcstack demo`` prints)."""
    name = f" ({fields['name']})" if fields.get("name") else ""
    verb = "joined" if event == "join" else "left"
    return f"{fields['id']}{name} {verb} {fields['room']} ({fields['size']} in room)"


def _print_event(event: str, fields: dict[str, Any]) -> None:
    print(membership_line(event, fields), flush=True)


async def _serve(args: argparse.Namespace) -> int:
    try:
        from rtcstack.asyncio.signaling import SignalingServer
    except ImportError as exc:
        print(f"rtcstack signal: {exc}; install the extra: pip install 'rtcstack[signal]'",
              file=sys.stderr)
        return 1
    host, port = args.listen
    server = SignalingServer(host, port, max_message_size=args.max_message_size,
                             max_room_size=args.max_room_size, max_rooms=args.max_rooms,
                             on_event=_print_event)
    try:
        await server.start()
    except OSError as exc:
        print(f"rtcstack signal: {exc}", file=sys.stderr)
        return 1
    try:
        with stop_on_signals() as stop:
            print(f"listening on {server.url}", flush=True)
            await stop.wait()
    finally:
        await server.close()
    print(f"stopped; {json.dumps(server.stats.as_dict())}", file=sys.stderr, flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))
