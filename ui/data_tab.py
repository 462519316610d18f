"""Data tab: upload or pick a set, see its validation report, statistics, token lengths and sample rows;
split (random, cold-drug, cold-pair, scaffold), convert and download; a leakage report of the chosen set against
a training set. The work is in plain functions (inspect, save_upload, export, split_files, leakage_report) so
tests call them without Gradio; build() only wires them to components, and every handler returns a dict keyed
by component."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import settings
from data.records import DataError
from ui import roles, strings

SAMPLE_ROWS = 10
NEIGHBOURS_SHOWN = 20
NEIGHBOUR_COLUMNS = ["test molecule", "nearest train molecule", "similarity"]
NO_TRAIN_CHOSEN = "Choose the training set to compare the chosen set with."
LEAKAGE_INTRO = ("Compares the set (or upload) and split chosen at the top, as the **test** side, with a training "
                 "set: pairs found in train in the same or the swapped order, drugs both share, and each test "
                 "molecule's nearest-neighbour Tanimoto similarity to train (Morgan fingerprints, radius 2, 2,048 "
                 "bits). Splitting above shows the same report for the new train and test parts.")
CELL_CHARS = 300
NO_TOKENIZER = "none (skip token lengths)"
AUTO_FORMAT = "auto-detect"


@dataclass
class Inspection:
    report: str  # markdown: summary line and the line-numbered findings
    stats: dict = field(default_factory=dict)
    histogram: list[dict] = field(default_factory=list)  # {"tokens": bin start, "examples": n}
    sample: list[list[str]] = field(default_factory=list)
    ok: bool = False


def uploads_dir() -> Path:
    return settings.data_dir() / "uploads"


def exports_dir() -> Path:
    return settings.data_dir() / "exports"


def save_upload(temp_path: str | Path) -> Path:
    """Copy an upload into the app's uploads folder under a safe name; refuse it when over this visitor's limit
    (roles.upload_limit: a viewer of a public app gets a small one). A refused upload is deleted from Gradio's
    upload folder at once, so it holds no disk space either."""
    temp_path = Path(temp_path)
    if not temp_path.is_file():
        raise DataError(strings.UPLOAD_GONE.format(name=temp_path.name))
    size, limit = temp_path.stat().st_size, roles.upload_limit()
    if size > limit:
        _discard(temp_path)
        if limit < settings.max_upload_bytes():
            raise DataError(strings.VIEWER_UPLOAD_TOO_BIG.format(name=temp_path.name, size=size / 2**20,
                                                                 limit=limit / 2**20,
                                                                 operator=settings.max_upload_bytes() / 2**20))
        raise DataError(strings.UPLOAD_TOO_BIG.format(name=temp_path.name, size=size / 2**20, limit=limit / 2**20))
    digest = hashlib.sha256()
    with open(temp_path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", temp_path.name).lstrip(".") or "upload"
    target = uploads_dir() / f"{digest.hexdigest()[:12]}-{safe}"
    if not target.exists():
        from data.io import atomic_write

        with open(temp_path, "rb") as src, atomic_write(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def _discard(temp_path: Path) -> None:
    """Delete a refused upload when it lies in Gradio's upload folder (never a file of the user's elsewhere)."""
    import os
    import tempfile

    folder = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()
    path = temp_path.resolve()
    if path.is_relative_to(folder) and path != folder:
        path.unlink(missing_ok=True)


def resolve_source(upload: str | None, ref: str | None, split: str | None) -> tuple[Path, Path | None]:
    """The file to inspect and, for a non-train split of a bundled/shared set, its train file (overlap check)."""
    from data import catalog
    from data.paths import confine_ref

    if upload:
        return save_upload(upload), None
    if not ref:
        raise DataError(strings.NO_DATA_CHOSEN)
    ref = confine_ref(ref, "Data set")
    path = catalog.file_for(ref, split or "train")
    train = None
    if catalog.parse(ref)[0] in ("bundled", "shared") and (split or "train") != "train":
        train = catalog.file_for(ref, "train")
    return path, train


def _options(fmt: str | None, mapping: str | None) -> tuple[str | None, dict]:
    from data.formats import parse_mapping

    return (None if not fmt or fmt == AUTO_FORMAT else fmt), {"mapping": parse_mapping(mapping)}


def inspect(path: Path, fmt: str | None = None, mapping: str | None = None, tokenizer_ref: str | None = None,
            max_tokens: int | None = None, train: Path | str | None = None, progress=None) -> Inspection:
    """Validate the whole file (streamed), then summarize: never raises for bad data, it reports it."""
    from data.lengths import analyze
    from models.tokenizers import token_counter
    from data.validation import validate

    fmt, options = _options(fmt, mapping)
    counter = token_counter(tokenizer_ref) if tokenizer_ref and tokenizer_ref != NO_TOKENIZER else None
    report, sample = validate(path, fmt, train=train, max_tokens=max_tokens or None, token_counter=counter,
                              progress=progress, keep_records=SAMPLE_ROWS, **options)
    stats = report.summary()
    histogram = []
    if report.token_lengths:
        lengths = analyze(report.token_lengths)
        histogram = [{"tokens": low, "examples": count} for low, _, count in lengths.pop("histogram")]
        stats["token lengths"] = lengths
    verdict = strings.DATA_OK if report.ok else strings.DATA_INVALID
    text = report.text(limit=100)
    head, _, findings = text.partition("\n")
    markdown = f"**{verdict}** {head}" + (f"\n\n```\n{findings}\n```" if findings else "")
    rows = [[_cell(r.messages, "system"), _cell(r.messages, "user"), _cell(r.messages, "assistant"),
             json.dumps(r.meta, ensure_ascii=False)[:CELL_CHARS]] for r in sample]
    return Inspection(markdown, stats, histogram, rows, report.ok)


def _cell(messages: list[dict], role: str) -> str:
    text = "\n".join(m["content"] for m in messages if m["role"] == role)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + " …"


def export(path: Path, to: str, fmt: str | None = None, mapping: str | None = None) -> Path:
    """Every valid record in format `to`, written atomically under exports/; invalid data raises DataError."""
    from data.export import write
    from data.validation import load

    fmt, options = _options(fmt, mapping)
    records = load(path, fmt, **options)
    suffix = {"csv": ".csv", "parquet": ".parquet"}.get(to, ".jsonl")
    return write(records, exports_dir() / f"{_stem(path)}.{to}{suffix}", to)


def split_to_files(path: Path, fractions: str, seed: int, stratify: str, to: str = "records",
                   fmt: str | None = None, mapping: str | None = None, kind: str = "random") -> list[Path]:
    return split_files(path, fractions, seed, stratify, to, fmt, mapping, kind)[1]


def split_files(path: Path, fractions: str, seed: int, stratify: str, to: str = "records", fmt: str | None = None,
                mapping: str | None = None, kind: str = "random", name: str | None = None):
    """Split the file `kind` ways (data.splits.KINDS) into exports/<stem>-<kind>-seed<N>/; returns the Split (its
    parts, what was dropped and why) and the files written."""
    from data.export import write
    from data.splits import parse_fractions, split_by
    from data.validation import load

    fmt, options = _options(fmt, mapping)
    records = load(path, fmt, **options)
    key = {"auto": None, "label": True, "none": False}.get(stratify, stratify)
    kind = kind or "random"
    result = split_by(records, kind, parse_fractions(fractions), seed=int(seed), stratify=key,
                      source=name or path.name)
    suffix = {"csv": ".csv", "parquet": ".parquet"}.get(to, ".jsonl")
    folder = exports_dir() / f"{_stem(path)}-split{'' if kind == 'random' else '-' + kind}-seed{int(seed)}"
    return result, [write(part, folder / f"{part_name}{suffix}", to) for part_name, part in result.parts.items()]


def source_name(upload: str | None, ref: str | None, split: str | None, path: Path) -> str:
    """How the report names a side: 'bundled:ddi-binary test', or an upload's own file name."""
    from data import catalog

    if upload:
        return path.name.split("-", 1)[-1]
    return f"{ref} {split or 'train'}" if catalog.parse(ref)[0] in ("bundled", "shared") else path.name


