"""Fit loops for language models: data + model meet here (DESIGN.md), plus the callbacks that
show and save each epoch (those that act as the run goes on, by steps or the clock: schedule.py).

Per epoch: train on shuffled windows (tqdm bar with live loss), evaluate on the validation
stream with carried state (rnnlm.evaluation: loss, perplexity, bits per character), checkpoint
last and best, append to history.json/.csv and redraw curves.png.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import keras
from tqdm.auto import tqdm

from rnnlm import data
from rnnlm.errors import RnnlmError
from rnnlm.evaluation import evaluate_ids
from rnnlm.models.precision import set_training_precision
from rnnlm.optimizers import averaged_weights
from rnnlm.schedule import EarlyStop, LearningRate, TimeLimit, WeightDropIfLong
from rnnlm.seeding import seed_everything
from rnnlm.tf_logs import no_retracing_warnings

# Keras's fit takes a number of epochs; a run until its time limit gets one it never reaches.
UNTIL_STOPPED = 10**9


# An epoch's last line: a language model's loss and bpc, a classifier's accuracy.
EPOCH_FIGURES = (("loss", ".4f"), ("accuracy", ".4f"), ("val_loss", ".4f"),
                 ("val_accuracy", ".4f"), ("val_bpc", ".3f"))


class ProgressBar(keras.callbacks.Callback):
    """A tqdm bar per epoch with the running training loss (library code never prints)."""

    def __init__(self, steps: int, last_epoch: int | None, disable: bool = False):
        super().__init__()
        self.steps, self.last_epoch, self.disable, self.bar = steps, last_epoch, disable, None

    def on_epoch_begin(self, epoch, logs=None):
        of = "" if self.last_epoch is None else f"/{self.last_epoch}"  # None: until the limit
        self.bar = tqdm(total=self.steps, desc=f"epoch {epoch + 1}{of}",
                        unit="batch", disable=self.disable, leave=True, dynamic_ncols=True)

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)
        if logs and batch % 10 == 0:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}")

    def on_epoch_end(self, epoch, logs=None):
        # The epoch's last line comes after validation: its time would count as the last
        # batches' (an ETA of 116 hours after a long validation), so it keeps the elapsed
        # time and leaves out the rate and the time to go.
        self.bar.bar_format = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"
        logs = logs or {}
        shown = {name: f"{logs[name]:{form}}" for name, form in EPOCH_FIGURES if name in logs}
        # The epoch's own figures (the bar showed the loss of every tenth batch), in this order
        # (tqdm sorts keywords); drawn once, by close: in a log each draw is a line.
        self.bar.set_postfix(shown, refresh=False)
        self.bar.close()

    def close(self):
        """End an epoch's bar that training left unfinished (interrupted)."""
        if self.bar is not None and not self.bar.disable:
            self.bar.close()


