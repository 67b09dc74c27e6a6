"""Copy the SDP examples out of the RFC texts into ``rfc-vectors/rfcNNNN/<name>.json``.

Usage::

    python rfc-vectors/extract_sdp.py [--rfcs DIR] [--check] [NAME ...]

``SPECS`` below names every SDP example rtcstack keeps as a vector: the RFC, the heading it
appears under and which block after that heading.  For each one this script

1. finds the block in the RFC text (the first line is ``v=0`` unless the spec says otherwise),
   drops the RFC's indentation, page headers/footers and the blank lines RFCs put between media
   sections for readability;
2. unfolds lines the RFC folded for width -- a line indented deeper than the block is a
   continuation of the line above.  It is joined with one space, except after a line that ends
   in ``:`` (a fingerprint's hex pairs go on without a space) or in ``\\`` (RFC 8853 marks a fold
   that way; the backslash is dropped and nothing is inserted).  Every vector's ``notes`` say
   which lines were unfolded and how;
3. writes ``expected`` with a deliberately naive reader (string splits in this file, no
   rtcstack code), so that the vector checker compares two independent readings of the text.

``--check`` compares the files on disk with what the script would write (exit 1 on a
difference) instead of writing.  The RFC texts come from ``$RFC_DIR`` or ``--rfcs``
(default ``/work/shared/rfcs``).  Review a new vector by eye against the RFC before adding it.
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
SCHEMA = "rtcstack-vector/1"
_PAGE_FOOTER = re.compile(r"^\S.*\[Page \d+\]\s*$")
_PAGE_HEADER = re.compile(r"^RFC \d+ {2,}.*\d{4}\s*$")
_SDP_LINE = re.compile(r"^[a-z]=")

URLS = "https://www.rfc-editor.org/rfc/rfc{rfc}#section-{section}"


def _spec(name: str, rfc: int, section: str, title: str, heading: str, nth: int = 1,
          **extra: Any) -> dict[str, Any]:
    return {"name": name, "rfc": rfc, "section": section, "title": title, "heading": heading,
            "nth": nth, **extra}


#: Every SDP description example: (file name, RFC, section, title, heading that precedes it,
#: which SDP block after the heading).  ``role`` is offer/answer when the RFC says so.
SPECS: list[dict[str, Any]] = [
    _spec("example", 8866, "5", "SDP Specification: the example SDP description",
          "5.  SDP Specification"),
    _spec("media-direction-example", 8866, "6.7", "Media Direction Attributes: example",
          "6.7.  Media Direction Attributes"),
    _spec("offer-a1", 9429, "7.1", "Simple Example: offer-A1", "7.1.  Simple Example", 1,
          role="offer"),
    _spec("answer-a1", 9429, "7.1", "Simple Example: answer-A1", "7.1.  Simple Example", 2,
          role="answer"),
    _spec("offer-b1", 9429, "7.2", "Detailed Example: offer-B1", "7.2.  Detailed Example", 1,
          role="offer"),
    _spec("answer-b1", 9429, "7.2", "Detailed Example: answer-B1", "7.2.  Detailed Example", 2,
          role="answer"),
    _spec("offer-b2", 9429, "7.2", "Detailed Example: offer-B2", "7.2.  Detailed Example", 3,
          role="offer"),
    _spec("answer-b2", 9429, "7.2", "Detailed Example: answer-B2", "7.2.  Detailed Example", 4,
          role="answer"),
    _spec("offer-c1", 9429, "7.3", "Early Transport Warmup Example: offer-C1",
          "7.3.  Early Transport Warmup Example", 1, role="offer"),
    _spec("answer-c1", 9429, "7.3", "Early Transport Warmup Example: answer-C1",
          "7.3.  Early Transport Warmup Example", 2, role="answer"),
    _spec("offer-c2", 9429, "7.3", "Early Transport Warmup Example: offer-C2",
          "7.3.  Early Transport Warmup Example", 3, role="offer"),
    _spec("answer-c2", 9429, "7.3", "Early Transport Warmup Example: answer-C2",
          "7.3.  Early Transport Warmup Example", 4, role="answer"),
    _spec("sdp-example", 8839, "4.2.6", "SDP Example (ICE attributes)", "4.2.6.  SDP Example"),
    _spec("appendix-a-offer-template", 8839, "A", "Examples: offer with variables",
          "Appendix A.  Examples", 1, role="offer"),
    _spec("appendix-a-offer", 8839, "A", "Examples: offer with the variables filled in",
          "Appendix A.  Examples", 2, role="offer"),
    _spec("appendix-a-answer-template", 8839, "A", "Examples: answer with variables",
          "Appendix A.  Examples", 3, role="answer"),
    _spec("appendix-a-answer", 8839, "A", "Examples: answer with the variables filled in",
          "Appendix A.  Examples", 4, role="answer"),
    _spec("initial-offer", 9143, "7.2.2", "Example: Initial BUNDLE Offer",
          "7.2.2.  Example: Initial BUNDLE Offer", 1, role="offer"),
    _spec("initial-offer-bundle-only", 9143, "7.2.2",
          "Example: Initial BUNDLE Offer with bundle-only",
          "7.2.2.  Example: Initial BUNDLE Offer", 2, role="offer"),
    _spec("answer", 9143, "7.3.4", "Example: SDP Answer", "7.3.4.  Example: SDP Answer",
          role="answer"),
    _spec("rfc8843-offer", 9143, "7.3.5", "RFC 8843 Considerations: offer",
          "7.3.5.  RFC 8843 Considerations", role="offer"),
    _spec("rfc8843-answer", 9143, "7.4.1", "RFC 8843 Considerations: answer",
          "7.4.1.  RFC 8843 Considerations", role="answer"),
    _spec("tagged-offer", 9143, "18.1", "Tagged m= Section Selections: offer",
          "18.1.  Example: Tagged", 1, role="offer"),
    _spec("tagged-answer", 9143, "18.1", "Tagged m= Section Selections: answer",
          "18.1.  Example: Tagged", 2, role="answer"),
    _spec("group-rejected-offer", 9143, "18.2", "BUNDLE Group Rejected: offer",
          "18.2.  Example: BUNDLE Group Rejected", 1, role="offer"),
    _spec("group-rejected-answer", 9143, "18.2", "BUNDLE Group Rejected: answer",
          "18.2.  Example: BUNDLE Group Rejected", 2, role="answer"),
    _spec("add-offer", 9143, "18.3", "Offerer Adds a Media Description: offer",
          "18.3.  Example: Offerer Adds", 1, role="offer"),
    _spec("add-answer", 9143, "18.3", "Offerer Adds a Media Description: answer",
          "18.3.  Example: Offerer Adds", 2, role="answer"),
    _spec("move-offer", 9143, "18.4", "Offerer Moves a Media Description Out: offer",
          "18.4.  Example: Offerer Moves", 1, role="offer"),
    _spec("move-answer", 9143, "18.4", "Offerer Moves a Media Description Out: answer",
          "18.4.  Example: Offerer Moves", 2, role="answer"),
    _spec("disable-offer", 9143, "18.5", "Offerer Disables a Media Description: offer",
          "18.5.  Example: Offerer Disables", 1, role="offer"),
    _spec("disable-answer", 9143, "18.5", "Offerer Disables a Media Description: answer",
          "18.5.  Example: Offerer Disables", 2, role="answer"),
    _spec("single-source-offer", 8853, "5.6.1", "Single-Source Simulcast Offer (Figure 5)",
          "5.6.1.  Single-Source Client", 1, role="offer"),
    _spec("single-source-answer", 8853, "5.6.1", "Single-Source Simulcast Answer (Figure 6)",
          "5.6.1.  Single-Source Client", 2, role="answer"),
    _spec("multisource-offer", 8853, "5.6.2", "Multisource Simulcast Offer (Figure 7)",
          "5.6.2.  Multisource Client", 1, role="offer"),
    _spec("redundancy-offer", 8853, "5.6.3", "Simulcast and Redundancy Example (Figure 8)",
          "5.6.3.  Simulcast and Redundancy", 1, role="offer", first="o="),
    _spec("capabilities", 3264, "9", "Indicating Capabilities (Figure 1)",
          "9 Indicating Capabilities"),
    _spec("basic-offer", 3264, "10.1", "Basic Exchange: Alice's offer", "10.1 Basic Exchange", 1,
          role="offer"),
    _spec("basic-answer", 3264, "10.1", "Basic Exchange: Bob's answer", "10.1 Basic Exchange", 2,
          role="answer"),
    _spec("basic-reoffer", 3264, "10.1", "Basic Exchange: Bob's new offer",
          "10.1 Basic Exchange", 3, role="offer"),
    _spec("basic-reanswer", 3264, "10.1", "Basic Exchange: Alice's answer",
          "10.1 Basic Exchange", 4, role="answer"),
    _spec("one-of-n-offer", 3264, "10.2", "One of N Codec Selection: Alice's offer",
          "10.2 One of N Codec Selection", 1, role="offer"),
    _spec("one-of-n-answer", 3264, "10.2", "One of N Codec Selection: Bob's answer",
          "10.2 One of N Codec Selection", 2, role="answer"),
    _spec("one-of-n-reoffer", 3264, "10.2", "One of N Codec Selection: Alice's updated offer",
          "10.2 One of N Codec Selection", 3, role="offer"),
    _spec("one-of-n-reanswer", 3264, "10.2", "One of N Codec Selection: Bob's answer",
          "10.2 One of N Codec Selection", 4, role="answer"),
]

#: Single attribute lines: (file name, RFC, section, title, [(heading, first-line prefix, n)]).
#: Each entry takes the n-th line after the heading that starts with the prefix (after the
#: block indentation), with its continuation lines.
ATTRIBUTE_SPECS: list[dict[str, Any]] = [
    {"name": "candidate-srflx", "rfc": 8839, "section": "5.1",
     "title": "candidate Attribute: example server-reflexive candidate line",
     "lines": [("5.1.  \"candidate\" Attribute", "a=candidate:", 1)]},
    {"name": "ice-credentials", "rfc": 8839, "section": "5.4",
     "title": "ice-pwd and ice-ufrag Attributes: examples",
     "lines": [("5.4.  \"ice-ufrag\" and \"ice-pwd\" Attributes", "a=ice-pwd:", 1),
               ("5.4.  \"ice-ufrag\" and \"ice-pwd\" Attributes", "a=ice-ufrag:", 1)]},
    {"name": "ice-options", "rfc": 8839, "section": "5.6",
     "title": "ice-options Attribute: example",
     "lines": [("5.6.  \"ice-options\" Attribute", "a=ice-options:", 1)]},
    {"name": "trickle-candidates", "rfc": 9429, "section": "7.2",
     "title": "Detailed and warmup examples: trickled candidate attributes",
     "lines": [("7.2.  Detailed Example", "attr  candidate:", n) for n in range(1, 7)]
     + [("7.3.  Early Transport Warmup Example", "attr  candidate:", n) for n in (1, 2)]},
    {"name": "redundancy-rids", "rfc": 8851, "section": "8.3",
     "title": "Redundancy Formats and Payload Type Restrictions: rid lines",
     "lines": [("8.3.  Redundancy Formats", "a=rid:", n) for n in (1, 2)]},
    {"name": "many-codecs-rids", "rfc": 8851, "section": "11.1",
     "title": "Many Bundled Streams Using Many Codecs: rid lines",
     "lines": [("11.1.  Many Bundled Streams", "a=rid:", n) for n in range(1, 6)]},
    {"name": "scalable-layers-rids", "rfc": 8851, "section": "11.2",
     "title": "Scalable Layers: rid lines",
     "lines": [("11.2.  Scalable Layers", "a=rid:", n) for n in range(1, 6)]},
    {"name": "scalable-layers-simulcast", "rfc": 8851, "section": "11.2",
     "title": "Scalable Layers: the simulcast line (pre-RFC 8853 syntax)",
     "lines": [("11.2.  Scalable Layers", "a=simulcast:", 1)]},
]


# --- reading the RFC text ---------------------------------------------------------------------


def rfc_lines(path: Path) -> list[str]:
    """The RFC's lines without BOM, form feeds, page headers and footers."""
    text = path.read_text(encoding="utf-8").lstrip("\ufeff")
    lines = []
    for line in text.replace("\f", "").splitlines():
        if _PAGE_FOOTER.match(line) or _PAGE_HEADER.match(line):
            continue
        lines.append(line.rstrip())
    return lines


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _heading_index(lines: list[str], heading: str) -> int:
    for i, line in enumerate(lines):
        if line.startswith(heading):
            return i
    raise SystemExit(f"heading {heading!r} not found")


