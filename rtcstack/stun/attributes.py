"""STUN attributes as typed, frozen values: RFC 8489 §14, RFC 8445 §16.1, RFC 8656 §18, RFC 5780 §7.

Every attribute class has a ``TYPE`` code point, ``encode(transaction_id) -> bytes`` (the value,
without the 4-byte header or padding) and ``decode(value, transaction_id) -> Self``, which raises
:class:`~rtcstack.common.errors.ParseError` for a malformed value.  ``decode`` never sees bytes
beyond the attribute's own value, so a parser error cannot escape as another exception.

Attributes this module does not know are kept as :class:`UnknownAttribute`, byte for byte.
"""

from __future__ import annotations

import base64
import ipaddress
import struct
from enum import IntEnum
from typing import ClassVar, Self, TypeVar

from rtcstack.common.buffer import U16, U16_U16, U32, U64
from rtcstack.common.errors import ParseError
from rtcstack.common.types import Address
from rtcstack.common.values import value

MAGIC_COOKIE = 0x2112A442
_COOKIE_BYTES = MAGIC_COOKIE.to_bytes(4, "big")


class AttrType(IntEnum):
    """Attribute code points (RFC 8489 §18.3, RFC 8656 §17, RFC 5780 §9, RFC 8445 §20.1)."""

    MAPPED_ADDRESS = 0x0001
    CHANGE_REQUEST = 0x0003
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    UNKNOWN_ATTRIBUTES = 0x000A
    CHANNEL_NUMBER = 0x000C
    LIFETIME = 0x000D
    XOR_PEER_ADDRESS = 0x0012
    DATA = 0x0013
    REALM = 0x0014
    NONCE = 0x0015
    XOR_RELAYED_ADDRESS = 0x0016
    REQUESTED_ADDRESS_FAMILY = 0x0017
    EVEN_PORT = 0x0018
    REQUESTED_TRANSPORT = 0x0019
    DONT_FRAGMENT = 0x001A
    MESSAGE_INTEGRITY_SHA256 = 0x001C
    PASSWORD_ALGORITHM = 0x001D
    USERHASH = 0x001E
    XOR_MAPPED_ADDRESS = 0x0020
    RESERVATION_TOKEN = 0x0022
    PRIORITY = 0x0024
    USE_CANDIDATE = 0x0025
    PADDING = 0x0026
    RESPONSE_PORT = 0x0027
    ADDITIONAL_ADDRESS_FAMILY = 0x8000
    ADDRESS_ERROR_CODE = 0x8001
    PASSWORD_ALGORITHMS = 0x8002
    ALTERNATE_DOMAIN = 0x8003
    ICMP = 0x8004
    SOFTWARE = 0x8022
    ALTERNATE_SERVER = 0x8023
    FINGERPRINT = 0x8028
    ICE_CONTROLLED = 0x8029
    ICE_CONTROLLING = 0x802A
    RESPONSE_ORIGIN = 0x802B
    OTHER_ADDRESS = 0x802C


def is_comprehension_required(attr_type: int) -> bool:
    """RFC 8489 §14: types 0x0000-0x7FFF must be understood, 0x8000-0xFFFF may be ignored."""
    return attr_type < 0x8000


class AddressFamily(IntEnum):
    """RFC 8489 §14.1 address families (also used by RFC 8656 §18.8 / §18.11)."""

    IPV4 = 0x01
    IPV6 = 0x02


class PasswordAlgorithmId(IntEnum):
    """RFC 8489 §18.5 STUN Password Algorithms."""

    MD5 = 0x0001
    SHA256 = 0x0002


