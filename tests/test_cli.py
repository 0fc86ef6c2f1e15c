"""CLI behaviour: a smoke test per cell, and bad input → one clear line, exit code 2."""
import json
import os
import shlex
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import rnnlm
from rnnlm.cli import app
from tests.conftest import TINY_MODEL

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from tests.conftest import TINY_TEXT

    folder = tmp_path_factory.mktemp("cli")
    corpus = folder / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    run = folder / "run"
    code, output = invoke("train", corpus, "--out", run, *TINY_MODEL)
    assert code == 0, output
    return corpus, run


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_train_then_generate_each_cell(tiny_corpus, tmp_path, cell):
    run = tmp_path / f"run-{cell}"
    code, output = invoke("train", tiny_corpus, "--out", run, "--cell", cell, *TINY_MODEL)
    assert code == 0, output
    for name in ("config.json", "tokenizer.json", "model.weights.h5", "backbone.weights.h5",
                 "history.json", "curves.png", "checkpoints/last.weights.h5",
                 "checkpoints/best.weights.h5"):
        assert (run / name).exists(), name
    code, output = invoke("generate", run, "--prompt", "the ", "--length", "20", "--seed", "1")
    assert code == 0, output
    assert output.startswith("the ") and len(output) > len("the ")


def test_same_seed_same_text(trained_run):
    _, run = trained_run
    first = invoke("generate", run, "--length", "30", "--seed", "7", "--num-samples", "2")
    second = invoke("generate", run, "--length", "30", "--seed", "7", "--num-samples", "2")
    assert first == second and first[0] == 0


def test_eval_and_info_json(trained_run):
    corpus, run = trained_run
    code, output = invoke("eval", run, corpus, "--json")
    assert code == 0, output
    result = json.loads(output)
    assert result["bpc"] > 0 and result["perplexity"] > 1
    code, output = invoke("info", run, "--json")
    details = json.loads(output)
    assert details["vocabulary_size"] > 10
    assert [row["name"] for row in details["layers"]] == ["embedding", "rnn_0", "logits"]
    assert sum(r["parameters"] for r in details["layers"]) == details["total_parameters"]
    # The text form: readable sizes, and what --precision auto meant on the machine that trained.
    code, output = invoke("info", run)
    assert code == 0 and "1 × lstm 16, embedding 8" in output and "{" not in output, output
    ran = details["best"]["precision"]
    assert ran in ("float32", "bfloat16") and f"precision auto (trained in {ran})" in output


def test_resume_continues_the_epoch_count(trained_run, tmp_path):
    import shutil

    _, run = trained_run
    copy = tmp_path / "resumed"
    shutil.copytree(run, copy)
    code, output = invoke("train", "--resume", copy, "--epochs", "1", "--dropout", "0.4")
    assert code == 0, output
    history = json.loads((copy / "history.json").read_text())["epochs"]
    assert [h["epoch"] for h in history] == [1, 2]
    # Regularisers change no weight shape: a resumed run may train with more dropout.
    assert json.loads((copy / "config.json").read_text())["model"]["dropout"] == 0.4
    code, output = invoke("train", "--resume", copy, "--units", "99")
    assert code == 2 and "architecture" in output
    # The saved optimizer state holds a moving average of the weights, or none.
    code, output = invoke("train", "--resume", copy, "--ema", "0.9")
    assert code == 2 and "--ema" in output and len(output.strip().splitlines()) == 1


@pytest.mark.parametrize("options, named", [
    (["--optimizer", "sgd"], "--optimizer"),  # the saved optimizer state is Adam's
    (["--seed", "7"], "--seed"),
    (["--valid-fraction", "0.2"], "--valid-fraction"),
    (["--tokenizer", "word"], "--tokenizer"),
    (["--max-vocab", "10"], "--max-vocab (not set in"),  # not "None"
    (["--vocab-size", "100"], "--vocab-size"),  # not an option of a char tokenizer
    (["--data-dir", "elsewhere"], "--data-dir"),
])
def test_resume_refuses_what_the_run_keeps_instead_of_ignoring_it(trained_run, options, named):
    corpus, run = trained_run
    before = (run / "config.json").read_text()
    code, output = invoke("train", "--resume", run, "--epochs", "1", *options)
    assert code == 2 and named in output and len(output.strip().splitlines()) == 1, output
    assert (run / "config.json").read_text() == before
    other = run.parent / "other.txt"
    other.write_text("another text altogether\n" * 20, encoding="utf-8")
    code, output = invoke("train", other, "--resume", run)  # the corpus is the run's too
    assert code == 2 and "not the text" in output and "began with" in output, output
    assert (run / "config.json").read_text() == before


def test_resume_finds_a_moved_corpus_at_the_path_given(tmp_path):
    from tests.conftest import TINY_TEXT

    corpus, valid = tmp_path / "tiny.txt", tmp_path / "valid.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    valid.write_text(TINY_TEXT[:300], encoding="utf-8")
    run = tmp_path / "run"
    assert invoke("train", corpus, "--valid", valid, "--out", run, *TINY_MODEL)[0] == 0
    moved = tmp_path / "moved"
    moved.mkdir()
    corpus.rename(moved / "tiny.txt")
    valid.rename(moved / "valid.txt")
    before = (run / "config.json").read_text()
    code, output = invoke("train", "--resume", run, "--epochs", "1")
    assert code == 2 and "is not there any more: if it moved, give its new path" in output
    code, output = invoke("train", moved / "tiny.txt", "--resume", run, "--epochs", "1")
    assert code == 2 and f"rnnlm train --resume {run} --valid NEW_PATH" in output, output
    assert (run / "config.json").read_text() == before
    code, output = invoke("train", moved / "tiny.txt", "--valid", moved / "valid.txt",
                          "--resume", run, "--epochs", "1")
    assert code == 0, output
    source = json.loads((run / "config.json").read_text())["source"]
    assert source["corpus"] == str(moved / "tiny.txt") and source["valid"] == str(moved / "valid.txt")
    assert invoke("train", "--resume", run, "--epochs", "1")[0] == 0  # and from there on


