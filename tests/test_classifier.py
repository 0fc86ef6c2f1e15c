"""Sequence classifiers (issue 4): parameter counts, mask-aware pooling, labels through a run,
transfer from a language model, the CLI on text and .npz, and bad input → one line, exit 2."""
import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rnnlm.classifier import load_classifier
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
    assert [row["parameters"] for row in model.layer_rows() if row["name"] != "pooling"] == expected
    assert model.count_params() == sum(expected)


def test_flatten_layout_counts():
    # return_sequences → Flatten (28·64) → Dense(32) → Dense(10), as in the classic lessons
    model = mnist_like("simple_rnn", pooling="flatten", dense=[32])
    rows = model.layer_rows()
    assert [row["parameters"] for row in rows] == [5952, 0, 28 * 64 * 32 + 32, 330]
    # the Flatten row says where the Dense's 28·64 inputs come from
    assert (rows[1]["type"], rows[1]["output_width"]) == ("Flatten (28 × 64)", 28 * 64)
    concat = mnist_like("lstm", bidirectional=True, pooling="concat").layer_rows()[1]
    assert (concat["type"], concat["output_width"]) == ("Pooling [last, mean, max]", 3 * 128)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_pooling_ignores_padding(cell, bidirectional):
    # "concat" is [last, mean, max]: one model checks the three mask-aware poolings at once.
    config = ClassifierConfig(num_classes=3, vocabulary_size=20, embedding_dim=4, cell=cell,
                              num_layers=2, units=[6, 5], bidirectional=bidirectional,
                              merge_mode="sum" if cell == "gru" else "concat", pooling="concat")
    model = SequenceClassifier(config)
    alone = model.pool(np.array([[3, 4, 5, 6, 7]], "int32")).numpy()
    padded = model.pool(np.array([[3, 4, 5, 6, 7, 0, 0, 0],  # the same, padded on the right
                                  [3, 4, 5, 6, 8, 0, 0, 0]], "int32")).numpy()
    np.testing.assert_allclose(padded[0], alone[0], atol=1e-6)
    assert not np.allclose(padded[0], padded[1])  # and the pooled vector does depend on the ids


