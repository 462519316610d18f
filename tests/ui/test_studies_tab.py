"""The Studies tab's logic without Gradio: the form becomes a SearchConfig or StudyConfig (bad values are sentences
naming the field, and start nothing), the view is rebuilt from events.jsonl (live pruned % and compute saved, the best
so far), and one real tiny search on a random Llama runs start to finish the way the page's timer watches it: pruned
trials, the best configuration, the report and its plots; "Train this" then starts a full-length training job."""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta

import pytest
import yaml

import jobs
from tests.training.conftest import chat_rows, write_jsonl
from ui import studies_tab as st


@pytest.fixture(autouse=True)
def made_up_paths_are_allowed(monkeypatch):
    """The form tests name files that need not exist (/data/train.jsonl, a /tmp/x.db study storage): they are
    allowed roots here."""
    monkeypatch.setenv("PHARMATUNE_ALLOWED_ROOTS",
                       os.pathsep.join([os.environ.get("PHARMATUNE_ALLOWED_ROOTS", ""), "/data", "/tmp/x.db"]))

SPACE = "learning_rate: {type: float, low: 1.0e-4, high: 3.0e-2, log: true}\nmethod.rank: [2, 4]\n"


def form(**fields) -> dict:
    base = dict(base_model="hf:/models/tiny", dataset="/data/train.jsonl", eval_dataset="/data/val.jsonl",
                max_steps=6, batch_size=4, max_length=64, eval_every=1, trials=8, trial_steps=4, top_k=1, seed=1,
                space=SPACE)
    return {**base, **fields}


# -- the form -----------------------------------------------------------------------------------------------------
def test_the_search_form_becomes_a_search_config():
    from training.search.config import SearchConfig

    config = st.make_config(form(pruner="hyperband", sampler="random", protocol="early-score", early_fraction=0.5,
                                 storage="sqlite:////tmp/x.db", direction="minimize"))
    spec = config.to_dict()
    assert spec["train"]["base_model"] == "hf:/models/tiny" and spec["train"]["dataset"] == "/data/train.jsonl"
    assert spec["train"]["eval_dataset"] == "/data/val.jsonl" and spec["train"]["max_steps"] == 6
    assert spec["train"]["method"]["name"] == "lora" and spec["train"]["tensorboard"] is False
    assert spec["space"] == {"learning_rate": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
                             "method.rank": {"type": "categorical", "choices": [2, 4]}}
    assert (spec["trials"], spec["trial_steps"], spec["eval_every"], spec["top_k"]) == (8, 4, 1, 1)
    assert (spec["pruner"], spec["sampler"], spec["protocol"], spec["early_fraction"]) == \
        ("hyperband", "random", "early-score", 0.5)
    assert spec["storage"] == "sqlite:////tmp/x.db"
    assert SearchConfig.from_dict(yaml.safe_load(config.to_yaml())).to_dict() == spec  # what the job reads back
    assert st.command(config) == "python -m training search run CONFIG.yaml"


@pytest.mark.parametrize("kind, fields, expected", [
    ("lora-rank", dict(ranks="1, 6, intrinsic", alpha_k=4, intrinsic="mean", intrinsic_examples=50),
     dict(ranks=[1, 6, "intrinsic"], alpha_k=4.0, intrinsic="mean", intrinsic_examples=50)),
    ("method-comparison", dict(methods=["lora", "bitfit"], selections=["none", "influence"], pool="/data/pool.jsonl"),
     dict(methods=["lora", "bitfit"], selections=["none", "influence"], pool="/data/pool.jsonl")),
    ("data-efficiency", dict(sizes="4, 8, 16", epsilon=0.05), dict(sizes=[4, 8, 16], epsilon=0.05)),
    ("data-selection", dict(pool="/data/pool.jsonl", select_rule="top-k", select_k=3),
     dict(pool="/data/pool.jsonl", select_rule="top-k", select_k=3)),
])
def test_study_forms_become_study_configs(kind, fields, expected):
    from training.studies.config import StudyConfig

    config = st.make_config(form(kind=kind, metric="eval_loss", **fields))
    spec = config.to_dict()
    assert spec["study"] == kind and spec["metric"] == "eval_loss"
    assert spec["train"]["base_model"] == "hf:/models/tiny" and spec["train"]["max_steps"] == 6
    assert spec["train"]["eval_every"] == 1 and spec["train"]["eval_dataset"] == "/data/val.jsonl"
    for key, value in expected.items():
        assert spec[key] == value, key
    assert StudyConfig.from_dict(yaml.safe_load(config.to_yaml())).to_dict() == spec
    assert st.command(config, "runs/x/config.yaml") == "python -m training study run runs/x/config.yaml"
    if kind != "data-selection":
        assert spec["select_k"] is None  # 0 in the form: all positive


