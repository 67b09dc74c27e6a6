"""Interop with coturn (Debian ``coturn``), started on 127.0.0.1 on free ports with a static
long-term user (see tests/interop/coturn.py and /work/shared/INTEROP.md).

- Binding over UDP and TCP, through the library and through the CLI (in process and as a
  subprocess);
- RFC 8656 §7.2 Allocate with the RFC 8489 §9.2 long-term mechanism: 401, retry with REALM and
  NONCE, success; coturn verifies our MESSAGE-INTEGRITY and we verify coturn's with the same key;
  Refresh with LIFETIME 0 releases the allocation; a wrong password ends in a clean 401.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from rtcstack.asyncio.stun import (
    StunErrorResponse,
    get_mapped_address,
    open_tcp_client,
    open_udp_client,
    raise_for_error,
)
from rtcstack.cli.main import main
from rtcstack.stun import (
    Lifetime,
    LongTermCredentials,
    Message,
    MessageClass,
    Method,
    Nonce,
    Realm,
    RequestedTransport,
    Username,
    XorMappedAddress,
    XorRelayedAddress,
    long_term_key,
)

from .coturn import Coturn, CoturnConfig, running_coturn

pytestmark = pytest.mark.interop

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout=20))


@pytest.fixture(scope="module")
def coturn() -> Iterator[Coturn]:
    with running_coturn(CoturnConfig(listening_ips=["127.0.0.1"])) as server:
        yield server


# --- Binding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_binding_through_the_library(coturn: Coturn, transport: str) -> None:
    host, port = run(
        get_mapped_address(f"127.0.0.1:{coturn.port}", transport=transport, timeout=5)
    )
    assert host == "127.0.0.1" and 0 < port < 65536


@pytest.mark.parametrize("flags", [[], ["--tcp"]])
def test_binding_through_the_cli(
    coturn: Coturn, flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stun", f"127.0.0.1:{coturn.port}", "--json", "-v", *flags]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["mapped_address"]["host"] == "127.0.0.1"
    assert out["transport"] == ("tcp" if flags else "udp")
    names = [a["name"] for a in out["response"]["attributes"]]
    assert "XOR-MAPPED-ADDRESS" in names
    assert out["response"]["fingerprint_valid"] is True  # coturn runs with --fingerprint


def test_binding_through_the_cli_subprocess(coturn: Coturn) -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "rtcstack")
    if not os.path.exists(exe):
        pytest.skip(f"{exe} is not installed (pip install -e .)")
    proc = subprocess.run(
        [exe, "stun", f"127.0.0.1:{coturn.port}", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["mapped_address"]["host"] == "127.0.0.1"
    assert out["server"] == {"host": "127.0.0.1", "port": coturn.port}


# --- Allocate with long-term credentials ------------------------------------------------------


async def allocate_and_release(coturn: Coturn, transport: str) -> None:
    cfg = coturn.config
    creds = LongTermCredentials(cfg.user, cfg.password)
    key = long_term_key(cfg.user, cfg.realm, cfg.password)  # coturn: MD5, no algorithms offered
    client = (
        await open_udp_client(("127.0.0.1", 0))
        if transport == "udp"
        else await open_tcp_client(coturn.address)
    )
    try:
        allocate = Message.new(
            Method.ALLOCATE, MessageClass.REQUEST, [RequestedTransport(17), Lifetime(300)]
        )
        response, source = await client.request(allocate, coturn.address, credentials=creds)
        assert source == coturn.address
        # The first request went out bare, got 401 with REALM and NONCE, and was retried once.
        stats = client.client.stats
        assert stats.retries == 1 and stats.integrity_failures == 0
        raise_for_error(response)
        assert response.message_class is MessageClass.SUCCESS
        assert response.transaction_id != allocate.transaction_id  # the retry's transaction
        relayed = response.get(XorRelayedAddress)
        assert relayed is not None and relayed.address[0] == "127.0.0.1"
        assert response.get(XorMappedAddress) is not None
        lifetime = response.get(Lifetime)
        assert lifetime is not None and lifetime.value > 0  # coturn grants at least 600 s
        # Integrity both ways: coturn accepted our MESSAGE-INTEGRITY (it allocated), and
        # coturn's response verifies with the same key -- and not with a wrong one.
        assert response.check_integrity(key)
        assert not response.check_integrity(long_term_key(cfg.user, cfg.realm, "wrong"))
        assert response.check_fingerprint()

        # Refresh with LIFETIME 0 deletes the allocation (RFC 8656 §7.3); the cached realm and
        # nonce sign it at once (RFC 8489 §9.2.3.2): no new 401 round trip.
        refresh = Message.new(Method.REFRESH, MessageClass.REQUEST, [Lifetime(0)])
        response, _ = await client.request(refresh, coturn.address, credentials=creds)
        raise_for_error(response)
        assert response.get(Lifetime) == Lifetime(0)
        assert response.check_integrity(key)
        assert client.client.stats.retries == 1
    finally:
        client.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_allocate_with_long_term_credentials(coturn: Coturn, transport: str) -> None:
    run(allocate_and_release(coturn, transport))


def test_first_request_gets_401_with_realm_and_nonce(coturn: Coturn) -> None:
    async def go() -> Message:
        client = await open_udp_client(("127.0.0.1", 0))
        try:
            allocate = Message.new(Method.ALLOCATE, MessageClass.REQUEST, [RequestedTransport(17)])
            response, _ = await client.request(allocate, coturn.address)  # no credentials
            return response
        finally:
            client.close()

    response = run(go())
    assert response.error_code == 401
    assert response.get(Realm) == Realm(coturn.config.realm)
    nonce = response.get(Nonce)
    assert nonce is not None and nonce.value
    assert response.get(Username) is None


def test_wrong_password_gives_a_clean_401(coturn: Coturn) -> None:
    async def go() -> None:
        client = await open_udp_client(("127.0.0.1", 0))
        try:
            allocate = Message.new(Method.ALLOCATE, MessageClass.REQUEST, [RequestedTransport(17)])
            bad = LongTermCredentials(coturn.config.user, "not-the-password")
            response, _ = await client.request(allocate, coturn.address, credentials=bad)
            assert client.client.stats.retries == 1  # retried once, never twice
            raise_for_error(response)
        finally:
            client.close()

    with pytest.raises(StunErrorResponse) as info:
        run(go())
    assert info.value.code == 401
    assert str(info.value).startswith("error response 401")
