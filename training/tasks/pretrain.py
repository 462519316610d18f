"""Domain-adaptive pretraining on raw text or SMILES: causal LM for decoders, masked LM (15 % masking) for
encoders such as MiniLM. Texts are joined with the end-of-text token and cut into max_length blocks (packing:
no pad tokens). A later run names this one as its base (run:<id>)."""
from __future__ import annotations

import random
from pathlib import Path

from data.records import DataError
from models.run import lm_objective
from training.config import ConfigError
from training.tasks import records


def prepare(config, items, model_config) -> dict:
    chosen = objective(config, model_config)
    if chosen == "masked":
        from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

        if model_config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
            raise ConfigError(f"objective masked: {model_config.model_type!r} models have no masked-LM head (it needs an "
                              "encoder such as BERT or MiniLM); use objective: causal or auto.")
    return {"causal_loss": chosen == "causal", "objective": chosen}


def objective(config, model_config) -> str:
    return lm_objective(config.objective, model_config)


def load_items(config, split) -> list[str]:
    """Texts: lines of a .txt file (train split only), or each record's messages / a meta field."""
    path = Path(config.dataset)
    if path.suffix == ".txt":
        if split != config.train_split:
            return []
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        texts = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        if not texts:
            raise DataError(f"{path}: the file has no text lines")
    else:
        texts = []
        for record in records(config, split, shuffle=False):
            if config.text_field == "messages":
                texts.append("\n".join(m["content"] for m in record.messages))
            else:
                value = record.meta.get(config.text_field)
                if value is None:
                    raise ConfigError(f"text_field {config.text_field!r}: record {record.meta.get('id', '?')} "
                                      "has no such meta field.")
                texts.extend(value if isinstance(value, list) else [str(value)])
    if split == config.train_split:
        random.Random(config.seed).shuffle(texts)
        if config.limit:
            texts = texts[: int(config.limit)]
    return texts


def load_model(folder, config, dtype, extra, **kwargs):
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    import settings

    trust = settings.trust_remote_code()
    auto = AutoModelForCausalLM if extra["causal_loss"] else AutoModelForMaskedLM
    return auto.from_pretrained(str(folder), dtype=dtype, trust_remote_code=trust, **kwargs)


def features(items, tokenizer, config, extra):
    causal = extra["causal_loss"]
    separator = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    stream: list[int] = []
    for text in items:
        stream += tokenizer(text, add_special_tokens=False)["input_ids"] + ([separator] if separator is not None else [])
    size = int(config.max_length)
    blocks = [stream[i: i + size] for i in range(0, len(stream), size)]
    blocks = [b for b in blocks if len(b) >= 2]
    note = (f"{'causal LM (next token)' if causal else 'masked LM (15 % of tokens masked)'} on {len(stream):,} tokens "
            f"in {len(blocks)} blocks of up to {size}")
    if causal:
        return [{"input_ids": b, "labels": list(b)} for b in blocks], [note]
    return [{"input_ids": b} for b in blocks], [note]


def collator(tokenizer, config, extra):
    if extra["causal_loss"]:
        from training.tasks.sft import causal_collator

        return causal_collator(tokenizer, config)
    from transformers import DataCollatorForLanguageModeling

    if tokenizer.mask_token is None:
        raise ConfigError("objective masked: this tokenizer has no mask token; use objective: causal.")
    return DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=0.15)