@pytest.mark.parametrize("fields, message", [
    (dict(space="learning_rate: [1"), r"Search space \(space\) is not valid YAML \(line 1\)"),
    (dict(space="- learning_rate"), r"Search space \(space\) must map field names"),
    (dict(space=""), r"Search space \(space\) is empty"),
    (dict(space="learning_rat: {type: float, low: 1.0e-4, high: 1.0e-3}"),
     "unknown parameter 'learning_rat'.*Did you mean 'learning_rate'"),
    (dict(space="learning_rate: {type: float, low: 1.0e-3, high: 1.0e-4}"), "space.learning_rate: the range is empty"),
    (dict(space="learning_rate: {type: float, low: 0, high: 1.0e-3, log: true}"),
     "space.learning_rate: a log scale needs low > 0"),
    (dict(space="method.rank: {type: integer, low: 2, high: 8}"), "space.method.rank: type 'integer'"),
    (dict(trial_steps=2, eval_every=3), "budget is smaller than one evaluation"),
    (dict(trials=0), r"Trials \(trials\) must be a whole number of at least 1"),
    (dict(trial_steps=2.5), r"Steps per trial \(trial_steps\) must be a whole number"),
    (dict(max_steps=""), r"Max steps per run \(max_steps\) must be a whole number of at least 1 \(got nothing\)"),
    (dict(pruner="halving"), "pruner 'halving' is not one of"),
    (dict(base_model=""), r"Base model \(base_model\) is empty"),
    (dict(kind="lora-rank", ranks="1, big"), r"Ranks \(ranks\): 'big' is not a whole number of at least 1 or intrinsic"),
    (dict(kind="data-efficiency", sizes=""), r"Training sizes \(sizes\) is empty"),
    (dict(kind="lora-rank", ranks="0"), r"Ranks \(ranks\): '0'"),
    (dict(kind="lora-rank", ranks="1e400"), r"Ranks \(ranks\): '1e400' is not a whole number"),
    (dict(kind="lora-rank", ranks="nan"), r"Ranks \(ranks\): 'nan' is not a whole number"),
])
def test_bad_input_names_the_field_and_starts_nothing(isolated_runs, fields, message):
    with pytest.raises(st.InputProblem, match=message):
        st.start_study(form(**fields))
    assert list(isolated_runs.glob("search-*")) == [] and list(isolated_runs.glob("study-*")) == []


def test_check_reports_missing_data_readably(isolated_runs, tiny_llama, tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", chat_rows(16))
    with pytest.raises(st.InputProblem, match="Validation set|Dataset|eval_dataset|nowhere"):
        st.check_form(form(base_model=f"hf:{tiny_llama}", dataset=str(train),
                           eval_dataset=str(tmp_path / "nowhere.jsonl")))
    checked = st.check_form(form(base_model=f"hf:{tiny_llama}", dataset=str(train), eval_dataset=str(train)))
    assert "Ready" in checked.markdown and "8 two-phase trial(s) scored after 4 of 4 step(s)" in checked.markdown
    assert "16 training examples" in checked.markdown
    assert checked.command == "python -m training search run CONFIG.yaml" and "space:" in checked.config_yaml
    assert list(isolated_runs.glob("search-*")) == []  # checking starts nothing


# -- the view, from events ------------------------------------------------------------------------------------------
def fabricate(runs, run_id, kind, status, events, config, *, pid=None, minutes_ago=0, error=None):
    import store
    from store.tables import Run

    folder = runs / run_id
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with open(folder / "events.jsonl", "w", encoding="utf-8") as fh:
        for event in events:
            fh.write(json.dumps(event) + "\n")
    with store.session() as s:
        s.add(Run(id=run_id, kind=kind, status=status, directory=str(folder), pid=pid, title=f"{kind} {run_id}",
                  error=error, created=datetime.now() - timedelta(minutes=minutes_ago)))
    return folder


def trial(number, state, lr, rank, value=None, steps=None):
    return {"event": "trial", "number": number, "phase": 1, "state": state,
            "params": {"learning_rate": lr, "method.rank": rank}, "value": value, "steps": steps, "seconds": 0.5}


SEARCH = {"train": {"max_steps": 6}, "space": {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2},
                                               "method.rank": [2, 4]},
          "trials": 4, "trial_steps": 4, "direction": "minimize", "objective": "eval_loss", "protocol": "two-phase"}


