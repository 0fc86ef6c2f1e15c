"""Answer "what shapes come out, and where do the parameter counts come from?" for an RNN stack.

``explain`` builds the Keras layers (nothing is trained), reads the shape of every tensor each
layer returns (batch shown as None) and its parameter count, and writes the count's formula
out with the numbers filled in. With ``numpy_check`` it also runs ``rnnlm.reference`` beside
Keras on random weights and input and reports the largest difference. ``format_table``
(explain_table.py) turns the result into text; the result itself is JSON-serialisable.

TensorFlow/Keras are imported inside the functions that need them, never at import time.
"""

from __future__ import annotations

import numpy as np

from rnnlm.config import cell_name, check_merge_mode
from rnnlm.errors import RnnlmError
from rnnlm.explain_table import format_table

# format_table is re-exported: docs/cells.md's Python form imports both from here.
__all__ = ["explain", "format_table", "param_formula"]

TOLERANCE = 1e-5
_CHECK_BATCH, _CHECK_TIMESTEPS = 3, 7  # random input for --numpy; timesteps if left as None
# --numpy runs random input through Keras and NumPy: 10^8 steps asked for 6.7 GiB at once.
MAX_CHECK_TIMESTEPS = 10_000
MAX_CHECK_VALUES = 10_000_000  # timesteps × features of one sequence

_KERAS_CLASS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
_FORMULAS = {  # per direction: symbolic form, and a function filling the numbers in
    "simple_rnn": ("units × (input + units) + units",
                   lambda u, d: (f"{u} × ({d} + {u}) + {u}", u * (d + u) + u)),
    "lstm": ("4 × (units × (input + units) + units)",
             lambda u, d: (f"4 × ({u} × ({d} + {u}) + {u})", 4 * (u * (d + u) + u))),
    "gru": ("3 × (units × (input + units) + 2 × units)",  # reset_after: two bias vectors
            lambda u, d: (f"3 × ({u} × ({d} + {u}) + 2 × {u})", 3 * (u * (d + u) + 2 * u))),
    "gru_reset_before": ("3 × (units × (input + units) + units)",
                         lambda u, d: (f"3 × ({u} × ({d} + {u}) + {u})", 3 * (u * (d + u) + u))),
}


