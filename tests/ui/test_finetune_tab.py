"""The Fine-tune tab's logic without Gradio: the form becomes a TrainConfig (bad values are sentences naming the
field, and start nothing), Check reports steps and a time estimate with its assumption, the run view is rebuilt from
events.jsonl (repeated steps after a resume keep the latest value), the queue lists active runs, and one real tiny
LoRA job runs start to finish the way the page's timer watches it."""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta

import pytest
import yaml

import jobs
from ui import finetune_tab as ft

CHAT = [{"messages": [{"role": "user", "content": f"What does aspirin inhibit? ({i})"},
                      {"role": "assistant", "content": "Aspirin irreversibly inhibits cyclooxygenase."}]}
        for i in range(40)]


@pytest.fixture
def chat_file(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in CHAT), encoding="utf-8")
    return path


def fabricate(runs, run_id, status, events, *, pid=None, title="", config=None, minutes_ago=0, error=None):
    """A training run as the store and its folder would hold it, without a process (unless `pid`)."""
    import store
    from store.tables import Run

    folder = runs / run_id
    folder.mkdir(parents=True)
    spec = config or {"dataset": "bundled:drug-qa", "base_model": "hf:tiny", "method": {"name": "lora"},
                      "batch_size": 4, "grad_accum": 1, "max_length": 512}
    (folder / "config.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    with open(folder / "events.jsonl", "w", encoding="utf-8") as fh:
        for event in events:
            fh.write(json.dumps(event) + "\n")
    with store.session() as s:
        s.add(Run(id=run_id, kind="training", status=status, directory=str(folder), pid=pid, title=title,
                  error=error, created=datetime.now() - timedelta(minutes=minutes_ago)))
    return folder


def train(step, loss, t=0.0, max_steps=8, **extra):
    return {"time": t or 1000.0 + step, "event": "train", "step": step, "max_steps": max_steps, "loss": loss,
            "lr": 1e-4 * step, "grad_norm": 0.1 * step, "tokens_per_s": 500.0, "eta_s": 8 - step,
            "peak_memory_mb": 512.0, **extra}


SETUP = {"event": "setup", "method": "lora", "task": "sft", "device": "cpu", "precision": "fp32",
         "train_examples": 40, "eval_examples": 8, "planned_steps": 8, "notes": ["LoRA r=8 on q_proj"],
         "trainable_params": 4096, "total_params": 48288, "trainable_percent": 8.4824}


# -- the form -----------------------------------------------------------------------------------------------------
def test_widget_values_become_a_train_config():
    # what the page passes: floats from number boxes, texts with spaces, zero meaning "not set"
    config = ft.make_config(dict(base_model=" hf:/models/tiny ", dataset="bundled:ddi-binary", task="classification",
                                 method="lora", rank=16.0, alpha=0, alpha_k=8, dropout=0.1,
                                 targets="q_proj, v_proj", last_n_layers=2.0, rslora=True, dora=False, epochs=3,
                                 max_steps=0, batch_size=8.0, grad_accum=2, learning_rate=1e-4, schedule="linear",
                                 warmup_ratio=0.1, max_length=256, batching="padding", precision="fp32",
                                 gradient_checkpointing=True, limit=100, eval_split="none", eval_every=10,
                                 early_stopping_patience=0, save_every=20, keep_checkpoints=3, seed=7,
                                 labels="interaction, no interaction", input_field="prompt",
                                 evaluate=["ddi-binary"], evaluate_limit=5))
    assert (config.base_model, config.dataset, config.task) == ("hf:/models/tiny", "bundled:ddi-binary", "classification")
    assert (config.method.name, config.method.rank, config.method.alpha, config.method.lora_alpha) == ("lora", 16, None, 128.0)
    assert config.method.targets == ["q_proj", "v_proj"] and config.method.last_n_layers == 2
    assert config.method.rslora and not config.method.dora
    assert (config.epochs, config.max_steps, config.batch_size, config.grad_accum) == (3, None, 8, 2)
    assert (config.eval_split, config.eval_every, config.early_stopping_patience, config.save_every) == (None, 10, None, 20)
    assert config.labels == ["interaction", "no interaction"] and config.limit == 100 and config.seed == 7
    assert config.evaluate == ["ddi-binary"] and config.evaluate_limit == 5 and config.gradient_checkpointing
    assert isinstance(config.batch_size, int) and isinstance(config.method.rank, int)
    # the YAML the page shows is the file the CLI replays
    from training.config import TrainConfig

    assert TrainConfig.from_dict(yaml.safe_load(config.to_yaml())) == config
    defaults = ft.make_config(dataset="bundled:drug-qa")
    assert defaults.base_model == "builtin:smollm2-135m-instruct" and defaults.method.name == "lora"
    assert defaults.max_steps is None and defaults.save_every is None and defaults.eval_split == "validation"


@pytest.mark.parametrize("form,message", [
    (dict(base_model=""), "Base model (base_model) is empty"),
    (dict(base_model="dumy:x"), "Base model (base_model): 'dumy:x': unknown model scheme 'dumy'"),
    (dict(base_model="openai:gpt-4o-mini"), "Base model (base_model) openai:gpt-4o-mini cannot be fine-tuned here"),
    (dict(dataset="  "), "Dataset (dataset) is empty"),
    (dict(batch_size=0), "Batch size (batch_size) must be a whole number of at least 1 (got 0)"),
    (dict(batch_size="four"), "Batch size (batch_size) must be a whole number of at least 1 (got 'four')"),
    (dict(grad_accum=1.5), "Gradient accumulation (grad_accum) must be a whole number"),
    (dict(rank=None), "LoRA rank (rank) must be a whole number of at least 1 (got nothing)"),
    (dict(max_steps=-3), "Max steps (max_steps) must be a whole number of at least 1 (got -3)"),
    (dict(learning_rate=3), "learning_rate must be in (0, 1] (got 3.0)"),
    (dict(dropout=1.0), "method.dropout must be in [0, 1)"),
    (dict(method="lorra"), "method.name 'lorra' is not one of full, lora, ia3, bitfit, qlora. Did you mean 'lora'?"),
    (dict(task="sfft"),
     "task 'sfft' is not one of sft, classification, regression, pretrain, dpo, kto, orpo, grpo. Did you mean 'sft'?"),
    (dict(epochs=0), "epochs must be positive (got 0.0)"),
    (dict(warmup_ratio=1.5), "warmup_ratio must be in [0, 1)"),
    (dict(early_stopping_patience=2, eval_split="none"), "early stopping needs a validation split"),
    (dict(evaluate=["ddi-nope"]), "Evaluate after training (evaluate): ddi-nope is not a benchmark here"),
])
def test_bad_input_names_the_field_and_starts_nothing(isolated_runs, form, message):
    with pytest.raises(ft.InputProblem) as caught:
        ft.start_training({"dataset": "bundled:drug-qa", **form})
    assert message in str(caught.value) and "Traceback" not in str(caught.value)
    assert list(isolated_runs.iterdir()) == []  # no run folder, no store
    assert jobs.list_runs("training") == []


def test_check_fails_readably_on_missing_data_and_models(isolated_runs, tiny_llama, chat_file, tmp_path):
    for form, message in [
        (dict(base_model=f"hf:{tiny_llama}", dataset=str(tmp_path / "missing.jsonl")), "Dataset (dataset): "),
        (dict(base_model=f"hf:{tmp_path / 'no-model'}", dataset=str(chat_file)), f"hf:{tmp_path / 'no-model'}"),
        (dict(base_model="run:training-nope", dataset=str(chat_file)), "run:training-nope: no training run"),
        (dict(base_model=f"hf:{tiny_llama}", dataset=str(chat_file), targets="nope_proj"), "nope_proj"),
    ]:
        with pytest.raises(ft.InputProblem) as caught:
            ft.start_training(form)
        assert message in str(caught.value), str(caught.value)
        assert "Traceback" not in str(caught.value)
    assert jobs.list_runs("training") == []


def test_check_counts_steps_and_says_what_the_time_estimate_assumes(isolated_runs, tiny_llama, chat_file):
    form = dict(base_model=f"hf:{tiny_llama}", dataset=str(chat_file), epochs=2, batch_size=4, grad_accum=2)
    checked = ft.check_form(form)
    assert checked.examples == 40 and checked.steps == 10  # ceil(40 / 4) / 2 × 2 epochs
    assert "40 training examples" in checked.markdown
    assert "**Planned steps: 10** (40 examples ÷ batch 4 ÷ grad accum 2 × 2 epoch(s)" in checked.markdown
    assert "Time: unknown until the first steps" in checked.markdown
    assert checked.command == "python -m training run CONFIG.yaml"
    assert f"base_model: hf:{tiny_llama}" in checked.config_yaml
    assert ft.check_form({**form, "max_steps": 7}).steps == 7
    assert list(isolated_runs.glob("training-*")) == []  # checking starts nothing

    # a finished run of the same model and method measured 0.5 s per step (after its first, warm-up step)
    events = [{"event": "setup", **{k: v for k, v in SETUP.items() if k != "event"}}] + \
             [train(s, 1.0, t=100.0 + 0.5 * s) for s in range(1, 10)]
    fabricate(isolated_runs, "training-measured", "done", events,
              config={"dataset": "x", "base_model": f"hf:{tiny_llama}", "method": {"name": "lora"}, "batch_size": 2,
                      "grad_accum": 1, "max_length": 512})
    text = ft.check_form(form).time_markdown
    assert text.startswith("**Time: about 20 s**")  # 0.5 s × (4 × 2) / (2 × 1) examples per step × 10 steps
    assert "0.5 s per step, measured over 7 steps of `training-measured`" in text
    assert "scaled linearly to 8 example(s) per step" in text and "rough" not in text
    assert "treat this as rough" in ft.check_form({**form, "max_length": 128}).time_markdown
    assert "unknown until the first steps" in ft.check_form({**form, "method": "ia3"}).time_markdown


def test_uploads_are_copied_into_the_uploads_folder_and_size_limited(tmp_path, monkeypatch, chat_file):
    monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path / "data"))
    odd = tmp_path / "my chat; set.jsonl"
    odd.write_bytes(chat_file.read_bytes())
    saved = ft.upload_dataset(odd)
    assert saved.startswith(str((tmp_path / "data" / "uploads").resolve())) and saved.endswith("-my_chat_set.jsonl")
    assert ft.make_config(dataset="bundled:drug-qa", upload=str(odd)).dataset == saved  # an upload wins
    monkeypatch.setenv("PHARMATUNE_MAX_UPLOAD_MB", "0.001")
    with pytest.raises(ft.InputProblem, match=r"Dataset upload \(dataset\): .* the upload limit is 0 MiB"):
        ft.make_config(dataset="bundled:drug-qa", upload=str(odd))


