"""Exports of a finished run: its adapter, a merged full model (safetensors), a GGUF file with an Ollama Modelfile,
a model card, a push to the Hub.

A merge loads the base in float32 (for the builtin model: the safetensors folder converted from its GGUF, which
carries no quantizer, so save_pretrained works), applies the adapter, merges and saves into runs/<id>/merged. A
GGUF export writes runs/<id>/gguf/<id>-<QUANT>.gguf from that merged model (models.gguf_export), a Modelfile whose
SYSTEM is the system prompt of the run's training data, and lists each file's size and sha256 in the model card."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from models.errors import ModelError
from models import gguf_export, merge
from models.run import base_folder, run_config, run_dir, weights

GGUF_FOLDER = "gguf"
GGUF_INDEX = "exports.json"  # file name → quant, bytes, sha256: what the model card lists


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


def gguf(run_id: str, quant: str = gguf_export.DEFAULT_QUANT, *, progress=None) -> gguf_export.GGUFExport:
    """runs/<id>/gguf/<id>-<QUANT>.gguf (quant: a name of gguf_export.available()) with an Ollama Modelfile beside
    it, and the file's size and sha256 in the model card. A LoRA-style run is merged into its base first (once).
    Classification and regression heads, and architectures llama.cpp does not run as `llama`, are refused with the
    reason. `progress(done, total)` is called per tensor written."""
    ref = f"run:{run_id}"
    config = run_config(run_id)
    task = config.get("task", "sft")
    if task in ("classification", "regression"):
        raise ModelError(gguf_export.refusal_for_head(ref, task))
    gguf_export.quant(quant)  # an unknown or unwritable quantisation fails before any merge
    kind, folder = weights(run_id)
    gguf_export.check(folder if kind == "model" else base_folder(config.get("base_model", "builtin:smollm2-135m-instruct")),
                      what=ref)
    source = merged(run_id)
    system, notes = data_system_prompt(config)
    out = run_dir(run_id) / GGUF_FOLDER
    result = gguf_export.export(source, out / gguf_export.file_name(run_id, quant), quant_name=quant, name=ref,
                                system=system, progress=progress)
    result.notes[:0] = notes
    _record_gguf(out, result)
    model_card(run_id)
    return result


def data_system_prompt(config: dict) -> tuple[str | None, list[str]]:
    """The system prompt of the run's training data (the most common one when records differ), and notes."""
    from collections import Counter

    from training.config import TrainConfig
    from training.tasks import records

    try:
        train_config = TrainConfig.from_dict(config)
        items = records(train_config, train_config.train_split, shuffle=False)
    except Exception as exc:  # noqa: BLE001 - the data may have moved since training: the Modelfile has no SYSTEM
        return None, [f"The training data could not be read ({type(exc).__name__}), so the Modelfile has no SYSTEM."]
    prompts = Counter(next((m["content"] for m in r.messages if m["role"] == "system"), None) for r in items)
    prompts.pop(None, None)
    if not prompts:
        return None, []
    text, count = prompts.most_common(1)[0]
    if len(prompts) == 1:
        return text, []
    return text, [f"The training data has {len(prompts)} different system prompts; the Modelfile's SYSTEM is the most "
                  f"common one ({count} of {len(items)} records)."]


def _record_gguf(out: Path, result) -> None:
    from data.io import DiskFull, atomic_write

    index = _gguf_index(out)
    index[result.path.name] = {k: v for k, v in result.to_dict().items() if k != "file"}
    try:
        with atomic_write(out / GGUF_INDEX) as handle:
            handle.write(json.dumps(index, indent=2))
    except DiskFull as exc:
        raise ModelError(str(exc)) from None


def _gguf_index(out: Path) -> dict:
    """The GGUF files of a run that are still there, as recorded when they were written."""
    try:
        index = json.loads((out / GGUF_INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {name: entry for name, entry in index.items()
            if (out / name).is_file() and (out / name).stat().st_size == entry.get("bytes")}


def _gguf_lines(run_id: str, folder: Path) -> list[str]:
    index = _gguf_index(folder / GGUF_FOLDER)
    if not index:
        return []
    lines = ["", "## GGUF (llama.cpp, Ollama)"]
    for name, entry in sorted(index.items()):
        lines.append(f"- `{GGUF_FOLDER}/{name}`: {entry['quant']}, {entry['bytes'] / 2**20:.1f} MiB "
                     f"({entry['bytes']:,} bytes), sha256 `{entry['sha256']}`")
    if (folder / GGUF_FOLDER / gguf_export.MODELFILE).is_file():
        lines.append(f"- Ollama: `cd {GGUF_FOLDER} && ollama create {run_id.lower()} -f Modelfile` "
                     "(the Modelfile points at the latest export).")
    lines.append(f"- llama.cpp: `llama-cli -m {GGUF_FOLDER}/{sorted(index)[0]} -cnv`")
    return lines


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
    lines += _gguf_lines(run_id, folder)
    lines += ["", "Reproduce: `python -m training run config.yaml` with the configuration above.", ""]
    card = folder / "README.md"
    card.write_text("\n".join(lines), encoding="utf-8")
    for kind in ("adapter", "model", "merged", GGUF_FOLDER):
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
