"""Counting a run's passes over the training data (rnnlm.pace)."""
import math

import numpy as np

from rnnlm import fitting, pace
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
    model, _ = fitting.compiled_model(ModelConfig(vocabulary_size=12, units=8, embedding_dim=4),
                                      config)
    before = [w.copy() for w in model.get_weights()]
    ids = np.random.default_rng(0).integers(1, 12, 500).astype(np.uint16)
    speed = pace.training_tokens_per_second(model, config, ids)
    assert np.isfinite(speed) and speed > 0
    # It trained that copy (7 steps), so the measurement is of real training steps.
    assert int(model.optimizer.iterations.numpy()) == pace.WARMUP_STEPS + pace.TIMED_STEPS
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_a_time_limit_too_short_for_the_corpus_size_takes_a_smaller_one(monkeypatch):
    """--time-limit training the size for the corpus on under MIN_TOKENS_PER_PARAMETER tokens
    per recurrent parameter: the first size down the ladder it trains on that many. (On
    tiny-shakespeare in 1 minute 1 × 512 at 1.8 ended at 1.595 nats/char, 1 × 256 at 15 at
    1.568; in 2 minutes 1 × 512 at 3.6 won.)"""
    from types import SimpleNamespace

    from rnnlm import defaults

    class Tok:
        vocabulary_size = 65

        def config(self):
            return {"kind": "char"}

    ids = np.ones(1_003_854, np.uint16)  # tiny-shakespeare's size: 1 × 512 for the corpus
    speeds = {768: 2_000, 512: 4_000, 256: 20_000, 128: 50_000}  # tokens/s, by width
    measured = []

    def speed(model, train_cfg, train_ids):
        measured.append(model.units)
        return speeds[model.units]

    monkeypatch.setattr(pace, "training_tokens_per_second", speed)
    sizes = dict.fromkeys(["num_layers", "units", "embedding_dim", "dropout", "tie_weights"])

    def choose(**train):
        config = TrainConfig(seq_len=100, batch_size=32, **train)
        return pace.choose_size(ids, Tok(), "lstm", sizes, {}, config, False,
                                lambda model_config: SimpleNamespace(units=model_config.units))

    choice, line = choose(epochs=None, time_limit=300)  # 1 × 512: 0.9 × 300 × 4,000 / 1M ≈ 1.1
    # The base is measured first: at ~1.1 passes neither it nor the slower wider model makes
    # the wider one's 16, so the wider one is not measured at all.
    assert (choice.num_layers, choice.units) == (1, 256) and measured == [512, 256]
    assert ("only ~1.1 passes of 1 × 512 (0.91 tokens per parameter) in --time-limit (under "
            "3.2: a smaller size)") in line
    measured.clear()
    speeds[512] = 12_000  # ~3.2 passes, yet 2.7 tokens per parameter: passes alone are not it
    choice, line = choose(epochs=None, time_limit=300)
    assert choice.units == 256 and "(2.7 tokens per parameter)" in line
    measured.clear()
    speeds[512] = 40_000  # ~10.8 passes: the size for the corpus, and too few for the wider
    choice, line = choose(epochs=None, time_limit=300)
    assert (choice.units, measured) == (512, [512]) and "smaller" not in line
    assert "~10.8 passes of 1 × 512 in --time-limit (the wider 1 × 768 pays from 16)" in line
    measured.clear()
    speeds[512], speeds[768] = 80_000, 60_000  # 21.5 and 16.1 passes: the wider model
    choice, line = choose(epochs=None, time_limit=300)
    assert (choice.units, measured) == (768, [512, 768])
    assert "~16.1 passes of 1 × 768 in --time-limit (≥ 16: the wider model)" in line
    measured.clear()
    speeds[768] = 30_000  # the base makes 16 passes, the wider one 8.1: the base
    choice, line = choose(epochs=None, time_limit=300)
    assert (choice.units, measured) == (512, [512, 768])
    assert "~8.1 passes of 1 × 768 in --time-limit (the wider 1 × 768 pays from 16)" in line
    measured.clear()
    speeds[768], speeds[512] = 2_000, 40_000  # --epochs 10 plan 10 passes, the clock ends 1 ×
    choice, line = choose(epochs=10, time_limit=120)  # 512 at ~4.3: the line says the clock's
    assert choice.units == 512 and measured == [512]
    assert "~4.3 passes of 1 × 512 in --time-limit (the wider 1 × 768 pays from 16)" in line
    measured.clear()
    speeds[512] = 4_000  # --epochs 1 ends the run before the clock: the corpus decides
    choice, _ = choose(epochs=1, time_limit=300)
    assert choice.units == 512 and measured == [512]
    measured.clear()  # --epochs 2: 1 × 512 would not finish them, 1 × 256 does before the clock
    choice, line = choose(epochs=2, time_limit=300)
    assert choice.units == 256 and measured == [512, 256]
    assert "a smaller size; --epochs end the run of 1 × 256 before --time-limit)" in line
    measured.clear()
    speeds[256] = 2_000  # 1.6 tokens per parameter: the smallest, not measured
    choice, line = choose(epochs=None, time_limit=300)
    assert choice.units == 128 and measured == [512, 256]
    assert ("~0.54 passes of 1 × 256 (1.6 tokens per parameter) in --time-limit (under 3.2: a "
            "smaller size, here the smallest)") in line
    base = defaults.choose_model(1_003_854, "char")
    assert defaults.smaller_model(base, "char", "lstm").units == 256
    assert defaults.smaller_model(defaults.choose_model(10, "char"), "char", "lstm") is None


