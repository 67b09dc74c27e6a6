"""RFC 6347 §4.2 DTLS 1.2 handshake messages: the fragment header, fragmentation and
reassembly, every RFC 5246 §7.4 message body (ECDHE per RFC 8422 §5), and the extensions a
WebRTC DTLS 1.2 stack reads and writes.

Layout:

- :class:`HandshakeFragment`, :func:`parse_handshake_fragments`, :func:`handshake_message_bytes`,
  :func:`fragment_handshake`: the 12-byte handshake header of RFC 6347 §4.2.2.
- :class:`HandshakeReassembler`: RFC 6347 §4.2.3 reassembly, out of order, overlapping and
  duplicated, with bounded buffering of future messages and a count of retransmitted fragments
  of messages already delivered (RFC 6347 §4.2.4).
- Message bodies (``parse(body)`` / ``serialize()``, header excluded): :class:`ClientHello`,
  :class:`HelloVerifyRequest`, :class:`ServerHello`, :class:`Certificate`,
  :class:`ServerKeyExchange`, :class:`CertificateRequest`, :class:`ServerHelloDone`,
  :class:`ClientKeyExchange`, :class:`CertificateVerify`, :class:`Finished`,
  :class:`HelloRequest`; :func:`parse_handshake_body` dispatches on the type.
- Record payloads that are not handshake messages: :class:`ChangeCipherSpec`, :class:`Alert`.
- Extensions as ``(type, data)`` pairs, with typed ``encode_*`` / ``decode_*`` helpers.

Every vector length of RFC 5246 §4.3's presentation language is checked, as are its bounds, and
trailing bytes are an error.  Parsers raise :class:`~rtcstack.common.ParseError`.

The transcript hash (RFC 6347 §4.2.6) must be taken over the bytes received: a ClientHello sent
with an empty extensions block (``00 00``) parses to ``extensions=()`` and re-serializes without
the block, so a connection hashes :func:`handshake_message_bytes` of the *received* body.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import ClassVar, TypeAlias

from rtcstack.common.buffer import U16, Reader
from rtcstack.common.errors import ParseError
from rtcstack.common.values import value
from rtcstack.dtls.constants import ContentType, HandshakeType

__all__ = [
    "HANDSHAKE_HEADER_SIZE",
    "MESSAGE_CLASSES",
    "VERIFY_DATA_LENGTH",
    "Alert",
    "Certificate",
    "CertificateRequest",
    "CertificateVerify",
    "ChangeCipherSpec",
    "ClientHello",
    "ClientKeyExchange",
    "Extensions",
    "Finished",
    "HandshakeFragment",
    "HandshakeMessage",
    "HandshakeReassembler",
    "HelloRequest",
    "HelloVerifyRequest",
    "ServerHello",
    "ServerHelloDone",
    "ServerKeyExchange",
    "UseSrtp",
    "decode_ec_point_formats",
    "decode_extended_master_secret",
    "decode_extensions",
    "decode_renegotiation_info",
    "decode_signature_algorithms",
    "decode_supported_groups",
    "decode_supported_versions_client",
    "decode_supported_versions_server",
    "decode_use_srtp",
    "encode_ec_point_formats",
    "encode_extended_master_secret",
    "encode_extensions",
    "encode_renegotiation_info",
    "encode_signature_algorithms",
    "encode_supported_groups",
    "encode_supported_versions_client",
    "encode_supported_versions_server",
    "encode_use_srtp",
    "find_extension",
    "fragment_handshake",
    "handshake_message_bytes",
    "parse_handshake_body",
    "parse_handshake_fragments",
]

#: RFC 6347 §4.2.2: msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3).
HANDSHAKE_HEADER_SIZE = 12
#: RFC 5246 §7.4.9: "verify_data_length ... In previous versions of TLS, the verify_data was
#: always 12 octets long" -- and every cipher suite rtcstack negotiates keeps 12.
VERIFY_DATA_LENGTH = 12
#: RFC 8422 §5.4 ECCurveType named_curve; explicit curves are deprecated there.
_NAMED_CURVE = 3
_MAX_U24 = 0xFFFFFF

# Bytes 0-3: type<<24 | length; 4-5: message_seq; 6-7: the high 16 bits of fragment_offset;
# 8-11: its low 8 bits << 24 | fragment_length.
_HEADER = struct.Struct("!IHHI")

Extension: TypeAlias = tuple[int, bytes]
Extensions: TypeAlias = tuple[tuple[int, bytes], ...]


# --- the handshake header -------------------------------------------------------------------


def _pack_header(
    msg_type: int, length: int, message_seq: int, fragment_offset: int, fragment_length: int
) -> bytes:
    if not 0 <= msg_type <= 0xFF:
        raise ValueError(f"msg_type {msg_type} is not a byte")
    if not 0 <= message_seq <= 0xFFFF:
        raise ValueError(f"message_seq {message_seq} is not a 16-bit number")
    if not (fragment_offset >= 0 and fragment_length >= 0
            and fragment_offset + fragment_length <= length <= _MAX_U24):
        raise ValueError(
            f"fragment {fragment_offset}+{fragment_length} does not fit a message of {length}"
        )
    return _HEADER.pack(
        msg_type << 24 | length,
        message_seq,
        fragment_offset >> 8,
        (fragment_offset & 0xFF) << 24 | fragment_length,
    )


@value
class HandshakeFragment:
    """RFC 6347 §4.2.2 one handshake message fragment: the header fields and ``body``, the
    ``fragment_length`` bytes of the message starting at ``fragment_offset``."""

    msg_type: int
    length: int
    message_seq: int
    fragment_offset: int
    fragment_length: int
    body: bytes

    def serialize(self) -> bytes:
        if len(self.body) != self.fragment_length:
            raise ValueError(
                f"fragment_length {self.fragment_length} but {len(self.body)} body bytes"
            )
        return _pack_header(
            self.msg_type, self.length, self.message_seq, self.fragment_offset,
            self.fragment_length,
        ) + self.body

    @property
    def is_whole(self) -> bool:
        """The fragment carries the whole message (offset 0, fragment_length = length)."""
        return self.fragment_offset == 0 and self.fragment_length == self.length


def parse_handshake_fragments(record_payload: bytes) -> list[HandshakeFragment]:
    """RFC 6347 §4.2.2 every handshake fragment in one record's plaintext (several may share a
    record, RFC 6347 §4.2.3: "multiple DTLS handshake messages MAY be placed in the same
    DTLS record").  An empty payload, a truncated header or body, and a fragment that extends
    past its message's length are a :class:`ParseError`."""
    if not record_payload:
        # RFC 5246 §6.2.1: "Implementations MUST NOT send zero-length fragments of Handshake".
        raise ParseError("empty handshake record", 0)
    out: list[HandshakeFragment] = []
    pos, end = 0, len(record_payload)
    unpack = _HEADER.unpack_from
    while pos < end:
        if end - pos < HANDSHAKE_HEADER_SIZE:
            raise ParseError(f"handshake header: need 12 bytes, {end - pos} left", pos)
        type_length, seq, off_high, off_low_flen = unpack(record_payload, pos)
        length = type_length & _MAX_U24
        offset = off_high << 8 | off_low_flen >> 24
        flen = off_low_flen & _MAX_U24
        if offset + flen > length:
            raise ParseError(
                f"fragment {offset}+{flen} extends past the message length {length}", pos + 6
            )
        start = pos + HANDSHAKE_HEADER_SIZE
        if start + flen > end:
            raise ParseError(
                f"handshake fragment: need {flen} bytes, {end - start} left", start
            )
        out.append(HandshakeFragment(
            type_length >> 24, length, seq, offset, flen, record_payload[start : start + flen]
        ))
        pos = start + flen
    return out


