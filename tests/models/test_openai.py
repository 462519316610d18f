"""openai: models against a fake OpenAI server on a real local socket."""
import pytest

from models import GenerationParams, InputError, ModelError, resolve
from tests.fake_openai import VALID_KEY, FakeOpenAI

Q = [{"role": "user", "content": "Does warfarin interact with fluconazole?"}]


@pytest.fixture
def fake(monkeypatch):
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


def test_streams_text_and_reports_billed_tokens(fake):
    model = resolve("openai:gpt-4o-mini", api_key=VALID_KEY)
    stream = model.stream(Q, GenerationParams(max_new_tokens=50, stop=["STOP"]))
    pieces = list(stream)
    assert len(pieces) > 3
    assert "".join(pieces) == fake.reply
    assert stream.result.prompt_tokens == 5 and stream.result.completion_tokens == len(fake.reply.split())
    sent = fake.requests[-1]
    assert sent["model"] == "gpt-4o-mini" and sent["stream"] is True and sent["stop"] == ["STOP"]
    assert sent["max_completion_tokens"] == 50


def test_the_key_comes_from_the_environment_when_not_typed(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", VALID_KEY)
    assert resolve("openai:gpt-4o").chat(Q).text == fake.reply


def test_an_invalid_key_is_a_readable_error(fake):
    with pytest.raises(ModelError, match=r"OpenAI rejected the API key \(401\): Incorrect API key"):
        resolve("openai:gpt-4o-mini", api_key="sk-wrong").chat(Q)


def test_an_unknown_model_names_what_openai_said(fake):
    with pytest.raises(ModelError, match=r"no model 'no-such-model'.*\(404\)"):
        resolve("openai:no-such-model", api_key=VALID_KEY).chat(Q)


def test_no_key_says_where_to_put_one():
    with pytest.raises(InputError, match="OPENAI_API_KEY"):
        resolve("openai:gpt-4o-mini")


def test_the_key_never_shows_in_repr(fake):
    model = resolve("openai:gpt-4o-mini", api_key=VALID_KEY)
    assert VALID_KEY not in repr(model)


def test_openai_models_are_listed_only_with_a_key(monkeypatch):
    from models.catalog import available_models

    assert not any(r.startswith("openai:") for r in available_models())
    assert "openai:gpt-4o-mini" in available_models("sk-typed")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    assert "openai:gpt-4o-mini" in available_models()


def test_local_model_folders_are_listed(tiny_llama, tmp_path, monkeypatch):
    import shutil

    from models.catalog import available_models

    shutil.copytree(tiny_llama, tmp_path / "my-llama")
    (tmp_path / "not-a-model").mkdir()
    monkeypatch.setenv("PHARMATUNE_LOCAL_MODELS", str(tmp_path))
    assert available_models() == ["builtin:smollm2-135m-instruct", f"hf:{tmp_path / 'my-llama'}"]
