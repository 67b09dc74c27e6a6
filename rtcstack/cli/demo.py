"""``rtcstack demo``: the browser demo -- a call page with live stats graphs, the signaling
server, and a built-in Python peer that echoes a call back (see :mod:`rtcstack.demo`).

Prints the page's URL, then one line per event (someone joins or leaves a room, an echo call
starts or ends) and a live line for each echo call: its connection state, the bitrate each way
and the RTT -- rewritten in place once a second on a terminal, printed every
``--status-interval`` seconds otherwise.  Ctrl-C (or SIGTERM) ends every call and stops.

From another machine: ``--listen 0.0.0.0:8080 --https`` (browsers give the camera to https
pages only, localhost excepted; the certificate is self-signed, so accept the warning once).
For calls across NATs: ``--ice-server stun:HOST:PORT`` and ``--ice-server turn:HOST:PORT
--ice-username U --ice-credential C`` (the page offers them, and the echo peer uses them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import time
from typing import Any, TextIO

from rtcstack.cli.serving import address_arg, stop_on_signals
from rtcstack.cli.signal import membership_line

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", type=address_arg, default=("127.0.0.1", 8080),
                        metavar="HOST:PORT",
                        help="address of the page and the signaling server (default "
                             "127.0.0.1:8080; 0.0.0.0:8080 to be reached from other machines; "
                             "port 0 picks a free port)")
    parser.add_argument("--ice-server", action="append", default=[], metavar="URL",
                        help="a STUN or TURN URL (stun:, turn:, turns:) for the page and the "
                             "echo peer; repeat for several")
    parser.add_argument("--ice-username", metavar="U", help="username for the TURN URLs")
    parser.add_argument("--ice-credential", metavar="C", help="credential for the TURN URLs")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--https", action="store_true",
                     help="serve https/wss with a fresh self-signed certificate")
    tls.add_argument("--cert", metavar="PEM", help="serve https/wss with this certificate "
                                                   "(needs --key)")
    parser.add_argument("--key", metavar="PEM", help="the private key of --cert")
    parser.add_argument("--max-echo-calls", type=int, default=8, metavar="N",
                        help="echo calls at once (default 8)")
    parser.add_argument("--status-interval", type=float, default=5.0, metavar="SECONDS",
                        help="how often the live line is printed when stdout is not a "
                             "terminal (default 5; 0 for never)")


def ice_servers_of(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The --ice-server URLs as RTCIceServer dicts (TURN ones with the credentials)."""
    servers: list[dict[str, Any]] = []
    for url in args.ice_server:
        if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
            raise ValueError(f"{url!r} is not a stun:, turn: or turns: URL")
        server: dict[str, Any] = {"urls": url}
        if url.startswith("turn") and args.ice_username is not None:
            server.update(username=args.ice_username, credential=args.ice_credential or "")
        servers.append(server)
    return servers


def _certificate_hosts(host: str) -> list[str]:
    """Names a browser may use to reach us: the listen address, or every local one."""
    from rtcstack.asyncio.ice import local_addresses

    hosts = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    if host in ("0.0.0.0", "::", ""):
        hosts += local_addresses(loopback=False)
    else:
        hosts.append(host)
    return hosts


def _other_urls(host: str, port: int, https: bool) -> list[str]:
    """The page's URLs on this machine's other addresses, when listening on all of them."""
    if host not in ("0.0.0.0", "::", ""):
        return []
    from rtcstack.asyncio.ice import local_addresses

    scheme = "https" if https else "http"
    return [f"{scheme}://{f'[{a}]' if ':' in a else a}:{port}/"
            for a in local_addresses(ipv6=host != "0.0.0.0")]


class LivePrinter:
    """Event lines, and the live line of every echo call."""

    def __init__(self, out: TextIO, interval: float) -> None:
        self.out = out
        self.tty = out.isatty()
        self.interval = 1.0 if self.tty else interval
        self._pending_line = False  # a \r-line is on screen (tty only)

    def event(self, event: str, fields: dict[str, Any]) -> None:
        stamp = time.strftime("%H:%M:%S")
        if event in ("join", "leave"):
            text = membership_line(event, fields)
        elif event == "echo-start":
            text = f"echo peer calling in room {fields['room']}"
        elif event == "echo-end":
            text = f"echo call in room {fields['room']} {fields['state']}"
        else:
            text = f"{event} {json.dumps(fields)}"
        self._clear()
        print(f"{stamp} {text}", file=self.out, flush=True)

    def live(self, lines: list[str]) -> None:
        if not lines:
            self._clear()
            return
        text = " | ".join(lines)
        if self.tty:
            print(f"\r\x1b[K{text}", end="", file=self.out, flush=True)
            self._pending_line = True
        else:
            print(f"{time.strftime('%H:%M:%S')} {text}", file=self.out, flush=True)

    def _clear(self) -> None:
        if self._pending_line:
            print("\r\x1b[K", end="", file=self.out)
            self._pending_line = False


async def _serve(args: argparse.Namespace) -> int:
    try:
        from rtcstack.demo import DemoServer, self_signed_context
    except ImportError as exc:
        print(f"rtcstack demo: {exc}; install the extras: pip install 'rtcstack[signal,media]'",
              file=sys.stderr)
        return 1
    host, port = args.listen
    try:
        ice_servers = ice_servers_of(args)
    except ValueError as exc:
        print(f"rtcstack demo: {exc}", file=sys.stderr)
        return 2
    context = None
    if args.https:
        context = self_signed_context(_certificate_hosts(host))
    elif args.cert:
        import ssl

        if not args.key:
            print("rtcstack demo: --cert needs --key", file=sys.stderr)
            return 2
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
    printer = LivePrinter(sys.stdout, args.status_interval)
    demo = DemoServer(host, port, ice_servers=ice_servers, ssl=context,
                      max_echo_calls=args.max_echo_calls, on_event=printer.event)
    try:
        await demo.start()
    except OSError as exc:
        print(f"rtcstack demo: {exc}", file=sys.stderr)
        return 1
    try:
        with stop_on_signals() as stop:
            print(f"rtcstack demo on {demo.url}  (signaling on /ws)", flush=True)
            others = _other_urls(host, demo.port, context is not None)
            for url in others:
                print(f"  from other machines: {url}", flush=True)
            if others and context is None:
                print("  (off localhost, browsers give the camera to https pages only: add "
                      "--https)", flush=True)
            print("open it in a browser: call the Python peer, or join a room from two tabs",
                  flush=True)
            while not stop.is_set():
                if printer.interval > 0:
                    printer.live([peer.call.line() for peer in demo.echo_calls])
                timeout = printer.interval if printer.interval > 0 else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout)
    finally:
        printer.live([])
        await demo.close()
    print(f"stopped; {json.dumps(demo.signaling.stats.as_dict())}, "
          f"echo calls {demo.echo_calls_total}", file=sys.stderr, flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))
