"""Layers as plain data (``RNNLayer``, ``Bidirectional``), wrappers and stacks run on them,
and ``from_keras``, which reads a built Keras layer's weights and flags without importing Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from rnnlm.reference.cells import CELLS, gru_forward, lstm_forward, simple_rnn_forward

MERGE_MODES = ("concat", "sum", "ave", "mul", None)


# --- Layers as plain data, so that wrappers and stacks can be described without Keras. ----


@dataclass(eq=False)
class RNNLayer:
    """Everything a SimpleRNN/LSTM/GRU layer's forward pass depends on."""

    cell: str  # "simple_rnn" | "lstm" | "gru"
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray | None = None
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    reset_after: bool = True  # GRU only
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"  # LSTM and GRU only
    zero_output_for_mask: bool = False
    initial_state: tuple | None = None  # a stateful layer's carried state


@dataclass(eq=False)
class Bidirectional:
    """A forward and a backward (``go_backwards=True``) layer and how to merge them."""

    forward: RNNLayer
    backward: RNNLayer
    merge_mode: str | None = "concat"


def rnn_forward(layer: RNNLayer, x, mask=None, initial_state=None):
    """Run one SimpleRNN/LSTM/GRU layer described by ``layer``."""
    if layer.cell not in CELLS:
        raise ValueError(f"unknown cell {layer.cell!r}; choose one of {list(CELLS)}")
    kwargs = dict(
        mask=mask, return_sequences=layer.return_sequences, return_state=layer.return_state,
        go_backwards=layer.go_backwards, activation=layer.activation,
        initial_state=layer.initial_state if initial_state is None else initial_state,
        zero_output_for_mask=layer.zero_output_for_mask,
    )
    weights = (x, layer.kernel, layer.recurrent_kernel, layer.bias)
    if layer.cell == "simple_rnn":
        return simple_rnn_forward(*weights, **kwargs)
    kwargs["recurrent_activation"] = layer.recurrent_activation
    if layer.cell == "lstm":
        return lstm_forward(*weights, **kwargs)
    return gru_forward(*weights, reset_after=layer.reset_after, **kwargs)


def bidirectional_forward(x, forward, backward, merge_mode="concat", mask=None,
                          initial_state=None):
    """Keras's Bidirectional: returns output, or (output, fw_h[, fw_c], bw_h[, bw_c]).

    The flags come from ``forward``; ``backward`` must read backwards. With
    return_sequences the backward outputs are flipped back into forward time order and
    masked steps output zeros; without, the backward half of the output is the backward
    layer's state after reading the whole sequence, i.e. its output at time step 0.
    ``merge_mode=None`` returns the two halves separately: (fw, bw[, states...]).
    """
    if merge_mode not in MERGE_MODES:
        raise ValueError(f"unknown merge_mode {merge_mode!r}; choose one of {list(MERGE_MODES)}")
    if backward.go_backwards == forward.go_backwards:
        raise ValueError("the backward layer must have the opposite go_backwards of the forward")
    flags = dict(return_sequences=forward.return_sequences, return_state=forward.return_state,
                 zero_output_for_mask=forward.return_sequences)  # Bidirectional forces this
    forward, backward = replace(forward, **flags), replace(backward, **flags)
    half = None if initial_state is None else len(initial_state) // 2
    y = rnn_forward(forward, x, mask, None if half is None else initial_state[:half])
    y_rev = rnn_forward(backward, x, mask, None if half is None else initial_state[half:])
    states = ()
    if forward.return_state:
        states = tuple(y[1:]) + tuple(y_rev[1:])
        y, y_rev = y[0], y_rev[0]
    if forward.return_sequences:
        y_rev = y_rev[:, ::-1]  # back into forward time order
    if merge_mode is None:
        return (y, y_rev, *states)
    if merge_mode == "concat":
        merged = np.concatenate([y, y_rev], axis=-1)
    elif merge_mode == "sum":
        merged = y + y_rev
    elif merge_mode == "ave":
        merged = (y + y_rev) / 2.0
    else:  # "mul"
        merged = y * y_rev
    return (merged, *states) if forward.return_state else merged


