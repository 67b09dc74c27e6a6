"""SRTP layer: profiles, key derivation, the RFC vectors both ways, context behaviour and errors.

Vectors: RFC 3711 §B.2-B.3, RFC 6188 §7.2/§7.4, RFC 7714 §16-17 (rfc-vectors/, checkers in
rtcstack/srtp/vectors.py); these tests also prove the checkers fail on wrong data.
"""

from __future__ import annotations

import copy
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rtcstack.common import ParseError
from rtcstack.srtp import (
    Label,
    Profile,
    PureSrtpContext,
    SessionKeys,
    SrtpAuthenticationError,
    SrtpReplayError,
    create_context,
    derive_key,
    derive_session_keys,
    split_keying_material,
)
from rtcstack.srtp.vectors import CHECKERS, hex_value
from rtcstack.vectors import Vector, all_vectors, load

SRTP_VECTORS = all_vectors(layer="srtp")
KEY16, SALT14, SALT12 = bytes(range(16)), bytes(range(100, 114)), bytes(range(100, 112))


def _rtp(seq: int, ssrc: int = 0x11223344, payload: bytes = b"hello srtp", ts: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq & 0xFFFF, ts, ssrc) + payload


def _rtcp(ssrc: int = 0x11223344) -> bytes:
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)


def _pair(profile: Profile, backend: str = "pure") -> tuple[Any, Any]:
    key, salt = bytes(profile.key_length), bytes(range(profile.salt_length))
    return (create_context(profile, key, salt, backend=backend),
            create_context(profile, key, salt, backend=backend))


# --- vectors ----------------------------------------------------------------------------------


def test_the_srtp_vectors_are_all_there() -> None:
    names = {(v.rfc, v.section) for v in SRTP_VECTORS}
    assert {(3711, "B.2"), (3711, "B.3"), (6188, "7.2"), (6188, "7.4")} <= names
    assert {(7714, f"16.{a}.{b}") for a in (1, 2) for b in (1, 2, 3, 4)} <= names
    assert {(7714, f"17.{n}") for n in (1, 2, 3, 4)} <= names


@pytest.mark.parametrize("vector", SRTP_VECTORS, ids=[f"{v.rfc}-{v.name}" for v in SRTP_VECTORS])
def test_vector_passes(vector: Vector) -> None:
    assert CHECKERS[vector.kind](vector) == []


def _corrupt(vector: Vector, where: str, key: str) -> Vector:
    doc = copy.deepcopy(dict(getattr(vector, where)))
    value = doc[key]
    text = value if isinstance(value, str) else " ".join(value)
    flipped = text[:-1] + ("0" if text[-1] != "0" else "1")
    doc[key] = flipped
    return Vector(**{**{f: getattr(vector, f) for f in vector.__dataclass_fields__}, where: doc})


@pytest.mark.parametrize(
    ("rfc", "name", "where", "key"),
    [
        (7714, "16.1.1-encryption", "expected", "protected"),
        (7714, "16.2.2-decryption", "expected", "plain"),
        (7714, "16.1.3-authentication-tagging", "expected", "protected"),
        (7714, "17.1-encryption-and-tagging", "expected", "protected"),
        (7714, "17.4-tag-verification", "inputs", "session_key"),
        (3711, "b2-aes-cm", "inputs", "session_key"),
    ],
)
def test_checkers_fail_on_wrong_data(rfc: int, name: str, where: str, key: str) -> None:
    vector = load(rfc, name)
    assert CHECKERS[vector.kind](_corrupt(vector, where, key)) != []


def test_kdf_checker_fails_on_a_wrong_output() -> None:
    vector = load(3711, "b3-key-derivation")
    cases = copy.deepcopy(list(vector.cases))
    cases[0]["output"] = ["C61E7A93744F39EE10734AFE3FF7A088"]
    broken = Vector(**{**{f: getattr(vector, f) for f in vector.__dataclass_fields__},
                       "cases": tuple(cases)})
    assert CHECKERS["srtp-kdf"](broken) == [
        "cipher key: derived c61e7a93744f39ee10734afe3ff7a087, RFC c61e7a93744f39ee10734afe3ff7a088"
    ]


