"""Validation before anything runs: every problem with its line and field, plus a summary with counts.

One streaming pass: container problems (BOM, encoding, bad JSON) come from data.sources, format problems
(missing fields) from data.formats, and the chat checks, duplicates, train/test overlap and token lengths here.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from data import formats, sources
from data.records import DataError, Issue, Record, ROLES

MAX_KEPT_ISSUES = 1000  # a 100,000-row file full of errors must not build a 100,000-line report
LENGTH_BATCH = 2000


@dataclass
class Report:
    source: str
    format: str = "?"
    rows: int = 0
    valid: int = 0
    issues: list[Issue] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # issue code -> how many
    tasks: Counter = field(default_factory=Counter)
    labels: Counter = field(default_factory=Counter)
    messages: int = 0
    token_lengths: list[int] = field(default_factory=list)

    def add(self, issue: Issue) -> None:
        self.counts[(issue.severity, issue.code)] += 1
        if len(self.issues) < MAX_KEPT_ISSUES:
            self.issues.append(issue)

    @property
    def errors(self) -> int:
        return sum(n for (severity, _), n in self.counts.items() if severity == "error")

    @property
    def warnings(self) -> int:
        return sum(n for (severity, _), n in self.counts.items() if severity == "warning")

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.valid > 0

    def summary(self) -> dict:
        out = {"file": self.source, "format": self.format, "rows": self.rows, "valid rows": self.valid,
               "errors": self.errors, "warnings": self.warnings, "messages": self.messages}
        out.update({f"{code} ({severity})": n for (severity, code), n in sorted(self.counts.items())})
        if self.tasks:
            out["tasks"] = dict(self.tasks.most_common())
        if self.labels:
            out["labels"] = dict(self.labels.most_common(20))
        return out

    def text(self, limit: int = 50) -> str:
        """The summary line, then the first `limit` findings, one per line: what the CLI prints and the UI shows."""
        head = (f"{self.source} ({self.format}): {self.rows:,} rows, {self.valid:,} valid, "
                f"{self.errors:,} error(s), {self.warnings:,} warning(s)")
        lines = [head]
        for issue in self.issues[:limit]:
            lines.append(f"  {issue.severity}: {issue}")
        hidden = self.errors + self.warnings - min(limit, len(self.issues))
        if hidden > 0:
            lines.append(f"  … and {hidden:,} more")
        return "\n".join(lines)


def check_chat(record: Record, fmt: formats.Format, where: str, obj: dict | None = None) -> list[Issue]:
    """Roles, their order, empty turns, weights: the rules chat fine-tuning (OpenAI's included) enforces."""
    issues = []
    obj = obj or {}
    expected_next = "user"
    has_answer = False
    for i, message in enumerate(record.messages):
        role, content = message["role"], message["content"]
        name = fmt.field(obj, i, role, "role")
        if role not in ROLES:
            issues.append(Issue(where, name, f"unknown role {role!r}; expected system, user or assistant", "bad_role"))
            continue
        if role == "system":
            if i != 0:
                issues.append(Issue(where, name, "a system message may only come first", "role_order"))
        elif role != expected_next:
            article = "an" if expected_next == "assistant" else "a"
            issues.append(Issue(where, name, f"expected {article} {expected_next} turn here, got {role} "
                                "(turns must alternate user, assistant, user, …)", "role_order"))
        else:
            expected_next = "assistant" if role == "user" else "user"
        content_field = fmt.field(obj, i, role, "content")
        if not content.strip():
            if role == "assistant":
                issues.append(Issue(where, content_field, "empty assistant turn", "empty_answer"))
            else:
                issues.append(Issue(where, content_field, f"empty {role} message", "empty_content"))
        if role == "assistant":
            has_answer = True
        weight = message.get("weight")
        if "weight" in message and (role != "assistant" or type(weight) is not int or weight not in (0, 1)):
            issues.append(Issue(where, fmt.field(obj, i, role, "weight"),
                                "weight must be 0 or 1 and only on assistant messages", "bad_weight"))
    if not has_answer:
        issues.append(Issue(where, fmt.field(obj, len(record.messages), "assistant", "role"),
                            "no assistant message: nothing to learn or to compare against", "no_answer"))
    return issues


_SPACES = re.compile(r"\s+")


def prompt_key(record: Record) -> str:
    """What a model sees, case- and whitespace-normalized: equal keys in train and test mean a leaked item."""
    return _SPACES.sub(" ", " ".join(m["content"] for m in record.prompt_messages if m["role"] != "system")
                       ).strip().lower()


def validate(path: str | Path, fmt: str | None = None, *, mapping: dict | None = None, split: str | None = None,
             train: str | Path | list[Record] | None = None, max_tokens: int | None = None,
             token_counter: Callable[[list[Record]], list[int]] | None = None,
             progress: Callable[[float], None] | None = None,
             keep_records: bool | int = False) -> tuple[Report, list[Record]]:
    """Read and check a whole file in one pass. Returns the report and the valid records: all of them when
    keep_records is True, the first keep_records when it is a number (a sample for display), else none."""
    path = Path(path)
    report = Report(path.name)
    kept: list[Record] = []
    seen: dict[str, str] = {}
    train_keys = _train_keys(train) if train is not None else None
    total = _expected_rows(path) if progress else 0
    pending: list[tuple[str, Record]] = []  # waiting for a batched token count
    parser, chosen = _fixed_parser(fmt, mapping)
    if chosen is not None:
        report.format = chosen.name if isinstance(chosen, formats.Format) else "table"

    def flush_lengths():
        lengths = token_counter([r for _, r in pending])
        for (where, _record), n in zip(pending, lengths):
            report.token_lengths.append(n)
            if max_tokens and n > max_tokens:
                report.valid -= 1  # counted when the row passed the other checks; too long makes it invalid
                report.add(Issue(where, "", f"{n:,} tokens, longer than the maximum of {max_tokens:,}; it would be "
                                 "truncated", "too_long"))
        pending.clear()

    for where, obj, issues in sources.iter_rows(path, split):
        report.rows += 1
        if progress and report.rows % 5000 == 0:
            progress(min(report.rows / max(total, 1), 1.0))
        for issue in issues:
            report.add(issue)
        if obj is None:
            continue
        if parser is None:
            parser, chosen = _choose_parser(obj, path, where)
            report.format = chosen.name if isinstance(chosen, formats.Format) else "table"
        try:
            record = parser(obj)
        except formats.RowProblem as problem:
            report.add(Issue(where, problem.field, problem.message, problem.code))
            continue
        fmt_for_fields = chosen if isinstance(chosen, formats.Format) else formats.FORMATS["openai"]
        row_issues = check_chat(record, fmt_for_fields, where, obj)
        key = record.key()
        if key in seen:
            row_issues.append(Issue(where, "", f"exact duplicate of {seen[key]}", "duplicate", "warning"))
        else:
            seen[key] = where
        if train_keys is not None and (hit := train_keys.get(prompt_key(record))):
            row_issues.append(Issue(where, "", f"this test item also appears in the training data ({hit})",
                                    "in_train"))
        for issue in row_issues:
            report.add(issue)
        if any(i.severity == "error" for i in row_issues):
            continue
        report.valid += 1
        report.messages += len(record.messages)
        if record.task:
            report.tasks[record.task] += 1
        if "label" in record.meta and isinstance(record.meta["label"], (str, int, bool)):
            report.labels[str(record.meta["label"])] += 1
        if keep_records is True or len(kept) < keep_records:
            kept.append(record)
        if token_counter:
            pending.append((where, record))
            if len(pending) >= LENGTH_BATCH:
                flush_lengths()
    if token_counter and pending:
        flush_lengths()
    if report.rows == 0:
        report.add(Issue("line 1", "", "the file has no examples", "empty_file"))
    if progress:
        progress(1.0)
    return report, kept


def load(path: str | Path, fmt: str | None = None, **options) -> list[Record]:
    """The valid records of a file; any error raises DataError with the first findings (line and field)."""
    report, records = validate(path, fmt, keep_records=True, **options)
    if report.errors:
        raise DataError(report.text(limit=20))
    return records


def _fixed_parser(fmt: str | None, mapping: dict | None):
    if mapping:
        return formats.table_parser(mapping), "table"
    if fmt:
        chosen = formats.get(fmt)
        return chosen.parse, chosen
    return None, None


def _choose_parser(obj: dict, path: Path, where: str):
    preference = formats.detect_preference(obj)
    if preference:
        raise DataError(f"{path.name}, {where}: a preference file ({formats.PREFERENCE_FORMATS[preference].description})"
                        ", not chat records: it trains the preference tasks dpo, orpo or kto; sft, classification, "
                        "regression, pretrain and grpo read chat records.")
    name = formats.detect(obj)
    is_table = sources.kind_of(path) in ("csv", "parquet", "hf") or not path.exists()
    # A table's chat columns hold lists (Parquet, HF); flat columns such as prompt/completion go through the
    # column mapping, which leaves blank cells out of the metadata.
    if name and not (is_table and not isinstance(obj.get("messages", obj.get("conversations")), list)):
        chosen = formats.FORMATS[name]
        return chosen.parse, chosen
    if is_table:
        mapping = formats.guess_mapping(list(obj)) if "messages" not in obj else {"prompt": "messages"}
        if "prompt" in mapping:
            return formats.table_parser(mapping), "table"
        raise DataError(f"{path.name}: cannot tell which columns hold the prompt and the answer (columns: "
                        f"{', '.join(obj)}). Give a column mapping such as prompt=question,completion=answer.")
    raise DataError(f"{path.name}, {where}: cannot tell the format. Expected one of the keys messages (OpenAI), "
                    "conversations (ShareGPT), instruction (Alpaca) or prompt/completion; or choose the format.")


def _train_keys(train) -> dict[str, str]:
    if isinstance(train, (str, Path)):
        name = Path(train).name
        report, records = validate(train, keep_records=True)
        return {prompt_key(r): f"{name} record {i + 1}" for i, r in enumerate(records)}
    return {prompt_key(r): f"training record {i + 1}" for i, r in enumerate(train)}


def _expected_rows(path: Path) -> int:
    from data.io import count_lines

    return count_lines(path) if path.is_file() and sources.kind_of(path) in ("jsonl", "csv") else 0


# -- preference files (DPO, ORPO: pairs; KTO: labelled completions) ---------------------------------------------
SIDES = ("chosen", "rejected", "completion")


def check_preference(record, fmt: formats.Format, where: str) -> list[Issue]:
    """A prompt that ends with a user turn, answers that are assistant turns, nothing empty, two different answers."""
    issues = []
    name = fmt.field
    for i, message in enumerate(record.prompt):
        if message["role"] not in ROLES or message["role"] == "assistant" and i == len(record.prompt) - 1:
            issues.append(Issue(where, name("prompt", i, "role"), f"the prompt's last turn must be the user's, and "
                                f"roles system, user or assistant; got {message['role']!r}", "bad_role"))
    if not any(m["role"] == "user" and m["content"].strip() for m in record.prompt):
        issues.append(Issue(where, name("prompt"), "empty prompt: no user turn with text", "empty_prompt"))
    for side in SIDES:
        answer = getattr(record, side)
        if answer is None:
            continue
        for i, message in enumerate(answer):
            if message["role"] != "assistant":
                issues.append(Issue(where, name(side, i, "role"), f"an answer's turns are the assistant's; got "
                                    f"{message['role']!r}", "bad_role"))
        if not any(m["content"].strip() for m in answer):
            issues.append(Issue(where, name(side), f"empty {side} answer", f"empty_{side}"))
    if record.paired and _answer_text(record.chosen) == _answer_text(record.rejected) and _answer_text(record.chosen):
        issues.append(Issue(where, name("rejected"), "the rejected answer is the same as the chosen one: nothing to "
                            "prefer", "identical"))
    return issues


def _answer_text(messages: list[dict]) -> str:
    return _SPACES.sub(" ", " ".join(m["content"] for m in messages)).strip()


def validate_preferences(path: str | Path, fmt: str | None = None, *, split: str | None = None,
                         max_tokens: int | None = None,
                         token_counter: Callable[[list[Record]], list[int]] | None = None,
                         keep_records: bool | int = False) -> tuple[Report, list]:
    """validate() for preference files: every finding with its line and field, the valid examples kept as asked.
    A chat file gives one finding on line 1 naming what it is and which tasks read it."""
    path = Path(path)
    report = Report(path.name)
    kept: list = []
    seen: dict[str, str] = {}
    chosen = formats.get_preference(fmt) if fmt else None
    if chosen is not None:
        report.format = chosen.name
    for where, obj, issues in sources.iter_rows(path, split):
        report.rows += 1
        for issue in issues:
            report.add(issue)
        if obj is None:
            continue
        if chosen is None:
            name = formats.detect_preference(obj) or (
                "kto" if {"prompt", "completion", "label"} <= set(obj) else None)
            if name is None:
                report.add(Issue(where, "", _not_preferences(obj), "not_preference"))
                break
            chosen = formats.PREFERENCE_FORMATS[name]
            report.format = name
        try:
            record = chosen.parse(obj)
        except formats.RowProblem as problem:
            report.add(Issue(where, problem.field, problem.message, problem.code))
            continue
        row_issues = check_preference(record, chosen, where)
        if token_counter and max_tokens:
            for side in SIDES:
                answer = getattr(record, side)
                if answer is None:
                    continue
                n = token_counter([Record(record.prompt + answer)])[0]
                report.token_lengths.append(n)
                if n > max_tokens:
                    row_issues.append(Issue(where, chosen.field(side), f"the prompt and the {side} answer are {n:,} "
                                            f"tokens, longer than the maximum of {max_tokens:,}; it would be truncated",
                                            "too_long"))
        key = record.key()
        if key in seen:
            row_issues.append(Issue(where, "", f"exact duplicate of {seen[key]}", "duplicate", "warning"))
        else:
            seen[key] = where
        for issue in row_issues:
            report.add(issue)
        if any(i.severity == "error" for i in row_issues):
            continue
        report.valid += 1
        report.messages += len(record.prompt) + sum(len(a) for a in record.answers())
        if record.label is not None:
            report.labels["desirable" if record.label else "undesirable"] += 1
        if keep_records is True or len(kept) < keep_records:
            kept.append(record)
    if report.rows == 0:
        report.add(Issue("line 1", "", "the file has no examples", "empty_file"))
    if len(report.labels) == 1:
        only = next(iter(report.labels))
        report.add(Issue("line 1", "label", f"every completion is {only}; KTO learns most from both kinds",
                         "one_label", "warning"))
    return report, kept


def load_preferences(path: str | Path, fmt: str | None = None, **options) -> list:
    """The valid preference examples of a file; any error raises DataError with the first findings."""
    report, records = validate_preferences(path, fmt, keep_records=True, **options)
    if report.errors:
        raise DataError(report.text(limit=20))
    return records


def preference_kind(path: str | Path, split: str | None = None) -> str | None:
    """The preference format of a file's first row, or None when it holds chat records (or cannot be read)."""
    try:
        for _, obj, _ in sources.iter_rows(Path(path), split):
            if obj is not None:
                return formats.detect_preference(obj)
    except DataError:
        return None
    return None


def _not_preferences(obj: dict) -> str:
    kind = formats.detect(obj)
    what = f"a chat file ({kind})" if kind else f"not a preference file (keys: {', '.join(map(str, obj))})"
    return (f"{what}: preference tasks (dpo, orpo, kto) read prompt/chosen/rejected, OpenAI's input/"
            "preferred_output/non_preferred_output, or KTO's prompt/completion/label (true/false); chat records "
            "train sft (or grpo, which writes its own answers)")
