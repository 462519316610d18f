"""A training run's progress as its events tell it: curves keyed by step, checkpoints, resumes, the queue, the
benchmarks run afterwards. The Fine-tune tab renders it; the reduction lives here so it is tested without a UI."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainProgress:
    """A training run's progress reduced from its events (no formatting: the Fine-tune tab renders it); `offset`
    is where the next read continues.

    Steps are keyed by number, so when a resumed run repeats steps (it continues from an earlier checkpoint than
    the step it had reached) the latest value of each step wins, and points after the checkpoint that the resumed
    run has not reached again are dropped: the curve is the trajectory the weights actually followed."""

    run_id: str
    offset: int = 0
    status: str = "queued"
    error: str | None = None
    position: int | None = None  # place in the training queue (a "queued" event after the latest status)
    setup: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)  # step -> the latest train event of that step
    evals: dict = field(default_factory=dict)  # step -> the latest eval event of that step
    benchmarks: dict = field(default_factory=dict)  # (benchmark, variant) -> {step: metrics} (eval_benchmark events)
    checkpoints: list[int] = field(default_factory=list)
    resumes: list[int] = field(default_factory=list)  # from_step of each resume
    evaluation: list[dict] = field(default_factory=list)  # post-training benchmark results (and skips), as sent
    evaluating: str | None = None  # the benchmark being run after training
    evaluating_items: tuple | None = None  # (done, total) of that benchmark's items
    final: dict = field(default_factory=dict)  # fields of the "status done" event
    task: str = "sft"
    changed: bool = True

    @property
    def finished(self) -> bool:
        import jobs

        return self.status in jobs.TERMINAL

    @property
    def reference(self) -> str:
        return f"run:{self.run_id}"

    @property
    def last(self) -> dict:
        return self.train[max(self.train)] if self.train else {}

    @property
    def step(self) -> int:
        return max([*self.train, *self.evals, 0])

    # -- curves for the plots (preference and GRPO runs add rewards, KL and margins to their train events) -----
    def series(self, name: str) -> list[tuple[int, float]]:
        """(step, value) of one train-event field where the steps logged it, in step order: loss, lr, margin,
        accuracy, chosen_reward, rejected_reward, kl, reward_mean, reward_std, completion_length ..."""
        return [(step, float(event[name])) for step, event in sorted(self.train.items())
                if isinstance(event.get(name), (int, float)) and not isinstance(event.get(name), bool)]

    def reward_components(self) -> dict[str, dict[str, list[tuple[int, float]]]]:
        """GRPO: component -> {"mean": [(step, value)], "std": [...]}, from the train events' `rewards`."""
        out: dict[str, dict[str, list[tuple[int, float]]]] = {}
        for step, event in sorted(self.train.items()):
            for name, values in (event.get("rewards") or {}).items():
                for stat in ("mean", "std"):
                    if isinstance(values, dict) and isinstance(values.get(stat), (int, float)):
                        out.setdefault(name, {"mean": [], "std": []})[stat].append((step, float(values[stat])))
        return out

    def benchmark_series(self) -> dict[str, list[tuple[int, float]]]:
        """"benchmark/metric" (with ":variant" unless default) -> (step, value) from the benchmark items scored
        during training: the held-out curve beside a rising reward."""
        out: dict[str, list[tuple[int, float]]] = {}
        for (benchmark, variant), steps in sorted(self.benchmarks.items()):
            for step, metrics in sorted(steps.items()):
                for metric, value in (metrics or {}).items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        key = f"{benchmark}/{metric}" + (f":{variant}" if variant != "default" else "")
                        out.setdefault(key, []).append((step, float(value)))
        return out

    @property
    def plots(self) -> list[str]:
        """Which of the extra plots have data: reward (GRPO), kl, margin (chosen vs rejected), accuracy."""
        found = []
        if self.series("reward_mean") or self.reward_components():
            found.append("reward")
        if self.series("kl"):
            found.append("kl")
        if self.series("margin") or self.series("chosen_reward"):
            found.append("margin")
        if self.series("accuracy"):
            found.append("accuracy")
        return found

    @property
    def max_steps(self) -> int | None:
        return self.last.get("max_steps") or self.setup.get("planned_steps")

    def apply(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "queued":
            self.position = event.get("position")
        elif kind == "setup":
            self.setup = event
            self.task = event.get("task", self.task)
        elif kind == "train" and "step" in event:
            self.train[int(event["step"])] = event
        elif kind == "eval" and "step" in event:
            self.evals[int(event["step"])] = event
        elif kind == "eval_benchmark" and "step" in event:
            key = (event.get("benchmark", "?"), event.get("variant", "default"))
            self.benchmarks.setdefault(key, {})[int(event["step"])] = event.get("metrics") or {}
        elif kind == "checkpoint" and "step" in event:
            step = int(event["step"])
            self.checkpoints = sorted({*self.checkpoints, step})
        elif kind == "resume":
            step = int(event["from_step"])
            self.resumes.append(step)
            self.train = {s: e for s, e in self.train.items() if s <= step}
            self.evals = {s: e for s, e in self.evals.items() if s <= step}
            self.benchmarks = {k: {s: m for s, m in v.items() if s <= step} for k, v in self.benchmarks.items()}
            self.checkpoints = [s for s in self.checkpoints if s <= step]
            self.final, self.evaluation, self.evaluating = {}, [], None
        elif kind == "evaluation":
            if event.get("started") and not event.get("skipped"):
                self.evaluating, self.evaluating_items = event.get("benchmark"), None
            else:
                self.evaluating = None if not event.get("skipped") else self.evaluating
                self.evaluation.append({k: v for k, v in event.items() if k not in ("event", "time")})
        elif kind == "progress" and self.evaluating:
            self.evaluating_items = (event.get("done", 0), event.get("total", "?"))
        elif kind == "status":
            self.position = None  # a later wait in the queue writes a new "queued" event
            if event.get("status") == "done":
                self.final = event
            if event.get("error"):
                self.error = event["error"]
