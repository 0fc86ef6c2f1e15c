"""The Python API end to end on a tiny corpus: train, generate, stream, score, save, load, export."""
import warnings
from pathlib import Path

import numpy as np
import pytest

import rnnlm
from tests.conftest import TINY_TEXT

TINY = dict(units=16, embedding_dim=8, seq_len=16, batch_size=8, epochs=1)


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    corpus = folder / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    return rnnlm.train(str(corpus), out=folder / "run", **TINY)


def test_generate_is_reproducible_and_streams_the_same_text(lm):
    a = lm.generate("the ", length=40, seed=3, temperature=0.9)
    assert a == lm.generate("the ", length=40, seed=3, temperature=0.9)
    assert "".join(lm.stream("the ", length=40, seed=3, temperature=0.9)) == a
    samples = lm.generate("the ", length=40, seed=3, num_samples=3)
    assert len(samples) == 3 and samples == lm.generate("the ", length=40, seed=3, num_samples=3)


def test_a_stream_never_shows_a_stop_string_that_spans_two_chunks(lm, monkeypatch):
    """Chunks of 3 tokens, stops of 3 characters at every offset: the stream holds back an end
    that may begin a stop, and gives the text generate() returns, no more, no less."""
    from rnnlm import generation

    monkeypatch.setattr(generation, "STREAM_CHUNK", 3)
    monkeypatch.setattr(generation, "STREAM_MAX_CHUNK", 3)
    options = dict(length=30, seed=5, temperature=0.9)
    text = lm.generate("the ", **options)
    for start in range(0, 24, 2):
        stop = text[start:start + 3]
        assert "".join(lm.stream("the ", stop=stop, **options)) == lm.generate(
            "the ", stop=stop, **options), stop
    assert "".join(lm.stream("the ", stop="never written", **options)) == text


def test_a_stream_keeps_a_replacement_character_the_model_writes(tmp_path):
    """U+FFFD is a character of scraped text like any other: the stream shows it (it used to
    drop it, taking it for half a character)."""
    corpus = tmp_path / "fffd.txt"
    corpus.write_text("ab\ufffd\ufffd cd\ufffd\n" * 200, encoding="utf-8")
    lm = rnnlm.train(str(corpus), out=tmp_path / "run", lr=0.05, **{**TINY, "epochs": 3})
    for length in (1, 2, 5, 9):
        text = lm.generate("ab", length=length, sampler="greedy")
        assert "".join(lm.stream("ab", length=length, sampler="greedy")) == text
    assert "\ufffd" in lm.generate("ab", length=9, sampler="greedy")


def test_a_word_model_streams_the_text_generate_returns(tmp_path, monkeypatch):
    """A word tokenizer spaces a token by the one after it ("don" "'" "t" → "don't"): a chunk
    that ends on "'" must not show a space the next chunk takes back (the stream went quiet)."""
    from rnnlm import generation

    corpus = tmp_path / "words.txt"
    corpus.write_text("we don't care . it's here , isn't it ?\n" * 40, encoding="utf-8")
    lm = rnnlm.train(str(corpus), out=tmp_path / "run", tokenizer="word", lr=0.05,
                     **{**TINY, "seq_len": 8, "epochs": 3})
    for chunk in (1, 2, 3):
        monkeypatch.setattr(generation, "STREAM_CHUNK", chunk)
        monkeypatch.setattr(generation, "STREAM_MAX_CHUNK", chunk)
        for seed in range(4):
            options = dict(length=24, seed=seed, temperature=1.5)
            text = lm.generate("we", **options)
            assert "".join(lm.stream("we", **options)) == text, (chunk, seed, text)
    assert "'" in lm.generate("we", length=24, sampler="greedy")


def test_the_end_that_may_begin_a_stop_string():
    from rnnlm.generation import _stop_start_at_end

    assert _stop_start_at_end("and the s", ["s wi"]) == 1
    assert _stop_start_at_end("and the s", ["xyz", "e s wi", "s"]) == 3
    assert _stop_start_at_end("and the", ["s wi", ""]) == 0


def test_numpy_integers_and_arrays_are_options_like_any_other(lm):
    """np.arange gives NumPy integers: they are integers to generate as well."""
    expected = lm.generate("the ", length=8, seed=2, num_samples=2, stop=["\n"])
    assert lm.generate("the ", length=np.int64(8), seed=np.int64(2), num_samples=np.int32(2),
                       stop=np.array(["\n"])) == expected
    # and NumPy floats, for every numeric option; a k past the vocabulary keeps it all
    options = dict(top_p=0.5, top_k=5, temperature=0.8, repetition_penalty=1.2, no_repeat_ngram=2)
    as_numpy = dict(top_p=np.float32(0.5), top_k=np.int64(5), temperature=np.float64(0.8),
                    repetition_penalty=np.float32(1.2), no_repeat_ngram=np.int8(2))
    assert lm.generate("the ", length=8, seed=2, **as_numpy) == lm.generate("the ", length=8, seed=2, **options)
    assert lm.generate("the ", length=8, seed=2, top_k=2 ** 40) == lm.generate("the ", length=8, seed=2, top_k=10 ** 6)
    assert lm.generate("the ", length=8, sampler="beam", beam_width=np.int64(3)) == \
        lm.generate("the ", length=8, sampler="beam", beam_width=3)


