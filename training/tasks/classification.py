"""A sequence-classification head (e.g. DDI as interaction / no interaction). The class of a record is its
meta label, or its answer; the classes are config.labels or those found in the training data."""
from __future__ import annotations

from training.config import ConfigError
from training.tasks import input_text, records


def prepare(config, items, model_config) -> dict:
    return {"causal_loss": False, "labels": classes(config, items)}


def load_items(config, split):
    return records(config, split, shuffle=split == config.train_split)


def label_of(record) -> str:
    value = record.meta.get("label", record.answer)
    if value is None:
        raise ConfigError(f"record {record.meta.get('id', '?')} has neither a meta label nor an answer to classify.")
    return str(value).strip()


def classes(config, items) -> list[str]:
    return list(config.labels) if config.labels else sorted({label_of(r) for r in items})


def load_model(folder, config, dtype, extra, **kwargs):
    labels = extra["labels"]
    from transformers import AutoModelForSequenceClassification

    import settings

    model = AutoModelForSequenceClassification.from_pretrained(
        str(folder), dtype=dtype, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)}, trust_remote_code=settings.trust_remote_code(), **kwargs)
    return model


def features(items, tokenizer, config, extra):
    labels = extra["labels"]
    index = {name: i for i, name in enumerate(labels)}
    out = []
    for record in items:
        label = label_of(record)
        if label not in index:
            raise ConfigError(f"record {record.meta.get('id', '?')}: label {label!r} is not one of {labels}.")
        enc = tokenizer(input_text(record, config.input_field), truncation=True, max_length=int(config.max_length))
        out.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": index[label]})
    return out, []


def collator(tokenizer, config, extra):
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)


def compute_metrics(prediction) -> dict:
    import numpy as np

    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    predicted = np.asarray(logits).argmax(-1)
    return {"accuracy": float((predicted == np.asarray(prediction.label_ids)).mean())}
