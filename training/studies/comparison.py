"""Method comparison × data selection (the regression study), and data selection on its own.

Rows are methods (full, LoRA, IA3, BitFit), columns data-selection strategies: `none` trains on train plus the
whole secondary set (`pool`), `influence` and `shapley` on train plus the pool examples they select. The scores
come first, from a reference run trained on train alone with the base config's method:

- influence (LiSSA): the gradient of the validation loss times an inverse-Hessian-vector product, against each
  pool example's gradient, over the reference model's trainable parameters; positive = helps validation.
- shapley (TS-DShapley): Monte-Carlo Shapley values of pool examples on frozen representations of the base model,
  with a simple model (ridge regression or logistic regression) scored on the validation set.

Selection keeps every positive score, or the top k. One table of the primary metric, one of training time.
The data-selection study is the same with the base method only, plus the scores themselves.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from training.config import ConfigError
from training.studies import common
from training.studies.config import SELECTIONS


def check(study, base, methods=None):
    """The methods, selections and pool, and the rules across them (select_rule, select_k and the LiSSA settings on
    their own: their metadata, StudyConfig.check)."""
    from training.methods import METHODS

    for name in methods or study.methods:
        if name not in METHODS:
            raise ConfigError(f"methods: {name!r} is not one of {', '.join(METHODS)}.")
    if not study.selections:
        raise ConfigError(f"selections is empty: choose from {', '.join(SELECTIONS)}.")
    for name in study.selections:
        if name not in SELECTIONS:
            raise ConfigError(f"selections: {name!r} is not one of {', '.join(SELECTIONS)}.")
    if any(s != "none" for s in study.selections) and not study.pool:
        raise ConfigError("Data selection picks examples from a secondary set: set pool (a data set or file).")
    if "shapley" in study.selections and base.task not in ("classification", "regression"):
        raise ConfigError(f"shapley selection fits a simple model to labels: it needs a classification or regression "
                          f"task (got {base.task}).")
    if study.select_rule == "top-k" and not (isinstance(study.select_k, int) and study.select_k >= 1):
        raise ConfigError(f"select_rule top-k needs select_k, a whole number of at least 1 (got {study.select_k}).")


def check_selection(study, base):
    check(study, base, methods=[base.method.name])


# -- scores --------------------------------------------------------------------------------------------------
def pool_items(study, base) -> list:
    """The pool in file order (scores and selection.json index it so), unlike training data, which is shuffled."""
    from training.tasks import records

    return records(dataclasses.replace(base, dataset=study.pool, limit=None), "train", shuffle=False)


def _features(parts, items, base, what: str) -> list:
    features = parts["task"].features(items, parts["tokenizer"], dataclasses.replace(base, batching="padding"),
                                      parts["extra"])[0]
    if len(features) != len(items):
        raise ConfigError(f"{len(items) - len(features)} {what} example(s) do not fit max_length {base.max_length}: "
                          "raise max_length so every candidate can be scored.")
    return features


def influence(study, base, reference_run: str, items) -> list[float]:
    from training.studies import selection

    parts = common.model_parts(base, reference_run)
    pool = _features(parts, items, base, "pool")
    scores = selection.influence_scores(parts["model"], common.batches(parts, parts["train"]),
                                        common.batches(parts, parts["eval"]), common.batches(parts, pool),
                                        damping=float(study.lissa_damping), scale=float(study.lissa_scale),
                                        recursion_depth=int(study.lissa_depth), seed=int(base.seed))
    return [float(s) for s in scores]


def shapley(study, base, items) -> list[float]:
    import numpy as np

    from training.studies import selection

    parts = common.model_parts(base, None)  # the base model's frozen representations
    pool = _features(parts, items, base, "pool")
    if not parts["eval"]:
        raise ConfigError("shapley selection scores on the validation set: set eval_split or eval_dataset.")
    model = parts["model"]
    targets = lambda feats: np.array([float(f["labels"]) for f in feats])  # noqa: E731
    values = selection.ts_dshapley(selection.representations(model, common.batches(parts, pool)), targets(pool),
                                   selection.representations(model, common.batches(parts, parts["eval"])),
                                   targets(parts["eval"]), task=base.task, resamples=int(study.shapley_resamples),
                                   permutations=int(study.shapley_permutations), seed=int(base.seed))
    return [float(v) for v in values]


SCORERS = {"influence": lambda study, base, ref, items: influence(study, base, ref, items),
           "shapley": lambda study, base, ref, items: shapley(study, base, items)}


# -- data sets per strategy ----------------------------------------------------------------------------------
def datasets(study, base, run_dir: Path, chosen: dict[str, list[int]], items) -> dict[str, object]:
    """A training config per strategy: train (as the base config limits it) plus the pool examples chosen."""
    from data import export
    from training import tasks

    folder = run_dir / "data"
    folder.mkdir(exist_ok=True)
    task = tasks.get(base.task)
    train_items = task.load_items(base, base.train_split)
    eval_dataset = base.eval_dataset
    if not eval_dataset and base.eval_split:
        eval_dataset = str(export.write(task.load_items(base, base.eval_split), folder / "validation.jsonl"))
    configs = {}
    for strategy, indices in chosen.items():
        records = train_items + [items[i] for i in indices]
        path = export.write(records, folder / f"train-{strategy}.jsonl")
        configs[strategy] = dataclasses.replace(base, dataset=str(path), train_split="train", limit=None,
                                                eval_dataset=eval_dataset)
    return configs


def run(study, run_dir: Path, emit, methods=None) -> dict:
    from training.studies import selection

    base = study.base_config()
    methods = methods or list(study.methods)
    items = pool_items(study, base) if study.pool else []
    chosen: dict[str, list[int]] = {}
    scores: dict[str, list[float]] = {}
    reference = None
    if any(s in SCORERS for s in study.selections):
        reference = common.train_run(study, run_dir, f"reference {base.method.name} train only", base, emit)
        if reference["state"] != "complete":
            raise ConfigError(f"The reference run (train only) failed, so nothing can be scored: {reference['error']}")
    for strategy in study.selections:
        if strategy == "none":
            chosen["none"] = list(range(len(items)))
            continue
        scores[strategy] = SCORERS[strategy](study, base, reference and reference["run_id"], items)
        chosen[strategy] = selection.select(scores[strategy], study.select_rule,
                                            study.select_k if study.select_rule == "top-k" else None)
        emit("selection", strategy=strategy, chosen=len(chosen[strategy]), pool=len(items))
    (run_dir / "selection.json").write_text(json.dumps({"scores": scores, "chosen": chosen}, indent=1))
    configs = datasets(study, base, run_dir, chosen, items)
    rows = []
    for method in methods:
        for strategy, config in configs.items():
            config = common.with_method(config, name=method)
            row = common.train_run(study, run_dir, f"{method} {strategy}", config, emit)
            rows.append({**row, "method": method, "selection": strategy, "added": len(chosen[strategy]),
                         study.metric: common.value(row, study.metric),
                         "train_seconds": (row.get("metrics") or {}).get("train_seconds")})
    return _report(study, base, run_dir, rows, methods, chosen, scores, reference, len(items))


def run_selection(study, run_dir: Path, emit) -> dict:
    return run(study, run_dir, emit, methods=[study.base_config().method.name])


def _grid(rows, methods, strategies, key) -> list[dict]:
    out = []
    for method in methods:
        line = {"method": method}
        for strategy in strategies:
            cell = next((r for r in rows if r["method"] == method and r["selection"] == strategy), None)
            line[strategy] = cell.get(key) if cell and cell["state"] == "complete" else "failed" if cell else None
        out.append(line)
    return out


def _report(study, base, run_dir, rows, methods, chosen, scores, reference, pool_size) -> dict:
    strategies = list(chosen)
    columns = [("method", "method")] + [(s, f"{s} (+{len(chosen[s])})") for s in strategies]
    sections = [f"{base.task} on {base.base_model}, {base.dataset} plus candidates from {study.pool or '(none)'} "
                f"({pool_size} examples); {base.max_steps} steps per run. Column headers give the examples added.", "",
                f"## {study.metric} ({'lower' if study.lower_is_better() else 'higher'} is better)", "",
                common.table(_grid(rows, methods, strategies, study.metric), columns),
                "## Training time (s)", "", common.table(_grid(rows, methods, strategies, "train_seconds"), columns)]
    if reference:
        sections += [f"Reference run (train only, {base.method.name}): {study.metric} = "
                     f"{common.value(reference, study.metric)}, `run:{reference['run_id']}`; the scores below use it.", ""]
    if scores:
        sections.append(f"![selection scores]({_scores_plot(scores, run_dir)})")
    common.write_report(run_dir, f"{'Data selection' if study.study == 'data-selection' else 'Method comparison'} "
                        f"{run_dir.name}", sections)
    return {"study": study.study, "rows": rows, "chosen": {k: len(v) for k, v in chosen.items()},
            "reference": reference}


def _scores_plot(scores: dict, run_dir: Path) -> str:
    fig, ax = common.figure()
    for name, values in scores.items():
        ax.hist(values, bins=20, alpha=0.6, label=name)
    ax.axvline(0, color="grey", linestyle="--")
    ax.set_xlabel("score (positive: helps the validation metric)")
    ax.set_ylabel("pool examples")
    ax.set_title("Data-selection scores")
    ax.legend()
    return common.save(fig, run_dir / "selection_scores.png")
