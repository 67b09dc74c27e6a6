"""RTP and RTCP (RFC 3550), usable on their own.

Scope: RTP packets (RFC 3550 §5.1) with RFC 8285 header extensions (one-byte, two-byte, mixed)
and typed values for the extensions WebRTC uses; RTX encapsulation (RFC 4588 §4); RTCP
compound packets (RFC 3550 §6: SR, RR, SDES, BYE, APP; RFC 3611 XR RRTR/DLRR; RFC 4585 NACK,
PLI, SLI; RFC 5104 TMMBR/TMMBN, FIR; transport-wide CC feedback; REMB; RFC 5506 reduced size).
Not here: payload formats (``rtcstack.rtp.formats``), encryption (``rtcstack.srtp``).

Building, sending and reading an RTP packet::

    >>> from rtcstack.rtp import RtpPacket, ExtensionMap, Mid, AudioLevel
    >>> extmap = ExtensionMap({1: Mid.URI, 2: AudioLevel.URI})
    >>> packet = RtpPacket(111, 1000, 48000, 0x1234ABCD, payload=b"opus",
    ...                    extensions=extmap.encode([Mid("0"), AudioLevel(True, 30)]))
    >>> data = packet.serialize()
    >>> data.hex(" ", 4)  # header, 0xBEDE extension of 1 word: mid "0", level 30 + voice
    '906f03e8 0000bb80 1234abcd bede0001 1030209e 6f707573'
    >>> parsed = RtpPacket.parse(data)
    >>> parsed == packet, parsed.sequence_number, parsed.payload
    (True, 1000, b'opus')
    >>> extmap.get(parsed.extensions, AudioLevel)
    AudioLevel(voice=True, level=30)

RTCP: a compound packet is a list of packet values::

    >>> from rtcstack.rtp import ReceiverReport, Nack, parse_rtcp, serialize_rtcp
    >>> data = serialize_rtcp([ReceiverReport(1), Nack.from_lost(1, 0x1234ABCD, [7, 8, 10])])
    >>> rr, nack = parse_rtcp(data)
    >>> nack.items, nack.lost
    (((7, 5),), [7, 8, 10])

``RtpPacket.parse`` and ``parse_rtcp`` raise :class:`rtcstack.ParseError` (a ``ValueError``)
for anything that is not well formed; unknown RTCP packet types are kept as ``UnknownRtcp``,
not fatal.
"""

from rtcstack.rtp.extensions import (
    REGISTRY,
    AbsCaptureTime,
    AbsSendTime,
    AudioLevel,
    ExtensionMap,
    ExtensionValue,
    Mid,
    PlayoutDelay,
    RepairedRid,
    Rid,
    TransportSequenceNumber,
    VideoOrientation,
)
from rtcstack.rtp.packet import (
    ONE_BYTE_PROFILE,
    TWO_BYTE_PROFILE,
    RtpPacket,
    decode_extension_elements,
    encode_extension_elements,
    rtx_unwrap,
    rtx_wrap,
)
from rtcstack.rtp.rtcp import (
    App,
    Bye,
    Dlrr,
    DlrrItem,
    Feedback,
    Fir,
    FirItem,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    Rrtr,
    RtcpPacket,
    Sdes,
    SdesChunk,
    SdesItemType,
    SenderReport,
    Sli,
    SliItem,
    TmmbItem,
    Tmmbn,
    Tmmbr,
    TransportCc,
    UnknownRtcp,
    UnknownXrBlock,
    Xr,
    XrBlock,
    is_rtcp,
    parse_rtcp,
    serialize_rtcp,
)

__all__ = [
    "ONE_BYTE_PROFILE",
    "REGISTRY",
    "TWO_BYTE_PROFILE",
    "AbsCaptureTime",
    "AbsSendTime",
    "App",
    "AudioLevel",
    "Bye",
    "Dlrr",
    "DlrrItem",
    "ExtensionMap",
    "ExtensionValue",
    "Feedback",
    "Fir",
    "FirItem",
    "Mid",
    "Nack",
    "PlayoutDelay",
    "Pli",
    "ReceiverReport",
    "Remb",
    "RepairedRid",
    "ReportBlock",
    "Rid",
    "Rrtr",
    "RtcpPacket",
    "RtpPacket",
    "Sdes",
    "SdesChunk",
    "SdesItemType",
    "SenderReport",
    "Sli",
    "SliItem",
    "TmmbItem",
    "Tmmbn",
    "Tmmbr",
    "TransportCc",
    "TransportSequenceNumber",
    "UnknownRtcp",
    "UnknownXrBlock",
    "VideoOrientation",
    "Xr",
    "XrBlock",
    "decode_extension_elements",
    "encode_extension_elements",
    "is_rtcp",
    "parse_rtcp",
    "rtx_unwrap",
    "rtx_wrap",
    "serialize_rtcp",
]
