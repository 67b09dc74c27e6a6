"""``rtcstack dtls client HOST:PORT`` and ``rtcstack dtls server --listen HOST:PORT``: a DTLS 1.2
+ use_srtp test tool in the spirit of ``openssl s_client`` / ``s_server``, for WebRTC.

The server first prints ``listening: HOST:PORT`` (the bound address; port 0 picks a free one).
After the handshake both print, one per line, in this order and format (scripts parse it)::

    version: DTLS 1.2
    cipher-suite: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    srtp-profile: SRTP_AES128_CM_HMAC_SHA1_80          (RFC 5764 §4.1.2 name, or "none")
    local-fingerprint: sha-256 AB:CD:...
    peer-fingerprint: sha-256 AB:CD:...
    keying-material: 0a1b...                           (RFC 5764 §4.2 EXTRACTOR-dtls_srtp)

``keying-material`` is 2 * (key + salt) bytes of the negotiated profile (60 for AES-CM-128, 56
for AEAD_AES_128_GCM, 88 for AEAD_AES_256_GCM); without use_srtp, 60 bytes of the same export
(what ``openssl -keymatexport EXTRACTOR-dtls_srtp -keymatexportlen 60`` prints).

Then stdin lines go to the peer and what the peer sends goes to stdout, until stdin ends (a
close_notify is sent; exit 0), the peer closes (exit 0) or an alert (exit 1).  ``--once`` exits
right after the handshake lines.  Errors print one ``rtcstack dtls: ...`` line on stderr and
exit 1 (2 for bad arguments or unreadable files).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Sequence

from rtcstack.asyncio.dtls import DtlsEndpoint, accept_dtls, connect_dtls
from rtcstack.common.types import Address, format_address, parse_address
from rtcstack.dtls.certificate import Certificate, certificate_fingerprint
from rtcstack.dtls.connection import (
    DEFAULT_CIPHER_SUITES,
    DEFAULT_SRTP_PROFILES,
    DtlsConfig,
    HandshakeComplete,
)
from rtcstack.dtls.constants import CipherSuite, SrtpProfileId
from rtcstack.dtls.errors import DtlsError

__all__ = [
    "configure",
    "format_handshake",
    "parse_cipher_suites",
    "parse_fingerprint",
    "parse_srtp_profiles",
    "run",
]

PROG = "rtcstack dtls"
#: The export length when no SRTP profile was negotiated (AES-CM-128's, as OpenSSL tests use).
DEFAULT_EXPORT_LENGTH = 60
_EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"  # RFC 5764 §4.2

#: OpenSSL's names for the SRTP profiles (``-use_srtp``); the RFC 5764 §4.1.2 / RFC 7714 §14.2
#: names are the :class:`SrtpProfileId` member names.
_OPENSSL_SRTP_NAMES = {
    "SRTP_AES128_CM_SHA1_80": SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_80,
    "SRTP_AES128_CM_SHA1_32": SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_32,
}
#: OpenSSL's cipher names; IANA names are ``TLS_`` + the :class:`CipherSuite` member name.
_OPENSSL_CIPHER_NAMES = {
    "ECDHE-ECDSA-AES128-GCM-SHA256": CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    "ECDHE-ECDSA-AES256-GCM-SHA384": CipherSuite.ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    "ECDHE-ECDSA-CHACHA20-POLY1305": CipherSuite.ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    "ECDHE-RSA-AES128-GCM-SHA256": CipherSuite.ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    "ECDHE-RSA-AES256-GCM-SHA384": CipherSuite.ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    "ECDHE-RSA-CHACHA20-POLY1305": CipherSuite.ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}


# --- argument parsing -------------------------------------------------------------------------


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_srtp_profiles(text: str) -> tuple[SrtpProfileId, ...]:
    """A comma list of SRTP profiles by RFC name (``SRTP_AES128_CM_HMAC_SHA1_80``,
    ``SRTP_AEAD_AES_128_GCM``) or OpenSSL name (``SRTP_AES128_CM_SHA1_80``), any case;
    ``none`` or an empty list for no use_srtp extension."""
    if text.strip().lower() in ("", "none"):
        return ()
    out: list[SrtpProfileId] = []
    for item in _items(text):
        name = item.upper()
        profile = _OPENSSL_SRTP_NAMES.get(name) or SrtpProfileId.__members__.get(name)
        if profile is None:
            known = sorted({*SrtpProfileId.__members__, *_OPENSSL_SRTP_NAMES})
            raise ValueError(f"unknown SRTP profile {item!r}; expected one of {', '.join(known)}")
        out.append(profile)
    return tuple(out)


def parse_cipher_suites(text: str) -> tuple[CipherSuite, ...]:
    """A comma list of cipher suites by IANA name (``TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256``,
    the ``TLS_`` optional), OpenSSL name (``ECDHE-ECDSA-AES128-GCM-SHA256``) or number
    (``0xC02B``)."""
    out: list[CipherSuite] = []
    for item in _items(text):
        name = item.upper()
        suite = _OPENSSL_CIPHER_NAMES.get(name) or CipherSuite.__members__.get(
            name.removeprefix("TLS_"))
        if suite is None:
            try:
                suite = CipherSuite(int(item, 0))
            except ValueError:
                known = ", ".join(f"TLS_{s.name}" for s in CipherSuite)
                raise ValueError(f"unknown cipher suite {item!r}; expected one of {known}") \
                    from None
        out.append(suite)
    if not out:
        raise ValueError("empty cipher suite list")
    return tuple(out)


def parse_fingerprint(text: str) -> tuple[str, str]:
    """``ALG=VALUE`` (or the SDP form ``ALG VALUE``): ``("sha-256", "AB:CD:...")``."""
    alg, sep, value = text.strip().partition("=")
    if not sep:
        alg, sep, value = text.strip().partition(" ")
    alg, value = alg.strip().lower(), value.strip().upper()
    if not sep or not alg or not value:
        raise ValueError(f"{text!r}: expected ALG=VALUE, e.g. sha-256=AB:CD:...")
    try:
        length = len(certificate_fingerprint(b"", alg))
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    if len(value) != length:
        raise ValueError(f"{text!r}: a {alg} fingerprint is {length} characters (AB:CD:...)")
    return alg, value


def _arg(parse: Callable[[str], object]) -> Callable[[str], object]:
    def wrapped(text: str) -> object:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    wrapped.__name__ = parse.__name__.removeprefix("parse_").replace("_", " ")
    return wrapped


def _address(text: str) -> Address:
    return parse_address(text, allow_port_zero=True)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"{text}: must be positive")
    return value


def certificate_options() -> argparse.ArgumentParser:
    """The DTLS identity options every DTLS test-peer command shares (a parent parser):
    --cert, --key, --rsa, --fingerprint, --keylog."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cert", metavar="PEM", help="certificate (default: a fresh self-signed)")
    common.add_argument("--key", metavar="PEM", help="private key of --cert")
    common.add_argument("--rsa", action="store_true",
                        help="generate an RSA 2048 certificate instead of ECDSA P-256")
    common.add_argument("--fingerprint", type=_arg(parse_fingerprint), action="append",
                        metavar="ALG=VALUE",
                        help="the peer's certificate must match (repeatable; default: accept "
                             "any and print it)")
    common.add_argument("--keylog", metavar="FILE",
                        help="append NSS key log lines (CLIENT_RANDOM ...) for Wireshark")
    return common


