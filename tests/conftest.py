import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def mirror() -> Path | None:
    """The public data mirror (RNNLM_DATA, else ../shared/data beside the checkout)."""
    candidate = Path(os.environ.get("RNNLM_DATA", REPO.parent / "shared" / "data"))
    return candidate if candidate.is_dir() else None


@pytest.fixture
def data_mirror() -> Path:
    found = mirror()
    if found is None:
        pytest.skip("data mirror not found (set RNNLM_DATA or place it at ../shared/data)")
    return found


TINY_TEXT = ("the quick brown fox jumps over the lazy dog.\n"
             "빠른 갈색 여우가 게으른 개를 뛰어넘는다.\n"
             "pack my box with five dozen liquor jugs!\n") * 12


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(TINY_TEXT, encoding="utf-8")
    return path


TINY_MODEL = ["--units", "16", "--embedding-dim", "8", "--seq-len", "16", "--batch-size", "8",
              "--epochs", "1"]


def keras_tf_rnn():
    """Keras's TensorFlow RNN module, where its cuDNN rules live (the module, not the function
    of the same name that its package exports)."""
    import importlib

    return importlib.import_module("keras.src.backend.tensorflow.rnn")


@pytest.fixture
def cudnn_mask_check(monkeypatch) -> list[bool]:
    """A CPU stand-in for the cuDNN call Keras makes for each LSTM/GRU layer on a GPU.

    cuDNN takes a mask only when every row is right-padded and none is all padding, and Keras
    asserts that inside its cuDNN call (in a compiled function, such as training's and
    evaluation's, a run-time error that stops the run). The stand-in applies Keras's own
    assertion to every mask it is given, then falls back to Keras's loop as Keras does without
    a GPU. Returns the calls seen, True where a mask came with one."""
    from keras.src import backend

    from rnnlm.models import fused_lstm

    tf_rnn = keras_tf_rnn()
    seen = []

    def stand_in(inputs, *states_and_mask, **kwargs):
        mask = states_and_mask[-1]  # Keras passes (inputs, *initial states, mask, ...)
        if mask is not None:
            tf_rnn._assert_valid_mask(mask)
        seen.append(mask is not None)
        raise NotImplementedError

    monkeypatch.setattr(backend, "lstm", stand_in)
    monkeypatch.setattr(backend, "gru", stand_in)
    monkeypatch.setattr(fused_lstm, "DEFAULT_FUSED", False)  # a GPU's LSTM calls are Keras's
    return seen
