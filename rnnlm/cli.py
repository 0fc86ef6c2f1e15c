"""The ``rnnlm`` command: options → config → the Python API. Heavy imports live inside commands
so ``rnnlm --help`` answers at once (TensorFlow takes seconds to import)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from rnnlm import cli_common, cli_stream
from rnnlm.cli_classify import classify_app
from rnnlm.cli_common import OneLineUsageErrors, a_path, echo_json, unescape, user_errors
from rnnlm.defaults import DROPOUT, RECIPES, WEIGHT_DROP_WHEN, WIDER

# rich_markup_mode=None: help texts are plain text. Typer's default ("rich") reads "[default: char]"
# as a style tag and prints nothing of it.
app = typer.Typer(cls=OneLineUsageErrors, add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Recurrent language models and sequence classifiers (Keras 3).")


def _print_version(asked: bool) -> None:
    if asked:
        from rnnlm import __version__

        typer.echo(f"rnnlm {__version__}")
        raise typer.Exit()


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", help="Show TensorFlow's own logs."),
         version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                      help="Print rnnlm's version and exit.")):
    cli_common.VERBOSE["on"] = verbose
    cli_common.show_rnnlm_warnings()
    if not verbose:
        cli_common.quiet_tensorflow()


@app.command()
@user_errors
def train(
    corpus: Optional[str] = typer.Argument(None, help="Text file or corpus name (`rnnlm corpora`); default: the built-in pydoc corpus."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", parser=a_path, metavar="<path>", help="Run directory (default runs/<corpus>)."),
    resume: Optional[Path] = typer.Option(None, "--resume", parser=a_path, metavar="<path>", help="Continue this run from its last checkpoint."),
    force: bool = typer.Option(False, "--force", help="Replace an existing run in --out."),
    tokenizer: Optional[str] = typer.Option(None, help="char | word | sentencepiece  [default: char]"),
    cell: Optional[str] = typer.Option(None, help="simple_rnn | lstm | gru  [default: lstm]"),
    layers: Optional[int] = typer.Option(None, help="Recurrent layers  [default: from the corpus size, with --units; 1 with --units alone]"),
    units: Optional[int] = typer.Option(None, help="Units per layer  [default: from the corpus size; 256 with --layers alone]"),
    embedding_dim: Optional[int] = typer.Option(None, help="[default: 64 for char, else the last layer's units]"),
    dropout: Optional[float] = typer.Option(None, help=f"Dropout between layers and before the output  [default: {DROPOUT['char']:g} char ({WIDER['dropout']:g} for the wider model of a long run), {DROPOUT['word']:g} otherwise]"),
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
    precision: Optional[str] = typer.Option(None, help="Matmuls of LSTM and output layers while training: float32 | bfloat16 | auto (auto: bfloat16 on a CPU that multiplies it natively, AMX or AVX512_BF16, where it won per minute of training; else float32)  [default: auto]"),
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
    run_dir: Path = typer.Argument(..., parser=a_path, help="A trained run directory."),
    prompt: str = typer.Option("", "--prompt", "-p"),
    length: int = typer.Option(200, help="New tokens to generate."),
    sampler: Optional[str] = typer.Option(None, help="greedy | random | top_k | top_p | beam (default: from the options given)"),
    temperature: Optional[float] = typer.Option(None, help="Sampling temperature (not for greedy or beam)  [default: 1]"),
    top_k: Optional[int] = typer.Option(None, help="top_k: the k most likely tokens  [default: 40 with --sampler top_k]"),
    top_p: Optional[float] = typer.Option(None, help="top_p: the fewest tokens whose probability reaches p  [default: 0.9 with --sampler top_p]"),
    beam_width: Optional[int] = typer.Option(None, help="beam: number of beams  [default: 4]"),
    repetition_penalty: Optional[float] = typer.Option(None),
    no_repeat_ngram: Optional[int] = typer.Option(None, "--no-repeat-ngram"),
    stop: Optional[List[str]] = typer.Option(None, "--stop", help="Stop at this string (repeatable); \\n, \\t and \\\\ in it are a line break, a tab and a backslash."),
    seed: Optional[int] = typer.Option(None, help="Same seed, same text (without one, each run differs)."),
    num_samples: int = typer.Option(1),
    as_json: bool = typer.Option(False, "--json", help="Print samples and log-probabilities as JSON."),
    interactive: bool = typer.Option(False, "--interactive", "-i", help="Prompt loop; Ctrl-D quits."),
):
    """Generate text from a trained run (streams to stdout)."""
    from rnnlm import api
    from rnnlm.corpora import unix_line_breaks
    from rnnlm.errors import RnnlmError

    if interactive:  # the prompts come from the keyboard, one sample each, as text
        given = {"--prompt": prompt != "", "--json": as_json, "--num-samples": num_samples != 1}
        for name, is_given in given.items():
            if is_given:
                raise RnnlmError(f"--interactive reads its prompts and prints one sample each, "
                                 f"as text: drop {name}")
    lm = api.load(run_dir, "rnnlm generate")
    prompt = unix_line_breaks(prompt)  # as the model reads it: a lone \r echoed would overtype
    options = dict(length=length, sampler=sampler, temperature=temperature, top_k=top_k,
                   top_p=top_p, beam_width=beam_width, repetition_penalty=repetition_penalty,
                   no_repeat_ngram=no_repeat_ngram, stop=[unescape(s) for s in stop or []] or None,
                   seed=seed)
    lm.check_generate_options(num_samples=num_samples, **options)
    if interactive:
        return cli_stream.interactive(lm, options)
    if as_json:
        echo_json(lm.generate_detailed(prompt, num_samples=num_samples, **options))
        return
    if num_samples > 1:  # decoded together in one batch, then printed one after another
        for i, text in enumerate(lm.generate(prompt, num_samples=num_samples, **options)):
            typer.echo(f"--- sample {i + 1} ---")
            typer.echo(prompt + text)
        return
    cli_stream.write_stream(lm, prompt, options)


@app.command("eval")
@user_errors
def evaluate(
    run_dir: Path = typer.Argument(..., parser=a_path),
    file: Path = typer.Argument(..., parser=a_path, help="Text file to score."),
    encoding: Optional[str] = typer.Option(None, help="The file's encoding  [default: the run's corpus's, else utf-8]"),
    as_json: bool = typer.Option(False, "--json"),
):
    """Loss, perplexity and bits per character of a run on a text file."""
    from rnnlm import api, corpora

    lm = api.load(run_dir, "rnnlm eval")
    if encoding is None:  # a held-out file is most often in its corpus's (a cp949 one's, cp949)
        encoding = (lm.config.get("source") or {}).get("encoding", "utf-8")
        if not corpora.is_utf8(encoding):  # said: latin-1 would misread a UTF-8 file silently
            typer.echo(f"reading {file} as {encoding}, the run's corpus encoding (--encoding "
                       f"utf-8 to read it otherwise)", err=True)
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
def info(run_dir: Path = typer.Argument(..., parser=a_path), as_json: bool = typer.Option(False, "--json")):
    """Configuration, tokenizer, parameters per layer and best validation figures of a run."""
    from rnnlm import api, run_contents

    try:  # weights that do not fit config.json would make its figures a lie: refused
        loaded, damaged = api.load(run_dir), None  # an LM or a Classifier, by the run's kind
    except run_contents.DamagedWeights as error:  # the run's files still say what it was
        loaded, damaged = api.load(run_dir, weights=False), error
    details = loaded.info()
    if as_json:
        echo_json(details)
    elif hasattr(loaded, "format_info"):
        typer.echo(loaded.format_info(details))
    else:
        from rnnlm.lm import format_info

        typer.echo(format_info(details))
    if damaged is not None:
        typer.echo(f"warning: {damaged}", err=True)


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
    run_dir: Path = typer.Argument(..., parser=a_path),
    out: Path = typer.Option(..., "--out", "-o", parser=a_path, metavar="<path>", help="Directory for the exported model."),
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

app.add_typer(classify_app, name="classify")


if __name__ == "__main__":  # pragma: no cover
    app()
