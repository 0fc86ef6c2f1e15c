"""SentencePiece subwords (unigram or BPE), configured so that decode(encode(s)) == s always.

SentencePiece's defaults are lossy for a language model: NFKC normalisation, folding runs of
spaces, a dummy leading space, unknown characters as one <unk>. Here instead:

    identity normalisation, no whitespace folding, no dummy prefix  -> spaces come back as-is
    byte_fallback                         -> a character never seen becomes its UTF-8 bytes
    "\\n" and "\\t" as user-defined symbols -> always single pieces (lines are encoded one at
                                             a time and joined with the "\\n" id)
    a literal U+2581 ("▁") in the text    -> encoded as its three byte pieces, because the
                                             decoder would otherwise turn it into a space

The trained model is kept as serialized bytes and saved next to tokenizer.json.
"""
from __future__ import annotations

import heapq
import io
import os
import random
import re
from collections import Counter
from typing import Iterable, Iterator

import sentencepiece as spm

from rnnlm.atomic import write_atomic
from rnnlm.config import is_real
from rnnlm.errors import RnnlmError
from rnnlm.tokenizers.base import PAD, PAD_ID, UNK, UNK_ID, Tokenizer, as_texts, check_min

MODEL_FILE = "tokenizer.model"
MODEL_TYPES = ("unigram", "bpe")
_META = "\u2581"  # SentencePiece's whitespace marker
_USER_SYMBOLS = ("\n", "\t")
MIN_VOCAB_SIZE = 2 + len(_USER_SYMBOLS) + 256 + 1  # specials, symbols, byte pieces, one more
# Byte pieces a sampler must never emit: no text rnnlm trains on holds these bytes as bytes.
# C0 controls other than \r (rnnlm refuses NUL, and \n and \t are pieces of their own), DEL,
# and the bytes that never occur in UTF-8; sampled, they decode as control characters or U+FFFD.
# Also the lead bytes of planes 4-11 (F1, F2: nothing is assigned there) and 16 (F4: private
# use only): valid UTF-8, never text. F0 (emoji, CJK extensions) and F3 (plane 14's variation
# selectors) stay.
NEVER_SAMPLED_BYTES = (*range(0x00, 0x0D), *range(0x0E, 0x20), 0x7F, 0xC0, 0xC1, 0xF1, 0xF2,
                       *range(0xF4, 0x100))
_SURROGATE = re.compile("[\ud800-\udfff]")  # what Python makes of bytes that are not UTF-8
_CHUNK = 1000  # chars per training sentence: under SentencePiece's 4192-byte sentence limit

_TRAINER = dict(
    pad_id=PAD_ID, unk_id=UNK_ID, bos_id=-1, eos_id=-1, pad_piece=PAD, unk_piece=UNK,
    unk_surface=UNK, user_defined_symbols=list(_USER_SYMBOLS), byte_fallback=True,
    normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=False,
    allow_whitespace_only_pieces=True,  # code indentation may become one piece
    hard_vocab_limit=False,  # vocab_size is an upper bound: a tiny corpus yields fewer pieces
    minloglevel=2,  # the C++ trainer logs to stderr otherwise; library code stays quiet
)


def _training_lines(texts: Iterable[str] | str) -> Iterator[str]:
    for text in as_texts(texts):
        for line in text.split("\n"):
            for start in range(0, len(line), _CHUNK):
                yield line[start:start + _CHUNK].replace(_META, " ")


def sample_sentences(texts: Iterable[str] | str, max_sentences: int, max_chars: int) -> list[str]:
    """A deterministic uniform sample of lines, within both bounds, in corpus order.

    Each line draws a key from a fixed-seed generator; the lines with the smallest keys win
    (bottom-k sampling), so memory stays bounded by max_sentences on a corpus of any size.
    """
    rng = random.Random(0)
    heap: list[tuple[float, int, str]] = []  # max-heap on key, via -key
    for n, line in enumerate(_training_lines(texts)):
        key = rng.random()
        if len(heap) < max_sentences:
            heapq.heappush(heap, (-key, n, line))
        elif key < -heap[0][0]:
            heapq.heapreplace(heap, (-key, n, line))
    chosen, total = [], 0
    for _, n, line in sorted(heap, reverse=True):  # smallest key first
        if chosen and total + len(line) > max_chars:
            break
        chosen.append((n, line))
        total += len(line)
    return [line for _, line in sorted(chosen)]


