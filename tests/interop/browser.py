"""Drive a real headless browser (Chromium, Firefox ESR) from Python tests, on loopback only.

See /work/shared/INTEROP.md for why each flag and pref is there.  The pieces:

- :func:`require_browser` -- the binary path, or ``pytest.skip`` naming the Debian package.
- :class:`PageServer` -- a stdlib HTTP server on 127.0.0.1 (free port, one thread per request)
  that serves one page and routes JSON ``POST``s from the page to Python callbacks; given a
  :class:`~tests.interop.netns.Netns` it listens on that namespace's own loopback.
- :func:`launch_browser` -- a :class:`Browser` context manager: the browser headless on a URL,
  with a fresh temporary profile, stopped by its PID (the whole process group: SIGTERM, then
  SIGKILL) and its profile removed on exit; given a namespace it runs under ``ip netns exec``.
- :class:`BrowserSession` / :func:`open_session` -- a server, the harness page
  (``browser_page.html``) and a browser together.  The page long-polls ``GET /next`` for jobs and
  runs them concurrently, so one launch serves many jobs, and a Python callback of one job may run
  another job on the same page (e.g. relay the browser's own answer)::

      with open_session("chromium") as session:
          cap = session.capture("audio-video-data")          # Capture(offer, answer, ...)
          res = session.accepts_answer("data-only", lambda offer: my_answer(offer))
          accepted, answer, error = session.answers_offer(cap.offer, "audio-video-data")
          run = session.connects("audio-only", answerer)  # ConnectResult: connectionState...

- :func:`capture`, :func:`browser_accepts_answer`, :func:`browser_answers_offer` -- the same as
  one-shot functions; each takes a browser name (and launches for that one call) or an open
  :class:`BrowserSession` (and reuses it).

Scenarios (:data:`SCENARIOS`): ``audio-video-data`` (fake microphone + camera via getUserMedia,
and a data channel), ``data-only``, ``audio-only``, ``simulcast`` (a sendonly video transceiver
with rids q/h/f at scaleResolutionDownBy 4/2/1), ``ice-restart`` (audio-video-data, then a
second round after ``restartIce()``), and the mDNS variants ``audio-video-data-mdns`` and
``data-only-mdns``, which need a session launched with ``mdns=True`` (Chromium without
``--disable-features=WebRtcHideLocalIpsWithMdns``, Firefox with
``media.peerconnection.ice.obfuscate_host_addresses`` true) so host candidates may carry
``.local`` names.

mDNS sessions run inside a network namespace the session creates (:mod:`tests.interop.netns`):
the browser announces and queries its ``.local`` names by multicast on every interface it finds,
and there those are the namespace's own ``lo`` and a veth pair with both ends in the namespace
(``inner_link``: 198.18.0.1; :func:`open_session` says why), so nothing leaves it.  The page
server listens on that namespace's 127.0.0.1 (its socket is created there), the browser's whole
process tree lives there, and the namespace is deleted when the session ends.  Needs root and
``ip`` (``iproute2``); otherwise an mDNS session skips the test.
``open_session(name, isolated=True)`` runs a non-mDNS session in a namespace with only ``lo``
(Firefox then gathers 127.0.0.1 and ::1 candidates, which it does not in the machine's own
namespace).

Every wait has a deadline; a failure raises :class:`BrowserError` with the browser's own error
text, the page's log and the tail of the browser's output.  The harness deals in SDP text only.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from .netns import Netns, network_namespace, require_netns

__all__ = [
    "BROWSERS",
    "SCENARIOS",
    "AnswerResult",
    "Browser",
    "BrowserError",
    "BrowserSession",
    "Capture",
    "ConnectResult",
    "OfferResult",
    "PageServer",
    "browser_accepts_answer",
    "browser_answers_offer",
    "capture",
    "launch_browser",
    "open_session",
    "require_browser",
]

PAGE_PATH = Path(__file__).with_name("browser_page.html")

#: Browser name -> (candidate binaries, Debian package).
BROWSERS: Mapping[str, tuple[tuple[str, ...], str]] = {
    "chromium": (("chromium",), "chromium"),
    "firefox": (("firefox-esr", "firefox"), "firefox-esr"),
}

SCENARIOS: tuple[str, ...] = (
    "audio-video-data",
    "data-only",
    "audio-only",
    "simulcast",
    "ice-restart",
    "audio-video-data-mdns",
    "data-only-mdns",
)

JSON = Any  # a decoded JSON value


class BrowserError(RuntimeError):
    """The browser or the page failed, or a deadline passed; the message says which and why."""


def _check_name(name: str) -> tuple[tuple[str, ...], str]:
    try:
        return BROWSERS[name]
    except KeyError:
        raise ValueError(f"unknown browser {name!r}; expected one of {sorted(BROWSERS)}") from None


def _check_scenario(scenario: str) -> None:
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; expected one of {list(SCENARIOS)}")


def is_mdns_scenario(scenario: str) -> bool:
    """Whether ``scenario`` needs a browser launched with ``mdns=True``."""
    _check_scenario(scenario)
    return scenario.endswith("-mdns")


def find_browser(name: str) -> str | None:
    """The path of the browser binary, or None when it is not installed."""
    binaries, _ = _check_name(name)
    for binary in binaries:
        path = shutil.which(binary) or (
            f"/usr/bin/{binary}" if os.path.exists(f"/usr/bin/{binary}") else None
        )
        if path is not None:
            return path
    return None


def require_browser(name: str) -> str:
    """The browser's binary path, or skip the test (``pytest.skip``) naming the Debian package."""
    import pytest

    path = find_browser(name)
    if path is None:
        _, package = BROWSERS[name]
        pytest.skip(f"{name} is not installed: install the Debian package {package}")
    return path


