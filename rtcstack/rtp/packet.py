"""RFC 3550 §5.1 RTP fixed header, §5.3.1 header extension, RFC 8285 extension elements,
RFC 4588 §4 RTX encapsulation.

This is the per-packet hot path.  :meth:`RtpPacket.parse` unpacks the 12-byte fixed header with
one ``struct`` call and builds exactly one object; the payload is one slice of the input.  The
header extension is decoded into an ordered tuple of ``(id, data)`` elements (RFC 8285 §4.2
one-byte and §4.3 two-byte forms; the two-byte form carries one-byte-sized elements too, which
is how "mixed" extensions, ``a=extmap-allow-mixed``, travel).  Typed values for the elements
WebRTC uses are in :mod:`rtcstack.rtp.extensions`.
"""

from __future__ import annotations

import struct

from rtcstack.common.errors import ParseError

__all__ = [
    "HEADER_SIZE",
    "ONE_BYTE_PROFILE",
    "TWO_BYTE_PROFILE",
    "RtpPacket",
    "decode_extension_elements",
    "encode_extension_elements",
    "rtx_unwrap",
    "rtx_wrap",
]

HEADER_SIZE = 12
ONE_BYTE_PROFILE = 0xBEDE  # RFC 8285 §4.2
TWO_BYTE_PROFILE = 0x1000  # RFC 8285 §4.3: 0x100 then 4 "appbits"

_FIXED = struct.Struct("!BBHII")
_new = object.__new__
_HH = struct.Struct("!HH")
_BYTE = tuple(bytes((i,)) for i in range(256))
_ZEROS = (b"", b"\x00", b"\x00\x00", b"\x00\x00\x00")
_CSRC = tuple(struct.Struct(f"!{n}I") for n in range(16))

Extensions = tuple[tuple[int, bytes], ...]
# (the extensions tuple, the profile, the extension block's bytes as parsed): serialize() reuses
# the bytes while the packet's ``extensions`` is still that very tuple and the profile is
# unchanged, instead of encoding the elements again.
_Wire = tuple[Extensions, "int | None", bytes]


def decode_extension_elements(profile: int, body: bytes, base: int = 0) -> Extensions:
    """RFC 8285 §4.2-4.3: the elements of a one-byte (0xBEDE) or two-byte (0x100X) extension.

    ``base`` is the offset of ``body`` in the packet, for error offsets.  Padding bytes (value
    0) are skipped (§4.1.2).
    """
    return _decode_elements(profile, body, 0, len(body), base)


def _decode_elements(profile: int, data: bytes, pos: int, n: int, base: int) -> Extensions:
    # Decodes data[pos:n] in place (no slice of the block); ``base`` maps offsets for errors.
    out: list[tuple[int, bytes]] = []
    if profile == ONE_BYTE_PROFILE:
        while pos < n:
            b = data[pos]
            if b == 0:  # RFC 8285 §4.1.2: "padding bytes have the value of 0"
                pos += 1
                continue
            ident = b >> 4
            if ident == 0 or ident == 15:
                # RFC 8285 §4.2: "If the ID value 15 is encountered, its length field MUST be
                # ignored, processing of the entire extension MUST terminate at that point";
                # §4.1.2 says the same of an ID 0 element with a length greater than 0.
                break
            end = pos + 2 + (b & 0x0F)
            if end > n:
                raise ParseError(
                    f"RTP: one-byte extension element {ident} runs past the extension", base + pos
                )
            out.append((ident, data[pos + 1 : end]))
            pos = end
    else:
        while pos < n:
            ident = data[pos]
            if ident == 0:
                pos += 1
                continue
            if pos + 2 > n:
                raise ParseError(
                    f"RTP: two-byte extension element {ident} has no length byte", base + pos
                )
            end = pos + 2 + data[pos + 1]
            if end > n:
                raise ParseError(
                    f"RTP: two-byte extension element {ident} runs past the extension", base + pos
                )
            out.append((ident, data[pos + 2 : end]))
            pos = end
    return tuple(out)


def _fits_one_byte(extensions: Extensions) -> bool:
    for ident, data in extensions:  # a loop: cheaper than all() over a generator on 3.11
        if ident > 14 or ident < 1 or not 0 < len(data) < 17:
            return False
    return True


