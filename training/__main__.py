"""python -m training run CONFIG.yaml | check CONFIG.yaml | resume RUN_ID | export RUN_ID: the Fine-tune tab
without the UI. `search ...`, `study ...`, `openai ...` and `pairs ...` (preference pairs from a model's
mistakes) are their own command families (see FAMILIES).

`run` writes the run directory (config.yaml, events.jsonl, checkpoints/, adapter/ or model/, summary.json,
tensorboard/), waits for the device if another training job holds it, and prints the summary as JSON last on
stdout. Exit code 1 when the run failed (checkpoints are kept), 2 on a config or data error found before it
started. The same entry point runs under `accelerate launch` (one process per device; rank 0 writes the files).
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import sys
from pathlib import Path

from training.preflight import check


def _emitter(run_dir: Path, quiet: bool):
    from jobs import append_event

    def emit(event: str, **fields):
        append_event(run_dir, event, **fields)
        if quiet:
            return
        if event == "train":
            extra = "".join(f"  {label} {fields[key]:.3f}" for key, label in (
                ("reward_mean", "reward"), ("kl", "kl"), ("margin", "margin"), ("accuracy", "accuracy"))
                if isinstance(fields.get(key), (int, float)))
            print(f"  step {fields['step']}/{fields['max_steps']}  loss {fields['loss']:.4f}{extra}  "
                  f"{fields['tokens_per_s']:.0f} tok/s  ETA {fields['eta_s']:.0f} s", file=sys.stderr, flush=True)
        elif event in ("setup", "eval", "resume", "resume_items", "queued", "status", "checkpoint", "evaluation"):
            print(f"[{event}] " + ", ".join(f"{k}={v}" for k, v in fields.items()), file=sys.stderr, flush=True)

    return emit


def failure_message(exc: BaseException, run_dir: Path) -> str:
    """One sentence for the UI; checkpoints stay where they are."""
    import torch

    has_checkpoints = any((run_dir / "checkpoints").glob("checkpoint-*"))
    kept = f" Checkpoints so far are kept in {run_dir / 'checkpoints'}." if has_checkpoints else ""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return ("Out of memory: lower batch_size or max_length, turn on gradient_checkpointing, or pick a smaller "
                "model." + kept)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"The disk is full ({exc.filename or 'while writing'}): free space, then resume." + kept
    return f"{type(exc).__name__}: {exc}".strip() + kept


def run(config, run_dir: Path, *, resume: bool = False, quiet: bool = False) -> tuple[int, dict]:
    import jobs
    import store
    from data.records import DataError
    from models.errors import ModelError
    from store.tables import Run
    from training import queue, recipe, tracking
    from training.config import ConfigError

    run_dir.mkdir(parents=True, exist_ok=True)
    run_id = run_dir.name
    rank, world_size = recipe.world()
    emit = _emitter(run_dir, quiet) if rank == 0 else (lambda event, **fields: None)
    if rank == 0:
        with store.session() as s:
            if s.get(Run, run_id) is None:
                s.add(Run(id=run_id, kind="training", status="queued", directory=str(run_dir.resolve()),
                          pid=os.getpid(), title=f"{config.method.name} {config.task} {config.base_model} on {config.dataset}"))
    summary: dict = {"run": run_id}
    try:
        slot = (queue.device_slot(run_id, emit, while_waiting=recipe.preload) if rank == 0 and world_size == 1
                else contextlib.nullcontext())
        with slot:
            if rank == 0:
                jobs.set_status(run_id, "running", restart=True, pid=os.getpid())
                emit("status", status="running")
            if rank == 0:
                if tracking.problems(config.report_to):
                    raise ConfigError("; ".join(tracking.problems(config.report_to)) + ".")
                tracking.start(config, run_dir)
            summary = recipe.train(config, run_dir, emit, resume=resume)
            if rank == 0 and config.evaluate:
                summary["evaluation"] = evaluate_after(config, run_dir, emit)
                (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    except (ConfigError, DataError, ModelError) as exc:
        return _fail(run_id, run_dir, emit, str(exc), summary, rank, config)
    except BaseException as exc:  # noqa: BLE001 - OOM, disk full, a bug: a readable line, the traceback in the log
        if isinstance(exc, KeyboardInterrupt):
            raise
        import traceback

        traceback.print_exc()
        return _fail(run_id, run_dir, emit, failure_message(exc, run_dir), summary, rank, config)
    if rank == 0:
        try:
            tracking.finish(config, summary)
        except Exception as exc:  # noqa: BLE001 - the run itself is done: a tracker's failure is a warning
            print(f"[tracking] could not log the end of the run: {exc}", file=sys.stderr)
        emit("status", status="done", **{k: summary.get(k) for k in ("trainable_params", "trainable_percent", "steps")})
        jobs.set_status(run_id, "done")
    return 0, summary


def _fail(run_id, run_dir, emit, error: str, summary: dict, rank: int, config=None):
    import jobs
    from training import tracking

    if rank == 0:
        if config is not None:
            try:
                tracking.finish(config, summary, failed=True)
            except Exception as exc:  # noqa: BLE001 - a tracker that fails must not hide the run's own error
                print(f"[tracking] could not close the tracker's run: {exc}", file=sys.stderr)
        emit("status", status="failed", error=error)
        jobs.set_status(run_id, "failed", error=error)
    summary["error"] = error
    return 1, summary


def evaluate_after(config, run_dir: Path, emit) -> list[dict]:
    """Benchmarks on run:<id> (and rows on the leaderboard), in this process, after the trainer has gone."""
    import gc

    import settings
    from evaluation import benchmark as benchmarks, leaderboard
    from evaluation.runner import Options, evaluate

    gc.collect()
    os.environ["PHARMATUNE_DTYPE"] = settings.evaluation_dtype()
    model_ref = f"run:{run_dir.name}"
    rows = []
    for name in config.evaluate:
        bench = benchmarks.load(name)
        why = bench.availability()
        if why:
            emit("evaluation", benchmark=name, skipped=why)
            continue
        emit("evaluation", benchmark=name, model=model_ref, started=True)
        results = evaluate(model_ref, bench, run_dir / "evaluation" / name, Options(limit=config.evaluate_limit), emit)
        for result, row_id in zip(results, leaderboard.add(results, run_dir.name)):
            entry = {**result.summary(), "leaderboard_id": row_id}
            rows.append(entry)
            emit("evaluation", **entry)
    return rows


def _load_config(path):
    from training.config import TrainConfig

    return TrainConfig.from_yaml(path)


def _cmd_run(args) -> int:
    from data.records import DataError
    from models.errors import ModelError
    from training.config import ConfigError

    config_path = args.config or args.config_file
    if not config_path:
        print("error: give the config file: python -m training run CONFIG.yaml", file=sys.stderr)
        return 2
    if args.resume and not args.run_dir:
        print("error: --resume needs the run directory to continue: --run-dir runs/<id> "
              "(or: python -m training resume RUN_ID)", file=sys.stderr)
        return 2
    try:
        config = _load_config(config_path)
        if args.resume:
            from training.recipe import latest_checkpoint

            latest_checkpoint(Path(args.run_dir))
    except (ConfigError, DataError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.run_dir:
        run_dir = Path(args.run_dir)
    else:
        from jobs import new_run_dir

        run_dir = new_run_dir("training")
    if not (run_dir / "config.yaml").exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
    code, summary = run(config, run_dir, resume=args.resume, quiet=args.quiet)
    if code:
        print(f"error: {summary['error']}", file=sys.stderr)
    print(json.dumps(summary, indent=2, default=str))
    return code


def _cmd_check(args) -> int:
    from data.records import DataError
    from models.errors import ModelError
    from training.config import ConfigError

    try:
        for line in check(_load_config(args.config_file)):
            print(line)
    except (ConfigError, DataError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("ok")
    return 0


def _cmd_resume(args) -> int:
    import settings

    run_dir = settings.runs_dir() / args.run_id
    args.config, args.config_file, args.run_dir, args.resume = str(run_dir / "config.yaml"), None, str(run_dir), True
    return _cmd_run(args)


def _cmd_export(args) -> int:
    from errors import UserError
    from training import export

    try:
        if args.what == "merged":
            print(export.merged(args.run_id))
        elif args.what == "card":
            print(export.model_card(args.run_id))
        elif args.what == "adapter":
            print(export.adapter_folder(args.run_id))
        elif args.what == "gguf":
            print(f"Exporting run:{args.run_id} to GGUF {args.quant} (merging its adapter first if needed) ...",
                  file=sys.stderr, flush=True)
            result = export.gguf(args.run_id, args.quant)
            print(result.summary())
            for note in result.notes:
                print(f"note: {note}")
        else:
            print(export.push(args.run_id, args.repo))
    except (UserError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


# Command families with their own parsers: python -m training <family> --help lists their commands.
FAMILIES = {
    "search": "training.search.cli",
    "study": "training.studies.cli",
    "openai": "openai_ft.cli",
    "pairs": "training.pairs",  # preference pairs from an evaluation's wrong answers (python -m training pairs --help)
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in FAMILIES:
        import importlib

        return importlib.import_module(FAMILIES[argv[0]]).main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n\n")[0],
                                     epilog="also: " + ", ".join(f"python -m training {f} --help" for f in FAMILIES))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train from a config file")
    p.add_argument("config_file", nargs="?")
    p.add_argument("--config", help="the config file (what the app passes)")
    p.add_argument("--run-dir", help="the run directory (default: a new one under runs/)")
    p.add_argument("--resume", action="store_true", help="continue from the run directory's last checkpoint")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("check", help="validate a config, its data and its targets without training")
    p.add_argument("config_file")
    p.set_defaults(func=_cmd_check)
    p = sub.add_parser("resume", help="continue a stopped run from its last checkpoint")
    p.add_argument("run_id")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_resume)
    p = sub.add_parser("export", help="a run's adapter, merged model, GGUF file, model card, or a push to the Hub")
    p.add_argument("run_id")
    p.add_argument("what", choices=["adapter", "merged", "gguf", "card", "push"])
    p.add_argument("--repo", help="push: the Hub repository id (needs HF_TOKEN)")
    p.add_argument("--quant", default="q8_0", help="gguf: f16, q8_0 (default), q4_1, bf16 or f32 "
                                                   "(q4_k where the installed gguf package can write it)")
    p.set_defaults(func=_cmd_export)
    args = parser.parse_args(argv)
    if args.command in ("run", "resume") and (problem := _settle_dead_runs()):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    return args.func(args)


def _settle_dead_runs() -> str | None:
    """Before a run starts: runs whose process died while nothing watched (kill -9, a reboot) are marked failed
    with their last log line, as the app does at start-up; the store's sentence when it cannot be opened."""
    import jobs

    return jobs.reconcile_for_cli()


if __name__ == "__main__":
    sys.exit(main())