def test_rfc3711_b3_session_keys_of_the_profile() -> None:
    """B.3's master key through the SRTP_AES128_CM_HMAC_SHA1_80 profile: the same cipher key,
    salt and the first 20 octets of the printed auth key."""
    v = load(3711, "b3-key-derivation")
    keys = derive_session_keys(
        Profile.AES128_CM_HMAC_SHA1_80,
        hex_value(v.inputs["master_key"]),
        hex_value(v.inputs["master_salt"]),
    )
    by_name = {c["name"]: hex_value(c["output"]) for c in v.cases}
    assert keys.rtp_key == by_name["cipher key"]
    assert keys.rtp_salt == by_name["cipher salt"]
    assert keys.rtp_auth_key == by_name["auth key"][:20]
    # SRTCP labels 3-5 (RFC 3711 §4.3.2) give different keys.
    assert keys.rtcp_key == derive_key(
        hex_value(v.inputs["master_key"]), hex_value(v.inputs["master_salt"]),
        Label.SRTCP_ENCRYPTION, 16,
    )
    assert keys.rtcp_key != keys.rtp_key


def test_rfc6188_7_2_session_keys_of_aes_256_gcm() -> None:
    """AEAD_AES_256_GCM uses the AES_256_CM_PRF (RFC 7714 §11); its salt is 12 octets, the first
    12 of the 14-octet PRF output over the salt padded with two zero octets."""
    v = load(6188, "7.2-aes-256-cm-prf")
    key = hex_value(v.inputs["master_key"])
    salt = hex_value(v.inputs["master_salt"])[:12]
    keys = derive_session_keys(Profile.AEAD_AES_256_GCM, key, salt)
    assert len(keys.rtp_key) == 32 and len(keys.rtp_salt) == 12 and keys.rtp_auth_key == b""
    full = derive_session_keys(Profile.AEAD_AES_256_GCM, key, bytes(12))
    assert full.rtp_salt == derive_key(key, bytes(14), Label.SRTP_SALT, 14)[:12]


def test_kdf_rate_and_index() -> None:
    """RFC 3711 §4.3.1: r = index DIV key_derivation_rate enters the PRF input; DIV 0 is 0."""
    salt = bytes(14)
    from rtcstack.srtp.kdf import prf_input_block

    assert prf_input_block(salt, 0, index=0x123456, rate=0) == bytes(16)
    assert prf_input_block(salt, 1, index=0x20000, rate=0x10000) == bytes.fromhex(
        "00000000000000010000000000020000"
    )
    with pytest.raises(ValueError):
        prf_input_block(bytes(13), 0)
    with pytest.raises(ValueError):
        derive_key(bytes(15), salt, 0, 16)


# --- profiles -----------------------------------------------------------------------------------


def test_profiles_follow_rfc5764_and_rfc7714() -> None:
    assert [int(p) for p in Profile] == [1, 2, 7, 8]
    p80, p32 = Profile.AES128_CM_HMAC_SHA1_80, Profile.AES128_CM_HMAC_SHA1_32
    assert (p80.key_length, p80.salt_length, p80.auth_key_length) == (16, 14, 20)
    assert (p80.rtp_tag_length, p80.rtcp_tag_length) == (10, 10)
    assert (p32.rtp_tag_length, p32.rtcp_tag_length) == (4, 10)  # "RTCP auth_tag_length: 80"
    g128, g256 = Profile.AEAD_AES_128_GCM, Profile.AEAD_AES_256_GCM
    assert (g128.key_length, g128.salt_length, g128.rtp_tag_length) == (16, 12, 16)
    assert (g256.key_length, g256.salt_length, g256.rtcp_tag_length) == (32, 12, 16)
    assert Profile.from_name("SRTP_AEAD_AES_256_GCM") is g256
    assert Profile.from_name("AES_CM_128_HMAC_SHA1_80") is p80
    with pytest.raises(ValueError, match="unknown SRTP profile"):
        Profile.from_name("SRTP_NULL_HMAC_SHA1_80")


def test_split_keying_material() -> None:
    """RFC 5764 §4.2: client key, server key, client salt, server salt."""
    p = Profile.AEAD_AES_128_GCM
    material = b"C" * 16 + b"S" * 16 + b"c" * 12 + b"s" * 12
    assert split_keying_material(p, material) == ((b"C" * 16, b"c" * 12), (b"S" * 16, b"s" * 12))
    with pytest.raises(ValueError):
        split_keying_material(p, material[:-1])


