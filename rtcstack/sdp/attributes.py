"""Typed SDP lines and attributes: the parts of a description WebRTC uses.

Each class is a frozen value with ``parse(text)`` (the text after ``x=`` or after ``a=name:``)
and ``serialize()`` (the same text back).  For every canonical input, ``parse(t).serialize() == t``;
the description keeps the original line text anyway, so reading a typed value never changes the
output -- only setting one does.

An attribute class names its attribute in ``NAME``; :data:`REGISTRY` maps names to classes.
Flag attributes (``a=rtcp-mux``) have no class: see ``Section.has`` and ``Section.set_flag``.
Every ``parse`` raises :class:`SdpParseError` with a reason; the caller adds the line number.
"""

from __future__ import annotations

import re
from typing import ClassVar, Protocol, TypeVar

from rtcstack.common.values import value
from rtcstack.sdp.errors import SdpParseError

__all__ = [
    "DIRECTIONS",
    "FLAGS",
    "REGISTRY",
    "Attribute",
    "Bandwidth",
    "Candidate",
    "Connection",
    "ExtMap",
    "Fingerprint",
    "Fmtp",
    "Group",
    "IceOptions",
    "IcePwd",
    "IceUfrag",
    "MaxMessageSize",
    "MediaLine",
    "Mid",
    "Msid",
    "MsidSemantic",
    "Origin",
    "Rid",
    "Rtcp",
    "RtcpFb",
    "RtpMap",
    "SctpMap",
    "SctpPort",
    "Setup",
    "Simulcast",
    "SimulcastRid",
    "Ssrc",
    "SsrcGroup",
    "Timing",
    "parse_format_parameters",
    "serialize_format_parameters",
]

_A = TypeVar("_A", bound="Attribute")

#: RFC 8866 §6.7: the media direction attributes; ``sendrecv`` is the default.
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

#: Property attributes (no value) WebRTC uses, with the RFC that defines each.
FLAGS = {
    "sendrecv": "RFC 8866 §6.7.3",
    "sendonly": "RFC 8866 §6.7.2",
    "recvonly": "RFC 8866 §6.7.1",
    "inactive": "RFC 8866 §6.7.4",
    "rtcp-mux": "RFC 5761 §5.1.3",
    "rtcp-mux-only": "RFC 8858 §3",
    "rtcp-rsize": "RFC 5506 §5",
    "ice-lite": "RFC 8839 §5.3",
    "end-of-candidates": "RFC 8840 §8.2",
    "bundle-only": "RFC 9143 §6",
    "extmap-allow-mixed": "RFC 8285 §6",
    "ice2": "RFC 8445 §10 (ice-options token, not an attribute; listed for `check`)",
}

_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+\Z")  # RFC 8866 §9 token
_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+\Z")  # RFC 8839 §5.1 ice-char
_T = r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+"  # token, for the fast paths below
# Fast paths: one regex call recognises the canonical form of the busiest attributes; anything
# else goes through the field-by-field parser, which gives the precise reason for a rejection.
_CANDIDATE = re.compile(
    r"([A-Za-z0-9+/]{1,32}) ([0-9]{1,3}) (" + _T + r") ([0-9]{1,10}) ([^ ]+) ([0-9]{1,5}) typ ("
    + _T + r")(?: raddr ([^ ]+))?(?: rport ([0-9]{1,5}))?((?: [^ ]+ [^ ]+)*)\Z").match
_RTPMAP = re.compile(r"([0-9]{1,3}) ([^ /]+)/([1-9][0-9]{0,9})(?:/([1-9][0-9]{0,2}))?\Z").match
_RTCP_FB = re.compile(r"(\*|[0-9]{1,3}) (" + _T + r")(?: (.+))?\Z").match
_EXTMAP = re.compile(r"([0-9]{1,4})(?:/(sendrecv|sendonly|recvonly|inactive))? ([^ ]+)"
                     r"(?: (.+))?\Z").match


class Attribute(Protocol):
    """What every typed attribute provides (used for ``Section.get`` and friends)."""

    NAME: ClassVar[str]

    @classmethod
    def parse(cls: type[_A], text: str) -> _A: ...

    def serialize(self) -> str: ...


def _int(text: str, what: str, low: int = 0, high: int = (1 << 64) - 1) -> int:
    if not text.isdigit() or not text.isascii():
        raise SdpParseError(f"{what} {text!r} is not a decimal number")
    number = int(text)
    if not low <= number <= high:
        raise SdpParseError(f"{what} {number} is outside {low}..{high}")
    return number


def _token(text: str, what: str) -> str:
    if not _TOKEN.match(text):
        raise SdpParseError(f"{what} {text!r} is not a token")
    return text


