"""Leaderboard tab: every evaluation result in one sortable table, each number with its 95 % bootstrap interval
(`0.62 ± 0.05`); a row's predictions (wrong ones first); two rows compared metric by metric with paired tests
when they scored the same items and, for grouped benchmarks such as drug-qa, task type by task type.

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
INTERVALS_NOTE = ("Each number is shown as **value ± half the width of its 95 % bootstrap interval** (percentile "
                  "method, 1,000 resamples of the items, seed 0): with few items that interval is wide, and two "
                  "rows whose intervals overlap may not differ. The CSV export has each interval's low and high "
                  "ends; *Compare* tests two rows on the items both scored (McNemar, paired bootstrap).")


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
    """The leaderboard for the filters, best first by the benchmark's first metric, with each metric's interval
    (low/high columns: the CSV has them, `shown` turns them into ±)."""
    from evaluation import leaderboard

    return leaderboard.table(*_filters(benchmark, model, method), intervals=True)


def shown(frame):
    """The table as the tab shows it: each metric as `0.62 ± 0.05`; the low/high columns stay in the CSV only."""
    from evaluation import leaderboard

    if frame is None:
        return frame
    frame = frame.copy()
    ends = [c for c in frame.columns if c.endswith(" low") and f"{c[:-4]} high" in frame.columns]
    for low in ends:
        output = low[:-4]
        title = leaderboard.column_title(output)
        if title in frame.columns:
            frame[title] = [leaderboard.with_interval(v, lo, hi) for v, lo, hi in
                            zip(frame[title], frame[low], frame[f"{output} high"])]
    return frame.drop(columns=[c for low in ends for c in (low, f"{low[:-4]} high")])


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


def pairs_from_row(row_id) -> str:
    """DPO pairs from the row's mistakes (training.pairs: the reference chosen, the model's wrong answer rejected),
    written into the data folder; returns what was written and how to train on it."""
    import settings
    from training import pairs

    if row_id in (None, ""):
        raise InputProblem(strings.BOARD_CLICK_FIRST)
    row = _row(row_id)
    folder = (settings.data_dir() / "pairs").resolve()
    out = folder / f"row-{row.id}-{_slug(row.model)}-{_slug(row.benchmark)}-mistakes.jsonl"  # names from the store
    folder.mkdir(parents=True, exist_ok=True)
    try:
        made = pairs.build(f"row:{row.id}", out)
    except pairs.PairsError as exc:
        raise InputProblem(str(exc)) from None
    return strings.BOARD_PAIRS_WRITTEN.format(summary=made.summary(), path=out.resolve())


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(text))[:60]


def comparison(id_a, id_b) -> tuple[str, object, object]:
    """A heading that says in words what the paired tests find (or why there are none), each metric of A and B
    with the delta (B − A), the better one, the delta's interval and p-value, and per task type scores when the
    benchmark is grouped (empty frame otherwise)."""
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
    pairing = leaderboard.paired(a.id, b.id)
    heading += "  \n" + pairing.sentence()
    return (heading, leaderboard.compare(a.id, b.id, pairing).round(4),
            leaderboard.compare_groups(a.id, b.id).round(4))


# -- the tab ----------------------------------------------------------------------------------------------------
def build(tab=None) -> None:
    """Lay out the Leaderboard tab; it refreshes when `tab` is selected. Components go into one dict `c` that the
    layout and event functions share."""
    import gradio as gr

    try:
        benches, methods, first = benchmark_choices(), method_choices(), shown(load_table())
    except Exception:  # noqa: BLE001 - an unreadable store must not stop the app; Refresh shows the reason
        benches, methods, first = [strings.BOARD_ALL], [strings.BOARD_ANY_METHOD], None
    gr.Markdown(strings.BOARD_INTRO)
    gr.Markdown(INTERVALS_NOTE, elem_id="board-intervals-note")
    c: dict = {}
    _table_layout(c, benches, methods, first)
    _details_layout(c, first)
    _table_events(c, tab)
    _predictions_events(c)
    _compare_events(c)


def _table_layout(c: dict, benches: list[str], methods: list[str], first) -> None:
    import gradio as gr

    with gr.Row():
        c["benchmark"] = gr.Dropdown(benches, value=strings.BOARD_ALL, label="Benchmark", elem_id="board-benchmark")
        c["model"] = gr.Textbox(label="Model contains", placeholder="e.g. smollm2", elem_id="board-model")
        c["method"] = gr.Dropdown(methods, value=strings.BOARD_ANY_METHOD, label="Method", allow_custom_value=True,
                                  elem_id="board-method")
    with gr.Row():
        c["refresh"] = gr.Button("Refresh", elem_id="board-refresh")
        c["export"] = gr.Button("Export CSV", elem_id="board-export")
    c["notice"] = gr.Markdown(elem_id="board-notice")
    c["table"] = gr.Dataframe(first, label="Leaderboard (click a column to sort, a row for its predictions)",
                              interactive=False, elem_id="board-table")
    c["download"] = gr.File(label="CSV", interactive=False, visible=False, elem_id="board-csv")


def _details_layout(c: dict, first) -> None:
    """The clicked row's predictions and the comparison of two rows."""
    import gradio as gr

    from evaluation.leaderboard import TEST_COLUMNS

    with gr.Accordion("Predictions of the clicked row", open=True):
        c["clicked"] = gr.State(None)
        c["predictions_heading"] = gr.Markdown(strings.BOARD_CLICK_FIRST, elem_id="board-predictions-heading")
        c["predictions"] = gr.Dataframe(headers=["id", "prompt", "output", "parsed", "reference", "score"],
                                        label="Predictions (worst first)", interactive=False, wrap=True,
                                        max_height=600, elem_id="board-predictions")
        with gr.Row():
            c["pairs_button"] = gr.Button("Preference pairs from this row's mistakes (for DPO)",
                                          elem_id="board-pairs")
        c["pairs_message"] = gr.Markdown(elem_id="board-pairs-message")
    with gr.Accordion("Compare two rows", open=True):
        choices = row_choices(first)
        with gr.Row():
            c["row_a"] = gr.Dropdown(choices, value=None, label="Row A", elem_id="board-a")
            c["row_b"] = gr.Dropdown(choices, value=None, label="Row B", elem_id="board-b")
        with gr.Row():
            c["compare_button"] = gr.Button("Compare A and B", elem_id="board-compare")
            c["compare_clicked"] = gr.Button("Compare A with the clicked row", elem_id="board-compare-clicked")
        c["compare_heading"] = gr.Markdown(elem_id="board-compare-heading")
        c["compare_table"] = gr.Dataframe(headers=["metric", "a", "b", "delta (b − a)", "better", *TEST_COLUMNS],
                                          label="Per metric: B − A", interactive=False,
                                          elem_id="board-compare-table")
        c["groups_table"] = gr.Dataframe(label="Per task type (the benchmark's groups): B − A", interactive=False,
                                         visible=False, max_height=600, elem_id="board-groups-table")


