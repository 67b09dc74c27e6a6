"""RFC 6347 DTLS 1.2 connection, client and server, as a sans-IO state machine.

The drive loop is the one every rtcstack layer uses (STYLE.md)::

    conn = DtlsConnection(DtlsConfig(certificate, remote_fingerprints=[("sha-256", "AB:..")]),
                          role="client")
    conn.connect(now=now)                       # the client starts; a server just waits
    conn.handle_datagram(data, now=now)         # every datagram the demultiplexer says is DTLS
    conn.handle_timeout(now=now)                # when poll_timeout() is due
    conn.poll_transmit() -> bytes | None        # datagrams to send, until None
    conn.poll_event() -> Event | None           # HandshakeComplete, ApplicationData, Closed
    conn.poll_timeout() -> float | None         # the retransmission deadline (same clock as now)

Flights (RFC 6347 §4.2.4; the table in ``docs/layers/dtls.md``)::

    client                                         server
    1  ClientHello                      -------->
                                        <--------  2  HelloVerifyRequest (stateless cookie)
    3  ClientHello (cookie)             -------->
                                                      ServerHello, Certificate,
                                                      ServerKeyExchange, CertificateRequest,
                                        <--------  4  ServerHelloDone
       Certificate, ClientKeyExchange,
       CertificateVerify, [ChangeCipherSpec],
    5  Finished                         -------->
                                        <--------  6  [ChangeCipherSpec], Finished

Flights 1, 3, 4 and 5 are retransmitted on the RFC 6347 §4.2.4.1 timer (initial 1 s, doubling,
at most 60 s) and whenever the peer retransmits its previous flight; flight 2 is stateless (it
is sent again for every ClientHello without a valid cookie); flight 6 is sent again when the
client retransmits flight 5.  Nothing the network sends raises: bad records are dropped and
counted in :attr:`DtlsConnection.dropped`, fatal problems send an alert and end in
``Closed(error)``.
"""

from __future__ import annotations

import enum
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import constant_time, hashes, hmac

from rtcstack.common.errors import InvalidStateError, ParseError
from rtcstack.common.trace import NULL_TRACE, Trace
from rtcstack.dtls import messages as m
from rtcstack.dtls.certificate import Certificate, check_fingerprint, verify_signature
from rtcstack.dtls.constants import (
    DTLS_1_0,
    DTLS_1_2,
    TLS_EMPTY_RENEGOTIATION_INFO_SCSV,
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ContentType,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    SignatureScheme,
    SrtpProfileId,
)
from rtcstack.dtls.ecdhe import KeyExchange
from rtcstack.dtls.errors import DtlsAlert
from rtcstack.dtls.keys import (
    EXTRACTOR_DTLS_SRTP,
    SUITES,
    Transcript,
    export_keying_material,
    extended_master_secret,
    key_block,
    nss_keylog_line,
    verify_data,
)
from rtcstack.dtls.record import Record, RecordCipher, RecordLayer, parse_datagram

__all__ = [
    "SRTP_KEY_SALT_LENGTHS",
    "ApplicationData",
    "Closed",
    "DtlsConfig",
    "DtlsConnection",
    "DtlsState",
    "Event",
    "HandshakeComplete",
]

#: RFC 5764 §4.1.2 / RFC 7714 §14.2: (master key, master salt) lengths of each SRTP profile, for
#: the EXTRACTOR-dtls_srtp export (RFC 5764 §4.2: 2 * (key + salt) bytes).
SRTP_KEY_SALT_LENGTHS: dict[int, tuple[int, int]] = {
    SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_80: (16, 14),
    SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_32: (16, 14),
    SrtpProfileId.SRTP_AEAD_AES_128_GCM: (16, 12),
    SrtpProfileId.SRTP_AEAD_AES_256_GCM: (32, 12),
}

DEFAULT_CIPHER_SUITES = tuple(CipherSuite)  # ECDSA first, AES-128-GCM first
DEFAULT_GROUPS = (NamedGroup.X25519, NamedGroup.SECP256R1, NamedGroup.SECP384R1)
#: What rtcstack verifies, best first (the browsers' own order for DTLS 1.2).
DEFAULT_SIGNATURE_SCHEMES = (
    SignatureScheme.ECDSA_SECP256R1_SHA256,
    SignatureScheme.RSA_PSS_RSAE_SHA256,
    SignatureScheme.RSA_PKCS1_SHA256,
    SignatureScheme.ECDSA_SECP384R1_SHA384,
    SignatureScheme.RSA_PSS_RSAE_SHA384,
    SignatureScheme.RSA_PKCS1_SHA384,
    SignatureScheme.RSA_PSS_RSAE_SHA512,
    SignatureScheme.RSA_PKCS1_SHA512,
)
DEFAULT_SRTP_PROFILES = (
    SrtpProfileId.SRTP_AEAD_AES_128_GCM,
    SrtpProfileId.SRTP_AEAD_AES_256_GCM,
    SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_80,
    SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_32,
)
_CERTIFICATE_TYPES = (64, 1)  # RFC 8422 §5.5 ecdsa_sign, RFC 5246 §7.4.4 rsa_sign
_CERTIFICATE_CURVES = {"ecdsa-p256": NamedGroup.SECP256R1, "ecdsa-p384": NamedGroup.SECP384R1}
_MAX_PENDING_APPLICATION_DATA = 32
_MAX_HELLO_VERIFY = 4  # HelloVerifyRequests a client follows before giving up


class DtlsState(enum.Enum):
    """Connection states, in protocol order (client and server paths interleaved)."""

    NEW = "new"
    WAIT_CLIENT_HELLO = "wait-client-hello"  # server: nothing or only cookie exchanges yet
    WAIT_SERVER_HELLO = "wait-server-hello"  # client: flight 1 or 3 sent
    WAIT_SERVER_HELLO_DONE = "wait-server-hello-done"  # client: reading flight 4
    WAIT_CLIENT_FINISHED = "wait-client-finished"  # server: flight 4 sent, reading flight 5
    WAIT_SERVER_FINISHED = "wait-server-finished"  # client: flight 5 sent, reading flight 6
    CONNECTED = "connected"
    CLOSED = "closed"


# Hot-path constants (an attribute lookup on an enum class costs more than a global).
_CONNECTED = DtlsState.CONNECTED
_CLOSED = DtlsState.CLOSED
_APPLICATION_DATA = int(ContentType.APPLICATION_DATA)


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    """The handshake finished: what was negotiated and the peer's certificate (DER)."""

    cipher_suite: int
    srtp_profile: int | None
    peer_certificate: bytes
    group: int | None = None  # the ECDHE group (NamedGroup)
    extended_master_secret: bool = True


