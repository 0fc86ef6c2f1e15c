"""Language model = Backbone → Dropout → Dense(vocabulary) logits.

Besides the Keras ``call`` used for teacher-forced training, it exposes the sampler protocol
(DESIGN.md): ``prefill`` consumes right-padded prompts in one full-sequence pass, ``next`` costs
one recurrent step per layer from the carried states.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from rnnlm.config import ModelConfig
from rnnlm.models import precision
from rnnlm.models.backbone import Backbone, sequence_dropout


@keras.saving.register_keras_serializable(package="rnnlm")
class LanguageModel(keras.Model):
    @precision.float32_layers
    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config.validate()
        self.backbone = Backbone(cell=config.cell, num_layers=config.num_layers,
                                 units=config.units, vocabulary_size=config.vocabulary_size,
                                 embedding_dim=config.embedding_dim, dropout=config.dropout,
                                 embedding_dropout=config.embedding_dropout,
                                 locked_dropout=config.locked_dropout,
                                 weight_drop=config.weight_drop, name="backbone")
        self.output_dropout = sequence_dropout(config.dropout, config.locked_dropout,
                                               name="output_dropout")
        # Logits stay float32 even under mixed precision, so softmax/loss are computed stably.
        if config.tie_weights:
            self.head = TiedLogits(self.backbone.embedding, name="logits")
        else:
            self.head = Logits(config.vocabulary_size, name="logits")
        self.carried = None  # CarriedState while training with --stateful (TBPTT)

    @precision.float32_layers
    def build_for_inference(self):
        """Create all weights with a dummy call (needed before load_weights)."""
        self(tf.ones((1, 2), dtype="int32"))
        return self

    def call(self, token_ids, training=False):
        # Stateful training (TBPTT): start from the states the previous window of the same
        # streams ended with, and keep this window's final states for the next one.
        carried = self.carried if training else None
        states = None if carried is None else carried.read()
        # Training windows are cut from the corpus ids, which never hold the pad id 0.
        sequences, final_states = self.backbone(token_ids, initial_states=states,
                                                training=training, padded=not training)
        if carried is not None:
            carried.write(final_states)
        return self.head(self.output_dropout(sequences, training=training), training=training)

    def forward(self, token_ids, states=None, training=False, padded=True):
        """Full-sequence logits and final states, starting from ``states`` (None: zeros).
        ``padded=False``: run unmasked (Backbone.call), for ids whose padding, if any, only
        ever follows a row's real tokens, so that no real token's logits depend on it."""
        sequences, final_states = self.backbone(token_ids, initial_states=states,
                                                training=training, padded=padded)
        return self.head(self.output_dropout(sequences, training=training)), final_states

    def prefill(self, token_ids, lengths):
        """Right-padded prompts (B, T) → logits at each row's last real token, and states there.

        Padding (id 0) is masked, and masked steps carry the state unchanged, so the final states
        are those after each prompt's own last token.
        """
        sequences, states = self.backbone(token_ids, training=False)
        last = tf.gather(sequences, tf.cast(lengths, tf.int32) - 1, axis=1, batch_dims=1)
        return self.head(last), tuple(states)

    def next(self, token_ids, states):
        """One step: token ids (B,) and carried states → logits (B, V) and new states."""
        output, new_states = self.backbone.step(token_ids, states)
        return self.head(output), tuple(new_states)

    def initial_states(self, batch_size):
        return tuple(self.backbone.initial_states(batch_size))

    def get_config(self):
        return {"config": vars(self.config), "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(ModelConfig(**config["config"]), name=config.get("name"))


class CarriedState:
    """RNN states carried from one training window to the next (``--stateful``).

    Plain ``tf.Variable``s in a plain object: Keras does not track them, so they are never saved
    with the weights. Reset to zeros at the start of every epoch.
    """

    def __init__(self, model: LanguageModel, batch_size: int):
        self.variables = [tf.Variable(s, trainable=False)
                          for s in model.initial_states(batch_size)]

    def read(self):
        return [v.value() for v in self.variables]

    def write(self, states) -> None:
        for variable, state in zip(self.variables, states):
            variable.assign(tf.stop_gradient(tf.cast(state, variable.dtype)))

    def reset(self) -> None:
        for variable in self.variables:
            variable.assign(tf.zeros_like(variable))


@keras.saving.register_keras_serializable(package="rnnlm")
class Logits(keras.layers.Dense):
    """The untied output layer: a float32 ``Dense(vocabulary)`` whose matmul may run in bfloat16
    while training (precision.py). With a 10k-word vocabulary this matmul and its gradients are
    a third of a training step on a CPU."""

    def __init__(self, units, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(units, **kwargs)
        self.training_matmul_dtype = "float32"

    def call(self, inputs, training=False):
        dtype = self.training_matmul_dtype if training else "float32"
        if dtype == "float32":
            return super().call(inputs)
        flat = precision.matmul(tf.reshape(inputs, [-1, inputs.shape[-1]]), self.kernel, dtype)
        shape = tf.concat([tf.shape(inputs)[:-1], [self.units]], 0)
        return tf.reshape(flat + self.bias, shape)


@keras.saving.register_keras_serializable(package="rnnlm")
class TiedLogits(keras.layers.Layer):
    """Output layer sharing the input embedding matrix (Press & Wolf; Inan et al.).

    logits = (h @ projection) @ embeddings^T + bias. The projection (units → embedding_dim,
    no bias) exists only when the last layer's width differs from the embedding width. The
    embedding matrix stays one variable, owned by the embedding layer (reached through a closure
    so Keras does not track — and save — it twice).
    """

    def __init__(self, embedding, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.supports_masking = True  # like Dense: the padding mask passes on to the loss
        self._embeddings = lambda: embedding.embeddings
        self.vocabulary_size, self.embedding_dim = embedding.input_dim, embedding.output_dim
        self.projection = None
        self.training_matmul_dtype = "float32"  # see Logits

    def build(self, input_shape):
        if input_shape[-1] != self.embedding_dim:
            self.projection = keras.layers.Dense(self.embedding_dim, use_bias=False,
                                                 dtype="float32", name="projection")
            self.projection.build(input_shape)
        self.bias = self.add_weight(shape=(self.vocabulary_size,), initializer="zeros",
                                    name="bias")

    def call(self, inputs, training=False):
        dtype = self.training_matmul_dtype if training else "float32"
        x = tf.cast(inputs, "float32")
        if self.projection is not None:
            x = self.projection(x)
        embeddings = tf.cast(self._embeddings(), "float32")
        flat = precision.matmul(tf.reshape(x, [-1, self.embedding_dim]), embeddings, dtype,
                                transpose_b=True)
        shape = tf.concat([tf.shape(x)[:-1], [self.vocabulary_size]], 0)
        return tf.reshape(flat + self.bias, shape)