def _split(text: str, minimum: int, what: str) -> list[str]:
    fields = text.split(" ")
    if len(fields) < minimum or "" in fields:
        raise SdpParseError(f"{what} needs {minimum} fields separated by single spaces: {text!r}")
    return fields


# --- lines that are not attributes (RFC 8866 §5) -------------------------------------------


@value
class Origin:
    """RFC 8866 §5.2 ``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>``."""

    username: str
    session_id: int
    session_version: int
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "127.0.0.1"

    @classmethod
    def parse(cls, text: str) -> Origin:
        fields = _split(text, 6, "o=")
        if len(fields) != 6:
            raise SdpParseError(f"o= has {len(fields)} fields, not 6")
        return cls(fields[0], _int(fields[1], "sess-id"), _int(fields[2], "sess-version"),
                   fields[3], fields[4], fields[5])

    def serialize(self) -> str:
        return (f"{self.username} {self.session_id} {self.session_version} "
                f"{self.nettype} {self.addrtype} {self.address}")


@value
class Connection:
    """RFC 8866 §5.7 ``c=<nettype> <addrtype> <connection-address>`` (``/ttl``, ``/count``)."""

    nettype: str
    addrtype: str
    address: str
    ttl: int | None = None
    count: int | None = None

    @classmethod
    def parse(cls, text: str) -> Connection:
        fields = _split(text, 3, "c=")
        if len(fields) != 3:
            raise SdpParseError(f"c= has {len(fields)} fields, not 3")
        address, *extra = fields[2].split("/")
        ttl = count = None
        if fields[1] == "IP4" and len(extra) >= 1:
            ttl = _int(extra[0], "ttl", 0, 255)
            extra = extra[1:]
        if len(extra) == 1:
            count = _int(extra[0], "address count", 1)
        elif extra:
            raise SdpParseError(f"c= address {fields[2]!r} has too many '/' parts")
        return cls(fields[0], fields[1], address, ttl, count)

    def serialize(self) -> str:
        text = f"{self.nettype} {self.addrtype} {self.address}"
        if self.ttl is not None:
            text += f"/{self.ttl}"
        if self.count is not None:
            text += f"/{self.count}"
        return text


@value
class Bandwidth:
    """RFC 8866 §5.8 ``b=<bwtype>:<bandwidth>``; ``AS`` in kbit/s, ``TIAS`` (RFC 3890) in bit/s."""

    type: str
    bandwidth: int

    @classmethod
    def parse(cls, text: str) -> Bandwidth:
        kind, colon, amount = text.partition(":")
        if not colon:
            raise SdpParseError(f"b= {text!r} has no ':'")
        return cls(_token(kind, "bwtype"), _int(amount, "bandwidth"))

    def serialize(self) -> str:
        return f"{self.type}:{self.bandwidth}"


@value
class Timing:
    """RFC 8866 §5.9 ``t=<start-time> <stop-time>`` (NTP seconds; WebRTC uses ``0 0``)."""

    start: int = 0
    stop: int = 0

    @classmethod
    def parse(cls, text: str) -> Timing:
        fields = _split(text, 2, "t=")
        if len(fields) != 2:
            raise SdpParseError(f"t= has {len(fields)} fields, not 2")
        return cls(_int(fields[0], "start-time"), _int(fields[1], "stop-time"))

    def serialize(self) -> str:
        return f"{self.start} {self.stop}"


@value
class MediaLine:
    """RFC 8866 §5.14 ``m=<media> <port>[/<number of ports>] <proto> <fmt> ...``.

    ``formats`` are the ``<fmt>`` strings: RTP payload type numbers for ``RTP/*`` protocols,
    ``webrtc-datachannel`` for ``UDP/DTLS/SCTP`` (RFC 8841 §4.1).  Port 0 rejects the section
    (RFC 3264 §6).
    """

    kind: str
    port: int
    protocol: str
    formats: tuple[str, ...] = ()
    port_count: int | None = None

    @classmethod
    def parse(cls, text: str) -> MediaLine:
        fields = text.split(" ")
        if len(fields) < 3 or "" in fields[:3]:
            raise SdpParseError(f"m= needs '<media> <port> <proto> <fmt>...': {text!r}")
        port_text, slash, count_text = fields[1].partition("/")
        port = _int(port_text, "port", 0, 65535)
        count = _int(count_text, "number of ports", 1) if slash else None
        formats = tuple(fields[3:])
        if "" in formats:
            raise SdpParseError(f"m= formats must be separated by single spaces: {text!r}")
        return cls(_token(fields[0], "media"), port, fields[2], formats, count)

    def serialize(self) -> str:
        port = self.port if self.port_count is None else f"{self.port}/{self.port_count}"
        return " ".join((self.kind, str(port), self.protocol, *self.formats))

    @property
    def payload_types(self) -> tuple[int, ...]:
        """The formats as RTP payload types (RFC 8866 §5.14: for RTP/AVP, the fmts are PTs)."""
        return tuple(_int(f, "payload type", 0, 127) for f in self.formats)

    @property
    def is_rtp(self) -> bool:
        return "RTP/" in self.protocol

    @property
    def is_sctp(self) -> bool:
        """RFC 8841 §4.1: ``UDP/DTLS/SCTP`` or ``TCP/DTLS/SCTP`` (``DTLS/SCTP``: old draft)."""
        return self.protocol.endswith("DTLS/SCTP")


