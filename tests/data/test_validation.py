"""Every validation finding with its line, field, code and severity; the summary and text report; load()."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from data import validation
from models.tokenizers import token_counter
from data.records import DataError, Record
from data.validation import MAX_KEPT_ISSUES, load, validate


def chat(*turns, **extra) -> dict:
    return {"messages": [{"role": role, "content": content} for role, content in turns], **extra}


GOOD = chat(("user", "Does warfarin interact with fluconazole?"), ("assistant", "Yes."))


def write_lines(path: Path, rows: list) -> Path:
    """Each row is a dict (dumped as JSON), a str (written as is) or bytes; one per line."""
    data = b""
    for row in rows:
        if isinstance(row, bytes):
            data += row
        elif isinstance(row, str):
            data += row.encode("utf-8")
        else:
            data += json.dumps(row, ensure_ascii=False).encode("utf-8")
        data += b"\n"
    path.write_bytes(data)
    return path


def findings(report) -> list[tuple[str, str, str, str]]:
    return [(i.location, i.field, i.code, i.severity) for i in report.issues]


def the_issue(report, code):
    found = [i for i in report.issues if i.code == code]
    assert len(found) == 1, findings(report)
    return found[0]


# --- container problems ------------------------------------------------------------------------------------------

def test_bad_json_names_the_line_and_column(tmp_path):
    path = write_lines(tmp_path / "bad.jsonl", [GOOD, '{"messages": [}', chat(("user", "q2"), ("assistant", "a2"))])
    report, _ = validate(path)
    assert findings(report) == [("line 2", "", "bad_json", "error")]
    assert "bad JSON" in report.issues[0].message and "at column 15" in report.issues[0].message
    assert report.rows == 3 and report.valid == 2 and report.errors == 1


def test_a_json_line_that_is_a_list_not_an_object(tmp_path):
    path = write_lines(tmp_path / "list.jsonl", [GOOD, '[{"role": "user", "content": "q"}]'])
    report, _ = validate(path)
    assert findings(report) == [("line 2", "", "wrong_type", "error")]
    assert "expected a JSON object, got list" in report.issues[0].message


def test_non_utf8_bytes_name_the_bad_line_and_other_lines_stay_valid(tmp_path):
    path = write_lines(tmp_path / "latin1.jsonl", [GOOD, '{"prompt": "caf'.encode() + b"\xe9" + b'", "completion": "x"}',
                                                   chat(("user", "q3"), ("assistant", "a3"))])
    report, records = validate(path, keep_records=True)
    assert findings(report) == [("line 2", "", "encoding", "error")]
    assert "0xe9" in report.issues[0].message and "UTF-8" in report.issues[0].message
    assert report.valid == 2 and [r.messages[0]["content"] for r in records] == [GOOD["messages"][0]["content"], "q3"]


def test_a_bom_on_line_1_is_a_warning_and_the_file_is_still_read(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n"
                     + json.dumps(chat(("user", "q2"), ("assistant", "a2"))).encode() + b"\n")
    report, records = validate(path, keep_records=True)
    assert findings(report) == [("line 1", "", "bom", "warning")]
    assert report.valid == 2 and report.errors == 0 and report.warnings == 1 and report.ok
    assert records[0].messages == GOOD["messages"]


def test_a_csv_with_a_non_utf8_cell_names_the_line_and_column(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_bytes(b"question,answer\nWhat is aspirin?,an NSAID\nCaf\xe9ine?,a stimulant\nIs insulin oral?,no\n")
    report, records = validate(path, keep_records=True)
    assert findings(report) == [("line 3", "question", "encoding", "error")]
    assert report.rows == 3 and report.valid == 2
    assert [r.answer for r in records] == ["an NSAID", "no"]


def test_a_csv_row_with_more_cells_than_the_header(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text("question,answer\nq1,a1\nq2,a2,extra\n", encoding="utf-8")
    report, _ = validate(path)
    assert findings(report) == [("line 3", "", "bad_row", "error")]


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_an_empty_file(tmp_path, content):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    report, _ = validate(path)
    assert findings(report) == [("line 1", "", "empty_file", "error")]
    assert report.rows == 0 and not report.ok
    with pytest.raises(DataError, match="no examples"):
        load(path)


# --- format and chat problems --------------------------------------------------------------------------------------

@pytest.mark.parametrize("rows, expected", [
    ([{"instruction": "q", "output": "a"}, {"instruction": "q2"}], ("line 2", "output", "missing_field")),
    ([{"instruction": "q", "output": "a"}, {"output": "a2"}], ("line 2", "instruction", "missing_field")),
    ([GOOD, {"messages": [{"role": "user", "content": "q"}, {"content": "a"}]}],
     ("line 2", "messages[1].role", "missing_field")),
    ([GOOD, {"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}],
     ("line 2", "messages[0].content", "missing_field")),
    ([GOOD, {"messages": []}], ("line 2", "messages", "wrong_type")),
    ([GOOD, {"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": "a"}]}],
     ("line 2", "messages[0].content", "wrong_type")),
    ([{"prompt": "q", "completion": "a"}, {"prompt": "q2"}], ("line 2", "completion", "missing_field")),
    ([{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
      {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt"}]}],
     ("line 2", "conversations[1].value", "missing_field")),
])
def test_missing_and_mistyped_fields(tmp_path, rows, expected):
    report, _ = validate(write_lines(tmp_path / "data.jsonl", rows))
    assert findings(report) == [(*expected, "error")]
    assert report.valid == 1
    assert expected[1] in str(report.issues[0])


def test_an_empty_user_message(tmp_path):
    report, _ = validate(write_lines(tmp_path / "d.jsonl", [GOOD, chat(("user", "  "), ("assistant", "a"))]))
    assert findings(report) == [("line 2", "messages[0].content", "empty_content", "error")]


@pytest.mark.parametrize("rows, field", [
    ([GOOD, chat(("user", "q"), ("assistant", " \n"))], "messages[1].content"),
    ([{"instruction": "q", "output": "a"}, {"instruction": "q", "input": "x", "output": ""}], "output"),
    ([{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
      {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": ""}]}], "conversations[1].value"),
    ([{"prompt": "q", "completion": "a"}, {"prompt": "q2", "completion": ""}], "completion"),
])
def test_an_empty_assistant_turn_names_the_field_in_the_users_own_terms(tmp_path, rows, field):
    report, _ = validate(write_lines(tmp_path / "d.jsonl", rows))
    assert findings(report) == [("line 2", field, "empty_answer", "error")]
    assert report.issues[0].message == "empty assistant turn"


def test_sharegpt_fields_are_counted_in_conversations_even_with_a_top_level_system(tmp_path):
    """The top-level system becomes message 0, but the user's file has the empty answer at conversations[1]."""
    row = {"system": "Be brief.", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": ""}]}
    report, _ = validate(write_lines(tmp_path / "d.jsonl", [row]))
    assert findings(report) == [("line 1", "conversations[1].value", "empty_answer", "error")]


def test_an_empty_alpaca_instruction_is_named_instruction(tmp_path):
    report, _ = validate(write_lines(tmp_path / "d.jsonl", [{"instruction": "", "output": "a"}]))
    assert findings(report) == [("line 1", "instruction", "empty_content", "error")]


@pytest.mark.parametrize("turns, field", [
    ((("assistant", "hello"), ("user", "q"), ("assistant", "a")), "messages[0].role"),
    ((("user", "q1"), ("user", "q2"), ("assistant", "a")), "messages[1].role"),
    ((("user", "q"), ("system", "late system"), ("assistant", "a")), "messages[1].role"),
    ((("system", "s"), ("user", "q"), ("assistant", "a"), ("assistant", "again")), "messages[3].role"),
])
def test_wrong_role_order(tmp_path, turns, field):
    report, _ = validate(write_lines(tmp_path / "d.jsonl", [GOOD, chat(*turns)]))
    assert findings(report) == [("line 2", field, "role_order", "error")]
    assert report.valid == 1


def test_system_not_first_says_so(tmp_path):
    report, _ = validate(write_lines(tmp_path / "d.jsonl", [chat(("user", "q"), ("system", "s"), ("assistant", "a"))]))
    assert "system message may only come first" in the_issue(report, "role_order").message


def test_an_unknown_role(tmp_path):
    report, _ = validate(write_lines(tmp_path / "d.jsonl", [GOOD, chat(("user", "q"), ("bot", "a"), ("assistant", "b"))]))
    issue = the_issue(report, "bad_role")
    assert (issue.location, issue.field, issue.severity) == ("line 2", "messages[1].role", "error")
    assert "'bot'" in issue.message


def test_an_unknown_sharegpt_speaker(tmp_path):
    rows = [{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
            {"conversations": [{"from": "doctor", "value": "q"}, {"from": "gpt", "value": "a"}]}]
    report, _ = validate(write_lines(tmp_path / "d.jsonl", rows))
    assert findings(report) == [("line 2", "conversations[0].from", "bad_role", "error")]
    assert "'doctor'" in report.issues[0].message and "human" in report.issues[0].message


@pytest.mark.parametrize("rows, field", [
    ([GOOD, chat(("system", "s"), ("user", "q"))], "messages[2].role"),
    ([{"conversations": [{"from": "human", "value": "q"}]}], "conversations[1].from"),
])
def test_no_assistant_message(tmp_path, rows, field):
    report, _ = validate(write_lines(tmp_path / "d.jsonl", rows))
    issue = the_issue(report, "no_answer")
    assert (issue.location, issue.field, issue.severity) == (f"line {len(rows)}", field, "error")


@pytest.mark.parametrize("messages, field", [
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 2}], "messages[1].weight"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": "1"}], "messages[1].weight"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 0.5}], "messages[1].weight"),
    ([{"role": "user", "content": "q", "weight": 1}, {"role": "assistant", "content": "a"}], "messages[0].weight"),
])
def test_bad_weight_values(tmp_path, messages, field):
    report, _ = validate(write_lines(tmp_path / "d.jsonl", [GOOD, {"messages": messages}]))
    assert findings(report) == [("line 2", field, "bad_weight", "error")]
    assert "0 or 1" in report.issues[0].message


