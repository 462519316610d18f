"""The /v1 API on real transformers models (a tiny random Llama as an hf: folder and as a finished run:<id>): the
same answers as the model gives directly, batching, the context limit, seeds, and a disconnect that frees the
compute thread."""
from __future__ import annotations

import json
import shutil
import threading
import time

import httpx
import openai
import pytest

from models import GenerationParams, compute, registry
from serve import api
from tests.conftest import build_tiny_llama
from tests.serve.conftest import make_run

QUESTIONS = ["What does warfarin interact with?", "How does metformin work?", "Is aspirin an NSAID?",
             "What is the SMILES of aspirin?"]


@pytest.fixture
def refs(tiny_llama, tmp_path) -> dict[str, str]:
    """The tiny Llama twice: a folder in the local models folder, and a finished SFT run with full weights."""
    local = tmp_path / "local_models" / "tiny"
    shutil.copytree(tiny_llama, local)
    return {"hf": f"hf:{local}", "run": make_run(tmp_path / "runs", tiny_llama)}


def direct(ref: str, question: str, max_tokens: int) -> tuple[str, int]:
    """What the model answers (greedy) without the API, and its prompt's tokens."""
    result = registry.resolve(ref).chat([{"role": "user", "content": question}], GenerationParams(max_tokens))
    return result.text, result.prompt_tokens


@pytest.mark.parametrize("kind", ["run", "hf"])
def test_the_openai_client_streams_and_non_streams_the_models_own_answer_with_its_token_counts(server, refs, kind):
    ref = refs[kind]
    expected, prompt_tokens = direct(ref, QUESTIONS[0], 12)
    assert ref in [m.id for m in server.client().models.list()]
    messages = [{"role": "user", "content": QUESTIONS[0]}]
    answer = server.client().chat.completions.create(model=ref, messages=messages, temperature=0, max_tokens=12)
    assert answer.choices[0].message.content == expected
    assert answer.choices[0].finish_reason == "length"  # the tiny Llama never ends on its own (conftest)
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt_tokens, 12)

    stream = server.client().chat.completions.create(model=ref, messages=messages, temperature=0, max_tokens=12,
                                                     stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (prompt_tokens, 12)


def test_sixteen_clients_on_a_run_all_get_the_whole_answer_and_share_generate_calls(server, refs):
    ref = refs["run"]
    expected = {q: direct(ref, q, 16)[0] for q in QUESTIONS}
    calls_before, requests_before = api.BATCHER.stats.calls, api.BATCHER.stats.requests
    answers, failures = {}, []

    def ask(i):
        question = QUESTIONS[i % len(QUESTIONS)]
        try:
            client = server.client()
            messages = [{"role": "user", "content": question}]
            if i % 2:
                stream = client.chat.completions.create(model=ref, messages=messages, temperature=0, max_tokens=16,
                                                        stream=True)
                answers[i] = "".join(c.choices[0].delta.content or "" for c in stream)
            else:
                answer = client.chat.completions.create(model=ref, messages=messages, temperature=0, max_tokens=16)
                assert answer.usage.completion_tokens == 16
                answers[i] = answer.choices[0].message.content
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            failures.append(f"client {i}: {exc!r}")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not failures
    # float32 (conftest): a left-padded batch answers exactly what one prompt alone does
    assert answers == {i: expected[QUESTIONS[i % len(QUESTIONS)]] for i in range(16)}
    calls = api.BATCHER.stats.calls - calls_before
    assert api.BATCHER.stats.requests - requests_before == 8 and calls < 8, f"8 requests took {calls} calls"


def test_a_prompt_longer_than_the_context_is_a_400_naming_the_limit(server, refs):
    ref = refs["hf"]  # a 128-token context (conftest)
    long = [{"role": "user", "content": "Warfarin interacts with fluconazole. " * 40}]
    with pytest.raises(openai.BadRequestError, match="maximum context length is 128 tokens") as too_long:
        server.client().chat.completions.create(model=ref, messages=long, max_tokens=16)
    assert too_long.value.code == "context_length_exceeded" and "at most 112 tokens" in too_long.value.message
    with pytest.raises(openai.BadRequestError, match="max_tokens may be at most 112"):
        server.client().chat.completions.create(model=ref, messages=[{"role": "user", "content": "hi"}],
                                                max_tokens=120)
    # without max_tokens the answer fills what the context leaves, and says so with finish_reason "length"
    answer = server.client().chat.completions.create(model=ref, messages=[{"role": "user", "content": "hi"}])
    assert answer.usage.completion_tokens == min(128 - answer.usage.prompt_tokens, 112)
    assert answer.choices[0].finish_reason == "length"


def test_a_seed_makes_sampling_reproducible_and_stop_cuts_the_answer(server, refs):
    client, ref = server.client(), refs["hf"]
    messages = [{"role": "user", "content": QUESTIONS[1]}]

    def sample(seed):
        return client.chat.completions.create(model=ref, messages=messages, temperature=1.0, top_p=0.9, seed=seed,
                                              max_tokens=16).choices[0].message.content

    assert sample(7) == sample(7)
    assert len({sample(seed) for seed in (1, 2, 3)}) > 1
    full = client.chat.completions.create(model=ref, messages=messages, temperature=0, max_tokens=16)
    text = full.choices[0].message.content
    stop = text[len(text) // 2:][:2]
    cut = client.chat.completions.create(model=ref, messages=messages, temperature=0, max_tokens=16, stop=[stop])
    assert cut.choices[0].message.content == text[:text.index(stop)] and cut.choices[0].finish_reason == "stop"


def test_a_client_that_disconnects_mid_stream_frees_the_compute_thread(server, tmp_path):
    folder = build_tiny_llama(tmp_path / "local_models" / "long-context", context=4096)
    ref = f"hf:{folder}"
    registry.resolve(ref)  # loaded before the clock starts
    cancelled = api.STREAMS.cancelled
    request = {"model": ref, "messages": [{"role": "user", "content": "Tell me everything."}], "stream": True,
               "temperature": 0, "max_tokens": 3000}  # about a minute on 2 cores if nothing stopped it
    with httpx.stream("POST", server.base_url + "/chat/completions", json=request, timeout=120) as response:
        for line in response.iter_lines():
            choices = json.loads(line[len("data: "):])["choices"] if line.startswith("data: {") else []
            if choices and choices[0]["delta"].get("content"):
                break  # the first piece of text: the model is generating on the compute thread now
    left = time.monotonic()
    # closing the response closed the connection; the compute thread must run the next job within seconds
    compute.submit(lambda: None).result(timeout=15)
    freed = time.monotonic() - left
    deadline = time.monotonic() + 15
    while api.STREAMS.cancelled == cancelled and time.monotonic() < deadline:
        time.sleep(0.05)
    result = api.STREAMS.last_cancelled
    assert api.STREAMS.cancelled == cancelled + 1 and result.finish_reason == "cancelled"
    assert result.completion_tokens < 3000, result.completion_tokens
    assert freed < 15
    # and it serves the next client at once
    again = server.client().chat.completions.create(model=ref, messages=[{"role": "user", "content": "hi"}],
                                                    temperature=0, max_tokens=4)
    assert again.usage.completion_tokens == 4