@dataclass(frozen=True, slots=True)
class ApplicationData:
    data: bytes


@dataclass(frozen=True, slots=True)
class Closed:
    """The connection ended: ``error`` is None after close_notify (either side), else the alert
    sent or received (:class:`DtlsAlert`, ``remote`` tells which)."""

    error: DtlsAlert | None


Event = HandshakeComplete | ApplicationData | Closed


@dataclass(frozen=True)
class DtlsConfig:
    """What one endpoint brings to a handshake.

    ``groups``: ECDHE groups, best first; a client must include the curve of its peer's
    certificate (RFC 8422 §5.1: a browser's P-256 ECDSA certificate needs P-256 offered).
    ``remote_fingerprints``: the ``a=fingerprint`` values from the peer's SDP as
    ``(algorithm, "AB:CD:..")`` pairs (RFC 8122 §5); the peer's certificate must match one
    (RFC 8827 §6.5).  None accepts any certificate (test tools only).
    ``srtp_profiles``: offered (client) or accepted (server) in preference order; empty = no
    use_srtp.  ``require_cookie``: the server answers a ClientHello without a valid cookie with a
    HelloVerifyRequest (RFC 6347 §4.2.1).  ``mtu``: the largest datagram sent.
    ``keylog``: receives NSS key log lines (``CLIENT_RANDOM <random> <master>``).
    """

    certificate: Certificate
    remote_fingerprints: Sequence[tuple[str, str]] | None = None
    cipher_suites: Sequence[int] = DEFAULT_CIPHER_SUITES
    groups: Sequence[int] = DEFAULT_GROUPS
    signature_schemes: Sequence[int] = DEFAULT_SIGNATURE_SCHEMES
    srtp_profiles: Sequence[int] = DEFAULT_SRTP_PROFILES
    require_cookie: bool = True
    require_client_certificate: bool = True
    mtu: int = 1200
    initial_retransmit: float = 1.0
    max_retransmit: float = 60.0
    max_retransmissions: int = 7
    keylog: Callable[[str], None] | None = None
    random_bytes: Callable[[int], bytes] = os.urandom
    cookie_secret: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        unknown = [
            (what, value)
            for what, values, known in (
                ("cipher suite", self.cipher_suites, SUITES),
                ("SRTP profile", self.srtp_profiles, SRTP_KEY_SALT_LENGTHS),
                ("group", self.groups, NamedGroup._value2member_map_),
                ("signature scheme", self.signature_schemes, SignatureScheme._value2member_map_),
            )
            for value in values
            if value not in known
        ]
        if unknown:
            raise ValueError("not supported: " + ", ".join(f"{w} {v!r}" for w, v in unknown))
        if not self.cipher_suites or not self.groups or not self.signature_schemes:
            raise ValueError("cipher_suites, groups and signature_schemes must not be empty")
        if self.mtu < 256:
            raise ValueError(f"mtu {self.mtu} is too small for a DTLS handshake (at least 256)")


@dataclass(slots=True)
class _Outgoing:
    """One message of a flight: a handshake message (kept whole, fragmented at send time) or
    a ChangeCipherSpec, with the epoch it goes out in."""

    content_type: int
    epoch: int
    msg_type: int = 0
    message_seq: int = 0
    body: bytes = b""


def _aead_overhead(kind: str) -> int:
    return 8 + 16 if kind == "aes-gcm" else 16  # RFC 5288 explicit nonce + tag; RFC 7905 tag


