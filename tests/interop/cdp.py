"""A small synchronous Chrome DevTools Protocol driver for end-to-end tests of web pages.

Drives headless Chromium the way a user would -- load a page, click and type by CSS selector,
read page state with JavaScript, open a second tab, take screenshots -- from plain sync test
code::

    with launch_chromium(server.url) as chromium:
        tab = chromium.first_tab()
        tab.fill("#room", "abc")
        tab.click("#join")
        tab.wait_for("document.querySelector('#state').textContent === 'connected'")
        other = chromium.new_tab(server.url)
        pixels = tab.crop(tab.screenshot(), "video")     # HxWx3 uint8 RGB

Chromium starts through :func:`tests.interop.browser.launch_browser` (fresh profile, the flags
of /work/shared/INTEROP.md, stopped by PID with its whole process group, skip when it is not
installed) with ``--remote-debugging-port=0``: Chromium picks a free port on 127.0.0.1 and writes
it on the first line of ``<profile>/DevToolsActivePort``.  Each tab has its own WebSocket to its
page target (``/json/list``); a reader thread matches replies to calls by id and collects the
page's console messages, uncaught exceptions and log entries in :attr:`CdpTab.console`.  The
browser-level WebSocket (``/json/version``) creates and closes tabs.  Every call has a deadline.
Only the DevTools part is here: the WebSocket's call/reply matching and everything a tab does
on the page once it can evaluate JavaScript (wait_for, click, fill, rect, crop, navigate) are
:mod:`tests.interop.page_driver`, shared with the Firefox driver (:mod:`tests.interop.bidi`).

Coordinates are CSS pixels of the viewport (``getBoundingClientRect()``), and screenshots are
of the viewport, so :meth:`CdpTab.rect` of an element matches where it is in
:meth:`CdpTab.screenshot` (times ``devicePixelRatio``, 1 with the flags used here).
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from . import page_driver
from .browser import Browser, launch_browser
from .page_driver import (
    BrowserBase,
    JsonWebSocket,
    PageDriverError,
    PageTabBase,
    remaining,
    wait_for_port,
    where,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]

__all__ = ["CdpBrowser", "CdpError", "CdpTab", "launch_chromium"]

#: Flags added to the harness's own (tests.interop.browser.CHROMIUM_FLAGS).  Two tabs must both
#: keep running timers, rendering and WebRTC at full speed, and media may play without a gesture.
CDP_FLAGS: tuple[str, ...] = (
    "--remote-debugging-port=0",
    "--force-device-scale-factor=1",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--autoplay-policy=no-user-gesture-required",
)

JSON = Any  # a decoded JSON value


class CdpError(PageDriverError):
    """A DevTools call failed, the page threw, a deadline passed, or the browser went away."""


class _ErrorReply(CdpError):
    """Chromium answered a call with an error (e.g. the execution context went away during a
    navigation): the connection itself is fine."""


# --- one WebSocket -----------------------------------------------------------------------------


class _Connection(JsonWebSocket):
    """One DevTools WebSocket (a tab's or the browser's): a message with an ``id`` is a reply,
    any other an event; an error reply has ``error``."""

    protocol = "DevTools"
    error = CdpError
    error_reply = _ErrorReply

    def __init__(self, url: str, name: str, on_event: page_driver.EventHandler | None,
                 timeout: float) -> None:
        super().__init__(url, on_event, timeout, name=name, thread=f"cdp-{name}")

    def _is_event(self, message: dict[str, JSON]) -> bool:
        return "id" not in message

    def _error_text(self, message: dict[str, JSON]) -> str | None:
        error = message.get("error")
        if error is None:
            return None
        detail = error.get("data") if isinstance(error, dict) else None
        text = error.get("message") if isinstance(error, dict) else error
        return f"{text}" + (f" ({detail})" if detail else "")


# --- HTTP endpoints ------------------------------------------------------------------------------

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get_json(port: int, path: str, timeout: float) -> JSON:
    url = f"http://127.0.0.1:{port}{path}"
    with _NO_PROXY.open(url, timeout=timeout) as response:
        return json.loads(response.read())


# --- remote objects and log lines -------------------------------------------------------------


def _from_remote(obj: dict[str, JSON]) -> JSON:
    """The Python value of a ``Runtime.RemoteObject`` fetched with ``returnByValue``."""
    if "value" in obj:
        return obj["value"]
    special = obj.get("unserializableValue")
    if isinstance(special, str):
        if special.endswith("n"):  # BigInt
            with contextlib.suppress(ValueError):
                return int(special[:-1])
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf,
                "-0": -0.0}.get(special, special)
    return None  # undefined (or null, which comes as value None)


def _js_truthy(obj: dict[str, JSON]) -> bool:
    """Whether the remote value is truthy *in JavaScript* (``[]`` and ``{}`` are)."""
    kind = obj.get("type")
    if kind == "undefined" or obj.get("subtype") == "null":
        return False
    special = obj.get("unserializableValue")
    if isinstance(special, str):
        return special not in ("NaN", "-0", "0n")
    if kind in ("boolean", "number", "string"):
        return bool(obj.get("value"))
    return True  # objects, functions, symbols


def _describe(obj: JSON) -> str:
    """A console argument (a RemoteObject, not by value) as text."""
    if not isinstance(obj, dict):
        return str(obj)
    if "value" in obj:
        value = obj["value"]
        return value if isinstance(value, str) else json.dumps(value)
    preview = obj.get("preview")
    if isinstance(preview, dict) and obj.get("subtype") in (None, "array"):
        return _describe_preview(preview, str(obj.get("className", "Object")))
    for key in ("unserializableValue", "description"):
        if isinstance(obj.get(key), str):
            return str(obj[key])
    return str(obj.get("type", "?"))


def _describe_preview(preview: dict[str, JSON], class_name: str) -> str:
    """A plain object or array from its console preview: ``{a: 2, b: "q"}``, ``[3, 4]``."""
    items = []
    for prop in preview.get("properties") or []:
        value = str(prop.get("value", prop.get("type", "?")))
        if prop.get("type") == "string":
            value = json.dumps(value)
        items.append(value if preview.get("subtype") == "array" else f"{prop.get('name')}: {value}")
    if preview.get("overflow"):
        items.append("...")
    if preview.get("subtype") == "array":
        return "[" + ", ".join(items) + "]"
    prefix = "" if class_name == "Object" else f"{class_name} "
    return prefix + "{" + ", ".join(items) + "}"


def _exception_text(details: dict[str, JSON]) -> str:
    """The message of ``exceptionDetails``: the thrown value's description (``Error: msg`` and
    its stack), else the thrown value, else the text (``Uncaught``)."""
    exception = details.get("exception")
    if isinstance(exception, dict):
        if isinstance(exception.get("description"), str):
            return str(exception["description"])
        if "value" in exception or "unserializableValue" in exception:
            return f"{details.get('text', 'Uncaught')} {_describe(exception)}"
    return str(details.get("text", "exception"))


# --- a tab -------------------------------------------------------------------------------------


class CdpTab(PageTabBase):
    """One page target: evaluate JavaScript, click, fill, screenshot (see
    :class:`~tests.interop.page_driver.PageTabBase`).  Made by :func:`launch_chromium` and
    :meth:`CdpBrowser.new_tab`."""

    error = CdpError
    error_reply = _ErrorReply
    stale_marker = "__cdpDriverLeftThisDocument"

    def __init__(self, owner: CdpBrowser, target_id: str, ws_url: str, timeout: float) -> None:
        super().__init__(owner.browser)
        self.owner = owner
        self.target_id = target_id
        self._conn = _Connection(ws_url, f"tab {target_id[:8]}", self._on_event, timeout)
        try:
            for domain in ("Runtime", "Page", "Log"):
                self._conn.call(f"{domain}.enable", timeout=timeout)
            # The viewport is exactly the launch's window size in every tab: the window itself
            # loses a varying height to simulated browser UI (the first window also shows the
            # "unsupported command-line flag" bar for --no-sandbox).
            width, height = owner.window
            self._conn.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                timeout=timeout,
            )
        except BaseException:
            self._conn.close()
            raise

    def __repr__(self) -> str:
        return f"<CdpTab {self.target_id[:8]}>"

    def _on_event(self, method: str, params: dict[str, JSON]) -> None:
        if method == "Runtime.consoleAPICalled":
            args = params.get("args") or []
            text = " ".join(_describe(a) for a in args)
            frames = (params.get("stackTrace") or {}).get("callFrames") or [{}]
            at = where(frames[0].get("url"), frames[0].get("lineNumber"))
            self.console.append(f"console.{params.get('type')}: {text}{at}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails") or {}
            at = where(details.get("url"), details.get("lineNumber"))
            self.console.append(f"exception: {_exception_text(details)}{at}")
        elif method == "Log.entryAdded":
            entry = params.get("entry") or {}
            at = where(entry.get("url"), entry.get("lineNumber"))
            self.console.append(
                f"log.{entry.get('level')} ({entry.get('source')}): {entry.get('text')}{at}"
            )
        elif method == "Page.frameNavigated":
            frame = params.get("frame") or {}
            if not frame.get("parentId"):  # the main frame: a new document from here on
                self.console.append(f"navigated to {frame.get('url')}")
        elif method == "Inspector.targetCrashed":
            self.console.append("the page's renderer process crashed")
        elif method == "Inspector.detached":
            self.console.append(f"DevTools detached: {params.get('reason')}")

    # the protocol's primitives ------------------------------------------------------------------

    def _evaluate(self, expression: str, await_promise: bool,
                  timeout: float) -> tuple[dict[str, JSON], str | None]:
        """The result's RemoteObject and the JS exception text (None when it did not throw)."""
        try:
            reply = self._conn.call(
                "Runtime.evaluate",
                {
                    "expression": expression,
                    "returnByValue": True,
                    "awaitPromise": await_promise,
                    "userGesture": True,
                },
                timeout=timeout,
            )
        except CdpError as exc:
            raise self._in_context(exc) from None
        details = reply.get("exceptionDetails")
        if isinstance(details, dict):
            return {}, _exception_text(details)
        result = reply.get("result")
        return (result if isinstance(result, dict) else {}), None

    def _decode(self, remote: JSON) -> JSON:
        return _from_remote(remote)

    def _truthy(self, remote: JSON) -> bool:
        return _js_truthy(remote)

    def _wait_loaded(self, condition: str, timeout: float) -> None:
        # Chromium shows its error page at a chrome-error: URL, the error's text in its body.
        href, text = self.wait_for(
            f"({condition}) && document.readyState === 'complete'"
            " && location.href !== 'about:blank'"
            " && [location.href, document.body ? document.body.innerText : '']",
            timeout=timeout,
            interval=0.05,
        )
        if str(href).startswith("chrome-error:"):
            raise CdpError(f"the page did not load: {' '.join(str(text).split())[:300]}")

    def _start_navigation(self, url: str, timeout: float) -> bool:
        reply = self._conn.call("Page.navigate", {"url": url}, timeout=timeout)
        if reply.get("errorText"):
            raise CdpError(f"cannot load {url}: {reply['errorText']}")
        return bool(reply.get("loaderId"))  # none: a same-document navigation (the fragment)

    def screenshot_png(self, *, timeout: float = 10) -> bytes:
        """A PNG of the viewport, as Chromium renders it now."""
        reply = self._conn.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": False},
            timeout=timeout,
        )
        data = reply.get("data")
        if not isinstance(data, str):
            raise CdpError(f"Page.captureScreenshot returned no image: {sorted(reply)}")
        return base64.b64decode(data)

    # lifecycle ----------------------------------------------------------------------------------

    def bring_to_front(self) -> None:
        """Activate this tab (``Page.bringToFront``)."""
        self._conn.call("Page.bringToFront")

    def close(self) -> None:
        """Close the tab (the page target) and its WebSocket."""
        self.owner._forget(self)
        if not self._conn.closed and self.owner.browser.alive():
            with contextlib.suppress(CdpError):
                self.owner._call_browser("Target.closeTarget", {"targetId": self.target_id},
                                         timeout=5)
        self._conn.close()

    def _disconnect(self) -> None:
        self._conn.close()