# --- attributes (RFC 8866 §6 and the WebRTC RFCs) -------------------------------------------


@value
class RtpMap:
    """RFC 8866 §6.6 ``a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]``."""

    NAME: ClassVar[str] = "rtpmap"
    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    @classmethod
    def parse(cls, text: str) -> RtpMap:
        match = _RTPMAP(text)
        if match is not None and int(match[1]) <= 127:
            pt, name, rate, channels = match.groups()
            return cls(int(pt), name, int(rate), None if channels is None else int(channels))
        return cls._parse_fields(text)

    @classmethod
    def _parse_fields(cls, text: str) -> RtpMap:
        pt, space, rest = text.partition(" ")
        parts = rest.split("/")
        if not space or len(parts) not in (2, 3) or not parts[0]:
            raise SdpParseError(f"rtpmap needs '<pt> <name>/<rate>[/<params>]': {text!r}")
        channels = _int(parts[2], "encoding parameters", 1) if len(parts) == 3 else None
        return cls(_int(pt, "payload type", 0, 127), parts[0],
                   _int(parts[1], "clock rate", 1), channels)

    def serialize(self) -> str:
        text = f"{self.payload_type} {self.encoding}/{self.clock_rate}"
        return text if self.channels is None else f"{text}/{self.channels}"


def parse_format_parameters(text: str) -> dict[str, str | None]:
    """RFC 8866 §6.15 format parameters as ``key=value`` pairs separated by ``;``.

    Keys keep their case and order; surrounding spaces are dropped (browsers write both
    ``a=b;c=d`` and ``a=b; c=d``).  A part without ``=`` (RED's ``111/111``, telephone-event's
    ``0-16``) maps to ``None``.
    """
    params: dict[str, str | None] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        key, eq, val = part.partition("=")
        params[key.strip()] = val.strip() if eq else None
    return params


def serialize_format_parameters(params: dict[str, str | None]) -> str:
    """The inverse of :func:`parse_format_parameters` (``;`` without spaces, as Chrome writes)."""
    return ";".join(key if val is None else f"{key}={val}" for key, val in params.items())


@value
class Fmtp:
    """RFC 8866 §6.15 ``a=fmtp:<format> <format specific parameters>``.

    ``parameters`` is the text exactly as written; :attr:`params` parses it.
    """

    NAME: ClassVar[str] = "fmtp"
    payload_type: int
    parameters: str

    @classmethod
    def parse(cls, text: str) -> Fmtp:
        pt, space, parameters = text.partition(" ")
        if space and pt.isdigit() and pt.isascii() and int(pt) <= 127:
            return cls(int(pt), parameters)
        if not space:
            raise SdpParseError(f"fmtp needs '<format> <parameters>': {text!r}")
        return cls(_int(pt, "payload type", 0, 127), parameters)

    @classmethod
    def from_params(cls, payload_type: int, params: dict[str, str | None]) -> Fmtp:
        return cls(payload_type, serialize_format_parameters(params))

    def serialize(self) -> str:
        return f"{self.payload_type} {self.parameters}"

    @property
    def params(self) -> dict[str, str | None]:
        return parse_format_parameters(self.parameters)


