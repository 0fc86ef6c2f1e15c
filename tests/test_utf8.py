"""Byte pieces join only into whole UTF-8 characters (samplers/utf8.py), in every sampler."""

import numpy as np
import pytest
import tensorflow as tf

from rnnlm.samplers import Decoder, utf8

# A vocabulary of pad, unk and the 256 bytes: id 2 + b is byte b.
BYTES = {2 + b: b for b in range(256)}
NEVER = (0, 1, *(2 + b for b in (0xC0, 0xC1, *range(0xF5, 0x100))))  # as the tokenizer forbids


def walk(data: bytes) -> int:
    state = utf8.ANY
    for byte in data:
        state = int(utf8.TRANSITIONS[state, utf8.byte_class(byte)])
        if state < 0:
            return state
    return state


@pytest.mark.parametrize("char", ["a", "é", "\xa0", "¿", "가", "한", "힣", "\u0800", "\ud7ff", "\uf900",
                                  "\uff01", "\uffff", "😀", "\U00010000", "\U000e0100", "\U000efffd",
                                  "\U0010ffff"])
def test_every_character_s_bytes_are_accepted_and_end_whole(char):
    data = char.encode("utf-8")
    assert walk(data) == utf8.ANY
    assert all(walk(data[:k]) > utf8.ANY for k in range(1, len(data)))  # owed bytes, not ANY


@pytest.mark.parametrize("data", [b"\x80", b"a\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80",
                                  b"\xf0\x80\x80\x80", b"\xf4\x90\x80\x80", b"\xc3a", b"\xea\xb0a"])
def test_bytes_that_are_not_utf8_are_refused(data):
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert walk(data) == -1


@pytest.mark.parametrize("char", ["\ue000", "\uefff", "\uf000", "\uf541", "\uf8ff", "\U000c0000",
                                  "\U000dffff", "\U000f0000", "\U000ffffd"])
def test_private_use_and_unassigned_planes_are_refused(char):
    """Valid UTF-8 that is never text: shown as an empty box (U+F541 came out of a Korean
    SentencePiece model). The characters around them stay."""
    assert walk(char.encode("utf-8")) == -1


@pytest.mark.parametrize("char", ["\x80", "\x90", "\x9f"])
def test_c1_control_characters_are_refused_like_the_c0_ones(char):
    assert walk(char.encode("utf-8")) == -1
    assert walk("\xa0".encode("utf-8")) == utf8.ANY  # the next one, a no-break space, is text


def random_bytes_model(seed=0):
    """A bigram table of random logits over the byte vocabulary: left alone, it writes bytes
    that are not UTF-8 within a few steps."""
    table = tf.constant(np.random.default_rng(seed).normal(0, 2, (258, 258)).astype(np.float32))

    def prefill(ids, lengths):
        return tf.gather(table, tf.gather(ids, lengths - 1, batch_dims=1)), (tf.zeros([1]),)

    def next_fn(tok, states):
        return tf.gather(table, tok), states
    return prefill, next_fn


def as_text(ids, byte_pieces) -> bytes:
    return bytes(byte_pieces[int(i)] for i in ids)


@pytest.mark.parametrize("sampler", ["random", "top_k", "greedy", "beam"])
def test_samples_are_whole_characters_and_unconstrained_ones_are_not(sampler):
    prefill, next_fn = random_bytes_model()
    options = dict(sampler=sampler, max_new_tokens=60)
    if sampler != "beam":
        options.update(num_samples=1 if sampler == "greedy" else 32, seed=3)
    prompts = [[2 + ord("a")]] if sampler in ("random", "top_k") else [[2 + b] for b in b"abcde"]
    classes = utf8.token_classes(258, BYTES)
    made = {}
    for pieces in (BYTES, None):
        decoder = Decoder(prefill, next_fn, forbidden_ids=NEVER, byte_pieces=pieces)
        made[pieces is not None] = [row for prompt in prompts
                                    for row in decoder.generate([prompt], **options).token_ids]
    for row in made[True]:
        whole = row[:utf8.complete_length(row, classes)]
        as_text(whole, BYTES).decode("utf-8")  # raises if any byte sequence is broken
        assert len(row) - len(whole) < 4  # only a last, unfinished character is left out
    with pytest.raises(UnicodeDecodeError):  # the same model without the constraint
        for row in made[False]:
            as_text(row, BYTES).decode("utf-8")


def test_a_sample_cut_mid_character_ends_before_it():
    classes = utf8.token_classes(258, BYTES)
    ids = [2 + b for b in "가나".encode("utf-8")]
    assert utf8.complete_length(ids, classes) == 6
    assert utf8.complete_length(ids[:5], classes) == 3
    assert utf8.complete_length(ids[:2], classes) == 0
