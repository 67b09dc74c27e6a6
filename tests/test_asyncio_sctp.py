"""rtcstack.asyncio.sctp: data channels between two rtcstack endpoints over DTLS on real UDP
loopback, with asyncio's transport and with the batched one (rtcstack.asyncio.udp)."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from rtcstack.asyncio.dtls import DtlsEndpoint, accept_dtls, connect_dtls
from rtcstack.asyncio.sctp import SctpTransport, SctpTransportError
from rtcstack.asyncio.udp import BatchedDatagramTransport, create_batched_endpoint
from rtcstack.dtls import Certificate, DtlsConfig
from rtcstack.sctp import DataChannelState
from tests.helpers import run

CERT_A = Certificate.generate()
CERT_B = Certificate.generate()


async def dtls_pair(batched: bool) -> tuple[DtlsEndpoint, DtlsEndpoint]:
    server = await accept_dtls(DtlsConfig(CERT_B, [("sha-256", CERT_A.fingerprint())]),
                               ("127.0.0.1", 0), batched=batched)
    client = await connect_dtls(DtlsConfig(CERT_A, [("sha-256", CERT_B.fingerprint())]),
                                server.local_address, batched=batched)
    await asyncio.gather(client.handshake(5), server.handshake(5))
    return client, server


async def sctp_pair(batched: bool) -> tuple[SctpTransport, SctpTransport]:
    client, server = await dtls_pair(batched)
    a, b = SctpTransport(client), SctpTransport(server)
    await asyncio.gather(a.start(), b.start())
    return a, b


@pytest.mark.parametrize("batched", [False, True])
def test_channels_echo_text_and_binary_of_every_size(batched: bool) -> None:
    async def main() -> None:
        a, b = await sctp_pair(batched)
        assert a.dtls.batched is batched
        chat = a.create_channel("chat", protocol="json")
        await chat.wait_open()
        peer = await b.accept_channel()
        assert (peer.label, peer.channel.protocol, peer.id % 2) == ("chat", "json", 0)
        sizes = [1, 2, 100, 1163, 1164, 16 * 1024, 65536, 100_000, 256 * 1024]
        sent: list[bytes | str] = ["hello", "", b"", "héllo ✓", *(os.urandom(n) for n in sizes)]
        for message in sent:
            chat.send(message)
        for message in sent:
            echoed = await peer.recv()
            assert echoed == message and type(echoed) is type(message)
            peer.send(echoed)
        for message in sent:
            assert await chat.recv() == message
        await asyncio.gather(a.close(), b.close())
        assert a.error is None and b.error is None
        assert not a.dtls._timer.armed and not b.dtls._timer.armed

    run(main(), timeout=30)


@pytest.mark.parametrize("batched", [False, True])
def test_bulk_with_back_pressure_arrives_in_order(batched: bool) -> None:
    async def main() -> None:
        a, b = await sctp_pair(batched)
        channel = a.create_channel("bulk")
        await channel.wait_open()
        peer = await b.accept_channel()
        received: list[bytes | str] = []
        done = asyncio.get_running_loop().create_future()
        messages = [os.urandom(16 * 1024) for _ in range(256)]  # 4 MiB

        def on_message(message: bytes | str) -> None:
            received.append(message)
            if len(received) == len(messages):
                done.set_result(None)

        peer.on_message = on_message
        highest = 0
        for message in messages:
            if channel.buffered_amount > 512 * 1024:
                await channel.drain(128 * 1024)
                assert channel.buffered_amount <= 128 * 1024
            channel.send(message)
            highest = max(highest, channel.buffered_amount)
        await asyncio.wait_for(done, 20)
        assert received == messages
        assert highest <= 512 * 1024 + 16 * 1024
        stats = a.association.stats
        assert stats.packets_dropped == 0 and b.association.stats.packets_dropped == 0
        await asyncio.gather(a.close(), b.close())

    run(main(), timeout=40)


def test_many_channels_open_and_close_from_either_side() -> None:
    async def main() -> None:
        a, b = await sctp_pair(True)
        ours = [a.create_channel(f"c{i}", ordered=i % 2 == 0) for i in range(10)]
        theirs = [await b.accept_channel() for _ in ours]
        assert sorted(c.label for c in theirs) == sorted(c.label for c in ours)
        by_label = {c.label: c for c in theirs}
        for channel in ours:
            channel.send(channel.label)
        for channel in ours:
            assert await by_label[channel.label].recv() == channel.label
        ours[0].close()
        by_label["c1"].close()
        for closed in (ours[0], by_label["c0"], ours[1], by_label["c1"]):
            with pytest.raises(SctpTransportError):
                await asyncio.wait_for(closed.recv(), 5)
            assert closed.ready_state == DataChannelState.CLOSED
        reused = a.create_channel("again")
        assert reused.id in (ours[0].id, ours[1].id) or reused.id % 2 == 0
        assert (await b.accept_channel()).label == "again"
        await asyncio.gather(a.close(), b.close())

    run(main(), timeout=20)


def test_peer_vanishing_ends_the_association_with_an_error() -> None:
    async def main() -> None:
        a, b = await sctp_pair(True)
        fast = a.association.config
        assert fast.rto_max <= 10
        channel = a.create_channel("x")
        await channel.wait_open()
        b.dtls.close()  # the peer disappears without SCTP shutdown
        b._timer.cancel()
        # DTLS sends close_notify: the client's DTLS ends; the SCTP side aborts its close.
        await a.close(timeout=1)
        assert a.association.state.name == "CLOSED"

    run(main(), timeout=20)


def test_batched_transport_reports_icmp_errors_and_closes() -> None:
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()
        errors: list[Exception] = []
        batches: list[int] = []
        lost = asyncio.get_running_loop().create_future()

        class Protocol(asyncio.DatagramProtocol):
            def error_received(self, exc: Exception) -> None:
                errors.append(exc)

            def batch_received(self) -> None:
                batches.append(1)

            def connection_lost(self, exc: Exception | None) -> None:
                lost.set_result(exc)

        transport, _ = await create_batched_endpoint(Protocol, remote_addr=dead)
        assert isinstance(transport, BatchedDatagramTransport)
        assert transport.get_extra_info("peername") == dead
        transport.sendto(b"ping")
        for _ in range(50):
            await asyncio.sleep(0.01)
            if errors:
                break
        assert errors and isinstance(errors[0], ConnectionRefusedError)
        transport.close()
        assert transport.is_closing()
        assert await lost is None

    run(main())


def test_on_message_set_late_gets_the_queued_messages_first() -> None:
    async def main() -> None:
        a, b = await sctp_pair(True)
        channel = a.create_channel("early")
        for i in range(3):
            channel.send(f"m{i}")
        peer = await b.accept_channel()
        await asyncio.sleep(0.05)  # the messages are queued on the peer's channel by now
        got: list[bytes | str] = []
        peer.on_message = got.append
        channel.send("m3")
        for _ in range(50):
            if len(got) == 4:
                break
            await asyncio.sleep(0.01)
        assert got == ["m0", "m1", "m2", "m3"]
        await asyncio.gather(a.close(), b.close())

    run(main())


def test_dtls_closing_under_sctp_ends_the_transport() -> None:
    """The peer's DTLS close_notify without an SCTP shutdown: the SCTP side learns of it
    (TransportClosed with an error) instead of retransmitting into a closed connection."""
    async def main() -> None:
        a, b = await sctp_pair(True)
        chat = a.create_channel("x")
        await chat.wait_open()
        peer = await b.accept_channel()
        a.dtls.close()  # close_notify, no SCTP SHUTDOWN
        with pytest.raises(SctpTransportError):
            await asyncio.wait_for(peer.recv(), 5)
        assert b.error is not None and b.association.state.name == "CLOSED"
        assert b.association.poll_timeout() is None
        await b.close()

    run(main())


def test_a_local_send_refusal_does_not_end_the_dtls_connection() -> None:
    """Only ICMP port unreachable (ConnectionRefusedError) ends a connected endpoint; a local
    refusal such as a firewall's EPERM loses one datagram, which retransmission covers."""
    async def main() -> None:
        client, server = await dtls_pair(True)
        client.error_received(PermissionError(1, "Operation not permitted"))
        assert not client.closed
        client.send(b"still here")
        assert await asyncio.wait_for(server.receive(), 5) == b"still here"
        client.error_received(ConnectionRefusedError(111, "Connection refused"))
        assert client.closed
        server.close()

    run(main())


