"""Training benchmark: throughput (tokens/s) and quality within a wall-clock budget.

    python bench/train.py throughput [--threads 2] [--windows 3] [--configs char,word]
    python bench/train.py ceiling                     # matmul rates → a tokens/s bound
    python bench/train.py ceiling --configs char_wide # the same for the 30-minute char model
    python bench/train.py threads [--rounds 2]        # intra/inter-op thread settings
    python bench/train.py memory                      # peak RSS per variant, one process each
    python bench/train.py harness                     # throughput windows vs real rnnlm.train
    python bench/train.py quality char --time-limit 720
    python bench/train.py quality word --time-limit 1800
    python bench/train.py quality char_auto --set epochs=24 --set seed=1   # step-based: no clock
    python bench/train.py table                       # markdown table from results/train.json

Throughput: every variant is built in one process and timed in interleaved windows
(variant A window 1, variant B window 1, A window 2, ...), so a neighbour's load on a shared
machine hits all variants alike; the figure is the median window after one warm-up window, and
every comparison is a ratio from the same run. Each window is ``model.fit`` over a fixed number
of batches, timed from the end of its first batch to the end of its last.

Results are merged into bench/results/train.json (one key per section) and printed as JSON and
a markdown table.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import common  # bench/common.py: the script's own folder is on sys.path
from rnnlm import defaults  # light: no TensorFlow

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
RESULTS = Path(os.environ.get("RNNLM_BENCH_RESULTS", HERE / "results" / "train.json"))
DATA = Path(os.environ.get("RNNLM_DATA", HERE.parent.parent / "shared" / "data"))

SHARED_CPU_NOTE = ("2-core CPU shared with other engineers' test runs; ratios are taken side by "
                   "side in one process (interleaved windows), absolute figures vary with the "
                   "neighbours' load")

# The 30-minute char model: the probe's 1 × 512 for tiny-shakespeare, widened (768).
WIDE_UNITS = round(512 * defaults.WIDER["width"])

CONFIGS = {  # the two configurations, and the 30-minute char model (char_wide)
    "char": dict(vocabulary_size=65, embedding_dim=64, units=512, num_layers=1,
                 batch_size=64, seq_len=100, window_batches=8),
    "word": dict(vocabulary_size=10000, embedding_dim=200, units=200, num_layers=2,
                 batch_size=20, seq_len=35, window_batches=40),
    # Not the issue's: the wider model the char default trains in a 30-minute run (the probe's
    # 1 × 768, defaults.WIDER) at the recipe's batch, for `throughput` and `ceiling` with
    # --configs char_wide; "recipe" names the tokenizer recipe its rnnlm_recipe row follows.
    "char_wide": dict(vocabulary_size=65, embedding_dim=64, units=WIDE_UNITS, num_layers=1,
                      batch_size=32, seq_len=100, window_batches=16, recipe="char"),
}


# --------------------------------------------------------------------------- machine info
def set_threads(threads: int, inter: int | None = None) -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads if inter is None else inter)


# --------------------------------------------------------------------------- models
def plain_keras(cfg, jit_compile=False):
    """The tutorial way: Sequential Embedding → LSTM(s) → Dense, compile, model.fit."""
    import keras

    layers = [keras.layers.Embedding(cfg["vocabulary_size"], cfg["embedding_dim"])]
    layers += [keras.layers.LSTM(cfg["units"], return_sequences=True)
               for _ in range(cfg["num_layers"])]
    layers.append(keras.layers.Dense(cfg["vocabulary_size"]))
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(2e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit_compile)
    return model


def rnnlm_model(cfg, fused="auto", precision="float32", optimizer=("adam", 2e-3, 5.0),
                **model_options):
    """rnnlm's LanguageModel compiled as rnnlm.api compiles it; float32 is the training path
    on a CPU without AMX, ``precision="bfloat16"`` every recipe's on a CPU with AMX
    (precision.resolve_precision). ``optimizer``: (name, lr, clipnorm)."""
    from rnnlm import optimizers, training
    from rnnlm.config import ModelConfig
    from rnnlm.models.precision import set_training_precision
    from rnnlm.models.language_model import LanguageModel

    mc = ModelConfig(vocabulary_size=cfg["vocabulary_size"], embedding_dim=cfg["embedding_dim"],
                     units=cfg["units"], num_layers=cfg["num_layers"], **model_options)
    model = LanguageModel(mc)
    for layer in model.backbone.rnn_layers:
        if hasattr(layer, "fused"):
            layer.fused = fused
    model.build_for_inference()
    set_training_precision(model, precision)
    name, lr, clipnorm = optimizer
    model.compile(optimizer=optimizers.build_optimizer(lr, clipnorm, name=name),
                  loss=training.lm_loss())
    return model


def rnnlm_recipe_model(cfg, name):
    """What `rnnlm train` builds for this shape with the tokenizer's recipe: its optimizer,
    weight tying and precision ("auto" resolved on this machine); the batch stays the config's
    so the row compares with the others."""
    from rnnlm.models.precision import resolve_precision

    tokenizer = cfg.get("recipe", name)  # the config's own name, or the recipe it names
    recipe = defaults.RECIPES[tokenizer]
    return rnnlm_model(cfg, precision=resolve_precision(recipe["precision"]),
                       optimizer=(recipe["optimizer"], recipe["lr"], recipe["clipnorm"]),
                       tie_weights=tokenizer != "char")  # defaults.fill_model_options' rule


def synthetic_ids(cfg, tokens=400_000, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)  # token identity does not change the cost of a step
    return rng.integers(1, cfg["vocabulary_size"], size=tokens).astype(np.uint16)


def dataset_for(cfg, ids, batch_size=None):
    from rnnlm import data

    return data.lm_dataset(ids, cfg["seq_len"], batch_size or cfg["batch_size"]).repeat()


# --------------------------------------------------------------------------- throughput
class BatchClock:
    def __init__(self):
        import keras

        class Clock(keras.callbacks.Callback):
            def on_train_batch_end(inner, batch, logs=None):
                self.times.append(time.perf_counter())
        self.callback, self.times = Clock(), []


def time_window(model, iterator_ds, batches: int) -> float:
    """Seconds for ``batches`` training steps (first step's end → last step's end)."""
    clock = BatchClock()
    model.fit(iterator_ds, epochs=1, steps_per_epoch=batches + 1, verbose=0,
              callbacks=[clock.callback])
    return clock.times[-1] - clock.times[0]


def input_rate(cfg, ids, batches=200) -> float:
    """Tokens/s of the input pipeline alone (iterating the training dataset, no model): if it is
    far above the training rate, input never stalls a step and caching has nothing to win."""
    iterator = iter(dataset_for(cfg, ids))
    for _ in range(5):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * cfg["batch_size"] * cfg["seq_len"] / (time.perf_counter() - start)


def matmul_flops_per_token(cfg) -> dict:
    """FLOPs (2 × multiply-adds) of one training token's matmuls, by the shape they run in:
    ``loop`` the recurrent (B, U) × (U, 4U) products, forward and the backward dh, which the
    recurrence keeps one step at a time; ``lstm`` the LSTM products over all T·B rows at once
    (input projection, its two gradients, the recurrent weight gradient); ``output`` the
    output layer's (T·B, U) × (U, V) product and its two gradients."""
    e, u, v = cfg["embedding_dim"], cfg["units"], cfg["vocabulary_size"]
    inputs = [e] + [u] * (cfg["num_layers"] - 1)
    return {"loop": sum(2 * 2 * u * 4 * u for _ in inputs),
            "lstm": sum(3 * 2 * i * 4 * u + 2 * u * 4 * u for i in inputs),
            "output": 3 * 2 * u * v}


