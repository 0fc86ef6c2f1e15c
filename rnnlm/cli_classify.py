"""``rnnlm classify train|eval|predict``: sequence classifiers on the language model's backbone
(the Python API: rnnlm.classification trains one, rnnlm.classifier holds a trained one).
Heavy imports live inside the commands."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rnnlm.cli_common import a_path, echo_json, user_errors

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
    out: Optional[Path] = typer.Option(None, "--out", "-o", parser=a_path, metavar="<path>", help="Run directory (default runs/classify-<data>)."),
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
    from_lm: Optional[Path] = typer.Option(None, parser=a_path, metavar="<path>", help="Start embedding + recurrent layers from this language model run."),
    freeze_epochs: int = typer.Option(0, help="With --from-lm: epochs with those layers frozen before unfreezing."),
    max_train: Optional[int] = typer.Option(None, help="Use a random subset of this many training examples (--valid-fraction is then held out of the subset)."),
):
    """Train a classifier on DATA and save a run directory (metrics.json, confusion.png, curves.png)."""
    from rnnlm.classification import train_classifier
    from rnnlm.classifier import best_figures
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
    typer.echo(f"saved {clf.run_dir} (best epoch {best.get('epoch')}: {best_figures(best)})")
    for name, metrics in details["metrics"].items():
        typer.echo(f"\n--- {name} ---\n{format_metrics(metrics)}")


@classify_app.command("eval")
@user_errors
def classify_eval(
    run_dir: Path = typer.Argument(..., parser=a_path, help="A trained classifier run."),
    data: str = typer.Argument(..., help="Labelled data, read like the training data (a corpus name: its test split)."),
    split: str = typer.Option("test", help="Corpus / .npz split (x_<split>, y_<split>)."),
    text_column: Optional[str] = typer.Option(None, help=READ_HELP),
    label_column: Optional[str] = typer.Option(None, help=READ_HELP),
    no_header: bool = typer.Option(False, "--no-header"),
    data_dir: Optional[str] = typer.Option(None, help="Local corpus mirror (else $RNNLM_DATA)."),
    encoding: Optional[str] = typer.Option(None, help="[default: the run's training data's, else utf-8]"),
    batch_size: int = typer.Option(256),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
):
    """Accuracy, per-class precision/recall/F1, macro-F1, confusion matrix, TPR/TNR, ms per sample."""
    from rnnlm.classifier import load_classifier
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
    run_dir: Path = typer.Argument(..., parser=a_path, help="A trained classifier run."),
    text: Optional[str] = typer.Argument(None, help="One text to classify."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", parser=a_path, metavar="<path>", help="Texts, one per line; or a CSV/TSV (--text-column); or an .npz (x)."),
    text_column: Optional[str] = typer.Option(None, help=READ_HELP + " (given: the file is read as a table whatever its name)"),
    no_header: bool = typer.Option(False, "--no-header", help="The CSV/TSV has no header row (default: as the run's training file)."),
    encoding: Optional[str] = typer.Option(None, help="[default: the run's training data's, else utf-8]"),
    as_json: bool = typer.Option(False, "--json"),
):
    """Print the predicted label and its probability (tab-separated), one line per input."""
    from rnnlm.classifier import load_classifier
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
