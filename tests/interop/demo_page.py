"""Driving the ``rtcstack demo`` page in any browser the tests drive: the demo as a subprocess
(:func:`running_demo`), the page's state, its chat, and what its screenshots show.

The helpers take a :class:`PageTab` -- the part of a tab's API they use, which both
:class:`tests.interop.cdp.CdpTab` (Chromium, DevTools) and
:class:`tests.interop.bidi.FirefoxTab` (Firefox, WebDriver BiDi) have.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from tests.helpers import insecure_tls_client

__all__ = [
    "FRAMES",
    "METRICS",
    "STEP",
    "Demo",
    "PageTab",
    "chat_texts",
    "check_graphs",
    "check_video_moves",
    "graph_pixels",
    "page_ready",
    "plot_area",
    "plotted_pixels",
    "running_demo",
    "scroll_into_view",
    "send_chat",
    "state",
    "wait_chat",
    "wait_state",
]

STEP = 20.0  # seconds for any one step to happen
FRAMES = 30  # the browser decodes more than this many video frames of the call
METRICS = ("send-bitrate", "recv-bitrate", "rtt", "packets-lost", "jitter", "frames")

Image = npt.NDArray[np.uint8]


class PageTab(Protocol):
    """A browser tab as the helpers drive it (CdpTab and FirefoxTab both are one)."""

    def evaluate(self, expression: str, *, await_promise: bool = True,
                 timeout: float = 10) -> Any: ...

    def wait_for(self, expression: str, *, timeout: float = 20,
                 interval: float = 0.1) -> Any: ...

    def click(self, selector: str) -> None: ...

    def fill(self, selector: str, text: str) -> None: ...

    def screenshot(self, *, timeout: float = 10) -> Image: ...

    def crop(self, image: Image, selector: str) -> Image: ...


# --- the demo ----------------------------------------------------------------------------------


@dataclass
class Demo:
    """``rtcstack demo`` running as a subprocess, its output collected line by line."""

    process: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        # ``--https``: its own self-signed certificate
        context = insecure_tls_client() if self.url.startswith("https:") else None
        with urllib.request.urlopen(self.url + "status", timeout=5, context=context) as reply:
            result: dict[str, Any] = json.loads(reply.read())
            return result

    def wait(self, predicate: Callable[[dict[str, Any]], bool], what: str,
             timeout: float = STEP) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if predicate(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"the demo never showed {what}: {status}\n{self.output()}")
            time.sleep(0.2)

    def output(self) -> str:
        return "demo output:\n" + "\n".join(self.lines[-40:])


@contextlib.contextmanager
def running_demo(*args: str) -> Iterator[Demo]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "rtcstack.cli", "demo", "--listen", "127.0.0.1:0",
         "--status-interval", "1", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True)
    assert process.stdout is not None
    try:
        first = process.stdout.readline()
        if not first.startswith("rtcstack demo on "):
            raise AssertionError(f"rtcstack demo did not start: {first}{process.stdout.read()}")
        demo = Demo(process, first.split()[3])
        stdout = process.stdout
        threading.Thread(target=lambda: demo.lines.extend(iter(stdout.readline, "")),
                         daemon=True).start()
        yield demo
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # stopped by its PID, as a user's Ctrl-C
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
            raise AssertionError("rtcstack demo did not stop on SIGTERM") from None
    assert code == 0, f"rtcstack demo exited with {code}\n{demo.output()}"


# --- the page ----------------------------------------------------------------------------------


def state(tab: PageTab) -> dict[str, Any]:
    result: dict[str, Any] = tab.evaluate("window.demo.state()")
    return result


def wait_state(tab: PageTab, condition: str, timeout: float = STEP) -> Any:
    """Wait until ``condition`` (JS, over ``s`` = demo.state()) holds."""
    return tab.wait_for(f"(() => {{ const s = window.demo.state(); return {condition}; }})()",
                        timeout=timeout)


def page_ready(tab: PageTab) -> None:
    tab.wait_for("window.demo && window.demo.state().signaling === 'open'", timeout=STEP)


def chat_texts(tab: PageTab, who: str) -> list[str]:
    texts: list[str] = tab.evaluate(
        f"[...document.querySelectorAll('#chat-log .chat-message[data-from=\"{who}\"]')]"
        ".map(e => e.textContent)")
    return texts


def send_chat(tab: PageTab, text: str) -> None:
    tab.fill("#chat-input", text)
    tab.click("#chat-send")


def wait_chat(tab: PageTab, who: str, text: str) -> None:
    tab.wait_for(
        f"[...document.querySelectorAll('#chat-log .chat-message[data-from=\"{who}\"]')]"
        f".some(e => e.textContent.includes({json.dumps(text)}))", timeout=STEP)


# --- pixels ------------------------------------------------------------------------------------


def plotted_pixels(image: np.ndarray) -> int:
    """Pixels of a saturated colour: the page draws its series in colours, and the axes,
    labels and background in greys."""
    channels = image.astype(np.int16)
    return int(((channels.max(axis=2) - channels.min(axis=2)) > 80).sum())


def check_video_moves(tab: PageTab, selector: str) -> np.ndarray:
    """Two screenshots a second apart: the element shows a picture (not flat) that changed."""
    first = tab.crop(tab.screenshot(), selector).astype(np.int16)
    time.sleep(1.0)
    second = tab.crop(tab.screenshot(), selector).astype(np.int16)
    assert first.shape == second.shape and first.size > 0
    assert second.std() > 8, f"{selector} shows a flat picture (std {second.std():.1f})"
    # a frozen picture repeats exactly; the fake camera's clock and pie move a few % of it
    changed = float((np.abs(first - second).max(axis=2) > 40).mean())
    assert changed > 0.002, f"{selector} did not move in a second ({changed:.2%} changed)"
    return second


def plot_area(image: np.ndarray) -> np.ndarray:
    """A graph canvas without its legend (the top 16 px) and y labels (the left 34 px)."""
    return image[16:, 34:]


def graph_pixels(tab: PageTab, panel: str) -> dict[str, int]:
    """Coloured pixels in each graph's plot area of ``panel``, in a screenshot."""
    image = tab.screenshot()
    return {metric: plotted_pixels(plot_area(tab.crop(
        image, f"{panel} canvas.graph[data-metric=\"{metric}\"]"))) for metric in METRICS}


def check_graphs(tab: PageTab, panel: str) -> None:
    """Every graph of ``panel`` has a plotted line in a screenshot."""
    pixels = graph_pixels(tab, panel)
    empty = [metric for metric, count in pixels.items() if count < 20]
    assert not empty, f"graphs with no plotted line in {panel}: {empty} ({pixels})"


def scroll_into_view(tab: PageTab, selector: str) -> None:
    tab.evaluate(f"document.querySelector({json.dumps(selector)}).scrollIntoView()")
    time.sleep(0.3)


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


def check_picture_moves(tab: PageTab, selector: str, camera: str) -> None:
    """The element shows a live picture of ``camera``'s fake camera ("chromium": a clock and
    a pie that move; "firefox": a colour that cycles)."""
    if camera == "firefox":
        check_colour_changes(tab, selector)
    else:
        check_video_moves(tab, selector)
