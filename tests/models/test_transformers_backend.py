"""The transformers backend on a tiny random Llama: batching, streaming, stop, truncation, adapters."""
import json

import pytest

from models import GenerationParams, ModelError, resolve

Q = [{"role": "user", "content": "Does warfarin interact with fluconazole?"}]


def test_hf_folder_loads_with_its_chat_template(tiny_llama):
    model = resolve(f"hf:{tiny_llama}")
    ids, notes = model.prompt_ids(Q, 8)
    text = model.tokenizer.decode(ids)
    assert text.startswith("<|im_start|>user\nDoes warfarin") and text.endswith("<|im_start|>assistant\n")
    assert notes == []
    assert model.context_length == 128


def test_left_padded_batch_matches_one_by_one(tiny_llama):
    model = resolve(f"hf:{tiny_llama}")
    short = [{"role": "user", "content": "Aspirin?"}]
    params = GenerationParams(max_new_tokens=12)
    together = model.generate([Q, short], params)
    alone = [model.generate([Q], params)[0], model.generate([short], params)[0]]
    assert [g.text for g in together] == [g.text for g in alone]
    assert all(g.completion_tokens == 12 and g.finish_reason == "length" for g in together)
    assert together[0].prompt_tokens > together[1].prompt_tokens


def test_stream_gives_the_same_text_as_batch_generation(tiny_llama):
    model = resolve(f"hf:{tiny_llama}")
    params = GenerationParams(max_new_tokens=16)
    stream = model.stream(Q, params)
    pieces = list(stream)
    assert len(pieces) > 1
    assert "".join(pieces) == stream.result.text == model.generate([Q], params)[0].text
    assert stream.result.completion_tokens == 16


def test_sampling_with_a_seed_is_reproducible_and_another_seed_differs(tiny_llama):
    model = resolve(f"hf:{tiny_llama}")

    def sample(seed: int) -> str:
        return model.chat(Q, GenerationParams(max_new_tokens=10, temperature=1.0, top_p=0.9, seed=seed)).text

    greedy = model.chat(Q, GenerationParams(max_new_tokens=10)).text
    first = sample(7)
    # Another generation in between must not shift the random state the seed restores.
    others = {seed: sample(seed) for seed in (8, 9, 10)}
    assert sample(7) == first
    # A random 2-layer Llama gives a nearly flat distribution over ~400 tokens, so if temperature/seed were ignored
    # (greedy decoding, or one fixed random state) these would coincide; with sampling, 10 tokens from 4 seeds
    # agreeing is practically impossible.
    assert len({first, *others.values()}) == 4, others
    assert greedy not in {first, *others.values()}