def configure(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False, parents=[certificate_options()])
    common.add_argument("--srtp-profiles", type=_arg(parse_srtp_profiles), metavar="LIST",
                        default=DEFAULT_SRTP_PROFILES,
                        help="comma list, RFC or OpenSSL names (SRTP_AES128_CM_HMAC_SHA1_80, "
                             "SRTP_AES128_CM_SHA1_80, SRTP_AEAD_AES_128_GCM...); 'none'")
    common.add_argument("--cipher-suites", type=_arg(parse_cipher_suites), metavar="LIST",
                        help="comma list, IANA or OpenSSL names (default: all, ECDSA AES-128-GCM "
                             "first)")
    common.add_argument("--mtu", type=int, default=1200, help="largest datagram (default 1200)")
    common.add_argument("--timeout", type=_arg(_positive), metavar="SECONDS",
                        help="give up if the handshake is not done by then (default: client 10, "
                             "server none)")
    common.add_argument("--once", action="store_true",
                        help="exit right after printing the handshake lines")
    sub = parser.add_subparsers(dest="role", required=True, metavar="{client,server}")
    client = sub.add_parser("client", parents=[common], prog=f"{PROG} client",
                            help="connect to a DTLS server")
    client.add_argument("remote", type=_arg(_address), metavar="HOST:PORT")
    client.add_argument("--local", type=_arg(_address), metavar="HOST:PORT",
                        help="bind the client socket here")
    server = sub.add_parser("server", parents=[common], prog=f"{PROG} server",
                            help="wait for one DTLS client")
    server.add_argument("--listen", type=_arg(_address), required=True, metavar="HOST:PORT",
                        help="address to bind (port 0 picks a free port)")
    server.add_argument("--no-cookie", action="store_true",
                        help="no HelloVerifyRequest cookie exchange (RFC 6347 §4.2.1)")


