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
reader thread matches replies to calls by id.  Every call has a deadline.  Only the BiDi part is
here; what both drivers do alike is :mod:`tests.interop.page_driver`.

Coordinates are CSS pixels of the viewport (``getBoundingClientRect()``), the viewport is set
to the launch's ``window`` with ``browsingContext.setViewport`` at ``devicePixelRatio`` 1, and
screenshots are of the viewport, so :meth:`FirefoxTab.rect` of an element matches where it is
in :meth:`FirefoxTab.screenshot`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

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

__all__ = ["BidiError", "FirefoxBrowser", "FirefoxTab", "launch_firefox"]

JSON = Any  # a decoded JSON value


class BidiError(PageDriverError):
    """A BiDi command failed, the page threw, a deadline passed, or the browser went away."""


class _ErrorReply(BidiError):
    """Firefox answered a command with an error (e.g. the document went away during a
    navigation): the connection itself is fine."""


# --- the WebSocket ---------------------------------------------------------------------------


class _Connection(JsonWebSocket):
    """The BiDi session WebSocket: a message of type ``event`` is an event, any other a reply;
    an error reply is of type ``error``."""

    protocol = "BiDi"
    error = BidiError
    error_reply = _ErrorReply

    def __init__(self, url: str, on_event: page_driver.EventHandler, timeout: float) -> None:
        super().__init__(url, on_event, timeout, thread="bidi-reader")

    def _is_event(self, message: dict[str, JSON]) -> bool:
        return message.get("type") == "event"

    def _error_text(self, message: dict[str, JSON]) -> str | None:
        if message.get("type") != "error":
            return None
        return f"{message.get('error')}: {message.get('message')}"


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
        text += where(frames[0].get("url"), frames[0].get("lineNumber"))
    return text


def _log_line(params: dict[str, JSON]) -> str:
    """A ``log.entryAdded`` entry as one line, in the form CdpTab.console uses."""
    frames = (params.get("stackTrace") or {}).get("callFrames") or [{}]
    first = frames[0] if isinstance(frames[0], dict) else {}
    at = where(first.get("url"), first.get("lineNumber"))
    text = params.get("text")
    args = params.get("args")
    if isinstance(args, list) and args:  # Firefox's text shows an object as "Object(2)"
        values = [_from_remote(arg) for arg in args]
        text = " ".join(v if isinstance(v, str) else json.dumps(v, default=str) for v in values)
    if params.get("type") == "console":
        return f"console.{params.get('method', params.get('level'))}: {text}{at}"
    if params.get("type") == "javascript":
        return f"exception: {text}{at}"
    return f"log.{params.get('level')} ({params.get('type')}): {text}{at}"


# --- a tab -------------------------------------------------------------------------------------


