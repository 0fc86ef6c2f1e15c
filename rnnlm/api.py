"""The Python API behind ``rnnlm train/generate/eval/info`` (the CLI is a thin layer over this).

    lm = rnnlm.train("corpus.txt", cell="lstm", units=256, epochs=5, out="runs/demo")
    print(lm.generate("To be", length=200, temperature=0.8))
    lm.evaluate(open("held_out.txt").read())
    lm = rnnlm.load("runs/demo")
"""
from __future__ import annotations

import contextlib
import dataclasses
import shlex
import warnings
from pathlib import Path

from rnnlm import checkpoints, corpora, data, defaults, pace, resuming, runs
from rnnlm.config import (TOKENIZER_OPTIONS, ModelConfig, TokenizerConfig, TrainConfig,
                          cell_name, check_tokenizer_options, from_dict, to_dict)
from rnnlm.errors import RnnlmError, first_line
from rnnlm.lm import LM
from rnnlm.seeding import keeps_user_random_state, seed_everything
from rnnlm.tokenizers import build_tokenizer, load_tokenizer
from rnnlm.tokenizers.base import text_pieces


class TrainingInterrupted(Exception):
    """Ctrl-C during training; the last checkpoint was saved before this was raised."""


@keeps_user_random_state
def train(corpus: str | None = None, out: str | Path | None = None, *, tokenizer="char",
          cell="lstm", layers=None, units=None, embedding_dim=None, dropout=None, seq_len=None,
          batch_size=None, epochs=None, lr=None, clipnorm=None, seed=0, valid_fraction=None,
          valid: str | None = None, time_limit: float | None = None,
          steps_per_epoch: int | None = None, max_vocab=None, min_freq=None, vocab_size=None,
          word_mode=None, sp_model_type=None, data_dir=None, encoding="utf-8",
          force=False, tensorboard=False, quiet=True, tie_weights=None, embedding_dropout=0.0,
          locked_dropout=None, stateful=None, weight_decay=0.0, lr_schedule=None,
          warmup_steps=0, early_stopping: int | None = None, precision=None,
          optimizer=None, weight_drop=None, ema=0.0, random_offsets=None) -> LM:
    """Train a language model on a corpus (a path, a corpus card name, or None: the built-in).

    Model options left as None are chosen from the corpus size, training options left as None
    from the tokenizer's recipe (defaults.py). ``epochs=None``: until ``time_limit`` is spent
    when one is given, else 10. Tokenizer options left as None take the tokenizer's defaults
    (min_freq 1, vocab_size 8000, word_mode "words", sp_model_type "unigram"); one that is not
    an option of ``tokenizer`` is refused. ``valid_fraction``: the tail held out for
    validation (0.1 when not given; refused for a corpus with validation text of its own)."""
    cell = cell_name(cell)
    fraction_given = valid_fraction is not None
    valid_fraction = 0.1 if valid_fraction is None else valid_fraction
    options = dict(max_vocab=max_vocab, min_freq=min_freq, vocab_size=vocab_size,
                   word_mode=word_mode, sp_model_type=sp_model_type)
    tok_cfg = TokenizerConfig(tokenizer).validate()
    check_tokenizer_options(tokenizer, options, TOKENIZER_OPTIONS[tokenizer])
    given_recipe = dict(optimizer=optimizer, lr=lr, clipnorm=clipnorm, lr_schedule=lr_schedule,
                        stateful=stateful, locked_dropout=locked_dropout, batch_size=batch_size,
                        seq_len=seq_len, weight_drop=weight_drop, precision=precision,
                        random_offsets=random_offsets)
    recipe = defaults.fill_training_options(tokenizer, given_recipe)
    train_cfg = TrainConfig(seq_len=recipe["seq_len"], batch_size=recipe["batch_size"],
                            epochs=defaults.epochs_for(epochs, time_limit),
                            lr=recipe["lr"], clipnorm=recipe["clipnorm"], seed=seed,
                            valid_fraction=valid_fraction, time_limit=time_limit,
                            steps_per_epoch=steps_per_epoch, stateful=recipe["stateful"],
                            weight_decay=weight_decay, lr_schedule=recipe["lr_schedule"],
                            warmup_steps=warmup_steps, early_stopping=early_stopping,
                            precision=recipe["precision"], optimizer=recipe["optimizer"],
                            ema=ema, random_offsets=recipe["random_offsets"]).validate()
    # The recipe's weight drop starts at 0: training switches it on once it knows the run is
    # long enough (schedule.WeightDropIfLong). A rate the user gives holds from the start.
    weight_drop_if_long = 0.0
    if weight_drop is None:
        weight_drop_if_long = recipe["weight_drop"] = defaults.recipe_weight_drop(
            tokenizer, cell, _gpu_visible())
    tok_cfg.options = {name: options[key] for key, name in TOKENIZER_OPTIONS[tokenizer].items()
                       if options[key] is not None}
    sizes = dict(num_layers=layers, units=units, embedding_dim=embedding_dim, dropout=dropout,
                 tie_weights=tie_weights)
    model_options = dict(cell=cell, embedding_dropout=embedding_dropout,
                         locked_dropout=recipe["locked_dropout"],
                         weight_drop=weight_drop or 0.0)
    # Check what was given now, before the corpus is read and tokenized.
    ModelConfig(**model_options, **{k: v for k, v in sizes.items() if v is not None}).validate()
    if weight_drop:
        _check_weight_drop_device()
    if data_dir is not None:  # checked when given, whether or not this corpus is read from it
        corpora.data_dir(data_dir)
    if corpus is not None:
        runs.as_path(corpus, "the corpus (a file or a corpus name)")
    if valid is not None:
        runs.as_path(valid, "--valid")
    out = runs.as_path(out, "out") if out is not None else None
    text = corpora.resolve(corpus, data_dir, encoding)
    own_validation = valid is None and text.valid is not None  # a card's split (PTB's valid)
    if own_validation and fraction_given:  # else it would be ignored
        raise resuming.held_out_of_own_validation(text.name)
    if own_validation:  # nothing is held out: config.json says so
        train_cfg.valid_fraction = 0.0
    out = out if out is not None else Path("runs") / text.name
    runs.check_new_run_dir(out, force)
    if tensorboard:
        _check_tensorboard()
    # Paths are kept absolute, so --resume finds the text from whatever directory it runs in.
    source = {"corpus": runs.absolute_if_path(corpus) or corpora.BUILTIN,
              "valid": runs.absolute_if_path(valid), "data_dir": runs.absolute_if_path(data_dir),
              "encoding": encoding, "own_validation": own_validation}
    train_text, valid_text = _split(text, valid, valid_fraction, encoding)
    source["sha256"] = _texts_sha256(train_text, valid_text)
    tok = _trained_tokenizer(tok_cfg, train_text, quiet)
    train_ids = data.encode_corpus(tok, train_text)
    train_cfg = _batch_within_windows(train_cfg, train_ids, quiet)
    recipe["batch_size"] = train_cfg.batch_size  # the recipe line says the batch it trains with
    choice, passes = None, ""
    if layers is None and units is None:
        choice, passes = pace.choose_size(
            train_ids, tok, cell, sizes, model_options, train_cfg, _gpu_visible(),
            compiled_model=lambda config: _compiled_model(config, train_cfg)[0],
            say=None if quiet else lambda line: print(line, flush=True))
        if choice.weight_drop is not None and weight_drop is not None:  # the user's rate wins
            choice = dataclasses.replace(choice, weight_drop=None)
        elif choice.weight_drop is not None:  # the wider model's rate, from the first step
            model_options["weight_drop"] = recipe["weight_drop"] = choice.weight_drop
            given_recipe["weight_drop"] = choice.weight_drop  # said on the size line instead
            weight_drop_if_long = 0.0
    sizes, chosen = defaults.fill_model_options(len(train_ids), tokenizer, cell, sizes, choice,
                                                passes)
    model_cfg = ModelConfig(vocabulary_size=tok.vocabulary_size, **model_options,
                            **sizes).validate()
    if not quiet:
        for line in (chosen, defaults.describe_recipe(tokenizer, recipe, given_recipe)):
            if line:
                print(line, flush=True)
    _check_validation(valid_text, tok, valid_fraction, valid)
    _check_needs_validation(train_cfg, valid_text)
    _check_warmup(train_cfg, len(train_ids))
    config = {"kind": "language_model", "source": source, "tokenizer": tok.config(),
              "model": to_dict(model_cfg), "train": to_dict(train_cfg)}
    # Locked before the earlier run is moved aside (SetAside locks the new folder): a second
    # command on this --out meanwhile is refused, whichever folder it finds there.
    with runs.new_run(out, force) as earlier:
        try:
            return _fit(out, config, tok, model_cfg, train_cfg, train_ids, valid_text,
                        initial_epoch=0, tensorboard=tensorboard, quiet=quiet, new=True,
                        weight_drop_if_long=weight_drop_if_long, epoch_saved=earlier.release)
        except TrainingInterrupted:
            if earlier.holds_earlier_run:  # it comes back: the new run had no epoch yet
                raise TrainingInterrupted(f"interrupted before the new run's first epoch "
                                          f"ended; the earlier run in {out} is kept as it "
                                          f"was") from None
            raise


