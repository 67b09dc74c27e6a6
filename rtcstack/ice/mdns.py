"""Multicast DNS for ICE host candidates: RFC 6762 (subset), draft-ietf-mmusic-mdns-ice-candidates.

Browsers hide host addresses behind ``<uuid4>.local`` names.  An ICE agent resolves a remote
``.local`` candidate with a multicast DNS query on the local link, and may publish its own host
candidates under such names and answer queries for them.  This module is sans-IO: a DNS codec for
what that needs and two state machines driven by the drive loop of STYLE.md.

- Codec (RFC 1035 §4.1 header, question and resource record; name compression on parse, RFC 1035
  §4.1.4, with pointers that must point backwards so a loop cannot hang the parser; the RFC 6762
  §18 bits: the QU bit of a question, the cache-flush bit of a record): :class:`DnsMessage`,
  :class:`DnsQuestion`, :class:`DnsRecord`, :func:`parse_message`, :func:`build_query`,
  :func:`build_response`, :func:`random_mdns_name`.
- :class:`MdnsResolver` -- ``resolve(name, now)`` multicasts a query and retransmits it after 1 s,
  2 s, 4 s ... until the timeout; events :class:`Resolved` / :class:`ResolveFailed`; answers are
  cached for their TTL.
- :class:`MdnsResponder` -- ``publish(name, address, now=)`` / ``unpublish``; answers queries
  for its names (multicast, or unicast to the querier for QU questions and legacy queries), with
  announcements, goodbyes, negative (NSEC) answers, known-answer suppression and the one-second
  multicast rate limit.

Out of scope: probing and conflict resolution (RFC 6762 §8.1-8.2, §9: the names are random
UUIDs), service discovery records, name compression when building (our messages are small),
the source-address check of RFC 6762 §11 (the asyncio driver binds only to the interfaces it is
given), and the 20-120 ms random delays (§5.2, §6) meant for shared records.

Two peers on a virtual clock::

    >>> responder, resolver = MdnsResponder(), MdnsResolver(query_types=[DnsType.A])
    >>> name = "9b5a7c0e-2d8f-4c4e-9a57-0f3a6b9e1c2d.local"
    >>> responder.publish(name, "192.0.2.7", now=0.0)
    >>> announcement = responder.poll_transmit()
    >>> resolver.resolve(name, now=0.5)
    >>> query = resolver.poll_transmit()
    >>> query.addr
    ('224.0.0.251', 5353)
    >>> responder.handle_datagram(query.data, ("192.0.2.9", 5353), now=0.5)
    >>> responder.poll_transmit() is None   # multicast rate limit: 1 s after the announcement
    True
    >>> responder.handle_timeout(responder.poll_timeout())
    >>> answer = responder.poll_transmit()
    >>> resolver.handle_datagram(answer.data, ("192.0.2.7", 5353), now=1.0)
    >>> resolver.poll_event()
    Resolved(name='9b5a7c0e-2d8f-4c4e-9a57-0f3a6b9e1c2d.local', address='192.0.2.7', ttl=120)
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias

from rtcstack.common.buffer import U16, Reader
from rtcstack.common.errors import ParseError
from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.common.types import Address, Transmit
from rtcstack.common.values import value

__all__ = [
    "CLASS_IN",
    "HOST_NAME_TTL",
    "MDNS_IPV4_GROUP",
    "MDNS_IPV6_GROUP",
    "MDNS_PORT",
    "DnsMessage",
    "DnsQuestion",
    "DnsRecord",
    "DnsType",
    "MdnsEvent",
    "MdnsResolver",
    "MdnsResponder",
    "MdnsStats",
    "ResolveFailed",
    "Resolved",
    "build_query",
    "build_response",
    "decode_name",
    "encode_name",
    "is_mdns_name",
    "name_key",
    "parse_message",
    "random_mdns_name",
]

MDNS_PORT = 5353
MDNS_IPV4_GROUP: Address = ("224.0.0.251", MDNS_PORT)  # RFC 6762 §3
MDNS_IPV6_GROUP: Address = ("ff02::fb", MDNS_PORT)
# RFC 6762 §10: "host name resource records ... SHOULD use 120 seconds" (names of hosts).
HOST_NAME_TTL = 120
CLASS_IN = 1
# RFC 6762 §6.7: "the TTL given in a legacy unicast response SHOULD NOT be greater than ten
# seconds".
LEGACY_UNICAST_TTL = 10

_TOP = 0x8000  # the QU bit of a QCLASS, the cache-flush bit of an RRCLASS (RFC 6762 §18.12-13)
FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_TC = 0x0200
_OPCODE_MASK = 0x7800
_RCODE_MASK = 0x000F
_MAX_NAME = 255  # RFC 1035 §2.3.4: "names 255 octets or less"
_MAX_LABEL = 63  # "labels 63 octets or less"


class DnsType(IntEnum):
    """RFC 1035 §3.2.2 TYPE values this module names (others are kept as plain ints)."""

    A = 1
    PTR = 12
    TXT = 16
    AAAA = 28
    SRV = 33
    NSEC = 47
    ANY = 255


# --- names ------------------------------------------------------------------------------------

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def name_key(name: str) -> str:
    """The comparison form of a name: no trailing dot, ASCII lowercase (RFC 1035 §2.3.3, RFC
    6762 §16: case-insensitive for ASCII letters only)."""
    return name.rstrip(".").translate(_ASCII_LOWER)


def encode_name(name: str) -> bytes:
    """RFC 1035 §3.1 wire form of ``name`` in presentation format (RFC 1035 §5.1: ``\\.`` is a
    dot inside a label, ``\\\\`` a backslash, ``\\DDD`` a byte); text is UTF-8 (RFC 6762 §16).

    ValueError for an empty label, a label over 63 bytes or a name over 255 bytes.
    """
    labels: list[bytes] = []
    current = bytearray()
    i, n = 0, len(name)
    if name in ("", "."):
        return b"\x00"
    while i < n:
        ch = name[i]
        if ch == "\\":
            digits = name[i + 1 : i + 4]
            if len(digits) == 3 and all(c in "0123456789" for c in digits):
                byte = int(digits)
                if byte > 255:
                    raise ValueError(f"{name!r}: escape \\{byte} is not a byte")
                current.append(byte)
                i += 4
                continue
            if i + 1 >= n:
                raise ValueError(f"{name!r}: trailing backslash")
            current += name[i + 1].encode()
            i += 2
            continue
        if ch == ".":
            if not current:
                raise ValueError(f"{name!r}: empty label")
            labels.append(bytes(current))
            current = bytearray()
            i += 1
            continue
        current += ch.encode()
        i += 1
    if current:
        labels.append(bytes(current))
    out = bytearray()
    for label in labels:
        if len(label) > _MAX_LABEL:
            raise ValueError(f"{name!r}: label of {len(label)} bytes (at most {_MAX_LABEL})")
        out.append(len(label))
        out += label
    out.append(0)
    if len(out) > _MAX_NAME:
        raise ValueError(f"{name!r}: {len(out)} bytes on the wire (at most {_MAX_NAME})")
    return bytes(out)


def _label_text(label: bytes) -> str:
    """One label in presentation format: UTF-8 text, with ``.`` and ``\\`` escaped, or ``\\DDD``
    for every byte outside printable ASCII when the label is not UTF-8."""
    try:
        text = label.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(
            "\\" + chr(b) if b in (0x2E, 0x5C) else chr(b) if 0x21 <= b < 0x7F else f"\\{b:03d}"
            for b in label
        )
    if "." not in text and "\\" not in text:
        return text
    return text.replace("\\", "\\\\").replace(".", "\\.")


def decode_name(data: bytes, offset: int) -> tuple[str, int]:
    """RFC 1035 §4.1.4: the name at ``offset`` (following compression pointers) and the offset
    just after it in ``data``.

    A pointer must point before the start of the labels that led to it: compression refers to "a
    prior occurance of the same name", and requiring each jump to go strictly backwards makes
    pointer loops impossible.  ParseError for a truncated name, reserved label types (``01`` and
    ``10``, RFC 6891 §5) or a name over 255 bytes.
    """
    labels: list[str] = []
    pos = offset
    end: int | None = None
    lowest = offset  # every pointer must target below this
    total = 1
    size = len(data)
    while True:
        if pos >= size:
            raise ParseError("name runs past the end of the message", pos)
        length = data[pos]
        if length >= 0xC0:
            if pos + 1 >= size:
                raise ParseError("truncated compression pointer", pos)
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if target >= lowest:
                raise ParseError(f"compression pointer to {target} does not point backwards", pos)
            if end is None:
                end = pos + 2
            lowest = pos = target
            continue
        if length & 0xC0:
            raise ParseError(f"reserved label type 0x{length & 0xC0:02x}", pos)
        if length == 0:
            pos += 1
            break
        if pos + 1 + length > size:
            raise ParseError("label runs past the end of the message", pos)
        total += length + 1
        if total > _MAX_NAME:
            raise ParseError(f"name longer than {_MAX_NAME} bytes", pos)
        labels.append(_label_text(data[pos + 1 : pos + 1 + length]))
        pos += 1 + length
    return ".".join(labels), (pos if end is None else end)


def is_mdns_name(name: str) -> bool:
    """Whether ``name`` is a single label under ``.local`` (what mDNS ICE candidates carry).

    draft-ietf-mmusic-mdns-ice-candidates §3.1.1: "The unique name MUST consist of a version 4
    UUID as defined in [RFC4122], followed by '.local'."  Any one label is accepted here, so
    that names from other implementations resolve too.
    """
    key = name_key(name)
    if not key.endswith(".local"):
        return False
    label = key[: -len(".local")]
    return bool(label) and "." not in label.replace("\\.", "")


def random_mdns_name(random_bytes: RandomBytes = default_random_bytes) -> str:
    """A fresh ``<uuid4>.local`` name (draft-ietf-mmusic-mdns-ice-candidates §3.1.1; RFC 4122
    §4.4: version 4 in the high nibble of octet 6, variant ``10`` in the top bits of octet 8)."""
    raw = bytearray(random_bytes(16))
    if len(raw) != 16:
        raise ValueError("random_bytes(16) must return 16 bytes")
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}.local"


# --- messages ---------------------------------------------------------------------------------


@value
class DnsQuestion:
    """RFC 1035 §4.1.2 question; ``unicast_response`` is the QU bit (RFC 6762 §5.4, §18.12)."""

    name: str
    qtype: int
    qclass: int = CLASS_IN
    unicast_response: bool = False

    def serialize(self) -> bytes:
        qclass = self.qclass | (_TOP if self.unicast_response else 0)
        return encode_name(self.name) + U16.pack(self.qtype) + U16.pack(qclass)


@value
class DnsRecord:
    """RFC 1035 §4.1.3 resource record; ``cache_flush`` is the top bit of the class (RFC 6762
    §10.2, §18.13).  ``rdata`` is kept as on the wire (names inside the RDATA of types other
    than A/AAAA are not decompressed)."""

    name: str
    rtype: int
    ttl: int
    rdata: bytes
    rclass: int = CLASS_IN
    cache_flush: bool = False

    @property
    def address(self) -> str | None:
        """The address of an A or AAAA record of class IN, else None."""
        if self.rclass != CLASS_IN:
            return None
        if self.rtype == DnsType.A and len(self.rdata) == 4:
            return str(ipaddress.IPv4Address(self.rdata))
        if self.rtype == DnsType.AAAA and len(self.rdata) == 16:
            return str(ipaddress.IPv6Address(self.rdata))
        return None

    @classmethod
    def for_address(
        cls, name: str, address: str, ttl: int = HOST_NAME_TTL, *, cache_flush: bool = True
    ) -> DnsRecord:
        """An A (IPv4) or AAAA (IPv6) record; ValueError when ``address`` is not an IP address."""
        ip = ipaddress.ip_address(address)
        rtype = DnsType.A if ip.version == 4 else DnsType.AAAA
        return cls(name, int(rtype), ttl, ip.packed, CLASS_IN, cache_flush)

    @classmethod
    def nsec(
        cls, name: str, types: Iterable[int], ttl: int = HOST_NAME_TTL, *, cache_flush: bool = True
    ) -> DnsRecord:
        """RFC 6762 §6.1 negative response: an NSEC record (RFC 4034 §4) whose next domain name
        is the record's own name and whose type bitmap lists the ``types`` (< 256) that exist."""
        bitmap = bytearray(32)
        for t in types:
            if not 0 <= t < 256:
                raise ValueError(f"type {t} is outside window 0")
            bitmap[t >> 3] |= 0x80 >> (t & 7)
        length = max((i + 1 for i, b in enumerate(bitmap) if b), default=0)
        rdata = encode_name(name) + bytes([0, length]) + bytes(bitmap[:length])
        return cls(name, int(DnsType.NSEC), ttl, rdata, CLASS_IN, cache_flush)

    def serialize(self) -> bytes:
        rclass = self.rclass | (_TOP if self.cache_flush else 0)
        return (
            encode_name(self.name)
            + U16.pack(self.rtype)
            + U16.pack(rclass)
            + self.ttl.to_bytes(4, "big")
            + U16.pack(len(self.rdata))
            + self.rdata
        )