class EpochEnd(keras.callbacks.Callback):
    """Validation, checkpoints, history and curves at the end of every (possibly partial) epoch."""

    def __init__(self, run, valid_ids, valid_chars, batch_size, seq_len, time_limit: TimeLimit,
                 precision: str = "float32", stream_length: int | None = None,
                 first_window: int = 0):
        super().__init__()
        self.run, self.valid_ids, self.valid_chars = run, valid_ids, valid_chars
        self.precision = precision  # the matmul dtype this machine trained in (auto resolved)
        self.batch_size, self.seq_len, self.time_limit = batch_size, seq_len, time_limit
        self.epoch_started = time.perf_counter()
        self.tokens_this_epoch = 0
        # --stateful: each stream's length; its last window is shorter when seq_len does not
        # divide it, and tokens/s counts the tokens that window holds.
        self.stream_length, self.batches_done = stream_length, first_window
        self.stream_windows = -(-stream_length // seq_len) if stream_length else None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()
        self.tokens_this_epoch = 0

    def on_train_batch_end(self, batch, logs=None):
        window = self.seq_len
        if self.stream_length is not None:  # the windows of the streams, one pass after another
            start = (self.batches_done % self.stream_windows) * self.seq_len
            window = min(window, self.stream_length - start)
        self.batches_done += 1
        self.tokens_this_epoch += self.batch_size * window

    def on_epoch_end(self, epoch, logs=None):
        train_seconds = time.perf_counter() - self.epoch_started
        record = {"epoch": epoch + 1, "loss": float(logs["loss"]),
                  "train_seconds": train_seconds,
                  "tokens_per_second": self.tokens_this_epoch / max(train_seconds, 1e-9),
                  "lr": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
                  "partial": self.time_limit.hit,
                  "weight_drop": self.model.backbone.weight_drop, "precision": self.precision}
        # With --ema the averaged weights are the ones validated and kept (best, model.weights.h5);
        # the last checkpoint keeps the weights being trained, so --resume continues exactly.
        with averaged_weights(self.model) as averaged:
            if self.valid_ids is not None:
                started = time.perf_counter()
                ev = evaluate_ids(self.model, self.valid_ids, self.valid_chars,
                                  self.batch_size, self.seq_len)
                self.time_limit.validated(time.perf_counter() - started)
                record.update(ev.as_dict("val_"))
                logs.update({k: record[k] for k in ("val_loss", "val_perplexity", "val_bpc")})
            record["elapsed_seconds"] = time.perf_counter() - self.time_limit.started  # this fit
            check_finite(record)  # before anything of this epoch is saved
            self.run.end_epoch(self.model, record, save_last=not averaged)
        if averaged:
            self.run.save_last(self.model)


class TrainingDiverged(RnnlmError):
    """The loss stopped being a number, or any sane one; nothing of the epoch it happened in
    was saved."""


# Nats per token no training reaches: a uniform guess over a million tokens costs 13.8. A run
# whose weights blew up can stay finite in float32 (lr 1e30: a loss of 5e30, where bfloat16
# overflowed to NaN), and would otherwise go on and save it as its epoch.
DIVERGED_LOSS = 1e4


def diverged_run(error: TrainingDiverged, out: Path, new: bool) -> RnnlmError:
    """The line for a run that diverged: a new run without one finished epoch is removed, so
    no half-made run is left behind; any other keeps its last good epoch."""
    from rnnlm import runs

    if new and runs.discard_if_no_epoch(out):
        return RnnlmError(f"{error}; the new run was not kept")
    return RnnlmError(f"{error}; {out} keeps its last good epoch")


def check_finite(record: dict) -> None:
    for key in ("loss", "val_loss"):
        value = record.get(key)
        if value is not None and not (math.isfinite(value) and value < DIVERGED_LOSS):
            raise TrainingDiverged(
                f"training diverged in epoch {record['epoch']}: {key} is {value:g}; nothing of "
                f"that epoch was saved. Lower --lr (it is {record['lr']:g}) or --clipnorm")


def lm_loss():
    """The language model's training loss. The model ends in logits, and the softmax is taken
    inside the loss, where Keras computes it stably (log-sum-exp)."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


class ResetCarried(keras.callbacks.Callback):
    """--stateful: every pass starts its streams from zero states (at window 0; a --resume that
    goes on from the middle of a pass starts there from zeros too)."""

    def __init__(self, windows_per_pass: int, first_window: int):
        super().__init__()
        self.windows_per_pass, self.window = windows_per_pass, first_window

    def on_train_batch_begin(self, batch, logs=None):
        if self.window % self.windows_per_pass == 0:
            self.model.carried.reset()
        self.window += 1


def batches_in_one_pass(dataset, train_tokens: int, train_cfg) -> int:
    """The dataset's own count (stateful: the windows of a stream, the last one shorter, so that
    every epoch starts at window 0), or for the endless random-offsets stream the batches of
    one pass of shuffled windows."""
    count = int(dataset.cardinality())
    if count >= 0:
        return count
    return data.batches_per_pass(train_tokens, train_cfg.seq_len, train_cfg.batch_size)


def fit(model, run, train_ids, valid_ids, valid_chars, train_cfg, initial_epoch=0,
        tensorboard_dir: Path | None = None, quiet: bool = False,
        weight_drop_if_long: float = 0.0) -> bool:
    """Teacher-forced training; returns True when it stopped at the time limit.

    ``weight_drop_if_long``: the recipe's weight drop, which this run gets only if it is long
    enough (WeightDropIfLong); the rate decided is written into the run's config."""
    seed_everything(train_cfg.seed + initial_epoch)
    requested = train_cfg.precision
    chosen = set_training_precision(model, requested)
    if requested == "auto" and chosen != "float32" and not quiet:
        which = ("training matmuls" if model.config.cell == "lstm"  # rnnlm's own LSTM kernel
                 else f"the output layer's training matmuls (the {model.config.cell} cell's stay "
                      f"float32)")
        print(f"{which} in {chosen} (this CPU multiplies bfloat16 natively; weights, loss and "
              f"evaluation stay float32; --precision float32 turns it off)", flush=True)
    stateful = train_cfg.stateful
    if stateful:
        from rnnlm.models.language_model import CarriedState

        dataset = data.stream_dataset(train_ids, train_cfg.seq_len, train_cfg.batch_size)
        model.carried = CarriedState(model, train_cfg.batch_size)
    else:
        dataset = data.lm_dataset(train_ids, train_cfg.seq_len, train_cfg.batch_size,
                                  seed=train_cfg.seed + initial_epoch,
                                  random_offsets=train_cfg.random_offsets)
    steps_per_pass = batches_in_one_pass(dataset, len(train_ids), train_cfg)
    steps = train_cfg.steps_per_epoch or steps_per_pass
    # One iterator for the whole run: Keras re-creates the iterator of a finite dataset at
    # every epoch, and that sometimes stalled ~10 s before an epoch's first batch. Repeated,
    # with steps_per_epoch equal to one pass, epochs still start at window 0 of the streams.
    dataset = dataset.repeat()
    # The streams go on where the run left them: a run cut by --time-limit mid-pass and
    # resumed started again at window 0, so short sessions on a big corpus only ever saw its
    # first few percent. (Shuffled windows need nothing: each epoch draws its own order.)
    first_window = int(model.optimizer.iterations.numpy()) % steps_per_pass if stateful else 0
    if first_window:
        dataset = dataset.skip(first_window)
    started = time.perf_counter()
    def too_long(seconds):
        if not quiet:
            tqdm.write(f"warning: validating the {len(valid_ids):,} held-out tokens will take "
                       f"~{seconds:,.0f} s at this pace, longer than --time-limit "
                       f"{train_cfg.time_limit:g} s: the run will end late; give a smaller "
                       f"--valid-fraction (or a --valid file)")
    limit = TimeLimit(train_cfg.time_limit, started, validation_windows=0 if valid_ids is None
                      else data.eval_windows(len(valid_ids), train_cfg.batch_size, train_cfg.seq_len),
                      too_long=too_long)
    # epochs None: until the time limit (TimeLimit stops it); the step plan is then unbounded,
    # so the schedules' progress and the weight-drop decision go by the clock alone.
    planned_steps = math.inf if train_cfg.epochs is None else train_cfg.epochs * steps
    last_epoch = None if train_cfg.epochs is None else initial_epoch + train_cfg.epochs
    # The schedule's end: the steps already taken (the optimizer's own count, restored with
    # --resume, whatever batch size or steps per epoch they were taken with) plus this fit's.
    steps_done = int(model.optimizer.iterations.numpy())
    learning_rate = LearningRate(train_cfg.lr, train_cfg.lr_schedule, train_cfg.warmup_steps,
                                 steps_done + planned_steps, train_cfg.time_limit, started)
    learning_rate.replay_plateau(run.history)
    early_stop = EarlyStop(train_cfg.early_stopping) if train_cfg.early_stopping else None
    if early_stop is not None:
        early_stop.replay(run.history)
    # EpochEnd first: it validates and adds val_loss to the epoch's logs, which the schedule's
    # plateau, early stopping and the progress bar's last line read after it.
    stream_length = data.stream_length(len(train_ids), train_cfg.batch_size) if stateful else None
    progress = ProgressBar(steps, last_epoch, disable=quiet)
    callbacks = [EpochEnd(run, valid_ids, valid_chars, train_cfg.batch_size, train_cfg.seq_len,
                          limit, precision=chosen, stream_length=stream_length,
                          first_window=first_window), progress, limit, learning_rate]
    if stateful:
        callbacks.insert(0, ResetCarried(steps_per_pass, first_window))
    if weight_drop_if_long:
        def decided(rate, message):
            if rate:
                run.record_model_option("weight_drop", rate)
            if not quiet:
                print(message, flush=True)

        # First, so that its line comes before the next epoch's progress bar.
        callbacks.insert(0, WeightDropIfLong(weight_drop_if_long, steps_per_pass,
                                             planned_steps, train_cfg.time_limit,
                                             started, decided))
    if early_stop is not None:
        callbacks.append(early_stop)
    if tensorboard_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir)))
    try:
        with no_retracing_warnings():  # the second training in one process: Keras's own
            model.fit(dataset, epochs=last_epoch or UNTIL_STOPPED, initial_epoch=initial_epoch,
                      steps_per_epoch=steps, callbacks=callbacks,
                      shuffle=False, verbose=0)  # the dataset orders its own windows (data.py)
    finally:
        model.carried = None
        progress.close()  # Ctrl-C mid-epoch: what is said next starts a line of its own
    if early_stop is not None and early_stop.stopped and not quiet:
        print(f"stopped early: validation loss has not improved for {early_stop.bad_epochs} "
              f"epochs (--early-stopping {early_stop.patience})", flush=True)  # more after a
        # --resume of a run that had already gone epochs without improving
    return limit.hit
