"""aiortc opens WebRTC data channels to rtcstack's SCTP (issue #7), over loopback.

aiortc (an independent Python WebRTC implementation with its own SCTP, DTLS and ICE) creates an
``RTCPeerConnection`` with in-band data channels and offers.  rtcstack answers as in
``test_sctp_browser``: ``a=ice-lite``, its fingerprint, one host candidate 127.0.0.1:PORT
(:class:`tests.interop.ice_lite.IceLitePeer`), ``a=sctp-port:5000``,
``a=max-message-size:262144``, in both DTLS roles (``a=setup:passive``: rtcstack is the DTLS
server and takes odd stream ids; ``a=setup:active``: the client, even ids).  Once DTLS is up the
peer drives a :class:`~rtcstack.sctp.DataChannels` (:class:`Side`, the peer's ``application``).
aioice leaves 127.0.0.1 out of its host candidates; ``bench.sctp_aiortc``'s replacement of its
host-address lookup is borrowed while aiortc gathers.

Checked, for each role, without and with a negotiated channel (``negotiated=True, id=100`` on
both sides, no DCEP on that stream in either direction):

- the association comes up; what ``Connected`` says was negotiated (interleaving,
  zero_checksum, partial_reliability, stream_reset) follows aiortc's INIT (or INIT ACK, when
  rtcstack's INIT won the collision), parsed from the captured packets;
- aiortc's in-band channels reach rtcstack with the label, protocol, ordered flag,
  maxRetransmits and maxPacketLifeTime they were created with, on aiortc's stream-id parity,
  and open on aiortc's side (DATA_CHANNEL_ACK);
- text (mixed 1- to 4-byte UTF-8) and binary messages of 1 B, 1200 B, 16 KiB, 64 KiB and
  256 KiB (aiortc's ``maxMessageSize``, and ours) come back byte for byte;
- empty string and empty bytes: aiortc sends them as one zero byte with PPID 56 / 57
  (RFC 8831 §6.6), rtcstack delivers ``""`` / ``b""`` and echoes them the same way;
- an unordered ``maxRetransmits=0`` channel echoes a burst (loopback loses nothing);
- rtcstack's own in-band channel reaches aiortc (``datachannel``) with its label and protocol,
  greets, gets a reply, and rtcstack closes it: aiortc's ``close`` fires and rtcstack sees
  ``ChannelClosed`` (both streams reset, RFC 8831 §6.7);
- 2 MiB in 16 KiB messages from aiortc echo through rtcstack and come back in order (rtcstack
  also checks the order in which they reached it);
- aiortc closes its channel: its ``close`` fires, rtcstack sees ``ChannelClosed``;
- rtcstack shuts the association down (SHUTDOWN, SHUTDOWN ACK, SHUTDOWN COMPLETE): it ends
  with ``TransportClosed(None)`` and aiortc's SCTP transport and remaining channels close.

No ABORT may be sent by either side at all (aiortc's ``close()`` comes after the shutdown).

aiortc's UDP socket keeps the default receive buffer; rtcstack's bursts (echoes of 256 KiB
messages, the bulk) overflow it on loopback (RcvbufErrors in ``/proc/net/snmp``) and rtcstack
retransmits.  The summary prints our retransmissions (fast, T3), the duplicate TSNs aiortc's
SACKs report (spurious retransmissions) and the machine's RcvbufErrors during the run.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("aiortc", reason="aiortc is the peer here: pip install aiortc")

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)

from bench.sctp_aiortc import _offer_loopback
from rtcstack.dtls import DtlsConnection
from rtcstack.sctp import (
    ChunkType,
    DataChannel,
    DataChannels,
    DataChunk,
    ParamType,
    Ppid,
    SackChunk,
    TransportClosed,
    TransportConnected,
)
from tests.interop.ice_lite import IceLitePeer
from tests.interop.sctp_app import (
    BURST,
    BURST_SIZE,
    OUR_PROTOCOL,
    EchoApp,
    answer,
    chunk_type_names,
    digest,
    peer_report,
)

pytestmark = pytest.mark.interop

SIZES = [1, 1200, 16384, 65536, 262144]
LABEL, PROTOCOL = "aiortc-echo", "echo-v1"
LOOSE_LABEL = "loose"  # unordered, maxRetransmits 0
TIMED_LABEL, TIMED_PROTOCOL, LIFETIME = "timed", "t", 3000  # ordered, maxPacketLifeTime 3 s
NEG_LABEL, NEG_ID = "negotiated", 100
OUR_LABEL = "from-rtcstack"
GREETING, REPLY = "hello from rtcstack", "hello back from aiortc"
BULK_TOTAL, BULK_SIZE = 2 * 1024 * 1024, 16 * 1024
STEP = 10.0  # seconds allowed for any one step


def _text(size: int) -> str:
    """A string of exactly ``size`` UTF-8 bytes mixing 1- to 4-byte characters."""
    pattern = "aé€😀"  # 1 + 2 + 3 + 4 bytes
    return pattern * (size // 10) + "x" * (size % 10)


def _rcvbuf_errors() -> int | None:
    """Linux's count of UDP datagrams dropped for a full receive buffer (all sockets)."""
    try:
        lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()
                 if line.startswith("Udp:")]
        return int(dict(zip(lines[0], lines[1], strict=True))["RcvbufErrors"])
    except (OSError, KeyError, IndexError, ValueError):
        return None


