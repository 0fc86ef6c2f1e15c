"""``Classifier``: a trained sequence classifier as users hold it — predict, evaluate, info —
and ``load_classifier``, which rebuilds one from its run directory (``rnnlm.load`` calls it for a
run whose config.json says kind "classifier"). Training one: ``rnnlm.classification``.
"""
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rnnlm import classify_batches as batches
from rnnlm import classify_data as cdata
from rnnlm import classify_sequences as sequences
from rnnlm import run_contents, runs
from rnnlm.classify_labels import encode_labels
from rnnlm.classify_metrics import classification_metrics, format_metrics
from rnnlm.config import check_positive, describe_train
from rnnlm.errors import RnnlmError, RnnlmWarning
from rnnlm.tokenizers import load_tokenizer

KIND = "classifier"


class Prediction(NamedTuple):
    label: object
    probability: float



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
            return batches.encode_texts(self.tokenizer, texts, self.max_len)
        if _is_text(data):
            raise RnnlmError(f"this classifier reads numeric sequences ({self.config['model']['input_dim']} "
                             f"features per step), not text: give an array (N, T, F), or "
                             f"--file X.npz on the command line")
        x = sequences.sequence_shape(data)
        if x.shape[2] != self.config["model"]["input_dim"]:
            raise RnnlmError(f"the model reads {self.config['model']['input_dim']} features "
                             f"per step, the input has {x.shape[2]}")
        scale = self.config["train"].get("input_scale")
        if scale is None:  # a run from before input_scale was recorded: its reading, uint8 only
            scale = sequences.pixel_scale(x)
        elif scale != 1 and np.issubdtype(x.dtype, np.floating) and x.size and x.max() > 1:
            warnings.warn(f"the model was trained on integer inputs divided by {scale:g} (to "
                          f"[0, 1]), and these floats reach {x.max():g}: divide them by "
                          f"{scale:g} too, or give them as integers", RnnlmWarning, stacklevel=4)
        return sequences.as_float(x, scale)

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
        elif not isinstance(data, (str, os.PathLike, cdata.Examples)):  # a list: no labels
            raise RnnlmError(f"give data as (inputs, labels), a pair, or a file or corpus name; "
                             f"got a {type(data).__name__}")
        else:
            examples = data if isinstance(data, cdata.Examples) else \
                cdata.read_dataset(data, split, **self._read_defaults(data, read_options))
            if (examples.kind == "text") != (self.tokenizer is not None):
                raise RnnlmError(f"this classifier reads {'text' if self.tokenizer else 'numeric sequences'}"
                                 f", the data is {examples.kind} data")
            inputs = self._inputs(examples.texts if examples.texts is not None else examples.x)
            labels = examples.labels
        return self._metrics(inputs, encode_labels(labels, self.classes, "the data"),
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
        ds = batches.dataset(inputs, None, batch_size, shuffle=False, fixed_length=fixed)
        from rnnlm.tf_logs import no_retracing_warnings

        with no_retracing_warnings():  # a process that loads several classifiers: Keras's own
            probabilities = self.model.predict(ds, verbose=0)
        out = np.empty_like(probabilities)
        out[batches.batch_order(inputs, batch_size)] = probabilities  # undo the length sort
        return out

    def info(self) -> dict:
        state = run_contents.read_state(self.run_dir) if self.run_dir is not None else {}
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


def load_classifier(run_dir, weights: bool = True) -> Classifier:
    """Rebuild a trained classifier from its run directory (config → layers → weights;
    ``weights=False``: the layers as built, for ``rnnlm info``)."""
    from rnnlm.models.classifier import ClassifierConfig, SequenceClassifier

    run_dir = runs.as_path(run_dir, "the run directory")
    config = runs.read_config(run_dir)
    if config.get("kind") != KIND:
        raise RnnlmError(f"{run_dir} is a {config.get('kind', 'language_model')} run, "
                         f"not a classifier")
    tok = load_tokenizer(run_dir) if config.get("tokenizer") is not None else None
    run_contents.check_tokenizer_fits(run_dir, tok, config)
    model = SequenceClassifier(run_contents.model_config(run_dir, config, ClassifierConfig)
                               ).build_for_inference()
    if weights:
        run_contents.load_run_weights(model, run_dir)
    return Classifier(model, tok, config, run_dir)
