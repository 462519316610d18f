"""One generation API for every backend: batch `generate` and token `stream`, with the same parameters and result.

Evaluation uses `generate` (many conversations at once); chat uses `stream`. Backends only produce raw text
chunks; stop strings, timing and token counting are handled here once. Evaluation's choice mode uses
`choice_logprobs` (each label's log-probability as the answer) where a backend can see token probabilities.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, NamedTuple

from models.errors import InputError, ModelError

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}


@dataclass
class GenerationParams:
    """Sampling settings; temperature 0 means greedy decoding."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    repetition_penalty: float = 1.0  # 1 = off; above 1 makes a token already in the text less likely (CTRL's rule)
    no_repeat_ngram_size: int = 0  # 0 = off; n > 0: no n-gram appears twice in the answer

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise InputError(f"max_new_tokens must be at least 1 (got {self.max_new_tokens}).")
        if self.temperature < 0:
            raise InputError(f"temperature must be 0 (greedy) or more (got {self.temperature}).")
        if not 0 < self.top_p <= 1:
            raise InputError(f"top_p must be in (0, 1] (got {self.top_p}).")
        if not self.repetition_penalty > 0:
            raise InputError(f"repetition_penalty must be above 0; 1 turns it off (got {self.repetition_penalty}).")
        if self.no_repeat_ngram_size < 0 or int(self.no_repeat_ngram_size) != self.no_repeat_ngram_size:
            raise InputError(f"no_repeat_ngram_size must be a whole number, 0 (off) or more "
                             f"(got {self.no_repeat_ngram_size}).")
        self.stop = [s for s in self.stop if s]

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def describe(self) -> str:
        """The settings in a few words, shown under a chat answer: greedy · repetition penalty 1.1."""
        parts = ["greedy" if self.greedy else f"temperature {self.temperature:g}, top-p {self.top_p:g}"]
        if self.repetition_penalty != 1:
            parts.append(f"repetition penalty {self.repetition_penalty:g}")
        if self.no_repeat_ngram_size:
            parts.append(f"no repeated {self.no_repeat_ngram_size}-grams")
        return " · ".join(parts)


@dataclass
class Generation:
    """One answer with what it cost: token counts, wall time and time to the first token."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    first_token_seconds: float | None = None
    finish_reason: str = "stop"  # "stop" (end of text or a stop string) | "length" | "cancelled"
    notes: list[str] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


def validate_messages(messages: list[Message]) -> None:
    """Reject what no backend can answer, with a message that says what is wrong."""
    if not messages:
        raise InputError("The conversation is empty: type a message first.")
    last = messages[-1]
    if last.get("role") != "user" or not str(last.get("content", "")).strip():
        raise InputError("The message is empty: type a question before sending.")
    for i, m in enumerate(messages):
        if m.get("role") not in ("system", "user", "assistant"):
            raise InputError(f"Message {i + 1} has role {m.get('role')!r}; expected system, user or assistant.")


def cut_at_stop(text: str, stops: Iterable[str]) -> tuple[str, bool]:
    """Text before the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def hold_back(text: str, stops: Iterable[str]) -> int:
    """How many trailing characters might be the start of a stop string and must wait for more text."""
    longest = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:k]):
                longest = max(longest, k)
                break
    return longest


class TextStream:
    """Iterate to get text pieces as they are generated; `result` holds the whole Generation afterwards.

    Closing the iterator early (the user pressed stop) calls `cancel` so the backend stops generating.
    """

    def __init__(
        self,
        chunks: Iterator[str],
        params: GenerationParams,
        *,
        prompt_tokens: int = 0,
        notes: list[str] | None = None,
        count_tokens: Callable[[], int] | None = None,
        cancel: Callable[[], None] | None = None,
        on_finish: Callable[[Generation], None] | None = None,
    ):
        self._chunks = chunks
        self._params = params
        self._count_tokens = count_tokens
        self._cancel = cancel or (lambda: None)
        self._on_finish = on_finish
        self.result = Generation(text="", prompt_tokens=prompt_tokens, notes=list(notes or []))

    def __iter__(self) -> Iterator[str]:
        stops = self._params.stop
        start = time.perf_counter()
        raw, emitted, pieces = "", 0, 0
        finish = "length"
        try:
            for chunk in self._chunks:
                if not chunk:
                    continue
                pieces += 1
                if self.result.first_token_seconds is None:
                    self.result.first_token_seconds = time.perf_counter() - start
                raw += chunk
                visible, stopped = cut_at_stop(raw, stops)
                safe = len(visible) if stopped else len(visible) - hold_back(visible, stops)
                if safe > emitted:
                    yield visible[emitted:safe]
                    emitted = safe
                if stopped:
                    finish = "stop"
                    self._cancel()
                    break
            else:
                visible, _ = cut_at_stop(raw, stops)
                if len(visible) > emitted:
                    yield visible[emitted:]
                finish = "stop" if self._ended_early(pieces) else "length"
            self.result.text = cut_at_stop(raw, stops)[0]
        except GeneratorExit:
            finish = "cancelled"
            self._cancel()
            self.result.text = cut_at_stop(raw, stops)[0]
            raise
        finally:
            self.result.seconds = time.perf_counter() - start
            self.result.completion_tokens = self._count_tokens() if self._count_tokens else pieces
            self.result.finish_reason = finish
            if self._on_finish:
                self._on_finish(self.result)

    def _ended_early(self, pieces: int) -> bool:
        produced = self._count_tokens() if self._count_tokens else pieces
        return produced < self._params.max_new_tokens

    def collect(self) -> Generation:
        """Run the stream to the end and return the result (for callers that do not display tokens)."""
        for _ in self:
            pass
        return self.result


