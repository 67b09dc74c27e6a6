"""The connected-endpoint fast path of the DTLS record layer (``protect_application`` and
``unprotect_application``) keeps every rule of the general path it short-cuts: replays,
forgeries and several records in one datagram take the general path and are handled, dropped
and counted there."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rtcstack.dtls import ApplicationData, Certificate, DtlsConfig, DtlsConnection

CERT_A = Certificate.generate()
CERT_B = Certificate.generate()


def connected() -> tuple[DtlsConnection, DtlsConnection]:
    client = DtlsConnection(DtlsConfig(CERT_A, [("sha-256", CERT_B.fingerprint())]), "client")
    server = DtlsConnection(DtlsConfig(CERT_B, [("sha-256", CERT_A.fingerprint())]), "server")
    client.connect(now=0.0)
    for _ in range(10):
        for sender, receiver in ((client, server), (server, client)):
            while (datagram := sender.poll_transmit()) is not None:
                receiver.handle_datagram(datagram, now=0.0)
    while client.poll_event() is not None:
        pass
    while server.poll_event() is not None:
        pass
    return client, server


def data_events(connection: DtlsConnection) -> list[bytes]:
    out = []
    while (event := connection.poll_event()) is not None:
        if isinstance(event, ApplicationData):
            out.append(event.data)
    return out


def test_records_round_trip_and_replays_are_dropped_and_counted() -> None:
    client, server = connected()
    client.send(b"one")
    first = client.poll_transmit()
    assert first is not None
    server.handle_datagram(first, now=0.0)
    server.handle_datagram(first, now=0.0)  # RFC 6347 §4.1.2.6: a replay
    assert data_events(server) == [b"one"]
    assert server._records.dropped.get("replay") == 1


def test_a_forged_record_is_dropped_and_counted() -> None:
    client, server = connected()
    client.send(b"secret")
    datagram = bytearray(client.poll_transmit() or b"")
    datagram[-1] ^= 1
    server.handle_datagram(bytes(datagram), now=0.0)
    assert data_events(server) == []
    assert server._records.dropped.get("authentication") == 1
    client.send(b"after")  # the connection survives
    server.handle_datagram(client.poll_transmit() or b"", now=0.0)
    assert data_events(server) == [b"after"]


def test_two_records_in_one_datagram_take_the_general_path() -> None:
    client, server = connected()
    client.send(b"a")
    client.send(b"b")
    one, two = client.poll_transmit(), client.poll_transmit()
    assert one is not None and two is not None
    server.handle_datagram(one + two, now=0.0)
    assert data_events(server) == [b"a", b"b"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=1, max_size=300), st.booleans(),
                          st.integers(0, 400), st.integers(0, 255)), max_size=12))
def test_only_fresh_intact_records_are_delivered(items: list[tuple[bytes, bool, int, int]],
                                                 ) -> None:
    """Whatever mix of intact, altered (every byte of a record is authenticated: the header
    through the additional data, the rest through the tag) and replayed datagrams arrives,
    exactly the intact ones come out, once each and in order; every other datagram is
    dropped and counted (by the general path the fast path hands it to)."""
    client, server = connected()
    datagrams, expected = [], []
    for payload, replay, position, value in items:
        client.send(payload)
        datagram = client.poll_transmit() or b""
        if value % 3 == 0:
            changed = bytearray(datagram)
            changed[position % len(changed)] ^= value | 1
            datagram = bytes(changed)
        else:
            expected.append(payload)
        datagrams.append(datagram)
        if replay:
            datagrams.append(datagram)
    for datagram in datagrams:
        server.handle_datagram(datagram, now=0.0)
    assert data_events(server) == expected
    drops = sum(server._records.dropped.values()) + sum(server.dropped.values())
    assert drops >= len(datagrams) - len(expected)