def handshake_message_bytes(msg_type: int, message_seq: int, body: bytes) -> bytes:
    """RFC 6347 §4.2.6 the message as the transcript hash sees it: the 12-byte header with
    fragment_offset 0 and fragment_length = length, then the body ("as if each handshake
    message had been sent as a single fragment")."""
    return _pack_header(msg_type, len(body), message_seq, 0, len(body)) + body


def fragment_handshake(
    msg_type: int, message_seq: int, body: bytes, max_fragment_size: int
) -> list[bytes]:
    """RFC 6347 §4.2.3 the serialized fragments of one message, each (header + piece) at most
    ``max_fragment_size`` bytes; a message that fits is one fragment.  An empty body gives one
    header-only fragment."""
    piece = max_fragment_size - HANDSHAKE_HEADER_SIZE
    if piece < 1:
        raise ValueError(f"max_fragment_size {max_fragment_size} leaves no room for data")
    length = len(body)
    if length <= piece:
        return [_pack_header(msg_type, length, message_seq, 0, length) + body]
    return [
        _pack_header(msg_type, length, message_seq, off, min(piece, length - off))
        + body[off : off + piece]
        for off in range(0, length, piece)
    ]


# --- reassembly -----------------------------------------------------------------------------


class _Partial:
    """One message being reassembled: its type, length, bytes, and the received ranges."""

    __slots__ = ("buffer", "complete", "length", "msg_type", "ranges")

    def __init__(self, msg_type: int, length: int) -> None:
        self.msg_type = msg_type
        self.length = length
        self.buffer = bytearray(length)
        self.ranges: list[list[int]] = []  # sorted, disjoint, non-adjacent [start, end)
        self.complete = length == 0

    def add(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        if end == offset:
            return
        self.buffer[offset:end] = data
        merged: list[list[int]] = []
        new = [offset, end]
        placed = False
        for r in self.ranges:
            if r[1] < new[0]:
                merged.append(r)
            elif new[1] < r[0]:
                if not placed:
                    merged.append(new)
                    placed = True
                merged.append(r)
            else:
                new[0] = min(new[0], r[0])
                new[1] = max(new[1], r[1])
        if not placed:
            merged.append(new)
        self.ranges = merged
        self.complete = len(merged) == 1 and merged[0] == [0, self.length]


class HandshakeReassembler:
    """RFC 6347 §4.2.3 reassembly of handshake messages in ``message_seq`` order.

    ``add(fragment)`` takes every received fragment; ``pop()`` returns the next complete
    message ``(msg_type, message_seq, body)`` starting at :attr:`next_seq`, or ``None``.

    - Out-of-order, overlapping and duplicated fragments are merged.
    - RFC 6347 §4.2.2: "Implementations SHOULD ... buffer future handshake messages" --
      within bounds: messages more than ``max_messages_ahead`` past :attr:`next_seq`, and
      future messages that would take the buffered total past ``max_buffered_bytes``, are
      dropped and counted in :attr:`dropped` (the peer retransmits them).  The message at
      :attr:`next_seq` is always accepted.
    - A message longer than ``max_message_size`` is a :class:`ParseError`: it can never be
      received, so the handshake must fail rather than stall.
    - Fragments of messages already delivered (``message_seq < next_seq``) are counted in
      :attr:`retransmitted`: RFC 6347 §4.2.4, the peer retransmitted its last flight, which
      tells the connection to retransmit its own.
    - A fragment whose type or length disagrees with an earlier fragment of the same
      ``message_seq`` is a :class:`ParseError`.
    """

    __slots__ = (
        "_buffered_bytes",
        "_partials",
        "dropped",
        "max_buffered_bytes",
        "max_message_size",
        "max_messages_ahead",
        "next_seq",
        "retransmitted",
    )

    def __init__(
        self,
        next_seq: int = 0,
        *,
        max_messages_ahead: int = 16,
        max_buffered_bytes: int = 1 << 18,
        max_message_size: int = 1 << 17,
    ) -> None:
        self.next_seq = next_seq
        self.max_messages_ahead = max_messages_ahead
        self.max_buffered_bytes = max_buffered_bytes
        self.max_message_size = max_message_size
        self._partials: dict[int, _Partial] = {}
        self._buffered_bytes = 0
        #: fragments of messages already delivered (the peer retransmitted, RFC 6347 §4.2.4)
        self.retransmitted = 0
        #: fragments dropped because they were too far ahead or over the byte budget
        self.dropped = 0

    @property
    def buffered_bytes(self) -> int:
        """The declared lengths of every message held, complete or not."""
        return self._buffered_bytes

    @property
    def buffered_messages(self) -> int:
        return len(self._partials)

    def reset(self, next_seq: int) -> None:
        """Forget every buffered fragment and expect ``next_seq`` next (a server that answered
        a ClientHello statelessly with a HelloVerifyRequest expects message_seq 1)."""
        self._partials.clear()
        self._buffered_bytes = 0
        self.next_seq = next_seq

    def add(self, fragment: HandshakeFragment) -> None:
        """Take one fragment (see the class docstring for what is dropped or rejected)."""
        seq = fragment.message_seq
        if seq < self.next_seq:
            self.retransmitted += 1
            return
        partial = self._partials.get(seq)
        if partial is None:
            length = fragment.length
            if length > self.max_message_size:
                raise ParseError(
                    f"handshake message of {length} bytes exceeds the limit of "
                    f"{self.max_message_size}"
                )
            if seq != self.next_seq and (
                seq - self.next_seq > self.max_messages_ahead
                or self._buffered_bytes + length > self.max_buffered_bytes
            ):
                self.dropped += 1
                return
            if fragment.fragment_offset + fragment.fragment_length > length:
                raise ParseError("fragment extends past the message length")
            partial = _Partial(fragment.msg_type, length)
            self._partials[seq] = partial
            self._buffered_bytes += length
        elif partial.msg_type != fragment.msg_type or partial.length != fragment.length:
            raise ParseError(
                f"message_seq {seq}: fragment says type {fragment.msg_type} length "
                f"{fragment.length}, earlier ones type {partial.msg_type} length {partial.length}"
            )
        elif fragment.fragment_offset + fragment.fragment_length > partial.length:
            raise ParseError("fragment extends past the message length")
        if not partial.complete:
            partial.add(fragment.fragment_offset, fragment.body)

    def pop(self) -> tuple[int, int, bytes] | None:
        """The next complete message in order, as ``(msg_type, message_seq, body)``."""
        seq = self.next_seq
        partial = self._partials.get(seq)
        if partial is None or not partial.complete:
            return None
        del self._partials[seq]
        self._buffered_bytes -= partial.length
        self.next_seq = seq + 1
        return partial.msg_type, seq, bytes(partial.buffer)


# --- presentation-language helpers ------------------------------------------------------------


def _opaque8(r: Reader, what: str, low: int = 0, high: int = 0xFF) -> bytes:
    n = r.u8(what)
    if not low <= n <= high:
        raise ParseError(f"{what}: length {n} outside {low}..{high}", r.base + r.position - 1)
    return r.take(n, what)


def _opaque16(r: Reader, what: str, low: int = 0, high: int = 0xFFFF) -> bytes:
    n = r.u16(what)
    if not low <= n <= high:
        raise ParseError(f"{what}: length {n} outside {low}..{high}", r.base + r.position - 2)
    return r.take(n, what)


def _opaque24(r: Reader, what: str, low: int = 0) -> bytes:
    at = r.position
    n = r.u8(what) << 16 | r.u16(what)
    if n < low:
        raise ParseError(f"{what}: length {n} below {low}", r.base + at)
    return r.take(n, what)


def _u16_list(data: bytes, what: str, base: int) -> tuple[int, ...]:
    if len(data) % 2:
        raise ParseError(f"{what}: odd length {len(data)}", base)
    return struct.unpack(f"!{len(data) // 2}H", data)


def _len8(data: bytes, what: str, low: int = 0, high: int = 0xFF) -> bytes:
    if not low <= len(data) <= high:
        raise ValueError(f"{what}: length {len(data)} outside {low}..{high}")
    return bytes((len(data),)) + data


def _len16(data: bytes, what: str, low: int = 0, high: int = 0xFFFF) -> bytes:
    if not low <= len(data) <= high:
        raise ValueError(f"{what}: length {len(data)} outside {low}..{high}")
    return U16.pack(len(data)) + data


def _len24(data: bytes, what: str, low: int = 0) -> bytes:
    if not low <= len(data) <= _MAX_U24:
        raise ValueError(f"{what}: length {len(data)} outside {low}..{_MAX_U24}")
    return len(data).to_bytes(3, "big") + data


def _pack_u16s(values: Sequence[int], what: str) -> bytes:
    try:
        return struct.pack(f"!{len(values)}H", *values)
    except struct.error:
        raise ValueError(f"{what}: {list(values)} are not all 16-bit numbers") from None


def _random(r: Reader) -> bytes:
    return r.take(32, "random")


def _check_random(random: bytes) -> bytes:
    if len(random) != 32:
        raise ValueError(f"random is {len(random)} bytes, not 32")
    return random


# --- extensions -------------------------------------------------------------------------------


def decode_extensions(r: Reader) -> Extensions:
    """RFC 5246 §7.4.1.2 the optional ``Extension extensions<0..2^16-1>`` at the end of a hello:
    absent (no bytes left) is ``()``.  RFC 5246 §7.4.1.4: "There MUST NOT be more than one
    extension of the same type"."""
    if r.eof():
        return ()
    block = _opaque16(r, "extensions")
    inner = Reader(block, r.base + r.position - len(block))
    out: list[Extension] = []
    seen: set[int] = set()
    while not inner.eof():
        at = inner.base + inner.position
        ext_type = inner.u16("extension type")
        data = _opaque16(inner, "extension_data")
        if ext_type in seen:
            raise ParseError(f"extension {ext_type} appears twice", at)
        seen.add(ext_type)
        out.append((ext_type, data))
    return tuple(out)


def encode_extensions(extensions: Extensions) -> bytes:
    """The extensions block; ``()`` gives no bytes at all (RFC 5246 §7.4.1.2 allows omitting
    it).  Duplicate types are a ValueError."""
    if not extensions:
        return b""
    types = [t for t, _ in extensions]
    if len(set(types)) != len(types):
        raise ValueError(f"duplicate extension types in {types}")
    body = b"".join(
        U16.pack(t) + _len16(data, f"extension {t}") for t, data in extensions
    )
    return _len16(body, "extensions")


def find_extension(extensions: Extensions, ext_type: int) -> bytes | None:
    """The data of the extension of ``ext_type``, or ``None`` when it is absent."""
    for t, data in extensions:
        if t == ext_type:
            return data
    return None


def encode_supported_groups(groups: Sequence[int]) -> bytes:
    """RFC 8422 §5.1.1 ``NamedCurve named_curve_list<2..2^16-1>``."""
    return _len16(_pack_u16s(groups, "supported_groups"), "supported_groups", 2)


def decode_supported_groups(data: bytes) -> tuple[int, ...]:
    """RFC 8422 §5.1.1 supported_groups (formerly elliptic_curves)."""
    r = Reader(data)
    out = _u16_list(_opaque16(r, "named_curve_list", 2), "named_curve_list", 2)
    r.expect_end("supported_groups")
    return out


def encode_ec_point_formats(formats: Sequence[int]) -> bytes:
    """RFC 8422 §5.1.2 ``ECPointFormat ec_point_format_list<1..2^8-1>``."""
    try:
        return _len8(bytes(formats), "ec_point_format_list", 1)
    except ValueError as exc:
        raise ValueError(f"ec_point_formats: {exc}") from None


def decode_ec_point_formats(data: bytes) -> tuple[int, ...]:
    """RFC 8422 §5.1.2 ec_point_formats."""
    r = Reader(data)
    out = tuple(_opaque8(r, "ec_point_format_list", 1))
    r.expect_end("ec_point_formats")
    return out


def encode_signature_algorithms(schemes: Sequence[int]) -> bytes:
    """RFC 5246 §7.4.1.4.1 ``SignatureAndHashAlgorithm supported_signature_algorithms
    <2..2^16-2>``, each pair as one 16-bit code point (hash << 8 | signature)."""
    return _len16(_pack_u16s(schemes, "signature_algorithms"), "signature_algorithms", 2, 0xFFFE)


def decode_signature_algorithms(data: bytes) -> tuple[int, ...]:
    """RFC 5246 §7.4.1.4.1 signature_algorithms."""
    r = Reader(data)
    out = _u16_list(
        _opaque16(r, "supported_signature_algorithms", 2, 0xFFFE), "signature_algorithms", 2
    )
    r.expect_end("signature_algorithms")
    return out


@value
class UseSrtp:
    """RFC 5764 §4.1.1 UseSRTPData: the protection profiles and the (usually empty) MKI."""

    profiles: tuple[int, ...]
    mki: bytes = b""


def encode_use_srtp(profiles: Sequence[int], mki: bytes = b"") -> bytes:
    """RFC 5764 §4.1.1 ``SRTPProtectionProfile SRTPProtectionProfiles<2..2^16-1>`` then
    ``opaque srtp_mki<0..255>``."""
    return _len16(_pack_u16s(profiles, "use_srtp"), "SRTPProtectionProfiles", 2) + _len8(
        mki, "srtp_mki"
    )


def decode_use_srtp(data: bytes) -> UseSrtp:
    """RFC 5764 §4.1.1 use_srtp."""
    r = Reader(data)
    profiles = _u16_list(_opaque16(r, "SRTPProtectionProfiles", 2), "SRTPProtectionProfiles", 2)
    mki = _opaque8(r, "srtp_mki")
    r.expect_end("use_srtp")
    return UseSrtp(profiles, mki)


def encode_extended_master_secret() -> bytes:
    """RFC 7627 §5.1: "The extension_data field of this extension is empty"."""
    return b""


def decode_extended_master_secret(data: bytes) -> None:
    """RFC 7627 §5.1: the data must be empty."""
    if data:
        raise ParseError(f"extended_master_secret: {len(data)} bytes, must be empty", 0)


def encode_renegotiation_info(renegotiated_connection: bytes = b"") -> bytes:
    """RFC 5746 §3.2 ``opaque renegotiated_connection<0..255>`` (empty on an initial
    handshake)."""
    return _len8(renegotiated_connection, "renegotiated_connection")


def decode_renegotiation_info(data: bytes) -> bytes:
    """RFC 5746 §3.2 renegotiation_info: the renegotiated_connection bytes."""
    r = Reader(data)
    out = _opaque8(r, "renegotiated_connection")
    r.expect_end("renegotiation_info")
    return out


def encode_supported_versions_client(versions: Sequence[int]) -> bytes:
    """RFC 8446 §4.2.1 ClientHello form: ``ProtocolVersion versions<2..254>``."""
    return _len8(_pack_u16s(versions, "supported_versions"), "versions", 2, 254)


def decode_supported_versions_client(data: bytes) -> tuple[int, ...]:
    """RFC 8446 §4.2.1 supported_versions in a ClientHello (a DTLS 1.3 offer)."""
    r = Reader(data)
    out = _u16_list(_opaque8(r, "versions", 2, 254), "versions", 1)
    r.expect_end("supported_versions")
    return out


def encode_supported_versions_server(version: int) -> bytes:
    """RFC 8446 §4.2.1 ServerHello form: one ``selected_version``."""
    return _pack_u16s((version,), "selected_version")


def decode_supported_versions_server(data: bytes) -> int:
    """RFC 8446 §4.2.1 supported_versions in a ServerHello."""
    r = Reader(data)
    version = r.u16("selected_version")
    r.expect_end("supported_versions")
    return version


# --- handshake message bodies ---------------------------------------------------------------


@value
class HelloRequest:
    """RFC 5246 §7.4.1.1 HelloRequest: an empty body."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.HELLO_REQUEST

    @classmethod
    def parse(cls, body: bytes) -> HelloRequest:
        if body:
            raise ParseError(f"HelloRequest: {len(body)} bytes, must be empty", 0)
        return cls()

    def serialize(self) -> bytes:
        return b""


@value
class ClientHello:
    """RFC 6347 §4.2.1 / RFC 5246 §7.4.1.2 ClientHello, with the DTLS cookie."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.CLIENT_HELLO

    client_version: int
    random: bytes
    session_id: bytes
    cookie: bytes
    cipher_suites: tuple[int, ...]
    compression_methods: bytes
    extensions: Extensions = ()

    @classmethod
    def parse(cls, body: bytes) -> ClientHello:
        r = Reader(body)
        version = r.u16("client_version")
        random = _random(r)
        session_id = _opaque8(r, "session_id", 0, 32)
        # RFC 6347 §4.2.1: "opaque cookie<0..2^8-1>".
        cookie = _opaque8(r, "cookie")
        at = r.position
        suites = _opaque16(r, "cipher_suites", 2, 0xFFFE)
        cipher_suites = _u16_list(suites, "cipher_suites", at)
        compression = _opaque8(r, "compression_methods", 1)
        extensions = decode_extensions(r)
        r.expect_end("ClientHello")
        return cls(version, random, session_id, cookie, cipher_suites, compression, extensions)

    def serialize(self) -> bytes:
        return b"".join((
            _pack_u16s((self.client_version,), "client_version"),
            _check_random(self.random),
            _len8(self.session_id, "session_id", 0, 32),
            _len8(self.cookie, "cookie"),
            _len16(_pack_u16s(self.cipher_suites, "cipher_suites"), "cipher_suites", 2, 0xFFFE),
            _len8(self.compression_methods, "compression_methods", 1),
            encode_extensions(self.extensions),
        ))


@value
class HelloVerifyRequest:
    """RFC 6347 §4.2.1 HelloVerifyRequest: ``server_version`` and ``opaque cookie<0..2^8-1>``."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.HELLO_VERIFY_REQUEST

    server_version: int
    cookie: bytes

    @classmethod
    def parse(cls, body: bytes) -> HelloVerifyRequest:
        r = Reader(body)
        version = r.u16("server_version")
        cookie = _opaque8(r, "cookie")
        r.expect_end("HelloVerifyRequest")
        return cls(version, cookie)

    def serialize(self) -> bytes:
        return _pack_u16s((self.server_version,), "server_version") + _len8(self.cookie, "cookie")


@value
class ServerHello:
    """RFC 5246 §7.4.1.3 ServerHello."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.SERVER_HELLO

    server_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: Extensions = ()

    @classmethod
    def parse(cls, body: bytes) -> ServerHello:
        r = Reader(body)
        version = r.u16("server_version")
        random = _random(r)
        session_id = _opaque8(r, "session_id", 0, 32)
        suite = r.u16("cipher_suite")
        compression = r.u8("compression_method")
        extensions = decode_extensions(r)
        r.expect_end("ServerHello")
        return cls(version, random, session_id, suite, compression, extensions)

    def serialize(self) -> bytes:
        if not 0 <= self.compression_method <= 0xFF:
            raise ValueError(f"compression_method {self.compression_method} is not a byte")
        return b"".join((
            _pack_u16s((self.server_version,), "server_version"),
            _check_random(self.random),
            _len8(self.session_id, "session_id", 0, 32),
            _pack_u16s((self.cipher_suite,), "cipher_suite"),
            bytes((self.compression_method,)),
            encode_extensions(self.extensions),
        ))


@value
class Certificate:
    """RFC 5246 §7.4.2 Certificate: ``ASN.1Cert certificate_list<0..2^24-1>``, each
    ``opaque ASN.1Cert<1..2^24-1>`` (DER), the sender's own certificate first."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.CERTIFICATE

    certificates: tuple[bytes, ...]

    @classmethod
    def parse(cls, body: bytes) -> Certificate:
        r = Reader(body)
        block = _opaque24(r, "certificate_list")
        r.expect_end("Certificate")
        inner = Reader(block, 3)
        certs: list[bytes] = []
        while not inner.eof():
            certs.append(_opaque24(inner, "ASN.1Cert", 1))
        return cls(tuple(certs))

    def serialize(self) -> bytes:
        block = b"".join(_len24(c, "ASN.1Cert", 1) for c in self.certificates)
        return _len24(block, "certificate_list")


@value
class ServerKeyExchange:
    """RFC 8422 §5.4 ServerKeyExchange for ECDHE over a named curve: ServerECDHParams
    (curve_type named_curve, the group, ``opaque point<1..2^8-1>``) then RFC 5246 §7.4.3's
    digitally-signed: SignatureAndHashAlgorithm and ``opaque signature<0..2^16-1>``."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.SERVER_KEY_EXCHANGE

    named_group: int
    public_key: bytes
    signature_scheme: int
    signature: bytes

    @classmethod
    def parse(cls, body: bytes) -> ServerKeyExchange:
        r = Reader(body)
        curve_type = r.u8("curve_type")
        if curve_type != _NAMED_CURVE:
            # RFC 8422 §5.4: explicit_prime and explicit_char2 are deprecated.
            raise ParseError(f"ECCurveType {curve_type} is not named_curve (3)", 0)
        group = r.u16("named_curve")
        point = _opaque8(r, "ECPoint", 1)
        scheme = r.u16("SignatureAndHashAlgorithm")
        signature = _opaque16(r, "signature")
        r.expect_end("ServerKeyExchange")
        return cls(group, point, scheme, signature)

    def signed_params(self) -> bytes:
        """RFC 8422 §5.4 the ServerECDHParams bytes; what is signed is ``client_random +
        server_random + signed_params()`` (see :meth:`signed_data`)."""
        return (
            bytes((_NAMED_CURVE,))
            + _pack_u16s((self.named_group,), "named_group")
            + _len8(self.public_key, "ECPoint", 1)
        )

    def signed_data(self, client_random: bytes, server_random: bytes) -> bytes:
        """RFC 8422 §5.4: ``SHA(ClientHello.random + ServerHello.random + ServerKeyExchange.
        params)`` -- the input to the signature (the hash is the signature scheme's)."""
        return _check_random(client_random) + _check_random(server_random) + self.signed_params()

    def serialize(self) -> bytes:
        return (
            self.signed_params()
            + _pack_u16s((self.signature_scheme,), "signature_scheme")
            + _len16(self.signature, "signature")
        )


@value
class CertificateRequest:
    """RFC 5246 §7.4.4 CertificateRequest: ``ClientCertificateType certificate_types
    <1..2^8-1>``, ``SignatureAndHashAlgorithm supported_signature_algorithms<2..2^16-2>``,
    ``DistinguishedName certificate_authorities<0..2^16-1>`` (each ``<1..2^16-1>``, DER)."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.CERTIFICATE_REQUEST

    certificate_types: bytes
    signature_schemes: tuple[int, ...]
    certificate_authorities: tuple[bytes, ...] = ()

    @classmethod
    def parse(cls, body: bytes) -> CertificateRequest:
        r = Reader(body)
        types = _opaque8(r, "certificate_types", 1)
        at = r.position
        schemes = _u16_list(
            _opaque16(r, "supported_signature_algorithms", 2, 0xFFFE), "signature_algorithms", at
        )
        at = r.position
        block = _opaque16(r, "certificate_authorities")
        r.expect_end("CertificateRequest")
        inner = Reader(block, at + 2)
        cas: list[bytes] = []
        while not inner.eof():
            cas.append(_opaque16(inner, "DistinguishedName", 1))
        return cls(types, schemes, tuple(cas))

    def serialize(self) -> bytes:
        cas = b"".join(_len16(dn, "DistinguishedName", 1) for dn in self.certificate_authorities)
        return (
            _len8(self.certificate_types, "certificate_types", 1)
            + encode_signature_algorithms(self.signature_schemes)
            + _len16(cas, "certificate_authorities")
        )


@value
class ServerHelloDone:
    """RFC 5246 §7.4.5 ServerHelloDone: an empty body."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.SERVER_HELLO_DONE

    @classmethod
    def parse(cls, body: bytes) -> ServerHelloDone:
        if body:
            raise ParseError(f"ServerHelloDone: {len(body)} bytes, must be empty", 0)
        return cls()

    def serialize(self) -> bytes:
        return b""


@value
class ClientKeyExchange:
    """RFC 8422 §5.7 ClientKeyExchange for ECDHE: ``opaque point<1..2^8-1>`` (ClientECDiffie
    HellmanPublic, the explicit form)."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.CLIENT_KEY_EXCHANGE

    public_key: bytes

    @classmethod
    def parse(cls, body: bytes) -> ClientKeyExchange:
        r = Reader(body)
        point = _opaque8(r, "ecdh_Yc", 1)
        r.expect_end("ClientKeyExchange")
        return cls(point)

    def serialize(self) -> bytes:
        return _len8(self.public_key, "ecdh_Yc", 1)


@value
class CertificateVerify:
    """RFC 5246 §7.4.8 CertificateVerify: digitally-signed, SignatureAndHashAlgorithm then
    ``opaque signature<0..2^16-1>``."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.CERTIFICATE_VERIFY

    signature_scheme: int
    signature: bytes

    @classmethod
    def parse(cls, body: bytes) -> CertificateVerify:
        r = Reader(body)
        scheme = r.u16("SignatureAndHashAlgorithm")
        signature = _opaque16(r, "signature")
        r.expect_end("CertificateVerify")
        return cls(scheme, signature)

    def serialize(self) -> bytes:
        return _pack_u16s((self.signature_scheme,), "signature_scheme") + _len16(
            self.signature, "signature"
        )


@value
class Finished:
    """RFC 5246 §7.4.9 Finished: ``opaque verify_data[verify_data_length]``, 12 bytes for
    every cipher suite rtcstack negotiates."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.FINISHED

    verify_data: bytes

    @classmethod
    def parse(cls, body: bytes) -> Finished:
        if len(body) != VERIFY_DATA_LENGTH:
            raise ParseError(f"Finished: verify_data of {len(body)} bytes, expected 12", 0)
        return cls(body)

    def serialize(self) -> bytes:
        if len(self.verify_data) != VERIFY_DATA_LENGTH:
            raise ValueError(f"verify_data is {len(self.verify_data)} bytes, not 12")
        return self.verify_data


HandshakeMessage: TypeAlias = (
    HelloRequest | ClientHello | HelloVerifyRequest | ServerHello | Certificate
    | ServerKeyExchange | CertificateRequest | ServerHelloDone | ClientKeyExchange
    | CertificateVerify | Finished
)

#: HandshakeType -> the message class (RFC 5246 §7.4).
MESSAGE_CLASSES: dict[int, type[HandshakeMessage]] = {
    cls.msg_type: cls
    for cls in (
        HelloRequest, ClientHello, HelloVerifyRequest, ServerHello, Certificate,
        ServerKeyExchange, CertificateRequest, ServerHelloDone, ClientKeyExchange,
        CertificateVerify, Finished,
    )
}


def parse_handshake_body(msg_type: int, body: bytes) -> HandshakeMessage:
    """RFC 5246 §7.4 the message of ``msg_type``; an unknown type is a :class:`ParseError`
    (RFC 5246 §7.4: the receiver answers it with an unexpected_message alert)."""
    cls = MESSAGE_CLASSES.get(msg_type)
    if cls is None:
        raise ParseError(f"unknown handshake type {msg_type}", 0)
    return cls.parse(body)


# --- record payloads that are not handshake messages ---------------------------------------------


@value
class ChangeCipherSpec:
    """RFC 5246 §7.1 ChangeCipherSpec: one byte, ``change_cipher_spec(1)``."""

    content_type: ClassVar[ContentType] = ContentType.CHANGE_CIPHER_SPEC

    @classmethod
    def parse(cls, data: bytes) -> ChangeCipherSpec:
        if data != b"\x01":
            raise ParseError(f"ChangeCipherSpec is {data.hex() or 'empty'}, expected 01", 0)
        return cls()

    def serialize(self) -> bytes:
        return b"\x01"


@value
class Alert:
    """RFC 5246 §7.2 Alert: ``AlertLevel level`` and ``AlertDescription description``, one byte
    each (values outside the enums are kept as ints)."""

    content_type: ClassVar[ContentType] = ContentType.ALERT

    level: int
    description: int

    @classmethod
    def parse(cls, data: bytes) -> Alert:
        if len(data) != 2:
            raise ParseError(f"Alert is {len(data)} bytes, expected 2", 0)
        return cls(data[0], data[1])

    def serialize(self) -> bytes:
        if not (0 <= self.level <= 0xFF and 0 <= self.description <= 0xFF):
            raise ValueError(f"alert {self.level}/{self.description} is not two bytes")
        return bytes((self.level, self.description))