class Attribute:
    """Base class: every attribute has a ``TYPE`` and a symmetric codec."""

    __slots__ = ()
    TYPE: ClassVar[int]
    NAME: ClassVar[str]

    @property
    def type(self) -> int:
        return self.TYPE

    def encode(self, transaction_id: bytes) -> bytes:
        raise NotImplementedError  # every concrete subclass overrides it

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        raise NotImplementedError  # every concrete subclass overrides it

    def wire(self, transaction_id: bytes, padding: bytes = b"\x00") -> bytes:
        """The whole attribute: type, length, value and padding to 4 bytes (RFC 8489 §14).

        Fixed-size attribute classes override this with a single ``struct.pack``.
        """
        value = self.encode(transaction_id)
        n = len(value)
        if n > 0xFFFF:
            raise ValueError(f"{self.NAME}: value of {n} bytes is too long")
        if n & 3:
            return U16_U16.pack(self.type, n) + value + padding * (4 - (n & 3))
        return U16_U16.pack(self.type, n) + value

    def describe(self) -> object:
        """A JSON-friendly rendering of the value, for ``rtcstack decode``."""
        return {
            name: (v.hex() if isinstance(v, bytes) else v)
            for name in self.__dataclass_fields__  # type: ignore[attr-defined]
            if not isinstance(v := getattr(self, name), type)
        }


REGISTRY: dict[int, type[Attribute]] = {}


_A = TypeVar("_A", bound=type[Attribute])
_new_object = object.__new__


def _register(cls: _A) -> _A:
    REGISTRY[cls.TYPE] = cls
    return cls


def _fixed(value: bytes, size: int, name: str) -> None:
    if len(value) != size:
        raise ParseError(f"{name}: value is {len(value)} bytes, expected {size}")


# --- addresses (RFC 8489 §14.1, §14.2) ------------------------------------------------------


def _pack_address(address: Address, name: str) -> tuple[int, bytes]:
    host, port = address
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{name}: {host!r} is not an IP address") from None
    if not 0 <= port <= 0xFFFF:
        raise ValueError(f"{name}: port {port} out of range")
    return (AddressFamily.IPV4 if ip.version == 4 else AddressFamily.IPV6), ip.packed


def _format_ip(packed: bytes) -> str:
    if len(packed) == 4:
        return f"{packed[0]}.{packed[1]}.{packed[2]}.{packed[3]}"
    return str(ipaddress.IPv6Address(packed))


def _unpack_address(value: bytes, name: str) -> tuple[int, int, bytes]:
    if len(value) < 4:
        raise ParseError(f"{name}: value is {len(value)} bytes, too short for an address")
    family, port = value[1], int(U16.unpack_from(value, 2)[0])
    if family == AddressFamily.IPV4:
        _fixed(value, 8, name)
    elif family == AddressFamily.IPV6:
        _fixed(value, 20, name)
    else:
        raise ParseError(f"{name}: unknown address family 0x{family:02x}")
    return family, port, value[4:]


def _xor_ip(packed: bytes, transaction_id: bytes) -> bytes:
    """RFC 8489 §14.2: IPv4 XOR the magic cookie; IPv6 XOR the cookie and transaction ID."""
    if len(packed) == 4:
        return (int.from_bytes(packed, "big") ^ MAGIC_COOKIE).to_bytes(4, "big")
    mask = int.from_bytes(_COOKIE_BYTES + transaction_id, "big")
    return (int.from_bytes(packed, "big") ^ mask).to_bytes(16, "big")


@value
class _PlainAddress(Attribute):
    address: Address

    def encode(self, transaction_id: bytes) -> bytes:
        family, packed = _pack_address(self.address, self.NAME)
        return struct.pack("!BBH", 0, family, self.address[1]) + packed

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        _, port, packed = _unpack_address(value, cls.NAME)
        return cls((_format_ip(packed), port))

    def describe(self) -> object:
        return f"{self.address[0]}:{self.address[1]}"


