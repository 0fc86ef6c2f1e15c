"""Tokenizer contract: ids, round-trips, save/load, options, error messages."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnlm.tokenizers import (
    PAD_ID, UNK_ID, CharTokenizer, SentencePieceTokenizer, WordTokenizer, build_tokenizer, load_tokenizer,
)

CORPUS = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n  Indented  line with   runs of spaces\tand a tab.\n"
    "안녕하세요, 세계! 오늘은 날씨가 좋습니다.\n café naïve résumé — “quotes” 😀\n"
) * 20
SAMPLES = [
    "Hello  world\n\n  indented\tTabbed\t\tend ",
    "안녕하세요, 세계!\n  탭\t끝 ",
    " leading and trailing spaces   ",
    "café naïve résumé e\u0301 😀🎉",
    "\n\n\t \n",
    "",
]
UNSEEN = ["Ωmega ∑ 漢字 🦀", "a\u2581b \u2581", "\u3000ideographic\u00a0nbsp\r\nCRLF", "<pad> <unk> <s> </s>", "\x00nul"]
SP_KINDS = [("unigram", 400), ("bpe", 400)]


@pytest.fixture(scope="module", params=SP_KINDS, ids=[k for k, _ in SP_KINDS])
def sp(request):
    model_type, vocab_size = request.param
    return build_tokenizer("sentencepiece", model_type=model_type, vocab_size=vocab_size).train([CORPUS])


def _all_trained(sp_tok):
    return [
        build_tokenizer("char").train(CORPUS),
        build_tokenizer("word").train(CORPUS),
        build_tokenizer("word", mode="whitespace").train(CORPUS),
        sp_tok,
    ]


def test_save_load_gives_identical_ids(sp, tmp_path):
    text = CORPUS[:500] + "unseen ∑ words"
    for k, tok in enumerate(_all_trained(sp)):
        tok.save(tmp_path / str(k))
        loaded = load_tokenizer(tmp_path / str(k))
        assert type(loaded) is type(tok) and loaded.config() == tok.config()
        assert loaded.vocabulary() == tok.vocabulary()
        assert loaded.encode(text) == tok.encode(text)
        assert json.loads((tmp_path / str(k) / "tokenizer.json").read_text("utf-8"))["kind"] == tok.kind
    assert (tmp_path / "3" / "tokenizer.model").is_file()
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp")]  # atomic writes cleaned up


def test_pad_never_produced_and_specials(sp):
    for tok in _all_trained(sp):
        ids = tok.encode(CORPUS + "".join(UNSEEN) + " <pad> ")
        assert PAD_ID not in ids and all(0 <= i < tok.vocabulary_size for i in ids)
        assert tok.id_to_token(PAD_ID) == "<pad>" and tok.id_to_token(UNK_ID) == "<unk>"
        assert {PAD_ID, UNK_ID} <= set(tok.special_ids)
        assert tok.decode([PAD_ID, PAD_ID]) == ""


@pytest.mark.parametrize("text", SAMPLES)
def test_char_round_trip(text):
    tok = CharTokenizer().train(CORPUS + text)
    assert tok.lossless and tok.eos_id is None
    assert tok.decode(tok.encode(text)) == text


def test_char_unseen_maps_to_unk_and_vocab_counts_specials():
    tok = CharTokenizer().train("abca")
    assert tok.vocabulary() == ["<pad>", "<unk>", "a", "b", "c"]  # frequency, then code point
    assert tok.vocabulary_size == 5
    assert tok.encode("aΩd") == [2, UNK_ID, UNK_ID]
    assert tok.count_unknown("aΩd") == 2
    assert CharTokenizer(max_vocab=3).train("abca").vocabulary() == ["<pad>", "<unk>", "a"]


@pytest.mark.parametrize("text", SAMPLES + UNSEEN)
def test_sentencepiece_round_trip(sp, text):
    ids = sp.encode(text)
    assert sp.decode(ids) == text
    assert UNK_ID not in ids  # byte fallback: nothing is unknown
    assert sp.count_unknown(text) == 0


@pytest.mark.parametrize("kind", ["char", "word", "sentencepiece"])
def test_bytes_that_are_not_utf8_read_as_unk_in_every_kind(sp, kind):
    """A shell argument with a byte that is not UTF-8 reaches Python as a lone surrogate
    ('\udcff'); every kind reads it as one <unk> (SentencePiece raised TypeError)."""
    tok = sp if kind == "sentencepiece" else build_tokenizer(kind).train("한국 gug\n")
    ids = tok.encode("한\udcffgug\udcff")
    assert ids.count(UNK_ID) >= 2 and PAD_ID not in ids
    assert tok.encode("한\udcffgug")[:len(tok.encode("한"))] == tok.encode("한")


def test_sentencepiece_tiny_corpus_and_bad_sizes():
    tok = SentencePieceTokenizer(vocab_size=8000).train("tiny corpus")  # soft limit: fewer pieces
    assert tok.vocabulary_size <= 8000 and tok.decode(tok.encode("tiny\n  corpus?")) == "tiny\n  corpus?"
    with pytest.raises(ValueError, match="vocab_size must be an integer >= 261"):
        SentencePieceTokenizer(vocab_size=100)
    korean = "".join(chr(0xAC00 + i) for i in range(300))  # 300 distinct syllables
    with pytest.raises(ValueError, match="too small for this corpus"):
        SentencePieceTokenizer(vocab_size=300, character_coverage=1.0).train(korean)
    with pytest.raises(ValueError, match="empty text"):
        SentencePieceTokenizer().train(["", "\n\n"])
    with pytest.raises(ValueError, match="model_type"):
        SentencePieceTokenizer(model_type="word")


def test_sentencepiece_spells_the_rarest_characters_in_bytes_when_the_vocabulary_is_small():
    """Korean text holds more distinct syllables than a small --vocab-size has pieces for at
    SentencePiece's default coverage: the rarest go to byte pieces instead of a refusal."""
    rng = np.random.default_rng(0)
    counts = [1 + 20000 // (rank + 1) ** 2 for rank in range(700)]  # 700 syllables, Zipf-like
    syllables = rng.permutation(np.repeat([chr(0xAC00 + i) for i in range(700)], counts))
    text = "\n".join(" ".join("".join(syllables[i:i + 3]) for i in range(start, start + 60, 3))
                     for start in range(0, len(syllables) - 60, 60))
    tok = SentencePieceTokenizer(vocab_size=600).train(text)
    assert 0.98 <= tok.lowered_coverage < 0.9995 and tok.vocabulary_size <= 600
    assert tok.decode(tok.encode(text)) == text  # the rare syllables come back from bytes
    assert SentencePieceTokenizer(vocab_size=2000).train(text).lowered_coverage is None
    even = "".join(chr(0xAC00 + i) for i in range(700)) * 3  # 98% of it is 686 syllables
    with pytest.raises(ValueError, match="make up 98% of the text"):
        SentencePieceTokenizer(vocab_size=600).train(even)
    with pytest.raises(ValueError, match=r"character_coverage must be in \[0.98, 1\]"):
        SentencePieceTokenizer(character_coverage=0.9)


def test_sentencepiece_newline_and_tab_are_single_pieces(sp):
    assert sp.encode("\n") == [sp.token_to_id("\n")]
    assert sp.encode("\t") == [sp.token_to_id("\t")]


def test_word_keeps_lines_and_spacing():
    tok = WordTokenizer().train([CORPUS, "don't (stop) now"])
    text = "Before we proceed, hear me speak.\n\nAll:\n안녕하세요, 세계!"
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode("don't (stop) “now”")) == "don't (stop) “now”"
    assert not tok.lossless and tok.eos_id is None
    assert "\n" in tok.vocabulary()