def _unfold(physical: list[list[str]]) -> tuple[list[str], list[str]]:
    """Join each logical line's physical lines; return the lines and notes on what was joined."""
    out: list[str] = []
    notes: list[str] = []
    for parts in physical:
        text = parts[0]
        for cont in parts[1:]:
            if text.endswith("\\"):
                text = text[:-1] + cont
                how = "the trailing backslash dropped, nothing inserted"
            elif text.endswith(":"):
                text += cont
                how = "joined without a space (after ':')"
            else:
                text += " " + cont
                how = "joined with one space"
            notes.append(f"{text.split(' ')[0][:40]!r}: continuation {cont[:24]!r} {how}")
        out.append(text)
    return out, notes


def extract_block(lines: list[str], heading: str, nth: int, first: str = "v=0"
                  ) -> tuple[list[str], list[str], int]:
    """The ``nth`` SDP block after ``heading``: (unfolded lines, unfold notes, blank lines
    dropped)."""
    start = _heading_index(lines, heading) + 1
    found = 0
    i = start
    while i < len(lines):
        if lines[i].strip() == first or (first != "v=0" and lines[i].strip().startswith(first)):
            found += 1
            if found == nth:
                break
        i += 1
    else:
        raise SystemExit(f"block {nth} after {heading!r} not found")
    indent = _indent(lines[i])
    physical: list[list[str]] = []
    blanks = 0
    pending_blanks = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            pending_blanks += 1
            i += 1
            continue
        level = _indent(line)
        body = line[indent:]
        if level == indent and _SDP_LINE.match(body):
            blanks += pending_blanks if physical else 0
            pending_blanks = 0
            physical.append([body])
        elif level > indent and physical and not pending_blanks:
            physical[-1].append(line.strip())
        else:
            break
        i += 1
    out, notes = _unfold(physical)
    return out, notes, blanks


