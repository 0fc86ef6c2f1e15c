"""TensorFlow's log lines, kept off the terminal of the CLI and of the Python API.

TensorFlow's C++ side logs through absl (oneDNN notices, "could not find cuda drivers", type
inference notes) to file descriptor 2, some of it before its log level is read. A learner who
sees ~10 such lines around one generated sample takes them for errors. Setting
TF_CPP_MIN_LOG_LEVEL yourself (0 shows everything), or ``rnnlm --verbose``, keeps them.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys


LEVELS = ("TF_CPP_MIN_LOG_LEVEL", "ABSL_MIN_LOG_LEVEL")


def quiet_levels() -> None:
    """The C++ log levels, for a TensorFlow not imported yet (it reads them once)."""
    for name in LEVELS:
        os.environ.setdefault(name, "3")


def import_quietly() -> None:
    """Import TensorFlow with file descriptor 2 pointed at /dev/null: absl logs its first lines
    before TF_CPP_MIN_LOG_LEVEL is read. An import error still raises."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    try:  # a process without a file descriptor 2 (some daemons) imports it plainly
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        import tensorflow  # noqa: F401
        return
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _Retracing(logging.Filter):
    """Drops TensorFlow's "N out of the last N calls to <function ...> triggered tf.function
    retracing" (about the functions named ``names``; all of them without). rnnlm's decoding
    loop traces once per sampler kind, by design, and a user cannot act on the warning."""

    def __init__(self, names=()):
        super().__init__()
        self.names = names

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message
                    and (not self.names or any(name in message for name in self.names)))


_DECODER = _Retracing(names=("Decoder.", "build_beam_search"))


def drop_internal_retracing_warnings() -> None:
    """For the whole process: the warnings about rnnlm's decoding loops only (a user's own
    functions' warnings still show)."""
    logger = logging.getLogger("tensorflow")
    if _DECODER not in logger.filters:
        logger.addFilter(_DECODER)


@contextlib.contextmanager
def no_retracing_warnings():
    """Around rnnlm's own Keras calls (a classifier's predict, a training's fit): each new
    model makes its own predict and train functions, which Keras counts as retracing."""
    logger, quiet = logging.getLogger("tensorflow"), _Retracing()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def quiet_for_the_api() -> None:
    """What ``import rnnlm`` users get before the first name that needs TensorFlow: the CLI's
    quiet, unless they chose a log level themselves or imported TensorFlow already."""
    drop_internal_retracing_warnings()
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    ours = [name for name in LEVELS if name not in os.environ]
    quiet_levels()
    try:
        import_quietly()
    finally:  # read by now: the user's own subprocesses should not inherit them
        for name in ours:
            os.environ.pop(name, None)
