"""Kill -9 the app while a training job, two evaluations and a search are under way, start it again: the jobs
lived on (each is a child process in its own session), and the restarted app's tabs re-attach to them through the
same handlers a reloaded page calls (Refresh runs, picking a run) over Gradio's HTTP API, and still drive them. A
job whose process died while the app was down is marked failed with its last log line at start-up, before any tab
looks at it.

The jobs are held at known points by gate files (dummy:gated's PHARMATUNE_DUMMY_GATE: no word of any answer;
training's PHARMATUNE_STEP_GATE: after step 1), so nothing races the clock: the training job holds the device at
its step 1, the search waits in the device queue behind it. Handlers are found
by the elem_id of the component that fires them in the app's /config (the page's own names, as the browser tests
use), and their inputs are filled from the page's defaults, so a new form field does not break this test."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

JOB_LIMIT_S = 180  # only catches a job that never gets to its held point


def wait_for(predicate, what: str, timeout: float = JOB_LIMIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Page:
    """The app's handlers as the page fires them: (elem_id, trigger) → endpoint, called with the page's defaults
    for every input not given (by elem_id)."""

    def __init__(self, url: str):
        from gradio_client import Client

        config = httpx.get(url + "/config", timeout=30).json()
        self.components = {c["id"]: c for c in config["components"]}
        self.fired = {}
        for dep in config["dependencies"]:
            for target, trigger in dep["targets"]:
                elem_id = self.components.get(target, {}).get("props", {}).get("elem_id")
                if elem_id and dep.get("api_name"):
                    self.fired.setdefault((elem_id, trigger), dep)
        self.client = Client(url, verbose=False)

    def __call__(self, elem_id: str, trigger: str = "click", **values) -> tuple:
        """Fire the handler; its outputs (the picked run, the tab's status lines ...)."""
        dep = self.fired[(elem_id, trigger)]
        args = []
        for input_id in dep["inputs"]:
            component = self.components[input_id]
            if component["type"] == "state":
                continue  # not part of the API
            name = component["props"].get("elem_id")
            args.append(values.pop(name) if name in values else component["props"].get("value"))
        assert not values, f"{elem_id} has no inputs named {sorted(values)}"
        result = self.client.predict(*args, api_name=f"/{dep['api_name']}")
        return result if isinstance(result, tuple) else (result,)


def picked(outputs: tuple) -> str | None:
    """The run the picker shows (the update among the outputs that carries the run choices)."""
    return next(o["value"] for o in outputs if isinstance(o, dict) and "choices" in o)


def start_app(folder: Path, runs: Path, data: Path, env: dict):
    from tests.test_app_server import App

    folder.mkdir(exist_ok=True)
    return App(folder, env={"PHARMATUNE_RUNS": str(runs), "PHARMATUNE_DATA": str(data), **env})


def events_of(run_id: str) -> list[dict]:
    import jobs

    return jobs.events(jobs.get(run_id).directory)[0]


def test_jobs_outlive_a_killed_app_and_the_restarted_app_reattaches(isolated_runs, tiny_llama, tmp_path):
    import jobs
    from tests.training.conftest import chat_rows, write_jsonl
    from ui import evaluate_tab, finetune_tab, studies_tab

    eval_gate, step_gate = tmp_path / "eval-gate", tmp_path / "step-gate"
    eval_gate.write_text("0")  # dummy:gated answers nothing: the evaluations stay running at 0 items
    step_gate.write_text("1")  # training (the training job, each search trial) waits after its step 1
    train = write_jsonl(tmp_path / "train.jsonl", chat_rows(16))
    val = write_jsonl(tmp_path / "val.jsonl", chat_rows(8))
    env = {"PHARMATUNE_DUMMY_GATE": str(eval_gate), "PHARMATUNE_STEP_GATE": str(step_gate), "OMP_NUM_THREADS": "1"}
    data = tmp_path / "data"
    apps = [start_app(tmp_path / "first", isolated_runs, data, env)]
    try:
        page = Page(apps[0].url)
        training = picked(page("ft-start", **{"ft-base-model": f"hf:{tiny_llama}", "ft-dataset": str(train),
                                              "ft-max-steps": 4, "ft-batch-size": 4, "ft-max-length": 64}))
        assert training.startswith("training-")
        # the other jobs start while the training job is still starting up (their start-ups overlap; the search
        # queues behind the training job either way, since it was created first); the kill waits until every job
        # is at its held point
        form = {"eval-models": ["dummy:gated"], "eval-benchmarks": ["ddi-binary"], "eval-limit": 4}
        survivor = picked(page("eval-start", **form))
        victim = picked(page("eval-start", **form))
        assert survivor.startswith("evaluation-") and victim.startswith("evaluation-") and survivor != victim
        started = page("st-start", **{"st-base-model": f"hf:{tiny_llama}", "st-dataset": str(train),
                                      "st-eval-dataset": str(val), "st-max-steps": 6, "st-batch-size": 4,
                                      "st-max-length": 64, "st-eval-every": 1, "st-trials": 4, "st-trial-steps": 4,
                                      "st-top-k": 1, "st-seed": 1, "st-pruner": "none",
                                      "st-space": "learning_rate: {type: float, low: 1.0e-4, high: 3.0e-2, log: true}\n"})
        search = picked(started)
        assert search.startswith("search-"), started
        wait_for(lambda: any(e["event"] == "train" for e in events_of(training)), "the training job's step 1")
        for run_id in (survivor, victim):
            wait_for(lambda r=run_id: any(e["event"] == "progress" for e in events_of(r)), f"{run_id} to generate")
        wait_for(lambda: any(e["event"] == "queued" for e in events_of(search)), "the search to wait for the device")
        pids = {run_id: jobs.get(run_id).pid for run_id in (training, survivor, victim, search)}
        alive = (training, survivor, search)

        apps[0].process.kill()  # kill -9: no shutdown, no word to the jobs
        apps[0].process.wait(30)
        os.kill(pids[victim], signal.SIGKILL)  # and one job dies while no app is up to see it
        wait_for(lambda: not jobs.alive(pids[victim]), "the killed evaluation to die", 30)
        assert all(jobs.alive(pids[r]) for r in alive)  # the app's death took no job with it
        before = [jobs.get(r).status for r in (training, survivor, victim, search)]
        assert before == ["running"] * 4  # nobody has looked (the search's own events say it waits for the device)

        apps.append(start_app(tmp_path / "second", isolated_runs, data, env))
        # start-up settled the dead job before any tab asked: failed, with what its log said last
        dead = jobs.get(victim)
        log_lines = [line for line in (Path(dead.directory) / "log.txt").read_text().splitlines() if line.strip()]
        assert dead.status == "failed" and dead.error == log_lines[-1].strip()
        assert [jobs.get(r).status for r in alive] == ["running"] * 3
        assert {r: jobs.get(r).pid for r in alive} == {r: pids[r] for r in alive}  # the same processes

        # the reloaded page (Refresh runs is what its load event runs) re-attaches to the running jobs
        page = Page(apps[1].url)
        trainings = page("ft-refresh")
        assert picked(trainings) == training and "Status: **running**" in str(trainings), trainings
        evaluate = page("eval-refresh")
        assert picked(evaluate) == survivor and "Status: **running**" in str(evaluate), evaluate
        studies = page("st-refresh")
        assert picked(studies) == search and "Status: **running**" in str(studies), studies
        assert finetune_tab.run_choices()[1] == training and finetune_tab.run_view(training).status == "running"
        assert evaluate_tab.run_choices()[1] == survivor and evaluate_tab.run_view(survivor).status == "running"
        assert studies_tab.run_choices()[1] == search and studies_tab.run_view(search).status == "running"
        shown = str(page("eval-run", "input", **{"eval-run": victim}))
        assert f"Status: **failed**: {dead.error}" in shown, shown

        # and it still drives them: the training job is cancelled (the search gets the device and starts its first
        # trial), the evaluation runs to its end, the search is cancelled too
        cancelled = str(page("ft-cancel", **{"ft-run": training}))
        assert f"Cancelled {training}." in cancelled and not jobs.alive(pids[training]), cancelled
        wait_for(lambda: studies_tab.run_view(search).trials, "the search's first trial")
        eval_gate.unlink()
        wait_for(lambda: evaluate_tab.run_view(survivor).finished, "the re-attached evaluation to finish")
        shown = str(page("eval-run", "input", **{"eval-run": survivor}))
        assert evaluate_tab.run_view(survivor).status == "done" and "Status: **done**" in shown, shown
        assert "| 4/4 |" in shown  # all 4 items, none lost to the restart
        cancelled = str(page("st-cancel", **{"st-run": search}))
        assert f"Cancelled {search}." in cancelled and "Status: **cancelled**" in cancelled, cancelled
        assert jobs.get(search).status == "cancelled" and not jobs.alive(pids[search])
        log = (tmp_path / "second" / "app.log").read_text()
        assert "Traceback" not in log, log[-3000:]
    finally:
        eval_gate.unlink(missing_ok=True)
        step_gate.unlink(missing_ok=True)
        for run in jobs.list_runs():
            jobs.cancel(run.id)  # whatever still runs (cancel kills by pid, the app need not be its parent)
        for app in apps:
            app.stop()