@dataclass(repr=False)
class Side(EchoApp):
    """rtcstack's side (:class:`EchoApp`, which echoes on aiortc's channels and opens
    ``OUR_LABEL``), plus, with ``negotiated``, the negotiated channel (``NEG_LABEL`` on stream
    ``NEG_ID``, no DCEP), created before the association connects and echoed like the others."""

    negotiated: bool = False
    neg: DataChannel | None = None

    def setup_channels(self, channels: DataChannels, now: float) -> None:
        if self.negotiated:
            self.neg = channels.create_channel(NEG_LABEL, now=now, negotiated=True, id=NEG_ID)


class Inbox:
    """What one aiortc channel received, and its open/close events."""

    def __init__(self, channel: RTCDataChannel) -> None:
        self.channel = channel
        self.messages: list[str | bytes] = []
        self.opened = channel.readyState == "open"
        self.closed = False
        channel.on("message", self.messages.append)
        channel.on("open", self._on_open)
        channel.on("close", self._on_close)

    def _on_open(self) -> None:
        self.opened = True

    def _on_close(self) -> None:
        self.closed = True


@dataclass(repr=False)
class Run:
    setup: str
    negotiated: bool
    peer: IceLitePeer
    side: Side
    offer: str
    answer: str
    inboxes: dict[str, Inbox]
    theirs: RTCDataChannel | None  # rtcstack's channel as aiortc sees it
    sctp_state_after_shutdown: str | None
    timings: dict[str, float]
    ours_inbox: Inbox | None = None
    sent: dict[str, list[str | bytes]] = field(default_factory=dict)  # by aiortc, per label
    rcvbuf_errors: int | None = None

    def describe(self) -> str:
        return (f"setup:{self.setup} negotiated:{self.negotiated}\nours: {self.side.describe()}"
                f"\n{peer_report(self.peer)}\naiortc channels "
                f"{ {k: (v.channel.readyState, len(v.messages)) for k, v in self.inboxes.items()} }"
                f"\nanswer:\n{self.answer}")


async def _until(predicate: Callable[[], bool], what: Callable[[], str],
                 timeout: float = STEP) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out ({timeout:g} s) waiting for {what()}")
        await asyncio.sleep(0.002)


def _answer(offer_sdp: str, setup: str, negotiated: bool) -> tuple[str, IceLitePeer, Side]:
    """Build rtcstack's side for aiortc's offer; returns (answer SDP, started peer, side)."""

    def make_side(dtls: DtlsConnection, remote_max_message_size: int) -> Side:
        return Side(dtls, remote_max_message_size, OUR_LABEL, GREETING, negotiated=negotiated)

    return answer(offer_sdp, setup, make_side)


async def _echo(inbox: Inbox, messages: list[str | bytes], what: str, run_: Run,
                lossy: bool = False) -> None:
    """Send ``messages`` on an aiortc channel and wait for their echoes; ``lossy``: what
    rtcstack abandoned (maxRetransmits 0 after a loss) is not waited for."""
    start = len(inbox.messages)
    run_.sent.setdefault(inbox.channel.label, []).extend(messages)
    for message in messages:
        inbox.channel.send(message)

    def abandoned() -> int:
        side = run_.side.channels
        return side.association.stats.abandoned_messages if side is not None and lossy else 0

    await _until(lambda: len(inbox.messages) - start + abandoned() >= len(messages),
                 lambda: f"{what}: {len(inbox.messages) - start}/{len(messages)} echoes\n"
                 f"{run_.describe()}")


