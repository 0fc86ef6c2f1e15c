"""The shared layer stack: (Embedding) → N × SimpleRNN/LSTM/GRU, returning sequences and states.

The language model and every classifier are this backbone plus a head (keras-hub's Backbone/Task
split; fastai's ULMFiT), so a classifier can start from a trained language model's backbone.

Every recurrent layer is built with Keras defaults that keep the fused cuDNN kernel eligible on a
GPU (tanh/sigmoid activations, use_bias=True, unroll=False, recurrent_dropout=0,
GRU reset_after=True); dropout is applied *between* layers instead. On a GPU they are also built
with use_cudnn=True, so that a call cuDNN cannot take is an error, not a silent fall-back.
"""
from __future__ import annotations

import numbers
from contextlib import contextmanager

import keras

from rnnlm.config import CELLS, check_cell
from rnnlm.models import precision
from rnnlm.models.fused_lstm import FusedLSTM

# One table from cell name to Keras layer; CELLS in config.py lists the same names.
# FusedLSTM is keras.layers.LSTM (same weights, config, cell, cuDNN on a GPU) with a fused
# whole-sequence CPU kernel; bench/train.py measures it against the plain Keras path.
RNN_LAYERS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": FusedLSTM,
    "gru": keras.layers.GRU,
}
assert tuple(RNN_LAYERS) == CELLS
STATES_PER_LAYER = {"simple_rnn": 1, "lstm": 2, "gru": 1}
# On a GPU Keras runs these two in cuDNN's fused kernels, and where cuDNN cannot take a call it
# falls back to its own step loop, several times slower, without a word. Built with
# use_cudnn=True on a GPU, the layers stop with an error there instead: no option combination
# leaves cuDNN silently. Keras has no cuDNN kernel for SimpleRNN.
CUDNN_CELLS = ("lstm", "gru")


def per_layer_units(units: int | list[int], num_layers: int) -> list[int]:
    """`64` → [64] * num_layers; `[64, 64, 32]` must have num_layers entries."""
    if isinstance(units, numbers.Integral):  # NumPy's too
        return [units] * num_layers
    units = list(units)
    if len(units) != num_layers:
        raise ValueError(f"got {len(units)} unit sizes for {num_layers} "
                         f"layer{'s' if num_layers != 1 else ''}")
    return units


def sequence_dropout(rate: float, locked: bool, name: str) -> keras.layers.Dropout:
    """Dropout on (B, T, D) sequences; ``locked`` draws one mask per sequence, shared by every
    time step (variational / locked dropout, Gal & Ghahramani; AWD-LSTM) instead of one per step."""
    return keras.layers.Dropout(rate, noise_shape=(None, 1, None) if locked else None, name=name)


