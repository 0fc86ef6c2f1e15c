"""What a language-model run checks and prepares before it writes anything: the texts it
trains and validates on (split, digest), the tokenizer, a batch that fits the windows, and the
options that cannot work here (a warm-up as long as the run, a schedule without validation
text, weight drop on a GPU, TensorBoard not installed). Each check raises RnnlmError with the
line the CLI prints; ``rnnlm.api`` calls them in order, for a new run and a resumed one."""
from __future__ import annotations

import dataclasses
import os
import warnings

from rnnlm import corpora, data, pace
from rnnlm.config import ModelConfig, TokenizerConfig, TrainConfig
from rnnlm.errors import RnnlmError, RnnlmWarning
from rnnlm.tokenizers import build_tokenizer
from rnnlm.tokenizers.base import text_pieces


def texts_sha256(train_text: str, valid_text: str) -> str:
    """The run's training and validation text, as --resume must find them again."""
    import hashlib
    import itertools

    # The digest of f"{train_text}\0{valid_text}" in UTF-8, a piece at a time: whole, the
    # joined text and its UTF-8 were two more copies of the corpus.
    digest = hashlib.sha256()
    for piece in itertools.chain(text_pieces(train_text, anywhere=True), ["\0"],
                                 text_pieces(valid_text, anywhere=True)):
        digest.update(piece.encode("utf-8"))
    return digest.hexdigest()


def check_validation(valid_text: str, tok, valid_fraction: float, valid: str | None) -> None:
    """A run asked to validate (--valid, or --valid-fraction > 0) must get text it can score:
    without it the best checkpoint would silently be chosen on the training loss."""
    if valid is None and not valid_fraction:
        return
    # A prefix answers it (the whole text is encoded once, later, for validation).
    if len(valid_text) > 1 and len(tok.encode(valid_text[:1000])) >= 2:
        return
    if valid is not None:
        where, instead = f"--valid {valid}", "drop --valid and give --valid-fraction 0"
    else:
        where, instead = f"--valid-fraction {valid_fraction:g}", "--valid-fraction 0"
    raise RnnlmError(f"the validation text ({where}) is too short to evaluate: it needs at "
                     f"least 2 tokens; give more text, or {instead} for no validation")


def batch_within_windows(train_cfg: TrainConfig, train_ids) -> TrainConfig:
    """A batch of distinct windows: with fewer windows than --batch-size, a pass would be one
    short batch (or, with random offsets, a batch would repeat windows), and tokens/s and the
    passes that time the recipe's weight drop would be counted from a batch that isn't there.
    Raises, before anything is written, when not even one window fits."""
    windows = data.checked_num_windows(train_ids, train_cfg.seq_len)
    if windows >= train_cfg.batch_size:
        return train_cfg
    warn(f"batch size {windows}, not {train_cfg.batch_size}: the training text has {windows} "
         f"window{'s' if windows > 1 else ''} of --seq-len {train_cfg.seq_len}")
    return dataclasses.replace(train_cfg, batch_size=windows)


def check_fits_in_memory(model_cfg: ModelConfig, train_cfg: TrainConfig) -> None:
    """A model too large for this machine, refused before it is built: TensorFlow's
    out-of-memory error is a page of traceback, and past the memory the system kills the
    process outright (a 3 × 20,000 LSTM: exit 137, and an empty run folder left)."""
    from rnnlm.defaults import recurrent_parameters

    m = model_cfg
    vocabulary, units = m.vocabulary_size, m.units
    params = (recurrent_parameters(m.cell, m.num_layers, units, m.embedding_dim)
              + vocabulary * m.embedding_dim  # the embedding; the output layer:
              + ((units * m.embedding_dim if units != m.embedding_dim else 0) if m.tie_weights
                 else units * vocabulary) + vocabulary)
    # float32: the weights, their gradients and Adam's two moments; a batch's activations (a
    # few per unit and step, per layer) and its logits, their softmax and its gradient.
    steps = train_cfg.batch_size * train_cfg.seq_len
    need = 4 * (4 * params + steps * (6 * m.num_layers * units + 3 * vocabulary))
    have = physical_memory()
    if have and need > have:
        raise RnnlmError(f"a model of {params:,} parameters needs about {need / 2 ** 30:,.1f} GiB "
                         f"to train at --batch-size {train_cfg.batch_size} × --seq-len "
                         f"{train_cfg.seq_len}, more than this machine's "
                         f"{have / 2 ** 30:,.1f} GiB: give a smaller --units or --layers")


