"""Instruction-data builders: a public export the user downloaded -> chat records with a task type.

Each module exposes `build(path) -> list[Record]` and a one-line DESCRIPTION; BUILDERS maps the CLI name to it.
They run offline on the file; a malformed file raises DataError naming the file and the entry.
"""
from __future__ import annotations

import importlib

BUILDERS = {
    "openfda": "data.builders.openfda",
    "orange-book": "data.builders.orange_book",
    "clinical-trials": "data.builders.clinical_trials",
    "pubchem": "data.builders.pubchem",
}


def get(name: str):
    """The builder module for a CLI name, with a did-you-mean error for a typo."""
    import difflib

    from data.records import DataError

    if name not in BUILDERS:
        close = difflib.get_close_matches(name, BUILDERS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(f"Unknown builder {name!r}.{hint} Known: {', '.join(BUILDERS)}.")
    return importlib.import_module(BUILDERS[name])
