"""RFC 8489 §6.2-6.3 and §9 a sans-IO STUN client: many transactions, one drive loop.

:class:`StunClient` runs any number of requests to any number of servers.  It matches responses
by transaction ID, drops and counts anything else (garbage, unknown IDs, bad FINGERPRINT, forged
integrity), and implements the client side of both credential mechanisms:

- short-term (RFC 8489 §9.1, as ICE uses it): ``request(..., integrity_key=key)`` adds
  MESSAGE-INTEGRITY and requires the response's to verify with the same key (§9.1.4);
- long-term (§9.2): ``request(..., credentials=LongTermCredentials(user, password))`` sends the
  first request bare (§9.2.3.1), answers a 401 with USERNAME or USERHASH, REALM, NONCE,
  PASSWORD-ALGORITHMS / PASSWORD-ALGORITHM and MESSAGE-INTEGRITY(-SHA256) (§9.2.5), retries once
  on 438 with the new nonce, verifies responses with the same key, and caches the realm, nonce
  and key per server for subsequent requests (§9.2.3.2).

A retry after 401 or 438 is a new transaction with a new transaction ID; the events carry the ID
that :meth:`StunClient.request` returned (the first transaction's), so a caller follows one
request from start to end.  The drive loop::

    >>> from rtcstack.common import SeededRandom
    >>> from rtcstack.stun import Message, MessageClass, Method, XorMappedAddress
    >>> client = StunClient(random_bytes=SeededRandom(1))
    >>> tid = client.request(Message.new(Method.BINDING, MessageClass.REQUEST),
    ...                      ("192.0.2.1", 3478), now=0.0)
    >>> sent = client.poll_transmit()
    >>> request = Message.parse(sent.data)
    >>> reply = request.success_response(XorMappedAddress(("198.51.100.1", 40000)))
    >>> client.handle_datagram(reply.serialize(), ("192.0.2.1", 3478), now=0.05)
    >>> event = client.poll_event()
    >>> event.transaction_id == tid, event.response.get(XorMappedAddress).address
    (True, ('198.51.100.1', 40000))
    >>> client.poll_timeout() is None
    True
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeAlias

from rtcstack.common.errors import InvalidStateError, ParseError
from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.common.types import Address, Transmit
from rtcstack.stun.attributes import (
    FEATURE_PASSWORD_ALGORITHMS,
    FEATURE_USERNAME_ANONYMITY,
    Attribute,
    AttrType,
    ErrorCode,
    Nonce,
    PasswordAlgorithm,
    PasswordAlgorithmId,
    PasswordAlgorithms,
    Realm,
    Software,
    Userhash,
    Username,
    nonce_security_features,
)
from rtcstack.stun.credentials import LongTermCredentials, long_term_key, opaque_string, userhash
from rtcstack.stun.errors import BAD_REQUEST, STALE_NONCE, UNAUTHENTICATED
from rtcstack.stun.message import Message, MessageClass
from rtcstack.stun.transaction import (
    DEFAULT_RC,
    DEFAULT_RM,
    DEFAULT_TI,
    ClientTransaction,
    RtoEstimator,
    TransactionAborted,
    TransactionEvent,
    TransactionTimedOut,
)

__all__ = [
    "ClientEvent",
    "ClientStats",
    "FailureReason",
    "RequestFailed",
    "RequestTimedOut",
    "ResponseReceived",
    "StunClient",
]

# Attributes the client adds itself for the long-term mechanism; a caller's copies are dropped.
_AUTH_TYPES = frozenset(
    {
        AttrType.USERNAME,
        AttrType.USERHASH,
        AttrType.REALM,
        AttrType.NONCE,
        AttrType.PASSWORD_ALGORITHMS,
        AttrType.PASSWORD_ALGORITHM,
        AttrType.MESSAGE_INTEGRITY,
        AttrType.MESSAGE_INTEGRITY_SHA256,
        AttrType.FINGERPRINT,
    }
)
_MAC_TYPES = frozenset(
    {AttrType.MESSAGE_INTEGRITY, AttrType.MESSAGE_INTEGRITY_SHA256, AttrType.FINGERPRINT}
)
_SUPPORTED_ALGORITHMS = (PasswordAlgorithmId.MD5, PasswordAlgorithmId.SHA256)


# --- events -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A success response to ``request`` (authenticated when the request was)."""

    transaction_id: bytes  # the ID request() returned
    request: Message
    response: Message
    addr: Address  # where the response came from


