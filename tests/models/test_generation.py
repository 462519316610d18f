import pytest

from models import GenerationParams, InputError
from models.generation import TextStream, cut_at_stop, hold_back, validate_messages


def stream_of(pieces, params):
    return TextStream(iter(pieces), params)


def test_stop_string_split_across_chunks_is_never_shown():
    params = GenerationParams(stop=["###"])
    stream = stream_of(["The answer", " is 42.#", "#", "# ignored", " tail"], params)
    shown = "".join(stream)
    assert shown == "The answer is 42."
    assert stream.result.text == "The answer is 42."
    assert stream.result.finish_reason == "stop"


def test_text_that_only_looks_like_a_stop_prefix_is_released():
    stream = stream_of(["ab#", "c"], GenerationParams(stop=["##"]))
    assert list(stream) == ["ab", "#c"]


def test_length_finish_and_counts():
    stream = stream_of(["a", " b", " c"], GenerationParams(max_new_tokens=3))
    assert stream.collect().text == "a b c"
    assert stream.result.finish_reason == "length"
    assert stream.result.completion_tokens == 3
    assert stream.result.first_token_seconds is not None


def test_closing_a_stream_early_cancels_the_backend():
    cancelled = []
    stream = TextStream(iter(["a", "b", "c"]), GenerationParams(), cancel=lambda: cancelled.append(True))
    it = iter(stream)
    next(it)
    it.close()
    assert cancelled == [True]
    assert stream.result.finish_reason == "cancelled"


@pytest.mark.parametrize("text,stops,expected", [
    ("hello STOP world", ["STOP"], ("hello ", True)),
    ("a\nb", ["\n"], ("a", True)),
    ("abc", ["x"], ("abc", False)),
    ("x1 y2", ["y", "x"], ("", True)),
])
def test_cut_at_stop(text, stops, expected):
    assert cut_at_stop(text, stops) == expected


def test_hold_back_counts_a_partial_stop():
    assert hold_back("answer ##", ["###"]) == 2
    assert hold_back("answer", ["###"]) == 0


@pytest.mark.parametrize("kwargs,field", [
    ({"max_new_tokens": 0}, "max_new_tokens"), ({"temperature": -1}, "temperature"), ({"top_p": 0}, "top_p"),
])
def test_bad_parameters_name_the_field(kwargs, field):
    with pytest.raises(InputError, match=field):
        GenerationParams(**kwargs)


@pytest.mark.parametrize("messages,match", [
    ([], "empty"),
    ([{"role": "user", "content": "   "}], "empty"),
    ([{"role": "robot", "content": "x"}, {"role": "user", "content": "hi"}], "role 'robot'"),
])
def test_invalid_conversations_are_refused(messages, match):
    with pytest.raises(InputError, match=match):
        validate_messages(messages)
