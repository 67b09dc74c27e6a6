"""A full rtcstack ICE agent (:class:`rtcstack.asyncio.ice.IceTransport`) with DTLS on top, run
on its own event-loop thread, for browser tests (issue #6).

:class:`IcePeer` owns a thread running an asyncio loop -- inside a network namespace when given
one (the thread enters it with :meth:`tests.interop.netns.Netns.call`, so every socket the
transport and its mDNS service create belongs to that namespace).  The test thread (or a browser
harness callback thread) drives it with blocking calls that each run one coroutine on that loop
with a deadline:

- :meth:`IcePeer.gather` -- the transport's UDP socket on ``address``; returns our ufrag, pwd
  and candidates once gathering completed (they go into the SDP we hand the browser);
- :meth:`IcePeer.set_remote` -- the browser's credentials and ``a=candidate`` lines from its
  description (``.local`` names are resolved by the transport's mDNS service), then
  end-of-candidates (RFC 8838 §4.2), and the browser's certificate fingerprints for DTLS;
- :meth:`IcePeer.wait_for` -- wait (condition variable, deadline) for e.g. a selected pair and
  a completed DTLS handshake.

DTLS (RFC 5764 §5.1.2 demultiplexing, RFC 7983 §7): datagrams the agent does not consume come
to ``on_data``; DTLS ones go to the :class:`~rtcstack.dtls.DtlsConnection`, whose output goes out
with :meth:`IceTransport.send` over the selected pair (held back until a pair is selected).  A
client-role connection starts once a pair is selected.  DTLS datagrams that arrive before
:meth:`IcePeer.set_remote` created the connection (a browser answering our offer starts its
handshake before its answer reaches us) are kept and fed to it then.

What the browser sent is tapped before the agent sees it: every Binding request is parsed and
its USE-CANDIDATE / ICE-CONTROLLING / ICE-CONTROLLED attributes counted (:class:`Tap`), so a
test can check independently of the agent that the browser nominated.  ``marks`` holds
``loop.time()`` of the first remote candidate, the first check in and out, the first selected
pair and the DTLS handshake, for the setup times the report prints.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rtcstack.asyncio.ice import IceTransport
from rtcstack.common.types import Address
from rtcstack.demux import PacketKind, classify
from rtcstack.dtls import DtlsConfig, DtlsConnection, Event, HandshakeComplete
from rtcstack.dtls.certificate import Certificate
from rtcstack.ice.agent import CandidatePair, IceState
from rtcstack.ice.candidate import Candidate
from rtcstack.stun import Message, MessageClass, Method
from rtcstack.stun.attributes import IceControlled, IceControlling, UseCandidate

from .netns import Netns

__all__ = ["IcePeer", "Tap"]

T = TypeVar("T")


@dataclass
class Tap:
    """Binding requests the browser sent us, counted before the agent parses them."""

    requests: int = 0
    use_candidate: int = 0
    controlling: int = 0  # requests carrying ICE-CONTROLLING (the browser controls)
    controlled: int = 0  # requests carrying ICE-CONTROLLED
    use_candidate_from: list[Address] = field(default_factory=list)


class _TappedTransport(IceTransport):
    """:class:`IceTransport` that shows each incoming datagram to ``tap`` first."""

    tap_fn: Callable[[bytes, Address], None] | None = None

    def _input(self, data: bytes, addr: Address, local: Address | None) -> None:
        if self.tap_fn is not None:
            self.tap_fn(data, addr)
        super()._input(data, addr, local)


class IcePeer:
    """One ICE agent + DTLS endpoint on a private loop thread (see the module docstring).

    ``dtls_role`` is "server" or "client" (RFC 8842: ``a=setup:passive`` / ``active`` in what we
    signal), or None for ICE only.  ``agent_options`` go to :class:`IceTransport`.
    """

    def __init__(self, *, controlling: bool, address: str = "127.0.0.1",
                 netns: Netns | None = None, dtls_role: str | None = "server",
                 certificate: Certificate | None = None, **agent_options: Any) -> None:
        self.controlling = controlling
        self.address = address
        self.netns = netns
        self.dtls_role = dtls_role
        self.certificate = certificate if certificate is not None else Certificate.generate()
        self._agent_options = agent_options
        self.tap = Tap()
        self.marks: dict[str, float] = {}
        self.traces: list[tuple[float, str, dict[str, object]]] = []
        self.dtls: DtlsConnection | None = None
        self.dtls_events: list[Event] = []
        self.states: list[IceState] = []  # every state the agent went through
        self.remote_candidates: list[str] = []  # as added, in RFC 8839 text form
        self.errors: list[str] = []
        self.ice: _TappedTransport | None = None
        self._held: list[bytes] = []  # DTLS output before a pair is selected
        self._early: list[bytes] = []  # DTLS input before the remote fingerprint is known
        self._dtls_timer: asyncio.TimerHandle | None = None
        self._changed = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._thread_main, name="ice-peer", daemon=True)

    # --- lifecycle (test thread) ----------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the ICE peer's event loop did not start")

    def close(self) -> None:
        loop = self._loop
        if loop is None or not self._thread.is_alive():
            return
        try:
            if self.ice is not None:
                self.call(self.ice.close(), timeout=5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=10)

    def __enter__(self) -> IcePeer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the peer's loop; its result (or exception) within ``timeout`` s."""
        if self._loop is None:
            raise RuntimeError("the peer is not started")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def wait_for(self, predicate: Callable[[IcePeer], bool], timeout: float) -> bool:
        """Wait until ``predicate(self)`` holds (re-checked on every event), at most ``timeout``
        seconds; whether it holds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    # --- signalling (test thread) ---------------------------------------------------------------

    def gather(self, timeout: float = 5.0) -> tuple[str, str, list[Candidate]]:
        """Open the transport on ``address`` and gather: (ufrag, pwd, candidates)."""
        return self.call(self._gather(timeout), timeout + 1)

    def set_remote(self, ufrag: str, pwd: str, candidates: Sequence[Candidate | str],
                   fingerprints: Sequence[tuple[str, str]], timeout: float = 8.0,
                   wait: bool = True) -> None:
        """The browser's ICE credentials and candidate lines (``candidate:...``), then
        end-of-candidates (candidates as :class:`Candidate` or text); ``fingerprints``
        (algorithm, value) pin its DTLS certificate.  With ``wait=False`` this returns at once
        and the candidates are added on the loop (``.local`` names may take seconds to resolve
        or time out); a failure lands in :attr:`errors`."""
        coro = self._set_remote(ufrag, pwd, list(candidates), list(fingerprints))
        if wait:
            self.call(coro, timeout)
            return
        if self._loop is None:
            raise RuntimeError("the peer is not started")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        future.add_done_callback(self._remote_done)

    def _remote_done(self, future: Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.errors.append(f"set_remote: {future.exception()!r}")

    # --- observations ---------------------------------------------------------------------------

    @property
    def selected(self) -> CandidatePair | None:
        return None if self.ice is None else self.ice.selected_pair

    @property
    def state(self) -> IceState | None:
        return None if self.ice is None else self.ice.state

    @property
    def handshake(self) -> HandshakeComplete | None:
        return next((e for e in self.dtls_events if isinstance(e, HandshakeComplete)), None)

    def connected(self) -> bool:
        """A selected pair, and (with DTLS) a completed handshake."""
        if self.selected is None:
            return False
        return self.dtls_role is None or self.handshake is not None

    def elapsed(self, start: str, end: str) -> float | None:
        """Seconds between two marks, or None when either is missing."""
        if start not in self.marks or end not in self.marks:
            return None
        return self.marks[end] - self.marks[start]

    def describe(self) -> str:
        """What happened, for assertion messages."""
        agent = None if self.ice is None else self.ice.agent
        lines = [f"ice states {[s.value for s in self.states]}, selected {self.selected!r}",
                 f"tap {self.tap}",
                 f"marks {self.marks}", f"errors {self.errors}",
                 f"dtls {None if self.dtls is None else self.dtls.state}, events "
                 f"{self.dtls_events}", f"remote candidates {self.remote_candidates}"]
        if agent is not None:
            lines.append(f"stats {agent.stats}")
            lines.extend(f"  pair {p!r} nominated={p.nominated}" for p in agent.pairs)
        lines.extend(f"  {t:.4f} {name} {fields}" for t, name, fields in self.traces[-40:])
        return "\n".join(lines)

    # --- the loop thread ------------------------------------------------------------------------

    def _thread_main(self) -> None:
        if self.netns is None:
            self._run_loop()
        else:
            self.netns.call(self._run_loop)

    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.call_soon(self._ready.set)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _now(self) -> float:
        if self._loop is None:
            raise RuntimeError("the peer is not started")
        return self._loop.time()

    def _mark(self, name: str) -> None:
        self.marks.setdefault(name, self._now())

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _trace(self, event: str, /, **fields: object) -> None:
        self.traces.append((self._now(), event, fields))
        if event == "ice.check":
            self._mark("first_check_out")
        elif event == "ice.selected":
            self._mark("selected")
            if self._loop is not None:
                self._loop.call_soon(self._pair_ready)

    def _on_tap(self, data: bytes, addr: Address) -> None:
        if classify(data) is not PacketKind.STUN:
            return
        try:
            message = Message.parse(data)
        except ValueError:
            return
        if message.method != Method.BINDING or message.message_class != MessageClass.REQUEST:
            return
        self._mark("first_check_in")
        self.tap.requests += 1
        if message.get(IceControlling) is not None:
            self.tap.controlling += 1
        if message.get(IceControlled) is not None:
            self.tap.controlled += 1
        if message.get(UseCandidate) is not None:
            self._mark("use_candidate_in")
            self.tap.use_candidate += 1
            if addr not in self.tap.use_candidate_from:
                self.tap.use_candidate_from.append(addr)

    async def _gather(self, timeout: float) -> tuple[str, str, list[Candidate]]:
        ice = _TappedTransport(controlling=self.controlling, addresses=[self.address],
                               trace=self._trace, **self._agent_options)
        ice.tap_fn = self._on_tap
        ice.on_data = self._on_data
        ice.on_state = self._on_state
        self.ice = ice
        await ice.gather()
        candidates = await ice.gathering_complete(timeout)
        ufrag, pwd = ice.local_credentials
        return ufrag, pwd, candidates

    async def _set_remote(self, ufrag: str, pwd: str, candidates: list[Candidate | str],
                          fingerprints: list[tuple[str, str]]) -> None:
        ice = self.ice
        if ice is None:
            raise RuntimeError("gather() first")
        if self.dtls_role is not None:
            config = DtlsConfig(self.certificate, remote_fingerprints=fingerprints)
            self.dtls = DtlsConnection(config, self.dtls_role)
            for data in self._early:
                self.dtls.handle_datagram(data, now=self._now())
            self._early.clear()
            self._flush_dtls()
        ice.set_remote_credentials(ufrag, pwd)
        self._mark("remote_candidates")
        for line in candidates:
            self.remote_candidates.append(str(line))
            await ice.add_remote_candidate(line)
        self._mark("remote_candidates_added")
        await ice.add_remote_candidate(None)
        self._notify()

    def _on_state(self, state: IceState) -> None:
        self.states.append(state)
        self._notify()

    def _pair_ready(self) -> None:
        """A pair is selected: release held DTLS output; a DTLS client starts."""
        dtls = self.dtls
        if dtls is None:
            self._notify()
            return
        if dtls.is_client and "dtls_start" not in self.marks:
            self._mark("dtls_start")
            dtls.connect(now=self._now())
        self._flush_dtls()

    def _on_data(self, data: bytes) -> None:
        if self.dtls_role is None or classify(data) is not PacketKind.DTLS:
            self.errors.append(f"unexpected {classify(data).value} datagram ({len(data)} B)")
            return
        self._mark("dtls_in")
        dtls = self.dtls
        if dtls is None:
            # The browser answered our offer and its DTLS client started before its answer (and
            # fingerprint) reached us: keep the flight, as a peer connection does.
            self._early.append(data)
            return
        dtls.handle_datagram(data, now=self._now())
        self._flush_dtls()

    def _on_dtls_timer(self) -> None:
        self._dtls_timer = None
        if self.dtls is not None:
            self.dtls.handle_timeout(now=self._now())
            self._flush_dtls()

    def _flush_dtls(self) -> None:
        dtls, ice = self.dtls, self.ice
        if dtls is None or ice is None:
            return
        while (datagram := dtls.poll_transmit()) is not None:
            self._held.append(datagram)
        if ice.selected_pair is not None:
            for datagram in self._held:
                ice.send(datagram)
            self._held.clear()
        while (event := dtls.poll_event()) is not None:
            if isinstance(event, HandshakeComplete):
                self._mark("dtls_done")
            self.dtls_events.append(event)
        if self._dtls_timer is not None:
            self._dtls_timer.cancel()
            self._dtls_timer = None
        due = dtls.poll_timeout()
        if due is not None and self._loop is not None:
            self._dtls_timer = self._loop.call_at(due, self._on_dtls_timer)
        self._notify()
