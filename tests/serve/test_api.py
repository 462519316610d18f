"""The /v1 API with the real openai client over real HTTP, on weight-free dummy: models: answers, streaming, usage,
keys, malformed bodies, unknown and failing models, the bounded queue and 16 clients at once."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from serve import api
from tests.serve.conftest import RUN_ID, Server

HELLO = [{"role": "user", "content": "hello there"}]


def post(server, body, **headers) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(server.base_url + "/chat/completions", content=content, timeout=60,
                      headers={"Content-Type": "application/json", **headers})


def assert_openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert "Traceback" not in response.text
    return body["error"]


def test_a_non_streaming_answer_has_the_text_the_finish_reason_and_real_token_counts(server):
    answer = server.client().chat.completions.create(model="dummy:echo", messages=HELLO, temperature=0,
                                                     max_tokens=50, seed=3)
    assert answer.object == "chat.completion" and answer.id.startswith("chatcmpl-")
    assert answer.model == "dummy:echo"
    [choice] = answer.choices
    assert choice.message.role == "assistant" and choice.message.content == "You said: hello there"
    assert choice.finish_reason == "stop"
    # dummy models count whitespace words: 2 in the prompt, 4 in the answer
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (2, 4, 6)


def test_max_tokens_cuts_the_answer_and_says_length_and_stop_ends_it(server):
    client = server.client()
    cut = client.chat.completions.create(model="dummy:echo", messages=HELLO, max_tokens=2)
    assert cut.choices[0].message.content == "You said:" and cut.choices[0].finish_reason == "length"
    assert cut.usage.completion_tokens == 2
    stopped = client.chat.completions.create(model="dummy:echo", messages=HELLO, stop=["hello"])
    assert stopped.choices[0].message.content == "You said: " and stopped.choices[0].finish_reason == "stop"


def test_a_streamed_answer_comes_in_openai_chunks_with_usage_and_ends_with_done(server):
    stream = server.client().chat.completions.create(model="dummy:echo", messages=HELLO, stream=True,
                                                     stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: hello there"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)

    with httpx.stream("POST", server.base_url + "/chat/completions", timeout=60,
                      json={"model": "dummy:echo", "messages": HELLO, "stream": True}) as raw:
        assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in raw.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"
    assert "usage" not in "".join(lines)  # only when stream_options asks for it, as OpenAI


def test_the_model_list_has_builtin_local_folders_finished_text_runs_and_test_models(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # even with a server key, OpenAI models are not served here
    local = tmp_path / "local_models" / "my-model"
    local.mkdir(parents=True)
    (local / "config.json").write_text("{}")
    runs = tmp_path / "runs"
    for run_id, task, weights in [(RUN_ID, "sft", "model"), ("training-20261121-130000-cd34", "classification", "model"),
                                  ("training-20261121-140000-ef56", "sft", None)]:
        (runs / run_id).mkdir(parents=True)
        (runs / run_id / "config.yaml").write_text(f"task: {task}\n")
        if weights:
            (runs / run_id / weights).mkdir()
            (runs / run_id / weights / "config.json").write_text("{}")
    listed = server.client().models.list()
    ids = [m.id for m in listed]
    assert "builtin:smollm2-135m-instruct" in ids and f"hf:{local}" in ids and f"run:{RUN_ID}" in ids
    assert "dummy:echo" in ids
    assert not any(i.startswith("openai:") for i in ids)
    assert "run:training-20261121-130000-cd34" not in ids  # a classification head writes no text
    assert "run:training-20261121-140000-ef56" not in ids  # no weights yet
    assert all(m.object == "model" and m.owned_by == "pharmatune" for m in listed)
    one = server.client().models.retrieve(f"hf:{local}")  # an id with slashes in the path
    assert one.id == f"hf:{local}"
    with pytest.raises(openai.NotFoundError, match="Did you mean dummy:echo"):
        server.client().models.retrieve("dummy:ecko")


def test_without_the_dummy_switch_dummy_models_are_neither_listed_nor_served(server, monkeypatch):
    monkeypatch.delenv("PHARMATUNE_API_DUMMY")
    assert not [m.id for m in server.client().models.list() if m.id.startswith("dummy:")]
    with pytest.raises(openai.NotFoundError):
        server.client().chat.completions.create(model="dummy:echo", messages=HELLO)


def test_keys_a_wrong_or_missing_key_is_401_in_openais_shape_and_a_right_one_answers(server, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_API_KEYS", "key-one, key-two")
    with pytest.raises(openai.AuthenticationError) as wrong:
        server.client("key-three").chat.completions.create(model="dummy:echo", messages=HELLO)
    assert wrong.value.status_code == 401 and "PHARMATUNE_API_KEYS" in wrong.value.message
    assert "key-three" not in wrong.value.message  # a key is never echoed
    error = assert_openai_error(post(server, {"model": "dummy:echo", "messages": HELLO}), 401)
    assert error["code"] == "invalid_api_key" and "Authorization: Bearer" in error["message"]
    assert_openai_error(httpx.get(server.base_url + "/models", headers={"Authorization": "Bearer nope"}), 401)
    # the key is checked before the body is read: a bad key with a bad body is still a 401
    assert_openai_error(post(server, b"not json", Authorization="Bearer nope"), 401)
    answer = server.client("key-two").chat.completions.create(model="dummy:echo", messages=HELLO)
    assert answer.choices[0].message.content == "You said: hello there"


def test_a_public_app_without_keys_keeps_the_api_off_and_keys_turn_it_on(monkeypatch):
    public = Server(public=True)
    try:
        with pytest.raises(openai.PermissionDeniedError, match="PHARMATUNE_API_KEYS") as off:
            public.client().chat.completions.create(model="dummy:echo", messages=HELLO)
        assert off.value.status_code == 403
        assert_openai_error(httpx.get(public.base_url + "/models"), 403)
        monkeypatch.setenv("PHARMATUNE_API_KEYS", "secret")
        answer = public.client("secret").chat.completions.create(model="dummy:echo", messages=HELLO)
        assert answer.choices[0].message.content == "You said: hello there"
    finally:
        public.stop()


MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("body, param, says", [
    (b"{not json", None, "not valid JSON"),
    (b"\xff\xfe", None, "not valid JSON"),
    ([1, 2], None, "JSON object"),
    ({"messages": MESSAGES}, "model", "model is required"),
    ({"model": "dummy:echo"}, "messages", "non-empty array"),
    ({"model": "dummy:echo", "messages": []}, "messages", "non-empty array"),
    ({"model": "dummy:echo", "messages": ["hi"]}, "messages", "messages[0] must be an object"),
    ({"model": "dummy:echo", "messages": [{"role": "tool", "content": "x"}]}, "messages", '"tool"'),
    ({"model": "dummy:echo", "messages": [{"role": "user", "content": 5}]}, "messages", "content must be a string"),
    ({"model": "dummy:echo", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "messages", "text only"),
    ({"model": "dummy:echo", "messages": [{"role": "assistant", "content": "x"}]}, "messages", "last message"),
    ({"model": "dummy:echo", "messages": MESSAGES, "temperature": "hot"}, "temperature", "must be a number"),
    ({"model": "dummy:echo", "messages": MESSAGES, "temperature": 3}, "temperature", "at most 2"),
    ({"model": "dummy:echo", "messages": MESSAGES, "top_p": 0}, "top_p", "more than 0"),
    ({"model": "dummy:echo", "messages": MESSAGES, "max_tokens": 0}, "max_tokens", "at least 1"),
    ({"model": "dummy:echo", "messages": MESSAGES, "max_tokens": 1.5}, "max_tokens", "whole number"),
    ({"model": "dummy:echo", "messages": MESSAGES, "seed": True}, "seed", "whole number"),
    ({"model": "dummy:echo", "messages": MESSAGES, "stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
    ({"model": "dummy:echo", "messages": MESSAGES, "stream": "yes"}, "stream", "true or false"),
    ({"model": "dummy:echo", "messages": MESSAGES, "stream_options": {"include_usage": True}}, "stream_options",
     "only allowed with stream"),
    ({"model": "dummy:echo", "messages": MESSAGES, "n": 2}, "n", "not supported"),
    ({"model": "dummy:echo", "messages": MESSAGES, "tools": [{"type": "function"}]}, "tools", "not supported"),
    ({"model": "dummy:echo", "messages": MESSAGES, "temprature": 0}, "temprature", "Did you mean temperature?"),
])
def test_a_malformed_body_is_a_400_that_names_the_field(server, body, param, says):
    error = assert_openai_error(post(server, body), 400)
    assert says in error["message"] and error["param"] == param and error["type"] == "invalid_request_error"


def test_the_defaults_of_unsupported_parameters_and_openai_only_metadata_are_accepted(server):
    answer = server.client().chat.completions.create(
        model="dummy:echo", messages=[{"role": "developer", "content": "Be brief."},
                                      {"role": "user", "content": [{"type": "text", "text": "hello there"}]}],
        n=1, presence_penalty=0, frequency_penalty=0, logprobs=False, user="ana", response_format={"type": "text"})
    assert answer.choices[0].message.content == "You said: hello there"


def test_an_unknown_model_is_a_404_with_did_you_mean_and_openai_models_are_not_served_here(server):
    with pytest.raises(openai.NotFoundError, match=r"Did you mean dummy:echo") as unknown:
        server.client().chat.completions.create(model="dummy:ekho", messages=HELLO)
    assert unknown.value.status_code == 404 and unknown.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError, match="Did you mean builtin:smollm2-135m-instruct"):
        server.client().chat.completions.create(model="smollm2-135m-instruct", messages=HELLO)
    with pytest.raises(openai.NotFoundError, match="OpenAI model"):
        server.client().chat.completions.create(model="openai:gpt-4o-mini", messages=HELLO)


def test_a_model_that_fails_to_load_is_a_503_with_the_reason_and_one_that_fails_generating_a_500(server):
    with pytest.raises(openai.InternalServerError, match="cannot be loaded, as it always does") as load:
        server.client().chat.completions.create(model="dummy:fail-load", messages=HELLO)
    assert load.value.status_code == 503
    error = assert_openai_error(post(server, {"model": "dummy:fail-load", "messages": HELLO}), 503)
    assert error["type"] == "server_error"
    with pytest.raises(openai.InternalServerError, match="failed while generating") as generating:
        server.client().chat.completions.create(model="dummy:fail-generate", messages=HELLO)
    assert generating.value.status_code == 500
    # streamed: the headers are sent already, so the error arrives as an event and the client raises it
    stream = server.client().chat.completions.create(model="dummy:fail-generate", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError, match="failed while generating"):
        list(stream)


def test_unknown_paths_and_methods_answer_in_openais_shape(server):
    assert "POST /v1/chat/completions" in assert_openai_error(httpx.get(server.base_url + "/completions"), 404)["message"]
    assert assert_openai_error(httpx.get(server.base_url + "/chat/completions"), 405)["code"] == "method_not_allowed"


def _gate(tmp_path: Path, monkeypatch, words: int) -> Path:
    gate = tmp_path / "gate"
    gate.write_text(str(words))
    monkeypatch.setenv("PHARMATUNE_DUMMY_GATE", str(gate))
    return gate


def _wait_for(condition, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_full_queue_answers_429_with_retry_after_and_admits_again_once_answers_end(server, tmp_path, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_API_QUEUE", "2")
    gate = _gate(tmp_path, monkeypatch, 1)  # every gated answer waits after its first word
    answers = {}

    def ask(name, stream):
        client = server.client()
        if stream:
            pieces = client.chat.completions.create(model="dummy:gated", messages=HELLO, stream=True)
            answers[name] = "".join(c.choices[0].delta.content or "" for c in pieces)
        else:
            answers[name] = client.chat.completions.create(model="dummy:gated", messages=HELLO).choices[0].message.content

    threads = [threading.Thread(target=ask, args=(n, n == "streamed")) for n in ("streamed", "batched")]
    for t in threads:
        t.start()
    _wait_for(lambda: api.ADMISSION.inside == 2)
    full = post(server, {"model": "dummy:echo", "messages": HELLO})
    error = assert_openai_error(full, 429)
    assert error["code"] == "rate_limit_exceeded" and "PHARMATUNE_API_QUEUE=2" in error["message"]
    assert int(full.headers["Retry-After"]) >= 1
    with pytest.raises(openai.RateLimitError):
        server.client().chat.completions.create(model="dummy:echo", messages=HELLO)
    gate.unlink()
    for t in threads:
        t.join(60)
    assert answers == {"streamed": "You said: hello there", "batched": "You said: hello there"}
    assert server.client().chat.completions.create(model="dummy:echo", messages=HELLO).choices[0].message.content \
        == "You said: hello there"


def test_sixteen_clients_at_once_all_get_their_whole_answer_and_non_streaming_ones_share_calls(server):
    calls_before, requests_before = api.BATCHER.stats.calls, api.BATCHER.stats.requests
    answers, failures = {}, []

    def ask(i):
        try:
            client = server.client()
            messages = [{"role": "user", "content": f"question number {i}"}]
            if i % 2:
                stream = client.chat.completions.create(model="dummy:slow", messages=messages, stream=True)
                answers[i] = "".join(c.choices[0].delta.content or "" for c in stream)
            else:
                answers[i] = client.chat.completions.create(model="dummy:slow", messages=messages).choices[0].message.content
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            failures.append(f"client {i}: {exc!r}")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures
    assert answers == {i: f"You said: question number {i}" for i in range(16)}
    answered = api.BATCHER.stats.requests - requests_before
    calls = api.BATCHER.stats.calls - calls_before
    assert answered == 8 and calls < 8, f"8 non-streaming requests took {calls} generate calls"


def test_a_client_that_leaves_mid_stream_stops_its_generation(server, tmp_path, monkeypatch):
    gate = _gate(tmp_path, monkeypatch, 2)
    cancelled, streaming = api.STREAMS.cancelled, api.STREAMS.open
    stream = server.client().chat.completions.create(model="dummy:gated", messages=HELLO, stream=True)
    pieces = iter(stream)
    assert next(pieces).choices[0].delta.role == "assistant"
    assert next(pieces).choices[0].delta.content == "You"
    assert api.STREAMS.open == streaming + 1
    stream.close()
    _wait_for(lambda: api.STREAMS.open == streaming)  # the server saw the connection close
    gate.unlink()  # the model may go on: the stream must see its client is gone and stop
    _wait_for(lambda: api.STREAMS.cancelled == cancelled + 1)
    assert api.STREAMS.last_cancelled.finish_reason == "cancelled"
    assert api.STREAMS.last_cancelled.text != "You said: hello there"