def test_weights_0_and_1_on_assistant_messages_are_fine(tmp_path):
    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 0},
                        {"role": "user", "content": "q2"}, {"role": "assistant", "content": "b", "weight": 1}]}
    report, _ = validate(write_lines(tmp_path / "d.jsonl", [row]))
    assert report.issues == [] and report.ok


# --- duplicates, leaks, lengths ------------------------------------------------------------------------------------

def test_exact_duplicates_are_warnings_naming_the_first_line(tmp_path):
    other = chat(("user", "q2"), ("assistant", "a2"))
    report, records = validate(write_lines(tmp_path / "d.jsonl", [GOOD, other, GOOD, "", GOOD]), keep_records=True)
    assert findings(report) == [("line 3", "", "duplicate", "warning"), ("line 5", "", "duplicate", "warning")]
    assert all(i.message == "exact duplicate of line 1" for i in report.issues)
    assert report.valid == 4 and len(records) == 4 and report.ok  # a warning keeps the row


def test_test_items_that_appear_in_train_are_errors(tmp_path):
    train = write_lines(tmp_path / "train.jsonl", [
        chat(("system", "Answer yes or no."), ("user", "Does warfarin interact with fluconazole?"), ("assistant", "yes")),
        chat(("user", "Is aspirin an NSAID?"), ("assistant", "yes")),
    ])
    test = write_lines(tmp_path / "test.jsonl", [
        chat(("user", "Is metformin a statin?"), ("assistant", "no")),
        # same prompt, other case and spacing, other system prompt and answer: still a leak
        chat(("system", "Be brief."), ("user", "  does WARFARIN interact\n with   fluconazole? "), ("assistant", "no")),
        chat(("user", "Is aspirin an NSAID"), ("assistant", "yes")),  # differs by "?": not the same item
    ])
    report, _ = validate(test, train=train)
    assert findings(report) == [("line 2", "", "in_train", "error")]
    assert "train.jsonl record 1" in report.issues[0].message
    assert report.valid == 2

    as_records, _ = validate(test, train=[Record.chat("IS METFORMIN A STATIN?", "no")])
    assert findings(as_records) == [("line 1", "", "in_train", "error")]
    assert "training record 1" in as_records.issues[0].message


