"""rtcstack.asyncio.dtls: two DtlsEndpoints over real UDP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket

import pytest

from rtcstack.asyncio.dtls import (
    DtlsConnectionError,
    DtlsEndpoint,
    DtlsTimeoutError,
    accept_dtls,
    connect_dtls,
)
from rtcstack.dtls import (
    AlertDescription,
    Certificate,
    CipherSuite,
    DtlsAlert,
    DtlsConfig,
    HandshakeComplete,
    SrtpProfileId,
    certificate_fingerprint,
)
from tests.helpers import UdpPeer, run

CERT_A = Certificate.generate()
CERT_B = Certificate.generate()


async def pair(client_config: DtlsConfig, server_config: DtlsConfig,
               ) -> tuple[DtlsEndpoint, DtlsEndpoint, HandshakeComplete, HandshakeComplete]:
    server = await accept_dtls(server_config, ("127.0.0.1", 0))
    client = await connect_dtls(client_config, server.local_address)
    done_c, done_s = await asyncio.gather(client.handshake(5), server.handshake(5))
    return client, server, done_c, done_s


def test_handshake_keying_material_data_and_close() -> None:
    async def main() -> None:
        client, server, done_c, done_s = await pair(
            DtlsConfig(CERT_A, srtp_profiles=[SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_80]),
            DtlsConfig(CERT_B))
        try:
            assert done_c.cipher_suite == done_s.cipher_suite == \
                CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            assert done_c.srtp_profile == done_s.srtp_profile == \
                SrtpProfileId.SRTP_AES128_CM_HMAC_SHA1_80
            assert done_c.peer_certificate == CERT_B.der
            assert done_s.peer_certificate == CERT_A.der
            assert server.remote_address == client.local_address
            material = client.connection.srtp_keying_material()
            assert len(material) == 60
            assert material == server.connection.srtp_keying_material()
            label = b"EXPERIMENTAL-test"
            assert client.connection.export_keying_material(label, 32) == \
                server.connection.export_keying_material(label, 32)
            client.send(b"ping")
            assert await server.receive() == b"ping"
            big = bytes(range(256)) * 20  # larger than the MTU: several records
            server.send(big)
            received = b""
            while len(received) < len(big):
                chunk = await client.receive()
                assert chunk is not None
                received += chunk
            assert received == big
            client.close()
            assert await server.receive() is None  # close_notify
            assert server.closed and server.error is None
            with pytest.raises(Exception, match="not connected"):
                server.send(b"late")
        finally:
            client.close()
            server.close()

    run(main())


def test_pinned_fingerprints_both_ways() -> None:
    async def main() -> None:
        client, server, _, _ = await pair(
            DtlsConfig(CERT_A, remote_fingerprints=[("sha-256", CERT_B.fingerprint())]),
            DtlsConfig(CERT_B, remote_fingerprints=[("sha-512", CERT_A.fingerprint("sha-512"))]))
        client.close()
        server.close()

    run(main())


def test_wrong_fingerprint_fails_on_both_sides() -> None:
    async def main() -> None:
        server = await accept_dtls(DtlsConfig(CERT_B), ("127.0.0.1", 0))
        wrong = ("sha-256", certificate_fingerprint(CERT_A.der))  # not the server's
        client = await connect_dtls(DtlsConfig(CERT_A, remote_fingerprints=[wrong]),
                                    server.local_address)
        try:
            results = await asyncio.gather(client.handshake(5), server.handshake(5),
                                           return_exceptions=True)
        finally:
            client.close()
            server.close()
        local, remote = results
        assert isinstance(local, DtlsAlert) and not local.remote
        assert local.description == AlertDescription.BAD_CERTIFICATE
        assert "fingerprint" in str(local)
        assert isinstance(remote, DtlsAlert) and remote.remote
        assert remote.description == AlertDescription.BAD_CERTIFICATE
        assert str(remote).startswith("peer sent bad_certificate")
        assert client.closed and client.error is local
        with pytest.raises(DtlsAlert):
            await client.receive()

    run(main())


def test_handshake_timeout_against_a_silent_peer() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, silent = await loop.create_datagram_endpoint(UdpPeer,
                                                                local_addr=("127.0.0.1", 0))
        client = await connect_dtls(DtlsConfig(CERT_A), silent.local)
        try:
            start = loop.time()
            with pytest.raises(DtlsTimeoutError, match=r"no DTLS handshake within 0\.3 s"):
                await client.handshake(0.3)
            assert 0.25 < loop.time() - start < 2.0
            assert client.closed and isinstance(client.error, DtlsTimeoutError)
            hello, _ = await asyncio.wait_for(silent.queue.get(), 1)
            assert hello[0] == 22  # the ClientHello did go out
        finally:
            client.close()
            transport.close()

    run(main())


def test_retransmission_timer_and_giving_up() -> None:
    """The timer the connection asks for is armed with loop.call_at: the ClientHello goes out
    again on schedule, and after max_retransmissions the handshake fails."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, silent = await loop.create_datagram_endpoint(UdpPeer,
                                                                local_addr=("127.0.0.1", 0))
        config = DtlsConfig(CERT_A, initial_retransmit=0.05, max_retransmissions=2)
        client = await connect_dtls(config, silent.local)
        try:
            with pytest.raises(DtlsAlert, match="no answer after 2 retransmissions"):
                await client.handshake(3)
            sent = []
            while not silent.queue.empty():
                sent.append(silent.queue.get_nowait()[0])
            assert len(sent) == 3  # the original and two retransmissions
            assert all(data[0] == 22 for data in sent)
        finally:
            client.close()
            transport.close()

    run(main())


