"""Deterministic train/validation/test splits: same seed, same split; stratified by label for classification.
Leakage-aware kinds (split_by): cold-drug, cold-pair (drug pairs) and scaffold (molecules) keep groups whole.

The regression study split 80/20 into train+validation/test, then 90/10 of the 80: fractions (0.72, 0.08, 0.20).
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

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


# --- leakage-aware splits: groups that must not straddle parts ------------------------------------------------------

KINDS = {
    "random": "shuffle and cut (stratified by label when every record has one)",
    "cold-drug": "no drug of a test pair appears in any train pair: each drug belongs to one part, and a pair whose "
                 "two drugs fall in different parts is dropped",
    "cold-pair": "no drug pair, in either order, in two parts (its drugs may recur elsewhere)",
    "scaffold": "Bemis–Murcko scaffolds (RDKit): all molecules of a scaffold in one part (molecule sets)",
}
PAIR_FIELDS = ("drug1", "drug2")


@dataclass
class Split:
    """The parts of a split, what it had to drop and sentences saying how it went."""

    kind: str
    parts: dict[str, list[Record]]
    dropped: list[Record] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seed: int = 0

    def sizes(self) -> dict[str, int]:
        return {name: len(part) for name, part in self.parts.items()}

    def summary(self) -> str:
        head = f"{self.kind} split (seed {self.seed}): " + ", ".join(f"{n} {c:,}" for n, c in self.sizes().items())
        if self.dropped:
            head += f"; {len(self.dropped):,} dropped"
        return " ".join([head + "."] + self.notes)


def drug_key(name) -> str:
    """How a drug is recognised in two places: its name, case and spacing ignored."""
    return " ".join(str(name).split()).casefold()


def pair_of(record: Record) -> tuple[str, str] | None:
    """(drug1, drug2) as drug keys, in the record's order; None when either is missing."""
    a, b = (record.meta.get(f) for f in PAIR_FIELDS)
    if a in (None, "") or b in (None, ""):
        return None
    return drug_key(a), drug_key(b)


def _where(records: list[Record], index: int) -> str:
    rid = records[index].meta.get("id")
    return f"record {index + 1}" + (f" (id {rid})" if rid not in (None, "") else "")


def require_pairs(records: list[Record], what: str, source: str) -> list[tuple[str, str]]:
    """Every record's drug pair, or a DataError naming the missing field, the record and the file."""
    if all(pair_of(r) is None for r in records):
        raise DataError(f"{source} has no drug1/drug2 fields: {what} needs the two drugs of each pair in fields "
                        "named drug1 and drug2 (the bundled ddi sets and shared:ddi have them; a table needs "
                        "columns drug1 and drug2).")
    pairs = []
    for index, record in enumerate(records):
        pair = pair_of(record)
        if pair is None:
            missing = next(f for f in PAIR_FIELDS if record.meta.get(f) in (None, ""))
            lacking = sum(pair_of(r) is None for r in records)
            raise DataError(f"{source}, {_where(records, index)}: no {missing!r} field: {what} needs drug1 and drug2 "
                            f"on every record ({lacking:,} of {len(records):,} lack one).")
        pairs.append(pair)
    return pairs


def split_by(records: list[Record], kind: str = "random", fractions: dict[str, float] | None = None, *,
             seed: int = 0, stratify: str | bool | None = None, source: str = "the data set") -> Split:
    """Split `records` the `kind` way (see KINDS), seeded, with part sizes as close to `fractions` as the kind's
    constraint allows. `source` names the file in error messages."""
    if kind not in KINDS:
        import difflib

        close = difflib.get_close_matches(kind, KINDS, n=1)
        raise DataError(f"Unknown split kind {kind!r}." + (f" Did you mean {close[0]!r}?" if close else "")
                        + f" Known: {', '.join(KINDS)}")
    fractions = fractions or STUDY_FRACTIONS
    if kind == "random":
        return Split(kind, split(records, fractions, seed=seed, stratify=stratify), seed=seed)
    _check(records, fractions)
    rng = random.Random(seed)
    if kind == "cold-drug":
        result = _cold_drug(records, require_pairs(records, "a cold-drug split", source), fractions, rng)
    elif kind == "cold-pair":
        result = _cold_pair(records, require_pairs(records, "a cold-pair split", source), fractions, rng, stratify)
    else:
        result = _scaffold(records, fractions, rng, source)
    if stratify and kind != "cold-pair":
        result.notes.append(f"Not stratified: a {kind} split keeps its groups whole.")
    result.seed = seed
    for part in result.parts.values():
        rng.shuffle(part)
    return result


