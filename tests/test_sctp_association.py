"""The SCTP association (RFC 9260 and extensions) end to end: two associations on a virtual
clock through the emulated link of ``tests/sctp_harness.py``.  Deterministic: the link and both
associations are seeded."""

from __future__ import annotations

import random
import struct

import pytest

from rtcstack.sctp.association import Association, AssociationState, Closed, SctpConfig
from rtcstack.sctp.chunks import ChunkType, IDataChunk, Packet
from rtcstack.sctp.crc32c import check_checksum
from tests.dtls_harness import Link
from tests.sctp_harness import Pair, chunk_types, drop_first

PPID_BINARY = 53


def payloads(seed: int, count: int, sizes: tuple[int, ...]) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.choice(sizes)) for _ in range(count)]


def lossy(seed: int = 7) -> Link:
    return Link(loss=0.10, duplicate=0.05, delay=0.02, jitter=0.03, seed=seed)


def assert_no_timers(pair: Pair) -> None:
    assert pair.client.poll_timeout() is None
    assert pair.server.poll_timeout() is None


# --- handshake -----------------------------------------------------------------------------------


def test_handshake_active_passive() -> None:
    pair = Pair.create()
    pair.connect()
    client, server = pair.connected("client"), pair.connected("server")
    assert client is not None and server is not None
    assert client.interleaving and client.partial_reliability and client.stream_reset
    assert server.interleaving and not server.zero_checksum
    assert pair.client.state == pair.server.state == AssociationState.ESTABLISHED
    assert pair.client.peer_tag == pair.server.my_tag
    assert pair.server.peer_tag == pair.client.my_tag


def test_simultaneous_open_init_collision() -> None:
    """RFC 9260 §5.2.1: both sides send INIT; each answers the other's with its own tag."""
    pair = Pair.create()
    pair.connect(both=True)
    assert pair.client.peer_tag == pair.server.my_tag
    assert pair.server.peer_tag == pair.client.my_tag
    assert len([e for e in pair.events["client"] if type(e).__name__ == "Connected"]) == 1
    pair.client.send(1, b"hello", PPID_BINARY, now=pair.now)
    pair.server.send(1, b"world", PPID_BINARY, now=pair.now)
    assert pair.run_until(lambda p: p.messages("client") and p.messages("server"), 10)
    assert pair.messages("server")[0].data == b"hello"
    assert pair.messages("client")[0].data == b"world"


@pytest.mark.parametrize("kind", [ChunkType.INIT, ChunkType.INIT_ACK, ChunkType.COOKIE_ECHO,
                                  ChunkType.COOKIE_ACK])
def test_handshake_survives_one_lost_chunk(kind: ChunkType) -> None:
    pair = Pair.create(link=Link(seed=2, tamper=drop_first(kind)))
    pair.connect(max_time=30)
    pair.client.send(0, b"after", PPID_BINARY, now=pair.now)
    assert pair.run_until(lambda p: p.messages("server"), pair.now + 10)
    sent = pair.link.sent
    assert pair.client.stats.packets_sent == sent["client"]
    assert pair.server.stats.packets_sent == sent["server"]
    assert sent["client"] + sent["server"] >= 6  # the four, a retransmission, DATA


# --- reliable transfer ---------------------------------------------------------------------------


def transfer(pair: Pair, messages: dict[int, list[bytes]], *, ordered: bool = True,
             max_time: float = 300.0) -> None:
    total = sum(len(v) for v in messages.values())
    order = [(sid, m) for sid, ms in messages.items() for m in ms]
    random.Random(5).shuffle(order)
    # keep per-stream order while mixing the streams
    queues = {sid: list(ms) for sid, ms in messages.items()}
    for sid, _ in order:
        pair.client.send(sid, queues[sid].pop(0), PPID_BINARY, now=pair.now, ordered=ordered)
    assert pair.run_until(lambda p: len(p.messages("server")) >= total, max_time), (
        len(pair.messages("server")), total, pair.client.state, pair.closed("client"))