def forward(layer, x, mask=None, initial_state=None):
    """Run an ``RNNLayer``, a ``Bidirectional`` or a Keras RNN layer on ``x``."""
    if not isinstance(layer, (RNNLayer, Bidirectional)):
        layer = from_keras(layer)
    if isinstance(layer, Bidirectional):
        return bidirectional_forward(x, layer.forward, layer.backward, layer.merge_mode,
                                     mask, initial_state)
    return rnn_forward(layer, x, mask, initial_state)


def _returns_sequences(layer):
    return (layer.forward if isinstance(layer, Bidirectional) else layer).return_sequences


def stack_forward(x, layers, mask=None):
    """Run layers one after another, passing each one's output (and the mask) on.

    As in Keras, the mask reaches the next layer only through a layer that returns
    sequences; the result has the last layer's return structure.
    """
    layers = [lay if isinstance(lay, (RNNLayer, Bidirectional)) else from_keras(lay)
              for lay in layers]
    for index, layer in enumerate(layers[:-1]):
        if not _returns_sequences(layer):
            raise ValueError(f"layer {index} must return sequences to feed the next RNN layer")
        if isinstance(layer, Bidirectional) and layer.merge_mode is None:
            raise ValueError(f"layer {index} has merge_mode=None; the next layer needs one tensor")
        result = forward(layer, x, mask)
        x = result[0] if isinstance(result, tuple) else result
    return forward(layers[-1], x, mask)


# --- Reading a Keras layer (without importing Keras). -------------------------------------

_KERAS_CELLS = {"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru"}


def _keras_kind(layer):
    for cls in type(layer).__mro__:
        if cls.__name__ in _KERAS_CELLS or cls.__name__ == "Bidirectional":
            return cls.__name__
    raise TypeError(
        f"{type(layer).__name__} is not a Keras SimpleRNN, LSTM, GRU or Bidirectional layer"
    )


def _activation_name(value):
    if isinstance(value, dict):  # a serialised activation: {"config": {"name": ...}}
        value = value.get("config", {}).get("name", value)
    return value


def from_keras(layer):
    """Describe a built Keras SimpleRNN/LSTM/GRU/Bidirectional layer as plain NumPy data."""
    kind = _keras_kind(layer)
    if kind == "Bidirectional":
        return Bidirectional(from_keras(layer.forward_layer), from_keras(layer.backward_layer),
                             layer.merge_mode)
    if not layer.built:
        raise ValueError(f"layer {layer.name!r} has no weights yet; call it on an input first")
    config = layer.get_config()
    weights = [np.asarray(w, dtype=np.float64) for w in layer.get_weights()]
    initial_state = None
    if config.get("stateful"):
        initial_state = tuple(np.asarray(s, dtype=np.float64) for s in layer.states)
    return RNNLayer(
        cell=_KERAS_CELLS[kind],
        kernel=weights[0],
        recurrent_kernel=weights[1],
        bias=weights[2] if config.get("use_bias", True) else None,
        return_sequences=config["return_sequences"],
        return_state=config["return_state"],
        go_backwards=config["go_backwards"],
        reset_after=config.get("reset_after", True),
        activation=_activation_name(config.get("activation", "tanh")),
        recurrent_activation=_activation_name(config.get("recurrent_activation", "sigmoid")),
        zero_output_for_mask=bool(getattr(layer, "zero_output_for_mask", False)),
        initial_state=initial_state,
    )


def forward_keras_layer(layer, x, mask=None, initial_state=None):
    """NumPy forward pass of a Keras RNN layer, returned in Keras's structure.

    A tensor for ``layer(x)``; a tuple (output, *states) with ``return_state``; for
    Bidirectional (output, forward states..., backward states...). For a layer of an
    rnnlm run, pass ``model.get_layer("backbone").get_layer("rnn_0")`` and the embedded ids,
    with ``mask=ids != 0`` when the embedding masks padding.
    """
    return forward(from_keras(layer), x, mask, initial_state)
