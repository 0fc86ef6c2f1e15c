import numpy as np
import pytest

from rnnlm import data
from rnnlm.errors import RnnlmError


def test_windows_are_shifted_by_exactly_one_token():
    ids = np.arange(2, 40, dtype=np.uint16)
    x, y = next(iter(data.lm_dataset(ids, seq_len=5, batch_size=100, shuffle=False)))
    x, y = x.numpy(), y.numpy()
    assert x.shape == y.shape == (7, 5)
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
    np.testing.assert_array_equal(y[:, -1], x[:, -1] + 1)
    # every token after the first is a target exactly once
    assert sorted(y.ravel().tolist()) == list(range(3, 3 + 35))


def test_compact_storage_uses_small_integers():
    assert data.compact([1, 2, 3]).dtype == np.uint16
    assert data.compact([70000]).dtype == np.int32


def test_corpus_shorter_than_one_window_is_a_clear_error():
    with pytest.raises(RnnlmError, match="fewer than one window"):
        data.training_windows(np.arange(5), seq_len=10)


def test_validation_is_the_tail_and_disjoint():
    text = "".join(chr(97 + i % 26) for i in range(1000))
    train, valid = data.split_text(text, 0.1)
    assert train + valid == text and len(valid) == 100


def test_eval_streams_cover_every_target_once():
    ids = np.arange(2, 105, dtype=np.int32)
    x, y = data.eval_streams(ids, batch_size=4, seq_len=5)
    assert x.shape[1] % 5 == 0
    targets = y[y != 0]
    np.testing.assert_array_equal(np.sort(targets), ids[1:])
    # inside a row, x is the previous token of y
    row = 1
    real = y[row] != 0
    np.testing.assert_array_equal(x[row][real] + 1, y[row][real])
