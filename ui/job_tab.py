"""What every job-running tab (Fine-tune, Evaluate, Studies) shares, written once: the run picker's choices, the
run's config file and its replay command, cancelling, reading a run's new events into the tab's view, and the one
error type and sentence for the page. A tab keeps its form, its view (what its events mean) and its layout."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from errors import UserError, readable  # noqa: F401 - readable: the one sentence-for-the-page every tab uses
from ui import strings


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


# -- the runs half of a job tab, laid out and wired once --------------------------------------------------------
TICK_SECONDS = 1.0


class JobPanel:
    """The run picker, refresh, re-attach on load, the live tick, cancel and other run actions, and the config/command
    box, for one job tab. The tab gives what only it knows: how to read a run (`view_of`), what its components show
    for a view (`show`, a dict keyed by component) or for no view (`clear`), and what else changes when runs start or
    stop (`extras`). Every handler returns a dict keyed by component: what it leaves out stays as it is.

    Handlers are named and owned like the tab's own (`ui.<tab>.on_cancel`), so roles.VIEWER_SAFE and the API names
    stay per tab."""

    def __init__(self, *, owner: str, prefix: str, kinds: tuple[str, ...] | None, texts: JobTexts, run_label: str,
                 view_of, config_of, show, clear, idle: str = "", extras=None, on_load_extras=None, watch=(), cancel=None):
        self.owner, self.prefix, self.kinds, self.texts, self.run_label = owner, prefix, kinds, texts, run_label
        self.view_of, self.config_of, self.show, self.clear, self.idle = view_of, config_of, show, clear, idle
        self.extras = extras or dict  # () -> {component: value}: after a start, cancel, action or a finished run
        self.on_load_extras = on_load_extras or dict  # () -> {component: value}: on page load and Refresh
        self.watch = list(watch)  # components whose values the view's rendering needs (passed to show)
        self.cancel = cancel or (lambda run_id: cancel_run(run_id, kinds, texts))  # run_id -> a sentence
        self.outputs: list = []

    # -- layout (call where the tab wants each part) ------------------------------------------------------------
    def picker(self):
        """The run dropdown and Refresh in one row, returned so a tab can add its own buttons to it."""
        import gradio as gr

        with gr.Row() as row:
            self.run = gr.Dropdown([], value=None, label=self.run_label, elem_id=f"{self.prefix}-run", scale=4)
            self.refresh = gr.Button("Refresh runs", elem_id=f"{self.prefix}-refresh", scale=1)
        self.timer = gr.Timer(TICK_SECONDS, active=False)
        self.state = gr.State(None)
        return row

    def config_box(self, shell_label: str) -> None:
        import gradio as gr

        with gr.Accordion("Config and command line", open=False):
            self.config = gr.Code(language="yaml", label="config.yaml", interactive=False,
                                  elem_id=f"{self.prefix}-config")
            self.command = gr.Textbox(label=shell_label, interactive=False, elem_id=f"{self.prefix}-command")

    # -- what the handlers return ------------------------------------------------------------------------------
    def _timer(self, active: bool):
        import gradio as gr

        return {self.timer: gr.Timer(active=active)}

    def attached(self, run_id, *watched) -> dict:
        """Everything shown for a run, read from its files (a fresh view replays the whole events file)."""
        if not run_id:
            return {self.state: None, **self.clear(self.idle), self.config: "", self.command: "",
                    **self._timer(False)}
        try:
            view = self.view_of(run_id, 0, None)
        except Exception as exc:  # noqa: BLE001 - a sentence on the page, never a stack trace
            return {self.state: None, **self.clear(f"{strings.ERROR_PREFIX}{readable(exc)}"), self.config: "",
                    self.command: "", **self._timer(False)}
        config_yaml, command = self.config_of(run_id)
        return {self.state: view, **self.show(view, *watched, fresh=True), self.config: config_yaml,
                self.command: command, **self._timer(not view.finished)}

    def runs_update(self, value=None) -> dict:
        import gradio as gr

        choices, chosen = run_choices(self.kinds)
        return {self.run: gr.update(choices=choices, value=value or chosen)}

    def after(self, run_id, message, text: str, *watched) -> dict:
        """A start or an action changed runs: the sentence, the run list (this run picked) and the run itself."""
        return {message: text, **self.runs_update(run_id), **self.extras(), **self.attached(run_id, *watched)}

    def loaded(self, *watched) -> dict:
        choices, chosen = run_choices(self.kinds)
        import gradio as gr

        return {self.run: gr.update(choices=choices, value=chosen), **self.on_load_extras(), **self.extras(),
                **self.attached(chosen, *watched)}

    def ticked(self, run_id, view, *watched) -> dict:
        import gradio as gr

        if not run_id:
            return self._timer(False)
        try:
            view = self.view_of(run_id, view.offset if view and view.run_id == run_id else 0, view)
        except Exception as exc:  # noqa: BLE001
            return {self.state: None, **self.clear(f"{strings.ERROR_PREFIX}{readable(exc)}", keep=True),
                    **self._timer(False)}
        if not view.changed:  # nothing new in the events; a tab may still redraw something (live plots)
            return {self.state: view, **self.show(view, *watched, unchanged=True), **self._timer(not view.finished)}
        finished = {self.run: gr.update(choices=run_choices(self.kinds)[0]), **self.extras()} if view.finished else {}
        return {self.state: view, **self.show(view, *watched), **finished, **self._timer(not view.finished)}

    # -- wiring ----------------------------------------------------------------------------------------------
    def handler(self, fn, name: str):
        """`fn` as the tab's own handler `ui.<tab>.<name>` (roles and API names read these)."""
        fn.__name__, fn.__qualname__, fn.__module__ = name, name, self.owner
        return fn

    def action(self, button, fn, message, *, name: str, failure: str, outputs_only: bool = False, inputs=None):
        """A button acting on the picked run: `fn(run_id, ...)` returns a sentence; the run is re-read after it."""
        def on_action(run_id, *rest):
            try:
                text = fn(run_id, *rest)
            except Exception as exc:  # noqa: BLE001
                text = f"{strings.ERROR_PREFIX}{failure}{readable(exc)}"
            return {message: text} if outputs_only else self.after(run_id, message, text)

        button.click(self.handler(on_action, name), [self.run, *(inputs or [])],
                     [message] if outputs_only else self.outputs_with(message))

    def outputs_with(self, *components) -> list:
        return [*components, *[c for c in self.outputs if c not in components]]

    def wire(self, demo, *, shown: list, message, cancel, extra_outputs=()) -> None:
        """Register the picker, refresh, tick, cancel and load events; `shown` are the components show/clear fill."""
        self.outputs = [self.state, self.run, self.timer, self.config, self.command, *shown, *extra_outputs]
        watch = self.watch

        def attach(run_id, *watched):
            return self.attached(run_id, *watched)

        def on_load(*watched):
            return self.loaded(*watched)

        def on_tick(run_id, view, *watched):
            return self.ticked(run_id, view, *watched)

        self.action(cancel, self.cancel, message, name="on_cancel",
                    failure="The run could not be cancelled: ")
        self.run.input(self.handler(attach, "attach"), [self.run, *watch], self.outputs)
        self.refresh.click(self.handler(on_load, "on_load"), watch, self.outputs)
        self.timer.tick(self.handler(on_tick, "on_tick"), [self.run, self.state, *watch], self.outputs,
                        show_progress="hidden")
        if demo is not None:
            demo.load(on_load, watch, self.outputs)
