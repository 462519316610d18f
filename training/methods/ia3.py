"""IA3 with peft: learned scaling vectors. "all-linear" uses peft's per-architecture defaults (keys, values and
the feed-forward output), the layers the IA3 paper rescales."""
from errors import ConfigError
from training.methods.targets import head_modules, layer_index, linear_layers, resolve_targets, selected_layers
from training.methods.lora import PEFT_TASK

FEEDFORWARD = ("down_proj", "fc2", "w2", "dense_4h_to_h", "output.dense", "c_proj")


def apply(model, cfg, task):
    from peft import IA3Config, get_peft_model
    from peft.utils import TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING as FF_DEFAULTS
    from peft.utils import TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING as DEFAULTS

    if cfg.targets == "all-linear":
        model_type = model.config.model_type
        if model_type not in DEFAULTS:
            raise ConfigError(f"method.targets: peft has no IA3 defaults for {model_type!r} models; name the "
                              "target modules (keys, values and the feed-forward output layer).")
        targets, feedforward = list(DEFAULTS[model_type]), list(FF_DEFAULTS[model_type])
    else:
        targets = resolve_targets(model, cfg)
        feedforward = [t for t in targets if t in FEEDFORWARD]
    layers = selected_layers(model, cfg)
    if layers is not None:  # IA3Config has no layers_to_transform: name the modules of those layers in full
        chosen = [name for name in linear_layers(model) if layer_index(name) in layers]
        # the same rule peft applies to a name: itself, or a dotted suffix (BERT's default is "output.dense")
        feedforward = [n for n in chosen if _matches(n, feedforward)]
        targets = [n for n in chosen if _matches(n, targets)]
    masked = task == "pretrain" and type(model).__name__.endswith("ForMaskedLM")  # peft has no masked-LM task type
    config = IA3Config(target_modules=targets, feedforward_modules=feedforward,
                       task_type=None if masked else PEFT_TASK[task],
                       modules_to_save=head_modules(model, task) or None)
    short = sorted({t.split(".")[-1] for t in targets})
    where = f", layers {layers[0]}–{layers[-1]}" if layers else ""
    return get_peft_model(model, config), [f"IA3 on {', '.join(short)}{where}"]


def _matches(name: str, patterns) -> bool:
    return any(name == p or name.endswith("." + p) for p in patterns)
