"""A small synchronous WebDriver BiDi driver for end-to-end tests of web pages in Firefox.

The Firefox counterpart of :mod:`tests.interop.cdp`, with the same tab API where it makes sense
(evaluate, wait_for, click, fill, rect, screenshot, crop, console), so page helpers can drive
either browser::

    with launch_firefox(server.url) as firefox:
        tab = firefox.first_tab()
        tab.fill("#room", "abc")
        tab.click("#join")
        tab.wait_for("document.querySelector('#state').textContent === 'connected'")
        pixels = tab.crop(tab.screenshot(), "video")     # HxWx3 uint8 RGB

Firefox ESR starts through :func:`tests.interop.browser.launch_browser` (fresh profile, the
prefs of /work/shared/INTEROP.md, stopped by PID with its whole process group, skip naming the
Debian package when it is not installed) with ``--remote-debugging-port=0``: Firefox picks a
free port on 127.0.0.1, prints ``WebDriver BiDi listening on ws://127.0.0.1:PORT`` on its
output (which launch_browser writes to ``browser.log``) and writes the same port to
``<profile>/WebDriverBiDiServer.json``; whichever shows up first is used.  One WebSocket
(``/session``) carries everything: ``session.new``, then ``browsingContext.getTree`` for the
tab the browser opened, ``log.entryAdded`` events for each tab's :attr:`FirefoxTab.console`.  A
reader thread matches replies to calls by id.  Every call has a deadline.

Coordinates are CSS pixels of the viewport (``getBoundingClientRect()``), the viewport is set
to the launch's ``window`` with ``browsingContext.setViewport`` at ``devicePixelRatio`` 1, and
screenshots are of the viewport, so :meth:`FirefoxTab.rect` of an element matches where it is
in :meth:`FirefoxTab.screenshot`.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import math
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .browser import Browser, launch_browser
from .cdp import decode_png

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from websockets.sync.client import ClientConnection

    Image = npt.NDArray[np.uint8]

__all__ = ["BidiError", "FirefoxBrowser", "FirefoxTab", "launch_firefox"]

JSON = Any  # a decoded JSON value


class BidiError(RuntimeError):
    """A BiDi command failed, the page threw, a deadline passed, or the browser went away."""


class _ErrorReply(BidiError):
    """Firefox answered a command with an error (e.g. the document went away during a
    navigation): the connection itself is fine."""


# --- the WebSocket ---------------------------------------------------------------------------

EventHandler = Callable[[str, dict[str, JSON]], None]


class _Reply:
    __slots__ = ("done", "message")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.message: dict[str, JSON] | None = None


class _Connection:
    """The BiDi session WebSocket: commands wait for their own reply (by id); events go to a
    handler on the reader thread."""

    def __init__(self, url: str, on_event: EventHandler, timeout: float) -> None:
        from websockets.sync.client import connect

        self.url = url
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
            raise BidiError(f"cannot connect to {url}: {exc!r}") from exc
        self._reader = threading.Thread(target=self._read, name="bidi-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        reason = "the BiDi connection closed"
        try:
            for raw in self._ws:
                message = json.loads(raw)
                if not isinstance(message, dict):
                    continue
                if message.get("type") == "event":
                    params = message.get("params")
                    if isinstance(message.get("method"), str):
                        self._on_event(message["method"], params if isinstance(params, dict)
                                       else {})
                elif isinstance(message.get("id"), int):
                    with self._lock:
                        reply = self._waiting.get(message["id"])
                    if reply is not None:
                        reply.message = message
                        reply.done.set()
        except Exception as exc:  # the connection broke, or a message was not JSON
            reason = f"the BiDi connection failed: {exc!r}"
        finally:
            with self._lock:
                self._closed = reason
                waiting = list(self._waiting.values())
            for reply in waiting:
                reply.done.set()

    def call(self, method: str, params: dict[str, JSON] | None = None, *,
             timeout: float = 10) -> dict[str, JSON]:
        """Send one command and return its ``result``; :class:`BidiError` on an error reply,
        when the connection ends, or when no reply came within ``timeout`` seconds."""
        reply = _Reply()
        with self._lock:
            if self._closed is not None:
                raise BidiError(f"{method}: {self._closed}")
            call_id = next(self._ids)
            self._waiting[call_id] = reply
        try:
            try:
                self._ws.send(json.dumps({"id": call_id, "method": method,
                                          "params": params or {}}))
            except Exception as exc:
                raise BidiError(f"{method}: cannot send: {exc!r}") from exc
            if not reply.done.wait(timeout):
                raise BidiError(f"{method}: no reply within {timeout} s")
        finally:
            with self._lock:
                self._waiting.pop(call_id, None)
        message = reply.message
        if message is None:
            raise BidiError(f"{method}: {self._closed}")
        if message.get("type") == "error":
            raise _ErrorReply(f"{method} failed: {message.get('error')}: {message.get('message')}")
        result = message.get("result")
        return result if isinstance(result, dict) else {}

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.close()
        self._reader.join(timeout=3)


def _remaining(deadline: float) -> float:
    return max(0.05, deadline - time.monotonic())


# --- remote values and log lines ---------------------------------------------------------------

_SPECIAL_NUMBERS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0": -0.0}


def _from_remote(value: JSON) -> JSON:
    """The Python value of a BiDi ``script.RemoteValue``, as JSON would decode it: numbers,
    strings, booleans, lists (arrays, sets), dicts (objects, maps), None for undefined and
    null; NaN, Infinity and -0 as floats, BigInt as int, a Date as its ISO string, a RegExp as
    ``/pattern/flags``.  Anything else (DOM nodes, functions, windows, errors, promises...) is
    the RemoteValue dict itself."""
    if not isinstance(value, dict):
        return value
    kind = value.get("type")
    inner = value.get("value")
    if kind in ("undefined", "null"):
        return None
    if kind in ("string", "boolean"):
        return inner
    if kind == "number":
        return _SPECIAL_NUMBERS.get(inner, inner) if isinstance(inner, str) else inner
    if kind == "bigint":
        return int(str(inner))
    if kind in ("array", "set") and isinstance(inner, list):
        return [_from_remote(item) for item in inner]
    if kind in ("object", "map") and isinstance(inner, list):
        result = {}
        for key, item in inner:
            key = _from_remote(key)
            result[key if isinstance(key, (str, int, float, bool)) else json.dumps(key)] = \
                _from_remote(item)
        return result
    if kind == "date":
        return inner
    if kind == "regexp" and isinstance(inner, dict):
        return f"/{inner.get('pattern')}/{inner.get('flags') or ''}"
    return value


def _js_truthy(value: JSON) -> bool:
    """Whether the RemoteValue is truthy *in JavaScript* (``[]`` and ``{}`` are)."""
    if not isinstance(value, dict):
        return bool(value)
    kind = value.get("type")
    inner = value.get("value")
    if kind in ("undefined", "null"):
        return False
    if kind == "number":
        return inner not in (0, "NaN", "-0")
    if kind in ("string", "boolean"):
        return bool(inner)
    if kind == "bigint":
        return inner != "0"
    return True  # objects, functions, symbols...


def _exception_text(details: dict[str, JSON]) -> str:
    """The message of ``exceptionDetails``: its text (``Error: msg``) and where it was thrown."""
    text = str(details.get("text") or "exception")
    frames = (details.get("stackTrace") or {}).get("callFrames") or []
    if frames and isinstance(frames[0], dict):
        text += _where(frames[0].get("url"), frames[0].get("lineNumber"))
    return text


def _where(url: JSON, line: JSON) -> str:
    if not url:
        return ""
    url = _short(str(url), 100)
    return f" [{url}:{int(line) + 1}]" if isinstance(line, int) else f" [{url}]"


def _short(expression: str, limit: int = 80) -> str:
    flat = " ".join(expression.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _log_line(params: dict[str, JSON]) -> str:
    """A ``log.entryAdded`` entry as one line, in the form CdpTab.console uses."""
    frames = (params.get("stackTrace") or {}).get("callFrames") or [{}]
    first = frames[0] if isinstance(frames[0], dict) else {}
    where = _where(first.get("url"), first.get("lineNumber"))
    text = params.get("text")
    args = params.get("args")
    if isinstance(args, list) and args:  # Firefox's text shows an object as "Object(2)"
        values = [_from_remote(arg) for arg in args]
        text = " ".join(v if isinstance(v, str) else json.dumps(v, default=str) for v in values)
    if params.get("type") == "console":
        return f"console.{params.get('method', params.get('level'))}: {text}{where}"
    if params.get("type") == "javascript":
        return f"exception: {text}{where}"
    return f"log.{params.get('level')} ({params.get('type')}): {text}{where}"


#: A property navigate() sets on the document it leaves.
_STALE = "__bidiDriverLeftThisDocument"


# --- a tab -------------------------------------------------------------------------------------


class FirefoxTab:
    """One top-level browsing context: evaluate JavaScript, click, fill, screenshot.  Made by
    :func:`launch_firefox` (:meth:`FirefoxBrowser.first_tab`)."""

    def __init__(self, owner: FirefoxBrowser, context: str, timeout: float) -> None:
        self.owner = owner
        self.context = context
        #: Console calls, uncaught exceptions and navigations, as they arrive.
        self.console: list[str] = []
        width, height = owner.window
        owner._call(
            "browsingContext.setViewport",
            {"context": context, "viewport": {"width": width, "height": height},
             "devicePixelRatio": 1},
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"<FirefoxTab {self.context[:8]}>"

    # JavaScript ---------------------------------------------------------------------------------

    def _evaluate(self, expression: str, await_promise: bool,
                  timeout: float) -> tuple[dict[str, JSON], str | None]:
        """The result's RemoteValue and the JS exception text (None when it did not throw)."""
        try:
            reply = self.owner._call(
                "script.evaluate",
                {
                    "expression": expression,
                    "target": {"context": self.context},
                    "awaitPromise": await_promise,
                    "resultOwnership": "none",
                    "userActivation": True,  # as a click would: autoplay, AudioContext...
                },
                timeout=timeout,
            )
        except _ErrorReply as exc:
            raise _ErrorReply(f"{exc}\n{self._context()}") from None
        except BidiError as exc:
            raise BidiError(f"{exc}\n{self._context()}") from None
        if reply.get("type") == "exception":
            details = reply.get("exceptionDetails")
            return {}, _exception_text(details if isinstance(details, dict) else {})
        result = reply.get("result")
        return (result if isinstance(result, dict) else {}), None

    def evaluate(self, expression: str, *, await_promise: bool = True,
                 timeout: float = 10) -> Any:
        """The value of ``expression`` (awaited when a promise), as JSON decodes it: numbers,
        strings, lists, dicts, None for undefined/null (NaN, Infinity, -0 as floats, BigInt as
        int; see :func:`_from_remote`).  :class:`BidiError` with the JavaScript message when it
        throws or rejects."""
        obj, error = self._evaluate(expression, await_promise, timeout)
        if error is not None:
            raise BidiError(f"JavaScript threw in {_short(expression)!r}: {error}")
        return _from_remote(obj)

    def wait_for(self, expression: str, *, timeout: float = 20, interval: float = 0.1) -> Any:
        """Evaluate ``expression`` every ``interval`` seconds until it is truthy (as JavaScript
        sees it) and return that value.  An expression that throws counts as not yet (e.g. the
        element is not there yet).  On timeout, :class:`BidiError` with the last value or error
        and the page's console log."""
        deadline = time.monotonic() + timeout
        last = "nothing (never evaluated)"
        while True:
            try:
                obj, error = self._evaluate(expression, True, _remaining(deadline))
            except _ErrorReply as exc:  # e.g. a navigation replaced the document
                obj, error = {}, str(exc).split("\n", 1)[0]
            if error is None and _js_truthy(obj):
                return _from_remote(obj)
            last = f"threw {error}" if error is not None else f"was {_from_remote(obj)!r}"
            if time.monotonic() + interval > deadline:
                break
            time.sleep(interval)
        raise BidiError(
            f"{_short(expression)!r} was not truthy within {timeout} s; last it {last}\n"
            f"{self._context()}"
        )

    def _context(self, lines: int = 30) -> str:
        log = self.console[-lines:]
        text = "console:\n  " + "\n  ".join(log) if log else "console: (empty)"
        browser = self.owner.browser
        if not browser.alive():
            text += f"\nfirefox exited ({browser.process.returncode})"
        return text

    # loading ------------------------------------------------------------------------------------

    def wait_loaded(self, *, timeout: float = 20) -> None:
        """Wait until the document finished loading (``readyState`` "complete" and not the initial
        ``about:blank``); :class:`BidiError` when Firefox shows its error page instead."""
        self._wait_loaded("true", timeout)

    def _wait_loaded(self, condition: str, timeout: float) -> None:
        # Firefox keeps the URL it could not load in location.href and shows its error page as
        # an about:neterror document (which stays "interactive" here); the error's code and
        # text are in that document's URI.
        uri = self.wait_for(
            f"({condition}) && location.href !== 'about:blank'"
            " && (document.readyState === 'complete'"
            "     || document.documentURI.startsWith('about:neterror'))"
            " && document.documentURI",
            timeout=timeout,
            interval=0.05,
        )
        if str(uri).startswith("about:neterror"):
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(str(uri)).query)
            code = query.get("e", ["?"])[0]
            text = query.get("d", [""])[0]
            raise BidiError(f"the page did not load: {code}: {text}")

    def navigate(self, url: str, *, timeout: float = 20) -> None:
        """Load ``url`` in this tab (as typing it in the address bar would) and wait until it
        finished loading; :class:`BidiError` when it cannot be loaded."""
        deadline = time.monotonic() + timeout
        # Mark the current document, so the wait below cannot mistake it for the new one.
        with contextlib.suppress(BidiError):
            self.evaluate(f"window.{_STALE} = true", timeout=_remaining(deadline))
        with contextlib.suppress(_ErrorReply):  # an error page: reported by the wait below
            self.owner._call("browsingContext.navigate",
                             {"context": self.context, "url": url, "wait": "none"},
                             timeout=_remaining(deadline))
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
        except BidiError as exc:  # e.g. SyntaxError: not a valid selector
            raise BidiError(f"cannot {what} {selector!r}: {exc}") from None
        if error is not None:
            raise BidiError(f"cannot {what} {selector!r}: {error}\n{self._context(10)}")
        return error

    def click(self, selector: str) -> None:
        """Click the first element matching ``selector``: scrolled into view if it is not, then
        ``element.click()`` (with user activation).  :class:`BidiError` when nothing matches, it
        is not rendered (``display: none``, detached), or it is disabled."""
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
        :meth:`screenshot` (divided by ``devicePixelRatio``).  :class:`BidiError` when nothing
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
            raise BidiError(f"no element matches {selector!r}")
        x, y, w, h, ratio = (float(v) for v in value)
        return x, y, w, h, ratio

    # screenshots --------------------------------------------------------------------------------

    def screenshot_png(self, *, timeout: float = 10) -> bytes:
        """A PNG of the viewport, as Firefox renders it now."""
        reply = self.owner._call(
            "browsingContext.captureScreenshot",
            {"context": self.context, "origin": "viewport", "format": {"type": "image/png"}},
            timeout=timeout,
        )
        data = reply.get("data")
        if not isinstance(data, str):
            raise BidiError(f"browsingContext.captureScreenshot returned no image: {sorted(reply)}")
        return base64.b64decode(data)

    def screenshot(self, *, timeout: float = 10) -> Image:
        """The viewport as an ``(height, width, 3)`` uint8 RGB array (device pixels)."""
        return decode_png(self.screenshot_png(timeout=timeout))

    def crop(self, image: Image, selector: str) -> Image:
        """The element's pixels in ``image`` (a :meth:`screenshot` of this tab taken while the
        element was where it is now), scaled by ``devicePixelRatio``; clipped to the image.
        :class:`BidiError` when the element is outside the image."""
        x, y, w, h, ratio = self._rect_and_ratio(selector)
        height, width = image.shape[:2]
        x0 = min(max(round(x * ratio), 0), width)
        y0 = min(max(round(y * ratio), 0), height)
        x1 = min(max(round((x + w) * ratio), 0), width)
        y1 = min(max(round((y + h) * ratio), 0), height)
        if x1 <= x0 or y1 <= y0:
            raise BidiError(
                f"{selector!r} at {(x, y, w, h)} CSS px (ratio {ratio}) is not inside the"
                f" {width}x{height} screenshot"
            )
        return image[y0:y1, x0:x1]


