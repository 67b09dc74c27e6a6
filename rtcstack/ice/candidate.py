"""RFC 8445 §5.1 candidates: types, priorities, foundations; RFC 8839 §5.1 their SDP form.

A :class:`Candidate` is a transport address the agent may use, with the metadata ICE needs to
pair and rank it.  Its text form is the RFC 8839 ``candidate-attribute`` grammar (the same text a
browser's ``RTCIceCandidate.candidate`` carries); parsing and serializing reuse the SDP layer's
grammar (:class:`rtcstack.sdp.Candidate`) so there is one implementation of it.

    >>> c = Candidate.parse("1 1 udp 2130706431 192.0.2.7 40000 typ host")
    >>> c.type, c.addr, c.priority == candidate_priority(CandidateType.HOST, 65535, 1)
    (<CandidateType.HOST: 'host'>, ('192.0.2.7', 40000), True)
    >>> pair_priority(c.priority, 1694498815)
    7277816997797167103
"""

from __future__ import annotations

import dataclasses
import ipaddress
import zlib
from enum import StrEnum

from rtcstack.common.errors import ParseError
from rtcstack.common.types import Address
from rtcstack.common.values import value
from rtcstack.sdp.attributes import Candidate as SdpCandidate

__all__ = [
    "TYPE_PREFERENCE",
    "Candidate",
    "CandidateType",
    "candidate_priority",
    "foundation_for",
    "local_preference",
    "pair_priority",
]


class CandidateType(StrEnum):
    """RFC 8445 §5.1.1 / RFC 8839 §5.1 ``cand-type``."""

    HOST = "host"
    SERVER_REFLEXIVE = "srflx"
    PEER_REFLEXIVE = "prflx"
    RELAYED = "relay"


# RFC 8445 §5.1.2.2: "The RECOMMENDED values for type preferences are 126 for host candidates, 110
# for peer-reflexive candidates, 100 for server-reflexive candidates, and 0 for relayed
# candidates."
TYPE_PREFERENCE: dict[CandidateType, int] = {
    CandidateType.HOST: 126,
    CandidateType.PEER_REFLEXIVE: 110,
    CandidateType.SERVER_REFLEXIVE: 100,
    CandidateType.RELAYED: 0,
}


def candidate_priority(
    kind: CandidateType,
    local_pref: int = 65535,
    component: int = 1,
    *,
    type_preference: int | None = None,
) -> int:
    """RFC 8445 §5.1.2.1::

        priority = (2^24)*(type preference) + (2^8)*(local preference) + (2^0)*(256 - component ID)

    The type preference is :data:`TYPE_PREFERENCE` (the §5.1.2.2 RECOMMENDED values) unless
    ``type_preference`` is given: RFC 6544 §4.2 lowers it by one for TCP candidates when UDP is
    preferred (125 host, 99 server-reflexive), RFC 8421 §4 demotes some IPv6 host candidates.
    "The type preference MUST be an integer from 0 (lowest preference) to 126 (highest
    preference) inclusive" (§5.1.2.1).
    """
    if type_preference is None:
        type_preference = TYPE_PREFERENCE[kind]
    elif not 0 <= type_preference <= 126:
        raise ValueError(f"type preference {type_preference} is not in 0..126")
    if not 0 <= local_pref <= 65535:
        raise ValueError(f"local preference {local_pref} is not in 0..65535")
    if not 1 <= component <= 256:
        raise ValueError(f"component ID {component} is not in 1..256")
    priority = (type_preference << 24) + (local_pref << 8) + (256 - component)
    if priority == 0:  # type and local preference 0, component 256
        raise ValueError("RFC 8445 §5.1.2: the priority \"MUST be a positive integer between 1"
                         " and (2**31 - 1)\"; the formula gives 0 here")
    return priority


def local_preference(address: str, index: int = 0, *, ipv6_first: bool = True) -> int:
    """RFC 8421 §4 local preference for a multihomed, dual-stack host.

    Addresses are ranked so that the IP families interleave ("the local preference values of
    the IPv6 and IPv4 candidates SHOULD be interleaved", §4), the preferred family first:
    ``index`` is the address's position within its family (0 = most preferred interface).
    The result stays within 0..65535 and is unique for distinct (family, index) up to 16383
    interfaces per family.
    """
    is_v6 = ipaddress.ip_address(address.split("%", 1)[0]).version == 6
    rank = 2 * index + (0 if is_v6 == ipv6_first else 1)
    return max(0, 65535 - rank * 2)


def pair_priority(controlling: int, controlled: int) -> int:
    """RFC 8445 §6.1.2.3: with G the controlling agent's candidate priority, D the controlled's::

        pair priority = 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0)
    """
    return (min(controlling, controlled) << 32) + 2 * max(controlling, controlled) + (
        1 if controlling > controlled else 0
    )


