"""DTLS record hot path: protect + unprotect of one 1200-byte application-data record with
AES-128-GCM (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), rtcstack's RecordLayer vs OpenSSL's DTLS
1.2 through pyOpenSSL (what aiortc uses), both in memory.

rtcstack: ``RecordLayer.protect`` on the sending side, then ``parse_datagram`` and
``RecordLayer.unprotect`` (replay window + tag check) on the receiving side.  Reference: after an
in-memory pyOpenSSL handshake pinned to ECDHE-ECDSA-AES128-GCM-SHA256, ``send`` on the client,
``bio_read`` the datagram, ``bio_write`` it into the server and ``recv`` it.  Both return the
payload, which must equal the one sent.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable
from typing import Any

import OpenSSL
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from OpenSSL import SSL

from bench.harness import Case
from rtcstack.dtls.constants import ContentType
from rtcstack.dtls.record import RecordCipher, RecordLayer, parse_datagram

REFERENCE = f"pyOpenSSL {OpenSSL.__version__} DTLS"
TARGET_RATIO = 1.0

PAYLOAD = bytes(range(256)) * 4 + bytes(1200 - 1024)
_APP = int(ContentType.APPLICATION_DATA)


def _layers() -> tuple[RecordLayer, RecordLayer]:
    """A sending and a receiving record layer in epoch 1 with the same AES-128-GCM keys."""
    key, salt = os.urandom(16), os.urandom(4)
    tx, rx = RecordLayer(), RecordLayer()
    tx.set_write_cipher(1, RecordCipher.create("aes-gcm", key, salt))
    rx.set_read_cipher(1, RecordCipher.create("aes-gcm", key, salt))
    return tx, rx


def _ours() -> Callable[[], bytes | None]:
    tx, rx = _layers()
    protect, unprotect = tx.protect, rx.unprotect

    def round_trip() -> bytes | None:
        records, _ = parse_datagram(protect(_APP, PAYLOAD))
        return unprotect(records[0])

    return round_trip


def _ours_connected() -> Callable[[], bytes | None]:
    """The connected endpoint's path: one application record per datagram, no Record."""
    tx, rx = _layers()
    protect, unprotect = tx.protect_application, rx.unprotect_application

    def round_trip() -> bytes | None:
        return unprotect(protect(PAYLOAD))

    return round_trip


def _theirs() -> Callable[[], bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "bench")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )

    def context() -> Any:
        ctx = SSL.Context(SSL.DTLS_METHOD)
        ctx.set_cipher_list(b"ECDHE-ECDSA-AES128-GCM-SHA256")
        ctx.use_certificate(cert)
        ctx.use_privatekey(key)
        return ctx

    client, server = SSL.Connection(context()), SSL.Connection(context())
    client.set_connect_state()
    server.set_accept_state()

    def pump(src: Any, dst: Any) -> None:
        while True:
            try:
                dst.bio_write(src.bio_read(65536))
            except SSL.WantReadError:
                return

    for _ in range(10):
        for side in (client, server):
            with contextlib.suppress(SSL.WantReadError):
                side.do_handshake()
        pump(client, server)
        pump(server, client)
    if client.get_cipher_name() != "ECDHE-ECDSA-AES128-GCM-SHA256":
        raise RuntimeError("the pyOpenSSL reference handshake did not complete")
    send, bio_read, bio_write, recv = client.send, client.bio_read, server.bio_write, server.recv

    def round_trip() -> bytes:
        send(PAYLOAD)
        bio_write(bio_read(2048))
        data: bytes = recv(2048)
        return data

    return round_trip


def cases() -> list[Case]:
    return [
        Case(
            name="AES-128-GCM application data protect+unprotect 1200 B",
            rtcstack=_ours(),
            reference=_theirs(),
            expect=PAYLOAD,
        ),
        Case(
            name="the same on a connected endpoint's fast path (one record a datagram)",
            rtcstack=_ours_connected(),
            reference=_theirs(),
            expect=PAYLOAD,
        ),
    ]
