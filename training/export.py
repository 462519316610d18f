"""Exports of a finished run: its adapter, a merged full model (safetensors), a model card, a push to the Hub.

A merge loads the base in float32 (for the builtin model: the safetensors folder converted from its GGUF, which
carries no quantizer, so save_pretrained works), applies the adapter, merges and saves into runs/<id>/merged."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from models.errors import ModelError
from models.run import base_folder, is_masked_lm, run_config, run_dir, weights


def adapter_folder(run_id: str) -> Path:
    kind, folder = weights(run_id)
    if kind != "adapter":
        raise ModelError(f"run:{run_id} trained full weights ({run_config(run_id).get('method', {}).get('name')}); "
                         f"there is no adapter, the model itself is in {folder}.")
    return folder


def merged(run_id: str) -> Path:
    """A standalone model folder: the run's full weights, or its base with the adapter merged in (made once)."""
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

    import settings

    config = run_config(run_id)
    base = base_folder(config.get("base_model", "builtin:smollm2-135m-instruct"))
    trust = settings.trust_remote_code()
    task = config.get("task", "sft")
    if task in ("classification", "regression"):
        head = {"num_labels": 1, "problem_type": "regression"} if task == "regression" else _class_names(config, folder)
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
    model.save_pretrained(str(partial), safe_serialization=True)
    (partial / MERGE_STAMP).write_text(json.dumps(stamp), encoding="utf-8")
    tokenizer_source = folder if (folder / "tokenizer_config.json").exists() else base
    AutoTokenizer.from_pretrained(str(tokenizer_source), trust_remote_code=trust).save_pretrained(str(partial))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    model_card(run_id)
    return target


MERGE_STAMP = "pharmatune-merge.json"  # which adapter file a merged folder was made from


def _adapter_stamp(adapter: Path) -> dict:
    weights_file = adapter / "adapter_model.safetensors"
    info = weights_file.stat() if weights_file.exists() else None
    return {"size": info.st_size if info else None, "mtime_ns": info.st_mtime_ns if info else None}


def _read_stamp(target: Path) -> dict | None:
    try:
        return json.loads((target / MERGE_STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _class_names(config: dict, adapter: Path) -> dict:
    """num_labels, id2label and label2id of a classification run's head: the number of classes is the row count
    of the head saved with the adapter; their names come from the config, or from the training data as training
    found them (sorted), or are generic when neither agrees with the head."""
    from safetensors import safe_open

    from training.methods import HEAD_NAMES

    rows = None
    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as handle:
        for key in handle.keys():
            parts = key.split(".")
            if "lora_" in key or parts[-1] != "weight":
                continue
            if parts[-2] in HEAD_NAMES or (parts[-2] == "out_proj" and any(h in parts for h in HEAD_NAMES)):
                rows = int(handle.get_slice(key).get_shape()[0])
    names = config.get("labels")
    if not names:
        try:
            from training.config import TrainConfig
            from training.tasks import classification

            train_config = TrainConfig.from_dict(config)
            names = classification.classes(train_config, classification.load_items(train_config, train_config.train_split))
        except Exception:  # noqa: BLE001 - the data may be gone; the head still says how many classes
            names = None
    rows = rows or (len(names) if names else 2)
    if not names or len(names) != rows:
        names = [f"LABEL_{i}" for i in range(rows)]
    return {"num_labels": rows, "id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def model_card(run_id: str) -> Path:
    """README.md beside the weights: data, method, hyperparameters, and the run's leaderboard results."""
    folder = run_dir(run_id)
    config = run_config(run_id)
    summary_path = folder / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    method = config.get("method", {}) or {}
    rows = _leaderboard_rows(run_id)
    base = config.get("base_model", "")
    lines = [
        "---",
        yaml.safe_dump({"library_name": "peft" if _is_peft(method.get("name")) else "transformers",
                        "base_model": base, "tags": ["pharmatune", str(method.get("name")), str(config.get("task"))]},
                       sort_keys=False).strip(),
        "---",
        f"# {run_id}",
        "",
        f"Fine-tuned with PharmaTune from `{base}` ({config.get('task')} task, method {method.get('name')}).",
        "",
        "## Data",
        f"- Dataset: `{config.get('dataset')}` (train split `{config.get('train_split')}`, validation "
        f"`{config.get('eval_split')}`), {summary.get('steps', '?')} steps, {summary.get('tokens', '?')} tokens.",
        "",
        "## Method",
        f"- {method.get('name')}: {summary.get('trainable_params', '?'):,} trainable parameters "
        f"({summary.get('trainable_percent', '?')} % of {summary.get('total_params', '?'):,})."
        if isinstance(summary.get("trainable_params"), int) else f"- {method.get('name')}",
        *[f"- {note}" for note in summary.get("notes", [])],
        "",
        "## Hyperparameters",
        "```yaml",
        yaml.safe_dump(config, sort_keys=False).strip(),
        "```",
        "",
        "## Results",
        f"- Final training loss: {summary.get('train_loss', '?')}; validation: "
        + (", ".join(f"{k} {v:.4g}" for k, v in summary.get("final_eval", {}).items() if isinstance(v, (int, float))) or "none"),
    ]
    for row in rows:
        scores = ", ".join(f"{k} {v:.4g}" for k, v in row["metrics"].items() if isinstance(v, (int, float)))
        lines.append(f"- {row['benchmark']} ({row['variant']}, {row['items']} items): {scores}")
    lines += ["", "Reproduce: `python -m training run config.yaml` with the configuration above.", ""]
    card = folder / "README.md"
    card.write_text("\n".join(lines), encoding="utf-8")
    for kind in ("adapter", "model", "merged"):
        if (folder / kind).is_dir():
            shutil.copyfile(card, folder / kind / "README.md")
    return card


def _leaderboard_rows(run_id: str) -> list[dict]:
    try:
        import store
        from sqlalchemy import select
        from store.tables import EvalResult

        with store.session() as s:
            found = s.scalars(select(EvalResult).where(EvalResult.model == f"run:{run_id}")).all()
            return [{"benchmark": r.benchmark, "variant": r.variant, "items": r.items, "metrics": r.metrics} for r in found]
    except Exception:  # noqa: BLE001 - a card without results is still a card
        return []


def push(run_id: str, repo_id: str | None) -> str:
    """Upload the adapter (or full model) with its card; needs HF_TOKEN and a network that reaches the Hub."""
    import os

    token = os.environ.get("HF_TOKEN")
    if not token:
        raise ModelError("Pushing to the Hugging Face Hub needs a token: set HF_TOKEN (it is never stored).")
    if not repo_id:
        raise ModelError("Name the Hub repository: --repo your-name/your-model.")
    kind, folder = weights(run_id)
    model_card(run_id)
    try:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, exist_ok=True, private=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id)
    except Exception as exc:  # noqa: BLE001 - offline, refused, rate-limited: one sentence
        raise ModelError(f"Could not push run:{run_id} to {repo_id}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    return f"https://huggingface.co/{repo_id}"


def _is_peft(method_name) -> bool:
    from training.methods import METHODS

    return method_name in METHODS and METHODS[method_name].is_peft
