"""Which layers a method adapts: the linear layers outside the output heads, the targets a config names, the last
N transformer blocks, and the new task heads that train in full. `Settings` are the two config fields for it
(method.targets, method.last_n_layers), shared by every method that picks its layers."""
from __future__ import annotations

from dataclasses import dataclass, field

from config_loader import describe
from errors import ConfigError
# Output heads stay out of "all-linear" (adapting a 49k-row vocabulary projection is neither cheap nor wanted);
# the one list lives with weight merging, below training, which needs it too.
from models.merge import HEAD_NAMES


@dataclass
class Settings:
    """The layers to adapt: lora, qlora, ia3 and bitfit read them."""

    targets: list[str] | str = field(default="all-linear", metadata=describe(
        "Target modules (all-linear, or q_proj,v_proj …)", "module names to adapt (q_proj, v_proj ...), or all-linear",
        short="Target modules"))
    last_n_layers: int | None = field(default=None, metadata=describe(
        "Only the last N layers (0 = all)", "adapt only the last N transformer layers (none: all of them)",
        short="Last N layers", minimum=1))

    def check(self):
        """"q_proj, v_proj" (a text box, a YAML string) becomes a list; an empty one names nothing to adapt."""
        if isinstance(self.targets, str) and self.targets != "all-linear":
            self.targets = [t.strip() for t in self.targets.split(",") if t.strip()]
        if not self.targets:
            raise ConfigError("method.targets is empty; name modules (q_proj, v_proj ...) or write all-linear.")


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


def resolve_targets(model, cfg) -> list[str]:
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


def selected_layers(model, cfg) -> list[int] | None:
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
