"""Row formats: one JSON object (or table row) <-> one Record. A registry, so a new format is one entry.

parse(obj) turns a row into a Record or raises RowProblem naming the field; dump(record) is the inverse and
raises DataError when the format cannot hold the record (a multi-turn chat has no Alpaca form).
field(obj, i, role, key) names message i's role/content/weight in the user's own terms (the row obj is given
because a ShareGPT top-level system shifts the indices), so errors point at the user's keys.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Callable

from data.records import DataError, Record


class RowProblem(Exception):
    def __init__(self, field: str, message: str, code: str = "missing_field"):
        super().__init__(message)
        self.field, self.message, self.code = field, message, code


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    parse: Callable[[dict], Record]
    dump: Callable[[Record], dict]
    field: Callable[[dict, int, str, str], str]


def _text(obj: dict, key: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise RowProblem(key, f'missing field "{key}"')
        return ""
    if not isinstance(value, str):
        raise RowProblem(key, f'"{key}" must be a string, not {type(value).__name__}', "wrong_type")
    return value


def _rest(obj: dict, known: set[str]) -> dict:
    """Keys a format does not use become metadata (an explicit "meta" object is merged in)."""
    meta = {k: v for k, v in obj.items() if k not in known and k != "meta"}
    if isinstance(obj.get("meta"), dict):
        meta.update(obj["meta"])
    return meta


def _turns(obj: dict, key: str) -> list:
    """The non-empty list of turns under `key` (messages, conversations), or RowProblem naming it."""
    turns = obj.get(key)
    if turns is None:
        raise RowProblem(key, f'missing field "{key}"')
    if not isinstance(turns, list) or not turns:
        raise RowProblem(key, f'"{key}" must be a non-empty list', "wrong_type")
    return turns


def _content(value, field: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in value):
        return "".join(str(p.get("text", "")) for p in value)  # OpenAI's list-of-text-parts form
    if value is None:
        raise RowProblem(field, f'missing field "{field}"')
    raise RowProblem(field, f'"{field}" must be a string, not {type(value).__name__}', "wrong_type")


# --- OpenAI chat JSONL: {"messages": [{"role", "content", "weight"?}]} -------------------------------------

def _parse_messages(obj: dict) -> Record:
    messages = _turns(obj, "messages")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RowProblem(f"messages[{i}]", "each message must be an object with role and content", "wrong_type")
        role = message.get("role")
        if not isinstance(role, str):
            raise RowProblem(f"messages[{i}].role", f'missing field "role" in message {i}')
        clean = {"role": role, "content": _content(message.get("content"), f"messages[{i}].content")}
        if message.get("weight") is not None:  # Arrow gives every message every key: a None weight is no weight
            clean["weight"] = message["weight"]
        out.append(clean)
    return Record(out, _rest(obj, {"messages"}))


def _dump_openai(record: Record) -> dict:
    return {"messages": record.messages}


def _dump_records(record: Record) -> dict:
    return record.to_dict()


# --- Alpaca: {"instruction", "input"?, "output", "system"?} ----------------------------------------------

def _parse_alpaca(obj: dict) -> Record:
    instruction = _text(obj, "instruction")
    extra = _text(obj, "input", required=False)
    output = _text(obj, "output")
    prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    return Record.chat(prompt, output, system=_text(obj, "system", required=False) or None,
                       **_rest(obj, {"instruction", "input", "output", "system"}))


def _single_turn(record: Record, fmt: str) -> tuple[str | None, str, str]:
    roles = [m["role"] for m in record.messages]
    if roles not in (["user", "assistant"], ["system", "user", "assistant"]):
        raise DataError(f"{fmt} holds one question and one answer; this record has roles {roles}. "
                        "Export it as openai or sharegpt instead.")
    system = record.messages[0]["content"] if roles[0] == "system" else None
    return system, record.messages[-2]["content"], record.messages[-1]["content"]


def _dump_alpaca(record: Record) -> dict:
    system, prompt, answer = _single_turn(record, "alpaca")
    out = {"instruction": prompt, "input": "", "output": answer}
    return {**out, "system": system} if system else out


ALPACA_FIELDS = {"system": "system", "user": "instruction", "assistant": "output"}


def _sharegpt_field(obj: dict, i: int, role: str, key: str) -> str:
    offset = 1 if isinstance(obj, dict) and obj.get("system") else 0
    if i < offset:
        return "system"
    return f"conversations[{i - offset}].{'from' if key == 'role' else 'value'}"

# --- ShareGPT: {"conversations": [{"from": "human"|"gpt"|"system", "value"}], "system"?} -------------------

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bot": "assistant", "model": "assistant", "system": "system"}


def _parse_sharegpt(obj: dict) -> Record:
    turns = _turns(obj, "conversations")
    messages = []
    if system := _text(obj, "system", required=False):
        messages.append({"role": "system", "content": system})
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise RowProblem(f"conversations[{i}]", "each turn must be an object with from and value", "wrong_type")
        speaker = turn.get("from")
        if speaker not in SHAREGPT_ROLES:
            raise RowProblem(f"conversations[{i}].from", f'unknown speaker {speaker!r}; expected one of '
                             f'{", ".join(sorted(SHAREGPT_ROLES))}', "bad_role")
        messages.append({"role": SHAREGPT_ROLES[speaker], "content": _content(turn.get("value"),
                                                                              f"conversations[{i}].value")})
    return Record(messages, _rest(obj, {"conversations", "system"}))


def _dump_sharegpt(record: Record) -> dict:
    names = {"user": "human", "assistant": "gpt", "system": "system"}
    return {"conversations": [{"from": names.get(m["role"], m["role"]), "value": m["content"]}
                              for m in record.messages]}


# --- prompt/completion JSONL ------------------------------------------------------------------------------

def _parse_prompt_completion(obj: dict) -> Record:
    return Record.chat(_text(obj, "prompt"), _text(obj, "completion"),
                       **_rest(obj, {"prompt", "completion"}))


def _dump_prompt_completion(record: Record) -> dict:
    system, prompt, answer = _single_turn(record, "prompt/completion")
    return {"prompt": f"{system}\n\n{prompt}" if system else prompt, "completion": answer}


FORMATS: dict[str, Format] = {
    "records": Format("records", "PharmaTune's own JSONL: OpenAI messages plus a meta object (task, label, "
                      "SMILES, id, source)", _parse_messages, _dump_records, lambda obj, i, role, k: f"messages[{i}].{k}"),
    "openai": Format("openai", 'OpenAI chat fine-tuning JSONL: {"messages": [{"role", "content"}]}',
                     _parse_messages, _dump_openai, lambda obj, i, role, k: f"messages[{i}].{k}"),
    "alpaca": Format("alpaca", 'Alpaca: {"instruction", "input", "output"}', _parse_alpaca, _dump_alpaca,
                     lambda obj, i, role, k: ALPACA_FIELDS.get(role, role)),
    "sharegpt": Format("sharegpt", 'ShareGPT: {"conversations": [{"from", "value"}]}', _parse_sharegpt,
                       _dump_sharegpt, _sharegpt_field),
    "prompt_completion": Format("prompt_completion", 'prompt/completion JSONL: {"prompt", "completion"}',
                                _parse_prompt_completion, _dump_prompt_completion,
                                lambda obj, i, role, k: "prompt" if role != "assistant" else "completion"),
}
DETECT_KEYS = [("messages", "openai"), ("conversations", "sharegpt"), ("instruction", "alpaca"),
               ("prompt", "prompt_completion"), ("completion", "prompt_completion")]


def get(name: str) -> Format:
    if name not in FORMATS:
        close = difflib.get_close_matches(name, FORMATS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(f"Unknown format {name!r}.{hint} Known: {', '.join(FORMATS)}.")
    return FORMATS[name]


def detect(obj) -> str | None:
    """The format whose identifying key the object has (records when it also has meta), or None."""
    if not isinstance(obj, dict):
        return None
    for key, name in DETECT_KEYS:
        if key in obj:
            return "records" if name == "openai" and "meta" in obj else name
    return None


# --- tables (CSV, Parquet, Hugging Face datasets without chat columns): a column mapping --------------------

MAPPING_GUESSES = {
    "prompt": ("prompt", "question", "instruction", "input", "text", "smiles", "query"),
    "completion": ("completion", "answer", "output", "response", "label", "target", "y"),
    "system": ("system",),
}


def guess_mapping(columns: list[str]) -> dict[str, str]:
    """prompt/completion/system -> column, from common column names (case-insensitive)."""
    lower = {c.lower(): c for c in columns}
    mapping: dict[str, str] = {}
    for role, names in MAPPING_GUESSES.items():
        for name in names:
            if name in lower and lower[name] not in mapping.values():
                mapping[role] = lower[name]
                break
    return mapping


def parse_mapping(text: str | None) -> dict[str, str] | None:
    """'prompt=question,completion=answer' -> dict (the CLI and UI form of a column mapping)."""
    if not text or not text.strip():
        return None
    mapping = {}
    for part in text.split(","):
        role, sep, column = part.partition("=")
        if not sep or role.strip() not in MAPPING_GUESSES or not column.strip():
            raise DataError(f"Bad column mapping {part.strip()!r}: write role=column with role one of "
                            f"{', '.join(MAPPING_GUESSES)}, e.g. prompt=question,completion=answer")
        mapping[role.strip()] = column.strip()
    return mapping


def table_parser(mapping: dict[str, str]) -> Callable[[dict], Record]:
    """Row -> Record with the mapped columns as turns; every other non-empty column becomes metadata."""
    if "prompt" not in mapping:
        raise DataError("The column mapping needs a prompt column, e.g. prompt=question,completion=answer")
    used = set(mapping.values())

    def parse(row: dict) -> Record:
        if "messages" in row and isinstance(row["messages"], str):  # a chat column stored as JSON text
            try:
                return _parse_messages({**row, "messages": json.loads(row["messages"])})
            except json.JSONDecodeError as exc:
                raise RowProblem("messages", f"bad JSON in the messages column: {exc.msg}", "bad_json")
        values = {}
        for role, column in mapping.items():
            if column not in row:
                raise RowProblem(column, f'missing column "{column}" (mapped to {role})')
            value = row[column]
            values[role] = "" if _blank(value) else str(value)
        meta = {k: _plain(v) for k, v in row.items() if k not in used and not _blank(v)}
        return Record.chat(values["prompt"], values.get("completion"), system=values.get("system") or None, **meta)

    return parse


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value)


def _plain(value):
    """numpy scalars and the like -> plain JSON values."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return value.item()
    return value


