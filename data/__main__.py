"""python -m data {validate,convert,split,stats,leakage,build-bundled,build,list}: the Data tab's work, headless.
validate and convert also read preference files (prompt/chosen/rejected, OpenAI preference JSONL, KTO).

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


def _is_preference(args, source: Path) -> bool:
    from data.formats import PREFERENCE_FORMATS
    from data.validation import preference_kind

    return args.format in PREFERENCE_FORMATS if args.format else preference_kind(source, args.split) is not None


def cmd_validate(args) -> int:
    from models.tokenizers import token_counter
    from data.validation import validate, validate_preferences

    counter = token_counter(args.model) if args.max_tokens else None
    if _is_preference(args, _source(args)):
        report, _ = validate_preferences(_source(args), args.format, split=args.split, max_tokens=args.max_tokens,
                                         token_counter=counter)
        print(report.text(limit=args.limit))
        return 0 if report.ok else 1
    report, _ = validate(_source(args), args.format, train=args.train, max_tokens=args.max_tokens,
                         token_counter=counter, **_read_options(args))
    print(report.text(limit=args.limit))
    return 0 if report.ok else 1


def cmd_convert(args) -> int:
    from data.export import PREFERENCE_EXPORT_FORMATS, write, write_preferences
    from data.validation import load, load_preferences

    if _is_preference(args, _source(args)) or args.to in PREFERENCE_EXPORT_FORMATS:
        if args.to not in PREFERENCE_EXPORT_FORMATS:
            raise DataError(f"{args.input} holds preference examples; convert them --to one of "
                            f"{', '.join(PREFERENCE_EXPORT_FORMATS)}.")
        examples = load_preferences(_source(args), args.format, split=args.split)
        write_preferences(examples, args.output, args.to)
        print(f"wrote {len(examples):,} preference examples as {args.to} to {args.output}")
        return 0
    records = load(_source(args), args.format, **_read_options(args))
    write(records, args.output, args.to)
    print(f"wrote {len(records):,} records as {args.to} to {args.output}")
    return 0


def cmd_split(args) -> int:
    from data.export import write
    from data.splits import parse_fractions, split_by
    from data.validation import load

    records = load(_source(args), args.format, **_read_options(args))
    stratify = {"auto": None, "label": True, "none": False}.get(args.stratify, args.stratify)
    result = split_by(records, args.by, parse_fractions(args.fractions), seed=args.seed, stratify=stratify,
                      source=_name(args.input, args.split))
    parts = result.parts
    out = Path(args.output)
    suffix = {"csv": ".csv", "parquet": ".parquet"}.get(args.to, ".jsonl")
    for name, part in parts.items():
        write(part, out / f"{name}{suffix}", args.to)
    print(", ".join(f"{name} {len(part):,}" for name, part in parts.items()) + f" → {out}/")
    for note in result.notes:
        print(note)
    return 0


def _name(ref: str, split: str | None) -> str:
    """How a split's source is named in messages: bundled:ddi-binary train, or the file's name."""
    from data import catalog

    scheme, rest = catalog.parse(ref)
    return f"{ref} {split or 'train'}" if scheme in ("bundled", "shared") else Path(rest).name


def cmd_leakage(args) -> int:
    from data import leakage

    if args.by:
        from data.splits import parse_fractions, split_by
        from data.validation import load

        if args.test:
            raise DataError("--by splits one set: give TRAIN only (its train part is compared with its test part)")
        from data import catalog

        source = catalog.file_for(args.train, args.train_split or "train")
        name = _name(args.train, args.train_split)
        records = load(source, args.format, mapping=_read_options(args)["mapping"])
        stratify = {"auto": None, "label": True, "none": False}.get(args.stratify, args.stratify)
        result = split_by(records, args.by, parse_fractions(args.fractions), seed=args.seed, stratify=stratify,
                          source=name)
        report = leakage.report_of_split(result.parts, args.test_part, name=f"{name} {args.by}")
        if not args.json:
            print(result.summary() + "\n")
    else:
        report = leakage.report_of(args.train, args.test, train_split=args.train_split, test_split=args.test_split)
    if args.json:
        out = report.to_dict()
        out["neighbours"] = out["neighbours"][:args.neighbours]
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print(report.markdown(neighbours=args.neighbours))
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
    from data.export import EXPORT_FORMATS, PREFERENCE_EXPORT_FORMATS
    from data.formats import FORMATS, PREFERENCE_FORMATS
    from data.splits import KINDS as SPLIT_KINDS

    top = argparse.ArgumentParser(prog="python -m data", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)

    def reader(name, func, help_text):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("input", help="a file (JSONL, JSON, CSV, Parquet), a dataset folder, bundled:NAME or shared:NAME")
        p.add_argument("--format", choices=sorted(FORMATS) + sorted(PREFERENCE_FORMATS),
                       help="row format (detected from the first row if left out)")
        p.add_argument("--mapping", help="column mapping for tables, e.g. prompt=question,completion=answer")
        p.add_argument("--split", help="split of a bundled/shared set or a Hugging Face dataset (default train)")
        p.set_defaults(func=func)
        return p

    p = reader("validate", cmd_validate, "list every problem with its line and field")
    p.add_argument("--train", help="the training file: report test items that also appear in it")
    p.add_argument("--max-tokens", type=int, help="flag examples longer than this many tokens (needs --model)")
    p.add_argument("--model", default="builtin:smollm2-135m-instruct", help="whose tokenizer counts tokens")
    p.add_argument("--limit", type=int, default=50, help="findings to print (the summary counts all)")
    p = reader("convert", cmd_convert, "convert to another format (preference files: to another preference format)")
    p.add_argument("--to", required=True, choices=EXPORT_FORMATS + PREFERENCE_EXPORT_FORMATS)
    p.add_argument("output")
    p = reader("split", cmd_split, "deterministic train/validation/test split")
    p.add_argument("--fractions", default="0.72,0.08,0.2", help="e.g. 0.8,0.1,0.1 or train=0.8,test=0.2 "
                   "(default: the regression study's 80/20, then 90/10 of the 80)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stratify", default="auto", help="auto (by label when every record has one), label, none, "
                   "or a meta key such as category")
    p.add_argument("--to", default="records", choices=EXPORT_FORMATS)
    p.add_argument("--output", "-o", required=True, help="folder for train/validation/test files")
    p.add_argument("--by", default="random", choices=list(SPLIT_KINDS), help="random; cold-drug or cold-pair "
                   "(drug pairs: fields drug1, drug2); scaffold (molecules: field smiles)")
    p = reader("stats", cmd_stats, "counts, tasks, labels and token lengths")
    p.add_argument("--model", help="a model reference whose tokenizer counts tokens (e.g. builtin:smollm2-135m-instruct)")
    p = sub.add_parser("leakage", help="what a test set shares with its train set: pairs, drugs, similar molecules")
    p.add_argument("train", help="the training side: a file (JSONL, JSON, CSV, Parquet), bundled:NAME or shared:NAME")
    p.add_argument("test", nargs="?", help="the test side (default: TRAIN's test split, else its validation split)")
    p.add_argument("--train-split", help="split of a bundled/shared train side (default train)")
    p.add_argument("--test-split", help="split of a bundled/shared test side (default test, else validation)")
    p.add_argument("--by", choices=list(SPLIT_KINDS), help="split TRAIN this way first (--fractions, --seed) and "
                   "report its train part against its test part")
    p.add_argument("--fractions", default="0.72,0.08,0.2", help="with --by: e.g. 0.8,0.2 or train=0.8,test=0.2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stratify", default="auto", help="with --by: auto, label, none or a meta key")
    p.add_argument("--test-part", default="test", help="with --by: the part compared with train (default test)")
    p.add_argument("--format", choices=sorted(FORMATS), help="with --by: row format (detected if left out)")
    p.add_argument("--mapping", help="with --by: column mapping for tables")
    p.add_argument("--neighbours", type=int, default=10, help="most similar test molecules to list (0: none)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_leakage, split=None)
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
