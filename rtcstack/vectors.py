"""RFC test vectors as data: the loader for ``rfc-vectors/rfcNNNN/<name>.json``.

Vectors name their source (STYLE.md rule 6): each file carries the RFC number, section, title,
the hex dump copied from the RFC as lines (``hex``) -- or, for text protocols such as SDP, the
text lines (``text`` with ``line_ending``) -- the inputs (passwords, keys) and the expected fields.
``rfc-vectors/README.md`` describes the format.  This module only reads and validates files; the
checks against the implementation live in :mod:`rtcstack.cli.vectors` (``rtcstack vectors``) and
in the tests.  It imports nothing from the protocol layers.

The directory is ``$RTCSTACK_VECTORS`` when set, else ``rfc-vectors/`` next to the ``rtcstack``
package in a source checkout.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA",
    "Vector",
    "VectorError",
    "all_vectors",
    "load",
    "load_file",
    "vectors_dir",
]

SCHEMA = "rtcstack-vector/1"
ENV_VAR = "RTCSTACK_VECTORS"

_HEX_ROW = re.compile(r"^[0-9a-fA-F]{2}( [0-9a-fA-F]{2})*$")
#: ``line_ending`` values of text vectors and what each appends to every line.
LINE_ENDINGS = {"crlf": "\r\n", "lf": "\n"}
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema": str,
    "rfc": int,
    "section": str,
    "title": str,
    "layer": str,
    "kind": str,
    "source": str,
}


class VectorError(ValueError):
    """A vector file that cannot be read or does not follow the format; names the file."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True, slots=True, eq=False)
class Vector:
    """One test vector file.

    ``data`` is the ``hex`` lines joined into bytes; ``inputs`` and ``expected`` are the JSON
    objects as written; ``cases`` holds the entries of multi-case files (such as RFC 2202's
    HMAC test cases), empty otherwise.  A text vector has ``text_lines`` (each line without its
    ending) and ``line_ending`` instead of hex; its ``data`` is the text encoded as UTF-8 and
    :attr:`text` the text with every line ended.
    """

    path: Path
    rfc: int
    section: str
    title: str
    layer: str
    kind: str
    data: bytes
    inputs: Mapping[str, Any] = field(default_factory=dict)
    expected: Mapping[str, Any] = field(default_factory=dict)
    notes: str = ""
    source: str = ""
    hex_lines: tuple[str, ...] = ()
    cases: tuple[Mapping[str, Any], ...] = ()
    text_lines: tuple[str, ...] = ()
    line_ending: str = ""

    @property
    def is_text(self) -> bool:
        return bool(self.line_ending)

    @property
    def text(self) -> str:
        """The text lines, each followed by the vector's line ending (``""`` for hex vectors)."""
        end = LINE_ENDINGS.get(self.line_ending, "")
        return "".join(line + end for line in self.text_lines)

    @property
    def name(self) -> str:
        """The file name without ``.json``: what :func:`load` takes."""
        return self.path.stem

    @property
    def label(self) -> str:
        """``RFC 5769 §2.1`` (``Appendix`` sections keep their letter: ``RFC 8489 §B.1``)."""
        return f"RFC {self.rfc} §{self.section}"


def vectors_dir() -> Path:
    """The ``rfc-vectors`` directory: ``$RTCSTACK_VECTORS`` or the one beside the package."""
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env)
        if not path.is_dir():
            raise FileNotFoundError(f"{ENV_VAR}={env} is not a directory")
        return path
    path = Path(__file__).resolve().parent.parent / "rfc-vectors"
    if not path.is_dir():
        raise FileNotFoundError(
            f"no rfc-vectors directory at {path} (it ships with a source checkout of rtcstack;"
            f" set {ENV_VAR} to point elsewhere)"
        )
    return path


def _hex_bytes(path: Path, rows: Sequence[object]) -> tuple[bytes, tuple[str, ...]]:
    lines: list[str] = []
    for index, row in enumerate(rows):
        if not isinstance(row, str) or not _HEX_ROW.match(row.strip()):
            raise VectorError(
                path, f"hex[{index}] is {row!r}, expected byte pairs like '00 01 00 58'"
            )
        lines.append(row.strip())
    return bytes.fromhex(" ".join(lines)), tuple(lines)


