"""Jobs against the fake OpenAI server over real HTTP with the real openai client: lifecycle, idempotency,
retries, readable errors, the ledger, the model lists and the leaderboard's cost column."""
import time

import pytest
import yaml

from tests.conftest import ROOT
from tests.openai_ft.conftest import billed_tokens
from openai_ft import client as clients, jobs, ledger


def training_price(model: str) -> float:
    """Dollars per 1M trained tokens, read from the shipped price table."""
    table = yaml.safe_load((ROOT / "openai_ft" / "prices.yaml").read_text())
    return table["models"][table["aliases"].get(model, model)]["training"]


def run_to_the_end(token, key):
    for _ in range(5):
        job = jobs.sync(token, api_key=key)
        if job.status in jobs.TERMINAL:
            return job
    raise AssertionError(f"still {job.status}")


def test_full_lifecycle_ends_with_the_actual_cost_in_the_ledger(fake, key, train_file, tmp_path):
    fake.trained_tokens = 827_007
    job = jobs.launch(train_file, "gpt-4o-2024-08-06", api_key=key, validation_path=train_file, suffix="ddi",
                      epochs=3, batch_size=4, lr_multiplier=0.5)
    assert job.job_id.startswith("ftjob-") and job.status == "validating_files"
    sent = fake.requests[-1]
    assert sent["method"]["supervised"]["hyperparameters"] == {"n_epochs": 3, "batch_size": 4,
                                                               "learning_rate_multiplier": 0.5}
    assert sent["suffix"] == "ddi" and sent["metadata"] == {"pharmatune_token": job.token}
    assert sent["validation_file"] and fake.files[sent["training_file"]]["content"].count("\n") == 12
    assert fake.headers[-1]["idempotency-key"] == job.token

    done = run_to_the_end(job.token, key)
    assert done.status == "succeeded" and done.trained_tokens == 827_007
    assert done.fine_tuned_model == f"ft:gpt-4o-2024-08-06:fake-org:ddi:{job.job_id[-6:]}"
    assert round(done.actual_usd, 2) == 20.68
    assert [e["message"] for e in done.events][:2] == ["Created fine-tuning job: " + job.job_id,
                                                      "Validating training file: done"]
    series = {p["series"] for p in jobs.metric_points(done)}
    assert {"train loss", "valid loss", "train token accuracy", "checkpoint full valid loss"} <= series

    row = next(r for r in ledger.rows() if r["kind"] == "fine-tune")
    assert row["actual $"] == pytest.approx(20.675175, abs=1e-4) and row["source"] == job.job_id
    assert row["difference $"] == pytest.approx(20.675175 - done.estimated_usd, abs=1e-4)
    # The estimate bills the training file only (validation tokens are free): tokens per epoch x 3 epochs x price.
    per_epoch = billed_tokens(train_file)  # 654 for these 12 examples, so $0.04905 at $25 per 1M
    assert done.estimated_tokens == per_epoch * 3
    expected_usd = per_epoch * 3 * training_price("gpt-4o-2024-08-06") / 1e6
    assert done.estimated_usd == pytest.approx(expected_usd, rel=1e-9)
    assert row["estimated $"] == pytest.approx(expected_usd, abs=1e-4)
    assert ledger.totals("model")[0]["actual $"] == pytest.approx(20.675175, abs=1e-4)
    csv_text = ledger.export_csv(tmp_path / "ledger.csv").read_text()
    assert "fine-tune" in csv_text and "20.6752" in csv_text

    from models.catalog import available_models

    assert f"openai:{done.fine_tuned_model}" in available_models(key)
    events = (tmp_path / "runs").glob("openai-*/events.jsonl")
    assert "succeeded" in next(events).read_text()


# The fake holds a "timeout" answer until the client hangs up, so the client's timeout always fires first; the
# timeout itself only has to be long enough for the other (unfaulted) local requests on a loaded machine.
CLIENT_TIMEOUT = 2.0


def test_a_create_that_times_out_is_retried_without_a_second_job(fake, key, train_file):
    fake.fail("/fine_tuning/jobs", "timeout", method="POST")
    client = clients.make(key, timeout=CLIENT_TIMEOUT, max_retries=2)
    job = jobs.launch(train_file, "gpt-4o-mini", client=client)
    assert fake.wait_abandoned(1) and fake.abandoned == 1  # the first create really timed out at the client
    assert fake.count("POST", "/fine_tuning/jobs") == 2  # the client retried with the same Idempotency-Key
    keys = [h.get("idempotency-key") for (method, path), h in zip(fake.calls, fake.headers)
            if (method, path) == ("POST", "/v1/fine_tuning/jobs")]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert len(fake.jobs) == 1 and job.job_id in fake.jobs


def test_a_create_whose_answer_was_lost_is_found_by_its_token(fake, key, train_file):
    fake.fail("/fine_tuning/jobs", "timeout", method="POST")
    job = jobs.launch(train_file, "gpt-4o-mini", client=clients.make(key, timeout=CLIENT_TIMEOUT, max_retries=0))
    assert fake.wait_abandoned(1) and fake.abandoned == 1
    assert fake.count("POST", "/fine_tuning/jobs") == 1  # no retry: found by its token, not made again
    assert len(fake.jobs) == 1 and job.job_id in fake.jobs  # jobs.list(metadata=token) found it


