"""Defaults chosen for the corpus: the model's size, and the training recipe per tokenizer.

Model size (``rnnlm train corpus.txt`` with no model options):

char-rnn's README advice: keep the number of parameters about the number of tokens in the
training data; much larger overfits (then dropout matters), much smaller underfits. We take the
largest stack on a short ladder whose recurrent parameters are at most 1.5 × the training
tokens ("about the same": tiny-shakespeare's 1.0M training characters get the 1.18M-parameter
1 × 512 LSTM the issue's benchmark uses). A char LSTM run on a CPU that makes many passes over
the data takes a wider model, regularised harder (wider_for_long_runs; rnnlm.pace counts the
passes); a --time-limit too short to train that size on 3.2 tokens per recurrent parameter
(12 for SentencePiece) takes a smaller one (smaller_model; pace.MIN_TOKENS_PER_PARAMETER).
Any option the user gives explicitly wins over what is chosen here.

Training recipe (bench/train.py quality runs, README "Training benchmarks"): every option left
as None takes the value of the tokenizer's row in RECIPES.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

from rnnlm.config import check_cell

# (layers, units), smallest first. 1 × 512 is the tiny-shakespeare configuration.
LADDER = ((1, 128), (1, 256), (1, 512), (2, 512), (2, 1024))
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
PARAMETERS_PER_TOKEN = 1.5


@dataclass
class ModelChoice:
    num_layers: int
    units: int
    embedding_dim: int
    dropout: float
    tie_weights: bool
    parameters: int  # recurrent parameters of the chosen stack
    weight_drop: float | None = None  # None: the recipe's rule (recipe_weight_drop)

    def describe(self, cell: str, train_tokens: int, passes: str = "") -> str:
        tied = ", output tied to the embedding" if self.tie_weights else ""
        dropped = "" if self.weight_drop is None else f", weight drop {self.weight_drop:g}"
        return (f"auto-sized for {train_tokens:,} training tokens{passes}: {self.num_layers} × "
                f"{cell} {self.units}, embedding {self.embedding_dim}, dropout {self.dropout:g}"
                f"{dropped}{tied} ({self.parameters:,} recurrent parameters; --layers, --units, "
                f"--embedding-dim, --dropout choose them yourself)"
                f"{self._small_corpus(train_tokens)}")

    def _small_corpus(self, train_tokens: int) -> str:
        # Only the smallest size can be over the rule (the wider model has a rule of its own).
        smallest = (self.num_layers, self.units) == LADDER[0] and self.weight_drop is None
        if not smallest or self.parameters <= PARAMETERS_PER_TOKEN * train_tokens:
            return ""
        return (f"; the smallest size, yet over {PARAMETERS_PER_TOKEN:g} parameters per training "
                f"token: expect it to overfit, or give a smaller --units")


def recurrent_parameters(cell: str, layers: int, units: int, input_dim: int) -> int:
    gates = GATES[cell]
    total, width = 0, input_dim
    for _ in range(layers):
        # GRU with reset_after=True keeps two bias vectors per gate.
        biases = 2 if cell == "gru" else 1
        total += gates * units * (width + units + biases)
        width = units
    return total


def default_embedding_dim(tokenizer: str, last_units: int) -> int:
    """Characters: 64 wide. Words and subwords: as wide as the last layer, so the output layer
    can be tied to the embedding without a projection."""
    return 64 if tokenizer == "char" else last_units


def fill_model_options(train_tokens: int, tokenizer: str, cell: str, given: dict,
                       choice: ModelChoice | None = None, passes: str = ""
                       ) -> tuple[dict, str | None]:
    """``given``: num_layers, units, embedding_dim, dropout, tie_weights, each None when the
    user left it out. Returns the options with every None filled, and the line to print when
    the size was chosen here (None when the user chose it). ``choice``: the size to take when
    the user gave none (default: choose_model's); ``passes`` goes into the printed line."""
    options = dict(given)
    message = None
    if options["num_layers"] is None and options["units"] is None:
        choice = choice or choose_model(train_tokens, tokenizer, cell, given["embedding_dim"])
        options["num_layers"], options["units"] = choice.num_layers, choice.units
        if options["dropout"] is None:
            options["dropout"] = choice.dropout
    else:
        options["num_layers"] = options["num_layers"] or 1
        options["units"] = options["units"] or 256
    last_units = (options["units"] if isinstance(options["units"], numbers.Integral)
                  else options["units"][-1])  # a list: one per layer
    if options["embedding_dim"] is None:
        options["embedding_dim"] = default_embedding_dim(tokenizer, last_units)
    if options["tie_weights"] is None:
        options["tie_weights"] = tokenizer != "char"
    if options["dropout"] is None:
        options["dropout"] = DROPOUT[tokenizer]
    if given["num_layers"] is None and given["units"] is None:
        params = recurrent_parameters(cell, options["num_layers"], options["units"],
                                      options["embedding_dim"])
        message = ModelChoice(options["num_layers"], options["units"], options["embedding_dim"],
                              options["dropout"], options["tie_weights"], params,
                              choice.weight_drop).describe(cell, train_tokens, passes)
    return options, message


def choose_model(train_tokens: int, tokenizer: str, cell: str = "lstm",
                 embedding_dim: int | None = None) -> ModelChoice:
    """The largest ladder entry with recurrent parameters ≤ 1.5 × training tokens (at least the
    smallest entry), counted with ``embedding_dim`` where the user gives one. Character models
    keep a 64-wide embedding; word and subword models use an embedding as wide as the last
    layer, tied to the output layer (Press & Wolf), which halves the vocabulary-sized
    parameters and is measured in bench/train.py to help."""
    check_cell(cell)
    chosen = None
    for layers, units in LADDER:
        entry = _ladder_choice(layers, units, tokenizer, cell, embedding_dim)
        if chosen is None or entry.parameters <= PARAMETERS_PER_TOKEN * train_tokens:
            chosen = entry
    return chosen


def smaller_model(choice: ModelChoice, tokenizer: str, cell: str,
                  embedding_dim: int | None = None) -> ModelChoice | None:
    """The ladder's entry below ``choice`` (None below the smallest, or off the ladder)."""
    size = (choice.num_layers, choice.units)
    if size not in LADDER or LADDER.index(size) == 0:
        return None
    return _ladder_choice(*LADDER[LADDER.index(size) - 1], tokenizer, cell, embedding_dim)


def _ladder_choice(layers: int, units: int, tokenizer: str, cell: str,
                   embedding_dim: int | None = None) -> ModelChoice:
    embedding = embedding_dim or default_embedding_dim(tokenizer, units)
    return ModelChoice(layers, units, embedding, DROPOUT[tokenizer], tokenizer != "char",
                       recurrent_parameters(cell, layers, units, embedding))


# Between layers and before the output layer, one mask per sequence: the quality runs' values.
DROPOUT = {"char": 0.25, "word": 0.3, "sentencepiece": 0.3}

# A run of many passes affords a wider model, regularised harder (char LSTM on a CPU, where
# weight drop runs). On tiny-shakespeare (1.0M training characters, Intel AMX host, 30
# minutes), 1 × 768 with dropout 0.3 and weight drop 0.25 from the first step (2.6 recurrent
# parameters per token, ~24 passes) ended at 1.4030 / 1.4143 / 1.4065 nats/char (three seeds)
# against the 1 × 512 recipe's 1.4173 / 1.4246 (~38 passes); 1 × 1024 (4.4 per token, weight
# drop 0.3) at 1.4178. Per minute the wider model trails for the first ~9 minutes (~7 of its
# passes); a 12-minute run of it (9 passes, decay included) ended at 1.4311, level with the
# recipe's 1.4312 / 1.4254; on an AVX2 host 1 × 640 (~14 passes in 30 minutes) only drew
# level. So the step up is for runs where the wider model makes ≥ WIDER_PASSES. With the
# window grid moved each pass (RECIPES' random_offsets) it needs less weight drop: 0.2 ended
# at 1.3956 / 1.4095 / 1.3933 / 1.3955 / 1.3979 (seeds 0–4, mean 1.3984), where 0.25 ended
# at 1.4089 and 0.15 at 1.4095 (seed 0); with the grid fixed, 0.2 ended at 1.4179 (seed 0).
# Dropout 0.35 rather than 0.3 (those five seeds' value): on an AMD host with AVX512_BF16
# (18–23 passes in 30 minutes) 0.3 ended at 1.4082 / 1.4065 / 1.4067 / 1.3995 (seeds 0–3, mean
# 1.4052) and 0.35 at 1.4067 / 1.3957 / 1.3957 / 1.3929 (mean 1.3978), seeds 1 and 3 run back
# to back at the same speed; 0.25 ended at 1.4118 (seed 2; on the AMX host 1.4064 against
# 0.3's 1.4095, seed 1); 0.4 at 1.3946 / 1.3913 / 1.3937 / 1.4005 / 1.4103 (seeds 0–4, mean
# 1.3981) against 0.35's 1.4067 / 1.3957 / 1.3957 / 1.3929 / 1.4034 (mean 1.3989): level.
# On the AMX host 0.35 ended at 1.3993 / 1.3934 / 1.4045 (seeds 0–2, mean 1.3991) against
# 0.3's 1.3956 / 1.4095 / 1.3933 (mean 1.3995; seed 0 rerun beside 0.35's: 1.4006): level.
WIDER_PASSES = 16
WIDER = dict(width=1.5, dropout=0.35, weight_drop=0.2, parameters_per_token=3.0)


def long_enough_for_wider(passes: float) -> bool:
    return passes >= WIDER_PASSES


def wider_for_long_runs(choice: ModelChoice, tokenizer: str, cell: str, on_gpu: bool,
                        train_tokens: int) -> ModelChoice | None:
    """The wider model a run of ≥ WIDER_PASSES passes takes instead of ``choice``; None where
    there is none (not a char LSTM on a CPU, or too many parameters for the corpus)."""
    if tokenizer != "char" or not recipe_weight_drop(tokenizer, cell, on_gpu):
        return None
    units = round(choice.units * WIDER["width"])
    params = recurrent_parameters(cell, choice.num_layers, units, choice.embedding_dim)
    if params > WIDER["parameters_per_token"] * train_tokens:
        return None
    return ModelChoice(choice.num_layers, units, choice.embedding_dim, WIDER["dropout"],
                       choice.tie_weights, params, WIDER["weight_drop"])


# How long a run trains: --epochs when given; else until --time-limit is spent when that is
# given (a user who names a budget means it: a cap of 10 epochs ended the 30-minute
# tiny-shakespeare run after 8 minutes); else EPOCHS (on --resume: the run's own --epochs,
# or EPOCHS for a run that trained until its time limit).
EPOCHS = 10


def epochs_for(epochs: int | None, time_limit: float | None, run_epochs: int | None = None):
    """TrainConfig.epochs: the epochs to train, or None for "until the time limit"."""
    if epochs is not None:
        return epochs
    if time_limit:
        return None
    return run_epochs or EPOCHS


# What the benchmarks found best on tiny-shakespeare (char) and PTB (word), README "Training".
# Char: batch 32 with Adam 3e-3 reached 1.46 nats/char in 12 minutes, where batch 64 with 2e-3
# had 1.53 at 12 minutes and 1.476 after 30. Word: Adam (2e-3) reached validation perplexity 879
# after 400 batches where SGD with lr 20 and global clipping at 0.25 (PyTorch
# word_language_model's recipe) reached 564; SGD's 30-minute run ended at 98.3. SentencePiece
# (tiny-shakespeare, vocabulary 8000, 6 minutes): SGD reached 2.26 bits/char, Adam 2.47.
ADAM = dict(optimizer="adam", lr=3e-3, clipnorm=5.0)
SGD = dict(optimizer="sgd", lr=20.0, clipnorm=0.25)
SHARED = dict(lr_schedule="cosine", stateful=True, random_offsets=False, locked_dropout=True,
              weight_drop=0.0)
RECIPES = {
    # Char, 12 minutes (bench/train.py): wsd 1.460 nats/char against constant 1.493; wsd with
    # shuffled windows and per-step dropout 1.452. At 6 minutes constant beat cosine by 0.10.
    # At 30 minutes that recipe overfits (train 1.12, validation 1.460); weight drop 0.15 on
    # the recurrent kernel reached 1.422 (0.3: 1.458, too slow to learn in the budget).
    # The LSTM on a CPU only, in long runs (recipe_weight_drop below). At 30 minutes, beside
    # the recipe's 1.4195: stateful windows 1.428, Adam 5e-3 1.426. With the wider model (24
    # epochs) Adam 2e-3 ended at 1.4085 against 3e-3's 1.4108 on seed 1, but behind on seeds
    # 0, 2 and 3 (1.4037 / 1.4009, 1.3999 / 1.3966, 1.4075 / 1.3948).
    # Precision "auto" for every recipe: bfloat16 matmuls on a CPU that multiplies bfloat16
    # natively (AMX or AVX512_BF16), float32 elsewhere; each recipe's measurements in both
    # precisions are in models/precision.resolve_precision.
    # Random offsets (data.offset_windows): ahead through the constant-rate part of the 30-minute
    # run and level at its end with weight drop 0.25, and the wider model's best with 0.2.
    "char": {**ADAM, "lr_schedule": "wsd", "stateful": False, "random_offsets": True,
             "locked_dropout": False, "weight_drop": 0.15, "batch_size": 32, "seq_len": 100,
             "precision": "auto"},
    "word": {**SGD, **SHARED, "batch_size": 20, "seq_len": 35, "precision": "auto"},
    "sentencepiece": {**SGD, **SHARED, "batch_size": 32, "seq_len": 100, "precision": "auto"},
}


# Weight drop pays off late. On tiny-shakespeare it trailed after 5 epochs (1.494 against 1.483
# nats/char), drew level at epoch 7 and won by 0.04 at 30 minutes, where the model without it
# overfits; without it a 12-minute run of 6 epochs was still improving at the end (1.448), so
# there it only slows learning. But a 12-minute run of 15 epochs (a faster CPU) overfits
# without it (best 1.4595) and reached 1.4287 with it. So what counts is passes over the
# training data, not minutes: the recipe's weight drop is for runs of at least LONG_RUN_PASSES.
# With --time-limit the number of passes is only known once the speed is: training measures
# the first epoch and switches weight drop on from the second (schedule.WeightDropIfLong).
LONG_RUN_PASSES = 8

WEIGHT_DROP_WHEN = (f"an LSTM on a CPU in a run of ≥ {LONG_RUN_PASSES} passes over the data; "
                    f"with --time-limit decided after the first epoch")


def long_run(passes: float) -> bool:
    """Is a run of this many passes over the training data long enough for weight drop?"""
    return passes >= LONG_RUN_PASSES


def recipe_weight_drop(tokenizer: str, cell: str, on_gpu: bool) -> float:
    """The recipe's weight drop for a long enough run (WEIGHT_DROP_WHEN; training decides the
    length): it runs in rnnlm's CPU LSTM kernel only (a GPU trains with cuDNN)."""
    return RECIPES[tokenizer]["weight_drop"] if cell == "lstm" and not on_gpu else 0.0


def stateful_drops_offsets(given: dict) -> bool:
    """--stateful without --random-offsets turns the offsets off: streams have no window grid
    to move (a new run's recipe, and a --resume that switches to streams)."""
    return bool(given.get("stateful")) and given.get("random_offsets") is None


def fill_training_options(tokenizer: str, given: dict) -> dict:
    """``given``: RECIPES' keys, None where the user left them out → every None filled.
    The learning rate and clipping follow the optimizer (--optimizer adam on a word model
    gets Adam's lr, not SGD's)."""
    recipe = dict(RECIPES[tokenizer])
    if given.get("optimizer") and given["optimizer"] != recipe["optimizer"]:
        recipe.update(ADAM if given["optimizer"] == "adam" else SGD)
    if stateful_drops_offsets(given):
        recipe["random_offsets"] = False
    return {key: recipe[key] if given.get(key) is None else given[key] for key in recipe}


def describe_recipe(tokenizer: str, recipe: dict, given: dict) -> str | None:
    """The line `rnnlm train` prints about the training options it chose (None: all given)."""
    chosen = [key for key in recipe if given.get(key) is None]
    if not chosen:
        return None
    words = {"optimizer": recipe["optimizer"], "lr": f"lr {recipe['lr']:g}",
             "clipnorm": f"clipnorm {recipe['clipnorm']:g}",
             "lr_schedule": f"{recipe['lr_schedule']} schedule",
             "stateful": "stateful" if recipe["stateful"] else "shuffled windows",
             "random_offsets": "random offsets" if recipe["random_offsets"] else None,
             "locked_dropout": "locked dropout" if recipe["locked_dropout"] else "per-step dropout",
             "weight_drop": _describe_weight_drop(recipe["weight_drop"], RECIPES[tokenizer]),
             "batch_size": f"batch {recipe['batch_size']}", "seq_len": f"seq-len {recipe['seq_len']}",
             # Said by training once resolved ("training matmuls in bfloat16 ..."), or float32.
             "precision": None}
    return (f"{tokenizer} recipe: " + ", ".join(words[key] for key in chosen if words[key])
            + " (options you give win)")


def _describe_weight_drop(weight_drop: float, tokenizer_recipe: dict) -> str | None:
    if weight_drop:  # training says whether the run is long enough
        return f"weight drop {weight_drop:g} if the run makes ≥ {LONG_RUN_PASSES} passes"
    if tokenizer_recipe["weight_drop"]:  # the recipe has it, recipe_weight_drop said no: say why
        return "no weight drop (rnnlm's CPU LSTM kernel only)"
    return None
