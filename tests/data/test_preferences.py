"""Preference data: prompt/chosen/rejected (strings or message lists, TRL's implicit prompt too), OpenAI's
preference JSONL and KTO's prompt/completion/label; read, written and round-tripped; every finding with its line
and field; a preference file refused where chat records are read, and the reverse."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from data import export, formats
from data.records import DataError, Preference
from data.validation import load, load_preferences, validate_preferences

SYSTEM = {"role": "system", "content": "Answer interaction or no interaction."}
USER = {"role": "user", "content": "Warfarin and fluconazole?"}


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def pair(prompt="Warfarin and fluconazole?", chosen="interaction", rejected="no interaction", **extra) -> dict:
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, **extra}


# -- reading and writing ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, rows", [
    ("preference", [pair(), pair("Aspirin and warfarin?", "interaction", "no interaction", meta={"id": "p2"})]),
    ("preference", [{"prompt": [SYSTEM, USER], "chosen": [{"role": "assistant", "content": "interaction"}],
                     "rejected": [{"role": "assistant", "content": "no interaction"}]}]),
    ("openai_preference", [{"input": {"messages": [SYSTEM, USER], "tools": [], "parallel_tool_calls": True},
                            "preferred_output": [{"role": "assistant", "content": "interaction"}],
                            "non_preferred_output": [{"role": "assistant", "content": "no interaction"}]}]),
    ("kto", [{"prompt": "Warfarin and fluconazole?", "completion": "interaction", "label": True},
             {"prompt": [USER], "completion": [{"role": "assistant", "content": "no interaction"}], "label": False}]),
])
def test_each_preference_format_round_trips(tmp_path, fmt, rows):
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    report, records = validate_preferences(source, keep_records=True)
    assert (report.format, report.errors, report.valid) == (fmt, 0, len(rows))
    written = export.write_preferences(records, tmp_path / "out.jsonl", fmt)
    assert [json.loads(line) for line in written.read_text().splitlines()] == rows  # the same file, strings kept
    assert load_preferences(written, fmt) == records


def test_converting_between_the_paired_formats_and_unpairing_for_kto(tmp_path):
    records = load_preferences(write_jsonl(tmp_path / "pairs.jsonl", [pair()]))
    openai = export.write_preferences(records, tmp_path / "openai.jsonl", "openai_preference")
    row = json.loads(openai.read_text())
    assert row["input"]["messages"] == [USER]
    assert row["preferred_output"] == [{"role": "assistant", "content": "interaction"}]
    back = load_preferences(openai)
    assert [(r.prompt, r.chosen, r.rejected) for r in back] == [(r.prompt, r.chosen, r.rejected) for r in records]
    kto = export.write_preferences(records, tmp_path / "kto.jsonl", "kto")
    assert [json.loads(line) for line in kto.read_text().splitlines()] == [
        {"prompt": "Warfarin and fluconazole?", "completion": "interaction", "label": True},
        {"prompt": "Warfarin and fluconazole?", "completion": "no interaction", "label": False}]
    with pytest.raises(DataError, match="record 1: preference holds a chosen and a rejected answer"):
        export.write_preferences(load_preferences(kto), tmp_path / "x.jsonl", "preference")


def test_trls_implicit_prompt_is_the_turns_both_conversations_share(tmp_path):
    row = {"chosen": [SYSTEM, USER, {"role": "assistant", "content": "interaction"}],
           "rejected": [SYSTEM, USER, {"role": "assistant", "content": "no interaction"}]}
    (record,) = load_preferences(write_jsonl(tmp_path / "implicit.jsonl", [row]))
    assert record.prompt == [SYSTEM, USER]
    assert record.chosen == [{"role": "assistant", "content": "interaction"}]
    assert record.rejected == [{"role": "assistant", "content": "no interaction"}]


def test_a_pair_built_in_code_and_its_unpaired_halves():
    record = Preference.pair([SYSTEM, USER], "interaction", "no interaction", id="x")
    good, bad = record.unpair()
    assert (good.completion[0]["content"], good.label, bad.completion[0]["content"], bad.label) == (
        "interaction", True, "no interaction", False)
    assert formats.PREFERENCE_FORMATS["kto"].dump(good) == {
        "prompt": [SYSTEM, USER], "completion": [{"role": "assistant", "content": "interaction"}], "label": True,
        "meta": {"id": "x"}}


# -- findings, each with its line and field -----------------------------------------------------------------------
def test_every_finding_names_its_line_and_field(tmp_path):
    rows = [
        pair(),                                                    # 1 fine
        pair(chosen="  "),                                         # 2 empty chosen
        pair(chosen="interaction", rejected="interaction "),      # 3 identical
        {"prompt": "Aspirin?", "chosen": "yes"},                   # 4 no rejected
        pair(),                                                    # 5 duplicate of line 1
        "{not json",                                               # 6
        pair(prompt=""),                                           # 7 empty prompt
        {"prompt": "Aspirin?", "chosen": 3, "rejected": "no"},     # 8 wrong type
        pair(prompt=[USER, {"role": "assistant", "content": "hm"}]),  # 9 prompt ends with the assistant
    ]
    report, kept = validate_preferences(write_jsonl(tmp_path / "bad.jsonl", rows), keep_records=True)
    found = {(i.location, i.field, i.code, i.severity) for i in report.issues}
    assert found == {
        ("line 2", "chosen", "empty_chosen", "error"),
        ("line 3", "rejected", "identical", "error"),
        ("line 4", "rejected", "missing_field", "error"),
        ("line 5", "", "duplicate", "warning"),
        ("line 6", "", "bad_json", "error"),
        ("line 7", "prompt", "empty_prompt", "error"),
        ("line 8", "chosen", "wrong_type", "error"),
        ("line 9", "prompt[1].role", "bad_role", "error"),
    }
    assert report.valid == 2 and len(kept) == 2  # lines 1 and 5 (a duplicate is a warning)
    assert "line 5: exact duplicate of line 1" in report.text()
    with pytest.raises(DataError, match="line 2, chosen: empty chosen answer"):
        load_preferences(tmp_path / "bad.jsonl")


def test_openai_and_kto_findings_use_their_own_keys(tmp_path):
    rows = [{"input": {"messages": [USER]}, "preferred_output": [{"role": "assistant", "content": ""}],
             "non_preferred_output": [{"role": "assistant", "content": "no"}]},
            {"input": {"messages": [USER]}, "preferred_output": [{"role": "user", "content": "yes"}],
             "non_preferred_output": [{"role": "assistant", "content": "no"}]},
            {"input": "Warfarin?", "preferred_output": "yes", "non_preferred_output": "no"}]
    report, _ = validate_preferences(write_jsonl(tmp_path / "openai.jsonl", rows))
    assert [(i.location, i.field, i.code) for i in report.issues] == [
        ("line 1", "preferred_output", "empty_chosen"),
        ("line 2", "preferred_output[0].role", "bad_role"),
        ("line 3", "input.messages", "wrong_type")]
    rows = [{"prompt": "Warfarin?", "completion": "interaction", "label": True},
            {"prompt": "Aspirin?", "completion": "no interaction", "label": "yes"},
            {"prompt": "Aspirin?", "completion": "no interaction"}]
    report, _ = validate_preferences(write_jsonl(tmp_path / "kto.jsonl", rows), "kto")
    assert [(i.location, i.field, i.code) for i in report.issues] == [
        ("line 2", "label", "wrong_type"), ("line 3", "label", "missing_field"), ("line 1", "label", "one_label")]


def test_too_long_examples_name_the_side(tmp_path):
    rows = [pair(), pair("Aspirin?", "interaction " * 30, "no")]
    words = lambda records: [sum(len(m["content"].split()) for m in r.messages) for r in records]  # noqa: E731
    report, _ = validate_preferences(write_jsonl(tmp_path / "long.jsonl", rows), max_tokens=20,
                                     token_counter=words)
    assert [(i.location, i.field, i.code) for i in report.issues] == [("line 2", "chosen", "too_long")]
    assert "31 tokens, longer than the maximum of 20" in report.issues[0].message
    assert report.valid == 1


# -- the wrong kind of file ------------------------------------------------------------------------------------------
def test_a_preference_file_where_chat_records_are_read_says_what_it_is(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", [pair()])
    with pytest.raises(DataError, match=r"pairs.jsonl, line 1: a preference file .*dpo, orpo or kto; sft"):
        load(path)
    kto = write_jsonl(tmp_path / "kto.jsonl", [{"prompt": "Warfarin?", "completion": "yes", "label": True}])
    with pytest.raises(DataError, match="a preference file"):
        load(kto)


def test_a_chat_file_where_preferences_are_read_says_what_it_is(tmp_path):
    chat = write_jsonl(tmp_path / "chat.jsonl", [{"messages": [USER, {"role": "assistant", "content": "yes"}]}])
    report, _ = validate_preferences(chat)
    assert [(i.location, i.code) for i in report.issues] == [("line 1", "not_preference")]
    assert "a chat file (openai): preference tasks (dpo, orpo, kto) read prompt/chosen/rejected" in report.text()
    with pytest.raises(DataError, match="line 1: a chat file"):
        load_preferences(chat)


def test_the_data_cli_validates_and_converts_preference_files(tmp_path, capsys):
    from data.__main__ import main

    source = write_jsonl(tmp_path / "pairs.jsonl", [pair(), pair(chosen="")])
    assert main(["validate", str(source)]) == 1
    assert "line 2, chosen: empty chosen answer" in capsys.readouterr().out
    good = write_jsonl(tmp_path / "good.jsonl", [pair()])
    assert main(["convert", str(good), "--to", "openai_preference", str(tmp_path / "openai.jsonl")]) == 0
    assert "preferred_output" in (tmp_path / "openai.jsonl").read_text()
    assert main(["convert", str(good), "--to", "alpaca", str(tmp_path / "alpaca.jsonl")]) == 1
    assert "holds preference examples" in capsys.readouterr().err
