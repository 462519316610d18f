"""Training methods, one module each: which weights train, and what the run saves (an adapter or a model).

Every method reports the trainable-parameter count and percentage; `summary(model)` computes them the same way
for all of them (trainable / all parameters of the model as trained, adapters included)."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from errors import ConfigError
# Output heads stay out of "all-linear" (adapting a 49k-row vocabulary projection is neither cheap nor wanted);
# the one list lives with weight merging, below training, which needs it too.
from models.merge import HEAD_NAMES

if TYPE_CHECKING:
    from training.config import MethodConfig



@dataclass(frozen=True)
class Method:
    """A method's capabilities: what every config check, dropdown, study and export reads instead of its name."""

    module: str  # training.methods.<module>: apply(model, cfg, task) -> (model, notes)
    saves: str  # "adapter" (a PEFT folder beside the base) or "model" (full weights)
    description: str
    low_rank: bool = False  # trains LoRA matrices: method.rank / alpha apply, the LoRA-rank study can use it
    picks_targets: bool = False  # adapts the layers named by method.targets (all-linear: every linear layer)
    needs_cuda: bool = False  # refused before the job starts elsewhere (see preflight)

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
                   picks_targets=True),
    "ia3": Method("ia3", "adapter", "learned rescaling vectors on keys, values and feed-forward layers"),
    "bitfit": Method("bitfit", "model", "only bias terms train (zero-initialised where the model has none)",
                     picks_targets=True),
    "qlora": Method("qlora", "adapter", "LoRA on a 4-bit quantised base (CUDA and bitsandbytes only)", low_rank=True,
                    picks_targets=True, needs_cuda=True),
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


def linear_layers(model) -> dict[str, object]:
    """Fully qualified name -> module, for every linear layer outside the output heads."""
    import torch

    out = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name.split(".")[-1] not in HEAD_NAMES:
            out[name] = module
    return out


def layer_index(name: str) -> int | None:
    """The transformer block a module belongs to (model.layers.5.self_attn.q_proj -> 5)."""
    parts = name.split(".")
    for before, part in zip(parts, parts[1:]):
        if before in ("layers", "layer", "h", "blocks") and part.isdigit():
            return int(part)
    return None


def resolve_targets(model, cfg: MethodConfig) -> list[str]:
    """Short module names to adapt; "all-linear" expands to every linear layer's name. A name that matches no
    linear layer is a ConfigError that lists the names the model has."""
    linear = linear_layers(model)
    short = sorted({name.split(".")[-1] for name in linear})
    if cfg.targets == "all-linear":
        return short
    missing = [t for t in cfg.targets if t not in short]
    if missing:
        raise ConfigError(f"method.targets: {', '.join(repr(m) for m in missing)} match(es) no linear layer of "
                          f"this model; its linear layers are named {', '.join(short)} (or write all-linear).")
    return list(cfg.targets)


def selected_layers(model, cfg: MethodConfig) -> list[int] | None:
    """Indices of the last N transformer blocks, or None for all."""
    if not cfg.last_n_layers:
        return None
    count = int(getattr(model.config, "num_hidden_layers", 0) or 0)
    if not count:
        raise ConfigError("method.last_n_layers: this model's config does not say how many layers it has.")
    n = min(int(cfg.last_n_layers), count)
    return list(range(count - n, count))


def head_modules(model, task: str | None = None) -> list[str]:
    """Names of the new task heads present: they start random, so they train in full under every method. A
    language-model head (lm_head, or cls of a BERT masked LM in pretraining) is pretrained and is not one."""
    if task == "pretrain":
        return []
    return [name for name in HEAD_NAMES if hasattr(model, name) and name != "lm_head"]
