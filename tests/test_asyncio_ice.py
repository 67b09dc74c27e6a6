"""The asyncio ICE driver (:class:`rtcstack.asyncio.ice.IceTransport`): two transports in one
process over loopback UDP (127.0.0.1, and ::1 when the host has it) -- connect, data both ways,
trickle through ``on_candidate`` as text, connect timeout, clean close, ICE restart."""

from __future__ import annotations

import asyncio
import functools
import gc
import socket
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from rtcstack.asyncio.ice import IceConnectionError, IceTransport
from rtcstack.common.errors import InvalidStateError
from rtcstack.ice.agent import IceState
from rtcstack.ice.candidate import Candidate, CandidateType


def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (no pytest plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), timeout=20))

    return wrapper


async def until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.002)


async def exchange(a: IceTransport, b: IceTransport, *, end: bool = True) -> None:
    """Hand each side the other's credentials and gathered candidates (as text)."""
    a.set_remote_credentials(*b.local_credentials)
    b.set_remote_credentials(*a.local_credentials)
    for src, dst in ((a, b), (b, a)):
        for candidate in await src.gathering_complete(timeout=5):
            await dst.add_remote_candidate(candidate.to_ice_string())
        if end:
            await dst.add_remote_candidate(None)


async def pair(ip: str = "127.0.0.1") -> tuple[IceTransport, IceTransport]:
    a = IceTransport(controlling=True, addresses=[ip])
    b = IceTransport(controlling=False, addresses=[ip])
    await a.gather()
    await b.gather()
    return a, b


async def ping_pong(a: IceTransport, b: IceTransport, tag: bytes) -> None:
    a.send(b"a->b " + tag)
    assert await b.recv(timeout=5) == b"a->b " + tag
    b.send(b"b->a " + tag)
    assert await a.recv(timeout=5) == b"b->a " + tag


@run_async
async def test_two_transports_connect_and_exchange_datagrams_both_ways() -> None:
    a, b = await pair()
    try:
        await exchange(a, b)
        pa, pb = await asyncio.gather(a.connect(timeout=5), b.connect(timeout=5))
        assert pa.nominated and pb.nominated
        assert pa.local.type is CandidateType.HOST and pa.remote.type is CandidateType.HOST
        # Both ends agree on the path.
        assert pa.local.addr == pb.remote.addr and pa.remote.addr == pb.local.addr
        assert a.selected_pair is pa and b.selected_pair is pb
        assert a.state in (IceState.CONNECTED, IceState.COMPLETED)
        await until(lambda: a.state is IceState.COMPLETED and b.state is IceState.COMPLETED,
                    what="completed")
        for i in range(20):
            await ping_pong(a, b, str(i).encode())
        # Datagrams that are not STUN arrive unchanged, whatever their first byte.
        for first in (0x16, 0x80, 0xFF):
            a.send(bytes([first]) + b"payload")
            assert await b.recv(timeout=5) == bytes([first]) + b"payload"
    finally:
        await a.close()
        await b.close()


@run_async
async def test_on_data_callback_receives_instead_of_recv() -> None:
    a, b = await pair()
    got: list[bytes] = []
    b.on_data = got.append
    try:
        await exchange(a, b)
        await asyncio.gather(a.connect(timeout=5), b.connect(timeout=5))
        a.send(b"one")
        a.send(b"two")
        await until(lambda: len(got) == 2, what="two datagrams")
        assert got == [b"one", b"two"]
    finally:
        await a.close()
        await b.close()


