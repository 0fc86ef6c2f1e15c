"""bench/train.py against the library as it is: its throughput path at a tiny shape, one
window, nothing saved; and how it stops when a variant or a child process fails. The figures
stay in the bench (bench/results); this only catches the bench falling out of step with rnnlm,
as when it still called a helper that had been removed and every rnnlm row of a throughput run
failed."""
import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
TINY = dict(vocabulary_size=30, embedding_dim=8, units=16, num_layers=1, batch_size=4,
            seq_len=12, window_batches=2)


@pytest.fixture
def bench_train(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # the script imports its neighbour common.py
    spec = importlib.util.spec_from_file_location("bench_train", BENCH / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, config in list(module.CONFIGS.items()):  # a fresh module per test, restored
        recipe = {"recipe": config["recipe"]} if "recipe" in config else {}  # char_wide's
        monkeypatch.setitem(module.CONFIGS, name, {**TINY, **recipe})
    return module


@pytest.mark.parametrize("name", ["char", "word", "char_wide"])
def test_every_throughput_variant_builds_and_trains(bench_train, name):
    # XLA's compile takes longer than the rest together and is plain Keras, not rnnlm's path.
    config = bench_train.CONFIGS[name]
    variants = [k for k in bench_train.variants_for(name, config) if k != "keras_baseline_xla"]
    result = bench_train.throughput([name], windows=1, only=variants)[name]
    assert result["failed"] == {}
    assert set(result["variants"]) == set(variants)
    assert all(row["tokens_per_second"] > 0 for row in result["variants"].values())


def make_the_real_run_small(bench_train, monkeypatch, tmp_path, tiny_corpus, name, window_batches):
    """Set the harness check of config ``name`` to train a tiny model on the tiny corpus,
    ``10 × window_batches`` batches an epoch."""
    _, options = bench_train.QUALITY[name]
    small = {**options, "units": 16, "embedding_dim": 8}
    monkeypatch.setitem(bench_train.QUALITY, name, (str(tiny_corpus), small))
    monkeypatch.setenv("RNNLM_BENCH_RUNS", str(tmp_path))
    monkeypatch.setattr(bench_train, "DATA", tmp_path)  # a folder; the data mirror may be absent
    config = {**bench_train.CONFIGS[name], "window_batches": window_batches}
    monkeypatch.setitem(bench_train.CONFIGS, name, config)


@pytest.mark.parametrize("name", ["char", "word", "char_wide"])
def test_harness_check_times_its_windows_around_a_real_run(bench_train, monkeypatch, tmp_path,
                                                          tiny_corpus, name):
    # Every config the throughput bench takes has a real run to check against (char_wide had
    # none, and `harness --configs char_wide` stopped on a KeyError). Ten batches an epoch, so
    # whole epochs finish in the budget however loaded the host is (at the config's 160, a CI
    # run with two test workers finished none of char_wide's in 6 s). 10 s: on a host busy
    # with two trainings beside the suite, the char config's first epoch (its compiling
    # included) did not end inside 6.
    make_the_real_run_small(bench_train, monkeypatch, tmp_path, tiny_corpus, name, window_batches=1)
    result = bench_train.harness_check([name], seconds=10)[name]
    assert result["real_epochs_tokens_per_second"]
    assert all(rate > 0 for rate in result["real_epochs_tokens_per_second"])
    assert all(rate > 0 for rate in result["harness_tokens_per_second"])
    assert result["real_over_harness"] > 0


def test_a_harness_check_with_no_whole_real_epoch_says_so(bench_train, monkeypatch, tmp_path,
                                                         tiny_corpus):
    # A million batches an epoch: the clock ends the run inside the first one.
    make_the_real_run_small(bench_train, monkeypatch, tmp_path, tiny_corpus, "char",
                            window_batches=100_000)
    monkeypatch.setattr(bench_train, "time_window", lambda model, stream, batches: 1.0)
    with pytest.raises(SystemExit, match="finished no whole epoch of 1000000 batches in 2 s"):
        bench_train.harness_check(["char"], seconds=2)


def test_a_failed_rnnlm_variant_stops_the_bench_before_it_saves(bench_train):
    xla_only = {"char": {"failed": {"keras_baseline_xla": "InvalidArgumentError: ..."}}}
    bench_train.refuse_broken_variants(xla_only)  # plain Keras failing is a result, not a bug
    broken = {"char": {"failed": {"rnnlm_recipe": "AttributeError: no attribute '_loss'"}}}
    with pytest.raises(SystemExit, match="rnnlm_recipe"):
        bench_train.refuse_broken_variants(broken)


def test_a_failed_threads_child_passes_its_reason_up(bench_train, monkeypatch):
    reason = "  char rnnlm_default: AttributeError: no attribute '_loss'"
    failed = bench_train.subprocess.CompletedProcess(
        [], 1, stdout="", stderr=f"rnnlm variants failed, nothing saved:\n{reason}\n")
    monkeypatch.setattr(bench_train.subprocess, "run", lambda *args, **kwargs: failed)
    with pytest.raises(SystemExit, match="threads 2x2: .*AttributeError: no attribute '_loss'"):
        bench_train.thread_settings(["char"], rounds=1, windows=1)


def test_corpus_bench_encodes_both_ways_and_trains(monkeypatch, tmp_path):
    """bench/corpus.py's variants, in this process on a small corpus: the whole-text and the
    piecewise encodings count the same tokens, and the real run trains."""
    from tests.conftest import TINY_TEXT

    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_corpus", BENCH / "corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source = tmp_path / "source.txt"  # the bench's own sources are in the data mirror
    source.write_text(TINY_TEXT, encoding="utf-8")
    monkeypatch.setattr(module, "SOURCES", {"char": source, "word": source})
    corpora = {kind: str(module.make_corpus(kind, 0.3, tmp_path)) for kind in ("char", "word")}
    for kind, corpus in corpora.items():
        whole, pieces = (module.child(kind, variant, corpus, str(tmp_path))
                         for variant in ("encode_whole", "encode_pieces"))
        assert whole["tokens"] == pieces["tokens"] > 10_000
        assert whole["peak_above_import_mib"] >= 0 and whole["seconds"] > 0
    run = module.child("char", "train_5_steps", corpora["char"], str(tmp_path))
    assert (tmp_path / "char_train_5_steps" / "model.weights.h5").exists() and run["seconds"] > 0


def test_short_budget_bench_trains_its_rows_and_counts_tokens_per_parameter(
        monkeypatch, tmp_path, tiny_corpus):
    """bench/short_budget.py on a row of its own: a real `rnnlm train --time-limit` process,
    then the run read back (its tokens trained over the size's recurrent parameters)."""
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_short_budget", BENCH / "short_budget.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "ROWS", {"tiny": ([str(tiny_corpus)], 3, [(1, 16)])})
    monkeypatch.setattr(module, "RESULTS", tmp_path / "short_budget.json")
    results = module.main(["--rows", "tiny", "--out-dir", str(tmp_path / "runs")])
    run = results["rows"]["tiny"]["tiny-1x16"]
    assert run["size"] == "1 × 16" and run["recurrent_parameters"] == 4 * 16 * (64 + 17)
    assert run["tokens_trained"] > 0 and run["tokens_per_parameter"] > 0 and run["best"] > 0
    assert results["machines"]["tiny"]["cores"] >= 1  # each row says the host it was made on
