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
