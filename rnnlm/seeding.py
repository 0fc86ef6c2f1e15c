"""The training seed: its 32-bit range, and the global random state it must not take over.

Keras seeds a run's initial weights, dropout masks and window order through
``keras.utils.set_random_seed``, which also reseeds Python's ``random`` and NumPy's global
generator: a notebook that drew ``np.random.rand()`` after ``rnnlm.train`` would draw what
``np.random.seed(0)`` gives. ``keeps_user_random_state`` puts those two back afterwards.
"""
from __future__ import annotations

import functools
import random

# NumPy's MT19937, which set_random_seed seeds, takes 32 bits.
MAX_SEED = 2 ** 32 - 1


def seed_everything(seed: int) -> None:
    """Seed Keras, TensorFlow, NumPy and Python. A resumed run seeds with seed + epochs done,
    which may pass 2**32 - 1: it wraps round instead of failing."""
    import keras

    keras.utils.set_random_seed(int(seed) % (MAX_SEED + 1))


def keeps_user_random_state(fn):
    """Decorator: Python's and NumPy's global random state are as the caller left them after
    ``fn`` (TensorFlow's global seed is left set, as Keras's own set_random_seed leaves it)."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        import numpy as np

        python_state, numpy_state = random.getstate(), np.random.get_state()
        try:
            return fn(*args, **kwargs)
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
    return wrapped