def dump_table_row(record: Record) -> dict:
    system, prompt, answer = _single_turn(record, "A table")
    row = {"system": system or "", "prompt": prompt, "completion": answer}
    for key, value in record.meta.items():
        row.setdefault(key, json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value)
    return row


# --- preference formats: a prompt and answers ranked (DPO, ORPO) or labelled (KTO) -------------------------------
# parse(obj) -> data.records.Preference; dump(Preference) -> dict. Answers may be strings or message lists (TRL's
# standard and conversational forms). Here `field(side, i=None, key="content")` names a side ("prompt", "chosen",
# "rejected", "completion"), or its message i, in the user's own keys for the findings.

def _messages(value, key: str, *, answer: bool) -> tuple[list[dict], bool]:
    """A side as chat messages, and whether the file gave it as plain text. An answer given as a string is one
    assistant turn; a prompt given as a string is one user turn."""
    if isinstance(value, str):
        return [{"role": "assistant" if answer else "user", "content": value}], True
    if value is None:
        raise RowProblem(key, f'missing field "{key}"')
    if isinstance(value, dict) and isinstance(value.get("messages"), list):  # {"messages": [...]} as a side
        value = value["messages"]
        key = f"{key}.messages"
    if not isinstance(value, list) or not value:
        raise RowProblem(key, f'"{key}" must be a string or a non-empty list of messages', "wrong_type")
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise RowProblem(f"{key}[{i}]", "each message must be an object with role and content", "wrong_type")
        role = message.get("role")
        if not isinstance(role, str):
            raise RowProblem(f"{key}[{i}].role", f'missing field "role" in message {i}')
        out.append({"role": role, "content": _content(message.get("content"), f"{key}[{i}].content")})
    return out, False