def extract_line(lines: list[str], heading: str, prefix: str, nth: int) -> tuple[str, list[str]]:
    """The ``nth`` line starting with ``prefix`` after ``heading`` with its continuations."""
    start = _heading_index(lines, heading) + 1
    found = 0
    for i in range(start, len(lines)):
        body = lines[i].lstrip(" ")
        if body.startswith(prefix):
            found += 1
            if found == nth:
                indent = _indent(lines[i])
                parts = [body[len("attr  "):] if prefix.startswith("attr  ") else body]
                j = i + 1
                # RFC 8839 §5.1 folds without extra indentation: a line at the same depth
                # continues when it starts with a letter or digit and is not an SDP line.
                while j < len(lines) and lines[j].strip() and (
                        _indent(lines[j]) > indent or (
                            _indent(lines[j]) == indent and lines[j].strip()[0].isalnum()
                            and not _SDP_LINE.match(lines[j].strip()))):
                    parts.append(lines[j].strip())
                    j += 1
                out, notes = _unfold([parts])
                return out[0], notes
    raise SystemExit(f"line {nth} {prefix!r} after {heading!r} not found")


# --- the naive reader for `expected` ----------------------------------------------------------


def _naive_candidate(value: str) -> dict[str, Any]:
    f = value.split()
    out: dict[str, Any] = {
        "foundation": f[0], "component": int(f[1]), "transport": f[2], "priority": int(f[3]),
        "address": f[4], "port": int(f[5]), "type": f[7],
        "related_address": None, "related_port": None,
    }
    rest = f[8:]
    for k, v in zip(rest[::2], rest[1::2], strict=True):
        if k == "raddr":
            out["related_address"] = v
        elif k == "rport":
            out["related_port"] = int(v)
    return out