@value
class DnsMessage:
    """RFC 1035 §4.1 message: header fields, then the four sections."""

    transaction_id: int = 0
    flags: int = 0
    questions: tuple[DnsQuestion, ...] = ()
    answers: tuple[DnsRecord, ...] = ()
    authorities: tuple[DnsRecord, ...] = ()
    additionals: tuple[DnsRecord, ...] = ()

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAG_QR)

    @property
    def opcode(self) -> int:
        return (self.flags & _OPCODE_MASK) >> 11

    @property
    def authoritative(self) -> bool:
        return bool(self.flags & FLAG_AA)

    @property
    def truncated(self) -> bool:
        return bool(self.flags & FLAG_TC)

    @property
    def rcode(self) -> int:
        return self.flags & _RCODE_MASK

    def records(self) -> tuple[DnsRecord, ...]:
        """Answers, authorities and additionals together."""
        return self.answers + self.authorities + self.additionals

    def serialize(self) -> bytes:
        """The message without name compression."""
        if not 0 <= self.transaction_id <= 0xFFFF or not 0 <= self.flags <= 0xFFFF:
            raise ValueError("transaction_id and flags must fit in 16 bits")
        parts = [
            U16.pack(self.transaction_id),
            U16.pack(self.flags),
            U16.pack(len(self.questions)),
            U16.pack(len(self.answers)),
            U16.pack(len(self.authorities)),
            U16.pack(len(self.additionals)),
        ]
        parts += [q.serialize() for q in self.questions]
        parts += [r.serialize() for r in self.records()]
        return b"".join(parts)

    @classmethod
    def parse(cls, data: bytes) -> DnsMessage:
        return parse_message(data)


