"""The compiled decoding loop, with fake models: a bigram table (exact) and a tiny Keras LSTM."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnnlm.samplers import Decoder, get_sampler, truncate_at_stop

NEG = -1e9


def bigram(table):
    """prefill/next over a (V, V) logits table: next logits depend on the last token only."""
    table = tf.constant(np.asarray(table, np.float32))

    def prefill(ids, lengths):
        last = tf.gather(ids, lengths - 1, batch_dims=1)
        return tf.gather(table, last), (tf.zeros([tf.shape(ids)[0], 1]),)

    def next_fn(tok, states):
        return tf.gather(table, tok), (states[0] + 1.0,)
    return Decoder(prefill, next_fn)


def log_probs(*rows_, vocab=8):
    """Table rows from {token: prob} dicts; unlisted tokens get (almost) nothing."""
    table = np.full((vocab, vocab), NEG, np.float32)
    for i, row in rows_:
        for t, p in row.items():
            table[i, t] = np.log(p)
    return table


def cycle_table():
    # 2 -> 3 (2.0) or 4 (1.5); 3 -> 2 (2.0) or 4 (1.5); 4 -> 5; 5 -> 2; pad/unk best everywhere
    t = np.full((6, 6), -3.0, np.float32)
    t[:, 0], t[:, 1] = 10.0, 9.0
    t[2, 3], t[2, 4], t[3, 2], t[3, 4], t[4, 5], t[5, 2] = 2.0, 1.5, 2.0, 1.5, 2.0, 2.0
    return t


@pytest.fixture(scope="module")
def lstm():
    """Tiny real LSTM with fixed random weights: next depends on state, so padding bugs show."""
    keras.utils.set_random_seed(1)
    vocab = 13
    emb, rnn, head = keras.layers.Embedding(vocab, 8), keras.layers.LSTM(16, return_state=True), \
        keras.layers.Dense(vocab, kernel_initializer=keras.initializers.RandomNormal(stddev=1.0))

    def prefill(ids, lengths):
        out, h, c = rnn(emb(ids), mask=tf.sequence_mask(lengths, tf.shape(ids)[1]))
        return head(out), (h, c)

    def next_fn(tok, states):
        out, (h, c) = rnn.cell(emb(tok), list(states))
        return head(out), (h, c)
    prefill(tf.constant([[2]]), tf.constant([1]))
    return Decoder(prefill, next_fn)


def test_greedy_follows_argmax_and_never_emits_pad_or_unk():
    out = bigram(cycle_table()).generate([[2]], max_new_tokens=6)
    np.testing.assert_array_equal(out.token_ids, [[3, 2, 3, 2, 3, 2]])
    # log-probs are the model's: log_softmax of the raw logits (pad/unk included in the softmax)
    expected = tf.nn.log_softmax(cycle_table()[2]).numpy()[3]
    np.testing.assert_allclose(out.token_log_probs[0, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(out.log_prob, out.token_log_probs.sum(1), rtol=1e-6)


@pytest.mark.parametrize("sampler", ["random", "top_k", "top_p", "beam"])
def test_pad_and_unk_never_sampled(sampler):
    options = {"beam": {"beam_width": 3}}.get(sampler, {"temperature": 50.0})
    out = bigram(cycle_table()).generate([[2]], sampler=get_sampler(sampler, **options), max_new_tokens=20,
                                         num_samples=1 if sampler == "beam" else 32, seed=5)
    assert not np.isin(out.token_ids, [0, 1]).any()


def test_beam_escapes_the_greedy_trap():
    table = log_probs((2, {3: .5, 4: .4, 5: .1}), (3, {2: .25, 5: .25, 6: .25, 7: .25}), (4, {5: .95, 6: .05}))
    dec = bigram(table)
    greedy = dec.generate([[2]], max_new_tokens=2)
    beam = dec.generate([[2]], sampler=get_sampler("beam", beam_width=2, alpha=0.0), max_new_tokens=2)
    np.testing.assert_array_equal(greedy.token_ids, [[3, 2]])
    np.testing.assert_array_equal(beam.token_ids, [[4, 5]])
    np.testing.assert_allclose(beam.score, np.log(.4 * .95), rtol=1e-4)
    assert beam.log_prob[0] > greedy.log_prob[0]


def test_beam_width_one_equals_greedy(lstm):
    prompts = [[2, 5, 7], [3], [4, 4, 9, 11, 2]]
    for eos in (None, 6):
        greedy = lstm.generate(prompts, max_new_tokens=12, eos_id=eos)
        for i, p in enumerate(prompts):
            beam = lstm.generate([p], sampler=get_sampler("beam", beam_width=1), max_new_tokens=12, eos_id=eos)
            np.testing.assert_array_equal(beam.token_ids[0], greedy.token_ids[i])
            np.testing.assert_allclose(beam.log_prob[0], greedy.log_prob[i], rtol=1e-5)


def test_repetition_penalty_and_no_repeat_ngram_change_choices():
    dec = bigram(cycle_table())
    # prompt token 2 is "seen": from 3, 2's logit 2.0 / 2 = 1.0 loses to 4's 1.5
    np.testing.assert_array_equal(dec.generate([[2]], max_new_tokens=2, repetition_penalty=2.0).token_ids, [[3, 4]])
    # "2 3" already occurred, so from the second 2 the ban forces 4
    out = dec.generate([[2]], max_new_tokens=4, no_repeat_ngram_size=2)
    np.testing.assert_array_equal(out.token_ids, [[3, 2, 4, 5]])
    beam = dec.generate([[2]], sampler="beam", max_new_tokens=4, no_repeat_ngram_size=2)
    seq = [2] + list(beam.token_ids[0])
    bigrams = list(zip(seq, seq[1:]))
    assert len(set(bigrams)) == len(bigrams), seq


def test_eos_stops_each_sequence():
    out = bigram(cycle_table()).generate([[2], [4]], max_new_tokens=6, eos_id=5)
    np.testing.assert_array_equal(out.token_ids, [[3, 2, 3, 2, 3, 2], [5, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(out.num_tokens, [6, 1])
    assert (out.token_log_probs[1, 1:] == 0).all()
    out = bigram(cycle_table()).generate([[4]], max_new_tokens=50, eos_id=5)  # stops early, still (1, 50)
    assert out.token_ids.shape == (1, 50) and out.num_tokens[0] == 1


def test_batched_prompts_of_different_lengths_equal_each_alone(lstm):
    prompts = [[2, 5, 7, 3], [3], [4, 9, 11]]
    batch = lstm.generate(prompts, max_new_tokens=10)
    for i, p in enumerate(prompts):
        alone = lstm.generate([p], max_new_tokens=10)
        np.testing.assert_array_equal(alone.token_ids[0], batch.token_ids[i])
        np.testing.assert_allclose(alone.token_log_probs[0], batch.token_log_probs[i], rtol=1e-4, atol=1e-5)
    # row 0 draws from the same random numbers whatever else is in the batch
    sampled = lstm.generate(prompts, sampler="random", max_new_tokens=10, seed=4)
    alone = lstm.generate([prompts[0]], sampler="random", max_new_tokens=10, seed=4)
    np.testing.assert_array_equal(alone.token_ids[0], sampled.token_ids[0])


def test_seeds_samples_and_no_retracing(lstm):
    run = lambda **kw: lstm.generate([[2, 3]], sampler=get_sampler("top_p", **kw.pop("opt", {})),  # noqa
                                     max_new_tokens=kw.pop("n", 16), num_samples=4, **kw).token_ids
    a = run(seed=1)
    np.testing.assert_array_equal(a, run(seed=1))
    assert (a != run(seed=2)).any()
    assert len({tuple(r) for r in a}) > 1  # num_samples copies differ
    for kw in ({"seed": 9}, {"n": 5}, {"opt": {"p": 0.5, "temperature": 0.3}}, {"opt": {"p": 0.8, "k": 4}}):
        run(**kw)
    lstm.generate([[5, 6, 7, 8, 9]], sampler=get_sampler("top_p"), max_new_tokens=3)
    traced = {k: f.experimental_get_tracing_count() for k, f in lstm._compiled.items()}
    assert max(traced.values()) == 1, traced


@pytest.mark.parametrize("options", [{}, {"eos_id": 6, "repetition_penalty": 1.3, "no_repeat_ngram_size": 3}])
def test_streaming_chunks_equal_one_shot(lstm, options):
    kw = dict(sampler=get_sampler("random", temperature=1.5), max_new_tokens=23, seed=11, num_samples=3, **options)
    whole = lstm.generate([[2, 3, 4]], **kw)
    chunks = list(lstm.stream([[2, 3, 4]], chunk_size=5, **kw))
    assert all(c.token_ids.shape[1] <= 5 for c in chunks)
    ids = np.concatenate([c.token_ids for c in chunks], axis=1)
    np.testing.assert_array_equal(ids, whole.token_ids[:, :ids.shape[1]])
    assert (whole.token_ids[:, ids.shape[1]:] == 0).all()
    np.testing.assert_allclose(chunks[-1].log_prob, whole.log_prob, rtol=1e-5)


@pytest.mark.parametrize("sampler", ["random", "top_k", "greedy"])
def test_leaving_out_log_probs_keeps_the_tokens(lstm, sampler):
    kw = dict(sampler=get_sampler(sampler), max_new_tokens=15, seed=3, num_samples=3, eos_id=6)
    full = lstm.generate([[2, 3]], **kw)
    text_only = lstm.generate([[2, 3]], log_probs=False, **kw)
    np.testing.assert_array_equal(text_only.token_ids, full.token_ids)
    np.testing.assert_array_equal(text_only.num_tokens, full.num_tokens)
    assert (full.log_prob < 0).all() and not text_only.token_log_probs.any()


def test_bad_calls():
    dec = bigram(cycle_table())
    with pytest.raises(ValueError, match="at least one token"):
        dec.generate([[2, 0]], lengths=[0])
    with pytest.raises(ValueError, match="at least one token"):
        dec.generate(np.zeros((2, 3), np.int32))  # an all-pad row
    with pytest.raises(ValueError, match="seed must be an integer"):
        dec.generate([[2]], sampler="random", seed=1.5)
    with pytest.raises(ValueError, match="forbidden"):
        dec.generate([[2]], eos_id=1)
    with pytest.raises(ValueError, match="max_new_tokens"):
        dec.generate([[2]], max_new_tokens=0)
    with pytest.raises(ValueError, match="beam search cannot stream"):
        dec.stream([[2]], sampler="beam")
    with pytest.raises(ValueError, match="chunk_size must be"):
        dec.stream([[2]], chunk_size=0)


def test_prompt_forms_agree():
    dec = bigram(cycle_table())
    a = dec.generate([[2, 3], [4]], max_new_tokens=3).token_ids
    b = dec.generate(np.array([[2, 3], [4, 0]]), max_new_tokens=3).token_ids  # lengths from padding
    c = dec.generate(np.array([[2, 3], [4, 5]]), lengths=[2, 1], max_new_tokens=3).token_ids
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(dec.generate([2, 3], max_new_tokens=3).token_ids, a[:1])


def test_truncate_at_stop():
    assert truncate_at_stop("Hello.\n\nNext", ["\n\n", "Ne"]) == ("Hello.", True)
    assert truncate_at_stop("abc", "x") == ("abc", False)
    assert truncate_at_stop("abc", []) == ("abc", False)
    # overlapping stops: the one complete first decides, so a text cut short gives the same cut
    text, stops = "so the cat sat", ["e", "the ", "at s", "t sat"]
    assert truncate_at_stop(text, stops) == ("so th", True)
    first = next(k for k in range(len(text) + 1) if truncate_at_stop(text[:k], stops)[1])
    for k in range(first, len(text) + 1):
        assert truncate_at_stop(text[:k], stops) == ("so th", True)
    assert truncate_at_stop("a cat sat", ["at s", "t sat"]) == ("a c", True)  # ends first
    assert truncate_at_stop("xabc", ["bc", "abc"]) == ("x", True)  # same end: the longer
    assert truncate_at_stop("abcab", ["b", ""]) == ("a", True)


def test_jit_compiled_step_matches(lstm):
    jitted = Decoder(lstm.prefill_fn, lstm.next_fn, jit_compile=True)
    kw = dict(max_new_tokens=8, sampler="top_k", seed=3, num_samples=2)
    np.testing.assert_array_equal(jitted.generate([[2, 3]], **kw).token_ids, lstm.generate([[2, 3]], **kw).token_ids)


def test_wide_vocabulary_draws_in_the_loop(monkeypatch):
    """A word-sized vocabulary: the loop keeps the static width so the sampler takes the
    softmax-and-search draw (samplers.base.categorical), which still never emits pad or <unk>
    and streams the same ids as one shot."""
    from rnnlm.samplers import base
    vocab = base.LARGE_VOCABULARY + 7
    table = np.random.default_rng(4).normal(size=(vocab, vocab)).astype(np.float32)
    table[:, :2] = 12.0  # pad and <unk> the best everywhere: forbidden all the same
    traced = []
    real = base.inverse_cdf_draw
    monkeypatch.setattr(base, "inverse_cdf_draw", lambda *a: traced.append(1) or real(*a))
    decoder = bigram(table)
    kw = dict(sampler=get_sampler("random", temperature=2.0), max_new_tokens=12, seed=2, num_samples=16)
    whole = decoder.generate([[2]], **kw)
    assert traced
    assert not np.isin(whole.token_ids, [0, 1]).any() and len(np.unique(whole.token_ids)) > 100
    ids = np.concatenate([c.token_ids for c in decoder.stream([[2]], chunk_size=5, **kw)], axis=1)
    np.testing.assert_array_equal(ids, whole.token_ids)