def test_examples_longer_than_the_maximum_token_length(tmp_path, tiny_llama):
    counter = token_counter(f"hf:{tiny_llama}")
    rows = [chat(("user", "Warfarin?"), ("assistant", "Yes.")),
            chat(("user", "Metformin lowers hepatic glucose production " * 6), ("assistant", "first-line therapy " * 4)),
            '{"messages": oops}',
            chat(("user", "Aspirin?"), ("assistant", "COX."))]
    path = write_lines(tmp_path / "d.jsonl", rows)
    records = [Record(r["messages"]) for r in rows if isinstance(r, dict)]
    lengths = counter(records)
    assert lengths[1] > max(lengths[0], lengths[2])
    limit = max(lengths[0], lengths[2])

    report, _ = validate(path, max_tokens=limit, token_counter=counter)
    assert report.token_lengths == lengths  # one per valid row, in order
    too_long = the_issue(report, "too_long")
    assert (too_long.location, too_long.field, too_long.severity) == ("line 2", "", "error")
    assert f"{lengths[1]:,} tokens" in too_long.message and f"maximum of {limit:,}" in too_long.message

    relaxed, _ = validate(path, max_tokens=lengths[1], token_counter=counter)
    assert "too_long" not in {i.code for i in relaxed.issues} and relaxed.token_lengths == lengths


