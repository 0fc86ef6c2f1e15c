"""The Python API behind ``rnnlm train/generate/eval/info`` (the CLI is a thin layer over this).

    lm = rnnlm.train("corpus.txt", cell="lstm", units=256, epochs=5, out="runs/demo")
    print(lm.generate("To be", length=200, temperature=0.8))
    lm.evaluate(open("held_out.txt").read())
    lm = rnnlm.load("runs/demo")
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from rnnlm import (corpora, data, defaults, fitting, pace, preflight, resuming, run_contents,
                   run_lock, runs)
from rnnlm.config import (TOKENIZER_OPTIONS, ModelConfig, TokenizerConfig, TrainConfig,
                          cell_name, check_flag, check_tokenizer_options, to_dict)
from rnnlm.errors import RnnlmError, TrainingInterrupted
from rnnlm.lm import LM
from rnnlm.seeding import keeps_user_random_state
from rnnlm.tokenizers import load_tokenizer


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
    validation (0.1 when not given; refused for a corpus with validation text of its own).
    ``tokenizer=None``, ``cell=None`` and ``encoding=None`` are the defaults (char, lstm,
    utf-8), as in train_classifier."""
    for name, value in (("force", force), ("tensorboard", tensorboard), ("quiet", quiet)):
        check_flag(name, value)
    tokenizer = "char" if tokenizer is None else tokenizer
    encoding = "utf-8" if encoding is None else encoding
    cell = cell_name("lstm" if cell is None else cell)
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
            tokenizer, cell, preflight.gpu_visible())
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
        preflight.check_weight_drop_device()
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
        preflight.check_tensorboard()
    # Paths are kept absolute, so --resume finds the text from whatever directory it runs in.
    source = {"corpus": runs.absolute_if_path(corpus) or corpora.BUILTIN,
              "valid": runs.absolute_if_path(valid), "data_dir": runs.absolute_if_path(data_dir),
              "encoding": encoding, "own_validation": own_validation}
    train_text, valid_text = preflight.split(text, valid, valid_fraction, encoding)
    source["sha256"] = preflight.texts_sha256(train_text, valid_text)
    tok = preflight.trained_tokenizer(tok_cfg, train_text)
    train_ids = data.encode_corpus(tok, train_text)
    train_cfg = preflight.batch_within_windows(train_cfg, train_ids)
    recipe["batch_size"] = train_cfg.batch_size  # the recipe line says the batch it trains with
    choice, passes = None, ""
    if layers is None and units is None:
        choice, passes = pace.choose_size(
            train_ids, tok, cell, sizes, model_options, train_cfg, preflight.gpu_visible(),
            compiled_model=lambda config: fitting.compiled_model(config, train_cfg)[0],
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
    preflight.check_validation(valid_text, tok, valid_fraction, valid)
    preflight.check_needs_validation(train_cfg, valid_text)
    preflight.check_warmup(train_cfg, len(train_ids))
    preflight.check_fits_in_memory(model_cfg, train_cfg)
    config = {"kind": "language_model", "source": source, "tokenizer": tok.config(),
              "model": to_dict(model_cfg), "train": to_dict(train_cfg)}
    # Locked before the earlier run is moved aside (SetAside locks the new folder): a second
    # command on this --out meanwhile is refused, whichever folder it finds there.
    with runs.new_run(out, force) as earlier:
        try:
            fitting.fit_in_run(out, config, tok, model_cfg, train_cfg, train_ids, valid_text,
                               initial_epoch=0, tensorboard=tensorboard, quiet=quiet, new=True,
                               weight_drop_if_long=weight_drop_if_long,
                               epoch_saved=earlier.release)
            return load(out)
        except TrainingInterrupted:
            if earlier.holds_earlier_run:  # it comes back: the new run had no epoch yet
                raise TrainingInterrupted(f"interrupted before the new run's first epoch "
                                          f"ended; the earlier run in {out} is kept as it "
                                          f"was") from None
            raise
        except Exception:  # out of memory building it, a full disk: no half-made run is left
            runs.discard_if_no_epoch(out)
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
    for name, value in (("tensorboard", tensorboard), ("quiet", quiet)):
        check_flag(name, value)
    run_dir = runs.as_path(run_dir, "the run directory")
    config = runs.read_config(run_dir, need_weights=False)
    _check_language_model(run_dir, config, "--resume")
    runs.check_can_create_dir(run_dir, "--resume")  # not after a whole epoch of training
    if tensorboard:
        preflight.check_tensorboard()
    # All three or none: weights without the optimizer's moments and step count, or without
    # the epoch count, would silently restart the schedule.
    for name in ("checkpoints/last.weights.h5", "checkpoints/last.optimizer.npz", "state.json"):
        if not (run_dir / name).exists():
            raise RnnlmError(f"{run_dir} cannot be resumed: {name} is missing")
    done = run_contents.read_state(run_dir).get("epochs_done", 0)
    if done and not (run_dir / "history.json").exists():  # else its epochs would be lost
        raise RnnlmError(f"{run_dir} cannot be resumed: history.json is missing (state.json "
                         f"counts {done} epoch{'s' * (done != 1)}; the plateau, early stopping "
                         f"and the curves replay them from it)")
    for given, what in ((corpus, "the corpus's new path"), (valid, "--valid"),
                        (data_dir, "--data-dir")):
        if given is not None:  # an empty one would be the current folder
            runs.as_path(given, what)
    model_cfg, train_cfg = resuming.resumed_configs(run_dir, config, changes, epochs, time_limit)
    if model_cfg.weight_drop:
        preflight.check_weight_drop_device()
    src = config["source"]
    resuming.check_relative_paths(run_dir, src,
                                  {"corpus": corpus, "valid": valid, "data_dir": data_dir})
    moved = (resuming.moved_files(run_dir, src, corpus, valid)
             + resuming.moved_mirror(run_dir, src, data_dir))
    text = corpora.resolve(src["corpus"], src.get("data_dir"), src.get("encoding", "utf-8"))
    train_text, valid_text = preflight.split(text, src.get("valid"), train_cfg.valid_fraction,
                                             src.get("encoding", "utf-8"))
    resuming.check_same_text(run_dir, src, preflight.texts_sha256(train_text, valid_text), moved)
    preflight.check_needs_validation(train_cfg, valid_text)
    tok = load_tokenizer(run_dir)
    run_contents.check_tokenizer_fits(run_dir, tok, config)
    train_ids = data.encode_corpus(tok, train_text)
    train_cfg = preflight.batch_within_windows(train_cfg, train_ids)
    config["train"] = to_dict(train_cfg)
    with run_lock.locked(run_dir):
        fitting.fit_in_run(run_dir, config, tok, model_cfg, train_cfg, train_ids, valid_text,
                           initial_epoch=done, tensorboard=tensorboard,
                           quiet=quiet, new=False)
        return load(run_dir)


def _check_language_model(run_dir: Path, config: dict, command: str) -> None:
    kind = config.get("kind", "language_model")
    if kind != "language_model":
        raise RnnlmError(f"{run_dir} is a {kind} run, not a language model: {command} needs a "
                         f"run of `rnnlm train` (classifiers: rnnlm classify eval|predict)")


@keeps_user_random_state  # Keras draws its layers' default seeds from Python's random
def load(run_dir: str | Path, command: str | None = None, weights: bool = True) -> LM:
    """Rebuild a trained model from its run directory (config → layers → weights).
    ``command``: one that needs a language model (generate, eval, export), named in the one
    line a classifier run gets instead of an AttributeError later. ``weights=False``: the
    layers as built, for what the configuration says (``rnnlm info``)."""
    from rnnlm.models.language_model import LanguageModel

    run_dir = runs.as_path(run_dir, "the run directory")
    config = runs.read_config(run_dir)
    if command is not None:
        _check_language_model(run_dir, config, command)
    if config.get("kind", "language_model") != "language_model":
        from rnnlm.classifier import load_classifier  # classifiers live in their own module

        return load_classifier(run_dir, weights)
    tok = load_tokenizer(run_dir)
    run_contents.check_tokenizer_fits(run_dir, tok, config)
    model_cfg = run_contents.model_config(run_dir, config, ModelConfig)
    model = LanguageModel(model_cfg).build_for_inference()
    if weights:
        run_contents.load_run_weights(model, run_dir)
    return LM(model, tok, config, run_dir)