def encode_extension_elements(extensions: Extensions, profile: int | None = None) -> bytes:
    """The 4-byte extension header (profile, length) and the elements, zero-padded to 32 bits.

    ``profile`` None chooses the one-byte form when every element fits it (RFC 8285 §4.1.2:
    "Transmitters SHOULD NOT use the two-byte header form when all extensions are small enough
    for the one-byte header form"), else the two-byte form.
    """
    if profile is None or profile == ONE_BYTE_PROFILE:
        parts = []
        size = 0
        for ident, data in extensions:
            n = len(data)
            if ident > 14 or ident < 1 or n > 16 or n < 1:
                if profile is None:  # does not fit the one-byte form: use the two-byte form
                    return encode_extension_elements(extensions, TWO_BYTE_PROFILE)
                if ident > 14 or ident < 1:
                    raise ValueError(
                        f"one-byte extension ID {ident} is not in 1-14 (RFC 8285 §4.2)"
                    )
                raise ValueError(f"one-byte extension {ident} has {n} bytes, not 1-16")
            parts.append(_BYTE[(ident << 4) | (n - 1)])
            parts.append(data)
            size += n + 1
        pad = -size & 3
        if size > 0x3FFFC:
            raise ValueError("header extension longer than 65535 words")
        if pad:
            parts.append(_ZEROS[pad])
        return _HH.pack(ONE_BYTE_PROFILE, (size + pad) >> 2) + b"".join(parts)
    body = bytearray()
    if profile & 0xFFF0 == TWO_BYTE_PROFILE:
        for ident, data in extensions:
            size = len(data)
            if not 1 <= ident <= 255:
                raise ValueError(f"two-byte extension ID {ident} is not in 1-255 (RFC 8285 §4.3)")
            if size > 255:
                raise ValueError(f"two-byte extension {ident} has {size} bytes, more than 255")
            body.append(ident)
            body.append(size)
            body += data
    else:
        # RFC 3550 §5.3.1, a profile other than RFC 8285's: one opaque element with ID 0.
        if len(extensions) != 1 or extensions[0][0] != 0:
            raise ValueError(
                f"extension profile 0x{profile:04x} is not RFC 8285's: extensions must be "
                "((0, data),) with the whole extension body"
            )
        body += extensions[0][1]
        if len(body) & 3:
            raise ValueError("RFC 3550 §5.3.1: a header extension is a whole number of words")
    if not 0 <= profile <= 0xFFFF:
        raise ValueError(f"extension profile {profile} is not 16 bits")
    body += b"\x00" * (-len(body) & 3)
    words = len(body) >> 2
    if words > 0xFFFF:
        raise ValueError("header extension longer than 65535 words")
    return _HH.pack(profile, words) + body