@pytest.mark.parametrize("interleaving", [True, False], ids=["I-DATA", "DATA"])
def test_reliable_ordered_transfer_through_a_bad_link(interleaving: bool) -> None:
    pair = Pair.create(server_config=SctpConfig(interleaving=interleaving), link=lossy())
    pair.connect()
    assert pair.connected("client").interleaving is interleaving  # type: ignore[union-attr]
    sizes = (1, 17, 1000, 1200, 5000, 65536, 256 * 1024)
    messages = {sid: payloads(sid, 12, sizes) for sid in (0, 1, 7, 300)}
    transfer(pair, messages)
    for sid, sent in messages.items():
        got = pair.messages("server", sid)
        assert [m.data for m in got] == sent
        assert all(m.ordered and m.ppid == PPID_BINARY for m in got)
    stats = pair.client.stats
    assert stats.retransmissions > 0 and pair.server.stats.duplicate_tsns > 0
    assert pair.closed("client") is None and pair.closed("server") is None
    # the sender's queue is empty and everything was acknowledged
    assert pair.run_until(lambda p: p.client.flight_size == 0, pair.now + 30)


@pytest.mark.parametrize("interleaving", [True, False], ids=["I-DATA", "DATA"])
def test_unordered_delivery(interleaving: bool) -> None:
    pair = Pair.create(server_config=SctpConfig(interleaving=interleaving),
                       link=Link(delay=0.02, jitter=0.05, loss=0.05, seed=11))
    pair.connect()
    messages = {2: payloads(3, 60, (10, 3000, 20000))}
    transfer(pair, messages, ordered=False)
    got = pair.messages("server", 2)
    assert not any(m.ordered for m in got)
    assert sorted(m.data for m in got) == sorted(messages[2])
    assert [m.data for m in got] != messages[2]  # reordering showed through


def test_interleaving_small_messages_pass_a_large_one() -> None:
    """RFC 8260 §1: with I-DATA a large message does not block the other streams."""
    pair = Pair.create()
    pair.connect()
    big = random.Random(1).randbytes(256 * 1024)
    pair.client.send(1, big, PPID_BINARY, now=pair.now)
    for i in range(10):
        pair.client.send(2, bytes([i]) * 50, PPID_BINARY, now=pair.now)
    assert pair.run_until(lambda p: len(p.messages("server")) == 11, 60)
    order = [m.stream_id for m in pair.messages("server")]
    assert order.index(1) == 10, order
    assert pair.messages("server", 1)[0].data == big


def test_data_mode_sends_one_message_at_a_time() -> None:
    pair = Pair.create(client_config=SctpConfig(interleaving=False))
    pair.connect()
    pair.client.send(1, bytes(100_000), PPID_BINARY, now=pair.now)
    pair.client.send(2, b"small", PPID_BINARY, now=pair.now)
    assert pair.run_until(lambda p: len(p.messages("server")) == 2, 60)
    assert [m.stream_id for m in pair.messages("server")] == [1, 2]


# --- partial reliability -------------------------------------------------------------------------


