"""How many passes over the training data a run will make, and the model size that affords
(defaults.wider_for_long_runs: a wider model pays off only in long runs).

Without --time-limit the passes are counted from the epochs. With one they depend on how fast
this machine trains the model, which only a measurement tells: a throwaway copy of the model
trains a few steps on the run's own windows, with the run's optimizer and matmul precision,
after two untimed steps (the first traces the train function).
"""
from __future__ import annotations

import math
import statistics
import time

from rnnlm import data, defaults
from rnnlm.config import ModelConfig

# The measured steps are training alone; a run also validates and writes checkpoints. The
# 30-minute tiny-shakespeare runs of 1 × 768 trained for 0.93 of their time (the first epoch's
# tracing included), so a time limit's passes are counted at 0.9 of the measured pace.
TRAINING_SHARE = 0.9
WARMUP_STEPS, TIMED_STEPS = 2, 5


# Batches in one pass over the training windows, as data.lm_dataset lays them out.
steps_per_pass = data.batches_per_pass


def planned_passes(train_cfg, train_tokens: int) -> float:
    """The passes ``--epochs`` (and ``--steps-per-epoch``) plan, before any time limit
    (infinite for a run that trains until its time limit)."""
    if train_cfg.epochs is None:
        return math.inf
    per_pass = steps_per_pass(train_tokens, train_cfg.seq_len, train_cfg.batch_size)
    return train_cfg.epochs * (train_cfg.steps_per_epoch or per_pass) / per_pass


def training_tokens_per_second(model, train_cfg, train_ids) -> float:
    """Tokens/s of ``model`` (compiled, not yet trained by the run) training on ``train_ids``."""
    from rnnlm.models.precision import set_training_precision

    set_training_precision(model, train_cfg.precision)
    batches = iter(data.lm_dataset(train_ids, train_cfg.seq_len, train_cfg.batch_size,
                                   seed=train_cfg.seed).repeat())
    for _ in range(WARMUP_STEPS):
        model.train_on_batch(*next(batches))
    seconds = []
    for _ in range(TIMED_STEPS):  # the median step: one step slowed by a neighbour is not it
        started = time.perf_counter()
        model.train_on_batch(*next(batches))  # returns the loss as a number: the step is done
        seconds.append(time.perf_counter() - started)
    return train_cfg.batch_size * train_cfg.seq_len / statistics.median(seconds)


def affordable_passes(tokens_per_second: float, time_limit: float, train_tokens: int) -> float:
    return TRAINING_SHARE * time_limit * tokens_per_second / train_tokens


# A size is too big for --time-limit, whatever the corpus's length affords, where the budget
# trains it on fewer than about 3.2 tokens per recurrent parameter, for characters and words (the
# tokens at 0.9 of the measured pace, as the rule counts them). Char LSTMs on tiny-shakespeare
# and PTB's text, 1 to 10 minutes (README, "A short budget", has the table; AMX host,
# 2026-12-06): every size that lost to the next one down got at most 2.9 (2 × 512 in 10 minutes
# of PTB: 1.023 nats/char against 1 × 512's 0.983), every size that beat it at least 3.6 (1 × 512
# in 2 minutes of tiny-shakespeare: 1.471 against 1 × 256's 1.536); the wider model was level
# with 1 × 512 at 3.4–3.5. Passes alone did not separate these runs (the rule before this one
# took 1.5 passes: at 3 minutes of PTB it would have dropped 1 × 512 at ~1.4 passes for the worse
# 1 × 256): a larger size needs more text read for its parameters, not more passes.
# SentencePiece (its recipe: SGD, tied output, 8000 pieces) needs far more. On PTB's text as
# pieces (1.38M tokens; a 2-core AMD EPYC host, float32, 2026-12-06) 1 × 256 lost to 1 × 128 at
# every budget measured: 1.879 against 1.784 bits/char at 2 minutes (2.0 tokens per parameter),
# 1.708 against 1.590 at 4 (4.2), 1.491 against 1.439 at 10 (10.8). So 12, above every losing
# point: a lower bound only, as no budget measured yet gave 1 × 256 the win.
MIN_TOKENS_PER_PARAMETER = {"char": 3.2, "word": 3.2, "sentencepiece": 12.0}