def test_word_combining_marks_stay_in_word():
    tok = WordTokenizer().train("cafe\u0301 e\u0301te")
    assert tok.vocabulary()[3:] == ["cafe\u0301", "e\u0301te"]


def test_word_emoji_sequences_stay_whole():
    """A flag is two regional indicators, a skinned thumb a thumb and a tone, a family five
    code points joined by ZWJ: each one token, decoded without spaces inside (split by code
    point they came out as two boxed letters, a stray swatch, and a family apart)."""
    text = "Korea 🇰🇷 👍🏽 👨\u200d👩\u200d👧 ❤\ufe0f 나는 नमस्ते"
    tok = WordTokenizer().train(text)
    assert {"🇰🇷", "👍🏽", "👨\u200d👩\u200d👧", "❤\ufe0f", "नमस्ते"} <= set(tok.vocabulary())
    assert "🇰" not in tok.vocabulary() and "\u200d" not in tok.vocabulary()
    assert tok.decode(tok.encode(text)) == text
    # digits of every kind stay in their word, as Python's re read them (regex's \w has no No)
    from rnnlm.tokenizers.word import split_words

    assert split_words("H₂O 5 km² 3½") == ["H₂O", "5", "km²", "3½"]


def test_word_whitespace_mode_is_ptb_stream():
    tok = WordTokenizer(mode="whitespace").train(" a <unk> b \n b c a\n")
    a, b, eos = tok.token_to_id("a"), tok.token_to_id("b"), tok.eos_id
    assert tok.vocabulary() == ["<pad>", "<unk>", "<eos>", "a", "b", "c"]  # <unk> is not a new word
    assert tok.encode("a <unk> b") == [a, UNK_ID, b, eos]
    assert tok.encode("a <unk> b\n") == [a, UNK_ID, b, eos]
    assert tok.encode("a,b\n\nzzz <pad>") == [UNK_ID, eos, eos, UNK_ID, UNK_ID, eos]
    assert tok.decode(tok.encode("a  b\nc\n")) == "a b\nc\n"
    assert tok.count_unknown("a <unk> zz") == 2


