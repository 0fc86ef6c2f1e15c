"""Logit processors applied before any sampler: forbidden ids, repetition penalty, no-repeat
n-grams, whole UTF-8 characters from byte pieces.

They need the sequence so far, kept as a ``Context``:
  history  int32 (B, L)  prompt tokens then generated tokens, left-aligned, zero-padded
  length   int32 (B,)    valid tokens in ``history`` (prompt length + tokens generated so far)
  seen     bool  (B, V)  token ids present in ``history`` (prompt included) - repetition penalty
  utf8     int32 (B,)    the UTF-8 validator's state after the bytes so far (utf8.py)
"""

import collections

import tensorflow as tf

from rnnlm.samplers import utf8
from rnnlm.config import is_integer, is_real

NEG_INF = -float("inf")
Context = collections.namedtuple("Context", ["history", "length", "seen", "utf8"])


# The ban compares each n-gram's tokens one by one in the traced graph: n = 1000 took 16 s to
# trace and 10**6 never finished. Bans are short in practice (2 to 4).
MAX_NGRAM = 100


def check_repetition_penalty(penalty):
    if not (is_real(penalty) and penalty > 0):
        raise ValueError(f"repetition_penalty must be > 0 (got {penalty!r}; 1.0 disables it)")
    return float(penalty)


def check_ngram_size(n):
    if not is_integer(n) or n < 0:
        raise ValueError(f"no_repeat_ngram must be an integer >= 0 (got {n!r}; 0 disables it)")
    if n > MAX_NGRAM:
        raise ValueError(f"no_repeat_ngram must be at most {MAX_NGRAM} (got {n})")
    return int(n)


def forbidden_bias(vocab_size, forbidden_ids):
    """float32 (V,): -inf at forbidden ids (out-of-range ids ignored), 0 elsewhere."""
    ids = [i for i in set(forbidden_ids) if 0 <= i < vocab_size]
    hit = tf.scatter_nd(tf.constant(ids, tf.int32)[:, None], tf.ones([len(ids)], tf.bool), [vocab_size])
    return tf.where(hit, NEG_INF, 0.0)


def new_context(token_ids, lengths, vocab_size, extra):
    """Context for right-padded prompts (B, T) with room for ``extra`` more tokens."""
    history = tf.pad(token_ids, [[0, 0], [0, extra]])
    valid = tf.sequence_mask(lengths, tf.shape(token_ids)[1])
    rows = tf.broadcast_to(tf.range(tf.shape(token_ids)[0])[:, None], tf.shape(token_ids))
    idx = tf.stack([rows, token_ids], axis=-1)[valid]
    seen = tf.scatter_nd(idx, tf.ones(tf.shape(idx)[:1], tf.int32), [tf.shape(token_ids)[0], vocab_size]) > 0
    # A prompt is text, so its bytes end on a whole character.
    return Context(history, lengths, seen, tf.fill(tf.shape(lengths), utf8.ANY))


def append(ctx, tokens, active, track_history=True, track_seen=True, byte_classes=None):
    """Append tokens (B,) to rows where ``active``; other rows unchanged. The loop skips the
    history/seen/utf8 updates (static flags) when no processor reads them."""
    history, seen, state = ctx.history, ctx.seen, ctx.utf8
    if track_history:
        rows = tf.range(tf.shape(tokens)[0])
        pos = tf.minimum(ctx.length, tf.shape(history)[1] - 1)
        cur = tf.gather(history, pos, batch_dims=1)
        history = tf.tensor_scatter_nd_update(history, tf.stack([rows, pos], -1), tf.where(active, tokens, cur))
    if track_seen:
        seen = seen | (tf.one_hot(tokens, tf.shape(seen)[1], on_value=True, off_value=False) & active[:, None])
    if byte_classes is not None:
        state = tf.where(active, utf8.advance(state, tokens, byte_classes), state)
    return Context(history, ctx.length + tf.cast(active, tf.int32), seen, state)


def repetition_penalty(logits, seen, penalty):
    """CTRL (Keskar et al. 2019): seen tokens get positive logits divided, negative multiplied."""
    penalised = tf.where(logits > 0, logits / penalty, logits * penalty)
    return tf.where(seen, penalised, logits)


def no_repeat_ngram_ban(history, length, n, vocab_size):
    """bool (B, V): tokens that would complete an n-gram already present in ``history``.

    Window i (tokens i .. i+n-1) bans its last token when its first n-1 tokens equal the
    sequence's last n-1 tokens and the window lies wholly inside the valid part.
    """
    size = tf.minimum(tf.reduce_max(length), tf.shape(history)[1])  # skip the unused tail
    history, batch = history[:, :size], tf.shape(history)[0]
    windows = tf.maximum(size - n + 1, 0)
    match = tf.range(windows)[None, :] <= (length - n)[:, None]
    for j in range(n - 1):
        tail = tf.gather(history, tf.maximum(length - n + 1 + j, 0), batch_dims=1)
        match &= history[:, j:j + windows] == tail[:, None]
    last = history[:, n - 1:n - 1 + windows]
    rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(last))
    idx = tf.reshape(tf.stack([rows, last], -1), [-1, 2])
    hits = tf.scatter_nd(idx, tf.reshape(tf.cast(match, tf.int32), [-1]), [batch, vocab_size])
    return hits > 0


def process(logits, ctx, bias, penalty=None, ngram=0, utf8_bias=None):
    """Apply the processors in order: penalty, n-gram ban, then the ids that may never come
    (forbidden ids, always, and byte pieces that would break a UTF-8 character: ``utf8_bias``
    is utf8.state_bias, which holds the forbidden ids too)."""
    if utf8_bias is not None:  # (B, V): each row's bias for its UTF-8 state
        bias = tf.gather(utf8_bias, ctx.utf8)
    if penalty is not None:
        logits = repetition_penalty(logits, ctx.seen, penalty)
    if ngram > 0:
        banned = no_repeat_ngram_ban(ctx.history, ctx.length, ngram, tf.shape(logits)[1])
        # If the ban leaves nothing allowed, drop the ban for that row rather than emit garbage.
        allowed = tf.reduce_any(~banned & (bias == 0), axis=-1, keepdims=True)
        logits = tf.where(banned & allowed, NEG_INF, logits)
    return logits + bias