def _parse_record(data: bytes, pos: int) -> tuple[DnsRecord, int]:
    name, pos = decode_name(data, pos)
    reader = Reader(data[pos : pos + 10], pos)
    rtype, rclass, ttl, rdlength = (
        reader.u16("TYPE"),
        reader.u16("CLASS"),
        reader.u32("TTL"),
        reader.u16("RDLENGTH"),
    )
    pos += 10
    if pos + rdlength > len(data):
        raise ParseError(f"RDATA of {rdlength} bytes runs past the end", pos)
    rdata = data[pos : pos + rdlength]
    if (rclass & 0x7FFF) == CLASS_IN and (
        (rtype == DnsType.A and rdlength != 4) or (rtype == DnsType.AAAA and rdlength != 16)
    ):
        raise ParseError(f"{DnsType(rtype).name} record with {rdlength} bytes of RDATA", pos)
    record = DnsRecord(name, rtype, ttl, rdata, rclass & 0x7FFF, bool(rclass & _TOP))
    return record, pos + rdlength


def parse_message(data: bytes) -> DnsMessage:
    """RFC 1035 §4.1 parse of a whole datagram; ParseError for anything malformed (truncated
    sections, bad names or pointers, A/AAAA RDATA of the wrong size, trailing bytes)."""
    data = bytes(data)
    header = Reader(data[:12])
    tid, flags, qd, an, ns, ar = (header.u16("header") for _ in range(6))
    pos = 12
    questions = []
    for _ in range(qd):
        name, pos = decode_name(data, pos)
        q = Reader(data[pos : pos + 4], pos)
        qtype, qclass = q.u16("QTYPE"), q.u16("QCLASS")
        pos += 4
        questions.append(DnsQuestion(name, qtype, qclass & 0x7FFF, bool(qclass & _TOP)))
    sections: list[list[DnsRecord]] = [[], [], []]
    for section, count in zip(sections, (an, ns, ar), strict=True):
        for _ in range(count):
            record, pos = _parse_record(data, pos)
            section.append(record)
    if pos != len(data):
        raise ParseError(f"{len(data) - pos} bytes after the last record", pos)
    return DnsMessage(
        tid, flags, tuple(questions), tuple(sections[0]), tuple(sections[1]), tuple(sections[2])
    )


