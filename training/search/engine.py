"""The search itself: an Optuna study over training configs, in the shape of the studies behind this app.

- two-phase (the DDI study): phase 1 runs many short trials (trial_steps) that report their validation metric at
  every evaluation, so the pruner stops weak ones at once; phase 2 trains the top_k configurations to full length.
- early-score (the efficient fine-tuning study): every trial follows the full-length schedule but is scored after
  early_fraction of it and stopped; the top_k (or all, with verify_all) are trained to the end, and the report says
  how well early scores predicted final ones (Spearman rank correlation and top-5 overlap).
- single: phase 1 only.

Trials run one after another in this process (the device is held once for the whole search). Other machines join
phase 1 with `python -m training search worker --study NAME --storage URL` when the storage is an RDB URL.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from store.urls import masked  # the storage URL without its password, for messages and logs
from training.config import ConfigError
from training.search.config import SearchConfig
from training.search.trial import StopTrial, run_trial


# -- Optuna pieces from the config ---------------------------------------------------------------------------
def open_storage(url: str | None, run_dir: Path | None):
    """A journal file in the run directory by default; an RDB URL (sqlite:///, postgresql://) to share a study.
    An unreachable database is a ConfigError before any trial starts."""
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    if not url:
        if run_dir is None:
            raise ConfigError("A worker needs --storage: the RDB URL of the study it joins.")
        return JournalStorage(JournalFileBackend(str(run_dir / "study.journal")))
    if url.startswith("journal:"):
        return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    from store import urls

    url = urls.normalize(url)
    try:
        urls.check_driver(url)
        return RDBStorage(url, engine_kwargs={"pool_pre_ping": True}, heartbeat_interval=60, grace_period=300)
    except urls.StoreError as exc:
        raise ConfigError(f"storage: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - driver missing, host down, bad credentials: one sentence
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"storage {masked(url)}: cannot be reached ({type(exc).__name__}: {reason}).") from None


def sampler_of(config: SearchConfig):
    import optuna

    builders = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=config.seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=config.seed),
        "grid": lambda: optuna.samplers.GridSampler(config.grid(), seed=config.seed),
    }
    return builders[config.sampler]()


def pruner_of(config: SearchConfig):
    """Resources are training steps; min_resource counts evaluations, so it is scaled by eval_every."""
    import optuna

    min_steps = int(config.min_resource) * int(config.eval_every)
    builders = {
        "successive_halving": lambda: optuna.pruners.SuccessiveHalvingPruner(
            min_resource=min_steps, reduction_factor=int(config.reduction_factor)),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(
            min_resource=min_steps, max_resource=config.scored_steps(), reduction_factor=int(config.reduction_factor)),
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=int(config.n_startup_trials),
                                                      n_warmup_steps=max(min_steps - 1, 0)),
        "patience": lambda: optuna.pruners.PatientPruner(None, patience=int(config.patience)),
        "none": lambda: optuna.pruners.NopPruner(),
    }
    return builders[config.pruner]()


def open_study(config: SearchConfig, name: str, run_dir: Path | None, *, create: bool = True):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(config.storage, run_dir)
    if create:
        study = optuna.create_study(study_name=name, storage=storage, sampler=sampler_of(config),
                                    pruner=pruner_of(config), direction=config.direction, load_if_exists=True)
        study.set_user_attr("config", {**config.to_dict(), "storage": None})  # a URL may hold a password
        return study
    return optuna.load_study(study_name=name, storage=storage, sampler=sampler_of(config), pruner=pruner_of(config))


# -- phase 1 -------------------------------------------------------------------------------------------------
def objective_for(config: SearchConfig, trials_dir: Path, emit, tag: str = ""):
    """Optuna's objective: one short trial that reports at every evaluation and stops when pruned."""
    import optuna

    scored_at = config.scored_steps()
    max_steps = config.full_length() if config.protocol == "early-score" else int(config.trial_steps)

    def objective(trial):
        params = {name: param.suggest(trial) for name, param in config.space.items()}
        emit("trial", number=trial.number, phase=1, state="running", params=params)
        started = time.time()

        def on_eval(step: int, metrics: dict):
            value = metrics.get(config.objective)
            if value is None:
                raise ConfigError(f"objective {config.objective!r} is not among the validation metrics "
                                  f"({', '.join(k for k in metrics if k.startswith('eval_'))}).")
            trial.report(float(value), step)
            if step >= scored_at and config.protocol == "early-score":
                raise StopTrial("scored")
            if trial.should_prune():
                raise StopTrial("pruned")

        try:
            trial_config = config.trial_config(params, max_steps=max_steps, eval_every=int(config.eval_every))
            result = run_trial(trial_config, trials_dir / f"{tag}{trial.number:04d}", on_eval=on_eval)
        except Exception as exc:
            emit("trial", number=trial.number, phase=1, state="failed", params=params,
                 seconds=round(time.time() - started, 2), error=f"{type(exc).__name__}: {exc}")
            raise
        trial.set_user_attr("steps", result.steps)
        trial.set_user_attr("seconds", round(result.seconds, 2))
        value = result.last(config.objective)
        state = "pruned" if result.state == "pruned" else "complete"
        emit("trial", number=trial.number, phase=1, state=state, params=params, value=value, steps=result.steps,
             seconds=round(result.seconds, 2), peak_memory_mb=_peak_mb())
        if result.state == "pruned":
            raise optuna.TrialPruned(f"pruned at step {result.steps}")
        if value is None:
            raise ConfigError(f"the trial reported no {config.objective}")
        return float(value)

    return objective


def run_phase1(config: SearchConfig, study, trials_dir: Path, emit, tag: str = "") -> None:
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    objective = objective_for(config, trials_dir, emit, tag)
    done_states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    remaining = int(config.trials) - len(study.get_trials(deepcopy=False, states=done_states))
    if remaining > 0:
        study.optimize(objective, n_trials=remaining, timeout=config.timeout_s, catch=(Exception,),
                       callbacks=[MaxTrialsCallback(int(config.trials), states=done_states)], gc_after_trial=True)


# -- phase 2 -------------------------------------------------------------------------------------------------
def ranked(config: SearchConfig, trials: list) -> list:
    """Complete trials, best first."""
    from optuna.trial import TrialState

    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    return sorted(done, key=lambda t: t.value, reverse=config.direction == "maximize")


def run_phase2(config: SearchConfig, study, run_dir: Path, emit) -> list[dict]:
    """Full-length runs of the top_k (all with verify_all), each a training run of its own: run:<id> works."""
    best = ranked(config, study.trials)
    chosen = best if config.protocol == "early-score" and config.verify_all else best[:int(config.top_k)]
    finals = []
    for place, trial in enumerate(chosen, 1):
        run_id = f"{run_dir.name}-top{place}"
        full = config.trial_config(trial.params, max_steps=config.full_length(), eval_every=int(config.eval_every))
        full.tensorboard = bool(config.base_config().tensorboard)
        emit("final", number=trial.number, place=place, state="running", params=trial.params, run_id=run_id)
        target = run_dir.parent / run_id
        register_run(run_id, target, f"search {run_dir.name}: trial {trial.number} at full length")
        try:
            result = run_trial(full, target, keep_weights=True)
            finish_run(run_id, "done")
        except Exception as exc:  # noqa: BLE001 - one failed full run does not end the search
            error = f"{type(exc).__name__}: {exc}"
            finish_run(run_id, "failed", error)
            emit("final", number=trial.number, place=place, state="failed", params=trial.params, run_id=run_id,
                 error=error)
            continue
        value = result.last(config.objective)
        entry = {"number": trial.number, "place": place, "params": trial.params, "early": trial.value,
                 "value": value, "run_id": run_id, "steps": result.steps, "seconds": round(result.seconds, 2),
                 "peak_memory_mb": _peak_mb()}
        finals.append(entry)
        emit("final", state="complete", **entry)
    return finals


def register_run(run_id: str, folder: Path, title: str):
    import store
    from store.tables import Run

    folder.mkdir(parents=True, exist_ok=True)
    with store.session() as s:
        if s.get(Run, run_id) is None:
            s.add(Run(id=run_id, kind="training", status="running", directory=str(folder.resolve()), title=title,
                      pid=os.getpid()))


def finish_run(run_id: str, status: str, error: str | None = None):
    import jobs

    jobs.set_status(run_id, status, error=error)


def _peak_mb() -> float:
    from training.recipe import peak_memory_bytes

    return round(peak_memory_bytes() / 2**20, 1)


# -- the whole search ----------------------------------------------------------------------------------------
def run(config: SearchConfig, run_dir: Path, emit) -> dict:
    """Phase 1, phase 2 and the report; returns the summary (also summary.json)."""
    from training.search import report

    config.check()
    name = config.study_name or run_dir.name
    study = open_study(config, name, run_dir)
    emit("search", study=name, storage=masked(config.storage) if config.storage else "journal file",
         protocol=config.protocol, sampler=config.sampler, pruner=config.pruner, trials=config.trials)
    phases = []
    started = time.time()
    run_phase1(config, study, run_dir / "trials", emit)
    phases.append(report.phase_row("1: short trials" if config.protocol != "early-score" else "1: early scores",
                                   study.trials, time.time() - started, _peak_mb(), config))
    finals = []
    if config.protocol != "single":
        started = time.time()
        finals = run_phase2(config, study, run_dir, emit)
        phases.append(report.phase2_row(finals, time.time() - started, _peak_mb()))
    summary = report.summarize(config, study, phases, finals)
    summary["study"] = name
    report.write(config, study, summary, run_dir)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return summary


def worker(study_name: str, storage: str, run_dir: Path, emit, trials: int | None = None) -> int:
    """Join phase 1 of a study kept in an RDB storage: its config comes from the study itself."""
    import optuna

    try:
        loaded = optuna.load_study(study_name=study_name, storage=open_storage(storage, None))
    except KeyError:
        raise ConfigError(f"storage {masked(storage)} has no study {study_name!r}.") from None
    if "config" not in loaded.user_attrs:
        raise ConfigError(f"study {study_name!r} was not created by PharmaTune (it has no config).")
    config = SearchConfig.from_dict(loaded.user_attrs["config"], f"study {study_name}")
    config.storage = storage
    if trials:
        config.trials = int(trials)
    config.check()
    study = open_study(config, study_name, run_dir, create=False)
    before = len(study.trials)
    run_phase1(config, study, run_dir / "trials", emit, tag=f"w{os.getpid()}-")
    return len(study.trials) - before
