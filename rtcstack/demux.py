"""RFC 7983 §7 / RFC 9443 §3: classify a datagram by its first byte.

One UDP port carries STUN, DTLS, TURN ChannelData, SRTP and SRTCP (and possibly ZRTP or QUIC);
the first byte tells them apart::

    [0..3]     STUN              [64..79]   TURN ChannelData
    [4..15]    drop              [80..127]  QUIC
    [16..19]   ZRTP              [128..191] RTP / RTCP
    [20..63]   DTLS              [192..255] QUIC

Within [128..191], RTCP is told from RTP by the second byte, the RTCP packet type (RFC 5761 §4:
payload types 64-95, i.e. packet types 192-223, are RTCP).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["PacketKind", "classify"]


class PacketKind(Enum):
    STUN = "stun"
    ZRTP = "zrtp"
    DTLS = "dtls"
    CHANNEL_DATA = "channel-data"
    RTP = "rtp"
    RTCP = "rtcp"
    QUIC = "quic"
    UNKNOWN = "unknown"


def classify(data: bytes) -> PacketKind:
    """Return the kind of ``data`` by RFC 9443 §3's first-byte ranges (``UNKNOWN`` to drop)."""
    if not data:
        return PacketKind.UNKNOWN
    b = data[0]
    if b <= 3:
        return PacketKind.STUN
    if b < 16:
        return PacketKind.UNKNOWN
    if b < 20:
        return PacketKind.ZRTP
    if b < 64:
        return PacketKind.DTLS
    if b < 80:
        return PacketKind.CHANNEL_DATA
    if b < 128:
        return PacketKind.QUIC
    if b < 192:
        if len(data) >= 2 and 192 <= data[1] <= 223:
            return PacketKind.RTCP
        return PacketKind.RTP
    return PacketKind.QUIC