async def _run(setup: str, negotiated: bool) -> Run:
    timings: dict[str, float] = {}
    drops = _rcvbuf_errors()
    t0 = time.monotonic()
    pc = RTCPeerConnection(configuration=RTCConfiguration(iceServers=[]))
    peer: IceLitePeer | None = None
    release = _offer_loopback()
    try:
        chat = pc.createDataChannel(LABEL, protocol=PROTOCOL)
        loose = pc.createDataChannel(LOOSE_LABEL, ordered=False, maxRetransmits=0)
        timed = pc.createDataChannel(TIMED_LABEL, protocol=TIMED_PROTOCOL,
                                     maxPacketLifeTime=LIFETIME)
        inboxes = {c.label: Inbox(c) for c in (chat, loose, timed)}
        if negotiated:
            neg = pc.createDataChannel(NEG_LABEL, negotiated=True, id=NEG_ID)
            inboxes[NEG_LABEL] = Inbox(neg)
        from_us: list[Inbox] = []  # listening from the 'datachannel' event on, synchronously

        @pc.on("datachannel")
        def _on_datachannel(channel: RTCDataChannel) -> None:
            from_us.append(Inbox(channel))

        await pc.setLocalDescription(await pc.createOffer())  # gathers 127.0.0.1 only
        release()
        offer_sdp = pc.localDescription.sdp
        answer_sdp, peer, side = _answer(offer_sdp, setup, negotiated)
        run_ = Run(setup, negotiated, peer, side, offer_sdp, answer_sdp, inboxes, None, None,
                   timings)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

        # The association and aiortc's in-band channels (opened on both sides).
        labels = [LABEL, LOOSE_LABEL, TIMED_LABEL]
        await _until(lambda: all(side.opened(label) for label in labels)
                     and all(inbox.opened for inbox in inboxes.values()),
                     lambda: f"the channels to open\n{run_.describe()}")
        timings["open"] = time.monotonic() - t0

        # rtcstack's channel: greeting, reply, closed by rtcstack (aiortc's close fires).
        await _until(lambda: bool(from_us), lambda: f"aiortc's datachannel\n{run_.describe()}")
        ours_inbox = run_.ours_inbox = from_us[0]
        theirs = run_.theirs = ours_inbox.channel
        await _until(lambda: bool(ours_inbox.messages),
                     lambda: f"rtcstack's greeting\n{run_.describe()}")
        theirs.send(REPLY)
        await _until(lambda: side.closed(side.ours) and ours_inbox.closed,
                     lambda: f"rtcstack's channel to close\n{run_.describe()}")

        # Echoes on aiortc's channel.
        t = time.monotonic()
        msgs: list[str | bytes] = []
        for size in SIZES:
            msgs += [_text(size), os.urandom(size)]
        msgs += ["", b""]
        await _echo(inboxes[LABEL], msgs, "echoes", run_)
        timings["echoes"] = time.monotonic() - t

        # Unordered, maxRetransmits 0: a burst.
        burst: list[str | bytes] = [os.urandom(BURST_SIZE) for _ in range(BURST)]
        await _echo(inboxes[LOOSE_LABEL], burst, "unordered burst", run_, lossy=True)
        await _echo(inboxes[TIMED_LABEL], ["timed", b"\x00timed"], "timed", run_)
        if negotiated:
            await _echo(inboxes[NEG_LABEL], ["neg", b"\x01neg"], "negotiated", run_)

        # Bulk: 2 MiB in 16 KiB messages, echoed, in order.
        t = time.monotonic()
        block = os.urandom(BULK_TOTAL)
        bulk: list[str | bytes] = [block[i:i + BULK_SIZE] for i in range(0, BULK_TOTAL,
                                                                        BULK_SIZE)]
        await _echo(inboxes[LABEL], bulk, "bulk", run_)
        timings["bulk"] = time.monotonic() - t

        # aiortc closes its channel.
        chat.close()
        chat_here = side.opened(LABEL)
        assert chat_here is not None
        await _until(lambda: inboxes[LABEL].closed and side.closed(chat_here.channel),
                     lambda: f"aiortc's channel to close\n{run_.describe()}")

        # rtcstack shuts the association down gracefully.
        t = time.monotonic()
        peer.submit(side.shutdown)
        await _until(lambda: bool(side.of(TransportClosed)) and pc.sctp is not None
                     and pc.sctp.state == "closed",
                     lambda: f"the shutdown\n{run_.describe()}"
                     f"\naiortc sctp state {pc.sctp.state if pc.sctp else None}")
        timings["shutdown"] = time.monotonic() - t
        run_.sctp_state_after_shutdown = pc.sctp.state if pc.sctp is not None else None
        # aiortc's remaining channels close with its transport.
        await _until(lambda: all(inbox.closed for inbox in inboxes.values()),
                     lambda: f"aiortc's channels to close\n{run_.describe()}")
        timings["total"] = time.monotonic() - t0
        after = _rcvbuf_errors()
        run_.rcvbuf_errors = None if drops is None or after is None else after - drops
        return run_
    finally:
        release()
        try:
            await asyncio.wait_for(pc.close(), 10)
        finally:
            if peer is not None:
                peer.close()


