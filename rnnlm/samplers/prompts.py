"""Prompt batches in, stop strings out: the plain-Python edges of decoding.

Prompts are right-padded with the pad id, each row's real length given by ``lengths``:

    ids       lengths
    2 5 7 3   4
    3 0 0 0   1        <- pad (0) after the prompt; prefill reads logits at position length-1
    4 9 11 0  3
"""

import numpy as np


def pad_prompts(prompts, pad_id=0):
    """List of id sequences (any lengths >= 1) -> right-padded int32 (B, T), lengths (B,)."""
    lengths = np.array([len(p) for p in prompts], np.int32)
    ids = np.full((len(prompts), max(lengths, default=1)), pad_id, np.int32)
    for row, p in zip(ids, prompts):
        row[:len(p)] = p
    return ids, lengths


def as_prompt_batch(token_ids, lengths=None, pad_id=0):
    """One prompt (ids), a list of prompts of any lengths, or a right-padded (B, T) array
    (lengths default to the last non-pad position) -> int32 ids (B, T), int32 lengths (B,)."""
    if isinstance(token_ids, (list, tuple)) and token_ids and not isinstance(token_ids[0], (int, np.integer)) \
            and lengths is None:
        token_ids, lengths = pad_prompts(token_ids, pad_id)
    ids = np.atleast_2d(np.asarray(token_ids, np.int32))
    if lengths is None:
        real = ids != pad_id
        lengths = np.where(real.any(axis=1), ids.shape[1] - np.argmax(real[:, ::-1], axis=1), 0)
    lengths = np.asarray(lengths, np.int32).reshape(-1)
    if ids.ndim != 2 or ids.size == 0 or lengths.shape != ids.shape[:1] or (lengths < 1).any() \
            or (lengths > ids.shape[1]).any():
        raise ValueError("each prompt needs at least one token and 1 <= length <= its width")
    return ids, lengths


def truncate_at_stop(text, stops):
    """Cut ``text`` before the stop string that is complete first (the one whose end comes
    earliest; of two ending together, the longer) -> (text, stopped). Empty stops are ignored.
    So the cut is where generation would have stopped, whatever text follows: with stops "e"
    and "the ", "the " is cut at its "e", as when the text ended there. For streaming, run it
    on the whole decoded text so far (a stop may span two chunks)."""
    stops = [stops] if isinstance(stops, str) else list(stops or ())
    hits = [(i + len(s), i) for s in stops if s for i in [text.find(s)] if i >= 0]
    return (text[:min(hits)[1]], True) if hits else (text, False)
