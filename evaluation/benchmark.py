"""Benchmarks are YAML files in evaluation/benchmarks/: this module reads and checks them and builds the items.

A benchmark names a dataset and split, a prompt template from prompts/, the reference field, an answer parser,
metrics, generation settings, few-shot examples and prompt variants. Every mistake in a file is reported with
the file and the field, before any model is loaded.

Modes: `generate` (the model writes an answer, the parser reads it) and `choice` (each label is scored by its
log-probability as the answer; the prediction is the likeliest label, with a probability per label). `mode:
choice`, or `modes: [generate, choice]` for both: each mode is its own result, never mixed.

Items come from chat records (data.catalog.load: each record's meta fills the prompt's placeholders), or, when
the file has `fields:`, from the file's raw rows (any table data.sources reads: a plain JSONL/CSV of drug pairs):
each row's columns are the item's meta, `fields` maps a placeholder to the column that fills it (`{}`: the
placeholders are column names) and `reference` names the column holding the answer. The prompt is `prompt:` (a
prompts/<file>.yaml key) or `template:` (the prompt itself, {system: ..., user: ...}), or neither (the records'
own prompts).

Benchmarks live in evaluation/benchmarks/ (shipped) and in settings.data_dir()/benchmarks (saved by users, see
evaluation.custom); a shipped name always wins.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import random
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from errors import UserError

FOLDER = Path(__file__).parent / "benchmarks"
FIELDS = ("name", "description", "dataset", "split", "prompt", "reference", "parser", "labels", "metrics",
          "generation", "few_shot", "variants", "inputs", "group_by", "task_type", "mode", "modes", "fields",
          "template")
TEMPLATE_KEYS = ("system", "user")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # a saved benchmark's name (its file name)
FEW_SHOT_RULES = ("first", "random", "balanced")
MODES = ("generate", "choice")
# Metric inputs a mode gives itself (no record field maps to them): choice mode's label probabilities.
MODE_INPUTS = {"generate": (), "choice": ("probabilities", "normalised_probabilities")}


class BenchmarkError(UserError, ValueError):
    """A benchmark file or its data cannot be used; the message names the file and the field."""


@dataclass
class MetricSpec:
    name: str
    parser: str | None = None  # overrides the benchmark's parser for this metric
    where: dict = field(default_factory=dict)  # score only items whose meta matches, e.g. {category: smiles}
    options: dict = field(default_factory=dict)


@dataclass
class FewShot:
    k: int = 0
    split: str = "train"
    select: str = "first"  # first | random | balanced (round robin over reference labels)
    seed: int = 0


@dataclass
class Variant:
    name: str
    prompt: str | None = None  # prompts/<file>.yaml key, e.g. ddi.binary_compact; None = the benchmark's prompt
    description: str = ""


@dataclass
class Item:
    index: int
    id: str
    messages: list[dict]
    reference: object
    meta: dict
    inputs: dict  # extra metric inputs, e.g. keywords


@dataclass
class Benchmark:
    name: str
    dataset: str
    metrics: list[MetricSpec]
    description: str = ""
    split: str = "test"
    prompt: str | None = None
    reference: str = "answer"  # "answer" = the record's assistant turn, else a meta key (label, smiles ...)
    parser: str = "text"
    labels: list[str] = field(default_factory=list)
    generation: dict = field(default_factory=dict)
    few_shot: FewShot = field(default_factory=FewShot)
    variants: list[Variant] = field(default_factory=list)
    inputs: dict = field(default_factory=dict)  # metric input -> meta key
    group_by: str | None = None  # a meta key: scores per group (the base vs fine-tuned table per task type)
    task_type: str = ""
    path: Path | None = None
    modes: list[str] = field(default_factory=lambda: ["generate"])
    # placeholder -> column: items come from the file's raw rows ({}: placeholders are column names); None:
    # items are chat records (every shipped benchmark)
    fields: dict | None = None
    template: dict | None = None  # an inline prompt {system, user}, instead of a prompts/ key

    # -- what the runner needs ---------------------------------------------------------------------------------
    def for_mode(self, mode: str) -> "Benchmark":
        """This benchmark in one mode, with the metrics that mode can score (each mode is its own result)."""
        if mode not in self.modes:
            raise BenchmarkError(f"{self.path or self.name}: has no {mode} mode (it has {', '.join(self.modes)})")
        return dataclasses.replace(self, modes=[mode], metrics=_metrics_for(self.metrics, mode, self.inputs))

    def variant_names(self) -> list[str]:
        return [v.name for v in self.variants] or ["default"]

    def variant(self, name: str) -> Variant:
        for v in self.variants or [Variant("default")]:
            if v.name == name:
                return v
        raise BenchmarkError(f"{self.name} has no prompt variant {name!r}; it has {', '.join(self.variant_names())}")

    def generation_params(self, **override):
        from models.generation import GenerationParams

        return GenerationParams(**{"max_new_tokens": 64, "seed": 0, **self.generation, **override})

    def availability(self) -> str | None:
        """None when the benchmark can run here, else why not (the shared data folder is absent)."""
        from data import catalog, shared

        scheme, rest = catalog.parse(self.dataset)
        if scheme == "shared" and not shared.is_available(rest):
            return f"{self.name} needs {self.dataset}, which is not in {shared.folder(rest)}"
        return None

    def config_hash(self, **extra) -> str:
        """Same hash = same prompts, data, parsing, metrics and settings: results are comparable."""
        spec = dataclasses.asdict(self)
        spec.pop("path")
        for key in ("fields", "template"):  # absent before raw rows and inline templates: earlier hashes hold
            if spec[key] is None:
                spec.pop(key)
        if spec["modes"] == ["generate"]:
            spec.pop("modes")  # as before modes existed: earlier generate results keep their hash
        spec["prompt_texts"] = {v: _prompt_template(self, self.variant(v)) for v in self.variant_names()}
        blob = json.dumps({**spec, **extra}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def data_digest(self) -> str:
        """The bytes of the data files the benchmark reads (test split and few-shot split)."""
        from data import catalog

        digest = hashlib.sha256()
        splits = [self.split] + ([self.few_shot.split] if self.few_shot.k else [])
        for split in splits:
            try:
                digest.update(catalog.file_for(self.dataset, split).read_bytes())
            except (OSError, ValueError):
                digest.update(b"missing")
        return digest.hexdigest()[:16]

    def items(self, variant: str = "default", limit: int | None = None) -> list[Item]:
        """The benchmark's items with prompts rendered for one variant (few-shot examples included)."""
        if self.fields is not None:
            return self._row_items(variant, limit)
        from data import catalog
        from data.records import DataError

        try:
            records = catalog.load(self.dataset, self.split)
        except DataError as exc:
            raise BenchmarkError(f"{self.name}: the dataset {self.dataset} ({self.split}) failed validation:\n{exc}")
        except FileNotFoundError as exc:
            raise BenchmarkError(f"{self.name}: the dataset {self.dataset} ({self.split}) is missing: {exc}")
        if limit is not None:
            records = records[:limit]
        template = _prompt_template(self, self.variant(variant))
        examples = self._few_shot_examples()
        items = []
        for i, record in enumerate(records):
            where = f"{self.name}: {self.dataset} {self.split} item {i + 1}"
            own = [r for r in examples if r.key() != record.key()][: self.few_shot.k]  # never the item itself
            items.append(Item(
                index=i, id=str(record.meta.get("id", i)),
                messages=_render(template, record, where, self._shot_messages(template, own)),
                reference=self._reference(record, where),
                meta=record.meta,
                inputs={key: record.meta.get(src) for key, src in self.inputs.items()},
            ))
        if not items:
            raise BenchmarkError(f"{self.name}: {self.dataset} ({self.split}) has no items")
        return items

    def _reference(self, record, where: str):
        if self.reference == "answer":
            value = record.answer
        else:
            value = record.meta.get(self.reference)
        if value is None or value == "":
            raise BenchmarkError(f"{where}: no reference ({self.reference!r} is missing or empty)")
        if "choice" in self.modes and str(value).strip().lower() not in {label.lower() for label in self.labels}:
            raise BenchmarkError(f"{where}: the reference {value!r} is not one of the labels choice mode chooses "
                                 f"from ({', '.join(self.labels)})")
        return value

    def _few_shot_examples(self) -> list:
        """k + 1 examples, so k remain when one of them is the item being asked."""
        if self.few_shot.k <= 0:
            return []
        from data import catalog

        pool = catalog.load(self.dataset, self.few_shot.split)
        rule = FewShot(self.few_shot.k + 1, self.few_shot.split, self.few_shot.select, self.few_shot.seed)
        return _select_examples(pool, rule, lambda r: str(self._reference(r, "few-shot example")))

    def _shot_messages(self, template: dict | None, chosen: list) -> list[dict]:
        messages = []
        for record in chosen:
            rendered = _render(template, record, f"{self.name}: few-shot example", [])
            messages += [m for m in rendered if m["role"] != "system"]
            messages.append({"role": "assistant", "content": str(record.answer if self.reference == "answer"
                                                                 else self._reference(record, "few-shot"))})
        return messages

    # -- items from a file's raw rows (fields:) ---------------------------------------------------------------------
    def rows(self, split: str | None = None) -> tuple[Path, list[tuple[str, dict]]]:
        """The data file and its rows as (location, columns): a records row's meta merged into its columns, its
        messages read as `question` (the last user turn) and `answer` (the final assistant turn). A row that
        cannot be read (bad JSON, not UTF-8, a short CSV line) raises BenchmarkError with the file and line."""
        from data import catalog
        from data.records import DataError
        from data.sources import iter_rows

        split = split or self.split
        try:
            path = catalog.file_for(self.dataset, split)
            rows = []
            for where, row, issues in iter_rows(path, split):
                errors = [issue for issue in issues if issue.severity == "error"]
                if errors:
                    raise BenchmarkError(f"{self.name}: {path} {errors[0]}"
                                         + (f" (and {len(errors) - 1} more problem(s) on that row)"
                                            if len(errors) > 1 else ""))
                if row is not None:  # (a blank line that only carried a warning, such as a BOM)
                    rows.append((where, _columns(row)))
        except DataError as exc:
            raise BenchmarkError(f"{self.name}: the dataset {self.dataset} ({split}) cannot be read: {exc}") from None
        return path, rows

    def placeholders(self, variant: str = "default") -> dict[str, str]:
        """The prompt's placeholders, each with the column that fills it (fields mode)."""
        template = _prompt_template(self, self.variant(variant)) or {}
        return {name: (self.fields or {}).get(name, name) for name in _placeholders(template, self.path or self.name)}

    def _row_items(self, variant: str, limit: int | None) -> list[Item]:
        template = _prompt_template(self, self.variant(variant))
        if template is None:
            raise BenchmarkError(f"{self.path or self.name}: items from a file's columns (fields:) need a prompt "
                                 "that names them: give template: {user: ...} or prompt: <a prompts/ key>")
        path, rows = self._checked_rows(self.split, template)
        if limit is not None:
            rows = rows[:limit]
        shots = self._row_shots(template)
        items = []
        for i, (where, columns) in enumerate(rows):
            at = f"{path} {where}"
            row_key = _row_key(columns)
            own = [s for s in shots if s[0] != row_key][: self.few_shot.k]  # never the item itself
            messages = [m for _, shot in own for m in shot]
            items.append(Item(
                index=i, id=str(columns.get("id", i)),
                messages=self._fill_row(template, columns, at, messages),
                reference=self._row_reference(columns, at),
                meta=columns,
                inputs={key: columns.get(src) for key, src in self.inputs.items()},
            ))
        return items

    def _checked_rows(self, split: str, template: dict) -> tuple[Path, list[tuple[str, dict]]]:
        """Rows whose columns fill the template and hold a reference; else the sentence naming file and column."""
        path, rows = self.rows(split)
        if not rows:
            raise BenchmarkError(f"{self.name}: {path} has no rows")
        seen: dict[str, None] = {}
        for _, columns in rows:
            seen.update(dict.fromkeys(columns))
        listed = ", ".join(seen) or "none"
        needed = {name: (self.fields or {}).get(name, name) for name in _placeholders(template, self.path or self.name)}
        if "user" not in template:
            needed.setdefault("question", "question")
        for name, column in needed.items():
            if column not in seen:
                mapped = "" if column == name else f" (fields: maps it to the column {column!r})"
                raise BenchmarkError(f"{self.name}: the template needs {{{name}}}{mapped}, but {path} has no column "
                                     f"{column!r} (columns: {listed})")
        if self.reference not in seen:
            raise BenchmarkError(f"{self.name}: the reference column {self.reference!r} is not in {path} "
                                 f"(columns: {listed})")
        for where, columns in rows:
            for name, column in needed.items():
                if columns.get(column) is None or not str(columns.get(column)).strip():
                    raise BenchmarkError(f"{self.name}: {path} {where}: the column {column!r} is missing or empty, "
                                         f"and the template needs it for {{{name}}}")
        return path, rows

    def _fill_row(self, template: dict, columns: dict, where: str, shots: list[dict]) -> list[dict]:
        values = {**columns, **{name: columns.get(column) for name, column in (self.fields or {}).items()
                                if column in columns}}
        try:
            messages = [{"role": "system", "content": template["system"].format_map(values)}] \
                if template.get("system") else []
            user = template["user"].format_map(values) if "user" in template else str(columns["question"])
        except KeyError as exc:  # a row of a JSONL file without the column
            raise BenchmarkError(f"{self.name}: {where}: the template needs {{{exc.args[0]}}}, but this row has no "
                                 f"column {(self.fields or {}).get(exc.args[0], exc.args[0])!r}")
        except (ValueError, IndexError) as exc:  # _placeholders refuses these first; a sentence all the same
            raise BenchmarkError(f"{self.name}: {where}: the template cannot be filled: {exc}")
        return messages + shots + [{"role": "user", "content": user}]

    def _row_reference(self, columns: dict, where: str):
        value = columns.get(self.reference)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise BenchmarkError(f"{self.name}: {where}: no reference (the column {self.reference!r} is missing or "
                                 "empty)")
        from evaluation import parsers

        kind = parsers.get(self.parser).kind
        if self.labels and (kind == "label" or "choice" in self.modes):
            canonical = {label.strip().lower(): label for label in self.labels}
            found = canonical.get(str(value).strip().lower())
            if found is None:
                raise BenchmarkError(f"{self.name}: {where}: the reference {value!r} (column {self.reference!r}) is "
                                     f"not one of the labels ({', '.join(self.labels)})")
            return found
        if kind == "number":
            number = as_number(value)
            if number is None:
                raise BenchmarkError(f"{self.name}: {where}: the reference {value!r} (column {self.reference!r}) is "
                                     f"not a number, and the {self.parser} parser's metrics compare numbers")
            return number
        return value

    def _row_shots(self, template: dict) -> list[tuple[str, list[dict]]]:
        """k + 1 examples from the few-shot split as (row key, [user turn, assistant answer])."""
        if self.few_shot.k <= 0:
            return []
        from data import catalog

        if catalog.parse(self.dataset)[0] == "file":
            raise BenchmarkError(f"{self.path or self.name}, few_shot: {self.dataset} is one file, so its few-shot "
                                 "examples would be other test items (their answers in every prompt); use a set with a "
                                 "train split (bundled:/shared:), or few_shot.k: 0")
        path, pool = self._checked_rows(self.few_shot.split, template)
        rule = FewShot(self.few_shot.k + 1, self.few_shot.split, self.few_shot.select, self.few_shot.seed)
        chosen = _select_examples(pool, rule, lambda row: str(self._row_reference(row[1], f"{path} {row[0]}")))
        shots = []
        for where, columns in chosen:
            at = f"{path} {where} (a few-shot example)"
            turns = [m for m in self._fill_row(template, columns, at, []) if m["role"] != "system"]
            shots.append((_row_key(columns), turns + [{"role": "assistant",
                                                       "content": str(self._row_reference(columns, at))}]))
        return shots


