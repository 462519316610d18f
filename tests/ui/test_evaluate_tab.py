"""The Evaluate tab's logic without Gradio: real evaluation jobs (child processes) on dummy models, watched from
their events the way the page's timer does; bad input starts nothing; cancel and failures leave no half result."""
import time

import psutil
import pytest

import jobs
from evaluation import leaderboard
from ui import evaluate_tab as ev

DEADLINE = 45  # seconds; a dummy evaluation takes about 5 s on 2 cores


def follow(run_id, until, timeout=DEADLINE):
    """Tail the run like the page's timer (offset by offset) until `until(view)` holds."""
    view = ev.run_view(run_id)
    deadline = time.time() + timeout
    while not until(view):
        assert time.time() < deadline, f"gave up after {timeout} s: {view.status} {view.progress_markdown}"
        time.sleep(0.2)
        view = ev.run_view(run_id, view.offset, view)
    return view


def test_dummy_evaluation_finishes_with_metrics_and_one_leaderboard_row(isolated_runs):
    started = ev.start_evaluation(["dummy:interaction"], ["ddi-binary"], limit=0, batch_size=8)
    path = isolated_runs / started.run_id / "config.yaml"
    assert started.command == f"python -m evaluation run --config {path.resolve()}"
    assert "models:\n- dummy:interaction\nbenchmarks:\n- ddi-binary\nlimit: null\nbatch_size: 8" in started.config_yaml
    assert ev.run_config(started.run_id) == (path.read_text(encoding="utf-8"), started.command)

    ticks = []
    view = follow(started.run_id, lambda v: ticks.append(v.offset) or v.finished)
    assert view.status == "done", view.error
    assert "| dummy:interaction | ddi-binary | default | 28/28 |" in view.progress_markdown
    assert "scored" in view.progress_markdown
    assert "**done**: 1 result(s)" in view.status_markdown
    [[model, bench, variant, items, metrics, row_id]] = view.results
    assert (model, bench, variant, items) == ("dummy:interaction", "ddi-binary", "default", 28)
    assert metrics.startswith("accuracy ↑ 0.500 · precision ↑ 0.500 · recall ↑ 1.000 · f1 ↑ 0.667")
    assert "unparseable ↓ 0.000" in metrics

    table = leaderboard.table("ddi-binary")
    assert len(table) == 1 and table.loc[0, "id"] == row_id and table.loc[0, "run"] == started.run_id
    assert table.loc[0, "accuracy ↑"] == 0.5

    # A reloaded page reads the file from the start and shows exactly what the timer built up.
    again = ev.run_view(started.run_id)
    assert (again.progress_markdown, again.results, again.status_markdown) == \
           (view.progress_markdown, view.results, view.status_markdown)
    assert ev.run_choices() == ([(f"{started.run_id} · done · dummy:interaction on ddi-binary", started.run_id)],
                                started.run_id)
    assert "already finished (done)" in ev.cancel_run(started.run_id)


@pytest.mark.parametrize("form,message", [
    (dict(models=[], benchmark_names=["ddi-binary"]), "Choose at least one model"),
    (dict(models=["  "], benchmark_names=["ddi-binary"]), "Choose at least one model"),
    (dict(models=["dummy:echo"], benchmark_names=[]), "Choose at least one benchmark"),
    (dict(models=["dummy:echo"], benchmark_names=["ddi-binary"], limit=-1),
     "0 runs every item, N runs the first N (got -1)"),
    (dict(models=["dummy:echo"], benchmark_names=["ddi-binary"], limit=2.5), "must be a whole number"),
    (dict(models=["dummy:echo"], benchmark_names=["ddi-binary"], batch_size=0),
     "batch size must be a whole number of at least 1 (got 0)"),
    (dict(models=["dumy:echo"], benchmark_names=["ddi-binary"]),
     "unknown model scheme 'dumy'. Did you mean dummy:echo?"),
    (dict(models=["dummy:echo"], benchmark_names=["ddi-nope"]), "ddi-nope is not a benchmark here; known: ddi-binary"),
    (dict(models=["dummy:echo"], benchmark_names=["ddi-binary"], variants=["compact"]),
     "ddi-binary has no prompt variant 'compact'; it has default"),
    (dict(models=["dummy:echo"], benchmark_names=["ddi-binary"], judge="judge"), "'judge' is not a model reference"),
])
def test_bad_input_is_a_sentence_and_starts_nothing(isolated_runs, form, message):
    with pytest.raises(ev.InputProblem) as caught:
        ev.start_evaluation(**form)
    assert message in str(caught.value) and "Traceback" not in str(caught.value)
    assert list(isolated_runs.iterdir()) == []  # no run folder, no store
    assert jobs.list_runs("evaluation") == []


