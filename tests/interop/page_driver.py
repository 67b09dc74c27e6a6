"""What the tests' two browser drivers share, whichever protocol carries it.

:mod:`tests.interop.cdp` drives Chromium over the Chrome DevTools Protocol and
:mod:`tests.interop.bidi` drives Firefox over WebDriver BiDi.  Both send JSON commands over a
WebSocket and match the replies to them by id (:class:`JsonWebSocket`), and once a tab can
evaluate JavaScript and take a screenshot, everything else it does on the page is the same
(:class:`PageTabBase`): waiting for an expression to become truthy, clicking, filling in,
locating and cropping elements, loading a URL, and the console log in every error.  The
browsers also share :class:`BrowserBase` (the tabs, the first tab, diagnostics) and
:func:`wait_for_port` (the port the browser chose, with a deadline).

A subclass supplies only what its protocol does differently: how a message is an event or
an error, the raw evaluate call and how its result decodes, the screenshot's PNG bytes, how
a navigation starts and how a failed load shows.  Each driver has its own error class, a
subclass of :class:`PageDriverError`, and raises only that.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from .browser import Browser

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from websockets.sync.client import ClientConnection

    Image = npt.NDArray[np.uint8]

__all__ = [
    "BrowserBase",
    "JsonWebSocket",
    "PageDriverError",
    "PageTabBase",
    "decode_png",
    "remaining",
    "short",
    "wait_for_port",
    "where",
]

JSON = Any  # a decoded JSON value

#: Receives each event (its method and params) on the reader thread.
EventHandler = Callable[[str, dict[str, JSON]], None]


class PageDriverError(RuntimeError):
    """A browser driver's error: a command failed, the page threw, a deadline passed, or the
    browser went away (:class:`~tests.interop.cdp.CdpError`,
    :class:`~tests.interop.bidi.BidiError`)."""


# --- deadlines and log lines ----------------------------------------------------------------------


def remaining(deadline: float) -> float:
    """Seconds left until ``deadline`` (a :func:`time.monotonic` time), at least 0.05."""
    return max(0.05, deadline - time.monotonic())


def short(expression: str, limit: int = 80) -> str:
    """``expression`` on one line, cut to ``limit`` characters (for error messages)."""
    flat = " ".join(expression.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def where(url: JSON, line: JSON) -> str:
    """`` [url:line]`` (line counted from 1; ``line`` is 0-based) for a console line, or ``""``
    when there is no URL."""
    if not url:
        return ""
    url = short(str(url), 100)
    return f" [{url}:{int(line) + 1}]" if isinstance(line, int) else f" [{url}]"


def wait_for_port(browser: Browser, find: Callable[[], int | None], *, port: str, missing: str,
                  deadline: float, error: type[PageDriverError]) -> int:
    """Poll ``find`` until it returns the port the browser opened.  ``error`` when the browser
    exits first ("<name> exited (code) before it opened its ``port``") or when ``deadline``
    passes ("<name> ``missing``"), with the tail of the browser's output."""
    while True:
        found = find()
        if found is not None:
            return found
        if not browser.alive():
            raise error(f"{browser.name} exited ({browser.process.returncode}) before it opened"
                        f" its {port}\n{browser.log_tail()}")
        if time.monotonic() > deadline:
            raise error(f"{browser.name} {missing}\n{browser.log_tail()}")
        time.sleep(0.02)


# --- the WebSocket -------------------------------------------------------------------------------


class _Reply:
    __slots__ = ("done", "message")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.message: dict[str, JSON] | None = None


