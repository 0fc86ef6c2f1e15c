"""Classification data: read labelled examples from files, map labels to class ids.

Sources (``read_dataset``):

    a corpus card name   imdb, nsmc (text), mnist (numeric) — from the mirror (--data-dir /
                         RNNLM_DATA) or the card's download; split "train" or "test"
    FILE.csv / .tsv      one example per row, --text-column / --label-column (header names or
    (.txt, .gz too)      0-based indexes); TSV is read unquoted (NSMC), CSV with RFC-4180 quotes
    FOLDER/              one sub-folder per label holding one text file per example (aclImdb's
                         train/pos, train/neg; its unlabelled "unsup" folder is skipped)
    FILE.npz             x (N, T, F) float features, or (N, H, W) images read row by row,
                         and y (N,); or x_train/y_train + x_test/y_test picked by split

Labels map to class ids in ``classify_labels``; numeric sequences are read and scaled in
``classify_sequences``; batches for Keras are made in ``classify_batches``.

No TensorFlow import at module level: the CLI imports this cheaply.
"""
from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnlm import corpora
from rnnlm.classify_labels import label_value
from rnnlm.classify_sequences import read_npz
from rnnlm.errors import RnnlmError, refuse_empty_path

SKIPPED_FOLDERS = {"unsup"}  # aclImdb's unlabelled reviews
TEXT_SUFFIXES = {".txt", ".text", ".md", ""}


@dataclass
class Examples:
    """Labelled examples: ``texts`` (text data) or ``x`` (N, T, F) numeric data, in the dtype
    it was stored in (``as_float`` makes it what the model reads)."""

    labels: list
    texts: list[str] | None = None
    x: np.ndarray | None = None
    source: str = ""

    @property
    def kind(self) -> str:
        return "text" if self.texts is not None else "sequence"

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> "Examples":
        index = np.asarray(index, dtype=np.int64)
        return Examples([self.labels[i] for i in index],
                        None if self.texts is None else [self.texts[i] for i in index],
                        None if self.x is None else self.x[index], self.source)


def card_columns(data) -> dict:
    """{"text_column": ..., "label_column": ...} of the corpus card ``data`` names; {} for a
    file or folder (which may share a card's name), or None."""
    if data is None or Path(str(data)).expanduser().exists():
        return {}
    card = corpora.cards().get(str(data)) or {}
    return {key: card[key] for key in ("text_column", "label_column") if card.get(key) is not None}


def read_like_a_card(source, split: str, trained_on, read: dict) -> Examples:
    """A --valid or --test file of a run trained on ``trained_on`` (its data): read with the
    card's columns when it is a corpus card, no columns were given and the file has them
    (NSMC's own test file, with its "document" column), else with the columns given or the
    default names."""
    with_card = {**read, **{key: value for key, value in card_columns(trained_on).items()
                            if read.get(key) is None}}
    if with_card != read:
        try:
            return read_dataset(source, split, **with_card)
        except MissingColumn:
            pass
    return read_dataset(source, split, **read)


def read_dataset(source: str | Path, split: str = "train", text_column=None, label_column=None,
                 header: bool = True, data_dir: str | None = None, encoding: str = "utf-8",
                 need_labels: bool = True) -> Examples:
    """Labelled examples from a card name, a CSV/TSV file, a folder of folders, or an .npz."""
    refuse_empty_path(source, "the data")
    path = Path(source).expanduser()
    if not path.exists():
        known = corpora.cards()
        card = known.get(str(source))
        if card is None or card.get("task") != "classification":
            raise RnnlmError(f"data not found: {source} (a file, a folder, or one of the "
                             f"classification corpora: {', '.join(_classification_cards(known))})")
        path, split, text_column, label_column = _card_split(card, split, data_dir,
                                                             text_column, label_column)
    if path.is_dir():
        examples = _read_folders(path, encoding)
    elif path.suffix == ".npz":
        examples = read_npz(path, split, need_labels)
    else:
        examples = _read_table(path, text_column, label_column, header, encoding, need_labels)
    if not len(examples):
        raise RnnlmError(f"{path} holds no examples")
    return examples


def _classification_cards(known: dict) -> list[str]:
    return [name for name, card in known.items() if card.get("task") == "classification"]


def _card_split(card, split, data_dir, text_column, label_column):
    mirror = corpora.data_dir(data_dir)
    splits = card["splits"]
    name = split if split in splits else "all" if "all" in splits else None
    if name is None:
        raise RnnlmError(f"corpus '{card['name']}' has no split '{split}'; "
                         f"it has: {', '.join(splits)}")
    path = corpora.split_path(card, name, mirror)
    return (path, split, text_column if text_column is not None else card.get("text_column"),
            label_column if label_column is not None else card.get("label_column"))


