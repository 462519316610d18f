"""SMILES metrics (RDKit): how many SMILES an answer gives are valid, exact match after canonicalization, and
Tanimoto similarity of Morgan fingerprints to the reference molecule.

The answer parser (`extract_smiles`) keeps every SMILES-like token, valid or not, so validity can be
measured: a metric that only ever sees parseable molecules can only report 100%.
"""
from __future__ import annotations

import functools
import re

from evaluation.metrics import MetricError, register

# One SMILES token (after Schwaller et al., Molecular Transformer): a bracket atom, an organic-subset atom,
# a bond, a branch, a ring closure. Bracket atoms follow the bracket grammar, so "[1]" or "[Note]" are not atoms.
_BRACKET = r"\[\d*(?:[A-Z][a-z]?|[bcnops]|se|as|\*)(?:@+|@[A-Z]{2}\d*)?(?:H\d*)?(?:[+-]+\d*)?(?::\d+)?\]"
_ALIPHATIC = r"Br|Cl|[BCNOSPFI]"
_TOKEN = re.compile(rf"({_BRACKET})|({_ALIPHATIC})|([bcnops])|(%\d\d|\d)|([()=#@/\\$])|([-+.:~*])")
_STRONG = set("()[]=#@/\\$%")  # characters English text does not put inside a word
_SEPARATORS = re.compile(r"[\s,;]+")
_PREFIX = re.compile(r"^smiles\s*[:=]\s*", re.IGNORECASE)
_LEADING = "\"'`*“”‘’«<_{("  # a SMILES never starts with "(" (a branch needs an atom before it)
_TRAILING = "\"'`*“”‘’»>_}.,;:!?"  # nor ends with "." or ":"


def _clean(token: str) -> str:
    """Drop quotes, backticks, markdown, a "SMILES:" prefix, sentence punctuation and an unmatched ")" or "]"."""
    while True:
        before = token
        token = _PREFIX.sub("", token.lstrip(_LEADING)).rstrip(_TRAILING)
        for opening, closing in ("()", "[]"):
            if token.endswith(closing) and token.count(closing) > token.count(opening):
                token = token[:-1]
        if token == before:
            return token


def _looks_like_smiles(token: str, whole_answer: bool = False) -> bool:
    """The heuristic that tells a SMILES from a word: see extract_smiles."""
    parts = list(_TOKEN.finditer(token))
    if not token or sum(len(m.group()) for m in parts) != len(token):
        return False  # some character is no SMILES token: "Aspirin", "the", "CYP3A4", "H2O"
    atoms = [m.group() for m in parts if m.group(1) or m.group(2) or m.group(3)]
    if not atoms:
        return False
    aromatic = any(m.group(3) for m in parts)
    if any(ch in _STRONG for ch in token):
        return len(atoms) >= 2 or any(m.group(1) for m in parts)
    if any(m.group(4) or m.group(6) for m in parts):  # only digits or - + . : ~ *
        has_ring_digit = any(m.group(4) for m in parts)
        return len(atoms) >= 3 and (has_ring_digit or not aromatic)
    if aromatic:
        return False  # aromatic atoms need ring closures: "soon", "No", "cocoon" are words
    if whole_answer:
        return True
    return len(atoms) >= 3 and atoms.count("C") * 2 >= len(atoms)


def extract_smiles(text: str | None) -> list[str]:
    """Every SMILES-like token in the answer, in order, valid or not (validity is the metric's business).

    Tokens are split on whitespace, commas and semicolons, then lose wrapping quotes, backticks, markdown,
    a "SMILES:" prefix and sentence punctuation. A token is a candidate when it consists of SMILES tokens
    only (so any letter outside B C N O P S F I Cl Br b c n o p s, such as in "Aspirin", "the" or "H2O",
    rules it out) and:
    - it has a character words do not contain, ( ) [ ] = # @ / \\ % $, and two atoms or a bracket atom; or
    - its only other characters are digits or - + . : ~ *, and it has three atoms ("C1CC" yes, "IC50" no); or
    - it is all aliphatic atoms, at least three, half of them carbon: "CCO", "OCCO" yes; "CNS", "PPI",
      "BBB" (acronyms) no. An answer that is one such token alone is taken whatever its length ("CC", "CNS").
    Words made of aromatic letters only ("soon", "No") never count.

    >>> extract_smiles("The SMILES is `CC(=O)Oc1ccccc1C(=O)O`.")
    ['CC(=O)Oc1ccccc1C(=O)O']
    >>> extract_smiles("Aspirin (CCO) and C1CC; IC50 and CNS are not SMILES.")
    ['CCO', 'C1CC']
    >>> extract_smiles("CC")
    ['CC']
    """
    tokens = [token for token in (_clean(raw) for raw in _SEPARATORS.split(text or "")) if token]
    if len(tokens) == 1 and _looks_like_smiles(tokens[0], whole_answer=True):
        return tokens
    return [token for token in tokens if _looks_like_smiles(token)]


