"""Plain NumPy forward passes of Keras's SimpleRNN, LSTM and GRU, written to be read.

Each cell is one small ``*_step`` function holding its equations; ``run_rnn`` walks a
sequence with any step function exactly the way Keras's generic RNN loop does (masks,
``go_backwards``, ``return_sequences``, ``return_state``). ``from_keras`` reads the
weights and flags of a built Keras layer (or of a layer of an rnnlm run, via
``model.get_layer("backbone").get_layer("rnn_0")``) so that ``forward_keras_layer(layer, x)``
returns the same structure and, to float32 round-off, the same numbers as ``layer(x)``.

Shapes: ``x`` is (batch, timesteps, features); a mask is (batch, timesteps) with True
for the steps to read. Everything is computed in float64. Inference only: dropout and
recurrent dropout are not applied (Keras applies them only while training).

Weight layout (Keras's, column blocks of ``units`` each):

    SimpleRNN  kernel (input, units)     recurrent_kernel (units, units)     bias (units,)
    LSTM       kernel (input, 4·units)   recurrent_kernel (units, 4·units)   bias (4·units,)
               gate order [i, f, c, o]
    GRU        kernel (input, 3·units)   recurrent_kernel (units, 3·units)
               gate order [z, r, h]; bias (2, 3·units) = (input bias, recurrent bias)
               when reset_after=True (the default), (3·units,) when reset_after=False

The equations and the loop are in ``cells.py``; layers as data, Bidirectional, stacks and
``from_keras`` in ``layers.py``. The package imports NumPy only; it never imports
TensorFlow or Keras.
"""

from rnnlm.reference.cells import (
    ACTIVATIONS,
    CELLS,
    get_activation,
    gru_forward,
    gru_step,
    lstm_forward,
    lstm_step,
    run_rnn,
    sigmoid,
    simple_rnn_forward,
    simple_rnn_step,
)
from rnnlm.reference.layers import (
    MERGE_MODES,
    Bidirectional,
    RNNLayer,
    bidirectional_forward,
    forward,
    forward_keras_layer,
    from_keras,
    rnn_forward,
    stack_forward,
)

__all__ = [
    "ACTIVATIONS", "CELLS", "MERGE_MODES", "Bidirectional", "RNNLayer", "bidirectional_forward",
    "forward", "forward_keras_layer", "from_keras", "get_activation", "gru_forward", "gru_step",
    "lstm_forward", "lstm_step", "rnn_forward", "run_rnn", "sigmoid", "simple_rnn_forward",
    "simple_rnn_step", "stack_forward",
]
