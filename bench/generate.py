"""Generation benchmark: tokens/s of rnnlm's sampler against the ways people usually write it.

    python bench/generate.py run --threads 1      # one intra/inter-op thread (vs. PyTorch 1-thread)
    python bench/generate.py run                  # TensorFlow's default thread pools
    python bench/generate.py cli                  # wall time of `rnnlm generate RUN --length 500`
    python bench/generate.py table                # markdown table from results/generate.json

For each model (random weights: the cost of a step does not depend on them), 1,000 new tokens:

    rnnlm_generate / rnnlm_stream   rnnlm.generation.Generator as LM.generate / LM.stream and the
                                    CLI use it (random sampling, temperature 1; text only, no
                                    log-probabilities); batch 1 and 64;
                                    rnnlm_stream_chunk16: stream with the former 16-token chunks
    rnnlm_generate_detailed         the same with the model's log-probabilities, as
                                    LM.generate_detailed and `--json` compute them
    decoder_graph / decoder_xla     rnnlm.samplers.Decoder with jit_compile False / True
    tutorial_predict                Sequential(Embedding → LSTM → Dense softmax), model.predict on
                                    the last 100-token window for every new token (timed over
                                    --baseline-tokens and extrapolated: it runs ~10 tokens/s)
    eager_step                      a Python loop calling LanguageModel.next eagerly per token
                                    (timed over --eager-tokens and extrapolated)
    raw_step_call                   one next + softmax in a tf.function, one Python call per token
    raw_step_loop                   next + softmax + argmax inside one tf.while_loop: the cost of
                                    the step itself, the floor for any loop (graph and XLA)

Every variant is warmed up (--warmup rounds: tracing, XLA compilation; the first round's time
is kept as first_call_seconds), then the variants are timed in
interleaved rounds (A, B, C, A, B, C, ...) so a neighbour's load on the shared machine hits all
alike; figures are medians over the rounds and every ratio comes from the same run. Each
variant also records its fastest round and its process CPU time: with one thread, CPU time is
close to what the variant costs on an idle machine, whatever the neighbours do.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import common  # bench/common.py: the script's own folder is on sys.path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "generate.json"
DATA = Path(os.environ.get("RNNLM_DATA", HERE.parent.parent / "shared" / "data"))
RUN_DIR = Path(os.environ.get("RNNLM_GENBENCH_RUN", "/tmp/genbench-run"))

CONFIGS = {  # the two models; the vocabulary comes from the tokenizer
    "char": dict(tokenizer="char", embedding_dim=64, units=512, num_layers=1),
    "word": dict(tokenizer="word", embedding_dim=256, units=256, num_layers=2),
}
# Reference figures from the issue: a PyTorch one-step loop of the char model, one thread.
PYTORCH_1THREAD = {"char": {1: 2700.0, 64: 30600.0}}
TARGETS = {"vs_tutorial": 100.0, "vs_raw_step": 1.5, "b64_vs_raw_step": 1.5}


# --------------------------------------------------------------------------- machine info
def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def set_threads(threads: int) -> None:
    import tensorflow as tf

    if threads:  # 0: leave TensorFlow's defaults (one pool thread per core)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


# --------------------------------------------------------------------------- models
def tokenizer_for(kind: str):
    """Char: tiny Shakespeare (~65 symbols); word: PTB whitespace mode (10k words). Without the
    data mirror, a synthetic text with the same vocabulary size (only the size matters here)."""
    from rnnlm.tokenizers import build_tokenizer

    if kind == "char":
        path = DATA / "tinyshakespeare" / "input.txt"
        text = path.read_text() if path.exists() else "".join(chr(32 + i) for i in range(64)) + "\n"
        return build_tokenizer("char").train(text), str(path) if path.exists() else "synthetic"
    path = DATA / "ptb" / "ptb.train.txt"
    text = path.read_text() if path.exists() else " ".join(f"w{i}" for i in range(9999)) + "\n"
    return build_tokenizer("word", mode="whitespace").train(text), str(path) if path.exists() else "synthetic"


def rnnlm_model(cfg, vocabulary_size):
    import keras

    from rnnlm.config import ModelConfig
    from rnnlm.models.language_model import LanguageModel

    keras.utils.set_random_seed(0)
    return LanguageModel(ModelConfig(vocabulary_size=vocabulary_size, cell="lstm",
                                     embedding_dim=cfg["embedding_dim"], units=cfg["units"],
                                     num_layers=cfg["num_layers"])).build_for_inference()


def tutorial_model(cfg, vocabulary_size):
    """The classic tutorial network: Sequential Embedding → LSTM(s) → Dense softmax."""
    import keras

    layers = [keras.Input((None,), dtype="int32"),
              keras.layers.Embedding(vocabulary_size, cfg["embedding_dim"])]
    layers += [keras.layers.LSTM(cfg["units"], return_sequences=i < cfg["num_layers"] - 1)
               for i in range(cfg["num_layers"])]
    layers.append(keras.layers.Dense(vocabulary_size, activation="softmax"))
    return keras.Sequential(layers)


# --------------------------------------------------------------------------- variants
def tutorial_loop(model, vocabulary_size, tokens, window=100, seed=0):
    """The anti-pattern DESIGN.md names: re-run the model over the last window for every token."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = list(rng.integers(2, vocabulary_size, size=window))  # the tutorial's seed text
    for _ in range(tokens):
        probs = model.predict(np.asarray([ids[-window:]], np.int32), verbose=0)[0].astype("float64")
        ids.append(int(rng.choice(vocabulary_size, p=probs / probs.sum())))
    return ids[window:]


