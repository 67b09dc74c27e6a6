"""``rtcstack stun-server``: a STUN server on UDP and TCP (RFC 8489 §12), RFC 5780 with a second
address, optional short-term or long-term credentials.

Prints one ``listening on TRANSPORT HOST:PORT`` line per socket once they are all bound, then
(with ``-v``) one line per answered request on stderr; stops cleanly on SIGINT or SIGTERM and
prints its counters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from rtcstack.cli.serving import address_arg, stop_on_signals
from rtcstack.common.trace import Trace
from rtcstack.common.types import format_address
from rtcstack.stun.server import LongTermAuth, ShortTermAuth

__all__ = ["configure", "format_address", "run"]


def _user_arg(text: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError(f"{text!r}: expected USER:PASSWORD")
    return user, password


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        type=address_arg,
        default=("0.0.0.0", 3478),
        metavar="HOST:PORT",
        help="primary address (default 0.0.0.0:3478; port 0 picks a free port)",
    )
    parser.add_argument(
        "--alternate",
        type=address_arg,
        metavar="HOST2:PORT2",
        help="second IP and port for RFC 5780 discovery (needs a specific --listen IP)",
    )
    parser.add_argument("--no-tcp", action="store_true", help="UDP only")
    parser.add_argument("--software", metavar="TEXT", help="SOFTWARE attribute to send")
    parser.add_argument(
        "--mapped-address",
        action="store_true",
        help="also send MAPPED-ADDRESS (for RFC 3489 clients)",
    )
    parser.add_argument(
        "--realm", metavar="R", help="long-term credentials (RFC 8489 §9.2) in realm R"
    )
    parser.add_argument(
        "--user",
        type=_user_arg,
        action="append",
        default=[],
        metavar="U:P",
        help="a user; with --realm long-term, without it short-term (RFC 8489 §9.1); repeatable",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log each request")


def _trace_logger(verbosity: int) -> logging.Logger:
    log = logging.getLogger("rtcstack.cli.stun_server")
    log.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO if verbosity else logging.WARNING)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
    log.propagate = False
    return log


def _make_trace(log: logging.Logger) -> Trace:
    def trace(event: str, /, **fields: object) -> None:
        if event == "stun.server.response":
            addr = fields.get("addr")
            local = fields.get("local")
            code = fields.get("code")
            head = f"{fields.get('transport')} {_fmt(addr)} -> {_fmt(local)}"
            if code == 0:
                extra = ""
                if fields.get("source") != local:
                    extra += f" from {_fmt(fields.get('source'))}"
                if fields.get("destination") != addr:
                    extra += f" to {_fmt(fields.get('destination'))}"
                log.info("%s Binding success%s", head, extra)
            else:
                log.info("%s Binding error %s %s", head, code, fields.get("reason") or "")
        elif event == "stun.server.drop":
            log.debug("dropped from %s: %s", _fmt(fields.get("addr")), fields.get("reason"))
        elif event == "stun.server.indication":
            log.debug("indication from %s", _fmt(fields.get("addr")))

    return trace


def _fmt(value: object) -> str:
    if isinstance(value, tuple) and len(value) == 2:
        return format_address((str(value[0]), int(value[1])))
    return str(value)


async def _serve(args: argparse.Namespace) -> int:
    from rtcstack.asyncio.stun_server import serve_stun

    log = _trace_logger(args.verbose)
    users = dict(args.user)
    short_term = long_term = None
    if args.realm:
        if not users:
            print("rtcstack stun-server: --realm needs at least one --user U:P", file=sys.stderr)
            return 2
        long_term = LongTermAuth.from_users(args.realm, users)
    elif users:
        short_term = ShortTermAuth.from_users(users)
    try:
        server = await serve_stun(
            args.listen,
            args.alternate,
            tcp=not args.no_tcp,
            software=args.software,
            mapped_address=args.mapped_address,
            short_term=short_term,
            long_term=long_term,
            trace=_make_trace(log),
        )
    except (OSError, ValueError) as exc:
        print(f"rtcstack stun-server: {exc}", file=sys.stderr)
        return 1
    try:
        with stop_on_signals() as stop:
            for transport, addr in server.addresses:
                print(f"listening on {transport} {format_address(addr)}", flush=True)
            await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
    print(f"stopped; {json.dumps(server.stats.as_dict())}", file=sys.stderr, flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))
