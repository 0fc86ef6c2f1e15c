"""The ``rnnlm`` command: options → config → the Python API. Heavy imports live inside commands
so ``rnnlm --help`` answers at once (TensorFlow takes seconds to import)."""
from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperGroup

from rnnlm.defaults import RECIPES, WEIGHT_DROP_WHEN, WIDER

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


# rich_markup_mode=None: help texts are plain text. Typer's default ("rich") reads "[default: char]"
# as a style tag and prints nothing of it.
app = typer.Typer(cls=OneLineUsageErrors, add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Recurrent language models and sequence classifiers (Keras 3).")

VERBOSE = {"on": False}
NO_TENSORFLOW = {"list_corpora"}  # commands that answer without importing TensorFlow


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", help="Show TensorFlow's own logs.")):
    VERBOSE["on"] = verbose
    show_rnnlm_warnings()
    if not verbose:
        quiet_tensorflow()


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
        try:
            with sigterm_as_interrupt(signalled):
                if command.__name__ not in NO_TENSORFLOW:
                    import_tensorflow_quietly()
                return command(*args, **kwargs)
        except RnnlmError as e:
            typer.echo(f"error: {one_line(str(e))}", err=True)
            raise typer.Exit(2)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(signalled["code"])
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
            from rnnlm.api import TrainingInterrupted

            if isinstance(e, TrainingInterrupted):
                typer.echo(str(e), err=True)
                raise typer.Exit(signalled["code"])
            raise
    return wrapper


def unescape(text: str) -> str:
    """\\n, \\t and \\\\ typed in an option: a shell passes `--stop "\\n"` as a backslash and an
    n, and a stop string is nearly always a line break. Other characters stay as typed (Korean
    included, which Python's unicode_escape codec would garble)."""
    return re.sub(r"\\([nt\\])", lambda m: {"n": "\n", "t": "\t", "\\": "\\"}[m.group(1)], text)


def echo_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@app.command()
@user_errors
def train(
    corpus: Optional[str] = typer.Argument(None, help="Text file or corpus name (`rnnlm corpora`); default: the built-in pydoc corpus."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default runs/<corpus>)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue this run from its last checkpoint."),
    force: bool = typer.Option(False, "--force", help="Replace an existing run in --out."),
    tokenizer: Optional[str] = typer.Option(None, help="char | word | sentencepiece  [default: char]"),
    cell: Optional[str] = typer.Option(None, help="simple_rnn | lstm | gru  [default: lstm]"),
    layers: Optional[int] = typer.Option(None, help="Recurrent layers  [default: from the corpus size, with --units; 1 with --units alone]"),
    units: Optional[int] = typer.Option(None, help="Units per layer  [default: from the corpus size; 256 with --layers alone]"),
    embedding_dim: Optional[int] = typer.Option(None, help="[default: 64 for char, else the last layer's units]"),
    dropout: Optional[float] = typer.Option(None, help="Dropout between layers and before the output  [default: 0.25 char (0.3 for the wider model of a long run), 0.3 otherwise]"),
    seq_len: Optional[int] = typer.Option(None, help="Tokens per training window  [default: 100, 35 for word models]"),
    batch_size: Optional[int] = typer.Option(None, help="[default: 32, 20 for word models]"),
    epochs: Optional[int] = typer.Option(None, help="Epochs (with --resume: more epochs)  [default: until --time-limit is spent when it is given, else 10]"),
    lr: Optional[float] = typer.Option(None, help="Learning rate  [default: 0.003 with Adam, 20 with SGD]"),
    clipnorm: Optional[float] = typer.Option(None, help="Global gradient-norm clipping  [default: 5 with Adam, 0.25 with SGD]"),
    seed: Optional[int] = typer.Option(None, help="[default: 0]"),
    time_limit: Optional[float] = typer.Option(None, help="Stop cleanly after this many seconds of training, saving (without --epochs: train until then); the few seconds of measuring sizes for the model options left out come before it."),
    valid_fraction: Optional[float] = typer.Option(None, help="Tail of the corpus held out  [default: 0.1]"),
    valid: Optional[str] = typer.Option(None, help="Separate validation text file."),
    steps_per_epoch: Optional[int] = typer.Option(None, help="Batches per epoch (default: one pass)."),
    max_vocab: Optional[int] = typer.Option(None, help="char/word: keep the most frequent tokens."),
    min_freq: Optional[int] = typer.Option(None, help="word: drop rarer words  [default: 1]"),
    vocab_size: Optional[int] = typer.Option(None, help="sentencepiece vocabulary  [default: 8000]"),
    word_mode: Optional[str] = typer.Option(None, help="word: words (split punctuation) | whitespace (PTB)"),
    sp_model_type: Optional[str] = typer.Option(None, help="sentencepiece: unigram | bpe"),
    data_dir: Optional[str] = typer.Option(None, help="Local corpus mirror (else $RNNLM_DATA)."),
    encoding: Optional[str] = typer.Option(None, help="Encoding of the corpus file  [default: utf-8]"),
    tensorboard: bool = typer.Option(False, help="Also write TensorBoard logs into the run."),
    tie_weights: Optional[bool] = typer.Option(None, "--tie-weights/--no-tie-weights", help="Output layer shares the embedding matrix (+ projection if units != embedding dim)  [default: on for word and sentencepiece]"),
    embedding_dropout: Optional[float] = typer.Option(None, help="Dropout on the embeddings  [default: 0]"),
    weight_drop: Optional[float] = typer.Option(None, help=f"LSTM: DropConnect on the recurrent weights while training, one mask per batch (AWD-LSTM)  [default: {RECIPES['char']['weight_drop']:g} for char models with {WEIGHT_DROP_WHEN} ({WIDER['weight_drop']:g} from the first step for the wider model of a long run); else 0]"),
    locked_dropout: Optional[bool] = typer.Option(None, "--locked-dropout/--no-locked-dropout", help="One dropout mask per sequence (variational)  [default: off for char models, on otherwise]"),
    stateful: Optional[bool] = typer.Option(None, "--stateful/--no-stateful", help="Truncated BPTT: batch-size contiguous streams, state carried between windows  [default: off for char models (shuffled windows), on otherwise]"),
    random_offsets: Optional[bool] = typer.Option(None, "--random-offsets/--no-random-offsets", help="Shuffled windows: move their grid to a random offset each pass, so every pass has new windows  [default: on for char models, off otherwise]"),
    weight_decay: Optional[float] = typer.Option(None, help="Decoupled weight decay (AdamW with adam; also applied with sgd)  [default: 0]"),
    lr_schedule: Optional[str] = typer.Option(None, help="none | cosine | wsd | plateau  [default: wsd for char models, cosine otherwise]"),
    warmup_steps: Optional[int] = typer.Option(None, help="Linear learning-rate warm-up, in batches  [default: 0]"),
    early_stopping: Optional[int] = typer.Option(None, help="Stop after this many epochs without a better val_loss."),
    optimizer: Optional[str] = typer.Option(None, help="adam | sgd  [default: adam for char models, sgd for word and sentencepiece]"),
    ema: Optional[float] = typer.Option(None, help="Validate and keep an exponential moving average of the weights (Polyak averaging) with this momentum per batch, e.g. 0.998; 0: off  [default: 0]"),
    precision: Optional[str] = typer.Option(None, help="Matmuls of LSTM and output layers while training: float32 | bfloat16 | auto (auto: bfloat16 on a CPU with AMX, where it won per minute of training; else float32)  [default: auto]"),
):
    """Train a language model on CORPUS and save a run directory."""
    from rnnlm import api
    from rnnlm.errors import RnnlmError

    options = {k: v for k, v in dict(
        cell=cell, layers=layers, units=units, embedding_dim=embedding_dim, dropout=dropout,
        seq_len=seq_len, batch_size=batch_size, lr=lr, clipnorm=clipnorm, seed=seed,
        valid_fraction=valid_fraction, steps_per_epoch=steps_per_epoch, max_vocab=max_vocab,
        min_freq=min_freq, vocab_size=vocab_size, word_mode=word_mode,
        sp_model_type=sp_model_type, tie_weights=tie_weights,
        embedding_dropout=embedding_dropout, locked_dropout=locked_dropout, stateful=stateful,
        random_offsets=random_offsets,
        weight_drop=weight_drop,
        weight_decay=weight_decay, lr_schedule=lr_schedule, warmup_steps=warmup_steps,
        early_stopping=early_stopping, precision=precision, optimizer=optimizer, ema=ema).items()
        if v is not None}
    if resume is not None:
        # The run's split and directory are its own: say so rather than ignore them. CORPUS,
        # --valid and --data-dir are the run's own files at a new place (SHA-256 checked).
        where = {"--out": out, "--encoding": encoding,
                 "--force": force or None}
        for name, value in where.items():
            if value is not None:
                raise RnnlmError(f"--resume trains on the run's own corpus, split and directory "
                                 f"(see its config.json): drop {name}")
        lm = api.resume(resume, epochs=epochs, time_limit=time_limit, corpus=corpus, valid=valid,
                        data_dir=data_dir, tensorboard=tensorboard, quiet=False,
                        tokenizer=tokenizer, **options)
    else:
        if epochs is not None:
            options["epochs"] = epochs
        if valid is not None and valid_fraction is not None:
            raise RnnlmError("--valid gives the validation text, so nothing is held out of the "
                             "corpus: drop --valid-fraction")
        lm = api.train(corpus, out, tokenizer=tokenizer or "char", valid=valid,
                       time_limit=time_limit, data_dir=data_dir, encoding=encoding or "utf-8",
                       force=force, tensorboard=tensorboard, quiet=False, **options)
    best = lm.info()["best"]
    summary = ", ".join(f"{k} {best[k]:.4f}" if abs(best[k]) < 1e6 else f"{k} {best[k]:.4g}"
                        for k in ("val_loss", "val_perplexity", "val_bpc")
                        if best.get(k) is not None)
    if not summary:  # no validation text: the best epoch was judged on the training loss
        summary = f"training loss {best['loss']:.4f}, no validation text"
    typer.echo(f"saved {lm.run_dir} (best epoch {best.get('epoch')}: {summary})")


@app.command()
@user_errors
def generate(
    run_dir: Path = typer.Argument(..., help="A trained run directory."),
    prompt: str = typer.Option("", "--prompt", "-p"),
    length: int = typer.Option(200, help="New tokens to generate."),
    sampler: Optional[str] = typer.Option(None, help="greedy | random | top_k | top_p | beam (default: from the options given)"),
    temperature: Optional[float] = typer.Option(None, help="Sampling temperature  [default: 1]"),
    top_k: Optional[int] = typer.Option(None),
    top_p: Optional[float] = typer.Option(None),
    beam_width: Optional[int] = typer.Option(None, help="beam: number of beams  [default: 4]"),
    repetition_penalty: Optional[float] = typer.Option(None),
    no_repeat_ngram: Optional[int] = typer.Option(None, "--no-repeat-ngram"),
    stop: Optional[List[str]] = typer.Option(None, "--stop", help="Stop at this string (repeatable); \\n, \\t and \\\\ in it are a line break, a tab and a backslash."),
    seed: Optional[int] = typer.Option(None, help="Same seed, same text."),
    num_samples: int = typer.Option(1),
    as_json: bool = typer.Option(False, "--json", help="Print samples and log-probabilities as JSON."),
    interactive: bool = typer.Option(False, "--interactive", "-i", help="Prompt loop; Ctrl-D quits."),
):
    """Generate text from a trained run (streams to stdout)."""
    from rnnlm import api
    from rnnlm.errors import RnnlmError

    if interactive:  # the prompts come from the keyboard, one sample each, as text
        given = {"--prompt": prompt != "", "--json": as_json, "--num-samples": num_samples != 1}
        for name, is_given in given.items():
            if is_given:
                raise RnnlmError(f"--interactive reads its prompts and prints one sample each, "
                                 f"as text: drop {name}")
    lm = api.load(run_dir, "rnnlm generate")
    options = dict(length=length, sampler=sampler, temperature=temperature, top_k=top_k,
                   top_p=top_p, beam_width=beam_width, repetition_penalty=repetition_penalty,
                   no_repeat_ngram=no_repeat_ngram, stop=[unescape(s) for s in stop or []] or None,
                   seed=seed)
    lm.check_generate_options(num_samples=num_samples, **options)
    if interactive:
        return _interactive(lm, options)
    if as_json:
        echo_json(lm.generate_detailed(prompt, num_samples=num_samples, **options))
        return
    if num_samples > 1:  # decoded together in one batch, then printed one after another
        for i, text in enumerate(lm.generate(prompt, num_samples=num_samples, **options)):
            typer.echo(f"--- sample {i + 1} ---")
            typer.echo(prompt + text)
        return
    _write_stream(lm, prompt, options)


def _write_stream(lm, prompt: str, options) -> None:
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


def _interactive(lm, options) -> None:
    typer.echo("type a prompt and press Enter; Ctrl-D quits", err=True)
    while True:
        try:
            prompt = input("> ")
        except EOFError:
            typer.echo("", err=True)
            return
        _write_stream(lm, prompt, options)


@app.command("eval")
@user_errors
def evaluate(
    run_dir: Path = typer.Argument(...),
    file: Path = typer.Argument(..., help="Text file to score."),
    encoding: str = typer.Option("utf-8"),
    as_json: bool = typer.Option(False, "--json"),
):
    """Loss, perplexity and bits per character of a run on a text file."""
    from rnnlm import api, corpora

    lm = api.load(run_dir, "rnnlm eval")
    result = lm.evaluate(corpora.read_text(file, encoding))
    if result["unknown_tokens"]:
        typer.echo(f"warning: {result['unknown_tokens']} token(s) of the text are outside the "
                   f"vocabulary; each is scored as <unk>, which flatters the figures", err=True)
    if as_json:
        echo_json(result)
    else:
        typer.echo(f"loss {result['loss']:.4f} nats/token   perplexity {result['perplexity']:.2f}"
                   f"   bpc {result['bpc']:.4f}   ({result['tokens']} tokens, "
                   f"{result['characters']} characters)")


@app.command()
@user_errors
def info(run_dir: Path = typer.Argument(...), as_json: bool = typer.Option(False, "--json")):
    """Configuration, tokenizer, parameters per layer and best validation figures of a run."""
    from rnnlm import api

    loaded = api.load(run_dir)  # an LM or a Classifier, by the run's kind
    details = loaded.info()
    if as_json:
        echo_json(details)
        return
    if hasattr(loaded, "format_info"):
        typer.echo(loaded.format_info(details))
        return
    from rnnlm.lm import format_info

    typer.echo(format_info(details))


@app.command()
@user_errors
def explain(
    cell: str = typer.Argument(..., help="simple_rnn | lstm | gru"),
    units: str = typer.Option("64", help="Units: one value or one per layer, e.g. 64,64,32"),
    input_shape: str = typer.Option(..., help="TIMESTEPS,FEATURES, e.g. 10,30 (None,30: any length)"),
    return_sequences: bool = typer.Option(False, "--return-sequences"),
    return_state: bool = typer.Option(False, "--return-state"),
    bidirectional: bool = typer.Option(False, "--bidirectional"),
    merge_mode: str = typer.Option("concat", help="Bidirectional merge: concat | sum | ave | mul"),
    layers: int = typer.Option(1, help="Stacked layers (inner ones return sequences)."),
    reset_after: bool = typer.Option(True, "--reset-after/--no-reset-after", help="GRU variant."),
    dense: Optional[int] = typer.Option(None, help="Add a Dense head of this size."),
    numpy: bool = typer.Option(False, "--numpy", help="Run rnnlm.reference beside Keras; print the largest difference."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Shapes each layer returns and where its parameter count comes from (nothing is trained)."""
    from rnnlm.explain import explain as run_explain, format_table

    result = run_explain(cell, units, input_shape, return_sequences=return_sequences,
                         return_state=return_state, bidirectional=bidirectional,
                         merge_mode=merge_mode, layers=layers, reset_after=reset_after,
                         numpy_check=numpy, dense=dense)
    if as_json:
        echo_json(result)
    else:
        typer.echo(format_table(result))


@app.command()
@user_errors
def export(
    run_dir: Path = typer.Argument(...),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for the exported model."),
    format: str = typer.Option("saved_model", "--format", help="saved_model"),
    force: bool = typer.Option(False, "--force", help="Replace an existing export."),
):
    """Export a run as a TensorFlow SavedModel (loadable with tf.saved_model.load, no rnnlm)."""
    from rnnlm import api
    from rnnlm.errors import RnnlmError
    from rnnlm.export import FORMATS, export_saved_model

    if format not in FORMATS:
        raise RnnlmError(f"unknown export format '{format}'; choose one of: {', '.join(FORMATS)}")
    path = export_saved_model(api.load(run_dir, "rnnlm export"), out,
                              force=force)
    typer.echo(f"exported {run_dir} to {path}")


@app.command("corpora")
@user_errors
def list_corpora(data_dir: Optional[str] = typer.Option(None, help="Local mirror (else $RNNLM_DATA).")):
    """List the corpora rnnlm knows by name (cards in corpora/) and where each would come from."""
    from rnnlm import corpora

    mirror = corpora.data_dir(data_dir)
    typer.echo(f"{corpora.BUILTIN:16} built-in: CPython's documentation topics (no download)")
    for name, card in corpora.cards().items():
        local = mirror is not None and (mirror / card["mirror_dir"]).is_dir()
        where = "mirror" if local else ("download" if any(
            s.get("url") for s in card["splits"].values()) else "mirror only")
        typer.echo(f"{name:16} [{card.get('task', 'language model')}, {card['language']}, "
                   f"{where}] {card['description']}")

# --- rnnlm classify: sequence classifiers (issue 4) ------------------------------------------------
classify_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                           help="Sequence classifiers on the language model's backbone: train, eval, predict.")
READ_HELP = "Column: header name or 0-based index"


def _sizes(value: Optional[str], option: str):
    """'64' → 64, '64,64,32' → [64, 64, 32] (one per layer)."""
    if value is None:
        return None
    from rnnlm.errors import RnnlmError

    try:
        sizes = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise RnnlmError(f"{option} takes integers separated by commas, got '{value}'") from None
    return sizes[0] if len(sizes) == 1 and option == "--units" else sizes


@classify_app.command("train")
@user_errors
def classify_train(
    data: str = typer.Argument(..., help="CSV/TSV (.gz ok), a folder of label folders, an .npz (x, y), or a corpus: imdb, nsmc, mnist."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default runs/classify-<data>)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing run in --out."),
    valid: Optional[str] = typer.Option(None, help="Validation data (default: --valid-fraction of DATA)."),
    valid_fraction: Optional[float] = typer.Option(None, help="Stratified share of DATA held out for validation  [default: 0.1]"),
    test: Optional[str] = typer.Option(None, help="Test data, evaluated with the best weights (a corpus name: its test split)."),
    text_column: Optional[str] = typer.Option(None, help=f"{READ_HELP} (default: text, or the corpus card's)"),
    label_column: Optional[str] = typer.Option(None, help=f"{READ_HELP} (default: label, or the corpus card's)"),
    no_header: bool = typer.Option(False, "--no-header", help="The CSV/TSV has no header row (columns by index)."),
    data_dir: Optional[str] = typer.Option(None, help="Local corpus mirror (else $RNNLM_DATA)."),
    encoding: str = typer.Option("utf-8"),
    tokenizer: Optional[str] = typer.Option(None, help="char | word | sentencepiece (default: sentencepiece; with --from-lm the LM's)"),
    vocab_size: Optional[int] = typer.Option(None, help="sentencepiece vocabulary (default: 8000)"),
    max_vocab: Optional[int] = typer.Option(None, help="char/word: keep the most frequent tokens."),
    min_freq: Optional[int] = typer.Option(None, help="word: drop rarer words."),
    max_len: int = typer.Option(400, help="Tokens kept per text (the first ones); the length for --pooling flatten."),
    cell: Optional[str] = typer.Option(None, help="simple_rnn | lstm | gru (default: lstm)"),
    layers: Optional[int] = typer.Option(None, help="Recurrent layers (default: 1)"),
    units: Optional[str] = typer.Option(None, help="Units: one value or one per layer, e.g. 64,64,32 (default: 64)"),
    embedding_dim: Optional[int] = typer.Option(None, help="[default: 64]"),
    bidirectional: bool = typer.Option(False, "--bidirectional", help="Read each sequence both ways."),
    merge_mode: str = typer.Option("concat", help="Bidirectional merge: concat | sum | ave | mul"),
    dropout: float = typer.Option(0.0, help="Between recurrent layers, after pooling, after each hidden Dense."),
    embedding_dropout: float = typer.Option(0.0, help="Text: dropout on the embedding vectors."),
    locked_dropout: bool = typer.Option(False, "--locked-dropout", help="One dropout mask per sequence, shared by all steps (SpatialDropout1D)."),
    pooling: str = typer.Option("last", help="last | mean | max | concat | flatten (mask-aware)"),
    dense: Optional[str] = typer.Option(None, help="Hidden Dense(relu) sizes before the softmax, e.g. 32 or 64,32"),
    epochs: int = typer.Option(5),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(1e-3, help="Adam learning rate"),
    clipnorm: Optional[float] = typer.Option(None, help="Gradient-norm clipping (default: none)"),
    seed: int = typer.Option(0),
    from_lm: Optional[Path] = typer.Option(None, help="Start embedding + recurrent layers from this language model run."),
    freeze_epochs: int = typer.Option(0, help="With --from-lm: epochs with those layers frozen before unfreezing."),
    max_train: Optional[int] = typer.Option(None, help="Use a random subset of this many training examples (--valid-fraction is then held out of the subset)."),
):
    """Train a classifier on DATA and save a run directory (metrics.json, confusion.png, curves.png)."""
    from rnnlm.classification import train_classifier
    from rnnlm.classify_metrics import format_metrics
    from rnnlm.errors import RnnlmError

    if valid is not None and valid_fraction is not None:
        raise RnnlmError("--valid gives the validation data, so nothing is held out of DATA: "
                         "drop --valid-fraction")
    clf = train_classifier(
        data, out, valid=valid, test=test,
        valid_fraction=0.1 if valid_fraction is None else valid_fraction,
        text_column=text_column, label_column=label_column, header=not no_header,
        data_dir=data_dir, encoding=encoding, tokenizer=tokenizer, vocab_size=vocab_size,
        max_vocab=max_vocab, min_freq=min_freq, max_len=max_len, cell=cell, layers=layers,
        units=_sizes(units, "--units"), embedding_dim=embedding_dim, bidirectional=bidirectional,
        merge_mode=merge_mode, dropout=dropout, embedding_dropout=embedding_dropout,
        locked_dropout=locked_dropout, pooling=pooling,
        dense=_sizes(dense, "--dense") or [], epochs=epochs, batch_size=batch_size, lr=lr,
        clipnorm=clipnorm, seed=seed, from_lm=from_lm, freeze_epochs=freeze_epochs,
        max_train=max_train, force=force, quiet=False)
    details = clf.info()
    best = details["best"]
    summary = ", ".join(f"{k} {best[k]:.4f}" for k in ("val_loss", "val_accuracy") if k in best)
    typer.echo(f"saved {clf.run_dir} (best epoch {best.get('epoch')}: {summary})")
    for name, metrics in details["metrics"].items():
        typer.echo(f"\n--- {name} ---\n{format_metrics(metrics)}")


@classify_app.command("eval")
@user_errors
def classify_eval(
    run_dir: Path = typer.Argument(..., help="A trained classifier run."),
    data: str = typer.Argument(..., help="Labelled data, read like the training data (a corpus name: its test split)."),
    split: str = typer.Option("test", help="Corpus / .npz split (x_<split>, y_<split>)."),
    text_column: Optional[str] = typer.Option(None, help=READ_HELP),
    label_column: Optional[str] = typer.Option(None, help=READ_HELP),
    no_header: bool = typer.Option(False, "--no-header"),
    data_dir: Optional[str] = typer.Option(None, help="Local corpus mirror (else $RNNLM_DATA)."),
    encoding: str = typer.Option("utf-8"),
    batch_size: int = typer.Option(256),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
):
    """Accuracy, per-class precision/recall/F1, macro-F1, confusion matrix, TPR/TNR, ms per sample."""
    from rnnlm.classification import load_classifier
    from rnnlm.classify_metrics import format_metrics

    metrics = load_classifier(run_dir).evaluate(  # header None: as the run's training file
        data, split=split, batch_size=batch_size, text_column=text_column,
        label_column=label_column, header=False if no_header else None, data_dir=data_dir,
        encoding=encoding)
    if as_json:
        echo_json(metrics)
    else:
        typer.echo(format_metrics(metrics))


@classify_app.command("predict")
@user_errors
def classify_predict(
    run_dir: Path = typer.Argument(..., help="A trained classifier run."),
    text: Optional[str] = typer.Argument(None, help="One text to classify."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Texts, one per line; or a CSV/TSV (--text-column); or an .npz (x)."),
    text_column: Optional[str] = typer.Option(None, help=READ_HELP + " (given: the file is read as a table whatever its name)"),
    no_header: bool = typer.Option(False, "--no-header", help="The CSV/TSV has no header row (default: as the run's training file)."),
    encoding: str = typer.Option("utf-8"),
    as_json: bool = typer.Option(False, "--json"),
):
    """Print the predicted label and its probability (tab-separated), one line per input."""
    from rnnlm.classification import load_classifier
    from rnnlm.errors import RnnlmError

    if (text is None) == (file is None):
        raise RnnlmError("give either a TEXT or --file FILE")
    clf = load_classifier(run_dir)
    inputs = [text] if file is None else clf.read_inputs(
        file, text_column, encoding, header=False if no_header else None)
    predictions = clf.predict(inputs)
    if as_json:
        echo_json([{"label": p.label, "probability": p.probability} for p in predictions])
        return
    for p in predictions:
        typer.echo(f"{p.label}\t{p.probability:.4f}")


app.add_typer(classify_app, name="classify")
# --- end of rnnlm classify ---------------------------------------------------------------------


if __name__ == "__main__":  # pragma: no cover
    app()