# --- the HTTP server ---------------------------------------------------------------------------

Route = Callable[[JSON], JSON]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser closing its keep-alive connection is not an error worth printing


class PageServer:
    """A small HTTP server on 127.0.0.1 (free port) for one test page.

    ``GET /`` serves ``page_html``; ``GET <path>`` and ``POST <path>`` call the route registered
    with :meth:`route` (``POST`` with the decoded JSON body, ``GET`` with None) and answer its
    return value as JSON.  A route raising an exception answers HTTP 500 with the error text.
    Each request runs in its own thread, so a route may block (long poll) without stopping others.

    With ``netns`` the listening socket is created (bound, listening) inside that namespace, so
    ``url`` is reachable from programs run there and not from the test's own namespace; the
    serving threads stay in the test's namespace (a socket keeps the namespace it was made in).
    """

    def __init__(self, page_html: str, *, netns: Netns | None = None) -> None:
        self.page_html = page_html
        self.netns = netns
        self._routes: dict[str, Route] = {}
        handler = self._handler_class()
        if netns is None:
            self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        else:
            self._httpd = netns.call(lambda: _QuietServer(("127.0.0.1", 0), handler))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="rtcstack-page-server", daemon=True
        )
        self.errors: list[str] = []

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def route(self, path: str, fn: Route) -> None:
        """Answer requests for ``path`` (e.g. ``"/result"``) with ``fn(json_body)``."""
        self._routes[path] = fn

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> PageServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean; failures are reported through BrowserError

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _dispatch(self, body: JSON) -> None:
                path = self.path.split("?", 1)[0]
                fn = server._routes.get(path)
                if fn is None:
                    self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
                    return
                try:
                    reply = fn(body)
                except Exception as exc:
                    message = f"{path}: {type(exc).__name__}: {exc}"
                    server.errors.append(message)
                    self._send(HTTPStatus.INTERNAL_SERVER_ERROR, message.encode(), "text/plain")
                    return
                self._send(HTTPStatus.OK, json.dumps(reply).encode(), "application/json")

            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] in ("/", "/index.html"):
                    page = server.page_html.encode()
                    self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
                    return
                self._dispatch(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    self._send(HTTPStatus.BAD_REQUEST, b"body is not JSON", "text/plain")
                    return
                self._dispatch(body)

        return Handler


# --- launching a browser -----------------------------------------------------------------------

#: Chromium flags from INTEROP.md, plus more switches that keep it quiet and off the network.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless=new",
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--no-default-browser-check",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--disable-gpu",
    "--mute-audio",
    "--no-proxy-server",
    "--password-store=basic",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE *.local",
)

