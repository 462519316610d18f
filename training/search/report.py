"""The search's report: the per-phase resource table (the DDI study's shape), the best configuration, how well
early scores predicted final ones, and Optuna's plots as PNG files beside report.md."""
from __future__ import annotations

from pathlib import Path

PLOTS = {  # file name -> (optuna.visualization.matplotlib function, title)
    "optimization_history.png": ("plot_optimization_history", "Optimization history"),
    "intermediate_values.png": ("plot_intermediate_values", "Validation metric at each evaluation (pruned trials stop)"),
    "parallel_coordinate.png": ("plot_parallel_coordinate", "Parallel coordinates"),
    "param_importances.png": ("plot_param_importances", "Parameter importances (fANOVA)"),
}


def _states(trials) -> dict:
    from collections import Counter

    return Counter(t.state.name.lower() for t in trials)


def phase_row(label: str, trials, seconds: float, peak_mb: float, config) -> dict:
    counts = _states(trials)
    finished = counts.get("complete", 0) + counts.get("pruned", 0) + counts.get("fail", 0)
    steps = sum(int(t.user_attrs.get("steps", 0)) for t in trials)
    times = [float(t.user_attrs["seconds"]) for t in trials if "seconds" in t.user_attrs]
    per_trial = config.full_length() if config.protocol == "early-score" else int(config.trial_steps)
    budget = finished * per_trial  # what phase 1 would have trained with nothing pruned or scored early
    return {"phase": label, "trials": finished, "complete": counts.get("complete", 0),
            "pruned": counts.get("pruned", 0), "failed": counts.get("fail", 0),
            "pruned_percent": round(100 * counts.get("pruned", 0) / finished, 1) if finished else 0.0,
            "steps": steps, "steps_unpruned": budget,
            "avg_trial_s": round(sum(times) / len(times), 2) if times else None,
            "duration_s": round(seconds, 1), "peak_memory_mb": peak_mb}


def phase2_row(finals: list[dict], seconds: float, peak_mb: float) -> dict:
    times = [f["seconds"] for f in finals]
    return {"phase": "2: full runs", "trials": len(finals), "complete": len(finals), "pruned": 0, "failed": 0,
            "pruned_percent": 0.0, "steps": sum(f["steps"] for f in finals), "steps_unpruned": None,
            "avg_trial_s": round(sum(times) / len(times), 2) if times else None, "duration_s": round(seconds, 1),
            "peak_memory_mb": peak_mb}


def prediction(finals: list[dict], direction: str, top: int = 5) -> dict | None:
    """How well early (phase-1) scores predicted the final ones: Spearman's rho and the top-k overlap."""
    pairs = [(f["early"], f["value"]) for f in finals if f.get("early") is not None and f.get("value") is not None]
    if len(pairs) < 3:
        return None
    from scipy.stats import spearmanr

    early, final = zip(*pairs)
    rho = spearmanr(early, final).statistic
    k = min(top, len(pairs))
    reverse = direction == "maximize"
    by_early = sorted(range(len(pairs)), key=lambda i: early[i], reverse=reverse)[:k]
    by_final = sorted(range(len(pairs)), key=lambda i: final[i], reverse=reverse)[:k]
    return {"spearman": None if rho != rho else round(float(rho), 3), "top_k": k,
            "overlap": len(set(by_early) & set(by_final)), "pairs": len(pairs)}


def summarize(config, study, phases: list[dict], finals: list[dict]) -> dict:
    from training.search.engine import ranked

    best_trials = ranked(config, study.trials)
    best = None
    if finals:
        pick = (min if config.direction == "minimize" else max)(finals, key=lambda f: f["value"])
        best = {"params": pick["params"], "value": pick["value"], "run_id": pick["run_id"], "trial": pick["number"]}
    elif best_trials:
        best = {"params": best_trials[0].params, "value": best_trials[0].value, "run_id": None,
                "trial": best_trials[0].number}
    phase1 = phases[0]
    return {"objective": config.objective, "direction": config.direction, "protocol": config.protocol,
            "phases": phases, "finals": finals, "best": best,
            "compute_saved_percent": round(100 * (1 - phase1["steps"] / phase1["steps_unpruned"]), 1)
            if phase1["steps_unpruned"] else None,
            "prediction": prediction(finals, config.direction) if config.protocol == "early-score" else None,
            "steps_total": sum(p["steps"] for p in phases)}


