"""python -m evaluation run | check | list | leaderboard | compare: the Evaluate and Leaderboard tabs without the UI.

`run` prints progress on stderr and a JSON summary of the metrics last on stdout. Exit code 1 when the
evaluation failed (bad data, a model that broke; finished items are kept), 2 on a usage error.

A benchmark from your own file, without YAML (evaluation.custom):
  run --model M --dataset FILE_OR_REF --template KEY --reference COLUMN --mode choice|generate|both
      [--split S] [--labels a,b] [--metrics m1,m2] [--field placeholder=column ...] [--save-benchmark NAME]
  (--template-text TEXT [--system TEXT] instead of --template: the prompt itself, with {column} placeholders.)
  Without --save-benchmark the benchmark is written into the run folder (benchmark.yaml) and config.yaml names it;
  with it, it is saved under NAME (settings.data_dir()/benchmarks), `list` shows it and `--benchmark NAME` runs it.
  A benchmark that cannot be made from the flags (a column the template needs, an empty file ...) exits 2 with one
  sentence, before any model loads. `check` takes the same flags (or --benchmark NAME) and prints the first three
  rendered prompts and the item and label counts without running a model.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _emitter(run_dir: Path, quiet: bool):
    from jobs import append_event

    def emit(event: str, **fields):
        append_event(run_dir, event, **fields)
        if quiet:
            return
        if event == "progress":
            rate = f", {fields['items_per_s']:.2f} items/s, ETA {fields['eta_s']:.0f} s" if fields.get("items_per_s") else ""
            print(f"  {fields['variant']}: {fields['done']}/{fields['total']}{rate}", file=sys.stderr, flush=True)
        elif event in ("start", "skipped", "resume_items", "scoring", "status"):
            print(f"[{event}] " + ", ".join(f"{k}={v}" for k, v in fields.items()), file=sys.stderr, flush=True)

    return emit


def run(config, run_dir: Path, quiet: bool = False) -> tuple[int, dict]:
    """Evaluate every (model, benchmark) of the config; results land on the leaderboard as each one finishes."""
    import jobs
    import store
    from evaluation import benchmark as benchmarks, leaderboard
    from evaluation.config import slug
    from evaluation.runner import EvaluationFailed, Options, evaluate
    from models.errors import ModelError
    from store.tables import Run

    import settings

    os.environ["PHARMATUNE_DTYPE"] = settings.evaluation_dtype()  # this process only evaluates
    run_dir.mkdir(parents=True, exist_ok=True)
    run_id = run_dir.name
    with store.session() as s:
        if s.get(Run, run_id) is None:
            s.add(Run(id=run_id, kind="evaluation", status="running", directory=str(run_dir.resolve()),
                      pid=os.getpid(), title=", ".join(config.models) + " on " + ", ".join(config.benchmarks)))
    jobs.set_status(run_id, "running", restart=True, pid=os.getpid())
    emit = _emitter(run_dir, quiet)
    emit("status", status="running")
    summary = {"run": run_id, "results": [], "skipped": []}
    opts = Options(limit=config.limit, batch_size=config.batch_size, variants=config.variants, judge=config.judge,
                   predictions_file=config.predictions, api_key=os.environ.get("PHARMATUNE_SESSION_OPENAI_KEY"))
    try:
        benches = [benchmarks.load(name) for name in config.benchmarks]
        for model in config.models:
            for bench in benches:
                why = bench.availability()
                if why:
                    emit("skipped", model=model, benchmark=bench.name, reason=why)
                    summary["skipped"].append({"model": model, "benchmark": bench.name, "reason": why})
                    continue
                emit("start", model=model, benchmark=bench.name)
                results = evaluate(model, bench, run_dir / f"{slug(model)}__{bench.name}", opts, emit)
                ids = leaderboard.add(results, run_id) if config.leaderboard else [None] * len(results)
                for r, row_id in zip(results, ids):
                    entry = {**r.summary(), "leaderboard_id": row_id}
                    if "robustness" in r.details:
                        summary.setdefault("robustness", {})[f"{model} / {bench.name}"] = r.details["robustness"]
                    summary["results"].append(entry)
                    emit("result", **entry, details={k: v for k, v in r.details.items() if k != "robustness"})
    except (EvaluationFailed, benchmarks.BenchmarkError, ModelError, ValueError) as exc:
        emit("status", status="failed", error=str(exc))
        jobs.set_status(run_id, "failed", error=str(exc))
        summary["error"] = str(exc)
        return 1, summary
    except Exception as exc:  # noqa: BLE001 - a bug: keep the traceback in the log, a readable line for the UI
        import traceback

        traceback.print_exc()
        error = f"unexpected {type(exc).__name__}: {exc}"
        emit("status", status="failed", error=error)
        jobs.set_status(run_id, "failed", error=error)
        summary["error"] = error
        return 1, summary
    emit("status", status="done")
    jobs.set_status(run_id, "done")
    return 0, summary


def unfinished_run_of(config, benchmark_text: str | None = None) -> Path | None:
    """The newest evaluation run of exactly this configuration that failed, was cancelled or died, so that
    rerunning an interrupted command continues it instead of starting from zero. `benchmark_text`: the run's own
    benchmark (a one-off from --dataset): a run matches when its benchmark.yaml holds that text and its config
    names that file."""
    import jobs
    import yaml

    from evaluation.custom import ONE_OFF_FILE

    for run in jobs.list_runs("evaluation"):
        run = jobs.poll(run.id) if run.status not in jobs.TERMINAL else run  # a killed one is settled as failed
        if run is None or run.status not in ("failed", "cancelled") or not run.directory:
            continue
        wanted = config.to_dict()
        try:
            found = yaml.safe_load((Path(run.directory) / "config.yaml").read_text(encoding="utf-8"))
            if benchmark_text is not None:
                own = Path(run.directory) / ONE_OFF_FILE
                if own.read_text(encoding="utf-8") != benchmark_text:
                    continue
                wanted["benchmarks"] = [str(own)]
        except (OSError, yaml.YAMLError):
            continue
        if found == wanted:
            return Path(run.directory)
    return None


class _Usage(Exception):
    """A command line that cannot run as typed (exit 2)."""


CUSTOM_FLAGS = ("template", "template_text", "system", "reference", "mode", "labels", "metrics", "field", "split",
                "save_benchmark")


def _custom_benchmark(args):
    """The benchmark the --dataset flags describe (evaluation.custom.build), or None without --dataset."""
    from evaluation import custom

    given = [f"--{flag.replace('_', '-')}" for flag in CUSTOM_FLAGS if getattr(args, flag, None) not in (None, [])]
    if not args.dataset:
        if given:
            verb = "goes" if len(given) == 1 else "go"
            raise _Usage(f"{', '.join(given)} only {verb} with --dataset FILE, a benchmark made from your own file "
                         "(a named benchmark is --benchmark NAME alone)")
        return None
    if args.benchmark:
        raise _Usage("give --dataset (a benchmark made from your file) or --benchmark (a named one), not both")
    if getattr(args, "config", None):
        raise _Usage("--config names the whole evaluation; give it alone, without --dataset")
    if not args.template and not args.template_text:
        raise _Usage("--dataset needs --template KEY (a prompts/ key such as ddi.binary) or --template-text TEXT "
                     "(the prompt itself, with {column} placeholders)")
    if args.template and args.template_text:
        raise _Usage("give --template KEY or --template-text TEXT, not both")
    if args.system and not args.template_text:
        raise _Usage("--system goes with --template-text (a prompts/ key brings its own system message)")
    if not args.reference:
        raise _Usage("--dataset needs --reference COLUMN: the column holding the right answer (e.g. label)")
    fields = {}
    for entry in args.field or []:
        placeholder, sep, column = entry.partition("=")
        if not sep or not placeholder.strip() or not column.strip():
            raise _Usage(f"--field {entry!r}: write placeholder=column, e.g. --field drug1=name_a")
        fields[placeholder.strip()] = column.strip()
    template = args.template or {"user": args.template_text, **({"system": args.system} if args.system else {})}
    return custom.build(args.dataset, template=template, reference=args.reference, mode=args.mode or "generate",
                        fields=fields, labels=args.labels, metrics=args.metrics, split=args.split)


def _cmd_run(args) -> int:
    from evaluation import custom
    from evaluation.benchmark import BenchmarkError
    from evaluation.config import ConfigError, EvalConfig

    one_off = None  # the YAML of a --dataset benchmark that is not saved: it goes into the run folder
    try:
        if not args.config and not args.model and not args.predictions:
            raise ConfigError("give --model REF (or --predictions FILE), or --config FILE")
        bench = _custom_benchmark(args)
        if args.config:
            config = EvalConfig.from_yaml(args.config)
        else:
            names = args.benchmark or []
            if bench is not None and args.save_benchmark:
                path = custom.save(bench, args.save_benchmark, overwrite=args.overwrite)
                print(f"[saved] benchmark {args.save_benchmark}: {path}", file=sys.stderr, flush=True)
                names = [args.save_benchmark]
            elif bench is not None:
                one_off = custom.to_yaml(bench)
                names = [custom.ONE_OFF_FILE]  # the run folder's file, named once the folder is known
            config = EvalConfig(models=args.model or [f"file:{Path(args.predictions).name}"],
                                benchmarks=names, limit=args.limit, batch_size=args.batch_size,
                                variants=args.variant, judge=args.judge, predictions=args.predictions,
                                leaderboard=not args.no_leaderboard)
    except (ConfigError, TypeError, BenchmarkError, _Usage) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.run_dir or args.out:
        run_dir = Path(args.run_dir or args.out)
    else:
        from jobs import new_run_dir

        run_dir = unfinished_run_of(config, one_off)
        if run_dir is not None:
            print(f"[resume] {run_dir.name} ran this same configuration and did not finish: continuing it "
                  "(its finished items are kept)", file=sys.stderr, flush=True)
        else:
            run_dir = new_run_dir("eval")
    if not args.config:
        (run_dir).mkdir(parents=True, exist_ok=True)
        if one_off is not None:
            config.benchmarks = [str(custom.write_one_off(bench, run_dir))]
        (run_dir / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
    code, summary = run(config, run_dir, quiet=args.quiet)
    if code:
        print(f"error: {summary['error']}", file=sys.stderr)
        print("Run the same command again to continue from the finished items.", file=sys.stderr)
    print(json.dumps(summary, indent=2, default=str))
    return code


def _cmd_check(args) -> int:
    """The first rendered prompts and the item and label counts of a benchmark, without running a model."""
    from evaluation import benchmark as benchmarks, custom

    try:
        bench = _custom_benchmark(args)
        if bench is None:
            if not args.benchmark or len(args.benchmark) != 1:
                raise _Usage("check one benchmark: --benchmark NAME, or --dataset FILE --template KEY --reference "
                             "COLUMN [--mode ...]")
            bench = benchmarks.load(args.benchmark[0])
            why = bench.availability()
            if why:
                raise benchmarks.BenchmarkError(why)
        found = custom.check(bench, n=args.n)
    except (benchmarks.BenchmarkError, _Usage) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(found, indent=2, ensure_ascii=False, default=str))
        return 0
    print(f"{found['name']}: {found['items']} items from {found['dataset']}"
          + (f" ({found['split']})" if found["dataset"].startswith(("bundled:", "shared:")) else "")
          + f"; mode {', '.join(found['modes'])}; parser {found['parser']}; reference {found['reference']}")
    if found.get("labels"):
        print("labels: " + ", ".join(f"{label} {count}" for label, count in found["labels"].items()))
    if found.get("numbers"):
        n = found["numbers"]
        print(f"references: numbers from {n['min']:g} to {n['max']:g} (mean {n['mean']:g})")
    if found.get("placeholders"):
        print("placeholders: " + ", ".join(f"{{{p}}} <- {c}" for p, c in found["placeholders"].items()))
    print("metrics: " + ", ".join(found["metrics"]))
    for warning in found["warnings"]:
        print(f"warning: {warning}")
    for i, messages in enumerate(found["prompts"], 1):
        print(f"\n--- prompt {i} ---")
        for m in messages:
            print(f"[{m['role']}]\n{m['content']}")
    return 0


def _cmd_list(args) -> int:
    from evaluation import benchmark as benchmarks
    from evaluation.metrics import all_metrics

    print(f"Benchmarks (evaluation/benchmarks/; [saved]: yours, in {benchmarks.user_folder()}):")
    saved = set(benchmarks.saved_names())
    for name in benchmarks.names():
        mark = "[saved] " if name in saved else ""
        try:
            bench = benchmarks.load(name)
            why = bench.availability()
            print(f"  {name:24} {mark}{bench.description}" + (f"  [unavailable: {why}]" if why else ""))
        except benchmarks.BenchmarkError as exc:
            print(f"  {name:24} {mark}[broken] {exc}")
    print("\nMetrics (↑ higher is better, ↓ lower is better):")
    for name, m in sorted(all_metrics().items()):
        outs = ", ".join(f"{o} {'↑' if up else '↓'}" for o, up in m.outputs.items())
        print(f"  {name:22} {m.description}{'  [heavy]' if m.heavy else ''}\n  {'':22} outputs: {outs}")
    return 0


def _cmd_leaderboard(args) -> int:
    from evaluation import leaderboard

    frame = leaderboard.table(args.benchmark, args.model or "", args.method or "", intervals=bool(args.csv))
    if args.csv:
        frame.to_csv(args.csv, index=False)
        print(f"wrote {len(frame)} rows to {args.csv}", file=sys.stderr)
    else:
        print(frame.to_string(index=False) if not frame.empty else "The leaderboard is empty.")
    return 0


def _cmd_compare(args) -> int:
    from evaluation import leaderboard

    try:
        pairing = leaderboard.paired(args.a, args.b)
        print(leaderboard.compare(args.a, args.b, pairing).to_string(index=False))
        print("\n" + pairing.sentence())
        groups = leaderboard.compare_groups(args.a, args.b)
        if not groups.empty:
            print("\nPer task type:\n" + groups.to_string(index=False))
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    return 0


def _custom_flags(p) -> None:
    g = p.add_argument_group("a benchmark from your own file (instead of --benchmark)")
    g.add_argument("--dataset", metavar="FILE_OR_REF", help="a JSONL/CSV/Parquet file or folder, bundled:NAME, shared:NAME")
    g.add_argument("--template", metavar="KEY", help="a prompts/ key, e.g. ddi.binary (its labels come with it)")
    g.add_argument("--template-text", metavar="TEXT", help="the user prompt itself, with {column} placeholders")
    g.add_argument("--system", metavar="TEXT", help="with --template-text: a system message")
    g.add_argument("--reference", metavar="COLUMN", help="the column holding the right answer, e.g. label")
    g.add_argument("--mode", choices=("generate", "choice", "both"), help="generate (default), choice or both")
    g.add_argument("--split", help="the split of a bundled/shared set or a Hugging Face folder")
    g.add_argument("--labels", metavar="A,B", help="the classes, comma-separated (choice mode needs them)")
    g.add_argument("--metrics", metavar="M1,M2", help="metrics, comma-separated (default: by mode and answers)")
    g.add_argument("--field", action="append", metavar="PLACEHOLDER=COLUMN",
                   help="fill {placeholder} from another column (repeatable)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="evaluate models on benchmarks; prints a JSON summary last")
    p.add_argument("--model", action="append", help="model reference (repeat for several)")
    p.add_argument("--benchmark", action="append", help="benchmark name or YAML path (repeat for several)")
    p.add_argument("--limit", type=int, help="first N items only")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--variant", action="append", help="prompt variant(s) to run (default: all)")
    p.add_argument("--judge", help="judge model for QuestEval-style scores (default: the builtin model)")
    p.add_argument("--predictions", help="score this JSONL of existing outputs instead of running a model")
    p.add_argument("--out", help="run directory (default: runs/eval-<time>)")
    p.add_argument("--run-dir", help=argparse.SUPPRESS)
    p.add_argument("--config", help="a config.yaml written by the app")
    p.add_argument("--no-leaderboard", action="store_true", help="do not add the results to the leaderboard")
    p.add_argument("--quiet", action="store_true")
    _custom_flags(p)
    p.add_argument("--save-benchmark", metavar="NAME", help="also save the --dataset benchmark under NAME")
    p.add_argument("--overwrite", action="store_true", help="with --save-benchmark: replace a saved one of that name")
    p.set_defaults(fn=_cmd_run)
    p = sub.add_parser("check", help="a benchmark's first rendered prompts and item/label counts, without a model")
    p.add_argument("--benchmark", action="append", help="a named benchmark (or YAML path) instead of --dataset")
    _custom_flags(p)
    p.add_argument("-n", type=int, default=3, help="rendered prompts to print (default 3)")
    p.add_argument("--json", action="store_true", help="print the check as JSON")
    p.set_defaults(fn=_cmd_check)
    p = sub.add_parser("list", help="benchmarks (shipped and saved) and metrics")
    p.set_defaults(fn=_cmd_list)
    p = sub.add_parser("leaderboard", help="print or export the leaderboard")
    p.add_argument("--benchmark")
    p.add_argument("--model")
    p.add_argument("--method")
    p.add_argument("--csv")
    p.set_defaults(fn=_cmd_leaderboard)
    p = sub.add_parser("compare", help="two leaderboard rows side by side (and per task type)")
    p.add_argument("a", type=int)
    p.add_argument("b", type=int)
    p.set_defaults(fn=_cmd_compare)
    args = parser.parse_args(argv)
    if args.command == "run":  # before it looks for an unfinished run to continue, or starts one
        import jobs

        problem = jobs.reconcile_for_cli()  # dead runs marked failed, as the app does at start-up
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
