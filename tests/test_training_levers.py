"""Training levers (issue 6): the CPU LSTM kernel, --stateful TBPTT, tied weights, dropout
variants, AdamW, learning-rate schedules, early stopping, mixed precision. Tiny models only."""
import json
import math
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from typer.testing import CliRunner

import rnnlm
from rnnlm import data, optimizers, schedule, training
from rnnlm.config import ModelConfig, TrainConfig
from rnnlm.errors import RnnlmError
from rnnlm.models import backbone as backbone_module
from rnnlm.models.fused_lstm import FusedLSTM
from rnnlm.models.language_model import CarriedState, LanguageModel


def tiny_model(**options):
    config = dict(vocabulary_size=12, units=8, embedding_dim=6, num_layers=2)
    config.update(options)
    return LanguageModel(ModelConfig(**config)).build_for_inference()


def ids_batch(batch=3, steps=7, vocabulary=12, seed=0):
    return tf.constant(np.random.default_rng(seed).integers(1, vocabulary, (batch, steps)),
                       tf.int32)


# ----------------------------------------------------------------------------- FusedLSTM
def twin_layers(units=6, features=5):
    keras_layer = keras.layers.LSTM(units, return_sequences=True, return_state=True)
    fused = FusedLSTM(units, return_sequences=True, return_state=True, fused=True)
    x = tf.random.normal((3, 7, features), seed=1)
    keras_layer(x), fused(x)
    rng = np.random.default_rng(0)
    for a, b in zip(keras_layer.weights, fused.weights):
        value = rng.normal(0, 0.5, a.shape).astype("float32")
        a.assign(value), b.assign(value)
    return keras_layer, fused, x


