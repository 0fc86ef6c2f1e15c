"""A run's checkpoints: each epoch's files saved as one (Commit, with a journal that the next
command finishes after a kill) and the weights made in memory; Ctrl-C or SIGTERM is held while
a checkpoint is written (rnnlm.interrupts). RunWriter writes a training's run with them (the
folder's layout, its checks and its lock are rnnlm.runs)."""
from __future__ import annotations

import io
import json
import os
import secrets
import tempfile
from pathlib import Path, PurePosixPath

from rnnlm.atomic import TEMPORARY, fsync, write_atomic
from rnnlm.config import FORMAT_VERSION
from rnnlm.errors import RnnlmError
from rnnlm.interrupts import interrupts_deferred
from rnnlm.run_contents import read_state
from rnnlm.runs import JOURNAL, is_run, json_bytes, read_json, write_json


class _WeightsBuffer(io.BytesIO):
    """Keras's save_weights_only checks that the name ends in .weights.h5; its H5IOStore
    writes into a BytesIO."""

    def __str__(self) -> str:
        return "in-memory.weights.h5"


def weights_bytes(model) -> bytes:
    """The model's weights alone, as the bytes of a .weights.h5 file, made in memory: h5py
    writing to a full disk ended the process in a segmentation fault after a page of errors,
    where writing these bytes fails as one OSError, and the file is written once for all the
    names it is saved under. On a compiled model Keras's save_weights writes the optimizer's
    variables too: Adam's two moments made each of model.weights.h5, best and last three times
    the weights (156 MB for 52 MB of weights), and a run keeps that state once, in
    checkpoints/last.optimizer.npz."""
    optimizer = getattr(model, "optimizer", None)
    try:
        from keras.src.saving import saving_lib  # objects_to_skip: not in the public API

        buffer = _WeightsBuffer()
        skip = [optimizer] if optimizer else None
        saving_lib.save_weights_only(model, buffer, objects_to_skip=skip)
        return buffer.getvalue()
    except (ImportError, AttributeError, TypeError):  # a Keras without it: everything, via a file
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.weights.h5")
            model.save_weights(path)
            return Path(path).read_bytes()


# What a Commit puts in place, relative to the run: a journal naming anything else is not
# rnnlm's (a run folder from elsewhere could otherwise rename files anywhere).
COMMITTED = frozenset({"config.json", "state.json", "history.json", "history.csv",
                       "model.weights.h5", "backbone.weights.h5", "checkpoints/best.weights.h5",
                       "checkpoints/last.weights.h5", "checkpoints/last.optimizer.npz"})


