"""SCTP (RFC 9260) over DTLS (RFC 8261) and WebRTC data channels (RFC 8831, RFC 8832), sans-IO.

Imports only :mod:`rtcstack.common`, ``cryptography`` (the HMAC of the state cookie) and
``google_crc32c`` (CRC32c in C).  The asyncio driver over a DTLS endpoint is
:class:`rtcstack.asyncio.sctp.SctpTransport`; the full account is ``docs/layers/sctp.md``.

==========================  ===============================================================
module                      what
==========================  ===============================================================
:mod:`.chunks`              RFC 9260 §3 packet, chunks, parameters and error causes;
                            FORWARD-TSN (RFC 3758 §3.2), RE-CONFIG (RFC 6525 §3-4), I-DATA and
                            I-FORWARD-TSN (RFC 8260 §2), Supported Extensions (RFC 5061
                            §4.2.7), Zero Checksum Acceptable (RFC 9653 §4)
:mod:`.crc32c`              RFC 9260 §6.8 / Appendix A checksum (``google_crc32c``), plus a
                            pure-Python Appendix A oracle for tests
:mod:`.association`         :class:`Association`: RFC 9260 §4-§9 state machine, timers,
                            SACKs, congestion control, fragmentation; RFC 3758 partial
                            reliability; RFC 8260 interleaving; RFC 6525 outgoing stream reset;
                            RFC 9653 zero checksums
:mod:`.dcep`                RFC 8832 §5 DATA_CHANNEL_OPEN / ACK, RFC 8831 §8 PPIDs
:mod:`.datachannel`         :class:`DataChannels`: RFC 8831 channels on one association (W3C
                            RTCDataChannel model), RFC 8841 max-message-size
:mod:`.vectors`             checkers for ``rfc-vectors/rfc7143`` (CRC32c) and DCEP captures
==========================  ===============================================================

Out of scope: multi-homing and ASCONF (RFC 5061 address changes), AUTH (RFC 4895), ECN,
path MTU discovery (the MTU is configured: one SCTP packet must fit one DTLS record, RFC 8261
§5), RE-CONFIG requests other than the outgoing SSN reset (incoming-SSN, SSN/TSN and
add-streams requests are answered Denied), a partial delivery API (a message above
``max_message_size`` aborts the association), and SCTP over anything but DTLS (no ports to
demultiplex, no out-of-the-blue ABORTs).

Both :class:`Association` and :class:`DataChannels` speak the drive loop every stateful
rtcstack layer speaks; packets in and out are the payloads of DTLS application-data records,
one packet per record (RFC 8261 §5)::

    side.connect(now=now)                    # both WebRTC peers do: the INIT collision resolves
    side.handle_packet(data, now=now)        # never raises on bad input: counted in stats
    side.handle_timeout(now=now)             # T1, T2, T3, delayed SACK, heartbeat, RE-CONFIG
    side.poll_transmit() -> bytes | None     # drain until None; each one DTLS record
    side.poll_event()    -> event | None     # drain until None
    side.poll_timeout()  -> float | None     # one absolute deadline; None once closed

Drain ``poll_transmit()`` before ``poll_event()``: events that sending causes (a buffered
amount falling) appear once the packets are built.  User actions
(:meth:`DataChannels.create_channel`, :meth:`DataChannel.send`,
:meth:`DataChannel.close`, :meth:`DataChannels.close`; :meth:`Association.send`,
:meth:`Association.reset_streams`, :meth:`Association.shutdown`, :meth:`Association.abort`)
only queue work.  API misuse raises :class:`~rtcstack.common.errors.InvalidStateError` or
``ValueError`` at once; a protocol failure sends ABORT and ends in a ``Closed`` event.

Two peers in memory on a virtual clock: open, open a channel, talk, close.

>>> from rtcstack.sctp import ChannelMessage, DataChannels
>>> client, server = DataChannels("client"), DataChannels("server")  # the DTLS roles
>>> def run(now, until):
...     while True:
...         moved = False
...         for sender, receiver in ((client, server), (server, client)):
...             while (packet := sender.poll_transmit()) is not None:
...                 receiver.handle_packet(packet, now=now)
...                 moved = True
...         due = [t for t in (client.poll_timeout(), server.poll_timeout()) if t is not None]
...         if moved:
...             continue
...         if not due or min(due) > until:
...             return
...         now = max(now, min(due))
...         client.handle_timeout(now=now)
...         server.handle_timeout(now=now)
>>> def events(side):
...     return list(iter(side.poll_event, None))
>>> client.connect(now=0.0)
>>> server.connect(now=0.0)
>>> run(0.0, until=0.0)
>>> [connected] = events(client)
>>> connected.info.interleaving, connected.info.zero_checksum  # I-DATA, RFC 9653 over DTLS
(True, True)
>>> chat = client.create_channel("chat", now=0.0)  # DTLS client: even stream ids
>>> chat.send("hello", now=0.0)  # usable at once; ordered until the peer's DATA_CHANNEL_ACK
>>> run(0.0, until=0.0)
>>> _connected, opened, message = events(server)
>>> opened.remote, opened.channel.id, opened.channel.label, message.data
(True, 0, 'chat', 'hello')
>>> opened.channel.send(b"\\x01\\x02", now=0.01)
>>> run(0.01, until=0.01)
>>> [e.data for e in events(client) if isinstance(e, ChannelMessage)]
[b'\\x01\\x02']
>>> chat.close(now=0.5)  # RFC 8831 §6.7: reset our outgoing stream; the peer resets its own
>>> run(0.5, until=1.0)
>>> chat.ready_state.name, 0 in server.channels
('CLOSED', False)
>>> client.close(now=1.0)  # RFC 9260 §9.2 SHUTDOWN
>>> run(1.0, until=2.0)
>>> events(client)[-1], events(server)[-1]
(TransportClosed(error=None, remote=False), TransportClosed(error=None, remote=True))
>>> client.poll_timeout(), server.poll_timeout()  # no timer is left armed
(None, None)
"""

