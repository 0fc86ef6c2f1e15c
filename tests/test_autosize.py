"""Model size chosen from the corpus size when the user gives none (issue 6)."""
import json

import keras
import pytest

import rnnlm
from rnnlm import autosize


@pytest.mark.parametrize("cell,layer", [("lstm", keras.layers.LSTM), ("gru", keras.layers.GRU),
                                        ("simple_rnn", keras.layers.SimpleRNN)])
def test_recurrent_parameters_match_keras(cell, layer):
    model = keras.Sequential([keras.Input((None, 7)), layer(12, return_sequences=True), layer(12)])
    assert autosize.recurrent_parameters(cell, 2, 12, 7) == model.count_params()


@pytest.mark.parametrize("tokens,expected", [
    (1_000, (1, 128)),            # smaller than every entry: the smallest
    (300_000, (1, 256)),          # 1 × 256: 328,704 parameters
    (1_003_854, (1, 512)),        # tiny-shakespeare's training split: the config
    (2_500_000, (2, 512)),
    (50_000_000, (2, 1024)),
])
def test_char_models_grow_with_the_corpus(tokens, expected):
    choice = autosize.choose_model(tokens, "char")
    assert (choice.num_layers, choice.units) == expected
    assert choice.embedding_dim == 64 and not choice.tie_weights
    assert choice.parameters <= 1.5 * tokens or expected == autosize.LADDER[0]


def test_word_models_tie_an_embedding_as_wide_as_the_layers():
    choice = autosize.choose_model(887_521, "word")  # PTB's training words
    assert choice.tie_weights and choice.embedding_dim == choice.units
    assert choice.parameters <= 1.5 * 887_521


def test_given_options_win_and_fill_their_dependants():
    given = dict(num_layers=2, units=200, embedding_dim=None, dropout=0.1, tie_weights=None)
    options, message = autosize.fill_model_options(10_000_000, "word", "lstm", given)
    assert message is None  # the user chose the size
    assert options == dict(num_layers=2, units=200, embedding_dim=200, dropout=0.1,
                           tie_weights=True)
    empty = dict.fromkeys(given)
    options, message = autosize.fill_model_options(1_003_854, "char", "lstm", empty)
    assert (options["num_layers"], options["units"], options["embedding_dim"]) == (1, 512, 64)
    assert "1,003,854 training tokens" in message and "1 × lstm 512" in message


def test_train_with_no_model_options_prints_and_records_its_choice(tiny_corpus, tmp_path, capsys):
    run = tmp_path / "run"
    rnnlm.train(str(tiny_corpus), run, seq_len=16, batch_size=4, epochs=1, quiet=False)
    printed = capsys.readouterr().out
    assert "auto-sized for" in printed and "1 × lstm 128" in printed
    model = json.loads((run / "config.json").read_text())["model"]
    assert (model["num_layers"], model["units"], model["embedding_dim"]) == (1, 128, 64)
    assert model["dropout"] == autosize.DROPOUT