def _columns(row: dict) -> dict:
    """A raw row's columns; a records row ({messages, meta}) gives its meta and its question and answer."""
    columns = {k: v for k, v in row.items() if k != "meta"}
    meta = row.get("meta")
    if isinstance(meta, dict):
        columns.update(meta)
    elif meta is not None:
        columns["meta"] = meta
    messages = columns.get("messages")
    if isinstance(messages, list) and all(isinstance(m, dict) for m in messages):
        columns.pop("messages")
        users = [m.get("content") for m in messages if m.get("role") == "user"]
        if users:
            columns.setdefault("question", users[-1])
        if messages and messages[-1].get("role") == "assistant":
            columns.setdefault("answer", messages[-1].get("content"))
    return columns


def _row_key(columns: dict) -> str:
    return json.dumps(columns, sort_keys=True, ensure_ascii=False, default=str)


def as_number(value) -> float | None:
    """A reference as a number (a CSV cell "1.5" too), or None when it is none (text, a bool, NaN)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN is no reference


def _placeholders(template: dict, where) -> list[str]:
    """The placeholder names of a template's texts, in order; a malformed one is named."""
    names: list[str] = []
    for part in TEMPLATE_KEYS:
        text = template.get(part)
        if not text:
            continue
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise BenchmarkError(f"{where}, template.{part}: {exc} (placeholders are {{column}}; write {{{{ and }}}} "
                                 "for a literal brace)") from None
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if spec or conversion or name.strip().isdigit():
                raise BenchmarkError(f"{where}, template.{part}: {{{name}{'!' + conversion if conversion else ''}"
                                     f"{':' + spec if spec else ''}}} is not a plain placeholder; write {{column}} "
                                     "(no format spec, conversion or position)")
            if not name.strip():
                raise BenchmarkError(f"{where}, template.{part}: an empty {{}} placeholder; name a column, e.g. "
                                     "{drug1} (write {{ and }} for a literal brace)")
            if "." in name or "[" in name:
                raise BenchmarkError(f"{where}, template.{part}: {{{name}}} is not a column name (a placeholder is a "
                                     "column, or a name that fields: maps to one)")
            if name not in names:
                names.append(name)
    return names


