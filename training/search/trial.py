"""One training run inside a search or a study: the real recipe, in this process, with a hook on every evaluation
that may stop it (a pruned trial, or one scored early). Searches and studies share it."""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path


class StopTrial(Exception):
    """Raised from the evaluation hook: the Trainer unwinds at once and nothing more is trained or saved."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class TrialResult:
    state: str  # complete | pruned | scored (stopped on purpose after its early score)
    steps: int  # training steps actually run (the compute it used)
    seconds: float
    evals: list[dict] = field(default_factory=list)  # every evaluation: step and eval_* metrics
    summary: dict = field(default_factory=dict)  # the recipe's summary when it ran to the end

    def last(self, metric: str):
        values = [e[metric] for e in self.evals if e.get(metric) is not None]
        return values[-1] if values else None


def run_trial(config, run_dir: Path, *, on_eval=None, emit=None, keep_weights: bool = False) -> TrialResult:
    """Train `config` into run_dir. `on_eval(step, metrics)` runs after each evaluation and may raise StopTrial.
    Without keep_weights the checkpoints and weights are deleted afterwards: a search keeps numbers, not models."""
    from training import recipe

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
    evals: list[dict] = []
    progress = {"step": 0}

    def hook(event: str, **fields):
        if event in ("train", "eval"):
            progress["step"] = max(progress["step"], int(fields.get("step") or 0))
        if emit is not None:
            emit(event, **fields)
        if event == "eval":
            evals.append(fields)
            if on_eval is not None:
                on_eval(int(fields["step"]), fields)

    started = time.time()
    try:
        summary = recipe.train(config, run_dir, hook)
        result = TrialResult("complete", int(summary.get("steps") or progress["step"]), time.time() - started,
                             evals, summary)
        if summary.get("final_eval") and (not evals or evals[-1].get("step") != summary.get("steps")):
            evals.append({"step": summary.get("steps"), **summary["final_eval"]})
    except StopTrial as stop:
        result = TrialResult(stop.reason, progress["step"], time.time() - started, evals)
    finally:
        if not keep_weights:
            for name in ("checkpoints", "adapter", "model"):
                shutil.rmtree(run_dir / name, ignore_errors=True)
    (run_dir / "result.json").write_text(json.dumps({"state": result.state, "steps": result.steps,
                                                     "seconds": round(result.seconds, 2), "evals": evals},
                                                    default=str), encoding="utf-8")
    return result
