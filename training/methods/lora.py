"""LoRA with peft: rank, alpha (or alpha = k × rank), dropout, targets, the last N layers, rsLoRA and DoRA."""
from training.methods import head_modules, resolve_targets, selected_layers

PEFT_TASK = {"sft": "CAUSAL_LM", "pretrain": "CAUSAL_LM", "classification": "SEQ_CLS", "regression": "SEQ_CLS"}


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
