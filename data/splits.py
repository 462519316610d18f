"""Deterministic train/validation/test splits: same seed, same split; stratified by label for classification.

The regression study split 80/20 into train+validation/test, then 90/10 of the 80: fractions (0.72, 0.08, 0.20).
"""
from __future__ import annotations

import random
from collections import defaultdict

from data.records import DataError, Record

STUDY_FRACTIONS = {"train": 0.72, "validation": 0.08, "test": 0.20}


def split(records: list[Record], fractions: dict[str, float] | None = None, *, seed: int = 0,
          stratify: str | bool | None = None) -> dict[str, list[Record]]:
    """Shuffle with `seed` and cut by `fractions` (they must sum to 1), keeping each group's mix.

    stratify: a meta key to group by (e.g. "category"), True for "label", False for none, or None: by label
    when every record has a class label (a string)."""
    fractions = fractions or STUDY_FRACTIONS
    if any(f < 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-6:
        raise DataError(f"Split fractions must be non-negative and sum to 1, got {fractions}")
    if not records:
        raise DataError("Nothing to split: the data set has no valid records")
    if stratify is None:
        stratify = all(isinstance(r.meta.get("label"), str) for r in records)
    key = "label" if stratify is True else stratify
    groups: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        groups[str(record.meta.get(key)) if key else ""].append(index)
    rng = random.Random(seed)
    out: dict[str, list[int]] = {name: [] for name in fractions}
    for label in sorted(groups):
        indices = groups[label]
        rng.shuffle(indices)
        for name, (start, end) in _cuts(len(indices), fractions).items():
            out[name].extend(indices[start:end])
    for name in out:
        rng.shuffle(out[name])  # do not leave the classes in blocks
    return {name: [records[i] for i in indices] for name, indices in out.items()}


def _cuts(n: int, fractions: dict[str, float]) -> dict[str, tuple[int, int]]:
    """Cumulative rounding, so the parts always add up to n."""
    cuts, start, cumulative = {}, 0, 0.0
    for name, fraction in fractions.items():
        cumulative += fraction
        end = round(cumulative * n)
        cuts[name] = (start, end)
        start = end
    return cuts


def parse_fractions(text: str) -> dict[str, float]:
    """'0.8,0.1,0.1' or 'train=0.8,test=0.2' -> {'train': 0.8, ...}."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    names = ["train", "validation", "test"] if len(parts) == 3 else ["train", "test"]
    out = {}
    try:
        for index, part in enumerate(parts):
            name, sep, value = part.partition("=")
            out[name.strip() if sep else names[index]] = float(value if sep else name)
    except (ValueError, IndexError):
        raise DataError(f"Bad split {text!r}: write 0.8,0.1,0.1 or train=0.8,test=0.2") from None
    return out