def leakage_report(upload: str | None, ref: str | None, split: str | None, train_ref: str | None,
                   train_split: str | None):
    """The chosen set (upload, or set and split) as the test side against a training set and split:
    a data.leakage.LeakageReport. Fields are read from the rows, so a plain file of pairs or molecules works."""
    from data import catalog, leakage
    from data.paths import confine_ref

    test_path, _ = resolve_source(upload, ref, split)
    if not train_ref:
        raise DataError(NO_TRAIN_CHOSEN)
    train_ref = confine_ref(train_ref, "Training set")
    train_path = catalog.file_for(train_ref, train_split or "train")
    names = [source_name(None, train_ref, train_split, train_path), source_name(upload, ref, split, test_path)]
    if train_path.resolve() == test_path.resolve():
        names = [f"{names[0]} (as train)", f"{names[1]} (as test)"]
    train_rows, _ = leakage.fields_of_file(train_path)
    test_rows, _ = leakage.fields_of_file(test_path)
    return leakage.compare(train_rows, test_rows, train_name=names[0], test_name=names[1])


def leakage_view(report) -> dict:
    """What the tab shows of a report: markdown, histogram rows ({"similarity", "molecules"}) and the most
    similar test molecules ([test, nearest train, similarity])."""
    return {"markdown": report.markdown(),
            "histogram": [{"similarity": b.label, "molecules": b.count} for b in report.histogram],
            "neighbours": [[n.smiles, n.nearest, round(n.similarity, 3)] for n in report.neighbours[:NEIGHBOURS_SHOWN]]}