# -- watching -----------------------------------------------------------------------------------------------------
def resumed_run_events():
    """8 planned steps: checkpoint at 4, cancelled at step 6, resumed from 4 with other losses, done at 8."""
    first = [{"event": "status", "status": "running"}, SETUP, *[train(s, 10.0 - s) for s in range(1, 7)],
             {"event": "checkpoint", "step": 4, "path": "checkpoints/checkpoint-4"},
             {"event": "eval", "step": 5, "max_steps": 8, "eval_loss": 5.5},
             {"event": "status", "status": "cancelled"}]
    second = [{"event": "queued", "position": 1, "message": "waiting"},
              {"event": "status", "status": "running"}, SETUP,
              {"event": "resume", "from_step": 4, "checkpoint": "checkpoints/checkpoint-4"},
              *[train(s, 20.0 - s) for s in range(5, 9)],
              {"event": "eval", "step": 5, "max_steps": 8, "eval_loss": 15.5},
              {"event": "eval", "step": 8, "max_steps": 8, "eval_loss": 12.5, "eval_accuracy": 0.75},
              {"event": "checkpoint", "step": 8, "path": "checkpoints/checkpoint-8"},
              {"event": "evaluation", "benchmark": "drug-qa", "model": "run:training-resumed", "started": True},
              {"event": "progress", "variant": "default", "done": 3, "total": 5},
              {"event": "resume_items", "items": 2, "path": "evaluation/drug-qa"},  # an evaluation resume: not a step
              {"event": "evaluation", "model": "run:training-resumed", "benchmark": "drug-qa", "variant": "default",
               "items": 5, "metrics": {"rougeL": 0.25}, "leaderboard_id": 3},
              {"event": "evaluation", "benchmark": "medquad", "skipped": "medquad needs shared:medquad"},
              {"event": "status", "status": "done", "trainable_params": 4096, "trainable_percent": 8.4824,
               "steps": 8}]
    return first + second


