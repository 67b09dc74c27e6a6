"""Our STUN server queried by independent implementations: aioice's STUN codec (a client nobody
here wrote) and tshark's STUN dissector reading a loopback capture of our answers."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Awaitable
from typing import Any

import pytest
from aioice import stun as aioice_stun

from rtcstack.asyncio.stun_server import AsyncStunServer, serve_stun
from rtcstack.stun import (
    ChangeRequest,
    Message,
    MessageClass,
    Method,
    Padding,
    Software,
    UnknownAttribute,
    short_term_key,
)
from rtcstack.stun.server import ShortTermAuth
from tests.helpers import UdpPeer, has_loopback_2, udp_peer
from tests.helpers import run as _run

pytestmark = pytest.mark.interop

TIMEOUT = 10.0


def run(coro: Awaitable[Any]) -> Any:
    return _run(coro, TIMEOUT)


async def client() -> UdpPeer:
    return await udp_peer()


def aioice_binding(**attributes: Any) -> aioice_stun.Message:
    message = aioice_stun.Message(
        message_method=aioice_stun.Method.BINDING, message_class=aioice_stun.Class.REQUEST
    )
    for name, value in attributes.items():
        message.attributes[name.replace("_", "-")] = value
    return message


def test_aioice_binding_gets_the_right_xor_mapped_address() -> None:
    async def body() -> None:
        server = await serve_stun(("127.0.0.1", 0), software="rtcstack-interop")
        try:
            peer = await client()
            request = aioice_binding()
            request.add_fingerprint()
            data, source = await peer.ask(bytes(request), server.udp_addresses[0])
            response = aioice_stun.parse_message(data)  # checks FINGERPRINT itself
            assert source == server.udp_addresses[0]
            assert response.message_class == aioice_stun.Class.RESPONSE
            assert response.transaction_id == request.transaction_id
            assert response.attributes["XOR-MAPPED-ADDRESS"] == peer.local
            assert response.attributes["SOFTWARE"] == "rtcstack-interop"
            assert "FINGERPRINT" in response.attributes
        finally:
            server.close()
            await server.wait_closed()

    run(body())


def test_aioice_short_term_integrity_both_ways() -> None:
    key = short_term_key("ice-password")

    async def body() -> None:
        server = await serve_stun(
            ("127.0.0.1", 0), short_term=ShortTermAuth.from_users({"frag:remote": "ice-password"})
        )
        try:
            peer = await client()
            request = aioice_binding(USERNAME="frag:remote", PRIORITY=0x6E0001FF)
            request.add_message_integrity(key)
            request.add_fingerprint()
            data, _ = await peer.ask(bytes(request), server.udp_addresses[0])
            response = aioice_stun.parse_message(data)
            assert response.message_class == aioice_stun.Class.RESPONSE
            assert response.attributes["XOR-MAPPED-ADDRESS"] == peer.local
            # aioice verifies the HMAC our server put on its response...
            assert response.check_message_integrity(key)
            assert not response.check_message_integrity(b"another key")
            # ... and our server rejects a wrong key with 401 (RFC 8489 §9.1.3).
            forged = aioice_binding(USERNAME="frag:remote")
            forged.add_message_integrity(b"not the key")
            data, _ = await peer.ask(bytes(forged), server.udp_addresses[0])
            error = aioice_stun.parse_message(data)
            assert error.message_class == aioice_stun.Class.ERROR
            assert error.attributes["ERROR-CODE"][0] == 401
        finally:
            server.close()
            await server.wait_closed()

    run(body())


@pytest.mark.skipif(not has_loopback_2(), reason="127.0.0.2 is not usable on lo")
def test_aioice_reads_rfc5780_attributes() -> None:
    async def body() -> None:
        server = await serve_stun(("127.0.0.1", 0), ("127.0.0.2", 0), tcp=False)
        try:
            peer = await client()
            primary = server.server.local_addresses[0]
            other = server.server.local_addresses[3]
            request = aioice_binding(CHANGE_REQUEST=0x06)  # change IP and port
            data, source = await peer.ask(bytes(request), primary)
            response = aioice_stun.parse_message(data)
            assert source == other
            assert response.attributes["OTHER-ADDRESS"] == other
            assert response.attributes["RESPONSE-ORIGIN"] == other
            assert response.attributes["MAPPED-ADDRESS"] == peer.local
            assert response.attributes["XOR-MAPPED-ADDRESS"] == peer.local
        finally:
            server.close()
            await server.wait_closed()

    run(body())


# --- tshark as a dissector oracle -------------------------------------------------------------


async def _capture_exchange(tshark: str, workdir: str) -> tuple[str, int, int]:
    server: AsyncStunServer | None = None
    five780 = has_loopback_2()
    server = await serve_stun(
        ("127.0.0.1", 0), ("127.0.0.2", 0) if five780 else None, tcp=False, software="rtcstack"
    )
    peer = await client()
    pcap = os.path.join(workdir, "stun.pcapng")
    requests = [
        Message.new(Method.BINDING, MessageClass.REQUEST),
        Message.new(Method.BINDING, MessageClass.REQUEST, [Software("probe")]),
        Message.new(Method.BINDING, MessageClass.REQUEST, [Padding(b"\0" * 64)]),
        Message.new(Method.BINDING, MessageClass.REQUEST, [UnknownAttribute(0x7F00, b"zz")]),
    ]
    if five780:
        requests.append(Message.new(Method.BINDING, MessageClass.REQUEST, [ChangeRequest(1, 1)]))
        requests.append(Message.new(Method.BINDING, MessageClass.REQUEST, [ChangeRequest(0, 1)]))
    count = 2 * len(requests)
    # Capture only this test's client port: every request and every answer, whichever of the
    # server's four addresses it leaves from.
    proc = await asyncio.create_subprocess_exec(
        tshark,
        "-i",
        "lo",
        "-f",
        f"udp port {peer.local[1]}",
        "-c",
        str(count),
        "-a",
        "duration:8",
        "-w",
        pcap,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        while True:  # tshark says when the capture is live
            line = await proc.stderr.readline()
            if not line:
                raise AssertionError("tshark exited before capturing")
            if b"Capture started" in line:
                break
        for i, request in enumerate(requests):
            data = request.serialize(fingerprint=i % 2 == 0)
            reply, _ = await peer.ask(data, server.udp_addresses[0])
            assert Message.parse(reply).transaction_id == request.transaction_id
        await asyncio.wait_for(proc.wait(), TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        server.close()
        await server.wait_closed()
    return pcap, count, peer.local[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="capturing on lo needs root or the wireshark group")
def test_tshark_finds_no_malformed_stun_in_our_answers() -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed: install the Debian package tshark")
    workdir = tempfile.mkdtemp(prefix="rtcstack-tshark-")
    try:
        pcap, count, port = run(_capture_exchange(tshark, workdir))
        decode = ["-d", f"udp.port=={port},stun"]
        import subprocess

        stun = subprocess.run(
            [tshark, "-r", pcap, *decode, "-Y", "stun", "-T", "fields", "-e", "stun.type"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
        )
        assert len(stun.stdout.split()) == count, stun.stdout
        malformed = subprocess.run(
            [tshark, "-r", pcap, *decode, "-Y", "_ws.malformed || _ws.expert.severity >= error"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
        )
        assert malformed.stdout.strip() == "", malformed.stdout
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