# --- text tables ------------------------------------------------------------------------------
def _open_text(path: Path, encoding: str) -> str:
    # The language model's reader: one line for every way a file can fail (a directory, a
    # damaged .gz, empty, binary, the wrong encoding), and no byte-order mark in a header.
    return corpora.read_text(path, encoding)


def _read_table(path: Path, text_column, label_column, header, encoding, need_labels) -> Examples:
    text = _open_text(path, encoding)
    base = path.name[:-3] if path.suffix == ".gz" else path.name
    first_line = text.split("\n", 1)[0]
    tabbed = base.endswith(".tsv") or (not base.endswith(".csv") and "\t" in first_line)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long reviews exceed the 128 KiB default
    reader = (csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE) if tabbed
              else csv.reader(io.StringIO(text)))
    try:
        rows = [row for row in reader if row]
    except csv.Error as e:
        raise RnnlmError(f"{path} is not a valid {'TSV' if tabbed else 'CSV'} file: {e}") from None
    names = rows.pop(0) if header else []
    if not rows:
        raise RnnlmError(f"{path} has a header but no rows")
    text_i = _column(path, names, text_column, "text", "--text-column")
    label_i = _column(path, names, label_column, "label", "--label-column") if need_labels else None
    width = max(text_i, label_i or 0) + 1
    short = next((n for n, row in enumerate(rows) if len(row) < width), None)
    if short is not None:
        raise RnnlmError(f"{path} row {short + 1 + header} has {len(rows[short])} column(s); "
                         f"expected at least {width}")
    labels = [label_value(row[label_i]) for row in rows] if need_labels else [None] * len(rows)
    return Examples(labels, texts=[row[text_i] for row in rows], source=str(path))


def _column(path, names: list[str], wanted, default: str, option: str) -> int:
    """Index of a column given by header name, by 0-based index, or by the default name."""
    # One message for both callers: the CLI's --text-column and the Python API's text_column=.
    how = f"{option} / {option.lstrip('-').replace('-', '_')}="
    if wanted is None:
        wanted = default
    if isinstance(wanted, int) or (isinstance(wanted, str) and wanted.isdigit() and wanted not in names):
        index = int(wanted)
        if names and index >= len(names):
            raise RnnlmError(f"{default} column {index} is out of range: {path} has "
                             f"{len(names)} columns; give the {default} column ({how})")
        return index
    if not names:
        raise RnnlmError(f"{path} has no header: give the {default} column as a 0-based index "
                         f"({how})")
    if wanted not in names:
        raise MissingColumn(f"{default} column '{wanted}' not in {path} (columns: "
                            f"{', '.join(names)}); give the {default} column ({how})")
    return names.index(wanted)


class MissingColumn(RnnlmError):
    """A column named for a table is not in its header."""


# --- folders of folders -------------------------------------------------------------------------
def _read_folders(path: Path, encoding: str) -> Examples:
    labels, texts = [], []
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")
                     and p.name not in SKIPPED_FOLDERS)
    for folder in folders:
        for file in sorted(f for f in folder.iterdir() if f.is_file()
                           and f.suffix in TEXT_SUFFIXES and not f.name.startswith(".")):
            try:
                texts.append(file.read_text(encoding=encoding))
            except (OSError, UnicodeDecodeError) as e:
                raise RnnlmError(f"cannot read {file}: {e}") from None
            labels.append(label_value(folder.name))
    if not folders:
        raise RnnlmError(f"{path} has no label sub-folders (expected e.g. {path}/pos, {path}/neg)")
    return Examples(labels, texts=texts, source=str(path))


def read_inputs(path, text: bool, text_column=None, encoding: str = "utf-8", header: bool = True,
                table: bool = False):
    """Unlabelled inputs from a file: an .npz's x, a CSV/TSV's text column (any file when
    ``table``: a .txt that is tab-separated), else one text per line.

    A plain text file gives exactly one input per line, so that predictions line up with the
    input lines: a blank line is classified as an empty text (the model sees one <unk>), lines
    are split on "\\n" (the reader turns CRLF and CR into it), and a final newline does not add
    an empty last line.
    """
    path = Path(path)
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if not path.exists():
        raise RnnlmError(f"file not found: {path}")
    if path.suffix == ".npz" or name.endswith((".csv", ".tsv")) or table:
        examples = read_dataset(path, "test", text_column=text_column, header=header,
                                encoding=encoding, need_labels=False)
        inputs = examples.texts if examples.texts is not None else examples.x
    else:
        inputs = _open_text(path, encoding).split("\n")
        if inputs[-1] == "":
            inputs.pop()  # the newline that ends the last line
    if isinstance(inputs, list) != text:
        raise RnnlmError(f"this classifier reads {'text' if text else 'numeric sequences'}; "
                         f"{path} holds {'text' if isinstance(inputs, list) else 'numeric sequences'}")
    return inputs
