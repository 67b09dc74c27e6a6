"""A small structured tracing hook.

State machines call ``trace(event, **fields)`` at every transition and every dropped datagram.
The default is :data:`NULL_TRACE`; tests use :class:`TraceRecorder`; applications can forward to
``logging`` with :func:`logging_trace`.  Event names are dotted: ``"stun.transaction.retransmit"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the core never imports logging itself: it pulls in threading and time
    import logging


class Trace(Protocol):
    def __call__(self, event: str, /, **fields: object) -> None: ...


def _null_trace(event: str, /, **fields: object) -> None:
    return None


NULL_TRACE: Trace = _null_trace


class TraceRecorder:
    """Keeps every traced event as ``(event, fields)``; handy in tests."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []

    def __call__(self, event: str, /, **fields: object) -> None:
        self.events.append((event, fields))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


def logging_trace(logger: logging.Logger, level: int = 10) -> Trace:
    """A tracer that writes each event as one log line (``level`` 10 is ``logging.DEBUG``)."""

    def trace(event: str, /, **fields: object) -> None:
        if logger.isEnabledFor(level):
            logger.log(level, "%s %s", event, " ".join(f"{k}={v!r}" for k, v in fields.items()))

    return trace
