"""Training precision on a CPU: which matmuls run in bfloat16, and where that is chosen.

Keras's ``mixed_bfloat16`` policy casts whole layers, and its LSTM then runs every elementwise
gate op in bfloat16 too; the issue's probe measured it at 0.66× of float32 on this CPU. Here only
the matmuls take bfloat16 inputs (oneDNN accumulates in float32); their results are cast straight
back, so gates, cell state, logits, the loss and the weights stay float32. It applies while
training only: evaluation, scoring and generation compute in float32, and a run's weights are
the same float32 variables whichever precision trained them.

Layers opt in by having a ``training_matmul_dtype`` attribute (fused_lstm.LSTM, language_model's
output layers); ``set_training_precision`` sets it on every such layer of a model.
"""
from __future__ import annotations

import functools

import tensorflow as tf

_GPU = {}


def float32_layers(method):
    """Decorator for the methods that create a model's layers (``__init__``, and the first call
    that builds them): they are float32 whatever global dtype policy the user's own code set
    (``keras.mixed_precision.set_global_policy("mixed_bfloat16")`` would otherwise cast them,
    and change what a run computes). rnnlm chooses its training precision itself, per matmul."""
    @functools.wraps(method)
    def wrapped(*args, **kwargs):
        import keras

        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("float32")
        try:
            return method(*args, **kwargs)
        finally:
            keras.config.set_dtype_policy(previous)
    return wrapped


def gpu_visible() -> bool:
    if "any" not in _GPU:
        _GPU["any"] = bool(tf.config.list_logical_devices("GPU"))
    return _GPU["any"]


@functools.cache  # the CPU does not change while the process runs: read /proc/cpuinfo once
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16_matmul() -> bool:
    """AVX512_BF16 or AMX: the CPU multiplies bfloat16 natively (elsewhere it is emulated, slower)."""
    return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())


def resolve_precision(precision: str) -> str:
    """TrainConfig.precision → the matmul dtype training uses. "auto" (every recipe's default)
    picks bfloat16 on a CPU-only machine whose CPU multiplies bfloat16 natively (AMX or
    AVX512_BF16), where it won on quality per minute. With AMX: the 30-minute 1 × 640 char run
    trained 1.4× the tokens/s of float32 (17,800 against 13,000), learned as much per epoch,
    and ended at 1.409 against 1.418 nats/char; the 30-minute PTB word run trained 1.33× the
    tokens/s and ended at validation perplexity 93.1 against 94.0; the 6-minute SentencePiece
    run 1.2× the tokens/s, 2.194 against 2.219 bits/char. With AVX512_BF16 alone (2026-12-07):
    the char default's 12-minute run learned the same per epoch to 0.001 at 1.2× the tokens/s
    and ended at 1.4285 against 1.4371; at 30 minutes the speed let it take 1 × 768 for
    float32's 1 × 512, and it ended at 1.4082 against 1.4132 (an earlier pair on such a CPU,
    both 1 × 512, ended 0.005 behind, inside the seeds' spread); the 30-minute PTB word run
    trained 1.4× the tokens/s and ended at 93.4 against 95.9. Elsewhere bfloat16 is emulated
    and slower: float32 (bench/train.py quality, README)."""
    if precision != "auto":
        return precision
    return "bfloat16" if cpu_has_bf16_matmul() and not gpu_visible() else "float32"


def set_training_precision(model, precision: str) -> str:
    """Point every layer of ``model`` that has a training matmul dtype at ``precision``;
    returns the dtype chosen."""
    dtype = resolve_precision(precision)
    for layer in model._flatten_layers():
        if hasattr(layer, "training_matmul_dtype"):
            layer.training_matmul_dtype = dtype
    return dtype


def matmul(a, b, dtype, **kwargs):
    """``tf.matmul`` with inputs cast to ``dtype`` and the result back to float32."""
    dtype = tf.as_dtype(dtype)
    if dtype == tf.float32:
        return tf.matmul(a, b, **kwargs)
    return tf.cast(tf.matmul(tf.cast(a, dtype), tf.cast(b, dtype), **kwargs), tf.float32)
