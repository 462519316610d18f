"""A training run's progress, reduced from its events without any UI (training.progress)."""
from training.progress import TrainProgress


def train(step, loss):
    return {"event": "train", "step": step, "max_steps": 6, "loss": loss}


def test_a_resume_keeps_the_trajectory_the_weights_followed():
    progress = TrainProgress("training-x")
    for event in [{"event": "queued", "position": 2}, {"event": "status", "status": "running"},
                  {"event": "setup", "task": "sft", "planned_steps": 6}, train(1, 3.0), train(2, 2.5),
                  {"event": "checkpoint", "step": 2}, train(3, 2.2), train(4, 2.0),
                  {"event": "resume", "from_step": 2, "checkpoint": "checkpoints/checkpoint-2"}, train(3, 2.1)]:
        progress.apply(event)
    assert progress.position is None  # the status after the queued event ended the wait
    assert {s: e["loss"] for s, e in progress.train.items()} == {1: 3.0, 2: 2.5, 3: 2.1}  # step 4 was undone
    assert progress.resumes == [2] and progress.checkpoints == [2]
    assert (progress.step, progress.max_steps, progress.reference) == (3, 6, "run:training-x")


def test_benchmarks_after_training_are_kept_as_sent():
    progress = TrainProgress("training-x")
    progress.apply({"event": "evaluation", "benchmark": "medquad", "skipped": "needs shared:medquad"})
    progress.apply({"event": "evaluation", "benchmark": "drug-qa", "model": "run:training-x", "started": True})
    progress.apply({"event": "progress", "variant": "default", "done": 3, "total": 5})
    assert (progress.evaluating, progress.evaluating_items) == ("drug-qa", (3, 5))
    progress.apply({"event": "evaluation", "benchmark": "drug-qa", "variant": "default", "items": 5,
                    "metrics": {"rougeL": 0.25}, "leaderboard_id": 3})
    assert progress.evaluating is None
    assert progress.evaluation == [{"benchmark": "medquad", "skipped": "needs shared:medquad"},
                                   {"benchmark": "drug-qa", "variant": "default", "items": 5,
                                    "metrics": {"rougeL": 0.25}, "leaderboard_id": 3}]
