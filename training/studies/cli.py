"""python -m training study run CONFIG.yaml | check CONFIG.yaml | list: the Studies tab's studies without the UI.

`run` writes the run directory (config.yaml, events.jsonl with a `study_run` event per run, report.md, PNG plots,
summary.json) and prints the summary as JSON last. Each trained model is a training run of its own
(`run:<study id>-<label>`). Exit code 1 when the study failed, 2 on a config error found before it started.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training.search.cli import config_errors


def _load(path):
    from training.studies.config import StudyConfig

    return StudyConfig.from_yaml(path)


def _cmd_run(args) -> int:
    from training.search.cli import run_as_job
    from training.studies.registry import STUDIES

    path = args.config or args.config_file
    if not path:
        print("error: give the study config: python -m training study run CONFIG.yaml", file=sys.stderr)
        return 2
    try:
        study = _load(path)
        base = study.check()
    except config_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.run_dir:
        run_dir = Path(args.run_dir)
    else:
        from jobs import new_run_dir

        run_dir = new_run_dir("study")
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "config.yaml").exists():
        (run_dir / "config.yaml").write_text(study.to_yaml(), encoding="utf-8")

    def body(emit):
        summary = STUDIES[study.study].run(study, run_dir, emit)
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        return summary

    title = f"{study.study} study: {base.method.name} {base.task} {base.base_model} on {base.dataset}"
    code, summary = run_as_job("study", title, run_dir, body, quiet=args.quiet)
    if code:
        print(f"error: {summary['error']}", file=sys.stderr)
    print(json.dumps(summary, indent=2, default=str))
    return code


def _cmd_check(args) -> int:
    try:
        study = _load(args.config_file)
        base = study.check()
    except config_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{study.study} on {base.base_model}, {base.dataset}")
    print("ok")
    return 0


def _cmd_list(args) -> int:
    from training.studies.registry import STUDIES

    for name, study in STUDIES.items():
        print(f"{name}: {study.description}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training study", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a study and write its report")
    p.add_argument("config_file", nargs="?")
    p.add_argument("--config", help="the config file (what the app passes)")
    p.add_argument("--run-dir", help="the run directory (default: a new one under runs/)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("check", help="validate a study config without training")
    p.add_argument("config_file")
    p.set_defaults(func=_cmd_check)
    p = sub.add_parser("list", help="the studies and what they compare")
    p.set_defaults(func=_cmd_list)
    args = parser.parse_args(argv)
    if args.command == "run":
        from training.search.cli import settle_dead_runs

        if problem := settle_dead_runs():
            print(f"error: {problem}", file=sys.stderr)
            return 2
    return args.func(args)