def test_word_max_vocab_and_min_freq():
    text = "b a c a b a d"  # a:3 b:2 c:1 d:1 ; ties by first appearance
    words = WordTokenizer(mode="whitespace", max_vocab=5).train(text).vocabulary()
    assert words == ["<pad>", "<unk>", "<eos>", "a", "b"]
    assert WordTokenizer(mode="whitespace", min_freq=2).train(text).vocabulary()[3:] == ["a", "b"]
    assert WordTokenizer(mode="whitespace").train(text).vocabulary()[3:] == ["a", "b", "c", "d"]
    tok = WordTokenizer(max_vocab=4).train(text)
    assert tok.vocabulary() == ["<pad>", "<unk>", "\n", "a"] and tok.encode("a d") == [3, UNK_ID]


@pytest.mark.parametrize("kind, options, match", [
    ("char", {"max_vocab": 0}, "max_vocab must be an integer >= 3"),
    ("word", {"min_freq": 0}, "min_freq must be an integer >= 1"),
    ("word", {"mode": "chars"}, "unknown word tokenizer mode 'chars'; choose one of: words, whitespace"),
    ("char", {"vocab_size": 10}, "unknown option"),
    ("sentencepiece", {"character_coverage": 1.5}, "character_coverage"),
])
def test_bad_options(kind, options, match):
    with pytest.raises(ValueError, match=match):
        build_tokenizer(kind, **options)


def test_unknown_kind_message():
    with pytest.raises(ValueError) as info:
        build_tokenizer("x")
    assert str(info.value) == "unknown tokenizer 'x'; choose one of: char, word, sentencepiece"


def test_load_missing_or_garbled(tmp_path):
    with pytest.raises(ValueError, match="tokenizer.json"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ValueError, match="tokenizer.json is not a valid tokenizer file") as info:
        load_tokenizer(tmp_path)
    assert "\n" not in str(info.value)
    (tmp_path / "tokenizer.json").write_text(json.dumps({"kind": "sentencepiece", "options": {}, "vocabulary": []}))
    with pytest.raises(ValueError, match="tokenizer.model"):
        load_tokenizer(tmp_path)


def test_untrained_tokenizer_says_so():
    with pytest.raises(ValueError, match="not trained"):
        CharTokenizer().encode("a")


