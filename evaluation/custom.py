"""Benchmarks from a user's own file, without writing YAML: the one place that builds, checks, previews and saves
them. `python -m evaluation run --dataset FILE ...` and `check` call it, and so does the Evaluate tab.

    bench = build("pairs.jsonl", template="ddi.binary", reference="label", mode="choice")
    preview(bench)          # the first three rendered conversations
    summary(bench)          # items, label counts, columns, placeholders, warnings
    save(bench, "my-ddi")   # settings.data_dir()/benchmarks/my-ddi.yaml; then benchmark.load("my-ddi")
    to_yaml(bench)          # the YAML of a one-off run (runs/<id>/benchmark.yaml)

A custom benchmark always reads the file's raw rows (benchmark `fields:`): the file is any table data.sources
reads (JSONL, a JSON array, CSV/TSV, Parquet, a Hugging Face folder) or a chat records file (its meta are
columns), or a bundled:/shared: reference. Every problem (a column the template needs, the reference column, an
empty file, a bad line, a reference that is no label) is a BenchmarkError sentence before any model loads.
Paths are not confined here: the UI confines a typed path (data.paths.confine_ref) before it calls build.
"""
from __future__ import annotations

import collections
import dataclasses
import re
from pathlib import Path

from evaluation.benchmark import NAME_PATTERN, Benchmark, BenchmarkError, Item

MODES = {"generate": ["generate"], "choice": ["choice"], "both": ["generate", "choice"]}
# Default metrics by mode and by the kind of answer (see build).
CHOICE_METRICS = ["classification", "balanced_accuracy", "auroc", "auprc", "brier", "ece"]
LABEL_METRICS = ["classification"]
NUMBER_METRICS = ["regression"]
TEXT_METRICS = ["exact_match", "token_f1", "bleu", "rouge"]
PARSER_FOR_KIND = {"label": "label", "number": "number", "smiles": "smiles", "text": "text"}
GENERATION_FOR_KIND = {"label": 16, "number": 24, "smiles": 96, "text": 128}  # max_new_tokens, greedy
PROMPT_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)?")  # ddi.binary; anything else is typed text
ONE_OFF_FILE = "benchmark.yaml"  # a run's own benchmark, named by its config.yaml
PREVIEW_ITEMS = 3


def build(dataset: str, *, template: str | dict, reference: str, mode: str | list[str] = "generate",
          fields: dict | None = None, labels: list[str] | str | None = None, metrics: list[str] | str | None = None,
          split: str | None = None, name: str | None = None, description: str = "", parser: str | None = None,
          generation: dict | None = None) -> Benchmark:
    """A checked benchmark over `dataset`'s rows; raises BenchmarkError (a sentence) on anything wrong.

    dataset: a file or folder path (stored absolute), or bundled:<name> / shared:<name>.
    template: a prompts/<file>.yaml key ("ddi.binary"; its `labels:` become the labels), or the prompt itself:
        {"system": ..., "user": ...} or a string (the user text). Placeholders are {column} names, or names that
        `fields` maps to columns ({"drug1": "name_a"}).
    reference: the column holding the answer. mode: "generate", "choice" or "both".
    labels: the classes (a list or "a,b"); needed by choice mode unless the prompt key has them.
    metrics (a list or "m1,m2"), when not given:
      - choice (and both): classification, balanced_accuracy, auroc, auprc, brier, ece (label parser);
      - generate with labels: classification (label parser);
      - generate, every reference a number: regression (number parser);
      - generate, free text: exact_match, token_f1, bleu, rouge (text parser).
    parser: the answer parser (default: the one the metrics read). generation: greedy, with max_new_tokens 16 for
    a label, 24 for a number, 128 for text unless given.
    split: the split of a bundled/shared set or a Hugging Face folder (default test, else validation); a plain
    file has no splits. name: default custom-<file stem>; a shipped benchmark's name is refused.
    """
    from evaluation import benchmark as benchmarks, metrics as registry, parsers

    dataset = _dataset_ref(dataset)
    modes = _modes(mode)
    prompt, inline = _template(template)
    labels = _as_list(labels)
    metric_names = _as_list(metrics)
    name = (name or "").strip() or _default_name(dataset)
    if name.lower() in {n.lower() for n in benchmarks.bundled_names()}:
        raise BenchmarkError(f"{name!r} is the name of a shipped benchmark; give yours another name")
    split = split or _default_split(dataset)
    if not isinstance(reference, str) or not reference.strip():
        raise BenchmarkError("Choose the reference column: the column of the file that holds the right answer "
                             "(e.g. label)")
    reference = reference.strip()
    probe = Benchmark(name=name, dataset=dataset, metrics=[], split=split, reference=reference)
    prompt_labels = _prompt_labels(prompt, name) if prompt else []
    known_labels = labels or prompt_labels
    if "choice" in modes and not known_labels:
        raise BenchmarkError(f"{name}: choice mode scores the log-probability of each label after the prompt, so it "
                             f"needs the labels (e.g. --labels or labels: [interaction, no interaction])"
                             + _values_hint(probe, reference))
    if metric_names:
        kinds = {registry.get(m).kind for m in metric_names if m in registry.all_metrics()}
        kind = "label" if "choice" in modes else (kinds.pop() if len(kinds) == 1 else _answer_kind(probe, known_labels))
    else:
        kind = "label" if ("choice" in modes or known_labels) else _answer_kind(probe, known_labels)
        metric_names = (CHOICE_METRICS if "choice" in modes else
                        {"label": LABEL_METRICS, "number": NUMBER_METRICS}.get(kind, TEXT_METRICS))
    parser = parser or PARSER_FOR_KIND[kind]
    if parser in parsers.PARSERS and parsers.get(parser).kind == "label" and not known_labels:
        raise BenchmarkError(f"{name}: the label parser needs the labels (e.g. --labels or labels: [...])"
                             + _values_hint(probe, reference))
    spec: dict = {"name": name, "dataset": dataset, "split": split}
    if description:
        spec["description"] = description
    if inline is not None:
        spec["template"] = inline
    else:
        spec["prompt"] = prompt
    spec["fields"] = dict(fields or {})
    spec["reference"] = reference
    spec["mode" if len(modes) == 1 else "modes"] = modes[0] if len(modes) == 1 else modes
    spec["parser"] = parser
    if known_labels:
        spec["labels"] = list(known_labels)
    spec["metrics"] = list(metric_names)
    spec["generation"] = dict(generation) if generation is not None else {
        "max_new_tokens": GENERATION_FOR_KIND.get(parsers.get(parser).kind if parser in parsers.PARSERS else kind,
                                                  64), "temperature": 0}
    bench = benchmarks.from_dict(spec, name)
    bench.path = None
    items = bench.items()  # every row: the columns the template needs, the reference, the labels
    if not description:
        source = Path(dataset).name if Path(dataset).is_absolute() else dataset
        bench.description = (f"{len(items)} items from {source}, prompt {prompt or 'typed'}, reference "
                             f"{reference!r}, {' and '.join(modes)} mode")
    return bench