class FirefoxTab(PageTabBase):
    """One top-level browsing context: evaluate JavaScript, click, fill, screenshot (see
    :class:`~tests.interop.page_driver.PageTabBase`).  Made by :func:`launch_firefox`
    (:meth:`FirefoxBrowser.first_tab`)."""

    error = BidiError
    error_reply = _ErrorReply
    stale_marker = "__bidiDriverLeftThisDocument"

    def __init__(self, owner: FirefoxBrowser, context: str, timeout: float) -> None:
        super().__init__(owner.browser)
        self.owner = owner
        self.context = context
        width, height = owner.window
        owner._call(
            "browsingContext.setViewport",
            {"context": context, "viewport": {"width": width, "height": height},
             "devicePixelRatio": 1},
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"<FirefoxTab {self.context[:8]}>"

    # the protocol's primitives ------------------------------------------------------------------

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
        except BidiError as exc:
            raise self._in_context(exc) from None
        if reply.get("type") == "exception":
            details = reply.get("exceptionDetails")
            return {}, _exception_text(details if isinstance(details, dict) else {})
        result = reply.get("result")
        return (result if isinstance(result, dict) else {}), None

    def _decode(self, remote: JSON) -> JSON:
        return _from_remote(remote)

    def _truthy(self, remote: JSON) -> bool:
        return _js_truthy(remote)

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

    def _start_navigation(self, url: str, timeout: float) -> bool:
        with contextlib.suppress(_ErrorReply):  # an error page: reported by the wait after
            self.owner._call("browsingContext.navigate",
                             {"context": self.context, "url": url, "wait": "none"},
                             timeout=timeout)
        return True

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


# --- the browser -------------------------------------------------------------------------------


class FirefoxBrowser(BrowserBase[FirefoxTab]):
    """Headless Firefox with a WebDriver BiDi session: the tab it opened (:meth:`first_tab`)."""

    error = BidiError

    def __init__(self, browser: Browser, port: int, window: tuple[int, int],
                 timeout: float) -> None:
        super().__init__(browser, port, window, timeout)
        #: Log entries of browsing contexts that are not one of :attr:`tabs` (e.g. iframes).
        self.other_console: list[str] = []
        self._conn = _Connection(f"ws://127.0.0.1:{port}/session", self._on_event, timeout)
        try:
            session = self._call("session.new", {"capabilities": {}}, timeout=timeout)
            capabilities = session.get("capabilities") or {}
            self.version = f"{capabilities.get('browserName', 'firefox')}" \
                f" {capabilities.get('browserVersion', '?')}"
        except BaseException:
            self._conn.close()
            raise

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
                          timeout=remaining(deadline))
        contexts = [c for c in tree.get("contexts") or []
                    if isinstance(c, dict) and isinstance(c.get("context"), str)]
        if not contexts:
            raise BidiError(f"browsingContext.getTree shows no tab: {tree!r}")
        tab = FirefoxTab(self, contexts[0]["context"], remaining(deadline))
        with self._lock:
            self.tabs.append(tab)
        # Subscribed once the tab is known: Firefox then replays the log entries it buffered
        # (those of the page's load, before the session existed) and they go to the tab.
        self._call("session.subscribe", {"events": ["log.entryAdded", "browsingContext.load"]},
                   timeout=remaining(deadline))
        return tab

    def _heading(self) -> str:
        return self.version  # "firefox 115.9.1esr": the name is in it

    def _more_diagnostics(self) -> list[str]:
        with self._lock:
            other = self.other_console[-10:]
        return ["other contexts' console:\n  " + "\n  ".join(other)] if other else []

    def close(self) -> None:
        """Close the WebSocket (the browser itself is stopped by :func:`launch_firefox`)."""
        self._conn.close()


_LISTENING = re.compile(r"WebDriver BiDi listening on ws://[^\s/]+:(\d+)")


def _read_port(browser: Browser, deadline: float, timeout: float) -> int:
    """The BiDi port Firefox chose: from its ``WebDriver BiDi listening on ws://...`` line, or
    from ``WebDriverBiDiServer.json`` in its profile."""
    server_file = browser.workdir / "profile" / "WebDriverBiDiServer.json"

    def listening() -> int | None:
        with contextlib.suppress(OSError):
            found = _LISTENING.search(browser.log_path.read_text(encoding="utf-8",
                                                                 errors="replace"))
            if found:
                return int(found.group(1))
        with contextlib.suppress(OSError, ValueError):
            port = json.loads(server_file.read_text(encoding="utf-8")).get("ws_port")
            if isinstance(port, int) and port > 0:
                return port
        return None

    return wait_for_port(browser, listening, port="WebDriver BiDi port",
                         missing=f"opened no WebDriver BiDi port within {timeout} s",
                         deadline=deadline, error=BidiError)


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
        firefox = FirefoxBrowser(browser, port, window, remaining(deadline))
        try:
            tab = firefox._attach_first(deadline)
            firefox._wait_first_load(tab, url, deadline)
            yield firefox
        finally:
            firefox.close()
