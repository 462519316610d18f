"""OpenAI's fine-tuning wind-down: the dates in the price table (typed, validated), the days left, the warning
before a launch, OpenAI's refusal (the fake server's 403) as one sentence naming the cutoff, and "Train locally
instead" starting a real local LoRA run from the file just estimated. `today` is fixed (conftest: 2026-12-01)."""
import math
from datetime import date

import pytest

import jobs as run_jobs
from openai_ft import client as clients, jobs, ledger, pricing, winddown
from tests.fake_openai import WINDDOWN_MESSAGE
from tests.openai_ft.conftest import TODAY
from ui import openai_tab as tab

DEFAULT = pricing.DEFAULT_FILE.read_text()


def test_the_dates_are_parsed_typed():
    table = pricing.load(pricing.DEFAULT_FILE)
    assert table.as_of == "2026-12-01"
    wind = table.wind_down
    assert [(s.date, s.certain) for s in wind.stages] == [(date(2026, 5, 7), True), (date(2026, 7, 2), True),
                                                          (date(2027, 1, 6), True)]
    assert "never ran a fine-tuning job" in wind.stages[0].who and "60 days" in wind.stages[1].who
    assert wind.final.who == "every remaining customer" and "deprecations" in wind.source
    assert wind.as_of == date(2026, 12, 1)
    for name in ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14"):
        d = table.models[name].dates
        assert (d.fine_tuning_until, d.retires) == (date(2027, 1, 6), date(2027, 1, 14))
        assert d.certain("fine_tuning_until") and not d.certain("retires")  # read from reports: marked uncertain
        assert d.source and d.as_of == date(2026, 12, 1)
    nano = table.resolve("gpt-4.1-nano").dates
    assert nano.retires == date(2026, 10, 23) and nano.certain("retires")


@pytest.mark.parametrize("change,message", [
    (lambda t: t.replace('retires: "2027-01-14"', 'retires: "2027-13-01"', 1),
     r"models.gpt-4o-2024-08-06.retires: '2027-13-01' is not a date; write it as YYYY-MM-DD"),
    (lambda t: t.replace('fine_tuning_until: "2027-01-06"', 'fine_tuning_until: "soon"', 1),
     r"models.gpt-4o-2024-08-06.fine_tuning_until: 'soon' is not a date"),
    (lambda t: t.replace('fine_tuning_until: "2027-01-06"', 'fine_tuning_until: "2027-02-01"', 1),
     r"models.gpt-4o-2024-08-06.fine_tuning_until: 2027-02-01 is after retires \(2027-01-14\)"),
    (lambda t: t.replace('    - date: "2026-07-02"', '    - date: "2026-04-01"', 1),
     r"wind_down.stages\[1\].date: 2026-04-01 is not after the stage before it \(2026-05-07\)"),
    (lambda t: t.replace('    - date: "2026-05-07"', '    - date: "May 7"', 1),
     r"wind_down.stages\[0\].date: 'May 7' is not a date"),
    (lambda t: t.replace('      who: "every remaining customer"', '      who: ""', 1), r"wind_down.stages\[2\].who: say whose"),
    (lambda t: t.replace("      uncertain: [retires]", "      uncertain: [shutdown]", 1),
     r"models.gpt-4o-2024-08-06.dates.uncertain: a list of fine_tuning_until and retires"),
    (lambda t: t.replace("      certain: true", "      certain: maybe", 1), r"wind_down.stages\[0\].certain: must be true"),
])
def test_bad_dates_name_the_file_and_field(change, message):
    changed = change(DEFAULT)
    assert changed != DEFAULT
    with pytest.raises(pricing.PriceError, match=r"my-prices.yaml, " + message):
        pricing.parse(changed, "my-prices.yaml")


def test_a_copy_saved_before_the_dates_gets_the_packaged_ones(app_dirs):
    import yaml

    spec = yaml.safe_load(DEFAULT)
    spec.pop("wind_down")
    for row in spec["models"].values():
        for key in ("fine_tuning_until", "retires", "dates"):
            row.pop(key)
    spec["models"]["gpt-5-nano"] = {"training": 2, "source": "typed in the tab"}
    pricing.save(yaml.safe_dump(spec))
    table = pricing.load()
    assert table.path.endswith("openai_prices.yaml") and table.wind_down.final.date == date(2027, 1, 6)
    assert table.models["gpt-4o-2024-08-06"].dates.retires == date(2027, 1, 14)
    assert table.models["gpt-5-nano"].dates is None  # a row the packaged table lacks stays without dates
    assert "| gpt-5-nano | 2027-01-06 (wind-down) | unknown |" in tab.winddown_markdown(TODAY, table)


