"""``LM``: a trained language model as users hold it — tokenizer, Keras model, run directory.

``lm.tokenizer`` and ``lm.model`` (a ``keras.Model``) are public for users who want to go further.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from rnnlm import corpora
from rnnlm.config import describe_train
from rnnlm.errors import RnnlmError, RnnlmWarning
from rnnlm.tokenizers.base import UNK, UNK_ID


SCORE_WINDOW = 1024  # tokens LM.score runs through the model at once


class LM:
    def __init__(self, model, tokenizer, config: dict, run_dir: Path | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._generator = None

    def __repr__(self) -> str:
        m = self.config["model"]
        return (f"LM({m['cell']} {m['num_layers']}×{m['units']}, {self.tokenizer.kind} tokenizer, "
                f"vocabulary {self.tokenizer.vocabulary_size}, run {self.run_dir})")

    # --- scoring -------------------------------------------------------------------------
    def evaluate(self, text: str, batch_size: int | None = None,
                 seq_len: int | None = None) -> dict:
        """Loss (nats/token), perplexity and bits per character of ``text``, and how many of
        its tokens are outside the vocabulary (``unknown_tokens``: each is scored as <unk>, so
        text with many of them scores better than it reads).

        The text is cut into ``batch_size`` streams, each read with state carried from its
        start, as validation is during training; both default to the run's training shape,
        so evaluating the validation text gives the run's own val_loss. (Each stream starts
        from a zero state: more streams, slightly higher loss on a short text.)"""
        from rnnlm.config import check_positive
        from rnnlm.evaluation import evaluate_ids

        _check_text(text, "the text to evaluate")
        batch_size = self.config["train"]["batch_size"] if batch_size is None else batch_size
        check_positive("batch_size", batch_size, integer=True)
        check_positive("seq_len", seq_len, allow_none=True, integer=True)
        text, ids = self.tokenizer.encode_known_form(text)  # NFC or NFD, as the vocabulary has it
        ids = np.asarray(ids, np.int32)
        if len(ids) < 2:
            raise RnnlmError("the text is too short to evaluate (fewer than two tokens)")
        seq_len = seq_len or self.config["train"]["seq_len"]
        check_positive("seq_len", seq_len, integer=True)  # config.json's, edited to 0
        result = evaluate_ids(self.model, ids, self.tokenizer.scored_characters(text, ids),
                              batch_size, seq_len).as_dict()
        return {**result, "unknown_tokens": self._unknown_tokens(text, ids)}

    def _unknown_tokens(self, text: str, ids, start: int = 1) -> int:
        """Tokens of ``text`` from ``start`` (1: the scored ones, as in ``tokens``) read as
        <unk> because the vocabulary lacks them. A corpus's own "<unk>" words (PTB's, whose
        rare words are already replaced) are not counted: the vocabulary holds them, and a
        warning about them would be about every PTB file."""
        unknown = int(np.sum(np.asarray(ids[start:]) == UNK_ID))
        tokenize = getattr(self.tokenizer, "tokenize", None)  # the word tokenizer's words
        if unknown and tokenize is not None:
            unknown -= sum(1 for token in tokenize(text)[start:] if token == UNK)
        return unknown

    def score(self, text: str) -> list[tuple[str, float]]:
        """Per-token log-probabilities (natural log) of ``text``, each token given its prefix.

        The first token has no context and is not scored; sum the values to rank candidates.
        """
        import tensorflow as tf

        _check_text(text, "the text to score")
        ids = np.asarray(self.tokenizer.encode_known_form(text)[1], np.int32)
        if len(ids) < 2:
            return []
        # A window at a time, the state carried between them: the same figures as one pass,
        # without logits for the whole text at once (200k words of a 10k vocabulary: 8 GB).
        states, picked = self.model.initial_states(1), []
        for start in range(0, len(ids) - 1, SCORE_WINDOW):
            window = ids[start:start + SCORE_WINDOW + 1]
            logits, states = self.model.forward(window[None, :-1], states, padded=False)
            logp = tf.nn.log_softmax(tf.cast(logits[0], tf.float32))
            picked.append(tf.gather(logp, window[1:, None], batch_dims=1)[:, 0].numpy())
        return [(self.tokenizer.id_to_token(t), float(p))
                for t, p in zip(ids[1:].tolist(), np.concatenate(picked))]

    # --- generation (rnnlm.generation does the work) ---------------------------------------
    def _gen(self):
        if self._generator is None:
            from rnnlm.generation import Generator

            self._generator = Generator(self.model, self.tokenizer)
        return self._generator

    def _warn_about_prompt(self, prompt: str) -> None:
        """A prompt with tokens the vocabulary lacks is read with <unk> in their place: say so,
        once per call (the model's continuation may not follow what the user typed)."""
        if not isinstance(prompt, str) or not prompt:  # (a prompt of bytes is refused later)
            return
        unknown = self._unknown_tokens(*self.tokenizer.encode_known_form(prompt), start=0)
        if unknown:
            warnings.warn(f"{unknown} token(s) of the prompt are not in the vocabulary; they "
                          f"become <unk>", RnnlmWarning, stacklevel=3)

    def check_generate_options(self, **options) -> None:
        self._gen().check_options(**options)

    def generate(self, prompt: str = "", length: int = 200, num_samples: int = 1, **options):
        """Continuation(s) of ``prompt`` (without the prompt): a string, or a list when
        ``num_samples`` > 1. Options: sampler, temperature, top_k, top_p, beam_width,
        repetition_penalty, no_repeat_ngram, stop, seed."""
        self._warn_about_prompt(prompt)
        samples = self._gen().generate(prompt, length=length, num_samples=num_samples,
                                       log_probs=False, **options)  # text only: none are shown
        texts = [s["text"] for s in samples]
        return texts[0] if num_samples == 1 else texts

    def generate_detailed(self, prompt: str = "", length: int = 200, num_samples: int = 1,
                          **options) -> list[dict]:
        """Like generate, with each sample's log-probability and token count."""
        self._warn_about_prompt(prompt)
        return self._gen().generate(prompt, length=length, num_samples=num_samples, **options)

    def stream(self, prompt: str = "", length: int = 200, **options):
        """An iterator of pieces of generated text, yielded as they are produced. A warning
        about the prompt comes at the call, before the first piece is asked for."""
        self._warn_about_prompt(prompt)
        return self._gen().stream(prompt, length=length, **options)

    # --- files -------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Copy the run (config, tokenizer, weights, history) to ``directory``."""
        from rnnlm import runs

        return runs.copy_run(self.run_dir, directory, what="model")

    def info(self) -> dict:
        from rnnlm import run_contents

        state = run_contents.read_state(self.run_dir) if self.run_dir is not None else {}
        return {"run_dir": str(self.run_dir), "format_version": self.config.get("format_version"),
                "source": self.config.get("source"), "tokenizer": self.tokenizer.config(),
                "vocabulary_size": self.tokenizer.vocabulary_size, "model": self.config["model"],
                "train": self.config["train"], "layers": layer_table(self.model),
                "total_parameters": int(self.model.count_params()),
                "epochs_done": state.get("epochs_done"), "best": state.get("best", {}),
                "resumed_at_epoch": state.get("resumed_at_epoch"),
                "train_seconds": state.get("train_seconds")}


def layer_table(model) -> list[dict]:
    """Name, type, output shape and parameter count per layer, as in a Keras summary."""
    backbone = model.backbone
    rows = []
    if backbone.embedding is not None:
        rows.append((backbone.embedding, f"(None, None, {backbone.embedding_dim})"))
    for layer, units in zip(backbone.rnn_layers, backbone.units):
        rows.append((layer, f"(None, None, {units})"))
    rows.append((model.head, f"(None, None, {model.config.vocabulary_size})"))
    return [{"name": layer.name, "type": type(layer).__name__, "output_shape": shape,
             "parameters": int(layer.count_params())} for layer, shape in rows]


def format_info(details: dict) -> str:
    m, t, best = details["model"], details["tokenizer"], details.get("best") or {}
    options = "".join(f", {key} {value}" for key, value in t["options"].items()
                      if value is not None)
    extras = "".join(f", {name} {m[key]:g}" for key, name in (
        ("embedding_dropout", "embedding dropout"), ("weight_drop", "weight drop")) if m.get(key))
    dropped = m.get("dropout") or m.get("embedding_dropout")
    locked = ", one dropout mask per sequence (locked)" if m.get("locked_dropout") and dropped else ""
    tied = ", output tied to the embedding" if m.get("tie_weights") else ""
    train = dict(details["train"])
    if train.get("precision") == "auto" and best.get("precision"):  # what auto meant there
        train["precision"] = f"auto (trained in {best['precision']})"
    done, resumed = details.get("epochs_done") or 0, details.get("resumed_at_epoch")
    epochs = train.get("epochs")  # config.json keeps the last call's --epochs
    if epochs is not None and resumed is not None:
        train["epochs"] = f"{done - resumed} of {epochs} in the last --resume, {done} in all"
    elif resumed is not None:  # that resume trained until its --time-limit
        train["epochs"] = (f"{done - resumed} in the last --resume (until its time limit), "
                           f"{done} in all")
    elif epochs is not None and done > epochs:  # resumed before runs kept resumed_at_epoch
        train["epochs"] = f"{epochs} in the last --resume, {done} in all"
    source = details.get("source") or {}
    corpus = source.get("corpus", "?")
    if not corpora.is_utf8(source.get("encoding", "utf-8")):  # eval reads held-out text in it
        corpus += f" (encoding {source['encoding']})"
    if source.get("valid"):  # validation read from its own file: no fraction was held out
        train.pop("valid_fraction", None)
        corpus += f", validation {source['valid']}"
    elif corpora.validates_on_its_own_split(source):  # a corpus card's (PTB's valid.txt)
        train.pop("valid_fraction", None)
        corpus += ", validation its own"
    lines = [f"run          {details['run_dir']}  (format {details['format_version']})",
             f"corpus       {corpus}",
             f"tokenizer    {t['kind']}{options}, vocabulary {details['vocabulary_size']}",
             f"model        {m['num_layers']} × {m['cell']} {m['units']}, embedding "
             f"{m['embedding_dim']}, dropout {m['dropout']:g}{extras}{locked}{tied}",
             f"training     {describe_train(train)}", "",
             f"{'layer':<14}{'type':<12}{'output shape':<22}{'params':>12}"]
    for row in details["layers"]:
        lines.append(f"{row['name']:<14}{row['type']:<12}{row['output_shape']:<22}"
                     f"{row['parameters']:>12,}")
    lines.append(f"{'total':<48}{details['total_parameters']:>12,}")
    if best:
        figures = "  ".join(f"{k} {best[k]:.4f}" for k in ("val_loss", "val_perplexity", "val_bpc")
                            if best.get(k) is not None)
        if not figures:  # no validation text: judged on the training loss
            figures = f"training loss {best['loss']:.4f} (no validation text)"
        lines += ["", f"best epoch   {best.get('epoch')} of {details['epochs_done']}: {figures}"]
    return "\n".join(lines)


def _check_text(text, what: str) -> None:
    if not isinstance(text, str):  # bytes would encode as one <unk> per byte, silently
        raise RnnlmError(f"{what} must be a str, got {type(text).__name__}")