def test_the_view_shows_live_pruned_percent_compute_saved_and_the_best_so_far(isolated_runs):
    import os

    events = [{"event": "status", "status": "running"}, {"event": "search", "study": "s1"},
              {"event": "trial", "number": 0, "phase": 1, "state": "running",
               "params": {"learning_rate": 0.001, "method.rank": 2}},
              trial(0, "complete", 0.001, 2, 5.5, 4), trial(1, "pruned", 0.0002, 4, 5.9, 1),
              trial(2, "pruned", 0.0003, 2, 5.8, 2), trial(3, "running", 0.005, 4)]
    folder = fabricate(isolated_runs, "search-live", "search", "running", events, SEARCH, pid=os.getpid())
    view = st.run_view("search-live")
    p = view.phase1()
    assert (p["trials"], p["complete"], p["pruned"], p["running"]) == (3, 1, 2, 1)
    assert p["steps"] == 7 and p["steps_unpruned"] == 12 and p["saved_percent"] == round(100 * 5 / 12, 1)
    assert "66.7 %" in view.figures_markdown and "7 of 12" in view.figures_markdown
    assert "running" in view.status_markdown and "phase 1, 3/4 trials finished" in view.status_markdown
    frame = view.frame()
    assert list(frame.columns)[:5] == ["trial", "phase", "state", "learning_rate", "method.rank"]
    assert list(frame["state"]) == ["complete", "pruned", "pruned", "running"]
    assert "eval_loss = 5.5** (so far)" in view.best_markdown and "learning_rate: 0.001" in view.best_markdown
    assert view.best_run_id is None
    with pytest.raises(st.InputProblem, match="no full-length run"):
        st.evaluate_best("search-live", "ddi-binary")

    # phase 2 and the end: the summary's figures replace the live ones, the best is the full-length run
    with open(folder / "events.jsonl", "a", encoding="utf-8") as fh:
        for e in [trial(3, "complete", 0.005, 4, 5.2, 4),
                  {"event": "final", "number": 3, "place": 1, "state": "running",
                   "params": {"learning_rate": 0.005, "method.rank": 4}, "run_id": "search-live-top1"}]:
            fh.write(json.dumps(e) + "\n")
    view = st.run_view("search-live", view.offset, view)
    assert view.changed and "phase 2, full-length run of the top 1" in view.status_markdown
    summary = {"phases": [{"phase": "1", "trials": 4, "complete": 2, "pruned": 2, "failed": 0, "pruned_percent": 50.0,
                           "steps": 11, "steps_unpruned": 16}],
               "best": {"params": {"learning_rate": 0.005, "method.rank": 4}, "value": 5.1, "run_id": "search-live-top1",
                        "trial": 3}, "compute_saved_percent": 31.2, "prediction": None, "study": "s1"}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "report.md").write_text("# Search s1\n\n## Plots\n\n![Optimization history](optimization_history.png)\n")
    with open(folder / "events.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"event": "final", "number": 3, "place": 1, "state": "complete", "value": 5.1,
                             "run_id": "search-live-top1", "steps": 6, "seconds": 1.0,
                             "params": {"learning_rate": 0.005, "method.rank": 4}}) + "\n")
        fh.write(json.dumps({"event": "status", "status": "done"}) + "\n")
    jobs.set_status("search-live", "done")
    view = st.run_view("search-live", view.offset, view)
    assert view.finished and "done" in view.status_markdown
    assert "31.2 % compute saved" in view.figures_markdown and "summary.json" in view.figures_markdown
    assert "11 of 16" in view.figures_markdown
    assert view.best_run_id == "search-live-top1" and "(so far)" not in view.best_markdown
    assert "run:search-live-top1" in view.best_markdown
    assert list(view.frame()["phase"])[-1] == "2 (top 1)" and list(view.frame()["model"])[-1] == "run:search-live-top1"
    report = view.report_markdown()
    assert "![" not in report and "Optimization history: shown in the plots above" in report


