"""A Keras LSTM whose full-sequence pass runs as one fused TensorFlow kernel on CPU.

``keras.layers.LSTM`` on a CPU scans its cell in a ``tf.while_loop``: every time step is a handful
of small ops plus the loop's own bookkeeping, forward and backward. TensorFlow ships a fused CPU
kernel for the whole sequence, ``BlockLSTM`` (gradient ``BlockLSTMGrad``, registered in
tensorflow/python/ops/rnn_grad.py), that takes the weights as one
``concat([kernel, recurrent_kernel])`` matrix with the gates in the order i, c, f, o (Keras and
cuDNN use i, f, c, o, so the columns are permuted on the way in; the gradient flows back through
the permutation). Not ``BlockLSTMV2``, although its forward pass uses Keras's order: TF 2.21
registers V1's gradient for it (rnn_grad.py), which assumes i, c, f, o, so its gradients are wrong.

``FusedLSTM`` subclasses ``keras.layers.LSTM`` and overrides only ``inner_loop``, so it keeps
Keras's variables (``kernel`` (E, 4U), ``recurrent_kernel`` (U, 4U), ``bias`` (4U,)), its config,
``.cell`` (the per-step computation generation uses) and its weight file layout: a
``model.weights.h5`` trained with one loads into the other.

The fused kernel is used only where it computes exactly what Keras would:

* no GPU is visible (a GPU keeps Keras's cuDNN path; the kernel choice never depends on options),
* default activations (tanh / sigmoid), no dropout, no recurrent dropout, no unroll,
  not ``go_backwards`` (Bidirectional's backward copy keeps the Keras path), float32 compute,
* the mask is absent or all true. A mask with any padded step (right-padded prompts, the
  end of an evaluation stream) takes Keras's masked path, chosen at run time by ``tf.cond``.
"""
from __future__ import annotations

import keras
import tensorflow as tf

_GPU = {}
# What ``fused=None`` means; the bench flips it to time Keras's own path in the same process.
DEFAULT_FUSED = "auto"


def gpu_visible() -> bool:
    if "any" not in _GPU:
        _GPU["any"] = bool(tf.config.list_logical_devices("GPU"))
    return _GPU["any"]


@keras.saving.register_keras_serializable(package="rnnlm")
class FusedLSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` with a fused CPU kernel for the full-sequence pass.

    ``fused``: "auto" (the kernel where it is exact and no GPU is visible), True (the same
    conditions, but a GPU does not disable it), False (always Keras's own path), None (the
    module's ``DEFAULT_FUSED``, read at trace time).
    """

    def __init__(self, units, fused=None, **kwargs):
        super().__init__(units, **kwargs)
        self.fused = fused

    def fused_eligible(self) -> bool:
        fused = DEFAULT_FUSED if self.fused is None else self.fused
        if fused is False or (fused == "auto" and gpu_visible()):
            return False
        cell = self.cell
        return (cell.activation is keras.activations.tanh
                and cell.recurrent_activation is keras.activations.sigmoid
                and cell.use_bias and not cell.dropout and not cell.recurrent_dropout
                and not self.unroll and not self.go_backwards
                and self.compute_dtype == "float32")

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if not self.fused_eligible():
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if mask is None:
            return self._fused(sequences, initial_state)
        all_valid = tf.reduce_all(tf.cast(mask, tf.bool))
        if tf.executing_eagerly():
            if bool(all_valid):
                return self._fused(sequences, initial_state)
            return super().inner_loop(sequences, initial_state, mask, training=training)
        return tf.cond(all_valid, lambda: self._fused(sequences, initial_state),
                       lambda: super(FusedLSTM, self).inner_loop(
                           sequences, initial_state, mask, training=training))

    def _fused(self, sequences, initial_state):
        cell = self.cell
        h0, c0 = initial_state[0], initial_state[1]
        weights = _ifco_to_icfo(tf.concat([cell.kernel.value, cell.recurrent_kernel.value], 0))
        no_peephole = tf.zeros([self.units], dtype=weights.dtype)
        time_major = tf.transpose(sequences, [1, 0, 2])
        steps = tf.cast(tf.shape(time_major)[0], tf.int64)
        outputs = tf.raw_ops.BlockLSTM(
            seq_len_max=steps, x=time_major, cs_prev=c0, h_prev=h0, w=weights,
            wci=no_peephole, wcf=no_peephole, wco=no_peephole, b=_ifco_to_icfo(cell.bias.value),
            forget_bias=0.0, cell_clip=-1.0, use_peephole=False)
        cs, h = outputs[1], outputs[6]  # i, cs, f, o, ci, co, h — each (T, B, U)
        h_last, c_last = h[-1], cs[-1]
        return h_last, tf.transpose(h, [1, 0, 2]), (h_last, c_last)

    def get_config(self):
        config = super().get_config()
        config["fused"] = self.fused
        return config


def _ifco_to_icfo(matrix):
    """Keras/cuDNN gate columns (i, f, c, o) → BlockLSTM's (i, c, f, o)."""
    i, f, c, o = tf.split(matrix, 4, axis=-1)
    return tf.concat([i, c, f, o], axis=-1)
