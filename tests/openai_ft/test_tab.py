"""The OpenAI tab's logic without Gradio: estimate without a key, launch, refresh, job view, ledger, prices."""
import pytest

from openai_ft import pricing
from ui import openai_tab as tab


def test_estimate_works_with_no_key(app_dirs, train_file):
    path = tab.prepare_source(train_file, None, None)
    assert path.parent == app_dirs / "appdata" / "uploads"
    text, findings, summary = tab.estimate_view(path, "gpt-4o", "auto")
    assert "✅ No errors" in text and f"{summary['billed_tokens_per_epoch']:,} billed tokens per epoch" in text
    assert "| 8 ← auto" in text and "| 1 |" in text and "| 5 |" in text and findings == []  # 12 examples: 100 // 12
    assert "Time: about 1 min for 8 epochs (rate from DDI study" in text


def test_a_data_set_reference_is_exported_first(app_dirs):
    path = tab.prepare_source(None, "bundled:ddi-binary", "train")
    assert path == app_dirs / "appdata" / "openai" / "ddi-binary-train.jsonl"
    with pytest.raises(tab.TabError, match="Upload a chat JSONL"):
        tab.prepare_source(None, "", "train")


def test_launch_needs_a_checked_file_and_a_key(app_dirs, train_file, monkeypatch):
    with pytest.raises(tab.TabError, match="Check and estimate a file first"):
        tab.launch(None, None, None, "gpt-4o", "", "auto", "auto", "auto", "")
    _, _, summary = tab.estimate_view(train_file, "gpt-4o", "auto")
    with pytest.raises(Exception, match="OPENAI_API_KEY"):
        tab.launch(train_file, summary, None, "gpt-4o", "", "auto", "auto", "auto", "")
    with pytest.raises(tab.TabError, match=r"Batch size \(batch_size\) must be auto or a positive whole number"):
        tab.launch(train_file, summary, None, "gpt-4o", "", "auto", "two", "auto", "sk-x")


def test_launch_refresh_and_job_view(fake, key, train_file):
    _, _, summary = tab.estimate_view(train_file, "gpt-4o-mini", 2)
    message = tab.launch(train_file, summary, None, "gpt-4o-mini", "tab", "2", "auto", "0.5", key)
    assert message.startswith("Created ftjob-")
    rows, problems = tab.refresh_jobs("")  # no key: the store's view, no call to OpenAI
    assert rows[0][2] == "validating_files" and problems == ""
    for _ in range(3):
        rows, problems = tab.refresh_jobs(key)
    assert rows[0][2] == "succeeded" and problems == ""
    status, frame, events = tab.job_view(rows[0][0])
    assert "actual $0.01" in status and "openai:ft:gpt-4o-mini-2024-07-18" in status
    assert set(frame["series"]) >= {"train loss", "train token accuracy"}
    assert events[0][2] == "The job has successfully completed"
    by_model, by_month, spend, ledger_rows = tab.ledger_view()
    assert by_model.iloc[0]["model"] == "gpt-4o-mini-2024-07-18" and len(spend) == 1 and len(ledger_rows) == 1


def test_a_failing_refresh_is_a_sentence_per_job(fake, key, train_file):
    _, _, summary = tab.estimate_view(train_file, "gpt-4o-mini", 2)
    tab.launch(train_file, summary, None, "gpt-4o-mini", "", "2", "auto", "auto", key)
    rows, problems = tab.refresh_jobs("sk-wrong")
    assert "Could not refresh ftjob-" in problems and "401" in problems and rows


def test_model_choices_follow_the_saved_price_table(app_dirs):
    assert "gpt-4o-mini-2024-07-18" in tab.model_choices() and "gpt-4o" in tab.model_choices()
    pricing.save(pricing.DEFAULT_FILE.read_text().replace("models:\n", "models:\n  gpt-5-nano:\n    training: 2\n"
                                                                     "    source: typed in the tab\n", 1))
    assert "gpt-5-nano" in tab.model_choices()