def _common_prefix(a: list[dict], b: list[dict]) -> int:
    n = 0
    while n < min(len(a), len(b)) - 1 and a[n] == b[n]:
        n += 1
    return n


def _parse_preference(obj: dict):
    from data.records import Preference

    if "prompt" not in obj and isinstance(obj.get("chosen"), list) and isinstance(obj.get("rejected"), list):
        # TRL's implicit prompt: chosen and rejected are whole conversations that share the prompt turns
        chosen, _ = _messages(obj["chosen"], "chosen", answer=True)
        rejected, _ = _messages(obj["rejected"], "rejected", answer=True)
        n = _common_prefix(chosen, rejected)
        if n == 0:
            raise RowProblem("prompt", 'missing field "prompt" (and chosen and rejected share no prompt turns)')
        return Preference(chosen[:n], chosen[n:], rejected[n:], meta=_rest(obj, {"chosen", "rejected"}))
    prompt, text = _messages(obj.get("prompt"), "prompt", answer=False)
    chosen, chosen_text = _messages(obj.get("chosen"), "chosen", answer=True)
    rejected, rejected_text = _messages(obj.get("rejected"), "rejected", answer=True)
    return Preference(prompt, chosen, rejected, meta=_rest(obj, {"prompt", "chosen", "rejected"}),
                      text=text and chosen_text and rejected_text)


def _side_value(messages: list[dict], text: bool, answer: bool):
    if text and len(messages) == 1 and messages[0]["role"] == ("assistant" if answer else "user"):
        return messages[0]["content"]
    return messages


def _prompt_value(record) -> str | list[dict]:
    """The prompt as a string when the record came as text and is one user turn (a system turn is kept as a
    message list: a string has nowhere to put it)."""
    return _side_value(record.prompt, record.text, answer=False)


