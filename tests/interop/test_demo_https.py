"""``rtcstack demo`` opened from another machine, as the README says: ``--listen 0.0.0.0:PORT``
prints the page's URL on each of the machine's addresses, and a browser opening one of them
(not localhost) gets the camera only with ``--https`` -- a secure context -- while over plain
http the page falls back to its synthetic picture and tone and the call still works.

Headless Chromium reaches this machine's own non-loopback IPv4 address (Linux routes it through
``lo``), which stands in for "another machine": to the browser it is an ordinary remote origin.
``--ignore-certificate-errors`` stands in for a user accepting the self-signed certificate.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("av", reason="the echo peer needs media: pip install rtcstack[media]")
pytest.importorskip("websockets", reason="the demo needs pip install rtcstack[signal]")

from tests.interop.cdp import launch_chromium
from tests.interop.demo_page import (
    FRAMES,
    STEP,
    Demo,
    check_video_moves,
    page_ready,
    running_demo,
    scroll_into_view,
    state,
    wait_state,
)

pytestmark = pytest.mark.interop


def other_machine_url(demo: Demo) -> str:
    """The first ``from other machines:`` URL with an IPv4 address the demo printed."""
    deadline = time.monotonic() + STEP
    while True:
        urls = [line.split()[-1] for line in demo.lines if "from other machines:" in line]
        ipv4 = [url for url in urls if "[" not in url]
        if ipv4:
            return ipv4[0]
        if time.monotonic() > deadline:
            if not urls:
                pytest.skip("this machine has no address but loopback to open the demo on")
            raise AssertionError(f"no IPv4 URL among {urls}\n{demo.output()}")
        time.sleep(0.1)


@pytest.mark.parametrize("https", [True, False], ids=["https", "http"])
def test_the_demo_from_another_address(https: bool) -> None:
    args = ["--listen", "0.0.0.0:0", *(["--https"] if https else [])]
    with running_demo(*args) as demo:
        url = other_machine_url(demo)
        assert url.startswith("https://" if https else "http://")
        host = url.split("//")[1].rsplit(":", 1)[0]
        flags = [f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE {host}"]
        if https:
            flags.append("--ignore-certificate-errors")  # the user accepting the warning
        else:
            assert any("add --https" in line for line in demo.lines), demo.output()
        with launch_chromium(url, extra_args=flags) as browser:
            tab = browser.first_tab()
            page_ready(tab)
            assert tab.evaluate("window.isSecureContext") is https
            wait_state(tab, "s.media !== null")
            assert state(tab)["media"] == ("camera" if https else "synthetic")
            tab.click("#call-echo")
            wait_state(tab, f"s.connectionState === 'connected' && s.framesDecoded > {FRAMES}")
            scroll_into_view(tab, "#remote-video")
            check_video_moves(tab, "#remote-video")  # the camera, or the synthetic picture
            tab.click("#hangup")
            demo.wait(lambda st: not st["echo_calls"] and not st["rooms"], "the call gone")