def test_days_left_count_from_today():
    wind = pricing.load(pricing.DEFAULT_FILE).wind_down
    assert wind.days_left(date(2026, 12, 1)) == 36 and wind.days_left(date(2027, 1, 6)) == 0
    assert wind.days_left(date(2027, 1, 7)) == -1
    text = tab.winddown_markdown(date(2026, 12, 1))
    assert "new jobs close for everyone on **2027-01-06** (**36 days left**)" in text
    assert "| **2026-05-07** | organisations that never ran a fine-tuning job | in force |" in text
    assert "| **2027-01-06** | every remaining customer | in 36 days |" in text
    assert "| gpt-4o-mini-2024-07-18 | 2027-01-06 | 2027-01-14 (not confirmed) |" in text
    assert "| gpt-4.1-nano-2025-04-14 | closed 2026-10-23 | retired 2026-10-23 |" in text
    assert "http://127.0.0.1:7860/v1" in text and "Train locally instead" in text
    assert "(**closes today**)" in tab.winddown_markdown(date(2027, 1, 6))
    assert "(**closed 1 day ago**)" in tab.winddown_markdown(date(2027, 1, 7))
    assert "(**36 days left**)" in tab.winddown_markdown()  # today() is the fixed day


def test_a_launch_past_the_cutoff_is_warned_about(app_dirs):
    retired = tab.launch_warning("gpt-4.1-nano", TODAY)
    assert retired.startswith("⛔ OpenAI retired gpt-4.1-nano-2025-04-14 on 2026-10-23: a job on it will be refused")
    after = winddown.outlook("gpt-4o-mini", date(2027, 1, 7))
    assert after.refused and after.warnings[0] == ("OpenAI closed new fine-tuning jobs for every remaining customer on "
                                                   "2027-01-06: this launch will be refused.")
    now = tab.launch_warning("gpt-4o-mini", TODAY)  # before the last stage: it may be refused, and says why
    assert now.startswith("⚠️ OpenAI may refuse this launch: new fine-tuning jobs closed on 2026-05-07 for "
                          "organisations that never ran a fine-tuning job and on 2026-07-02 for organisations with no "
                          "inference on a fine-tuned model in the last 60 days, and close on 2027-01-06 for every "
                          "remaining customer (36 days left).")
    assert "answers only until gpt-4o-mini-2024-07-18 retires on 2027-01-14 (a date not confirmed" in now
    assert not winddown.outlook("gpt-4o-mini", TODAY).refused
    assert tab.launch_warning("", TODAY) == ""


def test_the_estimate_shows_the_warning_and_the_local_comparison(app_dirs, train_file):
    """The tab's own estimate handler fills the launch section's warning and the side-by-side comparison."""
    import gradio as gr

    with gr.Blocks() as demo:
        tab.build()
    on_estimate = next(bf.fn for bf in demo.fns.values() if getattr(bf.fn, "__name__", "") == "on_estimate")
    by_id = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    out = on_estimate(train_file, None, None, "gpt-4.1-nano", "3")
    assert out[by_id["openai-launch-warning"]].startswith("⛔ OpenAI retired gpt-4.1-nano-2025-04-14 on 2026-10-23")
    local = out[by_id["openai-local"]]
    assert "| examples × epochs | 12 × 3 | 12 × 3 = 9 steps (batch 4 × grad accum 1) |" in local
    assert "no measurement yet (no finished lora run of builtin:smollm2-135m-instruct on this machine)" in local
    assert "⛔ no longer (OpenAI retired" in local and run_jobs.list_runs("training") == []  # nothing started
    assert "2027-01-06" in by_id["openai-winddown"].value and "36 days left" in by_id["openai-winddown"].value


def test_the_local_time_comes_from_measured_seconds_per_step(app_dirs, train_file, monkeypatch):
    import training.estimates

    _, _, summary = tab.estimate_view(train_file, "gpt-4o", "auto")  # 12 examples: the auto rule's 8 epochs
    monkeypatch.setattr(training.estimates, "measured_rate", lambda config: {
        "rate": 1.5, "steps": 10, "run": "training-measured", "batch": 2, "accum": 1, "length": 512})
    plan = tab.local_plan(train_file, summary)
    assert plan.config.epochs == 8 and plan.steps == math.ceil(12 / 4) * 8
    assert plan.seconds == pytest.approx(1.5 * (4 / 2) * 24)  # scaled to 4 examples per step, as the Fine-tune tab
    text = tab.comparison_markdown(summary, plan, TODAY)
    assert "| time | about 1 min (rate from DDI study" in text and "| about 1 min 12 s on this machine (measured" in text
    assert f"${summary['estimated_cost_usd']:,.2f} (estimate) | $0 (this machine) |" in text
    assert "of `training-measured`" in text


