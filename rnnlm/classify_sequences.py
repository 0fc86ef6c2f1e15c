"""Numeric sequences for the classifiers (MNIST rows, any (N, T, F) features): read from an
.npz, kept in the dtype they were stored in, and made what a model reads (``as_float``, with
the run's ``input_scale``). No TensorFlow import here."""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from rnnlm.errors import RnnlmError


def read_npz(path: Path, split: str, need_labels: bool):
    """Examples of an .npz: x as stored (``as_float`` scales it as the model reads it)."""
    from rnnlm.classify_data import Examples  # (it imports this module)

    # np.load on an .npz is lazy: it reads the zip directory, and each member only when it is
    # indexed, so a damaged member (a truncated download, a bad CRC) fails at archive[key].
    unreadable = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError)
    try:
        archive = np.load(path, allow_pickle=False)
    except unreadable as e:
        raise RnnlmError(f"cannot read {path} as .npz: {_npz_problem(e)}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a single .npy array under an .npz name
        raise RnnlmError(f"cannot read {path} as .npz: it holds one .npy array, not arrays "
                         f"x and y (write it with np.savez)")
    with archive:
        keys = set(archive.files)
        x_key, y_key = ("x", "y") if "x" in keys else (f"x_{split}", f"y_{split}")
        if x_key not in keys or (need_labels and y_key not in keys):
            raise RnnlmError(f"{path} needs arrays x and y (or x_{split}/y_{split}); "
                             f"it has: {', '.join(sorted(keys)) or 'none'}")
        key = x_key
        try:
            x = archive[x_key]
            key = y_key
            y = archive[y_key] if y_key in keys else None
        except ValueError as e:
            if "allow_pickle" not in str(e):
                raise RnnlmError(f"cannot read {path} as .npz: {key}: {_npz_problem(e)}") from None
            raise RnnlmError(f"{path}: {key} is ragged or an object array ({e}); give a "
                             f"regular (N, T, F) array, padded to one length") from None
        except unreadable as e:
            raise RnnlmError(f"cannot read {path} as .npz: {key}: {_npz_problem(e)}") from None
    x = sequence_shape(x, str(path))
    if y is not None and (y.ndim != 1 or len(y) != len(x)):
        raise RnnlmError(f"{path}: {y_key} must have shape ({len(x)},), got {y.shape}")
    if y is not None and np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)):
        y = y.astype(np.int64)  # 0.0/1.0 labels are the classes 0 and 1
    labels = [_python(v) for v in y] if y is not None else [None] * len(x)
    return Examples(labels, x=x, source=str(path))


def _npz_problem(e: Exception) -> str:
    """One line for a failed .npz read (numpy says "pickled data" for any non-zip file)."""
    if isinstance(e, ValueError) and "pickle" in str(e):
        return "not a zip archive of arrays (np.savez writes one)"
    text = (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def pixel_scale(x: np.ndarray) -> float:
    """What a model divides integer inputs by: 255 where it was trained on uint8 (pixels, to
    [0, 1]), else 1. Recorded in the run (its train "input_scale"), so that the same pixels as
    int64 (``x.tolist()``) or another integer type are read as it read them."""
    return 255.0 if x.dtype == np.uint8 else 1.0


def as_float(x: np.ndarray, scale: float) -> np.ndarray:
    """(N, T, F) float32 as the model reads it: integer inputs divided by ``scale``, floats as
    they are (they are taken as already scaled)."""
    divide = scale != 1 and (np.issubdtype(x.dtype, np.integer) or x.dtype == bool)
    return (x.astype(np.float32) / scale).astype(np.float32) if divide else x.astype(np.float32)


def sequence_shape(x, where: str = "input") -> np.ndarray:
    """(N, T, F) in its own dtype: (N, T) gets F = 1, (N, H, W, 1) images drop the channel."""
    x = np.asarray(x)
    if x.dtype == object:
        raise RnnlmError(f"{where}: the sequences are ragged; pad them to one length (N, T, F)")
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or 0 in x.shape:
        raise RnnlmError(f"{where}: x must be (N, T, F) or (N, H, W) images, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise RnnlmError(f"{where}: x must be numeric, got dtype {x.dtype}")
    return x


def _python(value):
    return value.item() if hasattr(value, "item") else value


def check_shapes(sets: dict, pooling: str) -> None:
    """Numeric data: one feature count everywhere; one sequence length for 'flatten'."""
    train = sets["train"].x
    for name, s in sets.items():
        if s.x.shape[2] != train.shape[2]:
            raise RnnlmError(f"the {name} data has {s.x.shape[2]} features per step, "
                             f"the training data {train.shape[2]}")
        if pooling == "flatten" and s.x.shape[1] != train.shape[1]:
            raise RnnlmError(f"pooling 'flatten' needs one sequence length: the {name} data has "
                             f"{s.x.shape[1]} steps, the training data {train.shape[1]}")
