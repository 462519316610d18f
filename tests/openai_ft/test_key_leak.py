"""The API key is never written to disk, the store, logs or run files: a whole job lifecycle, a chat and the
CLI run with a unique key, then every file they could have touched and every log record is searched for it."""
import logging
import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.fake_openai import FakeOpenAI
from openai_ft import jobs, ledger

KEY = "sk-leakcheck-7f3a9c1e5b2d4f60a8e1c3b5d7f9a2c4"


def test_the_key_is_nowhere_after_a_full_lifecycle(app_dirs, train_file, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    with FakeOpenAI(key=KEY) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        job = jobs.launch(train_file, "gpt-4o-mini", api_key=KEY, suffix="leak")
        for _ in range(4):
            jobs.sync(job.token, api_key=KEY)
        from models import resolve

        resolve("openai:gpt-4o-mini", api_key=KEY).chat([{"role": "user", "content": "hello"}])
        env = {**os.environ, "OPENAI_API_KEY": KEY}
        outputs = []
        for argv in (["status", job.job_id], ["ledger", "--csv"], ["estimate", train_file, "--model", "gpt-4o"]):
            done = subprocess.run([sys.executable, "-m", "training", "openai", *argv], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            outputs += [done.stdout, done.stderr]
        assert all(h.get("authorization") == f"Bearer {KEY}" for h in server.headers)  # it was really used
    assert jobs.find(job.token).status == "succeeded" and len(ledger.rows()) == 2

    scanned = 0
    for path in app_dirs.rglob("*"):
        if path.is_file():
            scanned += 1
            assert KEY.encode() not in path.read_bytes(), f"the key is in {path}"
    assert scanned >= 6  # store (+ WAL), config.yaml, events.jsonl, ledger CSV, the training file
    assert any(p.suffix == ".sqlite" for p in app_dirs.rglob("*"))
    assert not any(KEY in text for text in outputs)
    assert not any(KEY in record.getMessage() for record in caplog.records)
