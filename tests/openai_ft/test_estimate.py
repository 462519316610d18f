"""Cost = billed tokens per epoch × epochs × price; the DDI study's figure; OpenAI's auto-epochs rule."""
import json
import time

import pytest

from tests.openai_ft.conftest import billed_tokens, ddi_example, write_jsonl
from openai_ft import estimate as est_mod, pricing, tokens


def test_the_ddi_studys_figure():
    table = pricing.load(pricing.DEFAULT_FILE)
    assert round(table.training_cost("gpt-4o", 827_007), 2) == 20.68
    assert table.resolve("gpt-4o").model == "gpt-4o-2024-08-06"


@pytest.mark.parametrize("examples,epochs", [(1, 25), (10, 10), (33, 3), (34, 3), (1000, 3), (8333, 3), (8334, 2),
                                             (20_000, 1), (100_000, 1)])
def test_auto_epochs_follow_openais_default_rule(examples, epochs):
    assert est_mod.auto_epochs(examples) == epochs


@pytest.mark.parametrize("value,expected", [("auto", None), ("", None), (None, None), ("3", 3), (5, 5), ("2.0", 2)])
def test_epochs_parse(value, expected):
    assert est_mod.parse_epochs(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "2.5", "many", "51"])
def test_bad_epochs_name_the_field(value):
    with pytest.raises(ValueError, match="epochs must be auto or a whole number"):
        est_mod.parse_epochs(value)


def test_estimate_counts_every_example_exactly_and_prices_1_3_5_epochs(app_dirs, tmp_path):
    rows = [ddi_example(i) for i in range(40)]
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    est = est_mod.estimate(path, "gpt-4o-mini", "auto")
    expected = sum(tokens.count_messages_naive(r["messages"]) for r in rows)
    assert est.tokens_per_epoch == expected and est.examples == 40
    assert est.epochs == 3 and est.epochs_auto and est.trained_tokens == 3 * expected
    assert est.by_epochs[1] == pytest.approx(expected * 3.00 / 1e6)
    assert est.by_epochs[5] == pytest.approx(5 * expected * 3.00 / 1e6)
    summary = est.summary()
    assert summary["epochs_rule"].startswith("auto") and "estimate" in summary["epochs_rule"]
    assert summary["ok"] and summary["price_status"] == "published"
    assert summary["estimated_seconds"] is None and summary["time_source"].startswith("unknown")
    json.dumps(summary)


def test_the_time_comes_from_the_studys_reference_on_gpt_4o(app_dirs, train_file):
    est = est_mod.estimate(train_file, "gpt-4o", 3)
    assert est.seconds == pytest.approx(est.trained_tokens / (827_007 / 3720))
    assert "DDI study" in est.time_source


def test_too_long_examples_are_errors_and_billed_at_the_limit(app_dirs, tmp_path):
    table_text = pricing.DEFAULT_FILE.read_text().replace("max_tokens_per_example: 65536", "max_tokens_per_example: 20")
    table = pricing.parse(table_text, "test prices")
    path = write_jsonl(tmp_path / "long.jsonl", [ddi_example(i) for i in range(10)])
    est = est_mod.estimate(path, "gpt-4o", 1, table=table)
    assert est.tokens_per_epoch == 10 * 20
    too_long = [f for f in est.checks.findings if f.code == "too_long"]
    assert [f.line for f in too_long] == list(range(1, 11)) and "at most 20 per example" in too_long[0].message


def test_an_unknown_model_still_counts_tokens_but_has_no_price(app_dirs, train_file):
    est = est_mod.estimate(train_file, "davinci-999", 2)
    assert est.cost_usd is None and est.tokens_per_epoch > 0
    assert any(f.code == "unknown_price" and "davinci-999" in f.message for f in est.checks.findings)


def test_ten_thousand_examples_are_estimated_without_hanging(app_dirs, tmp_path):
    """The speed goal (<= 5 s for 10,000 examples) is measured and printed by bench/openai_estimate.py; here a
    generous limit only catches a hang on a loaded machine."""
    rows = [{"messages": [{"role": "system", "content": "You are a pharmacology assistant."},
                          {"role": "user", "content": f"Drug 1: compound-{i} SMILES C{'C' * (i % 40)}O{i}\n"
                                                      f"Drug 2: agent-{i * 7} SMILES N{'c1ccccc1' * (i % 3)}{i}"},
                          {"role": "assistant", "content": "interaction" if i % 3 else "no interaction"}]}
            for i in range(10_000)]
    path = write_jsonl(tmp_path / "big.jsonl", rows)
    tokens.encoding("o200k_base")  # loading the vocabulary once is not part of the estimate
    start = time.perf_counter()
    est = est_mod.estimate(path, "gpt-4o", "auto")
    assert time.perf_counter() - start <= 120.0
    assert est.examples == 10_000 and est.epochs == 2
    sample = rows[::997]
    counted = tokens.ChatCounter("o200k_base").count_examples([r["messages"] for r in sample])
    assert counted == [tokens.count_messages_naive(r["messages"]) for r in sample]


def test_any_data_layer_set_exports_to_chat_jsonl_that_passes_the_checks(app_dirs, tmp_path):
    from openai_ft.cli import main

    out = tmp_path / "ddi.jsonl"
    assert main(["export", "bundled:ddi-binary", "--out", str(out)]) == 0
    est = est_mod.estimate(out, "gpt-4o")
    assert est.checks.errors == 0 and est.examples > 10
    first = json.loads(out.read_text().splitlines()[0])
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]


def test_the_shared_ddi_set_in_the_studys_prompt_format(app_dirs, tmp_path):
    from data import shared

    if not shared.is_available("ddi"):
        pytest.skip("../shared/data/ddi is not on this machine")
    from openai_ft.cli import main

    out = tmp_path / "ddi-train.jsonl"
    assert main(["export", "shared:ddi", "--out", str(out)]) == 0
    est = est_mod.estimate(out, "gpt-4o", 3)
    assert est.examples == 1000 and est.checks.errors == 0
    # The README's figure, "the study's 1,000 DDI training pairs in this app's prompt format are 172,371 billed
    # tokens per epoch", recounted here with tiktoken directly (cookbook rule) on the exported file.
    assert billed_tokens(out) == 172_371
    assert est.tokens_per_epoch == 172_371 and est.trained_tokens == 3 * 172_371
    assert "Drug 1:" in json.loads(out.read_text().splitlines()[0])["messages"][1]["content"]
