"""Job events (runs/<id>/events.jsonl) as a typed contract: one schema per kind, one writer, one parser.

Every producer (training, evaluation, search, studies, OpenAI jobs) writes through `write`, which refuses an
event that does not match its kind's schema, so a renamed or mistyped field fails in the tests rather than
silently blanking a plot. Every consumer (the tabs' views, the CLIs) reads through `read`, which parses and
checks each line. Field types: int, number (int or float), str, bool, list, dict, any; a trailing ? allows null.
`open` kinds take further fields: eval carries the Trainer's eval_* metrics, a run's final status its summary.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

EVENTS_FILE = "events.jsonl"


class EventError(ValueError):
    """An event that does not match its kind's schema: a bug in the producer, named with the field."""


@dataclass(frozen=True)
class Kind:
    name: str
    doc: str
    required: dict[str, str] = field(default_factory=dict)
    optional: dict[str, str] = field(default_factory=dict)
    open: bool = False  # further fields allowed (metrics, summaries)


TRAIN_STEP = {"step": "int", "max_steps": "int", "epoch": "number", "peak_memory_mb": "number"}
# What preference and GRPO steps add to a train event (the Fine-tune tab's reward, KL and margin plots):
# dpo/kto/orpo: the implicit rewards β·log(π/π_ref) of the chosen and rejected answers, their margin and the share of
# pairs where chosen wins (accuracy), the answers' log-probabilities; kto: its KL estimate; orpo: the NLL and the
# log odds ratio. grpo: the summed reward's mean and std over the step's answers, each component's
# (rewards: {"smiles_validity": {"mean": 0.5, "std": 0.2}, ...}), the KL to the reference, the mean answer length.
PREFERENCE_STEP = {name: "number?" for name in (
    "chosen_reward", "rejected_reward", "margin", "accuracy", "chosen_logp", "rejected_logp", "nll_loss",
    "log_odds_ratio")}
RL_STEP = {"reward_mean": "number?", "reward_std": "number?", "rewards": "dict", "kl": "number?",
           "completion_length": "number?"}
KINDS: dict[str, Kind] = {k.name: k for k in [
    # every job
    Kind("status", "a status change (queued → running → done | failed | cancelled; OpenAI's own for its jobs)",
         {"status": "str"}, {"error": "str?"}, open=True),
    Kind("queued", "waiting for the device: place in line", {"position": "int", "message": "str"}),
    # training
    Kind("setup", "the run is ready to train: data, model, method, device, parameter counts",
         {"base_model": "str", "base_folder": "str", "method": "str", "task": "str", "device": "str",
          "precision": "str", "world_size": "int", "train_examples": "int", "eval_examples": "int",
          "planned_steps": "int", "notes": "list"},
         {"trainable_params": "int", "total_params": "int", "trainable_percent": "number"}),
    Kind("train", "one logged training step",
         {**TRAIN_STEP, "loss": "number", "tokens_per_s": "number", "tokens": "int", "eta_s": "number"},
         {"lr": "number?", "grad_norm": "number?", **PREFERENCE_STEP, **RL_STEP}),
    Kind("eval", "validation during training: eval_loss and any eval_* metric", TRAIN_STEP, open=True),
    Kind("checkpoint", "a checkpoint was saved", {"step": "int", "path": "str"}),
    Kind("resume", "a training run continues from a checkpoint", {"from_step": "int", "checkpoint": "str"}),
    Kind("eval_benchmark", "benchmark items scored during training",
         {"step": "int", "benchmark": "str", "variant": "str", "items": "int", "metrics": "dict"}),
    Kind("evaluation", "a benchmark on run:<id> after training: started, skipped, or its result",
         {"benchmark": "str"}, {"model": "str", "started": "bool", "skipped": "str"}, open=True),
    # evaluation
    Kind("start", "a model × benchmark starts", {"model": "str", "benchmark": "str"}),
    Kind("skipped", "a model × benchmark cannot run here", {"model": "str", "benchmark": "str", "reason": "str"}),
    Kind("progress", "items generated so far",
         {"variant": "str", "done": "int", "total": "int"}, {"items_per_s": "number?", "eta_s": "number?"}),
    Kind("resume_items", "an evaluation continues: items already in predictions.jsonl", {"items": "int", "path": "str"}),
    Kind("scoring", "generation done, metrics being computed", {"variant": "str", "metrics": "list"}),
    Kind("result", "a model × benchmark × variant scored",
         {"model": "str", "benchmark": "str", "variant": "str", "items": "int", "metrics": "dict"},
         {"config_hash": "str", "leaderboard_id": "int?", "details": "dict"}, open=True),
    # search and studies
    Kind("search", "an Optuna study starts",
         {"study": "str", "storage": "str", "protocol": "str", "sampler": "str", "pruner": "str", "trials": "int"}),
    Kind("trial", "a trial starts or ends", {"number": "int", "phase": "int", "state": "str", "params": "dict"},
         {"value": "number?", "steps": "int", "seconds": "number", "peak_memory_mb": "number", "error": "str"}),
    Kind("final", "a full-length run of one of the best trials",
         {"number": "int", "place": "int", "state": "str"}, {"params": "dict", "run_id": "str?", "error": "str"},
         open=True),
    Kind("study_run", "one training run of a study", {"label": "str", "state": "str"}, {"run_id": "str?"}, open=True),
    Kind("intrinsic_dimension", "the TwoNN profile per layer and the rank it gives",
         {"profile": "list", "rank": "int", "how": "str"}),
    Kind("selection", "examples a data-selection strategy added", {"strategy": "str", "chosen": "int", "pool": "int"}),
    # OpenAI fine-tuning jobs
    Kind("launch", "an OpenAI job is about to be created (its idempotency token)",
         {"token": "str", "model": "str", "trained_tokens": "int"}, {"estimated_usd": "number?"}),
    Kind("created", "OpenAI created the job", {"job_id": "str", "status": "str"}),
    Kind("openai", "one of OpenAI's own job events", {"id": "str", "created_at": "int", "message": "str"},
         {"level": "str?", "type": "str?", "data": "any"}),
]}