# --- the report ------------------------------------------------------------------------------------------------------

def summary_file(tmp_path) -> Path:
    def labelled(question, answer, task, label):
        return {**chat(("user", question), ("assistant", answer)), "meta": {"task": task, "label": label}}

    return write_lines(tmp_path / "mix.jsonl", [
        labelled("Warfarin + fluconazole?", "yes", "ddi_binary", "yes"),
        '{"messages": [}',
        labelled("Aspirin + ibuprofen?", "yes", "ddi_binary", "yes"),
        labelled("Metformin + water?", "no", "ddi_binary", "no"),
        labelled("Warfarin + fluconazole?", "yes", "ddi_binary", "yes"),
        {"messages": [{"role": "user", "content": "What is a statin?"}, {"role": "assistant", "content": "A drug."}],
         "meta": {"task": "drug_qa"}},
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}], "meta": {"task": "x"}},
    ])


def test_the_summary_counts(tmp_path):
    report, _ = validate(summary_file(tmp_path))
    assert report.summary() == {
        "file": "mix.jsonl", "format": "records", "rows": 7, "valid rows": 5, "errors": 2, "warnings": 1,
        "messages": 10, "bad_json (error)": 1, "empty_answer (error)": 1, "duplicate (warning)": 1,
        "tasks": {"ddi_binary": 4, "drug_qa": 1}, "labels": {"yes": 3, "no": 1},
    }
    assert not report.ok


def test_the_text_report(tmp_path):
    report, _ = validate(summary_file(tmp_path))
    lines = report.text().splitlines()
    assert lines[0] == "mix.jsonl (records): 7 rows, 5 valid, 2 error(s), 1 warning(s)"
    assert lines[1].startswith("  error: line 2: bad JSON: ")
    assert lines[2] == "  warning: line 5: exact duplicate of line 1"
    assert lines[3] == "  error: line 7, messages[1].content: empty assistant turn"
    assert len(lines) == 4

    short = report.text(limit=1).splitlines()
    assert short[:2] == lines[:2]
    assert short[2:] == ["  … and 2 more"]


def test_the_report_names_an_explicitly_chosen_format(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [{"instruction": "q", "output": "a"}])
    report, _ = validate(path, "alpaca")
    assert report.format == "alpaca"
    assert report.text().startswith("a.jsonl (alpaca): 1 rows")


def test_load_raises_with_the_line_numbered_findings(tmp_path):
    with pytest.raises(DataError) as excinfo:
        load(summary_file(tmp_path))
    message = str(excinfo.value)
    assert message.startswith("mix.jsonl (records): 7 rows, 5 valid, 2 error(s)")
    assert "line 2: bad JSON" in message
    assert "line 7, messages[1].content: empty assistant turn" in message


def test_load_returns_valid_records_when_there_are_only_warnings(tmp_path):
    records = load(write_lines(tmp_path / "d.jsonl", [GOOD, GOOD]))
    assert [r.messages for r in records] == [GOOD["messages"], GOOD["messages"]]


def test_stored_issues_are_capped_but_counts_stay_exact(tmp_path):
    bad = MAX_KEPT_ISSUES + 5
    path = write_lines(tmp_path / "bad.jsonl", [GOOD] + ["{not json"] * bad)
    report, _ = validate(path)
    assert len(report.issues) == MAX_KEPT_ISSUES
    assert report.errors == bad and report.counts[("error", "bad_json")] == bad
    assert report.summary()["bad_json (error)"] == bad
    assert report.rows == bad + 1 and report.valid == 1
    assert report.issues[-1].location == f"line {MAX_KEPT_ISSUES + 1}"
    assert report.text(limit=10).splitlines()[-1] == f"  … and {bad - 10:,} more"
    assert report.text(limit=2000).splitlines()[-1] == "  … and 5 more"


def test_progress_is_reported_with_increasing_fractions_ending_at_1(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"q{i}", "completion": "a"}) + "\n" for i in range(12_000)),
                    encoding="utf-8")
    seen = []
    report, _ = validate(path, progress=seen.append)
    assert report.valid == 12_000
    assert len(seen) >= 3
    assert all(0 < f <= 1 for f in seen)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert seen[-1] == 1.0
    assert seen[0] == pytest.approx(5000 / 12_000)


def test_prompt_key_ignores_case_whitespace_system_and_answer():
    a = Record.chat("  Is  Aspirin\tan NSAID? ", "yes", system="s1")
    b = Record.chat("is aspirin an nsaid?", "no")
    assert validation.prompt_key(a) == validation.prompt_key(b) == "is aspirin an nsaid?"
