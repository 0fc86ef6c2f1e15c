"""Training precision (issue 6): bfloat16 matmuls while training, float32 everywhere else."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import rnnlm
from rnnlm.config import ModelConfig, TrainConfig
from rnnlm.errors import RnnlmError
from rnnlm.models import precision
from rnnlm.models.fused_lstm import lstm_sequence
from rnnlm.models.language_model import LanguageModel


def lstm_inputs(steps=6, batch=3, features=5, units=8, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(0, 1, (steps, batch, features)), rng.normal(0, 0.5, (batch, units)),
              rng.normal(0, 0.5, (batch, units)), rng.normal(0, 0.5, (features, 4 * units)),
              rng.normal(0, 0.5, (units, 4 * units)), rng.normal(0, 0.1, (4 * units,))]
    return [tf.constant(a, tf.float32) for a in arrays]


def lstm_outputs_and_gradients(inputs, dtype):
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        hs, h_last, c_last = lstm_sequence(*inputs, matmul_dtype=dtype)
        loss = tf.reduce_sum(hs * hs) + tf.reduce_sum(c_last)
    return [hs, c_last] + tape.gradient(loss, inputs)


def test_bfloat16_lstm_is_close_to_float32_but_really_lower_precision():
    inputs = lstm_inputs()
    exact = lstm_outputs_and_gradients(inputs, "float32")
    low = lstm_outputs_and_gradients(inputs, "bfloat16")
    for a, b in zip(exact, low):
        assert b.dtype == tf.float32  # results and gradients come back as float32
        scale = float(tf.reduce_max(tf.abs(a))) + 1e-6
        assert float(tf.reduce_max(tf.abs(a - b))) < 0.05 * scale
    # bfloat16 keeps 8 mantissa bits: the outputs must differ somewhere, or it never ran.
    assert float(tf.reduce_max(tf.abs(exact[0] - low[0]))) > 1e-5


@pytest.mark.parametrize("tie", [False, True])
def test_bfloat16_applies_to_training_only(tie):
    model = LanguageModel(ModelConfig(vocabulary_size=40, units=16, embedding_dim=8,
                                      num_layers=2, tie_weights=tie)).build_for_inference()
    x = tf.constant(np.random.default_rng(1).integers(1, 40, (4, 9)), tf.int32)
    inference = model(x, training=False)
    train_exact = model(x, training=True)
    assert precision.set_training_precision(model, "bfloat16") == "bfloat16"
    layers = [layer for layer in model._flatten_layers() if hasattr(layer, "training_matmul_dtype")]
    assert len(layers) == 3  # two LSTMs and the output layer
    np.testing.assert_array_equal(model(x, training=False), inference)
    train_low = model(x, training=True)
    assert train_low.dtype == tf.float32
    assert 0 < float(tf.reduce_max(tf.abs(train_low - train_exact))) < 0.05
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(x, train_low)
    assert loss.dtype == tf.float32
    assert all(w.dtype == "float32" for w in model.weights)


def test_bfloat16_training_learns_like_float32():
    x = tf.constant(np.tile(np.arange(1, 11), (8, 2)), tf.int32)  # a repeating pattern
    losses = {}
    for dtype in ("float32", "bfloat16"):
        keras.utils.set_random_seed(0)  # same initial weights for both
        model = LanguageModel(ModelConfig(vocabulary_size=20, units=16, embedding_dim=8)
                              ).build_for_inference()
        precision.set_training_precision(model, dtype)
        model.compile(optimizer=keras.optimizers.Adam(2e-2),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        losses[dtype] = model.fit(x[:, :-1], x[:, 1:], epochs=25, verbose=0).history["loss"]
    exact, low = losses["float32"], losses["bfloat16"]
    assert np.isfinite(low).all() and low[-1] < 0.5 * low[0]
    assert abs(low[-1] - exact[-1]) < 0.1 * exact[0]


def test_auto_precision_needs_native_bfloat16_and_no_gpu(monkeypatch):
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx512f", "avx512_bf16", "amx_bf16"})
    monkeypatch.setattr(precision, "gpu_visible", lambda: False)
    assert precision.resolve_precision("auto") == "bfloat16"
    assert precision.resolve_precision("float32") == "float32"
    monkeypatch.setattr(precision, "gpu_visible", lambda: True)
    assert precision.resolve_precision("auto") == "float32"
    monkeypatch.setattr(precision, "gpu_visible", lambda: False)
    # AVX512_BF16 without AMX multiplies bfloat16 natively too, and won per minute there.
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert precision.cpu_has_bf16_matmul()
    assert precision.resolve_precision("auto") == "bfloat16"
    # Elsewhere bfloat16 is emulated, slower than float32: only given when asked for.
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx2"})
    assert not precision.cpu_has_bf16_matmul()
    assert precision.resolve_precision("auto") == "float32"
    assert precision.resolve_precision("bfloat16") == "bfloat16"


TINY = dict(units=16, embedding_dim=8, seq_len=16, batch_size=4, epochs=1, steps_per_epoch=1,
            quiet=False)


def test_char_recipe_trains_in_bfloat16_on_a_native_bfloat16_cpu_only(tiny_corpus, tmp_path,
                                                                      monkeypatch, capsys):
    monkeypatch.setattr(precision, "gpu_visible", lambda: False)
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx512_bf16", "amx_bf16"})
    rnnlm.train(str(tiny_corpus), tmp_path / "amx", **TINY)
    config = json.loads((tmp_path / "amx" / "config.json").read_text())
    assert config["train"]["precision"] == "auto"
    assert "training matmuls in bfloat16" in capsys.readouterr().out
    rnnlm.train(str(tiny_corpus), tmp_path / "asked", precision="float32", **TINY)
    assert "bfloat16" not in capsys.readouterr().out  # an explicit option wins
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx512_bf16"})  # no AMX
    rnnlm.train(str(tiny_corpus), tmp_path / "avx512_bf16", **TINY)
    assert "training matmuls in bfloat16" in capsys.readouterr().out
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx2", "fma"})
    rnnlm.train(str(tiny_corpus), tmp_path / "avx2", **TINY)
    assert "bfloat16" not in capsys.readouterr().out
    # another cell runs Keras's own kernel, in float32: only the output layer's matmuls change
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx512_bf16", "amx_bf16"})
    rnnlm.train(str(tiny_corpus), tmp_path / "gru", cell="gru", **TINY)
    assert ("the output layer's training matmuls (the gru cell's stay float32) in bfloat16"
            in capsys.readouterr().out)


def test_word_and_subword_recipes_follow_auto_on_an_amx_cpu(tiny_corpus, tmp_path, monkeypatch,
                                                             capsys):
    # Both were measured in both precisions on an AMX CPU, and bfloat16 won per minute.
    monkeypatch.setattr(precision, "gpu_visible", lambda: False)
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx512_bf16", "amx_bf16"})
    rnnlm.train(str(tiny_corpus), tmp_path / "word", tokenizer="word", **TINY)
    config = json.loads((tmp_path / "word" / "config.json").read_text())
    assert config["train"]["precision"] == "auto"
    assert "training matmuls in bfloat16" in capsys.readouterr().out
    tiny_corpus.write_text(tiny_corpus.read_text(encoding="utf-8") * 3, encoding="utf-8")
    rnnlm.train(str(tiny_corpus), tmp_path / "subword", tokenizer="sentencepiece", vocab_size=400,
                **{**TINY, "seq_len": 8})
    config = json.loads((tmp_path / "subword" / "config.json").read_text())
    assert config["train"]["precision"] == "auto"
    assert "training matmuls in bfloat16" in capsys.readouterr().out
    rnnlm.train(str(tiny_corpus), tmp_path / "subword_f32", tokenizer="sentencepiece",
                vocab_size=400, precision="float32", **{**TINY, "seq_len": 8})
    assert "bfloat16" not in capsys.readouterr().out  # an explicit option wins


def test_unknown_precision_is_refused():
    with pytest.raises(RnnlmError, match="precision"):
        TrainConfig(precision="float16").validate()
