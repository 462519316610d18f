"""The Leaderboard tab's logic without Gradio, on rows written by real (in-process) dummy evaluations."""
import csv

import pytest

from evaluation.__main__ import main
from ui import leaderboard_tab as lb


@pytest.fixture
def board(isolated_runs, tmp_path, monkeypatch):
    """Two ddi-binary runs (0.5 and 0.0 accuracy, plus a scored predictions file) and a drug-qa run."""
    monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path / "appdata"))
    predictions = tmp_path / "answers.jsonl"
    predictions.write_text('{"prediction": "interaction"}\n{"prediction": "no interaction"}\n' * 2)
    for argv in (["--model", "dummy:interaction", "--benchmark", "ddi-binary"],
                 ["--model", "dummy:oracle", "--benchmark", "ddi-binary"],
                 ["--predictions", str(predictions), "--benchmark", "ddi-binary", "--limit", "4"],
                 ["--model", "dummy:echo", "--model", "dummy:no-interaction", "--benchmark", "drug-qa"]):
        assert main(["run", *argv, "--quiet"]) == 0
    return tmp_path / "appdata"


def ids_of(frame, model):
    return frame.loc[frame["model"] == model, "id"].tolist()


def test_table_is_best_first_with_arrows_and_filters(board):
    frame = lb.load_table("ddi-binary")
    assert list(frame.columns[:11]) == ["id", "model", "method", "benchmark", "variant", "accuracy ↑",
                                        "precision ↑", "recall ↑", "f1 ↑", "mcc ↑", "unparseable ↓"]
    assert frame["model"].tolist() == ["dummy:interaction", "file:answers.jsonl", "dummy:oracle"]
    assert frame["accuracy ↑"].tolist() == sorted(frame["accuracy ↑"], reverse=True)
    assert frame["method"].tolist() == ["base", "predictions", "base"]

    assert lb.load_table("ddi-binary", "ORACLE")["model"].tolist() == ["dummy:oracle"]
    assert lb.load_table(lb.strings.BOARD_ALL, "", "predictions")["model"].tolist() == ["file:answers.jsonl"]
    assert len(lb.load_table(lb.strings.BOARD_ALL, "", lb.strings.BOARD_ANY_METHOD)) == 5
    assert lb.load_table("drug-qa", "interaction")["model"].tolist() == ["dummy:no-interaction"]
    assert lb.load_table("smiles-to-name").empty

    choices = lb.benchmark_choices()
    assert choices[:3] == ["all", "ddi-binary", "drug-qa"] and "smiles-to-name" in choices
    assert lb.method_choices() == ["any", "base", "predictions"]
    first = lb.row_choices(frame)[0]
    assert first == (f"#{frame.loc[0, 'id']} dummy:interaction · ddi-binary · default", frame.loc[0, "id"])


def test_csv_export_holds_the_filtered_rows(board):
    path = lb.export_csv("ddi-binary", "dummy", "any")
    assert path.parent == board / "exports" and path.name.startswith("leaderboard-ddi-binary-")
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["model"] for r in rows] == ["dummy:interaction", "dummy:oracle"]
    assert rows[0]["accuracy ↑"] == "0.5" and rows[1]["unparseable ↓"] == "28.0"


def test_clicked_row_shows_its_predictions_wrong_first(board):
    frame = lb.load_table("ddi-binary")
    row_id = lb.clicked_row_id(frame, [0, 3], None)
    assert row_id == lb.clicked_row_id(frame, [2, 1], frame.iloc[0].tolist()) == ids_of(frame, "dummy:interaction")[0]
    assert lb.clicked_row_id(frame, None, None) is None
    heading, items = lb.predictions_view(row_id)
    assert heading.startswith(f"**#{row_id} dummy:interaction** on **ddi-binary** (default): 28 predictions")
    scores = items["accuracy ↑"].tolist()
    assert scores == [0.0] * 14 + [1.0] * 14  # the always-"interaction" model is wrong on the 14 negatives
    assert set(items.loc[:13, "reference"]) == {"no interaction"} and set(items.loc[:13, "output"]) == {"interaction"}
    with pytest.raises(lb.InputProblem, match="There is no leaderboard row 999"):
        lb.predictions_view(999)


