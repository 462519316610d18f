"""The four studies on tiny random models (a Llama for chat, a BERT for regression): real training runs, real
reports with their tables and plots, and the bad inputs refused before anything starts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.training.conftest import chat_rows, regression_rows, write_jsonl


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PHARMATUNE_STORE_URL", f"sqlite:///{tmp_path}/store.db")
    (tmp_path / "runs").mkdir()
    return tmp_path / "runs"


@pytest.fixture
def chat_train(tmp_path, tiny_llama) -> dict:
    return {"dataset": str(write_jsonl(tmp_path / "train.jsonl", chat_rows(16))),
            "eval_dataset": str(write_jsonl(tmp_path / "val.jsonl", chat_rows(8))),
            "base_model": f"hf:{tiny_llama}", "max_steps": 4, "learning_rate": 1e-2, "batch_size": 4,
            "max_length": 64, "tensorboard": False, "warmup_ratio": 0.0}


def corrupted(rows: list[dict], indices) -> list[dict]:
    """Swap the 3.0/1.0 targets of these rows (in the answer and the meta label alike)."""
    for i in indices:
        value = 4.0 - rows[i]["meta"]["label"]
        rows[i]["meta"]["label"] = value
        rows[i]["messages"][-1]["content"] = str(value)
    return rows


@pytest.fixture
def regression_train(tmp_path, tiny_bert) -> dict:
    return {"dataset": str(write_jsonl(tmp_path / "r-train.jsonl", regression_rows(16))),
            "eval_dataset": str(write_jsonl(tmp_path / "r-val.jsonl", regression_rows(8))),
            "base_model": f"hf:{tiny_bert}", "task": "regression", "input_field": "smiles", "max_steps": 6,
            "learning_rate": 1e-2, "batch_size": 4, "max_length": 64, "tensorboard": False, "warmup_ratio": 0.0}


def study_of(spec):
    from training.studies.config import StudyConfig

    return StudyConfig.from_dict(spec)


def run_study(spec, runs: Path, name="study-x"):
    from training.studies.registry import STUDIES

    study = study_of(spec)
    study.check()
    run_dir = runs / name
    run_dir.mkdir()
    events = []
    summary = STUDIES[study.study].run(study, run_dir, lambda event, **f: events.append((event, f)))
    return summary, events, run_dir


# -- bad input -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fields, message", [
    ({"study": "lora-rnak"}, "Did you mean 'lora-rank'"),
    ({"study": "lora-rank", "ranks": [4, "intrinsics"]}, "ranks: 'intrinsics' is neither"),
    ({"study": "data-efficiency", "sizes": [50]}, "at least two whole numbers"),
    ({"study": "data-selection", "selections": ["influence"]}, "set pool"),
    ({"study": "data-selection", "selections": ["shapley"], "pool": "x.jsonl"}, "needs a classification or regression"),
    ({"study": "method-comparison", "methods": ["lora", "prefix"]}, "methods: 'prefix' is not one of"),
    ({"study": "method-comparison", "selections": ["none"], "select_rule": "top-k"}, "needs select_k"),
])
def test_bad_study_configs_are_refused_before_anything_starts(chat_train, fields, message):
    from training.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        study_of({"train": chat_train, **fields}).check()


def test_a_study_budget_smaller_than_one_evaluation_is_refused(chat_train):
    from training.config import ConfigError

    with pytest.raises(ConfigError, match="smaller than one evaluation: 4 step.*every 10"):
        study_of({"study": "lora-rank", "train": {**chat_train, "eval_every": 10}}).check()


def test_saturation_is_the_smallest_size_within_epsilon_of_the_best():
    from training.studies.efficiency import saturation

    points = [(50, 0.60), (100, 0.78), (200, 0.845), (400, 0.85), (800, 0.86)]
    assert saturation(points, 0.02, lower_is_better=False) == 200  # 0.845 ≥ 0.86 × 0.98 = 0.8428
    assert saturation(points, 0.0, lower_is_better=False) == 800
    assert saturation([(10, 2.0), (20, 1.0), (40, 1.01)], 0.02, lower_is_better=True) == 20
    # the smallest size within reach, even if a later one dips out of it; the band is relative to |best|
    assert saturation([(10, 0.86), (20, 0.70), (40, 0.87)], 0.02, lower_is_better=False) == 10  # 0.86 >= 0.8526
    assert saturation([(10, 1.03), (20, 1.0)], 0.02, lower_is_better=True) == 20  # 1.03 > 1.0 x 1.02
    assert saturation([(5, -1.9), (10, -2.0)], 0.1, lower_is_better=True) == 5  # |-1.9 - -2.0| <= 0.1 x 2.0
    assert saturation([], 0.02, lower_is_better=True) is None


# -- the studies -----------------------------------------------------------------------------------------------
def test_data_efficiency_from_the_cli_writes_its_curve(chat_train, runs, tmp_path):
    from training.studies.cli import main

    path = tmp_path / "eff.yaml"
    path.write_text(yaml.safe_dump({"study": "data-efficiency", "sizes": [4, 8, 16, 500], "train": chat_train}))
    run_dir = runs / "study-eff"
    assert main(["run", str(path), "--run-dir", str(run_dir), "--quiet"]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [r["size"] for r in summary["rows"]] == [4, 8, 16] and summary["dropped_sizes"] == [500]
    # Each point is the validation loss its own run reported, and the saturation point is worked out here from those
    # runs' files: the smallest size whose loss is within epsilon (2 %, relative) of the lowest one.
    losses = {size: json.loads((runs / f"study-eff-n{size}" / "summary.json").read_text())["final_eval"]["eval_loss"]
              for size in (4, 8, 16)}
    assert {r["size"]: r["eval_loss"] for r in summary["rows"]} == losses
    best = min(losses.values())
    expected = min(size for size, loss in losses.items() if loss <= best + 0.02 * abs(best))
    assert summary["saturation"] == expected
    report = (run_dir / "report.md").read_text()
    assert f"**Saturation point: {expected} examples**" in report and "dropped: [500]" in report
    assert (run_dir / "data_efficiency.png").stat().st_size > 1000
    import jobs

    assert jobs.get("study-eff").status == "done" and jobs.get("study-eff-n8").status == "done"
    from models.run import weights

    assert weights("study-eff-n8")[0] == "adapter"  # each point is a model of its own


def test_lora_rank_study_trains_each_rank_and_the_intrinsic_dimension(chat_train, runs):
    summary, events, run_dir = run_study({"study": "lora-rank", "ranks": [1, 4, "intrinsic"], "intrinsic_examples": 16,
                                          "train": chat_train}, runs)
    rows = summary["rows"]
    id_rank = summary["intrinsic_rank"]
    assert id_rank >= 1 and any("intrinsic" in r["label"] for r in rows)
    assert [r["rank"] for r in rows][:2] == [1, 4] and all(r["alpha"] == 8 * r["rank"] for r in rows)
    by_rank = sorted(rows, key=lambda r: r["rank"])
    percents = [r["trainable_percent"] for r in by_rank]
    assert percents == sorted(percents) and len(set(percents)) == len(percents)
    assert all(r["eval_loss"] is not None for r in rows)
    # the profile per layer before and after: embeddings + 2 layers for the base model and every rank
    profiles = summary["profiles"]
    assert len(profiles) == 1 + len(rows) and all(len(p) == 3 for p in profiles.values())
    report = (run_dir / "report.md").read_text()
    assert "(#1)" in report and "Intrinsic dimension per layer" in report
    assert (run_dir / "intrinsic_dimension.png").stat().st_size > 1000


def test_method_comparison_with_influence_and_shapley_selection(regression_train, runs, tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", corrupted(regression_rows(12), range(4)))
    summary, events, run_dir = run_study(
        {"study": "method-comparison", "methods": ["lora", "bitfit"], "selections": ["none", "influence", "shapley"],
         "pool": str(pool), "metric": "eval_rmse", "shapley_permutations": 20, "select_rule": "top-k", "select_k": 6,
         "train": regression_train}, runs)
    rows = summary["rows"]
    assert {(r["method"], r["selection"]) for r in rows} == {(m, s) for m in ("lora", "bitfit")
                                                            for s in ("none", "influence", "shapley")}
    assert all(r["state"] == "complete" and r["eval_rmse"] is not None for r in rows)
    assert summary["chosen"] == {"none": 12, "influence": 6, "shapley": 6}
    chosen = json.loads((run_dir / "selection.json").read_text())["chosen"]
    train_files = {s: sum(1 for _ in open(run_dir / "data" / f"train-{s}.jsonl")) for s in chosen}
    assert train_files == {"none": 28, "influence": 22, "shapley": 22}  # 16 train + what each strategy chose
    report = (run_dir / "report.md").read_text()
    assert "## eval_rmse (lower is better)" in report and "## Training time (s)" in report
    assert "| lora |" in report and "| bitfit |" in report and "Reference run" in report
    assert (run_dir / "selection_scores.png").stat().st_size > 1000


def test_data_selection_study_prefers_clean_examples(regression_train, runs, tmp_path):
    """Shapley values on frozen features rank the 4 examples with swapped targets below the clean ones."""
    pool = write_jsonl(tmp_path / "pool.jsonl", corrupted(regression_rows(16), range(4)))
    summary, events, run_dir = run_study(
        {"study": "data-selection", "selections": ["shapley"], "pool": str(pool), "metric": "eval_rmse",
         "shapley_permutations": 30, "train": regression_train}, runs)
    scores = json.loads((run_dir / "selection.json").read_text())["scores"]["shapley"]
    bad, good = scores[:4], scores[4:]
    assert sum(bad) / 4 < sum(good) / 12
    assert [r["method"] for r in summary["rows"]] == ["lora"]
    assert [e for e, f in events if e == "selection"] == ["selection"]


def _pairs_and_prompts(tmp_path) -> tuple[str, str]:
    pairs = [{"prompt": [{"role": "user", "content": f"Does aspirin interact with warfarin? (case {i})"}],
              "chosen": [{"role": "assistant", "content": "interaction"}],
              "rejected": [{"role": "assistant", "content": "no interaction"}]} for i in range(8)]
    prompts = [{"messages": [{"role": "user", "content": f"Does aspirin interact with warfarin? (case {i})"},
                             {"role": "assistant", "content": "interaction"}]} for i in range(8)]
    return (str(write_jsonl(tmp_path / "pairs.jsonl", pairs)), str(write_jsonl(tmp_path / "prompts.jsonl", prompts)))


def test_task_comparison_trains_sft_dpo_and_grpo_with_one_budget_and_scores_each(chat_train, runs, tmp_path):
    pairs, prompts = _pairs_and_prompts(tmp_path)
    base = {**chat_train, "max_steps": 2, "eval_dataset": None, "eval_split": None}
    summary, events, run_dir = run_study({
        "study": "task-comparison", "train": base, "benchmark": "ddi-binary", "benchmark_limit": 3,
        "metric": "accuracy",
        "arms": [{"task": "sft"}, {"task": "dpo", "dataset": pairs, "preference": {"beta": 0.2}},
                 {"name": "grpo-format", "task": "grpo", "dataset": prompts,
                  "grpo": {"rewards": [{"metric": "format", "pattern": "^(interaction|no interaction)$"}],
                           "num_generations": 4, "max_completion_length": 4}}]}, runs)
    rows = summary["rows"]
    assert [(r["arm"], r["task"], r["state"]) for r in rows] == \
        [("sft", "sft", "complete"), ("dpo", "dpo", "complete"), ("grpo-format", "grpo", "complete")]
    assert all(r["steps"] == 2 and r["accuracy"] is not None for r in rows)
    configs = [yaml.safe_load((runs / r["run_id"] / "config.yaml").read_text()) for r in rows]
    assert [c["task"] for c in configs] == ["sft", "dpo", "grpo"]
    assert configs[1]["preference"]["beta"] == 0.2 and "grpo" not in configs[1]
    assert {c["base_model"] for c in configs} == {chat_train["base_model"]}
    from evaluation import leaderboard

    assert {row.model for row in leaderboard.rows("ddi-binary")} == {f"run:{r['run_id']}" for r in rows}
    report = (run_dir / "report.md").read_text()
    assert "| grpo-format | grpo |" in report and "**Best:" in report


@pytest.mark.parametrize("fields, message", [
    ({"arms": [{"task": "sft"}]}, "at least two arms"),
    ({"arms": [{"task": "sft"}, {"task": "dpo"}], "benchmark": None}, "name the benchmark that scores it"),
    ({"arms": [{"task": "sft"}, {"task": "dpo"}], "metric": "eval_loss"}, "not comparable across tasks"),
    ({"arms": [{"task": "sft"}, {"task": "sft", "base_model": "hf:x"}]}, r"arms\[1\] \(sft\): base_model is the same"),
    ({"arms": [{"task": "sft"}, {"task": "sft"}]}, "the name 'sft' is used twice"),
    ({"arms": [{"task": "sft"}, {"task": "grpo", "grpo": {"rewards": [{"metric": "smiles_valdity"}]}}]},
     r"arms\[1\] \(grpo\): .*Did you mean 'smiles_validity'"),
    ({"arms": [{"task": "sft"}, {"task": "dpo"}], "train_extra": {"report_to": ["mlflow"]}},
     "not logged to experiment trackers"),
])
def test_bad_task_comparisons_are_refused_before_anything_starts(chat_train, fields, message):
    from training.config import ConfigError

    extra = fields.pop("train_extra", {})
    spec = {"study": "task-comparison", "train": {**chat_train, **extra}, "benchmark": "ddi-binary",
            "metric": "accuracy", **fields}
    with pytest.raises(ConfigError, match=message):
        study_of(spec).check()


def test_an_arm_keeps_the_base_configs_settings_of_its_own_task(chat_train):
    from training.studies import tasks

    study = study_of({"study": "task-comparison", "benchmark": "ddi-binary", "metric": "accuracy",
                      "train": {**chat_train, "task": "dpo", "preference": {"beta": 0.5}},
                      "arms": [{"task": "dpo"}, {"task": "sft"}, {"task": "dpo", "name": "b2", "preference": {"beta": 0.1}}]})
    (_, dpo), (_, sft), (_, other) = tasks.arms(study, study.base_config())
    assert dpo.preference.beta == 0.5 and other.preference.beta == 0.1 and "preference" not in sft.to_dict()