def eager_loop(model, batch, tokens, start=2):
    """One-step model called eagerly per token: no tf.function anywhere."""
    import tensorflow as tf

    tok = tf.fill([batch], start)
    states = model.initial_states(batch)
    out = []
    for _ in range(tokens):
        logits, states = model.next(tok, states)
        tok = tf.random.categorical(tf.math.log(tf.nn.softmax(logits)), 1, dtype=tf.int32)[:, 0]
        out.append(tok)
    return out


def raw_step_functions(model, jit: bool):
    """next + softmax compiled: per-call (one tf.function call per token) and in-graph loop."""
    import tensorflow as tf

    @tf.function(jit_compile=jit)
    def one_step(tok, states):
        logits, states = model.next(tok, states)
        return tf.nn.softmax(logits), states

    @tf.function(jit_compile=jit)
    def loop(tok, states, n):
        def body(i, tok, states):
            logits, states = model.next(tok, states)
            # argmax feeds the next step, so neither the softmax nor the step can be pruned
            return i + 1, tf.argmax(tf.nn.softmax(logits), -1, output_type=tf.int32), tuple(states)
        return tf.while_loop(lambda i, *_: i < n, body, (0, tok, tuple(states)))[1]

    def per_call(batch, tokens):
        tok, states = tf.fill([batch], 2), model.initial_states(batch)
        for _ in range(tokens):
            probs, states = one_step(tok, states)
        return probs

    def in_graph(batch, tokens):
        return loop(tf.fill([batch], 2), model.initial_states(batch), tf.constant(tokens)).numpy()

    return per_call, in_graph


def variants_for(cfg, model, tokenizer, tutorial, opts):
    """name → (function, batch, tokens timed). Tokens/s are batch × tokens / seconds."""
    from rnnlm.generation import Generator
    from rnnlm.samplers import Decoder

    gen = Generator(model, tokenizer)
    prompt = gen.prompt_ids("")
    forbidden = tuple(tokenizer.special_ids)
    decoders = {jit: Decoder(model.prefill, model.next, pad_id=0, forbidden_ids=forbidden,
                             jit_compile=jit) for jit in (False, True)}
    n, v = opts.tokens, tokenizer.vocabulary_size
    def stream_with_chunk(size):  # the shipped STREAM_CHUNK against the former 16
        from rnnlm import generation

        shipped, generation.STREAM_CHUNK = generation.STREAM_CHUNK, size
        try:
            return "".join(gen.stream("", length=n, seed=1))
        finally:
            generation.STREAM_CHUNK = shipped

    out = {
        "rnnlm_generate_b1": (lambda: gen.generate("", length=n, seed=1, log_probs=False), 1, n),
        "rnnlm_generate_detailed_b1": (lambda: gen.generate("", length=n, seed=1), 1, n),
        "rnnlm_stream_b1": (lambda: "".join(gen.stream("", length=n, seed=1)), 1, n),
        "rnnlm_stream_chunk16_b1": (lambda: stream_with_chunk(16), 1, n),
        "rnnlm_generate_b64": (lambda: gen.generate("", length=n, num_samples=64, seed=1,
                                                    log_probs=False), 64, n),
        "rnnlm_generate_detailed_b64": (lambda: gen.generate("", length=n, num_samples=64, seed=1),
                                        64, n),
    }
    for jit, name in ((False, "graph"), (True, "xla")):
        for b in (1, 64):
            out[f"decoder_{name}_b{b}"] = (
                lambda d=decoders[jit], b=b: d.generate([prompt], sampler="random", max_new_tokens=n,
                                                        num_samples=b, seed=1), b, n)
        per_call, in_graph = raw_step_functions(model, jit)
        for b in (1, 64):
            out[f"raw_step_call_{name}_b{b}"] = (lambda f=per_call, b=b: f(b, n), b, n)
            out[f"raw_step_loop_{name}_b{b}"] = (lambda f=in_graph, b=b: f(b, n), b, n)
    for b in (1, 64):
        out[f"eager_step_b{b}"] = (lambda b=b: eager_loop(model, b, opts.eager_tokens), b,
                                   opts.eager_tokens)
    out["tutorial_predict_b1"] = (lambda: tutorial_loop(tutorial, v, opts.baseline_tokens), 1,
                                  opts.baseline_tokens)
    return out


