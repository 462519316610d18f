"""`dummy:<behaviour>`: weight-free models so the whole pipeline (UI, jobs, evaluation) runs in tests.

Tokens are whitespace-separated words. Add a behaviour by adding an entry to BEHAVIOURS.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Iterator

from models.errors import ModelError, UnknownModelError
from models.generation import (
    ChatModel, ChoiceScores, GenerationParams, LabelScore, Message, TextStream, check_labels, validate_messages,
)


def _echo(messages: list[Message]) -> str:
    return "You said: " + messages[-1]["content"]


def _words(text: str, delay: float = 0.0) -> Iterator[str]:
    for i, word in enumerate(text.split(" ")):
        if delay:
            time.sleep(delay)
        yield word if i == 0 else " " + word


def _failing(messages: list[Message]) -> Iterator[str]:
    yield "Starting"
    raise ModelError("dummy:fail-generate failed while generating, as it always does (a test model).")


# behaviour -> (answer text or chunk generator, seconds per word)
BEHAVIOURS: dict[str, tuple[Callable[[list[Message]], str | Iterator[str]], float]] = {
    "echo": (_echo, 0.0),
    "slow": (_echo, 0.05),
    "fail-generate": (_failing, 0.0),
}
FAILS_TO_LOAD = "fail-load"


class DummyChatModel(ChatModel):
    def __init__(self, behaviour: str):
        self.ref = f"dummy:{behaviour}"
        self.behaviour = behaviour
        self.context_length = None
        self.load_notes = []

    def stream(self, messages: list[Message], params: GenerationParams) -> TextStream:
        validate_messages(messages)
        answer, delay = BEHAVIOURS[self.behaviour]
        produced = answer(messages)
        chunks = _words(produced, delay) if isinstance(produced, str) else produced

        def limited():
            for i, chunk in enumerate(chunks):
                if i >= params.max_new_tokens:
                    return
                yield chunk

        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        return TextStream(limited(), params, prompt_tokens=prompt_tokens)

    def choice_logprobs(self, conversations: list[list[Message]], labels: list[str]) -> list[ChoiceScores]:
        if self.behaviour not in CHOICE_BEHAVIOURS:
            return super().choice_logprobs(conversations, labels)
        labels = check_labels(labels)
        out = []
        for messages in conversations:
            validate_messages(messages)
            out.append(CHOICE_BEHAVIOURS[self.behaviour](messages, labels))
        return out


def load(behaviour: str) -> DummyChatModel:
    if behaviour == FAILS_TO_LOAD:
        raise ModelError("dummy:fail-load cannot be loaded, as it always does (a test model).")
    if behaviour not in BEHAVIOURS:
        known = ", ".join(f"dummy:{b}" for b in [*BEHAVIOURS, FAILS_TO_LOAD])
        raise UnknownModelError(f"dummy:{behaviour} is not a dummy behaviour; known: {known}.")
    return DummyChatModel(behaviour)


def _constant(answer: str):
    return lambda messages: answer


def _reference(messages: list[Message]) -> str:
    """Answers what a test put after 'Expected:' in the prompt (a perfect model for pipeline tests)."""
    text = messages[-1]["content"]
    return text.rsplit("Expected:", 1)[-1].strip() if "Expected:" in text else "I do not know."


BEHAVIOURS.update({
    "interaction": (_constant("interaction"), 0.0),  # always predicts the positive DDI class
    "no-interaction": (_constant("There is no interaction between them."), 0.0),
    "oracle": (_reference, 0.0),
})


def _fails_on_marker(messages: list[Message]) -> Iterator[str]:
    """Answers like echo, but fails on a prompt containing FAIL: a model that breaks in the middle of a run."""
    if "FAIL" in messages[-1]["content"]:
        raise ModelError("dummy:fail-on-marker failed on a prompt containing FAIL (a test model).")
    yield _echo(messages)


BEHAVIOURS["fail-on-marker"] = (_fails_on_marker, 0.0)


def _judge(messages: list[Message]) -> str:
    """A deterministic QuestEval judge (prompts/questeval.yaml): asks "What about <first words>?" of each sentence,
    and answers with the rest of the sentence sharing most content words with the question, or "unanswerable"."""
    import re

    lines = messages[-1]["content"].splitlines()
    text = next((line[len("Text:"):].strip() for line in lines if line.startswith("Text:")), "")
    question = next((line[len("Question:"):].strip() for line in lines if line.startswith("Question:")), None)
    sentences = [s.split() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    if question is None:
        wanted = re.search(r"up to (\d+)", messages[-1]["content"])
        return "\n".join(f"{i + 1}. What about {' '.join(s[:3]).rstrip('.!?')}?"
                         for i, s in enumerate(sentences[:int(wanted.group(1)) if wanted else 3]))

    def content(words):
        return {w.strip(".,;:!?").lower() for w in words} - {"what", "about", "the", "and", "is", "of", "a", "an"}

    asked = content(question.split())
    best = max(sentences, key=lambda s: len(content(s) & asked), default=[])
    if not content(best) & asked:
        return "unanswerable"
    rest = [w for w in best if w.strip(".,;:!?").lower() not in asked]
    return " ".join(rest or best)


BEHAVIOURS["judge"] = (_judge, 0.0)

GATE_ENV = "PHARMATUNE_DUMMY_GATE"


def _gate_holds(words_given: int) -> bool:
    gate = os.environ.get(GATE_ENV)
    if not gate:
        return False
    try:
        return words_given >= int(Path(gate).read_text().strip() or "0")
    except (OSError, ValueError):
        return False  # no file (or not a number): run on


def _gated(messages: list[Message]) -> Iterator[str]:
    """Answers like echo, a word at a time as a test allows: while the file named by PHARMATUNE_DUMMY_GATE holds N,
    it waits before word N + 1 of each answer until the file is removed or holds a larger number (answers of at
    most N words pass). A test sees a stream, or an evaluation job, at a known point instead of racing the clock
    (the model's counterpart of training's PHARMATUNE_STEP_GATE). Without the variable it is echo."""
    for i, word in enumerate(_words(_echo(messages))):
        while _gate_holds(i):
            time.sleep(0.02)
        yield word


BEHAVIOURS["gated"] = (_gated, 0.0)


def _expected_choice(messages: list[Message], labels: list[str]) -> ChoiceScores:
    """dummy:choice: the label after "Expected:" in the prompt gets probability p (" p=0.7" after it; default
    0.9), the others share the rest; no "Expected:" (or no such label): all equal. A prompt containing FAIL
    fails, like dummy:fail-on-marker. Tokens are words, so a label's token count is its word count."""
    import math
    import re

    text = messages[-1]["content"]
    if "FAIL" in text:
        raise ModelError("dummy:choice failed on a prompt containing FAIL (a test model).")
    said = text.rsplit("Expected:", 1)[-1] if "Expected:" in text else ""
    found = re.match(r"\s*(.*?)(?:\s+p=([0-9.]+))?\s*$", said)
    wanted, p = found.group(1).strip().lower(), float(found.group(2) or 0.9)
    chosen = next((label for label in labels if label.lower() == wanted), None)
    others = (1 - p) / (len(labels) - 1)

    def logprob(label: str) -> float:
        if chosen is None:
            return math.log(1 / len(labels))
        share = p if label == chosen else others
        return math.log(share) if share > 0 else -math.inf

    scores = {label: LabelScore(logprob(label), len(label.split())) for label in labels}
    return ChoiceScores(scores, prompt_tokens=sum(len(m["content"].split()) for m in messages))


# behaviour -> scorer of labels; the text it generates is the oracle's (the expected answer)
CHOICE_BEHAVIOURS: dict[str, Callable[[list[Message], list[str]], ChoiceScores]] = {"choice": _expected_choice}
BEHAVIOURS["choice"] = (_reference, 0.0)