def test_a_launch_retried_after_it_gave_up_adopts_the_job_it_made(fake, key, train_file):
    fake.fail("/fine_tuning/jobs", "timeout", times=5, method="POST")
    fake.fail("/fine_tuning/jobs", "500", times=1, method="GET", skip=1)  # the lookup after the failure fails too
    client = clients.make(key, timeout=CLIENT_TIMEOUT, max_retries=0)
    with pytest.raises(jobs.JobError, match=r"did not answer in time.*--token (\w+) and it will not create"):
        jobs.launch(train_file, "gpt-4o-mini", client=client)
    assert fake.wait_abandoned(1) and fake.abandoned == 1
    token = jobs.list_jobs()[0].token
    assert jobs.find(token).job_id is None and len(fake.jobs) == 1  # made at OpenAI, unknown here
    fake.faults.clear()
    job = jobs.launch(train_file, "gpt-4o-mini", api_key=key, token=token)
    assert job.job_id in fake.jobs and len(fake.jobs) == 1
    assert fake.count("POST", "/files") == 1  # the uploaded file was reused too
    assert jobs.launch(train_file, "gpt-4o-mini", api_key=key, token=token).job_id == job.job_id


def test_429_waits_as_long_as_retry_after_says_then_succeeds(fake, key, train_file):
    job = jobs.launch(train_file, "gpt-4o-mini", api_key=key)
    fake.fail(f"/fine_tuning/jobs/{job.job_id}", "429", times=2, method="GET", retry_after=1)
    start = time.perf_counter()
    assert jobs.sync(job.token, api_key=key).status == "queued"
    assert time.perf_counter() - start >= 2.0
    assert fake.count("GET", f"/fine_tuning/jobs/{job.job_id}") == 3


def test_500_is_retried_and_a_persistent_one_is_a_sentence(fake, key, train_file):
    job = jobs.launch(train_file, "gpt-4o-mini", api_key=key)
    fake.fail(f"/fine_tuning/jobs/{job.job_id}", "500", times=1, method="GET")
    assert jobs.sync(job.token, api_key=key).status == "queued"
    fake.fail(f"/fine_tuning/jobs/{job.job_id}", "500", times=10, method="GET")
    with pytest.raises(jobs.JobError, match=r"OpenAI had a server error \(500\), even after retrying: The server had an error"):
        jobs.sync(job.token, client=clients.make(key, max_retries=1))


def test_errors_name_what_openai_said(fake, train_file):
    with pytest.raises(jobs.JobError, match=r"OpenAI rejected the API key \(401\): Incorrect API key provided"):
        jobs.launch(train_file, "gpt-4o-mini", api_key="sk-wrong")
    with pytest.raises(jobs.JobError, match=r"refused the request \(400\): Model gpt-4o-2099 is not available"):
        jobs.launch(train_file, "gpt-4o-2099", api_key="sk-test-valid")
    with pytest.raises(clients.OpenAIError, match="OPENAI_API_KEY"):
        jobs.launch(train_file, "gpt-4o-mini")
    fake.fail("/fine_tuning/jobs/ftjob-x", "401")
    with pytest.raises(jobs.JobError, match="No OpenAI job 'ftjob-x'"):
        jobs.sync("ftjob-x", api_key="sk-test-valid")


def test_a_file_with_errors_is_not_uploaded(fake, key, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "only a question"}]}\n')
    with pytest.raises(jobs.JobError, match=r"bad.jsonl has 1 error\(s\).*line 1, messages: the example has no assistant"):
        jobs.launch(str(path), "gpt-4o-mini", api_key=key)
    assert fake.count("POST", "/files") == 0


def test_cancel(fake, key, train_file):
    job = jobs.launch(train_file, "gpt-4o-mini", api_key=key)
    assert jobs.cancel(job.job_id, api_key=key).status == "cancelled"
    with pytest.raises(jobs.JobError, match="already cancelled"):
        jobs.cancel(job.job_id, api_key=key)


def test_chat_with_an_openai_model_lands_in_the_ledger(fake, key):
    from models import resolve

    model = resolve("openai:gpt-4o-mini", api_key=key)
    model.chat([{"role": "user", "content": "Does warfarin interact with fluconazole?"}])
    [row] = ledger.rows()
    assert row["kind"] == "inference" and row["source"] == "chat" and row["model"] == "openai:gpt-4o-mini"
    assert row["prompt tokens"] == 5 and row["completion tokens"] == len(fake.reply.split())
    assert row["actual $"] == pytest.approx((5 * 0.15 + len(fake.reply.split()) * 0.60) / 1e6, abs=1e-4)


def test_an_openai_evaluation_carries_its_cost_to_the_leaderboard(fake, key, monkeypatch):
    import store
    from sqlalchemy import select
    from store.tables import EvalResult

    from evaluation.__main__ import main

    monkeypatch.setenv("OPENAI_API_KEY", key)
    assert main(["run", "--model", "openai:gpt-4o-mini", "--benchmark", "ddi-binary", "--limit", "4", "--quiet"]) == 0
    with store.session() as s:
        row = s.scalars(select(EvalResult)).one()
    spent = [r for r in ledger.rows() if r["source"] == "evaluation:ddi-binary"]
    assert len(spent) == 4
    prompt, completion = sum(r["prompt tokens"] for r in spent), sum(r["completion tokens"] for r in spent)
    assert prompt == row.details["prompt_tokens"] and completion == row.details["completion_tokens"]
    assert row.cost_usd == pytest.approx((prompt * 0.15 + completion * 0.60) / 1e6) and row.cost_usd > 0