def _select_examples(pool, few_shot: FewShot, label_of) -> list:
    if few_shot.select == "first":
        return pool[: few_shot.k]
    rng = random.Random(few_shot.seed)
    shuffled = pool[:]
    rng.shuffle(shuffled)
    if few_shot.select == "random":
        return shuffled[: few_shot.k]
    by_label: dict[str, list] = {}
    for record in shuffled:
        by_label.setdefault(label_of(record), []).append(record)
    chosen, queues = [], [q for _, q in sorted(by_label.items())]
    while len(chosen) < few_shot.k and any(queues):
        for queue in queues:
            if queue and len(chosen) < few_shot.k:
                chosen.append(queue.pop(0))
    return chosen


def _prompt_template(bench: Benchmark, variant: Variant) -> dict | None:
    if not variant.prompt and bench.template is not None:
        return {k: bench.template[k] for k in TEMPLATE_KEYS if k in bench.template}
    key = variant.prompt or bench.prompt
    if not key:
        return None
    import prompts

    file, _, name = key.partition(".")
    try:
        template = prompts.load(file)[name] if name else prompts.load(file)
    except (FileNotFoundError, KeyError, TypeError):
        raise BenchmarkError(f"{bench.path or bench.name}: prompt {key!r} is not in prompts/{file}.yaml")
    return {k: template[k] for k in ("system", "user") if k in template}


