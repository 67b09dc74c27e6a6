"""The DTLS 1.2 key schedule: RFC 5246 §5 PRF, §8.1 master secret, §6.3 key block, §7.4.9
Finished, RFC 7627 §4 extended master secret, RFC 5705 §4 exporter and RFC 5764 §4.2
``EXTRACTOR-dtls_srtp``; the cipher suite parameters of RFC 5288, RFC 5289 and RFC 7905.

Every function is a pure function of its inputs (HMAC and hashes from ``cryptography``); the
known answers are in ``rfc-vectors/rfc5246``, ``rfc7627`` and ``rfc5705`` (checked by
:mod:`rtcstack.dtls.kat`).

Hash names are the lower-case ``cryptography`` names: ``"sha256"``, ``"sha384"`` (the two TLS 1.2
PRF hashes rtcstack's suites use), plus ``"sha224"`` and ``"sha512"`` for the published vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives import hashes, hmac

from rtcstack.dtls.constants import CipherSuite
from rtcstack.dtls.record import CipherKind

__all__ = [
    "CLIENT_FINISHED",
    "EXTRACTOR_DTLS_SRTP",
    "SERVER_FINISHED",
    "SUITES",
    "VERIFY_DATA_LENGTH",
    "KeyBlock",
    "SrtpKeyingMaterial",
    "SuiteParams",
    "Transcript",
    "export_keying_material",
    "extended_master_secret",
    "hash_algorithm",
    "key_block",
    "master_secret",
    "nss_keylog_line",
    "prf",
    "srtp_keying_material",
    "verify_data",
]

_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

#: RFC 5246 §8.1: "The master secret is always exactly 48 bytes in length."
MASTER_SECRET_LENGTH: Final = 48
#: RFC 5246 §7.4.9: "In previous versions of TLS, the verify_data was always 12 octets long."
#: (and 12 for every cipher suite rtcstack knows: none sets verify_data_length).
VERIFY_DATA_LENGTH: Final = 12
CLIENT_FINISHED: Final = b"client finished"
SERVER_FINISHED: Final = b"server finished"
#: RFC 5764 §4.2: the exporter label of DTLS-SRTP.
EXTRACTOR_DTLS_SRTP: Final = b"EXTRACTOR-dtls_srtp"


def hash_algorithm(hash_name: str) -> hashes.HashAlgorithm:
    """The ``cryptography`` hash for ``"sha256"`` etc.; ``ValueError`` for any other name."""
    try:
        return _HASHES[hash_name]()
    except KeyError:
        raise ValueError(f"unknown hash {hash_name!r}; expected one of {sorted(_HASHES)}") from None


# --- cipher suites ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SuiteParams:
    """What the record layer and the key schedule need to know of one cipher suite.

    ``cipher`` is ``"aes-gcm"`` (RFC 5288 §3: a 4-byte implicit ``salt`` from the key block and an
    8-byte explicit ``nonce_explicit`` per record) or ``"chacha20-poly1305"`` (RFC 7905 §2: a
    12-byte IV from the key block XORed with the sequence number, no explicit nonce).  ``prf_hash``
    is the PRF hash (RFC 5289 §3.2 for the ``_SHA384`` suites; SHA-256 otherwise, RFC 5246 §5).
    """

    suite: CipherSuite
    cipher: CipherKind
    key_length: int
    fixed_iv_length: int
    record_iv_length: int
    tag_length: int
    prf_hash: str
    authentication: str

    @property
    def key_block_length(self) -> int:
        """Bytes of key block an AEAD suite consumes: two keys and two fixed IVs (no MAC keys)."""
        return 2 * (self.key_length + self.fixed_iv_length)


def _suite(
    suite: CipherSuite,
    cipher: CipherKind,
    key: int,
    prf_hash: str,
    auth: str,
) -> SuiteParams:
    if cipher == "aes-gcm":
        # RFC 5288 §3: "The salt is the "implicit" part of the nonce and is not sent in the
        # packet ... the client_write_IV and server_write_IV [are] 4 octets"; nonce_explicit is 8.
        return SuiteParams(suite, cipher, key, 4, 8, 16, prf_hash, auth)
    # RFC 7905 §2: "the fixed_iv_length [is] 12 ... record_iv_length is zero".
    return SuiteParams(suite, cipher, key, 12, 0, 16, prf_hash, auth)


_S = CipherSuite
SUITES: Final[dict[CipherSuite, SuiteParams]] = {
    s.suite: s
    for s in (
        _suite(_S.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "aes-gcm", 16, "sha256", "ecdsa"),
        _suite(_S.ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "aes-gcm", 32, "sha384", "ecdsa"),
        _suite(_S.ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "chacha20-poly1305", 32, "sha256",
               "ecdsa"),
        _suite(_S.ECDHE_RSA_WITH_AES_128_GCM_SHA256, "aes-gcm", 16, "sha256", "rsa"),
        _suite(_S.ECDHE_RSA_WITH_AES_256_GCM_SHA384, "aes-gcm", 32, "sha384", "rsa"),
        _suite(_S.ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "chacha20-poly1305", 32, "sha256",
               "rsa"),
    )
}


# --- the PRF ------------------------------------------------------------------------------------


def prf(hash_name: str, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """RFC 5246 §5 ``PRF(secret, label, seed) = P_<hash>(secret, label + seed)``, ``length`` bytes.

    ``P_hash(secret, seed) = HMAC_hash(secret, A(1) + seed) + HMAC_hash(secret, A(2) + seed) + ...``
    with ``A(0) = seed`` and ``A(i) = HMAC_hash(secret, A(i-1))``.
    """
    if length < 0:
        raise ValueError("length must not be negative")
    algorithm = hash_algorithm(hash_name)
    base = hmac.HMAC(secret, algorithm)  # keyed once; each step works on a copy
    full_seed = label + seed
    out = bytearray()
    a = full_seed
    while len(out) < length:
        h = base.copy()
        h.update(a)
        a = h.finalize()
        h = base.copy()
        h.update(a)
        h.update(full_seed)
        out += h.finalize()
    return bytes(out[:length])


def master_secret(hash_name: str, pre_master_secret: bytes, client_random: bytes,
                  server_random: bytes) -> bytes:
    """RFC 5246 §8.1: ``PRF(pre_master_secret, "master secret", ClientHello.random +
    ServerHello.random)[0..47]``."""
    _check_random(client_random, server_random)
    return prf(hash_name, pre_master_secret, b"master secret", client_random + server_random,
               MASTER_SECRET_LENGTH)


def extended_master_secret(hash_name: str, pre_master_secret: bytes,
                           session_hash: bytes) -> bytes:
    """RFC 7627 §4: ``PRF(pre_master_secret, "extended master secret", session_hash)[0..47]``,
    where session_hash is the hash of the handshake messages up to and including the
    ClientKeyExchange (RFC 7627 §3)."""
    return prf(hash_name, pre_master_secret, b"extended master secret", session_hash,
               MASTER_SECRET_LENGTH)


@dataclass(frozen=True, slots=True)
class KeyBlock:
    """RFC 5246 §6.3 key block of an AEAD suite: no MAC keys ("mac_key_length" is 0)."""

    client_write_key: bytes
    server_write_key: bytes
    client_write_iv: bytes
    server_write_iv: bytes


def key_block(suite: CipherSuite | SuiteParams, master: bytes, client_random: bytes,
              server_random: bytes) -> KeyBlock:
    """RFC 5246 §6.3: ``key_block = PRF(SecurityParameters.master_secret, "key expansion",
    SecurityParameters.server_random + SecurityParameters.client_random)``, partitioned as
    client_write_MAC_key, server_write_MAC_key (empty for AEAD), client_write_key,
    server_write_key, client_write_IV, server_write_IV."""
    params = suite if isinstance(suite, SuiteParams) else SUITES[CipherSuite(suite)]
    _check_random(client_random, server_random)
    block = prf(params.prf_hash, master, b"key expansion", server_random + client_random,
                params.key_block_length)
    k, iv = params.key_length, params.fixed_iv_length
    return KeyBlock(
        client_write_key=block[:k],
        server_write_key=block[k : 2 * k],
        client_write_iv=block[2 * k : 2 * k + iv],
        server_write_iv=block[2 * k + iv : 2 * k + 2 * iv],
    )


def verify_data(hash_name: str, master: bytes, finished_label: bytes | str,
                handshake_hash: bytes) -> bytes:
    """RFC 5246 §7.4.9: ``PRF(master_secret, finished_label, Hash(handshake_messages))
    [0..verify_data_length-1]``; ``finished_label`` is ``"client finished"`` or
    ``"server finished"``."""
    label = finished_label.encode("ascii") if isinstance(finished_label, str) else finished_label
    if label not in (CLIENT_FINISHED, SERVER_FINISHED):
        raise ValueError(f"finished_label must be 'client finished' or 'server finished', "
                         f"not {finished_label!r}")
    return prf(hash_name, master, label, handshake_hash, VERIFY_DATA_LENGTH)


def export_keying_material(hash_name: str, master: bytes, label: bytes | str,
                           client_random: bytes, server_random: bytes, length: int,
                           context: bytes | None = None) -> bytes:
    """RFC 5705 §4 exporter.  Without a context: ``PRF(master_secret, label, client_random +
    server_random)[length]``; with one: ``... + context_value_length + context_value``, where
    "The context value length is encoded as an unsigned, 16-bit quantity".  "Labels here have
    the same definition as in TLS, i.e., an ASCII string with no terminating NULL."  An empty
    context differs from no context (its length field is present)."""
    label_bytes = label.encode("ascii") if isinstance(label, str) else label
    if not label_bytes:
        raise ValueError("the exporter label must not be empty")
    _check_random(client_random, server_random)
    seed = client_random + server_random
    if context is not None:
        if len(context) > 0xFFFF:
            raise ValueError("the exporter context is at most 65535 bytes (uint16 length)")
        seed += len(context).to_bytes(2, "big") + context
    return prf(hash_name, master, label_bytes, seed, length)


@dataclass(frozen=True, slots=True)
class SrtpKeyingMaterial:
    """RFC 5764 §4.2 split of the ``EXTRACTOR-dtls_srtp`` export: "client_write_SRTP_master_key
    [SRTPSecurityParams.master_key_len]; server_write_SRTP_master_key[...];
    client_write_SRTP_master_salt[...]; server_write_SRTP_master_salt[...]"."""

    client_key: bytes
    server_key: bytes
    client_salt: bytes
    server_salt: bytes

    def local(self, is_client: bool) -> tuple[bytes, bytes]:
        """(master key, master salt) this endpoint protects with (RFC 5764 §4.2: "the client
        write key is used by the client to protect SRTP traffic it sends")."""
        return (self.client_key, self.client_salt) if is_client else (
            self.server_key, self.server_salt)

    def remote(self, is_client: bool) -> tuple[bytes, bytes]:
        """(master key, master salt) the peer protects with: this endpoint unprotects with it."""
        return self.local(not is_client)