def _stem(path: Path) -> str:
    """bundled/ddi-binary/test.jsonl -> ddi-binary-test; uploads keep their own name."""
    return f"{path.parent.name}-{path.stem}" if path.parent != uploads_dir() else path.stem


def build() -> None:
    """Lay out the Data tab: the source (set, split or upload, reading options), its validation, split and
    export, the leakage report. Components go into one dict `c` that the section functions share."""
    import gradio as gr

    from data import catalog

    gr.Markdown(strings.DATA_INTRO)
    c: dict = {"choices": catalog.choices()}
    _source_section(c)
    _validate_section(c)
    _split_section(c)
    _leakage_section(c)
    button, on_split, inputs, outputs = c["split"]  # registered once the leakage report's components exist
    button.click(on_split, inputs, [*outputs, *c["leakage_outputs"]])


def _source_section(c: dict) -> None:
    """The set and split, or an upload, and how to read it; picking a set replaces an earlier upload."""
    import gradio as gr

    from data import catalog
    from data.formats import FORMATS
    from models.builtin import DEFAULT_MODEL

    choices = c["choices"]
    with gr.Row():
        with gr.Column(scale=2):
            c["dataset"] = gr.Dropdown(choices=choices, value=choices[0][1] if choices else None,
                                       label="Bundled or shared set", elem_id="data-set")
            c["split_name"] = gr.Dropdown(choices=["train", "validation", "test"], value="train", label="Split",
                                          elem_id="data-split")
        label = (strings.UPLOAD_LABEL_PUBLIC.format(viewer=settings.viewer_upload_bytes() / 2**20,
                                                    limit=settings.max_upload_bytes() / 2**20)
                 if roles.policy().public else strings.UPLOAD_LABEL.format(limit=settings.max_upload_bytes() / 2**20))
        c["upload"] = gr.File(label=label,
                              file_types=[".jsonl", ".json", ".csv", ".tsv", ".parquet"], type="filepath",
                              elem_id="data-upload", scale=2)
    with gr.Accordion("Reading options", open=False):
        with gr.Row():
            c["fmt"] = gr.Dropdown(choices=[AUTO_FORMAT, *FORMATS], value=AUTO_FORMAT, label="Row format")
            c["mapping"] = gr.Textbox(label="Column mapping (tables)", placeholder="prompt=question,completion=answer")
            c["tokenizer"] = gr.Dropdown(choices=[DEFAULT_MODEL, NO_TOKENIZER], value=DEFAULT_MODEL,
                                         allow_custom_value=True,
                                         label="Tokenizer for token lengths (any builtin: or hf: reference)")
            c["max_tokens"] = gr.Number(value=0, precision=0, label="Flag examples longer than (tokens, 0 = off)")
    c["source"] = [c["upload"], c["dataset"], c["split_name"], c["fmt"], c["mapping"]]

    def on_dataset(ref) -> dict:
        try:
            names = catalog.splits(ref) if ref else ["train"]
        except DataError as exc:
            gr.Warning(str(exc))
            names = ["train"]
        # a picked set replaces an earlier upload
        return {c["split_name"]: gr.update(choices=names, value=names[0]), c["upload"]: None}

    c["dataset"].input(on_dataset, c["dataset"], [c["split_name"], c["upload"]])


