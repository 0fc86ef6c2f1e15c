"""Sequence classifiers (issue 4): parameter counts, mask-aware pooling, labels through a run,
transfer from a language model, the CLI on text and .npz, and bad input → one line, exit 2."""
import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from rnnlm.cli import app
from rnnlm.errors import RnnlmError
from rnnlm.models.classifier import ClassifierConfig, SequenceClassifier

runner = CliRunner()
TINY = dict(units=8, embedding_dim=4, epochs=1, batch_size=16)


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def mnist_like(cell, units=64, layers=1, bidirectional=False, pooling="last", dense=()):
    config = ClassifierConfig(num_classes=10, input_dim=28, sequence_length=28, cell=cell,
                              num_layers=layers, units=units, bidirectional=bidirectional,
                              pooling=pooling, dense=list(dense))
    return SequenceClassifier(config).build_for_inference()


@pytest.mark.parametrize("cell, bidirectional, units, expected", [
    ("simple_rnn", False, 64, [5952, 650]),
    ("lstm", False, 64, [23808, 650]),
    ("gru", False, 64, [18048, 650]),
    ("simple_rnn", True, 64, [11904, 1290]),
    ("lstm", True, 64, [47616, 1290]),
    ("simple_rnn", False, [64, 64, 32], [5952, 8256, 3104, 330]),
])
def test_parameter_counts_match_keras(cell, bidirectional, units, expected):
    layers = len(units) if isinstance(units, list) else 1
    model = mnist_like(cell, units, layers, bidirectional)
    assert [row["parameters"] for row in model.layer_rows()] == expected
    assert model.count_params() == sum(expected)


def test_flatten_layout_counts():
    # return_sequences → Flatten (28·64) → Dense(32) → Dense(10), as in the classic lessons
    model = mnist_like("simple_rnn", pooling="flatten", dense=[32])
    assert [row["parameters"] for row in model.layer_rows()] == [5952, 28 * 64 * 32 + 32, 330]


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_pooling_ignores_padding(cell, bidirectional):
    # "concat" is [last, mean, max]: one model checks the three mask-aware poolings at once.
    config = ClassifierConfig(num_classes=3, vocabulary_size=20, embedding_dim=4, cell=cell,
                              num_layers=2, units=[6, 5], bidirectional=bidirectional,
                              merge_mode="sum" if cell == "gru" else "concat", pooling="concat")
    model = SequenceClassifier(config).build_for_inference()
    ids = np.array([[3, 4, 5, 6, 7]], "int32")
    padded = np.array([[3, 4, 5, 6, 7, 0, 0, 0]], "int32")
    np.testing.assert_allclose(model.pool(ids).numpy(), model.pool(padded).numpy(), atol=1e-6)
    other = np.array([[3, 4, 5, 6, 8]], "int32")  # and the pooled vector does depend on the ids
    assert not np.allclose(model.pool(ids).numpy(), model.pool(other).numpy())