@value
class _XorAddress(Attribute):
    """RFC 8489 §14.2: port XOR the cookie's top 16 bits, address XOR cookie || transaction ID."""

    address: Address

    def encode(self, transaction_id: bytes) -> bytes:
        family, packed = _pack_address(self.address, self.NAME)
        port = self.address[1] ^ (MAGIC_COOKIE >> 16)
        return struct.pack("!BBH", 0, family, port) + _xor_ip(packed, transaction_id)

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        _, port, packed = _unpack_address(value, cls.NAME)
        return cls((_format_ip(_xor_ip(packed, transaction_id)), port ^ (MAGIC_COOKIE >> 16)))

    def describe(self) -> object:
        return f"{self.address[0]}:{self.address[1]}"


@_register
@value
class MappedAddress(_PlainAddress):
    """RFC 8489 §14.1 MAPPED-ADDRESS."""

    TYPE = AttrType.MAPPED_ADDRESS
    NAME = "MAPPED-ADDRESS"


@_register
@value
class AlternateServer(_PlainAddress):
    """RFC 8489 §14.15 ALTERNATE-SERVER (same encoding as MAPPED-ADDRESS)."""

    TYPE = AttrType.ALTERNATE_SERVER
    NAME = "ALTERNATE-SERVER"


@_register
@value
class ResponseOrigin(_PlainAddress):
    """RFC 5780 §7.3 RESPONSE-ORIGIN: the address the response was sent from."""

    TYPE = AttrType.RESPONSE_ORIGIN
    NAME = "RESPONSE-ORIGIN"


@_register
@value
class OtherAddress(_PlainAddress):
    """RFC 5780 §7.4 OTHER-ADDRESS: the server's alternate IP address and port."""

    TYPE = AttrType.OTHER_ADDRESS
    NAME = "OTHER-ADDRESS"


@_register
@value
class XorMappedAddress(_XorAddress):
    """RFC 8489 §14.2 XOR-MAPPED-ADDRESS."""

    TYPE = AttrType.XOR_MAPPED_ADDRESS
    NAME = "XOR-MAPPED-ADDRESS"


@_register
@value
class XorPeerAddress(_XorAddress):
    """RFC 8656 §18.3 XOR-PEER-ADDRESS."""

    TYPE = AttrType.XOR_PEER_ADDRESS
    NAME = "XOR-PEER-ADDRESS"


@_register
@value
class XorRelayedAddress(_XorAddress):
    """RFC 8656 §18.5 XOR-RELAYED-ADDRESS."""

    TYPE = AttrType.XOR_RELAYED_ADDRESS
    NAME = "XOR-RELAYED-ADDRESS"


# --- UTF-8 strings (RFC 8489 §14.3, §14.9, §14.10, §14.14, §14.16) --------------------------


@value
class _Text(Attribute):
    value: str
    MAX_BYTES: ClassVar[int] = 763  # 128 characters of up to 6 bytes (RFC 8489 §14.9 etc.)

    def encode(self, transaction_id: bytes) -> bytes:
        data = self.value.encode()
        if len(data) > self.MAX_BYTES:
            raise ValueError(f"{self.NAME}: {len(data)} bytes, at most {self.MAX_BYTES}")
        return data

    def wire(self, transaction_id: bytes, padding: bytes = b"\x00") -> bytes:
        data = self.value.encode()
        n = len(data)
        if n > self.MAX_BYTES:
            raise ValueError(f"{self.NAME}: {n} bytes, at most {self.MAX_BYTES}")
        return U16_U16.pack(self.TYPE, n) + data + padding * (-n & 3)

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        if len(value) > cls.MAX_BYTES:
            raise ParseError(f"{cls.NAME}: {len(value)} bytes, at most {cls.MAX_BYTES}")
        try:
            text = value.decode()
        except UnicodeDecodeError as exc:
            raise ParseError(f"{cls.NAME}: not UTF-8 ({exc.reason})") from None
        obj = _new_object(cls)
        _set_text(obj, text)
        return obj

    def describe(self) -> object:
        return self.value


_set_text = _Text.value.__set__  # type: ignore[attr-defined]


@_register
@value
class Username(_Text):
    """RFC 8489 §14.3 USERNAME: fewer than 509 bytes of UTF-8."""

    TYPE = AttrType.USERNAME
    NAME = "USERNAME"
    MAX_BYTES = 508


