"""Exports of a finished run: its adapter, a merged full model (safetensors), a model card, a push to the Hub.

A merge loads the base in float32 (for the builtin model: the safetensors folder converted from its GGUF, which
carries no quantizer, so save_pretrained works), applies the adapter, merges and saves into runs/<id>/merged."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from models.errors import ModelError
from models import merge
from models.run import run_config, run_dir, weights


def adapter_folder(run_id: str) -> Path:
    kind, folder = weights(run_id)
    if kind != "adapter":
        raise ModelError(f"run:{run_id} trained full weights ({run_config(run_id).get('method', {}).get('name')}); "
                         f"there is no adapter, the model itself is in {folder}.")
    return folder


def merged(run_id: str) -> Path:
    """A standalone model folder: the run's full weights, or its base with the adapter merged in (made once, with
    its model card). Classification heads get their class names from the training data."""
    return merge.merged(run_id, class_names=_class_names, on_made=model_card)


def _class_names(config: dict) -> list[str]:
    """The classes as training found them in the run's data (sorted)."""
    from training.config import TrainConfig
    from training.tasks import classification

    train_config = TrainConfig.from_dict(config)
    return classification.classes(train_config, classification.load_items(train_config, train_config.train_split))


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
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelError(f"Could not push run:{run_id} to {repo_id}: {type(exc).__name__}: {first_line}") from exc
    return f"https://huggingface.co/{repo_id}"


def _is_peft(method_name) -> bool:
    from training.methods import METHODS

    return method_name in METHODS and METHODS[method_name].is_peft
