"""Signals that stop work the way Ctrl-C does, so one clean-up path (``except KeyboardInterrupt`` /
``finally``) serves Ctrl-C, ``kill`` and schedulers alike."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


def raise_keyboard_interrupt(signum: int, frame: object) -> None:
    """Signal handler: unwind like Ctrl-C."""
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C inside the block (the previous handler comes back afterwards)."""
    try:
        previous = signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
