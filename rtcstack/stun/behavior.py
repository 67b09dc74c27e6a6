"""RFC 5780 §4 NAT behaviour discovery as a sans-IO decision procedure.

:class:`NatBehaviorDiscovery` says which Binding request to send next (a :class:`Probe`), and
is told what came back (a response and the address it came from, or ``None`` for a timeout).
It never sends anything itself; ``rtcstack.asyncio.nat`` drives it over one UDP socket::

    >>> from rtcstack.stun import Message, XorMappedAddress, OtherAddress
    >>> d = NatBehaviorDiscovery(("192.0.2.1", 3478), local=("10.0.0.2", 5000))
    >>> probe = d.next_probe()
    >>> probe.test, probe.destination
    ('mapping I', ('192.0.2.1', 3478))
    >>> reply = probe.message.success_response(
    ...     XorMappedAddress(("10.0.0.2", 5000)), OtherAddress(("192.0.2.2", 3479)))
    >>> d.handle_response(reply, ("192.0.2.1", 3478))
    >>> d.next_probe().test      # no NAT; filtering is still tested (a firewall may filter)
    'filtering II'

The tests (RFC 5780 §4.3 mapping, §4.4 filtering), in the order run here:

1. *mapping I* (= filtering I, §4.2 UDP connectivity): Binding to the server.  No answer: UDP
   blocked.  No OTHER-ADDRESS: the server does not support RFC 5780.  XOR-MAPPED-ADDRESS equal to
   the local address: no NAT, mapping is effectively endpoint-independent.
2. *filtering II*: CHANGE-REQUEST change-IP and change-port.  An answer: endpoint-independent
   filtering.  Otherwise *filtering III*: change-port only.  An answer: address-dependent
   filtering; none: address-and-port-dependent.
3. *mapping II*: Binding to the alternate IP, primary port.  Same mapping as in I:
   endpoint-independent.  Otherwise *mapping III* to the alternate IP and port: same mapping as in
   II: address-dependent; different: address-and-port-dependent.

The filtering tests run before mapping II and III on purpose: RFC 5780 §4.4 says "These tests
are sensitive to prior state on the NAT", and mapping III sends to the alternate IP and port,
which would open an address-and-port-dependent filter for the very answer filtering II expects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from rtcstack.common.errors import InvalidStateError
from rtcstack.common.randomness import RandomBytes, default_random_bytes
from rtcstack.common.types import Address
from rtcstack.stun.attributes import (
    ChangeRequest,
    MappedAddress,
    OtherAddress,
    ResponseOrigin,
    XorMappedAddress,
)
from rtcstack.stun.message import Message, MessageClass, Method

__all__ = ["Behavior", "NatBehavior", "NatBehaviorDiscovery", "Probe"]


class Behavior(Enum):
    """RFC 4787 §4.1 / §5 mapping and filtering behaviours."""

    ENDPOINT_INDEPENDENT = "endpoint-independent"
    ADDRESS_DEPENDENT = "address-dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address-and-port-dependent"


class _Step(Enum):
    """The tests, in the order they run."""

    MAPPING_I = "mapping I"
    FILTERING_II = "filtering II"
    FILTERING_III = "filtering III"
    MAPPING_II = "mapping II"
    MAPPING_III = "mapping III"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Probe:
    """One Binding request to send to ``destination``.

    A timeout is a *result* for the filtering tests (``timeout_is_result``), so the driver should
    use the short retransmission settings ``rto``/``rc``/``rm`` given here rather than the RFC
    8489 defaults (39.5 s).
    """

    test: str
    destination: Address
    message: Message
    timeout_is_result: bool
    rto: float
    rc: int
    rm: int


@dataclass(frozen=True, slots=True)
class NatBehavior:
    """What discovery found.  ``None`` fields are unknown (a test could not be run)."""

    server: Address
    local: Address | None
    mapped: Address | None = None
    other_address: Address | None = None
    response_origin: Address | None = None
    udp_blocked: bool = False
    rfc5780: bool | None = None
    nat: bool | None = None
    mapping: Behavior | None = None
    filtering: Behavior | None = None
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """A few human lines."""
        lines = [f"server:    {_fmt(self.server)}"]
        if self.local is not None:
            lines.append(f"local:     {_fmt(self.local)}")
        if self.udp_blocked:
            lines.append("result:    no answer from the server: UDP blocked (or server down)")
            return "\n".join(lines + [f"note:      {n}" for n in self.notes])
        if self.mapped is not None:
            lines.append(f"mapped:    {_fmt(self.mapped)}")
        if self.nat is False:
            lines.append("NAT:       none (the mapped address is the local address)")
        elif self.nat is True:
            lines.append("NAT:       yes (the mapped address differs from the local address)")
        if self.rfc5780 is False:
            lines.append("RFC 5780:  not supported by the server (no OTHER-ADDRESS)")
        else:
            lines.append(f"mapping:   {_behavior(self.mapping)}")
            lines.append(f"filtering: {_behavior(self.filtering)}")
        lines += [f"note:      {n}" for n in self.notes]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": _fmt(self.server),
            "local": _fmt(self.local) if self.local is not None else None,
            "mapped": _fmt(self.mapped) if self.mapped is not None else None,
            "other_address": _fmt(self.other_address) if self.other_address else None,
            "response_origin": _fmt(self.response_origin) if self.response_origin else None,
            "udp_blocked": self.udp_blocked,
            "rfc5780": self.rfc5780,
            "nat": self.nat,
            "mapping": self.mapping.value if self.mapping is not None else None,
            "filtering": self.filtering.value if self.filtering is not None else None,
            "notes": list(self.notes),
        }


def _fmt(addr: Address) -> str:
    return f"[{addr[0]}]:{addr[1]}" if ":" in addr[0] else f"{addr[0]}:{addr[1]}"


def _behavior(b: Behavior | None) -> str:
    return b.value if b is not None else "unknown"


def _mapped(response: Message) -> Address | None:
    """XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from an older server (RFC 8489 §14.1)."""
    xor = response.get(XorMappedAddress)
    if xor is not None:
        return xor.address
    plain = response.get(MappedAddress)
    return plain.address if plain is not None else None


@dataclass(slots=True)
class _Findings:
    mapped: Address | None = None
    mapped2: Address | None = None
    other: Address | None = None
    origin: Address | None = None
    udp_blocked: bool = False
    rfc5780: bool | None = None
    nat: bool | None = None
    mapping: Behavior | None = None
    filtering: Behavior | None = None
    notes: list[str] = field(default_factory=list)


class NatBehaviorDiscovery:
    """The RFC 5780 §4.3/§4.4 tests as a state machine.

    ``server`` is the primary address (A1:P1) the client knows; ``local`` the local address of
    the socket every probe is sent from (RFC 5780 §4.1: one source port for all tests), or
    ``None`` when unknown (then "no NAT" cannot be detected).  ``mapping`` / ``filtering``
    select the tests.  Drive it with :meth:`next_probe` and :meth:`handle_response` until
    :meth:`next_probe` returns ``None``; then read :meth:`result`.
    """

    def __init__(
        self,
        server: Address,
        local: Address | None = None,
        *,
        mapping: bool = True,
        filtering: bool = True,
        rto: float = 0.5,
        rc: int = 7,
        rm: int = 16,
        filtering_rto: float = 0.25,
        filtering_rc: int = 3,
        filtering_rm: int = 4,
        random_bytes: RandomBytes = default_random_bytes,
    ) -> None:
        self.server = (server[0], server[1])
        self.local = (local[0], local[1]) if local is not None else None
        self._want_mapping = mapping
        self._want_filtering = filtering
        self._settings = (rto, rc, rm)
        self._filtering_settings = (filtering_rto, filtering_rc, filtering_rm)
        self._random_bytes = random_bytes
        self._step = _Step.MAPPING_I
        self._pending: Probe | None = None
        self._f = _Findings()

    @property
    def done(self) -> bool:
        return self._step is _Step.DONE

    # --- drive ------------------------------------------------------------------------------

    def next_probe(self) -> Probe | None:
        """The request to send now (the same one again until it is answered), or ``None``."""
        if self._step is _Step.DONE:
            return None
        if self._pending is not None:
            return self._pending
        step = self._step
        other = self._f.other
        change: ChangeRequest | None = None
        destination = self.server
        if step is _Step.FILTERING_II:
            change = ChangeRequest(change_ip=True, change_port=True)
        elif step is _Step.FILTERING_III:
            change = ChangeRequest(change_ip=False, change_port=True)
        elif step is _Step.MAPPING_II and other is not None:
            # RFC 5780 §4.3: "the client sends a Binding Request to the alternate address, but
            # primary port."
            destination = (other[0], self.server[1])
        elif step is _Step.MAPPING_III and other is not None:
            # "the client sends a Binding Request to the alternate address and port."
            destination = other
        filtering = change is not None
        rto, rc, rm = self._filtering_settings if filtering else self._settings
        message = Message.new(
            Method.BINDING,
            MessageClass.REQUEST,
            [change] if change is not None else [],
            random_bytes=self._random_bytes,
        )
        self._pending = Probe(step.value, destination, message, filtering, rto, rc, rm)
        return self._pending

    def handle_response(self, response: Message | None, source: Address | None = None) -> None:
        """Report the outcome of the pending probe: the response and the address it came from,
        or ``None`` when the transaction timed out."""
        probe = self._pending
        if probe is None:
            raise InvalidStateError("no probe is pending: call next_probe() first")
        if response is not None and response.transaction_id != probe.message.transaction_id:
            raise ValueError("the response does not answer the pending probe")
        self._pending = None
        f = self._f
        if response is not None and response.message_class is MessageClass.ERROR:
            self._error(probe, response)
            return
        mapped = _mapped(response) if response is not None else None
        if response is not None and mapped is None:
            f.notes.append(f"{probe.test}: the response has no mapped address")
            self._finish_test()
            return
        step = self._step
        if step is _Step.MAPPING_I:
            self._after_mapping_i(response, mapped)
        elif step is _Step.FILTERING_II:
            if response is not None:
                if self._check_source(probe, source, change_ip=True, change_port=True):
                    f.filtering = Behavior.ENDPOINT_INDEPENDENT
                self._step = self._after_filtering()
            else:
                self._step = _Step.FILTERING_III
        elif step is _Step.FILTERING_III:
            if response is not None:
                if self._check_source(probe, source, change_ip=False, change_port=True):
                    f.filtering = Behavior.ADDRESS_DEPENDENT
            else:
                f.filtering = Behavior.ADDRESS_AND_PORT_DEPENDENT
            self._step = self._after_filtering()
        elif step is _Step.MAPPING_II:
            if mapped is None:
                f.notes.append("mapping II: no answer from the alternate address")
                self._step = _Step.DONE
            elif mapped == f.mapped:
                # "If the XOR-MAPPED-ADDRESS in the Binding Response is the same as test I the
                # NAT currently has Endpoint-Independent Mapping."
                f.mapping = Behavior.ENDPOINT_INDEPENDENT
                self._step = _Step.DONE
            else:
                f.mapped2 = mapped
                self._step = _Step.MAPPING_III
        elif step is _Step.MAPPING_III:
            if mapped is None:
                f.notes.append("mapping III: no answer from the alternate address and port")
            else:
                # "If the XOR-MAPPED-ADDRESS matches test II, the NAT currently has Address-
                # Dependent Mapping; if it doesn't match it currently has Address and
                # Port-Dependent Mapping."
                f.mapping = (
                    Behavior.ADDRESS_DEPENDENT
                    if mapped == f.mapped2
                    else Behavior.ADDRESS_AND_PORT_DEPENDENT
                )
            self._step = _Step.DONE

    def result(self) -> NatBehavior:
        """What has been found so far (complete once :attr:`done`)."""
        f = self._f
        return NatBehavior(
            server=self.server,
            local=self.local,
            mapped=f.mapped,
            other_address=f.other,
            response_origin=f.origin,
            udp_blocked=f.udp_blocked,
            rfc5780=f.rfc5780,
            nat=f.nat,
            mapping=f.mapping,
            filtering=f.filtering,
            notes=tuple(f.notes),
        )

    # --- transitions ------------------------------------------------------------------------

    def _after_mapping_i(self, response: Message | None, mapped: Address | None) -> None:
        f = self._f
        if response is None or mapped is None:
            # RFC 5780 §4.2: "If this test yields no response, the client knows right away that
            # it does not have UDP connectivity with the STUN server."
            f.udp_blocked = True
            self._step = _Step.DONE
            return
        f.mapped = mapped
        other = response.get(OtherAddress)
        origin = response.get(ResponseOrigin)
        f.origin = origin.address if origin is not None else None
        if self.local is not None:
            # §4.3: "If this address and port are the same as the local IP address and port of
            # the socket used to send the request, the client knows that it is not NATed and
            # the effective mapping will be Endpoint-Independent."
            f.nat = mapped != self.local
        if other is None:
            # "If OTHER-ADDRESS is not returned, the server does not support this usage and
            # this test cannot be run."
            f.rfc5780 = False
            self._step = _Step.DONE
            return
        f.rfc5780 = True
        f.other = other.address
        if other.address[0] == self.server[0] or other.address[1] == self.server[1]:
            f.notes.append(
                f"OTHER-ADDRESS {_fmt(other.address)} does not differ from the server address "
                "in both IP and port; results may be wrong"
            )
        if f.nat is False and self._want_mapping:
            f.mapping = Behavior.ENDPOINT_INDEPENDENT
        self._step = self._after_mapping_i_step()

    def _after_mapping_i_step(self) -> _Step:
        if self._want_filtering:
            return _Step.FILTERING_II
        return self._after_filtering()

    def _after_filtering(self) -> _Step:
        if self._want_mapping and self._f.mapping is None:
            return _Step.MAPPING_II
        return _Step.DONE

    def _finish_test(self) -> None:
        step = self._step
        if step is _Step.MAPPING_I:
            self._step = _Step.DONE
        elif step in (_Step.FILTERING_II, _Step.FILTERING_III):
            self._step = self._after_filtering()
        else:
            self._step = _Step.DONE

    def _error(self, probe: Probe, response: Message) -> None:
        code = response.error_code
        self._f.notes.append(f"{probe.test}: error response {code}")
        if self._step in (_Step.FILTERING_II, _Step.FILTERING_III) and code == 420:
            # RFC 5780 §5: "Clients MUST be prepared to receive a 420 for requests that include
            # CHANGE-REQUEST when OTHER-ADDRESS was not received".
            self._f.notes.append("the server does not honour CHANGE-REQUEST")
        self._finish_test()

    def _check_source(
        self, probe: Probe, source: Address | None, *, change_ip: bool, change_port: bool
    ) -> bool:
        """False (and a note) for an answer that did not come from where CHANGE-REQUEST asked
        (RFC 5780 §6.1 Table 1): the server ignored the flags, so nothing can be concluded."""
        other = self._f.other
        if source is None or other is None:
            return True
        want = (
            other[0] if change_ip else self.server[0],
            other[1] if change_port else self.server[1],
        )
        if (source[0], source[1]) != want:
            self._f.notes.append(
                f"{probe.test}: answer came from {_fmt(source)}, expected {_fmt(want)}; "
                "the server does not honour CHANGE-REQUEST"
            )
            return False
        return True