def _naive_rid(value: str) -> dict[str, Any]:
    f = value.split(" ")
    pts: list[int] = []
    restrictions: dict[str, str | None] = {}
    if len(f) == 3:
        for part in f[2].split(";"):
            k, eq, v = part.partition("=")
            if k == "pt":
                pts = [int(p) for p in v.split(",")]
            else:
                restrictions[k] = v if eq else None
    return {"id": f[0], "direction": f[1], "payload_types": pts, "restrictions": restrictions}


def _naive_streams(text: str) -> list[list[str]]:
    return [alts.split(",") for alts in text.split(";")]


def _naive_simulcast(value: str) -> dict[str, list[list[str]]]:
    f = value.split(" ")
    out: dict[str, list[list[str]]] = {"send": [], "recv": []}
    for direction, streams in zip(f[::2], f[1::2], strict=True):
        out[direction] = _naive_streams(streams)
    return out


def naive_expected(lines: list[str]) -> dict[str, Any]:
    """What a reader sees in the text, by string splitting alone."""
    session: dict[str, Any] = {"origin": None, "session_name": None, "bundle_groups": [],
                               "ice_ufrag": None, "ice_pwd": None, "fingerprints": []}
    media: list[dict[str, Any]] = []
    current = session
    for line in lines:
        kind, value = line[0], line[2:]
        if kind == "m":
            f = value.split(" ")
            current = {"kind": f[0], "port": int(f[1]), "protocol": f[2], "formats": f[3:],
                       "mid": None, "direction": None, "codecs": {}, "fmtp": {},
                       "candidates": [], "rids": [], "simulcast": None, "ice_ufrag": None,
                       "ice_pwd": None, "fingerprints": [], "setup": None,
                       "extmaps": {}, "bundle_only": False, "rtcp_mux": False}
            media.append(current)
            continue
        if current is session:
            if kind == "o":
                session["origin"] = value
            elif kind == "s":
                session["session_name"] = value
        if kind != "a":
            continue
        name, colon, val = value.partition(":")
        if name == "group" and val.startswith("BUNDLE"):
            session["bundle_groups"].append(val.split(" ")[1:])
        elif name in ("ice-ufrag", "ice-pwd"):
            current[name.replace("-", "_")] = val
        elif name == "fingerprint":
            current["fingerprints"].append(val)
        elif current is session:
            continue
        elif name == "mid":
            current["mid"] = val
        elif name in ("sendrecv", "sendonly", "recvonly", "inactive") and not colon:
            current["direction"] = name
        elif name == "rtpmap":
            pt, _, codec = val.partition(" ")
            current["codecs"][pt] = codec
        elif name == "fmtp":
            pt, _, params = val.partition(" ")
            current["fmtp"][pt] = params
        elif name == "candidate":
            current["candidates"].append(_naive_candidate(val))
        elif name == "rid":
            current["rids"].append(_naive_rid(val))
        elif name == "simulcast":
            current["simulcast"] = _naive_simulcast(val)
        elif name == "setup":
            current["setup"] = val
        elif name == "extmap":
            ident, _, uri = val.partition(" ")
            current["extmaps"][ident] = uri.split(" ")[0]
        elif name in ("bundle-only", "rtcp-mux") and not colon:
            current[name.replace("-", "_")] = True
    return {"media_count": len(media), "session": session, "media": media}


