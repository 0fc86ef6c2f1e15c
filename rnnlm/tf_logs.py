"""TensorFlow's log lines, kept off the terminal of the CLI and of the Python API.

TensorFlow's C++ side logs through absl (oneDNN notices, "could not find cuda drivers", type
inference notes) to file descriptor 2, some of it before its log level is read. A learner who
sees ~10 such lines around one generated sample takes them for errors. Setting
TF_CPP_MIN_LOG_LEVEL yourself (0 shows everything), or ``rnnlm --verbose``, keeps them.
"""
from __future__ import annotations

import os
import sys


def quiet_levels() -> None:
    """The C++ log levels, for a TensorFlow not imported yet (it reads them once)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


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


def quiet_for_the_api() -> None:
    """What ``import rnnlm`` users get before the first name that needs TensorFlow: the CLI's
    quiet, unless they chose a log level themselves or imported TensorFlow already."""
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    quiet_levels()
    import_quietly()
