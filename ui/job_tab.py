"""What every job-running tab (Fine-tune, Evaluate, Studies) shares, written once: the run picker's choices, the
run's config file and its replay command, cancelling, reading a run's new events into the tab's view, and the one
error type and sentence for the page. A tab keeps its form, its view (what its events mean) and its layout."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from errors import UserError, readable  # noqa: F401 - readable: the one sentence-for-the-page every tab uses


class InputProblem(UserError, ValueError):
    """Something on a form cannot start or be shown; the message names the field and says what to change."""


@dataclass(frozen=True)
class JobTexts:
    """A tab's words for its runs (format strings with {run_id} and {status})."""

    no_run: str
    unknown_run: str
    already_finished: str
    cancelled: str


def config_path(run_id: str) -> Path:
    """The run's config.yaml, in the folder the store recorded (CLI runs may live outside runs/)."""
    import jobs
    import settings

    run = jobs.get(run_id)
    return Path(run.directory) / "config.yaml" if run else settings.runs_dir() / run_id / "config.yaml"


def run_choices(kinds: tuple[str, ...]) -> tuple[list[tuple[str, str]], str | None]:
    """Recent runs of these kinds as (label, id), newest first, and the one to show: the latest active one, else the
    latest. Runs whose child died silently are settled (marked failed) on the way."""
    import jobs

    runs = [r for kind in kinds for r in jobs.list_runs(kind)]
    if len(kinds) > 1:
        runs.sort(key=lambda r: r.created, reverse=True)
    runs = [jobs.poll(r.id) if r.status not in jobs.TERMINAL else r for r in runs]
    choices = [(f"{r.id} · {r.status} · {r.title}" if r.title else f"{r.id} · {r.status}", r.id) for r in runs]
    active = [r.id for r in runs if r.status not in jobs.TERMINAL]
    return choices, (active[0] if active else (runs[0].id if runs else None))


def cancel_run(run_id: str | None, kinds: tuple[str, ...] | None, texts: JobTexts) -> str:
    """Kill the run's process tree (what it saved stays); a sentence for the page either way."""
    import jobs

    if not run_id:
        return texts.no_run
    run = jobs.get(run_id)
    if run is None or (kinds is not None and run.kind not in kinds):
        return texts.unknown_run.format(run_id=run_id)
    if not jobs.cancel(run_id):
        return texts.already_finished.format(run_id=run_id, status=jobs.get(run_id).status)
    return texts.cancelled.format(run_id=run_id)


def active_run(run_id: str, kinds: tuple[str, ...] | None, texts: JobTexts):
    """The run's store row after a poll (which marks a child that died silently as failed, in the store and its
    events); InputProblem for a run that is not there or not of this tab's kinds."""
    import jobs

    run = jobs.poll(run_id)
    if run is None or (kinds is not None and run.kind not in kinds):
        raise InputProblem(texts.unknown_run.format(run_id=run_id))
    return run


def apply_new_events(view, run, offset: int) -> tuple:
    """Feed the run's events after `offset` to `view.apply` and move `view.offset` on; returns what the view was
    before (offset, status), so the tab can tell whether anything changed."""
    import jobs

    before = (view.offset, view.status)
    found, view.offset = jobs.events(run.directory, offset)
    for event in found:
        view.apply(event)
    return before
