"""The server's monthly OpenAI budget (PHARMATUNE_OPENAI_BUDGET_USD) is checked before any paid call or job on
the server's key; a key the caller typed is theirs and spends against no server budget."""
import pytest

from models import GenerationParams, InputError, resolve
from openai_ft import budget, jobs, ledger
from tests.fake_openai import VALID_KEY

Q = [{"role": "user", "content": "Does warfarin interact with fluconazole?"}]


def test_a_job_that_would_pass_the_budget_is_refused_before_anything_is_sent(fake, train_file, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", VALID_KEY)
    monkeypatch.setenv("PHARMATUNE_OPENAI_BUDGET_USD", "0.01")
    with pytest.raises(jobs.JobError) as caught:
        jobs.launch(train_file, "gpt-4o-2024-08-06", epochs=3)
    message = str(caught.value)
    # 12 examples × 3 epochs on gpt-4o is about $0.05 (test_jobs pins the figure); nothing was spent yet
    assert "$0.00 this month of $0.01 (PHARMATUNE_OPENAI_BUDGET_USD)" in message and "this job is estimated at $0.0" in message
    assert fake.requests == [] and fake.files == {}  # no upload, no job
    assert ledger.rows() == []


def test_chat_on_the_servers_key_stops_at_the_budget_and_a_typed_key_goes_on(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", VALID_KEY)
    monkeypatch.setenv("PHARMATUNE_OPENAI_BUDGET_USD", "1")
    params = GenerationParams(max_new_tokens=20)
    assert resolve("openai:gpt-4o-mini").chat(Q, params).text == fake.reply  # under budget: answered, recorded
    spent = budget.month_spend()
    assert spent > 0
    monkeypatch.setenv("PHARMATUNE_OPENAI_BUDGET_USD", str(spent))  # now exactly spent
    asked = len(fake.requests)
    with pytest.raises(InputError, match=r"budget is spent: \$0\.00 this month of \$0\.00"):
        resolve("openai:gpt-4o-mini").chat(Q, params)
    assert len(fake.requests) == asked  # refused before the request
    assert resolve("openai:gpt-4o-mini", api_key=VALID_KEY).chat(Q, params).text == fake.reply  # the caller's key
    assert len(fake.requests) == asked + 1
    assert budget.month_spend() == spent  # the caller's spend is theirs
    assert ledger.rows()[0]["note"] == budget.OWN_KEY_NOTE


def test_no_budget_set_means_no_limit_and_a_bad_value_is_named(monkeypatch):
    monkeypatch.delenv("PHARMATUNE_OPENAI_BUDGET_USD", raising=False)
    budget.check(10_000.0)
    monkeypatch.setenv("PHARMATUNE_OPENAI_BUDGET_USD", "ten dollars")
    with pytest.raises(budget.BudgetError, match="PHARMATUNE_OPENAI_BUDGET_USD='ten dollars' is not a number"):
        budget.check(1.0)