_TOO_FEW_PIECES = re.compile(r"smaller than required_chars\. \d+ vs (\d+)")
# The least character coverage SentencePiece accepts: the commonest characters making up 98% of
# the text get pieces, the rarer ones are spelt in byte pieces (which loses nothing).
MIN_CHARACTER_COVERAGE = 0.98


def _training_error(error: RuntimeError, vocab_size: int, lowered: bool = False) -> RnnlmError:
    message = str(error).strip()
    needed = _TOO_FEW_PIECES.search(message)
    if needed:
        characters = ("the characters that make up 98% of the text, the fewest SentencePiece "
                      "takes" if lowered else "the corpus's own characters")
        return RnnlmError(
            f"vocab_size={vocab_size} is too small for this corpus: it needs at least {needed.group(1)} "
            f"(256 byte pieces, the specials and {characters}); raise --vocab-size (vocab_size=)")
    return RnnlmError(f"sentencepiece training failed: {message.splitlines()[0] if message else error!r}")


def _coverage_that_fits(sample: list[str], vocab_size: int) -> float:
    """A character coverage whose characters take at most half of the pieces left beside the
    byte pieces and the specials (the other half learns longer pieces), and at least
    MIN_CHARACTER_COVERAGE. SentencePiece keeps the commonest characters until they cover
    that share of the text."""
    counts = sorted(Counter(ch for line in sample for ch in line).values(), reverse=True)
    room = max(1, (vocab_size - MIN_VOCAB_SIZE + 1) // 2)
    return max(MIN_CHARACTER_COVERAGE, sum(counts[:room]) / sum(counts))


class SentencePieceTokenizer(Tokenizer):
    kind = "sentencepiece"
    lossless = True

    def __init__(self, model_type: str = "unigram", vocab_size: int = 8000,
                 character_coverage: float | None = None, max_sentences: int = 200_000,
                 max_chars: int = 2_000_000) -> None:
        if model_type not in MODEL_TYPES:
            raise RnnlmError(f"unknown sentencepiece model_type '{model_type}'; choose one of: {', '.join(MODEL_TYPES)}")
        vocab_size = check_min("vocab_size", vocab_size, MIN_VOCAB_SIZE,
                               " (256 byte pieces, <pad>, <unk>, newline and tab, plus room to "
                               "learn)", allow_none=False)
        if character_coverage is not None and not (
                is_real(character_coverage)
                and MIN_CHARACTER_COVERAGE <= character_coverage <= 1):
            raise RnnlmError(f"character_coverage must be in [{MIN_CHARACTER_COVERAGE:g}, 1] "
                             f"(SentencePiece's bounds), got {character_coverage!r}")
        max_sentences = check_min("max_sentences", max_sentences, 1, allow_none=False)
        max_chars = check_min("max_chars", max_chars, 1, allow_none=False)
        self.model_type = model_type
        self.vocab_size = vocab_size
        # None: 1.0 for small alphabets, SentencePiece's CJK advice (0.9995) for large ones
        # such as Korean; characters left out still round-trip as bytes.
        self.character_coverage = (None if character_coverage is None
                                   else float(character_coverage))
        self.max_sentences = max_sentences
        self.max_chars = max_chars
        # The coverage train() fell back to when --vocab-size was too small for the default's
        # characters (None: it was not); said by the command that trained it, not saved.
        self.lowered_coverage: float | None = None
        self._sp: spm.SentencePieceProcessor | None = None
        self._model = b""

    def options(self) -> dict:
        return {"model_type": self.model_type, "vocab_size": self.vocab_size,
                "character_coverage": self.character_coverage,
                "max_sentences": self.max_sentences, "max_chars": self.max_chars}

    def train(self, texts: Iterable[str] | str) -> "SentencePieceTokenizer":
        sample = [line for line in sample_sentences(texts, self.max_sentences, self.max_chars) if line]
        if not sample:
            raise RnnlmError("cannot train a sentencepiece tokenizer on empty text")
        coverage = self.character_coverage
        if coverage is None:
            coverage = 1.0 if len(set().union(*sample)) <= 256 else 0.9995
        try:
            model = self._trained_model(sample, coverage)
        except RuntimeError as error:
            # A --vocab-size under what the default coverage needs (a small one for Korean,
            # whose text holds a thousand syllables or more): the rarest characters go to
            # byte pieces instead. A coverage the user chose is kept, and refused.
            if self.character_coverage is not None or not _TOO_FEW_PIECES.search(str(error)):
                raise _training_error(error, self.vocab_size) from None
            coverage = _coverage_that_fits(sample, self.vocab_size)
            try:
                model = self._trained_model(sample, coverage)
            except RuntimeError as error:
                raise _training_error(error, self.vocab_size, lowered=True) from None
            self.lowered_coverage = coverage
        self._load(model)
        return self

    def _trained_model(self, sample: list[str], coverage: float) -> bytes:
        buffer = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sample), model_writer=buffer, model_type=self.model_type,
            vocab_size=self.vocab_size, character_coverage=coverage, **_TRAINER)
        return buffer.getvalue()

    def _load(self, model: bytes) -> None:
        sp = spm.SentencePieceProcessor(model_proto=model)
        self._sp, self._model = sp, model
        self._newline = sp.piece_to_id("\n")
        self._meta_bytes = [sp.piece_to_id(f"<0x{b:02X}>") for b in _META.encode("utf-8")]
        specials = [i for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)]
        self._special = (*specials, *(sp.piece_to_id(f"<0x{b:02X}>") for b in NEVER_SAMPLED_BYTES))
        self._bytes = {i: int(sp.id_to_piece(i)[3:5], 16)  # the piece "<0xEA>" is byte 0xEA
                       for i in range(sp.get_piece_size()) if sp.is_byte(i)}

    @property
    def vocabulary_size(self) -> int:
        return self._sp.get_piece_size() if self._sp is not None else 0

    @property
    def special_ids(self) -> tuple[int, ...]:
        return self._special if self._sp is not None else (PAD_ID, UNK_ID)

    @property
    def byte_pieces(self) -> dict[int, int]:
        return self._bytes if self._sp is not None else {}

    def encode(self, text: str) -> list[int]:
        self._require_trained()
        if _SURROGATE.search(text):  # not text: a byte the shell could not decode as UTF-8
            out = []  # each is <unk>, as the char and word tokenizers read it (SentencePiece
            for k, part in enumerate(_SURROGATE.split(text)):  # itself raises TypeError)
                out.extend(([UNK_ID] if k else []) + (self.encode(part) if part else []))
            return out
        lines = text.split("\n")
        out: list[int] = []
        for k, ids in enumerate(self._sp.encode(lines)):  # one batched call
            if k:
                out.append(self._newline)
            out.extend(self._encode_with_meta(lines[k]) if _META in lines[k] else ids)
        return out

    def _unknown_first_length(self, text: str) -> int:
        # With byte fallback only a byte that is not UTF-8 (one surrogate) or "<unk>" typed
        # in the text encode as <unk>.
        return 1 if _SURROGATE.match(text) else len(UNK)

    def _encode_with_meta(self, line: str) -> list[int]:
        out: list[int] = []
        for k, ids in enumerate(self._sp.encode(line.split(_META))):
            if k:
                out.extend(self._meta_bytes)
            out.extend(ids)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        self._require_trained()
        return self._sp.decode([self._check_id(int(i)) for i in ids if i != PAD_ID])

    def id_to_token(self, i: int) -> str:
        self._require_trained()
        return self._sp.id_to_piece(self._check_id(i))

    def token_to_id(self, token: str) -> int:
        self._require_trained()
        return self._sp.piece_to_id(token)

    def _save_extra(self, directory: str) -> None:
        write_atomic(os.path.join(directory, MODEL_FILE), self._model)

    @classmethod
    def _from_saved(cls, options: dict, vocabulary: list[str], directory: str) -> "SentencePieceTokenizer":
        path = os.path.join(directory, MODEL_FILE)
        try:
            with open(path, "rb") as f:
                model = f.read()
        except OSError as error:
            raise RnnlmError(f"cannot read {path}: {error.strerror or error}") from None
        tok = cls(**options)
        try:
            tok._load(model)
        except RuntimeError:
            raise RnnlmError(f"{path} is not a valid sentencepiece model") from None
        if tok.vocabulary() != vocabulary:
            raise RnnlmError(f"{path} does not match the vocabulary in tokenizer.json")
        return tok
