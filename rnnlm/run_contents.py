"""What a run's files hold, checked as they are read: config.json's model section,
tokenizer.json against it, model.weights.h5, state.json's counts. An edited or damaged file is
one line naming it, before anything is built or trained (rnnlm.runs finds and reads the files)."""
from __future__ import annotations

from pathlib import Path

from rnnlm.config import from_dict, is_integer, is_real
from rnnlm.errors import RnnlmError, first_line
from rnnlm.runs import read_json


def model_config(run_dir: Path, config: dict, cls):
    """config.json's model section as ``cls`` (ModelConfig, ClassifierConfig), checked: a value
    edited there is named as config.json's, not as an option the user could have typed."""
    try:
        return from_dict(cls, config["model"]).validate()
    except RnnlmError as e:
        raise RnnlmError(f"{run_dir}/config.json: {e}") from None


def check_tokenizer_fits(run_dir: Path, tokenizer, config: dict) -> None:
    """tokenizer.json against config.json, before anything is built or trained: the kind of
    tokenizer it names and the vocabulary the model was made for (a file edited, or copied
    from another run; a --resume trained whole epochs before the weights said so)."""
    if tokenizer is None:
        return
    named = (config.get("tokenizer") or {}).get("kind")
    if named is not None and named != tokenizer.kind:
        raise RnnlmError(f"{run_dir}: config.json names the {named} tokenizer and tokenizer.json "
                         f"holds a {tokenizer.kind} one; the run's files do not belong together")
    size = config["model"].get("vocabulary_size", 0)
    if size and tokenizer.vocabulary_size != size:
        raise RnnlmError(f"{run_dir}: tokenizer.json holds {tokenizer.vocabulary_size:,} tokens and "
                         f"the model {size:,}; the run's files do not belong together")


def load_run_weights(model, run_dir: Path) -> None:
    """model.weights.h5 into ``model`` (built from config.json), or one line saying why not: a
    config.json edited or copied from another run, a damaged file."""
    path = check_weights_file(run_dir)
    try:
        model.load_weights(path)
    except Exception as e:  # h5py/keras raise many types, Keras's in several lines
        raise RnnlmError(f"cannot load {path}: the weights do not fit the model config.json "
                         f"describes (was it edited, or written by another version?): "
                         f"{first_line(e)}") from None


class DamagedWeights(RnnlmError):
    """model.weights.h5 does not open (``rnnlm info`` still shows the run)."""


def check_weights_file(run_dir: Path) -> Path:
    """model.weights.h5 of a run, or one line if it does not open as HDF5 (cut short by a full
    disk or a copy, or not HDF5 at all)."""
    path = Path(run_dir) / "model.weights.h5"
    try:
        import h5py

        with h5py.File(path, "r"):
            pass
    except OSError as e:
        raise DamagedWeights(f"cannot load {path}: the file is damaged ({first_line(e)}); copy "
                             f"it again, or --resume a language model run, which writes it "
                             f"anew") from None
    return path


# state.json's counts, each checked on reading: a hand-edited "epochs_done": "3" would fail
# deep inside a --resume (the epoch's seed is the run's seed plus it), or print nonsense.
STATE_FIELDS = {"epochs_done": (is_integer, "an integer >= 0"),
                "best_epoch": (is_integer, "an integer >= 0 or null"),
                "best_val_loss": (is_real, "a number or null"),
                "train_seconds": (is_real, "a number >= 0"),
                "resumed_at_epoch": (is_integer, "an integer >= 0 or null")}


def read_state(run_dir: Path) -> dict:
    """A run's state.json ({} where there is none), one line naming a count it damaged."""
    path = Path(run_dir) / "state.json"
    if not path.exists():
        return {}
    state = read_json(path)
    for name, (kind, what) in STATE_FIELDS.items():
        value = state.get(name)
        allow_none = name not in ("epochs_done", "train_seconds")
        if (value is None and allow_none) or (name not in state and not allow_none):
            continue
        if not kind(value) or (name != "best_val_loss" and value < 0):
            raise RnnlmError(f"{path} is damaged: {name} must be {what}, got {value!r}")
    return state


def epochs_done(run_dir: Path) -> int:
    """The epochs state.json counts (0 where it is missing or unreadable)."""
    try:
        return int(read_state(run_dir).get("epochs_done", 0))
    except RnnlmError:
        return 0
