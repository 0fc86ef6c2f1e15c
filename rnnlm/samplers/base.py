"""The sampler contract: one token id per row from processed logits.

A sampler is a small config object plus a pure, tf-traceable ``sample`` function. Its numeric
options travel into the compiled decoding loop as *tensors* (``get_params``), so changing the
temperature, k or p between calls never retraces; only the sampler's class is part of the trace.
"""

import math
import numbers

import tensorflow as tf

from rnnlm.config import is_integer, is_real

# Logits divided by a temperature below this overflow float32 for large logits (the draw then
# returns an id past the vocabulary); above the upper one every token is equally likely anyway.
TEMPERATURE_RANGE = (1e-6, 1e6)
# The limits' meanings, said with the refusal: a temperature of 0 is what a user types for
# "the most likely token", which is the greedy sampler.
GREEDY_IS_THE_LIMIT = "the greedy sampler takes the most likely token every step"
UNIFORM_IS_THE_LIMIT = "above it every token is already about equally likely"


def check_temperature(temperature):
    low, high = TEMPERATURE_RANGE
    if isinstance(temperature, numbers.Real) and not isinstance(temperature, bool) and not (
            math.isfinite(temperature)):  # inf is not "<= 0"; nan is not a temperature at all
        raise ValueError(f"temperature must be a number in [{low:g}, {high:g}] "
                         f"(got {temperature!r})")
    if not is_real(temperature):  # "0.8" from a form, or True
        raise ValueError(f"temperature must be a number > 0, got the "
                         f"{type(temperature).__name__} {temperature!r}")
    if not temperature > 0:
        zero = temperature == 0
        raise ValueError(f"temperature must be > 0 (got {temperature!r}"
                         f"{'; ' + GREEDY_IS_THE_LIMIT if zero else ''})")
    if not low <= temperature <= high:
        why = GREEDY_IS_THE_LIMIT if temperature < low else UNIFORM_IS_THE_LIMIT
        raise ValueError(f"temperature must be in [{low:g}, {high:g}] (got {temperature!r}; "
                         f"{why})")
    return float(temperature)


def check_top_k(k):
    if not is_integer(k):  # "40" from a form reads as in range: name its type
        raise ValueError(f"top_k must be an integer >= 1, got the {type(k).__name__} {k!r}")
    if k < 1:
        raise ValueError(f"top_k must be an integer >= 1 (got {k!r})")
    return int(min(k, 2 ** 31 - 1))  # a k past the vocabulary keeps it all; int32 in the graph


def check_top_p(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real):  # "0.9" reads as in range
        raise ValueError(f"top_p must be a number in (0, 1], got the {type(p).__name__} {p!r}")
    if not 0 < p <= 1:  # NaN too
        raise ValueError(f"top_p must be in (0, 1] (got {p!r})")
    return float(p)


def make_seed(seed):
    """User integer seed -> stateless RNG key, int32 (2,)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer (got {seed!r})")
    seed &= (1 << 64) - 1  # two 32-bit halves; wrap so negative seeds work too
    halves = [(seed & 0xFFFFFFFF), (seed >> 32)]
    return tf.constant([h - (1 << 32) if h >= (1 << 31) else h for h in halves], tf.int32)


def step_seed(key, step):
    """Key for decoding step ``step``: depends on (seed, step) only, so chunked and one-shot
    generation draw identical numbers. Row b of a batch uses counter block b inside the op, so a
    row's draw never depends on the other rows' logits."""
    return tf.random.experimental.stateless_fold_in(key, tf.cast(step, tf.int32))


# From this many candidates on, categorical() draws by softmax and a two-level search: on a CPU
# tf.random.stateless_categorical exponentiates every logit in double precision, one row at a
# time (1.8 ms of a batch-64 step over a 10k vocabulary at one thread, against 0.8 ms for the
# search); below it the search's extra ops cost more than they save (+6 µs a step at 65).
LARGE_VOCABULARY = 4096


def categorical(logits, seed):
    """One stateless draw per row from unnormalised (possibly -inf) logits -> int32 (B,).

    Row b's draw depends on its own logits, the seed and b only, never on the other rows."""
    def small(logits):
        return tf.cast(tf.random.stateless_categorical(logits, 1, seed)[:, 0], tf.int32)
    vocab = logits.shape[-1]
    if vocab is None:  # a dynamic width (top-k's k): choose when it is known
        return tf.cond(tf.shape(logits)[-1] >= LARGE_VOCABULARY,
                       lambda: inverse_cdf_draw(logits, seed), lambda: small(logits))
    return inverse_cdf_draw(logits, seed) if vocab >= LARGE_VOCABULARY else small(logits)


