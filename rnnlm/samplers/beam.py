"""Beam search with GNMT length normalisation, as a tf-traceable loop over an RNN cache.

    score(y) = sum_t logp'(y_t | y_<t)  /  ((5 + |y|) / 6) ** alpha        (Wu et al. 2016)

logp' is the model's log-softmax after the logit processors (forbidden ids -> -inf, optional
repetition penalty / n-gram ban), as in Hugging Face. |y| counts tokens up to and including eos.
Unfinished hypotheses all have the same length, so alpha only matters between finished and
unfinished ones (alpha = 0: raw log-probability). Width 1 is exactly greedy decoding.

Rows are flattened beam-major per prompt: row b * W + w. Each step every row proposes V
continuations, the W best of the W * V per prompt survive, and states / context / per-token
log-probs are reordered to their parents with one tf.gather.
"""

import tensorflow as tf

from rnnlm.samplers import logits_processors as lp
from rnnlm.samplers import utf8
from rnnlm.config import is_integer, is_real


class BeamSampler:
    name = "beam"
    stochastic = False

    def __init__(self, beam_width=4, alpha=0.6):
        if not is_integer(beam_width) or beam_width < 1:
            raise ValueError(f"beam_width must be an integer >= 1 (got {beam_width!r})")
        if not (is_real(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be >= 0 (got {alpha!r})")
        self.beam_width, self.alpha = int(beam_width), float(alpha)

    def get_params(self):
        return {"beam_width": self.beam_width, "alpha": self.alpha}

    def __repr__(self):
        return f"BeamSampler(beam_width={self.beam_width}, alpha={self.alpha})"


def length_penalty(lengths, alpha):
    return ((5.0 + tf.cast(lengths, tf.float32)) / 6.0) ** alpha


def build_beam_search(next_fn, pad_id, use_penalty, ngram, whole_chars=False):
    """Returns search(logits, states, ctx, num_steps, width, alpha, penalty, eos_id, bias, classes)
    -> (ids (B, N), token_log_probs (B, N), log_prob (B,), score (B,), num_tokens (B,)).
    whole_chars: byte pieces join only into whole UTF-8 characters (classes: utf8.py)."""

    def search(logits, states, ctx, num_steps, width, alpha, penalty, eos_id, bias, classes):
        byte_classes = classes if whole_chars else None
        utf8_bias = utf8.state_bias(classes, bias) if whole_chars else None
        batch, vocab = tf.shape(logits)[0], tf.shape(logits)[1]
        tile = lambda x: tf.repeat(x, width, axis=0)  # noqa: E731
        logits, states, ctx = tile(logits), tuple(map(tile, states)), lp.Context(*map(tile, ctx))
        start = ctx.length
        # Only beam 0 is live at first, so the W initial beams don't all pick the same token.
        scores = tf.tile(tf.where(tf.range(width) == 0, 0.0, lp.NEG_INF)[None], [batch, 1])
        zeros = tf.zeros([batch, width])
        pad_row = tf.where(tf.range(vocab) == pad_id, 0.0, lp.NEG_INF)[None]
        base = tf.range(batch)[:, None] * width

        def body(t, logits, states, ctx, scores, raw, ntok, finished, lp_buf):
            logp = tf.nn.log_softmax(logits)
            proc = lp.process(logp, ctx, bias, penalty if use_penalty else None, ngram, utf8_bias)
            fin = tf.reshape(finished, [-1])
            proc = tf.where(fin[:, None], pad_row, proc)  # finished beams extend with pad, cost 0
            cand = tf.reshape(scores, [-1, 1]) + proc
            cand_len = tf.reshape(ntok, [-1]) + tf.cast(~fin, tf.int32)
            norm = cand / length_penalty(cand_len, alpha)[:, None]
            _, idx = tf.math.top_k(tf.reshape(norm, [batch, -1]), k=width)
            parent, tok = idx // vocab, tf.reshape(idx % vocab, [-1])
            flat = tf.reshape(base + parent, [-1])
            scores = tf.gather(tf.reshape(cand, [batch, -1]), idx, batch_dims=1)
            was_fin = tf.gather(fin, flat)
            step_lp = tf.where(was_fin, 0.0, tf.gather_nd(logp, tf.stack([flat, tok], -1)))
            raw = tf.reshape(tf.gather(tf.reshape(raw, [-1]), flat) + step_lp, [batch, width])
            ntok = tf.reshape(tf.gather(cand_len, flat), [batch, width])
            finished = tf.reshape(was_fin | (tok == eos_id), [batch, width])
            ctx = lp.append(lp.Context(*(tf.gather(x, flat) for x in ctx)), tok, ~was_fin,
                            track_seen=use_penalty, byte_classes=byte_classes)
            rows = tf.range(tf.shape(flat)[0])
            lp_buf = tf.tensor_scatter_nd_update(
                tf.gather(lp_buf, flat), tf.stack([rows, tf.fill(tf.shape(rows), t)], -1), step_lp)
            logits, states = next_fn(tok, tuple(tf.gather(s, flat) for s in states))
            return t + 1, logits, tuple(states), ctx, scores, raw, ntok, finished, lp_buf

        loop = (0, logits, states, ctx, scores, zeros, tf.zeros([batch, width], tf.int32),
                tf.zeros([batch, width], tf.bool), tf.zeros([batch * width, num_steps]))
        _, _, _, ctx, scores, raw, ntok, _, lp_buf = tf.while_loop(
            lambda t, *a: (t < num_steps) & ~tf.reduce_all(a[6]), body, loop)

        final = scores / length_penalty(ntok, alpha)
        best = tf.argmax(final, axis=1, output_type=tf.int32)
        flat_best = tf.range(batch) * width + best
        steps = tf.range(num_steps)[None]
        ntok_best = tf.gather(ntok, best, batch_dims=1)
        ids = tf.gather(tf.gather(ctx.history, flat_best), tf.gather(start, flat_best)[:, None] + steps,
                        batch_dims=1)
        ids = tf.where(steps < ntok_best[:, None], ids, pad_id)
        return (ids, tf.gather(lp_buf, flat_best), tf.gather(raw, best, batch_dims=1),
                tf.gather(final, best, batch_dims=1), ntok_best)

    return search