def test_greedy_and_beam_width_one_agree(lm):
    greedy = lm.generate("빠른 ", length=25, sampler="greedy")
    assert greedy == lm.generate("빠른 ", length=25, sampler="beam", beam_width=1)


def test_stop_strings_cut_the_text(lm):
    text = lm.generate("the", length=200, seed=1, stop=["\n"])
    assert "\n" not in text


def test_unseen_prompt_characters_become_unk_with_a_warning(lm):
    """Every way of generating warns (RnnlmWarning) about a prompt the vocabulary lacks."""
    import warnings

    from rnnlm.errors import RnnlmWarning

    with pytest.warns(RnnlmWarning, match="2 token.s. of the prompt are not in the vocabulary"):
        assert isinstance(lm.generate("✨✨", length=5, seed=0), str)
    with pytest.warns(RnnlmWarning):
        lm.generate_detailed("zebra✨", length=2, num_samples=2)
    with pytest.warns(RnnlmWarning):
        "".join(lm.stream("✨", length=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RnnlmWarning)
        lm.generate("the fox", length=2)


def test_score_and_evaluate(lm):
    scores = lm.score("the quick brown fox")
    assert len(scores) == len("the quick brown fox") - 1
    assert all(logp <= 0 for _, logp in scores)
    result = lm.evaluate(TINY_TEXT[:500])
    assert result["characters"] == 499 and result["tokens"] == 499  # the first is not scored
    assert result["bpc"] == pytest.approx(result["loss"] / np.log(2))
    # a first character outside the vocabulary is still one character, not "<unk>"'s five
    result = lm.evaluate("✨" + TINY_TEXT[:499])
    assert result["characters"] == 499 and result["bpc"] == pytest.approx(result["loss"] / np.log(2))


def test_score_runs_window_by_window_with_the_figures_of_one_pass(lm, monkeypatch):
    """A long text is scored a window at a time, the state carried (one pass held the logits
    of the whole text at once); the figures are those of one pass over it."""
    import tensorflow as tf

    from rnnlm import lm as lm_module

    text = TINY_TEXT[:300]
    ids = np.asarray(lm.tokenizer.encode(text), np.int32)
    logp = tf.nn.log_softmax(tf.cast(lm.model(ids[None, :-1])[0], tf.float32)).numpy()
    expected = logp[np.arange(len(ids) - 1), ids[1:]]
    monkeypatch.setattr(lm_module, "SCORE_WINDOW", 7)  # 43 windows, the last one short
    scores = lm.score(text)
    assert [token for token, _ in scores] == list(text[1:])
    np.testing.assert_allclose([p for _, p in scores], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind, options", [("word", {}), ("word", {"mode": "whitespace"}),
                                           ("sentencepiece", {"vocab_size": 400})])
def test_the_characters_scored_leave_out_the_first_token_even_when_unknown(kind, options):
    from rnnlm.tokenizers import build_tokenizer

    from rnnlm.tokenizers import UNK_ID

    tok = build_tokenizer(kind, **options).train(TINY_TEXT)
    for text, unknown in (("zyzzyva the fox", "zyzzyva"), ("\udcff the fox", "\udcff"),
                          ("the fox", None)):
        ids = tok.encode(text)
        if kind == "word" or text[0] == "\udcff":
            assert (ids[0] == UNK_ID) == (unknown is not None)
        first = unknown if ids[0] == UNK_ID else tok.decode(ids[:1])
        assert tok.scored_characters(text, ids) == len(text) - len(first), (text, ids[:3])


def test_save_and_load_give_identical_logits(lm, tmp_path):
    copy = lm.save(tmp_path / "copy")
    again = rnnlm.load(copy)
    ids = np.asarray([lm.tokenizer.encode("the lazy dog")], np.int32)
    np.testing.assert_array_equal(lm.model(ids).numpy(), again.model(ids).numpy())
    assert again.generate("the", length=20, seed=5) == lm.generate("the", length=20, seed=5)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    with pytest.raises(rnnlm.RnnlmError, match="not a directory"):
        lm.save(a_file)
    assert a_file.read_text() == "keep me"
    with pytest.raises(rnnlm.RnnlmError, match="/proc/rnnlm-cannot-be-here"):  # root: refused late
        lm.save("/proc/rnnlm-cannot-be-here")
    with pytest.raises(rnnlm.RnnlmError, match="is inside the run"):  # a copy of itself in it
        lm.save(lm.run_dir / "copy")
    assert not (lm.run_dir / "copy").exists()


