"""``rtcstack loopback``, the README's main job: two rtcstack peers call each other on loopback."""

from __future__ import annotations

import json

import pytest

from rtcstack.cli.main import main


def test_loopback_call_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loopback", "--seconds", "1.5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    layers = {(e["peer"], e["layer"]) for e in report["timeline"]}
    for who in ("alice", "bob"):
        for layer in ("ice", "dtls", "srtp", "sctp", "rtp", "media"):
            assert (who, layer) in layers, (who, layer)
        assert report["frames"][who]["video"] > 0 and report["frames"][who]["audio"] > 0
    texts = [e["text"] for e in report["timeline"]]
    assert any(t.startswith("selected ") for t in texts)
    assert any("handshake complete" in t for t in texts)
    assert any("ESTABLISHED" in t for t in texts)
    assert len(report["echo_ms"]) == 20
    for stats in report["stats"].values():
        types = {s["type"] for s in stats}
        assert {"transport", "candidate-pair", "inbound-rtp", "outbound-rtp", "codec",
                "data-channel", "certificate"} <= types


@pytest.mark.parametrize("video,audio", [("h264", "pcmu"), ("vp9", "pcma")])
def test_loopback_codecs(capsys: pytest.CaptureFixture[str], video: str, audio: str) -> None:
    assert main(["loopback", "--seconds", "1", "--video", video, "--audio", audio]) == 0
    out = capsys.readouterr().out
    assert "OK: the call worked" in out
    assert f"first video frame sent: {video.upper()}" in out
    assert f"first audio frame sent: {audio.upper()}" in out


def test_loopback_data_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loopback", "--seconds", "0.5", "--no-media"]) == 0
    out = capsys.readouterr().out
    timeline = out.split("\n\n")[0]
    assert "channel 'chat' open" in timeline and "  rtp  " not in timeline
