"""The store against a real PostgreSQL server: runs, the leaderboard and the OpenAI ledger; a missing driver or
an unreachable database is one sentence with the password masked."""
from __future__ import annotations

import pytest

from tests.postgres import postgres_server, postgres_url  # noqa: F401 - fixtures


@pytest.fixture
def pg_store(postgres_url, monkeypatch):  # noqa: F811
    monkeypatch.setenv("PHARMATUNE_STORE_URL", postgres_url)
    return postgres_url


def test_runs_leaderboard_and_ledger_live_in_postgresql(pg_store, isolated_runs, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_STORE_URL", pg_store)  # isolated_runs clears it; PostgreSQL is the point here
    import jobs
    import store
    from evaluation import benchmark as benchmarks, leaderboard
    from evaluation.runner import Options, evaluate
    from openai_ft import ledger
    from store.tables import Run

    assert store.engine().dialect.name == "postgresql"
    results = evaluate("dummy:interaction", benchmarks.load("ddi-binary"), isolated_runs / "eval", Options(limit=4),
                       lambda *a, **k: None)
    row_ids = leaderboard.add(results, "eval-pg")
    rows = leaderboard.rows(benchmark="ddi-binary")
    assert [r.id for r in rows] == row_ids and rows[0].model == "dummy:interaction" and rows[0].items == 4
    assert rows[0].metrics["accuracy"] == pytest.approx(0.5)  # it always says "interaction": 2 of the 4 are
    assert leaderboard.get(row_ids[0]).details == rows[0].details  # JSON columns round-trip
    ledger.record_inference("gpt-4o-mini", 1000, 10, "test")
    (entry,) = ledger.rows()
    assert (entry["model"], entry["kind"], entry["prompt tokens"]) == ("openai:gpt-4o-mini", "inference", 1000)
    with store.session() as s:
        s.add(Run(id="eval-pg", kind="evaluation", status="running", directory=str(isolated_runs)))
    assert jobs.set_status("eval-pg", "done") and jobs.get("eval-pg").status == "done"
    assert not jobs.set_status("eval-pg", "running")  # a finished run stays finished, in PostgreSQL too


def test_an_unreachable_database_is_one_sentence_with_the_password_masked(monkeypatch):
    import store
    from store.urls import StoreError

    url = "postgresql://ana:s3cret@127.0.0.1:1/nowhere"
    with pytest.raises(StoreError) as caught:
        store.engine(url)
    message = str(caught.value)
    assert "s3cret" not in message and "ana:***@127.0.0.1:1/nowhere" in message and "cannot be used" in message


def test_a_missing_driver_names_the_package(monkeypatch):
    import importlib.util

    from store import urls

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real(name, *a))
    with pytest.raises(urls.StoreError, match=r"needs the Python package 'psycopg'.*pip install 'psycopg\[binary\]'"):
        urls.check_driver(urls.normalize("postgresql://ana:s3cret@db/board"))
    assert urls.normalize("postgresql://db/board") == "postgresql+psycopg://db/board"
