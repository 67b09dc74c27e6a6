"""Hostile input to the association in every state (hypothesis).

Arbitrary bytes, and real packets captured from a transfer with bytes flipped, given the target's
verification tag and a recomputed checksum so that they reach the chunk handlers, are fed to an
association that is closed, in COOKIE-WAIT, COOKIE-ECHOED, established with data in flight, or
shutting down.  Nothing may raise (or busy-loop), and afterwards a fresh reliable transfer
between the two delivers exact data, or one side reports Closed with an error.

SCTP has no integrity of its own beyond the CRC (over DTLS, DTLS provides it): a well-formed
DATA, SACK, FORWARD-TSN or SHUTDOWN with the right tag is indistinguishable from the peer's, and
can legitimately make data go missing or be replaced.  When such a forged chunk was accepted,
the check is only that the run stays sane (no exception, no busy loop, the clock bounded).
"""

from __future__ import annotations

import struct
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtcstack.sctp.association import AssociationState, SctpConfig
from rtcstack.sctp.chunks import ChunkType
from rtcstack.sctp.crc32c import with_checksum
from tests.dtls_harness import Link
from tests.sctp_harness import Pair, chunk_types

PPID = 53
STATES = ["closed", "cookie-wait", "cookie-echoed", "established", "shutdown-pending"]
# Chunks that SCTP must believe when the tag (and checksum) are right: a forged one is the
# peer's as far as SCTP can tell (over DTLS, the DTLS layer is what rules forgeries out).  An
# INIT ACK with our tag in COOKIE-WAIT is one: its cookie from another association's secret
# then leaves the handshake retrying until T1 gives up.
TRUSTED_TYPES = {ChunkType.DATA, ChunkType.I_DATA, ChunkType.SACK, ChunkType.FORWARD_TSN,
                 ChunkType.I_FORWARD_TSN, ChunkType.SHUTDOWN, ChunkType.SHUTDOWN_ACK,
                 ChunkType.SHUTDOWN_COMPLETE, ChunkType.RE_CONFIG, ChunkType.INIT_ACK}


@cache
def captured_packets() -> tuple[bytes, ...]:
    """Packets of every kind from one lossy run: handshake, data both ways, partial
    reliability, stream reset, heartbeats, shutdown."""
    config = SctpConfig(heartbeat_interval=0.5)
    pair = Pair.create(config, config, link=Link(loss=0.1, delay=0.02, jitter=0.02, seed=4))
    pair.capture = True
    pair.connect()
    for i in range(8):
        pair.client.send(1, bytes([i]) * (i * 700 + 1), PPID, now=pair.now)
        pair.server.send(2, bytes([i]) * 300, PPID, now=pair.now, ordered=False)
        pair.client.send(3, bytes(2000), PPID, now=pair.now, max_retransmits=0)
    pair.run_until(lambda p: len(p.messages("server", 1)) == 8, 60)
    pair.client.reset_streams([1], now=pair.now)
    pair.run_until(lambda p: bool(p.resets("server")), pair.now + 10)
    pair.run_until(None, pair.now + 2)
    pair.client.shutdown(now=pair.now)
    pair.run_until(Pair.both_closed, pair.now + 10)
    dtls_pair = Pair.create(SctpConfig(interleaving=False), link=Link(seed=5))
    dtls_pair.capture = True
    dtls_pair.connect()
    dtls_pair.client.send(0, bytes(3000), PPID, now=dtls_pair.now, max_retransmits=0)
    dtls_pair.run_until(None, 5)
    return tuple(d for _, d in pair.captured + dtls_pair.captured)


def make(state: str, seed: int) -> tuple[Pair, str]:
    """A pair in ``state`` and the side to attack."""
    pair = Pair.create(link=Link(delay=0.02, loss=0.05, seed=seed), seed=seed)
    if state == "closed":
        return pair, "server"
    pair.client.connect(now=0.0)
    if state == "cookie-wait":
        pair.flush()
        return pair, "client"
    if state == "cookie-echoed":
        pair.link.loss = 0.0
        pair.run_until(lambda p: p.client.state == AssociationState.COOKIE_ECHOED, 10)
        return pair, "client"
    pair.run_until(lambda p: bool(p.connected("client") and p.connected("server")), 30)
    for i in range(6):
        pair.client.send(i % 2, bytes([i]) * 3000, PPID, now=pair.now)
        pair.server.send(1, bytes([i]) * 500, PPID, now=pair.now)
    pair.flush()
    pair.step(pair.now + 1)
    if state == "shutdown-pending":
        pair.client.shutdown(now=pair.now)
        pair.flush()
        return pair, "client"
    return pair, "server"


