"""Training methods, one module each: which weights train, and what the run saves (an adapter or a model).

Every method reports the trainable-parameter count and percentage; `parameter_counts(model)` computes them the same way
for all of them (trainable / all parameters of the model as trained, adapters included).

A method's module may declare `Settings`, a dataclass of the config fields it adds (method.rank ...) with their
metadata (config_loader.describe); its entry below names them, and training.config.MethodConfig is built from
every entry's settings, so a new hyperparameter is written once, in its method's module."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from errors import ConfigError
from training.methods import lora, targets
# the layer helpers live in training.methods.targets; they stay importable from here
from training.methods.targets import head_modules, layer_index, linear_layers, resolve_targets, selected_layers

if TYPE_CHECKING:
    from training.config import MethodConfig

__all__ = ["METHODS", "Method", "get", "head_modules", "layer_index", "linear_layers", "names", "parameter_counts",
           "resolve_targets", "selected_layers"]


@dataclass(frozen=True)
class Method:
    """A method's capabilities: what every config check, dropdown, study and export reads instead of its name."""

    module: str  # training.methods.<module>: apply(model, cfg, task) -> (model, notes)
    saves: str  # "adapter" (a PEFT folder beside the base) or "model" (full weights)
    description: str
    low_rank: bool = False  # trains LoRA matrices: method.rank / alpha apply, the LoRA-rank study can use it
    picks_targets: bool = False  # adapts the layers named by method.targets (all-linear: every linear layer)
    needs_cuda: bool = False  # refused before the job starts elsewhere (see preflight)
    settings: tuple[type, ...] = ()  # dataclasses of the config fields the method reads (shared ones named once)

    @property
    def is_peft(self) -> bool:
        """Saves a PEFT adapter folder (library_name: peft on the Hub), loaded on top of its base."""
        return self.saves == "adapter"

    def apply(self, model, cfg: MethodConfig, task: str):
        return importlib.import_module(f"training.methods.{self.module}").apply(model, cfg, task)

    def preflight(self, cfg: MethodConfig):
        """Raise ConfigError before the job starts when this machine cannot run the method."""
        check = getattr(importlib.import_module(f"training.methods.{self.module}"), "preflight", None)
        if check:
            check(cfg)

    def load_kwargs(self, cfg: MethodConfig) -> dict:
        extra = getattr(importlib.import_module(f"training.methods.{self.module}"), "load_kwargs", None)
        return extra(cfg) if extra else {}


METHODS: dict[str, Method] = {  # the one list of method names
    "full": Method("full", "model", "all weights train"),
    "lora": Method("lora", "adapter", "low-rank adapters on the chosen linear layers", low_rank=True,
                   picks_targets=True, settings=(lora.Settings, targets.Settings)),
    "ia3": Method("ia3", "adapter", "learned rescaling vectors on keys, values and feed-forward layers",
                  settings=(targets.Settings,)),
    "bitfit": Method("bitfit", "model", "only bias terms train (zero-initialised where the model has none)",
                     picks_targets=True, settings=(targets.Settings,)),
    "qlora": Method("qlora", "adapter", "LoRA on a 4-bit quantised base (CUDA and bitsandbytes only)", low_rank=True,
                    picks_targets=True, needs_cuda=True, settings=(lora.Settings, targets.Settings)),
}


def names(**capabilities) -> list[str]:
    """Method names with the given capabilities, e.g. names(low_rank=True) or names(needs_cuda=False)."""
    return [n for n, m in METHODS.items() if all(getattr(m, k) == v for k, v in capabilities.items())]


def get(name: str) -> Method:
    if name not in METHODS:
        import difflib

        close = difflib.get_close_matches(name, METHODS, n=1)
        raise ConfigError(f"Unknown method {name!r}." + (f" Did you mean {close[0]!r}?" if close else "")
                          + f" Known: {', '.join(METHODS)}")
    return METHODS[name]


def parameter_counts(model) -> dict:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable_params": trainable, "total_params": total,
            "trainable_percent": round(100.0 * trainable / total, 4) if total else 0.0}