def _table_events(c: dict, tab) -> None:
    """Refresh (also when the tab is selected), the filters and the CSV export."""
    import gradio as gr

    def rows_update(frame, a, b) -> dict:
        rows = row_choices(frame)
        ids = {i for _, i in rows}
        return {c["row_a"]: gr.update(choices=rows, value=a if a in ids else None),
                c["row_b"]: gr.update(choices=rows, value=b if b in ids else None)}

    def on_refresh(bench, model_text, method_name, a, b) -> dict:
        try:
            benches, methods = benchmark_choices(), method_choices()
            bench = bench if bench in benches else strings.BOARD_ALL
            frame = load_table(bench, model_text, method_name)
        except Exception as exc:  # noqa: BLE001 - a sentence, never a stack trace
            return {c["benchmark"]: gr.skip(), c["method"]: gr.skip(), c["table"]: gr.skip(),
                    c["notice"]: f"{strings.ERROR_PREFIX}{readable(exc)}", c["row_a"]: gr.skip(),
                    c["row_b"]: gr.skip()}
        return {c["benchmark"]: gr.update(choices=benches, value=bench), c["method"]: gr.update(choices=methods),
                c["table"]: shown(frame), c["notice"]: "" if not frame.empty else strings.BOARD_EMPTY,
                **rows_update(frame, a, b)}

    def on_filter(bench, model_text, method_name, a, b) -> dict:
        try:
            frame = load_table(bench, model_text, method_name)
        except Exception as exc:  # noqa: BLE001
            return {c["table"]: gr.skip(), c["notice"]: f"{strings.ERROR_PREFIX}{readable(exc)}",
                    c["row_a"]: gr.skip(), c["row_b"]: gr.skip()}
        return {c["table"]: shown(frame), c["notice"]: "" if not frame.empty else strings.BOARD_EMPTY,
                **rows_update(frame, a, b)}

    def on_export(bench, model_text, method_name) -> dict:
        try:
            path = export_csv(bench, model_text, method_name)
        except Exception as exc:  # noqa: BLE001 - a sentence, never a stack trace
            return {c["notice"]: f"{strings.ERROR_PREFIX}The export failed: {readable(exc)}",
                    c["download"]: gr.update(visible=False)}
        with open(path, newline="", encoding="utf-8") as fh:
            rows = sum(1 for _ in csv.reader(fh)) - 1
        return {c["notice"]: strings.BOARD_EXPORTED.format(rows=rows, name=path.name),
                c["download"]: gr.update(value=str(path), visible=True)}

    filters = [c["benchmark"], c["model"], c["method"], c["row_a"], c["row_b"]]
    refresh_outputs = [c["benchmark"], c["method"], c["table"], c["notice"], c["row_a"], c["row_b"]]
    filter_outputs = [c["table"], c["notice"], c["row_a"], c["row_b"]]
    c["refresh"].click(on_refresh, filters, refresh_outputs)
    if tab is not None:
        tab.select(on_refresh, filters, refresh_outputs)
    c["benchmark"].input(on_filter, filters, filter_outputs)
    c["method"].input(on_filter, filters, filter_outputs)
    c["model"].submit(on_filter, filters, filter_outputs)
    c["model"].blur(on_filter, filters, filter_outputs)
    c["export"].click(on_export, [c["benchmark"], c["model"], c["method"]], [c["notice"], c["download"]])