def test_connection_refused() -> None:
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        # Nothing listens on the port any more: loopback answers ICMP port unreachable.
        client = await connect_dtls(DtlsConfig(CERT_A), ("127.0.0.1", port))
        try:
            with pytest.raises(DtlsConnectionError, match=f"127.0.0.1:{port}"):
                await client.handshake(5)
        finally:
            client.close()

    run(main())


def test_server_learns_its_peer_and_ignores_others() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await accept_dtls(DtlsConfig(CERT_B), ("127.0.0.1", 0))
        stray_transport, stray = await loop.create_datagram_endpoint(
            UdpPeer, local_addr=("127.0.0.1", 0))
        try:
            stray.send(b"\x80\x00junk", server.local_address)  # RTP-looking: not a handshake
            client = await connect_dtls(DtlsConfig(CERT_A), server.local_address)
            await asyncio.gather(client.handshake(5), server.handshake(5))
            assert server.remote_address == client.local_address
            stray.send(b"\x17\xfe\xfd" + bytes(20), server.local_address)  # from elsewhere
            client.send(b"after")
            assert await server.receive() == b"after"
            assert server.ignored == 2
            assert stray.queue.empty()  # nothing was ever sent to the stray socket
            client.close()
        finally:
            server.close()
            stray_transport.close()

    run(main())


def test_receive_wakes_up_on_close_and_rsa() -> None:
    async def main() -> None:
        rsa = Certificate.generate("rsa-2048")
        client, server, done_c, _ = await pair(DtlsConfig(CERT_A), DtlsConfig(rsa))
        assert done_c.cipher_suite == CipherSuite.ECDHE_RSA_WITH_AES_128_GCM_SHA256
        waiting = asyncio.ensure_future(client.receive())
        await asyncio.sleep(0)
        assert not waiting.done()
        server.close()
        assert await asyncio.wait_for(waiting, 2) is None
        assert client.closed and client.error is None
        client.close()

    run(main())


def test_handshake_result_is_kept() -> None:
    async def main() -> None:
        client, server, done_c, _ = await pair(DtlsConfig(CERT_A), DtlsConfig(CERT_B))
        client.close()
        server.close()
        assert await client.handshake() == done_c

    run(main())