# --- output -----------------------------------------------------------------------------------


def format_handshake(done: HandshakeComplete, certificate: Certificate,
                     keying_material: bytes) -> list[str]:
    """The handshake lines, in the documented order."""
    profile = "none" if done.srtp_profile is None else SrtpProfileId(done.srtp_profile).name
    return [
        "version: DTLS 1.2",  # rtcstack speaks only DTLS 1.2 (RFC 6347)
        f"cipher-suite: TLS_{CipherSuite(done.cipher_suite).name}",
        f"srtp-profile: {profile}",
        f"local-fingerprint: sha-256 {certificate.fingerprint('sha-256')}",
        f"peer-fingerprint: sha-256 {certificate_fingerprint(done.peer_certificate)}",
        f"keying-material: {keying_material.hex()}",
    ]


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    return 1


def _load_certificate(args: argparse.Namespace) -> Certificate:
    if args.cert or args.key:
        if not (args.cert and args.key):
            raise ValueError("--cert and --key go together")
        with open(args.cert, "rb") as cert_file, open(args.key, "rb") as key_file:
            return Certificate.from_pem(cert_file.read(), key_file.read())
    return Certificate.generate("rsa-2048" if args.rsa else "ecdsa-p256")


# --- the session ------------------------------------------------------------------------------


def _stdin_lines(loop: asyncio.AbstractEventLoop,
                 queue: asyncio.Queue[bytes | None]) -> Callable[[], object]:
    """Queue stdin's lines as they arrive (a reader on the event loop for a tty, pipe or socket;
    all at once for a regular file, which the event loop cannot watch); ``None`` marks the
    end.  No thread: a thread blocked in a read would hang or crash interpreter shutdown.
    Returns the function that stops reading."""
    fd = sys.stdin.fileno()
    pending = bytearray()

    def emit(data: bytes) -> None:
        pending.extend(data)
        while (end := pending.find(b"\n")) >= 0:
            queue.put_nowait(bytes(pending[: end + 1]))
            del pending[: end + 1]
        if not data:  # end of input
            if pending:
                queue.put_nowait(bytes(pending))
                pending.clear()
            queue.put_nowait(None)

    def readable() -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
        emit(data)

    try:
        loop.add_reader(fd, readable)
    except (OSError, ValueError):  # a regular file (epoll refuses them) or a closed stdin
        with contextlib.suppress(OSError, ValueError):
            emit(sys.stdin.buffer.read())
        emit(b"")
        return lambda: None
    return lambda: loop.remove_reader(fd)


