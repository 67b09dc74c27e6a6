"""Checkers for the ICE vectors in ``rfc-vectors/rfc8445``, ``rfc8839``, ``rfc6544``, ``rfc8421``.

RFC 8445 prints no byte vectors; its computations are kept as worked numbers instead (written
by ``rfc-vectors/extract_ice.py``, which also copies the candidate lines out of the RFC texts).
Each checker takes a vector (an ``rtcstack.vectors.Vector``; only ``cases`` is read, so this
module imports nothing outside the layer) and returns the problems found, ``[]`` for a pass.
``rtcstack vectors`` registers them in its ``CHECKERS``.

Kinds:

- ``ice-candidate``: RFC 8839 §5.1 / RFC 6544 §4.5 candidate lines.  :meth:`Candidate.parse`
  gives the fields; :meth:`Candidate.serialize` gives the exact text back; a candidate built
  from the fields alone equals the parsed one; ``priority_from`` rebuilds the printed priority
  with :func:`candidate_priority` (RFC 8445 §5.1.2.1; for TCP, RFC 6544 §4.2's local preference).
- ``ice-candidate-priority``: RFC 8445 §5.1.2.1 for every type preference x local preferences x
  components; ``error`` cases must be refused.
- ``ice-candidate-priority-table``: RFC 8421 §4's dual-stack list: every printed priority, and
  the IPv4/IPv6 interleaving :func:`local_preference` must reproduce.
- ``ice-pair-priority``: RFC 8445 §6.1.2.3, both role assignments.
- ``ice-foundation``: RFC 8445 §5.1.1.3 same/different foundation cases.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any

from rtcstack.common.errors import ParseError
from rtcstack.ice.candidate import (
    Candidate,
    CandidateType,
    candidate_priority,
    foundation_for,
    local_preference,
    pair_priority,
)

__all__ = ["CHECKERS", "candidate_fields"]

_FOUNDATION = re.compile(r"^[A-Za-z0-9+/]{1,32}$")  # RFC 8839 §5.1: 1*32ice-char
#: An address of each family, for RFC 8421 §4's interleaving.
_FAMILY_ADDRESS = {"IPv6": "2001:db8::1", "IPv4": "192.0.2.1"}


def candidate_fields(candidate: Candidate) -> dict[str, Any]:
    """The candidate's fields as the vectors write them (JSON values: type as text, extensions
    as two-element lists)."""
    return {
        "foundation": candidate.foundation, "component": candidate.component,
        "transport": candidate.transport, "priority": candidate.priority,
        "address": candidate.address, "port": candidate.port, "type": candidate.type.value,
        "related_address": candidate.related_address, "related_port": candidate.related_port,
        "tcptype": candidate.tcptype,
        "extensions": [list(pair) for pair in candidate.extensions],
    }


def _from_fields(fields: Mapping[str, Any]) -> Candidate:
    return Candidate(
        fields["foundation"], fields["component"], fields["transport"], fields["priority"],
        fields["address"], fields["port"], CandidateType(fields["type"]),
        fields["related_address"], fields["related_port"], fields["tcptype"],
        tuple((str(k), str(v)) for k, v in fields["extensions"]))


def _priority_problems(where: str, kind: CandidateType, fields: Mapping[str, Any],
                       parts: Mapping[str, int]) -> list[str]:
    problems = []
    if "direction_pref" in parts:  # RFC 6544 §4.2
        local = (1 << 13) * parts["direction_pref"] + parts["other_pref"]
        if local != parts["local_preference"]:
            problems.append(f"{where}: (2^13)*{parts['direction_pref']} + "
                            f"{parts['other_pref']} is {local}, not {parts['local_preference']}")
    got = candidate_priority(kind, parts["local_preference"], parts["component"],
                             type_preference=parts["type_preference"])
    if got != fields["priority"]:
        problems.append(f"{where}: candidate_priority gives {got}, the RFC prints "
                        f"{fields['priority']}")
    return problems


def check_candidate_lines(vector: Any) -> list[str]:
    problems: list[str] = []
    if not vector.cases:
        return ["no cases"]
    for n, case in enumerate(vector.cases, 1):
        where = f"case {n} (§{case.get('section', vector.section)})"
        line: str = case["line"]
        value = line.removeprefix("a=").removeprefix("candidate:")
        try:
            parsed = Candidate.parse(line)
        except ParseError as exc:
            problems.append(f"{where}: rejected: {exc}")
            continue
        got, want = candidate_fields(parsed), case["fields"]
        problems += [f"{where} {key}: got {got.get(key)!r}, expected {val!r}"
                     for key, val in want.items() if got.get(key) != val]
        if parsed.serialize() != value:
            problems.append(f"{where}: serializes as {parsed.serialize()!r}")
        if parsed.to_ice_string() != "candidate:" + value:
            problems.append(f"{where}: to_ice_string gives {parsed.to_ice_string()!r}")
        try:
            built = _from_fields(want)
        except (KeyError, ValueError) as exc:
            problems.append(f"{where}: cannot build from the fields: {exc!r}")
            continue
        if built != parsed:
            problems.append(f"{where}: built from the fields: {built!r}")
        if Candidate.parse(built.serialize()) != parsed:
            problems.append(f"{where}: the fields serialize as {built.serialize()!r}")
        if "priority_from" in case:
            problems += _priority_problems(where, parsed.type, want, case["priority_from"])
    return problems


def check_candidate_priority(vector: Any) -> list[str]:
    problems: list[str] = []
    for case in vector.cases:
        kind = CandidateType(case["type"])
        args = (kind, case["local_preference"], case["component"])
        where = f"{kind.value}/{args[1]}/{args[2]}"
        try:
            got = candidate_priority(*args)
        except ValueError as exc:
            if "error" not in case or case["error"] not in str(exc):
                problems.append(f"{where}: refused: {exc}")
            continue
        if "error" in case:
            problems.append(f"{where}: gives {got}, must be refused ({case['error']!r})")
        elif got != case["priority"]:
            problems.append(f"{where}: {got}, expected {case['priority']}")
        elif not 1 <= got <= 2**31 - 1:
            problems.append(f"{where}: {got} is outside 1..2**31-1 (RFC 8445 §5.1.2)")
    return problems


def check_priority_table(vector: Any) -> list[str]:
    """RFC 8421 §4: each printed priority, decreasing order, and the IPv4/IPv6 interleaving."""
    problems: list[str] = []
    previous = None
    sequences: dict[int, list[str]] = {}
    for case in vector.cases:
        where = f"row {case['row']}"
        got = candidate_priority(CandidateType(case["type"]), case["local_preference"],
                                 case["component"], type_preference=case["type_preference"])
        if got != case["priority"]:
            problems.append(f"{where}: candidate_priority gives {got}, RFC {case['priority']}")
        if previous is not None and case["priority"] >= previous:
            problems.append(f"{where}: not in decreasing priority order")
        previous = case["priority"]
        if case["component"] == 1:
            sequences.setdefault(case["type_preference"], []).append(case["family"])
    # RFC 8421 §4: "the local preference values of the IPv6 and IPv4 candidates SHOULD be
    # interleaved"; local_preference() must rank each type's addresses in the table's order.
    for type_pref, families in sequences.items():
        seen: dict[str, int] = {}
        ranks = []
        for family in families:
            index = seen.get(family, 0)
            seen[family] = index + 1
            ranks.append(local_preference(_FAMILY_ADDRESS[family], index))
        if any(a <= b for a, b in itertools.pairwise(ranks)):
            problems.append(f"type preference {type_pref}: local_preference() ranks "
                            f"{families} as {ranks}, not in the table's order")
    return problems


def check_pair_priority(vector: Any) -> list[str]:
    problems: list[str] = []
    for n, case in enumerate(vector.cases, 1):
        g, d = case["controlling"], case["controlled"]
        if pair_priority(g, d) != case["pair_priority"]:
            problems.append(f"case {n}: pair_priority({g}, {d}) = {pair_priority(g, d)}, "
                            f"expected {case['pair_priority']}")
        if pair_priority(d, g) != case["swapped"]:
            problems.append(f"case {n}: roles swapped: {pair_priority(d, g)}, "
                            f"expected {case['swapped']}")
    return problems


def _foundation(spec: Mapping[str, Any]) -> str:
    return foundation_for(CandidateType(spec["type"]), spec["base_ip"], spec["server"],
                          spec["transport"])


def check_foundation(vector: Any) -> list[str]:
    problems: list[str] = []
    for n, case in enumerate(vector.cases, 1):
        a, b = _foundation(case["a"]), _foundation(case["b"])
        for f in (a, b):
            if not _FOUNDATION.match(f):
                problems.append(f"case {n}: foundation {f!r} is not 1 to 32 ice-chars")
        if (a == b) != case["same"]:
            problems.append(f"case {n} ({case['why']}): foundations {a} and {b} should be "
                            f"{'equal' if case['same'] else 'different'}")
    return problems


CHECKERS: dict[str, Callable[[Any], list[str]]] = {
    "ice-candidate": check_candidate_lines,
    "ice-candidate-priority": check_candidate_priority,
    "ice-candidate-priority-table": check_priority_table,
    "ice-pair-priority": check_pair_priority,
    "ice-foundation": check_foundation,
}
