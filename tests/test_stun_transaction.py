"""RFC 8489 §6.2 client transaction timing on a virtual clock.

https://www.rfc-editor.org/rfc/rfc8489#section-6.2.1 -- "assuming an RTO of 500 ms, requests
would be sent at times 0 ms, 500 ms, 1500 ms, 3500 ms, 7500 ms, 15500 ms, and 31500 ms.  If the
client has not received a response after 39500 ms, the client will consider the transaction to
have timed out."
"""

from __future__ import annotations

import pytest

from rtcstack.common import TraceRecorder
from rtcstack.stun import ErrorCode, Message, MessageClass, Method, XorMappedAddress
from rtcstack.stun.transaction import (
    ClientTransaction,
    RtoEstimator,
    TransactionAborted,
    TransactionFailed,
    TransactionState,
    TransactionSucceeded,
    TransactionTimedOut,
)

SERVER = ("192.0.2.1", 3478)
TID = bytes(range(12))


def make_request(tid: bytes = TID) -> Message:
    return Message(Method.BINDING, MessageClass.REQUEST, tid)


def run_until_done(t: ClientTransaction) -> tuple[list[float], float | None]:
    """Drive ``t`` exactly at its deadlines; return the send times and the failure time."""
    sends: list[float] = []
    now = t.started
    if t.poll_transmit() is not None:
        sends.append(now)
    while True:
        deadline = t.poll_timeout()
        if deadline is None:
            return sends, now
        now = deadline
        t.handle_timeout(now)
        if t.poll_transmit() is not None:
            sends.append(now)


def test_udp_schedule_matches_rfc_8489_6_2_1() -> None:
    t = ClientTransaction(make_request().serialize(), TID, SERVER, now=0.0)
    sends, end = run_until_done(t)
    assert sends == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert end == 39.5
    assert t.state is TransactionState.TIMED_OUT and t.done
    assert t.poll_event() == TransactionTimedOut(TID)
    assert t.poll_event() is None
    assert t.poll_transmit() is None and t.poll_timeout() is None
    assert t.attempts == 7 and t.rtt is None


def test_schedule_with_other_origin_and_parameters() -> None:
    t = ClientTransaction(b"x", TID, SERVER, now=1000.0, rto=0.1, rc=3, rm=4)
    sends, end = run_until_done(t)
    assert sends == pytest.approx([1000.0, 1000.1, 1000.3])
    assert end == pytest.approx(1000.3 + 0.4)


def test_rc_one_sends_once_then_waits_rm_rto() -> None:
    t = ClientTransaction(b"x", TID, SERVER, now=0.0, rto=1.0, rc=1, rm=2)
    sends, end = run_until_done(t)
    assert sends == [0.0] and end == 2.0


def test_no_retransmission_before_the_deadline() -> None:
    t = ClientTransaction(b"x", TID, SERVER, now=0.0)
    assert t.poll_transmit() is not None
    t.handle_timeout(0.4999)
    assert t.poll_transmit() is None
    assert t.poll_timeout() == 0.5
    t.handle_timeout(0.5)
    tx = t.poll_transmit()
    assert tx is not None and tx.data == b"x" and tx.addr == SERVER and tx.transport == "udp"
    assert t.poll_transmit() is None  # each send comes out once


def test_late_driver_collapses_missed_sends() -> None:
    t = ClientTransaction(b"x", TID, SERVER, now=0.0)
    t.poll_transmit()
    t.handle_timeout(4.0)  # sends due at 0.5, 1.5 and 3.5 all passed
    assert t.poll_transmit() is not None
    assert t.poll_transmit() is None
    assert t.attempts == 4
    assert t.poll_timeout() == 7.5  # schedule continues from the start time
    t.handle_timeout(100.0)
    assert t.poll_transmit() is None  # the whole schedule passed: no burst, just failure
    assert isinstance(t.poll_event(), TransactionTimedOut)


def test_reliable_sends_once_and_times_out_after_ti() -> None:
    t = ClientTransaction(b"x", TID, SERVER, now=5.0, reliable=True)
    sends, end = run_until_done(t)
    assert sends == [5.0] and end == 44.5
    t2 = ClientTransaction(b"x", TID, SERVER, now=0.0, reliable=True, ti=3.0)
    tx = t2.poll_transmit()
    assert tx is not None and tx.transport == "tcp"
    t2.handle_timeout(2.9)
    assert t2.poll_transmit() is None and not t2.done
    t2.handle_timeout(3.0)
    assert t2.poll_event() == TransactionTimedOut(TID)


