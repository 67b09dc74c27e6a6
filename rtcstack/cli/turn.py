"""``rtcstack turn SERVER --user U --password P``: check a TURN server end to end (RFC 8656).

SERVER is ``HOST[:PORT]`` (with ``--transport``, default udp; port 3478, 5349 for tls) or a
``turn:``/``turns:`` URI (RFC 7065 §3, e.g. ``turns:turn.example.org?transport=tcp``).

The command allocates a relayed address with the long-term credentials, starts a UDP echo on this
host (on the address the kernel's route to the server uses), relays ``--count`` datagrams to the
echo through the allocation and back -- by ChannelData on a bound channel, or by Send/Data
indications with ``--no-channel`` -- checks that the echo saw them come from the relayed address,
and deallocates.  It prints the relayed and mapped addresses, the allocation time and each round
trip time; ``--json`` prints one JSON object instead.

Exit status: 0 success; 1 failure (allocation refused, timeout, unreachable server, TLS failure,
lost datagrams), with one ``rtcstack turn: ...`` line on stderr; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import socket
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from rtcstack.common.types import Address, format_address, parse_address

__all__ = ["Report", "configure", "run", "server_from_args"]

PROG = "rtcstack turn"
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
_PROBE_PREFIX = b"rtcstack turn probe "

if TYPE_CHECKING:  # the layers are imported when the command runs, not at CLI start-up
    from rtcstack.ice.turn import TurnServer


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "server",
        metavar="SERVER",
        help="HOST[:PORT] (IPv6 as [ADDR]:PORT) or a turn:/turns: URI (RFC 7065)",
    )
    parser.add_argument("-u", "--user", default="", help="long-term credential user name")
    parser.add_argument("-p", "--password", default="", help="long-term credential password")
    parser.add_argument(
        "--transport",
        choices=("udp", "tcp", "tls"),
        default=None,
        help="transport to the server (default udp, or what the URI says)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="TLS: do not verify the server's certificate (self-signed test servers)",
    )
    parser.add_argument(
        "-c", "--count", type=int, default=3, metavar="N", help="datagrams to relay (default 3)"
    )
    parser.add_argument(
        "--no-channel",
        dest="channel",
        action="store_false",
        help="relay with Send/Data indications instead of a channel (RFC 8656 §11 vs §12)",
    )
    parser.add_argument(
        "--lifetime", type=int, default=600, metavar="SECONDS",
        help="requested allocation lifetime (default 600)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="give up on each step (connect, allocate, each echo) after this long (default 5)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def server_from_args(args: argparse.Namespace) -> TurnServer:
    """The :class:`~rtcstack.ice.turn.TurnServer` the arguments name; ValueError if bad."""
    from rtcstack.ice.turn import TurnServer, parse_turn_uri

    text: str = args.server.strip()
    if text.lower().startswith(("turn:", "turns:")):
        server = parse_turn_uri(text, args.user, args.password)
        if args.transport is not None and args.transport != server.transport:
            raise ValueError(
                f"--transport {args.transport} contradicts {text!r} (which means "
                f"{server.transport})"
            )
        return server
    if text.lower().startswith(("stun:", "stuns:")):
        raise ValueError(f"{text!r} is a STUN URI; give a turn: or turns: URI")
    transport = args.transport or "udp"
    host, port = parse_address(text, 5349 if transport == "tls" else 3478)
    return TurnServer(host, port, transport, args.user, args.password)


@dataclass
class Report:
    """What one run found (printed as text or JSON)."""

    server: Address
    transport: str
    local: Address = ("", 0)
    relayed: Address | None = None
    mapped: Address | None = None
    lifetime: int = 0
    allocate_ms: float = 0.0
    echo: Address | None = None
    echo_saw: list[Address] = field(default_factory=list)
    rtt_ms: list[float] = field(default_factory=list)
    channel: bool = True
    deallocated: bool = False

    def as_json(self) -> dict[str, Any]:
        def addr(a: Address | None) -> dict[str, Any] | None:
            return None if a is None else {"host": a[0], "port": a[1]}

        return {
            "ok": True,
            "server": addr(self.server),
            "transport": self.transport,
            "local_address": addr(self.local),
            "relayed_address": addr(self.relayed),
            "mapped_address": addr(self.mapped),
            "lifetime": self.lifetime,
            "allocate_ms": round(self.allocate_ms, 3),
            "echo_address": addr(self.echo),
            "relay": "channel" if self.channel else "indication",
            "rtt_ms": [round(r, 3) for r in self.rtt_ms],
            "deallocated": self.deallocated,
        }

    def lines(self) -> list[str]:
        def fmt(a: Address | None) -> str:
            return "-" if a is None else format_address(a)

        via = "ChannelData (a bound channel)" if self.channel else "Send/Data indications"
        parts = [f"{r:.2f}" for r in self.rtt_ms]
        if parts:  # the first datagram waited for the permission or channel
            parts[0] += " (with ChannelBind)" if self.channel else " (with CreatePermission)"
        rtts = ", ".join(parts)
        out = [
            f"server           {fmt(self.server)} over {self.transport}",
            f"local address    {fmt(self.local)}",
            f"mapped address   {fmt(self.mapped)}",
            f"relayed address  {fmt(self.relayed)} (lifetime {self.lifetime} s)",
            f"allocation time  {self.allocate_ms:.2f} ms",
            f"echo             {fmt(self.echo)} via {via}",
            f"round trips      {rtts} ms",
        ]
        if self.rtt_ms:
            avg = sum(self.rtt_ms) / len(self.rtt_ms)
            out.append(
                f"rtt min/avg/max  {min(self.rtt_ms):.2f}/{avg:.2f}/{max(self.rtt_ms):.2f} ms"
            )
        out.append(f"deallocated      {'yes' if self.deallocated else 'no answer'}")
        return out


class UdpEcho(asyncio.DatagramProtocol):
    """A UDP echo that remembers who sent to it."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.sources: list[Address] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.sources.append((str(addr[0]), int(addr[1])))
        if self.transport is not None:
            self.transport.sendto(data, addr)