@keeps_user_random_state
def resume(run_dir: str | Path, *, epochs: int | None = None, time_limit: float | None = None,
           corpus: str | Path | None = None, valid: str | Path | None = None,
           data_dir: str | Path | None = None, tensorboard=False, quiet=True, **changes) -> LM:
    """Continue a run from its last checkpoint (weights, optimizer state, epoch count, tokenizer).

    ``epochs`` is how many *more* epochs to train (default: until ``time_limit`` is spent when
    one is given, else the run's own --epochs, or 10 if it trained until its time limit).
    Architecture options in ``changes`` must equal the run's; training options may change.
    ``corpus`` and ``valid`` give new paths for the run's own files when they have moved, and
    ``data_dir`` the new place of the mirror a corpus by name was read from: the text must be
    the same (its SHA-256 is checked), and the run reads it from there on.
    """
    run_dir = runs.as_path(run_dir, "the run directory")
    config = runs.read_config(run_dir, need_weights=False)
    _check_language_model(run_dir, config, "--resume")
    if tensorboard:
        _check_tensorboard()
    # All three or none: weights without the optimizer's moments and step count, or without
    # the epoch count, would silently restart the schedule.
    for name in ("checkpoints/last.weights.h5", "checkpoints/last.optimizer.npz", "state.json"):
        if not (run_dir / name).exists():
            raise RnnlmError(f"{run_dir} cannot be resumed: {name} is missing")
    for given, what in ((corpus, "the corpus's new path"), (valid, "--valid"),
                        (data_dir, "--data-dir")):
        if given is not None:  # an empty one would be the current folder
            runs.as_path(given, what)
    model_cfg, train_cfg = resuming.resumed_configs(run_dir, config, changes, epochs, time_limit)
    if model_cfg.weight_drop:
        _check_weight_drop_device()
    src = config["source"]
    resuming.check_relative_paths(run_dir, src,
                                  {"corpus": corpus, "valid": valid, "data_dir": data_dir})
    moved = (resuming.moved_files(run_dir, src, corpus, valid)
             + resuming.moved_mirror(run_dir, src, data_dir))
    text = corpora.resolve(src["corpus"], src.get("data_dir"), src.get("encoding", "utf-8"))
    train_text, valid_text = _split(text, src.get("valid"), train_cfg.valid_fraction,
                                    src.get("encoding", "utf-8"))
    resuming.check_same_text(run_dir, src, _texts_sha256(train_text, valid_text), moved)
    _check_needs_validation(train_cfg, valid_text)
    tok = load_tokenizer(run_dir)
    train_ids = data.encode_corpus(tok, train_text)
    train_cfg = _batch_within_windows(train_cfg, train_ids, quiet)
    state = runs.read_json(run_dir / "state.json")
    config["train"] = to_dict(train_cfg)
    with runs.locked(run_dir):
        return _fit(run_dir, config, tok, model_cfg, train_cfg, train_ids, valid_text,
                    initial_epoch=state.get("epochs_done", 0), tensorboard=tensorboard,
                    quiet=quiet, new=False)


