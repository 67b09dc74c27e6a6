"""A WebSocket signaling server, its Python client, and perfect negotiation over it.

WebRTC leaves signaling to the application (RFC 8825 §3, JSEP RFC 8829 §1): the two peers need
*some* channel to swap descriptions and candidates.  This module is a small, reusable one:
peers join a named room, see who else is there, and relay opaque JSON objects to one another.

Why ``websockets`` rather than aiohttp: it is small, pure asyncio, typed, and does only the
WebSocket protocol (RFC 6455), which is all a signaling server needs; no HTTP framework, no
routing, no extra C extensions.  It is the optional extra ``rtcstack[signal]``; nothing else in
rtcstack imports this module.

The protocol (JSON text messages, one object per message)
==========================================================

=========================================  ===================================================
client -> server                           server -> client
=========================================  ===================================================
``{"type":"join","room":R,"name":N?}``     to the joiner ``{"type":"joined","room":R,
                                           "id":ID,"peers":[{"id":..,"name":..},...]}``;
                                           to every other member ``{"type":"peer-joined",
                                           "id":ID,"name":N}`` (``name`` may be null)
``{"type":"leave"}``                       to the others ``{"type":"peer-left","id":ID}``
                                           (also sent when a member disconnects abruptly);
                                           to the leaver ``{"type":"left","room":R}``
``{"type":"signal","to":ID,"data":{..}}``  to ``ID`` (same room) ``{"type":"signal",
                                           "from":ID,"data":{..}}``; ``data`` is an opaque
                                           JSON object (an offer, answer or candidate)
anything wrong                             ``{"type":"error","reason":"...",
                                           "request":<the request's type or null>}``
=========================================  ===================================================

Rules: a room name is 1-64 characters of ``[A-Za-z0-9_-]``; a name is a string of at most 64
characters or absent/null; a connection is in at most one room (joining twice is an error; leave
first); ``signal`` needs a prior ``join`` and a target in the same room.  Errors (malformed JSON,
non-object JSON, binary frames, unknown type, missing or invalid fields, room full, too many
rooms, joining twice, signal or leave before join, unknown target) are answered and the
connection stays open.  A message longer than ``max_message_size`` bytes is answered with an
error and the connection is then closed with code 1009 (RFC 6455 §7.4.1, "message too big");
one over four times that is refused by the WebSocket layer itself (1009, no error message), so
that nobody can make the server buffer an unbounded message.

Ids are 64 random bits (``secrets``), unique among the server's open connections.

A member that does not read (its TCP window full) cannot hold up the others: a send that has
not completed within ``send_timeout`` seconds drops that member's connection (its peers get
``peer-left``) and the sender's request carries on.

The same port can serve plain HTTP too (``http=``, a function of the path answering
``(status, content type, body)`` or None for 404) -- the demo serves its page that way -- and
the WebSocket can be restricted to one path (``path="/ws"``).  Give ``ssl=`` for ``wss://``
and ``https://``.

Perfect negotiation
===================

:func:`pair_with_peer_connection` runs the W3C "Perfect negotiation example" (WebRTC 1.0 §10.7)
for an rtcstack :class:`~rtcstack.asyncio.peer.RTCPeerConnection` over a joined
:class:`SignalingClient` (:class:`~rtcstack.asyncio.negotiation.PerfectNegotiator`, with its
messages relayed as ``signal`` data): the ``data`` is ``{"description": {"type","sdp"}}`` or
``{"candidate": {...} | null}``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import ssl as _ssl
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from rtcstack.asyncio.negotiation import PerfectNegotiator

__all__ = [
    "PerfectNegotiation",
    "SignalingClient",
    "SignalingError",
    "SignalingServer",
    "SignalingStats",
    "pair_with_peer_connection",
]

# what may still arrive from a room left (``leave`` does not wait for ``left``) before a join's
# reply: skipped by :meth:`SignalingClient.join`
STALE_BEFORE_JOIN = frozenset({"left", "peer-joined", "peer-left", "signal"})
ROOM_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_NAME_LENGTH = 64


class SignalingError(Exception):
    """The server answered a request with ``{"type": "error"}`` (``reason``, ``request``)."""

    def __init__(self, reason: str, request: str | None = None) -> None:
        super().__init__(f"{reason} (request {request!r})")
        self.reason = reason
        self.request = request


@dataclass
class SignalingStats:
    connections: int = 0  # open now
    rooms: int = 0  # non-empty now
    messages_relayed: int = 0  # ``signal`` messages delivered
    errors_sent: int = 0
    joins: int = 0  # in total
    slow_dropped: int = 0  # connections dropped because a send to them timed out

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(eq=False)
class _Member:
    id: str
    ws: ServerConnection
    name: str | None = None
    room: str | None = None


class _RequestError(Exception):
    pass


# event callback: (event, fields) with event in "join", "leave"
EventCallback = Callable[[str, dict[str, Any]], None]
# plain HTTP GET: path (without the query) -> (status, content type, body), or None for 404
HttpHandler = Callable[[str], "tuple[int, str, bytes] | None"]


def http_response(status: int, content_type: str, body: bytes) -> Response:
    """An HTTP/1.1 response for ``process_request`` (no caching: the demo's page is small)."""
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")])
    return Response(status, HTTPStatus(status).phrase, headers, body)


class SignalingServer:
    """The signaling server.  ``await start()`` (or ``async with``), then ``port``; ``close()``
    closes every connection and returns once every handler has finished."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 max_message_size: int = 64 * 1024, max_room_size: int = 16,
                 max_rooms: int = 1000, on_event: EventCallback | None = None,
                 send_timeout: float = 5.0, path: str | None = None,
                 http: HttpHandler | None = None, ssl: _ssl.SSLContext | None = None) -> None:
        self.host = host
        self._requested_port = port
        self.max_message_size = max_message_size
        self.max_room_size = max_room_size
        self.max_rooms = max_rooms
        self.on_event = on_event
        self.send_timeout = send_timeout
        self.path = path
        self.http = http
        self.ssl = ssl
        self.stats = SignalingStats()
        self._rooms: dict[str, dict[str, _Member]] = {}
        self._ids: set[str] = set()
        self._server: Server | None = None

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("already started")
        self._server = await serve(self._handle, self.host, self._requested_port,
                                   max_size=4 * self.max_message_size, compression=None,
                                   process_request=self._process_request, ssl=self.ssl,
                                   server_header="rtcstack")

    def _process_request(self, connection: ServerConnection, request: Request
                         ) -> Response | None:
        """Before the WebSocket handshake: plain HTTP requests go to ``http``; an upgrade on
        another path than ``path`` is refused."""
        path = request.path.split("?", 1)[0]
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if self.path is None or path == self.path:
                return None
            return http_response(404, "text/plain; charset=utf-8", b"no WebSocket here\n")
        if self.http is None:
            return None  # websockets answers 426 Upgrade Required
        answer = self.http(path)
        if answer is None:
            return http_response(404, "text/plain; charset=utf-8", b"not found\n")
        return http_response(*answer)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("not started")
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        """The WebSocket URL (``ws://`` or ``wss://``, with ``path``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "wss" if self.ssl is not None else "ws"
        return f"{scheme}://{host}:{self.port}{self.path or ''}"

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=True)
        await server.wait_closed()

    async def __aenter__(self) -> SignalingServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def rooms(self) -> dict[str, list[str]]:
        """Room name -> member ids (a snapshot)."""
        return {name: list(members) for name, members in self._rooms.items()}

    # --- one connection ------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        member_id = secrets.token_hex(8)
        while member_id in self._ids:  # pragma: no cover - 64 random bits
            member_id = secrets.token_hex(8)
        self._ids.add(member_id)
        member = _Member(member_id, ws)
        self.stats.connections += 1
        try:
            async for raw in ws:
                if not await self._message(member, raw):
                    break
        except ConnectionClosed:
            pass
        finally:
            self.stats.connections -= 1
            self._ids.discard(member_id)
            await self._leave(member)

    async def _message(self, member: _Member, raw: str | bytes) -> bool:
        """Handle one message; False to stop reading (the connection is being closed)."""
        size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
        if size > self.max_message_size:
            await self._error(member, f"message too big ({size} > {self.max_message_size} "
                                      "bytes)", None)
            await member.ws.close(CloseCode.MESSAGE_TOO_BIG, "message too big")
            return False
        request: str | None = None
        try:
            if isinstance(raw, bytes):
                raise _RequestError("binary messages are not supported")
            try:
                message = json.loads(raw)
            except ValueError:
                raise _RequestError("malformed JSON") from None
            if not isinstance(message, dict):
                raise _RequestError("a message must be a JSON object")
            kind = message.get("type")
            request = kind if isinstance(kind, str) else None
            if kind == "join":
                await self._join(member, message)
            elif kind == "leave":
                if member.room is None:
                    raise _RequestError("not in a room")
                room = member.room
                await self._leave(member)
                await self._send(member.ws, {"type": "left", "room": room})
            elif kind == "signal":
                await self._relay(member, message)
            elif kind is None:
                raise _RequestError("missing type")
            else:
                raise _RequestError("unknown type")
        except _RequestError as exc:
            await self._error(member, str(exc), request)
        return True

    async def _join(self, member: _Member, message: dict[str, Any]) -> None:
        room, name = message.get("room"), message.get("name")
        if member.room is not None:
            raise _RequestError(f"already in room {member.room!r}")
        if not isinstance(room, str) or not ROOM_NAME.fullmatch(room):
            raise _RequestError("room must be 1-64 characters of A-Z a-z 0-9 _ -")
        if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME_LENGTH):
            raise _RequestError(f"name must be a string of at most {MAX_NAME_LENGTH} characters")
        members = self._rooms.get(room)
        if members is None:
            if len(self._rooms) >= self.max_rooms:
                raise _RequestError("too many rooms")
            members = self._rooms[room] = {}
            self.stats.rooms = len(self._rooms)
        elif len(members) >= self.max_room_size:
            raise _RequestError("room full")
        peers = [{"id": m.id, "name": m.name} for m in members.values()]
        member.room, member.name = room, name
        members[member.id] = member
        self.stats.joins += 1
        await self._send(member.ws, {"type": "joined", "room": room, "id": member.id,
                                     "peers": peers})
        await self._broadcast(members, member, {"type": "peer-joined", "id": member.id,
                                                "name": name})
        self._event("join", room=room, id=member.id, name=name, size=len(members))

    async def _leave(self, member: _Member) -> None:
        room = member.room
        if room is None:
            return
        member.room = None
        members = self._rooms.get(room, {})
        members.pop(member.id, None)
        if not members:
            self._rooms.pop(room, None)
            self.stats.rooms = len(self._rooms)
        self._event("leave", room=room, id=member.id, name=member.name, size=len(members))
        await self._broadcast(members, member, {"type": "peer-left", "id": member.id})

    async def _relay(self, member: _Member, message: dict[str, Any]) -> None:
        if member.room is None:
            raise _RequestError("join a room first")
        to, data = message.get("to"), message.get("data")
        if not isinstance(to, str):
            raise _RequestError("to must be a peer id")
        if not isinstance(data, dict):
            raise _RequestError("data must be a JSON object")
        target = self._rooms.get(member.room, {}).get(to)
        if target is None or target is member:
            raise _RequestError("unknown peer")
        if await self._send(target.ws, {"type": "signal", "from": member.id, "data": data}):
            self.stats.messages_relayed += 1

    # --- sending -------------------------------------------------------------------------------

    async def _send(self, ws: ServerConnection, message: dict[str, Any] | str) -> bool:
        """Send, or drop a receiver that has not taken it within ``send_timeout``."""
        text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
        try:
            await asyncio.wait_for(ws.send(text), self.send_timeout)
        except ConnectionClosed:
            return False
        except TimeoutError:
            self.stats.slow_dropped += 1
            ws.transport.abort()  # its handler sees the connection closed and cleans up
            return False
        return True

    async def _broadcast(self, members: dict[str, _Member], sender: _Member,
                         message: dict[str, Any]) -> None:
        text = json.dumps(message, separators=(",", ":"))
        for other in list(members.values()):
            if other is not sender:
                await self._send(other.ws, text)

    async def _error(self, member: _Member, reason: str, request: str | None) -> None:
        self.stats.errors_sent += 1
        await self._send(member.ws, {"type": "error", "reason": reason, "request": request})

    def _event(self, event: str, **fields: Any) -> None:
        if self.on_event is not None:
            self.on_event(event, fields)


