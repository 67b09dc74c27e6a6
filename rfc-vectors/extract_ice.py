"""Write the ICE vectors: candidate lines copied out of the RFC texts, and the RFC 8445 worked
numbers (priorities, pair priorities, foundation rules), into ``rfc-vectors/rfcNNNN/``.

Usage::

    python rfc-vectors/extract_ice.py [--rfcs DIR] [--check]

- Candidate lines are copied from the RFC text with ``extract_sdp.py``'s block reader (page
  headers dropped, folded lines unfolded with one space), never retyped.  Their ``fields`` come
  from a naive reader in this file (string splits, no rtcstack code), so the checker compares
  two independent readings.  ``priority_from`` splits the printed priority into the RFC 8445
  §5.1.2.1 terms (type preference, local preference, component) and, for RFC 6544 TCP
  candidates, the local preference into §4.2's direction-pref and other-pref; this script
  asserts they are the values the RFC's prose says it used.
- Priority and pair-priority numbers are computed here with the RFC's formulas written out
  again (plain integer arithmetic), and cross-checked against every number the RFCs print
  (RFC 5245 §17's "the priority of the host candidate is 2130706431", the RFC 8421 §4 table).
- The foundation cases restate RFC 8445 §5.1.1.3's four conditions as inputs and outputs.

``--check`` compares the files on disk with what would be written (exit 1 on a difference).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from extract_sdp import extract_block, extract_line, rfc_lines  # noqa: E402

SCHEMA = "rtcstack-vector/1"
URL = "https://www.rfc-editor.org/rfc/rfc{rfc}#{anchor}"
TYPE_PREF = {"host": 126, "prflx": 110, "srflx": 100, "relay": 0}  # RFC 8445 §5.1.2.2


def _source(rfc: int, section: str) -> str:
    anchor = f"appendix-{section}" if section[0].isalpha() else f"section-{section}"
    label = f"App. {section}" if section[0].isalpha() else f"§{section}"
    return f"RFC {rfc} {label}, " + URL.format(rfc=rfc, anchor=anchor)


def _doc(rfc: int, section: str, title: str, kind: str, **rest: Any) -> dict[str, Any]:
    return {"schema": SCHEMA, "rfc": rfc, "section": section, "title": title, "layer": "ice",
            "kind": kind, "source": _source(rfc, section), "hex": [], **rest}


def priority(type_pref: int, local_pref: int, component: int) -> int:
    """RFC 8445 §5.1.2.1, written out again."""
    return type_pref * 2**24 + local_pref * 2**8 + (256 - component)


def pair_priority(g: int, d: int) -> int:
    """RFC 8445 §6.1.2.3, written out again."""
    return 2**32 * min(g, d) + 2 * max(g, d) + (1 if g > d else 0)


def split_priority(value: int) -> dict[str, int]:
    return {"type_preference": value >> 24, "local_preference": (value >> 8) & 0xFFFF,
            "component": 256 - (value & 0xFF)}


# --- candidate lines ----------------------------------------------------------------------------


def naive_fields(value: str) -> dict[str, Any]:
    """The candidate line's fields as ``rtcstack.ice.Candidate`` names them, read with splits:
    transport lower-cased, ``tcptype`` taken out when it is the first extension."""
    f = value.split(" ")
    out: dict[str, Any] = {
        "foundation": f[0], "component": int(f[1]), "transport": f[2].lower(),
        "priority": int(f[3]), "address": f[4], "port": int(f[5]), "type": f[7].lower(),
        "related_address": None, "related_port": None, "tcptype": None, "extensions": [],
    }
    rest = f[8:]
    pairs = list(zip(rest[::2], rest[1::2], strict=True))
    if pairs and pairs[0][0] == "raddr":
        out["related_address"] = pairs.pop(0)[1]
    if pairs and pairs[0][0] == "rport":
        out["related_port"] = int(pairs.pop(0)[1])
    if pairs and pairs[0][0] == "tcptype":
        out["tcptype"] = pairs.pop(0)[1]
    out["extensions"] = [list(p) for p in pairs]
    return out


def _line_case(section: str, line: str, where: str) -> dict[str, Any]:
    value = line.removeprefix("a=candidate:")
    fields = naive_fields(value)
    case: dict[str, Any] = {"section": section, "where": where, "line": line, "fields": fields}
    parts = split_priority(fields["priority"])
    if parts["component"] != fields["component"]:
        raise SystemExit(f"{line}: priority's component part disagrees with the component")
    case["priority_from"] = parts
    return case


def rfc8839_lines(rfcs: Path) -> dict[str, Any]:
    lines = rfc_lines(rfcs / "rfc8839.txt")
    cases: list[dict[str, Any]] = []
    notes: list[str] = []
    block, unfold, _ = extract_block(lines, "4.2.6.  SDP Example", 1)
    notes += unfold
    cases += [_line_case("4.2.6", x, "the SDP example") for x in block
              if x.startswith("a=candidate:")]
    line, unfold = extract_line(lines, "5.1.  \"candidate\" Attribute", "a=candidate:", 1)
    notes += unfold
    cases.append(_line_case("5.1", line, "the example server-reflexive line"))
    for nth, where in ((2, "the offer, variables filled in"),
                       (4, "the answer, variables filled in")):
        block, unfold, _ = extract_block(lines, "Appendix A.  Examples", nth)
        notes += unfold
        cases += [_line_case("A", x, where) for x in block if x.startswith("a=candidate:")]
    for case in cases:  # RFC 8839 §4.2.6 / App. A: 126 and 100 with local preference 65535
        p = case["priority_from"]
        if (p["type_preference"], p["local_preference"]) != (TYPE_PREF[case["fields"]["type"]],
                                                            65535):
            raise SystemExit(f"{case['line']}: not the RECOMMENDED preferences")
    return _doc(8839, "5.1", "candidate Attribute: every candidate line in the RFC",
                "ice-candidate", cases=cases,
                notes="Every a=candidate line of RFC 8839 (§4.2.6, §5.1, App. A with the "
                "variables filled in), copied by rfc-vectors/extract_ice.py. Unfolded: "
                + "; ".join(dict.fromkeys(notes)) + ". Priorities use type preference 126 "
                "(host) / 100 (srflx) and local preference 65535, as RFC 5245 §17 says of the "
                "same example.")


# RFC 6544 §4.2: "6 for active, 4 for passive, and 2 for S-O" (host, UDP-tunneled, relayed);
# "6 for S-O, 4 for active, and 2 for passive" (NAT-assisted, server reflexive).
DIRECTION_PREF = {"host": {"active": 6, "passive": 4, "so": 2},
                  "srflx": {"so": 6, "active": 4, "passive": 2}}


def rfc6544_lines(rfcs: Path) -> dict[str, Any]:
    lines = rfc_lines(rfcs / "rfc6544.txt")
    cases: list[dict[str, Any]] = []
    notes: list[str] = []
    wheres = ["first example: offer (TCP only)", "first example: answer",
              "second example: offer (UDP preferred, TCP type preferences lowered by one)",
              "second example: answer"]
    for nth, where in enumerate(wheres, 1):
        block, unfold, _ = extract_block(lines, "Appendix C.  SDP Examples", nth)
        notes += unfold
        cases += [_line_case("C", x, where) for x in block if x.startswith("a=candidate:")]
    for case in cases:
        f, p = case["fields"], case["priority_from"]
        tp = TYPE_PREF[f["type"]]
        if f["transport"] == "tcp":
            lowered = case["where"].startswith("second")
            if p["type_preference"] != tp - lowered:
                raise SystemExit(f"{case['line']}: type preference {p['type_preference']}")
            direction, other = p["local_preference"] >> 13, p["local_preference"] & 8191
            if (direction, other) != (DIRECTION_PREF[f["type"]][f["tcptype"]], 8191):
                raise SystemExit(f"{case['line']}: direction-pref {direction}, other {other}")
            p["direction_pref"], p["other_pref"] = direction, other
        elif (p["type_preference"], p["local_preference"]) != (tp, 65535):
            raise SystemExit(f"{case['line']}: not the RECOMMENDED UDP preferences")
    return _doc(6544, "C", "SDP Examples: every ICE-TCP candidate line", "ice-candidate",
                cases=cases,
                notes="Every a=candidate line of RFC 6544 App. C, copied by "
                "rfc-vectors/extract_ice.py. Unfolded: " + "; ".join(dict.fromkeys(notes))
                + ". TCP local preference = (2^13)*direction-pref + other-pref (§4.2) with "
                "other-pref 8191 (single IP address); the second example lowers the TCP type "
                "preferences by one (125 host, 99 srflx).")


# --- RFC 8445 worked numbers --------------------------------------------------------------------

LOCAL_PREFS = (65535, 65534, 32768, 256, 1, 0)
COMPONENTS = (1, 2, 256)


def rfc8445_priorities() -> dict[str, Any]:
    cases: list[dict[str, Any]] = []
    for kind, tp in sorted(TYPE_PREF.items(), key=lambda kv: -kv[1]):
        for lp in LOCAL_PREFS:
            for comp in COMPONENTS:
                case: dict[str, Any] = {"type": kind, "local_preference": lp,
                                        "component": comp}
                value = priority(tp, lp, comp)
                if value == 0:
                    case["error"] = "positive integer"
                else:
                    case["priority"] = value
                cases.append(case)
    # RFC 5245 §17 (the example RFC 8839 App. A reuses): "Agent L sets a type preference of 126
    # for the host candidate and 100 for the server reflexive.  The local preference is 65535.
    # Based on this, the priority of the host candidate is 2130706431 and for the server
    # reflexive candidate is 1694498815."
    quoted = {("host", 65535, 1): 2130706431, ("srflx", 65535, 1): 1694498815}
    for case in cases:
        key = (case["type"], case["local_preference"], case["component"])
        if key in quoted:
            if case["priority"] != quoted[key]:
                raise SystemExit(f"{key}: {case['priority']} but RFC 5245 §17 prints "
                                 f"{quoted[key]}")
            case["rfc_text"] = "RFC 5245 §17 / RFC 8839 §4.2.6, App. A"
    return _doc(8445, "5.1.2.1", "Recommended Formula: candidate priorities",
                "ice-candidate-priority", cases=cases,
                notes="priority = (2^24)*(type preference) + (2^8)*(local preference) + "
                "(2^0)*(256 - component ID), with the §5.1.2.2 RECOMMENDED type preferences "
                "(126 host, 110 prflx, 100 srflx, 0 relay), for local preferences 65535 (single "
                "IP address, §5.1.2.1 SHOULD) down to 0 and components 1, 2 and 256. Computed by "
                "rfc-vectors/extract_ice.py; the two numbers the RFC examples print are marked "
                "rfc_text. relay/0/256 gives 0, which §5.1.2 forbids (\"MUST be a positive "
                "integer between 1 and (2**31 - 1)\"): the implementation must refuse it.")


def rfc8445_pair_priorities() -> dict[str, Any]:
    host, srflx = 2130706431, 1694498815
    raw = [
        (host, host, "RFC 8839 App. A / RFC 5245 §17: L's host (controlling) with R's host"),
        (srflx, host, "RFC 8839 App. A / RFC 5245 §17: L's srflx (controlling) with R's host "
                      "(pruned: its base is L's host candidate)"),
        (host, srflx, "the same two priorities with the roles swapped"),
        (priority(126, 65535, 2), priority(126, 65535, 1), "host RTCP (controlling) with RTP"),
        (priority(0, 65535, 1), priority(126, 65535, 1), "relay with host"),
        (priority(110, 65535, 1), priority(100, 65535, 1), "prflx with srflx"),
        (1, 1, "the smallest priorities"),
        (2**31 - 1, 2**31 - 1, "the largest priorities"),
        (2**31 - 1, 1, "largest controlling, smallest controlled"),
        (1, 2**31 - 1, "smallest controlling, largest controlled"),
    ]
    cases = []
    for g, d, why in raw:
        cases.append({"controlling": g, "controlled": d, "pair_priority": pair_priority(g, d),
                      "swapped": pair_priority(d, g), "why": why})
    return _doc(8445, "6.1.2.3", "Computing Pair Priority: worked numbers", "ice-pair-priority",
                cases=cases,
                notes="pair priority = 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0), G the "
                "controlling agent's candidate priority, D the controlled's; 'swapped' is the "
                "value with the roles exchanged (equal when G == D, one less for the agent "
                "whose candidate was higher when it controls). Computed by "
                "rfc-vectors/extract_ice.py.")


def _c(kind: str, base: str, server: str | None = None, transport: str = "udp"
       ) -> dict[str, Any]:
    return {"type": kind, "base_ip": base, "server": server, "transport": transport}


FOUNDATION_CASES = [
    (_c("host", "10.0.1.1"), _c("host", "10.0.1.1"), True,
     "same type, base IP and transport (two ports on one address)"),
    (_c("host", "10.0.1.1"), _c("srflx", "10.0.1.1", "192.0.2.2"), False,
     "different types: RFC 5245 §17 gives the host foundation 1 and the srflx 2"),
    (_c("host", "10.0.1.1"), _c("host", "10.0.1.2"), False, "different base IP addresses"),
    (_c("host", "10.0.1.1"), _c("host", "10.0.1.1", transport="tcp"), False,
     "different transport protocols"),
    (_c("host", "10.0.1.1", transport="UDP"), _c("host", "10.0.1.1", transport="udp"), True,
     "the transport is one protocol however it is spelled"),
    (_c("srflx", "10.0.1.1", "192.0.2.2"), _c("srflx", "10.0.1.1", "192.0.2.2"), True,
     "same type, base and STUN server"),
    (_c("srflx", "10.0.1.1", "192.0.2.2"), _c("srflx", "10.0.1.1", "192.0.2.9"), False,
     "different STUN servers"),
    (_c("srflx", "10.0.1.1", "192.0.2.2"), _c("relay", "10.0.1.1", "192.0.2.2"), False,
     "one server, different types (STUN binding vs TURN allocation)"),
    (_c("relay", "10.0.1.1", "192.0.2.2"), _c("relay", "10.0.1.1", "192.0.2.2"), True,
     "same TURN server reached from the same base"),
    (_c("relay", "10.0.1.1", "192.0.2.2"), _c("relay", "10.0.1.1", "192.0.2.2", "tcp"), False,
     "same TURN server over UDP and over TCP"),
    (_c("relay", "10.0.1.1", "192.0.2.2"), _c("relay", "10.0.1.7", "192.0.2.2"), False,
     "same TURN server from two bases"),
    (_c("srflx", "2001:db8::3", "2001:db8::9"), _c("srflx", "2001:DB8:0::3", "2001:db8::0:9"),
     True, "the same IPv6 addresses written two ways (RFC 8445 §15.2 addresses)"),
    (_c("host", "fe80::1%eth0"), _c("host", "fe80::1%eth1"), False,
     "one link-local address on two interfaces: two bases"),
    (_c("host", "fe80::6676:baff:fe9c:ee4a"), _c("host", "2001:db8:8101:3a55:4858:a2a9:22ff:99b9"),
     False, "RFC 8839 App. A: link-local and global IPv6 host addresses"),
]


def rfc8445_foundations() -> dict[str, Any]:
    cases = [{"a": a, "b": b, "same": same, "why": why} for a, b, same, why in FOUNDATION_CASES]
    return _doc(8445, "5.1.1.3", "Computing Foundations: same and different",
                "ice-foundation", cases=cases,
                notes="\"Two candidates have the same foundation when all of the following are "
                "true: They have the same type ... Their bases have the same IP address (the "
                "ports can be different) ... the STUN or TURN servers used to obtain them have "
                "the same IP address ... They were obtained using the same transport protocol\" "
                "and different foundations otherwise. Each case names two candidates by those "
                "four inputs (ports are not an input) and whether their foundations are equal. "
                "Foundations must also be 1 to 32 ice-chars (RFC 8839 §5.1).")


_RFC8421_ROW = re.compile(
    r"^\s*\((\d+)\)\s+(HOST|SRFLX|RELAY)\s+(IPv4|IPv6)\s+\((\d)\)\s+(\d+)\s*$")


def rfc8421_priorities(rfcs: Path) -> dict[str, Any]:
    cases = []
    for line in rfc_lines(rfcs / "rfc8421.txt"):
        m = _RFC8421_ROW.match(line)
        if m is None:
            continue
        row, kind, family, comp, value = m.groups()
        parts = split_priority(int(value))
        if parts["component"] != int(comp):
            raise SystemExit(f"row {row}: component {parts['component']}")
        cases.append({"row": int(row), "type": kind.lower(), "family": family,
                      "component": int(comp), "priority": int(value),
                      "type_preference": parts["type_preference"],
                      "local_preference": parts["local_preference"]})
    if len(cases) != 20:
        raise SystemExit(f"RFC 8421 §4 table: {len(cases)} rows, expected 20")
    return _doc(8421, "4", "Candidate Prioritization: the intermingled dual-stack list",
                "ice-candidate-priority-table", cases=cases,
                notes="The table of RFC 8421 §4 as printed, read by rfc-vectors/extract_ice.py; "
                "type_preference and local_preference are the printed priority split by the "
                "RFC 8445 §5.1.2.1 formula. Rows 15-16 are IPv6 host candidates the RFC demotes "
                "to type preference 100 (\"some of the IPv6 host candidates are demoted\"). The "
                "list must be in decreasing priority order and the IPv4 and IPv6 candidates of "
                "each type interleaved.")


# --- main -----------------------------------------------------------------------------------------


def build(rfcs: Path) -> dict[Path, dict[str, Any]]:
    return {
        HERE / "rfc8839" / "candidate-lines.json": rfc8839_lines(rfcs),
        HERE / "rfc6544" / "candidate-lines.json": rfc6544_lines(rfcs),
        HERE / "rfc8445" / "candidate-priority.json": rfc8445_priorities(),
        HERE / "rfc8445" / "pair-priority.json": rfc8445_pair_priorities(),
        HERE / "rfc8445" / "foundation.json": rfc8445_foundations(),
        HERE / "rfc8421" / "dual-stack-priorities.json": rfc8421_priorities(rfcs),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rfcs", type=Path,
                        default=Path(os.environ.get("RFC_DIR", "/work/shared/rfcs")))
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    status = 0
    for path, doc in build(args.rfcs).items():
        text = json.dumps(doc, indent=2, ensure_ascii=True) + "\n"
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                print(f"{path}: differs from what extract_ice.py writes")
                status = 1
            continue
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(HERE)}: {len(doc['cases'])} cases")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