def test_a_run_made_before_paths_and_digests_were_kept_resumes_once_given_its_text(
        tmp_path, monkeypatch):
    """Runs of rnnlm before 2026-12-06 kept the corpus as typed (a path relative to a folder
    no one recorded) and no SHA-256: one resumed from elsewhere trained on whatever text.txt
    was there. Now such a path must be given again; the text, unchecked, is said so, and its
    SHA-256 is kept from then on."""
    from tests.conftest import TINY_TEXT

    trained_in, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    trained_in.mkdir(), elsewhere.mkdir()
    (trained_in / "text.txt").write_text(TINY_TEXT, encoding="utf-8")
    (elsewhere / "text.txt").write_text("another text altogether\n" * 50, encoding="utf-8")
    run = tmp_path / "run"
    assert invoke("train", trained_in / "text.txt", "--out", run, *TINY_MODEL)[0] == 0
    config = json.loads((run / "config.json").read_text())
    del config["source"]["sha256"]
    config["source"]["corpus"] = "text.txt"  # as the old runs kept it
    (run / "config.json").write_text(json.dumps(config))
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    monkeypatch.chdir(elsewhere)
    code, output = invoke("train", "--resume", run, "--epochs", "1")
    assert code == 2 and len(output.strip().splitlines()) == 1, output
    assert ("was made before runs kept their files' absolute paths: its corpus text.txt, "
            "relative to the folder it was trained from, must be given again") in output
    assert f"(rnnlm train --resume {run} PATH)" in output
    assert before == {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    config["source"]["data_dir"] = "mirror"  # a file corpus never read it: not asked for
    (run / "config.json").write_text(json.dumps(config))
    code, output = invoke("train", trained_in / "text.txt", "--resume", run, "--epochs", "1")
    assert code == 0, output
    assert "warning: " in output and "cannot be checked against the text it trained on" in output
    source = json.loads((run / "config.json").read_text())["source"]
    assert source["corpus"] == str(trained_in / "text.txt") and len(source["sha256"]) == 64
    (trained_in / "text.txt").write_text(TINY_TEXT[::-1], encoding="utf-8")
    code, output = invoke("train", "--resume", run, "--epochs", "1")
    assert code == 2 and "has changed since the run began" in output, output  # checked now


def test_an_old_run_s_relative_paths_are_asked_for_in_one_line():
    from pathlib import Path

    from rnnlm import resuming
    from rnnlm.errors import RnnlmError

    none = {"corpus": None, "valid": None, "data_dir": None}
    with pytest.raises(RnnlmError) as card:  # a corpus by name: only its mirror is a path
        resuming.check_relative_paths(Path("run"), {"corpus": "ptb", "data_dir": "mirror"}, none)
    assert str(card.value).endswith("its --data-dir mirror, relative to the folder it was "
                                    "trained from, must be given again (rnnlm train --resume "
                                    "run --data-dir DIR)")
    old_file = {"corpus": "text.txt", "valid": "v.txt", "data_dir": "m"}  # m: never read
    with pytest.raises(RnnlmError) as file:  # what was given is kept in the command
        resuming.check_relative_paths(Path("run"), old_file, {**none, "corpus": "/new/text.txt"})
    assert "its corpus text.txt and its --valid file v.txt, relative" in str(file.value)
    assert str(file.value).endswith("(rnnlm train --resume run /new/text.txt --valid FILE)")
    resuming.check_relative_paths(Path("run"), old_file, {**none, "corpus": "a", "valid": "b"})
    resuming.check_relative_paths(Path("run"), {**old_file, "sha256": "0" * 64}, none)  # newer


def test_resume_finds_a_moved_mirror_at_the_data_dir_given(tmp_path):
    from tests.conftest import TINY_TEXT

    mirror = tmp_path / "mirror"
    (mirror / "tinyshakespeare").mkdir(parents=True)
    (mirror / "tinyshakespeare" / "input.txt").write_text(TINY_TEXT, encoding="utf-8")
    run = tmp_path / "run"
    assert invoke("train", "tinyshakespeare", "--data-dir", mirror, "--out", run, *TINY_MODEL)[0] == 0
    moved = mirror.rename(tmp_path / "moved")
    before = (run / "config.json").read_text()
    code, output = invoke("train", "--resume", run, "--epochs", "1")
    assert code == 2 and len(output.strip().splitlines()) == 1, output
    assert f"{mirror}, the --data-dir of {run}, is not there any more" in output
    assert f"rnnlm train --resume {run} --data-dir NEW_DIR" in output
    assert (run / "config.json").read_text() == before
    code, output = invoke("train", "--resume", run, "--data-dir", moved, "--epochs", "1")
    assert code == 0, output
    assert json.loads((run / "config.json").read_text())["source"]["data_dir"] == str(moved)
    assert invoke("train", "--resume", run, "--epochs", "1")[0] == 0  # and from there on
    (moved / "tinyshakespeare" / "input.txt").write_text(TINY_TEXT[::-1], encoding="utf-8")
    code, output = invoke("train", "--resume", run, "--data-dir", moved, "--epochs", "1")
    assert code == 2 and "is not the text" not in output and "are not the text" in output, output


def test_resume_accepts_the_run_s_own_values_of_what_it_keeps(trained_run, tmp_path):
    import shutil

    _, run = trained_run
    copy = tmp_path / "same"
    shutil.copytree(run, copy)
    kept = json.loads((copy / "config.json").read_text())["train"]
    code, output = invoke("train", "--resume", copy, "--epochs", "1", "--tokenizer", "char",
                          "--seed", str(kept["seed"]), "--optimizer", kept["optimizer"])
    assert code == 0, output


def train_small(corpus, run, *options):
    code, output = invoke("train", corpus, "--out", run, "--units", "16", "--seq-len", "8",
                          "--batch-size", "2", *options)
    assert code == 0, output
    return json.loads((run / "history.json").read_text())["epochs"], output


def test_time_limit_stops_cleanly_and_saves(tiny_corpus, tmp_path):
    run = tmp_path / "limited"
    history, _ = train_small(tiny_corpus, run, "--epochs", "50", "--time-limit", "3")
    assert len(history) < 50 and history[-1]["partial"]
    assert (run / "model.weights.h5").exists()


def test_a_time_limit_without_epochs_trains_until_it_is_spent(tiny_corpus, tmp_path):
    run = tmp_path / "budget"
    # One batch per epoch keeps epochs short: on an idle 2-core CPU the budget holds many more
    # than the default 10. How many depends on the load (a CPU shared with two trainings gave
    # 5), so what is asserted is that the clock ended the run (its last epoch is partial), and
    # that no last epoch was planned (below).
    history, output = train_small(tiny_corpus, run, "--steps-per-epoch", "1", "--time-limit", "12")
    assert len(history) >= 2 and history[-1]["partial"]
    assert "epoch 3" in output and "epoch 3/" not in output  # the bar names no last epoch
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] is None
    code, output = invoke("info", run)
    assert code == 0 and "epochs until the time limit, " in output, output
    # Resumed without a limit (or --epochs), such a run trains the default 10 epochs more.
    code, output = invoke("train", "--resume", run)
    assert code == 0, output
    resumed = json.loads((run / "history.json").read_text())["epochs"]
    assert len(resumed) == len(history) + 10
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 10


def bad(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("make_args, message", [
    (lambda p, c: ["train", p / "missing.txt"], "not found"),
    (lambda p, c: ["train", p], "is a directory"),
    (lambda p, c: ["train", bad(p, "e.txt", b"")], "empty"),
    (lambda p, c: ["train", bad(p, "s.txt", b"abc"), "--seq-len", "50"], "fewer than one window"),
    (lambda p, c: ["train", bad(p, "l.txt", b"caf\xe9 au lait " * 20)], "offset 3"),
    (lambda p, c: ["train", bad(p, "b.bin", b"\x00\x01\x02" * 50)], "binary"),
    (lambda p, c: ["train", c, "--cell", "transformer"], "unknown cell"),
    (lambda p, c: ["train", c, "--tokenizer", "bytes"], "unknown tokenizer"),
    (lambda p, c: ["train", c, "--units", "0"], "units must be > 0"),
    (lambda p, c: ["train", c, "--layers", "-1"], "layers (num_layers) must be > 0"),
    (lambda p, c: ["train", c, "--batch-size", "-3"], "error: --batch-size must be > 0"),
    (lambda p, c: ["train", c, "--ema", "1"], "ema must be in [0, 1)"),
    (lambda p, c: ["train", c, "--data-dir", c], "is not a directory"),  # a file corpus too
    (lambda p, c: ["train", c, "--weight-decay", "-1"], "--weight-decay must be >= 0, got -1"),
    # An option of another tokenizer would do nothing; --resume refuses it too.
    (lambda p, c: ["train", c, "--vocab-size", "100"], "not an option of the char tokenizer"),
    (lambda p, c: ["train", c, "--tokenizer", "word", "--min-freq", "1000000"],
     "no token occurs 1000000 times"),
    # Validation asked for but too short to score: the best checkpoint would be chosen on the
    # training loss without a word.
    (lambda p, c: ["train", c, "--valid", bad(p, "v.txt", b"x")],
     "too short to evaluate: it needs at least 2 tokens; give more text, or drop --valid and "
     "give --valid-fraction 0"),
    (lambda p, c: ["train", c, "--valid", c, "--valid-fraction", "0.2"], "drop --valid-fraction"),
    # An empty string (a script's unset variable) is not the current folder, nor the built-in
    # corpus: `rnnlm train ""` trained on pydoc and recorded the folder as its corpus.
    (lambda p, c: ["train", ""], "the corpus (a file or a corpus name) is an empty string"),
    (lambda p, c: ["train", c, "--valid", ""], "--valid is an empty string"),
    (lambda p, c: ["train", c, "--data-dir", ""], "--data-dir is an empty string"),
])
def test_bad_training_input(tmp_path, tiny_corpus, make_args, message):
    code, output = invoke(*make_args(tmp_path, tiny_corpus), "--out", tmp_path / "out")
    assert code == 2, output
    assert message in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option, message", [
    (["--temperature", "0"], "temperature"),
    (["--top-p", "1.5"], "error: --top-p must be in (0, 1]"),  # the flag typed, not top_p
    (["--top-k", "0"], "error: --top-k must be an integer >= 1"),
    (["--repetition-penalty", "0"], "repetition"),  # 0 is not "off": it must be > 0
    (["--sampler", "random", "--top-k", "3"], "--top-k (top_k=) is an option"),  # changes nothing
    (["--sampler", "greedy", "--top-p", "0.5"], "--top-p (top_p=) is an option"),
    (["--sampler", "beam", "--num-samples", "2"], "deterministic"),
    (["--num-samples", "20000"], "must be at most 10,000 a call"),  # was an OOM traceback
    (["--sampler", "beam", "--beam-width", "20000"], "--beam-width (beam_width=) must be at most"),
    (["--interactive", "--json"], "drop --json"),
    (["--interactive", "--num-samples", "2"], "drop --num-samples"),
])
def test_bad_generation_options(trained_run, option, message):
    _, run = trained_run
    code, output = invoke("generate", run, *option)
    assert code == 2 and message in output and "Traceback" not in output
    assert len(output.strip().splitlines()) == 1, output