def srtp_keying_material(hash_name: str, master: bytes, client_random: bytes,
                         server_random: bytes, key_length: int,
                         salt_length: int) -> SrtpKeyingMaterial:
    """RFC 5764 §4.2: export ``2 * (key_length + salt_length)`` bytes with the label
    "EXTRACTOR-dtls_srtp" and no context, and split them (keys first, then salts).  For
    SRTP_AES128_CM_HMAC_SHA1_80 that is 16 + 14, 60 bytes in all; for the RFC 7714 GCM
    profiles 16/32 + 12."""
    if key_length <= 0 or salt_length <= 0:
        raise ValueError("key and salt lengths must be positive")
    material = export_keying_material(hash_name, master, EXTRACTOR_DTLS_SRTP, client_random,
                                      server_random, 2 * (key_length + salt_length))
    k, s = key_length, salt_length
    return SrtpKeyingMaterial(
        client_key=material[:k],
        server_key=material[k : 2 * k],
        client_salt=material[2 * k : 2 * k + s],
        server_salt=material[2 * k + s :],
    )


def _check_random(client_random: bytes, server_random: bytes) -> None:
    # RFC 5246 §7.4.1.2: Random is gmt_unix_time (4) + random_bytes (28) = 32 bytes.
    if len(client_random) != 32 or len(server_random) != 32:
        raise ValueError("client_random and server_random are 32 bytes each")


