"""SRTP and SRTCP crypto contexts: RFC 3711 §3.2-§4 (AES-CM, HMAC-SHA1) and RFC 7714 §8-§9
(AES-GCM), on ``cryptography``.

:class:`SrtpContext` is the interface both backends implement; :class:`PureSrtpContext` is the
one written here.  A context holds one master key (one direction of a DTLS-SRTP session) and,
per SSRC, the state of RFC 3711 §3.2.3: the highest packet index (ROC and s_l) with its replay
window, and the SRTCP index.  SSRCs are learned on the fly; a receiving stream's state is
created only once one of its packets has authenticated (so forged packets cannot fill memory).

Index estimation and the replay windows follow RFC 3711 Appendix A exactly as libsrtp does it,
so that both backends accept and reject the same packets:

- while the highest index seen is at most 2^15 the ROC is taken as 0 (libsrtp's
  ``srtp_rdbx_estimate_index``: Appendix A would guess ROC-1 = 2^32-1 for a first sequence
  number far above the initial one);
- a sender checks its own indices too: protecting a sequence number twice raises
  :class:`SrtpReplayError` (the same keystream twice), unless ``allow_repeat_tx``;
- the first SRTCP index sent is 1, not the 0 of RFC 3711 §3.4 ("The SRTCP index MUST be set
  to zero before the first SRTCP packet is sent, and MUST be incremented by one ... after each
  SRTCP packet is sent"): libsrtp, and with it every browser, increments before sending.
  Receivers accept any index, so this only matters for byte-identical output.

Hot path notes (``bench/bench_srtp.py``): AES-GCM is one ``AESGCM.encrypt``/``decrypt`` call on
a cached key; AES-CM re-uses one cached CTR context per key with ``reset_nonce`` (cryptography
>= 43; older versions build a Cipher per packet, about 10 µs), and HMAC-SHA1 copies a cached
keyed context per packet.
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from hmac import compare_digest
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rtcstack.common.buffer import U16, U32
from rtcstack.common.errors import InvalidStateError, ParseError
from rtcstack.srtp.errors import SrtpAuthenticationError, SrtpReplayError
from rtcstack.srtp.kdf import SessionKeys, derive_session_keys
from rtcstack.srtp.profiles import Profile
from rtcstack.srtp.replay import DEFAULT_WINDOW_SIZE, ReplayWindow, check_window_size

__all__ = ["PureSrtpContext", "SrtpContext", "aes_cm_iv", "gcm_iv"]

_B0_SEQ_SSRC = struct.Struct("!BxH4xI")  # first octet, sequence number, (timestamp), SSRC
_U32_PACK = U32.pack
_MAX_SRTCP_INDEX = 0x7FFF_FFFF
_E_FLAG = 0x8000_0000


class SrtpContext(ABC):
    """One direction's SRTP/SRTCP crypto context (RFC 3711 §3.2): the interface of both backends.

    ``protect_*`` take a plain RTP/RTCP packet and return the SRTP/SRTCP packet;
    ``unprotect_*`` do the reverse and raise ``ParseError``, :class:`SrtpReplayError` or
    :class:`SrtpAuthenticationError` -- never anything else -- on packets to discard.
    """

    profile: Profile
    backend: str

    @abstractmethod
    def protect_rtp(self, packet: bytes) -> bytes: ...

    @abstractmethod
    def unprotect_rtp(self, packet: bytes) -> bytes: ...

    @abstractmethod
    def protect_rtcp(self, packet: bytes) -> bytes: ...

    @abstractmethod
    def unprotect_rtcp(self, packet: bytes) -> bytes: ...


class _FreshCtr:
    """AES-CTR for ``cryptography`` < 43 (no ``reset_nonce``): a new Cipher per packet."""

    __slots__ = ("_algorithm", "_iv")

    def __init__(self, key: bytes) -> None:
        self._algorithm = algorithms.AES(key)
        self._iv = bytes(16)

    def reset_nonce(self, iv: bytes) -> None:
        self._iv = iv

    def update(self, data: bytes | memoryview) -> bytes:
        return Cipher(self._algorithm, modes.CTR(self._iv)).encryptor().update(data)


class _Ctr(Protocol):
    def reset_nonce(self, nonce: bytes) -> None: ...

    def update(self, data: bytes | memoryview) -> bytes: ...


def _ctr(key: bytes) -> _Ctr:
    """An AES-CTR keystream XOR whose IV is set per packet with ``reset_nonce``."""
    encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    if hasattr(encryptor, "reset_nonce"):
        return encryptor
    return _FreshCtr(key)


def gcm_iv(salt: bytes, ssrc: int, index: int) -> bytes:
    """RFC 7714 §8.1 / §9.1: the 12-octet IV, ``(00 00 || SSRC || ROC || SEQ) XOR salt`` for
    SRTP (``index`` = ROC || SEQ), ``(00 00 || SSRC || 00 00 || 0 || SRTCP index) XOR salt``
    for SRTCP.  The contexts compute the same expression inline."""
    return (int.from_bytes(salt) ^ (ssrc << 48) ^ index).to_bytes(12)


def aes_cm_iv(salt: bytes, ssrc: int, index: int) -> bytes:
    """RFC 3711 §4.1.1: "IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)"."""
    return ((int.from_bytes(salt) << 16) ^ (ssrc << 64) ^ (index << 16)).to_bytes(16)


def _rtp_header_length(packet: bytes, n: int, tag: int) -> int:
    """RFC 3550 §5.1 header length (fixed header, CSRCs, extension); checks it fits."""
    if n < 12 + tag:
        raise ParseError(f"SRTP/RTP packet of {n} bytes is shorter than its header and tag", 0)
    b0 = packet[0]
    if b0 & 0xC0 != 0x80:
        raise ParseError(f"RTP version {b0 >> 6}, expected 2", 0)
    hlen = 12 + ((b0 & 0x0F) << 2)
    if b0 & 0x10:
        if hlen + 4 + tag > n:
            raise ParseError("RTP header extension truncated", hlen)
        hlen += 4 + (U16.unpack_from(packet, hlen + 2)[0] << 2)
    if hlen + tag > n:
        raise ParseError(f"RTP header of {hlen} bytes does not fit in {n - tag}", 0)
    return hlen


def _estimate(window: ReplayWindow, seq: int) -> int:
    """RFC 3711 §3.3.1 / Appendix A: the 48-bit index ``2^16 * v + SEQ`` closest to the
    highest index seen, v in {ROC-1, ROC, ROC+1} (libsrtp's ``srtp_index_guess``)."""
    local = window.top
    if local <= 0x8000:
        return seq
    roc = local >> 16
    s_l = local & 0xFFFF
    if s_l < 0x8000:
        if seq - s_l > 0x8000:
            roc -= 1
    elif s_l - 0x8000 > seq:
        roc += 1
    return (roc << 16) | seq


class PureSrtpContext(SrtpContext):
    """RFC 3711 / RFC 7714 on ``cryptography``: see the module docstring."""

    backend = "pure"

    def __init__(
        self,
        profile: Profile,
        master_key: bytes,
        master_salt: bytes,
        *,
        replay_window: int = DEFAULT_WINDOW_SIZE,
        allow_repeat_tx: bool = False,
    ) -> None:
        profile = Profile(profile)
        self._init(profile, derive_session_keys(profile, master_key, master_salt),
                   replay_window, allow_repeat_tx)

    @classmethod
    def from_session_keys(
        cls,
        profile: Profile,
        keys: SessionKeys,
        *,
        replay_window: int = DEFAULT_WINDOW_SIZE,
        allow_repeat_tx: bool = False,
    ) -> PureSrtpContext:
        """A context on already-derived session keys (RFC 7714 §16-§17 give session keys)."""
        self = cls.__new__(cls)
        self._init(Profile(profile), keys, replay_window, allow_repeat_tx)
        return self

    def _init(
        self, profile: Profile, keys: SessionKeys, window: int, allow_repeat_tx: bool
    ) -> None:
        p = profile.params
        self.profile = profile
        self._window_size = check_window_size(window)
        self._allow_repeat_tx = allow_repeat_tx
        self._rtp_tag = p.rtp_tag_length
        self._rtcp_tag = p.rtcp_tag_length
        self._aead = p.aead
        for name, key, n in (
            ("rtp_key", keys.rtp_key, p.key_length),
            ("rtcp_key", keys.rtcp_key, p.key_length),
            ("rtp_salt", keys.rtp_salt, p.salt_length),
            ("rtcp_salt", keys.rtcp_salt, p.salt_length),
            ("rtp_auth_key", keys.rtp_auth_key, p.auth_key_length),
            ("rtcp_auth_key", keys.rtcp_auth_key, p.auth_key_length),
        ):
            if len(key) != n:
                raise ValueError(f"{profile.name}: {name} must be {n} bytes, not {len(key)}")
        if self._aead:
            # RFC 7714 §8.1: IV = (00 00 || SSRC || ROC || SEQ) XOR salt (12 octets).
            self._rtp_gcm = AESGCM(keys.rtp_key)
            self._rtcp_gcm = AESGCM(keys.rtcp_key)
            self._rtp_salt = int.from_bytes(keys.rtp_salt)
            self._rtcp_salt = int.from_bytes(keys.rtcp_salt)
        else:
            # RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16).
            self._rtp_ctr = _ctr(keys.rtp_key)
            self._rtcp_ctr = _ctr(keys.rtcp_key)
            self._rtp_salt = int.from_bytes(keys.rtp_salt) << 16
            self._rtcp_salt = int.from_bytes(keys.rtcp_salt) << 16
            self._rtp_hmac = hmac.HMAC(keys.rtp_auth_key, hashes.SHA1())
            self._rtcp_hmac = hmac.HMAC(keys.rtcp_auth_key, hashes.SHA1())
        self._rtp_tx: dict[int, ReplayWindow] = {}
        self._rtp_rx: dict[int, ReplayWindow] = {}
        self._rtcp_tx: dict[int, int] = {}  # SSRC -> last SRTCP index sent
        self._rtcp_rx: dict[int, ReplayWindow] = {}

    def __repr__(self) -> str:
        return f"<PureSrtpContext {self.profile.name}>"

    # --- state ----------------------------------------------------------------------------

    def roc(self, ssrc: int, *, outbound: bool = False) -> int | None:
        """The rollover counter of ``ssrc``'s stream (RFC 3711 §3.3.1), None before its first
        packet."""
        window = (self._rtp_tx if outbound else self._rtp_rx).get(ssrc)
        return None if window is None or window.top < 0 else window.top >> 16

    def set_roc(self, ssrc: int, roc: int, seq: int = 0, *, outbound: bool = False) -> None:
        """Start ``ssrc``'s stream at index ``2^16 * roc + seq``: RFC 3711 §3.3.1, "Receivers
        joining an on-going session MUST be given the current ROC value using out-of-band
        signaling"."""
        if not 0 <= roc <= 0xFFFF_FFFF or not 0 <= seq <= 0xFFFF:
            raise ValueError("ROC is 32 bits and SEQ 16 bits")
        window = ReplayWindow(self._window_size)
        window.top = (roc << 16) | seq
        (self._rtp_tx if outbound else self._rtp_rx)[ssrc] = window

    def srtcp_index(self, ssrc: int) -> int:
        """The SRTCP index last sent for ``ssrc`` (0 before the first packet)."""
        return self._rtcp_tx.get(ssrc, 0)

    def set_srtcp_index(self, ssrc: int, index: int) -> None:
        """Continue the SRTCP index after a re-key: RFC 3711 §3.4, "after a re-key, the SRTCP
        index MUST NOT be reset to zero again".  The next packet sent carries ``index + 1``."""
        if not 0 <= index <= _MAX_SRTCP_INDEX:
            raise ValueError("the SRTCP index is 31 bits")
        self._rtcp_tx[ssrc] = index

    # --- SRTP -----------------------------------------------------------------------------
    # The two hot paths inline the header parse (fast path: no CSRC, no extension), the
    # index estimate (_estimate) and the replay check (ReplayWindow.check): each avoided call
    # is measurable against a 1 µs AES-GCM operation (bench/bench_srtp.py).

    def protect_rtp(self, packet: bytes) -> bytes:
        """RFC 3711 §3.3 (AES-CM: encrypt the payload, append HMAC-SHA1 over the packet and the
        ROC) or RFC 7714 §8 (AES-GCM over the payload, the header as associated data)."""
        n = len(packet)
        if n < 12:
            raise ParseError(f"RTP packet of {n} bytes is shorter than its header", 0)
        b0, seq, ssrc = _B0_SEQ_SSRC.unpack_from(packet)
        hlen = 12 if b0 == 0x80 else _rtp_header_length(packet, n, 0)
        window = self._rtp_tx.get(ssrc)
        if window is None:
            window = self._rtp_tx[ssrc] = ReplayWindow(self._window_size)
        index = _estimate(window, seq)
        delta = window.top - index
        if delta >= 0 and (delta >= window.size or (window.mask >> delta) & 1) and not (
            self._allow_repeat_tx and delta < window.size
        ):
            raise SrtpReplayError(
                f"SSRC {ssrc:#010x}: index {index} was already protected or is behind the window"
            )
        view = memoryview(packet)
        if self._aead:
            nonce = (self._rtp_salt ^ (ssrc << 48) ^ index).to_bytes(12)
            header = packet[:hlen]
            out = header + self._rtp_gcm.encrypt(nonce, view[hlen:], header)
        else:
            ctr = self._rtp_ctr
            ctr.reset_nonce((self._rtp_salt ^ (ssrc << 64) ^ (index << 16)).to_bytes(16))
            out = packet[:hlen] + ctr.update(view[hlen:])
            mac = self._rtp_hmac.copy()
            mac.update(out)
            mac.update(_U32_PACK(index >> 16))
            out += mac.finalize()[: self._rtp_tag]
        window.add(index)
        return out

    def unprotect_rtp(self, packet: bytes) -> bytes:
        """RFC 3711 §3.3 receiver steps: estimate the index (§3.3.1), check the replay list
        (§3.3.2), verify the tag, decrypt, then update ROC, s_l and the replay list."""
        n = len(packet)
        tag = self._rtp_tag
        if n < 12 + tag:
            raise ParseError(f"SRTP packet of {n} bytes is shorter than its header and tag", 0)
        b0, seq, ssrc = _B0_SEQ_SSRC.unpack_from(packet)
        hlen = 12 if b0 == 0x80 else _rtp_header_length(packet, n, tag)
        window = self._rtp_rx.get(ssrc)
        known = window is not None
        if window is None:
            window = ReplayWindow(self._window_size)
        # RFC 3711 Appendix A, as _estimate():
        top = window.top
        if top <= 0x8000:
            index = seq
        else:
            roc = top >> 16
            s_l = top & 0xFFFF
            if s_l < 0x8000:
                if seq - s_l > 0x8000:
                    roc -= 1
            elif s_l - 0x8000 > seq:
                roc += 1
            index = (roc << 16) | seq
        # RFC 3711 §3.3.2: "Only packets with index ahead of the window, or, inside the window
        # but not already received, SHALL be accepted."
        delta = top - index
        if delta >= 0 and (delta >= window.size or (window.mask >> delta) & 1):
            raise SrtpReplayError(f"SSRC {ssrc:#010x}: index {index} replayed or too old")
        view = memoryview(packet)
        if self._aead:
            nonce = (self._rtp_salt ^ (ssrc << 48) ^ index).to_bytes(12)
            header = packet[:hlen]
            try:
                out = header + self._rtp_gcm.decrypt(nonce, view[hlen:], header)
            except InvalidTag:
                raise SrtpAuthenticationError(
                    f"SSRC {ssrc:#010x} index {index}: AES-GCM tag does not verify"
                ) from None
        else:
            end = n - tag
            mac = self._rtp_hmac.copy()
            mac.update(view[:end])
            mac.update(_U32_PACK(index >> 16))
            if not compare_digest(mac.finalize()[:tag], view[end:]):
                raise SrtpAuthenticationError(
                    f"SSRC {ssrc:#010x} index {index}: HMAC-SHA1 tag does not verify"
                )
            ctr = self._rtp_ctr
            ctr.reset_nonce((self._rtp_salt ^ (ssrc << 64) ^ (index << 16)).to_bytes(16))
            out = packet[:hlen] + ctr.update(view[hlen:end])
        window.add(index)
        if not known:
            self._rtp_rx[ssrc] = window
        return out

    # --- SRTCP ----------------------------------------------------------------------------

    def protect_rtcp(self, packet: bytes, *, encrypt: bool = True) -> bytes:
        """RFC 3711 §3.4 / RFC 7714 §9: encrypt from the ninth octet on (unless ``encrypt`` is
        False: E=0, authenticated only), append E || SRTCP index and the tag."""
        n = len(packet)
        if n < 8:
            raise ParseError(f"RTCP packet of {n} bytes is shorter than 8", 0)
        if packet[0] & 0xC0 != 0x80:
            raise ParseError(f"RTCP version {packet[0] >> 6}, expected 2", 0)
        ssrc = U32.unpack_from(packet, 4)[0]
        index = self._rtcp_tx.get(ssrc, 0) + 1
        if index > _MAX_SRTCP_INDEX:
            raise InvalidStateError(
                "SRTCP index exhausted: RFC 7714 §9.4 'A new master key MUST be established"
                " before the 31-bit SRTCP index cycles back to its original value'"
            )
        self._rtcp_tx[ssrc] = index
        word = U32.pack(index | _E_FLAG if encrypt else index)
        if self._aead:
            nonce = (self._rtcp_salt ^ (ssrc << 48) ^ index).to_bytes(12)
            gcm = self._rtcp_gcm
            if encrypt:
                return packet[:8] + gcm.encrypt(nonce, packet[8:], packet[:8] + word) + word
            return packet + gcm.encrypt(nonce, b"", packet + word) + word
        if encrypt:
            ctr = self._rtcp_ctr
            ctr.reset_nonce((self._rtcp_salt ^ (ssrc << 64) ^ (index << 16)).to_bytes(16))
            out = packet[:8] + ctr.update(packet[8:]) + word
        else:
            out = packet + word
        mac = self._rtcp_hmac.copy()
        mac.update(out)
        return out + mac.finalize()[: self._rtcp_tag]

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        """RFC 3711 §3.4 / RFC 7714 §9: check the SRTCP index against the replay list, verify
        the tag, decrypt when the E flag is set."""
        n = len(packet)
        tag = self._rtcp_tag
        if n < 12 + tag:
            raise ParseError(f"SRTCP packet of {n} bytes is shorter than {12 + tag}", 0)
        if packet[0] & 0xC0 != 0x80:
            raise ParseError(f"RTCP version {packet[0] >> 6}, expected 2", 0)
        ssrc = U32.unpack_from(packet, 4)[0]
        window = self._rtcp_rx.get(ssrc)
        known = window is not None
        if window is None:
            window = ReplayWindow(self._window_size)
        if self._aead:
            # RFC 7714 §17: header (8) | cipher and tag | ESRTCP word (E=1), or
            # RTCP packet | tag | ESRTCP word (E=0); the ESRTCP word is the end of the AAD.
            word = packet[n - 4 :]
            e_index = U32.unpack(word)[0]
            index = e_index & _MAX_SRTCP_INDEX
            if not window.check(index):
                raise SrtpReplayError(f"SSRC {ssrc:#010x}: SRTCP index {index} replayed or too old")
            nonce = (self._rtcp_salt ^ (ssrc << 48) ^ index).to_bytes(12)
            try:
                if e_index & _E_FLAG:
                    out = packet[:8] + self._rtcp_gcm.decrypt(
                        nonce, packet[8 : n - 4], packet[:8] + word
                    )
                else:
                    out = packet[: n - 20]
                    self._rtcp_gcm.decrypt(nonce, packet[n - 20 : n - 4], out + word)
            except InvalidTag:
                raise SrtpAuthenticationError(
                    f"SSRC {ssrc:#010x} SRTCP index {index}: AES-GCM tag does not verify"
                ) from None
        else:
            end = n - tag
            e_index = U32.unpack_from(packet, end - 4)[0]
            index = e_index & _MAX_SRTCP_INDEX
            if not window.check(index):
                raise SrtpReplayError(f"SSRC {ssrc:#010x}: SRTCP index {index} replayed or too old")
            mac = self._rtcp_hmac.copy()
            mac.update(packet[:end])
            if not compare_digest(mac.finalize()[:tag], packet[end:]):
                raise SrtpAuthenticationError(
                    f"SSRC {ssrc:#010x} SRTCP index {index}: HMAC-SHA1 tag does not verify"
                )
            if e_index & _E_FLAG:
                ctr = self._rtcp_ctr
                ctr.reset_nonce((self._rtcp_salt ^ (ssrc << 64) ^ (index << 16)).to_bytes(16))
                out = packet[:8] + ctr.update(packet[8 : end - 4])
            else:
                out = packet[: end - 4]
        window.add(index)
        if not known:
            self._rtcp_rx[ssrc] = window
        return out
