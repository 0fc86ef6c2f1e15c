"""Greedy decoding: always the most likely allowed token (ties -> lowest id)."""

import tensorflow as tf

from rnnlm.samplers.base import Sampler


class GreedySampler(Sampler):
    name = "greedy"
    stochastic = False

    def __init__(self):
        self.temperature = 1.0  # argmax is temperature-invariant

    def get_params(self):
        return {}

    def sample(self, logits, seed, params):
        return tf.argmax(logits, axis=-1, output_type=tf.int32)