from __future__ import annotations

from rtcstack.sctp.association import (
    Association,
    AssociationState,
    BufferedAmountLow,
    Closed,
    Connected,
    Event,
    MessageReceived,
    SctpConfig,
    SctpStats,
    StreamsReset,
)
from rtcstack.sctp.chunks import (
    AbortChunk,
    CauseCode,
    Chunk,
    ChunkType,
    CookieAckChunk,
    CookieEchoChunk,
    DataChunk,
    ErrorCause,
    ErrorChunk,
    ForwardTsnChunk,
    HeartbeatAckChunk,
    HeartbeatChunk,
    IDataChunk,
    IForwardTsnChunk,
    IncomingSsnResetRequest,
    InitAckChunk,
    InitChunk,
    OutgoingSsnResetRequest,
    Packet,
    Parameter,
    ParamType,
    ReconfigChunk,
    ReconfigParam,
    ReconfigResponse,
    ReconfigResult,
    SackChunk,
    SctpParseError,
    ShutdownAckChunk,
    ShutdownChunk,
    ShutdownCompleteChunk,
    UnknownChunk,
    parse_chunks,
)
from rtcstack.sctp.crc32c import (
    check_checksum,
    crc32c,
    crc32c_extend,
    packet_checksum,
    with_checksum,
)
from rtcstack.sctp.datachannel import (
    DEFAULT_REMOTE_MAX_MESSAGE_SIZE,
    ChannelBufferedAmountLow,
    ChannelClosed,
    ChannelMessage,
    ChannelOpened,
    DataChannel,
    DataChannelEvent,
    DataChannels,
    DataChannelState,
    TransportClosed,
    TransportConnected,
)
from rtcstack.sctp.dcep import (
    PRIORITY_BELOW_NORMAL,
    PRIORITY_EXTRA_HIGH,
    PRIORITY_HIGH,
    PRIORITY_NORMAL,
    ChannelType,
    DataChannelAck,
    DataChannelOpen,
    DcepMessage,
    DcepParseError,
    MessageType,
    Ppid,
    parse_dcep,
)

__all__ = [
    "DEFAULT_REMOTE_MAX_MESSAGE_SIZE",
    "PRIORITY_BELOW_NORMAL",
    "PRIORITY_EXTRA_HIGH",
    "PRIORITY_HIGH",
    "PRIORITY_NORMAL",
    "AbortChunk",
    "Association",
    "AssociationState",
    "BufferedAmountLow",
    "CauseCode",
    "ChannelBufferedAmountLow",
    "ChannelClosed",
    "ChannelMessage",
    "ChannelOpened",
    "ChannelType",
    "Chunk",
    "ChunkType",
    "Closed",
    "Connected",
    "CookieAckChunk",
    "CookieEchoChunk",
    "DataChannel",
    "DataChannelAck",
    "DataChannelEvent",
    "DataChannelOpen",
    "DataChannelState",
    "DataChannels",
    "DataChunk",
    "DcepMessage",
    "DcepParseError",
    "ErrorCause",
    "ErrorChunk",
    "Event",
    "ForwardTsnChunk",
    "HeartbeatAckChunk",
    "HeartbeatChunk",
    "IDataChunk",
    "IForwardTsnChunk",
    "IncomingSsnResetRequest",
    "InitAckChunk",
    "InitChunk",
    "MessageReceived",
    "MessageType",
    "OutgoingSsnResetRequest",
    "Packet",
    "ParamType",
    "Parameter",
    "Ppid",
    "ReconfigChunk",
    "ReconfigParam",
    "ReconfigResponse",
    "ReconfigResult",
    "SackChunk",
    "SctpConfig",
    "SctpParseError",
    "SctpStats",
    "ShutdownAckChunk",
    "ShutdownChunk",
    "ShutdownCompleteChunk",
    "StreamsReset",
    "TransportClosed",
    "TransportConnected",
    "UnknownChunk",
    "check_checksum",
    "crc32c",
    "crc32c_extend",
    "packet_checksum",
    "parse_chunks",
    "parse_dcep",
    "with_checksum",
]