async def _check(args: argparse.Namespace, server: TurnServer) -> Report:
    from rtcstack.asyncio.nat import route_source
    from rtcstack.asyncio.turn import TurnConnection, TurnError, TurnTimeoutError

    loop = asyncio.get_running_loop()
    timeout: float = args.timeout
    conn = await TurnConnection.open(
        server,
        verify=not args.insecure,
        lifetime=args.lifetime,
        channels=args.channel,
        connect_timeout=timeout,
    )
    report = Report(conn.server.addr, conn.server.transport, channel=args.channel)
    echo_transport: asyncio.DatagramTransport | None = None
    try:
        report.local = conn.local_address
        start = loop.time()
        allocated = await conn.allocate(timeout)
        report.allocate_ms = (loop.time() - start) * 1000
        report.relayed, report.mapped = allocated.relayed, allocated.mapped
        report.lifetime = allocated.lifetime

        # The echo listens where the server's relay can reach this host: on the address the
        # route to the server leaves from, in the relayed address's family.
        ip = route_source(conn.server.addr) or conn.local_address[0]
        if ipaddress.ip_address(ip).version != ipaddress.ip_address(allocated.relayed[0]).version:
            ip = "::1" if ":" in allocated.relayed[0] else "127.0.0.1"
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        echo_transport, echo = await loop.create_datagram_endpoint(
            UdpEcho, local_addr=(ip, 0), family=family
        )
        sockname = echo_transport.get_extra_info("sockname")
        report.echo = (str(sockname[0]), int(sockname[1]))

        for i in range(args.count):
            payload = _PROBE_PREFIX + str(i).encode() + b" " + bytes(range(32))
            start = loop.time()
            conn.send(payload, report.echo)
            try:
                async with asyncio.timeout(timeout):
                    while True:
                        data, peer = await conn.recv()
                        if data == payload and peer == report.echo:
                            break
            except TimeoutError as exc:
                if isinstance(exc, TurnError):
                    raise
                failures = "; ".join(
                    f"{f.peer_ip}: {f.reason}" for f in conn.permission_failures
                )
                hint = (
                    f" (permission failed: {failures})"
                    if failures
                    else f" (is {format_address(report.echo)} reachable from the relay?)"
                )
                raise TurnTimeoutError(
                    f"datagram {i + 1} was not relayed back within {timeout:g} s{hint}"
                ) from None
            report.rtt_ms.append((loop.time() - start) * 1000)
        report.echo_saw = sorted(set(echo.sources))
        if report.echo_saw and report.echo_saw != [allocated.relayed]:
            raise TurnError(
                "the echo received from "
                + ", ".join(format_address(a) for a in report.echo_saw)
                + f", not from the relayed address {format_address(allocated.relayed)}"
            )
    finally:
        if echo_transport is not None:
            echo_transport.close()
        closed = await conn.close(timeout)
        report.deallocated = closed.reason == "deallocated"
    return report


async def _main(args: argparse.Namespace) -> int:
    from rtcstack.asyncio.turn import TurnError

    def fail(status: int, kind: str, message: str) -> int:
        print(f"{PROG}: {message}", file=sys.stderr)
        if args.json:
            print(json.dumps({"ok": False, "error": kind, "message": message}))
        return status

    if args.count < 1:
        return fail(EXIT_USAGE, "usage", f"--count must be at least 1, not {args.count}")
    if args.timeout <= 0:
        return fail(EXIT_USAGE, "usage", f"--timeout must be positive, not {args.timeout:g}")
    try:
        server = server_from_args(args)
    except ValueError as exc:
        return fail(EXIT_USAGE, "usage", str(exc))
    if not server.username or not server.password:
        return fail(EXIT_USAGE, "usage", "--user and --password are required (long-term "
                    "credentials, RFC 8489 §9.2)")
    try:
        report = await _check(args, server)
    except TurnError as exc:
        message = str(exc) if args.server in str(exc) else f"{args.server}: {exc}"
        if "certificate does not verify" in message:
            message += "; --insecure accepts it (a self-signed test server)"
        return fail(EXIT_FAILURE, type(exc).__name__, message)
    except OSError as exc:  # the echo socket, or a transport error outside the driver
        return fail(EXIT_FAILURE, "OSError", f"{args.server}: {exc.strerror or exc}")
    if args.json:
        print(json.dumps(report.as_json()))
    else:
        print("\n".join(report.lines()))
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_main(args))
