"""The one internal record every format turns into: chat messages plus metadata.

Metadata keys with a shared meaning: task (e.g. "ddi_binary", "drug_qa", "regression"), label (the gold answer
a metric compares against: a class name or a number), smiles (one string or a list), id, source. Anything else a
format carries (drug names, severity, DrugBank ids) goes in meta too and survives a round trip through the
native JSONL format.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from errors import UserError

ROLES = ("system", "user", "assistant")


class DataError(UserError):
    """A data set cannot be used as asked; the message names the file, line and field."""


@dataclass
class Record:
    messages: list[dict]
    meta: dict = field(default_factory=dict)

    @classmethod
    def chat(cls, prompt: str, answer: str | None = None, *, system: str | None = None, **meta) -> "Record":
        """The common single-turn case: optional system, one user turn, optional assistant answer."""
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
        return cls(messages, {k: v for k, v in meta.items() if v is not None})

    @property
    def task(self) -> str | None:
        return self.meta.get("task")

    @property
    def prompt_messages(self) -> list[dict]:
        """Everything before the final assistant turn: what a model is given at evaluation time."""
        if self.messages and self.messages[-1]["role"] == "assistant":
            return self.messages[:-1]
        return self.messages

    @property
    def answer(self) -> str | None:
        """The final assistant turn (the reference answer), if any."""
        if self.messages and self.messages[-1]["role"] == "assistant":
            return self.messages[-1]["content"]
        return None

    def to_dict(self) -> dict:
        out = {"messages": self.messages}
        if self.meta:
            out["meta"] = self.meta
        return out

    def key(self) -> str:
        """Canonical text of the messages: equal keys mean exact duplicates."""
        return json.dumps(self.messages, sort_keys=True, ensure_ascii=False)


@dataclass
class Preference:
    """One preference example: the prompt (chat messages up to the answer) and either a pair of answers, chosen
    over rejected (DPO, ORPO), or one completion with a label, desirable or not (KTO). Answers are message lists
    (usually one assistant turn). `text` records that the file gave plain strings, so writing it back keeps them."""

    prompt: list[dict]
    chosen: list[dict] | None = None
    rejected: list[dict] | None = None
    completion: list[dict] | None = None
    label: bool | None = None  # KTO: the completion is desirable
    meta: dict = field(default_factory=dict)
    text: bool = False

    @property
    def paired(self) -> bool:
        return self.chosen is not None and self.rejected is not None

    @classmethod
    def pair(cls, prompt: str | list[dict], chosen: str, rejected: str, *, system: str | None = None,
             **meta) -> "Preference":
        """The common case: a prompt (a string, or chat messages) and two answers as strings."""
        return cls(_prompt_messages(prompt, system), [_answer(chosen)], [_answer(rejected)],
                   meta={k: v for k, v in meta.items() if v is not None})

    @classmethod
    def unpaired(cls, prompt: str | list[dict], completion: str, label: bool, *, system: str | None = None,
                 **meta) -> "Preference":
        return cls(_prompt_messages(prompt, system), completion=[_answer(completion)], label=bool(label),
                   meta={k: v for k, v in meta.items() if v is not None})

    def unpair(self) -> list["Preference"]:
        """KTO's view of a pair: the chosen answer desirable, the rejected one not."""
        if not self.paired:
            return [self]
        return [Preference(self.prompt, completion=self.chosen, label=True, meta=self.meta, text=self.text),
                Preference(self.prompt, completion=self.rejected, label=False, meta=self.meta, text=self.text)]

    @property
    def prompt_text(self) -> str:
        return "\n\n".join(m["content"] for m in self.prompt)

    def answers(self) -> list[list[dict]]:
        return [a for a in (self.chosen, self.rejected, self.completion) if a is not None]

    def key(self) -> str:
        """Canonical text of the example: equal keys mean exact duplicates."""
        return json.dumps([self.prompt, self.chosen, self.rejected, self.completion, self.label], sort_keys=True,
                          ensure_ascii=False)


def _prompt_messages(prompt, system: str | None) -> list[dict]:
    messages = [{"role": "system", "content": system}] if system else []
    if isinstance(prompt, str):
        return messages + [{"role": "user", "content": prompt}]
    return messages + [dict(m) for m in prompt]


def _answer(text: str) -> dict:
    return {"role": "assistant", "content": text}


@dataclass
class Issue:
    """One finding about one row. location is "line 12", "row 5" or "item 3"; field names the key path."""

    location: str
    field: str
    message: str
    code: str
    severity: str = "error"  # or "warning": reported, but the row is still used

    def __str__(self) -> str:
        where = f"{self.location}, {self.field}" if self.field else self.location
        return f"{where}: {self.message}"