@run_async
async def test_trickle_through_on_candidate_as_text() -> None:
    """Candidates go to the peer one by one as they surface, as ``candidate:`` text (what a
    signalling channel carries); ``None`` (end of gathering) becomes end-of-candidates."""
    a = IceTransport(controlling=True, addresses=["127.0.0.1"])
    b = IceTransport(controlling=False, addresses=["127.0.0.1"])
    sent: dict[str, list[str | None]] = {"a": [], "b": []}
    tasks: list[asyncio.Task[None]] = []

    def signal(name: str, peer: IceTransport) -> Callable[[Candidate | None], None]:
        def on_candidate(candidate: Candidate | None) -> None:
            text = candidate.to_ice_string() if candidate is not None else None
            if candidate is not None:
                # The text form carries everything: parsing it gives the same candidate.
                assert text is not None and text.startswith("candidate:")
                assert Candidate.parse(text) == candidate
            sent[name].append(text)
            tasks.append(asyncio.ensure_future(peer.add_remote_candidate(text)))

        return on_candidate

    a.on_candidate = signal("a", b)
    b.on_candidate = signal("b", a)
    # Credentials travel first (in the description); candidates trickle after.
    a.set_remote_credentials(*b.local_credentials)
    b.set_remote_credentials(*a.local_credentials)
    try:
        await a.gather()
        await b.gather()
        pa, pb = await asyncio.gather(a.connect(timeout=5), b.connect(timeout=5))
        await asyncio.gather(*tasks)
        for name, transport in (("a", a), ("b", b)):
            texts = sent[name]
            assert texts[-1] is None and texts.count(None) == 1
            assert [Candidate.parse(t) for t in texts[:-1] if t is not None] == \
                transport.local_candidates
        assert {c.addr for c in b.agent.remote_candidates} == \
            {c.addr for c in a.local_candidates}
        assert pa.remote.addr == pb.local.addr
        await ping_pong(a, b, b"trickled")
    finally:
        await a.close()
        await b.close()


@run_async
async def test_connect_times_out_when_the_peer_is_gone() -> None:
    a, b = await pair()
    try:
        # The peer's candidates arrive, but the peer has gone away (its socket is closed) and
        # more candidates may still come (no end-of-candidates), so ICE cannot fail yet.
        await exchange(a, b, end=False)
        await b.close()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(IceConnectionError, match="timed out"):
            await a.connect(timeout=0.3)
        assert 0.25 <= loop.time() - start < 2.0
        assert a.selected_pair is None
    finally:
        await a.close()
        await b.close()


@run_async
async def test_connect_fails_when_every_pair_failed() -> None:
    # A short check RTO (it is at least Ta, RFC 8445 §14.3) so that the check's 7
    # transmissions (RFC 8489 §6.2.1) end in < 1 s.
    a = IceTransport(controlling=True, addresses=["127.0.0.1"], check_rto=0.01,
                     ta=0.005)
    b = IceTransport(controlling=False, addresses=["127.0.0.1"])
    await a.gather()
    await b.gather()
    try:
        await exchange(a, b)  # end-of-candidates: once the only pair fails, ICE fails
        await b.close()
        with pytest.raises(IceConnectionError, match="failed"):
            await a.connect(timeout=10)
        assert a.state is IceState.FAILED
        with pytest.raises(InvalidStateError):
            a.send(b"nowhere")
    finally:
        await a.close()


@run_async
async def test_close_is_clean() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        before = asyncio.all_tasks()
        a, b = await pair()
        await exchange(a, b)
        await asyncio.gather(a.connect(timeout=5), b.connect(timeout=5))
        await ping_pong(a, b, b"before close")
        waiting = asyncio.ensure_future(b.recv())
        await asyncio.sleep(0)
        await a.close()
        await b.close()
        # A pending recv() is woken with an error, not left hanging.
        with pytest.raises(IceConnectionError, match="closed"):
            await asyncio.wait_for(waiting, 1)
        await a.close()  # closing twice is harmless
        assert a.state is IceState.CLOSED and b.state is IceState.CLOSED
        for transport in (a, b):
            assert all(p.transport is None or p.transport.is_closing()
                       for p in transport._sockets.values())
            assert transport._timer is None or not transport._timer.armed
        with pytest.raises(IceConnectionError, match="closed"):
            await a.connect(timeout=1)
        await asyncio.sleep(0)  # let the loop finish closing the sockets
        # Nothing of ours is left running on the loop.
        assert asyncio.all_tasks() == before
        del a, b
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning | RuntimeWarning)]