@_register
@value
class Realm(_Text):
    """RFC 8489 §14.9 REALM: fewer than 128 characters (up to 763 bytes)."""

    TYPE = AttrType.REALM
    NAME = "REALM"


@_register
@value
class Nonce(_Text):
    """RFC 8489 §14.10 NONCE, optionally starting with the "nonce cookie" of §9.2."""

    TYPE = AttrType.NONCE
    NAME = "NONCE"

    @property
    def security_features(self) -> int | None:
        """The 24-bit STUN Security Features of the nonce cookie (RFC 8489 §9.2), or ``None``."""
        return nonce_security_features(self.value)


@_register
@value
class Software(_Text):
    """RFC 8489 §14.14 SOFTWARE."""

    TYPE = AttrType.SOFTWARE
    NAME = "SOFTWARE"


@_register
@value
class AlternateDomain(_Text):
    """RFC 8489 §14.16 ALTERNATE-DOMAIN: the server's name for certificate checks (ASCII)."""

    TYPE = AttrType.ALTERNATE_DOMAIN
    NAME = "ALTERNATE-DOMAIN"
    MAX_BYTES = 255


NONCE_COOKIE_PREFIX = "obMatJos2"
FEATURE_PASSWORD_ALGORITHMS = 1 << 23  # bit 0, most significant (RFC 8489 §18.1)
FEATURE_USERNAME_ANONYMITY = 1 << 22  # bit 1


def nonce_security_features(nonce: str) -> int | None:
    """RFC 8489 §9.2: decode the 24 feature bits after "obMatJos2", or ``None`` if absent."""
    if len(nonce) < 13 or not nonce.startswith(NONCE_COOKIE_PREFIX):
        return None
    try:
        raw = base64.b64decode(nonce[9:13], validate=True)
    except ValueError:
        return None
    return int.from_bytes(raw, "big")


def make_nonce_cookie(features: int) -> str:
    """The 13-character nonce cookie announcing ``features`` (RFC 8489 §9.2)."""
    return NONCE_COOKIE_PREFIX + base64.b64encode(features.to_bytes(3, "big")).decode()


# --- integers ---------------------------------------------------------------------------------


_TLV_U32 = struct.Struct("!HHI")
_TLV_U64 = struct.Struct("!HHQ")


@value
class _U32(Attribute):
    value: int

    def encode(self, transaction_id: bytes) -> bytes:
        return U32.pack(self.value)

    def wire(self, transaction_id: bytes, padding: bytes = b"\x00") -> bytes:
        return _TLV_U32.pack(self.TYPE, 4, self.value)

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        if len(value) != 4:
            _fixed(value, 4, cls.NAME)
        obj = _new_object(cls)  # the hot path skips __init__'s frame: set the one slot directly
        _set_u32(obj, U32.unpack(value)[0])
        return obj

    def describe(self) -> object:
        return self.value


_set_u32 = _U32.value.__set__  # type: ignore[attr-defined]


@_register
@value
class Priority(_U32):
    """RFC 8445 §7.1.1 PRIORITY."""

    TYPE = AttrType.PRIORITY
    NAME = "PRIORITY"


@_register
@value
class Lifetime(_U32):
    """RFC 8656 §18.2 LIFETIME, in seconds."""

    TYPE = AttrType.LIFETIME
    NAME = "LIFETIME"


@_register
@value
class Fingerprint(_U32):
    """RFC 8489 §14.7 FINGERPRINT: CRC-32 of the message up to it, XOR 0x5354554e.

    Normally added by ``Message.serialize(fingerprint=True)``; a parsed message keeps the value
    it carried so that it serializes back to the same bytes.
    """

    TYPE = AttrType.FINGERPRINT
    NAME = "FINGERPRINT"