def build_query(
    name: str, *, ipv6: bool = False, transaction_id: int = 0, unicast_response: bool = False
) -> bytes:
    """An mDNS query for the A (or, with ``ipv6``, AAAA) record of ``name``.

    RFC 6762 §18.1: "In multicast query messages, the Query Identifier SHOULD be set to zero on
    transmission"; §18.2: "In query messages the QR bit MUST be zero."
    """
    qtype = DnsType.AAAA if ipv6 else DnsType.A
    question = DnsQuestion(name, int(qtype), CLASS_IN, unicast_response)
    return DnsMessage(transaction_id, 0, (question,)).serialize()


def build_response(
    name: str,
    address: str,
    ttl: int = HOST_NAME_TTL,
    *,
    transaction_id: int = 0,
    cache_flush: bool = True,
    questions: Sequence[DnsQuestion] = (),
) -> bytes:
    """An authoritative mDNS response with one A or AAAA answer (by the family of ``address``).

    RFC 6762 §18.4: "In response messages for Multicast domains, the Authoritative Answer bit
    MUST be set to one"; §10.2 the cache-flush bit marks the record as unique (the name is ours
    alone).  ``questions`` and ``transaction_id`` are for legacy unicast responses (§6.7).
    """
    record = DnsRecord.for_address(name, address, ttl, cache_flush=cache_flush)
    return DnsMessage(transaction_id, FLAG_QR | FLAG_AA, tuple(questions), (record,)).serialize()


