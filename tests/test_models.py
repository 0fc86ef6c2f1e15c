import keras
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


# --- what a GPU would see (conftest.cudnn_mask_check) -------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_evaluation_gives_the_recurrent_layers_only_what_cudnn_accepts(cell, cudnn_mask_check):
    from rnnlm import data
    from rnnlm.evaluation import evaluate_ids

    model = tiny_model(cell)
    ids = np.random.default_rng(2).integers(2, 23, size=1000).astype("int32")
    x, _ = data.eval_streams(ids, batch_size=4, seq_len=30)
    assert not x[-1, -30:].any()  # the layout's tail: the last row's last window is all padding
    exact = evaluate_ids(model, ids, len(ids), batch_size=1, seq_len=1000)  # one row, no padding
    streamed = evaluate_ids(model, ids, len(ids), batch_size=4, seq_len=30)
    assert cudnn_mask_check  # the stand-in was called
    assert streamed.tokens == exact.tokens == 999
    np.testing.assert_allclose(streamed.nats, exact.nats, rtol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_prompts_give_the_recurrent_layers_only_what_cudnn_accepts(cell, cudnn_mask_check):
    model = tiny_model(cell)
    ids = np.random.default_rng(3).integers(2, 23, size=(3, 7)).astype("int32")
    ids[1, 4:] = ids[2, 1:] = 0  # right-padded prompts of lengths 7, 4 and 1
    cudnn_mask_check.clear()
    model.prefill(ids, np.array([7, 4, 1], "int32"))
    assert cudnn_mask_check == [True, True]  # two layers, each given the prompts' mask


def recurrent_layers(backbone):
    for layer in backbone.rnn_layers:
        yield from ((layer.forward_layer, layer.backward_layer)
                    if isinstance(layer, keras.layers.Bidirectional) else (layer,))


GPU_COMBINATIONS = [dict(cell=cell, **options) for cell in ("lstm", "gru") for options in (
    {}, dict(dropout=0.3), dict(dropout=0.3, locked_dropout=True, embedding_dropout=0.1),
    dict(tie_weights=True))]


@pytest.mark.parametrize("options", GPU_COMBINATIONS)
def test_on_a_gpu_every_recurrent_layer_is_built_to_stay_on_cudnn(options, monkeypatch):
    """Keras's conditions for its cuDNN kernel, on every recurrent layer of every model rnnlm
    builds, and use_cudnn=True, so that a call cuDNN cannot take is an error (next test)."""
    from rnnlm.models import precision
    from rnnlm.models.classifier import ClassifierConfig, SequenceClassifier
    from tests.conftest import keras_tf_rnn

    tf_rnn = keras_tf_rnn()
    monkeypatch.setattr(precision, "gpu_visible", lambda: True)
    options = dict(options)  # the parameter itself stays as pytest made it
    sizes = dict(units=12, num_layers=2)
    lm = LanguageModel(ModelConfig(vocabulary_size=23, embedding_dim=6, **sizes, **options))
    options.pop("tie_weights", None)
    classifiers = [SequenceClassifier(ClassifierConfig(vocabulary_size=23, bidirectional=bi,
                                                       **sizes, **options))
                   for bi in (False, True)]
    layers = [layer for model in [lm, *classifiers] for layer in recurrent_layers(model.backbone)]
    assert len(layers) == 2 + 2 + 4
    for layer in layers:
        cell = layer.cell
        assert layer.use_cudnn is True and not cell.dropout and not cell.recurrent_dropout
        if options["cell"] == "lstm":
            assert not layer.fused_eligible()  # a GPU keeps Keras's path, not rnnlm's kernel
            assert tf_rnn._do_lstm_arguments_support_cudnn(
                cell.activation, cell.recurrent_activation, layer.unroll, cell.use_bias)
        else:
            assert tf_rnn._do_gru_arguments_support_cudnn(
                cell.activation, cell.recurrent_activation, layer.unroll, cell.use_bias,
                cell.reset_after)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_on_a_gpu_a_call_cudnn_cannot_take_is_an_error_not_a_slow_fallback(cell, monkeypatch):
    from rnnlm.models import precision

    monkeypatch.setattr(precision, "gpu_visible", lambda: True)  # but this CPU has no cuDNN
    model = LanguageModel(ModelConfig(vocabulary_size=23, cell=cell, units=8, embedding_dim=6))
    with pytest.raises(ValueError, match="cuDNN is not supported"):
        model(np.ones((2, 5), "int32"))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_classifier_batches_give_the_recurrent_layers_only_what_cudnn_accepts(
        cell, cudnn_mask_check):
    from rnnlm.classify_batches import pad
    from rnnlm.models.classifier import ClassifierConfig, SequenceClassifier

    model = SequenceClassifier(ClassifierConfig(vocabulary_size=23, cell=cell, units=8,
                                                embedding_dim=6, bidirectional=True,
                                                pooling="concat"))
    batch = pad([np.arange(2, 9), np.arange(3, 6), np.array([4])])  # right-padded to 7
    model(batch)  # the first call also builds the layers (more calls)
    cudnn_mask_check.clear()
    probabilities = model(batch)
    assert cudnn_mask_check == [True, True]  # forward and backward layer, each with the mask
    np.testing.assert_allclose(np.sum(probabilities, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_backbone_s_initial_states_are_the_ones_it_returns(cell, bidirectional):
    """One zero state for each state a layer returns: a bidirectional layer has two sets (it
    had one, which the layers then refused)."""
    from rnnlm.models.backbone import Backbone

    backbone = Backbone(cell=cell, num_layers=2, units=[8, 6], vocabulary_size=20,
                        embedding_dim=4, bidirectional=bidirectional)
    ids = np.arange(15, dtype=np.int32).reshape(3, 5) % 19 + 1
    sequences, final = backbone(ids)
    initial = backbone.initial_states(3)
    assert [tuple(s.shape) for s in initial] == [tuple(s.shape) for s in final]
    again, _ = backbone(ids, initial_states=initial)
    np.testing.assert_allclose(np.asarray(again), np.asarray(sequences), atol=1e-6)
