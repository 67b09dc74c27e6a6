"""``rtcstack stun HOST[:PORT]``: ask a STUN server for this host's mapped address (RFC 8489).

Prints the XOR-MAPPED-ADDRESS the server saw; ``--verbose`` adds the request and response
fields, ``--json`` prints one JSON object.  Failures are one line on stderr and a distinct exit
status: 1 error response, 3 timeout, 4 name resolution, 5 connection/TLS failure, 6 unusable
response (2 is argparse's usage error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from typing import Any

from rtcstack.common.types import Address

EXIT_OK = 0
EXIT_ERROR_RESPONSE = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_RESOLVE = 4
EXIT_CONNECTION = 5
EXIT_BAD_RESPONSE = 6


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "server", metavar="HOST[:PORT]", help="STUN server; IPv6 as [ADDR]:PORT (port 3478)"
    )
    proto = parser.add_mutually_exclusive_group()
    proto.add_argument("--tcp", action="store_true", help="STUN over TCP (RFC 8489 §6.2.2)")
    proto.add_argument("--tls", action="store_true", help="STUN over TLS (default port 5349)")
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="ipv4", action="store_true", help="use IPv4 only")
    family.add_argument("-6", dest="ipv6", action="store_true", help="use IPv6 only")
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="give up after this long (default 10; 0 = the full RFC 8489 schedule, 39.5 s)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also print the request and response"
    )


def _fmt(addr: Address) -> str:
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _addr_json(addr: Address) -> dict[str, Any]:
    return {"host": addr[0], "port": addr[1]}


async def _query(args: argparse.Namespace) -> int:
    from rtcstack.asyncio.stun import (
        StunConnectionError,
        StunErrorResponse,
        StunResolveError,
        StunResponseError,
        StunTimeoutError,
        binding,
    )
    from rtcstack.stun.errors import IntegrityError
    from rtcstack.stun.message import Message

    transport = "tls" if args.tls else "tcp" if args.tcp else "udp"
    family = socket.AF_INET if args.ipv4 else socket.AF_INET6 if args.ipv6 else 0
    timeout = args.timeout if args.timeout and args.timeout > 0 else None

    def fail(status: int, kind: str, message: str, **extra: Any) -> int:
        print(f"rtcstack stun: {message}", file=sys.stderr)
        if args.json:
            print(json.dumps({"ok": False, "error": kind, "message": message, **extra}))
        return status

    try:
        async with asyncio.timeout(timeout):
            result = await binding(args.server, transport=transport, family=family)
    except ValueError as exc:  # a bad HOST[:PORT]
        return fail(EXIT_USAGE, "usage", str(exc))
    except StunErrorResponse as exc:
        response = exc.response.describe() if exc.response is not None else None
        return fail(
            EXIT_ERROR_RESPONSE,
            "error-response",
            f"{args.server}: {exc}",
            code=exc.code,
            reason=exc.reason,
            response=response,
        )
    except (StunTimeoutError, TimeoutError):
        waited = f" within {timeout:g} s" if timeout else ""
        return fail(EXIT_TIMEOUT, "timeout", f"{args.server}: no response over {transport}{waited}")
    except StunResolveError as exc:
        return fail(EXIT_RESOLVE, "resolve", str(exc))
    except (StunConnectionError, ConnectionError) as exc:
        return fail(EXIT_CONNECTION, "connection", f"{args.server}: {exc}")
    except (StunResponseError, IntegrityError) as exc:
        return fail(EXIT_BAD_RESPONSE, "bad-response", f"{args.server}: {exc}")
    except OSError as exc:  # e.g. no IPv6 route: the socket itself failed
        return fail(EXIT_CONNECTION, "connection", f"{args.server}: {exc.strerror or exc}")

    sent = Message.parse(result.request.serialize(fingerprint=True))
    if args.json:
        out: dict[str, Any] = {
            "ok": True,
            "server": _addr_json(result.server),
            "transport": transport,
            "mapped_address": _addr_json(result.mapped),
            "local_address": _addr_json(result.local),
            "response_from": _addr_json(result.source),
            "rtt_ms": round(result.rtt * 1000, 3),
        }
        if args.verbose:
            out["request"] = sent.describe()
            out["response"] = result.response.describe()
        print(json.dumps(out))
        return EXIT_OK
    if args.verbose:
        print(f"server        {_fmt(result.server)} over {transport}")
        print(f"local address {_fmt(result.local)}")
        print(f"rtt           {result.rtt * 1000:.1f} ms")
        for title, message in (("request", sent), ("response", result.response)):
            d = message.describe()
            print(f"{title} {d['method']} {d['class']} tid={d['transaction_id']}")
            for attr in d["attributes"]:
                print(f"    {attr['name']:<22} {attr['value']}")
        print(f"mapped address {_fmt(result.mapped)}")
    else:
        print(_fmt(result.mapped))
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_query(args))
