"""Classification examples → token ids → tf.data batches for Keras.

Text batches are right-padded with id 0 (masked) to the longest example of each batch; batches
are made of examples of similar length, so little time goes into padding::

    shuffle all → cut into chunks of 50 batches → sort each chunk by length → cut into batches
    → shuffle the batches

Numeric sequences (N, T, F) are batched as they are. No TensorFlow import at module level.
"""
from __future__ import annotations

import numpy as np


def encode_texts(tokenizer, texts: list[str], max_len: int) -> list[np.ndarray]:
    """Token ids per text, the first ``max_len`` kept; an empty text becomes one <unk> so that
    no example is all padding (a zero-length sequence has no final state).

    Each text is read in the Unicode form the vocabulary knows (``encode_known_form``): a
    Korean review typed as jamo (NFD) gets the label its syllables (NFC) would get."""
    from rnnlm.tokenizers import UNK_ID

    out = []
    for text in texts:
        ids = tokenizer.encode_known_form(text)[1][:max_len] or [UNK_ID]
        out.append(np.asarray(ids, dtype=np.int32))
    return out


def pad(sequences: list[np.ndarray], length: int | None = None) -> np.ndarray:
    """Right-pad with 0 to ``length`` (default: the longest)."""
    length = length or max(len(s) for s in sequences)
    out = np.zeros((len(sequences), length), np.int32)
    for row, s in enumerate(sequences):
        out[row, :len(s)] = s[:length]
    return out


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None):
    """Index batches of similar length; shuffled when ``rng`` is given, else in length order."""
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    order = rng.permutation(len(lengths))
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def dataset(inputs, y: np.ndarray | None, batch_size: int, shuffle: bool, seed: int = 0,
            fixed_length: int | None = None):
    """tf.data of (x, y) batches (or x alone when ``y`` is None).

    ``inputs``: a list of id arrays (text) or an (N, T, F) float array (numeric).
    Text batches are bucketed by length and padded per batch (``fixed_length``: all to that).
    """
    import tensorflow as tf

    if isinstance(inputs, np.ndarray):
        ds = tf.data.Dataset.from_tensor_slices(inputs if y is None else (inputs, y))
        if shuffle:
            ds = ds.shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    lengths = np.array([len(s) for s in inputs])
    epoch = {"n": 0}

    def batches():
        rng = np.random.default_rng(seed + epoch["n"]) if shuffle else None
        epoch["n"] += 1
        for index in length_batches(lengths, batch_size, rng):
            x = pad([inputs[i] for i in index], fixed_length)
            yield x if y is None else (x, y[index])

    ids_spec = tf.TensorSpec((None, fixed_length), tf.int32)
    spec = ids_spec if y is None else (ids_spec, tf.TensorSpec((None,), tf.int32))
    count = len(length_batches(lengths, batch_size, None if not shuffle else
                               np.random.default_rng(0)))  # the same count for every epoch
    ds = tf.data.Dataset.from_generator(batches, output_signature=spec)
    return ds.apply(tf.data.experimental.assert_cardinality(count)).prefetch(4)


def batch_order(inputs, batch_size: int) -> np.ndarray:
    """The example order ``dataset(..., shuffle=False)`` yields (to realign predictions)."""
    if isinstance(inputs, np.ndarray):
        return np.arange(len(inputs))
    lengths = np.array([len(s) for s in inputs])
    return np.concatenate(length_batches(lengths, batch_size, None))
