"""The real `python app.py` serves /v1 on Gradio's own port: the openai client streams from a finished run:<id>,
16 clients at once all finish, and a public app without keys keeps the API off."""
from __future__ import annotations

import threading

import httpx
import openai
import pytest

from tests.serve.conftest import make_run
from tests.test_app_server import App

pytestmark = pytest.mark.slow


@pytest.fixture
def apps(tmp_path):
    started = []

    def start(*args, env=None):
        started.append(App(tmp_path, *args, env=env))
        return started[-1]

    yield start
    for app in started:
        app.stop()


def test_the_app_streams_a_run_over_v1_on_its_own_port_to_sixteen_clients(apps, tiny_llama, tmp_path):
    ref = make_run(tmp_path / "runs", tiny_llama)  # App puts the app's runs folder at tmp_path/runs
    app = apps()
    assert httpx.get(app.url + "/config", timeout=30).json()["mode"] == "blocks"  # Gradio, same port
    client = openai.OpenAI(base_url=app.url + "/v1", api_key="unused", max_retries=0, timeout=120)
    assert ref in [m.id for m in client.models.list()]
    messages = [{"role": "user", "content": "What does warfarin interact with?"}]
    stream = client.chat.completions.create(model=ref, messages=messages, temperature=0, max_tokens=12, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed and chunks[-1].usage.completion_tokens == 12
    answers, failures = [], []

    def ask(i):
        try:
            if i % 2:
                pieces = client.chat.completions.create(model=ref, messages=messages, temperature=0, max_tokens=12,
                                                        stream=True)
                answers.append("".join(c.choices[0].delta.content or "" for c in pieces))
            else:
                answer = client.chat.completions.create(model=ref, messages=messages, temperature=0, max_tokens=12)
                answers.append(answer.choices[0].message.content)
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            failures.append(f"client {i}: {exc!r}")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not failures and answers == [streamed] * 16
    assert "Traceback" not in app.log_path.read_text()


def test_a_public_app_without_keys_keeps_v1_off_and_gradios_login_does_not_guard_it(apps):
    app = apps("--auth", "ana:s3cret", env={"PHARMATUNE_PUBLIC": "1", "PHARMATUNE_API_KEYS": ""})
    assert httpx.get(app.url + "/config", timeout=30).status_code == 401  # the page is behind the login
    client = openai.OpenAI(base_url=app.url + "/v1", api_key="anything", max_retries=0, timeout=60)
    with pytest.raises(openai.PermissionDeniedError, match="PHARMATUNE_API_KEYS"):
        client.models.list()
    assert "the /v1 API is off" in app.log_path.read_text()
