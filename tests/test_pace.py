"""Counting a run's passes over the training data (rnnlm.pace)."""
import math

import numpy as np

from rnnlm import api, pace
from rnnlm.config import ModelConfig, TrainConfig


def test_planned_passes_count_epochs_and_steps_per_epoch():
    # 3,201 tokens, windows of 100 → 32 windows → 8 batches of 4 per pass.
    assert pace.steps_per_pass(3_201, 100, 4) == 8
    assert pace.planned_passes(TrainConfig(seq_len=100, batch_size=4, epochs=10), 3_201) == 10
    short = TrainConfig(seq_len=100, batch_size=4, epochs=10, steps_per_epoch=2)
    assert pace.planned_passes(short, 3_201) == 2.5
    until = TrainConfig(seq_len=100, batch_size=4, epochs=None, time_limit=60)  # until the limit
    assert pace.planned_passes(until, 3_201) == math.inf
    assert pace.affordable_passes(1_000, 100, 9_000) == 10  # 0.9 × 100 s × 1,000 tok/s


def test_the_measured_pace_is_a_throwaway_models_training_speed():
    config = TrainConfig(seq_len=16, batch_size=4, epochs=1).validate()
    model, _ = api._compiled_model(ModelConfig(vocabulary_size=12, units=8, embedding_dim=4),
                                   config)
    before = [w.copy() for w in model.get_weights()]
    ids = np.random.default_rng(0).integers(1, 12, 500).astype(np.uint16)
    speed = pace.training_tokens_per_second(model, config, ids)
    assert np.isfinite(speed) and speed > 0
    # It trained that copy (7 steps), so the measurement is of real training steps.
    assert int(model.optimizer.iterations.numpy()) == pace.WARMUP_STEPS + pace.TIMED_STEPS
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