class JsonWebSocket(ABC):
    """One WebSocket carrying JSON commands ``{"id", "method", "params"}``: a call waits for
    the reply with its id; events go to a handler on the reader thread.

    A subclass says which messages are events (:meth:`_is_event`) and which replies are errors
    (:meth:`_error_text`), and sets the error classes it raises.
    """

    #: The protocol's name in the reason a connection ended ("the DevTools connection closed").
    protocol: ClassVar[str]
    #: Raised when a call cannot be made or gets no reply.
    error: ClassVar[type[PageDriverError]]
    #: Raised when the browser answers with an error (the connection itself is fine); a
    #: subclass of :attr:`error`.
    error_reply: ClassVar[type[PageDriverError]]

    def __init__(self, url: str, on_event: EventHandler | None, timeout: float, *,
                 name: str = "", thread: str) -> None:
        """Connect to ``url`` within ``timeout`` seconds.  ``name``, when given, starts every
        error message; ``thread`` names the reader thread."""
        from websockets.sync.client import connect

        self.url = url
        self.name = name
        self._prefix = f"{name}: " if name else ""
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
            raise self.error(f"{self._prefix}cannot connect to {url}: {exc!r}") from exc
        self._reader = threading.Thread(target=self._read, name=thread, daemon=True)
        self._reader.start()

    @abstractmethod
    def _is_event(self, message: dict[str, JSON]) -> bool:
        """Whether ``message`` is an event (else it is the reply to a call)."""

    @abstractmethod
    def _error_text(self, message: dict[str, JSON]) -> str | None:
        """The error of a reply, as text; None when the call succeeded."""

    def _read(self) -> None:
        reason = f"the {self.protocol} connection closed"
        try:
            for raw in self._ws:
                message = json.loads(raw)
                if not isinstance(message, dict):
                    continue
                if self._is_event(message):
                    params = message.get("params")
                    if self._on_event is not None and isinstance(message.get("method"), str):
                        self._on_event(message["method"], params if isinstance(params, dict)
                                       else {})
                elif isinstance(message.get("id"), int):
                    with self._lock:
                        reply = self._waiting.get(message["id"])
                    if reply is not None:
                        reply.message = message
                        reply.done.set()
        except Exception as exc:  # the connection broke, or a message was not JSON
            reason = f"the {self.protocol} connection failed: {exc!r}"
        finally:
            with self._lock:
                self._closed = reason
                waiting = list(self._waiting.values())
            for reply in waiting:
                reply.done.set()

    def call(self, method: str, params: dict[str, JSON] | None = None, *,
             timeout: float = 10) -> dict[str, JSON]:
        """Send one command and return its ``result``; :attr:`error_reply` on an error reply,
        :attr:`error` when the connection ends or no reply came within ``timeout`` seconds."""
        reply = _Reply()
        with self._lock:
            if self._closed is not None:
                raise self.error(f"{self._prefix}{method}: {self._closed}")
            call_id = next(self._ids)
            self._waiting[call_id] = reply
        try:
            try:
                self._ws.send(json.dumps({"id": call_id, "method": method,
                                          "params": params or {}}))
            except Exception as exc:
                raise self.error(f"{self._prefix}{method}: cannot send: {exc!r}") from exc
            if not reply.done.wait(timeout):
                raise self.error(f"{self._prefix}{method}: no reply within {timeout} s")
        finally:
            with self._lock:
                self._waiting.pop(call_id, None)
        message = reply.message
        if message is None:
            raise self.error(f"{self._prefix}{method}: {self._closed}")
        error = self._error_text(message)
        if error is not None:
            raise self.error_reply(f"{self._prefix}{method} failed: {error}")
        result = message.get("result")
        return result if isinstance(result, dict) else {}

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.close()
        self._reader.join(timeout=3)


# --- screenshots ---------------------------------------------------------------------------------


def decode_png(png: bytes, error: type[PageDriverError] = PageDriverError) -> Image:
    """A PNG (8-bit RGB or RGBA, as the browsers write them) as an ``(h, w, 3)`` uint8 RGB
    array; ``error`` when it cannot be decoded."""
    import io

    import av
    import numpy

    try:
        with av.open(io.BytesIO(png), mode="r", format="png_pipe") as container:
            for frame in container.decode(video=0):
                return numpy.asarray(frame.to_ndarray(format="rgb24"), dtype=numpy.uint8)
    except av.FFmpegError as exc:
        raise error(f"cannot decode the PNG ({len(png)} bytes): {exc}") from exc
    raise error(f"the PNG ({len(png)} bytes) has no image")


# --- a tab ---------------------------------------------------------------------------------------


