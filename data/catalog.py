"""Dataset references, like model references: one string names a data set wherever it is used.

  bundled:<name>   a set built from installed packages (data.bundled)
  shared:<name>    a real set in ../shared/data (data.shared), when present
  <path>           a file or folder in any supported format (file:<path> works too)
"""
from __future__ import annotations

from pathlib import Path

from data.records import DataError, Record


def parse(ref: str) -> tuple[str, str]:
    scheme, sep, rest = ref.partition(":")
    if sep and scheme in ("bundled", "shared", "file"):
        return scheme, rest
    return "file", ref


def file_for(ref: str, split: str = "train") -> Path:
    """The file holding `split` of the set (bundled and shared sets are records JSONL files)."""
    from data import bundled, shared

    scheme, rest = parse(ref)
    if scheme == "bundled":
        if rest not in bundled.BUNDLED:
            import difflib

            close = difflib.get_close_matches(rest, bundled.BUNDLED, n=1)
            raise DataError(f"No bundled set {rest!r}." + (f" Did you mean 'bundled:{close[0]}'?" if close else "")
                            + f" Known: {', '.join(bundled.BUNDLED)}")
        path = bundled.ensure_built(rest) / f"{split}.jsonl"
        if not path.is_file():
            raise DataError(f"{ref} has no split {split!r}; it has {', '.join(splits(ref))}")
        return path
    if scheme == "shared":
        if rest not in shared.SHARED:
            raise DataError(f"No shared set {rest!r}; known: {', '.join(shared.SHARED)}")
        return shared.records_file(rest, split)
    return Path(rest)


def splits(ref: str) -> list[str]:
    from data import bundled, shared

    scheme, rest = parse(ref)
    order = {"train": 0, "validation": 1, "test": 2}
    if scheme == "bundled":
        return sorted((p.stem for p in bundled.ensure_built(rest).glob("*.jsonl")), key=lambda s: order.get(s, 9))
    if scheme == "shared":
        return shared.splits(rest)
    return ["train"]


def load(ref: str, split: str = "train", **options) -> list[Record]:
    """Valid records of one split; invalid data raises DataError with line-numbered findings."""
    from data.validation import load as load_file

    return load_file(file_for(ref, split), **options)


def choices() -> list[tuple[str, str]]:
    """(label, reference) of every bundled set and of each shared set present on this machine."""
    from data import bundled, shared

    out = [(f"bundled: {name} — {spec.description}", f"bundled:{name}") for name, spec in bundled.BUNDLED.items()]
    out += [(f"shared: {name} — {spec.description}", f"shared:{name}")
            for name, spec in shared.SHARED.items() if shared.is_available(name)]
    return out


def load_preferences(ref: str, split: str = "train", **options) -> list:
    """Valid preference examples (data.records.Preference) of one split; invalid data raises DataError with
    line-numbered findings, a chat file one naming what it is."""
    from data.validation import load_preferences as load_file

    return load_file(file_for(ref, split), **options)


def is_preference_set(ref: str, split: str = "train") -> bool:
    """Whether the set's first row is a preference example (prompt/chosen/rejected, OpenAI's preference form, KTO)."""
    from data.validation import preference_kind

    try:
        return preference_kind(file_for(ref, split)) is not None
    except DataError:
        return False