def load_file(path: Path | str) -> Vector:
    """Read and validate one vector file; :class:`VectorError` names the file on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VectorError(path, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise VectorError(path, f"not UTF-8 ({exc.reason})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VectorError(
            path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(doc, dict):
        raise VectorError(path, f"top level is {type(doc).__name__}, expected an object")
    for key, kind in _REQUIRED.items():
        if key not in doc:
            raise VectorError(path, f"missing field {key!r}")
        value = doc[key]
        # bool is an int subclass: "rfc": true is not an RFC number.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise VectorError(path, f"field {key!r} is {value!r}, expected {_type_name(kind)}")
    if doc["schema"] != SCHEMA:
        raise VectorError(path, f"schema is {doc['schema']!r}, expected {SCHEMA!r}")
    for key in ("inputs", "expected"):
        if not isinstance(doc.get(key, {}), dict):
            raise VectorError(path, f"field {key!r} must be an object")
    cases = doc.get("cases", [])
    if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
        raise VectorError(path, "field 'cases' must be a list of objects")
    notes = doc.get("notes", "")
    if not isinstance(notes, str):
        raise VectorError(path, "field 'notes' must be a string")
    text_lines: tuple[str, ...] = ()
    line_ending = ""
    if ("hex" in doc) == ("text" in doc):
        raise VectorError(path, "needs exactly one of 'hex' (bytes) and 'text' (text lines)")
    if "hex" in doc:
        if not isinstance(doc["hex"], list):
            raise VectorError(path, f"field 'hex' is {doc['hex']!r}, expected a list")
        data, lines = _hex_bytes(path, doc["hex"])
    else:
        text_lines, line_ending = _text_lines(path, doc)
        end = LINE_ENDINGS[line_ending]
        data, lines = "".join(t + end for t in text_lines).encode("utf-8"), ()
    return Vector(
        path=path,
        rfc=doc["rfc"],
        section=doc["section"],
        title=doc["title"],
        layer=doc["layer"],
        kind=doc["kind"],
        data=data,
        inputs=doc.get("inputs", {}),
        expected=doc.get("expected", {}),
        notes=notes,
        source=doc["source"],
        hex_lines=lines,
        cases=tuple(cases),
        text_lines=text_lines,
        line_ending=line_ending,
    )


def _text_lines(path: Path, doc: Mapping[str, Any]) -> tuple[tuple[str, ...], str]:
    rows = doc["text"]
    if not isinstance(rows, list) or not rows:
        raise VectorError(path, "field 'text' must be a non-empty list of lines")
    for index, row in enumerate(rows):
        if not isinstance(row, str) or "\r" in row or "\n" in row:
            raise VectorError(path, f"text[{index}] is {row!r}, expected one line without CR/LF")
    ending = doc.get("line_ending")
    if ending not in LINE_ENDINGS:
        raise VectorError(
            path, f"field 'line_ending' is {ending!r}, expected one of {sorted(LINE_ENDINGS)}"
        )
    return tuple(rows), str(ending)


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", list: "a list", dict: "an object"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def load(rfc: int, name: str, directory: Path | None = None) -> Vector:
    """``load(5769, "sample-request")`` reads ``rfc-vectors/rfc5769/sample-request.json``."""
    base = directory if directory is not None else vectors_dir()
    path = base / f"rfc{rfc}" / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no vector {name!r} for RFC {rfc} (looked for {path})")
    vector = load_file(path)
    if vector.rfc != rfc:
        raise VectorError(path, f"file is under rfc{rfc}/ but says rfc {vector.rfc}")
    return vector


def all_vectors(directory: Path | None = None, *, layer: str | None = None) -> list[Vector]:
    """Every vector, sorted by RFC, section and file name; optionally only one ``layer``."""
    base = directory if directory is not None else vectors_dir()
    paths = base.glob("rfc*/*.json")
    vectors = sorted(
        (load_file(p) for p in paths),
        key=lambda v: (v.rfc, _section_key(v.section), v.name),
    )
    for v in vectors:
        if f"rfc{v.rfc}" != v.path.parent.name:
            raise VectorError(v.path, f"file is under {v.path.parent.name}/ but says rfc {v.rfc}")
    if layer is not None:
        vectors = [v for v in vectors if v.layer == layer]
    return vectors


def _section_key(section: str) -> tuple[tuple[int, int | str], ...]:
    """Sort "2.10" after "2.9" and numbered sections before appendix letters."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in section.split("."))