def decode_png(png: bytes) -> Image:
    """A PNG (8-bit RGB or RGBA, as Chromium writes them) as an ``(h, w, 3)`` uint8 RGB array;
    :class:`CdpError` when it cannot be decoded."""
    return page_driver.decode_png(png, CdpError)


# --- the browser -------------------------------------------------------------------------------


class CdpBrowser(BrowserBase[CdpTab]):
    """Headless Chromium with DevTools: its tabs (:attr:`tabs`) and a way to open more."""

    error = CdpError

    def __init__(self, browser: Browser, port: int, window: tuple[int, int],
                 timeout: float) -> None:
        super().__init__(browser, port, window, timeout)
        version = self._http("/json/version")
        url = version.get("webSocketDebuggerUrl") if isinstance(version, dict) else None
        if not isinstance(url, str):
            raise CdpError(f"/json/version has no webSocketDebuggerUrl: {version!r}")
        self.version = str(version.get("Browser", ""))
        self._conn = _Connection(url, "browser", None, timeout)

    def _http(self, path: str) -> JSON:
        try:
            return _get_json(self.port, path, timeout=5)
        except (OSError, ValueError) as exc:
            raise CdpError(f"GET {path} on the DevTools port {self.port}: {exc!r}") from exc

    def _call_browser(self, method: str, params: dict[str, JSON], *,
                      timeout: float) -> dict[str, JSON]:
        return self._conn.call(method, params, timeout=timeout)

    def _page_targets(self) -> list[dict[str, JSON]]:
        targets = self._http("/json/list")
        if not isinstance(targets, list):
            raise CdpError(f"/json/list answered {targets!r}")
        return [t for t in targets if isinstance(t, dict) and t.get("type") == "page"
                and isinstance(t.get("webSocketDebuggerUrl"), str)]

    def _attach(self, select: Callable[[dict[str, JSON]], bool], what: str,
                deadline: float) -> CdpTab:
        """Poll ``/json/list`` for a page target that ``select`` picks and attach to it."""
        while True:
            found = [t for t in self._page_targets() if select(t)]
            if found:
                target = found[0]
                tab = CdpTab(self, str(target["id"]), str(target["webSocketDebuggerUrl"]),
                             remaining(deadline))
                with self._lock:
                    self.tabs.append(tab)
                return tab
            if not self.browser.alive():
                raise CdpError(f"chromium exited ({self.browser.process.returncode}) before"
                               f" {what} appeared\n{self.diagnostics()}")
            if time.monotonic() > deadline:
                raise CdpError(f"{what} did not appear in /json/list within {self.timeout} s"
                               f"\n{self.diagnostics()}")
            time.sleep(0.05)

    def new_tab(self, url: str, *, timeout: float | None = None) -> CdpTab:
        """Open ``url`` in a new tab -- its own window, of the launch's size, so it is visible and
        renders like the first -- attach to it and wait until it loaded."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        width, height = self.window
        reply = self._call_browser(
            "Target.createTarget",
            {"url": url, "newWindow": True, "width": width, "height": height},
            timeout=limit,
        )
        target_id = reply.get("targetId")
        if not isinstance(target_id, str):
            raise CdpError(f"Target.createTarget returned {reply!r}")
        tab = self._attach(lambda t: t.get("id") == target_id, f"the new tab {target_id}",
                           deadline)
        if url != "about:blank":
            tab.wait_loaded(timeout=remaining(deadline))
        return tab

    def _forget(self, tab: CdpTab) -> None:
        with self._lock:
            if tab in self.tabs:
                self.tabs.remove(tab)

    def close(self) -> None:
        """Close every WebSocket (the browser itself is stopped by :func:`launch_chromium`)."""
        with self._lock:
            tabs = list(self.tabs)
            self.tabs.clear()
        for tab in tabs:
            tab._disconnect()
        self._conn.close()


def _read_port(browser: Browser, deadline: float, timeout: float) -> int:
    """The DevTools port Chromium wrote on the first line of ``DevToolsActivePort``."""
    path = browser.workdir / "profile" / "DevToolsActivePort"

    def written() -> int | None:
        with contextlib.suppress(OSError):
            lines = path.read_text(encoding="ascii", errors="replace").splitlines()
            if len(lines) >= 2 and lines[0].strip().isdigit():  # written completely
                return int(lines[0])
        return None

    return wait_for_port(browser, written, port="DevTools port",
                         missing=f"wrote no {path.name} within {timeout} s",
                         deadline=deadline, error=CdpError)


@contextmanager
def launch_chromium(
    url: str,
    *,
    window: tuple[int, int] = (1280, 900),
    timeout: float = 30,
    extra_args: Sequence[str] = (),
) -> Iterator[CdpBrowser]:
    """Headless Chromium on ``url`` with DevTools attached, for the ``with`` block.

    Returns once the first tab (:meth:`CdpBrowser.first_tab`) finished loading ``url``
    (:class:`CdpError` naming Chromium's error, e.g. ``ERR_CONNECTION_REFUSED``, when it cannot).
    The viewport of every tab is exactly ``window`` CSS pixels (``innerWidth``, ``innerHeight``;
    set with ``Emulation.setDeviceMetricsOverride``) at ``devicePixelRatio`` 1.
    ``extra_args`` are more Chromium flags.  Every WebSocket closes and Chromium is stopped by
    its PID (the whole process group) on exit.  Skips the test when Chromium is not installed.
    """
    width, height = window
    flags = [*CDP_FLAGS, f"--window-size={width},{height}", *extra_args]
    deadline = time.monotonic() + timeout
    with launch_browser("chromium", url, extra_args=flags) as browser:
        port = _read_port(browser, deadline, timeout)
        chromium = CdpBrowser(browser, port, window, timeout)
        try:
            tab = chromium._attach(lambda t: True, "the first tab", deadline)
            chromium._wait_first_load(tab, url, deadline)
            yield chromium
        finally:
            chromium.close()