def test_a_study_view_has_one_row_per_study_run_and_its_best(isolated_runs):
    events = [{"event": "status", "status": "running"},
              {"event": "study_run", "label": "r=1", "state": "running", "run_id": "study-x-r1"},
              {"event": "study_run", "label": "r=1", "state": "complete", "run_id": "study-x-r1",
               "metrics": {"eval_loss": 3.2, "trainable_percent": 0.4}, "steps": 6, "seconds": 2.0},
              {"event": "study_run", "label": "r=8", "state": "complete", "run_id": "study-x-r8",
               "metrics": {"eval_loss": 3.0, "trainable_percent": 2.9}, "steps": 6, "seconds": 2.5},
              {"event": "study_run", "label": "r=64", "state": "failed", "run_id": "study-x-r64",
               "error": "RuntimeError: boom", "seconds": 0.1},
              {"event": "status", "status": "done"}]
    fabricate(isolated_runs, "study-x", "study", "done", events, {"study": "lora-rank", "metric": "eval_loss",
                                                                 "train": {"max_steps": 6}})
    view = st.run_view("study-x")
    frame = view.frame()
    assert list(frame.columns) == ["run", "state", "eval_loss", "trainable_percent", "steps", "seconds", "model",
                                   "error"]
    assert list(frame["run"]) == ["r=1", "r=8", "r=64"] and list(frame["state"]) == ["complete", "complete", "failed"]
    assert "RuntimeError: boom" in list(frame["error"])
    assert view.best_run_id == "study-x-r8" and "**r=8**: eval_loss = 3.0" in view.best_markdown
    assert "2 run(s) complete, 1 failed" in view.figures_markdown
    assert "no report" in view.report_markdown()
    with pytest.raises(st.InputProblem, match="Train this applies to searches"):
        st.train_best("study-x")
    choices, chosen = st.run_choices()
    assert chosen == "study-x" and choices[0][1] == "study-x"
    assert st.cancel_run("study-x") == "study-x had already finished (done); nothing to cancel."
    with pytest.raises(st.InputProblem, match="no search or study 'training-1'"):
        st.run_view("training-1")


# -- a real tiny search ---------------------------------------------------------------------------------------------
def wait(run_id, timeout=300):
    view, deadline = None, time.time() + timeout
    seen_states = set()
    while time.time() < deadline:
        view = st.run_view(run_id, view.offset if view else 0, view)
        seen_states |= {t.get("state") for t in view.trials.values()}
        if view.finished:
            return view, seen_states
        time.sleep(0.5)
    raise AssertionError(f"{run_id} did not finish in {timeout} s: {view.status_markdown if view else ''}")