def _render(template: dict | None, record, where: str, shots: list[dict]) -> list[dict]:
    """The conversation for one record: the template filled from its meta (or the record's own prompt)."""
    own = record.prompt_messages
    question = next((m["content"] for m in reversed(own) if m["role"] == "user"), "")
    if template is None:
        system = [m for m in own[:1] if m["role"] == "system"]
        return system + shots + own[len(system):]
    fields = {**record.meta, "question": question, "answer": record.answer or ""}

    def fill(text: str) -> str:
        try:
            return text.format_map(fields)
        except KeyError as exc:
            raise BenchmarkError(f"{where}: the prompt needs {{{exc.args[0]}}} but the record has no such field")

    system_text = template.get("system") or next((m["content"] for m in own if m["role"] == "system"), None)
    messages = [{"role": "system", "content": fill(system_text)}] if system_text else []
    user = fill(template["user"]) if "user" in template else question
    return messages + shots + [{"role": "user", "content": user}]


# -- loading and checking --------------------------------------------------------------------------------------
def user_folder() -> Path:
    """Where benchmarks saved by users live: settings.data_dir()/benchmarks (read at call time)."""
    import settings

    return settings.data_dir() / "benchmarks"


def bundled_names() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.yaml"))


def saved_names() -> list[str]:
    """Benchmarks saved by users (a name a shipped benchmark has is not listed: the shipped one wins)."""
    bundled = set(bundled_names())
    folder = user_folder()
    found = folder.glob("*.yaml") if folder.is_dir() else []
    return sorted(p.stem for p in found if p.stem not in bundled and NAME_PATTERN.fullmatch(p.stem))