def test_no_tensorflow_import():
    import subprocess
    code = "import rnnlm.tokenizers, sys; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _data_dir() -> Path | None:
    root = os.environ.get("RNNLM_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return Path(root) if Path(root).is_dir() else None


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_round_trip_on_mirror_corpora(model_type):
    data = _data_dir()
    shakespeare = data and data / "tinyshakespeare" / "input.txt"
    korean = data and data / "korean_text" / "korean-english-park.dev.ko"
    if not (shakespeare and shakespeare.is_file() and korean.is_file()):
        pytest.skip("data mirror not found (set RNNLM_DATA or provide ../shared/data)")
    texts = [shakespeare.read_text("utf-8")[:200_000], korean.read_text("utf-8")[:100_000]]
    tok = SentencePieceTokenizer(model_type=model_type, vocab_size=2000).train(texts)
    for text in texts:
        ids = tok.encode(text)
        assert tok.decode(ids) == text and UNK_ID not in ids
        assert len(ids) < len(text)  # real subwords, not mostly byte pieces


def test_sentencepiece_never_samples_control_or_impossible_bytes(sp):
    """Byte fallback adds all 256 byte pieces; a sampler that emitted <0x00> or <0xFF> would
    print a control character or U+FFFD. Every other byte piece stays sampleable: a rare
    Korean syllable is spelled in its UTF-8 bytes."""
    from rnnlm.tokenizers.sentencepiece import NEVER_SAMPLED_BYTES

    for tok in _all_trained(sp):
        if tok.kind != "sentencepiece":
            continue
        forbidden = set(tok.special_ids)
        byte_piece = {b: tok.token_to_id(f"<0x{b:02X}>") for b in range(256)}
        assert {byte_piece[b] for b in NEVER_SAMPLED_BYTES} <= forbidden
        assert {byte_piece[b] for b in (0xF1, 0xF2, 0xF4)} <= forbidden  # unassigned, private use
        for b in (0x0D, 0x20, 0x41, 0x80, 0xBF, 0xEA, 0xF0, 0xF3):  # \r, ASCII, lead, tail bytes
            assert byte_piece[b] not in forbidden
        assert tok.decode([byte_piece[b] for b in "빠".encode("utf-8")]) == "빠"
        assert tok.byte_pieces == {byte_piece[b]: b for b in range(256)}  # for the sampler
    assert all(t.byte_pieces == {} for t in _all_trained(sp) if t.kind != "sentencepiece")


def test_saved_tokenizer_files_are_readable_like_the_run_s_other_files(sp, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        sp.save(tmp_path)
        (tmp_path / "other.txt").write_text("x")
    finally:
        os.umask(old)
    other = stat.S_IMODE((tmp_path / "other.txt").stat().st_mode)
    for name in ("tokenizer.json", "tokenizer.model"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == other == 0o644


# ----------------------------------------------------------------------------- pieces
@pytest.mark.parametrize("size", [1, 7, 64])
def test_text_pieces_cut_after_newlines_and_join_to_the_text(size):
    from rnnlm.tokenizers.base import text_pieces

    for text in [CORPUS, "no newline at all " * 9, "\n\n\n", "a\n", ""]:
        pieces = list(text_pieces(text, size))
        assert "".join(pieces) == text
        assert all(p.endswith("\n") for p in pieces[:-1])  # a line is never cut
        assert all(len(p) >= size for p in pieces[:-1])
        anywhere = list(text_pieces(text, size, anywhere=True))
        assert "".join(anywhere) == text and all(len(p) == size for p in anywhere[:-1])


@pytest.mark.parametrize("size", [1, 5, 300])
def test_a_corpus_encoded_in_pieces_has_the_whole_texts_ids(sp, size, monkeypatch):
    """data.encode_corpus encodes a piece at a time (memory); the ids must be encode's."""
    import numpy as np

    from rnnlm import data
    from rnnlm.tokenizers import base

    texts = [CORPUS + "unseen ∑ 漢字 e\u0301 Ωmega\n\n  tail without newline",
             "one line, no newline, é\u0301 안녕"] + SAMPLES
    monkeypatch.setattr(base, "PIECE_CHARS", size)
    for tok in _all_trained(sp):
        for text in texts:
            ids = data.encode_corpus(tok, text)
            assert ids.dtype == np.uint16
            assert ids.tolist() == tok.encode(text), (tok.kind, text[:30])


def test_word_vocabulary_trained_in_pieces_is_the_whole_texts(monkeypatch):
    """Word training counts a piece at a time: the same counts and first-appearance order."""
    from rnnlm.tokenizers import base

    whole = build_tokenizer("word").train(CORPUS).vocabulary()
    monkeypatch.setattr(base, "PIECE_CHARS", 3)
    assert build_tokenizer("word").train(CORPUS).vocabulary() == whole