def test_the_run_view_keeps_the_latest_value_of_repeated_steps_after_a_resume(isolated_runs):
    fabricate(isolated_runs, "training-resumed", "done", resumed_run_events(), title="lora sft hf:tiny on chat")
    view = ft.run_view("training-resumed")
    loss = view.loss_frame()
    trained = loss[loss.series == "train"]
    assert list(trained.step) == [1, 2, 3, 4, 5, 6, 7, 8]  # each step once
    assert list(trained.loss) == [9.0, 8.0, 7.0, 6.0, 15.0, 14.0, 13.0, 12.0]  # after step 4: the resumed values
    evals = loss[loss.series == "eval"]
    assert list(zip(evals.step, evals.loss)) == [(5, 15.5), (8, 12.5)]
    assert list(view.lr_frame()["step"]) == list(range(1, 9))
    assert list(view.grad_frame()["grad norm"]) == pytest.approx([0.1 * s for s in range(1, 9)])
    assert view.resumes == [4] and view.checkpoints == [4, 8] and view.step == 8

    assert view.status == "done"
    assert view.status_markdown.startswith("✅ Status: **done**: 8 steps; 4,096 trainable parameters "
                                           "(8.4824 % of 48,288)")
    figures = view.figures_markdown
    assert "| 8/8 | 12.0000 | 12.5000 | 500 | — | 512 MB | 8.4824 % |" in figures
    assert "resumed from step 4" in figures and "checkpoints at step 4, 8" in figures
    assert "validation at step 8: accuracy 0.75" in figures
    assert view.evaluation_rows == [["drug-qa", "default", 5, "rougeL ↑ 0.250", 3],
                                    ["medquad", "—", 0, "skipped: medquad needs shared:medquad", None]]
    assert "Leaderboard" in view.evaluation_markdown and "run:training-resumed" in view.evaluation_markdown
    assert "Use **`run:training-resumed`** in the Chat and Evaluate tabs" in view.reference_markdown

    # the page's timer reads the file a piece at a time as it grows: the same picture in the end
    path = isolated_runs / "training-resumed" / "events.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("")
    tailed = ft.run_view("training-resumed")
    for line in lines:
        with open(path, "a") as fh:
            fh.write(line[:10])  # half a line waits for the rest
        tailed = ft.run_view("training-resumed", tailed.offset, tailed)
        with open(path, "a") as fh:
            fh.write(line[10:])
        tailed = ft.run_view("training-resumed", tailed.offset, tailed)
    assert tailed.loss_frame().equals(loss)
    assert (tailed.figures_markdown, tailed.status_markdown, tailed.evaluation_rows) == \
           (figures, view.status_markdown, view.evaluation_rows)
    assert not ft.run_view("training-resumed", tailed.offset, tailed).changed