def write_csv(path, rows, header=("id", "text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(120):
        label = ["pos", "neg", "meh"][i % 3]
        cue = {"pos": "great", "neg": "awful", "meh": "okay"}[label]
        words = list(rng.choice(["the", "film", "was", "a", "plot", "really"], rng.integers(1, 8)))
        rows.append((i, " ".join(words + [cue]), label))
    return write_csv(tmp_path_factory.mktemp("data") / "reviews.csv", rows)


@pytest.fixture(scope="module")
def sequences(tmp_path_factory):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 64) * 5 + 2  # the labels are the ints 2 and 7
    x = (rng.random((64, 6, 5)) * 255).astype("uint8")
    path = tmp_path_factory.mktemp("data") / "seq.npz"
    np.savez(path, x=x, y=y)
    return path


def test_labels_round_trip_and_load_dispatch(reviews, sequences, tmp_path):
    import rnnlm.api
    from rnnlm.classification import Classifier, train_classifier

    clf = train_classifier(reviews, tmp_path / "text", tokenizer="word", cell="simple_rnn",
                           pooling="mean", **TINY)
    loaded = rnnlm.api.load(tmp_path / "text")
    assert isinstance(loaded, Classifier)
    assert loaded.classes == clf.classes == ["meh", "neg", "pos"]
    np.testing.assert_allclose(loaded.predict_proba(["the film was great"]),
                               clf.predict_proba(["the film was great"]), atol=1e-6)
    assert loaded.predict("a plot").label in {"meh", "neg", "pos"}
    for name in ("config.json", "tokenizer.json", "model.weights.h5", "backbone.weights.h5",
                 "history.json", "curves.png", "metrics.json", "confusion.png"):
        assert (tmp_path / "text" / name).exists(), name

    numeric = train_classifier(sequences, tmp_path / "seq", cell="gru", valid_fraction=0.25,
                               **TINY)
    loaded = rnnlm.api.load(tmp_path / "seq")
    assert loaded.classes == [2, 7] and loaded.tokenizer is None
    assert json.loads((tmp_path / "seq" / "config.json").read_text())["classes"] == [2, 7]
    predictions = loaded.predict(np.zeros((3, 6, 5), "float32"))
    assert [type(p.label) for p in predictions] == [int] * 3
    info = loaded.info()
    assert info["kind"] == "classifier" and "layer" in loaded.format_info()
    metrics = numeric.evaluate(sequences)
    assert metrics["examples"] == 64 and set(metrics) >= {"tpr", "tnr", "macro_f1", "ms_per_sample"}


@pytest.fixture(scope="module")
def language_model(reviews, tmp_path_factory):
    import rnnlm.api

    folder = tmp_path_factory.mktemp("lm")
    corpus = folder / "text.txt"
    corpus.write_text("\n".join(row[1] for row in csv.reader(open(reviews))) * 3)
    return rnnlm.api.train(str(corpus), folder / "run", tokenizer="char", units=8,
                           embedding_dim=4, seq_len=16, batch_size=16, epochs=1)


def test_from_lm_copies_backbone_and_rejects_other_tokenizers(reviews, language_model, tmp_path):
    from rnnlm.classification import train_classifier, transfer_from_lm
    from rnnlm.tokenizers import build_tokenizer

    lm_dir = language_model.run_dir
    clf = train_classifier(reviews, tmp_path / "clf", from_lm=lm_dir, epochs=1, freeze_epochs=1,
                           batch_size=16)
    assert clf.tokenizer.config() == language_model.tokenizer.config()
    lm_weights = language_model.model.backbone.get_weights()
    clf_weights = clf.model.backbone.get_weights()
    assert len(lm_weights) == len(clf_weights) == 4  # embedding + LSTM kernel, recurrent, bias
    for a, b in zip(lm_weights, clf_weights):  # frozen for the only epoch: still equal
        np.testing.assert_array_equal(a, b)

    with pytest.raises(RnnlmError, match="tokenizer mismatch"):
        train_classifier(reviews, tmp_path / "bad", from_lm=lm_dir, tokenizer="word")
    other = build_tokenizer("char").train("completely different text")
    with pytest.raises(RnnlmError, match="tokenizer mismatch"):
        transfer_from_lm(clf.model, lm_dir, other)


def test_cli_text_train_eval_predict(reviews, tmp_path):
    run = tmp_path / "run"
    code, output = invoke("classify", "train", reviews, "--out", run, "--tokenizer", "char",
                          "--cell", "simple_rnn", "--units", "8", "--embedding-dim", "4",
                          "--epochs", "1",
                          "--bidirectional", "--pooling", "max", "--dense", "4",
                          "--test", reviews)
    assert code == 0, output
    assert "--- test ---" in output and "macro-F1" in output
    code, output = invoke("classify", "eval", run, reviews, "--json")
    assert code == 0, output
    metrics = json.loads(output)
    assert metrics["examples"] == 120 and len(metrics["confusion"]) == 3
    code, output = invoke("classify", "predict", run, "the plot was great")
    assert code == 0, output
    label, probability = output.strip().split("\t")
    assert label in {"meh", "neg", "pos"} and 0 < float(probability) <= 1
    lines = tmp_path / "lines.txt"
    lines.write_text("great film\nawful\n")
    code, output = invoke("classify", "predict", run, "--file", lines)
    assert code == 0 and len(output.strip().splitlines()) == 2, output


def test_cli_npz_train_and_eval(sequences, tmp_path):
    run = tmp_path / "run"
    code, output = invoke("classify", "train", sequences, "--out", run, "--cell", "simple_rnn",
                          "--units", "8,4", "--layers", "2", "--pooling", "flatten",
                          "--epochs", "1")
    assert code == 0, output
    code, output = invoke("classify", "eval", run, sequences)
    assert code == 0 and "accuracy" in output and "TPR" in output, output
    code, output = invoke("classify", "predict", run, "--file", sequences, "--json")
    assert code == 0 and len(json.loads(output)) == 64, output


@pytest.fixture
def bad_inputs(tmp_path):
    ragged = tmp_path / "ragged.npz"
    np.savez(ragged, x=np.array([np.zeros((3, 2)), np.zeros((4, 2))], dtype=object),
             y=np.array([0, 1]))
    one = write_csv(tmp_path / "one.csv", [(i, f"text {i}", "pos") for i in range(5)])
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    return {"missing column": ([one, "--text-column", "review"], "no column 'review'"),
            "one class": ([one], "only one class"),
            "ragged npz": ([ragged], "ragged"),
            "empty file": ([empty], "empty")}


@pytest.mark.parametrize("case", ["missing column", "one class", "ragged npz", "empty file"])
def test_bad_input_is_one_line_and_exit_2(bad_inputs, tmp_path, case):
    args, message = bad_inputs[case]
    code, output = invoke("classify", "train", *args, "--out", tmp_path / "run", "--epochs", "1")
    assert code == 2, output
    assert output.startswith("error: ") and message in output and len(output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # nothing written


def test_mirror_cards_read(data_mirror):
    from rnnlm.classify_data import read_dataset

    mnist = read_dataset("mnist", "test", data_dir=str(data_mirror))
    assert mnist.x.shape == (10000, 28, 28) and mnist.x.dtype == np.float32
    assert 0.0 <= mnist.x.min() and mnist.x.max() <= 1.0
    nsmc = read_dataset("nsmc", "test", data_dir=str(data_mirror))
    assert len(nsmc) == 50000 and set(nsmc.labels) == {0, 1}
