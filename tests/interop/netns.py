"""Network namespaces that a test creates, uses and deletes (Linux, root, Debian ``iproute2``).

The project rule: tests never touch the internet -- only loopback, or namespaces the test itself
creates.  A browser that announces mDNS names multicasts to 224.0.0.251 / ff02::fb on every
interface it finds; inside a namespace built by :func:`network_namespace` the only interface is
that namespace's own ``lo``, so nothing it sends can leave the namespace.

- :func:`require_netns` -- skip the test (``pytest.skip``) when namespaces cannot be made here.
- :func:`network_namespace` -- a :class:`Netns` context manager: a uniquely named namespace with
  ``lo`` up and multicast on, multicast (224.0.0.0/4, ff00::/8) and a default route all on ``lo``
  (Firefox looks up its default address by connecting a UDP socket to a public address, which
  needs a route; nothing is sent).  With ``inner_link=True`` it also gets a veth pair whose
  *both* ends are inside it (``test0`` = 198.18.0.1/24, the RFC 2544 benchmarking range, with
  the default route; ``test1`` without an address), for programs that ignore loopback
  interfaces -- Chromium's mDNS responder does.  Either way nothing is connected to the machine's
  own namespace, so no packet can leave.  On exit every process left in it is killed by PID and
  the namespace is deleted by name.
- :meth:`Netns.exec_prefix` -- ``["ip", "netns", "exec", NAME]``, to run a program inside.
- :meth:`Netns.call` -- run a Python function on a thread that has entered the namespace
  (libc ``setns(2)``), e.g. to create a listening socket there: a socket stays in the namespace
  it was created in, so the rest of the test serves it from any thread.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

__all__ = ["Netns", "NetnsError", "netns_unavailable", "network_namespace", "require_netns"]

T = TypeVar("T")

CLONE_NEWNET = 0x40000000  # <sched.h>
NETNS_RUN_DIR = Path("/run/netns")  # where `ip netns add` mounts the namespace
_counter = itertools.count(1)


class NetnsError(RuntimeError):
    """An ``ip`` command or ``setns(2)`` failed; the message has the command and its stderr."""


def _ip(*args: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    """Run ``ip ARGS``; :class:`NetnsError` with its stderr when it fails."""
    command = ["ip", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsError(f"{' '.join(command)}: {exc}") from exc
    if done.returncode != 0:
        raise NetnsError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


@dataclass(frozen=True)
class Netns:
    """A network namespace made by :func:`network_namespace` (valid inside its ``with``)."""

    name: str
    #: The address programs inside use as their own: 198.18.0.1 with ``inner_link``, else
    #: 127.0.0.1.
    address: str = "127.0.0.1"

    @property
    def exec_prefix(self) -> list[str]:
        """Prefix a command with this to run it inside the namespace (``ip netns exec`` execs the
        command in place: the process started keeps its PID)."""
        return ["ip", "netns", "exec", self.name]

    @property
    def path(self) -> Path:
        return NETNS_RUN_DIR / self.name

    def ip(self, *args: str) -> str:
        """``ip -n NAME ARGS`` (e.g. ``ns.ip("-o", "link")``); its stdout."""
        return _ip("-n", self.name, *args).stdout

    def links(self) -> list[str]:
        """The names of the namespace's network interfaces."""
        names = []
        for line in self.ip("-o", "link").splitlines():
            # "1: lo: <LOOPBACK,...> ..." (a veth shows as "2: veth0@if5: ...")
            parts = line.split(":", 2)
            if len(parts) == 3:
                names.append(parts[1].strip().split("@", 1)[0])
        return names

    def pids(self) -> set[int]:
        """The PIDs of the processes running inside the namespace (``ip netns pids NAME``)."""
        out = _ip("netns", "pids", self.name).stdout
        return {int(word) for word in out.split() if word.isdigit()}

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` run on a new thread that has entered this namespace; its result, or its
        exception re-raised.

        libc ``setns(fd, CLONE_NEWNET)`` moves only the calling thread, so the caller and every
        other thread stay where they are; the helper thread switches back before it ends.
        Sockets ``fn`` creates belong to this namespace for their whole life.
        """
        outcome: list[T] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    target = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
                    try:
                        _setns(target, f"enter {self.name}")
                    finally:
                        os.close(target)
                    try:
                        outcome.append(fn())
                    finally:
                        _setns(home, "return to the original network namespace")
                finally:
                    os.close(home)
            except BaseException as exc:  # re-raised in the caller's thread
                failure.append(exc)

        thread = threading.Thread(target=run, name=f"netns-{self.name}", daemon=True)
        thread.start()
        thread.join()
        if failure:
            raise failure[0]
        return outcome[0]


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _setns(fd: int, what: str) -> None:
    try:
        setns = _libc().setns
    except AttributeError as exc:
        raise NetnsError(f"setns(2) to {what}: libc has no setns") from exc
    if setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise NetnsError(f"setns(2) to {what}: {os.strerror(errno)}")


def _unique_name(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_counter)}-{os.urandom(3).hex()}"


INNER_LINK = ("test0", "test1")
INNER_ADDRESS = "198.18.0.1"
INNER_PREFIX = 24


def _configure(ns: Netns, inner_link: bool) -> None:
    """``lo`` up with multicast; multicast routes on ``lo``; the default route on ``lo``, or on
    a veth pair inside the namespace (see the module docstring)."""
    ns.ip("link", "set", "lo", "up", "multicast", "on")
    ns.ip("route", "add", "224.0.0.0/4", "dev", "lo")
    if Path("/proc/sys/net/ipv6").exists():
        ns.ip("-6", "route", "add", "ff00::/8", "dev", "lo")
    if not inner_link:
        ns.ip("route", "replace", "default", "dev", "lo", "src", ns.address)
        return
    inner, peer = INNER_LINK
    ns.ip("link", "add", inner, "type", "veth", "peer", "name", peer)  # both ends in ns
    ns.ip("addr", "add", f"{ns.address}/{INNER_PREFIX}", "dev", inner)
    ns.ip("link", "set", peer, "up")
    ns.ip("link", "set", inner, "up")
    ns.ip("route", "replace", "default", "dev", inner, "src", ns.address)


def _kill_all(ns: Netns, deadline: float) -> None:
    """SIGKILL every process left in ``ns`` by PID, until none is left or ``deadline`` passes."""
    while True:
        try:
            pids = ns.pids()
        except NetnsError:
            return
        if not pids:
            return
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise NetnsError(f"processes {sorted(pids)} in {ns.name} survived SIGKILL")
        time.sleep(0.02)  # poll: the kernel reaps them asynchronously


@contextmanager
def network_namespace(prefix: str = "rtcstack", *, inner_link: bool = False) -> Iterator[Netns]:
    """A new, uniquely named namespace (``PREFIX-PID-N-RANDOM``) for the ``with`` block.

    Its only interface is its own ``lo`` (plus, with ``inner_link``, a veth pair with both ends
    inside); see the module docstring for the addresses and routes.  On exit,
    whatever happened inside: kill every process still in it (by PID), then ``ip netns del``.
    Raises :class:`NetnsError` when it cannot be created (call :func:`require_netns` first in
    tests, to skip instead).
    """
    ns = Netns(_unique_name(prefix), INNER_ADDRESS if inner_link else "127.0.0.1")
    _ip("netns", "add", ns.name)
    try:
        _configure(ns, inner_link)
        yield ns
    finally:
        try:
            _kill_all(ns, time.monotonic() + 5)
        finally:
            _ip("netns", "del", ns.name)


@functools.cache
def netns_unavailable() -> str | None:
    """Why network namespaces cannot be used here, or None when they can (checked once: not
    root, no ``ip``, or creating a probe namespace and entering it with ``setns(2)`` fails)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the ip command is missing: install the Debian package iproute2"
    try:
        with network_namespace("rtcstack-probe", inner_link=True) as ns:
            ns.call(lambda: None)
    except NetnsError as exc:
        return f"cannot create a network namespace here: {exc}"
    return None


def require_netns() -> None:
    """Skip the test (``pytest.skip``) when :func:`netns_unavailable` gives a reason."""
    import pytest

    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(reason)
