"""Tokenizers: text <-> ids. One table of kinds; build by name, load from a directory.

No TensorFlow here: the data pipeline and the CLI import this cheaply.
"""
from __future__ import annotations

import inspect
import json
import os

from rnnlm.errors import RnnlmError
from rnnlm.tokenizers.base import CONFIG_FILE, PAD_ID, UNK_ID, Tokenizer
from rnnlm.tokenizers.char import CharTokenizer
from rnnlm.tokenizers.sentencepiece import SentencePieceTokenizer
from rnnlm.tokenizers.word import WordTokenizer

TOKENIZERS: dict[str, type[Tokenizer]] = {
    "char": CharTokenizer,
    "word": WordTokenizer,
    "sentencepiece": SentencePieceTokenizer,
}

__all__ = [
    "Tokenizer", "CharTokenizer", "WordTokenizer", "SentencePieceTokenizer",
    "build_tokenizer", "load_tokenizer", "PAD_ID", "UNK_ID", "TOKENIZERS",
]


def _tokenizer_class(kind: str) -> type[Tokenizer]:
    if kind not in TOKENIZERS:
        raise RnnlmError(f"unknown tokenizer '{kind}'; choose one of: {', '.join(TOKENIZERS)}")
    return TOKENIZERS[kind]


def build_tokenizer(kind: str, **options) -> Tokenizer:
    """An untrained tokenizer of this kind; call ``.train(texts)`` next."""
    cls = _tokenizer_class(kind)
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise RnnlmError(f"unknown option(s) {', '.join(unknown)} for the {kind} tokenizer; "
                         f"valid: {', '.join(valid)}")
    return cls(**options)


def load_tokenizer(directory: str) -> Tokenizer:
    """The trained tokenizer that ``Tokenizer.save(directory)`` wrote."""
    path = os.path.join(directory, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            payload = json.load(f)
        kind, options, vocabulary = payload["kind"], payload["options"], payload["vocabulary"]
        if not (isinstance(options, dict) and isinstance(vocabulary, list)):
            raise TypeError("options must be an object and vocabulary a list")
        if not all(isinstance(token, str) for token in vocabulary):  # an edited file
            raise TypeError("vocabulary entries must be strings")
        if len(set(vocabulary)) != len(vocabulary):  # two ids for a token: encoding picks one
            raise ValueError("vocabulary entries must be distinct")
    except FileNotFoundError:
        raise RnnlmError(f"no tokenizer file: {path}") from None
    except OSError as error:
        raise RnnlmError(f"cannot read {path}: {error.strerror or error}") from None
    except (ValueError, KeyError, TypeError) as error:  # JSONDecodeError/UnicodeDecodeError are ValueErrors
        raise RnnlmError(f"{path} is not a valid tokenizer file ({type(error).__name__}: {error})") from None
    build_tokenizer(kind, **options)  # validates kind and options with the usual messages
    return _tokenizer_class(kind)._from_saved(options, vocabulary, directory)
