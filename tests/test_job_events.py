"""Job events are a typed contract (jobs/event_schema.py): every job kind, run for real on tiny inputs through
its own CLI or API, writes only events that match their kind's schema, and the writer refuses one that does not."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jobs.event_schema import KINDS, EventError, parse, read, write
from tests.fake_openai import VALID_KEY, FakeOpenAI
from tests.openai_ft.conftest import ddi_example
from tests.training.test_recipe import chat_rows, write_jsonl


def test_the_writer_refuses_an_event_that_breaks_its_schema(tmp_path):
    write(tmp_path, "progress", variant="default", done=1, total=3, items_per_s=None)
    with pytest.raises(EventError, match="progress: the field 'variant' is missing"):
        write(tmp_path, "progress", done=1, total=3)
    with pytest.raises(EventError, match="train: loss must be number, got str"):
        write(tmp_path, "train", step=1, max_steps=2, epoch=0.5, peak_memory_mb=1.0, loss="low", tokens_per_s=1.0,
              tokens=3, eta_s=1.0)
    with pytest.raises(EventError, match="checkpoint: unexpected field 'items'"):
        write(tmp_path, "checkpoint", step=2, path="x", items=3)
    with pytest.raises(EventError, match="unknown event kind 'resumed'"):
        write(tmp_path, "resumed", from_step=2)
    assert len((tmp_path / "events.jsonl").read_text().splitlines()) == 1  # nothing half-written
    with pytest.raises(EventError, match="line 2.*not JSON"):
        (tmp_path / "events.jsonl").open("a").write("{oops\n")
        read(tmp_path, strict=True)


def test_training_evaluation_and_resume_names_do_not_clash():
    assert set(KINDS["resume"].required) == {"from_step", "checkpoint"}  # training
    assert set(KINDS["resume_items"].required) == {"items", "path"}  # evaluation


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("PHARMATUNE_STORE_URL", raising=False)
    (tmp_path / "runs").mkdir()
    return tmp_path / "runs"


def test_every_job_kind_writes_only_valid_events(runs, tmp_path, tiny_llama, monkeypatch):
    from evaluation.__main__ import main as evaluation_main
    from training.__main__ import main as training_main
    from training.search.cli import main as search_main
    from training.studies.cli import main as study_main

    train = write_jsonl(tmp_path / "train.jsonl", chat_rows(16))
    val = write_jsonl(tmp_path / "val.jsonl", chat_rows(8))
    base = {"dataset": str(train), "eval_dataset": str(val), "base_model": f"hf:{tiny_llama}", "max_steps": 4,
            "batch_size": 4, "max_length": 64, "tensorboard": False, "warmup_ratio": 0.0, "learning_rate": 1e-2}

    def config_file(name: str, spec: dict) -> str:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec), encoding="utf-8")
        return str(path)

    # training, with validation, checkpoints, benchmark items during training and a benchmark afterwards
    training = {**base, "eval_every": 2, "save_every": 2, "eval_benchmarks": ["ddi-binary"],
                "eval_benchmark_limit": 2, "evaluate": ["ddi-binary"], "evaluate_limit": 2}
    assert training_main(["run", config_file("train", training), "--run-dir", str(runs / "training-x"),
                          "--quiet"]) == 0
    # evaluation, run again into the same folder: it reuses the items already there
    out = runs / "eval-x"
    for _ in range(2):
        assert evaluation_main(["run", "--model", "dummy:interaction", "--benchmark", "ddi-binary", "--limit", "3",
                                "--out", str(out)]) == 0
    # a search (two phases, pruned) and a study
    search = {"train": {**base, "max_steps": 4}, "space": {"learning_rate": [1e-3, 1e-2]}, "trials": 2,
              "trial_steps": 2, "eval_every": 1, "top_k": 1, "seed": 1}
    assert search_main(["run", config_file("search", search), "--run-dir", str(runs / "search-x"), "--quiet"]) == 0
    study = {"study": "data-efficiency", "sizes": [8, 16], "train": base}
    assert study_main(["run", config_file("study", study), "--run-dir", str(runs / "study-x"), "--quiet"]) == 0
    # an OpenAI fine-tuning job against the fake server, to the end
    from openai_ft import jobs as openai_jobs

    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        examples = write_jsonl(tmp_path / "openai.jsonl", [ddi_example(i) for i in range(12)])
        job = openai_jobs.launch(str(examples), "gpt-4o-mini", api_key=VALID_KEY)
        for _ in range(5):
            if openai_jobs.sync(job.token, api_key=VALID_KEY).status in openai_jobs.TERMINAL:
                break

    seen: dict[str, set[str]] = {}
    files = sorted(runs.rglob("events.jsonl"))
    for path in files:
        events, _ = read(path.parent, strict=True)  # raises on the first line that breaks its schema
        assert events, path
        seen[path.parent.name] = {e["event"] for e in events}
        for line in path.read_text(encoding="utf-8").splitlines():
            parse(line)
    kinds = set().union(*seen.values())
    # Every kind these jobs can write was written; "resume" (a training checkpoint) and "queued" (a busy device)
    # are written by the job tests in tests/training and tests/test_jobs.py, through the same writer.
    assert KINDS.keys() - kinds <= {"resume", "queued", "skipped", "intrinsic_dimension", "selection"}, \
        sorted(KINDS.keys() - kinds)
    assert {"status", "setup", "train", "eval", "checkpoint", "eval_benchmark", "evaluation"} <= seen["training-x"]
    assert {"start", "progress", "resume_items", "scoring", "result"} <= seen["eval-x"]
    assert {"search", "trial", "final"} <= seen["search-x"] and "study_run" in seen["study-x"]
    assert {"launch", "created", "openai"} <= kinds