@value
class RtcpFb:
    """RFC 4585 §4.2 ``a=rtcp-fb:<pt>|* <type> [<parameters>]`` (``nack pli``, ``ccm fir``,
    ``goog-remb``, ``transport-cc``); ``payload_type`` is ``None`` for the wildcard ``*``."""

    NAME: ClassVar[str] = "rtcp-fb"
    payload_type: int | None
    type: str
    parameter: str | None = None

    @classmethod
    def parse(cls, text: str) -> RtcpFb:
        match = _RTCP_FB(text)
        if match is not None:
            pt, kind, parameter = match.groups()
            if pt == "*":
                return cls(None, kind, parameter)
            if int(pt) <= 127:
                return cls(int(pt), kind, parameter)
        return cls._parse_fields(text)

    @classmethod
    def _parse_fields(cls, text: str) -> RtcpFb:
        fields = text.split(" ", 2)
        if len(fields) < 2 or not fields[1]:
            raise SdpParseError(f"rtcp-fb needs '<pt> <type> [<param>]': {text!r}")
        pt = None if fields[0] == "*" else _int(fields[0], "payload type", 0, 127)
        return cls(pt, _token(fields[1], "feedback type"), fields[2] if len(fields) == 3 else None)

    def serialize(self) -> str:
        pt = "*" if self.payload_type is None else str(self.payload_type)
        text = f"{pt} {self.type}"
        return text if self.parameter is None else f"{text} {self.parameter}"

    @property
    def feedback(self) -> tuple[str, str | None]:
        """``(type, parameter)``: the part that is matched between offer and answer."""
        return (self.type, self.parameter)


@value
class ExtMap:
    """RFC 8285 §8 ``a=extmap:<id>[/<direction>] <URI> [<extension attributes>]``.

    ``id`` is 1-14 for the one-byte form, up to 255 for the two-byte form; 4096-4351 are offered
    only to be renumbered by the answer (RFC 8285 §6).
    """

    NAME: ClassVar[str] = "extmap"
    id: int
    uri: str
    direction: str | None = None
    attributes: str | None = None

    @classmethod
    def parse(cls, text: str) -> ExtMap:
        match = _EXTMAP(text)
        if match is not None:
            ident, direction, uri, attributes = match.groups()
            number = int(ident)
            if 1 <= number <= 255 or 4096 <= number <= 4351:
                return cls(number, uri, direction, attributes)
        return cls._parse_fields(text)

    @classmethod
    def _parse_fields(cls, text: str) -> ExtMap:
        fields = text.split(" ", 2)
        if len(fields) < 2 or not fields[1]:
            raise SdpParseError(f"extmap needs '<id>[/<direction>] <URI>': {text!r}")
        ident, slash, direction = fields[0].partition("/")
        number = _int(ident, "extmap id", 1, 4351)
        if 255 < number < 4096:
            raise SdpParseError(f"extmap id {number} is outside 1..255 and 4096..4351")
        if slash and direction not in DIRECTIONS:
            raise SdpParseError(f"extmap direction {direction!r} is not one of {DIRECTIONS}")
        return cls(number, fields[1], direction if slash else None,
                   fields[2] if len(fields) == 3 else None)

    def serialize(self) -> str:
        text = str(self.id) if self.direction is None else f"{self.id}/{self.direction}"
        text += f" {self.uri}"
        return text if self.attributes is None else f"{text} {self.attributes}"


