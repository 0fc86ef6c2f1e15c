"""Training a language model inside its run folder (``rnnlm.api`` has chosen and checked the
options): seeded, built and compiled; for a resume, the checkpoint loaded; the epochs trained
by ``rnnlm.training``; on Ctrl-C the last checkpoint saved and the way to continue said."""
from __future__ import annotations

import contextlib
import shlex
import warnings
from pathlib import Path

from rnnlm import checkpoints, data, run_contents
from rnnlm.errors import RnnlmError, RnnlmWarning, TrainingInterrupted, first_line
from rnnlm.seeding import seed_everything


def fit_in_run(out: Path, config, tok, model_cfg, train_cfg, train_ids, valid_text,
               initial_epoch, tensorboard, quiet, new, weight_drop_if_long=0.0,
               epoch_saved=None) -> None:
    """Train ``model_cfg`` on ``train_ids`` for ``train_cfg`` into the run folder ``out``:
    ``new`` starts the run (config.json, the tokenizer), else it goes on from its checkpoint
    at ``initial_epoch``. Raises TrainingInterrupted on Ctrl-C, RnnlmError on divergence."""
    from rnnlm import optimizers, training

    # Seeded before the layers are built: the seed chooses a new run's initial weights, and
    # the dropout layers' random streams of a new or resumed run (drawn when they are built).
    seed_everything(train_cfg.seed if new else train_cfg.seed + initial_epoch)
    model, optimizer = compiled_model(model_cfg, train_cfg)
    writer = checkpoints.RunWriter(
        out, optimizer_arrays=lambda: optimizers.optimizer_arrays(optimizer),
        epoch_saved=epoch_saved)
    if new:
        writer.start(config, tok)
    else:
        writer.state["resumed_at_epoch"] = initial_epoch  # for info: config.json keeps the
        # last call's --epochs only, and early stopping may have ended it sooner
        best_damaged = _forget_a_damaged_best(out, model, writer)
        checkpoint = out / "checkpoints"
        try:  # h5py, numpy and zipfile raise many types for a damaged file; one line for all
            with _optimizer_state_elsewhere():
                model.load_weights(checkpoint / "last.weights.h5")
            optimizers.load_optimizer(optimizer, model, checkpoint / "last.optimizer.npz")
        except Exception as e:
            raise RnnlmError(f"cannot resume {out}: its checkpoint in {checkpoint} does not "
                             f"load into the model config.json describes (damaged, or the "
                             f"config edited?): {type(e).__name__}: {first_line(e)}") from None
        if best_damaged:  # a warning, so a Python caller hears of it whatever quiet says
            warnings.warn(f"{out}/model.weights.h5 (the best epoch's weights) does not load; "
                          f"this resume's first epoch replaces it", RnnlmWarning, stacklevel=3)
        # The new training options, kept once this fit saves an epoch with them (or Ctrl-C
        # saves its checkpoint); a resume that ends before leaves the run's own.
        writer.resume_with(config)
    valid_ids, valid_chars = None, 0
    if len(valid_text) > 1:  # a --valid file typed as jamo is read as the syllables trained on
        valid_text, valid_ids = tok.encode_known_form(valid_text)
        valid_chars = tok.scored_characters(valid_text, valid_ids)
        valid_ids = data.compact(valid_ids) if len(valid_ids) >= 2 else None
    try:
        training.fit(model, writer, train_ids, valid_ids, valid_chars, train_cfg,
                     initial_epoch=initial_epoch,
                     tensorboard_dir=out / "tensorboard" if tensorboard else None, quiet=quiet,
                     weight_drop_if_long=weight_drop_if_long)
    except KeyboardInterrupt:
        try:
            writer.save_last(model)
        except KeyboardInterrupt:  # pressed again: waited for if the checkpoint was under way
            if not writer.last_saved:
                raise
        left = (initial_epoch + train_cfg.epochs - writer.state["epochs_done"]
                if train_cfg.epochs is not None else 0)
        more = f" --epochs {left}" if left > 0 else ""  # --resume alone trains a whole --epochs
        raise TrainingInterrupted(
            f"interrupted; last checkpoint saved in {out} (continue with: rnnlm train "
            f"--resume {shlex.quote(str(out))}{more})") from None
    except training.TrainingDiverged as e:
        raise training.diverged_run(e, out, new) from None


@contextlib.contextmanager
def _optimizer_state_elsewhere():
    """Weights loaded into the compiled model hold no optimizer state (weights_bytes leaves it
    out; it comes from checkpoints/last.optimizer.npz): Keras's warning about it is noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
        yield


def _forget_a_damaged_best(out: Path, model, writer) -> bool:
    """A resume goes on from checkpoints/; the best epoch's model.weights.h5 is only replaced
    by a better epoch. If it no longer loads (a disk error, a copy cut short), this resume's
    first epoch replaces it whatever its loss, so the run ends loadable; its figures go too.
    (Tried before the checkpoint is loaded into ``model``.) True when it was damaged."""
    try:
        with _optimizer_state_elsewhere():
            run_contents.load_run_weights(model, out)
    except RnnlmError:
        writer.state.update(best_val_loss=None, best_epoch=None, best={})
        return True
    return False


def compiled_model(model_cfg, train_cfg):
    from rnnlm import optimizers, training
    from rnnlm.models.language_model import LanguageModel

    model = LanguageModel(model_cfg).build_for_inference()
    optimizer = optimizers.build_optimizer(train_cfg.lr, train_cfg.clipnorm,
                                           train_cfg.weight_decay, train_cfg.optimizer,
                                           train_cfg.ema)
    model.compile(optimizer=optimizer, loss=training.lm_loss())
    return model, optimizer
