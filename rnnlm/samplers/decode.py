"""Compiled decoding over an RNN language model that this module knows only as two functions.

    prefill(token_ids (B, T), lengths (B,)) -> (logits (B, V), states)   whole prompt, one pass
    next(token_ids (B,), states)           -> (logits (B, V), states)   one recurrent step

    prompt ──prefill──► logits, states
                          │
          ┌───────────────▼─────────────── tf.while_loop (one tf.function call per chunk) ──┐
          │ processors(logits) ─► sampler ─► token ──► next(token, states) ─► logits, states │
          └──────────────────── × chunk_size steps (or until every row emitted eos) ─────────┘
                          │  carry (logits, states, context, done, step) returns to Python,
                          ▼  which may yield the chunk's ids and call the loop again (stream)

Everything numeric (length, temperature, k, p, seed, penalty, eos) enters as a tensor, and the
signature is relaxed to unknown dimensions on first use, so the loop traces once per
(sampler class, processor switches). Randomness is stateless: step t uses
fold_in(seed, t), so stream(chunk_size=c) and generate() give identical ids for the same seed.

Log-probabilities reported are those of the *model*: log_softmax of the raw logits (temperature
1, before any processor or filter) at the emitted token; tokens after eos are pad and count 0.
"""

import collections

import numpy as np
import tensorflow as tf

from rnnlm.samplers import logits_processors as lp
from rnnlm.samplers import utf8
from rnnlm.samplers.base import make_seed, step_seed
from rnnlm.samplers.beam import BeamSampler, build_beam_search
from rnnlm.samplers.prompts import as_prompt_batch

Generation = collections.namedtuple(
    "Generation", ["token_ids", "token_log_probs", "log_prob", "num_tokens", "score"])
_Loop = collections.namedtuple("_Loop", ["logits", "states", "ctx", "done", "step"])


def _relaxed(tree):
    return tf.nest.map_structure(lambda t: tf.TensorSpec([None] * t.shape.rank, t.dtype), tree)