def _last_true(mask):
    """Column of each row's last True (mask bool (B, N), a True in every row)."""
    return tf.shape(mask)[1] - 1 - tf.argmax(tf.reverse(mask, [1]), axis=1, output_type=tf.int32)


def inverse_cdf_draw(logits, seed):
    """categorical() for a large vocabulary: one uniform number u per row, placed on the
    cumulative probabilities, first among blocks of ~sqrt(V) tokens, then inside the chosen block
    (a full cumsum over V is as slow as the draw it replaces). A token of probability 0 (-inf
    logit) spans an empty interval, so it is never chosen; the clamps keep float rounding at an
    interval's ends from landing past the last token (or before the first) that has mass.
    The search runs in float64, as the op it replaces does: a float32 u lies on a grid of
    2**-23, which would make every token's chance a multiple of that. Only the ~sqrt(V) block
    sums and the chosen block are float64; the softmax over V stays float32."""
    rows, vocab = tf.shape(logits)[0], tf.shape(logits)[1]
    width = tf.cast(tf.math.ceil(tf.sqrt(tf.cast(vocab, tf.float32))), tf.int32)
    n_blocks = (vocab + width - 1) // width
    probs = tf.pad(tf.nn.softmax(logits), [[0, 0], [0, n_blocks * width - vocab]])
    blocks = tf.reshape(probs, [rows, n_blocks, width])
    mass = tf.cast(tf.reduce_sum(blocks, axis=2), tf.float64)
    upto = tf.cumsum(mass, axis=1)
    u = tf.random.stateless_uniform([rows], seed, dtype=tf.float64) * upto[:, -1]
    block = tf.reduce_sum(tf.cast(upto <= u[:, None], tf.int32), axis=1)
    block = tf.minimum(block, _last_true(mass > 0))
    inside = tf.cast(tf.gather(blocks, block, batch_dims=1), tf.float64)
    rest = u - (tf.gather(upto, block, batch_dims=1) - tf.gather(mass, block, batch_dims=1))
    column = tf.reduce_sum(tf.cast(tf.cumsum(inside, axis=1) <= rest[:, None], tf.int32), axis=1)
    column = tf.clip_by_value(column, tf.argmax(inside > 0, axis=1, output_type=tf.int32),
                              _last_true(inside > 0))
    return block * width + column


class Sampler:
    """Base class. Subclasses set ``name`` and implement ``sample``."""

    name = "base"
    stochastic = True

    def __init__(self, temperature=1.0):
        self.temperature = check_temperature(temperature)

    def get_params(self):
        """Numeric options as a dict of Python scalars (become tensors in the compiled loop)."""
        return {"temperature": self.temperature}

    def sample(self, logits, seed, params):
        """logits float32 (B, V) (already processed), seed int32 (2,), params: dict of tensors.
        Returns int32 (B,). Must be tf-traceable."""
        raise NotImplementedError

    def __call__(self, logits, seed=0, step=0):
        """Eager convenience: sample once from ``logits`` (B, V)."""
        params = {k: tf.constant(v) for k, v in self.get_params().items()}
        logits = tf.convert_to_tensor(logits, tf.float32)
        return self.sample(logits, step_seed(make_seed(seed), step), params)

    def __repr__(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({opts})"