@value
class _U64(Attribute):
    value: int

    def encode(self, transaction_id: bytes) -> bytes:
        return U64.pack(self.value)

    def wire(self, transaction_id: bytes, padding: bytes = b"\x00") -> bytes:
        return _TLV_U64.pack(self.TYPE, 8, self.value)

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        if len(value) != 8:
            _fixed(value, 8, cls.NAME)
        obj = _new_object(cls)
        _set_u64(obj, U64.unpack(value)[0])
        return obj

    def describe(self) -> object:
        return self.value


_set_u64 = _U64.value.__set__  # type: ignore[attr-defined]


@_register
@value
class IceControlled(_U64):
    """RFC 8445 §7.1.3 ICE-CONTROLLED: the agent's 64-bit tiebreaker."""

    TYPE = AttrType.ICE_CONTROLLED
    NAME = "ICE-CONTROLLED"


@_register
@value
class IceControlling(_U64):
    """RFC 8445 §7.1.3 ICE-CONTROLLING: the agent's 64-bit tiebreaker."""

    TYPE = AttrType.ICE_CONTROLLING
    NAME = "ICE-CONTROLLING"


@_register
@value
class ChannelNumber(Attribute):
    """RFC 8656 §18.1 CHANNEL-NUMBER: 16-bit channel, 16 bits RFFU."""

    TYPE = AttrType.CHANNEL_NUMBER
    NAME = "CHANNEL-NUMBER"
    number: int

    def encode(self, transaction_id: bytes) -> bytes:
        return struct.pack("!HH", self.number, 0)

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        _fixed(value, 4, cls.NAME)
        return cls(int(U16.unpack_from(value)[0]))

    def describe(self) -> object:
        return self.number


@_register
@value
class ResponsePort(Attribute):
    """RFC 5780 §7.5 RESPONSE-PORT: 16-bit port, 16 bits padding."""

    TYPE = AttrType.RESPONSE_PORT
    NAME = "RESPONSE-PORT"
    port: int

    def encode(self, transaction_id: bytes) -> bytes:
        return struct.pack("!HH", self.port, 0)

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        _fixed(value, 4, cls.NAME)
        return cls(int(U16.unpack_from(value)[0]))

    def describe(self) -> object:
        return self.port


@_register
@value
class ChangeRequest(Attribute):
    """RFC 5780 §7.2 CHANGE-REQUEST: the "change IP" (0x4) and "change port" (0x2) flags."""

    TYPE = AttrType.CHANGE_REQUEST
    NAME = "CHANGE-REQUEST"
    change_ip: bool = False
    change_port: bool = False

    def encode(self, transaction_id: bytes) -> bytes:
        return U32.pack((4 if self.change_ip else 0) | (2 if self.change_port else 0))

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        _fixed(value, 4, cls.NAME)
        flags = int(U32.unpack(value)[0])
        return cls(bool(flags & 4), bool(flags & 2))


@value
class _Family(Attribute):
    family: int

    def encode(self, transaction_id: bytes) -> bytes:
        return bytes((self.family, 0, 0, 0))

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        _fixed(value, 4, cls.NAME)
        if value[0] not in (AddressFamily.IPV4, AddressFamily.IPV6):
            raise ParseError(f"{cls.NAME}: unknown address family 0x{value[0]:02x}")
        return cls(value[0])

    def describe(self) -> object:
        return AddressFamily(self.family).name


@_register
@value
class RequestedAddressFamily(_Family):
    """RFC 8656 §18.8 REQUESTED-ADDRESS-FAMILY."""

    TYPE = AttrType.REQUESTED_ADDRESS_FAMILY
    NAME = "REQUESTED-ADDRESS-FAMILY"


@_register
@value
class AdditionalAddressFamily(_Family):
    """RFC 8656 §18.11 ADDITIONAL-ADDRESS-FAMILY (only IPv6 is allowed in it)."""

    TYPE = AttrType.ADDITIONAL_ADDRESS_FAMILY
    NAME = "ADDITIONAL-ADDRESS-FAMILY"


