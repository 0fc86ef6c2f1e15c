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


def offset_batches(seed, batches=60):
    ids = np.arange(1, 42, dtype=np.uint16)  # 41 tokens: 10 windows of 4 + 1 on the grid at 0
    ds = data.lm_dataset(ids, 4, 2, seed=seed, random_offsets=True)
    return [(x.numpy(), y.numpy()) for x, y in ds.take(batches)]


def test_random_offsets_move_the_window_grid_from_pass_to_pass():
    batches = offset_batches(seed=3)
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert x.shape == (120, 4)
    np.testing.assert_array_equal(y, x + 1)  # contiguous windows, targets shifted by one
    np.testing.assert_array_equal(np.diff(x, axis=1), 1)
    assert x.min() >= 1 and y.max() <= 41  # never past the corpus
    offsets = (x[:, 0] - 1) % 4
    assert set(offsets) == {0, 1, 2, 3}  # the grid moved (a fixed grid keeps offset 0)
    # so a token is predicted from different context lengths: token 21 at every place
    assert {int(np.where(row == 21)[0][0]) for row in x if 21 in row} == {0, 1, 2, 3}
    # A seed chooses the offsets and the order; another seed chooses others.
    again = np.concatenate([b[0] for b in offset_batches(seed=3)])
    other = np.concatenate([b[0] for b in offset_batches(seed=4)])
    np.testing.assert_array_equal(again, x)
    assert not np.array_equal(other, x)


def test_random_offsets_and_stateful_streams_do_not_mix():
    from rnnlm.config import TrainConfig

    with pytest.raises(RnnlmError, match="random offsets"):
        TrainConfig(stateful=True, random_offsets=True).validate()