# --- the browser -------------------------------------------------------------------------------


class FirefoxBrowser:
    """Headless Firefox with a WebDriver BiDi session: the tab it opened (:meth:`first_tab`)."""

    def __init__(self, browser: Browser, port: int, window: tuple[int, int],
                 timeout: float) -> None:
        self.browser = browser
        self.port = port
        self.window = window
        self.timeout = timeout
        self.tabs: list[FirefoxTab] = []
        #: Log entries of browsing contexts that are not one of :attr:`tabs` (e.g. iframes).
        self.other_console: list[str] = []
        self._lock = threading.Lock()
        self._conn = _Connection(f"ws://127.0.0.1:{port}/session", self._on_event, timeout)
        try:
            session = self._call("session.new", {"capabilities": {}}, timeout=timeout)
            capabilities = session.get("capabilities") or {}
            self.version = f"{capabilities.get('browserName', 'firefox')}" \
                f" {capabilities.get('browserVersion', '?')}"
        except BaseException:
            self._conn.close()
            raise

    @property
    def pid(self) -> int:
        return self.browser.pid

    def _call(self, method: str, params: dict[str, JSON], *, timeout: float) -> dict[str, JSON]:
        return self._conn.call(method, params, timeout=timeout)

    def _on_event(self, method: str, params: dict[str, JSON]) -> None:
        if method == "log.entryAdded":
            source = params.get("source") or {}
            self._console_of(source.get("context")).append(_log_line(params))
        elif method == "browsingContext.load":
            self._console_of(params.get("context")).append(f"loaded {params.get('url')}")

    def _console_of(self, context: JSON) -> list[str]:
        with self._lock:
            for tab in self.tabs:
                if tab.context == context:
                    return tab.console
        return self.other_console

    def _attach_first(self, deadline: float) -> FirefoxTab:
        """The first top-level browsing context (the tab the browser opened on the URL)."""
        tree = self._call("browsingContext.getTree", {"maxDepth": 0},
                          timeout=_remaining(deadline))
        contexts = [c for c in tree.get("contexts") or []
                    if isinstance(c, dict) and isinstance(c.get("context"), str)]
        if not contexts:
            raise BidiError(f"browsingContext.getTree shows no tab: {tree!r}")
        tab = FirefoxTab(self, contexts[0]["context"], _remaining(deadline))
        with self._lock:
            self.tabs.append(tab)
        # Subscribed once the tab is known: Firefox then replays the log entries it buffered
        # (those of the page's load, before the session existed) and they go to the tab.
        self._call("session.subscribe", {"events": ["log.entryAdded", "browsingContext.load"]},
                   timeout=_remaining(deadline))
        return tab

    def first_tab(self) -> FirefoxTab:
        """The tab that opened with the browser."""
        with self._lock:
            if not self.tabs:
                raise BidiError("no tab is open")
            return self.tabs[0]

    def diagnostics(self) -> str:
        """The tail of Firefox's output and each tab's console log, for failure messages."""
        state = "running" if self.browser.alive() else f"exited ({self.browser.process.returncode})"
        parts = [f"{self.version} (pid {self.pid}, {state}) output, tail:\n"
                 f"{self.browser.log_tail()}"]
        with self._lock:
            tabs = list(self.tabs)
            other = self.other_console[-10:]
        for tab in tabs:
            log = tab.console[-30:]
            parts.append(f"{tab!r} console:\n  " + ("\n  ".join(log) if log else "(empty)"))
        if other:
            parts.append("other contexts' console:\n  " + "\n  ".join(other))
        return "\n".join(parts)

    def close(self) -> None:
        """Close the WebSocket (the browser itself is stopped by :func:`launch_firefox`)."""
        self._conn.close()


