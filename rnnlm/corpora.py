"""Resolve a corpus name or a path to text.

Order of lookup for ``rnnlm train NAME_OR_PATH``:

1. ``pydoc`` (the built-in default): CPython's own documentation topics, always present;
2. an existing path: read as text (with clear errors for every way that can go wrong);
3. a corpus card in ``corpora/*.toml``: from a local mirror (``--data-dir`` or ``RNNLM_DATA``),
   else downloaded once into ``~/.cache/rnnlm`` and checked against the card's sha256.
"""
from __future__ import annotations

import codecs
import gzip
import hashlib
import os
import sys
import urllib.request
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rnnlm.errors import RnnlmError, refuse_empty_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BUILTIN = "pydoc"


@dataclass
class Corpus:
    name: str
    train: str
    valid: str | None = None
    test: str | None = None
    source: str = ""


def read_text(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    """Read a text file, turning each failure into one actionable line. Windows (CRLF) and old
    Mac (CR) line endings read as "\n", as Python's text mode reads them: otherwise a char
    model would learn "\r" as a character and sample bare carriage returns."""
    path = Path(path)
    if not path.exists():
        raise RnnlmError(f"file not found: {path}")
    if path.is_dir():
        raise RnnlmError(f"{path} is a directory; give a text file")
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:  # not gzip, truncated, or damaged
            raise RnnlmError(f"cannot read {path} as gzip: {e}") from None
    if not data:
        raise RnnlmError(f"{path} is empty")
    text = _decoded(path, data, encoding)
    if "\x00" in text:  # past the first 64 KiB, or in any other encoding
        raise RnnlmError(f"{path} looks like a binary file (it contains NUL bytes, the first "
                         f"at character {text.index(chr(0)):,}), not text")
    if "\ufeff" in text:  # files joined by `cat`: each one's byte-order mark is not text either
        text = text.replace("\ufeff", "")
    if not text or text.isspace():  # isspace stops at the first other character
        raise RnnlmError(f"{path} holds no text: nothing but whitespace (or a byte-order mark)")
    return unix_line_breaks(text)


def unix_line_breaks(text: str) -> str:
    """Windows (CRLF) and old Mac (CR) line breaks as "\n", as Python's text mode reads them."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def is_utf8(encoding: str) -> bool:
    """Whether ``encoding`` names UTF-8 (or ASCII, its subset), however it is spelt."""
    try:
        return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig", "ascii")
    except LookupError:
        return False


# Byte-order marks of the encodings a file read as UTF-8 is most often in instead (Windows
# Notepad's "Unicode" is UTF-16); UTF-32's first, as UTF-16 LE's is its prefix.
_OTHER_UNICODE = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                  (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _decoded(path: Path, data: bytes, encoding: str) -> str:
    """``data`` as text in ``encoding``, or one line saying why it is not."""
    try:
        codec = codecs.lookup(encoding).name  # "UTF8", "utf_8", "U8" are all utf-8
    except LookupError:
        raise RnnlmError(f"unknown encoding '{encoding}'") from None
    if is_utf8(codec):
        for mark, other in _OTHER_UNICODE:
            if data.startswith(mark):  # its NUL bytes would say "binary" below
                raise RnnlmError(f"{path} is {other.upper()} (it starts with {other.upper()}'s "
                                 f"byte-order mark): pass --encoding {other}")
        if b"\x00" in data[:65536]:  # early, before decoding it all
            raise RnnlmError(f"{path} looks like a binary file (it contains NUL bytes), not text")
    # A byte-order mark is not text: decoded as plain UTF-8 it would become a token.
    signed = codec == "utf-8" and data.startswith(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8-sig" if codec == "utf-8" else encoding)
    except UnicodeDecodeError as e:
        start = e.start + (len(codecs.BOM_UTF8) if signed else 0)  # utf-8-sig counts after it
        raise RnnlmError(f"{path} is not valid {encoding}: byte 0x{data[start]:02x} at offset "
                         f"{start}{_what_to_do(data, codec)}") from None
    except LookupError:  # a codec of bytes to bytes (base64, hex), not a text encoding
        raise RnnlmError(f"'{encoding}' is not a text encoding") from None


def _what_to_do(data: bytes, codec: str) -> str:
    """The advice for a file that is not valid in its encoding. A UTF-8 file with a few bad
    bytes among its multi-byte characters (a damaged copy, one pasted line) is still UTF-8:
    another --encoding would read every Korean syllable of it as mojibake, so it says how few
    they are instead. (Mostly ASCII with a few such bytes is more likely latin-1 or cp1252.)"""
    if codec != "utf-8":  # a run trained with --encoding cp949 reads its other files so
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            others = [name for name in ("utf-8", "cp949", "latin-1")
                      if codecs.lookup(name).name != codec]
            return f"; pass --encoding (e.g. --encoding {' or '.join(others[:2])})"
        return "; it reads as UTF-8: pass --encoding utf-8"
    generic = "; pass --encoding (e.g. --encoding cp949 or latin-1)"
    bad, limit = 0, len(data) // 1000

    def skip_and_count(error):  # counting stops past the limit: a cp949 file is all errors
        nonlocal bad
        bad += error.end - error.start
        if bad > limit:
            raise error
        return "", error.end

    codecs.register_error("rnnlm-count", skip_and_count)
    try:
        rest = data.decode("utf-8", "rnnlm-count")
    except UnicodeDecodeError:
        return generic
    if rest.isascii():
        return generic
    return (f" ({bad:,} of its {len(data):,} bytes {'is' if bad == 1 else 'are'} not UTF-8 and "
            f"the rest is: a damaged file, which another --encoding would misread; mend or "
            f"remove those bytes)")


def builtin_text() -> str:
    """CPython's documentation topics (``pydoc_data``): ~465k characters of English prose and code."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def cards() -> dict[str, dict]:
    """All corpus cards shipped with the package, by name."""
    found = {}
    try:
        folder = resources.files("rnnlm.corpus_cards")  # installed: the cards inside the package
    except ModuleNotFoundError:  # running from a source checkout: the repo's corpora/ folder
        folder = Path(__file__).resolve().parent.parent / "corpora"
    for entry in folder.iterdir():
        if entry.name.endswith(".toml"):
            card = tomllib.loads(entry.read_text(encoding="utf-8"))
            found[card["name"]] = card
    return dict(sorted(found.items()))


def validates_on_its_own_split(source: dict) -> bool:
    """Whether a run (its config's ``source``) validated on its corpus's own validation split
    (PTB's valid.txt), so that nothing was held out of the training text. Runs made before
    ``own_validation`` was kept are judged by their corpus's card."""
    if "own_validation" in source:
        return bool(source["own_validation"])
    name = source.get("corpus")
    card = cards().get(name) if isinstance(name, str) and not source.get("valid") else None
    return card is not None and "valid" in card.get("splits", {})


def data_dir(explicit: str | None = None) -> Path | None:
    """The local mirror: --data-dir, else $RNNLM_DATA; a folder that is not there is an error,
    not a silent fall-back to downloading."""
    if explicit is not None:
        refuse_empty_path(explicit, "--data-dir")
    chosen = explicit or os.environ.get("RNNLM_DATA")
    if not chosen:
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        where = "--data-dir" if explicit else "RNNLM_DATA"
        raise RnnlmError(f"{where} {path} is not a directory")
    return path


def split_path(card: dict, split: str, mirror: Path | None = None) -> Path:
    """Local path of one split of a card: the mirror copy if present, else a checked download."""
    entry = card["splits"][split]
    if mirror is not None:
        local = mirror / card["mirror_dir"] / entry["file"]
        if local.exists():
            return local
    cache = Path(os.environ.get("RNNLM_CACHE", "~/.cache/rnnlm")).expanduser() / card["name"]
    target = cache / entry["file"]
    if target.exists() and _sha256(target) == entry["sha256"]:
        return target
    if not entry.get("url"):
        where = f"{mirror}/{card['mirror_dir']}" if mirror else "a mirror (--data-dir or RNNLM_DATA)"
        raise RnnlmError(f"corpus '{card['name']}' split '{split}' has no download url; "
                         f"put {entry['file']} in {where}")
    try:
        return _download(entry["url"], target, entry["sha256"])
    except RnnlmError as e:
        raise RnnlmError(f"{e}; or put {entry['file']} in a mirror folder "
                         f"{card['mirror_dir']}/ under --data-dir DIR or RNNLM_DATA") from None


def _download(url: str, target: Path, sha256: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise RnnlmError(f"could not download {url}: {e}") from None
    if _sha256(partial) != sha256:
        partial.unlink(missing_ok=True)
        raise RnnlmError(f"checksum mismatch for {url}; the download was discarded")
    os.replace(partial, target)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def resolve(name_or_path: str | None = None, data_dir_option: str | None = None,
            encoding: str = "utf-8") -> Corpus:
    """Text of a corpus given by name (card or ``pydoc``) or by path."""
    if name_or_path in (None, "", BUILTIN):
        return Corpus(BUILTIN, builtin_text(), source="pydoc_data.topics (built into CPython)")
    path = Path(name_or_path).expanduser()
    known = cards()
    if not path.exists() and name_or_path not in known:  # a typo in a corpus name, or a path
        names = [name for name, card in known.items() if card.get("task") != "classification"]
        raise RnnlmError(f"file not found: {path} (nor a corpus by name: {', '.join(names)}, "
                         f"or {BUILTIN}; `rnnlm corpora` lists them)")
    if path.exists() or name_or_path not in known:
        return Corpus(path.stem, read_text(path, encoding), source=str(path))
    card = known[name_or_path]
    if card.get("task") == "classification" or "train" not in card["splits"]:
        raise RnnlmError(f"'{name_or_path}' is a classification data set; use `rnnlm classify train`")
    mirror = data_dir(data_dir_option)
    texts = {split: read_text(split_path(card, split, mirror), encoding)
             for split in ("train", "valid", "test") if split in card["splits"]}
    return Corpus(card["name"], texts["train"], texts.get("valid"), texts.get("test"),
                  source=card["description"])
