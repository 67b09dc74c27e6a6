"""DTLS 1.2 record layer (rtcstack/dtls/record.py): RFC 6347 §4.1 header codec, several records
per datagram, RFC 5246 §6.2.3.3 AEAD protection with the RFC 5288 §3 (AES-GCM) and RFC 7905 §2
(ChaCha20-Poly1305) nonces, the RFC 6347 §4.1.2.6 replay window and the RecordLayer state.

The RFCs give no record vectors; the known-answer tests rebuild each record from the RFC
definitions with ``cryptography``'s AEAD classes directly, and an OpenSSL DTLS 1.2 record (via
pyOpenSSL, in memory) is decrypted with keys derived from its master secret.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcstack.common import InvalidStateError, ParseError, TraceRecorder
from rtcstack.dtls.constants import DTLS_1_0, DTLS_1_2, CipherSuite, ContentType
from rtcstack.dtls.errors import DtlsAuthenticationError
from rtcstack.dtls.keys import SUITES
from rtcstack.dtls.record import (
    MAX_CIPHERTEXT,
    MAX_PLAINTEXT,
    MAX_SEQUENCE_NUMBER,
    Record,
    RecordCipher,
    RecordLayer,
    ReplayWindow,
    parse_datagram,
)

HANDSHAKE, APP, ALERT, CCS = 22, 23, 21, 20
KINDS = [("aes-gcm", 16, 4), ("aes-gcm", 32, 4), ("chacha20-poly1305", 32, 12)]
KIND_IDS = ["aes128gcm", "aes256gcm", "chacha20"]


def _cipher(kind: str, key_len: int, iv_len: int, seed: int = 1) -> RecordCipher:
    key = bytes((seed + i) & 0xFF for i in range(key_len))
    iv = bytes((seed * 7 + i) & 0xFF for i in range(iv_len))
    return RecordCipher.create(kind, key, iv)  # type: ignore[arg-type]


# --- the header codec ------------------------------------------------------------------------


def test_header_exact_bytes_and_fields() -> None:
    record = Record(HANDSHAKE, DTLS_1_2, 1, 0x0102030405, b"abc")
    wire = record.serialize()
    assert wire == bytes.fromhex("16 fefd 0001 000102030405 0003 616263")
    assert Record.parse(wire) == record
    parsed = Record.parse(bytes.fromhex("17 feff ffff ffffffffffff 0000"))
    assert parsed == Record(APP, DTLS_1_0, 0xFFFF, MAX_SEQUENCE_NUMBER, b"")


@pytest.mark.parametrize(
    "record",
    [
        Record(256, DTLS_1_2, 0, 0, b""),
        Record(-1, DTLS_1_2, 0, 0, b""),
        Record(HANDSHAKE, 0x10000, 0, 0, b""),
        Record(HANDSHAKE, DTLS_1_2, 0x10000, 0, b""),
        Record(HANDSHAKE, DTLS_1_2, -1, 0, b""),
        Record(HANDSHAKE, DTLS_1_2, 0, 1 << 48, b""),
        Record(HANDSHAKE, DTLS_1_2, 0, -1, b""),
        Record(APP, DTLS_1_2, 1, 0, bytes(MAX_CIPHERTEXT + 1)),
    ],
)
def test_serialize_rejects_out_of_range_fields(record: Record) -> None:
    with pytest.raises(ValueError):
        record.serialize()


def test_largest_fragment_serializes_and_parses() -> None:
    record = Record(APP, DTLS_1_2, 1, 7, bytes(MAX_CIPHERTEXT))
    assert Record.parse(record.serialize()) == record


@pytest.mark.parametrize(
    ("wire", "offset", "words"),
    [
        ("18 fefd 0000 000000000000 0000", 0, "content type 24"),
        ("13 fefd 0000 000000000000 0000", 0, "content type 19"),
        ("16 0303 0000 000000000000 0000", 0, "version"),
        ("16 fefc 0000 000000000000 0000", 0, "version"),
        ("17 fefd 0001 000000000000 4801", 11, "2^14 + 2048"),
        ("16 fefd 0000 000000000000 0004 616263", 13, "truncated"),
        ("16 fefd 0000 0000000000", 0, "header truncated"),
    ],
)
def test_malformed_records(wire: str, offset: int, words: str) -> None:
    data = bytes.fromhex(wire)
    records, error = parse_datagram(data)
    assert records == []
    assert isinstance(error, ParseError) and error.offset == offset and words in error.reason
    with pytest.raises(ParseError):
        Record.parse(data)


def test_record_parse_wants_exactly_one_record() -> None:
    one = Record(HANDSHAKE, DTLS_1_2, 0, 0, b"x").serialize()
    with pytest.raises(ParseError, match="found 0"):
        Record.parse(b"")
    with pytest.raises(ParseError, match="found 2"):
        Record.parse(one + one)
    with pytest.raises(ParseError, match="truncated"):
        Record.parse(one + b"\x16")


def test_several_records_per_datagram_in_order() -> None:
    records = [
        Record(HANDSHAKE, DTLS_1_2, 0, 5, b"server hello"),
        Record(CCS, DTLS_1_2, 0, 6, b"\x01"),
        Record(HANDSHAKE, DTLS_1_2, 1, 0, bytes(40)),
        Record(APP, DTLS_1_2, 1, 1, b""),
    ]
    data = b"".join(r.serialize() for r in records)
    assert parse_datagram(data) == (records, None)
    # a bad record in the middle ends the walk; the ones before it are kept
    bad = Record(24, DTLS_1_2, 0, 9, b"hb").serialize()
    got, error = parse_datagram(records[0].serialize() + bad + records[1].serialize())
    assert got == records[:1]
    assert error is not None and error.offset == len(records[0].serialize())


def test_truncation_at_every_offset() -> None:
    records = [
        Record(HANDSHAKE, DTLS_1_2, 0, 1, b"first record"),
        Record(ALERT, DTLS_1_2, 0, 2, b"\x02\x28"),
        Record(APP, DTLS_1_2, 3, 0x123456789A, bytes(range(30))),
    ]
    wires = [r.serialize() for r in records]
    data = b"".join(wires)
    ends = [sum(len(w) for w in wires[: i + 1]) for i in range(len(wires))]
    for cut in range(len(data) + 1):
        got, error = parse_datagram(data[:cut])
        complete = [r for r, end in zip(records, ends, strict=True) if end <= cut]
        assert got == complete, cut
        if cut in (0, *ends):
            assert error is None, cut
        else:
            assert isinstance(error, ParseError), cut
            assert error.offset is not None and error.offset <= cut


_records = st.builds(
    Record,
    st.sampled_from([int(t) for t in ContentType]),
    st.sampled_from([DTLS_1_0, DTLS_1_2]),
    st.integers(0, 0xFFFF),
    st.integers(0, MAX_SEQUENCE_NUMBER),
    st.binary(max_size=300),
)


@given(st.lists(_records, max_size=5))
def test_serialize_parse_round_trip(records: list[Record]) -> None:
    data = b"".join(r.serialize() for r in records)
    assert parse_datagram(data) == (records, None)
    for record in records:
        assert Record.parse(record.serialize()) == record


@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_records_or_a_parse_error(data: bytes) -> None:
    records, error = parse_datagram(data)
    assert error is None or isinstance(error, ParseError)
    assert b"".join(r.serialize() for r in records) == data[: sum(13 + len(r.fragment)
                                                                   for r in records)]
    try:
        record = Record.parse(data)
    except ParseError:
        return
    assert record.serialize() == data


# --- record protection -----------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "key_len", "iv_len"), KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("size", [0, 1, 1200, MAX_PLAINTEXT])
def test_cipher_round_trip(kind: str, key_len: int, iv_len: int, size: int) -> None:
    tx, rx = _cipher(kind, key_len, iv_len), _cipher(kind, key_len, iv_len)
    plaintext = bytes(i & 0xFF for i in range(size))
    fragment = tx.encrypt(APP, DTLS_1_2, 1, 42, plaintext)
    assert len(fragment) == size + tx.overhead
    assert tx.overhead == (24 if kind == "aes-gcm" else 16)
    if kind == "aes-gcm":  # RFC 5288 §3 explicit nonce: rtcstack sends epoch || seq
        assert fragment[:8] == bytes.fromhex("0001 00000000002a")
    assert rx.decrypt(APP, DTLS_1_2, 1, 42, fragment) == plaintext


@pytest.mark.parametrize(("kind", "key_len", "iv_len"), KINDS, ids=KIND_IDS)
def test_any_flipped_bit_fails_authentication(kind: str, key_len: int, iv_len: int) -> None:
    cipher = _cipher(kind, key_len, iv_len)
    fragment = cipher.encrypt(HANDSHAKE, DTLS_1_2, 1, 0, b"finished verify_data")
    for bit in range(len(fragment) * 8):
        tampered = bytearray(fragment)
        tampered[bit // 8] ^= 0x80 >> (bit % 8)
        with pytest.raises(DtlsAuthenticationError):
            cipher.decrypt(HANDSHAKE, DTLS_1_2, 1, 0, bytes(tampered))


@pytest.mark.parametrize(("kind", "key_len", "iv_len"), KINDS, ids=KIND_IDS)
def test_aad_binds_type_version_epoch_and_sequence_number(
    kind: str, key_len: int, iv_len: int
) -> None:
    cipher = _cipher(kind, key_len, iv_len)
    fragment = cipher.encrypt(APP, DTLS_1_2, 2, 1000, b"data")
    assert cipher.decrypt(APP, DTLS_1_2, 2, 1000, fragment) == b"data"
    for args in [
        (HANDSHAKE, DTLS_1_2, 2, 1000),
        (APP, DTLS_1_0, 2, 1000),
        (APP, DTLS_1_2, 3, 1000),
        (APP, DTLS_1_2, 2, 1001),
        (APP, DTLS_1_2, 2, 1000 + (1 << 32)),
    ]:
        with pytest.raises(DtlsAuthenticationError):
            cipher.decrypt(*args, fragment)
    other = _cipher(kind, key_len, iv_len, seed=2)
    with pytest.raises(DtlsAuthenticationError):
        other.decrypt(APP, DTLS_1_2, 2, 1000, fragment)


@pytest.mark.parametrize(("kind", "key_len", "iv_len"), KINDS, ids=KIND_IDS)
def test_short_fragments_are_parse_errors(kind: str, key_len: int, iv_len: int) -> None:
    cipher = _cipher(kind, key_len, iv_len)
    fragment = cipher.encrypt(APP, DTLS_1_2, 1, 0, b"")
    for cut in range(len(fragment)):
        with pytest.raises(ParseError):
            cipher.decrypt(APP, DTLS_1_2, 1, 0, fragment[:cut])


def test_cipher_argument_checks() -> None:
    with pytest.raises(ValueError, match="16 or 32"):
        RecordCipher.create("aes-gcm", bytes(24), bytes(4))
    with pytest.raises(ValueError, match="RFC 5288"):
        RecordCipher.create("aes-gcm", bytes(16), bytes(12))
    with pytest.raises(ValueError, match="32 bytes"):
        RecordCipher.create("chacha20-poly1305", bytes(16), bytes(12))
    with pytest.raises(ValueError, match="RFC 7905"):
        RecordCipher.create("chacha20-poly1305", bytes(32), bytes(4))
    with pytest.raises(ValueError, match="unknown"):
        RecordCipher.create("aes-cbc", bytes(16), bytes(16))  # type: ignore[arg-type]
    cipher = _cipher("aes-gcm", 16, 4)
    with pytest.raises(ValueError, match="2\\^14"):
        cipher.encrypt(APP, DTLS_1_2, 1, 0, bytes(MAX_PLAINTEXT + 1))
    with pytest.raises(ValueError, match="48 bits"):
        cipher.encrypt(APP, DTLS_1_2, 1, 1 << 48, b"")
    with pytest.raises(ValueError, match="16 bits"):
        cipher.decrypt(APP, DTLS_1_2, 1 << 16, 0, bytes(24))


def test_suite_parameters_cover_the_negotiated_suites() -> None:
    assert set(SUITES) == set(CipherSuite)
    for params in SUITES.values():
        RecordCipher.create(params.cipher, bytes(params.key_length), bytes(params.fixed_iv_length))


def test_known_answer_aes_gcm_rfc5288() -> None:
    """RFC 5288 §3: nonce = salt (client_write_IV, 4) || nonce_explicit (8); RFC 5246 §6.2.3.3:
    additional_data = seq_num(8) + type(1) + version(2) + length(2); RFC 6347 §4.1.2.1:
    seq_num = epoch || sequence_number."""
    key = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    salt = bytes.fromhex("a0a1a2a3")
    plaintext = b"GET / HTTP/1.1\r\n"
    explicit = bytes.fromhex("0001 000000000007")  # epoch 1, sequence number 7
    aad = bytes.fromhex("0001000000000007" "17" "fefd" "0010")
    expected = explicit + AESGCM(key).encrypt(salt + explicit, plaintext, aad)
    cipher = RecordCipher.create("aes-gcm", key, salt)
    assert cipher.encrypt(APP, DTLS_1_2, 1, 7, plaintext) == expected
    assert cipher.decrypt(APP, DTLS_1_2, 1, 7, expected) == plaintext
    # the receiver uses the record's own explicit nonce, whatever the peer chose
    other = bytes.fromhex("1122334455667788")
    theirs = other + AESGCM(key).encrypt(salt + other, plaintext, aad)
    assert cipher.decrypt(APP, DTLS_1_2, 1, 7, theirs) == plaintext


def test_known_answer_chacha20_poly1305_rfc7905() -> None:
    """RFC 7905 §2: nonce = IV XOR (00 00 00 00 || epoch || sequence_number); no explicit
    nonce on the wire."""
    key = bytes(range(0x80, 0xA0))
    iv = bytes.fromhex("070000004041424344454647")
    plaintext = b"\x01\x02\x03 application data"
    nonce = bytes(a ^ b for a, b in zip(iv, bytes.fromhex("00000000 0003 00000000abcd"),
                                        strict=True))
    assert nonce == bytes.fromhex("07000000404242434445ed8a")
    aad = bytes.fromhex("000300000000abcd" "17" "fefd") + len(plaintext).to_bytes(2, "big")
    expected = ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)
    cipher = RecordCipher.create("chacha20-poly1305", key, iv)
    assert cipher.encrypt(APP, DTLS_1_2, 3, 0xABCD, plaintext) == expected
    assert cipher.decrypt(APP, DTLS_1_2, 3, 0xABCD, expected) == plaintext


# --- the replay window -----------------------------------------------------------------------


def test_replay_window_basics() -> None:
    window = ReplayWindow()
    assert window.size == 64
    assert window.check(0)
    window.add(0)
    assert not window.check(0)
    window.add(100)
    assert not window.check(36)  # 100 - 64: left of the window
    assert window.check(37) and window.check(99) and window.check(101)
    window.add(37)
    assert not window.check(37)
    with pytest.raises(ValueError, match="minimum window size of 32"):
        ReplayWindow(31)
    with pytest.raises(TypeError):
        ReplayWindow(True)
    ReplayWindow(32)


@settings(max_examples=300)
@given(
    st.sampled_from([32, 64, 100]),
    st.lists(st.integers(0, 400), max_size=200),
)
def test_replay_window_never_accepts_a_duplicate_nor_rejects_a_new_in_window_record(
    size: int, arrivals: list[int]
) -> None:
    window = ReplayWindow(size)
    seen: set[int] = set()
    for seq in arrivals:
        top = max(seen, default=-1)
        accepted = window.check(seq)
        if seq in seen:
            assert not accepted
        elif seq > top - size:
            assert accepted
        if accepted:
            window.add(seq)
            seen.add(seq)


# --- the record layer ------------------------------------------------------------------------


def _pair(kind: str = "aes-gcm", key_len: int = 16, iv_len: int = 4,
          **kwargs: object) -> tuple[RecordLayer, RecordLayer, RecordCipher, RecordCipher]:
    a, b = RecordLayer(**kwargs), RecordLayer(**kwargs)  # type: ignore[arg-type]
    return a, b, _cipher(kind, key_len, iv_len, 1), _cipher(kind, key_len, iv_len, 1)


def _one(layer: RecordLayer, data: bytes) -> bytes | None:
    records, error = parse_datagram(data)
    assert error is None and len(records) == 1
    return layer.unprotect(records[0])


def test_epoch_zero_is_plaintext_with_its_own_sequence_numbers() -> None:
    a, b, _, _ = _pair()
    first = a.protect(HANDSHAKE, b"client hello")
    assert first == Record(HANDSHAKE, DTLS_1_2, 0, 0, b"client hello").serialize()
    second = a.protect(HANDSHAKE, b"again", version=DTLS_1_0)
    assert Record.parse(second) == Record(HANDSHAKE, DTLS_1_0, 0, 1, b"again")
    assert _one(b, first) == b"client hello"
    assert _one(b, second) == b"again"
    assert _one(b, first) is None  # a duplicated datagram
    assert b.dropped == {"replay": 1}


@pytest.mark.parametrize(("kind", "key_len", "iv_len"), KINDS, ids=KIND_IDS)
def test_epoch_switch_both_directions(kind: str, key_len: int, iv_len: int) -> None:
    trace = TraceRecorder()
    client, server = RecordLayer(trace=trace), RecordLayer()
    c2s = (_cipher(kind, key_len, iv_len, 1), _cipher(kind, key_len, iv_len, 1))
    s2c = (_cipher(kind, key_len, iv_len, 9), _cipher(kind, key_len, iv_len, 9))
    for _ in range(3):
        assert _one(server, client.protect(HANDSHAKE, b"flight")) == b"flight"
    client.set_write_cipher(1, c2s[0])
    server.set_read_cipher(1, c2s[1])
    server.set_write_cipher(1, s2c[0])
    client.set_read_cipher(1, s2c[1])
    assert client.write_epoch == 1 and client.read_epoch == 1
    # RFC 6347 §4.1: "each sequence_number initially being 0 for each epoch"
    finished = client.protect(HANDSHAKE, b"finished")
    assert Record.parse(finished).epoch == 1 and Record.parse(finished).sequence_number == 0
    assert _one(server, finished) == b"finished"
    # a retransmitted epoch-0 record continues epoch 0's counter
    retransmit = client.protect(HANDSHAKE, b"flight", epoch=0)
    assert Record.parse(retransmit).sequence_number == 3
    assert _one(server, retransmit) == b"flight"
    assert client.next_sequence_number() == 1 and client.next_sequence_number(0) == 4
    for i in range(5):
        assert _one(client, server.protect(APP, b"pong %d" % i)) == b"pong %d" % i
        assert _one(server, client.protect(APP, b"ping %d" % i)) == b"ping %d" % i
    assert "dtls.record.write-epoch" in trace.names()
    assert server.dropped == {} and client.dropped == {}


def test_records_of_the_next_epoch_wait_for_its_keys() -> None:
    a, b, tx, rx = _pair()
    a.set_write_cipher(1, tx)
    early = [a.protect(APP, b"early %d" % i) for i in range(3)]
    for data in early:
        assert _one(b, data) is None
    assert b.pending == 3 and b.dropped == {}
    b.set_read_cipher(1, rx)
    ready = b.pop_pending()
    assert b.pending == 0
    assert [b.unprotect(r) for r in ready] == [b"early 0", b"early 1", b"early 2"]


def test_the_pending_queue_is_bounded_and_far_epochs_are_dropped() -> None:
    a, b, tx, _ = _pair(max_pending=2)
    a.set_write_cipher(1, tx)
    for _ in range(3):
        assert _one(b, a.protect(APP, b"x")) is None
    assert b.pending == 2 and b.dropped == {"pending-full": 1}
    a.set_write_cipher(2, _cipher("aes-gcm", 16, 4, 3))
    assert _one(b, a.protect(APP, b"y")) is None
    assert b.dropped["unknown-epoch"] == 1 and b.pending == 2


def test_drops_are_counted_and_traced() -> None:
    trace = TraceRecorder()
    a = RecordLayer()
    b = RecordLayer(trace=trace)
    tx, rx = _cipher("aes-gcm", 16, 4), _cipher("aes-gcm", 16, 4)
    a.set_write_cipher(1, tx)
    b.set_read_cipher(1, rx)
    good = Record.parse(a.protect(APP, b"payload"))
    # tampered: fails authentication, and does not move the window
    tampered = Record(good.content_type, good.version, 1, good.sequence_number,
                      good.fragment[:-1] + bytes([good.fragment[-1] ^ 1]))
    assert b.unprotect(tampered) is None
    assert b.unprotect(good) == b"payload"
    assert b.unprotect(good) is None  # replay
    assert b.unprotect(Record(APP, DTLS_1_2, 1, 50, bytes(10))) is None  # too short for GCM
    assert b.unprotect(Record(APP, DTLS_1_2, 1, 51, bytes(MAX_PLAINTEXT + 25))) is None
    assert b.unprotect(Record(APP, DTLS_1_2, 0, 0, b"unprotected data")) is None
    assert b.unprotect(Record(HANDSHAKE, DTLS_1_2, 0, 1, bytes(MAX_PLAINTEXT + 1))) is None
    assert b.unprotect(Record(HANDSHAKE, DTLS_1_2, 0, 2, bytes(MAX_PLAINTEXT))) is not None
    b.discard_read_epoch(0)
    assert b.unprotect(Record(HANDSHAKE, DTLS_1_2, 0, 3, b"old")) is None
    assert b.dropped == {
        "authentication": 1,
        "replay": 1,
        "malformed": 1,
        "record-overflow": 2,
        "plaintext-application-data": 1,
        "old-epoch": 1,
    }
    drops = [str(fields["reason"]) for name, fields in trace.events if name == "dtls.record.drop"]
    assert sorted(drops) == sorted(r for r, n in b.dropped.items() for _ in range(n))


def test_protect_argument_and_state_checks() -> None:
    layer = RecordLayer()
    with pytest.raises(ValueError, match="2\\^14"):
        layer.protect(APP, bytes(MAX_PLAINTEXT + 1))
    assert len(layer.protect(HANDSHAKE, bytes(MAX_PLAINTEXT))) == 13 + MAX_PLAINTEXT
    with pytest.raises(ValueError, match="content type"):
        layer.protect(24, b"")
    with pytest.raises(ValueError, match="version"):
        layer.protect(HANDSHAKE, b"", version=0x0303)
    with pytest.raises(InvalidStateError, match="no write keys"):
        layer.protect(HANDSHAKE, b"", epoch=1)
    cipher = _cipher("aes-gcm", 16, 4)
    with pytest.raises(InvalidStateError):
        layer.set_write_cipher(2, cipher)
    with pytest.raises(InvalidStateError):
        layer.set_read_cipher(0, cipher)
    with pytest.raises(TypeError):
        layer.set_write_cipher(1, object())  # type: ignore[arg-type]
    layer.set_write_cipher(1, cipher)
    with pytest.raises(InvalidStateError, match="never reused"):
        layer.set_write_cipher(1, cipher)
    with pytest.raises(InvalidStateError):
        layer.discard_read_epoch(0)  # the newest read epoch is still 0
    with pytest.raises(ValueError, match="minimum window"):
        RecordLayer(replay_window=16)


def test_sequence_numbers_never_wrap() -> None:
    layer = RecordLayer()
    layer.set_write_cipher(1, _cipher("chacha20-poly1305", 32, 12))
    layer._write_seq[1] = MAX_SEQUENCE_NUMBER  # reaching 2^48 - 1 honestly takes too long
    last = Record.parse(layer.protect(APP, b"last"))
    assert last.sequence_number == MAX_SEQUENCE_NUMBER
    with pytest.raises(InvalidStateError, match="do not wrap"):
        layer.protect(APP, b"one too many")
    # the older epoch is unaffected
    assert Record.parse(layer.protect(HANDSHAKE, b"", epoch=0)).sequence_number == 0


# --- cross-check against OpenSSL -------------------------------------------------------------


def _prf_sha256(secret: bytes, label: bytes, seed: bytes, size: int) -> bytes:
    """RFC 5246 §5 P_SHA256, written here independently of rtcstack's key schedule."""
    out, a = b"", label + seed
    while len(out) < size:
        a = hmac.new(secret, a, hashlib.sha256).digest()
        out += hmac.new(secret, a + label + seed, hashlib.sha256).digest()
    return out[:size]


