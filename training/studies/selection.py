"""Data selection for fine-tuning (the "Chemical LM regression" study): influence functions estimated with LiSSA,
and TS-DShapley, then a selection rule over the scores.

pyDVL implements both, but pins numpy<2 and downgrades pandas in this environment, so short versions faithful to
the papers live here:
- Koh & Liang 2017, "Understanding black-box predictions via influence functions" (influence of up-weighting a
  training point on a test loss), with the inverse-Hessian-vector product by LiSSA (Agarwal, Bullins & Hazan 2017,
  "Second-order stochastic optimization for machine learning in linear time"), as in Koh & Liang's code.
- Schoch, Mishra & Ji 2023, "Data selection for fine-tuning large language models using transferred Shapley
  values" (TS-DShapley), with truncated Monte-Carlo permutation Shapley values (Ghorbani & Zou 2019, "Data
  Shapley: equitable valuation of data for machine learning")."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from training.studies.intrinsic import layer_representations


# ---------------------------------------------------------------------------------------------- influence (LiSSA)

def _size(batch: dict) -> int:
    return next(len(v) for v in batch.values() if hasattr(v, "shape") and v.ndim > 0)


def _to(batch: dict, device) -> dict:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}


def _examples(batch: dict) -> Iterable[dict]:
    """The batch one example at a time (tensors whose first dimension is the batch size are sliced)."""
    n = _size(batch)
    for i in range(n):
        yield {k: v[i:i + 1] if hasattr(v, "shape") and v.ndim > 0 and len(v) == n else v for k, v in batch.items()}


def _flat(tensors, params):
    import torch

    return torch.cat([(t if t is not None else torch.zeros_like(p)).reshape(-1) for t, p in zip(tensors, params)])


def _gradient(model, batch: dict, params):
    """Flat gradient of model(**batch).loss over `params`."""
    import torch

    loss = model(**batch).loss
    return _flat(torch.autograd.grad(loss, params, allow_unused=True), params).detach()


def _hvp(model, batch: dict, params, vector):
    """Hessian-vector product of the batch loss by double backprop (Pearlmutter's trick). Attention runs on the
    math SDPA kernel here, since fused kernels (flash, memory-efficient) are not twice differentiable."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([SDPBackend.MATH]):
        loss = model(**batch).loss
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    pieces, offset = [], 0
    for g, p in zip(grads, params):
        if g is not None and g.requires_grad:  # a gradient without a graph has a zero Hessian block
            pieces.append((g * vector[offset:offset + p.numel()].view_as(g)).sum())
        offset += p.numel()
    if not pieces:
        return torch.zeros_like(vector)
    return _flat(torch.autograd.grad(sum(pieces), params, allow_unused=True), params).detach()


def influence_scores(model, train_batches: Iterable[dict], val_batches: Iterable[dict],
                     pool_batches: Iterable[dict], *, damping: float = 0.01, scale: float = 10.0,
                     recursion_depth: int = 100, repeats: int = 1, seed: int = 0) -> np.ndarray:
    """One influence score per pool example (in order, batches split into single examples): score(z) =
    ∇L(z) · H⁻¹ ∇L_val, where L_val is the mean validation loss and H the training-loss Hessian. It is minus Koh &
    Liang's I_up,loss, so a POSITIVE score means up-weighting z LOWERS the validation loss (helpful), a negative one
    that it raises it (harmful).

    Only parameters with requires_grad take part (a LoRA adapter, a regression head). model(**batch).loss must be
    the loss (batches carry labels); the model runs in eval mode (no dropout; its mode comes back afterwards).
    H⁻¹ g is estimated by LiSSA as in Koh & Liang's code: v ← g + (1 − damping)·v − (H v)/scale over
    `recursion_depth` steps, H taken on the train batches in turn (reshuffled each pass), then H⁻¹ g ≈ v/scale,
    averaged over `repeats` runs. Its fixed point is (H + damping·scale·I)⁻¹ g: damping·scale is the effective
    Tikhonov damping. It converges when every Hessian eigenvalue lies in (−damping·scale, (2 − damping)·scale); if
    the iterate becomes non-finite a ValueError says to raise scale."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("The model has no parameter with requires_grad, so there is nothing to take influence on.")
    device = params[0].device
    train = [_to(b, device) for b in train_batches]
    if not train:
        raise ValueError("influence_scores needs at least one training batch for the Hessian.")
    was_training = model.training
    model.eval()
    try:
        g_val, total = None, 0
        for batch in val_batches:
            batch = _to(batch, device)
            n = _size(batch)
            g = _gradient(model, batch, params) * n
            g_val, total = (g if g_val is None else g_val + g), total + n
        if g_val is None:
            raise ValueError("influence_scores needs at least one validation batch.")
        g_val = g_val / total

        rng = np.random.default_rng(seed)
        estimate = torch.zeros_like(g_val)
        for _ in range(repeats):
            v, order = g_val.clone(), []
            for step in range(recursion_depth):
                if not order:
                    order = list(rng.permutation(len(train)))
                v = g_val + (1 - damping) * v - _hvp(model, train[order.pop()], params, v) / scale
                if not torch.isfinite(v).all():
                    raise ValueError(f"LiSSA diverged (non-finite iterate at step {step + 1}) with scale={scale} and "
                                     f"damping={damping}: a Hessian eigenvalue lies outside (−damping·scale, "
                                     f"(2 − damping)·scale). Raise scale (e.g. ten times) above half the largest "
                                     f"eigenvalue; with negative curvature raise damping too.")
            estimate += v / scale
        s = estimate / repeats

        scores = [float(_gradient(model, example, params) @ s)
                  for batch in pool_batches for example in _examples(_to(batch, device))]
    finally:
        model.train(was_training)
    return np.asarray(scores, dtype=np.float64)


# ---------------------------------------------------------------------------------------------- TS-DShapley

def representations(model, batches: Iterable[dict]) -> np.ndarray:
    """Frozen last-layer representations, mean-pooled over non-padding tokens (n_examples, hidden): the features
    TS-DShapley's simple model is trained on."""
    return layer_representations(model, batches)[-1]


def _subsets(n: int, size: int, count: int, rng) -> list[np.ndarray]:
    """`count` random subsets of range(n) of `size` distinct points each, cut from consecutive fresh random
    permutations, so that every point is drawn once before any is drawn twice."""
    out, current = [], []
    while len(out) < count:
        for i in rng.permutation(n):
            if i in current:  # only where a subset spans two permutations
                continue
            current.append(i)
            if len(current) == size:
                out.append(np.asarray(current))
                current = []
                if len(out) == count:
                    break
    return out


def ts_dshapley(pool_features, pool_targets, val_features, val_targets, *, task: str = "regression",
                subset_size: int | None = None, resamples: int = 5, permutations: int = 50,
                truncation_tolerance: float = 1e-3, seed: int = 0) -> np.ndarray:
    """TS-DShapley values (Schoch, Mishra & Ji 2023), one per pool point; higher is more valuable.

    Shapley values on the whole pool cost too much, so `resamples` random subsets of `subset_size` points (default
    min(len(pool), 100)) are valued one at a time by truncated Monte-Carlo permutation sampling (Ghorbani & Zou
    2019: `permutations` random orders; a point's value is the mean utility gain when it joins the points before it;
    once a prefix's utility is within truncation_tolerance·|u(subset)| of the whole subset's, the remaining points
    gain 0). The utility is that of a SIMPLE model on the frozen features (the "transferred" part), standardized on
    the pool: Ridge with utility −MSE on the validation set for task="regression", LogisticRegression with utility
    validation accuracy for task="classification". Sets the model cannot be fitted on (the empty set; a set with
    one class for classification) get a constant baseline utility: that of predicting the pool's mean target
    (regression) or the pool's majority class (classification).

    Each point's value is the mean over the subsets it appeared in. Subsets are cut from consecutive random
    permutations of the pool, so every point is drawn when resamples × subset_size >= len(pool); a point never
    drawn (fewer draws than that) gets 0, the value of a point that changes nothing."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    if task not in ("regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification', not {task!r}.")
    pool_x, val_x = np.asarray(pool_features, dtype=np.float64), np.asarray(val_features, dtype=np.float64)
    pool_y, val_y = np.asarray(pool_targets), np.asarray(val_targets)
    n = len(pool_x)
    if n == 0 or len(val_x) == 0:
        raise ValueError("ts_dshapley needs a non-empty pool and validation set.")
    if len(pool_y) != n or len(val_y) != len(val_x):
        raise ValueError("Features and targets must have the same number of rows.")
    size = min(n, 100) if subset_size is None else int(subset_size)
    if not 1 <= size <= n:
        raise ValueError(f"subset_size must be between 1 and the pool size {n}, not {subset_size}.")
    scaler = StandardScaler().fit(pool_x)
    pool_x, val_x = scaler.transform(pool_x), scaler.transform(val_x)

    if task == "regression":
        pool_y, val_y = pool_y.astype(np.float64), val_y.astype(np.float64)
        baseline = -float(np.mean((val_y - pool_y.mean()) ** 2))

        def utility(idx: np.ndarray) -> float:
            if len(idx) == 0:
                return baseline
            predicted = Ridge(alpha=1.0).fit(pool_x[idx], pool_y[idx]).predict(val_x)
            return -float(np.mean((val_y - predicted) ** 2))
    else:
        classes, counts = np.unique(pool_y, return_counts=True)
        baseline = float(np.mean(val_y == classes[np.argmax(counts)]))

        def utility(idx: np.ndarray) -> float:
            if len(np.unique(pool_y[idx])) < 2:
                return baseline
            model = LogisticRegression(max_iter=1000).fit(pool_x[idx], pool_y[idx])
            return float(np.mean(model.predict(val_x) == val_y))

    rng = np.random.default_rng(seed)
    total, seen = np.zeros(n), np.zeros(n)
    for subset in _subsets(n, size, resamples, rng):
        full = utility(subset)
        values = np.zeros(n)
        for _ in range(permutations):
            order = rng.permutation(subset)
            before = baseline
            for j, i in enumerate(order):
                now = utility(order[:j + 1])
                values[i] += now - before
                before = now
                if abs(full - now) <= truncation_tolerance * abs(full):
                    break  # the rest of this permutation adds (about) nothing
        total[subset] += values[subset] / permutations
        seen[subset] += 1
    return np.divide(total, seen, out=np.zeros(n), where=seen > 0)


# ---------------------------------------------------------------------------------------------- selection rule

def select(scores, rule: str = "positive", k: int | None = None) -> list[int]:
    """Pool indices to fine-tune on, best (highest score) first, ties in pool order. rule="positive": every point
    with a score above 0 (helpful by influence, valuable by Shapley); rule="top-k": the k best."""
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"scores must be one number per pool point, got shape {values.shape}.")
    if not np.all(np.isfinite(values)):
        raise ValueError("scores contain NaN or infinite values.")
    order = [int(i) for i in np.argsort(-values, kind="stable")]
    if rule == "positive":
        if k is not None:
            raise ValueError("k is only for rule='top-k'; rule='positive' keeps every positive score.")
        return [i for i in order if values[i] > 0]
    if rule == "top-k":
        if k is None or isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(values):
            raise ValueError(f"rule='top-k' needs an integer k between 1 and the number of scores ({len(values)}), "
                             f"got {k!r}.")
        return order[:int(k)]
    raise ValueError(f"rule must be 'positive' or 'top-k', not {rule!r}.")
