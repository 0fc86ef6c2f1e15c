"""Sequence classifiers: train, evaluate, predict, load (the API behind ``rnnlm classify``).

    clf = rnnlm.train_classifier("imdb", test="imdb", bidirectional=True, out="runs/imdb")
    clf.predict(["a wonderful film", "two hours I will never get back"])
    clf.evaluate("imdb")           # accuracy, per-class P/R/F1, macro-F1, confusion, TPR/TNR
    clf = rnnlm.load("runs/imdb")  # a Classifier, because config.json says kind "classifier"

Run directory: as a language model's (config.json, tokenizer.json, model.weights.h5,
backbone.weights.h5, history.json/.csv, curves.png, checkpoints/) plus metrics.json (validation
and test figures of the best epoch) and confusion.png. config.json "classes" maps class ids to
the original labels (ints or strings).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rnnlm import classify_data as cdata
from rnnlm import corpora, runs
from rnnlm.classify_metrics import classification_metrics, format_metrics
from rnnlm.config import (cell_name, check_positive, check_seed, check_tokenizer_options,
                          describe_train)
from rnnlm.errors import RnnlmError
from rnnlm.seeding import keeps_user_random_state
from rnnlm.tokenizers import build_tokenizer, load_tokenizer

KIND = "classifier"
TOKENIZER_OPTIONS = {"char": ("max_vocab",), "word": ("max_vocab", "min_freq"),
                     "sentencepiece": ("vocab_size",)}
DEFAULTS = {"cell": "lstm", "layers": 1, "units": 64, "embedding_dim": 64}


class Prediction(NamedTuple):
    label: object
    probability: float


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
    classes = cdata.label_list(train.labels)
    arch = {"cell": cell, "layers": layers, "units": units, "embedding_dim": embedding_dim}
    tok, arch = _tokenizer_and_architecture(train, from_lm, tokenizer, tok_options, arch,
                                            bidirectional)
    fixed = max_len if (pooling == "flatten" and tok is not None) else None
    if tok is None:
        cdata.check_shapes(sets, pooling)
    config = ClassifierConfig(
        num_classes=len(classes), cell=arch["cell"], num_layers=arch["layers"],
        units=arch["units"], vocabulary_size=tok.vocabulary_size if tok else 0,
        embedding_dim=arch["embedding_dim"], input_dim=0 if tok else train.x.shape[2],
        sequence_length=fixed if tok else train.x.shape[1], bidirectional=bidirectional,
        merge_mode=merge_mode, dropout=dropout, pooling=pooling, dense=list(dense),
        embedding_dropout=embedding_dropout if tok else 0.0,
        locked_dropout=locked_dropout).validate()
    inputs = {name: _encode(s, tok, max_len) for name, s in sets.items()}
    targets = {name: cdata.encode_labels(s.labels, classes, f"the {name} data")
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
                  "freeze_epochs": freeze_epochs},
    }
    from rnnlm.classify_training import fit
    from rnnlm.training import TrainingDiverged, diverged_run

    with runs.new_run(out, force, resumable=False) as earlier:
        try:
            fit(out, run_config, config, tok, inputs, targets, from_lm, quiet,
                epoch_saved=earlier.release)
        except TrainingDiverged as e:  # as the language model's: no half-made run is left
            raise diverged_run(e, out, new=True) from None
        clf = load_classifier(out)
        _final_metrics(clf, out, inputs, targets)  # still locked: the run is still being written
    return clf


def _read_sets(data, valid, test, valid_fraction, max_train, seed, read: dict) -> dict:
    """{"train", "valid", "test"} examples (absent ones left out), all of one kind, none empty
    (checked here, before the run directory is touched: an empty set cannot be evaluated)."""
    train = cdata.read_dataset(data, "train", **read)
    if max_train is not None and max_train < len(train):
        train = train.subset(np.random.default_rng(seed).permutation(len(train))[:max_train])
    classes = cdata.label_list(train.labels)  # checked before the split: it keeps every class
    if len(classes) < 2:
        raise RnnlmError(f"the training data has only one class ({classes[0]!r}); "
                         f"a classifier needs at least two")
    if valid is not None:
        valid_set = cdata.read_like_a_card(valid, "valid", data, read)
    elif valid_fraction > 0:
        examples = len(train)
        train, valid_set = cdata.split_validation(train, valid_fraction, seed)
        if not len(valid_set):
            raise RnnlmError(
                f"the data set is too small for a validation split: {examples} examples, and "
                f"--valid-fraction {valid_fraction} of each class rounds to none (a class needs "
                f"at least {cdata.validation_minimum(valid_fraction)} examples); give a separate "
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


def _check_train_options(epochs, batch_size, lr, valid_fraction, max_len, freeze_epochs, from_lm,
                         max_train=None, clipnorm=None, seed=0):
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("max_len", max_len)):
        check_positive(name, value, integer=True)
    check_positive("lr", lr)  # a NaN or infinite rate would train, and save, a run of NaNs
    check_positive("clipnorm", clipnorm, allow_none=True)
    if not 0.0 <= valid_fraction < 1.0:
        raise RnnlmError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    if freeze_epochs and from_lm is None:
        raise RnnlmError("--freeze-epochs needs --from-lm (it freezes the transferred layers)")
    if not 0 <= freeze_epochs <= epochs:
        raise RnnlmError(f"--freeze-epochs (freeze_epochs=) must be in [0, --epochs {epochs}], "
                         f"got {freeze_epochs}")
    check_seed(seed)
    if max_train is not None and max_train < 1:
        raise RnnlmError(f"--max-train (max_train=) must be > 0, got {max_train}")


def _encode(examples, tok, max_len):
    return cdata.encode_texts(tok, examples.texts, max_len) if tok is not None else examples.x


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


def _is_text(data) -> bool:
    """A text, or texts, given to a classifier of numeric sequences."""
    if isinstance(data, str):
        return True
    if isinstance(data, np.ndarray):
        return data.dtype.kind in "US"
    return isinstance(data, (list, tuple)) and bool(data) and all(isinstance(t, str) for t in data)


class Classifier:
    """A trained sequence classifier: ``model`` (keras), ``tokenizer`` (None for numeric
    sequences), ``classes`` (original labels in class-id order) and its run directory."""

    def __init__(self, model, tokenizer, config: dict, run_dir: Path | None = None):
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.classes = list(config["classes"])
        self.run_dir = Path(run_dir) if run_dir is not None else None

    def __repr__(self) -> str:
        m = self.config["model"]
        what = f"{self.tokenizer.kind} tokenizer" if self.tokenizer else f"{m['input_dim']} features"
        return (f"Classifier({'bi' if m['bidirectional'] else ''}{m['cell']} {m['num_layers']}×"
                f"{m['units']}, pooling {m['pooling']}, {what}, classes {self.classes})")

    @property
    def max_len(self) -> int | None:
        return self.config["train"].get("max_len")

    def _inputs(self, data):
        if data is None:
            raise RnnlmError("nothing to classify: give a text, a list of texts or an array")
        if self.tokenizer is not None:
            if not isinstance(data, str) and not hasattr(data, "__iter__"):
                raise RnnlmError("this classifier reads text: give strings")
            texts = [data] if isinstance(data, str) else list(data)
            if not texts:
                raise RnnlmError("nothing to classify: no texts given")
            if not all(isinstance(t, str) for t in texts):
                raise RnnlmError("this classifier reads text: give strings")
            return cdata.encode_texts(self.tokenizer, texts, self.max_len)
        if _is_text(data):
            raise RnnlmError(f"this classifier reads numeric sequences ({self.config['model']['input_dim']} "
                             f"features per step), not text: give an array (N, T, F), or "
                             f"--file X.npz on the command line")
        x = cdata.sequences_array(data)
        if x.shape[2] != self.config["model"]["input_dim"]:
            raise RnnlmError(f"the model reads {self.config['model']['input_dim']} features "
                             f"per step, the input has {x.shape[2]}")
        return x

    def predict_proba(self, data, batch_size: int = 256) -> np.ndarray:
        """Class probabilities (N, classes) for texts, or for an (N, T, F) array."""
        inputs = self._inputs(data)
        return self._probabilities(inputs, batch_size)

    def predict(self, data, batch_size: int = 256):
        """(label, probability) per input; a single input gives a single Prediction.

        Inputs: a text or a list of texts; for numeric models an (N, T, F) array, or one
        (T, F) sequence (with one feature per step a 2-D array is read as N sequences).
        """
        single = isinstance(data, str)
        if self.tokenizer is None and not _is_text(data):
            data = np.asarray(data)
            single = data.ndim == 2 and self.config["model"]["input_dim"] != 1
            data = data[None] if single else data
        probabilities = self.predict_proba(data, batch_size)
        best = probabilities.argmax(axis=1)
        out = [Prediction(self.classes[i], float(p[i])) for i, p in zip(best, probabilities)]
        return out[0] if single else out

    def evaluate(self, data, split: str = "test", batch_size: int = 256, **read_options) -> dict:
        """Metrics on labelled data: a path or card name (read like training data, with
        text_column/label_column/header/data_dir/encoding), or an ``(inputs, labels)`` pair.

        A CSV/TSV is read with the run's own text and label columns unless others are given."""
        if split not in ("train", "valid", "test"):
            raise RnnlmError(f"split must be train, valid or test, got {split!r}")
        if isinstance(data, tuple):
            if len(data) != 2:
                raise RnnlmError(f"give data as (inputs, labels), a pair; got {len(data)} items")
            inputs, labels = self._inputs(data[0]), list(data[1])
            if len(labels) != len(inputs):
                raise RnnlmError(f"{len(inputs)} inputs but {len(labels)} labels")
        else:
            examples = data if isinstance(data, cdata.Examples) else \
                cdata.read_dataset(data, split, **self._read_defaults(data, read_options))
            if (examples.kind == "text") != (self.tokenizer is not None):
                raise RnnlmError(f"this classifier reads {'text' if self.tokenizer else 'numeric sequences'}"
                                 f", the data is {examples.kind} data")
            inputs = self._inputs(examples.texts if examples.texts is not None else examples.x)
            labels = examples.labels
        return self._metrics(inputs, cdata.encode_labels(labels, self.classes, "the data"),
                             batch_size)

    def read_inputs(self, path, text_column=None, encoding: str | None = None,
                    header: bool | None = None):
        """Unlabelled inputs for ``predict`` from a file (see ``classify_data.read_inputs``);
        a CSV/TSV's text column, header row and encoding default to the run's (a column given
        by name means a header). A text column given for another kind of file (NSMC's
        tab-separated .txt) reads it as a table too."""
        table = text_column is not None
        encoding = encoding or self._encoding()
        if header is None:
            header = self._header() if text_column is None or str(text_column).isdigit() else True
        if text_column is None:
            text_column = self.column("text_column")
        return cdata.read_inputs(path, self.tokenizer is not None, text_column, encoding,
                                 header=header, table=table)

    def _encoding(self) -> str:
        """The run's training data's encoding: its other files are most often in it too."""
        return (self.config.get("source") or {}).get("encoding") or "utf-8"

    def _header(self) -> bool:
        """Whether the run's training file had a header row (--no-header: it had not)."""
        header = (self.config.get("source") or {}).get("header")
        return True if header is None else bool(header)

    def column(self, key: str):
        """The run's "text_column" or "label_column": the one given at training, else the
        corpus card's when the run was trained on a card; None means the default name."""
        source = self.config.get("source") or {}
        if source.get(key) is not None:
            return source[key]
        return cdata.card_columns(source.get("data")).get(key)

    def _read_defaults(self, data, options: dict) -> dict:
        """read_dataset options with the run's columns filled in for a file (a corpus card
        name keeps its card's columns), and the run's encoding."""
        options = dict(options)
        is_file = Path(str(data)).expanduser().exists()
        if is_file:
            for key in ("text_column", "label_column"):
                if options.get(key) is None:
                    options[key] = self.column(key)
        if options.get("header") is None:  # a file read like the run's (--no-header kept)
            options["header"] = self._header() if is_file else True
        if options.get("encoding") is None:  # and in its encoding (a card's files: UTF-8)
            options["encoding"] = self._encoding() if is_file else "utf-8"
        return options

    def _metrics(self, inputs, y, batch_size: int = 256) -> dict:
        if not len(inputs):
            raise RnnlmError("nothing to evaluate: the data holds no examples")
        self._probabilities(inputs[:batch_size], batch_size)  # warm-up: tracing is not timed
        started = time.perf_counter()
        probabilities = self._probabilities(inputs, batch_size)
        seconds = time.perf_counter() - started
        return classification_metrics(y, probabilities, self.classes, seconds)

    def _probabilities(self, inputs, batch_size: int) -> np.ndarray:
        check_positive("batch_size", batch_size, integer=True)
        if not len(inputs):  # Keras's predict fails on an empty dataset with an internal error
            raise RnnlmError("nothing to classify: no inputs given")
        fixed = self.config["model"]["sequence_length"] if self.tokenizer is not None else None
        ds = cdata.dataset(inputs, None, batch_size, shuffle=False, fixed_length=fixed)
        from rnnlm.tf_logs import no_retracing_warnings

        with no_retracing_warnings():  # a process that loads several classifiers: Keras's own
            probabilities = self.model.predict(ds, verbose=0)
        out = np.empty_like(probabilities)
        out[cdata.batch_order(inputs, batch_size)] = probabilities  # undo the length sort
        return out

    def info(self) -> dict:
        state = {}
        if self.run_dir is not None and (self.run_dir / "state.json").exists():
            state = runs.read_json(self.run_dir / "state.json")
        metrics = {}
        if self.run_dir is not None and (self.run_dir / "metrics.json").exists():
            metrics = runs.read_json(self.run_dir / "metrics.json")
        return {"kind": KIND, "run_dir": str(self.run_dir),
                "format_version": self.config.get("format_version"),
                "source": self.config.get("source"), "tokenizer": self.config.get("tokenizer"),
                "vocabulary_size": self.tokenizer.vocabulary_size if self.tokenizer else None,
                "classes": self.classes, "model": self.config["model"],
                "train": self.config["train"], "layers": self.model.layer_rows(),
                "total_parameters": int(self.model.count_params()),
                "epochs_done": state.get("epochs_done"), "best": state.get("best", {}),
                "train_seconds": state.get("train_seconds"), "metrics": metrics}

    def format_info(self, details: dict | None = None) -> str:
        return format_classifier_info(details or self.info())

    def save(self, directory) -> Path:
        """Copy the run (config, tokenizer, weights, history, metrics) to ``directory``."""
        from rnnlm import runs

        return runs.copy_run(self.run_dir, directory, what="classifier")


