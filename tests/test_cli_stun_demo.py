"""``rtcstack stun-demo`` (the STUN walk-through) keeps working."""

from __future__ import annotations

import json

import pytest

from rtcstack.cli.main import main


def test_demo_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stun-demo", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [ex["transport"] for ex in report["exchanges"]] == ["udp", "tcp"]
    for ex in report["exchanges"]:
        # On loopback there is no NAT: the server sees the client's own address and port.
        assert ex["mapped"][0] == "127.0.0.1"
        assert ex["mapped"][1] == ex["local"][1] or ex["local"][0] == "0.0.0.0"
        assert ex["response"]["class"] == "SUCCESS"
        assert ex["response"]["transaction_id"] == ex["request"]["transaction_id"]
        assert ex["response"]["fingerprint_valid"] is True
    assert report["server_stats"]["success"] >= 2
    if len(report["server"]["udp"]) == 4:
        assert report["nat"]["mapping"] == "endpoint-independent"


def test_demo_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stun-demo", "--no-nat"]) == 0
    out = capsys.readouterr().out
    assert "Binding over UDP" in out and "Binding over TCP" in out
    assert "XOR-MAPPED-ADDRESS" in out
