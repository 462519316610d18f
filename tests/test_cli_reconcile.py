"""The command lines settle dead jobs too, as the app does at start-up (jobs.reconcile): a job whose process was
killed while nothing watched it (no app, no tab polling) is marked failed with its last log line by the next
`python -m training run|resume`, `python -m evaluation run`, `python -m training search run` or `... study run`,
before that command lists or starts runs; jobs whose process still lives are left running.

Four real evaluation children (dummy:gated, held by its gate file) are started; before each command one of them is
killed with SIGKILL, and that command, and only it, settles it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHILD_LIMIT_S = 120  # only catches a child that never starts


def write_benchmark(folder: Path) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"Item {i}: answer a{i}"},
                          {"role": "assistant", "content": f"a{i}"}], "meta": {"id": f"s{i}"}} for i in range(3)]
    dataset = folder / "tiny.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    path = folder / "tiny.yaml"
    path.write_text(f"name: tiny\ndataset: {dataset}\nmetrics: [exact_match]\ngeneration: {{max_new_tokens: 8}}\n",
                    encoding="utf-8")
    return path


def wait_for(predicate, what: str, timeout: float = CHILD_LIMIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def generating(run_id: str) -> bool:
    import jobs

    found, _ = jobs.events(jobs.get(run_id).directory)
    return any(e["event"] == "progress" for e in found)


def kill(run_id: str) -> None:
    """SIGKILL the job's process (no word from it) and wait until it is gone; nobody polls it."""
    import psutil

    import jobs

    pid = jobs.get(run_id).pid
    os.kill(pid, signal.SIGKILL)

    def gone():
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(gone, f"process {pid} to die", 30)


def last_log_line(run_id: str) -> str:
    import jobs

    lines = (Path(jobs.get(run_id).directory) / "log.txt").read_text().splitlines()
    return [line for line in lines if line.strip()][-1].strip()


@pytest.fixture
def held_jobs(isolated_runs, tmp_path, monkeypatch):
    """Four evaluation jobs, each held before the first word of its first answer; all cancelled at the end."""
    import jobs
    from evaluation.config import EvalConfig

    gate = tmp_path / "gate"
    gate.write_text("0")
    monkeypatch.setenv("PHARMATUNE_DUMMY_GATE", str(gate))  # the children inherit it
    config = EvalConfig(models=["dummy:gated"], benchmarks=[str(write_benchmark(tmp_path))], leaderboard=False)
    ids = [jobs.start("evaluation", config.to_dict(), "evaluation", title=f"held {i}") for i in range(4)]
    try:
        for run_id in ids:
            wait_for(lambda r=run_id: generating(r), f"{run_id} to start generating")
        yield ids
    finally:
        for run_id in ids:
            jobs.cancel(run_id)
        gate.unlink(missing_ok=True)


COMMANDS = [  # each one's cheapest real call: it settles dead runs before it does (or refuses) its own work
    ("evaluation run", ["-m", "evaluation", "run", "--model", "dummy:echo", "--benchmark", "{benchmark}",
                        "--no-leaderboard", "--quiet"], 0),
    ("training resume", ["-m", "training", "resume", "no-such-run"], 2),
    ("search run", ["-m", "training", "search", "run", "{missing}"], 2),
    ("study run", ["-m", "training", "study", "run", "{missing}"], 2),
]


def test_each_command_line_marks_a_job_killed_while_nothing_watched_failed(held_jobs, isolated_runs, tmp_path):
    import jobs

    benchmark = tmp_path / "tiny.yaml"
    env = {**os.environ, "PHARMATUNE_DUMMY_GATE": ""}  # the command's own evaluation runs free
    timings = []
    for index, (name, argv, code) in enumerate(COMMANDS):
        victim, alive = held_jobs[index], held_jobs[index + 1:]
        kill(victim)
        assert jobs.get(victim).status == "running"  # the store has not heard: nothing watched it die
        argv = [a.format(benchmark=benchmark, missing=tmp_path / "missing.yaml") for a in argv]
        started = time.monotonic()
        out = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
        timings.append(f"{name} {time.monotonic() - started:.1f} s")
        assert out.returncode == code, f"{name}: {out.stderr[-2000:]}"
        assert "Traceback" not in out.stderr, out.stderr[-2000:]
        run = jobs.get(victim)
        assert run.status == "failed", f"{name} left {victim} {run.status}"
        assert run.error == last_log_line(victim) and run.finished is not None
        events, _ = jobs.events(run.directory)
        last = {k: v for k, v in events[-1].items() if k != "time"}
        assert last == {"event": "status", "status": "failed", "error": run.error}
        assert [jobs.get(r).status for r in alive] == ["running"] * len(alive)  # live jobs are left alone
        assert all(jobs.alive(jobs.get(r).pid) for r in alive)
    done = [r for r in jobs.list_runs("evaluation") if r.id not in held_jobs]
    assert [r.status for r in done] == ["done"]  # the evaluation command's own run
    print("\n" + "; ".join(timings))
