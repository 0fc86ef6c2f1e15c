"""Word tokenizer in two modes.

``words``      runs of word characters, each punctuation mark separate, every line break a
               ``"\\n"`` token (so generated text keeps its lines). Unicode-aware (Korean works).
               Decoding re-spaces tokens by rule: readable, not lossless.
``whitespace`` the standard PTB/WikiText stream: ``line.split()`` plus one ``<eos>`` per line,
               the file's own ``<unk>`` kept as the unknown id, nothing split further. Use this
               for perplexities comparable with published numbers.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Iterator

import regex

from rnnlm.errors import RnnlmError
from rnnlm.tokenizers.base import (PAD, PAD_ID, UNK, VocabularyTokenizer, as_texts, check_min,
                                   text_pieces)

EOS = "<eos>"
NEWLINE = "\n"
MODES = ("words", "whitespace")

# A token is a run of characters as a reader sees them (extended grapheme clusters, \X, from
# the regex package; Python's re has none): a word is a run of clusters that start with a word
# character or a digit of any kind (\p{N}: H₂O, km², 3½, as re's \w read them), and anything
# else but space is one cluster. So a decomposed accent (e + U+0301), a Devanagari vowel sign
# or a Korean syllable typed as jamo stays in its word, and a flag (🇰🇷), a skinned emoji (👍🏽)
# or a ZWJ family (👨‍👩‍👧) stays whole, where splitting by code point made two or five tokens
# of them and decoding put spaces between.
_TOKEN = regex.compile(r"\n|(?:(?=[\w\p{N}])\X)+|(?!\s)\X")
# Best-effort spacing for decode in words mode.
_NO_SPACE_BEFORE = set(".,!?;:%)]}»”’…、。，！？：；）」』】》〉")
_NO_SPACE_AFTER = set("([{«“‘¿¡（「『【《〈")


def split_words(text: str) -> list[str]:
    """Words, punctuation marks, other symbols and newlines, each as a reader sees it (_TOKEN)."""
    return _TOKEN.findall(text)


def _lines(text: str) -> Iterator[str]:
    # Like `for line in file`: a trailing newline does not start another (empty) line.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return iter(lines)


class WordTokenizer(VocabularyTokenizer):
    """Words kept by frequency (ties: first appearance); rarer or unseen words become <unk>."""

    kind = "word"
    lossless = False

    def __init__(self, mode: str = "words", max_vocab: int | None = None, min_freq: int = 1) -> None:
        super().__init__()
        if mode not in MODES:
            raise RnnlmError(f"unknown word tokenizer mode '{mode}'; choose one of: {', '.join(MODES)}")
        self.mode = mode
        self.specials = (PAD, UNK, EOS) if mode == "whitespace" else (PAD, UNK)
        # words mode always keeps "\n" so line structure survives any max_vocab.
        self._reserved = (EOS,) if mode == "whitespace" else (NEWLINE,)
        fixed = len(self.specials) + (mode == "words")
        self.max_vocab = check_min("max_vocab", max_vocab, fixed + 1,
                                   f" (it counts the {fixed} reserved tokens)")
        self.min_freq = check_min("min_freq", min_freq, 1, allow_none=False)

    def options(self) -> dict:
        return {"mode": self.mode, "max_vocab": self.max_vocab, "min_freq": self.min_freq}

    @property
    def eos_id(self) -> int | None:
        return self._index.get(EOS) if self.mode == "whitespace" else None

    def _unknown_first_length(self, text: str) -> int:
        words = self.tokenize(text[:1000])  # the first word is in any long enough prefix
        return len(words[0]) if words else 0

    def tokenize(self, text: str) -> list[str]:
        if self.mode == "words":
            return split_words(text)
        out: list[str] = []
        for line in _lines(text):
            out.extend(line.split())
            out.append(EOS)
        return out

    def train(self, texts: Iterable[str] | str) -> "WordTokenizer":
        counts: Counter = Counter()  # insertion order = first appearance, the tie-break
        for text in as_texts(texts):
            for piece in text_pieces(text):  # a 100 MB corpus is ~20M words: never one list
                counts.update(self.tokenize(piece))
        self._learn(counts, self.max_vocab, self.min_freq, reserved=self._reserved)
        return self

    def encode(self, text: str) -> list[int]:
        self._require_trained()
        index = self._index
        unk = index[UNK]
        return [index.get(t, unk) for t in self.tokenize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        tokens = [self._tokens[self._check_id(int(i))] for i in ids if i != PAD_ID]
        if self.mode == "whitespace":
            # Tokens within a line joined by spaces; each <eos> ends its line.
            lines, line = [], []
            for tok in tokens:
                if tok == EOS:
                    lines.append(" ".join(line) + "\n")
                    line = []
                else:
                    line.append(tok)
            return "".join(lines) + " ".join(line)
        return _join_words(tokens)


def _join_words(tokens: list[str]) -> str:
    """Single spaces between tokens, except around newlines and next to punctuation."""
    glue = [
        k == 0 or tok == NEWLINE or tokens[k - 1] == NEWLINE
        or tok in _NO_SPACE_BEFORE or tokens[k - 1] in _NO_SPACE_AFTER
        for k, tok in enumerate(tokens)
    ]
    # An apostrophe between two words is a contraction or possessive: don't, Shakespeare's.
    for k in range(1, len(tokens) - 1):
        if tokens[k] in ("'", "’") and tokens[k - 1][-1].isalnum() and tokens[k + 1][0].isalnum():
            glue[k] = glue[k + 1] = True
    return "".join(tok if g else " " + tok for tok, g in zip(tokens, glue))