def test_concurrent_receivers_echo_from_callbacks_and_waits() -> None:
    """Several recv() at once each get a message; an echo sent from on_message for a burst
    of thousands does not recurse per message; connected, wait_closed() on a channel and on
    the transport."""
    async def main() -> None:
        a, b = await sctp_pair(True)
        assert a.connected is not None and a.connected.zero_checksum
        channel = a.create_channel("many")
        await channel.wait_open()
        peer = await b.accept_channel()
        receivers = [asyncio.ensure_future(peer.recv()) for _ in range(3)]
        await asyncio.sleep(0)
        for i in range(3):
            channel.send(f"r{i}")
        assert sorted(await asyncio.wait_for(asyncio.gather(*receivers), 5)) == ["r0", "r1", "r2"]

        peer.on_message = peer.send  # echo from inside the transport's dispatch
        echoed: list[bytes | str] = []
        channel.on_message = echoed.append
        burst = [bytes([i % 256]) * 50 for i in range(3000)]
        for message in burst:
            channel.send(message)
        for _ in range(500):
            if len(echoed) == len(burst):
                break
            await asyncio.sleep(0.01)
        assert echoed == burst

        peer.close()
        await asyncio.wait_for(channel.wait_closed(), 5)
        await asyncio.wait_for(peer.wait_closed(), 5)
        b_closed = asyncio.ensure_future(b.wait_closed())
        await a.close()
        await asyncio.wait_for(b_closed, 5)
        assert b.error is None
        await b.close()

    run(main(), timeout=30)
