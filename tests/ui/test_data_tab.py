"""The Data tab's logic without Gradio: confined, size-limited uploads; reports; export and split files."""
import json

import pytest

from data.records import DataError
from ui import data_tab

GOOD = {"messages": [{"role": "user", "content": "warfarin + fluconazole?"}, {"role": "assistant", "content": "interaction"}],
        "meta": {"label": "interaction"}}


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path / "appdata"))
    return tmp_path / "appdata"


def write_lines(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_upload_is_copied_inside_the_data_folder_under_a_safe_name(tmp_path, data_dir):
    source = write_lines(tmp_path / "..evil name;rm -rf.jsonl", [GOOD])
    saved = data_tab.save_upload(source)
    assert saved.parent == data_dir / "uploads"
    assert saved.name.endswith("-evil_name_rm_-rf.jsonl") and saved.read_bytes() == source.read_bytes()
    assert data_tab.save_upload(source) == saved  # same content, same file


def test_upload_over_the_limit_is_refused_before_it_is_read(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_MAX_UPLOAD_MB", "0.001")
    big = write_lines(tmp_path / "big.jsonl", [GOOD] * 50)
    with pytest.raises(DataError, match=r"big.jsonl is 0.0 MiB; the upload limit is 0 MiB \(PHARMATUNE_MAX_UPLOAD_MB\)"):
        data_tab.save_upload(big)
    assert not (data_dir / "uploads").exists()


def test_inspect_reports_line_numbered_errors_and_keeps_a_sample(tmp_path):
    path = write_lines(tmp_path / "mixed.jsonl", [GOOD, "{oops", {"messages": [{"role": "user", "content": "x"}]}])
    result = data_tab.inspect(path)
    assert not result.ok
    assert "3 rows, 1 valid, 2 error(s)" in result.report
    assert "line 2: bad JSON" in result.report and "line 3, messages[1].role: no assistant message" in result.report
    assert result.sample == [["", "warfarin + fluconazole?", "interaction", '{"label": "interaction"}']]
    assert result.stats["labels"] == {"interaction": 1}


def test_inspect_with_a_tokenizer_fills_the_histogram(tmp_path, tiny_llama):
    path = write_lines(tmp_path / "ok.jsonl", [GOOD, {**GOOD, "messages": GOOD["messages"][:1] + [
        {"role": "assistant", "content": "no interaction " * 20}]}])
    result = data_tab.inspect(path, tokenizer_ref=f"hf:{tiny_llama}", max_tokens=30)
    assert result.stats["token lengths"]["count"] == 2
    assert sum(bar["examples"] for bar in result.histogram) == 2
    assert "line 2" in result.report and "longer than the maximum of 30" in result.report


def test_export_and_split_write_downloadable_files_under_exports(tmp_path, data_dir):
    rows = [{**GOOD, "messages": [{"role": "user", "content": f"pair {i}"},
                                  {"role": "assistant", "content": label}], "meta": {"label": label}}
            for i in range(20) for label in ("interaction", "no interaction")]
    path = data_tab.save_upload(write_lines(tmp_path / "pairs.jsonl", rows))
    out = data_tab.export(path, "alpaca")
    assert out.parent == data_dir / "exports"
    assert json.loads(out.read_text().splitlines()[0]) == {"instruction": "pair 0", "input": "", "output": "interaction"}
    files = data_tab.split_to_files(path, "0.5,0.25,0.25", 3, "auto")
    assert [f.name for f in files] == ["train.jsonl", "validation.jsonl", "test.jsonl"]
    assert [len(f.read_text().splitlines()) for f in files] == [20, 10, 10]


def test_export_of_invalid_data_raises_and_writes_nothing(tmp_path, data_dir):
    path = write_lines(tmp_path / "bad.jsonl", [GOOD, "{oops"])
    with pytest.raises(DataError, match="line 2: bad JSON"):
        data_tab.export(path, "openai")
    exports = data_dir / "exports"
    assert not exports.exists() or not any(exports.iterdir())  # no file, not even a temp file


def test_a_test_split_of_a_bundled_set_is_checked_against_its_train_split():
    path, train = data_tab.resolve_source(None, "bundled:ddi-severity", "test")
    assert path.name == "test.jsonl" and train.name == "train.jsonl" and train.parent == path.parent
    with pytest.raises(DataError, match="Choose a bundled set or upload a file first"):
        data_tab.resolve_source(None, None, None)


# --- leakage-aware splits and the leakage report ------------------------------------------------------------------

def built_tab():
    import gradio as gr

    with gr.Blocks() as demo:
        data_tab.build()
    handlers = {getattr(bf.fn, "__name__", ""): bf.fn for bf in demo.fns.values()}
    by_id = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    return handlers, by_id


def test_leakage_report_of_a_set_against_its_train_split():
    report = data_tab.leakage_report(None, "bundled:ddi-binary", "test", "bundled:ddi-binary", "train")
    assert (report.train, report.test) == ("bundled:ddi-binary train", "bundled:ddi-binary test")
    assert report.has_pairs and report.has_molecules and report.overlapping_pairs == 0
    view = data_tab.leakage_view(report)
    assert view["markdown"] == report.markdown()
    assert [row["similarity"] for row in view["histogram"]][0] == "0.0–0.1"
    assert sum(row["molecules"] for row in view["histogram"]) == report.test_molecules
    assert len(view["neighbours"]) == min(data_tab.NEIGHBOURS_SHOWN, report.test_molecules)
    with pytest.raises(DataError, match="Choose the training set"):
        data_tab.leakage_report(None, "bundled:ddi-binary", "test", None, None)


def test_the_leakage_handler_returns_the_report_keyed_by_component():
    handlers, by_id = built_tab()
    out = handlers["on_leakage"](None, "bundled:ddi-binary", "test", "bundled:ddi-binary", "train",
                                 progress=lambda *a, **k: None)
    report = data_tab.leakage_report(None, "bundled:ddi-binary", "test", "bundled:ddi-binary", "train")
    assert out[by_id["data-leakage-report"]] == report.markdown()
    assert list(out[by_id["data-leakage-plot"]].columns) == ["similarity", "molecules"]
    assert out[by_id["data-leakage-plot"]]["molecules"].sum() == report.test_molecules
    assert list(out[by_id["data-leakage-table"]].columns) == data_tab.NEIGHBOUR_COLUMNS
    out = handlers["on_leakage"](None, "bundled:drug-qa", "test", "bundled:ddi-binary", "train",
                                 progress=lambda *a, **k: None)  # molecules only: no pair counts, a note instead
    assert "Pair overlap not computed: bundled:drug-qa test has no drug1/drug2 fields" in \
        out[by_id["data-leakage-report"]]
    out = handlers["on_leakage"](None, "bundled:nope", "test", "bundled:ddi-binary", "train",
                                 progress=lambda *a, **k: None)
    assert "No bundled set 'nope'" in out[by_id["data-leakage-report"]] and out[by_id["data-leakage-plot"]] is None
    assert handlers["on_train_set"]("bundled:ddi-binary")[by_id["data-train-split"]]["choices"] == \
        ["train", "validation", "test"]


def test_a_cold_drug_split_from_the_tab_writes_parts_and_shows_their_report(tmp_path, data_dir):
    from data.splits import pair_of
    from data.validation import load

    result, files = data_tab.split_files(data_tab.resolve_source(None, "bundled:ddi-binary", "train")[0],
                                         "0.8,0.2", 0, "auto", "records", kind="cold-drug")
    assert [f.name for f in files] == ["train.jsonl", "test.jsonl"] and "ddi-binary-train-split-cold-drug-seed0" in \
        str(files[0])
    drugs = [{d for r in load(f) for d in pair_of(r)} for f in files]
    assert not drugs[0] & drugs[1] and result.dropped
    handlers, by_id = built_tab()
    out = handlers["on_split"](None, "bundled:ddi-binary", "train", None, None, "0.8,0.2", 0, "auto", "records",
                               "cold-drug")
    assert "cold-drug split (seed 0): train" in out[by_id["data-status"]]
    assert "pairs dropped" in out[by_id["data-status"]]
    assert "cold-pair, cold-drug" in out[by_id["data-leakage-report"]]
    assert "**Drugs**: 0 of" in out[by_id["data-leakage-report"]]
    out = handlers["on_split"](None, "bundled:ddi-binary", "train", None, None, "0.8,0.2", 0, "auto", "records",
                               "scaffold")
    assert "not single molecules" in out[by_id["data-status"]] and out[by_id["data-files"]] is None