def measure(config_name, opts) -> dict:
    cfg = CONFIGS[config_name]
    tokenizer, source = tokenizer_for(cfg["tokenizer"])
    v = tokenizer.vocabulary_size
    model, tutorial = rnnlm_model(cfg, v), tutorial_model(cfg, v)
    variants = variants_for(cfg, model, tokenizer, tutorial, opts)
    if opts.variants:
        variants = {k: f for k, f in variants.items() if any(s in k for s in opts.variants.split(","))}
    seconds, cpu = {k: [] for k in variants}, {k: [] for k in variants}
    warmup = {}
    for _ in range(opts.warmup):  # tracing, XLA compilation, then caches and allocator settle
        for key, (fn, _, _) in variants.items():
            t = time.perf_counter()
            fn()
            warmup.setdefault(key, time.perf_counter() - t)
    load = [load_average()]
    for _ in range(opts.reps):
        for key, (fn, _, _) in variants.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            seconds[key].append(time.perf_counter() - t)
            cpu[key].append(time.process_time() - c)
        load.append(load_average())
    rows = {}
    for key, (_, batch, tokens) in variants.items():
        med = statistics.median(seconds[key])
        rows[key] = {"batch": batch, "tokens_timed": tokens, "us_per_step": med / tokens * 1e6,
                     "tokens_per_second": batch * tokens / med,
                     "cpu_us_per_step": statistics.median(cpu[key]) / tokens * 1e6,
                     "min_us_per_step": min(seconds[key]) / tokens * 1e6,
                     "rounds_seconds": [round(s, 4) for s in seconds[key]],
                     "rounds_cpu_seconds": [round(s, 4) for s in cpu[key]],
                     "first_call_seconds": round(warmup[key], 3)}
        if tokens != opts.tokens:
            rows[key]["note"] = f"timed over {tokens} tokens, per-token cost extrapolated to {opts.tokens}"
    r = ratios(config_name, rows, opts.threads)
    return {"model": {**cfg, "vocabulary_size": v, "tokenizer_source": source},
            "tokens": opts.tokens, "rounds": opts.reps, "warmup_rounds": opts.warmup,
            "load_average_per_round": load,
            "variants": rows, "ratios": r, "targets": targets(config_name, r, opts.threads),
            "ratios_best_round": ratios(config_name, rows, opts.threads, "min_us_per_step"),
            "ratios_cpu_time": ratios(config_name, rows, opts.threads, "cpu_us_per_step"),
            "note": "ratios/targets: wall-clock medians; ratios_best_round: fastest round of each "
                    "variant (contention only adds time); ratios_cpu_time: process CPU time "
                    "(with one thread, close to the uncontended cost)"}


