"""RFC 5780 §4.3/§4.4 discovery (https://www.rfc-editor.org/rfc/rfc5780#section-4.3) as a sans-IO
state machine, run against our sans-IO StunServer through emulated NATs of every RFC 4787 kind."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from rtcstack.common import InvalidStateError, SeededRandom
from rtcstack.common.types import Address
from rtcstack.stun import Message, MessageClass, Method, OtherAddress, XorMappedAddress
from rtcstack.stun.behavior import Behavior, NatBehavior, NatBehaviorDiscovery
from rtcstack.stun.server import StunServer

PRIMARY: Address = ("192.0.2.1", 3478)
ALTERNATE: Address = ("192.0.2.2", 3479)
LOCAL: Address = ("10.0.0.2", 5000)
PUBLIC_IP = "203.0.113.9"


@dataclass
class FakeNat:
    """An RFC 4787 NAT for one internal endpoint: mapping (§4.1) and filtering (§5)."""

    mapping: Behavior
    filtering: Behavior
    ports: itertools.count[int] = field(default_factory=lambda: itertools.count(62000))
    table: dict[object, int] = field(default_factory=dict)
    contacted: dict[int, set[Address]] = field(default_factory=dict)

    def outbound(self, dst: Address) -> Address:
        key: object
        if self.mapping is Behavior.ENDPOINT_INDEPENDENT:
            key = LOCAL
        elif self.mapping is Behavior.ADDRESS_DEPENDENT:
            key = (LOCAL, dst[0])
        else:
            key = (LOCAL, dst)
        if key not in self.table:
            self.table[key] = next(self.ports)
        port = self.table[key]
        self.contacted.setdefault(port, set()).add(dst)
        return PUBLIC_IP, port

    def inbound(self, public: Address, src: Address) -> bool:
        seen = self.contacted.get(public[1])
        if public[0] != PUBLIC_IP or not seen:
            return False
        if self.filtering is Behavior.ENDPOINT_INDEPENDENT:
            return True
        if self.filtering is Behavior.ADDRESS_DEPENDENT:
            return any(a[0] == src[0] for a in seen)
        return src in seen


def run(
    discovery: NatBehaviorDiscovery, server: StunServer, nat: FakeNat | None
) -> tuple[NatBehavior, list[str]]:
    tests = []
    while (probe := discovery.next_probe()) is not None:
        tests.append(probe.test)
        assert discovery.next_probe() is probe  # the same probe until it is answered
        public = nat.outbound(probe.destination) if nat is not None else LOCAL
        server.handle_datagram(probe.message.serialize(), public, now=0.0, local=probe.destination)
        out = server.poll_transmit()
        assert out is not None and out.source is not None
        if nat is None or nat.inbound(out.addr, out.source):
            discovery.handle_response(Message.parse(out.data), out.source)
        else:
            discovery.handle_response(None)
    assert discovery.done
    return discovery.result(), tests


@pytest.mark.parametrize("mapping", list(Behavior))
@pytest.mark.parametrize("filtering", list(Behavior))
def test_every_nat_kind_is_recognised(mapping: Behavior, filtering: Behavior) -> None:
    server = StunServer(PRIMARY, ALTERNATE)
    result, tests = run(
        NatBehaviorDiscovery(PRIMARY, LOCAL, random_bytes=SeededRandom(1)),
        server,
        FakeNat(mapping, filtering),
    )
    assert (result.mapping, result.filtering) == (mapping, filtering)
    assert result.nat is True and result.rfc5780 is True and not result.udp_blocked
    assert result.other_address == ALTERNATE and result.notes == ()
    assert result.mapped is not None and result.mapped[0] == PUBLIC_IP
    # RFC 5780 §4.3 / §4.4: "at most three tests" each, test I shared; filtering first.
    expected = ["mapping I", "filtering II"]
    if filtering is not Behavior.ENDPOINT_INDEPENDENT:
        expected.append("filtering III")
    expected.append("mapping II")
    if mapping is not Behavior.ENDPOINT_INDEPENDENT:
        expected.append("mapping III")
    assert tests == expected


def test_no_nat() -> None:
    result, tests = run(NatBehaviorDiscovery(PRIMARY, LOCAL), StunServer(PRIMARY, ALTERNATE), None)
    assert result.nat is False and result.mapped == LOCAL
    assert result.mapping is Behavior.ENDPOINT_INDEPENDENT
    assert result.filtering is Behavior.ENDPOINT_INDEPENDENT
    # §4.3: no NAT means the mapping tests II and III are not needed.
    assert tests == ["mapping I", "filtering II"]
    assert "NAT:       none" in result.summary()


def test_unknown_local_address_runs_the_mapping_tests() -> None:
    result, tests = run(NatBehaviorDiscovery(PRIMARY), StunServer(PRIMARY, ALTERNATE), None)
    assert result.nat is None and result.mapping is Behavior.ENDPOINT_INDEPENDENT
    assert tests == ["mapping I", "filtering II", "mapping II"]


def test_mapping_only_and_filtering_only() -> None:
    nat = FakeNat(Behavior.ADDRESS_DEPENDENT, Behavior.ADDRESS_AND_PORT_DEPENDENT)
    server = StunServer(PRIMARY, ALTERNATE)
    result, tests = run(NatBehaviorDiscovery(PRIMARY, LOCAL, filtering=False), server, nat)
    assert result.mapping is Behavior.ADDRESS_DEPENDENT and result.filtering is None
    assert tests == ["mapping I", "mapping II", "mapping III"]
    nat = FakeNat(Behavior.ADDRESS_DEPENDENT, Behavior.ADDRESS_AND_PORT_DEPENDENT)
    result, tests = run(NatBehaviorDiscovery(PRIMARY, LOCAL, mapping=False), server, nat)
    assert result.mapping is None
    assert result.filtering is Behavior.ADDRESS_AND_PORT_DEPENDENT
    assert tests == ["mapping I", "filtering II", "filtering III"]


def test_server_without_other_address_does_not_support_rfc5780() -> None:
    nat = FakeNat(Behavior.ENDPOINT_INDEPENDENT, Behavior.ENDPOINT_INDEPENDENT)
    result, tests = run(NatBehaviorDiscovery(PRIMARY, LOCAL), StunServer(PRIMARY), nat)
    assert result.rfc5780 is False and result.nat is True
    assert result.mapping is None and result.filtering is None
    assert tests == ["mapping I"]
    assert "not supported" in result.summary()
    assert result.as_dict()["rfc5780"] is False


def test_udp_blocked() -> None:
    discovery = NatBehaviorDiscovery(PRIMARY, LOCAL)
    probe = discovery.next_probe()
    assert probe is not None and not probe.timeout_is_result and probe.rc == 7
    discovery.handle_response(None)
    assert discovery.done and discovery.next_probe() is None
    result = discovery.result()
    assert result.udp_blocked and result.mapping is None
    assert "UDP blocked" in result.summary()


def test_filtering_probes_are_short_and_carry_change_request() -> None:
    discovery = NatBehaviorDiscovery(PRIMARY, LOCAL, filtering_rto=0.1, filtering_rc=2)
    first = discovery.next_probe()
    assert first is not None
    discovery.handle_response(
        first.message.success_response(XorMappedAddress(LOCAL), OtherAddress(ALTERNATE)),
        PRIMARY,
    )
    probe = discovery.next_probe()
    assert probe is not None and probe.test == "filtering II"
    assert probe.timeout_is_result and (probe.rto, probe.rc) == (0.1, 2)
    assert probe.destination == PRIMARY
    assert "CHANGE-REQUEST" in str(probe.message)


def test_server_ignoring_change_request_gives_no_filtering_result() -> None:
    """A server that answers CHANGE-REQUEST from its primary address (RFC 5780 §6.1 Table 1 not
    honoured) must not make us claim endpoint-independent filtering."""
    discovery = NatBehaviorDiscovery(PRIMARY, LOCAL, mapping=False)
    while (probe := discovery.next_probe()) is not None:
        reply = probe.message.success_response(XorMappedAddress(LOCAL), OtherAddress(ALTERNATE))
        discovery.handle_response(reply, probe.destination)  # always from where it was sent
    result = discovery.result()
    assert result.filtering is None
    assert any("does not honour CHANGE-REQUEST" in n for n in result.notes)


def test_error_responses_are_reported() -> None:
    discovery = NatBehaviorDiscovery(PRIMARY, LOCAL)
    probe = discovery.next_probe()
    assert probe is not None
    discovery.handle_response(probe.message.error_response(401), PRIMARY)
    assert discovery.done and discovery.result().notes == ("mapping I: error response 401",)

    discovery = NatBehaviorDiscovery(PRIMARY, LOCAL)
    probe = discovery.next_probe()
    assert probe is not None
    discovery.handle_response(
        probe.message.success_response(XorMappedAddress(LOCAL), OtherAddress(ALTERNATE)), PRIMARY
    )
    probe = discovery.next_probe()
    assert probe is not None
    discovery.handle_response(probe.message.error_response(420), PRIMARY)
    result = discovery.result()
    assert result.filtering is None and discovery.done  # no NAT: no mapping tests left
    assert "the server does not honour CHANGE-REQUEST" in result.notes


def test_response_without_mapped_address() -> None:
    discovery = NatBehaviorDiscovery(PRIMARY, LOCAL)
    probe = discovery.next_probe()
    assert probe is not None
    discovery.handle_response(probe.message.success_response(), PRIMARY)
    assert discovery.done and "no mapped address" in discovery.result().notes[0]


def test_alternate_silent_in_mapping_ii() -> None:
    discovery = NatBehaviorDiscovery(PRIMARY, ("10.0.0.2", 1), filtering=False)
    probe = discovery.next_probe()
    assert probe is not None
    discovery.handle_response(
        probe.message.success_response(XorMappedAddress(LOCAL), OtherAddress(ALTERNATE)), PRIMARY
    )
    probe = discovery.next_probe()
    assert probe is not None and probe.destination == (ALTERNATE[0], PRIMARY[1])
    discovery.handle_response(None)
    result = discovery.result()
    assert discovery.done and result.mapping is None and result.notes


def test_misuse_is_reported() -> None:
    discovery = NatBehaviorDiscovery(PRIMARY, LOCAL)
    with pytest.raises(InvalidStateError):
        discovery.handle_response(None)
    discovery.next_probe()
    other = Message(Method.BINDING, MessageClass.SUCCESS, b"x" * 12)
    with pytest.raises(ValueError):
        discovery.handle_response(other, PRIMARY)


def test_result_as_dict_and_summary() -> None:
    nat = FakeNat(Behavior.ADDRESS_AND_PORT_DEPENDENT, Behavior.ADDRESS_DEPENDENT)
    result, _ = run(NatBehaviorDiscovery(PRIMARY, LOCAL), StunServer(PRIMARY, ALTERNATE), nat)
    d = result.as_dict()
    assert d["mapping"] == "address-and-port-dependent"
    assert d["filtering"] == "address-dependent"
    assert d["server"] == "192.0.2.1:3478" and d["other_address"] == "192.0.2.2:3479"
    assert d["nat"] is True
    text = result.summary()
    assert "mapping:   address-and-port-dependent" in text
    assert "filtering: address-dependent" in text
