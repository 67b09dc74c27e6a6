"""RFC 8489 §6.2 STUN client transactions, sans-IO.

One :class:`ClientTransaction` owns one request: it decides when the request is (re)sent and when
the transaction has failed, and it matches responses by transaction ID.  It never reads a clock:
every entry point takes ``now`` (seconds, any monotonic origin), and :meth:`poll_timeout` returns
the absolute deadline at which the driver must call :meth:`handle_timeout`.

- RFC 8489 §6.2.1 (UDP, DTLS-over-UDP): send at 0, RTO, 3·RTO, 7·RTO, ... (the interval doubles)
  until Rc requests have been sent, then wait Rm·RTO.  With RTO = 500 ms, Rc = 7, Rm = 16:
  sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s, failure at 39.5 s.
- RFC 8489 §6.2.2 (TCP, TLS-over-TCP): send once; time out after Ti (39.5 s by default).

The drive loop::

    >>> from rtcstack.stun import Message, MessageClass, Method
    >>> request = Message(Method.BINDING, MessageClass.REQUEST, b"0123456789ab")
    >>> t = ClientTransaction(request.serialize(), request.transaction_id, ("192.0.2.1", 3478),
    ...                       now=0.0)
    >>> t.poll_transmit().addr, t.poll_timeout()
    (('192.0.2.1', 3478), 0.5)
    >>> t.handle_timeout(0.5); t.poll_transmit() is not None, t.poll_timeout()
    (True, 1.5)
    >>> t.handle_response(request.success_response(), now=0.7)
    True
    >>> t.poll_event()  # doctest: +ELLIPSIS
    TransactionSucceeded(response=Message(method=<Method.BINDING: 1>, ...))
    >>> t.done, t.poll_timeout()
    (True, None)

RTT and Karn's algorithm (§6.2.1: "RTT estimates SHOULD NOT be computed from STUN transactions
that result in the retransmission of a request"): :attr:`ClientTransaction.rtt` is set only for a
transaction answered before any retransmission.  :class:`RtoEstimator` turns such samples into
the RFC 6298 RTO that §6.2.1 says to carry to the next transaction to the same server.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.common.types import Address, Transmit
from rtcstack.stun.message import Message, MessageClass

__all__ = [
    "ClientTransaction",
    "RtoEstimator",
    "TransactionAborted",
    "TransactionEvent",
    "TransactionFailed",
    "TransactionState",
    "TransactionSucceeded",
    "TransactionTimedOut",
]

DEFAULT_RTO = 0.5
DEFAULT_RC = 7
DEFAULT_RM = 16
DEFAULT_TI = 39.5


@dataclass(frozen=True, slots=True)
class TransactionSucceeded:
    """A success response (RFC 8489 §6.3.3) completed the transaction."""

    response: Message

    @property
    def transaction_id(self) -> bytes:
        return self.response.transaction_id


@dataclass(frozen=True, slots=True)
class TransactionFailed:
    """An error response (RFC 8489 §6.3.4) completed the transaction."""

    response: Message

    @property
    def transaction_id(self) -> bytes:
        return self.response.transaction_id

    @property
    def error_code(self) -> int | None:
        return self.response.error_code


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """No response within the RFC 8489 §6.2.1 schedule (or Ti, §6.2.2)."""

    transaction_id: bytes


@dataclass(frozen=True, slots=True)
class TransactionAborted:
    """The transaction failed without a response: a hard ICMP error (RFC 8489 §6.2.1) or a TCP
    connection that was reset or failed (§6.2.2), reported by the driver through
    :meth:`ClientTransaction.abort`."""

    transaction_id: bytes
    reason: str


TransactionEvent: TypeAlias = (
    TransactionSucceeded | TransactionFailed | TransactionTimedOut | TransactionAborted
)


class TransactionState(Enum):
    """The states of a client transaction, in protocol order."""

    WAITING = "waiting"  # request sent, retransmitting on schedule
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # error response
    TIMED_OUT = "timed-out"
    ABORTED = "aborted"


class ClientTransaction:
    """RFC 8489 §6.2 one request/response transaction, driven by ``now`` only.

    ``request`` is the serialized request; ``transaction_id`` its 96-bit ID.  ``reliable=True``
    selects the TCP/TLS rules of §6.2.2 (one send, timeout ``ti``).  The first send is queued at
    construction (time ``now``).
    """

    __slots__ = (
        "_deadline",
        "_event",
        "_pending",
        "_trace",
        "addr",
        "attempts",
        "rc",
        "reliable",
        "request",
        "response",
        "rm",
        "rto",
        "rtt",
        "source",
        "started",
        "state",
        "ti",
        "transaction_id",
    )

    def __init__(
        self,
        request: bytes,
        transaction_id: bytes,
        addr: Address,
        *,
        now: float,
        rto: float = DEFAULT_RTO,
        rc: int = DEFAULT_RC,
        rm: int = DEFAULT_RM,
        reliable: bool = False,
        ti: float = DEFAULT_TI,
        source: Address | None = None,
        trace: Trace = NULL_TRACE,
    ) -> None:
        if len(transaction_id) != 12:
            raise ValueError(f"transaction ID is {len(transaction_id)} bytes, must be 12")
        if not rto > 0:
            raise ValueError(f"rto must be positive, not {rto!r}")
        if rc < 1:
            raise ValueError(f"rc must be at least 1, not {rc!r}")
        if rm < 0:
            raise ValueError(f"rm must not be negative, not {rm!r}")
        if not ti > 0:
            raise ValueError(f"ti must be positive, not {ti!r}")
        self.request = request
        self.transaction_id = transaction_id
        self.addr = addr
        self.source = source
        self.rto = rto
        self.rc = rc
        self.rm = rm
        self.ti = ti
        self.reliable = reliable
        self.started = now
        self.state = TransactionState.WAITING
        self.response: Message | None = None
        self.rtt: float | None = None
        self.attempts = 1  # the request is sent at construction
        self._trace = trace
        self._event: TransactionEvent | None = None
        self._pending: Transmit | None = self._transmit()
        self._deadline: float | None = self._next_deadline()
        trace(
            "stun.transaction.start",
            transaction_id=transaction_id.hex(),
            addr=addr,
            reliable=reliable,
            now=now,
        )

    # --- schedule -----------------------------------------------------------------------------

    def _transmit(self) -> Transmit:
        return Transmit(self.request, self.addr, self.source, "tcp" if self.reliable else "udp")

    def _next_deadline(self) -> float:
        """The time of the next send, or of the failure after the last one.

        RFC 8489 §6.2.1: the k-th send (k = 0 ... Rc-1) happens at RTO·(2^k - 1) -- "starting with
        an interval of RTO ..., doubling after each retransmission"; after the last, "a duration
        equal to Rm times the RTO".  §6.2.2: over TCP, one send and a timeout after Ti.
        Computed from the start time so that rounding never accumulates.
        """
        if self.reliable:
            return self.started + self.ti
        k = self.attempts  # index of the next send
        if k < self.rc:
            return self.started + self.rto * ((1 << k) - 1)
        return self.started + self.rto * ((1 << (self.rc - 1)) - 1) + self.rm * self.rto

    # --- drive loop ---------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.state is not TransactionState.WAITING

    def handle_response(self, message: Message, *, now: float) -> bool:
        """Complete the transaction with ``message`` if it answers it.

        Returns ``True`` when ``message`` is a success or error response carrying this
        transaction's ID and the transaction was still waiting; ``False`` otherwise (another
        transaction's response, a request or indication, or a late/duplicate response, which
        RFC 8489 §6.3 says to discard).  Integrity checks belong to the caller, which knows the
        credentials: it must not pass a response that failed them (§9.2.5).
        """
        if message.transaction_id != self.transaction_id:
            return False
        if message.message_class not in (MessageClass.SUCCESS, MessageClass.ERROR):
            return False
        if self.done:
            self._trace(
                "stun.transaction.late-response", transaction_id=self.transaction_id.hex(), now=now
            )
            return False
        self.response = message
        if self.attempts == 1:  # Karn's algorithm: no sample from a retransmitted request
            self.rtt = max(0.0, now - self.started)
        self._pending = None
        self._deadline = None
        if message.message_class is MessageClass.SUCCESS:
            self.state = TransactionState.SUCCEEDED
            self._event = TransactionSucceeded(message)
        else:
            self.state = TransactionState.FAILED
            self._event = TransactionFailed(message)
        self._trace(
            "stun.transaction.response",
            transaction_id=self.transaction_id.hex(),
            state=self.state.value,
            error_code=message.error_code,
            attempts=self.attempts,
            now=now,
        )
        return True

    def handle_timeout(self, now: float) -> None:
        """Retransmit or fail if the deadline has passed; nothing otherwise.

        When the driver was late by more than one interval, the sends whose times have passed
        are counted as one retransmission (sending a burst would only add load), and the
        schedule continues from the start time.
        """
        deadline = self._deadline
        if deadline is None or now < deadline:
            return
        retransmit = False
        while deadline is not None and now >= deadline:
            if not self.reliable and self.attempts < self.rc:
                self.attempts += 1
                retransmit = True
                deadline = self._next_deadline()
            else:
                deadline = None
        self._deadline = deadline
        if deadline is None:
            self.state = TransactionState.TIMED_OUT
            self._pending = None
            self._event = TransactionTimedOut(self.transaction_id)
            self._trace(
                "stun.transaction.timeout",
                transaction_id=self.transaction_id.hex(),
                attempts=self.attempts,
                now=now,
            )
        elif retransmit:
            self._pending = self._transmit()
            self._trace(
                "stun.transaction.retransmit",
                transaction_id=self.transaction_id.hex(),
                attempt=self.attempts,
                now=now,
            )

    def abort(self, reason: str) -> None:
        """Fail the transaction now: RFC 8489 §6.2.1 "also considered failed if there has been a
        hard ICMP error"; §6.2.2 "if ... the TCP connection is reset or fails before a response
        is received".  No-op when already done."""
        if self.done:
            return
        self.state = TransactionState.ABORTED
        self._pending = None
        self._deadline = None
        self._event = TransactionAborted(self.transaction_id, reason)
        self._trace(
            "stun.transaction.abort", transaction_id=self.transaction_id.hex(), reason=reason
        )

    def poll_transmit(self) -> Transmit | None:
        """The request to (re)send now, once; ``None`` when there is nothing to send."""
        out, self._pending = self._pending, None
        return out

    def poll_timeout(self) -> float | None:
        """The absolute time of the next retransmission or of the failure; ``None`` when done."""
        return self._deadline

    def poll_event(self) -> TransactionEvent | None:
        """The transaction's single outcome, once."""
        out, self._event = self._event, None
        return out

    def __repr__(self) -> str:
        return (
            f"<ClientTransaction {self.transaction_id.hex()} to {self.addr} {self.state.value} "
            f"attempts={self.attempts}>"
        )