def _check(records: list[Record], fractions: dict[str, float]) -> None:
    if any(f < 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-6:
        raise DataError(f"Split fractions must be non-negative and sum to 1, got {fractions}")
    if not records:
        raise DataError("Nothing to split: the data set has no valid records")


def _assign_groups(groups: list[list[int]], fractions: dict[str, float], rng: random.Random) -> dict[str, list[int]]:
    """Whole groups to parts: big groups first, the rest in seeded order, each to the part with the most room left
    (so the sizes end as close to the fractions as whole groups allow)."""
    total = sum(len(g) for g in groups)
    names = [n for n, f in fractions.items() if f > 0]
    targets = {n: fractions[n] * total for n in names}
    order = list(groups)
    rng.shuffle(order)
    smallest = min(targets.values())
    order.sort(key=lambda g: -len(g) if len(g) > smallest / 2 else 0)  # stable: small groups keep the shuffle
    out: dict[str, list[int]] = {n: [] for n in fractions}
    for group in order:
        name = max(names, key=lambda n: targets[n] - len(out[n]))
        out[name].extend(group)
    return out


def _cold_pair(records, pairs, fractions, rng, stratify) -> Split:
    groups: dict[frozenset, list[int]] = defaultdict(list)
    for index, (a, b) in enumerate(pairs):
        groups[frozenset((a, b))].append(index)
    if stratify is None:
        stratify = all(isinstance(r.meta.get("label"), str) for r in records)
    key = "label" if stratify is True else stratify
    strata: dict[str, list[list[int]]] = defaultdict(list)
    for pair in sorted(groups, key=sorted):
        members = groups[pair]
        strata[str(records[members[0]].meta.get(key)) if key else ""].append(members)
    out: dict[str, list[int]] = {name: [] for name in fractions}
    for label in sorted(strata):
        for name, indices in _assign_groups(strata[label], fractions, rng).items():
            out[name].extend(indices)
    repeated = sum(len(g) for g in groups.values() if len(g) > 1)
    notes = [f"{len(groups):,} distinct pairs (order ignored)"
             + (f"; {repeated:,} records repeat a pair and stay with it." if repeated else ".")]
    return Split("cold-pair", {n: [records[i] for i in idx] for n, idx in out.items()}, notes=notes)


def _cold_drug(records, pairs, fractions, rng) -> Split:
    """Each drug to one part so that as few pairs as possible straddle two parts, the kept pairs' part sizes
    within about 1 % of the fractions: a greedy pass (component by component, breadth first, each drug to the
    part holding most of its partners among those not over their share), then moves of single drugs that keep
    more pairs without unbalancing the parts; the best of a few seeded restarts."""
    adjacency: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for a, b in pairs:
        adjacency[a][b] += 1
        adjacency[b][a] += 1
    names = [n for n, f in fractions.items() if f > 0]
    best = None
    for _ in range(3):
        part = _refine(adjacency, pairs, _greedy(adjacency, pairs, fractions, names, rng), fractions, names, rng)
        lost = sum(part[a] != part[b] for a, b in pairs)
        if best is None or lost < best[0]:
            best = (lost, part)
    part = best[1]
    out: dict[str, list[Record]] = {name: [] for name in fractions}
    dropped = []
    for record, (a, b) in zip(records, pairs):
        (out[part[a]] if part[a] == part[b] else dropped).append(record)
    drugs = {n: sum(p == n for p in part.values()) for n in fractions}
    notes = ["Drugs per part: " + ", ".join(f"{n} {c:,}" for n, c in drugs.items()) + "."]
    if dropped:
        notes.append(f"{len(dropped):,} of {len(records):,} pairs dropped: their two drugs fell in different parts, "
                     "and a cold-drug split cannot keep such a pair on either side.")
    return Split("cold-drug", out, dropped, notes)


def _greedy(adjacency, pairs, fractions, names, rng) -> dict[str, str]:
    drugs = sorted(adjacency)
    rng.shuffle(drugs)
    components, seen = [], set()
    for start in drugs:
        if start in seen:
            continue
        order, queue = [], [start]
        seen.add(start)
        while queue:
            drug = queue.pop(0)
            order.append(drug)
            partners = sorted(adjacency[drug])
            rng.shuffle(partners)
            for other in partners:
                if other not in seen:
                    seen.add(other)
                    queue.append(other)
        components.append(order)
    components.sort(key=len, reverse=True)  # stable: equal sizes keep the seeded order
    part: dict[str, str] = {}
    kept = {n: 0 for n in names}
    slack = max(2.0, 0.01 * len(pairs))
    for drug in (d for component in components for d in component):
        gain = {n: 0 for n in names}
        for other, count in adjacency[drug].items():
            if other in part and other != drug:
                gain[part[other]] += count
        if drug in adjacency[drug]:  # a drug paired with itself stays with itself
            gain = {n: g + adjacency[drug][drug] // 2 for n, g in gain.items()}
        total = sum(kept.values())

        def deficit(n, total=total, gain=gain):
            return fractions[n] * (total + gain[n]) - kept[n] - gain[n]

        fits = [n for n in names if deficit(n) >= -slack]
        choice = max(fits, key=lambda n: (gain[n], deficit(n))) if fits else max(names, key=deficit)
        part[drug] = choice
        kept[choice] += gain[choice]
    return part


def _refine(adjacency, pairs, part, fractions, names, rng, passes: int = 10) -> dict[str, str]:
    kept = {n: 0 for n in names}
    for a, b in pairs:
        if part[a] == part[b]:
            kept[part[a]] += 1
    tolerance = max(0.01, 1.5 / len(pairs))

    def deviation(counts):
        total = sum(counts.values()) or 1
        return max(abs(counts[n] / total - fractions[n]) for n in names)

    for _ in range(passes):
        moved = 0
        drugs = sorted(adjacency)
        rng.shuffle(drugs)
        for drug in drugs:
            gain = {n: 0 for n in names}
            for other, count in adjacency[drug].items():
                if other != drug:
                    gain[part[other]] += count
            here, before = part[drug], deviation(kept)
            choice, best = None, None
            for name in names:
                if name == here:
                    continue
                after = dict(kept)
                after[here] -= gain[here]
                after[name] += gain[name]
                change, now = gain[name] - gain[here], deviation(after)
                # keep more pairs without leaving the tolerance, or get more balanced without losing any
                if (change > 0 and now <= max(tolerance, before)) or (change >= 0 and now < before):
                    if best is None or (change, -now) > best:
                        choice, best = name, (change, -now)
            if choice:
                kept[here] -= gain[here]
                kept[choice] += gain[choice]
                part[drug] = choice
                moved += 1
        if not moved:
            break
    return part


def scaffold_of(smiles: str) -> str | None:
    """The Bemis–Murcko scaffold (canonical SMILES, no stereo; '' for an acyclic molecule), None when RDKit cannot
    read the SMILES."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem.Scaffolds import MurckoScaffold

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def _scaffold(records, fractions, rng, source) -> Split:
    if not any(r.meta.get("smiles") for r in records):
        if any(r.meta.get("smiles1") for r in records):
            raise DataError(f"{source} holds drug pairs (smiles1/smiles2), not single molecules: a scaffold split is "
                            "for molecule sets with a 'smiles' field; split pairs with cold-drug or cold-pair.")
        raise DataError(f"{source} has no 'smiles' field: a scaffold split needs each record's molecule as SMILES "
                        "in a field named smiles (the bundled freesolv and solubility sets have it).")
    groups: dict[str, list[int]] = defaultdict(list)
    dropped, unreadable = [], []
    for index, record in enumerate(records):
        value = record.meta.get("smiles")
        if value in (None, "", []):
            raise DataError(f"{source}, {_where(records, index)}: no 'smiles' field: a scaffold split needs a "
                            "molecule on every record.")
        scaffolds = [scaffold_of(s) for s in (value if isinstance(value, list) else [value])]
        if any(s is None for s in scaffolds):
            dropped.append(record)
            unreadable.append(f"{_where(records, index)} {value!r}")
            continue
        groups[".".join(sorted(scaffolds))].append(index)
    if not groups:
        raise DataError(f"{source}: RDKit cannot read any record's smiles, so there is no scaffold to split by.")
    out = _assign_groups([groups[k] for k in sorted(groups)], fractions, rng)
    acyclic = len(groups.get("", []))
    notes = [f"{len(groups):,} scaffolds" + (f" ({acyclic:,} acyclic molecules share the empty scaffold)"
                                             if acyclic else "") + "."]
    if dropped:
        notes.append(f"{len(dropped):,} record(s) dropped: RDKit cannot read their smiles ("
                     + "; ".join(unreadable[:3]) + (" …" if len(unreadable) > 3 else "") + ").")
    return Split("scaffold", {n: [records[i] for i in idx] for n, idx in out.items()}, dropped, notes)
