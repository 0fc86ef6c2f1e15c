"""Corpus benchmark: the memory and time a large corpus costs before the first training step.

    python bench/corpus.py [--megabytes 50] [--kinds char,word] [--threads 2]

A corpus of the given size is made in a temporary folder by repeating a shared data set
(tiny-shakespeare for char, PTB's training text for word, whitespace mode), and each variant
runs in a process of its own, so each peak RSS is that variant's alone:

- ``encode_whole``: tokenizer trained, then ``compact(tok.encode(text))``, the corpus's ids as
  one Python list first (how rnnlm encoded a corpus until 2026-12-06);
- ``encode_pieces``: the same through ``data.encode_corpus``, a piece of the text at a time;
- ``train_5_steps``: a real ``rnnlm.train`` of the corpus (1 × 32 LSTM, 5 steps, 1% held out),
  everything from reading the file to the saved run, with the kind's recipe (char: shuffled
  windows with random offsets; word: stateful streams).

Figures are the peak RSS above the RSS after TensorFlow's import (the peak is counted from
there: /proc/self/clear_refs), in MiB, and the seconds the variant took. Results go to
bench/results/corpus.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # bench/common.py: the script's own folder is on sys.path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
RESULTS = Path(os.environ.get("RNNLM_BENCH_RESULTS", HERE / "results" / "corpus.json"))
DATA = Path(os.environ.get("RNNLM_DATA", HERE.parent.parent / "shared" / "data"))
SOURCES = {"char": DATA / "tinyshakespeare" / "input.txt", "word": DATA / "ptb" / "ptb.train.txt"}
TOKENIZER = {"char": {}, "word": {"word_mode": "whitespace"}}
VARIANTS = ("encode_whole", "encode_pieces", "train_5_steps")


def make_corpus(kind: str, megabytes: float, folder: Path) -> Path:
    source = SOURCES[kind].read_text(encoding="utf-8")
    path = folder / f"{kind}_{megabytes:g}MB.txt"
    copies = max(1, round(megabytes * 2**20 / len(source.encode("utf-8"))))
    path.write_text(source * copies, encoding="utf-8")
    return path


def status_mib(field: str) -> float:
    """VmHWM (peak RSS) or VmRSS (RSS now) of this process, from /proc/self/status."""
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> bool:
    """Start VmHWM again from the RSS now (Linux ≥ 4.0), so an import's passing peak is not
    counted as the variant's. False where the kernel does not let it (the peak then counts
    from the process's start, and a variant's own figure may read low)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(kind: str, variant: str, corpus: str, runs: str) -> dict:
    import tensorflow  # noqa: F401  (imported first: its RSS is the baseline)

    import rnnlm
    from rnnlm import corpora, data
    from rnnlm.tokenizers import build_tokenizer

    peak_from_import = reset_peak()
    baseline, started = status_mib("VmRSS"), time.perf_counter()
    if variant == "train_5_steps":
        rnnlm.train(corpus, Path(runs) / f"{kind}_{variant}", tokenizer=kind, units=32,
                    epochs=1, steps_per_epoch=5, valid_fraction=0.01, force=True,
                    **TOKENIZER[kind])
        tokens = None
    else:
        text = corpora.resolve(corpus, None, "utf-8").train
        options = {"mode": "whitespace"} if kind == "word" else {}
        tok = build_tokenizer(kind, **options).train(text)
        ids = (data.compact(tok.encode(text)) if variant == "encode_whole"
               else data.encode_corpus(tok, text))
        tokens = len(ids)
    return {"peak_above_import_mib": round(status_mib("VmHWM") - baseline, 1),
            "after_import_mib": round(baseline, 1),
            "seconds": round(time.perf_counter() - started, 2), "tokens": tokens,
            "peak_from_import": peak_from_import}


def run(kinds, megabytes: float, threads: int) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind in kinds:
            corpus = make_corpus(kind, megabytes, Path(folder))
            out[kind] = {"corpus_bytes": corpus.stat().st_size}
            for variant in VARIANTS:
                cmd = [sys.executable, __file__, "_child", kind, variant, str(corpus), folder,
                       "--threads", str(threads)]
                done = subprocess.run(cmd, capture_output=True, text=True)
                out[kind][variant] = (json.loads(done.stdout.strip().splitlines()[-1])
                                      if done.returncode == 0 else
                                      {"error": (done.stderr.strip().splitlines() or ["?"])[-1]})
    return out


def table(results: dict) -> str:
    lines = ["| corpus | variant | MiB above import | seconds |", "|---|---|---|---|"]
    for kind, row in results.get("corpus_memory", {}).items():
        size = f"{kind}, {row['corpus_bytes'] / 2**20:.0f} MiB"
        for variant in VARIANTS:
            cell = row.get(variant, {})
            peak = cell.get("peak_above_import_mib", cell.get("error"))
            lines.append(f"| {size} | {variant} | {peak} | {cell.get('seconds', '')} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="run", choices=["run", "_child"])
    parser.add_argument("args", nargs="*")
    parser.add_argument("--megabytes", type=float, default=50)
    parser.add_argument("--kinds", default="char,word")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-save", action="store_true")
    opts = parser.parse_args(argv)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(opts.threads)
    tf.config.threading.set_inter_op_parallelism_threads(opts.threads)
    if opts.command == "_child":
        print(json.dumps(child(*opts.args)))
        return
    update = {"corpus_memory": run(opts.kinds.split(","), opts.megabytes, opts.threads),
              "machine": common.machine_info(opts.threads)}
    common.report(update, RESULTS, opts.no_save, table)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