def matmul_ceiling(cfg, dtype="float32") -> dict:
    """How fast this machine runs the training step's three matmul shapes, and the tokens/s
    the model would reach if its matmuls were all it did (an upper bound: elementwise work,
    the loop's own cost and the optimizer are left out)."""
    import tensorflow as tf

    b, t, u, v = cfg["batch_size"], cfg["seq_len"], cfg["units"], cfg["vocabulary_size"]
    low = tf.as_dtype(dtype)
    recurrent = tf.cast(tf.random.normal([u, 4 * u]) * 0.01, low)
    rows = tf.cast(tf.random.normal([t * b, u]), low)
    gates = tf.cast(tf.random.normal([t * b, 4 * u]), low)
    output = tf.cast(tf.random.normal([u, v]) * 0.01, low)

    @tf.function
    def loop():  # (B, U) × (U, 4U), T dependent steps in a while loop, as in the recurrence
        def step(i, h):
            return i + 1, tf.tanh(tf.cast(tf.matmul(tf.cast(h, low), recurrent), tf.float32))[:, :u]
        return tf.while_loop(lambda i, _: i < t, step, (0, tf.zeros([b, u])))[1]

    shapes = {"loop": (loop, 2 * t * b * u * 4 * u),
              "lstm": (tf.function(lambda: tf.matmul(rows, gates, transpose_a=True)),
                       2 * t * b * u * 4 * u),  # the recurrent weight gradient's shape
              "output": (tf.function(lambda: tf.matmul(rows, output)), 2 * t * b * u * v)}
    gflops = {}
    for name, (fn, flops) in shapes.items():
        fn()  # trace
        rounds = []  # the best of 5 rounds: a bound wants the machine's rate, not a neighbour's
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(5):
                fn().numpy()
            rounds.append(flops * 5 / (time.perf_counter() - start) / 1e9)
        gflops[name] = max(rounds)
    per_token = matmul_flops_per_token(cfg)
    seconds_per_token = sum(per_token[k] / (gflops[k] * 1e9) for k in per_token)
    return {"dtype": dtype, "gflops_by_shape": gflops, "flops_per_token_by_shape": per_token,
            "bound_tokens_per_second": 1.0 / seconds_per_token}


