"""``rtcstack sdp show|check FILE|-``: read a session description (RFC 8866).

- ``show`` prints a readable summary: each media section with kind, mid, port, protocol and
  direction; codecs with payload type and fmtp; header extensions; candidates; ICE credentials,
  fingerprint and DTLS setup role; BUNDLE groups; rids and simulcast; SCTP.  ``--json`` prints
  the full typed model (``SessionDescription.describe()``).
- ``check`` prints ``line N: error: ...`` for each problem that
  :func:`rtcstack.sdp.check.check_description` finds (``--role offer|answer`` enables the
  role-specific rules).

Exit status: 0 fine (warnings alone are fine), 1 at least one error, 2 the text is not a session
description at all (the parse error is printed with its line) or the file cannot be read.
LF-only input is accepted; both commands say that it was normalised.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_UNPARSEABLE = 2


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="show|check")
    show = sub.add_parser("show", help="print a readable summary of the description")
    show.add_argument("file", metavar="FILE|-", help="the SDP text, or '-' for stdin")
    show.add_argument("--json", action="store_true", help="print the full typed model")
    check = sub.add_parser("check", help="report what a WebRTC peer would reject")
    check.add_argument("file", metavar="FILE|-", help="the SDP text, or '-' for stdin")
    check.add_argument("--role", choices=("offer", "answer"),
                       help="check the rules that depend on the description's role")
    check.add_argument("--json", action="store_true", help="print the problems as JSON")


def _read(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    with open(name, encoding="utf-8", newline="") as handle:
        return handle.read()


def run(args: argparse.Namespace) -> int:
    from rtcstack.sdp import SdpParseError, SessionDescription

    try:
        text = _read(args.file)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"rtcstack sdp: cannot read {args.file}: {exc}", file=sys.stderr)
        return EXIT_UNPARSEABLE
    try:
        desc = SessionDescription.parse(text)
    except SdpParseError as exc:
        print(f"rtcstack sdp: not a session description: {exc}", file=sys.stderr)
        return EXIT_UNPARSEABLE
    for note in desc.normalised:
        print(f"note: input normalised: {note}", file=sys.stderr)
    if args.action == "show":
        if args.json:
            print(json.dumps(desc.describe(), indent=2, ensure_ascii=False))
        else:
            print("\n".join(summary(desc)))
        return EXIT_OK
    return _check(desc, args)


def _check(desc: Any, args: argparse.Namespace) -> int:
    from rtcstack.sdp.check import check_description

    problems = check_description(desc, role=args.role)
    errors = sum(p.severity == "error" for p in problems)
    if args.json:
        print(json.dumps({
            "problems": [{"line": p.line, "severity": p.severity, "rule": p.rule,
                          "message": p.message} for p in problems],
            "errors": errors, "warnings": len(problems) - errors,
            "normalised": list(desc.normalised),
        }, indent=2, ensure_ascii=False))
    else:
        for problem in problems:
            print(problem)
        print(f"{errors} error(s), {len(problems) - errors} warning(s)"
              if problems else "no problems found")
    return EXIT_PROBLEMS if errors else EXIT_OK


# --- the readable summary -------------------------------------------------------------------


def _safe(read: Any, default: Any = None) -> Any:
    """A typed read that may hit a malformed line: the summary shows what it can."""
    from rtcstack.sdp import SdpParseError

    try:
        return read()
    except SdpParseError:
        return default


def summary(desc: Any) -> list[str]:
    """The lines ``rtcstack sdp show`` prints."""
    from rtcstack.sdp import Candidate, ExtMap, Fingerprint, Rid, Simulcast

    out: list[str] = []
    origin = _safe(lambda: desc.origin)
    out.append(f"session: {desc.session_name!r}"
               + (f", origin {origin.username} {origin.session_id} v{origin.session_version}"
                  if origin is not None else ""))
    groups = _safe(lambda: desc.groups, [])
    for group in groups:
        out.append(f"  group {group.semantics}: {' '.join(group.mids)}")
    if desc.ice_lite:
        out.append("  ice-lite")
    _transport(out, desc.session, "  ", Fingerprint)
    errors = desc.parse_errors()
    if errors:
        out.append(f"  {len(errors)} malformed line(s); run 'rtcstack sdp check'")
    for index, media in enumerate(desc.media):
        state = "rejected" if media.rejected else desc.direction_for(media)
        if media.rejected and media.bundle_only:
            state = "bundle-only"
        out.append(f"m-section {index}: {media.kind} mid={media.mid or '-'} port={media.port} "
                   f"{media.protocol} {state}")
        line = media.lines[0]
        fmtps = _safe(lambda m=media: m.fmtps, {})
        rtpmaps = _safe(lambda m=media: m.rtpmaps, {})
        if media.media.is_rtp:
            for fmt in media.formats:
                pt = int(fmt) if fmt.isdigit() else -1
                codec = rtpmaps.get(pt)
                name = (f"{codec.encoding}/{codec.clock_rate}"
                        + (f"/{codec.channels}" if codec.channels else "")) if codec else "?"
                fmtp = fmtps.get(pt)
                out.append(f"  codec {fmt} {name}" + (f"  {fmtp.parameters}" if fmtp else ""))
        elif media.formats:
            out.append(f"  formats: {' '.join(media.formats)} ({line[2:]})"[:100])
        for ext in _safe(lambda m=media: m.get(ExtMap), []):
            out.append(f"  extmap {ext.id}{'/' + ext.direction if ext.direction else ''} "
                       f"{ext.uri}")
        _transport(out, media, "  ", Fingerprint)
        for cand in _safe(lambda m=media: m.get(Candidate), []):
            related = (f" from {cand.related_address}:{cand.related_port}"
                       if cand.related_address is not None else "")
            out.append(f"  candidate {cand.type} {_hostport(cand.address, cand.port)} "
                       f"{cand.transport.lower()} component {cand.component}{related}")
        if media.end_of_candidates:
            out.append("  end-of-candidates")
        for rid in _safe(lambda m=media: m.get(Rid), []):
            out.append(f"  rid {rid.serialize()}")
        simulcast = _safe(lambda m=media: m.first(Simulcast))
        if simulcast is not None:
            out.append(f"  simulcast {simulcast.serialize()}")
        if media.media.is_sctp:
            port = media.attribute("sctp-port")
            size = media.attribute("max-message-size")
            out.append(f"  sctp-port {port or '-'}, max-message-size {size or '- (64 KiB)'}")
        flags = [f for f in ("rtcp-mux", "rtcp-mux-only", "rtcp-rsize", "bundle-only")
                 if media.has(f)]
        if flags:
            out.append(f"  {' '.join(flags)}")
    return out


def _transport(out: list[str], section: Any, pad: str, fingerprint_cls: Any) -> None:
    ufrag, pwd = section.attribute("ice-ufrag"), section.attribute("ice-pwd")
    if ufrag is not None or pwd is not None:
        out.append(f"{pad}ice ufrag {ufrag or '-'} pwd {pwd or '-'}")
    options = section.attribute("ice-options")
    if options:
        out.append(f"{pad}ice-options {options}")
    for fp in _safe(lambda: section.get(fingerprint_cls), []):
        out.append(f"{pad}fingerprint {fp.algorithm} {fp.value}")
    setup = section.attribute("setup")
    if setup is not None:
        out.append(f"{pad}setup {setup}")


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