class RtpPacket:
    """An RTP packet (RFC 3550 §5.1).

    ``extensions`` is the ordered tuple of RFC 8285 ``(id, data)`` elements.
    ``extension_profile`` is ``None`` when the wire form is the one :meth:`serialize` chooses
    by itself (no extension block when there are no elements; else one-byte when every element
    fits it, else two-byte 0x1000); otherwise it is the profile to write: 0xBEDE, 0x1000-0x100F
    (two-byte, the low 4 bits are the "appbits"), or another RFC 3550 §5.3.1 profile, whose
    whole body is then the single element ``(0, data)``.  :meth:`parse` sets it the same way, so
    parse and serialize are inverse on packets without extension padding.

    ``padding`` is the number of RTP padding bytes (RFC 3550 §5.1: the last one holds the count,
    so it is 0 or 1-255); :meth:`serialize` writes zeros and the count.

    Treat a packet as a value; it is a plain slotted class (not frozen) for construction speed.
    """

    __slots__ = (
        "_wire",
        "csrcs",
        "extension_profile",
        "extensions",
        "marker",
        "padding",
        "payload",
        "payload_type",
        "sequence_number",
        "ssrc",
        "timestamp",
    )

    def __init__(
        self,
        payload_type: int,
        sequence_number: int,
        timestamp: int,
        ssrc: int,
        payload: bytes = b"",
        marker: bool = False,
        csrcs: tuple[int, ...] = (),
        extensions: Extensions = (),
        padding: int = 0,
        extension_profile: int | None = None,
    ) -> None:
        self.payload_type = payload_type
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.payload = payload
        self.marker = marker
        self.csrcs = csrcs
        self.extensions = extensions
        self.padding = padding
        self.extension_profile = extension_profile
        self._wire: _Wire | None = None

    def _key(self) -> tuple[object, ...]:
        return (
            self.payload_type,
            self.sequence_number,
            self.timestamp,
            self.ssrc,
            self.payload,
            self.marker,
            self.csrcs,
            self.extensions,
            self.padding,
            self.extension_profile,
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not RtpPacket:
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        ext = f", extensions={self.extensions!r}" if self.extensions else ""
        return (
            f"RtpPacket(pt={self.payload_type}, seq={self.sequence_number}, "
            f"ts={self.timestamp}, ssrc=0x{self.ssrc:08x}, marker={self.marker}, "
            f"payload={len(self.payload)} bytes{ext})"
        )

    # --- access -----------------------------------------------------------------------------

    def extension(self, ident: int) -> bytes | None:
        """The data of the first extension element with local ID ``ident``, or ``None``."""
        for i, data in self.extensions:
            if i == ident:
                return data
        return None

    def with_extension(self, ident: int, data: bytes) -> RtpPacket:
        """A copy with element ``ident`` set to ``data`` (replaced in place, or appended)."""
        items = [(i, d) for i, d in self.extensions if i != ident]
        if len(items) == len(self.extensions):
            items.append((ident, data))
            new = tuple(items)
        else:
            new = tuple((i, data if i == ident else d) for i, d in self.extensions)
        return self.copy(extensions=new)

    def copy(self, **changes: object) -> RtpPacket:
        """A shallow copy with the given attributes replaced."""
        new = RtpPacket.__new__(RtpPacket)
        for name in RtpPacket.__slots__:
            setattr(new, name, changes.pop(name, getattr(self, name)))
        if changes:
            raise TypeError(f"RtpPacket has no attribute(s) {', '.join(changes)}")
        return new

    # --- wire format ------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> RtpPacket:
        """Parse one RTP packet (RFC 3550 §5.1); :class:`ParseError` if it is malformed."""
        if type(data) is not bytes:
            data = bytes(data)
        n = len(data)
        if n < HEADER_SIZE:
            raise ParseError(f"RTP: {n} bytes, shorter than the 12-byte header", 0)
        b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data)
        if b0 >> 6 != 2:
            raise ParseError(f"RTP: version {b0 >> 6}, not 2 (RFC 3550 §5.1)", 0)
        pos = HEADER_SIZE
        cc = b0 & 0x0F
        csrcs: tuple[int, ...] = ()
        if cc:
            pos += 4 * cc
            if pos > n:
                raise ParseError(f"RTP: {cc} CSRCs run past the packet", HEADER_SIZE)
            csrcs = _CSRC[cc].unpack_from(data, HEADER_SIZE)
        extensions: Extensions = ()
        profile: int | None = None
        block = b""
        if b0 & 0x10:
            if pos + 4 > n:
                raise ParseError("RTP: header extension header runs past the packet", pos)
            profile, words = _HH.unpack_from(data, pos)
            start = pos + 4
            pos = start + 4 * words
            if pos > n:
                raise ParseError(
                    f"RTP: header extension of {words} words runs past the packet", start - 4
                )
            if profile == ONE_BYTE_PROFILE:
                extensions = _decode_elements(profile, data, start, pos, 0)
                if extensions:  # one-byte elements always fit the form serialize() picks
                    profile = None
            elif profile & 0xFFF0 == TWO_BYTE_PROFILE:
                extensions = _decode_elements(profile, data, start, pos, 0)
                if profile == TWO_BYTE_PROFILE and extensions and not _fits_one_byte(extensions):
                    profile = None  # the form serialize() picks by itself
            else:
                extensions = ((0, data[start:pos]),)
            block = data[start - 4 : pos]
        padding = 0
        end = n
        if b0 & 0x20:
            padding = data[-1]
            # RFC 3550 §5.1: "The last octet of the padding contains a count of how many padding
            # octets should be ignored, including itself."
            if padding == 0:
                raise ParseError("RTP: padding bit set but the padding count is 0", n - 1)
            end = n - padding
            if end < pos:
                raise ParseError(f"RTP: padding count {padding} exceeds the payload", n - 1)
        # Slot stores on a bare instance: a third cheaper than the 10-argument __init__ call.
        packet = _new(cls)
        packet.payload_type = b1 & 0x7F
        packet.sequence_number = seq
        packet.timestamp = ts
        packet.ssrc = ssrc
        packet.payload = data[pos:end]
        packet.marker = b1 > 0x7F
        packet.csrcs = csrcs
        packet.extensions = extensions
        packet.padding = padding
        packet.extension_profile = profile
        packet._wire = (extensions, profile, block) if block else None
        return packet

    def serialize(self) -> bytes:
        """Encode the packet (RFC 3550 §5.1)."""
        csrcs = self.csrcs
        cc = len(csrcs)
        padding = self.padding
        b0 = 0x80 | cc
        extensions = self.extensions
        profile = self.extension_profile
        if extensions or profile is not None:
            b0 |= 0x10
        if padding:
            b0 |= 0x20
        try:
            header = _FIXED.pack(
                b0,
                (self.payload_type | 0x80) if self.marker else self.payload_type,
                self.sequence_number,
                self.timestamp,
                self.ssrc,
            )
        except struct.error:
            self._check_ranges()
            raise
        if self.payload_type > 127 or cc > 15:
            self._check_ranges()
        if cc:
            header += _CSRC[cc].pack(*csrcs)
        if b0 & 0x10:
            wire = self._wire
            if wire is not None and wire[0] is extensions and wire[1] == profile:
                header += wire[2]
            else:
                header += encode_extension_elements(extensions, profile)
        if padding:
            if not 0 < padding < 256:
                raise ValueError(f"RTP padding {padding} is not 0-255 bytes")
            return header + self.payload + bytes(padding - 1) + bytes((padding,))
        return header + self.payload

    def _check_ranges(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise ValueError(f"payload type {self.payload_type} is not 0-127")
        if len(self.csrcs) > 15:
            raise ValueError(f"{len(self.csrcs)} CSRCs, at most 15 (RFC 3550 §5.1)")
        if not 0 <= self.sequence_number <= 0xFFFF:
            raise ValueError(f"sequence number {self.sequence_number} is not 16 bits")
        for name in ("timestamp", "ssrc"):
            if not 0 <= getattr(self, name) <= 0xFFFFFFFF:
                raise ValueError(f"{name} {getattr(self, name)} is not 32 bits")


def rtx_wrap(
    packet: RtpPacket, payload_type: int, sequence_number: int, ssrc: int
) -> RtpPacket:
    """RFC 4588 §4 Figure 1: the retransmission of ``packet`` on an RTX stream.

    "The payload of the RTP retransmission packet comprises the retransmission payload header
    followed by the payload of the original RTP packet": the 2-byte original sequence number
    (OSN).  The timestamp, marker, CSRCs and header extensions are those of the original (§4.1).
    """
    return RtpPacket(
        payload_type,
        sequence_number,
        packet.timestamp,
        ssrc,
        packet.sequence_number.to_bytes(2, "big") + packet.payload,
        packet.marker,
        packet.csrcs,
        packet.extensions,
        0,
        packet.extension_profile,
    )


def rtx_unwrap(packet: RtpPacket, payload_type: int, ssrc: int) -> RtpPacket:
    """RFC 4588 §4: the original packet carried by RTX packet ``packet``.

    ``payload_type`` and ``ssrc`` are the original stream's (from ``a=fmtp:<rtx> apt=`` and
    ``a=ssrc-group:FID``).  :class:`ParseError` when the payload has no 2-byte OSN.
    """
    payload = packet.payload
    if len(payload) < 2:
        raise ParseError(
            f"RTX: payload of {len(payload)} bytes has no original sequence number (RFC 4588 §4)",
            0,
        )
    return RtpPacket(
        payload_type,
        (payload[0] << 8) | payload[1],
        packet.timestamp,
        ssrc,
        payload[2:],
        packet.marker,
        packet.csrcs,
        packet.extensions,
        0,
        packet.extension_profile,
    )