def test_a_tiny_search_prunes_reports_and_its_best_can_be_trained(isolated_runs, tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    train = write_jsonl(tmp_path / "train.jsonl", chat_rows(16))
    val = write_jsonl(tmp_path / "val.jsonl", chat_rows(8))
    started = st.start_study(form(base_model=f"hf:{tiny_llama}", dataset=str(train), eval_dataset=str(val),
                                  pruner="successive_halving"))
    assert started.job_kind == "search" and started.run_id.startswith("search-")
    assert started.command == f"python -m training search run {isolated_runs / started.run_id / 'config.yaml'}"
    assert st.run_choices()[1] == started.run_id  # the page attaches to the active run
    view, states = wait(started.run_id)
    assert view.status == "done", view.status_markdown
    frame = view.frame()
    phase1 = frame[frame["phase"] == 1]
    assert len(phase1) == 8 and set(phase1["state"]) <= {"complete", "pruned"}
    pruned = phase1[phase1["state"] == "pruned"]
    assert len(pruned) >= 1 and all(pruned["steps"] < 4)
    assert set(phase1["method.rank"]) <= {2, 4} and phase1["learning_rate"].between(1e-4, 3e-2).all()
    p = view.phase1()
    assert p["pruned"] == len(pruned) and p["steps"] == int(phase1["steps"].sum()) and p["steps_unpruned"] == 32
    assert f"{p['saved_percent']:g} % compute saved" in view.figures_markdown
    best = view.best
    assert best["run_id"] == f"{started.run_id}-top1" and set(best["params"]) == {"learning_rate", "method.rank"}
    assert f"run:{best['run_id']}" in view.best_markdown
    report = view.report_markdown()
    assert "## Resources per phase" in report and "## Best configuration" in report and "![" not in report
    key, images = st.plot_images(view)
    captions = [c for _, c in images]
    assert captions[:2] == ["Optimization history", "Validation metric at each evaluation (pruned trials stop)"]
    assert all(image.size[0] > 100 for image, _ in images)
    view.plots_key = key
    assert st.plot_images(view)[1] == []  # unchanged files: the page skips the gallery update
    _, live = st.live_plots(view, every=0)  # what the page draws from study.journal while a search runs
    assert [c for _, c in live] == ["Optimization history (live)", "Validation metric at each evaluation (live)"]

    # Train this: the best parameters on the base config at full length, as a training job
    training_id = st.train_best(started.run_id)
    spec = yaml.safe_load((isolated_runs / training_id / "config.yaml").read_text())
    assert spec["max_steps"] == 6 and spec["eval_every"] == 1
    assert spec["learning_rate"] == pytest.approx(best["params"]["learning_rate"])
    assert spec["method"]["rank"] == best["params"]["method.rank"]
    deadline = time.time() + 180
    while (run := jobs.poll(training_id)).status not in jobs.TERMINAL:
        assert time.time() < deadline
        time.sleep(0.5)
    assert run.status == "done", run.error
    assert st.cancel_run(started.run_id).endswith("nothing to cancel.")


def test_cancel_stops_a_running_search(isolated_runs, tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    train = write_jsonl(tmp_path / "train.jsonl", chat_rows(16))
    started = st.start_study(form(base_model=f"hf:{tiny_llama}", dataset=str(train), eval_dataset=str(train),
                                  trials=500, pruner="none"))
    deadline = time.time() + 120
    view = None
    while not (view := st.run_view(started.run_id, view.offset if view else 0, view)).trials:
        assert time.time() < deadline and not view.finished, view.status_markdown
        time.sleep(0.3)
    assert st.cancel_run(started.run_id) == f"Cancelled {started.run_id}."
    view = st.run_view(started.run_id)
    assert view.status == "cancelled" and "cancelled" in view.status_markdown
    assert not jobs.alive(jobs.get(started.run_id).pid)


def test_a_lora_rank_study_started_from_the_tab_writes_its_report(isolated_runs, tiny_llama, tmp_path, monkeypatch):
    """A real study through the tab: the job trains each rank, the view has a row per run and the report."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    train = write_jsonl(tmp_path / "train.jsonl", chat_rows(16))
    val = write_jsonl(tmp_path / "val.jsonl", chat_rows(8))
    started = st.start_study(form(kind="lora-rank", metric="eval_loss", ranks="2, intrinsic", intrinsic_examples=16,
                                  base_model=f"hf:{tiny_llama}", dataset=str(train), eval_dataset=str(val),
                                  max_steps=4, eval_every=2))
    assert started.job_kind == "study" and started.run_id.startswith("study-")
    view, _ = wait(started.run_id)
    assert view.status == "done", view.status_markdown
    frame = view.frame()
    assert len(frame) == 2 and set(frame["state"]) == {"complete"}
    assert any("intrinsic" in label for label in frame["run"])
    report = view.report_markdown()
    assert "LoRA-rank study" in report and "Intrinsic dimension per layer" in report
    assert [c for _, c in st.plot_images(view)[1]]  # intrinsic_dimension.png reaches the gallery


def test_a_task_comparison_is_typed_as_yaml_arms_with_confined_data_sets(tmp_path):
    from ui import studies_form as form

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("", encoding="utf-8")
    values = {**form.FORM_DEFAULTS, "kind": "task-comparison", "benchmark": "ddi-binary", "metric": "accuracy",
              "arms": f"- {{task: sft}}\n- {{task: dpo, dataset: {pairs}, preference: {{beta: 0.2}}}}"}
    config = form.make_config(values)
    assert config.study == "task-comparison"
    assert config.arms == [{"task": "sft"}, {"task": "dpo", "dataset": str(pairs.resolve()), "preference": {"beta": 0.2}}]
    with pytest.raises(form.InputProblem, match=r"arms\[1\]\.dataset"):
        form.make_config({**values, "arms": "- {task: sft}\n- {task: dpo, dataset: /etc/passwd}"})
    with pytest.raises(form.InputProblem, match="not a YAML list"):
        form.make_config({**values, "arms": "- {task: sft"})
    with pytest.raises(form.InputProblem, match=r"arms\[1\]\.eval_dataset"):
        form.make_config({**values, "arms": "- {task: sft}\n- {task: dpo, eval_dataset: /etc/passwd}"})
    with pytest.raises(form.InputProblem, match=r"arms\[0\]\.evaluate\): name a benchmark, not a file"):
        form.make_config({**values, "arms": "- {task: sft, evaluate: [/tmp/x.yaml]}\n- {task: dpo}"})