# --- contexts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", list(Profile), ids=lambda p: p.name)
def test_round_trip_replay_and_tamper(profile: Profile) -> None:
    tx, rx = _pair(profile)
    srtp = tx.protect_rtp(_rtp(7))
    assert len(srtp) == len(_rtp(7)) + profile.rtp_tag_length
    assert srtp[:12] == _rtp(7)[:12] and srtp[12:22] != b"hello srtp"
    bad = bytearray(srtp)
    bad[14] ^= 0x40
    with pytest.raises(SrtpAuthenticationError):
        rx.unprotect_rtp(bytes(bad))
    assert rx.unprotect_rtp(srtp) == _rtp(7)  # the failed attempt did not mark index 7
    with pytest.raises(SrtpReplayError):
        rx.unprotect_rtp(srtp)
    srtcp = tx.protect_rtcp(_rtcp())
    assert srtcp[-4 - profile.rtcp_tag_length : len(srtcp) - profile.rtcp_tag_length] == (
        b"\x80\x00\x00\x01"
    ) or profile.aead
    with pytest.raises(SrtpAuthenticationError):
        rx.unprotect_rtcp(srtcp[:-1] + bytes([srtcp[-1] ^ 1]))
    assert rx.unprotect_rtcp(srtcp) == _rtcp()
    with pytest.raises(SrtpReplayError):  # the index is checked before the tag (RFC 3711 §3.3)
        rx.unprotect_rtcp(srtcp)


def test_rtcp_e_flag_zero_is_authenticated_not_encrypted() -> None:
    for profile in Profile:
        tx, rx = _pair(profile)
        report = _rtcp() + b"\x00" * 8
        srtcp = tx.protect_rtcp(report, encrypt=False)
        assert srtcp.startswith(report)
        assert rx.unprotect_rtcp(srtcp) == report


def test_wrong_key_fails_authentication() -> None:
    p = Profile.AES128_CM_HMAC_SHA1_80
    tx = create_context(p, KEY16, SALT14)
    rx = create_context(p, bytes(16), SALT14)
    with pytest.raises(SrtpAuthenticationError):
        rx.unprotect_rtp(tx.protect_rtp(_rtp(1)))


def test_header_extension_and_csrcs_stay_in_the_clear() -> None:
    header = struct.pack("!BBHII", 0x92, 96, 1, 0, 5) + b"\0\0\0\1"  # X=1, CC=2
    ext = b"\xbe\xde\x00\x01" + b"\x10\xaa\x00\x00"
    packet = header + b"\0\0\0\2" + ext + b"media"
    for profile in Profile:
        tx, rx = _pair(profile)
        srtp = tx.protect_rtp(packet)
        assert srtp.startswith(packet[:-5]) and srtp[len(packet) - 5 : len(packet)] != b"media"
        assert rx.unprotect_rtp(srtp) == packet


def test_roc_estimation_across_the_wraparound() -> None:
    """RFC 3711 §3.3.1 / Appendix A: ROC follows SEQ through 65535 -> 0, and a late packet from
    before the wrap is decrypted with the old ROC."""
    tx, rx = _pair(Profile.AEAD_AES_128_GCM)
    sent = {seq: tx.protect_rtp(_rtp(seq)) for seq in (65533, 65534, 65535, 0, 1, 2)}
    assert tx.roc(0x11223344, outbound=True) == 1
    for seq in (65533, 0, 65535, 1, 65534, 2):  # reordered across the wrap
        assert rx.unprotect_rtp(sent[seq]) == _rtp(seq)
    assert rx.roc(0x11223344) == 1
    assert rx.roc(0x99) is None


def test_set_roc_joins_an_ongoing_session() -> None:
    tx, rx = _pair(Profile.AES128_CM_HMAC_SHA1_80)
    assert isinstance(tx, PureSrtpContext) and isinstance(rx, PureSrtpContext)
    tx.set_roc(0x11223344, 7, 100, outbound=True)
    srtp = tx.protect_rtp(_rtp(101))
    with pytest.raises(SrtpAuthenticationError):  # ROC 0 assumed: the HMAC covers the ROC
        rx.unprotect_rtp(srtp)
    rx.set_roc(0x11223344, 7, 90)
    assert rx.unprotect_rtp(srtp) == _rtp(101)
    with pytest.raises(ValueError):
        rx.set_roc(1, 1 << 32)