@_register
@value
class RequestedTransport(Attribute):
    """RFC 8656 §18.7 REQUESTED-TRANSPORT: an IP protocol number (17 = UDP) and 24 bits RFFU."""

    TYPE = AttrType.REQUESTED_TRANSPORT
    NAME = "REQUESTED-TRANSPORT"
    protocol: int = 17

    def encode(self, transaction_id: bytes) -> bytes:
        return bytes((self.protocol, 0, 0, 0))

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        _fixed(value, 4, cls.NAME)
        return cls(value[0])

    def describe(self) -> object:
        return self.protocol


@_register
@value
class EvenPort(Attribute):
    """RFC 8656 §18.6 EVEN-PORT: one byte whose top bit R asks to reserve the next port."""

    TYPE = AttrType.EVEN_PORT
    NAME = "EVEN-PORT"
    reserve: bool = False

    def encode(self, transaction_id: bytes) -> bytes:
        return b"\x80" if self.reserve else b"\x00"

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        _fixed(value, 1, cls.NAME)
        return cls(bool(value[0] & 0x80))


# --- flags (empty values) -------------------------------------------------------------------


@value
class _Flag(Attribute):
    def encode(self, transaction_id: bytes) -> bytes:
        return b""

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        _fixed(value, 0, cls.NAME)
        return cls()

    def describe(self) -> object:
        return True


@_register
@value
class UseCandidate(_Flag):
    """RFC 8445 §7.1.2 USE-CANDIDATE."""

    TYPE = AttrType.USE_CANDIDATE
    NAME = "USE-CANDIDATE"


@_register
@value
class DontFragment(_Flag):
    """RFC 8656 §18.9 DONT-FRAGMENT."""

    TYPE = AttrType.DONT_FRAGMENT
    NAME = "DONT-FRAGMENT"


# --- opaque bytes ---------------------------------------------------------------------------


@value
class _Bytes(Attribute):
    value: bytes
    SIZES: ClassVar[tuple[int, ...] | None] = None

    def encode(self, transaction_id: bytes) -> bytes:
        if self.SIZES is not None and len(self.value) not in self.SIZES:
            raise ValueError(f"{self.NAME}: {len(self.value)} bytes, expected one of {self.SIZES}")
        return self.value

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        if cls.SIZES is not None and len(value) not in cls.SIZES:
            raise ParseError(f"{cls.NAME}: {len(value)} bytes, expected one of {cls.SIZES}")
        obj = _new_object(cls)
        _set_bytes(obj, value)
        return obj

    def describe(self) -> object:
        return self.value.hex()


_set_bytes = _Bytes.value.__set__  # type: ignore[attr-defined]


@_register
@value
class Data(_Bytes):
    """RFC 8656 §18.4 DATA: the application datagram of a Send or Data indication."""

    TYPE = AttrType.DATA
    NAME = "DATA"


@_register
@value
class Padding(_Bytes):
    """RFC 5780 §7.6 PADDING: any bytes, to probe fragmentation."""

    TYPE = AttrType.PADDING
    NAME = "PADDING"


@_register
@value
class ReservationToken(_Bytes):
    """RFC 8656 §18.10 RESERVATION-TOKEN: 8 opaque bytes."""

    TYPE = AttrType.RESERVATION_TOKEN
    NAME = "RESERVATION-TOKEN"
    SIZES = (8,)


@_register
@value
class Userhash(_Bytes):
    """RFC 8489 §14.4 USERHASH: SHA-256(OpaqueString(username) ":" realm)."""

    TYPE = AttrType.USERHASH
    NAME = "USERHASH"
    SIZES = (32,)


@_register
@value
class MessageIntegrity(_Bytes):
    """RFC 8489 §14.5 MESSAGE-INTEGRITY: HMAC-SHA1 (20 bytes).

    Normally computed by ``Message.serialize(integrity_key=...)``; a parsed message keeps the
    value it carried.
    """

    TYPE = AttrType.MESSAGE_INTEGRITY
    NAME = "MESSAGE-INTEGRITY"
    SIZES = (20,)


