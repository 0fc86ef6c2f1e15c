"""``rnnlm generate`` writing to the terminal: the text as it is made, and --interactive's
prompt loop. Apart from cli.py, whose commands only turn options into calls."""
from __future__ import annotations

import sys

import typer


def write_stream(lm, prompt: str, options) -> None:
    """The prompt, then the continuation as it is made. lm.stream warns about the prompt when
    it is called, so the warning comes on its own line, before the prompt is written."""
    pieces = lm.stream(prompt, **options)
    sys.stdout.write(prompt)
    sys.stdout.flush()
    try:
        for piece in pieces:
            sys.stdout.write(piece)
            sys.stdout.flush()
    except KeyboardInterrupt:  # the text's line ends before "interrupted" comes on stderr
        sys.stdout.write("\n")
        sys.stdout.flush()
        raise
    sys.stdout.write("\n")


def interactive(lm, options) -> None:
    """--interactive: a prompt from each line typed, its sample streamed after it."""
    typer.echo("type a prompt and press Enter; Ctrl-D quits", err=True)
    while True:
        try:
            prompt = _read_prompt()
        except EOFError:
            typer.echo("", err=True)
            return
        write_stream(lm, prompt, options)


def _read_prompt() -> str:
    """A line typed after "> ": on the terminal, with input()'s line editing; with the samples
    redirected to a file, the "> " goes to stderr, so the file holds the samples alone."""
    if sys.stdout.isatty():
        return input("> ")
    sys.stderr.write("> ")
    sys.stderr.flush()
    return input()
