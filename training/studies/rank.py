"""LoRA-rank study (the Phi-2/MedQuAD study): LoRA at each rank of a list plus "intrinsic", the TwoNN intrinsic
dimension of the model's hidden states over the training data (per layer; its max or mean), with alpha = k × rank.

The table gives per rank: trainable-parameter %, training time, eval loss and, with a benchmark such as
medquad-questeval, the QuestEval-style score, token F1 and their harmonic mean, and each column's ranking. The
intrinsic-dimension profile per layer is drawn for the base model and for each fine-tuned one.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from training import methods
from training.config import ConfigError
from training.studies import common
from training.studies.config import higher_is_better

INTRINSIC = "intrinsic"
COLUMNS = [  # (figure, header, lower is better; None: the metric registry says)
    ("trainable_percent", "trainable %", True), ("train_seconds", "training time (s)", True),
    ("eval_loss", "eval loss", None), ("questeval", "QuestEval-style", None), ("token_f1", "F1", None),
    ("questeval_f1_hmean", "harmonic mean", None),
]


def check(study, base):
    """The ranks and the method (alpha_k, intrinsic and intrinsic_examples: their metadata, StudyConfig.check)."""
    if not study.ranks:
        raise ConfigError("ranks is empty: list ranks such as [1, 6, 14, 64, intrinsic].")
    for r in study.ranks:
        if r != INTRINSIC and (not isinstance(r, int) or isinstance(r, bool) or not 1 <= r <= 4096):
            raise ConfigError(f"ranks: {r!r} is neither a rank from 1 to 4096 nor {INTRINSIC!r}.")
    if base.method.name not in methods.names(low_rank=True):
        raise ConfigError(f"The LoRA-rank study trains LoRA: set train.method.name to "
                          f"{' or '.join(methods.names(low_rank=True))} "
                          f"(got {base.method.name}).")


def profile_of(config, run_id: str | None, examples: int) -> list[float]:
    """TwoNN per layer over the first `examples` training examples (index 0: the embeddings)."""
    import gc

    from training.studies import intrinsic

    parts = common.model_parts(dataclasses.replace(config, limit=int(examples)), run_id)
    values = intrinsic.profile(parts["model"], common.batches(parts, parts["train"]))
    del parts
    gc.collect()
    return [round(float(v), 3) for v in values]


def run(study, run_dir: Path, emit) -> dict:
    from training.studies import intrinsic

    base = study.base_config()
    before = profile_of(base, None, study.intrinsic_examples)
    id_rank = intrinsic.rank_from_profile(before, study.intrinsic)
    emit("intrinsic_dimension", profile=before, rank=id_rank, how=study.intrinsic)
    plan: dict[int, str] = {}  # rank -> label; a listed rank equal to the intrinsic one is trained once
    for r in study.ranks:
        rank = id_rank if r == INTRINSIC else int(r)
        plan[rank] = plan.get(rank, f"r{rank}") + (" (intrinsic)" if r == INTRINSIC else "")
    rows, profiles = [], {"base": before}
    for rank, label in plan.items():
        config = common.with_method(base, rank=rank, alpha=None, alpha_k=float(study.alpha_k))
        row = common.train_run(study, run_dir, label, config, emit)
        row.update(rank=rank, alpha=rank * float(study.alpha_k), **(row.get("metrics") or {}))
        if row["state"] == "complete":
            profiles[label] = profile_of(config, row["run_id"], study.intrinsic_examples)
        rows.append(row)
    columns = [c for c in COLUMNS if any(r.get(c[0]) is not None for r in rows)]
    _rankings(rows, columns)
    plots = [_profile_plot(profiles, run_dir)]
    sections = [
        f"LoRA on {base.base_model}, {base.dataset}, {base.max_steps} steps per rank; alpha = {study.alpha_k:g} × rank. "
        f"The intrinsic dimension (TwoNN, {study.intrinsic} over layers, {study.intrinsic_examples} examples) is "
        f"**{id_rank}**.", "",
        common.table(rows, [("label", "rank"), ("alpha", "alpha")]
                     + [(f"{m}_cell", header) for m, header, _ in columns] + [("run_id", "run")]),
        "Each cell: the value (its place among the ranks, 1 = best).", "",
        "## Intrinsic dimension per layer", "",
        common.table([{"layer": i, **{k: v[i] for k, v in profiles.items()}} for i in range(len(before))],
                     [("layer", "layer (0 = embeddings)")] + [(k, k) for k in profiles]),
        *[f"![{name}]({name})" for name in plots if name]]
    common.write_report(run_dir, f"LoRA-rank study {run_dir.name}", sections)
    return {"study": study.study, "intrinsic_rank": id_rank, "profiles": profiles,
            "rows": [{k: v for k, v in r.items() if not k.endswith("_cell")} for r in rows]}


def _rankings(rows: list[dict], columns):
    """Each metric cell becomes 'value (#place)'."""
    for metric, _, lower in columns:
        lower = not higher_is_better(metric) if lower is None else lower
        scored = sorted((r for r in rows if r.get(metric) is not None), key=lambda r: r[metric], reverse=not lower)
        for place, r in enumerate(scored, 1):
            r[f"{metric}_place"] = place
        for r in rows:
            v = r.get(metric)
            r[f"{metric}_cell"] = "" if v is None else f"{v:.4g} (#{r[f'{metric}_place']})"


def _profile_plot(profiles: dict, run_dir: Path) -> str:
    fig, ax = common.figure()
    for name, values in profiles.items():
        ax.plot(range(len(values)), values, marker="o", label=name, linewidth=3 if name == "base" else 1.5,
                color="black" if name == "base" else None)
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel("TwoNN intrinsic dimension")
    ax.set_title("Intrinsic dimension per layer, before and after fine-tuning")
    ax.legend()
    return common.save(fig, run_dir / "intrinsic_dimension.png")