def test_compare_gives_deltas_and_per_task_type_scores(board):
    ddi = lb.load_table("ddi-binary")
    a, b = ids_of(ddi, "dummy:interaction")[0], ids_of(ddi, "dummy:oracle")[0]
    heading, per_metric, groups = lb.comparison(a, b)
    assert "**A** #%d dummy:interaction" % a in heading and "**B** #%d dummy:oracle" % b in heading
    accuracy = per_metric.set_index("metric").loc["accuracy ↑"]
    assert (accuracy["a: dummy:interaction"], accuracy["b: dummy:oracle"], accuracy["delta (b − a)"],
            accuracy["better"]) == (0.5, 0.0, -0.5, "a")
    assert per_metric.set_index("metric").loc["unparseable ↓", "better"] == "a"
    assert groups.empty  # ddi-binary has no task types

    qa = lb.load_table("drug-qa")
    a, b = ids_of(qa, "dummy:echo")[0], ids_of(qa, "dummy:no-interaction")[0]
    heading, per_metric, groups = lb.comparison(a, b)
    assert "Different" not in heading
    assert set(groups["task type"]) == {"adverse_events", "drug_class", "indication", "interaction", "mechanism",
                                        "smiles"}
    token_f1 = groups[groups["metric"] == "token_f1 ↑"].set_index("task type")
    row = token_f1.loc["mechanism"]
    assert row["improvement"] == round(row["b: dummy:no-interaction"] - row["a: dummy:echo"], 4)

    heading, _, _ = lb.comparison(ids_of(ddi, "dummy:interaction")[0], ids_of(ddi, "file:answers.jsonl")[0])
    assert "Different numbers of items (28, 4)" in heading
    heading, _, _ = lb.comparison(ids_of(ddi, "dummy:interaction")[0], a)
    assert "Different benchmarks (ddi-binary, drug-qa)" in heading
    with pytest.raises(lb.InputProblem, match="Choose two rows"):
        lb.comparison(a, None)
    with pytest.raises(lb.InputProblem, match="There is no leaderboard row 12345"):
        lb.comparison(a, 12345)


def test_empty_leaderboard(isolated_runs):
    assert lb.load_table().empty and lb.row_choices(lb.load_table()) == []
    assert lb.method_choices() == ["any"] and lb.benchmark_choices()[0] == "all"


def test_the_tab_shows_each_number_with_its_interval_and_the_csv_its_ends(board):
    frame = lb.load_table("ddi-binary")
    shown = lb.shown(frame)
    interaction = shown.set_index("model").loc["dummy:interaction"]
    assert interaction["accuracy ↑"] == "0.50 ± 0.18"  # 28 items: a 95 % interval about ±0.18 wide
    assert interaction["mode"] == "generate"
    assert not [c for c in shown.columns if c.endswith((" low", " high"))]
    assert shown["id"].tolist() == frame["id"].tolist()  # same rows, same order: clicks and pickers still work
    with open(lb.export_csv("ddi-binary", "dummy", "any"), encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    low, high = float(rows[0]["accuracy low"]), float(rows[0]["accuracy high"])
    assert low < float(rows[0]["accuracy ↑"]) < high and rows[0]["mode"] == "generate"
    assert "95 % bootstrap interval" in lb.INTERVALS_NOTE


def test_compare_says_in_words_what_the_paired_tests_find(board):
    ddi = lb.load_table("ddi-binary")
    a, b = ids_of(ddi, "dummy:interaction")[0], ids_of(ddi, "dummy:oracle")[0]
    heading, per_metric, _ = lb.comparison(a, b)
    assert "Paired tests on the 28 items both rows scored" in heading
    assert "B is significantly worse than A on accuracy ↑ (p < 0.001)" in heading
    accuracy = per_metric.set_index("metric").loc["accuracy ↑"]
    assert accuracy["test"] == "McNemar exact" and accuracy["significant at 0.05"] == "yes"
    assert accuracy["p-value"] < 0.001 and accuracy["delta low"] <= -0.5 <= accuracy["delta high"]
    heading, per_metric, _ = lb.comparison(a, ids_of(ddi, "file:answers.jsonl")[0])
    assert "did not score the same items" in heading and "no paired test" in heading
    assert "p-value" not in per_metric.columns


def test_pairs_from_a_rows_mistakes_are_its_wrong_items(board):
    from data import catalog

    frame = lb.load_table("ddi-binary")
    row_id = ids_of(frame, "dummy:interaction")[0]
    message = lb.pairs_from_row(row_id)
    assert message.startswith("Wrote 14 pair(s) from 14 wrong of 28 item(s)")
    (path,) = (board / "pairs").glob(f"row-{row_id}-*-mistakes.jsonl")
    pairs = catalog.load_preferences(str(path))
    assert len(pairs) == 14 and str(path) in message
    assert {p.chosen[-1]["content"] for p in pairs} == {"no interaction"}
    assert {p.rejected[-1]["content"] for p in pairs} == {"interaction"}
    with pytest.raises(lb.InputProblem, match="There is no leaderboard row 999"):
        lb.pairs_from_row(999)
    import store
    from store.tables import EvalResult

    with store.session() as s:  # a name from a shared store is never a path
        s.get(EvalResult, row_id).benchmark = "../../outside"
    lb.pairs_from_row(row_id)
    assert list((board / "pairs").glob(f"row-{row_id}-*.._.._outside-mistakes.jsonl"))
    assert not (board.parent / "outside-mistakes.jsonl").exists()
    with pytest.raises(lb.InputProblem, match="Click a row"):
        lb.pairs_from_row(None)