def naive_attribute(line: str) -> dict[str, Any]:
    text = line[2:] if line.startswith("a=") else line
    name, _, val = text.partition(":")
    fields: dict[str, Any]
    if name == "candidate":
        fields = _naive_candidate(val)
    elif name == "rid":
        fields = _naive_rid(val)
    elif name == "ice-options":
        fields = {"options": val.split(" ")}
    elif name in ("ice-ufrag", "ice-pwd"):
        fields = {"value": val}
    else:
        raise SystemExit(f"no naive reader for a={name}")
    return {"name": name, "fields": fields}


# --- building the files -----------------------------------------------------------------------

#: What the checker must find for examples that do not parse, or attributes that do not
#: follow their grammar -- decided by reading the RFC, see each vector's notes.
PARSE_ERRORS = {
    ("8839", "appendix-a-offer-template"): "port",
    ("8839", "appendix-a-answer-template"): "port",
    ("8853", "redundancy-offer"): "v=0",
}
ATTRIBUTE_ERRORS = {"a=simulcast: send rid=0;1;5;6 recv rid=2": "simulcast"}

#: Notes written by hand for particular vectors.
EXTRA_NOTES = {
    ("8839", "appendix-a-offer-template"): "The RFC's template with $VARIABLE placeholders "
    "('m=audio $NAT-PUB-1.PORT RTP/AVP 0'): not a valid description; the parser must reject "
    "the m= line's port.",
    ("8839", "appendix-a-answer-template"): "The RFC's template with $VARIABLE placeholders: not "
    "a valid description; the parser must reject the m= line's port.",
    ("8853", "redundancy-offer"): "Figure 8 as printed starts at the o= line: the RFC omits "
    "'v=0', so the description must be rejected (RFC 8866 §5: the first line is v=0). Kept as "
    "printed rather than repaired.",
    ("8853", "multisource-offer"): "The RFC folds one a=fmtp line with a trailing backslash.",
    ("8851", "scalable-layers-simulcast"): "Written in the syntax of an early simulcast draft "
    "('a=simulcast: send rid=0;...'): it does not follow RFC 8853 §5.1 (no space after the "
    "colon, no 'rid=' prefix), so parsing the value must fail.",
    ("8851", "many-codecs-rids"): "The RFC's §11 examples are fragments ('...' lines, "
    "'a=extmap 1' without a colon, 'a=mid:v1 (max resolution)'), not descriptions; only the "
    "a=rid lines are kept. The fourth and fifth are the two 'a=rid:3 recv' lines of mids v2/v3.",
    ("9429", "trickle-candidates"): "The |offer-B1-candidate-1..3|, |answer-B1-candidate-1..3|, "
    "|offer-C1-candidate-1| and |answer-C1-candidate-1| 'attr' values, in that order, as "
    "trickled (RFC 8840 candidate-attribute form, without 'a=').",
}


