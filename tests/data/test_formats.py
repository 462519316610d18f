"""Every format in and out: OpenAI chat, records, Alpaca, ShareGPT, prompt/completion, JSON arrays, CSV, Parquet
and Hugging Face dataset folders; format detection; round trips through data.export; column mappings."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from data import export, formats
from data.formats import parse_mapping
from data.records import DataError, Record
from data.validation import load, validate


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def messages(*turns: tuple[str, str]) -> list[dict]:
    return [{"role": role, "content": content} for role, content in turns]


# --- reading each format ---------------------------------------------------------------------------------------

def test_openai_chat_jsonl_keeps_weight_and_turns_extra_keys_into_meta(tmp_path):
    rows = [
        {"messages": [{"role": "system", "content": "You are a pharmacologist."},
                      {"role": "user", "content": "Does warfarin interact with fluconazole?"},
                      {"role": "assistant", "content": "Maybe.", "weight": 0},
                      {"role": "user", "content": "Be sure."},
                      {"role": "assistant", "content": "Yes: CYP2C9 inhibition.", "weight": 1}],
         "task": "ddi_binary"},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "Two "}, {"type": "text", "text": "parts"}]},
                      {"role": "assistant", "content": "ok"}]},
    ]
    report, records = validate(write_jsonl(tmp_path / "chat.jsonl", rows), keep_records=True)
    assert report.format == "openai"
    assert report.errors == 0 and report.valid == 2
    first = records[0]
    assert [m["role"] for m in first.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert first.messages[2] == {"role": "assistant", "content": "Maybe.", "weight": 0}
    assert first.messages[4] == {"role": "assistant", "content": "Yes: CYP2C9 inhibition.", "weight": 1}
    assert "weight" not in first.messages[1]
    assert first.meta == {"task": "ddi_binary"}
    assert first.task == "ddi_binary"
    assert first.answer == "Yes: CYP2C9 inhibition."
    assert records[1].messages[0]["content"] == "Two parts"  # OpenAI's list-of-text-parts form


def test_records_jsonl_meta_survives_a_round_trip(tmp_path):
    meta = {"task": "ddi_binary", "label": "yes", "smiles": ["CCO", "c1ccccc1"], "id": "ddi-7",
            "source": "DrugBank", "drugbank_id1": "DB00682", "nested": {"severity": "major", "score": 0.93}}
    original = [Record.chat("Do warfarin and fluconazole interact?", "yes", system="Answer yes or no.", **meta),
                Record.chat("Is aspirin an NSAID?", "yes", task="drug_qa", label="yes", id="qa-1")]
    path = export.write(original, tmp_path / "records.jsonl", "records")
    first_line = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert first_line["meta"] == meta and "messages" in first_line

    report, again = validate(path, keep_records=True)
    assert report.format == "records"
    assert again == original
    assert again[0].meta["nested"] == {"severity": "major", "score": 0.93}


def test_alpaca_joins_instruction_and_input_with_a_blank_line_and_reads_system(tmp_path):
    rows = [{"instruction": "Classify the interaction.", "input": "warfarin + fluconazole", "output": "major",
             "system": "You are a pharmacist.", "category": "ddi"},
            {"instruction": "Name a statin.", "input": "   ", "output": "atorvastatin"},
            {"instruction": "Name an NSAID.", "output": "ibuprofen"}]
    report, records = validate(write_jsonl(tmp_path / "alpaca.jsonl", rows), keep_records=True)
    assert report.format == "alpaca" and report.errors == 0
    assert records[0].messages == messages(("system", "You are a pharmacist."),
                                           ("user", "Classify the interaction.\n\nwarfarin + fluconazole"),
                                           ("assistant", "major"))
    assert records[0].meta == {"category": "ddi"}
    assert records[1].messages == messages(("user", "Name a statin."), ("assistant", "atorvastatin"))
    assert records[2].messages == messages(("user", "Name an NSAID."), ("assistant", "ibuprofen"))


def test_sharegpt_maps_speakers_and_reads_a_top_level_system(tmp_path):
    rows = [{"system": "You are a pharmacologist.",
             "conversations": [{"from": "human", "value": "What does metformin do?"},
                               {"from": "gpt", "value": "It lowers hepatic glucose production."},
                               {"from": "human", "value": "First line?"},
                               {"from": "gpt", "value": "Yes, for type 2 diabetes."}],
             "id": "sg-1"},
            {"conversations": [{"from": "system", "value": "Be brief."},
                               {"from": "human", "value": "Aspirin target?"},
                               {"from": "gpt", "value": "COX-1 and COX-2."}]}]
    report, records = validate(write_jsonl(tmp_path / "sharegpt.jsonl", rows), keep_records=True)
    assert report.format == "sharegpt" and report.errors == 0
    assert records[0].messages == messages(("system", "You are a pharmacologist."),
                                           ("user", "What does metformin do?"),
                                           ("assistant", "It lowers hepatic glucose production."),
                                           ("user", "First line?"), ("assistant", "Yes, for type 2 diabetes."))
    assert records[0].meta == {"id": "sg-1"}
    assert records[1].messages == messages(("system", "Be brief."), ("user", "Aspirin target?"),
                                           ("assistant", "COX-1 and COX-2."))


def test_prompt_completion(tmp_path):
    rows = [{"prompt": "SMILES of ethanol?", "completion": "CCO", "task": "smiles"}]
    report, records = validate(write_jsonl(tmp_path / "pc.jsonl", rows), keep_records=True)
    assert report.format == "prompt_completion"
    assert records == [Record(messages(("user", "SMILES of ethanol?"), ("assistant", "CCO")), {"task": "smiles"})]


def test_json_array_file_of_alpaca_items(tmp_path):
    items = [{"instruction": "Name a beta blocker.", "output": "metoprolol"},
             {"instruction": "Name an ACE inhibitor.", "input": "not captopril", "output": "lisinopril"}]
    path = tmp_path / "items.json"
    path.write_text(json.dumps(items, indent=2), encoding="utf-8")
    report, records = validate(path, keep_records=True)
    assert report.format == "alpaca" and report.rows == 2 and report.valid == 2
    assert records[1].messages == messages(("user", "Name an ACE inhibitor.\n\nnot captopril"),
                                           ("assistant", "lisinopril"))

    wrapped = tmp_path / "wrapped.json"  # {"data": [...]} is accepted too
    wrapped.write_text(json.dumps({"data": items}), encoding="utf-8")
    assert load(wrapped) == records


def test_json_array_item_problems_are_named_by_item_number(tmp_path):
    path = tmp_path / "items.json"
    path.write_text(json.dumps([{"instruction": "a", "output": "b"}, {"instruction": "c"}]), encoding="utf-8")
    report, _ = validate(path)
    assert [(i.location, i.field, i.code) for i in report.issues] == [("item 2", "output", "missing_field")]


def test_csv_with_an_explicit_mapping_keeps_other_columns_as_meta(tmp_path):
    path = write_csv(tmp_path / "qa.csv", ["question", "answer", "category", "drug", "empty"],
                     [["What class is metformin?", "biguanide", "drug_class", "metformin", ""],
                      ["Main risk of warfarin?", "bleeding", "adverse_events", "warfarin", ""]])
    mapping = parse_mapping("prompt=question,completion=answer")
    assert mapping == {"prompt": "question", "completion": "answer"}
    report, records = validate(path, mapping=mapping, keep_records=True)
    assert report.errors == 0 and report.valid == 2
    assert records[0].messages == messages(("user", "What class is metformin?"), ("assistant", "biguanide"))
    assert records[0].meta == {"category": "drug_class", "drug": "metformin"}  # empty cells are left out
    assert records[1].answer == "bleeding"


def test_csv_mapping_can_name_any_columns_and_a_system_column(tmp_path):
    path = write_csv(tmp_path / "odd.csv", ["q_text", "a_text", "sys"], [["Aspirin target?", "COX", "Be brief."]])
    records = load(path, mapping=parse_mapping(" prompt = q_text , completion = a_text , system = sys "))
    assert records[0].messages == messages(("system", "Be brief."), ("user", "Aspirin target?"), ("assistant", "COX"))
    assert records[0].meta == {}


def test_csv_missing_mapped_column_names_the_column(tmp_path):
    path = write_csv(tmp_path / "qa.csv", ["question", "answer"], [["q", "a"]])
    report, _ = validate(path, mapping=parse_mapping("prompt=question,completion=response"))
    assert [(i.location, i.field, i.code) for i in report.issues] == [("line 2", "response", "missing_field")]


def test_csv_with_a_guessed_mapping(tmp_path):
    path = write_csv(tmp_path / "guess.csv", ["Question", "Answer", "source"],
                     [["Is ibuprofen an NSAID?", "yes", "handbook"], ["Is insulin oral?", "no", "handbook"]])
    assert formats.guess_mapping(["Question", "Answer", "source"]) == {"prompt": "Question", "completion": "Answer"}
    report, records = validate(path, keep_records=True)
    assert report.format == "table" and report.errors == 0
    assert records[1].messages == messages(("user", "Is insulin oral?"), ("assistant", "no"))
    assert records[1].meta == {"source": "handbook"}


def test_csv_whose_columns_cannot_be_guessed_asks_for_a_mapping(tmp_path):
    path = write_csv(tmp_path / "odd.csv", ["foo", "bar"], [["1", "2"]])
    with pytest.raises(DataError, match=r"odd\.csv.*columns: foo, bar.*prompt=question,completion=answer"):
        validate(path)


def test_parquet_written_with_pyarrow(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"question": ["Target of aspirin?", "Class of metformin?"], "answer": ["COX", "biguanide"],
                      "year": [2020, 2021], "note": [None, "x"]})
    path = tmp_path / "qa.parquet"
    pq.write_table(table, path)
    report, records = validate(path, keep_records=True)
    assert report.format == "table" and report.rows == 2 and report.valid == 2
    assert records[0].messages == messages(("user", "Target of aspirin?"), ("assistant", "COX"))
    assert records[0].meta == {"year": 2020}  # a null cell is left out
    assert records[1].meta == {"year": 2021, "note": "x"}
    assert report.issues == []
    bad, _ = validate(path, mapping={"prompt": "nope"})
    assert [(i.location, i.field, i.code) for i in bad.issues] == [("row 1", "nope", "missing_field"),
                                                                   ("row 2", "nope", "missing_field")]


def test_hugging_face_dataset_folder(tmp_path):
    import datasets

    folder = tmp_path / "hf_set"
    datasets.Dataset.from_list([{"question": "Target of aspirin?", "answer": "COX", "label": "enzyme"},
                                {"question": "Class of metformin?", "answer": "biguanide", "label": "class"}]
                               ).save_to_disk(str(folder))
    report, records = validate(folder, keep_records=True)
    assert report.format == "table" and report.rows == 2 and report.errors == 0
    assert records[0].messages == messages(("user", "Target of aspirin?"), ("assistant", "COX"))
    assert records[0].meta == {"label": "enzyme"}


def test_hugging_face_dataset_dict_split_by_name_and_unknown_split(tmp_path):
    import datasets

    folder = tmp_path / "hf_dict"
    datasets.DatasetDict({
        "train": datasets.Dataset.from_list([{"prompt": f"train q{i}", "completion": f"a{i}"} for i in range(3)]),
        "test": datasets.Dataset.from_list([{"prompt": "test q", "completion": "test a"}]),
    }).save_to_disk(str(folder))
    assert [r.messages[0]["content"] for r in load(folder)] == ["train q0", "train q1", "train q2"]  # default train
    test = load(folder, split="test")
    assert test == [Record(messages(("user", "test q"), ("assistant", "test a")))]
    with pytest.raises(DataError) as excinfo:
        validate(folder, split="validation")
    message = str(excinfo.value)
    assert "'validation'" in message and "train" in message and "test" in message


def test_hugging_face_chat_column_with_a_weight_on_only_some_messages(tmp_path):
    """Arrow gives every message of the column the same keys, so a missing weight reads back as None: that is
    'no weight', not a bad weight."""
    import datasets

    folder = tmp_path / "hf_chat"
    datasets.Dataset.from_list([
        {"messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1", "weight": 1}]},
        {"messages": [{"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]},
    ]).save_to_disk(str(folder))
    report, records = validate(folder, keep_records=True)
    assert report.format == "openai"
    assert report.errors == 0, report.text()
    assert records[0].messages[1].get("weight") == 1
    assert records[1].messages == messages(("user", "q2"), ("assistant", "a2"))


# --- detection ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("row, expected", [
    ({"messages": messages(("user", "q"), ("assistant", "a"))}, "openai"),
    ({"messages": messages(("user", "q"), ("assistant", "a")), "meta": {"task": "x"}}, "records"),
    ({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}, "sharegpt"),
    ({"instruction": "q", "input": "", "output": "a"}, "alpaca"),
    ({"prompt": "q", "completion": "a"}, "prompt_completion"),
])
def test_format_is_detected_from_the_first_row(tmp_path, row, expected):
    assert formats.detect(row) == expected
    # the first row decides; later rows are read in that format
    path = write_jsonl(tmp_path / "data.jsonl", [row, row])
    report, _ = validate(path)
    assert report.format == expected
    assert report.valid == 2 and report.counts[("warning", "duplicate")] == 1


def test_detect_gives_none_for_unknown_keys_and_non_objects():
    assert formats.detect({"question": "q", "answer": "a"}) is None
    assert formats.detect(["messages"]) is None


def test_unknown_keys_raise_a_data_error_naming_file_line_and_expected_keys(tmp_path):
    path = tmp_path / "mystery.jsonl"
    path.write_text("\n" + json.dumps({"question": "q", "reply": "a"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as excinfo:
        validate(path)
    message = str(excinfo.value)
    assert "mystery.jsonl" in message and "line 2" in message
    for key in ("messages", "conversations", "instruction", "prompt/completion"):
        assert key in message


def test_an_explicit_format_overrides_detection(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"messages": messages(("user", "q"), ("assistant", "a"))}])
    report, _ = validate(path, "alpaca")
    assert report.valid == 0
    assert [(i.field, i.code) for i in report.issues] == [("instruction", "missing_field")]
    with pytest.raises(DataError, match="Did you mean 'sharegpt'"):
        formats.get("sharegtp")


# --- round trips ---------------------------------------------------------------------------------------------------

MULTI_TURN = Record(messages(("system", "You are a pharmacologist."), ("user", "Warfarin and fluconazole?"),
                             ("assistant", "Major interaction."), ("user", "Why?"),
                             ("assistant", "Fluconazole inhibits CYP2C9.")),
                    {"task": "ddi_explain", "id": "mt-1", "smiles": ["CC", "CO"]})
SINGLE_WITH_SYSTEM = Record.chat("Is aspirin an NSAID?", "yes", system="Answer yes or no.", task="drug_qa",
                                 label="yes", id="s-1")
SINGLE = Record.chat("Café au lait spots and NF1: link?", "Yes — neurofibromatosis type 1.", task="drug_qa",
                     id="s-2")
SINGLE_PLAIN = Record.chat("SMILES of ethanol?", "CCO", id="s-3")

ROUND_TRIPS = {
    "records": ([MULTI_TURN, SINGLE_WITH_SYSTEM, SINGLE], ".jsonl"),
    "openai": ([MULTI_TURN, SINGLE_WITH_SYSTEM, SINGLE], ".jsonl"),
    "sharegpt": ([MULTI_TURN, SINGLE_WITH_SYSTEM, SINGLE], ".jsonl"),
    "alpaca": ([SINGLE_WITH_SYSTEM, SINGLE, SINGLE_PLAIN], ".jsonl"),
    "prompt_completion": ([SINGLE, SINGLE_PLAIN], ".jsonl"),  # no system field: it is folded into the prompt
    "csv": ([SINGLE_WITH_SYSTEM, SINGLE, SINGLE_PLAIN], ".csv"),
    "parquet": ([SINGLE_WITH_SYSTEM, SINGLE, SINGLE_PLAIN], ".parquet"),
}


@pytest.mark.parametrize("fmt", list(ROUND_TRIPS))
def test_round_trip_load_write_load_keeps_the_messages(tmp_path, fmt):
    assert fmt in export.EXPORT_FORMATS
    originals, suffix = ROUND_TRIPS[fmt]
    source = export.write(originals, tmp_path / "source.jsonl", "records")
    loaded = load(source)
    assert loaded == originals

    target = export.write(loaded, tmp_path / f"out{suffix}", fmt)
    assert target == tmp_path / f"out{suffix}" and target.is_file()
    again = load(target)
    assert [r.messages for r in again] == [r.messages for r in originals]
    if fmt == "records":
        assert [r.meta for r in again] == [r.meta for r in originals]
    if fmt in ("csv", "parquet"):  # tables keep scalar metadata in their own columns
        assert [r.meta.get("id") for r in again] == ["s-1", "s-2", "s-3"]
    assert sorted(os.listdir(tmp_path)) == sorted(["source.jsonl", f"out{suffix}"])


def test_prompt_completion_export_folds_the_system_prompt_into_the_prompt(tmp_path):
    path = export.write([SINGLE_WITH_SYSTEM], tmp_path / "pc.jsonl", "prompt_completion")
    assert json.loads(path.read_text(encoding="utf-8")) == {"prompt": "Answer yes or no.\n\nIs aspirin an NSAID?",
                                                            "completion": "yes"}


def test_exporting_a_multi_turn_record_to_alpaca_fails_naming_it_and_writes_nothing(tmp_path):
    target = tmp_path / "alpaca.jsonl"
    with pytest.raises(DataError) as excinfo:
        export.write([SINGLE, SINGLE_WITH_SYSTEM, MULTI_TURN], target, "alpaca")
    message = str(excinfo.value)
    assert message.startswith("record 3:")
    assert "alpaca" in message and "openai or sharegpt" in message
    assert not target.exists()
    assert os.listdir(tmp_path) == []  # no half-written file and no leftover .tmp file


def test_a_failed_export_leaves_an_existing_file_untouched(tmp_path):
    target = tmp_path / "alpaca.jsonl"
    target.write_text("old content\n", encoding="utf-8")
    with pytest.raises(DataError, match="record 1"):
        export.write([MULTI_TURN], target, "alpaca")
    assert target.read_text(encoding="utf-8") == "old content\n"
    assert os.listdir(tmp_path) == ["alpaca.jsonl"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_exporting_a_multi_turn_record_to_a_table_fails_and_writes_nothing(tmp_path, suffix):
    target = tmp_path / f"table{suffix}"
    with pytest.raises(DataError, match="record 2"):
        export.write([SINGLE, MULTI_TURN], target, suffix[1:])
    assert os.listdir(tmp_path) == []


# --- column mappings ---------------------------------------------------------------------------------------------

def test_parse_mapping_forms():
    assert parse_mapping(None) is None
    assert parse_mapping("   ") is None
    assert parse_mapping("prompt=q,completion=a,system=s") == {"prompt": "q", "completion": "a", "system": "s"}


@pytest.mark.parametrize("text, bad_part", [
    ("user=question,completion=answer", "user=question"),
    ("prompt=question,answer", "answer"),
    ("prompt question", "prompt question"),
    ("prompt=,completion=answer", "prompt="),
])
def test_parse_mapping_errors_show_an_example(text, bad_part):
    with pytest.raises(DataError) as excinfo:
        parse_mapping(text)
    message = str(excinfo.value)
    assert repr(bad_part) in message
    assert "e.g. prompt=question,completion=answer" in message
    assert "prompt, completion, system" in message


def test_table_parser_needs_a_prompt_column():
    with pytest.raises(DataError, match="needs a prompt column"):
        formats.table_parser({"completion": "answer"})


def test_a_csv_with_prompt_and_completion_columns_leaves_blank_cells_out_of_meta(tmp_path):
    """Like every table: empty cells are not metadata (an empty label must not count as a class)."""
    path = write_csv(tmp_path / "pc.csv", ["prompt", "completion", "label", "note"],
                     [["q1", "a1", "yes", ""], ["q2", "a2", "", "x"]])
    report, records = validate(path, keep_records=True)
    assert report.errors == 0
    assert [r.messages for r in records] == [messages(("user", "q1"), ("assistant", "a1")),
                                             messages(("user", "q2"), ("assistant", "a2"))]
    assert [r.meta for r in records] == [{"label": "yes"}, {"note": "x"}]
    assert report.summary()["labels"] == {"yes": 1}


def test_csv_export_of_records_with_and_without_a_label_reads_back_without_empty_labels(tmp_path):
    path = export.write([SINGLE_WITH_SYSTEM, SINGLE_PLAIN], tmp_path / "mixed.csv", "csv")
    again = load(path)
    assert again[0].meta.get("label") == "yes"
    assert "label" not in again[1].meta and "task" not in again[1].meta


def test_a_csv_with_a_messages_column_of_json_text_reads_as_chat(tmp_path):
    import csv

    from data.validation import load

    path = tmp_path / "chat.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["messages", "label"])
        writer.writerow([json.dumps([{"role": "user", "content": "warfarin + aspirin?"},
                                     {"role": "assistant", "content": "interaction"}]), "interaction"])
    (record,) = load(path)
    assert record.answer == "interaction" and record.meta == {"label": "interaction"}
