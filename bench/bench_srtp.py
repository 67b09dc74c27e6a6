"""SRTP hot path: protect + unprotect of a 1200-byte RTP packet per profile, rtcstack's pure
backend vs pylibsrtp (issue #4 targets: AEAD-GCM >= 2x pylibsrtp, AES-CM-80 >= 1x).

Each call builds the next packet of one stream (sequence number + 1, so the ROC advances
through the 65535 -> 0 wrap during long runs), protects it with the sending context and
unprotects it with the receiving one, which checks the replay window and the tag; both sides
return the decrypted payload, which must equal the one sent.  The reference is pylibsrtp's
``Session`` itself (not rtcstack's ``LibsrtpContext`` wrapper around it).

Measured (2-core machine shared with other jobs, CPython 3.11.7, cryptography 50.0.2,
pylibsrtp 1.0.0; ratio = pylibsrtp / rtcstack, two runs): AES-CM-80 0.63-0.76x,
AES-CM-32 0.69-0.72x, AEAD-AES-128-GCM 0.89-0.96x, AEAD-AES-256-GCM 0.91-0.97x, SRTCP GCM
0.66-0.90x.  Neither target is met.  The floor is the crypto calls themselves: one
``AESGCM.encrypt`` plus one ``decrypt`` of 1188 bytes cost ~4.5 µs here, against ~6.5 µs for a
whole pylibsrtp protect + unprotect, so even with zero Python overhead the GCM ratio would be
about 1.4x; AES-CM needs four calls per direction (CTR ``reset_nonce`` + ``update``, HMAC
``copy`` + ``update``/``finalize``) where libsrtp makes one.
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Callable

import pylibsrtp

from bench.harness import Case
from rtcstack.srtp import Profile, PureSrtpContext

REFERENCE = f"pylibsrtp {pylibsrtp.__version__}"
TARGET_RATIO = 1.0

PAYLOAD = bytes(range(256)) * 4 + bytes(1188 - 1024)  # 12-byte header + 1188 = 1200 bytes
SSRC = 0x5EC12E7
_HEADER = struct.Struct("!BBHII")
_LIB_PROFILE = {
    Profile.AES128_CM_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    Profile.AES128_CM_HMAC_SHA1_32: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    Profile.AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    Profile.AEAD_AES_256_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}
TARGETS = {
    Profile.AES128_CM_HMAC_SHA1_80: 1.0,
    Profile.AES128_CM_HMAC_SHA1_32: 1.0,
    Profile.AEAD_AES_128_GCM: 2.0,
    Profile.AEAD_AES_256_GCM: 2.0,
}


def _ours(profile: Profile, key: bytes, salt: bytes) -> Callable[[], bytes]:
    tx, rx = PureSrtpContext(profile, key, salt), PureSrtpContext(profile, key, salt)
    seqs = itertools.count()
    pack, protect, unprotect = _HEADER.pack, tx.protect_rtp, rx.unprotect_rtp

    def round_trip() -> bytes:
        packet = pack(0x80, 96, next(seqs) & 0xFFFF, 0, SSRC) + PAYLOAD
        return unprotect(protect(packet))[12:]

    return round_trip


def _theirs(profile: Profile, key: bytes, salt: bytes) -> Callable[[], bytes]:
    Policy = pylibsrtp.Policy
    tx = pylibsrtp.Session(Policy(key=key + salt, ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                                  srtp_profile=_LIB_PROFILE[profile]))
    rx = pylibsrtp.Session(Policy(key=key + salt, ssrc_type=Policy.SSRC_ANY_INBOUND,
                                  srtp_profile=_LIB_PROFILE[profile]))
    seqs = itertools.count()
    pack, protect, unprotect = _HEADER.pack, tx.protect, rx.unprotect

    def round_trip() -> bytes:
        packet = pack(0x80, 96, next(seqs) & 0xFFFF, 0, SSRC) + PAYLOAD
        result: bytes = unprotect(protect(packet))[12:]
        return result

    return round_trip


def _rtcp_ours(key: bytes, salt: bytes) -> Callable[[], bytes]:
    profile = Profile.AEAD_AES_128_GCM
    tx, rx = PureSrtpContext(profile, key, salt), PureSrtpContext(profile, key, salt)
    packet = struct.pack("!BBHI", 0x81, 201, 7, SSRC) + bytes(24)
    return lambda: rx.unprotect_rtcp(tx.protect_rtcp(packet))


def _rtcp_theirs(key: bytes, salt: bytes) -> Callable[[], bytes]:
    Policy = pylibsrtp.Policy
    profile = Policy.SRTP_PROFILE_AEAD_AES_128_GCM
    tx = pylibsrtp.Session(Policy(key + salt, Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    rx = pylibsrtp.Session(Policy(key + salt, Policy.SSRC_ANY_INBOUND, srtp_profile=profile))
    packet = struct.pack("!BBHI", 0x81, 201, 7, SSRC) + bytes(24)
    return lambda: bytes(rx.unprotect_rtcp(tx.protect_rtcp(packet)))


def cases() -> list[Case]:
    rows = []
    for profile in Profile:
        key, salt = os.urandom(profile.key_length), os.urandom(profile.salt_length)
        rows.append(
            Case(
                name=f"{profile.name} protect+unprotect 1200 B",
                rtcstack=_ours(profile, key, salt),
                reference=_theirs(profile, key, salt),
                expect=PAYLOAD,
                target=TARGETS[profile],
            )
        )
    key, salt = os.urandom(16), os.urandom(12)
    rows.append(
        Case(
            name="AEAD_AES_128_GCM SRTCP protect+unprotect 36 B",
            rtcstack=_rtcp_ours(key, salt),
            reference=_rtcp_theirs(key, salt),
            expect=struct.pack("!BBHI", 0x81, 201, 7, SSRC) + bytes(24),
            target=1.0,
        )
    )
    return rows