def preview(bench: Benchmark, n: int = PREVIEW_ITEMS, variant: str | None = None) -> list[list[dict]]:
    """The first n rendered conversations (system, few-shot turns, user), as a model will get them; `variant`:
    one of the benchmark's prompt variants (default: its first)."""
    return [item.messages for item in bench.items(variant or bench.variant_names()[0], limit=n)]


def summary(bench: Benchmark, items: list[Item] | None = None) -> dict:
    """What a check shows beside the prompts: item count, label counts (or the numbers' range), the columns, which
    column fills each placeholder, the metrics and parser, and warnings worth reading before a run."""
    from evaluation import parsers

    variant = bench.variant_names()[0]
    items = bench.items(variant) if items is None else items
    columns: dict[str, None] = {}
    for item in items:
        columns.update(dict.fromkeys(item.meta))
    out: dict = {"name": bench.name, "dataset": bench.dataset, "split": bench.split, "items": len(items),
                 "modes": list(bench.modes), "parser": bench.parser, "reference": bench.reference,
                 "metrics": [m.name for m in bench.metrics], "columns": list(columns), "warnings": []}
    if bench.fields is not None:
        out["placeholders"] = bench.placeholders(variant)
    kind = parsers.get(bench.parser).kind
    if bench.labels and (kind == "label" or "choice" in bench.modes):
        counts = collections.Counter(str(item.reference).strip().lower() for item in items)
        out["labels"] = {label: counts.get(label.strip().lower(), 0) for label in bench.labels}
        present = [label for label, count in out["labels"].items() if count]
        if len(present) < 2:
            out["warnings"].append(f"only {len(present)} of the {len(bench.labels)} labels occur among the "
                                   f"references ({', '.join(present) or 'none'}): AUROC, AUPRC and balanced accuracy "
                                   "need every class")
    elif kind == "number":
        from evaluation.benchmark import as_number

        numbers = [n for n in (as_number(item.reference) for item in items) if n is not None]
        if numbers:
            out["numbers"] = {"min": min(numbers), "max": max(numbers), "mean": sum(numbers) / len(numbers)}
    if len(items) < 20:
        out["warnings"].append(f"{len(items)} items: the 95 % intervals will be wide")
    return out


def check(bench: Benchmark, n: int = PREVIEW_ITEMS) -> dict:
    """summary() plus the first n rendered prompts ("prompts") of the first prompt variant, reading the file once."""
    items = bench.items(bench.variant_names()[0])
    return {**summary(bench, items), "prompts": [item.messages for item in items[:n]]}


def to_yaml(bench: Benchmark) -> str:
    """The benchmark as a YAML file that benchmark.load reads back into an equal benchmark (same config_hash)."""
    import yaml

    from evaluation.benchmark import to_spec

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value: str):  # multi-line prompts as readable blocks
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    head = f"# A benchmark made from {bench.dataset} by PharmaTune (evaluation.custom); edit it like any other.\n"
    return head + yaml.dump(to_spec(bench), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=120)