@_register
@value
class MessageIntegritySha256(_Bytes):
    """RFC 8489 §14.6 MESSAGE-INTEGRITY-SHA256: HMAC-SHA256, truncated to 16..32 bytes (x4)."""

    TYPE = AttrType.MESSAGE_INTEGRITY_SHA256
    NAME = "MESSAGE-INTEGRITY-SHA256"
    SIZES = (16, 20, 24, 28, 32)


# --- structured values ----------------------------------------------------------------------


def _encode_code(prefix: bytes, code: int, reason: str, name: str) -> bytes:
    """RFC 8489 §14.8 layout after two leading bytes: class (hundreds digit), number, reason."""
    if not 300 <= code <= 699:
        raise ValueError(f"{name}: {code} is outside 300-699")
    return prefix + bytes((code // 100, code % 100)) + reason.encode()


def _decode_code(value: bytes, name: str) -> tuple[int, str]:
    """The code and reason phrase of an ERROR-CODE-style value (RFC 8489 §14.8)."""
    if len(value) < 4:
        raise ParseError(f"{name}: value is {len(value)} bytes, at least 4 needed")
    klass, number = value[2] & 0x07, value[3]
    if not 3 <= klass <= 6 or number > 99:
        raise ParseError(f"{name}: invalid class {klass} / number {number}")
    try:
        return klass * 100 + number, value[4:].decode()
    except UnicodeDecodeError:
        raise ParseError(f"{name}: reason phrase is not UTF-8") from None


@_register
@value
class ErrorCode(Attribute):
    """RFC 8489 §14.8 ERROR-CODE: class (hundreds) and number, then a UTF-8 reason phrase."""

    TYPE = AttrType.ERROR_CODE
    NAME = "ERROR-CODE"
    code: int
    reason: str = ""

    def encode(self, transaction_id: bytes) -> bytes:
        return _encode_code(b"\x00\x00", self.code, self.reason, self.NAME)

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        return cls(*_decode_code(value, cls.NAME))


@_register
@value
class AddressErrorCode(Attribute):
    """RFC 8656 §18.12 ADDRESS-ERROR-CODE: family, then an ERROR-CODE-style code and reason."""

    TYPE = AttrType.ADDRESS_ERROR_CODE
    NAME = "ADDRESS-ERROR-CODE"
    family: int
    code: int
    reason: str = ""

    def encode(self, transaction_id: bytes) -> bytes:
        return _encode_code(bytes((self.family, 0)), self.code, self.reason, self.NAME)

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        code, reason = _decode_code(value, cls.NAME)
        return cls(value[0], code, reason)


@_register
@value
class Icmp(Attribute):
    """RFC 8656 §18.13 ICMP: 16 bits reserved, a 7-bit ICMP type and a 9-bit ICMP code in one
    16-bit word (Figure 11), then 4 bytes of error data."""

    TYPE = AttrType.ICMP
    NAME = "ICMP"
    icmp_type: int
    icmp_code: int
    error_data: int = 0

    def encode(self, transaction_id: bytes) -> bytes:
        if not (0 <= self.icmp_type <= 0x7F and 0 <= self.icmp_code <= 0x1FF):
            raise ValueError(f"ICMP: type {self.icmp_type} / code {self.icmp_code} out of range")
        word = (self.icmp_type << 9) | self.icmp_code
        return struct.pack("!HHI", 0, word, self.error_data)

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        _fixed(value, 8, cls.NAME)
        _, word, error_data = struct.unpack("!HHI", value)  # Reserved "MUST be ignored"
        return cls(word >> 9, word & 0x1FF, error_data)


@_register
@value
class UnknownAttributes(Attribute):
    """RFC 8489 §14.13 UNKNOWN-ATTRIBUTES: the 16-bit types a 420 response did not understand."""

    TYPE = AttrType.UNKNOWN_ATTRIBUTES
    NAME = "UNKNOWN-ATTRIBUTES"
    types: tuple[int, ...]

    def encode(self, transaction_id: bytes) -> bytes:
        return struct.pack(f"!{len(self.types)}H", *self.types)

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        if len(value) % 2:
            raise ParseError(f"UNKNOWN-ATTRIBUTES: odd length {len(value)}")
        return cls(struct.unpack(f"!{len(value) // 2}H", value))

    def describe(self) -> object:
        return [f"0x{t:04x}" for t in self.types]


@value
class PasswordAlgorithmSpec:
    """One entry of PASSWORD-ALGORITHM(S): an algorithm number and its parameters."""

    algorithm: int
    parameters: bytes = b""

    def encode(self) -> bytes:
        n = len(self.parameters)
        return struct.pack("!HH", self.algorithm, n) + self.parameters + b"\x00" * (-n % 4)


def _decode_algorithms(value: bytes, name: str) -> list[PasswordAlgorithmSpec]:
    out, pos = [], 0
    while pos < len(value):
        if pos + 4 > len(value):
            raise ParseError(f"{name}: truncated algorithm header", pos)
        alg, n = struct.unpack_from("!HH", value, pos)
        end = pos + 4 + n
        if end > len(value):
            raise ParseError(f"{name}: parameters run past the value", pos)
        out.append(PasswordAlgorithmSpec(alg, value[pos + 4 : end]))
        pos = end + (-n % 4)
    return out


@_register
@value
class PasswordAlgorithms(Attribute):
    """RFC 8489 §14.11 PASSWORD-ALGORITHMS: the algorithms a server supports, in its order."""

    TYPE = AttrType.PASSWORD_ALGORITHMS
    NAME = "PASSWORD-ALGORITHMS"
    algorithms: tuple[PasswordAlgorithmSpec, ...]

    def encode(self, transaction_id: bytes) -> bytes:
        return b"".join(a.encode() for a in self.algorithms)

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        return cls(tuple(_decode_algorithms(value, cls.NAME)))

    def describe(self) -> object:
        return [_algorithm_name(a.algorithm) for a in self.algorithms]


@_register
@value
class PasswordAlgorithm(Attribute):
    """RFC 8489 §14.12 PASSWORD-ALGORITHM: the algorithm the client chose."""

    TYPE = AttrType.PASSWORD_ALGORITHM
    NAME = "PASSWORD-ALGORITHM"
    algorithm: int
    parameters: bytes = b""

    def encode(self, transaction_id: bytes) -> bytes:
        return PasswordAlgorithmSpec(self.algorithm, self.parameters).encode()

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        specs = _decode_algorithms(value, cls.NAME)
        if len(specs) != 1:
            raise ParseError(f"PASSWORD-ALGORITHM: {len(specs)} algorithms, exactly 1 expected")
        return cls(specs[0].algorithm, specs[0].parameters)

    def describe(self) -> object:
        return _algorithm_name(self.algorithm)


def _algorithm_name(alg: int) -> str:
    try:
        return PasswordAlgorithmId(alg).name
    except ValueError:
        return f"0x{alg:04x}"


@value
class UnknownAttribute(Attribute):
    """An attribute this stack does not implement, kept byte for byte."""

    attr_type: int
    value: bytes
    NAME = "UNKNOWN"

    @property
    def type(self) -> int:
        return self.attr_type

    def encode(self, transaction_id: bytes) -> bytes:
        return self.value

    @classmethod
    def decode(cls, value: bytes, transaction_id: bytes) -> Self:
        raise TypeError("UnknownAttribute is built by Message.parse with its type")

    def describe(self) -> object:
        return self.value.hex()


def attribute_name(attr_type: int) -> str:
    cls = REGISTRY.get(attr_type)
    return cls.NAME if cls is not None else f"0x{attr_type:04X}"