def ceilings(config_names) -> dict:
    from rnnlm.models.precision import cpu_has_bf16_matmul, gpu_visible

    native = cpu_has_bf16_matmul() and not gpu_visible()
    dtypes = ["float32"] + (["bfloat16"] if native else [])
    return {name: [matmul_ceiling(CONFIGS[name], dtype) for dtype in dtypes]
            for name in config_names}


def variants_for(name, cfg, only=None):
    """name → (builder, batch_size). Each lever is one variant of rnnlm's path."""
    out = {
        "keras_baseline": (lambda: plain_keras(cfg), cfg["batch_size"]),
        "keras_baseline_xla": (lambda: plain_keras(cfg, jit_compile=True), cfg["batch_size"]),
        "rnnlm_keras_lstm_f32": (lambda: rnnlm_model(cfg, fused=False), cfg["batch_size"]),
        # The fused CPU LSTM in float32: what `rnnlm train` runs on a CPU without AMX (with
        # Adam; the word recipe's SGD and tying are in rnnlm_recipe).
        "rnnlm_default": (lambda: rnnlm_model(cfg), cfg["batch_size"]),
        # bfloat16 matmuls (--precision bfloat16; what every recipe's "auto" picks
        # on a CPU with AMX). Without AVX512_BF16 or AMX oneDNN has no native bfloat16 matmul
        # and this measures what forcing it would cost.
        "rnnlm_fused_bf16": (lambda: rnnlm_model(cfg, precision="bfloat16"), cfg["batch_size"]),
        "rnnlm_default_batch2x": (lambda: rnnlm_model(cfg), 2 * cfg["batch_size"]),
        # The tokenizer's whole recipe (for word: SGD and tied weights instead of Adam, untied).
        "rnnlm_recipe": (lambda: rnnlm_recipe_model(cfg, name), cfg["batch_size"]),
    }
    return {k: v for k, v in out.items() if only is None or k in only}


def throughput(config_names, windows: int, only=None) -> dict:
    import gc

    results = {}
    for name in config_names:
        cfg = CONFIGS[name]
        ids = synthetic_ids(cfg)
        variants = variants_for(name, cfg, only)
        models, streams, seconds = {}, {}, {k: [] for k in variants}
        failed = {}
        for key, (build, batch) in variants.items():
            try:
                models[key] = build()
                streams[key] = dataset_for(cfg, ids, batch)
                time_window(models[key], streams[key], 3)  # warm-up: tracing, allocation
            except Exception as e:  # e.g. a path XLA cannot compile: report it, time the rest
                failed[key] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
                models.pop(key, None)
        variants = {k: v for k, v in variants.items() if k in models}
        for _ in range(windows):
            for key in variants:
                seconds[key].append(time_window(models[key], streams[key],
                                                cfg["window_batches"]))
        base = None
        rows = {}
        for key, (build, batch) in variants.items():
            tokens = cfg["window_batches"] * batch * cfg["seq_len"]
            rates = [tokens / s for s in seconds[key]]
            rows[key] = {"tokens_per_second": statistics.median(rates),
                         # the best window: closest to a quiet machine when the host is shared
                         "best_window_tokens_per_second": max(rates),
                         "windows_tokens_per_second": rates, "batch_size": batch,
                         "seq_len": cfg["seq_len"]}
        base = rows.get("keras_baseline", {}).get("tokens_per_second")
        for row in rows.values():
            if base:
                row["ratio_vs_keras_baseline"] = row["tokens_per_second"] / base
        results[name] = {"config": {k: v for k, v in cfg.items() if k != "window_batches"},
                         "window_batches": cfg["window_batches"], "windows": windows,
                         "variants": rows, "failed": failed,
                         "input_pipeline_tokens_per_second": input_rate(cfg, ids)}
        del models
        gc.collect()
    return results