def test_benchmarks_without_their_shared_data_are_not_offered(isolated_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_SHARED_DATA", str(tmp_path / "no-shared-data"))
    offered, missing = ev.benchmark_choices()
    names = [name for _, name in offered]
    assert "ddi-binary" in names and "ddi-binary-shared" not in names
    label = dict((n, l) for l, n in offered)["ddi-binary"]
    assert label.startswith("ddi-binary: Does this drug pair interact?")
    note = ev.unavailable_note(missing)
    assert "ddi-binary-shared needs shared:" in note and "no-shared-data" in note
    with pytest.raises(ev.InputProblem, match="ddi-binary-shared needs shared:"):
        ev.start_evaluation(["dummy:echo"], ["ddi-binary-shared"])
    assert list(isolated_runs.iterdir()) == []


def test_variant_choices_follow_the_chosen_benchmarks():
    assert ev.variant_choices(["ddi-binary"]) == []
    assert ev.variant_choices(["ddi-binary", "ddi-binary-robustness"]) == [
        "default", "original", "reordered", "paraphrase", "list", "compact"]
    config = ev.make_config(["dummy:echo", "dummy:echo"], ["ddi-binary-robustness"], limit=3, batch_size="4",
                            judge=" dummy:judge ", variants=["compact"])
    assert (config.models, config.limit, config.batch_size, config.judge, config.variants) == \
           (["dummy:echo"], 3, 4, "dummy:judge", ["compact"])


def test_cancel_kills_the_job_and_leaves_no_leaderboard_row(isolated_runs, tmp_path, monkeypatch):
    gate = tmp_path / "gate"
    gate.write_text("0")  # dummy:gated answers nothing while the gate holds 0: the job stays running at 0/28
    monkeypatch.setenv("PHARMATUNE_DUMMY_GATE", str(gate))  # the job's child inherits it
    started = ev.start_evaluation(["dummy:gated"], ["ddi-binary"])
    view = follow(started.run_id, lambda v: "| 0/28 |" in v.progress_markdown)
    assert ev.run_choices()[1] == started.run_id  # a reloaded page re-attaches to the running job
    assert "running" in view.status_markdown
    pid = jobs.get(started.run_id).pid
    assert psutil.pid_exists(pid)

    assert ev.cancel_run(started.run_id) == f"Cancelled {started.run_id}."
    assert not psutil.pid_exists(pid)
    view = ev.run_view(started.run_id, view.offset, view)
    assert view.status == "cancelled" and "**cancelled**" in view.status_markdown
    assert view.results == [] and "28/28" not in view.progress_markdown
    assert jobs.poll(started.run_id).status == "cancelled"
    assert leaderboard.table().empty
    fresh = ev.run_view(started.run_id)  # the same picture after a reload
    assert (fresh.progress_markdown, fresh.status_markdown) == (view.progress_markdown, view.status_markdown)


def test_a_model_that_fails_marks_the_run_failed_with_a_readable_error(isolated_runs):
    started = ev.start_evaluation(["dummy:fail-load"], ["ddi-binary"])
    view = follow(started.run_id, lambda v: v.finished)
    assert view.status == "failed"
    assert view.error == "dummy:fail-load cannot be loaded, as it always does (a test model)."
    assert view.status_markdown.startswith("❌ Status: **failed**: dummy:fail-load cannot be loaded")
    assert "Traceback" not in view.status_markdown and view.results == []
    assert jobs.get(started.run_id).status == "failed"
    assert leaderboard.table().empty


def test_run_view_of_an_unknown_run_is_a_sentence(isolated_runs):
    with pytest.raises(ev.InputProblem, match="There is no evaluation run 'nope'"):
        ev.run_view("nope")
    assert ev.cancel_run(None) == "Start an evaluation, or pick a recent run to watch."
    assert ev.run_choices() == ([], None)


def test_progress_table_lists_every_model_and_benchmark():
    """Skipped pairs say why, resumed ones say how much was kept; rates and ETAs are readable."""
    view = ev.RunView("r")
    for event in [
        {"event": "status", "status": "running"},
        {"event": "skipped", "model": "dummy:echo", "benchmark": "medquad", "reason": "medquad needs shared:medquad"},
        {"event": "start", "model": "dummy:echo", "benchmark": "ddi-binary"},
        {"event": "resume_items", "items": 8},
        {"event": "progress", "variant": "default", "done": 16, "total": 28, "items_per_s": 0.5, "eta_s": 24},
        {"event": "start", "model": "hf:a|b", "benchmark": "ddi-binary"},
    ]:
        view.apply(event)
    lines = view.progress_markdown.splitlines()
    assert lines[2] == "| dummy:echo | medquad | — | — | — | — | skipped: medquad needs shared:medquad |"
    assert lines[3] == ("| dummy:echo | ddi-binary | default | 16/28 | 0.50 | 24 s | generating "
                        "(resumed: 8 items were already done) |")
    assert lines[4] == "| hf:a\\|b | ddi-binary | — | — | — | — | loading the model … |"
    assert not view.finished and view.status_markdown.startswith("⏳ Status: **running**")
    assert ev._duration(125) == "2 min 05 s" and ev._rate(1234.5) == "1234"


# -- leakage and notes ------------------------------------------------------------------------------------------
def test_leakage_of_a_base_model_compares_the_benchmark_with_its_own_train_split(isolated_runs):
    text = ev.leakage_report(["builtin:smollm2-135m-instruct"], ["ddi-binary"])
    assert "its own train split" in text and "bundled:ddi-binary train" in text
    assert "**Pairs**" in text and "**Molecules**" in text and "| similarity | test molecules |" in text


def test_leakage_of_a_run_uses_the_runs_training_set_and_counts_its_overlap(isolated_runs, tmp_path):
    import json

    from data import catalog

    test = catalog.load("bundled:ddi-binary", "test")
    train = tmp_path / "train.jsonl"  # three test pairs, one of them swapped, and one pair the test has not
    rows = [{"drug1": r.meta["drug1"], "drug2": r.meta["drug2"]} for r in test[:2]]
    rows += [{"drug1": test[2].meta["drug2"], "drug2": test[2].meta["drug1"]}, {"drug1": "Zzdrug", "drug2": "Yydrug"}]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run = isolated_runs / "ft-1"
    run.mkdir()
    (run / "config.yaml").write_text(f"dataset: {train}\ntask: sft\n", encoding="utf-8")
    text = ev.leakage_report(["run:ft-1", "dummy:echo"], ["ddi-binary"])
    assert "the training set of run:ft-1" in text and "own train split" not in text
    assert "2 test pairs are also train pairs in the same order, 1 only in the swapped order" in text


def test_leakage_without_a_known_training_set_says_so(isolated_runs, tmp_path):
    from data import catalog

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(catalog.file_for("bundled:ddi-binary", "test").read_text(encoding="utf-8"), encoding="utf-8")
    bench = tmp_path / "mine.yaml"
    bench.write_text(f"dataset: {pairs}\nprompt: ddi.binary\nreference: label\nparser: label\n"
                     "metrics: [classification]\n", encoding="utf-8")
    text = ev.leakage_report(["dummy:echo"], [str(bench)])
    assert text.startswith("**" + str(bench) + "**: no training set is known for it")
    with pytest.raises(ev.InputProblem, match="Choose at least one benchmark"):
        ev.leakage_report(["dummy:echo"], [])


def test_notes_flag_a_questeval_judge_that_cannot_tell_answers_apart():
    view = ev.RunView("r")
    view.scored = [
        {"model": "m", "benchmark": "b", "variant": "default",
         "details": {"questeval_judge_warning": "judge cannot tell matching from unrelated answers (self 0.50 vs "
                                                "other 0.50, below the margin 0.1)",
                     "questeval_judge_sanity": {"self": 0.5, "other": 0.5, "gap": 0.0, "items": 4, "ok": False}}},
        {"model": "m2", "benchmark": "b", "variant": "default",
         "details": {"questeval_judge_sanity": {"self": 1.0, "other": 0.25, "gap": 0.75, "items": 16, "ok": True}}},
        {"model": "m3", "benchmark": "c", "variant": "default", "details": {}},
    ]
    notes = view.notes_markdown.splitlines()
    assert len(notes) == 2
    assert notes[0].startswith("- ⚠️ m on b (default): the QuestEval score is not evidence: judge cannot tell")
    assert "itself scores 1.00, against an unrelated reference 0.25 (16 references)" in notes[1]