def test_openais_refusal_is_one_sentence_naming_the_cutoff(fake, key, train_file):
    fake.fail("/fine_tuning/jobs", "winddown", method="POST")
    with pytest.raises(jobs.RefusedError) as caught:
        jobs.launch(train_file, "gpt-4o-mini", api_key=key)
    sentence = str(caught.value)
    assert sentence == (
        "OpenAI refused to create the fine-tuning job on gpt-4o-mini-2024-07-18 (403: "
        f"{WINDDOWN_MESSAGE.split('. ')[0]}): new fine-tuning jobs closed on 2026-05-07 for organisations that never "
        "ran a fine-tuning job and on 2026-07-02 for organisations with no inference on a fine-tuned model in the last "
        "60 days, and close on 2027-01-06 for every remaining customer, so your organisation is in a group already cut "
        "off; nothing was billed, and Train locally instead (OpenAI tab) rebuilds the model here from the same file.")
    assert sentence.count(". ") == 0 and sentence.endswith(".")
    assert fake.count("POST", "/fine_tuning/jobs") == 1  # a 403 is not retried
    [stored] = jobs.list_jobs()
    assert stored.status == "refused" and stored.error == sentence and stored.job_id is None
    [row] = ledger.rows()
    assert row["actual $"] == 0 and "refused by OpenAI" in row["note"]  # the estimate no longer counts as spend
    assert tab.jobs_rows()[0][2] == "refused"


def test_the_refusal_after_the_last_cutoff_names_it(fake, key, train_file, monkeypatch):
    monkeypatch.setattr(winddown, "today", lambda: date(2027, 1, 7))
    fake.fail("/fine_tuning/jobs", "winddown", method="POST")
    _, _, summary = tab.estimate_view(train_file, "gpt-4o", 2)
    with pytest.raises(jobs.RefusedError, match=r"^OpenAI refused to create the fine-tuning job on gpt-4o-2024-08-06 "
                                                r"\(403: .*\): OpenAI closed new fine-tuning jobs for every remaining "
                                                r"customer on 2027-01-06; nothing was billed"):
        tab.launch(train_file, summary, None, "gpt-4o", "", "2", "auto", "auto", key)


def test_other_errors_are_not_called_a_refusal(fake, key, train_file):
    fake.fail("/fine_tuning/jobs", "429", times=10, method="POST", retry_after=0)
    with pytest.raises(jobs.JobError) as caught:
        jobs.launch(train_file, "gpt-4o-mini", client=clients.make(key, max_retries=0))
    assert not isinstance(caught.value, jobs.RefusedError) and "rate limit" in str(caught.value)
    assert jobs.list_jobs()[0].status != "refused"


def test_train_locally_instead_starts_a_real_training_job(app_dirs, train_file, tmp_path, monkeypatch):
    gate = tmp_path / "gate"
    gate.write_text("1")  # held after its first step at most: cancelled below long before that
    monkeypatch.setenv("PHARMATUNE_STEP_GATE", str(gate))
    path = tab.prepare_source(train_file, None, None)
    _, _, summary = tab.estimate_view(path, "gpt-4o-mini", "3")
    with pytest.raises(tab.TabError, match="Check and estimate a file first"):
        tab.train_locally(None, None)
    plan = tab.train_locally(str(path), summary)
    try:
        assert plan.run_id in [r.id for r in run_jobs.list_runs("training")]
        config = plan.config
        assert (config.dataset, config.base_model, config.method.name, config.epochs) == (
            str(path.resolve()), "builtin:smollm2-135m-instruct", "lora", 3.0)
        assert plan.examples == summary["examples"] == 12 and plan.steps == 9 and config.limit is None
        text = tab.comparison_markdown(summary, plan, TODAY)
        assert text.startswith(f"🚀 Started **`{plan.run_id}`**: watch it in the **Fine-tune** tab")
        assert "**Compare them**" in text and "no measurement yet" in text
    finally:
        run_jobs.cancel(plan.run_id)
    assert run_jobs.get(plan.run_id).status == "cancelled"


def test_train_locally_is_operator_only():
    import gradio as gr

    from ui import roles

    with gr.Blocks() as demo:
        tab.build()
    names = {roles.handler_key(bf.fn) for bf in demo.fns.values() if bf.fn is not None}
    assert ("openai_tab", "on_train_local") in names and ("openai_tab", "on_train_local") not in roles.VIEWER_SAFE


def test_a_compatible_server_without_checkpoints_still_follows_the_job(fake, key, train_file):
    """OPENAI_BASE_URL may point at any OpenAI-compatible fine-tuning server: the checkpoints endpoint is optional."""
    job = jobs.launch(train_file, "gpt-4o-mini", api_key=key)
    fake.fail(f"/fine_tuning/jobs/{job.job_id}/checkpoints", "404", times=10)
    for _ in range(3):
        job = jobs.sync(job.token, api_key=key)
    assert job.status == "succeeded" and job.checkpoints == [] and job.fine_tuned_model
    calls = {path.removeprefix(f"/v1/fine_tuning/jobs/{job.job_id}") or "/" for method, path in fake.calls}
    assert {"/", "/events", "/checkpoints"} <= calls
