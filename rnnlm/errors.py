"""The one exception type a user sees as a single line (the CLI turns it into exit code 2)."""


class RnnlmError(ValueError):
    """Bad input the user can act on: a path, a file's content, an option value, a run directory.

    Subclasses ValueError so Python callers that already catch ValueError keep working.
    """


class RnnlmWarning(UserWarning):
    """Something the user may want to act on that does not stop the work (a prompt with words
    the model never saw). Python callers see it through ``warnings``; the CLI prints it as one
    ``warning:`` line."""