def _validate_section(c: dict) -> None:
    """Validate (on the button, or as soon as a file is uploaded): report, statistics, token lengths, sample."""
    import gradio as gr

    validate_button = gr.Button("Validate", variant="primary", elem_id="data-validate")
    report = gr.Markdown(elem_id="data-report")
    with gr.Row():
        stats = gr.JSON(label="Statistics")
        histogram = gr.BarPlot(x="tokens", y="examples", label="Token lengths (chat template applied)")
    sample = gr.Dataframe(headers=["system", "user", "assistant", "meta"], label="Sample rows", wrap=True,
                          elem_id="data-sample",
                          interactive=False)

    def on_validate(upload_path, ref, split_name, fmt_name, mapping_text, tokenizer_ref, limit,
                    progress=gr.Progress()) -> dict:
        import pandas as pd

        try:
            path, train = resolve_source(upload_path, ref, split_name)
            result = inspect(path, fmt_name, mapping_text, tokenizer_ref, int(limit or 0), train,
                             progress=lambda f: progress(f, desc="Validating"))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a sentence, never a stack trace
            return {report: f"**{strings.ERROR_PREFIX}{_message(exc)}**", stats: {}, histogram: None, sample: None}
        plot = pd.DataFrame(result.histogram) if result.histogram else None
        table = pd.DataFrame(result.sample, columns=["system", "user", "assistant", "meta"]) if result.sample else None
        return {report: result.report, stats: result.stats, histogram: plot, sample: table}

    inputs, outputs = [*c["source"], c["tokenizer"], c["max_tokens"]], [report, stats, histogram, sample]
    validate_button.click(on_validate, inputs, outputs)
    c["upload"].upload(on_validate, inputs, outputs)


def _split_section(c: dict) -> None:
    """Split (with the leakage report of the new parts) and convert; the split is registered by build()."""
    import gradio as gr

    from data.export import EXPORT_FORMATS
    from data.splits import KINDS

    with gr.Accordion("Split, convert and download", open=True):
        with gr.Row():
            fractions = gr.Textbox(value="0.72,0.08,0.2", label="Split fractions (train,validation,test)")
            seed = gr.Number(value=0, precision=0, label="Seed")
            stratify = gr.Textbox(value="auto", label="Stratify by (auto, label, none or a meta key)")
            split_kind = gr.Dropdown(choices=[(f"{k}: {v}", k) for k, v in KINDS.items()], value="random",
                                     label="Split by", elem_id="data-split-kind")
            to = gr.Dropdown(choices=EXPORT_FORMATS, value="openai", label="Output format")
        with gr.Row():
            split_button = gr.Button("Split", elem_id="data-split-button")
            export_button = gr.Button("Convert / export", elem_id="data-export")
        files = gr.File(label="Download", file_count="multiple", interactive=False, elem_id="data-files")
        status = gr.Markdown(elem_id="data-status")

    def on_export(upload_path, ref, split_name, fmt_name, mapping_text, to_name) -> dict:
        try:
            path, _ = resolve_source(upload_path, ref, split_name)
            out = export(path, to_name, fmt_name, mapping_text)
        except Exception as exc:  # noqa: BLE001
            return {files: None, status: f"{strings.ERROR_PREFIX}{_message(exc)}"}
        return {files: [str(out)], status: f"Wrote {out.name}"}

    def on_split(upload_path, ref, split_name, fmt_name, mapping_text, fractions_text, seed_value, stratify_by,
                 to_name, kind) -> dict:
        from data import leakage

        try:
            path, _ = resolve_source(upload_path, ref, split_name)
            result, outs = split_files(path, fractions_text, seed_value or 0, stratify_by, to_name, fmt_name,
                                       mapping_text, kind, name=source_name(upload_path, ref, split_name, path))
        except Exception as exc:  # noqa: BLE001
            return {files: None, status: f"{strings.ERROR_PREFIX}{_message(exc)}", **_clear_leakage(c, "")}
        out = {files: [str(p) for p in outs], status: "Wrote " + ", ".join(p.name for p in outs) + ". "
               + result.summary()}
        others = [n for n in result.parts if n != "train" and result.parts[n]]
        if "train" not in result.parts or not others:
            return {**out, **_clear_leakage(c, "")}
        try:
            report = leakage.report_of_split(result.parts, "test" if "test" in others else others[-1],
                                             name=f"{result.kind} split")
        except DataError as exc:  # a set without pair or molecule fields: the split stands, with no report
            return {**out, **_clear_leakage(c, f"No leakage report: {exc}")}
        return {**out, **_show_leakage(c, report)}

    export_button.click(on_export, [*c["source"], to], [files, status])
    c["split"] = (split_button, on_split, [*c["source"], fractions, seed, stratify, to, split_kind], [files, status])


