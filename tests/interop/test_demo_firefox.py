"""``rtcstack demo`` end to end with headless Firefox ESR (fake camera and microphone): the real
page, driven the way a user drives it -- buttons clicked and fields filled through WebDriver
BiDi (:mod:`tests.interop.bidi`) -- against ``rtcstack demo`` run as a subprocess, with the page
helpers the Chromium tests use (:mod:`tests.interop.demo_page`).

- Firefox calls the Python echo peer: it decodes its own video coming back through rtcstack;
  the chat is answered; both stats panels graph every metric; the echoed video changes; hanging
  up frees the echo peer and the room on the server.
- Firefox and Chromium join one room and call each other through the demo: video both ways,
  chat both ways, each graphs the other's stats; Chromium hangs up, Firefox sees the call end and
  the server is left with no room.

Firefox gathers no 127.0.0.1 candidate (see FIREFOX_PREFS): it offers the machine's own
interface addresses, which the echo peer (gathering on every interface) and Chromium reach
through ``lo``.  Its fake camera (``media.navigator.streams.fake``) is not Chromium's moving
clock and pie: it is one flat colour whose hue cycles over time -- see
:func:`check_colour_changes`.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("av", reason="the echo peer needs media: pip install rtcstack[media]")
pytest.importorskip("websockets", reason="the demo needs pip install rtcstack[signal]")

import numpy as np

from tests.interop.bidi import launch_firefox
from tests.interop.cdp import launch_chromium
from tests.interop.demo_page import (
    FRAMES,
    STEP,
    PageTab,
    check_graphs,
    check_video_moves,
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


def centre_colour(tab: PageTab, selector: str) -> np.ndarray:
    """The mean RGB of the middle half (both ways) of the element in a screenshot: inside the
    picture, whatever its letterboxing."""
    image = tab.crop(tab.screenshot(), selector)
    height, width = image.shape[:2]
    centre = image[height // 4: 3 * height // 4, width // 4: 3 * width // 4]
    mean: np.ndarray = centre.reshape(-1, 3).astype(np.float64).mean(axis=0)
    return mean


def check_colour_changes(tab: PageTab, selector: str, timeout: float = STEP / 2) -> None:
    """The element shows Firefox's fake camera, live: a colour (not black) that changes.

    Firefox's fake video is one flat colour (measured: the centre's standard deviation is 0,
    about 0.5 after VP8 through rtcstack) whose chroma steps every frame, so its hue cycles
    over time; only a thin strip at the top edge carries a pattern.  Chromium's test
    (check_video_moves: a few % of the pixels change by more than 40 in a second) would pass or
    fail on that strip alone.  Here the movement is the mean colour: measured, it changes by
    12 to 60 levels (in the channel that changes most) a second, depending on where in the
    cycle it is; a frozen picture's stays within a level.  Screenshots are polled until it
    has changed by more than 8 levels.
    """
    first = centre_colour(tab, selector)
    assert first.max() > 40, f"{selector} shows a black picture ({first.round(1)})"
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(0.25)
        now = centre_colour(tab, selector)
        change = float(np.abs(now - first).max())
        if change > 8:
            return
        assert time.monotonic() < deadline, (
            f"{selector}'s colour did not change in {timeout} s: {first.round(1)} then"
            f" {now.round(1)}")


# --- the tests -------------------------------------------------------------------------------


def test_firefox_calls_the_python_echo_peer() -> None:
    with running_demo() as demo, launch_firefox(demo.url) as firefox:
        tab = firefox.first_tab()
        page_ready(tab)
        # Firefox's fake camera and microphone, not the page's synthetic fallback
        assert wait_state(tab, "s.media") == "camera", state(tab)
        for panel in ("#stats-local", "#stats-remote"):  # no call yet: nothing plotted
            scroll_into_view(tab, panel)
            assert set(graph_pixels(tab, panel).values()) == {0}
        tab.fill("#name", "firefox")
        tab.click("#call-echo")
        s = wait_state(tab, "s.connectionState === 'connected' && s")
        room = s["room"]
        assert room.startswith("echo-") and s["peerName"] == "rtcstack echo peer"
        assert s["polite"] is False  # the page was there first
        wait_state(tab, f"s.framesDecoded > {FRAMES}")  # its own video, back through rtcstack
        status = demo.wait(lambda st: any(c["state"] == "connected" and c["tracks_echoed"] == 2
                                          for c in st["echo_calls"]), "a connected echo call")
        assert status["rooms"][room] and len(status["rooms"][room]) == 2

        send_chat(tab, "hello from firefox")
        wait_chat(tab, "me", "hello from firefox")
        wait_chat(tab, "peer", "rtcstack heard: hello from firefox")

        wait_state(tab, "s.localStatsSamples >= 4 && s.remoteStatsSamples >= 4")
        scroll_into_view(tab, "#remote-video")
        check_colour_changes(tab, "#remote-video")
        check_colour_changes(tab, "#local-video")
        for panel in ("#stats-local", "#stats-remote"):
            scroll_into_view(tab, panel)
            check_graphs(tab, panel)
        texts = tab.evaluate("[...document.querySelectorAll('#stats-remote .stats-text')]"
                             ".map(e => e.textContent).join(' ')")
        assert "srtp" in texts.lower(), texts
        assert state(tab)["lastError"] is None, state(tab)

        tab.click("#hangup")
        wait_state(tab, "s.connectionState !== 'connected' && !s.room")
        status = demo.wait(lambda st: not st["echo_calls"] and not st["rooms"],
                           "the echo call and its room gone")
        assert status["echo_calls_ended"][-1]["state"] == "ended: the caller left"
        assert status["signaling"]["connections"] == 1  # the page's own, still open
    # the demo stopped cleanly (running_demo checks exit status 0)


def test_firefox_and_chromium_call_each_other_through_the_demo() -> None:
    with running_demo() as demo, launch_firefox(demo.url) as firefox, \
            launch_chromium(demo.url) as chromium:
        fox = firefox.first_tab()
        chrome = chromium.first_tab()
        for tab, name in ((fox, "firefox"), (chrome, "chromium")):
            page_ready(tab)
            assert wait_state(tab, "s.media") == "camera", state(tab)
            tab.fill("#name", name)
        fox.fill("#room", "fox-and-chrome")
        fox.click("#join")
        wait_state(fox, "s.room === 'fox-and-chrome'")
        chrome.fill("#room", "fox-and-chrome")
        chrome.click("#join")
        for tab, other in ((fox, "chromium"), (chrome, "firefox")):
            s = wait_state(tab, "s.connectionState === 'connected' && s")
            assert s["peerName"] == other
        assert state(fox)["polite"] is False and state(chrome)["polite"] is True
        for tab in (fox, chrome):
            wait_state(tab, f"s.framesDecoded > {FRAMES}")
        status = demo.status()
        assert len(status["rooms"]["fox-and-chrome"]) == 2 and not status["echo_calls"]

        send_chat(fox, "from firefox")
        send_chat(chrome, "from chromium")
        wait_chat(chrome, "peer", "from firefox")
        wait_chat(fox, "peer", "from chromium")
        for tab in (fox, chrome):
            wait_state(tab, "s.remoteStatsSamples >= 3")
            scroll_into_view(tab, "#remote-video")
        check_video_moves(fox, "#remote-video")  # Chromium's fake camera: clock and pie
        check_colour_changes(chrome, "#remote-video")  # Firefox's: a cycling colour
        for tab in (fox, chrome):
            assert state(tab)["lastError"] is None, state(tab)

        chrome.click("#hangup")
        wait_state(chrome, "!s.room")
        wait_state(fox, "s.connectionState !== 'connected'")
        demo.wait(lambda st: not st["rooms"], "the room gone")
        assert demo.status()["signaling"]["connections"] == 2  # both pages still connected
