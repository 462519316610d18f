"""Benchmarks inside a training job: a few items scored every eval_every steps (events only), and the full
benchmarks after training on run:<id>, whose rows land on the leaderboard with the run's method."""
from __future__ import annotations

import pytest

from tests.training.conftest import config_of, train


def test_benchmark_metrics_are_scored_during_training(isolated_runs, llama, chat_file):
    done = train({"dataset": str(chat_file), "base_model": llama, "max_steps": 4, "eval_every": 2,
                  "eval_benchmarks": ["ddi-binary"], "eval_benchmark_limit": 3}, isolated_runs / "training-bench")
    scored = done.of("eval_benchmark")
    assert [e["step"] for e in scored] == [2, 4]
    assert all(e["benchmark"] == "ddi-binary" and e["items"] == 3 for e in scored)
    assert set(scored[0]["metrics"]) >= {"accuracy", "unparseable"}
    assert (isolated_runs / "training-bench" / "eval-during-training" / "step-2" / "ddi-binary" / "predictions.jsonl").is_file()
    # Scoring switches the model to eval mode and back: training went on to the end.
    assert done.summary["steps"] == 4


def test_benchmarks_during_training_need_eval_every_and_a_text_task():
    from training.config import ConfigError

    with pytest.raises(ConfigError, match="set eval_every"):
        config_of({"dataset": "x.jsonl", "eval_benchmarks": ["ddi-binary"]})
    with pytest.raises(ConfigError, match="classification head does not"):
        config_of({"dataset": "x.jsonl", "task": "classification", "eval_every": 2, "eval_benchmarks": ["ddi-binary"]})


def test_benchmarks_after_training_land_on_the_leaderboard_as_the_run(isolated_runs, llama, chat_file):
    import yaml

    from evaluation import leaderboard
    from training.__main__ import run

    run_dir = isolated_runs / "training-after"
    run_dir.mkdir()
    config = config_of({"dataset": str(chat_file), "base_model": llama, "evaluate": ["ddi-binary"], "evaluate_limit": 3})
    (run_dir / "config.yaml").write_text(config.to_yaml())
    code, summary = run(config, run_dir, quiet=True)
    assert code == 0, summary
    rows = leaderboard.rows("ddi-binary", "run:training-after", "")
    assert len(rows) == 1 and rows[0].items == 3
    assert rows[0].method == "lora" and rows[0].base_model == llama and rows[0].run_id == "training-after"
    assert summary["evaluation"][0]["leaderboard_id"] == rows[0].id
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["evaluate"] == ["ddi-binary"]
