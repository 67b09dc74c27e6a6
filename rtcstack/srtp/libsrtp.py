"""The libsrtp backend: :class:`SrtpContext` on ``pylibsrtp`` (imported when first used).

Two libsrtp sessions per context: one ``ssrc_any_outbound`` for
``protect_*`` and one ``ssrc_any_inbound`` for ``unprotect_*``.  libsrtp's error codes map to
the layer's three errors (RFC 3711 §3.3): ``auth_fail`` (and ``cipher_fail``, which some
libsrtp versions return for a bad AES-GCM tag) to :class:`SrtpAuthenticationError`,
``replay_fail``/``replay_old`` to :class:`SrtpReplayError`, and the rest (``bad_param`` for a
truncated packet, ``parse_err``) to ``ParseError``.
"""

from __future__ import annotations

from typing import Any

from rtcstack.common.errors import InvalidStateError, ParseError
from rtcstack.srtp.context import SrtpContext
from rtcstack.srtp.errors import SrtpAuthenticationError, SrtpReplayError
from rtcstack.srtp.profiles import Profile
from rtcstack.srtp.replay import DEFAULT_WINDOW_SIZE, check_window_size

__all__ = ["LibsrtpContext", "available"]

_AUTH = ("authentication failure", "cipher failure", "no appropriate context found")
_REPLAY = ("replay check failed", "packet index is too old")
_BUFFER = 1500  # pylibsrtp's fixed per-session buffer


def available() -> bool:
    """Whether ``pylibsrtp`` can be imported (the ``libsrtp`` extra)."""
    try:
        import pylibsrtp  # noqa: F401
    except ImportError:
        return False
    return True


class LibsrtpContext(SrtpContext):
    """libsrtp through pylibsrtp; same behaviour and bytes as :class:`PureSrtpContext`."""

    backend = "libsrtp"

    def __init__(
        self,
        profile: Profile,
        master_key: bytes,
        master_salt: bytes,
        *,
        replay_window: int = DEFAULT_WINDOW_SIZE,
        allow_repeat_tx: bool = False,
    ) -> None:
        import pylibsrtp

        self.profile = Profile(profile)
        if len(master_key) != self.profile.key_length:
            raise ValueError(f"{self.profile.name}: master key must be {profile.key_length} bytes")
        if len(master_salt) != self.profile.salt_length:
            raise ValueError(
                f"{self.profile.name}: master salt must be {profile.salt_length} bytes"
            )
        self._lib: Any = pylibsrtp
        self._key = master_key + master_salt
        self._window = check_window_size(replay_window)
        self._allow_repeat_tx = allow_repeat_tx
        self._profile_id = {
            Profile.AES128_CM_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
            Profile.AES128_CM_HMAC_SHA1_32: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
            Profile.AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
            Profile.AEAD_AES_256_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
        }[self.profile]
        self._error: type[Exception] = pylibsrtp.Error
        tx, rx = self._session(True), self._session(False)
        self._protect, self._protect_rtcp = tx.protect, tx.protect_rtcp
        self._unprotect, self._unprotect_rtcp = rx.unprotect, rx.unprotect_rtcp

    def __repr__(self) -> str:
        return f"<LibsrtpContext {self.profile.name}>"

    def _session(self, outbound: bool) -> Any:
        Policy = self._lib.Policy
        policy = Policy(
            key=self._key,
            ssrc_type=Policy.SSRC_ANY_OUTBOUND if outbound else Policy.SSRC_ANY_INBOUND,
            srtp_profile=self._profile_id,
        )
        policy.window_size = self._window
        policy.allow_repeat_tx = self._allow_repeat_tx
        return self._lib.Session(policy)

    def _fail(self, exc: Exception) -> Exception:
        """The layer's error for a pylibsrtp failure (raised by the caller)."""
        reason = str(exc)
        if not isinstance(exc, self._error):  # ValueError: "packet is too long"
            return ParseError(f"pylibsrtp: {reason} (its buffer holds {_BUFFER} bytes)", 0)
        if reason.startswith(_AUTH):
            return SrtpAuthenticationError(f"libsrtp: {reason}")
        if reason.startswith(_REPLAY):
            return SrtpReplayError(f"libsrtp: {reason}")
        if reason == "can't use key any more":
            return InvalidStateError(f"libsrtp: {reason}")
        return ParseError(f"libsrtp: {reason}", 0)

    def protect_rtp(self, packet: bytes) -> bytes:
        try:
            return self._protect(packet)  # type: ignore[no-any-return]
        except (self._error, ValueError) as exc:
            raise self._fail(exc) from None

    def unprotect_rtp(self, packet: bytes) -> bytes:
        try:
            return self._unprotect(packet)  # type: ignore[no-any-return]
        except (self._error, ValueError) as exc:
            raise self._fail(exc) from None

    def protect_rtcp(self, packet: bytes) -> bytes:
        try:
            return self._protect_rtcp(packet)  # type: ignore[no-any-return]
        except (self._error, ValueError) as exc:
            raise self._fail(exc) from None

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        try:
            return self._unprotect_rtcp(packet)  # type: ignore[no-any-return]
        except (self._error, ValueError) as exc:
            raise self._fail(exc) from None
