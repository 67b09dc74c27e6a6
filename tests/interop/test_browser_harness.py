"""The browser harness (tests/interop/browser.py) works in Chromium and Firefox ESR.

Each browser is launched once for the module (plus once more for the mDNS case): captures look
like SDP for their scenario, the browser accepts its own answer relayed through Python, refuses
broken answers with its own error text, and answers offers from Python (and from the other
browser).  Skips, naming the Debian package, when a browser is not installed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from .browser import (
    SCENARIOS,
    BrowserError,
    BrowserSession,
    browser_accepts_answer,
    capture,
    find_browser,
    open_session,
    require_browser,
)

pytestmark = pytest.mark.interop

BROWSER_NAMES = ("chromium", "firefox")


@pytest.fixture(scope="module")
def sessions() -> Iterator[dict[str, BrowserSession]]:
    """One launch per installed browser for the whole module."""
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(open_session(name))
            for name in BROWSER_NAMES
            if find_browser(name) is not None
        }


@pytest.fixture(params=BROWSER_NAMES)
def session(request: pytest.FixtureRequest, sessions: dict[str, BrowserSession]) -> BrowserSession:
    require_browser(request.param)
    return sessions[request.param]


def lines(sdp: str) -> list[str]:
    assert sdp.endswith("\r\n"), "SDP lines end with CRLF (RFC 8866 §5)"
    body = sdp[:-2].split("\r\n")
    assert not any("\n" in line or "\r" in line for line in body)
    return body


def media_kinds(sdp: str) -> list[str]:
    return [line[2:].split(" ", 1)[0] for line in lines(sdp) if line.startswith("m=")]


def ice_ufrags(sdp: str) -> set[str]:
    return {line.split(":", 1)[1] for line in lines(sdp) if line.startswith("a=ice-ufrag:")}


def without(sdp: str, pattern: str) -> str:
    """``sdp`` with every line matching ``pattern`` removed (CRLF kept)."""
    kept = [line for line in lines(sdp) if not re.match(pattern, line)]
    return "\r\n".join(kept) + "\r\n"


def test_capture_audio_video_data(session: BrowserSession) -> None:
    cap = session.capture("audio-video-data")
    for sdp in (cap.offer, cap.answer):
        body = lines(sdp)
        assert body[0] == "v=0"
        assert body[1].startswith("o=")
        assert media_kinds(sdp) == ["audio", "video", "application"]
        assert any(line.startswith("a=fingerprint:sha-256 ") for line in body)
        assert any(line.startswith("a=candidate:") for line in body), "gathered before reading"
    assert "a=setup:actpass" in cap.offer
    assert cap.restart_offer is None and cap.restart_answer is None
    assert cap.version.split()[0] in ("Chromium", "Mozilla")
    assert cap.browser == session.browser.name


def test_capture_data_only_and_simulcast(session: BrowserSession) -> None:
    data = session.capture("data-only")
    assert media_kinds(data.offer) == ["application"]
    assert "a=sctp-port:5000" in lines(data.offer)
    sim = session.capture("simulcast")
    assert media_kinds(sim.offer) == ["video"]
    offer_lines = lines(sim.offer)
    assert [line for line in offer_lines if line.startswith("a=rid:")] == [
        "a=rid:q send",
        "a=rid:h send",
        "a=rid:f send",
    ]
    assert "a=simulcast:send q;h;f" in offer_lines


def test_capture_ice_restart_changes_credentials(session: BrowserSession) -> None:
    cap = session.capture("ice-restart")
    assert cap.restart_offer is not None and cap.restart_answer is not None
    assert media_kinds(cap.restart_offer) == media_kinds(cap.offer)
    assert ice_ufrags(cap.offer).isdisjoint(ice_ufrags(cap.restart_offer))
    assert ice_ufrags(cap.answer).isdisjoint(ice_ufrags(cap.restart_answer))


def test_browser_accepts_its_own_answer_relayed_through_python(session: BrowserSession) -> None:
    seen: list[str] = []

    def answerer(offer: str) -> str:
        seen.append(offer)
        # The same browser answers on the same page while this job waits for us.
        accepted, answer, error = session.answers_offer(offer, "audio-video-data")
        assert accepted and answer is not None, error
        return answer

    result = browser_accepts_answer(session, "audio-video-data", answerer)
    assert seen == [result.offer]
    assert result.accepted, result.error
    assert result.error is None
    assert result.signaling_state == "stable"


def test_browser_refuses_answer_without_fingerprint(session: BrowserSession) -> None:
    def answerer(offer: str) -> str:
        _, answer, _ = session.answers_offer(offer, "data-only")
        assert answer is not None
        return without(answer, r"a=fingerprint:")

    result = session.accepts_answer("data-only", answerer)
    assert not result.accepted
    assert result.error, "the browser's own error text"
    assert "fingerprint" in result.error.lower() or "dtls" in result.error.lower(), result.error
    assert result.signaling_state == "have-local-offer"
    assert "a=fingerprint:" not in result.answer


def test_browser_refuses_actpass_in_an_answer(session: BrowserSession) -> None:
    """RFC 5763 §5: "The answerer MUST use either a setup attribute value of setup:active or
    setup:passive." -- both browsers enforce it."""

    def answerer(offer: str) -> str:
        _, answer, _ = session.answers_offer(offer, "data-only")
        assert answer is not None and "a=setup:active\r\n" in answer
        return answer.replace("a=setup:active\r\n", "a=setup:actpass\r\n")

    result = session.accepts_answer("data-only", answerer)
    assert not result.accepted
    assert result.error and ("actpass" in result.error or "setup" in result.error), result.error
    assert result.signaling_state == "have-local-offer"


