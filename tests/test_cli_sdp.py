"""``rtcstack sdp show|check``: summaries, the typed JSON model, problems with line numbers and
exit statuses (0 clean or warnings only, 1 errors, 2 not a description)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from rtcstack.cli.main import COMMANDS, main
from rtcstack.vectors import load

CAPTURES = Path(__file__).resolve().parent.parent / "rfc-vectors" / "captures"


def _file(tmp_path: Path, text: str, name: str = "x.sdp") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return str(path)


def test_sdp_is_a_command() -> None:
    assert COMMANDS["sdp"][0] == "rtcstack.cli.sdp"


def test_show_summarises_a_jsep_offer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, load(9429, "offer-b2").text)
    assert main(["sdp", "show", path]) == 0
    out = capsys.readouterr().out
    assert "group BUNDLE: a1 d1 v1 v2" in out
    assert "m-section 0: audio mid=a1 port=12200 UDP/TLS/RTP/SAVPF sendrecv" in out
    assert "  codec 96 opus/48000/2" in out
    assert "  codec 97 telephone-event/8000  0-15" in out
    assert "  extmap 2 urn:ietf:params:rtp-hdrext:ssrc-audio-level" in out
    assert "  candidate relay 192.0.2.200:12200 udp component 1 from 198.51.100.200:11200" in out
    assert "  ice ufrag 7sFv pwd dOTZKZNVlO9RSGsEGM63JXT2" in out
    assert "  fingerprint sha-256 7B:8B:F0:65" in out and "  setup actpass" in out
    assert "  sctp-port 5000, max-message-size 65536" in out
    assert "  rid 1 send" in out and "  simulcast send 1;2;3" in out
    assert "m-section 2: video mid=v1 port=12200 UDP/TLS/RTP/SAVPF sendrecv" in out


def test_show_json_is_the_typed_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, load(9429, "offer-a1").text)
    assert main(["sdp", "show", "--json", path]) == 0
    model = json.loads(capsys.readouterr().out)
    assert len(model["media"]) == 2 and model["normalised"] == []
    rtpmap = next(e for e in model["media"][0] if e.get("name") == "rtpmap")
    assert rtpmap["fields"] == {"payload_type": 96, "encoding": "opus", "clock_rate": 48000,
                                "channels": 2}
    assert rtpmap["line"] == 12


def test_check_clean_and_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = load(9429, "answer-a1").text
    assert main(["sdp", "check", "--role", "answer", _file(tmp_path, good)]) == 0
    assert capsys.readouterr().out.strip() == "no problems found"
    broken = good.replace("a=setup:active", "a=setup:actpass")
    assert main(["sdp", "check", "--role", "answer", _file(tmp_path, broken)]) == 1
    out = capsys.readouterr().out.splitlines()
    line = good.split("\r\n").index("a=setup:active") + 1
    assert out[0].startswith(f"line {line}: error: a=setup:actpass in an answer")
    assert out[0].endswith("[setup]") and out[-1] == "1 error(s), 0 warning(s)"
    # Without the role, actpass is not an error.
    assert main(["sdp", "check", _file(tmp_path, broken)]) == 0


def test_check_warnings_alone_exit_zero(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    text = load(9429, "offer-a1").text.replace("a=rtcp-mux\r\n", "")
    assert main(["sdp", "check", "--json", _file(tmp_path, text)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["errors"] == 0 and report["warnings"] == 1
    assert report["problems"][0]["rule"] == "rtcp-mux"


def test_check_stdin_lf_is_normalised(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    text = load(3264, "basic-offer").text.replace("\r\n", "\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["sdp", "check", "-"]) == 1
    captured = capsys.readouterr()
    assert "input normalised: LF line endings were written as CRLF" in captured.err
    assert "line 6: error: protocol RTP/AVP is not secured" in captured.out


def test_unparseable_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nnot sdp\r\n"))
    assert main(["sdp", "check", "-"]) == 2
    assert "line 3: line is not '<letter>=<value>'" in capsys.readouterr().err
    assert main(["sdp", "show", str(tmp_path / "missing.sdp")]) == 2
    assert "cannot read" in capsys.readouterr().err
    path = _file(tmp_path, "\n".join(load(8853, "redundancy-offer").text_lines))
    assert main(["sdp", "show", path]) == 2
    assert "line 1: the first line must be 'v=0'" in capsys.readouterr().err


def test_show_survives_malformed_lines(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    text = load(9429, "offer-a1").text.replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMU")
    assert main(["sdp", "show", _file(tmp_path, text)]) == 0
    out = capsys.readouterr().out
    assert "1 malformed line(s)" in out
    assert main(["sdp", "check", _file(tmp_path, text)]) == 1
    assert "line 13: error: rtpmap needs" in capsys.readouterr().out


@pytest.mark.skipif(not CAPTURES.is_dir(), reason="no browser captures")
def test_show_every_capture(capsys: pytest.CaptureFixture[str]) -> None:
    for path in sorted(CAPTURES.glob("*/*.sdp")):
        assert main(["sdp", "show", str(path)]) == 0, path
        assert main(["sdp", "check", str(path)]) == 0, path
    capsys.readouterr()
