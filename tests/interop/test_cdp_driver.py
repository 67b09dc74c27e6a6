"""The DevTools driver (tests/interop/cdp.py) drives headless Chromium like a user would.

One Chromium for most of the module, on a page served from 127.0.0.1 by
:class:`~tests.interop.browser.PageServer`: JavaScript values and exceptions, waiting, clicks
and typing, screenshots whose pixels are where :meth:`CdpTab.rect` says, the console log, two
tabs that both keep running timers, and Chromium's whole process group gone after the ``with``.
Skips, naming the Debian package, when Chromium is not installed.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .browser import PageServer, browser_command
from .cdp import CdpBrowser, CdpError, CdpTab, launch_chromium

pytestmark = pytest.mark.interop

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>cdp driver test</title>
<style>
  html, body { margin: 0; background: #fff; }
  #red { position: absolute; left: 100px; top: 50px; width: 200px; height: 100px;
         background: rgb(255, 0, 0); }
  #controls { position: absolute; left: 0; top: 300px; }
  #hidden { display: none; }
</style></head>
<body>
<div id="red"></div>
<div id="controls">
  <button id="go">Go</button> <span id="status">idle</span>
  <button id="off" disabled>Off</button> <button id="hidden">Hidden</button>
  <input id="name" value=""> <span id="echo"></span> <span id="changes">0</span>
</div>
<script>
  window.ticks = 0;
  setInterval(() => { window.ticks += 1; }, 50);
  let clicks = 0;
  document.getElementById("go").addEventListener("click", () => {
    clicks += 1;
    document.getElementById("status").textContent = "clicked " + clicks;
  });
  const name = document.getElementById("name");
  name.addEventListener("input", () => {
    document.getElementById("echo").textContent = "hello " + name.value;
  });
  name.addEventListener("change", () => {
    const changes = document.getElementById("changes");
    changes.textContent = String(Number(changes.textContent) + 1);
  });
  console.log("page ready", {ticks: window.ticks, tag: "marker-7"});
</script>
</body></html>
"""


@pytest.fixture(scope="module")
def server() -> Iterator[PageServer]:
    with PageServer(PAGE) as srv:
        yield srv


@pytest.fixture(scope="module")
def chromium(server: PageServer) -> Iterator[CdpBrowser]:
    with launch_chromium(server.url, window=(800, 600)) as browser:
        yield browser


@pytest.fixture
def tab(chromium: CdpBrowser, server: PageServer) -> CdpTab:
    """The first tab, freshly reloaded (so each test starts from the page as served)."""
    first = chromium.first_tab()
    first.navigate(server.url)
    return first


def test_evaluate_returns_values(tab: CdpTab) -> None:
    assert tab.evaluate("1 + 2") == 3
    assert tab.evaluate("0.5 * 3") == 1.5
    assert tab.evaluate("'a' + 'b'") == "ab"
    assert tab.evaluate("({a: 1, b: [true, null, 'x']})") == {"a": 1, "b": [True, None, "x"]}
    assert tab.evaluate("undefined") is None
    assert tab.evaluate("new Promise(r => setTimeout(() => r({late: 42}), 50))") == {"late": 42}
    assert tab.evaluate("(async () => document.title)()") == "cdp driver test"
    assert math.isnan(tab.evaluate("NaN"))
    assert tab.evaluate("2n ** 70n") == 2**70
    assert tab.evaluate("[innerWidth, innerHeight, devicePixelRatio]") == [800, 600, 1]
    assert tab.evaluate("document.visibilityState") == "visible"


def test_javascript_exceptions_raise_with_their_message(tab: CdpTab) -> None:
    with pytest.raises(CdpError, match="boom-1"):
        tab.evaluate("throw new Error('boom-1')")
    with pytest.raises(CdpError, match="boom-2"):
        tab.evaluate("Promise.reject(new TypeError('boom-2'))")
    with pytest.raises(CdpError, match="ReferenceError"):
        tab.evaluate("notDefinedAnywhere + 1")
    assert tab.evaluate("'still usable'") == "still usable"