@value
class Candidate:
    """RFC 8839 §5.1 ``a=candidate:``, with RFC 6544 ``tcptype`` and the extensions browsers add.

    ``extensions`` keeps every ``name value`` pair after the type (and ``raddr``/``rport``) in
    order: ``tcptype`` (RFC 6544 §4.5), ``generation``, ``ufrag``, ``network-id``,
    ``network-cost``, and any other.  ``address`` may be an IPv4 or IPv6 literal or a name
    (mDNS ``<uuid>.local`` host candidates, RFC 8828 / draft-ietf-mmusic-mdns-ice-candidates).
    """

    NAME: ClassVar[str] = "candidate"
    foundation: str
    component: int
    transport: str
    priority: int
    address: str
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    extensions: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Candidate:
        match = _CANDIDATE(text)
        if match is not None:  # the common, canonical form in one regex call
            (foundation, component, transport, priority, address, port, kind, raddr, rport,
             rest) = match.groups()
            component_id, port_number = int(component), int(port)
            related_port = None if rport is None else int(rport)
            if (1 <= component_id <= 256 and port_number <= 65535 and int(priority) < 1 << 32
                    and (related_port is None or related_port <= 65535)):
                fields = rest.split(" ") if rest else ()
                extensions = tuple(zip(fields[1::2], fields[2::2], strict=True))
                if not (extensions and raddr is None and rport is None
                        and extensions[0][0] in ("raddr", "rport")):
                    return cls(foundation, component_id, transport, int(priority), address,
                               port_number, kind, raddr, related_port, extensions)
        return cls._parse_fields(text)

    @classmethod
    def _parse_fields(cls, text: str) -> Candidate:
        fields = text.split()
        if len(fields) < 8:
            raise SdpParseError(f"candidate needs at least 8 fields, got {len(fields)}: {text!r}")
        foundation = fields[0]
        if len(foundation) > 32 or not _ICE_CHARS.match(foundation):
            raise SdpParseError(f"candidate foundation {foundation!r} is not 1-32 ice-chars")
        if fields[6] != "typ":
            raise SdpParseError(f"candidate field 7 is {fields[6]!r}, not 'typ'")
        related_address = related_port = None
        rest = fields[8:]
        if len(rest) % 2:
            raise SdpParseError(f"candidate extension {rest[-1]!r} has no value")
        extensions: list[tuple[str, str]] = []
        for i in range(0, len(rest), 2):
            name, val = rest[i], rest[i + 1]
            if name == "raddr" and related_address is None and not extensions:
                related_address = val
            elif name == "rport" and related_port is None and not extensions:
                related_port = _int(val, "rport", 0, 65535)
            else:
                extensions.append((name, val))
        return cls(foundation, _int(fields[1], "component id", 1, 256),
                   _token(fields[2], "transport"), _int(fields[3], "priority", 0, (1 << 32) - 1),
                   fields[4], _int(fields[5], "port", 0, 65535), _token(fields[7], "type"),
                   related_address, related_port, tuple(extensions))

    @classmethod
    def from_ice_string(cls, text: str) -> Candidate:
        """Parse ``RTCIceCandidate.candidate`` text (``candidate:`` prefix, W3C WebRTC §4.8.1)."""
        return cls.parse(text.removeprefix("a=").removeprefix("candidate:"))

    def serialize(self) -> str:
        parts = [self.foundation, str(self.component), self.transport, str(self.priority),
                 self.address, str(self.port), "typ", self.type]
        if self.related_address is not None:
            parts += ["raddr", self.related_address]
        if self.related_port is not None:
            parts += ["rport", str(self.related_port)]
        for name, val in self.extensions:
            parts += [name, val]
        return " ".join(parts)

    def to_ice_string(self) -> str:
        return "candidate:" + self.serialize()

    def extension(self, name: str) -> str | None:
        for key, val in self.extensions:
            if key == name:
                return val
        return None

    @property
    def tcptype(self) -> str | None:
        """RFC 6544 §4.5: ``active``, ``passive`` or ``so`` for TCP candidates."""
        return self.extension("tcptype")

    @property
    def generation(self) -> int | None:
        text = self.extension("generation")
        return int(text) if text is not None and text.isdigit() else None

    @property
    def ufrag(self) -> str | None:
        return self.extension("ufrag")

    @property
    def network_id(self) -> int | None:
        text = self.extension("network-id")
        return int(text) if text is not None and text.isdigit() else None

    @property
    def network_cost(self) -> int | None:
        text = self.extension("network-cost")
        return int(text) if text is not None and text.isdigit() else None

    @property
    def is_mdns(self) -> bool:
        """A host candidate whose address is an mDNS name (``<uuid>.local``)."""
        return self.address.lower().endswith(".local")

    @property
    def is_udp(self) -> bool:
        return self.transport.lower() == "udp"


@value
class Fingerprint:
    """RFC 8122 §5 ``a=fingerprint:<hash-func> <fingerprint>`` (``sha-256 AB:CD:...``)."""

    NAME: ClassVar[str] = "fingerprint"
    algorithm: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Fingerprint:
        algorithm, space, fingerprint = text.partition(" ")
        if not space or not algorithm:
            raise SdpParseError(f"fingerprint needs '<hash-func> <hex pairs>': {text!r}")
        octets = fingerprint.split(":")
        if any(len(o) != 2 for o in octets):
            raise SdpParseError(f"fingerprint {fingerprint!r} is not colon-separated hex pairs")
        try:
            bytes.fromhex("".join(octets))
        except ValueError:
            raise SdpParseError(f"fingerprint {fingerprint!r} is not hexadecimal") from None
        return cls(_token(algorithm, "hash function"), fingerprint)

    @classmethod
    def from_digest(cls, algorithm: str, digest: bytes) -> Fingerprint:
        """RFC 8122 §5: "UHEX" pairs separated by colons."""
        return cls(algorithm, ":".join(f"{b:02X}" for b in digest))

    def serialize(self) -> str:
        return f"{self.algorithm} {self.value}"

    @property
    def digest(self) -> bytes:
        return bytes.fromhex(self.value.replace(":", ""))

    def matches(self, digest: bytes, algorithm: str) -> bool:
        """RFC 8122 §5: hash-function names compare case-insensitively."""
        return self.algorithm.lower() == algorithm.lower() and self.digest == digest


