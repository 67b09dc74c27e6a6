"""The browser harness (tests/interop/browser.py) works in Chromium and Firefox ESR.

Each browser is launched once for the module (plus once more for the mDNS case): captures look
like SDP for their scenario, the browser accepts its own answer relayed through Python, refuses
broken answers with its own error text, and answers offers from Python (and from the other
browser).  Skips, naming the Debian package, when a browser is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest

from .browser import (
    SCENARIOS,
    BrowserError,
    BrowserSession,
    browser_accepts_answer,
    capture,
    find_browser,
    launch_browser,
    open_session,
    require_browser,
)
from .netns import require_netns

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


class MdnsSniffer:
    """tshark capturing mDNS (UDP 5353) on every interface of the namespace that ``prefix`` runs
    it in, into ``DIR/LABEL.pcapng``; stopped by PID."""

    def __init__(self, prefix: Sequence[str], workdir: Path, label: str) -> None:
        self.pcap, self.log = workdir / f"{label}.pcapng", workdir / f"{label}.log"
        command = [*prefix, "tshark", "-q", "-i", "any", "-f", "udp port 5353", "-w"]
        command.append(str(self.pcap))
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out)

    def wait_capturing(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while b"Capturing on" not in self.log.read_bytes():
            output = self.log.read_text("utf-8", "replace")
            assert self.proc.poll() is None, f"tshark exited: {output}"
            assert time.monotonic() < deadline, f"tshark did not start capturing in {timeout} s"
            time.sleep(0.02)

    def labels_seen(self, labels: set[bytes]) -> set[bytes]:
        """Which of the DNS ``labels`` occur in the capture file (as they do on the wire)."""
        data = self.pcap.read_bytes() if self.pcap.exists() else b""
        return {label for label in labels if label in data}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.mark.parametrize("name", BROWSER_NAMES)
def test_mdns_session_runs_isolated_hides_host_addresses_and_cleans_up(
    name: str, tmp_path: Path
) -> None:
    """The mDNS browser lives in a namespace made for it, whose interfaces are its own ``lo``
    and a veth pair with both ends inside: its mDNS packets (captured inside) cannot leave it,
    and none shows up on the machine's own interfaces during the whole session."""
    require_browser(name)
    require_netns()
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed: install the Debian package tshark")
    sniffers: list[MdnsSniffer] = []
    try:
        outside = MdnsSniffer((), tmp_path, "outside")  # starts while the browser starts
        sniffers.append(outside)
        with open_session(name, mdns=True) as s:
            ns = s.browser.netns
            assert ns is not None, "an mDNS session runs in a network namespace"
            inside = MdnsSniffer(ns.exec_prefix, tmp_path, "inside")
            sniffers.append(inside)
            assert s.browser.pid in ns.pids(), "the browser's process (same PID) is inside"
            link_lines = ns.ip("-o", "link").splitlines()
            links = {line.split(":")[1].strip() for line in link_lines}
            # "test1@test0": a veth whose peer were in another namespace would be "test1@ifN".
            assert links == {"lo", "test0@test1", "test1@test0"}, link_lines
            assert "default dev test0" in ns.ip("route")
            outside.wait_capturing()
            inside.wait_capturing()
            cap = s.capture("data-only-mdns")
            hosts = [
                line.split()[4]
                for line in lines(cap.offer) + lines(cap.answer)
                if line.startswith("a=candidate:") and " typ host" in line
            ]
            labels = {h.split(".", 1)[0].encode() for h in hosts}
            # The browser resolves the other peer connection's names by mDNS inside the
            # namespace; poll (with a deadline) until tshark has written one of them.
            deadline = time.monotonic() + 10
            while not inside.labels_seen(labels) and time.monotonic() < deadline:
                time.sleep(0.05)
            with pytest.raises(ValueError, match="mdns"):
                s.capture("data-only")
            pid, workdir, netns_name = s.browser.pid, s.browser.workdir, ns.name
    finally:
        for sniffer in sniffers:
            sniffer.stop()
    assert hosts, "host candidates were gathered"
    assert all(h.endswith(".local") for h in hosts), hosts
    assert inside.labels_seen(labels), "mDNS packets with the names were sent inside the namespace"
    assert not outside.labels_seen(labels), "no mDNS packet with the names left the namespace"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped by PID (and reaped)
    assert not workdir.exists(), "the temporary profile is removed"
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert netns_name not in namespaces, "the namespace is deleted"


@pytest.mark.parametrize("name", BROWSER_NAMES)
def test_isolated_session_offers_the_namespace_loopback(name: str) -> None:
    """``isolated=True`` without mDNS: a namespace with only ``lo``, where both browsers offer
    127.0.0.1 host candidates (Firefox also ::1; it offers none of them outside a namespace)."""
    require_browser(name)
    require_netns()
    with open_session(name, isolated=True) as s:
        ns = s.browser.netns
        assert ns is not None and ns.links() == ["lo"]
        assert s.browser.pid in ns.pids()
        cap = s.capture("data-only")
    hosts = {
        line.split()[4]
        for line in lines(cap.offer)
        if line.startswith("a=candidate:") and " udp " in line.lower()
    }
    assert "127.0.0.1" in hosts, cap.offer
    assert hosts <= {"127.0.0.1", "::1"}, hosts
    if name == "firefox":
        assert hosts == {"127.0.0.1", "::1"}


def test_mdns_needs_a_namespace() -> None:
    with (
        pytest.raises(ValueError, match="namespace"),
        open_session("chromium", mdns=True, isolated=False),
    ):
        pass
    with (
        pytest.raises(ValueError, match="netns"),
        launch_browser("chromium", "http://127.0.0.1:1/", mdns=True),
    ):
        pass


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="scenario"):
        capture("chromium", "video-only")
    with pytest.raises(ValueError, match="browser"):
        capture("lynx", "data-only")
    assert "ice-restart" in SCENARIOS
    assert issubclass(BrowserError, RuntimeError)