def _ints(value, what):
    """An int, a list of ints, or a comma-separated string such as "64,64,32"."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        try:  # (an empty part, as in ",10,30", is not a number either)
            return [None if p.lower() == "none" else int(p) for p in parts]
        except ValueError:
            raise RnnlmError(f"{what} must be comma-separated integers; got {value!r}") from None
    if isinstance(value, (int, np.integer)):
        return [int(value)]
    return [None if v is None else int(v) for v in value]


def _layer_units(units, layers) -> list[int]:
    units = _ints(units, "units")
    if not units or any(u is None or u < 1 for u in units):
        raise RnnlmError(f"units must be integers >= 1; got {units}")
    if layers < 1:
        raise RnnlmError(f"layers must be >= 1; got {layers}")
    if len(units) == 1:
        return units * layers
    if layers not in (1, len(units)):
        raise RnnlmError(f"{len(units)} units given for {layers} layers; give one or {layers}")
    return units


def _input_shape(input_shape) -> tuple:
    shape = _ints(input_shape, "input shape")
    if len(shape) != 2:
        raise RnnlmError(f"input shape must be TIMESTEPS,FEATURES; got {input_shape!r}")
    timesteps, features = shape
    if (timesteps is not None and timesteps < 1) or features is None or features < 1:
        raise RnnlmError(f"input shape needs timesteps >= 1 (or None) and features >= 1; "
                         f"got {input_shape!r}")
    return timesteps, features


def param_formula(cell, units, input_dim, reset_after=True, bidirectional=False):
    """(symbolic formula, formula with numbers and result, count) for one layer."""
    key = "gru_reset_before" if cell == "gru" and not reset_after else cell
    symbolic, fill = _FORMULAS[key]
    filled, count = fill(units, input_dim)
    if bidirectional:  # two independent layers, one per direction
        symbolic, filled, count = _twice(symbolic), _twice(filled), 2 * count
    return symbolic, f"{filled} = {count:,}", count


def _twice(expression: str) -> str:
    """2 × expression, in parentheses where it is a sum ("2 × (u × (d + u) + u)"; "2 × 4 × (…)")."""
    depth = 0
    for k, ch in enumerate(expression):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and expression.startswith(" + ", k):
            return f"2 × ({expression})"
    return f"2 × {expression}"


# explain builds real Keras layers (their weights, and --numpy's check, need them): a size
# that would allocate gigabytes gets one line instead of an out-of-memory traceback.
MAX_EXPLAINED_PARAMETERS = 50_000_000


def _check_size(cell, units, input_dim, reset_after, bidirectional, merge_mode) -> None:
    total = 0
    for n in units:
        total += param_formula(cell, n, input_dim, reset_after, bidirectional)[2]
        input_dim = 2 * n if bidirectional and merge_mode == "concat" else n
    if total > MAX_EXPLAINED_PARAMETERS:
        raise RnnlmError(f"{total:,} parameters is more than explain builds "
                         f"({MAX_EXPLAINED_PARAMETERS:,}): it makes real Keras layers; "
                         f"try fewer --units")


def _state_names(cell, bidirectional):
    states = ["h", "c"] if cell == "lstm" else ["h"]
    if bidirectional:
        return [f"{d}_{s}" for d in ("forward", "backward") for s in states]
    return [f"state_{s}" for s in states]


def _shape(tensor):
    return [None if d is None else int(d) for d in tensor.shape]


def _build(cell, units, input_shape, return_sequences, return_state, bidirectional,
           merge_mode, reset_after, dense):
    """Build the Keras stack; returns (inputs, rnn layers, per-layer returned tensors, head)."""
    from rnnlm.tf_logs import quiet_for_the_api

    quiet_for_the_api()  # from Python too, TensorFlow's start-up lines stay off the terminal
    import keras

    inputs = keras.Input(shape=input_shape, name="input")
    x, layers, returned = inputs, [], []
    for index, n in enumerate(units):
        last = index == len(units) - 1
        kwargs = {"reset_after": reset_after} if cell == "gru" else {}
        layer = getattr(keras.layers, _KERAS_CLASS[cell])(
            n, return_sequences=return_sequences if last else True,
            return_state=return_state and last, name=f"rnn_{index}", **kwargs)
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, merge_mode=merge_mode, name=f"rnn_{index}")
        out = layer(x)
        out = list(out) if isinstance(out, (tuple, list)) else [out]
        layers.append(layer)
        returned.append(out)
        x = out[0]
    head = keras.layers.Dense(dense, name="dense") if dense else None
    head_out = head(x) if head else None
    return inputs, layers, returned, (head, head_out)


def random_weight(rng, shape):
    """Random float32 weights: matrices scaled by 1/sqrt(fan-in) (so that deep or long
    stacks neither saturate nor blow float32 round-off up), biases nonzero so that every
    term of the equations is exercised."""
    scale = 1.0 / np.sqrt(shape[0]) if len(shape) == 2 and shape[0] > 2 else 0.5
    return rng.uniform(-scale, scale, shape).astype("float32")


def _numpy_check(inputs, layers, outputs, input_shape, seed):
    """Largest |reference - Keras| over every returned tensor, on random weights and input."""
    import keras

    from rnnlm import reference

    rng = np.random.default_rng(seed)
    for layer in layers:
        layer.set_weights([random_weight(rng, w.shape) for w in layer.get_weights()])
    timesteps = input_shape[0] or _CHECK_TIMESTEPS
    x = rng.normal(size=(_CHECK_BATCH, timesteps, input_shape[1])).astype("float32")
    expected = keras.Model(inputs, outputs)(x)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    got = reference.stack_forward(x, layers)
    got = got if isinstance(got, tuple) else (got,)
    diff = max(float(np.max(np.abs(np.asarray(e) - g))) for e, g in zip(expected, got))
    return {"max_abs_diff": diff, "tolerance": TOLERANCE, "ok": diff <= TOLERANCE,
            "batch": _CHECK_BATCH, "timesteps": timesteps, "seed": seed}


def _rnn_row(cell, layer, outs, input_dim, reset_after, bidirectional, return_sequences):
    """One layer's line of the result: what it returns and its parameters."""
    units = layer.forward_layer.units if bidirectional else layer.units
    symbolic, formula, count = param_formula(cell, units, input_dim, reset_after, bidirectional)
    names = ["output"] + (_state_names(cell, bidirectional) if len(outs) > 1 else [])
    kind = f"{_KERAS_CLASS[cell]}({units})"
    return {
        "name": layer.name, "layer": f"Bidirectional({kind})" if bidirectional else kind,
        "units": units, "input_dim": input_dim,
        "return_sequences": bool(return_sequences), "return_state": len(outs) > 1,
        "returns": [{"name": nm, "shape": _shape(t)} for nm, t in zip(names, outs)],
        "params": int(layer.count_params()), "formula_symbolic": symbolic,
        "formula": formula, "formula_params": count,
    }


