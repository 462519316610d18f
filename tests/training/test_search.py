"""Searches on a tiny random Llama: the real recipe, the real Optuna study, pruned trials that stop at once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from store.urls import normalize
from tests.conftest import ROOT
from tests.postgres import postgres_server, postgres_url  # noqa: F401 - fixtures
from tests.training.conftest import chat_rows, write_jsonl


@pytest.fixture
def search_spec(tmp_path, tiny_llama) -> dict:
    train = write_jsonl(tmp_path / "train.jsonl", chat_rows(16))
    val = write_jsonl(tmp_path / "val.jsonl", chat_rows(8))
    return {
        "train": {"dataset": str(train), "eval_dataset": str(val), "base_model": f"hf:{tiny_llama}", "max_steps": 8,
                  "batch_size": 4, "max_length": 64, "warmup_ratio": 0.0, "tensorboard": False},
        "space": {"learning_rate": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
                  "method.rank": [2, 4]},
        "trials": 6, "trial_steps": 4, "eval_every": 1, "top_k": 2, "seed": 1,
    }


def config(spec):
    from training.search.config import SearchConfig

    return SearchConfig.from_dict(spec)


def run_search(spec, run_dir: Path):
    from training.search import engine

    events = []
    summary = engine.run(config(spec), run_dir, lambda event, **f: events.append((event, f)))
    return summary, events


# -- bad input, before anything starts ------------------------------------------------------------------------
@pytest.mark.parametrize("space, message", [
    ({"learning_rat": {"type": "float", "low": 1e-4, "high": 1e-3}},
     "unknown parameter 'learning_rat'.*Did you mean 'learning_rate'"),
    ({"method.rnk": [2, 4]}, "unknown parameter 'method.rnk'.*Did you mean 'method.rank'"),
    ({"learning_rate": {"type": "float", "low": 1e-3, "high": 1e-4}}, "space.learning_rate: the range is empty"),
    ({"method.rank": {"type": "int", "low": 8, "high": 8}}, "space.method.rank: the range is empty"),
    ({"batch_size": {"type": "categorical", "choices": []}}, "space.batch_size: the choices are empty"),
    ({"learning_rate": {"type": "float", "low": 0.0, "high": 1e-3, "log": True}}, "log scale needs low > 0"),
    ({"learning_rate": {"type": "flaot", "low": 0.1, "high": 0.2}}, "Did you mean 'float'"),
])
def test_bad_search_spaces_are_named_before_anything_starts(search_spec, space, message):
    from training.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        config({**search_spec, "space": space}).check()


def test_a_budget_smaller_than_one_evaluation_is_refused(search_spec):
    from training.config import ConfigError

    with pytest.raises(ConfigError, match="smaller than one evaluation.*after 2 step.*every 3"):
        config({**search_spec, "trial_steps": 2, "eval_every": 3}).check()
    with pytest.raises(ConfigError, match="smaller than one evaluation"):  # early-score: 20 % of 8 steps = 2
        config({**search_spec, "protocol": "early-score", "eval_every": 4}).check()


def test_an_unreachable_storage_is_refused_without_its_password(search_spec, tmp_path):
    from training.config import ConfigError
    from training.search import engine

    url = f"sqlite:///{tmp_path}/no/such/folder/study.db"
    with pytest.raises(ConfigError, match="cannot be reached"):
        engine.open_storage(url, None)
    with pytest.raises(ConfigError) as info:
        engine.open_storage("postgresql://alice:s3cret@127.0.0.1:1/optuna", None)
    assert "cannot be reached" in str(info.value) and "s3cret" not in str(info.value)


def test_cli_check_exits_2_on_a_bad_space(search_spec, tmp_path):
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump({**search_spec, "space": {"lr": [1e-3]}}))
    out = subprocess.run([sys.executable, "-m", "training", "search", "check", str(path)], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "unknown parameter 'lr'" in out.stderr


def test_the_grid_covers_every_point():
    from training.search.config import Param

    assert Param("x", "float", 0.0, 0.1, step=0.05).grid() == [0.0, 0.05, 0.1]
    assert Param("r", "int", 2, 8, step=2).grid() == [2, 4, 6, 8]
    assert Param("b", "categorical", choices=[4, 8]).grid() == [4, 8]


def test_yaml_round_trip(search_spec, tmp_path):
    first = config(search_spec)
    path = tmp_path / "s.yaml"
    path.write_text(first.to_yaml())
    from training.search.config import SearchConfig

    assert SearchConfig.from_yaml(path).to_dict() == first.to_dict()


# -- searches --------------------------------------------------------------------------------------------------
def test_two_phase_search_prunes_reports_and_trains_the_best_to_full_length(search_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    run_dir = tmp_path / "runs" / "search-a"
    run_dir.mkdir(parents=True)
    summary, events = run_search({**search_spec, "trials": 8, "pruner": "successive_halving"}, run_dir)
    trials = [f for e, f in events if e == "trial" and f["state"] != "running"]
    assert len(trials) == 8
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned, "successive halving pruned nothing"
    assert all(t["steps"] < 4 for t in pruned), "a pruned trial kept training"
    assert all(t["steps"] == 4 for t in trials if t["state"] == "complete")
    phase1, phase2 = summary["phases"]
    assert phase1["pruned"] == len(pruned) and phase1["steps"] == sum(t["steps"] for t in trials)
    assert phase2["trials"] == 2 and all(f["steps"] == 8 for f in summary["finals"])
    # the full-length runs are training runs: a model reference and a leaderboard candidate
    from models.run import weights

    best = summary["best"]
    assert best["run_id"] == summary["finals"][0]["run_id"] or best["value"] <= summary["finals"][0]["value"]
    assert weights(best["run_id"])[0] == "adapter"
    report = (run_dir / "report.md").read_text()
    assert "## Resources per phase" in report and f"run:{best['run_id']}" in report
    for png in ("optimization_history.png", "intermediate_values.png"):
        assert (run_dir / png).stat().st_size > 1000
    assert not any((run_dir / "trials").glob("*/adapter")), "phase-1 trials keep numbers, not weights"


def test_early_score_search_reports_how_well_early_scores_predicted(search_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    run_dir = tmp_path / "runs" / "search-e"
    run_dir.mkdir(parents=True)
    spec = {**search_spec, "protocol": "early-score", "early_fraction": 0.25, "verify_all": True, "pruner": "none",
            "trials": 4, "sampler": "random"}
    summary, events = run_search(spec, run_dir)
    early = [f for e, f in events if e == "trial" and f["state"] == "complete"]
    assert len(early) == 4 and all(t["steps"] == 2 for t in early), "each trial is scored at 25 % of 8 steps"
    assert len(summary["finals"]) == 4 and all(f["steps"] == 8 for f in summary["finals"])
    # The pairs are each configuration's phase-1 score (its trial event) and its full run's last validation loss
    # (that run's own summary), and the prediction is computed over exactly those pairs.
    early_of = {t["number"]: t["value"] for t in early}
    final_of = {f["number"]: json.loads((tmp_path / "runs" / f["run_id"] / "summary.json").read_text())["final_eval"]
                ["eval_loss"] for f in summary["finals"]}
    assert {f["number"]: (f["early"], f["value"]) for f in summary["finals"]} == {
        n: (early_of[n], pytest.approx(final_of[n], abs=1e-6)) for n in early_of}
    from scipy.stats import spearmanr

    numbers = sorted(early_of)
    rho = spearmanr([early_of[n] for n in numbers], [final_of[n] for n in numbers]).statistic
    pred = summary["prediction"]
    assert pred == {"spearman": round(float(rho), 3), "top_k": 4, "overlap": 4, "pairs": 4}  # top-4 of 4: all of them
    assert (f"Spearman rank correlation {pred['spearman']} over 4 configurations; top-4 overlap 4 of 4."
            in (run_dir / "report.md").read_text())


def finals_of(early: list, final: list) -> list[dict]:
    return [{"number": i, "early": e, "value": v} for i, (e, v) in enumerate(zip(early, final))]


def test_prediction_of_final_scores_from_early_ones_on_known_cases():
    from scipy.stats import spearmanr

    from training.search.report import prediction

    # same order: rho 1 and the 5 best by early score are the 5 best at the end
    assert prediction(finals_of([1, 2, 3, 4, 5, 6], [10, 20, 30, 40, 50, 60]), "minimize") == {
        "spearman": 1.0, "top_k": 5, "overlap": 5, "pairs": 6}
    # reversed order: rho -1; lowest five early (#0-4) against lowest five final (#1-5) share #1-4
    assert prediction(finals_of([1, 2, 3, 4, 5, 6], [60, 50, 40, 30, 20, 10]), "minimize") == {
        "spearman": -1.0, "top_k": 5, "overlap": 4, "pairs": 6}
    # two neighbours swapped twice: rank differences d = (-1, 1, -1, 1, 0), rho = 1 - 6 x sum(d^2) / (n (n^2 - 1))
    # = 1 - 6 x 4 / (5 x 24) = 0.8 (scipy agrees); minimising, the best 2 early (#0, #1) are the best 2 final
    # (values 1 and 2); maximising, the best 2 early are #4, #3 and the best 2 final #4 (5), #2 (4): one shared
    early, final = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    assert spearmanr(early, final).statistic == pytest.approx(0.8)
    assert prediction(finals_of(early, final), "minimize", top=2) == {"spearman": 0.8, "top_k": 2, "overlap": 2,
                                                                         "pairs": 5}
    assert prediction(finals_of(early, final), "maximize", top=2)["overlap"] == 1
    # configurations without both scores do not count, and fewer than 3 pairs predict nothing
    partial = finals_of([1, 2, None, 4], [1, 2, 3, None])
    assert prediction(partial, "minimize") is None
    assert prediction(partial + finals_of([5], [7]), "minimize")["pairs"] == 3


def test_a_crashing_trial_is_marked_failed_and_the_search_goes_on(search_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    run_dir = tmp_path / "runs" / "search-f"
    run_dir.mkdir(parents=True)
    # batch_size 0 passes the search-space check (a categorical value) but the trial's own config check refuses it
    spec = {**search_spec, "space": {"batch_size": [0, 4]}, "sampler": "grid", "trials": 2, "protocol": "single"}
    summary, events = run_search(spec, run_dir)
    states = sorted(f["state"] for e, f in events if e == "trial" and f["state"] != "running")
    assert states == ["complete", "failed"]
    failed = next(f for e, f in events if e == "trial" and f["state"] == "failed")
    assert "batch_size must be at least 1" in failed["error"]
    assert summary["phases"][0]["failed"] == 1 and summary["best"]["params"] == {"batch_size": 4}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_workers_share_one_rdb_study_without_duplicates(search_spec, tmp_path, backend, request):
    """`search create` puts the study in an RDB (SQLite, or a real PostgreSQL server); two worker processes pull
    trials from it at once.

    Which worker gets how many trials is the scheduler's business, so the test decides it: both workers start at
    once, each under its own step gate (PHARMATUNE_STEP_GATE) that holds each of its trials after step 1, so their
    start-ups overlap and two trials are in flight together; then worker 1's gate opens, and it must run the rest
    of the study while worker 0's trial stays in flight; worker 0's gate opens when worker 1 has gone, and worker 0
    finishes its trial."""
    import optuna
    from optuna.trial import TrialState

    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump({**search_spec, "trials": 6, "sampler": "random"}))
    url = f"sqlite:///{tmp_path}/optuna.db" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    env = {**os.environ, "PHARMATUNE_RUNS": str(tmp_path / "runs"), "OMP_NUM_THREADS": "1",
           "PHARMATUNE_STORE_URL": f"sqlite:///{tmp_path}/store.db"}
    created = subprocess.run([sys.executable, "-m", "training", "search", "create", str(path), "--storage", url,
                              "--study", "shared"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert created.returncode == 0, created.stderr
    gates = [tmp_path / "gate0", tmp_path / "gate1"]
    for gate in gates:
        gate.write_text("1", encoding="utf-8")

    def worker(i: int, extra: dict) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "training", "search", "worker", "--study", "shared",
                                 "--storage", url, "--quiet", "--run-dir", str(tmp_path / f"w{i}")],
                                cwd=ROOT, env={**env, **extra}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    # One storage for every look: a fresh one per poll (a new engine and a schema check, ~0.1 s of CPU) kept a
    # core half busy while the workers started. Optuna re-reads unfinished trials from the database on each look.
    storage = optuna.storages.RDBStorage(normalize(url))

    def trials() -> list:
        from sqlalchemy.exc import OperationalError

        try:
            return optuna.load_study(study_name="shared", storage=storage).trials
        except OperationalError:  # a worker is writing right now: look again
            return []

    def held() -> int:  # trials that reported their step-1 score and wait at their worker's gate
        return sum(t.state == TrialState.RUNNING and 1 in t.intermediate_values for t in trials())

    def both_hold() -> bool:
        for i, w in enumerate(workers):
            if w.poll() is not None:
                raise AssertionError(f"worker {i} ended before holding a trial: {w.communicate()[1][-2000:]}")
        return held() == 2

    workers = [worker(i, {"PHARMATUNE_STEP_GATE": str(gates[i])}) for i in (0, 1)]
    try:
        wait_until(both_hold, workers[0], "each worker to hold a trial at step 1")
        gates[1].unlink()
        out1, err1 = workers[1].communicate(timeout=600)  # a hang guard only
        assert workers[1].returncode == 0, err1[-2000:]
        assert workers[0].poll() is None and held() == 1  # worker 0's trial was in flight the whole time
        gates[0].unlink()
        out0, err0 = workers[0].communicate(timeout=600)
        assert workers[0].returncode == 0, err0[-2000:]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.communicate()
        storage.engine.dispose()

    study = optuna.load_study(study_name="shared", storage=normalize(url))
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(len(numbers))), "a trial number was handed out twice"
    finished = [t for t in study.trials if t.state.is_finished()]
    # worker 1 stopped once 6 had finished, worker 0's held trial not among them; it finished after: 7, none left
    assert len(finished) == len(study.trials) == 7
    own = {w: sorted(p.name for p in (tmp_path / w / "trials").iterdir()) for w in ("w0", "w1")}
    assert own["w0"] and own["w1"], f"a worker ran no trial: {own}"  # each worker's own trial folders
    assert len(own["w0"]) + len(own["w1"]) == 7 and not set(own["w0"]) & set(own["w1"])
    for out in (out0, out1):
        assert json.loads(out.strip().splitlines()[-1])["study"] == "shared"


def wait_until(predicate, process: subprocess.Popen, what: str, timeout: float = 600):
    """Poll for a state; a process that ends first fails at once (its stderr in the message). The timeout only
    catches a hang."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"the process ended before {what}: {process.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