class Commit:
    """Files of one checkpoint saved as one. Each is written under a temporary name beside its
    place and synced to the disk; once all are written, a journal of the renames is written
    and they are done. A write that fails (a full disk, a folder made read-only) removes the
    temporary files and leaves the run's files as they were, with one line naming the file; a
    process killed between the renames leaves the journal, and the next command that writes the
    run (or reads it, when no one is writing it) finishes them (``finish_commit``). Without it
    a full disk at an epoch's end left the weights of the new epoch beside the state of the one
    before, and a kill between two renames could train an epoch twice or lose one from the
    history."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.staged: list[tuple[Path, Path]] = []  # (temporary, final)

    def add(self, name: str, data) -> None:
        """``name``: one of COMMITTED; ``data``: the bytes to write, or ``write(tmp_path)``."""
        if name not in COMMITTED:
            raise ValueError(f"a checkpoint does not hold {name}")
        path = self.dir / name
        tmp = path.with_name(f"{TEMPORARY}{secrets.token_hex(4)}-{path.name}")
        self.staged.append((tmp, path))  # first: a failed write's half file is removed too
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                tmp.write_bytes(data)
            else:
                data(str(tmp))
            fsync(tmp)
        except BaseException as e:
            self.discard()
            if isinstance(e, OSError):
                raise RnnlmError(f"cannot save {path}: {e.strerror or e}; the run's files are "
                                 f"kept as they were before this checkpoint") from None
            raise

    def commit(self) -> None:
        journal = self.dir / JOURNAL
        entries = [[str(t.relative_to(self.dir)), str(f.relative_to(self.dir))]
                   for t, f in self.staged]
        try:
            write_atomic(journal, json_bytes(entries))
        except OSError as e:
            self.discard()
            raise RnnlmError(f"cannot save {journal}: {e.strerror or e}; the run's files are "
                             f"kept as they were before this checkpoint") from None
        for tmp, final in self.staged:
            os.replace(tmp, final)
        for folder in {final.parent for _, final in self.staged}:
            fsync(folder)  # the renames themselves on the disk before the journal goes
        journal.unlink()
        self.staged = []

    def discard(self) -> None:
        for tmp, _ in self.staged:
            tmp.unlink(missing_ok=True)
        self.staged = []


def finish_commit(run_dir: Path) -> None:
    """Finish the renames a killed process left in its journal, and remove the temporary files
    of writes it never finished. Only with the run locked (no one else is writing it), and only
    in a run: a folder rnnlm did not make is left as it is."""
    run_dir = Path(run_dir)
    if not is_run(run_dir):
        return
    journal = run_dir / JOURNAL
    if journal.exists():
        for tmp, final in _journal_entries(journal):
            if (run_dir / tmp).is_file():
                os.replace(run_dir / tmp, run_dir / final)
        journal.unlink()
    for folder in (run_dir, run_dir / "checkpoints"):
        for stale in folder.glob(TEMPORARY + "*"):
            if stale.is_file():
                stale.unlink()


def _journal_entries(journal: Path) -> list[tuple[str, str]]:
    """The journal's renames that a Commit could have written: a temporary file beside one of
    COMMITTED (the journal is written whole, so anything else is not rnnlm's)."""
    try:
        entries = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    valid = []
    for entry in entries if isinstance(entries, list) else []:
        if not (isinstance(entry, list) and len(entry) == 2
                and all(isinstance(name, str) for name in entry)):
            continue
        tmp, final = PurePosixPath(entry[0]), entry[1]
        if (final in COMMITTED and tmp.parent == PurePosixPath(final).parent
                and tmp.name.startswith(TEMPORARY)):
            valid.append((str(tmp), final))
    return valid


class RunWriter:
    """Writes a run's files as training goes: config once, then a checkpoint every epoch (one
    Commit each: every file of the epoch, or none)."""

    resumable = True  # a last checkpoint each epoch, for --resume

    def __init__(self, run_dir: Path, optimizer_arrays=None, epoch_saved=None):
        self.dir = Path(run_dir)
        self.optimizer_arrays = optimizer_arrays  # callable → {name: array}, for --resume
        self.epoch_saved = epoch_saved  # called after each whole saved epoch (SetAside.release)
        self.pending_config: dict | None = None  # a resume's options, saved with its first one
        self._pending: Commit | None = None  # an epoch whose last checkpoint save_last adds (--ema)
        self.last_saved = False  # a checkpoint of this process is whole on the disk
        self.state = {"epochs_done": 0, "best_val_loss": None, "best_epoch": None,
                      "train_seconds": 0.0, **read_state(self.dir)}
        self.history = (read_json(self.dir / "history.json").get("epochs")
                        if (self.dir / "history.json").exists() else [])
        if not isinstance(self.history, list) or not all(isinstance(e, dict) for e in self.history):
            raise RnnlmError(f"{self.dir}/history.json is damaged: its epochs are not a list of "
                             f"records")

    def start(self, config: dict, tokenizer) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.dir / "config.json", {"format_version": FORMAT_VERSION, **config})
        tokenizer.save(self.dir)

    def resume_with(self, config: dict) -> None:
        """A resume's options go into config.json with the first checkpoint it saves: a resume
        that ends before (bad input, a full disk, a kill) leaves the run's own."""
        self.pending_config = {**config, "format_version": FORMAT_VERSION}  # what it holds now

    def record_model_option(self, key: str, value) -> None:
        """A model option decided while training (the recipe's weight drop): config.json keeps
        what the model trained with, and what --resume continues with."""
        if self.pending_config is not None:
            self.pending_config["model"][key] = value
            return
        config = read_json(self.dir / "config.json")
        config["model"][key] = value
        write_json(self.dir / "config.json", config)

    def save_last(self, model) -> None:
        """Weights, optimizer state and progress: what --resume (and Ctrl-C) need. A Ctrl-C
        while they are written waits for them."""
        with interrupts_deferred():
            commit, self._pending = self._pending or Commit(self.dir), None
            whole_epoch = bool(commit.staged)  # an epoch end left its last checkpoint (--ema)
            self._staged(commit, lambda: self._stage_last(commit, weights_bytes(model)))
            self._commit(commit)
            self.last_saved = True
            if whole_epoch:
                self._whole_epoch_saved()

    def end_epoch(self, model, record: dict, save_last: bool = True) -> None:
        with interrupts_deferred():
            commit = Commit(self.dir)
            state, epochs = dict(self.state), len(self.history)

            def stage():
                weights = weights_bytes(model)  # one for the best, model and last files
                self._stage_epoch(commit, model, record, weights)
                if save_last and self.resumable:
                    self._stage_last(commit, weights)
            try:
                self._staged(commit, stage)
            except BaseException:  # nothing of the epoch was saved: nor is it counted
                self.state, self.history = state, self.history[:epochs]
                raise
            if not save_last:  # the caller adds it from other weights (optimizers.averaged_weights)
                self._pending = commit
                return
            self._commit(commit)
            self.last_saved = True
            self._whole_epoch_saved()

    def _whole_epoch_saved(self) -> None:
        """Inside the deferral: the earlier run --force replaces goes, and the picture is drawn
        (a Ctrl-C in matplotlib's import would surface as its error)."""
        if self.epoch_saved is not None:
            self.epoch_saved()
        self.plot()

    def plot(self) -> None:
        """curves.png, after the checkpoint (a picture, not part of it)."""
        from rnnlm.curves import plot_curves

        plot_curves(self.history, self.dir / "curves.png")

    @staticmethod
    def _staged(commit: Commit, stage) -> None:
        try:
            stage()
        except BaseException:  # weights or optimizer state that could not be made
            commit.discard()
            raise

    def _stage_epoch(self, commit: Commit, model, record: dict, weights: bytes) -> None:
        self.history.append(record)
        self.state["epochs_done"] = record["epoch"]
        self.state["train_seconds"] += record.get("train_seconds", 0.0)
        score = record.get("val_loss", record["loss"])
        best = self.state["best_val_loss"]
        if best is None or score < best or not (self.dir / "model.weights.h5").exists():
            self.state.update(best_val_loss=score, best_epoch=record["epoch"],
                              best=dict(record))
            commit.add("checkpoints/best.weights.h5", weights)
            commit.add("model.weights.h5", weights)
            commit.add("backbone.weights.h5", weights_bytes(model.backbone))
        commit.add("history.json", json_bytes({"epochs": self.history}))
        commit.add("history.csv", lambda tmp: _write_csv(tmp, self.history))

    def _stage_last(self, commit: Commit, weights: bytes) -> None:
        commit.add("checkpoints/last.weights.h5", weights)
        if self.optimizer_arrays is not None:
            import numpy as np

            arrays = self.optimizer_arrays()

            def write(tmp):
                with open(tmp, "wb") as f:  # closed here: a full disk fails here, not later
                    np.savez(f, **arrays)
            commit.add("checkpoints/last.optimizer.npz", write)

    def _commit(self, commit: Commit) -> None:
        if self.pending_config is not None:
            commit.add("config.json", json_bytes(self.pending_config))
        commit.add("state.json", json_bytes(self.state))
        commit.commit()
        self.pending_config = None


def _write_csv(path, rows: list[dict]) -> None:
    import csv

    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
