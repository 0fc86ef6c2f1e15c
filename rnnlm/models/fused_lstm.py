"""A Keras LSTM whose full-sequence pass is restructured for CPU training.

``keras.layers.LSTM`` on a CPU scans its cell in a ``tf.while_loop`` and lets TensorFlow
differentiate the loop: every step of the backward pass does its own small weight-gradient
matmuls (x_t^T dz_t, h_{t-1}^T dz_t) and accumulates them. ``FusedLSTM`` computes the same
function with a hand-written gradient:

    forward   xp = X @ kernel + bias                  one (T·B, E) × (E, 4U) matmul for all steps
              loop t: z_t = xp_t + h_{t-1} @ recurrent_kernel → gates, c_t, h_t   (only this
              matmul stays in the loop)
    backward  loop t (reversed): dz_t from the saved gates, dh_{t-1} = dz_t @ recurrent_kernel^T
              d recurrent_kernel = H_prev^T @ dZ,  d kernel = X^T @ dZ,  dX = dZ @ kernel^T
              — three large matmuls over all T·B rows, outside the loop

It subclasses ``keras.layers.LSTM`` and overrides only ``inner_loop``, so it keeps Keras's
variables (``kernel`` (E, 4U), ``recurrent_kernel`` (U, 4U), ``bias`` (4U,), gates i, f, c, o),
its config, ``.cell`` (the per-step computation generation uses) and its weight file layout: a
``model.weights.h5`` trained with one loads into the other.

The restructured path is used only where it computes exactly what Keras would:

* no GPU is visible (a GPU keeps Keras's cuDNN path: no option of rnnlm's changes that; only
  a layer built with ``fused=True``, as the tests build one to compare, takes this one there),
* default activations (tanh / sigmoid), no dropout, no recurrent dropout, no unroll,
  not ``go_backwards`` (Bidirectional's backward copy keeps the Keras path), float32 compute,
* the mask is absent or all true. A mask with any padded step (right-padded prompts, the
  end of an evaluation stream) takes Keras's masked path, chosen at run time by ``tf.cond``.

Measured and rejected (bench/results/train.json): TensorFlow's own fused CPU kernel
``tf.raw_ops.BlockLSTM`` (whole sequence in one op) was *slower* than Keras's loop here, its
per-step matmuls go through Eigen rather than oneDNN; and ``BlockLSTMV2`` has no correct
gradient in TF 2.21 (rnn_grad.py registers V1's gradient, which assumes the i, c, f, o order).

``weight_drop`` (AWD-LSTM's DropConnect on the recurrent kernel) trains through this kernel
with a masked copy of the recurrent kernel; inference uses the layer's weights unchanged.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from rnnlm.errors import RnnlmError
from rnnlm.models import precision

# What ``fused=None`` means; tests/conftest.py flips it to run Keras's own path (the bench
# passes ``fused=False`` to its model instead).
DEFAULT_FUSED = "auto"


@keras.saving.register_keras_serializable(package="rnnlm")
class LSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` with a restructured CPU path for the full-sequence pass.

    Named ``LSTM`` on purpose: Keras's weight files address a layer held in a list by its class
    name in snake case (``layers/lstm/cell/vars/0``), so this name is what keeps
    ``model.weights.h5`` interchangeable with a ``keras.layers.LSTM`` model.

    ``fused``: "auto" (the kernel where it is exact and no GPU is visible), True (the same
    conditions, but a GPU does not disable it), False (always Keras's own path), None (the
    module's ``DEFAULT_FUSED``, read at trace time).
    """

    def __init__(self, units, fused=None, weight_drop=0.0, **kwargs):
        super().__init__(units, **kwargs)
        self.fused = fused
        # AWD-LSTM's WeightDrop (DropConnect on the recurrent kernel), training only: see
        # _weight_dropped. A layer option, so it is saved in the config, not in the weights.
        self.weight_drop = weight_drop
        # Set by training (precision.set_training_precision), not part of the layer's config:
        # "bfloat16" runs the restructured path's matmuls in bfloat16 while training; state,
        # gates and weights stay float32, and inference is always float32.
        self.training_matmul_dtype = "float32"

    def fused_eligible(self) -> bool:
        fused = DEFAULT_FUSED if self.fused is None else self.fused
        if fused is False or (fused == "auto" and precision.gpu_visible()):
            return False
        cell = self.cell
        return (cell.activation is keras.activations.tanh
                and cell.recurrent_activation is keras.activations.sigmoid
                and cell.use_bias and not cell.dropout and not cell.recurrent_dropout
                and not self.unroll and not self.go_backwards
                and self.compute_dtype == "float32")

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        matmul_dtype = self.training_matmul_dtype if training else "float32"
        if training and self.weight_drop:
            return self._weight_dropped(sequences, initial_state, mask, matmul_dtype)
        if not self.fused_eligible():
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if mask is None:
            return self._fused(sequences, initial_state, matmul_dtype)
        all_valid = tf.reduce_all(tf.cast(mask, tf.bool))
        if tf.executing_eagerly():
            if bool(all_valid):
                return self._fused(sequences, initial_state, matmul_dtype)
            return super().inner_loop(sequences, initial_state, mask, training=training)
        return tf.cond(all_valid, lambda: self._fused(sequences, initial_state, matmul_dtype),
                       lambda: super(LSTM, self).inner_loop(
                           sequences, initial_state, mask, training=training))

    def _fused(self, sequences, initial_state, matmul_dtype="float32", recurrent_kernel=None):
        cell = self.cell
        if recurrent_kernel is None:
            recurrent_kernel = cell.recurrent_kernel.value
        hs, h_last, c_last = lstm_sequence(
            tf.transpose(sequences, [1, 0, 2]), initial_state[0], initial_state[1],
            cell.kernel.value, recurrent_kernel, cell.bias.value, matmul_dtype)
        return h_last, tf.transpose(hs, [1, 0, 2]), (h_last, c_last)

    def _weight_dropped(self, sequences, initial_state, mask, matmul_dtype):
        """One DropConnect mask on the recurrent kernel per batch, shared by every time step
        (Merity et al.'s AWD-LSTM): it regularises the recurrence itself, where recurrent
        dropout on the hidden state would need a per-step mask and rule out any fused kernel.
        The kept weights are scaled by 1 / (1 - rate), so inference uses the kernel as it is.

        It runs in the restructured kernel, whose gradient reaches the kernel through the mask.
        Keras's cuDNN call takes the layer's variables, not a masked copy, so on a GPU this
        would silently leave cuDNN: refused instead (no option combination leaves cuDNN).
        """
        if not self.fused_eligible():
            raise RnnlmError("weight_drop runs in rnnlm's CPU LSTM kernel only (default "
                             "activations, no Keras dropout, no GPU): train without it")
        if mask is not None:
            # Language-model training windows carry no padding: the embedding's mask still
            # arrives, all true. A padded step would need Keras's masked loop, which has no
            # weight drop, so it is an error rather than a silent change of kernel.
            all_valid = tf.reduce_all(tf.cast(mask, tf.bool))
            check = tf.debugging.assert_equal(
                all_valid, True, message="weight_drop needs unpadded training sequences")
            with tf.control_dependencies([check]):
                sequences = tf.identity(sequences)
        dropped = keras.random.dropout(self.cell.recurrent_kernel.value, self.weight_drop,
                                       seed=self.cell.seed_generator)
        return self._fused(sequences, initial_state, matmul_dtype, recurrent_kernel=dropped)

    def get_config(self):
        config = super().get_config()
        config["fused"] = self.fused
        config["weight_drop"] = self.weight_drop
        return config


