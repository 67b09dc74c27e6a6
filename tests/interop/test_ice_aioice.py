"""rtcstack's ICE (:class:`rtcstack.asyncio.ice.IceTransport`) against aioice's
``Connection`` in one process over 127.0.0.1: both roles, data both ways, and a role conflict
(both start controlling) resolved by the RFC 8445 §7.3.1.1 tie-breaker rule either way."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from rtcstack.asyncio.ice import IceTransport
from rtcstack.ice.agent import IceState
from rtcstack.ice.candidate import Candidate, CandidateType

pytest.importorskip("aioice", reason="the reference ICE agent: pip install aioice")
import aioice
import aioice.ice

pytestmark = pytest.mark.interop

LOOPBACK = "127.0.0.1"


def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (no pytest plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), timeout=30))

    return wrapper


@contextmanager
def aioice_offers_loopback() -> Iterator[None]:
    """aioice leaves 127.0.0.1 out of its host candidates: offer it, and only it."""
    original = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [LOOPBACK]
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


async def setup(ours_controlling: bool, theirs_controlling: bool,
                **options: Any) -> tuple[IceTransport, Any]:
    """Gather on both sides and exchange credentials and candidates as SDP text."""
    ours = IceTransport(controlling=ours_controlling, addresses=[LOOPBACK], **options)
    theirs = aioice.Connection(ice_controlling=theirs_controlling, components=1,
                               use_ipv6=False)
    await ours.gather()
    with aioice_offers_loopback():
        await theirs.gather_candidates()
    ours_candidates = await ours.gathering_complete(timeout=5)
    assert ours_candidates and theirs.local_candidates

    ours.set_remote_credentials(theirs.local_username, theirs.local_password)
    theirs.remote_username, theirs.remote_password = ours.local_credentials
    for c in theirs.local_candidates:
        # aioice's to_sdp() is the attribute value without the "candidate:" prefix.
        await ours.add_remote_candidate("candidate:" + c.to_sdp())
    await ours.add_remote_candidate(None)
    for ours_candidate in ours_candidates:
        await theirs.add_remote_candidate(aioice.Candidate.from_sdp(ours_candidate.serialize()))
    await theirs.add_remote_candidate(None)
    return ours, theirs


async def connect_both(ours: IceTransport, theirs: Any) -> None:
    await asyncio.wait_for(asyncio.gather(ours.connect(timeout=10), theirs.connect()), 15)


async def exchange_data(ours: IceTransport, theirs: Any, count: int = 10) -> None:
    for i in range(count):
        ours.send(b"rtcstack -> aioice %d" % i)
        assert await asyncio.wait_for(theirs.recv(), 5) == b"rtcstack -> aioice %d" % i
        await theirs.send(b"aioice -> rtcstack %d" % i)
        assert await ours.recv(timeout=5) == b"aioice -> rtcstack %d" % i


def check_same_pair(ours: IceTransport, theirs: Any) -> None:
    pair = ours.selected_pair
    assert pair is not None and pair.nominated
    assert pair.local.type is CandidateType.HOST and pair.remote.type is CandidateType.HOST
    nominated = theirs._nominated[1]  # aioice keeps the nominated pair per component here
    assert nominated.local_addr == pair.remote.addr
    assert nominated.remote_addr == pair.local.addr


@pytest.mark.parametrize("ours_controlling", [True, False], ids=["rtcstack-controls",
                                                               "aioice-controls"])
@run_async
async def test_connect_and_exchange_data(ours_controlling: bool) -> None:
    ours, theirs = await setup(ours_controlling, not ours_controlling)
    try:
        await connect_both(ours, theirs)
        check_same_pair(ours, theirs)
        assert ours.state in (IceState.CONNECTED, IceState.COMPLETED)
        assert ours.agent.controlling is ours_controlling
        assert theirs.ice_controlling is not ours_controlling
        await exchange_data(ours, theirs)
        assert ours.agent.stats.bad_requests == 0
        assert ours.agent.stats.stun_parse_errors == 0
    finally:
        await ours.close()
        await theirs.close()


@pytest.mark.parametrize("rtcstack_wins", [True, False], ids=["rtcstack-larger-tie-breaker",
                                                            "aioice-larger-tie-breaker"])
@run_async
async def test_role_conflict_both_controlling(rtcstack_wins: bool) -> None:
    """RFC 8445 §7.3.1.1: the agent with the larger tie-breaker stays controlling, the other
    switches to controlled (on a 487 response or on receiving the conflicting request)."""
    small, large = 0x1111_1111_1111_1111, 0xEEEE_EEEE_EEEE_EEEE
    ours, theirs = await setup(True, True, tie_breaker=large if rtcstack_wins else small)
    theirs._tie_breaker = small if rtcstack_wins else large
    try:
        await connect_both(ours, theirs)
        assert ours.agent.controlling is rtcstack_wins
        assert theirs.ice_controlling is not rtcstack_wins
        assert ours.agent.stats.role_conflicts >= 1
        check_same_pair(ours, theirs)
        await exchange_data(ours, theirs, count=3)
    finally:
        await ours.close()
        await theirs.close()


@run_async
async def test_candidate_text_is_understood_by_aioice() -> None:
    """Our candidate lines parse in aioice to the same fields, and aioice's parse in ours."""
    ours = IceTransport(controlling=True, addresses=[LOOPBACK])
    await ours.gather()
    try:
        for c in await ours.gathering_complete(timeout=5):
            theirs = aioice.Candidate.from_sdp(c.serialize())
            assert (theirs.foundation, theirs.component, theirs.transport.lower(),
                    theirs.priority, theirs.host, theirs.port, theirs.type) == (
                c.foundation, c.component, c.transport, c.priority, c.address, c.port,
                c.type.value)
            back = Candidate.parse("candidate:" + theirs.to_sdp())
            assert back.addr == c.addr and back.priority == c.priority
    finally:
        await ours.close()
