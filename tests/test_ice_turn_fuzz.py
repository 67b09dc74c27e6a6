"""Hypothesis: arbitrary bytes fed to a TurnClient in any state never raise, and a later valid
exchange still works (RFC 8656 client, STYLE.md rule 5: network input never raises)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcstack.ice.turn import Allocated, TurnClient, TurnClosed, TurnState
from rtcstack.stun import Data, Message, MessageClass, Method, XorPeerAddress
from tests.test_ice_turn import PEER_A, FakeTurnServer, events, exchange, make_client


def _new() -> tuple[TurnClient, FakeTurnServer]:
    return make_client(), FakeTurnServer()


def _allocating() -> tuple[TurnClient, FakeTurnServer]:
    client, server = _new()
    client.allocate(now=0.0)
    return client, server


def _allocated() -> tuple[TurnClient, FakeTurnServer]:
    client, server = _allocating()
    exchange(client, server, 0.0)
    client.send(b"bind", PEER_A, now=0.0)
    exchange(client, server, 0.0)
    return client, server


def _closing() -> tuple[TurnClient, FakeTurnServer]:
    client, server = _allocated()
    client.close(now=1.0)
    return client, server


def _closed() -> tuple[TurnClient, FakeTurnServer]:
    client, server = _closing()
    exchange(client, server, 1.0)
    return client, server


def _failed() -> tuple[TurnClient, FakeTurnServer]:
    client, server = _new()
    server.fail[Method.ALLOCATE] = (486, ())
    client.allocate(now=0.0)
    exchange(client, server, 0.0)
    server.fail.clear()
    return client, server


STATES: dict[str, Callable[[], tuple[TurnClient, FakeTurnServer]]] = {
    "new": _new,
    "allocating": _allocating,
    "allocated": _allocated,
    "closing": _closing,
    "closed": _closed,
    "failed": _failed,
}


def _stun_like(draw_bytes: bytes, method: int, klass: int, tid: bytes) -> bytes:
    """A STUN header with a consistent length around arbitrary attribute bytes."""
    body = draw_bytes[: len(draw_bytes) & ~3]
    head = Message(method, MessageClass(klass), tid).serialize()[:2]
    return head + len(body).to_bytes(2, "big") + b"\x21\x12\xa4\x42" + tid + body


datagrams = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda ch, body: ch.to_bytes(2, "big") + body,
        st.integers(0x4000, 0x4FFF),
        st.binary(max_size=40),
    ),
    st.builds(
        _stun_like,
        st.binary(max_size=120),
        st.sampled_from([m.value for m in Method]),
        st.integers(0, 3),
        st.binary(min_size=12, max_size=12),
    ),
)


def _finish(name: str, client: TurnClient, server: FakeTurnServer) -> None:
    """A valid exchange after the noise: what the state allows still works."""
    events(client)
    if name in ("new",):
        client.allocate(now=2.0)
        exchange(client, server, 2.0)
        assert any(isinstance(e, Allocated) for e in events(client))
        name = "allocated"
    if name == "allocating":
        exchange(client, server, 2.0)
        assert any(isinstance(e, Allocated) for e in events(client))
        name = "allocated"
    if name == "allocated":
        assert client.state is TurnState.ALLOCATED
        client.send(b"payload", PEER_A, now=3.0)
        exchange(client, server, 3.0)
        assert server.channel_data[-1] == (client.channel_for(PEER_A), b"payload")
        got = client.handle_datagram(server.channel_message(PEER_A, b"reply"), now=3.0)
        assert got == (b"reply", PEER_A)
        indication = Message(
            Method.DATA, MessageClass.INDICATION, b"i" * 12, (XorPeerAddress(PEER_A), Data(b"d"))
        ).serialize()
        assert client.handle_datagram(indication, now=3.0) == (b"d", PEER_A)
        client.close(now=4.0)
        exchange(client, server, 4.0)
        assert events(client) == [TurnClosed("deallocated")]
    elif name == "closing":
        exchange(client, server, 2.0)
        assert events(client) == [TurnClosed("deallocated")]
    else:
        assert client.state in (TurnState.CLOSED, TurnState.FAILED)
        client.send(b"x", PEER_A, now=2.0)
        assert client.poll_transmit() is None


@pytest.mark.parametrize("name", list(STATES))
@given(noise=st.lists(datagrams, max_size=8))
def test_any_input_in_any_state_never_raises(name: str, noise: list[bytes]) -> None:
    client, server = STATES[name]()
    state = client.state
    for data in noise:
        client.handle_datagram(data, now=1.5)
    # Noise has random transaction IDs: it cannot complete a request of ours, so the state holds
    assert client.state is state
    assert client.stats.datagrams >= len(noise)
    _finish(name, client, server)