def test_repeated_steps_without_a_resume_event_keep_the_latest_value(isolated_runs):
    fabricate(isolated_runs, "training-dup", "done", [SETUP, train(1, 3.0), train(2, 2.0), train(2, 1.5),
                                                      train(3, 1.0)])
    assert list(ft.run_view("training-dup").loss_frame().loss) == [3.0, 1.5, 1.0]


def test_status_lines_for_queued_running_failed_and_cancelled_runs(isolated_runs):
    me = os.getpid()  # a live process stands in for the job's child
    fabricate(isolated_runs, "training-q", "queued", [{"event": "queued", "position": 2, "message": "waiting"}],
              pid=me)
    assert "**queued** (position 2 in the training queue" in ft.run_view("training-q").status_markdown
    fabricate(isolated_runs, "training-starting", "queued", [])
    assert "waiting for its process to start" in ft.run_view("training-starting").status_markdown
    fabricate(isolated_runs, "training-r", "running", [{"event": "status", "status": "running"}, SETUP,
                                                       train(1, 2.0), train(2, 1.9)], pid=me)
    running = ft.run_view("training-r")
    assert "**running**: step 2/8" in running.status_markdown and not running.finished
    assert "| 2/8 | 1.9000 | — | 500 | 6 s | 512 MB |" in running.figures_markdown
    assert "works in the Chat and Evaluate tabs once the run is done" in running.reference_markdown
    folder = fabricate(isolated_runs, "training-f", "failed",
                       [SETUP, train(1, 2.0), {"event": "status", "status": "failed", "error": "Out of memory: lower "
                                                                                               "batch_size"}],
                       error="Out of memory: lower batch_size")
    checkpoint(folder, 1)
    checkpoint(folder, 2, complete=False)  # cut off while saving: resume continues from step 1
    failed = ft.run_view("training-f")
    assert failed.status_markdown.startswith("❌ Status: **failed**: Out of memory: lower batch_size. Its last "
                                             "checkpoint is step 1: **Resume** continues from there.")
    fabricate(isolated_runs, "training-c", "cancelled", [SETUP, {"event": "status", "status": "cancelled"}])
    assert "**cancelled**. No checkpoint was written" in ft.run_view("training-c").status_markdown
    fabricate(isolated_runs, "training-cls", "done", [{**SETUP, "task": "classification"},
                                                      {"event": "status", "status": "done", "steps": 3}])
    assert "has a classification head" in ft.run_view("training-cls").reference_markdown
    with pytest.raises(ft.InputProblem, match="no training run 'training-nope'"):
        ft.run_view("training-nope")