@pytest.mark.parametrize(
    ("openssl_cipher", "kind", "key_len", "iv_len"),
    [("ECDHE-ECDSA-AES128-GCM-SHA256", "aes-gcm", 16, 4),
     ("ECDHE-ECDSA-CHACHA20-POLY1305", "chacha20-poly1305", 32, 12)],
    ids=["aes128gcm", "chacha20"],
)
def test_openssl_dtls_records_decrypt_and_ours_are_accepted(
    openssl_cipher: str, kind: str, key_len: int, iv_len: int
) -> None:
    """An in-memory OpenSSL DTLS 1.2 handshake (pyOpenSSL); its application data records are
    decrypted with RecordCipher using keys from RFC 5246 §6.3, and records we protect are read
    by OpenSSL."""
    ssl = pytest.importorskip("OpenSSL.SSL", reason="pyOpenSSL (comes with aiortc)")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "rtcstack-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))

    def context() -> Any:
        ctx = ssl.Context(ssl.DTLS_METHOD)
        ctx.set_cipher_list(openssl_cipher.encode())
        ctx.use_certificate(cert)
        ctx.use_privatekey(key)
        return ctx

    client, server = ssl.Connection(context()), ssl.Connection(context())
    client.set_connect_state()
    server.set_accept_state()

    def pump(src: Any, dst: Any) -> list[bytes]:
        out: list[bytes] = []
        while True:
            try:
                datagram = src.bio_read(65536)
            except ssl.WantReadError:
                return out
            out.append(datagram)
            dst.bio_write(datagram)

    for _ in range(10):
        for side in (client, server):
            with contextlib.suppress(ssl.WantReadError):
                side.do_handshake()
        pump(client, server)
        pump(server, client)
    assert client.get_cipher_name() == openssl_cipher
    master = client.master_key()
    block = _prf_sha256(master, b"key expansion",
                        client.server_random() + client.client_random(), 2 * (key_len + iv_len))
    c_key, s_key = block[:key_len], block[key_len : 2 * key_len]
    c_iv, s_iv = block[2 * key_len : 2 * key_len + iv_len], block[2 * key_len + iv_len :]

    client.send(b"hello from openssl")
    [datagram] = pump(client, server)
    record = Record.parse(datagram)
    assert record.content_type == APP and record.epoch == 1
    rx = RecordCipher.create(kind, c_key, c_iv)  # type: ignore[arg-type]
    assert rx.decrypt(APP, record.version, 1, record.sequence_number,
                      record.fragment) == b"hello from openssl"
    assert server.recv(100) == b"hello from openssl"

    # our server-side record layer, on the server's write keys, continuing its sequence numbers
    ours = RecordLayer()
    ours.set_write_cipher(1, RecordCipher.create(kind, s_key, s_iv))  # type: ignore[arg-type]
    ours._write_seq[1] = 100  # past what OpenSSL's server has used in epoch 1
    client.bio_write(ours.protect(APP, b"hello from rtcstack"))
    assert client.recv(100) == b"hello from rtcstack"
