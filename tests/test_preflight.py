"""rnnlm.preflight: what a run checks and prepares before it writes anything (most of its
checks are exercised through `rnnlm train` in test_cli.py and test_api.py)."""
import pytest

from rnnlm import preflight
from rnnlm.config import TokenizerConfig
from rnnlm.errors import RnnlmWarning


def test_the_corpus_digest_is_the_one_runs_already_keep(monkeypatch):
    """--resume compares config.json's SHA-256 with the text's: hashed a piece at a time, it
    must stay the digest of the joined text that runs made before were saved with."""
    import hashlib

    from rnnlm.tokenizers import base

    train, valid = "First Citizen:\n한국어 문장 😀 e\u0301\n" * 40, "tail 끝\n"
    joined = hashlib.sha256(f"{train}\0{valid}".encode("utf-8")).hexdigest()
    for size in (1, 7, 1 << 20):
        monkeypatch.setattr(base, "PIECE_CHARS", size)
        assert preflight.texts_sha256(train, valid) == joined
    assert preflight.texts_sha256(train, "") != preflight.texts_sha256(train[:-1], "\n")


def test_a_sentencepiece_sample_that_holds_fewer_pieces_is_named(tiny_corpus, monkeypatch):
    """On a big corpus the tokenizer trains on a sample: the line blames the sample, not the
    text (an 80 MB corpus "held no more" than 22,299 pieces; its 8 MB sample gave 32,000)."""
    real = preflight.build_tokenizer
    monkeypatch.setattr(preflight, "build_tokenizer",
                        lambda kind, **options: real(kind, max_chars=600, **options))
    text = tiny_corpus.read_text(encoding="utf-8")
    with pytest.warns(RnnlmWarning) as warned:  # a warning: it reaches quiet API callers too
        tok = preflight.trained_tokenizer(
            TokenizerConfig(kind="sentencepiece", options={"vocab_size": 5000}), text)
    line = next(str(w.message) for w in warned if w.category is RnnlmWarning)
    assert f"{tok.vocabulary_size:,} pieces, fewer than --vocab-size 5,000 (SentencePiece trains " \
           f"on a sample of 600 of the text's {len(text):,} characters" in line
