"""What every ``rnnlm`` command shares: errors in one line, the API's warnings as one line each,
TensorFlow's logs kept quiet, and Ctrl-C / SIGTERM ending a command cleanly. No TensorFlow here."""
from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path

import typer
from typer.core import TyperGroup

from rnnlm.errors import EMPTY_PATH

# Click's UsageError, found through a public name: Typer ships its own copy of Click in newer
# releases and depends on the click package in older ones.
UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class OneLineUsageErrors(TyperGroup):
    """Usage errors (an unknown option, a value of the wrong type) in one line, like every other
    error of the command; Click's own form is three lines: usage, a hint, then the error."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # a bare `rnnlm`: its help, as Click shows it
                e.show()
            else:
                where = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
                typer.echo(f"error: {e.format_message()}{where}", err=True)
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        except typer.TyperException as e:  # Click's other errors (a file it could not open)
            e.show()
            sys.exit(e.exit_code)
        # Without standalone mode a command's return is its result and an Exit its code.
        sys.exit(code if isinstance(code, int) else 0)


VERBOSE = {"on": False}
NO_TENSORFLOW = {"list_corpora"}  # cli.py's commands that answer without importing TensorFlow


def show_rnnlm_warnings() -> None:
    """The API's warnings (``RnnlmWarning``) as one ``warning:`` line each, every time, like the
    errors; Python's own format adds a file name, a line number and the source line."""
    import warnings

    from rnnlm.errors import RnnlmWarning

    python_format = warnings.showwarning
    if getattr(python_format, "shows_rnnlm_warnings", False):  # installed by an earlier call
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, RnnlmWarning):
            typer.echo(f"warning: {message}", err=True)
        else:
            python_format(message, category, filename, lineno, file, line)

    show.shows_rnnlm_warnings = True
    warnings.showwarning = show
    warnings.simplefilter("always", RnnlmWarning)


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ and Python log noise off the user's terminal."""
    from rnnlm import tf_logs

    tf_logs.quiet_levels()
    tf_logs.drop_internal_retracing_warnings()
    import warnings

    warnings.filterwarnings("ignore", module="keras")
    warnings.filterwarnings("ignore", module="tensorflow")


def import_tensorflow_quietly() -> None:
    if not VERBOSE["on"]:
        from rnnlm import tf_logs

        tf_logs.import_quietly()


def one_line(message: str) -> str:
    """An error from a library (h5py's "file write failed ...", Keras's lists of objects) can
    run over several lines; the user gets one."""
    return " ".join(message.split())


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, timeout, a container stopping) taken as Ctrl-C is: a training saves its
    checkpoint and says how to go on, where the signal's default ended it on the spot."""


@contextlib.contextmanager
def sigterm_as_interrupt(received: dict):
    """While a command runs, SIGTERM raises Terminated; ``received["code"]`` becomes its exit
    code, 143 (128 + 15), where Ctrl-C's is 130."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is None):  # None: set from C, not restorable
        yield
        return

    def terminate(*_):
        received["code"] = 128 + signal.SIGTERM
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def user_errors(command):
    """Bad input → one line on stderr and exit code 2 (no traceback); Ctrl-C → exit 130
    (SIGTERM, 143)."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from rnnlm.errors import RnnlmError

        signalled = {"code": 130}
        if sys.stdout is None:  # `>&-`: every line would vanish, and the exit code say 0
            typer.echo("error: standard output is closed: rnnlm writes its results there",
                       err=True)
            raise typer.Exit(2)
        try:
            with sigterm_as_interrupt(signalled):
                if command.__name__ not in NO_TENSORFLOW:
                    import_tensorflow_quietly()
                return command(*args, **kwargs)
        except RnnlmError as e:
            typer.echo(f"error: {as_typed(one_line(str(e)), command, kwargs)}", err=True)
            raise typer.Exit(2)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(signalled["code"])
        except UnicodeEncodeError as e:
            if e.encoding != getattr(sys.stdout, "encoding", None):
                raise
            typer.echo(f"error: the output's encoding, {e.encoding}, cannot write this text; "
                       f"use a UTF-8 locale (LANG=C.UTF-8) or set PYTHONIOENCODING=utf-8",
                       err=True)
            raise typer.Exit(2)
        except BrokenPipeError:  # `rnnlm generate ... | head`: the reader has all it wanted
            # Point stdout at /dev/null so Python's final flush does not raise a second time.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(1)
        except OSError as e:  # the file system refused (permissions, disk full, a bad path)
            if VERBOSE["on"]:
                raise
            where = f": {e.filename}" if e.filename else ""
            typer.echo(f"error: {one_line(str(e.strerror or e))}{where}", err=True)
            raise typer.Exit(2)
        except Exception as e:
            if VERBOSE["on"] or type(e).__name__ == "Exit":
                raise
            from rnnlm.errors import TrainingInterrupted

            if isinstance(e, TrainingInterrupted):
                typer.echo(str(e), err=True)
                raise typer.Exit(signalled["code"])
            if isinstance(e, MemoryError) or type(e).__name__ == "ResourceExhaustedError":
                typer.echo(f"error: {out_of_memory(e)}", err=True)
                raise typer.Exit(2)
            raise
    return wrapper


def out_of_memory(error: BaseException) -> str:
    """One line for TensorFlow's out-of-memory error (a page of traceback, its first line
    "Exception encountered when calling LSTM.call()"): the allocation that failed, and why."""
    tried = re.search(r"OOM when allocating tensor with shape\s*\[[^\]]*\]", str(error))
    return (f"out of memory{f' ({tried.group(0)})' if tried else ''}: the model, batch or number "
            f"of samples is too large for this machine")


def as_typed(message: str, command, kwargs: dict) -> str:
    """The API's checks name a value by its keyword (``top_p must be in (0, 1]``, ``unknown
    lr_schedule 'x'``); a line that opens with the keyword of an option the user typed names it
    as typed (``--top-p must ...``, ``unknown --lr-schedule 'x'``). A value from elsewhere (a
    run's config.json on --resume) keeps its key's name."""
    opening = "unknown " if message.startswith("unknown ") else ""
    keyword = message[len(opening):].split(" ", 1)[0]
    if opening and "_" not in keyword:  # "unknown cell 'x'" reads better as it is
        return message
    parameter = inspect.signature(command).parameters.get(keyword)
    option = getattr(parameter, "default", None)
    if not isinstance(option, typer.models.OptionInfo) or kwargs.get(keyword) == option.default:
        return message
    flags = next((d for d in option.param_decls if d.startswith("--")),
                 "--" + keyword.replace("_", "-"))
    on, _, off = flags.partition("/")  # "--reset-after/--no-reset-after"
    flag = off if off and kwargs[keyword] is False else on
    return opening + flag + message[len(opening) + len(keyword):]


def unescape(text: str) -> str:
    """\\n, \\t and \\\\ typed in an option: a shell passes `--stop "\\n"` as a backslash and an
    n, and a stop string is nearly always a line break. Other characters stay as typed (Korean
    included, which Python's unicode_escape codec would garble)."""
    return re.sub(r"\\([nt\\])", lambda m: {"n": "\n", "t": "\t", "\\": "\\"}[m.group(1)], text)


def a_path(value: str) -> Path:
    """A path option or argument as typed: an empty one (``"$UNSET"``) is refused, where
    pathlib would make it the current folder (a run of it, or --out it)."""
    if not value.strip():
        raise typer.BadParameter(EMPTY_PATH)
    return Path(value)


def echo_json(data) -> None:
    from rnnlm.runs import json_value

    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=json_value))
