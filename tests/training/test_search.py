"""Searches on a tiny random Llama: the real recipe, the real Optuna study, pruned trials that stop at once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
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
    ({"learning_rat": {"type": "float", "low": 1e-4, "high": 1e-3}}, "unknown parameter 'learning_rat'.*Did you mean 'learning_rate'"),
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
    pred = summary["prediction"]
    assert pred["pairs"] == 4 and pred["top_k"] == 4 and -1 <= pred["spearman"] <= 1
    assert "Spearman rank correlation" in (run_dir / "report.md").read_text()


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
def test_two_workers_share_one_rdb_study_without_duplicates(search_spec, tmp_path):
    """`search create` puts the study in an SQLite RDB; two worker processes pull trials from it at once."""
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump({**search_spec, "trials": 6, "sampler": "random"}))
    url = f"sqlite:///{tmp_path}/optuna.db"
    env = {**os.environ, "PHARMATUNE_RUNS": str(tmp_path / "runs"), "OMP_NUM_THREADS": "1",
           "PHARMATUNE_STORE_URL": f"sqlite:///{tmp_path}/store.db"}
    created = subprocess.run([sys.executable, "-m", "training", "search", "create", str(path), "--storage", url,
                              "--study", "shared"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    workers = [subprocess.Popen([sys.executable, "-m", "training", "search", "worker", "--study", "shared",
                                 "--storage", url, "--quiet", "--run-dir", str(tmp_path / f"w{i}")],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1][-2000:] for o in outputs]
    ran = [json.loads(out.strip().splitlines()[-1])["trials_run"] for out, _ in outputs]
    import optuna

    study = optuna.load_study(study_name="shared", storage=url)
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(len(numbers))), "a trial number was handed out twice"
    finished = [t for t in study.trials if t.state.is_finished()]
    assert 6 <= len(finished) <= 7  # each worker stops once 6 have finished; one in flight may finish after
    assert all(r >= 1 for r in ran), f"one worker did all the work: {ran}"
    folders = sorted(p.name for w in ("w0", "w1") for p in (tmp_path / w / "trials").iterdir())
    assert len(folders) == len(set(folders)) == len(study.trials)