def test_the_queue_lists_active_runs_oldest_first(isolated_runs):
    me = os.getpid()
    fabricate(isolated_runs, "training-old-done", "done", [], minutes_ago=9)
    fabricate(isolated_runs, "training-a", "running", [{"event": "status", "status": "running"}], pid=me,
              minutes_ago=5, title="lora sft A")
    fabricate(isolated_runs, "training-b", "queued", [{"event": "queued", "position": 1}], pid=me, minutes_ago=3,
              title="full sft B")
    fabricate(isolated_runs, "training-dead", "running", [], pid=2**22 + 1, minutes_ago=2)  # died silently
    fabricate(isolated_runs, "training-c", "queued", [], minutes_ago=1, title="ia3 sft C")
    assert ft.queue_rows() == [["training-a", "running", "", "lora sft A"], ["training-b", "queued", 1, "full sft B"],
                               ["training-c", "queued", "", "ia3 sft C"]]
    assert jobs.get("training-dead").status == "failed"
    choices, chosen = ft.run_choices()
    assert [value for _, value in choices] == ["training-c", "training-dead", "training-b", "training-a",
                                               "training-old-done"]
    assert chosen == "training-c"  # the newest active run: what a reloaded page re-attaches to
    assert "run:training-old-done" in ft.base_model_choices()


def test_actions_on_runs_that_cannot_take_them_say_why(isolated_runs):
    me = os.getpid()
    fabricate(isolated_runs, "training-done", "done", [SETUP])
    fabricate(isolated_runs, "training-active", "running", [], pid=me)
    fabricate(isolated_runs, "training-nockpt", "cancelled", [SETUP])
    assert ft.resume_run(None) == ft.cancel_run(None) == "Start a training run, or pick a recent one to watch."
    assert "nothing left to resume" in ft.resume_run("training-done")
    assert ft.resume_run("training-active") == "training-active is still running; cancel it first, or wait for it."
    assert "cannot be resumed: Nothing to resume" in ft.resume_run("training-nockpt")
    assert "There is no training run 'training-x'" in ft.resume_run("training-x")
    assert "had already finished (done)" in ft.cancel_run("training-done")
    assert jobs.get("training-nockpt").status == "cancelled"  # nothing was launched
    rows = dict(ft.run_files("training-done"))
    assert set(rows) == {"config.yaml", "events.jsonl"}


# -- a real job ---------------------------------------------------------------------------------------------------
def follow(run_id, until, timeout=120):
    view = ft.run_view(run_id)
    deadline = time.time() + timeout
    while not until(view):
        assert time.time() < deadline, f"gave up after {timeout} s: {view.status_markdown}"
        time.sleep(0.3)
        view = ft.run_view(run_id, view.offset, view)
    return view