# --- the handshake transcript ----------------------------------------------------------------


class Transcript:
    """The handshake messages hashed for Finished (RFC 5246 §7.4.9), the extended master secret's
    session_hash (RFC 7627 §3) and CertificateVerify (RFC 5246 §7.4.8).

    The PRF hash is only known after ServerHello, and CertificateVerify signs the messages
    themselves with the signature scheme's hash, so the bytes are kept (a DTLS handshake is a few
    kilobytes); :meth:`digest` hashes them on demand.  RFC 6347 §4.2.6: the messages enter the
    hash "as if each handshake message had been sent as a single fragment" (the DTLS 12-byte
    header with fragment_offset 0 and fragment_length = length), without HelloVerifyRequest and
    the first ClientHello of a cookie exchange: the caller feeds exactly those bytes.
    """

    __slots__ = ("_data",)

    def __init__(self, data: bytes | bytearray = b"") -> None:
        self._data = bytearray(data)

    def update(self, message: bytes) -> None:
        """Append one whole handshake message (header and body)."""
        self._data += message

    def digest(self, hash_name: str) -> bytes:
        """``Hash(handshake_messages)`` so far with ``hash_name``."""
        h = hashes.Hash(hash_algorithm(hash_name))
        h.update(bytes(self._data))
        return h.finalize()

    @property
    def data(self) -> bytes:
        """The concatenated messages (what CertificateVerify signs)."""
        return bytes(self._data)

    def copy(self) -> Transcript:
        return Transcript(self._data)

    def __len__(self) -> int:
        return len(self._data)


def nss_keylog_line(client_random: bytes, master: bytes) -> str:
    """The NSS key log line Wireshark reads: ``CLIENT_RANDOM <client_random hex> <master hex>``
    (https://firefox-source-docs.mozilla.org/security/nss/legacy/key_log_format/)."""
    if len(client_random) != 32 or len(master) != MASTER_SECRET_LENGTH:
        raise ValueError("client_random is 32 bytes and the master secret 48")
    return f"CLIENT_RANDOM {client_random.hex()} {master.hex()}"