def test_stop_string_ends_generation(tiny_llama):
    model = resolve(f"hf:{tiny_llama}")
    full = model.chat(Q, GenerationParams(max_new_tokens=24)).text
    stop = full[len(full) // 2: len(full) // 2 + 2]
    assert stop.strip(), full
    cut = model.chat(Q, GenerationParams(max_new_tokens=24, stop=[stop]))
    assert cut.text == full[: full.index(stop)]
    assert cut.finish_reason == "stop"
    streamed = model.stream(Q, GenerationParams(max_new_tokens=24, stop=[stop]))
    assert "".join(streamed) == cut.text


def test_closing_the_stream_stops_generation_early(tiny_llama):
    model = resolve(f"hf:{tiny_llama}")
    stream = model.stream(Q, GenerationParams(max_new_tokens=100))
    it = iter(stream)
    next(it)
    it.close()
    model.last_job.result(timeout=30)  # the compute thread finished that generation
    assert stream.result.finish_reason == "cancelled"
    assert stream.result.completion_tokens < 100


def test_a_message_longer_than_the_context_is_cut_with_a_note(tiny_llama):
    model = resolve(f"hf:{tiny_llama}")
    long = [{"role": "user", "content": "warfarin " * 300}]
    ids, notes = model.prompt_ids(long, 16)
    assert len(ids) <= 128 - 16
    assert len(notes) == 1 and "last" in notes[0] and "were cut" in notes[0]
    result = model.chat(long, GenerationParams(max_new_tokens=16))
    assert result.notes == notes and result.completion_tokens == 16


def test_old_turns_are_dropped_before_the_new_message_is_cut(tiny_llama):
    model = resolve(f"hf:{tiny_llama}")
    history = [{"role": "user", "content": "aspirin " * 40}, {"role": "assistant", "content": "metformin " * 40}]
    ids, notes = model.prompt_ids(history + Q, 16)
    assert "Earlier turns were left out" in notes[0]
    assert model.tokenizer.decode(ids).count("Does warfarin interact") == 1


def test_max_new_tokens_larger_than_the_context_is_refused(tiny_llama):
    model = resolve(f"hf:{tiny_llama}")
    with pytest.raises(ModelError, match="leaves no room"):
        model.chat(Q, GenerationParams(max_new_tokens=500))


def test_a_model_without_chat_template_gets_a_plain_prompt_and_a_note(tmp_path):
    from tests.conftest import build_tiny_llama

    folder = build_tiny_llama(tmp_path / "base", chat_template=False)
    result = resolve(f"hf:{folder}").chat(Q, GenerationParams(max_new_tokens=4))
    assert "no chat template" in result.notes[0]


@pytest.fixture
def adapter(tiny_llama, tmp_path):
    """A LoRA adapter with non-zero weights, saved the way peft saves it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    return tmp_path / "adapter"


def test_adapter_changes_the_answer_and_loads_both_ways(tiny_llama, adapter):
    params = GenerationParams(max_new_tokens=12)
    base = resolve(f"hf:{tiny_llama}").chat(Q, params).text
    explicit = resolve(f"hf:{tiny_llama}?adapter={adapter}").chat(Q, params).text
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_llama)
    implicit = resolve(f"hf:{adapter}").chat(Q, params).text
    assert explicit == implicit != base


@pytest.mark.parametrize("ref,match", [
    ("hf:/nonexistent/folder", "does not exist"),
    ("hf:nobody/no-such-model", "Hugging Face Hub id nobody/no-such-model"),
    ("hf:", "needs a folder"),
    ("hf:x?lora=y", "unknown option 'lora'"),
])
def test_hf_errors_say_what_was_tried(ref, match):
    with pytest.raises(ModelError, match=match):
        resolve(ref)


def test_a_folder_without_config_is_named(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        resolve(f"hf:{tmp_path}")


def test_a_missing_adapter_is_named(tiny_llama, tmp_path):
    with pytest.raises(ModelError, match="no PEFT adapter"):
        resolve(f"hf:{tiny_llama}?adapter={tmp_path}")


def test_streaming_from_the_compute_thread_itself_does_not_deadlock(tiny_llama):
    from models import compute

    model = resolve(f"hf:{tiny_llama}")
    text = compute.run(lambda: "".join(model.stream(Q, GenerationParams(max_new_tokens=6))))
    assert text == model.chat(Q, GenerationParams(max_new_tokens=6)).text


def test_no_repeat_ngrams_and_the_repetition_penalty_change_greedy_output(tiny_llama):
    """A tiny random model at temperature 0 loops; with no_repeat_ngram_size 2 no token pair of the answer repeats,
    and a repetition penalty changes the greedy answer (1 = off gives the plain greedy text back)."""
    import torch

    model = resolve(f"hf:{tiny_llama}")
    plain = model.chat(Q, GenerationParams(max_new_tokens=24))
    assert model.chat(Q, GenerationParams(max_new_tokens=24, repetition_penalty=1.0)).text == plain.text
    assert model.chat(Q, GenerationParams(max_new_tokens=24, repetition_penalty=1.5)).text != plain.text
    prompt = torch.tensor([model._encode(Q)])

    def new_tokens(params):  # the token ids the backend's own generate arguments give
        out = model.model.generate(prompt, attention_mask=torch.ones_like(prompt), **model._generate_kwargs(params))
        return out[0, prompt.shape[1]:].tolist()

    looping = new_tokens(GenerationParams(max_new_tokens=24))
    assert len(set(zip(looping, looping[1:]))) < len(looping) - 1  # greedy repeats itself
    tokens = new_tokens(GenerationParams(max_new_tokens=24, no_repeat_ngram_size=2))
    pairs = list(zip(tokens, tokens[1:]))
    assert len(tokens) > 2 and len(pairs) == len(set(pairs))


@pytest.mark.parametrize("fields, message", [
    ({"repetition_penalty": 0}, "repetition_penalty must be above 0; 1 turns it off"),
    ({"no_repeat_ngram_size": -1}, "no_repeat_ngram_size must be a whole number"),
])
def test_bad_repetition_settings_are_sentences(fields, message):
    from models import InputError

    with pytest.raises(InputError, match=message):
        GenerationParams(**fields)
    assert GenerationParams(repetition_penalty=1.1, no_repeat_ngram_size=3).describe() == \
        "greedy · repetition penalty 1.1 · no repeated 3-grams"
