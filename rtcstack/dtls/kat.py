"""Checker for the TLS 1.2 key schedule vectors (kind ``tls12-prf``) in ``rfc-vectors/rfc5246``,
``rfc7627`` and ``rfc5705``; ``rtcstack vectors`` registers :data:`CHECKERS`.

Each case is one PRF call (RFC 5246 §5): ``hash``, ``secret``, ``label`` (ASCII), ``seed`` (hex,
what follows the label), ``length`` and ``output``.  The checker computes :func:`prf` over those,
then calls the key schedule function named by ``function`` with the case's ``inputs`` (so the
seed that function builds is checked too):

- ``prf``: RFC 5246 §5 alone;
- ``master_secret``: RFC 5246 §8.1 (``client_random``, ``server_random``);
- ``extended_master_secret``: RFC 7627 §4 (``session_hash``);
- ``key_block``: RFC 5246 §6.3 (``suite`` by CipherSuite name, randoms): the four fields joined;
- ``verify_data``: RFC 5246 §7.4.9 (``handshake_hash``; the label is the Finished label);
- ``exporter``: RFC 5705 §4 (randoms, ``context`` hex or null);
- ``dtls_srtp``: RFC 5764 §4.2 (randoms, ``key_length``, ``salt_length``): the four parts
  joined.

Only ``inputs``/``cases`` of the vector are read, so this module imports nothing outside the
layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rtcstack.dtls.constants import CipherSuite
from rtcstack.dtls.keys import (
    export_keying_material,
    extended_master_secret,
    key_block,
    master_secret,
    prf,
    srtp_keying_material,
    verify_data,
)

__all__ = ["CHECKERS", "check_tls12_prf"]


def _h(value: str) -> bytes:
    return bytes.fromhex(value.replace(" ", "").replace(":", ""))


def _via(function: str, case: Mapping[str, Any]) -> bytes:
    """The output of the key schedule function ``function`` for the case."""
    h, secret, inputs = case["hash"], _h(case["secret"]), case.get("inputs", {})
    label = case["label"]
    if function == "prf":
        return prf(h, secret, label.encode("ascii"), _h(case["seed"]), case["length"])
    cr = _h(inputs.get("client_random", ""))
    sr = _h(inputs.get("server_random", ""))
    if function == "master_secret":
        return master_secret(h, secret, cr, sr)
    if function == "extended_master_secret":
        return extended_master_secret(h, secret, _h(inputs["session_hash"]))
    if function == "key_block":
        kb = key_block(CipherSuite[inputs["suite"]], secret, cr, sr)
        return kb.client_write_key + kb.server_write_key + kb.client_write_iv + kb.server_write_iv
    if function == "verify_data":
        return verify_data(h, secret, label, _h(inputs["handshake_hash"]))
    if function == "exporter":
        context = inputs.get("context")
        return export_keying_material(h, secret, label, cr, sr, case["length"],
                                      None if context is None else _h(context))
    if function == "dtls_srtp":
        m = srtp_keying_material(h, secret, cr, sr, inputs["key_length"], inputs["salt_length"])
        return m.client_key + m.server_key + m.client_salt + m.server_salt
    raise ValueError(f"unknown function {function!r}")


def check_tls12_prf(vector: Any) -> list[str]:
    """Kind ``tls12-prf``: every case through :func:`prf` and through its ``function``."""
    problems: list[str] = []
    if not vector.cases:
        return ["no cases"]
    for case in vector.cases:
        name = case.get("name", "?")
        want = _h(case["output"])
        if len(want) != case["length"]:
            problems.append(f"{name}: output is {len(want)} bytes, length says {case['length']}")
        got = prf(case["hash"], _h(case["secret"]), case["label"].encode("ascii"),
                  _h(case["seed"]), case["length"])
        if got != want:
            problems.append(f"{name}: prf gives {got.hex()}, expected {want.hex()}")
        function = case.get("function", "prf")
        try:
            via = _via(function, case)
        except (KeyError, ValueError) as exc:
            problems.append(f"{name}: {function} raises {exc!r}")
            continue
        if via != want:
            problems.append(f"{name}: {function} gives {via.hex()}, expected {want.hex()}")
    return problems


CHECKERS: dict[str, Callable[[Any], list[str]]] = {"tls12-prf": check_tls12_prf}
