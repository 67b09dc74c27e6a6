"""RFC 8489 §12 Basic STUN server, with RFC 5780 §6 NAT behaviour discovery, sans-IO.

:class:`StunServer` answers Binding requests (RFC 8489 §6.3.1) for one or several local transport
addresses at once.  It never touches a socket or a clock: the driver feeds every received datagram
(or, over TCP, every framed message) with the local address it arrived on, and sends what
:meth:`StunServer.poll_transmit` returns from ``Transmit.source``::

    >>> from rtcstack.stun import Message, MessageClass, Method, XorMappedAddress
    >>> server = StunServer(("192.0.2.1", 3478), software="example")
    >>> request = Message(Method.BINDING, MessageClass.REQUEST, b"0123456789ab")
    >>> server.handle_datagram(request.serialize(), ("198.51.100.7", 40000), now=0.0,
    ...                        local=("192.0.2.1", 3478))
    >>> out = server.poll_transmit()
    >>> out.addr, out.source, Message.parse(out.data).get(XorMappedAddress).address
    (('198.51.100.7', 40000), ('192.0.2.1', 3478), ('198.51.100.7', 40000))
    >>> server.poll_transmit() is None
    True

What it implements:

- RFC 8489 §6.3: basic checks (garbage, responses, unsupported methods and bad FINGERPRINTs are
  dropped and counted in :attr:`StunServer.stats`, never raised), §6.3.1 420 with
  UNKNOWN-ATTRIBUTES, §6.3.1.1 XOR-MAPPED-ADDRESS (and optionally MAPPED-ADDRESS for RFC 3489
  clients), SOFTWARE, FINGERPRINT when the request carried one; §6.3.2 indications are absorbed.
- RFC 8489 §9.1.3 short-term credentials (:class:`ShortTermAuth`) and §9.2.4 long-term
  credentials (:class:`LongTermAuth`): stateless nonces (an expiry time and the client address
  under an HMAC with a per-server secret) carrying the "nonce cookie", PASSWORD-ALGORITHMS
  (SHA-256, MD5), USERHASH, the bid-down check, 400/401/438, responses signed with the same key.
- RFC 5780 §6: with an alternate address the server owns four transport addresses
  (A1:P1, A1:P2, A2:P1, A2:P2); responses carry MAPPED-ADDRESS, RESPONSE-ORIGIN and OTHER-ADDRESS;
  CHANGE-REQUEST picks ``Transmit.source``; RESPONSE-PORT picks the destination port; PADDING is
  answered with as much padding.  Without an alternate, CHANGE-REQUEST gets a 420.

Out of scope: ALTERNATE-SERVER (RFC 8489 §12: a basic server "SHOULD NOT utilize" it), RFC 3489
"classic STUN" requests without the magic cookie (they are dropped as unparseable), TURN methods.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from rtcstack.common.errors import ParseError
from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.common.types import Address, Transmit
from rtcstack.stun.attributes import (
    FEATURE_PASSWORD_ALGORITHMS,
    FEATURE_USERNAME_ANONYMITY,
    Attribute,
    AttrType,
    ChangeRequest,
    MappedAddress,
    Nonce,
    OtherAddress,
    Padding,
    PasswordAlgorithm,
    PasswordAlgorithmId,
    PasswordAlgorithms,
    PasswordAlgorithmSpec,
    Realm,
    ResponseOrigin,
    ResponsePort,
    Software,
    UnknownAttributes,
    Userhash,
    Username,
    XorMappedAddress,
    make_nonce_cookie,
)
from rtcstack.stun.credentials import long_term_key, short_term_key, userhash
from rtcstack.stun.errors import BAD_REQUEST, STALE_NONCE, UNAUTHENTICATED, UNKNOWN_ATTRIBUTE
from rtcstack.stun.message import Message, MessageClass, Method

__all__ = ["LongTermAuth", "ServerStats", "ShortTermAuth", "StunServer"]

# RFC 768 / RFC 791: the largest UDP payload over IPv4 (65535 - 20 - 8).  RFC 5780 §7.6:
# "PADDING MUST NOT be longer than the length that brings the total IP datagram size to 64K."
MAX_UDP_PAYLOAD = 65507
# MESSAGE-INTEGRITY (24) + MESSAGE-INTEGRITY-SHA256 (36) + FINGERPRINT (8), with room to spare.
_TRAILER_BUDGET = 72


@dataclass(frozen=True, slots=True)
class ShortTermAuth:
    """RFC 8489 §9.1: short-term credentials; ``password(username)`` is ``None`` when unknown."""

    password: Callable[[str], str | None]

    @classmethod
    def from_users(cls, users: Mapping[str, str]) -> ShortTermAuth:
        table = dict(users)
        return cls(table.get)


@dataclass(frozen=True, slots=True)
class LongTermAuth:
    """RFC 8489 §9.2: long-term credentials for one ``realm``.

    ``password(username)`` returns the password or ``None``.  ``username_for_hash(userhash)``,
    when given, resolves a USERHASH (§14.4) and makes the server announce the "Username
    anonymity" security feature.  Nonces expire ``nonce_lifetime`` seconds after they are issued.
    ``algorithms`` is the PASSWORD-ALGORITHMS list, in order of preference (§9.2.4).
    """

    realm: str
    password: Callable[[str], str | None]
    username_for_hash: Callable[[bytes], str | None] | None = None
    nonce_lifetime: float = 600.0
    algorithms: tuple[int, ...] = (PasswordAlgorithmId.SHA256, PasswordAlgorithmId.MD5)

    def __post_init__(self) -> None:
        if not self.algorithms:
            raise ValueError("LongTermAuth: at least one password algorithm is needed")
        for alg in self.algorithms:
            if alg not in (PasswordAlgorithmId.MD5, PasswordAlgorithmId.SHA256):
                raise ValueError(f"LongTermAuth: unsupported password algorithm 0x{alg:04x}")
        if self.nonce_lifetime <= 0:
            raise ValueError("LongTermAuth: nonce_lifetime must be positive")

    @classmethod
    def from_users(
        cls,
        realm: str,
        users: Mapping[str, str],
        *,
        anonymity: bool = True,
        nonce_lifetime: float = 600.0,
    ) -> LongTermAuth:
        """Credentials from a ``{username: password}`` table; USERHASH support if ``anonymity``."""
        table = dict(users)
        by_hash: dict[bytes, str] = {}
        if anonymity:
            for name in table:
                try:
                    by_hash[userhash(name, realm)] = name
                except ValueError:  # a name OpaqueString rejects cannot be hashed; USERNAME only
                    continue
        return cls(
            realm,
            table.get,
            by_hash.get if anonymity else None,
            nonce_lifetime=nonce_lifetime,
        )


@dataclass(slots=True)
class ServerStats:
    """Counters of everything the server received and did."""

    received: int = 0
    requests: int = 0
    indications: int = 0
    success: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    malformed: int = 0
    responses_dropped: int = 0
    unsupported_method: int = 0
    bad_fingerprint: int = 0
    indications_dropped: int = 0

    @property
    def dropped(self) -> int:
        return (
            self.malformed
            + self.responses_dropped
            + self.unsupported_method
            + self.bad_fingerprint
            + self.indications_dropped
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "received": self.received,
            "requests": self.requests,
            "indications": self.indications,
            "success": self.success,
            "errors": dict(self.errors),
            "malformed": self.malformed,
            "responses_dropped": self.responses_dropped,
            "unsupported_method": self.unsupported_method,
            "bad_fingerprint": self.bad_fingerprint,
            "indications_dropped": self.indications_dropped,
        }


@dataclass(frozen=True, slots=True)
class _Signing:
    """How to sign a response: HMAC key and which integrity attribute (RFC 8489 §9.1.3, §9.2.4)."""

    key: bytes
    sha256: bool


class _Reject(Exception):
    """Internal: stop processing a request and answer with an error response."""

    def __init__(
        self,
        code: int,
        reason: str = "",
        attributes: tuple[Attribute, ...] = (),
        signing: _Signing | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.reason = reason
        self.attributes = attributes
        self.signing = signing


def _normalize_host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address") from None


def _is_unspecified(host: str) -> bool:
    return host in ("0.0.0.0", "::")


class StunServer:
    """A sans-IO STUN server (RFC 8489 §12) for ``primary`` and, optionally, ``alternate``.

    ``primary`` is A1:P1.  With ``alternate`` (A2:P2, a different IP *and* a different port) the
    server acts as an RFC 5780 §6 server for the four addresses A1:P1, A1:P2, A2:P1, A2:P2, and
    the driver must listen on all four (:attr:`local_addresses`).  ``primary`` may be ``None`` or
    a wildcard host when there is no alternate: then answers leave from wherever the request
    arrived.

    ``mapped_address`` adds MAPPED-ADDRESS to every success response (for RFC 3489 clients; RFC
    5780 §6.1 requires it anyway whenever the server acts for that usage).
    """

    def __init__(
        self,
        primary: Address | None = None,
        alternate: Address | None = None,
        *,
        software: str | None = None,
        mapped_address: bool = False,
        short_term: ShortTermAuth | None = None,
        long_term: LongTermAuth | None = None,
        random_bytes: RandomBytes = default_random_bytes,
        trace: Trace = NULL_TRACE,
    ) -> None:
        if short_term is not None and long_term is not None:
            raise ValueError("use short-term or long-term credentials, not both")
        self.primary: Address | None = None
        self.alternate: Address | None = None
        if primary is not None:
            self.primary = (_normalize_host(primary[0]), int(primary[1]))
        if alternate is not None:
            if self.primary is None:
                raise ValueError("an alternate address needs a primary address")
            self.alternate = (_normalize_host(alternate[0]), int(alternate[1]))
            (a1, p1), (a2, p2) = self.primary, self.alternate
            if _is_unspecified(a1) or _is_unspecified(a2):
                raise ValueError("RFC 5780 needs specific IP addresses, not a wildcard")
            if a1 == a2 or p1 == p2:
                raise ValueError(
                    "RFC 5780 §6: the alternate address needs a different IP and a different port"
                )
            if ipaddress.ip_address(a1).version != ipaddress.ip_address(a2).version:
                raise ValueError("primary and alternate addresses must be of the same family")
        self.software = Software(software) if software else None
        if self.software is not None:
            self.software.encode(b"")  # reject an over-long SOFTWARE now, not per response
        self.mapped_address = mapped_address
        self.short_term = short_term
        self.long_term = long_term
        self.stats = ServerStats()
        self._trace = trace
        self._transmits: deque[Transmit] = deque()
        self._nonce_secret = random_bytes(32)
        self._nonce_cookie = ""
        self._algorithms = PasswordAlgorithms(())
        self._realm = Realm("")
        if long_term is not None:
            features = FEATURE_PASSWORD_ALGORITHMS
            if long_term.username_for_hash is not None:
                features |= FEATURE_USERNAME_ANONYMITY
            self._nonce_cookie = make_nonce_cookie(features)
            self._algorithms = PasswordAlgorithms(
                tuple(PasswordAlgorithmSpec(a) for a in long_term.algorithms)
            )
            self._realm = Realm(long_term.realm)

    # --- configuration ----------------------------------------------------------------------

    @property
    def local_addresses(self) -> list[Address]:
        """The transport addresses the driver must receive on (RFC 5780 §6: four with an
        alternate, in the order A1:P1, A1:P2, A2:P1, A2:P2)."""
        if self.primary is None:
            return []
        if self.alternate is None:
            return [self.primary]
        (a1, p1), (a2, p2) = self.primary, self.alternate
        return [(a1, p1), (a1, p2), (a2, p1), (a2, p2)]

    def _change_targets(self, local: Address) -> tuple[str, int] | None:
        """RFC 5780 §6.1: (Ca, Cp) for a request received on ``local`` = (Da, Dp), or ``None``
        when the server has no alternate or ``local`` is not one of its four addresses."""
        if self.primary is None or self.alternate is None:
            return None
        (a1, p1), (a2, p2) = self.primary, self.alternate
        da, dp = local[0], local[1]
        if da == a1:
            ca = a2
        elif da == a2:
            ca = a1
        else:
            return None
        if dp == p1:
            cp = p2
        elif dp == p2:
            cp = p1
        else:
            return None
        return ca, cp

    # --- drive loop -------------------------------------------------------------------------

    def handle_datagram(
        self, data: bytes, addr: Address, *, now: float, local: Address, transport: str = "udp"
    ) -> None:
        """Process one datagram (or one framed message on a stream) from ``addr`` received on
        ``local``.  Never raises for anything the network sent: bad input is counted and traced.
        """
        stats = self.stats
        stats.received += 1
        addr = (addr[0], addr[1])
        local = (local[0], local[1])
        try:
            message = Message.parse(data)
        except ParseError as exc:
            stats.malformed += 1
            self._trace("stun.server.drop", reason=exc.reason, offset=exc.offset, addr=addr)
            return
        # RFC 8489 §6.3: "If the message class is "Success Response" or "Error Response", the
        # agent checks that the transaction ID matches a transaction that is still in
        # progress" -- a server has none, so responses are discarded.
        if message.message_class in (MessageClass.SUCCESS, MessageClass.ERROR):
            stats.responses_dropped += 1
            self._trace("stun.server.drop", reason="response", addr=addr)
            return
        # RFC 8489 §6.3: the agent checks "that the method value is a supported method ... If
        # any errors are detected, the message is silently discarded."
        if message.method != Method.BINDING:
            stats.unsupported_method += 1
            self._trace("stun.server.drop", reason=f"method 0x{message.method:03x}", addr=addr)
            return
        # RFC 8489 §6.3: "If the FINGERPRINT extension is being used, the agent checks that the
        # FINGERPRINT attribute is present and contains the correct value."  RFC 8489 §12: a
        # basic server "MAY utilize the FINGERPRINT mechanism but MUST NOT require it".
        if message.has_fingerprint and not message.check_fingerprint():
            stats.bad_fingerprint += 1
            self._trace("stun.server.drop", reason="bad FINGERPRINT", addr=addr)
            return
        if message.message_class == MessageClass.INDICATION:
            self._indication(message, addr)
            return
        stats.requests += 1
        self._request(message, addr, local, transport, now)

    def poll_transmit(self) -> Transmit | None:
        """The next response to send (from ``Transmit.source`` to ``Transmit.addr``)."""
        return self._transmits.popleft() if self._transmits else None

    # --- indications (RFC 8489 §6.3.2) ------------------------------------------------------

    def _indication(self, message: Message, addr: Address) -> None:
        stats = self.stats
        # RFC 8489 §6.3.2: "If the indication contains unknown comprehension-required
        # attributes, the indication is discarded and processing ceases."
        if message.unknown_comprehension_required():
            stats.indications_dropped += 1
            self._trace("stun.server.drop", reason="indication with unknown attributes", addr=addr)
            return
        if self.short_term is not None and self._short_term_key(message) is None:
            # RFC 8489 §9.1.3: "If the message is an indication, the agent MUST silently
            # discard the indication."
            stats.indications_dropped += 1
            self._trace("stun.server.drop", reason="unauthenticated indication", addr=addr)
            return
        # RFC 8489 §6.3.2: "For the Binding method, no additional checking or processing is
        # required ... The mere receipt of the message by the agent has refreshed the bindings".
        stats.indications += 1
        self._trace("stun.server.indication", addr=addr)

    # --- requests (RFC 8489 §6.3.1) ---------------------------------------------------------

    def _request(
        self, request: Message, addr: Address, local: Address, transport: str, now: float
    ) -> None:
        signing: _Signing | None = None
        try:
            if self.short_term is not None:
                signing = self._check_short_term(request)
            elif self.long_term is not None:
                signing = self._check_long_term(request, addr, now)
            self._respond_binding(request, addr, local, transport, signing)
        except _Reject as reject:
            self._send_error(request, addr, local, transport, reject, signing)

    def _send_error(
        self,
        request: Message,
        addr: Address,
        local: Address,
        transport: str,
        reject: _Reject,
        signing: _Signing | None,
    ) -> None:
        attrs = list(reject.attributes)
        if self.software is not None:
            attrs.append(self.software)
        response = request.error_response(reject.code, reject.reason, *attrs)
        sign = reject.signing if reject.signing is not None else signing
        data = self._serialize(response, request, sign)
        self.stats.errors[reject.code] = self.stats.errors.get(reject.code, 0) + 1
        self._trace(
            "stun.server.response",
            addr=addr,
            local=local,
            transport=transport,
            code=reject.code,
            reason=reject.reason,
        )
        self._transmits.append(Transmit(data, addr, local, transport))

    def _serialize(self, response: Message, request: Message, signing: _Signing | None) -> bytes:
        # FINGERPRINT is added when the request carried one (RFC 8489 §7: the usage decides;
        # a client that uses it expects it back).
        fingerprint = request.has_fingerprint
        if signing is None:
            return response.serialize(fingerprint=fingerprint)
        if signing.sha256:
            return response.serialize(integrity_sha256_key=signing.key, fingerprint=fingerprint)
        return response.serialize(integrity_key=signing.key, fingerprint=fingerprint)

    def _respond_binding(
        self,
        request: Message,
        addr: Address,
        local: Address,
        transport: str,
        signing: _Signing | None,
    ) -> None:
        change = request.get(ChangeRequest)
        response_port = request.get(ResponsePort)
        padding = request.get(Padding)
        targets = self._change_targets(local)

        # RFC 8489 §6.3.1: "If the request contains one or more unknown comprehension-required
        # attributes, the server replies with an error response with an error code of 420".
        # RFC 5780 §6.1: "If the Request contains the CHANGE-REQUEST attribute and the server
        # does not have an alternate address and port as described above, the server MUST
        # generate an error response of type 420."
        unknown = list(request.unknown_comprehension_required())
        if change is not None and targets is None:
            unknown.append(AttrType.CHANGE_REQUEST)
        if unknown:
            raise _Reject(UNKNOWN_ATTRIBUTE, "", (UnknownAttributes(tuple(unknown)),))

        # RFC 5780 §7.5: "The server MUST NOT process a request containing a RESPONSE-PORT and
        # a PADDING attribute." / §6.1: "the server MUST return an error response of type 400".
        if padding is not None and response_port is not None:
            raise _Reject(BAD_REQUEST, "RESPONSE-PORT with PADDING")
        stream = transport != "udp"
        changing = change is not None and (change.change_ip or change.change_port)
        if stream and (changing or response_port is not None):
            # RFC 8489 §6.3.1.2: over TCP "the response is sent back on the same TCP connection
            # as the request was received on", so neither can be honoured.
            raise _Reject(BAD_REQUEST, "CHANGE-REQUEST and RESPONSE-PORT need UDP")
        if response_port is not None and response_port.port == 0:
            raise _Reject(BAD_REQUEST, "RESPONSE-PORT 0")

        # RFC 5780 §6.1 Table 1: the source of the response.
        source = local
        if targets is not None and change is not None:
            ca, cp = targets
            source = (ca if change.change_ip else local[0], cp if change.change_port else local[1])
        rfc5780 = targets is not None or response_port is not None or padding is not None

        # RFC 8489 §6.3.1.1: "the server adds an XOR-MAPPED-ADDRESS attribute to the response;
        # this attribute contains the source transport address of the request message."
        attrs: list[Attribute] = [XorMappedAddress(addr)]
        # RFC 5780 §6.1: "The server MUST include both MAPPED-ADDRESS and XOR-MAPPED-ADDRESS in
        # its Response."
        if self.mapped_address or rfc5780:
            attrs.append(MappedAddress(addr))
        # RFC 5780 §6.1: "The server MUST add a RESPONSE-ORIGIN attribute to the Binding
        # Response, containing the source address and port used to send the Binding Response."
        if rfc5780 and not _is_unspecified(source[0]):
            attrs.append(ResponseOrigin(source))
        # RFC 5780 §6.1: "If the server supports an alternate address and port, the server MUST
        # add an OTHER-ADDRESS attribute ... these are Ca and Cp, respectively, regardless of
        # the value of the CHANGE-REQUEST flags."
        if targets is not None:
            attrs.append(OtherAddress(targets))
        if self.software is not None:
            attrs.append(self.software)
        if padding is not None:
            # RFC 5780 §6.1: "If the Request contained a PADDING attribute, PADDING MUST be
            # included in the Binding Response."  We answer with as much padding as the client
            # sent, bounded so that the datagram stays within 64K (§7.6).
            base = len(request.success_response(*attrs).serialize()) + 4 + _TRAILER_BUDGET
            size = min(len(padding.value), MAX_UDP_PAYLOAD - base)
            size -= size % 4
            attrs.append(Padding(b"\x00" * max(size, 0)))
        response = request.success_response(*attrs)
        data = self._serialize(response, request, signing)
        # RFC 5780 §6.1: "If RESPONSE-PORT is present, the server sends the response to that
        # port instead of the originating port."
        destination = addr if response_port is None else (addr[0], response_port.port)
        self.stats.success += 1
        self._trace(
            "stun.server.response",
            addr=addr,
            local=local,
            transport=transport,
            code=0,
            source=source,
            destination=destination,
        )
        self._transmits.append(Transmit(data, destination, source, transport))

    # --- short-term credentials (RFC 8489 §9.1.3) -------------------------------------------

    def _short_term_key(self, message: Message) -> _Signing | None:
        """The signing of a message that passes the §9.1.3 checks, else ``None``."""
        try:
            return self._check_short_term(message)
        except _Reject:
            return None

    def _check_short_term(self, request: Message) -> _Signing:
        auth = self.short_term
        if auth is None:  # pragma: no cover - only called with short-term configured
            raise ValueError("no short-term credentials configured")
        username = request.get(Username)
        # RFC 8489 §9.1.3: "If the message does not contain 1) a MESSAGE-INTEGRITY or a
        # MESSAGE-INTEGRITY-SHA256 attribute and 2) a USERNAME attribute: ... the server MUST
        # reject the request with an error response.  This response MUST use an error code of
        # 400 (Bad Request)."
        if username is None or not request.has_integrity:
            raise _Reject(BAD_REQUEST, "USERNAME and MESSAGE-INTEGRITY are required")
        # "If the USERNAME does not contain a username value currently valid within the server:
        # ... This response MUST use an error code of 401 (Unauthenticated)."
        password = auth.password(username.value)
        if password is None:
            raise _Reject(UNAUTHENTICATED, "unknown username")
        try:
            key = short_term_key(password)
        except ValueError:
            raise _Reject(UNAUTHENTICATED, "unusable password") from None
        # "If the MESSAGE-INTEGRITY-SHA256 attribute is present, compute the value for the
        # message integrity as described in Section 14.6 ... If the resulting value does not
        # match ... This response MUST use an error code of 401 (Unauthenticated)."
        sha256 = request.offsets[1] >= 0
        ok = request.check_integrity_sha256(key) if sha256 else request.check_integrity(key)
        if not ok:
            raise _Reject(UNAUTHENTICATED, "integrity check failed")
        # "Any response generated by a server to a request that contains a MESSAGE-INTEGRITY-
        # SHA256 attribute MUST include the MESSAGE-INTEGRITY-SHA256 attribute ... to a request
        # that contains only a MESSAGE-INTEGRITY attribute MUST include the MESSAGE-INTEGRITY".
        return _Signing(key, sha256)

    # --- long-term credentials (RFC 8489 §9.2.4) --------------------------------------------

    def _nonce(self, addr: Address, now: float) -> str:
        """A stateless nonce: the nonce cookie (§9.2), then base64url of an expiry time (ms)
        and an HMAC over it and the client's address.  §9.2.4: "The server MUST NOT choose the
        same NONCE for two requests unless they have the same source IP address and port." --
        the address is under the HMAC."""
        auth = self.long_term
        lifetime = auth.nonce_lifetime if auth is not None else 0.0
        expiry = max(0, int((now + lifetime) * 1000)).to_bytes(8, "big")
        mac = hmac.digest(self._nonce_secret, expiry + _address_bytes(addr), "sha256")[:12]
        return self._nonce_cookie + base64.urlsafe_b64encode(expiry + mac).decode().rstrip("=")

    def _nonce_valid(self, nonce: str, addr: Address, now: float) -> bool:
        cookie = self._nonce_cookie
        if not nonce.startswith(cookie) or len(nonce) != len(cookie) + 27:
            return False
        try:
            raw = base64.urlsafe_b64decode(nonce[len(cookie) :] + "=")
        except ValueError:
            return False
        if len(raw) != 20:
            return False
        expiry, mac = raw[:8], raw[8:]
        expected = hmac.digest(self._nonce_secret, expiry + _address_bytes(addr), "sha256")[:12]
        if not hmac.compare_digest(mac, expected):
            return False
        return int.from_bytes(expiry, "big") > now * 1000

    def _challenge(self, addr: Address, now: float) -> tuple[Attribute, ...]:
        return (self._realm, Nonce(self._nonce(addr, now)), self._algorithms)

    def _check_long_term(self, request: Message, addr: Address, now: float) -> _Signing:
        auth = self.long_term
        if auth is None:  # pragma: no cover - only called with long-term configured
            raise ValueError("no long-term credentials configured")
        # RFC 8489 §9.2.4: "If the message does not contain a MESSAGE-INTEGRITY or MESSAGE-
        # INTEGRITY-SHA256 attribute, the server MUST generate an error response with an error
        # code of 401 (Unauthenticated).  This response MUST include a REALM value.  The
        # response MUST include a NONCE, selected by the server. ... If the server adds a
        # PASSWORD-ALGORITHMS attribute, it MUST set the STUN Security Feature "Password
        # algorithms" bit to 1."
        if not request.has_integrity:
            raise _Reject(UNAUTHENTICATED, "", self._challenge(addr, now))
        username = request.get(Username)
        hashed = request.get(Userhash)
        realm = request.get(Realm)
        nonce = request.get(Nonce)
        # "If the message contains a MESSAGE-INTEGRITY or a MESSAGE-INTEGRITY-SHA256 attribute,
        # but is missing either the USERNAME or USERHASH, REALM, or NONCE attribute, the server
        # MUST generate an error response with an error code of 400 (Bad Request)."
        if (username is None and hashed is None) or realm is None or nonce is None:
            raise _Reject(BAD_REQUEST, "USERNAME or USERHASH, REALM and NONCE are required")

        algorithm: int = PasswordAlgorithmId.MD5
        chosen = request.get(PasswordAlgorithm)
        offered = request.get(PasswordAlgorithms)
        processed_as_md5 = chosen is None and offered is None
        features = nonce.security_features
        if features is not None and features & FEATURE_PASSWORD_ALGORITHMS:
            # "If the NONCE attribute starts with the "nonce cookie" with the STUN Security
            # Feature "Password algorithms" bit set to 1 ... If the request contains neither
            # the PASSWORD-ALGORITHMS nor the PASSWORD-ALGORITHM algorithm, then the request is
            # processed as though PASSWORD-ALGORITHM were MD5.  Otherwise, unless (1)
            # PASSWORD-ALGORITHM and PASSWORD-ALGORITHMS are both present, (2) PASSWORD-
            # ALGORITHMS matches the value sent in the response that sent this NONCE, and (3)
            # PASSWORD-ALGORITHM matches one of the entries in PASSWORD-ALGORITHMS, the server
            # MUST generate an error response with an error code of 400 (Bad Request)."
            if not processed_as_md5:
                if (
                    chosen is None
                    or offered is None
                    or offered.algorithms != self._algorithms.algorithms
                    or PasswordAlgorithmSpec(chosen.algorithm, chosen.parameters)
                    not in offered.algorithms
                ):
                    raise _Reject(BAD_REQUEST, "PASSWORD-ALGORITHMS mismatch (bid-down)")
                algorithm = chosen.algorithm
        elif chosen is not None:
            # A nonce that is not ours: the request will get 438 below; the algorithm must
            # still be one we offer so that the 438 can be signed with the right key.
            if chosen.algorithm not in auth.algorithms:
                raise _Reject(BAD_REQUEST, "unsupported PASSWORD-ALGORITHM")
            algorithm = chosen.algorithm

        # "If the value of the USERNAME or USERHASH attribute is not valid, the server MUST
        # generate an error response with an error code of 401 (Unauthenticated).  This
        # response MUST include a REALM value.  The response MUST include a NONCE ...  The
        # response MUST include a PASSWORD-ALGORITHMS attribute."
        name: str | None
        if username is not None:
            name = username.value
        elif hashed is not None and auth.username_for_hash is not None:
            name = auth.username_for_hash(hashed.value)
        else:
            name = None
        password = auth.password(name) if name is not None else None
        if name is None or password is None:
            raise _Reject(UNAUTHENTICATED, "unknown username", self._challenge(addr, now))
        try:
            key = long_term_key(name, auth.realm, password, algorithm)
        except ValueError:
            raise _Reject(
                UNAUTHENTICATED, "unusable credentials", self._challenge(addr, now)
            ) from None

        # "If the MESSAGE-INTEGRITY-SHA256 attribute is present, compute the value for the
        # message integrity as described in Section 14.6 ... If the resulting value does not
        # match ... the server MUST reject the request with an error response.  This response
        # MUST use an error code of 401 (Unauthenticated).  It MUST include the REALM and NONCE
        # attributes".
        if request.offsets[1] >= 0:
            ok = request.check_integrity_sha256(key)
        else:
            ok = request.check_integrity(key)
        if not ok:
            raise _Reject(UNAUTHENTICATED, "integrity check failed", self._challenge(addr, now))

        # "Any response generated by the server MUST include the MESSAGE-INTEGRITY-SHA256
        # attribute ... unless the request was processed as though PASSWORD-ALGORITHM was MD5
        # ... In that case, the MESSAGE-INTEGRITY attribute MUST be used instead".
        signing = _Signing(key, sha256=not processed_as_md5)

        # "If the NONCE is no longer valid, the server MUST generate an error response with an
        # error code of 438 (Stale Nonce).  This response MUST include NONCE, REALM, and
        # PASSWORD-ALGORITHMS attributes ... The response MAY include a MESSAGE-INTEGRITY or
        # MESSAGE-INTEGRITY-SHA256 attribute".
        if not self._nonce_valid(nonce.value, addr, now):
            raise _Reject(STALE_NONCE, "", self._challenge(addr, now), signing)
        return signing


def _address_bytes(addr: Address) -> bytes:
    return f"{addr[0]}|{addr[1]}".encode()
