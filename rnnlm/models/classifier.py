"""Sequence classifier = the language model's Backbone → pooling → Dense hidden layers → softmax.

Same ``Backbone`` class as ``LanguageModel`` (not a copy), so ``--from-lm`` can load a trained
language model's ``backbone.weights.h5`` straight into it (ULMFiT's idea).

Pooling turns (B, T, D) sequences into one (B, D') vector per example, ignoring padding::

    last     final hidden state of the last layer (both directions merged as the layer merges
             its outputs); masked steps carry the state, so it is the state after the last real
             token — exactly what Keras' return_sequences=False gives
    mean     mean over the real steps             max   max over the real steps
    concat   [last, mean, max]  (ULMFiT's concat pooling)
    flatten  (B, T·D) with padded steps zeroed: the classic return_sequences + Flatten layout;
             needs a fixed sequence_length
"""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field

import keras
import numpy as np

from rnnlm.config import check_cell, check_fraction, check_merge_mode, from_dict
from rnnlm.errors import RnnlmError
from rnnlm.models.backbone import STATES_PER_LAYER, Backbone, per_layer_units
from rnnlm.models.precision import float32_layers

POOLINGS = ("last", "mean", "max", "concat", "flatten")


@dataclass
class ClassifierConfig:
    num_classes: int = 2
    cell: str = "lstm"
    num_layers: int = 1
    units: int | list[int] = 64
    vocabulary_size: int = 0  # text: from the tokenizer; 0 for numeric feature sequences
    embedding_dim: int = 64
    input_dim: int = 0  # numeric sequences: features per step (28 for MNIST rows)
    sequence_length: int | None = None  # fixed T; required by pooling "flatten"
    bidirectional: bool = False
    merge_mode: str = "concat"
    dropout: float = 0.0  # between recurrent layers, after pooling and after each hidden Dense
    embedding_dropout: float = 0.0  # on the embedding vectors (text), before the first layer
    locked_dropout: bool = False  # one mask per sequence for all time steps (SpatialDropout1D)
    pooling: str = "last"
    dense: list[int] = field(default_factory=list)  # hidden Dense(relu) sizes before the softmax

    def validate(self) -> "ClassifierConfig":
        check_options(self.cell, self.pooling, self.merge_mode, self.dropout)
        check_fraction("embedding_dropout", self.embedding_dropout)
        if self.num_classes < 2:
            raise RnnlmError(f"a classifier needs at least 2 classes, got {self.num_classes}")
        if self.num_layers < 1:
            raise RnnlmError(f"layers must be >= 1, got {self.num_layers}")
        try:
            units = per_layer_units(self.units, self.num_layers)
        except ValueError as e:
            raise RnnlmError(f"--units: {e}") from None
        for name, sizes in (("units", units), ("dense", self.dense)):
            if any(size < 1 for size in sizes):
                raise RnnlmError(f"{name} sizes must be >= 1, got {sizes}")
        if self.vocabulary_size and (isinstance(self.embedding_dim, bool) or not isinstance(
                self.embedding_dim, numbers.Integral) or self.embedding_dim < 1):
            raise RnnlmError(f"embedding_dim must be an integer >= 1, got {self.embedding_dim!r}")
        if bool(self.vocabulary_size) == bool(self.input_dim):
            raise RnnlmError("give exactly one of vocabulary_size (text) or input_dim (features)")
        if self.pooling == "flatten" and not self.sequence_length:
            raise RnnlmError("pooling 'flatten' needs a fixed sequence length (--max-len for text)")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ClassifierConfig":
        return from_dict(cls, data)


def check_options(cell=None, pooling="last", merge_mode="concat", dropout=0.0,
                  bidirectional: bool | None = None) -> None:
    """The choices a user types, checked before any data is read (cell None: the default)."""
    if cell is not None:
        check_cell(cell)
    if pooling not in POOLINGS:
        raise RnnlmError(f"unknown pooling '{pooling}'; choose one of: {', '.join(POOLINGS)}")
    check_merge_mode(merge_mode, bidirectional)
    check_fraction("dropout", dropout)


def _merge(a, b, mode: str):
    if mode == "concat":
        return keras.ops.concatenate([a, b], axis=-1)
    if mode == "sum":
        return a + b
    if mode == "ave":
        return (a + b) / 2.0
    return a * b


