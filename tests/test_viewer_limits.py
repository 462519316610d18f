"""What keeps a public app's visitors from swamping its machine (ui/roles.py): caps on the chat answers written at
once, for the whole app and for one visitor, that refuse with a sentence at once instead of queueing; and a small
upload limit for viewers (PHARMATUNE_VIEWER_UPLOAD_MB), far below an operator's, checked on the server whenever a
tab reads an upload. First the rules, called directly as a visitor; then the real app over HTTP."""
from __future__ import annotations

import contextlib
import json
import time
from types import SimpleNamespace

import pytest

from data.records import DataError
from ui import data_tab, roles

ROW = {"messages": [{"role": "user", "content": "warfarin + fluconazole?"},
                    {"role": "assistant", "content": "an interaction through CYP2C9"}]}


@pytest.fixture
def public():
    roles.configure(public=True, password=("op", "pw"))
    yield roles.policy()
    roles.configure(public=False)


@contextlib.contextmanager
def visitor(session: str):
    """Run the block as the browser session `session` (Gradio sets the same request for every handler)."""
    from gradio.context import LocalContext

    token = LocalContext.request.set(SimpleNamespace(session_hash=session, username=None))
    try:
        yield
    finally:
        LocalContext.request.reset(token)


def chat_file(path, size: int):
    """A valid chat JSONL of about `size` bytes."""
    line = json.dumps(ROW) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(line * max(1, size // len(line)), encoding="utf-8")
    return path


# -- the rules ----------------------------------------------------------------------------------------------------
def test_answers_written_at_once_are_capped_per_visitor_and_for_the_whole_app(public, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_CHAT_CONCURRENCY", "3")
    monkeypatch.setenv("PHARMATUNE_CHAT_PER_VISITOR", "2")
    with visitor("ana"), roles.writing_answers(2) as comparing:  # a side-by-side comparison: two answers
        assert comparing is None
        with roles.writing_answers(1) as third:
            assert third == ("⏳ This visitor already has 2 answer(s) being written and may have at most 2 at once "
                             "(PHARMATUNE_CHAT_PER_VISITOR; a side-by-side comparison writes two): wait for them or "
                             "press Stop, then send again.")
        with visitor("ben"), roles.writing_answers(1) as ben:
            assert ben is None
            with visitor("cy"), roles.writing_answers(1) as cy:  # 3 answers are being written: the app's cap
                assert cy == ("⏳ The app is already writing 3 chat answers, its limit for everyone together "
                              "(PHARMATUNE_CHAT_CONCURRENCY=3): send your message again in a moment.")
            assert public.writing == {"ana": 2, "ben": 1}  # a refusal holds nothing
    assert public.writing == {}  # every answer that ended gave its place back
    with visitor("cy"), roles.writing_answers(1) as later:
        assert later is None


def test_a_comparison_wider_than_a_visitors_cap_is_refused_even_when_nothing_runs(public, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_CHAT_PER_VISITOR", "1")
    with visitor("ana"), roles.writing_answers(2) as refused:
        assert "already has 0 answer(s) being written and may have at most 1" in refused


def test_a_stopped_answer_gives_its_place_back(public, monkeypatch):
    """Stop (or a visitor who leaves) closes the handler's generator in the middle of its stream."""
    monkeypatch.setenv("PHARMATUNE_CHAT_PER_VISITOR", "1")

    def answer():
        with roles.writing_answers(1) as refused:
            yield refused
            yield "more words"

    with visitor("ana"):
        stream = answer()
        assert next(stream) is None and public.writing == {"ana": 1}
        stream.close()
        assert public.writing == {}


def test_a_viewer_may_hand_a_tab_only_a_small_upload_and_an_operator_the_normal_one(public, tmp_path, monkeypatch):
    from ui import finetune_tab

    monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path / "data"))
    gradio_uploads = tmp_path / "gradio"  # where Gradio's upload route put the visitor's files
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(gradio_uploads))
    monkeypatch.setenv("PHARMATUNE_VIEWER_UPLOAD_MB", "0.01")  # 10 KiB
    small = chat_file(gradio_uploads / "a1" / "small.jsonl", 2_000)
    big = chat_file(gradio_uploads / "b2" / "big.jsonl", 50_000)
    with visitor("viewer"):
        assert data_tab.save_upload(small).read_bytes() == small.read_bytes()
        with pytest.raises(DataError) as refused:
            data_tab.save_upload(big)
        assert str(refused.value) == ("big.jsonl is 0.0 MiB; visitors of this public app may upload up to 0.01 MiB "
                                      "(PHARMATUNE_VIEWER_UPLOAD_MB), operators up to 200 MiB: log in as operator, "
                                      "or upload a smaller file.")
        assert not big.exists()  # deleted from Gradio's folder at once: a refused upload holds no disk space
        with pytest.raises(DataError, match="big.jsonl is no longer on the server"):
            data_tab.save_upload(big)  # the page sends the same path again
        mine = chat_file(tmp_path / "mine.jsonl", 50_000)  # a file outside Gradio's folder is never deleted
        with pytest.raises(finetune_tab.InputProblem, match=r"Dataset upload \(dataset\): mine.jsonl is 0.0 MiB; "
                                                            r"visitors of this public app may upload up to 0.01 MiB"):
            finetune_tab.upload_dataset(mine)  # the Fine-tune and Studies tabs' way in: the same rule
        assert mine.exists()
        assert sorted(p.name.split("-", 1)[1] for p in (tmp_path / "data" / "uploads").iterdir()) == ["small.jsonl"]
    chat_file(big, 50_000)
    with visitor("operator"):
        assert roles.login("pw")
        assert data_tab.save_upload(big).read_bytes() == big.read_bytes()  # far below the operator's 200 MiB


def test_the_viewer_limit_never_exceeds_the_operator_limit(monkeypatch):
    import settings

    monkeypatch.setenv("PHARMATUNE_MAX_UPLOAD_MB", "1")
    monkeypatch.setenv("PHARMATUNE_VIEWER_UPLOAD_MB", "50")
    assert settings.viewer_upload_bytes() == settings.max_upload_bytes() == 1024**2
    monkeypatch.delenv("PHARMATUNE_VIEWER_UPLOAD_MB")
    monkeypatch.delenv("PHARMATUNE_MAX_UPLOAD_MB")
    assert (settings.viewer_upload_bytes(), settings.max_upload_bytes()) == (2 * 1024**2, 200 * 1024**2)
    assert (settings.chat_concurrency(), settings.chat_per_visitor()) == (4, 2)


# -- the real app over HTTP ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def public_app(tmp_path_factory):
    """`python app.py` public, with an operator password, chat caps of 2 answers at once (1 per visitor), a 1 MiB
    viewer upload limit, and dummy:gated answers held until the gate file goes."""
    from tests.test_app_server import App

    folder = tmp_path_factory.mktemp("public-app")
    gate = folder / "gate"
    app = App(folder, env={"PHARMATUNE_PUBLIC": "1", "PHARMATUNE_AUTH": "op:pw", "PHARMATUNE_DUMMY_GATE": str(gate),
                           "PHARMATUNE_CHAT_CONCURRENCY": "2", "PHARMATUNE_CHAT_PER_VISITOR": "1",
                           "PHARMATUNE_VIEWER_UPLOAD_MB": "1"})
    yield app, gate
    gate.unlink(missing_ok=True)
    app.stop()


def chat_args(text: str) -> tuple:
    # message, models A and B, compare, system, temperature, top-p, max new tokens, stops (the repetition settings
    # keep their defaults)
    return text, "dummy:gated", "dummy:gated", False, "", 0, 1, 16, ""


def streaming(job, timeout: float = 60):
    """Wait until the held answer has sent its first update: its place under the caps is taken."""
    deadline = time.monotonic() + timeout
    while not job.outputs():
        assert time.monotonic() < deadline and not job.done(), "the held answer never started"
        time.sleep(0.05)
    return job


@pytest.mark.slow
def test_over_http_a_visitor_over_a_chat_cap_gets_a_sentence_at_once(public_app):
    from gradio_client import Client

    app, gate = public_app
    gate.write_text("0")  # every answer waits before its first word
    ana, ben, cy = (Client(app.url, verbose=False) for _ in range(3))
    try:
        held_ana = streaming(ana.submit(*chat_args("first from ana"), api_name="/respond"))
        started = time.monotonic()
        again = str(ana.predict(*chat_args("second from ana"), api_name="/respond"))
        assert "This visitor already has 1 answer(s) being written and may have at most 1 at once" in again
        held_ben = streaming(ben.submit(*chat_args("first from ben"), api_name="/respond"))
        busy = str(cy.predict(*chat_args("first from cy"), api_name="/respond"))
        assert "The app is already writing 2 chat answers" in busy and "PHARMATUNE_CHAT_CONCURRENCY=2" in busy
        refusals = time.monotonic() - started
        assert refusals < 30, f"the refusals took {refusals:.1f} s: they must not wait for the held answers"
        assert "You said" not in again + busy
    finally:
        gate.unlink(missing_ok=True)  # the held answers run out
    assert "You said: first from ana" in str(held_ana.result(timeout=60))
    assert "You said: first from ben" in str(held_ben.result(timeout=60))
    assert "You said: first from cy" in str(cy.predict(*chat_args("first from cy"), api_name="/respond"))
    print(f"\nchat caps over HTTP: 2 refusals answered in {refusals:.2f} s while 2 answers were held")


@pytest.mark.slow
def test_over_http_a_viewer_upload_over_the_small_limit_is_refused_and_an_operators_is_read(public_app, tmp_path):
    from gradio_client import Client, handle_file

    app, _ = public_app
    big = chat_file(tmp_path / "two-mb.jsonl", 2 * 1024**2)  # over the viewer's 1 MiB, under the operator's 200
    small = chat_file(tmp_path / "small.jsonl", 4_000)

    def validate(client, path) -> str:
        report, *_ = client.predict(handle_file(str(path)), None, "train", "auto-detect", "",
                                    "none (skip token lengths)", 0, api_name="/on_validate")
        return report

    viewer = Client(app.url, verbose=False)
    refused = validate(viewer, big)
    assert "two-mb.jsonl is 2.0 MiB; visitors of this public app may upload up to 1 MiB" in refused
    assert "Traceback" not in refused and app.uploaded("*two-mb.jsonl") == []  # not kept, not even Gradio's copy
    assert "valid" in validate(viewer, small) and app.uploaded("*-small.jsonl")
    operator = Client(app.url, verbose=False)
    assert "Operator" in operator.predict("pw", api_name="/on_login")
    read = validate(operator, big)
    assert "MiB" not in read and "valid" in read, read
    assert [p.stat().st_size for p in app.uploaded("*-two-mb.jsonl")] == [big.stat().st_size]
