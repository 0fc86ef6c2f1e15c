"""The tokenizer contract shared by every kind (char, word, sentencepiece).

Ids 0 and 1 are fixed for every kind so the model side never has to ask:
0 is padding (``Embedding(mask_zero=True)`` masks it) and 1 is the unknown token.
Nothing here imports TensorFlow: data loading and the CLI stay cheap to import.
"""
from __future__ import annotations

import json
import numbers
import os
import unicodedata
from abc import ABC, abstractmethod
from collections import Counter
from typing import Any, ClassVar, Iterable, Iterator

from rnnlm.atomic import write_atomic
from rnnlm.corpora import unix_line_breaks
from rnnlm.errors import RnnlmError

PAD_ID = 0
UNK_ID = 1
PAD = "<pad>"
UNK = "<unk>"
CONFIG_FILE = "tokenizer.json"
FORMAT_VERSION = 1


def as_texts(texts: Iterable[str] | str) -> Iterable[str]:
    # A bare string is iterable too (as characters); treat it as one document instead.
    return [texts] if isinstance(texts, str) else texts


# A corpus is read a piece at a time where a whole-text list would cost most (its ids, or its
# words): a Python list holds 8 bytes per item, and ids need 2. Every kind reads a text line by
# line (a char reads each character alone), so the pieces' tokens are the whole text's.
PIECE_CHARS = 1 << 20


def text_pieces(text: str, size: int | None = None, anywhere: bool = False) -> Iterator[str]:
    """``text`` as consecutive pieces of about ``size`` characters (default PIECE_CHARS), each
    ending just after a newline, so a line is never cut (a line longer than ``size`` is one
    piece); ``anywhere``: pieces of exactly ``size`` (the last one shorter), for a tokenizer
    that reads each character alone."""
    size = max(1, size or PIECE_CHARS)
    start = 0
    while start < len(text):
        end = start + size
        if not anywhere and end < len(text):
            newline = text.find("\n", end - 1)
            end = len(text) if newline < 0 else newline + 1
        yield text[start:end]
        start = end


def check_min(name: str, value: Any, minimum: int, why: str = "",
              allow_none: bool = True) -> int | None:
    """An integer option of at least ``minimum``, NumPy's included, as a Python int (what
    tokenizer.json can hold)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise RnnlmError(f"{name} must be an integer >= {minimum}{why}, got {value!r}")
    return int(value)


class Tokenizer(ABC):
    """text <-> list of ids. Subclasses set ``kind`` and implement the abstract methods."""

    kind: ClassVar[str]
    lossless: ClassVar[bool] = False  # decode(encode(s)) == s for text made of known symbols
    # encode(a + b) == encode(a) + encode(b) wherever a ends: text_pieces may cut a line.
    encodes_anywhere: ClassVar[bool] = False

    @abstractmethod
    def train(self, texts: Iterable[str] | str) -> "Tokenizer":
        """Learn the vocabulary from texts (an iterable of documents, or one string)."""

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Ids for text; never produces PAD_ID; unseen symbols become UNK_ID (or bytes)."""

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str:
        """Text for ids; PAD_ID is skipped."""

    @property
    @abstractmethod
    def vocabulary_size(self) -> int:
        """Number of ids including the specials: the model's Embedding/Dense size."""

    @abstractmethod
    def id_to_token(self, i: int) -> str: ...

    @abstractmethod
    def token_to_id(self, token: str) -> int:
        """The token's id, or UNK_ID for a token outside the vocabulary."""

    @abstractmethod
    def options(self) -> dict[str, Any]:
        """The constructor keyword arguments (JSON-serialisable)."""

    @classmethod
    @abstractmethod
    def _from_saved(cls, options: dict, vocabulary: list[str], directory: str) -> "Tokenizer":
        """Rebuild a trained tokenizer from what ``save`` wrote."""

    @property
    def special_ids(self) -> tuple[int, ...]:
        """Ids a sampler must never emit."""
        return (PAD_ID, UNK_ID)

    @property
    def byte_pieces(self) -> dict[int, int]:
        """{token id: byte} for tokens that are single UTF-8 bytes (SentencePiece's byte
        fallback): the sampler joins them only into whole characters."""
        return {}

    @property
    def eos_id(self) -> int | None:
        return None

    @property
    def trained(self) -> bool:
        return self.vocabulary_size > 0

    def vocabulary(self) -> list[str]:
        return [self.id_to_token(i) for i in range(self.vocabulary_size)]

    def count_unknown(self, text: str) -> int:
        """How many tokens of text map to <unk> (so callers can warn about coverage)."""
        return sum(1 for i in self.encode(text) if i == UNK_ID)

    def scored_characters(self, text: str, ids) -> int:
        """Characters of ``text`` a language model's loss covers: all but those of the first
        token, which has no context and is never scored. Bits per character divide by this,
        or a short text (and a long first subword) would flatter the figure."""
        first = [int(i) for i in ids[:1]]
        return max(1, len(text) - (self._unknown_first_length(text) if first == [UNK_ID]
                                   else len(self.decode(first))))

    def _unknown_first_length(self, text: str) -> int:
        """Characters of ``text`` its first token covers when that token is <unk>, which decodes
        as the five characters "<unk>" whatever it stood for. Kinds override it."""
        return len(UNK)

    def encode_known_form(self, text: str) -> tuple[str, list[int]]:
        """``text`` in the Unicode normal form (as given, NFC or NFD) that the vocabulary holds
        best, and its ids: the fewest tokens that are <unk> or byte pieces.

        Korean can be typed as whole syllables (NFC, what most keyboards and files use) or as
        jamo (NFD, e.g. text from macOS file names): the same text to a reader, different
        characters to a tokenizer. A prompt or evaluation text in the other form than the
        training corpus would otherwise be read as mostly <unk> (SentencePiece: mostly byte
        pieces, three per jamo). Text the vocabulary covers is encoded once, as ``encode``
        would. Windows (CRLF) and old Mac (CR) line breaks read as "\n", as in a corpus file
        (corpora.read_text): a prompt typed or piped on Windows ended in an <unk> "\r"."""
        text = unix_line_breaks(text)

        def unknown(ids):
            return sum(1 for i in ids if i == UNK_ID or i in self.byte_pieces)

        ids = list(self.encode(text))
        if text.isascii():  # the same in every normal form: nothing to try (most English text)
            return text, ids
        missing = unknown(ids)
        for form in ("NFC", "NFD") if missing else ():
            other = unicodedata.normalize(form, text)
            other_ids = list(self.encode(other)) if other != text else ids
            if unknown(other_ids) < missing:
                text, ids, missing = other, other_ids, unknown(other_ids)
        return text, ids

    def config(self) -> dict[str, Any]:
        """``{"kind": ..., "options": {...}}``: the shape of ``config.TokenizerConfig``."""
        return {"kind": self.kind, "options": self.options()}

    def save(self, directory: str) -> None:
        self._require_trained()
        os.makedirs(directory, exist_ok=True)
        self._save_extra(directory)  # written first: tokenizer.json is what marks a complete save
        payload = {"format_version": FORMAT_VERSION, **self.config(), "vocabulary": self.vocabulary()}
        text = json.dumps(payload, ensure_ascii=False, indent=1)
        write_atomic(os.path.join(directory, CONFIG_FILE), text.encode("utf-8"))

    def _save_extra(self, directory: str) -> None:
        """Hook for kinds that keep more than a vocabulary list (sentencepiece's model)."""

    def _require_trained(self) -> None:
        if not self.trained:
            raise RnnlmError(f"the {self.kind} tokenizer is not trained yet: call train() or load_tokenizer()")

    def _check_id(self, i: int) -> int:
        if not 0 <= i < self.vocabulary_size:
            raise RnnlmError(f"token id {i} is outside the vocabulary (size {self.vocabulary_size})")
        return i

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts}; vocabulary_size={self.vocabulary_size})"