def foundation_for(
    kind: CandidateType, base_ip: str, server: str | None = None, transport: str = "udp"
) -> str:
    """RFC 8445 §5.1.1.3: the same foundation for candidates that have "the same type, base IP
    address, IP address of the STUN or TURN server used to obtain them, and transport protocol";
    different otherwise.  The text is a decimal CRC-32 of those four, as browsers write them."""
    key = f"{kind.value}|{_ip_key(base_ip)}|{_ip_key(server or '')}|{transport.lower()}"
    return str(zlib.crc32(key.encode()))


def _ip_key(text: str) -> str:
    """One spelling per IP address ("the same IP address", RFC 8445 §5.1.1.3): ``2001:DB8::1``
    and ``2001:db8:0::1`` are one address; a zone (``%eth0``) is kept; a name is lower-cased."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text.lower()


@value
class Candidate:
    """RFC 8445 §5.1 a candidate; ``base`` is where the agent sends from (§5.1.1.1, local only).

    ``address`` is an IP literal, or a ``<uuid>.local`` mDNS name for a remote candidate not yet
    resolved (RFC 8839 §5.1 / draft-ietf-mmusic-mdns-ice-candidates).  ``extensions`` keeps the
    ``name value`` pairs after the type (``generation``, ``ufrag``, ``network-id`` ...) in order.

    ``transport`` is lower-case (RFC 8839 §5.1 grammar strings are case-insensitive: ``UDP`` and
    ``udp`` are one transport) and ``tcptype`` is RFC 6544 §4.5's direction.  So that
    :meth:`serialize` gives back the text :meth:`parse` read, byte for byte:

    - ``spelling`` keeps the transport and type as written (``UDP`` in the RFCs and Firefox,
      ``udp`` in Chromium); it takes no part in equality, and is ignored once it no longer
      matches the field (after ``dataclasses.replace``);
    - a ``tcptype`` written as the first extension (RFC 6544 §4.5, browsers) moves to the field
      and is written first again; written anywhere else, or more than once, the extensions keep
      it where it was and the field holds the first value.
    """

    foundation: str
    component: int
    transport: str
    priority: int
    address: str
    port: int
    type: CandidateType
    related_address: str | None = None
    related_port: int | None = None
    tcptype: str | None = None
    extensions: tuple[tuple[str, str], ...] = ()
    spelling: tuple[str, str] | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def addr(self) -> Address:
        return (self.address, self.port)

    @property
    def is_mdns(self) -> bool:
        return self.address.lower().endswith(".local")

    @property
    def ufrag(self) -> str | None:
        """The ``ufrag`` extension (which ICE generation the candidate belongs to)."""
        for name, val in self.extensions:
            if name == "ufrag":
                return val
        return None

    @classmethod
    def from_sdp(cls, c: SdpCandidate) -> Candidate:
        try:
            kind = CandidateType(c.type.lower())
        except ValueError:
            raise ParseError(f"unknown candidate type {c.type!r}") from None
        extensions = c.extensions
        if extensions and extensions[0][0] == "tcptype" and all(
                k != "tcptype" for k, _ in extensions[1:]):
            extensions = extensions[1:]
        transport = c.transport.lower()
        spelling = None if transport == c.transport and kind.value == c.type else (
            c.transport, c.type)
        return cls(c.foundation, c.component, transport, c.priority, c.address, c.port,
                   kind, c.related_address, c.related_port, c.tcptype, extensions, spelling)

    def to_sdp(self) -> SdpCandidate:
        extensions = self.extensions
        if self.tcptype is not None and all(k != "tcptype" for k, _ in extensions):
            extensions = (("tcptype", self.tcptype), *extensions)
        transport, kind = self.transport, self.type.value
        if self.spelling is not None:
            written_transport, written_type = self.spelling
            if written_transport.lower() == transport:
                transport = written_transport
            if written_type.lower() == kind:
                kind = written_type
        return SdpCandidate(self.foundation, self.component, transport, self.priority,
                            self.address, self.port, kind, self.related_address,
                            self.related_port, extensions)

    @classmethod
    def parse(cls, text: str) -> Candidate:
        """Parse an RFC 8839 §5.1 ``candidate-attribute`` value; the ``a=`` and ``candidate:``
        prefixes are optional (``RTCIceCandidate.candidate`` carries ``candidate:``).  Raises
        :class:`ParseError` (SDP's subclass of it) for anything else."""
        return cls.from_sdp(SdpCandidate.from_ice_string(text.strip()))

    def serialize(self) -> str:
        """The ``candidate-attribute`` value without ``a=candidate:``."""
        return self.to_sdp().serialize()

    def to_ice_string(self) -> str:
        """``candidate:...`` as ``RTCIceCandidate.candidate`` carries it."""
        return "candidate:" + self.serialize()

    def __str__(self) -> str:
        return f"{self.type.value} {self.transport} {self.address}:{self.port}"