def _dense_row(head, head_out, input_dim):
    units = head.units
    count = units * input_dim + units
    return {
        "name": head.name, "layer": f"Dense({units})", "units": units, "input_dim": input_dim,
        "return_sequences": None, "return_state": None,
        "returns": [{"name": "output", "shape": _shape(head_out)}],
        "params": int(head.count_params()), "formula_symbolic": "units × input + units",
        "formula": f"{units} × {input_dim} + {units} = {count:,}", "formula_params": count,
    }


def explain(cell: str, units, input_shape, return_sequences: bool = False,
            return_state: bool = False, bidirectional: bool = False, merge_mode: str = "concat",
            layers: int = 1, reset_after: bool = True, numpy_check: bool = False,
            seed: int = 0, dense: int | None = None) -> dict:
    """Shapes and parameter counts of a (stack of) Keras RNN layer(s), without training.

    ``units`` is one int (repeated ``layers`` times), a list, or "64,64,32"; ``input_shape``
    is (timesteps, features) or "10,30" (timesteps may be None). Every layer but the last
    returns sequences, as a stack needs; the return flags apply to the last layer.
    ``dense`` adds a Dense head of that many units after the last layer.
    """
    cell = cell_name(cell)
    units = _layer_units(units, layers)
    input_shape = _input_shape(input_shape)
    check_merge_mode(merge_mode, bidirectional)
    if not reset_after and cell != "gru":
        raise RnnlmError("reset_after only applies to the gru cell")
    if dense is not None and dense < 1:
        raise RnnlmError(f"dense units must be >= 1; got {dense}")

    _check_size(cell, units, input_shape[1], reset_after, bidirectional, merge_mode)
    steps = input_shape[0] or _CHECK_TIMESTEPS
    if numpy_check and (steps > MAX_CHECK_TIMESTEPS or steps * input_shape[1] > MAX_CHECK_VALUES):
        raise RnnlmError(f"--numpy checks on random input of {steps:,} × {input_shape[1]:,}: at "
                         f"most {MAX_CHECK_TIMESTEPS:,} timesteps and {MAX_CHECK_VALUES:,} values "
                         f"(the shapes and counts do not depend on them)")
    inputs, keras_layers, returned, (head, head_out) = _build(
        cell, units, input_shape, return_sequences, return_state, bidirectional, merge_mode,
        reset_after, dense)
    rows, input_dim = [], input_shape[1]
    for index, (layer, outs) in enumerate(zip(keras_layers, returned)):
        rows.append(_rnn_row(cell, layer, outs, input_dim, reset_after, bidirectional,
                             return_sequences if index == len(units) - 1 else True))
        input_dim = int(outs[0].shape[-1])
    if head is not None:
        rows.append(_dense_row(head, head_out, input_dim))
    result = {
        "cell": cell, "units": units, "layers": len(units),
        "input_shape": [None, *input_shape],
        "return_sequences": bool(return_sequences), "return_state": bool(return_state),
        "bidirectional": bool(bidirectional),
        "merge_mode": merge_mode if bidirectional else None,
        "reset_after": bool(reset_after) if cell == "gru" else None,
        "dense": dense,
        "model_outputs": [{"name": f"{rows[-1]['name']}.{r['name']}", "shape": r["shape"]}
                          for r in rows[-1]["returns"]],
        "layer_table": rows,
        "total_params": sum(r["params"] for r in rows),
        "numpy_check": None,
    }
    if numpy_check:
        result["numpy_check"] = _numpy_check(inputs, keras_layers, returned[-1], input_shape,
                                             seed)
    return result