def test_export_round_trip_gives_the_same_greedy_text(lm, tmp_path):
    import tensorflow as tf

    from rnnlm.export import export_saved_model

    path = export_saved_model(lm, tmp_path / "exported")
    served = tf.saved_model.load(str(path))
    text = served.greedy(prompt=tf.constant("the "), length=tf.constant(30)).numpy().decode()
    assert text == lm.generate("the ", length=30, sampler="greedy")
    ids = served.generate_ids(token_ids=tf.constant(lm.tokenizer.encode("the ")),
                              length=tf.constant(10), temperature=tf.constant(1.0),
                              seed=tf.constant(4)).numpy()
    assert ids.shape == (10,) and not set(ids.tolist()) & set(lm.tokenizer.special_ids)
    assert (path / "vocabulary.txt").exists()
    # each weight stored once (Keras's own track() stores each twice: keras-team/keras#23553),
    # and the loaded export still lists the model's weights
    stored = tf.train.load_checkpoint(str(path / "variables" / "variables"))
    sizes = [int(np.prod(shape)) for name, shape in stored.get_variable_to_shape_map().items()
             if name != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    assert sum(sizes) == sum(int(np.prod(v.shape)) for v in lm.model.variables)
    assert [v.name for v in served.trainable_variables] == [
        v.value.name for v in lm.model.trainable_variables]
    # the served graph checks its inputs itself, with a message naming the input
    v = lm.tokenizer.vocabulary_size
    for call, message in (
            (lambda: served.generate(prompt=tf.constant("the "), length=tf.constant(5),
                                     temperature=tf.constant(-1.0), seed=tf.constant(1)),
             "temperature must be > 0"),
            (lambda: served.generate(prompt=tf.constant("the "), length=tf.constant(5),
                                     temperature=tf.constant(1e-30), seed=tf.constant(1)),
             "temperature must be >= 1e-06"),
            (lambda: served.greedy(prompt=tf.constant("the "), length=tf.constant(-1)),
             "length must be >= 1"),
            (lambda: served.greedy_ids(token_ids=tf.constant([], tf.int32), length=tf.constant(3)),
             "give at least one id"),
            (lambda: served.greedy_ids(token_ids=tf.constant([v]), length=tf.constant(3)),
             f"token_ids must be < {v}")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            call()
    # its working folder is its own: a folder of the user's with a similar name is kept
    mine = tmp_path / "again.tmp-export"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    export_saved_model(lm, tmp_path / "again")
    assert (mine / "notes.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "again.tmp-export", "exported"]


def test_export_never_traces_cudnn(lm, tmp_path, monkeypatch):
    """On a GPU the layers are built with use_cudnn=True; an export traced through cuDNN would
    load only where a GPU is. Here the layers insist on cuDNN and this CPU has none, so an
    export that traced it would fail; the layers insist again afterwards."""
    import tensorflow as tf

    from rnnlm.export import export_saved_model
    from rnnlm.models import precision

    monkeypatch.setattr(precision, "gpu_visible", lambda: True)  # rnnlm's CPU kernel steps aside
    layers = lm.model.backbone.rnn_layers
    for layer in layers:
        monkeypatch.setattr(layer, "use_cudnn", True)
    with pytest.raises(ValueError, match="cuDNN"):  # what a cuDNN trace does on this CPU
        lm.model(np.asarray([lm.tokenizer.encode("the ")], np.int32))
    path = export_saved_model(lm, tmp_path / "exported")
    assert all(layer.use_cudnn is True for layer in layers)
    served = tf.saved_model.load(str(path))
    assert served.greedy(prompt=tf.constant("the "), length=tf.constant(5)).numpy()


@pytest.mark.parametrize("tokenizer, options", [
    ("word", {}), ("sentencepiece", {"vocab_size": 400}), ("word", {"word_mode": "whitespace"})])
def test_other_tokenizers_train_and_generate(tmp_path, tokenizer, options):
    corpus = tmp_path / "c.txt"
    corpus.write_text(TINY_TEXT * 3, encoding="utf-8")
    lm = rnnlm.train(str(corpus), out=tmp_path / "run", tokenizer=tokenizer,
                     **{**TINY, "seq_len": 8}, **options)
    assert lm.tokenizer.kind == tokenizer
    text = lm.generate("the quick", length=10, seed=1)
    assert isinstance(text, str)
    if options.get("word_mode") == "whitespace":  # words go on after the prompt's last word
        assert lm._gen().prompt_ids("the quick") == lm.tokenizer.encode("the quick")[:-1]
        # a line typed on Windows (or an old Mac) ends as a line: its <eos> is kept
        for ended in ("the quick\r\n", "the quick\r"):
            assert lm._gen().prompt_ids(ended) == lm.tokenizer.encode("the quick\n")
        assert text[:1] in (" ", "\n"), repr(text)
    assert rnnlm.load(tmp_path / "run").info()["vocabulary_size"] == lm.tokenizer.vocabulary_size
    if tokenizer == "word":  # the tokenizer spaces words itself: a typed space is not doubled
        for sampler in ("greedy", "random"):
            assert not lm.generate("the quick ", length=10, seed=1, sampler=sampler).startswith(" ")


def test_a_stop_string_cuts_the_figures_with_the_text(lm):
    """log_prob and num_tokens describe the returned text: the tokens up to the stop, scored
    as lm.score scores them."""
    whole = lm.generate_detailed("the ", length=40, seed=5)[0]
    assert len(whole["text"]) > 5
    stop = whole["text"][5]
    cut = lm.generate_detailed("the ", length=40, seed=5, stop=[stop])[0]
    assert cut["stopped"] and stop not in cut["text"] and whole["text"].startswith(cut["text"])
    assert cut["num_tokens"] == len(cut["text"]) < whole["num_tokens"]  # a char model
    scored = lm.score("the " + cut["text"])[-cut["num_tokens"]:]
    assert cut["log_prob"] == pytest.approx(sum(lp for _, lp in scored), abs=1e-3)
    # a beam cut by a stop: its score is the returned text's, under the beam's length penalty
    beam = lm.generate_detailed("the ", length=30, sampler="beam", beam_width=3)[0]
    stop = beam["text"][4]
    cut = lm.generate_detailed("the ", length=30, sampler="beam", beam_width=3, stop=[stop])[0]
    assert cut["num_tokens"] == len(cut["text"]) == beam["text"].index(stop)
    assert cut["score"] == pytest.approx(cut["log_prob"] / ((5 + cut["num_tokens"]) / 6) ** 0.6)


def test_the_api_refuses_what_would_be_silently_wrong(lm):
    for call, message in ((lambda: lm.generate(b"the", length=5), "must be a str"),
                          (lambda: lm.evaluate(b"the lazy dog"), "must be a str"),
                          (lambda: lm.evaluate(TINY_TEXT, batch_size=0), "batch_size"),
                          (lambda: lm.stream("the", length=5, num_samples=2), "one sample"),
                          (lambda: lm.stream("the", temperature=-1), "temperature must be > 0"),
                          (lambda: lm.stream("the", stop=""), r"\(stop=\) is an empty string"),
                          (lambda: lm.generate("the", stop=["\n", ""]), "would stop nothing"),
                          (lambda: lm.generate("the", sampler="greedy", num_samples=2),
                           "greedy decoding is deterministic"),
                          (lambda: rnnlm.load(None), "the run directory must be a path"),
                          (lambda: lm.save(None), "the directory to save to must be a path"),
                          (lambda: lm.save(__file__), "the folder to save to .* exists and is "
                                                      "not a directory"),
                          # "0.9" looks in range: its type is what is wrong
                          (lambda: lm.generate("the", top_p="0.9"),
                           r"top_p must be a number in \(0, 1\], got the str '0.9'"),
                          (lambda: lm.generate("the", top_k="40"),
                           "top_k must be an integer >= 1, got the str '40'"),
                          (lambda: rnnlm.train(b"tiny.txt"), "the corpus .* must be a path"),
                          (lambda: rnnlm.train_classifier(b"x.csv"), "the data .* must be a path"),
                          (lambda: lm.generate("the", sampler="greedy", temperature=0.5),
                           r"\(temperature=\) is an option"),
                          (lambda: lm.generate("the", beam_width=8), r"\(beam_width=\) is an"),
                          (lambda: lm.generate("the", length="10"), r"\(length=\) must be an int"),
                          (lambda: lm.generate("the", length=2.5), r"\(length=\) must be an int"),
                          (lambda: lm.generate("the", num_samples=2.0), r"\(num_samples=\)"),
                          (lambda: lm.generate("the", seed=1.9), r"\(seed=\) must be an integer"),
                          (lambda: lm.generate("the", seed=2 ** 64 + 1), r"\(seed=\)"),
                          (lambda: lm.generate("the", stop=5), r"\(stop=\) must be a string")):
        with pytest.raises(rnnlm.RnnlmError, match=message):
            call()


def test_evaluate_counts_the_unknown_tokens(lm):
    assert lm.evaluate(TINY_TEXT)["unknown_tokens"] == 0
    assert lm.evaluate("the ✨✨ fox")["unknown_tokens"] == 2
    # of the tokens scored: the first is read, not predicted (as in "tokens")
    figures = lm.evaluate("✨✨✨ fox")
    assert figures["unknown_tokens"] == 2 and figures["tokens"] == 6


@pytest.mark.parametrize("options, message", [
    (dict(epochs=1.5), "epochs must be an integer > 0, got the float 1.5"),
    (dict(lr=float("nan")), "lr must be > 0"),
    (dict(units="16"), "units must be an integer > 0, got the str '16'"),
    (dict(seed="0"), "seed must be an integer"),
    (dict(seed=-1), r"seed must be in \[0, 2\*\*32 - 1\], got -1"),  # NumPy's generator's range
    (dict(seed=2 ** 32), r"seed must be in \[0, 2\*\*32 - 1\]"),
    (dict(word_mode="whitespace"), "not an option of the char tokenizer"),
    (dict(optimizer="sgd", lr_schedule="plateau", valid_fraction=0.0), "validation loss"),
    (dict(early_stopping=2, valid_fraction=0.0), "validation loss"),
    (dict(warmup_steps=10_000), "never reach --lr"),
    # NaN passes every comparison: it trained an epoch of NaNs, then "diverged ... lower --lr"
    (dict(weight_decay=float("nan")), "weight_decay must be a finite number, got nan"),
    (dict(warmup_steps=2.5), "warmup_steps must be an integer, got the float 2.5"),
    (dict(dropout="0.2"), "dropout must be a number, got the str '0.2'"),  # was a TypeError
    (dict(quiet="no"), "quiet must be True or False, got the str 'no'"),  # it was true
    (dict(stateful="yes"), "stateful must be True or False, got the str 'yes'"),
    (dict(tie_weights=1), "tie_weights must be True or False, got the int 1"),
])
def test_train_refuses_bad_values_before_writing(tmp_path, options, message):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    with pytest.raises(rnnlm.RnnlmError, match=message):
        rnnlm.train(str(corpus), out=tmp_path / "run", **{**TINY, **options})
    assert not (tmp_path / "run").exists()


def test_a_new_run_that_fails_before_its_first_epoch_leaves_no_folder(tmp_path, monkeypatch):
    """Out of memory while the model is built (or any error before an epoch is saved): the
    empty folder stayed, and the same command then needed --force."""
    from rnnlm import fitting

    def out_of_memory(*_):
        raise MemoryError

    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    monkeypatch.setattr(fitting, "compiled_model", out_of_memory)
    with pytest.raises(MemoryError):
        rnnlm.train(str(corpus), out=tmp_path / "run", **TINY)
    assert not (tmp_path / "run").exists()


def test_a_diverging_run_stops_and_leaves_nothing_half_made(tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    # lr 1e38: the weights pass float32's range in one step on every CPU (at 1e30 the loss
    # overflowed to NaN in bfloat16 on an AMX host, but stayed a finite 5e30 in float32).
    with pytest.raises(rnnlm.RnnlmError, match="diverged in epoch 1: loss is nan"):
        rnnlm.train(str(corpus), out=tmp_path / "run", **{**TINY, "lr": 1e38, "clipnorm": 1e30})
    assert not (tmp_path / "run").exists()
    # The finite blow-up is a divergence too (it was saved as the run's epoch 1).
    with pytest.raises(rnnlm.RnnlmError, match=r"diverged in epoch 1: loss is (nan|inf|\d.*e\+)"):
        rnnlm.train(str(corpus), out=tmp_path / "run", **{**TINY, "lr": 1e30, "clipnorm": 1e30,
                                                          "precision": "float32"})
    assert not (tmp_path / "run").exists()


def test_sgd_applies_weight_decay(tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    losses = [rnnlm.train(str(corpus), out=tmp_path / f"wd{wd}", optimizer="sgd", lr=1.0,
                          weight_decay=wd, **TINY).info()["best"]["val_loss"] for wd in (0, 0.3)]
    assert losses[0] != losses[1]


def test_korean_typed_as_jamo_reads_like_whole_syllables(lm):
    """NFD (jamo) and NFC (syllables) are the same Korean text; the model was trained on NFC."""
    import unicodedata
    import warnings

    from rnnlm.errors import RnnlmWarning

    nfc = "빠른 갈색 여우가"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc and lm.tokenizer.count_unknown(nfd) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RnnlmWarning)  # read as syllables: nothing unknown
        assert lm.generate(nfd, length=20, seed=4) == lm.generate(nfc, length=20, seed=4)
    assert lm.evaluate(nfd + " 게으른 개를")["loss"] == pytest.approx(
        lm.evaluate(nfc + " 게으른 개를")["loss"])
    # a stop string typed as jamo cuts where its syllables appear in the text generated
    text = lm.generate(nfc, length=40, seed=4)
    stop = next((c for c in text if "가" <= c <= "힣"), None)
    if stop is not None:  # (a tiny model may write no Hangul at all)
        cut = lm.generate(nfc, length=40, seed=4, stop=unicodedata.normalize("NFD", stop))
        assert cut == text[:text.index(stop)]


def test_a_prompt_s_windows_line_breaks_read_as_the_corpus_s(lm):
    """The corpus read CRLF as "\n"; a prompt typed or piped on Windows is read the same way,
    where its "\r" was an <unk> with a warning."""
    import warnings

    from rnnlm.errors import RnnlmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", RnnlmWarning)
        assert (lm.generate("the fox\r\nthe", length=20, seed=4)
                == lm.generate("the fox\nthe", length=20, seed=4))
        assert lm.generate("the fox\r", length=20, seed=4) == lm.generate("the fox\n", length=20,
                                                                            seed=4)


def test_misspelt_or_unknown_options_are_named(lm, tmp_path):
    with pytest.raises(rnnlm.RnnlmError, match="unknown generation option 'temprature'"):
        lm.generate("the", length=5, temprature=0.5)
    with pytest.raises(rnnlm.RnnlmError, match="unknown option 'bogus' for --resume"):
        rnnlm.resume(lm.run_dir, epochs=1, bogus=1)


@pytest.mark.parametrize("layout", [dict(random_offsets=True), dict(random_offsets=False),
                                    dict(stateful=True)])
def test_a_batch_larger_than_the_text_shrinks_to_its_windows(tmp_path, layout):
    """Otherwise a pass is one short batch (or one that repeats windows), counted as full. It
    is said as a warning: quiet=True (the API's default) prints nothing, but the run's batch
    size is not the one asked for."""
    from rnnlm import data

    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    with pytest.warns(rnnlm.RnnlmWarning) as warned:
        lm = rnnlm.train(str(corpus), out=tmp_path / "run", **{**TINY, "batch_size": 500, **layout})
    train_text, _ = data.split_text(TINY_TEXT, 0.1)
    windows = data.num_windows(len(lm.tokenizer.encode(train_text)), 16)
    assert 8 < windows < 500 and lm.info()["train"]["batch_size"] == windows
    assert [str(w.message) for w in warned if w.category is rnnlm.RnnlmWarning] == [
        f"batch size {windows}, not 500: the training text has {windows} windows of --seq-len 16"]
    if not layout.get("stateful"):  # (stateful counts its last, shorter window as full)
        epoch = rnnlm.runs.read_json(tmp_path / "run" / "history.json")["epochs"][0]
        assert epoch["tokens_per_second"] * epoch["train_seconds"] <= len(train_text)


def test_korean_subword_samples_are_whole_characters(tmp_path):
    """A barely trained subword model samples byte pieces often (Korean syllables the
    vocabulary lacks are spelled in bytes); they must still join into whole characters."""
    corpus = tmp_path / "ko.txt"
    corpus.write_text(TINY_TEXT * 3, encoding="utf-8")
    lm = rnnlm.train(str(corpus), out=tmp_path / "run", tokenizer="sentencepiece",
                     vocab_size=320, **{**TINY, "seq_len": 8})
    import unicodedata

    nfc = "빠른 갈색 여우가 게으른 개를"  # SentencePiece spells jamo it never saw as bytes
    nfd = unicodedata.normalize("NFD", nfc)
    assert lm.evaluate(nfd)["loss"] == pytest.approx(lm.evaluate(nfc)["loss"])
    samples = lm.generate_detailed("빠른", length=30, num_samples=16, temperature=2.0, seed=0)
    bytes_made = 0
    for sample in samples:
        assert "\ufffd" not in sample["text"] and sample["num_tokens"] <= 30
        ids = lm.tokenizer.encode(sample["text"])
        bytes_made += sum(i in lm.tokenizer.byte_pieces for i in ids)
    assert bytes_made > 20  # the samples did spell characters in bytes
    options = dict(length=30, temperature=2.0, seed=1)
    streamed = "".join(lm.stream("빠른", **options))
    assert "\ufffd" not in streamed and streamed == lm.generate("빠른", **options)

    import tensorflow as tf

    from rnnlm.export import export_saved_model
    served = tf.saved_model.load(str(export_saved_model(lm, tmp_path / "exported")))
    prompt = tf.constant(lm.tokenizer.encode("빠른"))
    for seed in range(8):
        ids = served.generate_ids(token_ids=prompt, length=tf.constant(30),
                                  temperature=tf.constant(2.0), seed=tf.constant(seed)).numpy()
        text = lm.tokenizer.decode([int(i) for i in ids])
        assert "\ufffd" not in text.rstrip("\ufffd")  # (only a last, unfinished character)


def test_resume_is_reproducible_and_keeps_the_schedule_when_the_steps_change(tmp_path):
    """Two copies of a run resumed alike train alike (dropout included), and a resume with a
    larger batch (fewer steps per epoch) continues the schedule rather than ending it at lr 0."""
    import json
    import shutil

    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT * 3, encoding="utf-8")
    rnnlm.train(str(corpus), out=tmp_path / "run", **{**TINY, "epochs": 2})
    histories = []
    for copy in ("a", "b"):
        shutil.copytree(tmp_path / "run", tmp_path / copy)
        rnnlm.resume(tmp_path / copy, epochs=2, batch_size=16)
        histories.append(json.loads((tmp_path / copy / "history.json").read_text())["epochs"])
    assert [r["loss"] for r in histories[0]] == [r["loss"] for r in histories[1]]
    assert histories[0][2]["lr"] > 0.1 * rnnlm.load(tmp_path / "a").config["train"]["lr"]


def test_plateau_divides_the_learning_rate_after_a_worse_epoch(tmp_path):
    import json

    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT * 3, encoding="utf-8")
    rnnlm.train(str(corpus), out=tmp_path / "run", optimizer="sgd", lr=60.0,
                lr_schedule="plateau", **{**TINY, "epochs": 6})
    history = json.loads((tmp_path / "run" / "history.json").read_text())["epochs"]
    best, expected = None, 60.0
    for record in history:  # the lr each epoch trained with, from the losses before it
        assert record["lr"] == pytest.approx(expected)
        if best is not None and record["val_loss"] >= best:
            expected /= 4
        best = record["val_loss"] if best is None else min(best, record["val_loss"])
    assert history[-1]["lr"] < 60.0  # the run did meet a plateau (epoch 3 of this corpus)


def test_evaluate_reproduces_the_run_s_validation_loss_and_knows_ptb_s_unk(tmp_path):
    """By default eval reads the text in the run's own batch of streams, as validation did;
    PTB's literal <unk> is a word of the vocabulary, not a token outside it."""
    from rnnlm import data

    text = ("the cat sat on the <unk> mat\nthe dog ate the <unk> bone\n" * 40)
    corpus = tmp_path / "ptb.txt"
    corpus.write_text(text, encoding="utf-8")
    lm = rnnlm.train(str(corpus), out=tmp_path / "run", tokenizer="word",
                     word_mode="whitespace", **{**TINY, "seq_len": 8, "epochs": 2})
    _, valid = data.split_text(text, 0.1)
    best = rnnlm.runs.read_json(tmp_path / "run" / "state.json")["best"]
    assert lm.evaluate(valid)["loss"] == pytest.approx(best["val_loss"], rel=1e-5)
    assert lm.evaluate("the <unk> cat sat\n")["unknown_tokens"] == 0
    assert lm.evaluate("the zebra cat sat\n")["unknown_tokens"] == 1
    with warnings.catch_warnings():  # a prompt with PTB's <unk> is not warned about, either
        warnings.simplefilter("error", rnnlm.RnnlmWarning)
        lm.generate("<unk> the <unk> cat", length=3, seed=1)
    with pytest.warns(rnnlm.RnnlmWarning, match="1 token.s. of the prompt are not in"):
        lm.generate("the zebra <unk> cat", length=3, seed=1)


def test_training_leaves_the_user_s_random_state_and_dtype_policy_alone(tmp_path):
    """Keras's set_random_seed reseeds NumPy and Python for the whole process, and a global
    dtype policy would cast rnnlm's layers: neither may reach into the user's program."""
    import random

    import keras

    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    np.random.seed(123)
    random.seed(5)
    expected = (np.random.rand(), random.random())
    np.random.seed(123)
    random.seed(5)
    plain = rnnlm.train(str(corpus), out=tmp_path / "plain", **TINY)
    assert (np.random.rand(), random.random()) == expected
    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = rnnlm.train(str(corpus), out=tmp_path / "mixed", **TINY)
        assert keras.config.dtype_policy().name == "mixed_bfloat16"  # the user's, still
        assert {layer.dtype_policy.name for layer in mixed.model._flatten_layers()} == {"float32"}
        loaded = rnnlm.load(tmp_path / "plain")
        assert loaded.evaluate(TINY_TEXT)["loss"] == plain.evaluate(TINY_TEXT)["loss"]
        assert loaded.generate("the", length=30, seed=3) == plain.generate("the", length=30, seed=3)
    finally:
        keras.config.set_dtype_policy(previous)
    for a, b in zip(plain.model.weights, mixed.model.weights):  # the same run, to the bit
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_rnnlm_s_lazy_imports_leave_python_s_random_state_alone(monkeypatch):
    """rnnlm.train (rnnlm.load, ...) imports TensorFlow on first use, and that import draws
    from Python's global random (rich, which Keras imports, does): the caller's sequence goes
    on as if nothing had been imported."""
    import importlib
    import random

    real_import = importlib.import_module

    def import_that_draws(name):  # what a first import of TensorFlow does
        random.random()
        return real_import(name)

    monkeypatch.setattr(rnnlm, "import_module", import_that_draws)
    random.seed(5)
    expected = random.getstate()
    assert rnnlm.train is not None and rnnlm.load is not None
    assert random.getstate() == expected


def test_none_is_the_default_tokenizer_cell_and_encoding(tmp_path):
    """As train_classifier takes them: None was "unknown cell 'None'" here."""
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    lm = rnnlm.train(str(corpus), out=tmp_path / "run", tokenizer=None, cell=None, encoding=None,
                     **TINY)
    info = lm.info()
    assert (info["tokenizer"]["kind"], info["model"]["cell"], info["source"]["encoding"]) == \
        ("char", "lstm", "utf-8")


def test_numpy_numbers_are_numbers_in_config_json(tmp_path):
    """units=np.int64(16) trains, and config.json keeps NumPy numbers as numbers (as text, a
    resume would read "16" and refuse it)."""
    import json

    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    rnnlm.train(str(corpus), out=tmp_path / "run", units=np.int64(16), embedding_dim=8,
                seq_len=np.int64(16), batch_size=8, epochs=np.int64(1), lr=np.float32(0.003),
                max_vocab=np.int64(40))  # a tokenizer's option too
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["model"]["units"], config["train"]["seq_len"], config["train"]["epochs"]) == (16, 16, 1)
    tokenizer = json.loads((tmp_path / "run" / "tokenizer.json").read_text())
    assert config["tokenizer"]["options"]["max_vocab"] == tokenizer["options"]["max_vocab"] == 40
    assert config["train"]["lr"] == pytest.approx(0.003)
    assert rnnlm.resume(tmp_path / "run", epochs=1).info()["epochs_done"] == 2


def test_a_run_that_cannot_be_written_is_refused_before_resuming(tmp_path, monkeypatch):
    """A run on a read-only mount trained a whole epoch before its save failed."""
    import os

    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    rnnlm.train(str(corpus), out=tmp_path / "run", **TINY)
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
        False if Path(path) == tmp_path / "run" and mode & os.W_OK else real(path, mode, **kw)))
    with pytest.raises(rnnlm.RnnlmError, match="cannot write in .* read-only file system"):
        rnnlm.resume(tmp_path / "run", epochs=1)
    assert {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()} == before