def test_sender_refuses_to_reuse_an_index_unless_allowed() -> None:
    p = Profile.AEAD_AES_128_GCM
    tx = create_context(p, KEY16, SALT12)
    tx.protect_rtp(_rtp(5))
    with pytest.raises(SrtpReplayError):
        tx.protect_rtp(_rtp(5))
    again = create_context(p, KEY16, SALT12, allow_repeat_tx=True)
    assert again.protect_rtp(_rtp(5)) == again.protect_rtp(_rtp(5))


def test_srtcp_index_counts_per_ssrc_and_continues_after_rekey() -> None:
    tx = PureSrtpContext(Profile.AEAD_AES_128_GCM, KEY16, SALT12)
    assert tx.protect_rtcp(_rtcp(1))[-4:] == b"\x80\x00\x00\x01"
    assert tx.protect_rtcp(_rtcp(1))[-4:] == b"\x80\x00\x00\x02"
    assert tx.protect_rtcp(_rtcp(2))[-4:] == b"\x80\x00\x00\x01"
    tx.set_srtcp_index(1, 0x7FFFFFFE)
    assert tx.protect_rtcp(_rtcp(1))[-4:] == b"\xff\xff\xff\xff"
    from rtcstack.common import InvalidStateError

    with pytest.raises(InvalidStateError, match="SRTCP index exhausted"):
        tx.protect_rtcp(_rtcp(1))


def test_session_keys_context_checks_lengths() -> None:
    p = Profile.AEAD_AES_128_GCM
    with pytest.raises(ValueError, match="rtp_salt"):
        PureSrtpContext.from_session_keys(p, SessionKeys(KEY16, b"", SALT14, KEY16, b"", SALT12))
    with pytest.raises(ValueError, match="master salt"):
        PureSrtpContext(p, KEY16, SALT14)
    with pytest.raises(ValueError, match="replay window"):
        PureSrtpContext(p, KEY16, SALT12, replay_window=32)
    with pytest.raises(ValueError, match="unknown SRTP backend"):
        create_context(p, KEY16, SALT12, backend="openssl")


@pytest.mark.parametrize("profile", list(Profile), ids=lambda p: p.name)
@pytest.mark.parametrize(
    "data",
    [b"", b"\x80", bytes(11), b"\x40" + bytes(40), b"\x90" + bytes(15),
     b"\x90\x60" + bytes(10) + b"\xbe\xde\xff\xff" + bytes(20), b"\x8f" + bytes(60)],
)
def test_truncated_and_malformed_packets_are_parse_errors(profile: Profile, data: bytes) -> None:
    _, rx = _pair(profile)
    with pytest.raises(ParseError):
        rx.unprotect_rtp(data)
    if len(data) < 12 + profile.rtcp_tag_length or data[:1] == b"\x40":
        with pytest.raises(ParseError):
            rx.unprotect_rtcp(data)


def test_import_loads_no_codec_library_and_not_pylibsrtp() -> None:
    code = (
        "import sys, json\n"
        "import rtcstack.srtp\n"
        "print(json.dumps(sorted(m for m in ('av', 'numpy', 'opuslib', 'asyncio', 'pylibsrtp') "
        "if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_layer_manual_examples_run() -> None:
    import doctest

    import rtcstack.srtp

    result = doctest.testmod(rtcstack.srtp, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_ctr_fallback_for_old_cryptography_gives_the_same_keystream() -> None:
    """``cryptography`` < 43 has no ``reset_nonce``: the fallback builds a Cipher per packet."""
    from rtcstack.srtp.context import _ctr, _FreshCtr

    fast, fresh = _ctr(KEY16), _FreshCtr(KEY16)
    for iv in (bytes(16), bytes(range(16)), b"\xff" * 14 + b"\0\0"):
        fast.reset_nonce(iv)
        fresh.reset_nonce(iv)
        assert fast.update(bytes(100)) == fresh.update(bytes(100))
