"""Imports point down the layers (ARCHITECTURE.md): settings, errors → config_loader → store → jobs → prompts →
data → openai_ft → models → evaluation → training → serve → ui → app. Every import counts, top-level or inside a
function, so a cycle cannot hide in a function.

Entry points (`__main__.py`, `cli.py`) wire layers together like the app does: they may import anything below
the UI, and no library module may import them."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

LAYERS = [("settings", "errors"), ("config_loader",), ("store",), ("jobs",), ("prompts",), ("data",), ("openai_ft",),
          ("models",), ("evaluation",), ("training",), ("serve",), ("ui",), ("app",)]
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}
ENTRY_POINTS = ("__main__.py", "cli.py")


def project_files() -> list[Path]:
    skip = {".venv", "tests", "bench", ".cache", ".git", "datasets", "runs", "local_models"}
    return [p for p in sorted(ROOT.rglob("*.py")) if p.relative_to(ROOT).parts[0] not in skip]


def imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def layer_of(path: Path) -> str:
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def is_entry_point(module: str) -> bool:
    return module.rsplit(".", 1)[-1] in ("__main__", "cli")


def violations() -> list[str]:
    found = []
    for path in project_files():
        rel, me = path.relative_to(ROOT).as_posix(), layer_of(path)
        assert me in LEVEL, f"{rel}: the package {me!r} has no place in LAYERS"
        entry = path.name in ENTRY_POINTS
        for line, module in imports(path):
            top = module.split(".")[0]
            if top not in LEVEL:
                continue  # the standard library or a third-party package
            upward = LEVEL[top] > LEVEL[me] and not (entry and LEVEL[top] < LEVEL["ui"])
            sideways = LEVEL[top] == LEVEL[me] and top != me
            into_entry = is_entry_point(module) and not entry and me != "app"
            if upward or sideways or into_entry:
                why = "an entry point" if into_entry else f"the {top} layer, above {me}"
                found.append(f"{rel}:{line}: imports {module} ({why})")
    return found


def test_every_import_points_down_the_layers():
    found = violations()
    assert not found, "imports that point up the layers:\n" + "\n".join(found)


def test_the_checker_catches_an_upward_import_inside_a_function(tmp_path):
    bad = tmp_path / "probe.py"
    bad.write_text("def f():\n    from training.recipe import train\n")
    assert list(imports(bad)) == [(2, "training.recipe")]
    assert LEVEL["training"] > LEVEL["models"] > LEVEL["data"] > LEVEL["settings"]