def _texts_sha256(train_text: str, valid_text: str) -> str:
    """The run's training and validation text, as --resume must find them again."""
    import hashlib
    import itertools

    # The digest of f"{train_text}\0{valid_text}" in UTF-8, a piece at a time: whole, the
    # joined text and its UTF-8 were two more copies of the corpus.
    digest = hashlib.sha256()
    for piece in itertools.chain(text_pieces(train_text, anywhere=True), ["\0"],
                                 text_pieces(valid_text, anywhere=True)):
        digest.update(piece.encode("utf-8"))
    return digest.hexdigest()


def _check_validation(valid_text: str, tok, valid_fraction: float, valid: str | None) -> None:
    """A run asked to validate (--valid, or --valid-fraction > 0) must get text it can score:
    without it the best checkpoint would silently be chosen on the training loss."""
    if valid is None and not valid_fraction:
        return
    # A prefix answers it (the whole text is encoded once, later, for validation).
    if len(valid_text) > 1 and len(tok.encode(valid_text[:1000])) >= 2:
        return
    if valid is not None:
        where, instead = f"--valid {valid}", "drop --valid and give --valid-fraction 0"
    else:
        where, instead = f"--valid-fraction {valid_fraction:g}", "--valid-fraction 0"
    raise RnnlmError(f"the validation text ({where}) is too short to evaluate: it needs at "
                     f"least 2 tokens; give more text, or {instead} for no validation")


