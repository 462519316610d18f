"""Supervised fine-tuning on chat records with the model's own chat template. Labels cover the assistant turns
(their text and end-of-turn token) unless assistant_only_loss is off; everything else is -100."""
from __future__ import annotations

from training.config import ConfigError
from training.tasks import records


def prepare(config, items, model_config) -> dict:
    return {"causal_loss": True}


def load_items(config, split):
    return records(config, split, shuffle=split == config.train_split)


def load_model(folder, config, dtype, extra, **kwargs):
    from transformers import AutoModelForCausalLM

    import settings

    return AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, trust_remote_code=settings.trust_remote_code(),
                                                **kwargs)


def render(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The training text of a conversation and the character spans of its assistant turns."""
    if tokenizer.chat_template:
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        spans = []
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            start = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
            end = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
            if not (full.startswith(start) and full.startswith(end)):
                raise ConfigError("This model's chat template renders a conversation differently from its "
                                  "prefixes, so assistant tokens cannot be located; set assistant_only_loss: false.")
            # the turn ends at its end-of-turn token: whitespace a template puts after it ("<|im_end|>\n")
            # belongs to the layout, not the answer, and is not learned
            spans.append((len(start), len(end.rstrip())))
        return full, spans
    # No template: the same plain format generation uses (models/transformers_backend.py).
    text, spans = "", []
    for message in messages:
        if message["role"] == "assistant":
            text += "Assistant:"
            start = len(text)
            text += f" {message['content']}\n" + (tokenizer.eos_token or "")
            spans.append((start, len(text)))
        else:
            text += f"{message['role'].capitalize()}: {message['content']}\n"
    return text, spans


def encode(tokenizer, messages, max_length: int, assistant_only: bool) -> dict | None:
    text, spans = render(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=True, max_length=max_length)
    ids = enc["input_ids"]
    if assistant_only:
        labels = [tok if any(s <= a < e for s, e in spans) else -100 for tok, (a, _) in zip(ids, enc["offset_mapping"])]
    else:
        labels = list(ids)
    if all(label == -100 for label in labels[1:]):
        return None  # nothing to learn from (the answer was cut off by max_length)
    return {"input_ids": ids, "labels": labels}


def features(items, tokenizer, config, extra):
    out, dropped = [], 0
    for record in items:
        example = encode(tokenizer, record.messages, int(config.max_length), config.assistant_only_loss)
        if example is None:
            dropped += 1
        else:
            out.append(example)
    notes = [f"{dropped} example(s) had no answer tokens within max_length={config.max_length} and were left out."
             ] if dropped else []
    return out, notes


def collator(tokenizer, config, extra):
    return causal_collator(tokenizer, config)


def causal_collator(tokenizer, config):
    """padding_free: the batch's sequences are concatenated into one row with position ids restarting at each
    sequence (attention stays within a sequence), so no compute goes to pad tokens. padding: right-padded rows."""
    if config.batching == "padding_free":
        from transformers import DataCollatorWithFlattening

        return DataCollatorWithFlattening(return_position_ids=True, separator_id=-100)
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