def test_a_tiny_lora_run_starts_trains_and_finishes(isolated_runs, tiny_llama, chat_file, tmp_path, monkeypatch):
    gate = tmp_path / "gate"
    gate.write_text("6")  # the run waits after step 6 (and its checkpoint) until the gate is removed
    monkeypatch.setenv("PHARMATUNE_STEP_GATE", str(gate))  # the job's child inherits it
    started = ft.start_training(base_model=f"hf:{tiny_llama}", dataset=str(chat_file), max_steps=12, batch_size=2,
                                save_every=6, keep_checkpoints=1)
    path = isolated_runs / started.run_id / "config.yaml"
    assert started.command == f"python -m training run {path.resolve()}"
    assert ft.run_config(started.run_id) == (path.read_text(encoding="utf-8"), started.command)
    assert "**Planned steps: 12** (max_steps" in started.checked.markdown
    try:
        # held mid-run: the view the page's timer builds while it trains, and the queue lists it
        view = follow(started.run_id, lambda v: v.step == 6 and 6 in v.checkpoints)
        assert view.status == "running" and "**running**: step 6/12" in view.status_markdown
        assert not view.finished and list(view.loss_frame().step) == list(range(1, 7))
        assert [row[0] for row in ft.queue_rows()] == [started.run_id]
    finally:
        gate.unlink()
    view = follow(started.run_id, lambda v: v.finished)
    assert view.status == "done", view.status_markdown
    assert view.step == 12 and list(view.loss_frame().step) == list(range(1, 13))
    assert "trainable parameters (" in view.status_markdown
    files = dict(ft.run_files(started.run_id))
    assert {"config.yaml", "events.jsonl", "summary.json", "adapter/adapter_model.safetensors",
            "checkpoints/checkpoint-12/"} <= set(files)
    assert ft.queue_rows() == []
    card = ft.model_card(started.run_id)
    assert card.startswith("```yaml\nlibrary_name: peft\n") and f"\n# {started.run_id}\n" in card
    # the merged export runs in a thread (it loads the model); the page polls its state
    assert ft.start_export(started.run_id)["state"] in ("running", "done")
    assert ft.wait_export(started.run_id, timeout=120)["state"] == "done", ft.export_markdown(started.run_id)
    merged = isolated_runs / started.run_id / "merged"
    assert ft.export_markdown(started.run_id) == f"✅ Merged model: `{merged}`"
    assert (merged / "config.json").is_file() and list(merged.glob("*.safetensors"))
    # Export GGUF: the same thread-and-poll path, a file and its Modelfile in runs/<id>/gguf/
    assert ft.start_export(started.run_id, "gguf", "f16")["state"] in ("running", "done")
    assert ft.wait_export(started.run_id, timeout=120)["state"] == "done", ft.export_markdown(started.run_id)
    written = isolated_runs / started.run_id / "gguf" / f"{started.run_id}-F16.gguf"
    assert written.is_file() and (written.parent / "Modelfile").is_file(), sorted(written.parent.iterdir())
    assert ft.export_markdown(started.run_id).startswith("✅ ") and "Modelfile" in ft.export_markdown(started.run_id)
    # the next Check measures its time estimate from this run
    assert f"of `{started.run_id}`" in ft.check_form(dict(base_model=f"hf:{tiny_llama}", dataset=str(chat_file),
                                                          max_steps=12, batch_size=2)).time_markdown


# -- resume -------------------------------------------------------------------------------------------------------
def checkpoint(folder, step, complete=True):
    """A checkpoint folder as the Trainer leaves it; without trainer_state.json (written last) it was cut off."""
    from safetensors.numpy import save_file
    import numpy as np

    path = folder / "checkpoints" / f"checkpoint-{step}"
    path.mkdir(parents=True)
    save_file({"w": np.zeros(2, dtype=np.float32)}, str(path / "adapter_model.safetensors"))
    if complete:
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return path


def test_resume_relaunches_from_the_newest_complete_checkpoint(isolated_runs, monkeypatch):
    folder = fabricate(isolated_runs, "training-cut", "cancelled", [SETUP, {"event": "status", "status": "cancelled"}])
    checkpoint(folder, 10)
    checkpoint(folder, 20, complete=False)  # cancelled while it was being written
    assert "last checkpoint is step 10" in ft.run_view("training-cut").status_markdown
    launched = []
    monkeypatch.setattr(jobs, "launch", lambda *args, **kwargs: launched.append((args, kwargs)))
    assert ft.resume_run("training-cut") == "Resuming training-cut from checkpoint step 10."
    assert launched == [(("training-cut", "training"), dict(extra_args=("--resume",), status="queued",
                                                            restart=True))]
    # what the child does with --resume: the same checkpoint (training.recipe skips the cut-off one)
    from training.recipe import latest_checkpoint

    assert latest_checkpoint(folder).name == "checkpoint-10"