class DtlsConnection:
    """One DTLS 1.2 association (RFC 6347) as a client or a server: see the module docstring."""

    def __init__(self, config: DtlsConfig, role: str, *, trace: Trace = NULL_TRACE) -> None:
        if role not in ("client", "server"):
            raise ValueError(f"role must be 'client' or 'server', not {role!r}")
        self.config = config
        self.role = role
        self.is_client = role == "client"
        self.state = DtlsState.NEW if self.is_client else DtlsState.WAIT_CLIENT_HELLO
        self._trace = trace
        self._random = config.random_bytes
        self._records = RecordLayer()
        self._reassembler = m.HandshakeReassembler()
        self._transmit: deque[bytes] = deque()
        self._events: deque[Event] = deque()
        self.dropped: dict[str, int] = {}
        # handshake state
        self._message_seq = 0  # next message_seq we send
        self._transcript = Transcript()
        self._flight: list[_Outgoing] = []
        self._timer: float | None = None
        self._timeout = config.initial_retransmit
        self._retransmissions = 0
        self._last_sent = float("-inf")
        self._client_random = b""
        self._server_random = b""
        self._cookie = b""
        self._hello_verify_count = 0
        self._offered_extensions: frozenset[int] = frozenset()
        self._suite: int | None = None
        self._record_limit: int | None = None  # the application record size, once known
        self._srtp_profile: int | None = None
        self._peer_certificate = b""
        self._key_exchange: KeyExchange | None = None
        self._peer_public = b""
        self._peer_group: int | None = None
        self._certificate_requested = False
        self._client_schemes: tuple[int, ...] = ()  # schemes the peer accepts from us
        self._master_secret = b""
        self._pending_data: deque[bytes] = deque()
        self._cookie_secret = config.cookie_secret or self._random(32)
        self._renegotiation_info_offered = False
        self._cv_transcript = b""  # server: the messages CertificateVerify signs
        self._peer_verified = False  # server: CertificateVerify checked
        self._completed = False  # the handshake finished once (keying material exists)

    # --- public API ---------------------------------------------------------------------------

    def connect(self, *, now: float) -> None:
        """Client: send the first ClientHello (flight 1)."""
        if not self.is_client:
            raise InvalidStateError("connect() is for the client; a server waits for a hello")
        if self.state is not DtlsState.NEW:
            raise InvalidStateError(f"connect() in state {self.state.value}")
        self._client_random = self._random(32)
        self._send_client_hello(now)

    def send(self, data: bytes) -> None:
        """Queue application data (RFC 5246 §6.2: at most 2^14 bytes per record)."""
        if self.state is not _CONNECTED:
            raise InvalidStateError(f"send() in state {self.state.value}: not connected")
        limit = self._max_record_payload()
        if len(data) <= limit:  # the common case: one record
            self._transmit.append(self._records.protect_application(data))
            return
        view = memoryview(data)
        for start in range(0, max(len(data), 1), limit):
            self._transmit.append(self._records.protect(
                ContentType.APPLICATION_DATA, bytes(view[start : start + limit])))

    def close(self) -> None:
        """Send close_notify (RFC 5246 §7.2.1) and end the connection: ``Closed(None)``."""
        if self.state is DtlsState.CLOSED:
            return
        if self.state is not DtlsState.NEW:
            self._send_alert(AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)
        self._enter_closed(None)

    def export_keying_material(
        self, label: bytes, length: int, context: bytes | None = None
    ) -> bytes:
        """RFC 5705 §4 keying material exporter (after the handshake)."""
        # Still available after the connection closed: the material outlives the association
        # that agreed it (a peer may close right after the handshake).
        if not self._completed:
            raise InvalidStateError("keying material exists only once the handshake is complete")
        if self._suite is None:
            raise InvalidStateError("no cipher suite")
        return export_keying_material(SUITES[CipherSuite(self._suite)].prf_hash,
                                      self._master_secret, label, self._client_random,
                                      self._server_random, length, context)

    def srtp_keying_material(self) -> bytes:
        """RFC 5764 §4.2: ``EXTRACTOR-dtls_srtp`` material for the negotiated SRTP profile:
        client key, server key, client salt, server salt."""
        if self._srtp_profile is None:
            raise InvalidStateError("no SRTP profile was negotiated")
        key, salt = SRTP_KEY_SALT_LENGTHS[self._srtp_profile]
        return self.export_keying_material(EXTRACTOR_DTLS_SRTP, 2 * (key + salt))

    @property
    def cipher_suite(self) -> int | None:
        return self._suite

    @property
    def srtp_profile(self) -> int | None:
        return self._srtp_profile

    @property
    def peer_certificate(self) -> bytes:
        return self._peer_certificate

    # --- drive loop ---------------------------------------------------------------------------

    def poll_transmit(self) -> bytes | None:
        return self._transmit.popleft() if self._transmit else None

    def poll_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def poll_timeout(self) -> float | None:
        return self._timer

    def handle_timeout(self, *, now: float) -> None:
        """RFC 6347 §4.2.4: on timer expiry retransmit the last flight and double the timer."""
        if self._timer is None or now < self._timer or self.state is DtlsState.CLOSED:
            return
        if self._retransmissions >= self.config.max_retransmissions:
            self._fail(DtlsAlert(AlertDescription.HANDSHAKE_FAILURE,
                                 f"no answer after {self._retransmissions} retransmissions"),
                       send=False)
            return
        self._retransmissions += 1
        self._timeout = min(self._timeout * 2, self.config.max_retransmit)
        self._trace("dtls.retransmit", reason="timer", state=self.state.value,
                    count=self._retransmissions)
        self._send_flight(now)
        self._timer = now + self._timeout

    def handle_datagram(self, data: bytes, *, now: float) -> None:
        """Feed one datagram (RFC 6347 §4.1.1: it may hold several records).  Never raises for
        anything the network sends."""
        if self.state is _CLOSED:
            self._drop("closed")
            return
        if self.state is _CONNECTED:
            plaintext = self._records.unprotect_application(data)
            if plaintext is not None:  # one fresh application record: the hot path
                self._events.append(ApplicationData(plaintext))
                return
        records, error = parse_datagram(data)
        if error is not None:
            self._drop("malformed-record", error=str(error))
        for record in records:
            if self._is_closed():
                break
            try:
                self._handle_record(record, now)
                if self._records.pending:
                    # Records of the next epoch that came before its keys (RFC 6347 §4.1:
                    # reordering across the ChangeCipherSpec) are handled once the keys exist.
                    for queued in self._records.pop_pending():
                        if not self._is_closed():
                            self._handle_record(queued, now)
            except DtlsAlert as exc:
                self._fail(exc)
            except ParseError as exc:
                if record.epoch == 0:
                    # Unauthenticated bytes: an attacker could send them, so they cannot end the
                    # handshake (RFC 6347 §4.1.2.7, "Invalid records SHOULD be silently
                    # discarded").
                    self._drop("malformed-message", error=str(exc))
                else:
                    self._fail(DtlsAlert(AlertDescription.DECODE_ERROR, str(exc)))

    def _is_closed(self) -> bool:
        return self.state is _CLOSED

    # --- records ------------------------------------------------------------------------------

    def _handle_record(self, record: Record, now: float) -> None:
        payload = self._records.unprotect(record)
        if payload is None:
            self._drop("unprotect")
            return
        kind = record.content_type
        if kind == _APPLICATION_DATA and self.state is _CONNECTED and record.epoch:
            self._events.append(ApplicationData(payload))  # the hot path, tested first
        elif kind == ContentType.HANDSHAKE:
            self._handle_handshake_record(record, payload, now)
        elif kind == ContentType.CHANGE_CIPHER_SPEC:
            # RFC 5246 §7.1: "The message consists of a single byte of value 1."
            if payload != b"\x01":
                raise ParseError("ChangeCipherSpec is not the single byte 1", 0)
            self._trace("dtls.ccs", epoch=record.epoch)
        elif kind == ContentType.ALERT:
            self._handle_alert(m.Alert.parse(payload))
        elif kind == ContentType.APPLICATION_DATA:
            if record.epoch == 0:
                self._drop("plaintext-application-data")
            elif self.state is DtlsState.CONNECTED:
                self._events.append(ApplicationData(payload))
            elif len(self._pending_data) < _MAX_PENDING_APPLICATION_DATA:
                # Data protected with the new keys can overtake the Finished that lets us
                # accept it; keep it until the handshake completes.
                self._pending_data.append(payload)
            else:
                self._drop("application-data-before-finished")

    def _handle_alert(self, alert: m.Alert) -> None:
        description = alert.description
        if description == AlertDescription.CLOSE_NOTIFY:
            # RFC 5246 §7.2.1: "the other party MUST respond with a close_notify alert of its
            # own and close down the connection immediately".
            self._trace("dtls.alert.received", description="close_notify")
            self._send_alert(AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)
            self._enter_closed(None)
        elif alert.level == AlertLevel.FATAL:
            self._enter_closed(DtlsAlert(description, "fatal alert from the peer", remote=True))
        else:
            self._trace("dtls.alert.received", level=alert.level, description=description)

    def _drop(self, reason: str, **fields: object) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        self._trace("dtls.drop", reason=reason, **fields)

    # --- handshake messages -------------------------------------------------------------------

    def _handle_handshake_record(self, record: Record, payload: bytes, now: float) -> None:
        retransmitted = False
        for fragment in m.parse_handshake_fragments(payload):
            if fragment.msg_type == HandshakeType.FINISHED and record.epoch == 0:
                self._drop("plaintext-finished")  # RFC 5246 §7.4.9: Finished follows the CCS
                continue
            if fragment.msg_type != HandshakeType.FINISHED and record.epoch > 0 and (
                self.state is not DtlsState.CONNECTED
            ):
                raise DtlsAlert(AlertDescription.UNEXPECTED_MESSAGE,
                                f"handshake message {fragment.msg_type} after ChangeCipherSpec")
            if self.state is DtlsState.WAIT_CLIENT_HELLO:
                self._server_hello_fragment(record, fragment, now)
                continue
            if self.state is DtlsState.CONNECTED:
                retransmitted |= self._connected_fragment(fragment, record.epoch)
                continue
            if fragment.message_seq < self._reassembler.next_seq:
                retransmitted = True
                continue
            self._reassembler.add(fragment)
        if retransmitted:
            self._peer_retransmitted(now)
        while self.state not in (DtlsState.CLOSED, DtlsState.CONNECTED):
            message = self._reassembler.pop()
            if message is None:
                break
            msg_type, seq, body = message
            self._handle_message(msg_type, seq, body, now)

    def _peer_retransmitted(self, now: float) -> None:
        """RFC 6347 §4.2.4: retransmit "when they receive a retransmission of the previous
        flight" (the peer lost ours).  At most once per half initial timeout: both sides
        answering every retransmission with one of their own would loop forever when a flight
        keeps failing (tampered, or lost the same way each time)."""
        if not self._flight or self._is_closed():
            return
        if now - self._last_sent < self.config.initial_retransmit / 2:
            self._drop("retransmission-rate-limited")
            return
        self._trace("dtls.retransmit", reason="peer-retransmitted", state=self.state.value)
        self._send_flight(now)

    def _connected_fragment(self, fragment: m.HandshakeFragment, epoch: int) -> bool:
        """Handshake bytes after the handshake: a retransmitted flight 5 (the server lost... our
        flight 6 was lost), or a renegotiation attempt, which is refused (RFC 5746 §4.2,
        RFC 5246 §7.2.2 no_renegotiation).  A rehandshake starts again at message_seq 0
        (RFC 6347 §4.2.2) under the current keys, so a protected ClientHello or HelloRequest is
        a renegotiation whatever its message_seq; a plaintext one is a late copy of the
        initial handshake."""
        renegotiation = fragment.msg_type in (HandshakeType.CLIENT_HELLO,
                                              HandshakeType.HELLO_REQUEST)
        if renegotiation and epoch > 0:
            if fragment.fragment_offset == 0:
                self._send_alert(AlertLevel.WARNING, AlertDescription.NO_RENEGOTIATION)
            return False
        if fragment.message_seq < self._reassembler.next_seq:
            return True
        if renegotiation:
            self._drop("plaintext-hello-after-handshake")
            return False
        self._drop("handshake-after-finished")
        return False

    def _handle_message(self, msg_type: int, seq: int, body: bytes, now: float) -> None:
        state = self.state
        self._trace("dtls.message", type=msg_type, seq=seq, state=state.value)
        if state is DtlsState.WAIT_SERVER_HELLO:
            if msg_type == HandshakeType.HELLO_VERIFY_REQUEST:
                self._on_hello_verify_request(m.HelloVerifyRequest.parse(body), now)
                return
            self._expect(msg_type, HandshakeType.SERVER_HELLO)
            self._add_transcript(msg_type, seq, body)
            self._on_server_hello(m.ServerHello.parse(body))
            self.state = DtlsState.WAIT_SERVER_HELLO_DONE
        elif state is DtlsState.WAIT_SERVER_HELLO_DONE:
            self._add_transcript(msg_type, seq, body)
            if msg_type == HandshakeType.CERTIFICATE and not self._peer_certificate:
                self._on_certificate(m.Certificate.parse(body))
            elif msg_type == HandshakeType.SERVER_KEY_EXCHANGE and self._peer_certificate and (
                self._peer_group is None
            ):
                self._on_server_key_exchange(m.ServerKeyExchange.parse(body))
            elif msg_type == HandshakeType.CERTIFICATE_REQUEST and self._peer_group is not None:
                self._on_certificate_request(m.CertificateRequest.parse(body))
            elif msg_type == HandshakeType.SERVER_HELLO_DONE and self._peer_group is not None:
                m.ServerHelloDone.parse(body)
                self._send_client_flight(now)
            else:
                raise DtlsAlert(AlertDescription.UNEXPECTED_MESSAGE,
                                f"handshake message {msg_type} in flight 4")
        elif state is DtlsState.WAIT_CLIENT_FINISHED:
            self._server_reads_flight_5(msg_type, seq, body, now)
        elif state is DtlsState.WAIT_SERVER_FINISHED:
            self._expect(msg_type, HandshakeType.FINISHED)
            self._check_finished(m.Finished.parse(body), b"server finished")
            self._add_transcript(msg_type, seq, body)
            self._flight = []
            self._complete()
        else:
            self._drop("unexpected-message", type=msg_type, state=state.value)

    @staticmethod
    def _expect(msg_type: int, wanted: HandshakeType) -> None:
        if msg_type != wanted:
            raise DtlsAlert(AlertDescription.UNEXPECTED_MESSAGE,
                            f"expected {wanted.name}, got handshake message {msg_type}")

    def _add_transcript(self, msg_type: int, seq: int, body: bytes) -> None:
        # RFC 6347 §4.2.6: the handshake hash covers each message as if it were sent in one
        # fragment (the 12-byte DTLS header with offset 0 and fragment_length = length).
        self._transcript.update(m.handshake_message_bytes(msg_type, seq, body))

    def _transcript_hash(self) -> bytes:
        if self._suite is None:
            raise InvalidStateError("no cipher suite yet")
        return self._transcript.digest(SUITES[CipherSuite(self._suite)].prf_hash)

    # --- client -------------------------------------------------------------------------------

    def _client_extensions(self) -> tuple[tuple[int, bytes], ...]:
        config = self.config
        extensions: list[tuple[int, bytes]] = [
            (ExtensionType.EXTENDED_MASTER_SECRET, b""),
            (ExtensionType.RENEGOTIATION_INFO, m.encode_renegotiation_info(b"")),
            (ExtensionType.SUPPORTED_GROUPS, m.encode_supported_groups(config.groups)),
            (ExtensionType.EC_POINT_FORMATS, m.encode_ec_point_formats((0,))),
            (ExtensionType.SIGNATURE_ALGORITHMS,
             m.encode_signature_algorithms(config.signature_schemes)),
        ]
        if config.srtp_profiles:
            extensions.append((ExtensionType.USE_SRTP,
                               m.encode_use_srtp(config.srtp_profiles, b"")))
        return tuple(extensions)

    def _send_client_hello(self, now: float) -> None:
        extensions = self._client_extensions()
        self._offered_extensions = frozenset(kind for kind, _ in extensions)
        hello = m.ClientHello(
            client_version=DTLS_1_2,
            random=self._client_random,
            session_id=b"",
            cookie=self._cookie,
            cipher_suites=tuple(self.config.cipher_suites),
            compression_methods=b"\x00",
            extensions=extensions,
        )
        seq = self._next_seq()
        body = hello.serialize()
        # RFC 6347 §4.2.1: the ClientHello of the cookie exchange and the HelloVerifyRequest are
        # not part of the handshake hash; the transcript starts (again) with this ClientHello.
        self._transcript = Transcript()
        self._add_transcript(HandshakeType.CLIENT_HELLO, seq, body)
        self._start_flight([_Outgoing(ContentType.HANDSHAKE, 0, HandshakeType.CLIENT_HELLO, seq,
                                      body)], now)
        self.state = DtlsState.WAIT_SERVER_HELLO

    def _on_hello_verify_request(self, request: m.HelloVerifyRequest, now: float) -> None:
        # RFC 6347 §4.2.1: the client resends its ClientHello with the cookie.
        self._hello_verify_count += 1
        if self._hello_verify_count > _MAX_HELLO_VERIFY:
            raise DtlsAlert(AlertDescription.HANDSHAKE_FAILURE, "too many HelloVerifyRequests")
        if request.server_version not in (DTLS_1_0, DTLS_1_2):
            raise DtlsAlert(AlertDescription.PROTOCOL_VERSION,
                            f"HelloVerifyRequest version 0x{request.server_version:04x}")
        self._cookie = request.cookie
        self._retransmissions = 0
        self._timeout = self.config.initial_retransmit
        self._send_client_hello(now)

    def _on_server_hello(self, hello: m.ServerHello) -> None:
        if hello.server_version != DTLS_1_2:
            # A DTLS 1.0 answer is a downgrade rtcstack does not accept (WebRTC requires 1.2,
            # RFC 8827 §6.5).
            raise DtlsAlert(AlertDescription.PROTOCOL_VERSION,
                            f"server chose version 0x{hello.server_version:04x}, not DTLS 1.2")
        if hello.cipher_suite not in self.config.cipher_suites:
            raise DtlsAlert(AlertDescription.ILLEGAL_PARAMETER,
                            f"server chose cipher suite 0x{hello.cipher_suite:04x}, not offered")
        if hello.compression_method != 0:
            raise DtlsAlert(AlertDescription.ILLEGAL_PARAMETER, "server chose compression")
        seen = {kind for kind, _ in hello.extensions}
        unsolicited = seen - self._offered_extensions
        if unsolicited:
            # RFC 5246 §7.4.1.4: the client "MUST abort the handshake with an
            # unsupported_extension fatal alert" for an extension it did not offer.
            raise DtlsAlert(AlertDescription.UNSUPPORTED_EXTENSION,
                            f"ServerHello has extensions not offered: {sorted(unsolicited)}")
        if ExtensionType.EXTENDED_MASTER_SECRET not in seen:
            # RFC 7627 §5.3: a client that requires it "MUST abort the handshake".
            raise DtlsAlert(AlertDescription.HANDSHAKE_FAILURE,
                            "the server did not negotiate extended_master_secret (RFC 7627)")
        extensions = dict(hello.extensions)
        info = extensions.get(ExtensionType.RENEGOTIATION_INFO)
        if info is not None and m.decode_renegotiation_info(info) != b"":
            # RFC 5746 §3.4: on the initial handshake it "MUST ... be zero length".
            raise DtlsAlert(AlertDescription.HANDSHAKE_FAILURE, "non-empty renegotiation_info")
        srtp = extensions.get(ExtensionType.USE_SRTP)
        if srtp is not None:
            chosen = m.decode_use_srtp(srtp)
            profiles, mki = chosen.profiles, chosen.mki
            # RFC 5764 §4.1.1: the server's extension holds one profile from the client's list.
            if len(profiles) != 1 or profiles[0] not in self.config.srtp_profiles or mki:
                raise DtlsAlert(AlertDescription.ILLEGAL_PARAMETER,
                                f"server use_srtp {profiles} mki={mki.hex()} not offered")
            self._srtp_profile = SrtpProfileId(profiles[0])
        self._suite = CipherSuite(hello.cipher_suite)
        self._server_random = hello.random

    def _on_certificate(self, message: m.Certificate) -> None:
        if not message.certificates:
            raise DtlsAlert(AlertDescription.HANDSHAKE_FAILURE, "the peer sent no certificate")
        der = message.certificates[0]
        if self.config.remote_fingerprints is not None:
            check_fingerprint(der, self.config.remote_fingerprints)
        self._peer_certificate = der

    def _on_server_key_exchange(self, message: m.ServerKeyExchange) -> None:
        if message.named_group not in self.config.groups:
            raise DtlsAlert(AlertDescription.ILLEGAL_PARAMETER,
                            f"server chose group {message.named_group}, not offered")
        if message.signature_scheme not in self.config.signature_schemes:
            raise DtlsAlert(AlertDescription.ILLEGAL_PARAMETER,
                            f"server signed with scheme 0x{message.signature_scheme:04x}, "
                            "not offered")
        self._check_suite_key(message.signature_scheme)
        # RFC 8422 §5.4: the signature covers ClientHello.random + ServerHello.random +
        # ServerECDHParams.
        verify_signature(self._peer_certificate, message.signature_scheme,
                         self._client_random + self._server_random + message.signed_params(),
                         message.signature)
        self._peer_group = NamedGroup(message.named_group)
        self._peer_public = message.public_key

    def _check_suite_key(self, scheme: int) -> None:
        if self._suite is None:
            return
        wanted = SUITES[CipherSuite(self._suite)].authentication
        is_ecdsa = (scheme & 0xFF) == 3
        if (wanted == "ecdsa") != is_ecdsa:
            raise DtlsAlert(AlertDescription.ILLEGAL_PARAMETER,
                            f"signature scheme 0x{scheme:04x} does not fit the {wanted} suite")

    def _on_certificate_request(self, message: m.CertificateRequest) -> None:
        self._certificate_requested = True
        self._client_schemes = tuple(message.signature_schemes)

    def _pick_scheme(self, peer_accepts: Sequence[int]) -> int:
        for scheme in self.config.certificate.signature_schemes:
            if scheme in peer_accepts:
                return int(scheme)
        raise DtlsAlert(AlertDescription.HANDSHAKE_FAILURE,
                        "no signature scheme the peer accepts fits our certificate")

    def _send_client_flight(self, now: float) -> None:
        """Flight 5: Certificate, ClientKeyExchange, CertificateVerify, ChangeCipherSpec,
        Finished (RFC 5246 §7.3)."""
        if self._peer_group is None or self._suite is None:
            raise InvalidStateError("flight 5 before ServerKeyExchange")
        flight: list[_Outgoing] = []
        if self._certificate_requested:
            body = m.Certificate((self.config.certificate.der,)).serialize()
            flight.append(self._handshake_out(HandshakeType.CERTIFICATE, body))
        exchange = KeyExchange.generate(self._peer_group, self._random)
        pre_master = exchange.shared_secret(self._peer_public)
        flight.append(self._handshake_out(
            HandshakeType.CLIENT_KEY_EXCHANGE,
            m.ClientKeyExchange(exchange.public_bytes()).serialize()))
        self._derive_keys(pre_master)
        if self._certificate_requested:
            scheme = self._pick_scheme(self._client_schemes)
            # RFC 5246 §7.4.8: the signature covers every handshake message so far.
            signature = self.config.certificate.sign(scheme, self._transcript.data)
            flight.append(self._handshake_out(
                HandshakeType.CERTIFICATE_VERIFY,
                m.CertificateVerify(scheme, signature).serialize()))
        flight.append(_Outgoing(ContentType.CHANGE_CIPHER_SPEC, 0))
        finished = m.Finished(self._verify_data(b"client finished")).serialize()
        flight.append(self._handshake_out(HandshakeType.FINISHED, finished, epoch=1))
        self._start_flight(flight, now)
        self.state = DtlsState.WAIT_SERVER_FINISHED

    def _handshake_out(self, msg_type: int, body: bytes, *, epoch: int = 0) -> _Outgoing:
        seq = self._next_seq()
        self._add_transcript(msg_type, seq, body)
        return _Outgoing(ContentType.HANDSHAKE, epoch, msg_type, seq, body)

    def _next_seq(self) -> int:
        seq = self._message_seq
        self._message_seq += 1
        return seq

    # --- server -------------------------------------------------------------------------------

    def _server_hello_fragment(self, record: Record, fragment: m.HandshakeFragment,
                               now: float) -> None:
        """A ClientHello fragment while no handshake is under way.  The server keeps no state
        for a ClientHello without a valid cookie beyond reassembling it (RFC 6347 §4.2.1)."""
        if fragment.msg_type != HandshakeType.CLIENT_HELLO:
            self._drop("expected-client-hello", type=fragment.msg_type)
            return
        if fragment.message_seq != self._reassembler.next_seq:
            # A client starts at 0 and sends 1 after a cookie exchange; follow it.
            self._reassembler = m.HandshakeReassembler(next_seq=fragment.message_seq)
        self._reassembler.add(fragment)
        message = self._reassembler.pop()
        if message is None:
            return
        _, seq, body = message
        hello = m.ClientHello.parse(body)
        if self.config.require_cookie and not self._cookie_valid(hello):
            self._send_hello_verify_request(record, hello, seq)
            self._reassembler = m.HandshakeReassembler(next_seq=seq + 1)
            return
        # Continue after the ClientHello's record sequence number (see
        # RecordLayer.skip_write_sequence_numbers): the HelloVerifyRequest used an earlier one.
        self._records.skip_write_sequence_numbers(0, record.sequence_number + 1)
        self._on_client_hello(hello, seq, body, now)

    def _cookie_for(self, hello: m.ClientHello) -> bytes:
        # RFC 6347 §4.2.1: "Cookie = HMAC(Secret, Client-IP, Client-Parameters)".  The
        # connection is bound to one peer address by its driver, so the parameters are the
        # ClientHello fields that must not change between the two hellos.
        mac = hmac.HMAC(self._cookie_secret, hashes.SHA256())
        mac.update(hello.random)
        mac.update(hello.session_id)
        mac.update(b"".join(suite.to_bytes(2, "big") for suite in hello.cipher_suites))
        return mac.finalize()[:20]

    def _cookie_valid(self, hello: m.ClientHello) -> bool:
        return bool(hello.cookie) and constant_time.bytes_eq(hello.cookie,
                                                             self._cookie_for(hello))

    def _send_hello_verify_request(self, record: Record, hello: m.ClientHello, seq: int) -> None:
        # RFC 6347 §4.2.1: "DTLS 1.2 server implementations SHOULD use DTLS version 1.0
        # regardless of the version of TLS that is expected to be negotiated", and "the server
        # MUST use the record sequence number in the ClientHello as the record sequence number
        # in the HelloVerifyRequest".
        body = m.HelloVerifyRequest(DTLS_1_0, self._cookie_for(hello)).serialize()
        fragment = m.fragment_handshake(HandshakeType.HELLO_VERIFY_REQUEST, seq, body,
                                        self.config.mtu - 13)[0]
        self._transmit.append(Record(ContentType.HANDSHAKE, DTLS_1_0, 0,
                                     record.sequence_number, fragment).serialize())
        self._trace("dtls.hello_verify_request", seq=seq)

    def _on_client_hello(self, hello: m.ClientHello, seq: int, body: bytes, now: float) -> None:
        config = self.config
        # RFC 6347 §4.1 / RFC 5246 §E.1: DTLS versions compare inverted (1.2 is 0xFEFD < 1.0).
        if hello.client_version > DTLS_1_0 or hello.client_version > DTLS_1_2:
            raise DtlsAlert(AlertDescription.PROTOCOL_VERSION,
                            f"client offers version 0x{hello.client_version:04x}, not DTLS 1.2")
        if 0 not in hello.compression_methods:
            raise DtlsAlert(AlertDescription.ILLEGAL_PARAMETER, "no null compression offered")
        extensions = dict(hello.extensions)
        if ExtensionType.EXTENDED_MASTER_SECRET not in extensions:
            # RFC 7627 §5.3: a server that requires it "MUST abort the handshake with a fatal
            # handshake_failure alert".
            raise DtlsAlert(AlertDescription.HANDSHAKE_FAILURE,
                            "the ClientHello does not offer extended_master_secret (RFC 7627)")
        info = extensions.get(ExtensionType.RENEGOTIATION_INFO)
        if info is not None:
            if m.decode_renegotiation_info(info) != b"":
                raise DtlsAlert(AlertDescription.HANDSHAKE_FAILURE,
                                "non-empty renegotiation_info in an initial handshake")
            self._renegotiation_info_offered = True
        if TLS_EMPTY_RENEGOTIATION_INFO_SCSV in hello.cipher_suites:
            self._renegotiation_info_offered = True
        key_kind = config.certificate.key_type.split("-")[0]  # "ecdsa" or "rsa"
        suite = next((s for s in config.cipher_suites if s in hello.cipher_suites
                      and SUITES[CipherSuite(s)].authentication == key_kind), None)
        if suite is None:
            raise DtlsAlert(AlertDescription.HANDSHAKE_FAILURE,
                            "no cipher suite in common for a "
                            f"{key_kind} certificate: {list(hello.cipher_suites)}")
        groups_data = extensions.get(ExtensionType.SUPPORTED_GROUPS)
        client_groups = (m.decode_supported_groups(groups_data) if groups_data is not None
                         else (NamedGroup.SECP256R1,))  # RFC 8422 §4: absent means any
        curve = _CERTIFICATE_CURVES.get(config.certificate.key_type)
        if groups_data is not None and curve is not None and curve not in client_groups:
            # RFC 8422 §5.1: with supported_groups present, the server's ECDSA certificate
            # "MUST" use a curve the client listed.
            raise DtlsAlert(AlertDescription.HANDSHAKE_FAILURE,
                            f"our {config.certificate.key_type} certificate's curve is not in the "
                            f"client's supported_groups {list(client_groups)}")
        group = next((g for g in config.groups if g in client_groups), None)
        if group is None:
            raise DtlsAlert(AlertDescription.HANDSHAKE_FAILURE,
                            f"no ECDHE group in common: {list(client_groups)}")
        schemes_data = extensions.get(ExtensionType.SIGNATURE_ALGORITHMS)
        if schemes_data is None:
            raise DtlsAlert(AlertDescription.HANDSHAKE_FAILURE,
                            "no signature_algorithms extension (SHA-1 signatures not supported)")
        scheme = self._pick_scheme(m.decode_signature_algorithms(schemes_data))
        srtp_profile = None
        srtp_data = extensions.get(ExtensionType.USE_SRTP)
        if srtp_data is not None and config.srtp_profiles:
            offered = m.decode_use_srtp(srtp_data).profiles
            # RFC 5764 §4.1.1: the server picks one of the client's profiles, or omits the
            # extension when none is acceptable.
            srtp_profile = next((p for p in config.srtp_profiles if p in offered), None)
        self._suite = CipherSuite(suite)
        self._srtp_profile = None if srtp_profile is None else SrtpProfileId(srtp_profile)
        self._client_random = hello.random
        self._server_random = self._random(32)
        # Transcript: this ClientHello (RFC 6347 §4.2.1: not the one of a cookie exchange).
        self._transcript = Transcript()
        self._add_transcript(HandshakeType.CLIENT_HELLO, seq, body)
        self._message_seq = seq  # RFC 6347 §4.2.2: our first message answers this one
        self._reassembler = m.HandshakeReassembler(next_seq=seq + 1)
        reply: list[tuple[int, bytes]] = []
        if self._renegotiation_info_offered:
            reply.append((ExtensionType.RENEGOTIATION_INFO, m.encode_renegotiation_info(b"")))
        reply.append((ExtensionType.EXTENDED_MASTER_SECRET, b""))
        if ExtensionType.EC_POINT_FORMATS in extensions:
            reply.append((ExtensionType.EC_POINT_FORMATS, m.encode_ec_point_formats((0,))))
        if srtp_profile is not None:
            reply.append((ExtensionType.USE_SRTP, m.encode_use_srtp((srtp_profile,), b"")))
        server_hello = m.ServerHello(DTLS_1_2, self._server_random, b"", suite, 0, tuple(reply))
        flight = [self._handshake_out(HandshakeType.SERVER_HELLO, server_hello.serialize()),
                  self._handshake_out(HandshakeType.CERTIFICATE,
                                      m.Certificate((config.certificate.der,)).serialize())]
        exchange = KeyExchange.generate(group, self._random)
        self._key_exchange = exchange
        self._peer_group = NamedGroup(group)
        params = m.ServerKeyExchange(group, exchange.public_bytes(), scheme, b"")
        signature = config.certificate.sign(
            scheme, self._client_random + self._server_random + params.signed_params())
        flight.append(self._handshake_out(
            HandshakeType.SERVER_KEY_EXCHANGE,
            m.ServerKeyExchange(group, exchange.public_bytes(), scheme, signature).serialize()))
        if config.require_client_certificate:
            self._certificate_requested = True
            flight.append(self._handshake_out(
                HandshakeType.CERTIFICATE_REQUEST,
                m.CertificateRequest(bytes(_CERTIFICATE_TYPES), tuple(config.signature_schemes),
                                     ()).serialize()))
        flight.append(self._handshake_out(HandshakeType.SERVER_HELLO_DONE,
                                          m.ServerHelloDone().serialize()))
        self._trace("dtls.server_hello", suite=suite, group=group, srtp=srtp_profile)
        self._start_flight(flight, now)
        self.state = DtlsState.WAIT_CLIENT_FINISHED

    def _server_reads_flight_5(self, msg_type: int, seq: int, body: bytes, now: float) -> None:
        if msg_type == HandshakeType.CERTIFICATE and not self._peer_certificate and (
            not self._master_secret
        ):
            self._add_transcript(msg_type, seq, body)
            message = m.Certificate.parse(body)
            if message.certificates:
                self._on_certificate(message)
            elif self.config.require_client_certificate:
                # RFC 5246 §7.4.6: the server "MAY at its discretion ... respond with a fatal
                # handshake_failure alert"; WebRTC needs the client's certificate.
                raise DtlsAlert(AlertDescription.HANDSHAKE_FAILURE,
                                "the client sent no certificate")
        elif msg_type == HandshakeType.CLIENT_KEY_EXCHANGE and not self._master_secret:
            if self.config.require_client_certificate and not self._peer_certificate:
                raise DtlsAlert(AlertDescription.HANDSHAKE_FAILURE,
                                "ClientKeyExchange without the client's Certificate")
            self._add_transcript(msg_type, seq, body)
            if self._key_exchange is None:
                raise InvalidStateError("no server key share")
            exchange = m.ClientKeyExchange.parse(body)
            self._derive_keys(self._key_exchange.shared_secret(exchange.public_key))
            self._cv_transcript = self._transcript.data
        elif msg_type == HandshakeType.CERTIFICATE_VERIFY and self._master_secret and (
            self._peer_certificate and not self._peer_verified
        ):
            verify = m.CertificateVerify.parse(body)
            if verify.signature_scheme not in self.config.signature_schemes:
                raise DtlsAlert(AlertDescription.ILLEGAL_PARAMETER,
                                f"CertificateVerify scheme 0x{verify.signature_scheme:04x} "
                                "was not requested")
            # RFC 5246 §7.4.8: over the handshake messages before this one.
            verify_signature(self._peer_certificate, verify.signature_scheme,
                             self._cv_transcript, verify.signature)
            self._peer_verified = True
            self._add_transcript(msg_type, seq, body)
        elif msg_type == HandshakeType.FINISHED and self._master_secret:
            if self._peer_certificate and not self._peer_verified:
                # RFC 5246 §7.4.8: sent "following a client certificate that has signing
                # capability"; without it the client never proved it holds the key.
                raise DtlsAlert(AlertDescription.HANDSHAKE_FAILURE,
                                "Finished without CertificateVerify")
            self._check_finished(m.Finished.parse(body), b"client finished")
            self._add_transcript(msg_type, seq, body)
            finished = m.Finished(self._verify_data(b"server finished")).serialize()
            flight = [_Outgoing(ContentType.CHANGE_CIPHER_SPEC, 0),
                      self._handshake_out(HandshakeType.FINISHED, finished, epoch=1)]
            self._start_flight(flight, now)
            # Flight 6 is the last one: no timer, it goes again only when flight 5 does.
            self._timer = None
            self._complete()
        else:
            raise DtlsAlert(AlertDescription.UNEXPECTED_MESSAGE,
                            f"handshake message {msg_type} out of place in flight 5")


    # --- keys ---------------------------------------------------------------------------------

    def _derive_keys(self, pre_master: bytes) -> None:
        """RFC 7627 §4: master_secret from the session hash (the transcript up to and including
        ClientKeyExchange); RFC 5246 §6.3 key block; epoch 1 ciphers both ways."""
        if self._suite is None:
            raise InvalidStateError("keys before a cipher suite")
        suite = SUITES[CipherSuite(self._suite)]
        self._master_secret = extended_master_secret(suite.prf_hash, pre_master,
                                                     self._transcript_hash())
        if self.config.keylog is not None:
            self.config.keylog(nss_keylog_line(self._client_random, self._master_secret))
        block = key_block(CipherSuite(self._suite), self._master_secret, self._client_random,
                          self._server_random)
        client = RecordCipher.create(suite.cipher, block.client_write_key,
                                     block.client_write_iv)
        server = RecordCipher.create(suite.cipher, block.server_write_key,
                                     block.server_write_iv)
        write, read = (client, server) if self.is_client else (server, client)
        self._records.set_write_cipher(1, write)
        self._records.set_read_cipher(1, read)
        self._trace("dtls.keys", suite=self._suite)

    def _verify_data(self, label: bytes) -> bytes:
        if self._suite is None:
            raise InvalidStateError("no cipher suite")
        return verify_data(SUITES[CipherSuite(self._suite)].prf_hash, self._master_secret,
                           label, self._transcript_hash())

    def _check_finished(self, message: m.Finished, label: bytes) -> None:
        # RFC 5246 §7.4.9: "Recipients of Finished messages MUST verify that the contents are
        # correct."
        if not constant_time.bytes_eq(message.verify_data, self._verify_data(label)):
            raise DtlsAlert(AlertDescription.DECRYPT_ERROR, "Finished verify_data does not match")

    def _complete(self) -> None:
        self.state = DtlsState.CONNECTED
        self._completed = True
        self._retransmissions = 0
        if self.is_client:
            self._timer = None
        self._trace("dtls.connected", suite=self._suite, srtp=self._srtp_profile)
        if self._suite is None:
            raise InvalidStateError("connected without a cipher suite")
        self._events.append(HandshakeComplete(self._suite, self._srtp_profile,
                                              self._peer_certificate, self._peer_group))
        while self._pending_data:
            self._events.append(ApplicationData(self._pending_data.popleft()))

    # --- flights and output -------------------------------------------------------------------

    def _start_flight(self, flight: list[_Outgoing], now: float) -> None:
        self._flight = flight
        self._retransmissions = 0
        self._timeout = self.config.initial_retransmit
        self._timer = now + self._timeout
        self._send_flight(now)

    def _send_flight(self, now: float) -> None:
        """Serialize the current flight into datagrams of at most ``mtu`` bytes: handshake
        messages fragmented to fit (RFC 6347 §4.2.3), several records per datagram (§4.1.1),
        fresh record sequence numbers on every (re)transmission."""
        self._last_sent = now
        mtu = self.config.mtu
        datagram = bytearray()
        for item in self._flight:
            if item.content_type == ContentType.CHANGE_CIPHER_SPEC:
                payloads = [b"\x01"]
            else:
                room = mtu - 13 - self._overhead(item.epoch)
                payloads = m.fragment_handshake(item.msg_type, item.message_seq, item.body, room)
            for payload in payloads:
                record = self._records.protect(item.content_type, payload, epoch=item.epoch,
                                               version=self._record_version(item.epoch))
                if datagram and len(datagram) + len(record) > mtu:
                    self._transmit.append(bytes(datagram))
                    datagram = bytearray()
                datagram += record
        if datagram:
            self._transmit.append(bytes(datagram))

    def _record_version(self, epoch: int) -> int:
        # RFC 6347 §4.1: before the version is agreed a client MAY use DTLS 1.0 in the record
        # layer ("implementations ... SHOULD use 1.0" for the ClientHello in practice, as
        # OpenSSL and browsers do); afterwards the negotiated 1.2.
        if self.is_client and epoch == 0 and self._suite is None:
            return DTLS_1_0
        return DTLS_1_2

    def _overhead(self, epoch: int) -> int:
        if epoch == 0 or self._suite is None:
            return 0
        return _aead_overhead(SUITES[CipherSuite(self._suite)].cipher)

    def _max_record_payload(self) -> int:
        limit = self._record_limit
        if limit is None:
            limit = max(64, min(16384, self.config.mtu - 13 - self._overhead(1)))
            if self._suite is not None:  # fixed from now on: no renegotiation
                self._record_limit = limit
        return limit

    @property
    def max_application_payload(self) -> int:
        """The most application data one record (so one datagram of at most ``mtu``) carries
        once the handshake chose its cipher: what a protocol on top that must not be split
        across records (SCTP, RFC 8261 §5) can put in one packet."""
        return self._max_record_payload()

    def _send_alert(self, level: AlertLevel, description: AlertDescription) -> None:
        epoch = self._records.write_epoch
        self._transmit.append(self._records.protect(
            ContentType.ALERT, m.Alert(level, description).serialize(), epoch=epoch,
            version=self._record_version(epoch)))
        self._trace("dtls.alert.sent", level=level.name, description=description.name)

    def _fail(self, error: DtlsAlert, *, send: bool = True) -> None:
        if self.state is DtlsState.CLOSED:
            return
        if send and not error.remote and isinstance(error.description, AlertDescription):
            self._send_alert(AlertLevel.FATAL, error.description)
        self._enter_closed(error)

    def _enter_closed(self, error: DtlsAlert | None) -> None:
        self.state = DtlsState.CLOSED
        self._timer = None
        self._flight = []
        self._trace("dtls.closed", error=str(error) if error else None)
        self._events.append(Closed(error))
