"""Weight merging: a run's base with its PEFT adapter merged in, saved once as a standalone safetensors folder
(runs/<id>/merged). Models need it to use a run as another run's base, exports to hand the model out.

A merge loads the base in float32 (for the builtin model: the safetensors folder converted from its GGUF, which
carries no quantizer, so save_pretrained works), applies the adapter, merges and saves. A classification head's
class names come from the caller (training knows its data) or the run's config, else are generic."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import settings
from data.io import replace_folder
from models.errors import ModelError
from models.run import base_folder, is_masked_lm, run_config, run_dir, weights

MERGE_STAMP = "pharmatune-merge.json"  # which adapter file a merged folder was made from
# Output heads a classification adapter saves in full (modules_to_save), by the names transformers gives them.
HEAD_NAMES = ("lm_head", "score", "classifier", "cls", "pre_classifier", "qa_outputs")


def merged(run_id: str, *, class_names: Callable[[dict], list[str] | None] | None = None,
           on_made: Callable[[str], object] | None = None) -> Path:
    """A standalone model folder: the run's full weights, or its base with the adapter merged in (made once).
    `class_names(config)` may name a classification head's classes; `on_made(run_id)` runs after a new merge."""
    kind, folder = weights(run_id)
    if kind == "model":
        return folder
    target = run_dir(run_id) / "merged"
    stamp = _adapter_stamp(folder)
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")) and _read_stamp(target) == stamp:
        return target  # made from this very adapter (a resumed or repeated run writes a new one: merge again)
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

    config = run_config(run_id)
    base = base_folder(config.get("base_model", "builtin:smollm2-135m-instruct"))
    trust = settings.trust_remote_code()
    task = config.get("task", "sft")
    if task in ("classification", "regression"):
        head = {"num_labels": 1, "problem_type": "regression"} if task == "regression" else \
            head_labels(config, folder, class_names)
        model = AutoModelForSequenceClassification.from_pretrained(str(base), dtype=torch.float32,
                                                                   trust_remote_code=trust, **head)
    elif task == "pretrain" and is_masked_lm(config, base):
        model = AutoModelForMaskedLM.from_pretrained(str(base), dtype=torch.float32, trust_remote_code=trust)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32, trust_remote_code=trust)
    model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    if getattr(model, "hf_quantizer", None) is not None:  # a GGUF-loaded base refuses save_pretrained otherwise
        model.hf_quantizer = None
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    partial = target.with_name(".merged.partial")
    shutil.rmtree(partial, ignore_errors=True)
    tokenizer_source = folder if (folder / "tokenizer_config.json").exists() else base
    try:
        model.save_pretrained(str(partial), safe_serialization=True)
        AutoTokenizer.from_pretrained(str(tokenizer_source), trust_remote_code=trust).save_pretrained(str(partial))
        (partial / MERGE_STAMP).write_text(json.dumps(stamp), encoding="utf-8")  # last: the folder is whole
    except Exception as exc:
        _disk_full(exc, partial, target)
        raise
    replace_folder(partial, target)
    if on_made:
        on_made(run_id)
    return target


def _disk_full(exc: Exception, partial: Path, target: Path) -> None:
    """A full disk while the merged model was written: the half-written folder goes, the previous export stays, and
    the error is one sentence naming the disk (a ModelError) instead of a safetensors stack trace."""
    from data.io import disk_full_message, is_disk_full

    if not is_disk_full(exc, partial.parent):
        return
    shutil.rmtree(partial, ignore_errors=True)
    kept = (f"the previous {target.name}/ export is unchanged" if (target / "config.json").is_file()
            else "nothing was left behind")
    raise ModelError(disk_full_message(partial.parent, f"the merged model ({target.name}/)", kept)) from None


def _adapter_stamp(adapter: Path) -> dict:
    weights_file = adapter / "adapter_model.safetensors"
    info = weights_file.stat() if weights_file.exists() else None
    return {"size": info.st_size if info else None, "mtime_ns": info.st_mtime_ns if info else None}


def _read_stamp(target: Path) -> dict | None:
    try:
        return json.loads((target / MERGE_STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def head_labels(config: dict, adapter: Path, class_names=None) -> dict:
    """num_labels, id2label and label2id of a classification run's head: the number of classes is the row count
    of the head saved with the adapter; their names come from the config, or from `class_names(config)` (the
    training data as training found them), or are generic when neither agrees with the head."""
    from safetensors import safe_open

    rows = None
    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as handle:
        for key in handle.keys():
            parts = key.split(".")
            if "lora_" in key or parts[-1] != "weight":
                continue
            if parts[-2] in HEAD_NAMES or (parts[-2] == "out_proj" and any(h in parts for h in HEAD_NAMES)):
                rows = int(handle.get_slice(key).get_shape()[0])
    names = config.get("labels")
    if not names and class_names:
        try:
            names = class_names(config)
        except Exception:  # noqa: BLE001 - the data may be gone; the head still says how many classes
            names = None
    rows = rows or (len(names) if names else 2)
    if not names or len(names) != rows:
        names = [f"LABEL_{i}" for i in range(rows)]
    return {"num_labels": rows, "id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}