FusedLSTM = LSTM  # the name the rest of rnnlm uses



def lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias, matmul_dtype="float32"):
    """Time-major LSTM: x (T, B, E) → (H (T, B, U), h_T, c_T), Keras gate order i, f, c, o.

    ``matmul_dtype="bfloat16"``: every matmul (forward and backward) takes bfloat16 inputs and
    its result is cast back to float32; everything else (gates, cell state, gradients returned)
    is float32 (precision.py).
    """
    low = tf.as_dtype(matmul_dtype)

    def matmul(a, b, **kwargs):
        return precision.matmul(a, b, low, **kwargs)

    @tf.custom_gradient
    def run(x, h0, c0, kernel, recurrent_kernel, bias):
        steps, batch, features = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
        units = tf.shape(h0)[1]
        xp = tf.reshape(matmul(tf.reshape(x, [-1, features]), kernel) + bias,
                        [steps, batch, 4 * units])
        recurrent_low = tf.cast(recurrent_kernel, low)  # cast once, not at every step

        def step(t, h, c, gates_ta, c_ta, h_ta):
            z = xp[t] + matmul(h, recurrent_low)
            zi, zf, zg, zo = tf.split(z, 4, axis=1)
            i, f, g, o = tf.sigmoid(zi), tf.sigmoid(zf), tf.tanh(zg), tf.sigmoid(zo)
            c = f * c + i * g
            h = o * tf.tanh(c)
            return (t + 1, h, c, gates_ta.write(t, tf.concat([i, f, g, o], 1)),
                    c_ta.write(t, c), h_ta.write(t, h))

        arrays = [tf.TensorArray(x.dtype, size=steps) for _ in range(3)]
        _, h_last, c_last, gates_ta, c_ta, h_ta = tf.while_loop(
            lambda t, *_: t < steps, step, (0, h0, c0, *arrays))
        gates, cs, hs = gates_ta.stack(), c_ta.stack(), h_ta.stack()

        def grad(d_hs, d_h_last, d_c_last):
            c_prev = tf.concat([c0[None], cs[:-1]], 0)
            # Transposed once here: matmul(..., transpose_b=True) inside the loop would
            # materialise a (4U, U) transpose at every step.
            recurrent_t = tf.cast(tf.transpose(recurrent_kernel), low)

            # Every factor that does not depend on the incoming gradient is computed here for
            # all steps at once (a few large elementwise ops), leaving the loop ~half the ops.
            i, f, g, o = tf.split(gates, 4, axis=2)
            tanh_c = tf.tanh(cs)
            dc_per_dh = o * (1 - tanh_c * tanh_c)  # ∂c_t/∂h_t through h = o·tanh(c)
            dz_per_dc = tf.stack([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g)], 2)
            dz_per_dh = tanh_c * o * (1 - o)  # the output gate's pre-activation

            def back(t, dh_next, dc_next, d_bias, dz_ta):
                dh = d_hs[t] + dh_next
                dc = dc_next + dh * dc_per_dh[t]
                dz_ifg = tf.reshape(dc[:, None, :] * dz_per_dc[t], [batch, 3 * units])
                dz = tf.concat([dz_ifg, dh * dz_per_dh[t]], 1)
                # dz is kept in the matmul dtype: the three weight-gradient matmuls below then
                # read it without another cast. The bias gradient is summed here, in float32.
                dz_low = tf.cast(dz, low)
                dh_prev = matmul(dz_low, recurrent_t)
                return (t - 1, dh_prev, dc * f[t], d_bias + tf.reduce_sum(dz, 0),
                        dz_ta.write(t, dz_low))

            _, dh0, dc0, d_bias, dz_ta = tf.while_loop(
                lambda t, *_: t >= 0, back,
                (steps - 1, d_h_last, d_c_last, tf.zeros_like(bias),
                 tf.TensorArray(low, size=steps)))
            dz = tf.reshape(dz_ta.stack(), [-1, 4 * units])
            h_prev = tf.reshape(tf.concat([h0[None], hs[:-1]], 0), [-1, units])
            d_recurrent = matmul(h_prev, dz, transpose_a=True)
            d_kernel = matmul(tf.reshape(x, [-1, features]), dz, transpose_a=True)
            dx = tf.reshape(matmul(dz, kernel, transpose_b=True), [steps, batch, features])
            return dx, dh0, dc0, d_kernel, d_recurrent, d_bias

        return (hs, h_last, c_last), grad

    return run(x, h0, c0, kernel, recurrent_kernel, bias)
