"""The sampler contract: one token id per row from processed logits.

A sampler is a small config object plus a pure, tf-traceable ``sample`` function. Its numeric
options travel into the compiled decoding loop as *tensors* (``get_params``), so changing the
temperature, k or p between calls never retraces; only the sampler's class is part of the trace.
"""

import math

import tensorflow as tf


def check_temperature(temperature):
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be > 0 (got {temperature!r})")
    return float(temperature)


def check_top_k(k):
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be an integer >= 1 (got {k!r})")
    return k


def check_top_p(p):
    if not (isinstance(p, (int, float)) and 0 < p <= 1):
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


def categorical(logits, seed):
    """One stateless draw per row from unnormalised (possibly -inf) logits -> int32 (B,)."""
    return tf.cast(tf.random.stateless_categorical(logits, 1, seed)[:, 0], tf.int32)


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