def test_stop_takes_a_typed_backslash_n_as_a_line_break(trained_run):
    from rnnlm.cli_common import unescape

    assert unescape(r"\n 끝\t\\") == "\n 끝\t\\"
    _, run = trained_run
    samples = {}
    for stop in (r"\n", "\n"):  # what a shell passes for "\n", and a real line break
        code, output = invoke("generate", run, "--prompt", "the", "--length", "200", "--seed",
                              "3", "--json", "--stop", stop)
        assert code == 0, output
        samples[stop] = json.loads(output)[0]
    assert samples[r"\n"] == samples["\n"]
    assert samples["\n"]["stopped"] and "\n" not in samples["\n"]["text"]


def test_bad_run_directories(trained_run, tmp_path):
    import shutil

    _, run = trained_run
    code, output = invoke("generate", tmp_path / "nowhere")
    assert code == 2 and "not found" in output
    incomplete = tmp_path / "incomplete"
    shutil.copytree(run, incomplete)
    (incomplete / "model.weights.h5").unlink()
    code, output = invoke("generate", incomplete)
    assert code == 2 and "incomplete" in output
    newer = tmp_path / "newer"
    shutil.copytree(run, newer)
    config = json.loads((newer / "config.json").read_text())
    config["format_version"] = 99
    (newer / "config.json").write_text(json.dumps(config))
    code, output = invoke("info", newer)
    assert code == 2 and "newer rnnlm" in output
    older = tmp_path / "older"  # format 1: read, and a resume writes the format it now holds
    shutil.copytree(run, older)
    config["format_version"] = 1
    (older / "config.json").write_text(json.dumps(config))
    code, output = invoke("info", older)
    assert code == 0 and "(format 1)" in output, output
    assert invoke("train", "--resume", older, "--epochs", "1")[0] == 0
    saved = json.loads((older / "config.json").read_text())["format_version"]
    assert saved == rnnlm.config.FORMAT_VERSION == 2


def test_language_model_commands_refuse_a_classifier_run(trained_run, tmp_path):
    import shutil

    _, run = trained_run
    classifier = tmp_path / "classifier"  # only its config's kind matters before loading
    shutil.copytree(run, classifier)
    config = json.loads((classifier / "config.json").read_text())
    (classifier / "config.json").write_text(json.dumps({**config, "kind": "classifier"}))
    held_out = tmp_path / "held.txt"
    held_out.write_text("the lazy dog\n", encoding="utf-8")
    for args in (["generate", classifier], ["eval", classifier, held_out],
                 ["export", classifier, "--out", tmp_path / "exported"],
                 ["train", "--resume", classifier, "--epochs", "1"]):
        code, output = invoke(*args)
        assert code == 2 and "is a classifier run, not a language model" in output, output
        assert len(output.strip().splitlines()) == 1
    assert not (tmp_path / "exported").exists()


@pytest.mark.parametrize("damage", ["missing state.json", "missing checkpoints/last.optimizer.npz",
                                    "truncated checkpoints/last.optimizer.npz",
                                    "truncated checkpoints/last.weights.h5"])
def test_resume_refuses_a_damaged_checkpoint_and_changes_nothing(trained_run, tmp_path, damage):
    """Without the optimizer's state or the epoch count a resume would silently restart the
    schedule; a truncated file would end in a traceback."""
    import shutil

    _, run = trained_run
    copy = tmp_path / "damaged"
    shutil.copytree(run, copy)
    how, name = damage.split(" ", 1)
    if how == "missing":
        (copy / name).unlink()
    else:
        (copy / name).write_bytes((copy / name).read_bytes()[:500])
    before = {path: path.read_bytes() for path in copy.rglob("*") if path.is_file()}
    code, output = invoke("train", "--resume", copy, "--epochs", "1")
    assert code == 2 and "Traceback" not in output and len(output.strip().splitlines()) == 1
    assert name in output or "damaged" in output, output
    assert {path: path.read_bytes() for path in copy.rglob("*") if path.is_file()} == before


def test_resume_replaces_a_damaged_best_epoch_whatever_its_loss(trained_run, tmp_path):
    """model.weights.h5 is replaced only by a better epoch; one that no longer loads would stay
    (and every generate fail) unless the resume's first epoch replaces it."""
    import shutil

    import rnnlm

    _, run = trained_run
    copy = tmp_path / "damaged"
    shutil.copytree(run, copy)
    best = copy / "model.weights.h5"
    best.write_bytes(best.read_bytes()[:500])
    state = json.loads((copy / "state.json").read_text())
    state["best_val_loss"] = 0.0  # no epoch could beat it
    (copy / "state.json").write_text(json.dumps(state))
    code, output = invoke("train", "--resume", copy, "--epochs", "1")
    assert code == 0, output
    assert "model.weights.h5 (the best epoch's weights) does not load" in output
    assert rnnlm.load(copy).generate("the", length=5, seed=1)  # loadable again
    state = json.loads((copy / "state.json").read_text())
    assert state["best_epoch"] == state["epochs_done"] and state["best_val_loss"] > 0


def test_a_corpus_read_from_a_pipe_is_recorded_by_the_name_it_was_given(tmp_path):
    # As `cat a.txt b.txt | rnnlm train /dev/stdin` does; resolved, the name would be
    # /proc/PID/fd/pipe:[N], which names nothing once the process is gone.
    from tests.conftest import TINY_TEXT

    read_end, write_end = os.pipe()
    os.write(write_end, TINY_TEXT.encode("utf-8"))  # far below a pipe's buffer
    os.close(write_end)
    run = tmp_path / "run"
    try:
        code, output = invoke("train", f"/dev/fd/{read_end}", "--out", run, *TINY_MODEL)
        assert code == 0, output
        source = json.loads((run / "config.json").read_text())["source"]
        assert source["corpus"] == f"/dev/fd/{read_end}"
        before = (run / "config.json").read_text()
        code, output = invoke("train", "--resume", run, "--epochs", "1")  # the pipe is empty
        assert code == 2 and "is not a regular file (a pipe?)" in output, output
        assert (run / "config.json").read_text() == before
    finally:
        os.close(read_end)


def test_resume_finds_the_corpus_from_any_directory(tmp_path, monkeypatch):
    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    from tests.conftest import TINY_TEXT

    (tmp_path / "here" / "tiny.txt").write_text(TINY_TEXT, encoding="utf-8")
    monkeypatch.chdir(tmp_path / "here")
    code, output = invoke("train", "tiny.txt", "--out", tmp_path / "run", *TINY_MODEL)
    assert code == 0, output
    source = json.loads((tmp_path / "run" / "config.json").read_text())["source"]
    assert source["corpus"] == str(tmp_path / "here" / "tiny.txt")
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, output = invoke("train", "--resume", tmp_path / "run", "--epochs", "1")
    assert code == 0, output


def test_out_below_a_file_is_one_line(tiny_corpus, tmp_path):
    in_the_way = bad(tmp_path, "f.txt", b"x")
    code, output = invoke("train", tiny_corpus, "--out", in_the_way / "sub", *TINY_MODEL)
    assert code == 2 and "is a file, not a directory" in output and "Traceback" not in output
    assert in_the_way.read_bytes() == b"x"


