"""RTP hot path: parse and serialize a 1200-byte video packet with three header extensions
(mid, abs-send-time, transport-wide sequence number: what a browser's video packets carry),
rtcstack vs aiortc's ``aiortc.rtp.RtpPacket`` (issue #4, target >= 2x aiortc).

aiortc always decodes the extensions it knows into typed values when it parses (its
``HeaderExtensionsMap``), and encodes them from typed values when it serializes.  rtcstack's
parse keeps the RFC 8285 elements as ``(id, bytes)`` and decodes on request, so the rows say
which work each side does:

- "parse + serialize": both turn the bytes into a packet and back into identical bytes;
  rtcstack does not decode the extension values (it does not need to, to forward a packet).
- "parse + read 3 typed extensions + serialize": rtcstack also decodes all three values
  through an ``ExtensionMap``, which is the work aiortc always does.
- "build from values + serialize": both build a packet from typed extension values.
"""

from __future__ import annotations

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap
from aiortc.rtp import RtpPacket as AiortcPacket

from bench.harness import Case
from rtcstack.rtp import AbsSendTime, ExtensionMap, Mid, RtpPacket, TransportSequenceNumber

REFERENCE = "aiortc"
TARGET_RATIO = 2.0

URIS = {1: Mid.URI, 2: AbsSendTime.URI, 3: TransportSequenceNumber.URI}
EXTMAP = ExtensionMap(URIS)
AIORTC_MAP = HeaderExtensionsMap()
AIORTC_MAP.configure(
    RTCRtpParameters(
        headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for i, u in URIS.items()]
    )
)
PAYLOAD = (bytes(range(256)) * 5)[:1168]  # 12 + 20 (extension block) + 1168 = 1200
VALUES = (Mid("video0"), AbsSendTime(0x2A5B3C), TransportSequenceNumber(4711))
DATA = RtpPacket(96, 4242, 0x12345678, 0xCAFEBABE, PAYLOAD, True,
                 extensions=EXTMAP.encode(VALUES)).serialize()
EXPECT_VALUES = ("video0", 0x2A5B3C, 4711)


def _ours_round_trip() -> bytes:
    return RtpPacket.parse(DATA).serialize()


def _aiortc_round_trip() -> bytes:
    return AiortcPacket.parse(DATA, AIORTC_MAP).serialize(AIORTC_MAP)


def _ours_typed_round_trip() -> tuple[tuple[str, int, int], bytes]:
    packet = RtpPacket.parse(DATA)
    ext = packet.extensions
    mid = EXTMAP.get(ext, Mid)
    send = EXTMAP.get(ext, AbsSendTime)
    tsn = EXTMAP.get(ext, TransportSequenceNumber)
    if mid is None or send is None or tsn is None:
        raise AssertionError("extension missing")
    return (mid.value, send.value, tsn.value), packet.serialize()


def _aiortc_typed_round_trip() -> tuple[tuple[str, int, int], bytes]:
    packet = AiortcPacket.parse(DATA, AIORTC_MAP)
    x = packet.extensions
    values = (x.mid, x.abs_send_time, x.transport_sequence_number)
    return values, packet.serialize(AIORTC_MAP)  # type: ignore[return-value]


def _ours_build() -> bytes:
    return RtpPacket(96, 4242, 0x12345678, 0xCAFEBABE, PAYLOAD, True,
                     extensions=EXTMAP.encode(VALUES)).serialize()


def _aiortc_build() -> bytes:
    packet = AiortcPacket(payload_type=96, marker=1, sequence_number=4242,
                          timestamp=0x12345678, ssrc=0xCAFEBABE, payload=PAYLOAD)
    packet.extensions.mid = "video0"
    packet.extensions.abs_send_time = 0x2A5B3C
    packet.extensions.transport_sequence_number = 4711
    return packet.serialize(AIORTC_MAP)


def _ours_parse() -> int:
    return RtpPacket.parse(DATA).sequence_number


def _aiortc_parse() -> int:
    return AiortcPacket.parse(DATA, AIORTC_MAP).sequence_number


def cases() -> list[Case]:
    return [
        Case("1200-byte packet, 3 extensions: parse + serialize", _ours_round_trip,
             _aiortc_round_trip, expect=DATA),
        Case("1200-byte packet: parse + read 3 typed extensions + serialize",
             _ours_typed_round_trip, _aiortc_typed_round_trip, expect=(EXPECT_VALUES, DATA)),
        Case("1200-byte packet: build from 3 typed extension values + serialize", _ours_build,
             _aiortc_build, expect=DATA),
        Case("1200-byte packet, 3 extensions: parse only", _ours_parse, _aiortc_parse,
             expect=4242),
    ]
