"""What ``--resume`` may change in a run, and where the run's files are now.

A run keeps what its saved state depends on: the architecture (the weights' shapes), the
tokenizer (the saved vocabulary), the optimizer, the seed and the data split; its regularisers
and most training options may change. Its text is read again from where it was recorded (or
from the new path given for a moved file) and must be the text the run began with.
"""
from __future__ import annotations

import dataclasses
import shlex
import warnings
from pathlib import Path

from rnnlm import corpora, defaults, run_contents, runs
from rnnlm.config import (TOKENIZER_OPTIONS, ModelConfig, TrainConfig, cell_name, from_dict,
                          to_dict)
from rnnlm.errors import RnnlmError, RnnlmWarning

ARCHITECTURE = ("cell", "num_layers", "units", "embedding_dim", "tie_weights")
# Training options --resume may change (the rest of TrainConfig is the run's own).
RESUMABLE = ("lr", "batch_size", "seq_len", "clipnorm", "stateful", "weight_decay",
             "lr_schedule", "warmup_steps", "early_stopping", "precision", "steps_per_epoch",
             "random_offsets")
# Training options --resume refuses to change, and why.
KEPT = {
    "optimizer": "the saved optimizer state belongs to it",
    "ema": "the saved optimizer state holds the moving average, or none",
    "seed": "it chose the run's initial weights and window order",
    "valid_fraction": "it split the corpus, and the best checkpoint was judged on that split",
}
TOKENIZER_KEPT = "the run's tokenizer and vocabulary are saved with it"
# Model options --resume may change: regularisers, which no weight shape depends on.
REGULARISERS = ("dropout", "embedding_dropout", "locked_dropout", "weight_drop")
_TRAIN_FIELDS = {field.name for field in dataclasses.fields(TrainConfig)}


def resumed_configs(run_dir: Path, config: dict, changes: dict, epochs: int | None,
                    time_limit: float | None) -> tuple[ModelConfig, TrainConfig]:
    """The run's model and training configuration with the changes --resume may make (writes
    the model's into ``config``); one line for the first change it may not."""
    model_cfg = run_contents.model_config(run_dir, config, ModelConfig)
    renamed = {"layers": "num_layers"}
    for given, value in changes.items():
        key = renamed.get(given, given)
        if key == "cell" and value is not None:
            value = cell_name(value)
        if key in ARCHITECTURE and value is not None and value != getattr(model_cfg, key):
            shown = f"{given} ({key})" if given != key else key  # --layers, config's num_layers
            raise RnnlmError(f"--resume cannot change the architecture: {shown} is "
                             f"{getattr(model_cfg, key)} in {run_dir}, not {value}")
    for key in REGULARISERS:
        if changes.get(key) is not None:
            setattr(model_cfg, key, changes[key])
    config["model"] = to_dict(model_cfg.validate())
    train_cfg = from_dict(TrainConfig, config["train"])
    _check_kept_options(run_dir, config, train_cfg, changes)
    train_cfg.epochs = defaults.epochs_for(epochs, time_limit, train_cfg.epochs)
    train_cfg.time_limit = time_limit
    for key in RESUMABLE:
        if changes.get(key) is not None and hasattr(train_cfg, key):
            setattr(train_cfg, key, changes[key])
    if defaults.stateful_drops_offsets(changes):
        train_cfg.random_offsets = False
    return model_cfg, train_cfg.validate()


def check_same_text(run_dir: Path, src: dict, sha256: str, moved: list[str]) -> None:
    """The text read again must be the one the run began with (``sha256``: the text's now). A
    run made before runs kept the digest has nothing to check against: it is kept from now on
    (in ``src``), and the user is told."""
    saved = src.get("sha256")
    if saved is None:
        src["sha256"] = sha256
        read = moved or [src[key] for key in ("corpus", "valid") if src.get(key)]
        warnings.warn(f"{run_dir} was made before runs kept their corpus's SHA-256, so "
                      f"{' and '.join(read)} cannot be checked against the text it trained "
                      f"on; its SHA-256 is kept with the next checkpoint", RnnlmWarning,
                      stacklevel=4)  # the caller of api.resume
    elif saved != sha256:
        what = (f"the corpus and validation text read from {src['corpus']}"
                f"{' and ' + src['valid'] if src.get('valid') else ''} are not the text "
                f"{run_dir} began with" if moved else
                f"the corpus of {run_dir} has changed since the run began ({src['corpus']})")
        raise RnnlmError(f"{what}: --resume trains on the text the run's tokenizer and best "
                         f"checkpoint were made with; start a new run for new text")


def moved_files(run_dir: Path, src: dict, corpus, valid) -> list[str]:
    """Point ``src`` (the run's config) at the new paths of its corpus and --valid file, when
    given; a recorded file that is gone gets a line saying how to give its new path. The
    caller then checks the text against the run's SHA-256 (or, for a run without one, keeps
    it from now on). Returns the new paths given."""
    moved = {"corpus": corpus, "valid": valid}
    if valid is not None and not src.get("valid"):
        raise RnnlmError(f"--valid: {run_dir} holds its validation text out of the corpus; it "
                         f"has no --valid file to move")
    for key, what, option in (("corpus", "corpus", ""), ("valid", "--valid file", "--valid ")):
        if moved[key] is not None:
            src[key] = runs.absolute_if_path(moved[key])
        elif src.get(key) and Path(src[key]).is_absolute() and not Path(src[key]).exists():
            raise RnnlmError(f"{src[key]}, the {what} of {run_dir}, is not there any more: if it "
                             f"moved, give its new path (rnnlm train --resume "
                             f"{shlex.quote(str(run_dir))} {option}NEW_PATH)")
        path = Path(src[key]) if src.get(key) else None
        if path is not None and path.is_absolute() and path.exists() and not path.is_file():
            # A pipe the run was trained from: reading it again would wait for a writer forever.
            raise RnnlmError(f"{path}, the {what} of {run_dir}, is not a regular file (a pipe?): "
                             f"--resume reads the text again; give it as a file (rnnlm train "
                             f"--resume {shlex.quote(str(run_dir))} {option}FILE)")
    return [str(path) for path in moved.values() if path is not None]


