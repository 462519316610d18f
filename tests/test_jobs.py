"""Jobs: child processes with a run folder, events, poll, cancel (the whole process tree) and status records.

Run as a module (`python -m tests.test_jobs run --config ... --run-dir ...`), this file is also a job that starts
a grandchild and waits on it: the process tree that cancel must take down whole.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _tree_job(argv: list[str]) -> None:
    """A job with a grandchild: writes its pid, reports progress, and waits (cancel must kill both)."""
    import jobs

    run_dir = Path(argv[argv.index("--run-dir") + 1])
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    (run_dir / "grandchild.pid").write_text(str(grandchild.pid))
    jobs.append_event(run_dir, "progress", variant="default", done=0, total=1)
    print("waiting on the grandchild", flush=True)
    grandchild.wait()


if __name__ == "__main__":
    _tree_job(sys.argv[1:])
    sys.exit(0)


# -- helpers ---------------------------------------------------------------------------------------------------------
def wait_for(predicate, timeout: float = 60, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for its parent to read its exit status."""
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def write_slow_benchmark(tmp_path: Path, n: int = 30) -> Path:
    words = " ".join(f"word{k}" for k in range(18))
    rows = [{"messages": [{"role": "user", "content": f"Item {i}: {words} Expected: a{i}"},
                          {"role": "assistant", "content": f"a{i}"}], "meta": {"id": f"s{i}"}} for i in range(n)]
    dataset = tmp_path / "slow.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    path = tmp_path / "slow.yaml"
    path.write_text(f"name: slow\ndataset: {dataset}\nmetrics: [exact_match]\ngeneration: {{max_new_tokens: 64}}\n",
                    encoding="utf-8")
    return path


def write_held_benchmark(tmp_path: Path, gate: Path, n: int = 30) -> Path:
    """A benchmark for dummy:gated (an echo) that holds its job after the first item: the gate lets 8 words of each
    answer through, item 0's answer has 6 and finishes, every other one has 24 and waits at word 8 until the test
    removes the gate file. Items run shortest first, one per batch here."""
    gate.write_text("8")
    words = " ".join(f"word{k}" for k in range(18))
    prompts = ["Item 0: Expected: a0"] + [f"Item {i}: {words} Expected: a{i}" for i in range(1, n)]
    rows = [{"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": f"a{i}"}],
             "meta": {"id": f"s{i}"}} for i, p in enumerate(prompts)]
    dataset = tmp_path / "held.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    path = tmp_path / "held.yaml"
    path.write_text(f"name: held\ndataset: {dataset}\nmetrics: [exact_match]\ngeneration: {{max_new_tokens: 64}}\n",
                    encoding="utf-8")
    return path


