"""``rtcstack`` entry point.

Each subcommand lives in its own module exposing ``configure(parser)`` (add arguments) and
``run(args) -> int`` (exit status).  Only the chosen subcommand's module is imported, so
``rtcstack stun`` never pays for layers it does not use.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module, one-line help).  Keep in the order a user meets them.
COMMANDS: dict[str, tuple[str, str]] = {
    "loopback": ("rtcstack.cli.loopback",
                 "the main job: two rtcstack peers call each other on loopback (audio, video, "
                 "data) and print what every layer did"),
    "demo": ("rtcstack.cli.demo",
             "the browser demo: a call page with live stats, signaling, a Python echo peer"),
    "stun-demo": ("rtcstack.cli.stun_demo", "run a STUN server on loopback and query it"),
    "stun": ("rtcstack.cli.stun", "ask a STUN server for this host's mapped address"),
    "nat-type": ("rtcstack.cli.nat_type", "RFC 5780 NAT mapping and filtering behaviour"),
    "stun-server": ("rtcstack.cli.stun_server", "run a STUN server (UDP and TCP)"),
    "signal": ("rtcstack.cli.signal", "run a WebSocket signaling server (rooms, presence, relay)"),
    "turn": ("rtcstack.cli.turn", "allocate on a TURN server and relay a datagram through it"),
    "dtls": ("rtcstack.cli.dtls", "DTLS 1.2 + use_srtp test client and server (like s_client)"),
    "datachannel": ("rtcstack.cli.datachannel",
                    "WebRTC data-channel test client and server (SCTP over DTLS), echo"),
    "decode": ("rtcstack.cli.decode", "classify a datagram (RFC 7983) and print every field"),
    "sdp": ("rtcstack.cli.sdp", "show a session description, or check what a peer would reject"),
    "vectors": ("rtcstack.cli.vectors", "list the RFC test vectors and check them"),
}


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: rtcstack COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "'rtcstack COMMAND --help' describes one command."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] == "--version":
        from rtcstack import __version__

        print(f"rtcstack {__version__}")
        return 0
    name = args[0]
    if name not in COMMANDS:
        print(f"rtcstack: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"rtcstack {name}", description=text)
    module.configure(parser)
    ns = parser.parse_args(args[1:])
    try:
        status: int = module.run(ns)
    except KeyboardInterrupt:
        return 130
    return status