@keras.saving.register_keras_serializable(package="rnnlm")
class Backbone(keras.Model):
    """(Embedding) → num_layers × recurrent layer, with dropout between layers.

    Call: ``backbone(inputs, initial_states=None, training=False)`` →
    ``(sequence_output (B, T, units[-1] or 2×), final_states: list of (B, units) tensors)``.
    ``inputs`` are int token ids (B, T) when ``vocabulary_size`` is set (pad id 0 is masked),
    or float features (B, T, input_dim) otherwise.
    """

    def __init__(self, cell="lstm", num_layers=1, units=256, vocabulary_size=None,
                 embedding_dim=64, dropout=0.0, bidirectional=False, merge_mode="concat",
                 embedding_dropout=0.0, locked_dropout=False, weight_drop=0.0, **kwargs):
        super().__init__(**kwargs)
        self.cell = check_cell(cell)
        self.num_layers = num_layers
        self.units = per_layer_units(units, num_layers)
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.dropout_rate = dropout
        self.bidirectional = bidirectional
        self.merge_mode = merge_mode
        self.embedding_dropout_rate = embedding_dropout
        self.locked_dropout = locked_dropout
        self.weight_drop = weight_drop
        self.embedding = (keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True,
                                                 name="embedding")
                          if vocabulary_size else None)
        self.rnn_layers = []
        # Only the LSTM kernel takes weight_drop (config.py refuses it for other cells).
        extra = dict(weight_drop=weight_drop) if weight_drop else {}
        if cell in CUDNN_CELLS and precision.gpu_visible():
            extra["use_cudnn"] = True
        for i, layer_units in enumerate(self.units):
            layer = RNN_LAYERS[cell](layer_units, return_sequences=True, return_state=True,
                                     name=f"rnn_{i}", **extra)
            if bidirectional:
                layer = keras.layers.Bidirectional(layer, merge_mode=merge_mode, name=f"birnn_{i}")
            self.rnn_layers.append(layer)
        self.dropouts = [sequence_dropout(dropout, locked_dropout, name=f"dropout_{i}")
                         for i in range(num_layers)]
        self.embedding_dropout = sequence_dropout(embedding_dropout, locked_dropout,
                                                  name="embedding_dropout")

    @property
    def states_per_layer(self) -> int:
        return STATES_PER_LAYER[self.cell] * (2 if self.bidirectional else 1)

    def embed(self, inputs, training=False):
        """Token ids → vectors and the padding mask (None for float features)."""
        if self.embedding is None:
            return inputs, None
        return self.embedding(inputs), self.embedding.compute_mask(inputs)

    def call(self, inputs, initial_states=None, training=False, mask=None, padded=True):
        """``padded=False`` promises the ids hold no padding (LM training windows): the
        recurrent layers then run unmasked, which is their fastest path on CPU and GPU."""
        x, token_mask = self.embed(inputs)
        x = self.embedding_dropout(x, training=training)
        mask = token_mask if mask is None else mask
        if not padded:
            mask = None
        final_states = []
        k = self.states_per_layer
        for i, (rnn, dropout) in enumerate(zip(self.rnn_layers, self.dropouts)):
            init = None if initial_states is None else list(initial_states[i * k:(i + 1) * k])
            outputs = rnn(x, mask=mask, initial_state=init, training=training)
            x, states = outputs[0], list(outputs[1:])
            final_states.extend(states)
            if i < self.num_layers - 1:  # the head decides about dropout after the last layer
                x = dropout(x, training=training)
        return x, final_states

    def step(self, token_ids, states):
        """One recurrent step per layer from carried states (inference; no dropout).

        Calls each layer's cell directly: the cell is the exact per-step computation the
        full-sequence layer scans, so stepwise and full-sequence logits agree.
        """
        # A plain gather, not the Embedding layer: the cell would warn about the attached mask.
        x = keras.ops.take(self.embedding.embeddings, token_ids, axis=0)
        new_states = []
        k = self.states_per_layer
        for i, rnn in enumerate(self.rnn_layers):
            layer_states = list(states[i * k:(i + 1) * k])
            x, carried = rnn.cell(x, layer_states, training=False)
            new_states.extend(carried if isinstance(carried, (list, tuple)) else [carried])
        return x, new_states

    def set_weight_drop(self, rate: float) -> None:
        """Change the LSTM layers' weight drop (the recipe switches it on once the run is known
        to be long enough). It is read when the train function is traced: retrace after."""
        if self.cell != "lstm" or self.bidirectional:
            raise ValueError("weight drop is for a unidirectional LSTM stack")
        self.weight_drop = rate
        for layer in self.rnn_layers:
            layer.weight_drop = rate

    @contextmanager
    def without_cudnn(self):
        """Inside: the LSTM/GRU layers run Keras's own step loop even on a GPU (export traces
        with it, so that the SavedModel also runs where no GPU is); after: as they were built."""
        layers = [layer for layer in self.rnn_layers if hasattr(layer, "use_cudnn")]
        kept = [layer.use_cudnn for layer in layers]
        for layer in layers:
            layer.use_cudnn = False
        try:
            yield
        finally:
            for layer, use_cudnn in zip(layers, kept):
                layer.use_cudnn = use_cudnn

    def initial_states(self, batch_size):
        # a bidirectional layer's states: the forward direction's, then the backward's
        return [keras.ops.zeros((batch_size, u)) for u in self.units
                for _ in range(self.states_per_layer)]

    def get_config(self):
        config = super().get_config()
        config.update(cell=self.cell, num_layers=self.num_layers, units=self.units,
                      vocabulary_size=self.vocabulary_size, embedding_dim=self.embedding_dim,
                      dropout=self.dropout_rate, bidirectional=self.bidirectional,
                      merge_mode=self.merge_mode, embedding_dropout=self.embedding_dropout_rate,
                      locked_dropout=self.locked_dropout, weight_drop=self.weight_drop)
        return config
