"""BitFit: only bias terms train (plus a new task head). Models without biases (Llama) get zero-initialised
trainable biases on the targeted linear layers: the model computes exactly what it did before training, and the
saved config turns on attention_bias / mlp_bias so the biases load back.

With the defaults (all-linear, every layer) every bias of the model trains, LayerNorm's included, as in the paper;
named targets or last_n_layers restrict training to the biases of those linear layers in those layers."""
from training.methods.targets import head_modules, layer_index, linear_layers, resolve_targets, selected_layers

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


def apply(model, cfg, task):
    import torch

    targets = set(resolve_targets(model, cfg))
    layers = selected_layers(model, cfg)
    restricted = cfg.targets != "all-linear" or layers is not None
    linear = linear_layers(model)
    chosen = [name for name in linear
              if name.split(".")[-1] in targets and (layers is None or layer_index(name) in layers)]
    added = []
    for name in chosen:
        module = linear[name]
        if module.bias is None:
            module.bias = torch.nn.Parameter(torch.zeros(module.out_features, dtype=module.weight.dtype,
                                                         device=module.weight.device))
            added.append(name)
    heads = set(head_modules(model, task))
    wanted = {f"{name}.bias" for name in chosen}
    for name, parameter in model.named_parameters():
        is_bias = name.endswith(".bias") or name == "bias"
        parameter.requires_grad_(name.split(".")[0] in heads or (is_bias and (name in wanted or not restricted)))
    notes = []
    if restricted:
        notes.append(f"BitFit on the biases of {len(chosen)} linear layers ({', '.join(sorted(targets))}"
                     + (f", layers {layers[0]}–{layers[-1]}" if layers else "") + ").")
    if added:
        kinds = sorted({n.split(".")[-1] for n in added})
        notes.append(f"This model has no biases on {', '.join(kinds)}: added {len(added)} zero-initialised "
                     "trainable bias vectors (the model's outputs are unchanged until training moves them).")
        for flag, names in (("attention_bias", ATTENTION), ("mlp_bias", MLP)):
            if hasattr(model.config, flag) and any(k in names for k in kinds):
                setattr(model.config, flag, True)  # so the saved model loads its biases back
    return model, notes