def test_resume_refuses_a_corpus_that_changed_since_the_run_began(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    code, output = invoke("train", tiny_corpus, "--out", run, *TINY_MODEL)
    assert code == 0, output
    tiny_corpus.write_text(tiny_corpus.read_text(encoding="utf-8") + "새 문장.\n", encoding="utf-8")
    before = (run / "state.json").read_bytes()
    code, output = invoke("train", "--resume", run, "--epochs", "1")
    assert code == 2 and "has changed since the run began" in output, output
    assert (run / "state.json").read_bytes() == before


def test_eval_warns_about_tokens_outside_the_vocabulary(trained_run, tmp_path):
    _, run = trained_run
    held_out = tmp_path / "held.txt"
    held_out.write_text("the ✨✨ fox\n", encoding="utf-8")
    code, output = invoke("eval", run, held_out, "--json")
    assert code == 0 and "warning: 2 token(s) of the text are outside the vocabulary" in output


@pytest.mark.parametrize("extra", [[], ["--num-samples", "2"], ["--json"]])
def test_generate_warns_once_in_one_line_about_an_unknown_prompt(trained_run, extra):
    _, run = trained_run
    code, output = invoke("generate", run, "--prompt", "✨✨ the", "--length", "3", *extra)
    assert code == 0, output
    assert output.count("warning: 2 token(s) of the prompt are not in the vocabulary") == 1
    assert "RnnlmWarning" not in output and "warnings.warn" not in output
    if not extra:  # streamed: the warning comes before the prompt is echoed, not inside it
        assert output.index("warning: ") < output.index("✨✨ the")


def test_ctrl_c_while_generating_ends_the_text_line_before_saying_interrupted(trained_run,
                                                                           monkeypatch):
    from rnnlm.lm import LM

    def interrupted_stream(self, prompt="", **options):
        yield " fox"
        raise KeyboardInterrupt

    monkeypatch.setattr(LM, "stream", interrupted_stream)
    code, output = invoke("generate", trained_run[1], "--prompt", "the")
    assert code == 130 and output.endswith("the fox\ninterrupted\n"), output


def test_info_names_the_validation_file_and_the_epochs_of_every_call(tiny_corpus, tmp_path):
    valid = tmp_path / "valid.txt"
    valid.write_text(tiny_corpus.read_text(encoding="utf-8")[:400], encoding="utf-8")
    run = tmp_path / "run"
    assert invoke("train", tiny_corpus, "--valid", valid, "--out", run, *TINY_MODEL)[0] == 0
    assert invoke("train", "--resume", run, "--epochs", "2")[0] == 0
    code, output = invoke("info", run)
    assert code == 0, output
    assert f"validation {valid}" in output and "valid_fraction" not in output
    assert "epochs 2 of 2 in the last --resume, 3 in all" in output
    # a resume that ended before its --epochs (early stopping, the clock, Ctrl-C) says so
    state = json.loads((run / "state.json").read_text())
    state["epochs_done"] = 4
    (run / "state.json").write_text(json.dumps(state))
    config = json.loads((run / "config.json").read_text())
    config["train"]["epochs"] = 5
    (run / "config.json").write_text(json.dumps(config))
    assert "epochs 3 of 5 in the last --resume, 4 in all" in invoke("info", run)[1]
    config["train"]["epochs"] = None  # a resume with --time-limit and no --epochs
    (run / "config.json").write_text(json.dumps(config))
    assert ("epochs 3 in the last --resume (until its time limit), 4 in all"
            in invoke("info", run)[1])


def test_a_sentencepiece_vocabulary_smaller_than_asked_is_said(tiny_corpus, tmp_path):
    code, output = invoke("train", tiny_corpus, "--out", tmp_path / "sp", "--tokenizer",
                          "sentencepiece", "--vocab-size", "5000", *TINY_MODEL)
    assert code == 0, output
    size = json.loads((tmp_path / "sp" / "config.json").read_text())["model"]["vocabulary_size"]
    assert size < 5000
    assert f"sentencepiece vocabulary: {size:,} pieces, fewer than --vocab-size 5,000" in output
    assert "(the text holds no more)" in output


def test_ctrl_c_says_how_many_epochs_are_left_and_never_costs_the_old_run(
        tiny_corpus, tmp_path, monkeypatch):
    from rnnlm import training

    run = tmp_path / "run"
    args = ["train", tiny_corpus, "--out", run, *TINY_MODEL[:-2], "--epochs", "3"]
    end_epoch = training.EpochEnd.on_epoch_end

    def interrupted_after_the_first(self, epoch, logs=None):
        end_epoch(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(training.EpochEnd, "on_epoch_end", interrupted_after_the_first)
    code, output = invoke(*args)
    assert code == 130 and f"continue with: rnnlm train --resume {run} --epochs 2" in output
    kept = (run / "model.weights.h5").read_bytes()

    def interrupted_at_once(self, batch, logs=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(training.EpochEnd, "on_train_batch_end", interrupted_at_once)
    code, output = invoke(*args, "--force")
    assert code == 130 and f"first epoch ended; the earlier run in {run} is kept" in output
    assert (run / "model.weights.h5").read_bytes() == kept  # the earlier run is back
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    code, output = invoke(*args[:3], tmp_path / "new", *args[4:])  # a new run: it can resume
    assert code == 130 and f"continue with: rnnlm train --resume {tmp_path / 'new'}" in output
    assert (tmp_path / "new" / "checkpoints" / "last.weights.h5").exists()
    # the epoch's bar ends its line first: the message was written on the end of the bar
    assert any(line.startswith("interrupted; last checkpoint saved")
               for line in output.split("\n")), output  # not splitlines: the bar's \r


@pytest.mark.parametrize("edit, message", [
    ("units", "the model config.json describes"),
    ("vocabulary", "tokens and the model"),
    ("kind", "config.json names the word tokenizer and tokenizer.json holds a char one"),
    ("duplicate", "vocabulary entries must be distinct"),
])
def test_a_run_whose_files_do_not_belong_together_is_one_line(trained_run, tmp_path, edit, message):
    """Every command refuses it at once: a --resume trained and saved whole epochs into the
    run before its weights said so."""
    import shutil

    _, run = trained_run
    copy = tmp_path / "edited"
    shutil.copytree(run, copy)
    config = json.loads((copy / "config.json").read_text())
    tokenizer = json.loads((copy / "tokenizer.json").read_text(encoding="utf-8"))
    if edit == "units":
        config["model"]["units"] += 1
    elif edit == "kind":
        config["tokenizer"]["kind"] = "word"
    elif edit == "vocabulary":
        tokenizer["vocabulary"] = tokenizer["vocabulary"][:-3]
    else:
        tokenizer["vocabulary"][-1] = tokenizer["vocabulary"][-2]
    (copy / "config.json").write_text(json.dumps(config))
    (copy / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    before = {path: path.read_bytes() for path in copy.rglob("*") if path.is_file()}
    for command in (["info", copy], ["generate", copy, "--length", "3"],
                    ["export", copy, "--out", tmp_path / "x"],
                    ["train", "--resume", copy, "--epochs", "1"]):
        code, output = invoke(*command)
        assert code == 2 and message in output and len(output.strip().splitlines()) == 1, output
        assert not output.strip().endswith(":"), output  # Keras's first line ends in a colon
    assert {path: path.read_bytes() for path in copy.rglob("*") if path.is_file()} == before


def test_a_bad_value_is_named_as_typed_a_flag_or_a_key_of_config_json(trained_run, tmp_path):
    """The API's checks name a value by its keyword (top_p); the line names the flag the user
    typed, and a key of an edited config.json by its key."""
    import shutil

    corpus, run = trained_run
    copy = tmp_path / "edited"
    shutil.copytree(run, copy)
    config = json.loads((copy / "config.json").read_text())
    config["train"]["batch_size"] = -3
    (copy / "config.json").write_text(json.dumps(config))
    for command, message in (
            (["generate", run, "--top-p", "2"], "error: --top-p must be in (0, 1]"),
            (["generate", run, "--sampler", "beam", "--beam-width", "0"],
             "error: --beam-width must be an integer >= 1"),
            (["explain", "lstm", "--input-shape", "4,3", "--no-reset-after"],
             "error: --no-reset-after only applies to the gru cell"),
            (["train", "--resume", copy, "--epochs", "9"], "error: batch_size must be > 0"),
            (["train", corpus, "--out", tmp_path / "x", "--lr-schedule", "bogus"],
             "error: unknown --lr-schedule 'bogus'; choose one of"),
            (["train", "--resume", run, "--layers", "3"],
             "error: --resume cannot change the architecture: layers (num_layers) is 1")):
        code, output = invoke(*command)
        assert code == 2 and output.startswith(message), output
        assert len(output.strip().splitlines()) == 1, output


def test_a_run_without_validation_says_what_its_best_epoch_was_judged_on(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    code, output = invoke("train", tiny_corpus, "--out", run, "--valid-fraction", "0", *TINY_MODEL)
    assert code == 0 and "(best epoch 1: training loss " in output and ", no validation text)" in output
    code, output = invoke("info", run)
    assert code == 0 and "best epoch   1 of 1: training loss " in output, output


def test_the_python_api_keeps_tensorflow_s_log_lines_off_the_terminal(trained_run):
    import os

    _, run = trained_run
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",
                                                          "ABSL_MIN_LOG_LEVEL")}
    script = (f"import os, rnnlm; lm = rnnlm.load({str(run)!r}); "
              f"print(lm.generate('the', length=5, seed=1)); "
              f"print('levels', os.environ.get('TF_CPP_MIN_LOG_LEVEL'), "
              f"os.environ.get('ABSL_MIN_LOG_LEVEL'))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0 and done.stdout.strip(), done.stderr
    # and the levels it set to import TensorFlow quietly are not left for the user's subprocesses
    assert done.stdout.strip().splitlines()[-1] == "levels None None", done.stdout
    noise = [line for line in done.stderr.splitlines()
             if line[:5] in ("I0000", "W0000", "E0000") or "absl::InitializeLog" in line]
    assert noise == [], done.stderr  # no absl/oneDNN/CUDA lines


def test_force_never_deletes_a_file_of_the_user_s_in_a_run(trained_run, tmp_path):
    import shutil

    corpus, run = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    notes = copy / "my-notes.txt"
    shutil.copy(corpus, notes)
    code, output = invoke("train", notes, "--out", copy, "--force", *TINY_MODEL)
    assert code == 2 and "a run with other files added to it (my-notes.txt)" in output, output
    assert notes.read_text(encoding="utf-8") == corpus.read_text(encoding="utf-8")


@pytest.mark.parametrize("name, content, message", [
    ("config.json", "[1, 2]", "config.json is damaged"),
    ("config.json", '{"format_version": 1, "kind": "language_model"}', "config.json is damaged"),
    ("state.json", "[1, 2]", "state.json is damaged"),
    # a count edited by hand: --resume added it to the seed deep inside training (a traceback)
    ("state.json", '{"epochs_done": "1"}', "state.json is damaged: epochs_done must be an integer"),
    ("state.json", '{"epochs_done": 1, "best_val_loss": "low"}', "best_val_loss must be a number"),
    ("history.json", '{"epochs": "x"}', "history.json is damaged"),
])
def test_a_run_file_of_the_wrong_shape_is_one_line(trained_run, tmp_path, name, content, message):
    import shutil

    _, run = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / name).write_text(content)
    for command in (["info", copy], ["train", "--resume", copy, "--epochs", "1"]):
        code, output = invoke(*command)
        if name in ("history.json",) and command[0] == "info":
            continue  # info does not read the history
        assert code == 2 and message in output and len(output.strip().splitlines()) == 1, output


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.pop("train"), 'config.json is damaged: its "train" is missing'),
    (lambda c: c.pop("source"), 'config.json is damaged: its "source" is missing'),
    (lambda c: c.update(tokenizer=[]), 'config.json is damaged: its "tokenizer" is not an object'),
    (lambda c: c.update(format_version="2"), "its format_version must be a number, got '2'"),
])
def test_a_config_json_edited_out_of_shape_is_one_line(trained_run, tmp_path, edit, message):
    """Each was a KeyError traceback from one command or another."""
    import shutil

    corpus, run = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    config = json.loads((copy / "config.json").read_text())
    edit(config)
    (copy / "config.json").write_text(json.dumps(config))
    for command in (["info", copy], ["eval", copy, corpus], ["generate", copy, "--length", "3"],
                    ["train", "--resume", copy, "--epochs", "1"]):
        code, output = invoke(*command)
        assert code == 2 and message in output and len(output.strip().splitlines()) == 1, output


