"""python -m training openai ...: a JSON summary last, readable errors, meaningful exit codes."""
import json
import subprocess
import sys

from tests.conftest import ROOT
from tests.openai_ft.conftest import write_jsonl
from openai_ft import tokens


def run(*argv, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "training", "openai", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_estimate_prints_a_json_summary_last(app_dirs, train_file):
    done = run("estimate", train_file, "--model", "gpt-4o", "--epochs", "3")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    rows = [json.loads(line)["messages"] for line in open(train_file)]
    per_epoch = sum(tokens.count_messages_naive(m) for m in rows)
    assert summary["billed_tokens_per_epoch"] == per_epoch and summary["trained_tokens"] == 3 * per_epoch
    assert summary["estimated_cost_usd"] == round(3 * per_epoch * 25 / 1e6, 2)
    assert set(summary["cost_by_epochs_usd"]) == {"1", "3", "5"}
    assert "12 examples" in done.stderr
    assert "[wind-down] " in done.stderr and "2027-01-06" in done.stderr  # OpenAI's cutoff, at any date


def test_estimate_of_a_bad_file_lists_findings_and_exits_1(app_dirs, tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", ['{"messages": [{"role": "user", "content": "q"}]}'])
    done = run("estimate", path, "--model", "gpt-4o-mini")
    assert done.returncode == 1 and json.loads(done.stdout)["errors"] == 1
    assert "[error] bad.jsonl, line 1, messages: the example has no assistant message" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_epochs_and_a_missing_key_are_sentences(app_dirs, train_file):
    done = run("estimate", train_file, "--model", "gpt-4o", "--epochs", "lots")
    assert done.returncode == 2 and "epochs must be auto or a whole number" in done.stderr
    done = run("launch", train_file, "--model", "gpt-4o", env={"OPENAI_API_KEY": ""})
    assert done.returncode == 2 and "OPENAI_API_KEY" in done.stderr and "Traceback" not in done.stderr


def test_launch_status_and_ledger_against_the_fake_server(fake, key, train_file):
    env = {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": fake.base_url}
    launched = run("launch", train_file, "--model", "gpt-4o-mini", "--suffix", "cli", "--epochs", "2", env=env)
    assert launched.returncode == 0, launched.stderr
    job_id = json.loads(launched.stdout)["job_id"]
    watched = run("status", job_id, "--watch", "--interval", "0", env=env)
    assert watched.returncode == 0, watched.stderr
    final = json.loads(watched.stdout)
    assert final["status"] == "succeeded" and final["actual_usd"] == round(2000 * 3 / 1e6, 2)
    assert "The job has successfully completed" in watched.stderr
    ledger = json.loads(run("ledger", env=env).stdout)
    assert ledger["rows"] == 1 and ledger["by_model"][0]["model"] == "gpt-4o-mini-2024-07-18"
