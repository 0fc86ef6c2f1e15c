"""Samplers and logit processors on fixed logits: exact, deterministic, no model involved."""

import numpy as np
import pytest
import tensorflow as tf

from rnnlm.samplers import (SAMPLERS, BeamSampler, GreedySampler, RandomSampler, TopKSampler,
                            TopPSampler, get_sampler)
from rnnlm.samplers import logits_processors as lp

RNG = np.random.default_rng(0)


def rows(logits, n=256):
    """The same logits repeated n times, so one call draws n independent samples."""
    return np.tile(np.asarray(logits, np.float32)[None], [n, 1])


def test_greedy_picks_argmax():
    logits = RNG.normal(size=(32, 50)).astype(np.float32)
    np.testing.assert_array_equal(GreedySampler()(logits).numpy(), logits.argmax(-1))


def test_low_temperature_approaches_greedy():
    logits = RNG.normal(size=(64, 50)).astype(np.float32)
    np.testing.assert_array_equal(RandomSampler(temperature=1e-4)(logits, seed=3).numpy(), logits.argmax(-1))


def test_top_k_never_leaves_the_k_best():
    logits = RNG.normal(size=40).astype(np.float32)
    best = set(np.argsort(-logits)[:3])
    for seed in range(4):
        drawn = set(TopKSampler(k=3, temperature=5.0)(rows(logits), seed=seed).numpy())
        assert drawn <= best
    assert drawn == best  # and it does use all of them at a high temperature


def test_top_p_never_leaves_the_nucleus():
    logits = np.log([0.5, 0.3, 0.15, 0.05])  # mass before: 0, .5, .8, .95 -> p=.7 keeps {0, 1}
    for seed in range(4):
        assert set(TopPSampler(p=0.7)(rows(logits), seed=seed).numpy()) == {0, 1}
    assert set(TopPSampler(p=0.99, k=2)(rows(logits), seed=0).numpy()) == {0, 1}
    assert set(TopPSampler(p=1e-6)(rows(logits), seed=0).numpy()) == {0}


def test_same_seed_same_draws_different_seed_different():
    logits = np.zeros((64, 50), np.float32)
    for name in ("random", "top_k", "top_p"):
        sampler = get_sampler(name)
        a, b = sampler(logits, seed=7).numpy(), sampler(logits, seed=7).numpy()
        np.testing.assert_array_equal(a, b)
        assert (a != sampler(logits, seed=8).numpy()).any()
        assert (a != sampler(logits, seed=7, step=1).numpy()).any()


