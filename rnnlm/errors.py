"""The exceptions a user sees as a single line: bad input (the CLI's exit code 2), and training
interrupted (130, or 143 for SIGTERM)."""


class RnnlmError(ValueError):
    """Bad input the user can act on: a path, a file's content, an option value, a run directory.

    Subclasses ValueError so Python callers that already catch ValueError keep working.
    """


class RnnlmWarning(UserWarning):
    """Something the user may want to act on that does not stop the work (a prompt with words
    the model never saw). Python callers see it through ``warnings``; the CLI prints it as one
    ``warning:`` line."""


class TrainingInterrupted(Exception):
    """Ctrl-C (or SIGTERM in the CLI) during training, after what could be kept was: its message
    says what that is (a language model's checkpoint and the --resume to go on with; a
    classifier's best epoch, or no run at all before its first epoch ended)."""


EMPTY_PATH = "an empty string (an unset shell variable?)"


def refuse_empty_path(value, what: str) -> None:
    """A path given as "" (a script's unset variable): pathlib would make it the current
    folder, which rnnlm would then read, or write a run into."""
    if not str(value).strip():
        raise RnnlmError(f"{what} is {EMPTY_PATH}")


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an error from a library (Keras, h5py and TensorFlow write several),
    for a one-line message: with the next line when it ends in a colon (Keras's "Example error
    message for object <LSTMCell ...>:" says nothing alone), at most ``limit`` characters;
    the error's type name when it has no text."""
    text = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    line = lines[0] + (" " + lines[1] if lines[0].endswith(":") and len(lines) > 1 else "")
    return line if len(line) <= limit else line[:limit - 1] + "…"
