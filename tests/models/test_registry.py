import threading
import time

import pytest

from models import GenerationParams, ModelError, UnknownModelError, parse, resolve
from models.cache import ModelCache
from models.generation import ChatModel


@pytest.mark.parametrize("ref,match", [
    ("", "not a model reference"),
    ("smollm2", "not a model reference"),
    ("hff:some/model", "Did you mean hf:some/model"),
    ("buildin:smollm2-135m-instruct", "Did you mean builtin:"),
    ("builtin:smollm3", "Did you mean builtin:smollm2-135m-instruct"),
    ("dummy:nope", "dummy:nope is not a dummy behaviour"),
])
def test_unknown_references_say_what_was_meant(ref, match):
    with pytest.raises(UnknownModelError, match=match):
        resolve(ref)


def test_parse_splits_scheme_once():
    assert parse("hf:org/name?adapter=/a:b") == ("hf", "org/name?adapter=/a:b")


def test_dummy_echo_answers_through_the_common_api():
    model = resolve("dummy:echo")
    result = model.chat([{"role": "user", "content": "warfarin and aspirin"}], GenerationParams(max_new_tokens=50))
    assert result.text == "You said: warfarin and aspirin"
    assert result.completion_tokens == 5


def test_a_model_is_loaded_once_and_shared():
    assert resolve("dummy:echo") is resolve("dummy:echo")


def test_a_failing_load_is_a_readable_error():
    with pytest.raises(ModelError, match="cannot be loaded"):
        resolve("dummy:fail-load")


class Sized(ChatModel):
    def __init__(self, name, size):
        self.ref, self.memory_bytes, self.load_notes = name, size, []


def test_least_recently_used_models_are_unloaded_over_the_budget():
    cache = ModelCache(lambda: 100)
    cache.get("a", lambda: Sized("a", 40))
    cache.get("b", lambda: Sized("b", 40))
    cache.get("a", lambda: pytest.fail("a is cached"))  # a is now the most recently used
    cache.get("c", lambda: Sized("c", 40))
    assert cache.loaded() == ["a", "c"]


def test_a_model_alone_over_the_budget_stays_loaded():
    cache = ModelCache(lambda: 10)
    cache.get("big", lambda: Sized("big", 1000))
    assert cache.loaded() == ["big"]


def test_concurrent_requests_for_one_model_load_it_once():
    cache = ModelCache(lambda: 10**9)
    loads = []

    def slow_load():
        loads.append(1)
        time.sleep(0.2)
        return Sized("m", 1)

    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("m", slow_load))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len({id(m) for m in got}) == 1


def test_finished_text_runs_are_offered_as_run_references(isolated_runs):
    """The Chat and Evaluate lists offer run:<id> for runs that saved weights and generate text, newest first;
    a run still training (no weights) and a classification head are left out."""
    import yaml

    from models.catalog import available_models, run_model_refs

    def make(name, task, weights):
        folder = isolated_runs / name
        folder.mkdir()
        (folder / "config.yaml").write_text(yaml.safe_dump({"dataset": "x", "task": task}))
        if weights:
            (folder / "adapter").mkdir()
            (folder / "adapter" / "adapter_config.json").write_text("{}")

    make("training-20261121-100000-aaaa", "sft", True)
    make("training-20261121-110000-bbbb", "sft", False)
    make("training-20261121-120000-cccc", "classification", True)
    make("training-20261121-130000-dddd", "pretrain", True)
    assert run_model_refs() == ["run:training-20261121-130000-dddd", "run:training-20261121-100000-aaaa"]
    assert "run:training-20261121-100000-aaaa" in available_models()
    # evaluation lists the classification head too (head mode); chat does not
    assert run_model_refs(heads=True) == ["run:training-20261121-130000-dddd", "run:training-20261121-120000-cccc",
                                          "run:training-20261121-100000-aaaa"]
    assert "run:training-20261121-120000-cccc" in available_models(heads=True)
    assert "run:training-20261121-120000-cccc" not in available_models()


def test_a_run_reference_without_weights_says_why(isolated_runs):
    import yaml

    from models.errors import ModelError
    from models.registry import resolve

    folder = isolated_runs / "training-20261121-100000-aaaa"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump({"dataset": "x", "task": "sft"}))
    with pytest.raises(ModelError, match="no trained weights yet"):
        resolve("run:training-20261121-100000-aaaa")
    with pytest.raises(ModelError, match="no training run with that id"):
        resolve("run:training-nope")
