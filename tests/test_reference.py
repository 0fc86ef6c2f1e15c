"""rnnlm.reference (NumPy, float64) against Keras (float32) on random weights and inputs."""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from rnnlm import reference as ref

keras = pytest.importorskip("keras")

TOL = 1e-5
BATCH, STEPS, FEATURES, UNITS = 3, 5, 4, 3
# Row 0 right-padded, row 1 with holes (left padding and a gap), row 2 fully masked.
MASK = np.array([[1, 1, 1, 0, 0], [0, 1, 0, 1, 1], [0, 0, 0, 0, 0]], dtype=bool)

CELLS = {  # id -> (Keras class name, extra kwargs)
    "simple_rnn": ("SimpleRNN", {}),
    "lstm": ("LSTM", {}),
    "gru": ("GRU", {}),
    "gru_reset_before": ("GRU", {"reset_after": False}),
}


def _x(seed=0, steps=STEPS, features=FEATURES):
    return np.random.default_rng(seed).normal(size=(BATCH, steps, features)).astype("float32")


def _randomize(layer, seed=1):
    """Random weights, biases included (Keras initialises biases to 0 and 1)."""
    rng = np.random.default_rng(seed)
    inner = [layer.forward_layer, layer.backward_layer] if hasattr(layer, "forward_layer") else [
        layer]
    for lay in inner:
        lay.set_weights([rng.uniform(-0.6, 0.6, w.shape).astype("float32")
                         for w in lay.get_weights()])
    return layer


def _make(cell, units=UNITS, features=FEATURES, bidirectional=None, **flags):
    name, extra = CELLS[cell]
    layer = getattr(keras.layers, name)(units, **extra, **flags)
    if bidirectional is not None:
        layer = keras.layers.Bidirectional(layer, merge_mode=bidirectional)
    layer.build((None, None, features))
    return _randomize(layer)


def _flat(result):
    return [np.asarray(r) for r in result] if isinstance(result, (tuple, list)) else [
        np.asarray(result)]


