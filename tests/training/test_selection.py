"""Data selection: LiSSA influence against the exact influence from an explicit Hessian, its signs on helpful and
corrupted points, TS-DShapley on planted label noise, and the selection rules."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from training.studies.selection import influence_scores, representations, select, ts_dshapley


# ---------------------------------------------------------------------------------------------- a tiny model

def tiny_mlp():
    """A small nonlinear regressor in float64 (21 parameters): model(x=..., labels=...).loss is the mean squared
    error, as a transformers model's .loss would be."""
    import torch

    class Regressor(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))

        def forward(self, x, labels):
            return SimpleNamespace(loss=torch.mean((self.net(x).squeeze(-1) - labels) ** 2))

    torch.manual_seed(0)
    return Regressor().double()


def regression_data(n: int, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    y = torch.tanh(x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)) + 0.05 * torch.randn(
        n, generator=g, dtype=torch.float64)
    return x, y


def fit(model, x, y, steps: int = 300):
    """Full-batch training close to a minimum, where the Hessian is (nearly) positive definite."""
    import torch

    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = model(x=x, labels=y).loss
        loss.backward()
        return loss

    optimizer.step(closure)
    return model


def batches(x, y, size: int) -> list[dict]:
    return [{"x": x[i:i + size], "labels": y[i:i + size]} for i in range(0, len(x), size)]


def exact_influence(model, x_train, y_train, x_val, y_val, x_pool, y_pool, damping: float) -> np.ndarray:
    """∇L(z)·(H + damping·I)⁻¹∇L_val with H from torch.autograd.functional.hessian on the flat parameters."""
    import torch
    from torch.func import functional_call

    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss_at(flat, x, y):
        pieces, offset = {}, 0
        for name, shape in zip(names, shapes):
            size = int(np.prod(shape))
            pieces[name] = flat[offset:offset + size].view(shape)
            offset += size
        return functional_call(model, pieces, (), {"x": x, "labels": y}).loss

    hessian = torch.autograd.functional.hessian(lambda f: loss_at(f, x_train, y_train), flat0)
    damped = hessian + damping * torch.eye(len(flat0), dtype=hessian.dtype)
    assert torch.linalg.eigvalsh(damped).min() > 0
    g_val = torch.autograd.functional.jacobian(lambda f: loss_at(f, x_val, y_val), flat0)
    s = torch.linalg.solve(damped, g_val)
    return np.array([float(torch.autograd.functional.jacobian(
        lambda f: loss_at(f, x_pool[i:i + 1], y_pool[i:i + 1]), flat0) @ s) for i in range(len(x_pool))])


@pytest.fixture(scope="module")
def setting():
    """A fitted tiny regressor, its train and validation sets, and a pool of validation copies, training-like
    points with corrupted (negated, shifted) targets and clean ones."""
    import torch

    x_train, y_train = regression_data(60, seed=1)
    x_val, y_val = regression_data(20, seed=2)
    x_new, y_new = regression_data(10, seed=3)
    x_pool = torch.cat([x_val[:5], x_new[:5], x_new[5:]])
    y_pool = torch.cat([y_val[:5], -y_new[:5] + 2.0, y_new[5:]])
    model = fit(tiny_mlp(), x_train, y_train)
    return SimpleNamespace(model=model, train=(x_train, y_train), val=(x_val, y_val), pool=(x_pool, y_pool))


# ---------------------------------------------------------------------------------------------- influence

def test_lissa_matches_exact_influence(setting):
    damping, scale = 0.005, 200.0  # the Hessian's largest eigenvalue is about 100: scale must exceed 50
    x, y = setting.train
    scores = influence_scores(setting.model, batches(x, y, 60), batches(*setting.val, 7), batches(*setting.pool, 4),
                              damping=damping, scale=scale, recursion_depth=3000)
    exact = exact_influence(setting.model, *setting.train, *setting.val, *setting.pool, damping=damping * scale)
    assert scores.shape == (15,)
    assert np.corrcoef(scores, exact)[0, 1] > 0.999
    np.testing.assert_allclose(scores, exact, rtol=1e-3, atol=1e-6 * np.abs(exact).max())


def untrained_linear():
    """A linear regressor with zero weights (an untrained head): up-weighting a point with the right target moves
    it toward the truth, one with a negated target away from it."""
    import torch

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(3, 1).double()
            torch.nn.init.zeros_(self.net.weight)
            torch.nn.init.zeros_(self.net.bias)

        def forward(self, x, labels):
            return SimpleNamespace(loss=torch.mean((self.net(x).squeeze(-1) - labels) ** 2))

    return Linear()


