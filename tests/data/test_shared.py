"""Loaders for ../shared/data: real MedQuAD and DDI pairs when present, a clear message when not."""
import json
from collections import Counter

import pytest

import settings
from data import catalog, shared
from data.records import DataError


@pytest.fixture
def present():
    if not shared.is_available("medquad") or not shared.is_available("ddi"):
        pytest.skip(f"the shared data sets are not on this machine ({settings.shared_data_dir()} is absent)")


def test_medquad_loads_as_medical_qa_records(present):
    train, test = catalog.load("shared:medquad", "train"), catalog.load("shared:medquad", "test")
    assert (len(train), len(test)) == (1000, 200)
    record = test[0]
    assert record.meta["task"] == "medical_qa" and record.meta["qtype"]
    assert [m["role"] for m in record.messages] == ["system", "user", "assistant"]


def test_overlap_check_finds_medquad_test_questions_that_are_also_in_train(present):
    """MedQuAD ids repeat across collections; the overlap check compares what the model sees instead."""
    from data.validation import validate

    # Counted from the raw source files, not through the app's conversion: test questions whose text (case and
    # spacing aside) is also a train question. The README states the result: 6.
    folder = settings.shared_data_dir() / "medquad"
    rows = {split: [json.loads(line) for line in (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
                    if line.strip()] for split in ("train", "test")}
    normalized = lambda text: " ".join(text.lower().split())  # noqa: E731
    in_train = {normalized(r["question"]) for r in rows["train"]}
    expected = sum(normalized(r["question"]) in in_train for r in rows["test"])
    assert expected == 6
    report, _ = validate(catalog.file_for("shared:medquad", "test"), train=catalog.file_for("shared:medquad", "train"))
    assert report.counts[("error", "in_train")] == 6
    assert report.valid == 200 - 6


def test_ddi_pairs_load_balanced_with_names_and_smiles_in_the_prompt(present):
    validation = catalog.load("shared:ddi", "validation")
    assert Counter(r.meta["label"] for r in validation) == {"interaction": 100, "no interaction": 100}
    record = validation[0]
    assert record.meta["drug1"] in record.messages[1]["content"]
    assert record.meta["smiles2"] in record.messages[1]["content"]
    assert record.answer == record.meta["label"]
    assert catalog.splits("shared:ddi") == ["train", "validation"]


def test_absent_folder_gives_a_clear_message_and_no_choice(tmp_path, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_SHARED_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(shared.SharedDataMissing, match="is not on this machine.*PHARMATUNE_SHARED_DATA"):
        catalog.load("shared:medquad", "train")
    assert not [ref for _, ref in catalog.choices() if ref.startswith("shared:")]


def test_conversion_follows_the_source_and_names_a_bad_line(tmp_path, monkeypatch):
    folder = tmp_path / "shared" / "ddi"
    folder.mkdir(parents=True)
    row = {"drug1": "Warfarin", "drug2": "Fluconazole", "smiles1": "C", "smiles2": "CC", "label": "interaction",
           "drugbank_id1": "DB00682", "drugbank_id2": "DB00196", "source": "drugbank"}
    (folder / "train.jsonl").write_text(json.dumps(row) + "\n")
    monkeypatch.setenv("PHARMATUNE_SHARED_DATA", str(tmp_path / "shared"))
    monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path / "data"))
    assert len(catalog.load("shared:ddi")) == 1
    (folder / "train.jsonl").write_text(json.dumps(row) + "\n" + json.dumps({**row, "drug2": "Aspirin"}) + "\n")
    assert [r.meta["drug2"] for r in catalog.load("shared:ddi")] == ["Fluconazole", "Aspirin"]
    (folder / "train.jsonl").write_text(json.dumps(row) + "\n" + json.dumps({**row, "smiles1": ""}) + "\n")
    with pytest.raises(DataError, match=r"train.jsonl, line 2: missing or empty field 'smiles1'"):
        catalog.load("shared:ddi")
    with pytest.raises(shared.SharedDataMissing, match="no split 'test'"):
        catalog.load("shared:ddi", "test")
