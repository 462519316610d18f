"""Choice scoring (label log-probabilities): the transformers path against a direct forward pass on a tiny random
Llama, label tokenization as a continuation, the dummy model, and OpenAI's top_logprobs."""
from __future__ import annotations

import math

import pytest

from models import InputError, ModelError, resolve
from models.generation import ChoiceScores, LabelScore
from models.openai_chat import first_token_scores
from tests.fake_openai import VALID_KEY, FakeOpenAI

SYSTEM = {"role": "system", "content": "You are a clinical pharmacology assistant. Answer with exactly one of: "
                                       "interaction, no interaction."}
CONVERSATIONS = [
    [SYSTEM, {"role": "user", "content": "Does warfarin interact with fluconazole?"}],
    [SYSTEM, {"role": "user", "content": "Aspirin?"}],
    [SYSTEM, {"role": "user", "content": "Metformin lowers hepatic glucose production; and atorvastatin?"}],
]
LABELS = ["interaction", "no interaction", "CYP2C9 inhibits warfarin", "x"]


def direct_logprob(model, messages, label) -> tuple[float, int]:
    """log P(label | prompt) from one unpadded, uncached forward pass of prompt + label, summed by hand."""
    import torch

    prompt, _ = model.prompt_ids(messages, 8)
    label_ids = model.label_ids(messages, label)
    with torch.inference_mode():
        logits = model.model(torch.tensor([prompt + label_ids])).logits[0].float().log_softmax(-1)
    return sum(float(logits[len(prompt) - 1 + k, t]) for k, t in enumerate(label_ids)), len(label_ids)