def physical_memory() -> int:
    """Bytes of memory this machine has (0 where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def check_warmup(train_cfg: TrainConfig, train_tokens: int) -> None:
    """A warm-up as long as the run would keep the learning rate near zero throughout."""
    planned = pace.planned_passes(train_cfg, train_tokens) * pace.steps_per_pass(
        train_tokens, train_cfg.seq_len, train_cfg.batch_size)
    if train_cfg.warmup_steps and train_cfg.warmup_steps >= planned:
        raise RnnlmError(f"--warmup-steps {train_cfg.warmup_steps} is as long as the whole run "
                         f"({planned:.0f} steps): the learning rate would never reach --lr")


def check_needs_validation(train_cfg: TrainConfig, valid_text: str) -> None:
    """Options that act on the validation loss do nothing in a run without one."""
    if len(valid_text) > 1:
        return
    for flag, given in (("--lr-schedule plateau", train_cfg.lr_schedule == "plateau"),
                        ("--early-stopping", train_cfg.early_stopping is not None)):
        if given:
            raise RnnlmError(f"{flag} acts on the validation loss, and this run has no "
                             f"validation text (--valid-fraction 0): give one or drop {flag}")


def trained_tokenizer(tok_cfg: TokenizerConfig, train_text: str):
    tok = build_tokenizer(tok_cfg.kind, **tok_cfg.options).train(train_text)
    asked = getattr(tok, "vocab_size", None)  # SentencePiece's is a bound: a small text has fewer
    if asked and tok.vocabulary_size < asked:
        sample = getattr(tok, "max_chars", None)
        why = (f"SentencePiece trains on a sample of {sample:,} of the text's {len(train_text):,} "
               f"characters, and the sample holds no more" if sample and len(train_text) > sample
               else "the text holds no more")
        warn(f"sentencepiece vocabulary: {tok.vocabulary_size:,} pieces, fewer than "
             f"--vocab-size {asked:,} ({why})")
    say_lowered_coverage(tok)
    return tok


def say_lowered_coverage(tok) -> None:
    """The line for a SentencePiece --vocab-size too small for the default's characters."""
    lowered = getattr(tok, "lowered_coverage", None)
    if lowered:
        warn(f"sentencepiece: --vocab-size {tok.vocab_size:,} is too small for a piece per "
             f"character of the text; the commonest characters, {lowered:.1%} of it, have one, "
             f"and the rarer ones are spelt in byte pieces")


def warn(message: str) -> None:
    """What differs from what the user asked for: a warning, which reaches a Python caller
    whatever ``quiet`` says (the CLI prints it as one ``warning:`` line)."""
    warnings.warn(message, RnnlmWarning, stacklevel=3)


def split(text: corpora.Corpus, valid: str | None, valid_fraction: float, encoding: str):
    if valid is not None:
        return text.train, corpora.read_text(valid, encoding)
    if text.valid is not None:  # a card with its own validation split
        return text.train, text.valid
    return data.split_text(text.train, valid_fraction)


def gpu_visible() -> bool:
    from rnnlm.models.precision import gpu_visible

    return gpu_visible()


def check_weight_drop_device() -> None:
    if gpu_visible():  # the LSTM layer refuses it too; this says so first
        raise RnnlmError("--weight-drop runs in rnnlm's CPU LSTM kernel, and a GPU trains with "
                         "cuDNN: drop --weight-drop, or hide the GPU (CUDA_VISIBLE_DEVICES=)")


def check_tensorboard() -> None:
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise RnnlmError("--tensorboard needs the tensorboard package: "
                         "pip install 'rnnlm[tensorboard]' (or pip install tensorboard)")