@value
class Setup:
    """RFC 4145 §4 / RFC 8842 §5 ``a=setup:actpass|active|passive|holdconn``."""

    NAME: ClassVar[str] = "setup"
    ROLES: ClassVar[tuple[str, ...]] = ("actpass", "active", "passive", "holdconn")
    role: str

    @classmethod
    def parse(cls, text: str) -> Setup:
        if text not in cls.ROLES:
            raise SdpParseError(f"setup {text!r} is not one of {', '.join(cls.ROLES)}")
        return cls(text)

    def serialize(self) -> str:
        return self.role


@value
class Mid:
    """RFC 5888 §4 / RFC 9143 ``a=mid:<identification-tag>`` (a token)."""

    NAME: ClassVar[str] = "mid"
    value: str

    @classmethod
    def parse(cls, text: str) -> Mid:
        return cls(_token(text, "mid"))

    def serialize(self) -> str:
        return self.value


@value
class IceUfrag:
    """RFC 8839 §5.4 ``a=ice-ufrag:<4-256 ice-chars>``."""

    NAME: ClassVar[str] = "ice-ufrag"
    value: str

    @classmethod
    def parse(cls, text: str) -> IceUfrag:
        if not _ICE_CHARS.match(text):
            raise SdpParseError(f"ice-ufrag {text!r} is not ice-chars")
        return cls(text)

    def serialize(self) -> str:
        return self.value


@value
class IcePwd:
    """RFC 8839 §5.4 ``a=ice-pwd:<22-256 ice-chars>``."""

    NAME: ClassVar[str] = "ice-pwd"
    value: str

    @classmethod
    def parse(cls, text: str) -> IcePwd:
        if not _ICE_CHARS.match(text):
            raise SdpParseError(f"ice-pwd {text!r} is not ice-chars")
        return cls(text)

    def serialize(self) -> str:
        return self.value


@value
class IceOptions:
    """RFC 8839 §5.6 ``a=ice-options:<token> ...`` (``trickle`` RFC 8840, ``ice2`` RFC 8445)."""

    NAME: ClassVar[str] = "ice-options"
    options: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> IceOptions:
        options = tuple(text.split())
        if not options:
            raise SdpParseError("ice-options lists no option")
        return cls(tuple(_token(o, "ice option") for o in options))

    def serialize(self) -> str:
        return " ".join(self.options)


@value
class Group:
    """RFC 5888 §5 ``a=group:<semantics> <mid> ...`` (``BUNDLE``, RFC 9143 §7.1)."""

    NAME: ClassVar[str] = "group"
    semantics: str
    mids: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Group:
        fields = text.split(" ")
        mids = tuple(f for f in fields[1:] if f)
        return cls(_token(fields[0], "group semantics"),
                   tuple(_token(m, "mid") for m in mids))

    def serialize(self) -> str:
        return " ".join((self.semantics, *self.mids))


@value
class Msid:
    """RFC 8830 §2 ``a=msid:<stream id> [<track id>]`` (``-`` is "no stream")."""

    NAME: ClassVar[str] = "msid"
    stream_id: str
    track_id: str | None = None

    @classmethod
    def parse(cls, text: str) -> Msid:
        fields = text.split(" ")
        if not 1 <= len(fields) <= 2 or "" in fields:
            raise SdpParseError(f"msid needs '<stream id> [<track id>]': {text!r}")
        return cls(fields[0], fields[1] if len(fields) == 2 else None)

    def serialize(self) -> str:
        return self.stream_id if self.track_id is None else f"{self.stream_id} {self.track_id}"


@value
class MsidSemantic:
    """``a=msid-semantic: WMS <stream id> ...`` (from a pre-RFC 8830 draft; Chrome still writes
    it, with a space after the colon, which :meth:`serialize` keeps)."""

    NAME: ClassVar[str] = "msid-semantic"
    semantics: str
    identifiers: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> MsidSemantic:
        fields = text.split()
        if not fields:
            raise SdpParseError("msid-semantic is empty")
        return cls(fields[0], tuple(fields[1:]))

    def serialize(self) -> str:
        return " " + " ".join((self.semantics, *self.identifiers))


@value
class Ssrc:
    """RFC 5576 §4.1 ``a=ssrc:<ssrc-id> <attribute>[:<value>]`` (``cname``, ``msid``)."""

    NAME: ClassVar[str] = "ssrc"
    ssrc: int
    attribute: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Ssrc:
        ident, space, rest = text.partition(" ")
        if rest and ident.isdigit() and ident.isascii() and int(ident) < 1 << 32:
            name, colon, val = rest.partition(":")
            return cls(int(ident), name, val if colon else None)
        if not space or not rest:
            raise SdpParseError(f"ssrc needs '<ssrc-id> <attribute>[:<value>]': {text!r}")
        name, colon, val = rest.partition(":")
        return cls(_int(ident, "ssrc", 0, (1 << 32) - 1), name, val if colon else None)

    def serialize(self) -> str:
        text = f"{self.ssrc} {self.attribute}"
        return text if self.value is None else f"{text}:{self.value}"


