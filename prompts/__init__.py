"""Every prompt template lives here as YAML: chat examples now; DDI, drug QA, SMILES and judge prompts later."""
from __future__ import annotations

from pathlib import Path

import yaml

HERE = Path(__file__).parent


def load(name: str):
    """The parsed YAML file prompts/<name>.yaml."""
    path = HERE / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in HERE.glob("*.yaml")))
        raise FileNotFoundError(f"No prompt file prompts/{name}.yaml; known: {known}")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def templates() -> list[str]:
    """Every chat template as "file.key" (entries with a user turn), for pickers: ddi.binary, datasets.freesolv …"""
    found = []
    for path in sorted(HERE.glob("*.yaml")):
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(entries, dict):
            found += [f"{path.stem}.{key}" for key, value in entries.items()
                      if isinstance(value, dict) and isinstance(value.get("user"), str)]
    return found