class FailureReason(Enum):
    ERROR_RESPONSE = "error-response"  # RFC 8489 §6.3.4 (after any §9.2.5 retry)
    UNKNOWN_ATTRIBUTES = "unknown-attributes"  # §6.3.3 / §6.3.4
    INTEGRITY_VIOLATED = "integrity-violated"  # §9.1.4 / §9.2.5
    ABORTED = "aborted"  # §6.2.2 connection failure, hard ICMP error, or abort()


@dataclass(frozen=True, slots=True)
class RequestFailed:
    """The request ended without success; ``response`` is the error response when there is one."""

    transaction_id: bytes
    request: Message
    reason: FailureReason
    response: Message | None = None
    addr: Address | None = None
    detail: str = ""

    @property
    def error_code(self) -> int | None:
        return self.response.error_code if self.response is not None else None


@dataclass(frozen=True, slots=True)
class RequestTimedOut:
    """No response within the RFC 8489 §6.2.1 / §6.2.2 schedule."""

    transaction_id: bytes
    request: Message


ClientEvent: TypeAlias = ResponseReceived | RequestFailed | RequestTimedOut


@dataclass(slots=True)
class ClientStats:
    """Counters of what the client received and what it dropped (each drop is also traced)."""

    datagrams: int = 0
    parse_errors: int = 0
    not_responses: int = 0  # requests and indications are not for a client
    unmatched: int = 0  # unknown or finished transaction ID
    bad_fingerprint: int = 0
    integrity_failures: int = 0  # §9.1.4 / §9.2.5: discarded
    ignored_bid_down: int = 0  # §9.2.5: nonce cookie says PASSWORD-ALGORITHMS, attribute absent
    retries: int = 0  # new transactions after 401 / 438
    responses: int = 0  # responses accepted


# --- per-server long-term state ---------------------------------------------------------------


@dataclass(slots=True)
class _Auth:
    """What a long-term request is signed with (RFC 8489 §9.2.5), cached per server (§9.2.3.2)."""

    username: str
    password: str
    realm: str
    nonce: str
    algorithm: int | None  # PASSWORD-ALGORITHM to send, None when the server offered none
    algorithms: PasswordAlgorithms | None  # echoed exactly (bid-down protection, §9.2.4)
    use_userhash: bool
    key: bytes = b""

    def __post_init__(self) -> None:
        self.key = long_term_key(
            self.username, self.realm, self.password, self.algorithm or PasswordAlgorithmId.MD5
        )

    @property
    def sha256(self) -> bool:
        """§9.2.5: "If the response contains a PASSWORD-ALGORITHMS attribute, all the subsequent
        requests MUST be authenticated using MESSAGE-INTEGRITY-SHA256 only."""
        return self.algorithms is not None

    def attributes(self) -> list[Attribute]:
        out: list[Attribute] = []
        if self.use_userhash:
            out.append(Userhash(userhash(self.username, self.realm)))
        else:
            out.append(Username(self.username))
        out += [Realm(self.realm), Nonce(self.nonce)]
        if self.algorithms is not None:
            out.append(self.algorithms)
        if self.algorithm is not None:
            out.append(PasswordAlgorithm(self.algorithm))
        return out


@dataclass(slots=True)
class _Exchange:
    """One user request, possibly spanning several transactions (401 / 438 retries)."""

    id: bytes
    request: Message
    addr: Address
    source: Address | None
    credentials: LongTermCredentials | None
    integrity_key: bytes | None
    fingerprint: bool
    rto: float
    rc: int
    rm: int
    reliable: bool
    ti: float
    transaction: ClientTransaction | None = None
    auth: _Auth | None = None
    retried_401: bool = False
    retried_438: bool = False
    integrity_violated: bool = False
    history: list[bytes] = field(default_factory=list)  # earlier transaction IDs


# --- the client -------------------------------------------------------------------------------


