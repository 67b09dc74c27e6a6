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

Coordinates are CSS pixels of the viewport (``getBoundingClientRect()``), and screenshots are
of the viewport, so :meth:`CdpTab.rect` of an element matches where it is in
:meth:`CdpTab.screenshot` (times ``devicePixelRatio``, 1 with the flags used here).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .browser import Browser, launch_browser

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from websockets.sync.client import ClientConnection

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


class CdpError(RuntimeError):
    """A DevTools call failed, the page threw, a deadline passed, or the browser went away."""


class _ErrorReply(CdpError):
    """Chromium answered a call with an error (e.g. the execution context went away during a
    navigation): the connection itself is fine."""


# --- one WebSocket -----------------------------------------------------------------------------

EventHandler = Callable[[str, dict[str, JSON]], None]


class _Reply:
    __slots__ = ("done", "message")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.message: dict[str, JSON] | None = None


class _Connection:
    """One DevTools WebSocket: calls wait for their own reply (by id); events go to a handler
    on the reader thread."""

    def __init__(self, url: str, name: str, on_event: EventHandler | None, timeout: float) -> None:
        from websockets.sync.client import connect

        self.url = url
        self.name = name
        self._on_event = on_event
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._waiting: dict[int, _Reply] = {}
        self._closed: str | None = None  # why the connection ended, once it has
        try:
            self._ws: ClientConnection = connect(
                url,
                max_size=None,
                compression=None,
                proxy=None,  # loopback only, whatever the environment says
                open_timeout=timeout,
                close_timeout=2,
                ping_interval=None,  # our own deadlines say when the browser is gone
                legacy=True,  # a connection object, closed by close() (not a with block)
            )
        except Exception as exc:
            raise CdpError(f"{name}: cannot connect to {url}: {exc!r}") from exc
        self._reader = threading.Thread(target=self._read, name=f"cdp-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        reason = "the DevTools connection closed"
        try:
            for raw in self._ws:
                message = json.loads(raw)
                if not isinstance(message, dict):
                    continue
                if "id" in message:
                    with self._lock:
                        reply = self._waiting.get(message["id"])
                    if reply is not None:
                        reply.message = message
                        reply.done.set()
                elif self._on_event is not None and isinstance(message.get("method"), str):
                    params = message.get("params")
                    self._on_event(message["method"], params if isinstance(params, dict) else {})
        except Exception as exc:  # the connection broke, or a reply was not JSON
            reason = f"the DevTools connection failed: {exc!r}"
        finally:
            with self._lock:
                self._closed = reason
                waiting = list(self._waiting.values())
            for reply in waiting:
                reply.done.set()

    def call(self, method: str, params: dict[str, JSON] | None = None, *,
             timeout: float = 10) -> dict[str, JSON]:
        """Send one command and return its ``result``; :class:`CdpError` on an error reply,
        when the connection ends, or when no reply came within ``timeout`` seconds."""
        reply = _Reply()
        with self._lock:
            if self._closed is not None:
                raise CdpError(f"{self.name}: {method}: {self._closed}")
            call_id = next(self._ids)
            self._waiting[call_id] = reply
        try:
            try:
                self._ws.send(json.dumps({"id": call_id, "method": method,
                                          "params": params or {}}))
            except Exception as exc:
                raise CdpError(f"{self.name}: {method}: cannot send: {exc!r}") from exc
            if not reply.done.wait(timeout):
                raise CdpError(f"{self.name}: {method}: no reply within {timeout} s")
        finally:
            with self._lock:
                self._waiting.pop(call_id, None)
        message = reply.message
        if message is None:
            raise CdpError(f"{self.name}: {method}: {self._closed}")
        error = message.get("error")
        if error is not None:
            detail = error.get("data") if isinstance(error, dict) else None
            text = error.get("message") if isinstance(error, dict) else error
            raise _ErrorReply(
                f"{self.name}: {method} failed: {text}" + (f" ({detail})" if detail else "")
            )
        result = message.get("result")
        return result if isinstance(result, dict) else {}

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.close()
        self._reader.join(timeout=3)


# --- HTTP endpoints and the port file ------------------------------------------------------------

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get_json(port: int, path: str, timeout: float) -> JSON:
    url = f"http://127.0.0.1:{port}{path}"
    with _NO_PROXY.open(url, timeout=timeout) as response:
        return json.loads(response.read())


def _remaining(deadline: float) -> float:
    return max(0.05, deadline - time.monotonic())


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


def _where(url: JSON, line: JSON) -> str:
    if not url:
        return ""
    url = _short(str(url), 100)
    return f" [{url}:{int(line) + 1}]" if isinstance(line, int) else f" [{url}]"


def _short(expression: str, limit: int = 80) -> str:
    flat = " ".join(expression.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


#: A property navigate() sets on the document it leaves.
_STALE = "__cdpDriverLeftThisDocument"


# --- a tab -------------------------------------------------------------------------------------


class CdpTab:
    """One page target: evaluate JavaScript, click, fill, screenshot.  Made by
    :func:`launch_chromium` and :meth:`CdpBrowser.new_tab`."""

    def __init__(self, owner: CdpBrowser, target_id: str, ws_url: str, timeout: float) -> None:
        self.owner = owner
        self.target_id = target_id
        #: Console calls, uncaught exceptions and browser log entries, as they arrive.
        self.console: list[str] = []
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
            where = _where(frames[0].get("url"), frames[0].get("lineNumber"))
            self.console.append(f"console.{params.get('type')}: {text}{where}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails") or {}
            where = _where(details.get("url"), details.get("lineNumber"))
            self.console.append(f"exception: {_exception_text(details)}{where}")
        elif method == "Log.entryAdded":
            entry = params.get("entry") or {}
            where = _where(entry.get("url"), entry.get("lineNumber"))
            self.console.append(
                f"log.{entry.get('level')} ({entry.get('source')}): {entry.get('text')}{where}"
            )
        elif method == "Page.frameNavigated":
            frame = params.get("frame") or {}
            if not frame.get("parentId"):  # the main frame: a new document from here on
                self.console.append(f"navigated to {frame.get('url')}")
        elif method == "Inspector.targetCrashed":
            self.console.append("the page's renderer process crashed")
        elif method == "Inspector.detached":
            self.console.append(f"DevTools detached: {params.get('reason')}")

    # JavaScript ---------------------------------------------------------------------------------

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
        except _ErrorReply as exc:
            raise _ErrorReply(f"{exc}\n{self._context()}") from None
        except CdpError as exc:
            raise CdpError(f"{exc}\n{self._context()}") from None
        details = reply.get("exceptionDetails")
        if isinstance(details, dict):
            return {}, _exception_text(details)
        result = reply.get("result")
        return (result if isinstance(result, dict) else {}), None

    def evaluate(self, expression: str, *, await_promise: bool = True,
                 timeout: float = 10) -> Any:
        """The value of ``expression`` (awaited when a promise), as JSON decodes it: numbers,
        strings, lists, dicts, None for undefined/null (NaN, Infinity, -0 as floats, BigInt as
        int).  :class:`CdpError` with the JavaScript message when it throws or rejects."""
        obj, error = self._evaluate(expression, await_promise, timeout)
        if error is not None:
            raise CdpError(f"JavaScript threw in {_short(expression)!r}: {error}")
        return _from_remote(obj)

    def wait_for(self, expression: str, *, timeout: float = 20, interval: float = 0.1) -> Any:
        """Evaluate ``expression`` every ``interval`` seconds until it is truthy (as JavaScript
        sees it) and return that value.  An expression that throws counts as not yet (e.g. the
        element is not there yet).  On timeout, :class:`CdpError` with the last value or error
        and the page's console log."""
        deadline = time.monotonic() + timeout
        last = "nothing (never evaluated)"
        while True:
            try:
                obj, error = self._evaluate(expression, True, _remaining(deadline))
            except _ErrorReply as exc:  # e.g. a navigation replaced the execution context
                obj, error = {}, str(exc).split("\n", 1)[0]
            if error is None and _js_truthy(obj):
                return _from_remote(obj)
            last = f"threw {error}" if error is not None else f"was {_from_remote(obj)!r}"
            if time.monotonic() + interval > deadline:
                break
            time.sleep(interval)
        raise CdpError(
            f"{_short(expression)!r} was not truthy within {timeout} s; last it {last}\n"
            f"{self._context()}"
        )

    def _context(self, lines: int = 30) -> str:
        log = self.console[-lines:]
        text = "console:\n  " + "\n  ".join(log) if log else "console: (empty)"
        browser = self.owner.browser
        if not browser.alive():
            text += f"\nchromium exited ({browser.process.returncode})"
        return text

    # loading ------------------------------------------------------------------------------------

    def wait_loaded(self, *, timeout: float = 20) -> None:
        """Wait until the document finished loading (``readyState`` "complete" and not the initial
        ``about:blank``); :class:`CdpError` when Chromium shows its error page instead."""
        self._wait_loaded("true", timeout)

    def _wait_loaded(self, condition: str, timeout: float) -> None:
        href, text = self.wait_for(
            f"({condition}) && document.readyState === 'complete'"
            " && location.href !== 'about:blank'"
            " && [location.href, document.body ? document.body.innerText : '']",
            timeout=timeout,
            interval=0.05,
        )
        if str(href).startswith("chrome-error:"):
            raise CdpError(f"the page did not load: {' '.join(str(text).split())[:300]}")

    def navigate(self, url: str, *, timeout: float = 20) -> None:
        """Load ``url`` in this tab (as typing it in the address bar would) and wait until it
        finished loading; :class:`CdpError` when it cannot be loaded."""
        deadline = time.monotonic() + timeout
        # Mark the current document, so the wait below cannot mistake it for the new one.
        with contextlib.suppress(CdpError):
            self.evaluate(f"window.{_STALE} = true", timeout=_remaining(deadline))
        reply = self._conn.call("Page.navigate", {"url": url}, timeout=_remaining(deadline))
        if reply.get("errorText"):
            raise CdpError(f"cannot load {url}: {reply['errorText']}")
        if not reply.get("loaderId"):
            return  # a same-document navigation (only the fragment changed)
        if url != "about:blank":
            self._wait_loaded(f"!window.{_STALE}", _remaining(deadline))

    # acting like a user -------------------------------------------------------------------------

    def _element_call(self, selector: str, body: str, what: str) -> JSON:
        """Run ``body`` (JS statements using ``el``) on the element, after checking it exists and
        is rendered; the body returns an error text or null."""
        script = (
            "(() => {"
            f" const el = document.querySelector({json.dumps(selector)});"
            " if (el === null) return 'no element matches';"
            " if (el.getClientRects().length === 0)"
            "   return 'the element is not rendered (display:none or not in the document)';"
            f" {body}"
            "})()"
        )
        try:
            error = self.evaluate(script)
        except CdpError as exc:  # e.g. SyntaxError: not a valid selector
            raise CdpError(f"cannot {what} {selector!r}: {exc}") from None
        if error is not None:
            raise CdpError(f"cannot {what} {selector!r}: {error}\n{self._context(10)}")
        return error

    def click(self, selector: str) -> None:
        """Click the first element matching ``selector``: scrolled into view if it is not, then
        ``element.click()`` (a user gesture).  :class:`CdpError` when nothing matches, it is not
        rendered (``display: none``, detached), or it is disabled."""
        self._element_call(
            selector,
            "if (el.matches(':disabled')) return 'the element is disabled';"
            " el.scrollIntoView({block: 'nearest', inline: 'nearest'});"
            " el.click(); return null;",
            "click",
        )

    def fill(self, selector: str, text: str) -> None:
        """Set the value of an ``input``/``textarea``/``select`` (or the text of a contenteditable
        element) and dispatch ``input`` and ``change`` events, as typing would."""
        self._element_call(
            selector,
            "if (el.matches(':disabled')) return 'the element is disabled';"
            " if (el.readOnly) return 'the element is read-only';"
            " el.focus();"
            f" const text = {json.dumps(text)};"
            " if ('value' in el && !el.isContentEditable) {"
            "   const setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(el), 'value');"
            "   if (setter && setter.set) setter.set.call(el, text); else el.value = text;"
            " } else if (el.isContentEditable) { el.textContent = text; }"
            " else { return 'the element takes no text (not an input, textarea, select or"
            " contenteditable)'; }"
            " el.dispatchEvent(new Event('input', {bubbles: true}));"
            " el.dispatchEvent(new Event('change', {bubbles: true}));"
            " return null;",
            "fill",
        )

    def rect(self, selector: str) -> tuple[float, float, float, float]:
        """``(x, y, width, height)`` of the element in CSS pixels of the viewport -- where it is in
        :meth:`screenshot` (divided by ``devicePixelRatio``).  :class:`CdpError` when nothing
        matches."""
        x, y, w, h, _ = self._rect_and_ratio(selector)
        return x, y, w, h

    def _rect_and_ratio(self, selector: str) -> tuple[float, float, float, float, float]:
        value = self.evaluate(
            "(() => {"
            f" const el = document.querySelector({json.dumps(selector)});"
            " if (el === null) return null;"
            " const r = el.getBoundingClientRect();"
            " return [r.x, r.y, r.width, r.height, window.devicePixelRatio];"
            "})()"
        )
        if value is None:
            raise CdpError(f"no element matches {selector!r}")
        x, y, w, h, ratio = (float(v) for v in value)
        return x, y, w, h, ratio

    # screenshots --------------------------------------------------------------------------------

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

    def screenshot(self, *, timeout: float = 10) -> Image:
        """The viewport as an ``(height, width, 3)`` uint8 RGB array (device pixels)."""
        return decode_png(self.screenshot_png(timeout=timeout))

    def crop(self, image: Image, selector: str) -> Image:
        """The element's pixels in ``image`` (a :meth:`screenshot` of this tab taken while the
        element was where it is now), scaled by ``devicePixelRatio``; clipped to the image.
        :class:`CdpError` when the element is outside the image."""
        x, y, w, h, ratio = self._rect_and_ratio(selector)
        height, width = image.shape[:2]
        x0 = min(max(round(x * ratio), 0), width)
        y0 = min(max(round(y * ratio), 0), height)
        x1 = min(max(round((x + w) * ratio), 0), width)
        y1 = min(max(round((y + h) * ratio), 0), height)
        if x1 <= x0 or y1 <= y0:
            raise CdpError(
                f"{selector!r} at {(x, y, w, h)} CSS px (ratio {ratio}) is not inside the"
                f" {width}x{height} screenshot"
            )
        return image[y0:y1, x0:x1]

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
    """A PNG (8-bit RGB or RGBA, as Chromium writes them) as an ``(h, w, 3)`` uint8 RGB array."""
    import io

    import av
    import numpy

    try:
        with av.open(io.BytesIO(png), mode="r", format="png_pipe") as container:
            for frame in container.decode(video=0):
                return numpy.asarray(frame.to_ndarray(format="rgb24"), dtype=numpy.uint8)
    except av.FFmpegError as exc:
        raise CdpError(f"cannot decode the PNG ({len(png)} bytes): {exc}") from exc
    raise CdpError(f"the PNG ({len(png)} bytes) has no image")


# --- the browser -------------------------------------------------------------------------------


class CdpBrowser:
    """Headless Chromium with DevTools: its tabs (:attr:`tabs`) and a way to open more."""

    def __init__(self, browser: Browser, port: int, window: tuple[int, int],
                 timeout: float) -> None:
        self.browser = browser
        self.port = port
        self.window = window
        self.timeout = timeout
        self.tabs: list[CdpTab] = []
        self._lock = threading.Lock()
        version = self._http("/json/version")
        url = version.get("webSocketDebuggerUrl") if isinstance(version, dict) else None
        if not isinstance(url, str):
            raise CdpError(f"/json/version has no webSocketDebuggerUrl: {version!r}")
        self.version = str(version.get("Browser", ""))
        self._conn = _Connection(url, "browser", None, timeout)

    @property
    def pid(self) -> int:
        return self.browser.pid

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
                             _remaining(deadline))
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

    def first_tab(self) -> CdpTab:
        """The tab that opened with the browser (the first still open)."""
        with self._lock:
            if not self.tabs:
                raise CdpError("no tab is open")
            return self.tabs[0]

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
            tab.wait_loaded(timeout=_remaining(deadline))
        return tab

    def diagnostics(self) -> str:
        """The tail of Chromium's output and each tab's console log, for failure messages."""
        state = "running" if self.browser.alive() else f"exited ({self.browser.process.returncode})"
        parts = [f"chromium {self.version} (pid {self.pid}, {state}) output, tail:\n"
                 f"{self.browser.log_tail()}"]
        with self._lock:
            tabs = list(self.tabs)
        for tab in tabs:
            log = tab.console[-30:]
            parts.append(f"{tab!r} console:\n  " + ("\n  ".join(log) if log else "(empty)"))
        return "\n".join(parts)

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


def _read_port(browser: Browser, profile: Path, deadline: float, timeout: float) -> int:
    """The DevTools port Chromium wrote on the first line of ``DevToolsActivePort``."""
    path = profile / "DevToolsActivePort"
    while True:
        with contextlib.suppress(OSError):
            lines = path.read_text(encoding="ascii", errors="replace").splitlines()
            if len(lines) >= 2 and lines[0].strip().isdigit():  # written completely
                return int(lines[0])
        if not browser.alive():
            raise CdpError(f"chromium exited ({browser.process.returncode}) before it opened"
                           f" its DevTools port\n{browser.log_tail()}")
        if time.monotonic() > deadline:
            raise CdpError(f"chromium wrote no {path.name} within {timeout} s\n"
                           f"{browser.log_tail()}")
        time.sleep(0.02)


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
        port = _read_port(browser, browser.workdir / "profile", deadline, timeout)
        chromium = CdpBrowser(browser, port, window, timeout)
        try:
            tab = chromium._attach(lambda t: True, "the first tab", deadline)
            if url != "about:blank":
                try:
                    tab.wait_loaded(timeout=_remaining(deadline))
                except CdpError as exc:
                    raise CdpError(f"{url}: {exc}\n{chromium.diagnostics()}") from None
            yield chromium
        finally:
            chromium.close()
