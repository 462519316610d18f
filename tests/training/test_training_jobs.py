"""Training as a job: `jobs.start(kind="training", ..., module="training", status="queued")` starts
`python -m training run --config ... --run-dir ...`; the run goes queued → running → done, one training job holds
the device at a time (the others wait, visibly queued), cancel kills it and frees the device, a killed child is
marked failed with its last log line and keeps its checkpoints, and a relaunch with --resume finishes it.

Each child costs ~6 s of imports; the tests start their jobs so that they overlap where they can.
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

from tests.training.test_recipe import ROOT, assert_close_weights, chat_rows, write_jsonl

CHILD_TIMEOUT = 120  # seconds a child may take to start, train a few steps of the tiny model and finish


@pytest.fixture(scope="module")
def chat_data(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("job-data")
    return {"train": write_jsonl(folder / "train.jsonl", chat_rows(48)),
            "validation": write_jsonl(folder / "validation.jsonl", chat_rows(12, offset=3))}


def job_config(chat_data, tiny_llama, **overrides) -> dict:
    spec = {"dataset": str(chat_data["train"]), "eval_split": None, "base_model": f"hf:{tiny_llama}",
            "max_length": 128, "batch_size": 4, "learning_rate": 0.01, "max_steps": 4, "tensorboard": False}
    spec.update(overrides)
    return spec


def wait_for(predicate, timeout: float = CHILD_TIMEOUT, what: str = "the condition", every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def events_of(run_id: str) -> list[dict]:
    import jobs

    return jobs.events(jobs.get(run_id).directory)[0]


def first(run_id: str, predicate) -> dict | None:
    return next((e for e in events_of(run_id) if predicate(e)), None)


def finished(run_id: str):
    import jobs

    run = jobs.poll(run_id)
    return run if run.status in jobs.TERMINAL else None


def describe(run_id: str) -> str:
    import jobs

    run = jobs.get(run_id)
    log = Path(run.directory) / "log.txt"
    return f"{run.status}: {run.error}\n{log.read_text()[-3000:] if log.exists() else '(no log)'}"


def gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def started(isolated_runs, monkeypatch):
    """Run ids a test starts; whatever still runs at the end is cancelled. The children compute on one thread
    (tiny matrices gain nothing from two, and OpenMP's handoff on a busy 2-core machine slows them a lot)."""
    import jobs

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    ids: list[str] = []
    yield ids
    for run_id in ids:
        jobs.cancel(run_id)


def start(config: dict, started: list[str]) -> str:
    import jobs

    run_id = jobs.start("training", config, "training", title="tiny llama", status="queued")
    started.append(run_id)
    return run_id


def status_events(run_id: str) -> list[str]:
    return [e["status"] for e in events_of(run_id) if e["event"] == "status"]


def hold_at(gate: Path, step: int) -> Path:
    """Let a child started with PHARMATUNE_STEP_GATE=gate train up to `step` and wait there (after that step's events
    and checkpoint are written) until the gate moves on or goes. Written whole, so the child never reads half."""
    partial = gate.with_suffix(".partial")
    partial.write_text(str(step), encoding="utf-8")
    os.replace(partial, gate)
    return gate


def train_steps(run_id: str) -> list[int]:
    return [e["step"] for e in events_of(run_id) if e["event"] == "train"]


# -- a run, and the queue --------------------------------------------------------------------------------------------
def test_a_training_job_runs_queued_running_done_and_the_next_one_waits_for_it(started, chat_data, tiny_llama):
    import jobs
    from training.config import TrainConfig

    first_id = start(job_config(chat_data, tiny_llama, max_steps=6, save_every=3), started)
    assert jobs.get(first_id).status == "queued"  # until the child says it runs
    second_id = start(job_config(chat_data, tiny_llama, max_steps=2), started)
    seen = []

    def both_done():
        run = jobs.poll(first_id)
        if not seen or seen[-1] != run.status:
            seen.append(run.status)
        return finished(first_id) and finished(second_id)

    wait_for(both_done, 2 * CHILD_TIMEOUT, "both jobs to finish")
    for run_id in (first_id, second_id):
        run = jobs.get(run_id)
        assert run.status == "done", describe(run_id)
        assert run.error is None and run.finished is not None and run.kind == "training"
        assert run.title == "tiny llama"  # the child keeps the row the app recorded
    assert seen[0] == "queued" and seen[-1] == "done" and set(seen) <= {"queued", "running", "done"}

    run_dir = Path(jobs.get(first_id).directory)
    assert TrainConfig.from_yaml(run_dir / "config.yaml") == TrainConfig.from_dict(job_config(chat_data, tiny_llama,
                                                                                               max_steps=6, save_every=3))
    events = events_of(first_id)
    names = [e["event"] for e in events]
    assert status_events(first_id) == ["running", "done"] and names[-1] == "status"
    assert names.index("setup") < names.index("train") and "queued" not in names
    assert [e["step"] for e in events if e["event"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [3, 6]
    done = events[-1]
    assert done["status"] == "done" and done["steps"] == 6 and done["trainable_params"] > 0
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 6

    # The second job waited in line, visibly, until the first had finished.
    queued = [e for e in events_of(second_id) if e["event"] == "queued"]
    assert queued and queued[0]["position"] == 1 and "1 job(s) ahead" in queued[0]["message"]
    running = first(second_id, lambda e: e["event"] == "status" and e["status"] == "running")
    assert running["time"] >= done["time"]
    assert first(second_id, lambda e: e["event"] == "setup")["time"] >= done["time"]
    assert status_events(second_id) == ["running", "done"]


def test_cancel_kills_a_training_job_and_frees_the_device_for_the_next(started, chat_data, tiny_llama, tmp_path,
                                                                     monkeypatch):
    import jobs

    # The long job is held by a gate (see hold_at) at steps the test chooses, so it provably still runs, mid-training,
    # whenever the queued one is looked at; with the gate gone it would finish its 4 steps.
    gate = hold_at(tmp_path / "gate", 1)
    monkeypatch.setenv("PHARMATUNE_STEP_GATE", str(gate))
    long_id = start(job_config(chat_data, tiny_llama, max_steps=4, save_every=1000), started)
    monkeypatch.delenv("PHARMATUNE_STEP_GATE")  # the next job runs free
    next_id = start(job_config(chat_data, tiny_llama, max_steps=2), started)  # both children start at once
    queued = wait_for(lambda: first(next_id, lambda e: e["event"] == "queued"), what="the next job to queue")
    assert queued["position"] == 1
    # It stays in line while the long job trains on: at step 1, and again after the long job took two more steps.
    for step in (1, 3):
        hold_at(gate, step)
        wait_for(lambda step=step: step in train_steps(long_id), what=f"the long job's step {step}")
        assert jobs.poll(long_id).status == "running" and train_steps(long_id) == list(range(1, step + 1))
        assert jobs.poll(next_id).status == "queued"
        assert first(next_id, lambda e: e["event"] in ("setup", "status")) is None

    pid = jobs.get(long_id).pid
    cancelling_at = time.time()
    assert jobs.cancel(long_id) is True
    assert gone(pid)
    run = jobs.get(long_id)
    assert run.status == "cancelled" and run.error == "cancelled by the user"
    assert status_events(long_id) == ["running", "cancelled"]
    assert train_steps(long_id) == [1, 2, 3]  # killed where it was held, not after finishing

    wait_for(lambda: finished(next_id), what="the next job to finish")
    assert jobs.get(next_id).status == "done", describe(next_id)
    assert first(next_id, lambda e: e["event"] == "status")["time"] >= cancelling_at  # it ran once the slot was free
    assert status_events(next_id) == ["running", "done"]
    assert (Path(jobs.get(next_id).directory) / "adapter" / "adapter_config.json").is_file()
    assert jobs.get(long_id).status == "cancelled"  # a late write of the killed child changes nothing


def test_the_queue_waits_for_earlier_live_runs_and_for_a_held_slot(isolated_runs):
    """In-process: the order (runs recorded earlier, still queued or running, with a live process) and the flock."""
    import fcntl
    import threading

    import jobs
    import settings
    import store
    from store.tables import Run
    from training import queue

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with store.session() as s:
        s.add(Run(id="crashed", kind="training", status="running", directory="x", pid=dead.pid))
        s.add(Run(id="evaluation", kind="eval", status="running", directory="x", pid=os.getpid()))
    time.sleep(0.01)
    with store.session() as s:
        s.add(Run(id="first", kind="training", status="running", directory="x", pid=os.getpid()))
    time.sleep(0.01)
    with store.session() as s:
        s.add(Run(id="second", kind="training", status="queued", directory="x", pid=os.getpid()))
    assert queue.ahead_of("first") == 0  # a dead process and another kind of job are no one to wait for
    assert queue.ahead_of("second") == 1 and queue.ahead_of("nobody") == 0

    def wait_in_line(run_id, emitted, entered, warmed):
        with queue.device_slot(run_id, lambda event, **f: emitted.append((event, f)), poll_s=0.02,
                               while_waiting=lambda: warmed.append(run_id)):
            entered.set()
            time.sleep(0.2)

    emitted, entered, warmed = [], threading.Event(), []
    worker = threading.Thread(target=wait_in_line, args=("second", emitted, entered, warmed))
    worker.start()
    assert not entered.wait(0.5)
    assert [(e, f["position"]) for e, f in emitted] == [("queued", 1)] and warmed == ["second"]
    jobs.set_status("first", "done")
    assert entered.wait(10)
    worker.join(10)
    assert len(emitted) == 1 and warmed == ["second"]  # announced once, warmed up once

    # A slot held by a process the store does not know (another app on the same runs folder) is waited for too.
    jobs.set_status("second", "done")
    lock = open(settings.runs_dir() / ".locks" / f"training-{queue.device_name()}-0.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    emitted, entered, warmed = [], threading.Event(), []
    worker = threading.Thread(target=wait_in_line, args=("first", emitted, entered, warmed))
    worker.start()
    assert not entered.wait(0.5) and emitted[0][0] == "queued"
    lock.close()  # the holder ends: its flock goes with it
    assert entered.wait(10)
    worker.join(10)


# -- crashes and resume ----------------------------------------------------------------------------------------------
def test_a_killed_training_job_is_failed_keeps_its_checkpoints_and_resumes_to_done(started, chat_data, tiny_llama,
                                                                                   tmp_path, monkeypatch):
    import jobs
    from tests.training.test_recipe import Run, train
    from training.config import TrainConfig

    spec = job_config(chat_data, tiny_llama, max_steps=12, save_every=2, keep_checkpoints=2)
    gate = hold_at(tmp_path / "gate", 4)  # the child waits after step 4 (checkpoint-4 written) for the kill
    monkeypatch.setenv("PHARMATUNE_STEP_GATE", str(gate))
    run_id = start(spec, started)
    monkeypatch.delenv("PHARMATUNE_STEP_GATE")
    # The same config uninterrupted, in this process while the child imports: the curve the job must follow.
    straight: Run = train(TrainConfig.from_dict(spec), tmp_path / "straight")
    reference = straight.losses()
    assert sorted(reference) == list(range(1, 13))

    wait_for(lambda: first(run_id, lambda e: e["event"] == "checkpoint" and e["step"] == 4), what="checkpoint-4")
    run = jobs.get(run_id)
    run_dir = Path(run.directory)
    assert train_steps(run_id) == [1, 2, 3, 4]  # held: step 5 has not begun
    os.kill(run.pid, signal.SIGKILL)  # the OOM killer, a power cut: no word from the child
    final = wait_for(lambda: (r := jobs.poll(run_id)).status != "running" and r, 30, "poll to notice")
    assert final.status == "failed" and final.finished is not None
    log_lines = [line.strip() for line in (run_dir / "log.txt").read_text().splitlines() if line.strip()]
    assert final.error == log_lines[-1]  # what it was doing when it died
    assert any(line.startswith("step 4/12") for line in log_lines)  # its progress lines
    assert status_events(run_id) == ["running", "failed"]
    kept = sorted(int(p.name.split("-")[1]) for p in (run_dir / "checkpoints").glob("checkpoint-*"))
    assert kept == [2, 4] and not (run_dir / "adapter").exists()  # keep_checkpoints 2
    killed = {e["step"]: e["loss"] for e in events_of(run_id) if e["event"] == "train"}
    assert killed == pytest.approx({s: reference[s] for s in (1, 2, 3, 4)}, abs=1e-5)

    gate.unlink()  # the relaunched child inherits no gate variable; without the file it would run on anyway
    jobs.launch(run_id, "training", extra_args=("--resume",), status="queued", restart=True)
    assert jobs.get(run_id).status in ("queued", "running") and jobs.get(run_id).error is None
    wait_for(lambda: finished(run_id), what="the resumed job to finish")
    run = jobs.get(run_id)
    assert run.status == "done" and run.error is None, describe(run_id)
    events = events_of(run_id)
    (resume,) = [e for e in events if e["event"] == "resume"]
    assert resume["from_step"] == 4  # the newest whole checkpoint
    after = {e["step"]: e["loss"] for e in events[events.index(resume):] if e["event"] == "train"}
    assert sorted(after) == list(range(5, 13))
    # Weights, optimizer, scheduler, RNG and data order came back from checkpoint-4 in a new process: steps 5..12
    # are the uninterrupted run's steps 5..12, and so is the adapter it ends with.
    assert after == pytest.approx({s: reference[s] for s in range(5, 13)}, abs=1e-4)
    assert status_events(run_id) == ["running", "failed", "running", "done"]
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 12
    assert_close_weights(run_dir / "adapter" / "adapter_model.safetensors",
                         straight.dir / "adapter" / "adapter_model.safetensors")


def test_resume_of_a_run_without_checkpoints_fails_before_starting(started, chat_data, tiny_llama, isolated_runs):
    """`python -m training resume RUN_ID` on a run that never saved: exit 2, nothing new in its folder."""
    import jobs
    import store
    from store.tables import Run

    run_dir = jobs.new_run_dir("training")
    (run_dir / "config.yaml").write_text(json.dumps(job_config(chat_data, tiny_llama)), encoding="utf-8")
    with store.session() as s:
        s.add(Run(id=run_dir.name, kind="training", status="cancelled", directory=str(run_dir)))
    proc = subprocess.run([sys.executable, "-m", "training", "resume", run_dir.name], cwd=ROOT, capture_output=True,
                          text=True, timeout=CHILD_TIMEOUT, env={**os.environ, "PHARMATUNE_RUNS": str(isolated_runs)})
    assert proc.returncode == 2, proc.stderr
    assert "Nothing to resume" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml"]
    assert jobs.get(run_dir.name).status == "cancelled"


# -- bad input before start ------------------------------------------------------------------------------------------
def write_config(path: Path, spec: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_check_exits_2_with_the_line_numbered_findings_of_a_bad_dataset(chat_data, tiny_llama, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(chat_rows(1)[0]) + "\n" + '{"messages": [{"role": "user", "content": "a"}\n'
                   + json.dumps({"messages": [{"role": "robot", "content": "a"},
                                              {"role": "assistant", "content": "b"}]}) + "\n", encoding="utf-8")
    config = write_config(tmp_path / "config.yaml", job_config(chat_data, tiny_llama, dataset=str(bad)))
    proc = subprocess.run([sys.executable, "-m", "training", "check", str(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=CHILD_TIMEOUT)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: bad.jsonl")
    assert "line 2: bad JSON" in proc.stderr and "line 3, messages[0].role: unknown role 'robot'" in proc.stderr
    assert "Traceback" not in proc.stderr and "ok" not in proc.stdout.split()


@pytest.mark.parametrize("change, message", [
    ({"method": {"name": "lora", "rank": 0}}, "method.rank must be between 1 and 4096 (got 0)"),
    ({"method": {"name": "lora", "rank": 5000}}, "method.rank must be between 1 and 4096 (got 5000)"),
    ({"method": {"name": "lora", "targets": ["q_proj", "qkv"]}}, "'qkv' match(es) no linear layer"),
    ({"method": {"name": "lorra"}}, "Did you mean 'lora'?"),
    ({"batch_sise": 4}, "unknown field 'batch_sise'. Did you mean 'batch_size'?"),
    ({"dataset": "/nowhere/missing.jsonl"}, "missing.jsonl"),
])
def test_check_exits_2_before_training_on_a_config_it_cannot_run(chat_data, tiny_llama, tmp_path, capsys, change,
                                                                  message):
    from training.__main__ import main

    config = write_config(tmp_path / "config.yaml", job_config(chat_data, tiny_llama, **change))
    assert main(["check", str(config)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and message in captured.err, captured.err
    assert captured.out == ""


def test_check_passes_a_good_config_and_names_the_targets(chat_data, tiny_llama, tmp_path, capsys):
    from training.__main__ import main

    config = write_config(tmp_path / "config.yaml",
                          job_config(chat_data, tiny_llama, method={"name": "lora", "targets": ["q_proj", "v_proj"]}))
    assert main(["check", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"48 training examples from {chat_data['train']}", "targets: q_proj, v_proj", "ok"]
