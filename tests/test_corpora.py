import codecs

import pytest

from rnnlm import corpora
from rnnlm.errors import RnnlmError


def test_cards_cover_the_public_corpora():
    cards = corpora.cards()
    for name in ("tinyshakespeare", "ptb", "ptb_char", "imdb", "nsmc", "mnist"):
        card = cards[name]
        for key in ("name", "description", "license", "language", "splits", "suggested_tokenizer"):
            assert key in card, (name, key)
        for split in card["splits"].values():
            assert len(split["sha256"]) == 64


def test_builtin_corpus_needs_no_download():
    corpus = corpora.resolve(None)
    assert corpus.name == "pydoc" and len(corpus.train) > 100_000


def test_card_resolves_from_the_mirror(data_mirror):
    corpus = corpora.resolve("ptb", str(data_mirror))
    assert corpus.valid is not None and corpus.test is not None
    assert corpus.train.count("\n") == 42068


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"abc\x00\x01\x02binary", "binary"),
    (b"hello \xff\xfe world", "offset 6"),
    (b"\x1f\x8b\x08\x00 truncated", "cannot read"),  # named .gz below: a damaged gzip
])
def test_bad_files_get_one_clear_line(tmp_path, content, message):
    path = tmp_path / ("bad.txt.gz" if content.startswith(b"\x1f\x8b") else "bad.txt")
    path.write_bytes(content)
    with pytest.raises(RnnlmError, match=message):
        corpora.read_text(path)


KOREAN = "안녕하세요 여러분\n" * 400


@pytest.mark.parametrize("content, encoding, message", [
    (b"  \n\n\t ", "utf-8", "holds no text: nothing but whitespace"),
    (codecs.BOM_UTF8 + b" \n", "utf-8", "holds no text"),  # decoded first, then judged
    (" \n".encode("utf-16"), "utf-16", "holds no text"),
    (KOREAN.encode("utf-16"), "utf-8", r"is UTF-16 .*: pass --encoding utf-16"),
    (KOREAN.encode("utf-16"), "utf-8-sig", r"is UTF-16 .*: pass --encoding utf-16"),
    (KOREAN.encode("utf-32"), "utf-8", r"is UTF-32 .*: pass --encoding utf-32"),
    (b"text", "base64", "'base64' is not a text encoding"),  # a codec, not of text
    # The offset of a bad byte after a byte-order mark counts the mark's three bytes.
    (codecs.BOM_UTF8 + b"abcdef\xff", "utf-8", "byte 0xff at offset 9"),
    # Mostly ASCII with one stray byte is more likely latin-1 than damaged UTF-8.
    (b"plain english text. " * 60 + "caf\xe9\n".encode("latin-1"), "utf-8",
     r"offset 1203; pass --encoding"),
    # A NUL past the first 64 KiB, and under another spelling of UTF-8 or another encoding.
    (b"a" * 70000 + b"\x00b", "utf-8", "binary file .* the first at character 70,000"),
    (b"a" * 70000 + b"\x00b", "utf_8", "binary file"),
    (b"abc\x00def", "latin-1", "binary file .* the first at character 3"),
    # One damaged byte in a UTF-8 file: not another encoding (latin-1 would read it all wrong).
    (KOREAN.encode()[:100] + b"\xea" + KOREAN.encode()[100:], "utf-8",
     r"byte 0xea at offset 100 \(1 of its 10,401 bytes is not UTF-8 and the rest is"),
    (KOREAN.encode("cp949"), "utf-8", r"offset 0; pass --encoding \(e.g. --encoding cp949"),
    # Read with a run's --encoding cp949: a UTF-8 file is said to be one, other bytes get
    # encodings other than the one that failed.
    (KOREAN.encode(), "cp949", r"offset 0; it reads as UTF-8: pass --encoding utf-8$"),
    (KOREAN.encode("utf-16-le"), "cp949", r"pass --encoding \(e.g. --encoding utf-8 or latin-1\)"),
])
def test_what_is_not_text_or_not_in_its_encoding_is_named(tmp_path, content, encoding, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(RnnlmError, match=message):
        corpora.read_text(path, encoding)


def test_a_utf16_file_reads_with_its_encoding(tmp_path):
    path = tmp_path / "notepad.txt"
    path.write_bytes(KOREAN.replace("\n", "\r\n").encode("utf-16"))
    assert corpora.read_text(path, "utf-16") == KOREAN


def test_a_byte_order_mark_is_not_text(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeff안녕".encode("utf-8"))
    assert corpora.read_text(path) == "안녕"
    # Notepad files joined by `cat`: a mark at the start of each, not only of the first
    path.write_bytes("\ufeff안녕\r\n".encode("utf-8") * 3)
    assert corpora.read_text(path) == "안녕\n" * 3


def test_a_mirror_that_is_not_a_folder_is_an_error(tmp_path, monkeypatch):
    with pytest.raises(RnnlmError, match="--data-dir .* is not a directory"):
        corpora.resolve("tinyshakespeare", str(tmp_path / "nowhere"))
    monkeypatch.setenv("RNNLM_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(RnnlmError, match="RNNLM_DATA .* is not a directory"):
        corpora.resolve("tinyshakespeare")


def test_other_encodings_are_readable(tmp_path):
    path = tmp_path / "korean.txt"
    path.write_bytes("안녕하세요".encode("cp949"))
    with pytest.raises(RnnlmError, match="--encoding"):
        corpora.read_text(path)
    assert corpora.read_text(path, "cp949") == "안녕하세요"


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(RnnlmError, match="not found"):
        corpora.read_text(tmp_path / "nope.txt")
    with pytest.raises(RnnlmError, match="is a directory"):
        corpora.read_text(tmp_path)
    # a corpus name typed wrong is answered with the names (a classification set is not one)
    with pytest.raises(RnnlmError, match=r"file not found: tinyshakespear \(nor a corpus by "
                                         r"name: .*tinyshakespeare.*`rnnlm corpora`") as error:
        corpora.resolve("tinyshakespear")
    assert "nsmc" not in str(error.value)


def test_windows_and_old_mac_line_endings_read_as_newlines(tmp_path):
    from rnnlm.corpora import read_text

    path = tmp_path / "crlf.txt"
    path.write_bytes("첫 줄\r\nsecond line\rthird\n".encode("utf-8"))
    assert read_text(path) == "첫 줄\nsecond line\nthird\n"