# --- events and statistics ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    """``name`` (as passed to ``resolve``) has ``address``; ``ttl`` is what remains cached."""

    name: str
    address: str
    ttl: int


@dataclass(frozen=True, slots=True)
class ResolveFailed:
    """No answer for ``name`` before the timeout (or the query was cancelled)."""

    name: str
    reason: str = "timeout"


MdnsEvent: TypeAlias = Resolved | ResolveFailed


@dataclass(slots=True)
class MdnsStats:
    """Counters (each drop is also traced)."""

    datagrams: int = 0
    parse_errors: int = 0
    ignored: int = 0  # non-zero opcode or rcode, wrong kind of message, wrong source port
    queries_sent: int = 0
    answers: int = 0  # address records taken into the cache (resolver) / queries answered
    deferred: int = 0  # responder: multicast answers held back by the 1 s rate limit
    suppressed: int = 0  # responder: known-answer suppression (RFC 6762 §7.1)


def _acceptable(message: DnsMessage) -> bool:
    """RFC 6762 §18.3: "Multicast DNS messages received with an OPCODE other than zero MUST be
    silently ignored." §18.11: "Multicast DNS messages received with non-zero Response Codes
    MUST be silently ignored." """
    return message.opcode == 0 and message.rcode == 0


# --- resolver -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    name: str
    deadline: float
    next_send: float
    interval: float