def choose_size(train_ids, tok, cell, sizes, model_options, train_cfg, on_gpu, compiled_model,
                say=None) -> tuple[defaults.ModelChoice, str]:
    """The size for the corpus, or the wider one where the run makes enough passes over it
    (with --time-limit, counted at the wider model's measured pace), or, where --time-limit
    trains it on fewer than MIN_TOKENS_PER_PARAMETER tokens (the tokenizer's) per recurrent
    parameter, the largest smaller size it trains on that many. Parameters are counted with the
    user's --embedding-dim where one is given (``sizes``).
    Returns the choice and the passes, as the printed line says them. ``compiled_model(config)``:
    a model compiled as the run's will be; ``say``: where the lines about measuring go."""
    kind, tokens = tok.config()["kind"], len(train_ids)
    planned = planned_passes(train_cfg, tokens)
    embedding = sizes.get("embedding_dim")
    measured = {}

    def budget_passes(choice) -> float:  # the passes --time-limit affords at its measured pace
        key = (choice.num_layers, choice.units)
        if key in measured:
            return measured[key]
        if say:
            say(f"measuring how fast {_name(choice)} trains here (a few steps), to count the "
                f"passes that fit in --time-limit ...")
        choice_sizes, _ = defaults.fill_model_options(tokens, kind, cell, sizes, choice)
        options = (model_options if choice.weight_drop is None
                   else {**model_options, "weight_drop": choice.weight_drop})
        probe = ModelConfig(vocabulary_size=tok.vocabulary_size, **options,
                            **choice_sizes).validate()
        speed = training_tokens_per_second(compiled_model(probe), train_cfg, train_ids)
        measured[key] = affordable_passes(speed, train_cfg.time_limit, tokens)
        return measured[key]

    def line_passes(choice) -> str:  # the passes the run makes with ``choice``
        if not train_cfg.time_limit or planned <= budget_passes(choice):
            return f"{_figure(planned)} passes"
        return f"~{_figure(budget_passes(choice))} passes of {_name(choice)} in --time-limit"

    base = defaults.choose_model(tokens, kind, cell, embedding)
    wider = defaults.wider_for_long_runs(base, kind, cell, on_gpu, tokens)
    line = ""
    if wider is not None:
        pays = f"(the wider {_name(wider)} pays from {defaults.WIDER_PASSES})"
        takes = f"(≥ {defaults.WIDER_PASSES}: the wider model)"
        line = f" and {_figure(planned)} passes {pays}"
        if defaults.long_enough_for_wider(planned):
            if not train_cfg.time_limit:
                return wider, f" and {line_passes(wider)} {takes}"
            # The base trains faster than the wider model: where it makes too few passes for
            # the wider one, so does the wider one, and a short budget measures one size fewer.
            if defaults.long_enough_for_wider(budget_passes(base)):
                if defaults.long_enough_for_wider(min(planned, budget_passes(wider))):
                    return wider, f" and {line_passes(wider)} {takes}"
                # The base's 16 passes give it far more than enough tokens per parameter.
                return base, f" and {line_passes(wider)} {pays}"
    if not train_cfg.time_limit:
        return base, line
    smaller = _within_budget(base, kind, cell, planned, budget_passes, tokens, embedding)
    if smaller is not None:
        return smaller
    if wider is not None and (base.num_layers, base.units) in measured:  # the clock may bind
        line = f" and {line_passes(base)} {pays}"
    return base, line


def _tokens_per_parameter(passes: float, train_tokens: int, choice) -> float:
    """The tokens ``passes`` over the training text train ``choice`` on, per recurrent
    parameter (the rule compares it with MIN_TOKENS_PER_PARAMETER)."""
    return passes * train_tokens / choice.parameters


def _within_budget(base, kind, cell, planned, budget_passes, tokens, embedding):
    """(the size, the line's passes) where --time-limit binds and trains ``base`` on fewer than
    MIN_TOKENS_PER_PARAMETER[kind] tokens per recurrent parameter: the first size down the ladder it
    trains on that many (or the smallest, unmeasured); None where ``base`` gets them (or is the
    smallest). A size --epochs end before --time-limit does is kept: the clock does not bind."""
    choice, short, why = base, [], ""
    while True:
        smaller = defaults.smaller_model(choice, kind, cell, embedding)
        if smaller is None:
            why = ", here the smallest"
            break
        passes = budget_passes(choice)
        if passes >= planned:
            why = f"; --epochs end the run of {_name(choice)} before --time-limit"
            break
        per_parameter = _tokens_per_parameter(passes, tokens, choice)
        if per_parameter >= MIN_TOKENS_PER_PARAMETER[kind]:
            break
        short.append(f"~{_figure(passes)} passes of {_name(choice)} "
                     f"({_figure(per_parameter)} tokens per parameter)")
        choice = smaller
    if not short:
        return None
    return choice, (f" and only {', '.join(short)} in --time-limit (under "
                    f"{MIN_TOKENS_PER_PARAMETER[kind]:g}: a smaller size{why})")


def _figure(count: float) -> str:
    """A count as the printed line gives it: two significant digits under 1 (0.34, 0.0012),
    one decimal up to a million (21.3), an exponent above (a --time-limit of 1e300)."""
    if count < 1:
        return f"{count:.2g}"
    return f"{count:.1f}" if count < 1e6 else f"{count:.3g}"


def _name(choice) -> str:
    return f"{choice.num_layers} × {choice.units}"