def ratios(config_name, rows, threads, stat="us_per_step") -> dict:
    """Every comparison the issue asks for, as a ratio of per-step times ``stat`` from this run.

    Floors: ``raw_step_loop_*`` is the step itself (no Python between steps), the honest
    denominator; ``_floor`` takes the faster of its graph and XLA forms.
    """
    def us(k):
        return rows[k][stat] if k in rows else None

    def tps(k):
        return rows[k]["batch"] / us(k) * 1e6 if k in rows else None

    out = {}
    for b, shipped in ((1, "rnnlm_generate_b1"), (64, "rnnlm_generate_b64")):
        if not us(shipped):
            continue
        floors = {m: us(f"raw_step_loop_{m}_b{b}") for m in ("graph", "xla")}
        floors = {m: v for m, v in floors.items() if v}
        if floors:
            out[f"b{b}_per_token_over_raw_step_floor"] = us(shipped) / min(floors.values())
            if us(f"rnnlm_generate_detailed_b{b}"):
                out[f"b{b}_detailed_per_token_over_raw_step_floor"] = (
                    us(f"rnnlm_generate_detailed_b{b}") / min(floors.values()))
        for m, v in floors.items():
            out[f"b{b}_per_token_over_raw_step_loop_{m}"] = us(shipped) / v
        for m in ("graph", "xla"):
            if us(f"raw_step_call_{m}_b{b}"):
                out[f"b{b}_per_token_over_raw_step_call_{m}"] = us(shipped) / us(f"raw_step_call_{m}_b{b}")
        if us(f"eager_step_b{b}"):
            out[f"b{b}_speedup_vs_eager_step"] = tps(shipped) / tps(f"eager_step_b{b}")
        ref = PYTORCH_1THREAD.get(config_name, {}).get(b)
        if ref and threads == 1:
            out[f"b{b}_tokens_per_s_over_pytorch_1thread_reference"] = tps(shipped) / ref
    if us("rnnlm_generate_b1") and us("tutorial_predict_b1"):
        out["b1_speedup_vs_tutorial_predict"] = tps("rnnlm_generate_b1") / tps("tutorial_predict_b1")
    for k in ("rnnlm_stream_b1", "rnnlm_stream_chunk16_b1"):
        if us(k) and us("rnnlm_generate_b1"):
            out[f"b1_{k[6:-3]}_time_over_generate_time"] = us(k) / us("rnnlm_generate_b1")
    for b in (1, 64):
        if us(f"decoder_xla_b{b}") and us(f"decoder_graph_b{b}"):
            out[f"b{b}_decoder_xla_speedup_over_graph"] = us(f"decoder_graph_b{b}") / us(f"decoder_xla_b{b}")
    return {k: round(v, 3) for k, v in out.items()}


def targets(config_name, r, threads) -> dict:
    """The issue's targets, met or not, from the wall-clock medians ``r`` (= ratios(...))."""
    checks = {"b1_speedup_vs_tutorial_predict": (">=", TARGETS["vs_tutorial"]),
              "b1_per_token_over_raw_step_floor": ("<=", TARGETS["vs_raw_step"]),
              "b64_per_token_over_raw_step_floor": ("<=", TARGETS["b64_vs_raw_step"])}
    if threads == 1 and config_name in PYTORCH_1THREAD:
        checks.update({f"b{b}_tokens_per_s_over_pytorch_1thread_reference": (">=", 1.0) for b in (1, 64)})
    out = {}
    for key, (op, bound) in checks.items():
        if key in r:
            out[key] = {"value": r[key], "target": f"{op} {bound}",
                        "met": r[key] >= bound if op == ">=" else r[key] <= bound}
    return out


# --------------------------------------------------------------------------- CLI wall time
def ensure_run(opts) -> Path:
    if not (RUN_DIR / "model.weights.h5").exists() or opts.retrain:
        text = DATA / "tinyshakespeare" / "input.txt"
        subprocess.run([str(Path(sys.executable).with_name("rnnlm")), "train", str(text),
                        "--out", str(RUN_DIR), "--units", "512", "--embedding-dim", "64",
                        "--steps-per-epoch", "5", "--epochs", "1", "--force"],
                       check=True, capture_output=True)
    return RUN_DIR