def test_browser_refuses_answer_with_mismatched_mids(session: BrowserSession) -> None:
    def answerer(offer: str) -> str:
        _, answer, _ = session.answers_offer(offer, "data-only")
        assert answer is not None
        return answer.replace("a=mid:0\r\n", "a=mid:nosuchmid\r\n").replace(
            "BUNDLE 0", "BUNDLE nosuchmid"
        )

    result = session.accepts_answer("data-only", answerer)
    assert not result.accepted
    assert result.error
    assert result.signaling_state == "have-local-offer"


def test_browser_reports_refused_offer(session: BrowserSession) -> None:
    accepted, answer, error = session.answers_offer("v=0\r\nthis is not SDP\r\n", "data-only")
    assert not accepted
    assert answer is None
    assert error


def test_browsers_answer_each_others_offers(sessions: dict[str, BrowserSession]) -> None:
    for name in BROWSER_NAMES:
        require_browser(name)
    offers = {name: capture(sessions[name], "audio-video-data").offer for name in BROWSER_NAMES}
    for answerer, offerer in (("chromium", "firefox"), ("firefox", "chromium")):
        accepted, answer, error = sessions[answerer].answers_offer(
            offers[offerer], "audio-video-data"
        )
        assert accepted, error
        assert answer is not None
        assert media_kinds(answer) == ["audio", "video", "application"]
        assert "a=setup:active" in answer or "a=setup:passive" in answer


@pytest.mark.parametrize("name", BROWSER_NAMES)
def test_mdns_session_hides_host_addresses_and_cleans_up(name: str) -> None:
    require_browser(name)
    with open_session(name, mdns=True) as s:
        cap = s.capture("data-only-mdns")
        with pytest.raises(ValueError, match="mdns"):
            s.capture("data-only")
        pid, workdir = s.browser.pid, s.browser.workdir
    hosts = [
        line.split()[4]
        for line in lines(cap.offer)
        if line.startswith("a=candidate:") and " typ host" in line
    ]
    assert hosts, "host candidates were gathered"
    assert all(h.endswith(".local") for h in hosts), hosts
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped by PID (and reaped)
    assert not workdir.exists(), "the temporary profile is removed"


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="scenario"):
        capture("chromium", "video-only")
    with pytest.raises(ValueError, match="browser"):
        capture("lynx", "data-only")
    assert "ice-restart" in SCENARIOS
    assert issubclass(BrowserError, RuntimeError)