class Decoder:
    """Sampling, streaming and beam search over ``prefill_fn`` / ``next_fn``.

    forbidden_ids are never emitted (default: pad 0 and <unk> 1). byte_pieces ({token id: byte})
    makes byte pieces join only into whole UTF-8 characters (utf8.py). jit_compile=True compiles
    the model's ``next`` step with XLA; the loop, processors and sampling stay in graph mode (their
    shapes vary, and XLA's RNG would draw different numbers), so samples match up to float rounding.
    """

    def __init__(self, prefill_fn, next_fn, *, pad_id=0, forbidden_ids=(0, 1), byte_pieces=None,
                 jit_compile=False):
        self.prefill_fn = prefill_fn
        self.next_fn = tf.function(next_fn, jit_compile=True) if jit_compile else next_fn
        self.pad_id, self.forbidden_ids, self.jit_compile = pad_id, tuple(forbidden_ids), jit_compile
        self.byte_pieces = dict(byte_pieces or {})
        self._compiled, self._classes = {}, {}

    def _function(self, key, python_fn, args):
        if key not in self._compiled:  # built on first use: the signature needs the state shapes
            self._compiled[key] = tf.function(python_fn, input_signature=_relaxed(args), autograph=False)  # explicit tf.while_loop: AutoGraph only adds trace time
        return self._compiled[key](*args)

    def _start(self, token_ids, lengths, num_samples, extra):
        def start(ids, lens, n, extra):
            logits, states = self.prefill_fn(ids, lens)
            ctx = lp.new_context(ids, lens, tf.shape(logits)[1], extra)
            rep = lambda x: tf.repeat(x, n, axis=0)  # noqa: E731
            return rep(logits), tuple(map(rep, states)), lp.Context(*map(rep, ctx))
        ids, lengths = as_prompt_batch(token_ids, lengths, self.pad_id)
        args = (tf.constant(ids), tf.constant(lengths), tf.constant(num_samples), tf.constant(extra))
        return self._function("start", start, args)

    def _setup(self, token_ids, lengths, max_new_tokens, num_samples, eos_id, repetition_penalty,
               no_repeat_ngram_size):
        for name, v in (("max_new_tokens", max_new_tokens), ("num_samples", num_samples)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1 (got {v!r})")
        if eos_id is not None and eos_id in self.forbidden_ids:
            raise ValueError(f"eos_id {eos_id} is one of the forbidden ids {self.forbidden_ids}")
        penalty = lp.check_repetition_penalty(repetition_penalty)
        ngram = lp.check_ngram_size(no_repeat_ngram_size)
        logits, states, ctx = self._start(token_ids, lengths, num_samples, max_new_tokens)
        vocab_size = int(logits.shape[1])
        bias = lp.forbidden_bias(vocab_size, self.forbidden_ids)
        eos = tf.constant(-1 if eos_id is None else eos_id, tf.int32)
        classes = tf.constant(self.byte_classes(vocab_size))
        switches = (penalty != 1.0, ngram, bool(self.byte_pieces))
        return logits, states, ctx, bias, classes, eos, tf.constant(penalty), switches

    def byte_classes(self, vocab_size: int) -> np.ndarray:
        """utf8.token_classes of the vocabulary, made once. Without byte pieces they are all
        WHOLE: the loop still gets a tensor of one shape, for one trace."""
        if vocab_size not in self._classes:
            self._classes[vocab_size] = utf8.token_classes(vocab_size, self.byte_pieces)
        return self._classes[vocab_size]

    def generate(self, token_ids, lengths=None, *, sampler="greedy", max_new_tokens=100, num_samples=1,
                 seed=0, eos_id=None, repetition_penalty=1.0, no_repeat_ngram_size=0, log_probs=True):
        """Whole generation in one compiled call -> Generation of numpy arrays: token_ids (B, N)
        int32, token_log_probs (B, N), log_prob (B,) (sum), num_tokens (B,) (incl. eos), score (B,)
        (= log_prob; beam: the length-normalised score). B = prompts x num_samples.

        log_probs=False leaves the model's log-probabilities out (they are zeros) when only the
        tokens are wanted: a log-softmax over the vocabulary per step, a quarter of a batch-64
        word-level step on a CPU. The tokens are the same. Beam search always needs them."""
        from rnnlm.samplers import get_sampler
        sampler = get_sampler(sampler)
        if isinstance(sampler, BeamSampler):
            return self._beam(sampler, token_ids, lengths, max_new_tokens, num_samples, eos_id,
                              repetition_penalty, no_repeat_ngram_size)
        out = next(self.stream(token_ids, lengths, sampler=sampler, max_new_tokens=max_new_tokens,
                               chunk_size=max_new_tokens, num_samples=num_samples, seed=seed, eos_id=eos_id,
                               repetition_penalty=repetition_penalty, no_repeat_ngram_size=no_repeat_ngram_size,
                               log_probs=log_probs))
        missing = max_new_tokens - out.token_ids.shape[1]  # the loop stops early once all rows are done
        return out._replace(token_ids=np.pad(out.token_ids, [(0, 0), (0, missing)], constant_values=self.pad_id),
                            token_log_probs=np.pad(out.token_log_probs, [(0, 0), (0, missing)]))

    def stream(self, token_ids, lengths=None, *, sampler="greedy", max_new_tokens=100, chunk_size=16,
               num_samples=1, seed=0, eos_id=None, repetition_penalty=1.0, no_repeat_ngram_size=0,
               log_probs=True, max_chunk_size=None):
        """Iterator of Generation chunks: ids (B, <= chunk_size) per chunk; log_prob, num_tokens and
        score are running totals. Stops after max_new_tokens or when every row emitted eos.
        log_probs=False: as in ``generate``. max_chunk_size: each chunk twice the one before,
        up to it (a caller that reads all the text so far after each chunk then reads it a
        bounded number of times, not once per chunk_size tokens)."""
        from rnnlm.samplers import get_sampler
        sampler = get_sampler(sampler)
        if isinstance(sampler, BeamSampler):
            raise ValueError("beam search cannot stream: use generate(sampler='beam')")
        key = make_seed(seed)
        logits, states, ctx, bias, classes, eos, penalty, switches = self._setup(
            token_ids, lengths, max_new_tokens, num_samples, eos_id, repetition_penalty, no_repeat_ngram_size)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be an integer >= 1 (got {chunk_size!r})")
        params = {k: tf.constant(v) for k, v in sampler.get_params().items()}
        # The vocabulary size is part of the trace so the sampler sees a static width (samplers
        # pick their draw by it: base.categorical); the loop's arguments are relaxed to None.
        switches = (int(logits.shape[1]), *switches, bool(log_probs))
        loop_fn = self._sample_loop(sampler, *switches)
        start_len = ctx.length.numpy()
        carry = _Loop(logits, states, ctx, tf.zeros(tf.shape(ctx.length), tf.bool), tf.constant(0))

        def chunks(carry):
            produced, total, size = 0, np.zeros(start_len.shape, np.float32), chunk_size
            while produced < max_new_tokens and not carry.done.numpy().all():
                n = tf.constant(min(size, max_new_tokens - produced))
                size = min(2 * size, max_chunk_size) if max_chunk_size else size
                args = (carry, n, key, params, penalty, eos, bias, classes)
                carry, ids, lps = self._function((type(sampler), *switches), loop_fn, args)
                ids, lps = ids.numpy(), lps.numpy()
                produced, total = produced + ids.shape[1], total + lps.sum(axis=1)
                yield Generation(ids, lps, total, carry.ctx.length.numpy() - start_len, total)
        return chunks(carry)

    def _sample_loop(self, sampler, vocab_size, use_penalty, ngram, whole_chars, log_probs):
        def run(carry, num_steps, key, params, penalty, eos_id, bias, classes):
            byte_classes = classes if whole_chars else None
            utf8_bias = utf8.state_bias(classes, bias) if whole_chars else None

            def body(i, c, ids_ta, lp_ta):
                c.logits.set_shape([None, vocab_size])
                logits = lp.process(c.logits, c.ctx, bias, penalty if use_penalty else None, ngram,
                                    utf8_bias)
                tok = tf.where(c.done, self.pad_id, sampler.sample(logits, step_seed(key, c.step), params))
                if log_probs:  # (without them, no per-step ops at all: a batch-1 step is ~200 µs)
                    logp = tf.gather(tf.nn.log_softmax(c.logits), tok, batch_dims=1)
                    lp_ta = lp_ta.write(i, tf.where(c.done, 0.0, logp))
                ctx = lp.append(c.ctx, tok, ~c.done, track_history=ngram > 0, track_seen=use_penalty,
                                byte_classes=byte_classes)
                logits, states = self.next_fn(tok, c.states)
                c = _Loop(logits, tuple(states), ctx, c.done | (tok == eos_id), c.step + 1)
                return i + 1, c, ids_ta.write(i, tok), lp_ta
            tas = (tf.TensorArray(tf.int32, num_steps), tf.TensorArray(tf.float32, num_steps))
            i, carry, ids_ta, lp_ta = tf.while_loop(
                lambda i, c, *_: (i < num_steps) & ~tf.reduce_all(c.done), body, (0, carry) + tas)
            ids = tf.transpose(ids_ta.gather(tf.range(i)))
            lps = tf.transpose(lp_ta.gather(tf.range(i))) if log_probs else tf.zeros(tf.shape(ids))
            return carry, ids, lps
        return run

    def _beam(self, sampler, token_ids, lengths, max_new_tokens, num_samples, eos_id, penalty, ngram):
        if num_samples != 1:
            raise ValueError("beam search is deterministic: num_samples must be 1")
        logits, states, ctx, bias, classes, eos, penalty, switches = self._setup(
            token_ids, lengths, max_new_tokens, 1, eos_id, penalty, ngram)
        search = build_beam_search(self.next_fn, self.pad_id, *switches)
        args = (logits, states, ctx, tf.constant(max_new_tokens), tf.constant(sampler.beam_width),
                tf.constant(sampler.alpha), penalty, eos, bias, classes)
        ids, lps, logp, score, ntok = self._function(("beam", *switches), search, args)
        return Generation(ids.numpy(), lps.numpy(), logp.numpy(), ntok.numpy(), score.numpy())
