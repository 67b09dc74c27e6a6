"""The one timer every asyncio driver keeps: a ``loop.call_at`` at the layer's ``poll_timeout()``.

A sans-IO layer says when it next needs ``handle_timeout(now)``; its driver re-arms one timer
after every input and every timeout.  :class:`DeadlineTimer` does the bookkeeping once: it keeps
the armed handle when the deadline did not change, cancels and re-arms when it did, and when it
fires passes a ``now`` that is never earlier than the deadline (``call_at`` may fire within the
clock's resolution before it, and a layer must then not see itself called too early).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["DeadlineTimer", "Waiters"]


class DeadlineTimer:
    """One ``call_at`` handle that calls ``fire(now)`` at the armed deadline."""

    __slots__ = ("_fire", "_handle", "_loop", "deadline")

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[float], None]) -> None:
        self._loop = loop
        self._fire = fire
        self._handle: asyncio.TimerHandle | None = None
        self.deadline: float | None = None

    def arm(self, deadline: float | None) -> None:
        """Fire at ``deadline`` (absolute, ``loop.time()`` clock); ``None`` disarms."""
        if deadline == self.deadline and (deadline is None or self._handle is not None):
            return
        self.cancel()
        self.deadline = deadline
        if deadline is not None:
            self._handle = self._loop.call_at(deadline, self._on_timer)

    @property
    def armed(self) -> bool:
        return self._handle is not None

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self.deadline = None

    def _on_timer(self) -> None:
        due = self.deadline
        self._handle = None
        self.deadline = None
        now = self._loop.time()
        self._fire(now if due is None or now >= due else due)


class Waiters:
    """Coroutines waiting for a condition on state a driver changes: :meth:`wait` re-checks
    ``ready()`` each time the driver calls :meth:`wake` (after any input), never by sleeping."""

    __slots__ = ("_futures",)

    def __init__(self) -> None:
        self._futures: list[asyncio.Future[None]] = []

    def __bool__(self) -> bool:
        return bool(self._futures)

    def wake(self) -> None:
        futures, self._futures = self._futures, []
        for future in futures:
            if not future.done():
                future.set_result(None)

    async def wait(self, ready: Callable[[], bool], timeout: float | None, *,
                   check: Callable[[], None] | None = None,
                   what: Callable[[], str] | str = "condition") -> None:
        """Until ``ready()``; ``check()`` may raise to give up early; TimeoutError after
        ``timeout`` seconds (None: no limit) naming ``what``."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not ready():
            if check is not None:
                check()
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"timed out waiting for {what() if callable(what) else what}")
            future: asyncio.Future[None] = loop.create_future()
            self._futures.append(future)
            try:
                await asyncio.wait_for(future, remaining)
            except TimeoutError:
                raise TimeoutError(
                    f"timed out waiting for {what() if callable(what) else what}") from None
