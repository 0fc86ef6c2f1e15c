"""Corpus → token ids → tf.data for teacher forcing.

Training windows (independent, shuffled each epoch)::

    ids:    t0 t1 t2 t3 t4 t5 t6 t7 t8 t9 ...
    window  [t0 .. t4] [t4 .. t8] [t8 .. t12]        seq_len = 4, stride 4, one token of overlap
    x = window[:-1] = t0 t1 t2 t3       y = window[1:] = t1 t2 t3 t4

Every token is a target exactly once per epoch. Validation is a separate stream (the tail of the
corpus or its own file), so no training window ever overlaps it.

Evaluation streams (state carried from window to window, as char-rnn and PyTorch's
word_language_model evaluate)::

    stream 0: t0    t1    ... t(L-1)    ← the id sequence cut into B contiguous rows
    stream 1: tL    ...       t(2L-1)
    ...       windows of seq_len columns, left to right, final states of one feed the next
"""
from __future__ import annotations

import numpy as np

from rnnlm.errors import RnnlmError


def compact(ids) -> np.ndarray:
    """Store ids in the smallest integer type that holds them (no one-hot anywhere)."""
    ids = np.asarray(ids)
    return ids.astype(compact_dtype(ids.max() if ids.size else 0), copy=False)


def compact_dtype(largest_id: int):
    return np.uint16 if largest_id < 2**16 else np.int32


def encode_corpus(tok, text: str) -> np.ndarray:
    """``compact(tok.encode(text))``, a piece of the text at a time (tokenizers.text_pieces):
    encoding a 50 MB corpus whole held its ids as a Python list and NumPy's int64 copy of it,
    16 bytes a character, 800 MB for 100 MB of ids."""
    from rnnlm.tokenizers.base import text_pieces

    dtype = compact_dtype(tok.vocabulary_size - 1)
    pieces = [np.asarray(tok.encode(piece), dtype)
              for piece in text_pieces(text, anywhere=tok.encodes_anywhere)]
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype)


def split_text(text: str, valid_fraction: float) -> tuple[str, str]:
    """Train = the head, validation = the last ``valid_fraction`` of the characters."""
    if valid_fraction <= 0:
        return text, ""
    cut = int(len(text) * (1 - valid_fraction))
    return text[:cut], text[cut:]


def num_windows(num_tokens: int, seq_len: int) -> int:
    return (num_tokens - 1) // seq_len


