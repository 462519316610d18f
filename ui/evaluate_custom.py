"""Evaluate tab, "Your own benchmark": a file (or a bundled/shared set) + a prompt template + the column the answer
is in becomes a benchmark, checked (three rendered prompts) before anything runs, saved as YAML in the data folder
and listed with the others. The work is evaluation.custom's; this module turns the form into its arguments and its
answers into sentences, and build() wires it (both buttons are operator-only: saving writes a file on the server).
"""
from __future__ import annotations

from dataclasses import dataclass

from ui import strings
from ui.job_tab import InputProblem, readable

MODES = {"choice (label log-probabilities)": ["choice"], "generate (write, then parse)": ["generate"],
         "both (two leaderboard rows)": ["generate", "choice"]}
TYPED = "typed below"
PREVIEW_CHARS = 1200


@dataclass
class Form:
    """The section's fields, as the page sends them."""

    upload: str | None = None  # a temporary path from the file box
    dataset: str = ""  # or a bundled:/shared: reference or a path the app may read
    split: str = ""
    template: str = "ddi.binary"  # a prompts/ key, or TYPED
    user: str = ""  # the typed template's user turn ({column} placeholders)
    system: str = ""
    fields: str = ""  # placeholder=column, … (empty: placeholders are column names)
    reference: str = "label"
    mode: str = next(iter(MODES))
    labels: str = ""  # a, b, … (empty: the template's labels)
    metrics: list | None = None  # empty: the defaults for the mode
    name: str = ""


def template_choices() -> list[str]:
    import prompts

    return [*prompts.templates(), TYPED]


def metric_choices() -> list[str]:
    from evaluation.metrics import all_metrics

    return sorted(all_metrics())


def _list(text) -> list[str]:
    return [part.strip() for part in str(text or "").split(",") if part.strip()]


def _mapping(text) -> dict[str, str]:
    mapping = {}
    for part in _list(text):
        placeholder, sep, column = part.partition("=")
        if not sep or not placeholder.strip() or not column.strip():
            raise InputProblem(strings.EVAL_CUSTOM_BAD_FIELDS.format(part=part))
        mapping[placeholder.strip()] = column.strip()
    return mapping


def dataset_of(form: Form) -> str:
    """The upload, copied into the app's uploads folder (size-limited), else the typed reference, confined."""
    from ui.finetune_form import confined, upload_dataset

    if form.upload:
        return upload_dataset(form.upload)
    dataset = (form.dataset or "").strip()
    if not dataset:
        raise InputProblem(strings.EVAL_CUSTOM_NO_DATA)
    return confined(dataset, "Data set")


def benchmark_of(form: Form):
    """The custom benchmark the form describes, or InputProblem with the sentence evaluation.custom wrote."""
    from evaluation import custom
    from evaluation.benchmark import BenchmarkError

    if form.template == TYPED:
        if not form.user.strip():
            raise InputProblem(strings.EVAL_CUSTOM_NO_TEMPLATE)
        template = {"user": form.user, **({"system": form.system} if form.system.strip() else {})}
    else:
        template = form.template
    if form.mode not in MODES:
        raise InputProblem(strings.EVAL_CUSTOM_BAD_MODE.format(mode=form.mode, known=", ".join(MODES)))
    modes = MODES[form.mode]
    try:
        return custom.build(dataset_of(form), template=template, reference=(form.reference or "").strip(),
                            mode=modes[0] if len(modes) == 1 else modes, fields=_mapping(form.fields),
                            labels=_list(form.labels) or None, metrics=list(form.metrics or []) or None,
                            split=form.split.strip() or None, name=form.name.strip() or None)
    except (BenchmarkError, ValueError, OSError) as exc:
        raise InputProblem(readable(exc)) from None


def check(form: Form) -> str:
    """Markdown: the items, labels (with counts) or numbers, which column fills each template field, warnings, and
    the first three prompts as the model will see them."""
    from evaluation import custom
    from evaluation.benchmark import BenchmarkError

    bench = benchmark_of(form)
    try:
        found = custom.check(bench, 3)
    except (BenchmarkError, ValueError, OSError) as exc:
        raise InputProblem(readable(exc)) from None
    lines = [f"**{strings.EVAL_CUSTOM_OK.format(name=bench.name, modes=' and '.join(bench.modes))}**",
             f"- {found['items']:,} items from {found['dataset']}; the answer is in `{found['reference']}`"]
    if found.get("labels"):
        lines.append("- labels: " + ", ".join(f"{label} ({count:,})" for label, count in found["labels"].items()))
    if found.get("numbers"):
        n = found["numbers"]
        lines.append(f"- references from {n['min']:g} to {n['max']:g} (mean {n['mean']:.3g})")
    if found.get("placeholders"):
        lines.append("- template fields: " + ", ".join(f"{{{p}}} ← `{c}`" for p, c in found["placeholders"].items()))
    lines.append(f"- metrics: {', '.join(found['metrics'])}")
    lines += [f"- ⚠️ {warning}" for warning in found.get("warnings", [])]
    for n, messages in enumerate(found["prompts"], 1):
        text = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
        if len(text) > PREVIEW_CHARS:
            text = text[:PREVIEW_CHARS] + " …"
        lines += ["", f"Prompt {n}:", "```text", text.replace("```", "ʼʼʼ"), "```"]
    return "\n".join(lines)