#: The rule ids ``rtcstack.sdp.check`` must report for each vector, by severity.  Written by
#: reading each example: the JSEP examples (RFC 9429) are WebRTC descriptions and must pass
#: clean; the others are plain RTP/AVP examples without ICE or DTLS, which a WebRTC peer
#: rejects (no fingerprint, no ICE credentials, an unsecured profile), without a=setup (an
#: error only in an answer), mostly without mids and rtcp-mux (warnings).
_PLAIN_OFFER = {"errors": ["fingerprint", "ice-credentials", "protocol"],
                "warnings": ["mid-missing", "rtcp-mux", "setup"]}
_PLAIN_ANSWER = {"errors": ["fingerprint", "ice-credentials", "protocol", "setup"],
                 "warnings": ["mid-missing", "rtcp-mux"]}
_BUNDLE_OFFER = {"errors": ["fingerprint", "ice-credentials", "protocol"],
                 "warnings": ["setup"]}
_BUNDLE_ANSWER = {"errors": ["fingerprint", "ice-credentials", "protocol", "setup"],
                  "warnings": []}
CHECKS: dict[tuple[int, str], dict[str, list[str]]] = {
    **{(9429, s["name"]): {"errors": [], "warnings": []} for s in SPECS if s["rfc"] == 9429},
    (8866, "example"): _PLAIN_OFFER,
    (8866, "media-direction-example"): _PLAIN_OFFER,
    # ICE credentials at session level: only DTLS and the profile are missing.
    (8839, "sdp-example"): {"errors": ["fingerprint", "protocol"],
                            "warnings": ["mid-missing", "rtcp-mux", "setup"]},
    (8839, "appendix-a-offer"): {"errors": ["fingerprint", "protocol"],
                                 "warnings": ["mid-missing", "rtcp-mux", "setup"]},
    (8839, "appendix-a-answer"): {"errors": ["fingerprint", "protocol", "setup"],
                                  "warnings": ["mid-missing", "rtcp-mux"]},
    **{(9143, n): _BUNDLE_OFFER for n in ("initial-offer", "initial-offer-bundle-only",
                                          "rfc8843-offer", "tagged-offer", "group-rejected-offer",
                                          "add-offer", "move-offer", "disable-offer")},
    **{(9143, n): _BUNDLE_ANSWER for n in ("answer", "tagged-answer", "add-answer",
                                           "move-answer", "disable-answer")},
    # RFC 8843's answerer marks bundled sections bundle-only, which RFC 9143 §7.3 forbids.
    (9143, "rfc8843-answer"): {"errors": ["bundle-only", "fingerprint", "ice-credentials",
                                          "protocol", "setup"], "warnings": []},
    # The answerer rejected BUNDLE and wrote no mids.
    (9143, "group-rejected-answer"): {**_BUNDLE_ANSWER, "warnings": ["mid-missing"]},
    (8853, "single-source-offer"): _PLAIN_OFFER,
    (8853, "single-source-answer"): _PLAIN_ANSWER,
    (8853, "multisource-offer"): {"errors": ["fingerprint", "ice-credentials", "protocol"],
                                  "warnings": ["rtcp-mux", "setup"]},
    # Every port is 0: nothing is active, only the missing mids remain.
    (3264, "capabilities"): {"errors": [], "warnings": ["mid-missing"]},
    **{(3264, n): _PLAIN_OFFER for n in ("basic-offer", "basic-reoffer", "one-of-n-offer",
                                         "one-of-n-reoffer")},
    **{(3264, n): _PLAIN_ANSWER for n in ("basic-answer", "basic-reanswer", "one-of-n-answer",
                                          "one-of-n-reanswer")},
}