def cli_wall(opts) -> dict:
    """`rnnlm generate RUN --length 500 > /dev/null`, start to exit, and where the time goes."""
    run = ensure_run(opts)
    exe = str(Path(sys.executable).with_name("rnnlm"))
    cmd = [exe, "generate", str(run), "--length", str(opts.cli_length)]

    def wall(argv, cpu=None):
        import resource

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if cpu is not None:
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        return t

    wall(cmd)  # warm the file cache
    walls, cpus, phases, py = [], [], [], []
    load = [load_average()]
    for _ in range(opts.reps):
        walls.append(wall(cmd, cpus))
        py.append(wall([sys.executable, "-c", "pass"]))
        line = subprocess.run([sys.executable, __file__, "_cli_phases", str(run),
                               "--cli-length", str(opts.cli_length)],
                              check=True, capture_output=True, text=True).stdout
        phases.append(json.loads(line.strip().splitlines()[-1]))
        load.append(load_average())
    med = {k: round(statistics.median(p[k] for p in phases), 3) for k in phases[0]}
    startup = round(statistics.median(py), 3)
    accounted = startup + sum(med[k] for k in ("import_cli", "import_tensorflow", "load", "first_stream"))
    med["remainder"] = round(statistics.median(walls) - accounted, 3)
    return {"command": " ".join(["rnnlm"] + cmd[1:]) + " > /dev/null", "run": str(run),
            "wall_seconds_median": round(statistics.median(walls), 3),
            "wall_seconds": [round(w, 3) for w in walls],
            "cpu_seconds_median": round(statistics.median(cpus), 3),
            "python_startup_seconds": startup,
            "phases_seconds_median": med, "load_average_per_round": load,
            "phases_note": "one process replaying the CLI's steps with a clock between them: "
                           "import_cli = rnnlm.cli + rnnlm.api (no TensorFlow); import_tensorflow "
                           "= tensorflow, keras, rnnlm.models; load = api.load (build + weights); "
                           "first_stream = the CLI's stream() (traces prefill and the decoding "
                           "loop, compiles, generates); second_stream = the same call again in "
                           "the same process (generation alone); remainder = wall - startup - "
                           "the first four phases: mostly interpreter/TensorFlow shutdown at exit "
                           "(about 1 s here; os._exit after the last write skips it)"}


def cli_phases(run_dir, length) -> None:
    t0 = time.perf_counter()
    import rnnlm.cli  # noqa: F401  (what the console script imports first; no TensorFlow yet)
    from rnnlm import api
    t1 = time.perf_counter()
    import keras  # noqa: F401  (api.load imports these first thing)
    import tensorflow  # noqa: F401

    from rnnlm.models import language_model  # noqa: F401
    t2 = time.perf_counter()
    lm = api.load(run_dir)
    t3 = time.perf_counter()
    first = "".join(lm.stream("", length=length))
    t4 = time.perf_counter()
    "".join(lm.stream("", length=length))
    t5 = time.perf_counter()
    assert first
    print(json.dumps({"import_cli": t1 - t0, "import_tensorflow": t2 - t1, "load": t3 - t2,
                      "first_stream": t4 - t3, "second_stream": t5 - t4,
                      "trace_and_compile": (t4 - t3) - (t5 - t4)}))


# --------------------------------------------------------------------------- output
ROWS = [  # (variant, label) in table order
    ("rnnlm_generate_b1", "rnnlm Generator.generate (LM.generate: text), batch 1"),
    ("rnnlm_generate_detailed_b1", "  the same with log-probabilities (generate_detailed)"),
    ("rnnlm_stream_b1", "rnnlm Generator.stream (CLI path), batch 1"),
    ("rnnlm_stream_chunk16_b1", "  the same with 16-token chunks (before this bench)"),
    ("decoder_graph_b1", "Decoder(jit_compile=False), batch 1"),
    ("decoder_xla_b1", "Decoder(jit_compile=True), batch 1"),
    ("tutorial_predict_b1", "tutorial: model.predict on last 100 tokens"),
    ("eager_step_b1", "eager Python loop over next(), batch 1"),
    ("raw_step_call_graph_b1", "raw next+softmax, tf.function per call, batch 1"),
    ("raw_step_call_xla_b1", "raw next+softmax, XLA per call, batch 1"),
    ("raw_step_loop_graph_b1", "raw next+softmax, in-graph loop, batch 1"),
    ("raw_step_loop_xla_b1", "raw next+softmax, XLA in-graph loop, batch 1"),
    ("rnnlm_generate_b64", "rnnlm Generator.generate (LM.generate: text), batch 64"),
    ("rnnlm_generate_detailed_b64", "  the same with log-probabilities (generate_detailed)"),
    ("decoder_graph_b64", "Decoder(jit_compile=False), batch 64"),
    ("decoder_xla_b64", "Decoder(jit_compile=True), batch 64"),
    ("eager_step_b64", "eager Python loop over next(), batch 64"),
    ("raw_step_call_graph_b64", "raw next+softmax, tf.function per call, batch 64"),
    ("raw_step_call_xla_b64", "raw next+softmax, XLA per call, batch 64"),
    ("raw_step_loop_graph_b64", "raw next+softmax, in-graph loop, batch 64"),
    ("raw_step_loop_xla_b64", "raw next+softmax, XLA in-graph loop, batch 64"),
]


