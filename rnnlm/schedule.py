"""What changes as a run goes on, by its steps or by the clock: the learning rate (warm-up,
cosine, wsd, plateau), the recipe's weight drop switched on once the run is known to be long,
and stopping (the time limit, early stopping). Keras callbacks, used by training.fit."""
from __future__ import annotations

import math
import time

import keras

from rnnlm import defaults


# "wsd" (warm-up, stable, decay) holds the rate for the first 80% of the run and decays it
# linearly to zero over the last 20%: at a short budget the model is far from converged, and
# cosine's early decay costs more progress than its late annealing wins (bench/train.py). A
# decay over the last 40% did worse on the 30-minute char run (1.426 nats/char against 1.4195
# for 20%, the same afternoon). On the wider char default (24 epochs, seed 1) a decay over the
# last 30% ended at 1.4110 and one shaped 1 - sqrt (Hägele et al. 2024) at 1.4123, against
# 1.4108 for this one (bench/train.py, ab24_* runs).
WSD_DECAY_FRACTION = 0.2


class LearningRate(keras.callbacks.Callback):
    """Warm-up, then constant (none), cosine to zero, constant then a linear decay to zero
    over the last fifth (wsd), or ÷4 on a validation plateau.

    Progress (cosine, wsd) is the larger of steps done / steps planned and seconds used / time
    limit, so a run with --time-limit anneals within its budget. The step count is the
    optimizer's own (restored with --resume).
    """

    def __init__(self, base_lr, schedule, warmup_steps, total_steps, time_limit, started):
        super().__init__()
        self.base_lr, self.schedule, self.warmup_steps = base_lr, schedule, warmup_steps
        self.total_steps, self.time_limit, self.started = total_steps, time_limit, started
        self.plateau_scale, self.best = 1.0, None

    def value(self, step: int) -> float:
        lr = self.base_lr * self.plateau_scale
        if self.schedule in ("cosine", "wsd"):
            progress = step / max(self.total_steps, 1)
            if self.time_limit:
                progress = max(progress, (time.perf_counter() - self.started) / self.time_limit)
            progress = min(progress, 1.0)
            if self.schedule == "cosine":
                lr *= 0.5 * (1.0 + math.cos(math.pi * progress))
            else:
                lr *= min(1.0, (1.0 - progress) / WSD_DECAY_FRACTION)
        if self.warmup_steps and step < self.warmup_steps:
            lr *= (step + 1) / self.warmup_steps
        return lr

    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        self.model.optimizer.learning_rate.assign(self.value(step))

    def on_epoch_end(self, epoch, logs=None):
        val = (logs or {}).get("val_loss")
        if self.schedule != "plateau" or val is None:
            return
        if self.best is not None and val >= self.best:
            self.plateau_scale /= 4.0  # PyTorch word_language_model's annealing
        self.best = val if self.best is None else min(self.best, val)

    def replay_plateau(self, history: list[dict]) -> None:
        """--resume: the plateau's scale and best loss as the epochs in history.json left them
        (without this a resumed run would restart at the full learning rate)."""
        for record in history:
            self.on_epoch_end(record["epoch"] - 1, {"val_loss": record.get("val_loss")})


class EarlyStop(keras.callbacks.Callback):
    """Stop when val_loss has not improved for ``patience`` epochs (best weights are already
    what the run directory keeps in model.weights.h5)."""

    def __init__(self, patience: int):
        super().__init__()
        self.patience, self.best, self.bad_epochs, self.stopped = patience, None, 0, False

    def on_epoch_end(self, epoch, logs=None):
        self._count((logs or {}).get("val_loss"))
        if self.bad_epochs >= self.patience:
            self.stopped = True
            self.model.stop_training = True

    def replay(self, history: list[dict]) -> None:
        """--resume: the best loss and the epochs since it, from history.json (the patience
        counts across the pieces of a run, as the plateau's divisions do)."""
        for record in history:
            self._count(record.get("val_loss"))

    def _count(self, val) -> None:
        if val is None:
            return
        if self.best is None or val < self.best:
            self.best, self.bad_epochs = val, 0
        else:
            self.bad_epochs += 1


