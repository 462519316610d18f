"""LoRA with peft: rank, alpha (or alpha = k × rank), dropout, targets, the last N layers, rsLoRA and DoRA.
`Settings` are LoRA's own config fields (method.rank ...); qlora trains the same adapters, so it shares them."""
from __future__ import annotations

from dataclasses import dataclass, field

from config_loader import describe
from training.methods.targets import head_modules, resolve_targets, selected_layers

PEFT_TASK = {"sft": "CAUSAL_LM", "pretrain": "CAUSAL_LM", "classification": "SEQ_CLS", "regression": "SEQ_CLS"}


@dataclass
class Settings:
    """The low-rank adapters' shape and scaling."""

    rank: int = field(default=8, metadata=describe(
        "LoRA rank", "the adapters' inner dimension r", minimum=1, maximum=4096))
    alpha: float | None = field(default=None, metadata=describe(
        "LoRA alpha (0 = alpha multiplier × rank)", "the adapters' scale (none: alpha_k × rank)", short="LoRA alpha",
        exclusive_minimum=0))
    alpha_k: float = field(default=2.0, metadata=describe(
        "Alpha multiplier (alpha_k)", "alpha = alpha_k × rank when alpha is not set", short="Alpha multiplier",
        exclusive_minimum=0))
    dropout: float = field(default=0.05, metadata=describe(
        "LoRA dropout", "dropout on the adapters' input", minimum=0, exclusive_maximum=1))
    rslora: bool = field(default=False, metadata=describe(
        "rsLoRA (alpha / √rank)", "scale by alpha / √rank instead of alpha / rank (rank-stabilised LoRA)"))
    dora: bool = field(default=False, metadata=describe(
        "DoRA", "weight-decomposed LoRA: a trained magnitude per output besides the low-rank direction"))

    @property
    def lora_alpha(self) -> float:
        return float(self.alpha) if self.alpha is not None else float(self.alpha_k) * int(self.rank)


def lora_config(model, cfg, task):
    from peft import LoraConfig

    targets = resolve_targets(model, cfg)
    layers = selected_layers(model, cfg)
    masked = task == "pretrain" and type(model).__name__.endswith("ForMaskedLM")  # peft has no masked-LM task type
    return LoraConfig(
        r=int(cfg.rank), lora_alpha=cfg.lora_alpha, lora_dropout=float(cfg.dropout), target_modules=targets,
        layers_to_transform=layers, use_rslora=bool(cfg.rslora), use_dora=bool(cfg.dora),
        task_type=None if masked else PEFT_TASK[task],
        modules_to_save=head_modules(model, task) or None,
    )


def apply(model, cfg, task):
    from peft import get_peft_model

    config = lora_config(model, cfg, task)
    layers = config.layers_to_transform
    notes = [f"LoRA r={cfg.rank}, alpha={config.lora_alpha:g} on {', '.join(sorted(config.target_modules))}"
             + (f", layers {layers[0]}–{layers[-1]}" if layers else "")
             + (", rsLoRA" if cfg.rslora else "") + (", DoRA" if cfg.dora else "")]
    return get_peft_model(model, config), notes
