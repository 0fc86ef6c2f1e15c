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