def table(results: dict) -> str:
    lines = []
    for run_key, run in results.get("runs", {}).items():
        m = run.get("machine", {})
        lines += [f"\n### {run_key}: {m.get('cpu')} × {m.get('cores')} cores, TF {m.get('tensorflow')}, "
                  f"intra/inter {m.get('intra_op')}/{m.get('inter_op')}, {m.get('date')}"]
        names = list(run["configs"])
        lines += ["", "| variant | " + " | ".join(f"{n} tokens/s | {n} µs/step | {n} CPU µs/step"
                                                  for n in names) + " |",
                  "|---" * (1 + 3 * len(names)) + "|"]
        for key, label in ROWS:
            cells = []
            for n in names:
                row = run["configs"][n]["variants"].get(key)
                star = "*" if row and "note" in row else ""
                cells += (["", "", ""] if row is None else
                          [f"{row['tokens_per_second']:,.0f}{star}", f"{row['us_per_step']:,.0f}",
                           f"{row.get('cpu_us_per_step', float('nan')):,.0f}"])
            if any(cells):
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("\n\\* timed over fewer tokens, per-token cost extrapolated")
        for n in names:
            c = run["configs"][n]
            loads = [l[0] for l in c["load_average_per_round"]]
            lines += [f"\n{n} ({c['model']['num_layers']} × LSTM {c['model']['units']}, vocabulary "
                      f"{c['model']['vocabulary_size']}; load average {min(loads)}–{max(loads)}):", "",
                      "| ratio | wall median | best round | CPU time | target |", "|---|---|---|---|---|"]
            for k, v in c["ratios"].items():
                t = c.get("targets", {}).get(k)
                goal = "" if t is None else f"{t['target']}: {'met' if t['met'] else 'NOT met'}"
                lines.append(f"| {k} | {v} | {c.get('ratios_best_round', {}).get(k, '')} | "
                             f"{c.get('ratios_cpu_time', {}).get(k, '')} | {goal} |")
    cli = results.get("cli")
    if cli:
        p = cli["phases_seconds_median"]
        lines += [f"\n### CLI: `{cli['command']}`", "",
                  f"wall {cli['wall_seconds_median']} s (median of {cli['wall_seconds']}; CPU "
                  f"{cli.get('cpu_seconds_median')} s; load average "
                  f"{cli['load_average_per_round'][0][0]}); "
                  f"python startup {cli['python_startup_seconds']} s; import rnnlm.cli {p['import_cli']} s, "
                  f"import TensorFlow/Keras {p['import_tensorflow']} s, "
                  f"load {p['load']} s, first stream {p['first_stream']} s (trace+compile "
                  f"{p['trace_and_compile']} s, generation {p['second_stream']} s), remainder "
                  f"(exit/shutdown) {p.get('remainder')} s"]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "cli", "table", "_cli_phases"])
    parser.add_argument("args", nargs="*")
    parser.add_argument("--threads", type=int, default=0, help="0: TensorFlow's default pools")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds before timing")
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--baseline-tokens", type=int, default=40)
    parser.add_argument("--eager-tokens", type=int, default=200)
    parser.add_argument("--configs", default="char,word")
    parser.add_argument("--variants", default=None, help="comma-separated substrings to keep")
    parser.add_argument("--cli-length", type=int, default=500)
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--no-save", action="store_true")
    opts = parser.parse_args(argv)
    if opts.command == "table":
        print(table(common.load_results(RESULTS)))
        return
    if opts.command == "_cli_phases":
        cli_phases(opts.args[0], opts.cli_length)
        return
    if opts.command == "cli":
        update = {"cli": cli_wall(opts)}
    else:
        set_threads(opts.threads)  # before TensorFlow runs anything
        key = f"threads={opts.threads or 'default'}"
        configs = {n: measure(n, opts) for n in opts.configs.split(",")}
        update = {"runs": {key: {"machine": common.machine_info(opts.threads), "configs": configs}}}
    common.report(update, RESULTS, opts.no_save, table)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
