"""How many passes over the training data a run will make, for choices that pay off only in
long runs (defaults.wider_for_long_runs).

Without --time-limit the passes are counted from the epochs. With one they depend on how fast
this machine trains the model, which only a measurement tells: a throwaway copy of the model
trains a few steps on the run's own windows, with the run's optimizer and matmul precision,
after two untimed steps (the first traces the train function).
"""
from __future__ import annotations

import statistics
import time

# The measured steps are training alone; a run also validates and writes checkpoints. The
# 30-minute tiny-shakespeare runs of 1 × 768 trained for 0.93 of their time (the first epoch's
# tracing included), so a time limit's passes are counted at 0.9 of the measured pace.
TRAINING_SHARE = 0.9
WARMUP_STEPS, TIMED_STEPS = 2, 5


def steps_per_pass(train_tokens: int, seq_len: int, batch_size: int) -> int:
    """Batches in one pass over the training windows (data.lm_dataset's layout)."""
    windows = max(1, (train_tokens - 1) // seq_len)
    return max(1, windows // batch_size)


def planned_passes(train_cfg, train_tokens: int) -> float:
    """The passes ``--epochs`` (and ``--steps-per-epoch``) plan, before any time limit."""
    per_pass = steps_per_pass(train_tokens, train_cfg.seq_len, train_cfg.batch_size)
    return train_cfg.epochs * (train_cfg.steps_per_epoch or per_pass) / per_pass


def training_tokens_per_second(model, train_cfg, train_ids) -> float:
    """Tokens/s of ``model`` (compiled, not yet trained by the run) training on ``train_ids``."""
    from rnnlm import data
    from rnnlm.models.precision import set_training_precision

    set_training_precision(model, train_cfg.precision)
    batches = iter(data.lm_dataset(train_ids, train_cfg.seq_len, train_cfg.batch_size,
                                   seed=train_cfg.seed).repeat())
    for _ in range(WARMUP_STEPS):
        model.train_on_batch(*next(batches))
    seconds = []
    for _ in range(TIMED_STEPS):  # the median step: one step slowed by a neighbour is not it
        started = time.perf_counter()
        model.train_on_batch(*next(batches))  # returns the loss as a number: the step is done
        seconds.append(time.perf_counter() - started)
    return train_cfg.batch_size * train_cfg.seq_len / statistics.median(seconds)


def affordable_passes(tokens_per_second: float, time_limit: float, train_tokens: int) -> float:
    return TRAINING_SHARE * time_limit * tokens_per_second / train_tokens
