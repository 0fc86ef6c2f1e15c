"""rnnlm: recurrent language models and sequence classifiers on Keras 3.

    import rnnlm
    lm = rnnlm.train("corpus.txt", cell="lstm", units=256, epochs=5, out="runs/demo")
    print(lm.generate("To be", length=200, temperature=0.8))
    lm = rnnlm.load("runs/demo")

Re-exports only. Names resolve lazily so that importing rnnlm (and ``rnnlm --help``) does not
import TensorFlow.
"""
from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "train": "rnnlm.api",
    "resume": "rnnlm.api",
    "load": "rnnlm.api",
    "LM": "rnnlm.lm",
    "train_classifier": "rnnlm.classification",
    "Classifier": "rnnlm.classifier",
    "reference": "rnnlm",
    "build_tokenizer": "rnnlm.tokenizers",
    "load_tokenizer": "rnnlm.tokenizers",
    "RnnlmError": "rnnlm.errors",
    "RnnlmWarning": "rnnlm.errors",
    "TrainingInterrupted": "rnnlm.errors",
    "ModelConfig": "rnnlm.config",
    "TrainConfig": "rnnlm.config",
    "TokenizerConfig": "rnnlm.config",
}

__all__ = sorted(_EXPORTS)


_NEED_TENSORFLOW = {"rnnlm.api", "rnnlm.lm", "rnnlm.classification", "rnnlm.classifier"}


def __getattr__(name):
    if name == "reference":
        return import_module("rnnlm.reference")
    if name in _EXPORTS:
        # Importing TensorFlow draws from Python's global random: the caller's sequence goes
        # on as if rnnlm had not been imported (as rnnlm.train promises for its own draws).
        import random

        state = random.getstate()
        try:
            if _EXPORTS[name] in _NEED_TENSORFLOW:  # its log lines off the terminal (tf_logs.py)
                from rnnlm import tf_logs

                tf_logs.quiet_for_the_api()
            return getattr(import_module(_EXPORTS[name]), name)
        finally:
            random.setstate(state)
    raise AttributeError(f"module 'rnnlm' has no attribute {name!r}")
