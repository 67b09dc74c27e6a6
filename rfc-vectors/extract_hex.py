"""Print the hex dump lines of one section of an RFC text file as a JSON array.

Usage: python rfc-vectors/extract_hex.py RFC.txt "START OF HEADING" ["START OF NEXT HEADING"]

RFC test vectors are printed as rows of four space-separated byte pairs followed by comments
(``00 01 00 58     Request type and message length``).  This keeps the byte columns of every
such row between the two headings and drops the comments, page headers and footers, so that
the ``hex`` array of a vector file is copied from the RFC rather than retyped.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

_ROW = re.compile(r"^\s+((?:[0-9a-fA-F]{2} ){0,15}[0-9a-fA-F]{2})(?:\s{2,}|\s*$)")


def extract(text: str, start: str, end: str | None = None) -> list[str]:
    """The byte rows between the line starting with ``start`` and the one starting with ``end``."""
    rows: list[str] = []
    inside = False
    for line in text.splitlines():
        if not inside:
            inside = line.startswith(start)
            continue
        if end is not None and line.startswith(end):
            break
        match = _ROW.match(line)
        if match:
            rows.append(match.group(1).lower())
    if not inside:
        raise SystemExit(f"heading {start!r} not found")
    return rows


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    text = Path(argv[0]).read_text(encoding="utf-8")
    rows = extract(text, argv[1], argv[2] if len(argv) == 3 else None)
    print(json.dumps(rows, indent=1))
    print(f"{len(rows)} rows, {sum(len(r.split()) for r in rows)} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