def optuna_figure(study, function: str, title: str):
    """One of Optuna's matplotlib plots as a titled 8×5 figure; the caller saves and closes it."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import optuna.visualization.matplotlib as ovm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        axes = getattr(ovm, function)(study)
    figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
    figure.suptitle(title)
    figure.set_size_inches(8, 5)
    figure.tight_layout()
    return figure


def plots(study, folder: Path) -> dict[str, str]:
    """Optuna's matplotlib plots as PNG; a plot that needs more finished trials is left out with the reason."""
    import matplotlib.pyplot as plt

    skipped = {}
    for name, (function, title) in PLOTS.items():
        try:
            figure = optuna_figure(study, function, title)
            figure.savefig(folder / name, dpi=90)
        except Exception as exc:  # noqa: BLE001 - e.g. importances need two complete trials
            skipped[name] = f"{type(exc).__name__}: {exc}"
            (folder / name).unlink(missing_ok=True)
        finally:
            plt.close("all")
    return skipped


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    head = "| " + " | ".join(label for _, label in columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join("| " + " | ".join("" if r.get(key) is None else str(r.get(key)) for key, _ in columns) + " |\n"
                   for r in rows)
    return head + body


def write(config, study, summary: dict, run_dir: Path) -> Path:
    skipped = plots(study, run_dir)
    lines = [f"# Search {summary.get('study', run_dir.name)}", "",
             f"Objective: {config.objective} ({config.direction}); protocol {config.protocol}; sampler {config.sampler}; "
             f"pruner {config.pruner}; {config.trials} phase-1 trials of {config.scored_steps()} step(s), evaluated "
             f"every {config.eval_every}.", "", "## Resources per phase", "",
             _table(summary["phases"], [("phase", "phase"), ("trials", "trials"), ("pruned_percent", "pruned %"),
                                        ("failed", "failed"), ("steps", "steps run"),
                                        ("avg_trial_s", "avg time per trial (s)"), ("duration_s", "duration (s)"),
                                        ("peak_memory_mb", "peak memory (MB)")])]
    if summary.get("compute_saved_percent") is not None:
        lines.append(f"Phase 1 ran {summary['phases'][0]['steps']} of {summary['phases'][0]['steps_unpruned']} "
                     f"steps an unpruned phase would have run: {summary['compute_saved_percent']} % saved.\n")
    best = summary.get("best")
    if best:
        lines += ["## Best configuration", "", f"{config.objective} = {best['value']}"
                  + (f" (full-length run `run:{best['run_id']}`)" if best.get("run_id") else f" (trial {best['trial']})"),
                  "", "```yaml", *[f"{k}: {v}" for k, v in best["params"].items()], "```", ""]
    if summary.get("finals"):
        lines += ["## Full-length runs", "",
                  _table(summary["finals"], [("place", "phase-1 place"), ("number", "trial"), ("early", "phase-1 score"),
                                             ("value", "final score"), ("steps", "steps"), ("seconds", "seconds"),
                                             ("run_id", "run")])]
    pred = summary.get("prediction")
    if pred:
        lines += ["## Did early scores predict final ones?", "",
                  f"Spearman rank correlation {pred['spearman']} over {pred['pairs']} configurations; top-{pred['top_k']} "
                  f"overlap {pred['overlap']} of {pred['top_k']}.", ""]
    lines += ["## Plots", ""]
    for name, (_, title) in PLOTS.items():
        lines.append(f"![{title}]({name})" if name not in skipped else f"- {title}: not drawn ({skipped[name]})")
    path = run_dir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def live_figures(journal: Path, study_name: str) -> list:
    """Optuna's optimization history and intermediate values of a running search, drawn from its journal file:
    [(PIL image, caption)], leaving out a plot that cannot be drawn yet (no complete trial)."""
    import io

    import matplotlib.pyplot as plt
    import optuna
    from PIL import Image

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name=study_name, storage=storage)
    images = []
    for function, title in (("plot_optimization_history", "Optimization history (live)"),
                            ("plot_intermediate_values", "Validation metric at each evaluation (live)")):
        try:
            buffer = io.BytesIO()
            optuna_figure(study, function, title).savefig(buffer, format="png", dpi=80)
            buffer.seek(0)
            image = Image.open(buffer)
            image.load()
            images.append((image, title))
        except Exception:  # noqa: BLE001 - e.g. no complete trial yet
            pass
        finally:
            plt.close("all")
    return images
