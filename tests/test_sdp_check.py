"""``rtcstack.sdp.check``: a good description has no problems; each minimally broken one
triggers exactly its rule, at the right line; browsers' own descriptions pass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rtcstack.sdp import SessionDescription
from rtcstack.sdp.check import RULES, Problem, check_description

CAPTURES = Path(__file__).resolve().parent.parent / "rfc-vectors" / "captures"

FP = "sha-256 " + ":".join(["AB"] * 32)

# A WebRTC offer in the shape browsers write: BUNDLE, audio, simulcast video, data.
GOOD = [
    "v=0",                                                          # 1
    "o=- 1 2 IN IP4 127.0.0.1",                                     # 2
    "s=-",                                                          # 3
    "t=0 0",                                                        # 4
    "a=group:BUNDLE 0 1 2",                                         # 5
    "a=extmap-allow-mixed",                                         # 6
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0",                            # 7
    "c=IN IP4 0.0.0.0",                                             # 8
    "a=mid:0",                                                      # 9
    "a=ice-ufrag:abcd",                                             # 10
    "a=ice-pwd:abcdefghijklmnopqrstuv",                             # 11
    "a=fingerprint:" + FP,                                          # 12
    "a=setup:actpass",                                              # 13
    "a=sendrecv",                                                   # 14
    "a=rtcp-mux",                                                   # 15
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",               # 16
    "a=rtpmap:111 opus/48000/2",                                    # 17
    "a=fmtp:111 minptime=10;useinbandfec=1",                        # 18
    "a=rtcp-fb:111 transport-cc",                                   # 19
    "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",      # 20
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97",                            # 21
    "c=IN IP4 0.0.0.0",                                             # 22
    "a=mid:1",                                                      # 23
    "a=sendonly",                                                   # 24
    "a=rtcp-mux",                                                   # 25
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",               # 26
    "a=extmap:2 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",     # 27
    "a=rtpmap:96 VP8/90000",                                        # 28
    "a=rtpmap:97 rtx/90000",                                        # 29
    "a=fmtp:97 apt=96",                                             # 30
    "a=rid:hi send",                                                # 31
    "a=rid:lo send pt=96",                                          # 32
    "a=simulcast:send hi;lo",                                       # 33
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",             # 34
    "c=IN IP4 0.0.0.0",                                             # 35
    "a=mid:2",                                                      # 36
    "a=sctp-port:5000",                                             # 37
]


def _text(lines: list[str]) -> str:
    return "".join(line + "\r\n" for line in lines)


def _replace(old: str, new: str | None) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        if old not in lines:
            raise AssertionError(f"{old!r} is not in the base description")
        index = lines.index(old)
        return lines[:index] + ([] if new is None else [new]) + lines[index + 1:]
    return edit


def _insert_after(anchor: int, new: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        return [*lines[:anchor], new, *lines[anchor:]]
    return edit


_TRANSPORT = ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:", "a=setup:")


def _session_transport(lines: list[str]) -> list[str]:
    """The same description with ICE/DTLS lines at session level (line numbers unchanged after
    the audio section's transport lines: four lines move up before the m= lines)."""
    moved = [line for line in lines if line.startswith(_TRANSPORT)]
    rest = [line for line in lines if not line.startswith(_TRANSPORT)]
    return rest[:4] + moved + rest[4:]


def _problems(lines: list[str], role: str | None = "offer") -> list[Problem]:
    return check_description(SessionDescription.parse(_text(lines)), role=role)  # type: ignore[arg-type]


def test_good_description_has_no_problems() -> None:
    assert _problems(GOOD) == []
    assert _problems(GOOD, role=None) == []


def test_good_answer_has_no_problems() -> None:
    answer = _replace("a=setup:actpass", "a=setup:active")(GOOD)
    assert _problems(answer, role="answer") == []


# (case id, edit, role, rule, severity, line of the problem in the edited text)
CASES: list[tuple[str, Callable[[list[str]], list[str]], str | None, str, str, int | None]] = [
    ("grammar-rtcp-fb", _replace("a=rtcp-fb:111 transport-cc", "a=rtcp-fb:111"), "offer",
     "grammar", "error", 19),
    ("grammar-format", _replace("m=video 9 UDP/TLS/RTP/SAVPF 96 97",
                                "m=video 9 UDP/TLS/RTP/SAVPF 96 97 x"), "offer",
     "grammar", "error", 21),
    ("no-origin", _replace("o=- 1 2 IN IP4 127.0.0.1", None), "offer",
     "session-lines", "error", None),
    ("no-timing", _replace("t=0 0", None), "offer", "session-lines", "error", None),
    ("insecure", _replace("m=audio 9 UDP/TLS/RTP/SAVPF 111 0", "m=audio 9 RTP/AVP 111 0"),
     "offer", "protocol", "error", 7),
    ("no-fingerprint", _replace("a=fingerprint:" + FP, None), "offer",
     "fingerprint", "error", 7),
    ("no-ufrag", _replace("a=ice-ufrag:abcd", None), "offer", "ice-credentials", "error", 7),
    ("no-pwd", _replace("a=ice-pwd:abcdefghijklmnopqrstuv", None), "offer",
     "ice-credentials", "error", 7),
    ("short-ufrag", _replace("a=ice-ufrag:abcd", "a=ice-ufrag:abc"), "offer",
     "ice-credential-length", "error", 10),
    ("short-pwd", _replace("a=ice-pwd:abcdefghijklmnopqrstuv", "a=ice-pwd:abcdefghijklmnopqrstu"),
     "offer", "ice-credential-length", "error", 11),
    ("long-pwd", _replace("a=ice-pwd:abcdefghijklmnopqrstuv", "a=ice-pwd:" + "a" * 257),
     "offer", "ice-credential-length", "error", 11),
    ("actpass-answer", lambda lines: lines, "answer", "setup", "error", 13),
    ("no-setup", _replace("a=setup:actpass", None), "offer", "setup", "warning", 7),
    ("bundle-unknown-mid", _replace("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 1 2 9"), "offer",
     "bundle-group", "error", 5),
    ("bundle-duplicate-mid", _replace("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 1 2 1"), "offer",
     "bundle-group", "error", 5),
    ("bundle-rejected", _replace("m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
                                 "m=application 0 UDP/DTLS/SCTP webrtc-datachannel"), "offer",
     "bundle-group", "error", 5),
    ("bundle-only-outside", lambda lines: _insert_after(37, "a=bundle-only")(
        _replace("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 1")(_session_transport(lines))),
     "offer", "bundle-only", "error", 38),
    ("bundle-only-tagged", _insert_after(9, "a=bundle-only"), "offer",
     "bundle-only", "error", 10),
    ("mid-duplicate", lambda lines: _replace("a=mid:2", "a=mid:1")(
        _replace("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 1")(lines)), "offer",
     "mid-duplicate", "error", 36),
    ("mid-missing", lambda lines: _replace("a=mid:2", None)(
        _replace("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 1")(_session_transport(lines))),
     "offer", "mid-missing", "error", 34),
    ("mid-too-long", lambda lines: _replace("a=mid:2", "a=mid:" + "m" * 17)(
        _replace("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 1 " + "m" * 17)(lines)), "offer",
     "mid-length", "error", 36),
    ("rtpmap-unlisted", _insert_after(17, "a=rtpmap:112 opus/48000/2"), "offer",
     "payload-type-unlisted", "warning", 18),
    ("rtcp-fb-unlisted", _replace("a=rtcp-fb:111 transport-cc", "a=rtcp-fb:110 transport-cc"),
     "offer", "payload-type-unlisted", "warning", 19),
    ("no-rtpmap", _replace("m=audio 9 UDP/TLS/RTP/SAVPF 111 0",
                           "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 100"), "offer",
     "payload-type-no-rtpmap", "error", 7),
    ("pt-mapped-twice", _insert_after(17, "a=rtpmap:111 opus/48000/1"), "offer",
     "payload-type-conflict", "error", 18),
    ("pt-bundle-conflict", lambda lines: _replace("m=audio 9 UDP/TLS/RTP/SAVPF 111 0",
                                                  "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 96")(
        _insert_after(17, "a=rtpmap:96 red/48000/2")(lines)), "offer",
     "payload-type-conflict", "error", 29),
    ("rtx-apt-missing-pt", _replace("a=fmtp:97 apt=96", "a=fmtp:97 apt=98"), "offer",
     "rtx-apt", "error", 30),
    ("rtx-no-fmtp", _replace("a=fmtp:97 apt=96", None), "offer", "rtx-apt", "error", 21),
    ("extmap-duplicate-id", _insert_after(16, "a=extmap:1 urn:ietf:params:rtp-hdrext:toffset"),
     "offer", "extmap", "error", 17),
    ("extmap-15", _insert_after(16, "a=extmap:15 urn:ietf:params:rtp-hdrext:toffset"), "offer",
     "extmap", "error", 17),
    ("extmap-two-byte", lambda lines: _insert_after(16, "a=extmap:16 urn:x")(
        _replace("a=extmap-allow-mixed", None)(lines)), "offer", "extmap", "warning", 17),
    ("extmap-renumber-in-answer", lambda lines: _insert_after(16, "a=extmap:4096 urn:x")(
        _replace("a=setup:actpass", "a=setup:active")(lines)), "answer", "extmap", "error", 17),
    ("extmap-bundle-conflict", _replace("a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
                                        "a=extmap:1 urn:ietf:params:rtp-hdrext:toffset"),
     "offer", "extmap", "error", 26),
    ("simulcast-unknown-rid", _replace("a=simulcast:send hi;lo", "a=simulcast:send hi;lo;mid"),
     "offer", "simulcast-rid", "error", 33),
    ("simulcast-rid-direction", _replace("a=rid:lo send pt=96", "a=rid:lo recv pt=96"), "offer",
     "simulcast-rid", "error", 33),
    ("rid-unlisted-pt", _replace("a=rid:lo send pt=96", "a=rid:lo send pt=98"), "offer",
     "simulcast-rid", "error", 32),
    ("no-sctp-port", _replace("a=sctp-port:5000", None), "offer", "sctp-port", "error", 34),
    ("no-rtcp-mux", _replace("a=rtcp-mux", None), "offer", "rtcp-mux", "warning", 7),
    ("two-directions", _insert_after(14, "a=recvonly"), "offer", "direction", "error", 15),
    ("rtcp-component-mux-only", lambda lines: _insert_after(20,
     "a=candidate:1 2 udp 2122260222 127.0.0.1 50001 typ host")(
        _insert_after(15, "a=rtcp-mux-only")(lines)), "offer",
     "candidate-component", "error", 21),
    ("rtcp-component-answer", lambda lines: _insert_after(20,
     "a=candidate:1 2 udp 2122260222 127.0.0.1 50001 typ host")(
        _replace("a=setup:actpass", "a=setup:active")(lines)), "answer",
     "candidate-component", "warning", 21),
]


@pytest.mark.parametrize(("edit", "role", "rule", "severity", "line"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_fires_alone_at_its_line(
    edit: Callable[[list[str]], list[str]], role: str | None, rule: str, severity: str,
    line: int | None,
) -> None:
    problems = _problems(edit(list(GOOD)), role=role)
    assert [(p.rule, p.severity, p.line) for p in problems] == [(rule, severity, line)], problems
    assert problems[0].message


def test_every_rule_has_a_case() -> None:
    assert {c[3] for c in CASES} == {r.id for r in RULES}
    assert len({r.id for r in RULES}) == len(RULES)
    for rule in RULES:
        assert rule.rfc.startswith("RFC ") and " §" in rule.rfc, rule
        assert rule.function.__doc__ and rule.function.__doc__.startswith("RFC "), rule.id


def test_bundled_sections_inherit_transport() -> None:
    """RFC 9143 §7.3.1: only the tagged section carries ICE/DTLS; the others use it."""
    no_transport_in_video = GOOD  # video (mid 1) and data (mid 2) have no ICE/DTLS lines
    assert _problems(no_transport_in_video) == []
    unbundled = _replace("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 2")(GOOD)
    rules = {(p.rule, p.line) for p in _problems(unbundled)}
    assert ("fingerprint", 21) in rules and ("ice-credentials", 21) in rules


def test_session_level_transport_counts() -> None:
    lines = _session_transport(GOOD)
    assert lines[4:8] == [line for line in GOOD if line.startswith(_TRANSPORT)]
    assert _problems(lines) == []


def test_problem_text_and_api_misuse() -> None:
    assert str(Problem(7, "error", "bad", "x")) == "line 7: error: bad [x]"
    assert str(Problem(None, "warning", "w")) == "session: warning: w"
    desc = SessionDescription.parse(_text(GOOD))
    with pytest.raises(ValueError, match="role"):
        check_description(desc, role="pranswer")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown rule"):
        check_description(desc, rules=("nope",))
    with pytest.raises(TypeError):
        check_description(_text(GOOD))  # type: ignore[arg-type]
    broken = _replace("a=fingerprint:" + FP, None)(GOOD)
    only = check_description(SessionDescription.parse(_text(broken)), rules=("grammar",))
    assert only == []


def _captures() -> list[Path]:
    return sorted(CAPTURES.glob("*/*.sdp")) if CAPTURES.is_dir() else []


@pytest.mark.skipif(not _captures(), reason="no browser captures in rfc-vectors/captures/")
@pytest.mark.parametrize("path", _captures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_browser_captures_have_no_errors(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")  # exact bytes, no newline translation
    desc = SessionDescription.parse(text)
    role = "answer" if path.stem.endswith("answer") else "offer"
    errors = [p for p in check_description(desc, role=role) if p.severity == "error"]
    assert errors == [], "\n".join(map(str, errors))
