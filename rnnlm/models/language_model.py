"""Language model = Backbone → Dropout → Dense(vocabulary) logits.

Besides the Keras ``call`` used for teacher-forced training, it exposes the sampler protocol
(DESIGN.md): ``prefill`` consumes right-padded prompts in one full-sequence pass, ``next`` costs
one recurrent step per layer from the carried states.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from rnnlm.config import ModelConfig
from rnnlm.models.backbone import Backbone


@keras.saving.register_keras_serializable(package="rnnlm")
class LanguageModel(keras.Model):
    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config.validate()
        self.backbone = Backbone(cell=config.cell, num_layers=config.num_layers,
                                 units=config.units, vocabulary_size=config.vocabulary_size,
                                 embedding_dim=config.embedding_dim, dropout=config.dropout,
                                 name="backbone")
        self.output_dropout = keras.layers.Dropout(config.dropout, name="output_dropout")
        # Logits stay float32 even under mixed precision, so softmax/loss are computed stably.
        self.head = keras.layers.Dense(config.vocabulary_size, dtype="float32", name="logits")

    def build_for_inference(self):
        """Create all weights with a dummy call (needed before load_weights)."""
        self(tf.ones((1, 2), dtype="int32"))
        return self

    def call(self, token_ids, training=False):
        sequences, _ = self.backbone(token_ids, training=training)
        return self.head(self.output_dropout(sequences, training=training))

    def forward(self, token_ids, states=None, training=False):
        """Full-sequence logits and final states, starting from ``states`` (None: zeros)."""
        sequences, final_states = self.backbone(token_ids, initial_states=states, training=training)
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