def test_task_settings_are_form_fields_and_only_the_chosen_tasks_section_reaches_the_config():
    from ui import finetune_form as form

    assert {"grpo_rewards", "grpo_num_generations", "grpo_beta", "preference_beta", "preference_loss_type"} \
        <= set(form.FORM_DEFAULTS)
    assert form.FORM_DEFAULTS["grpo_rewards"] == "" and form.FORM_DEFAULTS["preference_beta"] == 0.1
    config = form.make_config(dataset="bundled:name-to-smiles", task="grpo", batch_size=4, grpo_num_generations=4,
                              grpo_rewards="[{metric: smiles_validity, weight: 0.5}, "
                                           "{metric: smiles_exact_match, reference: smiles}]",
                              grpo_beta=0.04, preference_beta=0.3)
    assert [(r.metric, r.weight, r.reference) for r in config.grpo.rewards] == \
        [("smiles_validity", 0.5, None), ("smiles_exact_match", 1.0, "smiles")]
    assert config.grpo.beta == 0.04 and config.grpo.num_generations == 4
    assert "preference" not in config.to_dict() and "grpo" in config.to_dict()
    dpo = form.make_config(dataset="bundled:name-to-smiles", task="dpo", preference_beta=0.3)
    assert dpo.preference.beta == 0.3 and "grpo" not in dpo.to_dict()


def test_a_bad_reward_is_a_sentence_naming_the_field():
    from ui import finetune_form as form

    with pytest.raises(ft.InputProblem, match=r"Rewards \(grpo_rewards\): not a YAML list \(line 1, column"):
        form.make_config(dataset="bundled:name-to-smiles", task="grpo", grpo_rewards="[{metric: x")
    with pytest.raises(ft.InputProblem, match="grpo.rewards\\[0\\].metric: unknown metric 'smiles_valdity'. Did you mean"):
        form.make_config(dataset="bundled:name-to-smiles", task="grpo", grpo_rewards="[{metric: smiles_valdity}]")


def test_grpo_and_preference_runs_get_their_plots():
    from ui.finetune_view import TrainView

    view = TrainView("r")
    for step in (1, 2):
        view.apply({"event": "train", "step": step, "loss": 0.1, "lr": 1e-4, "reward_mean": 0.2 * step,
                    "reward_std": 0.1, "kl": 0.01 * step,
                    "rewards": {"smiles_validity": {"mean": 0.5, "std": 0.2}, "format": {"mean": 1.0, "std": 0.0}}})
    view.apply({"event": "eval_benchmark", "step": 2, "benchmark": "name-to-smiles", "metrics": {"validity": 0.4}})
    assert view.plots == ["reward", "kl"]
    reward = view.reward_frame()
    assert set(reward["series"]) == {"total mean", "total std", "smiles_validity mean", "smiles_validity std",
                                     "format mean", "format std"}
    assert reward[reward["series"] == "total mean"]["reward"].tolist() == [0.2, 0.4]
    assert view.kl_frame()["KL"].tolist() == [0.01, 0.02]
    assert view.heldout_frame().to_dict("records") == [{"step": 2, "score": 0.4, "series": "name-to-smiles/validity"}]
    assert view.preference_frame() is None

    dpo = TrainView("d")
    dpo.apply({"event": "train", "step": 1, "loss": 0.69, "margin": 0.0, "accuracy": 0.5, "chosen_reward": 0.0})
    dpo.apply({"event": "train", "step": 2, "loss": 0.5, "margin": 0.3, "accuracy": 0.75, "chosen_reward": 0.2})
    assert dpo.plots == ["margin", "accuracy"] and dpo.reward_frame() is None
    frame = dpo.preference_frame()
    assert frame[frame["series"] == "accuracy"]["value"].tolist() == [0.5, 0.75]