@value
class SsrcGroup:
    """RFC 5576 §4.2 ``a=ssrc-group:<semantics> <ssrc-id> ...`` (``FID`` for RTX, ``SIM``)."""

    NAME: ClassVar[str] = "ssrc-group"
    semantics: str
    ssrcs: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> SsrcGroup:
        fields = text.split(" ")
        if len(fields) < 2 or "" in fields:
            raise SdpParseError(f"ssrc-group needs '<semantics> <ssrc>...': {text!r}")
        return cls(_token(fields[0], "ssrc-group semantics"),
                   tuple(_int(f, "ssrc", 0, (1 << 32) - 1) for f in fields[1:]))

    def serialize(self) -> str:
        return " ".join((self.semantics, *map(str, self.ssrcs)))


@value
class Rid:
    """RFC 8851 §10 ``a=rid:<rid-id> send|recv [pt=<fmt>,...;<restriction>=<value>;...]``.

    ``payload_types`` comes from the ``pt=`` parameter (which RFC 8851 §10 puts first);
    ``restrictions`` keeps the other parameters in order (``max-width``, ``max-fps``...).
    """

    NAME: ClassVar[str] = "rid"
    id: str
    direction: str
    payload_types: tuple[int, ...] = ()
    restrictions: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Rid:
        fields = text.split(" ")
        if len(fields) not in (2, 3) or "" in fields:
            raise SdpParseError(f"rid needs '<rid-id> send|recv [<params>]': {text!r}")
        rid, direction = fields[0], fields[1]
        if not re.fullmatch(r"[A-Za-z0-9_-]+", rid):
            raise SdpParseError(f"rid id {rid!r} has characters other than A-Z a-z 0-9 _ -")
        if direction not in ("send", "recv"):
            raise SdpParseError(f"rid direction {direction!r} is not send or recv")
        pts: tuple[int, ...] = ()
        restrictions: list[tuple[str, str | None]] = []
        if len(fields) == 3:
            for i, part in enumerate(fields[2].split(";")):
                key, eq, val = part.partition("=")
                if not key:
                    raise SdpParseError(f"rid parameter {part!r} has no name")
                if key == "pt":
                    if i:
                        raise SdpParseError("rid 'pt=' must be the first parameter (RFC 8851 §10)")
                    pts = tuple(_int(p, "payload type", 0, 127) for p in val.split(","))
                else:
                    restrictions.append((key, val if eq else None))
        return cls(rid, direction, pts, tuple(restrictions))

    def serialize(self) -> str:
        params = []
        if self.payload_types:
            params.append("pt=" + ",".join(map(str, self.payload_types)))
        params += [k if v is None else f"{k}={v}" for k, v in self.restrictions]
        text = f"{self.id} {self.direction}"
        return f"{text} {';'.join(params)}" if params else text


@value
class SimulcastRid:
    """One ``sc-id`` of RFC 8853 §5.1: a rid, ``paused`` when written with a ``~`` prefix."""

    rid: str
    paused: bool = False

    def serialize(self) -> str:
        return f"~{self.rid}" if self.paused else self.rid


def _parse_streams(text: str) -> tuple[tuple[SimulcastRid, ...], ...]:
    streams = []
    for alternatives in text.split(";"):
        alts = []
        for sc_id in alternatives.split(","):
            paused = sc_id.startswith("~")
            rid = sc_id[1:] if paused else sc_id
            if not re.fullmatch(r"[A-Za-z0-9_-]+", rid):
                raise SdpParseError(f"simulcast id {sc_id!r} is not a rid")
            alts.append(SimulcastRid(rid, paused))
        streams.append(tuple(alts))
    return tuple(streams)


def _serialize_streams(streams: tuple[tuple[SimulcastRid, ...], ...]) -> str:
    return ";".join(",".join(r.serialize() for r in alts) for alts in streams)


