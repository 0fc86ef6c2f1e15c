"""Samplers (one small file each), logit processors and the compiled decoding loop.

    get_sampler("top_p", p=0.9, k=40, temperature=0.8)
    Decoder(prefill_fn, next_fn).generate(prompt_ids, sampler=..., max_new_tokens=200, seed=0)

Nothing here imports a model: the decoder is handed the model's prefill/next functions.
"""

from rnnlm.samplers.base import Sampler
from rnnlm.samplers.beam import BeamSampler
from rnnlm.samplers.decode import Decoder, Generation
from rnnlm.samplers.prompts import pad_prompts, truncate_at_stop
from rnnlm.samplers.greedy import GreedySampler
from rnnlm.samplers.random import RandomSampler
from rnnlm.samplers.top_k import TopKSampler
from rnnlm.samplers.top_p import TopPSampler

SAMPLERS = {
    "greedy": GreedySampler,
    "random": RandomSampler,
    "top_k": TopKSampler,
    "top_p": TopPSampler,
    "beam": BeamSampler,
}


def get_sampler(name, **options):
    """Sampler by registry name with its options; a sampler instance is returned unchanged."""
    if isinstance(name, (Sampler, BeamSampler)):
        if options:
            raise ValueError("options are only accepted together with a sampler name")
        return name
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid samplers: {', '.join(SAMPLERS)}")
    try:
        return SAMPLERS[name](**options)
    except TypeError as err:  # unexpected keyword -> one actionable line
        raise ValueError(f"bad option for sampler {name!r}: {err}") from None


__all__ = ["SAMPLERS", "get_sampler", "Sampler", "GreedySampler", "RandomSampler", "TopKSampler",
           "TopPSampler", "BeamSampler", "Decoder", "Generation", "pad_prompts", "truncate_at_stop"]
