"""The optimizer a run trains with (Adam, AdamW or SGD, clipped on the global norm, with an
optional moving average of the weights), and its state saved with the last checkpoint and
loaded again by --resume, so a resumed run goes on with the same moments and step count."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import keras
import numpy as np


def build_optimizer(lr: float, clipnorm: float, weight_decay: float = 0.0,
                    name: str = "adam", ema: float = 0.0):
    """Adam; AdamW (decoupled weight decay, biases not decayed) when weight_decay > 0; or plain
    SGD (PyTorch word_language_model's recipe: lr 20, clip 0.25, ÷4 on a plateau), with weight
    decay (biases not decayed) when weight_decay > 0. Clipping is on the global norm of all
    gradients, as torch.nn.utils.clip_grad_norm_ does.

    ``ema`` > 0: the optimizer also keeps an exponential moving average of the weights with
    this momentum per batch (Keras' use_ema, Polyak averaging); see averaged_weights."""
    averaging = dict(use_ema=True, ema_momentum=ema) if ema else {}
    if name == "sgd":
        # Keras's decay is decoupled (w -= lr · wd · w), which for plain SGD is the same step
        # as PyTorch's weight_decay (an L2 term in the gradient).
        optimizer = keras.optimizers.SGD(learning_rate=float(lr), global_clipnorm=clipnorm,
                                         weight_decay=weight_decay or None, **averaging)
    elif not weight_decay:
        return keras.optimizers.Adam(learning_rate=float(lr), global_clipnorm=clipnorm,
                                     **averaging)
    else:
        optimizer = keras.optimizers.AdamW(learning_rate=float(lr), weight_decay=weight_decay,
                                           global_clipnorm=clipnorm, **averaging)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    return optimizer


@contextmanager
def averaged_weights(model):
    """Inside: the model holds the optimizer's moving average of its weights (with --ema);
    after: the weights being trained again. Without averaging it changes nothing.

    Keras' SwapEMAWeights callback swaps at epoch boundaries, but a run stopped by --time-limit
    or early stopping would leave the swap half done (and the last checkpoint, which --resume
    continues from, holding the average); this swaps around one block and always swaps back."""
    optimizer = model.optimizer
    if not getattr(optimizer, "use_ema", False) or not optimizer.built:
        yield False
        return
    # The optimizer's own lists (the ones Keras' SwapEMAWeights uses), in matching order.
    trained, averages = optimizer._trainable_variables, optimizer._model_variables_moving_average
    kept = [variable.numpy() for variable in trained]
    for variable, average in zip(trained, averages):
        variable.assign(average)
    try:
        yield True
    finally:
        for variable, value in zip(trained, kept):
            variable.assign(value)


def optimizer_arrays(optimizer) -> dict:
    return {f"v{i}": v.numpy() for i, v in enumerate(optimizer.variables)}


def load_optimizer(optimizer, model, path: Path) -> None:
    """Restore Adam's moments and step count saved at the last checkpoint (same architecture)."""
    optimizer.build(model.trainable_variables)
    with np.load(path) as saved:
        values = [saved[f"v{i}"] for i in range(len(saved.files))]
    if len(values) != len(optimizer.variables):
        raise ValueError(f"{path} does not match this model's optimizer")
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)