def check_name(name: str) -> str:
    """A name a benchmark can be saved under, or the BenchmarkError saying why not."""
    from evaluation import benchmark as benchmarks

    name = (name or "").strip()
    if not NAME_PATTERN.fullmatch(name) or name.lower().endswith((".yaml", ".yml")):
        raise BenchmarkError(f"{name!r} cannot name a benchmark: use letters, digits, '-', '_' and '.' (up to 100 "
                             "characters, starting with a letter or digit, without .yaml)")
    if name.lower() in {n.lower() for n in benchmarks.bundled_names()}:
        raise BenchmarkError(f"{name!r} is a shipped benchmark; save yours under another name")
    return name


def save(bench: Benchmark, name: str, *, overwrite: bool = False) -> Path:
    """Write the benchmark as settings.data_dir()/benchmarks/<name>.yaml (atomically) and return the path. A
    shipped name is refused; so is another benchmark already saved under the name, unless overwrite=True (the same
    benchmark again is fine). Afterwards benchmark.load(name) gives it back, named `name`."""
    from data.io import atomic_write
    from evaluation import benchmark as benchmarks

    name = check_name(name)
    path = benchmarks.user_folder() / f"{name}.yaml"
    text = to_yaml(dataclasses.replace(bench, name=name, path=None))
    if path.exists() and not overwrite and path.read_text(encoding="utf-8") != text:
        raise BenchmarkError(f"A benchmark named {name!r} is already saved ({path}); choose another name or "
                             "overwrite it")
    with atomic_write(path) as fh:
        fh.write(text)
    return path


def write_one_off(bench: Benchmark, run_dir: Path) -> Path:
    """The benchmark of a run that does not save it: run_dir/benchmark.yaml, which the run's config.yaml names."""
    from data.io import atomic_write

    path = Path(run_dir) / ONE_OFF_FILE
    with atomic_write(path) as fh:
        fh.write(to_yaml(bench))
    return path.resolve()


# -- helpers ---------------------------------------------------------------------------------------------------------
def _dataset_ref(dataset) -> str:
    from data import catalog

    text = str(dataset or "").strip()
    if not text:
        raise BenchmarkError("Choose a dataset: a file (JSONL, CSV, Parquet ...), bundled:<name> or shared:<name>")
    scheme, rest = catalog.parse(text)
    if scheme in ("bundled", "shared"):
        return text
    path = Path(rest).expanduser()
    if not path.exists():
        raise BenchmarkError(f"No dataset file {path}: give a file or folder that exists (or bundled:/shared:<name>)")
    return str(path.resolve())


def _default_name(dataset: str) -> str:
    from data import catalog

    scheme, rest = catalog.parse(dataset)
    stem = Path(rest).stem if scheme == "file" else rest
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.") or "data"
    return f"custom-{cleaned}"[:100]


def _default_split(dataset: str) -> str:
    from data import catalog
    from data.records import DataError

    scheme, _ = catalog.parse(dataset)
    if scheme == "file":
        return "test"
    try:
        known = catalog.splits(dataset)
    except (DataError, OSError):
        return "test"
    return next((s for s in ("test", "validation") if s in known), known[-1] if known else "test")


def _modes(mode) -> list[str]:
    if isinstance(mode, (list, tuple)):
        modes = list(mode)
    else:
        key = str(mode or "generate").strip().lower()
        if key not in MODES:
            raise BenchmarkError(f"{mode!r} is not a mode: choose {', '.join(MODES)}")
        modes = MODES[key]
    return modes


def _template(template) -> tuple[str | None, dict | None]:
    """(prompts key, None) or (None, inline template)."""
    if isinstance(template, dict):
        return None, {k: v for k, v in template.items() if v not in (None, "")}
    text = str(template or "").strip()
    if not text:
        raise BenchmarkError("Choose a template: a prompts/ key such as ddi.binary, or type the prompt with "
                             "{column} placeholders")
    if PROMPT_KEY.fullmatch(text):
        return text, None
    return None, {"user": str(template)}


def _prompt_labels(key: str, where: str) -> list[str]:
    import prompts

    file, _, entry = key.partition(".")
    try:
        found = prompts.load(file)
        found = found[entry] if entry else found
    except (FileNotFoundError, KeyError, TypeError):
        raise BenchmarkError(f"{where}: prompt {key!r} is not in prompts/{file}.yaml") from None
    return list((found or {}).get("labels") or []) if isinstance(found, dict) else []


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [str(v).strip() for v in value if str(v).strip()]


def _references(probe: Benchmark, reference: str) -> list:
    _, rows = probe.rows()
    return [columns.get(reference) for _, columns in rows if columns.get(reference) not in (None, "")]


def _answer_kind(probe: Benchmark, labels: list[str]) -> str:
    if labels:
        return "label"
    from evaluation.benchmark import as_number

    values = _references(probe, probe.reference)
    if values and all(as_number(v) is not None for v in values):
        return "number"
    return "text"


def _values_hint(probe: Benchmark, reference: str) -> str:
    """The distinct values of the reference column, when few: most likely the labels."""
    try:
        values = _references(probe, reference)
    except BenchmarkError:
        return ""
    distinct = list(dict.fromkeys(str(v) for v in values))
    if not distinct or len(distinct) > 20:
        return ""
    return f"; the column {reference!r} holds: {', '.join(distinct)}"
