"""Byte pieces that always join into whole UTF-8 characters.

A SentencePiece vocabulary with byte fallback holds the 256 single bytes as pieces, so that a
character the vocabulary lacks (a rare Hangul syllable, say) is still written, as 2 to 4 byte
pieces. Sampled freely, byte pieces can form sequences that are not UTF-8 (a continuation byte
with no lead byte, a lead byte cut short), which decode as U+FFFD. Each sample therefore carries
the state of a UTF-8 validator, and only the tokens that keep the bytes valid may come next:

    state  needs next                      state  needs next
    ANY    a whole piece or a lead byte    E0     A0–BF, then one more continuation
    NEED1  one continuation byte (80–BF)   ED     80–9F (no surrogates), then one more
    NEED2  two continuation bytes          F0     90–BF (no overlong), then two more
    NEED3  three continuation bytes        F4     80–8F (nothing past U+10FFFF), then two more
    C2     A0–BF: C2 80–9F are the C1 control characters (U+0080–U+009F), never sampled, as
           the tokenizer never samples the bytes of the C0 controls
    EF     A4–BF: EF 80–A3 is U+F000–U+F8FF, private use (and the lead byte EE, U+E000–
           U+EFFF, is all private use: never sampled)
    F3     A0–AF (plane 14: tags and variation selectors at its start, the rest unassigned
           but let through), then two more: F3 80–9F are planes 12 and 13, unassigned, and
           F3 B0–BF plane 15, private use

Private-use and unassigned code points are valid UTF-8 but never text: a model that writes
them only shows empty boxes (the tokenizer forbids the lead bytes of planes 4–11 and 16).
Tokens are grouped into the byte classes below; TRANSITIONS[state, class] is the next state,
or -1 where that class may not come next. Bytes that never occur in UTF-8 (C0, C1, F5–FF) are
forbidden outright by the tokenizer (its special ids), so they have no class of their own.
"""

import numpy as np
import tensorflow as tf

ANY, NEED1, NEED2, NEED3, E0, ED, F0, F4, C2, EF, F3 = range(11)
# Byte classes: WHOLE (a piece that is text by itself, an ASCII byte included), the
# continuation ranges the states tell apart, and the lead bytes by what they need next.
WHOLE, CONT_80_8F, CONT_90_9F, CONT_A0_A3, CONT_A4_AF, CONT_B0_BF, LEAD2, LEAD_E0, LEAD3, \
    LEAD_ED, LEAD_EE, LEAD_EF, LEAD_F0, LEAD4, LEAD_F3, LEAD_F4, LEAD_C2 = range(17)

_A0_BF = (CONT_A0_A3, CONT_A4_AF, CONT_B0_BF)
_ALL_CONT = (CONT_80_8F, CONT_90_9F, *_A0_BF)
_NEXT = {  # state: {class: next state}; a class not listed may not come next
    ANY: {WHOLE: ANY, LEAD2: NEED1, LEAD_E0: E0, LEAD3: NEED2, LEAD_ED: ED, LEAD_EF: EF,
          LEAD_F0: F0, LEAD4: NEED3, LEAD_F3: F3, LEAD_F4: F4, LEAD_C2: C2},  # not LEAD_EE
    NEED1: dict.fromkeys(_ALL_CONT, ANY),
    NEED2: dict.fromkeys(_ALL_CONT, NEED1),
    NEED3: dict.fromkeys(_ALL_CONT, NEED2),
    E0: dict.fromkeys(_A0_BF, NEED1),
    ED: {CONT_80_8F: NEED1, CONT_90_9F: NEED1},
    F0: dict.fromkeys((CONT_90_9F, *_A0_BF), NEED2),
    F4: {CONT_80_8F: NEED2},
    C2: dict.fromkeys(_A0_BF, ANY),
    EF: {CONT_A4_AF: NEED1, CONT_B0_BF: NEED1},
    F3: {CONT_A0_A3: NEED2, CONT_A4_AF: NEED2},
}
TRANSITIONS = np.full((len(_NEXT), LEAD_C2 + 1), -1, np.int32)
for _state, _row in _NEXT.items():
    for _class, _next in _row.items():
        TRANSITIONS[_state, _class] = _next


def byte_class(byte: int) -> int:
    """The class of a byte piece (bytes that never occur in UTF-8 count as WHOLE: the
    tokenizer forbids them anyway)."""
    for low, high, cls in ((0x80, 0x8F, CONT_80_8F), (0x90, 0x9F, CONT_90_9F),
                           (0xA0, 0xA3, CONT_A0_A3), (0xA4, 0xAF, CONT_A4_AF),
                           (0xB0, 0xBF, CONT_B0_BF), (0xC2, 0xC2, LEAD_C2),
                           (0xC3, 0xDF, LEAD2), (0xE0, 0xE0, LEAD_E0), (0xED, 0xED, LEAD_ED),
                           (0xEE, 0xEE, LEAD_EE), (0xEF, 0xEF, LEAD_EF), (0xE1, 0xEC, LEAD3),
                           (0xF0, 0xF0, LEAD_F0), (0xF1, 0xF2, LEAD4), (0xF3, 0xF3, LEAD_F3),
                           (0xF4, 0xF4, LEAD_F4)):
        if low <= byte <= high:
            return cls
    return WHOLE


def token_classes(vocabulary_size: int, byte_pieces: dict[int, int]) -> np.ndarray:
    """int32 (V,): the byte class of every token id; ``byte_pieces`` maps id -> byte value."""
    classes = np.full(vocabulary_size, WHOLE, np.int32)
    for token_id, byte in byte_pieces.items():
        classes[token_id] = byte_class(byte)
    return classes


def state_bias(classes, bias):
    """float32 (states, V): ``bias`` (V,) with -inf added where a state refuses a token. Made
    once per decoding call, so that each step costs one gather of a row per sample."""
    refused = tf.gather(tf.constant(TRANSITIONS), classes, axis=1) < 0
    return tf.where(refused, -float("inf"), bias[None, :])


def advance(state, tokens, classes):
    """The states after emitting ``tokens`` (B,) (each allowed in its row's state)."""
    return tf.gather_nd(tf.constant(TRANSITIONS),
                        tf.stack([state, tf.gather(classes, tokens)], axis=-1))


def complete_length(token_ids, classes: np.ndarray) -> int:
    """How many of ``token_ids`` end on a whole character: a sample cut off by its length in
    the middle of a character's bytes loses that character's bytes rather than show U+FFFD."""
    state, complete = ANY, 0
    for position, token_id in enumerate(token_ids):
        state = int(TRANSITIONS[state, classes[int(token_id)]])
        if state < 0:  # not produced under the constraint (a prompt's bytes): leave it be
            return len(token_ids)
        if state == ANY:
            complete = position + 1
    return complete