class StunClient:
    """RFC 8489 client transactions over one drive loop (see the module docstring).

    ``rto``/``rc``/``rm``/``ti``/``reliable`` are defaults each :meth:`request` may override.
    With ``rto=None`` (the default) the RTO of each server is estimated from earlier
    transactions (RFC 8489 §6.2.1, RFC 6298), starting at 500 ms.
    """

    def __init__(
        self,
        *,
        rto: float | None = None,
        rc: int = DEFAULT_RC,
        rm: int = DEFAULT_RM,
        ti: float = DEFAULT_TI,
        reliable: bool = False,
        software: str | None = None,
        random_bytes: RandomBytes = default_random_bytes,
        trace: Trace = NULL_TRACE,
    ) -> None:
        self.rto = rto
        self.rc = rc
        self.rm = rm
        self.ti = ti
        self.reliable = reliable
        self.software = software
        self.stats = ClientStats()
        self._random_bytes = random_bytes
        self._trace = trace
        self._by_tid: dict[bytes, _Exchange] = {}
        self._exchanges: dict[bytes, _Exchange] = {}
        self._transmits: deque[Transmit] = deque()
        self._events: deque[ClientEvent] = deque()
        self._auth_cache: dict[tuple[Address, str], _Auth] = {}
        self._rto: dict[str, RtoEstimator] = {}

    # --- user actions ---------------------------------------------------------------------

    def request(
        self,
        message: Message,
        addr: Address,
        *,
        now: float,
        credentials: LongTermCredentials | None = None,
        integrity_key: bytes | None = None,
        fingerprint: bool = True,
        rto: float | None = None,
        rc: int | None = None,
        rm: int | None = None,
        reliable: bool | None = None,
        ti: float | None = None,
        source: Address | None = None,
    ) -> bytes:
        """Start a request; return its ID (``message.transaction_id``).

        ``message`` must be a request with a transaction ID not in use.  USERNAME, REALM, NONCE,
        the integrity attributes and FINGERPRINT are added by the client (any copies in
        ``message`` are replaced).  ``integrity_key`` selects the short-term mechanism,
        ``credentials`` the long-term one; not both.
        """
        if message.message_class is not MessageClass.REQUEST:
            raise ValueError(f"{message.message_class.name} is not a request")
        if credentials is not None and integrity_key is not None:
            raise ValueError("use either credentials (long-term) or integrity_key (short-term)")
        tid = message.transaction_id
        if len(tid) != 12:
            raise ValueError(f"transaction ID is {len(tid)} bytes, must be 12")
        if tid in self._by_tid or tid in self._exchanges:
            raise InvalidStateError(f"transaction {tid.hex()} is already in progress")
        if credentials is not None:
            # §14.3: USERNAME "MUST have been processed using the OpaqueString profile";
            # fail here, on the caller's stack, rather than when the 401 arrives.
            credentials = LongTermCredentials(
                opaque_string(credentials.username), credentials.password
            )
            opaque_string(credentials.password)
        is_reliable = self.reliable if reliable is None else reliable
        exchange = _Exchange(
            id=tid,
            request=message,
            addr=addr,
            source=source,
            credentials=credentials,
            integrity_key=integrity_key,
            fingerprint=fingerprint,
            rto=rto if rto is not None else self._rto_for(addr, now),
            rc=self.rc if rc is None else rc,
            rm=self.rm if rm is None else rm,
            reliable=is_reliable,
            ti=self.ti if ti is None else ti,
        )
        if credentials is not None:
            # §9.2.3.2: a subsequent request to the same server reuses the cached realm/nonce;
            # otherwise §9.2.3.1: the first request carries no credentials at all.
            cached = self._auth_cache.get((addr, credentials.username))
            if cached is not None and cached.password == credentials.password:
                exchange.auth = cached
        self._exchanges[tid] = exchange
        self._start(exchange, tid, now)
        return tid

    def cancel(self, transaction_id: bytes) -> bool:
        """Forget a request without an event (its caller gave up).  True if it was running."""
        exchange = self._exchanges.pop(transaction_id, None)
        if exchange is None:
            return False
        self._forget(exchange)
        self._trace("stun.client.cancel", transaction_id=transaction_id.hex())
        return True

    def abort(self, reason: str, *, addr: Address | None = None) -> None:
        """Fail every running request (to ``addr`` only, if given) with ``ABORTED``: the driver
        reports a TCP connection that was reset or failed (RFC 8489 §6.2.2) or a hard ICMP error
        (§6.2.1)."""
        for exchange in list(self._exchanges.values()):
            if (addr is None or exchange.addr == addr) and exchange.transaction is not None:
                exchange.transaction.abort(reason)
                self._drain(exchange)

    @property
    def pending(self) -> int:
        """How many requests are still running."""
        return len(self._exchanges)

    # --- drive loop -----------------------------------------------------------------------

    def handle_datagram(self, data: bytes, addr: Address, *, now: float) -> None:
        """Feed one received datagram (or one framed message from a stream).  Never raises for
        anything the network sends: bad input is dropped, counted in :attr:`stats` and traced."""
        self.stats.datagrams += 1
        try:
            message = Message.parse(data)
        except ParseError as exc:
            self.stats.parse_errors += 1
            self._trace("stun.client.drop", why="parse-error", reason=exc.reason, addr=addr)
            return
        self.handle_message(message, addr, now=now)

    def handle_message(self, message: Message, addr: Address, *, now: float) -> None:
        """Like :meth:`handle_datagram` for an already parsed message (it must carry ``raw``)."""
        if message.message_class not in (MessageClass.SUCCESS, MessageClass.ERROR):
            self.stats.not_responses += 1
            self._drop("not-a-response", message, addr)
            return
        exchange = self._by_tid.get(message.transaction_id)
        if exchange is None or exchange.transaction is None:
            self.stats.unmatched += 1
            self._drop("unmatched", message, addr)
            return
        # §7 / §14.7: "the agent also checks that the message contains a FINGERPRINT attribute
        # and that the attribute contains the correct value" -- when the peer sent one.
        if message.has_fingerprint and not message.check_fingerprint():
            self.stats.bad_fingerprint += 1
            self._drop("bad-fingerprint", message, addr)
            return
        if exchange.auth is not None:
            self._handle_long_term(exchange, message, addr, now)
        elif exchange.integrity_key is not None:
            if self._verify(exchange, message, exchange.integrity_key, sha256=False, addr=addr):
                self._complete(exchange, message, addr, now)
        elif exchange.credentials is not None and self._is_challenge(message):
            self._handle_challenge(exchange, message, addr, now)
        else:
            self._complete(exchange, message, addr, now)

    def handle_timeout(self, now: float) -> None:
        """Retransmit and time out whatever is due at ``now``."""
        for exchange in list(self._exchanges.values()):
            t = exchange.transaction
            if t is not None and (deadline := t.poll_timeout()) is not None and deadline <= now:
                t.handle_timeout(now)
                self._drain(exchange)

    def poll_transmit(self) -> Transmit | None:
        return self._transmits.popleft() if self._transmits else None

    def poll_event(self) -> ClientEvent | None:
        return self._events.popleft() if self._events else None

    def poll_timeout(self) -> float | None:
        """The earliest deadline over every running transaction; ``None`` when idle."""
        best: float | None = None
        for exchange in self._exchanges.values():
            t = exchange.transaction
            deadline = t.poll_timeout() if t is not None else None
            if deadline is not None and (best is None or deadline < best):
                best = deadline
        return best

    # --- internals: transactions ----------------------------------------------------------

    def _rto_for(self, addr: Address, now: float) -> float:
        if self.rto is not None:
            return self.rto
        est = self._rto.get(addr[0])
        return est.current(now) if est is not None else RtoEstimator().initial

    def _start(self, exchange: _Exchange, tid: bytes, now: float) -> None:
        # The client adds integrity and FINGERPRINT itself; with long-term credentials also
        # USERNAME/USERHASH, REALM, NONCE and the password algorithms (any copies are replaced).
        drop = _AUTH_TYPES if exchange.credentials is not None else _MAC_TYPES
        attrs = [a for a in exchange.request.attributes if a.type not in drop]
        if self.software is not None and not any(a.type == AttrType.SOFTWARE for a in attrs):
            attrs.append(Software(self.software))
        key = exchange.integrity_key  # short-term (§9.1.2): the caller supplies USERNAME
        key256: bytes | None = None
        auth = exchange.auth
        if auth is not None:
            attrs += auth.attributes()
            if auth.sha256:
                key, key256 = None, auth.key
            else:
                key = auth.key
        message = Message(exchange.request.method, MessageClass.REQUEST, tid, tuple(attrs))
        data = message.serialize(
            integrity_key=key, integrity_sha256_key=key256, fingerprint=exchange.fingerprint
        )
        exchange.transaction = ClientTransaction(
            data,
            tid,
            exchange.addr,
            now=now,
            rto=exchange.rto,
            rc=exchange.rc,
            rm=exchange.rm,
            reliable=exchange.reliable,
            ti=exchange.ti,
            source=exchange.source,
            trace=self._trace,
        )
        self._by_tid[tid] = exchange
        self._drain(exchange)

    def _retry(self, exchange: _Exchange, now: float, why: str) -> None:
        """§9.2.5: "retry the request with a new transaction"."""
        old = exchange.transaction
        if old is not None:
            old.abort("superseded by a retry")
            old.poll_event()
            self._by_tid.pop(old.transaction_id, None)
            exchange.history.append(old.transaction_id)
        self.stats.retries += 1
        tid = self._new_tid()
        self._trace(
            "stun.client.retry", transaction_id=exchange.id.hex(), new=tid.hex(), why=why, now=now
        )
        exchange.integrity_violated = False
        self._start(exchange, tid, now)

    def _new_tid(self) -> bytes:
        while True:
            tid = self._random_bytes(12)
            if tid not in self._by_tid and tid not in self._exchanges:
                return tid

    def _drain(self, exchange: _Exchange) -> None:
        t = exchange.transaction
        if t is None:
            return
        while (tx := t.poll_transmit()) is not None:
            self._transmits.append(tx)
        event = t.poll_event()
        if event is not None:
            self._finish(exchange, event)

    def _finish(self, exchange: _Exchange, event: TransactionEvent) -> None:
        """A transaction ended by timeout or abort (responses go through :meth:`_complete`)."""
        if isinstance(event, TransactionTimedOut):
            est = self._rto.setdefault(exchange.addr[0], RtoEstimator())
            if exchange.transaction is not None:
                est.backoff(now=exchange.transaction.started)
            if exchange.integrity_violated:
                # §9.1.4 / §9.2.5: "If all the responses received are discarded, then instead of
                # signaling a timeout after ending the transaction, the layer MUST signal that
                # the integrity protection was violated."
                self._end(
                    exchange,
                    RequestFailed(
                        exchange.id,
                        exchange.request,
                        FailureReason.INTEGRITY_VIOLATED,
                        detail="every response failed the integrity check",
                    ),
                )
            else:
                self._end(exchange, RequestTimedOut(exchange.id, exchange.request))
        elif isinstance(event, TransactionAborted):
            self._end(
                exchange,
                RequestFailed(
                    exchange.id, exchange.request, FailureReason.ABORTED, detail=event.reason
                ),
            )
        # Succeeded / Failed events are produced only by our own handle_response calls.

    def _end(self, exchange: _Exchange, event: ClientEvent) -> None:
        self._exchanges.pop(exchange.id, None)
        self._forget(exchange)
        self._events.append(event)
        self._trace(
            "stun.client.done", transaction_id=exchange.id.hex(), event=type(event).__name__
        )

    def _forget(self, exchange: _Exchange) -> None:
        if exchange.transaction is not None:
            self._by_tid.pop(exchange.transaction.transaction_id, None)

    def _drop(self, why: str, message: Message, addr: Address) -> None:
        self._trace(
            "stun.client.drop", why=why, transaction_id=message.transaction_id.hex(), addr=addr
        )

    def _complete(self, exchange: _Exchange, message: Message, addr: Address, now: float) -> None:
        """Hand an accepted response to its transaction and report the request's outcome."""
        t = exchange.transaction
        if t is None or not t.handle_response(message, now=now):
            self.stats.unmatched += 1
            self._drop("unmatched", message, addr)
            return
        t.poll_event()
        self.stats.responses += 1
        if t.rtt is not None:
            self._rto.setdefault(exchange.addr[0], RtoEstimator()).sample(t.rtt, now)
        unknown = message.unknown_comprehension_required()
        if unknown:
            # §6.3.3: "If the success response contains unknown comprehension-required
            # attributes, the response is discarded and the transaction is considered to have
            # failed."  §6.3.4 says the same of error responses.
            detail = "unknown comprehension-required attributes " + ", ".join(
                f"0x{t:04x}" for t in unknown
            )
            self._end(
                exchange,
                RequestFailed(
                    exchange.id,
                    exchange.request,
                    FailureReason.UNKNOWN_ATTRIBUTES,
                    message,
                    addr,
                    detail,
                ),
            )
            return
        if message.message_class is MessageClass.SUCCESS:
            if exchange.auth is not None and exchange.credentials is not None:
                # §9.2.3.2: "The client SHOULD cache the username, password, realm, and nonce".
                self._auth_cache[(exchange.addr, exchange.credentials.username)] = exchange.auth
            self._end(exchange, ResponseReceived(exchange.id, exchange.request, message, addr))
            return
        error = message.get(ErrorCode)
        detail = (
            f"{error.code} {error.reason}".strip() if error else "error response without ERROR-CODE"
        )
        self._end(
            exchange,
            RequestFailed(
                exchange.id,
                exchange.request,
                FailureReason.ERROR_RESPONSE,
                message,
                addr,
                detail,
            ),
        )

    # --- internals: integrity -------------------------------------------------------------

    def _verify(
        self, exchange: _Exchange, message: Message, key: bytes, *, sha256: bool, addr: Address
    ) -> bool:
        """§9.1.4 / §9.2.5: check the response's MESSAGE-INTEGRITY(-SHA256) with ``key``.

        "If the value does not match, or if both MESSAGE-INTEGRITY and MESSAGE-INTEGRITY-SHA256
        are absent ... If the request was sent over an unreliable transport, the response MUST
        be discarded, as if it had never been received ... If the request was sent over a
        reliable transport, the response MUST be discarded, and the layer MUST immediately end
        the transaction and signal that the integrity protection was violated."
        """
        has_mi, has_mi256 = message.offsets[0] >= 0, message.offsets[1] >= 0
        if sha256:
            ok = message.check_integrity_sha256(key) if has_mi256 else False
        else:
            ok = message.check_integrity(key) if has_mi else False
        if not ok and exchange.auth is not None and not (has_mi if sha256 else has_mi256):
            # Long-term: the server may answer with the other one (§9.2.4 picks it by request).
            ok = message.check_integrity(key) if sha256 else message.check_integrity_sha256(key)
        if ok:
            return True
        self.stats.integrity_failures += 1
        self._drop("integrity" if (has_mi or has_mi256) else "integrity-missing", message, addr)
        if exchange.reliable:
            self._end(
                exchange,
                RequestFailed(
                    exchange.id,
                    exchange.request,
                    FailureReason.INTEGRITY_VIOLATED,
                    message,
                    addr,
                    "response failed the integrity check",
                ),
            )
        else:
            exchange.integrity_violated = True
        return False

    # --- internals: long-term credentials (RFC 8489 §9.2.5) --------------------------------

    @staticmethod
    def _is_challenge(message: Message) -> bool:
        return message.message_class is MessageClass.ERROR and message.error_code in (
            UNAUTHENTICATED,
            STALE_NONCE,
        )

    @staticmethod
    def _bid_down(message: Message) -> bool:
        """The nonce cookie announces PASSWORD-ALGORITHMS but the attribute is missing."""
        nonce = message.get(Nonce)
        if nonce is None:
            return False
        features = nonce_security_features(nonce.value)
        return (
            features is not None
            and bool(features & FEATURE_PASSWORD_ALGORITHMS)
            and message.get(PasswordAlgorithms) is None
        )

    def _fail(
        self, exchange: _Exchange, message: Message, addr: Address, now: float, why: str
    ) -> None:
        """Deliver an error response as the final outcome with an explanation."""
        t = exchange.transaction
        if t is not None:
            t.handle_response(message, now=now)
            t.poll_event()
        self.stats.responses += 1
        self._trace("stun.client.no-retry", transaction_id=exchange.id.hex(), why=why)
        error = message.get(ErrorCode)
        head = f"{error.code} {error.reason}".strip() if error else "error"
        self._end(
            exchange,
            RequestFailed(
                exchange.id,
                exchange.request,
                FailureReason.ERROR_RESPONSE,
                message,
                addr,
                f"{head} ({why})",
            ),
        )

    def _handle_challenge(
        self, exchange: _Exchange, message: Message, addr: Address, now: float
    ) -> None:
        """A 401 or 438 to a request sent with long-term credentials (signed or not yet)."""
        credentials = exchange.credentials
        if credentials is None:  # not reachable from handle_message; kept for type narrowing
            self._complete(exchange, message, addr, now)
            return
        # §9.2.5: "If so and the "nonce cookie" has the STUN Security Feature "Password
        # algorithms" bit set to 1 but no PASSWORD-ALGORITHMS attribute is present, then the
        # client MUST NOT retry the request with a new transaction."
        if self._bid_down(message):
            self.stats.ignored_bid_down += 1
            self._fail(
                exchange,
                message,
                addr,
                now,
                "nonce cookie announces PASSWORD-ALGORITHMS "
                "but the attribute is missing (bid-down)",
            )
            return
        realm, nonce = message.get(Realm), message.get(Nonce)
        algorithms = message.get(PasswordAlgorithms)
        previous = exchange.auth
        if message.error_code == STALE_NONCE:
            # §9.2.5: "the client MUST retry the request, using the new NONCE attribute supplied
            # in the 438 (Stale Nonce) response" -- once per request, and only if it was signed.
            if previous is None or exchange.retried_438 or nonce is None:
                self._fail(exchange, message, addr, now, "stale nonce after a retry")
                return
            exchange.retried_438 = True
            exchange.auth = _Auth(
                credentials.username,
                credentials.password,
                realm.value if realm is not None else previous.realm,
                nonce.value,
                previous.algorithm if algorithms is None else self._pick(algorithms),
                algorithms if algorithms is not None else previous.algorithms,
                previous.use_userhash,
            )
            if algorithms is not None and exchange.auth.algorithm is None:
                self._fail(exchange, message, addr, now, "no supported password algorithm")
                return
            self._retry(exchange, now, "438")
            return
        # 401.
        if realm is None or nonce is None:
            self._fail(exchange, message, addr, now, "401 without REALM and NONCE")
            return
        if exchange.retried_401:
            self._fail(exchange, message, addr, now, "credentials rejected")
            return
        # "The client MUST NOT perform this retry if it is not changing the USERNAME, USERHASH,
        # REALM, or its associated password from the previous attempt."
        if previous is not None and previous.realm == realm.value:
            self._auth_cache.pop((exchange.addr, credentials.username), None)
            self._fail(exchange, message, addr, now, "credentials rejected")
            return
        algorithm: int | None = None
        if algorithms is not None:
            # "If the response contains a PASSWORD-ALGORITHMS attribute, and this attribute
            # does not contain any algorithm that is supported by the client, then the client
            # MUST NOT retry the request with a new transaction."
            algorithm = self._pick(algorithms)
            if algorithm is None:
                self._fail(exchange, message, addr, now, "no supported password algorithm")
                return
        features = nonce_security_features(nonce.value) or 0
        exchange.retried_401 = True
        exchange.auth = _Auth(
            credentials.username,
            credentials.password,
            realm.value,
            nonce.value,
            algorithm,
            algorithms,
            # "If the "nonce cookie" is present and has the STUN Security Feature "Username
            # anonymity" bit set to 1, then the USERHASH attribute MUST be used"
            bool(features & FEATURE_USERNAME_ANONYMITY),
        )
        self._retry(exchange, now, "401")

    @staticmethod
    def _pick(algorithms: PasswordAlgorithms) -> int | None:
        """§9.2.5: "a PASSWORD-ALGORITHM attribute with the first algorithm supported on the
        list"."""
        for spec in algorithms.algorithms:
            if spec.algorithm in _SUPPORTED_ALGORITHMS and not spec.parameters:
                return spec.algorithm
        return None

    def _handle_long_term(
        self, exchange: _Exchange, message: Message, addr: Address, now: float
    ) -> None:
        auth = exchange.auth
        if auth is None:  # pragma: no cover - the caller checked
            return
        if self._is_challenge(message):
            # A 401/438 "MAY include a MESSAGE-INTEGRITY ... using the previous key": when it
            # does, a mismatch means a forgery and the response is discarded.
            if message.has_integrity and not self._verify(
                exchange, message, auth.key, sha256=auth.sha256, addr=addr
            ):
                return
            self._handle_challenge(exchange, message, addr, now)
            return
        # §9.2.5: "For all other responses, if the NONCE attribute starts with the "nonce
        # cookie" with the STUN Security Feature "Password algorithms" bit set to 1 but
        # PASSWORD-ALGORITHMS is not present, the response MUST be ignored."
        if self._bid_down(message):
            self.stats.ignored_bid_down += 1
            self._drop("bid-down", message, addr)
            return
        # "If the response is an error response with an error code of 400 (Bad Request) and
        # does not contain either the MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256 attribute,
        # then the response MUST be discarded, as if it were never received."  The general
        # rule below discards it the same way.
        if message.error_code == BAD_REQUEST and not message.has_integrity:
            self._trace("stun.client.discard-400", transaction_id=exchange.id.hex())
        if self._verify(exchange, message, auth.key, sha256=auth.sha256, addr=addr):
            self._complete(exchange, message, addr, now)
