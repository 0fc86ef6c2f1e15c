"""Text in, text out around the compiled decoder (rnnlm.samplers.decode).

The model is handed to the decoder only as its ``prefill``/``next`` functions, so samplers
never import a model (DESIGN.md). This module owns what needs the tokenizer: encoding the
prompt, decoding pieces while streaming, and stop strings.
"""
from __future__ import annotations

import inspect
import os

import numpy as np

from rnnlm.config import is_integer
from rnnlm.errors import RnnlmError

# Tokens per compiled call while streaming. Each call has a fixed cost (dispatch, loop set-up,
# host sync); at 16 it doubled the time of a batch-1 char stream against generate() (bench/
# generate.py), at 64 a chunk is still only tens of milliseconds of text on a 2-core CPU.
STREAM_CHUNK = 64
STREAM_MAX_CHUNK = 1024  # and growing to this: each chunk re-reads all the text so far
# generate() with a stop string decodes in chunks, from this many tokens and doubling, and
# ends once every sample has met one, instead of running out the whole length: it reads the
# text a logarithmic number of times and decodes at most about twice the tokens it needed.
STOP_CHECK_CHUNK = 256
# The decoder keeps room for every new token in each sample's history from the start.
MAX_LENGTH = 1_000_000
# Rows of one batch: every step holds their logits (10,000 × a 10k vocabulary: 400 MB), and
# 10^8 of them was TensorFlow's out-of-memory traceback. Beyond, call again with other seeds.
MAX_ROWS = 10_000


def choose_sampler(sampler=None, temperature=None, top_k=None, top_p=None, beam_width=None):
    """Sampler name + options from the CLI/API options (top-p and top-k combine); None: the
    default (temperature 1, beam width 4)."""
    from rnnlm.samplers import get_sampler

    temperature = 1.0 if temperature is None else temperature
    beam_width = 4 if beam_width is None else beam_width
    if sampler is None:
        sampler = "top_p" if top_p is not None else "top_k" if top_k is not None else "random"
    options = {"greedy": {}, "random": {"temperature": temperature},
               "top_k": {"k": 40 if top_k is None else top_k, "temperature": temperature},
               "top_p": {"p": top_p if top_p is not None else 0.9, "k": top_k,
                         "temperature": temperature},
               "beam": {"beam_width": beam_width}}
    if sampler not in options:
        return get_sampler(sampler)  # raises the registry's "unknown sampler" message
    return get_sampler(sampler, **options[sampler])


def _named(option: str) -> str:
    """An option as both the command line and Python spell it: --top-k (top_k=)."""
    return f"--{option.replace('_', '-')} ({option}=)"


def _stop_start_at_end(text: str, stops: list[str]) -> int:
    """The length of the longest end of ``text`` that a stop string begins with (0: none)."""
    return max((k for stop in stops for k in range(min(len(stop) - 1, len(text)), 0, -1)
                if stop.startswith(text[len(text) - k:])), default=0)