def is_saved(name: str) -> bool:
    return name in saved_names()


def names() -> list[str]:
    """Every benchmark by name: shipped and saved."""
    return sorted({*bundled_names(), *saved_names()})


def load(name_or_path: str | Path) -> Benchmark:
    """A benchmark by name (evaluation/benchmarks/<name>.yaml, else one saved in user_folder()) or by the path of a
    YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = FOLDER / f"{name_or_path}.yaml"
        if not path.is_file() and NAME_PATTERN.fullmatch(str(name_or_path)):
            path = user_folder() / f"{name_or_path}.yaml"
        if not path.is_file():
            close = difflib.get_close_matches(str(name_or_path), names(), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise BenchmarkError(f"Unknown benchmark {str(name_or_path)!r}.{hint} Known: {', '.join(names())}")
    if not path.is_file():
        raise BenchmarkError(f"No benchmark file {path}")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BenchmarkError(f"{path}: not valid YAML: {exc}")
    return from_dict(spec, path)


def from_dict(spec, path: Path | str = "<benchmark>") -> Benchmark:
    """Check every field and return the Benchmark; errors name the file and the field."""
    from evaluation import metrics, parsers

    where = str(path)
    if not isinstance(spec, dict):
        raise BenchmarkError(f"{where}: a benchmark is a mapping of fields ({', '.join(FIELDS)})")
    for key in spec:
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise BenchmarkError(f"{where}: unknown field {key!r}.{hint}")
    for key in ("dataset", "metrics"):
        if not spec.get(key):
            raise BenchmarkError(f"{where}: the field {key!r} is missing")
    name = spec.get("name") or Path(where).stem
    modes = _modes(spec, where)
    # choice mode's answer is a label: read it as one unless the file says otherwise
    parser_name = spec.get("parser", "label" if modes == ["choice"] else "text")
    try:
        parser = parsers.get(parser_name)
    except ValueError as exc:
        raise BenchmarkError(f"{where}, parser: {exc}")
    specs = [_metric_spec(m, where) for m in _as_list(spec["metrics"], where, "metrics")]
    inputs = spec.get("inputs") or {}
    for ms in specs:
        try:
            metric = metrics.get(ms.name)
        except metrics.MetricError as exc:
            raise BenchmarkError(f"{where}, metrics: {exc}")
        kind = parsers.get(ms.parser).kind if ms.parser else parser.kind
        if metric.kind != kind:
            raise BenchmarkError(f"{where}, metrics: {ms.name} reads {metric.kind} answers but the parser gives "
                                 f"{kind}; set parser: to one that gives {metric.kind}")
        given = {i for mode in modes for i in MODE_INPUTS[mode]}
        for needed in metric.extra_inputs():
            if needed in _all_mode_inputs() and needed not in given and needed not in inputs:
                raise BenchmarkError(f"{where}, metrics: {ms.name} reads the label probabilities that only choice "
                                     "mode gives; add mode: choice (or modes: [generate, choice])")
            if needed not in inputs and needed not in given:
                raise BenchmarkError(f"{where}, inputs: {ms.name} needs {needed!r}; map it to a record field, "
                                     f"e.g. inputs: {{{needed}: {needed}}}")
        for option in ms.options:
            if option not in metric.options:
                raise BenchmarkError(f"{where}, metrics: {ms.name} has no option {option!r} "
                                     f"(it has {', '.join(metric.options) or 'none'})")
        for dep in metric.derived_from:
            if dep not in [s.name for s in specs]:
                raise BenchmarkError(f"{where}, metrics: {ms.name} combines {', '.join(metric.derived_from)}; "
                                     f"list {dep} too")
    few = spec.get("few_shot") or {}
    try:
        few_shot = FewShot(**few)
    except TypeError as exc:
        raise BenchmarkError(f"{where}, few_shot: {exc} (fields: k, split, select, seed)")
    if not isinstance(few_shot.k, int) or isinstance(few_shot.k, bool) or few_shot.k < 0:
        raise BenchmarkError(f"{where}, few_shot.k: expected a whole number of examples ≥ 0, got {few_shot.k!r}")
    if few_shot.select not in FEW_SHOT_RULES:
        raise BenchmarkError(f"{where}, few_shot.select: {few_shot.select!r} is not one of {', '.join(FEW_SHOT_RULES)}")
    variants = []
    for v in _as_list(spec.get("variants") or [], where, "variants"):
        try:
            variants.append(Variant(**v) if isinstance(v, dict) else Variant(str(v)))
        except TypeError as exc:
            raise BenchmarkError(f"{where}, variants: {exc} (fields: name, prompt, description)")
    names_seen = [v.name for v in variants]
    duplicates = sorted({n for n in names_seen if names_seen.count(n) > 1})
    if duplicates:
        raise BenchmarkError(f"{where}, variants: the name {duplicates[0]!r} is used twice; each variant needs its own")
    if "prompt" in spec and "template" in spec:
        raise BenchmarkError(f"{where}: give prompt: (a prompts/<file>.yaml key, e.g. ddi.binary) or template: (the "
                             "prompt itself, {system: ..., user: ...}), not both")
    template = _template_field(spec, where)
    fields = _fields_field(spec, where)
    labels = spec.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(l, str) and l.strip() for l in labels):
        raise BenchmarkError(f"{where}, labels: expected a list of class names, e.g. [interaction, no interaction]")
    bench = Benchmark(
        name=name, dataset=str(spec["dataset"]), metrics=specs, description=spec.get("description", ""),
        split=spec.get("split", "test"), prompt=spec.get("prompt"), reference=spec.get("reference", "answer"),
        parser=parser_name, labels=list(labels),
        generation=dict(spec.get("generation") or {}), few_shot=few_shot, variants=variants, inputs=dict(inputs),
        group_by=spec.get("group_by"), task_type=spec.get("task_type", ""), path=Path(where), modes=modes,
        fields=fields, template=template,
    )
    if (parser.kind == "label" or "choice" in modes) and not bench.labels:
        bench.labels = _labels_from_prompt(bench)
        if not bench.labels and "choice" in modes:
            raise BenchmarkError(f"{where}, labels: choice mode scores the log-probability of each label after the "
                                 "prompt, so it needs the label set, e.g. labels: [interaction, no interaction]")
        if not bench.labels:
            raise BenchmarkError(f"{where}, labels: the label parser needs the class names (labels: [...])")
    if "choice" in modes and len({label.strip().lower() for label in bench.labels}) < 2:
        raise BenchmarkError(f"{where}, labels: choice mode chooses between at least two different labels; "
                             f"got {bench.labels}")
    for mode in modes:
        if not _metrics_for(specs, mode, inputs):
            raise BenchmarkError(f"{where}, metrics: none of them can score {mode} mode (each reads the label "
                                 "probabilities only choice mode gives); add one such as classification")
    from models.errors import InputError

    try:
        bench.generation_params()
    except TypeError as exc:
        raise BenchmarkError(f"{where}, generation: {exc} (fields: max_new_tokens, temperature, top_p, stop, seed)")
    except (ValueError, InputError) as exc:
        raise BenchmarkError(f"{where}, generation: {exc}")
    for v in bench.variants or [Variant("default")]:
        chosen = _prompt_template(bench, v)  # raises if a prompt key is unknown
        if fields is not None and chosen is None:
            raise BenchmarkError(f"{where}, fields: items made from a file's columns need a prompt that names them; "
                                 "give template: {user: ...} or prompt: <a prompts/ key such as ddi.binary>")
        if fields is not None:
            _placeholders(chosen, where)  # a malformed placeholder is named before any data is read
    return bench


def _template_field(spec: dict, where: str) -> dict | None:
    """template: {system: ..., user: ...} (or a string: the user text), the prompt as the user typed it."""
    if "template" not in spec:
        return None
    raw = spec["template"]
    if isinstance(raw, str):
        raw = {"user": raw}
    if not isinstance(raw, dict) or not raw:
        raise BenchmarkError(f"{where}, template: expected the prompt itself, {{system: ..., user: ...}}, e.g. "
                             "{user: 'Do {drug1} and {drug2} interact?'}")
    for key, value in raw.items():
        if key not in TEMPLATE_KEYS:
            raise BenchmarkError(f"{where}, template: unknown part {key!r} (a template has {' and '.join(TEMPLATE_KEYS)})")
        if not isinstance(value, str) or not value.strip():
            raise BenchmarkError(f"{where}, template.{key}: expected the text of the {key} message, got {value!r}")
    if "user" not in raw:
        raise BenchmarkError(f"{where}, template: the user text is missing (template: {{user: ...}}, with "
                             "{column} placeholders)")
    _placeholders(raw, where)
    return {key: raw[key] for key in TEMPLATE_KEYS if key in raw}


def _fields_field(spec: dict, where: str) -> dict | None:
    """fields: {placeholder: column}; present (even empty) = items from the file's raw rows."""
    if "fields" not in spec:
        return None
    raw = spec["fields"] or {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip()
                                            for k, v in raw.items()):
        raise BenchmarkError(f"{where}, fields: expected a mapping of template placeholder to column, e.g. "
                             "fields: {drug1: name_a, drug2: name_b} ({} when the placeholders are column names)")
    return dict(raw)


