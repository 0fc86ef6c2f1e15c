"""Export a language model as a TensorFlow SavedModel that needs no rnnlm to run.

    m = tf.saved_model.load("exported/")
    m.generate(prompt=tf.constant("ROMEO:"), length=tf.constant(200),
               temperature=tf.constant(0.8), seed=tf.constant(1))   # char runs: text in, text out
    m.greedy(prompt=tf.constant("ROMEO:"), length=tf.constant(200))
    m.generate_ids(token_ids=tf.constant([5, 9, 2]), length=..., temperature=..., seed=...)

Char tokenizers run inside the graph (UTF-8 code points ↔ ids through lookup tables). Word and
SentencePiece tokenizers do not (plain TensorFlow has no SentencePiece op), so their export offers
``generate_ids``/``greedy_ids`` and writes ``vocabulary.txt`` (one token per line, line number =
id) and the run's tokenizer files beside the SavedModel.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from rnnlm import run_lock, runs
from rnnlm.errors import RnnlmError, first_line
from rnnlm.interrupts import interrupts_deferred

FORMATS = ("saved_model",)


def _sampling_loop(model, forbidden_bias, byte_classes=None):
    """Graph-only generation: prefill the prompt, then one recurrent step per new token.
    byte_classes (SentencePiece's byte pieces): the bytes join only into whole UTF-8 characters,
    as in rnnlm's own sampler (samplers/utf8.py)."""
    import tensorflow as tf

    from rnnlm.samplers import utf8
    from rnnlm.samplers.base import TEMPERATURE_RANGE

    vocabulary_size = int(forbidden_bias.shape[0])

    def run(token_ids, length, temperature, seed, greedy: bool):
        # The graph's own checks: a served model has no rnnlm to read its inputs first. Without
        # them a temperature <= 0 flips the bias that keeps <pad> and <unk> out (or divides by
        # zero), and a bad id or length fails deep inside a gather.
        checks = [tf.debugging.assert_positive(tf.size(token_ids), "token_ids: give at least one id"),
                  tf.debugging.assert_non_negative(token_ids, "token_ids must be >= 0"),
                  tf.debugging.assert_less(token_ids, vocabulary_size,
                                           f"token_ids must be < {vocabulary_size}, the vocabulary size"),
                  tf.debugging.assert_positive(length, "length must be >= 1")]
        if not greedy:  # (a tiny one overflows the logits: the draw returns an id out of range)
            low, high = TEMPERATURE_RANGE
            checks += [tf.debugging.assert_positive(temperature, "temperature must be > 0"),
                       tf.debugging.assert_greater_equal(temperature, low,
                                                         f"temperature must be >= {low:g}"),
                       tf.debugging.assert_less_equal(temperature, high,
                                                      f"temperature must be <= {high:g}")]
        with tf.control_dependencies(checks):  # everything after reads its inputs through them
            token_ids, length = tf.identity(token_ids), tf.identity(length)
        logits, states = model.prefill(token_ids[None, :], tf.shape(token_ids)[:1])
        out = tf.TensorArray(tf.int32, size=length)
        if byte_classes is not None:
            utf8_bias = utf8.state_bias(byte_classes, forbidden_bias)

        def body(i, logits, states, out, state):
            if byte_classes is not None:
                scores = tf.cast(logits, tf.float32) + tf.gather(utf8_bias, state)
            else:
                scores = tf.cast(logits, tf.float32) + forbidden_bias
            if greedy:
                token = tf.argmax(scores, axis=-1, output_type=tf.int32)
            else:
                token = tf.random.stateless_categorical(
                    scores / temperature, 1, seed=tf.stack([seed, i]), dtype=tf.int32)[:, 0]
            if byte_classes is not None:
                state = utf8.advance(state, token, byte_classes)
            logits, states = model.next(token, states)
            return i + 1, logits, tuple(states), out.write(i, token[0]), state

        _, _, _, out, _ = tf.while_loop(lambda i, *_: i < length, body,
                                        (tf.constant(0), logits, tuple(states), out,
                                         tf.constant([utf8.ANY])))
        return out.stack()

    return run


def export_saved_model(lm, out: str | Path, force: bool = False) -> Path:
    import keras
    import tensorflow as tf

    out = Path(out)
    check_export_dir(out, force)
    tokenizer, model = lm.tokenizer, lm.model
    vocab = [tokenizer.id_to_token(i) for i in range(tokenizer.vocabulary_size)]
    bias = np.zeros(len(vocab), np.float32)
    bias[list(tokenizer.special_ids)] = -1e9  # never emit <pad>/<unk>
    byte_classes = None
    if tokenizer.byte_pieces:
        from rnnlm.samplers import utf8

        byte_classes = tf.constant(utf8.token_classes(len(vocab), tokenizer.byte_pieces))
    loop = _sampling_loop(model, tf.constant(bias), byte_classes)
    archive = keras.export.ExportArchive()
    # The weights listed as the tf.Variables the endpoints capture, not as archive.track(model)
    # lists them (Keras's wrappers around those variables): the SavedModel takes a wrapper and
    # its variable for two objects and writes every weight twice, doubling the export on disk
    # and in memory once loaded (keras-team/keras#23553, open in Keras 3.15). These are the
    # three collections track() would make; the model holds no lookup tables for it to find.
    for collection in ("variables", "trainable_variables", "non_trainable_variables"):
        archive.add_variable_collection(
            collection, [variable.value for variable in getattr(model, collection)])
    ids_spec = tf.TensorSpec([None], tf.int32)
    scalar = lambda dtype: tf.TensorSpec([], dtype)  # noqa: E731

    archive.add_endpoint("generate_ids", lambda token_ids, length, temperature, seed: loop(
        token_ids, length, temperature, seed, greedy=False),
        input_signature=[ids_spec, scalar(tf.int32), scalar(tf.float32), scalar(tf.int32)])
    archive.add_endpoint("greedy_ids", lambda token_ids, length: loop(
        token_ids, length, 1.0, 0, greedy=True), input_signature=[ids_spec, scalar(tf.int32)])
    if tokenizer.kind == "char":
        _add_text_endpoints(archive, loop, vocab, tokenizer)
    # A folder of its own beside --out, renamed into place once whole.
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = run_lock.new_folder_beside(out, "tmp-export")
    except OSError as e:  # named by --out, not by the working folder's hidden name
        raise RnnlmError(f"cannot write the export {out}: {e.strerror or e}") from None
    try:
        # Traced with Keras's own step loop, not cuDNN: a SavedModel traced on a GPU would
        # otherwise hold cuDNN ops, which have no CPU kernel, and load only where a GPU is.
        # (Generation's per-token steps call the cells and never use cuDNN.)
        with model.backbone.without_cudnn():  # the endpoints are traced here
            archive.write_out(str(tmp), verbose=False)
        (tmp / "vocabulary.txt").write_text("".join(_escape(t) + "\n" for t in vocab),
                                            encoding="utf-8")
        if lm.run_dir is not None:
            for name in ("tokenizer.json", "tokenizer.model", "config.json"):
                if (lm.run_dir / name).exists():
                    shutil.copy(lm.run_dir / name, tmp / name)
        with interrupts_deferred():  # Ctrl-C between the renames lost the earlier export
            _put_in_place(tmp, out)
    except (OSError, tf.errors.OpError) as e:  # a full disk: TensorFlow's errors are pages long
        shutil.rmtree(tmp, ignore_errors=True)
        raise RnnlmError(f"cannot write the export {out}: {first_line(e)}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _put_in_place(tmp: Path, out: Path) -> None:
    """The new export at ``out``; an earlier one there goes only once the new one is in its
    place, and comes back if the new one cannot be put there."""
    if not out.exists():
        tmp.rename(out)
        return
    old = run_lock.new_folder_beside(out, "replaced")
    out.rename(old / out.name)
    try:
        tmp.rename(out)
    except BaseException:
        (old / out.name).rename(out)
        old.rmdir()
        raise
    shutil.rmtree(old, ignore_errors=True)


def check_export_dir(out: Path, force: bool) -> None:
    """--force replaces an earlier export, and nothing else: not a run (the run being exported
    included) and not a folder of the user's own files."""
    runs.check_can_create_dir(out, "--out")
    runs.check_not_inside(out, runs.is_run, "the run")
    runs.check_not_inside(out, is_export, "the export")
    if out.is_symlink():  # --force would replace the link, not the export it points to
        raise RnnlmError(f"--out {out} is a symbolic link; give the folder it points to "
                         f"({out.resolve()})")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not is_export(out):
        names = {entry.name for entry in out.iterdir()}
        if {"saved_model.pb", "vocabulary.txt"} <= names:  # an export, with files added to it
            extra = ", ".join(sorted(names - EXPORT_ENTRIES))
            raise RnnlmError(f"--out {out} is an earlier export with other files added to it "
                             f"({extra}); --force replaces only an export as it was written: "
                             f"move them, or choose a new directory")
        raise RnnlmError(f"--out {out} is a non-empty directory and not an earlier export; "
                         f"choose a new or empty directory")
    if not force:
        raise RnnlmError(f"--out {out} already holds an export; use --force to replace it")


# What export_saved_model writes: Keras's SavedModel files, then the vocabulary and the run's files.
EXPORT_ENTRIES = {"saved_model.pb", "fingerprint.pb", "variables", "assets", "vocabulary.txt",
                  "tokenizer.json", "tokenizer.model", "config.json"}


def is_export(path: Path) -> bool:
    """A folder that holds an rnnlm export and nothing else, which --force may replace."""
    names = {entry.name for entry in Path(path).iterdir()}
    return {"saved_model.pb", "vocabulary.txt"} <= names and names <= EXPORT_ENTRIES


def _escape(token: str) -> str:
    return token.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def _add_text_endpoints(archive, loop, vocab, tokenizer):
    """Text in, text out for char models: code points ↔ ids through two lookup tables."""
    import tensorflow as tf

    single = [(ord(t), i) for i, t in enumerate(vocab) if len(t) == 1 and i not in tokenizer.special_ids]
    keys = tf.constant([k for k, _ in single], tf.int64)
    values = tf.constant([v for _, v in single], tf.int32)
    to_id = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values),
                                      default_value=1)  # unseen characters → <unk>
    id_to_cp = np.full(len(vocab), -1, np.int32)
    for code_point, i in single:
        id_to_cp[i] = code_point
    id_to_cp = tf.constant(id_to_cp)
    start = tokenizer.encode("\n")
    start_id = tf.constant(start[-1] if start and 1 not in start else 2, tf.int32)
    archive.track(to_id)

    def encode(prompt):
        ids = to_id.lookup(tf.cast(tf.strings.unicode_decode(prompt, "UTF-8"), tf.int64))
        return tf.cond(tf.size(ids) > 0, lambda: ids, lambda: start_id[None])

    def decode(ids):
        code_points = tf.gather(id_to_cp, ids)
        return tf.strings.unicode_encode(tf.boolean_mask(code_points, code_points >= 0), "UTF-8")

    text, scalar = tf.TensorSpec([], tf.string), lambda d: tf.TensorSpec([], d)  # noqa: E731
    archive.add_endpoint("generate", lambda prompt, length, temperature, seed: decode(loop(
        encode(prompt), length, temperature, seed, greedy=False)),
        input_signature=[text, scalar(tf.int32), scalar(tf.float32), scalar(tf.int32)])
    archive.add_endpoint("greedy", lambda prompt, length: decode(loop(
        encode(prompt), length, 1.0, 0, greedy=True)), input_signature=[text, scalar(tf.int32)])
