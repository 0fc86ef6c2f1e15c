"""Plain NumPy forward passes of Keras's SimpleRNN, LSTM and GRU, written to be read.

Each cell is one small ``*_step`` function holding its equations; ``run_rnn`` walks a
sequence with any step function exactly the way Keras's generic RNN loop does (masks,
``go_backwards``, ``return_sequences``, ``return_state``). ``from_keras`` reads the
weights and flags of a built Keras layer (or of a layer of an rnnlm run, via
``model.get_layer("backbone").get_layer("rnn_0")``) so that ``forward_keras_layer(layer, x)``
returns the same structure and, to float32 round-off, the same numbers as ``layer(x)``.

Shapes: ``x`` is (batch, timesteps, features); a mask is (batch, timesteps) with True
for the steps to read. Everything is computed in float64. Inference only: dropout and
recurrent dropout are not applied (Keras applies them only while training).

Weight layout (Keras's, column blocks of ``units`` each):

    SimpleRNN  kernel (input, units)     recurrent_kernel (units, units)     bias (units,)
    LSTM       kernel (input, 4·units)   recurrent_kernel (units, 4·units)   bias (4·units,)
               gate order [i, f, c, o]
    GRU        kernel (input, 3·units)   recurrent_kernel (units, 3·units)
               gate order [z, r, h]; bias (2, 3·units) = (input bias, recurrent bias)
               when reset_after=True (the default), (3·units,) when reset_after=False

This module imports NumPy only; it never imports TensorFlow or Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

CELLS = ("simple_rnn", "lstm", "gru")
MERGE_MODES = ("concat", "sum", "ave", "mul", None)


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "hard_sigmoid": lambda a: np.clip(a / 6.0 + 0.5, 0.0, 1.0),  # Keras 3: relu6(a + 3) / 6
    "relu": lambda a: np.maximum(a, 0.0),
    "linear": lambda a: a,
    "softsign": lambda a: a / (1.0 + np.abs(a)),
}


def get_activation(activation):
    """A NumPy activation from a Keras activation name, or a callable as given."""
    if callable(activation):
        return activation
    if activation is None:
        return ACTIVATIONS["linear"]
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unsupported activation {activation!r}; choose one of {sorted(ACTIVATIONS)}"
        )
    return ACTIVATIONS[activation]


# --- One time step of each cell: the equations, one line each. ---------------------------


def simple_rnn_step(x_t, state, kernel, recurrent_kernel, bias, activation=np.tanh):
    (h_prev,) = state
    h = activation(x_t @ kernel + h_prev @ recurrent_kernel + bias)  # tanh(x W_x + h W_h + b)
    return h, (h,)  # the output is the state


def lstm_step(
    x_t, state, kernel, recurrent_kernel, bias, activation=np.tanh, recurrent_activation=sigmoid
):
    h_prev, c_prev = state
    z = x_t @ kernel + h_prev @ recurrent_kernel + bias  # all four gates at once: (batch, 4·units)
    z_i, z_f, z_g, z_o = np.split(z, 4, axis=-1)  # Keras's column order [i, f, c, o]
    i = recurrent_activation(z_i)  # input gate
    f = recurrent_activation(z_f)  # forget gate
    g = activation(z_g)  # candidate cell state
    o = recurrent_activation(z_o)  # output gate
    c = f * c_prev + i * g  # c_t = f_t ∘ c_{t-1} + i_t ∘ g_t
    h = o * activation(c)  # h_t = o_t ∘ tanh(c_t)
    return h, (h, c)


def gru_step(
    x_t,
    state,
    kernel,
    recurrent_kernel,
    bias,
    reset_after=True,
    activation=np.tanh,
    recurrent_activation=sigmoid,
):
    (h_prev,) = state
    input_bias, recurrent_bias = bias if reset_after else (bias, np.zeros_like(bias))
    x_z, x_r, x_h = np.split(x_t @ kernel + input_bias, 3, axis=-1)  # Keras's order [z, r, h]
    U_z, U_r, U_h = np.split(recurrent_kernel, 3, axis=-1)
    b_z, b_r, b_h = np.split(recurrent_bias, 3, axis=-1)
    z = recurrent_activation(x_z + h_prev @ U_z + b_z)  # update gate
    r = recurrent_activation(x_r + h_prev @ U_r + b_r)  # reset gate
    if reset_after:  # Keras default and cuDNN's: reset applied after the matmul
        h_tilde = activation(x_h + r * (h_prev @ U_h + b_h))
    else:  # the original paper's: reset applied to h before the matmul
        h_tilde = activation(x_h + (r * h_prev) @ U_h)
    h = z * h_prev + (1.0 - z) * h_tilde  # Keras keeps z·h_{t-1}; some texts swap z and 1-z
    return h, (h,)


# --- The loop over time, as Keras runs it. ------------------------------------------------


def run_rnn(
    step,
    x,
    initial_state,
    mask=None,
    return_sequences=False,
    return_state=False,
    go_backwards=False,
    zero_output_for_mask=False,
):
    """Run ``step(x_t, states) -> (output, states)`` over the time axis of ``x``.

    At a masked step the new states are thrown away (the previous ones carry on) and the
    output is the previous step's output, or zeros with ``zero_output_for_mask`` (which
    Bidirectional switches on whenever it returns sequences). The "previous output"
    before the first step is zeros, not the initial state. With ``go_backwards`` the
    sequence is read from its end and the returned sequence stays in reading order,
    i.e. reversed in time, as Keras returns it.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] == 0:
        raise ValueError(f"x must be (batch, timesteps >= 1, features); got shape {x.shape}")
    mask = None if mask is None else np.asarray(mask, dtype=bool)
    states = tuple(np.asarray(s, dtype=np.float64) for s in initial_state)
    prev_output = np.zeros_like(states[0])
    outputs = []
    timesteps = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    for t in timesteps:
        output, new_states = step(x[:, t], states)
        if mask is not None:
            read = mask[:, t, None]
            output = np.where(read, output, 0.0 if zero_output_for_mask else prev_output)
            new_states = tuple(np.where(read, new, old) for new, old in zip(new_states, states))
        states, prev_output = new_states, output
        outputs.append(output)
    output = np.stack(outputs, axis=1) if return_sequences else outputs[-1]
    return (output, *states) if return_state else output


