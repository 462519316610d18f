"""Fixtures for the OpenAI fine-tuning tests: an empty store and data folder, and the fake OpenAI server."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from tests.fake_openai import VALID_KEY, FakeOpenAI

SYSTEM = "You are a clinical pharmacology assistant. Answer with exactly one of: interaction, no interaction."


def ddi_example(i: int) -> dict:
    return {"messages": [{"role": "system", "content": SYSTEM},
                         {"role": "user", "content": f"Drug 1: drug{i}\nDrug 2: other{i}\nIs there an interaction?"},
                         {"role": "assistant", "content": "interaction" if i % 2 else "no interaction"}]}


def billed_tokens(path) -> int:
    """OpenAI's billing rule (cookbook, "Data preparation and analysis for chat model fine-tuning"), counted here
    with tiktoken itself: 3 tokens per message + its role and content, + 3 per example for the reply priming."""
    import tiktoken

    from openai_ft import tokens

    tokens.prime_cache("o200k_base")  # only puts bpe-openai's copy of the file where tiktoken looks (offline)
    enc = tiktoken.get_encoding("o200k_base")  # gpt-4o's encoding

    def count(text: str) -> int:
        return len(enc.encode(text, disallowed_special=()))  # special-token text is billed as plain text

    total = 0
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        messages = json.loads(line)["messages"]
        total += 3 + sum(3 + count(m["role"]) + count(m["content"]) for m in messages)
    return total


def write_jsonl(path, rows) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return str(path)


TODAY = date(2026, 12, 1)  # the wind-down's middle: two stages in force, 36 days to the last


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    """Every test here sees the same day, so the wind-down's warnings and refusals do not change with the clock."""
    from openai_ft import winddown

    monkeypatch.setattr(winddown, "today", lambda: TODAY)
    return TODAY


@pytest.fixture
def app_dirs(isolated_runs, tmp_path, monkeypatch):
    """Empty runs, store and data folders for this test (child processes inherit them)."""
    monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path / "appdata"))
    monkeypatch.delenv("PHARMATUNE_OPENAI_PRICES", raising=False)
    return tmp_path


@pytest.fixture
def fake(monkeypatch, app_dirs):
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


@pytest.fixture
def train_file(tmp_path) -> str:
    return write_jsonl(tmp_path / "train.jsonl", [ddi_example(i) for i in range(12)])


@pytest.fixture
def key() -> str:
    return VALID_KEY