def test_a_model_too_large_for_the_machine_is_one_line(trained_run, tmp_path, monkeypatch):
    """Refused before it is built when training (the system killed a 3 × 20,000 LSTM with
    exit 137, leaving an empty folder); TensorFlow's out-of-memory error, a page of
    traceback, is one line where a model is built from an edited config.json (units 10^9:
    here raised as TensorFlow raised it, which took 25 s of swapping)."""
    import tensorflow as tf

    from rnnlm.models.language_model import LanguageModel

    corpus, run = trained_run
    code, output = invoke("train", corpus, "--out", tmp_path / "huge", "--units", "100000")
    assert code == 2 and "parameters needs about" in output and "GiB to train" in output, output
    assert not (tmp_path / "huge").exists()

    def out_of_memory(self):
        raise tf.errors.ResourceExhaustedError(
            None, None, "Exception encountered when calling LSTM.call().\n\nOOM when "
                        "allocating tensor with shape[4000000000,1000000000] and type float")

    monkeypatch.setattr(LanguageModel, "build_for_inference", out_of_memory)
    code, output = invoke("info", run)
    assert code == 2 and output.startswith(
        "error: out of memory (OOM when allocating tensor with shape[4000000000,1000000000]): "
        "the model, batch or number of samples is too large"), output
    assert len(output.strip().splitlines()) == 1, output


def test_out_inside_a_run_is_refused_and_a_run_without_a_checkpoint_is_not_sent_to_resume(
        trained_run, tmp_path):
    """A run inside a run was trained (and made the outer one "a run with other files added",
    which --force then refused); a run killed in its first epoch was answered "use --resume",
    which then failed for want of a checkpoint."""
    import shutil

    corpus, run = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    code, output = invoke("train", corpus, "--out", copy / "sub", *TINY_MODEL)
    assert code == 2 and f"is inside the run {copy}; choose a folder outside it" in output, output
    assert not (copy / "sub").exists()
    link = tmp_path / "link"
    link.symlink_to(copy)  # --force replaced the link by a new folder, and left the run as it was
    code, output = invoke("train", corpus, "--out", link, "--force", *TINY_MODEL)
    assert code == 2 and f"is a symbolic link: give --force the run it points to, {copy}" in output
    assert link.is_symlink()
    shutil.rmtree(copy / "checkpoints")
    (copy / "model.weights.h5").unlink()
    code, output = invoke("train", corpus, "--out", copy, *TINY_MODEL)
    assert code == 2 and "is already a run; use --force to replace it" in output, output


def test_eval_with_a_seq_len_edited_to_zero_is_one_line(trained_run, tmp_path):
    import shutil

    corpus, run = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    config = json.loads((copy / "config.json").read_text())
    config["train"]["seq_len"] = 0
    (copy / "config.json").write_text(json.dumps(config))
    code, output = invoke("eval", copy, corpus)  # it was a ZeroDivisionError
    assert code == 2 and "seq_len must be > 0" in output, output
    (copy / "config.json").write_text("null")
    code, output = invoke("info", copy)
    assert code == 2 and "config.json is damaged: it holds null, not an object" in output, output


def test_a_resume_that_fails_before_an_epoch_keeps_the_run_s_own_options(trained_run, tmp_path,
                                                                          monkeypatch):
    import shutil

    from rnnlm import training
    from rnnlm.errors import RnnlmError

    _, run = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = (copy / "config.json").read_bytes()

    def failing_fit(*args, **kwargs):
        raise RnnlmError("the disk is full")

    monkeypatch.setattr(training, "fit", failing_fit)
    code, output = invoke("train", "--resume", copy, "--epochs", "1", "--lr", "0.5")
    assert code == 2 and "the disk is full" in output
    assert (copy / "config.json").read_bytes() == before