class RtoEstimator:
    """RFC 6298 §2 RTO from RTT samples, with RFC 8489 §6.2.1's exceptions.

    §6.2.1: "the initial value for RTO SHOULD be greater than or equal to 500 ms" and "the value
    of RTO SHOULD NOT be rounded up to the nearest second" (so there is no 1 s floor here; the
    floor is ``min_rto``).  Feed :attr:`ClientTransaction.rtt` samples (already filtered by
    Karn's algorithm); on a timeout call :meth:`backoff` (RFC 6298 §5.5).  The cached value is
    stale after ``stale_after`` seconds without a transaction (§6.2.1: "10 minutes").
    """

    __slots__ = ("_last", "initial", "max_rto", "min_rto", "rto", "rttvar", "srtt", "stale_after")

    ALPHA = 1 / 8
    BETA = 1 / 4
    K = 4

    def __init__(
        self,
        initial: float = DEFAULT_RTO,
        *,
        min_rto: float = DEFAULT_RTO,
        max_rto: float = 60.0,
        stale_after: float = 600.0,
    ) -> None:
        self.initial = initial
        self.min_rto = min_rto
        self.max_rto = max_rto
        self.stale_after = stale_after
        self.rto = initial
        self.srtt: float | None = None
        self.rttvar = 0.0
        self._last: float | None = None

    def current(self, now: float) -> float:
        """The RTO to start the next transaction with (the initial one when stale)."""
        if self._last is not None and now - self._last > self.stale_after:
            self.rto, self.srtt, self.rttvar, self._last = self.initial, None, 0.0, None
        return self.rto

    def sample(self, rtt: float, now: float) -> None:
        """RFC 6298 §2.2-2.3: update SRTT, RTTVAR and RTO with one measurement."""
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = (1 - self.BETA) * self.rttvar + self.BETA * abs(self.srtt - rtt)
            self.srtt = (1 - self.ALPHA) * self.srtt + self.ALPHA * rtt
        self.rto = min(self.max_rto, max(self.min_rto, self.srtt + self.K * self.rttvar))
        self._last = now

    def backoff(self, now: float) -> None:
        """RFC 6298 §5.5: double the RTO after a transaction timed out."""
        self.rto = min(self.max_rto, self.rto * 2)
        self._last = now