def _predictions_events(c: dict) -> None:
    import gradio as gr

    def on_select(frame, evt: gr.SelectData) -> dict:
        row_id = clicked_row_id(frame, evt.index, evt.row_value)
        if row_id is None:
            return {c["clicked"]: None, c["predictions_heading"]: strings.BOARD_CLICK_FIRST, c["predictions"]: None}
        try:
            heading, items = predictions_view(row_id)
        except Exception as exc:  # noqa: BLE001
            return {c["clicked"]: None, c["predictions_heading"]: f"{strings.ERROR_PREFIX}{readable(exc)}",
                    c["predictions"]: None}
        return {c["clicked"]: row_id, c["predictions_heading"]: heading, c["predictions"]: items}

    c["table"].select(on_select, c["table"], [c["clicked"], c["predictions_heading"], c["predictions"]])

    def on_pairs(row_id):
        try:
            return {c["pairs_message"]: pairs_from_row(row_id)}
        except Exception as exc:  # noqa: BLE001 - the page shows a sentence, never a stack trace
            return {c["pairs_message"]: f"{strings.ERROR_PREFIX}{readable(exc)}"}

    c["pairs_button"].click(on_pairs, c["clicked"], [c["pairs_message"]], concurrency_limit=2)


def _compare_events(c: dict) -> None:
    import gradio as gr

    def compare_rows(a, b) -> dict:
        try:
            heading, per_metric, groups = comparison(a, b)
        except Exception as exc:  # noqa: BLE001
            return {c["compare_heading"]: f"{strings.ERROR_PREFIX}{readable(exc)}", c["compare_table"]: None,
                    c["groups_table"]: gr.update(value=None, visible=False)}
        return {c["compare_heading"]: heading, c["compare_table"]: per_metric,
                c["groups_table"]: gr.update(value=groups, visible=not groups.empty)}

    def on_compare_clicked(a, row_id) -> dict:
        if row_id is None:
            return {c["row_b"]: gr.skip(), c["compare_heading"]: f"{strings.ERROR_PREFIX}{strings.BOARD_CLICK_FIRST}",
                    c["compare_table"]: None, c["groups_table"]: gr.update(visible=False)}
        return {c["row_b"]: gr.update(value=row_id), **compare_rows(a, row_id)}

    outputs = [c["compare_heading"], c["compare_table"], c["groups_table"]]
    c["compare_button"].click(compare_rows, [c["row_a"], c["row_b"]], outputs)
    c["compare_clicked"].click(on_compare_clicked, [c["row_a"], c["clicked"]], [c["row_b"], *outputs])
