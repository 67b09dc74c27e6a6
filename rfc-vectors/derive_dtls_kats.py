"""Write the TLS 1.2 key schedule known answers (kind ``tls12-prf``) with OpenSSL's own PRF.

Every value of the DTLS 1.2 key schedule is one PRF call with a fixed label (RFC 5246 §5):
the master secret (§8.1), the extended master secret (RFC 7627 §4), the key block (§6.3), the
Finished verify_data (§7.4.9) and the exporter (RFC 5705 §4, RFC 5764 §4.2).  This script
builds the seed of each the way the RFC defines it (independently of rtcstack: it imports
nothing from it) and asks OpenSSL for the output:

    openssl kdf -keylen N -kdfopt digest:SHA256 -kdfopt hexsecret:<secret>
                -kdfopt hexseed:<label || seed> TLS1-PRF

Outputs are chained: the master secret OpenSSL computes is the secret of the key block,
Finished and exporter cases.  The inputs (pre-master secrets, randoms, handshake hashes) are
SHA-256 expansions of fixed names, so a run writes identical files.  The exact command of
each case is stored in the case's ``openssl`` field.

    python rfc-vectors/derive_dtls_kats.py            # (re)write the files
    python rfc-vectors/derive_dtls_kats.py --check    # compare the files with a fresh run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMA = "rtcstack-vector/1"


def material(name: str, length: int) -> bytes:
    """``length`` deterministic bytes named ``name``: SHA-256(name || counter) blocks."""
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"rtcstack dtls kat {name} {counter}".encode()).digest()
        counter += 1
    return out[:length]


def openssl_version() -> str:
    return subprocess.run(["openssl", "version"], capture_output=True, text=True,
                          check=True).stdout.strip()


def openssl_prf(hash_name: str, secret: bytes, label: bytes, seed: bytes,
                length: int) -> tuple[bytes, str]:
    """(output, the command line) of OpenSSL's TLS1-PRF KDF."""
    digest = {"sha256": "SHA256", "sha384": "SHA384", "sha224": "SHA224",
              "sha512": "SHA512"}[hash_name]
    argv = ["openssl", "kdf", "-keylen", str(length), "-kdfopt", f"digest:{digest}",
            "-kdfopt", f"hexsecret:{secret.hex()}", "-kdfopt", f"hexseed:{(label + seed).hex()}",
            "TLS1-PRF"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    return bytes.fromhex(out.replace(":", "")), " ".join(argv)


def case(name: str, function: str, hash_name: str, secret: bytes, label: str, seed: bytes,
         length: int, inputs: dict[str, Any]) -> dict[str, Any]:
    output, command = openssl_prf(hash_name, secret, label.encode("ascii"), seed, length)
    return {"name": name, "function": function, "hash": hash_name, "secret": secret.hex(),
            "label": label, "seed": seed.hex(), "length": length, "inputs": inputs,
            "output": output.hex(), "openssl": command}


# The suites whose key blocks are recorded, with (PRF hash, key length, fixed IV length):
# RFC 5288 §3 / RFC 5289 §3.2 (GCM: 4-byte salt), RFC 7905 §2 (ChaCha20: 12-byte IV).
SUITES = {
    "ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": ("sha256", 16, 4),
    "ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": ("sha384", 32, 4),
    "ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": ("sha256", 32, 12),
    "ECDHE_RSA_WITH_AES_128_GCM_SHA256": ("sha256", 16, 4),
    "ECDHE_RSA_WITH_AES_256_GCM_SHA384": ("sha384", 32, 4),
    "ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": ("sha256", 32, 12),
}
HASH_LENGTH = {"sha256": 32, "sha384": 48}


def build() -> dict[str, dict[str, Any]]:
    """{relative path: vector document}."""
    version = openssl_version()
    cr, sr = material("client_random", 32), material("server_random", 32)
    randoms = {"client_random": cr.hex(), "server_random": sr.hex()}
    files: dict[str, dict[str, Any]] = {}

    def doc(rfc: int, section: str, title: str, cases: list[dict[str, Any]],
            notes: str) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "rfc": rfc, "section": section, "title": title, "layer": "dtls",
            "kind": "tls12-prf",
            "source": f"computed with {version} (openssl kdf ... TLS1-PRF) by "
                      f"rfc-vectors/derive_dtls_kats.py; RFC {rfc} §{section} defines the seed",
            "hex": [], "cases": cases, "notes": notes,
        }

    prf_cases = []
    for h, n in (("sha256", 100), ("sha384", 148)):
        prf_cases.append(case(f"P_{h.upper()} {n} bytes", "prf", h, material(f"secret {h}", 48),
                              "test label", material(f"seed {h}", 32), n, {}))
    files["rfc5246/5-prf-openssl.json"] = doc(
        5246, "5", "HMAC and the Pseudorandom Function", prf_cases,
        "PRF(secret, label, seed) = P_<hash>(secret, label + seed); outputs longer than one "
        "HMAC block so that A(2), A(3)... are exercised.")

    masters: dict[str, bytes] = {}
    ms_cases, ems_cases = [], []
    for h in ("sha256", "sha384"):
        pre = material(f"pre_master_secret {h}", 32)  # an ECDHE P-256 / X25519 premaster
        c = case(f"master secret {h.upper()}", "master_secret", h, pre, "master secret",
                 cr + sr, 48, dict(randoms))
        ms_cases.append(c)
        session_hash = material(f"session_hash {h}", HASH_LENGTH[h])
        e = case(f"extended master secret {h.upper()}", "extended_master_secret", h, pre,
                 "extended master secret", session_hash, 48, {"session_hash": session_hash.hex()})
        ems_cases.append(e)
        masters[h] = bytes.fromhex(e["output"])
    files["rfc5246/8.1-master-secret-openssl.json"] = doc(
        5246, "8.1", "Computing the Master Secret", ms_cases,
        "master_secret = PRF(pre_master_secret, \"master secret\", ClientHello.random + "
        "ServerHello.random)[0..47].")
    files["rfc7627/4-extended-master-secret-openssl.json"] = doc(
        7627, "4", "Extended Master Secret", ems_cases,
        "master_secret = PRF(pre_master_secret, \"extended master secret\", session_hash)"
        "[0..47]; these masters are the secrets of the key block, Finished and exporter cases.")

    kb_cases = []
    for suite, (h, key, iv) in SUITES.items():
        kb_cases.append(case(f"key block {suite}", "key_block", h, masters[h], "key expansion",
                             sr + cr, 2 * (key + iv), {"suite": suite, **randoms}))
    files["rfc5246/6.3-key-block-openssl.json"] = doc(
        5246, "6.3", "Key Calculation", kb_cases,
        "key_block = PRF(master_secret, \"key expansion\", server_random + client_random); "
        "AEAD suites have no MAC keys, so the block is client_write_key, server_write_key, "
        "client_write_IV, server_write_IV (GCM: 4-byte salt, RFC 5288 §3; ChaCha20: 12 bytes, "
        "RFC 7905 §2).")

    fin_cases = []
    for h in ("sha256", "sha384"):
        hh = material(f"handshake_hash {h}", HASH_LENGTH[h])
        for label in ("client finished", "server finished"):
            fin_cases.append(case(f"{label} {h.upper()}", "verify_data", h, masters[h], label,
                                  hh, 12, {"handshake_hash": hh.hex()}))
    files["rfc5246/7.4.9-finished-openssl.json"] = doc(
        5246, "7.4.9", "Finished", fin_cases,
        "verify_data = PRF(master_secret, finished_label, Hash(handshake_messages))[0..11].")

    exp_cases = []
    for h in ("sha256", "sha384"):
        exp_cases.append(case(f"EXTRACTOR-dtls_srtp AES-CM-128 {h.upper()}", "dtls_srtp", h,
                              masters[h], "EXTRACTOR-dtls_srtp", cr + sr, 60,
                              {**randoms, "key_length": 16, "salt_length": 14}))
        exp_cases.append(case(f"EXTRACTOR-dtls_srtp AEAD-AES-256-GCM {h.upper()}", "dtls_srtp",
                              h, masters[h], "EXTRACTOR-dtls_srtp", cr + sr, 88,
                              {**randoms, "key_length": 32, "salt_length": 12}))
    context = material("exporter context", 20)
    exp_cases.append(case("EXPERIMENTAL label with a context", "exporter", "sha256",
                          masters["sha256"], "EXPERIMENTAL-rtcstack",
                          cr + sr + len(context).to_bytes(2, "big") + context, 40,
                          {**randoms, "context": context.hex()}))
    exp_cases.append(case("EXPERIMENTAL label with an empty context", "exporter", "sha256",
                          masters["sha256"], "EXPERIMENTAL-rtcstack", cr + sr + b"\0\0", 40,
                          {**randoms, "context": ""}))
    exp_cases.append(case("EXPERIMENTAL label without a context", "exporter", "sha256",
                          masters["sha256"], "EXPERIMENTAL-rtcstack", cr + sr, 40,
                          {**randoms, "context": None}))
    files["rfc5705/4-exporter-openssl.json"] = doc(
        5705, "4", "Exporter Definition", exp_cases,
        "PRF(master_secret, label, client_random + server_random [+ context_value_length + "
        "context_value])[length]; EXTRACTOR-dtls_srtp is RFC 5764 §4.2's label, split as "
        "client key, server key, client salt, server salt.  An empty context is not the same "
        "as no context (the length field is there).")
    return files


def dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare the files with a fresh run instead of writing them")
    args = parser.parse_args(argv)
    if shutil.which("openssl") is None:
        print("openssl is not installed (Debian package openssl)", file=sys.stderr)
        return 2
    files = build()
    stale = []
    for rel, document in files.items():
        path = HERE / rel
        text = dump(document)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(rel)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {rel}: {len(document['cases'])} cases")
    if stale:
        print("differs from a fresh run: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