_LISTENING = re.compile(r"WebDriver BiDi listening on ws://[^\s/]+:(\d+)")


def _read_port(browser: Browser, deadline: float, timeout: float) -> int:
    """The BiDi port Firefox chose: from its ``WebDriver BiDi listening on ws://...`` line, or
    from ``WebDriverBiDiServer.json`` in its profile."""
    server_file = browser.workdir / "profile" / "WebDriverBiDiServer.json"
    while True:
        with contextlib.suppress(OSError):
            found = _LISTENING.search(browser.log_path.read_text(encoding="utf-8",
                                                                 errors="replace"))
            if found:
                return int(found.group(1))
        with contextlib.suppress(OSError, ValueError):
            port = json.loads(server_file.read_text(encoding="utf-8")).get("ws_port")
            if isinstance(port, int) and port > 0:
                return port
        if not browser.alive():
            raise BidiError(f"firefox exited ({browser.process.returncode}) before it opened"
                            f" its WebDriver BiDi port\n{browser.log_tail()}")
        if time.monotonic() > deadline:
            raise BidiError(f"firefox opened no WebDriver BiDi port within {timeout} s\n"
                            f"{browser.log_tail()}")
        time.sleep(0.02)


@contextmanager
def launch_firefox(
    url: str,
    *,
    window: tuple[int, int] = (1280, 900),
    timeout: float = 30,
    extra_args: Sequence[str] = (),
) -> Iterator[FirefoxBrowser]:
    """Headless Firefox ESR on ``url`` with a WebDriver BiDi session, for the ``with`` block.

    Returns once the first tab (:meth:`FirefoxBrowser.first_tab`) finished loading ``url``
    (:class:`BidiError` with Firefox's error page text when it cannot).  The tab's viewport is
    exactly ``window`` CSS pixels at ``devicePixelRatio`` 1.  ``extra_args`` are more Firefox
    options.  The WebSocket closes and Firefox is stopped by its PID (the whole process group)
    on exit.  Skips the test, naming the Debian package, when Firefox is not installed.
    """
    deadline = time.monotonic() + timeout
    args = ["--remote-debugging-port=0", *extra_args]
    with launch_browser("firefox", url, extra_args=args) as browser:
        port = _read_port(browser, deadline, timeout)
        firefox = FirefoxBrowser(browser, port, window, _remaining(deadline))
        try:
            tab = firefox._attach_first(deadline)
            if url != "about:blank":
                try:
                    tab.wait_loaded(timeout=_remaining(deadline))
                except BidiError as exc:
                    raise BidiError(f"{url}: {exc}\n{firefox.diagnostics()}") from None
            yield firefox
        finally:
            firefox.close()