def to_spec(bench: Benchmark) -> dict:
    """The benchmark as the mapping from_dict reads back into an equal benchmark (same config_hash)."""
    spec: dict = {"name": bench.name}
    if bench.description:
        spec["description"] = bench.description
    if bench.task_type:
        spec["task_type"] = bench.task_type
    spec["dataset"] = bench.dataset
    spec["split"] = bench.split
    if bench.template is not None:
        spec["template"] = dict(bench.template)
    elif bench.prompt:
        spec["prompt"] = bench.prompt
    if bench.fields is not None:
        spec["fields"] = dict(bench.fields)
    spec["reference"] = bench.reference
    if len(bench.modes) == 1:
        spec["mode"] = bench.modes[0]
    else:
        spec["modes"] = list(bench.modes)
    spec["parser"] = bench.parser
    if bench.labels:
        spec["labels"] = list(bench.labels)
    spec["metrics"] = [_metric_entry(ms) for ms in bench.metrics]
    if bench.generation:
        spec["generation"] = dict(bench.generation)
    if bench.few_shot != FewShot():
        spec["few_shot"] = dataclasses.asdict(bench.few_shot)
    if bench.variants:
        spec["variants"] = [{k: v for k, v in dataclasses.asdict(var).items() if v} for var in bench.variants]
    if bench.inputs:
        spec["inputs"] = dict(bench.inputs)
    if bench.group_by:
        spec["group_by"] = bench.group_by
    return spec


