"""Classification labels: the classes of a data set, labels to class ids, and the stratified
validation split. NumPy only (the CLI imports this cheaply through ``classify_data``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rnnlm.errors import RnnlmError

if TYPE_CHECKING:
    from rnnlm.classify_data import Examples


def label_value(raw: str):
    """CSV labels that are integers become ints ('1' → 1), so text and .npz runs agree; so do
    whole numbers written as floats ('1.0', as a spreadsheet may export them), or '1' and '1.0'
    would be two classes."""
    raw = raw.strip()
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        return raw
    return int(number) if number.is_integer() else raw


def label_list(labels: list) -> list:
    """Sorted distinct labels (ints numerically, strings alphabetically): index = class id."""
    distinct = set(labels)
    if None in distinct:
        raise RnnlmError("some examples have no label")
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in distinct):
        return sorted(int(v) for v in distinct)
    return sorted(str(v) for v in distinct)


def encode_labels(labels, classes: list, where: str) -> np.ndarray:
    """Class ids of ``labels``. A label is read as the classes are: "3" (an .npz of strings, a
    string given in Python) is class 3 of a run whose classes are integers, as in a CSV."""
    index = {c: i for i, c in enumerate(classes)}
    if classes and isinstance(classes[0], str):
        labels = [str(v) for v in labels]
    else:
        labels = [label_value(v) if isinstance(v, str) else v for v in labels]
    unknown = sorted({repr(v.item() if isinstance(v, np.generic) else v)
                      for v in labels if v not in index})
    if unknown:
        raise RnnlmError(f"{where} has labels the model was not trained on: "
                         f"{', '.join(unknown[:10])} (known: {', '.join(map(repr, classes))})")
    return np.array([index[v] for v in labels], dtype=np.int32)


def split_validation(examples: Examples, fraction: float, seed: int):
    """A stratified random ``fraction`` of each class for validation, the rest for training.

    Each class keeps at least one training example. The validation part may come out empty
    (too few examples for ``fraction``): the caller refuses that, see ``validation_minimum``.
    """
    rng = np.random.default_rng(seed)
    labels = np.array([str(v) for v in examples.labels])
    valid = []
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        valid.extend(members[:_held_out(len(members), fraction)])
    valid_mask = np.zeros(len(labels), bool)
    valid_mask[valid] = True
    return examples.subset(np.flatnonzero(~valid_mask)), examples.subset(np.flatnonzero(valid_mask))


def _held_out(members: int, fraction: float) -> int:
    return min(int(round(members * fraction)), members - 1)


def validation_minimum(fraction: float) -> int:
    """The fewest examples a class needs so that ``fraction`` of it holds out at least one."""
    n = max(2, int(0.5 / fraction))
    while _held_out(n, fraction) < 1:
        n += 1
    return n