@pytest.fixture
def gate(tmp_path, monkeypatch):
    """dummy:gated's gate file, in the environment that job children inherit; removed at the end."""
    path = tmp_path / "gate"
    monkeypatch.setenv("PHARMATUNE_DUMMY_GATE", str(path))
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def started(isolated_runs):
    """Run ids a test starts; any still running at the end is cancelled (and a stray grandchild killed)."""
    import jobs

    ids: list[str] = []
    yield ids
    for run_id in ids:
        jobs.cancel(run_id)
        run = jobs.get(run_id)
        pid_file = Path(run.directory) / "grandchild.pid"
        if pid_file.exists() and not gone(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def events_until(run_dir: Path, predicate, timeout: float = 60) -> list[dict]:
    import jobs

    seen: list[dict] = []
    offset = 0

    def check():
        nonlocal offset
        new, offset = jobs.events(run_dir, offset)
        seen.extend(new)
        return any(predicate(e) for e in new)

    wait_for(check, timeout, "an event")
    return seen


def progressed(event: dict) -> bool:
    return event["event"] == "progress" and event.get("done", 0) >= 1


# -- child processes -------------------------------------------------------------------------------------------------
def test_a_finished_job_reports_its_result_and_its_config_round_trips(started, tmp_path):
    import jobs
    from evaluation import leaderboard
    from evaluation.config import EvalConfig

    config = {"models": ["dummy:oracle"], "benchmarks": [str(write_slow_benchmark(tmp_path, 3))], "limit": 2,
              "batch_size": 1}
    run_id = jobs.start("eval", config, "evaluation", title="oracle on slow")
    started.append(run_id)
    run = jobs.get(run_id)
    assert run.kind == "eval" and run.title == "oracle on slow" and run.pid
    run_dir = Path(run.directory)
    assert run_dir.parent == Path(os.environ["PHARMATUNE_RUNS"]).resolve() and run_dir.name == run_id
    assert EvalConfig.from_yaml(run_dir / "config.yaml") == EvalConfig(**config)
    assert (run_dir / "pid").read_text() == str(run.pid)

    final = wait_for(lambda: (r := jobs.poll(run_id)).status in jobs.TERMINAL and r, 90, "the job to finish")
    assert final.status == "done", (final.status, final.error, (run_dir / "log.txt").read_text())
    assert final.error is None and final.finished is not None
    events, offset = jobs.events(run_dir)
    assert offset == (run_dir / "events.jsonl").stat().st_size
    names = [e["event"] for e in events]
    assert names[0] == "status" and names[-1] == "status" and events[-1]["status"] == "done"
    assert "progress" in names and "scoring" in names
    (result,) = [e for e in events if e["event"] == "result"]
    assert result["items"] == 2 and result["metrics"] == {"exact_match": 1.0}
    assert [r.run_id for r in leaderboard.rows()] == [run_id]  # the child wrote to this test's store
    assert jobs.cancel(run_id) is False  # already finished
    assert [r.id for r in jobs.list_runs("eval")] == [run_id] and jobs.list_runs("training") == []


def test_a_running_job_sends_progress_and_cancel_stops_it(started, tmp_path, gate):
    import jobs
    from evaluation import leaderboard

    config = {"models": ["dummy:gated"], "benchmarks": [str(write_held_benchmark(tmp_path, gate))], "batch_size": 1}
    run_id = jobs.start("eval", config, "evaluation")
    started.append(run_id)
    run = jobs.get(run_id)
    assert run.status == "running"
    events = events_until(Path(run.directory), progressed)
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[0]["done"] == 0 and progress[-1]["done"] == 1 and progress[-1]["total"] == 30
    assert jobs.poll(run_id).status == "running"  # held at item 2

    assert jobs.cancel(run_id) is True
    assert gone(run.pid)
    after = jobs.get(run_id)
    assert after.status == "cancelled" and after.error == "cancelled by the user" and after.finished is not None
    last, _ = jobs.events(run.directory)
    assert last[-1]["event"] == "status" and last[-1]["status"] == "cancelled"
    assert jobs.poll(run_id).status == "cancelled"
    assert jobs.cancel(run_id) is False
    assert leaderboard.rows() == []


def test_cancel_kills_the_whole_process_tree(started, tmp_path):
    import psutil

    import jobs

    run_id = jobs.start("tree", {"purpose": "a job with a grandchild"}, "tests.test_jobs")
    started.append(run_id)
    run = jobs.get(run_id)
    pid_file = Path(run.directory) / "grandchild.pid"
    wait_for(pid_file.exists, 60, "the grandchild")
    grandchild = int(pid_file.read_text())
    assert not gone(run.pid) and not gone(grandchild)
    assert psutil.Process(grandchild).ppid() == run.pid
    assert jobs.cancel(run_id) is True
    wait_for(lambda: gone(run.pid) and gone(grandchild), 15, "the process tree to end")
    assert jobs.get(run_id).status == "cancelled"


def test_a_child_killed_without_reporting_is_marked_failed_with_its_last_log_line(started, tmp_path, gate):
    import jobs

    config = {"models": ["dummy:gated"], "benchmarks": [str(write_held_benchmark(tmp_path, gate))], "batch_size": 1}
    run_id = jobs.start("eval", config, "evaluation")
    started.append(run_id)
    run = jobs.get(run_id)
    run_dir = Path(run.directory)
    events_until(run_dir, progressed)
    wait_for(lambda: "1/30" in (run_dir / "log.txt").read_text(), 30, "the progress line in the log")
    os.kill(run.pid, signal.SIGKILL)  # not through cancel: the child dies without a word
    final = wait_for(lambda: (r := jobs.poll(run_id)).status != "running" and r, 30, "poll to notice")
    assert final.status == "failed"
    log_lines = [l.strip() for l in (run_dir / "log.txt").read_text().splitlines() if l.strip()]
    assert final.error == log_lines[-1]
    assert "/30" in final.error  # a progress line: what the child was doing when it died
    last, _ = jobs.events(run_dir)
    assert last[-1] == {**last[-1], "event": "status", "status": "failed", "error": final.error}
    assert final.finished is not None
    assert jobs.poll(run_id).status == "failed"


# -- records and events without a child -----------------------------------------------------------------------------
def _record(run_id: str, directory: Path, pid=None, status="running"):
    import store
    from store.tables import Run

    directory.mkdir(parents=True, exist_ok=True)
    with store.session() as s:
        s.add(Run(id=run_id, kind="eval", status=status, directory=str(directory), pid=pid))


def test_a_dead_child_without_a_log_gets_a_generic_error(isolated_runs):
    import jobs

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    _record("ghost", isolated_runs / "ghost", pid=proc.pid)
    run = jobs.poll("ghost")
    assert run.status == "failed" and run.error == "the process ended without reporting a result"
    assert jobs.poll("nobody") is None


def test_poll_leaves_a_queued_run_without_a_process_alone(isolated_runs):
    import jobs

    _record("waiting", isolated_runs / "waiting", pid=None, status="queued")
    assert jobs.poll("waiting").status == "queued"


def test_set_status_keeps_a_final_status(isolated_runs):
    import jobs

    _record("r1", isolated_runs / "r1")
    jobs.set_status("r1", "running", pid=4242)
    assert jobs.get("r1").pid == 4242 and jobs.get("r1").finished is None
    jobs.set_status("r1", "cancelled", error="cancelled by the user")
    jobs.set_status("r1", "running")  # a late message from a child that was cancelled
    run = jobs.get("r1")
    assert run.status == "cancelled" and run.error == "cancelled by the user" and run.finished is not None
    jobs.set_status("nobody", "done")  # an unknown run is ignored
    jobs.set_status("r1", "running", restart=True)  # a resumed run starts afresh
    run = jobs.get("r1")
    assert run.status == "running" and run.error is None and run.finished is None


def test_events_return_whole_lines_only_and_an_offset(tmp_path):
    import jobs

    assert jobs.events(tmp_path) == ([], 0)
    first = jobs.append_event(tmp_path, "progress", variant="default", done=1, total=3)
    assert first["event"] == "progress" and first["done"] == 1 and "time" in first
    with open(tmp_path / "events.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"event": "progress", "do')  # a line being written right now
    events, offset = jobs.events(tmp_path)
    assert events == [first]
    with open(tmp_path / "events.jsonl", "a", encoding="utf-8") as fh:
        fh.write('ne": 2}\n')
    more, offset2 = jobs.events(tmp_path, offset)
    assert more == [{"event": "progress", "done": 2}]
    assert jobs.events(tmp_path, offset2) == ([], offset2)


def test_new_run_dirs_are_unique(isolated_runs):
    import jobs

    a, b = jobs.new_run_dir("eval"), jobs.new_run_dir("eval")
    assert a != b and a.is_dir() and b.parent == isolated_runs and a.name.startswith("eval-")


def test_a_late_running_update_never_reopens_a_finished_run(isolated_runs):
    """The app records 'running' after starting the child; a fast child may already have finished by then."""
    import jobs

    _record("fast", isolated_runs / "fast", status="queued")
    assert jobs.set_status("fast", "done")
    assert not jobs.set_status("fast", "running", pid=4242)  # the app's late write changes nothing
    run = jobs.get("fast")
    assert run.status == "done" and run.pid is None and run.finished is not None
    assert not jobs.set_status("fast", "failed", error="poll guessed wrong")  # nor does a late failure
    assert jobs.get("fast").status == "done"
    assert jobs.set_status("fast", "running", restart=True)  # a resumed run starts again, error cleared
    assert jobs.get("fast").status == "running" and jobs.get("fast").finished is None


def test_a_crashed_child_is_reaped_at_once_and_reconcile_marks_it_failed(isolated_runs):
    """Nobody polls this run: its child still must not linger as a zombie, and the app's start-up reconcile names
    what happened."""
    import psutil

    import jobs

    run_id = jobs.start("eval", {"x": 1}, "tests.no_such_job_module", title="crashes at once")
    pid = jobs.get(run_id).pid
    deadline = time.monotonic() + 60  # a hang guard only
    while True:
        try:
            status = psutil.Process(pid).status()
        except psutil.NoSuchProcess:
            break  # exited and reaped
        assert time.monotonic() < deadline, f"child {pid} still {status}"
        time.sleep(0.05)
    assert jobs.get(run_id).status == "running"  # the store has not heard yet
    assert run_id in jobs.reconcile()
    run = jobs.get(run_id)
    assert run.status == "failed" and "No module named tests.no_such_job_module" in run.error
