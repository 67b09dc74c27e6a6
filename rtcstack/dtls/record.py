"""RFC 6347 §4.1 DTLS 1.2 record layer: the record codec, AEAD record protection, the
anti-replay window and the per-connection record state.

- :class:`Record` is one ``DTLSPlaintext``/``DTLSCiphertext`` (RFC 6347 §4.1): a 13-byte header
  and a fragment.  :func:`parse_datagram` splits a datagram into its records (RFC 6347 §4.1.1:
  "Multiple DTLS records may be placed in a single datagram").
- :class:`RecordCipher` protects one direction of one epoch with an AEAD (RFC 5246 §6.2.3.3):
  AES-GCM with the RFC 5288 §3 nonce (4-byte salt || 8-byte explicit nonce) or
  ChaCha20-Poly1305 with the RFC 7905 §2 nonce (IV XOR the 64-bit sequence number).
- :class:`ReplayWindow` is the RFC 6347 §4.1.2.6 sliding window, one per read epoch.
- :class:`RecordLayer` holds both directions of a connection: the write epoch and a 48-bit
  sequence number per write epoch, the read ciphers and windows per read epoch, and drops
  invalid records silently (RFC 6347 §4.1.2.7), counting each in :attr:`RecordLayer.dropped`
  and tracing it.

Records of the next read epoch that arrive before its keys (RFC 6347 §4.1: "it is possible for
records that are protected by the newly negotiated context to be received prior to the
completion of a handshake ... Implementations MAY either buffer or discard such packets") are
kept in a small bounded queue; :meth:`RecordLayer.pop_pending` hands them back once
:meth:`RecordLayer.set_read_cipher` has installed the epoch, and the caller feeds them to
:meth:`RecordLayer.unprotect` again.

Hot path (``bench/bench_dtls_record.py``): one header ``struct`` call each way, one AEAD call
on an ``AESGCM``/``ChaCha20Poly1305`` object built once per cipher, no per-record objects
beyond the :class:`Record` itself.
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from rtcstack.common.errors import InvalidStateError, ParseError
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.dtls.constants import DTLS_1_0, DTLS_1_2, ContentType
from rtcstack.dtls.errors import DtlsAuthenticationError

__all__ = [
    "DEFAULT_REPLAY_WINDOW",
    "HEADER_SIZE",
    "MAX_CIPHERTEXT",
    "MAX_EPOCH",
    "MAX_PLAINTEXT",
    "MAX_SEQUENCE_NUMBER",
    "CipherKind",
    "Record",
    "RecordCipher",
    "RecordLayer",
    "ReplayWindow",
    "parse_datagram",
]

#: RFC 6347 §4.1: type(1), version(2), epoch(2), sequence_number(6), length(2).
HEADER_SIZE: Final = 13
#: RFC 5246 §6.2.1 TLSPlaintext.length: "The length MUST NOT exceed 2^14."
MAX_PLAINTEXT: Final = 1 << 14
#: RFC 5246 §6.2.3 TLSCiphertext.length: "The length MUST NOT exceed 2^14 + 2048."
MAX_CIPHERTEXT: Final = MAX_PLAINTEXT + 2048
MAX_EPOCH: Final = 0xFFFF
MAX_SEQUENCE_NUMBER: Final = (1 << 48) - 1
#: RFC 6347 §4.1.2.6: "a window size of 64 is preferred and SHOULD be employed as the default".
DEFAULT_REPLAY_WINDOW: Final = 64
#: RFC 6347 §4.1.2.6: "A minimum window size of 32 MUST be supported".
MIN_REPLAY_WINDOW: Final = 32
#: How many records of the next, not yet keyed, read epoch :class:`RecordLayer` keeps.
DEFAULT_MAX_PENDING: Final = 16

CipherKind = Literal["aes-gcm", "chacha20-poly1305"]

# type, version, epoch, sequence_number (high 16 bits, low 32 bits), length
_HEADER = struct.Struct("!BHHHIH")
# RFC 5246 §6.2.3.3 additional_data: seq_num(8) + type(1) + version(2) + length(2)
_AAD = struct.Struct("!QBHH")
_U64 = struct.Struct("!Q")
_CONTENT_TYPES: Final = frozenset(int(t) for t in ContentType)
_VERSIONS: Final = frozenset((DTLS_1_0, DTLS_1_2))
_APPLICATION_DATA: Final = int(ContentType.APPLICATION_DATA)
_TAG = 16
_EXPLICIT_NONCE = 8


@dataclass(frozen=True, slots=True)
class Record:
    """RFC 6347 §4.1 one DTLS record: the header fields and the (possibly protected) fragment.

    :meth:`serialize` checks that each field fits its width; :func:`parse_datagram` and
    :meth:`parse` also check the values (a known content type, a DTLS 1.0/1.2 version), so a
    record with, say, content type 24 serializes but does not parse.
    """

    content_type: int
    version: int
    epoch: int
    sequence_number: int
    fragment: bytes

    def serialize(self) -> bytes:
        """The 13-byte header followed by the fragment."""
        content_type, version, epoch = self.content_type, self.version, self.epoch
        seq, fragment = self.sequence_number, self.fragment
        if not 0 <= content_type <= 0xFF:
            raise ValueError(f"content type {content_type} does not fit in 8 bits")
        if not 0 <= version <= 0xFFFF:
            raise ValueError(f"version {version:#x} does not fit in 16 bits")
        if not 0 <= epoch <= MAX_EPOCH:
            raise ValueError(f"epoch {epoch} does not fit in 16 bits")
        if not 0 <= seq <= MAX_SEQUENCE_NUMBER:
            raise ValueError(f"sequence number {seq} does not fit in 48 bits")
        if len(fragment) > MAX_CIPHERTEXT:
            raise ValueError(
                f"fragment of {len(fragment)} bytes: RFC 5246 §6.2.3 'The length MUST NOT"
                " exceed 2^14 + 2048.'"
            )
        return _HEADER.pack(
            content_type, version, epoch, seq >> 32, seq & 0xFFFFFFFF, len(fragment)
        ) + bytes(fragment)

    @classmethod
    def parse(cls, data: bytes) -> Record:
        """Exactly one record filling ``data``; :class:`ParseError` otherwise."""
        records, error = parse_datagram(data)
        if error is not None:
            raise error
        if len(records) != 1:
            raise ParseError(f"expected exactly one DTLS record, found {len(records)}", 0)
        return records[0]


# A frozen dataclass's __init__ sets each field through object.__setattr__ (about 2 µs for five
# fields); the parser sets the slots through their descriptors instead, half the cost, with the
# same resulting value.
_new_record = object.__new__
_set_type, _set_version, _set_epoch, _set_seq, _set_fragment = (
    Record.__dict__[name].__set__
    for name in ("content_type", "version", "epoch", "sequence_number", "fragment")
)


def _make_record(
    content_type: int, version: int, epoch: int, seq: int, fragment: bytes
) -> Record:
    record = _new_record(Record)
    _set_type(record, content_type)
    _set_version(record, version)
    _set_epoch(record, epoch)
    _set_seq(record, seq)
    _set_fragment(record, fragment)
    return record


def parse_datagram(data: bytes) -> tuple[list[Record], ParseError | None]:
    """RFC 6347 §4.1.1: "Multiple DTLS records may be placed in a single datagram."

    Returns every complete, well-formed record in order.  The first truncated or malformed
    record ends the walk and is returned as the error (the records before it are still
    returned): a datagram's records cannot be resynchronised after a bad length.
    """
    records: list[Record] = []
    append = records.append
    unpack = _HEADER.unpack_from
    pos = 0
    end = len(data)
    while pos < end:
        if end - pos < HEADER_SIZE:
            return records, ParseError(
                f"DTLS record header truncated: {end - pos} of {HEADER_SIZE} bytes", pos
            )
        content_type, version, epoch, seq_hi, seq_lo, length = unpack(data, pos)
        if content_type not in _CONTENT_TYPES:
            return records, ParseError(f"unknown DTLS content type {content_type}", pos)
        if version not in _VERSIONS:
            return records, ParseError(f"DTLS record version {version:#06x} is not 1.0/1.2", pos)
        if length > MAX_CIPHERTEXT:
            return records, ParseError(
                f"DTLS record length {length}: RFC 5246 §6.2.3 'The length MUST NOT exceed"
                " 2^14 + 2048.'",
                pos + 11,
            )
        start = pos + HEADER_SIZE
        stop = start + length
        if stop > end:
            return records, ParseError(
                f"DTLS record fragment truncated: {end - start} of {length} bytes", start
            )
        append(_make_record(content_type, version, epoch, seq_hi << 32 | seq_lo, data[start:stop]))
        pos = stop
    return records, None


def _epoch_seq_error(epoch: int, seq: int) -> ValueError:
    if not 0 <= epoch <= MAX_EPOCH:
        return ValueError(f"epoch {epoch} does not fit in 16 bits")
    return ValueError(f"sequence number {seq} does not fit in 48 bits")


class RecordCipher(ABC):
    """One direction of one epoch: RFC 5246 §6.2.3.3 AEAD record protection.

    ``additional_data = seq_num + TLSCompressed.type + TLSCompressed.version +
    TLSCompressed.length`` where ``seq_num`` is epoch || sequence_number (RFC 6347 §4.1.2.1)
    and the length is the plaintext's.  Build one with :meth:`create`.
    """

    __slots__ = ("kind", "overhead")

    kind: CipherKind
    #: Bytes a protected fragment adds to its plaintext.
    overhead: int

    @staticmethod
    def create(kind: CipherKind, key: bytes, fixed_iv: bytes) -> RecordCipher:
        """``"aes-gcm"``: key of 16 or 32 bytes, the 4-byte ``fixed_iv`` salt (RFC 5288 §3);
        ``"chacha20-poly1305"``: key of 32 bytes, 12-byte ``fixed_iv`` (RFC 7905 §2)."""
        key, fixed_iv = bytes(key), bytes(fixed_iv)
        if kind == "aes-gcm":
            if len(key) not in (16, 32):
                raise ValueError(f"AES-GCM key must be 16 or 32 bytes, not {len(key)}")
            if len(fixed_iv) != 4:
                raise ValueError(
                    f"AES-GCM fixed_iv (salt) must be 4 bytes (RFC 5288 §3), not {len(fixed_iv)}"
                )
            return _GcmCipher(key, fixed_iv)
        if kind == "chacha20-poly1305":
            if len(key) != 32:
                raise ValueError(f"ChaCha20-Poly1305 key must be 32 bytes, not {len(key)}")
            if len(fixed_iv) != 12:
                raise ValueError(
                    f"ChaCha20-Poly1305 fixed_iv must be 12 bytes (RFC 7905 §2), not"
                    f" {len(fixed_iv)}"
                )
            return _ChaChaCipher(key, fixed_iv)
        raise ValueError(f"unknown record cipher {kind!r} (aes-gcm, chacha20-poly1305)")

    @abstractmethod
    def encrypt(
        self, content_type: int, version: int, epoch: int, seq: int, plaintext: bytes
    ) -> bytes:
        """The protected fragment of one record."""

    @abstractmethod
    def decrypt(
        self, content_type: int, version: int, epoch: int, seq: int, fragment: bytes
    ) -> bytes:
        """The plaintext of a protected fragment: :class:`DtlsAuthenticationError` when the tag
        does not verify, :class:`ParseError` when the fragment is too short to hold one."""

    def __repr__(self) -> str:
        return f"RecordCipher({self.kind!r})"


def _check_plaintext(plaintext: bytes) -> None:
    if len(plaintext) > MAX_PLAINTEXT:
        raise ValueError(
            f"plaintext of {len(plaintext)} bytes: RFC 5246 §6.2.1 'The length MUST NOT exceed"
            " 2^14.'"
        )


def _seq64(epoch: int, seq: int) -> int:
    """RFC 6347 §4.1.2.1: the 64-bit sequence number of the AEAD nonce and additional data is
    epoch || 48-bit sequence_number."""
    if not (0 <= epoch <= MAX_EPOCH and 0 <= seq <= MAX_SEQUENCE_NUMBER):
        raise _epoch_seq_error(epoch, seq)
    return (epoch << 48) | seq


class _GcmCipher(RecordCipher):
    """RFC 5288 §3: nonce = salt (4, from the write IV) || nonce_explicit (8); the fragment is
    ``nonce_explicit || ciphertext || tag``.  rtcstack sends epoch || sequence_number as the
    explicit nonce (unique per key, as RFC 5288 §3 requires); on receipt the record's own
    explicit nonce is used, whatever the peer chose."""

    __slots__ = ("_decrypt", "_encrypt", "_salt")

    def __init__(self, key: bytes, salt: bytes) -> None:
        aead = AESGCM(key)
        self._encrypt = aead.encrypt
        self._decrypt = aead.decrypt
        self._salt = salt
        self.kind = "aes-gcm"
        self.overhead = _EXPLICIT_NONCE + _TAG

    def encrypt(
        self, content_type: int, version: int, epoch: int, seq: int, plaintext: bytes
    ) -> bytes:
        seq64 = _seq64(epoch, seq)
        _check_plaintext(plaintext)
        explicit = _U64.pack(seq64)
        aad = _AAD.pack(seq64, content_type, version, len(plaintext))
        return explicit + self._encrypt(self._salt + explicit, plaintext, aad)

    def decrypt(
        self, content_type: int, version: int, epoch: int, seq: int, fragment: bytes
    ) -> bytes:
        seq64 = _seq64(epoch, seq)
        n = len(fragment) - _EXPLICIT_NONCE - _TAG
        if n < 0:
            raise ParseError(
                f"AES-GCM record fragment of {len(fragment)} bytes is shorter than"
                " nonce_explicit (8) + tag (16)",
                0,
            )
        aad = _AAD.pack(seq64, content_type, version, n)
        try:
            return self._decrypt(self._salt + fragment[:8], fragment[8:], aad)
        except InvalidTag:
            raise DtlsAuthenticationError(
                f"AES-GCM record (epoch {epoch}, sequence number {seq}) does not authenticate"
            ) from None


class _ChaChaCipher(RecordCipher):
    """RFC 7905 §2: nonce = write IV (12) XOR (0^32 || epoch || sequence_number); no explicit
    nonce, the fragment is ``ciphertext || tag``."""

    __slots__ = ("_decrypt", "_encrypt", "_iv")

    def __init__(self, key: bytes, iv: bytes) -> None:
        aead = ChaCha20Poly1305(key)
        self._encrypt = aead.encrypt
        self._decrypt = aead.decrypt
        self._iv = int.from_bytes(iv, "big")
        self.kind = "chacha20-poly1305"
        self.overhead = _TAG

    def encrypt(
        self, content_type: int, version: int, epoch: int, seq: int, plaintext: bytes
    ) -> bytes:
        seq64 = _seq64(epoch, seq)
        _check_plaintext(plaintext)
        aad = _AAD.pack(seq64, content_type, version, len(plaintext))
        return self._encrypt((self._iv ^ seq64).to_bytes(12, "big"), plaintext, aad)

    def decrypt(
        self, content_type: int, version: int, epoch: int, seq: int, fragment: bytes
    ) -> bytes:
        seq64 = _seq64(epoch, seq)
        n = len(fragment) - _TAG
        if n < 0:
            raise ParseError(
                f"ChaCha20-Poly1305 record fragment of {len(fragment)} bytes is shorter than"
                " its tag (16)",
                0,
            )
        aad = _AAD.pack(seq64, content_type, version, n)
        try:
            return self._decrypt((self._iv ^ seq64).to_bytes(12, "big"), fragment, aad)
        except InvalidTag:
            raise DtlsAuthenticationError(
                f"ChaCha20-Poly1305 record (epoch {epoch}, sequence number {seq}) does not"
                " authenticate"
            ) from None


class ReplayWindow:
    """RFC 6347 §4.1.2.6 anti-replay: a sliding window of ``size`` sequence numbers below the
    highest validated one, as a bitmap (RFC 4303 §3.4.3): bit ``k`` of ``mask`` is set when
    ``top - k`` was received.

    "If the received record falls within the window and is new, or if the packet is to the
    right of the window, then the receiver proceeds to MAC verification. ... The receive
    window is updated only if the MAC verification succeeds": call :meth:`check` first and
    :meth:`add` after authenticating.
    """

    __slots__ = ("_full", "mask", "size", "top")

    def __init__(self, size: int = DEFAULT_REPLAY_WINDOW) -> None:
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError("replay window size must be an int")
        if size < MIN_REPLAY_WINDOW:
            raise ValueError(
                f"replay window of {size}: RFC 6347 §4.1.2.6 'A minimum window size of 32 MUST"
                " be supported'"
            )
        self.size = size
        self._full = (1 << size) - 1
        self.top = -1  # highest sequence number received; -1 before the first
        self.mask = 0

    def check(self, seq: int) -> bool:
        """True when ``seq`` may be accepted: right of the window, or in it and not yet seen.
        "Records that contain sequence numbers lower than the 'left' edge of the window are
        rejected." """
        delta = self.top - seq
        if delta < 0:
            return True
        return delta < self.size and not (self.mask >> delta) & 1

    def add(self, seq: int) -> None:
        """Mark ``seq`` received, sliding the window right when it is the new highest."""
        delta = seq - self.top
        if delta > 0:
            self.mask = ((self.mask << delta) | 1) & self._full
            self.top = seq
        elif -delta < self.size:
            self.mask |= 1 << -delta

    def __repr__(self) -> str:
        return f"ReplayWindow(size={self.size}, top={self.top})"


