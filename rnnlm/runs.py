"""The run directory: everything needed to rebuild a model, nothing pickled.

    RUN_DIR/
      config.json            format_version, kind, tokenizer/model/train configs
      tokenizer.json         (+ tokenizer.model for sentencepiece)
      model.weights.h5       best-validation weights (what generate/eval use)
      backbone.weights.h5    the same backbone alone (a classifier's --from-lm reads it)
      state.json             epochs done, best validation figures, training seconds
      history.json / .csv    per-epoch metrics;  curves.png
      checkpoints/           last.weights.h5 + last.optimizer.npz (for --resume), best.weights.h5

Every file is written under a temporary name and renamed, so a crash never leaves half a file;
an epoch's checkpoint is written as one (rnnlm.checkpoints); a command writing a run holds its
lock (rnnlm.run_lock); what the files hold is checked as they are read (rnnlm.run_contents).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from rnnlm.atomic import TEMPORARY, write_atomic
from rnnlm.config import FORMAT_VERSION, is_integer
from rnnlm.errors import RnnlmError, refuse_empty_path
from rnnlm.run_lock import SetAside, finish_if_idle, locked, set_aside_copies


# A checkpoint's files are renamed into place after all of them are written; this journal
# lists the renames while they happen (checkpoints.Commit).
JOURNAL = ".commit.json"


def json_bytes(data) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, default=json_value) + "\n").encode("utf-8")


def json_value(value):
    """What JSON cannot write by itself: a NumPy number given to the Python API (epochs=
    np.int64(3)) as the number it is (as text, a resume would read "3" and refuse it);
    anything else (a path) as its text."""
    if type(value).__module__ == "numpy" and callable(getattr(value, "item", None)):
        return value.item()
    return str(value)


def write_json(path: Path, data) -> None:
    text = json_bytes(data)
    write_atomic(path, text)


def read_json(path: Path) -> dict:
    """A JSON object from a run's file; anything else (a list, a number, broken text) is one
    line naming the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RnnlmError(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        held = "null" if data is None else f"a JSON {type(data).__name__}"
        raise RnnlmError(f"{path} is damaged: it holds {held}, not an object")
    return data


RUN_KINDS = ("language_model", "classifier")


def is_run(path: Path) -> bool:
    """A directory rnnlm trained into: its config.json names a kind of run. Any config.json is
    not enough (a project folder has one, an export copies the run's): --force deletes a run."""
    path = Path(path)
    if (path / "saved_model.pb").exists():
        return False
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("kind") in RUN_KINDS and "format_version" in config


def check_new_run_dir(out: Path, force: bool, resumable: bool = True) -> None:
    """Refuse to train over an existing run unless --force, and over anything else at all: --force
    replaces a run, never a folder of the user's own files (checked before anything is written)."""
    out = Path(out)
    check_can_create_dir(out, "--out")
    check_not_inside(out, is_run, "the run")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not is_run(out):
        raise RnnlmError(f"--out {out} is a non-empty directory and not an rnnlm run; "
                         f"choose a new or empty directory")
    if not force:
        # a run killed in its first epoch has no checkpoint to go on from
        resumable = resumable and (out / "checkpoints" / "last.weights.h5").exists()
        how = "--resume to continue it or --force" if resumable else "--force"
        raise RnnlmError(f"--out {out} is already a run; use {how} to replace it")
    if out.is_symlink():  # --force would replace the link with a folder, not the run it names
        raise RnnlmError(f"--out {out} is a symbolic link: give --force the run it points to, "
                         f"{out.resolve()}")
    extra = sorted(entry.name for entry in out.iterdir()
                   if entry.name not in RUN_ENTRIES and not entry.name.startswith(TEMPORARY))
    if extra:  # --force deletes the folder: never with a file of the user's in it
        raise RnnlmError(f"--out {out} is a run with other files added to it "
                         f"({', '.join(extra[:5])}); --force replaces only a run's own files: "
                         f"move them, or choose a new directory")
    if Path.cwd().resolve().is_relative_to(out.resolve()):
        raise RnnlmError(f"--out {out} is the folder you are in (or holds it): --force cannot "
                         f"replace it; run from another folder")


# What a run directory holds (RunWriter, ClassifierRun, the tokenizers, --tensorboard).
RUN_ENTRIES = {"config.json", "tokenizer.json", "tokenizer.model", "model.weights.h5",
               "backbone.weights.h5", "checkpoints", "history.json", "history.csv",
               "state.json", "curves.png", "tensorboard", "metrics.json", "confusion.png",
               JOURNAL}


def has_saved_epoch(run_dir: Path) -> bool:
    """A run with a finished epoch: its model is there to load (every kind writes it then)."""
    return (Path(run_dir) / "model.weights.h5").exists()


def discard_if_no_epoch(run_dir: Path) -> bool:
    """A new run that ends (diverged, interrupted) before a finished epoch is removed, so no
    half-made run is left behind. True when it was."""
    if has_saved_epoch(run_dir):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    return True


@contextlib.contextmanager
def new_run(out: Path, force: bool, resumable: bool = True):
    """A new run's folder to itself: locked, checked again under the lock (two commands given
    the same new --out both pass check_new_run_dir before either has made it, and the second
    then wrote into the first's finished run), and the earlier run set aside for --force."""
    with locked(out):
        check_new_run_dir(out, force, resumable)
        with SetAside(out, force) as earlier:
            yield earlier


def check_not_inside(out: Path, holds, what: str) -> None:
    """An --out inside a run (or an export: ``holds`` tells one) would be taken for a file added
    to it, and a --force of it then refused; a run or an export goes beside, never inside."""
    holder = next((folder for folder in Path(out).absolute().parents
                   if folder.is_dir() and holds(folder)), None)
    if holder is not None:
        raise RnnlmError(f"--out {out} is inside {what} {holder}; choose a folder outside it")


def check_can_create_dir(path: Path, option: str) -> None:
    """One line now for a directory that could not be made or written later: a file in its
    place or on its way, or a parent this user cannot write."""
    path = Path(path).absolute()
    if path.is_symlink() and not path.exists():
        raise RnnlmError(f"{option} {path} is a symbolic link to nothing; give a real folder")
    if path.exists() and not path.is_dir():
        raise RnnlmError(f"{option} {path} exists and is not a directory")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise RnnlmError(f"{option} {path}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RnnlmError(f"{option} {path}: cannot write in {existing} (permission denied, or "
                         f"a read-only file system)")


def absolute_if_path(name_or_path) -> str | None:
    """What a run records of its data: an existing file or folder as an absolute path, so the
    run can find it again from any directory; a corpus name (or None) as it is."""
    if name_or_path is None:
        return None
    path = Path(name_or_path).expanduser()
    if not path.exists():
        return str(name_or_path)
    if not (path.is_file() or path.is_dir()):
        # A pipe or terminal (/dev/stdin fed by `cat a b |`) is kept as named: resolving it
        # gives /proc/PID/fd/pipe:[N], which names nothing once the process is gone.
        return os.path.abspath(path)
    return str(path.resolve())


def as_path(value, what: str) -> Path:
    """A path given in Python: a str or a pathlib.Path (os.PathLike), not bytes or None, which
    pathlib would refuse with a TypeError."""
    if not isinstance(value, (str, os.PathLike)) or isinstance(value, bytes):
        raise RnnlmError(f"{what} must be a path (a str or pathlib.Path), got "
                         f"{type(value).__name__}")
    refuse_empty_path(value, what)
    return Path(value)


def read_config(run_dir: Path, need_weights: bool = True) -> dict:
    """config.json of a run, after checking the directory is complete and of a known format."""
    run_dir = as_path(run_dir, "the run directory")
    if run_dir.exists() and not run_dir.is_dir():
        raise RnnlmError(f"{run_dir} is a file, not a run directory")
    if not run_dir.is_dir():
        raise RnnlmError(f"run directory not found: {run_dir}")
    if (run_dir / "saved_model.pb").exists():
        raise RnnlmError(f"{run_dir} is an export (a TensorFlow SavedModel), not a run: load it "
                         f"with tf.saved_model.load, or give the run it was exported from")
    if not (run_dir / "config.json").exists():
        raise RnnlmError(f"{run_dir} is not an rnnlm run (no config.json)")
    if (run_dir / JOURNAL).exists():  # before config.json is read: a kill may have left it
        finish_if_idle(run_dir)  # finish_commit leaves anything but a run alone
    config = read_json(run_dir / "config.json")
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise RnnlmError(f"{run_dir}/config.json is damaged: it is not a run's configuration "
                         f"(a JSON object with its model)")
    version = config.get("format_version")
    if version is None:
        raise RnnlmError(f"{run_dir}/config.json has no format_version; not an rnnlm run")
    if not is_integer(version):
        raise RnnlmError(f"{run_dir}/config.json is damaged: its format_version must be a "
                         f"number, got {version!r}")
    kind = config.get("kind", "language_model")
    needed = ("source", "model", "train") + (("tokenizer",) if kind == "language_model" else ())
    missing = [key for key in needed if not isinstance(config.get(key), dict)]
    if missing:  # an edited file: each command would stop on it somewhere, in a traceback
        raise RnnlmError(f"{run_dir}/config.json is damaged: its \"{missing[0]}\" is "
                         f"{'missing' if missing[0] not in config else 'not an object'}")
    if version > FORMAT_VERSION:
        raise RnnlmError(f"{run_dir} was written by a newer rnnlm (run format {version}, this "
                         f"version reads up to {FORMAT_VERSION}); upgrade rnnlm")
    # A classifier of numeric sequences (.npz) has no tokenizer: its config says "tokenizer": null.
    if config.get("tokenizer", {}) is not None and not (run_dir / "tokenizer.json").exists():
        raise RnnlmError(f"{run_dir} is incomplete: tokenizer.json is missing")
    if need_weights and not (run_dir / "model.weights.h5").exists():
        resumable = (config.get("kind", "language_model") == "language_model"  # no classifier is
                     and (run_dir / "checkpoints" / "last.weights.h5").exists())
        from rnnlm.run_contents import epochs_done  # (it imports this module)

        earlier = set_aside_copies(run_dir)
        done = epochs_done(run_dir)
        why = (f"state.json counts {done} epoch{'s' * (done != 1)}: was it deleted?" if done
               else "training never finished an epoch")
        raise RnnlmError(
            f"{run_dir} is incomplete: model.weights.h5 is missing ({why}; "
            + ("continue with --resume)" if resumable else "start it again with --force)")
            + (f"; the run it was to replace is in {earlier[-1]}" if earlier else ""))
    return config


def copy_run(run_dir: Path | None, directory: str | Path, what: str = "model") -> Path:
    """Copy a whole run directory (LM.save, Classifier.save); never into a non-empty one."""
    directory = as_path(directory, "the directory to save to")
    if run_dir is None:
        raise RnnlmError(f"this {what} has no run directory to save from")
    if directory.resolve() != Path(run_dir).resolve():
        if Path(run_dir).resolve() in directory.resolve().parents:  # the run would hold a copy
            raise RnnlmError(f"{directory} is inside the run {run_dir}; save it elsewhere")
        check_can_create_dir(directory, "the folder to save to")  # a file there, or not writable
        if directory.exists() and any(directory.iterdir()):
            raise RnnlmError(f"{directory} is not empty; choose a new directory")
        try:  # os.access vouches for nothing as root, and /proc-like folders refuse late
            shutil.copytree(run_dir, directory, dirs_exist_ok=True)
        except OSError as e:
            raise RnnlmError(f"cannot save to {directory}: {e.strerror or e}") from None
    return directory
