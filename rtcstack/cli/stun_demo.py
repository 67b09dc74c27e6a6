"""``rtcstack stun-demo``: rtcstack's STUN server and client, end to end on this machine.

It starts rtcstack's STUN server on loopback (UDP and TCP; with an RFC 5780 alternate address on
127.0.0.2 when the system allows it), queries it with rtcstack's client over UDP and over TCP,
prints both sides of each exchange field by field, runs RFC 5780 NAT behaviour discovery against
it, and prints the server's counters.  Nothing leaves the loopback interface.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from rtcstack.stun import Message


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--no-nat", action="store_true", help="skip the RFC 5780 NAT behaviour discovery"
    )


def _fields(message: Message, indent: str = "      ") -> str:
    d = message.describe()
    lines = [f"{indent}{d['method']} {d['class']}  transaction {d['transaction_id']}"]
    lines += [f"{indent}  {a['name']:<20} {a['value']}" for a in d["attributes"]]
    return "\n".join(lines)


async def _demo(nat: bool) -> dict[str, Any]:
    from rtcstack.asyncio.nat import discover_nat_behavior
    from rtcstack.asyncio.stun import binding
    from rtcstack.asyncio.stun_server import serve_stun

    try:  # RFC 5780 needs a second IP address; 127.0.0.2 is on Linux's loopback by default.
        server = await serve_stun(
            ("127.0.0.1", 0), ("127.0.0.2", 0), software="rtcstack demo server"
        )
    except OSError:
        server = await serve_stun(("127.0.0.1", 0), software="rtcstack demo server")
    report: dict[str, Any] = {
        "server": {"udp": server.udp_addresses, "tcp": server.tcp_addresses},
        "exchanges": [],
    }
    try:
        host, port = server.udp_addresses[0]
        for transport in ("udp", "tcp"):
            result = await binding(f"{host}:{port}", transport=transport)
            report["exchanges"].append(
                {
                    "transport": transport,
                    "local": result.local,
                    "server": result.server,
                    "mapped": result.mapped,
                    "rtt_ms": round(result.rtt * 1000, 3),
                    "request": result.request.describe(),
                    "response": result.response.describe(),
                    "_messages": (result.request, result.response),
                }
            )
        if nat and len(server.udp_addresses) == 4:
            behavior = await discover_nat_behavior((host, port))
            report["nat"] = behavior.as_dict()
            report["nat_summary"] = behavior.summary()
        elif nat:
            report["nat_summary"] = "skipped: no second loopback address for RFC 5780"
        report["server_stats"] = server.stats.as_dict()
    finally:
        server.close()
        await server.wait_closed()
    return report


def _print(report: dict[str, Any]) -> None:
    print("rtcstack stun-demo: STUN (RFC 8489) server and client on loopback")
    print(f"  server listening: udp {report['server']['udp']}")
    print(f"                    tcp {report['server']['tcp']}")
    for ex in report["exchanges"]:
        request, response = ex["_messages"]
        print(f"\n  Binding over {ex['transport'].upper()}: {ex['local']} -> {ex['server']}")
        print("    request (FINGERPRINT is added when it is serialized):")
        print(_fields(request))
        print(f"    response ({ex['rtt_ms']} ms):")
        print(_fields(response))
        print(f"    mapped address: {ex['mapped'][0]}:{ex['mapped'][1]}")
    if "nat_summary" in report:
        summary = str(report["nat_summary"]).replace("\n", "\n    ")
        print(f"\n  RFC 5780 NAT behaviour discovery against the server:\n    {summary}")
    stats = {k: v for k, v in report["server_stats"].items() if v}
    print(f"\n  server counters: {json.dumps(stats)}")


def run(args: argparse.Namespace) -> int:
    report = asyncio.run(_demo(not args.no_nat))
    if args.json:
        for ex in report["exchanges"]:
            del ex["_messages"]
        print(json.dumps(report, indent=2, default=str))
    else:
        _print(report)
    return 0