@pytest.mark.parametrize("make, message", [
    (lambda: RandomSampler(temperature=0), "temperature must be > 0"),
    (lambda: TopKSampler(k=5, temperature=-1.0), "temperature must be > 0"),
    (lambda: get_sampler("top_p", temperature=float("nan")),
     r"temperature must be a number in \[1e-06, 1e\+06\] \(got nan\)"),
    (lambda: RandomSampler(temperature=float("inf")), r"must be a number in .* \(got inf\)"),
    (lambda: TopPSampler(p=0.0), r"top_p must be in \(0, 1\]"),
    (lambda: TopPSampler(p=1.5), r"top_p must be in \(0, 1\]"),
    (lambda: TopKSampler(k=0), "top_k must be an integer >= 1"),
    (lambda: RandomSampler(temperature=1e-40), r"temperature must be in \[1e-06, 1e\+06\]"),
    (lambda: RandomSampler(temperature=1e39), r"temperature must be in \[1e-06, 1e\+06\]"),
    (lambda: RandomSampler(temperature=True), "temperature must be a number > 0, got the bool True"),
    (lambda: lp.check_ngram_size(1000), "no_repeat_ngram must be at most 100"),
    (lambda: TopPSampler(p=0.9, k=0), "top_k must be an integer >= 1"),
    (lambda: BeamSampler(beam_width=0), "beam_width must be an integer >= 1"),
    (lambda: BeamSampler(alpha=-1), "alpha must be >= 0"),
    (lambda: get_sampler("nucleus"), "valid samplers: greedy, random, top_k, top_p, beam"),
    (lambda: get_sampler("top_k", q=3), "bad option for sampler 'top_k'"),
    (lambda: lp.check_repetition_penalty(0), "repetition_penalty must be > 0"),
    (lambda: lp.check_ngram_size(-1), "no_repeat_ngram must be an integer >= 0"),
])
def test_validation_messages(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_temperature_refused_at_either_end_says_what_that_end_means():
    """0 (what a user types for "the most likely token") and a tiny one point at the greedy
    sampler; a huge one says every token is already about equally likely, not greedy."""
    for low in (0, 0.0, 1e-9):
        with pytest.raises(ValueError, match="greedy sampler takes the most likely token"):
            RandomSampler(temperature=low)
    with pytest.raises(ValueError) as refused:
        RandomSampler(temperature=2e6)
    assert "equally likely" in str(refused.value) and "greedy" not in str(refused.value)
    with pytest.raises(ValueError) as refused:
        RandomSampler(temperature=-1.0)
    assert "greedy" not in str(refused.value)


def test_registry():
    assert list(SAMPLERS) == ["greedy", "random", "top_k", "top_p", "beam"]
    s = get_sampler("top_p", p=0.5, k=10, temperature=0.7)
    assert (s.p, s.k, s.temperature) == (0.5, 10, 0.7) and get_sampler(s) is s


def test_forbidden_ids_never_sampled_even_when_best():
    logits = rows([10.0, 9.0, 1.0, 1.0, 0.5], n=128)
    bias = lp.forbidden_bias(5, (0, 1))
    ctx = lp.new_context(tf.constant([[2]] * 128), tf.constant([1] * 128), 5, 4)
    processed = lp.process(tf.constant(logits), ctx, bias)
    for sampler in (GreedySampler(), RandomSampler(temperature=100.0), TopKSampler(k=2), TopPSampler(p=1.0)):
        assert not np.isin(sampler(processed, seed=1).numpy(), [0, 1]).any()


def test_repetition_penalty_ctrl_style():
    logits = tf.constant([[3.0, 2.5, -1.0, -2.0]])
    seen = tf.constant([[True, False, True, False]])
    out = lp.repetition_penalty(logits, seen, 1.5).numpy()
    np.testing.assert_allclose(out, [[2.0, 2.5, -1.5, -2.0]])  # divide positive, multiply negative
    assert GreedySampler()(out).numpy()[0] == 1  # the choice changes from the repeated token 0


def test_no_repeat_ngram_ban():
    history = tf.constant([[5, 6, 7, 5, 6, 0, 0]])  # valid length 5, then padding
    banned = lambda n: set(np.flatnonzero(lp.no_repeat_ngram_ban(history, tf.constant([5]), n, 9)[0]))  # noqa
    assert banned(3) == {7}     # "5 6 7" seen; sequence ends in "5 6"
    assert banned(2) == {7}     # "6 7" seen; ends in "6"
    assert banned(1) == {5, 6, 7}
    assert banned(4) == set()   # "7 5 6" never followed before
    assert set(np.flatnonzero(lp.no_repeat_ngram_ban(history, tf.constant([2]), 3, 9)[0])) == set()


def test_ngram_ban_that_leaves_nothing_is_dropped():
    ctx = lp.new_context(tf.constant([[2, 3, 2]]), tf.constant([3]), 4, 2)  # "2 3" then 2: bans 3
    bias = lp.forbidden_bias(4, (0, 1, 2))  # 3 is the only allowed id
    out = lp.process(tf.zeros([1, 4]), ctx, bias, ngram=2).numpy()
    assert np.isfinite(out[0, 3])


# The large-vocabulary draw (softmax and a two-level search) against the distribution it samples.
def draw_counts(logits, draws=40_000, seed=5):
    from rnnlm.samplers.base import inverse_cdf_draw
    from rnnlm.samplers.base import make_seed
    ids = inverse_cdf_draw(tf.constant(rows(logits, draws)), make_seed(seed)).numpy()
    return np.bincount(ids, minlength=len(logits)) / draws


def test_large_vocabulary_draw_follows_the_softmax():
    # 10 blocks of 10 (plus a padded one): mass spread over block edges, a ragged last block
    logits = RNG.normal(size=101).astype(np.float32) * 1.5
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    freq = draw_counts(logits)
    # 40,000 draws: a frequency's standard error is sqrt(p(1-p)/n) <= 0.0025
    assert np.abs(freq - probs).max() < 5 * np.sqrt(probs * (1 - probs) / 40_000).max()
    assert np.corrcoef(freq, probs)[0, 1] > 0.99


def test_large_vocabulary_draw_never_picks_a_minus_inf_token():
    logits = np.full(100, -np.inf, np.float32)
    alive = [0, 9, 10, 55, 99]  # the first and last token, both sides of a block edge
    logits[alive] = [0.0, -1.0, 3.0, -2.0, 1.0]
    freq = draw_counts(logits)
    assert set(np.flatnonzero(freq)) == set(alive)
    one = np.full(100, -np.inf, np.float32)
    one[37] = 0.0
    assert set(np.flatnonzero(draw_counts(one, draws=500))) == {37}
    # a nearly one-hot row (low temperature): the best token, whatever the rounding
    assert set(np.flatnonzero(draw_counts(logits * 1e4, draws=500))) == {10}


def test_large_vocabulary_draw_rows_are_independent():
    from rnnlm.samplers.base import categorical, make_seed
    wide = RNG.normal(size=(8, 5000)).astype(np.float32)
    first = categorical(tf.constant(wide), make_seed(3)).numpy()
    other = wide.copy()
    other[1:] = RNG.normal(size=(7, 5000))
    assert categorical(tf.constant(other), make_seed(3)).numpy()[0] == first[0]
    more = np.concatenate([wide, wide])  # a larger batch draws the same for the rows it shares
    np.testing.assert_array_equal(categorical(tf.constant(more), make_seed(3)).numpy()[:8], first)


def test_categorical_picks_its_draw_by_the_width():
    from rnnlm.samplers import base
    calls = []
    real = base.inverse_cdf_draw
    try:
        base.inverse_cdf_draw = lambda *a: calls.append(1) or real(*a)
        base.categorical(tf.zeros([2, 65]), base.make_seed(0))
        assert not calls
        base.categorical(tf.zeros([2, base.LARGE_VOCABULARY]), base.make_seed(0))
        assert calls
        # a dynamic width (top-k's k) decides in the graph
        f = tf.function(lambda x: base.categorical(x, base.make_seed(0)),
                        input_signature=[tf.TensorSpec([None, None], tf.float32)])
        assert f(tf.zeros([2, 65])).shape == (2,) and f(tf.zeros([2, 5000])).shape == (2,)
    finally:
        base.inverse_cdf_draw = real


def test_large_vocabulary_draw_resolves_tiny_probabilities(monkeypatch):
    """The search is float64, as stateless_categorical is: a token of probability ~1e-13 has
    an interval that a float32 u (on a grid of 2**-23) could never land in."""
    from rnnlm.samplers.base import inverse_cdf_draw, make_seed

    logits = np.zeros((1, 100), np.float32)
    logits[0, 1] = -30.0  # p ≈ 9e-14 beside 99 tokens of ~1/99
    probs = tf.nn.softmax(logits)
    # the total as the draw sums it (10 blocks of 10), so u lands where the draw places it
    total = float(tf.reduce_sum(tf.cast(tf.reduce_sum(tf.reshape(probs, [1, 10, 10]), 2), tf.float64)))
    p = probs.numpy().astype(np.float64)[0]
    middle = (p[0] + p[1] / 2) / total  # the middle of token 1's interval, in block 0
    monkeypatch.setattr(tf.random, "stateless_uniform",
                        lambda shape, seed, dtype=tf.float32: tf.fill(shape, tf.constant(middle, dtype)))
    assert inverse_cdf_draw(tf.constant(logits), make_seed(0)).numpy().tolist() == [1]