def test_a_forced_run_that_fails_at_its_first_save_puts_the_earlier_run_back(
        trained_run, tmp_path, monkeypatch):
    """A full disk in the middle of the first epoch's files: model.weights.h5 may be written
    already, the rest not; the earlier run must come back all the same."""
    import shutil

    from rnnlm import checkpoints

    corpus, run = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    kept = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}

    def disk_full(self, commit, model):
        raise OSError(28, "No space left on device\n(h5py, on two lines)")

    monkeypatch.setattr(checkpoints.RunWriter, "_stage_last", disk_full)
    code, output = invoke("train", corpus, "--out", copy, "--force", *TINY_MODEL)
    assert code == 2 and "error: No space left on device (h5py, on two lines)" in output, output
    assert {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()} == kept
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_run_being_written_is_not_written_by_a_second_command(trained_run, tmp_path):
    """Two trainings of one --out mixed their files into a run no command could load."""
    import shutil

    from rnnlm import run_lock

    corpus, run = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    with run_lock.locked(copy):  # as a training of it holds it
        for command in (["train", "--resume", copy, "--epochs", "1"],
                        ["train", corpus, "--out", copy, "--force", *TINY_MODEL]):
            code, output = invoke(*command)
            assert code == 2 and "is being written by another rnnlm command" in output, output
        assert invoke("generate", copy, "--length", "3")[0] == 0  # reading it is fine
    assert {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before
    assert invoke("train", "--resume", copy, "--epochs", "1")[0] == 0  # free again


def test_info_on_a_file_says_it_is_a_file(tiny_corpus):
    code, output = invoke("info", tiny_corpus)
    assert code == 2 and "is a file, not a run directory" in output


@pytest.mark.parametrize("config", [None, "{}", '{"kind": "language_model"}', "not json"])
def test_force_replaces_a_run_and_never_a_folder_of_other_files(tiny_corpus, tmp_path, config):
    """A project folder with a config.json of its own is not a run either."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    if config is not None:
        (folder / "config.json").write_text(config)
    code, output = invoke("train", tiny_corpus, "--out", folder, "--force", *TINY_MODEL)
    assert code == 2 and "not an rnnlm run" in output and "--resume" not in output, output
    assert (folder / "notes.txt").read_text() == "keep me"


def test_force_never_replaces_an_export_with_other_files_in_it(trained_run, tmp_path):
    corpus, run = trained_run
    exported = tmp_path / "exported"
    assert invoke("export", run, "--out", exported)[0] == 0
    code, output = invoke("train", corpus, "--out", exported, "--force", *TINY_MODEL)
    assert code == 2 and "not an rnnlm run" in output, output  # it holds the run's config.json
    (exported / "notes.txt").write_text("keep me")
    code, output = invoke("export", run, "--out", exported, "--force")
    assert code == 2 and "an earlier export with other files added to it (notes.txt)" in output
    assert (exported / "notes.txt").read_text() == "keep me"
    (exported / "notes.txt").unlink()
    assert invoke("export", run, "--out", exported, "--force")[0] == 0  # an export alone: yes
    code, output = invoke("export", run, "--out", exported / "sub")  # nor one inside another
    assert code == 2 and f"is inside the export {exported}" in output, output
    for command in (["info"], ["generate"], ["export", "--out", tmp_path / "again"]):
        code, output = invoke(command[0], exported, *command[1:])
        assert code == 2 and "is an export" in output and "incomplete" not in output, output


def test_export_replaces_an_export_and_never_a_run(trained_run, tmp_path):
    _, run = trained_run
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    for out in (run, run.parent):  # the run itself, and a folder holding it
        code, output = invoke("export", run, "--out", out, "--force")
        assert code == 2 and "not an earlier export" in output, output
    code, output = invoke("export", run, "--out", run / "config.json")
    assert code == 2 and "not a directory" in output, output
    # inside the run: it was written there, and the run's --force then refused ("other files")
    code, output = invoke("export", run, "--out", run / "exported")
    assert code == 2 and f"is inside the run {run}; choose a folder outside it" in output, output
    assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == before


def test_out_pointing_at_an_existing_run_is_refused(trained_run):
    corpus, run = trained_run
    before = (run / "model.weights.h5").read_bytes()
    code, output = invoke("train", corpus, "--out", run)
    assert code == 2 and "--resume" in output and "--force" in output
    assert (run / "model.weights.h5").read_bytes() == before


def test_installed_command_answers_help_from_any_directory(tmp_path):
    result = subprocess.run([sys.executable, "-m", "rnnlm.cli", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "train" in result.stdout


def test_interactive_prompt_loop_ends_on_ctrl_d(trained_run):
    _, run = trained_run
    result = runner.invoke(app, ["generate", str(run), "--interactive", "--length", "10",
                                 "--seed", "2"], input="the \nfox\n")
    assert result.exit_code == 0, result.output
    assert "the " in result.output and "fox" in result.output
    # the samples redirected: stdout holds them alone, one line each, no "> " among them
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("the ") and lines[1].startswith("fox"), lines


def test_help_shows_the_defaults_written_in_brackets():
    """Typer's rich markup would read "[default: char]" as a style tag and print nothing of it."""
    for args, defaults in ((["train", "--help"], ["[default: char]", "[default: lstm]",
                                                  "[default: 0.15 for char models"]),
                           (["classify", "train", "--help"], ["[default: 0.1]"])):
        result = runner.invoke(app, args)
        assert result.exit_code == 0
        text = " ".join(result.output.split())  # help lines wrap anywhere
        for default in defaults:
            assert default in text, default


def test_random_offsets_is_a_training_option_and_refused_with_stateful(tiny_corpus, tmp_path):
    run = tmp_path / "offsets"
    code, output = invoke("train", tiny_corpus, "--out", run, *TINY_MODEL, "--random-offsets")
    assert code == 0, output
    assert json.loads((run / "config.json").read_text())["train"]["random_offsets"] is True
    # Resumed as stateful streams, which have no window grid, the run drops the offsets.
    code, output = invoke("train", "--resume", run, "--stateful", "--epochs", "1")
    assert code == 0, output
    train = json.loads((run / "config.json").read_text())["train"]
    assert (train["stateful"], train["random_offsets"]) == (True, False)
    code, output = invoke("train", tiny_corpus, "--out", tmp_path / "both", *TINY_MODEL,
                          "--random-offsets", "--stateful")
    assert code == 2 and "random offsets" in output and "Traceback" not in output
    assert not (tmp_path / "both").exists()


@pytest.mark.parametrize("args, named", [
    (["generate", "some_run", "--length", "abc"], "'--length'"),
    (["train", "--no-such-option"], "--no-such-option"),
    (["trian"], "'trian'"),
    (["classify", "train", "--no-such-option"], "--no-such-option"),
])
def test_usage_errors_are_one_line(args, named):
    """Click's own form is usage, hint and error on three lines; every other error is one."""
    result = runner.invoke(app, args)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and named in lines[0] and "--help" in lines[0]


def test_a_closed_pipe_ends_quietly():
    """`rnnlm corpora | head -1`: the reader leaving early is not an error to report."""
    process = subprocess.Popen([sys.executable, "-m", "rnnlm.cli", "corpora"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # before the command has written anything
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1 and stderr == ""


def test_an_output_that_cannot_take_the_text_is_one_line(trained_run):
    """A closed stdout (`>&-`) made `info` exit 0 with nothing written, and `generate` a
    traceback; an ASCII-only output a UnicodeEncodeError traceback at the Korean prompt."""
    _, run = trained_run
    closed = subprocess.run(f"{shlex.quote(sys.executable)} -m rnnlm.cli info "
                            f"{shlex.quote(str(run))} >&-", shell=True, capture_output=True,
                            text=True, timeout=120)
    assert closed.returncode == 2, closed.stderr
    assert closed.stderr == "error: standard output is closed: rnnlm writes its results there\n"
    ascii_only = subprocess.run(
        [sys.executable, "-m", "rnnlm.cli", "generate", str(run), "--prompt", "한국 ",
         "--length", "3"], capture_output=True, timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "ascii"})
    stderr = ascii_only.stderr.decode("ascii").strip().splitlines()
    assert ascii_only.returncode == 2 and stderr[-1] == (
        "error: the output's encoding, ascii, cannot write this text; use a UTF-8 locale "
        "(LANG=C.UTF-8) or set PYTHONIOENCODING=utf-8"), stderr
    assert "Traceback" not in ascii_only.stderr.decode("ascii")


def test_early_stopping_says_so_and_epochs_show_their_validation_figures(tiny_corpus, tmp_path):
    """SGD at lr 60 with no schedule makes the tiny corpus's third epoch worse."""
    code, output = invoke("train", tiny_corpus, "--out", tmp_path / "run", *TINY_MODEL[:-2],
                          "--epochs", "8", "--optimizer", "sgd", "--lr", "60",
                          "--lr-schedule", "none", "--early-stopping", "1")
    assert code == 0 and "stopped early" in output and "--early-stopping 1" in output, output
    assert "val_bpc=" in output  # the last line of each epoch's bar


def _files(run):
    return {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}


def test_a_full_disk_at_an_epoch_end_leaves_the_run_as_it_was(trained_run, tmp_path, monkeypatch):
    """Each file of an epoch is written before any is put in place: a full disk at the optimizer
    state left the new epoch's weights beside the old epoch's state (and the resume's options
    in config.json). Now nothing of the epoch is kept, nothing half written stays, one line."""
    import shutil

    import numpy as np

    _, run = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = _files(copy)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    code, output = invoke("train", "--resume", copy, "--epochs", "1", "--lr", "0.5")
    errors = [line for line in output.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1 and "Traceback" not in output, output
    assert "cannot save" in output and "last.optimizer.npz: No space left on device" in output
    assert _files(copy) == before  # weights, state, history, config.json: all as they were


def test_a_kill_between_the_renames_of_an_epoch_is_finished_by_the_next_command(
        trained_run, tmp_path, monkeypatch):
    """Killed after some of an epoch's files were renamed into place: the journal lets the next
    command that writes the run put the rest in place, so weights, optimizer state, state and
    history all say the same epoch (a kill there used to train an epoch twice, or lose one)."""
    import shutil

    from rnnlm import checkpoints, runs

    _, run = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    real_replace, calls = checkpoints.os.replace, []

    class Killed(BaseException):
        pass

    def replace_then_die(src, dst):
        calls.append(dst)
        if len(calls) == 4:  # the journal, then two of the epoch's files
            raise Killed
        real_replace(src, dst)

    monkeypatch.setattr(checkpoints.os, "replace", replace_then_die)
    with pytest.raises(Killed):
        rnnlm.resume(copy, epochs=1)
    monkeypatch.setattr(checkpoints.os, "replace", real_replace)
    assert (copy / runs.JOURNAL).exists()
    state = json.loads((copy / "state.json").read_text())
    assert state["epochs_done"] == 1  # state.json is renamed last: not in place yet
    code, output = invoke("info", copy)  # a reader finds no one writing it: it finishes them
    assert code == 0, output
    assert not (copy / runs.JOURNAL).exists()
    assert not [p for p in copy.rglob(".tmp-*")]
    state = json.loads((copy / "state.json").read_text())
    history = json.loads((copy / "history.json").read_text())["epochs"]
    assert state["epochs_done"] == 2 and [e["epoch"] for e in history] == [1, 2]
    assert rnnlm.resume(copy, epochs=1).info()["epochs_done"] == 3


def test_a_resume_killed_before_its_first_epoch_leaves_config_json(trained_run, tmp_path,
                                                                   monkeypatch):
    """A resume's options are written with its first checkpoint: SIGKILL or SIGTERM before it
    left them in config.json, and the next plain --resume trained with them."""
    import shutil

    from rnnlm import training

    _, run = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = (copy / "config.json").read_bytes()

    class Killed(BaseException):
        pass

    def killed_fit(*args, **kwargs):
        assert (copy / "config.json").read_bytes() == before  # not written at the start
        raise Killed

    monkeypatch.setattr(training, "fit", killed_fit)
    with pytest.raises(Killed):
        rnnlm.resume(copy, epochs=1, lr=1e-5, batch_size=4)
    assert (copy / "config.json").read_bytes() == before


def test_a_new_run_is_checked_again_once_its_folder_is_locked(trained_run, tmp_path):
    """Two trainings given one new --out both passed the first check before either made the
    folder; the second then wrote into the run the first had finished."""
    import shutil

    from rnnlm import runs
    from rnnlm.errors import RnnlmError

    _, run = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)  # the run the first command made meanwhile
    before = _files(copy)
    with pytest.raises(RnnlmError, match="is already a run"):
        with runs.new_run(copy, force=False):
            raise AssertionError("not reached")
    assert _files(copy) == before


def test_temporary_files_of_a_killed_command_are_removed_not_blamed(trained_run, tmp_path):
    import shutil

    _, run = trained_run
    corpus = trained_run[0]
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / ".tmp-1a2b3c4d-curves.png").write_bytes(b"half")
    (copy / "checkpoints" / ".tmp-5e6f7a8b-last.weights.h5").write_bytes(b"half")
    code, output = invoke("train", "--resume", copy, "--epochs", "1")
    assert code == 0, output
    assert not [p for p in copy.rglob(".tmp-*")]
    (copy / ".tmp-1a2b3c4d-state.json").write_bytes(b"half")
    code, output = invoke("train", corpus, "--out", copy, "--force", *TINY_MODEL)
    assert code == 0, output  # --force: rnnlm's own leftovers are not the user's files


def test_valid_fraction_is_refused_for_a_corpus_with_its_own_validation_text(tmp_path):
    """ptb comes with ptb.valid.txt: --valid-fraction was recorded in config.json and ignored."""
    from tests.conftest import TINY_TEXT

    mirror = tmp_path / "mirror" / "ptb"
    mirror.mkdir(parents=True)
    for split in ("train", "valid", "test"):
        (mirror / f"ptb.{split}.txt").write_text(TINY_TEXT, encoding="utf-8")
    code, output = invoke("train", "ptb", "--data-dir", mirror.parent, "--out", tmp_path / "run",
                          "--valid-fraction", "0.5", *TINY_MODEL)
    assert code == 2 and "its own validation text" in output and "--valid-fraction" in output
    assert not (tmp_path / "run").exists()
    code, output = invoke("train", "ptb", "--data-dir", mirror.parent, "--out", tmp_path / "run",
                          *TINY_MODEL)
    assert code == 0, output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["valid_fraction"] == 0 and config["source"]["own_validation"]
    code, output = invoke("info", tmp_path / "run")
    training = next(line for line in output.splitlines() if line.startswith("training"))
    assert "corpus       ptb, validation its own" in output and "valid_fraction" not in training
    # A run made before own_validation was kept (its config said valid_fraction 0.1)
    del config["source"]["own_validation"]
    config["train"]["valid_fraction"] = 0.1
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    code, output = invoke("info", tmp_path / "run")
    training = next(line for line in output.splitlines() if line.startswith("training"))
    assert "corpus       ptb, validation its own" in output and "valid_fraction" not in training
    for fraction in ("0.1", "0"):  # --resume: refused as in training, for the same reason
        code, output = invoke("train", "--resume", tmp_path / "run", "--valid-fraction", fraction)
        assert code == 2 and "comes with its own validation text" in output, output


def test_an_export_that_fails_keeps_the_earlier_one(trained_run, tmp_path, monkeypatch):
    """A full disk while the SavedModel is written: one line, not TensorFlow's pages; and a
    failure while the new export is put in place brings the earlier one back."""
    import keras
    import tensorflow as tf

    from rnnlm import export

    _, run = trained_run
    out = tmp_path / "exported"
    assert invoke("export", run, "--out", out)[0] == 0
    before = _files(out)
    real_archive = keras.export.ExportArchive

    def archive_on_a_full_disk():  # ExportArchive() makes the backend's own subclass
        archive = real_archive()

        def disk_full(*args, **kwargs):
            raise tf.errors.ResourceExhaustedError(None, None, "SaveV2: No space left\non device")
        archive.write_out = disk_full
        return archive

    monkeypatch.setattr(keras.export, "ExportArchive", archive_on_a_full_disk)
    code, output = invoke("export", run, "--out", out, "--force")
    assert code == 2 and "cannot write the export" in output and "No space left" in output, output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
    monkeypatch.setattr(keras.export, "ExportArchive", real_archive)
    real_rename, calls = export.Path.rename, []

    def rename_fails_once_aside(self, target):
        calls.append(target)
        if len(calls) == 2:  # the new export into place, after the earlier one went aside
            raise OSError(5, "Input/output error")
        return real_rename(self, target)

    monkeypatch.setattr(export.Path, "rename", rename_fails_once_aside)
    code, output = invoke("export", run, "--out", out, "--force")
    assert code == 2, output
    monkeypatch.setattr(export.Path, "rename", real_rename)
    assert _files(out) == before  # the earlier export is where it was, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]  # nothing left beside
    # a place the working folder cannot be made in is named by --out, not by that folder
    code, output = invoke("export", run, "--out", "/proc/rnnlm-export")
    assert code == 2 and output.strip() == (
        "error: cannot write the export /proc/rnnlm-export: No such file or directory"), output


def test_a_run_trained_from_a_pipe_is_resumed_from_a_file(tmp_path):
    """--resume of a run whose corpus was a named pipe waited forever for a writer."""
    import os
    import threading

    from tests.conftest import TINY_TEXT

    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(TINY_TEXT, encoding="utf-8"))
    writer.start()
    run = tmp_path / "run"
    code, output = invoke("train", fifo, "--out", run, *TINY_MODEL)
    writer.join()
    assert code == 0, output
    code, output = invoke("train", "--resume", run, "--epochs", "1")
    assert code == 2 and "not a regular file" in output and "FILE" in output, output
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    assert invoke("train", "--resume", run, corpus, "--epochs", "1")[0] == 0


