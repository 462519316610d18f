"""Leaderboard tab: every evaluation result in one sortable table; a row's predictions (wrong ones first); two
rows compared metric by metric and, for grouped benchmarks such as drug-qa, task type by task type.

The tables come from evaluation.leaderboard (the registry gives each metric column its ↑/↓ arrow); the functions
here only translate the form into its arguments, so tests call them without Gradio.
"""
# No `from __future__ import annotations`: Gradio reads the gr.SelectData hint of on_select at run time.
import csv
from datetime import datetime
from pathlib import Path

from ui import strings
from ui.job_tab import InputProblem, readable

CELL_CHARS = 400


# -- the table --------------------------------------------------------------------------------------------------
def benchmark_choices() -> list[str]:
    """'all', then the benchmarks that have results, then the others (so a new benchmark can be checked too)."""
    from evaluation import benchmark as benchmarks, leaderboard

    with_results = leaderboard.benchmarks()
    return [strings.BOARD_ALL, *with_results, *[n for n in benchmarks.names() if n not in with_results]]


def method_choices() -> list[str]:
    from evaluation import leaderboard

    methods: list[str] = []
    for row in leaderboard.rows():
        if row.method not in methods:
            methods.append(row.method)
    return [strings.BOARD_ANY_METHOD, *sorted(methods)]


def _filters(benchmark: str | None, model: str | None, method: str | None) -> tuple[str | None, str, str]:
    benchmark = None if not benchmark or benchmark == strings.BOARD_ALL else benchmark
    method = "" if not method or method == strings.BOARD_ANY_METHOD else method
    return benchmark, (model or "").strip(), method


def load_table(benchmark: str | None = None, model: str | None = "", method: str | None = ""):
    """The leaderboard for the filters, best first by the benchmark's first metric."""
    from evaluation import leaderboard

    return leaderboard.table(*_filters(benchmark, model, method))


def export_csv(benchmark: str | None = None, model: str | None = "", method: str | None = "") -> Path:
    """The filtered table as CSV under data_dir()/exports, where the app serves downloads from."""
    from data.io import atomic_write
    from ui.data_tab import exports_dir

    frame = load_table(benchmark, model, method)
    name = (benchmark if benchmark and benchmark != strings.BOARD_ALL else "all").replace("/", "_")
    path = exports_dir() / f"leaderboard-{name}-{datetime.now():%Y%m%d-%H%M%S}.csv"
    with atomic_write(path) as fh:
        frame.to_csv(fh, index=False)
    return path


def row_choices(frame) -> list[tuple[str, int]]:
    """(label, id) of each row in the table, for the comparison pickers."""
    if frame is None or frame.empty:
        return []
    return [(f"#{int(r['id'])} {r['model']} · {r['benchmark']} · {r['variant']}", int(r["id"]))
            for _, r in frame.iterrows()]


def clicked_row_id(frame, index=None, row_value=None) -> int | None:
    """The id of a clicked row: from the row's own values (right even after sorting in the browser), else its
    position in the table."""
    try:
        if row_value:
            return int(float(row_value[0]))
        if frame is not None and index is not None:
            row = index[0] if isinstance(index, (list, tuple)) else index
            return int(frame.iloc[int(row)]["id"])
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    return None


# -- one row and two rows -----------------------------------------------------------------------------------------
def _row(row_id):
    from evaluation import leaderboard

    try:
        row = leaderboard.get(int(row_id))
    except (TypeError, ValueError):
        row = None
    if row is None:
        raise InputProblem(strings.BOARD_NO_ROW.format(row_id=row_id))
    return row


def _short(value):
    text = "" if value is None else str(value)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + " …"


def predictions_view(row_id) -> tuple[str, object]:
    """A heading for the row and its per-item predictions, the wrong (lowest-scoring) ones first."""
    from evaluation import leaderboard

    row = _row(row_id)
    frame = leaderboard.predictions(row.id)
    for column in ("prompt", "output", "reference", "parsed"):
        if column in frame:
            frame[column] = frame[column].map(_short)
    heading = (f"**#{row.id} {row.model}** on **{row.benchmark}** ({row.variant}): {len(frame)} predictions, "
               f"worst first")
    if frame.empty:
        heading += " (the predictions file is gone)"
    return heading, frame


