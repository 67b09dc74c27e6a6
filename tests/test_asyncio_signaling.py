"""The WebSocket signaling server and client (rtcstack.asyncio.signaling), end to end over real
WebSockets on 127.0.0.1: the join / presence / relay / leave protocol, every error answered
with the server still serving, oversized messages (1009), room limits, a churn of 200 clients
with nothing leaked, clean shutdown, and two RTCPeerConnections that meet through the server
and negotiate the W3C "perfect negotiation" way (WebRTC 1.0 §10.7) through glare."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("websockets")

from websockets.exceptions import ConnectionClosed

from rtcstack.asyncio.signaling import (
    SignalingClient,
    SignalingError,
    SignalingServer,
    pair_with_peer_connection,
)
from tests.helpers import run
from tests.test_asyncio_peer import make_pc, wait_for


async def client_of(server: SignalingServer) -> SignalingClient:
    return await SignalingClient.open(server.url)


async def recv(client: SignalingClient, timeout: float = 5.0) -> dict[str, Any]:
    return await asyncio.wait_for(client.recv(), timeout)


def test_join_presence_relay_leave_and_abrupt_disconnect() -> None:
    async def main() -> None:
        events: list[tuple[str, str]] = []
        async with SignalingServer(on_event=lambda e, f: events.append((e, f["id"]))) as server:
            a, b, c = [await client_of(server) for _ in range(3)]
            a_id, peers = await a.join("room-1", "alice")
            assert peers == []
            b_id, peers = await b.join("room-1")
            assert peers == [{"id": a_id, "name": "alice"}]
            assert await recv(a) == {"type": "peer-joined", "id": b_id, "name": None}
            assert a_id != b_id and server.stats.rooms == 1
            # relay, both ways; data is opaque
            offer = {"description": {"type": "offer", "sdp": "v=0\r\n"}, "x": [1, None]}
            await a.send(b_id, offer)
            assert await recv(b) == {"type": "signal", "from": a_id, "data": offer}
            await b.send(a_id, {"candidate": None})
            assert await recv(a) == {"type": "signal", "from": b_id,
                                     "data": {"candidate": None}}
            # a third joins another room: nobody here hears of it, and it cannot reach them
            _, peers = await c.join("room_2", "carol")
            assert peers == [] and server.stats.rooms == 2
            await c.send(a_id, {})
            assert (await recv(c))["reason"] == "unknown peer"
            # leave: the others are told, the leaver gets "left" and may join again
            await b.leave()
            assert await recv(b) == {"type": "left", "room": "room-1"}
            assert await recv(a) == {"type": "peer-left", "id": b_id}
            b_id2, peers = await b.join("room-1", "bob")
            assert peers == [{"id": a_id, "name": "alice"}] and b_id2 == b_id
            assert await recv(a) == {"type": "peer-joined", "id": b_id, "name": "bob"}
            # abrupt disconnect: the socket goes away with no leave and no close handshake
            b.ws.transport.abort()
            assert await recv(a) == {"type": "peer-left", "id": b_id}
            await wait_for(lambda: server.stats.connections == 2, 5, "disconnect seen")
            assert server.stats.messages_relayed == 2
            assert ("join", a_id) in events and ("leave", b_id) in events
            await a.close()
            await c.close()
            await wait_for(lambda: server.stats.connections == 0, 5, "all gone")
            assert server.stats.rooms == 0 and server.rooms() == {}
    run(main(), 15)


@pytest.mark.parametrize(("message", "reason", "request_type"), [
    ("{not json", "malformed JSON", None),
    ("[1, 2]", "a message must be a JSON object", None),
    ("42", "a message must be a JSON object", None),
    ({"room": "r"}, "missing type", None),
    ({"type": 7}, "unknown type", None),
    ({"type": "hello"}, "unknown type", "hello"),
    ({"type": "join"}, "room must be", "join"),
    ({"type": "join", "room": ""}, "room must be", "join"),
    ({"type": "join", "room": "a" * 65}, "room must be", "join"),
    ({"type": "join", "room": "a b"}, "room must be", "join"),
    ({"type": "join", "room": "é"}, "room must be", "join"),
    ({"type": "join", "room": 5}, "room must be", "join"),
    ({"type": "join", "room": "r", "name": 5}, "name must be", "join"),
    ({"type": "join", "room": "r", "name": "n" * 65}, "name must be", "join"),
    ({"type": "signal", "to": "x", "data": {}}, "join a room first", "signal"),
    ({"type": "leave"}, "not in a room", "leave"),
])
def test_every_error_is_answered_and_the_server_keeps_serving(
        message: Any, reason: str, request_type: str | None) -> None:
    async def main() -> None:
        async with SignalingServer() as server:
            client = await client_of(server)
            await client.send_raw(message)
            reply = await recv(client)
            assert reply["type"] == "error" and reply["reason"].startswith(reason), reply
            assert reply["request"] == request_type
            # the same connection still works
            my_id, peers = await client.join("after")
            assert peers == [] and my_id
            assert server.stats.errors_sent == 1
            await client.close()
    run(main())


def test_errors_after_join_and_binary_frames() -> None:
    async def main() -> None:
        async with SignalingServer() as server:
            a, b = await client_of(server), await client_of(server)
            a_id, _ = await a.join("r")
            b_id, _ = await b.join("r")
            await recv(a)  # peer-joined
            cases: list[tuple[Any, str, str | None]] = [
                ({"type": "join", "room": "r"}, "already in room", "join"),
                ({"type": "join", "room": "other"}, "already in room", "join"),
                ({"type": "signal", "to": "nobody", "data": {}}, "unknown peer", "signal"),
                ({"type": "signal", "to": a_id, "data": {}}, "unknown peer", "signal"),  # self
                ({"type": "signal", "to": b_id}, "data must be", "signal"),
                ({"type": "signal", "to": b_id, "data": [1]}, "data must be", "signal"),
                ({"type": "signal", "data": {}}, "to must be", "signal"),
                (b"\x00binary", "binary messages", None),
            ]
            for message, reason, request_type in cases:
                if isinstance(message, bytes):
                    await a.ws.send(message)
                else:
                    await a.send_raw(message)
                reply = await recv(a)
                assert reply["type"] == "error" and reply["reason"].startswith(reason), reply
                assert reply["request"] == request_type
            with pytest.raises(SignalingError, match="already in room"):
                await a.join("r")
            await a.send(b_id, {"still": "works"})
            assert (await recv(b))["data"] == {"still": "works"}
            await a.close()
            await b.close()
    run(main())


def test_oversized_message_is_answered_then_closed_with_1009() -> None:
    async def main() -> None:
        async with SignalingServer(max_message_size=1000) as server:
            a, b = await client_of(server), await client_of(server)
            a_id, _ = await a.join("r")
            await b.join("r")
            await recv(a)
            await b.send(a_id, {"pad": "x" * 900})  # under the limit: relayed
            assert len((await recv(a))["data"]["pad"]) == 900
            await b.send(a_id, {"pad": "x" * 2000})
            reply = await recv(b)
            assert reply["type"] == "error" and reply["reason"].startswith("message too big")
            with pytest.raises(ConnectionClosed) as closed:
                await recv(b)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
            assert (await recv(a))["type"] == "peer-left"
            # far over the limit: the WebSocket layer refuses it (1009) without reading it
            c = await client_of(server)
            await c.send_raw("x" * 10_000)
            with pytest.raises(ConnectionClosed) as closed:
                await recv(c)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
            # the server is still serving
            d = await client_of(server)
            await d.join("r")
            await wait_for(lambda: server.stats.connections == 2, 5, "closed ones gone")
            await a.close()
            await d.close()
    run(main())


def test_room_full_and_too_many_rooms() -> None:
    async def main() -> None:
        async with SignalingServer(max_room_size=2, max_rooms=2) as server:
            clients = [await client_of(server) for _ in range(4)]
            await clients[0].join("one")
            await clients[1].join("one")
            with pytest.raises(SignalingError, match="room full"):
                await clients[2].join("one")
            await clients[2].join("two")
            with pytest.raises(SignalingError, match="too many rooms"):
                await clients[3].join("three")
            await clients[1].leave()
            await clients[3].join("one")  # a place freed
            assert server.stats.rooms == 2
            for client in clients:
                await client.close()
            await wait_for(lambda: server.stats.connections == 0, 5, "all gone")
            assert server.stats.rooms == 0
    run(main())


def test_200_clients_join_and_leave_without_leaking() -> None:
    async def main() -> None:
        async with SignalingServer(max_room_size=1000) as server:
            baseline = len(asyncio.all_tasks())

            async def one(i: int) -> None:
                client = await client_of(server)
                await client.join(f"room-{i % 7}", f"n{i}")
                if i % 3:
                    await client.leave()
                    assert (await recv(client))["type"] in ("left", "peer-joined",
                                                            "peer-left")
                await client.close()

            for round_ in range(2):
                await asyncio.gather(*(one(i) for i in range(100 * round_, 100 * round_ + 100)))
                await wait_for(lambda: server.stats.connections == 0, 10, "all closed")
                assert server.stats.rooms == 0 and server.rooms() == {}
                await wait_for(lambda: len(asyncio.all_tasks()) <= baseline, 5, "tasks end")
            assert server.stats.joins == 200
            assert server._ids == set()  # nothing kept per closed connection
    run(main(), 20)


def test_clean_shutdown_with_clients_connected() -> None:
    async def main() -> None:
        baseline = len(asyncio.all_tasks())
        server = SignalingServer()
        await server.start()
        clients = [await client_of(server) for _ in range(5)]
        for i, client in enumerate(clients[:3]):
            await client.join("r", str(i))
        await server.close()
        await server.close()  # idempotent
        for client in clients:
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await recv(client)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert server.stats.connections == 0 and server.stats.rooms == 0
        for client in clients:
            await client.close()
        await wait_for(lambda: len(asyncio.all_tasks()) <= baseline, 5, "tasks end")
    run(main())


def test_two_peer_connections_meet_through_the_server_and_resolve_glare() -> None:
    """Each side joins, learns the other's id from presence, and starts perfect negotiation;
    both add a track and a data channel in the same loop iteration: both offer (glare), the
    impolite peer ignores the polite peer's offer, the polite one rolls back and answers.
    They connect and exchange a data-channel message each way."""
    from rtcstack.media import ToneTrack

    async def main() -> None:
        async with SignalingServer() as server:
            ca, cb = await client_of(server), await client_of(server)
            a_id, _ = await ca.join("call", "a")
            b_id, peers = await cb.join("call", "b")
            assert peers == [{"id": a_id, "name": "a"}]
            assert (await recv(ca))["id"] == b_id
            pa, pb = make_pc(), make_pc()
            na = pair_with_peer_connection(ca, pa, polite=True, peer_id=b_id)
            nb = pair_with_peer_connection(cb, pb, polite=False, peer_id=a_id)
            received: dict[str, list[Any]] = {"a": [], "b": []}
            remote: dict[str, Any] = {}
            pa.on("datachannel", lambda ch: remote.__setitem__("a", ch))
            pb.on("datachannel", lambda ch: remote.__setitem__("b", ch))
            try:
                for pc in (pa, pb):
                    pc.addTrack(ToneTrack())
                mine = {"a": pa.createDataChannel("from a"), "b": pb.createDataChannel("from b")}

                def done() -> bool:
                    return all(pc.signalingState == "stable" and pc.connectionState ==
                               "connected" and not pc._core.negotiation_needed
                               for pc in (pa, pb)) and na.idle and nb.idle and len(remote) == 2
                await wait_for(lambda: done() or bool(na.errors or nb.errors), 15,
                               "negotiation")
                assert not na.errors and not nb.errors, (na.errors, nb.errors)
                assert nb.ignored >= 1 and na.rolled_back >= 1  # there was glare
                assert nb.rolled_back == 0
                for name, other in (("a", "b"), ("b", "a")):
                    await mine[name].wait_open(10)
                    assert remote[other].label == f"from {name}"
                    remote[other].on("message", received[other].append)
                    mine[name].send(f"hello from {name}")
                await wait_for(lambda: all(received.values()), 10, "messages")
                assert received == {"a": ["hello from b"], "b": ["hello from a"]}
                assert server.stats.messages_relayed >= 4
            finally:
                await na.close()
                await nb.close()
                await pa.close()
                await pb.close()
                await ca.close()
                await cb.close()
    run(main(), 30)


def test_cli_signal_prints_joins_and_leaves() -> None:
    import os
    import signal
    import subprocess
    import sys

    async def main() -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rtcstack.cli", "signal", "--listen", "127.0.0.1:0",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stderr is not None
        try:
            line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
            assert line.startswith("listening on ws://127.0.0.1:"), line
            client = await SignalingClient.open(line.split()[-1])
            my_id, _ = await client.join("cli-room", "me")
            joined = (await asyncio.wait_for(proc.stdout.readline(), 5)).decode()
            assert joined.startswith(f"{my_id} (me) joined cli-room")
            await client.close()
            left = (await asyncio.wait_for(proc.stdout.readline(), 5)).decode()
            assert left.startswith(f"{my_id} (me) left cli-room")
        finally:
            proc.send_signal(signal.SIGINT)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
        stats = json.loads((await proc.stderr.read()).decode().split("stopped; ")[1])
        assert stats["joins"] == 1 and stats["connections"] == 0
    run(main(), 20)


def test_a_member_that_stops_reading_is_dropped_not_waited_for() -> None:
    """A relay to a member whose TCP window is full would hold up the sender's connection;
    after ``send_timeout`` the slow member is dropped (peer-left to the others) instead."""
    async def main() -> None:
        async with SignalingServer(send_timeout=0.5) as server:
            fast, slow = await client_of(server), await client_of(server)
            await fast.join("slow-room", "fast")
            slow_id, _ = await slow.join("slow-room", "slow")
            assert (await recv(fast))["type"] == "peer-joined"
            slow.ws.transport.pause_reading()  # it stops reading; the server's sends pile up
            blob = {"blob": "x" * 60_000}
            for _ in range(400):  # 24 MB: more than every buffer on the way
                await fast.send(slow_id, blob)
                if server.stats.slow_dropped:
                    break
            replies = [await recv(fast)]
            while replies[-1].get("type") != "peer-left":
                replies.append(await recv(fast))
            assert {"type": "peer-left", "id": slow_id} in replies
            assert server.stats.slow_dropped == 1
            assert server.rooms() == {"slow-room": [fast.id]}
            # the fast member's connection still works
            await fast.send_raw({"type": "join", "room": "again"})
            reply = await recv(fast)
            while reply.get("reason") == "unknown peer":  # the relays after the drop
                reply = await recv(fast)
            assert reply == {"type": "error", "reason": "already in room 'slow-room'",
                             "request": "join"}
            await fast.close()
            slow.ws.transport.abort()  # it reads nothing: no closing handshake to wait for
    run(main(), 30)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=12)
requests = st.one_of(
    json_values.map(json.dumps),  # any JSON at all
    st.fixed_dictionaries({"type": st.sampled_from(["join", "leave", "signal", "nope"])},
                          optional={"room": json_values | st.text(max_size=70),
                                    "name": json_values, "to": json_values,
                                    "data": json_values}).map(json.dumps),
    st.text(max_size=200),  # mostly not JSON
    st.binary(max_size=200),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(requests, min_size=1, max_size=6))
def test_any_message_is_answered_or_acted_on_and_the_server_keeps_serving(
        messages: list[str | bytes]) -> None:
    async def main() -> None:
        async with SignalingServer(max_message_size=1024) as server:
            client, other = await client_of(server), await client_of(server)
            await other.join("fuzz")
            for message in messages:
                await client.ws.send(message)
            # whatever came before, the connection still answers in order
            await client.send_raw({"type": "nope"})
            while (reply := await recv(client)).get("reason") != "unknown type" or \
                    reply.get("request") != "nope":
                assert reply["type"] in ("error", "joined", "left", "peer-joined",
                                         "peer-left", "signal"), reply
            # and the server serves others as before
            third = await client_of(server)
            _, peers = await third.join("fuzz-2")
            assert peers == []
            for c in (client, other, third):
                await c.close()
        assert server.stats.connections == 0 and not server.rooms()
    run(main(), 20)
