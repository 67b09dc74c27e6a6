"""Checkers for the SRTP vectors in ``rfc-vectors/rfc3711``, ``rfc7714`` and ``rfc6188``.

Each checker takes a vector (an ``rtcstack.vectors.Vector``; only its ``inputs``, ``expected``
and ``cases`` are read, so this module imports nothing outside the layer) and returns the
problems found, ``[]`` for a pass.  ``rtcstack vectors`` registers them in its ``CHECKERS``.

Kinds:

- ``srtp-kdf``: RFC 3711 §B.3, RFC 6188 §7.2/§7.4.  For every case: the PRF input block
  (:func:`~rtcstack.srtp.kdf.prf_input_block`) and the derived key (:func:`derive_key`).
- ``srtp-aes-cm-keystream``: RFC 3711 §B.2.  An all-zero payload protected by the AES-CM context
  with the given session key and salt; its ciphertext must hold each printed keystream block.
- ``srtp-aead-rtp``: RFC 7714 §16.x.1-2.  protect_rtp(plain) == protected, unprotect back.
- ``srtp-aead-rtp-auth-only``: RFC 7714 §16.x.3-4.  GMAC over the whole packet with the §8.1 IV.
- ``srtp-aead-rtcp``: RFC 7714 §17.  protect_rtcp (E flag as given) == protected, unprotect back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rtcstack.srtp.context import PureSrtpContext, gcm_iv
from rtcstack.srtp.errors import SrtpError
from rtcstack.srtp.kdf import SessionKeys, derive_key, prf_input_block
from rtcstack.srtp.profiles import Profile

__all__ = ["CHECKERS", "hex_value"]


def hex_value(value: str | Sequence[str]) -> bytes:
    """Hex as the RFCs print it: one string or a list of rows, spaces anywhere."""
    text = value if isinstance(value, str) else " ".join(value)
    return bytes.fromhex(text.replace(" ", ""))


def _keys(profile: Profile, inputs: Any) -> SessionKeys:
    key, salt = hex_value(inputs["session_key"]), hex_value(inputs["session_salt"])
    auth = bytes(profile.auth_key_length)
    return SessionKeys(key, auth, salt, key, auth, salt)


def check_kdf(vector: Any) -> list[str]:
    problems: list[str] = []
    master_key = hex_value(vector.inputs["master_key"])
    master_salt = hex_value(vector.inputs["master_salt"])
    index = int(vector.inputs.get("index_div_kdr", "0"), 16)
    for case in vector.cases:
        label = int(case["label"], 16)
        block = prf_input_block(master_salt, label, index, 1 if index else 0)
        if block != hex_value(case["prf_input"]):
            problems.append(f"{case['name']}: PRF input {block.hex()}, RFC {case['prf_input']}")
        want = hex_value(case["output"])
        got = derive_key(master_key, master_salt, label, len(want), index, 1 if index else 0)
        if got != want:
            problems.append(f"{case['name']}: derived {got.hex()}, RFC {want.hex()}")
    return problems


def check_aes_cm_keystream(vector: Any) -> list[str]:
    inputs = vector.inputs
    shifted = hex_value(inputs["session_salt_shifted"])
    if shifted[14:] != b"\0\0":
        return ["session_salt_shifted must end in 00 00"]
    profile = Profile.AES128_CM_HMAC_SHA1_80
    keys = SessionKeys(hex_value(inputs["session_key"]), bytes(20), shifted[:14],
                       bytes(16), bytes(20), bytes(14))
    context = PureSrtpContext.from_session_keys(profile, keys)
    ssrc = int(inputs["ssrc"], 16)
    seq = int(inputs["sequence_number"], 16)
    roc = int(inputs["rollover_counter"], 16)
    if roc:
        context.set_roc(ssrc, roc, seq, outbound=True)
    header = bytes([0x80, 0]) + seq.to_bytes(2) + bytes(4) + ssrc.to_bytes(4)
    srtp = context.protect_rtp(header + bytes(inputs["keystream_octets"]))
    keystream = srtp[12 : -profile.rtp_tag_length]
    first = int.from_bytes(shifted)
    problems = []
    for case in vector.cases:
        offset = 16 * (int(case["counter"], 16) - first)
        got = keystream[offset : offset + 16]
        if got != hex_value(case["keystream"]):
            problems.append(f"counter {case['counter']}: keystream {got.hex()}")
    return problems


def _iv_problem(vector: Any, salt: bytes, ssrc: int, index: int) -> list[str]:
    iv = gcm_iv(salt, ssrc, index)
    want = hex_value(vector.expected["iv"])
    return [] if iv == want else [f"IV {iv.hex()}, RFC {want.hex()}"]


def check_aead_rtp(vector: Any) -> list[str]:
    profile = Profile.from_name(vector.inputs["profile"])
    keys = _keys(profile, vector.inputs)
    plain, protected = hex_value(vector.expected["plain"]), hex_value(vector.expected["protected"])
    roc = int(vector.inputs["rollover_counter"], 16)
    seq, ssrc = int.from_bytes(plain[2:4]), int.from_bytes(plain[8:12])
    problems = _iv_problem(vector, keys.rtp_salt, ssrc, (roc << 16) | seq)
    sender = PureSrtpContext.from_session_keys(profile, keys)
    receiver = PureSrtpContext.from_session_keys(profile, keys)
    if roc:
        sender.set_roc(ssrc, roc, seq, outbound=True)
        receiver.set_roc(ssrc, roc, seq)
    got = sender.protect_rtp(plain)
    if got != protected:
        problems.append(f"protect_rtp gives {got.hex()}")
    try:
        back = receiver.unprotect_rtp(protected)
    except (SrtpError, ValueError) as exc:
        problems.append(f"unprotect_rtp raises {exc!r}")
    else:
        if back != plain:
            problems.append(f"unprotect_rtp gives {back.hex()}")
    tampered = bytearray(protected)
    tampered[-1] ^= 1
    try:
        PureSrtpContext.from_session_keys(profile, keys).unprotect_rtp(bytes(tampered))
        problems.append("a flipped tag bit is accepted")
    except SrtpError:
        pass
    return problems


def check_aead_rtp_auth_only(vector: Any) -> list[str]:
    profile = Profile.from_name(vector.inputs["profile"])
    keys = _keys(profile, vector.inputs)
    plain, tagged = hex_value(vector.expected["plain"]), hex_value(vector.expected["protected"])
    roc = int(vector.inputs["rollover_counter"], 16)
    seq, ssrc = int.from_bytes(plain[2:4]), int.from_bytes(plain[8:12])
    problems = _iv_problem(vector, keys.rtp_salt, ssrc, (roc << 16) | seq)
    iv = gcm_iv(keys.rtp_salt, ssrc, (roc << 16) | seq)
    gcm = AESGCM(keys.rtp_key)
    if plain + gcm.encrypt(iv, b"", plain) != tagged:
        problems.append("GMAC tag differs")
    try:
        gcm.decrypt(iv, tagged[len(plain) :], tagged[: len(plain)])
    except InvalidTag:
        problems.append("the printed tag does not verify")
    return problems


def check_aead_rtcp(vector: Any) -> list[str]:
    profile = Profile.from_name(vector.inputs["profile"])
    keys = _keys(profile, vector.inputs)
    plain, protected = hex_value(vector.expected["plain"]), hex_value(vector.expected["protected"])
    index = int(vector.inputs["srtcp_index"], 16)
    ssrc = int.from_bytes(plain[4:8])
    problems = _iv_problem(vector, keys.rtcp_salt, ssrc, index)
    sender = PureSrtpContext.from_session_keys(profile, keys)
    sender.set_srtcp_index(ssrc, index - 1)
    got = sender.protect_rtcp(plain, encrypt=bool(vector.inputs["encrypt"]))
    if got != protected:
        problems.append(f"protect_rtcp gives {got.hex()}")
    try:
        back = PureSrtpContext.from_session_keys(profile, keys).unprotect_rtcp(protected)
    except (SrtpError, ValueError) as exc:
        problems.append(f"unprotect_rtcp raises {exc!r}")
    else:
        if back != plain:
            problems.append(f"unprotect_rtcp gives {back.hex()}")
    return problems


CHECKERS: dict[str, Callable[[Any], list[str]]] = {
    "srtp-kdf": check_kdf,
    "srtp-aes-cm-keystream": check_aes_cm_keystream,
    "srtp-aead-rtp": check_aead_rtp,
    "srtp-aead-rtp-auth-only": check_aead_rtp_auth_only,
    "srtp-aead-rtcp": check_aead_rtcp,
}