@pytest.fixture(scope="module")
def linear_setting():
    """Linear data (400 train, 400 validation); the pool holds 5 copies of validation points, then 5 new points
    with negated targets (all with |target| > 1, so that no score is near 0)."""
    import torch

    g = torch.Generator().manual_seed(0)
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)

    def data(n):
        x = torch.randn(n, 3, generator=g, dtype=torch.float64)
        return x, x @ w + 0.1 * torch.randn(n, generator=g, dtype=torch.float64)

    (x_train, y_train), (x_val, y_val), (x_new, y_new) = data(400), data(400), data(40)
    copies, new = y_val.abs() > 1, y_new.abs() > 1
    x_pool = torch.cat([x_val[copies][:5], x_new[new][:5]])
    y_pool = torch.cat([y_val[copies][:5], -y_new[new][:5]])
    return SimpleNamespace(train=(x_train, y_train), val=(x_val, y_val), pool=(x_pool, y_pool))


def test_lissa_with_minibatches_and_repeats_is_close(linear_setting):
    damping, scale = 0.01, 10.0
    x, y = linear_setting.train
    scores = influence_scores(untrained_linear(), batches(x, y, 50), batches(*linear_setting.val, 100),
                              batches(*linear_setting.pool, 3), damping=damping, scale=scale, recursion_depth=300,
                              repeats=3, seed=1)
    exact = exact_influence(untrained_linear(), *linear_setting.train, *linear_setting.val, *linear_setting.pool,
                            damping=damping * scale)
    assert np.corrcoef(scores, exact)[0, 1] > 0.99


def test_influence_signs(linear_setting):
    x, y = linear_setting.train
    scores = influence_scores(untrained_linear(), batches(x, y, 100), batches(*linear_setting.val, 100),
                              batches(*linear_setting.pool, 4), recursion_depth=200)
    copies_of_validation, corrupted = scores[:5], scores[5:]
    assert np.all(copies_of_validation > 0)  # up-weighting a validation point lowers the validation loss
    assert np.all(corrupted < 0)  # up-weighting a wrong target raises it
    assert select(scores, "positive") == [int(i) for i in np.argsort(-scores)[:5]]
    assert set(select(scores, "positive")) == set(range(5))


def test_influence_uses_only_trainable_parameters(setting):
    """Freezing all but the last layer changes the scores (fewer directions), and leaves no gradients behind."""
    model = fit(tiny_mlp(), *setting.train)
    model.zero_grad(set_to_none=True)
    x, y = setting.train
    args = (batches(x, y, 60), batches(*setting.val, 20), batches(*setting.pool, 15))
    every = influence_scores(model, *args, damping=0.005, scale=200.0, recursion_depth=50)
    for p in model.net[0].parameters():
        p.requires_grad_(False)
    head = influence_scores(model, *args, damping=0.005, scale=200.0, recursion_depth=50)
    assert not np.allclose(every, head)
    assert all(p.grad is None for p in model.parameters())
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="requires_grad"):
        influence_scores(model, *args)


def test_lissa_divergence_says_to_raise_scale(setting):
    x, y = setting.train
    with pytest.raises(ValueError, match="Raise scale"):
        influence_scores(setting.model, batches(x, y, 60), batches(*setting.val, 20), batches(*setting.pool, 15),
                         scale=1.0, recursion_depth=500)


def tiny_llama_head_only():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0)
    model = LlamaForCausalLM(config)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("lm_head"))
    return model


def lm_batch(sequences: list[list[int]]) -> dict:
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.tensor([s + [0] * (width - len(s)) for s in sequences])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences])
    return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}


def test_pool_batch_size_does_not_change_transformers_scores():
    """A padded pool batch of 3 gives each example the score it gets alone (per-example gradients)."""
    model = tiny_llama_head_only()
    rng = np.random.default_rng(0)
    seqs = [[int(t) for t in rng.integers(1, 100, size=int(rng.integers(3, 9)))] for _ in range(12)]
    train, val, pool = [lm_batch(seqs[0:4]), lm_batch(seqs[4:8])], [lm_batch(seqs[8:10])], seqs[9:12]
    together = influence_scores(model, train, val, [lm_batch(pool)], recursion_depth=5)
    alone = influence_scores(model, train, val, [lm_batch([s]) for s in pool], recursion_depth=5)
    assert together.shape == (3,) and np.all(np.isfinite(together))
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-7)
    assert together[0] > 0  # pool[0] is a validation example


def test_representations_are_last_layer_features():
    model = tiny_llama_head_only()
    features = representations(model, [lm_batch([[1, 2, 3], [4, 5, 6, 7]]), lm_batch([[8, 9]])])
    assert features.shape == (3, 32) and np.all(np.isfinite(features))


# ---------------------------------------------------------------------------------------------- TS-DShapley