def _batch_within_windows(train_cfg: TrainConfig, train_ids, quiet: bool) -> TrainConfig:
    """A batch of distinct windows: with fewer windows than --batch-size, a pass would be one
    short batch (or, with random offsets, a batch would repeat windows), and tokens/s and the
    passes that time the recipe's weight drop would be counted from a batch that isn't there.
    Raises, before anything is written, when not even one window fits."""
    windows = data.checked_num_windows(train_ids, train_cfg.seq_len)
    if windows >= train_cfg.batch_size:
        return train_cfg
    if not quiet:
        print(f"batch size {windows}, not {train_cfg.batch_size}: the training text has "
              f"{windows} window{'s' if windows > 1 else ''} of --seq-len {train_cfg.seq_len}",
              flush=True)
    return dataclasses.replace(train_cfg, batch_size=windows)


def _check_warmup(train_cfg: TrainConfig, train_tokens: int) -> None:
    """A warm-up as long as the run would keep the learning rate near zero throughout."""
    planned = pace.planned_passes(train_cfg, train_tokens) * pace.steps_per_pass(
        train_tokens, train_cfg.seq_len, train_cfg.batch_size)
    if train_cfg.warmup_steps and train_cfg.warmup_steps >= planned:
        raise RnnlmError(f"--warmup-steps {train_cfg.warmup_steps} is as long as the whole run "
                         f"({planned:.0f} steps): the learning rate would never reach --lr")


def _check_needs_validation(train_cfg: TrainConfig, valid_text: str) -> None:
    """Options that act on the validation loss do nothing in a run without one."""
    if len(valid_text) > 1:
        return
    for flag, given in (("--lr-schedule plateau", train_cfg.lr_schedule == "plateau"),
                        ("--early-stopping", train_cfg.early_stopping is not None)):
        if given:
            raise RnnlmError(f"{flag} acts on the validation loss, and this run has no "
                             f"validation text (--valid-fraction 0): give one or drop {flag}")


def _trained_tokenizer(tok_cfg: TokenizerConfig, train_text: str, quiet: bool):
    tok = build_tokenizer(tok_cfg.kind, **tok_cfg.options).train(train_text)
    asked = getattr(tok, "vocab_size", None)  # SentencePiece's is a bound: a small text has fewer
    if not quiet and asked and tok.vocabulary_size < asked:
        sample = getattr(tok, "max_chars", None)
        why = (f"SentencePiece trains on a sample of {sample:,} of the text's {len(train_text):,} "
               f"characters, and the sample holds no more" if sample and len(train_text) > sample
               else "the text holds no more")
        print(f"sentencepiece vocabulary: {tok.vocabulary_size:,} pieces, fewer than --vocab-size "
              f"{asked:,} ({why})", flush=True)
    return tok


def _split(text: corpora.Corpus, valid: str | None, valid_fraction: float, encoding: str):
    if valid is not None:
        return text.train, corpora.read_text(valid, encoding)
    if text.valid is not None:  # a card with its own validation split
        return text.train, text.valid
    return data.split_text(text.train, valid_fraction)


