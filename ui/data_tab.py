"""Data tab: upload or pick a set, see its validation report, statistics, token lengths and sample rows;
split, convert and download. The work is in plain functions (inspect, save_upload, export, split_to_files) so
tests call them without Gradio; build() only wires them to components."""
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
                   fmt: str | None = None, mapping: str | None = None) -> list[Path]:
    from data.export import write
    from data.splits import parse_fractions, split
    from data.validation import load

    fmt, options = _options(fmt, mapping)
    records = load(path, fmt, **options)
    key = {"auto": None, "label": True, "none": False}.get(stratify, stratify)
    parts = split(records, parse_fractions(fractions), seed=int(seed), stratify=key)
    suffix = {"csv": ".csv", "parquet": ".parquet"}.get(to, ".jsonl")
    folder = exports_dir() / f"{_stem(path)}-split-seed{int(seed)}"
    return [write(part, folder / f"{name}{suffix}", to) for name, part in parts.items()]


def _stem(path: Path) -> str:
    """bundled/ddi-binary/test.jsonl -> ddi-binary-test; uploads keep their own name."""
    return f"{path.parent.name}-{path.stem}" if path.parent != uploads_dir() else path.stem


def build() -> None:
    import gradio as gr

    from data import catalog
    from data.export import EXPORT_FORMATS
    from data.formats import FORMATS
    from models.builtin import DEFAULT_MODEL

    gr.Markdown(strings.DATA_INTRO)
    choices = catalog.choices()
    with gr.Row():
        with gr.Column(scale=2):
            dataset = gr.Dropdown(choices=choices, value=choices[0][1] if choices else None,
                                  label="Bundled or shared set", elem_id="data-set")
            split = gr.Dropdown(choices=["train", "validation", "test"], value="train", label="Split",
                                elem_id="data-split")
        label = (strings.UPLOAD_LABEL_PUBLIC.format(viewer=settings.viewer_upload_bytes() / 2**20,
                                                    limit=settings.max_upload_bytes() / 2**20)
                 if roles.policy().public else strings.UPLOAD_LABEL.format(limit=settings.max_upload_bytes() / 2**20))
        upload = gr.File(label=label,
                         file_types=[".jsonl", ".json", ".csv", ".tsv", ".parquet"], type="filepath",
                         elem_id="data-upload", scale=2)
    with gr.Accordion("Reading options", open=False):
        with gr.Row():
            fmt = gr.Dropdown(choices=[AUTO_FORMAT, *FORMATS], value=AUTO_FORMAT, label="Row format")
            mapping = gr.Textbox(label="Column mapping (tables)", placeholder="prompt=question,completion=answer")
            tokenizer = gr.Dropdown(choices=[DEFAULT_MODEL, NO_TOKENIZER], value=DEFAULT_MODEL, allow_custom_value=True,
                                    label="Tokenizer for token lengths (any builtin: or hf: reference)")
            max_tokens = gr.Number(value=0, precision=0, label="Flag examples longer than (tokens, 0 = off)")
    validate_button = gr.Button("Validate", variant="primary", elem_id="data-validate")
    report = gr.Markdown(elem_id="data-report")
    with gr.Row():
        stats = gr.JSON(label="Statistics")
        histogram = gr.BarPlot(x="tokens", y="examples", label="Token lengths (chat template applied)")
    sample = gr.Dataframe(headers=["system", "user", "assistant", "meta"], label="Sample rows", wrap=True,
                          elem_id="data-sample",
                          interactive=False)
    with gr.Accordion("Split, convert and download", open=True):
        with gr.Row():
            fractions = gr.Textbox(value="0.72,0.08,0.2", label="Split fractions (train,validation,test)")
            seed = gr.Number(value=0, precision=0, label="Seed")
            stratify = gr.Textbox(value="auto", label="Stratify by (auto, label, none or a meta key)")
            to = gr.Dropdown(choices=EXPORT_FORMATS, value="openai", label="Output format")
        with gr.Row():
            split_button = gr.Button("Split")
            export_button = gr.Button("Convert / export", elem_id="data-export")
        files = gr.File(label="Download", file_count="multiple", interactive=False, elem_id="data-files")
        status = gr.Markdown(elem_id="data-status")

    def on_dataset(ref):
        try:
            names = catalog.splits(ref) if ref else ["train"]
        except DataError as exc:
            gr.Warning(str(exc))
            names = ["train"]
        return gr.update(choices=names, value=names[0]), None  # a picked set replaces an earlier upload

    def on_validate(upload_path, ref, split_name, fmt_name, mapping_text, tokenizer_ref, limit,
                    progress=gr.Progress()):
        import pandas as pd

        try:
            path, train = resolve_source(upload_path, ref, split_name)
            result = inspect(path, fmt_name, mapping_text, tokenizer_ref, int(limit or 0), train,
                             progress=lambda f: progress(f, desc="Validating"))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a sentence, never a stack trace
            return (f"**{strings.ERROR_PREFIX}{_message(exc)}**", {}, None, None)
        plot = pd.DataFrame(result.histogram) if result.histogram else None
        table = pd.DataFrame(result.sample, columns=["system", "user", "assistant", "meta"]) if result.sample else None
        return result.report, result.stats, plot, table

    def on_export(upload_path, ref, split_name, fmt_name, mapping_text, to_name):
        try:
            path, _ = resolve_source(upload_path, ref, split_name)
            out = export(path, to_name, fmt_name, mapping_text)
        except Exception as exc:  # noqa: BLE001
            return None, f"{strings.ERROR_PREFIX}{_message(exc)}"
        return [str(out)], f"Wrote {out.name}"

    def on_split(upload_path, ref, split_name, fmt_name, mapping_text, fractions_text, seed_value, stratify_by,
                 to_name):
        try:
            path, _ = resolve_source(upload_path, ref, split_name)
            outs = split_to_files(path, fractions_text, seed_value or 0, stratify_by, to_name, fmt_name, mapping_text)
        except Exception as exc:  # noqa: BLE001
            return None, f"{strings.ERROR_PREFIX}{_message(exc)}"
        return [str(p) for p in outs], "Wrote " + ", ".join(p.name for p in outs)

    source = [upload, dataset, split, fmt, mapping]
    dataset.input(on_dataset, dataset, [split, upload])
    validate_button.click(on_validate, [*source, tokenizer, max_tokens], [report, stats, histogram, sample])
    upload.upload(on_validate, [*source, tokenizer, max_tokens], [report, stats, histogram, sample])
    export_button.click(on_export, [*source, to], [files, status])
    split_button.click(on_split, [*source, fractions, seed, stratify, to], [files, status])


def _message(exc: Exception) -> str:
    from models.errors import ModelError

    if isinstance(exc, (DataError, ModelError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
