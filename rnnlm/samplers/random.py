"""Ancestral sampling from softmax(logits / temperature). T -> 0 approaches greedy."""

from rnnlm.samplers.base import Sampler, categorical


class RandomSampler(Sampler):
    name = "random"

    def sample(self, logits, seed, params):
        return categorical(logits / params["temperature"], seed)
