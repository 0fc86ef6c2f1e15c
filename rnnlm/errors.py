"""The one exception type a user sees as a single line (the CLI turns it into exit code 2)."""


class RnnlmError(ValueError):
    """Bad input the user can act on: a path, a file's content, an option value, a run directory.

    Subclasses ValueError so Python callers that already catch ValueError keep working.
    """