def test_a_run_seeded_at_the_top_of_the_range_resumes(tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    rnnlm.train(str(corpus), out=tmp_path / "run", **{**TINY, "seed": 2 ** 32 - 1})
    # the resume seeds with seed + epochs done, past 2**32 - 1: it wraps round
    assert rnnlm.resume(tmp_path / "run", epochs=1).info()["epochs_done"] == 2


def test_generate_with_a_stop_string_ends_once_every_sample_met_one(lm, monkeypatch):
    from rnnlm import generation

    def run(**options):
        return lm.generate_detailed("the ", seed=4, num_samples=3, **options)
    whole = run(length=300, stop=" o")  # the first chunk holds all 300 tokens
    monkeypatch.setattr(generation, "STOP_CHECK_CHUNK", 7)
    chunked = run(length=300, stop=" o")  # in chunks of 7: the same samples and figures
    assert [s["stopped"] for s in whole] == [False, False, True]  # and ones that run to the end
    for a, b in zip(chunked, whole):
        assert a == {**b, "log_prob": pytest.approx(b["log_prob"]), "score": pytest.approx(b["score"])}
    chunks = []
    decoder = lm._gen().decoder
    real = decoder.stream
    monkeypatch.setattr(decoder, "stream", lambda *a, **k: (chunks.append(c) or c for c in real(*a, **k)))
    monkeypatch.setattr(generation, "STOP_CHECK_CHUNK", 64)
    samples = run(length=generation.MAX_LENGTH, stop=" ")
    assert all(s["stopped"] and " " not in s["text"] for s in samples) and len(chunks) < 10
    with pytest.raises(rnnlm.RnnlmError, match="--length \\(length=\\) must be at most 1,000,000"):
        lm.generate("the ", length=generation.MAX_LENGTH + 1)


def test_rnnlm_s_own_retracing_warnings_stay_off_the_terminal(lm, caplog):
    """Each sampler kind traces its own decoding loop once: TensorFlow warns "5 out of the
    last 5 calls ... triggered tf.function retracing" about them, which the user cannot act on;
    a warning about the user's own function still shows."""
    import logging

    caplog.set_level(logging.WARNING)
    for options in ({}, {"top_k": 5}, {"top_p": 0.9}, {"top_p": 0.9, "top_k": 5},
                    {"repetition_penalty": 1.2}, {"no_repeat_ngram": 2}, {"sampler": "greedy"},
                    {"sampler": "beam"}, {"no_repeat_ngram": 3, "repetition_penalty": 1.1}):
        lm.generate("the", length=3, **options)
    assert "retracing" not in caplog.text
    tf_logger = logging.getLogger("tensorflow")
    tf_logger.warning("5 out of the last 5 calls to <function Decoder._sample_loop.<locals>.run "
                      "at 0x7f> triggered tf.function retracing.")
    tf_logger.warning("5 out of the last 5 calls to <function my_step at 0x7f> triggered "
                      "tf.function retracing.")
    keras_own = ("5 out of the last 5 calls to <function TensorFlowTrainer.make_predict_function."
                 "<locals>.one_step_on_data_distributed at 0x7f> triggered tf.function retracing.")
    from rnnlm.tf_logs import no_retracing_warnings

    with no_retracing_warnings():  # inside rnnlm's own predict and fit calls
        tf_logger.warning(keras_own + " (inside)")
    tf_logger.warning(keras_own + " (the user's own model)")
    assert "Decoder" not in caplog.text and "my_step" in caplog.text
    assert "(inside)" not in caplog.text and "(the user's own model)" in caplog.text


def test_streams_and_stop_strings_read_the_text_a_bounded_number_of_times(lm, monkeypatch):
    """Each chunk re-reads all the text so far: chunks that double keep a long generation
    linear (a stop never met over 100,000 tokens took 23.5 s against 3.9 s without a stop)."""
    from rnnlm import generation

    reads = []
    real = generation.Generator._settled_text
    monkeypatch.setattr(generation.Generator, "_settled_text",
                        lambda self, *a: reads.append(1) or real(self, *a))
    lm.generate("the ", length=20_000, stop="never written", seed=1)
    assert len(reads) <= 8  # 256, 512, ..., 16,384: 7 chunks
    reads.clear()
    assert len("".join(lm.stream("the ", length=6_000, seed=1))) > 0
    assert len(reads) <= 10  # 64, 128, 256, 512, then 1,024 at a time


def test_ctrl_c_in_python_raises_training_interrupted_once_the_checkpoint_is_saved(
        tmp_path, monkeypatch):
    from rnnlm import training

    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    end_epoch = training.EpochEnd.on_epoch_end

    def interrupted_after_the_first(self, epoch, logs=None):
        end_epoch(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(training.EpochEnd, "on_epoch_end", interrupted_after_the_first)
    with pytest.raises(rnnlm.TrainingInterrupted, match="last checkpoint saved in"):
        rnnlm.train(str(corpus), out=tmp_path / "run", **{**TINY, "epochs": 3})
    monkeypatch.undo()
    lm = rnnlm.resume(tmp_path / "run", epochs=1)
    assert lm.info()["epochs_done"] == 2
