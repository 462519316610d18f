"""The Chat tab's logic, driven directly: streaming, compare mode, errors as readable chat messages.

Streaming is watched on `dummy:gated`, which gives a word only when the test moves its gate file on, so each
update the tab yields is known in advance rather than caught by timing."""
import queue
import threading
import time

import pytest

from models import GenerationParams
from ui.chat import UPDATE_INTERVAL, Pane, _next_events, parse_stop, stream_turn


@pytest.fixture
def gate(tmp_path, monkeypatch):
    """The gate file of dummy:gated (see models/dummy.py): while it holds N, each answer waits before word N + 1."""
    from models import registry

    registry.resolve("dummy:gated")  # loaded already: the turn shows no "Loading …" note before the first word
    path = tmp_path / "gate"
    monkeypatch.setenv("PHARMATUNE_DUMMY_GATE", str(path))
    yield path
    path.unlink(missing_ok=True)  # lets any answer still held run out


def run(message, panes, system="", params=None, key=None):
    snapshots = [[p.display[-1]["content"] if p.display else "" for p in panes]
                 for panes in stream_turn(message, panes, system, params or GenerationParams(), key)]
    return snapshots


def test_answer_streams_in_pieces_and_stats_follow(gate):
    question = "does warfarin interact with fluconazole through CYP2C9 inhibition"
    answer = "You said: " + question
    words = answer.split(" ")
    pane = Pane("dummy:gated")
    gate.write_text("0")  # no word yet
    turn = stream_turn(question, [pane], "", GenerationParams())
    assert next(turn)[0].display == [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]
    for n in range(1, 5):  # let one more word through, and the next update shows exactly it
        gate.write_text(str(n))
        assert next(turn)[0].display[-1]["content"] == " ".join(words[:n])
        assert pane.stats == "" and pane.history == []  # still streaming: no stats, nothing in the history yet
    gate.unlink()  # the rest at once
    *_, last = turn
    assert last[0].display[-1]["content"] == answer
    assert "dummy:gated" in pane.stats and "tok/s" in pane.stats and "first token" in pane.stats
    assert pane.history == [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def test_fast_tokens_are_coalesced_into_few_updates():
    # the rule: one update carries every piece that arrived within UPDATE_INTERVAL of the previous update
    out = queue.Queue()
    for i in range(20):
        out.put(("text", None, f" w{i}"))
    out.put(("done", None, None))
    started = time.monotonic()
    assert len(_next_events(out, started + UPDATE_INTERVAL)) == 21
    assert time.monotonic() - started >= UPDATE_INTERVAL * 0.9  # it waited out the interval for more
    late = threading.Timer(0.2, out.put, args=(("text", None, " late"),))
    late.start()
    assert _next_events(out, time.monotonic()) == [("text", None, " late")]  # the first piece is always waited for
    # and the whole tab: a 22-word answer produced at once reaches the page in a few updates, not one per word
    # (22 here; the bound leaves room for a loaded machine pausing the model's thread a few times)
    pane = Pane("dummy:echo")  # every word at once
    snapshots = run("a b c d e f g h i j k l m n o p q r s t", [pane])
    assert snapshots[-1][0] == "You said: a b c d e f g h i j k l m n o p q r s t"
    assert len(snapshots) <= 8


def test_compare_mode_answers_with_both_models():
    a, b = Pane("dummy:echo"), Pane("dummy:slow")
    run("aspirin", [a, b])
    assert a.display[-1]["content"] == b.display[-1]["content"] == "You said: aspirin"
    assert "dummy:echo" in a.stats and "dummy:slow" in b.stats


def test_one_failing_model_does_not_stop_the_other():
    good, bad = Pane("dummy:echo"), Pane("dummy:fail-load")
    run("aspirin", [good, bad])
    assert good.display[-1]["content"] == "You said: aspirin"
    assert bad.display[-1]["content"].startswith("⚠️ dummy:fail-load cannot be loaded")
    assert bad.history == []  # the failed turn is not sent next time


def test_failure_while_generating_is_a_message():
    pane = Pane("dummy:fail-generate")
    run("x", [pane])
    assert "failed while generating" in pane.display[-1]["content"]


def test_unknown_reference_is_a_message_not_a_trace():
    pane = Pane("hff:model")
    run("x", [pane])
    assert pane.display[-1]["content"] == "⚠️ 'hff:model': unknown model scheme 'hff'. Did you mean hf:model? " \
        "Known schemes: builtin:, hf:, run:, openai:, dummy:"


def test_empty_message_is_refused_in_the_chat():
    pane = Pane("dummy:echo")
    run("   ", [pane])
    assert pane.display == [{"role": "assistant", "content": "⚠️ The message is empty: type a question before sending."}]


def test_history_and_system_prompt_are_sent():
    pane = Pane("dummy:echo")
    run("first", [pane], system="Be brief.")
    run("second", [pane], system="Be brief.")
    assert [m["content"] for m in pane.history] == ["first", "You said: first", "second", "You said: second"]


def test_a_long_message_shows_the_truncation_note(tiny_llama):
    pane = Pane(f"hf:{tiny_llama}")
    run("warfarin " * 300, [pane], params=GenerationParams(max_new_tokens=8))
    assert "_Note: Your message was" in pane.display[-1]["content"]


def test_stopping_the_stream_cancels_generation(gate):
    pane = Pane("dummy:gated")
    gate.write_text("0")
    before = set(threading.enumerate())
    turn = stream_turn("a b c d e f g h i j k l m n o p", [pane], "", GenerationParams())
    next(turn)
    (worker,) = set(threading.enumerate()) - before  # the thread that asks the model
    for n, shown in ((1, "You"), (2, "You said:")):
        gate.write_text(str(n))
        assert next(turn)[0].display[-1]["content"] == shown
    turn.close()  # what Gradio does when the user presses Stop
    # One more word is allowed, never a second: a worker that went on generating would wait at the gate forever.
    gate.write_text("3")
    worker.join(30)
    assert not worker.is_alive(), "the model kept generating after Stop"
    assert pane.display[-1]["content"] == "You said:" and pane.history == []  # the stopped turn is not sent again


def test_openai_key_typed_in_the_session_is_used(monkeypatch):
    from tests.fake_openai import VALID_KEY, FakeOpenAI

    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        pane, bad = Pane("openai:gpt-4o-mini"), Pane("openai:gpt-4o")
        run("warfarin?", [pane], key=VALID_KEY)
        run("warfarin?", [bad], key="sk-wrong")
    assert pane.display[-1]["content"] == server.reply
    assert bad.display[-1]["content"].startswith("⚠️ OpenAI rejected the API key (401)")


def test_parse_stop():
    assert parse_stop("###\n\\n\n\nEND") == ["###", "\n", "END"]


def test_the_settings_used_are_shown_under_the_answer():
    pane = Pane("dummy:echo")
    *_, last = stream_turn("hello", [pane], "", GenerationParams(repetition_penalty=1.1, temperature=0.7, top_p=0.9))
    assert pane.stats.endswith("tok/s · temperature 0.7, top-p 0.9 · repetition penalty 1.1")