def forge(packet: bytes, tag: int, flips: list[tuple[int, int]]) -> bytes:
    raw = bytearray(packet)
    raw[4:8] = struct.pack("!I", tag)
    for pos, value in flips:
        if 12 <= pos < len(raw):
            raw[pos] = value
    return with_checksum(bytes(raw))


inputs = st.one_of(
    st.binary(min_size=0, max_size=120).map(lambda b: ("raw", b, [])),
    st.tuples(st.just("mutated"), st.integers(0, 10_000),
              st.lists(st.tuples(st.integers(12, 1300), st.integers(0, 255)), max_size=4)),
)


def check(state: str, seed: int, attacks: list[tuple[str, object, list[tuple[int, int]]]]
          ) -> None:
    pair, target_name = make(state, seed)
    target = pair.side(target_name)
    packets = captured_packets()
    forged_trusted = False
    for kind, value, flips in attacks:
        if kind == "raw":
            data = bytes(value)  # type: ignore[call-overload]
        else:
            base = packets[int(value) % len(packets)]  # type: ignore[call-overload]
            tag = target.my_tag if target.state != AssociationState.CLOSED else 0
            if base and chunk_types(base)[:1] == [ChunkType.INIT]:
                tag = 0
            data = forge(base, tag, flips)
        dropped = target.stats.packets_dropped
        target.handle_packet(data, now=pair.now)
        if target.stats.packets_dropped == dropped and TRUSTED_TYPES.intersection(
                chunk_types(data)):
            forged_trusted = True
        pair.flush()
    # finish the handshake if there was one to finish, then a fresh transfer both ways
    if (state in ("closed", "cookie-wait", "cookie-echoed")
            and pair.client.state == AssociationState.CLOSED and pair.closed("client") is None):
        pair.client.connect(now=pair.now)
    pair.run_until(lambda p: bool(p.connected("client") and p.connected("server"))
                   or p.closed("client") is not None or p.closed("server") is not None,
                   pair.now + 60)
    if pair.closed("client") or pair.closed("server"):
        return _closed_with_error(pair, forged_trusted)
    if not (pair.connected("client") and pair.connected("server")):
        assert forged_trusted, (pair.client.state, pair.server.state)
        return None
    fresh = [bytes([i]) * (i * 997 % 5000 + 1) for i in range(8)]
    if pair.client.state != AssociationState.ESTABLISHED or \
            pair.server.state != AssociationState.ESTABLISHED:
        pair.run_until(lambda p: p.both_closed(), pair.now + 120)
        return _closed_with_error(pair, forged_trusted, allow_graceful=True)
    for data in fresh:
        pair.client.send(9, data, PPID, now=pair.now)
        pair.server.send(9, data, PPID, now=pair.now)
    done = pair.run_until(
        lambda p: (len(p.messages("server", 9)) == len(fresh)
                   and len(p.messages("client", 9)) == len(fresh))
        or p.closed("client") is not None or p.closed("server") is not None,
        pair.now + 300)
    if pair.closed("client") or pair.closed("server"):
        return _closed_with_error(pair, forged_trusted)
    if forged_trusted:
        return None
    assert done
    assert [m.data for m in pair.messages("server", 9)] == fresh
    assert [m.data for m in pair.messages("client", 9)] == fresh
    return None


def _closed_with_error(pair: Pair, forged: bool, *, allow_graceful: bool = False) -> None:
    for name in ("client", "server"):
        closed = pair.closed(name)
        if closed is not None and not forged and not allow_graceful:
            assert closed.error, closed


fuzz = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(st.sampled_from(STATES), st.integers(1, 50), st.lists(inputs, min_size=1, max_size=6))
def test_hostile_packets_in_every_state(state: str, seed: int,
                                        attacks: list[tuple[str, object, list[tuple[int, int]]]],
                                        ) -> None:
    check(state, seed, attacks)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(STATES), st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(state: str, data: bytes) -> None:
    pair, name = make(state, 3)
    target = pair.side(name)
    target.handle_packet(data, now=pair.now)
    target.handle_packet(with_checksum(data) if len(data) >= 12 else data, now=pair.now)
    pair.run_until(None, pair.now + 5)


def test_every_captured_packet_in_every_state() -> None:
    """Each captured packet, re-tagged for the target, in each state: no exception."""
    packets = captured_packets()
    assert len(packets) > 50
    for state in STATES:
        pair, name = make(state, 7)
        target = pair.side(name)
        for packet in packets:
            target.handle_packet(forge(packet, target.my_tag, []), now=pair.now)
            pair.flush()
        pair.run_until(None, pair.now + 5)
