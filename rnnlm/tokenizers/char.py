"""Character tokenizer: one id per Unicode code point (Hangul, accents, emoji alike)."""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from rnnlm.tokenizers.base import PAD_ID, UNK_ID, VocabularyTokenizer, as_texts, check_min


class CharTokenizer(VocabularyTokenizer):
    """Ids by frequency, ties by code point, so the same text always gives the same ids.

    Lossless for text made of characters seen in training; unseen characters become <unk>
    (decoded as the literal ``<unk>``) rather than raising.
    """

    kind = "char"
    lossless = True
    encodes_anywhere = True

    def _unknown_first_length(self, text: str) -> int:
        return 1  # one character, as every token

    def __init__(self, max_vocab: int | None = None) -> None:
        super().__init__()
        # max_vocab caps vocabulary_size, specials included (Keras TextVectorization's max_tokens).
        self.max_vocab = check_min("max_vocab", max_vocab, len(self.specials) + 1,
                                   " (it counts <pad> and <unk>)")

    def options(self) -> dict:
        return {"max_vocab": self.max_vocab}

    def train(self, texts: Iterable[str] | str) -> "CharTokenizer":
        counts: Counter = Counter()
        for text in as_texts(texts):
            counts.update(text)
        # Code-point order first; the stable frequency sort in _learn then breaks ties by it.
        self._learn(Counter(dict(sorted(counts.items()))), self.max_vocab)
        return self

    def encode(self, text: str) -> list[int]:
        self._require_trained()
        index = self._index
        return [index.get(ch, UNK_ID) for ch in text]

    def decode(self, ids: Iterable[int]) -> str:
        tokens = self._tokens
        return "".join(tokens[self._check_id(int(i))] for i in ids if i != PAD_ID)
