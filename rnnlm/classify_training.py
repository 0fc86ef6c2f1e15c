"""The classifier's fit loop: encoded data and the model meet here (as in training.py for LMs).

With ``--from-lm`` and ``--freeze-epochs K`` training runs in two phases (ULMFiT's gradual
unfreezing, in its simplest form)::

    epochs 1..K     backbone (embedding + recurrent layers) frozen, only the head learns
    epochs K+1..N   everything learns, with a fresh Adam (its moments would not cover the
                    newly trainable weights)

Every epoch: validation loss/accuracy, best weights by validation loss (model.weights.h5,
backbone.weights.h5 and checkpoints/best.weights.h5), history.json/.csv and curves.png.
"""
from __future__ import annotations

import time
from pathlib import Path

import keras

from rnnlm import runs
from rnnlm.checkpoints import RunWriter
from rnnlm.classify_batches import dataset
from rnnlm.classify_metrics import plot_curves
from rnnlm.config import FORMAT_VERSION
from rnnlm.errors import RnnlmError, first_line
from rnnlm.seeding import seed_everything
from rnnlm.tf_logs import no_retracing_warnings
from rnnlm.tokenizers import load_tokenizer


class ClassifierRun(RunWriter):
    """A RunWriter whose tokenizer may be absent (numeric sequences) and whose curves show
    accuracy as well as loss. A classifier has no --resume: no last checkpoint, which would be
    a copy of the weights each epoch that nothing reads."""

    resumable = False

    def start(self, config: dict, tokenizer) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        runs.write_json(self.dir / "config.json", {"format_version": FORMAT_VERSION, **config})
        if tokenizer is not None:
            tokenizer.save(self.dir)

    def plot(self) -> None:
        plot_curves(self.history, self.dir / "curves.png")


class EpochRecord(keras.callbacks.Callback):
    """One history row per epoch: loss/accuracy, validation figures, time spent training."""

    def __init__(self, run: ClassifierRun, examples: int, frozen: bool):
        super().__init__()
        self.run, self.examples, self.frozen = run, examples, frozen
        self.started = self.cpu_started = self.train_seconds = self.cpu_seconds = None

    def on_epoch_begin(self, epoch, logs=None):
        self.started, self.cpu_started = time.perf_counter(), time.process_time()
        self.train_seconds = None

    def on_test_begin(self, logs=None):  # validation starts: the training part of the epoch ends
        if self.started is not None and self.train_seconds is None:
            self._stop_clock()

    def _stop_clock(self):
        self.train_seconds = time.perf_counter() - self.started
        self.cpu_seconds = time.process_time() - self.cpu_started

    def on_epoch_end(self, epoch, logs=None):
        if self.train_seconds is None:
            self._stop_clock()
        logs = logs or {}
        record = {"epoch": epoch + 1, "loss": float(logs["loss"]),
                  "accuracy": float(logs.get("accuracy", float("nan"))),
                  "train_seconds": self.train_seconds, "cpu_seconds": self.cpu_seconds,
                  "examples_per_second": self.examples / max(self.train_seconds, 1e-9),
                  "frozen_backbone": self.frozen}
        for key in ("val_loss", "val_accuracy"):
            if key in logs:
                record[key] = float(logs[key])
        from rnnlm.training import check_finite  # as the language model's: NaN is not saved

        rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        check_finite({**record, "lr": rate})  # before anything of this epoch is saved
        self.run.end_epoch(self.model, record)


