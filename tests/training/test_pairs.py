"""Pairs from a model's mistakes: a finished evaluation of a dummy model that always answers "interaction" gives
one DPO pair for exactly each item it got wrong (reference chosen, its answer rejected), with the item's full
prompt, whether the evaluation is named by its folder, its predictions file or its leaderboard row."""
from __future__ import annotations


import pytest

from data.validation import load_preferences


@pytest.fixture
def finished_evaluation(tmp_path, monkeypatch):
    """dummy:interaction on the first 10 ddi-binary items, through the CLI (rows on an isolated leaderboard)."""
    from evaluation.__main__ import main

    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("PHARMATUNE_STORE_URL", raising=False)
    (tmp_path / "runs").mkdir()
    out = tmp_path / "runs" / "eval-dummy"
    assert main(["run", "--model", "dummy:interaction", "--benchmark", "ddi-binary", "--limit", "10", "--out",
                 str(out), "--quiet"]) == 0
    return out


def wrong_items() -> dict[str, list[dict]]:
    """id -> prompt messages of the first 10 ddi-binary items whose answer is not "interaction"."""
    from evaluation import benchmark

    items = benchmark.load("ddi-binary").items(limit=10)
    return {it.id: it.messages for it in items if str(it.reference).strip().lower() != "interaction"}


def test_pairs_from_a_finished_evaluation_are_exactly_its_wrong_items(finished_evaluation, tmp_path, capsys):
    from training.__main__ import main

    out = finished_evaluation
    expected = wrong_items()
    assert 0 < len(expected) < 10  # some right, some wrong
    assert main(["pairs", "--from-eval", str(out), "--out", str(tmp_path / "pairs.jsonl")]) == 0
    assert f"{len(expected)} pair(s) from {len(expected)} wrong of 10 item(s) (by accuracy)" in capsys.readouterr().out
    pairs = load_preferences(tmp_path / "pairs.jsonl")
    assert {p.meta["id"]: p.prompt for p in pairs} == expected  # the full prompt, system turn included
    for p in pairs:
        assert p.chosen == [{"role": "assistant", "content": "no interaction"}]
        assert p.rejected == [{"role": "assistant", "content": "interaction"}]
        assert p.meta["accuracy"] == 0.0 and p.meta["benchmark"] == "ddi-binary"


def test_a_predictions_file_or_a_leaderboard_row_names_the_same_evaluation(finished_evaluation, tmp_path):
    from evaluation import leaderboard
    from training import pairs

    out = finished_evaluation
    (predictions,) = out.rglob("predictions.jsonl")
    by_file = pairs.from_sources(pairs.sources(str(predictions)))
    (row,) = [r for r in leaderboard.rows("ddi-binary") if r.run_id == out.name]
    by_row = pairs.from_sources(pairs.sources(f"row:{row.id}"))
    ids = sorted(wrong_items())
    assert sorted(p.meta["id"] for p in by_file.pairs) == ids
    assert sorted(p.meta["id"] for p in by_row.pairs) == ids
    assert by_row.pairs[0].meta["model"] == "dummy:interaction"
    # a threshold nothing reaches makes every item wrong; those the model got right have answer == reference
    everything = pairs.from_sources(pairs.sources(str(predictions)), threshold=2.0)
    assert everything.wrong == 10 and len(everything.pairs) == len(ids)
    assert len(everything.skipped) == 10 - len(ids) and "the answer is the reference itself" in everything.skipped[0]


def test_pairs_errors_name_what_is_wrong(finished_evaluation, tmp_path, capsys):
    from training.__main__ import main

    out = finished_evaluation
    assert main(["pairs", "--from-eval", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "not a leaderboard row (row:ID), an evaluation run id or folder" in capsys.readouterr().err
    assert main(["pairs", "--from-eval", "row:99999", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "no leaderboard row 99999" in capsys.readouterr().err
    assert main(["pairs", "--from-eval", str(out), "--metric", "rouge", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "the predictions have no per-item rouge score; they have accuracy" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()