#: Firefox prefs (user.js) from INTEROP.md: fake media, loopback ICE, no background networking.
FIREFOX_PREFS: Mapping[str, bool | int | str] = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    # Firefox 153 still gathers no 127.0.0.1/::1 candidate with this (nor with
    # media.peerconnection.ice.force_interface="lo", tried): it offers the machine's own
    # interface addresses, which loopback peers reach through lo anyway.
    "media.autoplay.default": 0,
    # no updates, telemetry, studies, captive portal, safe browsing, remote settings
    "app.update.enabled": False,
    "app.update.auto": False,
    "app.update.disabledForTesting": True,
    "app.normandy.enabled": False,
    "app.normandy.api_url": "",
    "app.shield.optoutstudies.enabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.server": "",
    "toolkit.telemetry.archive.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.firstRunURL": "",
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.trr.mode": 5,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "network.proxy.type": 0,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.downloads.remote.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "browser.safebrowsing.provider.google4.updateURL": "",
    "browser.safebrowsing.provider.google.updateURL": "",
    "services.settings.server": "http://127.0.0.1:1/",
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.blocklist.enabled": False,
    "browser.search.update": False,
    "browser.region.update.enabled": False,
    "browser.region.network.url": "",
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "browser.newtabpage.enabled": False,
    "browser.ping-centre.telemetry": False,
    "browser.topsites.contile.enabled": False,
    "identity.fxaccounts.enabled": False,
    "security.OCSP.enabled": 0,
    "security.remote_settings.crlite_filters.enabled": False,
    "geo.enabled": False,
    "media.gmp-manager.updateEnabled": False,
    "media.gmp-manager.url": "",
    "media.gmp-gmpopenh264.autoupdate": False,
    "media.gmp-gmpopenh264.enabled": False,
    "browser.crashReports.unsubmittedCheck.enabled": False,
    "dom.push.enabled": False,
}


def _user_js(prefs: Mapping[str, bool | int | str]) -> str:
    return "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())


def browser_version(binary: str) -> str:
    """``--version`` of the binary, e.g. ``Chromium 156.0.8078.79 built on Debian ...``."""
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    version = out.stdout.strip()
    if out.returncode != 0 or not version:
        raise BrowserError(f"{binary} --version failed ({out.returncode}): {out.stderr.strip()}")
    return version


def major_version(version: str) -> int:
    """The major version in a ``--version`` string (``Mozilla Firefox 153.7.0esr`` -> 153)."""
    for word in version.split():
        head = word.split(".", 1)[0]
        if head.isdigit() and "." in word:
            return int(head)
    raise ValueError(f"no version number in {version!r}")


@dataclass
class Browser:
    """One running browser (see :func:`launch_browser`)."""

    name: str
    binary: str
    version: str
    mdns: bool
    process: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path
    netns: Netns | None = None
    launched_at: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, limit: int = 3000) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        # Chromium logs a D-Bus complaint per second here (no session bus): leave those out.
        lines = [line for line in text.splitlines() if ":ERROR:dbus/" not in line]
        return "\n".join(lines)[-limit:]

    def stop(self) -> None:
        """Stop the whole process group by the browser's PID (SIGTERM, then SIGKILL)."""
        proc = self.process
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        # Helper processes left in the group (zygotes, content processes) go too.
        _signal_group(proc.pid, signal.SIGKILL)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # the browser leads its own session/group (start_new_session)


