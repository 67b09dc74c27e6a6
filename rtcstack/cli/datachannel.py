"""``rtcstack datachannel server|client``: a WebRTC data-channel test peer (RFC 8831 channels over
SCTP over DTLS, RFC 8261), for interop tests against other stacks.

The server::

    rtcstack datachannel server --listen 127.0.0.1:5000 [--no-echo] [--json] [--timeout S]

accepts one DTLS client (any certificate unless ``--fingerprint`` is given), starts SCTP,
prints what was negotiated, then for each channel the peer opens prints its parameters and
echoes every message back (string as string, binary as binary) unless ``--no-echo``.  It ends
when the peer shuts the association down, on Ctrl-C or SIGTERM, or after ``--timeout``
seconds, and then prints the SCTP counters.  Its first lines, printed before any client comes::

    listening: 127.0.0.1:5000
    local-fingerprint: sha-256 AB:CD:...

The client::

    rtcstack datachannel client HOST:PORT [--fingerprint sha-256=AB:..] [--label L]
        [--protocol P] [--unordered] [--max-retransmits N | --max-packet-life-time MS]
        [--count N] [--size BYTES] [--text] [--no-echo] [--json] [--timeout S]

connects, opens one channel, sends ``--count`` messages of ``--size`` bytes, checks each echo
byte for byte (and its type: a string comes back a string), closes the channel and shuts SCTP
down gracefully.  Messages of up to 1024 bytes go one at a time, each after the previous echo,
and the round-trip times are printed; larger ones go as one batch (with back-pressure) and the
throughput is printed (``--mode`` overrides the choice).  Message ``i`` starts with ``i`` (4
bytes big-endian, or 8 hex digits for ``--text``) so that an unordered channel's echoes can be
matched.

Text output is one ``key: value`` per line.  ``--json``: the client prints one JSON object
when it is done (``"ok": false`` and ``"error"`` on failure); the server prints JSON Lines, one
object per event (``"event"``: ``listening``, ``connected``, ``channel-open``,
``channel-closed``, ``summary``).  Failures print one ``rtcstack datachannel: ...`` line on
stderr and exit 1 (2 for bad arguments).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from rtcstack.asyncio.dtls import DtlsEndpoint, accept_dtls, connect_dtls
from rtcstack.asyncio.sctp import Channel, SctpTransport, SctpTransportError
from rtcstack.cli.dtls import (
    _address,
    _arg,
    _load_certificate,
    _positive,
    certificate_options,
)
from rtcstack.common.errors import InvalidStateError
from rtcstack.common.types import format_address
from rtcstack.dtls.certificate import Certificate, certificate_fingerprint
from rtcstack.dtls.connection import DtlsConfig, HandshakeComplete
from rtcstack.dtls.constants import CipherSuite
from rtcstack.dtls.errors import DtlsError
from rtcstack.sctp.association import Connected
from rtcstack.sctp.datachannel import DataChannel, DataChannelState

__all__ = ["EchoChecker", "configure", "make_message", "run"]

PROG = "rtcstack datachannel"
#: Messages up to this size are timed one by one (round-trip); larger ones as a batch.
SMALL_MESSAGE = 1024
#: The batch sender keeps at most this much queued on the channel (W3C bufferedAmount).
HIGH_WATER = 1024 * 1024
#: How long the closing handshakes (channel reset, SCTP SHUTDOWN) may take.
CLOSE_TIMEOUT = 3.0
_FILLER_BINARY = bytes(range(256))
_FILLER_TEXT = "abcdefghijklmnopqrstuvwxyz0123456789"

T = TypeVar("T")


class Failure(Exception):
    """A failure to report on one line and exit 1 with."""


# --- arguments --------------------------------------------------------------------------------


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"{text}: must not be negative")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False, parents=[certificate_options()])
    common.add_argument("--mtu", type=int, default=1200,
                        help="largest DTLS datagram (default 1200)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--no-echo", action="store_true",
                        help="server: do not echo; client: do not expect echoes")
    sub = parser.add_subparsers(dest="role", required=True, metavar="{client,server}")

    server = sub.add_parser("server", parents=[common], prog=f"{PROG} server",
                            help="wait for one client, echo what its channels send")
    server.add_argument("--listen", type=_arg(_address), required=True, metavar="HOST:PORT",
                        help="address to bind (port 0 picks a free port)")
    server.add_argument("--timeout", type=_arg(_positive), metavar="SECONDS",
                        help="stop after this long (default: when the peer shuts down)")

    client = sub.add_parser("client", parents=[common], prog=f"{PROG} client",
                            help="open a channel, send messages, check the echoes")
    client.add_argument("remote", type=_arg(_address), metavar="HOST:PORT")
    client.add_argument("--local", type=_arg(_address), metavar="HOST:PORT",
                        help="bind the client socket here")
    client.add_argument("--label", default="rtcstack", help="channel label (default rtcstack)")
    client.add_argument("--protocol", default="", help="channel sub-protocol (default none)")
    client.add_argument("--unordered", action="store_true", help="an unordered channel")
    reliability = client.add_mutually_exclusive_group()
    reliability.add_argument("--max-retransmits", type=_arg(_count), metavar="N",
                             help="partially reliable: at most N retransmissions (RFC 3758)")
    reliability.add_argument("--max-packet-life-time", type=_arg(_count), metavar="MS",
                             help="partially reliable: give up on a message after MS ms")
    client.add_argument("--count", type=_arg(_count), default=10,
                        help="messages to send (default 10)")
    client.add_argument("--size", type=_arg(_count), default=100,
                        help="bytes per message (default 100)")
    client.add_argument("--text", action="store_true",
                        help="string messages (PPID 51) instead of binary (PPID 53)")
    client.add_argument("--mode", choices=("auto", "rtt", "throughput"), default="auto",
                        help="rtt: one message at a time; throughput: all at once (default: "
                             f"rtt up to {SMALL_MESSAGE} bytes)")
    client.add_argument("--timeout", type=_arg(_positive), metavar="SECONDS", default=10.0,
                        help="give up on the handshake, the association, or an echo after "
                             "this long (default 10)")


# --- messages and their echoes -----------------------------------------------------------------


def make_message(index: int, size: int, text: bool) -> bytes | str:
    """Message ``index``: its number first (so unordered echoes can be matched), then filler."""
    if text:
        head = f"{index & 0xFFFFFFFF:08x}"
        body = (_FILLER_TEXT * (size // len(_FILLER_TEXT) + 1))[: max(0, size - len(head))]
        return (head + body)[:size]
    head_bytes = (index & 0xFFFFFFFF).to_bytes(4, "big")
    filler = (_FILLER_BINARY * (size // 256 + 1))[: max(0, size - 4)]
    return (head_bytes + filler)[:size]


def _describe(data: bytes | str) -> str:
    kind = "string" if isinstance(data, str) else "binary"
    raw = data.encode() if isinstance(data, str) else data
    return f"{kind} of {len(raw)} bytes starting {raw[:8].hex() or '(empty)'}"


class EchoChecker:
    """Checks echoes as they arrive: each must equal a message sent and not yet echoed, byte for
    byte and of the same type; in order on an ordered channel."""

    def __init__(self, count: int, size: int, text: bool, ordered: bool) -> None:
        self.count, self.size, self.text, self.ordered = count, size, text, ordered
        self.received = 0
        self.bytes = 0
        self.error: str | None = None
        self._seen: set[int] = set()
        self._head = 8 if text else 4
        self._small: Counter[bytes | str] | None = None
        if not ordered and size < self._head:  # too short to carry its number: match by value
            self._small = Counter(make_message(i, size, text) for i in range(count))

    @property
    def done(self) -> bool:
        return self.error is not None or self.received >= self.count

    def check(self, data: bytes | str) -> bool:
        """Record one echo; False (and :attr:`error`) if it is not one that was sent."""
        if self.error is not None:
            return False
        self.error = self._mismatch(data)
        if self.error is not None:
            return False
        self.received += 1
        self.bytes += len(data.encode() if isinstance(data, str) else data)
        return True

    def _mismatch(self, data: bytes | str) -> str | None:
        if self.received >= self.count:
            return f"echo mismatch: an extra message ({_describe(data)})"
        if self.ordered:
            index = self.received
        elif self._small is not None:
            if self._small[data] <= 0:
                return f"echo mismatch: {_describe(data)} was not sent"
            self._small[data] -= 1
            return None
        else:
            found = self._index(data)
            if found is None or found >= self.count or found in self._seen:
                return f"echo mismatch: {_describe(data)} is not a message sent and not echoed"
            index = found
        expected = make_message(index, self.size, self.text)
        if data != expected:
            return f"echo mismatch: message {index}: {_differ(expected, data)}"
        self._seen.add(index)
        return None

    def _index(self, data: bytes | str) -> int | None:
        try:
            if isinstance(data, str):
                return int(data[: self._head], 16) if self.text else None
            return int.from_bytes(data[: self._head], "big") if not self.text else None
        except ValueError:
            return None


def _differ(expected: bytes | str, got: bytes | str) -> str:
    if type(expected) is not type(got):
        return f"sent {_describe(expected)}, echoed {_describe(got)}"
    want = expected.encode() if isinstance(expected, str) else expected
    have = got.encode() if isinstance(got, str) else got
    if len(want) != len(have):
        return f"sent {len(want)} bytes, echoed {len(have)}"
    offset = next(i for i, (a, b) in enumerate(zip(want, have, strict=True)) if a != b)
    return f"byte {offset} differs (sent 0x{want[offset]:02x}, echoed 0x{have[offset]:02x})"


# --- output -------------------------------------------------------------------------------------


class Output:
    """Text lines (``key: value``) or JSON (one object per event; the client keeps only its
    summary)."""

    def __init__(self, json_mode: bool, *, lines: bool) -> None:
        self.json = json_mode
        self.lines = lines  # JSON Lines (server) rather than one final object (client)

    def text(self, key: str, value: object) -> None:
        if not self.json:
            print(f"{key}: {value}", flush=True)

    def event(self, name: str, **fields: Any) -> None:
        if self.json and self.lines:
            print(json.dumps({"event": name, **fields}), flush=True)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def negotiated(info: Connected) -> dict[str, Any]:
    return dataclasses.asdict(info)


def _print_negotiated(out: Output, info: Connected) -> None:
    out.text("interleaving", f"{_yes(info.interleaving)} (I-DATA, RFC 8260)")
    out.text("zero-checksum", f"{_yes(info.zero_checksum)} (RFC 9653)")
    out.text("partial-reliability", f"{_yes(info.partial_reliability)} (FORWARD-TSN, RFC 3758)")
    out.text("stream-reset", f"{_yes(info.stream_reset)} (RE-CONFIG, RFC 6525)")
    out.text("streams", f"{info.outbound_streams} out, {info.inbound_streams} in")
    out.text("peer-window", f"{info.peer_receive_window} bytes")


def channel_info(channel: DataChannel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "label": channel.label,
        "protocol": channel.protocol,
        "ordered": channel.ordered,
        "max_retransmits": channel.max_retransmits,
        "max_packet_life_time": channel.max_packet_life_time,
        "negotiated": channel.negotiated,
    }


def _channel_line(channel: DataChannel) -> str:
    def opt(value: int | None) -> str:
        return "none" if value is None else str(value)

    reliable = channel.max_retransmits is None and channel.max_packet_life_time is None
    return (f"id={channel.id} label={json.dumps(channel.label)} "
            f"protocol={json.dumps(channel.protocol)} ordered={_yes(channel.ordered)} "
            f"reliable={_yes(reliable)} max-retransmits={opt(channel.max_retransmits)} "
            f"max-packet-life-time={opt(channel.max_packet_life_time)}")


def _stats(sctp: SctpTransport) -> dict[str, int]:
    return dataclasses.asdict(sctp.association.stats)


def _stats_line(stats: dict[str, int]) -> str:
    return " ".join(f"{key.replace('_', '-')}={value}" for key, value in stats.items())


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    return 1


# --- shared set-up ------------------------------------------------------------------------------


class _Keylog:
    def __init__(self, path: str | None) -> None:
        self.file = open(path, "a", encoding="ascii") if path else None  # noqa: SIM115

    def __call__(self, line: str) -> None:
        if self.file is not None:
            self.file.write(line + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _dtls_lines(out: Output, done: HandshakeComplete, certificate: Certificate) -> dict[str, str]:
    info = {
        "cipher_suite": f"TLS_{CipherSuite(done.cipher_suite).name}",
        "local_fingerprint": f"sha-256 {certificate.fingerprint('sha-256')}",
        "peer_fingerprint": f"sha-256 {certificate_fingerprint(done.peer_certificate)}",
    }
    out.text("cipher-suite", info["cipher_suite"])
    if out.lines:  # the server printed its own before the client came
        del info["local_fingerprint"]
    else:
        out.text("local-fingerprint", info["local_fingerprint"])
    out.text("peer-fingerprint", info["peer_fingerprint"])
    return info


async def _start_sctp(endpoint: DtlsEndpoint, timeout: float) -> tuple[SctpTransport, Connected]:
    sctp = SctpTransport(endpoint)
    try:
        await sctp.start(timeout)
    except TimeoutError:
        await sctp.close(0.1)
        raise Failure(f"no SCTP association within {timeout:g} s") from None
    except SctpTransportError as exc:
        raise Failure(f"the SCTP association failed: {exc}") from None
    if sctp.connected is None:  # cannot happen: start() returns once it is up
        raise Failure("the SCTP association is up but its parameters were not reported")
    return sctp, sctp.connected


# --- the server ---------------------------------------------------------------------------------


class _ServedChannel:
    def __init__(self, channel: Channel, echo: bool) -> None:
        self.channel = channel
        self.echo = echo
        self.echoed = 0
        channel.on_message = self._on_message

    def _on_message(self, data: bytes | str) -> None:
        if not self.echo:
            return
        try:
            self.channel.send(data)
        except (InvalidStateError, ValueError):
            return  # the channel or the association is closing: no more echoes
        self.echoed += 1

    async def closed(self) -> None:
        """Wait until the channel is closed."""
        await self.channel.wait_closed()

    def summary(self) -> dict[str, Any]:
        dc = self.channel.channel
        return {**channel_info(dc), "messages_received": dc.messages_received,
                "bytes_received": dc.bytes_received, "messages_echoed": self.echoed}


async def _until(aw: Awaitable[T], stop: asyncio.Event, deadline: float | None) -> T | None:
    """``aw``'s result, or None if ``stop`` is set or the loop time passes ``deadline`` first
    (``aw`` is then cancelled)."""
    task = asyncio.ensure_future(aw)
    stopper = asyncio.ensure_future(stop.wait())
    loop = asyncio.get_running_loop()
    timeout = None if deadline is None else max(0.0, deadline - loop.time())
    try:
        await asyncio.wait({task, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return None


async def _server(args: argparse.Namespace, config: DtlsConfig, certificate: Certificate,
                  out: Output) -> int:
    loop = asyncio.get_running_loop()
    deadline = None if args.timeout is None else loop.time() + args.timeout
    stop = asyncio.Event()
    why_stopped = ["the peer shut the association down"]

    def on_signal(name: str) -> None:
        why_stopped[0] = name
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal, signum.name)
    try:
        try:
            endpoint = await accept_dtls(config, args.listen)
        except OSError as exc:
            raise Failure(f"{format_address(args.listen)}: {exc.strerror or exc}") from None
        local = format_address(endpoint.local_address)
        fingerprint = f"sha-256 {certificate.fingerprint('sha-256')}"
        out.text("listening", local)
        out.text("local-fingerprint", fingerprint)
        out.event("listening", address=local, local_fingerprint=fingerprint)
        try:
            return await _serve(args, endpoint, certificate, out, stop, deadline, why_stopped)
        finally:
            endpoint.close()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


async def _serve(args: argparse.Namespace, endpoint: DtlsEndpoint, certificate: Certificate,
                 out: Output, stop: asyncio.Event, deadline: float | None,
                 why_stopped: list[str]) -> int:
    loop = asyncio.get_running_loop()
    try:
        done = await _until(endpoint.handshake(), stop, deadline)
    except DtlsError as exc:
        raise Failure(f"handshake failed: {exc}") from None
    if done is None:
        if stop.is_set():
            raise Failure(f"stopped by {why_stopped[0]} before a client came")
        raise Failure(f"handshake failed: no DTLS handshake within {args.timeout:g} s")
    peer = format_address(endpoint.remote_address) if endpoint.remote_address else "?"
    out.text("peer", peer)
    dtls_info = _dtls_lines(out, done, certificate)
    start_timeout = 10.0 if deadline is None else max(0.1, deadline - loop.time())
    started = await _until(_start_sctp(endpoint, start_timeout), stop, deadline)
    if started is None:
        raise Failure("stopped before the SCTP association was up")
    sctp, info = started
    _print_negotiated(out, info)
    out.event("connected", peer=peer, **dtls_info, sctp=negotiated(info))

    served: list[_ServedChannel] = []
    watchers: set[asyncio.Task[None]] = set()

    async def watch(entry: _ServedChannel) -> None:
        await entry.closed()
        summary = entry.summary()
        out.text("channel-closed", f"id={summary['id']} label={json.dumps(summary['label'])} "
                                   f"received={summary['messages_received']} messages "
                                   f"({summary['bytes_received']} bytes) "
                                   f"echoed={summary['messages_echoed']}")
        out.event("channel-closed", **summary)

    async def accept_all() -> bool:
        """Serve channels until the association ends (True)."""
        with contextlib.suppress(SctpTransportError):
            while True:
                channel = await sctp.accept_channel()
                entry = _ServedChannel(channel, echo=not args.no_echo)
                served.append(entry)
                out.text("channel-open", _channel_line(channel.channel))
                out.event("channel-open", **channel_info(channel.channel))
                task = asyncio.ensure_future(watch(entry))
                watchers.add(task)
                task.add_done_callback(watchers.discard)
        return True

    finished = await _until(accept_all(), stop, deadline)
    if finished is None and not stop.is_set():
        why_stopped[0] = f"the --timeout of {args.timeout:g} s"
    graceful_by_peer = finished is not None and sctp.error is None
    error = sctp.error
    await sctp.close(CLOSE_TIMEOUT)  # SHUTDOWN if we are the ones ending, then DTLS close
    if watchers:
        await asyncio.wait(set(watchers), timeout=1.0)
    stats = _stats(sctp)
    ended = ("by the peer (graceful)" if graceful_by_peer
             else f"aborted: {error}" if error is not None
             else f"by us ({why_stopped[0]})" if sctp.error is None
             else f"by us ({why_stopped[0]}); shutdown failed: {sctp.error}")
    out.text("sctp-closed", ended)
    out.text("stats", _stats_line(stats))
    out.event("summary", ok=error is None, error=error, ended=ended, peer=peer,
              channels=[entry.summary() for entry in served], stats=stats)
    if error is not None:
        return _fail(f"the association ended: {error}")
    return 0


# --- the client ---------------------------------------------------------------------------------


async def _client(args: argparse.Namespace, config: DtlsConfig, certificate: Certificate,
                  out: Output, result: dict[str, Any]) -> int:
    timeout: float = args.timeout
    try:
        endpoint = await connect_dtls(config, args.remote, local=args.local)
    except OSError as exc:
        raise Failure(f"{format_address(args.remote)}: {exc.strerror or exc}") from None
    try:
        try:
            done = await endpoint.handshake(timeout)
        except DtlsError as exc:
            raise Failure(f"handshake failed: {exc}") from None
        out.text("connected", format_address(args.remote))
        result["remote"] = format_address(args.remote)
        result["dtls"] = _dtls_lines(out, done, certificate)
        sctp, info = await _start_sctp(endpoint, timeout)
        try:
            _print_negotiated(out, info)
            result["sctp"] = negotiated(info)
            return await _exchange(args, sctp, out, result)
        finally:
            if not result.get("closed"):
                await sctp.close(CLOSE_TIMEOUT)
    finally:
        endpoint.close()


async def _exchange(args: argparse.Namespace, sctp: SctpTransport, out: Output,
                    result: dict[str, Any]) -> int:
    timeout: float = args.timeout
    limit = sctp.channels.remote_max_message_size
    if limit and args.size > limit:
        raise Failure(f"--size {args.size} exceeds the peer's max-message-size {limit}")
    try:
        channel = sctp.create_channel(args.label, ordered=not args.unordered,
                                      max_retransmits=args.max_retransmits,
                                      max_packet_life_time=args.max_packet_life_time,
                                      protocol=args.protocol)
        await asyncio.wait_for(channel.wait_open(), timeout)
    except (ValueError, InvalidStateError, SctpTransportError) as exc:
        raise Failure(f"cannot open the channel: {exc}") from None
    out.text("channel-open", _channel_line(channel.channel))
    result["channel"] = channel_info(channel.channel)

    echo = not args.no_echo
    mode = args.mode if args.mode != "auto" else (
        "rtt" if args.size <= SMALL_MESSAGE else "throughput")
    if not echo:
        mode = "throughput"  # nothing comes back to time
    checker = EchoChecker(args.count, args.size, args.text, ordered=not args.unordered)
    progress = asyncio.Event()

    def on_echo(data: bytes | str) -> None:
        checker.check(data)
        progress.set()

    channel.on_message = on_echo
    kind = "string" if args.text else "binary"
    out.text("sending", f"{args.count} {kind} messages of {args.size} bytes, "
                        f"{'echo expected' if echo else 'no echo expected'}, {mode} mode")

    closed_task = asyncio.ensure_future(channel.wait_closed())

    async def next_progress(what: str) -> None:
        waiter = asyncio.ensure_future(progress.wait())
        try:
            await asyncio.wait({waiter, closed_task}, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if not progress.is_set():
            if closed_task.done():
                why = f" ({sctp.error})" if sctp.error else ""
                raise Failure(f"the channel was closed{why} after {checker.received} of "
                              f"{args.count} echoes")
            hint = (" (a server started with --no-echo does not echo: pass --no-echo here too)"
                    if checker.received == 0 else "")
            raise Failure(f"no echo of {what} within {timeout:g} s: {checker.received} of "
                          f"{args.count} echoed{hint}")
        progress.clear()
        if checker.error is not None:
            raise Failure(checker.error)

    async def checked(aw: Awaitable[None], what: str) -> None:
        try:
            await asyncio.wait_for(aw, timeout)
        except TimeoutError:
            raise Failure(f"{what} did not finish within {timeout:g} s") from None
        except SctpTransportError as exc:
            raise Failure(f"the channel closed while sending: {exc}") from None

    rtts: list[float] = []
    start = time.perf_counter()
    try:
        if mode == "rtt":
            for index in range(args.count):
                sent = time.perf_counter()
                channel.send(make_message(index, args.size, args.text))
                while checker.received <= index:
                    await next_progress(f"message {index}")
                rtts.append(time.perf_counter() - sent)
        else:
            for index in range(args.count):
                if channel.buffered_amount > HIGH_WATER:
                    await checked(channel.drain(HIGH_WATER // 2), "sending")
                if checker.error is not None:
                    raise Failure(checker.error)
                channel.send(make_message(index, args.size, args.text))
            if echo:
                while not checker.done:
                    await next_progress(f"message {checker.received}")
            else:
                # Delivered, not just queued: the peer resets its side of the stream once it
                # has every message sent before our reset (RFC 6525 §5.2.2).
                await checked(channel.drain(0), "sending")
                await _close_channel(channel)
    except (InvalidStateError, SctpTransportError) as exc:
        raise Failure(f"the channel failed while sending: {exc}") from None
    finally:
        closed_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await closed_task
    elapsed = time.perf_counter() - start
    if checker.error is not None:
        raise Failure(checker.error)

    total = args.count * args.size
    result.update(count=args.count, size=args.size, text=args.text, mode=mode, echo=echo,
                  echoed=checker.received, seconds=round(elapsed, 6))
    if echo:
        out.text("echoed", f"{checker.received} of {args.count} messages, all match")
    if rtts:
        ms = sorted(r * 1000 for r in rtts)
        summary = {"min": ms[0], "avg": sum(ms) / len(ms), "median": ms[len(ms) // 2],
                   "max": ms[-1]}
        result["rtt_ms"] = {key: round(value, 3) for key, value in summary.items()}
        out.text("round-trip-ms", " ".join(f"{key} {value:.3f}" for key, value in
                                            summary.items()))
    if mode == "throughput" or not rtts:
        rate = total / elapsed / 1e6 if elapsed > 0 else 0.0
        result["throughput_mbps"] = round(rate, 3)
        out.text("throughput", f"{rate:.2f} MB/s ({total} bytes "
                               f"{'each way ' if echo else 'delivered '}in {elapsed:.3f} s)")

    # Close the channel (RFC 8831 §6.7 stream reset), then SCTP SHUTDOWN.
    closed = await _close_channel(channel)
    out.text("channel-closed", f"id={channel.id} "
                               f"{'(both streams reset)' if closed else '(not confirmed)'}")
    result["channel_closed"] = closed
    await sctp.close(CLOSE_TIMEOUT)
    result["closed"] = True
    stats = _stats(sctp)
    result["stats"] = stats
    out.text("stats", _stats_line(stats))
    graceful = sctp.error is None
    result["shutdown"] = "graceful" if graceful else sctp.error
    out.text("sctp-closed", "graceful" if graceful else f"failed: {sctp.error}")
    if not graceful:
        raise Failure(f"the SCTP shutdown failed: {sctp.error}")
    return 0


async def _close_channel(channel: Channel) -> bool:
    """Close ``channel`` and wait (a while) until both streams are reset: True once closed."""
    channel.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await channel.wait_closed()
    return channel.ready_state == DataChannelState.CLOSED


# --- entry points -------------------------------------------------------------------------------


async def _session(args: argparse.Namespace) -> int:
    try:
        certificate = _load_certificate(args)
    except (OSError, ValueError) as exc:
        print(f"{PROG}: cannot load the certificate: {exc}", file=sys.stderr)
        return 2
    try:
        keylog = _Keylog(args.keylog)
    except OSError as exc:
        print(f"{PROG}: cannot open the key log: {exc}", file=sys.stderr)
        return 2
    is_server = args.role == "server"
    out = Output(args.json, lines=is_server)
    result: dict[str, Any] = {"ok": False, "role": args.role}
    try:
        config = DtlsConfig(certificate, remote_fingerprints=args.fingerprint, mtu=args.mtu,
                            keylog=keylog if args.keylog else None)
    except ValueError as exc:
        keylog.close()
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    try:
        if is_server:
            status = await _server(args, config, certificate, out)
        else:
            status = await _client(args, config, certificate, out, result)
            result["ok"] = status == 0
    except Failure as exc:
        status = _fail(str(exc))
        result["error"] = str(exc)
        if is_server:
            out.event("summary", ok=False, error=str(exc))
    finally:
        keylog.close()
    if not is_server and args.json:
        result.pop("closed", None)
        print(json.dumps(result), flush=True)
    return status


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_session(args))


def main(argv: Sequence[str] | None = None) -> int:
    """``rtcstack datachannel ARGS`` without going through :mod:`rtcstack.cli.main` (tests)."""
    parser = argparse.ArgumentParser(prog=PROG)
    configure(parser)
    return run(parser.parse_args(argv))