def noisy_pool(task: str, n_pool: int = 40, n_val: int = 60, n_bad: int = 8, seed: int = 0):
    """Features with an easy linear target; the first n_bad pool targets are corrupted."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=5)
    x_pool, x_val = rng.normal(size=(n_pool, 5)), rng.normal(size=(n_val, 5))
    if task == "regression":
        y_pool, y_val = x_pool @ w + 0.1 * rng.normal(size=n_pool), x_val @ w
        y_pool[:n_bad] = -y_pool[:n_bad] + 3.0
    else:
        y_pool, y_val = (x_pool @ w > 0).astype(int), (x_val @ w > 0).astype(int)
        y_pool[:n_bad] = 1 - y_pool[:n_bad]
    return x_pool, y_pool, x_val, y_val, n_bad


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_ts_dshapley_values_corrupted_points_lower(task):
    x_pool, y_pool, x_val, y_val, n_bad = noisy_pool(task)
    values = ts_dshapley(x_pool, y_pool, x_val, y_val, task=task, subset_size=20, resamples=4, permutations=15)
    assert values.shape == (len(x_pool),)
    bad, good = values[:n_bad], values[n_bad:]
    assert bad.mean() < good.mean() - 0.5 * good.std()
    assert bad.mean() < 0 < good.mean()
    # the top half picks (almost) only clean points
    assert len(set(select(values, "top-k", k=len(x_pool) // 2)) & set(range(n_bad))) <= 2


def test_ts_dshapley_is_reproducible():
    x_pool, y_pool, x_val, y_val, _ = noisy_pool("regression", n_pool=20)
    kwargs = dict(subset_size=10, resamples=3, permutations=5)
    first = ts_dshapley(x_pool, y_pool, x_val, y_val, seed=7, **kwargs)
    np.testing.assert_array_equal(first, ts_dshapley(x_pool, y_pool, x_val, y_val, seed=7, **kwargs))
    assert not np.array_equal(first, ts_dshapley(x_pool, y_pool, x_val, y_val, seed=8, **kwargs))


def test_ts_dshapley_covers_every_point_when_draws_suffice():
    x_pool, y_pool, x_val, y_val, _ = noisy_pool("regression", n_pool=25)
    covered = ts_dshapley(x_pool, y_pool, x_val, y_val, subset_size=10, resamples=3, permutations=3,
                          truncation_tolerance=0.0)
    assert np.all(covered != 0)  # 3 × 10 >= 25: every point was drawn
    partial = ts_dshapley(x_pool, y_pool, x_val, y_val, subset_size=10, resamples=1, permutations=3,
                          truncation_tolerance=0.0)
    assert np.sum(partial == 0) == 15  # one subset of 10: the other 15 are never drawn and get 0


def test_ts_dshapley_values_sum_to_the_subset_gain():
    """Efficiency: without truncation, one subset's values add up to u(subset) − u(empty set)."""
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    x_pool, y_pool, x_val, y_val, _ = noisy_pool("regression", n_pool=12)
    values = ts_dshapley(x_pool, y_pool, x_val, y_val, subset_size=12, resamples=1, permutations=4,
                         truncation_tolerance=0.0)
    scaler = StandardScaler().fit(x_pool)
    full = -np.mean((Ridge(alpha=1.0).fit(scaler.transform(x_pool), y_pool).predict(scaler.transform(x_val))
                     - y_val) ** 2)
    empty = -np.mean((y_val - y_pool.mean()) ** 2)
    assert values.sum() == pytest.approx(full - empty, rel=1e-9)


def test_ts_dshapley_errors():
    x_pool, y_pool, x_val, y_val, _ = noisy_pool("regression", n_pool=10)
    with pytest.raises(ValueError, match="task"):
        ts_dshapley(x_pool, y_pool, x_val, y_val, task="ranking")
    with pytest.raises(ValueError, match="subset_size"):
        ts_dshapley(x_pool, y_pool, x_val, y_val, subset_size=11)


# ---------------------------------------------------------------------------------------------- select

def test_select_positive_best_first():
    assert select([0.5, -1.0, 2.0, 0.0, 0.5]) == [2, 0, 4]
    assert select(np.array([-1.0, -2.0]), rule="positive") == []


def test_select_top_k():
    assert select([0.5, -1.0, 2.0, 0.0], rule="top-k", k=3) == [2, 0, 3]
    assert select([0.5, -1.0], rule="top-k", k=np.int64(2)) == [0, 1]


@pytest.mark.parametrize("kwargs, message", [
    (dict(rule="best"), "rule must be"),
    (dict(rule="top-k"), "integer k"),
    (dict(rule="top-k", k=0), "integer k"),
    (dict(rule="top-k", k=5), "integer k"),
    (dict(rule="top-k", k=1.5), "integer k"),
    (dict(rule="top-k", k=True), "integer k"),
    (dict(rule="positive", k=2), "only for rule='top-k'"),
])
def test_select_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        select([0.3, 0.1, -0.2, 0.4], **kwargs)


def test_select_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        select([0.1, float("nan")])
