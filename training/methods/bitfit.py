"""BitFit: only bias terms train (plus a new task head). Models without biases (Llama) get zero-initialised
trainable biases on the targeted linear layers: the model computes exactly what it did before training, and the
saved config turns on attention_bias / mlp_bias so the biases load back."""
from training.methods import head_modules, linear_layers, resolve_targets, selected_layers, layer_index

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


def apply(model, cfg, task):
    import torch

    targets = set(resolve_targets(model, cfg))
    layers = selected_layers(model, cfg)
    added = []
    for name, module in linear_layers(model).items():
        if name.split(".")[-1] not in targets or (layers is not None and layer_index(name) not in layers):
            continue
        if module.bias is None:
            module.bias = torch.nn.Parameter(torch.zeros(module.out_features, dtype=module.weight.dtype,
                                                         device=module.weight.device))
            added.append(name)
    heads = tuple(head_modules(model))
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.endswith(".bias") or name == "bias" or name.startswith(heads))
    notes = []
    if added:
        kinds = sorted({n.split(".")[-1] for n in added})
        notes.append(f"This model has no biases on {', '.join(kinds)}: added {len(added)} zero-initialised "
                     "trainable bias vectors (the model's outputs are unchanged until training moves them).")
        for flag, names in (("attention_bias", ATTENTION), ("mlp_bias", MLP)):
            if hasattr(model.config, flag) and any(k in names for k in kinds):
                setattr(model.config, flag, True)  # so the saved model loads its biases back
    return model, notes