# --- the client ----------------------------------------------------------------------------------


class SignalingClient:
    """One connection to a :class:`SignalingServer` (or any server speaking the protocol)."""

    def __init__(self) -> None:
        self._ws: ClientConnection | None = None
        self.id: str | None = None
        self.room: str | None = None

    @classmethod
    async def open(cls, url: str, *, ssl: _ssl.SSLContext | None = None) -> SignalingClient:
        client = cls()
        await client.connect(url, ssl=ssl)
        return client

    async def connect(self, url: str, *, ssl: _ssl.SSLContext | None = None) -> None:
        """``ssl``: for ``wss://`` with a context of your own (default: verify as usual)."""
        if ssl is None:
            self._ws = await ws_connect(url, max_size=None, compression=None)
        else:
            self._ws = await ws_connect(url, max_size=None, compression=None, ssl=ssl)

    @property
    def ws(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("not connected")
        return self._ws

    async def send_raw(self, message: Any) -> None:
        """Send any JSON value (or a str as is): for tests and other protocols."""
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def join(self, room: str, name: str | None = None
                   ) -> tuple[str, list[dict[str, Any]]]:
        """Join ``room``; returns (my id, the peers already there).  Raises
        :class:`SignalingError` if the server refuses."""
        request: dict[str, Any] = {"type": "join", "room": room}
        if name is not None:
            request["name"] = name
        await self.send_raw(request)
        reply = await self.recv()
        while reply.get("type") in STALE_BEFORE_JOIN:  # from the room we were in before
            reply = await self.recv()
        if reply.get("type") == "error":
            raise SignalingError(str(reply.get("reason")), reply.get("request"))
        if reply.get("type") != "joined":
            raise SignalingError(f"unexpected reply {reply.get('type')!r}", "join")
        self.id, self.room = str(reply["id"]), room
        return self.id, list(reply["peers"])

    async def leave(self) -> None:
        await self.send_raw({"type": "leave"})
        self.id = self.room = None

    async def send(self, to: str, data: dict[str, Any]) -> None:
        """Relay ``data`` (a JSON object) to peer ``to``."""
        await self.send_raw({"type": "signal", "to": to, "data": data})

    async def recv(self) -> dict[str, Any]:
        """The next message from the server.  Raises ``ConnectionClosed`` at the end."""
        raw = await self.ws.recv()
        message = json.loads(raw)
        if not isinstance(message, dict):
            raise SignalingError("the server sent a non-object message")
        return message

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def __aenter__(self) -> SignalingClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# --- perfect negotiation over the client -------------------------------------------------


class PerfectNegotiation(PerfectNegotiator):
    """The handle :func:`pair_with_peer_connection` returns: a
    :class:`~rtcstack.asyncio.negotiation.PerfectNegotiator` whose messages travel as
    ``signal`` messages to and from ``peer_id``.  ``close()`` (or ``cancel()``) stops it;
    the counters and ``errors`` say what happened."""

    def __init__(self, client: SignalingClient, pc: Any, *, polite: bool, peer_id: str,
                 on_message: Callable[[dict[str, Any]], None] | None = None,
                 on_disconnect: Callable[[], None] | None = None) -> None:
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        super().__init__(pc, polite=polite, send=self._outbox.put_nowait)
        self.client = client
        self.peer_id = peer_id
        self.on_message = on_message
        self.on_disconnect = on_disconnect  # the signaling connection closed
        self._tasks = [asyncio.ensure_future(self._reader()),
                       asyncio.ensure_future(self._writer())]

    @property
    def idle(self) -> bool:
        """Nothing being offered and nothing waiting to be sent."""
        return not self.making_offer and self._outbox.empty()

    async def _writer(self) -> None:
        while True:
            data = await self._outbox.get()
            try:
                await self.client.send(self.peer_id, data)
            except ConnectionClosed:
                return
            finally:
                self._outbox.task_done()

    async def _reader(self) -> None:
        while True:
            try:
                message = await self.client.recv()
            except ConnectionClosed:
                if self.on_disconnect is not None:
                    self.on_disconnect()
                return
            if message.get("type") == "signal" and message.get("from") == self.peer_id:
                data = message.get("data")
                if isinstance(data, dict):
                    await self.handle(data)
            elif self.on_message is not None:
                self.on_message(message)

    def cancel(self) -> None:
        self.detach()
        for task in self._tasks:
            task.cancel()

    async def close(self) -> None:
        self.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def pair_with_peer_connection(client: SignalingClient, pc: Any, *, polite: bool, peer_id: str,
                              on_message: Callable[[dict[str, Any]], None] | None = None,
                              on_disconnect: Callable[[], None] | None = None
                              ) -> PerfectNegotiation:
    """Negotiate ``pc`` with peer ``peer_id`` over ``client`` (already joined), the W3C
    perfect-negotiation way; exactly one of the two sides must be ``polite``.

    From now on the handle owns ``client.recv()``: messages other than signals from
    ``peer_id`` go to ``on_message``; ``on_disconnect()`` is called if the signaling
    connection closes.  Call it before making changes to ``pc`` so that the
    first ``negotiationneeded`` is seen.  Must be called with the event loop running."""
    return PerfectNegotiation(client, pc, polite=polite, peer_id=peer_id,
                              on_message=on_message, on_disconnect=on_disconnect)
