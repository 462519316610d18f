"""Estimates a training form shows before a job starts, from what this machine has measured before: seconds per
step from the newest finished run of the same base model and method (its train events)."""
from __future__ import annotations

from pathlib import Path


def measured_rate(config) -> dict | None:
    """Seconds per step measured in the latest finished run of the same base model and method on this machine
    (from its train events after warm-up: the first logged step includes loading, so it is left out)."""
    import jobs
    import yaml

    for run in jobs.list_runs("training"):
        if run.status != "done" or not run.directory:
            continue
        try:
            spec = yaml.safe_load((Path(run.directory) / "config.yaml").read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        method = (spec.get("method") or {}).get("name", "lora")
        if spec.get("base_model") != config.base_model or method != config.method.name:
            continue
        found, _ = jobs.events(run.directory)
        train = []
        for event in found:
            if event.get("event") in ("setup", "resume"):
                train = []  # timings from one uninterrupted stretch only
            elif event.get("event") == "train":
                train.append((event["step"], event["time"]))
        if len(train) < 3 or train[-1][0] <= train[1][0]:
            continue
        rate = (train[-1][1] - train[1][1]) / (train[-1][0] - train[1][0])
        return {"rate": rate, "steps": train[-1][0] - train[1][0], "run": run.id, "batch": spec.get("batch_size", 4),
                "accum": spec.get("grad_accum", 1), "length": spec.get("max_length", 512)}
    return None