class LabelScore(NamedTuple):
    """A label's log-probability as the whole answer (summed over its tokens) and how many tokens it has."""

    logprob: float
    tokens: int

    @property
    def per_token(self) -> float:
        """The length-normalised figure: a long label is not penalised for its length alone."""
        return self.logprob / max(self.tokens, 1)


class ChoiceScores(dict):
    """label -> LabelScore for one conversation, with the tokens the scoring cost (the cost column reads them)."""

    def __init__(self, scores: dict[str, LabelScore], prompt_tokens: int = 0, completion_tokens: int = 0):
        super().__init__(scores)
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens

    def probabilities(self, normalised: bool = False) -> dict[str, float]:
        """Softmax over the labels of the summed (or per-token) log-probabilities: they sum to 1 over the set.

        >>> ChoiceScores({"yes": LabelScore(-1.0, 1), "no": LabelScore(-1.0, 2)}).probabilities()
        {'yes': 0.5, 'no': 0.5}
        >>> {k: round(v, 3) for k, v in ChoiceScores({"yes": LabelScore(-1.0, 1), "no": LabelScore(-1.0, 2)}
        ...                                          ).probabilities(normalised=True).items()}
        {'yes': 0.378, 'no': 0.622}
        """
        logits = {k: (s.per_token if normalised else s.logprob) for k, s in self.items()}
        top = max(logits.values())
        if top == -math.inf:  # no label has any probability the backend could see: all equally (un)likely
            return {k: 1 / len(logits) for k in logits}
        weights = {k: math.exp(v - top) for k, v in logits.items()}
        total = sum(weights.values())
        return {k: w / total for k, w in weights.items()}

    def best(self) -> str:
        """The label with the highest summed log-probability (ties: the first in label order)."""
        return max(self, key=lambda k: self[k].logprob)


def check_labels(labels: list[str]) -> list[str]:
    """Choice scoring needs at least two distinct, non-empty labels; say which one is wrong."""
    labels = list(labels)
    if len(labels) < 2:
        raise InputError(f"Choice scoring needs at least two labels to choose from (got {labels}).")
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise InputError(f"Choice scoring got the label {label!r}; each label needs visible text.")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise InputError(f"Choice scoring got the label {repeated[0]!r} twice; each label must be different.")
    return labels


class ChatModel:
    """What every backend offers. Subclasses implement `stream`; `generate` may be overridden for real batching.

    `choice_logprobs` is optional: backends that can see token probabilities override it (choice mode)."""

    ref: str = ""
    context_length: int | None = None  # tokens the model reads at most; None when the backend enforces it
    memory_bytes: int = 0  # weights held in memory, for the cache's budget
    load_notes: list[str]  # things the user should hear once, e.g. "the cache was converted again"

    def stream(self, messages: list[Message], params: GenerationParams) -> TextStream:
        raise NotImplementedError

    def generate(self, conversations: list[list[Message]], params: GenerationParams) -> list[Generation]:
        """Answer many conversations; the default runs them one by one."""
        return [self.stream(messages, params).collect() for messages in conversations]

    def chat(self, messages: list[Message], params: GenerationParams | None = None) -> Generation:
        return self.generate([messages], params or GenerationParams())[0]

    def choice_logprobs(self, conversations: list[list[Message]], labels: list[str]) -> list[ChoiceScores]:
        """Each label's log-probability as the answer to each conversation (choice mode scores with these)."""
        raise ModelError(f"{self.ref or 'this model'} gives no log-probabilities; use generate mode (mode: generate).")
