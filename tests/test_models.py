import numpy as np
import pytest

from rnnlm.config import ModelConfig
from rnnlm.models.language_model import LanguageModel


def tiny_model(cell, layers=2):
    config = ModelConfig(vocabulary_size=23, cell=cell, num_layers=layers, units=12,
                         embedding_dim=6, dropout=0.1)
    return LanguageModel(config).build_for_inference()


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_stepwise_logits_equal_full_sequence_logits(cell):
    model = tiny_model(cell)
    ids = np.random.default_rng(0).integers(2, 23, size=(3, 9)).astype("int32")
    full = model(ids).numpy()
    states = model.initial_states(3)
    steps = []
    for t in range(ids.shape[1]):
        logits, states = model.next(ids[:, t], states)
        steps.append(logits.numpy())
    np.testing.assert_allclose(np.stack(steps, axis=1), full, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_prefill_of_right_padded_prompts_matches_each_prompt_alone(cell):
    model = tiny_model(cell)
    ids = np.random.default_rng(1).integers(2, 23, size=(3, 7)).astype("int32")
    lengths = np.array([7, 3, 1], dtype="int32")
    padded = ids.copy()
    for row, n in enumerate(lengths):
        padded[row, n:] = 0
    logits, states = model.prefill(padded, lengths)
    for row, n in enumerate(lengths):
        alone, alone_states = model.prefill(ids[row:row + 1, :n], lengths[row:row + 1])
        np.testing.assert_allclose(logits[row], alone[0], atol=1e-5)
        for s, a in zip(states, alone_states):
            np.testing.assert_allclose(s[row], a[0], atol=1e-5)


def test_save_then_load_gives_identical_logits(tmp_path):
    model = tiny_model("lstm")
    model.save_weights(tmp_path / "m.weights.h5")
    again = tiny_model("lstm")
    again.load_weights(tmp_path / "m.weights.h5")
    ids = np.arange(2, 12, dtype="int32")[None]
    np.testing.assert_array_equal(model(ids).numpy(), again(ids).numpy())


def test_recurrent_layers_keep_the_fused_kernel_eligible():
    model = tiny_model("gru")
    for layer in model.backbone.rnn_layers:
        config = layer.get_config()
        assert config["recurrent_dropout"] == 0 and config["use_bias"] and not config["unroll"]
        assert config["activation"] == "tanh" and config["recurrent_activation"] == "sigmoid"
        assert config["reset_after"] is True