async def _pump(endpoint: DtlsEndpoint) -> int:
    """Copy stdin lines to the peer and the peer's data to stdout until one side ends."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[bytes | None] = asyncio.Queue()
    stop_reading = _stdin_lines(loop, lines)
    out = sys.stdout.buffer

    async def from_peer() -> int:
        while True:
            try:
                data = await endpoint.receive()
            except DtlsError as exc:
                return _fail(str(exc))
            if data is None:
                return 0
            out.write(data)
            out.flush()

    async def to_peer() -> int:
        while (line := await lines.get()) is not None:
            if endpoint.closed:
                break
            endpoint.send(line)
        return 0

    receiving = asyncio.ensure_future(from_peer())
    sending = asyncio.ensure_future(to_peer())
    try:
        done, _ = await asyncio.wait({receiving, sending}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_reading()
    for task in (receiving, sending):
        if task not in done:
            task.cancel()
    first = next(iter(done))
    return first.result()


async def _session(args: argparse.Namespace) -> int:
    try:
        certificate = _load_certificate(args)
    except (OSError, ValueError) as exc:
        print(f"{PROG}: cannot load the certificate: {exc}", file=sys.stderr)
        return 2
    keylog_file = None
    keylog: Callable[[str], None] | None = None
    if args.keylog:
        try:
            keylog_file = open(args.keylog, "a", encoding="ascii")  # noqa: SIM115 - closed below
        except OSError as exc:
            print(f"{PROG}: cannot open the key log: {exc}", file=sys.stderr)
            return 2
        log = keylog_file

        def keylog(line: str) -> None:
            log.write(line + "\n")
            log.flush()

    is_server = args.role == "server"
    try:
        config = DtlsConfig(
            certificate,
            remote_fingerprints=args.fingerprint,
            srtp_profiles=args.srtp_profiles,
            require_cookie=not (is_server and args.no_cookie),
            mtu=args.mtu,
            keylog=keylog,
            cipher_suites=args.cipher_suites or DEFAULT_CIPHER_SUITES,
        )
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    timeout = args.timeout if args.timeout is not None else (None if is_server else 10.0)
    endpoint: DtlsEndpoint | None = None
    exported: list[bytes] = []

    def on_handshake(done: HandshakeComplete) -> None:
        # Export now: the connection refuses once closed, and the peer may close at once.
        if endpoint is None:
            return
        conn = endpoint.connection
        if done.srtp_profile is None:
            exported.append(conn.export_keying_material(_EXPORTER_LABEL, DEFAULT_EXPORT_LENGTH))
        else:
            exported.append(conn.srtp_keying_material())  # RFC 5764 §4.2: 2 * (key + salt)

    try:
        try:
            if is_server:
                endpoint = await accept_dtls(config, args.listen, on_handshake=on_handshake)
                print(f"listening: {format_address(endpoint.local_address)}", flush=True)
            else:
                endpoint = await connect_dtls(config, args.remote, local=args.local,
                                              on_handshake=on_handshake)
        except OSError as exc:
            where = format_address(args.listen if is_server else args.remote)
            return _fail(f"{where}: {exc.strerror or exc}")
        try:
            done = await endpoint.handshake(timeout)
        except DtlsError as exc:
            return _fail(f"handshake failed: {exc}")
        if not exported:
            return _fail("the handshake completed but the connection closed before the keying "
                         "material could be exported")
        print("\n".join(format_handshake(done, certificate, exported[0])), flush=True)
        if args.once:
            return 0
        return await _pump(endpoint)
    finally:
        if endpoint is not None:
            endpoint.close()
        if keylog_file is not None:
            keylog_file.close()


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_session(args))


def main(argv: Sequence[str] | None = None) -> int:
    """``rtcstack dtls ARGS`` without going through :mod:`rtcstack.cli.main` (tests)."""
    parser = argparse.ArgumentParser(prog=PROG)
    configure(parser)
    return run(parser.parse_args(argv))
