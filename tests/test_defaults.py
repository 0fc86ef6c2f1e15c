"""Model size chosen from the corpus size when the user gives none (issue 6)."""
import json

import keras
import pytest

import rnnlm
from rnnlm import defaults
from rnnlm.config import TrainConfig
from rnnlm.errors import RnnlmError


@pytest.mark.parametrize("cell,layer", [("lstm", keras.layers.LSTM), ("gru", keras.layers.GRU),
                                        ("simple_rnn", keras.layers.SimpleRNN)])
def test_recurrent_parameters_match_keras(cell, layer):
    model = keras.Sequential([keras.Input((None, 7)), layer(12, return_sequences=True), layer(12)])
    assert defaults.recurrent_parameters(cell, 2, 12, 7) == model.count_params()


@pytest.mark.parametrize("tokens,expected", [
    (1_000, (1, 128)),            # smaller than every entry: the smallest
    (300_000, (1, 256)),          # 1 × 256: 328,704 parameters
    (1_003_854, (1, 512)),        # tiny-shakespeare's training split: the config
    (2_500_000, (2, 512)),
    (50_000_000, (2, 1024)),
])
def test_char_models_grow_with_the_corpus(tokens, expected):
    choice = defaults.choose_model(tokens, "char")
    assert (choice.num_layers, choice.units) == expected
    assert choice.embedding_dim == 64 and not choice.tie_weights
    assert choice.parameters <= 1.5 * tokens or expected == defaults.LADDER[0]


def test_word_models_tie_an_embedding_as_wide_as_the_layers():
    choice = defaults.choose_model(887_521, "word")  # PTB's training words
    assert choice.tie_weights and choice.embedding_dim == choice.units
    assert choice.parameters <= 1.5 * 887_521


def test_a_given_embedding_width_is_counted_in_the_size_for_the_corpus():
    """1 × 512 under a 512-wide embedding has 2.1M recurrent parameters, over 1.5 per token of
    tiny-shakespeare: the rule takes 1 × 256, and the line counts the parameters it trains."""
    choice = defaults.choose_model(1_003_854, "char", "lstm", embedding_dim=512)
    assert (choice.units, choice.embedding_dim, choice.parameters) == (256, 512, 787_456)
    given = dict(num_layers=None, units=None, embedding_dim=512, dropout=None, tie_weights=None)
    options, message = defaults.fill_model_options(1_003_854, "char", "lstm", given)
    assert (options["units"], options["embedding_dim"]) == (256, 512)
    assert "(787,456 recurrent parameters;" in message
    assert defaults.smaller_model(choice, "char", "lstm", 512).parameters == 4 * 128 * (512 + 129)


def test_given_options_win_and_fill_their_dependants():
    given = dict(num_layers=2, units=200, embedding_dim=None, dropout=0.1, tie_weights=None)
    options, message = defaults.fill_model_options(10_000_000, "word", "lstm", given)
    assert message is None  # the user chose the size
    assert options == dict(num_layers=2, units=200, embedding_dim=200, dropout=0.1,
                           tie_weights=True)
    empty = dict.fromkeys(given)
    options, message = defaults.fill_model_options(1_003_854, "char", "lstm", empty)
    assert (options["num_layers"], options["units"], options["embedding_dim"]) == (1, 512, 64)
    assert "1,003,854 training tokens" in message and "1 × lstm 512" in message
    assert "overfit" not in message
    # Below the smallest size's 1.5 parameters per token the line says the corpus is small for it.
    options, message = defaults.fill_model_options(5_000, "char", "lstm", empty)
    assert options["units"] == 128 and "the smallest size" in message and "overfit" in message


def test_train_with_no_model_options_prints_and_records_its_choice(tiny_corpus, tmp_path, capsys):
    run = tmp_path / "run"
    rnnlm.train(str(tiny_corpus), run, seq_len=16, batch_size=4, quiet=False,
                epochs=defaults.LONG_RUN_PASSES)
    printed = capsys.readouterr().out
    assert "auto-sized for" in printed and "1 × lstm 128" in printed
    model = json.loads((run / "config.json").read_text())["model"]
    assert (model["num_layers"], model["units"], model["embedding_dim"]) == (1, 128, 64)
    assert model["dropout"] == defaults.DROPOUT["char"]
    assert model["weight_drop"] == 0.15  # the char recipe's, on a CPU, in a long run
    train = json.loads((run / "config.json").read_text())["train"]
    assert (train["optimizer"], train["lr_schedule"], train["stateful"]) == ("adam", "wsd", False)
    assert ("char recipe: adam, lr 0.003, clipnorm 5, wsd schedule, shuffled windows, random "
            "offsets, per-step dropout, weight drop 0.15 if the run makes ≥ 8 passes" in printed)
    assert train["random_offsets"] is True
    assert "weight drop 0.15: 8.0 passes over the data (≥ 8)" in printed