def forward_batches(model) -> list[tuple[int, int]]:
    """The (batch, length) of every forward pass the model makes from now on."""
    shapes: list[tuple[int, int]] = []
    model.model.register_forward_pre_hook(
        lambda module, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    return shapes


@pytest.mark.parametrize("batch", [CONVERSATIONS, CONVERSATIONS[:1], [CONVERSATIONS[1], [CONVERSATIONS[2][1]]]],
                         ids=["shared-system-prompt", "one", "no-shared-prefix"])
def test_summed_logprobs_equal_a_direct_forward_pass_of_prompt_and_label(tiny_llama, batch):
    model = resolve(f"hf:{tiny_llama}")
    scored = model.choice_logprobs(batch, LABELS)
    assert len(scored) == len(batch)
    for messages, scores in zip(batch, scored):
        assert list(scores) == LABELS
        for label in LABELS:
            expected, tokens = direct_logprob(model, messages, label)
            assert scores[label].tokens == tokens
            assert scores[label].logprob == pytest.approx(expected, abs=1e-4)
            assert scores[label].per_token == pytest.approx(expected / tokens, abs=1e-4)
        assert scores.prompt_tokens == len(model.prompt_ids(messages, 8)[0])


def test_the_prompt_runs_once_and_a_shared_prefix_once_per_batch(tiny_llama):
    model = resolve(f"hf:{tiny_llama}")
    lengths = {len(model.label_ids(CONVERSATIONS[0], label)) for label in LABELS}
    assert 1 in lengths and max(lengths) > 2  # one-token labels need no second pass, longer ones do
    shapes = forward_batches(model)
    model.choice_logprobs(CONVERSATIONS, LABELS)
    prefix, prompts, labels = shapes
    assert prefix[0] == 1 and prefix[1] >= 16  # the system prompt, once for the batch
    assert prompts[0] == 3  # one row per item, not one per label
    longer = sum(len(model.label_ids(m, label)) > 1 for m in CONVERSATIONS for label in LABELS)
    assert labels[0] == longer  # only labels of several tokens get a row, for their tokens after the first

    shapes.clear()
    model.choice_logprobs([CONVERSATIONS[1], [CONVERSATIONS[2][1]]], LABELS)  # nothing shared: no prefix pass
    assert shapes[0][0] == 2


def test_a_label_is_tokenized_as_the_continuation_of_the_prompt(tiny_llama):
    model = resolve(f"hf:{tiny_llama}")
    tok = model.tokenizer
    for label in LABELS:
        messages = CONVERSATIONS[0]
        text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        prompt, _ = model.prompt_ids(messages, 8)
        assert prompt + model.label_ids(messages, label) == tok(text + label, add_special_tokens=False)["input_ids"]


def test_a_model_without_chat_template_scores_after_its_plain_prompt(tmp_path):
    from tests.conftest import build_tiny_llama

    model = resolve(f"hf:{build_tiny_llama(tmp_path / 'plain', chat_template=False)}")
    scores = model.choice_logprobs(CONVERSATIONS[:2], LABELS[:2])
    for messages, s in zip(CONVERSATIONS[:2], scores):
        for label in LABELS[:2]:
            assert s[label].logprob == pytest.approx(direct_logprob(model, messages, label)[0], abs=1e-4)


def test_a_label_that_tokenizes_to_nothing_is_named(tiny_llama):
    model = resolve(f"hf:{tiny_llama}")
    with pytest.raises(ModelError, match="The label '' tokenizes to nothing"):
        model.label_ids(CONVERSATIONS[0], "")


@pytest.mark.parametrize("labels, message", [
    (["interaction"], "at least two labels"),
    (["interaction", " "], "needs visible text"),
    (["a", "a"], "'a' twice"),
])
def test_bad_label_sets_are_refused_before_any_work(tiny_llama, labels, message):
    with pytest.raises(InputError, match=message):
        resolve(f"hf:{tiny_llama}").choice_logprobs(CONVERSATIONS, labels)


def test_probabilities_are_a_softmax_over_the_labels():
    scores = ChoiceScores({"a": LabelScore(math.log(0.2), 1), "b": LabelScore(math.log(0.6), 3)})
    assert scores.probabilities() == pytest.approx({"a": 0.25, "b": 0.75})
    assert scores.best() == "b"
    normalised = scores.probabilities(normalised=True)  # per token: log 0.2 < log(0.6) / 3
    assert normalised["b"] > 0.75 and sum(normalised.values()) == pytest.approx(1)
    assert ChoiceScores({"a": LabelScore(-math.inf, 1), "b": LabelScore(-math.inf, 1)}).probabilities() == {
        "a": 0.5, "b": 0.5}


# -- the dummy model -------------------------------------------------------------------------------------------
def test_dummy_choice_prefers_the_expected_label_with_the_stated_probability():
    model = resolve("dummy:choice")
    asked = [[{"role": "user", "content": "Do A and B interact? Expected: no interaction p=0.7"}],
             [{"role": "user", "content": "Do C and D interact? Expected: interaction"}],
             [{"role": "user", "content": "Nothing expected here"}]]
    first, second, third = model.choice_logprobs(asked, ["interaction", "no interaction"])
    assert first.probabilities() == pytest.approx({"interaction": 0.3, "no interaction": 0.7})
    assert first["no interaction"].tokens == 2 and first.best() == "no interaction"
    assert second.probabilities() == pytest.approx({"interaction": 0.9, "no interaction": 0.1})
    assert third.probabilities() == pytest.approx({"interaction": 0.5, "no interaction": 0.5})
    assert model.chat(asked[1]).text == "interaction"  # it writes what it prefers, like dummy:oracle
    with pytest.raises(ModelError, match="FAIL"):
        model.choice_logprobs([[{"role": "user", "content": "FAIL here"}]], ["a", "b"])


def test_a_model_without_log_probabilities_says_to_use_generate_mode():
    with pytest.raises(ModelError, match="dummy:echo gives no log-probabilities; use generate mode"):
        resolve("dummy:echo").choice_logprobs([[{"role": "user", "content": "hi"}]], ["a", "b"])


# -- OpenAI ------------------------------------------------------------------------------------------------------
@pytest.fixture
def fake(monkeypatch):
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


def test_openai_scores_each_label_by_its_first_token_from_top_logprobs(fake):
    fake.top_logprobs = [("No", -0.2), (" no", -2.0), ("interaction", -1.9), ("The", -3.0)]
    model = resolve("openai:gpt-4o-mini", api_key=VALID_KEY)
    [scores] = model.choice_logprobs([CONVERSATIONS[0]], ["interaction", "no interaction"])
    sent = fake.requests[-1]
    assert sent["logprobs"] is True and sent["top_logprobs"] == 20 and sent["max_completion_tokens"] == 1
    assert sent.get("stream") is None
    assert scores["no interaction"].logprob == pytest.approx(math.log(math.exp(-0.2) + math.exp(-2.0)))
    assert scores["interaction"] == LabelScore(-1.9, 1)
    assert scores.best() == "no interaction" and scores.prompt_tokens > 0


def test_openai_without_logprobs_says_to_use_generate_mode(fake):
    model = resolve("openai:no-logprobs", api_key=VALID_KEY)
    with pytest.raises(ModelError, match="openai:no-logprobs gives no log-probabilities .*use generate mode"):
        model.choice_logprobs([CONVERSATIONS[0]], ["interaction", "no interaction"])


def test_first_token_scores_bound_missing_labels_and_refuse_ambiguous_ones():
    scores = first_token_scores([("yes", -0.1), ("maybe", -3.0)], ["yes", "no"])
    assert scores == {"yes": LabelScore(-0.1, 1), "no": LabelScore(-3.0, 1)}  # "no" unseen: at most the lowest
    with pytest.raises(ModelError, match="'no interaction' and 'no data' both begin with 'no'"):
        first_token_scores([("no", -0.1)], ["no interaction", "no data"])
