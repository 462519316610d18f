"""Dataset checks before an upload, in the spirit of OpenAI's chat fine-tuning format guidance.

One pass over the raw JSONL lines (not over parsed records) so every finding names the exact line and field
the user has to fix. Errors make OpenAI reject the file or the job; warnings are worth a look but do not block.
The per-example token limit needs the model, so estimate.py adds it once the tokens are counted.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
MESSAGE_KEYS = {"role", "content", "name", "weight", "tool_calls", "function_call", "tool_call_id", "refusal"}
EXAMPLE_KEYS = {"messages", "tools", "functions", "parallel_tool_calls"}
MIN_EXAMPLES = 10
MAX_KEPT = 1000  # a 100,000-line file full of problems must not build a 100,000-line report


@dataclass
class Finding:
    line: int | None  # None: about the whole file
    field: str
    severity: str  # error | warning
    code: str
    message: str

    def text(self, source: str = "") -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        prefix = f"{source}, " if source else ""
        field_part = f", {self.field}" if self.field else ""
        return f"{prefix}{where}{field_part}: {self.message}"

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "severity": self.severity, "code": self.code,
                "message": self.message}


@dataclass
class CheckResult:
    source: str
    lines: int = 0
    examples: list[list[dict]] = field(default_factory=list)  # messages of each example that has them
    example_lines: list[int] = field(default_factory=list)  # the line of each entry of `examples`
    findings: list[Finding] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # (severity, code) -> how many

    def add(self, line, field_, severity, code, message) -> None:
        self.counts[(severity, code)] += 1
        if len(self.findings) < MAX_KEPT:
            self.findings.append(Finding(line, field_, severity, code, message))

    @property
    def errors(self) -> int:
        return sum(n for (severity, _), n in self.counts.items() if severity == "error")

    @property
    def warnings(self) -> int:
        return sum(n for (severity, _), n in self.counts.items() if severity == "warning")


def _check_message(result: CheckResult, n: int, i: int, m) -> None:
    where = f"messages[{i}]"
    if not isinstance(m, dict):
        result.add(n, where, "error", "message_not_object", "each message must be an object with role and content.")
        return
    role = m.get("role")
    if role is None:
        result.add(n, f"{where}.role", "error", "missing_role", "the message has no role.")
    elif role not in ROLES:
        result.add(n, f"{where}.role", "error", "unknown_role", f"role {role!r} is not one of {', '.join(ROLES)}.")
    for key in m:
        if key not in MESSAGE_KEYS:
            result.add(n, f"{where}.{key}", "error", "unknown_key",
                       f"key {key!r} is not part of a fine-tuning message (allowed: {', '.join(sorted(MESSAGE_KEYS))}).")
    content = m.get("content")
    calls_tools = bool(m.get("tool_calls") or m.get("function_call"))
    if content is None:
        if not calls_tools:
            result.add(n, f"{where}.content", "error", "missing_content", "the message has no content.")
    elif isinstance(content, list):
        text = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if not text.strip() and not calls_tools:
            result.add(n, f"{where}.content", "error", "empty_content", "the content parts hold no text.")
    elif not isinstance(content, str):
        result.add(n, f"{where}.content", "error", "content_type",
                   f"content must be a string, not {type(content).__name__}.")
    elif not content.strip() and not calls_tools:
        result.add(n, f"{where}.content", "error", "empty_content", "the content is empty.")
    if "weight" in m:
        if role != "assistant":
            result.add(n, f"{where}.weight", "error", "weight_not_assistant",
                       f"weight is only allowed on assistant messages, this one is {role!r}.")
        elif m["weight"] not in (0, 1) or isinstance(m["weight"], bool):
            result.add(n, f"{where}.weight", "error", "weight_value", f"weight must be 0 or 1, not {m['weight']!r}.")


def _check_order(result: CheckResult, n: int, messages: list[dict]) -> None:
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    for i, role in enumerate(roles):
        if role in ("system", "developer") and i > 0:
            result.add(n, f"messages[{i}].role", "warning", "system_not_first",
                       f"a {role} message at position {i}: it belongs at the start of the conversation.")
        if i and role == roles[i - 1] and role in ("user", "assistant"):
            result.add(n, f"messages[{i}].role", "warning", "repeated_role",
                       f"two {role} messages in a row (positions {i - 1} and {i}); turns usually alternate.")
    chat = [r for r in roles if r not in ("system", "developer")]
    if chat and chat[0] == "assistant":
        result.add(n, "messages", "warning", "assistant_first", "the conversation starts with an assistant message, "
                   "before any user message.")
    assistants = [i for i, r in enumerate(roles) if r == "assistant"]
    if not assistants:
        result.add(n, "messages", "error", "no_assistant", "the example has no assistant message: there is nothing "
                   "to learn from it.")
        return
    if roles[-1] != "assistant":
        result.add(n, f"messages[{len(roles) - 1}]", "warning", "ends_without_assistant",
                   "the example ends after the last assistant message; the trailing messages are not trained on.")
    weights = [m.get("weight", 1) for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    if all(w == 0 for w in weights):
        result.add(n, "messages", "warning", "all_weights_zero", "every assistant message has weight 0: the example "
                   "is billed but teaches nothing.")


def check_lines(lines: list[bytes], source: str) -> CheckResult:
    result = CheckResult(source)
    seen: dict[str, int] = {}
    for n, raw in enumerate(lines, 1):
        result.lines = n
        if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
            result.add(n, "", "warning", "bom", "the file starts with a byte-order mark; save it as UTF-8 without "
                       "BOM (it is ignored here).")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            result.add(n, "", "error", "encoding", f"not UTF-8 (byte {exc.start + 1} of the line).")
            continue
        if not text.strip():
            result.add(n, "", "error", "blank_line", "a blank line; every line must be one JSON example.")
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            result.add(n, "", "error", "bad_json", f"not valid JSON ({exc.msg}, column {exc.colno}).")
            continue
        if not isinstance(obj, dict):
            result.add(n, "", "error", "not_object", f"each line must be a JSON object, not {type(obj).__name__}.")
            continue
        messages = obj.get("messages")
        if messages is None:
            result.add(n, "messages", "error", "missing_messages", 'missing the "messages" list (OpenAI chat format: '
                       '{"messages": [{"role": ..., "content": ...}, ...]}).')
            continue
        if not isinstance(messages, list) or not messages:
            result.add(n, "messages", "error", "messages_type", '"messages" must be a non-empty list.')
            continue
        for key in obj:
            if key not in EXAMPLE_KEYS:
                result.add(n, key, "warning", "extra_key", f"key {key!r} is not used by fine-tuning and is ignored.")
        for i, m in enumerate(messages):
            _check_message(result, n, i, m)
        _check_order(result, n, messages)
        if all(isinstance(m, dict) for m in messages):
            key = json.dumps(messages, sort_keys=True, ensure_ascii=False)
            if key in seen:
                result.add(n, "messages", "warning", "duplicate", f"the same example as line {seen[key]}.")
            else:
                seen[key] = n
            result.examples.append(messages)
            result.example_lines.append(n)
    if result.lines == 0:
        result.add(None, "", "error", "empty_file", "the file holds no examples.")
    elif len(result.examples) < MIN_EXAMPLES:
        result.add(None, "", "warning", "few_examples", f"{len(result.examples)} example(s); OpenAI requires at "
                   f"least {MIN_EXAMPLES} to start a job, and recommends 50 to 100 well-crafted ones.")
    return result


def check_file(path: str | Path) -> CheckResult:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        result = CheckResult(str(path))
        result.add(None, "", "error", "unreadable", f"cannot read the file ({exc.strerror}).")
        return result
    return check_lines(data.splitlines(), path.name)
