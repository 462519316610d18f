"""An evaluation run's progress, reduced from its events without any UI (evaluation.progress)."""
from evaluation.progress import EvalProgress


def test_states_items_reuse_and_results_per_model_and_benchmark():
    progress = EvalProgress("eval-x")
    for event in [{"event": "status", "status": "running"},
                  {"event": "skipped", "model": "dummy:echo", "benchmark": "medquad", "reason": "needs shared:medquad"},
                  {"event": "start", "model": "dummy:echo", "benchmark": "ddi-binary"},
                  {"event": "resume_items", "items": 4, "path": "p.jsonl"},
                  {"event": "progress", "variant": "default", "done": 6, "total": 8, "items_per_s": 2.0, "eta_s": 1.0},
                  {"event": "scoring", "variant": "default", "metrics": ["classification"]},
                  {"event": "result", "model": "dummy:echo", "benchmark": "ddi-binary", "variant": "default",
                   "items": 8, "metrics": {"accuracy": 0.5}, "leaderboard_id": 7},
                  {"event": "status", "status": "done"}]:
        progress.apply(event)
    skipped, ran = progress.tasks[("dummy:echo", "medquad")], progress.tasks[("dummy:echo", "ddi-binary")]
    assert (skipped["state"], skipped["reason"]) == ("skipped", "needs shared:medquad")
    assert ran["resumed"] == 4 and ran["variants"]["default"]["state"] == "scored"
    assert progress.scored == [{"model": "dummy:echo", "benchmark": "ddi-binary", "variant": "default", "items": 8,
                                "metrics": {"accuracy": 0.5}, "leaderboard_id": 7}]
    assert progress.finished and progress.status == "done"
