"""The import rules of STYLE.md ("Allowed imports") and docs/architecture.md, checked with ``ast``.

1. The sans-IO core never imports ``asyncio``, ``socket``, ``time``, ``random`` or ``threading``
   (nor their submodules), in any form: ``import x``, ``import x.y``, ``from x import y``,
   ``from x.y import z``, or ``importlib.import_module("x")`` with a literal name.
2. A part of rtcstack imports only the parts the table below allows.
3. The core depends on the standard library and ``cryptography`` only (pyproject.toml), plus
   ``google_crc32c`` in ``sctp`` (SCTP's CRC32c in C); the codec
   libraries (``av``, ``opuslib``, ``numpy``) are imported by ``media`` alone.
4. ``import rtcstack.stun`` in a fresh interpreter loads no codec library and no asyncio.

Imports under ``if TYPE_CHECKING:`` count too: the picture must stay true for readers as well.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "rtcstack"

# --- the rule table -------------------------------------------------------------------------
# A "part" is a subpackage of rtcstack (``stun``), a top-level module (``demux``), or ``root``
# (rtcstack/__init__.py, which re-exports common's errors: importing ``rtcstack`` itself counts
# as importing ``common``).  ALLOWED[part] lists the other parts it may import; a part may always
# import itself.  A new part must be added here before its first import is accepted.

LAYERS = ("stun", "ice", "dtls", "srtp", "rtp", "sdp", "sctp")
EVERYTHING = frozenset({"common", "demux", "vectors", *LAYERS, "peer", "media", "asyncio", "demo",
                        "cli"})

ALLOWED: dict[str, frozenset[str]] = {
    "root": frozenset({"common"}),
    "common": frozenset(),                            # common imports nothing else
    "demux": frozenset({"common"}),
    "vectors": frozenset({"common"}),                 # the RFC vector loader
    **{layer: frozenset({"common"}) for layer in LAYERS},  # every layer may import common
    "ice": frozenset({"common", "stun", "sdp"}),      # stun, sdp (candidate grammar) <- ice
    "peer": frozenset({"common", "demux", *LAYERS}),  # layers <- peer: the only place they meet
    "media": frozenset({"common", "rtp"}),
    "asyncio": EVERYTHING - {"demo"},                 # everything <- asyncio, cli
    "demo": frozenset({"common", "asyncio"}),         # the browser demo: an application of asyncio
    "cli": EVERYTHING,
}

# The sans-IO core: time arrives as ``now=``, randomness as an injected ``random_bytes``.
CORE = frozenset({"root", "common", "demux", "vectors", *LAYERS, "peer"})
FORBIDDEN_IN_CORE = frozenset({"asyncio", "socket", "time", "random", "threading"})

# Third-party distributions each part may import (everything else: stdlib and rtcstack only).
CORE_THIRD_PARTY = frozenset({"cryptography"})
THIRD_PARTY_EXTRA: dict[str, frozenset[str]] = {
    "srtp": frozenset({"pylibsrtp"}),  # the optional libsrtp backend (extra "libsrtp")
    # SCTP's CRC32c (RFC 9260 §6.8) in C: the google-crc32c distribution, imported as
    # google_crc32c (the names here are import names, compared with the top-level module).
    "sctp": frozenset({"google_crc32c"}),
    "media": frozenset({"av", "opuslib", "numpy"}),
}
CODEC_LIBRARIES = frozenset({"av", "opuslib", "numpy"})

assert set(ALLOWED) == {"root"} | EVERYTHING, "the rule table names every part exactly once"


# --- the checker ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name
    line: int


def part_of(rel_path: str) -> str:
    """``stun/message.py`` -> ``stun``; ``demux.py`` -> ``demux``; ``__init__.py`` -> ``root``."""
    parts = Path(rel_path).parts
    if len(parts) == 1:
        return "root" if parts[0] == "__init__.py" else parts[0].removesuffix(".py")
    return parts[0]


def module_name(rel_path: str) -> str:
    parts = list(Path(rel_path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["rtcstack", *parts])


def imports_of(source: str, rel_path: str) -> list[Import]:
    """Every module ``source`` imports, as absolute names (relative imports resolved)."""
    tree = ast.parse(source, filename=rel_path)
    is_package = Path(rel_path).name == "__init__.py"
    package = module_name(rel_path).split(".")
    if not is_package:
        package.pop()
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append(Import(target, node.lineno))
            # ``from rtcstack import stun`` / ``from . import ice`` name submodules.
            found.extend(Import(f"{target}.{alias.name}", node.lineno) for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(Import(node.args[0].value, node.lineno))
    return found


def _target_part(module: str) -> str | None:
    """The rtcstack part an absolute module name belongs to, or None outside rtcstack."""
    names = module.split(".")
    if names[0] != "rtcstack":
        return None
    if len(names) == 1:
        return "common"  # rtcstack/__init__.py re-exports common's errors
    name = names[1]
    if name not in EVERYTHING and not (
        (PACKAGE_DIR / name).is_dir() or (PACKAGE_DIR / f"{name}.py").is_file()
    ):
        return "common"  # a name re-exported by the root: ``from rtcstack import ParseError``
    return name


def check_module(rel_path: str, source: str) -> list[str]:
    """Violations of the rules in one module (``rel_path`` relative to rtcstack/)."""
    part = part_of(rel_path)
    where = f"rtcstack/{rel_path}"
    if part not in ALLOWED:
        return [f"{where}: part {part!r} is not in the rule table of tests/test_architecture.py"]
    problems: list[str] = []
    allowed_third_party = THIRD_PARTY_EXTRA.get(part, frozenset())
    if part in CORE:
        allowed_third_party = allowed_third_party | CORE_THIRD_PARTY
    seen: set[tuple[int, str]] = set()
    for imp in imports_of(source, rel_path):
        top = imp.module.split(".")[0]
        target = _target_part(imp.module)
        key = (imp.line, target or top)  # ``from x import y`` yields x and x.y: report once
        if key in seen:
            continue
        seen.add(key)
        if target is not None:
            if target != part and target not in ALLOWED[part]:
                problems.append(
                    f"{where}:{imp.line}: {part} may not import {target} ({imp.module})"
                )
        elif part in CORE and top in FORBIDDEN_IN_CORE:
            problems.append(
                f"{where}:{imp.line}: the sans-IO core may not import {imp.module}"
                " (time arrives as now=, randomness as random_bytes)"
            )
        elif top in CODEC_LIBRARIES and part != "media":
            problems.append(f"{where}:{imp.line}: only media may import {top}")
        elif (
            part in CORE
            and top not in sys.stdlib_module_names
            and top not in allowed_third_party
            and top != "__future__"
        ):
            problems.append(
                f"{where}:{imp.line}: {part} may import only the standard library and "
                f"{', '.join(sorted(allowed_third_party))}, not {top}"
            )
    return problems


def _modules() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


# --- the tests ------------------------------------------------------------------------------


def test_the_package_is_found() -> None:
    rel = {p.relative_to(PACKAGE_DIR).as_posix() for p in _modules()}
    assert {"__init__.py", "demux.py", "common/errors.py", "stun/message.py"} <= rel


@pytest.mark.parametrize(
    "path", _modules(), ids=lambda p: p.relative_to(PACKAGE_DIR).as_posix()
)
def test_module_follows_the_import_rules(path: Path) -> None:
    rel = path.relative_to(PACKAGE_DIR).as_posix()
    assert check_module(rel, path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("rel_path", "source", "expected"),
    [
        ("stun/message.py", "import asyncio", "may not import asyncio"),
        ("stun/message.py", "import asyncio.events", "may not import asyncio.events"),
        ("common/buffer.py", "from time import monotonic", "may not import time"),
        ("demux.py", "import socket", "may not import socket"),
        ("vectors.py", "from random import randbytes", "may not import random"),
        ("ice/agent.py", "import threading as t", "may not import threading"),
        ("__init__.py", "import time", "may not import time"),
        ("peer/pc.py", "importlib.import_module('asyncio')", "may not import asyncio"),
        ("stun/message.py", "from rtcstack.ice import agent", "stun may not import ice"),
        ("stun/message.py", "from ..ice.agent import Agent", "stun may not import ice"),
        ("stun/client.py", "from rtcstack import peer", "stun may not import peer"),
        ("stun/client.py", "import rtcstack.asyncio.stun", "stun may not import asyncio"),
        ("common/types.py", "from rtcstack.stun import Message", "common may not import stun"),
        ("common/types.py", "from rtcstack import demux", "common may not import demux"),
        ("dtls/record.py", "from rtcstack.srtp import keys", "dtls may not import srtp"),
        ("ice/agent.py", "from rtcstack.cli import main", "ice may not import cli"),
        ("media/track.py", "from rtcstack.stun import Message", "media may not import stun"),
        ("media/track.py", "from rtcstack.peer import x", "media may not import peer"),
        ("rtp/packet.py", "import numpy", "only media may import numpy"),
        ("cli/decode.py", "import av", "only media may import av"),
        ("stun/message.py", "import requests", "not requests"),
        ("stun/message.py", "import google_crc32c", "not google_crc32c"),
        ("stun/message.py", "if TYPE_CHECKING:\n    import asyncio\n", "may not import asyncio"),
        ("newlayer/x.py", "import os", "not in the rule table"),
    ],
)
def test_the_checker_catches_violations(rel_path: str, source: str, expected: str) -> None:
    problems = check_module(rel_path, source)
    assert len(problems) == 1, problems
    assert expected in problems[0]


@pytest.mark.parametrize(
    ("rel_path", "source"),
    [
        ("stun/message.py", "from rtcstack.common.buffer import Reader"),
        ("stun/message.py", "from rtcstack import ParseError"),
        ("stun/message.py", "from . import attributes\nfrom .attributes import Username"),
        ("stun/message.py", "import hmac, zlib, struct, os, hashlib, logging"),
        ("stun/message.py", "from cryptography.hazmat.primitives import hashes"),
        ("stun/message.py", "import timeit  # not the time module"),
        ("ice/agent.py", "from rtcstack.stun import Message\nfrom ..stun.client import C"),
        ("peer/pc.py", "from rtcstack import demux, ice, dtls, srtp, rtp, sdp, sctp"),
        ("media/track.py", "import av, numpy\nfrom rtcstack.rtp import packet"),
        ("asyncio/stun.py", "import asyncio, socket, time\nfrom rtcstack.peer import pc"),
        ("cli/main.py", "import random\nfrom rtcstack.asyncio import stun"),
        ("srtp/libsrtp.py", "import pylibsrtp"),
        ("sctp/crc32c.py", "from google_crc32c import value"),
    ],
)
def test_the_checker_accepts_allowed_imports(rel_path: str, source: str) -> None:
    assert check_module(rel_path, source) == []


def test_relative_imports_resolve() -> None:
    source = "from ..common import buffer\nfrom . import x"
    got = [i.module for i in imports_of(source, "stun/m.py")]
    assert got == ["rtcstack.common", "rtcstack.common.buffer", "rtcstack.stun", "rtcstack.stun.x"]
    got = [i.module for i in imports_of("from .attributes import A", "stun/__init__.py")]
    assert got == ["rtcstack.stun.attributes", "rtcstack.stun.attributes.A"]


def test_import_rtcstack_stun_loads_no_codec_and_no_asyncio() -> None:
    """STYLE.md rule 9: ``import rtcstack.stun`` loads no codec library (and no event loop)."""
    code = (
        "import sys, json\n"
        "import rtcstack.stun\n"
        "print(json.dumps(sorted(m for m in ('av', 'numpy', 'opuslib', 'asyncio') "
        "if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60, check=False, cwd=PACKAGE_DIR.parent,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