def save(form: Form) -> str:
    """Save the checked benchmark under its name; returns the name (Start evaluation can pick it at once)."""
    from evaluation import custom
    from evaluation.benchmark import BenchmarkError

    if not form.name.strip():
        raise InputProblem(strings.EVAL_CUSTOM_NO_NAME)
    bench = benchmark_of(form)
    try:
        custom.check_name(form.name)
        custom.check(bench, 3)  # every row readable, every placeholder a column: before anything is written
        custom.save(bench, form.name.strip())
    except (BenchmarkError, ValueError, OSError) as exc:
        raise InputProblem(readable(exc)) from None
    return form.name.strip()


# -- the section ------------------------------------------------------------------------------------------------
def build(benchmarks_dropdown, choices_fn) -> None:
    """Lay out the section under the Evaluate form; a saved benchmark joins `benchmarks_dropdown` (its choices
    from `choices_fn()`), chosen."""
    import gradio as gr

    with gr.Accordion("Your own benchmark: a file of items + a prompt template", open=False):
        gr.Markdown(strings.EVAL_CUSTOM_INTRO)
        with gr.Row():
            upload = gr.File(label="File (JSONL, CSV, TSV, JSON, Parquet)", type="filepath",
                             file_types=[".jsonl", ".csv", ".tsv", ".json", ".parquet"], elem_id="eval-custom-file")
            dataset = gr.Textbox(label="…or a data set (bundled:…, shared:…, or a path the app reads)",
                                 elem_id="eval-custom-dataset")
            split = gr.Textbox(label="Split (empty: test, else validation; a file is read whole)",
                               elem_id="eval-custom-split")
        with gr.Row():
            template = gr.Dropdown(template_choices(), value=Form.template, label="Prompt template (prompts/)",
                                   elem_id="eval-custom-template")
            fields = gr.Textbox(label="Template field = column (empty: the same names)", placeholder="drug1=name_a",
                                elem_id="eval-custom-fields")
            reference = gr.Textbox(value=Form.reference, label="Reference column (the right answer)",
                                   elem_id="eval-custom-reference")
        with gr.Row():
            user = gr.Textbox(label="Typed template: user turn ({column} placeholders)", lines=3,
                              elem_id="eval-custom-user")
            system = gr.Textbox(label="Typed template: system turn (optional)", lines=3, elem_id="eval-custom-system")
        with gr.Row():
            mode = gr.Radio(list(MODES), value=Form.mode, label="Mode", elem_id="eval-custom-mode")
            labels = gr.Textbox(label="Labels (comma-separated; empty: the template's)", elem_id="eval-custom-labels")
            metrics = gr.Dropdown(metric_choices(), value=[], multiselect=True,
                                  label="Metrics (none chosen: the mode's defaults)", elem_id="eval-custom-metrics")
            name = gr.Textbox(label="Name to save it under", placeholder="my-ddi-pairs", elem_id="eval-custom-name")
        with gr.Row():
            check_button = gr.Button("Check (three prompts)", elem_id="eval-custom-check")
            save_button = gr.Button("Save benchmark", variant="primary", elem_id="eval-custom-save")
        shown = gr.Markdown(elem_id="eval-custom-result")
    inputs = [upload, dataset, split, template, user, system, fields, reference, mode, labels, metrics, name]

    def form_of(*values) -> Form:
        return Form(*values)

    def on_custom_check(*values):
        try:
            return {shown: check(form_of(*values))}
        except Exception as exc:  # noqa: BLE001 - the page shows a sentence, never a stack trace
            return {shown: f"**{strings.ERROR_PREFIX}{readable(exc)}**"}

    def on_custom_save(chosen, *values):
        try:
            saved = save(form_of(*values))
        except Exception as exc:  # noqa: BLE001 - the page shows a sentence, never a stack trace
            return {shown: f"**{strings.ERROR_PREFIX}{readable(exc)}**"}
        offered, _ = choices_fn()
        keep = [c for c in chosen or [] if c != saved]
        return {shown: strings.EVAL_CUSTOM_SAVED.format(name=saved),
                benchmarks_dropdown: gr.update(choices=offered, value=[*keep, saved])}

    check_button.click(on_custom_check, inputs, [shown], concurrency_limit=2)
    save_button.click(on_custom_save, [benchmarks_dropdown, *inputs], [shown, benchmarks_dropdown],
                      concurrency_limit=2)
