"""Each cell's equations in NumPy (one ``*_step`` per cell), the loop over time as Keras
runs it (``run_rnn``), and one function per cell from weights to Keras's return structure.

Layers as data, Bidirectional, stacks and reading a Keras layer are in ``layers.py``; the
package docstring (``rnnlm/reference/__init__.py``) has the shapes and the weight layout.
"""

from __future__ import annotations

import numpy as np

CELLS = ("simple_rnn", "lstm", "gru")


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