@run_async
async def test_restart_on_a_live_connection_keeps_data_flowing() -> None:
    """RFC 8445 §9: new credentials, candidates signalled again; data stays on the old pair
    until a pair of the new generation is selected, then moves to it."""
    a, b = await pair()
    candidates: dict[str, list[Candidate | None]] = {"a": [], "b": []}
    a.on_candidate = candidates["a"].append
    b.on_candidate = candidates["b"].append
    try:
        await exchange(a, b)
        old_a, old_b = await asyncio.gather(a.connect(timeout=5), b.connect(timeout=5))
        await ping_pong(a, b, b"before")
        old_credentials = a.local_credentials
        candidates["a"].clear()
        candidates["b"].clear()

        new_a = a.restart()
        new_b = b.restart()
        assert new_a == a.local_credentials != old_credentials
        assert new_b == b.local_credentials
        # During: nothing has been signalled yet -- data still flows on the old pair.
        assert a.selected_pair is old_a and b.selected_pair is old_b
        await ping_pong(a, b, b"during, before signalling")
        # The restart surfaces the candidates again (trickle) and ends gathering again.
        await until(lambda: None in candidates["a"] and None in candidates["b"],
                    what="candidates after restart")
        a.set_remote_credentials(*new_b)
        b.set_remote_credentials(*new_a)
        await ping_pong(a, b, b"during, new credentials")
        for src, dst in (("a", b), ("b", a)):
            for candidate in candidates[src]:
                await dst.add_remote_candidate(
                    candidate.to_ice_string() if candidate is not None else None)
        await ping_pong(a, b, b"during, checks of the new generation")
        # After: a pair of the new generation is selected on both sides.
        await until(lambda: a.selected_pair is not None and b.selected_pair is not None
                    and a.selected_pair is not old_a and b.selected_pair is not old_b
                    and a.selected_pair.generation == a.agent.generation
                    and b.selected_pair.generation == b.agent.generation,
                    what="a new selected pair")
        assert a.agent.generation >= 1 and b.agent.generation >= 1
        assert a.state in (IceState.CONNECTED, IceState.COMPLETED)
        await ping_pong(a, b, b"after")
        # The pre-restart credentials are no longer accepted once the new pair is selected.
        assert a.agent._old_local is None and b.agent._old_local is None
    finally:
        await a.close()
        await b.close()


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@run_async
async def test_ipv6_loopback() -> None:
    if not _has_ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) on this host")
    a, b = await pair("::1")
    try:
        await exchange(a, b)
        pa, _ = await asyncio.gather(a.connect(timeout=5), b.connect(timeout=5))
        assert pa.local.address == "::1" and pa.remote.address == "::1"
        await ping_pong(a, b, b"v6")
    finally:
        await a.close()
        await b.close()


@run_async
async def test_ipv4_and_ipv6_sockets_pair_by_family() -> None:
    if not _has_ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) on this host")
    a = IceTransport(controlling=True, addresses=["127.0.0.1", "::1"])
    b = IceTransport(controlling=False, addresses=["127.0.0.1", "::1"])
    await a.gather()
    await b.gather()
    try:
        await exchange(a, b)
        pa, pb = await asyncio.gather(a.connect(timeout=5), b.connect(timeout=5))
        assert pa.local.addr == pb.remote.addr
        assert len(a.local_candidates) == 2
        # Pairs are formed only within a family: 2 x 2 candidates give 2 pairs, not 4.
        assert {(p.local.address, p.remote.address) for p in a.agent.pairs} == \
            {("127.0.0.1", "127.0.0.1"), ("::1", "::1")}
        await ping_pong(a, b, b"dual stack")
    finally:
        await a.close()
        await b.close()