def _candidates(prediction) -> list[str]:
    """The parser's list; raw text (a str) is parsed here, so the metrics also take unparsed answers."""
    if prediction is None:
        return []
    if isinstance(prediction, str):
        return extract_smiles(prediction)
    return [str(p) for p in prediction]


def _mol(smiles: str):
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    return Chem.MolFromSmiles(smiles) if smiles else None


def _first_valid(prediction):
    return next((mol for mol in map(_mol, _candidates(prediction)) if mol is not None), None)


def _reference_mol(reference):
    mol = _mol(str(reference or "").strip())
    if mol is None:
        raise MetricError(f"reference {reference!r} is not a valid SMILES")
    return mol


def validity_rate(prediction, reference=None, **_) -> float | None:
    """Valid share of the SMILES one answer gives; None when it gives none."""
    found = _candidates(prediction)
    return sum(_mol(s) is not None for s in found) / len(found) if found else None


@register("smiles_validity", kind="smiles", item_fn=validity_rate,
          description="Share of all SMILES found in the answers that RDKit parses (invalid ones count).",
          outputs={"smiles_validity": True, "smiles_found": True})
def smiles_validity(predictions: list, references: list | None = None) -> dict:
    """Valid SMILES / every SMILES found. The denominator counts invalid ones too: a public script divides by
    the valid ones only, so its rate is always 100%. None when no answer has a SMILES.

    >>> smiles_validity([["CCO", "C1CC"], [], ["c1ccccc1"]], ["CCO", "CCO", "CCO"])
    {'smiles_validity': 0.6666666666666666, 'smiles_found': 3, 'items_without_smiles': 1}
    """
    found = [_candidates(p) for p in predictions]
    total = sum(map(len, found))
    valid = sum(_mol(s) is not None for smiles in found for s in smiles)
    return {"smiles_validity": valid / total if total else None, "smiles_found": total,
            "items_without_smiles": sum(not smiles for smiles in found)}


def canonical_match(prediction, reference, **_) -> float:
    """1.0 when the answer's first valid SMILES is the reference molecule (canonical SMILES), else 0.0."""
    from rdkit import Chem

    mol, ref = _first_valid(prediction), _reference_mol(reference)
    return float(mol is not None and Chem.MolToSmiles(mol) == Chem.MolToSmiles(ref))


@register("smiles_exact_match", kind="smiles", item_fn=canonical_match,
          description="Share of answers whose first valid SMILES is the reference molecule (RDKit canonical).",
          outputs={"smiles_exact_match": True})
def smiles_exact_match(predictions: list, references: list[str]) -> dict:
    """Exact match of RDKit canonical SMILES, so "OCC" matches "CCO"; answers with no valid SMILES score 0.

    >>> smiles_exact_match([["C1CC", "OCC"], ["c1ccccc1"], []], ["CCO", "CCO", "CCO"])
    {'smiles_exact_match': 0.3333333333333333}
    """
    scores = [canonical_match(p, r) for p, r in zip(predictions, references)]
    return {"smiles_exact_match": sum(scores) / len(scores)}


@functools.cache
def _morgan():
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)


def morgan_tanimoto(prediction, reference, **_) -> float:
    """Tanimoto of Morgan fingerprints (radius 2, 2048 bits) of the first valid SMILES and the reference; 0 if none."""
    from rdkit import DataStructs

    mol, ref = _first_valid(prediction), _reference_mol(reference)
    if mol is None:
        return 0.0
    generator = _morgan()
    return float(DataStructs.TanimotoSimilarity(generator.GetFingerprint(mol), generator.GetFingerprint(ref)))


@register("tanimoto", kind="smiles", item_fn=morgan_tanimoto,
          description="Mean Tanimoto similarity (Morgan r=2, 2048 bits) of the first valid SMILES to the reference.",
          outputs={"tanimoto": True})
def tanimoto(predictions: list, references: list[str]) -> dict:
    """Mean Morgan-fingerprint Tanimoto similarity; answers without a valid SMILES score 0.

    >>> tanimoto([["OCC"], ["C1CC"], ["CCN"]], ["CCO", "CCO", "CCO"])
    {'tanimoto': 0.4444444444444444}
    """
    scores = [morgan_tanimoto(p, r) for p, r in zip(predictions, references)]
    return {"tanimoto": sum(scores) / len(scores)}