def write_csv(path, rows, header=("id", "text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if header is not None:
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
    from rnnlm.classification import train_classifier
    from rnnlm.classifier import Classifier

    clf = train_classifier(reviews, tmp_path / "text", tokenizer="word", cell="simple_rnn",
                           pooling="mean", **TINY)
    loaded = rnnlm.api.load(tmp_path / "text")
    assert isinstance(loaded, Classifier)
    assert loaded.classes == clf.classes == ["meh", "neg", "pos"]
    prediction = loaded.predict("the film was great")
    assert prediction.label in {"meh", "neg", "pos"}
    assert prediction.probability == pytest.approx(float(clf.predict_proba(
        ["the film was great"]).max()), abs=1e-6)
    for name in ("config.json", "tokenizer.json", "model.weights.h5", "backbone.weights.h5",
                 "history.json", "curves.png", "metrics.json", "confusion.png"):
        assert (tmp_path / "text" / name).exists(), name
    copy = clf.save(tmp_path / "copy")
    assert rnnlm.api.load(copy).predict("the film was great") == prediction
    with pytest.raises(RnnlmError, match="not empty"):
        clf.save(tmp_path / "copy")  # holds the first copy now

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
    """A language model run as `rnnlm train` writes it (untrained weights are enough here)."""
    from rnnlm import checkpoints
    from rnnlm.config import ModelConfig, TrainConfig, to_dict
    from rnnlm.models.language_model import LanguageModel
    from rnnlm.tokenizers import build_tokenizer

    run_dir = tmp_path_factory.mktemp("lm")
    tok = build_tokenizer("char").train(reviews.read_text(encoding="utf-8"))
    config = ModelConfig(vocabulary_size=tok.vocabulary_size, units=8, embedding_dim=4)
    model = LanguageModel(config).build_for_inference()
    checkpoints.RunWriter(run_dir).start({"kind": "language_model", "source": {},
                                          "tokenizer": tok.config(), "model": to_dict(config),
                                          "train": to_dict(TrainConfig())}, tok)
    (run_dir / "model.weights.h5").write_bytes(checkpoints.weights_bytes(model))
    (run_dir / "backbone.weights.h5").write_bytes(checkpoints.weights_bytes(model.backbone))
    return model, tok, run_dir


def test_from_lm_copies_backbone_and_rejects_other_tokenizers(reviews, language_model, tmp_path):
    from rnnlm.classification import train_classifier
    from rnnlm.classify_training import transfer_from_lm
    from rnnlm.tokenizers import build_tokenizer

    lm_model, lm_tokenizer, lm_dir = language_model
    clf = train_classifier(reviews, tmp_path / "clf", from_lm=lm_dir, epochs=1, freeze_epochs=1,
                           batch_size=16)
    assert clf.tokenizer.config() == lm_tokenizer.config()
    lm_weights = lm_model.backbone.get_weights()
    clf_weights = clf.model.backbone.get_weights()
    assert len(lm_weights) == len(clf_weights) == 4  # embedding + LSTM kernel, recurrent, bias
    for a, b in zip(lm_weights, clf_weights):  # frozen for the only epoch: still equal
        np.testing.assert_array_equal(a, b)
    from rnnlm.classifier import format_classifier_info

    shown = format_classifier_info(clf.info())  # rnnlm info says where the layers came from
    assert f"from LM      {Path(lm_dir).resolve()} (its embedding" in shown, shown

    with pytest.raises(RnnlmError, match="tokenizer mismatch"):
        train_classifier(reviews, tmp_path / "bad", from_lm=lm_dir, tokenizer="word")
    other = build_tokenizer("char").train("completely different text")
    with pytest.raises(RnnlmError, match="tokenizer mismatch"):
        transfer_from_lm(clf.model, lm_dir, other)


def test_cli_text_train_and_predict(reviews, tmp_path):
    run = tmp_path / "run"
    code, output = invoke("classify", "train", reviews, "--out", run, "--tokenizer", "char",
                          "--cell", "simple_rnn", "--units", "8", "--embedding-dim", "4",
                          "--epochs", "1", "--bidirectional", "--pooling", "max", "--dense", "4",
                          "--embedding-dropout", "0.1", "--locked-dropout", "--test", reviews)
    assert code == 0, output
    assert "--- test ---" in output and "macro-F1" in output and "(120 examples)" in output
    code, output = invoke("info", run)
    assert code == 0 and "input        char tokenizer, vocabulary" in output, output
    assert "embedding dropout 0.1, one dropout mask per sequence" in output and "{" not in output
    code, output = invoke("classify", "predict", run, "the plot was great")
    assert code == 0, output
    label, probability = output.strip().split("\t")
    assert label in {"meh", "neg", "pos"} and 0 < float(probability) <= 1


def test_cli_npz_train_eval_predict(sequences, tmp_path):
    run = tmp_path / "run"
    code, output = invoke("classify", "train", sequences, "--out", run, "--cell", "simple_rnn",
                          "--units", "8,4", "--layers", "2", "--pooling", "flatten",
                          "--epochs", "1")
    assert code == 0, output
    code, output = invoke("classify", "eval", run, sequences, "--json")
    assert code == 0, output
    metrics = json.loads(output)
    assert metrics["examples"] == 64 and metrics["labels"] == [2, 7] and "tpr" in metrics
    code, output = invoke("classify", "predict", run, "--file", sequences)
    assert code == 0 and len(output.strip().splitlines()) == 64, output
    one_line_error(*invoke("classify", "predict", run, "hello"), "reads numeric sequences")
    for text_option in (["--tokenizer", "word"], ["--embedding-dropout", "0.2"],
                        ["--text-column", "x"], ["--vocab-size", "100"]):
        one_line_error(*invoke("classify", "train", sequences, "--out", tmp_path / "text-only",
                               "--epochs", "1", *text_option), "is an option for text")
    assert not (tmp_path / "text-only").exists()
    with pytest.raises(RnnlmError, match="split must be train, valid or test"):
        load_classifier(run).evaluate(sequences, split="banana")
    # An existing classifier run: --force replaces it; there is no --resume to suggest.
    code, output = invoke("classify", "train", sequences, "--out", run, "--epochs", "1")
    assert code == 2 and "--force" in output and "--resume" not in output, output


def test_a_diverging_classifier_stops_and_leaves_nothing_half_made(sequences, tmp_path):
    """As a language model's: an epoch whose loss is not a number is not saved (it was, as the
    best)."""
    run = tmp_path / "run"
    code, output = invoke("classify", "train", sequences, "--out", run, "--lr", "1e38",
                          "--units", "4", "--epochs", "1", "--valid-fraction", "0")
    assert code == 2 and re.search("training diverged in epoch 1: loss is (nan|inf)", output)
    assert "Lower --lr (it is 1e+38)" in output and not run.exists()


def test_a_classifier_diverging_after_a_saved_epoch_keeps_it_with_its_figures(
        sequences, tmp_path, monkeypatch):
    """The kept best epoch gets metrics.json (and `classify info` its validation figures), as
    a run that finished would: without it the kept run had no figures at all."""
    from rnnlm import training
    from rnnlm.classification import train_classifier

    check_finite = training.check_finite

    def diverge_in_epoch_2(record):
        if record["epoch"] == 2:
            raise training.TrainingDiverged("training diverged in epoch 2: loss is nan")
        check_finite(record)

    monkeypatch.setattr(training, "check_finite", diverge_in_epoch_2)
    run = tmp_path / "run"
    with pytest.raises(RnnlmError, match="keeps its last good epoch"):
        train_classifier(sequences, run, units=4, epochs=3)
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"valid"} and 0 <= metrics["valid"]["accuracy"] <= 1
    assert json.loads((run / "state.json").read_text())["best"]["epoch"] == 1


def test_classify_takes_cell_names_as_keras_writes_them(sequences, tmp_path):
    run = tmp_path / "run"
    code, output = invoke("classify", "train", sequences, "--out", run, "--cell", "GRU",
                          "--units", "4", "--epochs", "1")
    assert code == 0, output
    assert json.loads((run / "config.json").read_text())["model"]["cell"] == "gru"


def test_units_per_layer_alone_give_the_layers_and_no_validation_is_said(sequences, tmp_path):
    """README: `--units 64` or `64,64,32` (one per layer), as `rnnlm explain` reads it; a run
    without validation data says it was judged on its training figures (it said nothing)."""
    run = tmp_path / "run"
    code, output = invoke("classify", "train", sequences, "--out", run, "--units", "8,4",
                          "--valid-fraction", "0", "--epochs", "1")
    assert code == 0, output
    assert "(best epoch 1: training loss " in output and "no validation data)" in output, output
    code, output = invoke("info", run)
    assert code == 0 and "× 2 layers, units [8, 4]" in output, output
    assert "best epoch   1 of 1: training loss " in output, output
    one_line_error(*invoke("classify", "train", sequences, "--out", tmp_path / "three",
                           "--units", "8,4", "--layers", "3", "--epochs", "1"),
                   "got 2 unit sizes for 3 layers")


@pytest.fixture
def bad_inputs(tmp_path):
    ragged = tmp_path / "ragged.npz"
    np.savez(ragged, x=np.array([np.zeros((3, 2)), np.zeros((4, 2))], dtype=object),
             y=np.array([0, 1]))
    one = write_csv(tmp_path / "one.csv", [(i, f"text {i}", "pos") for i in range(5)])
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    return {"missing column": ([one, "--text-column", "review"], "column 'review' not in"),
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
    from rnnlm.classify_sequences import as_float, pixel_scale

    mnist = read_dataset("mnist", "test", data_dir=str(data_mirror))
    assert mnist.x.shape == (10000, 28, 28) and mnist.x.dtype == np.uint8  # as stored
    pixels = as_float(mnist.x, pixel_scale(mnist.x))
    assert pixels.dtype == np.float32 and 0.0 <= pixels.min() and pixels.max() <= 1.0
    nsmc = read_dataset("nsmc", "test", data_dir=str(data_mirror))
    assert len(nsmc) == 50000 and set(nsmc.labels) == {0, 1}


def test_readers_folder_tsv_gzip_and_npz_splits(tmp_path):
    import gzip

    from rnnlm.classify_data import read_dataset

    for label, texts in {"pos": ["good", "great"], "neg": ["bad"], "unsup": ["??"]}.items():
        (tmp_path / "imdb" / label).mkdir(parents=True)
        for i, text in enumerate(texts):
            (tmp_path / "imdb" / label / f"{i}_7.txt").write_text(text)
    folder = read_dataset(tmp_path / "imdb")
    assert sorted(zip(folder.labels, folder.texts)) == [("neg", "bad"), ("pos", "good"),
                                                        ("pos", "great")]  # unsup skipped
    tsv = tmp_path / "ratings.tsv.gz"
    tsv.write_bytes(gzip.compress('1\t"quoted" text\t0\n2\t\t1\n'.encode()))
    table = read_dataset(tsv, header=False, text_column="1", label_column=2)
    assert table.texts == ['"quoted" text', ""] and table.labels == [0, 1]
    np.savez(tmp_path / "split.npz", x_train=np.zeros((4, 3, 3), "uint8") + 255,
             y_train=np.array([0, 1, 0, 1.0]), x_test=np.zeros((2, 5)), y_test=np.array([1, 0]))
    train = read_dataset(tmp_path / "split.npz", "train")
    assert train.x.shape == (4, 3, 3) and train.labels == [0, 1, 0, 1]
    assert train.x.dtype == np.uint8  # as stored: as_float divides by the run's input_scale
    assert read_dataset(tmp_path / "split.npz", "test").x.shape == (2, 5, 1)


# --- bad input found by testing: each case one line, exit 2, nothing written ---------------------
@pytest.fixture(scope="module")
def column_run(tmp_path_factory):
    """A text run trained with --text-column document --label-column rating, and its CSV."""
    from rnnlm.classification import train_classifier

    folder = tmp_path_factory.mktemp("columns")
    data = write_csv(folder / "ratings.csv", [(i, ["good film", "bad film"][i % 2], i % 2)
                                              for i in range(40)],
                     header=("id", "document", "rating"))
    clf = train_classifier(data, folder / "run", text_column="document", label_column="rating",
                           tokenizer="word", cell="simple_rnn", **TINY)
    return clf, data


@pytest.fixture(scope="module")
def numeric_run(sequences, tmp_path_factory):
    from rnnlm.classification import train_classifier

    run = tmp_path_factory.mktemp("numeric") / "run"
    train_classifier(sequences, run, cell="simple_rnn", **TINY)
    return run


def one_line_error(code, output, message):
    assert code == 2, output
    assert output.startswith("error: ") and len(output.strip().splitlines()) == 1, output
    assert message in output, output


def test_data_too_small_for_a_validation_split_is_refused_before_writing(tmp_path):
    from rnnlm.classify_data import read_dataset
    from rnnlm.classify_labels import split_validation

    two = write_csv(tmp_path / "two.csv", [("좋다", 1), ("나쁘다", 0)], header=("text", "label"))
    run = tmp_path / "run"
    code, output = invoke("classify", "train", two, "--epochs", "1", "--out", run)
    one_line_error(code, output, "too small for a validation split: 2 examples")
    assert "--valid" in output and "at least 6 examples" in output
    assert not run.exists()  # nothing half-made: a rerun is not "already a run"
    # a stratified split never takes a class's last training example
    train, valid = split_validation(read_dataset(two), 0.9, seed=0)
    assert sorted(train.labels) == [0, 1] and len(valid) == 0


def test_empty_inputs_never_reach_model_predict():
    from rnnlm.classifier import Classifier

    config = ClassifierConfig(num_classes=2, input_dim=2, sequence_length=3, units=4)
    clf = Classifier(SequenceClassifier(config).build_for_inference(), None,
                     {"classes": [0, 1], "model": config.to_dict(), "train": {}})
    with pytest.raises(RnnlmError, match="nothing to evaluate"):
        clf._metrics(np.zeros((0, 3, 2), "float32"), np.zeros(0, "int32"))
    with pytest.raises(RnnlmError, match="nothing to classify"):
        clf._probabilities(np.zeros((0, 3, 2), "float32"), 8)


def test_unreadable_npz_is_one_line_in_train_eval_and_predict(sequences, numeric_run, tmp_path):
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(sequences.read_bytes()[:500])
    damaged = bytearray(sequences.read_bytes())  # the zip directory is intact, x.npy is not
    for i in range(100, 300):
        damaged[i] ^= 0xFF
    (tmp_path / "crc.npz").write_bytes(bytes(damaged))
    not_zip = tmp_path / "text.npz"
    not_zip.write_text("hello")
    for bad in (truncated, tmp_path / "crc.npz", not_zip):
        for args in (["classify", "train", bad, "--out", tmp_path / "run", "--epochs", "1"],
                     ["classify", "eval", numeric_run, bad],
                     ["classify", "predict", numeric_run, "--file", bad]):
            code, output = invoke(*args)
            one_line_error(code, output, f"cannot read {bad} as .npz")
    assert not (tmp_path / "run").exists()


def test_merge_mode_without_bidirectional_is_refused(reviews, tmp_path):
    from rnnlm.classification import train_classifier

    code, output = invoke("classify", "train", reviews, "--merge-mode", "sum", "--out",
                          tmp_path / "run", "--epochs", "1")
    one_line_error(code, output, "merge mode 'sum' needs --bidirectional")
    assert not (tmp_path / "run").exists()
    with pytest.raises(RnnlmError, match="needs --bidirectional"):
        train_classifier(reviews, tmp_path / "api", merge_mode="ave", **TINY)
    assert not (tmp_path / "api").exists()


def test_predict_file_not_found_does_not_say_corpus(column_run, tmp_path):
    clf, _ = column_run
    code, output = invoke("classify", "predict", clf.run_dir, "--file", tmp_path / "nonexist.txt")
    one_line_error(code, output, "file not found")
    assert "corpus" not in output


def test_predict_file_gives_one_line_per_input_line(column_run, tmp_path):
    from rnnlm.classify_data import read_inputs

    clf, _ = column_run
    lines = tmp_path / "lines.txt"
    lines.write_bytes("good film\n\n   \nbad film\r\nfilm\x0cgood\n".encode())
    assert read_inputs(lines, True) == ["good film", "", "   ", "bad film", "film\x0cgood"]
    code, output = invoke("classify", "predict", clf.run_dir, "--file", lines)
    assert code == 0, output
    rows = output.strip("\n").split("\n")
    assert len(rows) == 5
    assert rows[1].split("\t")[0] == str(clf.predict("").label)


def test_evaluate_and_predict_use_the_runs_columns(column_run):
    from rnnlm.classifier import Classifier

    clf, data = column_run
    assert clf.config["source"]["text_column"] == "document"
    assert clf.evaluate(data)["examples"] == 40  # no text_column="document" needed again
    code, output = invoke("classify", "eval", clf.run_dir, data, "--json")
    assert code == 0 and json.loads(output)["examples"] == 40, output
    assert len(clf.read_inputs(data)) == 40
    with pytest.raises(RnnlmError) as error:
        clf.evaluate(data, text_column="review")
    message = str(error.value)
    assert "text column 'review' not in" in message and "(--text-column / text_column=)" in message
    # a run trained on a corpus card reads files with the card's columns
    card_run = Classifier(None, None, {"classes": [0, 1], "source": {"data": "nsmc"}})
    assert card_run.column("text_column") == "document"


def test_classify_train_force_replaces_its_run_from_the_command_line(reviews, tmp_path):
    args = ["classify", "train", reviews, "--out", tmp_path / "run", "--tokenizer", "char",
            "--units", "8", "--embedding-dim", "4", "--epochs", "1"]
    assert invoke(*args)[0] == 0
    one_line_error(*invoke(*args), "use --force")
    code, output = invoke(*args, "--force")
    assert code == 0, output
    run = tmp_path / "run"
    kept = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    for bad, message in ((["--embedding-dim", "0"], "--embedding-dim must be > 0"),
                         (["--lr", "nan"], "lr must be > 0"), (["--lr", "inf"], "lr must be > 0"),
                         (["--clipnorm", "-1"], "clipnorm must be > 0"),
                         (["--seed", "4294967296"], "seed must be in [0, 2**32 - 1]")):
        one_line_error(*invoke(*args, *bad, "--force"), message)
        assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == kept
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # nothing set aside is left over


def test_a_forced_run_that_fails_before_its_first_epoch_gives_the_old_run_back(tmp_path):
    """--force moves the earlier run aside; it comes back when the new one ends without a
    finished epoch (an error deep in Keras, Ctrl-C), and goes once the new one has one."""
    from rnnlm import run_lock

    run = tmp_path / "run"
    run.mkdir()
    (run / "model.weights.h5").write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with run_lock.SetAside(run, replace=True) as earlier:
            assert earlier.holds_earlier_run and list(run.iterdir()) == []  # a new, locked one
            (run / "config.json").write_text("{}")
            raise KeyboardInterrupt
    assert [p.name for p in run.iterdir()] == ["model.weights.h5"]
    assert (run / "model.weights.h5").read_bytes() == b"old"
    with pytest.raises(KeyboardInterrupt):  # interrupted after a saved epoch: the new run stays
        with run_lock.SetAside(run, replace=True) as earlier:
            (run / "model.weights.h5").write_bytes(b"new")
            earlier.release()  # what the RunWriter calls after the epoch is saved
            assert [p.name for p in tmp_path.iterdir()] == ["run"]  # gone at once
            raise KeyboardInterrupt
    assert (run / "model.weights.h5").read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_forced_run_that_cannot_lock_its_new_folder_keeps_the_old_run(tmp_path, monkeypatch):
    """Between moving the earlier run aside and locking the new folder, another command may
    make the folder; the line then says where the earlier run is. Otherwise it goes back."""
    from rnnlm import run_lock
    from rnnlm.errors import RnnlmError

    run = tmp_path / "run"
    run.mkdir()
    (run / "model.weights.h5").write_bytes(b"old")

    def refused(folder):  # no folder made: the file system said no
        raise PermissionError(13, "Permission denied", str(folder))

    monkeypatch.setattr(run_lock, "_lock", refused)
    with pytest.raises(PermissionError):
        run_lock.SetAside(run, replace=True).__enter__()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    assert (run / "model.weights.h5").read_bytes() == b"old"

    def taken(folder):  # another command made it and holds it
        folder.mkdir()
        raise RnnlmError(f"{folder} is being written by another rnnlm command")

    monkeypatch.setattr(run_lock, "_lock", taken)
    with pytest.raises(RnnlmError, match="the run --force was to replace is kept in") as refusal:
        run_lock.SetAside(run, replace=True).__enter__()
    kept = Path(str(refusal.value).rsplit(" ", 1)[1])
    assert (kept / "model.weights.h5").read_bytes() == b"old"


def test_ctrl_c_keeps_a_classifier_only_once_it_has_an_epoch(reviews, tmp_path, monkeypatch):
    """A classifier has no --resume: Ctrl-C in the first epoch leaves no folder behind (nor
    one that would refuse the same command again), and gives back the run --force replaced;
    after a finished epoch the run keeps it, and loads."""
    from rnnlm import classify_training

    run = tmp_path / "run"
    args = ["classify", "train", reviews, "--out", run, "--tokenizer", "char", "--units", "8",
            "--embedding-dim", "4", "--epochs", "3"]
    end_epoch = classify_training.EpochRecord.on_epoch_end

    def interrupted_at_once(self, batch, logs=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(classify_training.EpochRecord, "on_train_batch_end",
                        interrupted_at_once, raising=False)
    code, output = invoke(*args)
    assert code == 130 and output.strip().splitlines()[-1] == (
        "interrupted in the first epoch; the new run was not kept"), output
    assert not run.exists()
    monkeypatch.undo()

    def interrupted_after_the_first(self, epoch, logs=None):
        end_epoch(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(classify_training.EpochRecord, "on_epoch_end", interrupted_after_the_first)
    code, output = invoke(*args)
    assert code == 130 and f"interrupted; {run} keeps its best epoch so far" in output, output
    assert len(json.loads((run / "history.json").read_text())) == 1
    assert load_classifier(run).predict(["a great film"])[0][0] in {"pos", "neg", "meh"}
    kept = (run / "model.weights.h5").read_bytes()
    monkeypatch.undo()
    monkeypatch.setattr(classify_training.EpochRecord, "on_train_batch_end",
                        interrupted_at_once, raising=False)
    code, output = invoke(*args, "--force")
    assert code == 130 and f"the earlier run in {run} is kept as it was" in output, output
    assert (run / "model.weights.h5").read_bytes() == kept


@pytest.mark.parametrize("tokenizer, option, message", [
    ("char", ["--vocab-size", "123"], "--vocab-size is not an option of the char tokenizer"),
    ("char", ["--min-freq", "2"], "--min-freq is not an option of the char tokenizer"),
    ("sentencepiece", ["--max-vocab", "10"], "--max-vocab is not an option of the sentencepiece"),
    ("char", ["--valid-fraction", "0.5", "--valid", "VALID"], "drop --valid-fraction")])
def test_options_that_would_do_nothing_are_refused(reviews, tmp_path, tokenizer, option, message):
    option = [str(reviews) if o == "VALID" else o for o in option]
    code, output = invoke("classify", "train", reviews, "--out", tmp_path / "run",
                          "--tokenizer", tokenizer, *option, "--epochs", "1")
    one_line_error(code, output, message)
    assert not (tmp_path / "run").exists()


def test_eval_and_predict_read_a_file_as_the_run_was_trained(reviews, tmp_path):
    """A run trained with --no-header reads its files without one; a text column given to
    predict reads any file as a table (NSMC's tab-separated .txt)."""
    rows = [line.split(",", 2)[1:] for line in reviews.read_text().splitlines()[1:]]
    bare = write_csv(tmp_path / "bare.csv", [(text, label) for text, label in rows], header=None)
    run = tmp_path / "run"
    assert invoke("classify", "train", bare, "--no-header", "--text-column", "0",
                  "--label-column", "1", "--out", run, "--tokenizer", "char", "--units", "8",
                  "--embedding-dim", "4", "--epochs", "1")[0] == 0
    code, output = invoke("classify", "eval", run, bare, "--json")
    assert code == 0 and json.loads(output)["examples"] == len(rows), output
    code, output = invoke("classify", "predict", run, "--file", bare)
    assert code == 0 and len(output.strip().splitlines()) == len(rows), output
    tsv = tmp_path / "table.txt"
    tsv.write_text("id\tdocument\n" + "".join(f"{i}\t{text}\n" for i, (text, _) in
                                              enumerate(rows)), encoding="utf-8")
    code, output = invoke("classify", "predict", run, "--file", tsv, "--text-column", "document")
    assert code == 0 and len(output.strip().splitlines()) == len(rows), output
    code, output = invoke("classify", "predict", run, "--file", tsv, "--text-column", "nothing")
    assert code == 2 and "nothing" in output, output


def test_eval_and_predict_read_a_file_in_the_run_s_encoding(tmp_path):
    """A classifier trained on a cp949 file reads its eval and predict files as cp949 unless
    told otherwise, as the language model's eval does (they were read as UTF-8 and refused)."""
    rows = [("정말 좋은 영화", "pos"), ("지루하고 별로", "neg")] * 20
    data = tmp_path / "ko.csv"
    with open(data, "w", encoding="cp949", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *rows])
    run = tmp_path / "run"
    code, output = invoke("classify", "train", data, "--encoding", "cp949", "--out", run,
                          "--tokenizer", "char", "--units", "4", "--epochs", "1",
                          "--valid-fraction", "0")
    assert code == 0, output
    code, output = invoke("classify", "eval", run, data, "--json")
    assert code == 0 and json.loads(output)["examples"] == len(rows), output
    code, output = invoke("classify", "predict", run, "--file", data)
    assert code == 0 and len(output.strip().splitlines()) == len(rows), output
    code, output = invoke("classify", "eval", run, data, "--encoding", "utf-8")
    assert code == 2, output


def test_whole_numbers_written_as_floats_are_the_same_label(tmp_path):
    from rnnlm.classify_data import read_dataset
    from rnnlm.classify_labels import label_list

    rows = [("good", "1"), ("bad", "5"), ("fine", "1.0"), ("awful", "5.0"), ("odd", "0.5")]
    labels = read_dataset(write_csv(tmp_path / "l.csv", rows, header=("text", "label"))).labels
    assert labels == [1, 5, 1, 5, "0.5"] and label_list(labels[:4]) == [1, 5]


def test_korean_labels_never_draw_as_missing_glyphs(tmp_path):
    """matplotlib's default font has no Hangul: a CJK font is used when one is installed, and
    class ids otherwise, never empty boxes (which come with one warning per glyph)."""
    import warnings

    from rnnlm.classify_metrics import _font_with, plot_confusion

    metrics = {"confusion": [[3, 1], [0, 4]], "labels": ["긍정", "부정"], "accuracy": 0.875}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_confusion(metrics, tmp_path / "confusion.png")
    assert not [w for w in caught if "missing from" in str(w.message)]
    assert (tmp_path / "confusion.png").stat().st_size > 1000
    assert _font_with(["pos", "neg"]) is None  # Latin labels keep the default font
    # matplotlib ships "Last Resort High-Efficiency", which maps every character to a box:
    # it counts as no font (it was chosen, and the labels drawn as boxes, without a warning)
    font = _font_with(["긍정", "부정"])
    assert font is False or "last resort" not in font.lower(), font


@pytest.mark.parametrize("kind", ["char", "word"])
def test_korean_typed_as_jamo_reads_as_its_syllables(kind):
    """The same review in NFC (syllables) and NFD (jamo, e.g. pasted from a macOS file name)
    gets the same ids, so the same label; before, the jamo were all <unk>."""
    import unicodedata

    from rnnlm.classify_batches import encode_texts
    from rnnlm.tokenizers import UNK_ID, build_tokenizer

    tok = build_tokenizer(kind)
    tok.train("정말 재미있는 영화 였다\n너무 지루한 영화 였다\n")
    nfc = "정말 지루한 영화"
    (syllables,), (jamo,) = (encode_texts(tok, [t], 64) for t in
                             (nfc, unicodedata.normalize("NFD", nfc)))
    assert UNK_ID not in syllables
    assert syllables.tolist() == jamo.tolist()


def test_the_positive_label_and_korean_labels_in_the_tables():
    import numpy as np

    from rnnlm.classify_metrics import _display_width, classification_metrics, format_metrics

    y = np.array([0, 0, 0, 1, 1])
    probs = np.array([[.9, .1], [.8, .2], [.3, .7], [.4, .6], [.9, .1]])
    for classes, positive in ((["긍정", "부정"], "긍정"), ([0, 1], 1), ([1, 2], 2), ([-1, 1], 1),
                              (["neg", "pos"], "pos"), (["bad", "no"], "bad"), (["a", "b"], "b")):
        m = classification_metrics(y, probs, classes)
        i = classes.index(positive)
        assert m["positive_label"] == positive
        assert m["tpr"] == m["per_class"][i]["recall"] and m["tnr"] == m["per_class"][1 - i]["recall"]
    table = format_metrics(classification_metrics(y, probs, ["긍정", "부정"])).splitlines()
    rows = table[table.index("") + 1:table.index("", table.index("") + 1)]  # label table
    confusion = table[table.index("confusion (rows: true, columns: predicted)") + 1:]
    for block in (rows, confusion):
        assert len({_display_width(line) for line in block}) == 1, block
    import unicodedata
    assert _display_width(unicodedata.normalize("NFD", "긍정")) == 4 == _display_width("긍정")
    assert _display_width("café") == 4 == _display_width(unicodedata.normalize("NFD", "café"))


def test_valid_and_test_files_of_a_card_run_are_read_with_its_columns(tmp_path):
    from rnnlm.classify_data import read_like_a_card

    read = {"text_column": None, "label_column": None, "header": True, "encoding": "utf-8"}
    nsmc_like = tmp_path / "nsmc_like.txt"  # NSMC's own format: id, document, label
    nsmc_like.write_text("id\tdocument\tlabel\n1\t재밌다\t1\n2\t별로\t0\n", encoding="utf-8")
    own = tmp_path / "own.tsv"  # the user's own, with the default names
    own.write_text("text\tlabel\nok\t1\nbad\t0\n", encoding="utf-8")
    assert read_like_a_card(nsmc_like, "test", "nsmc", read).texts == ["재밌다", "별로"]
    assert read_like_a_card(own, "test", "nsmc", read).texts == ["ok", "bad"]
    with pytest.raises(RnnlmError, match="text column 'text' not in"):  # not a card run
        read_like_a_card(nsmc_like, "test", None, read)


def test_nsmc_s_own_test_file_as_test(data_mirror, tmp_path):
    head = (data_mirror / "nsmc" / "ratings_test.txt").read_text(encoding="utf-8").split("\n")[:201]
    test = tmp_path / "nsmc_test200.txt"
    test.write_text("\n".join(head) + "\n", encoding="utf-8")
    code, output = invoke("classify", "train", "nsmc", "--data-dir", data_mirror, "--max-train", "300",
                          "--tokenizer", "char", "--units", "8", "--embedding-dim", "4", "--epochs", "1",
                          "--max-len", "40", "--test", test, "--out", tmp_path / "run")
    assert code == 0, output
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["examples"] == 200


def test_a_classifier_keeps_no_last_checkpoint_it_could_not_resume_from(column_run, tmp_path):
    """No --resume for classifiers: no checkpoints/last.weights.h5 (a copy of the weights each
    epoch that nothing read), and a run missing its weights is not told to --resume."""
    import shutil

    clf, _ = column_run
    assert [p.name for p in (clf.run_dir / "checkpoints").iterdir()] == ["best.weights.h5"]
    copy = tmp_path / "run"
    shutil.copytree(clf.run_dir, copy)
    (copy / "model.weights.h5").unlink()
    code, output = invoke("classify", "predict", copy, "good film")
    assert code == 2 and "start it again with --force" in output and "--resume" not in output, output


def test_the_classifier_api_refuses_what_would_fail_inside(column_run, numeric_run):
    from rnnlm.classifier import load_classifier

    clf, _ = column_run
    texts = ["good film", "bad film", "good film", "bad film"]
    for call, message in ((lambda: clf.evaluate((texts, [1, 0])), "4 inputs but 2 labels"),
                          (lambda: clf.evaluate(texts), r"give data as \(inputs, labels\), a "
                                                        r"pair, or a file or corpus name; got a "
                                                        r"list"),
                          (lambda: clf.evaluate((texts,)), r"give data as \(inputs, labels\)"),
                          (lambda: clf.predict(texts, batch_size=0), "batch_size must be > 0"),
                          (lambda: clf.predict(None), "nothing to classify"),
                          (lambda: clf.predict(3), "reads text: give strings"),
                          (lambda: clf.evaluate((texts, [1, 0, 7, 1])),
                           r"labels the model was not trained on: 7 \(known: 0, 1\)")):
        with pytest.raises(RnnlmError, match=message):
            call()
    # labels given as strings are read as a table's are: "1" is class 1 of an integer run
    assert clf.evaluate((texts, ["0", "1", "0", "1"]))["examples"] == 4
    numeric = load_classifier(numeric_run)
    x = np.zeros((3, 6, 5), "float32")
    assert numeric.evaluate((x, ["2", "7", "7"]))["examples"] == 3  # an .npz of strings
    with pytest.raises(RnnlmError, match=r"not trained on: 'seven', 3 \(known: 2, 7\)"):
        numeric.evaluate((x, ["2", "3", "seven"]))


def test_a_numeric_classifier_reads_the_same_pixels_in_any_integer_type(numeric_run, sequences):
    """Trained on uint8 pixels (divided by 255): int64 ones (x.tolist()) and floats already
    divided give the same figures; floats that were not are warned about (they were read as
    they came, and scored as noise)."""
    from rnnlm.classifier import load_classifier
    from rnnlm.errors import RnnlmWarning

    clf = load_classifier(numeric_run)
    assert clf.config["train"]["input_scale"] == 255
    x = np.load(sequences)["x"][:16]
    expected = clf.predict_proba(x)
    for same in (x.tolist(), x.astype("int64"), x.astype("float32") / 255):
        np.testing.assert_allclose(clf.predict_proba(same), expected, rtol=1e-6)
    with pytest.warns(RnnlmWarning, match="divide them by 255 too"):
        clf.predict_proba(x.astype("float32"))
    labels = np.load(sequences)["y"][:16]
    timing = "ms_per_sample"
    assert ({k: v for k, v in clf.evaluate((x.tolist(), labels)).items() if k != timing}
            == {k: v for k, v in clf.evaluate((x, labels)).items() if k != timing})


@pytest.mark.parametrize("options, message", [
    # a string was read letter by letter: "64,32" as 5 unit sizes
    (dict(units="64,32"), r"units must be an integer >= 1 or a list of them \(one per layer\), "
                          r"got the str '64,32'"),
    (dict(units=2.5), "units must be an integer >= 1 or a list of them"),  # was a TypeError
    (dict(dense="16"), "dense must be an integer >= 1 or a list of them"),
    (dict(dense=[8, -1]), r"dense must be .*, got \[8, -1\]"),  # it named --units
    (dict(dropout="0.1"), "dropout must be a number, got the str '0.1'"),
    (dict(valid_fraction="0.1"), "valid_fraction must be a number"),
    (dict(layers=1.5), "layers must be an integer > 0"),
    (dict(bidirectional="yes"), "bidirectional must be True or False, got the str 'yes'"),
])
def test_train_classifier_refuses_sizes_and_rates_by_their_type(sequences, tmp_path, options,
                                                                message):
    from rnnlm.classification import train_classifier
    from rnnlm.errors import RnnlmError

    with pytest.raises(RnnlmError, match=message):
        train_classifier(sequences, tmp_path / "run", **{**TINY, **options})
    assert not (tmp_path / "run").exists()


def test_train_classifier_takes_one_dense_size_and_numpy_sizes(sequences, tmp_path):
    from rnnlm.classification import train_classifier

    clf = train_classifier(sequences, tmp_path / "run", **{**TINY, "units": np.array([8, 4]),
                                                          "dense": np.int64(6)})
    assert (clf.config["model"]["units"], clf.config["model"]["dense"]) == ([8, 4], [6])
