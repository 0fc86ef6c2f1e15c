"""Which size a short --time-limit affords: `rnnlm train CORPUS --time-limit T` with each size
given, and with none (the default's own choice), side by side (README, "A short budget affords
a smaller model"; pace.MIN_TOKENS_PER_PARAMETER).

    python bench/short_budget.py                  # every row (about 80 minutes on 2 cores)
    python bench/short_budget.py --rows ts60,ts120
    python bench/short_budget.py --collect DIR    # only read runs already made in DIR

Each run is a separate `rnnlm train` process, one after another (run nothing else meanwhile:
the sizes are compared at the speed this machine trains them). Per run it records the best
validation figure (nats/char; bits/char for subwords; perplexity for words), the tokens
trained and the tokens per recurrent parameter they make, into bench/results/short_budget.json
with the machine of each row.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import common  # bench/common.py: the script's own folder is on sys.path

DATA = Path(os.environ.get("RNNLM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
RESULTS = Path(__file__).resolve().parent / "results" / "short_budget.json"
TINY_SHAKESPEARE = [str(DATA / "tinyshakespeare" / "input.txt")]
PTB_CHARS = [str(DATA / "ptb" / "ptb.train.txt")]
PTB_WORDS = ["ptb", "--tokenizer", "word", "--word-mode", "whitespace", "--data-dir", str(DATA)]
PTB_SUBWORDS = [*PTB_CHARS, "--tokenizer", "sentencepiece"]  # its file as text, 8000 pieces
# label: (corpus arguments, seconds, sizes as (layers, units); None: no size given)
ROWS = {
    "ts60": (TINY_SHAKESPEARE, 60, [(1, 512), (1, 256), (1, 128), None]),
    "ts120": (TINY_SHAKESPEARE, 120, [(1, 512), (1, 256)]),
    "ptbc180": (PTB_CHARS, 180, [(1, 512), (1, 256)]),
    "ptbc600": (PTB_CHARS, 600, [None]),
    "ptbw60": (PTB_WORDS, 60, [(1, 256), (1, 128)]),
    "ptbw120": (PTB_WORDS, 120, [None, (1, 256), (1, 128)]),
    "ptbsp120": (PTB_SUBWORDS, 120, [None, (1, 256), (1, 128)]),
    "ptbsp240": (PTB_SUBWORDS, 240, [(1, 256), (1, 128)]),
    "ptbsp600": (PTB_SUBWORDS, 600, [(1, 256), (1, 128)]),
}


def run_name(label: str, size) -> str:
    return f"{label}-{'default' if size is None else '{}x{}'.format(*size)}"


def train(label: str, out_dir: Path) -> None:
    corpus, seconds, sizes = ROWS[label]
    for size in sizes:
        given = [] if size is None else ["--layers", str(size[0]), "--units", str(size[1])]
        subprocess.run([sys.executable, "-m", "rnnlm.cli", "train", *corpus, "--time-limit",
                        str(seconds), *given, "--out", str(out_dir / run_name(label, size)),
                        "--force"], check=True)


def collect(run: Path) -> dict:
    from rnnlm.defaults import recurrent_parameters

    config = json.loads((run / "config.json").read_text())
    epochs = json.loads((run / "history.json").read_text())["epochs"]
    model = config["model"]
    tokens = sum(e["tokens_per_second"] * e["train_seconds"] for e in epochs)
    parameters = recurrent_parameters(model["cell"], model["num_layers"], model["units"],
                                      model["embedding_dim"])
    best = min(epochs, key=lambda e: e["val_loss"])
    # Per character for chars and subwords (bits, as SentencePiece's pieces are not characters).
    kind = config["tokenizer"]["kind"]
    figure, metric = {"word": ("val_perplexity", "validation perplexity"),
                      "sentencepiece": ("val_bpc", "validation bits/char"),
                      "char": ("val_loss", "validation nats/char")}[kind]
    return {"size": f"{model['num_layers']} × {model['units']}",
            "time_limit": config["train"]["time_limit"],
            "tokens_trained": round(tokens), "recurrent_parameters": parameters,
            "tokens_per_parameter": round(tokens / parameters, 2),
            "best": round(best[figure], 4), "metric": metric,
            "tokens_per_second": round(epochs[-1]["tokens_per_second"])}


def table(results: dict) -> str:
    lines = ["| row | run | size | tokens per parameter | best |", "|---|---|---|---|---|"]
    for label, runs in results.get("rows", {}).items():
        for name, r in runs.items():
            lines.append(f"| {label} | {name} | {r['size']} | {r['tokens_per_parameter']} | "
                         f"{r['best']} ({r['metric']}) |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--out-dir", type=Path, default=Path("runs/short_budget"))
    parser.add_argument("--collect", type=Path, default=None,
                        help="read the runs in this folder (named as this script names them)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    folder = args.collect or args.out_dir
    rows = {}
    for label in args.rows.split(","):
        if args.collect is None:
            train(label, folder)
        runs = {run_name(label, size): folder / run_name(label, size) for size in ROWS[label][2]}
        rows[label] = {name: collect(run) for name, run in runs.items() if run.exists()}
    made = {"collected_from": str(args.collect)} if args.collect else {}
    machine = common.machine_info(None, **made)
    # Per row: rows made on different hosts sit side by side in the file, each with its own.
    update = {"machines": dict.fromkeys(rows, machine), "rows": rows}
    return common.report(update, RESULTS, args.no_save, table)


if __name__ == "__main__":
    main()