class Generator:
    def __init__(self, model, tokenizer):
        from rnnlm.samplers import Decoder

        self.model, self.tokenizer = model, tokenizer
        self.decoder = Decoder(model.prefill, model.next, pad_id=0,
                               forbidden_ids=tuple(tokenizer.special_ids),
                               byte_pieces=tokenizer.byte_pieces)

    def check_options(self, length=200, num_samples=1, sampler=None, temperature=None, top_k=None,
                      top_p=None, beam_width=None, repetition_penalty=None, no_repeat_ngram=None,
                      stop=None, seed=None, **unknown):
        from rnnlm.samplers import logits_processors

        if unknown:  # a misspelt option (temprature=) would otherwise name this method
            known = [name for name, parameter in inspect.signature(self.check_options).parameters
                     .items() if parameter.kind is parameter.POSITIONAL_OR_KEYWORD]
            raise RnnlmError(f"unknown generation option {sorted(unknown)[0]!r}; the options "
                             f"are: {', '.join(known)}")

        try:
            for name, value in (("length", length), ("num_samples", num_samples)):
                if not is_integer(value) or value < 1:
                    raise ValueError(f"{_named(name)} must be an integer >= 1, got {value!r}")
            if num_samples > MAX_ROWS:
                raise ValueError(f"{_named('num_samples')} must be at most {MAX_ROWS:,} a call "
                                 f"(its logits are held together), got {num_samples:,}")
            if is_integer(beam_width) and beam_width > MAX_ROWS:
                raise ValueError(f"{_named('beam_width')} must be at most {MAX_ROWS:,}, got "
                                 f"{beam_width:,}")
            if length > MAX_LENGTH:
                raise ValueError(f"{_named('length')} must be at most {MAX_LENGTH:,} tokens a "
                                 f"call, got {length:,}")
            # The sampler's key is 64 bits: a larger seed would wrap onto a smaller one.
            if seed is not None and (not is_integer(seed) or not -2 ** 63 <= seed < 2 ** 64):
                raise ValueError(f"{_named('seed')} must be an integer in [-2**63, 2**64), "
                                 f"got {seed!r}")
            stops = [stop] if isinstance(stop, str) else stop
            if stops is not None and (not isinstance(stops, (list, tuple, np.ndarray))
                                      or not all(isinstance(s, str) for s in stops)):
                raise ValueError(f"{_named('stop')} must be a string or a list of strings, "
                                 f"got {stop!r}")
            if stops is not None and any(s == "" for s in stops):  # it would stop nothing
                raise ValueError(f"{_named('stop')} is an empty string: it would stop nothing "
                                 f"(an unset shell variable?)")
            chosen = choose_sampler(sampler, temperature, top_k, top_p, beam_width).name
            # An option the chosen sampler does not read would silently change nothing.
            if top_k is not None and chosen not in ("top_k", "top_p"):
                raise ValueError(f"{_named('top_k')} is an option of the top_k and top_p "
                                 f"samplers, not of {chosen}")
            if top_p is not None and chosen != "top_p":
                raise ValueError(f"{_named('top_p')} is an option of the top_p sampler, not of "
                                 f"{chosen}")
            if temperature is not None and chosen in ("greedy", "beam"):
                raise ValueError(f"{_named('temperature')} is an option of the sampling samplers, "
                                 f"not of {chosen}")
            # A seed is taken with every sampler, the deterministic ones too: it is passed by
            # habit (one seed for a loop over samplers), and changes nothing it should not.
            if beam_width is not None and chosen != "beam":
                raise ValueError(f"{_named('beam_width')} is an option of the beam sampler, not "
                                 f"of {chosen}")
            if chosen == "beam" and num_samples != 1:
                raise ValueError(f"beam search is deterministic: {_named('num_samples')} must "
                                 f"be 1")
            if chosen == "greedy" and num_samples != 1:
                raise ValueError(f"greedy decoding is deterministic: {_named('num_samples')} "
                                 f"must be 1 (its samples would all be the same)")
            logits_processors.check_repetition_penalty(
                1.0 if repetition_penalty is None else repetition_penalty)
            logits_processors.check_ngram_size(no_repeat_ngram or 0)
        except ValueError as e:
            raise RnnlmError(str(e)) from None

    def prompt_ids(self, prompt: str) -> list[int]:
        """Encoded prompt; an empty prompt starts from a line break (or <eos>, or token 2)."""
        if not isinstance(prompt, str):  # bytes or a list would encode as <unk>s, silently
            raise RnnlmError(f"the prompt must be a str, got {type(prompt).__name__}")
        known, ids = self.tokenizer.encode_known_form(prompt) if prompt else (prompt, [])
        eos = self.tokenizer.eos_id
        if ids and eos is not None and ids[-1] == eos and not known.endswith("\n"):  # (CR read)
            # A whitespace-mode word tokenizer ends every line with <eos>, the prompt's last
            # one too; but the model should go on from the prompt's last word, not a new line.
            ids = ids[:-1]
        if not ids:
            newline = self.tokenizer.encode("\n")
            ids = newline[-1:] if newline and 1 not in newline else [self.tokenizer.eos_id or 2]
        return ids

    def _known_stops(self, stop) -> list[str]:
        """Stop strings in the normal form the model writes (a stop typed as Korean jamo must
        still match the syllables the model emits, as a prompt does)."""
        stops = [stop] if isinstance(stop, str) else list(stop) if stop is not None else []
        return [self.tokenizer.encode_known_form(s)[0] for s in stops]

    def _continuation(self, prompt_ids, new_ids, prompt: str = "") -> str:
        """Text the new ids add after the prompt, decoded in context (word spacing, UTF-8 bytes).
        A word tokenizer puts the space between words itself: after a prompt typed with a
        trailing space ("The king "), the space is not written twice."""
        base = self.tokenizer.decode(prompt_ids)
        full = self.tokenizer.decode(list(prompt_ids) + [int(i) for i in new_ids if i != 0])
        text = full[len(base):] if full.startswith(base) else self.tokenizer.decode(new_ids)
        if not self.tokenizer.lossless and prompt.endswith(" ") and text.startswith(" "):
            text = text[1:]
        return text

    def _run_options(self, options):
        self.check_options(**options)
        sampler = choose_sampler(options.get("sampler"), options.get("temperature"),
                                 options.get("top_k"), options.get("top_p"),
                                 options.get("beam_width"))
        seed = options.get("seed")
        return dict(sampler=sampler, max_new_tokens=int(options.get("length", 200)),
                    seed=int.from_bytes(os.urandom(4), "little") if seed is None else int(seed),
                    repetition_penalty=options.get("repetition_penalty") or 1.0,
                    no_repeat_ngram_size=options.get("no_repeat_ngram") or 0)

    def generate(self, prompt: str = "", num_samples: int = 1, log_probs: bool = True,
                 **options) -> list[dict]:
        """num_samples continuations decoded in one batch → [{text, log_prob, num_tokens}].
        log_probs=False: text only, log_prob and score None (Decoder.generate says why)."""
        from rnnlm.samplers import BeamSampler, truncate_at_stop

        run = self._run_options({**options, "num_samples": num_samples})
        ids = self.prompt_ids(prompt)
        stops = self._known_stops(options.get("stop"))
        if isinstance(run["sampler"], BeamSampler):
            run.pop("seed")
        if stops and not isinstance(run["sampler"], BeamSampler):
            result = self._until_stopped(ids, prompt, stops, int(num_samples), log_probs, run)
        else:
            result = self.decoder.generate([ids], num_samples=int(num_samples),
                                           log_probs=log_probs, **run)
        samples = []
        for row in range(result.token_ids.shape[0]):
            made = result.token_ids[row, :int(result.num_tokens[row])]
            new = made[:self._whole_characters(made)]
            text, stopped = truncate_at_stop(self._continuation(ids, new, prompt), stops)
            if stopped:
                new = new[:self._tokens_for(ids, new, len(text), prompt)]
            log_prob, score = float(result.log_prob[row]), float(result.score[row])
            if not log_probs and not isinstance(run["sampler"], BeamSampler):
                log_prob = score = None
            elif len(new) < len(made):  # the figures describe the text returned
                log_prob = float(result.token_log_probs[row, :len(new)].sum())
                score = log_prob
                if isinstance(run["sampler"], BeamSampler):  # its length penalty, as it ranks
                    from rnnlm.samplers.beam import length_penalty

                    score = log_prob / float(length_penalty(len(new), run["sampler"].alpha))
            samples.append({"text": text, "log_prob": log_prob, "score": score,
                            "num_tokens": int(len(new)), "stopped": stopped})
        return samples

    def _until_stopped(self, ids, prompt: str, stops: list[str], num_samples: int,
                       log_probs: bool, run: dict):
        """Decoder.generate's result, decoded in chunks until every sample has met a stop
        string: the same ids as far as they go (the loop draws step t from the seed and t)."""
        from rnnlm.samplers import truncate_at_stop

        chunks, finished = [], set()  # the rows that met a stop (or ended) need no more reading
        for chunk in self.decoder.stream([ids], chunk_size=STOP_CHECK_CHUNK,
                                         max_chunk_size=run["max_new_tokens"],
                                         num_samples=num_samples, log_probs=log_probs, **run):
            chunks.append(chunk)
            made = np.concatenate([c.token_ids for c in chunks], axis=1)
            finished |= {i for i, (row, n) in enumerate(zip(made, chunk.num_tokens))
                         if i not in finished and (
                             n < made.shape[1]  # ended (eos) before this chunk's end
                             or truncate_at_stop(self._settled_text(ids, row[:n], prompt),
                                                 stops)[1])}
            if len(finished) == len(made):
                break
        return chunks[-1]._replace(  # log_prob, num_tokens and score are running totals
            token_ids=np.concatenate([c.token_ids for c in chunks], axis=1),
            token_log_probs=np.concatenate([c.token_log_probs for c in chunks], axis=1))

    def _settled_text(self, ids, new, prompt: str) -> str:
        """The continuation of ``new`` that more tokens cannot change: without the byte pieces
        of a character not yet complete, and, for a word tokenizer, without the space before
        the last token (it spaces an apostrophe by the word after it: "don" "'" "t" is
        "don't", "don" "'" is "don '"). The text both with and without the last token holds
        is final."""
        new = list(new)
        text = self._continuation(ids, new[:self._whole_characters(new)], prompt)
        if not self.tokenizer.lossless:
            text = os.path.commonprefix([text, self._continuation(ids, new[:-1], prompt)])
        return text

    def _whole_characters(self, new_ids) -> int:
        """How many of ``new_ids`` to keep: a sample that reached its length in the middle of
        a character's byte pieces ends before that character, not on U+FFFD."""
        if not self.decoder.byte_pieces:
            return len(new_ids)
        from rnnlm.samplers import utf8

        classes = self.decoder.byte_classes(self.tokenizer.vocabulary_size)
        return utf8.complete_length(new_ids, classes)

    def _tokens_for(self, prompt_ids, new_ids, length: int, prompt: str) -> int:
        """The fewest of ``new_ids`` whose continuation reaches ``length`` characters (a token
        that spans the cut before a stop string is kept)."""
        low, high = 0, len(new_ids)
        while low < high:  # the continuation only grows with more tokens: bisect
            middle = (low + high) // 2
            if len(self._continuation(prompt_ids, new_ids[:middle], prompt)) >= length:
                high = middle
            else:
                low = middle + 1
        return low

    def stream(self, prompt: str = "", **options):
        """An iterator of continuation text, yielded as chunks of tokens are produced (stop
        strings honoured). The options and the prompt are checked here, at the call."""
        from rnnlm.samplers import BeamSampler

        if options.pop("num_samples", 1) != 1:
            raise RnnlmError("stream yields one sample as it is made; for several, use "
                             "generate(..., num_samples=N)")
        run = self._run_options(options)
        ids, stops = self.prompt_ids(prompt), self._known_stops(options.get("stop"))
        if isinstance(run["sampler"], BeamSampler):  # beam search only knows its best at the end
            def whole_beam():
                yield self.generate(prompt, **options)[0]["text"]
            return whole_beam()
        return self._stream(ids, prompt, stops, run)

    def _stream(self, ids, prompt: str, stops: list[str], run: dict):
        from rnnlm.samplers import truncate_at_stop

        new: list[int] = []
        shown = text = ""
        for chunk in self.decoder.stream([ids], chunk_size=STREAM_CHUNK, log_probs=False,
                                         max_chunk_size=STREAM_MAX_CHUNK, **run):
            new.extend(int(i) for i in chunk.token_ids[0])
            # What is shown is never taken back, and the whole stream is the text generate()
            # returns. So held back until the next chunk decides: what _settled_text leaves
            # out, and an end that may begin a stop string.
            text, stopped = truncate_at_stop(self._settled_text(ids, new, prompt), stops)
            ready = text if stopped else text[:len(text) - _stop_start_at_end(text, stops)]
            if ready.startswith(shown) and len(ready) > len(shown):
                yield ready[len(shown):]
                shown = ready
            if stopped:
                return
        text = truncate_at_stop(self._continuation(ids, new[:self._whole_characters(new)], prompt),
                                stops)[0]
        if text.startswith(shown) and len(text) > len(shown):  # the end: all that was held back
            yield text[len(shown):]
