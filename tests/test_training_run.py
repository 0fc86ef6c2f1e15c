"""Training as a process: TensorBoard logs, Ctrl-C saving a checkpoint before exiting, the seed."""
import json
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

import rnnlm
from rnnlm.cli import app


def test_tensorboard_logs_go_into_the_run(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(tiny_corpus), "--out", str(run), "--units", "8",
                                      "--seq-len", "16", "--epochs", "1", "--tensorboard"])
    assert result.exit_code == 0, result.output
    events = list((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard event files written"


def test_api_training_does_not_warn_about_shuffle(tiny_corpus, tmp_path):
    # The CLI silences Keras warnings, the Python API does not: fit must not be told to shuffle
    # a tf.data pipeline that already orders its own windows.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rnnlm.train(str(tiny_corpus), tmp_path / "run", units=8, seq_len=16, epochs=1,
                    steps_per_epoch=2, quiet=True)
    assert not [w for w in caught if "shuffle" in str(w.message)]


def _signals_as_in_a_terminal():
    """A test run in the background (`nohup ... &`) ignores SIGINT, and its children inherit
    that (Python then installs no KeyboardInterrupt): the child gets the default back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture
def python_sigint(monkeypatch):
    """SIGINT raising KeyboardInterrupt in this process, as in a terminal, whatever the test
    runner inherited."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("signal_number, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_saves_a_checkpoint_and_exits(tiny_corpus, tmp_path, signal_number,
                                                        code):
    """SIGTERM (kill, timeout, a container stopping) ended a training on the spot; it now
    saves the checkpoint as Ctrl-C does."""
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "rnnlm.cli", "train", str(tiny_corpus), "--out", str(run),
         "--units", "8", "--seq-len", "8", "--batch-size", "2", "--epochs", "100000",
         "--steps-per-epoch", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_signals_as_in_a_terminal)
    deadline = time.time() + 120
    while not (run / "history.json").exists() and time.time() < deadline:
        time.sleep(0.5)
    assert (run / "history.json").exists(), "training never finished an epoch"
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "checkpoint saved" in stderr and "Traceback" not in stderr
    state = json.loads((run / "state.json").read_text())
    assert state["epochs_done"] >= 1
    assert (run / "checkpoints" / "last.weights.h5").exists()


def test_the_seed_chooses_the_initial_weights(tiny_corpus, tmp_path):
    # Two runs in one process: without seeding before the model is built, the second run's
    # initial weights would come from wherever the first run left Keras's random state.
    options = dict(units=8, embedding_dim=4, seq_len=16, batch_size=4, epochs=1,
                   steps_per_epoch=2)
    runs = [rnnlm.train(str(tiny_corpus), tmp_path / name, seed=seed, **options)
            for name, seed in (("a", 3), ("b", 3), ("c", 4))]
    weights = [lm.model.get_weights() for lm in runs]
    assert all(np.array_equal(x, y) for x, y in zip(weights[0], weights[1]))
    assert not all(np.array_equal(x, y) for x, y in zip(weights[0], weights[2]))


def test_weight_files_hold_the_weights_and_not_the_optimizer_state(tmp_path):
    """Keras's save_weights on a compiled model writes Adam's moments too (each file three
    times the weights); the run keeps them once, in checkpoints/last.optimizer.npz."""
    import h5py

    import rnnlm
    from tests.conftest import TINY_TEXT

    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    run = tmp_path / "run"
    lm = rnnlm.train(str(corpus), out=run, units=16, embedding_dim=8, seq_len=16, batch_size=8,
                     epochs=1, optimizer="adam")
    for name in ("model.weights.h5", "checkpoints/best.weights.h5", "checkpoints/last.weights.h5"):
        with h5py.File(run / name, "r") as f:
            assert "optimizer" not in f, name
    weights_bytes = sum(w.numpy().nbytes for w in lm.model.weights)
    assert (run / "model.weights.h5").stat().st_size < 1.5 * weights_bytes + 50_000
    assert rnnlm.resume(run, epochs=1).info()["epochs_done"] == 2  # and the run goes on from them


def test_a_signal_while_a_checkpoint_is_written_waits_for_it(python_sigint):
    """Ctrl-C or SIGTERM inside interrupts_deferred is handled once the block is done: the
    block's writes all happen, then the handler runs (KeyboardInterrupt, the CLI's Terminated)."""
    import os

    from rnnlm import interrupts
    from rnnlm.cli_common import Terminated, sigterm_as_interrupt

    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("after SIGINT")
    received = {"code": 130}
    with pytest.raises(Terminated), sigterm_as_interrupt(received):
        with interrupts.interrupts_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)  # the first signal is the one handled
            done.append("after SIGTERM")
    assert done == ["after SIGINT", "after SIGTERM"] and received["code"] == 143
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_signal_during_a_failed_checkpoint_is_still_handled():
    """A full disk while a checkpoint was written dropped the SIGTERM that came meanwhile:
    the CLI then exited 2 and an API process kept running."""
    import os

    from rnnlm import interrupts
    from rnnlm.cli_common import Terminated, sigterm_as_interrupt

    with pytest.raises(Terminated), sigterm_as_interrupt({"code": 130}):
        with interrupts.interrupts_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            raise OSError(28, "No space left on device")