def _source(rfc: int, section: str) -> str:
    anchor = f"appendix-{section}" if section[0].isalpha() else f"section-{section}"
    return f"RFC {rfc} §{section}, https://www.rfc-editor.org/rfc/rfc{rfc}#{anchor}"


def build_description(spec: dict[str, Any], rfcs: Path) -> dict[str, Any]:
    lines = rfc_lines(rfcs / f"rfc{spec['rfc']}.txt")
    text, unfolded, blanks = extract_block(lines, spec["heading"], spec["nth"],
                                           spec.get("first", "v=0"))
    key = (str(spec["rfc"]), spec["name"])
    notes = [f"Block {spec['nth']} after the heading {spec['heading']!r}, copied by "
             "rfc-vectors/extract_sdp.py with the RFC's indentation removed."]
    if blanks:
        notes.append(f"{blanks} blank line(s) the RFC puts between sections for readability "
                     "were dropped (RFC 8866 §5 has no blank lines).")
    if unfolded:
        notes.append("Folded lines were unfolded: " + "; ".join(dict.fromkeys(unfolded)) + ".")
    if key in EXTRA_NOTES:
        notes.append(EXTRA_NOTES[key])
    notes.append("Otherwise the text is the RFC's byte for byte; every line ends with CRLF.")
    expected: dict[str, Any]
    if key in PARSE_ERRORS:
        expected = {"parse_error": PARSE_ERRORS[key]}
    else:
        expected = naive_expected(text)
        expected["check"] = CHECKS[(spec["rfc"], spec["name"])]
    doc: dict[str, Any] = {
        "schema": SCHEMA, "rfc": spec["rfc"], "section": spec["section"], "title": spec["title"],
        "layer": "sdp", "kind": "sdp-description", "source": _source(spec["rfc"], spec["section"]),
        "line_ending": "crlf", "text": text,
    }
    if spec.get("role"):
        doc["inputs"] = {"role": spec["role"]}
    doc["expected"] = expected
    doc["notes"] = " ".join(notes)
    return doc


def build_attributes(spec: dict[str, Any], rfcs: Path) -> dict[str, Any]:
    lines = rfc_lines(rfcs / f"rfc{spec['rfc']}.txt")
    text: list[str] = []
    unfolded: list[str] = []
    attrs: list[dict[str, Any]] = []
    for heading, prefix, nth in spec["lines"]:
        line, notes = extract_line(lines, heading, prefix, nth)
        text.append(line)
        unfolded += notes
        if line in ATTRIBUTE_ERRORS:
            name = line[2:].partition(":")[0]
            attrs.append({"name": name, "parse_error": ATTRIBUTE_ERRORS[line]})
        else:
            attrs.append(naive_attribute(line))
    notes_text = ["Copied by rfc-vectors/extract_sdp.py, indentation removed."]
    if unfolded:
        notes_text.append("Folded lines were unfolded: "
                          + "; ".join(dict.fromkeys(unfolded)) + ".")
    extra = EXTRA_NOTES.get((str(spec["rfc"]), spec["name"]))
    if extra:
        notes_text.append(extra)
    return {
        "schema": SCHEMA, "rfc": spec["rfc"], "section": spec["section"], "title": spec["title"],
        "layer": "sdp", "kind": "sdp-attribute", "source": _source(spec["rfc"], spec["section"]),
        "line_ending": "crlf", "text": text, "expected": {"attributes": attrs},
        "notes": " ".join(notes_text),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="only these vector names")
    parser.add_argument("--rfcs", type=Path,
                        default=Path(os.environ.get("RFC_DIR", "/work/shared/rfcs")))
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    docs = [build_description(s, args.rfcs) for s in SPECS]
    docs += [build_attributes(s, args.rfcs) for s in ATTRIBUTE_SPECS]
    names = [s["name"] for s in SPECS] + [s["name"] for s in ATTRIBUTE_SPECS]
    status = 0
    for name, doc in zip(names, docs, strict=True):
        if args.names and name not in args.names:
            continue
        path = HERE / f"rfc{doc['rfc']}" / f"{name}.json"
        text = json.dumps(doc, indent=2, ensure_ascii=True) + "\n"
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                print(f"differs: {path}")
                status = 1
            continue
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(HERE)} ({len(doc['text'])} lines)")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