def test_the_line_gives_small_and_huge_counts_readably():
    assert [pace._figure(x) for x in (0.0012, 0.34, 2.14, 21.3, 1e300)] == [
        "0.0012", "0.34", "2.1", "21.3", "1e+300"]


def test_a_given_embedding_width_is_counted_in_every_size_measured(monkeypatch):
    """--embedding-dim 512 on tiny-shakespeare: the size for the corpus is 1 × 256 (787,456
    recurrent parameters, 1 × 512 would have 2.1M), and its tokens per parameter are counted
    with them: 0.9 × 300 s × 2,000 tok/s / 787,456 = 0.69, where 64 wide would count 1.6."""
    from types import SimpleNamespace

    class Tok:
        vocabulary_size = 65

        def config(self):
            return {"kind": "char"}

    monkeypatch.setattr(pace, "training_tokens_per_second", lambda model, *_: 2_000)
    sizes = dict(num_layers=None, units=None, embedding_dim=512, dropout=None,
                 tie_weights=None)
    config = TrainConfig(seq_len=100, batch_size=32, epochs=None, time_limit=300)
    choice, line = pace.choose_size(np.ones(1_003_854, np.uint16), Tok(), "lstm", sizes, {},
                                    config, False, lambda model_config: SimpleNamespace())
    assert line.startswith(" and only ~0.54 passes of 1 × 256 (0.69 tokens per parameter) in")
    assert (choice.units, choice.embedding_dim, choice.parameters) == (128, 512, 328_192)


def test_sentencepiece_needs_more_tokens_per_parameter_under_a_time_limit(monkeypatch):
    """Subword runs take the larger size only at 12 tokens per recurrent parameter (char and
    word runs: 3.2). On PTB's text as pieces 1 × 256 lost to 1 × 128 at 2.0, 4.2 and 10.8."""
    from types import SimpleNamespace

    class Tok:
        vocabulary_size = 5830

        def config(self):
            return {"kind": "sentencepiece"}

    ids = np.ones(1_379_732, np.uint16)  # PTB's training text as pieces: 1 × 256 for the corpus
    speeds = {256: 10_000, 128: 18_000}
    monkeypatch.setattr(pace, "training_tokens_per_second",
                        lambda model, train_cfg, train_ids: speeds[model.units])
    sizes = dict.fromkeys(["num_layers", "units", "embedding_dim", "dropout", "tie_weights"])

    def choose(seconds):
        config = TrainConfig(seq_len=100, batch_size=32, epochs=None, time_limit=seconds)
        return pace.choose_size(ids, Tok(), "lstm", sizes, {}, config, False,
                                lambda model_config: SimpleNamespace(units=model_config.units))

    choice, line = choose(600)  # 0.9 × 600 × 10,000 / 525,312 ≈ 10.3 tokens per parameter
    assert choice.units == 128, line
    assert "(10.3 tokens per parameter) in --time-limit (under 12: a smaller size" in line
    choice, line = choose(1200)  # ≈ 20.6: the size for the corpus
    assert choice.units == 256 and "smaller" not in line
