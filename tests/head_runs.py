"""Tiny classification- and regression-head runs for the head-mode tests (tests/models/test_head.py,
tests/evaluation/test_head_mode.py): trained once per module on the tiny random Llama by the real recipe (about a
second each), then linked into each test's own runs folder so `run:<id>` resolves there."""
from __future__ import annotations

import json
from pathlib import Path

# run id -> what it trains (over tests.training.conftest.DEFAULTS)
HEAD_RUNS = {
    "cls-lora": {"task": "classification", "method": {"name": "lora", "rank": 4}, "max_steps": 4},
    "cls-full": {"task": "classification", "method": {"name": "full"}, "max_steps": 2},
    "reg-full": {"task": "regression", "input_field": "smiles", "method": {"name": "full"}, "max_steps": 4},
    "reg-lora": {"task": "regression", "input_field": "smiles", "method": {"name": "lora", "rank": 4}, "max_steps": 2},
}


def yes_no_rows(n: int, offset: int = 0) -> list[dict]:
    """tests.training.conftest.label_rows with a SMILES and an id: warfarin pairs interact (yes), metformin not."""
    from tests.training.conftest import label_rows

    rows = label_rows(n + offset)[offset:]
    for i, row in enumerate(rows, offset):
        row["meta"].update(id=f"pair-{i}", smiles="CC(=O)OC1=CC=CC=C1C(=O)O" if i % 2 == 0 else "CN(C)C(=N)N=C(N)N")
    return rows


def number_rows(n: int, offset: int = 0) -> list[dict]:
    from tests.training.conftest import regression_rows

    rows = regression_rows(n + offset)[offset:]
    for i, row in enumerate(rows, offset):
        row["meta"]["id"] = f"mol-{i}"
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def train_head_runs(root: Path, tiny_llama: Path, names=tuple(HEAD_RUNS)) -> Path:
    """root/runs/<id> for each named run (its data in root), trained in this process; returns root/runs."""
    import torch

    from tests.training.conftest import train

    runs = root / "runs"
    data = {"classification": write_jsonl(root / "yes-no.jsonl", yes_no_rows(8)),
            "regression": write_jsonl(root / "numbers.jsonl", number_rows(8))}
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: a second thread only costs (tests/training/conftest.py says why)
    try:
        for name in names:
            spec = HEAD_RUNS[name]
            train({"dataset": str(data[spec["task"]]), "base_model": f"hf:{tiny_llama}", **spec}, runs / name)
    finally:
        torch.set_num_threads(before)
    text = runs / "sft-only"  # a text run's config (head_task and load_head read no more of it)
    text.mkdir(parents=True, exist_ok=True)
    (text / "config.yaml").write_text(f"task: sft\nbase_model: hf:{tiny_llama}\n", encoding="utf-8")
    return runs


def link_runs(trained: Path, runs_dir: Path) -> None:
    """Each trained run appears in `runs_dir` (a test's isolated runs folder) under its own id."""
    for folder in trained.iterdir():
        if (folder / "config.yaml").is_file() and not (runs_dir / folder.name).exists():
            (runs_dir / folder.name).symlink_to(folder, target_is_directory=True)


def direct_logits(run_id: str, text: str, runs_dir):
    """The head's logits for one text, unpadded, from the run's files loaded here without models.head (the adapter
    kept as a PeftModel, not merged)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from models.head import head_labels
    from models.run import run_config

    folder = runs_dir / run_id
    config = run_config(run_id)
    if (folder / "model").is_dir():
        model = AutoModelForSequenceClassification.from_pretrained(folder / "model", dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(folder / "model")
    else:
        from peft import PeftModel

        base = config["base_model"].removeprefix("hf:")
        head = ({"num_labels": 1, "problem_type": "regression"} if config["task"] == "regression"
                else {"num_labels": len(head_labels(run_id))})
        model = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(
            base, dtype=torch.float32, **head), folder / "adapter")
        tokenizer = AutoTokenizer.from_pretrained(folder / "adapter")
    enc = tokenizer(text, truncation=True, max_length=int(config["max_length"]), return_tensors="pt")
    with torch.no_grad():
        return model.eval()(**enc).logits.float()[0]