class PageTabBase(ABC):
    """A browser tab driven like a user would: evaluate JavaScript, wait for it, click, fill,
    locate and crop elements, load URLs -- all through :meth:`_evaluate`,
    :meth:`screenshot_png` and the other primitives a protocol's subclass implements.

    Coordinates are CSS pixels of the viewport (``getBoundingClientRect()``) and screenshots
    are of the viewport, so :meth:`rect` of an element is where it is in :meth:`screenshot`
    (times ``devicePixelRatio``).  Errors are :attr:`error`, with the page's console log.
    """

    #: The driver's error (raised for every failure).
    error: ClassVar[type[PageDriverError]]
    #: The browser answered a command with an error (e.g. the document went away during a
    #: navigation); a subclass of :attr:`error`.
    error_reply: ClassVar[type[PageDriverError]]
    #: A property :meth:`navigate` sets on the document it leaves.
    stale_marker: ClassVar[str]

    def __init__(self, browser: Browser) -> None:
        self._browser = browser
        #: Console calls, uncaught exceptions, log entries and navigations, as they arrive.
        self.console: list[str] = []

    # the protocol's primitives --------------------------------------------------------------

    @abstractmethod
    def _evaluate(self, expression: str, await_promise: bool,
                  timeout: float) -> tuple[JSON, str | None]:
        """The result's remote value (as the protocol sends it) and the JS exception text (None
        when it did not throw); :attr:`error` (with :meth:`_context`) when the call fails."""

    @abstractmethod
    def _decode(self, remote: JSON) -> JSON:
        """The Python value of a remote value from :meth:`_evaluate`, as JSON would decode it."""

    @abstractmethod
    def _truthy(self, remote: JSON) -> bool:
        """Whether a remote value from :meth:`_evaluate` is truthy *in JavaScript* (``[]`` and
        ``{}`` are)."""

    @abstractmethod
    def _wait_loaded(self, condition: str, timeout: float) -> None:
        """Wait until ``condition`` (JS) holds and the document finished loading (not the
        initial ``about:blank``); :attr:`error` when the browser shows its error page."""

    @abstractmethod
    def _start_navigation(self, url: str, timeout: float) -> bool:
        """Tell the browser to load ``url``, not waiting for it; whether a new document loads
        (False when only the fragment changed)."""

    @abstractmethod
    def screenshot_png(self, *, timeout: float = 10) -> bytes:
        """A PNG of the viewport, as the browser renders it now."""

    # JavaScript ---------------------------------------------------------------------------------

    def evaluate(self, expression: str, *, await_promise: bool = True,
                 timeout: float = 10) -> Any:
        """The value of ``expression`` (awaited when a promise), as JSON decodes it: numbers,
        strings, lists, dicts, None for undefined/null (NaN, Infinity, -0 as floats, BigInt as
        int).  :attr:`error` with the JavaScript message when it throws or rejects."""
        remote, error = self._evaluate(expression, await_promise, timeout)
        if error is not None:
            raise self.error(f"JavaScript threw in {short(expression)!r}: {error}")
        return self._decode(remote)

    def wait_for(self, expression: str, *, timeout: float = 20, interval: float = 0.1) -> Any:
        """Evaluate ``expression`` every ``interval`` seconds until it is truthy (as JavaScript
        sees it) and return that value.  An expression that throws counts as not yet (e.g. the
        element is not there yet).  On timeout, :attr:`error` with the last value or error
        and the page's console log."""
        deadline = time.monotonic() + timeout
        last = "nothing (never evaluated)"
        while True:
            try:
                remote, error = self._evaluate(expression, True, remaining(deadline))
            except self.error_reply as exc:  # e.g. a navigation replaced the document
                remote, error = {}, str(exc).split("\n", 1)[0]
            if error is None and self._truthy(remote):
                return self._decode(remote)
            last = f"threw {error}" if error is not None else f"was {self._decode(remote)!r}"
            if time.monotonic() + interval > deadline:
                break
            time.sleep(interval)
        raise self.error(
            f"{short(expression)!r} was not truthy within {timeout} s; last it {last}\n"
            f"{self._context()}"
        )

    def _context(self, lines: int = 30) -> str:
        """The last ``lines`` of :attr:`console`, and the browser's exit if it exited."""
        log = self.console[-lines:]
        text = "console:\n  " + "\n  ".join(log) if log else "console: (empty)"
        browser = self._browser
        if not browser.alive():
            text += f"\n{browser.name} exited ({browser.process.returncode})"
        return text

    def _in_context(self, exc: PageDriverError) -> PageDriverError:
        """``exc`` again (the same class) with :meth:`_context` appended."""
        return type(exc)(f"{exc}\n{self._context()}")

    # loading ------------------------------------------------------------------------------------

    def wait_loaded(self, *, timeout: float = 20) -> None:
        """Wait until the document finished loading (``readyState`` "complete" and not the initial
        ``about:blank``); :attr:`error` when the browser shows its error page instead."""
        self._wait_loaded("true", timeout)

    def navigate(self, url: str, *, timeout: float = 20) -> None:
        """Load ``url`` in this tab (as typing it in the address bar would) and wait until it
        finished loading; :attr:`error` when it cannot be loaded."""
        deadline = time.monotonic() + timeout
        # Mark the current document, so the wait below cannot mistake it for the new one.
        with contextlib.suppress(self.error):
            self.evaluate(f"window.{self.stale_marker} = true", timeout=remaining(deadline))
        if self._start_navigation(url, remaining(deadline)) and url != "about:blank":
            self._wait_loaded(f"!window.{self.stale_marker}", remaining(deadline))

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
        except self.error as exc:  # e.g. SyntaxError: not a valid selector
            raise self.error(f"cannot {what} {selector!r}: {exc}") from None
        if error is not None:
            raise self.error(f"cannot {what} {selector!r}: {error}\n{self._context(10)}")
        return error

    def click(self, selector: str) -> None:
        """Click the first element matching ``selector``: scrolled into view if it is not, then
        ``element.click()`` (with user activation).  :attr:`error` when nothing matches, it is
        not rendered (``display: none``, detached), or it is disabled."""
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
        :meth:`screenshot` (divided by ``devicePixelRatio``).  :attr:`error` when nothing
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
            raise self.error(f"no element matches {selector!r}")
        x, y, w, h, ratio = (float(v) for v in value)
        return x, y, w, h, ratio

    # screenshots --------------------------------------------------------------------------------

    def screenshot(self, *, timeout: float = 10) -> Image:
        """The viewport as an ``(height, width, 3)`` uint8 RGB array (device pixels)."""
        return decode_png(self.screenshot_png(timeout=timeout), self.error)

    def crop(self, image: Image, selector: str) -> Image:
        """The element's pixels in ``image`` (a :meth:`screenshot` of this tab taken while the
        element was where it is now), scaled by ``devicePixelRatio``; clipped to the image.
        :attr:`error` when the element is outside the image."""
        x, y, w, h, ratio = self._rect_and_ratio(selector)
        height, width = image.shape[:2]
        x0 = min(max(round(x * ratio), 0), width)
        y0 = min(max(round(y * ratio), 0), height)
        x1 = min(max(round((x + w) * ratio), 0), width)
        y1 = min(max(round((y + h) * ratio), 0), height)
        if x1 <= x0 or y1 <= y0:
            raise self.error(
                f"{selector!r} at {(x, y, w, h)} CSS px (ratio {ratio}) is not inside the"
                f" {width}x{height} screenshot"
            )
        return image[y0:y1, x0:x1]


