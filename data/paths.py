"""Paths a visitor types (a dataset, a validation file, a pool, a predictions file) are confined to the folders
this app owns, so a public link cannot read other files on the server: the data folder, the runs folder, the
local-models folder, the shared data beside the project, and any root listed in PHARMATUNE_ALLOWED_ROOTS
(separated by ':'). Symlinks and '..' are resolved first, so neither leads out. The CLI is not confined: whoever
runs it already has the machine."""
from __future__ import annotations

import os
from pathlib import Path

import settings
from data.records import DataError


def allowed_roots() -> list[Path]:
    roots = [settings.data_dir(), settings.runs_dir(), settings.local_models_dir(), settings.shared_data_dir()]
    roots += [Path(p).expanduser() for p in os.environ.get("PHARMATUNE_ALLOWED_ROOTS", "").split(os.pathsep) if p]
    return [r.resolve() for r in roots]


def confine(path: str | Path, field: str) -> Path:
    """The resolved path when it lies inside an allowed root; a DataError naming the field and the roots if not.
    Nothing is opened before the check."""
    resolved = Path(path).expanduser().resolve()
    roots = allowed_roots()
    if any(resolved == root or resolved.is_relative_to(root) for root in roots):
        return resolved
    raise DataError(f"{field}: {path} is outside the folders this app reads files from "
                    f"({', '.join(str(r) for r in roots)}). Upload the file, put it in one of them, or add its "
                    "folder to PHARMATUNE_ALLOWED_ROOTS.")


def confine_ref(ref: str, field: str) -> str:
    """A data set reference as typed: bundled: and shared: sets pass; a file or folder path must be confined."""
    from data.catalog import parse

    scheme, rest = parse(ref)
    if scheme in ("bundled", "shared"):
        return ref
    return str(confine(rest, field))