class TimeLimit(keras.callbacks.Callback):
    """Stop mid-epoch when the budget is spent, keeping back the time validation will need.

    That is the last validation's time once one has run. Before, it is estimated from the
    training pace: a validation window (batch × seq-len tokens, forward only but in float32)
    took 0.8 to 0.93 of a training step in the bench, so it is counted as one. Without the
    estimate, a 30-second run on a 20 MB corpus trained its 30 seconds and then spent five
    minutes validating its 2 MB tail."""

    def __init__(self, seconds: float | None, started: float, validation_windows: int = 0,
                 too_long=None):
        super().__init__()
        self.seconds, self.started, self.reserve = seconds, started, 0.0
        self.validation_windows, self.measured = validation_windows, False
        self.too_long = too_long  # called once with the estimate when it exceeds the budget
        self.hit = False
        self._first_step, self._steps = None, 0  # the pace from the end of the first step,
        # which also traced and compiled the train function

    def validated(self, seconds: float) -> None:
        self.reserve, self.measured = seconds, True

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if not self.measured and self.validation_windows:
            if self._first_step is None:
                self._first_step = now
            else:
                self._steps += 1
                step_seconds = (now - self._first_step) / self._steps
                self.reserve = self.validation_windows * step_seconds
                if self.seconds and self.reserve > self.seconds and self.too_long is not None:
                    self.too_long(self.reserve)  # the run cannot end in time: say so, once
                    self.too_long = None
        if self.seconds and now - self.started + self.reserve >= self.seconds:
            self.hit = True
            self.model.stop_training = True


class WeightDropIfLong(keras.callbacks.Callback):
    """The recipe's weight drop, switched on once the run is known to make at least
    defaults.LONG_RUN_PASSES passes over the training data (it pays off only then).

    Without --time-limit the passes are the steps planned over the steps of one pass, known
    before the first step. With one they depend on the speed: the first epoch trains without
    weight drop, and its pace (its validation and checkpoints included, so the estimate errs
    short) decides for the rest of the run. The pace is timed from the end of the first step,
    which also traced and compiled the train function: on a small corpus that alone can take
    as long as the rest of the epoch (an epoch of one step, on a tiny corpus, leaves the
    decision to the next epoch). ``decided(rate, message)`` is called once."""

    def __init__(self, rate: float, steps_per_pass: int, planned_steps: int,
                 time_limit: float | None, started: float, decided):
        super().__init__()
        self.rate, self.steps_per_pass, self.planned_steps = rate, steps_per_pass, planned_steps
        self.time_limit, self.started, self.decided = time_limit, started, decided
        self.done = False
        self.first_step = None  # (time, steps done) when the first step ended

    def on_train_batch_end(self, batch, logs=None):
        if self.first_step is None and not self.done:
            self.first_step = (time.perf_counter(), int(self.model.optimizer.iterations.numpy()))

    def on_train_begin(self, logs=None):
        planned = self.planned_steps / self.steps_per_pass
        if not self.time_limit or not defaults.long_run(planned):
            self._decide(planned, from_epoch=None)

    def on_epoch_begin(self, epoch, logs=None):
        steps_done = int(self.model.optimizer.iterations.numpy())  # a new run: all this fit's
        if self.done or not steps_done:
            return
        if self.first_step is not None and steps_done <= self.first_step[1]:
            return  # an epoch of one step, the one that traced: the next epoch gives the pace
        now = time.perf_counter()
        affordable = self.time_limit * steps_done / (now - self.started)
        if self.first_step is not None:  # a step after it: the pace after tracing, for the
            since, steps = self.first_step  # time that is left
            pace = (steps_done - steps) / max(now - since, 1e-9)
            affordable = steps_done + pace * max(self.time_limit - (now - self.started), 0.0)
        self._decide(min(self.planned_steps, affordable) / self.steps_per_pass, epoch + 1)

    def _decide(self, passes: float, from_epoch: int | None):
        self.done = True
        counted = (f"{passes:.1f} passes over the data" if from_epoch is None else
                   f"~{passes:.1f} passes over the data fit in --time-limit at the first "
                   f"epoch's pace")
        if not defaults.long_run(passes):
            self.decided(0.0, f"no weight drop: {counted} (it pays off from "
                              f"{defaults.LONG_RUN_PASSES})")
            return
        self.model.backbone.set_weight_drop(self.rate)
        self.model.make_train_function(force=True)  # the rate is read when tracing
        since = "" if from_epoch is None else f" from epoch {from_epoch}"
        self.decided(self.rate, f"weight drop {self.rate:g}{since}: {counted} "
                                f"(≥ {defaults.LONG_RUN_PASSES})")
