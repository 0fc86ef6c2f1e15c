"""Nucleus (top-p) sampling, optionally restricted to the k best first (keras-hub's design).

Keeps the smallest set of most-likely tokens whose probability (at the given temperature) reaches
p; the most likely token is always kept. With ``k`` only the k best are sorted, which is also much
cheaper than a full sort for a large vocabulary.
"""

import tensorflow as tf

from rnnlm.samplers.base import Sampler, categorical, check_top_k, check_top_p


class TopPSampler(Sampler):
    name = "top_p"

    def __init__(self, p=0.9, k=None, temperature=1.0):
        super().__init__(temperature)
        self.p = check_top_p(p)
        self.k = None if k is None else check_top_k(k)

    def get_params(self):
        # k = 0 means "whole vocabulary" so the compiled loop sees one signature either way.
        return {"temperature": self.temperature, "p": self.p, "k": self.k or 0}

    def sample(self, logits, seed, params):
        vocab = tf.shape(logits)[-1]
        k = tf.where(params["k"] > 0, tf.minimum(params["k"], vocab), vocab)
        values, indices = tf.math.top_k(logits / params["temperature"], k=k)  # sorted
        before = tf.cumsum(tf.nn.softmax(values), axis=-1, exclusive=True)
        # A token is in the nucleus if the mass strictly before it is < p (so index 0 always is).
        values = tf.where(before < params["p"], values, tf.fill(tf.shape(values), -float("inf")))
        return tf.gather(indices, categorical(values, seed), batch_dims=1)