def test_fused_lstm_matches_keras_outputs_and_gradients():
    keras_layer, fused, x = twin_layers()
    h0 = [tf.random.normal((3, 6), seed=2), tf.random.normal((3, 6), seed=3)]

    @tf.function
    def run(layer, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            seq, h, c = layer(x, initial_state=h0)
            loss = tf.reduce_sum(seq ** 2) + tf.reduce_sum(h) + tf.reduce_sum(c ** 3)
        return [seq, h, c] + tape.gradient(loss, layer.trainable_weights + [x])

    for a, b in zip(run(keras_layer, x), run(fused, x)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_fused_lstm_keeps_keras_weight_layout_and_masked_path():
    keras_layer, fused, x = twin_layers()
    assert [w.path.split("/")[-1] for w in fused.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert [w.shape for w in fused.weights] == [(5, 24), (6, 24), (24,)]
    mask = np.ones((3, 7), bool)
    mask[1, 4:] = False  # right padding → Keras's masked path
    for m in (mask, np.ones((3, 7), bool)):
        for a, b in zip(keras_layer(x, mask=m), fused(x, mask=m)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_keras_lstm_weights_load_into_fused_model_and_back(tmp_path, monkeypatch):
    fused_model = tiny_model()
    assert isinstance(fused_model.backbone.rnn_layers[0], FusedLSTM)
    monkeypatch.setitem(backbone_module.RNN_LAYERS, "lstm", keras.layers.LSTM)
    keras_model = tiny_model()
    assert type(keras_model.backbone.rnn_layers[0]) is keras.layers.LSTM
    x = ids_batch()
    keras_model.save_weights(tmp_path / "keras.weights.h5")
    fused_model.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(keras_model(x).numpy(), fused_model(x).numpy(), atol=1e-5)
    fused_model.head.bias.assign(tf.fill(fused_model.head.bias.shape, 0.25))
    fused_model.save_weights(tmp_path / "fused.weights.h5")
    keras_model.load_weights(tmp_path / "fused.weights.h5")
    np.testing.assert_allclose(keras_model(x).numpy(), fused_model(x).numpy(), atol=1e-5)


# ----------------------------------------------------------------------------- stateful
def test_streams_are_contiguous_and_cover_the_corpus():
    ids = np.arange(1, 103, dtype=np.uint16)  # 102 ids → 101 targets
    x, y = data.stream_windows(ids, batch_size=4, seq_len=5)
    assert x.shape == (4, 25)
    np.testing.assert_array_equal(x.reshape(-1), ids[:100])  # row r continues where r-1 ends
    np.testing.assert_array_equal(y, x + 1)  # next-token targets
    rows = data.stream_rows(ids, batch_size=4)  # what the dataset holds: ids at their own width
    assert rows.dtype == np.uint16 and rows.shape == (4, 26)
    windows = list(data.stream_dataset(ids, seq_len=5, batch_size=4))
    assert len(windows) == 5
    np.testing.assert_array_equal(np.concatenate([w[0].numpy() for w in windows], 1), x)
    np.testing.assert_array_equal(np.concatenate([w[1].numpy() for w in windows], 1), y)
    short = list(data.stream_dataset(ids, seq_len=7, batch_size=4))  # 25 = 3 × 7 + 4
    assert [w[0].shape[1] for w in short] == [7, 7, 7, 4]
    with pytest.raises(RnnlmError):
        data.stream_windows(ids[:3], batch_size=4, seq_len=5)


def test_stateful_tokens_per_second_counts_the_short_last_window():
    """Streams of 250 tokens in windows of 100: each pass is 100 + 100 + 50 per stream."""
    end = training.EpochEnd(None, None, 0, batch_size=4, seq_len=100, time_limit=None,
                            stream_length=250)
    for _ in range(2):
        end.on_epoch_begin(0)
        for batch in range(3):
            end.on_train_batch_end(batch)
        assert end.tokens_this_epoch == 4 * 250
    unstreamed = training.EpochEnd(None, None, 0, batch_size=4, seq_len=100, time_limit=None)
    unstreamed.on_train_batch_end(0)
    assert unstreamed.tokens_this_epoch == 400


def test_stateful_training_carries_the_state_from_window_to_window():
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(0.0),  # weights stay put: states comparable
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.random.default_rng(0).integers(1, 12, 2 * 4 * 6 + 1).astype(np.uint16)
    dataset = data.stream_dataset(ids, seq_len=4, batch_size=2)
    model.carried = CarriedState(model, 2)
    seen = []
    windows = list(dataset)

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append([v.numpy().copy() for v in model.carried.variables])

    model.fit(dataset, epochs=2, verbose=0,
              callbacks=[training.ResetCarried(len(windows), 0), Record()])
    model.carried = None
    assert len(seen) == 2 * len(windows)
    for epoch in range(2):  # reset at every epoch: both epochs reproduce the same chain
        states = None
        for k, (x, _) in enumerate(windows):
            _, states = model.forward(x, states)
            for got, want in zip(seen[epoch * len(windows) + k], states):
                np.testing.assert_allclose(got, want.numpy(), atol=1e-5)


def test_an_epoch_is_one_pass_of_the_layout_it_trains_on():
    ids = np.arange(1, 104, dtype=np.uint16)  # 103 tokens, windows of 10, batch 2
    stateful = TrainConfig(seq_len=10, batch_size=2, stateful=True)
    streams = data.stream_dataset(ids, 10, 2)  # 2 streams of 51 targets: 6 windows, last short
    assert training.batches_in_one_pass(streams, len(ids), stateful) == 6
    shuffled = TrainConfig(seq_len=10, batch_size=2)
    windows = data.lm_dataset(ids, 10, 2)  # 10 windows: 5 batches
    assert training.batches_in_one_pass(windows, len(ids), shuffled) == 5
    offsets = TrainConfig(seq_len=10, batch_size=2, random_offsets=True)
    endless = data.lm_dataset(ids, 10, 2, random_offsets=True)
    assert training.batches_in_one_pass(endless, len(ids), offsets) == 5


def test_carried_state_is_not_saved_with_the_weights():
    model = tiny_model()
    before = len(model.weights)
    model.carried = CarriedState(model, 3)
    assert len(model.weights) == before


# ----------------------------------------------------------------------------- tied weights
@pytest.mark.parametrize("units, projection", [(6, False), (10, True)])
def test_tied_weights_are_one_variable(units, projection):
    model = tiny_model(units=units, tie_weights=True)
    embedding = model.backbone.embedding.embeddings
    vocab_sized = [v for v in model.trainable_variables if 12 in v.shape and len(v.shape) == 2]
    assert vocab_sized == [embedding]
    assert (model.head.projection is not None) == projection
    x = ids_batch()
    with tf.GradientTape() as tape:
        logits = model(x)
        loss = tf.reduce_sum(logits[..., 3])
    # Row 3 of the embedding gets gradient from the output side even if token 3 is not input.
    grad = tf.convert_to_tensor(tape.gradient(loss, embedding))
    assert float(tf.reduce_sum(tf.abs(grad[3]))) > 0
    np.testing.assert_allclose(logits[..., 3].numpy().shape, (3, 7))


def test_tied_model_round_trips_through_weight_files(tmp_path):
    model = tiny_model(units=10, tie_weights=True)
    model.save_weights(tmp_path / "m.weights.h5")
    again = tiny_model(units=10, tie_weights=True)
    again.load_weights(tmp_path / "m.weights.h5")
    x = ids_batch()
    np.testing.assert_allclose(model(x).numpy(), again(x).numpy(), atol=1e-6)


# ----------------------------------------------------------------------------- dropout
@pytest.mark.parametrize("options", [dict(dropout=0.5), dict(embedding_dropout=0.5),
                                     dict(dropout=0.5, embedding_dropout=0.5,
                                          locked_dropout=True)])
def test_dropout_is_active_in_training_and_off_in_inference(options):
    plain = tiny_model()
    model = tiny_model(**options)
    model.set_weights(plain.get_weights())
    x = ids_batch()
    np.testing.assert_allclose(model(x, training=False).numpy(), plain(x).numpy(), atol=1e-6)
    assert not np.allclose(model(x, training=True).numpy(), plain(x).numpy(), atol=1e-4)


def test_locked_dropout_uses_one_mask_per_sequence():
    layer = backbone_module.sequence_dropout(0.5, locked=True, name="d")
    out = layer(tf.ones((4, 9, 16)), training=True).numpy()
    assert np.all(out == out[:, :1, :])  # the same mask at every time step
    assert 0 < (out == 0).mean() < 1
    standard = backbone_module.sequence_dropout(0.5, locked=False, name="s")
    out = standard(tf.ones((4, 9, 16)), training=True).numpy()
    assert not np.all(out == out[:, :1, :])


def test_weight_drop_is_active_in_training_and_off_in_inference():
    plain = tiny_model()
    model = tiny_model(weight_drop=0.5)
    model.set_weights(plain.get_weights())  # weight_drop adds no variable
    x = ids_batch()
    np.testing.assert_allclose(model(x, training=False).numpy(), plain(x).numpy(), atol=1e-6)
    first, second = model(x, training=True).numpy(), model(x, training=True).numpy()
    assert not np.allclose(first, plain(x).numpy(), atol=1e-4)
    assert not np.allclose(first, second, atol=1e-4)  # a fresh mask for every batch


def test_weight_drop_is_the_lstm_with_a_masked_recurrent_kernel(monkeypatch):
    """Outputs and gradients equal Keras's LSTM run with recurrent_kernel · mask / (1 - rate):
    one mask for the whole batch and every step, and the gradient reaches the kernel through it."""
    keras_layer, fused, x = twin_layers()
    fused.weight_drop = 0.5
    mask = (np.random.default_rng(5).random(fused.cell.recurrent_kernel.shape) > 0.5)
    monkeypatch.setattr(keras.random, "dropout",
                        lambda value, rate, seed=None: value * mask.astype("float32") / (1 - rate))
    recurrent = fused.cell.recurrent_kernel.numpy()
    keras_layer.cell.recurrent_kernel.assign(recurrent * mask / 0.5)

    def run(layer):
        with tf.GradientTape() as tape:
            seq, h, c = layer(x, training=True)
            loss = tf.reduce_sum(seq ** 2) + tf.reduce_sum(c)
        return [seq, h, c] + tape.gradient(loss, layer.trainable_weights)

    expected, got = run(keras_layer), run(fused)
    for a, b in zip(expected[:4], got[:4]):  # outputs, then the kernel's gradient
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[4].numpy(), expected[4].numpy() * mask / 0.5, atol=1e-5)
    assert np.all(got[4].numpy()[~mask] == 0)  # dropped weights get no gradient
    np.testing.assert_allclose(got[5].numpy(), expected[5].numpy(), rtol=1e-5, atol=1e-5)


def test_weight_drop_is_refused_where_it_would_change_the_kernel():
    with pytest.raises(RnnlmError, match="lstm"):
        ModelConfig(cell="gru", weight_drop=0.2).validate()
    with pytest.raises(RnnlmError, match="weight_drop"):
        ModelConfig(weight_drop=1.0).validate()
    layer = FusedLSTM(4, return_sequences=True, weight_drop=0.3, fused=False)
    with pytest.raises(RnnlmError, match="CPU LSTM kernel"):
        layer(tf.ones((2, 3, 5)), training=True)
    assert FusedLSTM.from_config(layer.get_config()).weight_drop == 0.3


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _RetracedModel:
    """What WeightDropIfLong touches: the backbone's rate and the train function."""

    def __init__(self):
        self.backbone = LanguageModel(ModelConfig(vocabulary_size=12, units=4,
                                                  embedding_dim=3)).backbone
        self.optimizer = keras.optimizers.Adam()  # its step count: the steps done
        self.retraced = 0

    def make_train_function(self, force=False):
        self.retraced += force


def _twelve_minute_switch(monkeypatch):
    """A WeightDropIfLong of a 12-minute run (100 steps a pass, 20 planned) on a clock the test
    sets, in its first epoch: (clock, switch, model, decisions)."""
    clock = _Clock()
    monkeypatch.setattr(schedule.time, "perf_counter", clock)
    decisions = []
    switch = schedule.WeightDropIfLong(0.15, steps_per_pass=100, planned_steps=2000,
                                       time_limit=720, started=0.0,
                                       decided=lambda *d: decisions.append(d))
    model = _RetracedModel()
    switch.set_model(model)
    switch.on_train_begin()
    switch.on_epoch_begin(0)
    return clock, switch, model, decisions


@pytest.mark.parametrize("first_epoch_seconds, passes, switched", [(120.0, 6.0, False),
                                                                   (48.0, 15.0, True)])
def test_a_time_limit_decides_weight_drop_from_the_first_epochs_pace(
        monkeypatch, first_epoch_seconds, passes, switched):
    """12 minutes, 100 steps a pass, 20 passes planned: at 2 minutes a pass only 6 fit (off);
    at 48 s a pass, 15 (on from epoch 2)."""
    clock, switch, model, decisions = _twelve_minute_switch(monkeypatch)
    assert decisions == []  # nothing known yet
    model.optimizer.iterations.assign(100)  # one pass of 100 steps
    clock.now = first_epoch_seconds
    switch.on_epoch_begin(1)
    rate, message = decisions[0]
    assert f"~{passes:.1f} passes over the data fit in --time-limit" in message
    assert (rate, model.backbone.weight_drop, model.retraced) == (
        (0.15, 0.15, 1) if switched else (0.0, 0.0, 0))
    assert all(layer.weight_drop == rate for layer in model.backbone.rnn_layers)
    assert message.startswith("weight drop 0.15 from epoch 2" if switched else "no weight drop")
    clock.now *= 2
    switch.on_epoch_begin(2)
    assert len(decisions) == 1  # decided once


def test_the_first_steps_tracing_time_is_not_counted_in_the_pace(monkeypatch):
    """The first step traces the train function (60 s here), then 99 steps take 48 s: counted
    from the start only 6.7 passes would fit in 12 minutes (off); at the pace after tracing,
    100 done + 612 s × 99/48 steps/s = 13.6 passes (on)."""
    clock, switch, model, decisions = _twelve_minute_switch(monkeypatch)
    model.optimizer.iterations.assign(1)
    clock.now = 60.0
    switch.on_train_batch_end(0)
    model.optimizer.iterations.assign(100)
    clock.now = 108.0
    switch.on_train_batch_end(98)  # later steps leave the first one's time as it was
    switch.on_epoch_begin(1)
    rate, message = decisions[0]
    assert "~13.6 passes over the data fit in --time-limit" in message and rate == 0.15


def test_an_epoch_of_one_step_leaves_the_decision_to_the_next(monkeypatch):
    """A tiny corpus, one step a pass, 30 seconds: the first epoch is its one step, which
    traced (4 s, 4.5 with validation). Counted from it, 6.7 passes fit (off); at the next
    epoch's pace, after tracing, 2 + 25.4 s × 1/0.6 steps/s ≈ 44 (on)."""
    clock = _Clock()
    monkeypatch.setattr(schedule.time, "perf_counter", clock)
    decisions = []
    switch = schedule.WeightDropIfLong(0.15, steps_per_pass=1, planned_steps=10**9,
                                       time_limit=30.0, started=0.0,
                                       decided=lambda *d: decisions.append(d))
    model = _RetracedModel()
    switch.set_model(model)
    switch.on_train_begin()
    model.optimizer.iterations.assign(1)
    clock.now = 4.0
    switch.on_train_batch_end(0)
    clock.now = 4.5
    switch.on_epoch_begin(1)
    assert decisions == []  # one step so far, the one that traced
    model.optimizer.iterations.assign(2)
    clock.now = 4.6
    switch.on_epoch_begin(2)
    rate, message = decisions[0]
    assert rate == 0.15 and message.startswith("weight drop 0.15 from epoch 3")
    assert "~44.3 passes over the data fit" in message


def test_the_switched_on_weight_drop_trains_through_the_retraced_kernel(tiny_corpus, tmp_path,
                                                                        monkeypatch, capsys):
    traced = []
    weight_dropped = FusedLSTM._weight_dropped

    def counting(self, *args):
        traced.append(self.weight_drop)
        return weight_dropped(self, *args)

    monkeypatch.setattr(FusedLSTM, "_weight_dropped", counting)
    run = tmp_path / "run"
    rnnlm.train(str(tiny_corpus), run, units=16, embedding_dim=8, seq_len=16, batch_size=4,
                epochs=9, time_limit=600, quiet=False)
    assert "weight drop 0.15 from epoch 2: ~9.0 passes" in capsys.readouterr().out
    history = json.loads((run / "history.json").read_text())["epochs"]
    assert [epoch["weight_drop"] for epoch in history] == [0.0] + [0.15] * 8
    assert traced and set(traced) == {0.15}  # the train function was traced again with it
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["weight_drop"] == 0.15  # what --resume continues with


# ----------------------------------------------------------------------------- optimizer
def test_weight_decay_selects_adamw_and_spares_biases():
    assert type(optimizers.build_optimizer(1e-3, 5.0)) is keras.optimizers.Adam
    optimizer = optimizers.build_optimizer(1e-3, 5.0, weight_decay=0.1)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    bias = keras.Variable(np.ones(3, "float32"), name="bias")
    kernel = keras.Variable(np.ones(3, "float32"), name="kernel")
    optimizer.apply_gradients([(tf.zeros(3), bias), (tf.zeros(3), kernel)])
    assert np.allclose(bias.numpy(), 1.0) and np.all(kernel.numpy() < 1.0)


def test_sgd_clips_the_global_gradient_norm():
    optimizer = optimizers.build_optimizer(1.0, 0.25, name="sgd")
    assert type(optimizer) is keras.optimizers.SGD
    a, b = keras.Variable(np.zeros(2, "float32")), keras.Variable(np.zeros(2, "float32"))
    optimizer.apply_gradients([(tf.constant([3.0, 0.0]), a), (tf.constant([0.0, 4.0]), b)])
    # Global norm 5 scaled to 0.25 (each variable alone would have kept its own norm 0.25).
    np.testing.assert_allclose(a.numpy(), [-0.15, 0.0], atol=1e-6)
    np.testing.assert_allclose(b.numpy(), [0.0, -0.2], atol=1e-6)
    with pytest.raises(RnnlmError, match="optimizer"):
        TrainConfig(optimizer="rmsprop").validate()


def test_learning_rate_schedules():
    warm = schedule.LearningRate(1.0, "none", 4, total_steps=100, time_limit=None, started=0)
    assert [warm.value(s) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    cosine = schedule.LearningRate(1.0, "cosine", 0, total_steps=100, time_limit=None, started=0)
    assert cosine.value(0) == 1.0 and abs(cosine.value(50) - 0.5) < 1e-9 and cosine.value(100) < 1e-9
    wsd = schedule.LearningRate(1.0, "wsd", 0, total_steps=100, time_limit=None, started=0)
    assert [wsd.value(s) for s in (0, 50, 80)] == pytest.approx([1.0, 1.0, 1.0])
    assert abs(wsd.value(90) - 0.5) < 1e-9 and wsd.value(100) == 0.0
    # With a time limit, the elapsed share of the budget drives the decay as well.
    timed = schedule.LearningRate(1.0, "wsd", 0, total_steps=10**9, time_limit=100.0,
                                  started=time.perf_counter() - 95.0)
    assert 0.2 < timed.value(0) < 0.26
    # A run until its time limit plans no number of steps: the clock alone drives it.
    until = schedule.LearningRate(1.0, "cosine", 0, total_steps=math.inf, time_limit=100.0,
                                  started=time.perf_counter() - 50.0)
    assert 0.45 < until.value(10**6) < 0.5
    plateau = schedule.LearningRate(1.0, "plateau", 0, 100, None, 0)
    for val in (3.0, 2.0, 2.5):
        plateau.on_epoch_end(0, {"val_loss": val})
    assert plateau.value(10) == 0.25
    # --resume replays the run's history: the same scale and best loss, not the full rate
    resumed = schedule.LearningRate(1.0, "plateau", 0, 100, None, 0)
    resumed.replay_plateau([{"epoch": k + 1, "val_loss": v} for k, v in enumerate((3.0, 2.0, 2.5))])
    assert resumed.value(10) == 0.25 and resumed.best == 2.0


def test_early_stopping_after_patience_epochs():
    stop = schedule.EarlyStop(patience=2)
    stop.set_model(tiny_model())
    for val in (3.0, 2.0, 2.1, 2.05):
        stop.on_epoch_end(0, {"val_loss": val})
    assert stop.stopped and stop.model.stop_training
    # --resume: the epochs already without improvement count towards the patience
    resumed = schedule.EarlyStop(patience=2)
    resumed.set_model(tiny_model())
    resumed.replay([{"epoch": 1, "val_loss": 3.0}, {"epoch": 2, "val_loss": 2.0},
                    {"epoch": 3, "val_loss": 2.1}])
    assert resumed.best == 2.0 and resumed.bad_epochs == 1 and not resumed.stopped
    resumed.on_epoch_end(3, {"val_loss": 2.05})
    assert resumed.stopped
    # a resume of a run early stopping had ended: its "not improved for N epochs" line counts
    # all of them, 3 here (it said the patience, 2)
    again = schedule.EarlyStop(patience=2)
    again.set_model(tiny_model())
    again.replay([{"epoch": k + 1, "val_loss": v} for k, v in enumerate((3.0, 2.0, 2.1, 2.05))])
    again.on_epoch_end(4, {"val_loss": 2.2})
    assert again.stopped and again.bad_epochs == 3


def test_averaged_weights_swaps_in_the_moving_average_and_always_back():
    model = tiny_model()
    model.compile(optimizer=optimizers.build_optimizer(1e-2, 5.0, ema=0.5),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = ids_batch()
    for _ in range(3):  # (fit would end by copying the average into the model)
        model.train_on_batch(x, x)
    trained = [v.numpy() for v in model.trainable_variables]
    averages = [v.numpy() for v in model.optimizer._model_variables_moving_average]
    assert any(not np.allclose(a, b) for a, b in zip(trained, averages))
    with pytest.raises(ZeroDivisionError):
        with optimizers.averaged_weights(model) as averaged:
            assert averaged
            for variable, average in zip(model.trainable_variables, averages):
                np.testing.assert_array_equal(variable.numpy(), average)
            1 / 0
    for variable, value in zip(model.trainable_variables, trained):
        np.testing.assert_array_equal(variable.numpy(), value)
    plain = tiny_model()
    plain.compile(optimizer=optimizers.build_optimizer(1e-2, 5.0), loss="mse")
    with optimizers.averaged_weights(plain) as averaged:
        assert not averaged


def test_ema_run_keeps_the_average_and_resumes_from_the_trained_weights(tiny_corpus, tmp_path):
    from rnnlm import api

    run = tmp_path / "run"
    options = dict(units=8, embedding_dim=6, seq_len=16, batch_size=4, lr=1e-2)
    rnnlm.train(str(tiny_corpus), run, epochs=1, steps_per_epoch=6, ema=0.5, **options)
    best = rnnlm.load(run).model  # model.weights.h5, the weights the run keeps
    last = rnnlm.load(run).model
    last.load_weights(run / "checkpoints" / "last.weights.h5")
    # The optimizer state saved for --resume holds the moving average: the kept weights are it,
    # the last checkpoint holds the weights being trained.
    optimizer = optimizers.build_optimizer(1e-2, 5.0, ema=0.5)
    optimizers.load_optimizer(optimizer, last, run / "checkpoints" / "last.optimizer.npz")
    averages = [v.numpy() for v in optimizer._model_variables_moving_average]
    for variable, average in zip(best.trainable_variables, averages):
        np.testing.assert_allclose(variable.numpy(), average)
    assert any(not np.allclose(a.numpy(), b.numpy())
               for a, b in zip(best.trainable_variables, last.trainable_variables))
    resumed = api.resume(run, epochs=1)
    assert resumed.info()["epochs_done"] == 2
    with pytest.raises(RnnlmError, match="--ema"):
        api.resume(run, epochs=1, ema=0.0)
    with pytest.raises(RnnlmError, match="ema"):
        TrainConfig(ema=1.0).validate()


def test_config_validates_the_new_options():
    with pytest.raises(RnnlmError):
        TrainConfig(lr_schedule="linear").validate()
    with pytest.raises(RnnlmError):
        ModelConfig(embedding_dropout=1.0).validate()


# ----------------------------------------------------------------------------- precision
@pytest.mark.parametrize("tie", [False, True])
def test_mixed_precision_keeps_logits_and_loss_float32(tie):
    """rnnlm's own mixed precision (bfloat16 matmuls while training) is tested in
    test_precision.py; a Keras mixed policy set by the user's program does not reach the
    model at all: its layers stay float32, and so do its logits and the loss."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = tiny_model(tie_weights=tie)
        x = ids_batch()
        logits = model(x, training=True)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(x, logits)
        assert model.backbone.rnn_layers[0].compute_dtype == "float32"
        assert logits.dtype == tf.float32 and loss.dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


# ----------------------------------------------------------------------------- CLI
def test_cli_trains_with_every_lever(tiny_corpus, tmp_path):
    from rnnlm.cli import app

    run = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train", str(tiny_corpus), "--out", str(run), "--units", "16", "--embedding-dim", "8",
        "--seq-len", "16", "--batch-size", "4", "--epochs", "2", "--stateful", "--tie-weights",
        "--locked-dropout", "--dropout", "0.1", "--embedding-dropout", "0.1",
        "--weight-decay", "0.01", "--lr-schedule", "cosine", "--warmup-steps", "2",
        "--early-stopping", "3", "--weight-drop", "0.2"])
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["stateful"] and config["model"]["tie_weights"]
    assert config["model"]["weight_drop"] == 0.2
    history = json.loads((run / "history.json").read_text())["epochs"]
    assert len(history) == 2 and history[-1]["lr"] < 2e-3
    info = CliRunner().invoke(app, ["info", str(run)]).output  # every lever, locked dropout too
    assert ("dropout 0.1, embedding dropout 0.1, weight drop 0.2, one dropout mask per sequence "
            "(locked), output tied to the embedding") in info, info


def test_a_whole_epoch_is_saved_only_with_its_last_checkpoint(tmp_path, monkeypatch):
    """--force's earlier run goes when the new run's epoch is whole: with --ema the last
    checkpoint is written after the epoch's other files, by a separate save_last."""
    from rnnlm import checkpoints

    saved = []
    monkeypatch.setattr(checkpoints, "weights_bytes", lambda model: b"weights")
    monkeypatch.setattr(checkpoints.RunWriter, "_stage_epoch", lambda self, commit, model, record,
                        weights: commit.add("history.json", b"{}"))
    monkeypatch.setattr(checkpoints.RunWriter, "_stage_last", lambda self, commit, weights:
                        commit.add("checkpoints/last.weights.h5", weights))
    monkeypatch.setattr(checkpoints.RunWriter, "plot", lambda self: None)
    writer = checkpoints.RunWriter(tmp_path, epoch_saved=lambda: saved.append(True))
    writer.end_epoch(None, {}, save_last=False)  # averaged weights kept; last still to write
    assert saved == []
    writer.save_last(None)
    assert saved == [True]
    writer.end_epoch(None, {}, save_last=True)
    writer.save_last(None)  # Ctrl-C's save after a whole epoch completes nothing more
    assert saved == [True, True]


def test_the_time_limit_keeps_back_the_first_validation_before_it_has_run(monkeypatch):
    """Until a validation has been timed, its time is estimated from the training pace (a
    window as a training step): a 20 MB corpus's first validation once ran five minutes past
    a 30-second --time-limit."""
    clock = {"now": 0.0}
    monkeypatch.setattr(schedule.time, "perf_counter", lambda: clock["now"])

    class Model:
        stop_training = False

    def run(limit, step_ends):
        limit.set_model(Model())
        for t in step_ends:
            clock["now"] = t
            limit.on_train_batch_end(0)
            if limit.model.stop_training:
                return t
    steps = [5.0 + i for i in range(200)]  # the first step traces (5 s), then 1 s a step
    assert run(schedule.TimeLimit(100.0, 0.0, validation_windows=30), steps) == 70.0
    assert run(schedule.TimeLimit(100.0, 0.0), steps) == 100.0  # no validation text
    limit = schedule.TimeLimit(100.0, 0.0, validation_windows=30)
    limit.validated(2.0)  # once one has run, its own time counts
    assert run(limit, steps) == 98.0
    said = []  # a validation longer than the whole budget: said once, at the first estimate
    assert run(schedule.TimeLimit(100.0, 0.0, validation_windows=300, too_long=said.append),
               steps) == 6.0
    assert said == [300.0]


def test_a_stateful_resume_goes_on_where_the_streams_stopped(tmp_path, monkeypatch):
    """A run cut mid-pass (here by --steps-per-epoch; --time-limit alike) resumes at the next
    window of its streams, not at window 0, and the states reset where a pass begins."""
    import rnnlm
    from tests.conftest import TINY_TEXT

    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    run = tmp_path / "run"
    options = dict(units=8, embedding_dim=4, seq_len=4, batch_size=2, stateful=True)
    rnnlm.train(str(corpus), out=run, epochs=1, steps_per_epoch=7, **options)
    first = []
    real = data.stream_dataset

    def spied(ids, seq_len, batch_size):  # the first window each fit trains on
        windows = list(real(ids, seq_len, batch_size))
        first.append(windows)
        return real(ids, seq_len, batch_size)
    monkeypatch.setattr(data, "stream_dataset", spied)
    starts = []
    real_reset = training.ResetCarried.__init__
    monkeypatch.setattr(training.ResetCarried, "__init__",
                        lambda self, per_pass, window: starts.append((per_pass, window)) or
                        real_reset(self, per_pass, window))
    rnnlm.resume(run, epochs=1, steps_per_epoch=7)
    assert starts == [(len(first[0]), 7)]  # the 8th window: 7 were trained before
    resets = training.ResetCarried(6, 2)
    resets.set_model(type("M", (), {"carried": type("C", (), {"reset": lambda s: hits.append(1)})()})())
    hits = []
    for _ in range(8):
        resets.on_train_batch_begin(0)
    assert len(hits) == 1  # windows 2..9 of 6 a pass: one pass start, at window 6


def test_an_epoch_s_last_progress_line_has_no_rate_or_time_to_go(monkeypatch):
    """It is drawn after validation, whose time would count as the last batches'."""
    import io

    buffer = io.StringIO()
    real = training.tqdm
    monkeypatch.setattr(training, "tqdm", lambda **options: real(file=buffer, **options))
    bar = training.ProgressBar(10, 2)
    bar.on_epoch_begin(0)
    for batch in range(4):
        bar.on_train_batch_end(batch, {"loss": 1.0})
    bar.on_epoch_end(0, {"loss": 1.0, "val_loss": 2.0, "val_bpc": 3.0})
    last = buffer.getvalue().split("\r")[-1]
    assert "4/10 [00:00, loss=1.0000" in last and "val_bpc=3.000" in last
    assert "<" not in last and "batch/s" not in last and "s/batch" not in last
    # a classifier's: its accuracy and validation figures (it showed the loss alone)
    buffer.seek(0)
    buffer.truncate()
    bar.on_epoch_begin(1)
    bar.on_train_batch_end(0, {"loss": 0.5})
    bar.on_epoch_end(1, {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.6, "val_accuracy": 0.7})
    last = buffer.getvalue().split("\r")[-1]
    assert "loss=0.5000, accuracy=0.7500, val_loss=0.6000, val_accuracy=0.7000]" in last, last
    # without validation: the epoch's loss, where the bar ended on its last tenth batch's
    buffer.seek(0)
    buffer.truncate()
    bar.on_epoch_begin(1)
    bar.on_train_batch_end(0, {"loss": 4.0582})
    bar.on_epoch_end(1, {"loss": 3.9609})
    last = buffer.getvalue().split("\r")[-1]
    assert last.rstrip().endswith("[00:00, loss=3.9609]"), last
