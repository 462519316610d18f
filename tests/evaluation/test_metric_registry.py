"""The metric registry: every metric's docstring example runs, metadata is complete, compute() checks its inputs."""
from __future__ import annotations

import doctest

import pytest

from evaluation.metrics import KINDS, MetricError, all_metrics, compute, get, output_direction

METRICS = all_metrics()


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_metric_docstring_example_runs(name):
    fn = METRICS[name].fn
    tests = [t for t in doctest.DocTestFinder(recurse=False).find(fn, name, globs=dict(fn.__globals__)) if t.examples]
    assert tests, f"metric {name} has no >>> example in its docstring"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0, f"the docstring example of {name} failed (see stdout)"


def test_unknown_name_suggests_the_closest():
    with pytest.raises(MetricError, match="Did you mean 'token_f1'"):
        get("token-f1")
    with pytest.raises(MetricError, match="Known metrics: .*exact_match"):
        get("no_such_metric_at_all")


def test_metadata_is_complete_and_outputs_unique():
    seen: dict[str, str] = {}
    for name, metric in METRICS.items():
        assert metric.name == name
        assert metric.description.strip() and "\n" not in metric.description, name
        assert metric.outputs and all(isinstance(v, bool) for v in metric.outputs.values()), name
        assert metric.kind in KINDS, name
        assert metric.inputs[:2] == ("predictions", "references"), name
        assert metric.fn.__doc__ and metric.fn.__doc__.strip(), name
        for dependency in metric.derived_from:
            assert dependency in METRICS, f"{name} is derived from unknown {dependency}"
        for output in metric.outputs:
            assert output not in seen, f"{output} is produced by {seen[output]} and {name}"
            seen[output] = name


def test_higher_is_better_metadata():
    for name in ("exact_match", "token_f1", "bleu", "sentence_bleu", "rouge", "bertscore", "semantic_similarity",
                 "keyword_recall", "questeval_f1_hmean"):
        assert METRICS[name].higher_is_better is True, name
    for metric in METRICS.values():
        assert metric.higher_is_better == metric.outputs[metric.headline]
    assert METRICS["rouge"].headline == "rouge1"
    assert METRICS["bertscore"].headline == "bertscore_f1"
    assert output_direction("rougeLsum") is True
    assert output_direction("bertscore_model") is None  # a detail, not a leaderboard column
    assert output_direction("no_such_output") is None


def test_families_and_heavy_flags():
    assert METRICS["bleu"].family == METRICS["rouge"].family == "text"
    assert METRICS["bertscore"].heavy and METRICS["semantic_similarity"].heavy
    assert not any(METRICS[n].heavy for n in ("exact_match", "token_f1", "bleu", "sentence_bleu", "rouge",
                                              "keyword_recall", "questeval_f1_hmean"))
    assert METRICS["keyword_recall"].extra_inputs() == ("keywords",)
    assert METRICS["questeval_f1_hmean"].derived_from == ("questeval", "token_f1")


def test_compute_runs_a_metric_by_name():
    assert compute("exact_match", ["The Warfarin."], ["warfarin"]) == {"exact_match": 1.0}
    assert compute("keyword_recall", ["Rash."], [""], keywords=[["rash"]]) == {"keyword_recall": 1.0}
    assert compute("questeval_f1_hmean", ["a"], ["b"], scores={"questeval": 0.5, "token_f1": 0.5}) == {
        "questeval_f1_hmean": 0.5}


def test_compute_rejects_mismatched_lengths():
    with pytest.raises(MetricError, match="token_f1: 2 predictions but 1 references"):
        compute("token_f1", ["a", "b"], ["a"])
    with pytest.raises(MetricError, match="keyword_recall: 1 keywords for 2 predictions"):
        compute("keyword_recall", ["a", "b"], ["a", "b"], keywords=[["a"]])


def test_compute_rejects_empty_and_missing_or_unknown_inputs():
    with pytest.raises(MetricError, match="bleu: there are no predictions to score"):
        compute("bleu", [], [])
    with pytest.raises(MetricError, match="keyword_recall needs the input 'keywords'"):
        compute("keyword_recall", ["a"], ["a"])
    with pytest.raises(MetricError, match="rouge does not take keywords"):
        compute("rouge", ["a"], ["a"], keywords=[["a"]])
