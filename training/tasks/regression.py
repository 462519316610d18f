"""A regression head (one output, mean squared error), e.g. FreeSolv or solubility from SMILES; reported as RMSE."""
from __future__ import annotations

from training.config import ConfigError
from training.tasks import input_text, records


def prepare(config, items, model_config) -> dict:
    return {"causal_loss": False}


def load_items(config, split):
    return records(config, split, shuffle=split == config.train_split)


def target_of(record) -> float:
    value = record.meta.get("label", record.answer)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"record {record.meta.get('id', '?')}: the regression target {value!r} is not a number.") from None


def load_model(folder, config, dtype, extra, **kwargs):
    from transformers import AutoModelForSequenceClassification

    import settings

    return AutoModelForSequenceClassification.from_pretrained(
        str(folder), dtype=dtype, num_labels=1, problem_type="regression",
        trust_remote_code=settings.trust_remote_code(), **kwargs)


def features(items, tokenizer, config, extra):
    out = []
    for record in items:
        enc = tokenizer(input_text(record, config.input_field), truncation=True, max_length=int(config.max_length))
        out.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": target_of(record)})
    return out, []


def collator(tokenizer, config, extra):
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)


def compute_metrics(prediction) -> dict:
    import numpy as np

    predicted = np.asarray(prediction.predictions).reshape(-1)
    gold = np.asarray(prediction.label_ids).reshape(-1)
    return {"rmse": float(np.sqrt(np.mean((predicted - gold) ** 2))), "mae": float(np.mean(np.abs(predicted - gold)))}