def test_a_journal_names_only_a_runs_own_files(trained_run, tmp_path):
    """A run folder from elsewhere with a crafted .commit.json must not rename files outside
    it (a plain `rnnlm info` finishes a journal), and a folder that is not a run keeps its own
    .commit.json and .tmp- files."""
    import shutil

    from rnnlm import runs

    _, run = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    (copy / ".tmp-payload").write_text("payload")
    (copy / ".tmp-aaaa-state.json").write_text("{}")
    (copy / runs.JOURNAL).write_text(json.dumps([
        [".tmp-payload", str(victim)], [".tmp-payload", "../victim.txt"],
        ["../.tmp-x", "state.json"], [".tmp-payload", "tokenizer.json"], "not a pair", [1, 2],
        [".tmp-aaaa-state.json", "state.json"]]))
    before = (copy / "tokenizer.json").read_bytes()
    code, output = invoke("info", copy)
    assert code == 0, output
    assert victim.read_text() == "mine" and (copy / "tokenizer.json").read_bytes() == before
    assert json.loads((copy / "state.json").read_text()) == {}  # the one entry that is rnnlm's
    assert not (copy / runs.JOURNAL).exists() and not list(copy.glob(".tmp-*"))
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / runs.JOURNAL).write_text("[]")
    (mine / ".tmp-notes").write_text("notes")
    code, output = invoke("generate", mine)
    assert code == 2 and "not an rnnlm run" in output
    assert sorted(p.name for p in mine.iterdir()) == [runs.JOURNAL, ".tmp-notes"]