def _assert_same(keras_result, numpy_result):
    """Same structure (tensor vs tuple, length, shapes) and values within TOL."""
    assert isinstance(numpy_result, tuple) == isinstance(keras_result, (tuple, list))
    expected, got = _flat(keras_result), _flat(numpy_result)
    assert len(expected) == len(got)
    for e, g in zip(expected, got):
        assert e.shape == g.shape
        np.testing.assert_allclose(g, e, atol=TOL, rtol=0)


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("return_state", [False, True], ids=["out", "state"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_layer_matches_keras(cell, return_sequences, return_state, masked):
    layer = _make(cell, return_sequences=return_sequences, return_state=return_state)
    x, mask = _x(), (MASK if masked else None)
    _assert_same(layer(x, mask=mask), ref.forward_keras_layer(layer, x, mask=mask))


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_go_backwards_matches_keras(cell, return_sequences, masked):
    layer = _make(cell, return_sequences=return_sequences, return_state=True, go_backwards=True)
    x, mask = _x(), (MASK if masked else None)
    _assert_same(layer(x, mask=mask), ref.forward_keras_layer(layer, x, mask=mask))


@pytest.mark.parametrize("return_state", [False, True], ids=["out", "state"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_bidirectional_matches_keras(cell, merge_mode, return_sequences, return_state):
    layer = _make(cell, bidirectional=merge_mode, return_sequences=return_sequences,
                  return_state=return_state)
    x = _x()
    _assert_same(layer(x), ref.forward_keras_layer(layer, x))


@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("merge_mode", ["concat", "mul"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_bidirectional_with_mask_matches_keras(cell, merge_mode, return_sequences):
    layer = _make(cell, bidirectional=merge_mode, return_sequences=return_sequences,
                  return_state=True)
    x = _x()
    _assert_same(layer(x, mask=MASK), ref.forward_keras_layer(layer, x, mask=MASK))


@pytest.mark.parametrize("return_state", [False, True], ids=["out", "state"])
def test_bidirectional_merge_mode_none_returns_both_halves(return_state):
    lstm = keras.layers.LSTM(UNITS, return_sequences=True, return_state=return_state)
    layer = keras.layers.Bidirectional(lstm, merge_mode=None)
    layer.build((None, None, FEATURES))
    _randomize(layer)
    x = _x()
    _assert_same(layer(x, mask=MASK), ref.forward_keras_layer(layer, x, mask=MASK))


def test_bidirectional_last_output_backward_half_is_backward_state():
    layer = _make("lstm", bidirectional="concat", return_state=True)
    output, fw_h, fw_c, bw_h, bw_c = ref.forward_keras_layer(layer, _x())
    np.testing.assert_array_equal(output[:, UNITS:], bw_h)
    np.testing.assert_array_equal(output[:, :UNITS], fw_h)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_initial_state_and_masked_first_steps(cell):
    """A masked step before any read step outputs zeros, not the initial state."""
    layer = _make(cell, return_sequences=True, return_state=True)
    states = 2 if cell == "lstm" else 1
    rng = np.random.default_rng(3)
    initial = [rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(states)]
    x = _x()
    expected = layer(x, mask=MASK, initial_state=initial)
    got = ref.forward_keras_layer(layer, x, mask=MASK, initial_state=initial)
    _assert_same(expected, got)
    assert np.all(got[0][1, 0] == 0.0)  # row 1: step 0 masked, initial state nonzero
    np.testing.assert_array_equal(got[1][2], initial[0][2])  # row 2 fully masked


def test_bidirectional_initial_state():
    layer = _make("gru", bidirectional="sum", return_sequences=True, return_state=True)
    rng = np.random.default_rng(4)
    initial = [rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(2)]
    x = _x()
    _assert_same(layer(x, initial_state=initial),
                 ref.forward_keras_layer(layer, x, initial_state=initial))


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_stack_with_embedding_mask_like_an_rnnlm_run(bidirectional):
    """Embedding(mask_zero) -> LSTM -> GRU -> SimpleRNN, layers found by name as in a run."""
    ids = np.array([[3, 1, 4, 1, 5, 0, 0], [2, 7, 0, 0, 0, 0, 0]])
    inputs = keras.Input(shape=(None,), dtype="int32")
    embedding = keras.layers.Embedding(8, FEATURES, mask_zero=True, name="embedding")
    wrap = (lambda lay: keras.layers.Bidirectional(lay, name=lay.name)) if bidirectional else (
        lambda lay: lay)
    h = embedding(inputs)
    for index, cls in enumerate([keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN]):
        last = index == 2
        h = wrap(cls(UNITS, return_sequences=not last, return_state=last, name=f"rnn_{index}"))(h)
    model = keras.Model(inputs, h)
    for index in range(3):
        _randomize(model.get_layer(f"rnn_{index}"), seed=index)
    embedded = model.get_layer("embedding").get_weights()[0][ids]
    rnn_layers = [model.get_layer(f"rnn_{i}") for i in range(3)]
    _assert_same(model(ids), ref.stack_forward(embedded, rnn_layers, mask=ids != 0))
    # One layer on its own, as the "weights from an rnnlm run".
    first = keras.Model(inputs, model.get_layer("rnn_0").output)
    _assert_same(first(ids), ref.forward_keras_layer(rnn_layers[0], embedded, mask=ids != 0))


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_the_layer_of_a_real_language_model_is_reached_as_the_docs_say(cell):
    """docs/cells.md: an rnnlm model's layers sit in its backbone, found by name
    (``model.get_layer("backbone").get_layer("rnn_0")``, a top-level "rnn_0" is not there),
    and the reference run on the embedded ids gives the backbone's own output."""
    from rnnlm.config import ModelConfig
    from rnnlm.models.language_model import LanguageModel

    model = LanguageModel(ModelConfig(vocabulary_size=9, cell=cell, num_layers=1, units=5,
                                      embedding_dim=4)).build_for_inference()
    ids = np.array([[3, 1, 4, 1, 5, 0, 0], [2, 7, 8, 6, 2, 7, 1]])
    backbone = model.get_layer("backbone")
    embeddings = backbone.get_layer("embedding").get_weights()[0]
    layer = backbone.get_layer("rnn_0")
    sequences, states = backbone(ids)
    got = ref.forward_keras_layer(layer, embeddings[ids], mask=ids != 0)
    _assert_same([sequences, *states], got)
    with pytest.raises(ValueError, match="rnn_0"):
        model.get_layer("rnn_0")


def test_stack_from_plain_numpy_layers_matches_keras_stack():
    keras_layers = [_make("gru", return_sequences=True),
                    _make("simple_rnn", features=UNITS, return_state=True)]
    x = _x()
    expected = keras_layers[1](keras_layers[0](x))
    described = [ref.from_keras(lay) for lay in keras_layers]
    assert isinstance(described[0], ref.RNNLayer) and described[0].cell == "gru"
    _assert_same(expected, ref.stack_forward(x, described))


def test_stack_needs_sequences_between_layers():
    layers = [_make("lstm"), _make("lstm", features=UNITS)]
    with pytest.raises(ValueError, match="return sequences"):
        ref.stack_forward(_x(), layers)


@pytest.mark.parametrize(
    "cell, kwargs",
    [("simple_rnn", {"activation": "relu", "use_bias": False}),
     ("lstm", {"recurrent_activation": "hard_sigmoid", "use_bias": False}),
     ("gru", {"activation": "softsign", "use_bias": False}),
     ("gru_reset_before", {"use_bias": False, "unroll": True})],
)
def test_non_default_activations_no_bias_and_unroll(cell, kwargs):
    layer = _make(cell, return_sequences=True, **kwargs)
    x = _x()
    _assert_same(layer(x, mask=MASK), ref.forward_keras_layer(layer, x, mask=MASK))


def test_stateful_layer_starts_from_its_carried_state():
    layer = keras.layers.LSTM(UNITS, stateful=True, return_state=True)
    x = _x()
    layer(x)
    _randomize(layer)
    layer(x)  # now layer.states holds a nonzero state
    expected_numpy = ref.forward_keras_layer(layer, x)
    _assert_same(layer(x), expected_numpy)


def test_simple_rnn_by_hand():
    """The textbook equation with numbers small enough to check on paper."""
    x = np.array([[[1.0], [2.0]]])
    kernel, recurrent, bias = np.array([[0.5]]), np.array([[-1.0]]), np.array([0.1])
    h1 = np.tanh(1.0 * 0.5 + 0.1)
    h2 = np.tanh(2.0 * 0.5 - h1 + 0.1)
    out, h = ref.simple_rnn_forward(x, kernel, recurrent, bias, return_sequences=True,
                                    return_state=True)
    np.testing.assert_allclose(out[0, :, 0], [h1, h2])
    np.testing.assert_allclose(h[0, 0], h2)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="unsupported activation"):
        ref.get_activation("swishy")
    with pytest.raises(TypeError, match="not a Keras SimpleRNN"):
        ref.from_keras(keras.layers.Dense(2))
    with pytest.raises(ValueError, match="call it on an input first"):
        ref.from_keras(keras.layers.LSTM(2))
    with pytest.raises(ValueError, match="merge_mode"):
        lay = ref.RNNLayer("lstm", np.zeros((1, 4)), np.zeros((1, 4)))
        ref.bidirectional_forward(np.zeros((1, 2, 1)), lay, lay, merge_mode="max")


def test_reference_imports_numpy_only():
    code = ("import sys, rnnlm.reference; "
            "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_docs_quote_the_reference_code_verbatim():
    """docs/cells.md puts rnnlm/reference/'s lines next to the equations; keep them in sync."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    doc = root / "docs" / "cells.md"
    if not doc.exists():
        pytest.skip("docs/cells.md not in this checkout")
    blocks = doc.read_text(encoding="utf-8").split("<!-- excerpt: ")[1:]
    assert len(blocks) >= 5
    for block in blocks:
        name, block = block.split(" -->", 1)  # each excerpt names the file it quotes
        source = (root / name).read_text(encoding="utf-8").splitlines()
        code = block.split("```python\n", 1)[1].split("```", 1)[0].splitlines()
        starts = [i for i, line in enumerate(source) if line == code[0]]
        assert any(source[i:i + len(code)] == code for i in starts), (name, code[0])


def test_a_bias_of_the_wrong_shape_says_the_shape_the_cell_reads():
    """A GRU's default (reset_after) reads two biases; one of the other variant's shape was a
    bare 'too many values to unpack'."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4))
    kernel, recurrent = rng.normal(size=(4, 9)), rng.normal(size=(3, 9))
    with pytest.raises(ValueError, match=r"bias has shape \(9,\), expected \(2, 9\) "
                                         r"\(reset_after=True"):
        ref.gru_forward(x, kernel, recurrent, np.zeros(9))
    out = ref.gru_forward(x, kernel, recurrent, np.zeros(9), reset_after=False)
    assert out.shape == (2, 3)
    with pytest.raises(ValueError, match=r"expected \(12,\)"):
        ref.lstm_forward(x, rng.normal(size=(4, 12)), rng.normal(size=(3, 12)), np.zeros(9))