# Drop reasons: the keys of RecordLayer.dropped and the ``reason`` of "dtls.record.drop".
DROP_REPLAY: Final = "replay"
DROP_AUTHENTICATION: Final = "authentication"
DROP_MALFORMED: Final = "malformed"
DROP_OVERFLOW: Final = "record-overflow"
DROP_OLD_EPOCH: Final = "old-epoch"
DROP_UNKNOWN_EPOCH: Final = "unknown-epoch"
DROP_PENDING_FULL: Final = "pending-full"
DROP_PLAINTEXT_APPLICATION_DATA: Final = "plaintext-application-data"


class _ReadEpoch:
    __slots__ = ("cipher", "window")

    def __init__(self, cipher: RecordCipher | None, window: ReplayWindow) -> None:
        self.cipher = cipher
        self.window = window


class RecordLayer:
    """RFC 6347 §4.1 the record state of one connection, both directions.

    Writing: :attr:`write_epoch` starts at 0 (plaintext); :meth:`set_write_cipher` moves to the
    next epoch.  "Sequence numbers are maintained separately for each epoch, with each
    sequence_number initially being 0 for each epoch", so :meth:`protect` can still write an
    older epoch (a retransmitted flight) with that epoch's own keys and counter.

    Reading: epoch 0 is plaintext; :meth:`set_read_cipher` adds the next epoch.  Every read
    epoch has its own :class:`ReplayWindow` (epoch 0 included: a duplicated datagram is dropped
    here, a retransmitted flight has new sequence numbers).  Older epochs stay readable
    ("Until the handshake has completed, implementations MUST accept packets from the old
    epoch") until the connection calls :meth:`discard_read_epoch`.  :meth:`unprotect` returns
    ``None`` for every record it drops and counts the reason in :attr:`dropped`; records of the
    next epoch are queued (at most ``max_pending``) for :meth:`pop_pending`.

    Not decided here, left to the connection: which content types are allowed in which state
    (except that application data is never accepted unprotected: RFC 6347 §4.1 "it is still
    impermissible to send data prior to completion of the first handshake"), the record
    version after negotiation, and buffering new-epoch application data until Finished
    (RFC 6347 §4.2.4).
    """

    __slots__ = (
        "_max_pending",
        "_pending",
        "_read",
        "_read_epoch",
        "_replay_window",
        "_write_cipher",
        "_write_ciphers",
        "_write_epoch",
        "_write_seq",
        "dropped",
        "trace",
    )

    def __init__(
        self,
        *,
        trace: Trace = NULL_TRACE,
        replay_window: int = DEFAULT_REPLAY_WINDOW,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        if max_pending < 0:
            raise ValueError("max_pending must be >= 0")
        ReplayWindow(replay_window)  # validates the size once
        self.trace = trace
        self._replay_window = replay_window
        self._max_pending = max_pending
        self._write_epoch = 0
        self._write_cipher: RecordCipher | None = None
        self._write_ciphers: dict[int, RecordCipher | None] = {0: None}
        self._write_seq: dict[int, int] = {0: 0}
        self._read_epoch = 0
        self._read: dict[int, _ReadEpoch] = {0: _ReadEpoch(None, ReplayWindow(replay_window))}
        self._pending: deque[Record] = deque()
        #: Records dropped by :meth:`unprotect`, per reason (``"replay"``, ``"authentication"``,
        #: ``"malformed"``, ``"record-overflow"``, ``"old-epoch"``, ``"unknown-epoch"``,
        #: ``"pending-full"``, ``"plaintext-application-data"``).
        self.dropped: dict[str, int] = {}

    # --- state ------------------------------------------------------------------------------

    @property
    def write_epoch(self) -> int:
        """The epoch :meth:`protect` writes by default."""
        return self._write_epoch

    @property
    def read_epoch(self) -> int:
        """The newest epoch with read keys (0 until :meth:`set_read_cipher`)."""
        return self._read_epoch

    @property
    def pending(self) -> int:
        """How many next-epoch records wait for :meth:`set_read_cipher`."""
        return len(self._pending)

    def next_sequence_number(self, epoch: int | None = None) -> int:
        """The sequence number the next record of ``epoch`` (default: the write epoch) gets."""
        e = self._write_epoch if epoch is None else epoch
        if e not in self._write_seq:
            raise InvalidStateError(f"no write state for epoch {e}")
        return self._write_seq[e]

    def skip_write_sequence_numbers(self, epoch: int, next_seq: int) -> None:
        """Make the next record of ``epoch`` use at least ``next_seq`` (never goes back).

        A stateless server answers a ClientHello with a HelloVerifyRequest carrying the
        ClientHello's record sequence number (RFC 6347 §4.2.1); after the cookie exchange it
        continues from the second ClientHello's sequence number, as OpenSSL does, so the
        client's epoch-0 replay window never sees a number twice."""
        if epoch not in self._write_seq:
            raise InvalidStateError(f"no write state for epoch {epoch}")
        if not 0 <= next_seq <= MAX_SEQUENCE_NUMBER + 1:
            raise ValueError(f"sequence number {next_seq} is not 48 bits")
        self._write_seq[epoch] = max(self._write_seq[epoch], next_seq)

    def set_write_cipher(self, epoch: int, cipher: RecordCipher) -> None:
        """Install the keys of the next write epoch and write it from now on.

        RFC 6347 §4.1: "The epoch number is initially zero and is incremented each time a
        ChangeCipherSpec message is sent"; "implementations MUST NOT allow the same epoch
        value to be reused", so ``epoch`` must be :attr:`write_epoch` + 1.
        """
        if not isinstance(cipher, RecordCipher):
            raise TypeError("cipher must be a RecordCipher (RecordCipher.create)")
        if epoch != self._write_epoch + 1 or epoch > MAX_EPOCH:
            raise InvalidStateError(
                f"write epoch {epoch} after {self._write_epoch}: epochs increase by one and are"
                " never reused (RFC 6347 §4.1)"
            )
        self._write_ciphers[epoch] = cipher
        self._write_seq[epoch] = 0
        self._write_epoch = epoch
        self._write_cipher = cipher
        self.trace("dtls.record.write-epoch", epoch=epoch, cipher=cipher.kind)

    def set_read_cipher(self, epoch: int, cipher: RecordCipher) -> None:
        """Install the keys of the next read epoch (:attr:`read_epoch` + 1), with a fresh
        replay window; queued records of that epoch are then available from
        :meth:`pop_pending`."""
        if not isinstance(cipher, RecordCipher):
            raise TypeError("cipher must be a RecordCipher (RecordCipher.create)")
        if epoch != self._read_epoch + 1 or epoch > MAX_EPOCH:
            raise InvalidStateError(
                f"read epoch {epoch} after {self._read_epoch}: epochs increase by one"
                " (RFC 6347 §4.1)"
            )
        self._read[epoch] = _ReadEpoch(cipher, ReplayWindow(self._replay_window))
        self._read_epoch = epoch
        self.trace("dtls.record.read-epoch", epoch=epoch, cipher=cipher.kind)

    def discard_read_epoch(self, epoch: int) -> None:
        """Stop accepting an older epoch (RFC 6347 §4.1: "implementations SHOULD discard packets
        from earlier epochs"; call it once the handshake has completed)."""
        if epoch >= self._read_epoch:
            raise InvalidStateError(
                f"cannot discard read epoch {epoch}: only epochs before {self._read_epoch}"
            )
        if self._read.pop(epoch, None) is not None:
            self.trace("dtls.record.discard-epoch", epoch=epoch)

    def pop_pending(self) -> list[Record]:
        """The queued records whose epoch now has read keys, oldest first; pass each to
        :meth:`unprotect`.  Queued records of a discarded epoch are dropped."""
        ready: list[Record] = []
        keep: list[Record] = []
        for record in self._pending:
            if record.epoch in self._read:
                ready.append(record)
            elif record.epoch > self._read_epoch:
                keep.append(record)
            else:
                self._drop(DROP_OLD_EPOCH, record)
        self._pending.clear()
        self._pending.extend(keep)
        return ready

    # --- the hot path -----------------------------------------------------------------------

    def protect(
        self,
        content_type: int,
        payload: bytes,
        *,
        epoch: int | None = None,
        version: int = DTLS_1_2,
    ) -> bytes:
        """One serialized record of ``payload`` in ``epoch`` (default :attr:`write_epoch`;
        epoch 0 is plaintext), taking that epoch's next sequence number."""
        if epoch is None or epoch == self._write_epoch:
            epoch = self._write_epoch
            cipher = self._write_cipher
        elif epoch in self._write_ciphers:
            cipher = self._write_ciphers[epoch]
        else:
            raise InvalidStateError(f"no write keys for epoch {epoch}")
        if content_type not in _CONTENT_TYPES:
            raise ValueError(f"content type {content_type} is not a DTLS 1.2 content type")
        if version not in _VERSIONS:
            raise ValueError(f"record version {version:#x} is not DTLS 1.0/1.2")
        if len(payload) > MAX_PLAINTEXT:
            raise ValueError(
                f"payload of {len(payload)} bytes: RFC 5246 §6.2.1 'The length MUST NOT exceed"
                " 2^14.'"
            )
        seq = self._write_seq[epoch]
        if seq > MAX_SEQUENCE_NUMBER:
            raise InvalidStateError(
                f"epoch {epoch} has used all 2^48 sequence numbers: RFC 5246 §6.1 'Sequence"
                " numbers do not wrap.'"
            )
        self._write_seq[epoch] = seq + 1
        if cipher is None:
            fragment = bytes(payload)
        else:
            fragment = cipher.encrypt(content_type, version, epoch, seq, payload)
        return _HEADER.pack(
            content_type, version, epoch, seq >> 32, seq & 0xFFFFFFFF, len(fragment)
        ) + fragment

    def protect_application(self, payload: bytes) -> bytes:
        """``protect(APPLICATION_DATA, payload)`` in the current write epoch, without the
        checks that only matter for other content types and epochs: the hot path of a
        connected endpoint (SCTP over DTLS sends a record per packet).  Anything unusual (no
        keys, an oversized payload, sequence numbers used up) takes :meth:`protect`, which
        raises as it always does."""
        epoch = self._write_epoch
        cipher = self._write_cipher
        seq = self._write_seq[epoch]
        if cipher is None or seq >= MAX_SEQUENCE_NUMBER or len(payload) > MAX_PLAINTEXT:
            return self.protect(_APPLICATION_DATA, payload)
        self._write_seq[epoch] = seq + 1
        fragment = cipher.encrypt(_APPLICATION_DATA, DTLS_1_2, epoch, seq, payload)
        return _HEADER.pack(
            _APPLICATION_DATA, DTLS_1_2, epoch, seq >> 32, seq & 0xFFFFFFFF, len(fragment)
        ) + fragment

    def unprotect_application(self, data: bytes) -> bytes | None:
        """The plaintext of ``data`` when the datagram is exactly one application-data record
        of the current read epoch that is fresh (RFC 6347 §4.1.2.6) and authenticates; else
        ``None``, and the caller takes the general path (:func:`parse_datagram` and
        :meth:`unprotect`), which handles, counts and traces everything else.  The hot path of
        a connected endpoint: no :class:`Record` is built."""
        if len(data) <= HEADER_SIZE or data[0] != _APPLICATION_DATA:
            return None
        _, version, epoch, seq_hi, seq_lo, length = _HEADER.unpack_from(data)
        if (HEADER_SIZE + length != len(data) or epoch != self._read_epoch
                or version not in _VERSIONS):
            return None
        state = self._read[epoch]
        cipher = state.cipher
        if cipher is None or length - cipher.overhead > MAX_PLAINTEXT:
            return None
        seq = seq_hi << 32 | seq_lo
        window = state.window
        if not window.check(seq):
            return None
        try:
            plaintext = cipher.decrypt(_APPLICATION_DATA, version, epoch, seq, data[HEADER_SIZE:])
        except (DtlsAuthenticationError, ParseError):
            return None
        window.add(seq)
        return plaintext

    def unprotect(self, record: Record) -> bytes | None:
        """The plaintext of ``record``, or ``None`` when it is dropped or queued.

        RFC 6347 §4.1.2.7: "invalid records SHOULD be silently discarded, thus preserving the
        association": a replay, a failed tag, a malformed or oversized fragment, an epoch that
        is discarded or unknown, each counted in :attr:`dropped` and traced as
        ``dtls.record.drop``.  A record of epoch :attr:`read_epoch` + 1 is queued instead
        (``dtls.record.queued``), up to ``max_pending``.
        """
        epoch = record.epoch
        state = self._read.get(epoch)
        if state is None:
            if epoch == self._read_epoch + 1:
                if len(self._pending) >= self._max_pending:
                    self._drop(DROP_PENDING_FULL, record)
                else:
                    self._pending.append(record)
                    self.trace("dtls.record.queued", epoch=epoch, seq=record.sequence_number)
            elif epoch <= self._read_epoch:
                self._drop(DROP_OLD_EPOCH, record)
            else:
                self._drop(DROP_UNKNOWN_EPOCH, record)
            return None
        seq = record.sequence_number
        window = state.window
        # RFC 6347 §4.1.2.6: "the receiver MUST verify that the record contains a sequence
        # number that does not duplicate the sequence number of any other record received".
        if not window.check(seq):
            self._drop(DROP_REPLAY, record)
            return None
        cipher = state.cipher
        fragment = record.fragment
        if cipher is None:
            if record.content_type == _APPLICATION_DATA:
                self._drop(DROP_PLAINTEXT_APPLICATION_DATA, record)
                return None
            if len(fragment) > MAX_PLAINTEXT:  # RFC 5246 §6.2.1 "MUST NOT exceed 2^14"
                self._drop(DROP_OVERFLOW, record)
                return None
            plaintext = fragment
        else:
            # RFC 5246 §6.2.1: plaintext "MUST NOT exceed 2^14"; checked before decrypting
            # since the AEAD overhead is fixed.
            if len(fragment) - cipher.overhead > MAX_PLAINTEXT:
                self._drop(DROP_OVERFLOW, record)
                return None
            try:
                plaintext = cipher.decrypt(
                    record.content_type, record.version, epoch, seq, fragment
                )
            except DtlsAuthenticationError:
                self._drop(DROP_AUTHENTICATION, record)
                return None
            except ParseError:
                self._drop(DROP_MALFORMED, record)
                return None
        window.add(seq)
        return plaintext

    def _drop(self, reason: str, record: Record) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        self.trace(
            "dtls.record.drop",
            reason=reason,
            content_type=record.content_type,
            epoch=record.epoch,
            seq=record.sequence_number,
        )