def test_word_and_subword_models_default_to_the_sgd_recipe_and_given_options_win():
    empty = dict.fromkeys(["optimizer", "lr", "clipnorm", "lr_schedule", "stateful",
                           "random_offsets", "locked_dropout", "weight_drop", "batch_size",
                           "seq_len", "precision"])
    assert defaults.fill_training_options("word", empty) == dict(
        optimizer="sgd", lr=20.0, clipnorm=0.25, lr_schedule="cosine", stateful=True,
        random_offsets=False, locked_dropout=True, weight_drop=0.0, batch_size=20, seq_len=35,
        precision="auto")
    char = defaults.fill_training_options("char", empty)
    assert (char["precision"], char["stateful"], char["random_offsets"]) == ("auto", False, True)
    # Stateful streams have no window grid: a char model given --stateful drops the offsets.
    streams = defaults.fill_training_options("char", {**empty, "stateful": True})
    assert (streams["stateful"], streams["random_offsets"]) == (True, False)
    subword = defaults.fill_training_options("sentencepiece", empty)
    assert subword["precision"] == "auto"
    assert (subword["optimizer"], subword["lr"], subword["batch_size"]) == ("sgd", 20.0, 32)
    adam = defaults.fill_training_options("word", {**empty, "optimizer": "adam"})
    assert (adam["lr"], adam["clipnorm"]) == (3e-3, 5.0)  # Adam's own lr, not SGD's 20
    given = defaults.fill_training_options("char", {**empty, "lr": 0.01, "stateful": False})
    assert given["lr"] == 0.01 and given["stateful"] is False
    assert defaults.describe_recipe("char", given, {"lr": 0.01, "stateful": False}) == (
        "char recipe: adam, clipnorm 5, wsd schedule, random offsets, per-step dropout, weight "
        "drop 0.15 if the run makes ≥ 8 passes, "
        "batch 32, seq-len 100 (options you give win)")


def test_the_char_recipe_keeps_weight_drop_for_runs_of_enough_passes(tiny_corpus, tmp_path,
                                                                     capsys):
    assert defaults.long_run(8) and defaults.long_run(15.2)
    assert not defaults.long_run(7.9)
    run = tmp_path / "short"
    rnnlm.train(str(tiny_corpus), run, seq_len=16, batch_size=4, epochs=1, quiet=False)
    assert json.loads((run / "config.json").read_text())["model"]["weight_drop"] == 0.0
    printed = capsys.readouterr().out
    assert "weight drop 0.15 if the run makes ≥ 8 passes" in printed
    assert "no weight drop: 1.0 passes over the data (it pays off from 8)" in printed
    given = tmp_path / "given"  # asked for, a short run keeps it
    rnnlm.train(str(tiny_corpus), given, seq_len=16, batch_size=4, epochs=1, weight_drop=0.2)
    assert json.loads((given / "config.json").read_text())["model"]["weight_drop"] == 0.2
    # Passes, not epochs: eight epochs of one step each are a fraction of one pass.
    partial = tmp_path / "partial"
    rnnlm.train(str(tiny_corpus), partial, seq_len=16, batch_size=4,
                epochs=defaults.LONG_RUN_PASSES, steps_per_epoch=1)
    assert json.loads((partial / "config.json").read_text())["model"]["weight_drop"] == 0.0


def test_the_char_recipe_drops_weight_drop_where_it_cannot_run(tiny_corpus, tmp_path):
    run = tmp_path / "gru"
    rnnlm.train(str(tiny_corpus), run, cell="gru", units=16, embedding_dim=8, seq_len=16,
                batch_size=4, epochs=defaults.LONG_RUN_PASSES)
    assert json.loads((run / "config.json").read_text())["model"]["weight_drop"] == 0.0
    with pytest.raises(RnnlmError, match="weight_drop"):  # asked for, it is refused
        rnnlm.train(str(tiny_corpus), tmp_path / "gru2", cell="gru", weight_drop=0.2)


def test_recipe_weight_drop_is_for_the_cpu_lstm():
    assert defaults.recipe_weight_drop("char", "lstm", False) == \
        defaults.RECIPES["char"]["weight_drop"] > 0
    assert defaults.recipe_weight_drop("char", "lstm", True) == 0.0  # cuDNN on a GPU
    assert defaults.recipe_weight_drop("char", "gru", False) == 0.0
    assert defaults.recipe_weight_drop("word", "lstm", False) == 0.0  # not in its recipe


