"""Intrinsic dimension of a model's layer representations (the "LoRA rank choice" study).

The study sets a LoRA rank from the intrinsic dimension of the representations the model builds: TwoNN (Facco,
d'Errico, Rodriguez & Laio 2017, "Estimating the intrinsic dimension of datasets by a minimal neighborhood
information") on the mean-pooled hidden states of every layer gives a profile; its maximum (or mean) over the
transformer layers is the rank."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# What a collator's batch may hold that the forward pass should see; everything else (labels, meta) is left out,
# so that a causal LM does not compute a loss and a regression head does not check label shapes.
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def layer_representations(model, batches: Iterable[dict]) -> list[np.ndarray]:
    """One (n_examples, hidden) float32 array per entry of the model's `hidden_states`: index 0 is the embeddings
    output, index i the output of layer i. Each example is the mean of its hidden states over non-padding tokens
    (attention_mask == 1), so padding does not change it when batches are padded on the right, as training
    collators pad. The model runs frozen: eval mode (its previous mode comes back afterwards), no gradients."""
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    layers: list[list[np.ndarray]] = []
    try:
        with torch.no_grad():
            for batch in batches:
                inputs = {k: batch[k].to(device) for k in MODEL_INPUTS if batch.get(k) is not None}
                if "attention_mask" not in inputs:
                    inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
                hidden_states = model(**inputs, output_hidden_states=True).hidden_states
                mask = inputs["attention_mask"].unsqueeze(-1).float()
                count = mask.sum(dim=1).clamp(min=1.0)
                if not layers:
                    layers = [[] for _ in hidden_states]
                for out, hidden in zip(layers, hidden_states):
                    out.append(((hidden.float() * mask).sum(dim=1) / count).cpu().numpy())
    finally:
        model.train(was_training)
    if not layers:
        raise ValueError("No batches were given, so there are no representations to compute.")
    return [np.concatenate(parts).astype(np.float32) for parts in layers]


def twonn(points) -> float:
    """TwoNN intrinsic dimension of `points` (n_points, n_features) by scikit-dimension (`skdim.id.TwoNN`, the
    paper's linear fit discarding the largest 10% of ratios). Exact duplicates are dropped first, since TwoNN divides
    by the distance to the nearest neighbour; at least 3 distinct points must remain."""
    import skdim

    data = np.asarray(points, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"twonn needs a 2-D array (points × features), got shape {data.shape}.")
    data = np.unique(data, axis=0)
    if len(data) < 3:
        raise ValueError(f"TwoNN needs at least 3 distinct points, but only {len(data)} remain after dropping "
                         "exact duplicates.")
    if data.shape[1] < 2:  # skdim asks for 2 features; a zero column leaves every distance as it is
        data = np.hstack([data, np.zeros((len(data), 1))])
    return float(skdim.id.TwoNN().fit(data).dimension_)


def profile(model, batches: Iterable[dict]) -> list[float]:
    """TwoNN intrinsic dimension of each layer's mean-pooled representations: index 0 is the embeddings output,
    index i layer i (as in `layer_representations`)."""
    return [twonn(layer) for layer in layer_representations(model, batches)]


def rank_from_profile(profile: list[float], how: str = "max") -> int:
    """A LoRA rank from an intrinsic-dimension profile: the maximum ("max") or mean ("mean") over the transformer
    layers, rounded half up, at least 1. Index 0 (the embeddings output) is skipped: LoRA adapts the layers, and
    the embeddings' dimension reflects the token vocabulary rather than what the layers compute."""
    if how not in ("max", "mean"):
        raise ValueError(f"how must be 'max' or 'mean', not {how!r}.")
    layers = np.asarray(list(profile)[1:], dtype=np.float64)
    if len(layers) == 0:
        raise ValueError("The profile has no layer after the embeddings (index 0), so there is no rank to take.")
    if not np.all(np.isfinite(layers)):
        raise ValueError(f"The profile has non-finite values: {list(layers)}.")
    value = layers.max() if how == "max" else layers.mean()
    return max(1, int(np.floor(value + 0.5)))