# --- the browser ---------------------------------------------------------------------------------

TabT = TypeVar("TabT", bound=PageTabBase)


class BrowserBase(Generic[TabT]):
    """A running browser with a driver attached: its tabs (:attr:`tabs`), the first of them,
    and :meth:`diagnostics` for failure messages."""

    #: The driver's error.
    error: ClassVar[type[PageDriverError]]
    #: The browser's version, as the driver learned it.
    version: str

    def __init__(self, browser: Browser, port: int, window: tuple[int, int],
                 timeout: float) -> None:
        self.browser = browser
        self.port = port
        self.window = window
        self.timeout = timeout
        self.tabs: list[TabT] = []
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self.browser.pid

    def first_tab(self) -> TabT:
        """The tab that opened with the browser (the first still open)."""
        with self._lock:
            if not self.tabs:
                raise self.error("no tab is open")
            return self.tabs[0]

    def _heading(self) -> str:
        """The browser's name and version, first in :meth:`diagnostics`."""
        return f"{self.browser.name} {self.version}"

    def _more_diagnostics(self) -> list[str]:
        """More parts of :meth:`diagnostics`, after the tabs' console logs."""
        return []

    def diagnostics(self) -> str:
        """The tail of the browser's output and each tab's console log, for failure messages."""
        state = "running" if self.browser.alive() else f"exited ({self.browser.process.returncode})"
        parts = [f"{self._heading()} (pid {self.pid}, {state}) output, tail:\n"
                 f"{self.browser.log_tail()}"]
        with self._lock:
            tabs = list(self.tabs)
        for tab in tabs:
            log = tab.console[-30:]
            parts.append(f"{tab!r} console:\n  " + ("\n  ".join(log) if log else "(empty)"))
        parts.extend(self._more_diagnostics())
        return "\n".join(parts)

    def _wait_first_load(self, tab: TabT, url: str, deadline: float) -> None:
        """Wait until ``tab`` (the first) finished loading ``url`` unless it is ``about:blank``;
        :attr:`error` naming the URL, with :meth:`diagnostics`, when it cannot."""
        if url == "about:blank":
            return
        try:
            tab.wait_loaded(timeout=remaining(deadline))
        except self.error as exc:
            raise self.error(f"{url}: {exc}\n{self.diagnostics()}") from None