@pytest.mark.parametrize("interleaving", [True, False], ids=["I-FORWARD-TSN", "FORWARD-TSN"])
@pytest.mark.parametrize("mode", ["max_retransmits", "lifetime"])
def test_partial_reliability(interleaving: bool, mode: str) -> None:
    forward_seen: list[int] = []

    def watch(who: str, data: bytes) -> bytes | None:
        forward_seen.extend(t for t in chunk_types(data)
                            if t in (ChunkType.FORWARD_TSN, ChunkType.I_FORWARD_TSN))
        return data

    link = Link(loss=0.15, duplicate=0.05, delay=0.03, jitter=0.03, seed=21, tamper=watch)
    pair = Pair.create(SctpConfig(interleaving=interleaving), link=link)
    pair.connect()
    rng = random.Random(4)
    unreliable = [rng.randbytes(rng.choice((100, 2000, 30000))) for _ in range(60)]
    reliable = [rng.randbytes(rng.choice((100, 2000, 30000))) for _ in range(30)]
    # a lifetime long enough for messages to be sent, short enough to abandon them
    limits = {"max_retransmits": 0} if mode == "max_retransmits" else {"lifetime": 3.0}
    for i, data in enumerate(unreliable):
        pair.client.send(3, data, PPID_BINARY, now=pair.now, **limits)  # type: ignore[arg-type]
        if i % 2 == 0:
            pair.client.send(4, reliable[i // 2], PPID_BINARY, now=pair.now)
    assert pair.run_until(lambda p: len(p.messages("server", 4)) == len(reliable), 300)
    # let the forward TSNs settle, then send a last message on the unreliable stream
    pair.client.send(3, b"last", PPID_BINARY, now=pair.now)
    assert pair.run_until(lambda p: any(m.data == b"last" for m in p.messages("server", 3)),
                          pair.now + 60)
    assert [m.data for m in pair.messages("server", 4)] == reliable
    got = [m.data for m in pair.messages("server", 3)]
    assert got[-1] == b"last"
    # whatever arrived is intact and in order (a subsequence of what was sent)
    it = iter(unreliable)
    assert all(any(d == s for s in it) for d in got[:-1])
    abandoned = pair.client.stats.abandoned_messages
    assert abandoned > 0 and len(got) - 1 + abandoned >= len(unreliable)
    expected = ChunkType.I_FORWARD_TSN if interleaving else ChunkType.FORWARD_TSN
    assert expected in forward_seen
    assert pair.run_until(lambda p: p.client.flight_size == 0 and not p.client._outstanding,
                          pair.now + 60)
    assert pair.closed("client") is None and pair.closed("server") is None


def test_abandoned_partly_sent_message_does_not_send_an_empty_chunk() -> None:
    """Regression: a message abandoned while still being cut into chunks stayed at the head of
    its queue with nothing left, and the next flush sent a DATA chunk with no user data, which
    the peer answers with ABORT (RFC 9260 §6.2)."""
    for interleaving in (True, False):
        pair = Pair.create(SctpConfig(interleaving=interleaving),
                           link=Link(delay=0.05, seed=3,
                                     tamper=drop_first(ChunkType.I_DATA, ChunkType.DATA)))
        pair.connect()
        pair.client.send(5, bytes(200_000), PPID_BINARY, now=pair.now, max_retransmits=0)
        pair.client.send(5, b"next", PPID_BINARY, now=pair.now, max_retransmits=0)
        assert pair.run_until(lambda p: bool(p.messages("server")) or p.both_closed(), 60)
        assert pair.closed("server") is None, pair.closed("server")
        assert [m.data for m in pair.messages("server")] == [b"next"]
        assert pair.client.stats.abandoned_messages == 1


def test_lost_forward_tsn_is_sent_again() -> None:
    """Regression (RFC 3758 §3.5 C3/A5): a lost FORWARD-TSN was never sent again, so the
    receiver's cumulative TSN stayed behind the abandoned chunks for ever."""
    for kind, interleaving in ((ChunkType.FORWARD_TSN, False), (ChunkType.I_FORWARD_TSN, True)):
        dropped: list[int] = []

        def tamper(who: str, data: bytes, kind: int = kind,
                   dropped: list[int] = dropped) -> bytes | None:
            types = chunk_types(data)
            if who == "client" and not dropped and (
                    ChunkType.DATA in types or ChunkType.I_DATA in types):
                dropped.append(0)  # lose the first data packet: it will be abandoned
                return None
            if who == "client" and kind in types and len(dropped) == 1:
                dropped.append(kind)
                return None
            return data

        pair = Pair.create(SctpConfig(interleaving=interleaving),
                           link=Link(delay=0.02, seed=3, tamper=tamper))
        pair.connect()
        pair.client.send(1, b"lost", PPID_BINARY, now=pair.now, max_retransmits=0)
        pair.client.send(1, b"kept", PPID_BINARY, now=pair.now)
        assert pair.run_until(lambda p: bool(p.messages("server")), 30)
        assert dropped == [0, kind]
        assert [m.data for m in pair.messages("server")] == [b"kept"]
        assert pair.run_until(lambda p: not p.client._outstanding, pair.now + 30)


def test_forward_tsn_after_stream_reset_does_not_skip_new_messages() -> None:
    """Regression: FORWARD-TSN listed every stream's largest abandoned SSN ever, even after the
    stream was reset and its SSNs restarted at 0, so the receiver skipped new messages."""
    lose = {"on": False}

    def tamper(who: str, data: bytes) -> bytes | None:
        if who == "client" and lose["on"] and ChunkType.DATA in chunk_types(data):
            lose["on"] = False
            return None
        return data

    pair = Pair.create(SctpConfig(interleaving=False), link=Link(delay=0.02, seed=3,
                                                                 tamper=tamper))
    pair.connect()
    for i in range(5):
        pair.client.send(1, bytes([i]), PPID_BINARY, now=pair.now)
    lose["on"] = True
    pair.client.send(1, b"abandoned", PPID_BINARY, now=pair.now, max_retransmits=0)
    assert pair.run_until(lambda p: not p.client._outstanding, 30)
    pair.client.reset_streams([1], now=pair.now)
    assert pair.run_until(lambda p: p.resets("client") and p.resets("server"), pair.now + 10)
    # a new abandoned message on another stream makes the next FORWARD-TSN
    for i in range(3):
        pair.client.send(1, b"new%d" % i, PPID_BINARY, now=pair.now)
    lose["on"] = True
    pair.client.send(2, b"abandoned too", PPID_BINARY, now=pair.now, max_retransmits=0)
    for i in range(3, 6):
        pair.client.send(1, b"new%d" % i, PPID_BINARY, now=pair.now)
    assert pair.run_until(lambda p: len(p.messages("server", 1)) == 11, pair.now + 30)
    assert [m.data for m in pair.messages("server", 1)][5:] == [b"new%d" % i for i in range(6)]


# --- stream reset --------------------------------------------------------------------------------


@pytest.mark.parametrize("interleaving", [True, False], ids=["I-DATA", "DATA"])
def test_stream_reset(interleaving: bool) -> None:
    pair = Pair.create(SctpConfig(interleaving=interleaving), link=lossy(9))
    pair.connect()
    for i in range(5):
        pair.client.send(1, b"before%d" % i, PPID_BINARY, now=pair.now)
        pair.client.send(2, b"other%d" % i, PPID_BINARY, now=pair.now)
    pair.client.reset_streams([1], now=pair.now)
    assert pair.run_until(lambda p: p.resets("client") and p.resets("server"), 60)
    mine, theirs = pair.resets("client")[0], pair.resets("server")[0]
    assert mine.stream_ids == (1,) and not mine.incoming and mine.success
    assert theirs.stream_ids == (1,) and theirs.incoming
    # everything sent before the reset arrived before the peer reset the stream
    before = [e for e in pair.events["server"]]
    index = before.index(theirs)
    got1 = [e.data for e in before[:index] if getattr(e, "stream_id", None) == 1]
    assert got1 == [b"before%d" % i for i in range(5)]
    # the SSN restarts at 0 on both sides: a new message is delivered
    pair.client.send(1, b"after", PPID_BINARY, now=pair.now)
    assert pair.run_until(lambda p: p.messages("server", 1)[-1].data == b"after", pair.now + 30)
    assert [m.data for m in pair.messages("server", 2)] == [b"other%d" % i for i in range(5)]


# --- shutdown and abort --------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["client", "server", "both"])
@pytest.mark.parametrize("lost", [None, ChunkType.SHUTDOWN, ChunkType.SHUTDOWN_ACK,
                                  ChunkType.SHUTDOWN_COMPLETE])
def test_graceful_shutdown(who: str, lost: ChunkType | None) -> None:
    link = Link(delay=0.02, seed=5, tamper=drop_first(lost) if lost is not None else None)
    pair = Pair.create(link=link)
    pair.connect()
    pair.client.send(0, bytes(50_000), PPID_BINARY, now=pair.now)
    pair.server.send(0, bytes(30_000), PPID_BINARY, now=pair.now)
    for name in (("client", "server") if who == "both" else (who,)):
        pair.side(name).shutdown(now=pair.now)
    assert pair.run_until(Pair.both_closed, 60)
    for name in ("client", "server"):
        closed = pair.closed(name)
        assert closed is not None and closed.error is None, closed
        assert len(pair.messages(name)) == 1  # queued data was delivered first
    assert_no_timers(pair)
    pair.run_until(None, pair.now + 60)  # nothing else happens
    assert pair.client.state == pair.server.state == AssociationState.CLOSED


@pytest.mark.parametrize("who", ["client", "server"])
def test_abort(who: str) -> None:
    pair = Pair.create()
    pair.connect()
    pair.client.send(0, bytes(10_000), PPID_BINARY, now=pair.now)
    pair.side(who).abort("going away", now=pair.now)
    assert pair.run_until(Pair.both_closed, 10)
    me, peer = pair.closed(who), pair.closed(pair.peer_of(who))
    assert me is not None and me.error == "going away" and not me.remote
    assert peer is not None and peer.remote and "going away" in (peer.error or "")
    assert_no_timers(pair)


def test_dead_link_retransmits_then_aborts() -> None:
    pair = Pair.create(link=Link(delay=0.02, seed=1))
    pair.connect()
    pair.link.loss = 1.0
    pair.client.send(0, bytes(5000), PPID_BINARY, now=pair.now)
    start = pair.now
    assert pair.run_until(lambda p: p.closed("client") is not None, 600)
    closed = pair.closed("client")
    assert closed is not None and closed.error and not closed.remote
    stats = pair.client.stats
    # the error counter is shared with the heartbeats (RFC 9260 §8.1)
    assert SctpConfig().max_retransmits <= stats.t3_expirations <= SctpConfig().max_retransmits + 1
    assert stats.retransmissions >= SctpConfig().max_retransmits
    assert pair.now - start > 10  # exponential back-off
    assert pair.client.poll_timeout() is None


def test_message_larger_than_max_message_size_aborts() -> None:
    for interleaving in (True, False):
        pair = Pair.create(server_config=SctpConfig(max_message_size=4096,
                                                    interleaving=interleaving))
        pair.connect()
        pair.client.send(0, b"fine" * 1000, PPID_BINARY, now=pair.now)
        pair.client.send(0, bytes(10_000), PPID_BINARY, now=pair.now)
        assert pair.run_until(Pair.both_closed, 30)
        server, client = pair.closed("server"), pair.closed("client")
        assert server is not None and "max-message-size" in (server.error or "")
        assert client is not None and client.remote
        assert [m.data for m in pair.messages("server")] == [b"fine" * 1000]
        assert_no_timers(pair)


# --- zero checksum, heartbeats, windows ----------------------------------------------------------


def test_zero_checksum() -> None:
    """RFC 9653: both accept zero checksums, so data packets carry 0; INIT, INIT ACK and
    COOKIE ECHO keep a real CRC32c (§5.2)."""
    link = Link(delay=0.01, seed=1)
    pair = Pair.create(SctpConfig(zero_checksum=True), SctpConfig(zero_checksum=True), link=link)
    pair.capture = True
    pair.connect()
    assert pair.connected("client").zero_checksum  # type: ignore[union-attr]
    pair.client.send(0, bytes(3000), PPID_BINARY, now=pair.now)
    assert pair.run_until(lambda p: p.messages("server"), 10)
    for _, data in pair.captured:
        types = chunk_types(data)
        checksum = struct.unpack_from("!I", data, 8)[0]
        if types[0] in (ChunkType.INIT, ChunkType.INIT_ACK, ChunkType.COOKIE_ECHO):
            assert checksum != 0 and check_checksum(data)
        elif ChunkType.DATA in types or ChunkType.I_DATA in types or ChunkType.SACK in types:
            assert checksum == 0
    # a packet with a wrong (non-zero) checksum is dropped and counted
    data_packet = next(d for w, d in pair.captured if w == "client"
                       and ChunkType.I_DATA in chunk_types(d))
    bad = data_packet[:8] + b"\x00\x00\x00\x01" + data_packet[12:]
    dropped = pair.server.stats.packets_dropped
    pair.server.handle_packet(bad, now=pair.now)
    assert pair.server.stats.packets_dropped == dropped + 1


def test_zero_checksum_only_when_both_accept_it() -> None:
    pair = Pair.create(SctpConfig(zero_checksum=True), SctpConfig())
    pair.capture = True
    pair.connect()
    pair.client.send(0, b"x", PPID_BINARY, now=pair.now)
    assert pair.run_until(lambda p: p.messages("server"), 10)
    assert all(check_checksum(d) for _, d in pair.captured)


def test_corrupted_packet_is_dropped_and_counted() -> None:
    pair = Pair.create()
    pair.capture = True
    pair.connect()
    pair.client.send(0, b"payload", PPID_BINARY, now=pair.now)
    pair.run_until(lambda p: p.messages("server"), 10)
    packet = bytearray(pair.captured[-2][1])
    packet[-1] ^= 0xFF
    before = pair.server.stats.packets_dropped
    pair.server.handle_packet(bytes(packet), now=pair.now)
    assert pair.server.stats.packets_dropped == before + 1


def test_heartbeats_are_answered() -> None:
    config = SctpConfig(heartbeat_interval=1.0)
    pair = Pair.create(config, config, link=Link(delay=0.05, seed=1))
    pair.capture = True
    pair.connect()
    pair.run_until(None, pair.now + 10)
    sent = [w for w, d in pair.captured if ChunkType.HEARTBEAT in chunk_types(d)]
    acks = [w for w, d in pair.captured if ChunkType.HEARTBEAT_ACK in chunk_types(d)]
    assert sent.count("client") >= 5 and sent.count("server") >= 5
    assert acks.count("server") == sent.count("client")
    assert pair.closed("client") is None and pair.closed("server") is None
    assert 0.05 < pair.client.rto <= 1.0  # RTT measured from the heartbeats (min 0.2)


def test_heartbeats_unanswered_abort() -> None:
    config = SctpConfig(heartbeat_interval=1.0, max_retransmits=3)
    pair = Pair.create(config, config, link=Link(delay=0.05, seed=1))
    pair.connect()
    pair.link.loss = 1.0
    assert pair.run_until(lambda p: p.closed("client") is not None, 100)
    assert "heartbeat" in (pair.closed("client").error or "")  # type: ignore[union-attr]


@pytest.mark.parametrize("interleaving", [True, False], ids=["I-DATA", "DATA"])
def test_tiny_receive_window(interleaving: bool) -> None:
    receiver = SctpConfig(receive_window=4000, interleaving=interleaving)
    pair = Pair.create(SctpConfig(), receiver, link=Link(delay=0.01, loss=0.05, jitter=0.01,
                                                        seed=8))
    pair.connect()
    assert pair.connected("client").peer_receive_window == 4000  # type: ignore[union-attr]
    messages = {0: payloads(1, 6, (100, 3000, 50_000)), 1: payloads(2, 4, (20_000,))}
    transfer(pair, messages, max_time=600)
    for sid, sent in messages.items():
        assert [m.data for m in pair.messages("server", sid)] == sent
    assert pair.server.stats.bytes_received >= sum(len(m) for v in messages.values() for m in v)


def test_congestion_window_grows_then_collapses_on_t3() -> None:
    pair = Pair.create(link=Link(delay=0.05, seed=1))
    pair.connect()
    initial = pair.client.cwnd
    assert initial == 4380  # RFC 9260 §7.2.1: min(4 MTU, max(2 MTU, 4380))
    for _ in range(100):
        pair.client.send(0, bytes(10_000), PPID_BINARY, now=pair.now)
    pair.run_until(lambda p: p.client.cwnd > 8 * initial, 30)
    # slow start: one MTU per SACK (a SACK per two packets), so x1.5 per round trip
    assert pair.client.cwnd > 8 * initial
    pair.link.loss = 1.0
    assert pair.run_until(lambda p: p.client.stats.t3_expirations > 0, pair.now + 30)
    assert pair.client.cwnd == SctpConfig().mtu  # §6.3.3 E1: cwnd = 1 MTU
    pair.link.loss = 0.0
    assert pair.run_until(lambda p: len(p.messages("server")) == 100, pair.now + 120)


def test_send_misuse_raises() -> None:
    from rtcstack.common.errors import InvalidStateError

    pair = Pair.create()
    with pytest.raises(InvalidStateError):
        pair.client.send(0, b"x", PPID_BINARY, now=0)
    pair.connect()
    with pytest.raises(ValueError):
        pair.client.send(0, b"", PPID_BINARY, now=pair.now)
    with pytest.raises(ValueError):
        pair.client.send(65536, b"x", PPID_BINARY, now=pair.now)


def test_send_is_bounded_by_the_peer_not_by_our_receive_limit() -> None:
    """max_message_size bounds what we accept; what we send is the peer's business (the data
    channel layer enforces the peer's SDP max-message-size)."""
    pair = Pair.create(server_config=SctpConfig(max_message_size=1 << 20))
    pair.connect()
    big = bytes(range(256)) * 2048  # 512 KiB: above the client's own receive limit
    pair.client.send(1, big, PPID_BINARY, now=pair.now)
    assert pair.run_until(lambda p: len(p.messages("server")) == 1, pair.now + 30)
    assert pair.messages("server")[0].data == big


def test_packets_parse() -> None:
    """Every packet the association emits is one the codec parses, with a good checksum."""
    pair = Pair.create(link=lossy(3))
    pair.capture = True
    pair.connect()
    transfer(pair, {1: payloads(1, 10, (10, 5000))})
    pair.client.shutdown(now=pair.now)
    pair.run_until(Pair.both_closed, pair.now + 30)
    for _, data in pair.captured:
        assert check_checksum(data)
        Packet.parse(data, verify=True)


def test_flight_size_stays_exact_when_a_partly_acked_message_is_abandoned() -> None:
    """Regression: chunks acked by the cumulative TSN kept their in-flight mark, so abandoning
    their message later subtracted them from the flight size a second time (it went negative
    and cwnd stopped limiting anything)."""
    lost = {"n": 0}

    def tamper(who: str, data: bytes) -> bytes | None:
        if who == "client" and ChunkType.I_DATA in chunk_types(data):
            lost["n"] += 1
            if lost["n"] == 3:  # the third fragment of the message
                return None
        return data

    pair = Pair.create(link=Link(delay=0.02, seed=1, tamper=tamper))
    pair.connect()
    pair.client.send(1, bytes(4000), PPID_BINARY, now=pair.now, max_retransmits=0)
    pair.client.send(1, b"next", PPID_BINARY, now=pair.now)
    assert pair.run_until(lambda p: bool(p.messages("server")), 30)
    assert [m.data for m in pair.messages("server")] == [b"next"]
    assert pair.run_until(lambda p: not p.client._outstanding, pair.now + 10)
    assert pair.client.flight_size == 0


def test_heartbeat_ack_with_a_nan_time_is_ignored() -> None:
    """Regression: a HEARTBEAT ACK whose echoed send time was NaN passed the checks and made
    the RTO (and every timer after it) NaN."""
    from rtcstack.sctp.chunks import HeartbeatAckChunk, HeartbeatChunk

    config = SctpConfig(heartbeat_interval=1.0)
    pair = Pair.create(config, config, link=Link(delay=0.05, seed=1))
    pair.capture = True
    pair.connect()
    pair.link.loss = 1.0
    pair.run_until(lambda p: any(ChunkType.HEARTBEAT in chunk_types(d)
                                 for w, d in p.captured if w == "client"), 10)
    beat = next(d for w, d in pair.captured if w == "client"
                and ChunkType.HEARTBEAT in chunk_types(d))
    info = next(c for c in Packet.parse(beat).chunks if isinstance(c, HeartbeatChunk)).info
    forged = struct.pack("!d", float("nan")) + info[8:]
    ack = Packet(5000, 5000, pair.client.my_tag, [HeartbeatAckChunk(forged)]).serialize()
    pair.client.handle_packet(ack, now=pair.now)
    assert pair.client.rto == pair.client.rto  # not NaN
    deadline = pair.client.poll_timeout()
    assert deadline is not None and deadline == deadline


def test_lifetime_expires_on_its_own_timer_even_behind_other_messages() -> None:
    """RFC 3758 §3.5 A2: a message whose lifetime runs out while it waits in the queue is
    dropped at its deadline (the association's poll_timeout includes it), wherever it is in the
    queue, and is never sent."""
    # DATA (no interleaving): the large message goes out whole before the next one starts
    pair = Pair.create(SctpConfig(interleaving=False), link=Link(delay=0.5, seed=5))
    pair.connect()
    pair.client.send(1, bytes(250_000), PPID_BINARY, now=pair.now)  # several round trips
    pair.client.send(2, b"keep", PPID_BINARY, now=pair.now, lifetime=60.0)
    pair.client.send(2, b"expire", PPID_BINARY, now=pair.now, lifetime=0.2)
    deadline = pair.now + 0.2
    timeout = pair.client.poll_timeout()
    assert timeout is not None and timeout <= deadline
    assert pair.run_until(lambda p: len(p.messages("server")) == 2, pair.now + 60)
    assert sorted(m.data[:6] for m in pair.messages("server")) == [b"\x00" * 6, b"keep"]
    assert pair.client.stats.abandoned_messages == 1
    assert pair.client.buffered_amount(2) == 0


def test_tsn_beyond_any_reportable_gap_is_dropped() -> None:
    """A DATA chunk 2**16 or more TSNs past the cumulative TSN cannot be reported in a SACK
    gap block: it is dropped instead of remembered (bounded memory)."""
    pair = Pair.create()
    pair.connect()
    server = pair.server
    far = (server._peer_cum + 0x10000) & 0xFFFFFFFF
    chunk = IDataChunk(far, 0, 0, PPID_BINARY, 0, b"x")
    packet = Packet(5000, 5000, server.my_tag, [chunk]).serialize()
    server.handle_packet(packet, now=pair.now)
    assert not server._above and not pair.messages("server")
    pair.client.send(0, b"after", PPID_BINARY, now=pair.now)
    assert pair.run_until(lambda p: len(p.messages("server")) == 1, pair.now + 10)


def test_cwnd_decays_while_idle() -> None:
    """RFC 9260 §7.2.1: max(cwnd/2, 4*MTU) per RTO without data, so a window grown in an
    earlier transfer does not go out as one burst after a pause."""
    pair = Pair.create()
    pair.connect()
    for _ in range(40):
        pair.client.send(1, bytes(16_000), PPID_BINARY, now=pair.now)
    assert pair.run_until(lambda p: len(p.messages("server")) == 40, pair.now + 60)
    assert pair.run_until(lambda p: p.client.flight_size == 0, pair.now + 5)
    grown = pair.client.cwnd
    mtu = SctpConfig().mtu
    assert grown > 8 * mtu
    pair.step(pair.now + 10 * pair.client.rto)  # idle for many RTOs
    pair.client.send(1, bytes(500_000 // 2), PPID_BINARY, now=pair.now)
    pair.client.poll_transmit()
    assert pair.client.cwnd == 4 * mtu
    assert pair.client.flight_size <= 4 * mtu + mtu


def test_lower_layer_closing_ends_the_association() -> None:
    """When DTLS below ends: graceful in SHUTDOWN-ACK-SENT (only the peer's SHUTDOWN COMPLETE
    was left, and its close_notify may overtake it), an error in any other state; nothing is
    sent and no timer is left."""
    pair = Pair.create()
    pair.connect()
    pair.client.lower_layer_closed(now=pair.now)
    assert pair.client.poll_transmit() is None and pair.client.poll_timeout() is None
    pair.flush()
    closed = pair.closed("client")
    assert closed is not None and closed.error and closed.remote

    pair = Pair.create(link=Link(seed=2, tamper=drop_first(ChunkType.SHUTDOWN_COMPLETE)))
    pair.connect()
    pair.client.shutdown(now=pair.now)
    assert pair.run_until(lambda p: p.server.state == AssociationState.SHUTDOWN_ACK_SENT
                          and p.closed("client") is not None, pair.now + 10)
    pair.server.lower_layer_closed(now=pair.now)
    pair.flush()
    assert pair.closed("server") == Closed(None, remote=True)
    assert pair.server.poll_timeout() is None


@pytest.mark.parametrize("interleaving", [True, False], ids=["I-DATA", "DATA"])
@pytest.mark.parametrize(("weights", "ratio"), [((256, 256), 1.0), ((256, 1024), 4.0)])
def test_streams_share_the_association_by_priority(interleaving: bool,
                                                   weights: tuple[int, int],
                                                   ratio: float) -> None:
    """RFC 8260 §3.6 weighted fair queueing: two saturated streams get bytes through in
    proportion to their weights (equal weights: equal shares)."""
    pair = Pair.create(SctpConfig(interleaving=interleaving), link=Link(delay=0.01, seed=9))
    pair.connect()
    for sid, weight in zip((1, 2), weights, strict=True):
        pair.client.set_stream_priority(sid, weight)
    size = 8000 if not interleaving else 60_000
    for _ in range(60 if not interleaving else 12):
        pair.client.send(1, bytes(size), PPID_BINARY, now=pair.now)
        pair.client.send(2, bytes(size), PPID_BINARY, now=pair.now)
    # Measure while both are still backlogged: until a quarter of all the data has arrived.
    total = 2 * size * (60 if not interleaving else 12)
    assert pair.run_until(lambda p: sum(len(m.data) for m in p.messages("server")) > total / 4,
                          pair.now + 60)
    # Bytes each stream has had sent (first transmissions), from the sender's own accounting:
    # what is still queued tells what went out.
    queued = {sid: pair.client.buffered_amount(sid) for sid in (1, 2)}
    went = {sid: total / 2 - queued[sid] for sid in (1, 2)}
    measured = went[2] / went[1]
    assert ratio * 0.75 <= measured <= ratio * 1.33, (went, measured)
    assert pair.run_until(lambda p: len(p.messages("server")) == (120 if not interleaving else 24),
                          pair.now + 120)


def test_priority_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Pair.create().client.set_stream_priority(1, 0)


def test_zero_checksum_is_accepted_only_once_announced() -> None:
    """RFC 9653 §5.3: until we have sent Zero Checksum Acceptable (in our INIT or INIT ACK),
    a packet whose checksum is zero is dropped like any other with a wrong CRC32c."""
    from rtcstack.sctp.chunks import InitChunk

    server = Association(SctpConfig(zero_checksum=True))
    init = InitChunk(0x1234, 65536, 10, 10, 1, [])
    unchecked = Packet(5000, 5000, 0, [init]).serialize(zero_checksum=True)
    server.handle_packet(unchecked, now=0.0)
    assert server.stats.packets_dropped == 1 and server.poll_transmit() is None
    checked = Packet(5000, 5000, 0, [init]).serialize()
    server.handle_packet(checked, now=0.0)
    assert server.poll_transmit() is not None  # the INIT ACK, which announces it
    server.handle_packet(unchecked, now=0.0)
    assert server.stats.packets_dropped == 1  # now a zero checksum is accepted