def browser_command(
    name: str,
    binary: str,
    url: str,
    profile: Path,
    *,
    mdns: bool,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The command line that starts ``name`` headless on ``url`` with the profile ``profile``.

    ``extra_args`` are appended to Chromium's flags (after :data:`CHROMIUM_FLAGS`), or to
    Firefox's options (after ``--profile``), before the URL.
    """
    if isinstance(extra_args, str):
        raise TypeError("extra_args is a sequence of flags, not one string")
    if name == "chromium":
        flags = list(CHROMIUM_FLAGS)
        if mdns:
            # With --use-fake-ui-for-media-stream Chromium skips its media-permission check and
            # treats the page as trusted: host candidates would show addresses, never mDNS names.
            flags.remove("--use-fake-ui-for-media-stream")
        else:
            flags.append("--disable-features=WebRtcHideLocalIpsWithMdns")
        return [binary, *flags, *extra_args, f"--user-data-dir={profile}", url]
    if name == "firefox":
        prefs = dict(FIREFOX_PREFS)
        prefs["media.peerconnection.ice.obfuscate_host_addresses"] = mdns
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "user.js").write_text(_user_js(prefs), encoding="utf-8")
        return [
            binary,
            "--headless",
            "--no-remote",
            "--new-instance",
            "--profile",
            str(profile),
            *extra_args,
            url,
        ]
    _check_name(name)
    raise ValueError(name)  # unreachable: _check_name raised


@contextmanager
def launch_browser(
    name: str,
    page_url: str,
    *,
    mdns: bool = False,
    netns: Netns | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[Browser]:
    """Start ``name`` ("chromium" or "firefox") headless on ``page_url`` for the ``with`` block.

    A fresh temporary profile (and ``HOME``), the flags/prefs of INTEROP.md; stopped by PID and
    the profile removed on exit.  Skips the test when the browser is not installed.

    With ``netns`` the browser runs under ``ip netns exec`` in that namespace (``page_url`` must
    be served there: ``PageServer(..., netns=netns)``).  ``mdns=True`` requires one: a browser
    that hides its addresses behind ``.local`` names multicasts mDNS on every interface it
    finds, which must not include the machine's real ones (use :func:`open_session`, which
    makes the namespace and the server in it).

    ``extra_args``: more command-line options, appended after the harness's own (see
    :func:`browser_command`), e.g. ``--remote-debugging-port=0``.
    """
    if mdns and netns is None:
        raise ValueError(
            "an mdns=True browser multicasts mDNS on every interface: pass netns= (a namespace"
            " from tests.interop.netns.network_namespace with the page server in it)"
        )
    binary = require_browser(name)
    version = browser_version(binary)
    workdir = Path(tempfile.mkdtemp(prefix=f"rtcstack-{name}-"))
    home = workdir / "home"
    home.mkdir()
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        TMPDIR=str(workdir),
        MOZ_REMOTE_SETTINGS_DEVTOOLS="1",
        MOZ_CRASHREPORTER_DISABLE="1",
        MOZ_DISABLE_AUTO_SAFE_MODE="1",
    )
    env.pop("DISPLAY", None)
    log_path = workdir / "browser.log"
    try:
        command = browser_command(
            name, binary, page_url, workdir / "profile", mdns=mdns, extra_args=extra_args
        )
        if netns is not None:
            command = [*netns.exec_prefix, *command]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=workdir,
                start_new_session=True,
            )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    browser = Browser(name, binary, version, mdns, process, workdir, log_path, netns)
    try:
        yield browser
    finally:
        browser.stop()


# --- jobs on the harness page ------------------------------------------------------------------


@dataclass(frozen=True)
class Capture:
    """One offer/answer exchange between two peer connections inside the browser.

    ``offer``/``answer`` (and for ``ice-restart`` the second round) are
    ``pc.localDescription.sdp`` after ICE gathering completed: byte-exact, CRLF as produced.
    """

    offer: str
    answer: str
    restart_offer: str | None
    restart_answer: str | None
    version: str
    browser: str = ""
    scenario: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class AnswerResult:
    """The browser offered; Python answered; did ``setRemoteDescription(answer)`` succeed?

    ``error`` is the browser's DOMException as ``"Name: message"`` when it was refused.
    """

    offer: str
    answer: str
    accepted: bool
    error: str | None
    signaling_state: str


@dataclass(frozen=True)
class ConnectResult:
    """The browser offered, Python answered, and the connection ran: the ``connectionState``
    reached (``"connected"``, ``"failed"``, or where it stood at the deadline), the states it
    went through, and the page's ``transport``/``certificate``/``candidate-pair`` stats."""

    offer: str
    answer: str
    accepted: bool
    error: str | None
    connection_state: str | None
    ice_connection_state: str | None
    states: tuple[str, ...]
    elapsed_ms: float | None
    stats: tuple[dict[str, JSON], ...]


class OfferResult(NamedTuple):
    """Python offered; did the browser accept it, and what did it answer?"""

    accepted: bool
    answer: str | None
    error: str | None


@dataclass
class _Job:
    id: int
    message: dict[str, JSON]
    callbacks: Mapping[str, Route]
    done: threading.Event = field(default_factory=threading.Event)
    report: dict[str, JSON] | None = None