def refuse_broken_variants(results: dict) -> None:
    """A plain-Keras variant may fail as data (XLA cannot compile every path), but one of
    rnnlm's own failing is a bug in rnnlm or in this script: stop before saving, so that the
    last good figures in bench/results are not replaced by a table with rnnlm's rows missing."""
    broken = [f"{name} {key}: {why}" for name, result in results.items()
              for key, why in result["failed"].items() if key.startswith("rnnlm")]
    if broken:
        sys.exit("rnnlm variants failed, nothing saved:\n  " + "\n  ".join(broken))


def child_error(done: subprocess.CompletedProcess) -> str:
    """The last line a failed child process wrote to stderr: its one-line reason."""
    lines = done.stderr.strip().splitlines()
    return lines[-1][:200] if lines else f"exit status {done.returncode}"


THREAD_SETTINGS = ("2x2", "2x1", "1x1", "0x0")  # intra x inter; 0 = TensorFlow's own choice


def thread_settings(config_names, rounds: int, windows: int) -> dict:
    """rnnlm's default path under each intra/inter-op thread setting. Threads are fixed when
    TensorFlow starts, so each setting is a child process; the settings take turns for
    ``rounds`` rounds, and a setting's figure is the median over all its windows."""
    import tempfile

    rates = {s: {name: [] for name in config_names} for s in THREAD_SETTINGS}
    for _ in range(rounds):
        for setting in THREAD_SETTINGS:
            intra, inter = setting.split("x")
            with tempfile.TemporaryDirectory() as tmp:
                env = {**os.environ, "RNNLM_BENCH_RESULTS": str(Path(tmp) / "child.json")}
                cmd = [sys.executable, __file__, "throughput", "--variants", "rnnlm_default",
                       "--configs", ",".join(config_names), "--windows", str(windows),
                       "--threads", intra, "--inter-threads", inter]
                done = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if done.returncode:  # e.g. the child refused a broken rnnlm variant: say why
                    sys.exit(f"threads {setting}: the throughput run failed: {child_error(done)}")
                child = json.loads((Path(tmp) / "child.json").read_text())["throughput"]
            for name in config_names:
                row = child[name]["variants"]["rnnlm_default"]
                rates[setting][name] += row["windows_tokens_per_second"]
    return {setting: {name: {"tokens_per_second": statistics.median(r), "windows": len(r)}
                      for name, r in per_config.items()}
            for setting, per_config in rates.items()}


