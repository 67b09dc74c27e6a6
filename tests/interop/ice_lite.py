"""A minimal ICE-lite peer with a DTLS endpoint on one UDP socket, for browser tests (no ICE
agent exists yet: issue #6).

:class:`IceLitePeer` owns a UDP socket on 127.0.0.1 (made inside a network namespace when given
one) and a thread that demultiplexes what arrives there by its first byte (RFC 7983 §7,
:func:`rtcstack.demux.classify`):

- STUN Binding requests are connectivity checks (RFC 8445 §7.3).  A lite agent answers them and
  never sends its own (RFC 8445 §2.5).  The request must carry ``USERNAME = ourUfrag:theirUfrag``
  (RFC 8445 §7.2.2) and a MESSAGE-INTEGRITY made with our ice-pwd (RFC 8489 §9.1.1); the success
  response carries XOR-MAPPED-ADDRESS (the request's source), MESSAGE-INTEGRITY and FINGERPRINT
  (RFC 8445 §7.3.1.5: "The response MUST contain a FINGERPRINT attribute").  Anything else gets
  no answer and is counted in :attr:`IceLitePeer.rejected`.
- DTLS datagrams go to the :class:`~rtcstack.dtls.DtlsConnection`; what it transmits goes to
  the address of the last valid check (the selected pair, as a lite agent sees it), or the
  source of the last DTLS datagram before any check.

A client-role connection is started (``connect``) once the first valid check arrived (then the
browser's address is known).  Events and a log of every datagram (direction, kind, bytes) are
kept for assertions and diagnosis; :meth:`wait_for` waits on an event with a deadline.

A protocol on top of DTLS (SCTP for data channels) plugs in as ``application``
(:class:`ApplicationLayer`): the loop gives it every DTLS event, drives its timer, and sends
what it transmits as one application-data record each.  :meth:`IceLitePeer.submit` runs a
function on the loop's thread (the sans-IO objects are not thread-safe) and wakes the loop.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from rtcstack.asyncio.sctp import enlarge_socket_buffers
from rtcstack.demux import PacketKind, classify
from rtcstack.dtls import DtlsConnection, DtlsState, Event
from rtcstack.stun import (
    Message,
    MessageClass,
    Method,
    Username,
    XorMappedAddress,
    short_term_key,
)

from .netns import Netns

__all__ = ["ApplicationLayer", "Datagram", "IceLitePeer"]

Address = tuple[str, int]



@dataclass(frozen=True)
class Datagram:
    """One datagram seen by the peer: ``"in"`` or ``"out"``, its RFC 7983 kind, the bytes."""

    direction: str
    kind: str
    address: Address
    data: bytes
    at: float


class ApplicationLayer(Protocol):
    """What runs on top of the DTLS connection, driven by :class:`IceLitePeer`'s loop."""

    def handle_dtls_event(self, event: Event, *, now: float) -> None:
        """Every DTLS event (HandshakeComplete, ApplicationData, Closed), in order."""

    def handle_timeout(self, *, now: float) -> None:
        """Called once ``poll_timeout()`` has passed."""

    def poll_timeout(self) -> float | None: ...

    def poll_transmit(self) -> bytes | None:
        """The next payload for one DTLS application-data record, or None."""