def fit(out: Path, run_config: dict, config, tok, inputs: dict, targets: dict, from_lm,
        quiet: bool, epoch_saved=None) -> None:
    from rnnlm.models.classifier import SequenceClassifier
    from rnnlm.training import ProgressBar

    t = run_config["train"]
    seed_everything(t["seed"])
    model = SequenceClassifier(config).build_for_inference()
    if from_lm is not None:
        transfer_from_lm(model, from_lm, tok)
    fixed = config.sequence_length if tok is not None else None
    train_ds = dataset(inputs["train"], targets["train"], t["batch_size"], shuffle=True,
                       seed=t["seed"], fixed_length=fixed)
    valid_ds = (dataset(inputs["valid"], targets["valid"], max(t["batch_size"], 256),
                        shuffle=False, fixed_length=fixed)
                if len(inputs.get("valid", ())) else None)  # an empty set cannot be evaluated
    steps = int(train_ds.cardinality())
    run = ClassifierRun(out, epoch_saved=epoch_saved)
    run.start(run_config, tok)
    freeze = t["freeze_epochs"]
    phases = ([(0, freeze, True)] if freeze else []) + [(freeze, t["epochs"], False)]
    for start, stop, frozen in phases:
        if stop <= start:
            continue
        model.backbone.trainable = not frozen
        optimizer = keras.optimizers.Adam(learning_rate=t["lr"], clipnorm=t["clipnorm"])
        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(),
                      metrics=["accuracy"])
        progress = ProgressBar(steps, t["epochs"], disable=quiet)
        try:
            with no_retracing_warnings():  # Keras's own, as each new model makes its functions
                model.fit(train_ds, validation_data=valid_ds, epochs=stop, initial_epoch=start,
                          callbacks=[progress, EpochRecord(run, len(targets["train"]), frozen)],
                          shuffle=False, verbose=0)  # the dataset reshuffles itself every epoch
        finally:
            progress.close()  # Ctrl-C mid-epoch: what is said next starts a line of its own
    model.backbone.trainable = True


def lm_tokenizer_and_model(lm_dir, tokenizer, tok_options, arch, bidirectional):
    """The language model's tokenizer and architecture; explicit options must agree with them."""
    lm_dir = Path(lm_dir)
    config = runs.read_config(lm_dir)
    if config.get("kind", "language_model") != "language_model":
        raise RnnlmError(f"--from-lm {lm_dir} is not a language model run")
    tok = load_tokenizer(lm_dir)
    if tokenizer is not None and tokenizer != tok.kind:
        raise RnnlmError(f"tokenizer mismatch: --from-lm {lm_dir} uses the {tok.kind} tokenizer, "
                         f"not {tokenizer}; leave --tokenizer out to reuse the language model's")
    for key, value in tok_options.items():
        if value is not None and tok.options().get(key, value) != value:
            raise RnnlmError(f"tokenizer mismatch: --from-lm {lm_dir} has {key} "
                             f"{tok.options()[key]}, not {value}")
    model = config["model"]
    names = {"layers": "num_layers"}
    for key, value in arch.items():
        if value is not None and value != model[names.get(key, key)]:
            raise RnnlmError(f"--from-lm fixes the architecture: {key} is "
                             f"{model[names.get(key, key)]} in {lm_dir}, not {value}")
    if bidirectional:
        raise RnnlmError("--from-lm cannot start a bidirectional classifier: the language model "
                         "reads left to right only")
    return tok, model


def transfer_from_lm(model, lm_dir, tokenizer) -> None:
    """Load a language model's embedding and recurrent weights into ``model.backbone``.

    The tokenizers must be the same (kind, options and vocabulary): ids mean nothing otherwise.
    """
    lm_dir = Path(lm_dir)
    runs.read_config(lm_dir)
    lm_tok = load_tokenizer(lm_dir)
    if tokenizer is None or tokenizer.config() != lm_tok.config() or \
            tokenizer.vocabulary() != lm_tok.vocabulary():
        mine = "no tokenizer" if tokenizer is None else f"{tokenizer.kind} {tokenizer.options()}"
        raise RnnlmError(f"tokenizer mismatch: {lm_dir} was trained with {lm_tok.kind} "
                         f"{lm_tok.options()} (vocabulary {lm_tok.vocabulary_size}), this "
                         f"classifier uses {mine}")
    path = lm_dir / "backbone.weights.h5"
    if not path.exists():
        raise RnnlmError(f"{lm_dir} has no backbone.weights.h5 to start from")
    try:
        model.backbone.load_weights(path)
    except Exception as e:  # shape mismatches come as several exception types
        raise RnnlmError(f"cannot load {path} into this classifier: {first_line(e)}") from None