class BrowserSession:
    """A :class:`PageServer` with the harness page and one browser on it; runs jobs.

    Use :func:`open_session`.  Jobs may run concurrently (the page runs each as it arrives).
    """

    def __init__(self, server: PageServer, browser: Browser, timeout: float) -> None:
        self.server = server
        self.browser = browser
        self.timeout = timeout
        self.page_log: list[str] = []
        self._jobs: dict[int, _Job] = {}
        self._pending: queue.Queue[dict[str, JSON]] = queue.Queue()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = False
        self._page_seen = threading.Event()
        self.startup_seconds: float | None = None
        self.user_agent = ""

    # routes (called from server threads) -----------------------------------------------------

    def _next(self, _body: JSON) -> JSON:
        self._page_seen.set()
        if self._closed:
            return {"action": "stop"}
        try:
            return self._pending.get(timeout=10)
        except queue.Empty:
            return {"action": "stop" if self._closed else "wait"}

    def _call(self, body: JSON) -> JSON:
        job = self._job_of(body)
        name = str(body.get("name"))
        fn = job.callbacks.get(name)
        if fn is None:
            return {"error": f"no Python callback {name!r} for job {job.id}"}
        try:
            return fn(body.get("data"))
        except Exception as exc:
            self.page_log.append(f"job {job.id}: Python callback {name!r} raised {exc!r}")
            return {"error": f"{type(exc).__name__}: {exc}"}

    def _result(self, body: JSON) -> JSON:
        job = self._job_of(body)
        job.report = body
        job.done.set()
        return {}

    def _log(self, body: JSON) -> JSON:
        if isinstance(body, dict):
            self.page_log.append(f"job {body.get('job')}: {body.get('message')}")
        return {}

    def _job_of(self, body: JSON) -> _Job:
        if not isinstance(body, dict) or not isinstance(body.get("job"), int):
            raise ValueError(f"request without a job id: {body!r}")
        with self._lock:
            job = self._jobs.get(body["job"])
        if job is None:
            raise ValueError(f"unknown job {body['job']!r}")
        return job

    # lifecycle ---------------------------------------------------------------------------------

    def wait_for_page(self) -> None:
        """Return once the page asked for its first job (the browser is up and running JS)."""
        start = self.browser.launched_at
        deadline = start + self.timeout
        while not self._page_seen.wait(0.05):
            if not self.browser.alive():
                raise BrowserError(
                    f"{self.browser.name} exited ({self.browser.process.returncode}) before the"
                    f" page loaded\n{self._diagnostics()}"
                )
            if time.monotonic() > deadline:
                raise BrowserError(
                    f"{self.browser.name} did not load {self.server.url} within {self.timeout} s"
                    f"\n{self._diagnostics()}"
                )
        self.startup_seconds = time.monotonic() - start

    def close(self) -> None:
        self._closed = True
        self._pending.put({"action": "stop"})

    def _diagnostics(self) -> str:
        parts = []
        if self.page_log:
            parts.append("page log:\n  " + "\n  ".join(self.page_log[-20:]))
        if self.server.errors:
            parts.append("server errors:\n  " + "\n  ".join(self.server.errors[-10:]))
        parts.append(f"{self.browser.name} output (tail):\n{self.browser.log_tail()}")
        return "\n".join(parts)

    # running jobs ------------------------------------------------------------------------------

    def run(
        self,
        action: str,
        payload: Mapping[str, JSON],
        callbacks: Mapping[str, Route] | None = None,
        timeout: float | None = None,
    ) -> dict[str, JSON]:
        """Run one job on the page and return its ``result`` object; :class:`BrowserError` when
        the page reports an error, the browser exits, or ``timeout`` seconds pass."""
        if self._closed:
            raise BrowserError("the session is closed")
        job = _Job(next(self._ids), {"action": action, **payload}, callbacks or {})
        job.message["id"] = job.id
        with self._lock:
            self._jobs[job.id] = job
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        self._pending.put(job.message)
        try:
            while not job.done.wait(0.05):
                if not self.browser.alive():
                    raise BrowserError(
                        f"{self.browser.name} exited ({self.browser.process.returncode}) during"
                        f" {action} job {job.id}\n{self._diagnostics()}"
                    )
                if time.monotonic() > deadline:
                    raise BrowserError(
                        f"{self.browser.name}: {action} job {job.id} ({payload.get('scenario')})"
                        f" gave no result within {limit} s\n{self._diagnostics()}"
                    )
        finally:
            with self._lock:
                self._jobs.pop(job.id, None)
        report = job.report or {}
        if not report.get("ok"):
            raise BrowserError(
                f"{self.browser.name}: {action} job ({payload.get('scenario')}) failed in the"
                f" page: {report.get('error')}\nstack: {report.get('stack')}\n"
                f"{self._diagnostics()}"
            )
        self.user_agent = str(report.get("user_agent", ""))
        result = report.get("result")
        if not isinstance(result, dict):
            raise BrowserError(f"{action} job reported {result!r}, expected an object")
        return result

    def _check_mdns(self, scenario: str) -> None:
        if is_mdns_scenario(scenario) != self.browser.mdns:
            raise ValueError(
                f"scenario {scenario!r} needs a browser launched with mdns="
                f"{is_mdns_scenario(scenario)}, this one has mdns={self.browser.mdns}"
            )

    def capture(self, scenario: str) -> Capture:
        """pc1 offers ``scenario``, pc2 answers, both after ICE gathering completed; for
        ``ice-restart`` a second round after ``pc1.restartIce()``."""
        self._check_mdns(scenario)
        r = self.run("capture", {"scenario": scenario})
        return Capture(
            offer=_sdp(r, "offer"),
            answer=_sdp(r, "answer"),
            restart_offer=_optional_sdp(r, "restart_offer"),
            restart_answer=_optional_sdp(r, "restart_answer"),
            version=self.browser.version,
            browser=self.browser.name,
            scenario=scenario,
            user_agent=self.user_agent,
        )

    def accepts_answer(self, scenario: str, answerer: Callable[[str], str]) -> AnswerResult:
        """The browser offers ``scenario``; ``answerer(offer_sdp)`` answers (it runs in a server
        thread and may run other jobs on this session); the page applies the answer."""
        self._check_mdns(scenario)

        def answer(data: JSON) -> JSON:
            if not isinstance(data, dict) or not isinstance(data.get("offer"), str):
                raise ValueError(f"page sent {data!r}, expected an offer")
            sdp = answerer(data["offer"])
            if not isinstance(sdp, str):
                raise TypeError(f"answerer returned {type(sdp).__name__}, expected str")
            return {"answer": sdp}

        r = self.run("accepts-answer", {"scenario": scenario}, {"answer": answer})
        error = r.get("error")
        return AnswerResult(
            offer=_sdp(r, "offer"),
            answer=_sdp(r, "answer"),
            accepted=bool(r.get("accepted")),
            error=None if error is None else str(error),
            signaling_state=str(r.get("signaling_state")),
        )

    def connects(self, scenario: str, answerer: Callable[[str], str], *,
                 wait: float = 10.0) -> ConnectResult:
        """The browser offers ``scenario``, ``answerer(offer_sdp)`` answers, the page applies the
        answer and waits up to ``wait`` seconds for ``connectionState`` "connected" or "failed"
        (the test brings the peer the answer describes)."""
        self._check_mdns(scenario)

        def answer(data: JSON) -> JSON:
            if not isinstance(data, dict) or not isinstance(data.get("offer"), str):
                raise ValueError(f"page sent {data!r}, expected an offer")
            return {"answer": answerer(data["offer"])}

        r = self.run("connect", {"scenario": scenario, "wait_ms": int(wait * 1000)},
                     {"answer": answer}, timeout=wait + self.timeout)
        error = r.get("error")
        stats = r.get("stats")
        elapsed = r.get("elapsed_ms")
        return ConnectResult(
            offer=_sdp(r, "offer"),
            answer=_sdp(r, "answer"),
            accepted=bool(r.get("accepted")),
            error=None if error is None else str(error),
            connection_state=r.get("connection_state"),
            ice_connection_state=r.get("ice_connection_state"),
            states=tuple(str(x) for x in r.get("states") or ()),
            elapsed_ms=float(elapsed) if isinstance(elapsed, (int, float)) else None,
            stats=tuple(x for x in stats if isinstance(x, dict)) if isinstance(stats, list)
            else (),
        )

    def answers_offer(self, offer_sdp: str, scenario: str) -> OfferResult:
        """The page applies ``offer_sdp``, attaches local tracks per ``scenario``, answers (after
        ICE gathering) and returns the answer, or the browser's error when it refused the offer."""
        _check_scenario(scenario)
        r = self.run("answers-offer", {"scenario": scenario, "offer": offer_sdp})
        error = r.get("error")
        return OfferResult(
            accepted=bool(r.get("accepted")),
            answer=_optional_sdp(r, "answer"),
            error=None if error is None else str(error),
        )

    def answers_offers(
        self, scenario: str, offerer: Callable[[str | None], str | None]
    ) -> list[OfferResult]:
        """Renegotiation on one browser connection: ``offerer(previous_answer)`` makes each offer
        (``previous_answer`` is None for the first) and returns None to stop; the page answers
        every offer on the same RTCPeerConnection.  Stops early when the browser refuses one."""
        _check_scenario(scenario)

        def offer(data: JSON) -> JSON:
            previous = data.get("answer") if isinstance(data, dict) else None
            sdp = offerer(previous if isinstance(previous, str) else None)
            return {"offer": sdp}

        r = self.run("answers-offers", {"scenario": scenario}, {"offer": offer})
        rounds = r.get("rounds")
        if not isinstance(rounds, list):
            raise BrowserError(f"the page reported rounds={rounds!r}")
        results = []
        for item in rounds:
            if not isinstance(item, dict):
                raise BrowserError(f"the page reported a round {item!r}")
            error = item.get("error")
            results.append(
                OfferResult(
                    accepted=bool(item.get("accepted")),
                    answer=_optional_sdp(item, "answer"),
                    error=None if error is None else str(error),
                )
            )
        return results


