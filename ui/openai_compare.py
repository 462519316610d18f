"""OpenAI tab, "Compare them": the OpenAI fine-tune and the local run that replaces it, evaluated on one benchmark in
one evaluation job (the Evaluate tab's), then the paired test of their two leaderboard rows (the Leaderboard tab's
compare), so the question "is the local model as good?" has an answer with a p-value before OpenAI's cutoff.
"""
from __future__ import annotations

from ui import strings
from ui.job_tab import InputProblem, readable


def fine_tuned_choices() -> list[str]:
    """openai:<model> of every OpenAI job that produced a model, newest first."""
    import store
    from sqlalchemy import select
    from store.tables import OpenAIJob

    try:
        with store.session() as s:
            found = s.scalars(select(OpenAIJob.fine_tuned_model).where(OpenAIJob.fine_tuned_model.is_not(None))
                              .order_by(OpenAIJob.created.desc())).all()
    except Exception:  # noqa: BLE001 - an unreadable store offers nothing; the reference can still be typed
        return []
    return list(dict.fromkeys(f"openai:{m}" for m in found if m))


def local_choices() -> list[str]:
    """run:<id> of every finished training run, newest first (head runs too: they score label benchmarks)."""
    import jobs

    try:
        return [f"run:{r.id}" for r in jobs.list_runs("training") if r.status == "done"]
    except Exception:  # noqa: BLE001 - as above
        return []


def evaluate_both(openai_model: str | None, local_model: str | None, benchmark: str | None, limit=0) -> str:
    """Start one evaluation job of both models on the benchmark; returns its run id."""
    from ui import evaluate_tab

    openai_model, local_model = (openai_model or "").strip(), (local_model or "").strip()
    if not openai_model or not local_model:
        raise InputProblem(strings.OPENAI_BOTH_PICK)
    if not benchmark:
        raise InputProblem(strings.EVAL_NO_BENCHMARK)
    return evaluate_tab.start_evaluation([openai_model, local_model], [benchmark], limit).run_id


def both_result(run_id: str | None) -> tuple[str, object]:
    """(heading, per-metric table) of a "both" run: its progress (and no table) while it runs, then the paired
    compare of the OpenAI model's row (A) with the local model's (B); InputProblem when the run failed."""
    from ui import evaluate_tab, leaderboard_tab

    if not run_id:
        raise InputProblem(strings.OPENAI_BOTH_NONE)
    view = evaluate_tab.run_view(run_id)
    if not view.finished:
        return f"{view.status_markdown}\n\n{view.progress_markdown}", None
    if view.status != "done":
        raise InputProblem(f"{run_id}: {view.error or view.status}")
    rows: dict[tuple, dict[str, int]] = {}
    for r in view.scored:
        if r.get("leaderboard_id") is not None:
            rows.setdefault((r.get("benchmark"), r.get("variant")), {})[r.get("model")] = r["leaderboard_id"]
    pairs = [ids for ids in rows.values() if len(ids) == 2]
    if not pairs:
        return strings.OPENAI_BOTH_NO_ROWS.format(run_id=run_id), None
    openai_first = sorted(pairs[0].items(), key=lambda kv: not kv[0].startswith("openai:"))
    heading, table, _ = leaderboard_tab.comparison(openai_first[0][1], openai_first[1][1])
    return heading, table


def build(c: dict) -> None:
    """Lay out the section; `c` is the tab's component dict (the section adds its own entries)."""
    import gradio as gr

    from ui import evaluate_tab

    with gr.Accordion("Compare them: the OpenAI fine-tune and the local run on one benchmark", open=False):
        gr.Markdown(strings.OPENAI_BOTH_INTRO)
        with gr.Row():
            c["both_openai"] = gr.Dropdown(fine_tuned_choices(), value=None, allow_custom_value=True,
                                           label="OpenAI fine-tuned model (openai:ft:…)", elem_id="openai-both-a")
            c["both_local"] = gr.Dropdown(local_choices(), value=None, allow_custom_value=True,
                                          label="Local model (run:…)", elem_id="openai-both-b")
            offered, _ = evaluate_tab.benchmark_choices()
            c["both_benchmark"] = gr.Dropdown(offered, value=None, label="Benchmark", elem_id="openai-both-bench")
            c["both_limit"] = gr.Number(value=0, precision=0, label="Limit (0 = all)", elem_id="openai-both-limit")
        with gr.Row():
            start = gr.Button("Evaluate both", variant="primary", elem_id="openai-both-start")
            show = gr.Button("Show the paired compare", elem_id="openai-both-show")
        c["both_run"] = gr.State(None)
        c["both_heading"] = gr.Markdown(elem_id="openai-both-heading")
        c["both_table"] = gr.Dataframe(interactive=False, wrap=True, elem_id="openai-both-table")

    def shown(run_id) -> dict:
        try:
            heading, table = both_result(run_id)
        except Exception as exc:  # noqa: BLE001 - the page shows a sentence, never a stack trace
            return {c["both_heading"]: f"{strings.ERROR_PREFIX}{readable(exc)}", c["both_table"]: None}
        return {c["both_heading"]: heading, c["both_table"]: table}

    def on_both_start(openai_model, local_model, benchmark, limit):
        try:
            run_id = evaluate_both(openai_model, local_model, benchmark, limit)
        except Exception as exc:  # noqa: BLE001
            return {c["both_heading"]: f"{strings.ERROR_PREFIX}{readable(exc)}", c["both_table"]: None}
        return {c["both_run"]: run_id, c["both_heading"]: strings.OPENAI_BOTH_STARTED.format(run_id=run_id),
                c["both_table"]: None}

    def on_both_show(run_id):
        return shown(run_id)

    start.click(on_both_start, [c["both_openai"], c["both_local"], c["both_benchmark"], c["both_limit"]],
                [c["both_run"], c["both_heading"], c["both_table"]], concurrency_limit=2)
    show.click(on_both_show, [c["both_run"]], [c["both_heading"], c["both_table"]])
