"""Experiment tracking beyond TensorBoard: a training job with report_to: [mlflow] logs into a local MLflow store
(params, per-step metrics, the final validation metrics and the rows of the benchmarks run after training); a
tracker that cannot run here is refused before training with a sentence; a failed run is marked failed."""
from __future__ import annotations

import pytest

from tests.training.conftest import config_of

pytestmark = pytest.mark.slow


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def test_a_run_logs_params_steps_final_metrics_and_benchmark_rows_to_mlflow(isolated_runs, llama, chat_file,
                                                                          monkeypatch):
    from training import tracking
    from training.__main__ import run

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")  # recorded, so MLflow's own setting is undone after the test
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    run_dir = isolated_runs / "training-mlflow"
    run_dir.mkdir()
    # an epoch-based run (max_steps not set) with gradient checkpointing: both differ from the Trainer's own
    # arguments of the same names (max_steps -1, gradient_checkpointing False), which its callback logs too
    config = config_of({"dataset": str(chat_file), "base_model": llama, "max_steps": None, "epochs": 1, "limit": 12,
                        "batch_size": 4, "log_every": 1, "eval_split": None, "gradient_checkpointing": True,
                        "report_to": ["mlflow"], "evaluate": ["ddi-binary"], "evaluate_limit": 3})
    (run_dir / "config.yaml").write_text(config.to_yaml())
    code, summary = run(config, run_dir, quiet=True)
    assert code == 0, summary
    uri = tracking.tracking_uri()
    assert uri == f"sqlite:///{(isolated_runs / 'mlruns' / 'mlflow.db').resolve()}"  # the default local store
    client = _client(uri)
    experiment = client.get_experiment_by_name("pharmatune")
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.info.run_name == "training-mlflow" and found.info.status == "FINISHED"
    params = found.data.params
    assert params["pharmatune.method.name"] == "lora" and params["pharmatune.max_steps"] == "None"
    assert params["pharmatune.base_model"] == llama and params["pharmatune.gradient_checkpointing"] == "True"
    assert params["max_steps"] == "-1" and params["learning_rate"] == str(config.learning_rate)  # the Trainer's
    losses = client.get_metric_history(found.info.run_id, "loss")
    assert summary["steps"] >= 2 and [m.step for m in losses] == list(range(1, summary["steps"] + 1))
    import json

    logged = {e["step"]: e["loss"] for e in map(json.loads, (run_dir / "events.jsonl").read_text().splitlines())
              if e["event"] == "train"}  # the same losses the run's own events hold
    assert {m.step: m.value for m in losses} == pytest.approx(logged)
    row = summary["evaluation"][0]
    metrics = found.data.metrics
    assert metrics["benchmark/ddi-binary/default/accuracy"] == pytest.approx(row["metrics"]["accuracy"])
    assert metrics["final/train_loss"] == pytest.approx(summary["train_loss"])
    assert found.data.tags["pharmatune.task"] == "sft"
    assert found.info.artifact_uri.startswith((isolated_runs / "mlruns" / "artifacts").resolve().as_uri())
    local = client.download_artifacts(found.info.run_id, "evaluation.json", str(run_dir))
    assert json.loads(open(local).read())["rows"][0]["leaderboard_id"] == row["leaderboard_id"]


def test_a_tracker_that_cannot_run_here_is_refused_before_training(isolated_runs, llama, chat_file, monkeypatch):
    from training import tracking
    from training.__main__ import run

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert tracking.problems(["mlflow"]) == []
    missing = tracking.problems(["trackio", "wandb"])
    assert len(missing) == 2 and all(p.startswith("report_to: ") for p in missing)
    run_dir = isolated_runs / "training-nowandb"
    run_dir.mkdir()
    config = config_of({"dataset": str(chat_file), "base_model": llama, "max_steps": 1, "report_to": ["wandb"]})
    code, summary = run(config, run_dir, quiet=True)
    assert code == 1 and summary["error"].startswith("report_to: wandb")
    assert not (run_dir / "adapter").exists()
    from training.config import ConfigError

    with pytest.raises(ConfigError, match="report_to 'mlfow' is not one of mlflow, trackio, wandb. Did you mean"):
        config_of({"dataset": str(chat_file), "report_to": ["mlfow"]})
