"""Eight processes write to one store at once, through the same functions the app uses: every leaderboard row
and every ledger entry lands, with no "database is locked", on SQLite (WAL, busy timeout) and on PostgreSQL."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.postgres import postgres_server, postgres_url  # noqa: F401 - fixtures

WRITERS, ROWS = 8, 50
WRITER = """
import sys, time
from pathlib import Path
from evaluation import benchmark as benchmarks, leaderboard
from evaluation.runner import Options, evaluate
from openai_ft import ledger

number, out, start = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
results = evaluate("dummy:interaction", benchmarks.load("ddi-binary"), out / f"w{number}", Options(limit=1),
                   lambda *a, **k: None)
(out / f"ready-{number}").touch()
while not start.exists():  # every writer is loaded before any writes: they really write at once
    time.sleep(0.01)
for i in range(%(rows)d):
    leaderboard.add(results, f"writer-{number}")
    if ledger.record_inference("gpt-4o-mini", 100 + i, 1, f"writer-{number}") is None:
        raise SystemExit("a ledger write failed")
""" % {"rows": ROWS}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_eight_writers_at_once_lose_nothing(backend, tmp_path, request, monkeypatch):
    url = f"sqlite:///{tmp_path}/store.db" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    monkeypatch.setenv("PHARMATUNE_STORE_URL", url)
    import store
    from store.tables import EvalResult, LedgerEntry

    store.engine()  # tables exist before the writers start
    start = tmp_path / "start"
    env = {**os.environ, "PHARMATUNE_STORE_URL": url, "PHARMATUNE_RUNS": str(tmp_path / "runs"),
           "OMP_NUM_THREADS": "1"}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(n), str(tmp_path), str(start)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(WRITERS)]
    try:
        import time

        deadline = time.monotonic() + 600  # a hang guard only
        while not all((tmp_path / f"ready-{n}").exists() for n in range(WRITERS)):
            assert time.monotonic() < deadline and all(w.poll() is None for w in writers), \
                [w.communicate()[1][-1500:] for w in writers if w.poll() is not None]
            time.sleep(0.05)
        start.touch()
        for w in writers:
            _, err = w.communicate(timeout=600)
            assert w.returncode == 0, err[-2000:]
            assert "database is locked" not in err
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
    from sqlalchemy import func, select

    with store.session() as s:
        boards = dict(s.execute(select(EvalResult.run_id, func.count()).group_by(EvalResult.run_id)).all())
        entries = dict(s.execute(select(LedgerEntry.source, func.count()).group_by(LedgerEntry.source)).all())
    assert boards == {f"writer-{n}": ROWS for n in range(WRITERS)}  # 400 rows, each writer's 50
    assert entries == {f"writer-{n}": ROWS for n in range(WRITERS)}  # 400 entries