def _sdp(result: Mapping[str, JSON], key: str) -> str:
    value = result.get(key)
    if not isinstance(value, str):
        raise BrowserError(f"the page reported {key}={value!r}, expected SDP text")
    return value


def _optional_sdp(result: Mapping[str, JSON], key: str) -> str | None:
    return None if result.get(key) is None else _sdp(result, key)


@contextmanager
def open_session(
    name: str, *, mdns: bool = False, isolated: bool | None = None, timeout: float = 30.0
) -> Iterator[BrowserSession]:
    """A :class:`BrowserSession`: server + harness page + browser ``name``, ready for jobs.

    ``isolated`` (default: the same as ``mdns``; must be true for ``mdns``) runs the server and
    the browser in a new network namespace (:func:`~tests.interop.netns.network_namespace`),
    deleted when the session ends; it skips the test where namespaces cannot be made (not root,
    no ``iproute2``).  A non-mDNS namespace has only ``lo``: Chromium gathers 127.0.0.1, and
    Firefox 127.0.0.1 and ::1 (it offers loopback only when it finds no other interface).  An
    mDNS namespace also gets the veth pair inside it (``inner_link``, 198.18.0.1): mDNS
    responders skip loopback interfaces -- with ``lo`` alone Chromium logs "mDNS responder
    manager failed to start" and never completes ICE gathering, and Firefox still offers
    ``.local`` names but sends no mDNS packet at all.
    """
    _check_name(name)
    if isolated is None:
        isolated = mdns
    if mdns and not isolated:
        raise ValueError("an mdns=True session must run isolated in a network namespace")
    require_browser(name)
    if isolated:
        require_netns()
    page = PAGE_PATH.read_text(encoding="utf-8")
    with contextlib.ExitStack() as stack:
        netns = None
        if isolated:
            netns = stack.enter_context(network_namespace(f"rtcstack-{name}", inner_link=mdns))
        server = stack.enter_context(PageServer(page, netns=netns))
        browser = stack.enter_context(launch_browser(name, server.url, mdns=mdns, netns=netns))
        session = BrowserSession(server, browser, timeout)
        server.route("/next", session._next)
        server.route("/call", session._call)
        server.route("/result", session._result)
        server.route("/log", session._log)
        try:
            session.wait_for_page()
            yield session
        finally:
            session.close()


