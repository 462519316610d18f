"""Every finding names its line and field."""
import json

from tests.openai_ft.conftest import ddi_example, write_jsonl
from openai_ft.checks import check_file


def findings(result):
    return {(f.line, f.field, f.code) for f in result.findings}


def test_each_kind_of_problem_is_found_on_its_line(tmp_path):
    good = ddi_example(1)
    rows = [
        good,                                                                            # 1 ok
        "{not json",                                                                     # 2
        {"prompt": "x", "completion": "y"},                                              # 3
        {"messages": [{"role": "user", "content": "hi"}]},                               # 4 no assistant
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]},   # 5 empty
        {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "a"}]},  # 6 role
        {"messages": [{"role": "user", "content": "q", "weight": 1}, {"role": "assistant", "content": "a", "weight": 2}]},  # 7
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                      {"role": "system", "content": "late"}]},                            # 8 order
        good,                                                                            # 9 duplicate of 1
        {"messages": [{"role": "user", "content": "q", "colour": "red"}, {"role": "assistant", "content": "a"}]},  # 10
        "",                                                                              # 11 blank
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 0}]},  # 12
        {"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "q2"},
                      {"role": "assistant", "content": None}]},                           # 13
    ]
    result = check_file(write_jsonl(tmp_path / "bad.jsonl", rows))
    got = findings(result)
    expected = {
        (2, "", "bad_json"), (3, "messages", "missing_messages"), (4, "messages", "no_assistant"),
        (5, "messages[0].content", "empty_content"), (6, "messages[0].role", "unknown_role"),
        (7, "messages[0].weight", "weight_not_assistant"), (7, "messages[1].weight", "weight_value"),
        (8, "messages[2].role", "system_not_first"), (8, "messages[2]", "ends_without_assistant"),
        (9, "messages", "duplicate"), (10, "messages[0].colour", "unknown_key"), (11, "", "blank_line"),
        (12, "messages", "all_weights_zero"), (13, "messages[1].role", "repeated_role"),
        (13, "messages[2].content", "missing_content"),
    }
    assert expected <= got, expected - got
    assert not [f for f in result.findings if f.line == 1]
    duplicate = next(f for f in result.findings if f.code == "duplicate")
    assert duplicate.text("bad.jsonl") == "bad.jsonl, line 9, messages: the same example as line 1."
    assert result.errors == 10 and result.warnings == 5  # ten examples parsed: no few-examples warning


def test_a_clean_file_has_no_findings(tmp_path):
    result = check_file(write_jsonl(tmp_path / "ok.jsonl", [ddi_example(i) for i in range(10)]))
    assert result.findings == [] and len(result.examples) == 10 and result.example_lines == list(range(1, 11))


def test_nine_examples_are_a_warning_not_an_error(tmp_path):
    result = check_file(write_jsonl(tmp_path / "few.jsonl", [ddi_example(i) for i in range(9)]))
    assert result.errors == 0 and [f.code for f in result.findings] == ["few_examples"]
    assert "9 example(s)" in result.findings[0].message


def test_missing_and_non_utf8_files(tmp_path):
    assert check_file(tmp_path / "nope.jsonl").findings[0].code == "unreadable"
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(ddi_example(1)).encode() + b"\n" + '{"messages": "é"}'.encode("latin-1") + b"\n")
    assert (2, "", "encoding") in findings(check_file(path))
