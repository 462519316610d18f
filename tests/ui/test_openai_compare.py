"""OpenAI tab, "Compare them": one evaluation job of two models on one benchmark, then the paired compare of their
rows (a p-value and a sentence), or a sentence when there is nothing to compare yet."""
import time

import pytest

from ui import openai_compare as oc
from ui.job_tab import InputProblem


def test_both_models_run_in_one_job_and_the_compare_has_a_paired_test(isolated_runs):
    run_id = oc.evaluate_both("dummy:interaction", "dummy:no-interaction", "ddi-binary", limit=12)
    heading, table = oc.both_result(run_id)
    assert table is None  # still running: its progress
    deadline = time.time() + 60
    while table is None:
        assert time.time() < deadline, heading
        time.sleep(0.5)
        heading, table = oc.both_result(run_id)
    assert heading.startswith("**A** #") and "dummy:interaction" in heading and "dummy:no-interaction" in heading
    accuracy = table[table["metric"].str.startswith("accuracy")].iloc[0]
    assert accuracy["test"].startswith("McNemar") and 0 <= accuracy["p-value"] <= 1
    assert "Paired t" in heading and "no significant difference on accuracy" in heading


def test_a_failed_run_is_a_sentence(isolated_runs):
    run_id = oc.evaluate_both("dummy:interaction", "dummy:echo", "ddi-binary-choice", limit=4)
    deadline = time.time() + 60
    with pytest.raises(InputProblem, match="gives no log-probabilities; use generate mode"):
        while time.time() < deadline:
            oc.both_result(run_id)
            time.sleep(0.5)


def test_bad_input_is_a_sentence():
    with pytest.raises(InputProblem, match="Pick the OpenAI fine-tuned model and the local run"):
        oc.evaluate_both("", "run:x", "ddi-binary")
    with pytest.raises(InputProblem, match="Choose at least one benchmark"):
        oc.evaluate_both("openai:ft:gpt-4o-mini:x", "run:x", None)
    with pytest.raises(InputProblem, match="Evaluate both"):
        oc.both_result(None)


def test_choices_list_fine_tuned_models_and_finished_runs(isolated_runs):
    import jobs
    import store
    from store.tables import OpenAIJob, Run

    with store.session() as s:
        s.add(OpenAIJob(token="t1", model="gpt-4o-mini-2024-07-18", fine_tuned_model="ft:gpt-4o-mini:org::abc",
                        status="succeeded"))
        s.add(OpenAIJob(token="t2", model="gpt-4o-mini-2024-07-18", status="running"))
        s.add(Run(id="training-1", kind="training", status="done", directory=str(isolated_runs / "training-1")))
        s.add(Run(id="training-2", kind="training", status="failed", directory=str(isolated_runs / "training-2")))
    assert oc.fine_tuned_choices() == ["openai:ft:gpt-4o-mini:org::abc"]
    assert oc.local_choices() == ["run:training-1"]
    assert jobs.list_runs("training")