def test_wait_for_returns_the_truthy_value(tab: CdpTab) -> None:
    tab.evaluate("setTimeout(() => { window.flag = {done: true}; }, 200)")
    started = time.monotonic()
    # Throws (window.flag undefined) until the timer ran: counts as "not yet".
    assert tab.wait_for("window.flag.done && window.flag", timeout=5) == {"done": True}
    assert 0.15 < time.monotonic() - started < 3
    # Truthy as JavaScript sees it: an empty array is truthy there.
    assert tab.wait_for("[]", timeout=1) == []


def test_wait_for_times_out_clearly(tab: CdpTab) -> None:
    started = time.monotonic()
    with pytest.raises(CdpError) as info:
        tab.wait_for("window.ticks < 0", timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 2, elapsed
    message = str(info.value)
    assert "'window.ticks < 0' was not truthy within 0.5 s" in message
    assert "last it was False" in message
    assert "marker-7" in message, "the console log is in the message"
    with pytest.raises(CdpError, match="last it threw TypeError: Cannot read properties"):
        tab.wait_for("window.nope.x", timeout=0.3)


def test_click_and_fill(tab: CdpTab) -> None:
    assert tab.evaluate("document.getElementById('status').textContent") == "idle"
    tab.click("#go")
    assert tab.evaluate("document.getElementById('status').textContent") == "clicked 1"
    tab.click("button#go")
    assert tab.wait_for(
        "document.getElementById('status').textContent === 'clicked 2'", timeout=2
    )
    tab.fill("#name", "Ada")
    assert tab.evaluate("document.getElementById('name').value") == "Ada"
    assert tab.evaluate("document.getElementById('echo').textContent") == "hello Ada"
    assert tab.evaluate("document.getElementById('changes').textContent") == "1"
    assert tab.evaluate("document.activeElement.id") == "name"


def test_click_refuses_what_a_user_could_not_click(tab: CdpTab) -> None:
    with pytest.raises(CdpError, match="cannot click '#missing': no element matches"):
        tab.click("#missing")
    with pytest.raises(CdpError, match="disabled"):
        tab.click("#off")
    with pytest.raises(CdpError, match="not rendered"):
        tab.click("#hidden")
    with pytest.raises(CdpError, match="not a valid selector"):
        tab.click("#go[")
    with pytest.raises(CdpError, match="no element matches"):
        tab.fill("#missing", "x")
    with pytest.raises(CdpError, match="takes no text"):
        tab.fill("#red", "x")
    with pytest.raises(CdpError, match="no element matches"):
        tab.rect("#missing")
    assert tab.evaluate("document.getElementById('status').textContent") == "idle"


def test_screenshot_pixels_are_where_rect_says(tab: CdpTab) -> None:
    png = tab.screenshot_png()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = tab.screenshot()
    assert image.shape == (600, 800, 3) and str(image.dtype) == "uint8"
    assert tab.rect("#red") == (100.0, 50.0, 200.0, 100.0)
    red = tab.crop(image, "#red")
    assert red.shape == (100, 200, 3)
    near_red = (red[..., 0] > 240) & (red[..., 1] < 15) & (red[..., 2] < 15)
    assert near_red.mean() > 0.99, red.reshape(-1, 3).mean(axis=0)
    # A 20 px band around the box is white.
    around = image[30:170, 80:320].astype(int)
    band = around.copy()
    band[20:120, 20:220] = 255  # blank out the box itself
    assert (band > 240).all(), "the page around the red box is white"
    assert (around[20:120, 20:220] != 255).any()
    tab.evaluate("document.getElementById('red').style.top = '5000px'")
    with pytest.raises(CdpError, match="not inside"):
        tab.crop(image, "#red")


def test_console_log_and_diagnostics(chromium: CdpBrowser, tab: CdpTab) -> None:
    tab.evaluate("console.warn('careful', [1, 2], {k: 'v'}); null")
    tab.evaluate("setTimeout(() => { throw new Error('async-boom'); }, 0); null")
    tab.wait_for("new Promise(r => setTimeout(() => r(true), 100))")
    log = "\n".join(tab.console)
    assert 'console.log: page ready {ticks: 0, tag: "marker-7"}' in log
    assert 'console.warning: careful [1, 2] {k: "v"}' in log
    assert "exception: Error: async-boom" in log
    text = chromium.diagnostics()
    assert "async-boom" in text and f"pid {chromium.pid}, running" in text


def test_two_tabs_both_run_timers(chromium: CdpBrowser, server: PageServer) -> None:
    first = chromium.first_tab()
    second = chromium.new_tab(server.url)
    try:
        assert chromium.tabs == [first, second]
        assert second.evaluate("[innerWidth, innerHeight]") == [800, 600]
        tabs = (first, second)
        start = [t.evaluate("window.ticks") for t in tabs]
        time.sleep(1.0)
        ticks = [t.evaluate("window.ticks") - s for t, s in zip(tabs, start, strict=True)]
        assert all(n > 10 for n in ticks), ticks  # 20 at full speed
        assert min(ticks) > 0.6 * max(ticks), ticks  # neither tab is throttled
        assert [t.evaluate("document.visibilityState") for t in tabs] == ["visible"] * 2
        # Both render: each screenshot shows the red box.
        for t in tabs:
            assert t.crop(t.screenshot(), "#red").reshape(-1, 3).mean(axis=0)[0] > 250
        rafs = [t.evaluate("new Promise(r => requestAnimationFrame(() => r(1)))") for t in tabs]
        assert rafs == [1, 1], "requestAnimationFrame runs in both tabs"
    finally:
        second.close()
    assert chromium.tabs == [first]
    with pytest.raises(CdpError):
        second.evaluate("1")


def test_browser_process_group_is_gone_after_the_context() -> None:
    with launch_chromium("data:text/html,<p id=p>hi</p>") as chromium:
        pid, workdir = chromium.pid, chromium.browser.workdir
        assert chromium.first_tab().evaluate("document.getElementById('p').textContent") == "hi"
        assert os.getpgid(pid) == pid, "Chromium leads its own process group"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped
    # No helper (zygote, renderer, GPU, utility) of its group is left running: they are killed
    # with the group, and init reaps their zombies a moment later (~1.5 s here).
    assert _live_group_members(pid) == []
    assert not workdir.exists()


def _live_group_members(pgid: int) -> list[int]:
    """PIDs of processes in group ``pgid`` that are not zombies (from /proc/<pid>/stat)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            live.append(int(stat.parent.name))
    return live


def test_navigate(tab: CdpTab, server: PageServer) -> None:
    tab.evaluate("window.mark = 1; document.getElementById('go').click()")
    tab.navigate(server.url)  # the same URL: a new document all the same
    assert tab.evaluate("[window.mark, document.getElementById('status').textContent]") == [
        None, "idle"]
    tab.navigate(server.url + "#part")  # only the fragment: the same document
    assert tab.evaluate("location.hash") == "#part"
    tab.navigate("data:text/html,<title>other</title>")
    assert tab.evaluate("document.title") == "other"
    assert "navigated to data:text/html,<title>other</title>" in tab.console
    with PageServer("<p>gone</p>") as gone:
        dead = gone.url
    with pytest.raises(CdpError, match="ERR_CONNECTION_REFUSED"):
        tab.navigate(dead)


def test_a_page_that_does_not_load_fails_clearly() -> None:
    with PageServer("<p>gone</p>") as gone:
        url = gone.url
    started = time.monotonic()
    with pytest.raises(CdpError, match="ERR_CONNECTION_REFUSED"), launch_chromium(url, timeout=10):
        pass
    assert time.monotonic() - started < 10


def test_extra_args_go_before_the_url(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    command = browser_command("chromium", "/usr/bin/chromium", "http://127.0.0.1:1/", profile,
                              mdns=False, extra_args=["--remote-debugging-port=0"])
    assert command[-3:] == ["--remote-debugging-port=0", f"--user-data-dir={profile}",
                            "http://127.0.0.1:1/"]
    plain = browser_command("chromium", "/usr/bin/chromium", "http://127.0.0.1:1/", profile,
                            mdns=False)
    assert "--remote-debugging-port=0" not in plain
    firefox = browser_command("firefox", "/usr/bin/firefox-esr", "http://127.0.0.1:1/",
                              profile, mdns=False, extra_args=["--x"])
    assert firefox[-2:] == ["--x", "http://127.0.0.1:1/"]
    with pytest.raises(TypeError):
        browser_command("chromium", "/usr/bin/chromium", "http://127.0.0.1:1/", profile,
                        mdns=False, extra_args="--x")