def test_success_response_midway() -> None:
    request = make_request()
    t = ClientTransaction(request.serialize(), TID, SERVER, now=0.0)
    t.poll_transmit()
    t.handle_timeout(0.5)
    t.handle_timeout(1.5)
    t.poll_transmit()
    response = request.success_response(XorMappedAddress(("198.51.100.7", 4444)))
    assert t.handle_response(response, now=2.0) is True
    assert t.state is TransactionState.SUCCEEDED and t.response is response
    event = t.poll_event()
    assert isinstance(event, TransactionSucceeded)
    assert event.response is response and event.transaction_id == TID
    assert t.poll_timeout() is None and t.poll_transmit() is None
    t.handle_timeout(100.0)  # no-op once done
    assert t.poll_event() is None and t.poll_transmit() is None
    assert t.rtt is None  # Karn: retransmitted, so no RTT sample


def test_rtt_sample_when_not_retransmitted() -> None:
    request = make_request()
    t = ClientTransaction(request.serialize(), TID, SERVER, now=10.0)
    assert t.handle_response(request.success_response(), now=10.125)
    assert t.rtt == pytest.approx(0.125)


def test_error_response_fails_the_transaction() -> None:
    request = make_request()
    t = ClientTransaction(request.serialize(), TID, SERVER, now=0.0)
    response = request.error_response(401)
    assert t.handle_response(response, now=0.1)
    event = t.poll_event()
    assert isinstance(event, TransactionFailed)
    assert event.error_code == 401 and event.response.get(ErrorCode) == ErrorCode(
        401, "Unauthenticated"
    )
    assert t.state is TransactionState.FAILED


def test_late_and_duplicate_responses_are_ignored() -> None:
    request = make_request()
    trace = TraceRecorder()
    t = ClientTransaction(request.serialize(), TID, SERVER, now=0.0, trace=trace)
    first = request.success_response(XorMappedAddress(("198.51.100.7", 1)))
    second = request.success_response(XorMappedAddress(("198.51.100.7", 2)))
    assert t.handle_response(first, now=0.1)
    assert not t.handle_response(second, now=0.2)  # duplicate
    assert t.response is first
    assert isinstance(t.poll_event(), TransactionSucceeded)
    assert t.poll_event() is None
    assert "stun.transaction.late-response" in trace.names()
    # A response after a timeout does not resurrect the transaction.
    t2 = ClientTransaction(b"x", TID, SERVER, now=0.0, rc=1, rm=1)
    t2.handle_timeout(0.5)
    assert isinstance(t2.poll_event(), TransactionTimedOut)
    assert not t2.handle_response(first, now=0.6)
    assert t2.poll_event() is None and t2.state is TransactionState.TIMED_OUT


def test_unmatched_transaction_ids_and_non_responses_are_ignored() -> None:
    request = make_request()
    t = ClientTransaction(request.serialize(), TID, SERVER, now=0.0)
    other = make_request(b"\xff" * 12).success_response()
    assert not t.handle_response(other, now=0.1)
    assert not t.handle_response(request, now=0.1)  # a request with our ID is not a response
    indication = Message(Method.BINDING, MessageClass.INDICATION, TID)
    assert not t.handle_response(indication, now=0.1)
    assert not t.done and t.poll_event() is None
    assert t.poll_timeout() == 0.5


def test_abort() -> None:
    t = ClientTransaction(b"x", TID, SERVER, now=0.0, reliable=True)
    t.abort("connection reset")
    assert t.poll_event() == TransactionAborted(TID, "connection reset")
    assert t.state is TransactionState.ABORTED and t.poll_timeout() is None
    t.abort("again")
    assert t.poll_event() is None


def test_trace_records_every_transition() -> None:
    trace = TraceRecorder()
    t = ClientTransaction(b"x", TID, SERVER, now=0.0, rc=2, rm=1, trace=trace)
    run_until_done(t)
    assert trace.names() == [
        "stun.transaction.start",
        "stun.transaction.retransmit",
        "stun.transaction.timeout",
    ]


@pytest.mark.parametrize(
    "kwargs",
    [{"rto": 0.0}, {"rto": -1.0}, {"rc": 0}, {"rm": -1}, {"ti": 0.0}],
)
def test_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ClientTransaction(b"x", TID, SERVER, now=0.0, **kwargs)  # type: ignore[arg-type]


def test_bad_transaction_id() -> None:
    with pytest.raises(ValueError):
        ClientTransaction(b"x", b"short", SERVER, now=0.0)


def test_rto_estimator() -> None:
    est = RtoEstimator()
    assert est.current(0.0) == 0.5
    est.sample(0.1, now=1.0)  # SRTT 0.1, RTTVAR 0.05 -> 0.3, floored at 0.5
    assert est.rto == 0.5
    est.sample(1.0, now=2.0)
    # RTTVAR = 0.75*0.05 + 0.25*0.9 = 0.2625; SRTT = 0.875*0.1 + 0.125*1.0 = 0.2125
    assert est.srtt == pytest.approx(0.2125)
    assert est.rto == pytest.approx(0.2125 + 4 * 0.2625)
    est.backoff(now=3.0)
    assert est.rto == pytest.approx(2 * (0.2125 + 4 * 0.2625))
    assert est.current(3.0 + 601.0) == 0.5  # stale after 10 minutes (RFC 8489 §6.2.1)
    assert est.srtt is None
