"""A classification or regression run (`run:<id>` of task classification / regression) loaded for prediction.

Such a run saved either `model/` (full weights: an AutoModelForSequenceClassification folder whose config names
its classes) or `adapter/` (PEFT over its base, the new score head saved in full through modules_to_save). The
adapter is applied to the base loaded with the same head (as many rows as the saved head has) and merged in
memory, as `models.merge` does for exports; nothing is written to the run folder.

`head_labels(run_id)` and `models.run.head_task(ref)` read files only, so evaluation checks a benchmark against a
head before any weights load. `load_head(run_id)` loads once per process (the model cache shared with chat
models, under its own key) on the compute thread, where `HeadModel.predict` runs too (models/compute.py says why).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import settings
from models import compute
from models.errors import ModelError
from models.run import HEAD_TASKS, base_folder, run_config, weights

DEFAULT_BASE = "builtin:smollm2-135m-instruct"
CACHE_PREFIX = "head:"  # cache key: head:run:<id> (a head run never loads as a chat model, but keep them apart)


@dataclass
class HeadModel:
    """A loaded head. predict(texts): one {class: probability} per text (softmax, in `labels` order) for a
    classifier, one float per text for a regression head."""

    ref: str
    task: str  # classification | regression
    labels: list[str]  # class names in the head's row order ([] for regression)
    input_field: str  # "prompt": the last user turn; else a meta field (smiles ...)
    max_length: int
    model: object = field(repr=False)
    tokenizer: object = field(repr=False)
    memory_bytes: int = 0

    def encode(self, texts: list[str]):
        """Right-padded token ids and attention mask, each text cut to the run's max_length (as training did)."""
        return self.tokenizer(list(texts), truncation=True, max_length=self.max_length, padding=True,
                              return_tensors="pt")

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens the head reads of each text (after truncation)."""
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        return [len(ids) for ids in enc["input_ids"]]

    def logits(self, texts: list[str]):
        """The head's float32 outputs (texts × classes, or texts × 1), on the CPU."""
        if not texts:
            import torch

            return torch.zeros((0, max(1, len(self.labels))))
        return compute.run(self._logits, list(texts))

    def _logits(self, texts: list[str]):
        import torch

        enc = self.encode(texts)
        device = self.model.device
        with torch.no_grad():
            out = self.model(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device))
        return out.logits.float().cpu()

    def predict(self, texts: list[str]) -> list[dict[str, float]] | list[float]:
        logits = self.logits(texts)
        if self.task == "regression":
            return [float(v) for v in logits[:, 0].tolist()]
        probs = logits.softmax(-1).tolist()
        return [{label: float(p) for label, p in zip(self.labels, row)} for row in probs]


def head_labels(run_id: str) -> list[str]:
    """The class names of a classification run, in the head's row order, without loading weights: the saved
    config's id2label (full weights), the class_names.json training writes beside an adapter, else (older runs)
    the run's config labels or, as training chose them, the classes of its training data (sorted); generic
    LABEL_i names when neither matches the saved head's row count."""
    config = run_config(run_id)
    if config.get("task") != "classification":
        return []
    kind, folder = weights(run_id)
    if kind == "model":
        saved = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        id2label = saved.get("id2label") or {}
        return [str(id2label[k]) for k in sorted(id2label, key=int)]
    saved = folder / "class_names.json"  # written by training beside the adapter (training.recipe.CLASS_NAMES_FILE)
    if saved.is_file():
        return [str(name) for name in json.loads(saved.read_text(encoding="utf-8"))]
    from models.merge import head_labels as adapter_head

    found = adapter_head(config, folder, class_names=data_classes)["id2label"]  # runs saved before that file
    return [found[i] for i in sorted(found)]


def data_classes(config: dict) -> list[str]:
    """The classes training found in the run's data when its config named none: the meta label (or the answer)
    of each training record, after the seed's shuffle and the limit, sorted (training.tasks.classification)."""
    import random

    from data import catalog

    items = catalog.load(config["dataset"], config.get("train_split") or "train")
    random.Random(config.get("seed", 42)).shuffle(items)
    if config.get("limit"):
        items = items[: int(config["limit"])]
    values = (r.meta.get("label", r.answer) for r in items)
    return sorted({str(v).strip() for v in values if v is not None})


def load_head(run_id: str) -> HeadModel:
    """The run's head model, loaded on first use; errors are ModelError naming the run."""
    from models.registry import CACHE

    ref = f"run:{run_id}"
    task = run_config(run_id).get("task", "sft")  # a run that does not exist says so here
    if task not in HEAD_TASKS:
        raise ModelError(f"{ref} trained a {task} model, which writes text rather than predicting from a head; "
                         "evaluate it in generate or choice mode.")
    weights(run_id)  # a run without weights says so before anything loads
    try:
        return CACHE.get(CACHE_PREFIX + ref, lambda: compute.run(_load, run_id, task))
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - name the run whatever the loader raised
        raise ModelError(f"{ref} could not be loaded: {type(exc).__name__}: {exc}") from exc


def _load(run_id: str, task: str) -> HeadModel:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from models.transformers_backend import pick_device_and_dtype

    config = run_config(run_id)
    kind, folder = weights(run_id)
    device, dtype = pick_device_and_dtype(settings.evaluation_dtype())
    trust = settings.trust_remote_code()
    if kind == "model":
        model = AutoModelForSequenceClassification.from_pretrained(str(folder), dtype=dtype, trust_remote_code=trust)
        tokenizer_source: Path = folder
        labels = head_labels(run_id)
    else:
        from peft import PeftModel

        base = base_folder(config.get("base_model") or DEFAULT_BASE)
        if task == "regression":
            head, labels = {"num_labels": 1, "problem_type": "regression"}, []
        else:
            labels = head_labels(run_id)
            head = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                    "label2id": {name: i for i, name in enumerate(labels)}}
        model = AutoModelForSequenceClassification.from_pretrained(str(base), dtype=dtype, trust_remote_code=trust,
                                                                   **head)
        model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
        tokenizer_source = folder if (folder / "tokenizer_config.json").exists() else base
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source), trust_remote_code=trust)
    if tokenizer.pad_token_id is None:  # as training set it
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "right"  # the head reads the last real token (or [CLS]); positions stay as trained
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if task == "regression":
        labels = []
    elif len(labels) != int(model.config.num_labels):
        raise ModelError(f"run:{run_id}: the saved head has {model.config.num_labels} rows but {len(labels)} class "
                         "names were found.")
    model = model.to(device).eval()
    memory = sum(p.numel() * p.element_size() for p in model.parameters())
    return HeadModel(f"run:{run_id}", task, labels, str(config.get("input_field") or "prompt"),
                     int(config.get("max_length") or 512), model, tokenizer, memory)