# ------------------------------------------------------------------ a wider model for long runs
def test_long_char_lstm_runs_on_a_cpu_get_the_wider_regularised_model():
    base = defaults.choose_model(1_003_854, "char")  # tiny-shakespeare: 1 × 512
    wider = defaults.wider_for_long_runs(base, "char", "lstm", False, 1_003_854)
    assert (wider.num_layers, wider.units, wider.embedding_dim) == (1, 768, 64)
    assert (wider.dropout, wider.weight_drop) == (0.35, 0.2)
    assert wider.parameters == defaults.recurrent_parameters("lstm", 1, 768, 64)
    # Weight drop is what lets the wider model win: none without it, and none where the wider
    # model would have more than 3 recurrent parameters per training token.
    assert defaults.wider_for_long_runs(base, "char", "gru", False, 1_003_854) is None
    assert defaults.wider_for_long_runs(base, "char", "lstm", True, 1_003_854) is None
    word = defaults.choose_model(887_521, "word")
    assert defaults.wider_for_long_runs(word, "word", "lstm", False, 887_521) is None
    assert defaults.wider_for_long_runs(base, "char", "lstm", False, 800_000) is None
    assert not defaults.long_enough_for_wider(15.9) and defaults.long_enough_for_wider(16)
    # Its 2.6 parameters per token are within its own rule: the line does not call it the
    # smallest size over 1.5 (as it once did).
    sizes = dict.fromkeys(["num_layers", "units", "embedding_dim", "dropout", "tie_weights"])
    _, message = defaults.fill_model_options(1_003_854, "char", "lstm", sizes, wider)
    assert "1 × lstm 768" in message and "smallest" not in message and "overfit" not in message


@pytest.fixture
def wider_allowed(monkeypatch):
    # The tiny corpus has far fewer tokens than a wider model's parameters: allow it anyway.
    monkeypatch.setitem(defaults.WIDER, "parameters_per_token", 1e9)


def test_a_time_limit_without_epochs_means_until_it_is_spent():
    assert defaults.epochs_for(None, None) == defaults.EPOCHS == 10
    assert defaults.epochs_for(None, 1800.0) is None
    assert defaults.epochs_for(3, 1800.0) == 3  # both given: whichever ends first
    assert defaults.epochs_for(None, None, run_epochs=20) == 20  # --resume: the run's own
    assert defaults.epochs_for(None, None, run_epochs=None) == 10  # it trained until its limit
    assert defaults.epochs_for(None, 60.0, run_epochs=20) is None
    TrainConfig(epochs=None, time_limit=60.0).validate()
    with pytest.raises(RnnlmError, match="never end"):
        TrainConfig(epochs=None).validate()


def small_run(corpus, run, **options):
    return rnnlm.train(str(corpus), run, seq_len=16, batch_size=4, quiet=False, **options)


def recorded_model(run):
    return json.loads((run / "config.json").read_text())["model"]


def test_a_run_of_enough_passes_takes_the_wider_model(tiny_corpus, tmp_path, capsys,
                                                      wider_allowed):
    small_run(tiny_corpus, tmp_path / "long", epochs=defaults.WIDER_PASSES)
    printed = capsys.readouterr().out
    model = recorded_model(tmp_path / "long")
    assert (model["units"], model["dropout"], model["weight_drop"]) == (192, 0.35, 0.2)
    assert ("and 16.0 passes (≥ 16: the wider model): 1 × lstm 192, embedding 64, dropout 0.35, "
            "weight drop 0.2" in printed)
    assert "if the run makes" not in printed  # on from the first step, not decided later
    history = json.loads((tmp_path / "long" / "history.json").read_text())["epochs"]
    assert {row["weight_drop"] for row in history} == {0.2}

    small_run(tiny_corpus, tmp_path / "short", epochs=defaults.WIDER_PASSES - 1)
    printed = capsys.readouterr().out
    assert recorded_model(tmp_path / "short")["units"] == 128
    assert "and 15.0 passes (the wider 1 × 192 pays from 16): 1 × lstm 128" in printed


def test_a_time_limit_counts_the_passes_at_the_wider_models_measured_pace(
        tiny_corpus, tmp_path, capsys, monkeypatch, wider_allowed):
    from rnnlm import pace

    measured = []

    def fake_speed(model, train_cfg, train_ids):
        measured.append(model.config.units)
        return speed

    monkeypatch.setattr(pace, "training_tokens_per_second", fake_speed)
    # Fast: the 100 epochs end the run first, for the base and the wider model alike. Slow:
    # the base makes too few passes in --time-limit for the wider model, which is not measured.
    for name, speed, units, said, sizes in (
            ("fast", 1e9, 192, "100.0 passes (≥ 16: the wider model)", [128, 192]),
            ("slow", 1.0, 128, "passes of 1 × 128 in --time-limit (the wider 1 × 192 pays", [128])):
        measured.clear()
        small_run(tiny_corpus, tmp_path / name, epochs=100, time_limit=2)
        printed = capsys.readouterr().out
        assert recorded_model(tmp_path / name)["units"] == units
        assert said in printed and measured == sizes
    # And with a user's weight drop, the wider model keeps that rate.
    speed = 1e9
    small_run(tiny_corpus, tmp_path / "given", epochs=100, time_limit=2,
              weight_drop=0.1)
    assert recorded_model(tmp_path / "given")["weight_drop"] == 0.1
    assert "weight drop 0.2" not in capsys.readouterr().out
