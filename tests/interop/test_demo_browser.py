"""``rtcstack demo`` end to end with headless Chromium and Firefox ESR (fake cameras and
microphones): the real page, driven the way a user drives it -- buttons clicked and fields
filled through the DevTools protocol (:mod:`tests.interop.cdp`) or WebDriver BiDi
(:mod:`tests.interop.bidi`) -- against ``rtcstack demo`` run as a subprocess, as a user runs it.
The page helpers are in :mod:`tests.interop.demo_page`.

- A browser (each of the two) calls the Python echo peer through the demo's own signaling: it
  decodes its own video coming back through rtcstack; the chat is answered; both sides' stats
  are graphed; a screenshot shows the remote video moving and every graph with a plotted line
  (and none before the call); "camera off" turns the echoed picture black; the demo prints its
  live line; hanging up frees the echo peer and the room on the server.
- Two Chromium tabs, and Firefox with Chromium, join one room and call each other: video both
  ways, chat both ways, each graphs the other's stats; one hangs up, the other's call ends and
  the server is left with no room.
- The ICE-server setting: ``rtcstack demo --ice-server turn:...`` presets the page's fields, and
  with "Relay only" ticked the echo call goes through coturn.

Firefox gathers no 127.0.0.1 candidate (see FIREFOX_PREFS): it offers the machine's own
interface addresses, which the echo peer (gathering on every interface) and Chromium reach
through ``lo``.  Its fake camera is a flat colour whose hue cycles, not Chromium's moving clock
and pie: :func:`~tests.interop.demo_page.check_picture_moves` checks each its own way.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

pytest.importorskip("av", reason="the echo peer needs media: pip install rtcstack[media]")
pytest.importorskip("websockets", reason="the demo needs pip install rtcstack[signal]")

from tests.interop.bidi import launch_firefox
from tests.interop.cdp import launch_chromium
from tests.interop.demo_page import (
    FRAMES,
    STEP,
    PageTab,
    check_graphs,
    check_picture_moves,
    graph_pixels,
    page_ready,
    running_demo,
    scroll_into_view,
    send_chat,
    state,
    wait_chat,
    wait_state,
)

pytestmark = pytest.mark.interop

LAUNCH: dict[str, Callable[[str], AbstractContextManager[Any]]] = {
    "chromium": launch_chromium,
    "firefox": launch_firefox,
}


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LAUNCH))
def test_a_browser_calls_the_python_echo_peer(name: str) -> None:
    with running_demo() as demo, LAUNCH[name](demo.url) as browser:
        tab = browser.first_tab()
        page_ready(tab)
        # the browser's fake camera and microphone, not the page's synthetic fallback
        assert wait_state(tab, "s.media") == "camera", state(tab)
        for panel in ("#stats-local", "#stats-remote"):  # no call yet: nothing plotted
            scroll_into_view(tab, panel)
            assert set(graph_pixels(tab, panel).values()) == {0}
        tab.fill("#name", name)
        tab.click("#call-echo")
        s = wait_state(tab, "s.connectionState === 'connected' && s")
        room = s["room"]
        assert room.startswith("echo-") and s["peerName"] == "rtcstack echo peer"
        assert s["polite"] is False  # the page was there first
        wait_state(tab, f"s.framesDecoded > {FRAMES}")  # its own video, back through rtcstack
        status = demo.wait(lambda st: any(c["state"] == "connected" and c["tracks_echoed"] == 2
                                          for c in st["echo_calls"]), "a connected echo call")
        assert status["rooms"][room] and len(status["rooms"][room]) == 2

        send_chat(tab, f"hello from {name}")
        wait_chat(tab, "me", f"hello from {name}")
        wait_chat(tab, "peer", f"rtcstack heard: hello from {name}")

        wait_state(tab, "s.localStatsSamples >= 4 && s.remoteStatsSamples >= 4")
        scroll_into_view(tab, "#remote-video")
        check_picture_moves(tab, "#remote-video", name)
        check_picture_moves(tab, "#local-video", name)
        for panel in ("#stats-local", "#stats-remote"):
            scroll_into_view(tab, panel)
            check_graphs(tab, panel)
        texts = tab.evaluate("[...document.querySelectorAll('#stats-remote .stats-text')]"
                             ".map(e => e.textContent).join(' ')")
        assert "srtp" in texts.lower(), texts
        # the demo's live line: state, bitrate each way, RTT
        live = [line for line in demo.lines if room in line and "Mbit/s" in line]
        assert live and "connected" in live[-1] and "rtt" in live[-1], demo.output()

        # camera off: the browser sends black frames, and they come back black
        tab.click("#camera")
        assert tab.evaluate("document.querySelector('#camera').textContent").strip() \
            == "Camera on"
        scroll_into_view(tab, "#remote-video")
        deadline = time.monotonic() + STEP
        while True:
            picture = tab.crop(tab.screenshot(), "#remote-video")
            if (picture.max(axis=2) < 40).mean() > 0.9:  # black, but for the name label
                break
            assert time.monotonic() < deadline, "the echoed video never went black"
            time.sleep(0.5)
        tab.click("#camera")
        tab.click("#mute")
        assert tab.evaluate("document.querySelector('#mute').textContent").strip() == "Unmute"
        assert state(tab)["micEnabled"] is False
        assert state(tab)["lastError"] is None, state(tab)

        tab.click("#hangup")
        wait_state(tab, "s.connectionState !== 'connected' && !s.room")
        status = demo.wait(lambda st: not st["echo_calls"] and not st["rooms"],
                           "the echo call and its room gone")
        assert status["echo_calls_ended"][-1]["state"] == "ended: the caller left"
        assert status["signaling"]["connections"] == 1  # the page's own, still open
    # the demo stopped cleanly (running_demo checks exit status 0)


@contextlib.contextmanager
def two_pages(first: str, second: str, url: str) -> Iterator[tuple[PageTab, PageTab]]:
    """Two pages of the demo: two tabs (own windows) of one browser when both are the same
    browser, else one page in each."""
    with contextlib.ExitStack() as stack:
        browser = stack.enter_context(LAUNCH[first](url))
        if first == second:
            yield browser.first_tab(), browser.new_tab(url)
        else:
            yield browser.first_tab(), stack.enter_context(LAUNCH[second](url)).first_tab()


@pytest.mark.parametrize(("first_name", "second_name"),
                         [("chromium", "chromium"), ("firefox", "chromium")],
                         ids=["two-chromium-tabs", "firefox-and-chromium"])
def test_two_pages_call_each_other_in_a_room(first_name: str, second_name: str) -> None:
    room = f"{first_name}-and-{second_name}"
    with running_demo() as demo, two_pages(first_name, second_name, demo.url) as pages:
        first, second = pages
        for tab, name in ((first, "first"), (second, "second")):
            page_ready(tab)
            assert wait_state(tab, "s.media") == "camera", state(tab)
            tab.fill("#name", name)
        first.fill("#room", room)
        first.click("#join")
        wait_state(first, f"s.room === {room!r}")
        second.fill("#room", room)
        second.click("#join")
        for tab, other in ((first, "second"), (second, "first")):
            s = wait_state(tab, "s.connectionState === 'connected' && s")
            assert s["peerName"] == other
        # the one already in the room is impolite, the newcomer polite (WebRTC 1.0 §10.7)
        assert state(first)["polite"] is False and state(second)["polite"] is True
        for tab in (first, second):
            wait_state(tab, f"s.framesDecoded > {FRAMES}")
        status = demo.status()
        assert len(status["rooms"][room]) == 2 and not status["echo_calls"]

        send_chat(first, "from the first page")
        send_chat(second, "from the second page")
        wait_chat(second, "peer", "from the first page")
        wait_chat(first, "peer", "from the second page")
        for tab, camera in ((first, second_name), (second, first_name)):
            wait_state(tab, "s.remoteStatsSamples >= 3")
            scroll_into_view(tab, "#remote-video")
            check_picture_moves(tab, "#remote-video", camera)  # the other browser's camera
            assert state(tab)["lastError"] is None, state(tab)

        second.click("#hangup")
        wait_state(second, "!s.room")
        wait_state(first, "s.connectionState !== 'connected'")
        demo.wait(lambda st: not st["rooms"], "the room gone")
        assert demo.status()["signaling"]["connections"] == 2  # both pages still connected


RELAY_PAIR_JS = """(async () => {
  const report = await app.lastPc.getStats();
  let transport = null;
  report.forEach((s) => { if (s.type === 'transport') transport = s; });
  const pair = report.get(transport.selectedCandidatePairId);
  return {local: report.get(pair.localCandidateId).candidateType,
          remote: report.get(pair.remoteCandidateId).candidateType,
          received: pair.bytesReceived};
})()"""


def test_the_ice_server_setting_relays_the_call_through_turn() -> None:
    """``rtcstack demo --ice-server turn:...`` presets the page's ICE servers; with "Relay
    only" ticked the browser's side of the echo call goes through coturn."""
    from tests.interop.coturn import running_coturn

    with running_coturn() as turn:
        host, port = turn.address
        url = f"turn:{host}:{port}?transport=udp"
        with running_demo("--ice-server", url, "--ice-username", turn.config.user,
                          "--ice-credential", turn.config.password) as demo, \
                launch_chromium(demo.url) as browser:
            tab = browser.first_tab()
            page_ready(tab)
            tab.wait_for(f"document.querySelector('#ice-urls').value.includes({url!r})")
            assert tab.evaluate("document.querySelector('#ice-username').value") \
                == turn.config.user
            tab.click("#ice-relay")
            tab.click("#call-echo")
            wait_state(tab, f"s.connectionState === 'connected' && s.framesDecoded > {FRAMES}")
            pair = tab.evaluate(RELAY_PAIR_JS)
            assert pair["local"] == "relay" and pair["received"] > 0, pair
            tab.click("#hangup")
            demo.wait(lambda st: not st["echo_calls"] and not st["rooms"], "the call gone")