@value
class Simulcast:
    """RFC 8853 §5.1 ``a=simulcast:send <streams> recv <streams>`` (either part, either order).

    Each direction is a tuple of streams (``;``-separated); each stream a tuple of alternative
    rids (``,``-separated).  ``recv_first`` remembers that ``recv`` was written before ``send``
    (it is False when only one direction is present).
    """

    NAME: ClassVar[str] = "simulcast"
    send: tuple[tuple[SimulcastRid, ...], ...] = ()
    recv: tuple[tuple[SimulcastRid, ...], ...] = ()
    recv_first: bool = False

    @classmethod
    def parse(cls, text: str) -> Simulcast:
        fields = text.split(" ")
        if len(fields) not in (2, 4) or "" in fields:
            raise SdpParseError(f"simulcast needs 'send|recv <streams> [recv|send <streams>]': "
                                f"{text!r}")
        parts: dict[str, tuple[tuple[SimulcastRid, ...], ...]] = {}
        for i in range(0, len(fields), 2):
            direction = fields[i]
            if direction not in ("send", "recv") or direction in parts:
                raise SdpParseError(f"simulcast direction {direction!r} is not a new send/recv")
            parts[direction] = _parse_streams(fields[i + 1])
        return cls(parts.get("send", ()), parts.get("recv", ()), len(parts) == 2 and
                   fields[0] == "recv")

    def serialize(self) -> str:
        parts = []
        if self.send:
            parts.append(f"send {_serialize_streams(self.send)}")
        if self.recv:
            parts.append(f"recv {_serialize_streams(self.recv)}")
        if self.recv_first:
            parts.reverse()
        return " ".join(parts)

    def reversed(self) -> Simulcast:
        """RFC 8853 §5.3: the answer mirrors the offer, with send and recv swapped."""
        return Simulcast(self.recv, self.send, self.recv_first)


@value
class Rtcp:
    """RFC 3605 §2.1 ``a=rtcp:<port> [<nettype> <addrtype> <connection-address>]``."""

    NAME: ClassVar[str] = "rtcp"
    port: int
    nettype: str | None = None
    addrtype: str | None = None
    address: str | None = None

    @classmethod
    def parse(cls, text: str) -> Rtcp:
        fields = text.split(" ")
        if len(fields) not in (1, 4) or "" in fields:
            raise SdpParseError(f"rtcp needs '<port> [<nettype> <addrtype> <address>]': {text!r}")
        port = _int(fields[0], "rtcp port", 0, 65535)
        if len(fields) == 1:
            return cls(port)
        return cls(port, fields[1], fields[2], fields[3])

    def serialize(self) -> str:
        if self.nettype is None:
            return str(self.port)
        return f"{self.port} {self.nettype} {self.addrtype} {self.address}"


@value
class SctpPort:
    """RFC 8841 §5 ``a=sctp-port:<port>``."""

    NAME: ClassVar[str] = "sctp-port"
    port: int

    @classmethod
    def parse(cls, text: str) -> SctpPort:
        return cls(_int(text, "sctp-port", 0, 65535))

    def serialize(self) -> str:
        return str(self.port)


@value
class MaxMessageSize:
    """RFC 8841 §6 ``a=max-message-size:<bytes>`` (0: no limit; absent: 64 KiB, §6.1)."""

    NAME: ClassVar[str] = "max-message-size"
    size: int

    @classmethod
    def parse(cls, text: str) -> MaxMessageSize:
        return cls(_int(text, "max-message-size"))

    def serialize(self) -> str:
        return str(self.size)


@value
class SctpMap:
    """``a=sctpmap:<port> webrtc-datachannel <streams>`` from draft-ietf-mmusic-sctp-sdp-05,
    which old peers still send with ``m=application <port> DTLS/SCTP <port>``."""

    NAME: ClassVar[str] = "sctpmap"
    port: int
    protocol: str
    streams: int | None = None

    @classmethod
    def parse(cls, text: str) -> SctpMap:
        fields = text.split(" ")
        if len(fields) not in (2, 3) or "" in fields:
            raise SdpParseError(f"sctpmap needs '<port> <protocol> [<streams>]': {text!r}")
        streams = _int(fields[2], "streams") if len(fields) == 3 else None
        return cls(_int(fields[0], "sctpmap port", 0, 65535), fields[1], streams)

    def serialize(self) -> str:
        text = f"{self.port} {self.protocol}"
        return text if self.streams is None else f"{text} {self.streams}"


#: Attribute name -> typed class, for every attribute with a value that rtcstack types.
REGISTRY: dict[str, type[Attribute]] = {
    cls.NAME: cls
    for cls in (
        RtpMap, Fmtp, RtcpFb, ExtMap, Candidate, Fingerprint, Setup, Mid, IceUfrag, IcePwd,
        IceOptions, Group, Msid, MsidSemantic, Ssrc, SsrcGroup, Rid, Simulcast, Rtcp, SctpPort,
        MaxMessageSize, SctpMap,
    )
}
