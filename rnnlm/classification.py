"""Training a sequence classifier (the API behind ``rnnlm classify train``).

    clf = rnnlm.train_classifier("imdb", test="imdb", bidirectional=True, out="runs/imdb")
    clf.predict(["a wonderful film", "two hours I will never get back"])
    clf.evaluate("imdb")           # accuracy, per-class P/R/F1, macro-F1, confusion, TPR/TNR
    clf = rnnlm.load("runs/imdb")  # a Classifier, because config.json says kind "classifier"

Run directory: as a language model's (config.json, tokenizer.json, model.weights.h5,
backbone.weights.h5, history.json/.csv, curves.png, checkpoints/) plus metrics.json (validation
and test figures of the best epoch) and confusion.png. config.json "classes" maps class ids to
the original labels (ints or strings). The trained classifier, as users hold it, is
``rnnlm.classifier.Classifier``; the epochs themselves run in ``rnnlm.classify_training``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnlm import classify_data as cdata
from rnnlm import classify_sequences as sequences
from rnnlm.classify_batches import encode_texts
from rnnlm.classify_labels import encode_labels, label_list, split_validation, validation_minimum
from rnnlm import corpora, preflight, runs
from rnnlm.classifier import KIND, Classifier, load_classifier
from rnnlm.config import (cell_name, check_flag, check_fraction, check_positive, check_seed,
                          check_tokenizer_options, is_integer)
from rnnlm.errors import RnnlmError, TrainingInterrupted
from rnnlm.seeding import keeps_user_random_state
from rnnlm.tokenizers import build_tokenizer

TOKENIZER_OPTIONS = {"char": ("max_vocab",), "word": ("max_vocab", "min_freq"),
                     "sentencepiece": ("vocab_size",)}
DEFAULTS = {"cell": "lstm", "layers": 1, "units": 64, "embedding_dim": 64}


@keeps_user_random_state
def train_classifier(data, out=None, *, valid=None, test=None, valid_fraction=0.1,
                     text_column=None, label_column=None, header=True, data_dir=None,
                     encoding="utf-8", tokenizer=None, vocab_size=None, max_vocab=None,
                     min_freq=None, max_len=400, cell=None, layers=None, units=None,
                     embedding_dim=None, bidirectional=False, merge_mode="concat", dropout=0.0,
                     embedding_dropout=0.0, locked_dropout=False, pooling="last", dense=(),
                     epochs=5, batch_size=32, lr=1e-3, clipnorm=None, seed=0, from_lm=None,
                     freeze_epochs=0, max_train=None, force=False, quiet=True) -> "Classifier":
    """Train a classifier on DATA (CSV/TSV, label folders, .npz, or a card: imdb, nsmc, mnist)."""
    from rnnlm.models.classifier import ClassifierConfig, check_options

    _check_train_options(epochs, batch_size, lr, valid_fraction, max_len, freeze_epochs, from_lm,
                         max_train, clipnorm, seed)
    units, dense = layer_sizes("units", units), layer_sizes("dense", dense) or []
    for name, value in (("bidirectional", bidirectional), ("locked_dropout", locked_dropout),
                        ("header", header), ("force", force), ("quiet", quiet)):
        check_flag(name, value)
    encoding = "utf-8" if encoding is None else encoding  # None: the default, as in train
    for name, value in (("layers", layers), ("embedding_dim", embedding_dim)):
        check_positive(name, value, allow_none=True, integer=True)
    cell = None if cell is None else cell_name(cell)  # "LSTM", as Keras names it, is "lstm"
    check_options(cell=cell, pooling=pooling, merge_mode=merge_mode, dropout=dropout,
                  bidirectional=bidirectional)
    tok_options = {"vocab_size": vocab_size, "max_vocab": max_vocab, "min_freq": min_freq}
    kind = tokenizer or "sentencepiece"
    # (An unknown tokenizer gets its own message where it is built; with --from-lm the
    # language model's tokenizer is checked instead.)
    if from_lm is None and kind in TOKENIZER_OPTIONS:
        check_tokenizer_options(kind, tok_options, TOKENIZER_OPTIONS[kind])
    runs.as_path(data, "the data (a file, a folder or a corpus name)")
    for option, given in (("--valid", valid), ("--test", test)):
        if given is not None:
            runs.as_path(given, option)
    if data_dir is not None:  # checked when given, as the language model's is
        corpora.data_dir(data_dir)
    out = (runs.as_path(out, "out") if out is not None
           else Path("runs") / f"classify-{Path(str(data)).stem}")
    runs.check_new_run_dir(out, force, resumable=False)  # classifiers have no --resume
    read = dict(text_column=text_column, label_column=label_column, header=header,
                data_dir=data_dir, encoding=encoding)
    sets = _read_sets(data, valid, test, valid_fraction, max_train, seed, read)
    train = sets["train"]
    if train.kind != "text":  # an option of text classifiers would silently do nothing here
        text_only = {"--tokenizer": tokenizer, "--vocab-size": vocab_size,
                     "--max-vocab": max_vocab, "--min-freq": min_freq,
                     "--embedding-dropout": embedding_dropout or None, "--text-column": text_column}
        given = [name for name, value in text_only.items() if value is not None]
        if given:
            raise RnnlmError(f"{given[0]} is an option for text, and {data} holds numeric "
                             f"sequences: drop it")
    classes = label_list(train.labels)
    arch = {"cell": cell, "layers": layers, "units": units, "embedding_dim": embedding_dim}
    tok, arch = _tokenizer_and_architecture(train, from_lm, tokenizer, tok_options, arch,
                                            bidirectional)
    preflight.say_lowered_coverage(tok)
    fixed = max_len if (pooling == "flatten" and tok is not None) else None
    if tok is None:
        sequences.check_shapes(sets, pooling)
    config = ClassifierConfig(
        num_classes=len(classes), cell=arch["cell"], num_layers=arch["layers"],
        units=arch["units"], vocabulary_size=tok.vocabulary_size if tok else 0,
        embedding_dim=arch["embedding_dim"], input_dim=0 if tok else train.x.shape[2],
        sequence_length=fixed if tok else train.x.shape[1], bidirectional=bidirectional,
        merge_mode=merge_mode, dropout=dropout, pooling=pooling, dense=list(dense),
        embedding_dropout=embedding_dropout if tok else 0.0,
        locked_dropout=locked_dropout).validate()
    scale = sequences.pixel_scale(train.x) if tok is None else None  # every set read as training's
    inputs = {name: _encode(s, tok, max_len, scale) for name, s in sets.items()}
    targets = {name: encode_labels(s.labels, classes, f"the {name} data")
               for name, s in sets.items()}
    run_config = {
        "kind": KIND,
        "source": {"data": runs.absolute_if_path(data), "valid": runs.absolute_if_path(valid),
                   "test": runs.absolute_if_path(test), "data_dir": runs.absolute_if_path(data_dir),
                   "text_column": text_column, "label_column": label_column, "header": header,
                   "encoding": encoding, "valid_fraction": valid_fraction, "max_train": max_train,
                   "from_lm": runs.absolute_if_path(from_lm),
                   "examples": {name: len(s) for name, s in sets.items()}},
        "tokenizer": tok.config() if tok else None,
        "classes": classes,
        "model": config.to_dict(),
        "train": {"epochs": epochs, "batch_size": batch_size, "lr": lr, "clipnorm": clipnorm,
                  "seed": seed, "max_len": max_len if tok else None,
                  "freeze_epochs": freeze_epochs, "input_scale": scale},
    }
    from rnnlm.classify_training import fit
    from rnnlm.training import TrainingDiverged, diverged_run

    with runs.new_run(out, force, resumable=False) as earlier:
        try:
            fit(out, run_config, config, tok, inputs, targets, from_lm, quiet,
                epoch_saved=earlier.release)
        except TrainingDiverged as e:  # as the language model's: no half-made run is left
            error = diverged_run(e, out, new=True)
            if runs.has_saved_epoch(out):  # its best epoch is kept: measured as a finished one
                _final_metrics(load_classifier(out), out, inputs, targets)
            raise error from None
        except KeyboardInterrupt:  # (and SIGTERM in the CLI)
            raise _interrupted_run(out, earlier.holds_earlier_run) from None
        clf = load_classifier(out)
        _final_metrics(clf, out, inputs, targets)  # still locked: the run is still being written
    return clf


def _interrupted_run(out: Path, earlier_kept: bool) -> TrainingInterrupted:
    """Ctrl-C: a classifier has no --resume, so a new run without a finished epoch is removed
    (it could be neither used nor continued, and its folder would refuse the same command
    again; the earlier run --force was replacing comes back); one with a finished epoch keeps
    its best, as a diverged run does. The test set is not measured: the user asked to stop."""
    if runs.discard_if_no_epoch(out):
        kept = (f"the earlier run in {out} is kept as it was" if earlier_kept
                else "the new run was not kept")
        return TrainingInterrupted(f"interrupted in the first epoch; {kept}")
    return TrainingInterrupted(f"interrupted; {out} keeps its best epoch so far (a classifier "
                               f"has no --resume: train again with --force for more epochs)")


def _read_sets(data, valid, test, valid_fraction, max_train, seed, read: dict) -> dict:
    """{"train", "valid", "test"} examples (absent ones left out), all of one kind, none empty
    (checked here, before the run directory is touched: an empty set cannot be evaluated)."""
    train = cdata.read_dataset(data, "train", **read)
    if max_train is not None and max_train < len(train):
        train = train.subset(np.random.default_rng(seed).permutation(len(train))[:max_train])
    classes = label_list(train.labels)  # checked before the split: it keeps every class
    if len(classes) < 2:
        raise RnnlmError(f"the training data has only one class ({classes[0]!r}); "
                         f"a classifier needs at least two")
    if valid is not None:
        valid_set = cdata.read_like_a_card(valid, "valid", data, read)
    elif valid_fraction > 0:
        examples = len(train)
        train, valid_set = split_validation(train, valid_fraction, seed)
        if not len(valid_set):
            raise RnnlmError(
                f"the data set is too small for a validation split: {examples} examples, and "
                f"--valid-fraction {valid_fraction} of each class rounds to none (a class needs "
                f"at least {validation_minimum(valid_fraction)} examples); give a separate "
                f"validation file with --valid, or --valid-fraction 0 to train without validation")
    else:
        valid_set = None
    test_set = cdata.read_like_a_card(test, "test", data, read) if test is not None else None
    sets = {name: s for name, s in (("train", train), ("valid", valid_set), ("test", test_set))
            if s is not None}
    for name, s in sets.items():
        if not len(s):
            raise RnnlmError(f"the {name} data holds no examples")
        if s.kind != train.kind:
            raise RnnlmError(f"the {name} data is {s.kind} data but the training data is {train.kind}")
    return sets


def _tokenizer_and_architecture(train, from_lm, tokenizer, tok_options, arch, bidirectional):
    """Text: a tokenizer trained on the training texts, or the language model's (whose
    architecture then fixes cell/layers/units/embedding_dim). Numeric data: no tokenizer."""
    tok = None
    if train.kind == "text" and from_lm is not None:
        from rnnlm.classify_training import lm_tokenizer_and_model

        tok, lm = lm_tokenizer_and_model(from_lm, tokenizer, tok_options, arch, bidirectional)
        arch = {"cell": lm["cell"], "layers": lm["num_layers"], "units": lm["units"],
                "embedding_dim": lm["embedding_dim"]}
    elif train.kind == "text":
        kind = tokenizer or "sentencepiece"
        if kind == "sentencepiece" and tok_options["vocab_size"] is None:
            tok_options["vocab_size"] = 8000
        options = {k: tok_options[k] for k in TOKENIZER_OPTIONS.get(kind, ())
                   if tok_options.get(k) is not None}
        tok = build_tokenizer(kind, **options).train(train.texts)
    elif from_lm is not None:
        raise RnnlmError("--from-lm needs text data (a language model reads tokens)")
    if arch["layers"] is None and isinstance(arch["units"], list):  # --units 64,64,32: 3 layers
        arch = {**arch, "layers": len(arch["units"])}
    return tok, {k: DEFAULTS[k] if v is None else v for k, v in arch.items()}


def layer_sizes(name: str, value):
    """units= and dense=: one size or a list of them (one per layer), as Python ints; a string
    ("64,32", which the CLI splits) is refused by its type rather than read letter by letter."""
    if value is None:
        return None
    sizes = value.tolist() if isinstance(value, np.ndarray) else value
    single = is_integer(sizes)
    sizes = [sizes] if single else sizes
    if not isinstance(sizes, (list, tuple)) or not all(is_integer(v) and v >= 1 for v in sizes):
        shown = f"the {type(value).__name__} {value!r}" if isinstance(value, str) else repr(value)
        raise RnnlmError(f"{name} must be an integer >= 1 or a list of them (one per layer), "
                         f"got {shown}")
    sizes = [int(v) for v in sizes]
    return sizes[0] if single and name == "units" else sizes


def _check_train_options(epochs, batch_size, lr, valid_fraction, max_len, freeze_epochs, from_lm,
                         max_train=None, clipnorm=None, seed=0):
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("max_len", max_len)):
        check_positive(name, value, integer=True)
    check_positive("lr", lr)  # a NaN or infinite rate would train, and save, a run of NaNs
    check_positive("clipnorm", clipnorm, allow_none=True)
    check_fraction("valid_fraction", valid_fraction)
    if freeze_epochs and from_lm is None:
        raise RnnlmError("--freeze-epochs needs --from-lm (it freezes the transferred layers)")
    if not 0 <= freeze_epochs <= epochs:
        raise RnnlmError(f"--freeze-epochs (freeze_epochs=) must be in [0, --epochs {epochs}], "
                         f"got {freeze_epochs}")
    check_seed(seed)
    if max_train is not None and max_train < 1:
        raise RnnlmError(f"--max-train (max_train=) must be > 0, got {max_train}")


def _encode(examples, tok, max_len, scale):
    if tok is not None:
        return encode_texts(tok, examples.texts, max_len)
    return sequences.as_float(examples.x, scale)


def _final_metrics(clf, out, inputs, targets) -> None:
    from rnnlm.classify_metrics import plot_confusion

    metrics = {}
    for name in ("valid", "test"):
        if name in inputs:
            metrics[name] = clf._metrics(inputs[name], targets[name])
    if metrics:
        runs.write_json(out / "metrics.json", metrics)
        name = "test" if "test" in metrics else "valid"
        plot_confusion(metrics[name], out / "confusion.png", f"{name} confusion matrix")
