"""Top-k sampling: draw from the k most likely tokens only (after temperature)."""

import tensorflow as tf

from rnnlm.samplers.base import Sampler, categorical, check_top_k


class TopKSampler(Sampler):
    name = "top_k"

    def __init__(self, k=40, temperature=1.0):
        super().__init__(temperature)
        self.k = check_top_k(k)

    def get_params(self):
        return {"temperature": self.temperature, "k": self.k}

    def sample(self, logits, seed, params):
        k = tf.minimum(params["k"], tf.shape(logits)[-1])
        # Draw among the k best and map back to vocabulary ids: exactly k candidates even
        # when logits tie at the k-th value.
        values, indices = tf.math.top_k(logits, k=k)
        choice = categorical(values / params["temperature"], seed)
        return tf.gather(indices, choice, batch_dims=1)