@keras.saving.register_keras_serializable(package="rnnlm")
class SequenceClassifier(keras.Model):
    """Call: token ids (B, T) int (pad id 0) or features (B, T, F) float → probabilities (B, C)."""

    @float32_layers
    def __init__(self, config: ClassifierConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config.validate()
        self.backbone = Backbone(cell=config.cell, num_layers=config.num_layers,
                                 units=config.units, vocabulary_size=config.vocabulary_size or None,
                                 embedding_dim=config.embedding_dim, dropout=config.dropout,
                                 bidirectional=config.bidirectional,
                                 merge_mode=config.merge_mode,
                                 embedding_dropout=config.embedding_dropout,
                                 locked_dropout=config.locked_dropout, name="backbone")
        self.pool_dropout = keras.layers.Dropout(config.dropout, name="pool_dropout")
        self.hidden = [keras.layers.Dense(n, activation="relu", name=f"dense_{i}")
                       for i, n in enumerate(config.dense)]
        self.hidden_dropouts = [keras.layers.Dropout(config.dropout, name=f"dense_dropout_{i}")
                                for i in range(len(config.dense))]
        # Probabilities stay float32 even under mixed precision.
        self.head = keras.layers.Dense(config.num_classes, activation="softmax",
                                       dtype="float32", name="output")

    @float32_layers
    def build_for_inference(self):
        """Create all weights with a dummy call (needed before load_weights)."""
        steps = self.config.sequence_length or 2
        if self.config.vocabulary_size:
            self(np.ones((1, steps), "int32"))
        else:
            self(np.zeros((1, steps, self.config.input_dim), "float32"))
        return self

    def call(self, inputs, training=False):
        x = self.pool(inputs, training=training)
        x = self.pool_dropout(x, training=training)
        for dense, dropout in zip(self.hidden, self.hidden_dropouts):
            x = dropout(dense(x), training=training)
        return self.head(x)

    def pool(self, inputs, training=False):
        """The pooled (B, D') vector of each sequence, padding ignored."""
        sequences, states = self.backbone(inputs, training=training)
        mask = (keras.ops.cast(keras.ops.not_equal(inputs, 0), sequences.dtype)[..., None]
                if self.config.vocabulary_size else None)  # (B, T, 1); None: nothing padded
        pooling = self.config.pooling
        if pooling == "flatten":
            if mask is not None:
                sequences = sequences * mask
            return keras.ops.reshape(sequences, (-1, self.config.sequence_length * sequences.shape[-1]))
        parts = []
        if pooling in ("last", "concat"):
            parts.append(self._last(states))
        if pooling in ("mean", "concat"):
            if mask is None:
                parts.append(keras.ops.mean(sequences, axis=1))
            else:
                total = keras.ops.sum(sequences * mask, axis=1)
                parts.append(total / keras.ops.maximum(keras.ops.sum(mask, axis=1), 1.0))
        if pooling in ("max", "concat"):
            if mask is not None:
                sequences = keras.ops.where(mask > 0, sequences, -1e9)
            parts.append(keras.ops.max(sequences, axis=1))
        return parts[0] if len(parts) == 1 else keras.ops.concatenate(parts, axis=-1)

    def _last(self, states):
        """Final hidden state(s) of the last layer: states are [h] / [h, c] per direction."""
        per_direction = STATES_PER_LAYER[self.config.cell]
        last_layer = states[-self.backbone.states_per_layer:]
        if not self.config.bidirectional:
            return last_layer[0]
        return _merge(last_layer[0], last_layer[per_direction], self.config.merge_mode)

    def layer_rows(self) -> list[dict]:
        """Name, type, output width and parameter count per layer (``rnnlm info``)."""
        backbone, rows = self.backbone, []
        if backbone.embedding is not None:
            rows.append((backbone.embedding, backbone.embedding_dim))
        directions = 2 if self.config.bidirectional and self.config.merge_mode == "concat" else 1
        for layer, units in zip(backbone.rnn_layers, backbone.units):
            rows.append((layer, units * directions))
        table = [{"name": layer.name, "type": _layer_type(layer), "output_width": width,
                  "parameters": int(layer.count_params())} for layer, width in rows]
        table.append(self._pooling_row(rows[-1][1]))  # no weights, but it sets the Dense's input
        rows = [(dense, dense.units) for dense in self.hidden] + [(self.head, self.config.num_classes)]
        return table + [{"name": layer.name, "type": _layer_type(layer), "output_width": width,
                         "parameters": int(layer.count_params())} for layer, width in rows]

    def _pooling_row(self, width: int) -> dict:
        pooling, steps = self.config.pooling, self.config.sequence_length
        kind, pooled = {"flatten": (f"Flatten ({steps} × {width})", width * (steps or 0)),
                        "concat": ("Pooling [last, mean, max]", 3 * width)}.get(
                            pooling, (f"Pooling ({pooling})", width))
        return {"name": "pooling", "type": kind, "output_width": pooled, "parameters": 0}

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(ClassifierConfig.from_dict(config["config"]), name=config.get("name"))


def _layer_type(layer) -> str:
    if isinstance(layer, keras.layers.Bidirectional):
        return f"Bidirectional({type(layer.forward_layer).__name__})"
    return type(layer).__name__
