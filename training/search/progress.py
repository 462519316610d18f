"""A search's or a study's progress as its events tell it: phase-1 trials (pruned or not, steps run against a
full grid), full-length runs, study runs, and the best so far. The Studies tab renders it."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StudyProgress:
    """A search's or study's progress reduced from its events (trials, full-length runs, study runs, the best so
    far), with no formatting: the Studies tab renders it. `offset` is where the next read continues."""

    run_id: str
    kind: str = "search"  # the job kind: search | study
    directory: str = ""
    offset: int = 0
    status: str = "queued"
    error: str | None = None
    config: dict = field(default_factory=dict)  # the run's config.yaml
    study_name: str | None = None
    trials: dict = field(default_factory=dict)  # phase-1 trial number -> its latest event (params kept)
    finals: dict = field(default_factory=dict)  # phase-2 place -> its latest event
    runs: dict = field(default_factory=dict)  # a study's run label -> its latest study_run event
    notes: list = field(default_factory=list)
    summary: dict | None = None
    changed: bool = True

    @property
    def finished(self) -> bool:
        import jobs

        return self.status in jobs.TERMINAL

    def apply(self, event: dict) -> None:
        kind = event.get("event")
        fields = {k: v for k, v in event.items() if k not in ("event", "time")}
        if kind == "trial" and "number" in event:
            number = int(event["number"])
            self.trials[number] = {**self.trials.get(number, {}), **fields}
        elif kind == "final" and "place" in event:
            place = int(event["place"])
            self.finals[place] = {**self.finals.get(place, {}), **fields}
        elif kind == "study_run" and "label" in event:
            label = str(event["label"])
            self.runs[label] = {**self.runs.get(label, {}), **fields}
        elif kind == "search":
            self.study_name = event.get("study") or self.study_name
        elif kind == "intrinsic_dimension":
            self.notes.append(f"intrinsic dimension ({event.get('how')}): rank {event.get('rank')}")
        elif kind == "selection":
            self.notes.append(f"{event.get('strategy')} selected {event.get('chosen')} of {event.get('pool')} "
                              "pool examples")
        elif kind == "status":
            self.status = event.get("status", self.status)
            if event.get("error"):
                self.error = event["error"]

    # -- search figures -------------------------------------------------------------------------------------------
    @property
    def direction(self) -> str:
        return self.config.get("direction") or "minimize"

    @property
    def objective(self) -> str:
        if self.kind == "study":
            return self.config.get("metric") or "eval_loss"
        return self.config.get("objective") or "eval_loss"

    @property
    def full_length(self) -> int | None:
        return self.config.get("full_steps") or (self.config.get("train") or {}).get("max_steps")

    @property
    def per_trial(self) -> int:
        """Steps a phase-1 trial would train with nothing pruned (early-score: each trial's full length)."""
        if self.config.get("protocol") == "early-score":
            return int(self.full_length or 0)
        return int(self.config.get("trial_steps") or 0)

    @property
    def param_names(self) -> list[str]:
        names = list((self.config.get("space") or {}).keys())
        for trial in [*self.trials.values(), *self.finals.values()]:
            names += [n for n in (trial.get("params") or {}) if n not in names]
        return names

    def phase1(self) -> dict:
        """Live counts of phase 1 (summary.json's figures once it ends)."""
        ended = [t for t in self.trials.values() if t.get("state") in ("complete", "pruned", "failed")]
        counts = {s: sum(1 for t in ended if t["state"] == s) for s in ("complete", "pruned", "failed")}
        steps = sum(int(t.get("steps") or 0) for t in ended)
        unpruned = len(ended) * self.per_trial
        row = {"trials": len(ended), **counts, "running": sum(1 for t in self.trials.values()
                                                               if t.get("state") == "running"),
               "pruned_percent": round(100 * counts["pruned"] / len(ended), 1) if ended else 0.0,
               "steps": steps, "steps_unpruned": unpruned,
               "saved_percent": round(100 * (1 - steps / unpruned), 1) if unpruned else None}
        if self.summary and self.summary.get("phases"):
            first = self.summary["phases"][0]
            row.update({k: first.get(k, row.get(k)) for k in ("trials", "complete", "pruned", "failed",
                                                              "pruned_percent", "steps", "steps_unpruned")})
            row["saved_percent"] = self.summary.get("compute_saved_percent")
            row["running"] = 0
        return row

    @property
    def best(self) -> dict | None:
        """{params, value, run_id, trial}: summary.json's best at the end; while it runs, the best full-length run
        so far, else the best complete phase-1 trial."""
        if self.summary and self.summary.get("best"):
            return self.summary["best"]
        better = min if self.direction == "minimize" else max
        finals = [f for f in self.finals.values() if f.get("state") == "complete" and f.get("value") is not None]
        if finals:
            pick = better(finals, key=lambda f: f["value"])
            return {"params": pick.get("params") or {}, "value": pick["value"], "run_id": pick.get("run_id"),
                    "trial": pick.get("number")}
        done = [t for t in self.trials.values() if t.get("state") == "complete" and t.get("value") is not None]
        if done:
            pick = better(done, key=lambda t: t["value"])
            return {"params": pick.get("params") or {}, "value": pick["value"], "run_id": None,
                    "trial": pick.get("number")}
        return None

    def best_study_run(self) -> dict | None:
        """A study's best finished run by its primary metric, in the direction the metric registry gives it."""
        from errors import ConfigError
        from training.studies.config import higher_is_better

        metric = self.objective
        done = [r for r in self.runs.values() if r.get("state") == "complete"
                and isinstance((r.get("metrics") or {}).get(metric), (int, float))]
        try:
            higher = higher_is_better(metric)
        except ConfigError:  # a metric no registry knows (an older run): no "best" rather than a guess
            return None
        if not done:
            return None
        return (max if higher else min)(done, key=lambda r: r["metrics"][metric])