class VocabularyTokenizer(Tokenizer):
    """Shared machinery for kinds whose whole state is an ordered token list (char, word)."""

    specials: ClassVar[tuple[str, ...]] = (PAD, UNK)

    def __init__(self) -> None:
        self._tokens: list[str] = []
        self._index: dict[str, int] = {}

    def _set_vocabulary(self, tokens: list[str]) -> None:
        if tuple(tokens[: len(self.specials)]) != self.specials:
            raise RnnlmError(f"vocabulary must start with {', '.join(self.specials)}")
        self._tokens = list(tokens)
        self._index = {t: i for i, t in enumerate(tokens)}
        # Literal "<pad>" in the text must not encode to the padding id (it would be masked).
        self._index[PAD] = UNK_ID

    def _learn(self, counts: Counter, max_vocab: int | None, min_freq: int = 1, reserved=()) -> None:
        """Keep the most frequent tokens; ties keep ``counts``' order (callers make it deterministic)."""
        fixed = list(self.specials) + [t for t in reserved if t not in self.specials]
        kept = [t for t, c in sorted(counts.items(), key=lambda tc: -tc[1])
                if c >= min_freq and t not in fixed]
        if not kept:  # a model of only <pad>/<unk>/<eos> would score "well" and say nothing
            why = (f"no token occurs {min_freq} times or more (--min-freq {min_freq})"
                   if min_freq > 1 else "the text has no tokens")
            raise RnnlmError(f"{why}: the vocabulary would hold only reserved tokens")
        room = None if max_vocab is None else max(0, max_vocab - len(fixed))
        self._set_vocabulary(fixed + kept[:room])

    @property
    def vocabulary_size(self) -> int:
        return len(self._tokens)

    def id_to_token(self, i: int) -> str:
        return self._tokens[self._check_id(i)]

    def token_to_id(self, token: str) -> int:
        return self._index.get(token, UNK_ID)

    def vocabulary(self) -> list[str]:
        return list(self._tokens)

    @classmethod
    def _from_saved(cls, options: dict, vocabulary: list[str], directory: str) -> "Tokenizer":
        tok = cls(**options)
        tok._set_vocabulary(vocabulary)
        return tok
