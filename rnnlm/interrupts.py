"""Ctrl-C and SIGTERM held while a block runs (a checkpoint or an export being put in place),
then handled as they would have been."""
from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def interrupts_deferred():
    """Hold Ctrl-C (and SIGTERM, where the CLI takes it as Ctrl-C) until the block ends, so a
    checkpoint is never cut off half-written.

    A signal inside the block (say, while matplotlib's C extension is being imported) would
    otherwise surface as whatever error that code raises; its handler runs after the block.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: dict = {}
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not None:  # None: set from C, and could not be put back
            previous[sig] = signal.signal(sig, lambda number, frame: caught.update({number: frame}))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # Handled even when the block failed (the user asked for it); SIGTERM before SIGINT.
        for number in sorted(caught, key=lambda n: n != signal.SIGTERM)[:1]:
            _handle(number, caught[number], previous[number])


def _handle(number, frame, handler) -> None:
    """What the handler in place before interrupts_deferred would have done."""
    if callable(handler):  # Python's for SIGINT raises KeyboardInterrupt, the CLI's Terminated
        handler(number, frame)
    elif handler == signal.SIG_DFL and number == signal.SIGINT:
        raise KeyboardInterrupt
    elif handler == signal.SIG_DFL:  # SIGTERM's default: the process ends, its checkpoint whole
        signal.raise_signal(number)
