"""Roles on a public app (ui/roles.py): a viewer is refused every handler that starts, cancels or changes
anything or spends money, through the UI and the API alike; the list comes from the app itself, so a new handler
is locked until someone marks it safe. An operator (password login) gets everything."""
from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest

from ui import roles

OPERATOR_ONLY = {  # what a viewer must never do; the guard locks these and any handler not in VIEWER_SAFE
    ("finetune_tab", "on_start"), ("finetune_tab", "on_cancel"), ("finetune_tab", "on_resume"),
    ("finetune_tab", "on_export"), ("finetune_tab", "on_export_gguf"), ("finetune_tab", "on_upload"),
    ("evaluate_tab", "on_start"),
    ("evaluate_tab", "on_cancel"), ("studies_tab", "on_start"), ("studies_tab", "on_cancel"),
    ("studies_tab", "on_train"), ("studies_tab", "on_evaluate"), ("openai_tab", "on_launch"),
    ("openai_tab", "on_cancel"), ("openai_tab", "on_save_prices"), ("openai_tab", "on_train_local"),
    ("data_tab", "on_export"), ("data_tab", "on_split"),
}


@pytest.fixture
def public_app(monkeypatch):
    roles.configure(public=True, password=("op", "pw"))
    import app

    yield app.build_ui(None)
    roles.configure(public=False)


def as_visitor(monkeypatch, session: str):
    from gradio.context import LocalContext

    token = LocalContext.request.set(SimpleNamespace(session_hash=session, username=None))
    return lambda: LocalContext.request.reset(token)


def test_every_handler_not_marked_safe_is_refused_to_a_viewer(public_app, monkeypatch):
    handlers = [bf.fn for bf in public_app.fns.values() if bf.fn is not None]
    keys = {roles.handler_key(fn) for fn in handlers}
    assert OPERATOR_ONLY <= keys, OPERATOR_ONLY - keys  # they exist under these names
    assert not OPERATOR_ONLY & roles.VIEWER_SAFE
    locked = [fn for fn in handlers if roles.handler_key(fn) not in roles.VIEWER_SAFE]
    assert {roles.handler_key(fn) for fn in locked} >= OPERATOR_ONLY
    reset = as_visitor(monkeypatch, "viewer-1")
    import gradio as gr

    try:
        for fn in locked:  # called with nothing: refused before the handler's own code would even look
            arguments = [None] * len(inspect.signature(fn).parameters)
            with pytest.raises(gr.Error, match="This needs an operator"):
                result = fn(*arguments)
                if inspect.isgenerator(result):
                    next(result)
    finally:
        reset()
    print(f"\n{len(locked)} of {len(handlers)} handlers are operator-only; all refused a viewer")


def test_an_operator_session_passes_and_a_viewer_session_does_not(public_app, monkeypatch):
    reset = as_visitor(monkeypatch, "visitor-2")
    try:
        assert not roles.is_operator()
        assert not roles.login("wrong")
        assert roles.login("pw") and roles.is_operator()
    finally:
        reset()
    reset = as_visitor(monkeypatch, "visitor-3")  # another browser: still a viewer
    try:
        assert not roles.is_operator()
        assert roles.may_use_server_openai_key("sk-mine") and not roles.may_use_server_openai_key(None)
    finally:
        reset()


def test_hugging_face_users_named_in_operators_are_operators():
    roles.configure(public=True, operators=["ana-lab", " ben "])
    try:
        def signed_in(name):
            session = {"oauth_info": {"userinfo": {"preferred_username": name}}}
            return SimpleNamespace(session_hash=f"s-{name}", username=None, request=SimpleNamespace(session=session))

        assert roles.is_operator(signed_in("ana-lab")) and roles.is_operator(signed_in("ben"))
        assert not roles.is_operator(signed_in("mallory"))
        assert not roles.is_operator(SimpleNamespace(session_hash="anon", username=None))
    finally:
        roles.configure(public=False)


def test_on_loopback_everyone_is_an_operator_and_nothing_is_shown():
    roles.configure(public=False)
    assert roles.is_operator(SimpleNamespace(session_hash="x", username=None))


def test_a_viewer_is_rate_limited_in_chat(monkeypatch):
    roles.configure(public=True, password=("op", "pw"), chat_per_minute=3)
    reset = as_visitor(monkeypatch, "chatty")
    try:
        assert [roles.chat_allowed() for _ in range(3)] == [None, None, None]
        assert "Too many messages" in roles.chat_allowed()
    finally:
        reset()
        roles.configure(public=False)


@pytest.mark.slow
def test_over_http_a_viewer_is_refused_and_the_operator_login_unlocks(tmp_path, monkeypatch):
    from gradio_client import Client

    from tests.fake_openai import VALID_KEY, FakeOpenAI
    from tests.test_app_server import App

    prices = (tmp_path / "data" / "openai_prices.yaml")
    with FakeOpenAI() as fake:
        app = App(tmp_path, env={"PHARMATUNE_PUBLIC": "1", "PHARMATUNE_AUTH": "op:pw", "OPENAI_API_KEY": VALID_KEY,
                                 "OPENAI_BASE_URL": fake.base_url})
        try:
            viewer = Client(app.url, verbose=False)
            with pytest.raises(Exception, match="This needs an operator"):
                viewer.predict("as_of: 2026-12-01\nmodels: {}\n", api_name="/on_save_prices")
            assert not prices.exists()
            # Chat with an OpenAI model on the server's key: refused in the chat, nothing sent to OpenAI
            answer = viewer.predict("hello", "openai:gpt-4o-mini", "openai:gpt-4o-mini", False, "", 0, 1, 16, "",
                                    api_name="/respond")
            assert "OpenAI models on the server's key need the operator login" in str(answer) and fake.requests == []
            assert "Wrong operator password" in viewer.predict("nope", api_name="/on_login")
            assert "Operator" in viewer.predict("pw", api_name="/on_login")
            text = prices_text()
            message, _ = viewer.predict(text, api_name="/on_save_prices")
            assert "Saved" in message or "saved" in message, message
            assert prices.exists()
        finally:
            app.stop()


def prices_text() -> str:
    from tests.conftest import ROOT

    return (ROOT / "openai_ft" / "prices.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("host, share, space, forced, public", [
    ("127.0.0.1", False, "", None, False), ("0.0.0.0", False, "", None, True), ("127.0.0.1", True, "", None, True),
    ("127.0.0.1", False, "me/pharmatune", None, True), ("127.0.0.1", False, "", "1", True),
    ("0.0.0.0", False, "", "0", False), ("0.0.0.0", True, "", "0", True),  # a share link is public whatever it says
])
def test_what_counts_as_a_public_app(host, share, space, forced, public, monkeypatch):
    import argparse

    import app

    monkeypatch.setenv("SPACE_ID", space) if space else monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setenv("PHARMATUNE_PUBLIC", forced) if forced else monkeypatch.delenv("PHARMATUNE_PUBLIC", raising=False)
    assert app.is_public(argparse.Namespace(host=host, share=share)) is public
