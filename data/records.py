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
