"""A language model's exact loss on a token stream: the validation figure of every epoch
(training.EpochEnd) and ``LM.evaluate``. Rows carry their RNN state from window to window, so
every token is scored with all the context before it, as char-rnn and PyTorch's
word_language_model evaluate."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from rnnlm import data

LN2 = math.log(2.0)


@dataclass
class Evaluation:
    nats: float  # summed negative log-likelihood of every target token
    tokens: int
    characters: int

    @property
    def loss(self) -> float:
        return self.nats / max(self.tokens, 1)

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.loss, 700.0))

    @property
    def bpc(self) -> float:
        """Bits per character: comparable between char, word and subword models of one text."""
        return self.nats / max(self.characters, 1) / LN2

    def as_dict(self, prefix: str = "") -> dict:
        return {f"{prefix}loss": self.loss, f"{prefix}perplexity": self.perplexity,
                f"{prefix}bpc": self.bpc, f"{prefix}tokens": self.tokens,
                f"{prefix}characters": self.characters}


def evaluate_ids(model, ids: np.ndarray, characters: int, batch_size=64, seq_len=100) -> Evaluation:
    """Exact summed NLL over an id stream, carrying RNN state from window to window."""
    x, y = data.eval_streams(ids, batch_size, seq_len)
    states = model.initial_states(x.shape[0])
    nats, count = 0.0, 0
    step = _eval_window_fn(model)
    for start in range(0, x.shape[1], seq_len):
        window_nats, window_count, states = step(x[:, start:start + seq_len],
                                                 y[:, start:start + seq_len], states)
        nats += float(window_nats)
        count += int(window_count)
    return Evaluation(nats, count, characters)


def _eval_window_fn(model):
    # One compiled function per model, reused across epochs (no retracing per call).
    if getattr(model, "_rnnlm_eval_fn", None) is None:
        @tf.function(reduce_retracing=True)
        def window(x, y, states):
            # Unmasked: eval_streams pads only the end of the stream, after every real token of
            # its row, and pad targets are not counted, so the sum is exact without a mask. A
            # mask would hold rows that are all padding (the stream's last rows in its last
            # windows), which cuDNN refuses: on a GPU Keras stops with an error there.
            logits, new_states = model.forward(x, states, training=False, padded=False)
            nll = tf.nn.sparse_softmax_cross_entropy_with_logits(y, tf.cast(logits, tf.float32))
            weight = tf.cast(tf.not_equal(y, 0), tf.float32)  # pad targets are not counted
            return tf.reduce_sum(nll * weight), tf.reduce_sum(weight), tuple(new_states)
        model._rnnlm_eval_fn = window
    return model._rnnlm_eval_fn
