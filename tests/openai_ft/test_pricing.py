"""The price table: validated with the file and field named, editable, fine-tuned inference rates."""
import pytest

from openai_ft import pricing


def test_default_table_rows_and_statuses():
    table = pricing.load(pricing.DEFAULT_FILE)
    assert table.as_of
    expected = {"gpt-4o-2024-08-06": 25.0, "gpt-4o-mini-2024-07-18": 3.0, "gpt-4.1-2025-04-14": 25.0,
                "gpt-4.1-mini-2025-04-14": 5.0, "gpt-4.1-nano-2025-04-14": 1.5}
    assert {name: row.training for name, row in table.models.items()} == expected
    assert all(table.models[m].status == "to be confirmed" for m in expected if m.startswith("gpt-4.1"))
    assert table.models["gpt-4o-2024-08-06"].confirmed and all(row.source for row in table.models.values())


def test_inference_cost_uses_fine_tuned_rates_for_ft_models():
    table = pricing.load(pricing.DEFAULT_FILE)
    assert table.inference_cost("openai:ft:gpt-4o-mini-2024-07-18:org:ddi:abc", 1_000_000, 1_000_000) == pytest.approx(1.50)
    assert table.inference_cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert table.inference_cost("mystery-model", 10, 10) is None


@pytest.mark.parametrize("change,message", [
    (lambda t: t.replace("training: 25.00", "training: cheap", 1), r"models.gpt-4o-2024-08-06.training: must be a number"),
    (lambda t: t.replace('as_of: "2026-12-01"\ncurrency', 'as_of:\ncurrency'), r"as_of: say when"),
    (lambda t: t.replace("gpt-4o: gpt-4o-2024-08-06", "gpt-4o: gpt-5-2030"), r"aliases.gpt-4o: 'gpt-5-2030' is not a row"),
    (lambda t: t + "\n  bad: [unclosed", r"line \d+: not valid YAML"),
    (lambda t: t.replace('source: "openai.com/api/pricing (fine-tuning table)"\n', 'source: ""\n', 1),
     r"models.gpt-4o-mini-2024-07-18.source: say where"),
])
def test_bad_tables_name_the_file_and_field(change, message):
    with pytest.raises(pricing.PriceError, match=r"my-prices.yaml.*" + message):
        pricing.parse(change(pricing.DEFAULT_FILE.read_text()), "my-prices.yaml")


def test_saving_an_edited_table_makes_it_the_current_one(app_dirs):
    text = pricing.DEFAULT_FILE.read_text().replace("training: 3.00", "training: 4.00")
    path = pricing.save(text)
    assert path == app_dirs / "appdata" / "openai_prices.yaml"
    assert pricing.load().resolve("gpt-4o-mini").training == 4.0
    with pytest.raises(pricing.PriceError):
        pricing.save("as_of: x\nmodels: {}\n")
    assert pricing.load().resolve("gpt-4o-mini").training == 4.0  # the bad table did not replace the good one
