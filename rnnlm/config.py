"""Configuration dataclasses with a strict JSON round-trip.

Every run directory stores these as ``config.json``; a run is rebuilt from them (never
unpickled), so unknown keys are an error rather than silently ignored.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from rnnlm.errors import RnnlmError
from rnnlm.seeding import MAX_SEED

# A run's config.json format. 2 (2026-12-06): runs hold keys that rnnlm versions reading
# format 1 refuse one by one ("unknown ModelConfig keys: weight_drop"); with 2 they say the
# run is newer and to upgrade. Every version up to this one is read; a resume writes this one.
FORMAT_VERSION = 2
CELLS = ("simple_rnn", "lstm", "gru")
TOKENIZERS = ("char", "word", "sentencepiece")
LR_SCHEDULES = ("none", "cosine", "wsd", "plateau")
PRECISIONS = ("auto", "float32", "bfloat16")
OPTIMIZERS = ("adam", "sgd")
MERGE_MODES = ("concat", "sum", "ave", "mul")  # how Bidirectional joins its two directions


def is_integer(value) -> bool:
    """An int or a NumPy integer (np.arange gives those), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """A finite int or float, NumPy's included, not a bool."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def check_seed(seed) -> int:
    """A training seed: NumPy's generator, which Keras seeds with it, takes 32 bits."""
    if not is_integer(seed):
        raise RnnlmError(f"seed must be an integer, got {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise RnnlmError(f"seed must be in [0, 2**32 - 1], got {seed}")
    return int(seed)


def check_positive(name: str, value, allow_none: bool = False, integer: bool = False) -> None:
    """> 0, finite, and a number (an integer where a count is meant): a NaN learning rate or
    1.5 epochs would otherwise fail deep inside Keras, or train a run of NaNs."""
    if value is None and allow_none:
        return
    kind = numbers.Integral if integer else numbers.Real
    what = "an integer > 0" if integer else "a finite number > 0"
    if isinstance(value, bool) or not isinstance(value, kind):  # units="32", epochs=1.5, True
        raise RnnlmError(f"{name} must be {what}, got the {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise RnnlmError(f"{name} must be > 0 ({what}), got {value!r}")


def check_number(name: str, value, integer: bool = False) -> None:
    """A finite number (an integer where a count is meant), named by its type otherwise:
    Python would compare a string with 0 by raising TypeError, and a NaN with nothing at all."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "an integer" if integer else "a number"
        raise RnnlmError(f"{name} must be {what}, got the {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise RnnlmError(f"{name} must be a finite number, got {value!r}")


def check_flag(name: str, value) -> None:
    """A switch is True or False (NumPy's too): "no" or 0 would be taken as on or off."""
    import numpy as np  # here: `rnnlm --help` imports this module, and not NumPy

    if not isinstance(value, (bool, np.bool_)):
        raise RnnlmError(f"{name} must be True or False, got the {type(value).__name__} "
                         f"{value!r}")


def check_not_negative(name: str, value, integer: bool = False) -> None:
    check_number(name, value, integer)
    if value < 0:
        raise RnnlmError(f"{name} must be >= 0, got {value}")


def check_fraction(name: str, value, note: str = "") -> None:
    """In [0, 1): a dropout rate, the validation fraction, the EMA's decay."""
    check_number(name, value)
    if not 0.0 <= value < 1.0:
        raise RnnlmError(f"{name} must be in [0, 1){note}, got {value}")


def check_cell(cell: str) -> str:
    if cell not in CELLS:
        raise RnnlmError(f"unknown cell '{cell}'; choose one of: {', '.join(CELLS)}")
    return cell


def cell_name(cell: str) -> str:
    """The cell as configs store it, from the names learners type: Keras's class names
    ("SimpleRNN", "LSTM", "GRU") and other cases, "simplernn", "simple-rnn" or "rnn"."""
    key = str(cell).strip().lower().replace("-", "_")
    key = {"simplernn": "simple_rnn", "rnn": "simple_rnn"}.get(key, key)
    return check_cell(key if key in CELLS else cell)  # an unknown one is named as typed


# The language model's tokenizer options: CLI/API option name → the tokenizer's own name, per
# kind (classification.py keeps the classifiers' own list).
TOKENIZER_OPTIONS = {
    "char": {"max_vocab": "max_vocab"},
    "word": {"max_vocab": "max_vocab", "min_freq": "min_freq", "word_mode": "mode"},
    "sentencepiece": {"vocab_size": "vocab_size", "sp_model_type": "model_type"},
}


def check_tokenizer_options(kind: str, given: dict, allowed) -> None:
    """One line for an option of another tokenizer (--vocab-size with --tokenizer char), which
    would otherwise do nothing; ``allowed``: the names ``kind`` takes."""
    for key, value in given.items():
        if value is not None and key not in allowed:
            raise RnnlmError(f"--{key.replace('_', '-')} is not an option of the {kind} "
                             f"tokenizer")


def check_merge_mode(merge_mode: str, bidirectional: bool | None) -> None:
    """A merge mode joins the two directions: without bidirectional there is nothing to merge,
    so only the default is accepted (silently building a one-way model would mislead).
    bidirectional None: the name only (a saved config; a one-way model never reads the mode)."""
    if merge_mode not in MERGE_MODES:
        raise RnnlmError(f"unknown merge mode '{merge_mode}'; choose one of: "
                         f"{', '.join(MERGE_MODES)}")
    if bidirectional is False and merge_mode != "concat":
        raise RnnlmError(f"merge mode '{merge_mode}' needs --bidirectional (bidirectional=True): "
                         f"it merges the two directions")


@dataclass
class TokenizerConfig:
    kind: str = "char"
    options: dict[str, Any] = field(default_factory=dict)  # e.g. max_vocab, vocab_size, mode

    def validate(self) -> "TokenizerConfig":
        if self.kind not in TOKENIZERS:
            raise RnnlmError(f"unknown tokenizer '{self.kind}'; choose one of: {', '.join(TOKENIZERS)}")
        return self


@dataclass
class ModelConfig:
    vocabulary_size: int = 0  # always filled in from the tokenizer, never typed by hand
    cell: str = "lstm"
    num_layers: int = 1
    units: int = 256
    embedding_dim: int = 64
    dropout: float = 0.0  # between layers (and after the last), so cuDNN stays eligible
    embedding_dropout: float = 0.0  # on the embedding vectors, before the first layer
    locked_dropout: bool = False  # one dropout mask per sequence, shared by all time steps
    tie_weights: bool = False  # output layer = embedding matrix (+ projection if sizes differ)
    weight_drop: float = 0.0  # LSTM: DropConnect on the recurrent kernel while training (AWD-LSTM)

    def validate(self) -> "ModelConfig":
        check_cell(self.cell)
        for name in ("locked_dropout", "tie_weights"):
            check_flag(name, getattr(self, name))
        for name in ("num_layers", "units", "embedding_dim"):  # --layers, layers= (num_layers here)
            shown = "layers (num_layers)" if name == "num_layers" else name
            check_positive(shown, getattr(self, name), integer=True)
        for name in ("dropout", "embedding_dropout", "weight_drop"):
            check_fraction(name, getattr(self, name))
        if self.weight_drop and self.cell != "lstm":
            raise RnnlmError(f"weight_drop is implemented for the lstm cell, not '{self.cell}'")
        return self


@dataclass
class TrainConfig:
    seq_len: int = 100
    batch_size: int = 64
    epochs: int | None = 10  # None: until time_limit is spent (defaults.epochs_for)
    lr: float = 2e-3
    clipnorm: float = 5.0
    seed: int = 0
    valid_fraction: float = 0.1
    time_limit: float | None = None  # seconds of training; stops cleanly and saves
    steps_per_epoch: int | None = None  # None: one pass over the training windows
    stateful: bool = False  # TBPTT: batch_size contiguous streams, state carried between windows
    random_offsets: bool = False  # shuffled windows on a grid moved at random each pass
    weight_decay: float = 0.0  # > 0: AdamW (decoupled decay; biases are not decayed)
    lr_schedule: str = "none"  # none | cosine | wsd (over epochs or the time limit) | plateau
    warmup_steps: int = 0  # linear warm-up from 0 to lr over this many batches
    early_stopping: int | None = None  # stop after this many epochs without a better val_loss
    # Training matmuls: float32 | bfloat16 | auto (bfloat16 on a CPU with AMX or AVX512_BF16,
    # where it won on quality per minute; models/precision.py). rnnlm.train fills it from the
    # tokenizer's recipe (defaults.RECIPES: auto for every tokenizer); float32 here is what
    # older runs were made with.
    precision: str = "float32"
    optimizer: str = "adam"  # adam (AdamW with weight_decay) | sgd
    ema: float = 0.0  # > 0: evaluate and keep an exponential moving average of the weights

    def validate(self) -> "TrainConfig":
        for name in ("stateful", "random_offsets"):
            check_flag(name, getattr(self, name))
        for name in ("seq_len", "batch_size"):
            check_positive(name, getattr(self, name), integer=True)
        for name in ("lr", "clipnorm"):
            check_positive(name, getattr(self, name))
        check_positive("epochs", self.epochs, allow_none=True, integer=True)
        self.seed = check_seed(self.seed)
        if self.epochs is None and not self.time_limit:
            raise RnnlmError("give epochs, a time limit, or both: without either a run "
                             "would never end")
        check_positive("time_limit", self.time_limit, allow_none=True)
        if self.random_offsets and self.stateful:
            raise RnnlmError("random offsets move the grid of shuffled windows; stateful "
                             "streams have none: use one or the other")
        check_positive("steps_per_epoch", self.steps_per_epoch, allow_none=True, integer=True)
        check_positive("early_stopping", self.early_stopping, allow_none=True, integer=True)
        if self.lr_schedule not in LR_SCHEDULES:
            raise RnnlmError(f"unknown lr_schedule '{self.lr_schedule}'; choose one of: "
                             f"{', '.join(LR_SCHEDULES)}")
        if self.optimizer not in OPTIMIZERS:
            raise RnnlmError(f"unknown optimizer '{self.optimizer}'; choose one of: "
                             f"{', '.join(OPTIMIZERS)}")
        if self.precision not in PRECISIONS:
            raise RnnlmError(f"unknown precision '{self.precision}'; choose one of: "
                             f"{', '.join(PRECISIONS)}")
        check_not_negative("weight_decay", self.weight_decay)  # NaN would train NaNs
        check_not_negative("warmup_steps", self.warmup_steps, integer=True)
        check_fraction("ema", self.ema, " (0: off)")
        check_fraction("valid_fraction", self.valid_fraction)
        return self


def from_dict(cls, data: dict):
    """Build a config dataclass from a dict, refusing keys it does not know."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise RnnlmError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
    return cls(**data)


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def describe_train(train: dict) -> str:
    """The training settings of a run as ``rnnlm info`` shows them: ``key value`` pairs, with
    unset options left out and a run that trained until its time limit said in words (its
    config records ``epochs: null``)."""
    parts = []
    for key, value in train.items():
        if key == "epochs" and value is None:
            parts.append("epochs until the time limit")
        elif value is not None:
            parts.append(f"{key} {value}")
    return ", ".join(parts)