def moved_mirror(run_dir: Path, src: dict, data_dir) -> list[str]:
    """As moved_files, for the --data-dir a corpus by name was read from."""
    if data_dir is not None:
        if src["corpus"] not in corpora.cards():
            raise RnnlmError(f"--data-dir: {run_dir} trains on {src['corpus']}, not on a corpus "
                             f"by name read from a mirror; if its file moved, give its new path "
                             f"(rnnlm train --resume {shlex.quote(str(run_dir))} NEW_PATH)")
        corpora.data_dir(data_dir)  # a folder that is there
        src["data_dir"] = runs.absolute_if_path(data_dir)
        return [str(data_dir)]
    if src["corpus"] not in corpora.cards():
        return []  # a corpus read from a file never reads the --data-dir it was given
    if src.get("data_dir") and not Path(src["data_dir"]).is_dir():
        raise RnnlmError(f"{src['data_dir']}, the --data-dir of {run_dir}, is not there any "
                         f"more: if it moved, give its new place (rnnlm train --resume "
                         f"{shlex.quote(str(run_dir))} --data-dir NEW_DIR)")
    return []


def held_out_of_own_validation(name: str) -> RnnlmError:
    """--valid-fraction for a corpus by name with its own validation text: it would be ignored."""
    return RnnlmError(f"the corpus {name} comes with its own validation text, so nothing is "
                      f"held out of it: drop --valid-fraction")


def check_relative_paths(run_dir: Path, src: dict, given: dict) -> None:
    """One line for a run made before rnnlm kept absolute paths and SHA-256s whose corpus,
    --valid file or --data-dir was recorded as typed, relative to a folder no one recorded,
    and is not given again: reading it from the current folder trained such runs on whatever
    file had that name. The line gives the command with every one of them."""
    mirrored = src.get("corpus") in corpora.cards()  # only a card's text is read from a mirror
    by_name = mirrored or src.get("corpus") == corpora.BUILTIN
    relative = {key: src[key] for key in ("corpus", "valid", "data_dir")
                if src.get(key) and not Path(src[key]).is_absolute()
                and not (key == "corpus" and by_name) and not (key == "data_dir" and not mirrored)}
    if src.get("sha256") is not None or all(given[key] is not None for key in relative):
        return
    # key: (what the line calls it, its option on the command line, the placeholder)
    options = {"corpus": ("its corpus", "", "PATH"),
               "valid": ("its --valid file", "--valid ", "FILE"),
               "data_dir": ("its --data-dir", "--data-dir ", "DIR")}
    named = " and ".join(f"{options[key][0]} {value}" for key, value in relative.items())
    again = " ".join(options[key][1] + (options[key][2] if given[key] is None
                                        else shlex.quote(str(given[key]))) for key in relative)
    raise RnnlmError(f"{run_dir} was made before runs kept their files' absolute paths: {named}, "
                     f"relative to the folder it was trained from, must be given again (rnnlm "
                     f"train --resume {shlex.quote(str(run_dir))} {again})")


def _check_kept_options(run_dir: Path, config: dict, train_cfg: TrainConfig, changes: dict):
    """One line for the first option given to --resume that would change what the run keeps:
    its optimizer state, seed, data split and tokenizer (the saved vocabulary)."""
    kind = config["tokenizer"]["kind"]
    saved = config["tokenizer"].get("options", {})
    source = config.get("source", {})
    if changes.get("valid_fraction") is not None and corpora.validates_on_its_own_split(source):
        raise held_out_of_own_validation(source["corpus"])
    for key, value in changes.items():
        if value is None or key in (*ARCHITECTURE, *REGULARISERS, *RESUMABLE, "layers"):
            continue
        flag = "--" + key.replace("_", "-")
        if key in KEPT:
            kept, why = getattr(train_cfg, key), KEPT[key]
        elif key == "tokenizer":
            kept, why = kind, TOKENIZER_KEPT
        elif key in TOKENIZER_OPTIONS[kind]:
            kept, why = saved.get(TOKENIZER_OPTIONS[kind][key]), TOKENIZER_KEPT
        elif any(key in options for options in TOKENIZER_OPTIONS.values()):
            raise RnnlmError(f"--resume: {flag} is not an option of this run's {kind} tokenizer "
                             f"({run_dir})")
        elif key in _TRAIN_FIELDS:
            raise RnnlmError(f"--resume cannot change {flag}: the run keeps its own")
        else:
            raise RnnlmError(f"unknown option {key!r} for --resume")
        if value != kept:
            shown = (f"{kept:g}" if isinstance(kept, float) else "not set" if kept is None
                     else kept)
            raise RnnlmError(f"--resume keeps the run's {flag} ({shown} in {run_dir}): {why}")