@dataclass
class IceLitePeer:
    """ICE-lite STUN responder + DTLS on one socket; see the module docstring.

    ``local_ufrag``/``local_pwd`` are the credentials our SDP advertises; ``remote_ufrag`` is
    the browser's (from its offer), set before the browser starts checking.
    ``application`` (optional) is driven on top of the DTLS connection (module docstring).
    ``receive_buffer`` enlarges the socket's receive buffer: a browser's burst (a 256 KiB
    data-channel message) overflows the default one on loopback while Python catches up.
    """

    local_ufrag: str
    local_pwd: str
    dtls: DtlsConnection
    remote_ufrag: str = ""
    netns: Netns | None = None
    log: list[Datagram] = field(default_factory=list, repr=False)
    events: list[Event] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    checks: int = 0
    remote: Address | None = None
    application: ApplicationLayer | None = None
    receive_buffer: int | None = None  # SO_RCVBUF bytes (forced past rmem_max when root)

    def __post_init__(self) -> None:
        def make() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            if self.receive_buffer is not None:
                enlarge_socket_buffers(sock, self.receive_buffer)
            sock.bind(("127.0.0.1", 0))
            return sock

        self._sock = make() if self.netns is None else self.netns.call(make)
        self._key = short_term_key(self.local_pwd)
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="ice-lite-peer", daemon=True)
        self._started_dtls = not self.dtls.is_client
        self.error: BaseException | None = None
        self._calls: deque[Callable[[float], None]] = deque()

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> IceLitePeer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, fn: Callable[[float], None]) -> None:
        """Run ``fn(now)`` on the loop's thread soon (then flush what it queued)."""
        self._calls.append(fn)
        # A zero-length datagram to our own socket wakes the loop; it is otherwise ignored.
        self._sock.sendto(b"", self._sock.getsockname())

    def wait_for(self, predicate: Callable[[IceLitePeer], bool], timeout: float) -> bool:
        """Wait until ``predicate(self)`` holds (re-checked on every datagram/event), or until
        ``timeout`` seconds passed; returns whether it holds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    # --- the loop (its own thread) ------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                due = self._next_timeout()
                now = time.monotonic()
                wait = 0.05 if due is None else min(0.05, max(due - now, 0.0))
                self._sock.settimeout(max(wait, 0.001))
                try:
                    data, address = self._sock.recvfrom(65536)
                except TimeoutError:
                    data, address = b"", ("", 0)
                now = time.monotonic()
                with self._changed:
                    if data:
                        self._on_datagram(data, (str(address[0]), int(address[1])), now)
                    due = self.dtls.poll_timeout()
                    if due is not None and now >= due:
                        self.dtls.handle_timeout(now=now)
                    while self._calls:
                        self._calls.popleft()(now)
                    self._flush(now)
                    self._changed.notify_all()
        except BaseException as exc:  # reported to the test through .error
            self.error = exc
            with self._changed:
                self._changed.notify_all()

    def _next_timeout(self) -> float | None:
        dues = [self.dtls.poll_timeout()]
        if self.application is not None:
            dues.append(self.application.poll_timeout())
        times = [due for due in dues if due is not None]
        return min(times) if times else None

    def _on_datagram(self, data: bytes, address: Address, now: float) -> None:
        kind = classify(data)
        self.log.append(Datagram("in", kind.value, address, data, now))
        if kind is PacketKind.STUN:
            self._on_stun(data, address, now)
        elif kind is PacketKind.DTLS:
            if self.remote is None:
                self.remote = address
            self.dtls.handle_datagram(data, now=now)
        else:
            self.rejected.append(f"{kind.value} datagram from {address}")

    def _on_stun(self, data: bytes, address: Address, now: float) -> None:
        try:
            request = Message.parse(data)
        except ValueError as exc:
            self.rejected.append(f"malformed STUN from {address}: {exc}")
            return
        if request.method != Method.BINDING or request.message_class != MessageClass.REQUEST:
            if request.message_class != MessageClass.INDICATION:  # keepalives are fine
                self.rejected.append(f"unexpected STUN {request} from {address}")
            return
        username = request.get(Username)
        expected = f"{self.local_ufrag}:{self.remote_ufrag}"
        if username is None or username.value != expected:
            self.rejected.append(f"USERNAME {username} != {expected!r} from {address}")
            return
        if not request.check_integrity(self._key):
            self.rejected.append(f"bad MESSAGE-INTEGRITY from {address}")
            return
        if request.has_fingerprint and not request.check_fingerprint():
            self.rejected.append(f"bad FINGERPRINT from {address}")
            return
        self.checks += 1
        self.remote = address
        response = request.success_response(XorMappedAddress(address))
        self._send(response.serialize(integrity_key=self._key, fingerprint=True), address, now)
        if not self._started_dtls:
            self._started_dtls = True
            self.dtls.connect(now=now)

    def _flush(self, now: float) -> None:
        app = self.application
        while (event := self.dtls.poll_event()) is not None:
            self.events.append(event)
            if app is not None:
                app.handle_dtls_event(event, now=now)
        if app is not None:
            due = app.poll_timeout()
            if due is not None and now >= due:
                app.handle_timeout(now=now)
            while (payload := app.poll_transmit()) is not None:
                if self.dtls.state is DtlsState.CONNECTED:
                    self.dtls.send(payload)
        while (datagram := self.dtls.poll_transmit()) is not None:
            if self.remote is not None:
                self._send(datagram, self.remote, now)

    def _send(self, data: bytes, address: Address, now: float) -> None:
        self.log.append(Datagram("out", classify(data).value, address, data, now))
        self._sock.sendto(data, address)