def memory(config_names, threads) -> dict:
    """Peak RSS of a process that builds one variant and trains 10 batches (one per process)."""
    out = {}
    for name in config_names:
        out[name] = {}
        for key in variants_for(name, CONFIGS[name]):
            cmd = [sys.executable, __file__, "_memory_child", name, key, "--threads", str(threads)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                out[name][key] = {"error": child_error(done)}
                continue
            out[name][key] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def memory_child(name, key) -> None:
    cfg = CONFIGS[name]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    build, batch = variants_for(name, cfg)[key]
    model = build()
    time_window(model, dataset_for(cfg, synthetic_ids(cfg, 100_000), batch), 10)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_mib": peak / 1024, "after_import_rss_mib": before / 1024}))


def harness_check(config_names, seconds: float) -> dict:
    """Does the throughput harness measure what ``rnnlm train`` gets? In one process, side by
    side: the harness's rnnlm_recipe row (synthetic ids, one long window), a real
    ``rnnlm.train`` of the quality corpus at the same shape (no dropout, like the harness; the
    recipe's schedule, windows and precision), then the harness again. A host's speed drifts
    between runs by more than the paths differ (2026-12-05: the same 1 × 768 char run trained
    ~14,500 tok/s at 05:30 and ~10,100 at 09:20), so only a same-process ratio says whether
    the harness and the real path agree."""
    import rnnlm

    runs = Path(os.environ.get("RNNLM_BENCH_RUNS", "/tmp/rnnlm-bench-runs"))
    out = {}
    for name in config_names:
        cfg = CONFIGS[name]
        batches = 10 * cfg["window_batches"]
        tokens = batches * cfg["batch_size"] * cfg["seq_len"]
        ids = synthetic_ids(cfg)

        def harness_rate():
            model = rnnlm_recipe_model(cfg, name)
            stream = dataset_for(cfg, ids)
            time_window(model, stream, 3)
            return tokens / time_window(model, stream, batches)

        before = harness_rate()
        corpus, options = QUALITY[name]
        run = runs / f"harness_check_{name}"
        rnnlm.train(corpus, run, data_dir=str(DATA), time_limit=seconds, force=True, quiet=True,
                    **{**options, "batch_size": cfg["batch_size"], "seq_len": cfg["seq_len"],
                       "dropout": 0.0, "steps_per_epoch": batches})
        history = json.loads((run / "history.json").read_text())["epochs"]
        real = [h["tokens_per_second"] for h in history if not h["partial"]]
        if not real:  # the clock cut the first epoch: no whole epoch's rate to set beside
            sys.exit(f"harness {name}: the real run finished no whole epoch of {batches} batches "
                     f"in {seconds:g} s; give it a longer --time-limit")
        after = harness_rate()
        out[name] = {"harness_tokens_per_second": [before, after],
                     "real_epochs_tokens_per_second": real, "batches_per_epoch": batches,
                     "real_over_harness": statistics.median(real) / ((before + after) / 2)}
    return out


# --------------------------------------------------------------------------- quality
# name → (corpus, rnnlm.train options); --set KEY=VALUE overrides any option. No epochs: with
# --time-limit, rnnlm trains until the budget is spent. With --set epochs=N and no --time-limit
# the run is step-based: the schedule follows the steps, and training is deterministic for a
# seed, so two such runs compare whatever else the host did meanwhile.
QUALITY = {
    # The char model (1 × 512, embedding 64); batch and the rest from rnnlm's recipe.
    "char": ("tinyshakespeare", dict(tokenizer="char", units=512, embedding_dim=64, layers=1,
                                     seq_len=100, valid_fraction=0.1)),
    # What `rnnlm train tinyshakespeare --time-limit T` does: rnnlm sizes the model.
    "char_auto": ("tinyshakespeare", dict(tokenizer="char", valid_fraction=0.1)),
    # The wider model char_auto steps up to in a 30-minute run (defaults.WIDER), fixed, so the
    # harness has a real run for CONFIGS["char_wide"] and a quality run can skip the probe.
    "char_wide": ("tinyshakespeare", dict(tokenizer="char", units=WIDE_UNITS, embedding_dim=64,
                                          layers=1, seq_len=100,
                                          dropout=defaults.WIDER["dropout"],
                                          weight_drop=defaults.WIDER["weight_drop"],
                                          valid_fraction=0.1)),
    "word": ("ptb", dict(tokenizer="word", word_mode="whitespace", units=200,
                         embedding_dim=200, layers=2, dropout=0.2, batch_size=20, seq_len=35)),
    # SentencePiece on the char corpus, model size and vocabulary left to rnnlm's defaults;
    # bits per character make it comparable with the char runs.
    "subword": ("tinyshakespeare", dict(tokenizer="sentencepiece", valid_fraction=0.1)),
}


def quality(name: str, time_limit: float | None, overrides: dict, label: str | None,
            note: str | None = None) -> dict:
    import rnnlm
    from rnnlm import corpora

    corpus, options = QUALITY[name]
    options = {**options, **overrides}
    out = Path(os.environ.get("RNNLM_BENCH_RUNS", "/tmp/rnnlm-bench-runs")) / (label or name)
    lm = rnnlm.train(corpus, out, data_dir=str(DATA), time_limit=time_limit, force=True,
                     quiet=True, **options)
    history = json.loads((out / "history.json").read_text())["epochs"]
    curve = [{"minutes": h["elapsed_seconds"] / 60, "epoch": h["epoch"],
              "val_loss": h.get("val_loss"), "val_bpc": h.get("val_bpc"),
              "val_perplexity": h.get("val_perplexity"), "train_loss": h["loss"],
              "tokens_per_second": h["tokens_per_second"],
              "weight_drop": h.get("weight_drop")} for h in history]  # the recipe may switch it
    best = min(curve, key=lambda p: p["val_loss"])
    final = {"best_val_loss_nats": best["val_loss"], "best_val_bpc": best["val_bpc"],
             "best_val_perplexity": best["val_perplexity"], "at_minutes": best["minutes"]}
    text = corpora.resolve(corpus, str(DATA))
    if getattr(text, "test", None):
        test = lm.evaluate(text.test)  # best-validation weights, state carried through the file
        final.update(test_perplexity=test["perplexity"], test_loss=test["loss"],
                     test_tokens=test["tokens"])
    metrics = ["val_loss", "val_perplexity"] if name == "word" else ["val_loss", "val_bpc"]
    budget = budget_label(options.get("epochs"), time_limit)
    result = {"description": f"{corpus}, {budget}",
              "options": options, "time_limit_s": time_limit, "metrics": metrics,
              "load_average_at_end": os.getloadavg(),
              "machine": common.machine_info(None, note=SHARED_CPU_NOTE),
              "curve": curve, "final": final}
    model = json.loads((out / "config.json").read_text())["model"]
    result["model"] = {key: model[key] for key in ("num_layers", "units", "embedding_dim",
                                                   "dropout", "weight_drop")}  # as trained
    if note:  # e.g. which commit ran it, when the run is taken from an exported copy
        result["code_note"] = note
    return {label or name: result}


def budget_label(epochs: int | None, time_limit: float | None) -> str:
    if time_limit is None:
        return f"{epochs} epochs, no time limit"
    if epochs:  # the schedule follows the steps unless the budget runs out first
        return f"{epochs} epochs, {time_limit / 60:.0f} min budget"
    return f"{time_limit / 60:.0f} min budget"


# The reference runs on this machine (PyTorch word_language_model, 2 threads).
PEER = {
    "tinyshakespeare": {"label": "PyTorch peer plateau, 1.488 nats/char", "val_bpc": 1.488 / math.log(2)},
    "ptb": {"label": "PyTorch peer (2×200, dropout 0.2)", "minutes": [2.33 * k for k in range(1, 13)],
            "val_perplexity": [214, 160, 142, 131, 124, 121, 115, 114, 113, 112, 111, 110.0]},
}


def step_based(result: dict) -> bool:
    """Did the run end on its epochs rather than on the clock?"""
    limit, curve = result["time_limit_s"], result["curve"]
    return limit is None or bool(result["options"].get("epochs") and curve
                                 and curve[-1]["minutes"] * 60 < 0.9 * limit)


def plot_family(runs: dict, path: Path) -> None:
    """One chart for runs of one family (labels sharing the part before the first "_", e.g.
    char_12min and char_30min, or every ablate6_* run), beside the PyTorch reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(runs.values()))
    metric = first["metrics"][-1]
    # Step-based runs compare step for step: their minutes say only how busy the host was.
    x = "epoch" if all(map(step_based, runs.values())) else "minutes"
    # A family can hold dozens of runs: the legend goes below the axes and the figure grows with
    # it, so the curves keep their height whatever the number of runs.
    fig, ax = plt.subplots(figsize=(8, 4.5 + 0.17 * (len(runs) + 1)))
    for i, (label, result) in enumerate(runs.items()):
        # matplotlib cycles 10 colours; a new line style every 10 runs keeps each label unique.
        ax.plot([p[x] for p in result["curve"]], [p[metric] for p in result["curve"]],
                marker="o", ms=3, ls=("-", "--", ":", "-.")[i // 10 % 4], label=label)
    # The first epochs fall steeply and would flatten the part where runs differ: the axis starts
    # at the highest point any run reaches after its first quarter.
    values = [[p[metric] for p in r["curve"]] for r in runs.values() if r["curve"]]
    top = max(v[len(v) // 4] for v in values)
    bottom = min(min(v) for v in values)
    ax.set_ylim(bottom - 0.05 * (top - bottom), top)
    peer = PEER.get(first["description"].split(",")[0], {})
    if metric in peer and "minutes" in peer:  # a curve, one point per epoch of the peer's run
        where = peer["minutes"] if x == "minutes" else range(1, len(peer[metric]) + 1)
        ax.plot(where, peer[metric], "s--", color="gray", label=peer["label"])
    elif metric in peer:
        ax.axhline(peer[metric], ls="--", color="gray", label=peer["label"])
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.14), ncol=1, frameon=False)
    ax.set_xlabel("epoch" if x == "epoch" else "minutes of training (wall clock, incl. validation)")
    ax.set_ylabel(f"validation {metric}")
    ax.set_title(first["description"].split(",")[0])
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")  # the legend sits outside the axes
    plt.close(fig)


def plot_families(quality_runs: dict) -> None:
    families: dict[str, dict] = {}
    for label, result in quality_runs.items():
        families.setdefault(label.split("_")[0], {})[label] = result
    for family, runs in families.items():
        plot_family(runs, RESULTS.parent / f"train_{family}.png")


def parse_overrides(pairs) -> dict:
    out = {}
    for pair in pairs or []:
        key, value = pair.split("=", 1)
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


# --------------------------------------------------------------------------- output
def table(results: dict) -> str:
    lines = []
    quality = results.get("quality", {})
    if quality:
        lines += ["\n### quality runs (best validation point within the budget)", "",
                  "| run | budget | val nats/token | val bpc | val ppl | test ppl | at min |"
                  " tokens/s |", "|---|---|---|---|---|---|---|---|"]
        for name, q in quality.items():
            f = q["final"]
            rate = statistics.median(p["tokens_per_second"] for p in q["curve"])
            budget = (f"{q['options']['epochs']} epochs" if step_based(q) else
                      f"{q['time_limit_s'] / 60:.0f} min")
            lines.append(f"| {name} | {budget} | {f['best_val_loss_nats']:.4f} | "
                         f"{f['best_val_bpc']:.3f} | {f['best_val_perplexity']:.1f} | "
                         f"{f.get('test_perplexity', float('nan')):.1f} | {f['at_minutes']:.1f} | "
                         f"{rate:,.0f} |")
    for name, section in results.get("throughput", {}).items():
        lines += [f"\n### throughput: {name} config "
                  f"(threads {results.get('machine', {}).get('threads')}, median of "
                  f"{section['windows']} windows × {section['window_batches']} batches)", "",
                  "| variant | batch | tokens/s | best window | × plain Keras | peak RSS MiB |",
                  "|---|---|---|---|---|---|"]
        mem = results.get("memory", {}).get(name, {})
        for key, row in section["variants"].items():
            peak = mem.get(key, {}).get("peak_rss_mib")
            best = row.get("best_window_tokens_per_second", float("nan"))
            lines.append(f"| {key} | {row['batch_size']} | {row['tokens_per_second']:,.0f} | "
                         f"{best:,.0f} | {row.get('ratio_vs_keras_baseline', float('nan')):.2f} | "
                         f"{'' if peak is None else f'{peak:,.0f}'} |")
        for ceiling in results.get("matmul_ceiling", {}).get(name, []):
            shapes = ", ".join(f"{k} {ceiling['flops_per_token_by_shape'][k] / 1e6:.2f} MFLOP/token "
                               f"at {g:.0f} GFLOP/s" for k, g in ceiling["gflops_by_shape"].items())
            lines.append(f"\n{ceiling['dtype']} matmuls alone ({shapes}) → at most "
                         f"{ceiling['bound_tokens_per_second']:,.0f} tokens/s on this machine")
        if "input_pipeline_tokens_per_second" in section:
            lines.append(f"\ninput pipeline alone (no model): "
                         f"{section['input_pipeline_tokens_per_second']:,.0f} tokens/s")
    checks = {k: v for k, v in results.get("harness_check", {}).items() if k != "machine"}
    if checks:
        lines += ["\n### harness vs real `rnnlm.train` (rnnlm recipe, same process), tokens/s", "",
                  "| config | harness before | real epochs (median) | harness after | real / harness |",
                  "|---|---|---|---|---|"]
        for name, row in checks.items():
            before, after = row["harness_tokens_per_second"]
            real = statistics.median(row["real_epochs_tokens_per_second"])
            lines.append(f"| {name} | {before:,.0f} | {real:,.0f} | {after:,.0f} | "
                         f"{row['real_over_harness']:.2f} |")
    settings = results.get("threads", {}).get("settings", {})
    if settings:
        names = list(next(iter(settings.values())))
        lines += ["\n### thread settings (intra × inter-op; 0 = TensorFlow's choice), rnnlm "
                  "default path, tokens/s", "", "| threads | " + " | ".join(names) + " |",
                  "|---" * (len(names) + 1) + "|"]
        for setting, per_config in settings.items():
            lines.append(f"| {setting} | " + " | ".join(
                f"{per_config[n]['tokens_per_second']:,.0f}" for n in names) + " |")
    for name, q in results.get("quality", {}).items():
        lines += [f"\n### quality: {name} ({q.get('description', '')})", "",
                  "| minutes | " + " | ".join(q["metrics"]) + " |",
                  "|---" * (len(q["metrics"]) + 1) + "|"]
        for point in q["curve"]:
            lines.append(f"| {point['minutes']:.1f} | " + " | ".join(
                f"{point.get(m, float('nan')):.4f}" for m in q["metrics"]) + " |")
        for key, value in q.get("final", {}).items():
            lines.append(f"\n{key}: {value}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["throughput", "ceiling", "threads", "memory",
                                            "harness", "quality", "table", "plots",
                                            "_memory_child"])
    parser.add_argument("--time-limit", type=float, default=None,
                        help="quality: seconds (720, or none with --set epochs=N); "
                             "harness: the real run's seconds (120)")
    parser.add_argument("--set", action="append", help="quality: rnnlm.train option KEY=VALUE")
    parser.add_argument("--label", default=None, help="quality: result key (default: config)")
    parser.add_argument("--note", default=None, help="quality: recorded as code_note")
    parser.add_argument("args", nargs="*")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--inter-threads", type=int, default=None)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="threads: turns per setting")
    parser.add_argument("--configs", default="char,word")
    parser.add_argument("--variants", default=None, help="comma-separated subset")
    parser.add_argument("--no-save", action="store_true")
    opts = parser.parse_args(argv)
    if opts.command == "table":
        print(table(common.load_results(RESULTS)))
        return
    if opts.command == "plots":  # redraw every quality chart from the JSON
        plot_families(common.load_results(RESULTS).get("quality", {}))
        return
    set_threads(opts.threads, opts.inter_threads)
    if opts.command == "_memory_child":
        memory_child(*opts.args)
        return
    configs = opts.configs.split(",")
    only = opts.variants.split(",") if opts.variants else None
    if opts.command == "quality":
        overrides = parse_overrides(opts.set)
        # --set epochs=N alone: step-based, no clock; neither: the 12-minute budget
        time_limit = opts.time_limit or (None if overrides.get("epochs") else 720.0)
        update = {"quality": quality(opts.args[0], time_limit, overrides, opts.label,
                                     opts.note)}
    elif opts.command == "throughput":
        from rnnlm.models.precision import resolve_precision

        update = {"machine": common.machine_info(opts.threads, note=SHARED_CPU_NOTE,
                                                 auto_precision=resolve_precision("auto"),
                                                 load_average_before=os.getloadavg()),
                  "throughput": throughput(configs, opts.windows, only)}
        refuse_broken_variants(update["throughput"])
    elif opts.command == "harness":
        update = {"harness_check": {**harness_check(configs, opts.time_limit or 120.0),
                                    "machine": common.machine_info(opts.threads,
                                                                   note=SHARED_CPU_NOTE)}}
    elif opts.command == "ceiling":
        update = {"matmul_ceiling": ceilings(configs)}
    elif opts.command == "threads":
        update = {"threads": {"settings": thread_settings(configs, opts.rounds, opts.windows),
                              "rounds": opts.rounds, "note": "intra x inter-op threads; 0 = "
                              "TensorFlow's default; rnnlm's default path, median window"}}
    else:
        update = {"memory": memory(configs, opts.threads),
                  "memory_machine": common.machine_info(opts.threads)}
    results = common.report(update, RESULTS, opts.no_save, table)
    if opts.command == "quality" and not opts.no_save:  # --no-save leaves bench/results alone
        plot_families(results["quality"])


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