def _check(run_: Run) -> str:
    side, inboxes = run_.side, run_.inboxes
    assert run_.peer.error is None, run_.describe()
    assert not side.errors, run_.describe()
    assert not side.aborts("in") + side.aborts("out"), run_.describe()

    # What was negotiated follows aiortc's INIT (or INIT ACK).
    [connected] = side.of(TransportConnected)
    init = side.peer_init()
    assert init is not None, run_.describe()
    info = connected.info
    ext = init.supported_extensions
    assert info.interleaving == (ChunkType.I_DATA in ext), (info, ext)
    assert info.zero_checksum == (init.zero_checksum_edmid == 1), (info, init)
    forward = (ChunkType.FORWARD_TSN in ext
               or init.param(ParamType.FORWARD_TSN_SUPPORTED) is not None)
    assert info.partial_reliability == forward, (info, init)
    assert info.stream_reset == (ChunkType.RE_CONFIG in ext), (info, ext)

    # aiortc's in-band channels, as created.
    aiortc_parity = 0 if run_.setup == "passive" else 1  # aiortc is the DTLS client: even
    expected = {LABEL: (PROTOCOL, True, None, None),
                LOOSE_LABEL: ("", False, 0, None),
                TIMED_LABEL: (TIMED_PROTOCOL, True, None, LIFETIME)}
    for label, (protocol, ordered, rexmit, lifetime) in expected.items():
        event = side.opened(label)
        assert event is not None and event.remote, run_.describe()
        ch = event.channel
        assert (ch.protocol, ch.ordered, ch.max_retransmits, ch.max_packet_life_time) == (
            protocol, ordered, rexmit, lifetime), (label, ch)
        assert ch.id == inboxes[label].channel.id and ch.id % 2 == aiortc_parity, (label, ch.id)

    # Echoes (sizes, empties, then the bulk), byte for byte and in order, on aiortc's side ...
    def digests(messages: list[str | bytes]) -> list[tuple[str, int, int]]:
        return [digest(m) for m in messages]

    sent, got = run_.sent[LABEL], inboxes[LABEL].messages
    echoes = 2 * len(SIZES) + 2
    assert len(sent) == echoes + BULK_TOTAL // BULK_SIZE
    assert [len(m.encode() if isinstance(m, str) else m) for m in sent[:echoes]] == [
        *[size for size in SIZES for _ in "tb"], 0, 0]
    assert sent[echoes - 2:echoes] == ["", b""]
    assert len(got) == len(sent), run_.describe()
    bad = [i for i, (a, b) in enumerate(zip(sent, got, strict=True)) if a != b]
    assert not bad, f"echoes {bad} differ: {digests([got[i] for i in bad][:5])}"
    # ... and on rtcstack's, as they arrived (type, length, CRC-32).
    assert side.received[LABEL] == digests(sent)

    # Empty messages on the wire: PPID 56 / 57 with one zero byte, both ways (first sending
    # of each TSN: a DATA chunk can be retransmitted, see the summary).
    def empties(direction: str) -> list[tuple[int, bytes]]:
        by_tsn = {c.tsn: (c.ppid, c.user_data) for c in side.chunks(direction)
                  if isinstance(c, DataChunk) and c.ppid in (Ppid.STRING_EMPTY,
                                                             Ppid.BINARY_EMPTY)}
        return list(by_tsn.values())

    assert empties("in") == [(56, b"\x00"), (57, b"\x00")], empties("in")
    assert empties("out") == [(56, b"\x00"), (57, b"\x00")], empties("out")

    # Unordered, maxRetransmits 0: rtcstack got the whole burst (our socket drops nothing);
    # aiortc got every echo but what rtcstack abandoned after a drop at aiortc's socket.
    burst = run_.sent[LOOSE_LABEL]
    assert sorted(side.received[LOOSE_LABEL]) == sorted(digests(burst))
    loose_got = inboxes[LOOSE_LABEL].messages
    assert all(m in burst for m in loose_got)
    stats = side.channels.association.stats if side.channels else None
    assert stats is not None and len(loose_got) + stats.abandoned_messages >= BURST
    assert inboxes[TIMED_LABEL].messages == run_.sent[TIMED_LABEL]

    # The negotiated channel: no DCEP on its stream either way.
    if run_.negotiated:
        assert side.neg is not None and side.neg.negotiated
        assert inboxes[NEG_LABEL].messages == run_.sent[NEG_LABEL]
        assert side.received[NEG_LABEL] == digests(run_.sent[NEG_LABEL])
        dcep = [c for c in side.chunks("in") + side.chunks("out")
                if isinstance(c, DataChunk) and c.stream_id == NEG_ID and c.ppid == Ppid.DCEP]
        assert not dcep, dcep
        assert side.closed(side.neg), run_.describe()

    # rtcstack's channel as aiortc saw it.
    theirs = run_.theirs
    assert theirs is not None
    assert (theirs.label, theirs.protocol, theirs.negotiated, theirs.ordered) == (
        OUR_LABEL, OUR_PROTOCOL, False, True)
    assert side.ours is not None and theirs.id == side.ours.id
    assert theirs.id % 2 == 1 - aiortc_parity
    assert side.replies == [REPLY]
    assert run_.ours_inbox is not None and run_.ours_inbox.messages == [GREETING]
    assert theirs.readyState == "closed"

    # aiortc closed its channel; rtcstack shut down gracefully.
    chat = side.opened(LABEL)
    assert chat is not None and side.closed(chat.channel)
    assert side.of(TransportClosed) == [TransportClosed(None, remote=False)], run_.describe()
    assert run_.sctp_state_after_shutdown == "closed"

    names = chunk_type_names(ext)
    tm = run_.timings
    spurious = sum(len(c.duplicates) for c in side.chunks("in") if isinstance(c, SackChunk))
    return (f"aiortc setup:{run_.setup} negotiated:{run_.negotiated}: aiortc "
            f"{type(init).__name__} extensions {names}, forward-tsn-supported "
            f"{init.param(ParamType.FORWARD_TSN_SUPPORTED) is not None}, zero-checksum EDMID "
            f"{init.zero_checksum_edmid}, a_rwnd {init.a_rwnd}, streams "
            f"{init.outbound_streams}/{init.inbound_streams}; Connected interleaving="
            f"{info.interleaving} zero_checksum={info.zero_checksum} partial_reliability="
            f"{info.partial_reliability} stream_reset={info.stream_reset}; open "
            f"{tm['open'] * 1000:.0f} ms, echoes {tm['echoes'] * 1000:.0f} ms, bulk 2x2 MiB "
            f"{tm['bulk'] * 1000:.0f} ms, shutdown {tm['shutdown'] * 1000:.0f} ms, total "
            f"{tm['total']:.2f} s; our retransmissions "
            f"{stats.retransmissions} (fast {stats.fast_retransmissions}, T3 "
            f"{stats.t3_expirations}), duplicate TSNs {stats.duplicate_tsns}, abandoned "
            f"{stats.abandoned_messages}, unordered echoes {len(loose_got)}/{BURST}; duplicate "
            f"TSNs in aiortc's SACKs {spurious}, UDP RcvbufErrors {run_.rcvbuf_errors}")


@pytest.mark.parametrize("negotiated", [False, True], ids=["in-band", "negotiated"])
@pytest.mark.parametrize("setup", ["passive", "active"])
def test_aiortc_data_channels_with_rtcstack_sctp(setup: str, negotiated: bool) -> None:
    run_ = asyncio.run(_run(setup, negotiated))
    print(_check(run_))
