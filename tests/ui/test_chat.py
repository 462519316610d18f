"""The Chat tab's logic, driven directly: streaming, compare mode, errors as readable chat messages."""
from models import GenerationParams
from ui.chat import Pane, parse_stop, stream_turn


def run(message, panes, system="", params=None, key=None):
    snapshots = [[p.display[-1]["content"] if p.display else "" for p in panes]
                 for panes in stream_turn(message, panes, system, params or GenerationParams(), key)]
    return snapshots


def test_answer_streams_in_pieces_and_stats_follow():
    pane = Pane("dummy:slow")  # a word every 0.05 s
    question = "does warfarin interact with fluconazole through CYP2C9 inhibition"
    snapshots = run(question, [pane])
    texts = [s[0] for s in snapshots]
    assert texts[-1] == "You said: " + question
    growing = [t for t in texts if t and not t.startswith("_Loading")]
    assert len(set(growing)) >= 3 and all(texts[-1].startswith(t) for t in growing)  # grew piece by piece
    assert "dummy:slow" in pane.stats and "tok/s" in pane.stats and "first token" in pane.stats
    assert pane.history == [{"role": "user", "content": question},
                            {"role": "assistant", "content": "You said: " + question}]


def test_fast_tokens_are_coalesced_into_few_updates():
    pane = Pane("dummy:echo")  # every word at once
    snapshots = run("a b c d e f g h i j k l m n o p q r s t", [pane])
    assert snapshots[-1][0] == "You said: a b c d e f g h i j k l m n o p q r s t"
    assert len(snapshots) <= 4  # not one browser update per token


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


def test_stopping_the_stream_cancels_generation():
    pane = Pane("dummy:slow")
    turn = stream_turn("a b c d e f g h i j k l m n o p", [pane], "", GenerationParams())
    next(turn)
    next(turn)
    turn.close()  # what Gradio does when the user presses Stop
    assert pane.display[-1]["content"] != "You said: a b c d e f g h i j k l m n o p"


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