def test_cells_take_the_names_learners_type(tiny_corpus, tmp_path):
    """Keras's class names and other cases, as `rnnlm explain` takes them: `--cell GRU` trains
    a gru (it was refused), and the run's config keeps the name `rnnlm` uses."""
    import json

    run = tmp_path / "run"
    code, output = invoke("train", tiny_corpus, "--out", run, "--cell", "GRU", *TINY_MODEL)
    assert code == 0, output
    assert json.loads((run / "config.json").read_text())["model"]["cell"] == "gru"
    code, output = invoke("train", "--resume", run, "--cell", "Gru", "--epochs", "1")
    assert code == 0, output
    code, output = invoke("train", "--resume", run, "--cell", "LSTM", "--epochs", "1")
    assert code == 2 and "cannot change the architecture: cell is gru" in output, output


@pytest.mark.parametrize("args", [
    ["train", "--resume", ""], ["train", "--out", ""], ["generate", ""], ["info", ""],
    ["eval", "", "x.txt"], ["export", "", "--out", "x"], ["classify", "predict", "", "hi"],
    ["classify", "train", "x.csv", "--from-lm", ""],
    ["classify", "train", "x.csv", "--valid", ""], ["classify", "train", "x.csv", "--test", ""],
    ["classify", "train", "x.csv", "--data-dir", ""],
])
def test_an_empty_path_is_refused_not_taken_for_the_current_folder(args):
    code, output = invoke(*args)
    assert code == 2 and "an empty string (an unset shell variable?)" in output, output
    assert len(output.strip().splitlines()) == 1
    named = next((a for a in args if a.startswith("--") and args[args.index(a) + 1] == ""), None)
    assert named is None or named in output, output  # the option it came with is named


def test_an_empty_new_path_for_a_resumed_run_is_refused(trained_run):
    _, run = trained_run
    for given, named in (([""], "the corpus's new path"), (["--valid", ""], "--valid"),
                         (["--data-dir", ""], "--data-dir")):
        code, output = invoke("train", "--resume", run, *given, "--epochs", "1")
        assert code == 2 and f"{named} is an empty string" in output, output


def test_eval_reads_held_out_text_in_the_run_s_encoding(tmp_path):
    """A cp949 corpus's held-out file is cp949 too: eval reads it so unless told otherwise
    (it read UTF-8 and refused it), and info says the encoding."""
    text = "안녕하세요 여러분. 오늘은 날씨가 좋습니다.\n" * 40
    corpus, held_out = tmp_path / "ko.txt", tmp_path / "held.txt"
    corpus.write_bytes(text.encode("cp949"))
    held_out.write_bytes(text[:200].encode("cp949"))
    run = tmp_path / "run"
    code, output = invoke("train", corpus, "--encoding", "cp949", "--out", run, *TINY_MODEL)
    assert code == 0, output
    code, output = invoke("eval", run, held_out)
    assert code == 0 and "perplexity" in output, output
    assert "as cp949, the run's corpus encoding (--encoding utf-8 to read it otherwise)" in output
    code, output = invoke("eval", run, held_out, "--encoding", "utf-8")
    assert code == 2 and "is not valid utf-8" in output, output
    code, output = invoke("info", run)
    assert code == 0 and "ko.txt (encoding cp949)" in output, output


def test_a_run_with_a_file_deleted_or_cut_short_is_named_for_what_happened(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    assert invoke("train", tiny_corpus, "--out", run, *TINY_MODEL)[0] == 0
    weights = (run / "model.weights.h5").read_bytes()
    (run / "model.weights.h5").write_bytes(weights[:100])  # a copy cut short
    code, output = invoke("generate", run, "--length", "5")
    assert code == 2 and "model.weights.h5: the file is damaged" in output, output
    assert "config.json" not in output and len(output.strip().splitlines()) == 1, output
    code, output = invoke("info", run)  # what the run was is still told, with a warning
    assert code == 0 and "model        1 × lstm 16" in output, output
    assert output.strip().splitlines()[-1].startswith("warning: cannot load"), output
    (run / "model.weights.h5").unlink()
    code, output = invoke("generate", run, "--length", "5")
    assert code == 2 and "state.json counts 1 epoch: was it deleted?" in output, output
    (run / "model.weights.h5").write_bytes(weights)
    history = (run / "history.json").read_bytes()
    (run / "history.json").unlink()  # a resume would lose the run's epochs from it
    code, output = invoke("train", "--resume", run, "--epochs", "1")
    assert code == 2 and "cannot be resumed: history.json is missing" in output, output
    (run / "history.json").write_bytes(history)
    assert invoke("train", "--resume", run, "--epochs", "1")[0] == 0
    assert len(json.loads((run / "history.json").read_text())["epochs"]) == 2


def test_generate_echoes_a_windows_or_old_mac_prompt_with_the_line_breaks_the_model_read(
        trained_run):
    _, run = trained_run
    unix = invoke("generate", run, "--prompt", "the\nquick", "--length", "8", "--seed", "2")
    for typed in ("the\r\nquick", "the\rquick"):  # a lone \r would overtype the line it ends
        code, output = invoke("generate", run, "--prompt", typed, "--length", "8", "--seed", "2")
        assert code == 0 and "\r" not in output and output == unix[1], output


def test_version_is_the_package_s():
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"rnnlm {rnnlm.__version__}\n"
    assert rnnlm.__version__ == project["project"]["version"]
