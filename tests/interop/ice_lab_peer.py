"""An rtcstack ICE agent as a program, for the NAT lab: line-based JSON on stdin/stdout.

Run inside a lab namespace (``NatLab.run_python(ns, ["-m", "tests.interop.ice_lab_peer"])``);
the test relays signaling between two of these.  Commands (one JSON object per line):

- ``{"op": "start", "controlling": bool, "stun": [[ip, port]...], "turn": [{host, port,
  transport, username, password}...], "policy": "all"|"relay"}`` -- gather on every interface
- ``{"op": "remote", "ufrag": ..., "pwd": ...}`` -- the peer's credentials
- ``{"op": "candidate", "candidate": "candidate:..." | null}`` -- a trickled remote candidate
- ``{"op": "send", "data": text}`` -- a datagram over the selected pair
- ``{"op": "restart"}`` -- ICE restart (new credentials, candidates again)

Events out: ``credentials``, ``candidate`` (null = end-of-candidates), ``state``, ``selected``
(both candidates' type and address), ``data`` (text received), ``error``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from typing import Any

from rtcstack.asyncio.ice import IceTransport
from rtcstack.ice import Candidate, IceState, TurnServer


def _out(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _describe(c: Candidate) -> dict[str, Any]:
    return {"type": c.type.value, "address": c.address, "port": c.port}


async def main() -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            if line.strip():
                loop.call_soon_threadsafe(commands.put_nowait, json.loads(line))
        loop.call_soon_threadsafe(commands.put_nowait, None)

    threading.Thread(target=read, daemon=True).start()
    ice: IceTransport | None = None
    last_selected: Any = None

    def on_state(state: IceState) -> None:
        nonlocal last_selected
        _out({"ev": "state", "state": state.value})
        pair = ice.selected_pair if ice is not None else None
        if pair is not None and pair is not last_selected and state in (
                IceState.CONNECTED, IceState.COMPLETED):
            last_selected = pair
            _out({"ev": "selected", "local": _describe(pair.local),
                  "remote": _describe(pair.remote)})

    while (command := await commands.get()) is not None:
        op = command["op"]
        try:
            if op == "start":
                turn = [TurnServer(t["host"], t["port"], t.get("transport", "udp"),
                                   t["username"], t["password"]) for t in command.get("turn", [])]
                ice = IceTransport(controlling=command["controlling"],
                                   stun_servers=[tuple(s) for s in command.get("stun", [])],
                                   turn_servers=turn, policy=command.get("policy", "all"),
                                   ipv6=False, disconnected_timeout=2.0, consent_interval=1.0)
                ice.on_candidate = lambda c: _out(
                    {"ev": "candidate", "candidate": c.to_ice_string() if c else None})
                ice.on_state = on_state
                ice.on_data = lambda d: _out({"ev": "data", "data": d.decode("utf-8", "replace")})
                ufrag, pwd = ice.local_credentials
                _out({"ev": "credentials", "ufrag": ufrag, "pwd": pwd})
                await ice.gather()
            elif ice is None:
                _out({"ev": "error", "error": f"{op} before start"})
            elif op == "remote":
                ice.set_remote_credentials(command["ufrag"], command["pwd"])
            elif op == "candidate":
                await ice.add_remote_candidate(command["candidate"])
            elif op == "send":
                ice.send(command["data"].encode())
            elif op == "restart":
                ufrag, pwd = ice.restart()
                _out({"ev": "credentials", "ufrag": ufrag, "pwd": pwd})
            else:
                _out({"ev": "error", "error": f"unknown op {op!r}"})
        except Exception as exc:  # reported to the test, which fails with it
            _out({"ev": "error", "error": f"{op}: {type(exc).__name__}: {exc}"})
    if ice is not None:
        await ice.close()


if __name__ == "__main__":
    asyncio.run(main())
