"""python -m data {validate,convert,split,stats,build-bundled,build,list}: the Data tab's work, headless.

Exit code 0 when the input is valid and the output was written, 1 on invalid input (with the same messages the
Data tab shows), 2 on a usage error. Outputs are written atomically: a failed command leaves nothing behind.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from data.records import DataError


def _source(args) -> Path:
    from data import catalog

    return catalog.file_for(args.input, args.split or "train")


def _read_options(args) -> dict:
    from data.formats import parse_mapping

    return {"mapping": parse_mapping(args.mapping), "split": args.split}


def cmd_validate(args) -> int:
    from models.tokenizers import token_counter
    from data.validation import validate

    counter = token_counter(args.model) if args.max_tokens else None
    report, _ = validate(_source(args), args.format, train=args.train, max_tokens=args.max_tokens,
                         token_counter=counter, **_read_options(args))
    print(report.text(limit=args.limit))
    return 0 if report.ok else 1


def cmd_convert(args) -> int:
    from data.export import write
    from data.validation import load

    records = load(_source(args), args.format, **_read_options(args))
    write(records, args.output, args.to)
    print(f"wrote {len(records):,} records as {args.to} to {args.output}")
    return 0


def cmd_split(args) -> int:
    from data.export import write
    from data.splits import parse_fractions, split
    from data.validation import load

    records = load(_source(args), args.format, **_read_options(args))
    stratify = {"auto": None, "label": True, "none": False}.get(args.stratify, args.stratify)
    parts = split(records, parse_fractions(args.fractions), seed=args.seed, stratify=stratify)
    out = Path(args.output)
    suffix = {"csv": ".csv", "parquet": ".parquet"}.get(args.to, ".jsonl")
    for name, part in parts.items():
        write(part, out / f"{name}{suffix}", args.to)
    print(", ".join(f"{name} {len(part):,}" for name, part in parts.items()) + f" → {out}/")
    return 0


def cmd_stats(args) -> int:
    from data.lengths import analyze
    from models.tokenizers import token_counter
    from data.validation import validate

    counter = token_counter(args.model) if args.model else None
    report, _ = validate(_source(args), args.format, token_counter=counter, **_read_options(args))
    summary = report.summary()
    if counter:
        summary["token_lengths"] = analyze(report.token_lengths)
        histogram = summary["token_lengths"].pop("histogram", [])
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if counter and histogram:
        peak = max(c for _, _, c in histogram)
        for low, high, count in histogram:
            print(f"{low:>6}-{high:<6} {'#' * max(1, round(40 * count / peak)) if count else '':<40} {count}")
    return 0 if report.ok else 1


def cmd_build_bundled(args) -> int:
    from data import bundled

    bundled.build(args.only or None, Path(args.out) if args.out else None)
    return 0


def cmd_build(args) -> int:
    from data import builders
    from data.export import write

    records = builders.get(args.builder).build(args.input)
    write(records, args.output, args.to)
    print(f"wrote {len(records):,} {args.builder} records to {args.output}")
    return 0


def cmd_list(args) -> int:
    from data import catalog

    for label, ref in catalog.choices():
        print(f"{ref:<26} {label.split(' — ', 1)[1]}")
    return 0


def parser() -> argparse.ArgumentParser:
    from data.export import EXPORT_FORMATS
    from data.formats import FORMATS

    top = argparse.ArgumentParser(prog="python -m data", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)

    def reader(name, func, help_text):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("input", help="a file (JSONL, JSON, CSV, Parquet), a dataset folder, bundled:NAME or shared:NAME")
        p.add_argument("--format", choices=sorted(FORMATS), help="row format (detected from the first row if left out)")
        p.add_argument("--mapping", help="column mapping for tables, e.g. prompt=question,completion=answer")
        p.add_argument("--split", help="split of a bundled/shared set or a Hugging Face dataset (default train)")
        p.set_defaults(func=func)
        return p

    p = reader("validate", cmd_validate, "list every problem with its line and field")
    p.add_argument("--train", help="the training file: report test items that also appear in it")
    p.add_argument("--max-tokens", type=int, help="flag examples longer than this many tokens (needs --model)")
    p.add_argument("--model", default="builtin:smollm2-135m-instruct", help="whose tokenizer counts tokens")
    p.add_argument("--limit", type=int, default=50, help="findings to print (the summary counts all)")
    p = reader("convert", cmd_convert, "convert to another format")
    p.add_argument("--to", required=True, choices=EXPORT_FORMATS)
    p.add_argument("output")
    p = reader("split", cmd_split, "deterministic train/validation/test split")
    p.add_argument("--fractions", default="0.72,0.08,0.2", help="e.g. 0.8,0.1,0.1 or train=0.8,test=0.2 "
                   "(default: the regression study's 80/20, then 90/10 of the 80)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stratify", default="auto", help="auto (by label when every record has one), label, none, "
                   "or a meta key such as category")
    p.add_argument("--to", default="records", choices=EXPORT_FORMATS)
    p.add_argument("--output", "-o", required=True, help="folder for train/validation/test files")
    p = reader("stats", cmd_stats, "counts, tasks, labels and token lengths")
    p.add_argument("--model", help="a model reference whose tokenizer counts tokens (e.g. builtin:smollm2-135m-instruct)")
    p = sub.add_parser("build-bundled", help="regenerate the bundled sets from the installed packages")
    p.add_argument("--only", nargs="*", help="set names (default: all)")
    p.add_argument("--out", help="output folder (default: $PHARMATUNE_DATA/bundled)")
    p.set_defaults(func=cmd_build_bundled)
    from data.builders import BUILDERS

    p = sub.add_parser("build", help="instruction records from a public export (openFDA, Orange Book, ...)")
    p.add_argument("builder", choices=list(BUILDERS))
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--to", default="records", choices=EXPORT_FORMATS)
    p.set_defaults(func=cmd_build)
    sub.add_parser("list", help="bundled and shared sets").set_defaults(func=cmd_list)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - model/tokenizer errors reach here; one line, no traceback
        from models.errors import ModelError

        if isinstance(exc, (ModelError, OSError)):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
