"""``rtcstack nat-type SERVER[:PORT]``: RFC 5780 §4.3 mapping and §4.4 filtering behaviour.

Needs a server that supports RFC 5780 (two IP addresses, OTHER-ADDRESS), for example
``rtcstack stun-server --listen A1:P1 --alternate A2:P2`` or coturn with two listening IPs.
Exit status: 0 when both behaviours were determined, 1 when something could not be (UDP blocked,
server without RFC 5780, no answer from the alternate address), 2 for bad arguments or a name
that does not resolve.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys

from rtcstack.stun.behavior import NatBehavior

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("server", metavar="SERVER[:PORT]", help="STUN server (default port 3478)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--local",
        metavar="HOST:PORT",
        help="local address to test from (RFC 5780 §4.1: the port the application will use)",
    )
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=socket.AF_INET)
    family.add_argument("-6", dest="family", action="store_const", const=socket.AF_INET6)
    parser.add_argument(
        "--mapping-only", action="store_true", help="skip the filtering tests (§4.4)"
    )
    parser.add_argument(
        "--filtering-only", action="store_true", help="skip mapping tests II and III (§4.3)"
    )


async def _discover(args: argparse.Namespace) -> NatBehavior:
    from rtcstack.asyncio.nat import discover_nat_behavior
    from rtcstack.asyncio.stun import parse_server, resolve
    from rtcstack.cli.serving import parse_host_port

    host, port = parse_server(args.server)
    local = None
    if args.local:
        local = parse_host_port(args.local, default_port=0)
    family = args.family or 0
    if local is not None and not family:
        family = socket.AF_INET6 if ":" in local[0] else socket.AF_INET
    server = (await resolve(host, port, family=family))[0][1]
    return await discover_nat_behavior(
        server,
        local=local,
        mapping=not args.filtering_only,
        filtering=not args.mapping_only,
    )


def run(args: argparse.Namespace) -> int:
    from rtcstack.asyncio.stun import StunError

    if args.mapping_only and args.filtering_only:
        print(
            "rtcstack nat-type: --mapping-only and --filtering-only exclude each other",
            file=sys.stderr,
        )
        return 2
    try:
        result = asyncio.run(_discover(args))
    except ValueError as exc:
        print(f"rtcstack nat-type: {exc}", file=sys.stderr)
        return 2
    except (StunError, OSError) as exc:
        print(f"rtcstack nat-type: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print(result.summary())
    complete = (args.filtering_only or result.mapping is not None) and (
        args.mapping_only or result.filtering is not None
    )
    return 0 if complete else 1