def comparison(id_a, id_b) -> tuple[str, object, object]:
    """A heading, each metric of A and B with the delta (B − A) and the better one, and per task type scores
    when the benchmark is grouped (empty frame otherwise)."""
    from evaluation import leaderboard

    if id_a in (None, "") or id_b in (None, ""):
        raise InputProblem(strings.BOARD_PICK_TWO)
    a, b = _row(id_a), _row(id_b)
    heading = (f"**A** #{a.id} {a.model} · {a.benchmark} · {a.variant} vs "
               f"**B** #{b.id} {b.model} · {b.benchmark} · {b.variant}")
    if a.benchmark != b.benchmark:
        heading += f"  \n_Different benchmarks ({a.benchmark}, {b.benchmark}): the numbers are not comparable._"
    elif a.items != b.items:
        heading += f"  \n_Different numbers of items ({a.items}, {b.items}): the numbers are not comparable._"
    return heading, leaderboard.compare(a.id, b.id).round(4), leaderboard.compare_groups(a.id, b.id).round(4)


# -- the tab ----------------------------------------------------------------------------------------------------
def build(tab=None) -> None:
    """Lay out the Leaderboard tab; it refreshes when `tab` is selected."""
    import gradio as gr

    try:
        benches, methods, first = benchmark_choices(), method_choices(), load_table()
    except Exception:  # noqa: BLE001 - an unreadable store must not stop the app; Refresh shows the reason
        benches, methods, first = [strings.BOARD_ALL], [strings.BOARD_ANY_METHOD], None
    gr.Markdown(strings.BOARD_INTRO)
    with gr.Row():
        benchmark = gr.Dropdown(benches, value=strings.BOARD_ALL, label="Benchmark", elem_id="board-benchmark")
        model = gr.Textbox(label="Model contains", placeholder="e.g. smollm2", elem_id="board-model")
        method = gr.Dropdown(methods, value=strings.BOARD_ANY_METHOD, label="Method", allow_custom_value=True,
                             elem_id="board-method")
    with gr.Row():
        refresh = gr.Button("Refresh", elem_id="board-refresh")
        export = gr.Button("Export CSV", elem_id="board-export")
    notice = gr.Markdown(elem_id="board-notice")
    table = gr.Dataframe(first, label="Leaderboard (click a column to sort, a row for its predictions)",
                         interactive=False, elem_id="board-table")
    download = gr.File(label="CSV", interactive=False, visible=False, elem_id="board-csv")
    with gr.Accordion("Predictions of the clicked row", open=True):
        clicked = gr.State(None)
        predictions_heading = gr.Markdown(strings.BOARD_CLICK_FIRST, elem_id="board-predictions-heading")
        predictions = gr.Dataframe(headers=["id", "prompt", "output", "parsed", "reference", "score"],
                                   label="Predictions (worst first)", interactive=False, wrap=True,
                                   max_height=600, elem_id="board-predictions")
    with gr.Accordion("Compare two rows", open=True):
        choices = row_choices(first)
        with gr.Row():
            row_a = gr.Dropdown(choices, value=None, label="Row A", elem_id="board-a")
            row_b = gr.Dropdown(choices, value=None, label="Row B", elem_id="board-b")
        with gr.Row():
            compare_button = gr.Button("Compare A and B", elem_id="board-compare")
            compare_clicked = gr.Button("Compare A with the clicked row", elem_id="board-compare-clicked")
        compare_heading = gr.Markdown(elem_id="board-compare-heading")
        compare_table = gr.Dataframe(headers=["metric", "a", "b", "delta (b − a)", "better"],
                                     label="Per metric: B − A", interactive=False, elem_id="board-compare-table")
        groups_table = gr.Dataframe(label="Per task type (the benchmark's groups): B − A", interactive=False,
                                    visible=False, max_height=600, elem_id="board-groups-table")

    def on_refresh(bench, model_text, method_name, a, b):
        try:
            benches, methods = benchmark_choices(), method_choices()
            bench = bench if bench in benches else strings.BOARD_ALL
            frame = load_table(bench, model_text, method_name)
        except Exception as exc:  # noqa: BLE001 - a sentence, never a stack trace
            return (*[gr.skip()] * 3, f"{strings.ERROR_PREFIX}{readable(exc)}", gr.skip(), gr.skip())
        rows = row_choices(frame)
        ids = {i for _, i in rows}
        return (gr.update(choices=benches, value=bench), gr.update(choices=methods), frame,
                "" if not frame.empty else strings.BOARD_EMPTY,
                gr.update(choices=rows, value=a if a in ids else None),
                gr.update(choices=rows, value=b if b in ids else None))

    def on_filter(bench, model_text, method_name, a, b):
        try:
            frame = load_table(bench, model_text, method_name)
        except Exception as exc:  # noqa: BLE001
            return gr.skip(), f"{strings.ERROR_PREFIX}{readable(exc)}", gr.skip(), gr.skip()
        rows = row_choices(frame)
        ids = {i for _, i in rows}
        return (frame, "" if not frame.empty else strings.BOARD_EMPTY,
                gr.update(choices=rows, value=a if a in ids else None),
                gr.update(choices=rows, value=b if b in ids else None))

    def on_export(bench, model_text, method_name):
        try:
            path = export_csv(bench, model_text, method_name)
        except Exception as exc:  # noqa: BLE001 - a sentence, never a stack trace
            return f"{strings.ERROR_PREFIX}The export failed: {readable(exc)}", gr.update(visible=False)
        with open(path, newline="", encoding="utf-8") as fh:
            rows = sum(1 for _ in csv.reader(fh)) - 1
        return strings.BOARD_EXPORTED.format(rows=rows, name=path.name), gr.update(value=str(path), visible=True)

    def on_select(frame, evt: gr.SelectData):
        row_id = clicked_row_id(frame, evt.index, evt.row_value)
        if row_id is None:
            return None, strings.BOARD_CLICK_FIRST, None
        try:
            heading, items = predictions_view(row_id)
        except Exception as exc:  # noqa: BLE001
            return None, f"{strings.ERROR_PREFIX}{readable(exc)}", None
        return row_id, heading, items

    def compare_rows(a, b):
        try:
            heading, per_metric, groups = comparison(a, b)
        except Exception as exc:  # noqa: BLE001
            return f"{strings.ERROR_PREFIX}{readable(exc)}", None, gr.update(value=None, visible=False)
        return heading, per_metric, gr.update(value=groups, visible=not groups.empty)

    def on_compare_clicked(a, row_id):
        if row_id is None:
            return gr.skip(), f"{strings.ERROR_PREFIX}{strings.BOARD_CLICK_FIRST}", None, gr.update(visible=False)
        return (gr.update(value=row_id), *compare_rows(a, row_id))

    filters = [benchmark, model, method, row_a, row_b]
    refresh_outputs = [benchmark, method, table, notice, row_a, row_b]
    refresh.click(on_refresh, filters, refresh_outputs)
    if tab is not None:
        tab.select(on_refresh, filters, refresh_outputs)
    benchmark.input(on_filter, filters, [table, notice, row_a, row_b])
    method.input(on_filter, filters, [table, notice, row_a, row_b])
    model.submit(on_filter, filters, [table, notice, row_a, row_b])
    model.blur(on_filter, filters, [table, notice, row_a, row_b])
    export.click(on_export, [benchmark, model, method], [notice, download])
    table.select(on_select, table, [clicked, predictions_heading, predictions])
    compare_button.click(compare_rows, [row_a, row_b], [compare_heading, compare_table, groups_table])
    compare_clicked.click(on_compare_clicked, [row_a, clicked],
                          [row_b, compare_heading, compare_table, groups_table])
