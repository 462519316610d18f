"""python -m training search run CONFIG.yaml | check CONFIG.yaml | create CONFIG.yaml --storage URL |
worker --study NAME --storage URL: the Studies tab's searches without the UI.

`run` writes the run directory (config.yaml, events.jsonl with one `trial` event per trial state change,
study.journal unless the storage is an RDB URL, trials/, report.md, PNG plots, summary.json) and prints the
summary as JSON last. The full-length runs of phase 2 are training runs of their own (`run:<search id>-top1` ...).
Exit code 1 when the search failed, 2 on a config error found before it started.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def emitter(run_dir: Path, quiet: bool):
    from jobs import append_event

    def emit(event: str, **fields):
        append_event(run_dir, event, **fields)
        if not quiet and event not in ("train",):
            print(f"[{event}] " + ", ".join(f"{k}={v}" for k, v in fields.items()), file=sys.stderr, flush=True)

    return emit


def run_as_job(kind: str, title: str, run_dir: Path, body, *, quiet: bool = False) -> tuple[int, dict]:
    """The frame every search and study shares: a Run row in the store, the device held for the whole job, status
    events, and one readable sentence when it fails. `body(emit)` does the work and returns the summary."""
    import jobs
    import store
    from data.records import DataError
    from models.errors import ModelError
    from store.tables import Run
    from training import queue, recipe
    from training.__main__ import failure_message
    from training.config import ConfigError

    run_dir.mkdir(parents=True, exist_ok=True)
    run_id = run_dir.name
    emit = emitter(run_dir, quiet)
    with store.session() as s:
        if s.get(Run, run_id) is None:
            s.add(Run(id=run_id, kind=kind, status="queued", directory=str(run_dir.resolve()), pid=os.getpid(),
                      title=title))
    try:
        with queue.device_slot(run_id, emit, while_waiting=recipe.preload):
            jobs.set_status(run_id, "running", restart=True, pid=os.getpid())
            emit("status", status="running")
            summary = body(emit)
    except (ConfigError, DataError, ModelError) as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - a readable line for the UI, the traceback in the log
        import traceback

        traceback.print_exc()
        error = failure_message(exc, run_dir)
    else:
        emit("status", status="done")
        jobs.set_status(run_id, "done")
        return 0, summary
    emit("status", status="failed", error=error)
    jobs.set_status(run_id, "failed", error=error)
    return 1, {"run": run_id, "error": error}


def _load(path):
    from training.search.config import SearchConfig

    return SearchConfig.from_yaml(path)


def config_errors():
    from data.records import DataError
    from models.errors import ModelError
    from training.config import ConfigError

    return ConfigError, DataError, ModelError


def _cmd_run(args) -> int:
    from training.search import engine

    path = args.config or args.config_file
    if not path:
        print("error: give the search config: python -m training search run CONFIG.yaml", file=sys.stderr)
        return 2
    try:
        config = _load(path)
        config.check()
        if config.storage:
            engine.open_storage(config.storage, None)
    except config_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.run_dir:
        run_dir = Path(args.run_dir)
    else:
        from jobs import new_run_dir

        run_dir = new_run_dir("search")
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "config.yaml").exists():
        (run_dir / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
    title = f"search {config.protocol}: {len(config.space)} parameter(s) over {config.base_config().method.name} on " \
            f"{config.base_config().dataset}"
    code, summary = run_as_job("search", title, run_dir, lambda emit: engine.run(config, run_dir, emit), quiet=args.quiet)
    if code:
        print(f"error: {summary['error']}", file=sys.stderr)
    print(json.dumps(summary, indent=2, default=str))
    return code


def _cmd_check(args) -> int:
    from training.search import engine

    try:
        config = _load(args.config_file)
        base = config.check()
        if config.storage:
            engine.open_storage(config.storage, None)
    except config_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(config.space)} parameter(s), {config.trials} trial(s) of {config.scored_steps()} step(s) on "
          f"{base.base_model}; storage: {engine.masked(config.storage) if config.storage else 'journal file'}")
    print("ok")
    return 0


def _cmd_create(args) -> int:
    """Create the study in a shared storage without running trials: workers then pull from it."""
    from training.search import engine

    try:
        config = _load(args.config_file)
        config.storage = args.storage
        config.check()
        engine.open_study(config, args.study, None)
    except config_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"study": args.study, "storage": engine.masked(args.storage), "trials": config.trials}))
    return 0


def _cmd_worker(args) -> int:
    from jobs import new_run_dir
    from training.search import engine

    run_dir = Path(args.run_dir) if args.run_dir else new_run_dir("search-worker")
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        ran = engine.worker(args.study, args.storage, run_dir, emitter(run_dir, args.quiet), args.trials)
    except config_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"study": args.study, "trials_run": ran, "run_dir": str(run_dir)}))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training search", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a search (phase 1, phase 2, report)")
    p.add_argument("config_file", nargs="?")
    p.add_argument("--config", help="the config file (what the app passes)")
    p.add_argument("--run-dir", help="the run directory (default: a new one under runs/)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("check", help="validate a search config (and reach its storage) without training")
    p.add_argument("config_file")
    p.set_defaults(func=_cmd_check)
    p = sub.add_parser("create", help="create a study in a shared storage for workers")
    p.add_argument("config_file")
    p.add_argument("--storage", required=True, help="an RDB URL, e.g. postgresql://user@host/db")
    p.add_argument("--study", required=True, help="the study name workers join")
    p.set_defaults(func=_cmd_create)
    p = sub.add_parser("worker", help="pull phase-1 trials from a shared study until it has its trials")
    p.add_argument("--study", required=True)
    p.add_argument("--storage", required=True)
    p.add_argument("--trials", type=int, help="the study's total trials (default: its config's)")
    p.add_argument("--run-dir", help="where this worker's trial folders go (default: a new runs/ folder)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_worker)
    args = parser.parse_args(argv)
    if args.command == "run" and (problem := settle_dead_runs()):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    return args.func(args)


def settle_dead_runs() -> str | None:
    """Before a search or study starts: runs whose process died while nothing watched are marked failed with their
    last log line, as the app does at start-up; the store's sentence when it cannot be opened."""
    import jobs

    return jobs.reconcile_for_cli()