class MdnsResolver:
    """RFC 6762 §5 querier for ``.local`` host names, sans-IO.

    ``resolve(name, now=)`` answers from the cache when it can, otherwise multicasts a query for
    the ``query_types`` (A and AAAA by default, as two questions of one message) to ``group``.
    RFC 6762 §5.2: "the interval between the first two queries MUST be at least one second, the
    intervals between successive queries MUST increase by at least a factor of two" -- queries
    go out at 0, 1, 3, 7 ... seconds until ``timeout``, then :class:`ResolveFailed`.  Every
    A/AAAA record seen in any response (also unsolicited ones) is cached for its TTL (bounded to
    ``cache_size`` names); a TTL of zero (a goodbye, §10.1) removes the name one second later.
    """

    def __init__(
        self,
        *,
        group: Address = MDNS_IPV4_GROUP,
        query_types: Sequence[int] = (DnsType.A, DnsType.AAAA),
        timeout: float = 5.0,
        cache_size: int = 256,
        trace: Trace = NULL_TRACE,
    ) -> None:
        if not query_types:
            raise ValueError("query_types must not be empty")
        self.group = group
        self.query_types = tuple(int(t) for t in query_types)
        self.timeout = timeout
        self.cache_size = cache_size
        self.stats = MdnsStats()
        self._trace = trace
        self._pending: dict[str, _Pending] = {}
        self._cache: dict[str, tuple[str, float]] = {}  # key -> (address, expires)
        self._transmits: deque[Transmit] = deque()
        self._events: deque[MdnsEvent] = deque()

    # -- user actions

    def resolve(self, name: str, now: float, *, timeout: float | None = None) -> None:
        """Start resolving ``name`` (a ``label.local`` name); the outcome is an event.  A second
        call for a name being resolved does not start another query."""
        if not is_mdns_name(name):
            raise ValueError(f"{name!r} is not a .local name")
        key = name_key(name)
        cached = self.lookup(name, now)
        if cached is not None:
            expires = self._cache[key][1]
            self._events.append(Resolved(name, cached, max(0, int(expires - now))))
            self._trace("mdns.resolver.cached", name=name, address=cached)
            return
        if key in self._pending:
            return
        limit = self.timeout if timeout is None else timeout
        pending = _Pending(name, now + limit, now, 1.0)
        self._pending[key] = pending
        self._send_query(pending, now)

    def cancel(self, name: str) -> None:
        """Stop resolving ``name``; emits :class:`ResolveFailed` with reason ``cancelled``."""
        pending = self._pending.pop(name_key(name), None)
        if pending is not None:
            self._events.append(ResolveFailed(pending.name, "cancelled"))

    def lookup(self, name: str, now: float) -> str | None:
        """The cached address of ``name``, if it has not expired."""
        key = name_key(name)
        entry = self._cache.get(key)
        if entry is None:
            return None
        if entry[1] <= now:
            del self._cache[key]
            return None
        return entry[0]

    # -- drive loop

    def handle_datagram(self, data: bytes, addr: Address, *, now: float) -> None:
        """Take in one datagram received on the mDNS socket; never raises."""
        self.stats.datagrams += 1
        try:
            message = parse_message(data)
        except ParseError as exc:
            self.stats.parse_errors += 1
            self._trace("mdns.resolver.drop", reason=str(exc), source=addr)
            return
        # RFC 6762 §6: "Multicast DNS implementations MUST silently ignore any Multicast DNS
        # responses they receive where the source UDP port is not 5353."
        if not message.is_response or not _acceptable(message) or addr[1] != MDNS_PORT:
            self.stats.ignored += 1
            return
        for record in message.records():
            address = record.address
            if address is not None:
                self._learn(record, address, now)

    def handle_timeout(self, now: float) -> None:
        for key, pending in list(self._pending.items()):
            if now >= pending.deadline:
                del self._pending[key]
                self._events.append(ResolveFailed(pending.name))
                self._trace("mdns.resolver.failed", name=pending.name)
            elif now >= pending.next_send:
                self._send_query(pending, now)

    def poll_transmit(self) -> Transmit | None:
        return self._transmits.popleft() if self._transmits else None

    def poll_event(self) -> MdnsEvent | None:
        return self._events.popleft() if self._events else None

    def poll_timeout(self) -> float | None:
        if not self._pending:
            return None
        return min(min(p.next_send, p.deadline) for p in self._pending.values())

    # -- internals

    def _send_query(self, pending: _Pending, now: float) -> None:
        questions = tuple(DnsQuestion(pending.name, t) for t in self.query_types)
        self._transmits.append(Transmit(DnsMessage(0, 0, questions).serialize(), self.group))
        self.stats.queries_sent += 1
        self._trace("mdns.resolver.query", name=pending.name, at=now)
        pending.next_send = now + pending.interval
        pending.interval *= 2

    def _learn(self, record: DnsRecord, address: str, now: float) -> None:
        key = name_key(record.name)
        if record.ttl == 0:
            # RFC 6762 §10.1: "Queriers receiving a Multicast DNS response with a TTL of zero
            # SHOULD NOT immediately delete the record from the cache, but instead record a TTL
            # of 1 and then delete the record one second later."
            if key in self._cache:
                self._cache[key] = (self._cache[key][0], now + 1)
            return
        if key not in self._cache and len(self._cache) >= self.cache_size:
            for old in [k for k, (_, exp) in self._cache.items() if exp <= now]:
                del self._cache[old]
            if len(self._cache) >= self.cache_size:
                del self._cache[next(iter(self._cache))]
        self._cache[key] = (address, now + record.ttl)
        self.stats.answers += 1
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._events.append(Resolved(pending.name, address, record.ttl))
            self._trace("mdns.resolver.resolved", name=pending.name, address=address)