def _data_files(source: dict) -> str:
    named = [f"{what} {source[key]}" for key, what in (("valid", "validation"), ("test", "test"))
             if source.get(key)]
    return ", ".join([str(source.get("data")), *named])


def best_figures(best: dict, between: str = ", ") -> str:
    """The best epoch's validation loss and accuracy; a run without validation data was judged
    on its training figures, and says so (as the language model's lines do)."""
    if best.get("val_loss") is not None:
        return between.join(f"{k} {best[k]:.4f}" for k in ("val_loss", "val_accuracy")
                            if best.get(k) is not None)
    figures = [f"training {k} {best[k]:.4f}" for k in ("loss", "accuracy")
               if best.get(k) is not None]
    return between.join(figures) + ", no validation data"


def format_classifier_info(details: dict) -> str:
    m, t, best = details["model"], details.get("tokenizer"), details.get("best") or {}
    options = "".join(f", {key} {value}" for key, value in (t or {}).get("options", {}).items()
                      if value is not None)  # as the language model's info writes them
    reads = (f"{t['kind']} tokenizer{options}, vocabulary {details['vocabulary_size']}, "
             f"max_len {details['train'].get('max_len')}" if t else
             f"numeric sequences, {m['input_dim']} features per step, {m['sequence_length']} steps")
    bi = f"bidirectional ({m['merge_mode']}) " if m["bidirectional"] else ""
    dropouts = "".join(f", {name} {m[key]:g}" for key, name in
                       (("embedding_dropout", "embedding dropout"),) if m.get(key))
    dropouts += ", one dropout mask per sequence" if m.get("locked_dropout") else ""
    lines = [f"run          {details['run_dir']}  (classifier, format {details['format_version']})",
             f"data         {_data_files(details.get('source') or {})}",
             f"input        {reads}",
             f"model        {bi}{m['cell']} × {m['num_layers']} "
             f"layer{'s' if m['num_layers'] != 1 else ''}, units {m['units']}, "
             f"pooling {m['pooling']}, dense {m['dense']}, dropout {m['dropout']}{dropouts}",
             *([f"from LM      {details['source']['from_lm']} (its embedding and recurrent "
                f"layers, --from-lm)"]
               if (details.get("source") or {}).get("from_lm") else []),
             f"classes      {len(details['classes'])}: {', '.join(map(str, details['classes'][:20]))}",
             f"training     {describe_train(details['train'])}", "",
             f"{'layer':<16}{'type':<26}{'output':>8}{'params':>12}"]
    for row in details["layers"]:
        lines.append(f"{row['name']:<16}{row['type']:<26}{row['output_width']:>8}"
                     f"{row['parameters']:>12,}")
    lines.append(f"{'total':<50}{details['total_parameters']:>12,}")
    if best:
        lines += ["", f"best epoch   {best.get('epoch')} of {details['epochs_done']}: "
                      f"{best_figures(best, '  ')}"]
    for name, metrics in (details.get("metrics") or {}).items():
        lines += ["", f"--- {name} ---", format_metrics(metrics)]
    return "\n".join(lines)


def load_classifier(run_dir) -> Classifier:
    """Rebuild a trained classifier from its run directory (config → layers → weights)."""
    from rnnlm.models.classifier import ClassifierConfig, SequenceClassifier

    run_dir = runs.as_path(run_dir, "the run directory")
    config = runs.read_config(run_dir)
    if config.get("kind") != KIND:
        raise RnnlmError(f"{run_dir} is a {config.get('kind', 'language_model')} run, "
                         f"not a classifier")
    tok = load_tokenizer(run_dir) if config.get("tokenizer") is not None else None
    model = SequenceClassifier(ClassifierConfig.from_dict(config["model"])).build_for_inference()
    runs.load_run_weights(model, run_dir, tok, config["model"].get("vocabulary_size", 0))
    return Classifier(model, tok, config, run_dir)