# --- One function per cell: weights in, Keras's return structure out. ---------------------


def _initial_state(x, units, count, initial_state):
    if initial_state is not None:
        return list(initial_state)
    return [np.zeros((np.shape(x)[0], units))] * count


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _bias(bias, shape, why=""):
    """The bias as float64, checked against the shape the cell reads (``why``: what decides it,
    said when a bias of another shape is given)."""
    if bias is None:
        return np.zeros(shape)
    bias = np.asarray(bias, dtype=np.float64)
    if bias.shape != tuple(shape):
        raise ValueError(f"bias has shape {bias.shape}, expected {tuple(shape)}{why}")
    return bias


def simple_rnn_forward(
    x, kernel, recurrent_kernel, bias=None, mask=None, return_sequences=False,
    return_state=False, go_backwards=False, initial_state=None, activation="tanh",
    zero_output_for_mask=False,
):
    """SimpleRNN: returns output, or (output, h) with ``return_state``."""
    kernel, recurrent_kernel = _f64(kernel), _f64(recurrent_kernel)
    units = recurrent_kernel.shape[0]
    act, b = get_activation(activation), _bias(bias, (units,))

    def step(x_t, state):
        return simple_rnn_step(x_t, state, kernel, recurrent_kernel, b, act)

    return run_rnn(step, x, _initial_state(x, units, 1, initial_state), mask,
                   return_sequences, return_state, go_backwards, zero_output_for_mask)


def lstm_forward(
    x, kernel, recurrent_kernel, bias=None, mask=None, return_sequences=False,
    return_state=False, go_backwards=False, initial_state=None, activation="tanh",
    recurrent_activation="sigmoid", zero_output_for_mask=False,
):
    """LSTM: returns output, or (output, h, c) with ``return_state``."""
    kernel, recurrent_kernel = _f64(kernel), _f64(recurrent_kernel)
    units = recurrent_kernel.shape[0]
    act, rec_act = get_activation(activation), get_activation(recurrent_activation)
    b = _bias(bias, (4 * units,))

    def step(x_t, state):
        return lstm_step(x_t, state, kernel, recurrent_kernel, b, act, rec_act)

    return run_rnn(step, x, _initial_state(x, units, 2, initial_state), mask,
                   return_sequences, return_state, go_backwards, zero_output_for_mask)


def gru_forward(
    x, kernel, recurrent_kernel, bias=None, mask=None, return_sequences=False,
    return_state=False, go_backwards=False, initial_state=None, reset_after=True,
    activation="tanh", recurrent_activation="sigmoid", zero_output_for_mask=False,
):
    """GRU (either Keras variant): returns output, or (output, h) with ``return_state``."""
    kernel, recurrent_kernel = _f64(kernel), _f64(recurrent_kernel)
    units = recurrent_kernel.shape[0]
    act, rec_act = get_activation(activation), get_activation(recurrent_activation)
    b = _bias(bias, (2, 3 * units) if reset_after else (3 * units,),
              " (reset_after=True: an input and a recurrent bias, Keras's default; "
              "reset_after=False: one)")

    def step(x_t, state):
        return gru_step(x_t, state, kernel, recurrent_kernel, b, reset_after, act, rec_act)

    return run_rnn(step, x, _initial_state(x, units, 1, initial_state), mask,
                   return_sequences, return_state, go_backwards, zero_output_for_mask)


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