# --- responder ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Published:
    name: str
    address: str
    record: DnsRecord  # the cache-flush address record at full TTL
    last_multicast: dict[bool, float]  # positive (True) / NSEC (False) -> time last multicast


class MdnsResponder:
    """RFC 6762 §6 responder for the names this agent publishes, sans-IO.

    - ``publish(name, address, now=)`` owns ``name`` (a unique record: answers carry the
      cache-flush bit).  With ``announce`` it multicasts two unsolicited responses one second
      apart (§8.3: "the Multicast DNS responder MUST send at least two unsolicited responses,
      one second apart"); ``unpublish`` then sends a goodbye (TTL 0, §10.1).
    - Queries for other names are ignored.  A question for a published name of a type it does
      not have is answered with an NSEC record (§6.1: "the responder MUST send a negative
      response").
    - Multicast answers are rate limited (§6: "a Multicast DNS responder MUST NOT ... multicast
      a record on a given interface until at least one second has elapsed since the last time
      that record was multicast"): an answer due sooner is deferred to that second, not dropped.
    - QU questions (§5.4) are answered by unicast to the querier, unless the record was not
      multicast within a quarter of its TTL ("the responder SHOULD instead multicast").
    - Legacy queries (source port not 5353, §6.7) get a conventional unicast response to the
      source address and port: same ID, the question repeated, no cache-flush bit, TTL <= 10 s.
    - Known answers in the query with at least half our TTL suppress the answer (§7.1).
    """

    def __init__(
        self,
        *,
        group: Address = MDNS_IPV4_GROUP,
        ttl: int = HOST_NAME_TTL,
        announce: bool = True,
        trace: Trace = NULL_TRACE,
    ) -> None:
        self.group = group
        self.ttl = ttl
        self.announce = announce
        self.stats = MdnsStats()
        self._trace = trace
        self._names: dict[str, _Published] = {}
        self._announcements: list[tuple[float, str]] = []  # (due, key)
        self._deferred: dict[tuple[str, bool], float] = {}  # (key, positive) -> due
        self._transmits: deque[Transmit] = deque()

    @property
    def names(self) -> dict[str, str]:
        """Published names -> addresses."""
        return {p.name: p.address for p in self._names.values()}

    def publish(self, name: str, address: str, *, now: float) -> None:
        """Answer for ``name`` (a ``label.local`` name) with ``address`` from now on."""
        if not is_mdns_name(name):
            raise ValueError(f"{name!r} is not a .local name")
        record = DnsRecord.for_address(name, address, self.ttl)
        key = name_key(name)
        self._names[key] = _Published(name, str(ipaddress.ip_address(address)), record, {})
        self._trace("mdns.responder.publish", name=name, address=address)
        if self.announce:
            self._multicast([(key, True)], now)
            self._announcements.append((now + 1.0, key))

    def unpublish(self, name: str, *, now: float) -> None:
        """Stop answering for ``name``; with ``announce``, multicast a goodbye (TTL 0)."""
        key = name_key(name)
        published = self._names.pop(key, None)
        if published is None:
            return
        self._announcements = [(due, k) for due, k in self._announcements if k != key]
        for positive in (True, False):
            self._deferred.pop((key, positive), None)
        if self.announce:
            goodbye = DnsRecord.for_address(published.name, published.address, 0)
            self._queue(DnsMessage(0, FLAG_QR | FLAG_AA, (), (goodbye,)), self.group)
            self._trace("mdns.responder.goodbye", name=published.name, at=now)

    # -- drive loop

    def handle_datagram(self, data: bytes, addr: Address, *, now: float) -> None:
        """Take in one datagram received on the mDNS socket; never raises."""
        self.stats.datagrams += 1
        try:
            message = parse_message(data)
        except ParseError as exc:
            self.stats.parse_errors += 1
            self._trace("mdns.responder.drop", reason=str(exc), source=addr)
            return
        if message.is_response or not _acceptable(message):
            self.stats.ignored += 1
            return
        legacy = addr[1] != MDNS_PORT
        multicast: list[tuple[str, bool]] = []
        unicast: list[DnsRecord] = []
        answered: list[DnsQuestion] = []
        for question in message.questions:
            key = name_key(question.name)
            published = self._names.get(key)
            if published is None or question.qclass not in (CLASS_IN, DnsType.ANY):
                continue
            positive = question.qtype in (published.record.rtype, DnsType.ANY)
            record = published.record if positive else self._nsec(published)
            if self._known(message, record):
                self.stats.suppressed += 1
                continue
            answered.append(question)
            if legacy:
                ttl = min(record.ttl, LEGACY_UNICAST_TTL)
                unicast.append(DnsRecord(record.name, record.rtype, ttl, record.rdata))
                continue
            last = published.last_multicast.get(positive)
            recent = last is not None and now - last <= record.ttl / 4
            if question.unicast_response and recent:
                unicast.append(record)
            else:
                multicast.append((key, positive))
        if not answered:
            return
        self.stats.answers += 1
        if unicast:
            tid = message.transaction_id if legacy else 0
            questions = tuple(answered) if legacy else ()
            reply = DnsMessage(tid, FLAG_QR | FLAG_AA, questions, tuple(unicast))
            self._queue(reply, addr)
            self._trace("mdns.responder.unicast", to=addr, names=[r.name for r in unicast])
        if multicast:
            self._multicast(multicast, now)

    def handle_timeout(self, now: float) -> None:
        due = [k for due, k in self._announcements if due <= now]
        self._announcements = [(d, k) for d, k in self._announcements if d > now]
        ready = [item for item, at in self._deferred.items() if at <= now]
        for item in ready:
            del self._deferred[item]
        items = [(k, True) for k in due if k in self._names]
        items += [item for item in ready if item not in items]
        if items:
            self._multicast(items, now)

    def poll_transmit(self) -> Transmit | None:
        return self._transmits.popleft() if self._transmits else None

    def poll_event(self) -> MdnsEvent | None:
        """The responder has no events; always None (kept so the drive loop is uniform)."""
        return None

    def poll_timeout(self) -> float | None:
        times = [due for due, _ in self._announcements] + list(self._deferred.values())
        return min(times) if times else None

    # -- internals

    @staticmethod
    def _nsec(published: _Published) -> DnsRecord:
        return DnsRecord.nsec(published.name, (published.record.rtype,), published.record.ttl)

    @staticmethod
    def _known(message: DnsMessage, record: DnsRecord) -> bool:
        """RFC 6762 §7.1: "A Multicast DNS responder MUST NOT answer a Multicast DNS query if
        the answer it would give is already included in the Answer Section with an RR TTL at
        least half the correct value."""
        key = name_key(record.name)
        return any(
            known.rtype == record.rtype
            and known.rdata == record.rdata
            and known.ttl >= record.ttl / 2
            and name_key(known.name) == key
            for known in message.answers
        )

    def _multicast(self, items: list[tuple[str, bool]], now: float) -> None:
        records: list[DnsRecord] = []
        for key, positive in items:
            published = self._names.get(key)
            if published is None:
                continue
            last = published.last_multicast.get(positive)
            if last is not None and now < last + 1.0:
                self._deferred.setdefault((key, positive), last + 1.0)
                self.stats.deferred += 1
                self._trace("mdns.responder.deferred", name=published.name, until=last + 1.0)
                continue
            published.last_multicast[positive] = now
            records.append(published.record if positive else self._nsec(published))
        if records:
            self._queue(DnsMessage(0, FLAG_QR | FLAG_AA, (), tuple(records)), self.group)
            self._trace("mdns.responder.multicast", names=[r.name for r in records], at=now)

    def _queue(self, message: DnsMessage, addr: Address) -> None:
        self._transmits.append(Transmit(message.serialize(), addr))
