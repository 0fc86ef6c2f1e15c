"""How many passes over the training data a run will make, and the model size that affords
(defaults.wider_for_long_runs: a wider model pays off only in long runs).

Without --time-limit the passes are counted from the epochs. With one they depend on how fast
this machine trains the model, which only a measurement tells: a throwaway copy of the model
trains a few steps on the run's own windows, with the run's optimizer and matmul precision,
after two untimed steps (the first traces the train function).
"""
from __future__ import annotations

import math
import statistics
import time

from rnnlm import data, defaults
from rnnlm.config import ModelConfig

# The measured steps are training alone; a run also validates and writes checkpoints. The
# 30-minute tiny-shakespeare runs of 1 × 768 trained for 0.93 of their time (the first epoch's
# tracing included), so a time limit's passes are counted at 0.9 of the measured pace.
TRAINING_SHARE = 0.9
WARMUP_STEPS, TIMED_STEPS = 2, 5


# Batches in one pass over the training windows, as data.lm_dataset lays them out.
steps_per_pass = data.batches_per_pass


def planned_passes(train_cfg, train_tokens: int) -> float:
    """The passes ``--epochs`` (and ``--steps-per-epoch``) plan, before any time limit
    (infinite for a run that trains until its time limit)."""
    if train_cfg.epochs is None:
        return math.inf
    per_pass = steps_per_pass(train_tokens, train_cfg.seq_len, train_cfg.batch_size)
    return train_cfg.epochs * (train_cfg.steps_per_epoch or per_pass) / per_pass


def training_tokens_per_second(model, train_cfg, train_ids) -> float:
    """Tokens/s of ``model`` (compiled, not yet trained by the run) training on ``train_ids``."""
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


def choose_size(train_ids, tok, cell, sizes, model_options, train_cfg, on_gpu, compiled_model,
                say=None) -> tuple[defaults.ModelChoice, str]:
    """The size for the corpus, or the wider one where the run makes enough passes over it
    (with --time-limit, counted at the wider model's measured pace). Returns the choice and
    the passes, as the printed line says them. ``compiled_model(config)``: a model compiled
    as the run's will be; ``say``: where the line about measuring goes (None: nowhere)."""
    kind, tokens = tok.config()["kind"], len(train_ids)
    base = defaults.choose_model(tokens, kind, cell)
    wider = defaults.wider_for_long_runs(base, kind, cell, on_gpu, tokens)
    if wider is None:
        return base, ""
    name = f"{wider.num_layers} × {wider.units}"
    passes = planned_passes(train_cfg, tokens)
    counted = f"{passes:.1f} passes"
    if train_cfg.time_limit and defaults.long_enough_for_wider(passes):
        if say:
            say(f"measuring how fast {name} trains here (a few steps), to count the passes "
                f"that fit in --time-limit ...")
        wider_sizes, _ = defaults.fill_model_options(tokens, kind, cell, sizes, wider)
        probe = ModelConfig(vocabulary_size=tok.vocabulary_size,
                            **{**model_options, "weight_drop": wider.weight_drop},
                            **wider_sizes).validate()
        speed = training_tokens_per_second(compiled_model(probe), train_cfg, train_ids)
        passes = min(passes, affordable_passes(speed, train_cfg.time_limit, tokens))
        counted = f"~{passes:.1f} passes of {name} in --time-limit"
    if defaults.long_enough_for_wider(passes):
        return wider, f" and {counted} (≥ {defaults.WIDER_PASSES}: the wider model)"
    return base, f" and {counted} (the wider {name} pays from {defaults.WIDER_PASSES})"