@contextmanager
def _session_for(browser: str | BrowserSession, scenario: str | None) -> Iterator[BrowserSession]:
    if isinstance(browser, BrowserSession):
        yield browser
        return
    mdns = scenario is not None and is_mdns_scenario(scenario)
    with open_session(browser, mdns=mdns) as session:
        yield session


def capture(browser: str | BrowserSession, scenario: str) -> Capture:
    """Capture ``scenario``'s offer and answer (and restart round) in ``browser``."""
    _check_scenario(scenario)
    with _session_for(browser, scenario) as session:
        return session.capture(scenario)


def browser_accepts_answer(
    browser: str | BrowserSession, scenario: str, answerer: Callable[[str], str]
) -> AnswerResult:
    """The browser offers ``scenario``, ``answerer(offer)`` answers, the browser applies it."""
    _check_scenario(scenario)
    with _session_for(browser, scenario) as session:
        return session.accepts_answer(scenario, answerer)


def browser_answers_offer(
    browser: str | BrowserSession, offer_sdp: str, scenario: str
) -> OfferResult:
    """The browser applies ``offer_sdp`` and answers as ``scenario`` says."""
    _check_scenario(scenario)
    with _session_for(browser, scenario) as session:
        return session.answers_offer(offer_sdp, scenario)