def _leakage_section(c: dict) -> None:
    """The chosen set, as the test side, against a training set and split."""
    import gradio as gr

    from data import catalog

    choices = c["choices"]
    with gr.Accordion("Leakage report", open=True):
        gr.Markdown(LEAKAGE_INTRO)
        with gr.Row():
            train_set = gr.Dropdown(choices=choices, value=choices[0][1] if choices else None, allow_custom_value=True,
                                    label="Training set (bundled, shared or a file path)", elem_id="data-train-set")
            train_split = gr.Dropdown(choices=["train", "validation", "test"], value="train", label="Its split",
                                      elem_id="data-train-split")
            leakage_button = gr.Button("Leakage report", elem_id="data-leakage")
        c["leak_report"] = gr.Markdown(elem_id="data-leakage-report")
        with gr.Row():
            c["leak_plot"] = gr.BarPlot(x="similarity", y="molecules", sort=None, elem_id="data-leakage-plot",
                                        label="Test molecules by nearest-neighbour similarity to train")
            c["leak_table"] = gr.Dataframe(headers=NEIGHBOUR_COLUMNS, label="Most similar test molecules", wrap=True,
                                           interactive=False, elem_id="data-leakage-table")
    c["leakage_outputs"] = [c["leak_report"], c["leak_plot"], c["leak_table"]]

    def on_leakage(upload_path, ref, split_name, train_ref, train_split_name, progress=gr.Progress()) -> dict:
        try:
            progress(0.1, desc="Comparing")
            return _show_leakage(c, leakage_report(upload_path, ref, split_name, train_ref, train_split_name))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a sentence, never a stack trace
            return _clear_leakage(c, f"**{strings.ERROR_PREFIX}{_message(exc)}**")

    def on_train_set(ref) -> dict:
        try:
            names = catalog.splits(ref) if ref and catalog.parse(ref)[0] in ("bundled", "shared") else ["train"]
        except DataError as exc:
            gr.Warning(str(exc))
            names = ["train"]
        return {train_split: gr.update(choices=names, value=names[0])}

    train_set.input(on_train_set, train_set, [train_split])
    leakage_button.click(on_leakage, [c["upload"], c["dataset"], c["split_name"], train_set, train_split],
                         c["leakage_outputs"])


def _show_leakage(c: dict, report) -> dict:
    import pandas as pd

    view = leakage_view(report)
    return {c["leak_report"]: view["markdown"],
            c["leak_plot"]: pd.DataFrame(view["histogram"]) if view["histogram"] else None,
            c["leak_table"]: pd.DataFrame(view["neighbours"], columns=NEIGHBOUR_COLUMNS) if view["neighbours"] else None}


def _clear_leakage(c: dict, text: str) -> dict:
    return {c["leak_report"]: text, c["leak_plot"]: None, c["leak_table"]: None}


def _message(exc: Exception) -> str:
    from models.errors import ModelError

    if isinstance(exc, (DataError, ModelError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