def batches_per_pass(num_tokens: int, seq_len: int, batch_size: int) -> int:
    """Batches of one pass of lm_dataset (a partial batch only when there is no full one)."""
    return max(1, num_windows(num_tokens, seq_len) // batch_size)


def tokens(count: int) -> str:
    return f"{count:,} token{'s' * (count != 1)}"


def checked_num_windows(ids: np.ndarray, seq_len: int) -> int:
    """num_windows, raising if not even one window fits."""
    count = num_windows(len(ids), seq_len)
    if count < 1:
        raise RnnlmError(f"the training text has {tokens(len(ids))}, fewer than one window of "
                         f"--seq-len {seq_len} + 1; use a longer corpus or a smaller --seq-len")
    return count


def training_windows(ids: np.ndarray, seq_len: int) -> np.ndarray:
    """(num_windows, seq_len + 1) windows with stride seq_len; raises if not even one fits."""
    count = checked_num_windows(ids, seq_len)
    # A view of ids (an index array of the windows would be 8 bytes a token).
    return np.lib.stride_tricks.sliding_window_view(np.asarray(ids), seq_len + 1)[::seq_len][:count]


def lm_dataset(ids: np.ndarray, seq_len: int, batch_size: int, seed: int = 0, shuffle=True,
               random_offsets: bool = False):
    """tf.data of (x, y) int32 batches of a fixed shape.

    A partial last batch is dropped when there is at least one full batch: one shape means one
    trace of the training step, and reshuffling each epoch drops different windows each time.
    ``random_offsets``: see offset_windows (an endless dataset: one pass after another).
    """
    import tensorflow as tf

    if random_offsets:
        return offset_windows(ids, seq_len, batch_size, seed)
    windows = training_windows(ids, seq_len)
    ds = tf.data.Dataset.from_tensor_slices(windows)
    if shuffle:
        ds = ds.shuffle(len(windows), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=len(windows) >= batch_size).map(_to_xy, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def offset_windows(ids: np.ndarray, seq_len: int, batch_size: int, seed: int = 0):
    """Shuffled training windows whose grid starts at a random offset in [0, seq_len) in each
    pass over the data (AWD-LSTM varies its window length for the same reason)::

        pass 1, offset 0:  [t0 .. t4] [t4 .. t8] ...
        pass 2, offset 3:  [t3 .. t7] [t7 .. t11] ...     seq_len = 4

    With a fixed grid a token sits at the same place in its window every pass, so it is always
    predicted from the same length of context, and the model meets the same ~10,000 windows of
    tiny-shakespeare over and over. Moving the grid gives every pass new windows and every token
    a new context length. Endless (passes follow each other; a batch may span two); the offset
    and order of pass k come from (seed, k), so a seed trains the same run.
    """
    import tensorflow as tf

    checked_num_windows(ids, seq_len)  # the windows themselves are cut per pass, below
    tokens = tf.constant(compact(ids))  # uint16 for most vocabularies; _to_xy casts each batch
    last_start = len(ids) - 1 - seq_len  # a window needs seq_len + 1 tokens
    offsets = min(seq_len, last_start + 1)  # every pass has at least one window

    def one_pass(k):
        pass_seed = tf.stack([tf.constant(seed, tf.int64), k])
        offset = tf.random.stateless_uniform([], pass_seed, 0, offsets, dtype=tf.int64)
        starts = tf.range(offset, last_start + 1, seq_len, dtype=tf.int64)
        starts = tf.random.experimental.stateless_shuffle(starts, pass_seed)
        return tf.data.Dataset.from_tensor_slices(starts)

    def window(start):
        return tokens[start:start + seq_len + 1]

    ds = tf.data.Dataset.range(2**62).flat_map(one_pass)
    ds = ds.map(window, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)
    return ds.map(_to_xy, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _to_xy(window):
    import tensorflow as tf

    window = tf.cast(window, tf.int32)
    return window[:, :-1], window[:, 1:]


def eval_streams(ids: np.ndarray, batch_size: int, seq_len: int):
    """Cut ids into B contiguous rows for state-carrying evaluation.

    Returns (x, y) int32 arrays of shape (B, L) with L a multiple of seq_len; positions past
    the end are 0 (pad), which the loss ignores. Every id after the first is a target once.
    The padding is the end of the stream only, so in each row it follows every real token:
    evaluation runs unmasked (evaluation.evaluate_ids).
    """
    targets = len(ids) - 1
    if targets < 1:
        raise RnnlmError("the evaluation text has fewer than two tokens")
    rows, length = _eval_layout(targets, batch_size, seq_len)
    x = np.zeros(rows * length, np.int32)
    y = np.zeros(rows * length, np.int32)
    x[:targets], y[:targets] = ids[:-1], ids[1:]
    return x.reshape(rows, length), y.reshape(rows, length)


def _eval_layout(targets: int, batch_size: int, seq_len: int) -> tuple[int, int]:
    """(rows, length) of eval_streams: at most batch_size rows, each a multiple of seq_len."""
    rows = max(1, min(batch_size, targets // seq_len))
    length = -(-targets // rows)
    return rows, -(-length // seq_len) * seq_len


def eval_windows(num_tokens: int, batch_size: int, seq_len: int) -> int:
    """How many windows (steps) evaluating ``num_tokens`` ids takes (evaluation.evaluate_ids)."""
    return _eval_layout(max(num_tokens - 1, 1), batch_size, seq_len)[1] // seq_len


def stream_length(num_tokens: int, batch_size: int) -> int:
    """Targets per stream when ``num_tokens`` ids are cut into ``batch_size`` contiguous streams."""
    return (num_tokens - 1) // batch_size


def stream_windows(ids: np.ndarray, batch_size: int, seq_len: int):
    """Stateful (TBPTT) training layout, as char-rnn and PyTorch's word_language_model use::

        ids cut into B contiguous streams of L = (len(ids) - 1) // B targets each:
        stream 0:  t0      t1  ...  t(L-1)  | batch 0 = columns [0, T), batch 1 = [T, 2T), ...
        stream 1:  tL      ...      t(2L-1) | window k+1 of a row continues window k of that row,
        ...                                 | so the final state of one is the initial state of
        stream B-1                          | the next (reset at each epoch)

    Returns (x, y) int32 arrays (B, L) with y = x shifted by one token; only the last
    (len(ids) - 1) % B targets are left out. Cut into windows by ``stream_dataset``.
    """
    rows = stream_rows(ids, batch_size)
    return rows[:, :-1].astype(np.int32), rows[:, 1:].astype(np.int32)


def stream_rows(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """The streams as (B, L + 1) compact ids, row r's last id the first of row r + 1 (or the
    one after the last target): x and y of stream_windows are its columns [0, L) and [1, L],
    one array of the corpus's size, where the two int32 arrays were four."""
    per_stream = stream_length(len(ids), batch_size)
    if per_stream < 1:
        raise RnnlmError(f"the training text has {tokens(len(ids))}, too few for --batch-size "
                         f"{batch_size} streams; use a longer corpus or a smaller --batch-size")
    ids = compact(ids)
    rows = np.empty((batch_size, per_stream + 1), ids.dtype)
    rows[:, :-1] = ids[:batch_size * per_stream].reshape(batch_size, per_stream)
    rows[:, -1] = ids[per_stream::per_stream][:batch_size]  # the first id of the next row
    return rows


def stream_dataset(ids: np.ndarray, seq_len: int, batch_size: int):
    """tf.data of (x, y) windows (B, ≤T) of the streams, in order (never shuffled); the last
    window of an epoch is shorter when seq_len does not divide the stream length."""
    import tensorflow as tf

    rows = tf.constant(stream_rows(ids, batch_size))
    length = rows.shape[1] - 1
    starts = tf.data.Dataset.range(0, length, seq_len)

    def window(start):
        end = tf.minimum(start + seq_len, length)
        return (tf.cast(rows[:, start:end], tf.int32),
                tf.cast(rows[:, start + 1:end + 1], tf.int32))

    return starts.map(window, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
