"""python -m training openai estimate|launch|status|cancel|ledger|export: the OpenAI tab without the UI.

Each command prints readable lines on stderr and a JSON summary last on stdout. Exit codes: 0 ok, 1 the
dataset has errors (estimate) or the job failed, 2 a bad argument, a missing key or an OpenAI error.
The key comes from OPENAI_API_KEY only (never an argument: command lines end up in shell history and logs).
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def _print(summary: dict) -> None:
    print(json.dumps(summary, indent=2, default=str))


def _job_summary(job) -> dict:
    return {"token": job.token, "job_id": job.job_id, "model": job.model, "status": job.status,
            "fine_tuned_model": job.fine_tuned_model, "trained_tokens": job.trained_tokens,
            "estimated_tokens": job.estimated_tokens,
            "estimated_usd": None if job.estimated_usd is None else round(job.estimated_usd, 2),
            "actual_usd": None if job.actual_usd is None else round(job.actual_usd, 2),
            "difference_usd": None if job.actual_usd is None or job.estimated_usd is None
            else round(job.actual_usd - job.estimated_usd, 2),
            "error": job.error, "run_dir": job.directory}


def cmd_estimate(args) -> int:
    from openai_ft.estimate import estimate
    from openai_ft.pricing import PriceError

    try:
        est = estimate(args.file, args.model, args.epochs)
    except (ValueError, PriceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for finding in est.checks.findings:
        print(f"[{finding.severity}] {finding.text(est.checks.source)}", file=sys.stderr)
    s = est.summary()
    costs = ", ".join(f"{e} epoch(s) ${c:,.2f}" for e, c in s["cost_by_epochs_usd"].items() if c is not None)
    print(f"{s['examples']} examples, {s['billed_tokens_per_epoch']:,} billed tokens per epoch ({s['encoding']}); "
          f"{s['epochs']} epochs ({s['epochs_rule']}): {s['trained_tokens']:,} trained tokens"
          + (f" ≈ ${s['estimated_cost_usd']:,.2f}" if s["estimated_cost_usd"] is not None else "")
          + (f". {costs}" if costs else "") + f". Took {est.elapsed_s:.2f} s.", file=sys.stderr)
    _warn_winddown(args.model)
    s["elapsed_s"] = round(est.elapsed_s, 3)
    _print(s)
    return 1 if est.checks.errors else 0


def _warn_winddown(model: str) -> None:
    """OpenAI's fine-tuning wind-down as it stands for this model today (openai_ft.winddown), on stderr."""
    from openai_ft import winddown
    from openai_ft.pricing import PriceError

    try:
        ahead = winddown.outlook(model)
    except PriceError as exc:
        print(f"warning: {exc}", file=sys.stderr)
        return
    for warning in ahead.warnings:
        print(f"[wind-down] {warning}", file=sys.stderr)


def cmd_launch(args) -> int:
    from openai_ft import jobs
    from openai_ft.client import OpenAIError

    _warn_winddown(args.model)
    try:
        job = jobs.launch(args.file, args.model, validation_path=args.validation, suffix=args.suffix or "",
                          epochs=args.epochs, batch_size=args.batch_size, lr_multiplier=args.lr_multiplier,
                          token=args.token)
        print(f"Created {job.job_id} ({job.status}); token {job.token}. Follow it with: "
              f"python -m training openai status {job.job_id} --watch", file=sys.stderr)
        if args.wait:
            return _watch(job.token, args.interval)
    except (jobs.JobError, OpenAIError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print(_job_summary(job))
    return 0


def _watch(ref: str, interval: float) -> int:
    from openai_ft import jobs

    seen = 0
    while True:
        job = jobs.sync(ref)
        for event in job.events[seen:]:
            print(f"[{event.get('level')}] {event.get('message')}", file=sys.stderr)
        seen = len(job.events)
        if job.status in jobs.TERMINAL:
            _print(_job_summary(job))
            return 0 if job.status == "succeeded" else 1
        time.sleep(interval)


def cmd_status(args) -> int:
    from openai_ft import jobs
    from openai_ft.client import OpenAIError

    try:
        if args.watch:
            return _watch(args.job, args.interval)
        job = jobs.sync(args.job)
    except (jobs.JobError, OpenAIError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print(_job_summary(job))
    return 0


def cmd_cancel(args) -> int:
    from openai_ft import jobs
    from openai_ft.client import OpenAIError

    try:
        job = jobs.cancel(args.job)
    except (jobs.JobError, OpenAIError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print(_job_summary(job))
    return 0


def cmd_ledger(args) -> int:
    from openai_ft import ledger

    rows = ledger.rows()
    for row in rows[:20]:
        print(f"{row['date']}  {row['kind']:<9} {row['model']:<40} est {row['estimated $']}  actual {row['actual $']}",
              file=sys.stderr)
    summary = {"rows": len(rows), "by_model": ledger.totals("model"), "by_month": ledger.totals("month")}
    if args.csv is not None:
        summary["csv"] = str(ledger.export_csv(args.csv or None))
    _print(summary)
    return 0


def cmd_export(args) -> int:
    """Any data set of the data layer as OpenAI chat JSONL (shared:ddi keeps the study's prompt format)."""
    from data import catalog
    from data.export import write
    from data.records import DataError

    try:
        path = write(catalog.load(args.dataset, args.split), args.out, "openai")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print({"dataset": args.dataset, "split": args.split, "file": str(path)})
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training openai", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("estimate", help="check a chat JSONL file and estimate what fine-tuning it costs (no key)")
    e.add_argument("file")
    e.add_argument("--model", required=True, help="e.g. gpt-4o-2024-08-06 or gpt-4o-mini")
    e.add_argument("--epochs", default="auto", help="a number, or auto (OpenAI's default rule)")
    e.set_defaults(func=cmd_estimate)
    la = sub.add_parser("launch", help="upload the file(s) and create the job (needs OPENAI_API_KEY)")
    la.add_argument("file")
    la.add_argument("--model", required=True)
    la.add_argument("--validation")
    la.add_argument("--suffix")
    la.add_argument("--epochs", default="auto")
    la.add_argument("--batch-size", type=int)
    la.add_argument("--lr-multiplier", type=float)
    la.add_argument("--token", help="retry a launch that failed: the token it printed (no second job is created)")
    la.add_argument("--wait", action="store_true", help="follow the job until it ends")
    la.add_argument("--interval", type=float, default=30.0)
    la.set_defaults(func=cmd_launch)
    st = sub.add_parser("status", help="ask OpenAI for a job's state and record it (needs OPENAI_API_KEY)")
    st.add_argument("job", help="ftjob-..., the launch token or the run folder name")
    st.add_argument("--watch", action="store_true")
    st.add_argument("--interval", type=float, default=30.0)
    st.set_defaults(func=cmd_status)
    c = sub.add_parser("cancel", help="cancel a job")
    c.add_argument("job")
    c.set_defaults(func=cmd_cancel)
    le = sub.add_parser("ledger", help="spend by model and by month (and --csv [PATH])")
    le.add_argument("--csv", nargs="?", const="", default=None)
    le.set_defaults(func=cmd_ledger)
    ex = sub.add_parser("export", help="write a data set (bundled:..., shared:ddi, a file) as OpenAI chat JSONL")
    ex.add_argument("dataset")
    ex.add_argument("--split", default="train")
    ex.add_argument("--out", required=True)
    ex.set_defaults(func=cmd_export)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
