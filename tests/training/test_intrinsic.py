"""Intrinsic dimension: TwoNN on data of known dimension, per-layer profiles of a tiny random model, padding-free
pooling, and the rank taken from a profile."""
from __future__ import annotations

import numpy as np
import pytest

from training.studies.intrinsic import layer_representations, profile, rank_from_profile, twonn


def plane_in_30d(n: int = 1000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, 2)) @ rng.normal(size=(2, 30))


def curved_5d_in_30d(n: int = 2000, seed: int = 1) -> np.ndarray:
    """A curved 5-D manifold: 5 latent coordinates through sines and cosines, rotated into 30-D."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=(n, 5))
    lifted = np.hstack([u, np.sin(2 * u), np.cos(3 * u)])
    return lifted @ rng.normal(size=(15, 30))


def test_twonn_of_a_plane_in_30d_is_two():
    assert twonn(plane_in_30d()) == pytest.approx(2.0, abs=0.3)


def test_twonn_of_a_curved_5d_manifold_is_five():
    assert twonn(curved_5d_in_30d()) == pytest.approx(5.0, abs=1.0)


def test_twonn_separates_dimensions():
    assert twonn(curved_5d_in_30d()) > twonn(plane_in_30d()) + 2


def test_twonn_ignores_exact_duplicates():
    points = plane_in_30d(500)
    with_duplicates = np.vstack([points, points[:100], points[:10]])
    assert twonn(with_duplicates) == pytest.approx(twonn(points), abs=1e-9)


def test_twonn_needs_three_distinct_points():
    with pytest.raises(ValueError, match="at least 3 distinct points"):
        twonn(np.ones((50, 4)))
    with pytest.raises(ValueError, match="at least 3 distinct points"):
        twonn(np.array([[0.0, 1.0], [0.0, 1.0], [2.0, 3.0]]))


def test_twonn_of_points_on_a_line():
    line = np.random.default_rng(0).uniform(size=(400, 1))
    assert twonn(line) == pytest.approx(1.0, abs=0.2)


def tiny_llama():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0)
    return LlamaForCausalLM(config)


def tiny_bert():
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, pad_token_id=0)
    return BertModel(config)


def padded_batch(sequences: list[list[int]]) -> dict:
    """Right-padded input_ids and attention_mask, as a training collator gives, plus labels to be ignored."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.tensor([s + [0] * (width - len(s)) for s in sequences])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences])
    return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}


def random_batches(n: int, batch_size: int = 8, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    sequences = [list(rng.integers(1, 100, size=int(rng.integers(4, 12)))) for _ in range(n)]
    return [padded_batch([[int(t) for t in s] for s in sequences[i:i + batch_size]]) for i in range(0, n, batch_size)]


def test_profile_of_a_tiny_model_has_one_finite_value_per_layer_and_embeddings():
    model = tiny_llama()
    values = profile(model, random_batches(48))
    assert len(values) == model.config.num_hidden_layers + 1
    assert all(np.isfinite(v) and v > 0 for v in values)


def test_layer_representations_shapes_and_frozen_model():
    model = tiny_llama()
    model.train()
    layers = layer_representations(model, random_batches(20))
    assert len(layers) == 3
    assert all(layer.shape == (20, 32) and layer.dtype == np.float32 for layer in layers)
    assert model.training  # the mode comes back
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("build", [tiny_llama, tiny_bert])
def test_padding_does_not_change_an_examples_representation(build):
    model = build()
    short, long_one, other = [5, 17, 42], [8, 9, 10, 11, 12, 13, 14], [3, 4, 5, 6, 7]
    alone = layer_representations(model, [padded_batch([short])])
    batched = layer_representations(model, [padded_batch([long_one, short, other])])
    for layer_alone, layer_batched in zip(alone, batched):
        np.testing.assert_allclose(layer_batched[1], layer_alone[0], atol=1e-5)
    # and the padding really is there: the pooled vector differs from pooling over the padded length
    unmasked = layer_representations(model, [{"input_ids": padded_batch([long_one, short])["input_ids"]}])
    assert not np.allclose(unmasked[-1][1], alone[-1][0], atol=1e-3)


def test_labels_and_other_keys_are_ignored():
    model = tiny_llama()
    batch = padded_batch([[1, 2, 3], [4, 5]])
    plain = layer_representations(model, [{k: batch[k] for k in ("input_ids", "attention_mask")}])
    extra = layer_representations(model, [{**batch, "labels": batch["labels"][:, :1], "meta": ["a", "b"]}])
    for a, b in zip(plain, extra):
        np.testing.assert_array_equal(a, b)


def test_rank_from_profile_skips_embeddings():
    values = [9.0, 2.2, 4.6, 3.1]
    assert rank_from_profile(values) == 5
    assert rank_from_profile(values, how="max") == 5
    assert rank_from_profile(values, how="mean") == 3  # (2.2 + 4.6 + 3.1) / 3 = 3.3
    assert rank_from_profile([50.0, 2.5, 2.5], how="mean") == 3  # rounded half up
    assert rank_from_profile([3.0, 0.2, 0.1]) == 1  # at least 1


def test_rank_from_profile_errors():
    with pytest.raises(ValueError, match="'max' or 'mean'"):
        rank_from_profile([1.0, 2.0], how="median")
    with pytest.raises(ValueError, match="no layer after the embeddings"):
        rank_from_profile([4.0])
    with pytest.raises(ValueError, match="non-finite"):
        rank_from_profile([4.0, float("nan"), 3.0])