def _metric_entry(ms: MetricSpec):
    if ms.parser is None and not ms.where and not ms.options:
        return ms.name
    entry = {"name": ms.name, **ms.options}
    if ms.parser is not None:
        entry["parser"] = ms.parser
    if ms.where:
        entry["where"] = dict(ms.where)
    return entry


def _modes(spec: dict, where: str) -> list[str]:
    """`mode: choice` or `modes: [generate, choice]` (not both); default generate."""
    if "mode" in spec and "modes" in spec:
        raise BenchmarkError(f"{where}: give mode: (one) or modes: (a list), not both")
    raw = spec.get("modes", spec.get("mode", "generate"))
    key = "modes" if "modes" in spec else "mode"
    modes = raw if isinstance(raw, list) else [raw]
    if not modes:
        raise BenchmarkError(f"{where}, modes: the list is empty; give {' and/or '.join(MODES)}")
    for mode in modes:
        if mode not in MODES:
            close = difflib.get_close_matches(str(mode), MODES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise BenchmarkError(f"{where}, {key}: {mode!r} is not a mode.{hint} Modes: {', '.join(MODES)}")
    if len(set(modes)) < len(modes):
        raise BenchmarkError(f"{where}, modes: a mode is listed twice ({modes})")
    return list(modes)


def _all_mode_inputs() -> set[str]:
    return {i for given in MODE_INPUTS.values() for i in given}


def _metrics_for(specs: list[MetricSpec], mode: str, inputs: dict) -> list[MetricSpec]:
    """The metrics that can score `mode`: those reading choice mode's probabilities need choice mode (or a
    record field the benchmark maps to them, e.g. another model's stored probabilities)."""
    from evaluation import metrics

    given = set(MODE_INPUTS[mode]) | set(inputs)
    return [ms for ms in specs
            if not (set(metrics.get(ms.name).extra_inputs()) & _all_mode_inputs()) - given]


def _labels_from_prompt(bench: Benchmark) -> list[str]:
    if not bench.prompt:
        return []
    import prompts

    file, _, name = bench.prompt.partition(".")
    return list((prompts.load(file).get(name) or {}).get("labels") or [])


def _as_list(value, where: str, key: str) -> list:
    if not isinstance(value, list):
        raise BenchmarkError(f"{where}, {key}: expected a list")
    return value


def _metric_spec(entry, where: str) -> MetricSpec:
    if isinstance(entry, str):
        return MetricSpec(entry)
    if isinstance(entry, dict) and "name" in entry:
        entry = dict(entry)
        return MetricSpec(entry.pop("name"), entry.pop("parser", None), entry.pop("where", {}) or {}, entry)
    raise BenchmarkError(f"{where}, metrics: each entry is a metric name or {{name: ..., <options>}}; got {entry!r}")