def _need_pair(record, fmt: str):
    if not record.paired:
        raise DataError(f"{fmt} holds a chosen and a rejected answer; this example is a single labelled completion "
                        "(KTO). Write it as kto instead.")


def _dump_preference(record) -> dict:
    _need_pair(record, "preference")
    out = {"prompt": _prompt_value(record), "chosen": _side_value(record.chosen, record.text, True),
           "rejected": _side_value(record.rejected, record.text, True)}
    return {**out, "meta": record.meta} if record.meta else out


def _parse_openai_preference(obj: dict):
    from data.records import Preference

    source = obj.get("input")
    if source is None:
        raise RowProblem("input", 'missing field "input"')
    if not isinstance(source, dict) or not isinstance(source.get("messages"), list):
        raise RowProblem("input.messages", '"input" must be an object with a "messages" list', "wrong_type")
    prompt, _ = _messages(source["messages"], "input.messages", answer=False)
    chosen, _ = _messages(obj.get("preferred_output"), "preferred_output", answer=True)
    rejected, _ = _messages(obj.get("non_preferred_output"), "non_preferred_output", answer=True)
    return Preference(prompt, chosen, rejected,
                      meta=_rest(obj, {"input", "preferred_output", "non_preferred_output"}))


def _dump_openai_preference(record) -> dict:
    _need_pair(record, "openai_preference")
    return {"input": {"messages": record.prompt, "tools": [], "parallel_tool_calls": True},
            "preferred_output": record.chosen, "non_preferred_output": record.rejected}


def _parse_kto(obj: dict):
    from data.records import Preference

    prompt, text = _messages(obj.get("prompt"), "prompt", answer=False)
    completion, completion_text = _messages(obj.get("completion"), "completion", answer=True)
    label = obj.get("label")
    if label is None:
        raise RowProblem("label", 'missing field "label" (true: the completion is desirable, false: it is not)')
    if not isinstance(label, bool):
        raise RowProblem("label", f'"label" must be true or false, not {label!r}', "wrong_type")
    return Preference(prompt, completion=completion, label=label, meta=_rest(obj, {"prompt", "completion", "label"}),
                      text=text and completion_text)


def _dump_kto(record) -> dict:
    if record.paired:
        raise DataError("kto holds one completion with a label; this example is a pair. Write it as preference, or "
                        "unpair it first (each pair gives a desirable and an undesirable completion).")
    out = {"prompt": _prompt_value(record), "completion": _side_value(record.completion, record.text, True),
           "label": bool(record.label)}
    return {**out, "meta": record.meta} if record.meta else out


def _side_names(prompt: str, chosen: str, rejected: str) -> Callable[[str, int | None, str], str]:
    """side ("prompt", "chosen", "rejected", "completion") and message index -> the user's field name."""
    names = {"prompt": prompt, "chosen": chosen, "rejected": rejected}

    def name(side: str, i: int | None = None, key: str = "content") -> str:
        base = names.get(side, side)
        return base if i is None else f"{base}[{i}].{key}"

    return name


PREFERENCE_FORMATS: dict[str, Format] = {
    "preference": Format("preference", 'paired preferences, TRL\'s form: {"prompt", "chosen", "rejected"} (strings or '
                         "message lists)", _parse_preference, _dump_preference,
                         _side_names("prompt", "chosen", "rejected")),
    "openai_preference": Format("openai_preference", 'OpenAI preference fine-tuning JSONL: {"input": {"messages"}, '
                                '"preferred_output", "non_preferred_output"}', _parse_openai_preference,
                                _dump_openai_preference,
                                _side_names("input.messages", "preferred_output", "non_preferred_output")),
    "kto": Format("kto", 'unpaired preferences (KTO): {"prompt", "completion", "label": true|false}', _parse_kto,
                  _dump_kto, _side_names("prompt", "completion", "completion")),
}
PAIRED_KEYS = ("chosen", "rejected", "preferred_output", "non_preferred_output")


def detect_preference(obj) -> str | None:
    """The preference format whose keys the object has, or None (KTO only with a true/false label, so a
    prompt/completion chat file with a text label stays a chat file)."""
    if not isinstance(obj, dict):
        return None
    if "preferred_output" in obj or "non_preferred_output" in obj:
        return "openai_preference"
    if "chosen" in obj or "rejected" in obj:
        return "preference"
    if "completion" in obj and isinstance(obj.get("label"), bool):
        return "kto"
    return None


def get_preference(name: str) -> Format:
    if name not in PREFERENCE_FORMATS:
        close = difflib.get_close_matches(name, PREFERENCE_FORMATS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(f"Unknown preference format {name!r}.{hint} Known: {', '.join(PREFERENCE_FORMATS)}.")
    return PREFERENCE_FORMATS[name]
