"""An evaluation run's progress as its events tell it: each model × benchmark's state, items done per variant,
items reused from an interrupted run, and the results. The Evaluate tab renders it."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EvalProgress:
    """An evaluation run's progress reduced from its events, with no formatting: per (model, benchmark) its state
    (loading, skipped, or what its variants do), items done per variant, items reused from an interrupted run, and
    the results as sent. `offset` is where the next read continues."""

    run_id: str
    offset: int = 0
    tasks: dict = field(default_factory=dict)  # (model, benchmark) -> {"state", "reason", "resumed", "variants"}
    current: tuple | None = None
    scored: list[dict] = field(default_factory=list)  # result events (model, benchmark, variant, items, metrics …)
    status: str = "queued"
    error: str | None = None
    changed: bool = True  # the last read brought something new (the page skips unchanged updates)

    @property
    def finished(self) -> bool:
        import jobs

        return self.status in jobs.TERMINAL

    @staticmethod
    def _task(state: str = "", reason: str = "") -> dict:
        return {"state": state, "reason": reason, "resumed": None, "variants": {}}

    def apply(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "start":
            self.current = (event.get("model", "?"), event.get("benchmark", "?"))
            self.tasks[self.current] = self._task("loading")
        elif kind == "skipped":
            key = (event.get("model", "?"), event.get("benchmark", "?"))
            self.tasks[key] = self._task("skipped", event.get("reason", ""))
        elif kind in ("progress", "scoring", "resume_items", "result") and self.current is None:
            self.current = (event.get("model", "?"), event.get("benchmark", "?"))
            self.tasks[self.current] = self._task()
        if kind == "progress":
            self.tasks[self.current]["variants"][event.get("variant", "default")] = {
                "done": event.get("done", 0), "total": event.get("total", 0), "items_per_s": event.get("items_per_s"),
                "eta_s": event.get("eta_s"), "state": "generating"}
        elif kind == "resume_items":
            self.tasks[self.current]["resumed"] = event.get("items", 0)
        elif kind == "scoring":
            progress = self.tasks[self.current]["variants"].setdefault(
                event.get("variant", "default"), {"done": "—", "total": "—", "items_per_s": None, "eta_s": None})
            progress["state"] = "scoring"
        elif kind == "result":
            key = (event.get("model", "?"), event.get("benchmark", "?"))
            task = self.tasks.setdefault(key, self._task())
            progress = task["variants"].setdefault(
                event.get("variant", "default"), {"done": event.get("items"), "total": event.get("items"),
                                                  "items_per_s": None, "eta_s": None})
            progress["state"] = "scored"
            self.scored.append({k: v for k, v in event.items() if k not in ("event", "time")})
        elif kind == "status":
            self.status = event.get("status", self.status)
            if event.get("error"):
                self.error = event["error"]