def _gpu_visible() -> bool:
    from rnnlm.models.precision import gpu_visible

    return gpu_visible()


def _check_weight_drop_device() -> None:
    if _gpu_visible():  # the LSTM layer refuses it too; this says so first
        raise RnnlmError("--weight-drop runs in rnnlm's CPU LSTM kernel, and a GPU trains with "
                         "cuDNN: drop --weight-drop, or hide the GPU (CUDA_VISIBLE_DEVICES=)")


def _check_tensorboard() -> None:
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise RnnlmError("--tensorboard needs the tensorboard package: "
                         "pip install 'rnnlm[tensorboard]' (or pip install tensorboard)")


def _fit(out: Path, config, tok, model_cfg, train_cfg, train_ids, valid_text, initial_epoch,
         tensorboard, quiet, new, weight_drop_if_long=0.0, epoch_saved=None) -> LM:
    from rnnlm import training

    # Seeded before the layers are built: the seed chooses a new run's initial weights, and
    # the dropout layers' random streams of a new or resumed run (drawn when they are built).
    seed_everything(train_cfg.seed if new else train_cfg.seed + initial_epoch)
    model, optimizer = _compiled_model(model_cfg, train_cfg)
    writer = checkpoints.RunWriter(
        out, optimizer_arrays=lambda: training.optimizer_arrays(optimizer), epoch_saved=epoch_saved)
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
            training.load_optimizer(optimizer, model, checkpoint / "last.optimizer.npz")
        except Exception as e:
            raise RnnlmError(f"cannot resume {out}: its checkpoint in {checkpoint} does not "
                             f"load into the model config.json describes (damaged, or the "
                             f"config edited?): {type(e).__name__}: {first_line(e)}") from None
        if best_damaged and not quiet:
            print(f"warning: {out}/model.weights.h5 (the best epoch's weights) does not load; "
                  f"this resume's first epoch replaces it", flush=True)
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
        raise TrainingInterrupted(f"interrupted; last checkpoint saved in {out} (continue "
                                  f"with: rnnlm train --resume {shlex.quote(str(out))}{more})") from None
    except training.TrainingDiverged as e:
        raise training.diverged_run(e, out, new) from None
    return load(out)


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
            runs.load_run_weights(model, out)
    except RnnlmError:
        writer.state.update(best_val_loss=None, best_epoch=None, best={})
        return True
    return False


def _compiled_model(model_cfg, train_cfg):
    from rnnlm import training
    from rnnlm.models.language_model import LanguageModel

    model = LanguageModel(model_cfg).build_for_inference()
    optimizer = training.build_optimizer(train_cfg.lr, train_cfg.clipnorm, train_cfg.weight_decay,
                                         train_cfg.optimizer, train_cfg.ema)
    model.compile(optimizer=optimizer, loss=training.lm_loss())
    return model, optimizer


def _check_language_model(run_dir: Path, config: dict, command: str) -> None:
    kind = config.get("kind", "language_model")
    if kind != "language_model":
        raise RnnlmError(f"{run_dir} is a {kind} run, not a language model: {command} needs a "
                         f"run of `rnnlm train` (classifiers: rnnlm classify eval|predict)")


def load(run_dir: str | Path, command: str | None = None) -> LM:
    """Rebuild a trained model from its run directory (config → layers → weights).
    ``command``: one that needs a language model (generate, eval, export), named in the one
    line a classifier run gets instead of an AttributeError later."""
    from rnnlm.models.language_model import LanguageModel

    run_dir = runs.as_path(run_dir, "the run directory")
    config = runs.read_config(run_dir)
    if command is not None:
        _check_language_model(run_dir, config, command)
    if config.get("kind", "language_model") != "language_model":
        from rnnlm.classifier import load_classifier  # classifiers live in their own module

        return load_classifier(run_dir)
    tok = load_tokenizer(run_dir)
    model = LanguageModel(from_dict(ModelConfig, config["model"])).build_for_inference()
    runs.load_run_weights(model, run_dir, tok, config["model"].get("vocabulary_size", 0))
    return LM(model, tok, config, run_dir)