_CHECKS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, dict),
    "any": lambda v: True,
}


def problems(record: dict) -> list[str]:
    """What is wrong with one event (empty when it matches its kind's schema)."""
    if not isinstance(record, dict):
        return [f"an event is a JSON object, not {type(record).__name__}"]
    kind = KINDS.get(record.get("event"))
    if kind is None:
        return [f"unknown event kind {record.get('event')!r}; known: {', '.join(KINDS)}"]
    found = []
    if not _CHECKS["number"](record.get("time")):
        found.append(f"{kind.name}: time must be a number (seconds since the epoch)")
    for name in kind.required:
        if name not in record:
            found.append(f"{kind.name}: the field {name!r} is missing")
    for name, value in record.items():
        if name in ("event", "time"):
            continue
        wanted = kind.required.get(name) or kind.optional.get(name)
        if wanted is None:
            if not kind.open:
                found.append(f"{kind.name}: unexpected field {name!r} (its schema: "
                             f"{', '.join([*kind.required, *kind.optional]) or 'no fields'})")
            continue
        base, nullable = wanted.rstrip("?"), wanted.endswith("?")
        if not (value is None and nullable) and not _CHECKS[base](value):
            found.append(f"{kind.name}: {name} must be {wanted}, got {type(value).__name__} {value!r:.60}")
    return found


def write(run_dir: str | Path, event: str, **fields) -> dict:
    """Append one checked event; each line is written whole, so a reader never sees half an event."""
    record = {"time": round(time.time(), 3), "event": event, **fields}
    line = json.dumps(record, ensure_ascii=False, default=str)
    wrong = problems(json.loads(line))  # as a reader will see it (paths and dates become strings)
    if wrong:
        raise EventError("; ".join(wrong))
    with open(Path(run_dir) / EVENTS_FILE, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    return record


def parse(line: str | bytes) -> dict:
    """One events.jsonl line → its event; EventError names what does not match."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EventError(f"not JSON: {exc}") from None
    wrong = problems(record)
    if wrong:
        raise EventError("; ".join(wrong))
    return record


def read(run_dir: str | Path, offset: int = 0, *, strict: bool = False) -> tuple[list[dict], int]:
    """Complete events after byte `offset`, and the offset to continue from (a partial last line waits).

    A page reads tolerantly: any JSON object is kept, so a file from an older version still shows what it can.
    `strict` (the contract tests) raises EventError, naming the line, on anything that does not match."""
    path = Path(run_dir) / EVENTS_FILE
    if not path.exists():
        return [], offset
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read()
    end = data.rfind(b"\n") + 1
    out = []
    for number, line in enumerate(data[:end].splitlines(), 1):
        if strict:
            try:
                out.append(parse(line))
            except EventError as exc:
                raise EventError(f"{path}, line {number} after byte {offset}: {exc}") from None
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out, offset + end
